//! The baselines of issue 6, written here from its description and nothing else: TheNodes'
//! in-place pretty JSON (`to_vec_pretty` of a `Vec` of `PeerRecord`s, create-truncate + write,
//! no fsync, no rename; load = read + `from_slice`), and the physical limits (memcpy of the same
//! byte count, write + fsync of the same bytes in the same directory, a plain `HashMap` insert
//! loop). Each function times only the work it names and returns that duration; none of them
//! may use knownpeers' own code paths, or the ratios would compare the code with itself.

use std::collections::HashMap;
use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use knownpeers::{GossipPeer, PeerEntry, PeerSource};

/// A TheNodes 0.2/0.3 `PeerRecord` as its `peers.json` holds it (FORMAT.md "Legacy input").
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PeerRecord {
    /// Socket address as text.
    pub addr: String,
    /// `Bootstrap`, `Handshake`, `Gossip` or `Manual`.
    pub source: String,
    /// Consecutive dial failures.
    pub failures: u32,
    /// Unix seconds of the last successful contact.
    pub last_success_epoch: Option<u64>,
    /// Node id, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Capabilities, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

/// The same peers as TheNodes records.
pub fn records(entries: &[PeerEntry]) -> Vec<PeerRecord> {
    entries
        .iter()
        .map(|e| PeerRecord {
            addr: e.addr.to_string(),
            source: match e.source {
                PeerSource::Gossip => "Gossip",
                PeerSource::Bootstrap => "Bootstrap",
                PeerSource::Connected => "Handshake",
            }
            .to_string(),
            failures: 0,
            last_success_epoch: Some(e.last_seen),
            node_id: e.node_id.clone(),
            capabilities: (!e.capabilities.is_empty()).then(|| e.capabilities.clone()),
        })
        .collect()
}

/// Baseline save: pretty JSON, create-truncate, one write, no fsync, no rename. Returns the
/// time and the file size.
pub fn json_save(path: &Path, records: &[PeerRecord]) -> (Duration, usize) {
    let start = Instant::now();
    let bytes = serde_json::to_vec_pretty(records).expect("records always serialize");
    let mut file = File::create(path).expect("the bench directory is writable");
    file.write_all(&bytes)
        .expect("the bench directory is writable");
    drop(file);
    (start.elapsed(), bytes.len())
}

/// Baseline load: read the whole file, `from_slice` into records. The records are returned so
/// that their drop is not timed.
pub fn json_load(path: &Path) -> (Duration, Vec<PeerRecord>) {
    let start = Instant::now();
    let bytes = std::fs::read(path).expect("the baseline file was just written");
    let records: Vec<PeerRecord> =
        serde_json::from_slice(&bytes).expect("the baseline file was just written");
    (start.elapsed(), records)
}

/// Physical limit: copying `src` into a pre-sized buffer.
pub fn memcpy(src: &[u8], dst: &mut [u8]) -> Duration {
    let start = Instant::now();
    dst.copy_from_slice(src);
    black_box(&dst);
    start.elapsed()
}

/// Physical limit: create-truncate, write all, `sync_all` (what durability costs at least).
pub fn write_fsync(path: &Path, bytes: &[u8]) -> Duration {
    let start = Instant::now();
    let mut file = File::create(path).expect("the bench directory is writable");
    file.write_all(bytes)
        .expect("the bench directory is writable");
    file.sync_all().expect("the bench directory is writable");
    start.elapsed()
}

/// Physical limit for store operations: a plain `HashMap` insert loop of owned entries into an
/// empty map. The caller times it and drops the map untimed.
pub fn hashmap_inserts(entries: Vec<PeerEntry>) -> HashMap<SocketAddr, PeerEntry> {
    let mut map = HashMap::new();
    for e in entries {
        map.insert(e.addr, e);
    }
    map
}

/// The same loop fed what the store is fed: a borrowed gossip batch, each address made into an
/// owned Gossip entry (its strings copied) and inserted into an empty map. The caller times it.
pub fn hashmap_inserts_from(batch: &[GossipPeer], now: u64) -> HashMap<SocketAddr, PeerEntry> {
    let mut map = HashMap::new();
    for p in batch {
        map.insert(
            p.addr,
            PeerEntry {
                addr: p.addr,
                source: PeerSource::Gossip,
                last_seen: now,
                node_id: p.node_id.clone(),
                capabilities: p.capabilities.clone(),
            },
        );
    }
    map
}

/// What a dial-candidate query costs without an index: rank every entry by (source, recency)
/// and take the first `n`.
pub fn naive_dial_candidates(map: &HashMap<SocketAddr, PeerEntry>, n: usize) -> Vec<SocketAddr> {
    let mut all: Vec<(PeerSource, u64, SocketAddr)> = map
        .values()
        .map(|e| (e.source, e.last_seen, e.addr))
        .collect();
    let n = n.min(all.len());
    if n == 0 {
        return Vec::new();
    }
    // Highest source first, then most recent first.
    all.select_nth_unstable_by(n - 1, |a, b| (b.0, b.1).cmp(&(a.0, a.1)));
    all.truncate(n);
    all.sort_unstable_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    all.into_iter().map(|(_, _, addr)| addr).collect()
}
