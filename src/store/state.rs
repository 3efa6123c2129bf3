//! The store's state machine behind the lock: the slab of entries, the address index, the three
//! recency tiers, the dial states, the counters. It owns every rule of DESIGN.md's realm store
//! (precedence, gossip, TTL, tiered eviction, backoff) and takes `now` as an argument; it never
//! locks, never reads a clock and never calls user code (the change hook runs in `mod.rs`, outside
//! the lock).
//!
//! Layout (issue 6 weighs speed, memory and snapshot stalls against each other):
//! - `slab`: the `PeerEntry` values in `Arc`-shared chunks, so a snapshot is a pointer copy.
//! - `index`: address -> slot, a `hashbrown::HashTable<u32>` hashed with std's keyed SipHash
//!   (`RandomState`): gossip lets a remote peer choose the keys, so the index must resist
//!   collision flooding; storing 4-byte slot numbers instead of 32-byte addresses keeps it small.
//! - `tiers`: one `hashlink::LinkedHashMap<slot, DialState>` per source, front = least recently
//!   seen. Slot keys are our own numbers, so the tiers use hashlink's fast default hasher.
//!
//! **Invariant:** every occupied slot is in `index` exactly once and in exactly the tier of its
//! entry's source, and nothing else is in either. Within a tier, recency order is the order of
//! `last_seen` as long as the clock does not go backwards (every touch sets `last_seen = now`;
//! hydrate inserts oldest first), so a tier's front is also its oldest entry.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;

use hashbrown::HashTable;
use hashlink::LinkedHashMap;
use knownpeers_codecs::{
    PeerEntry, PeerSource, MAX_CAPABILITIES, MAX_CAPABILITY_LEN, MAX_NODE_ID_LEN,
};

use super::backoff::DialState;
use super::slab::{Chunk, Slab};
use super::{GossipPeer, GossipReport, HydrateReport, MetadataRejected, Observed, StoreConfig};

/// Tier number of a source: its rank, Gossip 0 < Bootstrap 1 < Connected 2.
pub(crate) fn rank(source: PeerSource) -> usize {
    match source {
        PeerSource::Gossip => 0,
        PeerSource::Bootstrap => 1,
        PeerSource::Connected => 2,
    }
}

/// DESIGN.md's TTL rule: expired when `now - last_seen > ttl`. An entry seen "in the future"
/// (clock skew in a loaded file) is not expired.
pub(crate) fn is_expired(entry: &PeerEntry, now_s: u64, ttl_secs: u64) -> bool {
    now_s.saturating_sub(entry.last_seen) > ttl_secs
}

/// FORMAT.md's per-entry metadata limits. The message names the limit, never the peer.
pub(crate) fn check_metadata(
    node_id: Option<&str>,
    capabilities: &[String],
) -> Result<(), MetadataRejected> {
    if let Some(id) = node_id {
        if id.len() > MAX_NODE_ID_LEN {
            return Err(MetadataRejected {
                what: format!("node_id of {} bytes (limit {MAX_NODE_ID_LEN})", id.len()),
            });
        }
    }
    if capabilities.len() > MAX_CAPABILITIES {
        return Err(MetadataRejected {
            what: format!(
                "{} capabilities (limit {MAX_CAPABILITIES})",
                capabilities.len()
            ),
        });
    }
    if let Some(cap) = capabilities.iter().find(|c| c.len() > MAX_CAPABILITY_LEN) {
        return Err(MetadataRejected {
            what: format!(
                "a capability of {} bytes (limit {MAX_CAPABILITY_LEN})",
                cap.len()
            ),
        });
    }
    Ok(())
}

/// Monotonic counters (the per-source counts are the tier lengths).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) evictions: u64,
    pub(crate) expired: u64,
    pub(crate) rejected_gossip: u64,
    pub(crate) not_stored: u64,
}

