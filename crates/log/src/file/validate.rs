//! Whole-log validation: recompute every tile from the entry bundles and compare with the store.

use std::collections::{BTreeMap, BTreeSet};

use super::log::Frontier;
use super::store::{CHECKPOINT_PATH, TileStore};
use crate::checkpoint::Checkpoint;
use crate::hash::{Hash, leaf_hash};
use crate::note::{Note, Verifier};
use crate::tile::{
    BundleId, EntryBundle, HashTile, MemoryTiles, TILE_WIDTH, TileId, bundles_for_size,
    integrate_hashes,
};

/// What [`validate`] found. Paths are tlog-tiles store paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The checkpoint body, if one could be read (verified or not: see `checkpoint_error`).
    pub checkpoint: Option<Checkpoint>,
    /// Why the checkpoint did not verify, if it did not.
    pub checkpoint_error: Option<String>,
    /// Whether the root recomputed from the entries equals the checkpoint's root.
    pub root_matches: bool,
    /// Files whose content differs from what the entries and the checkpoint imply.
    pub modified: Vec<String>,
    /// Files the checkpoint's tree needs that are not stored.
    pub missing: Vec<String>,
    /// Stored files that are not part of the tree (beyond the checkpoint, or not log files).
    pub extra: Vec<String>,
}

impl Report {
    /// Whether the log verified completely: signature, root, and no modified, missing or extra files.
    pub fn is_ok(&self) -> bool {
        self.checkpoint_error.is_none()
            && self.root_matches
            && self.modified.is_empty()
            && self.missing.is_empty()
            && self.extra.is_empty()
    }

    /// The first damaged file, by the order: checkpoint, missing, modified (lowest path first).
    pub fn first_problem(&self) -> Option<String> {
        if self.checkpoint_error.is_some() {
            return Some(CHECKPOINT_PATH.into());
        }
        self.missing
            .first()
            .or_else(|| self.modified.first())
            .cloned()
    }
}

