//! Tests of the in-memory realm store (issue 3): observations, precedence, gossip rules, TTL,
//! capacity and eviction, backoff, hydrate, snapshots, the change hook, a gossip flood, a
//! property test against a `BTreeMap` model, and concurrent use. Time is a `ManualClock`; no
//! test sleeps or asserts on timing, and none touches the filesystem or the network (addresses
//! are data only).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use knownpeers::codecs::{Codec, EntrySource};
use knownpeers::{
    Backoff, Clock, GossipPeer, GossipReport, HydrateReport, ManualClock, Observed, PeerEntry,
    PeerSource, PeerStore, StoreConfig,
};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000;

/// Address number `n`: IPv4 for even `n`, IPv6 for odd, so both families are exercised.
fn addr(n: u32) -> SocketAddr {
    if n % 2 == 0 {
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)),
            4000 + (n % 1000) as u16,
        )
    } else {
        let ip = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (n >> 16) as u16, n as u16);
        SocketAddr::new(IpAddr::V6(ip), 5000)
    }
}

#[path = "common/store.rs"]
mod store_util;
use store_util::store_config as config;

fn store_with(cfg: StoreConfig) -> (PeerStore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_secs(T0));
    (PeerStore::new(cfg, clock.clone()), clock)
}

fn gossip(n: u32) -> GossipPeer {
    GossipPeer {
        addr: addr(n),
        node_id: Some(format!("gossip-{n}")),
        capabilities: vec!["relay".into()],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obs {
    C,
    B,
    G,
}

fn observe(store: &PeerStore, obs: Obs, n: u32, tag: &str) {
    match obs {
        Obs::C => {
            store
                .observe_connected(addr(n), Some(format!("conn-{tag}")), vec![tag.into()])
                .expect("metadata within limits");
        }
        Obs::B => {
            store.observe_bootstrap(addr(n));
        }
        Obs::G => {
            store.observe_gossip(&[GossipPeer {
                addr: addr(n),
                node_id: Some(format!("gossip-{tag}")),
                capabilities: vec![tag.into()],
            }]);
        }
    }
}

fn source_of(obs: Obs) -> PeerSource {
    match obs {
        Obs::C => PeerSource::Connected,
        Obs::B => PeerSource::Bootstrap,
        Obs::G => PeerSource::Gossip,
    }
}

fn sorted_snapshot(store: &PeerStore) -> Vec<PeerEntry> {
    let snap = store.snapshot();
    let mut v: Vec<PeerEntry> = snap.entries().cloned().collect();
    assert_eq!(v.len(), snap.len(), "Snapshot::len matches its entries");
    v.sort_by_key(|e| e.addr);
    v
}

fn present(store: &PeerStore) -> BTreeSet<SocketAddr> {
    sorted_snapshot(store).into_iter().map(|e| e.addr).collect()
}

// ---------------------------------------------------------------------------------------------
// TTL

/// An entry observed at T0 via `obs`, looked at `age` seconds later with `ttl`.
fn check_ttl(obs: Obs, ttl: u64, age: u64, kept: bool) {
    let (store, clock) = store_with(config(16, ttl));
    observe(&store, obs, 1, "x");
    clock.advance_ms(age * 1000);
    let case = format!("{obs:?} ttl={ttl} age={age}");
    assert_eq!(store.get(&addr(1)).is_some(), kept, "get: {case}");
    assert_eq!(
        store.snapshot().len(),
        usize::from(kept),
        "snapshot: {case}"
    );
    assert_eq!(
        store.snapshot().to_vec().len(),
        usize::from(kept),
        "to_vec: {case}"
    );
    assert_eq!(
        store.dial_candidates(10).len(),
        usize::from(kept),
        "dial: {case}"
    );
    // Bootstrap observations carry no capabilities.
    let with_cap = usize::from(kept && obs != Obs::B);
    assert_eq!(
        store.with_capability("x").len(),
        with_cap,
        "capability: {case}"
    );
    assert_eq!(store.len(), 1, "not swept before expire(): {case}");
    assert_eq!(store.expire(), usize::from(!kept), "expire: {case}");
    assert_eq!(store.len(), usize::from(kept), "len after expire: {case}");
    assert_eq!(store.stats().expired, u64::from(!kept), "stats: {case}");
}

#[test]
fn ttl_boundary() {
    for obs in [Obs::C, Obs::B, Obs::G] {
        for (ttl, age, kept) in [
            (10, 0, true),
            (10, 9, true),
            (10, 10, true),
            (10, 11, false),
            (0, 0, true),
            (0, 1, false),
            (604_800, 604_800, true),
            (604_800, 604_801, false),
        ] {
            check_ttl(obs, ttl, age, kept);
        }
    }
}

#[test]
fn ttl_is_whole_seconds_of_the_clock() {
    // last_seen is unix seconds (now_ms / 1000): 10.999 s after an observation at T0 + 0.5 s is
    // still age 10, so with ttl 10 the entry is kept; at T0 + 11 s it is expired.
    let (store, clock) = store_with(config(16, 10));
    clock.set_ms(T0 * 1000 + 500);
    observe(&store, Obs::C, 1, "x");
    assert_eq!(store.get(&addr(1)).map(|e| e.last_seen), Some(T0));
    clock.set_ms((T0 + 10) * 1000 + 999);
    assert!(store.get(&addr(1)).is_some());
    clock.set_ms((T0 + 11) * 1000);
    assert!(store.get(&addr(1)).is_none());
}

#[test]
fn hydrate_drops_expired_at_the_boundary() {
    let (store, _clock) = store_with(config(16, 100));
    let entry = |n: u32, age: u64| PeerEntry {
        addr: addr(n),
        source: PeerSource::Bootstrap,
        last_seen: T0 - age,
        node_id: None,
        capabilities: vec![],
    };
    let report = store.hydrate(vec![
        entry(1, 100),
        entry(2, 101),
        entry(3, 0),
        entry(4, 5000),
    ]);
    assert_eq!(
        report,
        HydrateReport {
            loaded: 2,
            expired: 2,
            capped: 0
        }
    );
    assert_eq!(present(&store), [addr(1), addr(3)].into_iter().collect());
}

#[test]
fn observing_an_expired_entry_starts_it_afresh() {
    // An expired Connected entry is gone: gossip about it inserts a new Gossip entry.
    let (store, clock) = store_with(config(16, 10));
    observe(&store, Obs::C, 1, "old");
    clock.advance_ms(11_000);
    let report = store.observe_gossip(&[gossip(1)]);
    assert_eq!(report.inserted, 1);
    let e = store.get(&addr(1)).expect("re-inserted");
    assert_eq!(e.source, PeerSource::Gossip);
    assert_eq!(e.node_id.as_deref(), Some("gossip-1"));
    assert_eq!(store.stats().expired, 1);
}

// ---------------------------------------------------------------------------------------------
// Source precedence

fn check_precedence(seq: &[Obs]) {
    let (store, clock) = store_with(config(16, 1000));
    for (i, &obs) in seq.iter().enumerate() {
        clock.advance_ms(1000);
        observe(&store, obs, 1, &format!("t{i}"));
    }
    let e = store.get(&addr(1)).expect("stored");
    let expected_source = seq.iter().map(|&o| source_of(o)).max().expect("non-empty");
    assert_eq!(e.source, expected_source, "source after {seq:?}");
    // Metadata: the last handshake's; else what the first gossip claimed if gossip inserted the
    // entry; else none. Gossip never changes metadata once stored.
    let expected_node_id = match seq.iter().rposition(|&o| o == Obs::C) {
        Some(i) => Some(format!("conn-t{i}")),
        None if seq[0] == Obs::G => Some("gossip-t0".to_string()),
        None => None,
    };
    assert_eq!(e.node_id, expected_node_id, "node_id after {seq:?}");
    // last_seen: the last observation that may refresh this entry. Gossip refreshes only while
    // the entry is still Gossip.
    let mut last = None;
    let mut source = PeerSource::Gossip;
    for (i, &o) in seq.iter().enumerate() {
        let t = T0 + 1 + i as u64;
        if o != Obs::G || source == PeerSource::Gossip {
            last = Some(t);
        }
        source = source.max(source_of(o));
    }
    assert_eq!(Some(e.last_seen), last, "last_seen after {seq:?}");
}

#[test]
fn source_precedence_in_every_order() {
    let all = [Obs::C, Obs::B, Obs::G];
    let mut count = 0;
    for a in all {
        check_precedence(&[a]);
        for b in all {
            check_precedence(&[a, b]);
            for c in all {
                check_precedence(&[a, b, c]);
                count += 1;
            }
        }
    }
    assert_eq!(count, 27);
}

// ---------------------------------------------------------------------------------------------
// Gossip rules

#[test]
fn gossip_never_touches_bootstrap_or_connected_entries() {
    for prior in [Obs::C, Obs::B] {
        let (store, clock) = store_with(config(16, 1000));
        observe(&store, prior, 1, "trusted");
        let before = store.get(&addr(1)).expect("stored");
        let generation = store.generation();
        let hook_calls = Arc::new(AtomicUsize::new(0));
        let calls = hook_calls.clone();
        store.set_change_hook(Arc::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
        }));
        clock.advance_ms(5000);
        let report = store.observe_gossip(&[GossipPeer {
            addr: addr(1),
            node_id: Some("attacker".into()),
            capabilities: vec!["relay".into(), "evil".into()],
        }]);
        assert_eq!(
            report,
            GossipReport {
                ignored: 1,
                ..Default::default()
            },
            "{prior:?}"
        );
        assert_eq!(
            store.get(&addr(1)),
            Some(before),
            "{prior:?} entry unchanged"
        );
        assert_eq!(store.generation(), generation, "{prior:?}: no change");
        assert_eq!(hook_calls.load(Ordering::SeqCst), 0, "{prior:?}: no hook");
        assert!(store.with_capability("evil").is_empty());
    }
}