/// Everything behind the store's mutex.
pub(crate) struct State {
    config: StoreConfig,
    /// `config.max_entries`, clamped so slot numbers fit a `u32`.
    max_entries: usize,
    slab: Slab,
    index: HashTable<u32>,
    hasher: RandomState,
    tiers: [LinkedHashMap<u32, DialState>; 3],
    rng: fastrand::Rng,
    generation: u64,
    pub(crate) counters: Counters,
    pub(crate) hook: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// Iteration order of the queries: Connected, Bootstrap, Gossip, each most recent first.
const QUERY_TIERS: [usize; 3] = [2, 1, 0];

impl State {
    pub(crate) fn new(config: StoreConfig) -> State {
        let rng = match config.jitter_seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        State {
            max_entries: config.max_entries.min(u32::MAX as usize),
            config,
            slab: Slab::default(),
            index: HashTable::new(),
            hasher: RandomState::new(),
            tiers: Default::default(),
            rng,
            generation: 0,
            counters: Counters::default(),
            hook: None,
        }
    }

    pub(crate) fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Records a change of the persisted contents.
    fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn tier_len(&self, tier: usize) -> usize {
        self.tiers[tier].len()
    }

    fn hash(&self, addr: &SocketAddr) -> u64 {
        self.hasher.hash_one(addr)
    }

    /// The slot of `addr`, expired or not.
    fn find(&self, addr: &SocketAddr, hash: u64) -> Option<u32> {
        let slab = &self.slab;
        self.index
            .find(hash, |&slot| slab.get(slot).addr == *addr)
            .copied()
    }

    /// The slot of `addr` if it holds a live entry. An expired entry is removed on the way, so
    /// an observation of an expired address behaves exactly like one of an unknown address.
    fn find_live(&mut self, addr: &SocketAddr, hash: u64, now_s: u64) -> Option<u32> {
        let slot = self.find(addr, hash)?;
        if is_expired(self.slab.get(slot), now_s, self.config.ttl_secs) {
            self.remove_slot(slot);
            self.counters.expired += 1;
            self.bump();
            return None;
        }
        Some(slot)
    }

    /// Removes an occupied slot from the tier, the index and the slab.
    fn remove_slot(&mut self, slot: u32) -> PeerEntry {
        let (tier, hash) = {
            let entry = self.slab.get(slot);
            (rank(entry.source), self.hasher.hash_one(entry.addr))
        };
        self.tiers[tier].remove(&slot);
        if let Ok(found) = self.index.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
        self.slab.remove(slot)
    }

    /// Makes room for one newcomer of tier `rank`: DESIGN.md's eviction order. First an expired
    /// entry (any tier, lowest first; checking each tier's front is enough because the front is
    /// the tier's oldest entry), else the least recently seen entry of the lowest non-empty tier
    /// not above `rank`. Returns false if the newcomer may not be stored.
    fn make_room(&mut self, rank: usize, now_s: u64) -> bool {
        if self.index.len() < self.max_entries {
            return true;
        }
        if self.max_entries == 0 {
            return false;
        }
        for tier in 0..self.tiers.len() {
            if let Some((&slot, _)) = self.tiers[tier].front() {
                if is_expired(self.slab.get(slot), now_s, self.config.ttl_secs) {
                    self.remove_slot(slot);
                    self.counters.expired += 1;
                    return true;
                }
            }
        }
        for tier in 0..=rank {
            if let Some((&slot, _)) = self.tiers[tier].front() {
                self.remove_slot(slot);
                self.counters.evictions += 1;
                return true;
            }
        }
        false
    }

    /// Inserts an entry whose address is not in the store (`hash` is its address's hash).
    fn insert_new(&mut self, entry: PeerEntry, hash: u64, now_s: u64) -> Observed {
        let tier = rank(entry.source);
        if !self.make_room(tier, now_s) {
            self.counters.not_stored += 1;
            return Observed::NotStored;
        }
        let slot = self.slab.insert(entry);
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index
            .insert_unique(hash, slot, |&s| hasher.hash_one(slab.get(s).addr));
        self.tiers[tier].insert(slot, DialState::default());
        self.bump();
        Observed::Inserted
    }

