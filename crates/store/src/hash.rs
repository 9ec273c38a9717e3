//! Streaming digests of files and directories.
//!
//! A file's digest is the digest of its bytes. A directory's digest, for an algorithm `A`, is
//! `A` over its *manifest*: for every regular file under it, sorted by the bytes of its
//! relative `/`-separated path, the line `<lowercase hex of A(file)>  <path>\n` — exactly what
//! `sha256sum` prints. Anyone can therefore reproduce it with coreutils (docs/digests.md):
//!
//! ```text
//! cd DIR && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum
//! ```
//!
//! Only regular files enter the manifest: an empty directory (or one holding only empty
//! directories) has the digest of the empty string. Symbolic links, devices, fifos and
//! sockets are refused, as are names that are not UTF-8 or that contain `\n`, `\r` or `\\`
//! (which `sha256sum` would escape, so the manifest would no longer be its output).
//!
//! Bytes are streamed through a reused buffer of [`BUFFER_SIZE`] bytes, so memory stays flat
//! whatever the file size; when both algorithms are asked, each buffer is read once and fed to
//! both, SHA-256 on one core and BLAKE3 on the others. Directory entries are hashed in
//! parallel with rayon.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use poex_core::{Algorithm, Digest, DigestSet};
use rayon::prelude::*;

use sha2::Digest as _;

/// Size of the read buffer each hashing thread reuses: large enough that BLAKE3's
/// [`update_rayon`](blake3::Hasher::update_rayon) splits it across cores with little overhead,
/// small enough to stay in the last-level cache.
pub const BUFFER_SIZE: usize = 4 << 20;

/// Below this many bytes a chunk is hashed on the calling thread: splitting it across cores
/// would cost more than it saves (BLAKE3's documentation suggests 128 KiB as the break-even).
const PARALLEL_THRESHOLD: usize = 128 << 10;

/// A progress callback: receives the number of bytes just hashed (an increment, not a total).
///
/// It is called from several threads at once and once per buffer or per small file, so it
/// must be cheap: add to an atomic counter or a progress bar, never block.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// A [`Progress`] that ignores every report.
pub fn no_progress(_bytes: u64) {}

pub use poex_core::asset::Layout;

/// One regular file of a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileEntry {
    /// Path relative to the tree root, `/`-separated (for a single-file tree: its file name).
    pub path: String,
    /// Number of bytes hashed.
    pub size: u64,
    /// The digests of the file's bytes, one per requested algorithm.
    pub digests: DigestSet,
}

/// The digests of a file or directory and of every file in it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tree {
    /// File or directory.
    pub kind: Layout,
    /// The digests of the whole: the file's content digest, or the directory digest.
    pub digests: DigestSet,
    /// Every regular file, sorted by the bytes of its path (one entry for a single file).
    pub files: Vec<FileEntry>,
    /// Sum of the file sizes.
    pub total_bytes: u64,
}

impl Tree {
    /// The tree of one regular file: its digests are the file's, its one entry is named by
    /// the file name.
    pub(crate) fn single_file(path: &Path, size: u64, digests: DigestSet) -> Tree {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Tree {
            kind: Layout::File,
            digests: digests.clone(),
            files: vec![FileEntry {
                path: name,
                size,
                digests,
            }],
            total_bytes: size,
        }
    }
}

