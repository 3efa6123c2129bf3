//! Exhaustive damage: every truncation and every single-bit flip of a small msgpack file and a
//! small sealed file, of both binary frame versions, is an error (never a panic, never a silently different entry list). The
//! sealed file uses a key-file key, so ~3000 decodes stay fast. The same damage to a body
//! behind valid checksums reaches the body parser itself: never a panic, never peer data in
//! the error. A file a lying writer filled with a repeated address is corrupt in every
//! plaintext codec, with the later entry named.

mod common;

use common::unchecked::Unchecked;
use common::{basic_entries, SAVED_AT};
use knownpeers_codecs::{
    read, read_owned, Codec, ErrorKind, FrameVersion, JsonCodec, Key, MsgpackCodec, ReadPolicy,
    SealedCodec,
};

const REALM: &str = "r1";

/// Every truncation and every bit flip of `file` fails to read under `policy`, through the
/// borrowed and the owned read path alike (with the same error class); returns the classes of
/// the failures, for the assertions below.
fn damage_everywhere(file: &[u8], policy: &ReadPolicy<'_>) -> Vec<ErrorKind> {
    let read = |bytes: &[u8], policy: &ReadPolicy<'_>| {
        let borrowed = read(bytes, policy);
        let owned = read_owned(bytes.to_vec(), policy);
        assert_eq!(
            borrowed.as_ref().map_err(|e| e.kind()).err(),
            owned.as_ref().map_err(|e| e.kind()).err(),
            "read and read_owned agree"
        );
        borrowed
    };
    // The intact file reads; that is what makes the failures below meaningful.
    assert_eq!(
        read(file, policy).expect("intact").file.entries,
        basic_entries()
    );
    let mut kinds = Vec::new();
    for len in 0..file.len() {
        match read(&file[..len], policy) {
            Ok(d) => panic!(
                "truncation to {len} bytes read {} entries",
                d.file.entries.len()
            ),
            Err(e) => kinds.push(e.kind()),
        }
    }
    for byte in 0..file.len() {
        for bit in 0..8 {
            let mut damaged = file.to_vec();
            damaged[byte] ^= 1 << bit;
            match read(&damaged, policy) {
                Ok(d) => panic!(
                    "flipping bit {bit} of byte {byte} read {} entries",
                    d.file.entries.len()
                ),
                Err(e) => kinds.push(e.kind()),
            }
        }
    }
    kinds
}

#[test]
fn every_truncation_and_bit_flip_of_a_msgpack_file_fails() {
    for version in [FrameVersion::V1, FrameVersion::V2] {
        let file = MsgpackCodec::with_frame_version(version)
            .encode(REALM, SAVED_AT, &basic_entries())
            .expect("encode");
        let kinds = damage_everywhere(&file, &ReadPolicy::plaintext(Some(REALM)));
        assert_eq!(kinds.len(), file.len() * 9);
        // Past the first 12 bytes (magic, version, codec, flags), damage is corruption.
        assert!(kinds.iter().filter(|k| **k == ErrorKind::Corrupt).count() > file.len() * 8);
    }
}

#[test]
fn every_truncation_and_bit_flip_of_a_sealed_file_fails() {
    for version in [FrameVersion::V1, FrameVersion::V2] {
        let codec = SealedCodec::with_key(Key::from_bytes([0x5a; 32])).with_frame_version(version);
        let file = codec
            .encode(REALM, SAVED_AT, &basic_entries())
            .expect("encode");
        let policy = ReadPolicy::sealed(Some(REALM), &codec, true);
        let kinds = damage_everywhere(&file, &policy);
        assert_eq!(kinds.len(), file.len() * 9);
        // The header CRC covers the key check, so no flip reads as a wrong key.
        assert!(!kinds.contains(&ErrorKind::WrongKey));
    }
}

#[test]
fn a_damaged_passphrase_header_never_costs_an_argon2_run() {
    // Every flip in the header (the vector's: m=1024 KiB, t=1, p=1) fails at step 1 or 2,
    // before any key work, so Argon2 never runs.
    let file = common::vector("sealed-passphrase.kp");
    let codec = SealedCodec::reader_with_passphrase("correct horse battery staple".into());
    let policy = ReadPolicy::sealed(Some("example-realm"), &codec, true);
    let h = 25 + 13 + 85 + 12;
    for byte in 0..h {
        for bit in 0..8 {
            let mut damaged = file.clone();
            damaged[byte] ^= 1 << bit;
            assert!(read(&damaged, &policy).is_err(), "byte {byte} bit {bit}");
        }
    }
    assert_eq!(codec.kdf_runs(), 0);
}

/// One value holding a value of every MessagePack family a reader must skip (ext, fixext, bin,
/// str8, map16, float, signed ints, nesting).
fn every_family(b: &mut Vec<u8>) {
    rmp::encode::write_array_len(b, 10).expect("vec");
    rmp::encode::write_ext_meta(b, 3, 7).expect("vec");
    b.extend_from_slice(&[1, 2, 3]);
    rmp::encode::write_ext_meta(b, 4, -1).expect("vec");
    b.extend_from_slice(&[4, 5, 6, 7]);
    rmp::encode::write_bin(b, &[8; 40]).expect("vec");
    rmp::encode::write_str(b, &"s".repeat(40)).expect("vec");
    b.extend_from_slice(&[0xde, 0, 1, 0xa1, b'k', 0xc2]); // map16 {"k": false}
    rmp::encode::write_f32(b, 1.5).expect("vec");
    rmp::encode::write_f64(b, -2.5).expect("vec");
    rmp::encode::write_i64(b, -3).expect("vec");
    rmp::encode::write_sint(b, -20_000).expect("vec");
    b.extend_from_slice(&[0x91, 0x91, 0x90]); // [[[]]]
}

