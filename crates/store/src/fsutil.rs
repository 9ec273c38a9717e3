//! Small filesystem helpers shared by the store's modules: directories with exact modes,
//! unique temporary names, and a guard that removes a temporary on failure (durable writes
//! themselves are poex-durable's).

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `path` (and missing parents) if it does not exist and gives a directory we create
/// exactly `mode`, whatever the umask. An existing directory is left as it is: its owner
/// chose its mode.
pub(crate) fn ensure_dir(path: &Path, mode: u32) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a directory",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(parent, mode)?;
    }
    match DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        // Another process created it between our check and our mkdir: fine.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    // The new entry must survive a crash before anything is written inside it.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Flushes a directory's entries (creations, renames, links) to stable storage.
pub(crate) use poex_durable::sync_dir as fsync_dir;

/// Atomic overwrite, durable after `Ok` ([`poex_durable::write_atomic`]).
pub use poex_durable::write_atomic;

/// A name for a temporary entry in a directory that readers skip: it starts with `.`, which
/// no object digest and no registry name can.
pub(crate) fn temp_name(suffix: &str) -> String {
    let mut random = [0u8; 8];
    // If the OS random source fails we still have the pid; creation uses create-new
    // semantics, so a collision is an error, never an overwrite.
    let _ = getrandom::fill(&mut random);
    format!(
        ".tmp-{}-{}{suffix}",
        std::process::id(),
        hex::encode(random)
    )
}

/// Removes a temporary file or directory tree when dropped, unless disarmed.
///
/// Removing a sealed (read-only) tree needs its directories writable again, which this does
/// first. Errors are ignored: a leftover `.tmp-*` entry is harmless and readers skip it.
pub(crate) struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl TempGuard {
    pub(crate) fn new(path: PathBuf) -> Self {
        TempGuard { path, armed: true }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary was renamed away or linked and removed: nothing left to clean.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            remove_tree(&self.path);
        }
    }
}

/// Best-effort removal of a file or of a directory tree, read-only or not.
pub(crate) fn remove_tree(path: &Path) {
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
