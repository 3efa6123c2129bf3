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

use rmp::encode::{self, ByteBuf};

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
/// [`EntrySource::pieces`]; the source encodes with it the runs it wants to keep, and tells its
/// kept pieces apart by [`EncodedPiece::is_for`]. It checks each entry's limits
/// ([`PeerEntry::check_limits`]) as it encodes, so a kept piece holds only writable entries.
#[derive(Debug)]
pub struct PieceEncoder {
    encoding: Encoding,
}

impl PieceEncoder {
    pub(crate) fn new(encoding: Encoding) -> PieceEncoder {
        PieceEncoder { encoding }
    }

    /// The most bytes `entry` takes in this encoding (with its separator, for JSON).
    fn max_len(&self, entry: &PeerEntry) -> usize {
        match self.encoding {
            Encoding::Compact | Encoding::Map => body::max_entry_len(entry),
            Encoding::Json => json::max_entry_len(entry) + 2,
        }
    }

    /// Appends `entry` to `out` (after a `,\n` for a JSON entry that is not its piece's first).
    fn put(&self, entry: &PeerEntry, first: bool, out: &mut Vec<u8>) {
        match self.encoding {
            Encoding::Compact | Encoding::Map => {
                let mut buf = ByteBuf::from_vec(std::mem::take(out));
                match self.encoding {
                    Encoding::Compact => compact::put_entry(entry, &mut buf),
                    _ => body::put_entry(entry, &mut buf),
                }
                *out = buf.into_vec();
            }
            Encoding::Json => {
                if !first {
                    out.extend_from_slice(b",\n");
                }
                json::put_entry(out, entry);
            }
        }
    }

    /// Encodes `entries`, in order, into one piece, checking each entry's limits first. The
    /// piece is allocated once, at the bound of its entries, and shrunk to fit.
    pub fn encode<'e>(
        &self,
        entries: impl IntoIterator<Item = &'e PeerEntry> + Clone,
    ) -> Result<EncodedPiece, Error> {
        let mut bound = 0usize;
        for entry in entries.clone() {
            entry.check_limits()?;
            bound = bound.saturating_add(self.max_len(entry));
        }
        let mut bytes = Vec::with_capacity(bound);
        let (mut count, mut oldest) = (0u32, None::<u64>);
        for entry in entries {
            self.put(entry, count == 0, &mut bytes);
            count += 1;
            oldest = Some(oldest.map_or(entry.last_seen, |o: u64| o.min(entry.last_seen)));
        }
        debug_assert!(bytes.len() <= bound, "the bound holds");
        Ok(EncodedPiece {
            encoding: self.encoding,
            bytes: bytes.into_boxed_slice(),
            count,
            oldest,
        })
    }
}

/// The encoded bytes of a run of entries for one codec body, with the entry count and the
/// oldest `last_seen` among them (so that a keeper can tell when one of them may have expired
/// and the piece must not be written). Immutable once made. `Debug` shows counts only: the
/// bytes are peer data. Like the store's entries themselves (whose strings are freed without
/// zeroizing), it is not zeroized when dropped: it is a copy of what the running node holds in
/// plaintext anyway (SECURITY.md), and byte-wise volatile zeroing of every replaced piece
/// cost as much as encoding it.
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

/// One run of consecutive entries handed to a writer: a piece the source keeps, or entries the
/// writer encodes itself for this save (the source keeps another encoding for them, or one of
/// them may have expired since it was kept and the run is handed without the expired ones).
#[derive(Debug)]
pub enum Piece<'a> {
    /// A piece the source keeps, made by this writer's encoder.
    Kept(&'a EncodedPiece),
    /// Entries to encode now, in order.
    Entries(Vec<&'a PeerEntry>),
}

impl Piece<'_> {
    /// How many entries it holds.
    pub fn len(&self) -> usize {
        match self {
            Piece::Kept(p) => p.len(),
            Piece::Entries(e) => e.len(),
        }
    }
    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The pieces of a whole body, checked.
pub(crate) struct Pieces<'a> {
    encoder: PieceEncoder,
    list: Vec<Piece<'a>>,
    count: u32,
    /// The most bytes the pieces take: kept pieces' lengths, entries' bounds (with a JSON
    /// separator per piece).
    bound: usize,
}

/// The pieces of `entries` in `encoding`, if the source keeps pieces and vouches for unique
/// addresses ([`EntrySource::addrs_unique`]: the duplicate check is skipped either way then);
/// `None` tells the writer to encode entry by entry. Fails when a kept piece has another
/// encoding or the pieces hold another number of entries than `entries.len()`.
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
    let (mut count, mut bound) = (0usize, 0usize);
    for piece in &list {
        match piece {
            Piece::Kept(p) if !p.is_for(&encoder) => {
                return Err(Error::InvalidInput {
                    what: "the entry source handed a piece of another encoding".into(),
                })
            }
            Piece::Kept(p) => bound = bound.saturating_add(p.bytes.len()),
            Piece::Entries(run) => {
                for entry in run {
                    entry.check_limits()?;
                    bound = bound.saturating_add(encoder.max_len(entry));
                }
            }
        }
        bound = bound.saturating_add(2);
        count += piece.len();
    }
    if count != expected {
        return Err(Error::InvalidInput {
            what: format!("the entry source said {expected} entries but its pieces hold {count}"),
        });
    }
    Ok(Some(Pieces {
        encoder,
        list,
        count: u32::try_from(count).expect("check_entry_count bounds the count to 10M"),
        bound,
    }))
}

impl Pieces<'_> {
    /// How many entries the pieces hold.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The most bytes [`Pieces::write_binary`] or [`Pieces::write_json`] appends.
    pub(crate) fn max_len(&self) -> usize {
        // A binary entry array's header is at most an array32 (5 bytes).
        self.bound.saturating_add(5)
    }

    /// Appends a binary body (the entry array's header, then every piece: kept bytes copied,
    /// entries encoded) to `out`, which must have room for [`Pieces::max_len`] more bytes,
    /// and returns the body's CRC-32 when `crc` asks for it, computed piece by piece while
    /// each is in cache. Entry limits were checked by [`pieces_of`] or when a piece was kept.
    pub(crate) fn write_binary(&self, out: &mut Vec<u8>, crc: bool) -> Option<u32> {
        let start = out.len();
        let mut buf = ByteBuf::from_vec(std::mem::take(out));
        written(encode::write_array_len(&mut buf, self.count));
        *out = buf.into_vec();
        let mut hasher = crc.then(crc32fast::Hasher::new);
        let mut from = start;
        for piece in &self.list {
            match piece {
                Piece::Kept(p) => out.extend_from_slice(&p.bytes),
                Piece::Entries(run) => {
                    for entry in run {
                        self.encoder.put(entry, true, out);
                    }
                }
            }
            if let Some(h) = &mut hasher {
                h.update(&out[from..]);
            }
            from = out.len();
        }
        if let Some(h) = &mut hasher {
            h.update(&out[from..]);
        }
        hasher.map(crc32fast::Hasher::finalize)
    }

    /// Appends the JSON envelope's entries: a newline before the first, `,\n` between two.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let mut first = true;
        for piece in self.list.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(if first { b"\n" } else { b",\n" });
            first = false;
            match piece {
                Piece::Kept(p) => out.extend_from_slice(&p.bytes),
                Piece::Entries(run) => {
                    for (i, entry) in run.iter().enumerate() {
                        self.encoder.put(entry, i == 0, out);
                    }
                }
            }
        }
    }
}
