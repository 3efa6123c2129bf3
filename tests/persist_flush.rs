//! The flush task under tokio's paused clock (`start_paused`): a clean store is never written,
//! a change is saved at the next interval tick, `flush()` saves at once, `close()` saves a last
//! time and releases the lock, and a failing save is reported by `last_error()` and retried at
//! the next tick without killing the task; the first change after open is saved within about a
//! second; dropping the last handle without `close` saves. Virtual time only: no test waits for
//! real time.

#[path = "common/store.rs"]
mod util;

use std::path::Path;
use std::time::Duration;

use knownpeers::codecs::{inspect, read, ReadPolicy};
use knownpeers::{Error, PersistentStore, StoreLock};
use util::{addr, clock, config, T0};

/// Advances virtual time by `secs`, letting the flush task run its ticks.
async fn pass(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// Advances virtual time by `ms`.
async fn pass_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// `saved_at` and entry count of the file, or `None` if there is none.
fn on_disk(path: &Path) -> Option<(u64, usize)> {
    let bytes = std::fs::read(path).ok()?;
    let header = inspect(&bytes).expect("a valid peer file");
    let decoded = read(&bytes, &ReadPolicy::plaintext(Some("r"))).expect("decodes");
    Some((
        header.saved_at.expect("a json file has saved_at"),
        decoded.file.entries.len(),
    ))
}

#[tokio::test(start_paused = true)]
async fn saves_only_changes_at_the_interval_then_on_flush_and_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "save_interval_secs = 60\n");
    let c = clock();
    let s = PersistentStore::open(&cfg, "r", c.clone())
        .await
        .expect("open");
    let path = dir.path().join("r.peers");

    pass(90).await; // tick at 60: nothing changed
    assert_eq!(on_disk(&path), None, "a clean store is not written");

    // The first change after open is saved promptly, not one interval later.
    s.store().observe_bootstrap(addr(1)); // t = 90
    pass_ms(500).await;
    assert_eq!(
        on_disk(&path),
        None,
        "the first save waits a moment for more"
    );
    pass_ms(600).await; // t = 91.1
    assert_eq!(
        on_disk(&path),
        Some((T0, 1)),
        "the first change is saved within about a second"
    );

    // Later changes wait for the interval.
    c.advance_ms(10_000);
    s.store().observe_bootstrap(addr(2));
    pass(20).await; // t = 111.1, no tick since 60
    assert_eq!(on_disk(&path), Some((T0, 1)), "saved before the interval");
    pass(10).await; // t = 121.1, tick at 120
    assert_eq!(on_disk(&path), Some((T0 + 10, 2)));

    c.advance_ms(1_000_000);
    pass(300).await; // ticks at 180..420, nothing changed
    assert_eq!(
        on_disk(&path),
        Some((T0 + 10, 2)),
        "a clean store is not rewritten"
    );

    s.store().observe_bootstrap(addr(3));
    s.store().observe_bootstrap(addr(4));
    assert_eq!(on_disk(&path), Some((T0 + 10, 2)));
    pass(60).await;
    assert_eq!(on_disk(&path), Some((T0 + 1010, 4)));

    c.advance_ms(1000);
    s.store().observe_bootstrap(addr(5));
    s.flush().await.expect("flush");
    assert_eq!(on_disk(&path), Some((T0 + 1011, 5)), "flush saves at once");
    s.flush().await.expect("flush of a clean store");
    assert_eq!(on_disk(&path), Some((T0 + 1011, 5)));

    c.advance_ms(1000);
    s.store().observe_bootstrap(addr(6));
    let other = s.clone();
    s.close().await.expect("close");
    assert_eq!(
        on_disk(&path),
        Some((T0 + 1012, 6)),
        "close saves a last time"
    );
    other
        .close()
        .await
        .expect("a second close, from another handle, is a no-op");
    assert!(other.is_closed());
    assert!(matches!(other.flush().await, Err(Error::Closed)));
    drop(StoreLock::acquire(&path).expect("close released the lock"));
}

