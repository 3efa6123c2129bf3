//! Syscall order of one save, observed with `strace -f` on a real child process: the temp file
//! is created `O_EXCL` with mode 0600, written, fsynced before the rename, and the directory is
//! fsynced after it. `.ci/run` installs strace; without it this test fails and says so.

mod common;

use std::path::PathBuf;

use knownpeers::write_atomic;

const TARGET_ENV: &str = "KNOWNPEERS_TEST_TARGET";

/// Child entry: one save of 10 000 bytes to `TARGET_ENV`. Run directly (no role), it checks the
/// same save in a fresh directory.
#[test]
fn child_save() {
    if common::role().as_deref() == Some("strace-save") {
        let target = PathBuf::from(std::env::var_os(TARGET_ENV).expect("target given"));
        write_atomic(&target, &[b'x'; 10_000]).expect("the traced save succeeds");
        println!("\nRESULT ok");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    write_atomic(&target, &[b'x'; 10_000]).expect("save");
    assert_eq!(std::fs::read(&target).expect("read").len(), 10_000);
}

/// One traced syscall: its name, the text between the parentheses, and its return value.
#[derive(Debug)]
struct Call {
    line: String,
    name: String,
    args: String,
    ret: String,
}

fn parse(log: &str) -> Vec<Call> {
    log.lines()
        .filter_map(|line| {
            // `PID name(args) = ret`; resumed/unfinished halves and signals are skipped.
            let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
            let (name, after) = rest.split_once('(')?;
            // strace pads the return value: `fsync(3)        = 0`.
            let (args, ret) = after.rsplit_once(')')?;
            let ret = ret.trim_start().strip_prefix('=')?;
            Some(Call {
                line: line.to_owned(),
                name: name.to_owned(),
                args: args.to_owned(),
                ret: ret.split_whitespace().next()?.to_owned(),
            })
        })
        .collect()
}

fn first_fd_arg(c: &Call) -> &str {
    c.args.split(',').next().unwrap_or("").trim()
}

#[test]
fn a_save_fsyncs_the_temp_before_the_rename_and_the_directory_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("peers.json");
    std::fs::write(&target, b"old").expect("old file");
    let log_path = dir.path().join("strace.log");
    let log_arg = log_path.to_str().expect("utf-8 temp path").to_owned();
    let wrapper = [
        "strace",
        "-f",
        "-qq",
        "-o",
        &log_arg,
        "-e",
        "trace=openat,write,fsync,fdatasync,rename,renameat,renameat2",
    ];
    let mut cmd = common::child_command("child_save", "strace-save", &wrapper);
    cmd.env(TARGET_ENV, &target);
    let out = cmd
        .output()
        .expect("running strace (install it: apt-get install strace)");
    assert_eq!(common::child_result(&out), "ok");
    let log = std::fs::read_to_string(&log_path).expect("strace wrote its log");
    let calls = parse(&log);

    let dir_str = dir.path().to_str().expect("utf-8");
    let tmp_prefix = format!("\"{dir_str}/.peers.json.tmp.");
    let open_tmp = calls
        .iter()
        .position(|c| c.name == "openat" && c.args.contains(&tmp_prefix))
        .expect("the temp file is opened");
    let tmp_fd = &calls[open_tmp].ret;
    let open_args = &calls[open_tmp].args;
    assert!(open_args.contains("O_EXCL"), "temp not O_EXCL: {open_args}");
    assert!(
        open_args.contains("0600"),
        "temp not mode 0600: {open_args}"
    );
    let fsync_tmp = calls
        .iter()
        .enumerate()
        .skip(open_tmp)
        .position(|(_, c)| {
            (c.name == "fsync" || c.name == "fdatasync") && first_fd_arg(c) == tmp_fd
        })
        .map(|i| i + open_tmp)
        .expect("the temp file is fsynced");
    let written: usize = calls[open_tmp..fsync_tmp]
        .iter()
        .filter(|c| c.name == "write" && first_fd_arg(c) == tmp_fd)
        .map(|c| c.ret.parse::<usize>().expect("write returns a count"))
        .sum();
    assert_eq!(written, 10_000, "all bytes written before the fsync");
    let target_str = format!("\"{}\"", target.to_str().expect("utf-8"));
    let rename = calls
        .iter()
        .position(|c| c.name.starts_with("rename") && c.args.contains(&target_str))
        .expect("the temp file is renamed over the target");
    assert!(
        calls[rename].args.contains(&tmp_prefix),
        "{}",
        calls[rename].line
    );
    let open_dir = calls
        .iter()
        .enumerate()
        .skip(rename)
        .find(|(_, c)| c.name == "openat" && c.args.contains(&format!("\"{dir_str}\"")))
        .map(|(i, _)| i)
        .expect("the directory is opened after the rename");
    let dir_fd = &calls[open_dir].ret;
    let fsync_dir = calls
        .iter()
        .enumerate()
        .skip(open_dir)
        .find(|(_, c)| c.name == "fsync" && first_fd_arg(c) == dir_fd)
        .map(|(i, _)| i)
        .expect("the directory is fsynced");

    assert!(open_tmp < fsync_tmp && fsync_tmp < rename && rename < fsync_dir);
    println!("strace check: fsync(temp) < rename < fsync(dir) holds");
    for i in [open_tmp, fsync_tmp, rename, open_dir, fsync_dir] {
        println!("  {}", calls[i].line);
    }
    assert_eq!(std::fs::read(&target).expect("read").len(), 10_000);
    assert_eq!(common::temp_files(dir.path()), Vec::<String>::new());
}
