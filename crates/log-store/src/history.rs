//! Checkpoint history: a sample of the signed checkpoints the log has written, kept beside it.
//!
//! **What is kept.** For every block of 256 entries `k` (entries `256k .. 256k + 255`), the
//! first checkpoint the log wrote whose size falls in that block, at
//! `history/<k>` (with `k` spelled like a tile index: `history/x001/234`). Commits that stay
//! inside a block are not kept; the latest checkpoint is always the `checkpoint` file. So the
//! history holds at most `size / 256 + 1` checkpoints (one write per 256 entries at most),
//! and any two successive ones are at most 511 entries apart when every block saw a commit.
//!
//! **Advisory.** The `checkpoint` file stays the commit point. A history file is written after
//! it (create-once: a kept checkpoint never changes); a crash in between loses at most that one
//! sample, and the next open writes the current checkpoint for the current block if that block
//! has none. [`validate`](super::validate) checks every kept checkpoint's signature, that its
//! root is the root of the stored entries at its size, and that successive ones are consistent.
//!
//! The paths are outside the tlog-tiles namespace (`checkpoint`, `tile/`), so a static server of
//! the store root may serve them or not.

use std::io;

use super::store::TileStore;
use poex_log::checkpoint::Checkpoint;
use poex_log::note::Verifier;
use poex_log::tile::{TILE_WIDTH, encode_index, parse_index};

/// The directory of kept checkpoints in a store.
pub const HISTORY_DIR: &str = "history";

/// The block of 256 entries a checkpoint of `size` falls in.
pub fn history_block(size: u64) -> u64 {
    size / u64::from(TILE_WIDTH)
}

/// Where the kept checkpoint of block `block` is stored.
pub fn history_path(block: u64) -> String {
    format!("{HISTORY_DIR}/{}", encode_index(block))
}

/// The block a history path names, if it is one (canonical spelling only).
pub fn parse_history_path(path: &str) -> Option<u64> {
    parse_index(path.strip_prefix(HISTORY_DIR)?.strip_prefix('/')?).ok()
}

/// One kept checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeptCheckpoint {
    /// Its store path.
    pub path: String,
    /// The checkpoint, verified.
    pub checkpoint: Checkpoint,
    /// The signed note, as stored.
    pub note: String,
}

/// Reads the kept checkpoints of blocks `0 ..= history_block(size)` from `store`, oldest first,
/// verifying each with `verifier`. Missing blocks are skipped (not every block sees a commit).
///
/// Returns the first one that cannot be read or does not verify as `Err((path, reason))`: the
/// history is advisory, so a caller may ignore it, but should not silently use a bad one.
pub fn read_history<S: TileStore + ?Sized>(
    store: &S,
    verifier: &dyn Verifier,
    size: u64,
) -> Result<Vec<KeptCheckpoint>, (String, String)> {
    let mut out = Vec::new();
    for block in 0..=history_block(size) {
        let path = history_path(block);
        let bytes = match store.read(&path) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => return Err((path, e.to_string())),
        };
        match open_kept(&path, &bytes, verifier) {
            Ok(checkpoint) => out.push(KeptCheckpoint {
                path,
                checkpoint,
                note: String::from_utf8_lossy(&bytes).into_owned(),
            }),
            Err(reason) => return Err((path, reason)),
        }
    }
    Ok(out)
}

/// Opens a kept checkpoint and checks it is filed under its own block.
pub(crate) fn open_kept(
    path: &str,
    bytes: &[u8],
    verifier: &dyn Verifier,
) -> Result<Checkpoint, String> {
    let (checkpoint, _) = Checkpoint::open(bytes, &[verifier]).map_err(|e| e.to_string())?;
    let block = history_block(checkpoint.size.get());
    if parse_history_path(path) != Some(block) {
        return Err(format!(
            "a checkpoint of size {} belongs at {}",
            checkpoint.size.get(),
            history_path(block)
        ));
    }
    Ok(checkpoint)
}

/// Whether a kept checkpoint for `block` exists.
pub(crate) fn has_history<S: TileStore + ?Sized>(store: &S, block: u64) -> io::Result<bool> {
    Ok(store.read(&history_path(block))?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(history_path(0), "history/000");
        assert_eq!(history_path(1234), "history/x001/234");
        assert_eq!(parse_history_path("history/x001/234"), Some(1234));
        assert_eq!(parse_history_path("history/1234"), None);
        assert_eq!(parse_history_path("tile/0/000"), None);
        assert_eq!(history_block(255), 0);
        assert_eq!(history_block(256), 1);
    }
}
