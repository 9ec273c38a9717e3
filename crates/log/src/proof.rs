//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4): generation and verification.
//!
//! Verification follows transparency-dev/merkle's `proof` package check for check, so the
//! published probe files give the same answer here as there:
//!
//! - inclusion: `index < size`, a 32-byte leaf hash, exactly the expected number of proof hashes,
//!   then the recomputed root must equal the given root;
//! - consistency: `size1 <= size2`, `size1 != 0` (a proof from the empty tree proves nothing and
//!   is refused, even when `size2 == 0`), equal sizes need an empty proof and equal roots,
//!   otherwise a non-empty proof of exactly the expected length whose chains reproduce both roots.
//!
//! Generation reads complete-subtree hashes through a [`HashReader`], so the same code proves
//! against an in-memory [`MemoryTree`] and against stored tiles ([`crate::tile::TileHashReader`]).

use std::fmt;

use crate::hash::{HASH_SIZE, Hash, empty_root, node_hash};

/// A complete (perfect) subtree of the log: the `2^level` leaves
/// `[index << level, (index + 1) << level)`.
///
/// Level 0 nodes are leaf hashes. RFC 9162 calls the hash of such a subtree `MTH(D[a:b])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves (0 = leaf). At most 63.
    pub level: u8,
    /// Position among the nodes of that level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// The node at `level` and `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node(level {}, index {})", self.level, self.index)
    }
}

/// A source of complete-subtree hashes: an in-memory tree, stored tiles, a remote log.
///
/// # Implementation notes
///
/// - Return exactly one hash per requested node, in the order requested; proof generation checks
///   the count and fails with [`ProveError::ReaderContract`] otherwise.
/// - Callers only ask for nodes that are complete in the tree they prove against, so a node that
///   is not (yet) complete is an error of the reader's choosing, never a guess.
/// - Requests come in one batch per proof, so a tile-backed reader can fetch each tile once.
pub trait HashReader {
    /// Why a hash could not be read.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The hashes of `nodes`, in order.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    type Error = R::Error;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        (**self).read_hashes(nodes)
    }
}

/// Which hash of a proof check had the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashField {
    /// The leaf hash of an inclusion proof.
    LeafHash,
    /// The root of an inclusion proof.
    Root,
    /// The root of the older tree of a consistency proof.
    Root1,
    /// The root of the newer tree of a consistency proof.
    Root2,
    /// The proof hash at this position (0 = nearest the leaf or the old tree).
    Proof(usize),
}

impl fmt::Display for HashField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LeafHash => f.write_str("leaf hash"),
            Self::Root => f.write_str("root"),
            Self::Root1 => f.write_str("root1"),
            Self::Root2 => f.write_str("root2"),
            Self::Proof(i) => write!(f, "proof[{i}]"),
        }
    }
}

/// An inclusion proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InclusionError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index given.
        index: u64,
        /// The tree size given.
        size: u64,
    },
    /// A hash was not 32 bytes.
    #[error("{field} is {actual} bytes, want {HASH_SIZE}")]
    HashLength {
        /// Which hash.
        field: HashField,
        /// Its length.
        actual: usize,
    },
    /// The proof has the wrong number of hashes for this index and size.
    #[error("proof has {actual} hashes, want {expected} for leaf {index} in a tree of size {size}")]
    ProofLength {
        /// Hashes a proof for this index and size has.
        expected: usize,
        /// Hashes given.
        actual: usize,
        /// The leaf index given.
        index: u64,
        /// The tree size given.
        size: u64,
    },
    /// The proof is well formed but leads to another root: the leaf is not in this tree, or the
    /// proof, index, size or root was altered.
    #[error("inclusion proof leads to root {computed}, not the given root {expected}")]
    RootMismatch {
        /// The root given (from a checkpoint, typically).
        expected: Hash,
        /// The root the leaf hash and proof lead to.
        computed: Hash,
    },
}

