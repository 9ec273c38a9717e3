//! [`Ledger`]: the single writer of a poex home's log, its readers, and the queries.
//!
//! ```text
//! D/log/             the tlog-tiles store: checkpoint, tile/<L>/..., tile/entries/...
//!                    (servable as static files; .tmp/ holds the writer's temporary files)
//! D/log-index.redb   the indexes (derived: rebuilt from the log whenever in doubt)
//! D/log-leaves.redb  the log's leaf-hash index for deduplication (poex-log's; derived too)
//! D/log.lock         held (flock, exclusive) by the one process that writes
//! ```
//!
//! # Writers and readers
//!
//! [`Ledger::create`], [`Ledger::open`], [`Ledger::try_open`] and [`Ledger::open_or_create`]
//! take `D/log.lock` (the lock is released when the ledger is dropped, or when the process
//! dies), so one process appends at a time; inside it, a `Ledger` is shared between threads and
//! concurrent appends are committed together by the log. [`Ledger::open_read_only`] takes no
//! lock and writes nothing (not even the writer's temporary files are touched): it sees the log
//! as of the checkpoint it read, and reads the index file beside a running writer (redb's
//! single-writer mode).
//!
//! # Order of writes, and what a crash leaves
//!
//! An append writes the log first: entry bundles, tiles, then the signed checkpoint, the commit
//! point ([`poex_log_store`]). Only then is the index updated, in one redb transaction that adds
//! the entries' keys and moves the indexed size. If we crash before that transaction commits,
//! the log holds entries the index does not: the next open (writer or reader) indexes the log
//! from the indexed size to the log's size, the same code path as after an append. The index
//! also records the log's root at its size; an index whose root is not the log's (another log's
//! file, a log replaced under it) is rebuilt, as is one that fails redb's integrity check on a
//! writable open. The log never fails because of its index: index trouble becomes a
//! [notice](Ledger::notices) and queries are answered from the log scanned into memory.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use poex_core::PublicKey;
use poex_core::dsse::Envelope;
use poex_log::Hash;
use poex_log::checkpoint::{Checkpoint, CheckpointError, CheckpointOpenError, Origin, TreeSize};
use poex_log::note::{self, Ed25519Verifier};
use poex_log::proof;
use poex_log::tile::{TILE_WIDTH, TileHashReader, TileReadError};
use poex_log::tlog_proof::TlogProof;
use poex_log_store::{FileStore, Log, LogConfig, LogError, LogIndex, TileStore};
use poex_store::audit::{Event, Filter};
use poex_store::registry::Record;
use time::OffsetDateTime;

use crate::entry::{Entry, EntryError, Keys};
use crate::index::{Field, Index, IndexError, IndexState, MemIndex};
use crate::signer::LogSigner;
use poex_log::reader::read_entries;
use poex_log_store::dir::{DirError, DirFiles, DirTiles};

/// The tlog-tiles store, under the ledger directory.
pub const LOG_DIR: &str = "log";
/// The index file, under the ledger directory.
pub const INDEX_FILE: &str = "log-index.redb";
/// The log's own leaf-hash index (deduplication), under the ledger directory: kept by
/// [`poex_log_store::Log`], outside the served tiles directory.
pub const LEAVES_FILE: &str = "log-leaves.redb";
/// The writer lock file, under the ledger directory.
pub const LOCK_FILE: &str = "log.lock";
/// Kind key under which entries that do not decode at all are indexed.
pub const INVALID_KIND: &str = "invalid";

/// Entries gathered in memory before the index file gets them in one transaction.
const INDEX_WRITE_EVERY: u64 = 1024;

/// Entries indexed per redb transaction when catching up.
const INDEX_BATCH: u64 = 16_384;

/// A ledger operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A file operation on the ledger directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the writer lock.
    #[error(
        "the log in {dir} is in use by another poex process (it holds {lock}); wait for it to \
         finish, or open the log read-only to query it"
    )]
    InUse {
        /// The ledger directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// [`Ledger::create`] found a log already there.
    #[error("{dir} already holds a log; open it instead of creating one")]
    Exists {
        /// The ledger directory.
        dir: PathBuf,
    },
    /// There is no log in the directory.
    #[error("no log in {dir} (no {dir}/log/checkpoint); create one first")]
    NoLog {
        /// The ledger directory.
        dir: PathBuf,
    },
    /// The log refused an operation (damage, I/O, entry too large, ...).
    #[error(transparent)]
    Log(#[from] LogError),
    /// An entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// An entry read from the log does not decode.
    #[error("log entry {index}: {source}")]
    EntryAt {
        /// Its index.
        index: u64,
        /// Why.
        #[source]
        source: EntryError,
    },
    /// The origin cannot name a note key (white space or `+`), or the log key is unusable.
    #[error("log key: {0}")]
    Key(#[from] note::KeyError),
    /// The stored checkpoint's body is malformed.
    #[error("{path}: {source}")]
    CheckpointBody {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// The stored checkpoint does not verify with the given log key.
    #[error("{path} does not verify with log key {key}: {source}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The key tried.
        key: String,
        /// Why.
        #[source]
        source: CheckpointOpenError,
    },
    /// The caller named an origin other than the log's.
    #[error("the log's origin is {found:?}, not {expected:?}")]
    OriginMismatch {
        /// What the caller asked for.
        expected: String,
        /// What the log says.
        found: String,
    },
    /// A write on a ledger opened read-only.
    #[error("the ledger is open read-only; open it for writing to append")]
    ReadOnly,
    /// An index or size beyond the log.
    #[error("{what} {value} is beyond the log's size {size}")]
    OutOfRange {
        /// "entry" or "tree size".
        what: &'static str,
        /// The value asked for.
        value: u64,
        /// The log's size.
        size: u64,
    },
    /// A read-only ledger has a signed checkpoint only at the size it opened.
    #[error(
        "no signed checkpoint of size {size} is at hand (read-only ledger at size {latest}); \
         prove at the current size"
    )]
    NoCheckpointAt {
        /// The size asked for.
        size: u64,
        /// The size available.
        latest: u64,
    },
    /// Reading the tiles directory failed.
    #[error(transparent)]
    Tiles(#[from] DirError),
    /// A proof could not be computed from the tiles directory.
    #[error("proving: {0}")]
    Prove(#[from] proof::ProveError<TileReadError<DirError>>),
    /// The stored tiles give a root that the signed checkpoint does not commit to.
    #[error(
        "proving: the stored tiles give a root for size {size} that the signed checkpoint of size \
         {latest} does not commit to ({source}); the log is damaged: run `poex audit validate`"
    )]
    Damaged {
        /// The size whose root was computed.
        size: u64,
        /// The signed checkpoint's size.
        latest: u64,
        /// Why the roots do not link.
        source: proof::ConsistencyError,
    },
    /// Signing a checkpoint failed.
    #[error("signing a checkpoint: {0}")]
    Sign(#[from] note::SignError),
    /// An index query failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A read-only ledger was asked for the proof of a receipt that is not in the log.
    #[error("the receipt is not in the log; log it with a writable ledger first")]
    NotLogged,
    /// The writer cannot append now (a commit failed part-way and the log is not reopened
    /// yet); the reason says what failed. It is text on purpose: the failure happened once,
    /// in another call, and is reported to every caller until the log is reopened.
    #[error("the log cannot be written now: {0}")]
    Unavailable(String),
}

/// One entry read back from the log.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Logged {
    /// Its index.
    pub index: LogIndex,
    /// Decoded.
    pub entry: Entry,
    /// The exact bytes the log holds (the leaf hash is `SHA-256(0x00 ‖ bytes)`).
    pub bytes: Vec<u8>,
}

