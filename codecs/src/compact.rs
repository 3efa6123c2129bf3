//! The compact body of binary frame version 2, shared by the msgpack and sealed codecs
//! (FORMAT.md "Compact body"): an array with one positional array per entry, the address as
//! `bin` and the source as a small integer. Owns that body's encoder and its bounded parser,
//! which can be fed the body piece by piece (a sealed file's chunks); must not know about
//! frames, checksums or keys, and must never put a decoded value (peer data) into an error.
//!
//! The parser is hand-written on rmp's wire primitives, as the version-1 body's is, and shares
//! its strict [`Reader`]; BENCHMARKS.md and docs/FORMAT.md say why not rmp-serde.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use rmp::encode::{self, ByteBuf};

use crate::body::{written, ParseError, Reader};
use crate::entry::{
    check_capability_count, check_capability_len, check_node_id_len, has_duplicate_addr, Side,
    UniqueAddrs, WriteCheck,
};
use crate::{EntrySource, Error, PeerEntry, PeerSource};

/// The fewest bytes one encoded entry takes: a fixarray header, a 6-byte `bin` address with its
/// two-byte header, `source` and `last_seen` as positive fixints, a nil `node_id` and an empty
/// capability array. FORMAT.md fixes it: an `entry_count` above the body's length divided by it
/// is corrupt.
pub(crate) const MIN_ENTRY_BYTES: usize = 1 + 2 + 6 + 1 + 1 + 1 + 1;

/// Elements of an entry array this version defines; later ones are skipped.
const FIELDS: u32 = 5;

/// The `source` codes of FORMAT.md's table.
fn source_code(source: PeerSource) -> u8 {
    match source {
        PeerSource::Bootstrap => 0,
        PeerSource::Gossip => 1,
        PeerSource::Connected => 2,
    }
}

fn source_of(code: u64) -> Option<PeerSource> {
    match code {
        0 => Some(PeerSource::Bootstrap),
        1 => Some(PeerSource::Gossip),
        2 => Some(PeerSource::Connected),
        _ => None,
    }
}

/// `addr` as the `bin` FORMAT.md stores: IPv4 octets and port (6 bytes); IPv6 octets and port
/// (18); the same and the scope id when it is not 0 (22). Ports and scope ids are big-endian;
/// the flow info is not stored.
fn addr_bytes(addr: &SocketAddr, out: &mut [u8; 22]) -> usize {
    match addr {
        SocketAddr::V4(a) => {
            out[..4].copy_from_slice(&a.ip().octets());
            out[4..6].copy_from_slice(&a.port().to_be_bytes());
            6
        }
        SocketAddr::V6(a) => {
            out[..16].copy_from_slice(&a.ip().octets());
            out[16..18].copy_from_slice(&a.port().to_be_bytes());
            if a.scope_id() == 0 {
                18
            } else {
                out[18..22].copy_from_slice(&a.scope_id().to_be_bytes());
                22
            }
        }
    }
}

/// The inverse of [`addr_bytes`]; `None` for any other length. A 22-byte form with a zero
/// scope id reads as the 18-byte form's address.
fn addr_of(b: &[u8]) -> Option<SocketAddr> {
    let port = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    match b.len() {
        6 => Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(b[0], b[1], b[2], b[3]),
            port(4),
        ))),
        18 | 22 => {
            let octets: [u8; 16] = b[..16].try_into().expect("a 16-byte slice");
            let scope = match b.len() {
                22 => u32::from_be_bytes(b[18..22].try_into().expect("a 4-byte slice")),
                _ => 0,
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port(16),
                0,
                scope,
            )))
        }
        _ => None,
    }
}

/// Appends the compact body of `entries` to `out` and returns the entry count, checking every
/// entry limit and address uniqueness on the way (so no writer produces a file a reader
/// rejects). Every value is in its shortest form, so equal entries give equal bytes.
pub(crate) fn encode(entries: &dyn EntrySource, out: &mut Vec<u8>) -> Result<u32, Error> {
    let mut buf = ByteBuf::from_vec(std::mem::take(out));
    let result = encode_entries(entries, &mut buf);
    *out = buf.into_vec();
    result
}

fn encode_entries(entries: &dyn EntrySource, out: &mut ByteBuf) -> Result<u32, Error> {
    let expected = entries.len();
    let mut check = WriteCheck::new(entries)?;
    let count = u32::try_from(expected).expect("check_entry_count bounds the count to 10M");
    written(encode::write_array_len(out, count));
    for entry in entries.entries() {
        check.check(entry)?;
        put_entry(entry, out);
    }
    check.finish(expected)?;
    Ok(count)
}

