//! The sequencer: group commit, deduplication, recovery on open, reads and proofs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use super::cache::{DEFAULT_CACHE_TILES, LogReader, TileCache, TileTree, tile_nodes};
use super::frontier::Frontier;
use super::history::{KeptCheckpoint, has_history, history_block, history_path, read_history};
use super::index::LeafIndex;
use super::store::{CHECKPOINT_PATH, TileStore, WriteMode, bundle_mode, tile_mode};
use super::validate::validate;
use super::{
    LogConfig, LogError, LogIndex, ReadError, StoreTiles, first_entry_of_bundle,
    first_entry_of_tile,
};
use poex_log::checkpoint::{Checkpoint, TreeSize};
use poex_log::hash::{Hash, empty_root, leaf_hash};
use poex_log::proof::{self, HashReader, NodeId};
use poex_log::tile::{
    BundleId, EntryBundle, HashTile, MAX_ENTRY_SIZE, TILE_WIDTH, TileId, TileSource, edge_bundle,
    edge_tiles, integrate_with_root,
};

/// How a [`Log`] keeps its leaf index and caches tiles; see [`Log::open_with`].
///
/// The default keeps the index in memory (rebuilt from every level-0 tile on open: fine for
/// tests and small logs, ~66 bytes of memory per entry) and caches
/// [`DEFAULT_CACHE_TILES`](super::DEFAULT_CACHE_TILES) full tiles.
#[derive(Debug, Clone)]
pub struct LogOptions {
    index_file: Option<PathBuf>,
    cache_tiles: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            index_file: None,
            cache_tiles: DEFAULT_CACHE_TILES,
        }
    }
}

impl LogOptions {
    /// The defaults: index in memory, [`DEFAULT_CACHE_TILES`](super::DEFAULT_CACHE_TILES) tiles cached.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep the leaf index in this redb file (created if missing, rebuilt from the tiles if it
    /// is damaged or belongs to another log). Memory then stays bounded whatever the log's
    /// size, and open reads only the tiles the index has not seen. Put it outside the store's
    /// root if that root is served as static tlog-tiles.
    pub fn index_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.index_file = Some(path.into());
        self
    }

    /// Cache at most `tiles` full tiles with their interior nodes (16 KiB each) for proofs;
    /// 0 disables the cache.
    pub fn cache_tiles(mut self, tiles: usize) -> Self {
        self.cache_tiles = tiles;
        self
    }
}

/// A transparency log on a [`TileStore`]: appends with group commit, reads and proofs.
///
/// `Log` is `Sync`: share it (`&Log` or `Arc<Log>`) between threads and call
/// [`append`](Self::append) from all of them; concurrent appends are batched into one
/// integration and one set of durable writes.
pub struct Log<S> {
    /// The store; written only by the thread that holds `seq`.
    store: S,
    /// Origin and keys; immutable.
    config: LogConfig,
    /// Appends waiting to be sequenced, and whether a leader is committing. Each waiting
    /// caller sleeps on its own [`Slot`], woken once: with its result, or to lead.
    queue: Mutex<Queue>,
    /// Sequencing state. Locked by the leader for a whole commit; nobody else writes the store.
    seq: Mutex<Sequencer>,
    /// Leaf hash -> position. Written by the leader (holding `seq`) after each commit point;
    /// read by [`find`](Self::find) from any thread. Lock order: `seq`, then `index`.
    index: Mutex<LeafIndex>,
    /// The latest checkpoint written, with its right-edge tiles, for readers. Replaced by the
    /// leader after the commit point; readers clone the `Arc` and work on that snapshot.
    published: RwLock<Arc<Published>>,
    /// Full tiles with their interior nodes, for proofs. Bounded; internally locked.
    cache: TileCache,
}

/// What one `append` call gets back from the leader that committed it.
type Outcome = Result<Vec<LogIndex>, Arc<LogError>>;

struct Queue {
    /// The entries of each caller of the batch now filling, in arrival order.
    pending: Vec<Vec<Vec<u8>>>,
    /// The batch now filling: its callers sleep on it.
    batch: Arc<Batch>,
    leader_active: bool,
}

/// One batch of appends: its callers sleep on `cv` until the leader that commits it posts
/// every result at once (one wake-up call for all of them), or until one of them is told to
/// lead it.
#[derive(Default)]
struct Batch {
    state: Mutex<BatchState>,
    cv: Condvar,
}

#[derive(Default)]
struct BatchState {
    /// Each caller's result, by its position in the batch; taken by that caller.
    results: Option<Vec<Option<Outcome>>>,
    /// Set to hand the lead to one (any) caller of this batch.
    lead: bool,
}

struct Sequencer {
    /// Tree size of the last checkpoint written.
    size: u64,
    /// The partial entry bundle at `size` (`None` when `size` is a multiple of 256).
    edge: Option<EntryBundle>,
    /// The right edge of the tree at `size` (its perfect subtrees), for the next root without
    /// re-hashing the edge tiles.
    frontier: Frontier,
    /// Set when a commit failed part-way: the handle stops; reopening recovers.
    failed: Option<Arc<LogError>>,
    /// The block of 256 entries whose kept checkpoint is known to exist ([`super::history`]).
    kept_block: Option<u64>,
}

