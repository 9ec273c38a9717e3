//! Proof reads without re-hashing: a bounded cache of full tiles with all their interior
//! nodes, and the right-edge tiles kept in memory by the sequencer.
//!
//! A proof needs node hashes at arbitrary tree levels; tiles store only every eighth level. A
//! node at level `8L + r` (`r > 0`) is the root of `2^r` hashes of a level-`L` tile, so serving it
//! from the tile alone costs up to 127 SHA-256 calls. A [`TileTree`] holds all 511 nodes of a
//! full tile (its 256 hashes and the 255 above them, 16 KiB), computed once when the tile is
//! first read. Full tiles never change, so a cached tree is never stale.
//!
//! The cache holds at most [`DEFAULT_CACHE_TILES`] trees (or what
//! [`LogOptions::cache_tiles`](super::LogOptions::cache_tiles) says), evicting the least
//! recently used: 1,024 trees are 16 MiB. Upper-level tiles are touched by every proof and stay;
//! level-0 tiles of random leaves come and go. Partial tiles are never cached: the ones at the
//! current size are the sequencer's own edge tiles, in memory and verified on open; proofs at
//! older sizes use a full tile or the current edge tile, both of which extend the older partial
//! tile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::index::{LeafIndex, TileNodes};

use super::{ReadError, StoreTiles, TileStore};
use poex_log::hash::{Hash, node_hash};
use poex_log::proof::{HashReader, NodeId};
use poex_log::tile::{
    HashTile, TILE_HEIGHT, TILE_WIDTH, TileDataError, TileId, TileReadError, TileSource,
};

/// Default bound of the tile cache, in full tiles (16 KiB each).
pub const DEFAULT_CACHE_TILES: usize = 1024;

const WIDTH: u64 = TILE_WIDTH as u64;

/// The node hashes of a tile: its hashes (level 0) and every complete node above them, up to
/// the tile's root for a full tile (511 hashes in all, 16 KiB).
pub(crate) struct TileTree {
    nodes: Vec<Hash>,
    /// Where level `r` starts in `nodes`, and how many nodes it has.
    levels: [(usize, usize); 9],
    /// Levels `1 .. lazy_below` are not stored but hashed from level 0 when asked for (a tree
    /// built from a tile and its stored level-4 nodes); 0 or 1: every level is stored.
    lazy_below: u8,
}

impl TileTree {
    pub(crate) fn build(tile: &HashTile) -> Self {
        Self::from_hashes(tile.hashes().iter().copied(), tile.hashes().len())
    }

    /// The tree of stored tile bytes (concatenated hashes), without an intermediate tile.
    fn from_bytes(bytes: &[u8]) -> Result<Self, TileDataError> {
        let n = bytes.len() / 32;
        if !bytes.len().is_multiple_of(32) || n == 0 || n > usize::from(TILE_WIDTH) {
            return Err(TileDataError::Length { bytes: bytes.len() });
        }
        let hashes = bytes.chunks_exact(32).map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            Hash::from_bytes(h)
        });
        Ok(Self::from_hashes(hashes, n))
    }

    /// Number of hashes at the tile's own level.
    fn width(&self) -> usize {
        self.levels[0].1
    }

    /// The tree of a full tile whose 16 level-4 nodes are known (from the index): only the 15
    /// nodes above them are hashed now; levels 1-3 are hashed when asked for (at most 7 hashes
    /// a node), instead of 255 hashes up front.
    fn from_bytes_and_nodes(bytes: &[u8], mid: &TileNodes) -> Result<Self, TileDataError> {
        let leaves = Self::from_bytes_lazy(bytes)?;
        if leaves.len() != usize::from(TILE_WIDTH) {
            return Err(TileDataError::Length { bytes: bytes.len() });
        }
        let mut nodes = Vec::with_capacity(leaves.len() + 31);
        nodes.extend_from_slice(&leaves);
        let mut levels = [(0, 0); 9];
        levels[0] = (0, leaves.len());
        levels[4] = (nodes.len(), mid.len());
        nodes.extend_from_slice(mid);
        for r in 5..levels.len() {
            let (start, len) = levels[r - 1];
            let at = nodes.len();
            for i in 0..len / 2 {
                let h = node_hash(&nodes[start + 2 * i], &nodes[start + 2 * i + 1]);
                nodes.push(h);
            }
            levels[r] = (at, len / 2);
        }
        Ok(Self {
            nodes,
            levels,
            lazy_below: 4,
        })
    }

    fn from_bytes_lazy(bytes: &[u8]) -> Result<Vec<Hash>, TileDataError> {
        if !bytes.len().is_multiple_of(32) || bytes.is_empty() || bytes.len() > 32 * 256 {
            return Err(TileDataError::Length { bytes: bytes.len() });
        }
        Ok(bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash::from_bytes(h)
            })
            .collect())
    }

    /// The tile's root (tree level 8 above its level), for a full tile.
    fn root(&self) -> Option<Hash> {
        self.node(8, 0)
    }

    fn from_hashes(hashes: impl Iterator<Item = Hash>, n: usize) -> Self {
        let mut nodes = Vec::with_capacity(2 * n);
        nodes.extend(hashes);
        let mut levels = [(0, 0); 9];
        levels[0] = (0, nodes.len());
        for r in 1..levels.len() {
            let (start, len) = levels[r - 1];
            let at = nodes.len();
            for i in 0..len / 2 {
                let h = node_hash(&nodes[start + 2 * i], &nodes[start + 2 * i + 1]);
                nodes.push(h);
            }
            levels[r] = (at, len / 2);
        }
        Self {
            nodes,
            levels,
            lazy_below: 0,
        }
    }

    /// Node `i` of level `r` inside the tile, if complete.
    fn node(&self, r: u8, i: usize) -> Option<Hash> {
        if r >= 1 && r < self.lazy_below {
            let leaves = self.nodes.get(..self.levels[0].1)?;
            return leaves.get(i << r..(i + 1) << r).map(perfect_root);
        }
        let &(start, len) = self.levels.get(usize::from(r))?;
        if i >= len {
            return None;
        }
        self.nodes.get(start + i).copied()
    }
}

