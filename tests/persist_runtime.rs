//! The persistent store end to end, on real files: restart roundtrips in json, msgpack and
//! sealed (key file), TTL expiry and the cap on load, realm isolation, quarantine of corrupt
//! and unsupported files, refusal (file byte-identical) of everything else, the sealed-stays-
//! sealed rule, `enabled = false`, the in-process lock and [`Realms`]. Passphrase realms are in
//! `persist_passphrase.rs` (they set environment variables).

#[path = "common/store.rs"]
mod util;

use std::sync::Arc;

use knownpeers::codecs::{detect, ErrorKind, Format};
use knownpeers::{
    Error, GossipPeer, PeerSource, PersistenceMode, PersistentStore, Realms, StoreLock,
};
use util::{addr, clock, config, copy_vector, listing, new_key_file, sorted, T0};

async fn open(
    cfg: &knownpeers::Config,
    realm: &str,
    c: Arc<knownpeers::ManualClock>,
) -> PersistentStore {
    PersistentStore::open(cfg, realm, c)
        .await
        .unwrap_or_else(|e| panic!("open {realm}: {e}"))
}

fn gossip(i: u32) -> GossipPeer {
    GossipPeer {
        addr: addr(i),
        node_id: None,
        capabilities: vec![],
    }
}

/// Open, observe (one entry that will expire), close, reopen later: the same entries minus the
/// expired one, in a file of format `expected`.
async fn check_roundtrip(realm_table: &str, expected: Format) {
    let dir = tempfile::tempdir().expect("temp dir");
    let table = realm_table.replace("{dir}", &dir.path().display().to_string());
    let cfg = config(
        dir.path(),
        &format!("ttl_secs = 1000\n[network.persistence.realms.r]\n{table}"),
    );
    let c = clock();
    let s = open(&cfg, "r", Arc::clone(&c)).await;
    let store = s.store();
    store
        .observe_connected(addr(1), Some("node-1".into()), vec!["relay".into()])
        .expect("metadata within limits");
    c.advance_ms(600_000);
    store.observe_bootstrap(addr(2));
    store.observe_gossip(&[gossip(3), gossip(5)]);
    store
        .observe_connected(addr(4), None, vec![])
        .expect("no metadata");
    let before = sorted(store.snapshot().to_vec());
    assert_eq!(before.len(), 5);
    let path = s.path().expect("enabled").to_path_buf();
    assert_eq!(path, dir.path().join("r.peers"));
    s.close().await.expect("close saves");

    let bytes = std::fs::read(&path).expect("saved file");
    assert_eq!(detect(&bytes).expect("a peer file"), expected);
    if expected == Format::Sealed {
        assert!(
            !bytes.windows(5).any(|w| w == b"node-" || w == b"relay"),
            "plaintext metadata in a sealed file"
        );
    }

    c.advance_ms(600_000); // now T0 + 1200: addr(1), seen at T0, is past the 1000 s TTL
    let s = open(&cfg, "r", Arc::clone(&c)).await;
    let report = s.load_report();
    assert_eq!(report.in_file, 5);
    assert_eq!(report.hydrate.expired, 1);
    assert_eq!(report.hydrate.loaded, 4);
    assert_eq!(report.format, Some(expected));
    let after = sorted(s.store().snapshot().to_vec());
    let expect: Vec<_> = before.into_iter().filter(|e| e.addr != addr(1)).collect();
    assert_eq!(after, expect);
    s.close().await.expect("close");
    // Nothing changed since the load: the file was not rewritten.
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
}

#[tokio::test]
async fn restart_roundtrip_json() {
    check_roundtrip("codec = \"json\"\n", Format::Json).await;
}

#[tokio::test]
async fn restart_roundtrip_msgpack() {
    check_roundtrip("codec = \"msgpack\"\n", Format::Msgpack).await;
}

#[tokio::test]
async fn restart_roundtrip_sealed_key_file() {
    let keys = tempfile::tempdir().expect("temp dir");
    let key = new_key_file(keys.path(), "realm.key");
    check_roundtrip(
        &format!("codec = \"sealed\"\nkey_file = \"{}\"\n", key.display()),
        Format::Sealed,
    )
    .await;
}

