//! Persistence (DESIGN.md "Persistence"): the config, the atomic saver, the store lock, load with
//! quarantine, and the flush task. Only `saver` writes store files; only `runtime` uses tokio.

pub mod config;
pub mod lock;
pub mod runtime;
pub mod saver;
