//! The keys crate against FORMAT.md "Key files" and the Argon2id bounds: key-file text case by
//! case, real files in temp dirs with real modes, passphrase sources, and the KDF bounds.

use std::path::Path;

use knownpeers_keys::{
    derive_argon2id, parse_key_file, passphrase_from_env, passphrase_from_file, read_key_file,
    write_key_file, Error, ExposeSecret, KdfParams, Key, SecretString,
};

const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn expected_key() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// Parses `text` and checks it is the key 00..1f (`true`) or refused as malformed (`false`).
fn check_text(text: &str, ok: bool) {
    let got = parse_key_file(text.as_bytes(), Path::new("k.key"));
    match (got, ok) {
        (Ok(key), true) => assert_eq!(key.expose(), &expected_key(), "{text:?}"),
        (Err(Error::MalformedKeyFile { .. }), false) => {}
        (other, _) => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn key_file_text_cases() {
    check_text(&format!("knownpeers-key-v1\n{HEX}\n"), true);
    check_text(&format!("knownpeers-key-v1\n{HEX}"), true);
    check_text(&format!("knownpeers-key-v1\n{HEX}\n\n"), false);
    check_text(&format!("knownpeers-key-v1\r\n{HEX}\r\n"), false);
    check_text(&format!("knownpeers-key-v1\n{HEX}\r\n"), false);
    check_text(
        &format!("knownpeers-key-v1\n{}\n", HEX.to_uppercase()),
        false,
    );
    check_text(&format!("knownpeers-key-v1\n{}\n", &HEX[..63]), false);
    check_text(&format!("knownpeers-key-v1\n{HEX}0\n"), false);
    check_text(&format!("knownpeers-key-v1\n {HEX}\n"), false);
    check_text(&format!("knownpeers-key-v1\n{HEX} \n"), false);
    check_text(&format!("knownpeers-key-v1 \n{HEX}\n"), false);
    check_text(&format!("knownpeers-key-v2\n{HEX}\n"), false);
    check_text(&format!("\u{feff}knownpeers-key-v1\n{HEX}\n"), false);
    check_text(&format!("knownpeers-key-v1\n{HEX}\nextra\n"), false);
    check_text(&format!("{HEX}\n"), false);
    check_text(&format!("knownpeers-key-v1\n{}g\n", &HEX[..63]), false);
    check_text("knownpeers-key-v1\n", false);
    check_text("", false);
}

#[test]
fn generated_keys_roundtrip_through_a_private_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("realm.key");
    let key = Key::generate().expect("random");
    write_key_file(&path, &key).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&path).expect("text");
    assert!(text.starts_with("knownpeers-key-v1\n") && text.ends_with('\n'));
    assert_eq!(text.len(), 18 + 65);
    assert_eq!(read_key_file(&path).expect("read").expose(), key.expose());
    // Two draws differ.
    assert_ne!(Key::generate().expect("random").expose(), key.expose());
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("realm.key");
    std::fs::write(&path, "precious").expect("write");
    let err = write_key_file(&path, &Key::from_bytes([1; 32])).expect_err("exists");
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "precious");
}

#[cfg(unix)]
#[test]
fn a_key_file_others_may_read_or_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("realm.key");
    write_key_file(&path, &Key::from_bytes([1; 32])).expect("write");
    let check = |mode: u32, ok: bool| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        match (read_key_file(&path), ok) {
            (Ok(_), true) => {}
            (Err(Error::InsecurePermissions { mode: found, .. }), false) => {
                assert_eq!(found, mode)
            }
            (other, _) => panic!("{mode:o}: {other:?}"),
        }
    };
    check(0o600, true);
    check(0o400, true);
    check(0o700, true);
    check(0o640, false);
    check(0o604, false);
    check(0o620, false);
    check(0o602, false);
    check(0o644, false);
    check(0o666, false);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let msg = read_key_file(&path).expect_err("insecure").to_string();
    assert!(
        msg.contains(&format!("chmod 600 {}", path.display())),
        "{msg}"
    );
}

#[test]
fn a_missing_key_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.key");
    let err = read_key_file(&path).expect_err("missing");
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("absent.key"));
}

