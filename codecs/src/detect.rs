//! Format detection from a file's first bytes (FORMAT.md's table). Owns the sniffing rules
//! only; must not parse beyond the frame's first 11 bytes.

use crate::frame::{version_of, CODEC_MSGPACK, CODEC_OFFSET, CODEC_SEALED};
use crate::json::UTF8_BOM;
use crate::{Error, MAGIC};

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

impl Format {
    /// The name `knownpeers inspect` prints (`json`, `legacy`, `msgpack`, `sealed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Legacy => "legacy",
            Format::Msgpack => "msgpack",
            Format::Sealed => "sealed",
        }
    }
}

/// What the first bytes say the file is ([`Error::NotPeerFile`] for anything else).
///
/// A text file may start with a UTF-8 BOM and JSON whitespace before its `{` (JSON) or `[`
/// (legacy). A binary frame is judged in the reader's order as far as its first 11 bytes go:
/// a frame cut before its codec byte is [`Error::Corrupt`], a version other than 1 or 2
/// [`Error::UnsupportedVersion`], an unknown codec byte [`Error::UnsupportedCodec`].
pub fn detect(bytes: &[u8]) -> Result<Format, Error> {
    if bytes.starts_with(&MAGIC) {
        version_of(bytes)?;
        return match bytes.get(CODEC_OFFSET) {
            Some(&CODEC_MSGPACK) => Ok(Format::Msgpack),
            Some(&CODEC_SEALED) => Ok(Format::Sealed),
            Some(&found) => Err(Error::UnsupportedCodec { found }),
            None => Err(Error::corrupt(
                "truncated binary file (it ends inside the codec byte)",
            )),
        };
    }
    let text = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    match text
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        Some(b'{') => Ok(Format::Json),
        Some(b'[') => Ok(Format::Legacy),
        _ => Err(Error::NotPeerFile),
    }
}