/// A version-1 body with an unknown field whose value is [`every_family`].
fn body_with_every_family() -> Vec<u8> {
    let mut b = Vec::new();
    let w = |b: &mut Vec<u8>, s: &str| rmp::encode::write_str(b, s).expect("vec");
    rmp::encode::write_array_len(&mut b, 1).expect("vec");
    rmp::encode::write_map_len(&mut b, 5).expect("vec");
    w(&mut b, "future");
    every_family(&mut b);
    w(&mut b, "addr");
    w(&mut b, "192.0.2.1:1");
    w(&mut b, "source");
    w(&mut b, "Gossip");
    w(&mut b, "last_seen");
    rmp::encode::write_uint(&mut b, 70_000).expect("vec");
    w(&mut b, "node_id");
    w(&mut b, "node-z");
    b
}

/// Every truncation and every bit flip of `body`, behind a frame whose CRCs are recomputed so
/// that the body parser itself sees the damage: never a panic, an error is always a corrupt or
/// over-limit body, and its message never repeats the peer data of the intact body.
fn damage_body_everywhere(version: u16, body: &[u8], count: u32, peer_text: &[&str]) {
    let policy = ReadPolicy::plaintext(Some(REALM));
    let frame = |body: &[u8]| common::msgpack_frame_v(version, REALM, count, body);
    let check = |damaged: &[u8], what: &str| {
        let file = frame(damaged);
        if let Err(e) = read(&file, &policy) {
            assert!(
                matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::LimitExceeded),
                "{what}: {e}"
            );
            let message = e.to_string();
            for text in peer_text {
                assert!(!message.contains(text), "{what}: {message}");
            }
        }
    };
    assert!(read(&frame(body), &policy).is_ok());
    for len in 0..body.len() {
        let what = format!("truncation to {len} bytes");
        check(&body[..len], &what);
        // A truncated body must not read: every entry's bytes are needed.
        assert!(read(&frame(&body[..len]), &policy).is_err());
    }
    for byte in 0..body.len() {
        for bit in 0..8 {
            let mut damaged = body.to_vec();
            damaged[byte] ^= 1 << bit;
            check(&damaged, &format!("flipping bit {bit} of byte {byte}"));
        }
    }
}

#[test]
fn every_damage_of_a_body_behind_valid_checksums_is_handled() {
    let peer_text = [
        "203.0.113.10",
        "2001:db8::1",
        "198.51.100.7",
        "node-abc",
        "node-v6",
    ];
    for version in [FrameVersion::V1, FrameVersion::V2] {
        let file = MsgpackCodec::with_frame_version(version)
            .encode(REALM, SAVED_AT, &basic_entries())
            .expect("encode");
        let h = 25 + REALM.len() + 12;
        let body = &file[h..file.len() - 4];
        damage_body_everywhere(version.number(), body, 3, &peer_text);
    }
    damage_body_everywhere(1, &body_with_every_family(), 1, &["192.0.2.1", "node-z"]);
    damage_body_everywhere(2, &compact_body_with_every_family(), 1, &["node-z"]);
}

/// A version-2 body whose one entry carries a sixth element, [`every_family`].
fn compact_body_with_every_family() -> Vec<u8> {
    // [[bin 192.0.2.1:1, Gossip, 70000, "node-z", [], <every family>]]
    let mut b = vec![0x91, 0x96, 0xc4, 6, 192, 0, 2, 1, 0, 1, 0x01];
    rmp::encode::write_uint(&mut b, 70_000).expect("vec");
    rmp::encode::write_str(&mut b, "node-z").expect("vec");
    b.push(0x90);
    every_family(&mut b);
    b
}
/// A repeated address is corrupt in every plaintext codec and names the later entry, however
/// the reader looks for repeats (the JSON fast path and the version-2 body sort packed keys
/// first, then leave the naming to a set).
#[test]
fn a_repeated_address_names_the_later_entry_in_every_plaintext_codec() {
    let mut entries = basic_entries();
    assert!(entries.len() >= 3, "the fixture has three entries or more");
    // Entry 2 takes entry 0's address; for IPv6 a flow info makes no other peer.
    let mut addr = entries[0].addr;
    if let std::net::SocketAddr::V6(a) = &mut addr {
        a.set_flowinfo(9);
    }
    entries[2].addr = addr;
    let codecs: [(&str, &dyn Codec); 3] = [
        ("json", &JsonCodec),
        ("msgpack v2", &MsgpackCodec),
        (
            "msgpack v1",
            &MsgpackCodec::with_frame_version(FrameVersion::V1),
        ),
    ];
    for (name, codec) in codecs {
        let file = codec
            .encode(REALM, SAVED_AT, &Unchecked(entries.clone()))
            .expect("the writer trusts the source");
        let err = read(&file, &ReadPolicy::plaintext(Some(REALM))).expect_err(name);
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{name}: {err}");
        assert!(err.to_string().contains("entry 2 repeats"), "{name}: {err}");
    }
}
