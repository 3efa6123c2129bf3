//! The main job: a loopback network of nodes that restarts and reconnects from its peer files.
//!
//! `knownpeers demo` runs one realm of `--nodes` nodes plus a small sealed second realm, all on
//! `127.0.0.1` in one tokio runtime, each node with its own [`knownpeers::PersistentStore`] file
//! under `--data-dir`. Three timed phases show what persistence buys: a cold start from one
//! bootstrap node; a restart with the bootstrap node down, reconnecting from the peer files
//! alone; and the same restart with persistence disabled, as the control. This module owns the
//! arguments, the report and its table; `harness` runs the phases, `node` the nodes, `protocol`
//! the wire format. It must not send traffic anywhere but loopback.
//!
//! How the network behaves (choices the issue left open):
//! - Node 0 of the main realm is the bootstrap node; every other node seeds its address as
//!   Bootstrap at every start (also in phases 2 and 3, where it is down, as a real config would).
//! - A node keeps `degree` links (distinct peers, inbound and outbound) and accepts up to
//!   `2 * degree`; past that it answers HELLO with `full` and one PEER_LIST, then closes. When
//!   two nodes dial each other at once, both keep the link dialed by the smaller node id.
//! - Connected is observed by an acceptor for every same-realm HELLO (with the listen address
//!   the HELLO gives, on the connecting host), and by a dialer for the links it keeps (with the
//!   address it dialed). A dialer does not record a `full` peer as Connected (it would then be
//!   its first dial candidate again) and leaves it alone for two seconds instead.
//! - Restarted nodes bind the ports the harness remembers from phase 1 (one process); a port
//!   taken in between fails the run with an error naming the node and the port.
//! - A cold start removes the previous run's `peers-*` files from the data directory; the key
//!   files (`key-other.key`, and `key-main.key` with `--codec sealed`) are kept and reused.
//! - The other realm's nodes send a cross-realm HELLO followed at once by an unasked PEER_LIST
//!   to main-realm nodes, in the background and in one full round after phases 1 and 2; a main
//!   node refuses it and reads nothing more from that connection.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use knownpeers_codecs::CodecKind;

mod harness;
mod node;
mod protocol;

/// Arguments of `knownpeers demo` (the CLI parses them with clap and calls [`run`]).
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Number of nodes in the main realm (one of them is the bootstrap node).
    #[arg(long, default_value_t = 12)]
    pub nodes: usize,
    /// Connections each node keeps (distinct peers, inbound and outbound).
    #[arg(long, default_value_t = 4)]
    pub degree: usize,
    /// Where the peer files go (files named `peers-*` there belong to the demo and are
    /// replaced by a new run; key files are reused).
    #[arg(long, default_value = "./data/demo")]
    pub data_dir: PathBuf,
    /// Codec of the main realm: json, msgpack or sealed.
    #[arg(long, default_value = "json")]
    pub codec: String,
    /// Number of nodes in the second, sealed realm that tries to get into the main realm.
    #[arg(long, default_value_t = 3)]
    pub other_nodes: usize,
    /// Longest wait, in seconds, for phases 1 and 2 to bring every node to its degree.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// How long, in seconds, the control phase (no persistence) is watched.
    #[arg(long, default_value_t = 3)]
    pub control_wait_secs: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            nodes: 12,
            degree: 4,
            data_dir: PathBuf::from("./data/demo"),
            codec: "json".to_owned(),
            other_nodes: 3,
            timeout_secs: 60,
            control_wait_secs: 3,
        }
    }
}

/// Runs the demo, prints the summary table on stdout (progress bars go to stderr), and returns
/// the process exit code: 0 when phases 1 and 2 brought every node to its degree and realm
/// isolation held, 1 when they did not, 130 after Ctrl-C, or an error's own code.
pub fn run(args: &DemoArgs) -> i32 {
    match execute(args) {
        Ok(report) => {
            // A closed stdout (`knownpeers demo | head -3`) is not a failure of the demo.
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{report}").and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("knownpeers demo: cannot write the report to stdout: {e}");
                    1
                }
                _ => report.exit_code(),
            }
        }
        Err(e) => {
            eprintln!("knownpeers demo: {e}");
            e.exit_code()
        }
    }
}

/// Runs the demo in a new multi-thread tokio runtime and returns its report without printing
/// it. Progress bars are drawn to stderr when it is a terminal.
pub fn execute(args: &DemoArgs) -> Result<DemoReport, DemoError> {
    let plan = harness::Plan::from_args(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    rt.block_on(harness::run(plan))
}

/// The demo's phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Every node starts empty and learns the network from the bootstrap node.
    ColdStart,
    /// Every node but the bootstrap node restarts from its peer file.
    RestartFromFiles,
    /// The same restart with persistence disabled (the control).
    RestartWithoutPersistence,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::ColdStart => "1 cold start from the bootstrap node",
            Phase::RestartFromFiles => "2 restart from peer files, bootstrap down",
            Phase::RestartWithoutPersistence => "3 restart without persistence (control)",
        }
    }
}

