//! The persistent store of one realm: open (lock, stale temps, load, quarantine, hydrate), the
//! flush task on tokio, `flush` and `close`; and [`Realms`], several realms from one config.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::persist::config::Config;
use crate::store::{Clock, HydrateReport, PeerStore};
use crate::Error;

/// What the load at open found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Entries in the file.
    pub in_file: usize,
    /// What hydrate did.
    pub hydrate: HydrateReport,
    /// Where a corrupt file was moved, if it was.
    pub quarantined_to: Option<std::path::PathBuf>,
}

/// One realm's store, persisted. Dropping it without `close` stops the task without a final
/// save (call `close`).
#[derive(Debug)]
pub struct PersistentStore {
    _private: (),
}

#[allow(unused_variables)]
impl PersistentStore {
    /// Opens `realm` as `config` says, with `clock` for the store.
    pub async fn open(
        config: &Config,
        realm: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<PersistentStore, Error> {
        unimplemented!()
    }
    /// The in-memory store (observe and query through it).
    pub fn store(&self) -> &PeerStore {
        unimplemented!()
    }
    /// The realm.
    pub fn realm(&self) -> &str {
        unimplemented!()
    }
    /// The data file (`None` when persistence is disabled).
    pub fn path(&self) -> Option<&Path> {
        unimplemented!()
    }
    /// What the load found.
    pub fn load_report(&self) -> &LoadReport {
        unimplemented!()
    }
    /// The last save error, if the last save failed.
    pub fn last_error(&self) -> Option<String> {
        unimplemented!()
    }
    /// Saves now if changed since the last save.
    pub async fn flush(&self) -> Result<(), Error> {
        unimplemented!()
    }
    /// Final save, stops the flush task, releases the lock.
    pub async fn close(self) -> Result<(), Error> {
        unimplemented!()
    }
}

/// Several realms opened from one config, each with its own file, policy and lock.
#[derive(Debug)]
pub struct Realms {
    /// The open realms by code.
    pub realms: BTreeMap<String, PersistentStore>,
}

impl Realms {
    /// Opens every realm the config names (its `realms` tables, and the default realm).
    pub async fn open_all(config: &Config, clock: Arc<dyn Clock>) -> Result<Realms, Error> {
        let _ = (config, clock);
        unimplemented!()
    }
    /// One realm.
    pub fn get(&self, realm: &str) -> Option<&PersistentStore> {
        self.realms.get(realm)
    }
    /// Closes every realm; returns the first error after trying all.
    pub async fn close_all(self) -> Result<(), Error> {
        unimplemented!()
    }
}
