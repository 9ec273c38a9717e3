//! The write-once registry of published assets (seed 001's `HashSig`: `addSig` refuses to
//! overwrite, `getSig` reads).
//!
//! One JSON file per record at `registry/<datasets|algorithms>/<name>.json`. A name, once
//! published, means one content forever: publishing the same content again is a no-op
//! ([`Added::AlreadyPresent`]); publishing different content under it is refused with both
//! digests ([`RegistryError::Exists`]).
//!
//! Write semantics are *create-once*, as in Tessera's POSIX driver: the record is written to a
//! temporary file, fsynced, and hard-linked to its final name — `link(2)` fails if the name
//! exists, so of any number of concurrent publishers (threads or processes) exactly one wins,
//! and a reader never sees a half-written record.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use poex_core::{Algorithm, Digest, DigestSet};
use serde::{Deserialize, Serialize};

use crate::fsutil::{TempGuard, ensure_dir, fsync_dir, temp_name};
use crate::hash::Layout;

/// Mode of registry directories: records are public metadata.
const DIR_MODE: u32 = 0o755;
/// Mode of a record file.
const RECORD_MODE: u32 = 0o644;

/// What a record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AssetKind {
    /// Data an algorithm runs on; carries a [`Policy`].
    Dataset,
    /// A program; carries an entrypoint.
    Algorithm,
}

impl AssetKind {
    /// "dataset" or "algorithm".
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::Dataset => "dataset",
            AssetKind::Algorithm => "algorithm",
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            AssetKind::Dataset => "datasets",
            AssetKind::Algorithm => "algorithms",
        }
    }
}

impl fmt::Display for AssetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Longest accepted [`Name`], in bytes (all characters are ASCII).
pub const MAX_NAME_LEN: usize = 128;

/// A registry name: 1 to 128 characters from `[A-Za-z0-9._-]`, not starting with `.` or `-`.
///
/// That alphabet has no `/` and no leading `.`, so a name is always a single, non-hidden
/// path component (no traversal, no clash with temporary files), and never looks like a
/// command-line option.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The empty string.
    #[error("a name cannot be empty; use 1-128 characters from A-Z a-z 0-9 . _ -")]
    Empty,
    /// More than [`MAX_NAME_LEN`] characters.
    #[error("name is {len} characters long; the limit is 128")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `[A-Za-z0-9._-]`.
    #[error(
        "name {name:?} has {character:?} at position {position}; \
         names use only A-Z a-z 0-9 . _ -"
    )]
    BadCharacter {
        /// The name given.
        name: String,
        /// The first bad character.
        character: char,
        /// Its position (in characters, from 0).
        position: usize,
    },
    /// Starts with `.` or `-`.
    #[error("name {name:?} starts with {character:?}; names start with a letter, digit or _")]
    BadStart {
        /// The name given.
        name: String,
        /// `.` or `-`.
        character: char,
    },
}

impl Name {
    /// Parses a name.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        for (position, character) in name.chars().enumerate() {
            if !(character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')) {
                return Err(NameError::BadCharacter {
                    name,
                    character,
                    position,
                });
            }
        }
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: name.len() });
        }
        if let Some(character @ ('.' | '-')) = name.chars().next() {
            return Err(NameError::BadStart { name, character });
        }
        Ok(Name(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::new(s)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Name::new(s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who may use a dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// SHA-256 digests of the algorithms allowed to run on the dataset. Empty: none is.
    pub allowed_algorithms: Vec<Digest>,
    /// Key ids allowed to request jobs on the dataset, besides the publisher (who always is).
    pub allowed_requesters: Vec<String>,
}

/// One published asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Dataset or algorithm.
    pub kind: AssetKind,
    /// The registry name, unique per kind.
    pub name: Name,
    /// SHA-256 and BLAKE3 of the content (file digest or directory digest); both required.
    pub digests: DigestSet,
    /// File or directory.
    pub layout: Layout,
    /// Total bytes.
    pub size: u64,
    /// Number of regular files (1 for a file).
    pub file_count: u64,
    /// When it was published, RFC 3339 UTC.
    pub published_at: String,
    /// Key id of the publisher, as supplied by the caller.
    pub publisher: String,
    /// For algorithms: the argv to run, relative to the algorithm's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// For datasets: who may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// For datasets kept encrypted at rest: the sealed object the store holds instead of the
    /// plaintext ([`SealedAt`]). Absent for every other record, so records published before
    /// this field existed, and their log entries, keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedAt>,
}

/// The envelope format of every sealed dataset: poex-seal's version line.
pub const SEALED_FORMAT: &str = "poex-seal/v1";

/// How the store keeps a dataset encrypted at rest (docs/seal.md, "Datasets at rest").
///
/// The record's own `digests`, `size` and `layout` still describe the *plaintext*: requests
/// pin them and receipts name them. This says where the sealed bytes are and how to open
/// them: `digests` are the sealed object's (its BLAKE3 digest is its address in the store),
/// `recipient` is the owner's X25519 key the object's file key is wrapped to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SealedAt {
    /// The envelope format, [`SEALED_FORMAT`].
    pub format: String,
    /// What the envelope holds: [`SealedAt::PAYLOAD_FILE`] (the file's bytes) or
    /// [`SealedAt::PAYLOAD_TAR`] (a folder as a tar stream).
    pub payload: String,
    /// SHA-256 and BLAKE3 of the sealed object; the BLAKE3 digest names it in the store.
    pub digests: DigestSet,
    /// Bytes of the sealed object.
    pub size: u64,
    /// The recipient (`poex-x25519:<base64>`, a public key) the object is sealed to.
    pub recipient: String,
}