/// Why a file or directory could not be hashed. Every variant names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// Reading (or, when copying, writing) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A symbolic link: its target could change after hashing, so poex refuses it.
    #[error(
        "{path} is a symbolic link; poex hashes only regular files and directories \
         (replace the link by a copy of its target, or pass the target's path)"
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A device, fifo or socket.
    #[error("{path} is a {kind}; poex hashes only regular files and directories (remove it)")]
    NotRegular {
        /// The special file.
        path: PathBuf,
        /// "fifo", "socket", "block device" or "character device".
        kind: &'static str,
    },
    /// A name that is not valid UTF-8 cannot be written in the manifest.
    #[error("{path}: the file name is not valid UTF-8; rename it")]
    NonUtf8Name {
        /// The offending path (lossily printed).
        path: PathBuf,
    },
    /// A name that `sha256sum` would escape, which would break the manifest format.
    #[error("{path}: the file name contains {what}; rename it")]
    UnsafeName {
        /// The offending path.
        path: PathBuf,
        /// "a newline", "a carriage return" or "a backslash".
        what: &'static str,
    },
    /// poex-core knows an algorithm this crate cannot compute yet.
    #[error("digest algorithm {0} is not supported by poex-store yet")]
    Unsupported(Algorithm),
    /// The caller asked for no algorithm at all.
    #[error("no digest algorithm was requested")]
    NoAlgorithm,
}

impl HashError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        HashError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Hashes the bytes of the regular file at `path` with each of `algorithms`, streaming.
///
/// A symbolic link at `path` is refused (it is opened with `O_NOFOLLOW`), as is anything that
/// is not a regular file.
pub fn hash_file(
    path: &Path,
    algorithms: &[Algorithm],
    progress: Progress<'_>,
) -> Result<DigestSet, HashError> {
    hash_one(path, algorithms, progress).map(|(digests, _)| digests)
}

/// Hashes one regular file; returns its digests and the number of bytes hashed.
fn hash_one(
    path: &Path,
    algorithms: &[Algorithm],
    progress: Progress<'_>,
) -> Result<(DigestSet, u64), HashError> {
    let mut hasher = Hasher::new(algorithms)?;
    let (mut file, _) = open_regular(path)?;
    let size = stream(&mut file, path, progress, |chunk| {
        hasher.update(chunk);
        Ok(())
    })?;
    Ok((hasher.finalize(), size))
}

/// Hashes a file or a directory (see the [module docs](self) for the directory digest).
pub fn hash_tree(
    path: &Path,
    algorithms: &[Algorithm],
    progress: Progress<'_>,
) -> Result<Tree, HashError> {
    // Check the algorithm list before touching the disk.
    Hasher::new(algorithms)?;
    match entry_kind(path)? {
        Layout::File => {
            let (digests, size) = hash_one(path, algorithms, progress)?;
            Ok(Tree::single_file(path, size, digests))
        }
        Layout::Directory => {
            let walk = walk(path)?;
            let files = walk
                .files
                .par_iter()
                .map(|rel| {
                    let (digests, size) = hash_one(&path.join(rel), algorithms, progress)?;
                    Ok(FileEntry {
                        path: rel.clone(),
                        size,
                        digests,
                    })
                })
                .collect::<Result<Vec<_>, HashError>>()?;
            Ok(tree_of_directory(algorithms, files))
        }
    }
}

/// The total size of the regular files at `path` (a file or a directory), for the length of
/// a progress bar. Refuses the same things [`hash_tree`] refuses.
pub fn total_size(path: &Path) -> Result<u64, HashError> {
    match entry_kind(path)? {
        Layout::File => Ok(fs::symlink_metadata(path)
            .map_err(|e| HashError::io(path, e))?
            .len()),
        Layout::Directory => {
            let walk = walk(path)?;
            walk.files.iter().try_fold(0u64, |sum, rel| {
                let full = path.join(rel);
                let len = fs::symlink_metadata(&full)
                    .map_err(|e| HashError::io(&full, e))?
                    .len();
                Ok(sum + len)
            })
        }
    }
}

/// The manifest of `files` for `algorithm`: the `sha256sum`-format lines, sorted by path
/// bytes, whose digest is the directory digest. `None` if a file lacks that algorithm.
pub fn manifest(algorithm: Algorithm, files: &[FileEntry]) -> Option<String> {
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut out = String::with_capacity(files.len() * (64 + 3 + 32));
    for f in sorted {
        let digest = f.digests.get(algorithm)?;
        out.push_str(&digest.hex());
        out.push_str("  ");
        out.push_str(&f.path);
        out.push('\n');
    }
    Some(out)
}

