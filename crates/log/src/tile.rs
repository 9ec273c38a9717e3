//! C2SP tiled logs (`c2sp.org/tlog-tiles`): tile and entry-bundle paths, their encodings, which
//! tiles exist for a tree size, integrating new leaves into tiles, and reading proofs from tiles.
//!
//! The tree is cut into tiles of height 8: the level-`L` tile number `N` holds up to 256
//! consecutive hashes of tree level `8·L`, starting at hash `256·N`, so it covers leaves
//! `[N·256^(L+1), (N+1)·256^(L+1))`. A tile with fewer than 256 hashes is *partial*, of width `W`;
//! partial tiles are never hashed into the level above. Entry bundles hold the entries themselves,
//! 256 per full bundle, each as a big-endian `u16` length and the bytes.
//!
//! ```text
//! tile/<L>/<N>[.p/<W>]         hash tile: W·32 bytes of concatenated hashes
//! tile/entries/<N>[.p/<W>]     entry bundle
//! N = 1234067  ->  x001/x234/067
//! ```
//!
//! This module does no I/O. [`integrate`] takes the tiles it needs through a [`TileSource`] and
//! returns the tiles and bundles to write; the caller persists them (then the checkpoint).

use std::collections::BTreeMap;
use std::fmt;

use crate::hash::{HASH_SIZE, Hash, empty_root, leaf_hash, node_hash};
use crate::proof::{self, HashReader, NodeId};

/// Tree levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u16 = 256;
/// Highest tile level a path may name.
pub const MAX_LEVEL: u8 = 63;
/// Largest entry an entry bundle can hold (its length is a `u16`).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

const WIDTH: u64 = TILE_WIDTH as u64;

