//! Passphrase-sealed realms: a restart roundtrip with the writer's minimum Argon2id parameters
//! (m = 19456 KiB, t = 2, p = 1), the passphrase vector read with the right and a wrong
//! passphrase, the KDF-bomb vector refused before any work, and a missing variable. One test
//! function, because it sets environment variables (no other thread may read them meanwhile).

#[path = "common/store.rs"]
mod util;

use knownpeers::codecs::{inspect, ErrorKind, Format, KdfInfo, KdfParams};
use knownpeers::{Error, PersistentStore};
use util::{addr, clock, config, copy_vector, sorted};

const GOOD: &str = "KNOWNPEERS_TEST_PASS_GOOD";
const WRONG: &str = "KNOWNPEERS_TEST_PASS_WRONG";
const UNSET: &str = "KNOWNPEERS_TEST_PASS_UNSET";
const MIN_KDF: &str = "kdf_m_kib = 19456\nkdf_t = 2\nkdf_p = 1\n";

fn realm_table(realm: &str, var: &str) -> String {
    format!("[network.persistence.realms.{realm}]\ncodec = \"sealed\"\npassphrase_env = \"{var}\"\n{MIN_KDF}")
}

/// Opens a copy of `vector` as `example-realm` with the passphrase in `var`.
async fn open_vector(
    vector: &str,
    var: &str,
) -> (
    Result<PersistentStore, Error>,
    Vec<u8>,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = copy_vector(vector, dir.path(), "example-realm.peers");
    let original = std::fs::read(&path).expect("vector");
    let cfg = config(dir.path(), &realm_table("example-realm", var));
    (
        PersistentStore::open(&cfg, "example-realm", clock()).await,
        original,
        path,
        dir,
    )
}

fn kind_of(r: &Result<PersistentStore, Error>) -> Option<ErrorKind> {
    match r {
        Err(Error::Format { source, .. }) => Some(source.kind()),
        _ => None,
    }
}

#[tokio::test]
async fn passphrase_realms() {
    // Before any other thread exists in this process.
    std::env::set_var(GOOD, "correct horse battery staple");
    std::env::set_var(WRONG, "Correct horse battery staple");
    std::env::remove_var(UNSET);

    // Restart roundtrip with the writer's minimum parameters.
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), &realm_table("r", GOOD));
    let c = clock();
    let s = PersistentStore::open(&cfg, "r", c.clone())
        .await
        .expect("open");
    s.store()
        .observe_connected(addr(1), Some("node-1".into()), vec!["relay".into()])
        .expect("ok");
    s.store().observe_bootstrap(addr(2));
    let before = sorted(s.store().snapshot().to_vec());
    s.close().await.expect("close");
    let bytes = std::fs::read(dir.path().join("r.peers")).expect("saved");
    let header = inspect(&bytes).expect("header");
    assert_eq!(header.format, Format::Sealed);
    assert_eq!(
        header.kdf,
        Some(KdfInfo::Argon2id(KdfParams {
            m_cost_kib: 19456,
            t_cost: 2,
            p_cost: 1
        }))
    );
    let s = PersistentStore::open(&cfg, "r", c.clone())
        .await
        .expect("reopen");
    assert_eq!(sorted(s.store().snapshot().to_vec()), before);
    s.close().await.expect("close");

    // The independent vector, right passphrase.
    let (r, _, _, _dir) = open_vector("sealed-passphrase.kp", GOOD).await;
    let s = r.expect("the right passphrase opens the vector");
    assert_eq!(s.load_report().in_file, 3);
    s.close().await.expect("close");

    // Wrong passphrase: refused, byte-identical.
    let (r, original, path, _dir) = open_vector("sealed-passphrase.kp", WRONG).await;
    assert_eq!(kind_of(&r), Some(ErrorKind::WrongKey));
    assert_eq!(r.expect_err("wrong").exit_code(), 4);
    assert_eq!(std::fs::read(&path).expect("file"), original);

    // A file asking for absurd KDF work: refused before deriving, byte-identical.
    let (r, original, path, _dir) = open_vector("sealed-kdf-bomb.kp", GOOD).await;
    assert_eq!(kind_of(&r), Some(ErrorKind::LimitExceeded));
    assert_eq!(std::fs::read(&path).expect("file"), original);

    // The variable is not set: a key error, nothing read. The message does not repeat the
    // variable's name, which may be a passphrase typed in its place (issue #10 finding 8).
    let (r, original, path, _dir) = open_vector("sealed-passphrase.kp", UNSET).await;
    let err = r.expect_err("no passphrase");
    assert!(matches!(err, Error::Key(_)), "{err:?}");
    assert!(err.to_string().contains("not set or empty"), "{err}");
    assert!(!err.to_string().contains(UNSET), "{err}");
    assert!(!err.to_string().contains("horse"));
    assert_eq!(err.exit_code(), 4);
    assert_eq!(std::fs::read(&path).expect("file"), original);
}
