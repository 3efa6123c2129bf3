//! Issue #10's findings through the library's `PersistentStore::open`, one regression test
//! each: an element bomb under an address-space limit ends quarantined, not aborted (1); a
//! symlink at `<path>.lock` is refused (2); data directories are created 0700 (3); a FIFO as a
//! realm's key file fails the open at once (6); a KDF cost over the realm's ceiling is refused
//! and `kdf_max_*` raises it (7); core dumps are off once a realm's key is loaded (8).

mod common;
#[path = "common/store.rs"]
mod util;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use knownpeers::codecs::{Codec, ErrorKind, KdfParams, SealedCodec, SecretString};
use knownpeers::{Error, PersistentStore};
use util::{clock, config, new_key_file, T0};

/// The address-space limit of finding 1's reproduction (`ulimit -v 1048576`).
const AS_LIMIT: &str = "--as=1073741824";
/// The data file a child opens.
const PATH_ENV: &str = "KNOWNPEERS_TEST_HARDEN_PATH";

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

/// Opens realm `r` of a json realm whose file is `path`, on a one-thread runtime.
fn open_blocking(path: &Path) -> Result<PersistentStore, Error> {
    let text = format!(
        "[network.persistence]\nenabled = true\npath = \"{}\"\n[network.persistence.realms.r]\ncodec = \"json\"\n",
        path.display()
    );
    let cfg = knownpeers::Config::from_toml_str(&text).expect("config");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(PersistentStore::open(&cfg, "r", clock()))
}

/// Finding 1: inside `PersistentStore::open`, a 20 MB element bomb made the reader reserve
/// about 1.1 GB, so under an address-space limit the process aborted before the file was
/// classified: every restart aborted again. Now a child process opening it under `prlimit
/// --as=1 GiB` gets the file quarantined (corrupt) and an empty store.
#[test]
fn an_element_bomb_is_quarantined_under_an_address_space_limit() {
    if common::role().as_deref() == Some("open") {
        let path = PathBuf::from(std::env::var_os(PATH_ENV).expect("path given"));
        match open_blocking(&path) {
            Ok(store) => println!(
                "RESULT quarantined={} len={}",
                store.load_report().quarantined_to.is_some(),
                store.store().len()
            ),
            Err(e) => println!("RESULT error {e}"),
        }
        return;
    }
    let bombs = [
        zeros(9_999_999),
        format!(
            "{{\"knownpeers\":1,\"codec\":\"json\",\"realm\":\"r\",\"saved_at\":1,\"entries\":{}}}",
            zeros(9_999_999)
        ),
    ];
    for bomb in bombs {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.peers");
        std::fs::write(&path, &bomb).expect("write");
        let mut cmd = common::child_command(
            "an_element_bomb_is_quarantined_under_an_address_space_limit",
            "open",
            &["prlimit", AS_LIMIT, "--"],
        );
        cmd.env(PATH_ENV, &path);
        let out = common::run_child(cmd);
        assert!(
            out.status.success(),
            "the child died: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(common::child_result(&out), "quarantined=true len=0");
        assert!(!path.exists(), "the bomb is still at the data path");
        let moved: Vec<_> = util::listing(dir.path())
            .into_iter()
            .filter(|n| n.starts_with("r.peers.corrupt-"))
            .collect();
        assert_eq!(moved.len(), 1, "{moved:?}");
        let kept = std::fs::read(dir.path().join(&moved[0])).expect("quarantined file");
        assert_eq!(
            kept.len(),
            bomb.len(),
            "the quarantined file keeps its bytes"
        );
    }
}

/// Finding 2: a dangling symlink at `<path>.lock` made the open create an empty file at its
/// target. Now the open fails (ELOOP) and the target never appears.
#[test]
fn a_symlink_at_the_lock_path_fails_the_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("r.peers");
    let target = dir.path().join("planted");
    std::os::unix::fs::symlink(&target, dir.path().join("r.peers.lock")).expect("symlink");
    let err = open_blocking(&path).expect_err("the lock is a symlink");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(!target.exists(), "the symlink's target was created");
}

/// Finding 3: data directories took the umask (0755 under 022, 0777 under 000), so others
/// could swap or delete peer files and plant the lock symlink. Now each directory the open
/// creates is 0700; one that existed keeps its mode.
#[test]
fn data_directories_are_created_private() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("a/b/r.peers");
    let store = open_blocking(&path).expect("open");
    drop(store);
    for d in [dir.path().join("a"), dir.path().join("a/b")] {
        let mode = std::fs::metadata(&d).expect("created").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{}: {mode:o}", d.display());
    }
    let mode = std::fs::metadata(dir.path())
        .expect("dir")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o755, "an existing directory keeps its mode");
}

/// A config with one sealed realm `r` in `dir` whose key file is `key`.
fn key_file_config(dir: &Path, key: &Path) -> knownpeers::Config {
    config(
        dir,
        &format!(
            "[network.persistence.realms.r]\ncodec = \"sealed\"\nkey_file = \"{}\"\n",
            key.display()
        ),
    )
}

