//! The persistent store of one realm: open (lock, stale temps, load, quarantine, hydrate), the
//! flush task on tokio, `flush` and `close`; and [`Realms`], several realms from one config.
//!
//! Invariants:
//! - A failed open returns no store, so nothing can ever save over a file it refused; the only
//!   open-time change to the data file is the quarantine rename of a corrupt or
//!   unsupported-version file (unless `on_corrupt = "fail"`).
//! - Saves of one store are serialized by one tokio mutex; a snapshot is taken under the store's
//!   lock and encoded and written outside it, in `spawn_blocking`.
//! - The store lock lives as long as anything can still save: it is dropped by `close` after the
//!   final save, or with the last reference to the shared state.
//! - Log lines carry counts, sizes, paths and error classes; never a key, a passphrase or
//!   a peer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use knownpeers_codecs::{Codec, CodecKind, ErrorKind, Format, ReadPolicy, SealedCodec};
use tokio::sync::{oneshot, Mutex as AsyncMutex, Notify};
use tokio::task::JoinHandle;

use crate::persist::config::{Config, KeySource, OnCorrupt, RealmSettings};
use crate::persist::lock::StoreLock;
use crate::persist::saver::{remove_stale_temps, write_atomic};
use crate::store::{Clock, HydrateReport, PeerStore};
use crate::Error;

/// What the load at open found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Entries in the file.
    pub in_file: usize,
    /// What hydrate did.
    pub hydrate: HydrateReport,
    /// Where a corrupt file was moved, if it was.
    pub quarantined_to: Option<PathBuf>,
    /// The format of the file loaded (`None`: no file, or quarantined, or disabled).
    pub format: Option<Format>,
    /// Temp files of crashed saves removed at open.
    pub stale_temps_removed: usize,
}

/// One realm's store, persisted. Dropping it without `close` stops the task without a final
/// save (call `close`).
pub struct PersistentStore {
    store: PeerStore,
    realm: String,
    report: LoadReport,
    /// `None` when persistence is disabled.
    shared: Option<Arc<Shared>>,
    task: Option<JoinHandle<()>>,
    /// Dropping or sending stops the flush task.
    shutdown: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for PersistentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentStore")
            .field("realm", &self.realm)
            .field("path", &self.path())
            .field("len", &self.store.len())
            .finish_non_exhaustive()
    }
}

/// What the flush task, `flush` and `close` share.
struct Shared {
    store: PeerStore,
    realm: String,
    path: PathBuf,
    /// The codec saves write with (chosen once at open).
    codec: Arc<dyn Codec>,
    /// The realm's sealed codec, if it has a key: built once per open, so a passphrase realm
    /// runs Argon2id once for the life of the store (its count is in the save events).
    sealed: Option<Arc<SealedCodec>>,
    clock: Arc<dyn Clock>,
    /// Serializes saves; holds the generation last saved and a reusable encode buffer.
    save: AsyncMutex<SaveState>,
    last_error: StdMutex<Option<String>>,
    /// Taken by `close` after the final save; otherwise dropped with the last `Arc`.
    lock: StdMutex<Option<StoreLock>>,
}

struct SaveState {
    saved_generation: u64,
    buf: Vec<u8>,
}

