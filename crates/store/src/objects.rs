//! The content-addressed object store: `objects/<blake3 hex>`, a read-only copy of each
//! imported file or directory, named by its BLAKE3 digest (the directory digest for a
//! directory, see [`crate::hash`]).
//!
//! Objects are world-readable (files 0444, directories 0555) so that a sandbox running as an
//! unprivileged uid can read them, and writable by nobody: a change needs a deliberate
//! `chmod` first, and [`Objects::verify`] catches it anyway. That is why the run-time check
//! re-hashes rather than trusting the name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use poex_core::{Algorithm, Digest, DigestSet};
use rayon::prelude::*;

use crate::fsutil::{TempGuard, ensure_dir, fsync_dir, temp_name};
use crate::hash::{
    self, FileEntry, HashError, Hasher, Layout, Progress, Tree, open_regular, stream,
};

/// Mode of an imported file: readable by every uid, writable by none.
pub const FILE_MODE: u32 = 0o444;
/// Mode of an imported directory: readable and searchable by every uid, writable by none.
pub const DIR_MODE: u32 = 0o555;
/// Mode of the `objects/` directory itself (the sandbox uid must traverse it).
pub const STORE_DIR_MODE: u32 = 0o755;

/// Import computes both digests in its one read pass: SHA-256 for receipts, BLAKE3 for the
/// object's name and the fast run-time check.
const IMPORT_ALGORITHMS: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Blake3];

/// The object directory. Cheap to clone; holds no open files.
#[derive(Clone, Debug)]
pub struct Objects {
    dir: PathBuf,
}

/// The result of [`Objects::import`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stored {
    /// SHA-256 and BLAKE3 digests of the imported bytes, per file and for the whole.
    pub tree: Tree,
    /// Where the object lives: `objects/<blake3 hex>`.
    pub path: PathBuf,
    /// True when an object with this digest was already there; it was kept and the new
    /// copy discarded.
    pub already_present: bool,
}

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// Reading the source, or writing the copy, failed or met something poex refuses.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A filesystem operation on the store failed.
    #[error("object store {path}: {source}")]
    Io {
        /// The store path concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Objects are named by BLAKE3 digests; another algorithm was given.
    #[error(
        "objects are named by their blake3 digest, got {digest}; look the blake3 digest up in the registry record"
    )]
    NotBlake3 {
        /// The digest given.
        digest: Digest,
    },
    /// No object has this digest.
    #[error("no object {digest} at {path}; import (publish) it first")]
    Missing {
        /// The digest looked for.
        digest: Digest,
        /// Where it would be.
        path: PathBuf,
    },
    /// The object's bytes no longer match its name: someone changed it after import.
    #[error(
        "object {path} was modified after import: expected {expected}, found {actual}; \
         do not use it, and re-publish from a trusted copy"
    )]
    Tampered {
        /// The object.
        path: PathBuf,
        /// The digest it is named by.
        expected: Digest,
        /// The digest of what is there now.
        actual: Digest,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ObjectError + '_ {
    move |source| ObjectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Objects {
    /// Opens the object directory `dir`, creating it with mode 0755 if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ObjectError> {
        let dir = dir.into();
        ensure_dir(&dir, STORE_DIR_MODE).map_err(io_err(&dir))?;
        Ok(Objects { dir })
    }

    /// The object directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the object with BLAKE3 digest `digest` lives (whether or not it exists).
    pub fn path_of(&self, digest: &Digest) -> Result<PathBuf, ObjectError> {
        if digest.algorithm() != Algorithm::Blake3 {
            return Err(ObjectError::NotBlake3 { digest: *digest });
        }
        Ok(self.dir.join(digest.hex()))
    }

    /// Copies the file or directory at `src` into the store, hashing it (SHA-256 and BLAKE3)
    /// in the same read pass, and returns its digests and the object's path.
    ///
    /// Symbolic links, special files and unsafe names are refused exactly as by
    /// [`hash::hash_tree`], so the object's digest is the digest of the source.
    ///
    /// Durability: the copy is built in a temporary entry of the object directory (same
    /// filesystem), every file is fsynced and every directory fsynced after its entries and
    /// mode are final, and only then is the copy renamed (directories) or hard-linked (files)
    /// to its name, and the object directory fsynced. If we crash before the rename, a
    /// `.tmp-*` entry is left, which nothing reads and which can be deleted while no import
    /// runs; after it, the object is complete. If the object already exists, the existing
    /// one is kept (it is never overwritten) and the copy discarded.
    pub fn import(&self, src: &Path, progress: Progress<'_>) -> Result<Stored, ObjectError> {
        let kind = hash::entry_kind(src)?;
        let mut temp = TempGuard::new(self.dir.join(temp_name("")));
        let tree = match kind {
            Layout::File => {
                let (digests, size) = copy_file(src, temp.path(), progress)?;
                sync_files(&[temp.path().to_path_buf()])?;
                Tree::single_file(src, size, digests)
            }
            Layout::Directory => {
                let walk = hash::walk(src)?;
                // 0700 while we build it: nobody else should see a half-made copy.
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(temp.path())
                    .map_err(io_err(temp.path()))?;
                for d in &walk.dirs {
                    let p = temp.path().join(d);
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&p)
                        .map_err(io_err(&p))?;
                }
                let files = walk
                    .files
                    .par_iter()
                    .map(|rel| {
                        let (digests, size) =
                            copy_file(&src.join(rel), &temp.path().join(rel), progress)?;
                        Ok(FileEntry {
                            path: rel.clone(),
                            size,
                            digests,
                        })
                    })
                    .collect::<Result<Vec<_>, ObjectError>>()?;
                let copies: Vec<PathBuf> =
                    walk.files.iter().map(|rel| temp.path().join(rel)).collect();
                sync_files(&copies)?;
                // Seal children before parents; each directory is fsynced once its entries
                // and its own mode are final.
                for d in walk.dirs.iter().rev() {
                    seal_dir(&temp.path().join(d))?;
                }
                seal_dir(temp.path())?;
                hash::tree_of_directory(&IMPORT_ALGORITHMS, files)
            }
        };
        let blake3 = *tree
            .digests
            .blake3()
            .expect("import hashes with IMPORT_ALGORITHMS, which include BLAKE3");
        let path = self.path_of(&blake3)?;

        // Keep an existing object: we never replace bytes someone may be reading.
        if fs::symlink_metadata(&path).is_ok() {
            return Ok(Stored {
                tree,
                path,
                already_present: true,
            });
        }
        let placed = match kind {
            // link() is create-or-fail: of two concurrent imports exactly one places it.
            Layout::File => match fs::hard_link(temp.path(), &path) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(io_err(&path)(e)),
            },
            // rename() of a directory onto a non-empty directory fails: the same guarantee.
            // (Onto an empty one it succeeds, replacing an empty object by an empty object.)
            Layout::Directory => match fs::rename(temp.path(), &path) {
                Ok(()) => {
                    temp.disarm();
                    true
                }
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists
                        || e.kind() == io::ErrorKind::DirectoryNotEmpty =>
                {
                    false
                }
                Err(e) => return Err(io_err(&path)(e)),
            },
        };
        // If we crash before this fsync the new name may be lost; the import is then simply
        // not done, and running it again redoes it.
        fsync_dir(&self.dir).map_err(io_err(&self.dir))?;
        // For files, the guard now removes the temporary name; the object keeps the inode.
        drop(temp);
        Ok(Stored {
            tree,
            path,
            already_present: !placed,
        })
    }

    /// Re-hashes the object named `digest` (BLAKE3 only: the fast run-time check) and returns
    /// its tree, or [`ObjectError::Tampered`] with both digests if it no longer matches.
    pub fn verify(&self, digest: &Digest, progress: Progress<'_>) -> Result<Tree, ObjectError> {
        let path = self.path_of(digest)?;
        match fs::symlink_metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ObjectError::Missing {
                    digest: *digest,
                    path,
                });
            }
            Err(e) => return Err(io_err(&path)(e)),
        }
        let tree = hash::hash_tree(&path, &[Algorithm::Blake3], progress)?;
        let actual = *tree
            .digests
            .blake3()
            .expect("hash_tree was asked for BLAKE3");
        if actual != *digest {
            return Err(ObjectError::Tampered {
                path,
                expected: *digest,
                actual,
            });
        }
        Ok(tree)
    }
}

