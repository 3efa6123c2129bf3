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
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use knownpeers_keys::{derive_argon2id, KdfParams, Key, SecretString};
//!
//! let pass = SecretString::from("correct horse battery staple");
//! let params = KdfParams { m_cost_kib: 1024, t_cost: 1, p_cost: 1 };
//! let key: Key = derive_argon2id(&pass, &[7u8; 16], &params)?;
//! assert_eq!(format!("{key:?}"), "Key(<redacted>)");
//! # Ok(())
//! # }
//! ```
//!
//! A key file is written once, private, and read back only while it stays private:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use knownpeers_keys::{read_key_file, write_key_file, Error, Key};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("realm.key");
//! let key = Key::generate()?;
//! write_key_file(&path, &key)?; // mode 0600, never overwrites
//! assert_eq!(read_key_file(&path)?.expose(), key.expose());
//! assert!(matches!(write_key_file(&path, &key), Err(Error::AlreadyExists { .. })));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub use secrecy::{ExposeSecret, SecretString};

/// Length of every key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of an Argon2id salt as FORMAT.md stores it.
pub const SALT_LEN: usize = 16;
/// First line of a key file.
pub const KEY_FILE_HEADER: &str = "knownpeers-key-v1";

/// The exact length of a key file without its optional final newline: the header line, its
/// newline, and 64 hex digits.
const KEY_FILE_LEN: usize = KEY_FILE_HEADER.len() + 1 + 2 * KEY_LEN;
/// Largest passphrase file read; anything longer is not a passphrase.
const MAX_PASSPHRASE_FILE: u64 = 64 * 1024;

/// 32 secret bytes. Zeroized on drop; not `Clone`, not `Serialize`; `Debug` prints
/// `Key(<redacted>)`.
pub struct Key(Zeroizing<[u8; KEY_LEN]>);

impl Key {
    /// Wraps raw bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(Zeroizing::new(bytes))
    }
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Key, Error> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(&mut bytes[..]).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Key(bytes))
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
        let KdfParams {
            m_cost_kib: m,
            t_cost: t,
            p_cost: p,
        } = *self;
        let what = if !(1..=Self::MAX_P).contains(&p) {
            format!("p_cost {p} is not in 1..={}", Self::MAX_P)
        } else if !(1..=Self::MAX_T).contains(&t) {
            format!("t_cost {t} is not in 1..={}", Self::MAX_T)
        } else if m > Self::MAX_M_KIB {
            format!("m_cost {m} KiB is over {} KiB", Self::MAX_M_KIB)
        } else if u64::from(m) < 8 * u64::from(p) {
            format!(
                "m_cost {m} KiB is under 8 * p_cost = {} KiB",
                8 * u64::from(p)
            )
        } else {
            return Ok(());
        };
        Err(Error::KdfBounds { what })
    }
    /// The writer's floor on top of [`KdfParams::check_bounds`]: refuses parameters below
    /// m = 19 MiB with t = 2 (weaker than OWASP's minimum).
    pub fn check_writer_minimum(&self) -> Result<(), Error> {
        self.check_bounds()?;
        if self.m_cost_kib < Self::WRITER_MIN_M_KIB {
            return Err(Error::WeakKdf {
                what: format!(
                    "m_cost {} KiB is under the minimum {} KiB",
                    self.m_cost_kib,
                    Self::WRITER_MIN_M_KIB
                ),
            });
        }
        if self.t_cost < Self::WRITER_MIN_T {
            return Err(Error::WeakKdf {
                what: format!(
                    "t_cost {} is under the minimum {}",
                    self.t_cost,
                    Self::WRITER_MIN_T
                ),
            });
        }
        Ok(())
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
    // Invariant: the bounds are checked before the argon2 crate sees the parameters, so a
    // hostile file header never reaches the allocation of m_cost KiB.
    params.check_bounds()?;
    let argon_params = argon2::Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        Some(KEY_LEN),
    )
    .map_err(|e| Error::KdfBounds {
        what: e.to_string(),
    })?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, &mut out[..])
        .map_err(|e| Error::Kdf(e.to_string()))?;
    Ok(Key(out))
}

