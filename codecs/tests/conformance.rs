//! Our writers against the independent implementation's vectors, byte for byte where the
//! format is deterministic (JSON, msgpack), and our sealed output read back through the
//! FORMAT.md layout by hand.

mod common;

use common::{basic_entries, entry, vector, SAVED_AT};
use knownpeers_codecs::{
    inspect, Codec, Format, FrameVersion, Header, JsonCodec, KdfInfo, Key, MsgpackCodec, PeerEntry,
    PeerSource, SealedCodec,
};

const V1: MsgpackCodec = MsgpackCodec::with_frame_version(FrameVersion::V1);

#[test]
fn json_encode_matches_the_vector_byte_for_byte() {
    let ours = JsonCodec
        .encode("example-realm", SAVED_AT, &basic_entries())
        .expect("encode");
    assert_eq!(
        String::from_utf8(ours).expect("utf-8"),
        String::from_utf8(vector("json-basic.json")).expect("utf-8")
    );
}

#[test]
fn msgpack_encode_matches_the_vector_byte_for_byte() {
    let ours = V1
        .encode("example-realm", SAVED_AT, &basic_entries())
        .expect("encode");
    assert_eq!(ours, vector("msgpack-basic.kp"));
}

#[test]
fn msgpack_v2_encode_matches_the_vectors_byte_for_byte() {
    let ours = MsgpackCodec
        .encode("example-realm", SAVED_AT, &basic_entries())
        .expect("encode");
    assert_eq!(ours, vector("v2-msgpack-basic.kp"));
    let empty = MsgpackCodec
        .encode("example-realm", SAVED_AT, &Vec::new())
        .expect("encode");
    assert_eq!(empty, vector("v2-msgpack-empty.kp"));
}

/// The key file vector's key: 00 01 02 .. 1f.
fn vector_key() -> Key {
    Key::from_bytes(std::array::from_fn(|i| i as u8))
}

#[test]
fn sealed_v2_encode_has_the_vector_layout() {
    let ours = SealedCodec::with_key(vector_key())
        .encode("example-realm", SAVED_AT, &basic_entries())
        .expect("encode");
    let theirs = vector("v2-sealed-keyfile.kp");
    assert_eq!(ours.len(), theirs.len());
    let nonce_at = common::sealed_block(13) + 29;
    assert_eq!(ours[..nonce_at], theirs[..nonce_at]);
    let h = 25 + 13 + 85 + 12;
    assert_eq!(ours[h - 12..h - 4], theirs[h - 12..h - 4]);
}

#[test]
fn sealed_encode_has_the_vector_layout() {
    let ours = SealedCodec::with_key(vector_key())
        .with_frame_version(FrameVersion::V1)
        .encode("example-realm", SAVED_AT, &basic_entries())
        .expect("encode");
    let theirs = vector("sealed-keyfile.kp");
    assert_eq!(ours.len(), theirs.len());
    // Everything before the nonce is deterministic: magic .. kdf_salt.
    let nonce_at = common::sealed_block(13) + 29;
    assert_eq!(ours[..nonce_at], theirs[..nonce_at]);
    // body_len is equal too (same plaintext length).
    let h = 25 + 13 + 85 + 12;
    assert_eq!(ours[h - 12..h - 4], theirs[h - 12..h - 4]);
}

