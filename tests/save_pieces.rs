//! A store snapshot hands writers pre-encoded pieces (one per slab leaf, kept beside the leaf
//! until it changes); these tests prove that every codec and binary frame version writes the
//! same file from them as from the same entries encoded one by one, over random stores that
//! went through inserts, refreshes, gossip, evictions, slot reuse, expiry (swept or not) and
//! saves in every codec order. It must not time anything.

#[path = "common/store.rs"]
mod store_util;

use std::net::{SocketAddr, SocketAddrV6};
use std::sync::Arc;

use knownpeers::codecs::{
    read, Codec, FrameVersion, JsonCodec, Key, MsgpackCodec, ReadPolicy, SealedCodec,
};
use knownpeers::{GossipPeer, ManualClock, PeerEntry, PeerSource, PeerStore, StoreConfig};
use proptest::prelude::*;

use store_util::T0;

/// An address from a pool of 300: IPv4, IPv6, and IPv6 with a scope id.
fn pool_addr(i: u16) -> SocketAddr {
    let i = i % 300;
    match i % 3 {
        0 => SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 7000 + i)),
        1 => SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, i], 7447)),
        _ => SocketAddr::V6(SocketAddrV6::new(
            [0xfe80, 0, 0, 0, 0, 0, 0, i].into(),
            9000,
            0,
            u32::from(i),
        )),
    }
}

/// Metadata with characters JSON escapes, and of every length class.
fn node_id(k: u8) -> Option<String> {
    match k % 4 {
        0 => None,
        1 => Some(format!("node-{k}")),
        2 => Some("quote\" back\\ nl\n ctl\u{1} é".to_string()),
        _ => Some("x".repeat(200 + usize::from(k % 50))),
    }
}

fn caps(k: u8) -> Vec<String> {
    (0..k % 4).map(|c| format!("cap{c}-{k}")).collect()
}

#[derive(Debug, Clone)]
enum Op {
    Connected(u16, u8),
    Reconnected(u16),
    Bootstrap(u16),
    Gossip(Vec<u16>, u8),
    Absent(u16),
    DialFailure(u16),
    /// Seconds forward: entries may expire without being swept.
    Advance(u16),
    Expire,
    /// Save with every codec, starting with codec number `n % 5` (the first one fills the
    /// leaves' kept pieces), and compare.
    Save(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u16>(), any::<u8>()).prop_map(|(a, k)| Op::Connected(a, k)),
        2 => any::<u16>().prop_map(Op::Reconnected),
        1 => any::<u16>().prop_map(Op::Bootstrap),
        3 => (prop::collection::vec(any::<u16>(), 1..40), any::<u8>())
            .prop_map(|(a, k)| Op::Gossip(a, k)),
        1 => any::<u16>().prop_map(Op::Absent),
        1 => any::<u16>().prop_map(Op::DialFailure),
        2 => (0u16..80).prop_map(Op::Advance),
        1 => Just(Op::Expire),
        3 => any::<u8>().prop_map(Op::Save),
    ]
}

fn codecs() -> Vec<(&'static str, Box<dyn Codec>)> {
    let key = || Key::from_bytes([7; 32]);
    vec![
        ("json", Box::new(JsonCodec)),
        ("msgpack v2", Box::new(MsgpackCodec)),
        (
            "msgpack v1",
            Box::new(MsgpackCodec::with_frame_version(FrameVersion::V1)),
        ),
        (
            "sealed v2",
            Box::new(SealedCodec::with_key(key()).with_frame_version(FrameVersion::V2)),
        ),
        (
            "sealed v1",
            Box::new(SealedCodec::with_key(key()).with_frame_version(FrameVersion::V1)),
        ),
    ]
}

