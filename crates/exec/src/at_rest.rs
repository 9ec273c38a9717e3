//! Datasets kept encrypted at rest (docs/seal.md, "Datasets at rest").
//!
//! A dataset published *sealed at rest* is never in the object store as plaintext: its bytes
//! (a file's, or a folder's as a tar stream) are sealed with poex-seal to the owner's data key
//! ([`Home::data_identity`](poex_home::Home::data_identity)) and only the sealed object is
//! imported. Its registry record still carries the plaintext's digests (requests pin them,
//! receipts name them) and says where the sealed object is ([`SealedAt`]).
//!
//! - [`seal_into_store`] hashes and seals a file or folder in one read of each file and
//!   imports the sealed bytes; [`SealedImport::record`] makes the dataset's record.
//! - [`PlainDir`] is one job's private plaintext folder, mode 0700: in `/dev/shm` (memory)
//!   when it is there with room for the job's datasets, else under `<jobs dir>/.plain/`. It
//!   removes itself and everything in it when dropped, so a job's plaintext goes when the job
//!   ends however it ends (success, failure, cancel, error, or a panic that unwinds).
//! - [`open_into`] decrypts a sealed dataset into a [`PlainDir`], hashing the plaintext
//!   (SHA-256 and BLAKE3) as it is written, and refuses it unless both digests are the
//!   record's. What the sandbox then mounts read-only is exactly what was checked.
//! - [`remove_leftovers`] removes the plaintext folders of processes that died without
//!   dropping theirs (`kill -9`, power loss): a node calls it when it starts, the pipeline
//!   before it opens a sealed dataset.
//!
//! What this does not do: keep plaintext out of swap (tmpfs pages can be swapped out; use
//! encrypted swap or none), erase freed disk blocks when the fallback folder on disk is used,
//! or protect plaintext from root on the processor while a job runs.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::thread;

use poex_core::{Algorithm, Digest, DigestSet};
use poex_seal::{OpenError, SealError};
use poex_store::hash::{HashError, Hasher, Layout, Progress, hash_tree, no_progress};
use poex_store::objects::{ObjectError, Objects};
use poex_store::registry::{AssetKind, Name, Policy, Record, SealedAt};
use serde_json::{Value, json};

/// The owner's data identity: poex-seal's X25519 identity, re-exported for callers that hold
/// one ([`Home::data_identity`](poex_home::Home::data_identity)) without naming poex-seal.
pub use poex_seal::{Identity, Recipient};

/// Where a job's plaintext goes when memory has room: a tmpfs on every common Linux system.
pub const SHM_DIR: &str = "/dev/shm";
/// The name prefix of a plaintext folder in [`SHM_DIR`]: `poex-plain-<pid>-<random>`.
pub const SHM_PREFIX: &str = "poex-plain-";
/// The fallback parent of plaintext folders, under the jobs folder: `.plain/<pid>-<random>`.
pub const DISK_DIR: &str = ".plain";
/// Room kept free in [`SHM_DIR`] besides the datasets: other users of shared memory (and the
/// tar stream's own directories) need some.
const SHM_MARGIN: u64 = 64 << 20;
/// Most directories a sealed folder may unpack to, beyond one per file: a bound on what a
/// forged tar stream could make the processor create before its digest is checked.
const EXTRA_DIRS: u64 = 100_000;

