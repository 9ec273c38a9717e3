//! The leaf-hash index: which position holds the entry with a given leaf hash.
//!
//! The index is **derived data**. The level-0 tiles (leaf hashes in index order, written before
//! the checkpoint that covers them) are the truth; the index is a lookup structure rebuilt from
//! them whenever it is missing, damaged, ahead of the checkpoint, or from another log. It is
//! updated after the commit point (the checkpoint write) and caught up on open from the level-0
//! tiles between the size it records and the checkpoint's size, so a crash between the two
//! writes costs a short catch-up, never a wrong answer.
//!
//! Two forms:
//!
//! - **in memory** (`HashMap<Hash, u64>`, exact): rebuilt on every open from all level-0 tiles,
//!   memory ~66 bytes per entry. For tests and small logs.
//! - **on disk** (a redb file): the key is the first 8 bytes of the leaf hash and the position,
//!   packed into one `u128` (`prefix << 64 | index`), with no value: 16 bytes per entry before
//!   B-tree overhead. A lookup returns *candidate* positions whose leaf-hash prefix matches; the
//!   log confirms a candidate against its level-0 tile before believing it, so neither a prefix
//!   collision nor a damaged index file can make it return a wrong position. Memory is bounded
//!   by redb's page cache ([`DISK_CACHE_BYTES`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use poex_log::hash::Hash;

/// redb page cache for the on-disk index (its only memory that could grow).
pub(crate) const DISK_CACHE_BYTES: usize = 32 << 20;

/// Entries between durable commits of the on-disk index. Commits in between are not synced
/// (the index is derived data): a crash loses at most about this many entries of index, which
/// the next open re-reads from the level-0 tiles.
pub(crate) const DURABLE_EVERY: u64 = 1 << 20;

/// Leaves the on-disk index holds in memory before committing them to the file (about 12 MiB).
///
/// The keys are random, so a commit of `n` keys into a B-tree of `N` copies up to
/// `min(n, N / 170)` 4 KiB pages (copy-on-write): per entry, that is cheap only when `n` is
/// large. At 10M entries a commit touches the whole tree (~60,000 pages) whatever `n`, so a
/// buffer of 2^18 costs ~1 KiB of page copies per entry, 4,096 would cost ~60 KiB.
pub(crate) const BUFFERED: usize = 1 << 18;

/// `prefix << 64 | index` -> nothing.
const LEAVES: TableDefinition<u128, ()> = TableDefinition::new("leaves");
/// "size" (u64 BE), "root" (32 bytes), "format".
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Full level-0 tile number -> its 16 nodes at tree level 4 (512 bytes): with them a proof
/// through a tile not in the cache hashes ~26 nodes instead of 255 ([`super::cache`]).
const TILE_NODES: TableDefinition<u64, &[u8]> = TableDefinition::new("tile_nodes");
const FORMAT: &[u8] = b"poex-log leaf index 2";

/// The nodes kept per full level-0 tile: tree level 4, 16 of them.
pub(crate) type TileNodes = [Hash; 16];

/// The index failed (on-disk form only).
#[derive(Debug, thiserror::Error)]
#[error("leaf index {path}: {source}")]
pub struct IndexError {
    /// The index file.
    pub path: PathBuf,
    /// What redb said.
    #[source]
    pub source: redb::Error,
}

pub(crate) enum LeafIndex {
    Memory {
        map: HashMap<Hash, u64>,
        size: u64,
        root: Option<Hash>,
    },
    Disk(DiskIndex),
}

pub(crate) struct DiskIndex {
    db: Database,
    path: PathBuf,
    /// Entries covered: positions `0..size`, the last `pending.len()` of them only in memory.
    size: u64,
    /// Leaves added but not yet committed to the file (about [`BUFFERED`]): one redb commit
    /// per quarter million entries rather than per append. Lost in a crash, like any commit the
    /// file had not synced, and caught up from the tiles on open.
    pending: HashMap<Hash, u64>,
    /// Level-4 nodes of full level-0 tiles, not yet committed (flushed with `pending`).
    pending_nodes: HashMap<u64, TileNodes>,
    /// The tree root at `size`, as recorded (checked against the tiles on open).
    root: Option<Hash>,
    /// `size` at the last synced commit.
    durable_size: u64,
}

