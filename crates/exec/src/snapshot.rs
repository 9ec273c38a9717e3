//! Private read-only copies of `poex exec`'s inputs, so that what the receipt attests is what
//! the job read: the copy is hashed and mounted, and nobody but poex can write to it while
//! the job runs (a writer changing the original changes nothing the job sees).
//!
//! A snapshot is a folder `.exec-<pid>-<job id>` in the jobs folder (mode 0700), one entry per
//! input (`m0`, `m1`, ...): files copied with `copy_file_range` (which shares extents on
//! filesystems that can, e.g. btrfs and XFS, and copies in the kernel elsewhere) and made
//! read-only (0444; folders 0755), folders copied recursively. Links, devices, fifos and
//! sockets are refused, as the hashing would refuse them. Dropping the snapshot removes it;
//! snapshots of processes that died are removed by the next [`Snapshot::create`].

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The snapshot folder of one `poex exec` job.
pub(crate) struct Snapshot {
    dir: PathBuf,
    entries: usize,
}

const PREFIX: &str = ".exec-";

impl Snapshot {
    /// Makes the (empty) snapshot folder of job `job_id` in `jobs_dir`, first removing the
    /// snapshots of processes that no longer exist.
    pub(crate) fn create(jobs_dir: &Path, job_id: &str) -> io::Result<Snapshot> {
        fs::create_dir_all(jobs_dir)?;
        remove_leftovers(jobs_dir);
        let dir = jobs_dir.join(format!("{PREFIX}{}-{job_id}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Snapshot { dir, entries: 0 })
    }

    /// Copies the file or folder `source` into the snapshot; returns the copy's path.
    pub(crate) fn add(&mut self, source: &Path) -> io::Result<PathBuf> {
        let dest = self.dir.join(format!("m{}", self.entries));
        self.entries += 1;
        copy_tree(source, &dest)?;
        Ok(dest)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Copies a regular file or a folder of folders and regular files, refusing anything else
/// (without following links: the path given is already resolved).
fn copy_tree(source: &Path, dest: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(source)?;
    if meta.is_file() {
        fs::copy(source, dest)?;
        return fs::set_permissions(dest, fs::Permissions::from_mode(0o444));
    }
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file or a folder (links, devices, fifos and sockets cannot be inputs)",
                source.display()
            ),
        ));
    }
    fs::DirBuilder::new().mode(0o755).create(dest)?;
    for entry in fs::read_dir(source)? {
        let entry = entry?;
        copy_tree(&entry.path(), &dest.join(entry.file_name()))?;
    }
    // DirBuilder's mode is filtered by the umask; the sandbox user must be able to list it.
    fs::set_permissions(dest, fs::Permissions::from_mode(0o755))
}

/// Removes the snapshots in `jobs_dir` of processes that no longer exist.
fn remove_leftovers(jobs_dir: &Path) {
    let Ok(entries) = fs::read_dir(jobs_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_copies_files_and_folders_read_only_and_goes_away() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.csv"), b"1,2\n").unwrap();
        fs::write(src.join("sub/b"), b"b").unwrap();
        let jobs = t.path().join("jobs");
        let mut snap = Snapshot::create(&jobs, "j1").unwrap();
        let copy = snap.add(&src).unwrap();
        let file_copy = snap.add(&src.join("a.csv")).unwrap();
        assert_eq!(fs::read(copy.join("sub/b")).unwrap(), b"b");
        assert_eq!(fs::read(&file_copy).unwrap(), b"1,2\n");
        let mode = fs::metadata(&file_copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444);
        // The original changes; the copy does not.
        fs::write(src.join("a.csv"), b"changed").unwrap();
        assert_eq!(fs::read(&file_copy).unwrap(), b"1,2\n");
        drop(snap);
        assert_eq!(fs::read_dir(&jobs).unwrap().count(), 0);
    }

    #[test]
    fn links_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir(&src).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        let mut snap = Snapshot::create(&t.path().join("jobs"), "j2").unwrap();
        let err = snap.add(&src).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
