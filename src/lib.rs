//! knownpeers remembers the peers a P2P node has met, across restarts, safely.
//!
//! The primary types are [`PeerStore`] (one realm's bounded, TTL-expiring peer set in memory),
//! [`PersistentStore`] (that store persisted to one file through the atomic saver, with a
//! lock and a flush task; a cheap handle to share across tasks), [`Config`] (TheNodes'
//! `[network.persistence]` table, [`PersistenceConfig`], plus the realm and state directory),
//! [`Realms`] (several realms from one [`Config`]), and the re-exported format types of
//! `knownpeers-codecs` ([`PeerEntry`], [`PeerSource`], [`CodecKind`]).
//!
//! A host such as TheNodes embeds [`PersistenceConfig`] in its own config and builds a
//! [`Config`] with [`Config::from_persistence`] (TheNodes' meaning of `enabled`: see
//! [`PersistenceMode`]; its realm codes: [`realm_code`]); opens the store with
//! [`PersistentStore::open_with`] to receive [`Event`]s; records connections with
//! [`PeerStore::observe_success`], seeds with [`PeerStore::insert_if_absent`], gossip with
//! [`PeerStore::observe_gossip`], picks peers with [`PeerStore::dial_candidates`],
//! [`PeerStore::sample_addrs`] and [`PeerStore::dial_state`]; and closes at shutdown (or lets
//! the last handle's drop save). [`load_store`] and [`save_store`] do one load or save of a
//! plain [`PeerStore`] with the same rules. This library has no command-line dependencies; the
//! `knownpeers` binary is the separate `knownpeers-cli` package.
//!
//! A realm opened from a TheNodes-style configuration, observed, and closed with a final save:
//!
//! ```no_run
//! use std::sync::Arc;
//! use knownpeers::{Config, PersistentStore, SystemClock};
//!
//! # async fn run() -> Result<(), knownpeers::Error> {
//! let config = Config::from_toml_str(
//!     r#"
//! [network.persistence]
//! enabled = true
//! path = "./data/{realm}.json"
//! "#,
//! )?;
//! let realm = PersistentStore::open(&config, "mainnet", Arc::new(SystemClock)).await?;
//! realm.store().observe_bootstrap("203.0.113.10:7447".parse().expect("an address"));
//! let to_dial = realm.store().dial_candidates(8);
//! realm.close().await?; // final save, lock released
//! # let _ = to_dial;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::PathBuf;

mod persist;
mod store;

pub use knownpeers_codecs as codecs;
pub use knownpeers_codecs::{CodecKind, PeerEntry, PeerSource};
pub use knownpeers_keys as keys;
pub use persist::config::{
    realm_code, Config, ConfigError, OnCorrupt, PersistenceConfig, PersistenceMode,
    RealmPolicyConfig,
};
pub use persist::lock::StoreLock;
pub use persist::runtime::{
    load_store, save_store, Event, EventCallback, LoadReport, OpenOptions, PersistentStore, Realms,
};
pub use persist::saver::{remove_stale_temps, write_atomic};
pub use store::{
    Backoff, Clock, DialState, GossipPeer, GossipReport, HydrateReport, ManualClock,
    MetadataRejected, Observed, PeerStore, Snapshot, StoreConfig, StoreStats, SystemClock,
};

/// Everything that can go wrong persisting a store. Messages name the file and never contain a
/// key, a passphrase or a peer list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file was renamed into place but the directory fsync failed: written, maybe not
    /// durable across a power loss.
    #[error("{}: written but maybe not durable (directory fsync failed: {source})", path.display())]
    NotDurable {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The target is a directory.
    #[error("{}: is a directory; give a file path", path.display())]
    IsADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Another process holds the store open.
    #[error("{}: locked by another process (lock file {}); stop the other process first", path.display(), lock.display())]
    Locked {
        /// The data file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The file could not be read as the realm's policy asks.
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The classified cause.
        #[source]
        source: knownpeers_codecs::Error,
    },
    /// Key material could not be loaded.
    #[error(transparent)]
    Key(#[from] knownpeers_keys::Error),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

impl Error {
    /// The CLI exit code for this error (DESIGN.md's table).
    pub fn exit_code(&self) -> i32 {
        use knownpeers_codecs::ErrorKind as K;
        match self {
            // A legacy file names no realm and none was given: the caller must pass one.
            Error::Format {
                source: knownpeers_codecs::Error::RealmRequired,
                ..
            } => 2,
            Error::Format { source, .. } => match source.kind() {
                K::Corrupt => 3,
                K::WrongKey => 4,
                K::RealmMismatch => 5,
                K::Unsupported => 6,
                K::LimitExceeded => 7,
                K::PolicyViolation => 8,
                K::NotPeerFile => 9,
                _ => 1,
            },
            Error::Key(knownpeers_keys::Error::KdfBounds { .. }) => 7,
            Error::Key(
                knownpeers_keys::Error::MissingPassphrase { .. }
                | knownpeers_keys::Error::EmptyPassphraseFile { .. }
                | knownpeers_keys::Error::MalformedKeyFile { .. }
                | knownpeers_keys::Error::InsecurePermissions { .. },
            ) => 4,
            // KDF costs below the writer's floor come from a flag or a config: a usage error.
            Error::Config(_) | Error::Key(knownpeers_keys::Error::WeakKdf { .. }) => 2,
            Error::Locked { .. } => 10,
            _ => 1,
        }
    }
}