/// The default origin of a log signed by `key`: `poex.local/log/<first 16 hex of its key id>`.
pub fn default_origin(key: &PublicKey) -> Origin {
    format!("poex.local/log/{}", key.key_id().short())
        .parse()
        .expect("the text is non-empty ASCII without control characters, which is an origin")
}

enum Mode {
    Writer {
        /// The log; `None` only while [`Ledger::reopen_writer`] could not open it again.
        log: RwLock<Option<Box<Log<FileStore>>>>,
        signer: Arc<LogSigner>,
        /// Why the writer stopped (a commit failed part-way), until it is reopened.
        fault: Mutex<Option<String>>,
        /// The log's size when last seen, for [`Ledger::size`] while the log is closed.
        known_size: AtomicU64,
        /// Held, locked, for the ledger's life; the lock goes with the descriptor.
        _lock: File,
    },
    Reader {
        tiles: DirTiles,
        size: u64,
        root: Hash,
        note: String,
    },
}

/// What is indexed where. Guarded by [`Ledger::index`].
struct Indexes {
    /// The redb file, when it could be opened.
    db: Option<Index>,
    /// Entries below this are in `db`.
    db_size: u64,
    /// A write to `db` failed: it is left as it is and newer entries go to `tail` (the next open
    /// catches the file up from the log).
    frozen: bool,
    /// Entries `db_size..size`.
    tail: MemIndex,
    /// The keys of entries `db_size..size` while the index file is writable: written to it in
    /// one transaction once [`INDEX_WRITE_EVERY`] have gathered, and when the ledger is
    /// dropped (each redb commit costs two `fdatasync`s, a job appends about ten entries).
    deferred: Vec<(u64, Keys)>,
    /// Entries below this are indexed (in `db` or `tail`).
    size: u64,
}

/// How [`Ledger::open_writer`] treats a missing or existing log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Create {
    Never,
    Always,
    IfMissing,
}

/// The poex transparency log in a directory: typed entries, indexes, proofs.
///
/// A writable ledger holds the directory's writer lock for its whole life; a read-only ledger
/// takes no lock and sees the log as of the checkpoint it read when it opened. `Ledger` is
/// `Sync`: share it between threads; concurrent appends are committed together.
pub struct Ledger {
    dir: PathBuf,
    origin: Origin,
    verifier: Ed25519Verifier,
    mode: Mode,
    index: Mutex<Indexes>,
    /// Things the user should hear about (index rebuilt, index update failed); the CLI prints them.
    notices: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.dir)
            .field("origin", &self.origin)
            .field("writable", &self.is_writable())
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

