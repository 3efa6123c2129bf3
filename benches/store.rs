//! Criterion benches of the in-memory store (issues 3 and 6): gossip ingest and connected-observe
//! at the 100k cap, `dial_candidates` at 100k, and `snapshot` at 100k and 1M, each beside a
//! baseline run in the same process (a plain `HashMap<SocketAddr, PeerEntry>` insert loop; a
//! full `Vec<PeerEntry>` clone, which is what a copying snapshot would hold the lock for).
//! Ratios, not absolute times, are what to compare on a shared machine. It asserts nothing and
//! writes no file. Heap bytes per entry are in `store_heap.rs` (it needs its own allocator).
//!
//! Run: `cargo bench --bench store -- --warm-up-time 1 --measurement-time 3`

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use knownpeers::{ManualClock, PeerEntry, PeerStore, StoreConfig};

const CAP: usize = 100_000;
const BATCH: usize = 1000;

fn store(max_entries: usize) -> PeerStore {
    let config = StoreConfig {
        max_entries,
        jitter_seed: Some(1),
        ..StoreConfig::default()
    };
    PeerStore::new(config, Arc::new(ManualClock::at_secs(common::NOW)))
}

/// A store at its cap, filled from a file (mixed sources).
fn full_store(n: usize) -> (PeerStore, Vec<PeerEntry>) {
    let entries = common::entries(n, 0, 1);
    let store = store(n);
    store.hydrate(entries.clone());
    (store, entries)
}

fn store_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_100k");
    group.throughput(Throughput::Elements(CAP as u64));
    group.sample_size(20);
    let entries = common::entries(CAP, 0, 1);

    // Baseline: a fresh HashMap gets 100k inserts (clones, as the store clones gossip claims).
    group.bench_function("hashmap_insert_baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut map: HashMap<SocketAddr, PeerEntry> = HashMap::new();
                let start = Instant::now();
                for e in &entries {
                    map.insert(e.addr, e.clone());
                }
                total += start.elapsed();
                black_box(&map);
            }
            total
        })
    });

    // Gossip ingest at the cap: every address is new, so every insert evicts the least recently
    // seen gossip entry. Batches of 1000, addresses never seen before in any iteration.
    {
        let (store, _) = full_store(CAP);
        let mut next = CAP as u64;
        group.bench_function("gossip_ingest_at_cap", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch = common::gossip(&common::entries(CAP, next, next));
                    next += CAP as u64;
                    let start = Instant::now();
                    for chunk in batch.chunks(BATCH) {
                        black_box(store.observe_gossip(chunk));
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }

    // Connected-observe of stored addresses (metadata replaced each time), and the matching
    // baseline: overwriting inserts into a HashMap already holding the addresses.
    {
        let (store, stored) = full_store(CAP);
        group.bench_function("connected_observe_at_cap", |b| {
            b.iter(|| {
                for e in &stored {
                    black_box(
                        store
                            .observe_connected(e.addr, e.node_id.clone(), e.capabilities.clone())
                            .expect("generated metadata is within limits"),
                    );
                }
            })
        });
        let mut map: HashMap<SocketAddr, PeerEntry> =
            stored.iter().map(|e| (e.addr, e.clone())).collect();
        group.bench_function("hashmap_overwrite_baseline", |b| {
            b.iter(|| {
                for e in &stored {
                    black_box(map.insert(e.addr, e.clone()));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("dial_100k");
    let (store, stored) = full_store(CAP);
    // A quarter of the addresses back off, so the walk has to skip some.
    for e in stored.iter().step_by(4) {
        store.observe_dial_failure(e.addr);
    }
    for n in [16usize, 256] {
        group.bench_function(format!("dial_candidates_{n}"), |b| {
            b.iter(|| black_box(store.dial_candidates(n)))
        });
    }
    group.finish();
}

fn snapshots(c: &mut Criterion) {
    for n in [CAP, 1_000_000] {
        let mut group = c.benchmark_group(format!("snapshot_{}k", n / 1000));
        group.sample_size(10);
        let (store, entries) = full_store(n);
        // What the store's lock is held for: copying the chunk pointers.
        group.bench_function("snapshot_take", |b| b.iter(|| black_box(store.snapshot())));
        // Taking it and walking every entry (what an encoder does, outside the lock).
        group.bench_function("snapshot_take_and_walk", |b| {
            b.iter(|| {
                let snap = store.snapshot();
                use knownpeers::codecs::EntrySource;
                black_box(snap.entries().map(|e| e.last_seen).sum::<u64>())
            })
        });
        // The worst single observation right after a snapshot: it copies one shared chunk.
        let mut i = 0usize;
        group.bench_function("first_observe_after_snapshot", |b| {
            b.iter_batched(
                || store.snapshot(),
                |snap| {
                    i = (i + 7919) % entries.len();
                    black_box(store.observe_bootstrap(entries[i].addr));
                    snap
                },
                BatchSize::PerIteration,
            )
        });
        // Baseline: a full copy, what a copying snapshot would do under the lock.
        group.bench_function("vec_clone_baseline", |b| {
            b.iter(|| black_box(entries.clone()))
        });
        group.finish();
    }
}

fn main() {
    // `criterion_main!` without its macro: the macro's generated `pub fn` has no docs.
    let mut c = Criterion::default().configure_from_args();
    store_ops(&mut c);
    snapshots(&mut c);
    c.final_summary();
}
