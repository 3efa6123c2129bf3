//! The sealed writer's key cache: one Argon2id run per process for a passphrase realm, the same
//! salt across saves, a fresh nonce every save, and a load that hands its key to later saves.
//! Uses the real writer minimum (m = 19 MiB, t = 2, p = 1): the few runs are fast enough.

mod common;

use common::{basic_entries, SAVED_AT};
use knownpeers_codecs::{
    inspect, read, Codec, KdfInfo, KdfParams, ReadPolicy, SealedCodec, SecretString,
};

const REALM: &str = "cache-realm";
const MIN: KdfParams = KdfParams {
    m_cost_kib: KdfParams::WRITER_MIN_M_KIB,
    t_cost: KdfParams::WRITER_MIN_T,
    p_cost: 1,
};

fn salt_and_nonce(file: &[u8]) -> ([u8; 16], [u8; 24]) {
    let s = common::sealed_block(REALM.len());
    (
        file[s + 13..s + 29].try_into().expect("salt"),
        file[s + 29..s + 53].try_into().expect("nonce"),
    )
}

#[test]
fn a_writer_derives_once_and_reuses_its_salt_with_fresh_nonces() {
    let codec = SealedCodec::with_passphrase(SecretString::from("pass"), MIN).expect("codec");
    assert_eq!(codec.kdf_runs(), 0, "no derivation before the first use");
    let first = codec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("first");
    let second = codec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("second");
    let (salt1, nonce1) = salt_and_nonce(&first);
    let (salt2, nonce2) = salt_and_nonce(&second);
    assert_eq!(salt1, salt2);
    assert_ne!(nonce1, nonce2);
    assert_ne!(salt1, [0; 16]);
    assert_ne!(first, second);
    assert_eq!(
        inspect(&first).expect("inspect").kdf,
        Some(KdfInfo::Argon2id(MIN))
    );
    // Decoding its own file (same salt, same params) needs no new derivation.
    let policy = ReadPolicy::sealed(Some(REALM), &codec, true);
    assert_eq!(
        read(&second, &policy).expect("read").file.entries,
        basic_entries()
    );
    assert_eq!(codec.kdf_runs(), 1);
}

#[test]
fn a_load_hands_its_key_to_later_saves() {
    let writer = SealedCodec::with_passphrase(SecretString::from("pass"), MIN).expect("codec");
    let file = writer
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("encode");
    // A new process: load, then save twice.
    let codec = SealedCodec::with_passphrase(SecretString::from("pass"), MIN).expect("codec");
    let policy = ReadPolicy::sealed(Some(REALM), &codec, true);
    assert_eq!(
        read(&file, &policy).expect("load").file.entries,
        basic_entries()
    );
    let saved = codec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("save");
    let _ = codec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("save again");
    assert_eq!(codec.kdf_runs(), 1, "load then saves run Argon2id once");
    assert_eq!(salt_and_nonce(&saved).0, salt_and_nonce(&file).0);
    // The other process still reads what this one wrote.
    let policy = ReadPolicy::sealed(Some(REALM), &writer, true);
    assert_eq!(
        read(&saved, &policy).expect("read").file.entries,
        basic_entries()
    );
}

#[test]
fn a_file_with_other_params_is_read_but_never_sets_the_writer_params() {
    // The vector is sealed with m=1024, t=1, p=1, under the writer minimum.
    let vector = common::vector("sealed-passphrase.kp");
    let codec =
        SealedCodec::with_passphrase(SecretString::from("correct horse battery staple"), MIN)
            .expect("codec");
    let policy = ReadPolicy::sealed(Some("example-realm"), &codec, true);
    assert_eq!(
        read(&vector, &policy).expect("read").file.entries,
        basic_entries()
    );
    assert_eq!(codec.kdf_runs(), 1);
    let saved = codec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("save");
    assert_eq!(
        codec.kdf_runs(),
        2,
        "the writer derives under its own params"
    );
    assert_eq!(
        inspect(&saved).expect("inspect").kdf,
        Some(KdfInfo::Argon2id(MIN))
    );
    assert_ne!(salt_and_nonce(&saved).0, [0x11; 16]);
}

#[test]
fn a_wrong_passphrase_is_not_adopted() {
    let writer = SealedCodec::with_passphrase(SecretString::from("right"), MIN).expect("codec");
    let file = writer
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("encode");
    let wrong = SealedCodec::with_passphrase(SecretString::from("wrong"), MIN).expect("codec");
    let policy = ReadPolicy::sealed(Some(REALM), &wrong, true);
    let err = read(&file, &policy).expect_err("wrong passphrase");
    assert_eq!(err.kind(), knownpeers_codecs::ErrorKind::WrongKey);
    // Its next save derives its own key with a fresh salt, not the file's.
    let saved = wrong
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("save");
    assert_ne!(salt_and_nonce(&saved).0, salt_and_nonce(&file).0);
    assert_eq!(wrong.kdf_runs(), 2);
}

#[test]
fn concurrent_first_saves_derive_once() {
    let codec = std::sync::Arc::new(
        SealedCodec::with_passphrase(SecretString::from("pass"), MIN).expect("codec"),
    );
    let files: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let codec = codec.clone();
                s.spawn(move || {
                    codec
                        .encode(REALM, SAVED_AT, &basic_entries())
                        .expect("encode")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(codec.kdf_runs(), 1);
    let salts: std::collections::HashSet<_> = files.iter().map(|f| salt_and_nonce(f).0).collect();
    let nonces: std::collections::HashSet<_> = files.iter().map(|f| salt_and_nonce(f).1).collect();
    assert_eq!((salts.len(), nonces.len()), (1, 4));
}