/// Files a phase left on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// The realm it belongs to.
    pub realm: String,
    /// Its codec.
    pub codec: CodecKind,
    /// Its size in bytes.
    pub bytes: u64,
    /// The key file that opens it, for a sealed file.
    pub key_file: Option<PathBuf>,
}

/// One timed phase.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// Which phase.
    pub phase: Phase,
    /// From the first node starting until every node held its degree, or until the bound.
    pub elapsed: Duration,
    /// Nodes that ran in the phase.
    pub nodes: usize,
    /// Nodes that held `degree` links when the phase ended.
    pub at_degree: usize,
    /// Whether every node reached its degree within the bound.
    pub completed: bool,
    /// Entries the nodes' stores loaded from their peer files at start (0 on a cold start or
    /// without persistence).
    pub entries_loaded: usize,
    /// Files written by the closing save (empty when persistence was off).
    pub files: Vec<FileInfo>,
}

/// The second realm's part.
#[derive(Debug, Clone, Default)]
pub struct OtherRealmReport {
    /// Its realm code.
    pub realm: String,
    /// Its nodes.
    pub nodes: usize,
    /// The degree its nodes aim for.
    pub degree: usize,
    /// Its nodes at that degree when they were closed.
    pub at_degree: usize,
    /// Its files (sealed with the key file under the data dir).
    pub files: Vec<FileInfo>,
}

/// What reading every file back found, and how the cross-realm attempts went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IsolationReport {
    /// Files read back with `knownpeers_codecs::read` under their realm's policy and key.
    pub files_read: usize,
    /// Entries in them.
    pub entries_read: usize,
    /// Entries holding an address of the other realm's nodes: must be 0.
    pub cross_realm_entries: usize,
    /// Cross-realm HELLOs the other realm's nodes sent to main-realm nodes.
    pub hellos_sent: u64,
    /// Cross-realm HELLOs the main-realm nodes refused (counted by the refusing node).
    pub hellos_refused: u64,
    /// Those answered with a HELLO (an isolation breach): must be 0.
    pub hellos_accepted: u64,
}

impl IsolationReport {
    /// Whether isolation held.
    pub fn held(&self) -> bool {
        self.cross_realm_entries == 0 && self.hellos_accepted == 0
    }
}

/// Everything the demo measured.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Main-realm nodes.
    pub nodes: usize,
    /// Their degree.
    pub degree: usize,
    /// Main realm code.
    pub realm: String,
    /// Main realm codec.
    pub codec: CodecKind,
    /// Where the files are.
    pub data_dir: PathBuf,
    /// The phases run, in order (fewer than three after Ctrl-C).
    pub phases: Vec<PhaseReport>,
    /// The second realm.
    pub other: OtherRealmReport,
    /// The read-back check (after phase 2), when it ran.
    pub isolation: Option<IsolationReport>,
    /// Stopped by Ctrl-C (running nodes were closed with a final save).
    pub interrupted: bool,
    /// After Ctrl-C: the files on disk once every node was closed, one list per realm.
    pub saved_on_stop: Vec<Vec<FileInfo>>,
}

impl DemoReport {
    /// The phase's report, if it ran.
    pub fn phase(&self, phase: Phase) -> Option<&PhaseReport> {
        self.phases.iter().find(|p| p.phase == phase)
    }

    /// Whether the demo showed what it should: phases 1 and 2 brought every node to its degree
    /// and isolation held.
    pub fn passed(&self) -> bool {
        let done = |p| self.phase(p).is_some_and(|r| r.completed);
        !self.interrupted
            && done(Phase::ColdStart)
            && done(Phase::RestartFromFiles)
            && self.isolation.as_ref().is_some_and(|i| i.held())
    }

    /// The process exit code for this report.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            130
        } else if self.passed() {
            0
        } else {
            1
        }
    }
}

fn codec_name(c: CodecKind) -> &'static str {
    match c {
        CodecKind::Json => "json",
        CodecKind::Msgpack => "msgpack",
        CodecKind::Sealed => "sealed",
    }
}

fn files_cell(files: &[FileInfo], none: &str) -> String {
    let Some(first) = files.first() else {
        return none.to_owned();
    };
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let max = files.iter().map(|f| f.bytes).max().unwrap_or(0);
    format!(
        "{} {}, {} total, largest {}",
        files.len(),
        codec_name(first.codec),
        human_bytes(bytes),
        human_bytes(max)
    )
}

