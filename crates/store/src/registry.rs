//! The write-once registry of published assets (as the chain's `HashSig`: `addSig` refuses
//! to overwrite, `getSig` reads).
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

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use poex_core::asset::{
    AssetKind, MAX_NAME_LEN, Name, NameError, Policy, Record, SEALED_FORMAT, SealedAt,
};
use poex_core::{Algorithm, DigestSet};

use crate::fsutil::{TempGuard, ensure_dir, fsync_dir, temp_name};
use crate::hash::Layout;

/// Mode of registry directories: records are public metadata.
const DIR_MODE: u32 = 0o755;
/// Mode of a record file.
const RECORD_MODE: u32 = 0o644;

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
            let sub = dir.join(kind.plural());
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
            .join(kind.plural())
            .join(format!("{}.json", name.as_str()))
    }

    /// Publishes `record`, create-once (see the [module docs](self)).
    pub fn add(&self, record: &Record) -> Result<Added, RegistryError> {
        validate(record)?;
        let dir = self.dir.join(record.kind.plural());
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
        let dir = self.dir.join(kind.plural());
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
