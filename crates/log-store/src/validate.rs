//! The audit: walk a stored log, recompute every tile from the entry bundles, check the kept
//! checkpoints, and say precisely what differs, as [`Finding`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;

use super::cache::perfect_root;
use super::frontier::Frontier;
use super::history::{HISTORY_DIR, open_kept, parse_history_path};
use super::store::{CHECKPOINT_PATH, TileStore};
use super::{StoreTiles, first_entry_of_tile};
use poex_log::checkpoint::Checkpoint;
use poex_log::hash::{Hash, leaf_hash};
use poex_log::note::{Note, Verifier};
use poex_log::proof::range_nodes;
use poex_log::tile::{
    BundleId, EntryBundle, HashTile, TILE_HEIGHT, TILE_WIDTH, TileId, edge_bundle, integrate,
    tiles_for_size,
};

const WIDTH: u64 = TILE_WIDTH as u64;

/// One thing [`validate`] found wrong (or, for [`Finding::Unsequenced`], worth knowing).
///
/// Entry indexes are positions in the log; paths are store paths. `kind()`, `path()`,
/// `index()` and `count()` give every variant's common fields, for printing and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// The checkpoint is missing, unreadable or does not verify with the key.
    CheckpointInvalid {
        /// `checkpoint`.
        path: String,
        /// Why.
        reason: String,
    },
    /// The tree recomputed from the stored data does not have the checkpoint's root, and the
    /// damage could not be pinned to particular files (for example a bundle and its tile both
    /// changed).
    RootMismatch {
        /// The checkpoint's root.
        expected: Hash,
        /// The root recomputed from the data.
        computed: Hash,
    },
    /// A stored entry whose leaf hash is not the leaf the tree commits to at its position.
    EntryModified {
        /// The entry's position.
        index: u64,
        /// The bundle holding it.
        path: String,
    },
    /// Committed entries absent from the store: their bundle is missing, or lacks them.
    EntriesDeleted {
        /// First missing position.
        first: u64,
        /// How many consecutive positions.
        count: u64,
        /// The bundle that should hold them.
        path: String,
    },
    /// Entries in a bundle that the tree does not commit to, stored where committed entry
    /// `index` should come.
    EntriesInserted {
        /// The committed position they were inserted before.
        index: u64,
        /// How many.
        count: u64,
        /// The bundle.
        path: String,
    },
    /// Committed entries stored `by` places away from their position (after an insertion,
    /// `by > 0`, or a deletion, `by < 0`, earlier in the file or in an earlier bundle).
    EntriesShifted {
        /// Position (committed) of the first shifted entry.
        first: u64,
        /// How many consecutive entries.
        count: u64,
        /// Stored position minus committed position.
        by: i64,
        /// The bundle.
        path: String,
    },
    /// A bundle that does not decode as an entry bundle.
    BundleMalformed {
        /// First position it covers.
        first: u64,
        /// The bundle.
        path: String,
        /// Why.
        reason: String,
    },
    /// A tile whose bytes differ from the ones recomputed from the entries.
    TileModified {
        /// Tile level.
        level: u8,
        /// First entry position it covers.
        first: u64,
        /// The tile.
        path: String,
    },
    /// A tile the tree needs that is not stored.
    TileMissing {
        /// Tile level.
        level: u8,
        /// First entry position it covers.
        first: u64,
        /// The tile.
        path: String,
    },
    /// A kept checkpoint ([`super::history`]) that cannot be read, does not verify, or is
    /// filed under the wrong block.
    HistoryInvalid {
        /// Its path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A kept checkpoint whose root is not the root of the stored entries at its size: the log
    /// was changed after it was signed (or the kept checkpoint is from a fork).
    HistoryRootMismatch {
        /// Its path.
        path: String,
        /// Its size.
        size: u64,
    },
    /// A kept checkpoint larger than the current checkpoint: the log shrank.
    HistoryAhead {
        /// Its path.
        path: String,
        /// Its size.
        size: u64,
    },
    /// Two successive kept checkpoints (or the last kept one and the current checkpoint) that
    /// are not consistent with each other through the stored data: one is the data's tree at
    /// its size and the other is not, or they differ at the same size.
    HistoryInconsistent {
        /// The later one (`checkpoint` for the current checkpoint).
        path: String,
        /// Its size.
        size: u64,
        /// The earlier one.
        previous: String,
        /// Its size.
        previous_size: u64,
    },
    /// A file that is not part of the tree, not an older partial tile or bundle, not history
    /// and not part of a batch written beyond the checkpoint.
    ExtraFile {
        /// Its path.
        path: String,
    },
    /// Files of a batch written beyond the checkpoint but not checkpointed (a crash between
    /// the writes and the checkpoint, or an append in progress). Not a problem: open rolls
    /// them forward.
    Unsequenced {
        /// The first file.
        path: String,
        /// First position beyond the checkpoint.
        first: u64,
        /// Entries in the batch's bundles beyond the checkpoint.
        count: u64,
    },
    /// A file could not be read (I/O error), or the store could not be listed.
    Unreadable {
        /// The path.
        path: String,
        /// The error.
        reason: String,
    },
}

