//! Heap bytes per entry (issue 6, section "Memory"): a `PeerStore` holding N generated entries
//! against a plain `Vec<PeerEntry>` of the same entries, counted by `stats_alloc`'s instrumented
//! global allocator in this process. It lives apart from `persistence.rs` because that counting
//! allocator adds atomic increments to every allocation, which would tax the timed paths there.
//! It writes `target/knownpeers-bench/heap.md`, which `tools/bench-report.sh` splices into
//! BENCHMARKS.md after the persistence report. It never asserts on a size: a missed goal is
//! reported, not failed.
//!
//! It also measures the heap a sealed load needs beyond the entries it returns (issue 12): the
//! peak of the same counter, sampled from a second thread while `codecs::read_owned` opens a
//! sealed file of each binary frame version.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use knownpeers::codecs::{
    read_owned, Codec, FrameVersion, JsonCodec, Key, MsgpackCodec, ReadPolicy, SealedCodec,
};

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

/// The counter's net bytes now (a `realloc`'s size change counted once, as in [`net_heap`]).
fn net_now() -> f64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as f64 - s.bytes_deallocated as f64
}

/// While `f` runs, the highest net heap above the start (sampled as often as a second thread
/// gets the CPU, so a spike shorter than a scheduling slice can be missed on a busy machine),
/// and the net change once it returned; then what `f` returned.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (f64, f64, T) {
    let stop = AtomicBool::new(false);
    let start = net_now();
    let (peak, out) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = net_now();
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(net_now());
                std::thread::yield_now();
            }
            peak.max(net_now())
        });
        let out = f();
        stop.store(true, Ordering::Relaxed);
        (sampler.join().expect("the sampler does not panic"), out)
    });
    (peak - start, net_now() - start, out)
}

/// Issue 12: the heap a load of a sealed file needs beyond the entries it returns, for each
/// binary frame version, against the goal "at most the file's size + 1 MiB".
fn sealed_load(report: &mut Report, sizes: &[usize]) {
    let mut table = Table::new(
        "Heap of a sealed load",
        "`codecs::read_owned` of a sealed file (key file) held in a buffer, as the runtime's load \
         calls it. Peak = the highest net heap during the call (the counting allocator, sampled \
         continuously from another thread; a spike shorter than a scheduler slice can be missed, \
         so small N may read low) above what was allocated before it, plus the file's \
         buffer, which the call consumes; entries = the net heap of the entries it returns (the \
         store's input); extra = peak - entries: what the load needs beyond the entries.",
        &[
            "N",
            "version",
            "file",
            "peak",
            "entries",
            "extra",
            "extra / file",
        ],
    );
    let codec = |v| SealedCodec::with_key(Key::from_bytes([7; 32])).with_frame_version(v);
    for &n in sizes {
        let entries = gen::entries(SEED ^ 12, n);
        for version in [FrameVersion::V2, FrameVersion::V1] {
            eprintln!("== sealed load heap, N = {n}, version {version}");
            let codec = codec(version);
            let file = codec
                .encode("bench-heap", gen::NOW, &entries)
                .expect("generated entries encode");
            let file_len = file.len() as f64;
            let policy = ReadPolicy::sealed(Some("bench-heap"), &codec, true);
            let (peak, net, decoded) = peak_heap(|| read_owned(file, &policy));
            let decoded = decoded.expect("the file just written reads");
            assert_eq!(
                decoded.file.entries.len(),
                n,
                "the load gives back every entry"
            );
            // The call consumed (and freed) the file's buffer: the entries' heap is the net
            // change plus that buffer, and the peak counts the buffer too.
            let result = net + file_len;
            let peak = peak + file_len;
            let extra = peak - result;
            let mib = |b: f64| format!("{:.1} MiB", b / (1 << 20) as f64);
            table.row(vec![
                human_n(n),
                version.to_string(),
                mib(file_len),
                mib(peak),
                mib(result),
                mib(extra),
                format!("{:.2}x", extra / file_len),
            ]);
            if version == FrameVersion::V2 && n == *sizes.last().expect("sizes") {
                report.goals.push(Goal {
                    what: format!(
                        "{}: extra heap while loading a sealed file (version 2), beyond its entries",
                        human_n(n)
                    ),
                    value: extra / (1 << 20) as f64,
                    cmp: Cmp::AtMost,
                    target: (file_len + (1 << 20) as f64) / (1 << 20) as f64,
                    unit: "MiB",
                    detail: format!(
                        "peak {}, entries {}, file {} (target: the file's size + 1 MiB)",
                        mib(peak),
                        mib(result),
                        mib(file_len)
                    ),
                    command: "cargo bench --bench persistence_heap".to_string(),
                });
            }
            drop(decoded);
        }
    }
    report.tables.push(table);
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
         is not counted in either. The goal's store has kept no encoded pieces yet (as after \
         a load); the last two columns are the same store after one save in that codec, whose \
         pieces (the encoded bytes of every slab leaf, kept until the leaf changes) it then \
         holds.",
        &[
            "N",
            "PeerStore",
            "Vec<PeerEntry>",
            "ratio",
            "after a msgpack save",
            "after a JSON save",
        ],
    );
    let clock = Arc::new(ManualClock::at_secs(gen::NOW));
    for &n in &sizes {
        eprintln!("== heap, N = {n}");
        let entries = gen::entries(SEED, n);
        let vec_bytes = net_heap(|| entries.clone());
        let filled = || {
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
        };
        let store_bytes = net_heap(filled);
        // The store after one save in `codec` (the file's bytes are freed before the count).
        let saved = |codec: &dyn Codec| {
            net_heap(|| {
                let store = filled();
                let bytes = codec
                    .encode("bench-heap", gen::NOW, &store.snapshot())
                    .expect("generated entries encode");
                drop(bytes);
                store
            })
        };
        let msgpack_bytes = saved(&MsgpackCodec);
        let json_bytes = saved(&JsonCodec);
        let r = store_bytes / vec_bytes;
        let (s, v) = (store_bytes / n as f64, vec_bytes / n as f64);
        let per = |b: f64| format!("{:.0} B ({:.2}x)", b / n as f64, b / vec_bytes);
        table.row(vec![
            human_n(n),
            format!("{s:.0} B"),
            format!("{v:.0} B"),
            format!("{r:.2}x"),
            per(msgpack_bytes),
            per(json_bytes),
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
    sealed_load(&mut report, &sizes);
    let md = report.markdown();
    std::fs::create_dir_all(&out).expect("the report dir is writable");
    let path = out.join("heap.md");
    std::fs::write(&path, &md).expect("the report dir is writable");
    println!("{md}");
    eprintln!("report written to {}", path.display());
}
