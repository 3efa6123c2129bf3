//! Fault tests of the atomic saver with real failures: a full filesystem (ENOSPC on a small
//! tmpfs, or EFBIG under `RLIMIT_FSIZE` where mounting is not allowed), a directory the writer
//! may not write (a privilege-dropped child when running as root), and a target that is a
//! directory. Each must be a clear error naming the file, leave the old file intact and leave
//! no temp file. Children are this test binary re-executed with a role (see `common`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use knownpeers::{write_atomic, Error};

const OLD: &[u8] = b"the old peer file, which must survive";
/// Target path for a child save.
const TARGET_ENV: &str = "KNOWNPEERS_TEST_TARGET";
/// Bytes a child writes.
const SIZE_ENV: &str = "KNOWNPEERS_TEST_SIZE";

/// One line classifying a save result: `ok`, `io <errno> <message>`, `isdir`, `notdurable`.
fn classify(r: &Result<(), Error>) -> String {
    let Err(e) = r else {
        return "ok".into();
    };
    match e {
        Error::Io { source, .. } => format!("io {} {e}", source.raw_os_error().unwrap_or(-1)),
        Error::IsADirectory { .. } => "isdir".into(),
        Error::NotDurable { .. } => "notdurable".into(),
        other => format!("other {other}"),
    }
}

/// Child entry: saves `SIZE_ENV` bytes to `TARGET_ENV` and prints the classified result. Run
/// directly (no role), it checks the same save succeeds in a fresh directory.
#[test]
fn child_save() {
    if common::role().as_deref() == Some("save") {
        let target = PathBuf::from(std::env::var_os(TARGET_ENV).expect("target given"));
        let size: usize = std::env::var(SIZE_ENV)
            .expect("size given")
            .parse()
            .expect("size is a number");
        let r = write_atomic(&target, &vec![b'n'; size]);
        println!("RESULT {}", classify(&r));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    assert_eq!(classify(&write_atomic(&target, &vec![b'n'; 200_000])), "ok");
    assert_eq!(std::fs::read(&target).expect("read").len(), 200_000);
}

/// A save of `size` bytes in a child behind `wrapper`.
fn save_in_child(wrapper: &[&str], target: &Path, size: usize) -> String {
    let mut cmd = common::child_command("child_save", "save", wrapper);
    cmd.env(TARGET_ENV, target).env(SIZE_ENV, size.to_string());
    common::child_result(&common::run_child(cmd))
}

/// The old file is intact and no temp file is left in `dir`.
fn assert_old_intact(dir: &Path, target: &Path) {
    assert_eq!(std::fs::read(target).expect("old file still readable"), OLD);
    assert_eq!(common::temp_files(dir), Vec::<String>::new());
}

/// Unmounts on drop, so a failing assertion does not leave a mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a 64 KiB tmpfs at `dir`, if this process may.
fn small_tmpfs(dir: &Path) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(dir.to_path_buf()))
}

/// EFBIG: a child under `RLIMIT_FSIZE` = 64 KiB with SIGXFSZ ignored (the ignored disposition
/// is inherited across exec, so the write fails with EFBIG instead of killing the child).
fn check_efbig() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    std::fs::write(&target, OLD).expect("old file");
    let wrapper = [
        "sh",
        "-c",
        "trap '' XFSZ; exec prlimit --fsize=65536 -- \"$@\"",
        "sh",
    ];
    let result = save_in_child(&wrapper, &target, 200_000);
    assert!(result.starts_with("io 27 "), "expected EFBIG, got {result}");
    assert!(result.contains("peers.json"), "{result}");
    assert_old_intact(dir.path(), &target);
}

#[test]
fn a_full_filesystem_is_a_clear_error_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).expect("mount point");
    let Some(_mount) = small_tmpfs(&mnt) else {
        // Not allowed to mount here: the fallback is RLIMIT_FSIZE.
        check_efbig();
        return;
    };
    let target = mnt.join("peers.json");
    write_atomic(&target, OLD).expect("old file fits");
    let err = write_atomic(&target, &vec![b'n'; 200_000]).expect_err("64 KiB cannot hold it");
    match &err {
        Error::Io { path, source } => {
            assert_eq!(path, &target);
            assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {source}");
        }
        other => panic!("expected ENOSPC, got {other:?}"),
    }
    assert!(err.to_string().contains("peers.json"), "{err}");
    assert_old_intact(&mnt, &target);
    // The space the failed temp took is free again: a save that fits succeeds.
    write_atomic(&target, &vec![b'm'; 30_000]).expect("fits after cleanup");
}

#[test]
fn a_file_size_limit_is_a_clear_error_and_keeps_the_old_file() {
    check_efbig();
}

#[test]
fn a_non_writable_directory_is_a_clear_error_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("dir");
    let target = ro.join("peers.json");
    std::fs::write(&target, OLD).expect("old file");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let result = if common::is_root() {
        // Root ignores directory permissions: drop to nobody in a child. The path down to the
        // directory must be searchable for nobody; the directory itself stays root's 0755.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let wrapper = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        save_in_child(&wrapper, &target, 1000)
    } else {
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        let r = write_atomic(&target, &[b'n'; 1000]);
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        classify(&r)
    };
    assert!(
        result.starts_with("io 13 "),
        "expected EACCES, got {result}"
    );
    assert!(result.contains("peers.json"), "{result}");
    assert_old_intact(&ro, &target);
}

#[test]
fn a_directory_at_the_target_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    std::fs::create_dir(&target).expect("dir");
    let r = write_atomic(&target, OLD);
    assert_eq!(classify(&r), "isdir");
    let msg = r.expect_err("refused").to_string();
    assert!(
        msg.contains("peers.json") && msg.contains("is a directory"),
        "{msg}"
    );
    assert!(target.is_dir());
    assert_eq!(common::temp_files(dir.path()), Vec::<String>::new());
}
