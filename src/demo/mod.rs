//! The main job: a loopback network of nodes that restarts and reconnects from its peer files.

use std::path::PathBuf;

/// Arguments of `knownpeers demo` (the CLI parses them with clap and calls [`run`]).
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Number of nodes in the main realm.
    #[arg(long, default_value_t = 12)]
    pub nodes: usize,
    /// Connections each node keeps.
    #[arg(long, default_value_t = 4)]
    pub degree: usize,
    /// Where the peer files go.
    #[arg(long, default_value = "./data/demo")]
    pub data_dir: PathBuf,
    /// Codec of the main realm: json, msgpack or sealed.
    #[arg(long, default_value = "json")]
    pub codec: String,
}

/// Runs the demo; returns the process exit code.
pub fn run(args: &DemoArgs) -> i32 {
    let _ = args;
    unimplemented!()
}
