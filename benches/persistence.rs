//! knownpeers' persistence benchmarks (issue 6): save and load end to end per codec against
//! TheNodes' in-place pretty JSON and the physical limits, sealed against msgpack, key
//! derivation, store operations at the cap, stalls during a flush and the cipher. Every figure
//! is a ratio against a baseline measured in the same process, interleaved with it; absolute
//! medians are given alongside. The run writes `target/knownpeers-bench/report.md`, which
//! `tools/bench-report.sh` splices into BENCHMARKS.md. Heap bytes per entry are measured by
//! `persistence_heap.rs`, whose counting allocator would otherwise tax every allocation timed
//! here.
//!
//! It must never assert on time: a missed goal is reported, not failed. It does fail on a wrong
//! result (a load that does not give back the entries saved), because then no time means
//! anything.
//!
//! Options (after `cargo bench --bench persistence --`): `--quick` (or
//! `KNOWNPEERS_BENCH_QUICK=1`: N up to 10k, one repetition, for CI), `--only SECTION[,SECTION]`
//! (or `KNOWNPEERS_BENCH_ONLY`; sections: codecs, kdf, store, stall, cipher, and `profile`,
//! which loops over the hot paths for a profiler and reports nothing).
//! `KNOWNPEERS_BENCH_DIR` chooses where the files are written (default: the temp directory),
//! `KNOWNPEERS_BENCH_OUT` where the report goes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/gen.rs"]
mod gen;
#[path = "support/report.rs"]
mod report;
#[path = "support/timing.rs"]
mod timing;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use knownpeers::codecs::{self, Codec, MsgpackCodec, ReadPolicy, SealedCodec};
use knownpeers::{
    CodecKind, Config, ManualClock, PeerEntry, PeerSource, PeerStore, PersistenceConfig,
    PersistentStore, RealmPolicyConfig, StoreConfig,
};

use report::{Cmp, Goal, Report, Table};
use timing::{
    cpu_time, human, human_bytes, human_n, human_ns, interleaved, ratio, Competitor, Sample,
};

/// Seed of the entries every section measures.
const SEED: u64 = 0x6b6e_6f77_6e70_6565;
/// Environment variable the passphrase realm reads its passphrase from.
const PASS_ENV: &str = "KNOWNPEERS_BENCH_PASSPHRASE";
/// Every section, in run order.
const SECTIONS: [&str; 5] = ["codecs", "kdf", "store", "stall", "cipher"];
/// A section that measures no goal: it loops over the hot paths for a profiler, and runs only
/// when asked for by name (`--only profile`).
const PROFILE: &str = "profile";

/// What this run does.
struct Opts {
    quick: bool,
    only: Option<Vec<String>>,
    dir: PathBuf,
    out: PathBuf,
}

impl Opts {
    fn from_env() -> Opts {
        let mut quick = std::env::var("KNOWNPEERS_BENCH_QUICK").is_ok_and(|v| v != "0");
        let mut only = std::env::var("KNOWNPEERS_BENCH_ONLY")
            .ok()
            .map(|v| split_sections(&v));
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => quick = true,
                "--only" => only = args.next().map(|v| split_sections(&v)),
                // cargo passes `--bench` to bench binaries; anything else is a filter we ignore.
                _ => {
                    if let Some(v) = arg.strip_prefix("--only=") {
                        only = Some(split_sections(v));
                    }
                }
            }
        }
        if let Some(only) = &only {
            for s in only {
                assert!(
                    SECTIONS.contains(&s.as_str()) || s == PROFILE,
                    "unknown section {s:?}; sections are {SECTIONS:?} and {PROFILE:?}"
                );
            }
        }
        let dir = std::env::var_os("KNOWNPEERS_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let out = std::env::var_os("KNOWNPEERS_BENCH_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("target/knownpeers-bench")
            });
        Opts {
            quick,
            only,
            dir,
            out,
        }
    }
    fn wants(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == section))
    }
    /// Entry counts of the save/load sections.
    fn sizes(&self) -> Vec<usize> {
        if self.quick {
            vec![1_000, 10_000]
        } else {
            vec![1_000, 100_000, 1_000_000]
        }
    }
    /// The "100k" of the issue (10k in quick mode).
    fn cap(&self) -> usize {
        if self.quick {
            10_000
        } else {
            100_000
        }
    }
    /// The "1M" of the issue (10k in quick mode).
    fn big(&self) -> usize {
        if self.quick {
            10_000
        } else {
            1_000_000
        }
    }
    /// Repetitions for a measurement over `n` entries.
    fn reps(&self, n: usize) -> usize {
        if self.quick {
            1
        } else if n <= 10_000 {
            21
        } else if n <= 100_000 {
            9
        } else {
            7
        }
    }
    /// The command that reproduces `section`.
    fn command(&self, section: &str) -> String {
        format!("cargo bench --bench persistence -- --only {section}")
    }
}

fn split_sections(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// What the sections share.
struct Ctx<'a> {
    opts: &'a Opts,
    rt: &'a tokio::runtime::Runtime,
    dir: &'a Path,
    key_file: PathBuf,
    report: Report,
}

/// The key a sealed realm uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    KeyFile,
    Passphrase,
}

impl Ctx<'_> {
    /// A config for one realm stored at `path`. The periodic save is an hour away so that only
    /// the bench's explicit `flush` calls save.
    fn config(
        &self,
        path: &Path,
        realm: &str,
        codec: CodecKind,
        key: KeySource,
        max_entries: usize,
    ) -> Config {
        let mut realms = std::collections::BTreeMap::new();
        if codec == CodecKind::Sealed {
            let mut policy = RealmPolicyConfig {
                codec: Some(CodecKind::Sealed),
                ..RealmPolicyConfig::default()
            };
            match key {
                KeySource::KeyFile => policy.key_file = Some(self.key_file.clone()),
                KeySource::Passphrase => policy.passphrase_env = Some(PASS_ENV.to_string()),
            }
            realms.insert(realm.to_string(), policy);
        }
        Config {
            persistence: Some(PersistenceConfig {
                enabled: Some(true),
                path: Some(path.to_str().expect("the bench dir is UTF-8").to_string()),
                max_entries,
                save_interval_secs: 3600,
                codec,
                realms,
                ..PersistenceConfig::default()
            }),
            default_realm: Some(realm.to_string()),
            state_dir: None,
        }
    }

    fn open(&self, config: &Config, realm: &str, clock: &Arc<ManualClock>) -> PersistentStore {
        let clock: Arc<dyn knownpeers::Clock> = clock.clone();
        self.rt
            .block_on(PersistentStore::open(config, realm, clock))
            .unwrap_or_else(|e| panic!("opening the bench realm {realm}: {e}"))
    }

    fn close(&self, store: PersistentStore) {
        self.rt
            .block_on(store.close())
            .unwrap_or_else(|e| panic!("closing a bench realm: {e}"));
    }

    fn subdir(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).expect("the bench dir is writable");
        d
    }
}

