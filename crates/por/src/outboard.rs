//! The holder's outboard: the BLAKE3 tree's CVs at 16 KiB-group level and above.
//!
//! To answer a challenge the holder needs, for each challenged chunk, the CVs of every
//! sibling on its path to the root. Below the group level they are recomputed from the
//! group's 16 KiB (read anyway, since the challenged chunk is in it); above it they come from
//! the outboard, which is 2 CVs per group: 64 bytes per 16 KiB, **0.39 % of the file**
//! (4 MiB for 1 GiB). Without an outboard, answering means hashing the whole file.
//!
//! An outboard is derived data: it can always be rebuilt from the file, and the verifier never
//! trusts it (every CV it contributes is checked against the root through the chunk data). A
//! damaged outboard only makes the holder's own answers fail, so a careful holder checks its
//! response before sending it and rebuilds the outboard once if the check fails
//! ([`crate::respond_file`]).
//!
//! # Format (`poexOB01`)
//!
//! ```text
//! offset  size  field
//!      0     8  magic "poexOB01"
//!      8    32  root: blake3 of the file
//!     40     8  size of the file in bytes, u64 little-endian
//!     48     1  group size as log2 of chunks (4: 16 KiB)
//!     49     7  zero
//!     56  32*m  CVs, level by level from the groups up: level l has ceil(G / 2^l) CVs for
//!               G groups (a lone last node is carried up unchanged), up to the level of 2
//!               (the root's children). A file of one group has none.
//! ```

use std::fs::{self, File};
use std::io;
use std::path::Path;

use rayon::prelude::*;

use crate::error::RespondError;
use crate::source::ReadAt;
use crate::tree::{
    self, Cv, GROUP_CHUNKS, GROUP_LEN, GROUP_LOG, Node, chunk_count, parent_cv, root_hash,
};

const MAGIC: &[u8; 8] = b"poexOB01";
const HEADER_LEN: usize = 56;
/// Groups per read while building: 4 MiB, hashed on every core while the next is read.
const READ_GROUPS: u64 = 256;
/// Levels with more nodes than this are joined in parallel.
const PARALLEL_LEVEL: usize = 4096;

/// The CVs of a file's BLAKE3 tree at group level and above, and the root they lead to.
#[derive(Clone, PartialEq, Eq)]
pub struct Outboard {
    root: blake3::Hash,
    size: u64,
    /// `levels[0]` are the group CVs; each next level joins pairs; the last has 2 entries.
    /// Empty when the file is one group.
    levels: Vec<Vec<Cv>>,
}

impl std::fmt::Debug for Outboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outboard")
            .field("root", &self.root.to_hex())
            .field("size", &self.size)
            .field("levels", &self.levels.len())
            .finish()
    }
}

impl Outboard {
    /// Reads the whole file once and builds its outboard (its root is the file's blake3).
    ///
    /// Groups are hashed on every core (rayon) while the next 4 MiB is read.
    pub fn create<R: ReadAt + Sync + ?Sized>(file: &R) -> io::Result<Outboard> {
        let size = file.size()?;
        let groups = chunk_count(size).div_ceil(GROUP_CHUNKS);
        if groups == 1 {
            let mut bytes = vec![0; size as usize];
            file.read_exact_at(&mut bytes, 0)?;
            return Ok(Outboard {
                root: blake3::hash(&bytes),
                size,
                levels: Vec::new(),
            });
        }
        let block = READ_GROUPS * GROUP_LEN;
        let mut current = vec![0u8; block as usize];
        let mut next = vec![0u8; block as usize];
        let mut level0 = Vec::with_capacity(groups as usize);
        let mut offset = 0u64;
        let mut len = block.min(size);
        file.read_exact_at(&mut current[..len as usize], 0)?;
        while len > 0 {
            let next_offset = offset + len;
            let next_len = block.min(size - next_offset);
            let (read, cvs) = rayon::join(
                || file.read_exact_at(&mut next[..next_len as usize], next_offset),
                || hash_groups(&current[..len as usize], offset / GROUP_LEN),
            );
            read?;
            level0.extend(cvs);
            std::mem::swap(&mut current, &mut next);
            offset = next_offset;
            len = next_len;
        }
        Ok(Self::from_groups(size, level0))
    }

    /// Builds the levels above the group CVs of a file of `size` bytes (2 groups or more).
    fn from_groups(size: u64, level0: Vec<Cv>) -> Outboard {
        let mut levels = vec![level0];
        while let Some(last) = levels.last().filter(|l| l.len() > 2) {
            let join = |pair: &[Cv]| match pair {
                [left, right] => parent_cv(left, right),
                [lone] => *lone,
                _ => unreachable!("chunks(2) gives one or two"),
            };
            let up: Vec<Cv> = if last.len() > PARALLEL_LEVEL {
                last.par_chunks(2).map(join).collect()
            } else {
                last.chunks(2).map(join).collect()
            };
            levels.push(up);
        }
        let top = &levels[levels.len() - 1];
        let root = root_hash(&top[0], &top[1]);
        Outboard { root, size, levels }
    }

