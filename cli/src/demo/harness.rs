//! The demo's phases: prepares the data directory and keys, launches and closes the two realms'
//! nodes, times each phase with a progress bar, reads every file back, and fills the report.
//! It owns the run's lifecycle (every node it started is closed with a final save, also after
//! Ctrl-C or an error); it must not speak the wire protocol itself (that is `node`'s job).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use knownpeers_codecs::{CodecKind, ReadPolicy, SealedCodec};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::node::{Node, NodeSpec, Shared};
use super::{
    DemoArgs, DemoError, DemoReport, FileInfo, IsolationReport, OtherRealmReport, Phase,
    PhaseReport,
};
use knownpeers::{
    Clock, Config, PersistenceConfig, PersistentStore, RealmPolicyConfig, SystemClock,
};

/// The main realm's code.
const MAIN_REALM: &str = "demo-main";
/// The second, sealed realm's code.
const OTHER_REALM: &str = "demo-other";
/// Concurrent outbound connects and handshakes across the whole process.
const DIAL_CONCURRENCY: usize = 48;
/// Periodic saves while the demo runs (every close saves once more anyway).
const SAVE_INTERVAL_SECS: u64 = 5;
/// How often a phase looks at the nodes' link counts.
const POLL: Duration = Duration::from_millis(20);
/// Most main-realm nodes each other-realm node sends a HELLO to in a probe round.
const PROBE_ROUND_TARGETS: usize = 64;

/// One realm's naming and policy.
#[derive(Debug, Clone)]
struct RealmPlan {
    code: String,
    prefix: &'static str,
    codec: CodecKind,
    key_file: Option<PathBuf>,
    /// Digits in node numbers, so file names sort.
    width: usize,
}

impl RealmPlan {
    fn node_id(&self, i: usize) -> String {
        format!("{}-{:0w$}", self.prefix, i, w = self.width)
    }

    fn file(&self, data_dir: &Path, i: usize) -> PathBuf {
        let ext = match self.codec {
            CodecKind::Json => "json",
            CodecKind::Msgpack | CodecKind::Sealed => "kp",
        };
        data_dir.join(format!("peers-{}.{ext}", self.node_id(i)))
    }

    /// One node's persistence config: its own file, this realm's policy; read-write, or off
    /// (no table) for the control.
    fn config(&self, path: &Path, enabled: bool) -> Config {
        let mut realms = BTreeMap::new();
        realms.insert(
            self.code.clone(),
            RealmPolicyConfig {
                codec: Some(self.codec),
                key_file: self.key_file.clone(),
                ..RealmPolicyConfig::default()
            },
        );
        let table = PersistenceConfig {
            enabled: Some(true),
            // `Plan::from_args` checked that the data dir is UTF-8.
            path: Some(path.to_string_lossy().into_owned()),
            save_interval_secs: SAVE_INTERVAL_SECS,
            codec: self.codec,
            realms,
            ..PersistenceConfig::default()
        };
        Config {
            persistence: enabled.then_some(table),
            default_realm: Some(self.code.clone()),
            state_dir: None,
        }
    }

    fn file_info(&self, data_dir: &Path, i: usize) -> Option<FileInfo> {
        let path = self.file(data_dir, i);
        let bytes = fs::metadata(&path).ok()?.len();
        Some(FileInfo {
            path,
            realm: self.code.clone(),
            codec: self.codec,
            bytes,
            key_file: self.key_file.clone(),
        })
    }
}

/// The validated arguments.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    nodes: usize,
    degree: usize,
    other_nodes: usize,
    other_degree: usize,
    data_dir: PathBuf,
    timeout: Duration,
    control_wait: Duration,
    main: RealmPlan,
    other: RealmPlan,
}

fn usage(what: impl Into<String>) -> DemoError {
    DemoError::Usage { what: what.into() }
}

