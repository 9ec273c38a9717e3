//! Proof bundles built on real ledgers: they verify, and each kind of forgery or mix-up is
//! refused by the check it breaks.
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{event, log_key, processor, receipt, record};
use poex_core::SecretKey;
use poex_ledger::bundle::{
    BundleError, ExtendError, MEDIA_TYPE, verify_extends, verify_extends_from_tiles,
};
use poex_ledger::entry::{Entry, Kind};
use poex_ledger::{Ledger, LedgerError, LogIndex, ProofBundle};
use poex_log::checkpoint::Origin;
use poex_log::proof::{ConsistencyError, InclusionError};
use poex_log::tlog_proof::TlogProof;
use poex_log_store::dir::DirFiles;
use poex_store::audit::Operation;

/// A ledger with a record, three receipts and an event; returns it and the three receipts.
fn ledger_with_receipts(dir: &std::path::Path, key: u8, origin: Option<Origin>) -> Ledger {
    let ledger = Ledger::create(dir, log_key(key), origin).unwrap();
    ledger.log_record(&record("cohort")).unwrap();
    for (job, s) in [("job-1", 10), ("job-2", 20), ("job-3", 30)] {
        ledger.log_receipt(&receipt(job, "cohort", s)).unwrap();
    }
    ledger
        .log_events(&[event(
            Operation::RunFinished,
            "p",
            "o",
            Some("job-3"),
            31,
            0,
        )])
        .unwrap();
    ledger
}

#[test]
fn a_bundle_from_a_real_ledger_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_receipts(dir.path(), 2, None);
    let r = receipt("job-2", "cohort", 20);
    let bundle = ledger.log_and_prove(&r).unwrap();
    assert_eq!(
        ledger.size(),
        5,
        "building logs nothing new for a logged receipt"
    );

    let json = bundle.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fields: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["logEntry", "logKey", "mediaType", "receipt", "tlogProof"]
    );
    assert_eq!(value["mediaType"], MEDIA_TYPE);
    assert_eq!(value["receipt"], serde_json::to_value(&r).unwrap());
    assert_eq!(value["logKey"], ledger.verifier_key());
    assert!(
        value["tlogProof"]
            .as_str()
            .unwrap()
            .starts_with("c2sp.org/tlog-proof@v1\nindex 2\n")
    );
    let entry = STANDARD
        .decode(value["logEntry"].as_str().unwrap())
        .unwrap();
    assert_eq!(entry, ledger.entry_bytes(LogIndex(2)).unwrap());

    let back = ProofBundle::from_json(json.as_bytes()).unwrap();
    assert_eq!(back, bundle);
    let v = back
        .verify(&processor().public(), ledger.verifier())
        .unwrap();
    assert_eq!(v.index, LogIndex(2));
    assert_eq!(v.entry_kind, Kind::Receipt);
    assert_eq!(v.checkpoint.size.get(), 5);
    assert_eq!(v.checkpoint.origin, *ledger.origin());
    assert_eq!(
        v.statement
            .predicate
            .run_details
            .metadata
            .invocation_id
            .as_deref(),
        Some("job-2")
    );

    // A new receipt is logged by build, then proven.
    let r4 = receipt("job-4", "cohort", 40);
    let b4 = ledger.log_and_prove(&r4).unwrap();
    assert_eq!(ledger.size(), 6);
    assert_eq!(
        b4.verify(&processor().public(), ledger.verifier())
            .unwrap()
            .index,
        LogIndex(5)
    );

    // A reader builds bundles for logged receipts only.
    let reader = Ledger::open_read_only(dir.path(), ledger.verifier()).unwrap();
    let rb = reader.log_and_prove(&r).unwrap();
    rb.verify(&processor().public(), ledger.verifier()).unwrap();
    assert!(matches!(
        reader.log_and_prove(&receipt("job-9", "cohort", 50)),
        Err(LedgerError::NotLogged)
    ));
}