/// The directory digest of `files` for `algorithm`: `algorithm` over [`manifest`].
/// `None` if a file lacks that algorithm.
pub fn directory_digest(algorithm: Algorithm, files: &[FileEntry]) -> Option<Digest> {
    manifest(algorithm, files).map(|m| algorithm.hash(m.as_bytes()))
}

/// An incremental hasher for several algorithms at once: each chunk is fed to every one.
///
/// Large chunks (128 KiB and up) are hashed in parallel: SHA-256 and BLAKE3 side by side
/// when both are asked, BLAKE3 split across the rayon pool when it is alone.
#[derive(Clone, Debug)]
pub struct Hasher {
    sha256: Option<sha2::Sha256>,
    blake3: Option<blake3::Hasher>,
}

impl Hasher {
    /// A hasher for `algorithms` (duplicates are ignored; at least one is required).
    pub fn new(algorithms: &[Algorithm]) -> Result<Self, HashError> {
        let mut h = Hasher {
            sha256: None,
            blake3: None,
        };
        for alg in algorithms {
            match alg {
                Algorithm::Sha256 => h.sha256 = Some(sha2::Sha256::new()),
                Algorithm::Blake3 => h.blake3 = Some(blake3::Hasher::new()),
                // Algorithm is non_exhaustive: a new one must be wired here before use.
                other => return Err(HashError::Unsupported(*other)),
            }
        }
        if h.sha256.is_none() && h.blake3.is_none() {
            return Err(HashError::NoAlgorithm);
        }
        Ok(h)
    }

    /// Feeds `chunk` to every algorithm.
    pub fn update(&mut self, chunk: &[u8]) {
        let big = chunk.len() >= PARALLEL_THRESHOLD;
        match (&mut self.sha256, &mut self.blake3) {
            // SHA-256 is the slower by far (one core, no parallel form): give it one core
            // and BLAKE3 the other, rather than splitting BLAKE3 over both.
            (Some(s), Some(b)) if big => {
                rayon::join(|| s.update(chunk), || b.update(chunk));
            }
            (s, b) => {
                if let Some(s) = s {
                    s.update(chunk);
                }
                if let Some(b) = b {
                    if big {
                        b.update_rayon(chunk);
                    } else {
                        b.update(chunk);
                    }
                }
            }
        }
    }

    /// The digests of everything fed so far.
    pub fn finalize(self) -> DigestSet {
        let mut set = DigestSet::new();
        if let Some(s) = self.sha256 {
            set.insert(Digest::new(Algorithm::Sha256, s.finalize().into()));
        }
        if let Some(b) = self.blake3 {
            set.insert(Digest::new(Algorithm::Blake3, *b.finalize().as_bytes()));
        }
        set
    }
}

// ---- crate-internal building blocks, shared with `objects` -----------------------------

/// Builds the [`Tree`] of a directory from its file entries (in any order).
pub(crate) fn tree_of_directory(algorithms: &[Algorithm], mut files: Vec<FileEntry>) -> Tree {
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut digests = DigestSet::new();
    for &alg in algorithms {
        // Every entry was hashed with every algorithm in `algorithms`.
        if let Some(d) = directory_digest(alg, &files) {
            digests.insert(d);
        }
    }
    let total_bytes = files.iter().map(|f| f.size).sum();
    Tree {
        kind: Layout::Directory,
        digests,
        files,
        total_bytes,
    }
}

/// Whether `path` is a regular file or a directory; refuses anything else without following
/// a symbolic link.
pub(crate) fn entry_kind(path: &Path) -> Result<Layout, HashError> {
    let meta = fs::symlink_metadata(path).map_err(|e| HashError::io(path, e))?;
    let ft = meta.file_type();
    if ft.is_file() {
        Ok(Layout::File)
    } else if ft.is_dir() {
        Ok(Layout::Directory)
    } else {
        Err(refusal(path, ft))
    }
}

