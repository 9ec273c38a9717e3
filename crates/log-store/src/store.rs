//! The storage trait under a [`Log`](super::Log) and its local-disk and in-memory implementations.

use std::collections::VecDeque;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use poex_log::tile::{BundleId, TileId};

/// Path of the signed checkpoint in the tlog-tiles layout.
pub const CHECKPOINT_PATH: &str = poex_log::reader::CHECKPOINT;

/// How a [`TileStore::write`] must land. Names follow Tessera's POSIX driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// Full tiles and full entry bundles: their content never changes once written.
    ///
    /// If the path does not exist, the file appears with exactly `data` or not at all (never a
    /// prefix). If it exists with identical bytes, the write succeeds without touching it
    /// (idempotent create, so a retried or recovered write is harmless). If it exists with other
    /// bytes, the write fails with [`io::ErrorKind::AlreadyExists`] and the old file stays.
    CreateOnce,
    /// Partial tiles, partial bundles and the checkpoint: readers see the old or the new bytes,
    /// never a mix or a prefix.
    AtomicOverwrite,
}

/// Where a log's tiles, entry bundles and checkpoint live, addressed by their tlog-tiles paths
/// (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`, `checkpoint`).
///
/// # Implementation notes
///
/// - **Durability.** When [`write`](Self::write) returns `Ok`, the data *and its directory entry*
///   survive a crash or power loss (file synced, then its directory synced, including any
///   directory created on the way). Writes that returned `Ok` are durable in the order they
///   returned; the log relies on this to make the checkpoint the commit point: it writes the
///   checkpoint only after every tile and bundle it covers returned `Ok`.
/// - **Atomicity.** See [`WriteMode`]: no reader or recovery ever sees a torn file.
/// - **Errors.** A failed write may or may not have landed (the log treats both alike: it stops
///   and recovers on the next open). `read` returns `Ok(None)` only for a path that does not
///   exist; any other failure is an error.
/// - **Concurrency.** One [`Log`](super::Log) writes at a time; reads may run concurrently with
///   writes and must see either the old or the new file.
/// - [`list`](Self::list) returns every stored path (tiles, bundles, checkpoint, anything else
///   under the log's namespace) except the store's own temporary files, so that `validate` can
///   report extra files.
pub trait TileStore: Send + Sync {
    /// Reads a whole file; `Ok(None)` if there is none at `path`.
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>>;
    /// Writes a whole file durably; see [`WriteMode`] for what each mode promises.
    fn write(&self, path: &str, data: &[u8], mode: WriteMode) -> io::Result<()>;
    /// Every stored path, `/`-separated, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Writes several files, in no particular order and possibly concurrently. `Ok`: every one
    /// is durable, as if each had been [`write`](Self::write)n. `Err`: any subset of them may
    /// have landed (each whole or not at all, as its mode says).
    ///
    /// The log calls this only for files that have no order among themselves (the tiles of a
    /// batch, once all its bundles are durable). The provided
    /// implementation writes them one after the other; a store whose writes wait on the disk
    /// can overlap them.
    fn write_many(&self, files: &[(&str, &[u8], WriteMode)]) -> io::Result<()> {
        files
            .iter()
            .try_for_each(|(path, data, mode)| self.write(path, data, *mode))
    }

    /// Writes groups of files in order: no file of a group may be visible (let alone durable)
    /// before every file of the groups before it is durable; within a group, no order.
    /// `Ok`: all durable. `Err`: the groups before the failing one are durable, and any
    /// subset of the failing group may have landed; nothing after it has.
    ///
    /// The provided implementation is [`write_many`](Self::write_many) group after group; a
    /// store can overlap the sync of one group with the writing of the next.
    fn write_ordered(&self, groups: &[&[(&str, &[u8], WriteMode)]]) -> io::Result<()> {
        groups.iter().try_for_each(|g| self.write_many(g))
    }
}