impl SealedAt {
    /// The payload of a sealed file: its bytes.
    pub const PAYLOAD_FILE: &str = "file";
    /// The payload of a sealed folder: a tar stream of its folders and regular files.
    pub const PAYLOAD_TAR: &str = "tar";

    /// A [`SEALED_FORMAT`] object holding `payload`, with the sealed object's `digests` and
    /// `size`, sealed to `recipient`.
    pub fn new(payload: &str, digests: DigestSet, size: u64, recipient: String) -> Self {
        SealedAt {
            format: SEALED_FORMAT.to_owned(),
            payload: payload.to_owned(),
            digests,
            size,
            recipient,
        }
    }
}

impl Record {
    /// The BLAKE3 digest that names this record's object in the store: the sealed object's
    /// for a dataset kept encrypted at rest, else the content's own. `None` only for a record
    /// file edited by hand ([`Registry::add`] refuses records without BLAKE3 digests).
    pub fn object(&self) -> Option<&Digest> {
        match &self.sealed {
            Some(sealed) => sealed.digests.blake3(),
            None => self.digests.blake3(),
        }
    }

    /// The one file the store holds for this asset, as `(blake3, bytes)`, when it holds one:
    /// the sealed object of an asset sealed at rest (a folder is sealed as one tar stream), or
    /// the asset itself when it is a file. An unsealed folder is many files: `None`. This is
    /// what a proof of retrievability challenges.
    pub fn stored_file(&self) -> Option<(Digest, u64)> {
        match &self.sealed {
            Some(sealed) => sealed.digests.blake3().map(|d| (*d, sealed.size)),
            None if self.layout == Layout::File => self.digests.blake3().map(|d| (*d, self.size)),
            None => None,
        }
    }

    /// Whether `key_id` may request a job on this asset: the publisher always may, others
    /// only if the dataset's policy lists them.
    pub fn allows_requester(&self, key_id: &str) -> bool {
        self.publisher == key_id
            || self
                .policy
                .as_ref()
                .is_some_and(|p| p.allowed_requesters.iter().any(|r| r == key_id))
    }

    /// Whether the algorithm with SHA-256 digest `algorithm` may run on this dataset.
    /// No policy, or an empty list, allows none (deny by default).
    pub fn allows_algorithm(&self, algorithm: &Digest) -> bool {
        self.policy
            .as_ref()
            .is_some_and(|p| p.allowed_algorithms.iter().any(|a| a == algorithm))
    }
}

