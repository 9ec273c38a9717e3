//! tlog_checkpoint_vectors.json: the Tessera 15-entry log byte for byte, and spec examples.
mod common;

use poex_log::checkpoint::{Checkpoint, TreeSize};
use poex_log::hash::{Hash, leaf_hash};
use poex_log::note::{Ed25519Signer, Ed25519Verifier, Note, Verifier};
use poex_log::proof::{
    MemoryTree, consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion,
};
use poex_log::tile::{EntryBundle, HashTile, MemoryTiles, TileHashReader, integrate};
use serde_json::Value;

fn entries(log: &Value) -> Vec<Vec<u8>> {
    log["entries_ascii"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e.as_str().expect("entry").as_bytes().to_vec())
        .collect()
}

#[test]
fn tessera_log_checkpoints() {
    let v = common::json("tlog_checkpoint_vectors.json");
    let log = &v["tessera_test_log"];
    let signer = Ed25519Signer::parse(common::str_of(log, "log_private_key")).expect("skey");
    let verifier = Ed25519Verifier::parse(common::str_of(log, "log_public_key")).expect("vkey");
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(
        hex::encode(verifier.public_key()),
        common::str_of(log, "pubkey_hex")
    );
    assert_eq!(
        signer.to_skey().as_str(),
        common::str_of(log, "log_private_key")
    );

    let entries = entries(log);
    let leaf_hashes: Vec<Hash> = log["leaf_hashes_hex"]
        .as_array()
        .expect("leaf hashes")
        .iter()
        .map(|h| Hash::from_hex(h.as_str().expect("hex")).expect("hash"))
        .collect();
    let mut tree = MemoryTree::new();
    let verifiers: [&dyn Verifier; 1] = [&verifier];
    let checkpoints = log["checkpoints"].as_array().expect("checkpoints");
    assert_eq!(checkpoints.len(), 16);
    let mut previous: Option<Checkpoint> = None;
    for (size, cp) in checkpoints.iter().enumerate() {
        if size > 0 {
            assert_eq!(leaf_hash(&entries[size - 1]), leaf_hashes[size - 1]);
            tree.push(leaf_hash(&entries[size - 1]));
        }
        let signed = common::str_of(cp, "checkpoint");
        let (checkpoint, opened) = Checkpoint::open(signed.as_bytes(), &verifiers).expect("open");
        assert_eq!(opened.verified.len(), 1);
        assert_eq!(checkpoint.origin.as_str(), common::str_of(log, "origin"));
        assert_eq!(checkpoint.size, TreeSize(size as u64));
        assert_eq!(checkpoint.root.to_hex(), common::str_of(cp, "root_hex"));
        assert_eq!(
            checkpoint.root,
            tree.root(),
            "root of the first {size} entries"
        );
        // Rebuilt from scratch and re-signed, the checkpoint is the same bytes.
        let rebuilt = Checkpoint::new(
            checkpoint.origin.clone(),
            TreeSize(size as u64),
            tree.root(),
        );
        assert_eq!(rebuilt.sign(&[&signer]).expect("sign"), signed);

        // Every leaf is provably in it, and it extends the previous checkpoint.
        for index in 0..size as u64 {
            let proof = inclusion_proof(index, size as u64, &tree).expect("prove");
            verify_inclusion(
                &leaf_hashes[index as usize],
                index,
                size as u64,
                &proof,
                &checkpoint.root,
            )
            .expect("inclusion");
        }
        if let Some(prev) = previous.filter(|p| p.size.get() > 0) {
            let proof = consistency_proof(prev.size.get(), size as u64, &tree).expect("prove");
            verify_consistency(
                prev.size.get(),
                size as u64,
                &proof,
                &prev.root,
                &checkpoint.root,
            )
            .expect("consistency");
        }
        previous = Some(checkpoint);
    }
}