#[test]
fn inspect_reads_each_vector_header_without_a_key() {
    let check = |file: &str, format: Format, entry_count: u64, kdf: Option<KdfInfo>| {
        let bytes = vector(file);
        let header = inspect(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let legacy = format == Format::Legacy;
        let version = match () {
            _ if legacy => 0,
            _ if file.starts_with("v2-") => 2,
            _ => 1,
        };
        assert_eq!(
            header,
            Header {
                format,
                version,
                realm: (!legacy).then(|| "example-realm".to_string()),
                saved_at: (!legacy).then_some(SAVED_AT),
                entry_count,
                file_len: bytes.len() as u64,
                kdf,
            },
            "{file}"
        );
    };
    let params = |m_cost_kib| knownpeers_codecs::KdfParams {
        m_cost_kib,
        t_cost: 1,
        p_cost: 1,
    };
    check("json-basic.json", Format::Json, 3, None);
    check("json-empty.json", Format::Json, 0, None);
    check("msgpack-basic.kp", Format::Msgpack, 3, None);
    check("legacy-thenodes.json", Format::Legacy, 3, None);
    check(
        "sealed-keyfile.kp",
        Format::Sealed,
        3,
        Some(KdfInfo::KeyFile),
    );
    check(
        "sealed-passphrase.kp",
        Format::Sealed,
        3,
        Some(KdfInfo::Argon2id(params(1024))),
    );
    // inspect shows a KDF bomb's parameters; it never runs the KDF.
    check(
        "sealed-kdf-bomb.kp",
        Format::Sealed,
        3,
        Some(KdfInfo::Argon2id(params(4 << 20))), // 4 GiB
    );
}

#[test]
fn inspect_refuses_what_it_can_check_without_a_key() {
    use knownpeers_codecs::ErrorKind::*;
    let check = |file: &str, kind| {
        let err = inspect(&vector(file)).expect_err(file);
        assert_eq!(err.kind(), kind, "{file}: {err}");
    };
    check("msgpack-bad-header-crc.kp", Corrupt);
    check("msgpack-truncated.kp", Corrupt);
    check("msgpack-future-version.kp", Unsupported);
    check("json-future-version.json", Unsupported);
    check("not-a-peer-file.bin", NotPeerFile);
}

/// The body bytes of a version-1 msgpack file of `entries` (realm "r").
fn body_of(entries: &[PeerEntry]) -> Vec<u8> {
    let file = V1.encode("r", SAVED_AT, &entries.to_vec()).expect("encode");
    let h = 25 + 1 + 12;
    file[h..file.len() - 4].to_vec()
}

/// Our body writer picks MessagePack's shortest form at every boundary of every form it uses,
/// as Python msgpack (the vectors' writer) does. The expected bytes are written out from the
/// MessagePack spec, not produced by a library.
#[test]
fn msgpack_body_uses_the_shortest_form_at_every_boundary() {
    // (what the entry holds, the encoded value that must follow its key)
    let check = |entry: PeerEntry, key: &str, want: &[u8]| {
        let body = body_of(&[entry]);
        let mut key_bytes = vec![0xa0 | key.len() as u8];
        key_bytes.extend_from_slice(key.as_bytes());
        let at = body
            .windows(key_bytes.len())
            .position(|w| w == key_bytes)
            .unwrap_or_else(|| panic!("no {key} in {body:02x?}"))
            + key_bytes.len();
        assert_eq!(&body[at..at + want.len()], want, "{key}: {body:02x?}");
    };
    let base = || entry("192.0.2.1:1", PeerSource::Gossip, 0);
    let seen = |last_seen| PeerEntry {
        last_seen,
        ..base()
    };
    check(seen(0), "last_seen", &[0x00]);
    check(seen(127), "last_seen", &[0x7f]);
    check(seen(128), "last_seen", &[0xcc, 0x80]);
    check(seen(255), "last_seen", &[0xcc, 0xff]);
    check(seen(256), "last_seen", &[0xcd, 0x01, 0x00]);
    check(seen(65_535), "last_seen", &[0xcd, 0xff, 0xff]);
    check(seen(65_536), "last_seen", &[0xce, 0, 1, 0, 0]);
    check(
        seen(u64::from(u32::MAX)),
        "last_seen",
        &[0xce, 0xff, 0xff, 0xff, 0xff],
    );
    check(seen(1 << 32), "last_seen", &[0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
    check(
        seen(u64::MAX),
        "last_seen",
        &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    let id = |n: usize| PeerEntry {
        node_id: Some("i".repeat(n)),
        ..base()
    };
    check(id(0), "node_id", &[0xa0]);
    check(id(31), "node_id", &[0xbf, b'i']);
    check(id(32), "node_id", &[0xd9, 32, b'i']);
    check(id(255), "node_id", &[0xd9, 255, b'i']);
    let caps = |n: usize| PeerEntry {
        capabilities: (0..n).map(|i| format!("c{i}")).collect(),
        ..base()
    };
    check(caps(1), "capabilities", &[0x91, 0xa2, b'c', b'0']);
    check(caps(15), "capabilities", &[0x9f, 0xa2]);
    check(caps(16), "capabilities", &[0xdc, 0, 16, 0xa2]);
    check(caps(32), "capabilities", &[0xdc, 0, 32, 0xa2]);
    let long_cap = PeerEntry {
        capabilities: vec!["c".repeat(64)],
        ..base()
    };
    check(long_cap, "capabilities", &[0x91, 0xd9, 64, b'c']);
    // A map holds 3 to 5 fields: always a fixmap, right after the array header.
    assert_eq!(body_of(&[base()])[..2], [0x91, 0x83]);
    let full = PeerEntry {
        node_id: Some("n".into()),
        ..caps(1)
    };
    assert_eq!(body_of(&[full])[..2], [0x91, 0x85]);
    // The entry array: fixarray up to 15, array16 up to 65,535, then array32.
    let many = |n: u32| -> Vec<PeerEntry> {
        (0..n)
            .map(|i| PeerEntry {
                addr: std::net::SocketAddr::from((
                    [10, 0, (i >> 8) as u8, i as u8],
                    (i >> 16) as u16 + 1,
                )),
                ..base()
            })
            .collect()
    };
    assert_eq!(body_of(&[])[..], [0x90]);
    assert_eq!(body_of(&many(15))[..2], [0x9f, 0x83]);
    assert_eq!(body_of(&many(16))[..4], [0xdc, 0, 16, 0x83]);
    assert_eq!(body_of(&many(65_535))[..4], [0xdc, 0xff, 0xff, 0x83]);
    assert_eq!(body_of(&many(65_536))[..6], [0xdd, 0, 1, 0, 0, 0x83]);
}

/// The body bytes of a version-2 msgpack file of `entries` (realm "r").
fn compact_body_of(entries: &[PeerEntry]) -> Vec<u8> {
    let file = MsgpackCodec
        .encode("r", SAVED_AT, &entries.to_vec())
        .expect("encode");
    let h = 25 + 1 + 12;
    file[h..file.len() - 4].to_vec()
}

/// The version-2 body's entry arrays, value by value in the shortest form, written out from
/// FORMAT.md's table and the MessagePack spec.
#[test]
fn compact_body_is_positional_and_shortest() {
    let one = |e: PeerEntry| compact_body_of(&[e])[1..].to_vec();
    let v4 = entry("192.0.2.1:7447", PeerSource::Bootstrap, 5);
    assert_eq!(
        one(v4),
        [0x95, 0xc4, 6, 192, 0, 2, 1, 0x1d, 0x17, 0x00, 0x05, 0xc0, 0x90]
    );
    let v6 = PeerEntry {
        node_id: Some("n".into()),
        capabilities: vec!["relay".into()],
        ..entry("[2001:db8::1]:9000", PeerSource::Connected, 128)
    };
    let mut want = vec![0x95, 0xc4, 18, 0x20, 0x01, 0x0d, 0xb8];
    want.extend_from_slice(&[0; 11]);
    want.extend_from_slice(&[1, 0x23, 0x28, 0x02, 0xcc, 0x80, 0xa1, b'n', 0x91, 0xa5]);
    want.extend_from_slice(b"relay");
    assert_eq!(one(v6), want);
    // A scope id makes the address 22 bytes; IPv4-mapped IPv6 stays IPv6.
    let scoped = entry("[fe80::1%3]:1", PeerSource::Gossip, 0);
    let body = one(scoped);
    assert_eq!(body[..3], [0x95, 0xc4, 22]);
    assert_eq!(body[3 + 18..3 + 22], [0, 0, 0, 3]);
    assert_eq!(body[25], 0x01);
    let mapped = entry("[::ffff:192.0.2.1]:1", PeerSource::Gossip, 0);
    assert_eq!(one(mapped)[..3], [0x95, 0xc4, 18]);
    // last_seen at the integer boundaries, as in version 1.
    let at = |last_seen: u64| {
        let body = one(PeerEntry {
            last_seen,
            ..entry("192.0.2.1:1", PeerSource::Gossip, 0)
        });
        body[10..body.len() - 2].to_vec()
    };
    assert_eq!(at(127), [0x7f]);
    assert_eq!(at(255), [0xcc, 0xff]);
    assert_eq!(at(65_536), [0xce, 0, 1, 0, 0]);
    assert_eq!(at(1 << 32), [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(compact_body_of(&[]), [0x90]);
}