/// The outcome of a successful [`Registry::add`]. (Complete by definition: the name was
/// free, or already held this content.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// The record was written.
    Created,
    /// A record with this name and these digests already existed; nothing was written.
    /// Its other fields (policy, entrypoint, publisher) may differ from the one offered:
    /// they are the ones that count.
    AlreadyPresent {
        /// The record already in the registry.
        existing: Box<Record>,
    },
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name is taken by different content. Registry entries are write-once.
    #[error(
        "{kind} {name} is already published with {existing}; refusing to overwrite it with \
         {attempted} (registry names are write-once: publish the new content under a new name)"
    )]
    Exists {
        /// Dataset or algorithm.
        kind: AssetKind,
        /// The contested name.
        name: Name,
        /// Digests of the published content.
        existing: DigestSet,
        /// Digests of the refused content.
        attempted: DigestSet,
    },
    /// A record file exists but cannot be read as a record of its kind and name.
    #[error(
        "registry record {path} is corrupt: {reason}; restore it from a backup or \
         re-publish after moving it aside"
    )]
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The record offered to [`Registry::add`] is incomplete or inconsistent.
    #[error("{kind} {name}: {reason}")]
    Invalid {
        /// Dataset or algorithm.
        kind: AssetKind,
        /// Its name.
        name: Name,
        /// What is wrong.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("registry {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The registry directory. Cheap to clone; holds no open files.
#[derive(Clone, Debug)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// Opens the registry at `dir`, creating it and its `datasets/` and `algorithms/`
    /// subdirectories (0755) if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let dir = dir.into();
        for kind in [AssetKind::Dataset, AssetKind::Algorithm] {
            let sub = dir.join(kind.dir_name());
            ensure_dir(&sub, DIR_MODE).map_err(io_err(&sub))?;
        }
        Ok(Registry { dir })
    }

    /// The registry directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds (or would hold) the record `kind`/`name`.
    pub fn path_of(&self, kind: AssetKind, name: &Name) -> PathBuf {
        self.dir
            .join(kind.dir_name())
            .join(format!("{}.json", name.as_str()))
    }

    /// Publishes `record`, create-once (see the [module docs](self)).
    pub fn add(&self, record: &Record) -> Result<Added, RegistryError> {
        validate(record)?;
        let dir = self.dir.join(record.kind.dir_name());
        let final_path = self.path_of(record.kind, &record.name);
        let mut bytes = serde_json::to_vec_pretty(record).map_err(|e| RegistryError::Invalid {
            kind: record.kind,
            name: record.name.clone(),
            reason: format!("cannot serialize: {e}"),
        })?;
        bytes.push(b'\n');

        // Write the whole record under a temporary name that readers skip (it starts with
        // '.', which no Name can). If we crash while writing, only that temporary is left.
        let temp = TempGuard::new(dir.join(temp_name(".json")));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(RECORD_MODE)
            .open(temp.path())
            .map_err(io_err(temp.path()))?;
        file.write_all(&bytes).map_err(io_err(temp.path()))?;
        file.set_permissions(fs::Permissions::from_mode(RECORD_MODE))
            .map_err(io_err(temp.path()))?;
        // The content is durable before it gets its real name: whoever sees the name sees
        // the whole record, even after a crash.
        file.sync_all().map_err(io_err(temp.path()))?;
        drop(file);

        // link(2) is the atomic create-or-fail: it never replaces an existing name.
        match fs::hard_link(temp.path(), &final_path) {
            Ok(()) => {
                // If we crash before this fsync, the name may vanish on reboot: the publish
                // did not happen, and the caller (who has not seen Ok) can run it again.
                fsync_dir(&dir).map_err(io_err(&dir))?;
                // Dropping the guard unlinks the temporary name; the record keeps the inode.
                // A crash before that leaves a harmless `.tmp-*` file that readers skip.
                drop(temp);
                Ok(Added::Created)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                drop(temp);
                let existing = read_record(&final_path, record.kind, &record.name)?;
                if existing.digests == record.digests {
                    Ok(Added::AlreadyPresent {
                        existing: Box::new(existing),
                    })
                } else {
                    Err(RegistryError::Exists {
                        kind: record.kind,
                        name: record.name.clone(),
                        existing: existing.digests,
                        attempted: record.digests.clone(),
                    })
                }
            }
            Err(e) => Err(io_err(&final_path)(e)),
        }
    }

    /// Reads the record `kind`/`name`; `Ok(None)` if there is none.
    pub fn get(&self, kind: AssetKind, name: &Name) -> Result<Option<Record>, RegistryError> {
        let path = self.path_of(kind, name);
        match fs::symlink_metadata(&path) {
            Ok(_) => read_record(&path, kind, name).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Every record of `kind`, sorted by name. Any file that is not a valid record is an
    /// error naming it (temporary `.tmp-*` files are skipped).
    pub fn list(&self, kind: AssetKind) -> Result<Vec<Record>, RegistryError> {
        let dir = self.dir.join(kind.dir_name());
        let mut records = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            if file_name.starts_with('.') {
                continue;
            }
            let name = file_name
                .strip_suffix(".json")
                .ok_or_else(|| "not a <name>.json record file".to_owned())
                .and_then(|stem| Name::new(stem).map_err(|e| e.to_string()))
                .map_err(|reason| RegistryError::Corrupt {
                    path: path.clone(),
                    reason,
                })?;
            records.push(read_record(&path, kind, &name)?);
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }
}

fn validate(record: &Record) -> Result<(), RegistryError> {
    let invalid = |reason: &str| RegistryError::Invalid {
        kind: record.kind,
        name: record.name.clone(),
        reason: reason.to_owned(),
    };
    if record.digests.sha256().is_none() || record.digests.blake3().is_none() {
        return Err(invalid(
            "a record needs both its sha256 and its blake3 digest",
        ));
    }
    if let Some(sealed) = &record.sealed {
        if record.kind != AssetKind::Dataset {
            return Err(invalid("only datasets are kept sealed at rest"));
        }
        if sealed.digests.sha256().is_none() || sealed.digests.blake3().is_none() {
            return Err(invalid(
                "a sealed dataset needs the sha256 and blake3 digests of its sealed object",
            ));
        }
        if sealed.format != SEALED_FORMAT {
            return Err(invalid(&format!(
                "sealed with {:?}; this version keeps datasets sealed with {SEALED_FORMAT:?}",
                sealed.format
            )));
        }
        let payload = match record.layout {
            Layout::Directory => SealedAt::PAYLOAD_TAR,
            _ => SealedAt::PAYLOAD_FILE,
        };
        if sealed.payload != payload {
            return Err(invalid(&format!(
                "a sealed {:?} holds a {payload:?} payload, not {:?}",
                record.layout, sealed.payload
            )));
        }
    }
    match record.kind {
        AssetKind::Algorithm => {
            if record.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
                return Err(invalid(
                    "an algorithm needs an entrypoint (the command to run)",
                ));
            }
            if record.policy.is_some() {
                return Err(invalid("only datasets carry a policy"));
            }
        }
        AssetKind::Dataset => {
            if record.entrypoint.is_some() {
                return Err(invalid("only algorithms carry an entrypoint"));
            }
            if let Some(policy) = &record.policy
                && let Some(bad) = policy
                    .allowed_algorithms
                    .iter()
                    .find(|d| d.algorithm() != Algorithm::Sha256)
            {
                return Err(invalid(&format!(
                    "policy allows algorithm {bad}; algorithms are named by sha256 digest"
                )));
            }
        }
    }
    Ok(())
}

