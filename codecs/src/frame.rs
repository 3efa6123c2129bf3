//! The binary frame shared by the msgpack and sealed codecs: its header layout, the header
//! parser (FORMAT.md reader steps 1 and 2) and the header writer. Owns every offset into a
//! binary file; must not look inside the body, derive keys or decide policy.
//!
//! ```text
//! offset      size  field
//! 0           8     magic 89 4B 4E 50 0D 0A 1A 0A ("\x89KNP\r\n\x1a\n")
//! 8           2     version, u16 LE: 1 or 2 (FrameVersion)
//! 10          1     codec: 1 = msgpack, 2 = sealed
//! 11          1     flags = 0
//! 12          1     R, realm length, 1..=255
//! 13          R     realm, UTF-8
//! 13+R        8     saved_at, u64 LE unix seconds
//! 21+R        4     entry_count, u32 LE
//!             --    sealed only (SEALED_LEN = 85 bytes), offsets from S = 25+R:
//! S+0         1       kdf: 0 = raw key, 1 = Argon2id v1.3
//! S+1         4       m_cost KiB, u32 LE (0 when kdf = 0)
//! S+5         4       t_cost, u32 LE (0 when kdf = 0)
//! S+9         4       p_cost, u32 LE (0 when kdf = 0)
//! S+13        16      kdf_salt (zeros when kdf = 0)
//! S+29        24      nonce
//! S+53        32      key_check
//!             --    both codecs (TRAILER_LEN = 12 bytes):
//! H-12        8     body_len, u64 LE
//! H-4         4     header_crc, CRC-32 (ISO-HDLC) of bytes 0..H-4
//! H           B     body (B = body_len)
//! H+B         4     msgpack only: body_crc, CRC-32 of the body
//!
//! H = 25 + R + 12 (msgpack), 25 + R + 85 + 12 (sealed); file length = H + B (+ 4 msgpack).
//! ```
//!
//! Both versions share this layout byte for byte; the version says what the body is (`body`
//! for 1, `compact` and `stream` for 2).

use crate::entry::{check_entry_count, check_file_size, check_realm_len};
use crate::{primitives, EntrySource, Error, MAGIC};

/// The binary frame version a file declares, and the one a writer writes (FORMAT.md "Binary
/// frame version 2"). Version 1 stays readable for ever; writers default to version 2 and write
/// version 1 only when asked to, for a node whose reader knows only version 1.
///
/// In configuration it is the integer `1` or `2` (`format_version = 1`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(try_from = "u16", into = "u16")]
#[non_exhaustive]
pub enum FrameVersion {
    /// Version 1: a map per entry with the address as text, one XChaCha20-Poly1305 message.
    V1,
    /// Version 2: a positional array per entry with a binary address, STREAM-sealed chunks.
    #[default]
    V2,
}

impl FrameVersion {
    /// The newest version, the one writers write unless asked otherwise.
    pub const LATEST: FrameVersion = FrameVersion::V2;

    /// The header's `version` field.
    pub fn number(self) -> u16 {
        match self {
            FrameVersion::V1 => 1,
            FrameVersion::V2 => 2,
        }
    }

    /// The version a header's `version` field names, if this reader knows it.
    pub fn from_number(n: u16) -> Option<FrameVersion> {
        match n {
            1 => Some(FrameVersion::V1),
            2 => Some(FrameVersion::V2),
            _ => None,
        }
    }
}

impl From<FrameVersion> for u16 {
    fn from(v: FrameVersion) -> u16 {
        v.number()
    }
}

impl TryFrom<u16> for FrameVersion {
    type Error = String;
    fn try_from(n: u16) -> Result<FrameVersion, String> {
        FrameVersion::from_number(n)
            .ok_or_else(|| format!("binary frame version {n} (this build writes 1 or 2)"))
    }
}

impl std::fmt::Display for FrameVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// The version of a binary frame from its first 10 bytes (the magic already matched):
/// `Corrupt` when cut inside the field, `UnsupportedVersion` for a number this reader does
/// not know.
pub(crate) fn version_of(bytes: &[u8]) -> Result<FrameVersion, Error> {
    let v = bytes
        .get(VERSION_OFFSET..VERSION_OFFSET + 2)
        .ok_or_else(|| truncated("version"))?;
    let n = u16::from_le_bytes([v[0], v[1]]);
    FrameVersion::from_number(n).ok_or(Error::UnsupportedVersion {
        found: u64::from(n),
    })
}

pub(crate) const MAGIC_OFFSET: usize = 0;
pub(crate) const VERSION_OFFSET: usize = 8;
pub(crate) const CODEC_OFFSET: usize = 10;
pub(crate) const FLAGS_OFFSET: usize = 11;
pub(crate) const REALM_LEN_OFFSET: usize = 12;
pub(crate) const REALM_OFFSET: usize = 13;