/// Encodes a tile or bundle number as path elements: 3-digit groups, all but the last prefixed
/// with `x` (`1234067` → `x001/x234/067`).
pub fn encode_index(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Parses the path elements of a tile or bundle number; only the canonical form is accepted.
pub fn parse_index(path: &str) -> Result<u64, TilePathError> {
    let bad = || TilePathError::Index(path.to_owned());
    let groups: Vec<&str> = path.split('/').collect();
    let (last, init) = groups.split_last().ok_or_else(bad)?;
    let mut n: u64 = 0;
    for (i, group) in init.iter().enumerate() {
        let digits = group.strip_prefix('x').ok_or_else(bad)?;
        let value = three_digits(digits).ok_or_else(bad)?;
        // x000 as the first group would be a second spelling of a smaller number.
        if i == 0 && value == 0 {
            return Err(bad());
        }
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or_else(bad)?;
    }
    let value = three_digits(last).ok_or_else(bad)?;
    n.checked_mul(1000)
        .and_then(|n| n.checked_add(value))
        .ok_or_else(bad)
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A hash tile: level, number and width (1..=256; 256 is a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    /// Tile level (tree level `8·level`).
    pub level: u8,
    /// Tile number within its level.
    pub index: u64,
    /// Number of hashes, 1..=256.
    pub width: u16,
}

impl TileId {
    /// Whether this is a full tile (256 hashes).
    pub const fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The tile's path: `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>`.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}{}",
            self.level,
            encode_index(self.index),
            partial_suffix(self.width)
        )
    }

    /// Parses a hash tile path (not an entry bundle path).
    pub fn parse_path(path: &str) -> Result<Self, TilePathError> {
        let rest = path.strip_prefix("tile/").ok_or(TilePathError::Prefix)?;
        let (level, rest) = rest.split_once('/').ok_or(TilePathError::Prefix)?;
        let level = parse_level(level)?;
        let (index, width) = parse_index_and_width(rest)?;
        Ok(Self {
            level,
            index,
            width,
        })
    }

    /// The stored tiles that can serve this one, in the order to try them: its own path, then,
    /// for a partial tile (a tree size that may never have been checkpointed, so no file of its
    /// own), the full tile and the tile at size `latest` when they are wider. A wider tile
    /// extends a narrower one, and [`TileSource`] allows wider tiles.
    pub fn serving_tiles(self, latest: u64) -> impl Iterator<Item = TileId> {
        let wider = (!self.is_full()).then(|| {
            let full = Self {
                width: TILE_WIDTH,
                ..self
            };
            let at_latest = Self::at_size(self.level, self.index, latest).filter(|t| !t.is_full());
            [Some(full), at_latest]
                .into_iter()
                .flatten()
                .filter(move |t| t.width > self.width)
        });
        std::iter::once(self).chain(wider.into_iter().flatten())
    }

    /// The tile of `level` and `index` as it is in a tree of `size` leaves, or `None` if the tree
    /// has no hash in it yet.
    pub fn at_size(level: u8, index: u64, size: u64) -> Option<Self> {
        let hashes = hashes_at_level(level, size);
        let start = index.checked_mul(WIDTH)?;
        let width = hashes.checked_sub(start)?.min(WIDTH);
        (width > 0).then_some(Self {
            level,
            index,
            width: width as u16,
        })
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// An entry bundle: number and width (1..=256; 256 is a full bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleId {
    /// Bundle number: it holds entries `[256·index, 256·index + width)`.
    pub index: u64,
    /// Number of entries, 1..=256.
    pub width: u16,
}

impl BundleId {
    /// Whether this is a full bundle (256 entries).
    pub const fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The bundle's path: `tile/entries/<N>` or `tile/entries/<N>.p/<W>`.
    pub fn path(&self) -> String {
        format!(
            "tile/entries/{}{}",
            encode_index(self.index),
            partial_suffix(self.width)
        )
    }

    /// Parses an entry bundle path.
    pub fn parse_path(path: &str) -> Result<Self, TilePathError> {
        let rest = path
            .strip_prefix("tile/entries/")
            .ok_or(TilePathError::Prefix)?;
        let (index, width) = parse_index_and_width(rest)?;
        Ok(Self { index, width })
    }

    /// The bundle holding entry `entry` as it is in a tree of `size` leaves, if the tree has it.
    pub fn for_entry(entry: u64, size: u64) -> Option<Self> {
        if entry >= size {
            return None;
        }
        let index = entry / WIDTH;
        let width = (size - index * WIDTH).min(WIDTH) as u16;
        Some(Self { index, width })
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn partial_suffix(width: u16) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

fn parse_level(s: &str) -> Result<u8, TilePathError> {
    let bad = || TilePathError::Level(s.to_owned());
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(bad());
    }
    let level: u8 = s.parse().map_err(|_| bad())?;
    if level > MAX_LEVEL {
        return Err(bad());
    }
    Ok(level)
}

fn parse_index_and_width(s: &str) -> Result<(u64, u16), TilePathError> {
    let Some((index, width)) = s.split_once(".p/") else {
        return Ok((parse_index(s)?, TILE_WIDTH));
    };
    let bad = || TilePathError::Width(width.to_owned());
    if width.is_empty() || !width.bytes().all(|b| b.is_ascii_digit()) || width.starts_with('0') {
        return Err(bad());
    }
    let w: u16 = width.parse().map_err(|_| bad())?;
    if !(1..TILE_WIDTH).contains(&w) {
        return Err(bad());
    }
    Ok((parse_index(index)?, w))
}

/// A tile or bundle path is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TilePathError {
    /// Does not start with `tile/<L>/` or `tile/entries/`.
    #[error("tile path must start with tile/<level>/ or tile/entries/")]
    Prefix,
    /// The level is not 0..=63 in canonical decimal.
    #[error("tile level {0:?} is not 0..=63 without leading zeros")]
    Level(String),
    /// The number is not canonical `x001/x234/067` form.
    #[error("tile number {0:?} is not of the form x001/x234/067")]
    Index(String),
    /// The partial width is not 1..=255 in canonical decimal.
    #[error("partial tile width {0:?} is not 1..=255 without leading zeros")]
    Width(String),
}

/// Number of hashes a tree of `size` leaves has at tree level `8·level`.
fn hashes_at_level(level: u8, size: u64) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// Every hash tile of a tree of `size` leaves, level by level, full tiles then the partial one.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    let mut tiles = Vec::new();
    for level in 0..=MAX_LEVEL {
        let hashes = hashes_at_level(level, size);
        if hashes == 0 {
            break;
        }
        tiles.extend((0..hashes / WIDTH).map(|index| TileId {
            level,
            index,
            width: TILE_WIDTH,
        }));
        tiles.extend(edge_tile(level, size));
    }
    tiles
}