/// Makes `store` dirty with one realistic observation (a reconnect), one clock second later, so
/// that the next flush really saves.
fn dirty(store: &PeerStore, clock: &ManualClock, entries: &[PeerEntry], i: usize) {
    clock.advance_ms(1000);
    let e = &entries[i % entries.len()];
    store
        .observe_connected(e.addr, e.node_id.clone(), e.capabilities.clone())
        .expect("generated metadata is within limits");
}

/// A store of capacity `cap` holding `entries`.
fn filled_store(cap: usize, clock: &Arc<ManualClock>, entries: Vec<PeerEntry>) -> PeerStore {
    let n = entries.len();
    let store = PeerStore::new(
        StoreConfig {
            max_entries: cap,
            jitter_seed: Some(1),
            ..StoreConfig::default()
        },
        clock.clone(),
    );
    let hydrated = store.hydrate(entries);
    assert_eq!(
        hydrated.loaded,
        n.min(cap),
        "hydrate keeps every fresh entry"
    );
    store
}

fn kind_name(kind: CodecKind) -> &'static str {
    match kind {
        CodecKind::Json => "json",
        CodecKind::Msgpack => "msgpack",
        CodecKind::Sealed => "sealed",
    }
}

fn read_file(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn machine(report: &mut Report, opts: &Opts) {
    let cpu = read_file(Path::new("/proc/cpuinfo"))
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read_file(Path::new("/proc/sys/kernel/osrelease"))
        .trim()
        .to_string();
    let mem = read_file(Path::new("/proc/meminfo"))
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .unwrap_or("0")
                .parse::<f64>()
                .unwrap_or(0.0)
        })
        .map_or("unknown".to_string(), |kib| {
            format!("{:.0} GiB", kib / 1048576.0)
        });
    let m = &mut report.machine;
    m.push((
        "CPU".into(),
        format!("{cpu}, {nproc} cores (nproc), {mem} RAM"),
    ));
    m.push(("kernel".into(), format!("Linux {kernel}")));
    m.push((
        "mode".into(),
        if opts.quick {
            "quick (N up to 10k, 1 repetition: checks that the bench works, numbers mean little)"
                .into()
        } else {
            "full (N = 1k, 100k, 1M; medians of 21, 9 and 7 interleaved repetitions)".into()
        },
    ));
    m.push((
        "files written in".into(),
        format!("`{}`", opts.dir.display()),
    ));
    m.push(("load average at start".into(), loadavg()));
}

fn loadavg() -> String {
    read_file(Path::new("/proc/loadavg"))
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let opts = Opts::from_env();
    // Set before the runtime starts any thread; the passphrase realm reads it at open.
    std::env::set_var(PASS_ENV, "correct horse battery staple (knownpeers bench)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let _enter = rt.enter();
    let tmp = tempfile::Builder::new()
        .prefix("knownpeers-bench-")
        .tempdir_in(&opts.dir)
        .expect("the bench dir is writable");
    let key_file = tmp.path().join("bench.key");
    knownpeers::keys::write_key_file(
        &key_file,
        &knownpeers::keys::Key::generate().expect("the OS has randomness"),
    )
    .expect("the bench dir is writable");

    let mut report = Report::default();
    machine(&mut report, &opts);
    let mut ctx = Ctx {
        opts: &opts,
        rt: &rt,
        dir: tmp.path(),
        key_file,
        report,
    };
    let started = Instant::now();
    if opts
        .only
        .as_ref()
        .is_some_and(|o| o.iter().any(|s| s == PROFILE))
    {
        profile(&mut ctx);
    }
    for section in SECTIONS {
        if !opts.wants(section) {
            continue;
        }
        let t = Instant::now();
        eprintln!("== {section}");
        match section {
            "codecs" => codecs(&mut ctx),
            "kdf" => kdf(&mut ctx),
            "store" => store_ops(&mut ctx),
            "stall" => stall(&mut ctx),
            "cipher" => cipher(&mut ctx),
            _ => unreachable!("sections are checked in Opts::from_env"),
        }
        eprintln!("   {section} took {}", human(t.elapsed()));
    }
    let mut report = ctx.report;
    report
        .machine
        .push(("load average at end".into(), loadavg()));
    report.machine.push((
        "run time".into(),
        format!("{:.0} s", started.elapsed().as_secs_f64()),
    ));
    let md = report.markdown();
    std::fs::create_dir_all(&opts.out).expect("the report dir is writable");
    let path = opts.out.join("report.md");
    std::fs::write(&path, &md).expect("the report dir is writable");
    println!("{md}");
    eprintln!("report written to {}", path.display());
}

/// Not a section of the report: the hot paths of save, load and gossip ingest at the largest N,
/// looped for a sampling profiler, e.g. `perf record -e cpu-clock --call-graph dwarf -- cargo
/// bench --bench persistence -- --only profile`. Each phase prints its own time; `perf report`
/// attributes the samples to the callers (`body::encode`, `body::decode`, `State::hydrate`,
/// `State::observe_gossip`).
fn profile(ctx: &mut Ctx<'_>) {
    let n = ctx.opts.big();
    let loops = if ctx.opts.quick { 1 } else { 5 };
    let entries = gen::entries(SEED, n);
    let clock = Arc::new(ManualClock::at_secs(gen::NOW));
    let store = filled_store(n, &clock, entries.clone());
    let mut buf = Vec::new();
    let phase = |name: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..loops {
            f();
        }
        eprintln!(
            "   profile: {name}: {} per loop",
            human(t.elapsed() / loops)
        );
    };
    phase("snapshot + msgpack encode", &mut || {
        let snap = store.snapshot();
        MsgpackCodec
            .encode_into("bench-profile", gen::NOW, &snap, &mut buf)
            .expect("generated entries encode");
    });
    let policy = ReadPolicy::plaintext(Some("bench-profile"));
    phase("msgpack decode + hydrate", &mut || {
        let decoded = codecs::read(&buf, &policy).expect("the buffer was just encoded");
        let fresh = PeerStore::new(
            StoreConfig {
                max_entries: n,
                ..StoreConfig::default()
            },
            clock.clone(),
        );
        fresh.hydrate(decoded.file.entries);
    });
    drop(store);
    let cap = ctx.opts.cap();
    let all = gen::entries(SEED ^ 4, 3 * cap);
    let store = filled_store(
        cap,
        &clock,
        gen::with_source(all[..cap].to_vec(), PeerSource::Gossip),
    );
    let fresh = [
        gen::as_gossip(&all[cap..2 * cap]),
        gen::as_gossip(&all[2 * cap..]),
    ];
    let mut round = 0;
    phase("gossip ingest at the cap", &mut || {
        for chunk in fresh[round % 2].chunks(1000) {
            black_box(store.observe_gossip(chunk));
        }
        round += 1;
    });
}

