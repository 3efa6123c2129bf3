//! The one atomic write path for every file knownpeers writes: a unique `O_EXCL` 0600 temp file
//! in the target's directory, write all, `sync_all`, rename, fsync the directory. It must never
//! leave the target half-written or a temp file behind on error, and it knows nothing of formats,
//! locks or tokio (callers serialize saves of one target and hold its lock).
//!
//! Invariant: at every instant the target is either its old contents or the complete new
//! contents, because the only operation that touches the target is one `rename(2)` of a file
//! that was fully written and fsynced before.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// Distinguishes temp files of one process; with the pid it makes the name unique per save.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How often a name clash (a stale temp of a recycled pid) is retried with the next counter.
const CREATE_ATTEMPTS: u32 = 1024;

/// Writes `bytes` to `path` atomically and durably.
///
/// Errors: [`Error::IsADirectory`] when `path` is a directory (nothing is written),
/// [`Error::Io`] when creating, writing, syncing or renaming the temp file fails (the temp file
/// is removed and the target is untouched), [`Error::NotDurable`] when the rename happened but
/// the directory fsync failed (the new contents are in place but may not survive a power loss).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let (dir, name) = split(path)?;
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(Error::IsADirectory { path: path.into() });
    }
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let (tmp, mut file) = create_temp(&dir, &name).map_err(io)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    // Closed before the rename: nothing may write to the file once it carries the target's name.
    drop(file);
    if let Err(source) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        // Best effort: the temp may already be gone if the rename half-happened, and an error
        // removing it must not hide the error that matters.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(source));
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::NotDurable {
            path: path.into(),
            source,
        })
}

/// Removes temp files a crashed save of `path` left behind; returns how many.
///
/// Only names of the form `.NAME.tmp.*` in the target's directory are touched. Call it only
/// while holding the target's [`crate::StoreLock`], so no live save's temp file is removed.
/// A missing directory has no stale temps.
pub fn remove_stale_temps(path: &Path) -> Result<usize, Error> {
    let (dir, name) = split(path)?;
    let prefix = temp_prefix(&name);
    let io = |source| Error::Io {
        path: dir.clone(),
        source,
    };
    let listing = match std::fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e)),
    };
    let mut removed = 0;
    for entry in listing {
        let entry = entry.map_err(io)?;
        // A directory of that name is no temp file this saver made: left alone.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir && entry.file_name().as_encoded_bytes().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        path: entry.path(),
                        source,
                    })
                }
            }
        }
    }
    Ok(removed)
}

/// The target's directory (`.` for a bare file name) and file name.
fn split(path: &Path) -> Result<(PathBuf, OsString), Error> {
    // A path without a final normal component (`/`, `..`, `dir/..`) names a directory.
    let name = path
        .file_name()
        .ok_or_else(|| Error::IsADirectory { path: path.into() })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_os_string()))
}

/// `.NAME.tmp.` as bytes: the prefix of every temp file of target `NAME`.
fn temp_prefix(name: &OsString) -> Vec<u8> {
    let mut prefix = b".".to_vec();
    prefix.extend_from_slice(name.as_encoded_bytes());
    prefix.extend_from_slice(b".tmp.");
    prefix
}

/// Creates `.NAME.tmp.<pid>.<n>` with `O_EXCL` and mode 0600 (before umask). `O_EXCL` means a
/// leftover of a dead process with the same pid is never reused, only skipped.
fn create_temp(dir: &Path, name: &OsString) -> std::io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut attempt = 0;
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp.{pid}.{n}"));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < CREATE_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
