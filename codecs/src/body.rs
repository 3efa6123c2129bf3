//! The MessagePack body of binary frame version 1, shared by the msgpack and sealed codecs
//! (FORMAT.md "Body"): an array with one map per entry. Owns that body's encoder and its
//! bounded, allocation-careful parser, and the strict MessagePack [`Reader`] that the version-2
//! body (`compact`) parses with too; must not know about frames, checksums or keys, and must
//! never put a decoded value (peer data) into an error message.
//!
//! The wire primitives (markers, lengths, shortest forms) are rmp's; this file adds what makes
//! the parser strict and safe on hostile input: counts bounded by the bytes left before any
//! loop or allocation, limits before allocation, duplicate addresses, a depth-limited skip of
//! unknown fields, no trailing bytes. rmp cost no measurable time against the hand-written
//! markers it replaced: on the 1M-entry msgpack `encode_speed` example, the fastest of 12
//! interleaved runs was 234 ms before and 228 ms after to encode, 318 and 307 ms to decode
//! (a shared 2-core machine, so within its noise); callgrind counts 5% more instructions in
//! `encode` and 4% more in `decode`, the price of rmp's generic marker handling.

use std::convert::Infallible;

use rmp::decode::bytes::BytesReadError;
use rmp::decode::{self, Bytes, NumValueReadError, ValueReadError};
use rmp::encode::{self, ByteBuf, ValueWriteError};
use rmp::Marker;

use crate::addr::{self, AddrText};
use crate::entry::{
    check_capability_count, check_capability_len, check_node_id_len, Side, UniqueAddrs, WriteCheck,
};
use crate::{EntrySource, Error, PeerEntry, PeerSource};

/// The fewest bytes one encoded entry can take: a fixmap header, then `addr` with the shortest
/// address (`0.0.0.0:0`), `source` with the shortest name (`Gossip`) and `last_seen` as a
/// positive fixint. Used to bound preallocation by the bytes actually present.
const MIN_ENTRY_BYTES: usize = 1 + (1 + 4) + (1 + 9) + (1 + 6) + (1 + 6) + (1 + 9) + 1;

/// Deepest nesting of an unknown value a reader skips; deeper input is refused rather than
/// recursed into.
const MAX_SKIP_DEPTH: u32 = 32;

/// Unwraps an rmp write into a `ByteBuf`, whose error type is `Infallible`: the compiler, not
/// a runtime check, proves that no write can fail.
pub(crate) fn written<T>(result: Result<T, ValueWriteError<Infallible>>) -> T {
    match result {
        Ok(v) => v,
        Err(
            ValueWriteError::InvalidMarkerWrite(never) | ValueWriteError::InvalidDataWrite(never),
        ) => match never {},
    }
}

/// A string in its shortest form (fixstr, str8, str16, str32), as rmp chooses it. Every string
/// written is at most 255 bytes (checked by `WriteCheck` first), so rmp's `len as u32` never
/// truncates.
fn put_str(out: &mut ByteBuf, s: &str) {
    written(encode::write_str(out, s));
}

/// An unsigned integer in its shortest form (positive fixint, uint8..uint64).
fn put_uint(out: &mut ByteBuf, v: u64) {
    written(encode::write_uint(out, v));
}

/// An array header in its shortest form (fixarray, array16, array32).
fn put_array_len(out: &mut ByteBuf, n: u32) {
    written(encode::write_array_len(out, n));
}

/// A map header in its shortest form (fixmap, map16, map32).
fn put_map_len(out: &mut ByteBuf, n: u32) {
    written(encode::write_map_len(out, n));
}

/// Appends the body of `entries` to `out` and returns the entry count, checking every entry
/// limit and address uniqueness on the way, so that no writer produces a file a reader
/// rejects. rmp writes each value in its shortest form, as Python msgpack does, so the output
/// equals the independent implementation's byte for byte (the conformance test compares it
/// with the vectors).
pub(crate) fn encode(entries: &dyn EntrySource, out: &mut Vec<u8>) -> Result<u32, Error> {
    // rmp's own growable buffer, lent `out`'s allocation and handed back on every path. Its
    // error type is `Infallible` and its one-byte writes are a `push`; writing through
    // `io::Write for Vec<u8>` instead took 19% more instructions per encode (callgrind).
    let mut buf = ByteBuf::from_vec(std::mem::take(out));
    let result = encode_entries(entries, &mut buf);
    *out = buf.into_vec();
    result
}