#[tokio::test]
async fn the_cap_applies_on_load_by_tier() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = clock();
    let s = open(
        &config(dir.path(), "max_entries = 10\n"),
        "r",
        Arc::clone(&c),
    )
    .await;
    // g1 b1 c1 g2 b2 c2, one second apart.
    for (i, kind) in [(1, 'g'), (2, 'b'), (3, 'c'), (4, 'g'), (5, 'b'), (6, 'c')] {
        c.advance_ms(1000);
        match kind {
            'g' => {
                s.store().observe_gossip(&[gossip(i)]);
            }
            'b' => {
                s.store().observe_bootstrap(addr(i));
            }
            _ => {
                s.store()
                    .observe_connected(addr(i), None, vec![])
                    .expect("ok");
            }
        }
    }
    s.close().await.expect("close");
    let s = open(
        &config(dir.path(), "max_entries = 3\n"),
        "r",
        Arc::clone(&c),
    )
    .await;
    assert_eq!(s.load_report().in_file, 6);
    assert_eq!(s.load_report().hydrate.capped, 3);
    let kept: Vec<_> = sorted(s.store().snapshot().to_vec())
        .into_iter()
        .map(|e| (e.addr, e.source))
        .collect();
    // Gossip goes first, then the least recent Bootstrap; Connected entries stay.
    assert_eq!(
        kept,
        [
            (addr(3), PeerSource::Connected),
            (addr(5), PeerSource::Bootstrap),
            (addr(6), PeerSource::Connected)
        ]
    );
    s.close().await.expect("close");
}

/// What opening a vector must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Loads this many entries.
    Loads(usize),
    /// Moved aside, store empty.
    Quarantined,
    /// The open fails with this class; the file is untouched.
    Fails(ErrorKind),
}

/// Opens vector `file` as realm `realm` (sealed with `key` if given, else json) and checks.
async fn check_vector(file: &str, realm: &str, key: Option<&str>, expect: Expect) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = copy_vector(file, dir.path(), &format!("{realm}.peers"));
    let original = std::fs::read(&path).expect("vector");
    let table = match key {
        Some(k) => {
            let key = copy_vector(k, dir.path(), "realm.key");
            format!("codec = \"sealed\"\nkey_file = \"{}\"\n", key.display())
        }
        None => "codec = \"json\"\n".to_owned(),
    };
    let cfg = config(
        dir.path(),
        &format!("[network.persistence.realms.{realm}]\n{table}"),
    );
    let what = format!("{file} as {realm}");
    match (PersistentStore::open(&cfg, realm, clock()).await, expect) {
        (Ok(s), Expect::Loads(n)) => {
            assert_eq!(s.load_report().in_file, n, "{what}");
            assert_eq!(s.store().len(), n, "{what}");
            assert_eq!(s.load_report().quarantined_to, None, "{what}");
            s.close().await.expect("close");
            assert_eq!(
                std::fs::read(&path).expect("file"),
                original,
                "{what}: rewritten"
            );
        }
        (Ok(s), Expect::Quarantined) => {
            let to = s.load_report().quarantined_to.clone().expect("quarantined");
            assert_eq!(
                to,
                dir.path().join(format!("{realm}.peers.corrupt-{T0}")),
                "{what}"
            );
            assert_eq!(std::fs::read(&to).expect("moved file"), original, "{what}");
            assert!(!path.exists(), "{what}: still at the path");
            assert!(s.store().is_empty(), "{what}");
            s.close().await.expect("close");
            assert!(!path.exists(), "{what}: a clean empty store wrote a file");
        }
        (Err(e), Expect::Fails(kind)) => {
            match &e {
                Error::Format { path: p, source } => {
                    assert_eq!(source.kind(), kind, "{what}: {e}");
                    assert_eq!(p, &path, "{what}");
                }
                other => panic!("{what}: expected a format error, got {other:?}"),
            }
            assert!(e.to_string().contains(&format!("{realm}.peers")), "{e}");
            assert_eq!(
                std::fs::read(&path).expect("file"),
                original,
                "{what}: changed"
            );
            let mut expected = vec![format!("{realm}.peers"), format!("{realm}.peers.lock")];
            if key.is_some() {
                expected.push("realm.key".into());
            }
            expected.sort();
            assert_eq!(listing(dir.path()), expected, "{what}");
        }
        (Ok(_), expect) => panic!("{what}: opened, expected {expect:?}"),
        (Err(e), expect) => panic!("{what}: {e}, expected {expect:?}"),
    }
}

