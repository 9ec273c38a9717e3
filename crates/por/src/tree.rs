//! The shape of BLAKE3's tree over a file's chunks, and the values of its nodes.
//!
//! BLAKE3 cuts its input into 1024-byte chunks (the last one may be short; an empty input is
//! one empty chunk). A node of `c > 1` chunks has a left subtree of the largest power of two
//! below `c` chunks and a right subtree of the rest (BLAKE3 paper §2.1; the same left-complete
//! shape as RFC 9162's Merkle trees). A chunk's or subtree's *chaining value* (CV) depends on
//! its bytes **and its position** (the chunk counter), so a chunk proven at index `i` cannot be
//! replayed at another index. The root is finalized with the ROOT flag: it is exactly
//! `blake3::hash(file)`, the digest poex already records for every file.
//!
//! Everything here is pure arithmetic and hashing: no I/O.

use std::collections::BTreeSet;

use blake3::hazmat::{self, HasherExt as _, Mode};

/// BLAKE3's chunk: the smallest unit a proof can carry.
pub const CHUNK_LEN: u64 = blake3::CHUNK_LEN as u64;

/// Chunks per outboard group, as a power of two: the outboard keeps one CV per 16 KiB group
/// and above (0.4 % of the file); CVs inside a group are recomputed from the group's bytes.
pub const GROUP_LOG: u32 = 4;

/// Chunks per outboard group.
pub const GROUP_CHUNKS: u64 = 1 << GROUP_LOG;

/// Bytes per outboard group.
pub const GROUP_LEN: u64 = GROUP_CHUNKS * CHUNK_LEN;

/// A chaining value: the 32-byte non-root hash of a chunk or subtree.
pub type Cv = [u8; 32];

/// Number of BLAKE3 chunks of a `size`-byte file (an empty file has one, empty).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_LEN).max(1)
}

/// The byte range `[start, end)` of chunk `index` in a `size`-byte file.
pub fn chunk_bytes(index: u64, size: u64) -> (u64, u64) {
    let start = index * CHUNK_LEN;
    (start, (start + CHUNK_LEN).min(size))
}

/// A subtree, by its chunk range `[start, end)`. Ordered by `(start, end)`: the order in which
/// a response lists the CVs it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node {
    /// First chunk.
    pub start: u64,
    /// One past the last chunk.
    pub end: u64,
}

impl Node {
    /// Number of chunks under the node.
    pub fn chunks(self) -> u64 {
        self.end - self.start
    }

    /// Whether the node covers whole outboard groups (or the file's last, shorter group), so
    /// that its CV is in the outboard rather than recomputed from bytes.
    pub fn is_group_or_above(self, n: u64) -> bool {
        self.start.is_multiple_of(GROUP_CHUNKS) && (self.chunks() >= GROUP_CHUNKS || self.end == n)
    }
}

/// Chunks in the left subtree of a node of `count > 1` chunks: the largest power of two
/// strictly below `count`.
pub fn left_chunks(count: u64) -> u64 {
    debug_assert!(count > 1);
    1 << (63 - (count - 1).leading_zeros())
}

/// One step of a path from the root down to a chunk.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// The sibling of the node the path goes into.
    pub sibling: Node,
    /// True if the path goes into the left child (the sibling is on the right).
    pub went_left: bool,
}

/// The path from the root of an `n`-chunk tree down to chunk `index`, top first. Empty for a
/// one-chunk tree (the chunk is the root).
pub fn path(index: u64, n: u64) -> Vec<Step> {
    debug_assert!(index < n);
    let mut steps = Vec::with_capacity(64 - n.leading_zeros() as usize);
    let (mut start, mut end) = (0, n);
    while end - start > 1 {
        let mid = start + left_chunks(end - start);
        if index < mid {
            steps.push(Step {
                sibling: Node { start: mid, end },
                went_left: true,
            });
            end = mid;
        } else {
            steps.push(Step {
                sibling: Node { start, end: mid },
                went_left: false,
            });
            start = mid;
        }
    }
    steps
}

/// The CVs a response carries for challenged chunks `indices` of an `n`-chunk tree: every
/// sibling on every path, each once, in [`Node`] order.
///
/// Every path gets all its siblings, including siblings that hold other challenged chunks
/// (whose CVs the verifier could have computed): that costs about one CV per challenged
/// chunk and makes each chunk's path checkable on its own, so a failure names the chunk.
pub fn siblings(indices: &[u64], n: u64) -> Vec<Node> {
    let mut set = BTreeSet::new();
    for &i in indices {
        for step in path(i, n) {
            set.insert(step.sibling);
        }
    }
    set.into_iter().collect()
}

/// The CV of the chunk or subtree starting at chunk `start` whose bytes are `bytes`. The
/// caller guarantees the range is a node of the tree (a chunk, or a node [`path`] and
/// [`siblings`] give) and is not the root (the tree has more than one chunk).
pub fn subtree_cv(start: u64, bytes: &[u8]) -> Cv {
    blake3::Hasher::new()
        .set_input_offset(start * CHUNK_LEN)
        .update(bytes)
        .finalize_non_root()
}

/// Joins two child CVs into their parent's CV.
pub fn parent_cv(left: &Cv, right: &Cv) -> Cv {
    hazmat::merge_subtrees_non_root(left, right, Mode::Hash)
}

/// Joins the root's two children into the root hash (`blake3::hash` of the file).
pub fn root_hash(left: &Cv, right: &Cv) -> blake3::Hash {
    hazmat::merge_subtrees_root(left, right, Mode::Hash)
}

/// The root reached from chunk `index`'s CV through its path, taking each sibling's CV from
/// `sibling`. `n > 1`.
pub fn root_from(
    index: u64,
    cv: Cv,
    n: u64,
    mut sibling: impl FnMut(Node) -> Option<Cv>,
) -> Option<blake3::Hash> {
    let steps = path(index, n);
    let mut cv = cv;
    for (depth, step) in steps.iter().enumerate().rev() {
        let other = sibling(step.sibling)?;
        let (left, right) = if step.went_left {
            (&cv, &other)
        } else {
            (&other, &cv)
        };
        if depth == 0 {
            return Some(root_hash(left, right));
        }
        cv = parent_cv(left, right);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_subtree_matches_blake3() {
        for chunks in 2..300u64 {
            for tail in [1, 512, 1024] {
                let len = (chunks - 1) * CHUNK_LEN + tail;
                assert_eq!(
                    left_chunks(chunk_count(len)) * CHUNK_LEN,
                    hazmat::left_subtree_len(len),
                    "{len} bytes"
                );
            }
        }
    }

    #[test]
    fn every_chunk_path_reaches_the_blake3_root() {
        for size in [
            1025u64,
            2048,
            3000,
            5 * 1024 + 7,
            16 * 1024,
            17 * 1024 + 1,
            40_000,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let n = chunk_count(size);
            let root = blake3::hash(&data);
            let cv_of = |node: Node| {
                let (s, _) = chunk_bytes(node.start, size);
                let e = (node.end * CHUNK_LEN).min(size);
                Some(subtree_cv(node.start, &data[s as usize..e as usize]))
            };
            for i in 0..n {
                let (s, e) = chunk_bytes(i, size);
                let cv = subtree_cv(i, &data[s as usize..e as usize]);
                assert_eq!(
                    root_from(i, cv, n, cv_of),
                    Some(root),
                    "size {size} chunk {i}"
                );
            }
        }
    }
}