impl PersistentStore {
    /// Opens `realm` as `config` says, with `clock` for the store.
    ///
    /// With persistence disabled this is an in-memory store and touches no file. Otherwise it
    /// validates the config, builds the realm's codec (reading its key file or passphrase
    /// variable once), creates the file's directory if missing, takes the lock, removes stale
    /// temp files, loads the file under the realm's policy (a missing file is an empty store;
    /// a corrupt or unsupported-version file is quarantined unless `on_corrupt = "fail"`; every
    /// other failure fails the open and leaves the file untouched), hydrates the store (TTL
    /// expiry, then the cap), and starts the flush task.
    pub async fn open(
        config: &Config,
        realm: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<PersistentStore, Error> {
        config.validate()?;
        let settings = config.realm_settings(realm)?;
        if !config.persistence.enabled {
            return Ok(PersistentStore {
                store: PeerStore::new(settings.store.clone(), clock),
                realm: realm.to_owned(),
                report: LoadReport::default(),
                shared: None,
                task: None,
                shutdown: None,
            });
        }
        let interval = settings.save_interval;
        let path = settings.path.clone();
        let blocking_clock = Arc::clone(&clock);
        let (shared, report) = tokio::task::spawn_blocking(move || load(settings, blocking_clock))
            .await
            .map_err(|e| Error::Io {
                path,
                source: std::io::Error::other(format!("the open task failed: {e}")),
            })??;
        let shared = Arc::new(shared);
        let dirty = Arc::new(Notify::new());
        let hook_dirty = Arc::clone(&dirty);
        // The hook runs outside the store's lock on every change: it must stay this cheap.
        shared
            .store
            .set_change_hook(Arc::new(move || hook_dirty.notify_one()));
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(flush_task(Arc::clone(&shared), dirty, rx, interval));
        Ok(PersistentStore {
            store: shared.store.clone(),
            realm: realm.to_owned(),
            report,
            shared: Some(shared),
            task: Some(task),
            shutdown: Some(tx),
        })
    }
    /// The in-memory store (observe and query through it).
    pub fn store(&self) -> &PeerStore {
        &self.store
    }
    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }
    /// The data file (`None` when persistence is disabled).
    pub fn path(&self) -> Option<&Path> {
        self.shared.as_ref().map(|s| s.path.as_path())
    }
    /// What the load found.
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }
    /// The last save error, if the last save failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared.as_ref().and_then(|s| {
            s.last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }
    /// Saves now if changed since the last save.
    pub async fn flush(&self) -> Result<(), Error> {
        match &self.shared {
            Some(shared) => shared.save_if_changed().await.map(|_| ()),
            None => Ok(()),
        }
    }
    /// Final save, stops the flush task, releases the lock.
    ///
    /// The lock is released even when the final save fails (the error is returned), because
    /// the store is gone either way; the file then holds the last successful save.
    pub async fn close(mut self) -> Result<(), Error> {
        if let Some(tx) = self.shutdown.take() {
            // The task may have ended already; then there is nobody to tell.
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(realm = %self.realm, error = %e, "flush task ended abnormally");
            }
        }
        let Some(shared) = self.shared.take() else {
            return Ok(());
        };
        shared.store.set_change_hook(Arc::new(|| {}));
        let result = shared.save_if_changed().await.map(|_| ());
        let lock = shared
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(lock);
        tracing::debug!(realm = %self.realm, path = %shared.path.display(), "closed");
        result
    }
}

/// The flush loop: saves at each tick after a change, until told to stop (or its store is
/// dropped). A failed save stays pending and is retried at the next tick; nothing here panics.
async fn flush_task(
    shared: Arc<Shared>,
    dirty: Arc<Notify>,
    mut shutdown: oneshot::Receiver<()>,
    period: Duration,
) {
    let start = tokio::time::Instant::now() + period;
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Whether a change awaits the next tick. While it does, the dirty branch is not polled, so
    // a flood of changes cannot starve the tick; their notification stays stored as a permit.
    let mut pending = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            () = dirty.notified(), if !pending => pending = true,
            _ = interval.tick() => {
                // The error is logged and kept by save_if_changed; the change stays pending.
                if pending && shared.save_if_changed().await.is_ok() {
                    pending = false;
                }
            }
        }
    }
}