    /// Moves `slot` to the back (most recent) of tier `to`, from tier `from`, with `dial`.
    fn retier(&mut self, slot: u32, from: usize, to: usize, dial: Option<DialState>) {
        if from == to {
            if let Some(state) = self.tiers[to].to_back(&slot) {
                if let Some(dial) = dial {
                    *state = dial;
                }
            }
        } else {
            let old = self.tiers[from].remove(&slot).unwrap_or_default();
            self.tiers[to].insert(slot, dial.unwrap_or(old));
        }
    }

    pub(crate) fn observe_connected(
        &mut self,
        addr: SocketAddr,
        node_id: Option<String>,
        capabilities: Vec<String>,
        now_s: u64,
    ) -> Observed {
        let hash = self.hash(&addr);
        match self.find_live(&addr, hash, now_s) {
            Some(slot) => {
                let entry = self.slab.get_mut(slot);
                let from = rank(entry.source);
                entry.source = PeerSource::Connected;
                entry.last_seen = now_s;
                entry.node_id = node_id;
                entry.capabilities = capabilities;
                // A success resets the dial backoff.
                self.retier(
                    slot,
                    from,
                    rank(PeerSource::Connected),
                    Some(DialState::default()),
                );
                self.bump();
                Observed::Updated
            }
            None => self.insert_new(
                PeerEntry {
                    addr,
                    source: PeerSource::Connected,
                    last_seen: now_s,
                    node_id,
                    capabilities,
                },
                hash,
                now_s,
            ),
        }
    }

    pub(crate) fn observe_bootstrap(&mut self, addr: SocketAddr, now_s: u64) -> Observed {
        let hash = self.hash(&addr);
        match self.find_live(&addr, hash, now_s) {
            Some(slot) => {
                // Configuration is trusted: it refreshes any entry and raises Gossip to
                // Bootstrap, keeping metadata (a Connected entry's handshake metadata is better).
                let entry = self.slab.get_mut(slot);
                let from = rank(entry.source);
                entry.source = entry.source.max(PeerSource::Bootstrap);
                entry.last_seen = now_s;
                let to = rank(entry.source);
                self.retier(slot, from, to, None);
                self.bump();
                Observed::Updated
            }
            None => self.insert_new(
                PeerEntry {
                    addr,
                    source: PeerSource::Bootstrap,
                    last_seen: now_s,
                    node_id: None,
                    capabilities: Vec::new(),
                },
                hash,
                now_s,
            ),
        }
    }

    pub(crate) fn observe_gossip(&mut self, batch: &[GossipPeer], now_s: u64) -> GossipReport {
        let take = batch.len().min(self.config.max_gossip_batch);
        let mut report = GossipReport {
            over_batch: batch.len() - take,
            ..GossipReport::default()
        };
        for peer in &batch[..take] {
            if check_metadata(peer.node_id.as_deref(), &peer.capabilities).is_err() {
                report.rejected += 1;
                continue;
            }
            let hash = self.hash(&peer.addr);
            match self.find_live(&peer.addr, hash, now_s) {
                Some(slot) => {
                    if self.slab.get(slot).source == PeerSource::Gossip {
                        // Only `last_seen` is refreshed: the first claimed metadata stays until
                        // a handshake replaces it, so a gossiper cannot rewrite it at will.
                        self.slab.get_mut(slot).last_seen = now_s;
                        self.tiers[rank(PeerSource::Gossip)].to_back(&slot);
                        self.bump();
                        report.refreshed += 1;
                    } else {
                        report.ignored += 1;
                    }
                }
                None => {
                    let entry = PeerEntry {
                        addr: peer.addr,
                        source: PeerSource::Gossip,
                        last_seen: now_s,
                        node_id: peer.node_id.clone(),
                        capabilities: peer.capabilities.clone(),
                    };
                    match self.insert_new(entry, hash, now_s) {
                        Observed::Inserted => report.inserted += 1,
                        _ => report.not_stored += 1,
                    }
                }
            }
        }
        self.counters.rejected_gossip += (report.rejected + report.over_batch) as u64;
        report
    }