/// Every entry bundle of a tree of `size` leaves, full bundles then the partial one.
pub fn bundles_for_size(size: u64) -> Vec<BundleId> {
    let mut bundles: Vec<BundleId> = (0..size / WIDTH)
        .map(|index| BundleId {
            index,
            width: TILE_WIDTH,
        })
        .collect();
    bundles.extend(edge_bundle(size));
    bundles
}

/// The partial tiles of a tree of `size` leaves, one per level that has one, lowest level first.
///
/// These are the only tiles [`integrate`] reads: full tiles never change.
pub fn edge_tiles(size: u64) -> Vec<TileId> {
    (0..=MAX_LEVEL)
        .take_while(|&level| hashes_at_level(level, size) > 0)
        .filter_map(|level| edge_tile(level, size))
        .collect()
}

fn edge_tile(level: u8, size: u64) -> Option<TileId> {
    let hashes = hashes_at_level(level, size);
    let width = hashes % WIDTH;
    (width > 0).then_some(TileId {
        level,
        index: hashes / WIDTH,
        width: width as u16,
    })
}

/// The partial entry bundle of a tree of `size` leaves, if it has one.
pub fn edge_bundle(size: u64) -> Option<BundleId> {
    let width = size % WIDTH;
    (width > 0).then_some(BundleId {
        index: size / WIDTH,
        width: width as u16,
    })
}

/// The hashes of one tile, 1 to 256 of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashTile(Vec<Hash>);

impl HashTile {
    /// A tile of these hashes.
    pub fn new(hashes: Vec<Hash>) -> Result<Self, TileDataError> {
        if hashes.is_empty() || hashes.len() > usize::from(TILE_WIDTH) {
            return Err(TileDataError::Width {
                hashes: hashes.len(),
            });
        }
        Ok(Self(hashes))
    }

    /// Parses a stored tile: concatenated 32-byte hashes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TileDataError> {
        if !bytes.len().is_multiple_of(HASH_SIZE) {
            return Err(TileDataError::Length { bytes: bytes.len() });
        }
        let hashes = bytes
            .chunks_exact(HASH_SIZE)
            .map(|chunk| {
                let array: [u8; HASH_SIZE] = chunk
                    .try_into()
                    .expect("chunks_exact(HASH_SIZE) yields HASH_SIZE-byte chunks");
                Hash::from_bytes(array)
            })
            .collect();
        Self::new(hashes)
    }

    /// The stored form: concatenated hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|h| h.to_bytes()).collect()
    }

    /// The hashes.
    pub fn hashes(&self) -> &[Hash] {
        &self.0
    }

    /// Number of hashes, 1..=256.
    pub fn width(&self) -> u16 {
        // new() keeps the length within 1..=256.
        self.0.len() as u16
    }
}

/// Stored tile bytes are not a tile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileDataError {
    /// The byte length is not a multiple of 32.
    #[error("tile is {bytes} bytes, not a multiple of {HASH_SIZE}")]
    Length {
        /// The length.
        bytes: usize,
    },
    /// Not 1..=256 hashes.
    #[error("tile has {hashes} hashes, want 1..=256")]
    Width {
        /// Number of hashes.
        hashes: usize,
    },
}

/// The entries of one bundle, 1 to 256 of them, each at most [`MAX_ENTRY_SIZE`] bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryBundle(Vec<Vec<u8>>);