impl Finding {
    /// A short snake_case name of the variant (stable, for JSON).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CheckpointInvalid { .. } => "checkpoint_invalid",
            Self::RootMismatch { .. } => "root_mismatch",
            Self::EntryModified { .. } => "entry_modified",
            Self::EntriesDeleted { .. } => "entries_deleted",
            Self::EntriesInserted { .. } => "entries_inserted",
            Self::EntriesShifted { .. } => "entries_shifted",
            Self::BundleMalformed { .. } => "bundle_malformed",
            Self::TileModified { .. } => "tile_modified",
            Self::TileMissing { .. } => "tile_missing",
            Self::HistoryInvalid { .. } => "history_invalid",
            Self::HistoryRootMismatch { .. } => "history_root_mismatch",
            Self::HistoryAhead { .. } => "history_ahead",
            Self::HistoryInconsistent { .. } => "history_inconsistent",
            Self::ExtraFile { .. } => "extra_file",
            Self::Unsequenced { .. } => "unsequenced",
            Self::Unreadable { .. } => "unreadable",
        }
    }

    /// The store path the finding is about (`""` for [`Finding::RootMismatch`]).
    pub fn path(&self) -> &str {
        match self {
            Self::RootMismatch { .. } => "",
            Self::CheckpointInvalid { path, .. }
            | Self::EntryModified { path, .. }
            | Self::EntriesDeleted { path, .. }
            | Self::EntriesInserted { path, .. }
            | Self::EntriesShifted { path, .. }
            | Self::BundleMalformed { path, .. }
            | Self::TileModified { path, .. }
            | Self::TileMissing { path, .. }
            | Self::HistoryInvalid { path, .. }
            | Self::HistoryRootMismatch { path, .. }
            | Self::HistoryAhead { path, .. }
            | Self::HistoryInconsistent { path, .. }
            | Self::ExtraFile { path }
            | Self::Unsequenced { path, .. }
            | Self::Unreadable { path, .. } => path,
        }
    }

    /// The first entry position concerned, when there is one (for a checkpoint: its size).
    pub fn index(&self) -> Option<u64> {
        match self {
            Self::EntryModified { index, .. } | Self::EntriesInserted { index, .. } => Some(*index),
            Self::EntriesDeleted { first, .. }
            | Self::EntriesShifted { first, .. }
            | Self::BundleMalformed { first, .. }
            | Self::TileModified { first, .. }
            | Self::TileMissing { first, .. }
            | Self::Unsequenced { first, .. } => Some(*first),
            Self::HistoryRootMismatch { size, .. }
            | Self::HistoryAhead { size, .. }
            | Self::HistoryInconsistent { size, .. } => Some(*size),
            _ => None,
        }
    }

    /// How many entries, for the variants about a run of entries.
    pub fn count(&self) -> Option<u64> {
        match self {
            Self::EntriesDeleted { count, .. }
            | Self::EntriesInserted { count, .. }
            | Self::EntriesShifted { count, .. }
            | Self::Unsequenced { count, .. } => Some(*count),
            Self::EntryModified { .. } => Some(1),
            _ => None,
        }
    }

    /// Whether this is damage (everything but [`Finding::Unsequenced`]).
    pub fn is_problem(&self) -> bool {
        !matches!(self, Self::Unsequenced { .. })
    }

    /// Sort order: checkpoint first, then by entry position, then path.
    fn key(&self) -> (u8, u64, String) {
        let rank = match self {
            Self::CheckpointInvalid { .. } => 0,
            Self::RootMismatch { .. } => 1,
            _ => 2,
        };
        (
            rank,
            self.index().unwrap_or(u64::MAX),
            self.path().to_owned(),
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CheckpointInvalid { path, reason } => write!(f, "{path}: {reason}"),
            Self::RootMismatch { expected, computed } => write!(
                f,
                "the stored data hashes to {computed}, the checkpoint says {expected}"
            ),
            Self::EntryModified { index, path } => write!(f, "{path}: entry {index} modified"),
            Self::EntriesDeleted { first, count, path } => {
                write!(f, "{path}: {count} entries deleted from {first}")
            }
            Self::EntriesInserted { index, count, path } => {
                write!(f, "{path}: {count} entries inserted before entry {index}")
            }
            Self::EntriesShifted {
                first,
                count,
                by,
                path,
            } => write!(
                f,
                "{path}: {count} entries from {first} stored {by:+} places away"
            ),
            Self::BundleMalformed {
                first,
                path,
                reason,
            } => write!(f, "{path} (entries from {first}): {reason}"),
            Self::TileModified { level, first, path } => {
                write!(
                    f,
                    "{path}: level-{level} tile (from entry {first}) modified"
                )
            }
            Self::TileMissing { level, first, path } => {
                write!(f, "{path}: level-{level} tile (from entry {first}) missing")
            }
            Self::HistoryInvalid { path, reason } => write!(f, "{path}: {reason}"),
            Self::HistoryRootMismatch { path, size } => write!(
                f,
                "{path}: kept checkpoint of size {size} is not the root of the stored entries"
            ),
            Self::HistoryAhead { path, size } => write!(
                f,
                "{path}: kept checkpoint of size {size} is beyond the current checkpoint"
            ),
            Self::HistoryInconsistent {
                path,
                size,
                previous,
                previous_size,
            } => write!(
                f,
                "{path} (size {size}) is not consistent with {previous} (size {previous_size})"
            ),
            Self::ExtraFile { path } => write!(f, "{path}: not a file of this log"),
            Self::Unsequenced { path, first, count } => write!(
                f,
                "{path}: {count} entries from {first} written but not checkpointed (open rolls them forward)"
            ),
            Self::Unreadable { path, reason } => write!(f, "{path}: {reason}"),
        }
    }
}

