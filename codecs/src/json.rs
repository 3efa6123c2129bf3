//! The JSON envelope codec (FORMAT.md "JSON codec"), and the serde plumbing that the legacy
//! reader shares with it: a list visitor that enforces the entry count, the entry limits and
//! unique addresses while it parses. Must never put a value from the file into an error
//! message beyond the envelope's own fields (version, codec, realm).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::addr::AddrText;
use crate::entry::{
    check_entry_count, check_file_size, check_realm_len, has_duplicate_addr, Side, UniqueAddrs,
    WriteCheck,
};
use crate::{
    Codec, CodecKind, EntrySource, Error, PeerEntry, PeerFile, PeerSource, MAX_ENTRY_COUNT,
};

/// The UTF-8 byte order mark some editors put at the start of a text file.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The fewest bytes of text one valid entry of a JSON or legacy list takes, its separator
/// included. serde also accepts a record written as an array, and a legacy record needs only
/// two fields, so the shortest is `["[::]:0","Gossip"],` (20 bytes); 16 keeps a margin. An
/// element that is not a valid entry (`0,`) fails the parse when it is reached, so it can
/// make the list longer than this bound allows, but never the allocation larger.
const MIN_TEXT_ENTRY_BYTES: usize = 16;

/// Preallocation for a list of `count` elements found in `text_len` bytes of text: never more
/// than the text can hold valid entries, nor than FORMAT.md's entry-count limit. The first
/// pass counts elements, and an element can be two bytes (`0,`), so the count alone would let
/// a 20 MB file reserve a gigabyte before its first element is parsed.
pub(crate) fn list_capacity(count: u64, text_len: usize) -> usize {
    let by_bytes = (text_len / MIN_TEXT_ENTRY_BYTES) as u64;
    count.min(by_bytes).min(MAX_ENTRY_COUNT) as usize
}

/// The JSON envelope codec (pretty-printed, two-space indent).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

/// `bytes` without a leading UTF-8 BOM (accepted on read, never written).
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// A serde_json error as a [`Error::Corrupt`] that names a place, never a value: serde's
/// "invalid type" messages quote the offending value, which may be peer data.
pub(crate) fn json_error(context: &str, e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    let place = format!("line {} column {}", e.line(), e.column());
    let what = match e.classify() {
        Category::Eof => format!("{context}: truncated JSON (it ends at {place})"),
        Category::Syntax | Category::Io => format!("{context}: JSON syntax error at {place}"),
        Category::Data => {
            let msg = e.to_string();
            // These serde messages name a field, not a value, and are worth keeping.
            match msg.split(" at line ").next() {
                Some(m) if m.starts_with("missing field") || m.starts_with("duplicate field") => {
                    format!("{context}: {m} at {place}")
                }
                _ => format!("{context}: a value of the wrong type or out of range at {place}"),
            }
        }
    };
    Error::corrupt(what)
}

/// What the envelope says about itself, read in a first pass that skips the entries.
#[derive(Deserialize)]
struct RawHead {
    // Values are taken untyped, so that the version is judged before anything whose shape a
    // later version may change.
    #[serde(default)]
    knownpeers: Option<serde_json::Value>,
    #[serde(default)]
    codec: Option<serde_json::Value>,
    #[serde(default)]
    realm: Option<serde_json::Value>,
    #[serde(default)]
    saved_at: Option<serde_json::Value>,
    #[serde(default)]
    entries: Option<Count>,
}

/// The envelope's header fields after the version, codec, realm and saved_at checks.
#[derive(Debug)]
pub(crate) struct JsonHead {
    pub realm: String,
    pub saved_at: u64,
    /// The length of the `entries` array, when it is one.
    pub entry_count: Option<u64>,
}

/// Parses and checks the envelope's own fields: `knownpeers` (the version, first), `codec`,
/// `realm` and `saved_at`. The entries are only counted here.
pub(crate) fn parse_head(bytes: &[u8]) -> Result<JsonHead, Error> {
    check_file_size(bytes.len() as u64)?;
    let bytes = strip_bom(bytes);
    let head: RawHead =
        serde_json::from_slice(bytes).map_err(|e| json_error("JSON envelope", &e))?;
    let entry_count = head.entries.and_then(|c| c.0);
    let head = judge_head(
        head.knownpeers.as_ref(),
        head.codec.as_ref(),
        head.realm.as_ref(),
        head.saved_at.as_ref(),
    )?;
    // Like a frame's entry_count, refused before the entries are parsed and allocated.
    if let Some(n) = entry_count {
        check_entry_count(n)?;
    }
    Ok(JsonHead {
        entry_count,
        ..head
    })
}