impl EntryBundle {
    /// An empty bundle, to [`push`](Self::push) entries into.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: Vec<u8>) -> Result<(), BundleError> {
        if entry.len() > MAX_ENTRY_SIZE {
            return Err(BundleError::EntryTooLarge {
                entry: self.0.len(),
                size: entry.len(),
            });
        }
        if self.0.len() == usize::from(TILE_WIDTH) {
            return Err(BundleError::Full);
        }
        self.0.push(entry);
        Ok(())
    }

    /// The entries.
    pub fn entries(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// Number of entries.
    pub fn width(&self) -> u16 {
        // push() keeps the length within 0..=256.
        self.0.len() as u16
    }

    /// The stored form: each entry as a big-endian `u16` length and its bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.iter().map(|e| 2 + e.len()).sum());
        for entry in &self.0 {
            // push() refuses entries longer than u16::MAX.
            out.extend_from_slice(&(entry.len() as u16).to_be_bytes());
            out.extend_from_slice(entry);
        }
        out
    }

    /// Parses a stored bundle.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        let mut bundle = Self::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let offset = bytes.len() - rest.len();
            let [hi, lo, tail @ ..] = rest else {
                return Err(BundleError::Truncated {
                    entry: bundle.0.len(),
                    offset,
                });
            };
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            if tail.len() < len {
                return Err(BundleError::Truncated {
                    entry: bundle.0.len(),
                    offset,
                });
            }
            bundle.push(tail[..len].to_vec())?;
            rest = &tail[len..];
        }
        Ok(bundle)
    }
}

/// An entry bundle cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// An entry is larger than the format allows; log its digest and keep it elsewhere.
    #[error("entry {entry} of the bundle is {size} bytes, more than {MAX_ENTRY_SIZE}")]
    EntryTooLarge {
        /// Position of the entry in the bundle (or in the batch, for [`integrate`]).
        entry: usize,
        /// Its size.
        size: usize,
    },
    /// The bundle already holds 256 entries.
    #[error("bundle already holds {TILE_WIDTH} entries")]
    Full,
    /// The bytes end inside an entry.
    #[error("bundle truncated in entry {entry} at byte {offset}")]
    Truncated {
        /// Position of the entry in the bundle.
        entry: usize,
        /// Byte offset of its length prefix.
        offset: usize,
    },
}

/// A source of stored hash tiles: a directory, an HTTP server, a map in memory.
///
/// # Implementation notes
///
/// `read_tile(id)` returns the tile with at least `id.width` hashes. A source may return a wider
/// tile than asked for (the log has grown since); only the first `id.width` hashes are used.
/// Tiles from an untrusted source are not authenticated here: proofs built from them are checked
/// against a signed checkpoint by whoever verifies them.
pub trait TileSource {
    /// Why a tile could not be read.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads a hash tile.
    fn read_tile(&self, id: TileId) -> Result<HashTile, Self::Error>;
}

impl<S: TileSource + ?Sized> TileSource for &S {
    type Error = S::Error;

    fn read_tile(&self, id: TileId) -> Result<HashTile, Self::Error> {
        (**self).read_tile(id)
    }
}

/// Reading a node hash from tiles failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TileReadError<E> {
    /// The tile source failed.
    #[error("reading {tile}: {source}")]
    Source {
        /// The tile asked for.
        tile: TileId,
        /// Why it failed.
        #[source]
        source: E,
    },
    /// The source returned a narrower tile than asked for.
    #[error("{tile} came back with {actual} hashes")]
    ShortTile {
        /// The tile asked for.
        tile: TileId,
        /// Hashes it had.
        actual: u16,
    },
    /// The node is not a complete subtree of the tree being read.
    #[error("{node} is not a complete subtree of the tree of size {size}")]
    NodeOutsideTree {
        /// The node.
        node: NodeId,
        /// The tree size.
        size: u64,
    },
}

