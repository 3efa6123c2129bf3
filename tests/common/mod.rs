//! Helpers shared by the persistence integration tests: re-executing the test binary as a child
//! process (for crashes, privilege drops and resource limits), and listing temp files. Owns no
//! assertions about the product; must not read /work/shared.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Environment variable naming the role a re-executed test binary plays.
pub const ROLE_ENV: &str = "KNOWNPEERS_TEST_CHILD_ROLE";

/// A command that re-runs this test binary's test `test_name` alone, with `ROLE_ENV = role`,
/// optionally behind `wrapper` (e.g. `setpriv ...` or `strace ...`).
pub fn child_command(test_name: &str, role: &str, wrapper: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .stdin(Stdio::null());
    cmd
}

/// Runs a child to completion and returns its output.
pub fn run_child(mut cmd: Command) -> Output {
    cmd.output().expect("spawning the test binary as a child")
}

/// The role this process was started with, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// The value after `RESULT ` on the child's stdout (its one machine-readable line).
pub fn child_result(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            panic!(
                "child printed no RESULT line; status {:?}\nstdout:\n{}\nstderr:\n{}",
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// Names of the hidden temp files (`.NAME.tmp.*`) in `dir`, sorted.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("listing the test directory")
        .map(|e| {
            e.expect("reading a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with('.') && n.contains(".tmp."))
        .collect();
    names.sort();
    names
}

/// Whether this process runs as root (privilege-drop tests need a child then).
pub fn is_root() -> bool {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}
