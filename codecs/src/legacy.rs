//! TheNodes' own `peers.json` (FORMAT.md "Legacy input" and "Legacy output"): the reader a
//! deployment switches over with, and the writer of the way back (`convert --to legacy`). Owns
//! the mapping of TheNodes sources onto ours and back; no store or runtime ever writes this
//! format, only an explicit conversion.

use std::borrow::Cow;
use std::cell::RefCell;
use std::marker::PhantomData;

use serde::de::DeserializeSeed;
use serde::Deserialize;

use crate::entry::{check_entry_count, check_file_size, WriteCheck};
use crate::json::{build_entry, json_error, list_capacity, strip_bom, Count, ListSeed, Record};
use crate::{Error, PeerEntry, PeerSource};

/// One TheNodes `PeerRecord`. `failures` is runtime state that knownpeers does not persist, so
/// it is ignored like any unknown field.
#[derive(Deserialize)]
struct LegacyRecord<'a> {
    #[serde(borrow)]
    addr: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(default)]
    last_success_epoch: Option<u64>,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
}

impl<'de> Record<'de> for LegacyRecord<'de> {
    fn into_entry(self, index: usize, mtime: u64) -> Result<PeerEntry, Error> {
        let source = match &*self.source {
            "Bootstrap" | "Manual" => PeerSource::Bootstrap,
            "Handshake" => PeerSource::Connected,
            "Gossip" => PeerSource::Gossip,
            _ => {
                return Err(Error::corrupt(format!(
                    "legacy entry {index}: `source` is not Bootstrap, Handshake, Gossip or Manual"
                )))
            }
        };
        build_entry(
            index,
            &self.addr,
            source,
            self.last_success_epoch.unwrap_or(mtime),
            self.node_id,
            self.capabilities,
        )
    }
}

/// Parses a legacy file; a record whose `last_success_epoch` is null or absent gets `mtime`.
/// A first pass counts the records, so that too many are refused before any is parsed; the
/// allocations are sized by that count bounded by the bytes present ([`list_capacity`]).
/// A repeated address is refused unless `check_dups` is false (the caller applies that rule).
pub(crate) fn parse(bytes: &[u8], mtime: u64, check_dups: bool) -> Result<Vec<PeerEntry>, Error> {
    let records = count(bytes)?;
    check_entry_count(records)?;
    let stash = RefCell::new(None);
    let text = strip_bom(bytes);
    let mut de = serde_json::Deserializer::from_slice(text);
    let parsed = ListSeed::<LegacyRecord<'_>> {
        stash: &stash,
        fallback_last_seen: mtime,
        capacity: list_capacity(records, text.len()),
        check_dups,
        _record: PhantomData,
    }
    .deserialize(&mut de)
    .and_then(|entries| de.end().map(|()| entries));
    parsed.map_err(|e| {
        stash
            .into_inner()
            .unwrap_or_else(|| json_error("legacy TheNodes peers.json", &e))
    })
}

/// The number of records, for `inspect`, without checking them.
pub(crate) fn count(bytes: &[u8]) -> Result<u64, Error> {
    check_file_size(bytes.len() as u64)?;
    let count: Count = serde_json::from_slice(strip_bom(bytes))
        .map_err(|e| json_error("legacy TheNodes peers.json", &e))?;
    count
        .0
        .ok_or_else(|| Error::corrupt("legacy TheNodes peers.json: not an array"))
}

/// One TheNodes 0.4 `PeerRecord` as TheNodes' `save_to_file` writes it.
#[derive(serde::Serialize)]
struct LegacyOut<'a> {
    addr: std::net::SocketAddr,
    source: &'static str,
    /// Runtime state TheNodes requires in every record; knownpeers keeps none, so 0.
    failures: u32,
    last_success_epoch: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<&'a [String]>,
}

/// Encodes entries as a TheNodes 0.4 `peers.json`: a pretty-printed JSON array of `PeerRecord`s,
/// most recently seen first (the order TheNodes saves in). `Connected` becomes `Handshake`,
/// `Bootstrap` and `Gossip` stay; `last_seen` becomes `last_success_epoch` (TheNodes expires
/// records by it on load); `failures` is 0. The realm is not written: the array names none.
/// Entries are checked as every writer checks them (limits, duplicate addresses, file size).
pub fn write_legacy(entries: &[PeerEntry]) -> Result<Vec<u8>, Error> {
    let mut check = WriteCheck::new(&entries)?;
    for entry in entries {
        check.check(entry)?;
    }
    check.finish(entries.len())?;
    let mut order: Vec<&PeerEntry> = entries.iter().collect();
    order.sort_by_key(|entry| std::cmp::Reverse(entry.last_seen));
    let records: Vec<LegacyOut<'_>> = order
        .into_iter()
        .map(|entry| LegacyOut {
            addr: entry.addr,
            source: match entry.source {
                PeerSource::Connected => "Handshake",
                PeerSource::Bootstrap => "Bootstrap",
                PeerSource::Gossip => "Gossip",
            },
            failures: 0,
            last_success_epoch: entry.last_seen,
            node_id: entry.node_id.as_deref(),
            capabilities: (!entry.capabilities.is_empty()).then_some(&entry.capabilities[..]),
        })
        .collect();
    let mut out = serde_json::to_vec_pretty(&records).map_err(|e| Error::InvalidInput {
        what: format!("legacy TheNodes peers.json: {e}"),
    })?;
    out.push(b'\n');
    check_file_size(out.len() as u64)?;
    Ok(out)
}