#[tokio::test(start_paused = true)]
async fn a_failing_save_is_reported_and_retried_without_killing_the_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "save_interval_secs = 60\n");
    let c = clock();
    let s = PersistentStore::open(&cfg, "r", c.clone())
        .await
        .expect("open");
    let path = dir.path().join("r.peers");
    s.store().observe_bootstrap(addr(1));
    pass(61).await;
    assert_eq!(on_disk(&path), Some((T0, 1)));
    assert_eq!(s.last_error(), None);

    // The target turns into a directory: every save must fail, cleanly.
    std::fs::remove_file(&path).expect("rm");
    std::fs::create_dir(&path).expect("mkdir");
    s.store().observe_bootstrap(addr(2));
    pass(60).await;
    let err = s.last_error().expect("the failed save is reported");
    assert!(
        err.contains("r.peers") && err.contains("is a directory"),
        "{err}"
    );
    let flushed = s.flush().await.expect_err("flush reports the failure");
    assert!(matches!(flushed, Error::IsADirectory { .. }), "{flushed:?}");
    pass(120).await; // two more failing ticks
    assert!(s.last_error().is_some());
    assert!(path.is_dir());

    // Fixed: the next tick retries the pending change without a new observation.
    std::fs::remove_dir(&path).expect("rmdir");
    c.advance_ms(5000);
    pass(60).await;
    assert_eq!(
        on_disk(&path),
        Some((T0 + 5, 2)),
        "the task survived and retried"
    );
    assert_eq!(s.last_error(), None, "a good save clears the error");
    s.close().await.expect("close");
}

#[tokio::test(start_paused = true)]
async fn a_failing_final_save_is_returned_and_the_lock_still_released() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "save_interval_secs = 60\n");
    let s = PersistentStore::open(&cfg, "r", clock())
        .await
        .expect("open");
    let path = dir.path().join("r.peers");
    std::fs::create_dir(&path).expect("a directory at the target");
    s.store().observe_bootstrap(addr(1));
    let err = s.close().await.expect_err("the final save fails");
    assert!(matches!(err, Error::IsADirectory { .. }), "{err:?}");
    drop(StoreLock::acquire(&path).expect("released anyway"));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_saves_stops_the_task_and_frees_the_lock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("r.peers");
    let cfg = config(dir.path(), "save_interval_secs = 60\n");
    let s = PersistentStore::open(&cfg, "r", clock())
        .await
        .expect("open");
    let store = s.store().clone();
    let other = s.clone();
    store.observe_bootstrap(addr(1));
    drop(s);
    assert_eq!(
        on_disk(&path),
        None,
        "another handle is alive: no final save yet"
    );
    drop(other);
    // The last handle's drop saved synchronously: no time has to pass.
    assert_eq!(on_disk(&path), Some((T0, 1)), "the change is on disk");
    drop(StoreLock::acquire(&path).expect("lock freed"));
    pass(1).await; // the task sees its shutdown channel closed and ends
    store.observe_bootstrap(addr(2));
    pass(120).await;
    assert_eq!(on_disk(&path), Some((T0, 1)), "no save after the drop");
}

#[tokio::test(start_paused = true)]
async fn a_clean_store_dropped_is_not_rewritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("r.peers");
    let cfg = config(dir.path(), "save_interval_secs = 60\n");
    let s = PersistentStore::open(&cfg, "r", clock())
        .await
        .expect("open");
    s.store().observe_bootstrap(addr(1));
    s.flush().await.expect("flush");
    let modified = std::fs::metadata(&path)
        .expect("saved")
        .modified()
        .expect("mtime");
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("saved"));
    drop(s);
    let after = std::fs::metadata(&path).expect("still there");
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&after),
        inode,
        "not replaced"
    );
    assert_eq!(after.modified().expect("mtime"), modified);
}