/// Section 1 and 2: save and load end to end per codec, against the pretty-JSON baseline and
/// the physical limits.
fn codecs(ctx: &mut Ctx<'_>) {
    let mut saves = Table::new(
        "Save and load end to end",
        "Save = `PersistentStore::flush` (snapshot, encode, seal, temp file, write, fsync, rename, \
         directory fsync). Load = `PersistentStore::open` (lock, stale-temp sweep, read, detect, \
         decode, expire, hydrate). Baseline = TheNodes' in-place pretty JSON (`to_vec_pretty` + \
         create-truncate + write, no fsync; load = read + `from_slice`, no map built). \
         Speedup = baseline median / knownpeers median, same process, interleaved.",
        &[
            "N", "codec", "save", "save speedup", "load", "load speedup", "file", "size vs baseline",
        ],
    );
    let mut limits = Table::new(
        "Physical limits",
        "The msgpack file's bytes: memcpy into a pre-sized buffer, and create-truncate + write + \
         fsync into the same directory. `atomic save / (encode+write+fsync)` compares the whole \
         msgpack flush with encoding a snapshot taken beforehand plus writing and fsyncing the \
         same bytes in place.",
        &[
            "N",
            "bytes",
            "memcpy",
            "write+fsync",
            "encode+write+fsync",
            "msgpack save",
            "atomic save / (encode+write+fsync)",
        ],
    );
    let mut results: HashMap<(usize, &'static str), (Sample, Sample, u64)> = HashMap::new();
    let mut baselines: HashMap<usize, (Sample, Sample, u64)> = HashMap::new();
    let mut atomic_ratio: HashMap<usize, (f64, String)> = HashMap::new();
    for n in ctx.opts.sizes() {
        eprintln!("   N = {n}");
        let reps = ctx.opts.reps(n);
        let entries = gen::entries(SEED, n);
        let records = baseline::records(&entries);
        let dir = ctx.subdir(&format!("codecs-{n}"));
        let clock = Arc::new(ManualClock::at_secs(gen::NOW));
        let kinds = [CodecKind::Json, CodecKind::Msgpack, CodecKind::Sealed];
        let mut stores = Vec::new();
        for kind in kinds {
            let realm = format!("bench-{}", kind_name(kind));
            let path = dir.join(format!("{realm}.peers"));
            let config = ctx.config(&path, &realm, kind, KeySource::KeyFile, n.max(1024));
            let ps = ctx.open(&config, &realm, &clock);
            let hydrated = ps.store().hydrate(entries.clone());
            assert_eq!(hydrated.loaded, n, "every generated entry is fresh");
            stores.push((kind, realm, path, config, ps));
        }

        // Save: baseline, the three codecs, and encode+write+fsync, interleaved.
        let baseline_path = dir.join("thenodes-peers.json");
        let plain_path = dir.join("plain-write.bin");
        let baseline_size = Cell::new(0usize);
        let counter = Cell::new(0usize);
        let msgpack_snapshot = stores[1].4.store().snapshot();
        let mut enc_buf = Vec::new();
        let samples = {
            let mut competitors: Vec<Competitor<'_>> = vec![Box::new(|| {
                let (d, size) = baseline::json_save(&baseline_path, &records);
                baseline_size.set(size);
                d
            })];
            for (_, _, _, _, ps) in &stores {
                let (clock, entries, counter, rt) = (&clock, &entries, &counter, ctx.rt);
                competitors.push(Box::new(move || {
                    counter.set(counter.get() + 1);
                    dirty(ps.store(), clock, entries, counter.get());
                    let t = Instant::now();
                    rt.block_on(ps.flush()).expect("a bench save succeeds");
                    t.elapsed()
                }));
            }
            competitors.push(Box::new(|| {
                let t = Instant::now();
                MsgpackCodec
                    .encode_into("bench-msgpack", gen::NOW, &msgpack_snapshot, &mut enc_buf)
                    .expect("generated entries encode");
                baseline::write_fsync(&plain_path, &enc_buf);
                t.elapsed()
            }));
            interleaved(reps, &mut competitors)
        };
        let sizes: Vec<u64> = stores
            .iter()
            .map(|(_, _, path, _, _)| std::fs::metadata(path).expect("the save wrote").len())
            .collect();
        let base_size = baseline_size.get() as u64;

        // Physical limits on the msgpack file's bytes.
        let msgpack_bytes = std::fs::read(&stores[1].2).expect("the save wrote");
        let mut dst = vec![0u8; msgpack_bytes.len()];
        let phys = {
            let mut competitors: Vec<Competitor<'_>> = vec![
                Box::new(|| baseline::memcpy(&msgpack_bytes, &mut dst)),
                Box::new(|| baseline::write_fsync(&plain_path, &msgpack_bytes)),
            ];
            interleaved(reps, &mut competitors)
        };
        let atomic = ratio(&samples[2], &samples[4]);
        limits.row(vec![
            human_n(n),
            human_bytes(msgpack_bytes.len() as f64),
            human(phys[0].median),
            human(phys[1].median),
            human(samples[4].median),
            human(samples[2].median),
            format!("{atomic:.2}x"),
        ]);
        atomic_ratio.insert(
            n,
            (
                atomic,
                format!(
                    "flush {}, encode+write+fsync {} ({})",
                    human(samples[2].median),
                    human(samples[4].median),
                    human_bytes(msgpack_bytes.len() as f64)
                ),
            ),
        );
        drop(msgpack_snapshot);

        // Load: close the stores (no save: they are clean), then open each repeatedly.
        let configs: Vec<(CodecKind, String, Config)> = stores
            .into_iter()
            .map(|(kind, realm, _, config, ps)| {
                ctx.close(ps);
                (kind, realm, config)
            })
            .collect();
        let loads = {
            let mut competitors: Vec<Competitor<'_>> = vec![Box::new(|| {
                let (d, records) = baseline::json_load(&baseline_path);
                assert_eq!(records.len(), n, "the baseline reads back what it wrote");
                d
            })];
            for (_, realm, config) in &configs {
                let (clock, ctx) = (&clock, &*ctx);
                competitors.push(Box::new(move || {
                    let t = Instant::now();
                    let ps = ctx.open(config, realm, clock);
                    let d = t.elapsed();
                    assert_eq!(
                        ps.load_report().hydrate.loaded,
                        n,
                        "{realm}: the load gives back every entry saved"
                    );
                    ctx.close(ps);
                    d
                }));
            }
            interleaved(reps, &mut competitors)
        };
        baselines.insert(n, (samples[0].clone(), loads[0].clone(), base_size));
        for (i, kind) in kinds.iter().enumerate() {
            let (save, load) = (&samples[i + 1], &loads[i + 1]);
            saves.row(vec![
                human_n(n),
                kind_name(*kind).to_string(),
                human(save.median),
                format!("{:.2}x", ratio(&samples[0], save)),
                human(load.median),
                format!("{:.2}x", ratio(&loads[0], load)),
                human_bytes(sizes[i] as f64),
                format!("{:.2}x", sizes[i] as f64 / base_size as f64),
            ]);
            results.insert(
                (n, kind_name(*kind)),
                (save.clone(), load.clone(), sizes[i]),
            );
        }
        saves.row(vec![
            human_n(n),
            "*baseline*".into(),
            human(samples[0].median),
            "1.00x".into(),
            human(loads[0].median),
            "1.00x".into(),
            human_bytes(base_size as f64),
            "1.00x".into(),
        ]);
    }

    // Goals.
    let big = ctx.opts.big();
    let cap = ctx.opts.cap();
    let cmd = ctx.opts.command("codecs");
    let (b_save, b_load, b_size) = &baselines[&big];
    let speed = |kind: &'static str, load: bool| {
        let (save, l, _) = &results[&(big, kind)];
        if load {
            (
                ratio(b_load, l),
                format!(
                    "knownpeers {}, baseline {}",
                    human(l.median),
                    human(b_load.median)
                ),
            )
        } else {
            (
                ratio(b_save, save),
                format!(
                    "knownpeers {}, baseline {}",
                    human(save.median),
                    human(b_save.median)
                ),
            )
        }
    };
    let goals = &mut ctx.report.goals;
    let bn = human_n(big);
    for (what, kind, load, target) in [
        (
            "msgpack load vs baseline load (speedup)",
            "msgpack",
            true,
            2.5,
        ),
        (
            "msgpack save vs baseline save, fsyncs included (speedup)",
            "msgpack",
            false,
            5.0,
        ),
        ("json load vs baseline load (speedup)", "json", true, 1.0),
        ("json save vs baseline save (speedup)", "json", false, 1.0),
    ] {
        let (value, detail) = speed(kind, load);
        goals.push(Goal {
            what: format!("{bn}: {what}"),
            value,
            cmp: Cmp::AtLeast,
            target,
            unit: "x",
            detail,
            command: cmd.clone(),
        });
    }
    for n in [cap, big] {
        let (ms, ml, _) = &results[&(n, "msgpack")];
        let (ss, sl, _) = &results[&(n, "sealed")];
        goals.push(Goal {
            what: format!("{}: sealed save / msgpack save", human_n(n)),
            value: ratio(ss, ms),
            cmp: Cmp::AtMost,
            target: 1.2,
            unit: "x",
            detail: format!("sealed {}, msgpack {}", human(ss.median), human(ms.median)),
            command: cmd.clone(),
        });
        goals.push(Goal {
            what: format!("{}: sealed load / msgpack load", human_n(n)),
            value: ratio(sl, ml),
            cmp: Cmp::AtMost,
            target: 1.15,
            unit: "x",
            detail: format!("sealed {}, msgpack {}", human(sl.median), human(ml.median)),
            command: cmd.clone(),
        });
    }
    for n in [cap, big] {
        let (value, detail) = atomic_ratio[&n].clone();
        goals.push(Goal {
            what: format!(
                "{}: atomic save (msgpack flush) / (encode + write + fsync)",
                human_n(n)
            ),
            value,
            cmp: Cmp::AtMost,
            target: 1.1,
            unit: "x",
            detail,
            command: cmd.clone(),
        });
    }
    let (_, _, m_size) = &results[&(big, "msgpack")];
    goals.push(Goal {
        what: format!("{bn}: msgpack file size / baseline pretty JSON"),
        value: *m_size as f64 / *b_size as f64,
        cmp: Cmp::AtMost,
        target: 0.40,
        unit: "x",
        detail: format!(
            "msgpack {}, pretty JSON {}",
            human_bytes(*m_size as f64),
            human_bytes(*b_size as f64)
        ),
        command: cmd,
    });
    ctx.report.tables.push(saves);
    ctx.report.tables.push(limits);
    breakdown(ctx);
}