/// A bounded least-recently-used cache of [`TileTree`]s by (level, tile index).
pub(crate) struct TileCache {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    clock: u64,
    map: HashMap<(u8, u64), (Arc<TileTree>, u64)>,
    order: BTreeMap<u64, (u8, u64)>,
}

impl TileCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Lru::default()),
        }
    }

    fn get(&self, key: (u8, u64)) -> Option<Arc<TileTree>> {
        let mut lru = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        lru.clock += 1;
        let now = lru.clock;
        let (tree, stamp) = lru.map.get_mut(&key)?;
        let tree = Arc::clone(tree);
        let old = std::mem::replace(stamp, now);
        lru.order.remove(&old);
        lru.order.insert(now, key);
        Some(tree)
    }

    fn insert(&self, key: (u8, u64), tree: Arc<TileTree>) {
        if self.capacity == 0 {
            return;
        }
        let mut lru = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        lru.clock += 1;
        let now = lru.clock;
        if let Some((_, old)) = lru.map.insert(key, (tree, now)) {
            lru.order.remove(&old);
        }
        lru.order.insert(now, key);
        while lru.map.len() > self.capacity {
            let Some((_, victim)) = lru.order.pop_first() else {
                break;
            };
            lru.map.remove(&victim);
        }
    }

    /// Number of trees held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }
}

/// Node hashes of the tree of `size` leaves for a log whose latest size is `latest`, whose
/// right-edge tiles at `latest` are `edges`: full tiles through the cache, partial ones from
/// `edges`.
pub(crate) struct LogReader<'a, S: ?Sized> {
    pub(crate) store: &'a S,
    pub(crate) cache: &'a TileCache,
    pub(crate) latest: u64,
    pub(crate) edges: &'a [(TileId, HashTile)],
    /// Trees of `edges`, built on first use and shared by every reader of one snapshot; `None`
    /// to hash edge nodes on the fly (open, before there is a snapshot).
    pub(crate) edge_trees: Option<&'a OnceLock<Vec<TileTree>>>,
    /// The leaf index, for the stored level-4 nodes of level-0 tiles; `None` during open.
    pub(crate) index: Option<&'a Mutex<LeafIndex>>,
    pub(crate) size: u64,
}

impl<S: TileStore + ?Sized> LogReader<'_, S> {
    /// The tree of the full tile `id` (level, index), from the cache or the store.
    pub(crate) fn full_tree(
        &self,
        level: u8,
        index: u64,
    ) -> Result<Arc<TileTree>, TileReadError<ReadError>> {
        if let Some(t) = self.cache.get((level, index)) {
            return Ok(t);
        }
        let id = TileId {
            level,
            index,
            width: TILE_WIDTH,
        };
        let path = id.path();
        let source = |source| TileReadError::Source { tile: id, source };
        let bytes = self
            .store
            .read(&path)
            .map_err(|e| {
                source(ReadError::Io {
                    path: path.clone(),
                    source: e,
                })
            })?
            .ok_or_else(|| source(ReadError::Missing { path: path.clone() }))?;
        let malformed = |e| {
            source(ReadError::Malformed {
                path: path.clone(),
                source: e,
            })
        };
        let tree = match self.sparse_tree(index, &bytes) {
            Some(tree) => Arc::new(tree),
            None => Arc::new(TileTree::from_bytes(&bytes).map_err(malformed)?),
        };
        if tree.width() != usize::from(TILE_WIDTH) {
            return Err(TileReadError::ShortTile {
                tile: id,
                actual: tree.width() as u16,
            });
        }
        self.cache.insert((level, index), Arc::clone(&tree));
        Ok(tree)
    }
}