#[tokio::test]
async fn every_vector_opens_or_fails_as_classified() {
    use ErrorKind as K;
    use Expect::*;
    let cases: &[(&str, &str, Option<&str>, Expect)] = &[
        ("json-basic.json", "example-realm", None, Loads(3)),
        ("json-empty.json", "example-realm", None, Loads(0)),
        ("msgpack-basic.kp", "example-realm", None, Loads(3)),
        ("legacy-thenodes.json", "example-realm", None, Loads(3)),
        (
            "sealed-keyfile.kp",
            "example-realm",
            Some("key-basic.key"),
            Loads(3),
        ),
        (
            "sealed-keyfile.kp",
            "example-realm",
            Some("key-other.key"),
            Fails(K::WrongKey),
        ),
        (
            "sealed-keyfile.kp",
            "example-realm",
            None,
            Fails(K::WrongKey),
        ),
        (
            "json-basic.json",
            "other-realm",
            None,
            Fails(K::RealmMismatch),
        ),
        (
            "msgpack-basic.kp",
            "other-realm",
            None,
            Fails(K::RealmMismatch),
        ),
        (
            "sealed-keyfile.kp",
            "other-realm",
            Some("key-basic.key"),
            Fails(K::RealmMismatch),
        ),
        (
            "json-basic.json",
            "example-realm",
            Some("key-basic.key"),
            Fails(K::PolicyViolation),
        ),
        (
            "msgpack-basic.kp",
            "example-realm",
            Some("key-basic.key"),
            Fails(K::PolicyViolation),
        ),
        (
            "legacy-thenodes.json",
            "example-realm",
            Some("key-basic.key"),
            Fails(K::PolicyViolation),
        ),
        (
            "not-a-peer-file.bin",
            "example-realm",
            None,
            Fails(K::NotPeerFile),
        ),
        (
            "sealed-tampered-realm.kp",
            "example-realn",
            Some("key-basic.key"),
            Quarantined,
        ),
        (
            "sealed-flipped-body.kp",
            "example-realm",
            Some("key-basic.key"),
            Quarantined,
        ),
        (
            "msgpack-bad-body-crc.kp",
            "example-realm",
            None,
            Quarantined,
        ),
        (
            "msgpack-bad-header-crc.kp",
            "example-realm",
            None,
            Quarantined,
        ),
        ("msgpack-truncated.kp", "example-realm", None, Quarantined),
        (
            "msgpack-future-version.kp",
            "example-realm",
            None,
            Quarantined,
        ),
        (
            "json-future-version.json",
            "example-realm",
            None,
            Quarantined,
        ),
    ];
    for &(file, realm, key, expect) in cases {
        check_vector(file, realm, key, expect).await;
    }
}

#[tokio::test]
async fn on_corrupt_fail_fails_and_leaves_the_file() {
    for file in ["msgpack-bad-body-crc.kp", "json-future-version.json"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = copy_vector(file, dir.path(), "r.peers");
        let original = std::fs::read(&path).expect("vector");
        let cfg = config(dir.path(), "on_corrupt = \"fail\"\n");
        let err = PersistentStore::open(&cfg, "r", clock())
            .await
            .expect_err(file);
        assert!(matches!(err, Error::Format { .. }), "{file}: {err:?}");
        assert_eq!(std::fs::read(&path).expect("file"), original, "{file}");
        assert_eq!(listing(dir.path()), ["r.peers", "r.peers.lock"], "{file}");
    }
}

#[tokio::test]
async fn a_second_quarantine_in_the_same_second_does_not_replace_the_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "");
    let mut moved = Vec::new();
    for round in 0..3u8 {
        let path = dir.path().join("r.peers");
        std::fs::write(&path, [b'{', b'x', round]).expect("corrupt json");
        let s = open(&cfg, "r", clock()).await;
        moved.push(s.load_report().quarantined_to.clone().expect("quarantined"));
        s.close().await.expect("close");
    }
    let base = format!("r.peers.corrupt-{T0}");
    assert_eq!(
        moved,
        [
            dir.path().join(&base),
            dir.path().join(format!("{base}-2")),
            dir.path().join(format!("{base}-3"))
        ]
    );
    for (round, path) in moved.iter().enumerate() {
        assert_eq!(
            std::fs::read(path).expect("kept"),
            [b'{', b'x', round as u8]
        );
    }
}

