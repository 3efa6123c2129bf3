//! The `knownpeers` command line (DESIGN.md "CLI knownpeers"): argument parsing, dispatch to
//! the commands, logging, and exit codes. Errors go to stderr as one line naming the file and
//! the fix; never a panic, never a secret. Exit codes are DESIGN.md's: 0 ok, 1 I/O or other,
//! 2 usage, 3 corrupt, 4 wrong or missing key, 5 realm mismatch, 6 unsupported version or codec,
//! 7 limit exceeded, 8 policy violation, 9 not a peer file, 10 locked.
//!
//! This module only parses, reads and prints; peer files are written only through the saver
//! (`knownpeers::write_atomic`, under the file's `StoreLock`) and key files only through
//! `knownpeers_keys::write_key_file`.

mod args;
mod commands;
mod error;
mod io;
mod read;

use std::io::Write;

use clap::Parser;

use args::{Cli, Command};
use error::{Failure, EXIT_USAGE};

/// Runs the CLI with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_failure(&err),
    };
    let result = match &cli.command {
        Command::Inspect(a) => guarded(|| commands::inspect(a)),
        Command::Export(a) => guarded(|| commands::export(a)),
        Command::Convert(a) => guarded(|| commands::convert(a)),
        Command::Verify(a) => guarded(|| commands::verify(a)),
        Command::Keygen(a) => guarded(|| commands::keygen(a)),
        Command::Demo(a) => return crate::demo::run(a),
    };
    match result {
        Ok(()) => 0,
        Err(failure) => {
            tracing::debug!(code = failure.code(), "command failed");
            print_stderr(&failure.to_string());
            failure.code()
        }
    }
}

/// Where the last panic happened (set by the hook [`guarded`] installs).
static PANIC_AT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Runs a command so that a bug still ends as one error line and exit 1, not a backtrace. The
/// line says where the panic happened but not its message, which could quote a value. Writes
/// are atomic, so no file is half-written whatever the command was doing.
fn guarded(
    command: impl FnOnce() -> Result<(), Failure> + std::panic::UnwindSafe,
) -> Result<(), Failure> {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()));
        if let Ok(mut slot) = PANIC_AT.lock() {
            *slot = at;
        }
    }));
    std::panic::catch_unwind(command).unwrap_or_else(|_| {
        let at = PANIC_AT
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_default();
        Err(Failure::other(format!(
            "internal error{at}; this is a bug in knownpeers, please report it (no file was \
             half-written)"
        )))
    })
}

/// Logs to stderr only when `RUST_LOG` is set (the CLI's output is its stdout and its one
/// error line; nothing else by default).
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    // A second initialisation (e.g. by the demo) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

/// A line on stderr; a closed stderr is ignored (there is nowhere left to report it).
fn print_stderr(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A non-fatal note on stderr.
fn warn(line: &str) {
    print_stderr(&format!("warning: {line}"));
}

/// clap's outcome: help and version go to stdout with exit 0; a missing subcommand prints the
/// help to stderr with exit 2; every other parse error exits 2 with clap's message joined into
/// one line, the usage line last.
fn clap_failure(err: &clap::Error) -> i32 {
    use clap::error::ErrorKind;

    let rendered = err.render().to_string();
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match io::emit(rendered.as_bytes()) {
            Ok(()) => 0,
            Err(failure) => {
                print_stderr(&failure.to_string());
                failure.code()
            }
        },
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = std::io::stderr().lock().write_all(rendered.as_bytes());
            EXIT_USAGE
        }
        _ => {
            // clap's message spans a few lines (the error, its details, tips, the usage):
            // joined into one, the usage last, the "For more information" line dropped.
            let mut parts = Vec::new();
            let mut usage = None;
            for l in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if let Some(u) = l.strip_prefix("Usage:") {
                    usage = Some(u.trim().to_string());
                } else if !l.starts_with("For more information") {
                    parts.push(l.to_string());
                }
            }
            let mut line = if parts.is_empty() {
                "error: invalid arguments".to_string()
            } else {
                parts.join(" ")
            };
            if let Some(usage) = usage {
                line.push_str("; usage: ");
                line.push_str(&usage);
            }
            line.push_str("; see --help");
            print_stderr(&line);
            EXIT_USAGE
        }
    }
}