impl<T: TileStore + ?Sized> TileStore for &T {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        (**self).read(path)
    }
    fn write(&self, path: &str, data: &[u8], mode: WriteMode) -> io::Result<()> {
        (**self).write(path, data, mode)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        (**self).list()
    }
    fn write_many(&self, files: &[(&str, &[u8], WriteMode)]) -> io::Result<()> {
        (**self).write_many(files)
    }
    fn write_ordered(&self, groups: &[&[(&str, &[u8], WriteMode)]]) -> io::Result<()> {
        (**self).write_ordered(groups)
    }
}

impl<T: TileStore + ?Sized> TileStore for Arc<T> {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        (**self).read(path)
    }
    fn write(&self, path: &str, data: &[u8], mode: WriteMode) -> io::Result<()> {
        (**self).write(path, data, mode)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        (**self).list()
    }
    fn write_many(&self, files: &[(&str, &[u8], WriteMode)]) -> io::Result<()> {
        (**self).write_many(files)
    }
    fn write_ordered(&self, groups: &[&[(&str, &[u8], WriteMode)]]) -> io::Result<()> {
        (**self).write_ordered(groups)
    }
}

/// The write mode a tile takes: create-once when full, atomic overwrite when partial.
pub fn tile_mode(id: TileId) -> WriteMode {
    if id.is_full() {
        WriteMode::CreateOnce
    } else {
        WriteMode::AtomicOverwrite
    }
}

/// The write mode a bundle takes: create-once when full, atomic overwrite when partial.
pub fn bundle_mode(id: BundleId) -> WriteMode {
    if id.is_full() {
        WriteMode::CreateOnce
    } else {
        WriteMode::AtomicOverwrite
    }
}

/// Temporary files live here, inside the root (same filesystem, so rename and link are atomic).
const TMP_DIR: &str = ".tmp";

/// A file replaced by an atomic overwrite is kept (under `.tmp/`) and reused as a later temporary
/// file once it has been out of sight this long; see [`FileStore`].
pub const RECYCLE_AFTER: Duration = Duration::from_secs(2);

/// At most this many replaced files wait for reuse; beyond it the oldest is deleted.
const MAX_RETIRED: usize = 8192;

/// A [`TileStore`] on local disk: the tlog-tiles layout under a root directory.
///
/// Every write goes to a temporary file in `<root>/.tmp/`, which is synced, then moved into place
/// (`link` for [`WriteMode::CreateOnce`], which fails if the target exists; `rename` for
/// [`WriteMode::AtomicOverwrite`]); then the target's directory is synced. Directories are
/// created on demand and their parents synced. The root can be served as-is by a static web
/// server (`.tmp` aside).
///
/// **Inode reuse.** An atomic overwrite (in a log: the checkpoint, once per commit) would free
/// the replaced file's inode. On ext4 without a journal, creating a file skips every inode of
/// its block group freed in the last minutes, so a log freeing one inode per commit makes each
/// later create scan thousands of them (measured: 6 µs per create in a quiet directory, over
/// 300 µs after a few thousand commits). So the replaced file is first linked to a name under
/// `.tmp/`, and reused (truncated and rewritten) as the temporary file of a later write once it
/// has been replaced for [`RECYCLE_AFTER`]. New files are not created on the write path either:
/// a helper thread (started by the first write, stopped when the store is dropped) keeps a few
/// dozen empty files ready in `.tmp/`, so their creation overlaps the writer's `fsync`s. The one reader this can affect is one that opened
/// the old file before it was replaced and is still reading it `RECYCLE_AFTER` later: it may
/// see the newer content, or a mix (which, for a checkpoint, fails signature verification).
#[derive(Debug)]
pub struct FileStore {
    /// The root directory; immutable.
    root: PathBuf,
    /// Directories known to exist and be durable. Guarded by its mutex; only grows.
    known_dirs: Mutex<HashSet<PathBuf>>,
    /// Temporary files ready to be written: replaced files waiting for reuse and empty files
    /// created ahead by a helper thread. Shared with that thread.
    pool: Arc<Pool>,
    /// Opened with [`FileStore::open_read_only`]: writes are refused; `.tmp/` is not touched.
    read_only: bool,
}