#[tokio::test]
async fn a_realm_never_loads_or_overwrites_another_realms_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        dir.path(),
        "[network.persistence.realms.a]\n[network.persistence.realms.b]\ncodec = \"msgpack\"\n",
    );
    let c = clock();
    let realms = Realms::open_all(&cfg, c.clone()).await.expect("both open");
    assert_eq!(realms.realms.keys().collect::<Vec<_>>(), ["a", "b"]);
    let a = realms.get("a").expect("a");
    a.store().observe_bootstrap(addr(1));
    a.store()
        .observe_connected(addr(2), None, vec![])
        .expect("ok");
    realms.close_all().await.expect("close");
    assert!(dir.path().join("a.peers").exists());
    assert!(
        !dir.path().join("b.peers").exists(),
        "b never changed, never written"
    );

    // Nothing from A in B.
    let realms = Realms::open_all(&cfg, c.clone()).await.expect("both open");
    assert_eq!(realms.get("a").expect("a").store().len(), 2);
    assert!(realms.get("b").expect("b").store().is_empty());
    realms.close_all().await.expect("close");

    // A's file at B's path: refused, untouched, and B's open fails (so B can't overwrite it).
    std::fs::copy(dir.path().join("a.peers"), dir.path().join("b.peers")).expect("copy");
    let original = std::fs::read(dir.path().join("b.peers")).expect("read");
    let err = PersistentStore::open(&cfg, "b", c.clone())
        .await
        .expect_err("mismatch");
    match &err {
        Error::Format { source, .. } => assert_eq!(source.kind(), ErrorKind::RealmMismatch),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.exit_code(), 5);
    assert_eq!(
        std::fs::read(dir.path().join("b.peers")).expect("read"),
        original
    );
    let err = Realms::open_all(&cfg, c.clone())
        .await
        .expect_err("b fails");
    assert!(matches!(err, Error::Format { .. }));
    // open_all released A's lock when B failed.
    drop(StoreLock::acquire(&dir.path().join("a.peers")).expect("a unlocked"));
}

#[tokio::test]
async fn a_sealed_realm_refuses_a_plaintext_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = new_key_file(dir.path(), "s.key");
    let c = clock();
    // The realm's peers, written in plaintext (e.g. before it was made sealed).
    let plain = config(dir.path(), "");
    let s = open(&plain, "s", c.clone()).await;
    s.store().observe_bootstrap(addr(1));
    s.close().await.expect("close");
    let path = dir.path().join("s.peers");
    let original = std::fs::read(&path).expect("read");
    let sealed = config(
        dir.path(),
        &format!(
            "[network.persistence.realms.s]\ncodec = \"sealed\"\nkey_file = \"{}\"\n",
            key.display()
        ),
    );
    let err = PersistentStore::open(&sealed, "s", c.clone())
        .await
        .expect_err("policy");
    match &err {
        Error::Format { source, .. } => assert_eq!(source.kind(), ErrorKind::PolicyViolation),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&path).expect("read"), original);
    // require_encryption = false is the explicit migration: loads, and saves sealed.
    let migrate = config(
        dir.path(),
        &format!(
            "[network.persistence.realms.s]\ncodec = \"sealed\"\nkey_file = \"{}\"\nrequire_encryption = false\n",
            key.display()
        ),
    );
    let s = open(&migrate, "s", c.clone()).await;
    assert_eq!(s.store().len(), 1);
    s.store().observe_bootstrap(addr(2));
    s.close().await.expect("close");
    assert_eq!(
        detect(&std::fs::read(&path).expect("read")).expect("ok"),
        Format::Sealed
    );
}