/// What [`validate`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The checkpoint body, if one could be read (verified or not: see the findings).
    pub checkpoint: Option<Checkpoint>,
    /// The entry positions whose bundles and level-0 tiles were read (all, unless a range was
    /// asked for).
    pub range: Range<u64>,
    /// Kept checkpoints read.
    pub history: usize,
    /// Everything found, checkpoint first, then by entry position and path.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether nothing is wrong ([`Finding::Unsequenced`] is not wrong).
    pub fn is_ok(&self) -> bool {
        !self.findings.iter().any(Finding::is_problem)
    }

    /// The first problem: the checkpoint's, else the one at the lowest entry position.
    pub fn first_finding(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.is_problem())
    }

    /// The path of [`first_finding`](Self::first_finding).
    pub fn first_problem(&self) -> Option<String> {
        self.first_finding().map(|f| f.path().to_owned())
    }

    /// The paths of the problems of these kinds ([`Finding::kind`]), sorted, without repeats.
    pub fn paths(&self, kinds: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = self
            .findings
            .iter()
            .filter(|f| kinds.contains(&f.kind()))
            .map(|f| f.path().to_owned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Audits the whole stored log against its verifier key: [`validate_range`] over every entry.
pub fn validate<S: TileStore + ?Sized>(store: &S, verifier: &dyn Verifier) -> Report {
    validate_range(store, verifier, None)
}

/// Audits a stored log, reading the bundles and level-0 tiles of the entries in `range` (all
/// when `None`).
///
/// Steps: open the checkpoint; for every 256-entry chunk in the range, read its bundle and its
/// level-0 tile and decide which leaves the tree commits to (they agree; or the one whose root
/// is in the stored level-1 tile; or, failing both, the one that makes the checkpoint root);
/// compare the bundle's entries with those leaves (modified, deleted, inserted, shifted
/// entries) and the tile's bytes; recompute every tile above from the chunk roots and compare;
/// check older partial tiles and bundles are prefixes of the current data; check every kept
/// checkpoint's signature, its root against the data at its size and its consistency with the
/// next one; classify every other file as a batch beyond the checkpoint (harmless) or extra.
///
/// Chunks outside `range` are taken from the stored level-1 tiles (their roots) or level-0
/// tiles (the partial chunk, and chunks holding a kept checkpoint's size), unchecked.
/// Memory: one hash per 256 entries.
pub fn validate_range<S: TileStore + ?Sized>(
    store: &S,
    verifier: &dyn Verifier,
    range: Option<Range<u64>>,
) -> Report {
    let mut a = Audit {
        store,
        findings: Vec::new(),
    };
    let mut report = Report::default();
    let Some(checkpoint) = a.checkpoint(verifier) else {
        report.findings = a.findings;
        return report;
    };
    let size = checkpoint.size.get();
    let range = range.map_or(0..size, |r| r.start.min(size)..r.end.min(size));
    report.checkpoint = Some(checkpoint.clone());
    report.range = range.clone();

    let listed = match store.list() {
        Ok(l) => l,
        Err(e) => {
            a.findings.push(Finding::Unreadable {
                path: "(store listing)".into(),
                reason: e.to_string(),
            });
            Vec::new()
        }
    };

    // Kept checkpoints, by size.
    let mut kept: Vec<(u64, Hash, String)> = Vec::new();
    for path in listed.iter().filter(|p| p.starts_with(HISTORY_DIR)) {
        if parse_history_path(path).is_none() {
            continue; // not a history path: judged with the other files
        }
        match store.read(path) {
            Ok(Some(bytes)) => match open_kept(path, &bytes, verifier) {
                Ok(cp) if cp.origin != checkpoint.origin => {
                    a.findings.push(Finding::HistoryInvalid {
                        path: path.clone(),
                        reason: format!("origin {} is not this log's", cp.origin),
                    })
                }
                Ok(cp) if cp.size.get() > size => a.findings.push(Finding::HistoryAhead {
                    path: path.clone(),
                    size: cp.size.get(),
                }),
                Ok(cp) => kept.push((cp.size.get(), cp.root, path.clone())),
                Err(reason) => a.findings.push(Finding::HistoryInvalid {
                    path: path.clone(),
                    reason,
                }),
            },
            Ok(None) => {}
            Err(e) => a.findings.push(Finding::Unreadable {
                path: path.clone(),
                reason: e.to_string(),
            }),
        }
    }
    kept.sort();
    report.history = kept.len();

    // Older partial level-0 tiles and bundles, by chunk, to check while the chunk is at hand.
    let current_bundles: HashSet<String> = (0..size.div_ceil(WIDTH))
        .map(|k| bundle_id(k, size).path())
        .collect();
    let current_tiles: HashSet<String> = tiles_for_size(size).iter().map(TileId::path).collect();
    let mut old_partials: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut others: Vec<String> = Vec::new();
    for path in &listed {
        if path == CHECKPOINT_PATH
            || current_bundles.contains(path)
            || current_tiles.contains(path)
            || parse_history_path(path).is_some()
        {
            continue;
        }
        let old_chunk = match (TileId::parse_path(path), BundleId::parse_path(path)) {
            (Ok(id), _) if id.level == 0 && !id.is_full() && is_old(id.index, id.width, size) => {
                Some(id.index)
            }
            (_, Ok(id)) if !id.is_full() && is_old(id.index, id.width, size) => Some(id.index),
            _ => None,
        };
        match old_chunk {
            Some(k) => old_partials.entry(k).or_default().push(path.clone()),
            None => others.push(path.clone()),
        }
    }

    // The walk, chunk by chunk.
    let chunks = size.div_ceil(WIDTH);
    let checked = |k: u64| k * WIDTH < range.end && (k + 1) * WIDTH > range.start;
    let mut level1: Option<(u64, Option<HashTile>)> = None;
    let mut chunk_roots: Vec<Hash> = Vec::with_capacity(usize::try_from(chunks).unwrap_or(0));
    let mut frontier = Frontier::default();
    let mut last_leaves: Vec<Hash> = Vec::new();
    // Kept sizes: (size, chunk, the subtree hashes of the chunk's leaves below the size).
    let mut kept_inside: Vec<(u64, u64, Vec<Hash>)> = Vec::new();
    let mut kept_sizes = kept.iter().map(|(s, _, _)| *s).peekable();
    let mut window = Window::default();
    let mut ambiguous: Vec<Chunk> = Vec::new();
    let mut broken = false;
    for k in 0..chunks {
        while let Some(&s) = kept_sizes.peek().filter(|&&s| s <= k * WIDTH) {
            // A kept size on a chunk boundary: the root of the chunks before `k`.
            kept_inside.push((s, k, Vec::new()));
            kept_sizes.next();
        }
        let width = (size - k * WIDTH).min(WIDTH);
        let expected = if width == WIDTH {
            a.level1_hash(&mut level1, k, size)
        } else {
            None
        };
        let needs_leaves = width < WIDTH
            || kept_sizes
                .peek()
                .is_some_and(|&s| s < (k + 1) * WIDTH && s > k * WIDTH);
        let leaves = if checked(k) {
            let mut chunk = a.read_chunk(k, size, expected);
            if chunk.ambiguous && width < WIDTH {
                // The last (partial) chunk: every chunk root before it is known, so the
                // checkpoint root decides.
                let makes_root = |l: &Option<Vec<Hash>>| {
                    l.as_ref()
                        .is_some_and(|l| frontier.root_with(&sub_nodes(l)) == checkpoint.root)
                };
                if makes_root(&chunk.tile_leaves) {
                    chunk.ambiguous = false;
                } else if makes_root(&chunk.bundle_leaves) {
                    chunk.chosen = chunk.bundle_leaves.clone();
                    chunk.ambiguous = false;
                }
            }
            let leaves = chunk.chosen.clone();
            if chunk.ambiguous {
                ambiguous.push(chunk);
            } else if let Some(done) = window.push(chunk) {
                a.chunk_findings(&done, &window, &old_partials);
            }
            leaves
        } else if needs_leaves || expected.is_none() {
            a.stored_leaves(k, width)
        } else {
            None
        };
        match (width == WIDTH, &leaves, expected) {
            (true, Some(l), _) if l.len() == usize::from(TILE_WIDTH) => {
                chunk_roots.push(perfect_root(l));
            }
            (true, _, Some(e)) => chunk_roots.push(e),
            (true, _, None) => {
                broken = true;
                chunk_roots.push(Hash::from_bytes([0; 32]));
            }
            (false, Some(l), _) => last_leaves = l.clone(),
            (false, None, _) => broken = true,
        }
        if let Some(l) = &leaves {
            while let Some(&s) = kept_sizes.peek().filter(|&&s| s < (k + 1) * WIDTH) {
                let within = usize::try_from(s - k * WIDTH).unwrap_or(0).min(l.len());
                kept_inside.push((s, k, sub_nodes(&l[..within])));
                kept_sizes.next();
            }
        }
        if width == WIDTH
            && let Some(r) = chunk_roots.last()
        {
            frontier.push(*r);
        }
    }
    if let Some(done) = window.finish() {
        a.chunk_findings(&done, &window, &old_partials);
    }

    // Resolve chunks where bundle and tile disagree and nothing else decided: the choice that
    // makes the checkpoint root wins (the tile's, provisionally).
    let root_of = |roots: &[Hash], last: &[Hash]| {
        let mut f = Frontier::default();
        roots.iter().for_each(|r| f.push(*r));
        f.root_with(&sub_nodes(last))
    };
    let mut computed = root_of(&chunk_roots, &last_leaves);
    if computed != checkpoint.root && !ambiguous.is_empty() {
        let mut roots = chunk_roots.clone();
        let mut last = last_leaves.clone();
        for c in &ambiguous {
            if let Some(b) = &c.bundle_leaves {
                match usize::try_from(c.k).ok().and_then(|k| roots.get_mut(k)) {
                    Some(r) if b.len() == usize::from(TILE_WIDTH) => *r = perfect_root(b),
                    _ => last = b.clone(),
                }
            }
        }
        if root_of(&roots, &last) == checkpoint.root {
            computed = checkpoint.root;
            chunk_roots = roots;
            for c in &mut ambiguous {
                c.chosen = c.bundle_leaves.clone();
                for (s, k, sub) in &mut kept_inside {
                    if *k == c.k
                        && let Some(l) = &c.chosen
                    {
                        let within = usize::try_from(*s - c.k * WIDTH).unwrap_or(0).min(l.len());
                        *sub = sub_nodes(&l[..within]);
                    }
                }
            }
        }
    }
    // The data's root at every kept size, from the chunk roots (as finally chosen).
    let mut data_roots: HashMap<u64, Hash> = HashMap::new();
    {
        let mut f = Frontier::default();
        let mut pushed = 0u64;
        for (s, k, sub) in &kept_inside {
            while pushed < *k {
                if let Some(r) = usize::try_from(pushed)
                    .ok()
                    .and_then(|i| chunk_roots.get(i))
                {
                    f.push(*r);
                }
                pushed += 1;
            }
            data_roots.insert(*s, f.root_with(sub));
        }
    }
    for c in &ambiguous {
        a.chunk_findings(c, &Window::default(), &old_partials);
    }
    if computed != checkpoint.root && !broken {
        a.findings.push(Finding::RootMismatch {
            expected: checkpoint.root,
            computed,
        });
    }

    // Every tile above level 0, recomputed from the chunk roots.
    if !broken {
        a.upper_tiles(&chunk_roots, &range, &mut others);
    }

    // Kept checkpoints against the data, and each against the next (the last against the
    // current checkpoint).
    let mut previous: Option<(u64, Hash, String, bool)> = None;
    let current = (size, checkpoint.root, CHECKPOINT_PATH.to_owned());
    for (s, root, path) in kept.iter().cloned().chain(std::iter::once(current)) {
        let in_range = s >= range.start && s <= range.end;
        let matches = match data_roots.get(&s) {
            Some(d) => *d == root,
            None if s == size => computed == root,
            None => true, // not computed (outside the range): not judged
        };
        if !matches && in_range && path != CHECKPOINT_PATH && !broken {
            a.findings.push(Finding::HistoryRootMismatch {
                path: path.clone(),
                size: s,
            });
        }
        if let Some((ps, proot, ppath, pmatches)) = &previous
            && !broken
            && ((*ps == s && *proot != root) || (*pmatches != matches && in_range))
        {
            a.findings.push(Finding::HistoryInconsistent {
                path: path.clone(),
                size: s,
                previous: ppath.clone(),
                previous_size: *ps,
            });
        }
        previous = Some((s, root, path, matches));
    }

    // Whatever is left: a batch beyond the checkpoint, or extra.
    a.beyond(&others, size);

    report.findings = a.findings;
    report.findings.sort_by_key(Finding::key);
    report.findings.dedup();
    report
}

/// The leaf hashes of a stored bundle's entries. Unlike [`EntryBundle::decode`] this accepts
/// more than 256 entries, so that an entry inserted into a full bundle is reported as such.
fn bundle_leaves(bytes: &[u8]) -> Result<Vec<Hash>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let entry = tail.get(..len).ok_or_else(|| {
            format!(
                "entry {} at byte {} is cut short",
                out.len(),
                bytes.len() - rest.len()
            )
        })?;
        out.push(leaf_hash(entry));
        rest = &tail[len..];
    }
    if !rest.is_empty() {
        return Err(format!("a stray byte at {}", bytes.len() - 1));
    }
    Ok(out)
}