/// Offsets of the fixed fields after the realm, relative to `REALM_OFFSET + R`.
const SAVED_AT_REL: usize = 0;
const ENTRY_COUNT_REL: usize = 8;
/// Where the sealed block (or, for msgpack, the trailer) starts, relative to the realm's end.
const AFTER_COUNT_REL: usize = 12;

/// Offsets inside the sealed block.
const KDF_REL: usize = 0;
const M_COST_REL: usize = 1;
const T_COST_REL: usize = 5;
const P_COST_REL: usize = 9;
const SALT_REL: usize = 13;
const NONCE_REL: usize = 29;
const KEY_CHECK_REL: usize = 53;
/// Length of the sealed block.
pub(crate) const SEALED_LEN: usize = 85;

/// `body_len` (8) and `header_crc` (4), the last 12 bytes of every header.
pub(crate) const TRAILER_LEN: usize = 12;
/// The msgpack codec's `body_crc` after the body.
pub(crate) const BODY_CRC_LEN: usize = 4;
/// The Poly1305 tag appended to a sealed body.
pub(crate) const TAG_LEN: usize = 16;

pub(crate) const CODEC_MSGPACK: u8 = 1;
pub(crate) const CODEC_SEALED: u8 = 2;

pub(crate) const KDF_RAW: u8 = 0;
pub(crate) const KDF_ARGON2ID: u8 = 1;

/// Which frame codec a header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameCodec {
    Msgpack,
    Sealed,
}

/// The sealed block of a header, as stored (the `kdf` byte is not interpreted here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedFields {
    pub kdf: u8,
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub salt: [u8; 16],
    pub nonce: [u8; 24],
    pub key_check: [u8; 32],
}

/// A header that passed steps 1 and 2 of the reader order.
#[derive(Debug)]
pub(crate) struct FrameHeader<'a> {
    pub version: FrameVersion,
    pub codec: FrameCodec,
    pub realm: &'a str,
    pub saved_at: u64,
    pub entry_count: u32,
    pub sealed: Option<SealedFields>,
    /// `H`: the body starts here.
    pub header_len: usize,
    pub body_len: usize,
}

impl FrameHeader<'_> {
    pub(crate) fn body<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[self.header_len..self.header_len + self.body_len]
    }
}

/// The checks every frame writer makes before it writes a byte (a realm of 1 to 255 bytes, at
/// most [`crate::MAX_ENTRY_COUNT`] entries); returns the header's `entry_count`.
pub(crate) fn checked_count(realm: &str, entries: &dyn EntrySource) -> Result<u32, Error> {
    check_realm_len(realm)?;
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    check_entry_count(u64::from(count))?;
    Ok(count)
}

/// `H` for a codec and a realm length.
pub(crate) fn header_len(codec: FrameCodec, realm_len: usize) -> usize {
    let sealed = match codec {
        FrameCodec::Msgpack => 0,
        FrameCodec::Sealed => SEALED_LEN,
    };
    REALM_OFFSET + realm_len + AFTER_COUNT_REL + sealed + TRAILER_LEN
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("a 4-byte slice"))
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("an 8-byte slice"))
}

fn truncated(what: &str) -> Error {
    Error::corrupt(format!("truncated binary file (it ends inside the {what})"))
}