impl Shared {
    /// Saves if the store's generation moved since the last successful save. Returns whether
    /// it wrote. Errors are also kept for `last_error` and logged.
    async fn save_if_changed(self: &Arc<Self>) -> Result<bool, Error> {
        let mut state = self.save.lock().await;
        if self.store.generation() == state.saved_generation {
            return Ok(false);
        }
        let buf = std::mem::take(&mut state.buf);
        let this = Arc::clone(self);
        let started = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || this.save_blocking(buf)).await;
        let (result, buf) = match outcome {
            Ok(pair) => pair,
            Err(e) => (
                Err(Error::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(format!("the save task failed: {e}")),
                }),
                Vec::new(),
            ),
        };
        state.buf = buf;
        let mut last_error = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok((generation, bytes)) => {
                state.saved_generation = generation;
                *last_error = None;
                tracing::debug!(
                    realm = %self.realm,
                    path = %self.path.display(),
                    bytes,
                    ms = started.elapsed().as_millis() as u64,
                    kdf_runs = self.sealed.as_ref().map_or(0, |c| c.kdf_runs()),
                    "saved peer file"
                );
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(
                    realm = %self.realm,
                    path = %self.path.display(),
                    error = %e,
                    "saving the peer file failed; will retry at the next interval"
                );
                *last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Snapshot, encode into `buf`, write atomically. Returns the saved generation and size,
    /// and the buffer for reuse.
    fn save_blocking(&self, mut buf: Vec<u8>) -> (Result<(u64, usize), Error>, Vec<u8>) {
        let snapshot = self.store.snapshot();
        let encoded = self
            .codec
            .encode_into(&self.realm, self.clock.now(), &snapshot, &mut buf)
            .map_err(|source| Error::Format {
                path: self.path.clone(),
                source,
            });
        let result = encoded
            .and_then(|()| write_atomic(&self.path, &buf))
            .map(|()| (snapshot.generation(), buf.len()));
        // Capacity is kept for the next save; the bytes are not (plaintext peers or not, they
        // need not outlive the save).
        buf.clear();
        (result, buf)
    }
}

/// The realm's codecs: the one saves write with, and the sealed one reads may use.
struct Codecs {
    write: Arc<dyn Codec>,
    sealed: Option<Arc<SealedCodec>>,
}

/// Builds the realm's codecs once per open: reads the key file or passphrase variable now, so a
/// missing key fails the open; Argon2id runs lazily, once, inside the codec.
fn build_codecs(settings: &RealmSettings) -> Result<Codecs, Error> {
    if settings.key.is_some() {
        // Before any key material is in memory: a crash from now on writes no core file.
        if let Err(e) = knownpeers_keys::disable_core_dumps() {
            tracing::warn!(
                realm = %settings.realm,
                error = %e,
                "could not turn core dumps off; a crash could write key material to disk"
            );
        }
    }
    let sealed = match &settings.key {
        None => None,
        Some(KeySource::File(path)) => {
            let key = knownpeers_keys::read_key_file(path)?;
            Some(Arc::new(SealedCodec::with_key(key)))
        }
        Some(KeySource::Env(var)) => {
            let passphrase = knownpeers_keys::passphrase_from_env(var)?;
            let codec = SealedCodec::with_passphrase(passphrase, settings.kdf)
                .and_then(|c| c.with_kdf_ceiling(settings.kdf_ceiling))
                .map_err(|e| match e {
                    knownpeers_codecs::Error::Key(k) => Error::Key(k),
                    other => Error::Format {
                        path: settings.path.clone(),
                        source: other,
                    },
                })?;
            Some(Arc::new(codec))
        }
    };
    let write: Arc<dyn Codec> = match (settings.codec, &sealed) {
        (CodecKind::Sealed, Some(codec)) => Arc::clone(codec) as Arc<dyn Codec>,
        (kind, _) => knownpeers_codecs::plaintext_codec(kind).ok_or_else(|| {
            Error::Config(crate::ConfigError {
                key: format!("network.persistence.realms.{}", settings.realm),
                what: "a sealed realm needs key_file or passphrase_env".into(),
            })
        })?,
    };
    Ok(Codecs { write, sealed })
}