/// Where the time of a save and a load goes, step by step, for each codec at the largest N:
/// the profile behind the end-to-end figures.
fn breakdown(ctx: &mut Ctx<'_>) {
    let n = ctx.opts.big();
    let reps = ctx.opts.reps(n).min(5);
    let mut table = Table::new(
        &format!("Where the time goes ({} entries)", human_n(n)),
        "Each step of the save and load paths timed on its own through the public API (medians). \
         The end-to-end figures above should be close to the sum of their steps. `encode, from a \
         Vec` encodes the same entries from a `Vec` in generation order instead of from the \
         store's snapshot. The baseline row: `to_vec_pretty`, create-truncate + write, read, \
         `from_slice`.",
        &[
            "codec",
            "snapshot",
            "encode (+seal)",
            "encode, from a Vec",
            "write_atomic",
            "read",
            "decode (+open)",
            "hydrate",
        ],
    );
    let entries = gen::entries(SEED, n);
    let clock = Arc::new(ManualClock::at_secs(gen::NOW));
    let store = filled_store(n, &clock, entries.clone());
    let dir = ctx.subdir("breakdown");
    let key = knownpeers::keys::read_key_file(&ctx.key_file).expect("the bench key file reads");
    let sealed = SealedCodec::with_key(key);
    let codecs: [(CodecKind, &dyn Codec); 3] = [
        (CodecKind::Json, &codecs::JsonCodec),
        (CodecKind::Msgpack, &MsgpackCodec),
        (CodecKind::Sealed, &sealed),
    ];
    for (kind, codec) in codecs {
        let realm = format!("bench-{}", kind_name(kind));
        let path = dir.join(format!("{realm}.peers"));
        // The steps hand their results on through these cells: each closure borrows them only
        // while it runs, and the interleaved loop runs them in order.
        let buf = RefCell::new(Vec::new());
        let vbuf = RefCell::new(Vec::new());
        let snap = RefCell::new(None);
        let bytes = RefCell::new(Vec::new());
        let decoded = RefCell::new(None);
        let policy = ReadPolicy {
            realm: Some(&realm),
            require_encryption: kind == CodecKind::Sealed,
            sealed: Some(&sealed),
            legacy_mtime: 0,
        };
        let s = {
            let mut competitors: Vec<Competitor<'_>> = vec![
                Box::new(|| {
                    let t = Instant::now();
                    let s = store.snapshot();
                    let d = t.elapsed();
                    *snap.borrow_mut() = Some(s);
                    d
                }),
                Box::new(|| {
                    let snap = snap.borrow();
                    let snap = snap.as_ref().expect("the snapshot step ran first");
                    let mut buf = buf.borrow_mut();
                    let t = Instant::now();
                    codec
                        .encode_into(&realm, gen::NOW, snap, &mut buf)
                        .expect("generated entries encode");
                    t.elapsed()
                }),
                Box::new(|| {
                    let mut vbuf = vbuf.borrow_mut();
                    let t = Instant::now();
                    codec
                        .encode_into(&realm, gen::NOW, &entries, &mut vbuf)
                        .expect("generated entries encode");
                    t.elapsed()
                }),
                Box::new(|| {
                    let buf = buf.borrow();
                    let t = Instant::now();
                    knownpeers::write_atomic(&path, &buf).expect("the bench dir is writable");
                    t.elapsed()
                }),
                Box::new(|| {
                    let t = Instant::now();
                    let read = std::fs::read(&path).expect("the file was just written");
                    let d = t.elapsed();
                    *bytes.borrow_mut() = read;
                    d
                }),
                Box::new(|| {
                    let bytes = bytes.borrow();
                    let t = Instant::now();
                    let d = codecs::read(&bytes, &policy).expect("the file was just written");
                    let el = t.elapsed();
                    assert_eq!(d.file.entries.len(), n, "decode gives back every entry");
                    *decoded.borrow_mut() = Some(d.file.entries);
                    el
                }),
                Box::new(|| {
                    let entries = decoded
                        .borrow_mut()
                        .take()
                        .expect("the decode step ran first");
                    let fresh = PeerStore::new(
                        StoreConfig {
                            max_entries: n,
                            ..StoreConfig::default()
                        },
                        clock.clone(),
                    );
                    let t = Instant::now();
                    let r = fresh.hydrate(entries);
                    let d = t.elapsed();
                    assert_eq!(r.loaded, n, "hydrate keeps every fresh entry");
                    drop(fresh);
                    d
                }),
            ];
            interleaved(reps, &mut competitors)
        };
        let mut row = vec![kind_name(kind).to_string()];
        row.extend(s.iter().map(|x| human(x.median)));
        table.row(row);
    }
    drop(store);
    let records = baseline::records(&entries);
    let path = dir.join("thenodes-peers.json");
    let bytes = RefCell::new(Vec::new());
    let s = {
        let mut competitors: Vec<Competitor<'_>> = vec![
            Box::new(|| {
                let t = Instant::now();
                let b = serde_json::to_vec_pretty(&records).expect("records always serialize");
                let d = t.elapsed();
                *bytes.borrow_mut() = b;
                d
            }),
            Box::new(|| {
                let bytes = bytes.borrow();
                let t = Instant::now();
                std::fs::write(&path, &*bytes).expect("the bench dir is writable");
                t.elapsed()
            }),
            Box::new(|| {
                let t = Instant::now();
                let b = std::fs::read(&path).expect("the file was just written");
                let d = t.elapsed();
                *bytes.borrow_mut() = b;
                d
            }),
            Box::new(|| {
                let bytes = bytes.borrow();
                let t = Instant::now();
                let r: Vec<baseline::PeerRecord> =
                    serde_json::from_slice(&bytes).expect("the file was just written");
                let d = t.elapsed();
                assert_eq!(r.len(), n, "the baseline reads back what it wrote");
                d
            }),
        ];
        interleaved(reps, &mut competitors)
    };
    let h = |i: usize| human(s[i].median);
    table.row(vec![
        "*baseline*".into(),
        "(records given)".into(),
        h(0),
        "".into(),
        format!("{} (no fsync, no rename)", h(1)),
        h(2),
        h(3),
        "(no map built)".into(),
    ]);
    ctx.report.tables.push(table);
}

