//! The store's state machine behind the lock: the slab of entries, the address index, the three
//! recency tiers, the dial states, the counters. It owns every rule of DESIGN.md's realm store
//! (precedence, gossip, TTL, tiered eviction, backoff) and takes `now` as an argument; it never
//! locks, never reads a clock and never calls user code (the change hook runs in `mod.rs`, outside
//! the lock).
//!
//! Layout (issue 6 weighs speed, memory and snapshot stalls against each other):
//! - `slab`: the `PeerEntry` values in a two-level tree of `Arc`-shared chunks, so a snapshot
//!   is a copy of ~250 pointers per 1M entries.
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

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;

use hashbrown::{hash_table, HashTable};
use hashlink::LinkedHashMap;
use knownpeers_codecs::{
    stored_addr, PeerEntry, PeerSource, MAX_CAPABILITIES, MAX_CAPABILITY_LEN, MAX_NODE_ID_LEN,
};

use super::backoff::DialState;
use super::slab::{Branch, Leaf, Slab, CHUNK};
use super::{GossipPeer, GossipReport, HydrateReport, MetadataRejected, Observed, StoreConfig};

/// Tier number of a source: its rank, Gossip 0 < Bootstrap 1 < Connected 2.
pub(crate) fn rank(source: PeerSource) -> usize {
    match source {
        PeerSource::Gossip => 0,
        PeerSource::Bootstrap => 1,
        PeerSource::Connected => 2,
    }
}

/// The index hash of an address: std's keyed SipHash over one packed byte string of every
/// field `SocketAddr`'s `Eq` compares. Same keys as `hash_one(addr)`, but one `write` instead
/// of the derived `Hash`'s five (discriminant, length prefix, octets, port, ...): the hash was
/// ~7% of a 1M-entry load.
fn hash_addr(keys: &RandomState, addr: &SocketAddr) -> u64 {
    let mut hasher = keys.build_hasher();
    match addr {
        SocketAddr::V4(a) => {
            let mut bytes = [4u8; 7];
            bytes[1..5].copy_from_slice(&a.ip().octets());
            bytes[5..7].copy_from_slice(&a.port().to_le_bytes());
            hasher.write(&bytes);
        }
        SocketAddr::V6(a) => {
            let mut bytes = [6u8; 27];
            bytes[1..17].copy_from_slice(&a.ip().octets());
            bytes[17..19].copy_from_slice(&a.port().to_le_bytes());
            bytes[19..23].copy_from_slice(&a.flowinfo().to_le_bytes());
            bytes[23..27].copy_from_slice(&a.scope_id().to_le_bytes());
            hasher.write(&bytes);
        }
    }
    hasher.finish()
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

/// Where a newcomer goes (see `State::make_room`).
enum Room {
    /// Below the cap: a fresh slot.
    Free,
    /// The slot of an entry just evicted (or expired), already out of the index and its tier.
    Reuse(u32),
    /// Full of entries the newcomer may not evict.
    Full,
}

/// A newcomer's metadata. Gossip claims are borrowed so that a reused slot takes them with
/// `clone_from`, into the evicted entry's string buffers: a steady gossip flood at the cap then
/// mostly allocates nothing (issue 6's ingest goal).
enum Meta<'a> {
    Owned(Option<String>, Vec<String>),
    Borrowed(&'a Option<String>, &'a Vec<String>),
}

/// A newcomer.
struct NewEntry<'a> {
    addr: SocketAddr,
    source: PeerSource,
    last_seen: u64,
    meta: Meta<'a>,
}

impl NewEntry<'_> {
    fn build(self) -> PeerEntry {
        let (node_id, capabilities) = match self.meta {
            Meta::Owned(node_id, capabilities) => (node_id, capabilities),
            Meta::Borrowed(node_id, capabilities) => (node_id.clone(), capabilities.clone()),
        };
        PeerEntry {
            addr: self.addr,
            source: self.source,
            last_seen: self.last_seen,
            node_id,
            capabilities,
        }
    }

    /// Overwrites an evicted entry in place.
    fn write(self, entry: &mut PeerEntry) {
        entry.addr = self.addr;
        entry.source = self.source;
        entry.last_seen = self.last_seen;
        match self.meta {
            Meta::Owned(node_id, capabilities) => {
                entry.node_id = node_id;
                entry.capabilities = capabilities;
            }
            Meta::Borrowed(node_id, capabilities) => {
                entry.node_id.clone_from(node_id);
                entry.capabilities.clone_from(capabilities);
            }
        }
    }
}

