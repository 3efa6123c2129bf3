//! The knownpeers on-disk format (docs/FORMAT.md: binary frame versions 1 and 2, JSON envelope
//! version 1), and nothing else: no file I/O, no tokio.
//!
//! The primary types are [`PeerEntry`] (one remembered peer), [`Codec`] (a file format a realm
//! writes, held as `Arc<dyn Codec>`), its three implementations [`JsonCodec`], [`MsgpackCodec`]
//! and [`SealedCodec`], and [`read`], which tells the formats apart by their first bytes
//! ([`detect`]) and checks a file against a realm's [`ReadPolicy`] in FORMAT.md's order.
//! [`inspect`] reads a header without a key. Every failure is an [`Error`] whose
//! [`Error::kind`] is one of the classes a caller acts on (corrupt, wrong key, realm mismatch,
//! unsupported, limit exceeded, policy violation, not a peer file).
//!
//! The caller owns the bytes: it reads the file (refusing one over [`MAX_FILE_SIZE`] before
//! reading it) and writes the encoded bytes atomically.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use knownpeers_codecs::{read, Codec, MsgpackCodec, PeerEntry, PeerSource, ReadPolicy};
//!
//! let entries = vec![PeerEntry {
//!     addr: "203.0.113.10:7447".parse()?,
//!     source: PeerSource::Gossip,
//!     last_seen: 1_764_000_000,
//!     node_id: None,
//!     capabilities: vec![],
//! }];
//! let bytes = MsgpackCodec.encode("mainnet", 1_764_000_000, &entries)?;
//! let decoded = read(&bytes, &ReadPolicy::plaintext(Some("mainnet")))?;
//! assert_eq!(decoded.file.entries, entries);
//! # Ok(())
//! # }
//! ```
//!
//! Sealing under a key file's key, and what a wrong key looks like:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use knownpeers_codecs::{read, Codec, ErrorKind, Key, ReadPolicy, SealedCodec};
//!
//! let codec = SealedCodec::with_key(Key::from_bytes([7; 32]));
//! let bytes = codec.encode("mainnet", 1_764_000_000, &Vec::new())?;
//! let policy = ReadPolicy::sealed(Some("mainnet"), &codec, true);
//! assert!(read(&bytes, &policy)?.file.entries.is_empty());
//!
//! let other = SealedCodec::with_key(Key::from_bytes([8; 32]));
//! let policy = ReadPolicy::sealed(Some("mainnet"), &other, true);
//! let err = read(&bytes, &policy).expect_err("another key does not open it");
//! assert_eq!(err.kind(), ErrorKind::WrongKey);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod addr;
mod body;
mod check;
mod choose;
mod codec;
mod compact;
mod detect;
mod entry;
mod error;
mod frame;
mod json;
mod json_fast;
mod legacy;
mod msgpack;
mod piece;
mod primitives;
mod read;
mod sealed;
mod stream;

pub use choose::{plaintext_codec, plaintext_codec_with_version};
pub use codec::{Codec, CodecKind, PeerFile};
pub use detect::{detect, Format};
pub use entry::{duplicate_address, stored_addr, EntrySource, PeerEntry, PeerSource};
pub use error::{Error, ErrorKind};
pub use frame::FrameVersion;
pub use json::JsonCodec;
pub use knownpeers_keys::{KdfParams, Key, SecretString};
pub use legacy::write_legacy;
pub use msgpack::MsgpackCodec;
pub use piece::{EncodedPiece, Piece, PieceEncoder};
pub use read::{inspect, read, read_owned, Decoded, Header, KdfInfo, ReadPolicy};
pub use sealed::SealedCodec;

/// What the fuzz targets check beyond the public API (feature `fuzzing`; not for hosts).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// The JSON reader's two paths apart, with `JsonCodec::decode`'s realm check: the fast
    /// path alone (`None` when it gives up on the file) and the serde path alone. The fast
    /// path must only ever give what the serde path gives.
    #[allow(clippy::type_complexity)]
    pub fn json_paths(
        bytes: &[u8],
        realm: Option<&str>,
    ) -> (
        Option<crate::PeerFile>,
        Result<crate::PeerFile, crate::Error>,
    ) {
        crate::json_fast::both_paths(bytes, realm)
    }

    /// The JSON fast path alone with its entry list read in `parts` parts on threads however
    /// small the file (hosts split only large lists): it must give exactly what the one-thread
    /// fast path of [`json_paths`] gives.
    pub fn json_fast_split(
        bytes: &[u8],
        realm: Option<&str>,
        parts: usize,
    ) -> Option<crate::PeerFile> {
        crate::json_fast::split_path(bytes, realm, parts)
    }
}

/// The JSON envelope's version (`"knownpeers": 1`), which binary frame version 2 leaves
/// unchanged; binary frames carry a [`FrameVersion`].
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
