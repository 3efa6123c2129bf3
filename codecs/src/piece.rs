//! Pre-encoded pieces of a body: the bytes of a run of consecutive entries exactly as a codec
//! writes them inside its body, which an [`EntrySource`] may keep beside its entries (the store
//! keeps one per slab leaf) so that a save concatenates them instead of encoding every entry.
//! Owns the piece encoder (one per codec body: compact, version-1 map, JSON text), the checks a
//! writer makes of the pieces a source hands it, and writing them into a body; must not know
//! frames, checksums' places, keys or files.
//!
//! Why pieces are safe to reuse: the body encodings are positional only in their array header
//! (or, for JSON, the separator before an entry), never inside an entry, so a body is its header
//! followed by its entries' bytes, and a run of entries encodes the same wherever it lands.
//! The tests compare every codec and version against the entry-by-entry writer byte for byte.

use std::sync::{Mutex, PoisonError};

use rmp::encode::{self, ByteBuf};
use zeroize::Zeroize as _;

use crate::body::{self, written};
use crate::entry::check_entry_count;
use crate::{compact, json, EntrySource, Error, PeerEntry};

/// The entry encoding of one codec body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Binary frame version 2's compact body (msgpack and sealed).
    Compact,
    /// Binary frame version 1's body of maps (msgpack and sealed).
    Map,
    /// The JSON envelope's pretty-printed entries, joined by `,\n`.
    Json,
}

/// Encodes runs of entries the way one codec body writes them. A writer hands it to
/// [`EntrySource::pieces`]; the source encodes with it what it has not kept yet, and tells its
/// kept pieces apart by [`EncodedPiece::is_for`]. It checks each entry's limits
/// ([`PeerEntry::check_limits`]) as it encodes, so a kept piece holds only writable entries.
pub struct PieceEncoder {
    encoding: Encoding,
    /// Reused for every piece of one save, then zeroized: a piece is encoded here and copied
    /// once into an exactly sized allocation, so that no growing buffer leaves plaintext (a
    /// sealed realm's body) in freed memory.
    scratch: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for PieceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PieceEncoder")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl Drop for PieceEncoder {
    fn drop(&mut self) {
        self.scratch
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .zeroize();
    }
}