/// A [`HashReader`] over the tiles of a tree of a given size, so proofs can be made from tiles.
///
/// A node at tree level `8·L + r` is read from the level-`L` tile: stored directly when `r = 0`,
/// otherwise hashed from the `2^r` stored hashes below it. Each tile is read once per batch.
#[derive(Debug, Clone)]
pub struct TileHashReader<S> {
    size: u64,
    source: S,
}

impl<S: TileSource> TileHashReader<S> {
    /// A reader of the tree of `size` leaves stored in `source`.
    pub fn new(size: u64, source: S) -> Self {
        Self { size, source }
    }

    /// The tree size this reader reads.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl<S: TileSource> HashReader for TileHashReader<S> {
    type Error = TileReadError<S::Error>;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        let mut cache: BTreeMap<(u8, u64), HashTile> = BTreeMap::new();
        let mut out = Vec::with_capacity(nodes.len());
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
            if end > self.size {
                return Err(outside());
            }
            let level = node.level / TILE_HEIGHT;
            let below = node.level % TILE_HEIGHT;
            let first = node.index << below;
            let count = 1usize << below;
            let index = first / WIDTH;
            let tile = match cache.entry((level, index)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let id = TileId::at_size(level, index, self.size).ok_or_else(outside)?;
                    let tile = self
                        .source
                        .read_tile(id)
                        .map_err(|source| TileReadError::Source { tile: id, source })?;
                    if tile.width() < id.width {
                        return Err(TileReadError::ShortTile {
                            tile: id,
                            actual: tile.width(),
                        });
                    }
                    e.insert(tile)
                }
            };
            let start = (first % WIDTH) as usize;
            let hashes = tile
                .hashes()
                .get(start..start + count)
                .ok_or_else(outside)?;
            out.push(perfect_root(hashes));
        }
        Ok(out)
    }
}

/// Root of a perfect subtree over `hashes` (a power-of-two count, at least 1: callers pass a
/// full tile or a `2^r` slice of one).
fn perfect_root(hashes: &[Hash]) -> Hash {
    let mut level = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two hashes"),
            })
            .collect();
    }
    level[0]
}

/// What [`integrate`] produces: everything to persist for the new tree size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// The new tree size.
    pub size: u64,
    /// The new tree root.
    pub root: Hash,
    /// New or grown hash tiles, lowest level first. Partial tiles replace narrower ones.
    pub tiles: Vec<(TileId, HashTile)>,
    /// New or grown entry bundles, in order (empty from [`integrate_hashes`]).
    pub bundles: Vec<(BundleId, EntryBundle)>,
}

/// Integration could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrateError<E> {
    /// An edge tile of the old tree could not be read.
    #[error(transparent)]
    Read(#[from] TileReadError<E>),
    /// The new size would overflow a `u64`.
    #[error("tree size {size} + {added} overflows")]
    SizeOverflow {
        /// Old size.
        size: u64,
        /// Leaves added.
        added: usize,
    },
    /// An entry does not fit an entry bundle.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The partial bundle of the old tree is missing or has the wrong width.
    #[error("old tree of size {size} needs its partial bundle of {want} entries, got {got}")]
    EdgeBundle {
        /// Old size.
        size: u64,
        /// Entries the partial bundle must have.
        want: u16,
        /// Entries given.
        got: u16,
    },
}

/// Appends leaf hashes to the tree of `old_size` leaves stored in `source`.
///
/// Reads only [`edge_tiles(old_size)`](edge_tiles); returns every tile that is new or grew, and
/// the new root. Nothing is written: the caller persists the tiles, then signs and publishes a
/// checkpoint of the new size and root.
pub fn integrate_hashes<S: TileSource>(
    old_size: u64,
    source: &S,
    leaves: &[Hash],
) -> Result<Integration, IntegrateError<S::Error>> {
    let (new_size, tiles) = grow_tiles(old_size, source, leaves)?;
    let overlay = Overlay {
        new: tiles
            .iter()
            .map(|(id, t)| ((id.level, id.index), t))
            .collect(),
        old: source,
    };
    let nodes = proof::range_nodes(0, new_size);
    let hashes = TileHashReader::new(new_size, &overlay)
        .read_hashes(&nodes)
        .map_err(flatten_overlay)?;
    let root = proof::fold_range(&hashes).unwrap_or_else(empty_root);
    Ok(Integration {
        size: new_size,
        root,
        tiles,
        bundles: Vec::new(),
    })
}

