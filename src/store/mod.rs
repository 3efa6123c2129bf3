//! The realm store in memory (DESIGN.md "The realm store"): bounded, TTL-expiring, tier-evicting,
//! fed by observations. It owns no file and no tokio: persistence takes snapshots of it.
//!
//! This file holds the public API and the lock; the rules live in `state` (behind the lock),
//! the chunked copy-on-write entry storage in `slab`, the recency tiers in `tiers`, the bulk
//! hydrate of a pristine store in `bulk`, the dial schedule in `backoff`.

mod backoff;
mod bulk;
mod slab;
mod state;
mod tiers;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};

use knownpeers_codecs::{
    stored_addr, EntrySource, Error as CodecError, PeerEntry, PeerSource, Piece, PieceEncoder,
};

use slab::Branch;
use state::State;

/// A source of time. Every observation and query takes `now` from the store's clock, so tests
/// inject a [`ManualClock`] and TTL and backoff are exact.
pub trait Clock: Send + Sync + 'static {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> u64;
    /// Unix time in seconds.
    fn now(&self) -> u64 {
        self.now_ms() / 1000
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock at `secs` unix seconds.
    pub fn at_secs(secs: u64) -> ManualClock {
        ManualClock {
            now_ms: AtomicU64::new(secs * 1000),
        }
    }
    /// Sets the time in milliseconds.
    pub fn set_ms(&self, ms: u64) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }
    /// Moves the time forward.
    pub fn advance_ms(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// Dial backoff after consecutive failures: `min(base * 2^(k-1), cap)`, minus up to
/// `jitter_permille`/1000 of it drawn from the store's RNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure, in ms (default 1000).
    pub base_ms: u64,
    /// Longest delay, in ms (default 600_000).
    pub cap_ms: u64,
    /// Jitter as a fraction of the delay, in thousandths (default 200; 0 = exact).
    pub jitter_permille: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 1000,
            cap_ms: 600_000,
            jitter_permille: 200,
        }
    }
}

/// Limits and schedule of one realm store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Capacity (default 1024).
    pub max_entries: usize,
    /// An entry is expired when `now - last_seen > ttl_secs` (default 604800).
    pub ttl_secs: u64,
    /// Most addresses taken from one gossip batch (default 1000).
    pub max_gossip_batch: usize,
    /// Dial backoff.
    pub backoff: Backoff,
    /// Seed of the jitter RNG; `None` seeds from the OS.
    pub jitter_seed: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_entries: 1024,
            ttl_secs: 604_800,
            max_gossip_batch: 1000,
            backoff: Backoff::default(),
            jitter_seed: None,
        }
    }
}

/// One address heard in a PeerList, with the metadata the gossiper claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipPeer {
    /// The address.
    pub addr: SocketAddr,
    /// Claimed node id.
    pub node_id: Option<String>,
    /// Claimed capabilities.
    pub capabilities: Vec<String>,
}

/// What one observation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A new entry was stored.
    Inserted,
    /// An existing entry was updated or refreshed.
    Updated,
    /// Nothing changed (e.g. gossip about a Bootstrap entry).
    Ignored,
    /// The store is full of entries this one may not evict.
    NotStored,
}

/// An address's dial schedule ([`PeerStore::dial_state`]): runtime-only, never persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DialState {
    /// Consecutive dial failures since the last success (saturates at 255).
    pub failures: u32,
    /// Unix time in ms before which [`PeerStore::dial_candidates`] does not offer the address;
    /// `None`: it may be dialled now.
    pub next_dial_at_ms: Option<u64>,
}

/// Metadata over FORMAT.md's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("peer metadata over limits: {what}")]
pub struct MetadataRejected {
    /// Which limit.
    pub what: String,
}

/// What one gossip batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipReport {
    /// New Gossip entries stored.
    pub inserted: usize,
    /// Gossip entries whose `last_seen` was refreshed.
    pub refreshed: usize,
    /// Addresses of Bootstrap/Connected entries, left alone.
    pub ignored: usize,
    /// Entries refused for oversize metadata.
    pub rejected: usize,
    /// Addresses past `max_gossip_batch`, not looked at.
    pub over_batch: usize,
    /// New addresses not stored for lack of evictable room.
    pub not_stored: usize,
}

