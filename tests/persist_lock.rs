//! The store lock across real processes: while one process holds `<path>.lock`, another gets
//! `Error::Locked` (and so does a second open in the same process); after the holder dies, even
//! by SIGKILL, the lock is free. The data file itself is never locked or created by locking.

mod common;
#[path = "common/store.rs"]
mod util;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use knownpeers::{Error, PersistentStore, StoreLock};

const TARGET_ENV: &str = "KNOWNPEERS_TEST_TARGET";

/// Child entry. Role `hold`: takes the lock, says so, and holds it until stdin closes or the
/// process is killed. Role `try`: tries once and prints `acquired` or `locked`. Run directly,
/// it checks the same two outcomes inside one process.
#[test]
fn child_lock() {
    match common::role().as_deref() {
        Some(role) => {
            let target = PathBuf::from(std::env::var_os(TARGET_ENV).expect("target given"));
            let result = StoreLock::acquire(&target);
            println!("\nRESULT {}", outcome(&result));
            if role == "hold" {
                // Blocks until the parent kills us (or closes stdin).
                let _ = std::io::stdin().read_to_end(&mut Vec::new());
                drop(result);
            }
        }
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            let target = dir.path().join("peers.json");
            let held = StoreLock::acquire(&target);
            assert_eq!(outcome(&held), "acquired");
            assert_eq!(outcome(&StoreLock::acquire(&target)), "locked");
            drop(held);
            assert_eq!(outcome(&StoreLock::acquire(&target)), "acquired");
        }
    }
}

fn outcome(r: &Result<StoreLock, Error>) -> String {
    match r {
        Ok(_) => "acquired".into(),
        Err(Error::Locked { .. }) => "locked".into(),
        Err(e) => format!("error {e}"),
    }
}

/// Starts a child holding the lock on `target`; returns once it holds it.
fn spawn_holder(target: &Path) -> Child {
    let mut cmd = common::child_command("child_lock", "hold", &[]);
    cmd.env(TARGET_ENV, target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning the holder");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map(|l| l.expect("reading the child's stdout"))
        .find_map(|l| l.strip_prefix("RESULT ").map(str::to_owned))
        .expect("the holder reports");
    assert_eq!(line, "acquired");
    child
}

fn try_in_child(target: &Path) -> String {
    let mut cmd = common::child_command("child_lock", "try", &[]);
    cmd.env(TARGET_ENV, target);
    common::child_result(&common::run_child(cmd))
}

#[test]
fn a_second_process_is_locked_out_until_the_first_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    for round in 0..3 {
        let mut holder = spawn_holder(&target);
        assert_eq!(try_in_child(&target), "locked", "round {round}");
        let err = StoreLock::acquire(&target).expect_err("held by the child");
        let msg = err.to_string();
        assert!(
            msg.contains("peers.json") && msg.contains("locked by another process"),
            "{msg}"
        );
        assert_eq!(err.exit_code(), 10);
        holder.kill().expect("SIGKILL the holder");
        let status = holder.wait().expect("reaping the holder");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed by SIGKILL"
        );
        // The kernel released the lock when the killed process's files were closed.
        assert_eq!(try_in_child(&target), "acquired", "round {round}");
        let mine = StoreLock::acquire(&target).expect("free after the kill");
        assert_eq!(mine.path(), dir.path().join("peers.json.lock"));
    }
    assert!(!target.exists(), "locking never creates the data file");
}

#[test]
fn a_lock_held_in_this_process_refuses_a_second_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    let first = StoreLock::acquire(&target).expect("first");
    assert_eq!(outcome(&StoreLock::acquire(&target)), "locked");
    assert_eq!(try_in_child(&target), "locked");
    drop(first);
    assert_eq!(try_in_child(&target), "acquired");
    assert_eq!(outcome(&StoreLock::acquire(&target)), "acquired");
}

#[test]
fn a_missing_directory_is_an_io_error_naming_the_lock_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("absent").join("peers.json");
    let err = StoreLock::acquire(&target).expect_err("no directory");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("peers.json.lock"), "{err}");
}

/// Child entry for whole stores. Role `open-store`: opens the store in `TARGET_ENV` (a
/// directory) and prints `opened` or `locked <exit code>`. Run directly, it checks both
/// outcomes in one process.
#[test]
fn child_open_store() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let attempt = |dir: &Path| {
        let cfg = util::config(dir, "");
        match rt.block_on(PersistentStore::open(&cfg, "r", util::clock())) {
            Ok(s) => (Some(s), "opened".to_owned()),
            Err(e @ Error::Locked { .. }) => (None, format!("locked {} {e}", e.exit_code())),
            Err(e) => (None, format!("error {e}")),
        }
    };
    if common::role().as_deref() == Some("open-store") {
        let dir = PathBuf::from(std::env::var_os(TARGET_ENV).expect("dir given"));
        let (store, result) = attempt(&dir);
        println!("\nRESULT {result}");
        if let Some(s) = store {
            rt.block_on(s.close()).expect("close");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (first, result) = attempt(dir.path());
    assert_eq!(result, "opened");
    let (_, result) = attempt(dir.path());
    assert!(result.starts_with("locked 10 "), "{result}");
    rt.block_on(first.expect("open").close()).expect("close");
}

#[tokio::test]
async fn a_second_process_cannot_open_an_open_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = util::config(dir.path(), "");
    let s = PersistentStore::open(&cfg, "r", util::clock())
        .await
        .expect("open");
    s.store().observe_bootstrap(util::addr(1));
    let run = || {
        let mut cmd = common::child_command("child_open_store", "open-store", &[]);
        cmd.env(TARGET_ENV, dir.path());
        common::child_result(&common::run_child(cmd))
    };
    let result = run();
    assert!(result.starts_with("locked 10 "), "{result}");
    assert!(
        result.contains("r.peers") && result.contains("locked by another process"),
        "{result}"
    );
    s.close().await.expect("close");
    assert_eq!(run(), "opened");
}

/// A lock released by this process is free again at once, even while another thread forks
/// children (each child shares the lock's open file description from fork to exec). Without the
/// bounded retry in `StoreLock::acquire`, about one relock in ten failed here with `Locked`.
#[test]
fn relock_while_another_thread_spawns_processes() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    let stop = Arc::new(AtomicBool::new(false));
    let spawned = Arc::new(AtomicU32::new(0));
    let spawner = {
        let (stop, spawned) = (Arc::clone(&stop), Arc::clone(&spawned));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let status = std::process::Command::new("true")
                    .status()
                    .expect("spawn true");
                assert!(status.success());
                spawned.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let (mut relocks, mut locked) = (0u32, 0u32);
    // Relock for as long as it takes the other thread to fork 100 children.
    while spawned.load(Ordering::Relaxed) < 100 {
        let held = StoreLock::acquire(&target);
        if outcome(&held) != "acquired" {
            locked += 1;
        }
        relocks += 1;
        drop(held);
    }
    stop.store(true, Ordering::Relaxed);
    spawner.join().expect("spawner thread");
    assert_eq!(locked, 0, "{locked} of {relocks} relocks failed");
}
