//! Property tests: any valid entry set survives every codec and both binary frame versions
//! unchanged (and versions 1 and 2 decode to equal entry lists), any truncation or bit flip of
//! a small version-2 file is an error, and no input at all makes the reader panic.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use knownpeers_codecs::{
    inspect, read, read_owned, Codec, FrameVersion, JsonCodec, Key, MsgpackCodec, PeerEntry,
    PeerSource, ReadPolicy, SealedCodec,
};
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))),
        // Flow info is not stored (FORMAT.md stores the printed form); the scope id is.
        (
            any::<[u16; 8]>(),
            any::<u16>(),
            prop_oneof![Just(0u32), any::<u32>()]
        )
            .prop_map(|(ip, port, scope)| {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, scope))
            }),
        // IPv4-mapped IPv6 prints in dotted form and must still read back as IPv6.
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(
            IpAddr::V6(Ipv4Addr::from(ip).to_ipv6_mapped()),
            port
        )),
    ]
}

/// Any string of at most `max` bytes (control characters, quotes and non-ASCII included).
fn text(max: usize) -> impl Strategy<Value = String> {
    any::<String>().prop_map(move |s| {
        let mut s = s;
        while s.len() > max {
            s.pop();
        }
        s
    })
}

fn source() -> impl Strategy<Value = PeerSource> {
    prop_oneof![
        Just(PeerSource::Gossip),
        Just(PeerSource::Bootstrap),
        Just(PeerSource::Connected)
    ]
}

type Rest = (PeerSource, u64, Option<String>, Vec<String>);

fn rest() -> impl Strategy<Value = Rest> {
    (
        source(),
        any::<u64>(),
        proptest::option::of(text(255)),
        proptest::collection::vec(text(64), 0..=4),
    )
}

fn entries() -> impl Strategy<Value = Vec<PeerEntry>> {
    // A map keyed by address: unique addresses, as a file requires.
    proptest::collection::hash_map(addr(), rest(), 0..24).prop_map(|m: HashMap<_, Rest>| {
        m.into_iter()
            .map(
                |(addr, (source, last_seen, node_id, capabilities))| PeerEntry {
                    addr,
                    source,
                    last_seen,
                    node_id,
                    capabilities,
                },
            )
            .collect()
    })
}

fn realm() -> impl Strategy<Value = String> {
    text(255).prop_filter("a realm is 1 to 255 bytes", |r| !r.is_empty())
}