/// Section 3: a periodic save of a passphrase realm against a key-file realm (Argon2id with the
/// default parameters must run once per process, not once per save).
fn kdf(ctx: &mut Ctx<'_>) {
    let mut table = Table::new(
        "Key derivation",
        "Two sealed realms with the same entries, one keyed by a passphrase (Argon2id, default \
         m = 64 MiB, t = 3, p = 4), one by a key file. First save = the first flush after open \
         (the passphrase realm derives its key there); periodic save = the median of later \
         flushes, interleaved.",
        &[
            "N",
            "first save, passphrase",
            "first save, key file",
            "periodic, passphrase",
            "periodic, key file",
            "passphrase / key file",
        ],
    );
    let sizes = if ctx.opts.quick {
        vec![1024]
    } else {
        vec![1024, ctx.opts.cap()]
    };
    let dir = ctx.subdir("kdf");
    for n in sizes {
        // Small saves are dominated by two fsyncs, whose time varies most: more repetitions.
        let reps = ctx.opts.reps(n) * if n <= 10_000 { 2 } else { 1 };
        let entries = gen::entries(SEED ^ 3, n);
        let clock = Arc::new(ManualClock::at_secs(gen::NOW));
        let mut stores = Vec::new();
        let mut first = Vec::new();
        for key in [KeySource::Passphrase, KeySource::KeyFile] {
            let realm = format!(
                "bench-kdf-{}",
                if key == KeySource::KeyFile {
                    "file"
                } else {
                    "pass"
                }
            );
            let path = dir.join(format!("{realm}-{n}.peers"));
            let config = ctx.config(&path, &realm, CodecKind::Sealed, key, n);
            let ps = ctx.open(&config, &realm, &clock);
            ps.store().hydrate(entries.clone());
            let t = Instant::now();
            ctx.rt.block_on(ps.flush()).expect("a bench save succeeds");
            first.push(t.elapsed());
            stores.push(ps);
        }
        let counter = Cell::new(0usize);
        let s = {
            let mut competitors: Vec<Competitor<'_>> = Vec::new();
            for ps in &stores {
                let (clock, entries, counter, rt) = (&clock, &entries, &counter, ctx.rt);
                competitors.push(Box::new(move || {
                    counter.set(counter.get() + 1);
                    dirty(ps.store(), clock, entries, counter.get());
                    let t = Instant::now();
                    rt.block_on(ps.flush()).expect("a bench save succeeds");
                    t.elapsed()
                }));
            }
            interleaved(reps, &mut competitors)
        };
        for ps in stores {
            ctx.close(ps);
        }
        let r = ratio(&s[0], &s[1]);
        table.row(vec![
            human_n(n),
            human(first[0]),
            human(first[1]),
            human(s[0].median),
            human(s[1].median),
            format!("{r:.2}x"),
        ]);
        ctx.report.goals.push(Goal {
            what: format!(
                "{}: passphrase-realm periodic save / key-file-realm periodic save",
                human_n(n)
            ),
            value: r,
            cmp: Cmp::AtMost,
            target: 1.1,
            unit: "x",
            detail: format!(
                "passphrase {}, key file {} (first save {} and {})",
                human(s[0].median),
                human(s[1].median),
                human(first[0]),
                human(first[1])
            ),
            command: ctx.opts.command("kdf"),
        });
    }
    ctx.report.tables.push(table);
}

