//! rfc6962_reference_tree.json: hasher vectors, every node, every root, proofgen's proofs.
mod common;

use poex_log::hash::{Hash, empty_root, leaf_hash, node_hash_bytes};
use poex_log::proof::{
    MemoryTree, NodeId, consistency_proof, inclusion_proof, root, verify_consistency,
    verify_inclusion,
};

fn h(v: &serde_json::Value) -> Hash {
    Hash::from_hex(v.as_str().expect("hex string")).expect("32-byte hex")
}

fn reference_tree(v: &serde_json::Value) -> MemoryTree {
    let mut t = MemoryTree::new();
    for leaf in v["leaves_hex"].as_array().expect("leaves") {
        t.push(leaf_hash(&common::unhex(leaf.as_str().expect("hex"))));
    }
    t
}

#[test]
fn rfc6962_reference_tree() {
    let v = common::json("rfc6962_reference_tree.json");

    // Hasher vectors.
    let hv = v["hasher_vectors"].as_array().expect("hasher_vectors");
    assert_eq!(empty_root(), h(&hv[0]["want"]));
    assert_eq!(
        leaf_hash(&common::unhex(common::str_of(&hv[1], "leaf_hex"))),
        h(&hv[1]["want"])
    );
    assert_eq!(
        leaf_hash(&common::unhex(common::str_of(&hv[2], "leaf_hex"))),
        h(&hv[2]["want"])
    );
    assert_eq!(
        node_hash_bytes(
            &common::unhex(common::str_of(&hv[3], "left_hex")),
            &common::unhex(common::str_of(&hv[3], "right_hex"))
        ),
        h(&hv[3]["want"])
    );

    let t = reference_tree(&v);

    // Every node hash by level.
    for (level, row) in v["node_hashes_by_level"]
        .as_array()
        .expect("levels")
        .iter()
        .enumerate()
    {
        for (index, want) in row.as_array().expect("row").iter().enumerate() {
            assert_eq!(
                t.node(NodeId::new(level as u8, index as u64)),
                Some(h(want))
            );
        }
    }

    // Root for every size 0..=8, through the reader and through the tree.
    let roots = v["root_by_tree_size"].as_object().expect("roots");
    assert_eq!(roots.len(), 9);
    for (size, want) in roots {
        let size: u64 = size.parse().expect("size");
        assert_eq!(root(size, &t).expect("root"), h(want), "size {size}");
        let mut prefix = MemoryTree::new();
        for i in 0..size {
            prefix.push(t.leaf(i).expect("leaf"));
        }
        assert_eq!(prefix.root(), h(want), "size {size}");
    }

    // proofgen's inclusion proofs: we generate exactly these, and they verify.
    for p in v["inclusion_proofs"].as_array().expect("inclusion_proofs") {
        let (index, size) = (
            common::u64_of(p, "leaf_index"),
            common::u64_of(p, "tree_size"),
        );
        let want: Vec<Hash> = p["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(h)
            .collect();
        assert_eq!(inclusion_proof(index, size, &t).expect("prove"), want);
        verify_inclusion(&h(&p["leaf_hash"]), index, size, &want, &h(&p["root"])).expect("verify");
    }
    for p in v["consistency_proofs"]
        .as_array()
        .expect("consistency_proofs")
    {
        let (size1, size2) = (common::u64_of(p, "size1"), common::u64_of(p, "size2"));
        let want: Vec<Hash> = p["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(h)
            .collect();
        assert_eq!(consistency_proof(size1, size2, &t).expect("prove"), want);
        verify_consistency(size1, size2, &want, &h(&p["root1"]), &h(&p["root2"])).expect("verify");
    }
}
