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

use crate::entry::{
    check_entry_count, check_file_size, check_realm_len, Side, UniqueAddrs, WriteCheck,
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
    // Decision (docs/FORMAT.md): a JSON object without a `knownpeers` key is some other
    // program's file, not a damaged one, so it must not be quarantined as corrupt.
    let version = head.knownpeers.ok_or(Error::NotPeerFile)?;
    match version.as_u64() {
        Some(1) => {}
        Some(found) => return Err(Error::UnsupportedVersion { found }),
        None => {
            return Err(Error::corrupt(
                "JSON envelope: `knownpeers` (the version) is not an unsigned integer",
            ))
        }
    }
    match head.codec {
        None => {}
        Some(serde_json::Value::String(c)) if c == "json" => {}
        Some(_) => return Err(Error::corrupt("JSON envelope: `codec` is not \"json\"")),
    }
    let realm = match head.realm {
        Some(serde_json::Value::String(r)) => r,
        Some(_) => return Err(Error::corrupt("JSON envelope: `realm` is not a string")),
        None => return Err(Error::corrupt("JSON envelope: `realm` is missing")),
    };
    check_realm_len(&realm)?;
    let saved_at = match head.saved_at {
        Some(v) => v.as_u64().ok_or_else(|| {
            Error::corrupt("JSON envelope: `saved_at` is not an unsigned integer")
        })?,
        None => return Err(Error::corrupt("JSON envelope: `saved_at` is missing")),
    };
    let entry_count = head.entries.and_then(|c| c.0);
    // Like a frame's entry_count, refused before the entries are parsed and allocated.
    if let Some(n) = entry_count {
        check_entry_count(n)?;
    }
    Ok(JsonHead {
        realm,
        saved_at,
        entry_count,
    })
}

/// Parses the envelope's `entries` (a second pass, after the head's checks passed). `head`'s
/// count (of elements actually present), bounded by the bytes present ([`list_capacity`]),
/// sizes the allocations.
pub(crate) fn parse_entries(bytes: &[u8], head: &JsonHead) -> Result<Vec<PeerEntry>, Error> {
    let bytes = strip_bom(bytes);
    let stash = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let capacity = list_capacity(head.entry_count.unwrap_or(0), bytes.len());
    let parsed = EnvelopeEntries {
        stash: &stash,
        capacity,
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
    let addr = addr
        .parse()
        .map_err(|_| Error::corrupt(format!("entry {index}: `addr` is not a socket address")))?;
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
        let mut entries = Vec::with_capacity(self.capacity);
        let mut unique = UniqueAddrs::new(Side::Read, self.capacity);
        let fail = |e: Error| {
            *self.stash.borrow_mut() = Some(e);
            de::Error::custom("see the stashed error")
        };
        while let Some(record) = seq.next_element::<R>()? {
            let index = entries.len();
            if index as u64 >= MAX_ENTRY_COUNT {
                return Err(fail(Error::limit(format!(
                    "more than {MAX_ENTRY_COUNT} entries"
                ))));
            }
            let entry = record
                .into_entry(index, self.fallback_last_seen)
                .map_err(fail)?;
            unique.insert(entry.addr, index).map_err(fail)?;
            entries.push(entry);
        }
        Ok(entries)
    }
}

/// The envelope's `entries`, every other key skipped.
struct EnvelopeEntries<'s> {
    stash: &'s RefCell<Option<Error>>,
    capacity: usize,
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

/// The envelope a writer serializes, fields in FORMAT.md's order.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    knownpeers: u16,
    codec: &'static str,
    realm: &'a str,
    saved_at: u64,
    entries: EntriesSer<'a>,
}

struct EntriesSer<'a>(&'a dyn EntrySource);

impl serde::Serialize for EntriesSer<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.entries())
    }
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
        let expected = entries.len();
        let mut check = WriteCheck::new(expected)?;
        for entry in entries.entries() {
            check.check(entry)?;
        }
        check.finish(expected)?;
        let envelope = Envelope {
            knownpeers: crate::FORMAT_VERSION,
            codec: "json",
            realm,
            saved_at,
            entries: EntriesSer(entries),
        };
        serde_json::to_writer_pretty(&mut *out, &envelope)
            .expect("serializing entries to JSON in memory cannot fail");
        out.push(b'\n');
        check_file_size(out.len() as u64).inspect_err(|_| out.clear())
    }

    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error> {
        match crate::detect(bytes)? {
            crate::Format::Json => {}
            other => return Err(crate::check::wrong_codec(other, CodecKind::Json)),
        }
        let head = parse_head(bytes)?;
        crate::check::realm(&head.realm, realm)?;
        let entries = parse_entries(bytes, &head)?;
        check_entry_count(entries.len() as u64)?;
        Ok(PeerFile {
            realm: head.realm,
            saved_at: head.saved_at,
            entries,
        })
    }
}