/// What a hydrate did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HydrateReport {
    /// Entries now in the store.
    pub loaded: usize,
    /// Entries dropped as expired.
    pub expired: usize,
    /// Entries dropped by the capacity cap.
    pub capped: usize,
}

/// Counters for a node operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Entries now Connected.
    pub connected: usize,
    /// Entries now Bootstrap.
    pub bootstrap: usize,
    /// Entries now Gossip.
    pub gossip: usize,
    /// Entries evicted for room since creation.
    pub evictions: u64,
    /// Entries dropped as expired since creation.
    pub expired: u64,
    /// Gossip entries refused (metadata or over batch) since creation.
    pub rejected_gossip: u64,
    /// New entries not stored for lack of evictable room since creation.
    pub not_stored: u64,
}

/// A consistent copy of a store's unexpired entries, for saving.
///
/// Taking one holds the store's lock only to copy the pointers of the entry tree's branches
/// (structural sharing; about 250 pointers per 1M entries), never the entries: the store copies
/// a shared leaf of 64 entries before its next write to it. The entries are in storage order, not recency order (a file is
/// sorted by `last_seen` when it is loaded).
#[derive(Clone)]
pub struct Snapshot {
    branches: Vec<Arc<Branch>>,
    generation: u64,
    now_s: u64,
    ttl_secs: u64,
    /// Set under the lock when the store knows it cheaply (`State::live_len`), else counted on
    /// first use, outside the lock.
    len: OnceLock<usize>,
}

impl std::fmt::Debug for Snapshot {
    /// Counts only: a snapshot is a plaintext peer list and is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("generation", &self.generation)
            .field("len", &self.len())
            .finish()
    }
}

impl Snapshot {
    /// The store's change counter when the snapshot was taken.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// The entries.
    pub fn to_vec(&self) -> Vec<PeerEntry> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.iter().cloned());
        out
    }

    fn iter(&self) -> impl Iterator<Item = &PeerEntry> + '_ {
        let (now_s, ttl) = (self.now_s, self.ttl_secs);
        slab::entries(&self.branches).filter(move |entry| !state::is_expired(entry, now_s, ttl))
    }
}

impl EntrySource for Snapshot {
    fn len(&self) -> usize {
        *self.len.get_or_init(|| self.iter().count())
    }
    fn entries(&self) -> Box<dyn Iterator<Item = &PeerEntry> + '_> {
        Box::new(self.iter())
    }
    /// The store's index holds each stored address once (every observation and `hydrate` key
    /// entries by `stored_addr`), so the writer skips its own duplicate check.
    fn addrs_unique(&self) -> bool {
        true
    }
    /// One piece per slab leaf: the leaf's kept encoding when it is `encoder`'s and none of its
    /// entries can have expired (its oldest `last_seen` is still fresh); else, when the leaf
    /// keeps nothing and all its entries are fresh, their encoding, kept from now on; else
    /// (the leaf keeps another codec's encoding, or holds an expired entry) its fresh entries,
    /// for the writer to encode this once.
    fn pieces(&self, encoder: &PieceEncoder) -> Option<Result<Vec<Piece<'_>>, CodecError>> {
        Some(self.collect_pieces(encoder))
    }
}