/// Temporary files for [`FileStore`] writes (see its docs: inode reuse).
#[derive(Debug)]
struct Pool {
    /// `<root>/.tmp`; immutable.
    dir: PathBuf,
    /// Counter for unique temporary names within this process.
    counter: AtomicU64,
    /// Guarded by its mutex; `wake` tells the helper thread that spares ran low or to stop.
    state: Mutex<PoolState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Replaced files, oldest first, with when they were replaced.
    retired: VecDeque<(PathBuf, Instant)>,
    /// Empty files created ahead of need.
    spares: Vec<PathBuf>,
    /// Whether the helper thread runs (started by the first write).
    helper: bool,
    /// The helper, joined when the store is dropped so that nothing writes under the root after.
    handle: Option<std::thread::JoinHandle<()>>,
    /// Set when the store is dropped (or creating spares failed): the helper exits.
    stop: bool,
}

/// The helper keeps this many empty files ready.
const SPARES: usize = 64;

/// Where the helper creates them, under `.tmp/`.
const STAGING_DIR: &str = "new";

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn name(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{}.{n}", std::process::id()))
    }

    /// Creates spare files while fewer than [`SPARES`] are ready; exits on `stop`.
    fn refill(&self) {
        loop {
            {
                let mut state = self.lock();
                while !state.stop && state.spares.len() >= SPARES {
                    state = self
                        .wake
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if state.stop {
                    return;
                }
            }
            // Create in `.tmp/new/`, then move into `.tmp/`: creating a file holds its
            // directory's lock for the whole (possibly slow) inode allocation, and the writers
            // rename files out of `.tmp/`; they must not wait for that.
            let name = self.name();
            let Some(file_name) = name.file_name() else {
                return;
            };
            let staged = self.dir.join(STAGING_DIR).join(file_name);
            let made = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staged)
                .or_else(|_| {
                    fs::create_dir_all(self.dir.join(STAGING_DIR))?;
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&staged)
                })
                .and_then(|_| fs::rename(&staged, &name));
            match made {
                Ok(()) => self.lock().spares.push(name),
                Err(_) => {
                    // Leave it to the writers, which create their own files and report errors.
                    self.lock().stop = true;
                    return;
                }
            }
        }
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        let handle = {
            let mut state = self.pool.lock();
            state.stop = true;
            state.handle.take()
        };
        self.pool.wake.notify_all();
        // Wait for the helper to finish the file it may be creating: after drop, nothing of
        // this store touches the root (a caller may remove or copy it).
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl FileStore {
    /// Opens (creating if needed) a store rooted at `root`. Leftover temporary files of an
    /// earlier process are removed: they were never linked into the log, so nothing refers to them.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let store = Self::unopened(root.into(), false);
        let tmp = store.root.join(TMP_DIR);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| with_path(e, &tmp))?;
        }
        store.ensure_dir(&tmp)?;
        Ok(store)
    }

    /// Opens a store for reading only, e.g. to audit a log while its writer runs: nothing under
    /// `root` is created, removed or written (the writer's `.tmp/` is left alone), and every
    /// write fails with [`io::ErrorKind::PermissionDenied`].
    pub fn open_read_only(root: impl Into<PathBuf>) -> io::Result<Self> {
        let store = Self::unopened(root.into(), true);
        if !store.root.is_dir() {
            return Err(with_path(
                io::Error::new(io::ErrorKind::NotFound, "no such directory"),
                &store.root,
            ));
        }
        Ok(store)
    }

    fn unopened(root: PathBuf, read_only: bool) -> Self {
        Self {
            root: root.clone(),
            known_dirs: Mutex::new(HashSet::new()),
            pool: Arc::new(Pool {
                dir: root.join(TMP_DIR),
                counter: AtomicU64::new(0),
                state: Mutex::new(PoolState::default()),
                wake: Condvar::new(),
            }),
            read_only,
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a tlog-tiles path maps to. Refuses paths that could leave the root.
    pub fn file_path(&self, path: &str) -> io::Result<PathBuf> {
        if path.is_empty()
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with('.') && c != ".p")
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path:?} is not a store path"),
            ));
        }
        Ok(self.root.join(path))
    }

    /// Creates `dir` and any missing ancestors under the root, syncing each new one's parent.
    fn ensure_dir(&self, dir: &Path) -> io::Result<()> {
        let mut known = self
            .known_dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.contains(dir) {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut cur = Some(dir);
        while let Some(d) = cur {
            if known.contains(d) || d.is_dir() {
                break;
            }
            missing.push(d.to_path_buf());
            cur = d.parent();
        }
        for d in missing.iter().rev() {
            match fs::create_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(with_path(e, d)),
            }
            // The new directory's entry lives in its parent: sync it, or a crash could lose the
            // directory together with every file we are about to put in it.
            if let Some(parent) = d.parent() {
                sync_dir(parent)?;
            }
        }
        known.insert(dir.to_path_buf());
        Ok(())
    }

    /// Opens a temporary file for writing: a replaced file once it is old enough, else a spare
    /// made ahead by the helper thread, else a new one.
    fn open_tmp(&self) -> io::Result<(PathBuf, File)> {
        let reuse = {
            let mut state = self.pool.lock();
            if !state.helper && !state.stop {
                // Start the helper on the first write (read-only users never get a thread).
                state.helper = true;
                let pool = Arc::clone(&self.pool);
                let spawned = std::thread::Builder::new()
                    .name("poex-log-spares".into())
                    .spawn(move || pool.refill());
                match spawned {
                    Ok(h) => state.handle = Some(h),
                    Err(_) => state.stop = true,
                }
            }
            let old_enough =
                matches!(state.retired.front(), Some((_, at)) if at.elapsed() >= RECYCLE_AFTER);
            let picked = if old_enough {
                state.retired.pop_front().map(|(p, _)| p)
            } else {
                state.spares.pop()
            };
            if state.spares.len() < SPARES / 2 {
                self.pool.wake.notify_one();
            }
            picked
        };
        if let Some(path) = reuse
            && let Ok(f) = OpenOptions::new().write(true).truncate(true).open(&path)
        {
            return Ok((path, f));
        }
        let tmp = self.pool.name();
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| with_path(e, &tmp))?;
        Ok((tmp, f))
    }

    /// Before `target` is replaced: keep its inode under `.tmp/` for reuse (see [`FileStore`]).
    ///
    /// Returns the second name, if one was made: it is only queued for reuse once the rename
    /// that replaces `target` succeeded ([`keep_retired`](Self::keep_retired)); until then it is
    /// a second name of the live file and must never be rewritten.
    fn retire(&self, target: &Path) -> Option<PathBuf> {
        let keep = self.pool.name();
        // Fails for a new path (nothing is replaced), or if not possible: the inode is freed.
        fs::hard_link(target, &keep).ok().map(|()| keep)
    }

    /// After the replacement: queue the replaced file for reuse.
    fn keep_retired(&self, keep: PathBuf) {
        let mut state = self.pool.lock();
        state.retired.push_back((keep, Instant::now()));
        if state.retired.len() > MAX_RETIRED
            && let Some((old, _)) = state.retired.pop_front()
        {
            let _ = fs::remove_file(old);
        }
    }
}

