//! Configuration: TheNodes' `[network.persistence]` table plus knownpeers' own keys, loadable from
//! a whole TheNodes config file or embedded in a host's own serde config, its mode (off,
//! read-only, read-write, with TheNodes' meaning of `enabled`), TheNodes' realm code, and its
//! resolution into one realm's settings (path, codec, key source, KDF parameters, policy).
//! Validation names the offending key. It reads no store or key file, and never turns a realm
//! that is unsafe as a file-name component into a path.

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

/// The `[network.persistence]` table: TheNodes' keys (`enabled`, `path`, `max_entries`,
/// `ttl_secs`, `save_interval_secs`) plus knownpeers' own (`codec`, `on_corrupt`,
/// `max_gossip_batch`, `realms.<code>`).
///
/// It is `serde::Deserialize`, so a host embeds it in its own config struct in place of its
/// own persistence table (an absent key takes its default) and hands it to
/// [`Config::from_persistence`]:
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct HostNetwork {
///     persistence: Option<knownpeers::PersistenceConfig>,
/// }
/// let network: HostNetwork = serde_json::from_str(
///     r#"{ "persistence": { "enabled": true, "codec": "msgpack" } }"#,
/// )
/// .expect("a valid table");
/// let config = knownpeers::Config::from_persistence(network.persistence, None, None)
///     .expect("valid");
/// assert_eq!(config.mode(), knownpeers::PersistenceMode::ReadWrite);
/// ```
///
/// Unknown keys in this table are errors (a misspelt key must not silently weaken a policy);
/// unknown keys elsewhere in a TheNodes file are ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersistenceConfig {
    /// TheNodes' `enabled`: `Some(true)` reads and writes; absent or `Some(false)` is read-only
    /// (the file is loaded if present, never written). See [`PersistenceMode`].
    pub enabled: Option<bool>,
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

/// The table's defaults (TheNodes' where it has one): `enabled` absent, 1024 entries, a week,
/// 60 s, JSON, quarantine, 1000 addresses per gossip batch, no realm tables.
static DEFAULT_TABLE: PersistenceConfig = PersistenceConfig {
    enabled: None,
    path: None,
    max_entries: 1024,
    ttl_secs: 604_800,
    save_interval_secs: 60,
    codec: CodecKind::Json,
    on_corrupt: OnCorrupt::Quarantine,
    max_gossip_batch: 1000,
    realms: BTreeMap::new(),
};

impl Default for PersistenceConfig {
    fn default() -> Self {
        DEFAULT_TABLE.clone()
    }
}

/// What persistence does, from TheNodes' meaning of its config (DESIGN.md "Config").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PersistenceMode {
    /// No `[network.persistence]` table: an in-memory store; no file is read or written.
    Off,
    /// A table with `enabled` absent or `false`: the file is loaded at open if present, and
    /// nothing on disk is ever created, locked, moved or written (no directory, no lock file,
    /// no stale-temp cleanup, no quarantine, no saves). A corrupt or unsupported-version file
    /// is reported ([`crate::LoadReport::unreadable`], a log line, an event) and left where it
    /// is, and the store starts empty, unless `on_corrupt = "fail"`.
    ReadOnly,
    /// `enabled = true`: load, lock, quarantine, flush task, final save.
    ReadWrite,
}

/// The whole knownpeers configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `[network.persistence]`; `None` (no table) means persistence is off, as in TheNodes.
    pub persistence: Option<PersistenceConfig>,
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

impl ConfigError {
    fn new(key: impl Into<String>, what: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            what: what.into(),
        }
    }
}

/// The table every knownpeers key lives under.
const TABLE: &str = "network.persistence";
/// The placeholder a path template may contain.
const REALM_PLACEHOLDER: &str = "{realm}";
/// Longest flush interval: a year (longer ones are surely a unit mistake, and would overflow
/// the timer's deadline arithmetic near `u64::MAX`).
const MAX_SAVE_INTERVAL_SECS: u64 = 365 * 24 * 3600;
/// TheNodes' `RealmInfo::default()` code: the realm when a config names none.
pub(crate) const FALLBACK_REALM: &str = "default";
/// TheNodes' default `node.state_dir`.
const FALLBACK_STATE_DIR: &str = "data";
/// TheNodes' peer file name inside `state_dir`.
const DEFAULT_FILE_NAME: &str = "peers.json";