/// A consistency proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsistencyError {
    /// The old tree is larger than the new one.
    #[error("size1 {size1} is larger than size2 {size2}")]
    SizeOrder {
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
    },
    /// `size1 == 0`: every tree extends the empty tree, so such a proof proves nothing and the
    /// reference implementation refuses it (tlog-witness treats size 0 specially instead).
    #[error("size1 is 0: a consistency proof from the empty tree proves nothing")]
    EmptyOldTree,
    /// Equal sizes need an empty proof.
    #[error("size1 = size2 = {size}, but the proof has {actual} hashes instead of none")]
    ProofNotEmpty {
        /// The (equal) tree size.
        size: u64,
        /// Hashes given.
        actual: usize,
    },
    /// Different sizes need a non-empty proof.
    #[error("size1 {size1} < size2 {size2}, but the proof is empty")]
    EmptyProof {
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
    },
    /// A hash was not 32 bytes.
    #[error("{field} is {actual} bytes, want {HASH_SIZE}")]
    HashLength {
        /// Which hash.
        field: HashField,
        /// Its length.
        actual: usize,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has {actual} hashes, want {expected} from size {size1} to size {size2}")]
    ProofLength {
        /// Hashes a proof for these sizes has.
        expected: usize,
        /// Hashes given.
        actual: usize,
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
    },
    /// The proof does not lead to the given root of one of the trees.
    #[error("consistency proof leads to {field} {computed}, not the given {expected}")]
    RootMismatch {
        /// [`HashField::Root1`] or [`HashField::Root2`].
        field: HashField,
        /// The root given.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// Equal sizes, but the two roots differ: two different trees of one size, a fork.
    #[error("size1 = size2 = {size} but the roots differ")]
    RootsDiffer {
        /// The (equal) tree size.
        size: u64,
    },
}

/// A proof could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProveError<E> {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// The old tree is larger than the new one.
    #[error("size1 {size1} is larger than size2 {size2}")]
    SizeOrder {
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
    },
    /// `size1 == 0`: verifiers refuse such a proof, so none is made.
    #[error("size1 is 0: a consistency proof from the empty tree proves nothing")]
    EmptyOldTree,
    /// The hash reader failed.
    #[error("reading node hashes: {0}")]
    Read(#[source] E),
    /// The hash reader returned the wrong number of hashes.
    #[error("hash reader returned {actual} hashes for {expected} nodes")]
    ReaderContract {
        /// Nodes requested.
        expected: usize,
        /// Hashes returned.
        actual: usize,
    },
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), InclusionError> {
    let computed = root_from_inclusion_proof(leaf, index, size, proof)?;
    if computed != *root {
        return Err(InclusionError::RootMismatch {
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// The root that `leaf` at `index` and `proof` lead to in a tree of `size` leaves.
///
/// Fails only on a malformed proof (index outside the tree, wrong number of hashes).
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, InclusionError> {
    if index >= size {
        return Err(InclusionError::IndexOutOfRange { index, size });
    }
    let (inner, border) = decompose_inclusion(index, size);
    if proof.len() != inner + border {
        return Err(InclusionError::ProofLength {
            expected: inner + border,
            actual: proof.len(),
            index,
            size,
        });
    }
    let seed = chain_inner(*leaf, &proof[..inner], index);
    Ok(chain_border_right(seed, &proof[inner..]))
}

/// [`verify_inclusion`] over raw byte strings, as received from the wire or a probe file.
///
/// Checks in the reference implementation's order (index, leaf hash length, proof length), then
/// the length of each proof hash and of the root, naming the offending [`HashField`].
pub fn verify_inclusion_bytes<P: AsRef<[u8]>>(
    leaf: &[u8],
    index: u64,
    size: u64,
    proof: &[P],
    root: &[u8],
) -> Result<(), InclusionError> {
    if index >= size {
        return Err(InclusionError::IndexOutOfRange { index, size });
    }
    let leaf = to_hash(leaf, HashField::LeafHash).map_err(inclusion_length)?;
    let (inner, border) = decompose_inclusion(index, size);
    if proof.len() != inner + border {
        return Err(InclusionError::ProofLength {
            expected: inner + border,
            actual: proof.len(),
            index,
            size,
        });
    }
    let proof = to_hashes(proof).map_err(inclusion_length)?;
    let root = to_hash(root, HashField::Root).map_err(inclusion_length)?;
    verify_inclusion(&leaf, index, size, &proof, &root)
}

/// Verifies that the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves
/// with root `root1`.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ConsistencyError> {
    check_consistency_sizes(size1, size2, proof.len())?;
    if size1 == size2 {
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ConsistencyError::RootsDiffer { size: size1 })
        };
    }
    // From here 0 < size1 < size2 and the proof is not empty.
    let (inner, border) = decompose_inclusion(size1 - 1, size2);
    let shift = size1.trailing_zeros() as usize;
    // The proof is the tail of the inclusion proof of leaf size1-1 in the new tree, starting at
    // level `shift`, where the old tree's rightmost complete subtree sits. When the old tree is
    // itself that complete subtree (a power of two) its root is the seed and is not repeated.
    let inner = inner - shift;
    // check_consistency_sizes refused an empty proof for size1 < size2, so proof[0] exists.
    let (seed, rest) = if size1 == 1 << shift {
        (*root1, proof)
    } else {
        (proof[0], &proof[1..])
    };
    let start = proof.len() - rest.len();
    if proof.len() != start + inner + border {
        return Err(ConsistencyError::ProofLength {
            expected: start + inner + border,
            actual: proof.len(),
            size1,
            size2,
        });
    }
    let mask = (size1 - 1) >> shift;
    let computed1 = chain_border_right(
        chain_inner_right(seed, &rest[..inner], mask),
        &rest[inner..],
    );
    if computed1 != *root1 {
        return Err(ConsistencyError::RootMismatch {
            field: HashField::Root1,
            expected: *root1,
            computed: computed1,
        });
    }
    let computed2 = chain_border_right(chain_inner(seed, &rest[..inner], mask), &rest[inner..]);
    if computed2 != *root2 {
        return Err(ConsistencyError::RootMismatch {
            field: HashField::Root2,
            expected: *root2,
            computed: computed2,
        });
    }
    Ok(())
}

/// [`verify_consistency`] over raw byte strings, as received from the wire or a probe file.
///
/// Like the reference implementation, equal sizes compare the two roots as opaque byte strings
/// (so two equal non-hash strings "match"); otherwise every hash must be 32 bytes.
pub fn verify_consistency_bytes<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ConsistencyError> {
    check_consistency_sizes(size1, size2, proof.len())?;
    if size1 == size2 && root1 == root2 {
        return Ok(());
    }
    let root1 = to_hash(root1, HashField::Root1).map_err(consistency_length)?;
    let root2 = to_hash(root2, HashField::Root2).map_err(consistency_length)?;
    let proof = to_hashes(proof).map_err(consistency_length)?;
    verify_consistency(size1, size2, &proof, &root1, &root2)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, leaf sibling first.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    let mut ranges = Vec::new();
    inclusion_ranges(index, 0, size, &mut ranges);
    hash_ranges(&ranges, reader)
}

/// The consistency proof from the tree of `size1` leaves to the tree of `size2` leaves.
///
/// `size1 == size2` gives the empty proof; `size1 == 0` is refused ([`ProveError::EmptyOldTree`]).
pub fn consistency_proof<R: HashReader + ?Sized>(
    size1: u64,
    size2: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if size1 > size2 {
        return Err(ProveError::SizeOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProveError::EmptyOldTree);
    }
    let mut ranges = Vec::new();
    consistency_ranges(size1, 0, size2, true, &mut ranges);
    hash_ranges(&ranges, reader)
}

/// The root of the tree of `size` leaves (the empty-tree hash for 0).
pub fn root<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, ProveError<R::Error>> {
    if size == 0 {
        return Ok(empty_root());
    }
    let mut hashes = hash_ranges(&[(0, size)], reader)?;
    Ok(hashes.swap_remove(0))
}

/// The complete subtrees whose hashes make up the root of leaves `[start, end)`, left to right.
///
/// For the whole tree (`start == 0`) these are the perfect subtrees of decreasing size that
/// RFC 9162 splits a tree of `end` leaves into; the root hashes them together right to left.
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut at = start;
    while at < end {
        let fits = 63 - (end - at).leading_zeros();
        let level = at.trailing_zeros().min(fits);
        nodes.push(NodeId::new(level as u8, at >> level));
        at += 1 << level;
    }
    nodes
}

/// Hashes perfect-subtree hashes (as from [`range_nodes`]) into the hash of their whole range.
///
/// Returns `None` for an empty list.
pub fn fold_range(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// An append-only Merkle tree held in memory: every node hash of every level.
///
/// Meant for tests, small logs and as the model that tile-based code is checked against.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of [`NodeId`] `(l, i)`; only complete subtrees are stored.
    levels: Vec<Vec<Hash>>,
}

/// A [`MemoryTree`] was asked for a subtree it does not have (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{node} is not a complete subtree of this tree of size {size}")]
pub struct MissingNode {
    /// The node asked for.
    pub node: NodeId,
    /// The tree's size.
    pub size: u64,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf hash; returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            if row.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
        index
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The leaf hash at `index`, if any.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.node(NodeId::new(0, index))
    }

    /// The hash of a complete subtree, if the tree has it.
    pub fn node(&self, node: NodeId) -> Option<Hash> {
        let row = self.levels.get(usize::from(node.level))?;
        row.get(usize::try_from(node.index).ok()?).copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = range_nodes(0, self.size())
            .into_iter()
            .map(|node| {
                self.node(node)
                    .expect("range_nodes(0, size) names only complete subtrees, all of which MemoryTree stores")
            })
            .collect();
        fold_range(&hashes).unwrap_or_else(empty_root)
    }
}