impl Plan {
    pub(crate) fn from_args(a: &DemoArgs) -> Result<Plan, DemoError> {
        let codec = match a.codec.as_str() {
            "json" => CodecKind::Json,
            "msgpack" => CodecKind::Msgpack,
            "sealed" => CodecKind::Sealed,
            other => {
                return Err(usage(format!(
                    "--codec {other:?}: use json, msgpack or sealed"
                )))
            }
        };
        if a.degree == 0 {
            return Err(usage("--degree must be at least 1"));
        }
        if a.nodes < a.degree + 2 || a.nodes > 5000 {
            return Err(usage(format!(
                "--nodes {} with --degree {}: use {}..=5000 nodes (phase 2 restarts all but the bootstrap node, and each needs {} others)",
                a.nodes,
                a.degree,
                a.degree + 2,
                a.degree
            )));
        }
        if !(2..=16).contains(&a.other_nodes) {
            return Err(usage("--other-nodes must be 2..=16"));
        }
        if a.timeout_secs == 0 || a.control_wait_secs == 0 {
            return Err(usage(
                "--timeout-secs and --control-wait-secs must be at least 1",
            ));
        }
        if a.data_dir.to_str().is_none() {
            return Err(usage(format!(
                "--data-dir {}: use a path that is valid UTF-8",
                a.data_dir.display()
            )));
        }
        let width = |n: usize| (n.saturating_sub(1)).to_string().len();
        let key = |name: &str| a.data_dir.join(name);
        Ok(Plan {
            nodes: a.nodes,
            degree: a.degree,
            other_nodes: a.other_nodes,
            other_degree: a.degree.min(a.other_nodes - 1),
            data_dir: a.data_dir.clone(),
            timeout: Duration::from_secs(a.timeout_secs),
            control_wait: Duration::from_secs(a.control_wait_secs),
            main: RealmPlan {
                code: MAIN_REALM.to_owned(),
                prefix: "main",
                codec,
                key_file: (codec == CodecKind::Sealed).then(|| key("key-main.key")),
                width: width(a.nodes),
            },
            other: RealmPlan {
                code: OTHER_REALM.to_owned(),
                prefix: "other",
                codec: CodecKind::Sealed,
                key_file: Some(key("key-other.key")),
                width: width(a.other_nodes),
            },
        })
    }

    fn max_links(degree: usize) -> usize {
        (2 * degree).max(degree + 2)
    }
}

/// Why the phases stopped early.
enum Halt {
    Interrupted,
    Error(DemoError),
}

impl From<DemoError> for Halt {
    fn from(e: DemoError) -> Self {
        Halt::Error(e)
    }
}

/// The nodes running now. Whatever is here when the run ends is closed with a final save.
#[derive(Default)]
struct Network {
    main: Vec<(String, Node)>,
    other: Vec<(String, Node)>,
}

impl Network {
    async fn close_all(&mut self) -> Result<(), DemoError> {
        let main = close_nodes(std::mem::take(&mut self.main)).await;
        let other = close_nodes(std::mem::take(&mut self.other)).await;
        main.and(other)
    }
}

/// Closes nodes concurrently (each close is a final save); the first error after trying all.
async fn close_nodes(nodes: Vec<(String, Node)>) -> Result<(), DemoError> {
    let mut set = JoinSet::new();
    for (name, node) in nodes {
        set.spawn(async move {
            node.close()
                .await
                .map_err(|source| DemoError::Store { node: name, source })
        });
    }
    let mut first = Ok(());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Err(e)) if first.is_ok() => first = Err(e),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "a node's close task failed"),
        }
    }
    first
}

