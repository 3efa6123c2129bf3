//! The advisory lock `<path>.lock` held while a store is open, so two processes never write one
//! file. Never locks the data file itself (it is replaced by rename, which would orphan a lock
//! held on the old inode), and never deletes the lock file (deleting it would let two processes
//! lock two different inodes of the same name).
//!
//! The lock is `flock(2)` through rustix (std's `File::try_lock`, the same call, needs Rust 1.89,
//! above the crate's MSRV of 1.83): it belongs to the open file, so the kernel drops it when the
//! holder exits for any reason, SIGKILL included, and a second open in the same process
//! conflicts just like another process does.
//!
//! Because the lock belongs to the open file description, a child process that another thread
//! forks shares it from its fork until its exec closes the descriptor (`O_CLOEXEC`). A store
//! reopened right after it was closed can meet that window (measured here: up to ~0.3 ms, about
//! one relock in ten while another thread spawns processes), so a contended lock is retried for
//! a bounded ~150 ms before it counts as held: far shorter than any real holder keeps it.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;

/// A held lock; released on drop (and by the OS when the process dies).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Takes the lock for data file `path` ([`Error::Locked`] if another holder keeps it past a
    /// short bounded retry; see the module docs).
    ///
    /// Creates `<path>.lock` (mode 0600, empty) if missing; the directory must exist.
    pub fn acquire(path: &Path) -> Result<StoreLock, Error> {
        let lock = lock_path(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock)
            .map_err(|source| Error::Io {
                path: lock.clone(),
                source,
            })?;
        let mut pauses = CONTENDED_RETRY_MS.iter();
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    return Ok(StoreLock {
                        _file: file,
                        path: lock,
                    })
                }
                Err(rustix::io::Errno::WOULDBLOCK) => match pauses.next() {
                    Some(&ms) => std::thread::sleep(Duration::from_millis(ms)),
                    None => {
                        return Err(Error::Locked {
                            path: path.into(),
                            lock,
                        })
                    }
                },
                Err(errno) => {
                    return Err(Error::Io {
                        path: lock,
                        source: errno.into(),
                    })
                }
            }
        }
    }
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Pauses between attempts on a contended lock (see the module docs): ~150 ms in all.
const CONTENDED_RETRY_MS: [u64; 6] = [1, 2, 5, 10, 30, 100];

/// `<path>.lock`: the data file's name with `.lock` appended (`peers.json` -> `peers.json.lock`).
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}