impl<S: TileStore + ?Sized> LogReader<'_, S> {
    /// The tree of full level-0 tile `index` from its bytes and the level-4 nodes the index
    /// keeps, if it has them and they hash to the tile's hash in the level-1 tile.
    fn sparse_tree(&self, index: u64, bytes: &[u8]) -> Option<TileTree> {
        let mid = self
            .index?
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tile_nodes(index)?;
        let tree = TileTree::from_bytes_and_nodes(bytes, &mid).ok()?;
        // The tile's root is a node of the tree at the latest size (level 8, `index`).
        let whole = LogReader {
            size: self.latest,
            index: None,
            ..*self
        };
        let expected = whole.read_hashes(&[NodeId::new(8, index)]).ok()?.pop()?;
        (tree.root() == Some(expected)).then_some(tree)
    }

    /// The leaf hash at position `i`: from a cached tree, else straight from the level-0 tile
    /// (without building and caching a tree for one hash), else from the edge tile.
    pub(crate) fn leaf(&self, i: u64) -> Result<Hash, TileReadError<ReadError>> {
        let index = i / WIDTH;
        let at = (i % WIDTH) as usize;
        if (index + 1) * WIDTH <= self.latest {
            if let Some(h) = self.cache.get((0, index)).and_then(|t| t.node(0, at)) {
                return Ok(h);
            }
            let id = TileId {
                level: 0,
                index,
                width: TILE_WIDTH,
            };
            let tile = StoreTiles {
                store: self.store,
                latest: self.latest,
            }
            .read_tile(id)
            .map_err(|source| TileReadError::Source { tile: id, source })?;
            return tile
                .hashes()
                .get(at)
                .copied()
                .ok_or(TileReadError::ShortTile {
                    tile: id,
                    actual: tile.width(),
                });
        }
        self.read_hashes(&[NodeId::new(0, i)])?
            .pop()
            .ok_or(TileReadError::NodeOutsideTree {
                node: NodeId::new(0, i),
                size: self.size,
            })
    }
}

/// Hashes at level `level` of a tree of `size` leaves.
fn hashes_at(level: u8, size: u64) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

impl<S: TileStore + ?Sized> HashReader for LogReader<'_, S> {
    type Error = TileReadError<ReadError>;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        let mut out = Vec::with_capacity(nodes.len());
        // A proof's nodes come tile by tile: look each tile up in the cache once.
        let mut last: Option<((u8, u64), Arc<TileTree>)> = None;
        for &node in nodes {
            let outside = || TileReadError::NodeOutsideTree {
                node,
                size: self.size,
            };
            let end = node
                .index
                .checked_add(1)
                .and_then(|i| i.checked_shl(u32::from(node.level)))
                .filter(|&end| end >> node.level == node.index + 1)
                .ok_or_else(outside)?;
            if end > self.size || self.size > self.latest {
                return Err(outside());
            }
            let level = node.level / TILE_HEIGHT;
            let r = node.level % TILE_HEIGHT;
            let first = node.index << r; // position of its first hash at tile level `level`
            let index = first / WIDTH;
            if (index + 1) * WIDTH <= hashes_at(level, self.latest) {
                // A full tile at the latest size: immutable, cached with its interior nodes.
                let tree = match &last {
                    Some((key, tree)) if *key == (level, index) => Arc::clone(tree),
                    _ => {
                        let tree = self.full_tree(level, index)?;
                        last = Some(((level, index), Arc::clone(&tree)));
                        tree
                    }
                };
                let at = usize::try_from((first % WIDTH) >> r).map_err(|_| outside())?;
                out.push(tree.node(r, at).ok_or_else(outside)?);
            } else {
                // The partial tile at the latest size: the sequencer's edge tile.
                let Some(k) = self
                    .edges
                    .iter()
                    .position(|(id, _)| id.level == level && id.index == index)
                else {
                    return Err(outside());
                };
                if let Some(trees) = self.edge_trees {
                    let trees = trees.get_or_init(|| {
                        self.edges.iter().map(|(_, t)| TileTree::build(t)).collect()
                    });
                    let at = usize::try_from((first % WIDTH) >> r).map_err(|_| outside())?;
                    out.push(
                        trees
                            .get(k)
                            .and_then(|t| t.node(r, at))
                            .ok_or_else(outside)?,
                    );
                    continue;
                }
                let tile = &self.edges[k].1;
                let start = (first % WIDTH) as usize;
                let hashes = tile
                    .hashes()
                    .get(start..start + (1usize << r))
                    .ok_or_else(outside)?;
                out.push(perfect_root(hashes));
            }
        }
        Ok(out)
    }
}