/// Writes a sealed file for realm `p` with `key`, then opens it with `table` and saves a change.
async fn resave_sealed_file_with(table: &str) -> Format {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = new_key_file(dir.path(), "p.key");
    let key_line = format!("key_file = \"{}\"\n", key.display());
    let c = clock();
    let sealed = config(
        dir.path(),
        &format!("[network.persistence.realms.p]\ncodec = \"sealed\"\n{key_line}"),
    );
    let s = open(&sealed, "p", c.clone()).await;
    s.store().observe_bootstrap(addr(1));
    s.close().await.expect("close");
    let cfg = config(
        dir.path(),
        &format!("[network.persistence.realms.p]\n{key_line}{table}"),
    );
    let s = open(&cfg, "p", c.clone()).await;
    assert_eq!(s.load_report().format, Some(Format::Sealed));
    assert_eq!(s.store().len(), 1);
    s.store().observe_bootstrap(addr(2));
    s.close().await.expect("close");
    detect(&std::fs::read(dir.path().join("p.peers")).expect("read")).expect("peer file")
}

#[tokio::test]
async fn a_plaintext_realm_that_loaded_a_sealed_file_keeps_it_sealed() {
    // The table's default codec is json, the realm's table names none: stays sealed.
    assert_eq!(resave_sealed_file_with("").await, Format::Sealed);
    // The realm's own policy says plaintext: that is the operator's explicit choice.
    assert_eq!(
        resave_sealed_file_with("codec = \"msgpack\"\n").await,
        Format::Msgpack
    );
}

#[tokio::test]
async fn persistence_off_touches_no_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sub = dir.path().join("state");
    // No [network.persistence] table: off, as in TheNodes.
    let text = format!("[node]\nstate_dir = \"{}\"\n", sub.display());
    let cfg = knownpeers::Config::from_toml_str(&text).expect("valid");
    assert_eq!(cfg.mode(), PersistenceMode::Off);
    let s = open(&cfg, "default", clock()).await;
    assert_eq!(s.path(), None);
    assert_eq!(s.mode(), PersistenceMode::Off);
    s.store().observe_bootstrap(addr(1));
    s.flush().await.expect("nothing to do");
    assert_eq!(s.last_error(), None);
    s.close().await.expect("close");
    assert!(!sub.exists());
    assert!(listing(dir.path()).is_empty());
    // Also a file already there is neither read nor changed.
    std::fs::create_dir(&sub).expect("dir");
    std::fs::write(sub.join("peers.json"), b"not even json").expect("write");
    let s = open(&cfg, "default", clock()).await;
    assert!(s.store().is_empty());
    s.close().await.expect("close");
    assert_eq!(listing(&sub), ["peers.json"]);
}

/// A read-only config (`enabled` absent or false) for files under `dir`.
fn read_only_config(dir: &std::path::Path, enabled: &str) -> knownpeers::Config {
    let text = format!(
        "[network.persistence]\n{enabled}path = \"{}/{{realm}}.peers\"\n",
        dir.display()
    );
    let cfg = knownpeers::Config::from_toml_str(&text).expect("valid");
    assert_eq!(cfg.mode(), PersistenceMode::ReadOnly);
    cfg
}

#[tokio::test]
async fn read_only_loads_the_file_and_changes_nothing_on_disk() {
    for enabled in ["", "enabled = false\n"] {
        let dir = tempfile::tempdir().expect("temp dir");
        // A missing file and directory: an empty store, and nothing is created.
        let sub = dir.path().join("state");
        let s = open(&read_only_config(&sub, enabled), "r", clock()).await;
        assert!(s.store().is_empty());
        assert_eq!(s.path(), Some(sub.join("r.peers").as_path()));
        assert!(!sub.exists());
        // Write a file read-write, then open it read-only: loaded, never written or locked.
        let c = clock();
        let rw = open(&config(dir.path(), ""), "r", Arc::clone(&c)).await;
        rw.store().observe_bootstrap(addr(1));
        rw.close().await.expect("close");
        let path = dir.path().join("r.peers");
        std::fs::remove_file(dir.path().join("r.peers.lock")).expect("remove the lock file");
        let before = std::fs::read(&path).expect("saved");
        let ro = open(&read_only_config(dir.path(), enabled), "r", Arc::clone(&c)).await;
        assert_eq!(ro.mode(), PersistenceMode::ReadOnly);
        assert_eq!(ro.load_report().hydrate.loaded, 1);
        ro.store().observe_bootstrap(addr(2));
        c.advance_ms(120_000);
        ro.flush().await.expect("a no-op");
        ro.close().await.expect("a no-op");
        drop(ro);
        assert_eq!(std::fs::read(&path).expect("still there"), before);
        assert_eq!(listing(dir.path()), ["r.peers"]);
    }
}

