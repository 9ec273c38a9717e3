//! The sequencer: group commit, deduplication, recovery on open, reads and proofs.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};

use super::store::{CHECKPOINT_PATH, TileStore, WriteMode, bundle_mode, tile_mode};
use super::validate::validate;
use super::{
    LogConfig, LogError, LogIndex, StoreTiles, first_entry_of_bundle, first_entry_of_tile,
};
use crate::checkpoint::{Checkpoint, TreeSize};
use crate::hash::{Hash, empty_root, leaf_hash, node_hash};
use crate::proof::{self, HashReader};
use crate::tile::{
    BundleId, EntryBundle, MAX_ENTRY_SIZE, TILE_WIDTH, TileHashReader, TileId, TileSource,
    edge_bundle, integrate, tiles_for_size,
};

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
    /// Appends waiting to be sequenced and results waiting to be collected; `queue_cv` signals
    /// both new results and a free leader slot.
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    /// Sequencing state. Locked by the leader for a whole commit; nobody else writes the store.
    seq: Mutex<Sequencer>,
    /// The latest checkpoint written, for readers. Updated by the leader after the commit point.
    published: RwLock<Published>,
}

/// What one `append` call gets back from the leader that committed it.
type Outcome = Result<Vec<LogIndex>, Arc<LogError>>;

struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, Vec<Vec<u8>>)>,
    done: HashMap<u64, Outcome>,
    leader_active: bool,
}

struct Sequencer {
    /// Tree size of the last checkpoint written.
    size: u64,
    /// The partial entry bundle at `size` (`None` when `size` is a multiple of 256).
    edge: Option<EntryBundle>,
    /// Leaf hash -> index of every entry in the log, for deduplication. Its durable form is the
    /// level-0 tiles (the leaf hashes in index order), which are written before the checkpoint
    /// that covers them; open rebuilds the map from them.
    index: HashMap<Hash, u64>,
    /// Set when a commit failed part-way: the handle stops; reopening recovers.
    failed: Option<Arc<LogError>>,
}

#[derive(Clone)]
struct Published {
    size: u64,
    root: Hash,
    note: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves the data as consistent as between any two statements
    // of the leader; the `failed` flag, not poisoning, is what stops a damaged handle.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: TileStore> Log<S> {
    /// Creates a new, empty log in an empty store: writes a signed checkpoint of size 0.
    ///
    /// If we crash during create, the store is either still empty or holds the size-0
    /// checkpoint, and [`open`](Self::open) works.
    pub fn create(store: S, config: LogConfig) -> Result<Self, LogError> {
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
        Self::open(store, config)
    }