/// Whether a partial tile or bundle `(index, width)` is an older version inside a tree of `size`.
fn is_old(index: u64, width: u16, size: u64) -> bool {
    let have = size.saturating_sub(index * WIDTH).min(WIDTH);
    u64::from(width) < have
}

fn bundle_id(k: u64, size: u64) -> BundleId {
    BundleId {
        index: k,
        width: (size - k * WIDTH).min(WIDTH) as u16,
    }
}

fn tile0(k: u64, size: u64) -> TileId {
    TileId {
        level: 0,
        index: k,
        width: (size - k * WIDTH).min(WIDTH) as u16,
    }
}

/// The perfect-subtree hashes of `leaves` (a chunk's first `n` leaves), largest first.
fn sub_nodes(leaves: &[Hash]) -> Vec<Hash> {
    range_nodes(0, leaves.len() as u64)
        .iter()
        .map(|n| {
            let first = usize::try_from(n.index << n.level).unwrap_or(0);
            perfect_root(&leaves[first..first + (1usize << n.level)])
        })
        .collect()
}

/// What was read for one chunk.
#[derive(Debug, Clone, Default)]
struct Chunk {
    k: u64,
    size: u64,
    /// The bundle's leaf hashes, if it decoded (any width).
    bundle_leaves: Option<Vec<Hash>>,
    /// Why there are none: missing, unreadable, malformed.
    bundle_problem: Option<Finding>,
    /// The level-0 tile's hashes, if it parsed with the right width.
    tile_leaves: Option<Vec<Hash>>,
    /// Whether the tile file exists.
    tile_present: bool,
    /// The leaves the tree commits to, as decided.
    chosen: Option<Vec<Hash>>,
    /// Bundle and tile disagree and the level-1 tile did not decide.
    ambiguous: bool,
}