/// A checkpoint the log wrote or opened, and the tiles readers need at its size.
pub(crate) struct Published {
    pub(crate) size: u64,
    pub(crate) root: Hash,
    pub(crate) note: String,
    /// The partial tiles at `size` (`edge_tiles(size)`), verified on open and maintained by
    /// the sequencer since: integration and proofs read them from here, not from the store.
    pub(crate) edges: Vec<(TileId, HashTile)>,
    /// Trees of `edges` for proofs, built by the first reader that needs them.
    pub(crate) edge_trees: OnceLock<Vec<TileTree>>,
}

/// A caller's result missing from its batch's results: a bug, reported rather than panicking.
fn lost_result() -> LogError {
    LogError::Corrupt {
        path: "(log)".into(),
        index: None,
        reason: "an append's result was missing from its batch".into(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves the data as consistent as between any two statements
    // of the leader; the `failed` flag, not poisoning, is what stops a damaged handle.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: TileStore> Log<S> {
    /// Creates a new, empty log in an empty store: writes a signed checkpoint of size 0. The
    /// leaf index is kept in memory ([`LogOptions::new`]); see [`create_indexed`](Self::create_indexed).
    ///
    /// If we crash during create, the store is either still empty or holds the size-0
    /// checkpoint, and [`open`](Self::open) works.
    pub fn create(store: S, config: LogConfig) -> Result<Self, LogError> {
        Self::create_with(store, config, LogOptions::new())
    }

    /// [`create`](Self::create) with the leaf index in the redb file `index_file`.
    pub fn create_indexed(
        store: S,
        config: LogConfig,
        index_file: impl AsRef<Path>,
    ) -> Result<Self, LogError> {
        Self::create_with(
            store,
            config,
            LogOptions::new().index_file(index_file.as_ref()),
        )
    }

    /// [`create`](Self::create) with explicit [`LogOptions`].
    pub fn create_with(store: S, config: LogConfig, options: LogOptions) -> Result<Self, LogError> {
        let files = store.list().map_err(|e| LogError::io("listing", "/", e))?;
        if let Some(first) = files.first() {
            return Err(LogError::NotEmpty {
                first: first.clone(),
                count: files.len() - 1,
            });
        }
        let note = Checkpoint::new(config.origin.clone(), TreeSize(0), empty_root())
            .sign(&[&*config.signer])?;
        store
            .write(CHECKPOINT_PATH, note.as_bytes(), WriteMode::AtomicOverwrite)
            .map_err(|e| LogError::io("writing", CHECKPOINT_PATH, e))?;
        Self::open_with(store, config, options)
    }

    /// Opens an existing log with the leaf index in memory ([`LogOptions::new`]): reads every
    /// level-0 tile to build it, so open time and memory grow with the log. For large logs use
    /// [`open_indexed`](Self::open_indexed). What open checks: see [`open_with`](Self::open_with).
    pub fn open(store: S, config: LogConfig) -> Result<Self, LogError> {
        Self::open_with(store, config, LogOptions::new())
    }

    /// [`open`](Self::open) with the leaf index in the redb file `index_file` (created or
    /// rebuilt as needed).
    pub fn open_indexed(
        store: S,
        config: LogConfig,
        index_file: impl AsRef<Path>,
    ) -> Result<Self, LogError> {
        Self::open_with(
            store,
            config,
            LogOptions::new().index_file(index_file.as_ref()),
        )
    }

    /// Opens an existing log: checks what sequencing relies on, refusing a damaged store
    /// (naming the first bad file), catches the leaf index up with the checkpoint, then rolls
    /// forward a batch that was written but not checkpointed when the last process stopped.
    ///
    /// Open checks, in order: the checkpoint's signature and origin; that the right-edge tiles
    /// (the partial tile of each level, the only tiles integration reads or rewrites) hash to
    /// the checkpoint root; that the partial entry bundle decodes, has the checkpoint's width
    /// and hashes to the level-0 edge tile; and that the level-0 tiles the index has not seen
    /// (from the index's size to the checkpoint's; all of them for an in-memory or rebuilt
    /// index) together with the stored tree at the index's size hash to the checkpoint root.
    /// An index that is missing, unreadable, larger than the checkpoint or whose recorded root
    /// differs from the tiles' is rebuilt from the tiles, never believed over them.
    ///
    /// Open does **not** read full entry bundles, full tiles below the edge that the index
    /// already covers, or old partial tiles: that is [`validate`](super::validate)'s job.
    /// Damage there shows up as a proof that does not verify or an entry that does not match,
    /// never as a silently repaired log. When a check fails, open runs `validate` to name the
    /// first damaged file and returns [`LogError::Corrupt`].
    pub fn open_with(store: S, config: LogConfig, options: LogOptions) -> Result<Self, LogError> {
        // 1. The checkpoint is the commit point: it says what the log is.
        let note = store
            .read(CHECKPOINT_PATH)
            .map_err(|e| LogError::io("reading", CHECKPOINT_PATH, e))?
            .ok_or(LogError::NoLog)?;
        let (checkpoint, _) = Checkpoint::open(&note, &[&*config.verifier]).map_err(|source| {
            LogError::Checkpoint {
                key: config.verifier.name().to_owned(),
                source,
            }
        })?;
        if checkpoint.origin != config.origin {
            return Err(LogError::OriginMismatch {
                expected: config.origin.to_string(),
                found: checkpoint.origin.to_string(),
            });
        }
        let size = checkpoint.size.get();
        let cache = TileCache::new(options.cache_tiles);

        // 2. The state the checkpoint commits to must be intact where sequencing depends on
        //    it. Any doubt: run the full validation to name the first damaged file, and refuse.
        let (edges, edge, frontier) = match load_edges(&store, &cache, size, &checkpoint.root) {
            Ok(state) => state,
            Err(reason) => return Err(first_problem(&store, &config, reason)),
        };
        let mut index = match &options.index_file {
            Some(path) => LeafIndex::open_disk(path)?,
            None => LeafIndex::memory(),
        };
        if let Err(problem) = catch_up(&store, &cache, &edges, size, &checkpoint.root, &mut index) {
            return Err(match problem {
                CatchUp::Corrupt(reason) => first_problem(&store, &config, reason),
                CatchUp::Index(e) => e.into(),
            });
        }
        let log = Self {
            store,
            config,
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                batch: Arc::new(Batch::default()),
                leader_active: false,
            }),
            seq: Mutex::new(Sequencer {
                size,
                edge,
                frontier,
                failed: None,
                kept_block: None,
            }),
            index: Mutex::new(index),
            published: RwLock::new(Arc::new(Published {
                size,
                root: checkpoint.root,
                note: String::from_utf8_lossy(&note).into_owned(),
                edges,
                edge_trees: OnceLock::new(),
            })),
            cache,
        };

        // 3. Roll forward. A batch that crashed before its checkpoint left a prefix of its entry
        //    bundles (bundles are written in order, before any tile). Its entries were never
        //    acknowledged, but they were deduplicated and given indexes; sequencing them again
        //    through the normal path reproduces the same bytes for every file that landed
        //    (full files are create-once and identical, partial ones are overwritten) and
        //    then writes the checkpoint. If we crash during recovery, the next open finds the
        //    same bundles and does it again.
        let pending = log.unsequenced_entries()?;
        let mut seq = lock(&log.seq);
        if !pending.is_empty() {
            log.sequence(&mut seq, &pending)?;
        }
        // 4. The history sample of the current block, in case the last process stopped between
        //    a checkpoint and its history write (or the sequence above kept it already).
        let (size, note) = {
            let p = log.snapshot();
            (p.size, p.note.clone())
        };
        log.keep_history(&mut seq, size, &note)?;
        drop(seq);
        Ok(log)
    }

    /// Appends entries; returns their indexes once they are durable and covered by a signed
    /// checkpoint written to the store.
    ///
    /// An entry identical to one already in the log (or earlier in the same batch) is not
    /// stored again: its existing index is returned. Entries over 65535 bytes are refused
    /// (log a digest of big data instead). Concurrent calls are committed together.
    pub fn append<E: AsRef<[u8]>>(&self, entries: &[E]) -> Result<Vec<LogIndex>, LogError> {
        if let Some((position, e)) = entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.as_ref().len() > MAX_ENTRY_SIZE)
        {
            return Err(LogError::EntryTooLarge {
                position,
                size: e.as_ref().len(),
            });
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (batch, position, lead) = {
            let mut queue = lock(&self.queue);
            let position = queue.pending.len();
            queue
                .pending
                .push(entries.iter().map(|e| e.as_ref().to_vec()).collect());
            let lead = !std::mem::replace(&mut queue.leader_active, true);
            (Arc::clone(&queue.batch), position, lead)
        };
        if !lead {
            let mut state = lock(&batch.state);
            loop {
                if let Some(results) = &mut state.results {
                    return results
                        .get_mut(position)
                        .and_then(Option::take)
                        .unwrap_or_else(|| Err(Arc::new(lost_result())))
                        .map_err(LogError::Failed);
                }
                if std::mem::take(&mut state.lead) {
                    break;
                }
                state = batch.cv.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
        }
        // Lead: take the batch (our own entries included) and commit it while others start the
        // next one; then post every result at once and hand the lead to one caller of the next
        // batch, if it has any.
        let entries = {
            let mut queue = lock(&self.queue);
            queue.batch = Arc::new(Batch::default());
            std::mem::take(&mut queue.pending)
        };
        let mut results: Vec<Option<Outcome>> = self
            .commit(entries.into_iter().enumerate().collect())
            .into_iter()
            .map(|(_, outcome)| Some(outcome))
            .collect();
        let own = results
            .get_mut(position)
            .and_then(Option::take)
            .unwrap_or_else(|| Err(Arc::new(lost_result())));
        lock(&batch.state).results = Some(results);
        batch.cv.notify_all();
        // Hand over after waking the batch's callers: those that append again join the next
        // batch instead of making it wait for a batch of its own.
        let next = {
            let mut queue = lock(&self.queue);
            if queue.pending.is_empty() {
                queue.leader_active = false;
                None
            } else {
                Some(Arc::clone(&queue.batch))
            }
        };
        if let Some(next) = next {
            lock(&next.state).lead = true;
            next.cv.notify_one();
        }
        own.map_err(LogError::Failed)
    }

    /// Commits the queued appends as one batch; returns each caller's result.
    fn commit(&self, batch: Vec<(usize, Vec<Vec<u8>>)>) -> Vec<(usize, Outcome)> {
        let mut seq = lock(&self.seq);
        let fail_all = |batch: Vec<(usize, Vec<Vec<u8>>)>, e: &Arc<LogError>| {
            batch
                .into_iter()
                .map(|(t, _)| (t, Err(Arc::clone(e))))
                .collect()
        };
        if let Some(e) = &seq.failed {
            return fail_all(batch, e);
        }
        // Deduplicate against the log and within the batch; new entries get the next indexes.
        let hashes: Vec<Vec<Hash>> = batch
            .iter()
            .map(|(_, entries)| entries.iter().map(|e| leaf_hash(e)).collect())
            .collect();
        let known = match self.lookup(hashes.iter().flatten(), seq.size) {
            Ok(k) => k,
            Err(e) => {
                let e = Arc::new(e);
                seq.failed = Some(Arc::clone(&e));
                return fail_all(batch, &e);
            }
        };
        let mut fresh: Vec<Vec<u8>> = Vec::new();
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        let mut assigned = Vec::with_capacity(batch.len());
        for ((ticket, entries), hashes) in batch.into_iter().zip(hashes) {
            let mut indexes = Vec::with_capacity(entries.len());
            for (entry, h) in entries.into_iter().zip(hashes) {
                let i = match known.get(&h).or_else(|| in_batch.get(&h)) {
                    Some(&i) => i,
                    None => {
                        let i = seq.size + fresh.len() as u64;
                        in_batch.insert(h, i);
                        fresh.push(entry);
                        i
                    }
                };
                indexes.push(LogIndex(i));
            }
            assigned.push((ticket, indexes));
        }
        if !fresh.is_empty()
            && let Err(e) = self.sequence(&mut seq, &fresh)
        {
            let e = Arc::new(e);
            seq.failed = Some(Arc::clone(&e));
            return assigned
                .into_iter()
                .map(|(t, _)| (t, Err(Arc::clone(&e))))
                .collect();
        }
        assigned.into_iter().map(|(t, i)| (t, Ok(i))).collect()
    }

    /// The positions below `size` of those `hashes` already in the log, confirmed against the
    /// level-0 tiles when the index is only a hint (on disk).
    fn lookup<'h>(
        &self,
        hashes: impl Iterator<Item = &'h Hash>,
        size: u64,
    ) -> Result<HashMap<Hash, u64>, LogError> {
        let index = lock(&self.index);
        let hashes: Vec<&Hash> = hashes.collect();
        let candidates = index.candidates_many(&hashes)?;
        let confirm = index.needs_confirmation();
        drop(index);
        let mut known = HashMap::new();
        if candidates.iter().all(Vec::is_empty) {
            return Ok(known);
        }
        let snapshot = self.snapshot();
        for (h, positions) in hashes.into_iter().zip(candidates) {
            for i in positions.into_iter().filter(|&i| i < size) {
                if !confirm || self.leaf_at(i, &snapshot)? == *h {
                    known.insert(*h, i);
                    break;
                }
            }
        }
        Ok(known)
    }

    /// The leaf hash at position `i` of the snapshot's tree, from the level-0 tile.
    fn leaf_at(&self, i: u64, snapshot: &Published) -> Result<Hash, LogError> {
        let reader = self.reader(snapshot, snapshot.size);
        let h = reader
            .leaf(i)
            .map_err(|e| LogError::Prove(proof::ProveError::Read(e)))?;
        Ok(h)
    }

    /// The position of the entry whose leaf hash is `leaf` (`leaf_hash(entry)`), if it is in
    /// the log. With an on-disk index the answer is confirmed against the level-0 tile.
    pub fn find(&self, leaf: &Hash) -> Result<Option<LogIndex>, LogError> {
        let size = self.size();
        Ok(self
            .lookup(std::iter::once(leaf), size)?
            .get(leaf)
            .map(|&i| LogIndex(i)))
    }

    /// Checks the leaf index against the level-0 tiles: every leaf of the current tree is
    /// found at its position (or at an earlier position holding the same leaf). Reads every
    /// level-0 tile: an audit for tests and tools, not for the hot path.
    pub fn check_index(&self) -> Result<(), LogError> {
        let snapshot = self.snapshot();
        let size = snapshot.size;
        {
            let index = lock(&self.index);
            if index.size() > size {
                return Err(LogError::Corrupt {
                    path: index_path_name(&index),
                    index: Some(size),
                    reason: format!("index covers {} entries, the log {size}", index.size()),
                });
            }
        }
        let reader = self.reader(&snapshot, size);
        let mut i = 0;
        while i < size {
            let end = (i + u64::from(TILE_WIDTH)).min(size);
            let leaves = reader
                .read_hashes(&(i..end).map(|j| NodeId::new(0, j)).collect::<Vec<_>>())
                .map_err(|e| LogError::Prove(proof::ProveError::Read(e)))?;
            for (j, h) in (i..end).zip(leaves) {
                match self.find(&h)? {
                    Some(found) if found.get() <= j => {}
                    other => {
                        let index = lock(&self.index);
                        return Err(LogError::Corrupt {
                            path: index_path_name(&index),
                            index: Some(j),
                            reason: format!(
                                "leaf {j} ({h}) is found at {}",
                                other.map_or("no position".into(), |f| f.to_string())
                            ),
                        });
                    }
                }
            }
            i = end;
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Published> {
        Arc::clone(
            &self
                .published
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn reader<'a>(&'a self, snapshot: &'a Published, size: u64) -> LogReader<'a, S> {
        LogReader {
            store: &self.store,
            cache: &self.cache,
            latest: snapshot.size,
            edges: &snapshot.edges,
            edge_trees: Some(&snapshot.edge_trees),
            index: Some(&self.index),
            size,
        }
    }

    /// Integrates `entries` after the current size and makes them durable: the one write path,
    /// used by appends and by recovery alike. On error the caller must stop using `seq`.
    fn sequence(&self, seq: &mut Sequencer, entries: &[Vec<u8>]) -> Result<(), LogError> {
        let old = seq.size;
        let current = self.snapshot();
        let source = EdgeSource {
            edges: &current.edges,
            store: StoreTiles {
                store: &self.store,
                latest: old,
            },
        };
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let mut frontier = seq.frontier.clone();
        leaves.iter().for_each(|h| frontier.push(*h));
        let step = integrate_with_root(
            old,
            &source,
            seq.edge.as_ref(),
            entries,
            &leaves,
            frontier.root(),
        )?;
        // Nothing written yet: a crash here loses only this (unacknowledged) batch.

        let note = Checkpoint::new(self.config.origin.clone(), TreeSize(step.size), step.root)
            .sign(&[&*self.config.signer])?;

        // Write order, each step durable before the next becomes visible: the bundles one
        // after the other (so that a crash leaves a prefix of them), then every tile
        // (concurrently), then the checkpoint. A tile may not land before all the bundles: a
        // partial tile beyond the checkpoint whose entries never landed would stay behind as
        // an old partial tile of a size no checkpoint ever had. (`write_ordered` lets the
        // store write and sync one step's temporary files while the previous step's are
        // moved into place.)
        let bundles: Vec<(String, Vec<u8>, WriteMode)> = step
            .bundles
            .iter()
            .map(|(id, b)| (id.path(), b.encode(), bundle_mode(*id)))
            .collect();
        let tiles: Vec<(String, Vec<u8>, WriteMode)> = step
            .tiles
            .iter()
            .map(|(id, t)| (id.path(), t.to_bytes(), tile_mode(*id)))
            .collect();
        let bundle_refs = refs(&bundles);
        let tile_refs = refs(&tiles);
        let checkpoint = [(CHECKPOINT_PATH, note.as_bytes(), WriteMode::AtomicOverwrite)];
        let mut groups: Vec<&[(&str, &[u8], WriteMode)]> = bundle_refs.chunks(1).collect();
        groups.push(&tile_refs);
        groups.push(&checkpoint);
        self.store.write_ordered(&groups).map_err(|e| {
            let files = groups.iter().map(|g| g.len()).sum::<usize>();
            let first = groups.iter().flat_map(|g| g.first()).next();
            let what = format!(
                "the batch's {files} files ({}, ..., {CHECKPOINT_PATH})",
                first.map_or("", |(p, _, _)| p)
            );
            LogError::io("writing", &what, e)
        })?;
        // If we crash during those writes: while bundles are written, the bundles that landed
        // hold a prefix of this batch beyond the checkpoint, and open rolls that prefix forward
        // (or nothing, if none landed). While tiles are written, every bundle is durable and
        // any subset of the tiles is; the checkpoint still names the old size, whose tiles are
        // untouched (full tiles are never rewritten, partial ones of the old width keep their
        // own path), and open rolls the whole batch forward from the bundles, rewriting
        // identical tiles. The checkpoint itself lands whole or not at all.

        // Commit point passed: the batch is in the log. If we crash before the callers hear of
        // it, it stays in the log unacknowledged (a retry deduplicates to the same indexes).

        let edges = edge_tiles(step.size)
            .into_iter()
            .map(|id| {
                let tile = step
                    .tiles
                    .iter()
                    .chain(&current.edges)
                    .find(|(t, _)| {
                        t.level == id.level && t.index == id.index && t.width == id.width
                    })
                    .map(|(_, tile)| tile.clone())
                    .ok_or_else(|| LogError::Corrupt {
                        path: id.path(),
                        index: Some(first_entry_of_tile(id)),
                        reason: "integration did not produce this edge tile".into(),
                    })?;
                Ok((id, tile))
            })
            .collect::<Result<Vec<_>, LogError>>()?;
        seq.size = step.size;
        seq.frontier = frontier;
        seq.edge = match step.bundles.last() {
            Some((id, b)) if !id.is_full() => Some(b.clone()),
            _ => None,
        };
        *self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Published {
            size: step.size,
            root: step.root,
            note,
            edges,
            edge_trees: OnceLock::new(),
        });

        // The index follows the commit point. If we crash before (or while) it is updated,
        // open finds it behind the checkpoint and catches up from the level-0 tiles; it is
        // never ahead of a checkpoint.
        {
            let mut index = lock(&self.index);
            // Tile nodes first: `add` may commit, and should take them along.
            for (id, tile) in &step.tiles {
                if id.level == 0
                    && let Some(nodes) = tile_nodes(tile.hashes())
                {
                    index.add_tile_nodes(id.index, nodes);
                }
            }
            index.add(&leaves, step.root, false)?;
        }

        // The history sample, also after the commit point: a crash here loses at most this
        // sample; the next open keeps the then-current checkpoint for its block.
        let note = self.snapshot().note.clone();
        self.keep_history(seq, step.size, &note)?;
        Ok(())
    }

    /// Keeps `note` (the checkpoint of `size`) as the history sample of its block, unless that
    /// block has one.
    fn keep_history(&self, seq: &mut Sequencer, size: u64, note: &str) -> Result<(), LogError> {
        let block = history_block(size);
        if seq.kept_block == Some(block) {
            return Ok(());
        }
        let path = history_path(block);
        if seq.kept_block.is_none()
            && has_history(&self.store, block).map_err(|e| LogError::io("reading", &path, e))?
        {
            // On open: already kept, do not rewrite it.
            seq.kept_block = Some(block);
            return Ok(());
        }
        match self
            .store
            .write(&path, note.as_bytes(), WriteMode::CreateOnce)
        {
            // Exists with other bytes: an earlier checkpoint of this block was kept first.
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LogError::io("writing", &path, e)),
        }
        seq.kept_block = Some(block);
        Ok(())
    }

    /// The kept checkpoints ([`super::history`]), oldest first, each verified with the log's key.
    pub fn history(&self) -> Result<Vec<KeptCheckpoint>, LogError> {
        read_history(&self.store, &*self.config.verifier, self.size()).map_err(|(path, reason)| {
            LogError::Corrupt {
                path,
                index: None,
                reason,
            }
        })
    }

    /// Entries in bundles beyond the checkpoint: the landed prefix of an interrupted batch.
    fn unsequenced_entries(&self) -> Result<Vec<Vec<u8>>, LogError> {
        let seq = lock(&self.seq);
        let mut out = Vec::new();
        let mut index = seq.size / u64::from(TILE_WIDTH);
        let mut have = (seq.size % u64::from(TILE_WIDTH)) as u16;
        loop {
            // The widest version of bundle `index` beyond what the checkpoint covers.
            let mut found = None;
            for width in (have + 1..=TILE_WIDTH).rev() {
                let id = BundleId { index, width };
                let path = id.path();
                if let Some(bytes) = self
                    .store
                    .read(&path)
                    .map_err(|e| LogError::io("reading", &path, e))?
                {
                    let bundle = EntryBundle::decode(&bytes).map_err(|e| LogError::Corrupt {
                        path: path.clone(),
                        index: Some(first_entry_of_bundle(id)),
                        reason: format!("unsequenced bundle does not decode: {e}"),
                    })?;
                    found = Some((id, bundle));
                    break;
                }
            }
            let Some((id, bundle)) = found else {
                return Ok(out);
            };
            let corrupt = |reason: &str| LogError::Corrupt {
                path: id.path(),
                index: Some(first_entry_of_bundle(id)),
                reason: reason.to_owned(),
            };
            if bundle.width() != id.width {
                return Err(corrupt("width does not match its path"));
            }
            // The new version must extend the committed partial bundle, not contradict it.
            if have > 0
                && seq.edge.as_ref().map(EntryBundle::entries)
                    != bundle.entries().get(..usize::from(have))
            {
                return Err(corrupt(
                    "unsequenced bundle does not extend the checkpointed partial bundle",
                ));
            }
            out.extend(bundle.entries()[usize::from(have)..].iter().cloned());
            if !id.is_full() {
                return Ok(out);
            }
            index += 1;
            have = 0;
        }
    }

    /// The latest signed checkpoint, read back from the store and verified.
    pub fn checkpoint(&self) -> Result<(Checkpoint, String), LogError> {
        let note = self
            .store
            .read(CHECKPOINT_PATH)
            .map_err(|e| LogError::io("reading", CHECKPOINT_PATH, e))?
            .ok_or(LogError::NoLog)?;
        let (cp, _) = Checkpoint::open(&note, &[&*self.config.verifier]).map_err(|source| {
            LogError::Checkpoint {
                key: self.config.verifier.name().to_owned(),
                source,
            }
        })?;
        Ok((cp, String::from_utf8_lossy(&note).into_owned()))
    }

    /// Size, root and signed note of the latest checkpoint this handle wrote or opened.
    pub fn latest(&self) -> (u64, Hash, String) {
        let p = self.snapshot();
        (p.size, p.root, p.note.clone())
    }

    /// The current tree size.
    pub fn size(&self) -> u64 {
        self.snapshot().size
    }

    /// The entry at `index`, read from its bundle.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, LogError> {
        let size = self.size();
        let id = BundleId::for_entry(index, size).ok_or(LogError::OutOfRange {
            what: "entry",
            value: index,
            size,
        })?;
        let full = BundleId {
            width: TILE_WIDTH,
            ..id
        };
        let mut tried = Vec::new();
        for candidate in [id, full] {
            let path = candidate.path();
            let bytes = self
                .store
                .read(&path)
                .map_err(|e| LogError::io("reading", &path, e))?;
            tried.push(path.clone());
            let Some(bytes) = bytes else { continue };
            let bundle = EntryBundle::decode(&bytes).map_err(|e| LogError::Corrupt {
                path: path.clone(),
                index: Some(first_entry_of_bundle(candidate)),
                reason: e.to_string(),
            })?;
            let at = (index % u64::from(TILE_WIDTH)) as usize;
            return bundle
                .entries()
                .get(at)
                .cloned()
                .ok_or_else(|| LogError::Corrupt {
                    path,
                    index: Some(index),
                    reason: format!("bundle has {} entries", bundle.width()),
                });
        }
        Err(LogError::Corrupt {
            path: tried.join(" or "),
            index: Some(index),
            reason: "entry bundle missing".into(),
        })
    }

    /// An inclusion proof for entry `index` in the tree of `size` leaves (at most the current size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        let snapshot = self.checked_snapshot(size)?;
        Ok(proof::inclusion_proof(
            index,
            size,
            &self.reader(&snapshot, size),
        )?)
    }

    /// A consistency proof from the tree of `size1` leaves to the tree of `size2`.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, LogError> {
        let snapshot = self.checked_snapshot(size2)?;
        Ok(proof::consistency_proof(
            size1,
            size2,
            &self.reader(&snapshot, size2),
        )?)
    }

    /// The root of the tree of `size` leaves (at most the current size), from the stored tiles.
    pub fn root(&self, size: u64) -> Result<Hash, LogError> {
        let snapshot = self.checked_snapshot(size)?;
        Ok(proof::root(size, &self.reader(&snapshot, size))?)
    }

    fn checked_snapshot(&self, size: u64) -> Result<Arc<Published>, LogError> {
        let snapshot = self.snapshot();
        if size > snapshot.size {
            return Err(LogError::OutOfRange {
                what: "tree size",
                value: size,
                size: snapshot.size,
            });
        }
        Ok(snapshot)
    }

    /// The leaf index's file, when it is on disk.
    pub fn index_file(&self) -> Option<PathBuf> {
        lock(&self.index).path().map(Path::to_path_buf)
    }

    /// The store under this log.
    pub fn store(&self) -> &S {
        &self.store
    }
}