#[test]
fn a_big_receipt_bundle_verifies_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_receipts(dir.path(), 2, None);
    let big = common::facts("job-big", "cohort", 10_000, 45)
        .sign(&processor())
        .unwrap();
    let bundle = ledger.log_and_prove(&big).unwrap();
    assert!(
        bundle
            .log_entry
            .starts_with(b"poex-entry/v1 receipt-digest\n")
    );
    let v = bundle
        .verify(&processor().public(), ledger.verifier())
        .unwrap();
    assert_eq!(v.entry_kind, Kind::ReceiptDigest);

    // The digest entry of another big receipt does not vouch for this one.
    let other = common::facts("job-big2", "cohort", 10_000, 46)
        .sign(&processor())
        .unwrap();
    let mut swapped = bundle.clone();
    swapped.log_entry = Entry::receipt(&other).unwrap().encode().unwrap();
    assert!(matches!(
        swapped.verify(&processor().public(), ledger.verifier()),
        Err(BundleError::LogEntryMismatch {
            kind: Kind::ReceiptDigest
        })
    ));
}

#[test]
fn each_forgery_fails_its_own_check() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_receipts(dir.path(), 2, None);
    let good = ledger
        .log_and_prove(&receipt("job-2", "cohort", 20))
        .unwrap();
    let other = ledger
        .log_and_prove(&receipt("job-3", "cohort", 30))
        .unwrap();
    let pk = processor().public();
    let log = ledger.verifier();
    good.verify(&pk, log).unwrap();
    other.verify(&pk, log).unwrap();
    let verify = |b: &ProofBundle| b.verify(&pk, log).unwrap_err();

    // Not a bundle of this version.
    let mut b = good.clone();
    b.media_type = "application/vnd.poex.proof-bundle.v2+json".into();
    assert!(matches!(verify(&b), BundleError::MediaType { .. }));

    // 1. Tampered receipt payload: the processor's signature no longer verifies.
    let mut b = good.clone();
    let last = b.receipt.payload.len() - 2;
    b.receipt.payload[last] ^= 0x01;
    let e = verify(&b);
    assert!(matches!(e, BundleError::ReceiptSignature(_)), "{e}");

    // 1. A receipt signed by another key (a different processor).
    let mut b = good.clone();
    b.receipt = common::facts("job-2", "cohort", 2, 20)
        .sign(&SecretKey::from_seed(&[66; 32]))
        .unwrap();
    b.log_entry = Entry::Receipt(b.receipt.clone()).encode().unwrap();
    let e = verify(&b);
    assert!(
        matches!(e, BundleError::ReceiptSignedByOtherKey { .. }),
        "{e}"
    );

    // 2. logEntry swapped for another receipt's entry.
    let mut b = good.clone();
    b.log_entry = other.log_entry.clone();
    let e = verify(&b);
    assert!(
        matches!(
            e,
            BundleError::LogEntryMismatch {
                kind: Kind::Receipt
            }
        ),
        "{e}"
    );
    // 2. logEntry swapped for another kind of entry, or for bytes that are no entry.
    let mut b = good.clone();
    b.log_entry = ledger.entry_bytes(LogIndex(0)).unwrap();
    assert!(matches!(verify(&b), BundleError::LogEntryNotReceipt { kind } if kind == "record"));
    let mut b = good.clone();
    b.log_entry = b"hello".to_vec();
    assert!(matches!(verify(&b), BundleError::LogEntryMalformed(_)));

    // 3. A tlog-proof that does not parse.
    let mut b = good.clone();
    b.tlog_proof = b.tlog_proof.replacen("index 2", "index 02", 1);
    assert!(matches!(verify(&b), BundleError::TlogProofMalformed(_)));

    // 4. A flipped proof hash.
    let mut b = good.clone();
    let mut p = TlogProof::parse(&b.tlog_proof).unwrap();
    let mut h = p.hashes[0].to_bytes();
    h[5] ^= 0x80;
    p.hashes[0] = h.into();
    b.tlog_proof = p.encode();
    let e = verify(&b);
    assert!(
        matches!(
            e,
            BundleError::Inclusion {
                source: InclusionError::RootMismatch { .. },
                ..
            }
        ),
        "{e}"
    );

    // 4. The proof of another index (another receipt's, valid in itself).
    let mut b = good.clone();
    b.tlog_proof = other.tlog_proof.clone();
    let e = verify(&b);
    assert!(matches!(e, BundleError::Inclusion { index: 3, .. }), "{e}");
    // 4. The right proof hashes under another index.
    let mut b = good.clone();
    let mut p = TlogProof::parse(&b.tlog_proof).unwrap();
    p.index = 1;
    b.tlog_proof = p.encode();
    assert!(matches!(
        verify(&b),
        BundleError::Inclusion { index: 1, .. }
    ));
}

