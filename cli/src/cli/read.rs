//! Opening a peer file for `verify`, `export` and `convert`: the key source turned into a
//! sealed codec, and the file read under a policy built from the flags. It must not decide
//! anything FORMAT.md's reader decides (order of checks, error classes): that is the codecs
//! crate's job; this only supplies the realm, the key and the legacy mtime.

use knownpeers_codecs::{detect, Decoded, Format, KdfParams, ReadPolicy, SealedCodec};

use super::args::KeySpec;
use super::error::{Failure, KeyFlags};
use super::io::Input;

/// Loads the key material `spec` names into a sealed codec. For a passphrase nothing is derived
/// yet; a reader derives with the costs and salt the file records, and a writer with `params`.
pub(crate) fn sealed_codec(
    spec: &KeySpec,
    params: KdfParams,
    flags: KeyFlags,
) -> Result<SealedCodec, Failure> {
    // Before any key material is in memory: a crash from now on writes no core file.
    if let Err(e) = knownpeers_keys::disable_core_dumps() {
        super::warn(&format!(
            "could not turn core dumps off ({e}); a crash could write key material to disk"
        ));
    }
    let passphrase = match spec {
        KeySpec::KeyFile(path) => {
            let key = knownpeers_keys::read_key_file(path).map_err(|e| Failure::key(e, flags))?;
            return Ok(SealedCodec::with_key(key));
        }
        KeySpec::PassphraseEnv(var) => {
            knownpeers_keys::passphrase_from_env(var).map_err(|e| Failure::key(e, flags))?
        }
        KeySpec::PassphraseFile(path) => {
            knownpeers_keys::passphrase_from_file(path).map_err(|e| Failure::key(e, flags))?
        }
    };
    SealedCodec::with_passphrase(passphrase, params).map_err(|e| match e {
        knownpeers_codecs::Error::Key(k) => Failure::key(k, flags),
        other => Failure::other(format!("passphrase key: {other}")),
    })
}

/// A sealed codec for reading: the KDF costs come from the file, up to `ceiling` (a file
/// asking for more is refused before Argon2id runs); the writer's defaults are passed only to
/// satisfy the constructor.
pub(crate) fn reader_codec(
    spec: &KeySpec,
    ceiling: KdfParams,
    flags: KeyFlags,
) -> Result<SealedCodec, Failure> {
    sealed_codec(spec, KdfParams::DEFAULT, flags)?
        .with_kdf_ceiling(ceiling)
        .map_err(|e| match e {
            knownpeers_codecs::Error::Key(k) => {
                Failure::usage(format!("--kdf-max-m-kib/--kdf-max-t/--kdf-max-p: {k}"))
            }
            other => Failure::other(format!("KDF ceiling: {other}")),
        })
}

/// Reads `input` as `realm` (or the realm it names) with the optional key. A legacy file
/// without `--realm` is a usage error: it names no realm, so the user must.
pub(crate) fn decode(
    input: &Input,
    realm: Option<&str>,
    key: Option<&SealedCodec>,
    flags: KeyFlags,
) -> Result<Decoded, Failure> {
    let format =
        detect(&input.bytes).map_err(|e| Failure::format(&input.path, e, KeyFlags::Plain))?;
    if format == Format::Legacy && realm.is_none() {
        return Err(Failure::usage(format!(
            "{}: a legacy TheNodes peers.json names no realm; pass --realm REALM to say which \
             realm its peers belong to",
            super::text::safe_path(&input.path)
        )));
    }
    let policy = ReadPolicy {
        realm,
        require_encryption: false,
        sealed: key,
        legacy_mtime: input.mtime,
        check_duplicates: true,
    };
    tracing::debug!(file = %input.path.display(), bytes = input.bytes.len(), ?format, "reading");
    knownpeers_codecs::read(&input.bytes, &policy)
        .map_err(|e| Failure::format(&input.path, e, flags))
}

/// The name a user knows a format by.
pub(crate) fn format_name(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Legacy => "legacy",
        Format::Msgpack => "msgpack",
        Format::Sealed => "sealed",
    }
}