#[test]
fn gossip_refreshes_only_last_seen_of_gossip_entries() {
    let (store, clock) = store_with(config(16, 1000));
    store.observe_gossip(&[gossip(1)]);
    clock.advance_ms(3000);
    let report = store.observe_gossip(&[GossipPeer {
        addr: addr(1),
        node_id: Some("other".into()),
        capabilities: vec![],
    }]);
    assert_eq!(report.refreshed, 1);
    let e = store.get(&addr(1)).expect("stored");
    assert_eq!(e.last_seen, T0 + 3);
    assert_eq!(e.node_id.as_deref(), Some("gossip-1"));
    assert_eq!(e.capabilities, vec!["relay".to_string()]);
}

#[test]
fn gossip_batch_is_capped() {
    for (batch_cap, batch_len, taken) in [(3, 5, 3), (3, 3, 3), (1000, 1500, 1000), (0, 4, 0)] {
        let mut cfg = config(10_000, 1000);
        cfg.max_gossip_batch = batch_cap;
        let (store, _clock) = store_with(cfg);
        let batch: Vec<GossipPeer> = (0..batch_len).map(gossip).collect();
        let report = store.observe_gossip(&batch);
        let case = format!("cap {batch_cap}, batch {batch_len}");
        assert_eq!(report.inserted, taken as usize, "{case}");
        assert_eq!(report.over_batch, (batch_len - taken) as usize, "{case}");
        assert_eq!(store.len(), taken as usize, "{case}");
        assert_eq!(
            store.stats().rejected_gossip,
            u64::from(batch_len - taken),
            "{case}"
        );
        // The first `taken` addresses are the ones looked at.
        assert!((0..taken).all(|n| store.get(&addr(n)).is_some()), "{case}");
        assert!(
            (taken..batch_len).all(|n| store.get(&addr(n)).is_none()),
            "{case}"
        );
    }
}

/// Metadata `node_id_len` bytes, `caps` capabilities of `cap_len` bytes: accepted or not, for
/// gossip (per entry) and for a handshake.
fn check_metadata(node_id_len: usize, caps: usize, cap_len: usize, accepted: bool) {
    let case = format!("node_id {node_id_len}, {caps} caps of {cap_len}");
    let node_id = Some("n".repeat(node_id_len));
    let capabilities = vec!["c".repeat(cap_len); caps];
    let (store, _clock) = store_with(config(16, 1000));
    let batch = [
        gossip(1),
        GossipPeer {
            addr: addr(2),
            node_id: node_id.clone(),
            capabilities: capabilities.clone(),
        },
        gossip(3),
    ];
    let report = store.observe_gossip(&batch);
    assert_eq!(report.rejected, usize::from(!accepted), "gossip: {case}");
    assert_eq!(report.inserted, 2 + usize::from(accepted), "gossip: {case}");
    assert_eq!(store.get(&addr(2)).is_some(), accepted, "gossip: {case}");
    assert_eq!(
        store.stats().rejected_gossip,
        u64::from(!accepted),
        "{case}"
    );
    let result = store.observe_connected(addr(4), node_id, capabilities);
    assert_eq!(result.is_ok(), accepted, "connected: {case}");
    assert_eq!(store.get(&addr(4)).is_some(), accepted, "connected: {case}");
    if let Err(e) = result {
        assert!(
            !e.to_string().contains("nnnn"),
            "the error does not echo the data"
        );
    }
}

#[test]
fn metadata_limits() {
    for (node_id_len, caps, cap_len, accepted) in [
        (0, 0, 0, true),
        (255, 32, 64, true),
        (256, 0, 0, false),
        (10, 33, 1, false),
        (10, 1, 65, false),
        (10, 32, 65, false),
        (1000, 100, 100, false),
    ] {
        check_metadata(node_id_len, caps, cap_len, accepted);
    }
}

// ---------------------------------------------------------------------------------------------
// Capacity and eviction

#[derive(Debug, Clone, Copy)]
enum Op {
    C(u32),
    B(u32),
    G(u32),
    /// Advance the clock by seconds.
    Tick(u64),
}

