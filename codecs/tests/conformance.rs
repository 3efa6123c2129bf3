//! Our writers against the independent implementation's vectors, byte for byte where the
//! format is deterministic (JSON, msgpack), and our sealed output read back through the
//! FORMAT.md layout by hand.

mod common;

use common::{basic_entries, vector, SAVED_AT};
use knownpeers_codecs::{
    inspect, Codec, Format, Header, JsonCodec, KdfInfo, Key, MsgpackCodec, SealedCodec,
};

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
    let ours = MsgpackCodec
        .encode("example-realm", SAVED_AT, &basic_entries())
        .expect("encode");
    assert_eq!(ours, vector("msgpack-basic.kp"));
}

#[test]
fn sealed_encode_has_the_vector_layout() {
    // The key file vector's key: 00 01 02 .. 1f.
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let ours = SealedCodec::with_key(Key::from_bytes(key))
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
        assert_eq!(
            header,
            Header {
                format,
                version: if legacy { 0 } else { 1 },
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