/// The checks of the envelope's own fields, in FORMAT.md's order (the version first).
fn judge_head(
    knownpeers: Option<&serde_json::Value>,
    codec: Option<&serde_json::Value>,
    realm: Option<&serde_json::Value>,
    saved_at: Option<&serde_json::Value>,
) -> Result<JsonHead, Error> {
    // Decision (docs/FORMAT.md): a JSON object without a `knownpeers` key is some other
    // program's file, not a damaged one, so it must not be quarantined as corrupt.
    let version = knownpeers.ok_or(Error::NotPeerFile)?;
    match version.as_u64() {
        Some(1) => {}
        Some(found) => return Err(Error::UnsupportedVersion { found }),
        None => {
            return Err(Error::corrupt(
                "JSON envelope: `knownpeers` (the version) is not an unsigned integer",
            ))
        }
    }
    match codec {
        None => {}
        Some(serde_json::Value::String(c)) if c == "json" => {}
        Some(_) => return Err(Error::corrupt("JSON envelope: `codec` is not \"json\"")),
    }
    let realm = match realm {
        Some(serde_json::Value::String(r)) => r.clone(),
        Some(_) => return Err(Error::corrupt("JSON envelope: `realm` is not a string")),
        None => return Err(Error::corrupt("JSON envelope: `realm` is missing")),
    };
    check_realm_len(&realm)?;
    let saved_at = match saved_at {
        Some(v) => v.as_u64().ok_or_else(|| {
            Error::corrupt("JSON envelope: `saved_at` is not an unsigned integer")
        })?,
        None => return Err(Error::corrupt("JSON envelope: `saved_at` is missing")),
    };
    Ok(JsonHead {
        realm,
        saved_at,
        entry_count: None,
    })
}

/// Reads a whole envelope: through the fast path (`json_fast`) when the file is laid out as
/// the writer lays it out, else in one serde pass when it can, else in the two passes of
/// [`parse_head`] and [`parse_entries`], with `check` (the caller's realm and policy checks)
/// between them. The result and every error are those of the two passes: the fast path and
/// the one pass only ever return a success the two passes would return too, and any failure
/// in them is recomputed by the two passes, so that the classification of a bad file never
/// depends on the path.
///
/// A repeated address is refused unless `check_dups` is false (the caller applies that rule).
pub(crate) fn read_envelope(
    bytes: &[u8],
    check: &dyn Fn(&JsonHead) -> Result<(), Error>,
    check_dups: bool,
) -> Result<(JsonHead, Vec<PeerEntry>), Error> {
    if let Some(done) = crate::json_fast::read(bytes, check, check_dups) {
        return Ok(done);
    }
    read_envelope_serde(bytes, check, check_dups)
}

/// [`read_envelope`] without the fast path: what the fast path must agree with.
pub(crate) fn read_envelope_serde(
    bytes: &[u8],
    check: &dyn Fn(&JsonHead) -> Result<(), Error>,
    check_dups: bool,
) -> Result<(JsonHead, Vec<PeerEntry>), Error> {
    if let Some(done) = one_pass(bytes, check, check_dups) {
        return Ok(done);
    }
    let head = parse_head(bytes)?;
    check(&head)?;
    let entries = parse_entries(bytes, &head, check_dups)?;
    check_entry_count(entries.len() as u64)?;
    Ok((head, entries))
}