fn apply(store: &PeerStore, clock: &ManualClock, op: Op) -> Observed {
    match op {
        Op::C(n) => store
            .observe_connected(addr(n), None, vec![])
            .expect("no metadata"),
        Op::B(n) => store.observe_bootstrap(addr(n)),
        Op::G(n) => {
            let r = store.observe_gossip(&[GossipPeer {
                addr: addr(n),
                node_id: None,
                capabilities: vec![],
            }]);
            match (r.inserted, r.refreshed, r.not_stored) {
                (1, _, _) => Observed::Inserted,
                (_, 1, _) => Observed::Updated,
                (_, _, 1) => Observed::NotStored,
                _ => Observed::Ignored,
            }
        }
        Op::Tick(s) => {
            clock.advance_ms(s * 1000);
            Observed::Ignored
        }
    }
}

/// Runs `ops` (one second apart) on a store of `cap` entries and ttl 100 s; checks what the last
/// op returned and which addresses are left.
fn check_eviction(cap: usize, ops: &[Op], last: Observed, left: &[u32]) {
    let (store, clock) = store_with(config(cap, 100));
    let mut result = Observed::Ignored;
    for &op in ops {
        clock.advance_ms(1000);
        result = apply(&store, &clock, op);
        assert!(store.len() <= cap, "cap held during {ops:?}");
    }
    assert_eq!(result, last, "last result of {ops:?}");
    let expected: BTreeSet<SocketAddr> = left.iter().map(|&n| addr(n)).collect();
    assert_eq!(present(&store), expected, "left after {ops:?}");
}

#[test]
fn eviction_order() {
    use Observed::*;
    use Op::*;
    // Least recently seen gossip goes first.
    check_eviction(3, &[G(1), G(2), G(3), G(4)], Inserted, &[2, 3, 4]);
    // A refresh makes an entry recent.
    check_eviction(3, &[G(1), G(2), G(3), G(1), G(4)], Inserted, &[1, 3, 4]);
    // Gossip never evicts Bootstrap or Connected.
    check_eviction(2, &[B(1), C(2), G(3)], NotStored, &[1, 2]);
    // Bootstrap evicts gossip first, even more recent gossip.
    check_eviction(3, &[B(1), G(2), G(3), B(4)], Inserted, &[1, 3, 4]);
    // With no gossip left, Bootstrap evicts the least recent Bootstrap, never Connected.
    check_eviction(3, &[B(1), C(2), B(3), B(4)], Inserted, &[2, 3, 4]);
    check_eviction(2, &[C(1), C(2), B(3)], NotStored, &[1, 2]);
    // Connected evicts the lowest tier first, then least recent Connected.
    check_eviction(3, &[C(1), B(2), G(3), C(4)], Inserted, &[1, 2, 4]);
    check_eviction(3, &[C(1), B(2), G(3), C(4), C(5)], Inserted, &[1, 4, 5]);
    check_eviction(2, &[C(1), C(2), C(3)], Inserted, &[2, 3]);
    // Expired entries go first, whatever their tier: the expired Connected entry, not gossip.
    check_eviction(3, &[C(1), Tick(99), G(2), G(3), G(4)], Inserted, &[2, 3, 4]);
    // A raise moves the entry to its new tier as most recent.
    check_eviction(3, &[G(1), G(2), G(3), B(1), G(4)], Inserted, &[1, 3, 4]);
    // Capacity zero stores nothing.
    check_eviction(0, &[C(1)], NotStored, &[]);
}

#[test]
fn cap_is_enforced_for_every_source_mix() {
    for cap in [1usize, 2, 5, 17] {
        let (store, clock) = store_with(config(cap, 1000));
        for n in 0..200u32 {
            clock.advance_ms(100);
            let op = match n % 7 {
                0 => Op::C(n % 40),
                1 | 2 => Op::B(n % 60),
                _ => Op::G(n),
            };
            apply(&store, &clock, op);
            assert!(store.len() <= cap, "cap {cap} after {n} ops");
            let stats = store.stats();
            assert_eq!(
                stats.connected + stats.bootstrap + stats.gossip,
                store.len()
            );
        }
    }
}

#[test]
fn gossip_flood_keeps_every_trusted_entry() {
    let (store, clock) = store_with(StoreConfig {
        max_entries: 1024,
        ..config(1024, 604_800)
    });
    for n in 0..100 {
        observe(&store, Obs::C, n, "c");
    }
    for n in 100..150 {
        store.observe_bootstrap(addr(n));
    }
    let mut batch = Vec::with_capacity(1000);
    let mut inserted = 0;
    for b in 0..1000u32 {
        clock.advance_ms(10);
        batch.clear();
        batch.extend((0..1000).map(|i| GossipPeer {
            addr: addr(1_000 + b * 1000 + i),
            node_id: None,
            capabilities: vec![],
        }));
        inserted += store.observe_gossip(&batch).inserted;
        assert!(store.len() <= 1024);
    }
    assert_eq!(
        inserted, 1_000_000,
        "every gossip address got in by evicting older gossip"
    );
    for n in 0..150 {
        let e = store
            .get(&addr(n))
            .expect("trusted entry survives the flood");
        assert_ne!(e.source, PeerSource::Gossip);
    }
    let stats = store.stats();
    assert_eq!((stats.connected, stats.bootstrap), (100, 50));
    assert_eq!(store.len(), 1024);
    assert_eq!(stats.evictions, 1_000_000 - (1024 - 150));
}

// ---------------------------------------------------------------------------------------------
// Dial schedule

#[test]
fn dial_candidates_order() {
    let (store, clock) = store_with(config(16, 1000));
    let ops = [
        Op::G(1),
        Op::C(2),
        Op::B(3),
        Op::G(4),
        Op::C(5),
        Op::B(6),
        Op::G(1),
    ];
    for op in ops {
        clock.advance_ms(1000);
        apply(&store, &clock, op);
    }
    let order: Vec<SocketAddr> = [5, 2, 6, 3, 1, 4].into_iter().map(addr).collect();
    assert_eq!(store.dial_candidates(100), order);
    assert_eq!(store.dial_candidates(3), order[..3]);
    assert!(store.dial_candidates(0).is_empty());
}

/// With `jitter_permille = 0`, failure number k (1-based) must keep the address out for exactly
/// `delays[k-1]` ms.
fn check_backoff(base_ms: u64, cap_ms: u64, delays: &[u64]) {
    let mut cfg = config(16, 1_000_000);
    cfg.backoff = Backoff {
        base_ms,
        cap_ms,
        jitter_permille: 0,
    };
    let (store, clock) = store_with(cfg);
    store.observe_bootstrap(addr(1));
    for (k, &delay) in delays.iter().enumerate() {
        store.observe_dial_failure(addr(1));
        let case = format!("base {base_ms} cap {cap_ms}, failure {}", k + 1);
        if delay > 0 {
            clock.advance_ms(delay - 1);
            assert!(
                store.dial_candidates(10).is_empty(),
                "still backing off: {case}"
            );
            clock.advance_ms(1);
        }
        assert_eq!(
            store.dial_candidates(10),
            vec![addr(1)],
            "offered again: {case}"
        );
    }
}