/// The parts of a TheNodes config file knownpeers reads; every other key is ignored.
#[derive(Debug, Default, serde::Deserialize)]
struct TheNodesFile {
    realm: Option<RealmTable>,
    node: Option<NodeTable>,
    network: Option<NetworkTable>,
}

/// TheNodes' `RealmInfo`: `name`, optional `code`, `version` (not used here).
#[derive(Debug, Default, serde::Deserialize)]
struct RealmTable {
    name: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct NodeTable {
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct NetworkTable {
    persistence: Option<PersistenceConfig>,
}

/// Where a sealed realm's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// A `knownpeers-key-v1` key file.
    File(PathBuf),
    /// An environment variable holding a passphrase (Argon2id with the realm's parameters).
    Env(String),
}

/// Everything the runtime needs for one realm, resolved from the config and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RealmSettings {
    /// The realm code.
    pub realm: String,
    /// The data file, `{realm}` substituted.
    pub path: PathBuf,
    /// The codec the realm's policy writes.
    pub codec: CodecKind,
    /// Whether the realm's own table names `codec` (only then may a realm that loaded a sealed
    /// file write it back in plaintext).
    pub codec_explicit: bool,
    /// The key source, if any (required for sealed realms).
    pub key: Option<KeySource>,
    /// Argon2id parameters for a passphrase key.
    pub kdf: knownpeers_keys::KdfParams,
    /// Refuse plaintext files.
    pub require_encryption: bool,
    /// Corrupt-file handling.
    pub on_corrupt: OnCorrupt,
    /// Capacity, TTL and gossip batch for the in-memory store.
    pub store: crate::store::StoreConfig,
    /// Flush interval.
    pub save_interval: std::time::Duration,
}

