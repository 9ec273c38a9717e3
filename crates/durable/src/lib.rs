//! poex-durable: the one way poex writes a file that must survive a crash.
//!
//! A write goes to a temporary file beside the destination (a dot name, which every poex
//! reader of a folder skips), is synced, then placed under its name — renamed over an old
//! file ([`Place::Replace`]) or hard-linked where no file may be yet ([`Place::CreateNew`]:
//! write-once, never an overwrite) — and the folder is synced so that the name itself survives
//! a crash. A reader sees no file, the old one, or the whole new one; after `Ok` the new one
//! is on stable storage. A failed or abandoned write removes its temporary file.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("state.json");
//! poex_durable::write_atomic(&path, b"{}")?;
//! poex_durable::write_atomic(&path, b"{\"v\":2}")?; // replaced whole
//! let err = poex_durable::write_new(&path, b"{}", 0o600).unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists); // write-once names stay
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! What it does not do: lock (two writers of one [`Place::Replace`] name race, and the last
//! rename wins, whole), create missing folders, or sync anything but the file and its folder
//! (a folder created just before must be synced into its parent by whoever created it).

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// How a finished file takes its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Renamed over whatever has the name (or takes it).
    Replace,
    /// Takes the name only if no file has it: [`AtomicFile::commit`] fails with
    /// [`io::ErrorKind::AlreadyExists`] otherwise, and the existing file is untouched.
    CreateNew,
}

/// Flushes a folder's entries (creations, renames, links) to stable storage.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path`, replacing any file there, durably (mode 0644 before the umask).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::new(path, Place::Replace, 0o644)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Writes `bytes` to `path` only if no file has that name, durably, with `mode` from the first
/// byte (a secret is never briefly readable by others).
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut f = AtomicFile::new(path, Place::CreateNew, mode)?;
    f.write_all(bytes)?;
    f.commit()
}

/// A file being written: write to it (it is a [`Write`]), then [`commit`](Self::commit) it.
/// Dropped without a commit, it removes its temporary file and leaves the name as it was.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    place: Place,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts a file that will take the name `dest`, created with `mode` (before the umask).
    pub fn new(dest: &Path, place: Place, mode: u32) -> io::Result<AtomicFile> {
        let tmp = dir_of(dest).join(temp_name(dest));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_owned(),
            place,
            file: Some(file),
        })
    }

    /// Where the bytes are until the commit.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Syncs the file, gives it its name, and syncs the folder.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().ok_or_else(closed)?;
        file.sync_all()?;
        drop(file);
        match self.place {
            Place::Replace => fs::rename(&self.tmp, &self.dest)?,
            Place::CreateNew => {
                let linked = fs::hard_link(&self.tmp, &self.dest);
                fs::remove_file(&self.tmp)?;
                linked?;
            }
        }
        sync_dir(dir_of(&self.dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().ok_or_else(closed)?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().ok_or_else(closed)?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // After a commit the temporary name is gone (renamed or removed): NotFound is expected.
        let _ = fs::remove_file(&self.tmp);
    }
}

fn closed() -> io::Error {
    io::Error::other("the file was already committed")
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `.NAME.tmp-PID-RANDOM`: a dot name (skipped by readers), unique to this write.
fn temp_name(dest: &Path) -> String {
    let mut random = [0u8; 6];
    // Without the OS random source the pid still separates processes; create_new makes a
    // collision an error, never a shared file.
    let _ = getrandom::fill(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = dest
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    format!(".{name}.tmp-{}-{hex}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replace_writes_whole_files_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.json"]);
    }

    #[test]
    fn create_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.key");
        write_new(&p, b"secret", 0o600).unwrap();
        let err = write_new(&p, b"other", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"secret");
        assert_eq!(names(dir.path()), ["k.key"]);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn an_abandoned_write_leaves_the_name_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.txt");
        write_atomic(&p, b"old").unwrap();
        {
            let mut f = AtomicFile::new(&p, Place::Replace, 0o644).unwrap();
            f.write_all(b"half").unwrap();
            assert!(f.temp_path().exists());
        }
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["r.txt"]);
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("no/such/x"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
