//! Reading a tlog-tiles directory without writing anything: what a read-only ledger and an
//! offline verifier with a copy of the log (`--log DIR`) use.
//!
//! Unlike [`poex_log_store::FileStore::open`], which clears the writer's temporary files,
//! [`DirTiles`] only ever opens files for reading, so it is safe beside a running writer: the
//! checkpoint is replaced atomically after the tiles and bundles it covers are durable, and old
//! partial tiles and bundles are never deleted, so everything a checkpoint read earlier refers
//! to stays readable at its exact path.

use std::io;
use std::path::{Path, PathBuf};

use poex_log::tile::{BundleId, EntryBundle, HashTile, TILE_WIDTH, TileId, TileSource};
use poex_log_store::CHECKPOINT_PATH;

/// A file of the tiles directory could not be read or is malformed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TilesError {
    /// The file does not exist.
    #[error("{path} is missing from the log directory")]
    Missing {
        /// The tlog-tiles path.
        path: String,
    },
    /// Reading failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The tlog-tiles path.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
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

/// A tlog-tiles directory (`checkpoint`, `tile/...`), read-only.
#[derive(Clone, Debug)]
pub struct DirTiles {
    root: PathBuf,
    /// The tree size of the newest checkpoint the caller knows of: a partial tile asked for at
    /// a size that was never checkpointed is served from the tile at this size (it extends it).
    latest: u64,
}

impl DirTiles {
    /// The directory `root`; `latest` is the size of the newest checkpoint read from it (0 if
    /// unknown: then only exact paths and full tiles are read).
    pub fn new(root: impl Into<PathBuf>, latest: u64) -> Self {
        DirTiles {
            root: root.into(),
            latest,
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The same directory, with another latest size.
    pub fn at(&self, latest: u64) -> Self {
        DirTiles {
            root: self.root.clone(),
            latest,
        }
    }

    /// Reads one file by tlog-tiles path; `Ok(None)` if it does not exist. Refuses paths that
    /// could leave the directory.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TilesError> {
        let safe = !path.is_empty()
            && path
                .split('/')
                .all(|c| !c.is_empty() && (!c.starts_with('.') || c == ".p"));
        if !safe {
            return Err(TilesError::Io {
                path: path.to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a tlog-tiles path"),
            });
        }
        match std::fs::read(self.root.join(path)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TilesError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The signed checkpoint note, verbatim.
    pub fn checkpoint(&self) -> Result<Vec<u8>, TilesError> {
        self.read(CHECKPOINT_PATH)?.ok_or(TilesError::Missing {
            path: CHECKPOINT_PATH.to_owned(),
        })
    }

    /// Entries `start..end` of the tree of `size` leaves (`end <= size`), reading each entry
    /// bundle once.
    pub fn entries(&self, start: u64, end: u64, size: u64) -> Result<Vec<Vec<u8>>, TilesError> {
        read_entries(|p| self.read(p), start, end, size)
    }
}

/// Entries `start..end` of the tree of `size` leaves, through `read` (a tlog-tiles path to the
/// file's bytes). A partial bundle missing at its exact path is read from the full bundle.
pub(crate) fn read_entries<E>(
    read: impl Fn(&str) -> Result<Option<Vec<u8>>, E>,
    start: u64,
    end: u64,
    size: u64,
) -> Result<Vec<Vec<u8>>, TilesError>
where
    TilesError: From<(String, E)>,
{
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
            if let Some(bytes) = read(&path).map_err(|e| TilesError::from((path.clone(), e)))? {
                found = Some((path, bytes));
                break;
            }
        }
        let (path, bytes) = found.ok_or_else(|| TilesError::Missing { path: id.path() })?;
        let bundle = EntryBundle::decode(&bytes).map_err(|e| TilesError::Malformed {
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
                .ok_or_else(|| TilesError::Malformed {
                    path: path.clone(),
                    reason: format!("holds {} entries, entry {j} is missing", bundle.width()),
                })?;
            out.push(entry.clone());
        }
        i = stop;
    }
    Ok(out)
}

impl From<(String, TilesError)> for TilesError {
    fn from((_, e): (String, TilesError)) -> Self {
        e
    }
}

impl From<(String, io::Error)> for TilesError {
    fn from((path, source): (String, io::Error)) -> Self {
        TilesError::Io { path, source }
    }
}

impl TileSource for DirTiles {
    type Error = TilesError;

    fn read_tile(&self, id: TileId) -> Result<HashTile, TilesError> {
        for candidate in id.serving_tiles(self.latest) {
            let path = candidate.path();
            if let Some(bytes) = self.read(&path)? {
                return HashTile::from_bytes(&bytes).map_err(|e| TilesError::Malformed {
                    path,
                    reason: e.to_string(),
                });
            }
        }
        Err(TilesError::Missing { path: id.path() })
    }
}
