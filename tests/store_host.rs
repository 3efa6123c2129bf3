//! The store calls a host such as TheNodes makes (issue 9): a success that keeps metadata,
//! insert-if-absent, live addresses, a random sample excluding a set, an address's dial state.
//! Time is a `ManualClock`; no file, no network (addresses are data only), no timing asserts.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use knownpeers::{DialState, GossipPeer, ManualClock, Observed, PeerSource, PeerStore};

const T0: u64 = 1_700_000_000;

#[path = "common/store.rs"]
mod store_util;

fn addr(n: u32) -> SocketAddr {
    let [a, b, c, d] = (0x0a00_0000u32 + n).to_be_bytes();
    SocketAddr::from(([a, b, c, d], 7447))
}

fn store(max_entries: usize, ttl_secs: u64) -> (PeerStore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_secs(T0));
    let config = store_util::store_config(max_entries, ttl_secs);
    (PeerStore::new(config, clock.clone()), clock)
}

fn gossip(n: u32, node_id: &str) -> GossipPeer {
    GossipPeer {
        addr: addr(n),
        node_id: Some(node_id.into()),
        capabilities: vec!["claimed".into()],
    }
}

#[test]
fn observe_success_keeps_what_it_is_not_given() {
    let (s, clock) = store(100, 1000);
    // New: Connected, with what was given, none/empty for the rest.
    assert_eq!(
        s.observe_success(addr(1), Some("n1".into()), None),
        Ok(Observed::Inserted)
    );
    let e = s.get(&addr(1)).expect("stored");
    assert_eq!((e.source, e.last_seen), (PeerSource::Connected, T0));
    assert_eq!(
        (e.node_id.as_deref(), e.capabilities.len()),
        (Some("n1"), 0)
    );
    assert_eq!(
        s.observe_success(addr(2), None, None),
        Ok(Observed::Inserted)
    );
    let e = s.get(&addr(2)).expect("stored");
    assert_eq!((e.node_id, e.capabilities.len()), (None, 0));

    // Capabilities given later replace; `None` keeps both fields.
    clock.advance_ms(5000);
    let caps = vec!["relay".to_string(), "store".to_string()];
    assert_eq!(
        s.observe_success(addr(1), None, Some(caps.clone())),
        Ok(Observed::Updated)
    );
    clock.advance_ms(5000);
    assert_eq!(
        s.observe_success(addr(1), None, None),
        Ok(Observed::Updated)
    );
    let e = s.get(&addr(1)).expect("stored");
    assert_eq!(e.node_id.as_deref(), Some("n1"));
    assert_eq!(e.capabilities, caps);
    assert_eq!(e.last_seen, T0 + 10);
    // `Some` replaces, including with an empty list.
    s.observe_success(addr(1), Some("n1b".into()), Some(vec![]))
        .expect("ok");
    let e = s.get(&addr(1)).expect("stored");
    assert_eq!(
        (e.node_id.as_deref(), e.capabilities.len()),
        (Some("n1b"), 0)
    );
}

#[test]
fn observe_success_raises_any_source_and_resets_the_backoff() {
    let (s, clock) = store(100, 1000);
    s.observe_gossip(&[gossip(1, "claimed-by-gossip")]);
    s.observe_bootstrap(addr(2));
    for n in [1, 2] {
        s.observe_dial_failure(addr(n));
        s.observe_dial_failure(addr(n));
        assert_eq!(s.dial_state(&addr(n)).expect("stored").failures, 2);
    }
    clock.advance_ms(1000);
    for n in [1, 2] {
        assert_eq!(
            s.observe_success(addr(n), None, None),
            Ok(Observed::Updated)
        );
        let e = s.get(&addr(n)).expect("stored");
        assert_eq!((e.source, e.last_seen), (PeerSource::Connected, T0 + 1));
        let state = s.dial_state(&addr(n)).expect("stored");
        assert_eq!((state.failures, state.next_dial_at_ms), (0, None));
    }
    // The gossiped metadata was kept (None = keep), and is now the Connected entry's.
    assert_eq!(
        s.get(&addr(1)).expect("stored").node_id.as_deref(),
        Some("claimed-by-gossip")
    );
    assert_eq!(s.dial_candidates(10)[..2], [addr(2), addr(1)]);
}

