//! The knownpeers on-disk format v1 (docs/FORMAT.md), and nothing else: no file I/O, no tokio.
//!
//! The primary types are [`PeerEntry`] (one remembered peer), [`Codec`] (a file format a realm
//! writes, held as `Arc<dyn Codec>`), its three implementations [`JsonCodec`], [`MsgpackCodec`]
//! and [`SealedCodec`], and [`read`], which tells the formats apart by their first bytes
//! ([`detect`]) and checks a file against a realm's [`ReadPolicy`] in FORMAT.md's order.
//!
//! ```
//! use knownpeers_codecs::{read, Codec, MsgpackCodec, PeerEntry, PeerSource, ReadPolicy};
//!
//! let entries = vec![PeerEntry {
//!     addr: "203.0.113.10:7447".parse().unwrap(),
//!     source: PeerSource::Gossip,
//!     last_seen: 1_764_000_000,
//!     node_id: None,
//!     capabilities: vec![],
//! }];
//! let bytes = MsgpackCodec.encode("mainnet", 1_764_000_000, &entries).unwrap();
//! let decoded = read(&bytes, &ReadPolicy::plaintext(Some("mainnet"))).unwrap();
//! assert_eq!(decoded.file.entries, entries);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

pub use knownpeers_keys::{KdfParams, Key, SecretString};

/// Format version this crate reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Binary frame magic, `\x89KNP\r\n\x1a\n`.
pub const MAGIC: [u8; 8] = [0x89, 0x4B, 0x4E, 0x50, 0x0D, 0x0A, 0x1A, 0x0A];
/// Largest file any reader accepts.
pub const MAX_FILE_SIZE: u64 = 1 << 30;
/// Largest `entry_count` any reader accepts.
pub const MAX_ENTRY_COUNT: u64 = 10_000_000;
/// Longest realm, in bytes.
pub const MAX_REALM_LEN: usize = 255;
/// Longest `node_id`, in bytes.
pub const MAX_NODE_ID_LEN: usize = 255;
/// Most capabilities per entry.
pub const MAX_CAPABILITIES: usize = 32;
/// Longest capability, in bytes.
pub const MAX_CAPABILITY_LEN: usize = 64;

/// How a peer became known. Ranks `Gossip < Bootstrap < Connected` (the derived `Ord`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum PeerSource {
    /// Heard in another peer's PeerList: untrusted.
    Gossip,
    /// Seeded from configuration.
    Bootstrap,
    /// A successful connect and handshake.
    Connected,
}

/// One remembered peer, exactly the metadata a file holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PeerEntry {
    /// The peer's socket address.
    pub addr: SocketAddr,
    /// How it became known.
    pub source: PeerSource,
    /// Unix seconds of the last observation.
    pub last_seen: u64,
    /// The node id its handshake gave, at most 255 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Capabilities, at most 32 of at most 64 bytes each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

impl PeerEntry {
    /// Checks the entry limits of FORMAT.md (node_id, capabilities).
    pub fn check_limits(&self) -> Result<(), Error> {
        unimplemented!()
    }
}

/// Anything a codec can encode: a slice, a vec, or a store snapshot.
pub trait EntrySource {
    /// How many entries [`EntrySource::entries`] yields.
    fn len(&self) -> usize;
    /// The entries, in the order they are written.
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_>;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EntrySource for [PeerEntry] {
    fn len(&self) -> usize {
        <[PeerEntry]>::len(self)
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.iter())
    }
}

impl EntrySource for Vec<PeerEntry> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.iter())
    }
}

/// A codec a realm writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecKind {
    /// Pretty JSON envelope.
    Json,
    /// Binary frame, MessagePack body, CRC-32.
    Msgpack,
    /// Binary frame, XChaCha20-Poly1305-sealed MessagePack body.
    Sealed,
}

/// What [`detect`] finds at the start of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A JSON envelope.
    Json,
    /// A TheNodes 0.2/0.3 `peers.json` array (read-only).
    Legacy,
    /// A binary frame with codec byte 1.
    Msgpack,
    /// A binary frame with codec byte 2.
    Sealed,
}

/// A whole decoded (or to-be-encoded) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFile {
    /// The realm the file belongs to.
    pub realm: String,
    /// Unix seconds of the save.
    pub saved_at: u64,
    /// The entries, in file order.
    pub entries: Vec<PeerEntry>,
}

/// A file read by [`read`]: its format and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The format found.
    pub format: Format,
    /// The contents.
    pub file: PeerFile,
}

/// How a sealed file's key was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfInfo {
    /// `kdf` = 0: a raw key from a key file.
    KeyFile,
    /// `kdf` = 1: Argon2id of a passphrase.
    Argon2id(KdfParams),
}

/// What a file says about itself without any key ([`inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format.
    pub format: Format,
    /// The format version the file declares.
    pub version: u64,
    /// The realm (legacy files have none).
    pub realm: Option<String>,
    /// Unix seconds of the save (legacy files have none).
    pub saved_at: Option<u64>,
    /// Number of entries the file declares.
    pub entry_count: u64,
    /// Size in bytes of the whole file.
    pub file_len: u64,
    /// Sealed files only: how the key was made.
    pub kdf: Option<KdfInfo>,
}

/// A file format a realm writes with. Implementations are stateless except for key caches, and
/// safe to share between tasks as `Arc<dyn Codec>`.
pub trait Codec: Send + Sync + std::fmt::Debug {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;

    /// Appends the whole encoded file to `out` (which is cleared first), reusing its capacity.
    fn encode_into(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
        out: &mut Vec<u8>,
    ) -> Result<(), Error>;

    /// The whole encoded file.
    fn encode(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encode_into(realm, saved_at, entries, &mut out)?;
        Ok(out)
    }

