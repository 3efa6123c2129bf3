//! What every reader target shares: the realm policies a file is read under (no key, a key
//! file's key, a passphrase), built once per process. Owns no assertions of its own beyond
//! "never panics"; must not read anything but the repository's test vectors.

use std::sync::OnceLock;

use knownpeers_codecs::{KdfParams, ReadPolicy, SealedCodec, SecretString};

/// The realm of every test vector.
pub const REALM: &str = "example-realm";

/// The vectors' raw key (`tests/vectors/key-basic.key`).
fn key_codec() -> &'static SealedCodec {
    static CODEC: OnceLock<SealedCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let text = include_bytes!("../../tests/vectors/key-basic.key");
        let key = knownpeers_keys::parse_key_file(text, std::path::Path::new("key-basic.key"))
            .expect("the vector key file parses");
        SealedCodec::with_key(key)
    })
}

/// The vectors' passphrase, with a ceiling of the passphrase vector's own costs (m = 1 MiB,
/// t = 1, p = 1): a fuzzed header can reach Argon2id, but only at a cost that keeps the
/// fuzzer fast; anything costlier is refused by the ceiling check, which is fuzzed too.
fn passphrase_codec() -> &'static SealedCodec {
    static CODEC: OnceLock<SealedCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        SealedCodec::reader_with_passphrase(SecretString::from("correct horse battery staple"))
            .with_kdf_ceiling(KdfParams {
                m_cost_kib: 1024,
                t_cost: 1,
                p_cost: 1,
            })
            .expect("a valid ceiling")
    })
}

/// Every policy a loading node or the CLI reads with: any realm or a given one, plaintext
/// allowed or refused, no key, a key file's key, a passphrase.
pub fn policies() -> Vec<ReadPolicy<'static>> {
    let mut out = vec![
        ReadPolicy::plaintext(None),
        ReadPolicy::plaintext(Some(REALM)),
        ReadPolicy {
            require_encryption: true,
            ..ReadPolicy::plaintext(Some(REALM))
        },
    ];
    for codec in [key_codec(), passphrase_codec()] {
        out.push(ReadPolicy::sealed(Some(REALM), codec, false));
        out.push(ReadPolicy::sealed(None, codec, true));
    }
    for p in &mut out {
        p.legacy_mtime = 1_764_000_000;
    }
    out
}