impl TileStore for FileStore {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let file = self.file_path(path)?;
        match fs::read(&file) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(with_path(e, &file)),
        }
    }

    fn write(&self, path: &str, data: &[u8], mode: WriteMode) -> io::Result<()> {
        let prepared = self.prepare(path, data, mode)?;
        self.publish(&prepared)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut out)?;
        Ok(out)
    }

    /// Up to 4 files at a time, each on its own thread: a write is mostly
    /// waiting for two `fsync`s (file, directory), and those waits overlap.
    fn write_many(&self, files: &[(&str, &[u8], WriteMode)]) -> io::Result<()> {
        self.write_ordered(&[files])
    }

    /// Each group's temporary files are written and synced while the previous group's are
    /// moved into place and their directories synced: a file becomes visible only after every
    /// file of the groups before it is durable, yet the two `fsync` waits of consecutive
    /// groups overlap. Files of one group are handled concurrently.
    fn write_ordered(&self, groups: &[&[(&str, &[u8], WriteMode)]]) -> io::Result<()> {
        let mut ready: Vec<Prepared<'_>> = Vec::new();
        for group in groups {
            // Publish what is ready while the next group is prepared.
            let (published, prepared) = std::thread::scope(|s| {
                let publishing = (!ready.is_empty()).then(|| {
                    let ready = &ready;
                    s.spawn(move || par(ready, |p| self.publish(p)))
                });
                let prepared = par(group, |(path, data, mode)| self.prepare(path, data, *mode));
                let published = publishing.map_or(Ok(Vec::new()), |h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("writer thread panicked")))
                });
                (published, prepared)
            });
            published?;
            ready = prepared?;
        }
        par(&ready, |p| self.publish(p))?;
        Ok(())
    }
}