/// A file's entries prepared outside the lock for `State::hydrate`, counted per tier to size
/// the tables.
///
/// Entries are inserted oldest first (so the newest end up most recent and evict older ones):
/// into an empty store `hydrate_fresh` takes them in file order and sorts only small
/// (`last_seen`, position, slot) keys to order the tiers (sorting the 96-byte entries
/// themselves was a quarter of a 1M-entry hydrate); the general path sorts the entries,
/// stably, so entries with equal `last_seen` keep their file order.
pub(crate) struct Load {
    entries: Vec<PeerEntry>,
    per_tier: [usize; 3],
}

impl Load {
    pub(crate) fn new(entries: Vec<PeerEntry>) -> Load {
        let mut per_tier = [0usize; 3];
        for e in &entries {
            per_tier[rank(e.source)] += 1;
        }
        Load { entries, per_tier }
    }
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
    /// Whether every tier is in `last_seen` order front to back (see `placed`). True until the
    /// clock goes backwards or a hydrate places an entry older than one already stored.
    ordered: bool,
    /// The largest `last_seen` placed at the back of a tier so far.
    latest_s: u64,
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
            ordered: true,
            latest_s: 0,
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

    /// Records that an entry with `last_seen` was just put at the back of its tier. An entry
    /// older than the newest placed so far breaks the tiers' `last_seen` order, after which
    /// snapshots count their entries instead of trusting the order.
    fn placed(&mut self, last_seen: u64) {
        if last_seen < self.latest_s {
            self.ordered = false;
        }
        self.latest_s = self.latest_s.max(last_seen);
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The exact number of unexpired entries if the tiers are in `last_seen` order: then the
    /// expired entries are exactly a prefix of each tier, so counting them costs O(expired)
    /// rather than a walk of the whole store. `None` if the order is not known to hold.
    pub(crate) fn live_len(&self, now_s: u64) -> Option<usize> {
        if !self.ordered {
            return None;
        }
        let ttl = self.config.ttl_secs;
        let expired: usize = self
            .tiers
            .iter()
            .map(|tier| {
                tier.keys()
                    .take_while(|&&slot| is_expired(self.slab.get(slot), now_s, ttl))
                    .count()
            })
            .sum();
        Some(self.index.len() - expired)
    }

    pub(crate) fn tier_len(&self, tier: usize) -> usize {
        self.tiers[tier].len()
    }

    fn hash(&self, addr: &SocketAddr) -> u64 {
        hash_addr(&self.hasher, addr)
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

    /// Takes an occupied slot out of the index; its entry stays in the slab.
    fn unindex(&mut self, slot: u32) {
        let hash = hash_addr(&self.hasher, &self.slab.get(slot).addr);
        if let Ok(found) = self.index.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
    }

    /// Removes an occupied slot from its tier, the index and the slab.
    fn remove_slot(&mut self, slot: u32) -> PeerEntry {
        let tier = rank(self.slab.get(slot).source);
        self.tiers[tier].remove(&slot);
        self.unindex(slot);
        self.slab.remove(slot)
    }

    /// Makes room for one newcomer of tier `rank`: DESIGN.md's eviction order. First an expired
    /// entry (any tier, lowest first; checking each tier's front is enough because the front is
    /// the tier's oldest entry), else the least recently seen entry of the lowest non-empty tier
    /// not above `rank`. The victim's slot is handed back for reuse (its strings' buffers too).
    fn make_room(&mut self, rank: usize, now_s: u64) -> Room {
        if self.index.len() < self.max_entries {
            return Room::Free;
        }
        if self.max_entries == 0 {
            return Room::Full;
        }
        let ttl = self.config.ttl_secs;
        let expired = (0..self.tiers.len()).find(|&tier| {
            self.tiers[tier]
                .front()
                .is_some_and(|(&slot, _)| is_expired(self.slab.get(slot), now_s, ttl))
        });
        let tier = match expired {
            Some(tier) => {
                self.counters.expired += 1;
                tier
            }
            None => match (0..=rank).find(|&tier| !self.tiers[tier].is_empty()) {
                Some(tier) => {
                    self.counters.evictions += 1;
                    tier
                }
                None => return Room::Full,
            },
        };
        let (slot, _) = self.tiers[tier]
            .pop_front()
            .expect("the tier was just seen non-empty");
        self.unindex(slot);
        Room::Reuse(slot)
    }

    /// Inserts an entry whose address is not in the store (`hash` is its address's hash).
    fn insert_new(&mut self, new: NewEntry<'_>, hash: u64, now_s: u64) -> Observed {
        let tier = rank(new.source);
        let last_seen = new.last_seen;
        let slot = match self.make_room(tier, now_s) {
            Room::Full => {
                self.counters.not_stored += 1;
                return Observed::NotStored;
            }
            Room::Free => self.slab.insert(new.build()),
            Room::Reuse(slot) => {
                new.write(self.slab.get_mut(slot));
                slot
            }
        };
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index
            .insert_unique(hash, slot, |&s| hash_addr(hasher, &slab.get(s).addr));
        self.tiers[tier].insert(slot, DialState::default());
        self.placed(last_seen);
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

    /// A successful connection. `node_id`/`capabilities` given as `None` keep an existing
    /// entry's value (a new entry gets none/empty); `Some` replaces it.
    pub(crate) fn observe_success(
        &mut self,
        addr: SocketAddr,
        node_id: Option<Option<String>>,
        capabilities: Option<Vec<String>>,
        now_s: u64,
    ) -> Observed {
        let hash = self.hash(&addr);
        match self.find_live(&addr, hash, now_s) {
            Some(slot) => {
                let entry = self.slab.get_mut(slot);
                let from = rank(entry.source);
                entry.source = PeerSource::Connected;
                entry.last_seen = now_s;
                if let Some(node_id) = node_id {
                    entry.node_id = node_id;
                }
                if let Some(capabilities) = capabilities {
                    entry.capabilities = capabilities;
                }
                // A success resets the dial backoff.
                self.retier(
                    slot,
                    from,
                    rank(PeerSource::Connected),
                    Some(DialState::default()),
                );
                self.placed(now_s);
                self.bump();
                Observed::Updated
            }
            None => self.insert_new(
                NewEntry {
                    addr,
                    source: PeerSource::Connected,
                    last_seen: now_s,
                    meta: Meta::Owned(node_id.flatten(), capabilities.unwrap_or_default()),
                },
                hash,
                now_s,
            ),
        }
    }

    /// Inserts `addr` as `source` with `last_seen = now` if it has no live entry; an existing
    /// entry is left exactly as it is. True if inserted.
    pub(crate) fn insert_if_absent(
        &mut self,
        addr: SocketAddr,
        source: PeerSource,
        now_s: u64,
    ) -> bool {
        let hash = self.hash(&addr);
        if self.find_live(&addr, hash, now_s).is_some() {
            return false;
        }
        let new = NewEntry {
            addr,
            source,
            last_seen: now_s,
            meta: Meta::Owned(None, Vec::new()),
        };
        self.insert_new(new, hash, now_s) == Observed::Inserted
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
                self.placed(now_s);
                self.bump();
                Observed::Updated
            }
            None => self.insert_new(
                NewEntry {
                    addr,
                    source: PeerSource::Bootstrap,
                    last_seen: now_s,
                    meta: Meta::Owned(None, Vec::new()),
                },
                hash,
                now_s,
            ),
        }
    }

    /// Gossip claims, already cut to the batch cap; adds to `report`. The caller counts rejects.
    pub(crate) fn observe_gossip(
        &mut self,
        peers: &[GossipPeer],
        now_s: u64,
        report: &mut GossipReport,
    ) {
        for peer in peers {
            if check_metadata(peer.node_id.as_deref(), &peer.capabilities).is_err() {
                report.rejected += 1;
                continue;
            }
            let addr = stored_addr(peer.addr);
            let hash = self.hash(&addr);
            match self.find_live(&addr, hash, now_s) {
                Some(slot) => {
                    if self.slab.get(slot).source == PeerSource::Gossip {
                        // Only `last_seen` is refreshed: the first claimed metadata stays until
                        // a handshake replaces it, so a gossiper cannot rewrite it at will.
                        self.slab.get_mut(slot).last_seen = now_s;
                        self.tiers[rank(PeerSource::Gossip)].to_back(&slot);
                        self.placed(now_s);
                        self.bump();
                        report.refreshed += 1;
                    } else {
                        report.ignored += 1;
                    }
                }
                None => {
                    let new = NewEntry {
                        addr,
                        source: PeerSource::Gossip,
                        last_seen: now_s,
                        meta: Meta::Borrowed(&peer.node_id, &peer.capabilities),
                    };
                    match self.insert_new(new, hash, now_s) {
                        Observed::Inserted => report.inserted += 1,
                        _ => report.not_stored += 1,
                    }
                }
            }
        }
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

    /// Addresses of every live entry, in query order.
    pub(crate) fn live_addrs(&self, now_s: u64) -> Vec<SocketAddr> {
        let mut out = Vec::with_capacity(self.index.len());
        out.extend(self.live(now_s).map(|(entry, _)| entry.addr));
        out
    }

    /// A uniform random sample of up to `k` live addresses not in `exclude` (reservoir
    /// sampling over one walk, so only `k` addresses are ever held), in random order.
    pub(crate) fn sample_addrs(
        &mut self,
        k: usize,
        exclude: &std::collections::HashSet<SocketAddr>,
        now_s: u64,
    ) -> Vec<SocketAddr> {
        let mut rng = std::mem::replace(&mut self.rng, fastrand::Rng::with_seed(0));
        let mut sample: Vec<SocketAddr> = Vec::with_capacity(k.min(self.index.len()));
        if k > 0 {
            let eligible = self
                .live(now_s)
                .map(|(entry, _)| entry.addr)
                .filter(|addr| !exclude.contains(addr));
            for (seen, addr) in eligible.enumerate() {
                if seen < k {
                    sample.push(addr);
                } else {
                    let j = rng.usize(0..=seen);
                    if j < k {
                        sample[j] = addr;
                    }
                }
            }
            rng.shuffle(&mut sample);
        }
        self.rng = rng;
        sample
    }

    /// The dial state of a live entry: consecutive failures and the unix ms before which it is
    /// not offered (0 if never failed since its last success).
    pub(crate) fn dial_state(&self, addr: &SocketAddr, now_s: u64) -> Option<(u8, u64)> {
        let slot = self.find(addr, self.hash(addr))?;
        let entry = self.slab.get(slot);
        if is_expired(entry, now_s, self.config.ttl_secs) {
            return None;
        }
        let dial = self.tiers[rank(entry.source)].get(&slot)?;
        Some((dial.failures(), dial.next_dial_ms()))
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

    /// Inserts a file's entries oldest first, dropping expired ones.
    pub(crate) fn hydrate(&mut self, load: Load, now_s: u64) -> HydrateReport {
        let mut report = HydrateReport::default();
        let ttl = self.config.ttl_secs;
        // Size the tables once for what can fit, instead of growing them step by step.
        let room = self.max_entries.saturating_sub(self.index.len());
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index.reserve(load.entries.len().min(room), |&s| {
            hash_addr(hasher, &slab.get(s).addr)
        });
        for (tier, count) in self.tiers.iter_mut().zip(load.per_tier) {
            tier.reserve(count.min(room));
        }
        let evictions_before = self.counters.evictions;
        if self.index.is_empty() && self.slab.is_pristine() && load.entries.len() <= room {
            self.hydrate_fresh(load.entries, now_s, &mut report);
            report.loaded = self.len();
            return report;
        }
        let mut entries = load.entries;
        entries.sort_by_key(|e| e.last_seen);
        for mut entry in entries {
            entry.addr = stored_addr(entry.addr);
            if is_expired(&entry, now_s, ttl) {
                report.expired += 1;
                continue;
            }
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
                        self.placed(last_seen);
                        self.bump();
                    }
                }
                None => {
                    let new = NewEntry {
                        addr: entry.addr,
                        source: entry.source,
                        last_seen: entry.last_seen,
                        meta: Meta::Owned(entry.node_id, entry.capabilities),
                    };
                    if self.insert_new(new, hash, now_s) == Observed::NotStored {
                        report.capped += 1;
                    }
                }
            }
        }
        report.capped += (self.counters.evictions - evictions_before) as usize;
        report.loaded = self.len();
        report
    }

