//! Identity files: the text form of an [`Identity`] in a file of mode 0600, with its recipient
//! in a comment, as `age-keygen` writes them.
//!
//! ```text
//! # poex seal identity (X25519): opens files sealed to the recipient below. Keep it secret.
//! # recipient: poex-x25519:<base64>
//! poex-x25519-secret:<base64>
//! ```
//!
//! Written the way `poex_store::keystore` writes Ed25519 keys (that code is private to the
//! keystore, and this crate depends on poex-core only): a temporary file of mode 0600 from its
//! first byte, fsynced, then hard-linked to its name, which fails if the name exists, so a
//! crash never leaves half a key and a key is never overwritten. A file that other users can
//! read or write is refused, not used: the key may already be compromised, and quietly fixing
//! the mode would hide that.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

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

/// Writes `identity` to a new file at `path` (mode 0600; refused if `path` exists).
pub fn write_new(path: &Path, identity: &Identity) -> Result<(), KeyFileError> {
    create_secret(path, &to_text(identity)).map_err(|e| e.into_key_file(path))
}

/// Reads the identity in `path`, refusing a file other users can read or write.
pub fn read(path: &Path) -> Result<Identity, KeyFileError> {
    let text = read_secret(path).map_err(|e| e.into_key_file(path))?;
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

/// Why [`create_secret`] or [`read_secret`] failed; each kind of identity file wraps it in its
/// own error type.
pub(crate) enum SecretFileError {
    /// The name is taken.
    Exists,
    /// Other users may read or write the file (its permission bits).
    TooOpen(u32),
    /// The file system refused, at this path.
    Io(PathBuf, io::Error),
}

impl SecretFileError {
    fn into_key_file(self, path: &Path) -> KeyFileError {
        match self {
            SecretFileError::Exists => KeyFileError::Exists(path.to_owned()),
            SecretFileError::TooOpen(mode) => KeyFileError::TooOpen {
                path: path.to_owned(),
                mode,
            },
            SecretFileError::Io(path, source) => KeyFileError::Io { path, source },
        }
    }
}

/// Writes `text` to a new file at `path`: a temporary file of mode 0600 from its first byte,
/// fsynced, then hard-linked to its name (which fails if the name exists), then the folder
/// fsynced. A crash never leaves half a secret, and a secret is never overwritten.
pub(crate) fn create_secret(path: &Path, text: &str) -> Result<(), SecretFileError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |e| SecretFileError::Io(p, e)
    };
    if fs::symlink_metadata(path).is_ok() {
        return Err(SecretFileError::Exists);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut random = [0u8; 8];
    // If the random source fails, the pid still separates writers; create_new never clobbers.
    let _ = getrandom::fill(&mut random);
    let tmp = dir.join(format!(
        ".secret.tmp-{}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(random)
    ));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    // Before this link only the temporary exists and the name stays free; after it, the whole
    // secret is under its name.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(SecretFileError::Exists),
        Err(e) => return Err(io(path)(e)),
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Reads a secret file's text, refusing a file other users can read or write.
pub(crate) fn read_secret(path: &Path) -> Result<Zeroizing<String>, SecretFileError> {
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
