//! A file that holds one address twice, through `open` and `load_store`, in every codec and
//! binary frame version: corrupt (FORMAT.md), so moved aside read-write and left in place
//! read-only, with exactly the error the reader's own duplicate check gives, although a load
//! into a fresh store defers that check to the store's hydrate (one check per entry, not two).

#[path = "../codecs/tests/common/unchecked.rs"]
mod unchecked;
#[path = "common/store.rs"]
mod util;

use std::path::Path;

use knownpeers::codecs::{
    duplicate_address, read, Codec, ErrorKind, FrameVersion, JsonCodec, Key, MsgpackCodec,
    ReadPolicy, SealedCodec,
};
use knownpeers::{PeerEntry, PeerSource, PeerStore, PersistenceMode, PersistentStore};
use unchecked::Unchecked;
use util::{addr, clock, config, listing, new_key_file, store_config, T0};
fn entry(i: u32, source: PeerSource, age: u64) -> PeerEntry {
    PeerEntry {
        addr: addr(i),
        source,
        last_seen: T0 - age,
        node_id: Some(format!("node-{i}")),
        capabilities: vec!["relay".into()],
    }
}

/// Entry 4 repeats entry 1's address; entry 0 is expired (a week and a day old), and entry 6
/// repeats it: the first repeat is still entry 4.
fn with_repeats() -> Vec<PeerEntry> {
    vec![
        entry(9, PeerSource::Gossip, 8 * 86_400),
        entry(1, PeerSource::Gossip, 30),
        entry(2, PeerSource::Connected, 20),
        entry(3, PeerSource::Bootstrap, 10),
        entry(1, PeerSource::Connected, 5),
        entry(4, PeerSource::Gossip, 1),
        entry(9, PeerSource::Gossip, 2),
    ]
}

/// Entry 2 repeats only the address of entry 0, which is expired: the file is still corrupt
/// (a reader counts every entry), though the expired entry would never be stored.
fn repeating_an_expired_entry() -> Vec<PeerEntry> {
    vec![
        entry(1, PeerSource::Gossip, 8 * 86_400),
        entry(2, PeerSource::Gossip, 30),
        entry(1, PeerSource::Connected, 5),
    ]
}

/// The codecs a store writes, each with the realm table that reads it.
struct Case {
    name: &'static str,
    codec: Box<dyn Codec>,
    table: String,
    /// The realm's key, for a sealed case.
    key: Option<SealedCodec>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let key_path = new_key_file(dir, "realm.key");
    let key = knownpeers::keys::read_key_file(&key_path).expect("the key file reads");
    let key_bytes = *key.expose();
    let sealed = |v| SealedCodec::with_key(Key::from_bytes(key_bytes)).with_frame_version(v);
    let sealed_table = format!(
        "[network.persistence.realms.r]\ncodec = \"sealed\"\nkey_file = \"{}\"\n",
        key_path.display()
    );
    vec![
        Case {
            name: "json",
            codec: Box::new(JsonCodec),
            table: String::new(),
            key: None,
        },
        Case {
            name: "msgpack v2",
            codec: Box::new(MsgpackCodec),
            table: String::new(),
            key: None,
        },
        Case {
            name: "msgpack v1",
            codec: Box::new(MsgpackCodec::with_frame_version(FrameVersion::V1)),
            table: String::new(),
            key: None,
        },
        Case {
            name: "sealed v2",
            codec: Box::new(sealed(FrameVersion::V2)),
            table: sealed_table.clone(),
            key: Some(sealed(FrameVersion::V2)),
        },
        Case {
            name: "sealed v1",
            codec: Box::new(sealed(FrameVersion::V1)),
            table: sealed_table,
            key: Some(sealed(FrameVersion::V1)),
        },
    ]
}

/// What the reader's own duplicate check says of `bytes`, as the runtime reports it.
fn reader_error(bytes: &[u8], path: &Path, sealed: Option<&SealedCodec>) -> String {
    let policy = match sealed {
        Some(s) => ReadPolicy::sealed(Some("r"), s, false),
        None => ReadPolicy::plaintext(Some("r")),
    };
    let err = read(bytes, &policy).expect_err("the reader refuses a repeated address");
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    format!("{}: {err}", path.display())
}