/// The last three checked chunks: findings for the middle one use its neighbours' leaves to
/// recognise entries stored in the wrong chunk.
#[derive(Default)]
struct Window {
    chunks: Vec<Chunk>,
}

impl Window {
    /// Adds the next chunk; returns the previous one, whose neighbours are now both in the
    /// window (the caller reports it while the window still holds them).
    fn push(&mut self, c: Chunk) -> Option<Chunk> {
        while self.chunks.len() > 2 {
            self.chunks.remove(0);
        }
        self.chunks.push(c);
        let n = self.chunks.len();
        (n >= 2).then(|| self.chunks[n - 2].clone())
    }

    /// After the walk: the last chunk (its left neighbour is still in the window).
    fn finish(&mut self) -> Option<Chunk> {
        while self.chunks.len() > 2 {
            self.chunks.remove(0);
        }
        self.chunks.last().cloned()
    }

    /// Position of a committed leaf in the window's chunks.
    fn lookup(&self) -> HashMap<Hash, u64> {
        let mut m = HashMap::new();
        for c in &self.chunks {
            if let Some(l) = &c.chosen {
                for (i, h) in l.iter().enumerate() {
                    m.entry(*h).or_insert(c.k * WIDTH + i as u64);
                }
            }
        }
        m
    }
}

struct Audit<'a, S: ?Sized> {
    store: &'a S,
    findings: Vec<Finding>,
}