/// Why a file or folder could not be sealed into the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AtRestError {
    /// Reading the source or writing the sealed copy failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The source holds something the store refuses (a link, a special file, a bad name).
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The sealed copy could not be imported.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// poex-seal refused.
    #[error("sealing {path}: {source}")]
    Seal {
        /// The file or folder.
        path: PathBuf,
        /// Its error.
        source: SealError,
    },
    /// A file changed between hashing and sealing (folders are read twice).
    #[error("{path} changed while it was being sealed; publish it again once nothing writes to it")]
    Changed {
        /// The file.
        path: PathBuf,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AtRestError + '_ {
    move |source| AtRestError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What [`seal_into_store`] did: the plaintext's description (what a record's digests,
/// layout, size and file count say) and the sealed object now in the store.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SealedImport {
    /// SHA-256 and BLAKE3 of the plaintext (a file's, or the directory digest of a folder).
    pub digests: DigestSet,
    /// File or folder.
    pub layout: Layout,
    /// Bytes of plaintext (the sum of the files' sizes for a folder).
    pub size: u64,
    /// Regular files (1 for a file).
    pub file_count: u64,
    /// The sealed object, for the record.
    pub sealed: SealedAt,
    /// Where the sealed object is.
    pub object: PathBuf,
    /// An object with these sealed bytes was already in the store (never, in practice: each
    /// sealing draws a new file key).
    pub already_present: bool,
}

impl SealedImport {
    /// The dataset's registry record, published now by `publisher` under `name`.
    pub fn record(&self, name: Name, publisher: String, policy: Policy) -> Record {
        Record {
            kind: AssetKind::Dataset,
            name,
            digests: self.digests.clone(),
            layout: self.layout,
            size: self.size,
            file_count: self.file_count,
            published_at: poex_store::now_rfc3339(),
            publisher,
            entrypoint: None,
            policy: Some(policy),
            sealed: Some(self.sealed.clone()),
        }
    }
}

/// Seals the file or folder at `src` to `recipient` and imports only the sealed bytes into
/// `objects`.
///
/// A file is read once: hashed (SHA-256, BLAKE3) and sealed in the same pass. A folder is
/// hashed first ([`hash_tree`], which refuses links, special files and unsafe names), then
/// read again into a tar stream of its folders and regular files, in path order, with no
/// owners, times or modes from the disk; each file's BLAKE3 is checked on the second read, so
/// what is sealed is what was hashed ([`AtRestError::Changed`] otherwise). `progress` hears
/// of the first read only.
///
/// The sealed bytes go to a temporary file in the object directory (a `.tmp-*` name, which
/// the store skips), are imported (the store's create-once copy), and the temporary is
/// removed whatever happens.
pub fn seal_into_store(
    objects: &Objects,
    src: &Path,
    recipient: &Recipient,
    progress: Progress<'_>,
) -> Result<SealedImport, AtRestError> {
    let meta = fs::symlink_metadata(src).map_err(io_err(src))?;
    let temp = Removing(objects.dir().join(format!(
        ".tmp-seal-{}-{}",
        std::process::id(),
        poex_core::request::random_hex16().unwrap_or_else(|_| "0".into())
    )));
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp.0)
        .map_err(io_err(&temp.0))?;
    let seal_err = |source| AtRestError::Seal {
        path: src.to_owned(),
        source,
    };
    let (plain, sealed_facts) = if meta.is_dir() {
        let tree = hash_tree(src, &[Algorithm::Sha256, Algorithm::Blake3], progress)?;
        let dirs = list_dirs(src)?;
        let (reader, writer) = io::pipe().map_err(io_err(src))?;
        let (tarred, sealed) = thread::scope(|scope| {
            let tar = scope.spawn(|| write_tar(src, &dirs, &tree.files, writer));
            // The reader is dropped when encrypt returns, so a tar writer still writing then
            // gets a broken pipe and ends; a tar writer that fails ends the stream early, and
            // its error, not the short stream, is what counts.
            let sealed = poex_seal::encrypt(std::slice::from_ref(recipient), reader, &out);
            let tarred = tar.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (tarred, sealed)
        });
        // A failed seal closes the pipe under the tar writer: its error is the cause.
        let sealed = sealed.map_err(seal_err)?;
        tarred?;
        let plain = Plain {
            digests: tree.digests.clone(),
            layout: Layout::Directory,
            size: tree.total_bytes,
            file_count: tree.files.len() as u64,
        };
        (plain, sealed)
    } else if meta.is_file() {
        let file = open_no_follow(src).map_err(io_err(src))?;
        // What was opened is what was listed: not a fifo or device swapped in since.
        if !file.metadata().map_err(io_err(src))?.is_file() {
            return Err(AtRestError::Changed {
                path: src.to_owned(),
            });
        }
        let mut reader = HashingReader {
            inner: file,
            hasher: Hasher::new(&[Algorithm::Blake3])?,
            progress,
        };
        let sealed = poex_seal::encrypt(std::slice::from_ref(recipient), &mut reader, &out)
            .map_err(seal_err)?;
        let mut digests = reader.hasher.finalize();
        // poex-seal hashes the plaintext with SHA-256 on its own thread as it reads it.
        digests.insert(sealed.plaintext_sha256);
        let plain = Plain {
            digests,
            layout: Layout::File,
            size: sealed.plaintext_len,
            file_count: 1,
        };
        (plain, sealed)
    } else {
        // hash_tree names what it is (a link, a fifo, ...) and why poex refuses it.
        hash_tree(src, &[Algorithm::Blake3], &no_progress)?;
        return Err(AtRestError::Io {
            path: src.to_owned(),
            source: io::Error::other("neither a regular file nor a folder"),
        });
    };
    drop(out);
    let stored = objects.import(&temp.0, &no_progress)?;
    if stored.tree.digests.sha256() != Some(&sealed_facts.ciphertext_sha256) {
        return Err(AtRestError::Changed {
            path: temp.0.clone(),
        });
    }
    let payload = match plain.layout {
        Layout::Directory => SealedAt::PAYLOAD_TAR,
        _ => SealedAt::PAYLOAD_FILE,
    };
    Ok(SealedImport {
        digests: plain.digests,
        layout: plain.layout,
        size: plain.size,
        file_count: plain.file_count,
        sealed: SealedAt::new(
            payload,
            stored.tree.digests.clone(),
            stored.tree.total_bytes,
            recipient.to_string(),
        ),
        object: stored.path,
        already_present: stored.already_present,
    })
}