/// Saves `store` with every codec, from `first` on, twice each (the second save reads the
/// pieces the first kept), and checks each file against the snapshot's entries encoded one by
/// one: byte for byte for the plaintext codecs, and for the sealed ones (whose nonce is fresh
/// per save) the same length and the same entries in the same order once opened.
fn check_saves(store: &PeerStore, clock: &ManualClock, first: usize) {
    let snapshot = store.snapshot();
    let entries: Vec<PeerEntry> = snapshot.to_vec();
    let now = clock.now_ms() / 1000;
    let codecs = codecs();
    for i in 0..codecs.len() {
        let (name, codec) = &codecs[(first + i) % codecs.len()];
        let one_by_one = codec
            .encode("r", now, &entries)
            .expect("the entries encode");
        for round in 0..2 {
            let from_pieces = codec
                .encode("r", now, &snapshot)
                .expect("the snapshot encodes");
            if name.starts_with("sealed") {
                assert_eq!(from_pieces.len(), one_by_one.len(), "{name}, round {round}");
                let sealed = SealedCodec::with_key(Key::from_bytes([7; 32]));
                let policy = ReadPolicy::sealed(Some("r"), &sealed, true);
                let opened = read(&from_pieces, &policy).expect("the file opens");
                assert_eq!(opened.file.entries, entries, "{name}, round {round}");
                let opened = read(&one_by_one, &policy).expect("the file opens");
                assert_eq!(opened.file.entries, entries, "{name}");
            } else {
                assert!(
                    from_pieces == one_by_one,
                    "{name}, round {round}: the files differ ({} and {} bytes)",
                    from_pieces.len(),
                    one_by_one.len()
                );
            }
        }
    }
}

use knownpeers::Clock as _;

fn run(ops: &[Op], cap: usize) {
    let clock = Arc::new(ManualClock::at_secs(T0));
    let store = PeerStore::new(
        StoreConfig {
            max_entries: cap,
            ttl_secs: 100,
            max_gossip_batch: 30,
            jitter_seed: Some(3),
            ..StoreConfig::default()
        },
        clock.clone(),
    );
    for op in ops {
        match op {
            Op::Connected(a, k) => {
                store
                    .observe_connected(pool_addr(*a), node_id(*k), caps(*k))
                    .expect("within limits");
            }
            Op::Reconnected(a) => {
                store
                    .observe_success(pool_addr(*a), None, None)
                    .expect("within limits");
            }
            Op::Bootstrap(a) => {
                store.observe_bootstrap(pool_addr(*a));
            }
            Op::Gossip(addrs, k) => {
                let batch: Vec<GossipPeer> = addrs
                    .iter()
                    .map(|&a| GossipPeer {
                        addr: pool_addr(a),
                        node_id: node_id(k.wrapping_add(a as u8)),
                        capabilities: caps(*k),
                    })
                    .collect();
                store.observe_gossip(&batch);
            }
            Op::Absent(a) => {
                store.insert_if_absent(pool_addr(*a), PeerSource::Gossip);
            }
            Op::DialFailure(a) => store.observe_dial_failure(pool_addr(*a)),
            Op::Advance(s) => clock.advance_ms(u64::from(*s) * 1000),
            Op::Expire => {
                store.expire();
            }
            Op::Save(n) => check_saves(&store, &clock, usize::from(*n)),
        }
    }
    check_saves(&store, &clock, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Small stores: few leaves, many evictions and reused slots.
    #[test]
    fn pieces_write_what_entries_write(ops in prop::collection::vec(op(), 1..120), cap in 1usize..200) {
        run(&ops, cap);
    }
}

/// A store of several branches (4096 slots each), saved, then changed in a few leaves, one
/// entry left to expire unswept, and saved again in every codec order.
#[test]
fn pieces_over_many_leaves() {
    let clock = Arc::new(ManualClock::at_secs(T0));
    let store = PeerStore::new(
        StoreConfig {
            max_entries: 10_000,
            ttl_secs: 100,
            ..StoreConfig::default()
        },
        clock.clone(),
    );
    let entries: Vec<PeerEntry> = (0..9000u32)
        .map(|i| PeerEntry {
            addr: store_util::addr(i),
            source: PeerSource::Gossip,
            last_seen: T0 - u64::from(i % 50),
            node_id: node_id(i as u8),
            capabilities: caps(i as u8),
        })
        .collect();
    store.hydrate(entries);
    check_saves(&store, &clock, 1);
    for i in (0..9000).step_by(700) {
        store
            .observe_connected(store_util::addr(i), None, vec![])
            .expect("within limits");
    }
    // Entries last seen 49 s before T0 expire at T0 + 52: some leaves hold expired entries
    // that no sweep removed.
    clock.advance_ms(52_000);
    for first in 0..5 {
        check_saves(&store, &clock, first);
    }
    assert!(store.expire() > 0);
    check_saves(&store, &clock, 2);
}
