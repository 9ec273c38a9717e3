//! poex-log-store: the poex transparency log on disk. A [`TileStore`] with a written
//! durability contract, [`FileStore`] on local disk, the [`Log`] sequencer with group commit,
//! crash recovery and deduplication through a leaf index (a redb file), the checkpoint
//! [`history`], and [`validate`], the audit that recomputes a stored log and reports every
//! difference as a [`Finding`]. The durability contract, the on-disk layout and what open and
//! the audit check are written in docs/log.md ("Storage and sequencing"); the formats are
//! poex-log's (the same document's first half).
//!
//! Everything here is synchronous (std threads, `Mutex`, `Condvar`). The pure `poex-log` crate
//! ([`tile`](poex_log::tile), [`proof`](poex_log::proof), [`checkpoint`](poex_log::checkpoint))
//! does the arithmetic and defines the formats; this crate only decides what to write, in which
//! order, and what a crash leaves.
//!
//! What it does **not** do: serve the tiles (a node does, docs/node.md), know what an entry
//! means (poex-ledger's typed entries do), hold keys (the caller passes a [`LogConfig`] with a
//! signer), or run anything asynchronously. It reads the clock only to delay the reuse of a
//! replaced file's inode ([`RECYCLE_AFTER`]).
//!
//! # Durability, in one paragraph
//!
//! An append is acknowledged only after its entry bundles, its tiles and then a signed
//! checkpoint covering it were each written durably ([`TileStore`] contract). The checkpoint is
//! the commit point: files written beyond the checkpoint's size belong to a batch nobody was
//! told about. On [`Log::open`] such a batch is **rolled forward**: its entries are read back
//! from the bundles that landed and integrated again through the same code path as any append
//! ([`Log::append`]'s sequencer), which rewrites identical full tiles (idempotent create-once),
//! overwrites partial ones and signs a checkpoint. Nothing that was acknowledged can be lost;
//! unacknowledged entries may or may not survive, as in any log.
//!
//! Everything else is derived or advisory and written after the commit point: the leaf index
//! (entry by leaf hash, for deduplication and [`Log::find`]; caught up from the level-0 tiles on
//! open, rebuilt if it cannot be trusted) and the [`history`] sample of checkpoints. Losing
//! either in a crash costs a catch-up or one sample, never an acknowledged entry.

use std::io;
use std::sync::Arc;

use poex_log::checkpoint::{CheckpointOpenError, Origin};
use poex_log::note::{SignError, Signer, Verifier};
use poex_log::proof::ProveError;
use poex_log::tile::{
    BundleId, HashTile, IntegrateError, TILE_HEIGHT, TILE_WIDTH, TileDataError, TileId,
    TileReadError, TileSource,
};

mod cache;
pub mod dir;
mod frontier;
pub mod history;
mod index;
mod log;
mod store;
mod validate;

pub use cache::DEFAULT_CACHE_TILES;
pub use index::IndexError;
pub use log::{Log, LogOptions};
pub use store::{
    CHECKPOINT_PATH, FileStore, MemoryStore, RECYCLE_AFTER, TileStore, WriteMode, bundle_mode,
    tile_mode,
};
pub use validate::{Finding, Report, validate, validate_range};

pub use poex_log::LogIndex;

/// What a [`Log`] needs besides its store: its name and keys.
#[derive(Clone)]
pub struct LogConfig {
    /// The checkpoint origin line.
    pub origin: Origin,
    /// Signs checkpoints.
    pub signer: Arc<dyn Signer + Send + Sync>,
    /// Checks the stored checkpoint on open (the signer's public half).
    pub verifier: Arc<dyn Verifier + Send + Sync>,
}

impl std::fmt::Debug for LogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogConfig")
            .field("origin", &self.origin)
            .field("key", &self.verifier.name())
            .field("key_id", &self.verifier.key_id())
            .finish()
    }
}

/// The hint every corruption error carries.
pub const VALIDATE_HINT: &str = "run `poex audit validate` to list every damaged file";