impl<S: TileStore + ?Sized> Audit<'_, S> {
    fn read(&mut self, path: &str) -> Option<Vec<u8>> {
        match self.store.read(path) {
            Ok(b) => b,
            Err(e) => {
                self.findings.push(Finding::Unreadable {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }

    fn checkpoint(&mut self, verifier: &dyn Verifier) -> Option<Checkpoint> {
        let invalid = |reason: String| Finding::CheckpointInvalid {
            path: CHECKPOINT_PATH.into(),
            reason,
        };
        let note = match self.store.read(CHECKPOINT_PATH) {
            Ok(Some(n)) => n,
            Ok(None) => {
                self.findings.push(invalid("no checkpoint".into()));
                return None;
            }
            Err(e) => {
                self.findings.push(invalid(e.to_string()));
                return None;
            }
        };
        match Checkpoint::open(&note, &[verifier]) {
            Ok((cp, _)) => Some(cp),
            Err(e) => {
                self.findings.push(invalid(e.to_string()));
                // Carry on with the unverified body, if any, so the other files still get checked.
                Note::parse(&note)
                    .ok()
                    .and_then(|n| Checkpoint::parse(&n.text).ok())
            }
        }
    }

    /// The stored level-1 hash of full chunk `k` (the root of its 256 leaves).
    fn level1_hash(
        &mut self,
        cur: &mut Option<(u64, Option<HashTile>)>,
        k: u64,
        size: u64,
    ) -> Option<Hash> {
        let index = k / WIDTH;
        if cur.as_ref().map(|(i, _)| *i) != Some(index) {
            let id = TileId::at_size(1, index, size)?;
            let tile = StoreTiles {
                store: self.store,
                latest: size,
            }
            .read_path(&id.path())
            .ok()
            .flatten();
            *cur = Some((index, tile));
        }
        let (_, tile) = cur.as_ref()?;
        tile.as_ref()?
            .hashes()
            .get(usize::try_from(k % WIDTH).ok()?)
            .copied()
    }

    /// The level-0 tile's leaves of chunk `k`, unchecked (outside the audited range).
    fn stored_leaves(&mut self, k: u64, width: u64) -> Option<Vec<Hash>> {
        let id = tile0(k, k * WIDTH + width);
        let bytes = self.read(&id.path())?;
        let tile = HashTile::from_bytes(&bytes).ok()?;
        (u64::from(tile.width()) == width).then(|| tile.hashes().to_vec())
    }

    fn read_chunk(&mut self, k: u64, size: u64, expected: Option<Hash>) -> Chunk {
        let bundle = bundle_id(k, size);
        let tile = tile0(k, size);
        let width = usize::from(bundle.width);
        let mut c = Chunk {
            k,
            size,
            ..Chunk::default()
        };
        let path = bundle.path();
        match self.store.read(&path) {
            Ok(Some(bytes)) => match bundle_leaves(&bytes) {
                Ok(b) => c.bundle_leaves = Some(b),
                Err(e) => {
                    c.bundle_problem = Some(Finding::BundleMalformed {
                        first: k * WIDTH,
                        path,
                        reason: e.to_string(),
                    });
                }
            },
            Ok(None) => {
                c.bundle_problem = Some(Finding::EntriesDeleted {
                    first: k * WIDTH,
                    count: width as u64,
                    path,
                });
            }
            Err(e) => {
                c.bundle_problem = Some(Finding::Unreadable {
                    path,
                    reason: e.to_string(),
                });
            }
        }
        if let Some(bytes) = self.read(&tile.path()) {
            c.tile_present = true;
            c.tile_leaves = HashTile::from_bytes(&bytes)
                .ok()
                .filter(|t| usize::from(t.width()) == width)
                .map(|t| t.hashes().to_vec());
        }
        let b_ok = c.bundle_leaves.as_ref().filter(|b| b.len() == width);
        let t_ok = c.tile_leaves.as_ref();
        c.chosen = match (b_ok, t_ok) {
            (Some(b), Some(t)) if b == t => Some(t.clone()),
            (_, Some(t)) if expected.is_some() && expected == Some(perfect_root(t)) => {
                Some(t.clone())
            }
            (Some(b), _) if expected.is_some() && expected == Some(perfect_root(b)) => {
                Some(b.clone())
            }
            (Some(_), Some(t)) => {
                c.ambiguous = true;
                Some(t.clone())
            }
            (None, Some(t)) => Some(t.clone()),
            (Some(b), None) => Some(b.clone()),
            (None, None) => None,
        };
        c
    }

    /// Findings for one chunk: its tile, its bundle (entry by entry), its older partials.
    fn chunk_findings(&mut self, c: &Chunk, window: &Window, old: &BTreeMap<u64, Vec<String>>) {
        let tile = tile0(c.k, c.size);
        let first = c.k * WIDTH;
        let Some(chosen) = &c.chosen else {
            // Nothing to compare with: report what is wrong with each file.
            if let Some(p) = &c.bundle_problem {
                self.findings.push(p.clone());
            } else {
                self.findings.push(Finding::EntriesDeleted {
                    first,
                    count: u64::from(tile.width),
                    path: bundle_id(c.k, c.size).path(),
                });
            }
            self.push_tile_problem(&tile, c.tile_present);
            return;
        };
        if c.tile_leaves.as_ref() != Some(chosen) {
            self.push_tile_problem(&tile, c.tile_present);
        }
        if let Some(p) = &c.bundle_problem {
            self.findings.push(p.clone());
        } else if let Some(b) = &c.bundle_leaves
            && b != chosen
        {
            let lookup = if window.chunks.is_empty() {
                chosen
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (*h, first + i as u64))
                    .collect()
            } else {
                window.lookup()
            };
            let f = diff_entries(b, chosen, first, &lookup, &bundle_id(c.k, c.size).path());
            self.findings.extend(f);
        }
        // Older partial versions of this chunk's tile and bundle: prefixes of the leaves.
        for path in old.get(&c.k).into_iter().flatten() {
            let Some(bytes) = self.read(path) else {
                continue;
            };
            if let Ok(id) = TileId::parse_path(path) {
                let ok = HashTile::from_bytes(&bytes)
                    .is_ok_and(|t| Some(t.hashes()) == chosen.get(..usize::from(id.width)));
                if !ok {
                    self.findings.push(Finding::TileModified {
                        level: 0,
                        first,
                        path: path.clone(),
                    });
                }
            } else if let Ok(id) = BundleId::parse_path(path) {
                let want = &chosen[..usize::from(id.width).min(chosen.len())];
                match bundle_leaves(&bytes) {
                    Ok(leaves) => {
                        if leaves != want {
                            let lookup = want
                                .iter()
                                .enumerate()
                                .map(|(i, h)| (*h, first + i as u64))
                                .collect();
                            self.findings
                                .extend(diff_entries(&leaves, want, first, &lookup, path));
                        }
                    }
                    Err(e) => self.findings.push(Finding::BundleMalformed {
                        first,
                        path: path.clone(),
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }

    fn push_tile_problem(&mut self, id: &TileId, present: bool) {
        let (level, first, path) = (id.level, first_entry_of_tile(*id), id.path());
        self.findings.push(if present {
            Finding::TileModified { level, first, path }
        } else {
            Finding::TileMissing { level, first, path }
        });
    }

    /// Recomputes every tile of level 1 and up from the chunk roots and compares the stored
    /// ones (level-1 tiles only where they cover the range; higher levels always), and their
    /// older partial versions among `others` (which are then removed from it).
    fn upper_tiles(&mut self, chunk_roots: &[Hash], range: &Range<u64>, others: &mut Vec<String>) {
        let mut row = chunk_roots.to_vec();
        let mut level = 1u8;
        let mut expected: HashMap<(u8, u64), Vec<Hash>> = HashMap::new();
        while !row.is_empty() {
            for (i, hashes) in row.chunks(usize::from(TILE_WIDTH)).enumerate() {
                let id = TileId {
                    level,
                    index: i as u64,
                    width: hashes.len() as u16,
                };
                let first = first_entry_of_tile(id);
                let span = WIDTH << (u32::from(level) * u32::from(TILE_HEIGHT));
                let covers_range = first < range.end && first.saturating_add(span) > range.start;
                if level > 1 || covers_range {
                    let path = id.path();
                    match self.read(&path) {
                        Some(bytes)
                            if bytes
                                == HashTile::new(hashes.to_vec())
                                    .map(|t| t.to_bytes())
                                    .unwrap_or_default() => {}
                        Some(_) => self
                            .findings
                            .push(Finding::TileModified { level, first, path }),
                        None => {
                            if !self.findings.iter().any(|f| f.path() == path) {
                                self.findings
                                    .push(Finding::TileMissing { level, first, path });
                            }
                        }
                    }
                }
                expected.insert((level, i as u64), hashes.to_vec());
            }
            row = row
                .chunks_exact(usize::from(TILE_WIDTH))
                .map(perfect_root)
                .collect();
            level += 1;
        }
        // Older partial tiles of level 1 and up.
        others.retain(|path| {
            let Ok(id) = TileId::parse_path(path) else {
                return true;
            };
            if id.level == 0 || id.is_full() {
                return true;
            }
            let Some(cur) = expected.get(&(id.level, id.index)) else {
                return true;
            };
            if usize::from(id.width) >= cur.len() {
                return true; // not older: beyond the checkpoint
            }
            let ok = self.store.read(path).ok().flatten().is_some_and(|b| {
                HashTile::from_bytes(&b).is_ok_and(|t| t.hashes() == &cur[..usize::from(id.width)])
            });
            if !ok {
                self.findings.push(Finding::TileModified {
                    level: id.level,
                    first: first_entry_of_tile(id),
                    path: path.clone(),
                });
            }
            false
        });
    }

    /// Files beyond the checkpoint: the bundles open would roll forward and the tiles that
    /// batch produces are [`Finding::Unsequenced`]; anything else is extra.
    fn beyond(&mut self, others: &[String], size: u64) {
        if others.is_empty() {
            return;
        }
        // The roll-forward chain: the widest bundle beyond the checkpoint at each index.
        let mut entries: Vec<Vec<u8>> = Vec::new();
        let mut chain: HashSet<String> = HashSet::new();
        let edge = edge_bundle(size).and_then(|id| {
            self.store
                .read(&id.path())
                .ok()
                .flatten()
                .and_then(|b| EntryBundle::decode(&b).ok())
        });
        let mut index = size / WIDTH;
        let mut have = (size % WIDTH) as u16;
        loop {
            let found = (have + 1..=TILE_WIDTH).rev().find_map(|width| {
                let id = BundleId { index, width };
                let path = id.path();
                others.contains(&path).then_some(())?;
                let bundle = EntryBundle::decode(&self.store.read(&path).ok()??).ok()?;
                (bundle.width() == width).then_some((id, path, bundle))
            });
            let Some((id, path, bundle)) = found else {
                break;
            };
            if have > 0
                && edge.as_ref().map(EntryBundle::entries)
                    != bundle.entries().get(..usize::from(have))
            {
                break;
            }
            entries.extend(bundle.entries()[usize::from(have)..].iter().cloned());
            chain.insert(path);
            if !id.is_full() {
                break;
            }
            index += 1;
            have = 0;
        }
        let mut expected_tiles: HashMap<String, Vec<u8>> = HashMap::new();
        if !entries.is_empty() {
            let tiles = StoreTiles {
                store: self.store,
                latest: size,
            };
            if let Ok(step) = integrate(size, &tiles, edge.as_ref(), &entries) {
                for (id, t) in &step.tiles {
                    expected_tiles.insert(id.path(), t.to_bytes());
                }
            }
        }
        let mut unsequenced: Vec<&String> = Vec::new();
        for path in others {
            let ok = chain.contains(path)
                || expected_tiles.get(path).is_some_and(|want| {
                    self.store.read(path).ok().flatten().as_ref() == Some(want)
                });
            if ok {
                unsequenced.push(path);
            } else {
                self.findings
                    .push(Finding::ExtraFile { path: path.clone() });
            }
        }
        if let Some(first) = unsequenced.iter().min() {
            self.findings.push(Finding::Unsequenced {
                path: (*first).clone(),
                first: size,
                count: entries.len() as u64,
            });
        }
    }
}

/// Compares a bundle's leaves with the committed ones and says what differs: entries
/// modified, deleted, inserted, shifted. `lookup` maps committed leaves (this chunk and its
/// neighbours) to their positions; `first` is the chunk's first position.
fn diff_entries(
    stored: &[Hash],
    committed: &[Hash],
    first: u64,
    lookup: &HashMap<Hash, u64>,
    path: &str,
) -> Vec<Finding> {
    let end = first + committed.len() as u64;
    let mut out = Vec::new();
    let mut accounted: HashSet<u64> = HashSet::new();
    for h in stored {
        if let Some(&g) = lookup.get(h) {
            accounted.insert(g);
        }
    }
    // Offset of the stored position over the committed one, carried along the file.
    let mut offset: i64 = 0;
    let mut shifted: Option<(u64, u64, i64)> = None;
    let mut inserted: Option<(u64, u64)> = None;
    let flush_shift = |s: &mut Option<(u64, u64, i64)>, out: &mut Vec<Finding>| {
        if let Some((f, n, by)) = s.take() {
            out.push(Finding::EntriesShifted {
                first: f,
                count: n,
                by,
                path: path.to_owned(),
            });
        }
    };
    let flush_insert = |s: &mut Option<(u64, u64)>, out: &mut Vec<Finding>| {
        if let Some((at, n)) = s.take() {
            out.push(Finding::EntriesInserted {
                index: at,
                count: n,
                path: path.to_owned(),
            });
        }
    };
    for (j, h) in stored.iter().enumerate() {
        let pos = first + j as u64;
        match lookup.get(h) {
            Some(&g) => {
                flush_insert(&mut inserted, &mut out);
                let by = i64::try_from(pos).unwrap_or(i64::MAX) - i64::try_from(g).unwrap_or(0);
                offset = by;
                if by == 0 {
                    flush_shift(&mut shifted, &mut out);
                } else {
                    match &mut shifted {
                        Some((f, n, b)) if *b == by && *f + *n == g => *n += 1,
                        _ => {
                            flush_shift(&mut shifted, &mut out);
                            shifted = Some((g, 1, by));
                        }
                    }
                }
            }
            None => {
                flush_shift(&mut shifted, &mut out);
                let e = u64::try_from(i64::try_from(pos).unwrap_or(0) - offset).unwrap_or(u64::MAX);
                if e >= first && e < end && !accounted.contains(&e) {
                    // The committed entry that belongs here is nowhere in the file: replaced.
                    flush_insert(&mut inserted, &mut out);
                    accounted.insert(e);
                    out.push(Finding::EntryModified {
                        index: e,
                        path: path.to_owned(),
                    });
                } else {
                    // An entry the tree does not have, before committed entry `e`.
                    match &mut inserted {
                        Some((_, n)) => *n += 1,
                        None => inserted = Some((e, 1)),
                    }
                    offset += 1;
                }
            }
        }
    }
    flush_insert(&mut inserted, &mut out);
    flush_shift(&mut shifted, &mut out);
    // Committed entries of this chunk found nowhere in the file.
    let mut run: Option<(u64, u64)> = None;
    for g in first..end {
        if accounted.contains(&g) {
            if let Some((f, n)) = run.take() {
                out.push(Finding::EntriesDeleted {
                    first: f,
                    count: n,
                    path: path.to_owned(),
                });
            }
        } else {
            match &mut run {
                Some((_, n)) => *n += 1,
                None => run = Some((g, 1)),
            }
        }
    }
    if let Some((f, n)) = run {
        out.push(Finding::EntriesDeleted {
            first: f,
            count: n,
            path: path.to_owned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn diff(stored: &[Hash], committed: &[Hash]) -> Vec<Finding> {
        let lookup = committed
            .iter()
            .enumerate()
            .map(|(i, h)| (*h, 1000 + i as u64))
            .collect();
        diff_entries(stored, committed, 1000, &lookup, "b")
    }

    #[test]
    fn diff_names_modified_deleted_inserted_and_shifted_entries() {
        let c = leaves(8);
        assert!(diff(&c, &c).is_empty());
        let mut m = c.clone();
        m[3] = leaf_hash(b"x");
        assert_eq!(
            diff(&m, &c),
            [Finding::EntryModified {
                index: 1003,
                path: "b".into()
            }]
        );
        let mut d = c.clone();
        d.remove(2);
        assert_eq!(
            diff(&d, &c),
            [
                Finding::EntriesShifted {
                    first: 1003,
                    count: 5,
                    by: -1,
                    path: "b".into()
                },
                Finding::EntriesDeleted {
                    first: 1002,
                    count: 1,
                    path: "b".into()
                }
            ]
        );
        let mut i = c.clone();
        i.insert(5, leaf_hash(b"new"));
        assert_eq!(
            diff(&i, &c),
            [
                Finding::EntriesInserted {
                    index: 1005,
                    count: 1,
                    path: "b".into()
                },
                Finding::EntriesShifted {
                    first: 1005,
                    count: 3,
                    by: 1,
                    path: "b".into()
                }
            ]
        );
        // An insertion at the end shifts nothing.
        let mut e = c.clone();
        e.push(leaf_hash(b"tail"));
        assert_eq!(
            diff(&e, &c),
            [Finding::EntriesInserted {
                index: 1008,
                count: 1,
                path: "b".into()
            }]
        );
    }
}