/// A file written and synced under a temporary name, waiting to be moved into place.
struct Prepared<'a> {
    tmp: PathBuf,
    target: PathBuf,
    data: &'a [u8],
    mode: WriteMode,
}

impl FileStore {
    /// The first half of a write: the data, durable under a temporary name in `.tmp/`.
    fn prepare<'a>(&self, path: &str, data: &'a [u8], mode: WriteMode) -> io::Result<Prepared<'a>> {
        if self.read_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{path}: the store was opened read-only"),
            ));
        }
        let target = self.file_path(path)?;
        let dir = target
            .parent()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
        self.ensure_dir(dir)?;
        // If we crash from here until the link/rename in `publish`, only a temporary file
        // exists; the next open removes it.
        let (tmp, mut f) = self.open_tmp()?;
        f.write_all(data).map_err(|e| with_path(e, &tmp))?;
        f.sync_all().map_err(|e| with_path(e, &tmp))?;
        Ok(Prepared {
            tmp,
            target,
            data,
            mode,
        })
    }

    /// The second half: the name, moved into place and made durable with its directory.
    fn publish(&self, p: &Prepared<'_>) -> io::Result<()> {
        let (tmp, target) = (&p.tmp, &p.target);
        let placed = match p.mode {
            WriteMode::CreateOnce => match fs::hard_link(tmp, target) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    // Idempotent create: the same bytes are already durable there (a retry, or
                    // recovery re-writing what a crashed batch wrote).
                    let existing = fs::read(target).map_err(|e| with_path(e, target))?;
                    if existing == p.data {
                        Ok(())
                    } else {
                        Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!(
                                "{} exists with different content ({} bytes, {} new)",
                                target.display(),
                                existing.len(),
                                p.data.len()
                            ),
                        ))
                    }
                }
                Err(e) => Err(with_path(e, target)),
            },
            WriteMode::AtomicOverwrite => {
                let kept = self.retire(target);
                let renamed = fs::rename(tmp, target).map_err(|e| with_path(e, target));
                match (kept, &renamed) {
                    (Some(keep), Ok(())) => self.keep_retired(keep),
                    // Not replaced: the second name is the live file's; drop it.
                    (Some(keep), Err(_)) => {
                        let _ = fs::remove_file(keep);
                    }
                    (None, _) => {}
                }
                renamed
            }
        };
        // The temporary name is gone after a rename; after a link it is a second name for the
        // same data, removed here (or by the next open if we crash first).
        if p.mode == WriteMode::CreateOnce {
            let _ = fs::remove_file(tmp);
        }
        placed?;
        // The file is synced; its name is durable once the directory is.
        let dir = target
            .parent()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
        sync_dir(dir)
    }
}

/// `f` over `items`, up to [`PARALLEL_WRITES`] at a time on scoped threads; the first error.
fn par<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> io::Result<R> + Sync,
) -> io::Result<Vec<R>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(PARALLEL_WRITES) {
        let Some((first, rest)) = chunk.split_first() else {
            continue;
        };
        let f = &f;
        let results = std::thread::scope(|s| {
            let others: Vec<_> = rest.iter().map(|item| s.spawn(move || f(item))).collect();
            let mut results = vec![f(first)];
            for h in others {
                results.push(
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("writer thread panicked"))),
                );
            }
            results
        });
        for r in results {
            out.push(r?);
        }
    }
    Ok(out)
}

