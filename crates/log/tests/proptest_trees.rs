//! Property tests over random trees: every generated proof verifies, every altered proof fails,
//! and tiles built by `integrate` in random batches agree with the in-memory tree.
use poex_log::hash::{Hash, leaf_hash};
use poex_log::proof::{
    MemoryTree, consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion,
};
use poex_log::tile::{EntryBundle, MemoryTiles, TileHashReader, edge_bundle, integrate};
use proptest::prelude::*;

fn tree(size: u64, seed: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..size {
        t.push(leaf_hash(&[seed.to_be_bytes(), i.to_be_bytes()].concat()));
    }
    t
}

fn flip(proof: &[Hash], at: usize, bit: u8) -> Vec<Hash> {
    let mut out = proof.to_vec();
    let i = at % out.len();
    let mut bytes = out[i].to_bytes();
    bytes[(at / out.len()) % 32] ^= 1 << (bit % 8);
    out[i] = Hash::from_bytes(bytes);
    out
}

/// Inner and border lengths of an inclusion proof: all the verifier learns about the size.
fn shape(index: u64, size: u64) -> (u32, u32) {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    (inner, index.checked_shr(inner).unwrap_or(0).count_ones())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_verify_and_alterations_fail(
        size in 1u64..300, seed: u64, index_pick: u64, at: usize, bit: u8, other: u64,
    ) {
        let t = tree(size, seed);
        let index = index_pick % size;
        let r = t.root();
        let leaf = t.leaf(index).expect("leaf");
        let proof = inclusion_proof(index, size, &t).expect("prove");
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &r).is_ok());

        if !proof.is_empty() {
            let altered = flip(&proof, at, bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &altered, &r).is_err());
        }
        let other_index = other % (size + 2);
        if other_index != index {
            prop_assert!(verify_inclusion(&leaf, other_index, size, &proof, &r).is_err());
        }
        // The proof binds the size only through its shape; the checkpoint binds size and root.
        let other_size = other % (2 * size + 2);
        if other_size != size
            && (other_size <= index || shape(index, other_size) != shape(index, size))
        {
            prop_assert!(verify_inclusion(&leaf, index, other_size, &proof, &r).is_err());
        }
        prop_assert!(verify_inclusion(&flip(&[leaf], at, bit)[0], index, size, &proof, &r).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&[r], at, bit)[0]).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_alterations_fail(
        size2 in 1u64..300, seed: u64, pick: u64, at: usize, bit: u8, other: u64,
    ) {
        let t = tree(size2, seed);
        let size1 = 1 + pick % size2;
        let (r1, r2) = (root(size1, &t).expect("root"), t.root());
        let proof = consistency_proof(size1, size2, &t).expect("prove");
        prop_assert!(verify_consistency(size1, size2, &proof, &r1, &r2).is_ok());

        if !proof.is_empty() {
            let altered = flip(&proof, at, bit);
            prop_assert!(verify_consistency(size1, size2, &altered, &r1, &r2).is_err());
        }
        prop_assert!(verify_consistency(size1, size2, &proof, &flip(&[r1], at, bit)[0], &r2).is_err());
        prop_assert!(verify_consistency(size1, size2, &proof, &r1, &flip(&[r2], at, bit)[0]).is_err());
        // Another old size: the proof must fail (the roots differ for a different tree).
        let other1 = other % (size2 + 2);
        if other1 != size1 {
            prop_assert!(verify_consistency(other1, size2, &proof, &r1, &r2).is_err());
        }
    }

    #[test]
    fn tiles_integrated_in_random_batches_agree_with_memory_tree(
        batches in proptest::collection::vec(0usize..200, 1..8), seed: u64, pick: u64,
    ) {
        let mut store = MemoryTiles::new();
        let mut t = MemoryTree::new();
        let mut size = 0u64;
        for (b, len) in batches.iter().enumerate() {
            let entries: Vec<Vec<u8>> = (0..*len)
                .map(|i| format!("{seed}/{b}/{i}").into_bytes())
                .collect();
            let edge: Option<EntryBundle> =
                edge_bundle(size).map(|id| store.bundle(id.index).expect("edge bundle").clone());
            let step = integrate(size, &store, edge.as_ref(), &entries).expect("integrate");
            for e in &entries {
                t.push(leaf_hash(e));
            }
            size += *len as u64;
            prop_assert_eq!(step.size, size);
            prop_assert_eq!(step.root, t.root());
            store.apply(&step);
        }
        if size > 0 {
            let reader = TileHashReader::new(size, &store);
            let index = pick % size;
            prop_assert_eq!(
                inclusion_proof(index, size, &reader).expect("prove"),
                inclusion_proof(index, size, &t).expect("prove")
            );
            let size1 = 1 + pick % size;
            prop_assert_eq!(
                consistency_proof(size1, size, &reader).expect("prove"),
                consistency_proof(size1, size, &t).expect("prove")
            );
        }
    }
}

/// Crosses into level-2 tiles (65536 leaves) once, in uneven batches.
#[test]
fn tiles_past_level_two_agree_with_memory_tree() {
    let mut store = MemoryTiles::new();
    let mut t = MemoryTree::new();
    let mut size = 0u64;
    for len in [1usize, 255, 40_000, 25_281, 1, 3_000] {
        let leaves: Vec<Vec<u8>> = (size..size + len as u64)
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        let edge = edge_bundle(size).map(|id| store.bundle(id.index).expect("edge bundle").clone());
        let step = integrate(size, &store, edge.as_ref(), &leaves).expect("integrate");
        for l in &leaves {
            t.push(leaf_hash(l));
        }
        size += len as u64;
        assert_eq!(step.root, t.root(), "size {size}");
        store.apply(&step);
    }
    assert!(
        store.tile(2, 0).is_some(),
        "a level-2 tile exists past 65536 leaves"
    );
    let reader = TileHashReader::new(size, &store);
    for (index, size1) in [(0, 1), (65_535, 65_536), (65_536, 65_537), (size - 1, 300)] {
        assert_eq!(
            inclusion_proof(index, size, &reader).expect("prove"),
            inclusion_proof(index, size, &t).expect("prove")
        );
        assert_eq!(
            consistency_proof(size1, size, &reader).expect("prove"),
            consistency_proof(size1, size, &t).expect("prove")
        );
    }
}