#[test]
fn backoff_schedule() {
    check_backoff(1000, 600_000, &[1000, 2000, 4000, 8000, 16_000, 32_000]);
    check_backoff(
        1000,
        10_000,
        &[1000, 2000, 4000, 8000, 10_000, 10_000, 10_000],
    );
    check_backoff(250, 250, &[250, 250, 250]);
    check_backoff(0, 600_000, &[0, 0]);
    // Saturates rather than overflowing after many failures.
    let mut many = vec![
        1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000,
    ];
    many.extend([600_000; 70]);
    check_backoff(1000, 600_000, &many);
}

#[test]
fn backoff_resets_on_success_and_failing_peers_are_kept() {
    let (store, clock) = store_with(config(16, 100));
    store.observe_bootstrap(addr(1));
    for _ in 0..5 {
        store.observe_dial_failure(addr(1));
    }
    // Out for 16 s; still stored (kept until TTL) and returned by get.
    assert!(store.dial_candidates(10).is_empty());
    assert!(store.get(&addr(1)).is_some());
    store
        .observe_connected(addr(1), None, vec![])
        .expect("no metadata");
    assert_eq!(store.dial_candidates(10), vec![addr(1)], "success resets");
    store.observe_dial_failure(addr(1));
    clock.advance_ms(999);
    assert!(store.dial_candidates(10).is_empty());
    clock.advance_ms(1);
    assert_eq!(
        store.dial_candidates(10),
        vec![addr(1)],
        "back to the base delay"
    );
    // A failing peer is dropped only by its TTL.
    for _ in 0..20 {
        store.observe_dial_failure(addr(1));
    }
    clock.advance_ms(99_000); // last_seen + ttl
    assert!(store.get(&addr(1)).is_some());
    clock.advance_ms(1000);
    assert!(store.get(&addr(1)).is_none());
    // Failures of unknown addresses are not tracked.
    store.observe_dial_failure(addr(9));
    assert!(store.get(&addr(9)).is_none());
}

#[test]
fn backoff_jitter_stays_in_range() {
    for permille in [1u32, 200, 500, 1000, 5000] {
        let mut cfg = config(4096, 1_000_000);
        cfg.backoff = Backoff {
            base_ms: 1000,
            cap_ms: 600_000,
            jitter_permille: permille,
        };
        cfg.jitter_seed = Some(u64::from(permille));
        let (store, clock) = store_with(cfg);
        let peers: Vec<u32> = (0..300).collect();
        for &n in &peers {
            store.observe_bootstrap(addr(n));
        }
        for k in 1..=4u32 {
            for &n in &peers {
                store.observe_dial_failure(addr(n));
            }
            let delay = 1000u64 << (k - 1);
            let shortest = delay - delay * u64::from(permille.min(1000)) / 1000;
            let start = clock.now_ms();
            if shortest > 0 {
                clock.set_ms(start + shortest - 1);
                assert!(store.dial_candidates(1000).is_empty(), "{permille}‰ k={k}");
            }
            clock.set_ms(start + delay);
            assert_eq!(
                store.dial_candidates(1000).len(),
                peers.len(),
                "{permille}‰ k={k}"
            );
        }
    }
}

#[test]
fn jitter_is_deterministic_for_a_seed() {
    let schedule = |seed| {
        let mut cfg = config(64, 1_000_000);
        cfg.backoff.jitter_permille = 500;
        cfg.jitter_seed = Some(seed);
        let (store, clock) = store_with(cfg);
        store.observe_bootstrap(addr(1));
        store.observe_dial_failure(addr(1));
        let start = clock.now_ms();
        (0..=1000)
            .find(|&ms| {
                clock.set_ms(start + ms);
                !store.dial_candidates(1).is_empty()
            })
            .expect("ready within the base delay")
    };
    assert_eq!(schedule(42), schedule(42));
    let distinct: BTreeSet<u64> = (0..20).map(schedule).collect();
    assert!(distinct.len() > 1, "different seeds give different jitter");
}

// ---------------------------------------------------------------------------------------------
// Queries, hydrate, snapshots, generation

#[test]
fn with_capability_returns_live_matches_in_query_order() {
    let (store, clock) = store_with(config(16, 10));
    store.observe_gossip(&[gossip(1)]); // relay
    clock.advance_ms(1000);
    observe(&store, Obs::C, 2, "relay");
    observe(&store, Obs::C, 3, "store");
    let got: Vec<SocketAddr> = store
        .with_capability("relay")
        .iter()
        .map(|e| e.addr)
        .collect();
    assert_eq!(got, vec![addr(2), addr(1)]);
    assert!(store.with_capability("rel").is_empty(), "exact match only");
    clock.advance_ms(10_000);
    let got: Vec<SocketAddr> = store
        .with_capability("relay")
        .iter()
        .map(|e| e.addr)
        .collect();
    assert_eq!(
        got,
        vec![addr(2)],
        "the expired gossip entry is not returned"
    );
}

#[test]
fn hydrate_keeps_recency_and_caps_by_tier() {
    let (store, _clock) = store_with(config(4, 1000));
    let entry = |n: u32, source, age: u64| PeerEntry {
        addr: addr(n),
        source,
        last_seen: T0 - age,
        node_id: Some(format!("id{n}")),
        capabilities: vec![],
    };
    // Deliberately unsorted. Cap 4: the two oldest gossip entries are evicted by newer ones.
    let report = store.hydrate(vec![
        entry(1, PeerSource::Gossip, 10),
        entry(2, PeerSource::Connected, 500),
        entry(3, PeerSource::Gossip, 50),
        entry(4, PeerSource::Gossip, 5),
        entry(5, PeerSource::Bootstrap, 900),
        entry(6, PeerSource::Gossip, 1),
        entry(7, PeerSource::Gossip, 2000),
    ]);
    assert_eq!(
        report,
        HydrateReport {
            loaded: 4,
            expired: 1,
            capped: 2
        }
    );
    assert_eq!(
        present(&store),
        [2, 4, 5, 6].into_iter().map(addr).collect()
    );
    assert_eq!(
        store.get(&addr(2)).map(|e| e.last_seen),
        Some(T0 - 500),
        "file time kept"
    );
    let order: Vec<SocketAddr> = [2, 5, 6, 4].into_iter().map(addr).collect();
    assert_eq!(
        store.dial_candidates(10),
        order,
        "recency follows last_seen"
    );
}

#[test]
fn hydrate_merges_duplicates_by_precedence() {
    let (store, _clock) = store_with(config(16, 1000));
    let entry = |source, age: u64, id: &str| PeerEntry {
        addr: addr(1),
        source,
        last_seen: T0 - age,
        node_id: Some(id.into()),
        capabilities: vec![],
    };
    store.hydrate(vec![
        entry(PeerSource::Connected, 30, "conn"),
        entry(PeerSource::Gossip, 10, "gossip"),
        entry(PeerSource::Bootstrap, 20, "boot"),
    ]);
    assert_eq!(store.len(), 1);
    let e = store.get(&addr(1)).expect("stored");
    assert_eq!(e.source, PeerSource::Connected);
    assert_eq!(e.node_id.as_deref(), Some("conn"));
}