/// Appends one entry's positional array. The caller has checked its limits
/// ([`PeerEntry::check_limits`]): every length then fits the header rmp writes.
pub(crate) fn put_entry(entry: &PeerEntry, out: &mut ByteBuf) {
    written(encode::write_array_len(out, FIELDS));
    let mut addr = [0u8; 22];
    let n = addr_bytes(&entry.addr, &mut addr);
    written(encode::write_bin(out, &addr[..n]));
    written(encode::write_uint(
        out,
        u64::from(source_code(entry.source)),
    ));
    written(encode::write_uint(out, entry.last_seen));
    match &entry.node_id {
        None => match encode::write_nil(out) {
            Ok(()) => {}
            Err(never) => match never {},
        },
        Some(id) => written(encode::write_str(out, id)),
    }
    let caps = u32::try_from(entry.capabilities.len()).expect("check_limits bounds it to 32");
    written(encode::write_array_len(out, caps));
    for cap in &entry.capabilities {
        written(encode::write_str(out, cap));
    }
}

/// FORMAT.md's bound on `entry_count` by the plaintext body's length, checked before anything
/// is allocated for the entries.
pub(crate) fn check_count(entry_count: u32, plaintext_len: usize) -> Result<(), Error> {
    if entry_count as usize > plaintext_len / MIN_ENTRY_BYTES {
        return Err(Error::corrupt(format!(
            "the header says {entry_count} entries but a body of {plaintext_len} bytes holds \
             at most {}",
            plaintext_len / MIN_ENTRY_BYTES
        )));
    }
    Ok(())
}

/// Why one entry did not parse: more bytes are needed, or it is bad whatever follows.
enum Failure {
    Short(ParseError),
    Bad(Error),
}

impl Failure {
    fn parse(e: ParseError, index: usize) -> Failure {
        if e.short {
            Failure::Short(e)
        } else {
            Failure::Bad(e.at(&format!("entry {index}")))
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Bad(e)
    }
}

/// A compact-body parser fed the plaintext in pieces (one piece for a msgpack file, one per
/// chunk for a sealed one). Each [`Decoder::feed`] parses the whole entries it is given and
/// says how many bytes it used; the caller keeps the rest and hands it back, followed by the
/// next piece. Memory is the entries plus one piece and the entry that spans into the next.
///
/// The duplicate-address rule is applied after the last piece ([`Unchecked::unique`]), so that
/// a loader that opened the file in its own buffer can release that buffer first: the set of
/// addresses and the file's bytes are then never held at once.
pub(crate) struct Decoder {
    expected: u32,
    started: bool,
    entries: Vec<PeerEntry>,
    /// After an entry ran short, the unparsed length worth retrying at: twice what was tried,
    /// so an entry spanning many pieces (a huge skipped element) is parsed O(log n) times,
    /// not once per piece.
    retry_at: usize,
}

impl Decoder {
    /// A parser for a body of `plaintext_len` bytes that must hold `entry_count` entries;
    /// refuses a count the length cannot hold before it allocates anything for it.
    pub(crate) fn new(entry_count: u32, plaintext_len: usize) -> Result<Decoder, Error> {
        check_count(entry_count, plaintext_len)?;
        // Bounded by the body's length through check_count.
        let capacity = entry_count as usize;
        Ok(Decoder {
            expected: entry_count,
            started: false,
            entries: Vec::with_capacity(capacity),
            retry_at: 0,
        })
    }

