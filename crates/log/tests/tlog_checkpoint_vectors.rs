//! tlog_checkpoint_vectors.json: the Tessera 15-entry log byte for byte, and spec examples.
mod common;

use poex_log::checkpoint::{Checkpoint, TreeSize};
use poex_log::hash::{Hash, leaf_hash};
use poex_log::note::{Ed25519Signer, Ed25519Verifier, Note, Verifier};
use poex_log::proof::{
    MemoryTree, consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
};
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