#[test]
fn observe_success_refuses_oversize_metadata_and_changes_nothing() {
    let (s, _clock) = store(100, 1000);
    s.observe_success(addr(1), Some("n1".into()), None)
        .expect("ok");
    let generation = s.generation();
    let huge = "x".repeat(knownpeers::codecs::MAX_NODE_ID_LEN + 1);
    assert!(s
        .observe_success(addr(1), Some(huge.clone()), None)
        .is_err());
    assert!(s.observe_success(addr(9), Some(huge), None).is_err());
    let caps = vec!["c".to_string(); knownpeers::codecs::MAX_CAPABILITIES + 1];
    assert!(s.observe_success(addr(1), None, Some(caps)).is_err());
    assert_eq!(s.generation(), generation);
    assert_eq!(s.get(&addr(9)), None);
    assert_eq!(
        s.get(&addr(1)).expect("kept").node_id.as_deref(),
        Some("n1")
    );
}

#[test]
fn observe_success_of_an_expired_entry_is_a_new_one() {
    let (s, clock) = store(100, 10);
    s.observe_success(addr(1), Some("old".into()), Some(vec!["x".into()]))
        .expect("ok");
    clock.advance_ms(11_000);
    assert_eq!(
        s.observe_success(addr(1), None, None),
        Ok(Observed::Inserted)
    );
    let e = s.get(&addr(1)).expect("stored");
    assert_eq!(
        (e.node_id, e.capabilities.len()),
        (None, 0),
        "nothing survives expiry"
    );
}

#[test]
fn insert_if_absent_seeds_and_never_touches_an_existing_entry() {
    let (s, clock) = store(100, 1000);
    assert!(s.insert_if_absent(addr(1), PeerSource::Gossip));
    let e = s.get(&addr(1)).expect("stored");
    assert_eq!(
        (e.source, e.last_seen, e.node_id),
        (PeerSource::Gossip, T0, None)
    );
    s.observe_success(addr(2), Some("n2".into()), Some(vec!["relay".into()]))
        .expect("ok");
    s.observe_bootstrap(addr(3));
    s.observe_dial_failure(addr(3));

    clock.advance_ms(60_000);
    let before: Vec<_> = [1, 2, 3].iter().map(|&n| s.get(&addr(n))).collect();
    let generation = s.generation();
    for source in [
        PeerSource::Gossip,
        PeerSource::Bootstrap,
        PeerSource::Connected,
    ] {
        for n in [1, 2, 3] {
            assert!(!s.insert_if_absent(addr(n), source), "{n} exists");
        }
    }
    let after: Vec<_> = [1, 2, 3].iter().map(|&n| s.get(&addr(n))).collect();
    assert_eq!(after, before, "not refreshed, re-sourced or changed");
    assert_eq!(s.generation(), generation, "no change to save");
    assert_eq!(
        s.dial_state(&addr(3)).expect("stored").failures,
        1,
        "backoff kept"
    );

    // Any source may be seeded.
    assert!(s.insert_if_absent(addr(4), PeerSource::Connected));
    assert_eq!(
        s.get(&addr(4)).expect("stored").source,
        PeerSource::Connected
    );
    assert_eq!(s.get(&addr(4)).expect("stored").last_seen, T0 + 60);
}

#[test]
fn insert_if_absent_follows_the_eviction_rules() {
    let (s, clock) = store(2, 10);
    s.observe_bootstrap(addr(1));
    s.observe_success(addr(2), None, None).expect("ok");
    // Full of higher-ranked entries: a seeded gossip address is not stored.
    assert!(!s.insert_if_absent(addr(3), PeerSource::Gossip));
    assert_eq!(s.len(), 2);
    // A Bootstrap seed may evict the least recent Bootstrap entry.
    assert!(s.insert_if_absent(addr(4), PeerSource::Bootstrap));
    assert_eq!(s.get(&addr(1)), None);
    // An expired entry is absent.
    clock.advance_ms(11_000);
    assert!(s.insert_if_absent(addr(2), PeerSource::Gossip));
    assert_eq!(s.get(&addr(2)).expect("new").source, PeerSource::Gossip);
}

#[test]
fn live_addrs_lists_every_unexpired_address_in_query_order() {
    let (s, clock) = store(100, 100);
    assert!(s.live_addrs().is_empty());
    s.observe_gossip(&[gossip(1, "g")]);
    s.observe_bootstrap(addr(2));
    s.observe_success(addr(3), None, None).expect("ok");
    clock.advance_ms(50_000);
    s.observe_gossip(&[gossip(4, "g")]);
    s.observe_success(addr(5), None, None).expect("ok");
    assert_eq!(
        s.live_addrs(),
        [addr(5), addr(3), addr(2), addr(4), addr(1)]
    );
    // 1, 2 and 3 expire (seen at T0), 4 and 5 stay.
    clock.advance_ms(60_000);
    assert_eq!(s.live_addrs(), [addr(5), addr(4)]);
    assert_eq!(s.len(), 5, "not swept: just not listed");
}