impl PieceEncoder {
    pub(crate) fn new(encoding: Encoding) -> PieceEncoder {
        PieceEncoder {
            encoding,
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// Encodes `entries`, in order, into one piece, checking each entry's limits first. On
    /// error nothing is kept.
    pub fn encode<'e>(
        &self,
        entries: impl IntoIterator<Item = &'e PeerEntry> + Clone,
    ) -> Result<EncodedPiece, Error> {
        let mut bound = 0usize;
        for entry in entries.clone() {
            entry.check_limits()?;
            bound = bound.saturating_add(match self.encoding {
                Encoding::Compact | Encoding::Map => body::max_entry_len(entry),
                Encoding::Json => json::max_entry_len(entry) + 2,
            });
        }
        let mut scratch = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        scratch.clear();
        reserve_zeroizing(&mut scratch, bound);
        let (mut count, mut oldest) = (0u32, None::<u64>);
        let note = |entry: &PeerEntry, count: &mut u32, oldest: &mut Option<u64>| {
            *count += 1;
            *oldest = Some(oldest.map_or(entry.last_seen, |o| o.min(entry.last_seen)));
        };
        match self.encoding {
            Encoding::Compact | Encoding::Map => {
                let mut buf = ByteBuf::from_vec(std::mem::take(&mut *scratch));
                for entry in entries {
                    note(entry, &mut count, &mut oldest);
                    match self.encoding {
                        Encoding::Compact => compact::put_entry(entry, &mut buf),
                        _ => body::put_entry(entry, &mut buf),
                    }
                }
                *scratch = buf.into_vec();
            }
            Encoding::Json => {
                for entry in entries {
                    if count > 0 {
                        scratch.extend_from_slice(b",\n");
                    }
                    note(entry, &mut count, &mut oldest);
                    json::put_entry(&mut scratch, entry);
                }
            }
        }
        debug_assert!(scratch.len() <= bound, "the bound holds");
        let bytes: Box<[u8]> = Box::from(&scratch[..]);
        scratch.zeroize();
        Ok(EncodedPiece {
            encoding: self.encoding,
            bytes,
            count,
            oldest,
        })
    }
}

/// Grows `v` to hold `extra` more bytes, moving it into a new allocation by hand so the old one
/// is zeroized rather than freed with plaintext in it.
fn reserve_zeroizing(v: &mut Vec<u8>, extra: usize) {
    if v.capacity() - v.len() < extra {
        let mut bigger = Vec::with_capacity(v.len().saturating_add(extra).max(2 * v.capacity()));
        bigger.extend_from_slice(v);
        v.zeroize();
        *v = bigger;
    }
}

/// The encoded bytes of a run of entries for one codec body, with the entry count and the
/// oldest `last_seen` among them (so that a keeper can tell when one of them may have expired
/// and the piece must not be written). Immutable once made; zeroized when dropped (it may be a
/// sealed realm's plaintext). `Debug` shows counts only: the bytes are peer data.
pub struct EncodedPiece {
    encoding: Encoding,
    bytes: Box<[u8]>,
    count: u32,
    oldest: Option<u64>,
}

impl std::fmt::Debug for EncodedPiece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedPiece")
            .field("encoding", &self.encoding)
            .field("entries", &self.count)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Drop for EncodedPiece {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl EncodedPiece {
    /// Whether `encoder` made this piece's encoding (a piece kept for another codec body is
    /// not written).
    pub fn is_for(&self, encoder: &PieceEncoder) -> bool {
        self.encoding == encoder.encoding
    }
    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The smallest `last_seen` of its entries; `None` when it holds none.
    pub fn oldest_last_seen(&self) -> Option<u64> {
        self.oldest
    }
    /// Heap bytes it holds (its encoded bytes), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// One piece handed to a writer: kept by the source, or encoded for this save only (an entry of
/// it may have expired since it was kept, or the source keeps another encoding).
#[derive(Debug)]
pub enum Piece<'a> {
    /// A piece the source keeps.
    Kept(&'a EncodedPiece),
    /// A piece encoded for this save.
    Fresh(EncodedPiece),
}

impl Piece<'_> {
    /// The piece, kept or fresh.
    pub fn encoded(&self) -> &EncodedPiece {
        match self {
            Piece::Kept(p) => p,
            Piece::Fresh(p) => p,
        }
    }
}

/// The pieces of a whole body, checked.
pub(crate) struct Pieces<'a> {
    list: Vec<Piece<'a>>,
    count: u32,
    /// Sum of the pieces' byte lengths.
    bytes: usize,
}

/// The pieces of `entries` in `encoding`, if the source keeps pieces and vouches for unique
/// addresses ([`EntrySource::addrs_unique`]: the duplicate check is skipped either way then);
/// `None` tells the writer to encode entry by entry. Fails when a piece has another encoding
/// or the pieces hold another number of entries than `entries.len()`.
pub(crate) fn pieces_of(
    entries: &dyn EntrySource,
    encoding: Encoding,
) -> Result<Option<Pieces<'_>>, Error> {
    if !entries.addrs_unique() {
        return Ok(None);
    }
    let expected = entries.len();
    check_entry_count(expected as u64)?;
    let encoder = PieceEncoder::new(encoding);
    let list = match entries.pieces(&encoder) {
        None => return Ok(None),
        Some(list) => list?,
    };
    let (mut count, mut bytes) = (0usize, 0usize);
    for piece in &list {
        let p = piece.encoded();
        if !p.is_for(&encoder) {
            return Err(Error::InvalidInput {
                what: "the entry source handed a piece of another encoding".into(),
            });
        }
        count += p.len();
        bytes = bytes.saturating_add(p.bytes.len());
    }
    if count != expected {
        return Err(Error::InvalidInput {
            what: format!("the entry source said {expected} entries but its pieces hold {count}"),
        });
    }
    Ok(Some(Pieces {
        list,
        count: u32::try_from(count).expect("check_entry_count bounds the count to 10M"),
        bytes,
    }))
}

impl Pieces<'_> {
    /// How many entries the pieces hold.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The length of the binary body [`Pieces::write_binary`] appends.
    pub(crate) fn binary_len(&self) -> usize {
        // The array header is at most an array32 (5 bytes).
        self.bytes.saturating_add(5)
    }

    /// Appends a binary body (the entry array's header, then every piece) to `out`, which
    /// must have room for [`Pieces::binary_len`] more bytes, and returns the body's CRC-32
    /// when `crc` asks for it, computed piece by piece while each is in cache.
    pub(crate) fn write_binary(&self, out: &mut Vec<u8>, crc: bool) -> Option<u32> {
        let start = out.len();
        let mut buf = ByteBuf::from_vec(std::mem::take(out));
        written(encode::write_array_len(&mut buf, self.count));
        *out = buf.into_vec();
        let mut hasher = crc.then(crc32fast::Hasher::new);
        if let Some(h) = &mut hasher {
            h.update(&out[start..]);
        }
        for piece in &self.list {
            let bytes = &piece.encoded().bytes;
            out.extend_from_slice(bytes);
            if let Some(h) = &mut hasher {
                h.update(bytes);
            }
        }
        hasher.map(crc32fast::Hasher::finalize)
    }

    /// The length of the JSON entries [`Pieces::write_json`] appends.
    pub(crate) fn json_len(&self) -> usize {
        self.bytes.saturating_add(2 * self.list.len())
    }

    /// Appends the JSON envelope's entries: a newline before the first, `,\n` between two.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let mut first = true;
        for piece in self
            .list
            .iter()
            .map(Piece::encoded)
            .filter(|p| !p.is_empty())
        {
            out.extend_from_slice(if first { b"\n" } else { b",\n" });
            first = false;
            out.extend_from_slice(&piece.bytes);
        }
    }
}