/// Removes the object named `digest` (a BLAKE3 digest) from `objects`: a sealed object that
/// lost the race to a record, or a plaintext upload once its sealed copy is recorded. The
/// caller makes sure no record names it. Removing a missing object is not an error.
///
/// This only unlinks: the file system may keep the freed blocks until they are reused.
pub fn remove_object(objects: &Objects, digest: &Digest) -> io::Result<()> {
    let path = objects
        .path_of(digest)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => {
            make_writable(&path);
            fs::remove_dir_all(&path)
        }
        Ok(_) => fs::remove_file(&path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }?;
    poex_durable::sync_dir(objects.dir())
}

/// The `sealedAtRest` annotation of a dataset in a receipt: the sealed object the processor
/// opened, beside the plaintext digests the descriptor itself carries.
pub fn annotation(sealed: &SealedAt) -> Value {
    json!({
        "format": sealed.format,
        "digest": sealed.digests,
        "bytes": sealed.size,
    })
}

/// Why a sealed dataset could not be opened for a job. Each is a refusal: nothing runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnsealError {
    /// The record is not of a sealed dataset.
    #[error("it is not kept sealed at rest")]
    NotSealed,
    /// The processor was given no data identity.
    #[error(
        "it is kept sealed at rest (to {recipient}) and this processor has no data identity to open it; run the job on the home whose keys/data.x25519 it was sealed to"
    )]
    NoIdentity {
        /// The recipient the record names.
        recipient: String,
    },
    /// The identity given is not the one the dataset was sealed to.
    #[error(
        "it is sealed at rest to {recipient}, and this processor's data identity ({identity}) cannot open it"
    )]
    WrongKey {
        /// The recipient the record names.
        recipient: String,
        /// The identity's recipient.
        identity: String,
    },
    /// The sealed object is not in the store.
    #[error("its sealed object is missing from the store: {0}")]
    Missing(ObjectError),
    /// The sealed object does not open: it was altered, cut or extended.
    #[error("its sealed object {object} does not open ({source}); the stored copy was modified")]
    Damaged {
        /// The sealed object's BLAKE3 digest.
        object: Digest,
        /// poex-seal's error.
        source: OpenError,
    },
    /// The sealed object opened but is not the one the record names (replaced by another
    /// file sealed to the same key).
    #[error(
        "its sealed object does not match the registry: expected {expected}, found {actual}; the stored copy was modified"
    )]
    SealedMismatch {
        /// The record's SHA-256 of the sealed object.
        expected: Digest,
        /// What was read.
        actual: Digest,
    },
    /// The plaintext is not what the record says.
    #[error(
        "does not match the registry: expected {expected}, found {actual}; the stored copy was modified"
    )]
    Mismatch {
        /// The record's digest.
        expected: Digest,
        /// The plaintext's.
        actual: Digest,
    },
    /// The plaintext is larger than the record says (decryption stopped there).
    #[error(
        "its sealed object holds more than the {limit} bytes the registry records; the stored copy was modified"
    )]
    TooLarge {
        /// The record's size.
        limit: u64,
    },
    /// A sealed folder's tar stream holds something poex never writes there.
    #[error("its sealed folder is malformed: {0}; the stored copy was modified")]
    BadArchive(String),
    /// Writing the plaintext failed on the processor (a full disk, for instance).
    #[error("its plaintext could not be written to {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl UnsealError {
    /// The digest found instead of the expected one, for the refusal's audit event.
    pub fn actual(&self) -> Option<Digest> {
        match self {
            UnsealError::SealedMismatch { actual, .. } | UnsealError::Mismatch { actual, .. } => {
                Some(*actual)
            }
            _ => None,
        }
    }
}

