//! The persistent store of one realm: open (lock, stale temps, load, quarantine, hydrate), the
//! flush task on tokio, `flush` and `close`, the final save of a store dropped without `close`,
//! events for a host, the one-shot [`load_store`] and [`save_store`] of a plain `PeerStore`;
//! and [`Realms`], several realms from one config.
//!
//! Invariants:
//! - A failed open returns no store, so nothing can ever save over a file it refused; the only
//!   open-time change to the data file is the quarantine rename of a corrupt or
//!   unsupported-version file (unless `on_corrupt = "fail"`), and a read-only open changes
//!   nothing on disk at all (no directory, lock file, temp cleanup, quarantine or save).
//! - Every write happens under the store lock, through `write_snapshot`: saves of one store are
//!   serialized by one `std` mutex taken on a blocking thread (never across an `.await`); a
//!   snapshot is taken under the store's lock and encoded and written outside it.
//! - The store lock lives as long as anything can still save: it is released by `close` after
//!   the final save, by the drop of the last handle after its best-effort final save, or with
//!   the last reference to the shared state.
//! - Log lines and events carry counts, sizes, paths and error classes; never a key, a
//!   passphrase or a peer.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant};

use knownpeers_codecs::{
    Codec, CodecKind, EntrySource, ErrorKind, Format, ReadPolicy, SealedCodec,
};
use tokio::sync::{oneshot, Mutex as AsyncMutex, Notify};
use tokio::task::JoinHandle;

use crate::persist::config::{Config, KeySource, OnCorrupt, PersistenceMode, RealmSettings};
use crate::persist::lock::StoreLock;
use crate::persist::saver::{remove_stale_temps, write_atomic};
use crate::store::{Clock, HydrateReport, PeerStore};
use crate::Error;

/// What the load at open found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadReport {
    /// Entries in the file.
    pub in_file: usize,
    /// What hydrate did.
    pub hydrate: HydrateReport,
    /// Where a corrupt file was moved, if it was.
    pub quarantined_to: Option<PathBuf>,
    /// Why the file could not be read, when it was corrupt or of an unsupported version and
    /// the store started empty: moved to `quarantined_to` (read-write), or left in place
    /// (read-only). The classified error's message; never a key or a peer.
    pub unreadable: Option<String>,
    /// The format of the file loaded (`None`: no file, or unreadable, or persistence off).
    pub format: Option<Format>,
    /// Temp files of crashed saves removed at open.
    pub stale_temps_removed: usize,
}

/// What persistence did, reported to a host's callback ([`OpenOptions::on_event`]) beside the
/// `tracing` events. Counts, sizes, paths and error messages only: never a key, a passphrase
/// or a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The file was loaded at open (also when it was missing, unreadable or quarantined).
    Loaded {
        /// The realm.
        realm: String,
        /// The data file.
        path: PathBuf,
        /// What the load found.
        report: LoadReport,
        /// How long the load took, in ms.
        ms: u64,
    },
    /// A save was written.
    Saved {
        /// The realm.
        realm: String,
        /// The data file.
        path: PathBuf,
        /// Size of the file written.
        bytes: usize,
        /// Entries written.
        entries: usize,
        /// How long the snapshot, encode and write took, in ms.
        ms: u64,
    },
    /// A save failed; the change stays pending and is retried at the next interval.
    SaveFailed {
        /// The realm.
        realm: String,
        /// The data file.
        path: PathBuf,
        /// The classified error's message (e.g. an I/O error with the file's path).
        error: String,
    },
    /// A corrupt or unsupported-version file was moved aside and the store started empty.
    Quarantined {
        /// The realm.
        realm: String,
        /// The data file.
        path: PathBuf,
        /// Where it was moved.
        to: PathBuf,
        /// Why it could not be read (the classified error's message).
        error: String,
    },
}

/// A host's event callback.
pub type EventCallback = Arc<dyn Fn(&Event) + Send + Sync>;