fn refusal(path: &Path, ft: fs::FileType) -> HashError {
    if ft.is_symlink() {
        return HashError::Symlink { path: path.into() };
    }
    let kind = if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    };
    HashError::NotRegular {
        path: path.into(),
        kind,
    }
}

/// The contents of a directory: its subdirectories and regular files, as relative
/// `/`-separated paths; files sorted by path bytes, directories parents first.
pub(crate) struct Walk {
    pub(crate) dirs: Vec<String>,
    pub(crate) files: Vec<String>,
}

/// Lists `root` recursively, refusing links, special files and unsafe names.
///
/// Uses the type the directory entry reports (no `stat` per file), so listing 10,000 files
/// costs a few `getdents` calls.
pub(crate) fn walk(root: &Path) -> Result<Walk, HashError> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    let mut pending: Vec<String> = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let entries = fs::read_dir(&dir).map_err(|e| HashError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| HashError::io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(HashError::NonUtf8Name { path: entry.path() });
            };
            check_name(name, &entry.path())?;
            let child = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry
                .file_type()
                .map_err(|e| HashError::io(entry.path(), e))?;
            if ft.is_file() {
                files.push(child);
            } else if ft.is_dir() {
                dirs.push(child.clone());
                pending.push(child);
            } else {
                return Err(refusal(&entry.path(), ft));
            }
        }
    }
    files.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    // Sorting by path puts every parent before its children (a prefix sorts first).
    dirs.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(Walk { dirs, files })
}

fn check_name(name: &str, path: &Path) -> Result<(), HashError> {
    let what = if name.contains('\n') {
        "a newline"
    } else if name.contains('\r') {
        "a carriage return"
    } else if name.contains('\\') {
        "a backslash"
    } else {
        return Ok(());
    };
    Err(HashError::UnsafeName {
        path: path.into(),
        what,
    })
}

/// Opens a regular file for reading without following a symbolic link, and returns it
/// with its size at open time.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), HashError> {
    // O_NOFOLLOW: a link swapped in after the directory was listed is refused, not followed.
    // O_NONBLOCK: a fifo swapped in is refused below instead of blocking open(); it has no
    // effect on regular files.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                HashError::Symlink { path: path.into() }
            } else {
                HashError::io(path, e)
            }
        })?;
    let meta = file.metadata().map_err(|e| HashError::io(path, e))?;
    if !meta.is_file() {
        return Err(refusal(path, meta.file_type()));
    }
    Ok((file, meta.len()))
}

