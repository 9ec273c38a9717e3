//! Secret files: the one way poex writes and reads key material on disk.
//!
//! [`create`] writes a new file: a temporary file of mode 0600 from its first byte, fsynced,
//! then hard-linked to its name (which fails if the name exists), then the folder fsynced. A
//! crash never leaves half a secret and a secret is never overwritten. [`read`] refuses a file
//! that other users can read or write: the key may already be compromised, and quietly fixing
//! the mode would hide that. Used for X25519 and Umbral identities (poex-seal) and for the chain
//! signer key (poex-chain).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why [`create`] or [`read`] failed; each kind of key file wraps it in its own error type.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The name is taken.
    #[error("the file already exists; secret files are never overwritten")]
    Exists,
    /// Other users may read or write the file (its permission bits).
    #[error("the file has mode {0:04o}, open to other users")]
    TooOpen(u32),
    /// The file system refused, at this path.
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] io::Error),
}

/// Writes `text` to a new file at `path`: a temporary file of mode 0600 from its first byte,
/// fsynced, then hard-linked to its name (which fails if the name exists), then the folder
/// fsynced. A crash never leaves half a secret, and a secret is never overwritten.
pub fn create(path: &Path, text: &str) -> Result<(), SecretFileError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |e| SecretFileError::Io(p, e)
    };
    if fs::symlink_metadata(path).is_ok() {
        return Err(SecretFileError::Exists);
    }
    match poex_durable::write_new(path, text.as_bytes(), 0o600) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(SecretFileError::Exists),
        Err(e) => Err(io(path)(e)),
    }
}

/// Reads a secret file's text, refusing a file other users can read or write.
pub fn read(path: &Path) -> Result<Zeroizing<String>, SecretFileError> {
    let io = |e| SecretFileError::Io(path.to_owned(), e);
    let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::TooOpen(mode));
    }
    Ok(Zeroizing::new(fs::read_to_string(path).map_err(io)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_refused_when_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        create(&path, "secret\n").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read(&path).unwrap().as_str(), "secret\n");
        assert!(matches!(
            create(&path, "other"),
            Err(SecretFileError::Exists)
        ));
        assert_eq!(read(&path).unwrap().as_str(), "secret\n");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read(&path), Err(SecretFileError::TooOpen(0o644))));
    }
}