    /// The file's blake3 digest, as the outboard says.
    pub fn root(&self) -> blake3::Hash {
        self.root
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The CV of `node`, a node at group level or above (see [`Node::is_group_or_above`]), not
    /// the root.
    pub(crate) fn cv(&self, node: Node) -> Option<Cv> {
        let first = node.start / GROUP_CHUNKS;
        let span = node.end.div_ceil(GROUP_CHUNKS) - first;
        let level = if span <= 1 {
            0
        } else {
            64 - (span - 1).leading_zeros()
        };
        self.levels
            .get(level as usize)?
            .get((first >> level) as usize)
            .copied()
    }

    /// The encoded length of the outboard of a `size`-byte file.
    pub fn encoded_len(size: u64) -> u64 {
        let mut count = chunk_count(size).div_ceil(GROUP_CHUNKS);
        let mut cvs = 0;
        while count > 1 {
            cvs += count;
            count = count.div_ceil(2);
        }
        HEADER_LEN as u64 + 32 * cvs
    }

    /// The outboard in its file format (module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::encoded_len(self.size) as usize);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.root.as_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.push(GROUP_LOG as u8);
        out.extend_from_slice(&[0; 7]);
        for level in &self.levels {
            for cv in level {
                out.extend_from_slice(cv);
            }
        }
        out
    }

    /// Parses an outboard. Checks the header, the length for the size, and that the top CVs
    /// lead to the root it names (a truncated or foreign file fails; a damaged CV further down
    /// is caught when a response built with it is checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Outboard, RespondError> {
        let bad = |why: &str| RespondError::Outboard(why.to_owned());
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(bad("not a poex outboard (magic poexOB01)"));
        }
        let root = blake3::Hash::from_bytes(take32(&bytes[8..40]));
        let size = u64::from_le_bytes(bytes[40..48].try_into().map_err(|_| bad("header"))?);
        if bytes[48] != GROUP_LOG as u8 || bytes[49..56] != [0; 7] {
            return Err(bad("unsupported group size"));
        }
        if bytes.len() as u64 != Self::encoded_len(size) {
            return Err(bad("length does not match the file size it names"));
        }
        let mut count = chunk_count(size).div_ceil(GROUP_CHUNKS) as usize;
        if count == 1 {
            return Ok(Outboard {
                root,
                size,
                levels: Vec::new(),
            });
        }
        let mut rest = &bytes[HEADER_LEN..];
        let mut levels = Vec::new();
        while count > 1 {
            let (here, after) = rest.split_at(32 * count);
            levels.push(here.chunks_exact(32).map(take32).collect::<Vec<Cv>>());
            rest = after;
            count = count.div_ceil(2);
        }
        let top = &levels[levels.len() - 1];
        if root_hash(&top[0], &top[1]) != root {
            return Err(bad("its top CVs do not lead to the root it names"));
        }
        Ok(Outboard { root, size, levels })
    }

    /// Reads an outboard file.
    pub fn load(path: &Path) -> Result<Outboard, RespondError> {
        let bytes = fs::read(path).map_err(|e| RespondError::io(path, e))?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            RespondError::Outboard(why) => {
                RespondError::Outboard(format!("{}: {why}", path.display()))
            }
            other => other,
        })
    }

    /// Writes the outboard to `path` atomically ([`poex_durable::write_atomic`]): a reader
    /// sees the old outboard, or none, or the whole new one.
    pub fn save(&self, path: &Path) -> Result<(), RespondError> {
        // Two threads building the same outboard at once (two first challenges) each write
        // their own temporary file; the last rename wins, and both contents are the same.
        poex_durable::write_atomic(path, &self.to_bytes()).map_err(|e| RespondError::io(path, e))
    }

    /// The outboard at `path` if it is one for `file` (same root and size), else a new one built
    /// from `file` and saved there. Returns it and whether it was built.
    ///
    /// Where to keep it is the caller's choice; a poex home keeps `por/<blake3 hex>.outboard`
    /// beside its store (see docs/por.md).
    pub fn load_or_create(
        path: &Path,
        file: &File,
        root: &blake3::Hash,
    ) -> Result<(Outboard, bool), RespondError> {
        let size = file
            .metadata()
            .map_err(|e| RespondError::io(path, e))?
            .len();
        if let Ok(existing) = Self::load(path)
            && existing.root == *root
            && existing.size == size
        {
            return Ok((existing, false));
        }
        let fresh = Self::create(file).map_err(|e| RespondError::io(path, e))?;
        if fresh.root != *root {
            return Err(RespondError::NotThisFile {
                expected: root.to_hex().to_string(),
                actual: fresh.root.to_hex().to_string(),
            });
        }
        fresh.save(path)?;
        Ok((fresh, true))
    }
}

fn hash_groups(bytes: &[u8], first_group: u64) -> Vec<Cv> {
    bytes
        .par_chunks(GROUP_LEN as usize)
        .enumerate()
        .map(|(i, group)| tree::subtree_cv((first_group + i as u64) * GROUP_CHUNKS, group))
        .collect()
}

fn take32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_match_blake3_and_bytes_round_trip() {
        for size in [0u64, 1, 1024, 16 * 1024, 16 * 1024 + 1, 100_000, 5 << 20] {
            let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let ob = Outboard::create(&data[..]).unwrap();
            assert_eq!(ob.root(), blake3::hash(&data), "{size}");
            let bytes = ob.to_bytes();
            assert_eq!(bytes.len() as u64, Outboard::encoded_len(size));
            assert_eq!(Outboard::from_bytes(&bytes).unwrap(), ob);
        }
    }
}