/// The bytes a string of `len` bytes takes in its shortest form (header and payload).
fn str_size(len: usize) -> usize {
    let header = match len {
        0..=31 => 1,
        32..=255 => 2,
        256..=65_535 => 3,
        _ => 5,
    };
    len.saturating_add(header)
}

/// The longest an IPv4 address prints: `255.255.255.255:65535`.
const MAX_V4_ADDR_TEXT: usize = 21;

/// An upper bound on the bytes [`encode`] appends for `entries`, so that a caller sealing the
/// body can allocate once: a buffer that grows leaves the plaintext it held in freed memory.
/// Exact for every field but the address, which is counted at its family's longest.
pub(crate) fn max_encoded_len(entries: &dyn EntrySource) -> usize {
    // The array header is at most an array32 (5 bytes).
    let mut total: usize = 5;
    for entry in entries.entries() {
        total = total.saturating_add(max_entry_len(entry));
    }
    total
}

/// The most bytes [`put_entry`] can write for `entry`; it also bounds the compact body's
/// entry (positional fields, a binary address: never longer).
pub(crate) fn max_entry_len(entry: &PeerEntry) -> usize {
    let addr = match entry.addr {
        std::net::SocketAddr::V4(_) => MAX_V4_ADDR_TEXT,
        std::net::SocketAddr::V6(_) => addr::MAX_ADDR_TEXT,
    };
    // A map of at most five fields is a one-byte fixmap; source names are at most 9 bytes;
    // a u64 takes at most 9 bytes.
    let mut n = 1 + str_size(4) + str_size(addr) + str_size(6) + str_size(9) + str_size(9) + 9;
    if let Some(id) = &entry.node_id {
        n = n.saturating_add(str_size(7) + str_size(id.len()));
    }
    if !entry.capabilities.is_empty() {
        // An array header is at most 5 bytes (array32).
        n = n.saturating_add(str_size(12) + 5);
        for cap in &entry.capabilities {
            n = n.saturating_add(str_size(cap.len()));
        }
    }
    n
}

fn encode_entries(entries: &dyn EntrySource, out: &mut ByteBuf) -> Result<u32, Error> {
    let expected = entries.len();
    let mut check = WriteCheck::new(entries)?;
    let count = u32::try_from(expected).expect("check_entry_count bounds the count to 10M");
    put_array_len(out, count);
    for entry in entries.entries() {
        check.check(entry)?;
        put_entry(entry, out);
    }
    check.finish(expected)?;
    Ok(count)
}

/// Appends one entry's map. The caller has checked its limits ([`PeerEntry::check_limits`]):
/// every length then fits the header rmp writes.
pub(crate) fn put_entry(entry: &PeerEntry, out: &mut ByteBuf) {
    let fields = 3 + u32::from(entry.node_id.is_some()) + u32::from(!entry.capabilities.is_empty());
    put_map_len(out, fields);
    put_str(out, "addr");
    put_str(out, AddrText::new(&entry.addr).as_str());
    put_str(out, "source");
    put_str(out, entry.source.as_str());
    put_str(out, "last_seen");
    put_uint(out, entry.last_seen);
    if let Some(id) = &entry.node_id {
        put_str(out, "node_id");
        put_str(out, id);
    }
    if !entry.capabilities.is_empty() {
        put_str(out, "capabilities");
        let n = u32::try_from(entry.capabilities.len()).expect("check_limits bounds it to 32");
        put_array_len(out, n);
        for cap in &entry.capabilities {
            put_str(out, cap);
        }
    }
}

