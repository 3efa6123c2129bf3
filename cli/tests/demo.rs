//! Runs small demos end to end through the library (real sockets on loopback, real files in a
//! temp dir) and checks what the demo exists to show: phase 2 reconnects every node with the
//! bootstrap node down, phase 3 (no persistence) does not, and no file holds an address of the
//! other realm. Every file written is then checked with the `knownpeers verify` binary. The
//! binary itself is run once to completion and once stopped with SIGINT (Ctrl-C). No timing
//! assertions: the only bounds are the demo's own generous phase timeouts.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use knownpeers::CodecKind;
use knownpeers_cli::demo::{execute, DemoArgs, DemoReport, FileInfo, Phase};

fn small(dir: &Path, codec: &str, nodes: usize, degree: usize) -> DemoArgs {
    DemoArgs {
        nodes,
        degree,
        data_dir: dir.join("demo"),
        codec: codec.to_owned(),
        other_nodes: 3,
        timeout_secs: 60,
        control_wait_secs: 1,
    }
}

/// `knownpeers verify FILE [--key-file KEY]` exits 0 and names the file's realm.
fn verify(f: &FileInfo) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_knownpeers"));
    cmd.arg("verify").arg(&f.path);
    if let Some(k) = &f.key_file {
        cmd.arg("--key-file").arg(k);
    }
    let out = cmd.output().expect("run knownpeers verify");
    assert!(
        out.status.success(),
        "verify {} failed: {}{}",
        f.path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a demo and checks every claim of issue 5 on its report and files.
fn check(codec: &str, expected: CodecKind, nodes: usize, degree: usize) -> DemoReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = execute(&small(dir.path(), codec, nodes, degree)).expect("the demo runs");
    let table = report.to_string();

    assert!(!report.interrupted, "{table}");
    let cold = report.phase(Phase::ColdStart).expect("phase 1 ran");
    assert!(cold.completed, "cold start reached degree:\n{table}");
    assert_eq!((cold.at_degree, cold.nodes), (nodes, nodes), "{table}");
    assert_eq!(
        cold.entries_loaded, 0,
        "a cold start loads nothing:\n{table}"
    );

    let warm = report.phase(Phase::RestartFromFiles).expect("phase 2 ran");
    assert!(warm.completed, "phase 2 reconnected every node:\n{table}");
    assert_eq!(
        (warm.at_degree, warm.nodes),
        (nodes - 1, nodes - 1),
        "{table}"
    );
    assert_eq!(warm.files.len(), nodes - 1, "{table}");
    // Every restarted node knows at least the other restarted nodes it linked to.
    assert!(warm.entries_loaded >= (nodes - 1) * degree, "{table}");
    assert!(warm
        .files
        .iter()
        .all(|f| f.codec == expected && f.bytes > 0));

    let control = report
        .phase(Phase::RestartWithoutPersistence)
        .expect("phase 3 ran");
    assert!(
        !control.completed,
        "the control must not reconnect:\n{table}"
    );
    assert!(control.at_degree < control.nodes, "{table}");
    assert!(control.files.is_empty(), "{table}");
    assert_eq!(control.entries_loaded, 0, "{table}");

    let iso = report.isolation.as_ref().expect("isolation was checked");
    assert_eq!(iso.files_read, nodes + 3, "{table}");
    assert!(iso.entries_read > 0, "{table}");
    assert_eq!(iso.cross_realm_entries, 0, "{table}");
    assert_eq!(iso.hellos_accepted, 0, "{table}");
    // Each of the 3 other-realm nodes probes every main node after phases 1 and 2.
    assert!(iso.hellos_refused >= 3 * (2 * nodes - 1) as u64, "{table}");

    assert!(report.passed(), "{table}");
    assert_eq!(report.exit_code(), 0);
    assert!(table.contains("result: PASS"), "{table}");

    let written: Vec<&FileInfo> = report.phases[..2]
        .iter()
        .flat_map(|p| &p.files)
        .chain(&report.other.files)
        .collect();
    assert_eq!(report.other.files.len(), 3, "{table}");
    for f in written {
        verify(f);
    }
    report
}

#[test]
fn json_demo_reconnects_from_files_and_keeps_realms_apart() {
    check("json", CodecKind::Json, 6, 3);
}

#[test]
fn sealed_demo_reconnects_from_files() {
    check("sealed", CodecKind::Sealed, 5, 2);
}

#[test]
fn msgpack_demo_reconnects_from_files() {
    check("msgpack", CodecKind::Msgpack, 7, 4);
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            small(dir.path(), "yaml", 6, 3),
            "use json, msgpack or sealed",
        ),
        (small(dir.path(), "json", 4, 3), "use 5..=5000 nodes"),
        (
            small(dir.path(), "json", 6, 0),
            "--degree must be at least 1",
        ),
    ];
    for (args, expected) in cases {
        let err = execute(&args).expect_err("bad arguments");
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

fn demo_command(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_knownpeers"));
    cmd.args(["demo", "--nodes", "5", "--degree", "2", "--data-dir"])
        .arg(dir.join("demo"))
        .args(extra);
    cmd
}

#[test]
fn binary_prints_the_table_and_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = demo_command(dir.path(), &["--control-wait-secs", "1"])
        .output()
        .expect("run knownpeers demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    for expected in [
        "1 cold start from the bootstrap node",
        "2 restart from peer files, bootstrap down",
        "3 restart without persistence (control)",
        "4/4",
        "0/4",
        "5 json",
        "0 cross-realm entries",
        "result: PASS",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    // stderr is not a terminal here: plain phase lines instead of bars, nothing on stdout.
    assert!(
        stderr.contains("2 restart from peer files, bootstrap down: started, 4 nodes"),
        "{stderr}"
    );
}

/// SIGINT while phase 1 runs (or just after): exit 130, the report says so, and every node
/// that ran was closed with a final save, leaving valid files.
#[test]
fn ctrl_c_stops_cleanly_with_a_final_save() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = demo_command(dir.path(), &["--control-wait-secs", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start knownpeers demo");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = lines
        .by_ref()
        .map(|l| l.expect("read stderr"))
        .any(|l| l.starts_with("1 cold start from the bootstrap node: started"));
    assert!(started, "the demo reached phase 1");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("wait for the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("result: INTERRUPTED"), "{stdout}");

    let data = dir.path().join("demo");
    let mut main_files = 0;
    for entry in std::fs::read_dir(&data).expect("data dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let (realm, codec, key_file) = if name.starts_with("peers-main-") && name.ends_with(".json")
        {
            main_files += 1;
            ("demo-main", CodecKind::Json, None)
        } else if name.starts_with("peers-other-") && name.ends_with(".kp") {
            (
                "demo-other",
                CodecKind::Sealed,
                Some(data.join("key-other.key")),
            )
        } else {
            continue;
        };
        verify(&FileInfo {
            bytes: 0,
            path,
            realm: realm.to_owned(),
            codec,
            key_file,
        });
    }
    // Every node but possibly the bootstrap node (empty if stopped before anyone reached it)
    // had something to save.
    assert!(main_files >= 4, "{main_files} main files");
}
