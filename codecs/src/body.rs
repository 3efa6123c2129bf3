//! The MessagePack body shared by the msgpack and sealed codecs (FORMAT.md "Body"): an array
//! with one map per entry. Owns the body's encoder and its bounded, allocation-careful parser;
//! must not know about frames, checksums or keys, and must never put a decoded value (peer
//! data) into an error message.

use std::fmt::Write as _;
use std::net::SocketAddr;

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

/// The map keys, each with its fixstr marker (`0xa0 | len`), written in one copy.
const KEY_ADDR: &[u8] = b"\xa4addr";
const KEY_SOURCE: &[u8] = b"\xa6source";
const KEY_LAST_SEEN: &[u8] = b"\xa9last_seen";
const KEY_NODE_ID: &[u8] = b"\xa7node_id";
const KEY_CAPABILITIES: &[u8] = b"\xaccapabilities";

/// A MessagePack string in its shortest form (fixstr, str8, str16, str32).
fn put_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65_536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// A MessagePack unsigned integer in its shortest form (positive fixint, uint8..uint64).
fn put_uint(out: &mut Vec<u8>, v: u64) {
    if v < 128 {
        out.push(v as u8);
    } else if v < 256 {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v < 65_536 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A MessagePack array (`fix` = 0x90, `marker16` = 0xdc) or map (0x80, 0xde) header in its
/// shortest form.
fn put_len(out: &mut Vec<u8>, fix: u8, marker16: u8, n: u32) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n < 65_536 {
        out.push(marker16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(marker16 + 1);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn put_array_len(out: &mut Vec<u8>, n: u32) {
    put_len(out, 0x90, 0xdc, n);
}

fn put_map_len(out: &mut Vec<u8>, n: u32) {
    put_len(out, 0x80, 0xde, n);
}

/// Appends the body of `entries` to `out` and returns the entry count, checking every entry
/// limit and address uniqueness on the way, so that no writer produces a file a reader
/// rejects. Written by hand rather than through rmp: five types in their shortest forms are
/// simpler than the library's generic writer, and one copy per field instead of two made the
/// encode measurably faster. The output equals rmp's and Python msgpack's byte for byte (the
/// conformance test compares it with the vectors).
pub(crate) fn encode(entries: &dyn EntrySource, out: &mut Vec<u8>) -> Result<u32, Error> {
    let expected = entries.len();
    let mut check = WriteCheck::new(expected)?;
    let count = u32::try_from(expected).expect("check_entry_count bounds the count to 10M");
    put_array_len(out, count);
    let mut addr = AddrBuf::default();
    for entry in entries.entries() {
        check.check(entry)?;
        let fields =
            3 + u32::from(entry.node_id.is_some()) + u32::from(!entry.capabilities.is_empty());
        put_map_len(out, fields);
        out.extend_from_slice(KEY_ADDR);
        put_str(out, addr.print(&entry.addr));
        out.extend_from_slice(KEY_SOURCE);
        put_str(out, entry.source.as_str());
        out.extend_from_slice(KEY_LAST_SEEN);
        put_uint(out, entry.last_seen);
        if let Some(id) = &entry.node_id {
            out.extend_from_slice(KEY_NODE_ID);
            put_str(out, id);
        }
        if !entry.capabilities.is_empty() {
            out.extend_from_slice(KEY_CAPABILITIES);
            let n = u32::try_from(entry.capabilities.len()).expect("check_limits bounds it to 32");
            put_array_len(out, n);
            for cap in &entry.capabilities {
                put_str(out, cap);
            }
        }
    }
    check.finish(expected)?;
    Ok(count)
}

/// A reusable buffer that prints a socket address exactly as its `Display` does. IPv4 (the
/// common case) is printed by hand: `core::fmt` was a seventh of an encode's time.
#[derive(Default)]
struct AddrBuf(String);

impl AddrBuf {
    fn print(&mut self, addr: &SocketAddr) -> &str {
        self.0.clear();
        match addr {
            SocketAddr::V4(a) => {
                for (i, octet) in a.ip().octets().into_iter().enumerate() {
                    if i > 0 {
                        self.0.push('.');
                    }
                    push_decimal(&mut self.0, u32::from(octet));
                }
                self.0.push(':');
                push_decimal(&mut self.0, u32::from(a.port()));
            }
            SocketAddr::V6(_) => {
                write!(self.0, "{addr}").expect("formatting into a String cannot fail");
            }
        }
        &self.0
    }
}

/// Appends `n` in decimal without leading zeros, as `Display` does.
fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// Parses a whole body that must hold exactly `entry_count` entries.
pub(crate) fn decode(body: &[u8], entry_count: u32) -> Result<Vec<PeerEntry>, Error> {
    let mut rd = Reader { buf: body, pos: 0 };
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
    let mut unique = UniqueAddrs::new(Side::Read, capacity);
    for index in 0..len as usize {
        let entry = decode_entry(&mut rd, index)?;
        unique.insert(entry.addr, index)?;
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
                let parsed: SocketAddr = text
                    .parse()
                    .map_err(|_| field_err("addr", "is not a socket address"))?;
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
                    let n = rd.array_len().map_err(in_entry)? as usize;
                    check_capability_count(n)?;
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
struct ParseError(&'static str);

impl ParseError {
    fn at(self, context: &str) -> Error {
        Error::corrupt(format!("{context}: {}", self.0))
    }
}

/// A cursor over MessagePack bytes. Every read checks the bytes left first, so no input can
/// make it index out of bounds or allocate more than the input's size.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        if n > self.remaining() {
            return Err(ParseError("truncated value"));
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian unsigned integer of `n` (1, 2, 4 or 8) bytes.
    fn be(&mut self, n: usize) -> Result<u64, ParseError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Consumes a nil if one is next.
    fn nil(&mut self) -> bool {
        if self.buf.get(self.pos) == Some(&0xc0) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn array_len(&mut self) -> Result<u32, ParseError> {
        let len = match self.byte()? {
            m @ 0x90..=0x9f => u32::from(m & 0x0f),
            0xdc => self.be(2)? as u32,
            0xdd => self.be(4)? as u32,
            _ => return Err(ParseError("expected an array")),
        };
        self.check_count(len)
    }

    fn map_len(&mut self) -> Result<u32, ParseError> {
        let len = match self.byte()? {
            m @ 0x80..=0x8f => u32::from(m & 0x0f),
            0xde => self.be(2)? as u32,
            0xdf => self.be(4)? as u32,
            _ => return Err(ParseError("expected a map")),
        };
        // A map of n pairs needs at least 2n bytes.
        self.check_count(len.saturating_mul(2))?;
        Ok(len)
    }

    /// Every element takes at least one byte, so a count over the bytes left is corrupt; this
    /// keeps loops and allocations bounded by the input.
    fn check_count(&self, count: u32) -> Result<u32, ParseError> {
        if count as usize > self.remaining() {
            return Err(ParseError("a count larger than the bytes left"));
        }
        Ok(count)
    }

    /// A string's bytes, not yet checked to be UTF-8: a key or a `source` is compared with
    /// ASCII names directly, which is a third of a decode's UTF-8 checks saved.
    fn str_bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return Err(ParseError("expected a string")),
        };
        self.take(len)
    }

    fn str(&mut self) -> Result<&'a str, ParseError> {
        std::str::from_utf8(self.str_bytes()?).map_err(|_| ParseError("a string is not UTF-8"))
    }

    /// Any non-negative integer that fits in a u64, in any of MessagePack's integer forms.
    fn uint(&mut self) -> Result<u64, ParseError> {
        let negative = ParseError("expected an unsigned integer, found a negative one");
        match self.byte()? {
            m @ 0x00..=0x7f => Ok(u64::from(m)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            0xd0 => {
                let v = self.be(1)? as u8 as i8;
                u64::try_from(v).map_err(|_| negative)
            }
            0xd1 => {
                let v = self.be(2)? as u16 as i16;
                u64::try_from(v).map_err(|_| negative)
            }
            0xd2 => {
                let v = self.be(4)? as u32 as i32;
                u64::try_from(v).map_err(|_| negative)
            }
            0xd3 => {
                let v = self.be(8)? as i64;
                u64::try_from(v).map_err(|_| negative)
            }
            0xe0..=0xff => Err(negative),
            _ => Err(ParseError("expected an unsigned integer")),
        }
    }

    /// Skips one value of any type (an unknown field's value).
    fn skip(&mut self, depth: u32) -> Result<(), ParseError> {
        if depth > MAX_SKIP_DEPTH {
            return Err(ParseError("a value nested too deeply"));
        }
        let marker = self.byte()?;
        let (data, items) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (self.be(1)?, 0),
            0xc5 | 0xda => (self.be(2)?, 0),
            0xc6 | 0xdb => (self.be(4)?, 0),
            0xc7 => (self.be(1)? + 1, 0),
            0xc8 => (self.be(2)? + 1, 0),
            0xc9 => (self.be(4)? + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.be(2)?),
            0xdd => (0, self.be(4)?),
            0xde => (0, 2 * self.be(2)?),
            0xdf => (0, 2 * self.be(4)?),
            // 0xc1 is never used by MessagePack.
            _ => return Err(ParseError("an invalid MessagePack marker")),
        };
        if data > self.remaining() as u64 || items > self.remaining() as u64 {
            return Err(ParseError("truncated value"));
        }
        self.pos += data as usize;
        for _ in 0..items {
            self.skip(depth + 1)?;
        }
        Ok(())
    }
}
