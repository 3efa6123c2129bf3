//! The msgpack codec: a binary frame with a MessagePack body and CRC-32s over header and body.
//! Owns the msgpack-only parts of the reader order (the body checksum) and the choice of body
//! by frame version; the frame layout lives in `frame`, the bodies in `body` (version 1) and
//! `compact` (version 2).

use crate::entry::check_file_size;
use crate::frame::{self, FrameCodec, FrameHeader, FrameVersion, BODY_CRC_LEN};
use crate::{
    body, check, compact, piece, primitives, Codec, CodecKind, EntrySource, Error, PeerEntry,
    PeerFile,
};

/// The MessagePack frame codec (CRC-32 over header and body). It reads binary frame versions
/// 1 and 2 and writes the version it was built with: [`MsgpackCodec::default`] and the value
/// `MsgpackCodec` write version 2, [`MsgpackCodec::with_frame_version`] writes version 1 for
/// a node whose reader knows only version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgpackCodec {
    version: FrameVersion,
}

/// The default msgpack codec, writing the latest frame version: the value that a unit struct
/// `MsgpackCodec` was before the codec carried a version, so `&MsgpackCodec` keeps meaning
/// "the msgpack codec" (a braced struct lives in the type namespace only, this constant in the
/// value namespace).
#[allow(non_upper_case_globals)]
pub const MsgpackCodec: MsgpackCodec = MsgpackCodec::with_frame_version(FrameVersion::LATEST);

impl MsgpackCodec {
    /// A codec writing binary frame version `version`.
    pub const fn with_frame_version(version: FrameVersion) -> MsgpackCodec {
        MsgpackCodec { version }
    }

    /// The binary frame version this codec writes.
    pub fn frame_version(&self) -> FrameVersion {
        self.version
    }
}

impl Default for MsgpackCodec {
    fn default() -> MsgpackCodec {
        MsgpackCodec
    }
}

/// The body of a msgpack frame whose header passed [`frame::parse`] and whose realm and
/// policy the caller has checked: the body CRC, then the body of the header's version
/// (checked for repeated addresses unless `check_dups` is false).
pub(crate) fn decode_body(
    bytes: &[u8],
    header: &FrameHeader<'_>,
    check_dups: bool,
) -> Result<Vec<PeerEntry>, Error> {
    let body = header.body(bytes);
    let end = header.header_len + header.body_len;
    let stored = u32::from_le_bytes(
        bytes[end..end + BODY_CRC_LEN]
            .try_into()
            .expect("frame::parse checked the file length"),
    );
    if primitives::crc32(body) != stored {
        return Err(Error::corrupt(
            "body checksum mismatch (the body is damaged)",
        ));
    }
    match header.version {
        FrameVersion::V1 => body::decode(body, header.entry_count, check_dups),
        FrameVersion::V2 => compact::decode(body, header.entry_count, check_dups),
    }
}

/// The entry encoding of a binary frame version's body (both binary codecs share it).
pub(crate) fn body_encoding(version: FrameVersion) -> piece::Encoding {
    match version {
        FrameVersion::V1 => piece::Encoding::Map,
        FrameVersion::V2 => piece::Encoding::Compact,
    }
}

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
        out.clear();
        let count = frame::checked_count(realm, entries)?;
        if let Some(pieces) = piece::pieces_of(entries, body_encoding(self.version))? {
            // Kept pieces: the body is their concatenation, checksummed as it is copied.
            let h = frame::header_len(FrameCodec::Msgpack, realm.len());
            out.reserve(h + pieces.max_len() + BODY_CRC_LEN);
            frame::write_header(out, self.version, realm, saved_at, pieces.count(), None);
            let crc = pieces
                .write_binary(out, true)
                .expect("asked for the checksum");
            let body_len = (out.len() - h) as u64;
            frame::finish_header(out, h, body_len);
            out.extend_from_slice(&crc.to_le_bytes());
            return check_file_size(out.len() as u64).inspect_err(|_| out.clear());
        }
        // Roughly 64 bytes per entry: one allocation for a typical file.
        out.reserve(frame::header_len(FrameCodec::Msgpack, realm.len()) + 64 * entries.len() + 8);
        frame::write_header(out, self.version, realm, saved_at, count, None);
        let h = out.len();
        let encoded = match self.version {
            FrameVersion::V1 => body::encode(entries, out),
            FrameVersion::V2 => compact::encode(entries, out),
        };
        if let Err(e) = encoded {
            out.clear();
            return Err(e);
        }
        let body_len = (out.len() - h) as u64;
        frame::finish_header(out, h, body_len);
        let crc = primitives::crc32(&out[h..]);
        out.extend_from_slice(&crc.to_le_bytes());
        check_file_size(out.len() as u64).inspect_err(|_| out.clear())
    }

    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error> {
        match crate::detect(bytes)? {
            crate::Format::Msgpack => {}
            other => return Err(check::wrong_codec(other, CodecKind::Msgpack)),
        }
        let header = frame::parse(bytes)?;
        check::realm(header.realm, realm)?;
        let entries = decode_body(bytes, &header, true)?;
        Ok(PeerFile {
            realm: header.realm.to_owned(),
            saved_at: header.saved_at,
            entries,
        })
    }
}