#[test]
fn checkpoints_of_another_key_or_origin_are_refused() {
    let r = receipt("job-2", "cohort", 20);
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_receipts(dir.path(), 2, None);
    let trusted = ledger.verifier().clone();

    // Same origin, another key: the same entries, checkpoint signed by key 3.
    let d3 = tempfile::tempdir().unwrap();
    let impostor = ledger_with_receipts(d3.path(), 3, Some(ledger.origin().clone()));
    let b = impostor.log_and_prove(&r).unwrap();
    let e = b.verify(&processor().public(), &trusted).unwrap_err();
    assert!(matches!(e, BundleError::CheckpointSignature(_)), "{e}");
    // (and it verifies under its own key, so only the key made the difference)
    b.verify(&processor().public(), impostor.verifier())
        .unwrap();

    // Same key, another origin: another log by the same operator.
    let d4 = tempfile::tempdir().unwrap();
    let other_log = ledger_with_receipts(
        d4.path(),
        2,
        Some("poex.local/log/another".parse().unwrap()),
    );
    let b = other_log.log_and_prove(&r).unwrap();
    let e = b.verify(&processor().public(), &trusted).unwrap_err();
    assert!(
        matches!(&e, BundleError::CheckpointOrigin { found, .. } if found == "poex.local/log/another"),
        "{e}"
    );
    b.verify(&processor().public(), other_log.verifier())
        .unwrap();
}

#[test]
fn the_later_log_must_extend_the_bundles_checkpoint() {
    let r = receipt("job-2", "cohort", 20);
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    // Two logs with one key and one origin, sharing a prefix of three entries...
    let a = Ledger::create(a_dir.path(), log_key(2), None).unwrap();
    let b = Ledger::create(b_dir.path(), log_key(2), None).unwrap();
    assert_eq!(a.verifier_key(), b.verifier_key());
    for l in [&a, &b] {
        l.log_record(&record("cohort")).unwrap();
        l.log_receipt(&receipt("job-1", "cohort", 10)).unwrap();
        l.log_receipt(&r).unwrap();
    }
    // ...then diverging.
    a.log_events(&[event(Operation::Publish, "a", "x", None, 1, 0)])
        .unwrap();
    b.log_events(&[
        event(Operation::Publish, "b", "y", None, 2, 0),
        event(Operation::Publish, "b", "z", None, 3, 0),
    ])
    .unwrap();
    let key = a.verifier().clone();
    let bundle = a.log_and_prove(&r).unwrap();
    let cp = bundle
        .verify(&processor().public(), &key)
        .unwrap()
        .checkpoint;
    assert_eq!(cp.size.get(), 4);

    // A's own later checkpoint extends it, whether the proof is given or computed from tiles.
    a.log_events(&[event(Operation::Publish, "a", "w", None, 4, 0)])
        .unwrap();
    let (_, a_note) = a.checkpoint().unwrap();
    let proof = a.consistency(4, 5).unwrap();
    assert_eq!(
        verify_extends(&cp, a_note.as_bytes(), &proof, &key)
            .unwrap()
            .size
            .get(),
        5
    );
    let a_tiles = DirFiles::tiles(a.tiles_dir(), 5);
    verify_extends_from_tiles(&cp, a_note.as_bytes(), &a_tiles, &key).unwrap();
    // The same checkpoint extends itself.
    verify_extends(&cp, bundle_note(&bundle).as_bytes(), &[], &key).unwrap();

    // B (a fork) is signed by the same key but does not extend A's checkpoint.
    let (_, b_note) = b.checkpoint().unwrap();
    let b_tiles = DirFiles::tiles(b.tiles_dir(), 5);
    let e = verify_extends_from_tiles(&cp, b_note.as_bytes(), &b_tiles, &key).unwrap_err();
    let ExtendError::NotAnExtension {
        bundle: evidence_a,
        later: evidence_b,
        source,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(**evidence_a, cp);
    assert_eq!(evidence_b.size.get(), 5);
    assert!(
        matches!(source, ConsistencyError::RootMismatch { .. }),
        "{e}"
    );
    // With B's own consistency proof, too.
    let e = verify_extends(&cp, b_note.as_bytes(), &b.consistency(4, 5).unwrap(), &key);
    assert!(matches!(e, Err(ExtendError::NotAnExtension { .. })));
    // A fork at the same size: equal sizes, different roots.
    let (_, b4) = (
        b.root(4).unwrap(),
        b.prove(LogIndex(0), Some(4)).unwrap().checkpoint,
    );
    let e = verify_extends(&cp, b4.as_bytes(), &[], &key).unwrap_err();
    assert!(
        matches!(
            e,
            ExtendError::NotAnExtension {
                source: ConsistencyError::RootsDiffer { size: 4 },
                ..
            }
        ),
        "{e}"
    );

    // An older checkpoint says nothing; another key's is refused.
    let (_, a3) = (0, a.prove(LogIndex(0), Some(3)).unwrap().checkpoint);
    assert!(matches!(
        verify_extends(&cp, a3.as_bytes(), &[], &key),
        Err(ExtendError::Older {
            bundle: 4,
            later: 3
        })
    ));
    let c_dir = tempfile::tempdir().unwrap();
    let c = Ledger::create(c_dir.path(), log_key(3), Some(a.origin().clone())).unwrap();
    let (_, c_note) = c.checkpoint().unwrap();
    assert!(matches!(
        verify_extends(&cp, c_note.as_bytes(), &[], &key),
        Err(ExtendError::Signature(_))
    ));
}

fn bundle_note(b: &ProofBundle) -> String {
    TlogProof::parse(&b.tlog_proof).unwrap().checkpoint
}

/// docs/proof-bundle.md shows the example's output: it must still parse and verify as a bundle
/// of this version, under the example's keys (processor seed 1, log seed 2). If the format
/// changes, regenerate it with `cargo run -p poex-ledger --example bundle`.
#[test]
fn the_documented_example_verifies() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/proof-bundle.md"),
    )
    .unwrap();
    let json = doc
        .rsplit("```json\n")
        .next()
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let bundle = ProofBundle::from_json(json.as_bytes()).unwrap();
    let log_public = SecretKey::from_seed(&[2; 32]).public();
    let origin = poex_ledger::ledger::default_origin(&log_public);
    let log = poex_log::note::Ed25519Verifier::new(origin.as_str(), log_public.as_bytes()).unwrap();
    assert_eq!(bundle.log_key, log.to_string());
    let v = bundle.verify(&processor().public(), &log).unwrap();
    assert_eq!((v.index, v.checkpoint.size.get()), (LogIndex(7), 8));
    assert!(doc.contains(&TlogProof::parse(&bundle.tlog_proof).unwrap().encode()));
}