/// A log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The store failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// "reading" or "writing".
        op: &'static str,
        /// The store path.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An entry is larger than an entry bundle can hold.
    #[error(
        "entry {position} of this append is {size} bytes, more than the 65535 an entry may have: \
         store the data elsewhere and log its digest instead"
    )]
    EntryTooLarge {
        /// Position of the entry in the append call.
        position: usize,
        /// Its size in bytes.
        size: usize,
    },
    /// The stored log is damaged; the log refuses to open or read it rather than repair it.
    #[error("corrupt log at {path}{}: {reason}; {VALIDATE_HINT}", index.map(|i| format!(" (entry {i})")).unwrap_or_default())]
    Corrupt {
        /// The first bad file found.
        path: String,
        /// The first entry index the file covers, when it is a tile or bundle.
        index: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// There is no checkpoint: not a log (yet).
    #[error(
        "no checkpoint in this store: create the log first (or, if it existed, {VALIDATE_HINT})"
    )]
    NoLog,
    /// [`Log::create`] was given a store that already holds files.
    #[error(
        "store is not empty ({first} and {count} more files): refusing to create a log over it"
    )]
    NotEmpty {
        /// One file found.
        first: String,
        /// How many others.
        count: usize,
    },
    /// The stored checkpoint does not open with the configured verifier.
    #[error("checkpoint does not verify with key {key}: {source}; {VALIDATE_HINT}")]
    Checkpoint {
        /// The verifier's key name.
        key: String,
        /// Why.
        #[source]
        source: CheckpointOpenError,
    },
    /// The stored checkpoint names another log.
    #[error("checkpoint origin is {found:?}, this log is {expected:?}")]
    OriginMismatch {
        /// Configured origin.
        expected: String,
        /// Origin in the checkpoint.
        found: String,
    },
    /// Signing the checkpoint failed.
    #[error("signing checkpoint: {0}")]
    Sign(#[from] SignError),
    /// Integrating a batch failed.
    #[error("integrating: {0}")]
    Integrate(#[from] IntegrateError<ReadError>),
    /// Generating a proof failed.
    #[error("proving: {0}")]
    Prove(#[from] ProveError<TileReadError<ReadError>>),
    /// An index or size beyond the current checkpoint.
    #[error("{what} {value} is beyond the log's size {size}")]
    OutOfRange {
        /// What was asked for ("entry", "tree size").
        what: &'static str,
        /// The value.
        value: u64,
        /// The current tree size.
        size: u64,
    },
    /// The on-disk leaf index failed. It is derived data: reopening rebuilds or catches it up.
    #[error("{0}")]
    Index(#[from] IndexError),
    /// An earlier batch failed part-way; the on-disk state is recoverable but this handle stops.
    #[error("sequencing failed, reopen the log to recover: {0}")]
    Failed(Arc<LogError>),
}

impl LogError {
    fn io(op: &'static str, path: &str, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// A tile or bundle could not be read from a [`TileStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file does not exist.
    #[error("{path} is missing")]
    Missing {
        /// Store path.
        path: String,
    },
    /// The store failed.
    #[error("reading {path}: {source}")]
    Io {
        /// Store path.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a well-formed tile.
    #[error("{path}: {source}")]
    Malformed {
        /// Store path.
        path: String,
        /// What is wrong.
        #[source]
        source: TileDataError,
    },
}

/// The first entry index a tile covers.
pub(crate) fn first_entry_of_tile(id: TileId) -> u64 {
    (id.index * u64::from(TILE_WIDTH))
        .checked_shl(u32::from(id.level) * u32::from(TILE_HEIGHT))
        .unwrap_or(u64::MAX)
}

/// The first entry index a bundle covers.
pub(crate) fn first_entry_of_bundle(id: BundleId) -> u64 {
    id.index * u64::from(TILE_WIDTH)
}

/// Reads hash tiles from a [`TileStore`] as a [`TileSource`].
///
/// A partial tile is read at its exact path; if a tree of that size was never checkpointed (a
/// proof for an arbitrary size) the full tile, or the partial tile of `latest` size, serves
/// instead: both extend it, and [`TileSource`] allows wider tiles.
pub(crate) struct StoreTiles<'a, S: ?Sized> {
    pub(crate) store: &'a S,
    pub(crate) latest: u64,
}

impl<S: TileStore + ?Sized> StoreTiles<'_, S> {
    pub(crate) fn read_path(&self, path: &str) -> Result<Option<HashTile>, ReadError> {
        let Some(bytes) = self.store.read(path).map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?
        else {
            return Ok(None);
        };
        HashTile::from_bytes(&bytes)
            .map(Some)
            .map_err(|source| ReadError::Malformed {
                path: path.to_owned(),
                source,
            })
    }
}

impl<S: TileStore + ?Sized> TileSource for StoreTiles<'_, S> {
    type Error = ReadError;

    fn read_tile(&self, id: TileId) -> Result<HashTile, ReadError> {
        for candidate in id.serving_tiles(self.latest) {
            if let Some(t) = self.read_path(&candidate.path())? {
                return Ok(t);
            }
        }
        Err(ReadError::Missing { path: id.path() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_entries() {
        let t = |level, index| TileId {
            level,
            index,
            width: 1,
        };
        assert_eq!(first_entry_of_tile(t(0, 3)), 768);
        assert_eq!(first_entry_of_tile(t(1, 2)), 2 * 65536);
        assert_eq!(first_entry_of_bundle(BundleId { index: 2, width: 3 }), 512);
    }
}