#[test]
fn spec_and_cosigned_checkpoints_parse() {
    let v = common::json("tlog_checkpoint_vectors.json");
    let examples = &v["format_only_examples_unverifiable"];
    let sofa =
        Note::parse(common::str_of(examples, "tlog_checkpoint_md").as_bytes()).expect("note");
    let checkpoint = Checkpoint::parse(&sofa.text).expect("body");
    assert_eq!(checkpoint.origin.as_str(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size, TreeSize(20_852_163));
    assert_eq!(checkpoint.to_body(), sofa.text);

    // A checkpoint with a cosignature line parses; its body round-trips.
    let cosigned = &v["cosignature_ed25519_v1"];
    let note = Note::parse(common::str_of(cosigned, "checkpoint_with_cosignature").as_bytes())
        .expect("note");
    assert_eq!(note.signatures.len(), 2);
    let checkpoint = Checkpoint::parse(&note.text).expect("body");
    assert_eq!(checkpoint.size, TreeSize(300));
    assert_eq!(checkpoint.to_body(), note.text);
    assert_eq!(
        note.to_string(),
        common::str_of(cosigned, "checkpoint_with_cosignature")
    );
    // The cosigner's witness message is "cosignature/v1\ntime <ts>\n" + this body.
    assert!(common::str_of(cosigned, "signed_message_for_witness").ends_with(&note.text));
}

/// Rebuilds the Tessera log's level-0 tile, entry bundle and every root from its 15 entries,
/// one entry per integration (as posix-oneshot built it) and in one batch.
#[test]
fn tessera_log_tiles_byte_for_byte() {
    let v = common::json("tlog_checkpoint_vectors.json");
    let log = &v["tessera_test_log"];
    let entries = entries(log);
    let tile_bytes = common::unhex(common::str_of(log, "tile_0_000_p_15_hex"));
    let bundle_bytes = common::unhex(common::str_of(log, "entries_000_p_15_hex"));
    let checkpoints = log["checkpoints"].as_array().expect("checkpoints");

    // One entry at a time: each step's tile and bundle are prefixes of the stored files.
    let mut store = MemoryTiles::new();
    let mut bundle: Option<EntryBundle> = None;
    for (i, entry) in entries.iter().enumerate() {
        let step = integrate(i as u64, &store, bundle.as_ref(), &[entry]).expect("integrate");
        let size = i + 1;
        assert_eq!(step.size, size as u64);
        assert_eq!(
            step.root.to_hex(),
            common::str_of(&checkpoints[size], "root_hex")
        );
        assert_eq!(step.tiles.len(), 1);
        let (id, tile) = &step.tiles[0];
        assert_eq!(id.path(), format!("tile/0/000.p/{size}"));
        assert_eq!(tile.to_bytes(), tile_bytes[..32 * size]);
        assert_eq!(step.bundles.len(), 1);
        let (bid, b) = &step.bundles[0];
        assert_eq!(bid.path(), format!("tile/entries/000.p/{size}"));
        assert!(bundle_bytes.starts_with(&b.encode()));
        store.apply(&step);
        bundle = Some(b.clone());
    }
    assert_eq!(bundle.expect("bundle").encode(), bundle_bytes);
    assert_eq!(
        EntryBundle::decode(&bundle_bytes)
            .expect("decode")
            .entries(),
        entries.as_slice()
    );
    assert_eq!(HashTile::from_bytes(&tile_bytes).expect("tile").width(), 15);

    // One batch gives the same files.
    let batch = integrate(0, &MemoryTiles::new(), None, &entries).expect("integrate");
    assert_eq!(batch.tiles.len(), 1);
    assert_eq!(batch.tiles[0].1.to_bytes(), tile_bytes);
    assert_eq!(batch.bundles[0].1.encode(), bundle_bytes);
    assert_eq!(
        batch.root.to_hex(),
        common::str_of(&checkpoints[15], "root_hex")
    );

    // Proofs read from the stored tiles equal those from the in-memory tree, for every size.
    let mut tree = MemoryTree::new();
    for entry in &entries {
        tree.push(leaf_hash(entry));
    }
    for size in 1..=15u64 {
        let reader = TileHashReader::new(size, &store);
        assert_eq!(
            root(size, &reader).expect("root"),
            root(size, &tree).expect("root")
        );
        for index in 0..size {
            assert_eq!(
                inclusion_proof(index, size, &reader).expect("prove"),
                inclusion_proof(index, size, &tree).expect("prove")
            );
        }
        for size1 in 1..=size {
            assert_eq!(
                consistency_proof(size1, size, &reader).expect("prove"),
                consistency_proof(size1, size, &tree).expect("prove")
            );
        }
    }
}