/// New or grown tiles, lowest level first.
type GrownTiles = Vec<(TileId, HashTile)>;

/// The new size and the grown tiles of [`integrate_hashes`], without the root.
fn grow_tiles<S: TileSource>(
    old_size: u64,
    source: &S,
    leaves: &[Hash],
) -> Result<(u64, GrownTiles), IntegrateError<S::Error>> {
    let new_size = u64::try_from(leaves.len())
        .ok()
        .and_then(|n| old_size.checked_add(n))
        .ok_or(IntegrateError::SizeOverflow {
            size: old_size,
            added: leaves.len(),
        })?;
    let mut tiles = Vec::new();
    let mut new_hashes = leaves.to_vec();
    let mut level = 0u8;
    while !new_hashes.is_empty() {
        let old_hashes = hashes_at_level(level, old_size);
        let first_index = old_hashes / WIDTH;
        let mut row = match edge_tile(level, old_size) {
            Some(id) => {
                let tile = source
                    .read_tile(id)
                    .map_err(|source| TileReadError::Source { tile: id, source })?;
                let old =
                    tile.hashes()
                        .get(..usize::from(id.width))
                        .ok_or(TileReadError::ShortTile {
                            tile: id,
                            actual: tile.width(),
                        })?;
                old.to_vec()
            }
            None => Vec::new(),
        };
        row.extend_from_slice(&new_hashes);
        new_hashes.clear();
        for (i, chunk) in row.chunks(usize::from(TILE_WIDTH)).enumerate() {
            if chunk.len() == usize::from(TILE_WIDTH) {
                new_hashes.push(perfect_root(chunk));
            }
            let id = TileId {
                level,
                index: first_index + i as u64,
                width: chunk.len() as u16,
            };
            tiles.push((id, HashTile(chunk.to_vec())));
        }
        level += 1;
    }
    Ok((new_size, tiles))
}

/// Appends entries to the tree of `old_size` leaves: leaf hashes are `SHA-256(0x00 || entry)`.
///
/// `edge_bundle` is the partial entry bundle of the old tree ([`edge_bundle(old_size)`](edge_bundle)), `None`
/// when the old size is a multiple of 256. Returns the grown tiles and bundles and the new root.
pub fn integrate<S: TileSource, E: AsRef<[u8]>>(
    old_size: u64,
    source: &S,
    edge: Option<&EntryBundle>,
    entries: &[E],
) -> Result<Integration, IntegrateError<S::Error>> {
    check_entries(old_size, edge, entries)?;
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e.as_ref())).collect();
    let mut out = integrate_hashes(old_size, source, &leaves)?;
    out.bundles = grow_bundles(old_size, edge, entries)?;
    Ok(out)
}

/// [`integrate`] for a caller that tracks the tree's right edge itself and so knows the new
/// root (from `leaves`, the entries' leaf hashes, which it has computed anyway): the same tiles
/// and bundles, without re-hashing the edge tiles for the root. `root` must be the root of the
/// tree grown by `entries`; it is returned as given.
pub fn integrate_with_root<S: TileSource, E: AsRef<[u8]>>(
    old_size: u64,
    source: &S,
    edge: Option<&EntryBundle>,
    entries: &[E],
    leaves: &[Hash],
    root: Hash,
) -> Result<Integration, IntegrateError<S::Error>> {
    check_entries(old_size, edge, entries)?;
    let (size, tiles) = grow_tiles(old_size, source, leaves)?;
    Ok(Integration {
        size,
        root,
        tiles,
        bundles: grow_bundles(old_size, edge, entries)?,
    })
}