/// One job's private plaintext folder (mode 0700), removed with everything in it when
/// dropped. See the [module docs](self) for where it is.
#[derive(Debug)]
pub struct PlainDir {
    path: PathBuf,
    in_memory: bool,
}

impl PlainDir {
    /// Creates a new folder with room for `need` bytes: in [`SHM_DIR`] if it is a folder this
    /// process can write with `need` bytes and a margin free, else in `<jobs_dir>/.plain/`
    /// (created 0700).
    pub fn create(jobs_dir: &Path, need: u64) -> io::Result<PlainDir> {
        let unique = format!(
            "{}-{}",
            std::process::id(),
            poex_core::request::random_hex16().map_err(|e| io::Error::other(e.to_string()))?
        );
        let shm = Path::new(SHM_DIR);
        if free_bytes(shm).is_some_and(|free| free >= need.saturating_add(SHM_MARGIN)) {
            let path = shm.join(format!("{SHM_PREFIX}{unique}"));
            if private_dir(&path).is_ok() {
                return Ok(PlainDir {
                    path,
                    in_memory: true,
                });
            }
        }
        let parent = jobs_dir.join(DISK_DIR);
        match fs::DirBuilder::new().mode(0o700).create(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let path = parent.join(unique);
        private_dir(&path)?;
        Ok(PlainDir {
            path,
            in_memory: false,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where dataset `name`'s plaintext is (or goes): `<folder>/<name>`.
    pub fn path_of(&self, name: &Name) -> PathBuf {
        self.path.join(name.as_str())
    }

    /// Whether the folder is in memory ([`SHM_DIR`]) rather than on disk.
    pub fn in_memory(&self) -> bool {
        self.in_memory
    }
}

impl Drop for PlainDir {
    fn drop(&mut self) {
        // Best effort: what cannot be removed now is removed by remove_leftovers later.
        remove_tree(&self.path);
    }
}

/// Opens the sealed object of `record` with `identity` into `dir` (as
/// [`PlainDir::path_of`] the record's name), and checks the plaintext against the record.
///
/// A file's SHA-256 and BLAKE3 are computed as it is written; a folder's tar stream is
/// unpacked (folders and regular files only, no path leaving the folder, no more bytes or
/// files than the record says), then hashed as [`hash_tree`] hashes it. The sealed object's
/// own SHA-256 is checked too. Files end 0444 and folders 0555 so the sandbox's uid can read
/// them; the [`PlainDir`] around them (0700) keeps every other user out.
///
/// On error whatever was written stays in `dir` until `dir` is dropped.
pub fn open_into(
    objects: &Objects,
    record: &Record,
    identity: Option<&Identity>,
    dir: &PlainDir,
    progress: Progress<'_>,
) -> Result<PathBuf, UnsealError> {
    let sealed = record.sealed.as_ref().ok_or(UnsealError::NotSealed)?;
    let Some(identity) = identity else {
        return Err(UnsealError::NoIdentity {
            recipient: sealed.recipient.clone(),
        });
    };
    let mine = identity.recipient().to_string();
    if mine != sealed.recipient {
        return Err(UnsealError::WrongKey {
            recipient: sealed.recipient.clone(),
            identity: mine,
        });
    }
    let object = *sealed.digests.blake3().ok_or(UnsealError::BadArchive(
        "the record names no blake3 digest of its sealed object".into(),
    ))?;
    let object_path = objects.path_of(&object).map_err(UnsealError::Missing)?;
    let source = match open_no_follow(&object_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(UnsealError::Missing(ObjectError::Missing {
                digest: object,
                path: object_path,
            }));
        }
        Err(source) => {
            return Err(UnsealError::Io {
                path: object_path,
                source,
            });
        }
    };
    let target = dir.path_of(&record.name);
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| UnsealError::Io { path, source }
    };
    let failure = |error: OpenError, exceeded: bool| match error {
        _ if exceeded => UnsealError::TooLarge { limit: record.size },
        OpenError::NoMatchingStanza { .. } => UnsealError::WrongKey {
            recipient: sealed.recipient.clone(),
            identity: identity.recipient().to_string(),
        },
        OpenError::Io(source) => UnsealError::Io {
            path: target.clone(),
            source,
        },
        source => UnsealError::Damaged { object, source },
    };

    let (facts, actual) = match record.layout {
        Layout::Directory => {
            private_dir(&target).map_err(write_err(&target))?;
            let (reader, writer) = io::pipe().map_err(write_err(&target))?;
            let limits = Limits {
                bytes: record.size,
                files: record.file_count,
                dirs: record.file_count.saturating_add(EXTRA_DIRS),
            };
            let (unpacked, decrypted) = thread::scope(|scope| {
                let decrypt = scope.spawn(move || poex_seal::decrypt(identity, source, writer));
                let unpacked = unpack(reader, &target, &limits, progress);
                let decrypted = decrypt
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                (unpacked, decrypted)
            });
            let facts = match (decrypted, unpacked) {
                // The unpacking stopped first and closed the pipe: its error is the cause.
                (Err(OpenError::Io(e)), Err(first)) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Err(first);
                }
                (Err(e), _) => return Err(failure(e, false)),
                (Ok(_), Err(e)) => return Err(e),
                (Ok(facts), Ok(())) => facts,
            };
            seal_modes(&target).map_err(write_err(&target))?;
            let tree = hash_tree(
                &target,
                &[Algorithm::Sha256, Algorithm::Blake3],
                &no_progress,
            )
            .map_err(|e| UnsealError::BadArchive(e.to_string()))?;
            (facts, tree.digests)
        }
        _ => {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .map_err(write_err(&target))?;
            let mut writer = HashingWriter {
                inner: file,
                hasher: Hasher::new(&[Algorithm::Blake3])
                    .map_err(|e| UnsealError::BadArchive(e.to_string()))?,
                written: 0,
                limit: record.size,
                exceeded: false,
                progress,
            };
            let result = poex_seal::decrypt(identity, source, &mut writer);
            let exceeded = writer.exceeded;
            let facts = result.map_err(|e| failure(e, exceeded))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o444))
                .map_err(write_err(&target))?;
            let mut digests = writer.hasher.finalize();
            digests.insert(facts.plaintext_sha256);
            (facts, digests)
        }
    };
    if let Some(expected) = sealed.digests.sha256()
        && *expected != facts.ciphertext_sha256
    {
        return Err(UnsealError::SealedMismatch {
            expected: *expected,
            actual: facts.ciphertext_sha256,
        });
    }
    for algorithm in [Algorithm::Blake3, Algorithm::Sha256] {
        let (Some(expected), Some(found)) = (record.digests.get(algorithm), actual.get(algorithm))
        else {
            continue;
        };
        if expected != found {
            return Err(UnsealError::Mismatch {
                expected: *expected,
                actual: *found,
            });
        }
    }
    if record.digests.blake3().is_none() || record.digests.sha256().is_none() {
        return Err(UnsealError::BadArchive(
            "the record lacks the plaintext's sha256 or blake3 digest".into(),
        ));
    }
    Ok(target)
}