impl HashReader for MemoryTree {
    type Error = MissingNode;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        nodes
            .iter()
            .map(|&node| {
                self.node(node).ok_or(MissingNode {
                    node,
                    size: self.size(),
                })
            })
            .collect()
    }
}

fn check_consistency_sizes(
    size1: u64,
    size2: u64,
    proof_len: usize,
) -> Result<(), ConsistencyError> {
    if size1 > size2 {
        return Err(ConsistencyError::SizeOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ConsistencyError::EmptyOldTree);
    }
    if size1 == size2 && proof_len != 0 {
        return Err(ConsistencyError::ProofNotEmpty {
            size: size1,
            actual: proof_len,
        });
    }
    if size1 < size2 && proof_len == 0 {
        return Err(ConsistencyError::EmptyProof { size1, size2 });
    }
    Ok(())
}

fn to_hash(bytes: &[u8], field: HashField) -> Result<Hash, (HashField, usize)> {
    Hash::try_from(bytes).map_err(|e| (field, e.actual))
}

fn to_hashes<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, (HashField, usize)> {
    proof
        .iter()
        .enumerate()
        .map(|(i, p)| to_hash(p.as_ref(), HashField::Proof(i)))
        .collect()
}

fn inclusion_length((field, actual): (HashField, usize)) -> InclusionError {
    InclusionError::HashLength { field, actual }
}