/// A bundle for a receipt the log holds already appends nothing; one it does not hold is
/// refused (the node finishing a killed job's bundle uses this, never signing or logging a
/// second receipt).
#[test]
fn a_bundle_for_a_logged_receipt_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_receipts(dir.path(), 1, None);
    let size = ledger.size();
    let logged = receipt("job-2", "cohort", 20);
    let bundle = ledger.prove_logged(&logged).unwrap();
    assert_eq!(ledger.size(), size, "nothing appended");
    let verified = bundle
        .verify(&processor().public(), ledger.verifier())
        .unwrap();
    assert_eq!(Some(verified.index), ledger.find_receipt(&logged).unwrap());
    let unknown = receipt("job-9", "cohort", 90);
    assert!(matches!(
        ledger.prove_logged(&unknown),
        Err(LedgerError::NotLogged)
    ));
    assert_eq!(ledger.size(), size);
    // The job's receipts, and the jobs that have more than one (a job ends once).
    assert_eq!(ledger.job_receipts("job-2").unwrap().len(), 1);
    assert!(ledger.jobs_with_several_receipts().unwrap().is_empty());
    let second = receipt("job-2", "cohort", 25);
    ledger.log_receipt(&second).unwrap();
    let several = ledger.jobs_with_several_receipts().unwrap();
    assert_eq!(several.len(), 1, "{several:?}");
    assert_eq!(several[0].0, "job-2");
    assert_eq!(several[0].1.len(), 2);
    // A working writer is left as it is by a reopen.
    assert!(ledger.writer_fault().is_none());
    ledger.reopen_writer().unwrap();
    assert_eq!(ledger.size(), size + 1);
    ledger.log_receipt(&receipt("job-4", "cohort", 40)).unwrap();
    assert_eq!(ledger.job_receipts("job-4").unwrap().len(), 1);
}
