//! Proof that `poex exec`'s inputs did not change while the job ran, without copying them.
//!
//! Before an input is hashed, every entry of it (the file, or the folder and everything in
//! it) is stamped with what the kernel keeps about it: device, inode, size, modification and
//! change time (nanoseconds). After the run the stamps are taken again and must be the same.
//! The change time (`ctime`) cannot be set by a writer: any write, truncation, rename over,
//! `chmod` or restored `mtime` moves it to the current time, and since Linux 6.13 a change after
//! a `stat` always gets a distinct, fine-grained `ctime` (multigrain timestamps). So a writer
//! that changed an input while it was hashed or while the job read it — even one that put the
//! old bytes back — leaves a different stamp, and poex refuses to sign a success over it.
//!
//! What it does not catch: a path swapped to another inode and back again in the moment between
//! the stamp and the sandbox opening it; a filesystem whose timestamps are coarse and not
//! multigrain (older kernels: two changes within one tick may share a `ctime`); root changing
//! the clock. `poex run` does not need this: its inputs are the store's objects, re-hashed just
//! before the run.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the kernel keeps about one entry that a change of its content or name would move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mode: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The stamps of every entry of one input, by path relative to it (`""` for the input itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamps(BTreeMap<String, Stamp>);

impl Stamps {
    /// Stamps `path` and, if it is a folder, everything below it (links are stamped, never
    /// followed).
    pub(crate) fn of(path: &Path) -> io::Result<Stamps> {
        let mut stamps = BTreeMap::new();
        let mut pending = vec![String::new()];
        while let Some(rel) = pending.pop() {
            let full = if rel.is_empty() {
                path.to_owned()
            } else {
                path.join(&rel)
            };
            let meta = fs::symlink_metadata(&full)?;
            if meta.is_dir() {
                for entry in fs::read_dir(&full)? {
                    let name = entry?.file_name();
                    let name = name.to_string_lossy();
                    pending.push(if rel.is_empty() {
                        name.into_owned()
                    } else {
                        format!("{rel}/{name}")
                    });
                }
            }
            stamps.insert(rel, Stamp::of(&meta));
        }
        Ok(Stamps(stamps))
    }

    /// What differs between these stamps and `later` (taken of the same input), in words, or
    /// `None` if nothing does.
    pub(crate) fn changed(&self, later: &Stamps) -> Option<String> {
        let name = |rel: &str| {
            if rel.is_empty() {
                "the input itself".to_owned()
            } else {
                rel.to_owned()
            }
        };
        for (rel, before) in &self.0 {
            match later.0.get(rel) {
                None => return Some(format!("{} was removed", name(rel))),
                Some(after) if after != before => {
                    let what = if after.ino != before.ino || after.dev != before.dev {
                        "was replaced by another file"
                    } else if after.size != before.size || after.mtime != before.mtime {
                        "was written to"
                    } else {
                        "was changed (its change time moved)"
                    };
                    return Some(format!("{} {what}", name(rel)));
                }
                Some(_) => {}
            }
        }
        later
            .0
            .keys()
            .find(|rel| !self.0.contains_key(*rel))
            .map(|rel| format!("{} was added", name(rel)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_change_to_an_input_shows_even_when_the_bytes_are_put_back() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("in");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("a.csv"), "1\n").unwrap();
        let before = Stamps::of(&dir).unwrap();
        assert_eq!(before.changed(&Stamps::of(&dir).unwrap()), None);

        // Same bytes written again: the change time moved.
        fs::write(dir.join("a.csv"), "1\n").unwrap();
        let after = Stamps::of(&dir).unwrap();
        assert!(
            before.changed(&after).unwrap().contains("a.csv"),
            "{after:?}"
        );

        let before = Stamps::of(&dir).unwrap();
        fs::write(dir.join("b.csv"), "2\n").unwrap();
        assert_eq!(
            before.changed(&Stamps::of(&dir).unwrap()).unwrap(),
            // The folder's own times move first.
            "the input itself was written to"
        );

        let file = dir.join("a.csv");
        let before = Stamps::of(&file).unwrap();
        fs::write(dir.join("new"), "1\n").unwrap();
        fs::rename(dir.join("new"), &file).unwrap();
        assert_eq!(
            before.changed(&Stamps::of(&file).unwrap()).unwrap(),
            "the input itself was replaced by another file"
        );
    }
}