    /// `hydrate` into a store that never held an entry, with room for every entry: nothing
    /// can be expired in the store or evicted, so the entries go in file order straight into
    /// fresh leaves (no copy-on-write check each), each with one find-or-insert probe of the
    /// index (not a lookup and then an insert). The tiers are then filled in (`last_seen`,
    /// file position) order from small keys, which is the order the general path inserts in.
    ///
    /// A file a reader has de-duplicated never finds its address taken. Other input may; the
    /// general path (oldest first, an equal or higher source replaces) then keeps, of the
    /// entries of one address, the one with the highest (source, `last_seen`, position), with
    /// its own `last_seen`, at that entry's place in the recency order: that is what this
    /// keeps too, whatever order the duplicates come in.
    fn hydrate_fresh(&mut self, entries: Vec<PeerEntry>, now_s: u64, report: &mut HydrateReport) {
        let ttl = self.config.ttl_secs;
        // Per slot, in slot order: (last_seen, file position, tier) of the entry it holds.
        let mut keys: Vec<(u64, usize, u8)> = Vec::with_capacity(entries.len());
        let mut leaf = Leaf::empty();
        // The slot number of `leaf[0]`, and how many of `leaf`'s slots are filled.
        let mut base: u32 = 0;
        let mut fill = 0usize;
        for (pos, mut entry) in entries.into_iter().enumerate() {
            entry.addr = stored_addr(entry.addr);
            if is_expired(&entry, now_s, ttl) {
                report.expired += 1;
                continue;
            }
            let hash = hash_addr(&self.hasher, &entry.addr);
            let (slab, hasher, cur) = (&self.slab, &self.hasher, &leaf);
            let at = |s: u32| -> &PeerEntry {
                if s >= base {
                    cur[(s - base) as usize]
                        .as_ref()
                        .expect("the index holds filled slots only")
                } else {
                    slab.get(s)
                }
            };
            let found = self.index.entry(
                hash,
                |&s| at(s).addr == entry.addr,
                |&s| hash_addr(hasher, &at(s).addr),
            );
            match found {
                hash_table::Entry::Vacant(vacant) => {
                    vacant.insert(base + fill as u32);
                    keys.push((entry.last_seen, pos, rank(entry.source) as u8));
                    leaf[fill] = Some(entry);
                    fill += 1;
                    if fill == CHUNK {
                        let full = std::mem::replace(&mut leaf, Leaf::empty());
                        self.slab.push_leaf(full, CHUNK);
                        base += CHUNK as u32;
                        fill = 0;
                    }
                }
                hash_table::Entry::Occupied(occupied) => {
                    let slot = *occupied.get();
                    let old = if slot >= base {
                        leaf[(slot - base) as usize]
                            .as_mut()
                            .expect("the index holds filled slots only")
                    } else {
                        self.slab.get_mut(slot)
                    };
                    let (new_rank, old_rank) = (rank(entry.source), rank(old.source));
                    if new_rank < old_rank
                        || (new_rank == old_rank && entry.last_seen < old.last_seen)
                    {
                        continue;
                    }
                    keys[slot as usize] = (entry.last_seen, pos, new_rank as u8);
                    *old = entry;
                }
            }
            self.bump();
        }
        if fill > 0 {
            self.slab.push_leaf(leaf, fill);
        }
        let mut counts = [0usize; 3];
        for &(_, _, tier) in &keys {
            counts[usize::from(tier)] += 1;
        }
        let mut per_tier = counts.map(Vec::<(u64, usize, u32)>::with_capacity);
        for (slot, &(last_seen, pos, tier)) in keys.iter().enumerate() {
            per_tier[usize::from(tier)].push((last_seen, pos, slot as u32));
        }
        drop(keys);
        for (tier, mut order) in per_tier.into_iter().enumerate() {
            // Positions are distinct, so the unstable sort gives one order.
            order.sort_unstable();
            if let Some(&(newest, _, _)) = order.last() {
                self.latest_s = self.latest_s.max(newest);
            }
            let tier = &mut self.tiers[tier];
            for (_, _, slot) in order {
                tier.insert(slot, DialState::default());
            }
        }
    }

    /// The branch pointers and generation, for a snapshot (no entry copied).
    pub(crate) fn share(&self) -> (Vec<Arc<Branch>>, u64) {
        // (`live_len` gives the snapshot its length when that is cheap.)
        (self.slab.share(), self.generation)
    }
}