#[test]
fn sample_addrs_takes_up_to_k_live_addresses_outside_the_exclude_set() {
    let (s, clock) = store(100, 100);
    for n in 0..10 {
        s.insert_if_absent(addr(n), PeerSource::Gossip);
    }
    let exclude: HashSet<SocketAddr> = [addr(0), addr(1), addr(99)].into();
    assert!(s.sample_addrs(0, &exclude).is_empty());
    let sample = s.sample_addrs(3, &exclude);
    assert_eq!(sample.len(), 3);
    assert!(sample.iter().all(|a| !exclude.contains(a)));
    assert_eq!(
        sample.iter().collect::<HashSet<_>>().len(),
        3,
        "no duplicates"
    );
    // k past what qualifies: all of it.
    let mut all = s.sample_addrs(100, &exclude);
    all.sort();
    let mut expected: Vec<_> = (2..10).map(addr).collect();
    expected.sort();
    assert_eq!(all, expected);
    // Expired entries are never sampled.
    clock.advance_ms(50_000);
    s.observe_bootstrap(addr(20));
    clock.advance_ms(60_000);
    let generation = s.generation();
    assert_eq!(s.sample_addrs(5, &HashSet::new()), [addr(20)]);
    assert_eq!(s.generation(), generation, "sampling changes nothing");
    assert_eq!(s.len(), 11, "nor sweeps");
}

/// Every eligible address is drawn about equally often (seeded RNG, so deterministic), and
/// every position of the result too.
#[test]
fn sample_addrs_is_uniform() {
    let (s, _clock) = store(100, 1000);
    for n in 0..12 {
        s.insert_if_absent(addr(n), PeerSource::Gossip);
    }
    s.observe_success(addr(12), None, None).expect("ok");
    s.observe_bootstrap(addr(13));
    let exclude: HashSet<SocketAddr> = [addr(0), addr(13)].into();
    let generation = s.generation();
    let (rounds, k) = (6000, 3);
    let mut counts: BTreeMap<SocketAddr, usize> = BTreeMap::new();
    let mut first: BTreeMap<SocketAddr, usize> = BTreeMap::new();
    for _ in 0..rounds {
        let sample = s.sample_addrs(k, &exclude);
        assert_eq!(sample.len(), k);
        *first.entry(sample[0]).or_default() += 1;
        for a in sample {
            *counts.entry(a).or_default() += 1;
        }
    }
    assert_eq!(s.generation(), generation, "sampling is no change to save");
    assert_eq!(counts.len(), 12, "every eligible address, none excluded");
    let expected = rounds * k / 12; // 1500
    for (a, &c) in &counts {
        assert!(
            c.abs_diff(expected) < expected / 5,
            "{a}: {c} of ~{expected}"
        );
    }
    let expected_first = rounds / 12; // 500
    for (a, &c) in &first {
        assert!(
            c.abs_diff(expected_first) < expected_first / 4,
            "{a} first: {c}"
        );
    }
}

#[test]
fn dial_state_reports_failures_and_the_next_allowed_dial() {
    let (s, clock) = store(100, 1000);
    assert_eq!(s.dial_state(&addr(1)), None, "unknown");
    s.observe_dial_failure(addr(1));
    assert_eq!(
        s.dial_state(&addr(1)),
        None,
        "a failure of an unknown address is not tracked"
    );
    s.observe_bootstrap(addr(1));
    let fresh = s.dial_state(&addr(1)).expect("stored");
    assert_eq!((fresh.failures, fresh.next_dial_at_ms), (0, None));
    let now_ms = T0 * 1000;
    s.observe_dial_failure(addr(1));
    let one = s.dial_state(&addr(1)).expect("stored");
    assert_eq!(
        (one.failures, one.next_dial_at_ms),
        (1, Some(now_ms + 1000))
    );
    s.observe_dial_failure(addr(1));
    let two: DialState = s.dial_state(&addr(1)).expect("stored");
    assert_eq!(
        (two.failures, two.next_dial_at_ms),
        (2, Some(now_ms + 2000))
    );
    assert!(s.dial_candidates(10).is_empty());
    // Once the time has come, it may be dialled now; the count stays until a success.
    clock.advance_ms(2000);
    let due = s.dial_state(&addr(1)).expect("stored");
    assert_eq!((due.failures, due.next_dial_at_ms), (2, None));
    assert_eq!(s.dial_candidates(10), [addr(1)]);
    s.observe_success(addr(1), None, None).expect("ok");
    assert_eq!(s.dial_state(&addr(1)).expect("stored").failures, 0);
    // An expired entry has no dial state.
    clock.advance_ms(1_001_000);
    assert_eq!(s.dial_state(&addr(1)), None);
}