/// The one pass: succeeds only for an envelope whose `knownpeers`, `realm` and `saved_at` come
/// before `entries` (as every writer puts them) and that the two passes would accept; `None`
/// for anything else, including every bad file.
fn one_pass(
    bytes: &[u8],
    check: &dyn Fn(&JsonHead) -> Result<(), Error>,
    check_dups: bool,
) -> Option<(JsonHead, Vec<PeerEntry>)> {
    check_file_size(bytes.len() as u64).ok()?;
    let bytes = strip_bom(bytes);
    let stash = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // No count is known before the entries: preallocate for what the bytes could typically
    // hold (a written entry takes ~100-250 bytes), never for a count the file claims.
    let capacity = (bytes.len() / 160).min(MAX_ENTRY_COUNT as usize);
    let (head, entries) = OnePass {
        stash: &stash,
        check,
        capacity,
        check_dups,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    Some((head, entries))
}

/// The envelope in one pass (see [`one_pass`]).
struct OnePass<'s, 'c> {
    stash: &'s RefCell<Option<Error>>,
    check: &'c dyn Fn(&JsonHead) -> Result<(), Error>,
    capacity: usize,
    check_dups: bool,
}

impl<'de> DeserializeSeed<'de> for OnePass<'_, '_> {
    type Value = (JsonHead, Vec<PeerEntry>);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OnePass<'_, '_> {
    type Value = (JsonHead, Vec<PeerEntry>);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a knownpeers JSON envelope")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Any failure here only sends the caller to the two passes, so errors carry no detail.
        let give_up = || de::Error::custom("read it in two passes");
        let mut fields: [Option<serde_json::Value>; 4] = Default::default();
        let mut entries: Option<(JsonHead, Vec<PeerEntry>)> = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match &*key {
                "knownpeers" => Some(0),
                "codec" => Some(1),
                "realm" => Some(2),
                "saved_at" => Some(3),
                _ => None,
            };
            if let Some(i) = slot {
                if fields[i].is_some() {
                    return Err(give_up());
                }
                fields[i] = Some(map.next_value()?);
            } else if key == "entries" {
                if entries.is_some() {
                    return Err(give_up());
                }
                let [knownpeers, codec, realm, saved_at] = &fields;
                if knownpeers.is_none() || realm.is_none() || saved_at.is_none() {
                    return Err(give_up());
                }
                let head = judge_head(
                    knownpeers.as_ref(),
                    codec.as_ref(),
                    realm.as_ref(),
                    saved_at.as_ref(),
                )
                .map_err(|_| give_up())?;
                (self.check)(&head).map_err(|_| give_up())?;
                let list = map.next_value_seed(ListSeed::<JsonEntry<'de>> {
                    stash: self.stash,
                    fallback_last_seen: 0,
                    capacity: self.capacity,
                    check_dups: self.check_dups,
                    _record: PhantomData,
                })?;
                entries = Some((head, list));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let (head, list) = entries.ok_or_else(give_up)?;
        // A `codec` after the entries was not judged yet.
        let [knownpeers, codec, realm, saved_at] = &fields;
        judge_head(
            knownpeers.as_ref(),
            codec.as_ref(),
            realm.as_ref(),
            saved_at.as_ref(),
        )
        .map_err(|_| give_up())?;
        Ok((
            JsonHead {
                entry_count: Some(list.len() as u64),
                ..head
            },
            list,
        ))
    }
}

/// Parses the envelope's `entries` (a second pass, after the head's checks passed). `head`'s
/// count (of elements actually present), bounded by the bytes present ([`list_capacity`]),
/// sizes the allocations.
pub(crate) fn parse_entries(
    bytes: &[u8],
    head: &JsonHead,
    check_dups: bool,
) -> Result<Vec<PeerEntry>, Error> {
    let bytes = strip_bom(bytes);
    let stash = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let capacity = list_capacity(head.entry_count.unwrap_or(0), bytes.len());
    let parsed = EnvelopeEntries {
        stash: &stash,
        capacity,
        check_dups,
    }
    .deserialize(&mut de)
    .and_then(|entries| de.end().map(|()| entries));
    match parsed {
        Ok(Some(entries)) => Ok(entries),
        Ok(None) => Err(Error::corrupt("JSON envelope: `entries` is missing")),
        Err(e) => Err(stash
            .into_inner()
            .unwrap_or_else(|| json_error("JSON entries", &e))),
    }
}

/// How one record of a list turns into an entry: the JSON entry and the legacy TheNodes
/// record each implement it.
pub(crate) trait Record<'de>: Deserialize<'de> {
    /// The entry, with `fallback_last_seen` for a record that has no time of its own.
    fn into_entry(self, index: usize, fallback_last_seen: u64) -> Result<PeerEntry, Error>;
}

/// The checks every entry goes through after its fields parsed, whatever its codec.
pub(crate) fn build_entry(
    index: usize,
    addr: &str,
    source: PeerSource,
    last_seen: u64,
    node_id: Option<String>,
    capabilities: Option<Vec<String>>,
) -> Result<PeerEntry, Error> {
    let addr = crate::addr::parse(addr.as_bytes())
        .ok_or_else(|| Error::corrupt(format!("entry {index}: `addr` is not a socket address")))?;
    let entry = PeerEntry {
        addr,
        source,
        last_seen,
        node_id,
        capabilities: capabilities.unwrap_or_default(),
    };
    entry.check_limits()?;
    Ok(entry)
}

/// One entry of the envelope as written; unknown fields are ignored.
#[derive(Deserialize)]
struct JsonEntry<'a> {
    #[serde(borrow)]
    addr: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    last_seen: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
}