/// A fresh random salt.
pub fn random_salt() -> Result<[u8; SALT_LEN], Error> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| Error::Random(e.to_string()))?;
    Ok(salt)
}

/// The value of one lowercase hex digit; uppercase and anything else are refused, because the
/// format allows exactly one spelling of a key.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Parses key-file text (FORMAT.md "Key files"); `path` only names the file in errors.
pub fn parse_key_file(text: &[u8], path: &Path) -> Result<Key, Error> {
    let malformed = |what: &'static str| Error::MalformedKeyFile {
        path: path.to_path_buf(),
        what,
    };
    let rest = text
        .strip_prefix(KEY_FILE_HEADER.as_bytes())
        .and_then(|r| r.strip_prefix(b"\n"))
        .ok_or_else(|| malformed("the first line is not `knownpeers-key-v1`"))?;
    let hex = match rest.len() {
        n if n == 2 * KEY_LEN => rest,
        n if n == 2 * KEY_LEN + 1 && rest[2 * KEY_LEN] == b'\n' => &rest[..2 * KEY_LEN],
        n if n < 2 * KEY_LEN => {
            return Err(malformed("the key line is shorter than 64 hex digits"))
        }
        _ => {
            return Err(malformed(
                "the key line must be exactly 64 hex digits and the file must end there",
            ))
        }
    };
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
            _ => return Err(malformed("the key line must be 64 lowercase hex digits")),
        }
    }
    Ok(Key(bytes))
}

/// Refuses a key or passphrase file that group or others may read or write (FORMAT.md, as
/// OpenSSH does for private keys).
#[cfg(unix)]
fn check_permissions(file: &std::fs::File, path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o066 != 0 {
        return Err(Error::InsecurePermissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_file: &std::fs::File, _path: &Path) -> Result<(), Error> {
    Ok(())
}

/// Opens `path` for reading without waiting: a FIFO with no writer or a device would block the
/// open itself (`O_NONBLOCK` makes it return at once, and is harmless on a regular file), and a
/// terminal must not become the process's controlling one (`O_NOCTTY`). The caller then
/// refuses anything that is not a regular file before reading a byte.
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32);
    }
    options.open(path)
}

/// Reads a key file, refusing one that group or others may read or write, and anything but a
/// regular file (a FIFO or a device is refused without blocking).
pub fn read_key_file(path: &Path) -> Result<Key, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = open_nonblocking(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(Error::MalformedKeyFile {
            path: path.to_path_buf(),
            what: "not a regular file",
        });
    }
    // The mode is taken from the open file, not the path, so it is the file that is read.
    check_permissions(&file, path)?;
    // One byte more than the longest valid file is enough to tell "too long" apart.
    let mut text = Zeroizing::new(Vec::with_capacity(KEY_FILE_LEN + 2));
    (&file)
        .take(KEY_FILE_LEN as u64 + 2)
        .read_to_end(&mut text)
        .map_err(io)?;
    parse_key_file(&text, path)
}

/// Writes `key` as a new key file: `create_new`, mode 0600, fsynced; refuses to overwrite.
pub fn write_key_file(path: &Path, key: &Key) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            io(source)
        }
    })?;
    let mut text = Zeroizing::new(String::with_capacity(KEY_FILE_LEN + 1));
    text.push_str(KEY_FILE_HEADER);
    text.push('\n');
    for byte in key.expose() {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    text.push('\n');
    let written = (|| {
        // The umask may have taken bits from the creation mode; set exactly 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    if let Err(source) = written {
        // A half-written key file would be refused later and block a retry: remove it.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(io(source));
    }
    sync_parent_dir(path).map_err(io)
}

/// Makes the new directory entry durable. Not possible (nor needed) on every platform.
fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Turns core dumps off for the rest of the process's life, for a process that holds key
/// material: a crash must not write a key, a passphrase or plaintext peers to a core file.
///
/// On Linux this sets the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`, which also keeps
/// other processes of the same user from attaching a debugger or reading its memory) and the
/// soft core-size limit to 0 (`setrlimit(RLIMIT_CORE)`; the hard limit is left alone); on
/// other Unix systems only the latter. It is not undone when the key is dropped: freed memory
/// may still hold copies that no zeroizing reached (the allocator's, the kernel's pages).
/// Idempotent and cheap; the first failure is returned, after both were tried.
pub fn disable_core_dumps() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let dumpable =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let dumpable: rustix::io::Result<()> = Ok(());
        let limit = getrlimit(Resource::Core);
        let core = setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: limit.maximum,
            },
        );
        dumpable.and(core).map_err(std::io::Error::from)
    }
    #[cfg(not(unix))]
    Ok(())
}