/// Borrowed `(path, bytes, mode)` triples, as [`TileStore::write_ordered`] takes them.
fn refs(files: &[(String, Vec<u8>, WriteMode)]) -> Vec<(&str, &[u8], WriteMode)> {
    files
        .iter()
        .map(|(p, d, m)| (p.as_str(), d.as_slice(), *m))
        .collect()
}

impl<S> Drop for Log<S> {
    fn drop(&mut self) {
        // Best effort: make the index's unsynced commits durable so the next open has nothing
        // to catch up. If this fails (or we never get here), open catches up from the tiles.
        let _ = lock(&self.index).sync();
    }
}

/// The partial tiles of a tree, lowest level first.
type EdgeTiles = Vec<(TileId, HashTile)>;

/// Tiles for integration: the sequencer's edge tiles, the store for anything else.
struct EdgeSource<'a, S: ?Sized> {
    edges: &'a [(TileId, HashTile)],
    store: StoreTiles<'a, S>,
}

impl<S: TileStore + ?Sized> TileSource for EdgeSource<'_, S> {
    type Error = ReadError;

    fn read_tile(&self, id: TileId) -> Result<HashTile, ReadError> {
        match self
            .edges
            .iter()
            .find(|(t, _)| t.level == id.level && t.index == id.index && t.width >= id.width)
        {
            Some((_, tile)) => Ok(tile.clone()),
            None => self.store.read_tile(id),
        }
    }
}