impl<'de> Record<'de> for JsonEntry<'de> {
    fn into_entry(self, index: usize, _: u64) -> Result<PeerEntry, Error> {
        let source = PeerSource::from_name(&self.source).ok_or_else(|| {
            Error::corrupt(format!(
                "entry {index}: `source` is not Bootstrap, Gossip or Connected"
            ))
        })?;
        build_entry(
            index,
            &self.addr,
            source,
            self.last_seen,
            self.node_id,
            self.capabilities,
        )
    }
}

/// Deserializes a JSON array of records into checked entries. A failure that has a class of
/// its own (a limit, a duplicate) is put into `stash`, because serde's error type cannot carry
/// it; the caller prefers the stash over serde's error.
pub(crate) struct ListSeed<'s, R> {
    pub stash: &'s RefCell<Option<Error>>,
    pub fallback_last_seen: u64,
    /// Preallocation: at most [`list_capacity`] of the elements known to be present, never a
    /// count the file claims nor one the bytes present could not hold.
    pub capacity: usize,
    /// Refuse a repeated address (false: the caller applies that rule itself).
    pub check_dups: bool,
    pub _record: PhantomData<R>,
}

impl<'de, R: Record<'de>> DeserializeSeed<'de> for ListSeed<'_, R> {
    type Value = Vec<PeerEntry>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, R: Record<'de>> Visitor<'de> for ListSeed<'_, R> {
    type Value = Vec<PeerEntry>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of peer entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let dups = if self.check_dups {
            DupCheck::EachEntry
        } else {
            DupCheck::Off
        };
        let mut list = EntryList::new(self.capacity, dups);
        let fail = |e: Error| {
            *self.stash.borrow_mut() = Some(e);
            de::Error::custom("see the stashed error")
        };
        while let Some(record) = seq.next_element::<R>()? {
            list.push_with(|index| record.into_entry(index, self.fallback_last_seen))
                .map_err(fail)?;
        }
        list.finish().map_err(fail)
    }
}

/// How an [`EntryList`] checks that no two entries have one address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DupCheck {
    /// As each entry is pushed, naming the first entry that repeats an earlier one, so that
    /// the error is the first the file has (the serde path).
    EachEntry,
    /// Once, by sorting, in [`EntryList::finish`], whose error then names no entry: for the
    /// fast path, which gives up on any error and leaves the file to the serde path.
    AtEnd,
    /// Not at all: the caller checks.
    Off,
}

/// The entries a JSON or legacy list has given so far, with the entry-count limit and the
/// read's duplicate-address check: the serde path and the fast path (`json_fast`) both push
/// through [`EntryList::push_with`] and end with [`EntryList::finish`], so the check lives
/// here alone and one [`DupCheck`] switches it.
pub(crate) struct EntryList {
    entries: Vec<PeerEntry>,
    dups: DupCheck,
    /// The set of [`DupCheck::EachEntry`].
    unique: Option<UniqueAddrs>,
}

impl EntryList {
    /// `capacity` must already be bounded by the bytes present ([`list_capacity`]), never a
    /// count the file claims.
    pub(crate) fn new(capacity: usize, dups: DupCheck) -> EntryList {
        EntryList {
            entries: Vec::with_capacity(capacity),
            dups,
            unique: (dups == DupCheck::EachEntry).then(|| UniqueAddrs::new(Side::Read, capacity)),
        }
    }