/// Copies `text` into an exactly sized secret; the caller's buffer zeroizes itself.
fn secret_from(text: &[u8], origin: impl FnOnce() -> String) -> Result<SecretString, Error> {
    let text =
        std::str::from_utf8(text).map_err(|_| Error::PassphraseNotUtf8 { origin: origin() })?;
    // Box<str>::from allocates exactly once with the final length, so no reallocation leaves
    // a copy of the passphrase behind in freed memory.
    Ok(SecretString::from(Box::<str>::from(text)))
}

/// The passphrase in environment variable `var` (missing or empty is an error). No error
/// repeats `var`: a user may have typed the passphrase where its variable's name belongs.
pub fn passphrase_from_env(var: &str) -> Result<SecretString, Error> {
    let missing = || Error::MissingPassphrase {
        var: var.to_string(),
    };
    let value = Zeroizing::new(
        std::env::var_os(var)
            .ok_or_else(missing)?
            .into_encoded_bytes(),
    );
    if value.is_empty() {
        return Err(missing());
    }
    secret_from(&value, || "the environment variable given".to_string())
}

/// The passphrase in a file (one trailing newline stripped; empty is an error). Like a key
/// file, it must be a regular file (a FIFO or a device is refused without blocking) that
/// group and others can neither read nor write.
pub fn passphrase_from_file(path: &Path) -> Result<SecretString, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = open_nonblocking(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(Error::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    check_permissions(&file, path)?;
    let mut text = Zeroizing::new(Vec::new());
    file.take(MAX_PASSPHRASE_FILE + 1)
        .read_to_end(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_PASSPHRASE_FILE {
        return Err(Error::PassphraseFileTooLarge {
            path: path.to_path_buf(),
        });
    }
    // One final newline, LF or CRLF, is how editors end a line; it is not part of the secret.
    let mut body: &[u8] = &text;
    if let Some(rest) = body.strip_suffix(b"\n") {
        body = rest.strip_suffix(b"\r").unwrap_or(rest);
    }
    if body.is_empty() {
        return Err(Error::EmptyPassphraseFile {
            path: path.to_path_buf(),
        });
    }
    secret_from(body, || path.display().to_string())
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
    /// The passphrase environment variable is unset or empty. The message does not repeat the
    /// variable's name: it may be a passphrase typed where the name belongs.
    #[error(
        "the passphrase environment variable given is not set or empty (its name is not \
         repeated, in case it is the passphrase itself); export the realm's passphrase in a \
         variable and give the variable's name"
    )]
    MissingPassphrase {
        /// The variable's name (never shown in the message).
        var: String,
    },
    /// A key or passphrase file that is not a regular file (a FIFO, a device, a directory).
    #[error("{}: not a regular file; point it at the passphrase file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
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
    /// The passphrase is not valid UTF-8.
    #[error("the passphrase in {origin} is not valid UTF-8")]
    PassphraseNotUtf8 {
        /// Where it came from (a variable name or a path, never the passphrase).
        origin: String,
    },
    /// The passphrase file is larger than any passphrase (64 KiB).
    #[error("{}: too large for a passphrase file (over 64 KiB); is it the right file?", path.display())]
    PassphraseFileTooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The Argon2 implementation failed (e.g. memory allocation).
    #[error("Argon2id failed: {0}")]
    Kdf(String),
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}