/// The 16 level-4 nodes of a full level-0 tile's leaves, as the index keeps them.
pub(crate) fn tile_nodes(leaves: &[Hash]) -> Option<TileNodes> {
    if leaves.len() != usize::from(TILE_WIDTH) {
        return None;
    }
    let mut out = [Hash::from_bytes([0; 32]); 16];
    for (o, group) in out.iter_mut().zip(leaves.chunks_exact(16)) {
        *o = perfect_root(group);
    }
    Some(out)
}

/// Root of a perfect subtree over a power-of-two number of hashes (at least one).
pub(crate) fn perfect_root(hashes: &[Hash]) -> Hash {
    let mut level = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level
        .first()
        .copied()
        .unwrap_or_else(poex_log::hash::empty_root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poex_log::hash::leaf_hash;

    fn tile(seed: u32) -> HashTile {
        HashTile::new(
            (0..256u32)
                .map(|i| leaf_hash(&(seed * 1000 + i).to_be_bytes()))
                .collect(),
        )
        .expect("256 hashes")
    }

    #[test]
    fn tile_tree_nodes_are_perfect_roots() {
        let t = tile(1);
        let tree = TileTree::build(&t);
        for r in 0..=8u8 {
            for i in 0..(256usize >> r) {
                let want = perfect_root(&t.hashes()[i << r..(i + 1) << r]);
                assert_eq!(tree.node(r, i), Some(want), "level {r} node {i}");
            }
            assert_eq!(tree.node(r, 256 >> r), None);
        }
        // A partial tile: only complete nodes.
        let partial = HashTile::new(t.hashes()[..11].to_vec()).expect("11 hashes");
        let tree = TileTree::build(&partial);
        assert_eq!(tree.node(0, 10), Some(t.hashes()[10]));
        assert_eq!(tree.node(1, 4), Some(perfect_root(&t.hashes()[8..10])));
        assert_eq!(tree.node(1, 5), None);
        assert_eq!(tree.node(3, 0), Some(perfect_root(&t.hashes()[..8])));
        assert_eq!(tree.node(3, 1), None);
        assert_eq!(tree.node(4, 0), None);
    }

    #[test]
    fn a_tree_from_stored_level4_nodes_answers_like_a_full_one() {
        let t = tile(2);
        let full = TileTree::build(&t);
        let mid = tile_nodes(t.hashes()).expect("full tile");
        let sparse = TileTree::from_bytes_and_nodes(&t.to_bytes(), &mid).expect("256 hashes");
        for r in 0..=8u8 {
            for i in 0..=(256usize >> r) {
                assert_eq!(sparse.node(r, i), full.node(r, i), "level {r} node {i}");
            }
        }
        assert_eq!(sparse.root(), Some(perfect_root(t.hashes())));
        // Wrong nodes give a wrong root, which the reader checks against the level-1 tile.
        let mut bad = mid;
        bad[3] = leaf_hash(b"x");
        let tree = TileTree::from_bytes_and_nodes(&t.to_bytes(), &bad).expect("256 hashes");
        assert_ne!(tree.root(), sparse.root());
    }

    #[test]
    fn cache_is_bounded_and_keeps_recently_used() {
        let cache = TileCache::new(3);
        for i in 0..3 {
            cache.insert((0, i), Arc::new(TileTree::build(&tile(i as u32))));
        }
        assert!(cache.get((0, 0)).is_some()); // 0 is now the most recent
        cache.insert((0, 3), Arc::new(TileTree::build(&tile(3))));
        assert_eq!(cache.len(), 3);
        assert!(cache.get((0, 1)).is_none(), "least recently used evicted");
        assert!(cache.get((0, 0)).is_some());
        assert!(cache.get((0, 3)).is_some());
        let none = TileCache::new(0);
        none.insert((0, 0), Arc::new(TileTree::build(&tile(0))));
        assert_eq!(none.len(), 0);
    }
}
