//! Identity files: the text form of an [`Identity`] in a file of mode 0600, with its recipient
//! in a comment, as `age-keygen` writes them.
//!
//! ```text
//! # poex seal identity (X25519): opens files sealed to the recipient below. Keep it secret.
//! # recipient: poex-x25519:<base64>
//! poex-x25519-secret:<base64>
//! ```
//!
//! Written and read through `poex_secret_file`: created once with mode 0600 from the first
//! byte (a crash never leaves half a key and a key is never overwritten), and refused, not
//! used, when other users can read or write it.

use std::io;
use std::path::{Path, PathBuf};

pub(crate) use poex_secret_file::{SecretFileError, create as create_secret, read as read_secret};

use zeroize::Zeroizing;

use crate::{Identity, KeyError};

/// Why an identity file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file exists; identities are never overwritten.
    #[error("{0} already exists; identity files are never overwritten")]
    Exists(PathBuf),
    /// The file is readable or writable by other users.
    #[error(
        "identity file {path} has mode {mode:04o}, open to other users; refusing to use it. If the key is not compromised, run 'chmod 600 {path}'"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file holds no identity line.
    #[error("{path}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong (the secret itself is never printed).
        source: KeyError,
    },
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The file's text for `identity`.
pub fn to_text(identity: &Identity) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    text.push_str(
        "# poex seal identity (X25519): opens files sealed to the recipient below. Keep it secret.\n",
    );
    text.push_str(&format!("# recipient: {}\n", identity.recipient()));
    text.push_str(&identity.to_text());
    text.push('\n');
    text
}

fn into_key_file(e: SecretFileError, path: &Path) -> KeyFileError {
    match e {
        SecretFileError::Exists => KeyFileError::Exists(path.to_owned()),
        SecretFileError::TooOpen(mode) => KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        },
        SecretFileError::Io(path, source) => KeyFileError::Io { path, source },
    }
}

/// Writes `identity` to a new file at `path` (mode 0600; refused if `path` exists).
pub fn write_new(path: &Path, identity: &Identity) -> Result<(), KeyFileError> {
    create_secret(path, &to_text(identity)).map_err(|e| into_key_file(e, path))
}

/// Reads the identity in `path`, refusing a file other users can read or write.
pub fn read(path: &Path) -> Result<Identity, KeyFileError> {
    let text = read_secret(path).map_err(|e| into_key_file(e, path))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    Identity::from_text(line).map_err(|source| KeyFileError::Malformed {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn write_read_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.identity");
        let id = Identity::generate().unwrap();
        write_new(&path, &id).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).unwrap().recipient(), id.recipient());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("# recipient: {}", id.recipient())));
        // Never overwritten.
        let other = Identity::generate().unwrap();
        assert!(matches!(
            write_new(&path, &other),
            Err(KeyFileError::Exists(_))
        ));
        assert_eq!(read(&path).unwrap().recipient(), id.recipient());
        // No temporary left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // Too open.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::TooOpen { mode: 0o640, .. }));
        assert!(err.to_string().contains("chmod 600"));
        // Not an identity, and the content is not echoed.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "poex-x25519-secret:bm90IGEga2V5\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(!err.contains("bm90IGEga2V5"), "{err}");
    }
}
