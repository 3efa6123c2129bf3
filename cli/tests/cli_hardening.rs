//! Issue #10's findings through the real `knownpeers` binary, one regression test each: an
//! element bomb under an address-space limit (1), a symlink at `OUT.lock` (2), terminal escapes
//! from a file's realm and from `--realm` (4), FIFOs and devices as inputs and key sources (6),
//! a KDF cost over the reader's ceiling (7), passphrase hygiene and core dumps (8), and the
//! cheap ones of 9 (stale temps of a killed convert, `--realm ''`, a non-UTF-8 passphrase).
//!
//! Each test runs the binary in its own temp dir; nothing here reads /work/shared.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_knownpeers");
const PASS_VAR: &str = "KNOWNPEERS_TEST_PASSPHRASE";
/// The address-space limit of finding 1's reproduction (`ulimit -v 1048576`).
const AS_LIMIT: &str = "--as=1073741824";

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors")
        .join(name)
}

/// What a run of the binary left.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs `program args` with `envs`, failing the test (not hanging it) if it runs for more than
/// a minute: several findings were hangs.
fn run_cmd(program: &str, args: &[&OsStr], envs: &[(&str, &OsStr)]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove(PASS_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the program runs");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{program} {args:?} still running after a minute: it blocked");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

fn run(args: &[&OsStr]) -> Run {
    run_cmd(BIN, args, &[])
}

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

/// Asserts a failed run: the exit code and exactly one `error:` line on stderr.
fn failed(r: &Run, code: i32, what: &str) {
    assert_eq!(r.code, Some(code), "{what}: stderr: {}", r.stderr());
    let stderr = r.stderr();
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("error: "), "{what}: {stderr}");
}

/// `n` two-byte elements `0,` in a JSON array: finding 1's bomb.
fn zeros(n: usize) -> String {
    let mut s = String::with_capacity(2 * n + 2);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('0');
    }
    s.push(']');
    s
}

/// Finding 1: a 20 MB file of 9,999,999 elements made the reader reserve about 1.1 GB before
/// parsing one, so under `ulimit -v 1048576` `verify` aborted (SIGABRT, exit 134, no error
/// line). Now both the legacy array and the envelope are classified: corrupt, exit 3.
#[test]
fn an_element_bomb_is_corrupt_under_an_address_space_limit() {
    let dir = TempDir::new().expect("temp dir");
    let legacy = dir.path().join("z.json");
    std::fs::write(&legacy, zeros(9_999_999)).expect("write");
    let envelope = dir.path().join("e.json");
    std::fs::write(
        &envelope,
        format!(
            "{{\"knownpeers\":1,\"codec\":\"json\",\"realm\":\"r\",\"saved_at\":1,\"entries\":{}}}",
            zeros(9_999_999)
        ),
    )
    .expect("write");
    for file in [&legacy, &envelope] {
        let r = run_cmd(
            "prlimit",
            &[
                os(AS_LIMIT),
                os("--"),
                os(BIN),
                os("verify"),
                file.as_os_str(),
                os("--realm"),
                os("r"),
            ],
            &[],
        );
        failed(&r, 3, &file.display().to_string());
        assert!(r.stderr().contains("corrupt"), "{}", r.stderr());
    }
}

/// Finding 2: a dangling symlink at `OUT.lock` made `convert` create an empty file at its
/// target. Now the lock open refuses the symlink (ELOOP) and the target never appears.
#[test]
fn a_symlink_at_the_lock_path_is_refused_not_followed() {
    let dir = TempDir::new().expect("temp dir");
    let out = dir.path().join("out.json");
    let target = dir.path().join("planted");
    std::os::unix::fs::symlink(&target, dir.path().join("out.json.lock")).expect("symlink");
    let r = run(&[
        os("convert"),
        vector("json-basic.json").as_os_str(),
        out.as_os_str(),
        os("--to"),
        os("json"),
    ]);
    failed(&r, 1, "lock symlink");
    assert!(!target.exists(), "the symlink's target was created");
    assert!(!out.exists(), "OUT was written without its lock");
}

/// A JSON envelope whose realm is `realm` (escaped by serde_json), with no entries.
fn envelope_with_realm(path: &Path, realm: &str) {
    let text = serde_json::json!({
        "knownpeers": 1, "codec": "json", "realm": realm, "saved_at": 1, "entries": []
    });
    std::fs::write(path, text.to_string()).expect("write");
}

/// No byte of `out` is a control character but the line feeds that end lines, and none is a
/// C1 control or a bidi override; `lines` is how many lines it has.
fn assert_terminal_safe(out: &[u8], lines: usize, what: &str) {
    let text = String::from_utf8(out.to_vec()).expect("UTF-8 output");
    for c in text.chars() {
        assert!(
            c == '\n' || !(c.is_control() || matches!(c, '\u{202a}'..='\u{202e}')),
            "{what}: {c:?} reached the terminal in {text:?}"
        );
    }
    assert_eq!(text.lines().count(), lines, "{what}: {text:?}");
}

