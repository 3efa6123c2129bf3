//! Heap bytes per entry of the store at 100k and 1M realistic entries, against a plain
//! `Vec<PeerEntry>` of the same entries (issue 6's memory goal: at most 1.5x). Measured with a
//! counting global allocator (`stats_alloc`): the net bytes allocated while building each, so
//! allocator slack (malloc headers, size classes) is not counted on either side. A separate bench
//! binary so the counting allocator does not slow the timed benches in `store.rs`. It prints a
//! table and asserts nothing.
//!
//! Run: `cargo bench --bench store_heap`

mod common;

use std::alloc::System;
use std::sync::Arc;

use knownpeers::codecs::EntrySource;
use knownpeers::{ManualClock, PeerEntry, PeerStore, StoreConfig};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Net heap bytes that `build` leaves allocated (its result is kept alive until measured).
fn net_bytes<T>(build: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(GLOBAL);
    let value = build();
    let change = region.change();
    // stats_alloc already adds a realloc's growth to `bytes_allocated` (shrink to deallocated).
    let net = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    (value, net)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects nothing here.
    println!("entries    vec B/entry  store B/entry  ratio  (goal <= 1.5)");
    for n in [100_000usize, 1_000_000] {
        let entries: Vec<PeerEntry> = common::entries(n, 0, 1);

        let (vec, vec_bytes) = net_bytes(|| {
            let mut v = Vec::with_capacity(entries.len());
            v.extend(entries.iter().cloned());
            v
        });

        let (store, store_bytes) = net_bytes(|| {
            let config = StoreConfig {
                max_entries: n,
                jitter_seed: Some(1),
                ..StoreConfig::default()
            };
            let store = PeerStore::new(config, Arc::new(ManualClock::at_secs(common::NOW)));
            // The input vector is allocated and freed inside the region, so only what the
            // store keeps (entries, index, tiers) is counted.
            store.hydrate(entries.clone());
            store
        });

        // A snapshot pins chunks; how much does taking one cost while it is alive?
        let (snap, snap_bytes) = net_bytes(|| store.snapshot());

        let per = |bytes: isize| bytes as f64 / n as f64;
        println!(
            "{n:>9}  {:>11.1}  {:>13.1}  {:>5.2}  (stored {}; a live snapshot: {:.2} B/entry, len {})",
            per(vec_bytes),
            per(store_bytes),
            per(store_bytes) / per(vec_bytes),
            store.len(),
            per(snap_bytes),
            snap.len(),
        );
        drop((vec, store, snap));
    }
}
