//! A host's view of persistence (issue 9): a `PersistentStore` shared across tasks and closed
//! from any handle, the event callback (loaded, saved, save failed, quarantined), and the
//! one-shot `load_store`/`save_store` with `open`'s mode, policy, lock and quarantine rules.
//! Real temp files; virtual time where the flush task is involved.

#[path = "common/store.rs"]
mod util;

use std::sync::{Arc, Mutex};

use knownpeers::codecs::{detect, Format};
use knownpeers::{
    load_store, save_store, Error, Event, OpenOptions, PeerStore, PersistentStore, StoreConfig,
};
use util::{addr, clock, config, copy_vector, listing, new_key_file, T0};

/// An `OpenOptions` whose events land in the returned list.
fn recording() -> (OpenOptions, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let options = OpenOptions::new(clock()).on_event(Arc::new(move |e: &Event| {
        sink.lock().expect("not poisoned").push(e.clone());
    }));
    (options, events)
}

fn take(events: &Mutex<Vec<Event>>) -> Vec<Event> {
    std::mem::take(&mut *events.lock().expect("not poisoned"))
}

#[tokio::test(start_paused = true)]
async fn events_report_load_save_failure_and_quarantine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "save_interval_secs = 60\n");
    let path = dir.path().join("r.peers");
    let (options, events) = recording();
    let s = PersistentStore::open_with(&cfg, "r", options.clone())
        .await
        .expect("open");
    match take(&events).as_slice() {
        [Event::Loaded {
            realm,
            path: p,
            report,
            ..
        }] => {
            assert_eq!((realm.as_str(), p), ("r", &path));
            assert_eq!(report, s.load_report());
        }
        other => panic!("{other:?}"),
    }
    s.store().observe_bootstrap(addr(1));
    s.store().observe_bootstrap(addr(2));
    s.flush().await.expect("flush");
    let size = std::fs::metadata(&path).expect("saved").len() as usize;
    match take(&events).as_slice() {
        [Event::Saved {
            realm,
            bytes,
            entries,
            ..
        }] => {
            assert_eq!((realm.as_str(), *bytes, *entries), ("r", size, 2));
        }
        other => panic!("{other:?}"),
    }
    // A failing save is reported with its classified message.
    std::fs::remove_file(&path).expect("rm");
    std::fs::create_dir(&path).expect("a directory at the target");
    s.store().observe_bootstrap(addr(3));
    s.flush().await.expect_err("fails");
    match take(&events).as_slice() {
        [Event::SaveFailed { error, .. }] => assert!(error.contains("is a directory"), "{error}"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir(&path).expect("rmdir");
    s.close().await.expect("close saves");
    assert!(matches!(
        take(&events).as_slice(),
        [Event::Saved { entries: 3, .. }]
    ));

    // A corrupt file: Quarantined, then Loaded with the report.
    let corrupt = copy_vector("msgpack-bad-body-crc.kp", dir.path(), "example-realm.peers");
    let s = PersistentStore::open_with(&cfg, "example-realm", options)
        .await
        .expect("open quarantines");
    let to = s.load_report().quarantined_to.clone().expect("moved");
    match take(&events).as_slice() {
        [Event::Quarantined {
            path: p,
            to: t,
            error,
            ..
        }, Event::Loaded { report, .. }] => {
            assert_eq!((p, t), (&corrupt, &to));
            assert!(!error.is_empty());
            assert_eq!(report.unreadable.as_deref(), Some(error.as_str()));
        }
        other => panic!("{other:?}"),
    }
    s.close().await.expect("close");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_callback_does_not_stop_saving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "save_interval_secs = 60\n");
    let options = OpenOptions::new(clock()).on_event(Arc::new(|_: &Event| panic!("host bug")));
    let s = PersistentStore::open_with(&cfg, "r", options)
        .await
        .expect("open");
    s.store().observe_bootstrap(addr(1));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        dir.path().join("r.peers").exists(),
        "the first save happened"
    );
    s.store().observe_bootstrap(addr(2));
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    assert_eq!(s.last_error(), None);
    s.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_store_shared_by_tasks_is_closed_once_from_any_handle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "");
    let s = PersistentStore::open(&cfg, "r", clock())
        .await
        .expect("open");
    let mut tasks = Vec::new();
    for t in 0..4u32 {
        let handle = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                handle.store().observe_bootstrap(addr(t * 100 + i));
            }
            handle.flush().await.expect("flush");
            handle.close().await.expect("close from a task");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert!(s.is_closed());
    s.close().await.expect("again: a no-op");
    drop(s);
    let reopened = PersistentStore::open(&cfg, "r", clock())
        .await
        .expect("reopen");
    assert_eq!(reopened.store().len(), 200);
    reopened.close().await.expect("close");
}

