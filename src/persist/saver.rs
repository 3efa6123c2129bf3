//! The one atomic write path for every file knownpeers writes: a unique `O_EXCL` 0600 temp file
//! in the target's directory, write all, `sync_all`, rename, fsync the directory. It must never
//! leave the target half-written or a temp file behind on error.

use std::path::Path;

use crate::Error;

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let _ = (path, bytes);
    unimplemented!()
}

/// Removes temp files a crashed save of `path` left behind; returns how many.
pub fn remove_stale_temps(path: &Path) -> Result<usize, Error> {
    let _ = path;
    unimplemented!()
}