#[test]
fn snapshot_is_isolated_from_later_changes() {
    let (store, clock) = store_with(config(5000, 1000));
    for n in 0..3000 {
        store.observe_gossip(&[gossip(n)]);
    }
    let snap = store.snapshot();
    let before = snap.to_vec();
    let generation = snap.generation();
    assert_eq!(generation, store.generation());
    // Change every chunk: refresh, raise, insert, evict.
    clock.advance_ms(2000);
    for n in (0..3000).step_by(7) {
        observe(&store, Obs::C, n, "new");
    }
    for n in 3000..5200 {
        store.observe_gossip(&[gossip(n)]);
    }
    assert_eq!(snap.to_vec(), before, "the snapshot did not change");
    assert_eq!(snap.len(), 3000);
    assert!(store.generation() > generation);
    let now = store.snapshot();
    assert_eq!(now.len(), 5000);
    let addrs: BTreeSet<SocketAddr> = now.entries().map(|e| e.addr).collect();
    assert_eq!(addrs.len(), 5000, "no duplicates");
}

#[test]
fn snapshot_debug_shows_no_peers() {
    let (store, _clock) = store_with(config(16, 1000));
    observe(&store, Obs::C, 1, "secret-capability");
    let text = format!("{:?} {:?}", store.snapshot(), store);
    assert!(
        !text.contains("secret") && !text.contains("10.0.0"),
        "{text}"
    );
}

#[test]
fn generation_and_hook_follow_persisted_changes() {
    let (store, clock) = store_with(config(2, 1000));
    let calls = Arc::new(AtomicUsize::new(0));
    let hook_store = store.clone();
    let hook_calls = calls.clone();
    // The hook locks the store again: it would deadlock if it ran under the lock.
    store.set_change_hook(Arc::new(move || {
        let _ = hook_store.len();
        hook_calls.fetch_add(1, Ordering::SeqCst);
    }));
    // (operation, whether it changes the persisted contents)
    type Step = (&'static str, Box<dyn Fn(&PeerStore, &ManualClock)>, bool);
    let steps: Vec<Step> = vec![
        (
            "bootstrap new",
            Box::new(|s, _| {
                let _ = s.observe_bootstrap(addr(1));
            }),
            true,
        ),
        (
            "get",
            Box::new(|s, _| {
                let _ = s.get(&addr(1));
            }),
            false,
        ),
        (
            "dial failure",
            Box::new(|s, _| s.observe_dial_failure(addr(1))),
            false,
        ),
        (
            "candidates",
            Box::new(|s, _| {
                let _ = s.dial_candidates(5);
            }),
            false,
        ),
        (
            "snapshot",
            Box::new(|s, _| {
                let _ = s.snapshot();
            }),
            false,
        ),
        (
            "gossip about bootstrap",
            Box::new(|s, _| {
                let _ = s.observe_gossip(&[gossip(1)]);
            }),
            false,
        ),
        (
            "gossip new",
            Box::new(|s, _| {
                let _ = s.observe_gossip(&[gossip(2)]);
            }),
            true,
        ),
        (
            "connected raise",
            Box::new(|s, _| observe(s, Obs::C, 2, "x")),
            true,
        ),
        (
            "gossip not stored",
            Box::new(|s, _| {
                let _ = s.observe_gossip(&[gossip(3)]);
            }),
            false,
        ),
        (
            "bad metadata",
            Box::new(|s, _| {
                let _ = s.observe_connected(addr(4), Some("n".repeat(300)), vec![]);
            }),
            false,
        ),
        (
            "expire none",
            Box::new(|s, _| {
                let _ = s.expire();
            }),
            false,
        ),
        (
            "time passes",
            Box::new(|_, c| c.advance_ms(2_000_000)),
            false,
        ),
        (
            "expire all",
            Box::new(|s, _| {
                let _ = s.expire();
            }),
            true,
        ),
        (
            "hydrate",
            Box::new(|s, _| {
                let _ = s.hydrate(vec![PeerEntry {
                    addr: addr(5),
                    source: PeerSource::Gossip,
                    last_seen: T0 + 2_000_000,
                    node_id: None,
                    capabilities: vec![],
                }]);
            }),
            true,
        ),
        (
            "hydrate nothing",
            Box::new(|s, _| {
                let _ = s.hydrate(vec![]);
            }),
            false,
        ),
    ];
    for (name, step, changes) in steps {
        let (generation, before) = (store.generation(), calls.load(Ordering::SeqCst));
        step(&store, &clock);
        assert_eq!(
            store.generation() != generation,
            changes,
            "generation: {name}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst) - before,
            usize::from(changes),
            "hook: {name}"
        );
    }
}

#[test]
fn stats_count_what_happened() {
    let mut cfg = config(3, 10);
    cfg.max_gossip_batch = 4;
    let (store, clock) = store_with(cfg);
    observe(&store, Obs::C, 1, "x");
    store.observe_bootstrap(addr(2));
    let mut batch: Vec<GossipPeer> = (3..8).map(gossip).collect();
    batch[1].capabilities = vec!["c".repeat(65)];
    // 5 offered: 1 over the batch cap, 1 rejected, 3 inserted (evicting 2 gossip).
    let report = store.observe_gossip(&batch);
    assert_eq!(
        (report.inserted, report.rejected, report.over_batch),
        (3, 1, 1)
    );
    clock.advance_ms(11_000);
    store.observe_bootstrap(addr(9)); // evicts an expired entry first
    assert_eq!(store.expire(), 2);
    let stats = store.stats();
    assert_eq!(
        (stats.connected, stats.bootstrap, stats.gossip),
        (0, 1, 0),
        "{stats:?}"
    );
    assert_eq!((stats.evictions, stats.expired), (2, 3), "{stats:?}");
    assert_eq!(
        (stats.rejected_gossip, stats.not_stored),
        (2, 0),
        "{stats:?}"
    );
}

#[test]
fn config_round_trips() {
    let cfg = config(77, 88);
    let (store, _clock) = store_with(cfg.clone());
    assert_eq!(store.config(), cfg);
    assert!(store.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Concurrency

#[test]
fn concurrent_observers_and_snapshots() {
    let clock = Arc::new(ManualClock::at_secs(T0));
    let store = PeerStore::new(config(500, 1000), clock.clone());
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..3000u32 {
                    let n = t * 1_000_000 + i;
                    match i % 5 {
                        0 => {
                            let _ = store.observe_connected(addr(n % 300), None, vec![]);
                        }
                        1 => {
                            let _ = store.observe_bootstrap(addr(n % 400));
                        }
                        2 => store.observe_dial_failure(addr(n % 300)),
                        // Thread 3 sends batches long enough to be handled in slices, handing
                        // the lock to waiting threads in between.
                        _ if t == 3 => {
                            let batch: Vec<GossipPeer> =
                                (0..100).map(|k| gossip(n * 100 + k)).collect();
                            let _ = store.observe_gossip(&batch);
                        }
                        _ => {
                            let _ = store.observe_gossip(&[gossip(n), gossip(n % 700)]);
                        }
                    }
                }
            });
        }
        for _ in 0..2 {
            let store = store.clone();
            let clock = clock.clone();
            scope.spawn(move || {
                for _ in 0..300 {
                    clock.advance_ms(10);
                    let snap = store.snapshot();
                    let addrs: BTreeSet<SocketAddr> = snap.entries().map(|e| e.addr).collect();
                    assert_eq!(addrs.len(), snap.len(), "no duplicates, len matches");
                    assert!(snap.len() <= 500);
                    assert!(store.dial_candidates(50).len() <= 50);
                }
            });
        }
    });
    let stats = store.stats();
    assert_eq!(
        stats.connected + stats.bootstrap + stats.gossip,
        store.len()
    );
    assert!(store.len() <= 500);
}

