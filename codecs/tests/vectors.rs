//! One test per row of `tests/vectors/cases.json` (FORMAT.md's vectors, written by an
//! independent implementation), read through the library, asserting the entries or the error
//! kind. Must not read /work/shared: the vectors are copied into the repository.

use std::path::{Path, PathBuf};

use knownpeers_codecs::{read, read_owned, ErrorKind, PeerEntry, ReadPolicy, SealedCodec};
use knownpeers_keys::SecretString;
use sha2::{Digest as _, Sha256};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors");

/// The mtime passed for the legacy vector's null `last_success_epoch`.
const LEGACY_MTIME: u64 = 1_764_000_123;

/// One row of cases.json.
#[derive(serde::Deserialize)]
struct Case {
    file: String,
    expect: String,
    realm: String,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    passphrase: Option<String>,
    #[serde(default)]
    entries: Option<Vec<serde_json::Value>>,
    /// For a file too big to list: the count and SHA-256 of the entries as compact JSON.
    #[serde(default)]
    entries_len: Option<usize>,
    #[serde(default)]
    entries_sha256: Option<String>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read(Path::new(VECTORS).join("cases.json")).expect("cases.json");
    serde_json::from_slice(&text).expect("cases.json parses")
}

/// Git does not keep modes: copy the key file into a temp dir with mode 0600.
fn private_copy(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(Path::new(VECTORS).join(name), &to).expect("copy key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    to
}

fn expected_entries(values: &[serde_json::Value]) -> Vec<PeerEntry> {
    values
        .iter()
        .map(|v| {
            let mut v = v.clone();
            if v["last_seen"] == "mtime" {
                v["last_seen"] = LEGACY_MTIME.into();
            }
            serde_json::from_value(v).expect("an entry of cases.json")
        })
        .collect()
}

fn kind_of(expect: &str) -> ErrorKind {
    match expect {
        "wrong_key" => ErrorKind::WrongKey,
        "corrupt" => ErrorKind::Corrupt,
        "realm_mismatch" => ErrorKind::RealmMismatch,
        "unsupported" => ErrorKind::Unsupported,
        "bounds" => ErrorKind::LimitExceeded,
        "not_peer_file" => ErrorKind::NotPeerFile,
        other => panic!("unknown expectation {other}"),
    }
}

/// Runs case `index` of cases.json (checking first that it is the file we think it is).
fn check(index: usize, file: &str, expect: &str) {
    let case = &cases()[index];
    assert_eq!((case.file.as_str(), case.expect.as_str()), (file, expect));
    let dir = tempfile::tempdir().expect("temp dir");
    let codec = if let Some(name) = &case.key_file {
        let key = knownpeers_keys::read_key_file(&private_copy(dir.path(), name)).expect("key");
        Some(SealedCodec::with_key(key))
    } else {
        case.passphrase
            .as_deref()
            .map(|p| SealedCodec::reader_with_passphrase(SecretString::from(p)))
    };
    let bytes = std::fs::read(Path::new(VECTORS).join(&case.file)).expect("vector file");
    let policy = ReadPolicy {
        realm: Some(&case.realm),
        require_encryption: false,
        sealed: codec.as_ref(),
        legacy_mtime: LEGACY_MTIME,
        check_duplicates: true,
    };
    // The borrowed and the owned read path must agree on every case.
    for (path, result) in [
        ("read", read(&bytes, &policy)),
        ("read_owned", read_owned(bytes.clone(), &policy)),
    ] {
        match case.expect.as_str() {
            "ok" => {
                let decoded = result.unwrap_or_else(|e| panic!("{file} ({path}): {e}"));
                match (&case.entries, case.entries_len, &case.entries_sha256) {
                    (Some(entries), _, _) => {
                        assert_eq!(decoded.file.entries, expected_entries(entries), "{file}");
                    }
                    (None, Some(len), Some(sha)) => {
                        assert_eq!(decoded.file.entries.len(), len, "{file} ({path})");
                        let json = serde_json::to_string(&decoded.file.entries).expect("json");
                        let digest = Sha256::digest(json.as_bytes());
                        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                        assert_eq!(&hex, sha, "{file} ({path}): entries' SHA-256");
                    }
                    _ => panic!("{file}: an ok case without entries"),
                }
                assert_eq!(decoded.file.realm, case.realm);
                if !file.starts_with("legacy") {
                    assert_eq!(decoded.file.saved_at, 1_764_000_000);
                }
            }
            other => {
                let err = result.expect_err(file);
                assert_eq!(err.kind(), kind_of(other), "{file} ({path}): {err}");
            }
        }
    }
    if case.expect == "bounds" {
        assert_eq!(codec.expect("a passphrase case").kdf_runs(), 0);
    }
}

#[test]
fn every_case_has_a_test() {
    assert_eq!(cases().len(), 29);
}

#[test]
fn case_00_json_basic() {
    check(0, "json-basic.json", "ok");
}
#[test]
fn case_01_json_empty() {
    check(1, "json-empty.json", "ok");
}
#[test]
fn case_02_msgpack_basic() {
    check(2, "msgpack-basic.kp", "ok");
}
#[test]
fn case_03_sealed_keyfile() {
    check(3, "sealed-keyfile.kp", "ok");
}
#[test]
fn case_04_sealed_passphrase() {
    check(4, "sealed-passphrase.kp", "ok");
}
#[test]
fn case_05_legacy_thenodes() {
    check(5, "legacy-thenodes.json", "ok");
}
#[test]
fn case_06_sealed_keyfile_other_key() {
    check(6, "sealed-keyfile.kp", "wrong_key");
}
#[test]
fn case_07_sealed_passphrase_wrong() {
    check(7, "sealed-passphrase.kp", "wrong_key");
}
#[test]
fn case_08_json_realm_mismatch() {
    check(8, "json-basic.json", "realm_mismatch");
}
#[test]
fn case_09_msgpack_realm_mismatch() {
    check(9, "msgpack-basic.kp", "realm_mismatch");
}
#[test]
fn case_10_sealed_tampered_realm() {
    check(10, "sealed-tampered-realm.kp", "corrupt");
}
#[test]
fn case_11_sealed_flipped_body() {
    check(11, "sealed-flipped-body.kp", "corrupt");
}
#[test]
fn case_12_msgpack_bad_body_crc() {
    check(12, "msgpack-bad-body-crc.kp", "corrupt");
}
#[test]
fn case_13_msgpack_bad_header_crc() {
    check(13, "msgpack-bad-header-crc.kp", "corrupt");
}
#[test]
fn case_14_msgpack_truncated() {
    check(14, "msgpack-truncated.kp", "corrupt");
}
#[test]
fn case_15_msgpack_future_version() {
    check(15, "msgpack-future-version.kp", "unsupported");
}
#[test]
fn case_16_json_future_version() {
    check(16, "json-future-version.json", "unsupported");
}
#[test]
fn case_17_sealed_kdf_bomb() {
    check(17, "sealed-kdf-bomb.kp", "bounds");
}
#[test]
fn case_18_not_a_peer_file() {
    check(18, "not-a-peer-file.bin", "not_peer_file");
}
#[test]
fn case_19_v2_msgpack_basic() {
    check(19, "v2-msgpack-basic.kp", "ok");
}
#[test]
fn case_20_v2_sealed_keyfile() {
    check(20, "v2-sealed-keyfile.kp", "ok");
}
#[test]
fn case_21_v2_sealed_passphrase() {
    check(21, "v2-sealed-passphrase.kp", "ok");
}
#[test]
fn case_22_v2_msgpack_empty() {
    check(22, "v2-msgpack-empty.kp", "ok");
}
#[test]
fn case_23_v2_sealed_multichunk() {
    check(23, "v2-sealed-multichunk.kp", "ok");
}
#[test]
fn case_24_v2_sealed_truncated_chunk() {
    check(24, "v2-sealed-truncated-chunk.kp", "corrupt");
}
#[test]
fn case_25_v2_sealed_reordered_chunks() {
    check(25, "v2-sealed-reordered-chunks.kp", "corrupt");
}
#[test]
fn case_26_v2_msgpack_bad_addr_len() {
    check(26, "v2-msgpack-bad-addr-len.kp", "corrupt");
}
#[test]
fn case_27_v2_msgpack_bad_source() {
    check(27, "v2-msgpack-bad-source.kp", "corrupt");
}
#[test]
fn case_28_v2_msgpack_extra_fields() {
    check(28, "v2-msgpack-extra-fields.kp", "ok");
}