/// Section 4: gossip ingest and connected-observe at the cap, and `dial_candidates`, against a
/// plain `HashMap` insert loop (and a naive rank-and-take for the candidates).
fn store_ops(ctx: &mut Ctx<'_>) {
    let cap = ctx.opts.cap();
    let reps = ctx.opts.reps(cap).max(if ctx.opts.quick { 1 } else { 5 });
    let clock = Arc::new(ManualClock::at_secs(gen::NOW));
    let mut table = Table::new(
        &format!("Store operations at the {} cap", human_n(cap)),
        "Per address, in CPU time of the measuring thread (all single-threaded), medians. Gossip \
         ingest: a full store of Gossip entries takes batches of 1000 new addresses (each insert \
         evicts the least recently seen Gossip entry). Connected observe: a full store of mixed \
         entries sees a reconnect of every entry. The baseline is a plain \
         `HashMap<SocketAddr, PeerEntry>` insert loop into an empty map, fed either the same \
         borrowed gossip batch (so it copies the strings, as the store must) or owned entries \
         built beforehand (no copy: the bare insert). `dial_candidates(16)` is compared with \
         ranking a `HashMap`'s entries and taking 16.",
        &["operation", "knownpeers", "baseline", "ratio"],
    );
    // Three disjoint sets: the prefill and two alternating sets of fresh gossip, so every timed
    // address is new to the store (set B evicts set A, then A is new again).
    let all = gen::entries(SEED ^ 4, 3 * cap);
    let prefill = gen::with_source(all[..cap].to_vec(), PeerSource::Gossip);
    let fresh = [
        gen::as_gossip(&all[cap..2 * cap]),
        gen::as_gossip(&all[2 * cap..]),
    ];
    let fresh_entries = all[cap..2 * cap].to_vec();
    let store = filled_store(cap, &clock, prefill);
    let round = Cell::new(0usize);
    let s = {
        let mut competitors: Vec<Competitor<'_>> = vec![
            Box::new(|| {
                let batch = &fresh[round.get() % 2];
                round.set(round.get() + 1);
                let mut inserted = 0;
                let d = cpu_time(|| {
                    for chunk in batch.chunks(1000) {
                        inserted += store.observe_gossip(chunk).inserted;
                    }
                });
                assert_eq!(inserted, cap, "every fresh gossip address is stored");
                d
            }),
            Box::new(|| {
                let mut map = None;
                let d =
                    cpu_time(|| map = Some(baseline::hashmap_inserts_from(&fresh[0], gen::NOW)));
                black_box(map);
                d
            }),
            Box::new(|| {
                let owned = fresh_entries.clone();
                let mut map = None;
                let d = cpu_time(|| map = Some(baseline::hashmap_inserts(owned)));
                black_box(map);
                d
            }),
        ];
        interleaved(reps, &mut competitors)
    };
    let per = |s: &Sample| s.ns() / cap as f64;
    let gossip_ratio = ratio(&s[0], &s[1]);
    table.row(vec![
        "gossip ingest (new addresses, full store) vs insert loop fed the same batch".into(),
        human_ns(per(&s[0])),
        human_ns(per(&s[1])),
        format!("{gossip_ratio:.2}x"),
    ]);
    table.row(vec![
        "gossip ingest vs insert loop of entries built beforehand".into(),
        human_ns(per(&s[0])),
        human_ns(per(&s[2])),
        format!("{:.2}x", ratio(&s[0], &s[2])),
    ]);
    ctx.report.goals.push(Goal {
        what: format!(
            "{}: gossip ingest at the cap / plain HashMap insert loop of the same batch (ns/op)",
            human_n(cap)
        ),
        value: gossip_ratio,
        cmp: Cmp::AtMost,
        target: 2.0,
        unit: "x",
        detail: format!(
            "store {}, map {} per address (map of entries built beforehand {})",
            human_ns(per(&s[0])),
            human_ns(per(&s[1])),
            human_ns(per(&s[2]))
        ),
        command: ctx.opts.command("store"),
    });
    drop(store);

    // Connected observe of every entry of a full mixed store.
    let mixed = all[..cap].to_vec();
    let store = filled_store(cap, &clock, mixed.clone());
    let s = {
        let mut competitors: Vec<Competitor<'_>> = vec![
            Box::new(|| {
                let calls: Vec<_> = mixed
                    .iter()
                    .map(|e| (e.addr, e.node_id.clone(), e.capabilities.clone()))
                    .collect();
                clock.advance_ms(1000);
                cpu_time(|| {
                    for (addr, node_id, caps) in calls {
                        store
                            .observe_connected(addr, node_id, caps)
                            .expect("generated metadata is within limits");
                    }
                })
            }),
            Box::new(|| {
                let owned = mixed.clone();
                let mut map = None;
                let d = cpu_time(|| map = Some(baseline::hashmap_inserts(owned)));
                black_box(map);
                d
            }),
        ];
        interleaved(reps, &mut competitors)
    };
    table.row(vec![
        "connected observe (existing addresses, full store)".into(),
        human_ns(per(&s[0])),
        human_ns(per(&s[1])),
        format!("{:.2}x", ratio(&s[0], &s[1])),
    ]);
    drop(store);

    // dial_candidates on a full mixed store without failures.
    let store = filled_store(cap, &clock, mixed.clone());
    let map: HashMap<_, _> = mixed.iter().map(|e| (e.addr, e.clone())).collect();
    let calls = if ctx.opts.quick { 10 } else { 200 };
    let s = {
        let mut competitors: Vec<Competitor<'_>> = vec![
            Box::new(|| {
                let d = cpu_time(|| {
                    for _ in 0..calls {
                        let c = store.dial_candidates(16);
                        assert_eq!(c.len(), 16, "a full store offers 16 candidates");
                        black_box(c);
                    }
                });
                d / calls
            }),
            Box::new(|| {
                let d = cpu_time(|| {
                    for _ in 0..calls.div_ceil(10) {
                        black_box(baseline::naive_dial_candidates(&map, 16));
                    }
                });
                d / calls.div_ceil(10)
            }),
        ];
        interleaved(reps, &mut competitors)
    };
    table.row(vec![
        "dial_candidates(16), per call".into(),
        human(s[0].median),
        human(s[1].median),
        format!("{:.4}x", ratio(&s[0], &s[1])),
    ]);
    ctx.report.tables.push(table);
}