// ---------------------------------------------------------------------------------------------
// Property test against a BTreeMap model

/// The reference model: a `BTreeMap` with a touch counter for recency, and the rules written the
/// plainest way (linear scans), independently of the store's data structures.
mod model {
    use super::*;

    #[derive(Debug, Clone)]
    pub struct Item {
        pub entry: PeerEntry,
        pub touched: u64,
        pub failures: u32,
        pub next_ms: u64,
    }

    #[derive(Debug)]
    pub struct Model {
        pub cfg: StoreConfig,
        pub items: BTreeMap<SocketAddr, Item>,
        pub tick: u64,
        pub evictions: u64,
        pub expired: u64,
        pub rejected: u64,
        pub not_stored: u64,
    }

    fn expired(e: &PeerEntry, now: u64, ttl: u64) -> bool {
        now.saturating_sub(e.last_seen) > ttl
    }

    fn ok_meta(node_id: &Option<String>, caps: &[String]) -> bool {
        node_id.as_ref().is_none_or(|n| n.len() <= 255)
            && caps.len() <= 32
            && caps.iter().all(|c| c.len() <= 64)
    }

    impl Model {
        pub fn new(cfg: StoreConfig) -> Model {
            Model {
                cfg,
                items: BTreeMap::new(),
                tick: 0,
                evictions: 0,
                expired: 0,
                rejected: 0,
                not_stored: 0,
            }
        }

        fn touch(&mut self, a: SocketAddr) {
            self.tick += 1;
            self.items.get_mut(&a).expect("present").touched = self.tick;
        }

        /// The least recently touched entry of `source`.
        fn oldest(&self, source: PeerSource) -> Option<SocketAddr> {
            self.items
                .values()
                .filter(|i| i.entry.source == source)
                .min_by_key(|i| i.touched)
                .map(|i| i.entry.addr)
        }

        /// Present and live; an expired entry is removed (counted as expired).
        fn live(&mut self, a: SocketAddr, now: u64) -> bool {
            match self.items.get(&a) {
                Some(i) if expired(&i.entry, now, self.cfg.ttl_secs) => {
                    self.items.remove(&a);
                    self.expired += 1;
                    false
                }
                Some(_) => true,
                None => false,
            }
        }

        fn insert(&mut self, entry: PeerEntry, now: u64) -> Observed {
            const TIERS: [PeerSource; 3] = [
                PeerSource::Gossip,
                PeerSource::Bootstrap,
                PeerSource::Connected,
            ];
            if self.items.len() >= self.cfg.max_entries {
                let dead = TIERS.iter().find_map(|&s| {
                    self.oldest(s)
                        .filter(|a| expired(&self.items[a].entry, now, self.cfg.ttl_secs))
                });
                let victim = TIERS
                    .iter()
                    .filter(|&&s| s <= entry.source)
                    .find_map(|&s| self.oldest(s));
                if let Some(a) = dead {
                    self.items.remove(&a);
                    self.expired += 1;
                } else if let (Some(a), true) = (victim, self.cfg.max_entries > 0) {
                    self.items.remove(&a);
                    self.evictions += 1;
                } else {
                    self.not_stored += 1;
                    return Observed::NotStored;
                }
            }
            let a = entry.addr;
            let item = Item {
                entry,
                touched: 0,
                failures: 0,
                next_ms: 0,
            };
            self.items.insert(a, item);
            self.touch(a);
            Observed::Inserted
        }

        pub fn connected(
            &mut self,
            a: SocketAddr,
            node_id: Option<String>,
            caps: Vec<String>,
            now: u64,
        ) -> Result<Observed, ()> {
            if !ok_meta(&node_id, &caps) {
                return Err(());
            }
            if self.live(a, now) {
                let i = self.items.get_mut(&a).expect("live");
                i.entry.source = PeerSource::Connected;
                i.entry.last_seen = now;
                i.entry.node_id = node_id;
                i.entry.capabilities = caps;
                i.failures = 0;
                i.next_ms = 0;
                self.touch(a);
                return Ok(Observed::Updated);
            }
            Ok(self.insert(
                PeerEntry {
                    addr: a,
                    source: PeerSource::Connected,
                    last_seen: now,
                    node_id,
                    capabilities: caps,
                },
                now,
            ))
        }

        pub fn bootstrap(&mut self, a: SocketAddr, now: u64) -> Observed {
            if self.live(a, now) {
                let i = self.items.get_mut(&a).expect("live");
                i.entry.source = i.entry.source.max(PeerSource::Bootstrap);
                i.entry.last_seen = now;
                self.touch(a);
                return Observed::Updated;
            }
            self.insert(
                PeerEntry {
                    addr: a,
                    source: PeerSource::Bootstrap,
                    last_seen: now,
                    node_id: None,
                    capabilities: vec![],
                },
                now,
            )
        }

        pub fn gossip(&mut self, batch: &[GossipPeer], now: u64) -> GossipReport {
            let mut r = GossipReport::default();
            for (k, p) in batch.iter().enumerate() {
                if k >= self.cfg.max_gossip_batch {
                    r.over_batch += 1;
                } else if !ok_meta(&p.node_id, &p.capabilities) {
                    r.rejected += 1;
                } else if self.live(p.addr, now) {
                    if self.items[&p.addr].entry.source == PeerSource::Gossip {
                        self.items.get_mut(&p.addr).expect("live").entry.last_seen = now;
                        self.touch(p.addr);
                        r.refreshed += 1;
                    } else {
                        r.ignored += 1;
                    }
                } else {
                    let e = PeerEntry {
                        addr: p.addr,
                        source: PeerSource::Gossip,
                        last_seen: now,
                        node_id: p.node_id.clone(),
                        capabilities: p.capabilities.clone(),
                    };
                    match self.insert(e, now) {
                        Observed::Inserted => r.inserted += 1,
                        _ => r.not_stored += 1,
                    }
                }
            }
            self.rejected += (r.rejected + r.over_batch) as u64;
            r
        }