/// Removes the plaintext folders that processes which no longer run left behind (in
/// [`SHM_DIR`] and `<jobs_dir>/.plain/`), and returns them. Only folders owned by this
/// process's user whose pid has no `/proc` entry are touched, so a live job of another
/// process, or of another user, keeps its plaintext.
pub fn remove_leftovers(jobs_dir: &Path) -> Vec<PathBuf> {
    let me = fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let mut removed = Vec::new();
    for (parent, prefix) in [
        (PathBuf::from(SHM_DIR), SHM_PREFIX),
        (jobs_dir.join(DISK_DIR), ""),
    ] {
        let Ok(entries) = fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            if crate::sandbox::owner_is_gone(&entry.file_name(), prefix) != Some(true) {
                continue;
            }
            let path = entry.path();
            let owned =
                fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && Some(m.uid()) == me);
            if owned {
                remove_tree(&path);
                removed.push(path);
            }
        }
    }
    removed
}

// ---- sealing ----------------------------------------------------------------------------

/// The plaintext's description.
struct Plain {
    digests: DigestSet,
    layout: Layout,
    size: u64,
    file_count: u64,
}

/// Every folder under `root`, relative, `/`-separated, sorted by path bytes (parents first).
fn list_dirs(root: &Path) -> Result<Vec<String>, AtRestError> {
    let mut dirs = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let dir = if rel.is_empty() {
            root.to_owned()
        } else {
            root.join(&rel)
        };
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let is_dir = entry.file_type().map_err(io_err(&dir))?.is_dir();
            if !is_dir {
                continue;
            }
            let name = entry.file_name();
            // hash_tree has refused names that are not UTF-8 already.
            let name = name.to_string_lossy();
            let child = if rel.is_empty() {
                name.into_owned()
            } else {
                format!("{rel}/{name}")
            };
            dirs.push(child.clone());
            pending.push(child);
        }
    }
    dirs.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(dirs)
}