impl Config {
    /// Parses and validates TOML (a whole TheNodes config; unknown keys outside our tables are
    /// ignored).
    ///
    /// `enabled` means what it means in TheNodes (see [`PersistenceMode`]): no
    /// `[network.persistence]` table is off, a table without `enabled = true` is read-only,
    /// `enabled = true` reads and writes. The default realm is `[realm]`'s canonical code
    /// (`code`, else [`realm_code`] of `name`, as TheNodes derives it); the default directory
    /// is `[node].state_dir`.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let file: TheNodesFile = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        let default_realm = file.realm.map(canonical_realm_code).transpose()?;
        Config::from_persistence(
            file.network.and_then(|n| n.persistence),
            default_realm,
            file.node.and_then(|n| n.state_dir),
        )
    }

    /// A validated config from a host's own values: its persistence table (`None`: no table,
    /// persistence off), its realm's code (TheNodes' `RealmInfo::canonical_code()`, or
    /// [`realm_code`] of a name; `None`: the realms tables, else `default`), and its state
    /// directory (the default file is `<state_dir>/peers.json`, `data/peers.json` without one).
    ///
    /// ```
    /// use knownpeers::{Config, PersistenceConfig, PersistenceMode};
    /// let table = PersistenceConfig {
    ///     enabled: Some(true),
    ///     path: Some("data/{realm}.json".into()),
    ///     ..PersistenceConfig::default()
    /// };
    /// let config = Config::from_persistence(
    ///     Some(table),
    ///     Some(knownpeers::realm_code("Café Net")),
    ///     None,
    /// )
    /// .expect("valid");
    /// assert_eq!(config.mode(), PersistenceMode::ReadWrite);
    /// assert_eq!(config.default_realm.as_deref(), Some("cafe-net"));
    /// ```
    pub fn from_persistence(
        persistence: Option<PersistenceConfig>,
        default_realm: Option<String>,
        state_dir: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let config = Config {
            persistence,
            default_realm,
            state_dir,
        };
        config.validate()?;
        Ok(config)
    }

    /// Off, read-only or read-write (see [`PersistenceMode`]).
    pub fn mode(&self) -> PersistenceMode {
        match &self.persistence {
            None => PersistenceMode::Off,
            Some(PersistenceConfig {
                enabled: Some(true),
                ..
            }) => PersistenceMode::ReadWrite,
            Some(_) => PersistenceMode::ReadOnly,
        }
    }

    /// The `[network.persistence]` values in force (the defaults when there is no table).
    pub fn table(&self) -> &PersistenceConfig {
        self.persistence.as_ref().unwrap_or(&DEFAULT_TABLE)
    }

    /// Reads, parses and validates a config file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                path.display().to_string(),
                format!("cannot read the config file: {e}"),
            )
        })?;
        Config::from_toml_str(&text).map_err(|e| ConfigError {
            what: format!("{} (in {})", e.what, path.display()),
            key: e.key,
        })
    }

    /// Validates every rule of DESIGN.md: `save_interval_secs` in 1 s ..= 365 days,
    /// `max_entries` in 1 ..= FORMAT.md's entry-count limit, every
    /// realm a safe file-name component, at most one realm per resolved path, every sealed
    /// realm with exactly one key source, KDF parameters at or above the writer's minimum, and
    /// no policy that would refuse its own files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = self.table();
        if p.save_interval_secs == 0 {
            return Err(ConfigError::new(
                format!("{TABLE}.save_interval_secs"),
                "must be at least 1 (seconds between saves); 0 would never save",
            ));
        }
        if p.save_interval_secs > MAX_SAVE_INTERVAL_SECS {
            return Err(ConfigError::new(
                format!("{TABLE}.save_interval_secs"),
                format!(
                    "{} is over the maximum of {MAX_SAVE_INTERVAL_SECS} (365 days)",
                    p.save_interval_secs
                ),
            ));
        }
        if p.max_entries == 0 {
            return Err(ConfigError::new(
                format!("{TABLE}.max_entries"),
                "must be at least 1; a store that holds nothing cannot remember peers",
            ));
        }
        if p.max_entries as u64 > knownpeers_codecs::MAX_ENTRY_COUNT {
            return Err(ConfigError::new(
                format!("{TABLE}.max_entries"),
                format!(
                    "{} is over the {} entries a peer file may hold (FORMAT.md); lower it",
                    p.max_entries,
                    knownpeers_codecs::MAX_ENTRY_COUNT
                ),
            ));
        }
        if let Some(path) = &p.path {
            check_path_template(path, &format!("{TABLE}.path"))?;
        }
        if let Some(code) = &self.default_realm {
            check_realm_code(code, "realm")?;
        }
        let mut by_path: BTreeMap<PathBuf, String> = BTreeMap::new();
        for realm in self.realm_codes() {
            let settings = self.realm_settings(&realm)?;
            if let Some(other) = by_path.insert(settings.path.clone(), realm.clone()) {
                return Err(ConfigError::new(
                    self.path_key(&realm),
                    format!(
                        "realms {other:?} and {realm:?} would share the file {}; put {REALM_PLACEHOLDER} in the path or give each realm its own path",
                        settings.path.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every realm the config names: the `realms` tables and `[realm]`; TheNodes' `default`
    /// when it names none.
    pub(crate) fn realm_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.table().realms.keys().cloned().collect();
        match &self.default_realm {
            Some(code) if !codes.contains(code) => codes.push(code.clone()),
            Some(_) => {}
            None if codes.is_empty() => codes.push(FALLBACK_REALM.to_owned()),
            None => {}
        }
        codes.sort();
        codes
    }

    /// The config key a realm's path comes from (for error messages).
    fn path_key(&self, realm: &str) -> String {
        match self.table().realms.get(realm) {
            Some(t) if t.path.is_some() => format!("{TABLE}.realms.{realm}.path"),
            _ => format!("{TABLE}.path"),
        }
    }

    /// One realm's resolved, validated settings. A realm without a table gets the defaults of
    /// `[network.persistence]`.
    pub(crate) fn realm_settings(&self, realm: &str) -> Result<RealmSettings, ConfigError> {
        let p = self.table();
        let table_key = format!("{TABLE}.realms.{realm}");
        check_realm_code(realm, &table_key)?;
        let empty = RealmPolicyConfig::default();
        let t = p.realms.get(realm).unwrap_or(&empty);

        let template = match (&t.path, &p.path) {
            (Some(path), _) => {
                check_path_template(path, &format!("{table_key}.path"))?;
                path.clone()
            }
            (None, Some(path)) => path.clone(),
            (None, None) => {
                let dir = self
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(FALLBACK_STATE_DIR));
                dir.join(DEFAULT_FILE_NAME).to_string_lossy().into_owned()
            }
        };
        let path = PathBuf::from(template.replace(REALM_PLACEHOLDER, realm));

        let codec = t.codec.unwrap_or(p.codec);
        let codec_key = if t.codec.is_some() {
            format!("{table_key}.codec")
        } else {
            format!("{TABLE}.codec")
        };
        let key =
            match (&t.key_file, &t.passphrase_env) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        table_key,
                        "give either key_file or passphrase_env, not both",
                    ))
                }
                (Some(file), None) => Some(KeySource::File(file.clone())),
                (None, Some(var)) if var.is_empty() => return Err(ConfigError::new(
                    format!("{table_key}.passphrase_env"),
                    "names no environment variable; give the variable that holds the passphrase",
                )),
                (None, Some(var)) => Some(KeySource::Env(var.clone())),
                (None, None) => None,
            };
        if codec == CodecKind::Sealed && key.is_none() {
            return Err(ConfigError::new(
                codec_key,
                format!(
                    "a sealed realm needs a key source: set key_file or passphrase_env in [{table_key}]"
                ),
            ));
        }
        let kdf = knownpeers_keys::KdfParams {
            m_cost_kib: t
                .kdf_m_kib
                .unwrap_or(knownpeers_keys::KdfParams::DEFAULT.m_cost_kib),
            t_cost: t
                .kdf_t
                .unwrap_or(knownpeers_keys::KdfParams::DEFAULT.t_cost),
            p_cost: t
                .kdf_p
                .unwrap_or(knownpeers_keys::KdfParams::DEFAULT.p_cost),
        };
        let kdf_given = t.kdf_m_kib.is_some() || t.kdf_t.is_some() || t.kdf_p.is_some();
        match &key {
            Some(KeySource::Env(_)) => check_kdf(&kdf, &table_key)?,
            _ if kdf_given => return Err(ConfigError::new(
                table_key,
                "kdf_m_kib/kdf_t/kdf_p apply only to a passphrase (passphrase_env); remove them",
            )),
            _ => {}
        }
        let require_encryption = t.require_encryption.unwrap_or(codec == CodecKind::Sealed);
        if require_encryption && codec != CodecKind::Sealed {
            return Err(ConfigError::new(
                format!("{table_key}.require_encryption"),
                format!(
                    "true, but the realm writes {codec:?}, so it would refuse its own file; set codec = \"sealed\" or require_encryption = false"
                ),
            ));
        }
        Ok(RealmSettings {
            realm: realm.to_owned(),
            path,
            codec,
            codec_explicit: t.codec.is_some(),
            key,
            kdf,
            require_encryption,
            on_corrupt: p.on_corrupt,
            store: crate::store::StoreConfig {
                max_entries: p.max_entries,
                ttl_secs: p.ttl_secs,
                max_gossip_batch: p.max_gossip_batch,
                ..crate::store::StoreConfig::default()
            },
            save_interval: std::time::Duration::from_secs(p.save_interval_secs),
        })
    }
}