        pub fn dial_failure(&mut self, a: SocketAddr, now_ms: u64) {
            if self.live(a, now_ms / 1000) {
                let b = self.cfg.backoff;
                let i = self.items.get_mut(&a).expect("live");
                i.failures += 1;
                let delay = (0..i.failures - 1)
                    .fold(b.base_ms, |d, _| d.saturating_mul(2))
                    .min(b.cap_ms);
                i.next_ms = now_ms + delay;
            }
        }

        pub fn hydrate(&mut self, mut entries: Vec<PeerEntry>, now: u64) -> HydrateReport {
            let ttl = self.cfg.ttl_secs;
            let before = entries.len();
            entries.retain(|e| !expired(e, now, ttl));
            let mut report = HydrateReport {
                expired: before - entries.len(),
                ..HydrateReport::default()
            };
            // Oldest first; entries with equal last_seen in file order, as the store does.
            entries.sort_by_key(|e| e.last_seen);
            let evictions = self.evictions;
            for e in entries {
                let a = e.addr;
                if self.live(a, now) {
                    let old = self.items[&a].entry.clone();
                    if e.source >= old.source {
                        let last_seen = old.last_seen.max(e.last_seen);
                        self.items.get_mut(&a).expect("live").entry = PeerEntry { last_seen, ..e };
                        self.touch(a);
                    }
                } else if self.insert(e, now) == Observed::NotStored {
                    report.capped += 1;
                }
            }
            report.capped += (self.evictions - evictions) as usize;
            report.loaded = self.items.len();
            report
        }

        pub fn expire(&mut self, now: u64) -> usize {
            let ttl = self.cfg.ttl_secs;
            let before = self.items.len();
            self.items.retain(|_, i| !expired(&i.entry, now, ttl));
            self.expired += (before - self.items.len()) as u64;
            before - self.items.len()
        }

        pub fn snapshot(&self, now: u64) -> Vec<PeerEntry> {
            self.items
                .values()
                .filter(|i| !expired(&i.entry, now, self.cfg.ttl_secs))
                .map(|i| i.entry.clone())
                .collect()
        }

        pub fn candidates(&self, now_ms: u64) -> Vec<SocketAddr> {
            let mut live: Vec<&Item> = self
                .items
                .values()
                .filter(|i| !expired(&i.entry, now_ms / 1000, self.cfg.ttl_secs))
                .filter(|i| now_ms >= i.next_ms)
                .collect();
            live.sort_by_key(|i| {
                (
                    std::cmp::Reverse(i.entry.source),
                    std::cmp::Reverse(i.touched),
                )
            });
            live.iter().map(|i| i.entry.addr).collect()
        }
    }
}

#[derive(Debug, Clone)]
enum Action {
    Connected(u32, u8),
    Bootstrap(u32),
    Gossip(Vec<(u32, u8)>),
    DialFailure(u32),
    AdvanceMs(u64),
    /// The clock goes backwards (NTP step): tiers lose their `last_seen` order.
    RewindMs(u64),
    Expire,
    /// Entries from a file: (address, source, age in seconds, may be negative, metadata).
    Hydrate(Vec<(u32, u8, i64, u8)>),
}

/// Metadata variant `m`: none, small, or over a limit (so rejection is exercised).
fn meta(m: u8) -> (Option<String>, Vec<String>) {
    match m % 5 {
        0 => (None, vec![]),
        1 => (Some(format!("id{m}")), vec!["relay".into()]),
        2 => (Some("x".repeat(256)), vec![]),
        3 => (None, vec!["c".repeat(65)]),
        _ => (Some(format!("n{m}")), vec![format!("cap{}", m % 3)]),
    }
}