/// Runs every phase; closes whatever still runs at the end, whatever happened.
pub(crate) async fn run(plan: Plan) -> Result<DemoReport, DemoError> {
    let (stop_tx, mut stop) = watch::channel(false);
    // Polled once here, so the handler is in place before the first node starts: a Ctrl-C
    // from then on always ends in the clean stop below, never in the default abrupt exit.
    let mut ctrl_c_signal = Box::pin(tokio::signal::ctrl_c());
    let early = tokio::select! {
        biased;
        r = &mut ctrl_c_signal => Some(r),
        () = std::future::ready(()) => None,
    };
    let ctrl_c = tokio::spawn(async move {
        let received = match early {
            Some(r) => r,
            None => ctrl_c_signal.await,
        };
        if received.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let mut report = DemoReport {
        nodes: plan.nodes,
        degree: plan.degree,
        realm: plan.main.code.clone(),
        codec: plan.main.codec,
        data_dir: plan.data_dir.clone(),
        phases: Vec::new(),
        other: OtherRealmReport {
            realm: plan.other.code.clone(),
            nodes: plan.other_nodes,
            degree: plan.other_degree,
            ..OtherRealmReport::default()
        },
        isolation: None,
        interrupted: false,
        saved_on_stop: Vec::new(),
    };
    let mut net = Network::default();
    let outcome = phases(&plan, &mut net, &mut report, &mut stop).await;
    let closed = net.close_all().await;
    ctrl_c.abort();
    match outcome {
        Ok(()) => closed.map(|()| report),
        Err(Halt::Interrupted) => {
            report.interrupted = true;
            let on_disk = |realm: &RealmPlan, n: usize| {
                (0..n)
                    .filter_map(|i| realm.file_info(&plan.data_dir, i))
                    .collect::<Vec<_>>()
            };
            report.saved_on_stop = vec![
                on_disk(&plan.main, plan.nodes),
                on_disk(&plan.other, plan.other_nodes),
            ];
            closed.map(|()| report)
        }
        Err(Halt::Error(e)) => Err(e),
    }
}

/// Which address the launched nodes seed as their bootstrap node.
#[derive(Clone, Copy)]
enum Boot {
    /// The first node launched (cold start); it seeds nothing itself.
    First,
    /// A fixed address (a restart; the node there may be down).
    Addr(SocketAddr),
}

struct Launch<'a> {
    realm: &'a RealmPlan,
    indices: std::ops::Range<usize>,
    /// Addresses of the previous run by node index; `None` for OS-assigned ports.
    old: Option<&'a [SocketAddr]>,
    enabled: bool,
    boot: Boot,
    degree: usize,
    probe_targets: Option<watch::Receiver<Vec<SocketAddr>>>,
}

/// Binds every listener first (so no node dials a port that is not yet open), then opens each
/// node's store and starts it. Started nodes go into `into` at once, so an error part-way still
/// closes them.
async fn launch(
    plan: &Plan,
    l: Launch<'_>,
    shared: &Arc<Shared>,
    into: &mut Vec<(String, Node)>,
) -> Result<(), DemoError> {
    let mut listeners = Vec::with_capacity(l.indices.len());
    for i in l.indices.clone() {
        let node = l.realm.node_id(i);
        let addr = match l.old {
            Some(old) => old[i],
            None => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        };
        let hint = if l.old.is_some() {
            " (a restarted node must listen on its old port, which is now taken; close what \
             holds it or run the demo again for a cold start)"
        } else {
            ""
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| DemoError::Listen {
                node: node.clone(),
                addr,
                source,
                hint,
            })?;
        listeners.push((i, node, listener));
    }
    let boot = match l.boot {
        Boot::Addr(a) => Some(a),
        Boot::First => match listeners.first() {
            Some((_, _, first)) => {
                Some(first.local_addr().map_err(|source| DemoError::Listen {
                    node: l.realm.node_id(l.indices.start),
                    addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    source,
                    hint: "",
                })?)
            }
            None => None,
        },
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    for (i, node_id, listener) in listeners {
        let local = listener.local_addr().ok();
        let config = l.realm.config(&l.realm.file(&plan.data_dir, i), l.enabled);
        let store = PersistentStore::open(&config, &l.realm.code, clock.clone())
            .await
            .map_err(|source| DemoError::Store {
                node: node_id.clone(),
                source,
            })?;
        let is_boot = local.is_some() && local == boot;
        let mut capabilities = vec!["gossip".to_owned()];
        if is_boot {
            capabilities.push("bootstrap".to_owned());
        }
        let spec = NodeSpec {
            node_id: node_id.clone(),
            realm: l.realm.code.clone(),
            degree: l.degree,
            max_links: Plan::max_links(l.degree),
            capabilities,
            bootstrap: if is_boot { None } else { boot },
            probe_targets: l.probe_targets.clone(),
        };
        let node = match Node::start(spec, listener, store, shared.clone()) {
            Ok(n) => n,
            Err(source) => {
                return Err(DemoError::Listen {
                    node: node_id,
                    addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    source,
                    hint: "",
                })
            }
        };
        into.push((node_id, node));
    }
    Ok(())
}

/// Watches the nodes until every one holds `degree` links or `bound` has passed since
/// `started`, drawing a progress bar. Returns (time, nodes at degree, all reached).
async fn wait_degree(
    nodes: &[(String, Node)],
    degree: usize,
    started: Instant,
    bound: Duration,
    label: &str,
    stop: &mut watch::Receiver<bool>,
) -> Result<(Duration, usize, bool), Halt> {
    let bar = ProgressBar::with_draw_target(Some(nodes.len() as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:<44} [{bar:30}] {pos:>4}/{len} nodes at degree  {elapsed_precise}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());
    // Without a terminal the bar is hidden; one plain line per phase start and end instead
    // (for logs, and for tests that act on a phase having started).
    let plain = bar.is_hidden();
    if plain {
        eprintln!("{label}: started, {} nodes", nodes.len());
    }
    let done = |at: usize, elapsed: Duration| {
        if plain {
            eprintln!(
                "{label}: {at}/{} nodes at degree {degree} after {:.2} s",
                nodes.len(),
                elapsed.as_secs_f64()
            );
        }
    };
    loop {
        let at = nodes.iter().filter(|(_, n)| n.links() >= degree).count();
        bar.set_position(at as u64);
        let elapsed = started.elapsed();
        if at == nodes.len() {
            bar.finish();
            done(at, elapsed);
            return Ok((elapsed, at, true));
        }
        if elapsed >= bound {
            bar.abandon();
            done(at, elapsed);
            return Ok((elapsed, at, false));
        }
        tokio::select! {
            _ = interrupted(stop) => {
                bar.abandon();
                return Err(Halt::Interrupted);
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Resolves on Ctrl-C; never if signals cannot be watched.
async fn interrupted(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Every other-realm node sends a cross-realm HELLO (with an unasked PEER_LIST) to up to
/// [`PROBE_ROUND_TARGETS`] main-realm nodes spread over the network, and waits for the answers,
/// so isolation is exercised however fast a phase converged.
/// The outcomes are counted in [`Shared`].
async fn probe_round(net: &Network, targets: &[SocketAddr]) {
    let step = targets.len().div_ceil(PROBE_ROUND_TARGETS).max(1);
    for (_, other) in &net.other {
        for &t in targets.iter().step_by(step) {
            other.probe(t).await;
        }
    }
}

/// Creates the data dir, takes the run's lock, removes the previous run's peer files (a cold
/// start starts empty), and makes or reuses the key files.
fn prepare(plan: &Plan) -> Result<knownpeers::StoreLock, DemoError> {
    let dir_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::DataDir { path, source }
    };
    fs::create_dir_all(&plan.data_dir).map_err(dir_err(&plan.data_dir))?;
    // The library's store lock on `demo` is the run's lock file `demo.lock`.
    let lock = knownpeers::StoreLock::acquire(&plan.data_dir.join("demo")).map_err(|e| {
        let (path, source) = match e {
            knownpeers::Error::Locked { lock, .. } => (
                lock,
                std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "another demo is running with this data directory",
                ),
            ),
            knownpeers::Error::Io { path, source } => (path, source),
            other => (
                plan.data_dir.join("demo.lock"),
                std::io::Error::other(other.to_string()),
            ),
        };
        DemoError::DataDir { path, source }
    })?;
    for entry in fs::read_dir(&plan.data_dir).map_err(dir_err(&plan.data_dir))? {
        let entry = entry.map_err(dir_err(&plan.data_dir))?;
        let is_ours = entry.file_name().to_string_lossy().starts_with("peers-");
        if is_ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            fs::remove_file(entry.path()).map_err(dir_err(&entry.path()))?;
        }
    }
    for key_file in [&plan.main.key_file, &plan.other.key_file]
        .into_iter()
        .flatten()
    {
        ensure_key(key_file)?;
    }
    Ok(lock)
}

/// Reuses a key file (checked now, so a bad one fails before any node starts) or writes a new
/// one (mode 0600, never overwriting).
fn ensure_key(path: &Path) -> Result<(), DemoError> {
    let key_err = |source| DemoError::Key { source };
    if path.exists() {
        knownpeers_keys::read_key_file(path).map_err(key_err)?;
        return Ok(());
    }
    let key = knownpeers_keys::Key::generate().map_err(key_err)?;
    match knownpeers_keys::write_key_file(path, &key) {
        Ok(()) | Err(knownpeers_keys::Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(key_err(e)),
    }
}

/// Refuses to start when the open-file limit is clearly too low for this many nodes: each
/// holds a listener, a store lock and up to `max_links` sockets, plus dials in flight.
fn check_fds(plan: &Plan) -> Result<(), DemoError> {
    let per_node = |degree| 2 + Plan::max_links(degree) as u64;
    let need = plan.nodes as u64 * per_node(plan.degree)
        + plan.other_nodes as u64 * per_node(plan.other_degree)
        + 2 * DIAL_CONCURRENCY as u64
        + 64;
    let Some(have) = soft_nofile_limit() else {
        return Ok(());
    };
    if have < need {
        return Err(DemoError::FdLimit {
            nodes: plan.nodes,
            need,
            have,
        });
    }
    Ok(())
}

/// The soft `RLIMIT_NOFILE` from `/proc/self/limits` (`None` where that file is absent).
fn soft_nofile_limit() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    // "unlimited" parses as None: no limit to check.
    soft.parse().ok()
}

/// Reads every file back with the library under its realm's policy and key, and counts entries
/// holding an address from `foreign`.
fn read_back(
    realm: &RealmPlan,
    files: &[FileInfo],
    foreign: &HashSet<SocketAddr>,
    into: &mut IsolationReport,
) -> Result<(), DemoError> {
    let sealed = match &realm.key_file {
        Some(k) => Some(SealedCodec::with_key(
            knownpeers_keys::read_key_file(k).map_err(|source| DemoError::Key { source })?,
        )),
        None => None,
    };
    let policy = ReadPolicy {
        realm: Some(&realm.code),
        require_encryption: realm.codec == CodecKind::Sealed,
        sealed: sealed.as_ref(),
        legacy_mtime: 0,
        check_duplicates: true,
    };
    for f in files {
        let bytes = fs::read(&f.path).map_err(|source| DemoError::DataDir {
            path: f.path.clone(),
            source,
        })?;
        let decoded =
            knownpeers_codecs::read(&bytes, &policy).map_err(|source| DemoError::ReadBack {
                path: f.path.clone(),
                source,
            })?;
        into.files_read += 1;
        into.entries_read += decoded.file.entries.len();
        into.cross_realm_entries += decoded
            .file
            .entries
            .iter()
            .filter(|e| foreign.contains(&e.addr))
            .count();
    }
    Ok(())
}

fn entries_loaded(nodes: &[(String, Node)]) -> usize {
    nodes.iter().map(|(_, n)| n.loaded()).sum()
}

fn addrs(nodes: &[(String, Node)]) -> Vec<SocketAddr> {
    nodes.iter().map(|(_, n)| n.listen_addr()).collect()
}

/// Phases 1 to 3 and the read-back check, filling `report` as they go.
async fn phases(
    plan: &Plan,
    net: &mut Network,
    report: &mut DemoReport,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Halt> {
    let _run_lock = prepare(plan)?;
    check_fds(plan)?;
    let shared = Arc::new(Shared::new(DIAL_CONCURRENCY));
    let (targets_tx, targets_rx) = watch::channel(Vec::new());

    // The other realm: its own small network, sealed, which keeps knocking on the main realm.
    let other_launch = Launch {
        realm: &plan.other,
        indices: 0..plan.other_nodes,
        old: None,
        enabled: true,
        boot: Boot::First,
        degree: plan.other_degree,
        probe_targets: Some(targets_rx),
    };
    launch(plan, other_launch, &shared, &mut net.other).await?;
    let other_addrs = addrs(&net.other);

    // Phase 1: cold start from the bootstrap node (node 0).
    let started = Instant::now();
    let cold = Launch {
        realm: &plan.main,
        indices: 0..plan.nodes,
        old: None,
        enabled: true,
        boot: Boot::First,
        degree: plan.degree,
        probe_targets: None,
    };
    launch(plan, cold, &shared, &mut net.main).await?;
    let loaded = entries_loaded(&net.main);
    let main_addrs = addrs(&net.main);
    targets_tx.send_replace(main_addrs.clone());
    let (elapsed, at_degree, completed) = wait_degree(
        &net.main,
        plan.degree,
        started,
        plan.timeout,
        Phase::ColdStart.label(),
        stop,
    )
    .await?;
    probe_round(net, &main_addrs).await;
    // Quiet before the restart, so no cross-realm dial takes a freed listen port as its
    // ephemeral port while the main nodes are down.
    targets_tx.send_replace(Vec::new());
    close_nodes(std::mem::take(&mut net.main)).await?;
    report.phases.push(PhaseReport {
        phase: Phase::ColdStart,
        elapsed,
        nodes: plan.nodes,
        at_degree,
        completed,
        entries_loaded: loaded,
        files: (0..plan.nodes)
            .filter_map(|i| plan.main.file_info(&plan.data_dir, i))
            .collect(),
    });

    // Phase 2: all but the bootstrap node restart on their old ports from their files.
    let restart = |enabled| Launch {
        realm: &plan.main,
        indices: 1..plan.nodes,
        old: Some(&main_addrs),
        enabled,
        boot: Boot::Addr(main_addrs[0]),
        degree: plan.degree,
        probe_targets: None,
    };
    let started = Instant::now();
    launch(plan, restart(true), &shared, &mut net.main).await?;
    let loaded = entries_loaded(&net.main);
    targets_tx.send_replace(main_addrs[1..].to_vec());
    let (elapsed, at_degree, completed) = wait_degree(
        &net.main,
        plan.degree,
        started,
        plan.timeout,
        Phase::RestartFromFiles.label(),
        stop,
    )
    .await?;
    probe_round(net, &main_addrs[1..]).await;
    targets_tx.send_replace(Vec::new());
    close_nodes(std::mem::take(&mut net.main)).await?;
    report.phases.push(PhaseReport {
        phase: Phase::RestartFromFiles,
        elapsed,
        nodes: plan.nodes - 1,
        at_degree,
        completed,
        entries_loaded: loaded,
        files: (1..plan.nodes)
            .filter_map(|i| plan.main.file_info(&plan.data_dir, i))
            .collect(),
    });

    // The other realm closes (final save) before the files are read back.
    report.other.at_degree = net
        .other
        .iter()
        .filter(|(_, n)| n.links() >= plan.other_degree)
        .count();
    close_nodes(std::mem::take(&mut net.other)).await?;
    report.other.files = (0..plan.other_nodes)
        .filter_map(|i| plan.other.file_info(&plan.data_dir, i))
        .collect();

    // Every file, read back with the library: no address of one realm in the other's files.
    let mut isolation = IsolationReport::default();
    let main_files: Vec<FileInfo> = (0..plan.nodes)
        .filter_map(|i| plan.main.file_info(&plan.data_dir, i))
        .collect();
    read_back(
        &plan.main,
        &main_files,
        &other_addrs.iter().copied().collect(),
        &mut isolation,
    )?;
    read_back(
        &plan.other,
        &report.other.files,
        &main_addrs.iter().copied().collect(),
        &mut isolation,
    )?;
    let counter = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::SeqCst);
    isolation.hellos_sent = counter(&shared.probes_sent);
    isolation.hellos_refused = counter(&shared.refused_cross_realm);
    isolation.hellos_accepted = counter(&shared.probes_accepted);
    report.isolation = Some(isolation);

    // Phase 3, the control: the same restart with persistence disabled.
    let started = Instant::now();
    launch(plan, restart(false), &shared, &mut net.main).await?;
    let loaded = entries_loaded(&net.main);
    let (elapsed, at_degree, completed) = wait_degree(
        &net.main,
        plan.degree,
        started,
        plan.control_wait,
        Phase::RestartWithoutPersistence.label(),
        stop,
    )
    .await?;
    close_nodes(std::mem::take(&mut net.main)).await?;
    report.phases.push(PhaseReport {
        phase: Phase::RestartWithoutPersistence,
        elapsed,
        nodes: plan.nodes - 1,
        at_degree,
        completed,
        entries_loaded: loaded,
        files: Vec::new(),
    });
    Ok(())
}