/// A realm code usable as a file-name component: 1..=255 bytes of ASCII letters, digits, `-`,
/// `_`, `.`, not starting with `.` (so never `.`, `..` or a hidden file).
pub(crate) fn is_safe_realm(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= knownpeers_codecs::MAX_REALM_LEN
        && !code.starts_with('.')
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_realm_code(code: &str, key: &str) -> Result<(), ConfigError> {
    if is_safe_realm(code) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!(
                "realm {code:?} is not a safe file-name component; use 1 to 255 ASCII letters, digits, '-', '_' or '.', not starting with '.' (knownpeers::realm_code turns a realm name into TheNodes' code)"
            ),
        ))
    }
}

fn check_path_template(path: &str, key: &str) -> Result<(), ConfigError> {
    if path.is_empty() {
        return Err(ConfigError::new(
            key,
            "is empty; give a file path such as \"data/peers-{realm}.json\"",
        ));
    }
    Ok(())
}

/// The writer's floor, naming the parameter that is too weak.
fn check_kdf(kdf: &knownpeers_keys::KdfParams, table_key: &str) -> Result<(), ConfigError> {
    use knownpeers_keys::KdfParams;
    if kdf.m_cost_kib < KdfParams::WRITER_MIN_M_KIB {
        return Err(ConfigError::new(
            format!("{table_key}.kdf_m_kib"),
            format!(
                "{} KiB is below the writer's minimum of {} KiB (19 MiB); raise it",
                kdf.m_cost_kib,
                KdfParams::WRITER_MIN_M_KIB
            ),
        ));
    }
    if kdf.t_cost < KdfParams::WRITER_MIN_T {
        return Err(ConfigError::new(
            format!("{table_key}.kdf_t"),
            format!(
                "{} is below the writer's minimum of {}; raise it",
                kdf.t_cost,
                KdfParams::WRITER_MIN_T
            ),
        ));
    }
    if kdf.p_cost == 0 || kdf.p_cost > KdfParams::MAX_P {
        return Err(ConfigError::new(
            format!("{table_key}.kdf_p"),
            format!("{} is outside 1..={}", kdf.p_cost, KdfParams::MAX_P),
        ));
    }
    kdf.check_bounds()
        .and_then(|()| kdf.check_writer_minimum())
        .map_err(|e| ConfigError::new(table_key, e.to_string()))
}

