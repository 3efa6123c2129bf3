//! Criterion benches of the in-memory store (issues 3 and 6): gossip ingest and connected-observe
//! at the 100k cap, `dial_candidates` at 100k, and `snapshot` at 100k and 1M, each beside a
//! baseline run in the same process (a plain `HashMap<SocketAddr, PeerEntry>` insert loop; a
//! full `Vec<PeerEntry>` clone, which is what a copying snapshot would hold the lock for).
//! Ratios, not absolute times, are what to compare on a shared machine. It asserts nothing and
//! writes no file. Heap bytes per entry are in `persistence_heap.rs` (it needs its own allocator).
//!
//! Run: `cargo bench --bench store -- --warm-up-time 1 --measurement-time 3`

// The benches' one entry generator (shared with the persistence benches).
#[allow(dead_code)]
#[path = "support/gen.rs"]
mod gen;

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
    PeerStore::new(config, Arc::new(ManualClock::at_secs(gen::NOW)))
}

/// A store at its cap, filled from a file (mixed sources).
fn full_store(n: usize) -> (PeerStore, Vec<PeerEntry>) {
    let entries = gen::numbered(0, n, 1);
    let store = store(n);
    store.hydrate(entries.clone());
    (store, entries)
}

fn store_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_100k");
    group.throughput(Throughput::Elements(CAP as u64));
    group.sample_size(20);
    let entries = gen::numbered(0, CAP, 1);

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
                    let batch = gen::as_gossip(&gen::numbered(next, CAP, next));
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
        // Loading: a file's entries into an empty store (sort, index, tiers).
        group.bench_function("hydrate", |b| {
            b.iter_batched(
                || entries.clone(),
                |file| {
                    let fresh = self::store(n);
                    black_box(fresh.hydrate(file));
                    fresh
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

/// On-CPU time of the calling thread, from Linux's `/proc/thread-self/schedstat` (first field,
/// ns). Unlike wall time it excludes the time the thread waits for a core, which dominates the
/// noise on a shared 2-core machine. `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Wall and on-CPU time of `f`.
fn timed(f: impl FnOnce()) -> (Duration, Option<Duration>) {
    let cpu = thread_cpu_ns();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let cpu = cpu
        .zip(thread_cpu_ns())
        .map(|(a, b)| Duration::from_nanos(b.saturating_sub(a)));
    (wall, cpu)
}

type Sample = (Duration, Option<Duration>);

/// Medians of `rounds` alternating runs of `base` and `subject` (each times `ops` operations),
/// printed as ns/op and the ratio, by wall time and by on-CPU time. Alternating in ABBA order
/// makes the ratio robust to the machine's load changing between criterion's sequential groups.
fn paired(
    name: &str,
    ops: usize,
    rounds: usize,
    mut base: impl FnMut() -> Sample,
    mut subject: impl FnMut() -> Sample,
) {
    let (mut b, mut s) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            b.push(base());
            s.push(subject());
        } else {
            s.push(subject());
            b.push(base());
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_nanos() as f64 / ops as f64
    };
    let (bw, sw) = (
        median(&mut b.iter().map(|x| x.0).collect()),
        median(&mut s.iter().map(|x| x.0).collect()),
    );
    print!(
        "paired {name}: wall baseline {bw:.0} ns/op, store {sw:.0} ns/op, ratio {:.2}",
        sw / bw
    );
    let bc: Option<Vec<Duration>> = b.iter().map(|x| x.1).collect();
    let sc: Option<Vec<Duration>> = s.iter().map(|x| x.1).collect();
    if let (Some(mut bc), Some(mut sc)) = (bc, sc) {
        let (bc, sc) = (median(&mut bc), median(&mut sc));
        print!(
            "; on-CPU baseline {bc:.0} ns/op, store {sc:.0} ns/op, ratio {:.2}",
            sc / bc
        );
    }
    println!();
}

/// The paired ratios of issue 6's store goal (gossip ingest within 2x of the HashMap loop).
fn paired_ratios() {
    let entries = gen::numbered(0, CAP, 1);
    let hashmap_insert = || {
        let mut map: HashMap<SocketAddr, PeerEntry> = HashMap::new();
        let t = timed(|| {
            for e in &entries {
                map.insert(e.addr, e.clone());
            }
        });
        black_box(&map);
        t
    };
    let (store, stored) = full_store(CAP);
    let mut next = CAP as u64;
    let gossip_ingest = || {
        let batch = gen::as_gossip(&gen::numbered(next, CAP, next));
        next += CAP as u64;
        timed(|| {
            for chunk in batch.chunks(BATCH) {
                black_box(store.observe_gossip(chunk));
            }
        })
    };
    paired(
        "gossip_ingest_at_cap_100k vs hashmap_insert",
        CAP,
        21,
        hashmap_insert,
        gossip_ingest,
    );

    let (store, _) = full_store(CAP);
    let connected = || {
        timed(|| {
            for e in &stored {
                black_box(store.observe_connected(
                    e.addr,
                    e.node_id.clone(),
                    e.capabilities.clone(),
                ))
                .expect("generated metadata is within limits");
            }
        })
    };
    let mut map: HashMap<SocketAddr, PeerEntry> =
        stored.iter().map(|e| (e.addr, e.clone())).collect();
    let overwrite = || {
        timed(|| {
            for e in &stored {
                black_box(map.insert(e.addr, e.clone()));
            }
        })
    };
    paired(
        "connected_observe_at_cap_100k vs hashmap_overwrite",
        CAP,
        21,
        overwrite,
        connected,
    );
}

fn main() {
    // `criterion_main!` without its macro: the macro's generated `pub fn` has no docs.
    let mut c = Criterion::default().configure_from_args();
    store_ops(&mut c);
    snapshots(&mut c);
    c.final_summary();
    // Only under `cargo bench` (which passes `--bench`), not in `cargo test --benches`.
    if std::env::args().any(|a| a == "--bench") {
        paired_ratios();
    }
}