impl Drop for Ledger {
    /// Writes the index entries kept in memory to the index file (one transaction), so that
    /// the next open need not index them again from the log.
    fn drop(&mut self) {
        let mut ix = lock(&self.index);
        if ix.frozen || ix.deferred.is_empty() {
            return;
        }
        let deferred = std::mem::take(&mut ix.deferred);
        let end = ix.db_size + deferred.len() as u64;
        let Ok(root) = self.root(end) else { return };
        if let Some(db) = &ix.db
            && db.apply(&deferred, IndexState { size: end, root }).is_ok()
        {
            ix.db_size = end;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data is consistent between statements; a panic elsewhere does not damage it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Ledger {
    /// Creates a new log in `dir` (created if missing), signed by `key`, named `origin` (by
    /// default [`default_origin`]). Fails if `dir` already holds a log or another process holds
    /// its lock.
    pub fn create(
        dir: impl AsRef<Path>,
        key: Arc<dyn poex_core::Signer>,
        origin: Option<Origin>,
    ) -> Result<Ledger, LedgerError> {
        Self::open_writer(dir.as_ref(), key, origin, Create::Always, false)
    }

    /// Opens the log in `dir` for writing, waiting for another writer to close it first.
    /// `key` must be the log's key (the stored checkpoint must verify with it).
    pub fn open(
        dir: impl AsRef<Path>,
        key: Arc<dyn poex_core::Signer>,
    ) -> Result<Ledger, LedgerError> {
        Self::open_writer(dir.as_ref(), key, None, Create::Never, true)
    }

    /// Like [`open`](Self::open), but fails at once with [`LedgerError::InUse`] if another
    /// process is writing.
    pub fn try_open(
        dir: impl AsRef<Path>,
        key: Arc<dyn poex_core::Signer>,
    ) -> Result<Ledger, LedgerError> {
        Self::open_writer(dir.as_ref(), key, None, Create::Never, false)
    }

    /// Opens the log in `dir` for writing, creating it if there is none (waits for another
    /// writer). With `origin`, an existing log must have that origin.
    pub fn open_or_create(
        dir: impl AsRef<Path>,
        key: Arc<dyn poex_core::Signer>,
        origin: Option<Origin>,
    ) -> Result<Ledger, LedgerError> {
        Self::open_writer(dir.as_ref(), key, origin, Create::IfMissing, true)
    }

    fn open_writer(
        dir: &Path,
        key: Arc<dyn poex_core::Signer>,
        origin: Option<Origin>,
        create: Create,
        wait: bool,
    ) -> Result<Ledger, LedgerError> {
        if create == Create::Never {
            if !dir
                .join(LOG_DIR)
                .join(poex_log_store::CHECKPOINT_PATH)
                .exists()
            {
                return Err(LedgerError::NoLog {
                    dir: dir.to_path_buf(),
                });
            }
        } else {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        if wait {
            lock_file.lock().map_err(io_err(&lock_path))?;
        } else {
            match lock_file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(LedgerError::InUse {
                        dir: dir.to_path_buf(),
                        lock: lock_path,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
            }
        }
        // We are the only writer from here on.

        let log_dir = dir.join(LOG_DIR);
        let checkpoint_path = log_dir.join(poex_log_store::CHECKPOINT_PATH);
        let exists = checkpoint_path.exists();
        let mut notices = Vec::new();
        let (log, signer) = match (exists, create) {
            (true, Create::Always) => {
                return Err(LedgerError::Exists {
                    dir: dir.to_path_buf(),
                });
            }
            (false, Create::Never) => {
                return Err(LedgerError::NoLog {
                    dir: dir.to_path_buf(),
                });
            }
            (true, _) => {
                let found = stored_origin(&checkpoint_path)?;
                if let Some(want) = &origin
                    && *want != found
                {
                    return Err(LedgerError::OriginMismatch {
                        expected: want.to_string(),
                        found: found.to_string(),
                    });
                }
                let signer = Arc::new(LogSigner::new(found.as_str(), key)?);
                let store = FileStore::open(&log_dir).map_err(io_err(&log_dir))?;
                let config = log_config(&found, &signer);
                let log = Log::open_indexed(store, config, dir.join(LEAVES_FILE))?;
                (Box::new(log), signer)
            }
            (false, _) => {
                let origin = origin.unwrap_or_else(|| default_origin(&key.public_key()));
                let signer = Arc::new(LogSigner::new(origin.as_str(), key)?);
                // Indexes left from an earlier log in this directory describe another log.
                for stale in [INDEX_FILE, LEAVES_FILE] {
                    let path = dir.join(stale);
                    if path.exists() {
                        fs::remove_file(&path).map_err(io_err(&path))?;
                        notices.push(format!(
                            "removed {}: it indexed an earlier log in this directory",
                            path.display()
                        ));
                    }
                }
                let store = FileStore::open(&log_dir).map_err(io_err(&log_dir))?;
                let config = log_config(&origin, &signer);
                let log = Log::create_indexed(store, config, dir.join(LEAVES_FILE))?;
                (Box::new(log), signer)
            }
        };
        let (_, root_note) = log.checkpoint()?;
        let (checkpoint, _) = Checkpoint::open(root_note.as_bytes(), &[signer.verifier()])
            .map_err(|source| LedgerError::Checkpoint {
                path: checkpoint_path.clone(),
                key: signer.verifier().to_string(),
                source,
            })?;
        let ledger = Ledger {
            dir: dir.to_path_buf(),
            origin: checkpoint.origin,
            verifier: signer.verifier().clone(),
            mode: Mode::Writer {
                known_size: AtomicU64::new(log.size()),
                log: RwLock::new(Some(log)),
                signer,
                fault: Mutex::new(None),
                _lock: lock_file,
            },
            index: Mutex::new(Indexes {
                db: None,
                db_size: 0,
                frozen: false,
                tail: MemIndex::new(),
                deferred: Vec::new(),
                size: 0,
            }),
            notices: Mutex::new(notices),
        };
        ledger.open_index_for_writing();
        ledger.sync_index(&[]);
        Ok(ledger)
    }

    /// Opens the log in `dir` for queries and proofs, without a lock and without writing
    /// anything. The stored checkpoint must verify with `verifier` (the log's key); the ledger
    /// sees the log as of that checkpoint.
    pub fn open_read_only(
        dir: impl AsRef<Path>,
        verifier: &Ed25519Verifier,
    ) -> Result<Ledger, LedgerError> {
        let dir = dir.as_ref();
        let log_dir = dir.join(LOG_DIR);
        let checkpoint_path = log_dir.join(poex_log_store::CHECKPOINT_PATH);
        let mut notices = Vec::new();
        // Open the index before reading the checkpoint: the writer updates the index only after
        // a checkpoint covers the entries, so the checkpoint we read next covers the index.
        let index_path = dir.join(INDEX_FILE);
        let opened = std::panic::catch_unwind(|| Index::open_read_only(&index_path))
            .unwrap_or_else(|_| {
                Err(IndexError::Layout {
                    path: index_path.clone(),
                    reason: "damaged (opening it panicked)".into(),
                })
            });
        let db = match opened {
            Ok(db) => Some(db),
            Err(e) => {
                notices.push(if index_path.exists() {
                    format!(
                        "{e}; answering queries from the log itself (the next writer rebuilds the index)"
                    )
                } else {
                    format!(
                        "no index at {}; answering queries from the log itself",
                        index_path.display()
                    )
                });
                None
            }
        };
        let tiles = DirFiles::tiles(&log_dir, 0);
        let note_bytes = match tiles.checkpoint() {
            Ok(b) => b,
            Err(DirError::Missing { .. }) => {
                return Err(LedgerError::NoLog {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let (checkpoint, _) = Checkpoint::open(&note_bytes, &[verifier]).map_err(|source| {
            LedgerError::Checkpoint {
                path: checkpoint_path.clone(),
                key: verifier.to_string(),
                source,
            }
        })?;
        let size = checkpoint.size.get();
        let ledger = Ledger {
            dir: dir.to_path_buf(),
            origin: checkpoint.origin,
            verifier: verifier.clone(),
            mode: Mode::Reader {
                tiles: tiles.at(size),
                size,
                root: checkpoint.root,
                note: String::from_utf8_lossy(&note_bytes).into_owned(),
            },
            index: Mutex::new(Indexes {
                db: None,
                db_size: 0,
                frozen: true,
                tail: MemIndex::new(),
                deferred: Vec::new(),
                size: 0,
            }),
            notices: Mutex::new(notices),
        };
        if let Some(db) = db {
            ledger.adopt_read_only_index(db);
        }
        ledger.sync_index(&[]);
        Ok(ledger)
    }

    /// [`open_read_only`](Self::open_read_only) with the log's public key instead of its
    /// verifier key string: the key name is taken from the stored checkpoint's origin (poex
    /// names a log's key after its origin), and the signature must verify with `key`.
    pub fn open_read_only_with_key(
        dir: impl AsRef<Path>,
        key: &PublicKey,
    ) -> Result<Ledger, LedgerError> {
        let dir = dir.as_ref();
        let checkpoint_path = dir.join(LOG_DIR).join(poex_log_store::CHECKPOINT_PATH);
        if !checkpoint_path.exists() {
            return Err(LedgerError::NoLog {
                dir: dir.to_path_buf(),
            });
        }
        let origin = stored_origin(&checkpoint_path)?;
        let verifier = Ed25519Verifier::new(origin.as_str(), key.as_bytes())?;
        Self::open_read_only(dir, &verifier)
    }

    /// Whether this ledger can append.
    pub fn is_writable(&self) -> bool {
        matches!(self.mode, Mode::Writer { .. })
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The tlog-tiles directory (`checkpoint`, `tile/...`): serve it as static files and any
    /// tlog client can read and check the log.
    pub fn tiles_dir(&self) -> PathBuf {
        self.dir.join(LOG_DIR)
    }

    /// The log's origin (the first line of its checkpoints, and the name of its key).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The log's verifier.
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }

    /// The log's verifier key string, `<origin>+<hex8 key id>+<base64(0x01 ‖ public key)>`:
    /// what a verifier pins to trust this log.
    pub fn verifier_key(&self) -> String {
        self.verifier.to_string()
    }

    /// Messages for the user: an index rebuilt, an index update that failed. Nothing here is an
    /// error of the log; the CLI should print them.
    pub fn notices(&self) -> Vec<String> {
        lock(&self.notices).clone()
    }

    fn notice(&self, message: String) {
        lock(&self.notices).push(message);
    }

    /// Runs `f` on the writer's log; [`LedgerError::Unavailable`] while it is closed (a reopen
    /// failed). Never called on a reader.
    fn with_log<T>(
        &self,
        f: impl FnOnce(&Log<FileStore>) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let Mode::Writer { log, .. } = &self.mode else {
            return Err(LedgerError::ReadOnly);
        };
        let guard = read(log);
        f(guard.as_ref().ok_or_else(|| self.closed())?)
    }

    fn closed(&self) -> LedgerError {
        LedgerError::Unavailable(
            self.writer_fault()
                .unwrap_or_else(|| "the log writer is closed".into()),
        )
    }

    /// Why this writer cannot append now: a commit failed part-way (the handle refuses every
    /// append after that, and the log on disk is recoverable) and [`reopen_writer`]
    /// (Self::reopen_writer) has not succeeded since. `None` for a working writer and for
    /// readers.
    pub fn writer_fault(&self) -> Option<String> {
        match &self.mode {
            Mode::Writer { log, fault, .. } => lock(fault).clone().or_else(|| {
                read(log)
                    .is_none()
                    .then(|| "the log writer is closed".to_owned())
            }),
            Mode::Reader { .. } => None,
        }
    }

    /// Reopens a failed writer in place, keeping the directory's lock: the failed handle is
    /// closed, the log opened again from disk (a batch that failed part-way is rolled forward
    /// or dropped, as after a crash: nothing acknowledged is lost) and the index caught up.
    /// Appends and reads wait while it runs; if the open fails the writer stays closed (every
    /// call says why) until a later reopen succeeds. A working writer is left as it is.
    pub fn reopen_writer(&self) -> Result<(), LedgerError> {
        let Mode::Writer {
            log,
            signer,
            fault,
            known_size,
            ..
        } = &self.mode
        else {
            return Err(LedgerError::ReadOnly);
        };
        {
            let mut guard = log.write().unwrap_or_else(PoisonError::into_inner);
            if guard.is_some() && lock(fault).is_none() {
                return Ok(());
            }
            // The failed handle keeps its leaf index open: it must go before the new open.
            *guard = None;
            let log_dir = self.dir.join(LOG_DIR);
            let opened = FileStore::open(&log_dir)
                .map_err(io_err(&log_dir))
                .and_then(|store| {
                    let config = log_config(&self.origin, signer);
                    Ok(Log::open_indexed(
                        store,
                        config,
                        self.dir.join(LEAVES_FILE),
                    )?)
                });
            match opened {
                Ok(fresh) => {
                    known_size.store(fresh.size(), Ordering::Relaxed);
                    *guard = Some(Box::new(fresh));
                    *lock(fault) = None;
                }
                Err(e) => {
                    *lock(fault) = Some(format!("reopening the log after a failed write: {e}"));
                    return Err(e);
                }
            }
        }
        self.sync_index(&[]);
        Ok(())
    }

    /// The number of entries (the size of the latest checkpoint).
    pub fn size(&self) -> u64 {
        match &self.mode {
            Mode::Writer {
                log, known_size, ..
            } => read(log)
                .as_ref()
                .map_or_else(|| known_size.load(Ordering::Relaxed), |l| l.size()),
            Mode::Reader { size, .. } => *size,
        }
    }

    /// The latest signed checkpoint, parsed, and the signed note verbatim.
    pub fn checkpoint(&self) -> Result<(Checkpoint, String), LedgerError> {
        let note = match &self.mode {
            Mode::Writer { .. } => self.with_log(|log| Ok(log.latest().2))?,
            Mode::Reader { note, .. } => note.clone(),
        };
        let (cp, _) = Checkpoint::open(note.as_bytes(), &[&self.verifier]).map_err(|source| {
            LedgerError::Checkpoint {
                path: self.tiles_dir().join(poex_log_store::CHECKPOINT_PATH),
                key: self.verifier_key(),
                source,
            }
        })?;
        Ok((cp, note))
    }

    /// Appends entries; returns their indexes once they are durable and covered by a signed
    /// checkpoint. An entry identical to one already logged gets its existing index. Entries
    /// are encoded first: one that is too large fails the call before anything is written.
    pub fn append(&self, entries: &[Entry]) -> Result<Vec<LogIndex>, LedgerError> {
        let Mode::Writer {
            fault, known_size, ..
        } = &self.mode
        else {
            return Err(LedgerError::ReadOnly);
        };
        let encoded = entries
            .iter()
            .map(Entry::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let appended = self.with_log(|log| {
            let appended = log.append(&encoded);
            known_size.store(log.size(), Ordering::Relaxed);
            Ok(appended)
        })?;
        let indexes = match appended {
            Ok(indexes) => indexes,
            Err(e) => {
                if matches!(e, LogError::Failed(_)) {
                    // The handle refuses every append from now on; reopening recovers.
                    *lock(fault) = Some(e.to_string());
                }
                return Err(e.into());
            }
        };
        // The entries are in the log. From here on nothing fails the append: the index is
        // derived data, and if updating it fails the next open catches it up from the log.
        let fresh: Vec<(u64, Vec<u8>)> = indexes.iter().map(|i| i.get()).zip(encoded).collect();
        self.sync_index(&fresh);
        Ok(indexes)
    }

    /// Logs a receipt: whole when it fits in an entry, else by digest
    /// ([`Entry::receipt`]). Logging the same receipt again returns its existing index.
    pub fn log_receipt(&self, envelope: &Envelope) -> Result<LogIndex, LedgerError> {
        self.append_one(Entry::receipt(envelope)?)
    }

    /// Logs a registry record.
    pub fn log_record(&self, record: &Record) -> Result<LogIndex, LedgerError> {
        self.append_one(Entry::Record(record.clone()))
    }

    /// Logs audit events, in order, in one commit.
    pub fn log_events(&self, events: &[Event]) -> Result<Vec<LogIndex>, LedgerError> {
        let entries: Vec<Entry> = events.iter().cloned().map(Entry::Event).collect();
        self.append(&entries)
    }

    fn append_one(&self, entry: Entry) -> Result<LogIndex, LedgerError> {
        Ok(self
            .append(&[entry])?
            .pop()
            .expect("the log returns one index per entry appended"))
    }

    /// The exact bytes of entry `index`.
    pub fn entry_bytes(&self, index: LogIndex) -> Result<Vec<u8>, LedgerError> {
        let size = self.size();
        if index.get() >= size {
            return Err(LedgerError::OutOfRange {
                what: "entry",
                value: index.get(),
                size,
            });
        }
        match &self.mode {
            Mode::Writer { .. } => self.with_log(|log| Ok(log.entry(index.get())?)),
            Mode::Reader { tiles, size, .. } => {
                let mut one = tiles.entries(index.get(), index.get() + 1, *size)?;
                one.pop().ok_or(LedgerError::OutOfRange {
                    what: "entry",
                    value: index.get(),
                    size: *size,
                })
            }
        }
    }

    /// Entry `index`, decoded, with its exact bytes.
    pub fn entry(&self, index: LogIndex) -> Result<Logged, LedgerError> {
        let bytes = self.entry_bytes(index)?;
        let entry = Entry::decode(&bytes).map_err(|source| LedgerError::EntryAt {
            index: index.get(),
            source,
        })?;
        Ok(Logged {
            index,
            entry,
            bytes,
        })
    }

    /// Entries at `indexes` (any order), reading each entry bundle once; returned in the order
    /// asked.
    pub fn entries(&self, indexes: &[LogIndex]) -> Result<Vec<Logged>, LedgerError> {
        let size = self.size();
        let width = u64::from(TILE_WIDTH);
        let mut bundles: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
        for i in indexes {
            if i.get() >= size {
                return Err(LedgerError::OutOfRange {
                    what: "entry",
                    value: i.get(),
                    size,
                });
            }
            let b = i.get() / width;
            if let std::collections::btree_map::Entry::Vacant(slot) = bundles.entry(b) {
                let end = ((b + 1) * width).min(size);
                slot.insert(self.read_range(b * width, end, size)?);
            }
        }
        indexes
            .iter()
            .map(|&index| {
                let i = index.get();
                let bytes = bundles
                    .get(&(i / width))
                    .and_then(|b| b.get(usize::try_from(i % width).unwrap_or(usize::MAX)))
                    .cloned()
                    .ok_or(LedgerError::OutOfRange {
                        what: "entry",
                        value: i,
                        size,
                    })?;
                let entry = Entry::decode(&bytes)
                    .map_err(|source| LedgerError::EntryAt { index: i, source })?;
                Ok(Logged {
                    index,
                    entry,
                    bytes,
                })
            })
            .collect()
    }

    /// Entries `start..end` of the tree of `size` leaves, raw.
    fn read_range(&self, start: u64, end: u64, size: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        Ok(match &self.mode {
            Mode::Writer { .. } => {
                self.with_log(|log| Ok(read_entries(|p| log.store().read(p), start, end, size)?))?
            }
            Mode::Reader { tiles, .. } => tiles.entries(start, end, size)?,
        })
    }

    /// A c2sp.org/tlog-proof for entry `index`: the inclusion proof in the tree of `size` leaves
    /// (default: the latest checkpoint) and the signed checkpoint of that size.
    ///
    /// A writable ledger proves at any size up to the latest (it signs the checkpoint of an
    /// older size again: Ed25519 is deterministic and the body holds only origin, size and
    /// root, so that note is byte for byte the one published at that size). A read-only ledger
    /// proves at its own size only.
    pub fn prove(&self, index: LogIndex, size: Option<u64>) -> Result<TlogProof, LedgerError> {
        let latest = self.size();
        let size = size.unwrap_or(latest);
        if size > latest {
            return Err(LedgerError::OutOfRange {
                what: "tree size",
                value: size,
                size: latest,
            });
        }
        if index.get() >= size {
            return Err(LedgerError::OutOfRange {
                what: "entry",
                value: index.get(),
                size,
            });
        }
        let (hashes, checkpoint) = match &self.mode {
            Mode::Writer { log, signer, .. } => {
                let guard = read(log);
                let log = guard.as_ref().ok_or_else(|| self.closed())?;
                let (now, _, note) = log.latest();
                let hashes = log.inclusion_proof(index.get(), size)?;
                let note = if size == now {
                    note
                } else {
                    // Sign an older size only over a root the published checkpoint commits
                    // to: a damaged old tile must be an error, never a signed checkpoint of a
                    // tree that was never published (which would read as a fork).
                    let (_, latest_root, _) = log.latest();
                    let root = log.root(size)?;
                    let link = log.consistency_proof(size, now)?;
                    proof::verify_consistency(size, now, &link, &root, &latest_root).map_err(
                        |source| LedgerError::Damaged {
                            size,
                            latest: now,
                            source,
                        },
                    )?;
                    Checkpoint::new(self.origin.clone(), TreeSize(size), root).sign(&[&**signer])?
                };
                (hashes, note)
            }
            Mode::Reader {
                tiles,
                size: at,
                note,
                ..
            } => {
                if size != *at {
                    return Err(LedgerError::NoCheckpointAt { size, latest: *at });
                }
                let reader = TileHashReader::new(size, tiles);
                let hashes = proof::inclusion_proof(index.get(), size, &reader)?;
                (hashes, note.clone())
            }
        };
        Ok(TlogProof {
            extra: None,
            index: index.get(),
            hashes,
            checkpoint,
        })
    }

    /// The consistency proof from the tree of `size1` leaves to the tree of `size2` leaves
    /// (`0 < size1 <= size2 <= size`).
    pub fn consistency(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, LedgerError> {
        let latest = self.size();
        if size2 > latest {
            return Err(LedgerError::OutOfRange {
                what: "tree size",
                value: size2,
                size: latest,
            });
        }
        match &self.mode {
            Mode::Writer { .. } => self.with_log(|log| Ok(log.consistency_proof(size1, size2)?)),
            Mode::Reader { tiles, .. } => {
                proof::consistency_proof(size1, size2, &TileHashReader::new(size2, tiles))
                    .map_err(LedgerError::from)
            }
        }
    }

    /// The root of the tree of `size` leaves (at most the log's size).
    pub fn root(&self, size: u64) -> Result<Hash, LedgerError> {
        let latest = self.size();
        if size > latest {
            return Err(LedgerError::OutOfRange {
                what: "tree size",
                value: size,
                size: latest,
            });
        }
        match &self.mode {
            Mode::Writer { .. } => self.with_log(|log| Ok(log.root(size)?)),
            Mode::Reader {
                tiles,
                size: at,
                root,
                ..
            } => {
                if size == *at {
                    return Ok(*root);
                }
                proof::root(size, &TileHashReader::new(size, tiles)).map_err(LedgerError::from)
            }
        }
    }

    /// The index of `envelope`'s entry, if the receipt is in the log.
    pub fn find_receipt(&self, envelope: &Envelope) -> Result<Option<LogIndex>, LedgerError> {
        let entry = Entry::receipt(envelope)?;
        let bytes = entry.encode()?;
        if let Mode::Writer { .. } = &self.mode {
            return self.with_log(|log| Ok(log.find(&poex_log::leaf_hash(&bytes))?));
        }
        // A reader has no leaf index: look among the job's entries.
        let keys = entry.keys();
        let candidates = match &keys.job {
            Some(job) => self.by_job(job)?,
            None => self.by_kind(&keys.kind)?,
        };
        for logged in self.entries(&candidates)? {
            if logged.bytes == bytes {
                return Ok(Some(logged.index));
            }
        }
        Ok(None)
    }

    /// Entries of job `job` (receipts, receipt digests, events), in log order.
    pub fn by_job(&self, job: &str) -> Result<Vec<LogIndex>, LedgerError> {
        self.lookup(Field::Job, job)
    }

    /// The receipts logged for job `job`, in log order: a `receipt` entry with its envelope,
    /// a `receipt-digest` entry (a receipt too large to log whole, kept in the job folder)
    /// with `None`.
    pub fn job_receipts(
        &self,
        job: &str,
    ) -> Result<Vec<(LogIndex, Option<Envelope>)>, LedgerError> {
        let mut out = Vec::new();
        for logged in self.entries(&self.by_job(job)?)? {
            match logged.entry {
                Entry::Receipt(envelope) => out.push((logged.index, Some(envelope))),
                Entry::ReceiptDigest(d) if d.job == job => out.push((logged.index, None)),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Jobs with more than one receipt in the log, each with the indexes of its receipts (in
    /// log order): a job ends once, so a second end receipt contradicts the first (`poex audit
    /// validate` reports them). Walks every receipt entry of the log.
    pub fn jobs_with_several_receipts(&self) -> Result<Vec<(String, Vec<LogIndex>)>, LedgerError> {
        let mut receipts = self.by_kind(crate::entry::Kind::Receipt.name())?;
        receipts.extend(self.by_kind(crate::entry::Kind::ReceiptDigest.name())?);
        receipts.sort_unstable();
        let mut by_job: BTreeMap<String, Vec<LogIndex>> = BTreeMap::new();
        for chunk in receipts.chunks(usize::from(TILE_WIDTH)) {
            for logged in self.entries(chunk)? {
                if let Some(job) = logged.entry.keys().job {
                    by_job.entry(job).or_default().push(logged.index);
                }
            }
        }
        Ok(by_job.into_iter().filter(|(_, v)| v.len() > 1).collect())
    }

    /// Entries about asset `key`: `dataset/<name>`, `algorithm/<name>` or `sha256:<hex>`, in
    /// log order.
    pub fn by_asset(&self, key: &str) -> Result<Vec<LogIndex>, LedgerError> {
        self.lookup(Field::Asset, key)
    }

    /// Entries of kind `kind` (`receipt`, `receipt-digest`, `record`, `event`, an unknown
    /// entry's header, or [`INVALID_KIND`]), in log order.
    pub fn by_kind(&self, kind: &str) -> Result<Vec<LogIndex>, LedgerError> {
        self.lookup(Field::Kind, kind)
    }

    /// Entries whose time (receipt `finishedOn`, record `published_at`, event `time`) is in
    /// `range`, in time order (ties in log order).
    pub fn by_time(
        &self,
        range: impl RangeBounds<OffsetDateTime>,
    ) -> Result<Vec<LogIndex>, LedgerError> {
        let nanos = |b: Bound<&OffsetDateTime>| match b {
            Bound::Included(t) => Bound::Included(t.unix_timestamp_nanos()),
            Bound::Excluded(t) => Bound::Excluded(t.unix_timestamp_nanos()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let range = (nanos(range.start_bound()), nanos(range.end_bound()));
        let mut out = self.query(
            |db, below| db.times(range, below),
            |mem, below| mem.times(range, below),
        );
        out.sort_unstable();
        Ok(out.into_iter().map(|(_, i)| LogIndex(i)).collect())
    }

    fn lookup(&self, field: Field, key: &str) -> Result<Vec<LogIndex>, LedgerError> {
        let mut out = self.query(
            |db, below| db.lookup(field, key, below),
            |mem, below| mem.lookup(field, key, below),
        );
        out.sort_unstable();
        out.dedup();
        Ok(out.into_iter().map(LogIndex).collect())
    }

    /// Asks the redb index for what it holds and the memory index for the rest. If the redb
    /// file fails (an error, or a panic inside redb on a damaged file that no integrity check
    /// saw, e.g. in a read-only open), it is dropped with a notice and the answer comes from the
    /// log, scanned into memory: a damaged index never fails a query.
    fn query<T>(
        &self,
        from_db: impl Fn(&Index, u64) -> Result<Vec<T>, IndexError>,
        from_memory: impl Fn(&MemIndex, u64) -> Vec<T>,
    ) -> Vec<T> {
        let below = self.size();
        let mut ix = lock(&self.index);
        if let Some(db) = &ix.db {
            let limit = ix.db_size.min(below);
            let why =
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| from_db(db, limit)))
                {
                    Ok(Ok(mut found)) => {
                        found.extend(from_memory(&ix.tail, below));
                        return found;
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!(
                        "index {} is damaged (reading it panicked)",
                        db.path().display()
                    ),
                };
            self.notice(format!(
                "{why}; answering from the log itself (the next writable open rebuilds the index)"
            ));
            *ix = Indexes {
                db: None,
                db_size: 0,
                frozen: true,
                tail: MemIndex::new(),
                deferred: Vec::new(),
                size: 0,
            };
            drop(ix);
            self.sync_index(&[]);
            ix = lock(&self.index);
        }
        from_memory(&ix.tail, below)
    }

    /// The audit events matching `filter`, in log order: the log as the audit trail. Served
    /// through the index (job, else time range, else every event), then filtered exactly.
    pub fn events(&self, filter: &Filter) -> Result<Vec<(LogIndex, Event)>, LedgerError> {
        let mut candidates = if let Some(job) = &filter.job {
            self.by_job(job)?
        } else if filter.since.is_some() || filter.until.is_some() {
            let start = filter.since.map_or(Bound::Unbounded, Bound::Included);
            let end = filter.until.map_or(Bound::Unbounded, Bound::Excluded);
            self.by_time((start, end))?
        } else {
            self.by_kind(crate::entry::Kind::Event.name())?
        };
        candidates.sort_unstable();
        let mut out = Vec::new();
        for logged in self.entries(&candidates)? {
            if let Entry::Event(e) = logged.entry
                && filter.matches(&e)
            {
                out.push((logged.index, e));
            }
        }
        Ok(out)
    }

    /// Opens (or builds) the redb index of a writable ledger; any trouble is a notice, never an
    /// error: the log stands without its index.
    fn open_index_for_writing(&self) {
        let Mode::Writer { log, .. } = &self.mode else {
            return;
        };
        let guard = read(log);
        let Some(log) = guard.as_ref() else {
            return;
        };
        let path = self.dir.join(INDEX_FILE);
        let existed = path.exists();
        let size = log.size();
        let mut db = match Index::open_writable(&path) {
            Ok(db) => match db.state() {
                Ok(st) if st.size <= size && log.root(st.size).ok() == Some(st.root) => Some(db),
                Ok(st) => {
                    self.notice(format!(
                        "index {} does not match this log (it indexes {} entries with another \
                         root; the log has {size}); rebuilding it from the log",
                        path.display(),
                        st.size
                    ));
                    None
                }
                Err(e) => {
                    self.notice(format!("{e}; rebuilding the index from the log"));
                    None
                }
            },
            Err(e) => {
                if existed {
                    self.notice(format!("{e}; rebuilding the index from the log"));
                }
                None
            }
        };
        if db.is_none() {
            // Whatever is at the path is not a usable index of this log: start afresh.
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                self.notice(format!(
                    "cannot remove {}: {e}; queries use an index in memory",
                    path.display()
                ));
            }
            match Index::open_writable(&path) {
                Ok(fresh) => db = Some(fresh),
                Err(e) => self.notice(format!("{e}; queries use an index in memory")),
            }
        }
        if !existed && size > 0 {
            self.notice(format!(
                "no index at {}; building it from the log ({size} entries)",
                path.display()
            ));
        }
        let mut ix = lock(&self.index);
        ix.frozen = db.is_none();
        ix.db_size = match &db {
            Some(db) => db.state().map(|s| s.size).unwrap_or(0),
            None => 0,
        };
        ix.size = ix.db_size;
        ix.db = db;
    }

    /// Takes a read-only index if it belongs to this log (same root at the size it indexes).
    fn adopt_read_only_index(&self, db: Index) {
        let size = self.size();
        let state = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.state()))
            .unwrap_or_else(|_| {
                Err(IndexError::Layout {
                    path: db.path().to_path_buf(),
                    reason: "damaged (reading it panicked)".into(),
                })
            });
        let usable = match state {
            Ok(st) if st.size > size => {
                // The writer moved on after we read the checkpoint: everything we can see is in
                // the index, and queries stop at our size.
                Ok(size)
            }
            Ok(st) => match self.root(st.size) {
                Ok(root) if root == st.root => Ok(st.size),
                Ok(_) => Err(format!(
                    "index {} does not match this log",
                    db.path().display()
                )),
                Err(e) => Err(format!("checking index {}: {e}", db.path().display())),
            },
            Err(e) => Err(e.to_string()),
        };
        match usable {
            Ok(indexed) => {
                let mut ix = lock(&self.index);
                ix.db = Some(db);
                ix.db_size = indexed;
                ix.size = indexed;
            }
            Err(why) => self.notice(format!("{why}; answering queries from the log itself")),
        }
    }

    /// Indexes everything between the indexed size and the log's size. `fresh` holds entries
    /// the caller has at hand (index, bytes); the others are read from the log.
    fn sync_index(&self, fresh: &[(u64, Vec<u8>)]) {
        let target = self.size();
        let mut ix = lock(&self.index);
        let fresh: HashMap<u64, &[u8]> = fresh.iter().map(|(i, b)| (*i, b.as_slice())).collect();
        while ix.size < target {
            let start = ix.size;
            let end = target.min(start + INDEX_BATCH);
            let at_hand: Option<Vec<Vec<u8>>> = (start..end)
                .map(|i| fresh.get(&i).map(|b| b.to_vec()))
                .collect();
            let bytes = match at_hand {
                Some(b) => b,
                None => match self.read_range(start, end, target) {
                    Ok(b) => b,
                    Err(e) => {
                        self.notice(format!(
                            "indexing entries {start}..{end}: {e}; queries miss entries from {start} on"
                        ));
                        return;
                    }
                },
            };
            let batch: Vec<(u64, Keys)> = (start..end)
                .zip(&bytes)
                .map(|(i, b)| (i, keys_of(b)))
                .collect();
            let writable =
                !ix.frozen && ix.db.is_some() && ix.db_size + ix.deferred.len() as u64 == start;
            if writable && end - ix.db_size < INDEX_WRITE_EVERY && end == target {
                // Kept in memory (queries see it through `tail`) until enough has gathered or
                // the ledger is dropped. If we crash first, the next open indexes these entries
                // again from the log: the same path as a crash before any index commit.
                for (i, keys) in batch {
                    ix.tail.insert(i, &keys);
                    ix.deferred.push((i, keys));
                }
                ix.size = end;
                continue;
            }
            if writable {
                // What was kept in memory goes along, in the same transaction.
                let mut to_write = std::mem::take(&mut ix.deferred);
                to_write.extend(batch.iter().cloned());
                let root = match self.root(end) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.notice(format!("indexing: root at {end}: {e}"));
                        None
                    }
                };
                let applied = match (root, &ix.db) {
                    (Some(root), Some(db)) => db
                        .apply(&to_write, IndexState { size: end, root })
                        .map_err(|e| e.to_string()),
                    _ => Err("no root".to_owned()),
                };
                match applied {
                    Ok(()) => {
                        ix.db_size = end;
                        ix.size = end;
                        ix.tail = MemIndex::new();
                        continue;
                    }
                    Err(e) => {
                        self.notice(format!(
                            "updating the index failed ({e}); queries use memory for new \
                             entries, and the next open catches the index up from the log"
                        ));
                        ix.frozen = true;
                    }
                }
            }
            for (i, keys) in &batch {
                ix.tail.insert(*i, keys);
            }
            ix.size = end;
        }
    }
}

/// The index keys of raw entry bytes; an entry that does not decode is filed under
/// [`INVALID_KIND`] only.
fn keys_of(bytes: &[u8]) -> Keys {
    match Entry::decode(bytes) {
        Ok(e) => e.keys(),
        Err(_) => Keys::kind_only(INVALID_KIND),
    }
}

fn log_config(origin: &Origin, signer: &Arc<LogSigner>) -> LogConfig {
    LogConfig {
        origin: origin.clone(),
        signer: Arc::clone(signer) as Arc<dyn note::Signer + Send + Sync>,
        verifier: Arc::new(signer.verifier().clone()),
    }
}

/// The origin line of the stored checkpoint (unverified: the log verifies the note on open).
fn stored_origin(path: &Path) -> Result<Origin, LedgerError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let body_err = |source| LedgerError::CheckpointBody {
        path: path.to_path_buf(),
        source,
    };
    let text = note::Note::parse(&bytes)
        .map_err(|e| LedgerError::Checkpoint {
            path: path.to_path_buf(),
            key: "(none yet)".into(),
            source: CheckpointOpenError::Note(note::OpenError::Malformed(e)),
        })?
        .text;
    Ok(Checkpoint::parse(&text).map_err(body_err)?.origin)
}