/// Reader steps 1 and 2 of FORMAT.md, in order: magic, version, codec, flags, the file length
/// against `body_len`; then `header_crc`. After the CRC (so that damage reads as corruption,
/// not as a limit) it checks the realm's length and UTF-8 and the `entry_count` limit.
pub(crate) fn parse(bytes: &[u8]) -> Result<FrameHeader<'_>, Error> {
    check_file_size(bytes.len() as u64)?;
    if bytes.len() < MAGIC.len() || bytes[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC.len()] != MAGIC {
        return Err(Error::NotPeerFile);
    }
    let version = version_of(bytes)?;
    let codec = match bytes.get(CODEC_OFFSET) {
        None => return Err(truncated("codec byte")),
        Some(&CODEC_MSGPACK) => FrameCodec::Msgpack,
        Some(&CODEC_SEALED) => FrameCodec::Sealed,
        Some(&found) => return Err(Error::UnsupportedCodec { found }),
    };
    match bytes.get(FLAGS_OFFSET) {
        None => return Err(truncated("flags byte")),
        Some(0) => {}
        // Decision (docs/FORMAT.md): a flag bit is something a later writer asks readers to
        // honour, so an unknown one is "unsupported", like an unknown version.
        Some(&flags) => {
            return Err(Error::Unsupported {
                what: format!(
                    "header flags {flags:#04x} (this reader knows none); use a newer knownpeers"
                ),
            })
        }
    }
    let realm_len = match bytes.get(REALM_LEN_OFFSET) {
        None => return Err(truncated("realm length")),
        Some(&r) => usize::from(r),
    };
    let h = header_len(codec, realm_len);
    if bytes.len() < h {
        return Err(truncated("header"));
    }
    let body_len = le_u64(bytes, h - TRAILER_LEN);
    let trailer = match codec {
        FrameCodec::Msgpack => BODY_CRC_LEN as u64,
        FrameCodec::Sealed => 0,
    };
    let expected = body_len
        .checked_add(h as u64)
        .and_then(|n| n.checked_add(trailer));
    if expected != Some(bytes.len() as u64) {
        return Err(Error::corrupt(format!(
            "the file is {} bytes but its header says {} (truncated, or bytes appended)",
            bytes.len(),
            expected.map_or_else(|| "more than can exist".to_string(), |n| n.to_string())
        )));
    }
    let body_len = usize::try_from(body_len).expect("body_len fits: it is below the file length");

    let stored_crc = le_u32(bytes, h - 4);
    if primitives::crc32(&bytes[..h - 4]) != stored_crc {
        return Err(Error::corrupt(
            "header checksum mismatch (the header is damaged)",
        ));
    }

    if realm_len == 0 {
        return Err(Error::limit("an empty realm (a realm is 1 to 255 bytes)"));
    }
    let realm = std::str::from_utf8(&bytes[REALM_OFFSET..REALM_OFFSET + realm_len])
        .map_err(|_| Error::corrupt("the realm is not UTF-8"))?;
    let tail = REALM_OFFSET + realm_len;
    let saved_at = le_u64(bytes, tail + SAVED_AT_REL);
    let entry_count = le_u32(bytes, tail + ENTRY_COUNT_REL);
    check_entry_count(u64::from(entry_count))?;
    let sealed = match codec {
        FrameCodec::Msgpack => None,
        FrameCodec::Sealed => {
            let s = tail + AFTER_COUNT_REL;
            if body_len < TAG_LEN {
                return Err(Error::corrupt("a sealed body shorter than its 16-byte tag"));
            }
            Some(SealedFields {
                kdf: bytes[s + KDF_REL],
                m_cost: le_u32(bytes, s + M_COST_REL),
                t_cost: le_u32(bytes, s + T_COST_REL),
                p_cost: le_u32(bytes, s + P_COST_REL),
                salt: bytes[s + SALT_REL..s + SALT_REL + 16]
                    .try_into()
                    .expect("a 16-byte slice"),
                nonce: bytes[s + NONCE_REL..s + NONCE_REL + 24]
                    .try_into()
                    .expect("a 24-byte slice"),
                key_check: bytes[s + KEY_CHECK_REL..s + KEY_CHECK_REL + 32]
                    .try_into()
                    .expect("a 32-byte slice"),
            })
        }
    };
    Ok(FrameHeader {
        version,
        codec,
        realm,
        saved_at,
        entry_count,
        sealed,
        header_len: h,
        body_len,
    })
}

/// Writes a whole header into the cleared `out` with `body_len` and `header_crc` left zero;
/// [`finish_header`] fills them once the body is known. The caller has checked the realm's
/// length and the entry count.
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    version: FrameVersion,
    realm: &str,
    saved_at: u64,
    entry_count: u32,
    sealed: Option<&SealedFields>,
) {
    debug_assert!(out.is_empty());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.number().to_le_bytes());
    out.push(if sealed.is_some() {
        CODEC_SEALED
    } else {
        CODEC_MSGPACK
    });
    out.push(0);
    out.push(u8::try_from(realm.len()).expect("the caller checked the realm length"));
    out.extend_from_slice(realm.as_bytes());
    out.extend_from_slice(&saved_at.to_le_bytes());
    out.extend_from_slice(&entry_count.to_le_bytes());
    if let Some(s) = sealed {
        out.push(s.kdf);
        out.extend_from_slice(&s.m_cost.to_le_bytes());
        out.extend_from_slice(&s.t_cost.to_le_bytes());
        out.extend_from_slice(&s.p_cost.to_le_bytes());
        out.extend_from_slice(&s.salt);
        out.extend_from_slice(&s.nonce);
        out.extend_from_slice(&s.key_check);
    }
    out.extend_from_slice(&[0u8; TRAILER_LEN]);
}

/// Fills `body_len` and then `header_crc` (which covers `body_len`) of a header of length `h`.
pub(crate) fn finish_header(out: &mut [u8], h: usize, body_len: u64) {
    out[h - TRAILER_LEN..h - 4].copy_from_slice(&body_len.to_le_bytes());
    let crc = primitives::crc32(&out[..h - 4]);
    out[h - 4..h].copy_from_slice(&crc.to_le_bytes());
}
