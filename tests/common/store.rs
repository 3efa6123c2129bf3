//! Helpers for tests that open persistent stores: configs in temp dirs, addresses, key files,
//! a fixed clock. Pulled in with `#[path = "common/store.rs"] mod store_util;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knownpeers::{Backoff, Config, ManualClock, PeerEntry, StoreConfig};

/// The vectors' `saved_at`, used as "now" throughout.
pub const T0: u64 = 1_764_000_000;

/// A clock at [`T0`].
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_secs(T0))
}

/// A distinct IPv4 address per `i`.
pub fn addr(i: u32) -> SocketAddr {
    let [a, b, c, d] = (0x0a00_0000u32 + i).to_be_bytes();
    SocketAddr::from(([a, b, c, d], 7447))
}

/// A config whose files are `<dir>/<realm>.peers`, with `extra` appended under
/// `[network.persistence]` (start `extra` with keys, then any realm tables).
pub fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "[network.persistence]\nenabled = true\npath = \"{}/{{realm}}.peers\"\n{extra}",
        dir.display()
    );
    Config::from_toml_str(&text).unwrap_or_else(|e| panic!("test config invalid: {e}\n{text}"))
}

/// Entries sorted by address, for comparisons.
pub fn sorted(mut entries: Vec<PeerEntry>) -> Vec<PeerEntry> {
    entries.sort_by_key(|e| e.addr);
    entries
}

/// A fresh key file (mode 0600) in `dir`.
pub fn new_key_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let key = knownpeers::keys::Key::generate().expect("random key");
    knownpeers::keys::write_key_file(&path, &key).expect("key file");
    path
}

/// A vector from `tests/vectors`, copied into `dir` as `name` (key files get mode 0600).
pub fn copy_vector(file: &str, dir: &Path, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(file);
    let dst = dir.join(name);
    std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    if file.ends_with(".key") {
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    dst
}

/// Names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The in-memory store tests' config: `max_entries`, `ttl_secs`, 1000 addresses per gossip batch,
/// backoff from 1 s to 10 min without jitter, and a fixed jitter seed, so that dial times are
/// exact.
pub fn store_config(max_entries: usize, ttl_secs: u64) -> StoreConfig {
    StoreConfig {
        max_entries,
        ttl_secs,
        max_gossip_batch: 1000,
        backoff: Backoff {
            base_ms: 1000,
            cap_ms: 600_000,
            jitter_permille: 0,
        },
        jitter_seed: Some(7),
    }
}