#[tokio::test]
async fn read_only_reports_a_corrupt_file_and_leaves_it_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = copy_vector("msgpack-bad-body-crc.kp", dir.path(), "example-realm.peers");
    let before = std::fs::read(&path).expect("copied");
    let s = open(&read_only_config(dir.path(), ""), "example-realm", clock()).await;
    assert!(s.store().is_empty());
    let report = s.load_report();
    assert_eq!(report.quarantined_to, None);
    let why = report.unreadable.as_deref().expect("reported");
    assert!(why.contains("example-realm.peers"), "{why}");
    s.close().await.expect("a no-op");
    assert_eq!(listing(dir.path()), ["example-realm.peers"]);
    assert_eq!(std::fs::read(&path).expect("untouched"), before);
    // on_corrupt = "fail" fails the open instead.
    let text = format!(
        "[network.persistence]\non_corrupt = \"fail\"\npath = \"{}/{{realm}}.peers\"\n",
        dir.path().display()
    );
    let cfg = knownpeers::Config::from_toml_str(&text).expect("valid");
    let err = PersistentStore::open(&cfg, "example-realm", clock())
        .await
        .expect_err("fail");
    assert!(
        matches!(&err, Error::Format { source, .. } if source.kind() == ErrorKind::Corrupt),
        "{err}"
    );
    assert_eq!(listing(dir.path()), ["example-realm.peers"]);
}

#[tokio::test]
async fn the_default_path_is_state_dir_peers_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("data").join("node");
    let text = format!(
        "[realm]\nname = \"Example Realm\"\nversion = \"1\"\n[node]\nstate_dir = \"{}\"\n[network.persistence]\nenabled = true\n",
        state.display()
    );
    let cfg = knownpeers::Config::from_toml_str(&text).expect("valid");
    let realms = Realms::open_all(&cfg, clock()).await.expect("open");
    let s = realms.get("example-realm").expect("the [realm] code");
    assert_eq!(s.path(), Some(state.join("peers.json").as_path()));
    s.store().observe_bootstrap(addr(1));
    realms.close_all().await.expect("close");
    assert_eq!(listing(&state), ["peers.json", "peers.json.lock"]);
}

#[tokio::test]
async fn a_second_open_of_one_store_is_locked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), "");
    let first = open(&cfg, "r", clock()).await;
    first.store().observe_bootstrap(addr(1));
    let err = PersistentStore::open(&cfg, "r", clock())
        .await
        .expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 10);
    first.close().await.expect("close");
    let again = open(&cfg, "r", clock()).await;
    assert_eq!(again.store().len(), 1);
    again.close().await.expect("close");
}

#[tokio::test]
async fn a_directory_at_the_data_path_fails_the_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("r.peers")).expect("dir");
    let err = PersistentStore::open(&config(dir.path(), ""), "r", clock())
        .await
        .expect_err("a directory");
    assert!(matches!(err, Error::IsADirectory { .. }), "{err:?}");
}

#[tokio::test]
async fn a_fifo_at_the_data_path_fails_the_open_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("r.peers");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let err = PersistentStore::open(&config(dir.path(), ""), "r", clock())
        .await
        .expect_err("not a regular file");
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert!(err.to_string().contains("r.peers"), "{err}");
}

#[tokio::test]
async fn a_missing_key_file_fails_the_open_before_reading() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        dir.path(),
        &format!(
            "[network.persistence.realms.r]\ncodec = \"sealed\"\nkey_file = \"{}\"\n",
            dir.path().join("absent.key").display()
        ),
    );
    let err = PersistentStore::open(&cfg, "r", clock())
        .await
        .expect_err("no key");
    assert!(matches!(err, Error::Key(_)), "{err:?}");
    assert!(err.to_string().contains("absent.key"), "{err}");
    assert!(
        listing(dir.path()).is_empty(),
        "nothing created: {:?}",
        listing(dir.path())
    );
}