fn consistency_length((field, actual): (HashField, usize)) -> ConsistencyError {
    ConsistencyError::HashLength { field, actual }
}

/// Splits the inclusion proof of `index` in a tree of `size` into the part below the point where
/// the leaf's path leaves the last complete subtree (`inner`) and the part above it (`border`).
fn decompose_inclusion(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    // inner <= 64; a shift by 64 would overflow, and then no bits are left anyway.
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

fn chain_inner(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, h)| {
        if (index >> i) & 1 == 0 {
            node_hash(&acc, h)
        } else {
            node_hash(h, &acc)
        }
    })
}

fn chain_inner_right(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, h)| {
        if (index >> i) & 1 == 1 {
            node_hash(h, &acc)
        } else {
            acc
        }
    })
}

fn chain_border_right(seed: Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(seed, |acc, h| node_hash(h, &acc))
}

/// Largest power of two strictly below `n` (`n >= 2`): RFC 9162's split point `k`.
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// RFC 9162 `PATH(m, D[lo:hi])` as leaf ranges, leaf sibling first.
fn inclusion_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    if hi - lo <= 1 {
        return;
    }
    let k = split_point(hi - lo);
    if m < lo + k {
        inclusion_ranges(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        inclusion_ranges(m, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// RFC 9162 `SUBPROOF(m, D[lo:hi], b)` as leaf ranges, `m` counted from `lo`.
fn consistency_ranges(m: u64, lo: u64, hi: u64, whole_old_tree: bool, out: &mut Vec<(u64, u64)>) {
    if m == hi - lo {
        if !whole_old_tree {
            out.push((lo, hi));
        }
        return;
    }
    let k = split_point(hi - lo);
    if m <= k {
        consistency_ranges(m, lo, lo + k, whole_old_tree, out);
        out.push((lo + k, hi));
    } else {
        consistency_ranges(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// Reads, in one batch, the complete subtrees of every range and folds each range's hash.
fn hash_ranges<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    let per_range: Vec<Vec<NodeId>> = ranges.iter().map(|&(a, b)| range_nodes(a, b)).collect();
    let nodes: Vec<NodeId> = per_range.iter().flatten().copied().collect();
    let hashes = reader.read_hashes(&nodes).map_err(ProveError::Read)?;
    if hashes.len() != nodes.len() {
        return Err(ProveError::ReaderContract {
            expected: nodes.len(),
            actual: hashes.len(),
        });
    }
    let mut rest = hashes.as_slice();
    let mut out = Vec::with_capacity(ranges.len());
    for range in &per_range {
        let (these, tail) = rest.split_at(range.len());
        rest = tail;
        // Every range is non-empty (lo < hi), so it has at least one node.
        out.extend(fold_range(these));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    #[test]
    fn all_small_proofs_verify() {
        let t = tree(40);
        for size in 1..=40 {
            let r = root(size, &t).unwrap();
            for index in 0..size {
                let p = inclusion_proof(index, size, &t).unwrap();
                verify_inclusion(&t.leaf(index).unwrap(), index, size, &p, &r).unwrap();
            }
            for size1 in 1..=size {
                let p = consistency_proof(size1, size, &t).unwrap();
                let r1 = root(size1, &t).unwrap();
                verify_consistency(size1, size, &p, &r1, &r).unwrap();
            }
        }
    }

    #[test]
    fn range_nodes_decompose() {
        assert_eq!(
            range_nodes(0, 13),
            vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        assert!(range_nodes(5, 5).is_empty());
    }
}
