//! Key files: Ed25519 private keys as PKCS#8 PEM in files of mode 0600, public keys beside
//! them as SubjectPublicKeyInfo PEM.
//!
//! A private key file that any other user could read is refused, not used: the key may
//! already be compromised, and silently fixing the mode would hide that. Keys are created
//! atomically (a temp file of mode 0600 from the start, fsynced, then hard-linked to its final
//! name, which fails if the name exists), so a crash never leaves a half-written key and a
//! name is never overwritten.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use poex_core::keys::{KeyError, PublicKey, SecretKey};

/// Why a key could not be created, read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The key name is not allowed.
    #[error(
        "key name {0:?} is not allowed: use 1-128 of A-Z a-z 0-9 . _ - and do not start with '.' or '-'"
    )]
    BadName(String),
    /// No key of that name.
    #[error(
        "no key named {name:?} in {dir} (see 'poex key list', or create it with 'poex key new {name}')"
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// The key folder.
        dir: PathBuf,
    },
    /// A key of that name exists already.
    #[error("a key named {name:?} already exists at {path}; keys are never overwritten")]
    Exists {
        /// The name.
        name: String,
        /// Its file.
        path: PathBuf,
    },
    /// The private key file is readable or writable by other users.
    #[error(
        "private key {path} has mode {mode:04o}, readable by other users; refusing to use it. If the key is not compromised, run 'chmod 600 {path}'"
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file holds something that is not an Ed25519 key.
    #[error("{path}: {source}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content.
        source: KeyError,
    },
    /// The random source failed while generating a key.
    #[error("generating a key: {0}")]
    Generate(KeyError),
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A folder of named keys (mode 0700).
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
}

impl Keystore {
    /// Opens (creating if needed, mode 0700) the key folder.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyFileError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
        Ok(Keystore { dir })
    }

    /// The key folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The private key file of `name`.
    pub fn secret_path(&self, name: &str) -> Result<PathBuf, KeyFileError> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.key")))
    }

    fn public_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pub"))
    }

    /// True if a key called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.secret_path(name).is_ok_and(|p| p.exists())
    }

    /// Generates a new key called `name`. Refuses to overwrite an existing one.
    pub fn create(&self, name: &str) -> Result<PublicKey, KeyFileError> {
        let path = self.secret_path(name)?;
        if path.exists() {
            return Err(KeyFileError::Exists {
                name: name.to_owned(),
                path,
            });
        }
        let key = SecretKey::generate().map_err(KeyFileError::Generate)?;
        let pem = key.to_pkcs8_pem();
        // Mode 0600 from the first byte: the secret is never briefly world-readable. If we
        // crash before the link, only a temp file exists and the name stays free; after it,
        // the key is complete under its name.
        let linked = poex_durable::write_new(&path, pem.as_bytes(), 0o600);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(KeyFileError::Exists {
                    name: name.to_owned(),
                    path,
                });
            }
            Err(e) => return Err(io_err(&path)(e)),
        }
        let public = key.public();
        let pub_path = self.public_path(name);
        crate::write_atomic(&pub_path, public.to_spki_pem().as_bytes())
            .map_err(io_err(&pub_path))?;
        crate::fsutil::fsync_dir(&self.dir).map_err(io_err(&self.dir))?;
        Ok(public)
    }

    /// Loads the private key `name` (refusing a file readable by others).
    pub fn load(&self, name: &str) -> Result<SecretKey, KeyFileError> {
        let path = self.secret_path(name)?;
        if !path.exists() {
            return Err(KeyFileError::NotFound {
                name: name.to_owned(),
                dir: self.dir.clone(),
            });
        }
        load_secret_file(&path)
    }

    /// The public key of `name`.
    pub fn public(&self, name: &str) -> Result<PublicKey, KeyFileError> {
        Ok(self.load(name)?.public())
    }

    /// All keys, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, PublicKey)>, KeyFileError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".key")) else {
                continue;
            };
            if check_name(name).is_err() {
                continue; // temp files and foreign files are not keys
            }
            out.push((name.to_owned(), self.public(name)?));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Loads a PKCS#8 PEM private key file, refusing one readable or writable by other users.
pub fn load_secret_file(path: &Path) -> Result<SecretKey, KeyFileError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io_err(path))?);
    SecretKey::from_pkcs8_pem(&text).map_err(|source| KeyFileError::Malformed {
        path: path.to_owned(),
        source,
    })
}

/// Loads a public key from a SubjectPublicKeyInfo PEM file.
pub fn load_public_file(path: &Path) -> Result<PublicKey, KeyFileError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    PublicKey::from_spki_pem(&text).map_err(|source| KeyFileError::Malformed {
        path: path.to_owned(),
        source,
    })
}

/// Key names follow the registry's naming rule (no separators, no leading dot or dash), so a
/// name can never reach outside the key folder.
fn check_name(name: &str) -> Result<(), KeyFileError> {
    crate::registry::Name::new(name)
        .map(drop)
        .map_err(|_| KeyFileError::BadName(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_load_list_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::open(dir.path().join("keys")).unwrap();
        let alice = ks.create("alice").unwrap();
        assert_eq!(ks.public("alice").unwrap(), alice);
        let path = ks.secret_path("alice").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(
            ks.create("alice"),
            Err(KeyFileError::Exists { .. })
        ));
        assert_eq!(ks.public("alice").unwrap(), alice, "not overwritten");
        ks.create("bob").unwrap();
        let names: Vec<_> = ks.list().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["alice", "bob"]);
        for bad in ["../x", "a/b", ".hidden", "", "-x"] {
            assert!(
                matches!(ks.create(bad), Err(KeyFileError::BadName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            ks.load("carol"),
            Err(KeyFileError::NotFound { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ks.load("alice").unwrap_err();
        assert!(matches!(err, KeyFileError::TooOpen { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            ks.load("alice"),
            Err(KeyFileError::Malformed { .. })
        ));
    }
}
