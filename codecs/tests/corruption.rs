//! Exhaustive damage: every truncation and every single-bit flip of a small msgpack file and a
//! small sealed file is an error (never a panic, never a silently different entry list). The
//! sealed file uses a key-file key, so ~3000 decodes stay fast.

mod common;

use common::{basic_entries, SAVED_AT};
use knownpeers_codecs::{read, Codec, ErrorKind, Key, MsgpackCodec, ReadPolicy, SealedCodec};

const REALM: &str = "r1";

/// Every truncation and every bit flip of `file` fails to read under `policy`; returns how many
/// failures fell in each error class, for the assertions below.
fn damage_everywhere(file: &[u8], policy: &ReadPolicy<'_>) -> Vec<ErrorKind> {
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
    let file = MsgpackCodec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("encode");
    let kinds = damage_everywhere(&file, &ReadPolicy::plaintext(Some(REALM)));
    assert_eq!(kinds.len(), file.len() * 9);
    // Past the first 12 bytes (magic, version, codec, flags), damage is corruption.
    assert!(kinds.iter().filter(|k| **k == ErrorKind::Corrupt).count() > file.len() * 8);
}

#[test]
fn every_truncation_and_bit_flip_of_a_sealed_file_fails() {
    let codec = SealedCodec::with_key(Key::from_bytes([0x5a; 32]));
    let file = codec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("encode");
    let policy = ReadPolicy::sealed(Some(REALM), &codec, true);
    let kinds = damage_everywhere(&file, &policy);
    assert_eq!(kinds.len(), file.len() * 9);
    // The header CRC covers the key check, so no flip reads as a wrong key.
    assert!(!kinds.contains(&ErrorKind::WrongKey));
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