fn human_bytes(b: u64) -> String {
    if b < 10 * 1024 {
        format!("{b} B")
    } else if b < 10 * 1024 * 1024 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "knownpeers demo: {} nodes in realm {} ({}), degree {}; {} nodes in sealed realm {}; files in {}",
            self.nodes,
            self.realm,
            codec_name(self.codec),
            self.degree,
            self.other.nodes,
            self.other.realm,
            self.data_dir.display()
        )?;
        writeln!(f)?;
        let mut rows: Vec<[String; 5]> = vec![[
            "phase".into(),
            "time".into(),
            format!("at degree {}", self.degree),
            "entries loaded".into(),
            "files written".into(),
        ]];
        for p in &self.phases {
            let time = if p.completed {
                format!("{:.2} s", p.elapsed.as_secs_f64())
            } else {
                format!("> {:.2} s", p.elapsed.as_secs_f64())
            };
            rows.push([
                p.phase.label().into(),
                time,
                format!("{}/{}", p.at_degree, p.nodes),
                p.entries_loaded.to_string(),
                files_cell(&p.files, "none (persistence off)"),
            ]);
        }
        // The other realm is measured when it closes, after phase 2.
        if self.phase(Phase::RestartFromFiles).is_some() {
            rows.push([
                format!(
                    "  other realm {} (degree {})",
                    self.other.realm, self.other.degree
                ),
                "-".into(),
                format!("{}/{}", self.other.at_degree, self.other.nodes),
                "-".into(),
                files_cell(&self.other.files, "-"),
            ]);
        }
        let widths: Vec<usize> = (0..5)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            writeln!(
                f,
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )?;
        }
        writeln!(f)?;
        if self.interrupted {
            let saved: Vec<String> = self
                .saved_on_stop
                .iter()
                .filter(|files| !files.is_empty())
                .map(|files| format!("{} ({})", files_cell(files, ""), files[0].realm))
                .collect();
            writeln!(
                f,
                "stopped by Ctrl-C; after the final save: {}",
                if saved.is_empty() {
                    "no files".to_owned()
                } else {
                    saved.join("; ")
                }
            )?;
        }
        match &self.isolation {
            Some(i) => writeln!(
                f,
                "realm isolation: {} files read back ({} entries), {} cross-realm entries; {} HELLOs from realm {} refused of {} sent, {} accepted",
                i.files_read,
                i.entries_read,
                i.cross_realm_entries,
                i.hellos_refused,
                self.other.realm,
                i.hellos_sent,
                i.hellos_accepted
            )?,
            None => writeln!(f, "realm isolation: not checked (the demo stopped before)")?,
        }
        let verdict = if self.interrupted {
            "INTERRUPTED (Ctrl-C; running nodes were closed with a final save)".to_owned()
        } else if self.passed() {
            "PASS: every node reconnected from its peer file with the bootstrap node down"
                .to_owned()
        } else {
            let mut why = Vec::new();
            if !self.phase(Phase::ColdStart).is_some_and(|p| p.completed) {
                why.push("the cold start did not bring every node to its degree");
            }
            if !self
                .phase(Phase::RestartFromFiles)
                .is_some_and(|p| p.completed)
            {
                why.push("the restart from peer files did not reconnect every node");
            }
            if !self.isolation.as_ref().is_some_and(|i| i.held()) {
                why.push("realm isolation did not hold");
            }
            format!("FAIL: {}", why.join("; "))
        };
        write!(f, "result: {verdict}")
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Bad arguments.
    #[error("{what}")]
    Usage {
        /// What is wrong and how to fix it.
        what: String,
    },
    /// The data directory could not be prepared.
    #[error("{}: {source}; pass a writable directory with --data-dir", path.display())]
    DataDir {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key file could not be made or read.
    #[error("{source}")]
    Key {
        /// The cause (it names the file).
        #[source]
        source: knownpeers_keys::Error,
    },
    /// Too few file descriptors for this many nodes.
    #[error("{nodes} nodes need about {need} open files but the limit is {have}; raise it (`ulimit -n {need}`) or use fewer --nodes")]
    FdLimit {
        /// Nodes asked for.
        nodes: usize,
        /// Estimated need.
        need: u64,
        /// The soft limit.
        have: u64,
    },
    /// A listener could not be opened.
    #[error("node {node}: cannot listen on {addr}: {source}{hint}")]
    Listen {
        /// The node.
        node: String,
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
        /// How to fix it.
        hint: &'static str,
    },
    /// A node's store could not be opened or closed.
    #[error("node {node}: {source}")]
    Store {
        /// The node.
        node: String,
        /// The cause (it names the file).
        #[source]
        source: knownpeers::Error,
    },
    /// A file could not be read back.
    #[error("{}: reading back failed: {source}", path.display())]
    ReadBack {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: knownpeers_codecs::Error,
    },
    /// The tokio runtime could not start.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl DemoError {
    /// The process exit code (DESIGN.md's table where it applies).
    pub fn exit_code(&self) -> i32 {
        match self {
            DemoError::Usage { .. } => 2,
            DemoError::Store { source, .. } => source.exit_code(),
            DemoError::Key {
                source:
                    knownpeers_keys::Error::MalformedKeyFile { .. }
                    | knownpeers_keys::Error::InsecurePermissions { .. },
            } => 4,
            DemoError::ReadBack { source, .. } => match source.kind() {
                knownpeers_codecs::ErrorKind::Corrupt => 3,
                knownpeers_codecs::ErrorKind::WrongKey => 4,
                knownpeers_codecs::ErrorKind::RealmMismatch => 5,
                _ => 1,
            },
            _ => 1,
        }
    }
}