/// Finding 6: a FIFO as a realm's `key_file` blocked the open forever. Now it fails at once
/// with a key error (CLI exit 4), and no file is created.
#[test]
fn a_fifo_as_key_file_fails_the_open_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("k.key");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let cfg = key_file_config(dir.path(), &fifo);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _ = tx.send(rt.block_on(PersistentStore::open(&cfg, "r", clock())).err());
    });
    let err = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the open blocked on the FIFO")
        .expect("a FIFO is no key file");
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(!dir.path().join("r.peers").exists());
}

/// Finding 8: once a realm's key is loaded the process writes no core file: it is not
/// dumpable and its soft core limit is 0.
#[tokio::test]
async fn core_dumps_are_off_once_a_key_is_loaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = new_key_file(dir.path(), "k.key");
    let store = PersistentStore::open(&key_file_config(dir.path(), &key), "r", clock())
        .await
        .expect("open");
    let core = rustix::process::getrlimit(rustix::process::Resource::Core);
    assert_eq!(core.current, Some(0));
    assert_eq!(
        rustix::process::dumpable_behavior().expect("prctl"),
        rustix::process::DumpableBehavior::NotDumpable
    );
    store.close().await.expect("close");
}

const PASS_ENV: &str = "KNOWNPEERS_TEST_HARDEN_PASS";
const PASSPHRASE: &str = "correct horse battery staple";
/// The writer's minimum, as the realm's own costs.
const MIN_KDF: &str = "kdf_m_kib = 19456\nkdf_t = 2\nkdf_p = 1\n";

fn passphrase_config(
    dir: &Path,
    extra: &str,
) -> Result<knownpeers::Config, knownpeers::ConfigError> {
    knownpeers::Config::from_toml_str(&format!(
        "[network.persistence]\nenabled = true\npath = \"{}/{{realm}}.peers\"\n[network.persistence.realms.r]\n\
         codec = \"sealed\"\npassphrase_env = \"{PASS_ENV}\"\n{MIN_KDF}{extra}",
        dir.display()
    ))
}

/// Finding 7: a file's Argon2id costs anywhere within FORMAT.md's bounds were run on every
/// open (m = 1 GiB, t = 10, p = 16: 33 s). Now a realm runs at most its ceiling (default: the
/// larger of its own costs and RFC 9106's m = 64 MiB, t = 3, p = 4): more fails the open as a
/// limit and leaves the file byte-identical; `kdf_max_t` raises it. Runs in a child, which
/// alone has the passphrase variable set.
#[test]
fn kdf_costs_over_the_realms_ceiling_fail_the_open() {
    if common::role().as_deref() == Some("ceiling") {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.peers");
        let costly = KdfParams {
            m_cost_kib: 19456,
            t_cost: 4,
            p_cost: 1,
        };
        let writer =
            SealedCodec::with_passphrase(SecretString::from(PASSPHRASE), costly).expect("writer");
        let entries = vec![knownpeers::PeerEntry {
            addr: "192.0.2.1:7447".parse().expect("addr"),
            source: knownpeers::PeerSource::Gossip,
            last_seen: T0,
            node_id: None,
            capabilities: vec![],
        }];
        let bytes = writer.encode("r", T0, &entries).expect("encode");
        std::fs::write(&path, &bytes).expect("write");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cfg = passphrase_config(dir.path(), "").expect("config");
        let err = rt
            .block_on(PersistentStore::open(&cfg, "r", clock()))
            .expect_err("t = 4 is over the default ceiling t = 3");
        let kind = match &err {
            Error::Format { source, .. } => Some(source.kind()),
            _ => None,
        };
        assert_eq!(kind, Some(ErrorKind::LimitExceeded), "{err}");
        assert_eq!(std::fs::read(&path).expect("still there"), bytes);
        let cfg = passphrase_config(dir.path(), "kdf_max_t = 4\n").expect("config");
        let store = rt
            .block_on(PersistentStore::open(&cfg, "r", clock()))
            .expect("a raised ceiling opens it");
        assert_eq!(store.store().len(), 1);
        rt.block_on(store.close()).expect("close");
        println!("RESULT ok");
        return;
    }
    // A ceiling under the realm's own costs would refuse its own files: a config error.
    let dir = tempfile::tempdir().expect("temp dir");
    let err = passphrase_config(dir.path(), "kdf_max_t = 1\n").expect_err("under kdf_t");
    assert!(err.key.ends_with("kdf_max_t"), "{err}");
    let err = passphrase_config(dir.path(), "kdf_max_m_kib = 2000000\n").expect_err("bounds");
    assert!(err.key.ends_with("kdf_max_m_kib"), "{err}");
    let cmd = {
        let mut c = common::child_command(
            "kdf_costs_over_the_realms_ceiling_fail_the_open",
            "ceiling",
            &[],
        );
        c.env(PASS_ENV, PASSPHRASE);
        c
    };
    let out = common::run_child(cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::child_result(&out), "ok");
}