/// How many files [`FileStore::write_many`] writes at once.
const PARALLEL_WRITES: usize = 4;

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(with_path(e, dir)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| with_path(e, dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefix.is_empty() && name == TMP_DIR {
            continue;
        }
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let ty = entry.file_type().map_err(|e| with_path(e, &entry.path()))?;
        if ty.is_dir() {
            walk(&entry.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    poex_durable::sync_dir(dir).map_err(|e| with_path(e, dir))
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A [`TileStore`] in memory, for tests and tools. Writes are trivially durable and atomic.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Files by path. Guarded by its mutex.
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces or removes a file, bypassing the write contract (for tamper tests).
    pub fn set(&self, path: &str, data: Option<Vec<u8>>) {
        match data {
            Some(d) => self.files().insert(path.to_owned(), d),
            None => self.files().remove(path),
        };
    }
}

impl TileStore for MemoryStore {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files().get(path).cloned())
    }

    fn write(&self, path: &str, data: &[u8], mode: WriteMode) -> io::Result<()> {
        let mut files = self.files();
        if mode == WriteMode::CreateOnce
            && let Some(existing) = files.get(path)
        {
            if existing.as_slice() == data {
                return Ok(());
            }
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{path} exists with different content"),
            ));
        }
        files.insert(path.to_owned(), data.to_vec());
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files().keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn a_replaced_file_is_kept_then_reused_for_a_later_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path()).expect("store");
        let ino = |p: &str| fs::metadata(dir.path().join(p)).expect("exists").ino();
        store
            .write(CHECKPOINT_PATH, b"first", WriteMode::AtomicOverwrite)
            .expect("write");
        let first = ino(CHECKPOINT_PATH);
        store
            .write(CHECKPOINT_PATH, b"second", WriteMode::AtomicOverwrite)
            .expect("write");
        // The replaced file lives on under .tmp/, unchanged, waiting.
        let kept = {
            let mut state = store.pool.lock();
            assert_eq!(state.retired.len(), 1);
            let (path, at) = state.retired.front_mut().expect("one");
            assert_eq!(fs::read(&*path).expect("kept"), b"first");
            // Old enough to be reused.
            *at = Instant::now()
                .checked_sub(RECYCLE_AFTER * 2)
                .expect("clock far enough from its origin");
            path.clone()
        };
        store
            .write(CHECKPOINT_PATH, b"third", WriteMode::AtomicOverwrite)
            .expect("write");
        assert_eq!(
            store.read(CHECKPOINT_PATH).expect("read").as_deref(),
            Some(&b"third"[..])
        );
        assert_eq!(ino(CHECKPOINT_PATH), first, "the first inode was reused");
        assert!(!kept.exists(), "its temporary name was consumed");
        // A new path replaces nothing: nothing is kept for it.
        store
            .write("tile/0/000.p/1", &[7; 32], WriteMode::AtomicOverwrite)
            .expect("write");
        assert_eq!(
            store.pool.lock().retired.len(),
            1,
            "only the second checkpoint"
        );
    }

    #[test]
    fn ordered_groups_all_land() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path()).expect("store");
        let a = [(
            "tile/entries/000.p/1",
            &b"\x00\x01a"[..],
            WriteMode::AtomicOverwrite,
        )];
        let b = [
            ("tile/0/000.p/1", &[1u8; 32][..], WriteMode::AtomicOverwrite),
            ("tile/0/001", &[2u8; 32 * 256][..], WriteMode::CreateOnce),
        ];
        let c = [(CHECKPOINT_PATH, &b"cp"[..], WriteMode::AtomicOverwrite)];
        store.write_ordered(&[&a, &b, &c]).expect("write");
        for (path, data, _) in a.iter().chain(&b).chain(&c) {
            assert_eq!(
                store.read(path).expect("read").as_deref(),
                Some(*data),
                "{path}"
            );
        }
        // Create-once still refuses other bytes, from inside a group.
        let clash = [("tile/0/001", &[3u8; 32 * 256][..], WriteMode::CreateOnce)];
        let err = store.write_ordered(&[&clash]).expect_err("different bytes");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }
}
