//! The msgpack codec: a binary frame with a MessagePack body and CRC-32s over header and body.
//! Owns the msgpack-only parts of the reader order (the body checksum); the frame layout lives
//! in `frame`, the body in `body`.

use crate::entry::check_file_size;
use crate::frame::{self, FrameCodec, FrameHeader, BODY_CRC_LEN};
use crate::{body, primitives, read, Codec, CodecKind, EntrySource, Error, PeerEntry, PeerFile};

/// The MessagePack frame codec (CRC-32 over header and body).
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgpackCodec;

/// The body of a msgpack frame whose header passed [`frame::parse`] and whose realm and
/// policy the caller has checked: the body CRC, then the body.
pub(crate) fn decode_body(bytes: &[u8], header: &FrameHeader<'_>) -> Result<Vec<PeerEntry>, Error> {
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
    body::decode(body, header.entry_count)
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
        // Roughly 64 bytes per entry: one allocation for a typical file.
        out.reserve(frame::header_len(FrameCodec::Msgpack, realm.len()) + 64 * entries.len() + 8);
        frame::write_header(out, realm, saved_at, count, None);
        let h = out.len();
        if let Err(e) = body::encode(entries, out) {
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
            other => return Err(read::wrong_codec(other, CodecKind::Msgpack)),
        }
        let header = frame::parse(bytes)?;
        read::check_realm(header.realm, realm)?;
        let entries = decode_body(bytes, &header)?;
        Ok(PeerFile {
            realm: header.realm.to_owned(),
            saved_at: header.saved_at,
            entries,
        })
    }
}