fn read_record(path: &Path, kind: AssetKind, name: &Name) -> Result<Record, RegistryError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let corrupt = |reason: String| RegistryError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let record: Record = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if record.kind != kind || record.name != *name {
        return Err(corrupt(format!(
            "it holds {} {}, not {kind} {name}",
            record.kind, record.name
        )));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "A-1.2_x", "_x", "0", &"x".repeat(128)] {
            assert!(Name::new(good).is_ok(), "{good}");
        }
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert!(matches!(
            Name::new("x".repeat(129)),
            Err(NameError::TooLong { len: 129 })
        ));
        assert!(matches!(
            Name::new("../x"),
            Err(NameError::BadCharacter {
                character: '/',
                position: 2,
                ..
            })
        ));
        assert!(matches!(
            Name::new("a/b"),
            Err(NameError::BadCharacter { character: '/', .. })
        ));
        assert!(matches!(
            Name::new(".hidden"),
            Err(NameError::BadStart { character: '.', .. })
        ));
        assert!(matches!(
            Name::new("-rf"),
            Err(NameError::BadStart { character: '-', .. })
        ));
        assert!(matches!(
            Name::new("caf\u{e9}"),
            Err(NameError::BadCharacter {
                character: '\u{e9}',
                ..
            })
        ));
        let err = Name::new("a b").unwrap_err().to_string();
        assert!(err.contains("' '") && err.contains("position 1"), "{err}");
        // Deserialization parses too.
        assert!(serde_json::from_str::<Name>("\"../etc\"").is_err());
    }
}