fn check_entries<E: AsRef<[u8]>, X>(
    old_size: u64,
    edge: Option<&EntryBundle>,
    entries: &[E],
) -> Result<(), IntegrateError<X>> {
    let want = edge_bundle(old_size).map_or(0, |b| b.width);
    let got = edge.map_or(0, EntryBundle::width);
    if want != got {
        return Err(IntegrateError::EdgeBundle {
            size: old_size,
            want,
            got,
        });
    }
    if let Some((i, e)) = entries
        .iter()
        .enumerate()
        .find(|(_, e)| e.as_ref().len() > MAX_ENTRY_SIZE)
    {
        return Err(IntegrateError::Bundle(BundleError::EntryTooLarge {
            entry: i,
            size: e.as_ref().len(),
        }));
    }
    Ok(())
}

fn grow_bundles<E: AsRef<[u8]>>(
    old_size: u64,
    edge: Option<&EntryBundle>,
    entries: &[E],
) -> Result<Vec<(BundleId, EntryBundle)>, BundleError> {
    let mut out = Vec::new();
    let mut index = old_size / WIDTH;
    let mut bundle = edge.cloned().unwrap_or_default();
    for entry in entries {
        bundle.push(entry.as_ref().to_vec())?;
        if bundle.width() == TILE_WIDTH {
            let full = std::mem::take(&mut bundle);
            out.push((
                BundleId {
                    index,
                    width: TILE_WIDTH,
                },
                full,
            ));
            index += 1;
        }
    }
    if bundle.width() > 0 && !entries.is_empty() {
        out.push((
            BundleId {
                index,
                width: bundle.width(),
            },
            bundle,
        ));
    }
    Ok(out)
}

/// New tiles over a source, for computing the root before anything is persisted.
struct Overlay<'a, S> {
    new: BTreeMap<(u8, u64), &'a HashTile>,
    old: &'a S,
}

impl<S: TileSource> TileSource for Overlay<'_, S> {
    type Error = TileReadError<S::Error>;

    fn read_tile(&self, id: TileId) -> Result<HashTile, Self::Error> {
        match self.new.get(&(id.level, id.index)) {
            Some(tile) => Ok((*tile).clone()),
            None => self
                .old
                .read_tile(id)
                .map_err(|source| TileReadError::Source { tile: id, source }),
        }
    }
}

fn flatten_overlay<E>(e: TileReadError<TileReadError<E>>) -> TileReadError<E> {
    match e {
        TileReadError::Source { source, .. } => source,
        TileReadError::ShortTile { tile, actual } => TileReadError::ShortTile { tile, actual },
        TileReadError::NodeOutsideTree { node, size } => {
            TileReadError::NodeOutsideTree { node, size }
        }
    }
}

/// Tiles and bundles in memory: a reference store for tests and small tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryTiles {
    /// Latest (widest) version of each tile, by (level, number).
    tiles: BTreeMap<(u8, u64), HashTile>,
    /// Latest (widest) version of each bundle, by number.
    bundles: BTreeMap<u64, EntryBundle>,
}

/// A [`MemoryTiles`] does not have a tile at the width asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{tile} not stored (widest stored: {stored:?})")]
pub struct MissingTile {
    /// The tile asked for.
    pub tile: TileId,
    /// Width of the stored version, if any.
    pub stored: Option<u16>,
}

impl MemoryTiles {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the tiles and bundles of an integration, replacing narrower versions.
    pub fn apply(&mut self, integration: &Integration) {
        for (id, tile) in &integration.tiles {
            self.put_tile(*id, tile.clone());
        }
        for (id, bundle) in &integration.bundles {
            self.bundles.insert(id.index, bundle.clone());
        }
    }