/// The blocking part of open: lock, stale temps, read, classify, hydrate.
fn load(settings: RealmSettings, clock: Arc<dyn Clock>) -> Result<(Shared, LoadReport), Error> {
    let started = Instant::now();
    let path = settings.path.clone();
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut codecs = build_codecs(&settings)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dirs(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        warn_if_others_can_write(&settings.realm, dir);
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => return Err(Error::IsADirectory { path }),
        // A FIFO or device would block the read, and is no file a rename should replace.
        Ok(m) if !m.is_file() => {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file; point the path at a peer file",
            )))
        }
        _ => {}
    }
    let lock = StoreLock::acquire(&path)?;
    let stale_temps_removed = remove_stale_temps(&path)?;
    if stale_temps_removed > 0 {
        tracing::info!(
            realm = %settings.realm,
            path = %path.display(),
            count = stale_temps_removed,
            "removed temp files of an interrupted save"
        );
    }
    let mut report = LoadReport {
        stale_temps_removed,
        ..LoadReport::default()
    };
    let store = PeerStore::new(settings.store.clone(), Arc::clone(&clock));

    let format_error = |source| Error::Format {
        path: path.clone(),
        source,
    };
    let on_disk = read_file(&path).map_err(io)?;
    if let OnDisk::TooLarge(len) = on_disk {
        return Err(format_error(knownpeers_codecs::Error::LimitExceeded {
            what: format!(
                "file of {len} bytes is over the {} byte limit",
                knownpeers_codecs::MAX_FILE_SIZE
            ),
        }));
    }
    if let OnDisk::Bytes(bytes, mtime) = on_disk {
        let policy = ReadPolicy {
            realm: Some(&settings.realm),
            require_encryption: settings.require_encryption,
            sealed: codecs.sealed.as_deref(),
            legacy_mtime: mtime,
        };
        match knownpeers_codecs::read_owned(bytes, &policy) {
            Ok(decoded) => {
                report.in_file = decoded.file.entries.len();
                report.format = Some(decoded.format);
                if decoded.format == Format::Sealed
                    && settings.codec != CodecKind::Sealed
                    && !settings.codec_explicit
                {
                    // DESIGN.md: a plaintext realm that loaded a sealed file never writes the
                    // peers back in plaintext unless its own policy names a plaintext codec.
                    if let Some(sealed) = &codecs.sealed {
                        codecs.write = Arc::clone(sealed) as Arc<dyn Codec>;
                        tracing::info!(
                            realm = %settings.realm,
                            path = %path.display(),
                            "the file is sealed: saves stay sealed (set the realm's own codec to write plaintext)"
                        );
                    }
                }
                report.hydrate = store.hydrate(decoded.file.entries);
            }
            Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Unsupported) => {
                if settings.on_corrupt == OnCorrupt::Fail {
                    tracing::error!(
                        realm = %settings.realm,
                        path = %path.display(),
                        error = %e,
                        "peer file unreadable; on_corrupt = \"fail\""
                    );
                    return Err(format_error(e));
                }
                let to = quarantine(&path, clock.now())?;
                tracing::warn!(
                    realm = %settings.realm,
                    path = %path.display(),
                    moved_to = %to.display(),
                    error = %e,
                    "peer file unreadable: moved aside, starting empty"
                );
                report.quarantined_to = Some(to);
            }
            Err(e) => {
                tracing::error!(
                    realm = %settings.realm,
                    path = %path.display(),
                    error = %e,
                    "peer file refused; the file is left untouched"
                );
                return Err(format_error(e));
            }
        }
    }
    tracing::info!(
        realm = %settings.realm,
        path = %path.display(),
        count = report.hydrate.loaded,
        expired = report.hydrate.expired,
        capped = report.hydrate.capped,
        codec = ?report.format,
        ms = started.elapsed().as_millis() as u64,
        "loaded peer file"
    );
    // What was just loaded is what the file holds: not a change to save.
    let saved_generation = store.generation();
    let shared = Shared {
        store,
        realm: settings.realm,
        path,
        codec: codecs.write,
        sealed: codecs.sealed,
        clock,
        save: AsyncMutex::new(SaveState {
            saved_generation,
            buf: Vec::new(),
        }),
        last_error: StdMutex::new(None),
        lock: StdMutex::new(Some(lock)),
    };
    Ok((shared, report))
}

/// What is at the data path.
enum OnDisk {
    /// No file: an empty store.
    Missing,
    /// Over the format's size limit (not read).
    TooLarge(u64),
    /// The whole file and its mtime in unix seconds.
    Bytes(Vec<u8>, u64),
}