    /// Opens an existing log: checks the stored state at the checkpoint's size, refusing a
    /// damaged store (naming the first bad file), rebuilds the deduplication index, then rolls
    /// forward a batch that was written but not checkpointed when the last process stopped.
    pub fn open(store: S, config: LogConfig) -> Result<Self, LogError> {
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

        // 2. The state the checkpoint commits to must be intact. Any doubt: run the full
        //    validation to name the first damaged file, and refuse.
        let (index, edge) = match load_state(&store, size, &checkpoint.root) {
            Ok(state) => state,
            Err(reason) => return Err(first_problem(&store, &config, reason)),
        };
        let log = Self {
            store,
            config,
            queue: Mutex::new(Queue {
                next_ticket: 0,
                pending: Vec::new(),
                done: HashMap::new(),
                leader_active: false,
            }),
            queue_cv: Condvar::new(),
            seq: Mutex::new(Sequencer {
                size,
                edge,
                index,
                failed: None,
            }),
            published: RwLock::new(Published {
                size,
                root: checkpoint.root,
                note: String::from_utf8_lossy(&note).into_owned(),
            }),
        };

        // 3. Roll forward. A batch that crashed before its checkpoint left a prefix of its entry
        //    bundles (bundles are written in order, before any tile). Its entries were never
        //    acknowledged, but they were deduplicated and given indexes; sequencing them again
        //    through the normal path reproduces the same bytes for every file that landed
        //    (full files are create-once and identical, partial ones are overwritten) and
        //    then writes the checkpoint. If we crash during recovery, the next open finds the
        //    same bundles and does it again.
        let pending = log.unsequenced_entries()?;
        if !pending.is_empty() {
            let mut seq = lock(&log.seq);
            log.sequence(&mut seq, &pending)?;
        }
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
        let mut queue = lock(&self.queue);
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.pending.push((
            ticket,
            entries.iter().map(|e| e.as_ref().to_vec()).collect(),
        ));
        loop {
            if let Some(result) = queue.done.remove(&ticket) {
                return result.map_err(LogError::Failed);
            }
            if !queue.leader_active {
                // Become the leader: take everything queued so far (our own entries included)
                // and commit it as one batch while others keep queueing.
                queue.leader_active = true;
                let batch = std::mem::take(&mut queue.pending);
                drop(queue);
                let results = self.commit(batch);
                queue = lock(&self.queue);
                queue.leader_active = false;
                queue.done.extend(results);
                self.queue_cv.notify_all();
                continue;
            }
            queue = self
                .queue_cv
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Commits the queued appends as one batch; returns each ticket's result.
    fn commit(&self, batch: Vec<(u64, Vec<Vec<u8>>)>) -> Vec<(u64, Outcome)> {
        let mut seq = lock(&self.seq);
        let fail_all = |batch: Vec<(u64, Vec<Vec<u8>>)>, e: &Arc<LogError>| {
            batch
                .into_iter()
                .map(|(t, _)| (t, Err(Arc::clone(e))))
                .collect()
        };
        if let Some(e) = &seq.failed {
            return fail_all(batch, e);
        }
        // Deduplicate against the log and within the batch; new entries get the next indexes.
        let mut fresh: Vec<Vec<u8>> = Vec::new();
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        let mut assigned = Vec::with_capacity(batch.len());
        for (ticket, entries) in batch {
            let mut indexes = Vec::with_capacity(entries.len());
            for entry in entries {
                let h = leaf_hash(&entry);
                let i = match seq.index.get(&h).or_else(|| in_batch.get(&h)) {
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

    /// Integrates `entries` after the current size and makes them durable: the one write path,
    /// used by appends and by recovery alike. On error the caller must stop using `seq`.
    fn sequence(&self, seq: &mut Sequencer, entries: &[Vec<u8>]) -> Result<(), LogError> {
        let old = seq.size;
        let tiles = StoreTiles {
            store: &self.store,
            latest: old,
        };
        let step = integrate(old, &tiles, seq.edge.as_ref(), entries)?;
        // Nothing written yet: a crash here loses only this (unacknowledged) batch.

        for (id, bundle) in &step.bundles {
            let path = id.path();
            self.store
                .write(&path, &bundle.encode(), bundle_mode(*id))
                .map_err(|e| LogError::io("writing", &path, e))?;
            // If we crash here, the bundles written so far hold a prefix of this batch beyond
            // the checkpoint; open rolls that prefix forward (or nothing, if none landed).
        }
        for (id, tile) in &step.tiles {
            let path = id.path();
            self.store
                .write(&path, &tile.to_bytes(), tile_mode(*id))
                .map_err(|e| LogError::io("writing", &path, e))?;
            // If we crash here, every bundle of the batch is durable and some tiles are; the
            // checkpoint still names the old size, whose tiles are untouched (full tiles are
            // never rewritten, partial ones of the old width keep their own path). Open rolls
            // the whole batch forward from the bundles, rewriting identical tiles.
        }
        let note = Checkpoint::new(self.config.origin.clone(), TreeSize(step.size), step.root)
            .sign(&[&*self.config.signer])?;
        self.store
            .write(CHECKPOINT_PATH, note.as_bytes(), WriteMode::AtomicOverwrite)
            .map_err(|e| LogError::io("writing", CHECKPOINT_PATH, e))?;
        // Commit point passed: the batch is in the log. If we crash before the callers hear of
        // it, it stays in the log unacknowledged (a retry deduplicates to the same indexes).

        for (i, entry) in entries.iter().enumerate() {
            seq.index.insert(leaf_hash(entry), old + i as u64);
        }
        seq.size = step.size;
        seq.edge = match step.bundles.last() {
            Some((id, b)) if !id.is_full() => Some(b.clone()),
            _ => None,
        };
        *self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Published {
            size: step.size,
            root: step.root,
            note,
        };
        Ok(())
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
        let p = self
            .published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (p.size, p.root, p.note)
    }

    /// The current tree size.
    pub fn size(&self) -> u64 {
        self.latest().0
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
        let latest = self.check_size(size)?;
        let reader = TileHashReader::new(
            size,
            StoreTiles {
                store: &self.store,
                latest,
            },
        );
        Ok(proof::inclusion_proof(index, size, &reader)?)
    }

    /// A consistency proof from the tree of `size1` leaves to the tree of `size2`.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, LogError> {
        let latest = self.check_size(size2)?;
        let reader = TileHashReader::new(
            size2,
            StoreTiles {
                store: &self.store,
                latest,
            },
        );
        Ok(proof::consistency_proof(size1, size2, &reader)?)
    }

    /// The root of the tree of `size` leaves (at most the current size), from the stored tiles.
    pub fn root(&self, size: u64) -> Result<Hash, LogError> {
        let latest = self.check_size(size)?;
        let reader = TileHashReader::new(
            size,
            StoreTiles {
                store: &self.store,
                latest,
            },
        );
        Ok(proof::root(size, &reader)?)
    }

    fn check_size(&self, size: u64) -> Result<u64, LogError> {
        let latest = self.size();
        if size > latest {
            return Err(LogError::OutOfRange {
                what: "tree size",
                value: size,
                size: latest,
            });
        }
        Ok(latest)
    }

    /// The store under this log.
    pub fn store(&self) -> &S {
        &self.store
    }
}

/// Reads what the sequencer needs at `size` and checks it against the checkpoint root:
/// every level-0 tile (the leaf hashes, for the dedup index and the root), the higher tiles on
/// the right edge (through the root computed from stored tiles) and the partial entry bundle.
fn load_state<S: TileStore>(
    store: &S,
    size: u64,
    root: &Hash,
) -> Result<(HashMap<Hash, u64>, Option<EntryBundle>), String> {
    let tiles = StoreTiles {
        store,
        latest: size,
    };
    let mut index = HashMap::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut frontier = Frontier::default();
    for id in tiles_for_size(size).into_iter().filter(|t| t.level == 0) {
        let tile = tiles
            .read_tile(id)
            .map_err(|e| format!("level-0 tile {}: {e}", id.path()))?;
        let first = first_entry_of_tile(id);
        let hashes = tile
            .hashes()
            .get(..usize::from(id.width))
            .ok_or_else(|| format!("{} is short", id.path()))?;
        for (i, h) in hashes.iter().enumerate() {
            index.entry(*h).or_insert(first + i as u64);
            frontier.push(*h);
        }
    }
    if frontier.root() != *root {
        return Err(
            "the leaf hashes in the level-0 tiles do not hash to the checkpoint root".into(),
        );
    }
    let from_tiles = proof::root(size, &TileHashReader::new(size, &tiles))
        .map_err(|e| format!("computing the root from stored tiles: {e}"))?;
    if from_tiles != *root {
        return Err("the stored tiles do not hash to the checkpoint root".into());
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
            let first = first_entry_of_bundle(id);
            let leaves = TileHashReader::new(size, &tiles)
                .read_hashes(
                    &(first..size)
                        .map(|i| proof::NodeId::new(0, i))
                        .collect::<Vec<_>>(),
                )
                .map_err(|e| format!("{e}"))?;
            if bundle.entries().iter().map(|e| leaf_hash(e)).ne(leaves) {
                return Err(format!("{path} does not match the level-0 tile"));
            }
            Some(bundle)
        }
    };
    Ok((index, edge))
}

/// Turns a failed open check into an error naming the first damaged file that `validate` finds.
fn first_problem<S: TileStore>(store: &S, config: &LogConfig, reason: String) -> LogError {
    let report = validate(store, &*config.verifier);
    match report.first_problem() {
        Some(path) => LogError::Corrupt {
            index: first_entry_of_path(&path),
            path,
            reason,
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

/// The right edge of a Merkle tree being built leaf by leaf: perfect subtrees, largest first.
#[derive(Default)]
pub(crate) struct Frontier {
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    pub(crate) fn push(&mut self, leaf: Hash) {
        let mut cur = (0u32, leaf);
        while let Some(&(height, left)) = self.stack.last() {
            if height != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (height + 1, node_hash(&left, &cur.1));
        }
        self.stack.push(cur);
    }

    /// RFC 9162 root: the perfect subtrees folded right to left.
    pub(crate) fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return empty_root();
        };
        for (_, left) in it {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::MemoryTree;

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