/// Parses a whole body that must hold exactly `entry_count` entries, refusing a repeated
/// address as it goes unless `check_dups` is false (the caller applies that rule itself).
pub(crate) fn decode(
    body: &[u8],
    entry_count: u32,
    check_dups: bool,
) -> Result<Vec<PeerEntry>, Error> {
    let mut rd = Reader::new(body);
    let len = rd.array_len().map_err(|e| e.at("the entry array"))?;
    if len != entry_count {
        return Err(Error::corrupt(format!(
            "the header says {entry_count} entries but the body holds {len}"
        )));
    }
    // Invariant: no allocation is sized by a count from the file alone; the bytes present
    // bound it (each entry takes at least MIN_ENTRY_BYTES).
    let capacity = (len as usize).min(rd.remaining() / MIN_ENTRY_BYTES + 1);
    let mut entries = Vec::with_capacity(capacity);
    let mut unique = check_dups.then(|| UniqueAddrs::new(Side::Read, capacity));
    for index in 0..len as usize {
        let entry = decode_entry(&mut rd, index)?;
        if let Some(unique) = &mut unique {
            unique.insert(entry.addr, index)?;
        }
        entries.push(entry);
    }
    if rd.remaining() != 0 {
        return Err(Error::corrupt("bytes after the last entry of the body"));
    }
    Ok(entries)
}

fn decode_entry(rd: &mut Reader<'_>, index: usize) -> Result<PeerEntry, Error> {
    let in_entry = |e: ParseError| e.at(&format!("entry {index}"));
    let field_err =
        |field: &str, what: &str| Error::corrupt(format!("entry {index}: `{field}` {what}"));
    let fields = rd.map_len().map_err(in_entry)?;
    let mut addr = None;
    let mut source = None;
    let mut last_seen = None;
    let mut node_id: Option<Option<String>> = None;
    let mut capabilities: Option<Vec<String>> = None;
    for _ in 0..fields {
        let key = rd.str_bytes().map_err(in_entry)?;
        let repeated = match key {
            b"addr" => {
                let text = rd.str().map_err(in_entry)?;
                let parsed = addr::parse(text.as_bytes())
                    .ok_or_else(|| field_err("addr", "is not a socket address"))?;
                addr.replace(parsed).is_some()
            }
            b"source" => {
                let name = rd.str_bytes().map_err(in_entry)?;
                let parsed = PeerSource::from_name_bytes(name)
                    .ok_or_else(|| field_err("source", "is not Bootstrap, Gossip or Connected"))?;
                source.replace(parsed).is_some()
            }
            b"last_seen" => last_seen.replace(rd.uint().map_err(in_entry)?).is_some(),
            b"node_id" => {
                // A nil node_id means absent, as an omitted one does.
                let value = if rd.nil() {
                    None
                } else {
                    let text = rd.str().map_err(in_entry)?;
                    check_node_id_len(text.len())?;
                    Some(text.to_owned())
                };
                node_id.replace(value).is_some()
            }
            b"capabilities" => {
                let caps = if rd.nil() {
                    Vec::new()
                } else {
                    // The limit is judged before the bytes left, so that too many
                    // capabilities read as the limit they break, not as a truncation.
                    let n = rd.array_len_unchecked().map_err(in_entry)?;
                    check_capability_count(n as usize)?;
                    let n = rd.check_count(n).map_err(in_entry)? as usize;
                    let mut caps = Vec::with_capacity(n);
                    for _ in 0..n {
                        let cap = rd.str().map_err(in_entry)?;
                        check_capability_len(cap.len())?;
                        caps.push(cap.to_owned());
                    }
                    caps
                };
                capabilities.replace(caps).is_some()
            }
            // A later minor revision may add optional fields: skip them whole (their key need
            // not even be UTF-8, since it is never used).
            _ => {
                rd.skip(0).map_err(in_entry)?;
                false
            }
        };
        if repeated {
            // Only the five known keys can repeat, and they are ASCII.
            let key = std::str::from_utf8(key).unwrap_or("?");
            return Err(field_err(key, "appears twice"));
        }
    }
    Ok(PeerEntry {
        addr: addr.ok_or_else(|| field_err("addr", "is missing"))?,
        source: source.ok_or_else(|| field_err("source", "is missing"))?,
        last_seen: last_seen.ok_or_else(|| field_err("last_seen", "is missing"))?,
        node_id: node_id.flatten(),
        capabilities: capabilities.unwrap_or_default(),
    })
}

/// A low-level MessagePack parse failure; turned into [`Error::Corrupt`] with its context.
/// `short` marks a failure that more bytes could have avoided (the input ran out, or a count
/// is larger than the bytes left): a reader fed chunk by chunk waits for the next chunk on
/// it, anywhere else it is corrupt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParseError {
    what: &'static str,
    pub(crate) short: bool,
}

