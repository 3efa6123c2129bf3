//! The one error type of this crate and its classification. Owns every message a caller can
//! see; must never put key material, passphrases, or peer lists (even one address) into one.

/// The class of an [`Error`], for exit codes and quarantine decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Damaged, truncated or tampered.
    Corrupt,
    /// Wrong or missing key.
    WrongKey,
    /// The file belongs to another realm.
    RealmMismatch,
    /// Unknown version or codec.
    Unsupported,
    /// A FORMAT.md limit exceeded.
    LimitExceeded,
    /// The realm's policy forbids this format.
    PolicyViolation,
    /// Not a knownpeers file at all.
    NotPeerFile,
    /// Anything else (key file problems, a missing realm).
    Other,
}

/// Everything that can go wrong encoding or decoding. Messages never contain key material or
/// peer lists.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first bytes match no knownpeers format.
    #[error("not a knownpeers peer file (it starts with neither `{{`, `[` nor the knownpeers magic); check the path")]
    NotPeerFile,
    /// Damaged, truncated, tampered or malformed.
    #[error("corrupt: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
    /// A format version this reader does not know.
    #[error(
        "unsupported format version {found} (this reader knows binary frame versions 1 and 2 and JSON envelope version 1); use a newer knownpeers"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u64,
    },
    /// A codec byte this reader does not know.
    #[error("unsupported codec byte {found} (this reader knows 1 = msgpack, 2 = sealed); use a newer knownpeers")]
    UnsupportedCodec {
        /// The codec byte found.
        found: u8,
    },
    /// A header field this reader does not know how to honour (a flags bit, a `kdf` byte), or
    /// a file handed to the codec of another format.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },
    /// The file names another realm.
    #[error("realm mismatch: the file belongs to realm {found:?}, expected {expected:?}; load it as its own realm or convert it")]
    RealmMismatch {
        /// The realm in the file.
        found: String,
        /// The realm being loaded.
        expected: String,
    },
    /// The realm's policy forbids this file's format.
    #[error("policy violation: {what}")]
    PolicyViolation {
        /// What the policy forbids.
        what: String,
    },
    /// A FORMAT.md limit exceeded.
    #[error("limit exceeded: {what}")]
    LimitExceeded {
        /// Which limit.
        what: String,
    },
    /// The key does not open this file (the key check failed).
    #[error("wrong key: the key or passphrase given does not open this file; check the realm's key file or passphrase")]
    WrongKey,
    /// The file was sealed with another kind of key than the one given (a passphrase where a
    /// key file was given, or the reverse).
    #[error("wrong key: the file is sealed with {file} but {given} was given")]
    KeyKindMismatch {
        /// The kind of key the file needs.
        file: &'static str,
        /// The kind of key given.
        given: &'static str,
    },
    /// The file is sealed and no key was given.
    #[error("the file is sealed and no key was given; give the realm's key file or passphrase")]
    MissingKey,
    /// A legacy file carries no realm and none was given.
    #[error("a legacy TheNodes file has no realm; name the realm to load it into")]
    RealmRequired,
    /// The entries handed to a writer cannot be written as one valid file (for example two
    /// entries with one address).
    #[error("cannot encode: {what}")]
    InvalidInput {
        /// What is wrong with the input.
        what: String,
    },
    /// Key material could not be used.
    #[error(transparent)]
    Key(#[from] knownpeers_keys::Error),
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotPeerFile => ErrorKind::NotPeerFile,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::UnsupportedVersion { .. }
            | Error::UnsupportedCodec { .. }
            | Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::RealmMismatch { .. } => ErrorKind::RealmMismatch,
            Error::PolicyViolation { .. } => ErrorKind::PolicyViolation,
            Error::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            Error::WrongKey | Error::MissingKey | Error::KeyKindMismatch { .. } => {
                ErrorKind::WrongKey
            }
            Error::Key(knownpeers_keys::Error::KdfBounds { .. }) => ErrorKind::LimitExceeded,
            Error::RealmRequired | Error::InvalidInput { .. } | Error::Key(_) => ErrorKind::Other,
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Error {
        Error::Corrupt { what: what.into() }
    }

    pub(crate) fn limit(what: impl Into<String>) -> Error {
        Error::LimitExceeded { what: what.into() }
    }
}