/// How to open a [`PersistentStore`]: the clock, and optionally a callback for [`Event`]s.
///
/// ```
/// use std::sync::Arc;
/// use knownpeers::{Event, OpenOptions, SystemClock};
///
/// let options = OpenOptions::new(Arc::new(SystemClock)).on_event(Arc::new(|event: &Event| {
///     if let Event::SaveFailed { error, .. } = event {
///         eprintln!("peer file not saved: {error}");
///     }
/// }));
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct OpenOptions {
    clock: Arc<dyn Clock>,
    events: Events,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("on_event", &self.events.0.is_some())
            .finish_non_exhaustive()
    }
}

impl OpenOptions {
    /// Options with `clock` for the store and no event callback.
    pub fn new(clock: Arc<dyn Clock>) -> OpenOptions {
        OpenOptions {
            clock,
            events: Events(None),
        }
    }
    /// Calls `callback` for every [`Event`] of the store. It runs on whichever thread did the
    /// work (a blocking-pool thread, the flush task, or the thread dropping the last handle),
    /// never under the store's lock; keep it short and non-blocking (e.g. send on a channel).
    /// A panic in it is caught and logged. It must not own a handle of the store it reports
    /// on: that handle would keep the store alive, so its last-handle drop would never come.
    pub fn on_event(mut self, callback: EventCallback) -> OpenOptions {
        self.events = Events(Some(callback));
        self
    }
}

/// The event sink: a callback or nothing.
#[derive(Clone)]
struct Events(Option<EventCallback>);

impl Events {
    fn emit(&self, event: Event) {
        if let Some(callback) = &self.0 {
            if catch_unwind(AssertUnwindSafe(|| callback(&event))).is_err() {
                tracing::error!("the knownpeers event callback panicked; event dropped");
            }
        }
    }
}

/// How long after the first change since open the flush task saves (capped by the interval),
/// so that a node stopped soon after its first connection keeps it.
const FIRST_SAVE_DELAY: Duration = Duration::from_secs(1);

/// One realm's store, persisted: a cheap handle (`Clone` is an `Arc` clone) to share across
/// tasks.
///
/// - [`flush`](Self::flush) saves now if the store changed; the flush task also saves the
///   first change after open within about a second (one second after it), then at most once
///   per `save_interval_secs` after a change.
/// - [`close`](Self::close) (idempotent, on `&self`) makes the final save, stops the flush task
///   and releases the lock; later `flush` calls fail with [`Error::Closed`].
/// - When the last handle is dropped without `close`, the drop stops the flush task and makes
///   a best-effort final save synchronously, on the dropping thread (a failure is logged and
///   reported as [`Event::SaveFailed`]), then releases the lock. Calling `close` is still
///   better: it reports the error and does not block a runtime thread.
///
/// In read-only mode ([`PersistenceMode::ReadOnly`]) and with persistence off, `flush` and
/// `close` do nothing and succeed.
#[derive(Clone)]
pub struct PersistentStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PersistentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentStore")
            .field("realm", &self.inner.realm)
            .field("mode", &self.inner.mode)
            .field("path", &self.path())
            .field("len", &self.inner.store.len())
            .finish_non_exhaustive()
    }
}

/// What the handles share; its drop is the last handle's drop.
struct Inner {
    store: PeerStore,
    realm: String,
    mode: PersistenceMode,
    /// The data file (`None` when persistence is off).
    path: Option<PathBuf>,
    report: LoadReport,
    /// Read-write only.
    writer: Option<Writer>,
}

/// The writing side of a read-write store.
struct Writer {
    shared: Arc<Shared>,
    /// The flush task and its stop signal (dropping or sending stops it); taken by `close`.
    task: StdMutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
    /// Serializes `close` calls.
    closing: AsyncMutex<()>,
    /// Set once `close` has finished its final save.
    closed: AtomicBool,
}