    /// Decodes a file of this codec's own format, checking its realm when `realm` is given.
    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error>;
}

/// The JSON envelope codec (pretty-printed, two-space indent).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

/// The MessagePack frame codec (CRC-32 over header and body).
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgpackCodec;

/// The sealed frame codec. Holds the realm's key source; for a passphrase it derives the master
/// key once per process and reuses it (and its salt) for every save, drawing a fresh nonce each
/// time. `Debug` shows the key source kind only.
pub struct SealedCodec {
    _private: (),
}

impl std::fmt::Debug for SealedCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedCodec(<redacted>)")
    }
}

impl SealedCodec {
    /// A codec sealing under a raw key (FORMAT.md `kdf` = 0).
    pub fn with_key(key: Key) -> SealedCodec {
        let _ = key;
        unimplemented!()
    }
    /// A codec sealing under Argon2id of `passphrase` with `params` (checked against the
    /// writer's minimum; `kdf` = 1). No derivation happens until the first encode or decode.
    pub fn with_passphrase(
        passphrase: SecretString,
        params: KdfParams,
    ) -> Result<SealedCodec, Error> {
        let _ = (passphrase, params);
        unimplemented!()
    }
    /// How many times this codec has run Argon2id (for tests and benchmarks).
    pub fn kdf_runs(&self) -> u64 {
        unimplemented!()
    }
}

/// What a realm allows when reading a file, and the key it has.
#[derive(Debug, Clone, Copy)]
pub struct ReadPolicy<'a> {
    /// The realm being loaded; `None` accepts the realm the file names (legacy files then fail
    /// with [`Error::RealmRequired`]).
    pub realm: Option<&'a str>,
    /// Refuse plaintext formats (json, msgpack, legacy) with [`Error::PolicyViolation`].
    pub require_encryption: bool,
    /// The realm's sealed codec (its key), if it has one; a sealed file without it is
    /// [`Error::MissingKey`].
    pub sealed: Option<&'a SealedCodec>,
    /// `last_seen` for legacy entries whose `last_success_epoch` is null: the file's mtime.
    pub legacy_mtime: u64,
}

impl<'a> ReadPolicy<'a> {
    /// A plaintext realm without a key.
    pub fn plaintext(realm: Option<&'a str>) -> ReadPolicy<'a> {
        ReadPolicy {
            realm,
            require_encryption: false,
            sealed: None,
            legacy_mtime: 0,
        }
    }
}

/// What the first bytes say the file is ([`Error::NotPeerFile`] for anything else).
pub fn detect(bytes: &[u8]) -> Result<Format, Error> {
    let _ = bytes;
    unimplemented!()
}

/// The header of any file, without a key (for `knownpeers inspect`); checks what can be checked
/// without a key (magic, version, header CRC, lengths).
pub fn inspect(bytes: &[u8]) -> Result<Header, Error> {
    let _ = bytes;
    unimplemented!()
}

/// Reads a whole file of any format under `policy`, with the checks of FORMAT.md in its order.
pub fn read(bytes: &[u8], policy: &ReadPolicy<'_>) -> Result<Decoded, Error> {
    let _ = (bytes, policy);
    unimplemented!()
}

/// The codec of `kind` for a plaintext realm (`Sealed` needs a key: use [`SealedCodec`]).
pub fn plaintext_codec(kind: CodecKind) -> Option<Arc<dyn Codec>> {
    match kind {
        CodecKind::Json => Some(Arc::new(JsonCodec)),
        CodecKind::Msgpack => Some(Arc::new(MsgpackCodec)),
        CodecKind::Sealed => None,
    }
}

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
    #[error("not a knownpeers peer file")]
    NotPeerFile,
    /// Damaged, truncated, tampered or malformed.
    #[error("corrupt: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
    /// A format version this reader does not know.
    #[error("unsupported format version {found} (this reader knows version 1)")]
    UnsupportedVersion {
        /// The version found.
        found: u64,
    },
    /// A codec byte this reader does not know.
    #[error("unsupported codec byte {found}")]
    UnsupportedCodec {
        /// The codec byte found.
        found: u8,
    },
    /// The file names another realm.
    #[error("realm mismatch: the file belongs to realm {found:?}, expected {expected:?}")]
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
    #[error("wrong key: the key does not match this file")]
    WrongKey,
    /// The file is sealed and no key was given.
    #[error("the file is sealed and no key was given (a key file or passphrase is needed)")]
    MissingKey,
    /// A legacy file carries no realm and none was given.
    #[error("a legacy TheNodes file has no realm; name one")]
    RealmRequired,
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
            Error::UnsupportedVersion { .. } | Error::UnsupportedCodec { .. } => {
                ErrorKind::Unsupported
            }
            Error::RealmMismatch { .. } => ErrorKind::RealmMismatch,
            Error::PolicyViolation { .. } => ErrorKind::PolicyViolation,
            Error::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            Error::WrongKey | Error::MissingKey => ErrorKind::WrongKey,
            Error::Key(knownpeers_keys::Error::KdfBounds { .. }) => ErrorKind::LimitExceeded,
            Error::RealmRequired | Error::Key(_) => ErrorKind::Other,
        }
    }
}

#[allow(unused_variables)]
impl Codec for JsonCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Json
    }
    fn encode_into(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        unimplemented!()
    }
    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error> {
        unimplemented!()
    }
}

#[allow(unused_variables)]
impl Codec for MsgpackCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Msgpack
    }
    fn encode_into(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        unimplemented!()
    }
    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error> {
        unimplemented!()
    }
}

#[allow(unused_variables)]
impl Codec for SealedCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Sealed
    }
    fn encode_into(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        unimplemented!()
    }
    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error> {
        unimplemented!()
    }
}
