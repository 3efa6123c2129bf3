//! How a failed command ends: one exit code (DESIGN.md's table, taken from
//! [`knownpeers::Error::exit_code`]) and one stderr line that names the file and says what to do.
//! It must never print a key, a passphrase or a peer list: messages are built only from the
//! library's error `Display`s (which carry none) and fixed hint text.

use std::fmt;
use std::path::{Path, PathBuf};

use knownpeers_codecs::ErrorKind;

use knownpeers::Error;

/// Exit code of a usage error (clap's own errors exit with the same code).
pub(crate) const EXIT_USAGE: i32 = 2;
/// Exit code of an I/O or otherwise unclassified error.
pub(crate) const EXIT_OTHER: i32 = 1;

/// Which flags supply the key for the file an error is about, so a hint names the right ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFlags {
    /// `--key-file`, `--passphrase-env`, `--passphrase-file`.
    Plain,
    /// `--in-key-file`, `--in-passphrase-env`, `--in-passphrase-file` (convert's input).
    In,
}

impl KeyFlags {
    fn names(self) -> &'static str {
        match self {
            KeyFlags::Plain => "--key-file, --passphrase-env or --passphrase-file",
            KeyFlags::In => "--in-key-file, --in-passphrase-env or --in-passphrase-file",
        }
    }
}

/// A command's failure: the exit code and the one line printed to stderr.
#[derive(Debug)]
pub(crate) struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// A failure with an explicit exit code.
    pub fn coded(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// An unclassified error (exit 1).
    pub fn other(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_OTHER,
            message: message.into(),
        }
    }

    /// An error of the library, classified by [`Error::exit_code`], with a hint for the fix
    /// where the library's message does not already give one.
    pub fn from_error(err: &Error, flags: KeyFlags) -> Failure {
        let code = err.exit_code();
        let mut message = err.to_string();
        if let Some(hint) = hint(err, code, flags) {
            message.push_str("; ");
            message.push_str(&hint);
        }
        Failure { code, message }
    }

    /// A codec error about `path`.
    pub fn format(path: &Path, source: knownpeers_codecs::Error, flags: KeyFlags) -> Failure {
        Failure::from_error(
            &Error::Format {
                path: path.to_path_buf(),
                source,
            },
            flags,
        )
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Failure {
        Failure::from_error(
            &Error::Io {
                path: path.into(),
                source,
            },
            KeyFlags::Plain,
        )
    }

    /// A key-material error (key file, passphrase, KDF parameters).
    pub fn key(source: knownpeers_keys::Error, flags: KeyFlags) -> Failure {
        Failure::from_error(&Error::Key(source), flags)
    }

    /// The exit code.
    pub fn code(&self) -> i32 {
        self.code
    }
}

impl fmt::Display for Failure {
    /// One line: any line break in a nested message becomes a space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one_line: String = self
            .message
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        write!(f, "error: {one_line}")
    }
}

/// The fix for a classified error, when the library's message does not already say it.
fn hint(err: &Error, code: i32, flags: KeyFlags) -> Option<String> {
    let source = match err {
        Error::Format { source, .. } => source,
        // Key, lock, directory and I/O errors already name their fix (`chmod 600`, `keygen`,
        // "stop the other process", the OS's reason).
        _ => return None,
    };
    if let knownpeers_codecs::Error::MissingKey = source {
        return Some(format!("use {}", flags.names()));
    }
    // NotPeerFile, Unsupported and RealmMismatch messages already end with their fix.
    let text = match source.kind() {
        ErrorKind::Corrupt => {
            "the file is damaged or was tampered with; it was left unchanged: restore it from a \
             backup"
                .to_string()
        }
        ErrorKind::WrongKey => format!(
            "pass the key or passphrase the file was sealed with ({})",
            flags.names()
        ),
        ErrorKind::LimitExceeded => {
            "refused before any costly work; the file was left unchanged".to_string()
        }
        ErrorKind::PolicyViolation => "the realm's policy forbids this format".to_string(),
        _ => match code {
            EXIT_USAGE => "pass --realm REALM".to_string(),
            _ => return None,
        },
    };
    Some(text)
}