    pub(crate) fn observe_dial_failure(&mut self, addr: SocketAddr, now_ms: u64) {
        let now_s = now_ms / 1000;
        let hash = self.hash(&addr);
        // An unknown address is not tracked: dial state for addresses we do not store would be
        // unbounded memory an attacker could fill.
        let Some(slot) = self.find_live(&addr, hash, now_s) else {
            return;
        };
        let tier = rank(self.slab.get(slot).source);
        let backoff = self.config.backoff;
        let rng = &mut self.rng;
        if let Some(state) = self.tiers[tier].get_mut(&slot) {
            *state = state.after_failure(now_ms, &backoff, |max| rng.u64(0..=max));
        }
    }

    pub(crate) fn get(&self, addr: &SocketAddr, now_s: u64) -> Option<PeerEntry> {
        let slot = self.find(addr, self.hash(addr))?;
        let entry = self.slab.get(slot);
        (!is_expired(entry, now_s, self.config.ttl_secs)).then(|| entry.clone())
    }

    /// Live entries in query order (Connected, Bootstrap, Gossip; most recent first).
    fn live(&self, now_s: u64) -> impl Iterator<Item = (&PeerEntry, DialState)> + '_ {
        let ttl = self.config.ttl_secs;
        QUERY_TIERS.iter().flat_map(move |&tier| {
            self.tiers[tier]
                .iter()
                .rev()
                .map(|(&slot, &dial)| (self.slab.get(slot), dial))
                .filter(move |(entry, _)| !is_expired(entry, now_s, ttl))
        })
    }

    pub(crate) fn with_capability(&self, cap: &str, now_s: u64) -> Vec<PeerEntry> {
        self.live(now_s)
            .filter(|(entry, _)| entry.capabilities.iter().any(|c| c == cap))
            .map(|(entry, _)| entry.clone())
            .collect()
    }

    pub(crate) fn dial_candidates(&self, n: usize, now_ms: u64) -> Vec<SocketAddr> {
        self.live(now_ms / 1000)
            .filter(|(_, dial)| dial.ready(now_ms))
            .map(|(entry, _)| entry.addr)
            .take(n)
            .collect()
    }

    pub(crate) fn expire(&mut self, now_s: u64) -> usize {
        let ttl = self.config.ttl_secs;
        let slab = &self.slab;
        let dead: Vec<u32> = self
            .tiers
            .iter()
            .flat_map(|tier| tier.keys().copied())
            .filter(|&slot| is_expired(slab.get(slot), now_s, ttl))
            .collect();
        for &slot in &dead {
            self.remove_slot(slot);
        }
        if !dead.is_empty() {
            self.counters.expired += dead.len() as u64;
            self.bump();
        }
        dead.len()
    }

    pub(crate) fn hydrate(&mut self, mut entries: Vec<PeerEntry>, now_s: u64) -> HydrateReport {
        let mut report = HydrateReport::default();
        let ttl = self.config.ttl_secs;
        let before = entries.len();
        entries.retain(|e| !is_expired(e, now_s, ttl));
        report.expired = before - entries.len();
        // Oldest first, so the newest entries end up most recent and evict older ones.
        entries.sort_by_key(|e| e.last_seen);
        let evictions_before = self.counters.evictions;
        for entry in entries {
            let hash = self.hash(&entry.addr);
            match self.find_live(&entry.addr, hash, now_s) {
                Some(slot) => {
                    // The same address twice (or already observed): the higher source wins, as
                    // with observations; an equal or higher one replaces the lower one's data.
                    let existing = self.slab.get(slot);
                    let from = rank(existing.source);
                    let to = rank(entry.source);
                    if to >= from {
                        let last_seen = existing.last_seen.max(entry.last_seen);
                        *self.slab.get_mut(slot) = PeerEntry { last_seen, ..entry };
                        self.retier(slot, from, to, None);
                        self.bump();
                    }
                }
                None => {
                    if self.insert_new(entry, hash, now_s) == Observed::NotStored {
                        report.capped += 1;
                    }
                }
            }
        }
        report.capped += (self.counters.evictions - evictions_before) as usize;
        report.loaded = self.len();
        report
    }

    /// The chunk pointers and generation, for a snapshot (O(chunks), no entry copied).
    pub(crate) fn share(&self) -> (Vec<Arc<Chunk>>, u64) {
        (self.slab.share(), self.generation)
    }
}