fn prefix(h: &Hash) -> u64 {
    let b = h.to_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl LeafIndex {
    pub(crate) fn memory() -> Self {
        Self::Memory {
            map: HashMap::new(),
            size: 0,
            root: None,
        }
    }

    /// Opens (or creates) the index file. A file redb cannot open is deleted and created
    /// afresh: it is derived data, rebuilt from the tiles.
    pub(crate) fn open_disk(path: &Path) -> Result<Self, IndexError> {
        let err = |source: redb::Error| IndexError {
            path: path.to_owned(),
            source,
        };
        let open = |path: &Path| {
            Database::builder()
                .set_cache_size(DISK_CACHE_BYTES)
                .create(path)
        };
        let db = match open(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(err(redb::DatabaseError::DatabaseAlreadyOpen.into()));
            }
            Err(_) => {
                // Not a redb file, or damaged beyond redb's own repair: start over.
                std::fs::remove_file(path).map_err(|e| err(redb::Error::Io(e)))?;
                open(path).map_err(|e| err(e.into()))?
            }
        };
        let mut index = DiskIndex {
            db,
            path: path.to_owned(),
            size: 0,
            pending: HashMap::new(),
            pending_nodes: HashMap::new(),
            root: None,
            durable_size: 0,
        };
        match index.read_meta() {
            Ok(Some((size, root))) => {
                index.size = size;
                index.root = Some(root);
                index.durable_size = size;
            }
            // No or unreadable metadata: treat as empty; the caller rebuilds.
            Ok(None) | Err(_) => index.clear().map_err(err)?,
        }
        Ok(Self::Disk(index))
    }

    /// Positions `0..size()` are indexed.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Self::Memory { size, .. } => *size,
            Self::Disk(d) => d.size,
        }
    }

    /// The root the index recorded for `size()`, if any.
    pub(crate) fn root(&self) -> Option<Hash> {
        match self {
            Self::Memory { root, .. } => *root,
            Self::Disk(d) => d.root,
        }
    }

    /// Whether a candidate from [`candidates_many`](Self::candidates_many) must be confirmed against the
    /// tiles before it is believed.
    pub(crate) fn needs_confirmation(&self) -> bool {
        matches!(self, Self::Disk(_))
    }

    /// The index file, if on disk.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Self::Memory { .. } => None,
            Self::Disk(d) => Some(&d.path),
        }
    }

    /// Positions that may hold each of `leaves`, lowest first (one read transaction).
    pub(crate) fn candidates_many(&self, leaves: &[&Hash]) -> Result<Vec<Vec<u64>>, IndexError> {
        match self {
            Self::Memory { map, .. } => Ok(leaves
                .iter()
                .map(|h| map.get(*h).copied().into_iter().collect())
                .collect()),
            Self::Disk(d) => d.candidates_many(leaves).map_err(|source| IndexError {
                path: d.path.clone(),
                source,
            }),
        }
    }

    /// Records the level-4 nodes of full level-0 tile `tile` (on disk only; the in-memory form
    /// does not keep them: its memory would grow with the log).
    pub(crate) fn add_tile_nodes(&mut self, tile: u64, nodes: TileNodes) {
        if let Self::Disk(d) = self {
            d.pending_nodes.insert(tile, nodes);
        }
    }

    /// The level-4 nodes of full level-0 tile `tile`, if recorded. Derived data: the caller
    /// checks them against the level-1 tile before use.
    pub(crate) fn tile_nodes(&self, tile: u64) -> Option<TileNodes> {
        match self {
            Self::Memory { .. } => None,
            Self::Disk(d) => d.tile_nodes(tile).ok().flatten(),
        }
    }

    /// Forgets everything (before a rebuild).
    pub(crate) fn clear(&mut self) -> Result<(), IndexError> {
        match self {
            Self::Memory { map, size, root } => {
                map.clear();
                *size = 0;
                *root = None;
                Ok(())
            }
            Self::Disk(d) => d.clear().map_err(|source| IndexError {
                path: d.path.clone(),
                source,
            }),
        }
    }

    /// Records `leaves` at positions `size()..`, then that the index covers `new_size` with
    /// root `root`. `sync` forces a synced commit; otherwise the on-disk form syncs every
    /// [`DURABLE_EVERY`] entries.
    pub(crate) fn add(
        &mut self,
        leaves: &[Hash],
        root: Hash,
        sync: bool,
    ) -> Result<(), IndexError> {
        match self {
            Self::Memory { map, size, root: r } => {
                for (i, h) in leaves.iter().enumerate() {
                    // The first position wins, as a duplicate (which dedup prevents) would be
                    // found at its first occurrence.
                    map.entry(*h).or_insert(*size + i as u64);
                }
                *size += leaves.len() as u64;
                *r = Some(root);
                Ok(())
            }
            Self::Disk(d) => d.add(leaves, root, sync).map_err(|source| IndexError {
                path: d.path.clone(),
                source,
            }),
        }
    }

    /// Makes every commit so far durable (on clean close).
    pub(crate) fn sync(&mut self) -> Result<(), IndexError> {
        match self {
            Self::Memory { .. } => Ok(()),
            Self::Disk(d) if d.durable_size == d.size => Ok(()),
            Self::Disk(d) => d.flush(true).map_err(|source| IndexError {
                path: d.path.clone(),
                source,
            }),
        }
    }
}