/// Writes the folder as a tar stream: folders, then files, each in path order, with fixed
/// modes and no owners or times. Each file's BLAKE3 is checked against the first read.
fn write_tar(
    root: &Path,
    dirs: &[String],
    files: &[poex_store::hash::FileEntry],
    out: io::PipeWriter,
) -> Result<(), AtRestError> {
    let mut tar = tar::Builder::new(out);
    for dir in dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(0);
        header.set_size(0);
        tar.append_data(&mut header, format!("{dir}/"), io::empty())
            .map_err(io_err(&root.join(dir)))?;
    }
    for entry in files {
        let path = root.join(&entry.path);
        let file = open_no_follow(&path).map_err(io_err(&path))?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(entry.size);
        let mut reader = HashingReader {
            inner: file.take(entry.size),
            hasher: Hasher::new(&[Algorithm::Blake3])?,
            progress: &no_progress,
        };
        tar.append_data(&mut header, &entry.path, &mut reader)
            .map_err(io_err(&path))?;
        if reader.hasher.finalize().blake3() != entry.digests.blake3() {
            return Err(AtRestError::Changed { path });
        }
    }
    tar.into_inner().map_err(io_err(root))?;
    Ok(())
}

/// Reads through, hashing what passes and reporting its length.
struct HashingReader<'a, R> {
    inner: R,
    hasher: Hasher,
    progress: Progress<'a>,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        (self.progress)(n as u64);
        Ok(n)
    }
}

// ---- opening ------------------------------------------------------------------------------

