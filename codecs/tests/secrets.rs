//! No secret in any `Debug` or `Display`: keys, codecs, and the errors a wrong key, a bad key
//! file or a damaged sealed file produce are formatted and searched for the key bytes (as hex
//! and as decimal lists), the passphrase, and the sealed file's peer addresses.

mod common;

use std::path::Path;

use common::{basic_entries, SAVED_AT};
use knownpeers_codecs::{read, Codec, Error, Key, ReadPolicy, SealedCodec, SecretString};

const PASSPHRASE: &str = "hunter2-correct-horse";
const KEY: [u8; 32] = [0xab; 32];

/// Asserts that neither `Debug` nor `Display`-like text `shown` contains a secret.
fn assert_clean(shown: &str) {
    let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
    for secret in [
        hex.as_str(),
        "abababab",
        "171, 171",
        PASSPHRASE,
        "203.0.113.10",
        "2001:db8::1",
        "node-abc",
    ] {
        assert!(!shown.contains(secret), "{secret:?} appears in {shown:?}");
    }
}

#[test]
fn keys_and_codecs_print_no_secret() {
    let key = Key::from_bytes(KEY);
    assert_eq!(format!("{key:?}"), "Key(<redacted>)");
    assert_clean(&format!("{key:?} {key:#?}"));
    let codec = SealedCodec::with_key(Key::from_bytes(KEY));
    assert_clean(&format!("{codec:?} {codec:#?}"));
    assert!(format!("{codec:?}").contains("key file"));
    let pass = SealedCodec::reader_with_passphrase(SecretString::from(PASSPHRASE));
    assert_clean(&format!("{pass:?} {pass:#?}"));
    assert!(format!("{pass:?}").contains("passphrase"));
    // A policy holding the codec prints no secret either.
    let policy = ReadPolicy::sealed(Some("r"), &codec, true);
    assert_clean(&format!("{policy:?}"));
}

#[test]
fn errors_print_no_secret() {
    let codec = SealedCodec::with_key(Key::from_bytes(KEY));
    let file = codec
        .encode("r", SAVED_AT, &basic_entries())
        .expect("encode");
    let mut errors: Vec<Error> = Vec::new();
    // Wrong key, missing key, wrong key kind.
    let other = SealedCodec::with_key(Key::from_bytes([1; 32]));
    errors.push(read(&file, &ReadPolicy::sealed(Some("r"), &other, true)).expect_err("wrong"));
    errors.push(read(&file, &ReadPolicy::plaintext(Some("r"))).expect_err("missing"));
    let pass = SealedCodec::reader_with_passphrase(SecretString::from(PASSPHRASE));
    errors.push(read(&file, &ReadPolicy::sealed(Some("r"), &pass, true)).expect_err("kind"));
    // A damaged body.
    let mut damaged = file.clone();
    let at = damaged.len() - 30;
    damaged[at] ^= 1;
    errors.push(read(&damaged, &ReadPolicy::sealed(Some("r"), &codec, true)).expect_err("body"));
    // Malformed JSON entries: serde's own messages would quote these values.
    let json = br#"{"knownpeers":1,"realm":"r","saved_at":1,"entries":[{"addr":"203.0.113.10:1","source":"node-abc","last_seen":1}]}"#;
    errors.push(read(json, &ReadPolicy::plaintext(Some("r"))).expect_err("bad source"));
    let json = br#"{"knownpeers":1,"realm":"r","saved_at":1,"entries":[{"addr":["2001:db8::1"],"source":"Gossip","last_seen":1}]}"#;
    errors.push(read(json, &ReadPolicy::plaintext(Some("r"))).expect_err("bad addr type"));
    let json = br#"{"knownpeers":1,"realm":"r","saved_at":1,"entries":[{"addr":"203.0.113.10","source":"Gossip","last_seen":1}]}"#;
    errors.push(read(json, &ReadPolicy::plaintext(Some("r"))).expect_err("no port"));
    let json = br#"{"knownpeers":1,"realm":"r","saved_at":1,"entries":[{"addr":"203.0.113.10:1","source":"Gossip","last_seen":"node-abc"}]}"#;
    errors.push(read(json, &ReadPolicy::plaintext(Some("r"))).expect_err("bad last_seen"));
    let legacy = br#"[{"addr":"203.0.113.10:1","source":"node-abc"}]"#;
    errors.push(read(legacy, &ReadPolicy::plaintext(Some("r"))).expect_err("legacy source"));
    // A duplicate address in a JSON file and in an encoder's input.
    let json = br#"{"knownpeers":1,"realm":"r","saved_at":1,"entries":[{"addr":"203.0.113.10:1","source":"Gossip","last_seen":1},{"addr":"203.0.113.10:1","source":"Gossip","last_seen":1}]}"#;
    errors.push(read(json, &ReadPolicy::plaintext(Some("r"))).expect_err("duplicate"));
    let mut twice = basic_entries();
    twice.push(twice[0].clone());
    errors.push(codec.encode("r", 1, &twice).expect_err("duplicate input"));
    for e in &errors {
        assert_clean(&format!("{e} | {e:?}"));
    }
}

#[test]
fn key_file_errors_print_no_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("k.key");
    // A malformed key file: 63 digits of the key, then garbage.
    let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
    let text = format!("knownpeers-key-v1\n{}Z\n", &hex[..63]);
    let err = knownpeers_keys::parse_key_file(text.as_bytes(), &path).expect_err("malformed");
    assert_clean(&format!("{err} {err:?}"));
    // An insecure key file.
    knownpeers_keys::write_key_file(&path, &Key::from_bytes(KEY)).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = knownpeers_keys::read_key_file(Path::new(&path)).expect_err("insecure");
        assert_clean(&format!("{err} {err:?}"));
        let err = Error::from(err);
        assert_clean(&format!("{err} {err:?}"));
    }
}
