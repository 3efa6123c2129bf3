//! Configuration: TheNodes' `[network.persistence]` table plus knownpeers' own keys, loadable from
//! a whole TheNodes config file. Validation names the offending key. Reads no store file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use knownpeers_codecs::CodecKind;

/// What to do with a corrupt or unsupported-version file at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnCorrupt {
    /// Move it to `<path>.corrupt-<unix time>` and start empty (default).
    #[default]
    Quarantine,
    /// Fail the open.
    Fail,
}

/// One realm's policy table, `[network.persistence.realms.<code>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmPolicyConfig {
    /// Codec this realm writes (default: the table's `codec`).
    pub codec: Option<CodecKind>,
    /// Key file for a sealed realm.
    pub key_file: Option<PathBuf>,
    /// Environment variable holding a sealed realm's passphrase.
    pub passphrase_env: Option<String>,
    /// Argon2id memory in KiB (default 65536).
    pub kdf_m_kib: Option<u32>,
    /// Argon2id iterations (default 3).
    pub kdf_t: Option<u32>,
    /// Argon2id lanes (default 4).
    pub kdf_p: Option<u32>,
    /// Refuse plaintext files (default true for sealed realms).
    pub require_encryption: Option<bool>,
    /// Data file path for this realm (default: the table's `path`).
    pub path: Option<String>,
}

/// The `[network.persistence]` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct PersistenceConfig {
    /// Whether anything is read or written.
    pub enabled: bool,
    /// Data file path; may contain `{realm}`. Default `<state_dir>/peers.json`.
    pub path: Option<String>,
    /// Capacity per realm.
    pub max_entries: usize,
    /// Entry lifetime since last seen.
    pub ttl_secs: u64,
    /// Flush interval (0 is an error).
    pub save_interval_secs: u64,
    /// Default codec.
    pub codec: CodecKind,
    /// Corrupt-file handling.
    pub on_corrupt: OnCorrupt,
    /// Gossip batch cap.
    pub max_gossip_batch: usize,
    /// Per-realm policies.
    pub realms: BTreeMap<String, RealmPolicyConfig>,
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        PersistenceConfig {
            enabled: true,
            path: None,
            max_entries: 1024,
            ttl_secs: 604_800,
            save_interval_secs: 60,
            codec: CodecKind::Json,
            on_corrupt: OnCorrupt::Quarantine,
            max_gossip_batch: 1000,
            realms: BTreeMap::new(),
        }
    }
}

/// The whole knownpeers configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `[network.persistence]`.
    pub persistence: PersistenceConfig,
    /// `[realm]`'s canonical code: the default realm.
    pub default_realm: Option<String>,
    /// `[node].state_dir`: the default directory.
    pub state_dir: Option<PathBuf>,
}

/// A config problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("config: {key}: {what}")]
pub struct ConfigError {
    /// The offending key, e.g. `network.persistence.save_interval_secs`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub what: String,
}

impl Config {
    /// Parses and validates TOML (a whole TheNodes config; unknown keys outside our tables are
    /// ignored).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let _ = text;
        unimplemented!()
    }
    /// Reads, parses and validates a config file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let _ = path;
        unimplemented!()
    }
    /// Validates every rule of DESIGN.md.
    pub fn validate(&self) -> Result<(), ConfigError> {
        unimplemented!()
    }
}
