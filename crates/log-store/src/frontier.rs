//! The right edge of a Merkle tree built leaf by leaf: what the sequencer (`log`) and the audit
//! (`validate`) both fold leaves into to get an RFC 9162 root without keeping the tree.

use poex_log::hash::{Hash, empty_root, node_hash};

/// The right edge of a Merkle tree being built leaf by leaf: perfect subtrees, largest first.
#[derive(Default, Clone)]
pub(crate) struct Frontier {
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    /// Appends a perfect subtree of `2^height` leaves whose root is `hash`, as read from stored
    /// tiles; the caller keeps the frontier's order (largest first, each smaller than the last).
    pub(crate) fn push_subtree(&mut self, height: u32, hash: Hash) {
        self.stack.push((height, hash));
    }

    pub(crate) fn push(&mut self, leaf: Hash) {
        let mut cur = (0u32, leaf);
        while let Some(&(height, left)) = self.stack.last() {
            if height != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (height + 1, node_hash(&left, &cur.1));
        }
        self.stack.push(cur);
    }

    /// RFC 9162 root: the perfect subtrees folded right to left.
    pub(crate) fn root(&self) -> Hash {
        self.root_with(&[])
    }

    /// The root of the tree these subtrees start, continued by `more` perfect subtrees (each
    /// smaller than the last of this frontier, largest first): `range_nodes` of the rest.
    pub(crate) fn root_with(&self, more: &[Hash]) -> Hash {
        let mut it = self.stack.iter().map(|(_, h)| h).chain(more).rev();
        let Some(&(mut acc)) = it.next() else {
            return empty_root();
        };
        for left in it {
            acc = node_hash(left, &acc);
        }
        acc
    }
}