fn action() -> impl Strategy<Value = Action> {
    let a = 0u32..14;
    prop_oneof![
        (a.clone(), any::<u8>()).prop_map(|(n, m)| Action::Connected(n, m)),
        a.clone().prop_map(Action::Bootstrap),
        prop::collection::vec((a.clone(), any::<u8>()), 0..6).prop_map(Action::Gossip),
        a.prop_map(Action::DialFailure),
        (0u64..4000).prop_map(Action::AdvanceMs),
        (0u64..3000).prop_map(Action::RewindMs),
        Just(Action::Expire),
        prop::collection::vec((0u32..14, 0u8..3, -2i64..9, any::<u8>()), 0..8)
            .prop_map(Action::Hydrate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn store_matches_the_model(
        max_entries in 0usize..8,
        ttl_secs in 0u64..6,
        max_gossip_batch in 0usize..5,
        actions in prop::collection::vec(action(), 1..80),
    ) {
        let mut cfg = config(max_entries, ttl_secs);
        cfg.max_gossip_batch = max_gossip_batch;
        cfg.backoff = Backoff { base_ms: 500, cap_ms: 3000, jitter_permille: 0 };
        let (store, clock) = store_with(cfg.clone());
        let mut model = model::Model::new(cfg);
        for act in actions {
            let now_ms = clock.now_ms();
            let now = now_ms / 1000;
            match &act {
                Action::Connected(n, m) => {
                    let (id, caps) = meta(*m);
                    let got = store.observe_connected(addr(*n), id.clone(), caps.clone()).ok();
                    prop_assert_eq!(got, model.connected(addr(*n), id, caps, now).ok());
                }
                Action::Bootstrap(n) => {
                    prop_assert_eq!(store.observe_bootstrap(addr(*n)), model.bootstrap(addr(*n), now));
                }
                Action::Gossip(list) => {
                    let batch: Vec<GossipPeer> = list
                        .iter()
                        .map(|&(n, m)| {
                            let (node_id, capabilities) = meta(m);
                            GossipPeer { addr: addr(n), node_id, capabilities }
                        })
                        .collect();
                    prop_assert_eq!(store.observe_gossip(&batch), model.gossip(&batch, now));
                }
                Action::DialFailure(n) => {
                    store.observe_dial_failure(addr(*n));
                    model.dial_failure(addr(*n), now_ms);
                }
                Action::AdvanceMs(ms) => clock.advance_ms(*ms),
                Action::RewindMs(ms) => clock.set_ms(now_ms - ms),
                Action::Expire => prop_assert_eq!(store.expire(), model.expire(now)),
                Action::Hydrate(list) => {
                    let entries: Vec<PeerEntry> = list
                        .iter()
                        .map(|&(n, s, age, m)| {
                            // Hydrate trusts the codecs for metadata limits: valid variants only.
                            let (node_id, capabilities) = meta([0, 1, 4][usize::from(m % 3)]);
                            PeerEntry {
                                addr: addr(n),
                                source: [PeerSource::Gossip, PeerSource::Bootstrap, PeerSource::Connected][usize::from(s)],
                                last_seen: now.saturating_add_signed(-age),
                                node_id,
                                capabilities,
                            }
                        })
                        .collect();
                    prop_assert_eq!(store.hydrate(entries.clone()), model.hydrate(entries, now));
                }
            }
            let now_ms = clock.now_ms();
            let now = now_ms / 1000;
            prop_assert_eq!(sorted_snapshot(&store), model.snapshot(now), "after {:?}", act);
            prop_assert_eq!(store.len(), model.items.len());
            prop_assert_eq!(store.dial_candidates(usize::MAX), model.candidates(now_ms));
            let stats = store.stats();
            prop_assert_eq!(
                (stats.evictions, stats.expired, stats.rejected_gossip, stats.not_stored),
                (model.evictions, model.expired, model.rejected, model.not_stored)
            );
            let count = |s| model.items.values().filter(|i| i.entry.source == s).count();
            prop_assert_eq!(
                (stats.connected, stats.bootstrap, stats.gossip),
                (count(PeerSource::Connected), count(PeerSource::Bootstrap), count(PeerSource::Gossip))
            );
        }
    }
}

/// Every field of a stored address tells entries apart: family, IP, port and IPv6 scope id.
/// (Flow info is not stored: see `ipv6_flow_info_is_not_part_of_an_address`.)
#[test]
fn addresses_differing_in_any_stored_field_are_distinct_entries() {
    use std::net::SocketAddrV6;
    let ip: Ipv6Addr = "fe80::1".parse().expect("valid");
    let v6 = |port, flowinfo, scope| SocketAddr::V6(SocketAddrV6::new(ip, port, flowinfo, scope));
    let v4 = |port| SocketAddr::from(([192, 0, 2, 1], port));
    let addrs = [
        v6(1, 0, 0),
        v6(2, 0, 0),
        v6(1, 0, 1),
        v4(1),
        v4(2),
        SocketAddr::from(([192, 0, 2, 2], 1)),
    ];
    let (store, _clock) = store_with(config(64, 1000));
    for &a in &addrs {
        assert_eq!(store.observe_bootstrap(a), Observed::Inserted, "{a}");
    }
    for &a in &addrs {
        assert_eq!(store.observe_bootstrap(a), Observed::Updated, "{a}");
        assert_eq!(store.get(&a).map(|e| e.addr), Some(a));
    }
    assert_eq!(store.len(), addrs.len());
}

/// IPv6 flow info is not part of a stored address (no codec writes it), so the store keys
/// entries by the stored form: the same address seen with different flow info through every
/// kind of observation (and in a hydrated list) is one entry, and a snapshot of the store always
/// encodes (a writer refuses two entries with one stored address).
#[test]
fn ipv6_flow_info_is_not_part_of_an_address() {
    let (store, _clock) = store_with(config(16, 3600));
    let with_flow = |flow: u32| {
        SocketAddr::V6(std::net::SocketAddrV6::new(
            "2001:db8::7".parse().expect("an IPv6 address"),
            7447,
            flow,
            0,
        ))
    };
    store.observe_gossip(&[GossipPeer {
        addr: with_flow(1),
        node_id: None,
        capabilities: vec![],
    }]);
    store.observe_bootstrap(with_flow(2));
    store
        .observe_connected(with_flow(3), Some("n".into()), vec![])
        .expect("metadata within limits");
    store.observe_dial_failure(with_flow(4));
    store.hydrate(vec![PeerEntry {
        addr: with_flow(5),
        source: PeerSource::Gossip,
        last_seen: T0,
        node_id: None,
        capabilities: vec![],
    }]);
    assert_eq!(store.len(), 1);
    let entry = store.get(&with_flow(6)).expect("found under any flow info");
    assert_eq!(entry.addr, with_flow(0));
    assert_eq!(entry.source, PeerSource::Connected);
    let snapshot = store.snapshot();
    let bytes = knownpeers::codecs::MsgpackCodec
        .encode("r", T0, &snapshot)
        .map_err(|e| e.to_string());
    assert!(bytes.is_ok(), "the snapshot encodes: {bytes:?}");
}

/// A snapshot says its addresses are unique, so the writer skips its duplicate set: whatever a
/// hydrate was given (the same address twice, once with IPv6 flow info), the file written from
/// a snapshot holds each address once and reads back.
#[test]
fn snapshot_of_a_hydrate_with_duplicates_writes_a_readable_file() {
    use knownpeers::codecs::{read, JsonCodec, MsgpackCodec, ReadPolicy};
    use std::net::SocketAddrV6;
    let (store, _clock) = store_with(config(64, 1000));
    let v6 = |flow| {
        SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            7447,
            flow,
            0,
        ))
    };
    let entry = |addr, source, age: u64| PeerEntry {
        addr,
        source,
        last_seen: T0 - age,
        node_id: None,
        capabilities: vec![],
    };
    let report = store.hydrate(vec![
        entry(addr(1), PeerSource::Gossip, 5),
        entry(addr(1), PeerSource::Connected, 9),
        entry(v6(0), PeerSource::Gossip, 3),
        entry(v6(77), PeerSource::Bootstrap, 4),
        entry(addr(2), PeerSource::Gossip, 1),
    ]);
    assert_eq!(report.loaded, 3);
    let snap = store.snapshot();
    assert!(snap.addrs_unique());
    for codec in [&JsonCodec as &dyn Codec, &MsgpackCodec] {
        let bytes = codec.encode("r", T0, &snap).expect("encodes");
        let file = read(&bytes, &ReadPolicy::plaintext(Some("r")))
            .expect("a snapshot's file reads back")
            .file;
        let mut got: Vec<(SocketAddr, PeerSource)> =
            file.entries.iter().map(|e| (e.addr, e.source)).collect();
        got.sort();
        let mut want = vec![
            (addr(1), PeerSource::Connected),
            (v6(0), PeerSource::Bootstrap),
            (addr(2), PeerSource::Gossip),
        ];
        want.sort();
        assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A hydrate into a store that never held an entry (its bulk path) keeps what the model's
    /// oldest-first inserts keep, in the same recency order, duplicates and expired entries
    /// included.
    #[test]
    fn fresh_hydrate_matches_the_model(
        max_entries in prop_oneof![0usize..40, 100usize..400],
        // Past one leaf of 64 slots, with duplicates across leaves.
        list in prop::collection::vec((0u32..200, 0u8..3, -2i64..9, any::<u8>()), 0..300),
    ) {
        let cfg = config(max_entries, 5);
        let (store, clock) = store_with(cfg.clone());
        let mut model = model::Model::new(cfg);
        let now = clock.now();
        let entries: Vec<PeerEntry> = list
            .iter()
            .map(|&(n, s, age, m)| {
                let (node_id, capabilities) = meta([0, 1, 4][usize::from(m % 3)]);
                PeerEntry {
                    addr: addr(n),
                    source: [PeerSource::Gossip, PeerSource::Bootstrap, PeerSource::Connected]
                        [usize::from(s)],
                    last_seen: now.saturating_add_signed(-age),
                    node_id,
                    capabilities,
                }
            })
            .collect();
        prop_assert_eq!(store.hydrate(entries.clone()), model.hydrate(entries, now));
        prop_assert_eq!(sorted_snapshot(&store), model.snapshot(now));
        prop_assert_eq!(store.dial_candidates(usize::MAX), model.candidates(now * 1000));
    }
}