impl Drop for Inner {
    /// The last handle: without `close`, a best-effort final save on this thread (see
    /// [`PersistentStore`]), then the lock goes.
    fn drop(&mut self) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        if writer.closed.load(Ordering::SeqCst) {
            return;
        }
        // Dropping the sender ends the flush task at its next wake-up; a save it is running
        // finishes first (the save mutex), so this final save sees its result.
        drop(
            writer
                .task
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let shared = &writer.shared;
        shared.store.set_change_hook(Arc::new(|| {}));
        // Logged and reported inside; there is nobody to return it to.
        let _ = shared.save_if_changed_blocking();
        shared.release_lock();
        tracing::debug!(realm = %self.realm, path = %shared.path.display(), "dropped without close; final save attempted");
    }
}

/// What the flush task, `flush`, `close` and the final drop share.
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
    /// Serializes saves (taken on blocking threads only); the generation last saved and a
    /// reusable encode buffer.
    save: StdMutex<SaveState>,
    last_error: StdMutex<Option<String>>,
    /// Taken after the final save; no save happens without it.
    lock: StdMutex<Option<StoreLock>>,
    events: Events,
}

struct SaveState {
    saved_generation: u64,
    buf: Vec<u8>,
}

impl PersistentStore {
    /// Opens `realm` as `config` says, with `clock` for the store and no event callback
    /// (see [`open_with`](Self::open_with)).
    pub async fn open(
        config: &Config,
        realm: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<PersistentStore, Error> {
        PersistentStore::open_with(config, realm, OpenOptions::new(clock)).await
    }

    /// Opens `realm` (a realm code: a safe file-name component, see [`crate::realm_code`]) as
    /// `config` says.
    ///
    /// With persistence off this is an in-memory store and touches no file. Otherwise it
    /// validates the config, builds the realm's codec (reading its key file or passphrase
    /// variable once) and loads the file under the realm's policy (a missing file is an empty
    /// store; a corrupt or unsupported-version file is quarantined, or in read-only mode left
    /// in place, unless `on_corrupt = "fail"`; every other failure fails the open and leaves
    /// the file untouched), hydrating the store (TTL expiry, then the cap). Read-write, it
    /// first creates the file's directory if missing, takes the lock and removes stale temp
    /// files, and afterwards starts the flush task. Reports [`Event::Quarantined`] and
    /// [`Event::Loaded`] to `options`' callback.
    pub async fn open_with(
        config: &Config,
        realm: &str,
        options: OpenOptions,
    ) -> Result<PersistentStore, Error> {
        config.validate()?;
        let settings = config.realm_settings(realm)?;
        let mode = config.mode();
        let OpenOptions { clock, events } = options;
        let store = PeerStore::new(settings.store.clone(), Arc::clone(&clock));
        if mode == PersistenceMode::Off {
            return Ok(PersistentStore {
                inner: Arc::new(Inner {
                    store,
                    realm: realm.to_owned(),
                    mode,
                    path: None,
                    report: LoadReport::default(),
                    writer: None,
                }),
            });
        }
        let writable = mode == PersistenceMode::ReadWrite;
        let interval = settings.save_interval;
        let path = settings.path.clone();
        let (loaded, settings) = {
            let store = store.clone();
            let events = events.clone();
            run_blocking(&path, "open", move || {
                load_into(&settings, writable, &store, &events).map(|l| (l, settings))
            })
            .await?
        };
        let Loaded {
            report,
            codecs,
            lock,
        } = loaded;
        let writer = match lock {
            None => None,
            Some(lock) => {
                // What was just loaded is what the file holds: not a change to save.
                let saved_generation = store.generation();
                let shared = Arc::new(Shared {
                    store: store.clone(),
                    realm: settings.realm,
                    path: path.clone(),
                    codec: codecs.write,
                    sealed: codecs.sealed,
                    clock,
                    save: StdMutex::new(SaveState {
                        saved_generation,
                        buf: Vec::new(),
                    }),
                    last_error: StdMutex::new(None),
                    lock: StdMutex::new(Some(lock)),
                    events,
                });
                let dirty = Arc::new(Notify::new());
                let hook_dirty = Arc::clone(&dirty);
                // The hook runs outside the store's lock on every change: it must stay this
                // cheap.
                store.set_change_hook(Arc::new(move || hook_dirty.notify_one()));
                let (tx, rx) = oneshot::channel();
                let task = tokio::spawn(flush_task(Arc::clone(&shared), dirty, rx, interval));
                Some(Writer {
                    shared,
                    task: StdMutex::new(Some((tx, task))),
                    closing: AsyncMutex::new(()),
                    closed: AtomicBool::new(false),
                })
            }
        };
        Ok(PersistentStore {
            inner: Arc::new(Inner {
                store,
                realm: realm.to_owned(),
                mode,
                path: Some(path),
                report,
                writer,
            }),
        })
    }
    /// The in-memory store (observe and query through it).
    pub fn store(&self) -> &PeerStore {
        &self.inner.store
    }
    /// The realm.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }
    /// Off, read-only or read-write.
    pub fn mode(&self) -> PersistenceMode {
        self.inner.mode
    }
    /// The data file (`None` when persistence is off).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }
    /// What the load found.
    pub fn load_report(&self) -> &LoadReport {
        &self.inner.report
    }
    /// The last save error, if the last save failed.
    pub fn last_error(&self) -> Option<String> {
        self.inner.writer.as_ref().and_then(|w| {
            w.shared
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }
    /// Whether [`close`](Self::close) has completed (always false unless read-write).
    pub fn is_closed(&self) -> bool {
        self.inner
            .writer
            .as_ref()
            .is_some_and(|w| w.closed.load(Ordering::SeqCst))
    }
    /// Saves now if changed since the last save. [`Error::Closed`] after `close`; a no-op
    /// unless read-write.
    pub async fn flush(&self) -> Result<(), Error> {
        match &self.inner.writer {
            Some(w) if w.closed.load(Ordering::SeqCst) => Err(Error::Closed),
            Some(w) => w.shared.save_if_changed().await.map(|_| ()),
            None => Ok(()),
        }
    }
    /// Final save, stops the flush task, releases the lock. Idempotent: a second call (from
    /// any handle) waits for the first and returns `Ok`. The store stays readable in memory.
    ///
    /// The lock is released even when the final save fails (the error is returned), because
    /// the store is gone either way; the file then holds the last successful save.
    pub async fn close(&self) -> Result<(), Error> {
        let Some(writer) = &self.inner.writer else {
            return Ok(());
        };
        let _closing = writer.closing.lock().await;
        if writer.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let task = writer
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((tx, task)) = task {
            // The task may have ended already; then there is nobody to tell.
            let _ = tx.send(());
            if let Err(e) = task.await {
                tracing::error!(realm = %self.inner.realm, error = %e, "flush task ended abnormally");
            }
        }
        let shared = &writer.shared;
        shared.store.set_change_hook(Arc::new(|| {}));
        let result = shared.save_if_changed().await.map(|_| ());
        shared.release_lock();
        writer.closed.store(true, Ordering::SeqCst);
        tracing::debug!(realm = %self.inner.realm, path = %shared.path.display(), "closed");
        result
    }
}

/// Runs `f` on the blocking pool; a panicking or cancelled task is an I/O error on `path`.
async fn run_blocking<T: Send + 'static>(
    path: &Path,
    what: &str,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!("the {what} task failed: {e}")),
        })?
}

