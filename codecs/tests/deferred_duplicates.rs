//! `ReadPolicy::defer_duplicate_check` on every reader path (JSON, legacy, msgpack and sealed in
//! binary frame versions 1 and 2, borrowed and owned reads): with the check, a repeated address
//! is corrupt with `duplicate_address` of the first repeat; deferred, the same file reads, the
//! repeat included, and every other check still applies.

mod common;

use common::unchecked::Unchecked;
use knownpeers_codecs::{
    duplicate_address, read, read_owned, Codec, ErrorKind, FrameVersion, JsonCodec, Key,
    MsgpackCodec, PeerEntry, PeerSource, ReadPolicy, SealedCodec,
};

const REALM: &str = "r";
fn entries() -> Vec<PeerEntry> {
    let e = |port: u16, last_seen| PeerEntry {
        addr: ([192, 0, 2, 1], port).into(),
        source: PeerSource::Gossip,
        last_seen,
        node_id: None,
        capabilities: vec![],
    };
    // Entry 3 repeats entry 1, entry 4 repeats entry 0.
    vec![e(1, 10), e(2, 20), e(3, 30), e(2, 40), e(1, 50)]
}

fn sealed(version: FrameVersion) -> SealedCodec {
    SealedCodec::with_key(Key::from_bytes([7; 32])).with_frame_version(version)
}

fn check(what: &str, bytes: &[u8], policy: ReadPolicy<'_>, want: &[PeerEntry]) {
    let expected = duplicate_address(3);
    assert_eq!(expected.kind(), ErrorKind::Corrupt);
    for owned in [false, true] {
        let got = if owned {
            read_owned(bytes.to_vec(), &policy)
        } else {
            read(bytes, &policy)
        };
        let err = got.expect_err("a repeated address is corrupt");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}");
        assert_eq!(err.to_string(), expected.to_string(), "{what}");
        let deferred = policy.defer_duplicate_check();
        assert!(!deferred.check_duplicates);
        let got = if owned {
            read_owned(bytes.to_vec(), &deferred)
        } else {
            read(bytes, &deferred)
        };
        let file = got.unwrap_or_else(|e| panic!("{what}: deferred: {e}")).file;
        assert_eq!(file.entries, want, "{what}");
        // Another realm is still refused (a legacy file names none).
        if what != "legacy" {
            let other = ReadPolicy {
                realm: Some("other"),
                ..deferred
            };
            let err = read(bytes, &other).expect_err("another realm");
            assert_eq!(err.kind(), ErrorKind::RealmMismatch, "{what}");
        }
    }
}

#[test]
fn every_reader_path_defers_the_duplicate_check_when_asked() {
    let entries = entries();
    let plain = ReadPolicy::plaintext(Some(REALM));
    assert!(plain.check_duplicates);
    let json = JsonCodec
        .encode(REALM, 1, &Unchecked(entries.clone()))
        .expect("encodes");
    check("json", &json, plain, &entries);
    for version in [FrameVersion::V1, FrameVersion::V2] {
        let bytes = MsgpackCodec::with_frame_version(version)
            .encode(REALM, 1, &Unchecked(entries.clone()))
            .expect("encodes");
        check(&format!("msgpack {version}"), &bytes, plain, &entries);
        let codec = sealed(version);
        let bytes = codec
            .encode(REALM, 1, &Unchecked(entries.clone()))
            .expect("encodes");
        let policy = ReadPolicy::sealed(Some(REALM), &codec, true);
        assert!(policy.check_duplicates);
        check(&format!("sealed {version}"), &bytes, policy, &entries);
    }
    // A legacy TheNodes file (its records newest first, as TheNodes wrote them).
    let legacy: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                r#"{{"addr":"{}","source":"Gossip","failures":0,"last_success_epoch":{}}}"#,
                e.addr, e.last_seen
            )
        })
        .collect();
    let legacy = format!("[{}]", legacy.join(","));
    check("legacy", legacy.as_bytes(), plain, &entries);
}
