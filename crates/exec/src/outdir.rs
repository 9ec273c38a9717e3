//! Walks of a job's output folder, which the job wrote and may still be changing: every step
//! is relative to a descriptor of the folder above (`openat` with `O_NOFOLLOW | O_DIRECTORY`,
//! `fstatat` with `AT_SYMLINK_NOFOLLOW`), so a symlink or a folder swapped in mid-walk is never
//! followed out of the tree, and paths of any length work (no path is ever spelled out).
//!
//! - [`measure`]: sizes while the job runs and after (the output limits);
//! - [`chown_tree`]: hands the tree back from the sandbox uid to its owner;
//! - [`remove_contents`]: empties a folder whatever the job left (unreadable folders, any depth).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Gid, Mode, OFlags, Uid};

use crate::sandbox::MAX_OUTPUT_DEPTH;

/// What [`measure`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputSize {
    /// Apparent bytes of the regular files.
    pub bytes: u64,
    /// Regular files.
    pub files: u64,
    /// Entries of any kind (files, folders, links, ...), the root excluded.
    pub entries: u64,
    /// The largest regular file.
    pub largest: u64,
    /// A folder deeper than [`MAX_OUTPUT_DEPTH`] exists (it was not walked).
    pub too_deep: bool,
}

fn open_dir(parent: impl AsFd, name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn open_root(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn is_dot(name: &CStr) -> bool {
    matches!(name.to_bytes(), b"." | b"..")
}

/// Sizes the output folder without following links. Entries that vanish or cannot be read
/// mid-walk are skipped (the job may be running). Holds at most [`MAX_OUTPUT_DEPTH`] + 1
/// descriptors; a folder below that depth is not walked and sets `too_deep`.
pub fn measure(dir: &Path) -> OutputSize {
    let mut size = OutputSize::default();
    let Ok(root) = open_root(dir) else {
        return size;
    };
    let Ok(root) = Dir::new(root) else {
        return size;
    };
    let mut stack: Vec<Dir> = vec![root];
    loop {
        let depth = stack.len();
        let Some(top) = stack.last_mut() else { break };
        let Some(entry) = top.read() else {
            stack.pop();
            continue;
        };
        let Ok(entry) = entry else {
            stack.pop();
            continue;
        };
        let name = entry.file_name();
        if is_dot(name) {
            continue;
        }
        size.entries += 1;
        let Ok(fd) = top.fd() else { continue };
        // The entry's type, from the directory itself where the filesystem records it: only
        // regular files (and entries of unknown type) need a stat.
        let kind = match entry.file_type() {
            FileType::RegularFile | FileType::Unknown => {
                let Ok(stat) = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
                    continue;
                };
                let kind = FileType::from_raw_mode(stat.st_mode);
                if kind == FileType::RegularFile {
                    let len = u64::try_from(stat.st_size).unwrap_or(0);
                    size.files += 1;
                    size.bytes = size.bytes.saturating_add(len);
                    size.largest = size.largest.max(len);
                }
                kind
            }
            other => other,
        };
        if kind == FileType::Directory {
            if depth > MAX_OUTPUT_DEPTH {
                size.too_deep = true;
                continue;
            }
            if let Ok(child) = open_dir(fd, name).and_then(|c| Ok(Dir::new(c)?)) {
                stack.push(child);
            }
        }
    }
    size
}

/// Changes the owner of `dir` and everything in it to `uid:gid`, changing links themselves,
/// never what they point to. Stops descending below [`MAX_OUTPUT_DEPTH`] folders (such an
/// output is over its limits and not attested; what lies deeper keeps the sandbox uid).
pub(crate) fn chown_tree(dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let owner = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    let root = open_root(dir)?;
    rustix::fs::fchown(&root, owner.0, owner.1)?;
    let mut stack: Vec<Dir> = vec![Dir::new(root)?];
    loop {
        let depth = stack.len();
        let Some(top) = stack.last_mut() else { break };
        let Some(entry) = top.read() else {
            stack.pop();
            continue;
        };
        let entry = entry?;
        let name = entry.file_name();
        if is_dot(name) {
            continue;
        }
        let fd = top.fd()?;
        rustix::fs::chownat(fd, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)?;
        if entry.file_type() == FileType::Directory && depth <= MAX_OUTPUT_DEPTH {
            let child = Dir::new(open_dir(fd, name)?)?;
            stack.push(child);
        }
    }
    Ok(())
}

/// Removes everything inside `dir` (which stays, empty): folders the job made unreadable or
/// read-only are opened up first, links are removed, never followed, and a tree of any depth
/// goes while at most [`MAX_OUTPUT_DEPTH`] + 1 descriptors are open: a folder found at that
/// depth is first moved up into `dir` under a new name, then emptied from there.
pub(crate) fn remove_contents(dir: &Path) -> io::Result<()> {
    let root = match open_root(dir) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            // The job closed the folder itself (poex runs as the job's uid): open it up.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            open_root(dir)?
        }
        other => other?,
    };
    let mut hoisted = 0u64;
    // Repeated until a pass finds nothing: a pass may move deep folders up into the root.
    loop {
        let mut removed_any = false;
        // A fresh open of the folder each pass (not a dup, which would share the offset).
        let mut stack: Vec<Dir> = vec![Dir::read_from(&root)?];
        // The name of each open folder in its parent, to remove it once it is empty.
        let mut names: Vec<std::ffi::CString> = Vec::new();
        loop {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else { break };
            let Some(entry) = top.read() else {
                stack.pop();
                if let (Some(name), Some(parent)) = (names.pop(), stack.last()) {
                    rustix::fs::unlinkat(parent.fd()?, name.as_c_str(), AtFlags::REMOVEDIR)?;
                    removed_any = true;
                }
                continue;
            };
            let entry = entry?;
            let name = entry.file_name().to_owned();
            if is_dot(&name) {
                continue;
            }
            let fd = top.fd()?;
            let stat = rustix::fs::statat(fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                rustix::fs::unlinkat(fd, name.as_c_str(), AtFlags::empty())?;
                removed_any = true;
                continue;
            }
            // Its owner (poex, or root) may list and empty it whatever mode the job left.
            rustix::fs::chmodat(fd, name.as_c_str(), Mode::RWXU, AtFlags::empty())?;
            if depth > MAX_OUTPUT_DEPTH {
                let new = std::ffi::CString::new(format!(".poex-deep-{hoisted}"))
                    .map_err(io::Error::other)?;
                hoisted += 1;
                rustix::fs::renameat(fd, name.as_c_str(), &root, new.as_c_str())?;
                removed_any = true;
                continue;
            }
            let child = Dir::new(open_dir(fd, name.as_c_str())?)?;
            names.push(name);
            stack.push(child);
        }
        if !removed_any {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn deep(root: &Path, levels: usize, name: &str) {
        // Made relative to a descriptor per level: the whole path is far over PATH_MAX.
        let mut fd = open_root(root).unwrap();
        for _ in 0..levels {
            rustix::fs::mkdirat(&fd, name, Mode::RWXU).unwrap();
            fd = open_dir(&fd, &std::ffi::CString::new(name).unwrap()).unwrap();
        }
        let file = rustix::fs::openat(
            &fd,
            "leaf",
            OFlags::WRONLY | OFlags::CREATE,
            Mode::RUSR | Mode::WUSR,
        )
        .unwrap();
        rustix::io::write(&file, b"deep").unwrap();
    }

    #[test]
    fn measure_counts_without_following_links() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("sub")).unwrap();
        fs::write(t.path().join("a"), b"12345").unwrap();
        fs::write(t.path().join("sub/b"), b"123").unwrap();
        symlink("/usr", t.path().join("link")).unwrap();
        let size = measure(t.path());
        assert_eq!(size.files, 2);
        assert_eq!(size.bytes, 8);
        assert_eq!(size.largest, 5);
        assert_eq!(size.entries, 4);
        assert!(!size.too_deep);
    }

    #[test]
    fn measure_flags_a_tree_deeper_than_the_limit() {
        let t = tempfile::tempdir().unwrap();
        deep(t.path(), MAX_OUTPUT_DEPTH + 5, &"n".repeat(200));
        let size = measure(t.path());
        assert!(size.too_deep);
        assert_eq!(size.files, 0, "the leaf is below the limit");
        let ok = tempfile::tempdir().unwrap();
        deep(ok.path(), MAX_OUTPUT_DEPTH - 1, "d");
        let size = measure(ok.path());
        assert!(!size.too_deep);
        assert_eq!(size.files, 1);
    }

    #[test]
    fn remove_contents_empties_deep_and_unreadable_trees() {
        let t = tempfile::tempdir().unwrap();
        deep(t.path(), 3 * MAX_OUTPUT_DEPTH, &"x".repeat(200));
        fs::create_dir_all(t.path().join("locked/inner")).unwrap();
        fs::write(t.path().join("locked/inner/f"), b"f").unwrap();
        fs::set_permissions(
            t.path().join("locked/inner"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        fs::set_permissions(t.path().join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        symlink("/usr/bin", t.path().join("link")).unwrap();
        remove_contents(t.path()).unwrap();
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 0);
        assert!(Path::new("/usr/bin").exists(), "links are not followed");
    }

    #[test]
    fn chown_tree_reaches_paths_longer_than_path_max() {
        let t = tempfile::tempdir().unwrap();
        deep(t.path(), 40, &"y".repeat(200));
        use std::os::unix::fs::MetadataExt as _;
        let meta = fs::metadata(t.path()).unwrap();
        chown_tree(t.path(), meta.uid(), meta.gid()).unwrap();
    }
}
