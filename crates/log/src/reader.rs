//! Reading a published tlog-tiles log through any transport: which file serves a tile, an
//! entry or the checkpoint, and how a partial tile or bundle that was never published is served
//! by one that extends it.
//!
//! This is the only tile reader in poex. The transport is the caller's: a [`LogFiles`] gives the
//! bytes of one file by its tlog-tiles path (a directory on disk in `poex-log-store`, HTTP in
//! `poex-client`, the writer's own store in `poex-ledger`). Nothing read here is trusted:
//! checkpoints are opened with a key the caller trusts, and proofs made from fetched tiles are
//! verified against a signed checkpoint.

use crate::tile::{BundleId, EntryBundle, HashTile, TILE_WIDTH, TileId, TileSource};

/// The tlog-tiles path of a log's latest signed checkpoint.
pub const CHECKPOINT: &str = "checkpoint";

/// Files of a tlog-tiles log, by path (`checkpoint`, `tile/0/000`, `tile/entries/x001/234.p/5`).
pub trait LogFiles {
    /// Why a file could not be read.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The file's bytes; `Ok(None)` when it does not exist.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Self::Error>;
}

impl<F: LogFiles + ?Sized> LogFiles for &F {
    type Error = F::Error;

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Self::Error> {
        (**self).read(path)
    }
}

/// A file of the log could not be read or is malformed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError<E> {
    /// The file does not exist.
    #[error("{path} is missing from the log")]
    Missing {
        /// The tlog-tiles path.
        path: String,
    },
    /// The transport failed.
    #[error("reading {path}: {source}")]
    Files {
        /// The tlog-tiles path.
        path: String,
        /// The transport's error.
        #[source]
        source: E,
    },
    /// The file is not a well-formed tile or bundle.
    #[error("{path} is malformed: {reason}")]
    Malformed {
        /// The tlog-tiles path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A log read through `F`, as it is at `latest` entries (the size of the newest checkpoint the
/// caller knows of): a partial tile asked for at a size that was never checkpointed is served
/// by the tile at `latest`, which extends it.
#[derive(Clone, Debug)]
pub struct LogReader<F> {
    files: F,
    latest: u64,
}

impl<F: LogFiles> LogReader<F> {
    /// The log in `files`; `latest` is the size of the newest checkpoint read from it (0 if
    /// unknown: then only exact paths and full tiles are read).
    pub fn new(files: F, latest: u64) -> Self {
        LogReader { files, latest }
    }

    /// The transport.
    pub fn files(&self) -> &F {
        &self.files
    }

    /// The size partial tiles are served at.
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The same log, served at another size.
    pub fn at(&self, latest: u64) -> Self
    where
        F: Clone,
    {
        LogReader {
            files: self.files.clone(),
            latest,
        }
    }

    /// One file, verbatim; `Ok(None)` when it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ReadError<F::Error>> {
        self.files.read(path).map_err(|source| ReadError::Files {
            path: path.to_owned(),
            source,
        })
    }

    /// The signed checkpoint note, verbatim and unverified.
    pub fn checkpoint(&self) -> Result<Vec<u8>, ReadError<F::Error>> {
        self.read(CHECKPOINT)?.ok_or(ReadError::Missing {
            path: CHECKPOINT.to_owned(),
        })
    }

    /// Entries `start..end` of the tree of `size` leaves (`end <= size`), reading each entry
    /// bundle once.
    pub fn entries(
        &self,
        start: u64,
        end: u64,
        size: u64,
    ) -> Result<Vec<Vec<u8>>, ReadError<F::Error>> {
        read_entries(|p| self.files.read(p), start, end, size)
    }
}

impl<F: LogFiles> TileSource for LogReader<F> {
    type Error = ReadError<F::Error>;

    fn read_tile(&self, id: TileId) -> Result<HashTile, Self::Error> {
        for candidate in id.serving_tiles(self.latest) {
            let path = candidate.path();
            if let Some(bytes) = self.read(&path)? {
                return HashTile::from_bytes(&bytes).map_err(|e| ReadError::Malformed {
                    path,
                    reason: e.to_string(),
                });
            }
        }
        Err(ReadError::Missing { path: id.path() })
    }
}

