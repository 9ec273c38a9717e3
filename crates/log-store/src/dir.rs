//! A tlog-tiles directory read without writing anything: what a read-only ledger, a node
//! serving its tiles and an offline verifier with a copy of the log (`--log DIR`) use, as the
//! transport of [`poex_log::reader::LogReader`].
//!
//! Unlike [`FileStore::open`](crate::FileStore::open), which clears the writer's temporary
//! files, [`DirFiles`] only ever opens files for reading, so it is safe beside a running writer:
//! the checkpoint is replaced atomically after the tiles and bundles it covers are durable, and
//! old partial tiles and bundles are never deleted, so everything a checkpoint read earlier
//! refers to stays readable at its exact path.

use std::io;
use std::path::{Path, PathBuf};

use poex_log::reader::{LogFiles, LogReader, ReadError};

/// The files of a tlog-tiles directory (holding `checkpoint` and `tile/`), read-only.
#[derive(Clone, Debug)]
pub struct DirFiles {
    root: PathBuf,
}

/// A tlog-tiles directory read through [`LogReader`].
pub type DirTiles = LogReader<DirFiles>;

/// Why a file of a tlog-tiles directory could not be read.
pub type DirError = ReadError<io::Error>;

impl DirFiles {
    /// The directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirFiles { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory as a log served at `latest` entries (see [`LogReader::new`]).
    pub fn tiles(root: impl Into<PathBuf>, latest: u64) -> DirTiles {
        LogReader::new(DirFiles::new(root), latest)
    }
}

impl LogFiles for DirFiles {
    type Error = io::Error;

    /// Refuses paths that could leave the directory.
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let safe = !path.is_empty()
            && path
                .split('/')
                .all(|c| !c.is_empty() && (!c.starts_with('.') || c == ".p"));
        if !safe {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a tlog-tiles path",
            ));
        }
        match std::fs::read(self.root.join(path)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tile/0")).unwrap();
        std::fs::write(dir.path().join("tile/0/000.p"), b"x").unwrap();
        let files = DirFiles::new(dir.path());
        for bad in [
            "../x",
            "tile/../../etc/passwd",
            "",
            "/etc/passwd",
            "tile//0",
            ".git",
        ] {
            assert!(files.read(bad).is_err(), "{bad}");
        }
        assert_eq!(files.read("tile/0/000.p").unwrap(), Some(b"x".to_vec()));
        assert!(files.read("tile/0/001").unwrap().is_none());
    }
}
