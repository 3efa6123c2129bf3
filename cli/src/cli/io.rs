//! The CLI's file and terminal I/O: reading an input file under FORMAT.md's size limit, printing
//! to stdout (a closed pipe is success), and the clock. It must not write peer files: every
//! write goes through the one atomic saver, `knownpeers::write_atomic`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use knownpeers_codecs::MAX_FILE_SIZE;

use super::error::{Failure, KeyFlags};
use knownpeers::Error;

/// A whole input file in memory, with its modification time (legacy files take `last_seen`
/// from it when `last_success_epoch` is null).
pub(crate) struct Input {
    /// The path as the user gave it (named in every error).
    pub path: PathBuf,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Modification time, unix seconds (0 if the OS cannot tell).
    pub mtime: u64,
}

/// Reads `path` whole, refusing a file over FORMAT.md's 1 GiB limit before allocating it.
pub(crate) fn read_input(path: &Path) -> Result<Input, Failure> {
    let file = std::fs::File::open(path).map_err(|e| Failure::io(path, e))?;
    let meta = file.metadata().map_err(|e| Failure::io(path, e))?;
    if meta.is_dir() {
        return Err(Failure::from_error(
            &Error::IsADirectory {
                path: path.to_path_buf(),
            },
            KeyFlags::Plain,
        ));
    }
    let too_large = || {
        Failure::format(
            path,
            knownpeers_codecs::Error::LimitExceeded {
                what: format!("file is larger than {MAX_FILE_SIZE} bytes"),
            },
            KeyFlags::Plain,
        )
    };
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_large());
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    // The file may grow between metadata and read; `take` keeps the limit exact anyway.
    let capacity = usize::try_from(meta.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large());
    }
    Ok(Input {
        path: path.to_path_buf(),
        bytes,
        mtime,
    })
}

/// Writes `bytes` to stdout and flushes. A reader that went away (`| head`) is not an error:
/// the command succeeded as far as anyone can see, so it exits 0, as ripgrep does.
pub(crate) fn emit(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::io("<stdout>", e)),
    }
}

/// The current unix time in seconds (a file's `saved_at`).
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` as an RFC 3339 UTC timestamp, e.g. `2025-11-24T16:00:00Z` (civil-from-days, Howard
/// Hinnant's algorithm; exact for every u64 second count that fits a year of i64).
pub(crate) fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn rfc3339_known_instants() {
        for (secs, expected) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_764_000_000, "2025-11-24T16:00:00Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
        ] {
            assert_eq!(rfc3339_utc(secs), expected, "{secs}");
        }
    }
}