/// Finding 4: a crafted realm reached the terminal raw, so a file could recolour the screen
/// or forge an output line (a fake `kdf:` line); `--realm` was echoed raw too. Now every
/// command escapes them (`\u{1b}`), and the output keeps its line count.
#[test]
fn realms_from_files_and_arguments_cannot_drive_the_terminal() {
    let dir = TempDir::new().expect("temp dir");
    let evil = "x\u{1b}[2J\u{1b}[31m\nkdf:      none (raw 32-byte key file)\r\u{9b}1m\u{202e}";
    let file = dir.path().join("evil.json");
    envelope_with_realm(&file, evil);
    let r = run(&[os("inspect"), file.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_terminal_safe(&r.stdout, 7, "inspect");
    assert!(r.stdout().contains("\\u{1b}[2J"), "{}", r.stdout());
    let r = run(&[os("inspect"), file.as_os_str(), os("--json")]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_terminal_safe(&r.stdout, r.stdout().lines().count(), "inspect --json");
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("still JSON");
    assert_eq!(v["realm"], evil, "JSON escapes decode to the realm");
    let r = run(&[os("verify"), file.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_terminal_safe(&r.stdout, 1, "verify");
    let r = run(&[os("export"), file.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_terminal_safe(&r.stdout, r.stdout().lines().count(), "export");
    let out = dir.path().join("out.kp");
    let r = run(&[
        os("convert"),
        file.as_os_str(),
        out.as_os_str(),
        os("--to"),
        os("msgpack"),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_terminal_safe(&r.stdout, 1, "convert");
    // The binary file keeps the realm as it was; inspecting it is just as safe.
    let r = run(&[os("inspect"), out.as_os_str()]);
    assert_terminal_safe(&r.stdout, 7, "inspect msgpack");
    // Errors: a realm mismatch names both realms, the file's and the echoed --realm.
    let r = run(&[os("verify"), file.as_os_str(), os("--realm"), os(evil)]);
    assert_eq!(r.code, Some(0), "same realm: {}", r.stderr());
    let r = run(&[
        os("verify"),
        file.as_os_str(),
        os("--realm"),
        os("a\u{1b}]0;t\u{7}"),
    ]);
    assert_eq!(r.code, Some(5), "{}", r.stderr());
    assert_terminal_safe(&r.stderr, 1, "realm mismatch");
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(made.success());
}

/// Finding 6: a FIFO as IN, `--key-file` or `--passphrase-file` blocked forever, and
/// `inspect /dev/zero` read 1 GiB before refusing. Now each is refused at once.
#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let dir = TempDir::new().expect("temp dir");
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    for args in [
        vec![os("inspect"), fifo.as_os_str()],
        vec![os("verify"), fifo.as_os_str()],
        vec![os("inspect"), os("/dev/zero")],
    ] {
        let r = run(&args);
        failed(&r, 1, &format!("{args:?}"));
        assert!(r.stderr().contains("not a regular file"), "{}", r.stderr());
    }
    let sealed_key = vector("sealed-keyfile.kp");
    let r = run(&[
        os("verify"),
        sealed_key.as_os_str(),
        os("--key-file"),
        fifo.as_os_str(),
    ]);
    failed(&r, 4, "key file FIFO");
    let sealed_pass = vector("sealed-passphrase.kp");
    for source in [fifo.as_os_str(), os("/dev/zero")] {
        let r = run(&[
            os("verify"),
            sealed_pass.as_os_str(),
            os("--passphrase-file"),
            source,
        ]);
        failed(&r, 4, "passphrase file FIFO or device");
        assert!(r.stderr().contains("not a regular file"), "{}", r.stderr());
    }
    // An OUT that is a FIFO is no peer file to replace.
    let r = run(&[
        os("convert"),
        vector("json-basic.json").as_os_str(),
        fifo.as_os_str(),
        os("--to"),
        os("json"),
    ]);
    failed(&r, 1, "OUT FIFO");
}

/// Writes `text` to `path` with `mode`.
fn write_mode(path: &Path, text: &[u8], mode: u32) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Finding 7: any cost within FORMAT.md's bounds was run (m = 1 GiB, t = 10, p = 16 cost
/// 33 s). Now the reader's ceiling defaults to RFC 9106's m = 64 MiB, t = 3, p = 4; more is
/// refused before Argon2id (exit 7, naming the flag), and `--kdf-max-*` raises it.
#[test]
fn kdf_costs_over_the_ceiling_are_refused_unless_raised() {
    let dir = TempDir::new().expect("temp dir");
    let pass = dir.path().join("pass");
    write_mode(&pass, b"a passphrase\n", 0o600);
    let strong = dir.path().join("strong.kp");
    let r = run(&[
        os("convert"),
        vector("json-basic.json").as_os_str(),
        strong.as_os_str(),
        os("--to"),
        os("sealed"),
        os("--passphrase-file"),
        pass.as_os_str(),
        os("--kdf-m-kib"),
        os("19456"),
        os("--kdf-t"),
        os("4"),
        os("--kdf-p"),
        os("1"),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let verify = |extra: &[&OsStr]| {
        let mut args = vec![
            os("verify"),
            strong.as_os_str(),
            os("--passphrase-file"),
            pass.as_os_str(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let r = run(&[os("inspect"), strong.as_os_str()]);
    assert!(
        r.stdout().contains("over the default reader ceiling"),
        "{}",
        r.stdout()
    );
    let r = verify(&[]);
    failed(&r, 7, "t over the default ceiling");
    assert!(r.stderr().contains("--kdf-max-t"), "{}", r.stderr());
    let r = verify(&[os("--kdf-max-t"), os("4")]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    // A ceiling outside FORMAT.md's bounds is a usage error.
    let r = verify(&[os("--kdf-max-t"), os("11")]);
    failed(&r, 2, "ceiling over the bounds");
}

/// Finding 8: a passphrase file others could read was accepted silently, and
/// `--passphrase-env` echoed its argument, which may be the passphrase typed in its place.
/// Finding 9: a non-UTF-8 passphrase file exited 1, not 4 (a key problem).
#[test]
fn passphrase_sources_are_handled_as_secrets() {
    let dir = TempDir::new().expect("temp dir");
    let sealed = vector("sealed-passphrase.kp");
    let open = dir.path().join("open-pass");
    write_mode(&open, b"correct horse battery staple\n", 0o644);
    let r = run(&[
        os("verify"),
        sealed.as_os_str(),
        os("--passphrase-file"),
        open.as_os_str(),
    ]);
    failed(&r, 4, "passphrase file 0644");
    assert!(r.stderr().contains("chmod 600"), "{}", r.stderr());
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let r = run(&[
        os("verify"),
        sealed.as_os_str(),
        os("--passphrase-file"),
        open.as_os_str(),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());

    let typed = "correct horse battery staple";
    let r = run(&[
        os("verify"),
        sealed.as_os_str(),
        os("--passphrase-env"),
        os(typed),
    ]);
    failed(&r, 4, "passphrase typed as the variable");
    assert!(!r.stderr().contains("horse"), "{}", r.stderr());

    let binary = dir.path().join("binary-pass");
    write_mode(&binary, b"\xff\xfe\xfd\n", 0o600);
    let r = run(&[
        os("verify"),
        sealed.as_os_str(),
        os("--passphrase-file"),
        binary.as_os_str(),
    ]);
    failed(&r, 4, "non-UTF-8 passphrase file");
}

/// Finding 8: the CLI turns core dumps off before it reads key material: under strace, the
/// `prctl(PR_SET_DUMPABLE, 0)` and the RLIMIT_CORE change come before the key file's open.
#[test]
fn core_dumps_are_off_before_a_key_is_read() {
    let dir = TempDir::new().expect("temp dir");
    let key = dir.path().join("k.key");
    std::fs::copy(vector("key-basic.key"), &key).expect("copy");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let log = dir.path().join("strace.log");
    let r = run_cmd(
        "strace",
        &[
            os("-f"),
            os("-e"),
            os("trace=prctl,prlimit64,setrlimit,open,openat"),
            os("-o"),
            log.as_os_str(),
            os(BIN),
            os("verify"),
            vector("sealed-keyfile.kp").as_os_str(),
            os("--key-file"),
            key.as_os_str(),
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let trace = std::fs::read_to_string(&log).expect("strace log");
    let at = |needle: &str| {
        trace
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{trace}"))
    };
    let key_open = at("k.key\"");
    assert!(
        at("PR_SET_DUMPABLE, SUID_DUMP_DISABLE") < key_open,
        "{trace}"
    );
    assert!(at("RLIMIT_CORE, {rlim_cur=0") < key_open, "{trace}");
}

/// Finding 9: a SIGKILLed convert left a full-size `.OUT.tmp.*` that nothing removed; now the
/// next convert of OUT removes it under OUT's lock. And `verify --realm ''` of a legacy file
/// said ok; an empty realm is a usage error.
#[test]
fn convert_removes_stale_temps_and_an_empty_realm_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let out = dir.path().join("out.kp");
    let stale = dir.path().join(".out.kp.tmp.999999.0");
    std::fs::write(&stale, vec![0u8; 4096]).expect("write");
    let r = run(&[
        os("convert"),
        vector("json-basic.json").as_os_str(),
        out.as_os_str(),
        os("--to"),
        os("msgpack"),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!stale.exists(), "the stale temp file is still there");
    let legacy = vector("legacy-thenodes.json");
    for command in ["verify", "export"] {
        let r = run(&[os(command), legacy.as_os_str(), os("--realm"), os("")]);
        failed(&r, 2, command);
    }
}