/// Writes through, hashing what passes, and refuses to write more than `limit` bytes.
struct HashingWriter<'a> {
    inner: File,
    hasher: Hasher,
    written: u64,
    limit: u64,
    exceeded: bool,
    progress: Progress<'a>,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let total = self.written.saturating_add(buf.len() as u64);
        if total > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("more plaintext than the registry records"));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        (self.progress)(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What a sealed folder may unpack to, from its record.
struct Limits {
    bytes: u64,
    files: u64,
    dirs: u64,
}

/// Unpacks a tar stream into the (existing, empty) folder `into`: folders and regular files
/// only, every path inside `into`, no name twice, within `limits`. Drains the stream's end.
fn unpack(
    reader: io::PipeReader,
    into: &Path,
    limits: &Limits,
    progress: Progress<'_>,
) -> Result<(), UnsealError> {
    let bad = |m: String| UnsealError::BadArchive(m);
    let write_err = |path: &Path, source| UnsealError::Io {
        path: path.to_owned(),
        source,
    };
    let mut archive = tar::Archive::new(reader);
    let (mut bytes, mut files, mut dirs) = (0u64, 0u64, 0u64);
    for entry in archive
        .entries()
        .map_err(|e| bad(format!("not a tar stream: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("a malformed entry: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| bad(format!("a malformed entry name: {e}")))?
            .into_owned();
        let mut rel = PathBuf::new();
        for c in name.components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::CurDir => {}
                _ => return Err(bad(format!("entry {name:?} leaves the folder"))),
            }
        }
        if rel.as_os_str().is_empty() {
            return Err(bad(format!("entry {name:?} names the folder itself")));
        }
        let target = into.join(&rel);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            dirs += 1;
            if dirs > limits.dirs {
                return Err(bad(format!("more than {} folders", limits.dirs)));
            }
            fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(&target)
                .map_err(|e| write_err(&target, e))?;
        } else if kind.is_file() {
            files += 1;
            bytes = bytes.saturating_add(entry.size());
            if files > limits.files || bytes > limits.bytes {
                return Err(UnsealError::TooLarge {
                    limit: limits.bytes,
                });
            }
            if let Some(parent) = target.parent() {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .recursive(true)
                    .create(parent)
                    .map_err(|e| write_err(parent, e))?;
            }
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => bad(format!("entry {name:?} appears twice")),
                    _ => write_err(&target, e),
                })?;
            let copied = io::copy(&mut entry, &mut out).map_err(|e| write_err(&target, e))?;
            progress(copied);
        } else {
            return Err(bad(format!(
                "entry {name:?} is a link or special file; only folders and regular files are sealed"
            )));
        }
    }
    // The end-of-archive blocks may be followed by padding: read the stream to its end so
    // the decrypting side finishes (and checks the last chunk) instead of blocking.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| bad(format!("reading past the end: {e}")))?;
    Ok(())
}

/// Makes an unpacked folder readable by the sandbox's uid: files 0444, folders 0555 (children
/// before parents).
fn seal_modes(root: &Path) -> io::Result<()> {
    let mut dirs = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o444))?;
            }
        }
        dirs.push(dir);
    }
    for dir in dirs.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o555))?;
    }
    Ok(())
}

// ---- files --------------------------------------------------------------------------------

/// Creates `path` as a new folder of mode 0700, whatever the umask.
fn private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
}

fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// A temporary file removed when dropped.
struct Removing(PathBuf);

impl Drop for Removing {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Best-effort removal of a folder tree whose folders may be read-only.
fn remove_tree(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            make_writable(path);
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

fn make_writable(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&entry.path());
            }
        }
    }
}

/// Bytes an unprivileged user may still write in the file system holding `path`.
#[expect(
    unsafe_code,
    reason = "statvfs is an FFI call; std has no free-space API"
)]
fn free_bytes(path: &Path) -> Option<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `stat` points
    // to writable memory the size of a `statvfs`, which the call fills on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialized `stat` (and it was zeroed before).
    let stat = unsafe { stat.assume_init() };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}
