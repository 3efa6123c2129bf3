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

#[path = "../support/baseline.rs"]
mod baseline;
// Shared with the other benches; this one does not use every generator.
#[allow(dead_code)]
#[path = "../support/gen.rs"]
mod gen;
#[path = "../support/report.rs"]
mod report;
#[path = "../support/timing.rs"]
mod timing;

mod cipher;
mod codecs;
mod kdf;
mod profile;
mod stall;
mod store;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use knownpeers::codecs::{Codec, FrameVersion, MsgpackCodec, ReadPolicy, SealedCodec};
use knownpeers::{
    CodecKind, Config, ManualClock, PeerEntry, PeerSource, PeerStore, PersistenceConfig,
    PersistentStore, RealmPolicyConfig, StoreConfig,
};

use report::{Cmp, Goal, Report, Table};
use timing::{
    cpu_time, human, human_bytes, human_n, human_ns, interleaved, interleaved_alternating, ratio,
    Competitor, Sample,
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
        self.config_version(path, realm, codec, key, max_entries, FrameVersion::LATEST)
    }

    /// [`Ctx::config`] writing binary frame version `version`.
    pub(crate) fn config_version(
        &self,
        path: &Path,
        realm: &str,
        codec: CodecKind,
        key: KeySource,
        max_entries: usize,
        version: FrameVersion,
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
                format_version: version,
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

/// One periodic save as the save loops time it: a [`dirty`] observation (entry `i`), untimed,
/// then the flush, timed.
fn timed_save(
    rt: &tokio::runtime::Runtime,
    ps: &PersistentStore,
    clock: &ManualClock,
    entries: &[PeerEntry],
    i: usize,
) -> Duration {
    dirty(ps.store(), clock, entries, i);
    let t = Instant::now();
    rt.block_on(ps.flush()).expect("a bench save succeeds");
    t.elapsed()
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
        profile::profile(&mut ctx);
    }
    for section in SECTIONS {
        if !opts.wants(section) {
            continue;
        }
        let t = Instant::now();
        eprintln!("== {section}");
        match section {
            "codecs" => codecs::codecs(&mut ctx),
            "kdf" => kdf::kdf(&mut ctx),
            "store" => store::store_ops(&mut ctx),
            "stall" => stall::stall(&mut ctx),
            "cipher" => cipher::cipher(&mut ctx),
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
