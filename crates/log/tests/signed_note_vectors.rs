//! signed_note_vectors.json: Go sumdb/note and C2SP signed-note vectors.
mod common;

use poex_log::checkpoint::{Checkpoint, TreeSize};
use poex_log::hash::leaf_hash;
use poex_log::note::{
    Ed25519Signer, Ed25519Verifier, KeyError, Note, NoteError, OpenError, Verifier, cosign, open,
    sign,
};
use serde_json::Value;

fn verifier(vkey: &str) -> Ed25519Verifier {
    Ed25519Verifier::parse(vkey).unwrap_or_else(|e| panic!("vkey {vkey}: {e}"))
}

fn names(sigs: &[poex_log::note::Signature]) -> Vec<&str> {
    sigs.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn signed_note_vectors() {
    let v = common::json("signed_note_vectors.json");
    let valid = v["valid"].as_array().expect("valid");

    // PeterNeumann: key strings round-trip and signing reproduces the signature byte for byte.
    let peter = &valid[0];
    let signer = Ed25519Signer::parse(common::str_of(peter, "signer_skey")).expect("skey");
    assert_eq!(
        signer.to_skey().as_str(),
        common::str_of(peter, "signer_skey")
    );
    assert_eq!(
        Ed25519Signer::from_seed("PeterNeumann", &seed(common::str_of(peter, "seed_hex")))
            .expect("seed")
            .to_skey()
            .as_str(),
        common::str_of(peter, "signer_skey")
    );
    let peter_v = verifier(common::str_of(peter, "vkey"));
    assert_eq!(peter_v.to_string(), common::str_of(peter, "vkey"));
    assert_eq!(signer.verifier(), peter_v);
    assert_eq!(
        hex::encode(peter_v.public_key()),
        common::str_of(peter, "pubkey_hex")
    );
    let text = common::str_of(peter, "text");
    let signed = sign(text, &[&signer]).expect("sign");
    assert_eq!(signed, common::str_of(peter, "signed_note"));
    let opened = open(signed.as_bytes(), &[&peter_v]).expect("open");
    assert_eq!(opened.text, text);
    assert_eq!(names(&opened.verified), ["PeterNeumann"]);

    // Two signatures; EnochRoot's derived all-zero-seed key reproduces the second line.
    let two = &valid[1];
    let vkeys: Vec<Ed25519Verifier> = two["vkeys"]
        .as_array()
        .expect("vkeys")
        .iter()
        .map(|k| verifier(k.as_str().expect("vkey")))
        .collect();
    let enoch = Ed25519Signer::parse(common::str_of(two, "enoch_skey_derived")).expect("enoch");
    assert_eq!(enoch.verifier(), vkeys[1]);
    let both = sign(text, &[&signer, &enoch]).expect("sign");
    assert_eq!(both, common::str_of(two, "signed_note"));
    let added = cosign(&Note::parse(signed.as_bytes()).expect("parse"), &[&enoch]).expect("cosign");
    assert_eq!(added, both);
    let dyn_vkeys: Vec<&dyn Verifier> = vkeys.iter().map(|k| k as &dyn Verifier).collect();
    let opened = open(both.as_bytes(), &dyn_vkeys).expect("open");
    assert_eq!(names(&opened.verified), ["PeterNeumann", "EnochRoot"]);
    assert!(opened.unverified.is_empty());

    // The C2SP spec example.
    let c2sp = &valid[2];
    let c2sp_v = verifier(common::str_of(c2sp, "vkey"));
    let opened = open(common::str_of(c2sp, "signed_note").as_bytes(), &[&c2sp_v]).expect("open");
    assert_eq!(opened.text, "This is an example message.\n");
    assert_eq!(
        Note::parse(common::str_of(c2sp, "signed_note").as_bytes())
            .expect("parse")
            .to_string(),
        common::str_of(c2sp, "signed_note")
    );

    open_behaviour(&v, &peter_v, &both);
    malformed_notes(&v, &peter_v);
    bad_vkeys(
        &v,
        &[common::str_of(peter, "vkey"), common::str_of(c2sp, "vkey")],
    );
    go_sumdb_tree_note(&v);
}

/// The pre-C2SP Go sumdb tree note is a checkpoint body.
fn go_sumdb_tree_note(v: &Value) {
    let body = common::str_of(&v["go_sumdb_formats"], "tree_note_text");
    let checkpoint = Checkpoint::parse(body).expect("tree note");
    assert_eq!(checkpoint.origin.as_str(), "go.sum database tree");
    assert_eq!(checkpoint.size, TreeSize(123_456_789_012));
    assert_eq!(checkpoint.root, leaf_hash(b"hello world"));
    assert_eq!(checkpoint.to_body(), body);
}

fn seed(hex_seed: &str) -> [u8; 32] {
    common::unhex(hex_seed).try_into().expect("32-byte seed")
}

fn open_behaviour(v: &Value, peter_v: &Ed25519Verifier, both: &str) {
    let cases = v["open_behaviour"].as_array().expect("open_behaviour");

    // Only PeterNeumann trusted: EnochRoot kept as unverified.
    let note = common::str_of(&cases[0], "signed_note");
    assert_eq!(note, both);
    let opened = open(note.as_bytes(), &[peter_v]).expect("open");
    assert_eq!(names(&opened.verified), ["PeterNeumann"]);
    assert_eq!(names(&opened.unverified), ["EnochRoot"]);

    // No trusted key.
    let err =
        open(common::str_of(&cases[1], "signed_note").as_bytes(), &[]).expect_err("must fail");
    assert!(
        matches!(err, OpenError::NoVerifiableSignature { ref unverified } if unverified.len() == 2)
    );
    assert!(
        err.to_string().contains("no verifiable signatures"),
        "{err}"
    );

    // 101 copies of a signature line: malformed; 100 are fine (duplicates are skipped).
    let (text, sig_block) = both.split_once("\n\n").expect("blank line");
    let line = sig_block.lines().next().expect("a signature line");
    for (copies, ok) in [(100, true), (101, false)] {
        let many = format!("{text}\n\n{}", format!("{line}\n").repeat(copies));
        let got = open(many.as_bytes(), &[peter_v]);
        assert_eq!(got.is_ok(), ok, "{copies} copies: {got:?}");
        if !ok {
            assert!(matches!(
                got,
                Err(OpenError::Malformed(NoteError::TooManySignatures { .. }))
            ));
        }
    }

    // A known key whose signature does not verify rejects the whole note.
    let mut note = Note::parse(both.as_bytes()).expect("parse");
    note.signatures[0].signature[10] ^= 1;
    let err = open(note.to_string().as_bytes(), &[peter_v]).expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "invalid signature for key PeterNeumann+c74f20a3"
    );
}