#[test]
fn kdf_bounds_cases() {
    let check = |m: u32, t: u32, p: u32, ok: bool| {
        let params = KdfParams {
            m_cost_kib: m,
            t_cost: t,
            p_cost: p,
        };
        match (params.check_bounds(), ok) {
            (Ok(()), true) | (Err(Error::KdfBounds { .. }), false) => {}
            (other, _) => panic!("{params:?}: {other:?}"),
        }
    };
    check(8, 1, 1, true);
    check(1_048_576, 10, 16, true);
    check(128, 1, 16, true);
    check(127, 1, 16, false);
    check(7, 1, 1, false);
    check(1_048_577, 1, 1, false);
    check(u32::MAX, 1, 1, false);
    check(1024, 0, 1, false);
    check(1024, 11, 1, false);
    check(1024, 1, 0, false);
    check(1024, 1, 17, false);
    check(0, 0, 0, false);
    check(u32::MAX, u32::MAX, u32::MAX, false);
}

#[test]
fn writer_minimum_cases() {
    let check = |m: u32, t: u32, p: u32, want: &str| {
        let params = KdfParams {
            m_cost_kib: m,
            t_cost: t,
            p_cost: p,
        };
        let got = match params.check_writer_minimum() {
            Ok(()) => "ok",
            Err(Error::WeakKdf { .. }) => "weak",
            Err(Error::KdfBounds { .. }) => "bounds",
            Err(e) => panic!("{e}"),
        };
        assert_eq!(got, want, "{params:?}");
    };
    check(19_456, 2, 1, "ok");
    check(65_536, 3, 4, "ok");
    check(19_455, 2, 1, "weak");
    check(19_456, 1, 1, "weak");
    check(1024, 1, 1, "weak");
    check(2_000_000, 3, 1, "bounds");
    assert!(KdfParams::DEFAULT.check_writer_minimum().is_ok());
    assert_eq!(KdfParams::default(), KdfParams::DEFAULT);
}

#[test]
fn argon2id_is_deterministic_and_salted() {
    let pass = SecretString::from("correct horse battery staple");
    let params = KdfParams {
        m_cost_kib: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    let a = derive_argon2id(&pass, &[1; 16], &params).expect("derive");
    let b = derive_argon2id(&pass, &[1; 16], &params).expect("derive");
    let c = derive_argon2id(&pass, &[2; 16], &params).expect("derive");
    let d = derive_argon2id(&SecretString::from("other"), &[1; 16], &params).expect("derive");
    assert_eq!(a.expose(), b.expose());
    assert_ne!(a.expose(), c.expose());
    assert_ne!(a.expose(), d.expose());
}

#[test]
fn a_kdf_bomb_is_refused_before_any_work() {
    let bomb = KdfParams {
        m_cost_kib: u32::MAX,
        t_cost: u32::MAX,
        p_cost: 1,
    };
    let err = derive_argon2id(&SecretString::from("p"), &[0; 16], &bomb).expect_err("bomb");
    assert!(matches!(err, Error::KdfBounds { .. }), "{err}");
}

#[test]
fn passphrase_from_env_cases() {
    // Each case uses its own variable, so parallel tests do not race on the environment.
    let var = "KNOWNPEERS_KEYS_TEST_PASS_SET";
    std::env::set_var(var, "  spaced passphrase\n");
    let pass = passphrase_from_env(var).expect("set");
    assert_eq!(
        pass.expose_secret(),
        "  spaced passphrase\n",
        "taken verbatim"
    );
    let var = "KNOWNPEERS_KEYS_TEST_PASS_EMPTY";
    std::env::set_var(var, "");
    assert!(matches!(
        passphrase_from_env(var),
        Err(Error::MissingPassphrase { .. })
    ));
    // Issue #10 finding 8: the message never repeats what was given as the variable's name,
    // which may be a passphrase typed in the wrong place.
    let typed = "KNOWNPEERS_KEYS_TEST_PASS_correct horse battery staple";
    let err = passphrase_from_env(typed).expect_err("unset");
    assert!(matches!(err, Error::MissingPassphrase { .. }), "{err}");
    assert!(!err.to_string().contains("horse"), "{err}");
    let var = "KNOWNPEERS_KEYS_TEST_PASS_NOT_UTF8";
    std::env::set_var(
        var,
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff\xfe"),
    );
    let err = passphrase_from_env(var).expect_err("not UTF-8");
    assert!(matches!(err, Error::PassphraseNotUtf8 { .. }), "{err}");
    assert!(!err.to_string().contains(var), "{err}");
}

/// Writes `content` to `path` with mode 0600, as a passphrase file must have.
fn write_private(path: &std::path::Path, content: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Issue #10 finding 8: a passphrase file group or others may read or write is refused like a
/// key file, with the `chmod 600` fix; 0600 and 0400 are accepted.
#[test]
fn a_passphrase_file_open_to_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pass");
    for (mode, ok) in [
        (0o600, true),
        (0o400, true),
        (0o640, false),
        (0o604, false),
        (0o620, false),
        (0o644, false),
    ] {
        std::fs::write(&path, b"secret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        match passphrase_from_file(&path) {
            Ok(p) if ok => assert_eq!(p.expose_secret(), "secret"),
            Err(Error::InsecurePermissions { mode: m, .. }) if !ok => {
                assert_eq!(m, mode);
                let shown = passphrase_from_file(&path).expect_err("again").to_string();
                assert!(shown.contains("chmod 600"), "{shown}");
            }
            other => panic!("{mode:o}: {:?}", other.map(|_| "a passphrase")),
        }
    }
}

/// Runs `f` on another thread and fails (instead of hanging the test run) if it has not
/// returned within a minute: the guard of the FIFO tests, where the bug was a hang.
fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the read blocked: a FIFO must be refused, not opened for reading")
}