impl Snapshot {
    fn collect_pieces(&self, encoder: &PieceEncoder) -> Result<Vec<Piece<'_>>, CodecError> {
        let (now_s, ttl) = (self.now_s, self.ttl_secs);
        let fresh = move |e: &&PeerEntry| !state::is_expired(e, now_s, ttl);
        let mut pieces = Vec::with_capacity(self.branches.len() * slab::FANOUT);
        for leaf in slab::leaves(&self.branches) {
            let kept = leaf.encoded().get();
            if let Some(kept) = kept {
                let stale = kept
                    .oldest_last_seen()
                    .is_some_and(|t| now_s.saturating_sub(t) > ttl);
                if kept.is_for(encoder) && !stale {
                    if !kept.is_empty() {
                        pieces.push(Piece::Kept(kept));
                    }
                    continue;
                }
            }
            let occupied = leaf.iter().flatten();
            if kept.is_none() && occupied.clone().all(|e| fresh(&e)) {
                let piece = encoder.encode(occupied.clone())?;
                // A save running beside this one may have filled the cell first: with the
                // same entries (a leaf is immutable while shared), all fresh as checked here.
                let _ = leaf.encoded().set(piece);
                let piece = leaf.encoded().get().expect("filled just above");
                if piece.is_for(encoder) {
                    if !piece.is_empty() {
                        pieces.push(Piece::Kept(piece));
                    }
                    continue;
                }
            }
            let run: Vec<&PeerEntry> = occupied.filter(fresh).collect();
            if !run.is_empty() {
                pieces.push(Piece::Entries(run));
            }
        }
        Ok(pieces)
    }
}

/// What the store's handles share.
struct Shared {
    /// A `std` mutex, not an async one: every critical section is synchronous and never holds
    /// the guard across an `.await` (this module has no async code at all), so the guard cannot
    /// be held over a suspension point. Observations are O(1) under it and a snapshot copies
    /// ~250 pointers per 1M entries; only `expire`, `with_capability` and a `dial_candidates`
    /// walk past many backed-off entries are O(n), meant for occasional use.
    state: Mutex<State>,
    /// Threads blocked on `state` (counted only on the slow path): a long gossip batch hands
    /// the lock over between slices when someone waits.
    waiting: AtomicUsize,
    clock: Arc<dyn Clock>,
    /// The configuration (also inside the state); immutable, so readable without the lock.
    config: StoreConfig,
}

/// Gossip claims handled per lock hold. A 1000-address batch under one hold is ~0.3-0.5 ms, but
/// while a snapshot is alive each write may first copy a shared leaf and branch (measured
/// 15-40 µs at 1M entries), so a whole batch could hold the lock for tens of ms. Between slices
/// the lock is handed to any waiter, so a waiter's worst case is one slice (~16 leaf copies,
/// well under 1 ms).
const GOSSIP_SLICE: usize = 16;

/// One realm's known peers. Cheap to clone (an `Arc`), safe to share between tasks.
#[derive(Clone)]
pub struct PeerStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PeerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerStore")
            .field("len", &self.len())
            .finish()
    }
}

impl PeerStore {
    /// An empty store.
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> PeerStore {
        PeerStore {
            shared: Arc::new(Shared {
                state: Mutex::new(State::new(config.clone())),
                waiting: AtomicUsize::new(0),
                clock,
                config,
            }),
        }
    }