thread_local! {
    // One buffer per thread, reused for every file that thread hashes: hashing 10,000 small
    // files must not allocate 10,000 buffers.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads `file` to its end in chunks of up to [`BUFFER_SIZE`] bytes, passing each to `sink`
/// in order and reporting it to `progress`. Returns the number of bytes read.
pub(crate) fn stream(
    file: &mut File,
    path: &Path,
    progress: Progress<'_>,
    sink: impl FnMut(&[u8]) -> Result<(), HashError>,
) -> Result<u64, HashError> {
    let size = file.metadata().map_err(|e| HashError::io(path, e))?.len();
    if size >= PIPELINE_THRESHOLD {
        stream_pipelined(file, path, progress, sink)
    } else {
        stream_simple(file, path, progress, sink)
    }
}

/// Files at least this large are read on a separate thread while the previous buffer is
/// hashed; below it, the cost of spawning the thread outweighs the overlap.
const PIPELINE_THRESHOLD: u64 = 2 * BUFFER_SIZE as u64;

/// Buffers in flight in [`stream_pipelined`]: one being filled, one being hashed, one spare.
const PIPELINE_BUFFERS: usize = 3;

/// Reads on a helper thread, so that copying from the page cache (a third of the cost of
/// SHA-256, more than that of BLAKE3 on two cores) overlaps with hashing. Memory stays
/// bounded: [`PIPELINE_BUFFERS`] buffers circulate between the two threads.
fn stream_pipelined(
    file: &mut File,
    path: &Path,
    progress: Progress<'_>,
    mut sink: impl FnMut(&[u8]) -> Result<(), HashError>,
) -> Result<u64, HashError> {
    let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<(Vec<u8>, usize)>>(PIPELINE_BUFFERS);
    let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(PIPELINE_BUFFERS);
    for _ in 0..PIPELINE_BUFFERS {
        free_tx
            .send(vec![0; BUFFER_SIZE])
            .expect("the channel has room for PIPELINE_BUFFERS buffers and its receiver is alive");
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends when the consumer stops returning buffers (done or failed) or at EOF:
            // dropping `full_tx` tells the consumer there is nothing more.
            while let Ok(mut buf) = free_rx.recv() {
                match fill(file, &mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        let last = n < buf.len();
                        if full_tx.send(Ok((buf, n))).is_err() || last {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        // Moved into this closure so that an early return drops it, which unblocks the
        // reader waiting for a free buffer and lets the scope end.
        let free_tx = free_tx;
        let mut total = 0u64;
        for message in full_rx {
            let (buf, n) = message.map_err(|e| HashError::io(path, e))?;
            sink(&buf[..n])?;
            progress(n as u64);
            total += n as u64;
            // The reader may already have finished; a closed channel is fine.
            let _ = free_tx.send(buf);
        }
        Ok(total)
    })
}

/// Reads on the calling thread into that thread's reused buffer.
fn stream_simple(
    file: &mut File,
    path: &Path,
    progress: Progress<'_>,
    mut sink: impl FnMut(&[u8]) -> Result<(), HashError>,
) -> Result<u64, HashError> {
    BUFFER.with(|cell| {
        // A sink may itself stream (it never does today); fall back to a fresh buffer rather
        // than panic on a second borrow.
        let mut own;
        let mut borrowed;
        let buf: &mut Vec<u8> = match cell.try_borrow_mut() {
            Ok(b) => {
                borrowed = b;
                &mut borrowed
            }
            Err(_) => {
                own = Vec::new();
                &mut own
            }
        };
        if buf.len() < BUFFER_SIZE {
            buf.resize(BUFFER_SIZE, 0);
        }
        let mut total = 0u64;
        loop {
            let n = fill(file, buf).map_err(|e| HashError::io(path, e))?;
            if n == 0 {
                return Ok(total);
            }
            sink(&buf[..n])?;
            progress(n as u64);
            total += n as u64;
            if n < buf.len() {
                // A short fill means end of file (fill loops until full or EOF).
                return Ok(total);
            }
        }
    })
}

/// Reads until `buf` is full or the file ends; returns the number of bytes read.
fn fill(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sorts_by_bytes_not_by_component() {
        // '.' (0x2e) sorts before '/' (0x2f): "a.b" comes before "a/b", as with `sort -z`.
        let d = |p: &str| FileEntry {
            path: p.into(),
            size: 0,
            digests: DigestSet::of([Algorithm::Sha256.hash(b"")]),
        };
        let m = manifest(Algorithm::Sha256, &[d("a/b"), d("a.b"), d("B")]).unwrap();
        let paths: Vec<&str> = m.lines().map(|l| &l[66..]).collect();
        assert_eq!(paths, ["B", "a.b", "a/b"]);
        assert!(manifest(Algorithm::Blake3, &[d("x")]).is_none());
    }

    #[test]
    fn empty_directory_is_digest_of_empty_string() {
        let t = tree_of_directory(&[Algorithm::Sha256], Vec::new());
        assert_eq!(
            t.digests.sha256().unwrap().hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn no_algorithm_is_an_error() {
        assert!(matches!(Hasher::new(&[]), Err(HashError::NoAlgorithm)));
    }
}