/// The flush loop: saves the first change after open within [`FIRST_SAVE_DELAY`], then at
/// each tick after a change, until told to stop (or its handles are gone). A failed save stays
/// pending and is retried at the next tick; nothing here panics.
async fn flush_task(
    shared: Arc<Shared>,
    dirty: Arc<Notify>,
    mut shutdown: oneshot::Receiver<()>,
    period: Duration,
) {
    let start = tokio::time::Instant::now() + period;
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let first_delay = FIRST_SAVE_DELAY.min(period);
    let first_save = tokio::time::sleep(first_delay);
    tokio::pin!(first_save);
    // Whether the prompt first save is still to come (until a save succeeds), and whether it
    // is armed by a change.
    let mut first_pending = true;
    let mut first_armed = false;
    // Whether a change awaits the next tick. While it does, the dirty branch is not polled, so
    // a flood of changes cannot starve the tick; their notification stays stored as a permit.
    let mut pending = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            () = dirty.notified(), if !pending => {
                pending = true;
                if first_pending && !first_armed {
                    first_armed = true;
                    first_save.as_mut().reset(tokio::time::Instant::now() + first_delay);
                }
            }
            () = &mut first_save, if first_armed => {
                first_armed = false;
                first_pending = false;
                if shared.save_if_changed().await.is_ok() {
                    pending = false;
                }
            }
            _ = interval.tick() => {
                // The error is logged and kept by save_if_changed; the change stays pending.
                if pending && shared.save_if_changed().await.is_ok() {
                    pending = false;
                    first_pending = false;
                    first_armed = false;
                }
            }
        }
    }
}