/// Copies one regular file to `dst` (which must not exist), hashing it in the same pass, and
/// makes it read-only. Returns its digests and size. The caller fsyncs it ([`sync_files`]).
fn copy_file(
    src: &Path,
    dst: &Path,
    progress: Progress<'_>,
) -> Result<(DigestSet, u64), ObjectError> {
    let (mut input, _) = open_regular(src)?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(io_err(dst))?;
    let mut hasher = Hasher::new(&IMPORT_ALGORITHMS)?;
    let size = stream(&mut input, src, progress, |chunk| {
        // Write on one core while hashing on the other.
        let (written, ()) = rayon::join(|| out.write_all(chunk), || hasher.update(chunk));
        written.map_err(|e| HashError::io(dst, e))
    })?;
    // Set the mode explicitly: the umask must not take the read bit from other uids.
    out.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(io_err(dst))?;
    Ok((hasher.finalize(), size))
}

/// Most concurrent fsyncs [`sync_files`] issues.
const SYNC_THREADS: usize = 32;

/// fsyncs every file in `paths` (data and mode) before any of them gets its final name.
///
/// fsync is waiting on the disk, not work for the CPU, and a journaling filesystem commits
/// concurrent fsyncs together; so this runs on up to [`SYNC_THREADS`] plain threads rather
/// than on the two-core rayon pool. Measured here (docs/performance.md): importing 10,000
/// small files took 1.2 s this way against 2.3-3.4 s with an fsync per file on the pool.
fn sync_files(paths: &[PathBuf]) -> Result<(), ObjectError> {
    let next = AtomicUsize::new(0);
    let threads = paths.len().clamp(1, SYNC_THREADS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<(), ObjectError> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(i) else {
                            return Ok(());
                        };
                        // fsync through a read-only descriptor flushes the file all the same.
                        File::open(path)
                            .and_then(|f| f.sync_all())
                            .map_err(io_err(path))?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

fn seal_dir(dir: &Path) -> Result<(), ObjectError> {
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(io_err(dir))?;
    poex_durable::sync_dir(dir).map_err(io_err(dir))
}