#[tokio::test]
async fn a_repeated_address_is_quarantined_read_write_and_left_read_only() {
    for (entries, first) in [(with_repeats(), 4), (repeating_an_expired_entry(), 2)] {
        let dir = tempfile::tempdir().expect("temp dir");
        for case in cases(dir.path()) {
            let what = format!("{}, first repeat {first}", case.name);
            let path = dir.path().join("r.peers");
            let bytes = case
                .codec
                .encode("r", T0, &Unchecked(entries.clone()))
                .expect("encodes");
            std::fs::write(&path, &bytes).expect("write");
            let want = reader_error(&bytes, &path, case.key.as_ref());
            assert_eq!(
                want,
                format!("{}: {}", path.display(), duplicate_address(first)),
                "{what}"
            );

            // Read-only: reported, left in place, the store empty and untouched.
            let ro_text = format!(
                "[network.persistence]\npath = \"{}/{{realm}}.peers\"\n{}",
                dir.path().display(),
                case.table
            );
            let ro_cfg = knownpeers::Config::from_toml_str(&ro_text).expect("valid");
            assert_eq!(ro_cfg.mode(), PersistenceMode::ReadOnly);
            let ro = PersistentStore::open(&ro_cfg, "r", clock())
                .await
                .unwrap_or_else(|e| panic!("{what}: read-only open: {e}"));
            let report = ro.load_report().clone();
            assert_eq!(report.unreadable.as_deref(), Some(want.as_str()), "{what}");
            assert_eq!(report.quarantined_to, None, "{what}");
            assert_eq!(report.format, None, "{what}");
            assert_eq!(report.hydrate.loaded, 0, "{what}");
            assert!(ro.store().is_empty(), "{what}");
            assert_eq!(ro.store().generation(), 0, "{what}: the store changed");
            ro.close().await.expect("a no-op");
            assert_eq!(std::fs::read(&path).expect("in place"), bytes, "{what}");

            // Read-write: moved aside with the same error, the store empty.
            let rw = PersistentStore::open(&config(dir.path(), &case.table), "r", clock())
                .await
                .unwrap_or_else(|e| panic!("{what}: open: {e}"));
            let report = rw.load_report().clone();
            assert_eq!(report.unreadable.as_deref(), Some(want.as_str()), "{what}");
            let to = report.quarantined_to.clone().expect("quarantined");
            assert_eq!(
                to,
                dir.path().join(format!("r.peers.corrupt-{T0}")),
                "{what}"
            );
            assert_eq!(std::fs::read(&to).expect("moved"), bytes, "{what}");
            assert!(!path.exists(), "{what}: still at the path");
            assert!(rw.store().is_empty(), "{what}");
            assert_eq!(rw.store().generation(), 0, "{what}: the store changed");
            // The store is still pristine: a later observation works as in any new store.
            rw.store().observe_bootstrap(addr(7));
            assert_eq!(rw.store().len(), 1, "{what}");
            rw.close().await.expect("close");
            std::fs::remove_file(&to).expect("clean up");
            std::fs::remove_file(&path).expect("clean up the save");
        }
        let mut left = listing(dir.path());
        left.retain(|n| n != "realm.key" && n != "r.peers.lock");
        assert!(left.is_empty(), "{left:?}");
    }
}

/// The same file without the repeat loads in full through the deferred check.
#[tokio::test]
async fn a_file_without_repeats_loads_through_the_deferred_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut entries = with_repeats();
    entries.remove(6);
    entries.remove(4);
    for case in cases(dir.path()) {
        let path = dir.path().join("r.peers");
        let bytes = case.codec.encode("r", T0, &entries).expect("encodes");
        std::fs::write(&path, &bytes).expect("write");
        let s = PersistentStore::open(&config(dir.path(), &case.table), "r", clock())
            .await
            .unwrap_or_else(|e| panic!("{}: open: {e}", case.name));
        let report = s.load_report();
        assert_eq!(report.unreadable, None, "{}", case.name);
        assert_eq!(
            (report.in_file, report.hydrate.loaded),
            (5, 4),
            "{}",
            case.name
        );
        assert_eq!(report.hydrate.expired, 1, "{}", case.name);
        s.close().await.expect("close");
    }
}

/// `load_store` into a store that already holds entries keeps the reader's check (a merge
/// would hide the repeat): the file is quarantined and the store keeps exactly what it held.
/// Into a pristine plain store, the deferred check refuses it the same way.
#[tokio::test]
async fn load_store_refuses_a_repeat_into_a_used_or_a_fresh_store() {
    for used in [true, false] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.peers");
        let bytes = MsgpackCodec
            .encode("r", T0, &Unchecked(with_repeats()))
            .expect("encodes");
        std::fs::write(&path, &bytes).expect("write");
        let want = reader_error(&bytes, &path, None);
        let store = PeerStore::new(store_config(64, 604_800), clock());
        if used {
            store.observe_bootstrap(addr(1));
            store.observe_bootstrap(addr(50));
        }
        let before = (store.len(), store.generation(), store.live_addrs());
        let report = knownpeers::load_store(&config(dir.path(), ""), "r", &store)
            .await
            .expect("a corrupt file is quarantined, not an error");
        assert_eq!(
            report.unreadable.as_deref(),
            Some(want.as_str()),
            "used {used}"
        );
        assert!(report.quarantined_to.is_some(), "used {used}");
        assert_eq!(
            (store.len(), store.generation(), store.live_addrs()),
            before,
            "used {used}: the store changed"
        );
    }
}