    /// Parses every whole entry at the start of `window` (the bytes not yet used, then the
    /// new piece) and returns how many bytes it used. `last` says no byte follows `window`:
    /// then the body must end exactly with its last entry.
    pub(crate) fn feed(&mut self, window: &[u8], last: bool) -> Result<usize, Error> {
        if !last && window.len() < self.retry_at {
            return Ok(0);
        }
        self.retry_at = 0;
        let mut rd = Reader::new(window);
        if !self.started {
            match rd.array_len_unchecked() {
                Ok(len) if len == self.expected => self.started = true,
                Ok(len) => {
                    return Err(Error::corrupt(format!(
                        "the header says {} entries but the body holds {len}",
                        self.expected
                    )))
                }
                Err(e) if e.short && !last => return Ok(0),
                Err(e) => return Err(e.at("the entry array")),
            }
        }
        let mut used = window.len() - rd.remaining();
        while self.entries.len() < self.expected as usize {
            let index = self.entries.len();
            match decode_entry(&mut rd, index) {
                Ok(entry) => {
                    self.entries.push(entry);
                    used = window.len() - rd.remaining();
                }
                Err(Failure::Short(_)) if !last => {
                    self.retry_at = 2 * (window.len() - used);
                    return Ok(used);
                }
                Err(Failure::Short(e)) => return Err(e.at(&format!("entry {index}"))),
                Err(Failure::Bad(e)) => return Err(e),
            }
        }
        if rd.remaining() != 0 {
            return Err(Error::corrupt("bytes after the last entry of the body"));
        }
        Ok(used)
    }

    /// The entries, once a `feed` with `last` has succeeded, not yet checked for duplicates.
    pub(crate) fn into_entries(self) -> Unchecked {
        debug_assert_eq!(self.entries.len(), self.expected as usize);
        Unchecked {
            entries: self.entries,
            checked: false,
        }
    }
}

/// Entries parsed from a body whose duplicate-address rule is still to be applied.
#[must_use = "the entries are not checked for duplicate addresses until `unique` runs"]
pub(crate) struct Unchecked {
    entries: Vec<PeerEntry>,
    /// Set for a version-1 body, whose parser checks as it goes.
    checked: bool,
}

impl Unchecked {
    /// Entries already checked (a version-1 body's parser checks as it parses).
    pub(crate) fn checked(entries: Vec<PeerEntry>) -> Unchecked {
        Unchecked {
            entries,
            checked: true,
        }
    }

    /// The entries, or corrupt when two share an address (the later one is named, by index);
    /// unchecked when `check_dups` is false (the caller applies that rule itself).
    pub(crate) fn unique(self, check_dups: bool) -> Result<Vec<PeerEntry>, Error> {
        // Sorting packed keys finds whether there is a repeat with memory read in order; only
        // then does a set name the entry (a probe per entry misses the caches at 1M).
        if check_dups && !self.checked && has_duplicate_addr(&self.entries) {
            let mut seen = UniqueAddrs::for_entries(Side::Read, &self.entries);
            for (index, entry) in self.entries.iter().enumerate() {
                seen.insert(entry.addr, index)?;
            }
        }
        Ok(self.entries)
    }
}

/// The whole compact body in one piece, holding exactly `entry_count` entries; `check_dups`
/// as for [`Unchecked::unique`].
pub(crate) fn decode(
    body: &[u8],
    entry_count: u32,
    check_dups: bool,
) -> Result<Vec<PeerEntry>, Error> {
    let mut decoder = Decoder::new(entry_count, body.len())?;
    decoder.feed(body, true)?;
    decoder.into_entries().unique(check_dups)
}

fn decode_entry(rd: &mut Reader<'_>, index: usize) -> Result<PeerEntry, Failure> {
    let parse = |e: ParseError| Failure::parse(e, index);
    let corrupt = |what: &str| Failure::Bad(Error::corrupt(format!("entry {index}: {what}")));
    let fields = rd.array_len().map_err(parse)?;
    if fields < FIELDS {
        return Err(corrupt("an entry array of fewer than 5 elements"));
    }
    let addr = addr_of(rd.bin().map_err(parse)?)
        .ok_or_else(|| corrupt("`addr` is not 6, 18 or 22 bytes long"))?;
    let source =
        source_of(rd.uint().map_err(parse)?).ok_or_else(|| corrupt("`source` is not 0, 1 or 2"))?;
    let last_seen = rd.uint().map_err(parse)?;
    let node_id = if rd.nil() {
        None
    } else {
        let text = rd.str().map_err(parse)?;
        check_node_id_len(text.len())?;
        Some(text.to_owned())
    };
    let n = rd.array_len().map_err(parse)? as usize;
    check_capability_count(n)?;
    let mut capabilities = Vec::with_capacity(n);
    for _ in 0..n {
        let cap = rd.str().map_err(parse)?;
        check_capability_len(cap.len())?;
        capabilities.push(cap.to_owned());
    }
    // A later minor revision may append elements: skip them whole.
    for _ in FIELDS..fields {
        rd.skip(0).map_err(parse)?;
    }
    Ok(PeerEntry {
        addr,
        source,
        last_seen,
        node_id,
        capabilities,
    })
}