/// Issue #10 finding 6: a FIFO (no writer) or a device as a key or passphrase file is refused
/// at once; before, the open blocked forever.
#[test]
fn a_fifo_or_device_is_no_key_or_passphrase_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let path = fifo.clone();
    let err = returns(move || read_key_file(&path).map(|_| ())).expect_err("a FIFO");
    assert!(
        matches!(
            err,
            Error::MalformedKeyFile {
                what: "not a regular file",
                ..
            }
        ),
        "{err}"
    );
    let path = fifo.clone();
    let err = returns(move || passphrase_from_file(&path).map(|_| ())).expect_err("a FIFO");
    assert!(matches!(err, Error::NotRegularFile { .. }), "{err}");
    let err = passphrase_from_file(std::path::Path::new("/dev/zero")).expect_err("a device");
    assert!(matches!(err, Error::NotRegularFile { .. }), "{err}");
}

/// The process holding key material is not dumpable and its soft core limit is 0.
#[test]
fn core_dumps_can_be_turned_off() {
    knownpeers_keys::disable_core_dumps().expect("prctl and setrlimit");
    knownpeers_keys::disable_core_dumps().expect("idempotent");
    let core = rustix::process::getrlimit(rustix::process::Resource::Core);
    assert_eq!(core.current, Some(0));
    assert_eq!(
        rustix::process::dumpable_behavior().expect("prctl"),
        rustix::process::DumpableBehavior::NotDumpable
    );
}

#[test]
fn passphrase_from_file_cases() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |content: &[u8], want: Option<&str>| {
        let path = dir.path().join("pass");
        write_private(&path, content);
        match (passphrase_from_file(&path), want) {
            (Ok(p), Some(w)) => assert_eq!(p.expose_secret(), w, "{content:?}"),
            (Err(Error::EmptyPassphraseFile { .. } | Error::PassphraseNotUtf8 { .. }), None) => {}
            (other, _) => panic!("{content:?}: {:?}", other.map(|_| "a passphrase")),
        }
    };
    check(b"secret", Some("secret"));
    check(b"secret\n", Some("secret"));
    check(b"secret\r\n", Some("secret"));
    check(b"secret\n\n", Some("secret\n"));
    check(b" secret \n", Some(" secret "));
    check(b"\n", None);
    check(b"", None);
    check(b"\xff\xfe\n", None);
    let big = vec![b'a'; 64 * 1024 + 1];
    let path = dir.path().join("big");
    write_private(&path, &big);
    assert!(matches!(
        passphrase_from_file(&path),
        Err(Error::PassphraseFileTooLarge { .. })
    ));
}

#[test]
fn keys_never_print() {
    let key = Key::from_bytes([0xcd; 32]);
    let shown = format!("{key:?} {key:#?}");
    assert_eq!(format!("{key:?}"), "Key(<redacted>)");
    assert!(!shown.contains("cd") && !shown.contains("205"), "{shown}");
    let pass = SecretString::from("hunter2");
    assert!(!format!("{pass:?}").contains("hunter2"));
}

#[test]
fn a_directory_is_not_a_key_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = read_key_file(dir.path()).expect_err("a directory");
    assert!(
        matches!(
            err,
            Error::MalformedKeyFile {
                what: "not a regular file",
                ..
            }
        ),
        "{err}"
    );
}