impl Shared {
    /// [`Shared::save_if_changed_blocking`] on the blocking pool.
    async fn save_if_changed(self: &Arc<Self>) -> Result<bool, Error> {
        let this = Arc::clone(self);
        run_blocking(&self.path, "save", move || this.save_if_changed_blocking()).await
    }

    /// Saves if the store's generation moved since the last successful save. Returns whether
    /// it wrote. Errors are also kept for `last_error`, logged and reported; after the lock is
    /// released nothing is written ([`Error::Closed`], not reported).
    fn save_if_changed_blocking(&self) -> Result<bool, Error> {
        let mut state = self.save.lock().unwrap_or_else(PoisonError::into_inner);
        if self.store.generation() == state.saved_generation {
            return Ok(false);
        }
        let held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_none() {
            return Err(Error::Closed);
        }
        let started = Instant::now();
        let snapshot = self.store.snapshot();
        let result = write_snapshot(
            &self.codec,
            &self.realm,
            self.clock.now(),
            &snapshot,
            &self.path,
            &mut state.buf,
        );
        drop(held);
        let ms = started.elapsed().as_millis() as u64;
        let mut last_error = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(bytes) => {
                state.saved_generation = snapshot.generation();
                *last_error = None;
                drop(last_error);
                drop(state);
                tracing::debug!(
                    realm = %self.realm,
                    path = %self.path.display(),
                    bytes,
                    ms,
                    kdf_runs = self.sealed.as_ref().map_or(0, |c| c.kdf_runs()),
                    "saved peer file"
                );
                self.events.emit(Event::Saved {
                    realm: self.realm.clone(),
                    path: self.path.clone(),
                    bytes,
                    entries: snapshot.len(),
                    ms,
                });
                Ok(true)
            }
            Err(e) => {
                *last_error = Some(e.to_string());
                drop(last_error);
                drop(state);
                tracing::warn!(
                    realm = %self.realm,
                    path = %self.path.display(),
                    error = %e,
                    "saving the peer file failed; will retry at the next interval"
                );
                self.events.emit(Event::SaveFailed {
                    realm: self.realm.clone(),
                    path: self.path.clone(),
                    error: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// Releases the store lock after the last save (waiting for a save in progress).
    fn release_lock(&self) {
        let _saving = self.save.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            self.lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

/// The one write path of the runtime (open's flush task, `close`, the final drop and
/// [`save_store`]): encode `snapshot` into `buf` and write it atomically. The caller holds the
/// store lock. Returns the size written; `buf` keeps its capacity, not the bytes (plaintext
/// peers or not, they need not outlive the save).
fn write_snapshot(
    codec: &Arc<dyn Codec>,
    realm: &str,
    now: u64,
    snapshot: &crate::Snapshot,
    path: &Path,
    buf: &mut Vec<u8>,
) -> Result<usize, Error> {
    let result = codec
        .encode_into(realm, now, snapshot, buf)
        .map_err(|source| Error::Format {
            path: path.to_path_buf(),
            source,
        })
        .and_then(|()| write_atomic(path, buf))
        .map(|()| buf.len());
    buf.clear();
    result
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
            Some(Arc::new(
                SealedCodec::with_key(key).with_frame_version(settings.format_version),
            ))
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
            Some(Arc::new(codec.with_frame_version(settings.format_version)))
        }
    };
    let write: Arc<dyn Codec> = match (settings.codec, &sealed) {
        (CodecKind::Sealed, Some(codec)) => Arc::clone(codec) as Arc<dyn Codec>,
        (kind, _) => knownpeers_codecs::plaintext_codec_with_version(kind, settings.format_version)
            .ok_or_else(|| {
                Error::Config(crate::ConfigError {
                    key: format!("network.persistence.realms.{}", settings.realm),
                    what: "a sealed realm needs key_file or passphrase_env".into(),
                })
            })?,
    };
    Ok(Codecs { write, sealed })
}

/// DESIGN.md: a plaintext realm that loaded a sealed file never writes the peers back in
/// plaintext unless its own policy names a plaintext codec; then saves stay sealed.
fn keep_sealed(settings: &RealmSettings, found: Format, codecs: &mut Codecs) {
    if found == Format::Sealed && settings.codec != CodecKind::Sealed && !settings.codec_explicit {
        if let Some(sealed) = &codecs.sealed {
            codecs.write = Arc::clone(sealed) as Arc<dyn Codec>;
            tracing::info!(
                realm = %settings.realm,
                path = %settings.path.display(),
                "the file is sealed: saves stay sealed (set the realm's own codec to write plaintext)"
            );
        }
    }
}

/// What a load leaves for a writer.
struct Loaded {
    report: LoadReport,
    /// The codec to write with (after `keep_sealed`) and the key cache.
    codecs: Codecs,
    /// The store lock, taken when `writable`.
    lock: Option<StoreLock>,
}

/// The blocking load shared by `open` and [`load_store`]: refuse a directory or special file,
/// and when `writable` create the directory, lock and remove stale temps; then read, classify,
/// quarantine (writable) or report (read-only), hydrate `store`. Reports
/// [`Event::Quarantined`] and [`Event::Loaded`].
fn load_into(
    settings: &RealmSettings,
    writable: bool,
    store: &PeerStore,
    events: &Events,
) -> Result<Loaded, Error> {
    let started = Instant::now();
    let path = &settings.path;
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut codecs = build_codecs(settings)?;
    if writable {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dirs(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            warn_if_others_can_write(&settings.realm, dir);
        }
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(Error::IsADirectory { path: path.clone() }),
        // A FIFO or device would block the read, and is no file a rename should replace.
        Ok(m) if !m.is_file() => {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file; point the path at a peer file",
            )))
        }
        _ => {}
    }
    let mut report = LoadReport::default();
    let lock = if writable {
        let lock = StoreLock::acquire(path)?;
        report.stale_temps_removed = remove_stale_temps(path)?;
        if report.stale_temps_removed > 0 {
            tracing::info!(
                realm = %settings.realm,
                path = %path.display(),
                count = report.stale_temps_removed,
                "removed temp files of an interrupted save"
            );
        }
        Some(lock)
    } else {
        None
    };

    let format_error = |source| Error::Format {
        path: path.clone(),
        source,
    };
    let on_disk = read_file(path).map_err(io)?;
    if let OnDisk::TooLarge(len) = on_disk {
        return Err(format_error(knownpeers_codecs::Error::LimitExceeded {
            what: format!(
                "file of {len} bytes is over the {} byte limit",
                knownpeers_codecs::MAX_FILE_SIZE
            ),
        }));
    }
    if let OnDisk::Bytes(bytes, mtime) = on_disk {
        // One duplicate check per entry, not two: into a store that never held an entry (every
        // open), the reader leaves FORMAT.md's duplicate rule to the hydrate, whose index build
        // finds a repeated address anyway and then refuses the whole file, leaving the store
        // as it was, with the reader's own error. A store that holds entries (`load_store`)
        // keeps the reader's check, as a merge into it would hide a repeat.
        let pristine = store.is_pristine();
        let policy = ReadPolicy {
            realm: Some(&settings.realm),
            require_encryption: settings.require_encryption,
            sealed: codecs.sealed.as_deref(),
            legacy_mtime: mtime,
            check_duplicates: !pristine,
        };
        let loaded = knownpeers_codecs::read_owned(bytes, &policy).and_then(|decoded| {
            let in_file = decoded.file.entries.len();
            let hydrate = if pristine {
                store
                    .hydrate_unique(decoded.file.entries)
                    .map_err(knownpeers_codecs::duplicate_address)?
            } else {
                store.hydrate(decoded.file.entries)
            };
            Ok((decoded.format, in_file, hydrate))
        });
        match loaded {
            Ok((format, in_file, hydrate)) => {
                report.in_file = in_file;
                report.format = Some(format);
                keep_sealed(settings, format, &mut codecs);
                report.hydrate = hydrate;
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
                let error = format_error(e).to_string();
                if writable {
                    let to = quarantine(path, store.clock_now())?;
                    tracing::warn!(
                        realm = %settings.realm,
                        path = %path.display(),
                        moved_to = %to.display(),
                        error = %error,
                        "peer file unreadable: moved aside, starting empty"
                    );
                    events.emit(Event::Quarantined {
                        realm: settings.realm.clone(),
                        path: path.clone(),
                        to: to.clone(),
                        error: error.clone(),
                    });
                    report.quarantined_to = Some(to);
                } else {
                    tracing::warn!(
                        realm = %settings.realm,
                        path = %path.display(),
                        error = %error,
                        "peer file unreadable: left in place (read-only), starting empty"
                    );
                }
                report.unreadable = Some(error);
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
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        realm = %settings.realm,
        path = %path.display(),
        count = report.hydrate.loaded,
        expired = report.hydrate.expired,
        capped = report.hydrate.capped,
        codec = ?report.format,
        read_only = !writable,
        ms,
        "loaded peer file"
    );
    events.emit(Event::Loaded {
        realm: settings.realm.clone(),
        path: path.clone(),
        report: report.clone(),
        ms,
    });
    Ok(Loaded {
        report,
        codecs,
        lock,
    })
}

/// Loads `realm`'s file into `store` once, with `open`'s rules: the config's mode (off: nothing
/// read; read-only: nothing on disk changed), the realm's policy and key, the error
/// classification, quarantine of a corrupt or unsupported-version file (read-write, unless
/// `on_corrupt = "fail"`), and the store lock while reading (read-write; [`Error::Locked`] if
/// a [`PersistentStore`] or another process holds the file). Entries are merged into what
/// `store` holds, as by [`PeerStore::hydrate`]. Blocking work runs on tokio's blocking pool.
///
/// ```no_run
/// # async fn run() -> Result<(), knownpeers::Error> {
/// use std::sync::Arc;
/// use knownpeers::{Config, PeerStore, StoreConfig, SystemClock};
///
/// let config = Config::from_toml_str("[network.persistence]\nenabled = true\n")?;
/// let store = PeerStore::new(StoreConfig::default(), Arc::new(SystemClock));
/// let report = knownpeers::load_store(&config, "default", &store).await?;
/// println!("{} peers loaded", report.hydrate.loaded);
/// knownpeers::save_store(&config, "default", &store).await?;
/// # Ok(())
/// # }
/// ```
pub async fn load_store(
    config: &Config,
    realm: &str,
    store: &PeerStore,
) -> Result<LoadReport, Error> {
    config.validate()?;
    let settings = config.realm_settings(realm)?;
    let mode = config.mode();
    if mode == PersistenceMode::Off {
        return Ok(LoadReport::default());
    }
    let path = settings.path.clone();
    let store = store.clone();
    let loaded = run_blocking(&path, "load", move || {
        load_into(
            &settings,
            mode == PersistenceMode::ReadWrite,
            &store,
            &Events(None),
        )
    })
    .await?;
    Ok(loaded.report)
}

/// Saves `store` to `realm`'s file once, with `open`'s rules: only in read-write mode (off and
/// read-only do nothing and succeed), the realm's codec and key (a plaintext realm whose file
/// is sealed keeps it sealed, as after `open`), the directory created if missing, the store
/// lock held while writing ([`Error::Locked`] if a [`PersistentStore`] or another process
/// holds the file), stale temps removed, and the atomic saver. Writes even when nothing
/// changed. Blocking work runs on tokio's blocking pool. See [`load_store`] for an example.
pub async fn save_store(config: &Config, realm: &str, store: &PeerStore) -> Result<(), Error> {
    config.validate()?;
    let settings = config.realm_settings(realm)?;
    if config.mode() != PersistenceMode::ReadWrite {
        return Ok(());
    }
    let path = settings.path.clone();
    let store = store.clone();
    run_blocking(&path, "save", move || {
        let path = &settings.path;
        let mut codecs = build_codecs(&settings)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(Error::IsADirectory { path: path.clone() });
        }
        let _lock = StoreLock::acquire(path)?;
        remove_stale_temps(path)?;
        if let Some(found) = sniff(path) {
            keep_sealed(&settings, found, &mut codecs);
        }
        let snapshot = store.snapshot();
        let mut buf = Vec::new();
        let bytes = write_snapshot(
            &codecs.write,
            &settings.realm,
            store.clock_now(),
            &snapshot,
            path,
            &mut buf,
        )?;
        tracing::debug!(realm = %settings.realm, path = %path.display(), bytes, "saved peer file (one-shot)");
        Ok(())
    })
    .await
}

/// The format of the file at `path` from its first bytes, if it is a readable peer file.
fn sniff(path: &Path) -> Option<Format> {
    let mut head = [0u8; 64];
    let mut file = std::fs::File::open(path).ok()?;
    let n = std::io::Read::read(&mut file, &mut head).ok()?;
    knownpeers_codecs::detect(&head[..n]).ok()
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
#[derive(Debug, Clone)]
pub struct Realms {
    /// The open realms by code.
    pub realms: BTreeMap<String, PersistentStore>,
}

impl Realms {
    /// Opens every realm the config names (its `realms` tables, and the default realm; TheNodes'
    /// `default` when it names none). If one fails, the ones already open are closed and the
    /// error is returned.
    pub async fn open_all(config: &Config, clock: Arc<dyn Clock>) -> Result<Realms, Error> {
        Realms::open_all_with(config, OpenOptions::new(clock)).await
    }
    /// [`open_all`](Self::open_all) with `options` (one event callback for every realm; the
    /// events name their realm).
    pub async fn open_all_with(config: &Config, options: OpenOptions) -> Result<Realms, Error> {
        let mut realms = BTreeMap::new();
        for code in config.realm_codes() {
            match PersistentStore::open_with(config, &code, options.clone()).await {
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
    /// Closes every realm; returns the first error after trying all. Idempotent.
    pub async fn close_all(&self) -> Result<(), Error> {
        let mut first = None;
        for store in self.realms.values() {
            if let Err(e) = store.close().await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