fn plain_store() -> PeerStore {
    PeerStore::new(StoreConfig::default(), clock())
}

#[tokio::test]
async fn one_shot_save_then_load_roundtrips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path().join("sub").as_path(), "");
    let a = plain_store();
    a.observe_success(addr(1), Some("n1".into()), Some(vec!["relay".into()]))
        .expect("ok");
    a.observe_bootstrap(addr(2));
    save_store(&cfg, "r", &a)
        .await
        .expect("save creates the directory");
    let path = dir.path().join("sub").join("r.peers");
    assert_eq!(
        detect(&std::fs::read(&path).expect("saved")).expect("a peer file"),
        Format::Json
    );
    let b = plain_store();
    b.observe_bootstrap(addr(3));
    let report = load_store(&cfg, "r", &b).await.expect("load");
    assert_eq!(
        (report.in_file, report.hydrate.loaded),
        (2, 3),
        "merged into b"
    );
    assert_eq!(b.get(&addr(1)), a.get(&addr(1)));
    // The lock is not kept by either call.
    drop(knownpeers::StoreLock::acquire(&path).expect("free"));
    assert_eq!(
        listing(&dir.path().join("sub")),
        ["r.peers", "r.peers.lock"]
    );
}

#[tokio::test]
async fn one_shot_calls_follow_the_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rw = config(dir.path(), "");
    let a = plain_store();
    a.observe_bootstrap(addr(1));
    save_store(&rw, "r", &a).await.expect("save");
    let path = dir.path().join("r.peers");
    let before = std::fs::read(&path).expect("saved");

    // Read-only: loads, never writes.
    let ro = knownpeers::Config::from_toml_str(&format!(
        "[network.persistence]\npath = \"{}/{{realm}}.peers\"\n",
        dir.path().display()
    ))
    .expect("valid");
    let b = plain_store();
    assert_eq!(
        load_store(&ro, "r", &b).await.expect("load").hydrate.loaded,
        1
    );
    b.observe_bootstrap(addr(2));
    save_store(&ro, "r", &b).await.expect("a no-op");
    assert_eq!(std::fs::read(&path).expect("unchanged"), before);

    // Off: nothing read.
    let off = knownpeers::Config::from_toml_str("").expect("valid");
    let c = plain_store();
    assert_eq!(
        load_store(&off, "r", &c)
            .await
            .expect("no-op")
            .hydrate
            .loaded,
        0
    );
    assert!(c.is_empty());
}

#[tokio::test]
async fn one_shot_load_classifies_and_quarantines_like_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "");
    // Corrupt: moved aside, store unchanged.
    copy_vector("msgpack-bad-body-crc.kp", dir.path(), "example-realm.peers");
    let s = plain_store();
    let report = load_store(&cfg, "example-realm", &s)
        .await
        .expect("quarantined");
    let to = report.quarantined_to.expect("moved");
    assert!(to.exists());
    assert!(report.unreadable.is_some());
    assert!(s.is_empty());
    // Another realm's file: refused, untouched.
    let path = copy_vector("json-basic.json", dir.path(), "other.peers");
    let original = std::fs::read(&path).expect("copied");
    let err = load_store(&cfg, "other", &s)
        .await
        .expect_err("realm mismatch");
    assert_eq!(err.exit_code(), 5, "{err}");
    assert_eq!(std::fs::read(&path).expect("untouched"), original);
}

#[tokio::test]
async fn one_shot_calls_respect_the_lock_and_the_sealed_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = new_key_file(dir.path(), "k.key");
    let cfg = config(
        dir.path(),
        &format!(
            "[network.persistence.realms.s]\ncodec = \"sealed\"\nkey_file = \"{}\"\n",
            key.display()
        ),
    );
    let open = PersistentStore::open(&cfg, "s", clock())
        .await
        .expect("open");
    let s = plain_store();
    s.observe_bootstrap(addr(1));
    let err = save_store(&cfg, "s", &s)
        .await
        .expect_err("an open store holds the lock");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    let err = load_store(&cfg, "s", &s).await.expect_err("so does a load");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    open.close().await.expect("close");
    save_store(&cfg, "s", &s).await.expect("save");
    let path = dir.path().join("s.peers");
    assert_eq!(
        detect(&std::fs::read(&path).expect("saved")).expect("a peer file"),
        Format::Sealed
    );
    let t = plain_store();
    assert_eq!(
        load_store(&cfg, "s", &t)
            .await
            .expect("load")
            .hydrate
            .loaded,
        1
    );
    assert_eq!(t.get(&addr(1)).expect("loaded").last_seen, T0);
}