fn roundtrip(codec: &dyn Codec, realm: &str, saved_at: u64, entries: &Vec<PeerEntry>) {
    let bytes = codec.encode(realm, saved_at, entries).expect("encode");
    let file = codec.decode(&bytes, Some(realm)).expect("decode");
    assert_eq!(&file.entries, entries);
    assert_eq!(file.realm, realm);
    assert_eq!(file.saved_at, saved_at);
    let header = inspect(&bytes).expect("inspect");
    assert_eq!(header.entry_count, entries.len() as u64);
    assert_eq!(header.realm.as_deref(), Some(realm));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn json_roundtrips(realm in realm(), saved_at in any::<u64>(), entries in entries()) {
        roundtrip(&JsonCodec, &realm, saved_at, &entries);
    }

    #[test]
    fn msgpack_roundtrips(realm in realm(), saved_at in any::<u64>(), entries in entries()) {
        for version in [FrameVersion::V1, FrameVersion::V2] {
            roundtrip(&MsgpackCodec::with_frame_version(version), &realm, saved_at, &entries);
        }
    }

    #[test]
    fn sealed_roundtrips(
        realm in realm(),
        saved_at in any::<u64>(),
        entries in entries(),
        key in any::<[u8; 32]>(),
    ) {
        for version in [FrameVersion::V1, FrameVersion::V2] {
            let codec = SealedCodec::with_key(Key::from_bytes(key)).with_frame_version(version);
            roundtrip(&codec, &realm, saved_at, &entries);
            let bytes = codec.encode(&realm, saved_at, &entries).expect("encode");
            let policy = ReadPolicy::sealed(Some(&realm), &codec, true);
            prop_assert_eq!(&read(&bytes, &policy).expect("read").file.entries, &entries);
            let owned = read_owned(bytes, &policy).expect("read_owned").file.entries;
            prop_assert_eq!(&owned, &entries);
        }
    }

    /// The same entries written as version 1 and version 2 (msgpack and sealed) decode to equal
    /// entry lists, and the version-2 file is never the larger.
    #[test]
    fn versions_1_and_2_decode_to_equal_entries(entries in entries(), key in any::<[u8; 32]>()) {
        let plain = ReadPolicy::plaintext(Some("r"));
        let decode = |codec: &dyn Codec, policy: &ReadPolicy<'_>| {
            let bytes = codec.encode("r", 1, &entries).expect("encode");
            let header = inspect(&bytes).expect("inspect");
            (read(&bytes, policy).expect("read").file.entries, header.version, bytes.len())
        };
        let (v1, n1, len1) = decode(&MsgpackCodec::with_frame_version(FrameVersion::V1), &plain);
        let (v2, n2, len2) = decode(&MsgpackCodec, &plain);
        prop_assert_eq!((n1, n2), (1, 2));
        prop_assert!(len2 <= len1);
        prop_assert_eq!(&v1, &v2);
        let s1 = SealedCodec::with_key(Key::from_bytes(key)).with_frame_version(FrameVersion::V1);
        let s2 = SealedCodec::with_key(Key::from_bytes(key));
        let (sv1, _, _) = decode(&s1, &ReadPolicy::sealed(Some("r"), &s1, true));
        let (sv2, _, _) = decode(&s2, &ReadPolicy::sealed(Some("r"), &s2, true));
        prop_assert_eq!(&sv1, &v1);
        prop_assert_eq!(&sv2, &v1);
    }

    /// Any truncation and any single-bit flip of a small version-2 file, msgpack or sealed, is
    /// an error on both read paths (never a panic, never another entry list).
    #[test]
    fn damaged_small_v2_files_are_errors(
        entries in entries(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let sealed = SealedCodec::with_key(Key::from_bytes([3; 32]));
        let files = [
            (MsgpackCodec.encode("r", 1, &entries).expect("encode"), ReadPolicy::plaintext(Some("r"))),
            (sealed.encode("r", 1, &entries).expect("encode"), ReadPolicy::sealed(Some("r"), &sealed, true)),
        ];
        for (file, policy) in &files {
            let len = cut.index(file.len());
            prop_assert!(read(&file[..len], policy).is_err());
            prop_assert!(read_owned(file[..len].to_vec(), policy).is_err());
            let mut damaged = file.clone();
            damaged[flip.index(file.len())] ^= 1 << bit;
            prop_assert!(read(&damaged, policy).is_err());
            prop_assert!(read_owned(damaged, policy).is_err());
        }
    }

    /// Arbitrary bytes, and arbitrary bytes behind each format's opening, never panic.
    #[test]
    fn arbitrary_input_never_panics(
        prefix in prop_oneof![
            Just(Vec::new()),
            Just(b"{".to_vec()),
            Just(b"[".to_vec()),
            Just(b"\x89KNP\r\n\x1a\n\x01\x00\x01\x00".to_vec()),
            Just(b"\x89KNP\r\n\x1a\n\x01\x00\x02\x00".to_vec()),
            Just(b"\x89KNP\r\n\x1a\n\x02\x00\x01\x00".to_vec()),
            Just(b"\x89KNP\r\n\x1a\n\x02\x00\x02\x00".to_vec()),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = prefix;
        bytes.extend_from_slice(&tail);
        let key = SealedCodec::with_key(Key::from_bytes([1; 32]));
        let _ = read(&bytes, &ReadPolicy::sealed(Some("r"), &key, false));
        let _ = read_owned(bytes.clone(), &ReadPolicy::sealed(Some("r"), &key, false));
        let _ = read(&bytes, &ReadPolicy::plaintext(None));
        let _ = inspect(&bytes);
    }

    /// Arbitrary bytes as a version-2 body behind a valid frame (CRCs right) never panic and,
    /// when they fail, fail as corrupt or over a limit.
    #[test]
    fn arbitrary_compact_bodies_never_panic(
        count in 0u32..8,
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let file = common::msgpack_frame_v(2, "r", count, &body);
        if let Err(e) = read(&file, &ReadPolicy::plaintext(Some("r"))) {
            prop_assert!(matches!(
                e.kind(),
                knownpeers_codecs::ErrorKind::Corrupt | knownpeers_codecs::ErrorKind::LimitExceeded
            ));
        }
    }

    /// Random byte edits of a valid JSON file never panic (JSON has no checksum, so an edit
    /// may read as another valid file).
    #[test]
    fn edited_json_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = JsonCodec.encode("r", 1, &common::basic_entries()).expect("encode");
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = read(&bytes, &ReadPolicy::plaintext(Some("r")));
        let _ = inspect(&bytes);
    }
}
