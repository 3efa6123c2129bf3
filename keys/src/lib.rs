//! Key material for knownpeers, and nothing else: this crate knows nothing of peers or files
//! other than key files.
//!
//! The primary types are [`Key`] (32 secret bytes, zeroized on drop, never printed) and
//! [`KdfParams`] (Argon2id costs, bounded before any work is done). A key comes from a key file
//! ([`read_key_file`]), from a fresh random draw ([`Key::generate`], saved with
//! [`write_key_file`]), or from a passphrase ([`derive_argon2id`]) read from an environment
//! variable or a file ([`passphrase_from_env`], [`passphrase_from_file`]).
//!
//! ```
//! use knownpeers_keys::{Key, KdfParams, derive_argon2id};
//! use secrecy::SecretString;
//!
//! let pass = SecretString::from("correct horse battery staple");
//! let params = KdfParams { m_cost_kib: 1024, t_cost: 1, p_cost: 1 };
//! let key: Key = derive_argon2id(&pass, &[7u8; 16], &params).unwrap();
//! assert_eq!(format!("{key:?}"), "Key(<redacted>)");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

pub use secrecy::{ExposeSecret, SecretString};

/// Length of every key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of an Argon2id salt as FORMAT.md stores it.
pub const SALT_LEN: usize = 16;
/// First line of a key file.
pub const KEY_FILE_HEADER: &str = "knownpeers-key-v1";

/// 32 secret bytes. Zeroized on drop; not `Clone`, not `Serialize`; `Debug` prints
/// `Key(<redacted>)`.
pub struct Key(zeroize::Zeroizing<[u8; KEY_LEN]>);

impl Key {
    /// Wraps raw bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(zeroize::Zeroizing::new(bytes))
    }
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Key, Error> {
        unimplemented!()
    }
    /// The secret bytes, for the one primitive that needs them.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Argon2id cost parameters as FORMAT.md stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// RFC 9106's second recommendation: m = 64 MiB, t = 3, p = 4. The writer default.
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost_kib: 65536,
        t_cost: 3,
        p_cost: 4,
    };
    /// The weakest parameters a writer accepts (m = 19 MiB, t = 2).
    pub const WRITER_MIN_M_KIB: u32 = 19 * 1024;
    /// See [`KdfParams::WRITER_MIN_M_KIB`].
    pub const WRITER_MIN_T: u32 = 2;
    /// Reader bound: m_cost at most 1 GiB (in KiB).
    pub const MAX_M_KIB: u32 = 1_048_576;
    /// Reader bound: t_cost at most 10.
    pub const MAX_T: u32 = 10;
    /// Reader bound: p_cost at most 16.
    pub const MAX_P: u32 = 16;

    /// FORMAT.md reader bounds: `8 * p <= m <= 1048576`, `1 <= t <= 10`, `1 <= p <= 16`.
    /// Checked before any derivation, so a file cannot make a reader spend unbounded work.
    pub fn check_bounds(&self) -> Result<(), Error> {
        unimplemented!()
    }
    /// The writer's floor on top of [`KdfParams::check_bounds`]: refuses parameters below
    /// m = 19 MiB with t = 2 (weaker than OWASP's minimum).
    pub fn check_writer_minimum(&self) -> Result<(), Error> {
        unimplemented!()
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// Argon2id version 0x13 of `passphrase` with `salt`, 32-byte output (RFC 9106).
/// Checks [`KdfParams::check_bounds`] first and does no work when they fail.
pub fn derive_argon2id(
    passphrase: &SecretString,
    salt: &[u8; SALT_LEN],
    params: &KdfParams,
) -> Result<Key, Error> {
    let _ = (passphrase, salt, params);
    unimplemented!()
}

/// A fresh random salt.
pub fn random_salt() -> Result<[u8; SALT_LEN], Error> {
    unimplemented!()
}

/// Parses key-file text (FORMAT.md "Key files"); `path` only names the file in errors.
pub fn parse_key_file(text: &[u8], path: &Path) -> Result<Key, Error> {
    let _ = (text, path);
    unimplemented!()
}

/// Reads a key file, refusing one that group or others may read or write.
pub fn read_key_file(path: &Path) -> Result<Key, Error> {
    let _ = path;
    unimplemented!()
}

/// Writes `key` as a new key file: `create_new`, mode 0600, fsynced; refuses to overwrite.
pub fn write_key_file(path: &Path, key: &Key) -> Result<(), Error> {
    let _ = (path, key);
    unimplemented!()
}

/// The passphrase in environment variable `var` (missing or empty is an error).
pub fn passphrase_from_env(var: &str) -> Result<SecretString, Error> {
    let _ = var;
    unimplemented!()
}

/// The passphrase in a file (one trailing newline stripped; empty is an error).
pub fn passphrase_from_file(path: &Path) -> Result<SecretString, Error> {
    let _ = path;
    unimplemented!()
}

/// Everything that can go wrong with key material. No variant carries secret bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a key or passphrase file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file may be read or written by group or others.
    #[error("{}: key file permissions {mode:04o} are too open; run `chmod 600 {}`", path.display(), path.display())]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The key file is not in the `knownpeers-key-v1` format.
    #[error("{}: not a knownpeers key file ({what}); create one with `knownpeers keygen`", path.display())]
    MalformedKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the key bytes).
        what: &'static str,
    },
    /// The key file already exists.
    #[error("{}: already exists; refusing to overwrite a key file", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// The passphrase environment variable is unset or empty.
    #[error("environment variable {var} is not set or empty; export the realm's passphrase in it")]
    MissingPassphrase {
        /// The variable's name.
        var: String,
    },
    /// The passphrase file is empty.
    #[error("{}: passphrase file is empty", path.display())]
    EmptyPassphraseFile {
        /// The file.
        path: PathBuf,
    },
    /// KDF parameters outside FORMAT.md's reader bounds (refused before any work).
    #[error("Argon2id parameters out of bounds: {what}")]
    KdfBounds {
        /// Which bound.
        what: String,
    },
    /// KDF parameters below the writer's floor.
    #[error("Argon2id parameters too weak to write: {what}")]
    WeakKdf {
        /// Which floor.
        what: String,
    },
    /// The Argon2 implementation failed (e.g. memory allocation).
    #[error("Argon2id failed: {0}")]
    Kdf(String),
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}
