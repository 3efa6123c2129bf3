//! The atomic saver and stale-temp cleanup, in process: contents, mode, replacement, refusals,
//! and exactly which names `remove_stale_temps` touches. Faults that need another process or a
//! full filesystem are in `persist_faults.rs`; the syscall order is in `persist_strace.rs`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use knownpeers::{remove_stale_temps, write_atomic, Error};

/// Writes `bytes` over an optional `old` file and checks the result, the mode and that no temp
/// file is left.
fn check_write(old: Option<&[u8]>, bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    if let Some(old) = old {
        std::fs::write(&target, old).expect("old file");
    }
    write_atomic(&target, bytes).expect("save");
    assert_eq!(std::fs::read(&target).expect("read back"), bytes);
    let mode = std::fs::metadata(&target)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode & 0o077,
        0,
        "group/others must have no access, mode {mode:o}"
    );
    assert_eq!(common::temp_files(dir.path()), Vec::<String>::new());
}

#[test]
fn writes_new_and_replaces_old_files() {
    check_write(None, b"");
    check_write(None, b"{}");
    check_write(None, &vec![7u8; 1 << 20]);
    check_write(Some(b"old contents"), b"new");
    check_write(Some(&vec![1u8; 100_000]), b"shorter");
    check_write(Some(b""), &vec![9u8; 3 * 4096 + 1]);
}

#[test]
fn replacing_a_world_readable_file_makes_it_private() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    std::fs::write(&target, b"old").expect("old file");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    write_atomic(&target, b"new").expect("save");
    let mode = std::fs::metadata(&target)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn many_saves_leave_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.kp");
    for i in 0..50u32 {
        write_atomic(&target, &i.to_le_bytes()).expect("save");
    }
    assert_eq!(std::fs::read(&target).expect("read"), 49u32.to_le_bytes());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("peers.kp")]);
}

#[test]
fn a_directory_target_is_refused_and_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    std::fs::create_dir(&target).expect("dir at the target");
    std::fs::write(target.join("inside"), b"keep").expect("file inside");
    let err = write_atomic(&target, b"data").expect_err("a directory is not a file");
    assert!(matches!(err, Error::IsADirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("peers.json"), "{err}");
    assert_eq!(
        std::fs::read(target.join("inside")).expect("still there"),
        b"keep"
    );
    assert_eq!(common::temp_files(dir.path()), Vec::<String>::new());
    for root_like in ["/", "..", "a/.."] {
        let err = write_atomic(Path::new(root_like), b"x").expect_err("no file name");
        assert!(
            matches!(err, Error::IsADirectory { .. }),
            "{root_like}: {err:?}"
        );
    }
}

#[test]
fn a_missing_directory_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("absent").join("peers.json");
    let err = write_atomic(&target, b"data").expect_err("no directory");
    match &err {
        Error::Io { path, source } => {
            assert_eq!(path, &target);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(err.to_string().contains("absent/peers.json"), "{err}");
}

/// Creates `present` names in a dir, runs `remove_stale_temps` for `peers.json` and checks the
/// count and the names left.
fn check_stale(present: &[&str], removed: usize, left: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in present {
        std::fs::write(dir.path().join(name), b"x").expect("create");
    }
    let n = remove_stale_temps(&dir.path().join("peers.json")).expect("cleanup");
    assert_eq!(n, removed, "{present:?}");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut left: Vec<String> = left.iter().map(|s| s.to_string()).collect();
    left.sort();
    assert_eq!(names, left, "{present:?}");
}

#[test]
fn stale_temps_of_that_target_only_are_removed() {
    check_stale(&[], 0, &[]);
    check_stale(&["peers.json"], 0, &["peers.json"]);
    check_stale(&["peers.json", ".peers.json.tmp.123.0"], 1, &["peers.json"]);
    check_stale(
        &[
            ".peers.json.tmp.1.1",
            ".peers.json.tmp.2.7",
            ".peers.json.tmp.x",
        ],
        3,
        &[],
    );
    check_stale(
        &[
            ".other.json.tmp.1.1",
            "peers.json.tmp.1.1",
            ".peers.json.tmpx",
            ".peers.json",
            ".peers.jsonx.tmp.1.1",
            "peers.json.lock",
            "peers.json.corrupt-1700000000",
        ],
        0,
        &[
            ".other.json.tmp.1.1",
            "peers.json.tmp.1.1",
            ".peers.json.tmpx",
            ".peers.json",
            ".peers.jsonx.tmp.1.1",
            "peers.json.lock",
            "peers.json.corrupt-1700000000",
        ],
    );
}

#[test]
fn a_directory_named_like_a_temp_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join(".peers.json.tmp.1.1")).expect("dir");
    std::fs::write(dir.path().join(".peers.json.tmp.1.2"), b"x").expect("temp");
    let n = remove_stale_temps(&dir.path().join("peers.json")).expect("cleanup");
    assert_eq!(n, 1);
    assert!(dir.path().join(".peers.json.tmp.1.1").is_dir());
}

#[test]
fn stale_temps_in_a_missing_directory_are_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = remove_stale_temps(&dir.path().join("nope").join("peers.json")).expect("no dir");
    assert_eq!(n, 0);
}

#[test]
fn a_temp_left_by_a_crash_is_not_reused_and_is_cleaned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    // Names this process's next saves could pick, as if a dead process with our pid left them.
    let pid = std::process::id();
    for n in 0..200 {
        std::fs::write(
            dir.path().join(format!(".peers.json.tmp.{pid}.{n}")),
            b"stale",
        )
        .expect("stale temp");
    }
    write_atomic(&target, b"fresh").expect("save past the clashing names");
    assert_eq!(std::fs::read(&target).expect("read"), b"fresh");
    assert_eq!(remove_stale_temps(&target).expect("cleanup"), 200);
    assert_eq!(common::temp_files(dir.path()), Vec::<String>::new());
}