/// Validates a stored log against its verifier key, reading every file.
///
/// Steps: open the checkpoint (signature, body); read every entry bundle and level-0 tile the
/// checkpoint's tree needs and pick, per 256-entry chunk, the leaf hashes that make the root
/// match the checkpoint (so a damaged bundle and a damaged tile are told apart); recompute every
/// tile from those leaves and compare with the stored bytes; check older partial tiles and
/// bundles are prefixes of the current ones; list anything else as extra. Memory grows with the
/// log (all leaf hashes are held).
pub fn validate<S: TileStore + ?Sized>(store: &S, verifier: &dyn Verifier) -> Report {
    let mut report = Report::default();
    let note = match store.read(CHECKPOINT_PATH) {
        Ok(Some(n)) => n,
        Ok(None) => {
            report.missing.push(CHECKPOINT_PATH.into());
            report.checkpoint_error = Some("no checkpoint".into());
            return report;
        }
        Err(e) => {
            report.modified.push(CHECKPOINT_PATH.into());
            report.checkpoint_error = Some(e.to_string());
            return report;
        }
    };
    let checkpoint = match Checkpoint::open(&note, &[verifier]) {
        Ok((cp, _)) => cp,
        Err(e) => {
            report.checkpoint_error = Some(e.to_string());
            report.modified.push(CHECKPOINT_PATH.into());
            // Carry on with the unverified body, if any, so the other files still get checked.
            match Note::parse(&note)
                .ok()
                .and_then(|n| Checkpoint::parse(&n.text).ok())
            {
                Some(cp) => cp,
                None => return report,
            }
        }
    };
    let size = checkpoint.size.get();
    report.checkpoint = Some(checkpoint.clone());

    // Leaf hashes per chunk of 256 entries, from the bundles and from the level-0 tiles.
    let bundles = bundles_for_size(size);
    let mut from_bundles: Vec<Option<Vec<Hash>>> = Vec::with_capacity(bundles.len());
    for id in &bundles {
        let path = id.path();
        match store.read(&path) {
            Ok(Some(bytes)) => match EntryBundle::decode(&bytes) {
                Ok(b) if b.width() == id.width => {
                    from_bundles.push(Some(b.entries().iter().map(|e| leaf_hash(e)).collect()));
                }
                _ => {
                    report.modified.push(path);
                    from_bundles.push(None);
                }
            },
            Ok(None) => {
                report.missing.push(path);
                from_bundles.push(None);
            }
            Err(_) => {
                report.modified.push(path);
                from_bundles.push(None);
            }
        }
    }
    let from_tiles: Vec<Option<Vec<Hash>>> = bundles
        .iter()
        .map(|b| {
            let id = TileId {
                level: 0,
                index: b.index,
                width: b.width,
            };
            read_tile(store, id)
                .filter(|t| t.width() == id.width)
                .map(|t| t.hashes().to_vec())
        })
        .collect();

    // Choose leaves: where bundle and tile agree (or only one exists) there is no question;
    // where they disagree, prefer whichever side makes the root match the checkpoint.
    let pick = |prefer_tiles: bool| -> Option<Vec<Hash>> {
        let mut leaves = Vec::new();
        for (b, t) in from_bundles.iter().zip(&from_tiles) {
            let chunk = match (b, t) {
                (Some(b), Some(t)) if prefer_tiles => t,
                (Some(b), _) => b,
                (None, Some(t)) => t,
                (None, None) => return None,
            };
            leaves.extend_from_slice(chunk);
        }
        Some(leaves)
    };
    let root_of = |leaves: &[Hash]| {
        let mut f = Frontier::default();
        leaves.iter().for_each(|h| f.push(*h));
        f.root()
    };
    let leaves = match pick(false) {
        Some(l) if root_of(&l) == checkpoint.root => Some(l),
        candidate => match pick(true) {
            Some(l) if root_of(&l) == checkpoint.root => Some(l),
            _ => candidate,
        },
    };
    let Some(leaves) = leaves else {
        // Both the bundle and the tile of some chunk are gone: nothing to recompute from.
        report.missing.extend(
            bundles
                .iter()
                .zip(&from_tiles)
                .filter(|(_, t)| t.is_none())
                .map(|(b, _)| tile0(*b).path()),
        );
        finish(&mut report);
        return report;
    };
    report.root_matches = root_of(&leaves) == checkpoint.root;

    // Bundles whose entries do not hash to the chosen leaves are modified.
    for ((id, b), chunk) in bundles
        .iter()
        .zip(&from_bundles)
        .zip(leaves.chunks(usize::from(TILE_WIDTH)))
    {
        if let Some(b) = b
            && b.as_slice() != chunk
        {
            report.modified.push(id.path());
        }
    }

    // Recompute every tile of the tree and compare.
    let expected = match integrate_hashes(0, &MemoryTiles::new(), &leaves) {
        Ok(i) => i.tiles,
        Err(_) => Vec::new(),
    };
    let mut expected_paths: BTreeSet<String> = BTreeSet::new();
    let mut by_key: BTreeMap<(u8, u64), HashTile> = BTreeMap::new();
    for (id, tile) in &expected {
        let path = id.path();
        match store.read(&path) {
            Ok(Some(bytes)) if bytes == tile.to_bytes() => {}
            Ok(None) => report.missing.push(path.clone()),
            _ => report.modified.push(path.clone()),
        }
        expected_paths.insert(path);
        by_key.insert((id.level, id.index), tile.clone());
    }
    let bundle_paths: BTreeSet<String> = bundles.iter().map(BundleId::path).collect();

    // Everything else: older partial versions must be prefixes of the current ones.
    let listed = match store.list() {
        Ok(l) => l,
        Err(e) => {
            // Cannot look for extra files; say so rather than report a clean store.
            report
                .extra
                .push(format!("(listing the store failed: {e})"));
            Vec::new()
        }
    };
    for path in listed {
        if path == CHECKPOINT_PATH || expected_paths.contains(&path) || bundle_paths.contains(&path)
        {
            continue;
        }
        if let Ok(id) = TileId::parse_path(&path) {
            match by_key.get(&(id.level, id.index)) {
                Some(cur) if !id.is_full() && id.width < cur.width() => {
                    let ok = read_bytes(store, &path).is_some_and(|b| {
                        HashTile::from_bytes(&b)
                            .is_ok_and(|t| t.hashes() == &cur.hashes()[..usize::from(id.width)])
                    });
                    if !ok {
                        report.modified.push(path);
                    }
                }
                _ => report.extra.push(path),
            }
        } else if let Ok(id) = BundleId::parse_path(&path) {
            // Judge an older partial bundle against the chosen leaves, not the current bundle
            // file, which may itself be the damaged one.
            let current = bundles.iter().find(|b| b.index == id.index);
            match current {
                Some(cur) if !id.is_full() && id.width < cur.width => {
                    let first =
                        usize::try_from(id.index * u64::from(TILE_WIDTH)).unwrap_or(usize::MAX);
                    let want = leaves.get(first..first.saturating_add(usize::from(id.width)));
                    let ok = read_bytes(store, &path).is_some_and(|b| {
                        EntryBundle::decode(&b).is_ok_and(|old| {
                            want.is_some_and(|w| {
                                old.entries()
                                    .iter()
                                    .map(|e| leaf_hash(e))
                                    .eq(w.iter().copied())
                            })
                        })
                    });
                    if !ok {
                        report.modified.push(path);
                    }
                }
                _ => report.extra.push(path),
            }
        } else {
            report.extra.push(path);
        }
    }
    finish(&mut report);
    report
}

fn tile0(b: BundleId) -> TileId {
    TileId {
        level: 0,
        index: b.index,
        width: b.width,
    }
}

fn finish(report: &mut Report) {
    for v in [&mut report.modified, &mut report.missing, &mut report.extra] {
        v.sort();
        v.dedup();
    }
}

fn read_bytes<S: TileStore + ?Sized>(store: &S, path: &str) -> Option<Vec<u8>> {
    store.read(path).ok().flatten()
}

fn read_tile<S: TileStore + ?Sized>(store: &S, id: TileId) -> Option<HashTile> {
    read_bytes(store, &id.path()).and_then(|b| HashTile::from_bytes(&b).ok())
}