fn index_path_name(index: &LeafIndex) -> String {
    index.path().map_or_else(
        || "(leaf index in memory)".into(),
        |p| p.display().to_string(),
    )
}

/// Reads and checks what the sequencer needs at `size`: the right-edge tiles (they must hash
/// to the checkpoint root) and the partial entry bundle (its leaves must be the level-0 edge
/// tile's hashes).
fn load_edges<S: TileStore>(
    store: &S,
    cache: &TileCache,
    size: u64,
    root: &Hash,
) -> Result<(EdgeTiles, Option<EntryBundle>, Frontier), String> {
    let tiles = StoreTiles {
        store,
        latest: size,
    };
    let mut edges = Vec::new();
    for id in edge_tiles(size) {
        let tile = tiles
            .read_path(&id.path())
            .map_err(|e| format!("edge tile: {e}"))?
            .ok_or_else(|| format!("edge tile {} is missing", id.path()))?;
        if tile.width() != id.width {
            return Err(format!(
                "edge tile {} holds {} hashes",
                id.path(),
                tile.width()
            ));
        }
        edges.push((id, tile));
    }
    // Every node of the root's decomposition lies in an edge tile, so this reads no other tile.
    let reader = LogReader {
        store,
        cache,
        latest: size,
        edges: &edges,
        edge_trees: None,
        index: None,
        size,
    };
    let nodes = proof::range_nodes(0, size);
    let hashes = reader
        .read_hashes(&nodes)
        .map_err(|e| format!("reading the right edge from the edge tiles: {e}"))?;
    let mut frontier = Frontier::default();
    for (node, h) in nodes.iter().zip(hashes) {
        frontier.push_subtree(u32::from(node.level), h);
    }
    if frontier.root() != *root {
        return Err("the right-edge tiles do not hash to the checkpoint root".into());
    }
    let edge = match edge_bundle(size) {
        None => None,
        Some(id) => {
            let path = id.path();
            let bytes = store
                .read(&path)
                .map_err(|e| format!("reading {path}: {e}"))?
                .ok_or_else(|| format!("partial bundle {path} is missing"))?;
            let bundle = EntryBundle::decode(&bytes).map_err(|e| format!("{path}: {e}"))?;
            if bundle.width() != id.width {
                return Err(format!("{path} holds {} entries", bundle.width()));
            }
            let leaves = edges
                .iter()
                .find(|(t, _)| t.level == 0)
                .map(|(_, t)| t.hashes())
                .unwrap_or_default();
            if bundle
                .entries()
                .iter()
                .map(|e| leaf_hash(e))
                .ne(leaves.iter().copied())
            {
                return Err(format!("{path} does not match the level-0 tile"));
            }
            Some(bundle)
        }
    };
    Ok((edges, edge, frontier))
}