/// Entries `start..end` of the tree of `size` leaves, through `read` (a tlog-tiles path to the
/// file's bytes). A partial bundle missing at its exact path is read from the full bundle,
/// which extends it.
pub fn read_entries<E>(
    read: impl Fn(&str) -> Result<Option<Vec<u8>>, E>,
    start: u64,
    end: u64,
    size: u64,
) -> Result<Vec<Vec<u8>>, ReadError<E>> {
    let width = u64::from(TILE_WIDTH);
    let mut out = Vec::with_capacity(usize::try_from(end.saturating_sub(start)).unwrap_or(0));
    let mut i = start;
    while i < end.min(size) {
        let Some(id) = BundleId::for_entry(i, size) else {
            break;
        };
        let full = BundleId {
            width: TILE_WIDTH,
            ..id
        };
        let mut found = None;
        for candidate in [id, full] {
            let path = candidate.path();
            match read(&path) {
                Ok(Some(bytes)) => {
                    found = Some((path, bytes));
                    break;
                }
                Ok(None) => {}
                Err(source) => return Err(ReadError::Files { path, source }),
            }
        }
        let (path, bytes) = found.ok_or_else(|| ReadError::Missing { path: id.path() })?;
        let bundle = EntryBundle::decode(&bytes).map_err(|e| ReadError::Malformed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let first = id.index * width;
        let stop = end.min(first + u64::from(id.width));
        for j in i..stop {
            let at = usize::try_from(j - first).unwrap_or(usize::MAX);
            let entry = bundle
                .entries()
                .get(at)
                .ok_or_else(|| ReadError::Malformed {
                    path: path.clone(),
                    reason: format!("holds {} entries, entry {j} is missing", bundle.width()),
                })?;
            out.push(entry.clone());
        }
        i = stop;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::tile::{MemoryTiles, integrate};

    /// Files in memory, as a published log would hold them.
    #[derive(Clone)]
    struct Files(BTreeMap<String, Vec<u8>>);

    impl LogFiles for Files {
        type Error = std::io::Error;
        fn read(&self, path: &str) -> Result<Option<Vec<u8>>, std::io::Error> {
            Ok(self.0.get(path).cloned())
        }
    }

    #[test]
    fn tiles_and_bundles_never_published_are_served_by_full_ones() {
        let mut tiles = MemoryTiles::new();
        let mut files = BTreeMap::new();
        let entries: Vec<Vec<u8>> = (0..600u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut edge = None;
        for (from, to) in [(0u64, 260usize), (260, 600)] {
            let out = integrate(from, &tiles, edge.as_ref(), &entries[from as usize..to]).unwrap();
            for (id, tile) in &out.tiles {
                files.insert(id.path(), tile.to_bytes());
            }
            for (id, bundle) in &out.bundles {
                files.insert(id.path(), bundle.encode());
            }
            edge = out.bundles.last().map(|(_, b)| b.clone());
            tiles.apply(&out);
        }
        // The partial tile and bundle at 260 are gone (as if that size was never published).
        let partial_tile = TileId::at_size(0, 1, 260).unwrap();
        let partial_bundle = BundleId::for_entry(256, 260).unwrap();
        assert!(files.remove(&partial_tile.path()).is_some());
        assert!(files.remove(&partial_bundle.path()).is_some());
        let reader = LogReader::new(Files(files), 600);
        assert_eq!(reader.entries(250, 260, 260).unwrap(), entries[250..260]);
        assert_eq!(reader.entries(500, 600, 600).unwrap(), entries[500..600]);
        let tile = reader.read_tile(partial_tile).unwrap();
        assert!(tile.width() >= 4);
        // Without a full one to serve it, a missing partial bundle is named.
        let last = BundleId::for_entry(599, 600).unwrap();
        let mut files = reader.files().clone();
        assert!(files.0.remove(&last.path()).is_some());
        let e = LogReader::new(files, 600)
            .entries(590, 600, 600)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is missing from the log", last.path())
        );
        let e = reader.checkpoint().unwrap_err().to_string();
        assert_eq!(e, "checkpoint is missing from the log");
    }
}