impl DiskIndex {
    fn read_meta(&self) -> Result<Option<(u64, Hash)>, redb::Error> {
        let tx = self.db.begin_read()?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let format = meta.get("format")?.map(|v| v.value().to_vec());
        if format.as_deref() != Some(FORMAT) {
            return Ok(None);
        }
        let size = meta
            .get("size")?
            .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
            .map(u64::from_be_bytes);
        let root = meta
            .get("root")?
            .and_then(|v| Hash::try_from(v.value()).ok());
        Ok(size.zip(root))
    }

    fn tile_nodes(&self, tile: u64) -> Result<Option<TileNodes>, redb::Error> {
        if let Some(n) = self.pending_nodes.get(&tile) {
            return Ok(Some(*n));
        }
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(TILE_NODES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(v) = table.get(tile)? else {
            return Ok(None);
        };
        let bytes = v.value();
        if bytes.len() != 16 * 32 {
            return Ok(None);
        }
        let mut out = [Hash::from_bytes([0; 32]); 16];
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(32)) {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            *o = Hash::from_bytes(h);
        }
        Ok(Some(out))
    }

    fn candidates_many(&self, leaves: &[&Hash]) -> Result<Vec<Vec<u64>>, redb::Error> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(LEAVES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Ok(vec![Vec::new(); leaves.len()]);
            }
            Err(e) => return Err(e.into()),
        };
        let mut all = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            let p = u128::from(prefix(leaf)) << 64;
            let mut out: Vec<u64> = self.pending.get(*leaf).copied().into_iter().collect();
            for item in table.range(p..=p | u128::from(u64::MAX))? {
                let (k, _) = item?;
                // The low 64 bits are the position.
                out.push(k.value() as u64);
            }
            out.sort_unstable();
            all.push(out);
        }
        Ok(all)
    }

    fn clear(&mut self) -> Result<(), redb::Error> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        tx.set_quick_repair(true);
        tx.delete_table(LEAVES)?;
        tx.delete_table(META)?;
        tx.delete_table(TILE_NODES)?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert("format", FORMAT)?;
            meta.insert("size", 0u64.to_be_bytes().as_slice())?;
            meta.insert("root", poex_log::hash::empty_root().to_bytes().as_slice())?;
            tx.open_table(LEAVES)?;
            tx.open_table(TILE_NODES)?;
        }
        tx.commit()?;
        self.pending.clear();
        self.pending_nodes.clear();
        self.size = 0;
        self.root = Some(poex_log::hash::empty_root());
        self.durable_size = 0;
        Ok(())
    }

    fn add(&mut self, leaves: &[Hash], root: Hash, sync: bool) -> Result<(), redb::Error> {
        if leaves.is_empty()
            && self.pending.is_empty()
            && self.pending_nodes.is_empty()
            && self.durable_size == self.size
            && self.root == Some(root)
        {
            // Nothing new since the last synced commit (an open that had nothing to catch up):
            // a synced commit would only cost two fdatasyncs.
            return Ok(());
        }
        for h in leaves {
            self.pending.entry(*h).or_insert(self.size);
            self.size += 1;
        }
        self.root = Some(root);
        if sync || self.pending.len() >= BUFFERED || self.size - self.durable_size >= DURABLE_EVERY
        {
            self.flush(sync)?;
        }
        Ok(())
    }

    /// Commits the pending leaves and the size and root; synced if `sync` or if
    /// [`DURABLE_EVERY`] entries have accumulated since the last synced commit.
    fn flush(&mut self, sync: bool) -> Result<(), redb::Error> {
        let sync = sync || self.size - self.durable_size >= DURABLE_EVERY;
        let root = self.root.unwrap_or_else(poex_log::hash::empty_root);
        let mut tx = self.db.begin_write()?;
        if sync {
            // A synced commit also records the allocator state, so that reopening after a
            // crash does not walk the whole file.
            tx.set_quick_repair(true);
        } else {
            tx.set_durability(Durability::None)?;
        }
        {
            let mut table = tx.open_table(LEAVES)?;
            let mut keys: Vec<u128> = self
                .pending
                .iter()
                .map(|(h, &i)| u128::from(prefix(h)) << 64 | u128::from(i))
                .collect();
            // Sorted inserts touch each B-tree page once per batch.
            keys.sort_unstable();
            for k in keys {
                table.insert(k, ())?;
            }
            let mut nodes = tx.open_table(TILE_NODES)?;
            for (tile, hashes) in &self.pending_nodes {
                let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.to_bytes()).collect();
                nodes.insert(*tile, bytes.as_slice())?;
            }
            let mut meta = tx.open_table(META)?;
            meta.insert("size", self.size.to_be_bytes().as_slice())?;
            meta.insert("root", root.to_bytes().as_slice())?;
        }
        tx.commit()?;
        self.pending.clear();
        self.pending_nodes.clear();
        if sync {
            self.durable_size = self.size;
        }
        Ok(())
    }
}