/// Section 5: while a flush of the largest N runs, the longest `observe` call of a concurrent
/// thread and the longest lateness of a 1 ms tokio ticker on the same runtime; the same two
/// probes run for the same time with no flush give the machine's own noise.
fn stall(ctx: &mut Ctx<'_>) {
    let n = ctx.opts.big();
    let flushes = if ctx.opts.quick { 1 } else { 3 };
    let mut table = Table::new(
        &format!("Stall during a {}-entry flush", human_n(n)),
        "An observer thread calls `observe_connected` every 50 µs and times each call; a tokio \
         task ticks every 1 ms on the flushing runtime (2 workers) and records how late each \
         tick is. Flush = during the flushes of each codec; idle = the same probes for the same \
         time with no flush (the machine's own scheduling noise); spin = the same probes while a \
         plain thread spins on the CPU for as long as the flush took, touching no store and no \
         runtime (what any CPU-bound work of that length costs the probes on this machine). \
         Max and 99.9th percentile.",
        &[
            "codec",
            "flush",
            "observe: flush",
            "observe: idle",
            "observe: spin",
            "ticker late: flush",
            "ticker late: idle",
            "ticker late: spin",
        ],
    );
    let entries = gen::entries(SEED ^ 5, n);
    let dir = ctx.subdir("stall");
    let mut worst = (Duration::ZERO, Duration::ZERO);
    let mut details = Vec::new();
    for kind in [CodecKind::Json, CodecKind::Msgpack, CodecKind::Sealed] {
        let clock = Arc::new(ManualClock::at_secs(gen::NOW));
        let realm = format!("bench-stall-{}", kind_name(kind));
        let path = dir.join(format!("{realm}.peers"));
        let config = ctx.config(&path, &realm, kind, KeySource::KeyFile, n);
        let ps = ctx.open(&config, &realm, &clock);
        ps.store().hydrate(entries.clone());
        let mut flush_time = Duration::ZERO;
        let mut busy = Probes::default();
        let mut idle = Probes::default();
        let mut spin = Probes::default();
        for i in 0..flushes {
            dirty(ps.store(), &clock, &entries, i);
            let (d, probes) = probe(ctx.rt, ps.store(), &entries, || {
                ctx.rt.block_on(ps.flush()).expect("a bench save succeeds");
            });
            flush_time = flush_time.max(d);
            busy.extend(probes);
            let (_, quiet) = probe(ctx.rt, ps.store(), &entries, || std::thread::sleep(d));
            idle.extend(quiet);
            let (_, spun) = probe(ctx.rt, ps.store(), &entries, || {
                std::thread::spawn(move || spin_for(d))
                    .join()
                    .expect("a spinning thread does not panic");
            });
            spin.extend(spun);
        }
        ctx.close(ps);
        let (bo, bt, io, it, so, st) = (
            Spread::of(&mut busy.observe),
            Spread::of(&mut busy.ticks),
            Spread::of(&mut idle.observe),
            Spread::of(&mut idle.ticks),
            Spread::of(&mut spin.observe),
            Spread::of(&mut spin.ticks),
        );
        table.row(vec![
            kind_name(kind).into(),
            human(flush_time),
            bo.to_string(),
            io.to_string(),
            so.to_string(),
            bt.to_string(),
            it.to_string(),
            st.to_string(),
        ]);
        worst = (worst.0.max(bo.max), worst.1.max(bt.max));
        details.push(format!(
            "{}: observe {}, ticker {} (idle {}, {}; spin {}, {})",
            kind_name(kind),
            human(bo.max),
            human(bt.max),
            human(io.max),
            human(it.max),
            human(so.max),
            human(st.max)
        ));
    }
    ctx.report.goals.push(Goal {
        what: format!(
            "{}-entry flush: longest concurrent observe call",
            human_n(n)
        ),
        value: worst.0.as_secs_f64() * 1e3,
        cmp: Cmp::AtMost,
        target: 1.0,
        unit: "ms",
        detail: details.join("; "),
        command: ctx.opts.command("stall"),
    });
    ctx.report.goals.push(Goal {
        what: format!(
            "{}-entry flush: longest lateness of a 1 ms tokio ticker",
            human_n(n)
        ),
        value: worst.1.as_secs_f64() * 1e3,
        cmp: Cmp::AtMost,
        target: 5.0,
        unit: "ms",
        detail: "same runs as the row above".into(),
        command: ctx.opts.command("stall"),
    });
    ctx.report.tables.push(table);
}

/// Keeps one core busy for `d` with work the optimiser cannot remove.
fn spin_for(d: Duration) {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        for i in 0..1000u64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    black_box(x);
}

/// What the stall probes recorded: each observe call's duration, each tick's lateness.
#[derive(Default)]
struct Probes {
    observe: Vec<Duration>,
    ticks: Vec<Duration>,
}

impl Probes {
    fn extend(&mut self, other: Probes) {
        self.observe.extend(other.observe);
        self.ticks.extend(other.ticks);
    }
}

/// The maximum and the 99.9th percentile of some durations.
struct Spread {
    max: Duration,
    p999: Duration,
}

