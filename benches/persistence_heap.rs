//! Heap bytes per entry (issue 6, section "Memory"): a `PeerStore` holding N generated entries
//! against a plain `Vec<PeerEntry>` of the same entries, counted by `stats_alloc`'s instrumented
//! global allocator in this process. It lives apart from `persistence.rs` because that counting
//! allocator adds atomic increments to every allocation, which would tax the timed paths there.
//! It writes `target/knownpeers-bench/heap.md`, which `tools/bench-report.sh` splices into
//! BENCHMARKS.md after the persistence report. It never asserts on a size: a missed goal is
//! reported, not failed.
//!
//! Options: `--quick` (or `KNOWNPEERS_BENCH_QUICK=1`: N = 1k and 10k), `KNOWNPEERS_BENCH_OUT`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Shared support modules; this binary uses only part of each.
#[allow(dead_code)]
#[path = "support/gen.rs"]
mod gen;
#[allow(dead_code)]
#[path = "support/report.rs"]
mod report;
#[allow(dead_code)]
#[path = "support/timing.rs"]
mod timing;

use std::alloc::System;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knownpeers::{ManualClock, PeerStore, StoreConfig};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

use report::{Cmp, Goal, Report, Table};
use timing::human_n;

/// Counts every allocation of this process.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Seed of the entries (the persistence bench's seed, another stream).
const SEED: u64 = 0x6b6e_6f77_6e70_6565 ^ 6;

/// Net bytes allocated (allocated minus freed, reallocations included) while `f` runs; what `f`
/// returns is dropped after the count.
fn net_heap<T>(f: impl FnOnce() -> T) -> f64 {
    let region = Region::new(GLOBAL);
    let kept = f();
    let c = region.change();
    drop(kept);
    // stats_alloc already adds a `realloc`'s growth to `bytes_allocated` and its shrinkage to
    // `bytes_deallocated`; `bytes_reallocated` is the same size changes again (adding it counted
    // every growth twice).
    c.bytes_allocated as f64 - c.bytes_deallocated as f64
}

fn main() {
    let quick = std::env::var("KNOWNPEERS_BENCH_QUICK").is_ok_and(|v| v != "0")
        || std::env::args().any(|a| a == "--quick");
    let out = std::env::var_os("KNOWNPEERS_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/knownpeers-bench"));
    let sizes = if quick {
        vec![1_000, 10_000]
    } else {
        vec![100_000, 1_000_000]
    };
    let mut report = Report {
        goals_heading: "Goals: heap per entry (benches/persistence_heap.rs)".to_string(),
        ..Report::default()
    };
    let mut table = Table::new(
        "Heap per entry",
        "Net heap bytes (allocated minus freed, counted by `stats_alloc`) to hold N generated \
         entries: a `PeerStore` after `hydrate`, against a `Vec<PeerEntry>` of the same entries \
         (exact capacity). Both include the entries' own strings. Allocator overhead per block \
         is not counted in either.",
        &["N", "PeerStore", "Vec<PeerEntry>", "ratio"],
    );
    let clock = Arc::new(ManualClock::at_secs(gen::NOW));
    for n in sizes {
        eprintln!("== heap, N = {n}");
        let entries = gen::entries(SEED, n);
        let vec_bytes = net_heap(|| entries.clone());
        let store_bytes = net_heap(|| {
            let store = PeerStore::new(
                StoreConfig {
                    max_entries: n,
                    ..StoreConfig::default()
                },
                clock.clone(),
            );
            let hydrated = store.hydrate(entries.clone());
            assert_eq!(hydrated.loaded, n, "hydrate keeps every fresh entry");
            store
        });
        let r = store_bytes / vec_bytes;
        let (s, v) = (store_bytes / n as f64, vec_bytes / n as f64);
        table.row(vec![
            human_n(n),
            format!("{s:.0} B"),
            format!("{v:.0} B"),
            format!("{r:.2}x"),
        ]);
        report.goals.push(Goal {
            what: format!("{}: heap per entry, PeerStore / Vec<PeerEntry>", human_n(n)),
            value: r,
            cmp: Cmp::AtMost,
            target: 1.5,
            unit: "x",
            detail: format!("{s:.0} B vs {v:.0} B per entry"),
            command: "cargo bench --bench persistence_heap".to_string(),
        });
    }
    report.tables.push(table);
    let md = report.markdown();
    std::fs::create_dir_all(&out).expect("the report dir is writable");
    let path = out.join("heap.md");
    std::fs::write(&path, &md).expect("the report dir is writable");
    println!("{md}");
    eprintln!("report written to {}", path.display());
}
