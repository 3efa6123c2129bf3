//! The advisory lock `<path>.lock` held while a store is open, so two processes never write one
//! file. Never locks the data file itself (it is replaced by rename).

use std::path::{Path, PathBuf};

use crate::Error;

/// A held lock; released on drop (and by the OS when the process dies).
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl StoreLock {
    /// Takes the lock for data file `path` without waiting ([`Error::Locked`] if held).
    pub fn acquire(path: &Path) -> Result<StoreLock, Error> {
        let _ = path;
        unimplemented!()
    }
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