/// Why the index could not be caught up.
enum CatchUp {
    /// The tiles do not hash to the checkpoint root.
    Corrupt(String),
    /// The index itself failed.
    Index(super::IndexError),
}

impl From<super::IndexError> for CatchUp {
    fn from(e: super::IndexError) -> Self {
        Self::Index(e)
    }
}

/// Leaves added to the index at a time while catching up (the index commits them in batches
/// of its own).
const CATCH_UP_CHUNK: usize = 1 << 16;

/// Brings the index from its recorded size to `size`, reading the level-0 tiles in between and
/// checking that they, with the stored tree at the index's size, hash to the checkpoint root.
/// An index that is ahead of the checkpoint, or whose recorded root is not the stored tree's
/// root at its size, is cleared and rebuilt from position 0.
fn catch_up<S: TileStore>(
    store: &S,
    cache: &TileCache,
    edges: &[(TileId, HashTile)],
    size: u64,
    root: &Hash,
    index: &mut LeafIndex,
) -> Result<(), CatchUp> {
    let reader = |at: u64| LogReader {
        store,
        cache,
        latest: size,
        edges,
        edge_trees: None,
        index: None,
        size: at,
    };
    let mut from = index.size();
    if from > size
        || index.root().is_none()
        || (from > 0 && proof::root(from, &reader(from)).ok() != index.root())
    {
        index.clear()?;
        from = 0;
    }
    if from == size {
        return Ok(());
    }
    // The right edge of the tree at `from`, then every leaf after it.
    let mut frontier = Frontier::default();
    let nodes = proof::range_nodes(0, from);
    let hashes = reader(from).read_hashes(&nodes).map_err(|e| {
        CatchUp::Corrupt(format!("reading the tree at the index's size {from}: {e}"))
    })?;
    for (node, h) in nodes.iter().zip(hashes) {
        frontier.push_subtree(u32::from(node.level), h);
    }
    let tiles = StoreTiles {
        store,
        latest: size,
    };
    let mut pending: Vec<Hash> = Vec::new();
    let mut at = from;
    while at < size {
        let t = at / u64::from(TILE_WIDTH);
        let full = (t + 1) * u64::from(TILE_WIDTH) <= size;
        let tile = if full {
            let id = TileId {
                level: 0,
                index: t,
                width: TILE_WIDTH,
            };
            match tiles.read_path(&id.path()) {
                Ok(Some(tile)) if tile.width() == TILE_WIDTH => tile,
                Ok(Some(_)) => {
                    return Err(CatchUp::Corrupt(format!(
                        "level-0 tile {} is short",
                        id.path()
                    )));
                }
                Ok(None) => {
                    return Err(CatchUp::Corrupt(format!(
                        "level-0 tile {} is missing",
                        id.path()
                    )));
                }
                Err(e) => return Err(CatchUp::Corrupt(format!("level-0 tile: {e}"))),
            }
        } else {
            match edges.iter().find(|(id, _)| id.level == 0) {
                Some((_, tile)) => tile.clone(),
                None => return Err(CatchUp::Corrupt("no level-0 edge tile".into())),
            }
        };
        if let Some(nodes) = tile_nodes(tile.hashes()) {
            index.add_tile_nodes(t, nodes);
        }
        let start = (at % u64::from(TILE_WIDTH)) as usize;
        for h in &tile.hashes()[start..] {
            frontier.push(*h);
            pending.push(*h);
        }
        at = t * u64::from(TILE_WIDTH) + u64::from(tile.width());
        if pending.len() >= CATCH_UP_CHUNK && at < size {
            index.add(&pending, frontier.root(), false)?;
            pending.clear();
        }
    }
    if frontier.root() != *root {
        // The index now holds leaves the checkpoint does not vouch for: forget them.
        index.clear()?;
        return Err(CatchUp::Corrupt(format!(
            "the level-0 tiles from entry {from} do not hash to the checkpoint root"
        )));
    }
    index.add(&pending, *root, true)?;
    Ok(())
}