    /// Appends the entry `make` builds for the next index: refused past [`MAX_ENTRY_COUNT`]
    /// (before it is built) or when its address repeats an earlier entry's.
    #[inline]
    pub(crate) fn push_with(
        &mut self,
        make: impl FnOnce(usize) -> Result<PeerEntry, Error>,
    ) -> Result<(), Error> {
        let index = self.entries.len();
        if index as u64 >= MAX_ENTRY_COUNT {
            return Err(Error::limit(format!("more than {MAX_ENTRY_COUNT} entries")));
        }
        let entry = make(index)?;
        if let Some(unique) = &mut self.unique {
            unique.insert(entry.addr, index)?;
        }
        self.entries.push(entry);
        Ok(())
    }

    /// The list of entries read in parts (the fast path's split read), joined in order:
    /// refused past [`MAX_ENTRY_COUNT`] in all, or when an address repeats an earlier one
    /// under [`DupCheck::EachEntry`], as pushing each entry would be. The vector grows by the
    /// entries the parts hold, never by a count the file claims.
    pub(crate) fn joined(parts: Vec<Vec<PeerEntry>>, dups: DupCheck) -> Result<EntryList, Error> {
        let total: usize = parts.iter().map(Vec::len).sum();
        if total as u64 > MAX_ENTRY_COUNT {
            return Err(Error::limit(format!("more than {MAX_ENTRY_COUNT} entries")));
        }
        let mut parts = parts.into_iter();
        let mut entries = parts.next().unwrap_or_default();
        entries.reserve_exact(total - entries.len());
        for part in parts {
            entries.extend(part);
        }
        let mut unique = None;
        if dups == DupCheck::EachEntry {
            let mut set = UniqueAddrs::new(Side::Read, total);
            for (index, entry) in entries.iter().enumerate() {
                set.insert(entry.addr, index)?;
            }
            unique = Some(set);
        }
        Ok(EntryList {
            entries,
            dups,
            unique,
        })
    }

    /// The entries, after [`DupCheck::AtEnd`]'s check.
    pub(crate) fn finish(self) -> Result<Vec<PeerEntry>, Error> {
        if self.dups == DupCheck::AtEnd && has_duplicate_addr(&self.entries) {
            return Err(Error::corrupt(
                "an entry repeats the address of an earlier entry",
            ));
        }
        Ok(self.entries)
    }
}

/// The envelope's `entries`, every other key skipped.
struct EnvelopeEntries<'s> {
    stash: &'s RefCell<Option<Error>>,
    capacity: usize,
    check_dups: bool,
}

impl<'de> DeserializeSeed<'de> for EnvelopeEntries<'_> {
    type Value = Option<Vec<PeerEntry>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeEntries<'_> {
    type Value = Option<Vec<PeerEntry>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a knownpeers JSON envelope")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "entries" {
                if entries.is_some() {
                    return Err(de::Error::duplicate_field("entries"));
                }
                entries = Some(map.next_value_seed(ListSeed::<JsonEntry<'de>> {
                    stash: self.stash,
                    fallback_last_seen: 0,
                    capacity: self.capacity,
                    check_dups: self.check_dups,
                    _record: PhantomData,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(entries)
    }
}