fn malformed_notes(v: &Value, peter_v: &Ed25519Verifier) {
    let cases = v["malformed_notes"].as_array().expect("malformed_notes");
    assert_eq!(cases.len(), 7);
    for case in cases {
        let bytes = match case.get("signed_note_hex") {
            Some(h) => common::unhex(h.as_str().expect("hex")),
            None => common::str_of(case, "signed_note").as_bytes().to_vec(),
        };
        let desc = common::str_of(case, "desc");
        assert!(Note::parse(&bytes).is_err(), "{desc}");
        let got = open(&bytes, &[peter_v]);
        assert!(
            matches!(got, Err(OpenError::Malformed(_))),
            "{desc}: {got:?}"
        );
    }
}

fn bad_vkeys(v: &Value, good: &[&str]) {
    for case in v["bad_vkeys"].as_array().expect("bad_vkeys") {
        if let Some(vkey) = case.get("vkey") {
            let vkey = vkey.as_str().expect("vkey");
            assert!(Ed25519Verifier::parse(vkey).is_err(), "{vkey}");
        }
    }
    assert!(matches!(
        Ed25519Verifier::parse(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(KeyError::UnknownAlgorithm(0x65))
    ));
    // TestNewVerifier: every proper substring and every single-byte increment is refused.
    for vkey in good {
        let bytes = vkey.as_bytes();
        for start in 0..bytes.len() {
            for end in start..=bytes.len() {
                if (start, end) == (0, bytes.len()) {
                    continue;
                }
                let sub = &vkey[start..end];
                assert!(Ed25519Verifier::parse(sub).is_err(), "substring {sub:?}");
            }
        }
        for i in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[i] += 1;
            let changed = String::from_utf8(changed).expect("ASCII stays UTF-8");
            assert!(
                Ed25519Verifier::parse(&changed).is_err(),
                "increment {changed:?}"
            );
        }
    }
}