impl Spread {
    fn of(d: &mut [Duration]) -> Spread {
        d.sort_unstable();
        let at = |q: f64| {
            d.get(((d.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Spread {
            max: at(1.0),
            p999: at(0.999),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", human(self.max), human(self.p999))
    }
}

/// Runs `work` while an observer thread and a 1 ms ticker task probe `store` and the runtime.
/// Returns how long `work` took and what the probes recorded.
fn probe(
    rt: &tokio::runtime::Runtime,
    store: &PeerStore,
    entries: &[PeerEntry],
    work: impl FnOnce(),
) -> (Duration, Probes) {
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let stop = stop.clone();
        rt.spawn(async move {
            let mut late = Vec::with_capacity(8192);
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
                let scheduled = interval.tick().await;
                late.push(tokio::time::Instant::now().saturating_duration_since(scheduled));
            }
            late
        })
    };
    let addrs: Vec<_> = entries.iter().take(4096).map(|e| e.addr).collect();
    let observer = {
        let (stop, store) = (stop.clone(), store.clone());
        std::thread::spawn(move || {
            let mut took = Vec::with_capacity(1 << 16);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                store
                    .observe_connected(addrs[i % addrs.len()], None, Vec::new())
                    .expect("empty metadata is within limits");
                took.push(t.elapsed());
                i += 1;
                // Paces the probe (about 20k calls/s) so it does not steal a core from the flush.
                std::thread::sleep(Duration::from_micros(50));
            }
            took
        })
    };
    // Let both probes start before the work.
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    work();
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let observe = observer.join().expect("the observer thread does not panic");
    let ticks = rt.block_on(ticker).expect("the ticker task does not panic");
    (took, Probes { observe, ticks })
}

/// Section 6: XChaCha20-Poly1305 in the save path (sealed encode minus msgpack encode, on the
/// same entries) against the cipher alone, in place in a pre-sized buffer of the same length,
/// and against libsodium's when it is installed. libsodium is not linked into this process:
/// calling it needs FFI, i.e. unsafe code, which the workspace forbids; a small C program
/// (`tools/xchacha-sodium.c`) is compiled and run between the repetitions instead.
fn cipher(ctx: &mut Ctx<'_>) {
    let sodium = sodium_reference(ctx);
    let mut table = Table::new(
        "XChaCha20-Poly1305",
        &format!(
            "Seal in the save path = `SealedCodec::encode_into` minus `MsgpackCodec::encode_into` \
             of the same entries into reused buffers. Cipher alone = RustCrypto \
             `chacha20poly1305`'s `encrypt_in_place_detached` over a pre-sized buffer of the same \
             length. libsodium = `crypto_aead_xchacha20poly1305_ietf_encrypt_detached` in place \
             in a separate process (`tools/xchacha-sodium.c`), run between the repetitions; {}. \
             All figures are CPU time of the measuring thread, fastest of the interleaved \
             repetitions (the seal's cost is a difference of two timings, which scheduling noise \
             swamps in wall time). Throughput in bytes of plaintext per second.",
            match &sodium {
                Ok(_) => "measured in this run".to_string(),
                Err(why) => format!("not measured in this run: {why}"),
            }
        ),
        &[
            "N",
            "body",
            "msgpack encode",
            "sealed encode",
            "seal in path",
            "cipher alone",
            "libsodium",
            "path / alone",
            "path / libsodium",
        ],
    );
    let sizes = if ctx.opts.quick {
        vec![10_000]
    } else {
        vec![ctx.opts.cap(), ctx.opts.big()]
    };
    let key = knownpeers::keys::read_key_file(&ctx.key_file).expect("the bench key file reads");
    let sealed = SealedCodec::with_key(key);
    let aead = XChaCha20Poly1305::new(&[7u8; 32].into());
    let nonce = XNonce::from([9u8; 24]);
    for n in sizes {
        let reps = ctx.opts.reps(n).max(if ctx.opts.quick { 1 } else { 11 });
        let entries = gen::entries(SEED ^ 7, n);
        let mut mbuf = Vec::new();
        let mut sbuf = Vec::new();
        MsgpackCodec
            .encode_into("bench-cipher", gen::NOW, &entries, &mut mbuf)
            .expect("generated entries encode");
        let body_len = mbuf.len();
        let mut plain = vec![0x5au8; body_len];
        let s = {
            let mut competitors: Vec<Competitor<'_>> = vec![
                Box::new(|| {
                    cpu_time(|| {
                        MsgpackCodec
                            .encode_into("bench-cipher", gen::NOW, &entries, &mut mbuf)
                            .expect("generated entries encode");
                    })
                }),
                Box::new(|| {
                    cpu_time(|| {
                        sealed
                            .encode_into("bench-cipher", gen::NOW, &entries, &mut sbuf)
                            .expect("generated entries encode");
                    })
                }),
                Box::new(|| {
                    let mut tag = None;
                    let d = cpu_time(|| {
                        tag = Some(
                            aead.encrypt_in_place_detached(&nonce, b"header", &mut plain)
                                .expect("a buffer under 256 GiB seals"),
                        );
                    });
                    black_box(tag);
                    d
                }),
            ];
            if let Ok(bin) = &sodium {
                competitors.push(Box::new(move || run_sodium(bin, body_len)));
            }
            interleaved(reps, &mut competitors)
        };
        // The seal's cost in the path is a difference of two timings, which the machine's
        // noise swamps if medians of wall time are used: this section compares the fastest
        // repetitions of each one's CPU time on this thread (single-threaded, CPU-bound work).
        // When the difference is still non-positive the seal was too cheap to see; the ratio is
        // then not computed.
        let diff = s[1].min_ns() - s[0].min_ns();
        let in_path = diff.max(1.0);
        let alone = s[2].min_ns().max(1.0);
        let libsodium = s.get(3).map(|x| x.min_ns().max(1.0));
        let gbps = |ns: f64| body_len as f64 / ns; // bytes per ns = GB/s
        let rate = |ns: f64| format!("{} ({:.2} GB/s)", human_ns(ns), gbps(ns));
        let r_alone = alone / in_path;
        let r_sodium = libsodium.map(|l| l / in_path);
        table.row(vec![
            human_n(n),
            human_bytes(body_len as f64),
            human(s[0].min),
            human(s[1].min),
            if diff > 0.0 {
                rate(in_path)
            } else {
                "below noise".to_string()
            },
            rate(alone),
            libsodium.map_or("n/a".to_string(), rate),
            if diff > 0.0 {
                format!("{r_alone:.2}x")
            } else {
                "n/a".to_string()
            },
            match r_sodium {
                Some(r) if diff > 0.0 => format!("{r:.2}x"),
                _ => "n/a".to_string(),
            },
        ]);
        if n == ctx.opts.big() {
            let (value, against, reference) = match (r_sodium, libsodium) {
                (Some(r), Some(l)) => (r, "libsodium's", l),
                _ => (
                    r_alone,
                    "the cipher alone in place (libsodium not measured)",
                    alone,
                ),
            };
            ctx.report.goals.push(Goal {
                what: format!(
                    "{}: XChaCha20-Poly1305 throughput in the save path / {against}",
                    human_n(n)
                ),
                value,
                cmp: Cmp::AtLeast,
                target: 0.95,
                unit: "x",
                detail: format!(
                    "save path {:.2} GB/s, reference {:.2} GB/s (RustCrypto alone {:.2} GB/s)",
                    gbps(in_path),
                    gbps(reference),
                    gbps(alone)
                ),
                command: ctx.opts.command("cipher"),
            });
        }
    }
    ctx.report.tables.push(table);
}

/// Compiles `tools/xchacha-sodium.c` against libsodium into the report directory, or says why
/// it cannot.
fn sodium_reference(ctx: &Ctx<'_>) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/xchacha-sodium.c");
    let bin = ctx.dir.join("xchacha-sodium");
    let out = std::process::Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-lsodium")
        .output()
        .map_err(|e| format!("no C compiler ({e})"))?;
    if !out.status.success() {
        return Err("libsodium is not installed (`apt-get install libsodium-dev`)".to_string());
    }
    Ok(bin)
}

/// One libsodium measurement: the fastest (CPU time) of three in-place seals of `bytes` bytes in
/// a fresh process (its buffer is touched before timing).
fn run_sodium(bin: &Path, bytes: usize) -> Duration {
    let out = std::process::Command::new(bin)
        .arg(bytes.to_string())
        .arg("3")
        .output()
        .expect("the libsodium reference was just built");
    assert!(out.status.success(), "the libsodium reference failed");
    let ns: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the libsodium reference prints nanoseconds");
    Duration::from_nanos(ns)
}