/// A failure that more bytes would not have avoided.
const fn bad(what: &'static str) -> ParseError {
    ParseError { what, short: false }
}

impl ParseError {
    pub(crate) fn at(self, context: &str) -> Error {
        Error::corrupt(format!("{context}: {}", self.what))
    }
}

/// Failures that the parser reports in the same words whichever rmp reader met them.
const TRUNCATED: ParseError = ParseError {
    what: "truncated value",
    short: true,
};
const TOO_MANY: ParseError = ParseError {
    what: "a count larger than the bytes left",
    short: true,
};
const NEGATIVE: ParseError = bad("expected an unsigned integer, found a negative one");

/// Classifies an rmp read failure: a value of another type is `mismatch`, anything else is the
/// input running out. rmp's errors are never shown, since they may hold peer bytes.
fn value_error(e: ValueReadError<BytesReadError>, mismatch: &'static str) -> ParseError {
    match e {
        ValueReadError::TypeMismatch(_) => bad(mismatch),
        ValueReadError::InvalidMarkerRead(_) | ValueReadError::InvalidDataRead(_) => TRUNCATED,
    }
}

/// A cursor over MessagePack bytes: rmp's slice reader, which checks the bytes left before
/// every read. On top of it this type bounds every count by the bytes left, so no input can
/// make a loop or an allocation larger than the input.
pub(crate) struct Reader<'a> {
    rd: Bytes<'a>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            rd: Bytes::new(buf),
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rd.remaining_slice().len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let rest = self.rd.remaining_slice();
        if n > rest.len() {
            return Err(TRUNCATED);
        }
        let (bytes, tail) = rest.split_at(n);
        self.rd = Bytes::new(tail);
        Ok(bytes)
    }

    /// Consumes a nil if one is next.
    pub(crate) fn nil(&mut self) -> bool {
        let mut probe = self.rd;
        if decode::read_nil(&mut probe).is_ok() {
            self.rd = probe;
            return true;
        }
        false
    }

    pub(crate) fn array_len(&mut self) -> Result<u32, ParseError> {
        let len = self.array_len_unchecked()?;
        self.check_count(len)
    }

    /// An array's length not yet bounded by the bytes left: for a caller that bounds it by
    /// something else (the version-2 body's array, whose bytes may not all be here yet) or that
    /// must judge a limit first; it must bound the count before any loop or allocation.
    pub(crate) fn array_len_unchecked(&mut self) -> Result<u32, ParseError> {
        decode::read_array_len(&mut self.rd).map_err(|e| value_error(e, "expected an array"))
    }

    fn map_len(&mut self) -> Result<u32, ParseError> {
        let len =
            decode::read_map_len(&mut self.rd).map_err(|e| value_error(e, "expected a map"))?;
        // A map of n pairs needs at least 2n bytes.
        self.check_count(len.saturating_mul(2))?;
        Ok(len)
    }

    /// Every element takes at least one byte, so a count over the bytes left is corrupt; this
    /// keeps loops and allocations bounded by the input.
    fn check_count(&self, count: u32) -> Result<u32, ParseError> {
        if count as usize > self.remaining() {
            return Err(TOO_MANY);
        }
        Ok(count)
    }

    /// A `bin` value's bytes (a `str` is a type mismatch).
    pub(crate) fn bin(&mut self) -> Result<&'a [u8], ParseError> {
        let len = decode::read_bin_len(&mut self.rd).map_err(|e| value_error(e, "expected bin"))?;
        self.take(len as usize)
    }

    /// A string's bytes, not yet checked to be UTF-8: a key or a `source` is compared with
    /// ASCII names directly, which is a third of a decode's UTF-8 checks saved.
    fn str_bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let len =
            decode::read_str_len(&mut self.rd).map_err(|e| value_error(e, "expected a string"))?;
        self.take(len as usize)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, ParseError> {
        std::str::from_utf8(self.str_bytes()?).map_err(|_| bad("a string is not UTF-8"))
    }

    /// Any non-negative integer that fits in a u64, in any of MessagePack's integer forms
    /// (signed ones too): rmp's `read_int` reports a negative one as out of a u64's range.
    ///
    /// The unsigned forms, which writers use, are read here directly (payload widths from the
    /// MessagePack spec: the marker, then 0, 1, 2, 4 or 8 big-endian bytes): rmp's generic
    /// `read_int` was a quarter of a version-2 decode's time. Everything else goes to rmp.
    pub(crate) fn uint(&mut self) -> Result<u64, ParseError> {
        let rest = self.rd.remaining_slice();
        let be = |n: usize| -> Result<u64, ParseError> {
            let bytes = rest.get(1..1 + n).ok_or(TRUNCATED)?;
            Ok(bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
        };
        let (value, len) = match rest.first() {
            Some(&b) if b < 0x80 => (u64::from(b), 1),
            Some(0xcc) => (be(1)?, 2),
            Some(0xcd) => (be(2)?, 3),
            Some(0xce) => (be(4)?, 5),
            Some(0xcf) => (be(8)?, 9),
            _ => return self.int_as_uint(),
        };
        self.take(len)?;
        Ok(value)
    }

    /// [`Reader::uint`] of the forms writers do not use (signed encodings of non-negative
    /// values) and of everything that is not an integer, through rmp.
    fn int_as_uint(&mut self) -> Result<u64, ParseError> {
        decode::read_int::<u64, _>(&mut self.rd).map_err(|e| match e {
            NumValueReadError::TypeMismatch(_) => bad("expected an unsigned integer"),
            NumValueReadError::OutOfRange => NEGATIVE,
            NumValueReadError::InvalidMarkerRead(_) | NumValueReadError::InvalidDataRead(_) => {
                TRUNCATED
            }
        })
    }

    /// Skips one value of any type (an unknown field's value), recursing at most
    /// `MAX_SKIP_DEPTH` levels. rmp has no skip of its own, and its `MessageLen` estimator
    /// panics on ext values (an unfinished `todo` in rmp 0.8), so it must never see file
    /// bytes. Here the marker is peeked and rmp's reader for its family reads the length;
    /// only the payload widths of the fixed-size scalars, which rmp does not expose, are
    /// written out, from the MessagePack spec. The match names every marker, so a marker left
    /// out would not compile.
    pub(crate) fn skip(&mut self, depth: u32) -> Result<(), ParseError> {
        if depth > MAX_SKIP_DEPTH {
            return Err(bad("a value nested too deeply"));
        }
        let first = *self.rd.remaining_slice().first().ok_or(TRUNCATED)?;
        let invalid = |e| value_error(e, "an invalid MessagePack marker");
        // (payload bytes after the marker and length, values nested inside)
        let (data, items): (u32, u64) = match Marker::from_u8(first) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::False | Marker::True => {
                self.scalar(0)?
            }
            Marker::U8 | Marker::I8 => self.scalar(1)?,
            Marker::U16 | Marker::I16 => self.scalar(2)?,
            Marker::U32 | Marker::I32 | Marker::F32 => self.scalar(4)?,
            Marker::U64 | Marker::I64 | Marker::F64 => self.scalar(8)?,
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                (decode::read_str_len(&mut self.rd).map_err(invalid)?, 0)
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                (decode::read_bin_len(&mut self.rd).map_err(invalid)?, 0)
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => (
                decode::read_ext_meta(&mut self.rd).map_err(invalid)?.size,
                0,
            ),
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let len = decode::read_array_len(&mut self.rd).map_err(invalid)?;
                (0, u64::from(len))
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let len = decode::read_map_len(&mut self.rd).map_err(invalid)?;
                (0, 2 * u64::from(len))
            }
            // 0xc1 is never used by MessagePack.
            Marker::Reserved => return Err(bad("an invalid MessagePack marker")),
        };
        self.take(data as usize)?;
        // Every nested value takes at least one byte: a count beyond the bytes left is refused
        // before the loop, so the loop is bounded by the input.
        if items > self.remaining() as u64 {
            return Err(TRUNCATED);
        }
        for _ in 0..items {
            self.skip(depth + 1)?;
        }
        Ok(())
    }

    /// Consumes a scalar's marker byte (known to be present) and returns its payload width.
    fn scalar(&mut self, width: u32) -> Result<(u32, u64), ParseError> {
        self.take(1)?;
        Ok((width, 0))
    }
}