/// Turns a failed open check into an error naming the first damaged file that `validate` finds.
fn first_problem<S: TileStore>(store: &S, config: &LogConfig, reason: String) -> LogError {
    let report = validate(store, &*config.verifier);
    match report.first_finding() {
        Some(finding) => LogError::Corrupt {
            path: finding.path().to_owned(),
            index: finding
                .index()
                .or_else(|| first_entry_of_path(finding.path())),
            reason: format!("{reason} ({finding})"),
        },
        None => LogError::Corrupt {
            path: "(log)".into(),
            index: None,
            reason,
        },
    }
}

fn first_entry_of_path(path: &str) -> Option<u64> {
    if let Ok(id) = BundleId::parse_path(path) {
        return Some(first_entry_of_bundle(id));
    }
    TileId::parse_path(path).ok().map(first_entry_of_tile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poex_log::proof::MemoryTree;

    #[test]
    fn frontier_root_matches_memory_tree() {
        let mut f = Frontier::default();
        let mut t = MemoryTree::new();
        assert_eq!(f.root(), t.root());
        for i in 0u32..300 {
            let h = leaf_hash(&i.to_be_bytes());
            f.push(h);
            t.push(h);
            assert_eq!(f.root(), t.root(), "size {}", i + 1);
        }
    }
}