/// The length of an array, or `None` for any other value; never fails on a well-formed value,
/// so that counting cannot pre-empt the version check.
pub(crate) struct Count(pub Option<u64>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
        let mut n = 0u64;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Count(Some(n)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Count(None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_unit<E>(self) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_none<E>(self) -> Result<Count, E> {
        Ok(Count(None))
    }
}

/// What JSON escapes in a string, byte by byte, as serde_json does: `"`, `\\` and the
/// control characters below 0x20 (`\b \t \n \f \r` by name, the rest as `\u00XX` in lowercase
/// hex); 0 for a byte written as it is.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
fn put_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = ESCAPE[usize::from(b)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `n` in decimal, through itoa as serde_json writes an unsigned integer.
fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The most bytes [`put_entry`] can write for `entry`: its fixed text (under 160 bytes with
/// the longest address, source and number), and every string escaped at the worst, six bytes
/// (`\u00XX`) per byte.
pub(crate) fn max_entry_len(entry: &PeerEntry) -> usize {
    let id = entry.node_id.as_ref().map_or(0, |id| 32 + 6 * id.len());
    let caps: usize = entry.capabilities.iter().map(|c| 16 + 6 * c.len()).sum();
    256 + id + caps
}

/// Appends one entry as serde_json's pretty printer writes a `PeerEntry` inside the envelope's
/// array (four spaces of indent for the object, six for its fields).
pub(crate) fn put_entry(out: &mut Vec<u8>, entry: &PeerEntry) {
    out.extend_from_slice(b"    {\n      \"addr\": \"");
    out.extend_from_slice(AddrText::new(&entry.addr).as_bytes());
    out.extend_from_slice(b"\",\n      \"source\": \"");
    out.extend_from_slice(entry.source.as_str().as_bytes());
    out.extend_from_slice(b"\",\n      \"last_seen\": ");
    put_u64(out, entry.last_seen);
    if let Some(id) = &entry.node_id {
        out.extend_from_slice(b",\n      \"node_id\": ");
        put_str(out, id);
    }
    if !entry.capabilities.is_empty() {
        out.extend_from_slice(b",\n      \"capabilities\": [");
        for (i, cap) in entry.capabilities.iter().enumerate() {
            out.extend_from_slice(if i == 0 {
                b"\n        "
            } else {
                b",\n        "
            });
            put_str(out, cap);
        }
        out.extend_from_slice(b"\n      ]");
    }
    out.extend_from_slice(b"\n    }");
}

/// The whole envelope, byte for byte what `serde_json::to_writer_pretty` of the envelope struct
/// wrote before (the tests compare the two), in one pass that checks each entry as it writes
/// it. Written by hand because serde's general machinery (a `Display` of every address through
/// `core::fmt`, the formatter's per-value state) was most of a JSON save.
fn write_envelope(
    realm: &str,
    saved_at: u64,
    entries: &dyn EntrySource,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let pieces = crate::piece::pieces_of(entries, crate::piece::Encoding::Json)?;
    let expected = entries.len();
    // About 190 bytes per typical entry: one allocation for a typical file (bounded by what a
    // file may hold).
    out.reserve(match &pieces {
        Some(p) => realm
            .len()
            .saturating_mul(6)
            .saturating_add(128 + p.max_len()),
        None => 256_usize
            .saturating_add(expected.saturating_mul(192))
            .min(crate::MAX_FILE_SIZE as usize),
    });
    out.extend_from_slice(b"{\n  \"knownpeers\": ");
    put_u64(out, u64::from(crate::FORMAT_VERSION));
    out.extend_from_slice(b",\n  \"codec\": \"json\",\n  \"realm\": ");
    put_str(out, realm);
    out.extend_from_slice(b",\n  \"saved_at\": ");
    put_u64(out, saved_at);
    out.extend_from_slice(b",\n  \"entries\": [");
    let mut first = true;
    match &pieces {
        // Kept pieces: each is its entries' text joined by `,\n`.
        Some(p) => {
            p.write_json(out);
            first = p.count() == 0;
        }
        None => {
            let mut check = WriteCheck::new(entries)?;
            for entry in entries.entries() {
                check.check(entry)?;
                out.extend_from_slice(if first { b"\n" } else { b",\n" });
                first = false;
                put_entry(out, entry);
            }
            check.finish(expected)?;
        }
    }
    out.extend_from_slice(if first { b"]\n}\n" } else { b"\n  ]\n}\n" });
    Ok(())
}

impl Codec for JsonCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Json
    }

    fn encode_into(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        out.clear();
        check_realm_len(realm)?;
        if let Err(e) = write_envelope(realm, saved_at, entries, out) {
            out.clear();
            return Err(e);
        }
        check_file_size(out.len() as u64).inspect_err(|_| out.clear())
    }

    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error> {
        match crate::detect(bytes)? {
            crate::Format::Json => {}
            other => return Err(crate::check::wrong_codec(other, CodecKind::Json)),
        }
        let (head, entries) =
            read_envelope(bytes, &|head| crate::check::realm(&head.realm, realm), true)?;
        Ok(PeerFile {
            realm: head.realm,
            saved_at: head.saved_at,
            entries,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

    /// The envelope as the serde writer this codec used before serialized it: the hand-written
    /// writer must give the same bytes.
    #[derive(serde::Serialize)]
    struct SerdeEnvelope<'a> {
        knownpeers: u16,
        codec: &'static str,
        realm: &'a str,
        saved_at: u64,
        entries: &'a [PeerEntry],
    }

    fn serde_bytes(realm: &str, saved_at: u64, entries: &[PeerEntry]) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&SerdeEnvelope {
            knownpeers: crate::FORMAT_VERSION,
            codec: "json",
            realm,
            saved_at,
            entries,
        })
        .expect("serializes");
        out.push(b'\n');
        out
    }

    /// Strings with the characters JSON escapes (quotes, backslashes, every control
    /// character), other ASCII and multi-byte UTF-8.
    pub(crate) fn text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::char::range('a', 'z'),
                1 => prop::char::range('\0', '\u{20}'),
                1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', 'é', '€', '😀']),
                1 => any::<char>(),
            ],
            0..max,
        )
        .prop_map(|c| c.into_iter().collect::<String>())
        .prop_filter("within the byte limit", move |s| s.len() <= max)
    }

    pub(crate) fn entry() -> impl Strategy<Value = PeerEntry> {
        let addr = prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
            (
                any::<u128>(),
                any::<u16>(),
                prop_oneof![Just(0u32), any::<u32>()]
            )
                .prop_map(|(ip, port, scope)| {
                    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, scope))
                }),
            Just(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1)),
        ];
        let source = prop::sample::select(vec![
            PeerSource::Gossip,
            PeerSource::Bootstrap,
            PeerSource::Connected,
        ]);
        (
            addr,
            source,
            any::<u64>(),
            prop::option::of(text(64)),
            prop::collection::vec(text(16), 0..4),
        )
            .prop_map(
                |(addr, source, last_seen, node_id, capabilities)| PeerEntry {
                    addr,
                    source,
                    last_seen,
                    node_id,
                    capabilities,
                },
            )
    }

    pub(crate) fn unique(entries: Vec<PeerEntry>) -> Vec<PeerEntry> {
        let mut seen = std::collections::HashSet::new();
        entries
            .into_iter()
            .filter(|e| seen.insert(crate::stored_addr(e.addr)))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn writes_what_serde_json_wrote(
            realm in text(40).prop_filter("a realm is not empty", |r| !r.is_empty()),
            saved_at in any::<u64>(),
            entries in prop::collection::vec(entry(), 0..8),
        ) {
            let entries = unique(entries);
            let ours = JsonCodec.encode(&realm, saved_at, &entries).expect("encodes");
            let theirs = serde_bytes(&realm, saved_at, &entries);
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
            // And the reader, in one pass, gives them back (addresses in their stored form).
            let back = JsonCodec.decode(&ours, Some(&realm)).expect("decodes");
            let stored: Vec<PeerEntry> = entries
                .iter()
                .map(|e| PeerEntry { addr: crate::stored_addr(e.addr), ..e.clone() })
                .collect();
            prop_assert_eq!(back.entries, stored);
        }
    }

    #[test]
    fn one_pass_only_takes_the_writers_key_order() {
        let entry = r#"{"addr": "192.0.2.1:7", "source": "Gossip", "last_seen": 3}"#;
        let ok = |h: &JsonHead| -> Result<(), Error> {
            assert_eq!(h.realm, "r");
            Ok(())
        };
        let head_first = format!(
            r#"{{"knownpeers": 1, "realm": "r", "saved_at": 5, "entries": [{entry}], "codec": "json"}}"#
        );
        assert!(one_pass(head_first.as_bytes(), &ok, true).is_some());
        // `entries` before the head: the two passes read it.
        let entries_first = format!(
            r#"{{"entries": [{entry}], "knownpeers": 1, "codec": "json", "realm": "r", "saved_at": 5}}"#
        );
        assert!(one_pass(entries_first.as_bytes(), &ok, true).is_none());
        let (head, entries) = read_envelope(entries_first.as_bytes(), &ok, true).expect("reads");
        assert_eq!((head.saved_at, entries.len()), (5, 1));
        // A `codec` after the entries is still judged.
        let bad_codec = format!(
            r#"{{"knownpeers": 1, "realm": "r", "saved_at": 5, "entries": [{entry}], "codec": "x"}}"#
        );
        assert!(one_pass(bad_codec.as_bytes(), &ok, true).is_none());
        let err = read_envelope(bad_codec.as_bytes(), &ok, true).expect_err("a wrong codec");
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt);
        // The caller's check runs before the entries, and its error is the two passes' error.
        let refuse = |_: &JsonHead| Err(Error::RealmRequired);
        let err = read_envelope(head_first.as_bytes(), &refuse, true).expect_err("refused");
        assert!(matches!(err, Error::RealmRequired), "{err:?}");
    }
}