    /// The lock. A poisoned lock is taken over: the only outside code run under it is the
    /// clock's `now_ms` (the change hook is called after the lock is released), so a panic there
    /// would be a bug in this module or the clock, and every other task of the node failing with
    /// it would help no one.
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.shared.state.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.shared.waiting.fetch_add(1, Ordering::Relaxed);
                let guard = self
                    .shared
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                self.shared.waiting.fetch_sub(1, Ordering::Relaxed);
                guard
            }
        }
    }

    /// Runs `f` on the state with the current time (read under the lock, so recency order and
    /// `last_seen` order agree across threads), then calls the change hook, outside the lock,
    /// if the persisted contents changed.
    fn mutate<R>(&self, f: impl FnOnce(&mut State, u64) -> R) -> R {
        let (result, hook) = {
            let mut state = self.lock();
            let before = state.generation();
            let now_ms = self.shared.clock.now_ms();
            let result = f(&mut state, now_ms);
            let hook = (state.generation() != before)
                .then(|| state.hook.clone())
                .flatten();
            (result, hook)
        };
        if let Some(hook) = hook {
            hook();
        }
        result
    }

    /// Runs a read-only `f` on the state with the current time in ms.
    fn read<R>(&self, f: impl FnOnce(&State, u64) -> R) -> R {
        let state = self.lock();
        let now_ms = self.shared.clock.now_ms();
        f(&state, now_ms)
    }

    /// Its configuration.
    pub fn config(&self) -> StoreConfig {
        self.shared.config.clone()
    }
    /// A successful connect/handshake: source Connected, `last_seen = now`, metadata replaced,
    /// dial failures reset.
    pub fn observe_connected(
        &self,
        addr: SocketAddr,
        node_id: Option<String>,
        capabilities: Vec<String>,
    ) -> Result<Observed, MetadataRejected> {
        state::check_metadata(node_id.as_deref(), &capabilities)?;
        let addr = stored_addr(addr);
        Ok(self.mutate(|state, now_ms| {
            state.observe_success(addr, Some(node_id), Some(capabilities), now_ms / 1000)
        }))
    }
    /// A successful connection that keeps what it does not know: source Connected,
    /// `last_seen = now`, dial failures reset; `node_id` or `capabilities` given as `None`
    /// keep the entry's value (a new entry gets none/empty), `Some` replaces it. One atomic
    /// call, so "connected again" needs no read-then-write. Oversize metadata is refused
    /// (nothing changes).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use knownpeers::{ManualClock, PeerSource, PeerStore, StoreConfig};
    ///
    /// let store = PeerStore::new(StoreConfig::default(), Arc::new(ManualClock::at_secs(1000)));
    /// let addr = "192.0.2.7:7447".parse().expect("an address");
    /// store.observe_success(addr, Some("node-7".into()), Some(vec!["relay".into()]))?;
    /// store.observe_success(addr, None, None)?; // a reconnect: metadata kept
    /// let entry = store.get(&addr).expect("stored");
    /// assert_eq!(entry.source, PeerSource::Connected);
    /// assert_eq!(entry.node_id.as_deref(), Some("node-7"));
    /// assert_eq!(entry.capabilities, ["relay"]);
    /// # Ok::<(), knownpeers::MetadataRejected>(())
    /// ```
    pub fn observe_success(
        &self,
        addr: SocketAddr,
        node_id: Option<String>,
        capabilities: Option<Vec<String>>,
    ) -> Result<Observed, MetadataRejected> {
        state::check_metadata(node_id.as_deref(), capabilities.as_deref().unwrap_or(&[]))?;
        let addr = stored_addr(addr);
        Ok(self.mutate(|state, now_ms| {
            state.observe_success(addr, node_id.map(Some), capabilities, now_ms / 1000)
        }))
    }
    /// Seeds `addr` as `source` (`last_seen = now`, no metadata) if it has no live entry; an
    /// existing entry is not refreshed, re-sourced or otherwise touched. True if inserted
    /// (false also when the store is full of entries this one may not evict).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use knownpeers::{ManualClock, PeerSource, PeerStore, StoreConfig};
    ///
    /// let store = PeerStore::new(StoreConfig::default(), Arc::new(ManualClock::at_secs(1000)));
    /// let addr = "192.0.2.8:7447".parse().expect("an address");
    /// assert!(store.insert_if_absent(addr, PeerSource::Gossip));
    /// assert!(!store.insert_if_absent(addr, PeerSource::Bootstrap)); // still Gossip
    /// assert_eq!(store.get(&addr).expect("stored").source, PeerSource::Gossip);
    /// ```
    pub fn insert_if_absent(&self, addr: SocketAddr, source: PeerSource) -> bool {
        let addr = stored_addr(addr);
        self.mutate(|state, now_ms| state.insert_if_absent(addr, source, now_ms / 1000))
    }
    /// Seeding from configuration: inserts as Bootstrap, or raises/refreshes.
    pub fn observe_bootstrap(&self, addr: SocketAddr) -> Observed {
        let addr = stored_addr(addr);
        self.mutate(|state, now_ms| state.observe_bootstrap(addr, now_ms / 1000))
    }
    /// Addresses heard in a PeerList (untrusted; see DESIGN.md).
    pub fn observe_gossip(&self, batch: &[GossipPeer]) -> GossipReport {
        let take = batch.len().min(self.shared.config.max_gossip_batch);
        let mut report = GossipReport {
            over_batch: batch.len() - take,
            ..GossipReport::default()
        };
        let mut changed = false;
        let mut state = self.lock();
        for (i, slice) in batch[..take].chunks(GOSSIP_SLICE).enumerate() {
            if i > 0 && self.shared.waiting.load(Ordering::Relaxed) > 0 {
                drop(state);
                std::thread::yield_now();
                state = self.lock();
            }
            let before = state.generation();
            let now_s = self.shared.clock.now_ms() / 1000;
            state.observe_gossip(slice, now_s, &mut report);
            changed |= state.generation() != before;
        }
        state.counters.rejected_gossip += (report.rejected + report.over_batch) as u64;
        let hook = changed.then(|| state.hook.clone()).flatten();
        drop(state);
        if let Some(hook) = hook {
            hook();
        }
        report
    }
    /// A failed dial: counts the failure and schedules the next attempt.
    pub fn observe_dial_failure(&self, addr: SocketAddr) {
        let addr = stored_addr(addr);
        self.mutate(|state, now_ms| state.observe_dial_failure(addr, now_ms))
    }
    /// The entry for `addr`, unless absent or expired.
    pub fn get(&self, addr: &SocketAddr) -> Option<PeerEntry> {
        let addr = stored_addr(*addr);
        self.read(|state, now_ms| state.get(&addr, now_ms / 1000))
    }
    /// Number of entries (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A consistent copy for saving (unexpired entries only).
    pub fn snapshot(&self) -> Snapshot {
        let (branches, generation, now_s, ttl_secs, live_len) = self.read(|state, now_ms| {
            let now_s = now_ms / 1000;
            let (branches, generation) = state.share();
            let ttl_secs = state.config().ttl_secs;
            (branches, generation, now_s, ttl_secs, state.live_len(now_s))
        });
        let len = OnceLock::new();
        if let Some(live_len) = live_len {
            // Known exactly under the lock: encoders need no extra counting walk.
            let _ = len.set(live_len);
        }
        Snapshot {
            branches,
            generation,
            now_s,
            ttl_secs,
            len,
        }
    }
    /// Addresses of every unexpired entry (Connected, then Bootstrap, then Gossip; each most
    /// recent first), without copying the entries.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use knownpeers::{ManualClock, PeerStore, StoreConfig};
    ///
    /// let store = PeerStore::new(StoreConfig::default(), Arc::new(ManualClock::at_secs(1000)));
    /// let addr = "192.0.2.9:7447".parse().expect("an address");
    /// store.observe_bootstrap(addr);
    /// assert_eq!(store.live_addrs(), [addr]);
    /// ```
    pub fn live_addrs(&self) -> Vec<SocketAddr> {
        self.read(|state, now_ms| state.live_addrs(now_ms / 1000))
    }
    /// A uniform random sample of up to `k` unexpired addresses not in `exclude`, in random
    /// order (fewer if fewer qualify), without copying entries. One walk of the store under
    /// its lock; the store's RNG (seeded by [`StoreConfig::jitter_seed`]) draws.
    ///
    /// ```
    /// use std::collections::HashSet;
    /// use std::sync::Arc;
    /// use knownpeers::{ManualClock, PeerStore, StoreConfig};
    ///
    /// let store = PeerStore::new(StoreConfig::default(), Arc::new(ManualClock::at_secs(1000)));
    /// for port in 1..=10 {
    ///     store.observe_bootstrap(([192, 0, 2, 1], port).into());
    /// }
    /// let connected: HashSet<_> = [([192, 0, 2, 1], 1).into()].into();
    /// let sample = store.sample_addrs(3, &connected);
    /// assert_eq!(sample.len(), 3);
    /// assert!(sample.iter().all(|a| !connected.contains(a)));
    /// ```
    pub fn sample_addrs(&self, k: usize, exclude: &HashSet<SocketAddr>) -> Vec<SocketAddr> {
        let mut state = self.lock();
        let now_s = self.shared.clock.now_ms() / 1000;
        state.sample_addrs(k, exclude, now_s)
    }
    /// The dial state of `addr`'s unexpired entry (`None` if it has none): consecutive
    /// failures and when it may be dialled again.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use knownpeers::{ManualClock, PeerStore, StoreConfig};
    ///
    /// let store = PeerStore::new(StoreConfig::default(), Arc::new(ManualClock::at_secs(1000)));
    /// let addr = "192.0.2.10:7447".parse().expect("an address");
    /// store.observe_bootstrap(addr);
    /// assert_eq!(store.dial_state(&addr).expect("stored").failures, 0);
    /// store.observe_dial_failure(addr);
    /// let state = store.dial_state(&addr).expect("stored");
    /// assert_eq!(state.failures, 1);
    /// assert!(state.next_dial_at_ms.is_some()); // in backoff
    /// ```
    pub fn dial_state(&self, addr: &SocketAddr) -> Option<DialState> {
        let addr = stored_addr(*addr);
        self.read(|state, now_ms| {
            state
                .dial_state(&addr, now_ms / 1000)
                .map(|(failures, next_ms)| DialState {
                    failures: u32::from(failures),
                    next_dial_at_ms: (next_ms > now_ms).then_some(next_ms),
                })
        })
    }
    /// Unexpired entries advertising capability `cap`.
    pub fn with_capability(&self, cap: &str) -> Vec<PeerEntry> {
        self.read(|state, now_ms| state.with_capability(cap, now_ms / 1000))
    }
    /// Up to `n` addresses to dial now: Connected (most recent first), then Bootstrap, then
    /// Gossip, skipping addresses in backoff.
    pub fn dial_candidates(&self, n: usize) -> Vec<SocketAddr> {
        self.read(|state, now_ms| state.dial_candidates(n, now_ms))
    }
    /// Drops expired entries; returns how many.
    pub fn expire(&self) -> usize {
        self.mutate(|state, now_ms| state.expire(now_ms / 1000))
    }
    /// Loads entries from a file: oldest first so recency is kept, then expiry and the cap.
    pub fn hydrate(&self, entries: Vec<PeerEntry>) -> HydrateReport {
        // Inserted oldest first (entries with equal `last_seen` in file order), so the newest
        // end up most recent and evict older ones.
        self.mutate(|state, now_ms| state.hydrate(entries, now_ms / 1000))
    }
    /// [`PeerStore::hydrate`] of a file's entries whose reader deferred FORMAT.md's
    /// duplicate-address rule to the store (`ReadPolicy::defer_duplicate_check`): a repeated
    /// (stored) address fails with the index of the first entry that repeats an earlier one,
    /// as the reader's own check would, and the store is then left exactly as it was. Into a
    /// store that never held an entry, the check is the index build itself (one check per
    /// entry on a load, not two); otherwise it is a pass of its own before the hydrate.
    pub(crate) fn hydrate_unique(&self, entries: Vec<PeerEntry>) -> Result<HydrateReport, usize> {
        self.mutate(|state, now_ms| state.hydrate_unique(entries, now_ms / 1000))
    }
    /// Whether the store never held an entry: a load into it may defer the reader's duplicate
    /// check to [`PeerStore::hydrate_unique`] at no extra cost.
    pub(crate) fn is_pristine(&self) -> bool {
        self.lock().is_pristine()
    }
    /// Counters.
    pub fn stats(&self) -> StoreStats {
        let state = self.lock();
        let c = state.counters;
        StoreStats {
            connected: state.tier_len(2),
            bootstrap: state.tier_len(1),
            gossip: state.tier_len(0),
            evictions: c.evictions,
            expired: c.expired,
            rejected_gossip: c.rejected_gossip,
            not_stored: c.not_stored,
        }
    }
    /// A counter bumped by every change to the persisted contents.
    pub fn generation(&self) -> u64 {
        self.lock().generation()
    }
    /// The store clock's time in unix seconds.
    pub(crate) fn clock_now(&self) -> u64 {
        self.shared.clock.now()
    }
    /// Called (outside the lock) after every change; the flush task uses it to learn of dirt.
    pub fn set_change_hook(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        self.lock().hook = Some(hook);
    }
}