/// Creates `dir` and its missing parents with mode 0700 whatever the umask (a data directory
/// others could write would let them swap or delete peer files and plant a lock symlink).
/// Directories that already exist are left as they are.
fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let mut missing = Vec::new();
    let mut at = dir;
    loop {
        match std::fs::symlink_metadata(at) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(at);
                match at.parent().filter(|p| !p.as_os_str().is_empty()) {
                    Some(parent) => at = parent,
                    None => break,
                }
            }
            Err(e) => return Err(e),
        }
    }
    for d in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(d) {
            // The umask can only take bits away from 0700; set it exactly all the same, so
            // that an owner-restricting umask does not leave a directory we cannot use.
            Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?,
            // Another process created it meanwhile: it is theirs to have chosen the mode.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Logs a warning when a directory that already existed lets group or others write to it
/// (without the sticky bit): they can then replace or delete the peer file.
fn warn_if_others_can_write(realm: &str, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            tracing::warn!(
                realm = %realm,
                dir = %dir.display(),
                mode = format!("{:04o}", mode & 0o7777),
                "the data directory is writable by group or others, who can replace or delete the peer file; chmod 700 it"
            );
        }
    }
}

/// Reads the data file. It is opened without blocking (a FIFO or a device put at the path
/// must not hang the open) and refused unless it is a regular file.
fn read_file(path: &Path) -> std::io::Result<OnDisk> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OnDisk::Missing),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file; point the path at a peer file",
        ));
    }
    let limit = knownpeers_codecs::MAX_FILE_SIZE;
    if meta.len() > limit {
        return Ok(OnDisk::TooLarge(meta.len()));
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded even if the file grows while being read.
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit + 1), &mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(OnDisk::TooLarge(bytes.len() as u64));
    }
    Ok(OnDisk::Bytes(bytes, mtime))
}

/// Moves a file aside to `<path>.corrupt-<unix time>` (with `-2`, `-3`, ... if taken), never
/// over an existing file, and makes the rename durable.
fn quarantine(path: &Path, now: u64) -> Result<PathBuf, Error> {
    let base = {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".corrupt-{now}"));
        PathBuf::from(s)
    };
    let mut to = base.clone();
    let mut n = 1;
    // Under the store lock no other knownpeers process quarantines this file, so checking
    // before the rename is enough to never replace an earlier quarantined file.
    while std::fs::symlink_metadata(&to).is_ok() {
        n += 1;
        let mut s = base.as_os_str().to_owned();
        s.push(format!("-{n}"));
        to = PathBuf::from(s);
    }
    std::fs::rename(path, &to).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::NotDurable {
                path: to.clone(),
                source,
            })?;
    }
    Ok(to)
}

/// Several realms opened from one config, each with its own file, policy and lock.
#[derive(Debug)]
pub struct Realms {
    /// The open realms by code.
    pub realms: BTreeMap<String, PersistentStore>,
}

impl Realms {
    /// Opens every realm the config names (its `realms` tables, and the default realm; TheNodes'
    /// `default` when it names none). If one fails, the ones already open are closed and the
    /// error is returned.
    pub async fn open_all(config: &Config, clock: Arc<dyn Clock>) -> Result<Realms, Error> {
        let mut realms = BTreeMap::new();
        for code in config.realm_codes() {
            match PersistentStore::open(config, &code, Arc::clone(&clock)).await {
                Ok(store) => {
                    realms.insert(code, store);
                }
                Err(e) => {
                    let _ = Realms { realms }.close_all().await;
                    return Err(e);
                }
            }
        }
        Ok(Realms { realms })
    }
    /// One realm.
    pub fn get(&self, realm: &str) -> Option<&PersistentStore> {
        self.realms.get(realm)
    }
    /// Closes every realm; returns the first error after trying all.
    pub async fn close_all(self) -> Result<(), Error> {
        let mut first = None;
        for (_, store) in self.realms {
            if let Err(e) = store.close().await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