/// TheNodes' `RealmInfo::canonical_code`: `code` if given, else [`realm_code`] of `name`.
fn canonical_realm_code(t: RealmTable) -> Result<String, ConfigError> {
    if let Some(code) = t.code {
        return Ok(code);
    }
    let name = t.name.ok_or_else(|| {
        ConfigError::new("realm.name", "missing; give the realm's name (or its code)")
    })?;
    Ok(realm_code(&name))
}

/// The realm code TheNodes 0.4.0 derives from a realm name (`RealmInfo::canonical_code` of a
/// realm without an explicit `code`, i.e. `to_kebab_ascii_strict`), character for character:
/// ASCII letters and digits lowercased; `ü`/`Ü` become `ue`; other Latin letters (Latin-1
/// Supplement and Latin Extended A-E) transliterated with `deunicode`; every other character
/// a separator; runs of separators one `-`, trimmed at both ends; `default` if nothing is left.
///
/// ```
/// assert_eq!(knownpeers::realm_code("Café Net"), "cafe-net");
/// assert_eq!(knownpeers::realm_code("Smörgåsbord für"), "smorgasbord-fuer");
/// assert_eq!(knownpeers::realm_code("こんにちは"), "default");
/// ```
///
/// The result uses only `a-z`, `0-9` and `-`, so it is a safe file-name component whenever it
/// is at most 255 bytes long (a longer one is refused by [`Config::validate`]).
pub fn realm_code(name: &str) -> String {
    fn is_latin(c: char) -> bool {
        let u = c as u32;
        (0x00C0..=0x00FF).contains(&u)
            || (0x0100..=0x017F).contains(&u)
            || (0x0180..=0x024F).contains(&u)
            || (0x1E00..=0x1EFF).contains(&u)
            || (0x2C60..=0x2C7F).contains(&u)
            || (0xA720..=0xA7FF).contains(&u)
    }
    let mut out = String::with_capacity(name.len());
    let mut last_dash = false;
    fn separator(out: &mut String, last_dash: &mut bool) {
        if !*last_dash {
            out.push('-');
            *last_dash = true;
        }
    }
    for ch in name.chars() {
        if ch.is_ascii() {
            let lc = ch.to_ascii_lowercase();
            if lc.is_ascii_alphanumeric() {
                out.push(lc);
                last_dash = false;
            } else {
                separator(&mut out, &mut last_dash);
            }
        } else if ch == 'ü' || ch == 'Ü' {
            out.push_str("ue");
            last_dash = false;
        } else if is_latin(ch) {
            let mut pushed_any = false;
            for tc in deunicode::deunicode_char(ch).unwrap_or("").chars() {
                let lc = tc.to_ascii_lowercase();
                if lc.is_ascii_alphanumeric() {
                    out.push(lc);
                    last_dash = false;
                    pushed_any = true;
                }
            }
            if !pushed_any {
                separator(&mut out, &mut last_dash);
            }
        } else {
            separator(&mut out, &mut last_dash);
        }
    }
    let code = out.trim_matches('-');
    if code.is_empty() {
        FALLBACK_REALM.to_owned()
    } else {
        code.to_owned()
    }
}

/// A TOML error as a [`ConfigError`] whose key is the dotted key on the line the error points
/// at (the nearest `[table]` header above it plus the key before `=`), or `toml` when the
/// error has no position.
fn parse_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let what = e.message().trim().to_owned();
    let Some(span) = e.span() else {
        return ConfigError::new("toml", what);
    };
    let before = &text[..span.start.min(text.len())];
    let line_no = before.matches('\n').count();
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_no).copied().unwrap_or("").trim();
    let table = lines[..line_no.min(lines.len())]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let key = if line.starts_with('[') {
        line.trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned()
    } else {
        let name = line.split('=').next().unwrap_or("").trim();
        match (table, name.is_empty()) {
            (Some(t), false) => format!("{t}.{name}"),
            (Some(t), true) => t,
            (None, false) => name.to_owned(),
            (None, true) => "toml".to_owned(),
        }
    };
    ConfigError::new(key, format!("{what} (line {})", line_no + 1))
}