    /// Stores one tile, replacing a narrower version.
    pub fn put_tile(&mut self, id: TileId, tile: HashTile) {
        let key = (id.level, id.index);
        if self
            .tiles
            .get(&key)
            .is_none_or(|old| old.width() <= tile.width())
        {
            self.tiles.insert(key, tile);
        }
    }

    /// The stored bundle `index`, at whatever width it was last stored.
    pub fn bundle(&self, index: u64) -> Option<&EntryBundle> {
        self.bundles.get(&index)
    }

    /// The stored tile of this level and number, at whatever width it was last stored.
    pub fn tile(&self, level: u8, index: u64) -> Option<&HashTile> {
        self.tiles.get(&(level, index))
    }
}

impl TileSource for MemoryTiles {
    type Error = MissingTile;

    fn read_tile(&self, id: TileId) -> Result<HashTile, MissingTile> {
        let stored = self.tiles.get(&(id.level, id.index));
        match stored {
            Some(tile) if tile.width() >= id.width => Ok(tile.clone()),
            _ => Err(MissingTile {
                tile: id,
                stored: stored.map(HashTile::width),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_tiles_try_the_exact_path_then_wider_tiles() {
        let t = |width| TileId {
            level: 0,
            index: 1,
            width,
        };
        let paths = |id: TileId, latest| id.serving_tiles(latest).collect::<Vec<_>>();
        // A full tile is only itself.
        assert_eq!(paths(t(256), 1000), [t(256)]);
        // A partial tile: itself, the full tile, the tile at the latest size if wider.
        assert_eq!(paths(t(5), 256 + 9), [t(5), t(256), t(9)]);
        // The latest size's tile is not wider: not offered.
        assert_eq!(paths(t(9), 256 + 9), [t(9), t(256)]);
        // The latest size is past this tile: its tile there is the full one, offered once.
        assert_eq!(paths(t(5), 2000), [t(5), t(256)]);
    }

    #[test]
    fn index_paths_round_trip_and_refuse_non_canonical() {
        for n in [0, 7, 999, 1000, 1_234_067, 1_000_000, u64::MAX] {
            assert_eq!(parse_index(&encode_index(n)), Ok(n), "{n}");
        }
        for bad in [
            "",
            "1",
            "0001",
            "x000/001",
            "001/002",
            "x1/000",
            "x001",
            "x001/",
            "/001",
            "x018/x446/x744/x073/x709/x551/616",
        ] {
            assert!(parse_index(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tile_paths_round_trip() {
        for path in [
            "tile/0/000",
            "tile/0/x001/x234/067.p/8",
            "tile/63/001.p/255",
        ] {
            assert_eq!(TileId::parse_path(path).unwrap().path(), path);
        }
        for path in ["tile/entries/000", "tile/entries/x001/000.p/1"] {
            assert_eq!(BundleId::parse_path(path).unwrap().path(), path);
        }
        for bad in [
            "tile/64/000",
            "tile/01/000",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/000.p/01",
            "tile/0/000.p/",
            "tiles/0/000",
            "tile/entries/000",
        ] {
            assert!(TileId::parse_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bundles_refuse_big_entries_and_truncation() {
        let mut bundle = EntryBundle::new();
        assert_eq!(
            bundle.push(vec![0; MAX_ENTRY_SIZE + 1]),
            Err(BundleError::EntryTooLarge {
                entry: 0,
                size: MAX_ENTRY_SIZE + 1
            })
        );
        bundle.push(vec![1; MAX_ENTRY_SIZE]).unwrap();
        bundle.push(Vec::new()).unwrap();
        let bytes = bundle.encode();
        assert_eq!(EntryBundle::decode(&bytes), Ok(bundle));
        assert_eq!(
            EntryBundle::decode(&bytes[..bytes.len() - 1]),
            Err(BundleError::Truncated {
                entry: 1,
                offset: 2 + MAX_ENTRY_SIZE
            })
        );
        assert_eq!(
            EntryBundle::decode(&[0, 2, 1]),
            Err(BundleError::Truncated {
                entry: 0,
                offset: 0
            })
        );
    }
}
