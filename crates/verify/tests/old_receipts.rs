//! Receipts made before the receipt's outcome was a Rust type still verify, and read the same:
//! each bundle in `testdata/receipts-before-types` passes every check it passed when it was
//! made, and the report (checks and typed summary) equals what `poex verify --json` printed
//! then. A change to the outcome's types that drops, renames or retypes a field fails here.
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::fs;
use std::path::PathBuf;

use poex_core::outcome::{EndStatus, Outcome};
use poex_core::{Algorithm, Digest, PublicKey};
use poex_log::note::Ed25519Verifier;
use poex_verify::checks::{Trust, check_bundle, check_results, report, summary};
use serde_json::Value;

const BUNDLES: [(&str, EndStatus); 4] = [
    ("run-succeeded", EndStatus::Succeeded),
    ("run-refused", EndStatus::Refused),
    ("exec-failed", EndStatus::Failed),
    ("exec-succeeded", EndStatus::Succeeded),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/receipts-before-types")
}

fn read(name: &str) -> Vec<u8> {
    fs::read(dir().join(name)).unwrap()
}

fn keys() -> (PublicKey, Ed25519Verifier) {
    let pem = String::from_utf8(read("processor.pub")).unwrap();
    let vkey = String::from_utf8(read("log.vkey")).unwrap();
    (
        PublicKey::from_spki_pem(&pem).unwrap(),
        Ed25519Verifier::parse(vkey.trim()).unwrap(),
    )
}

#[test]
fn old_bundles_verify_and_report_what_they_reported_then() {
    let (processor, log) = keys();
    let trust = Trust {
        processor: &processor,
        processor_source: "--key processor.pub",
        log: &log,
        log_source: "--log-key",
    };
    for (name, status) in BUNDLES {
        let bundle = read(&format!("{name}.bundle.json"));
        let (checks, verified) = check_bundle(&bundle, "bundle.json", &trust);
        assert!(checks.all_ok(), "{name}: {checks:#?}");
        let statement = verified.unwrap().statement;
        let outcome = Outcome::of(&statement).unwrap();
        assert_eq!(outcome.status, status, "{name}");

        let then: Value = serde_json::from_slice(&read(&format!("{name}.verify.json"))).unwrap();
        let now = report(&checks, Some(&statement));
        assert_eq!(
            now, then,
            "{name}: the report differs from the one made at 70f22b4"
        );
        // And what is read back re-serializes to the very annotations the receipt carries.
        let carried = statement
            .predicate
            .run_details
            .byproducts
            .iter()
            .find(|b| b.name.as_deref() == Some("outcome"))
            .unwrap();
        assert_eq!(outcome.to_descriptor(), *carried, "{name}");
    }
}

#[test]
fn the_old_results_still_match_their_receipt() {
    let (processor, log) = keys();
    let trust = Trust {
        processor: &processor,
        processor_source: "--key processor.pub",
        log: &log,
        log_source: "--log-key",
    };
    let (checks, verified) = check_bundle(&read("run-succeeded.bundle.json"), "b", &trust);
    assert!(checks.all_ok(), "{checks:#?}");
    let statement = verified.unwrap().statement;
    let files: Vec<(String, Digest)> = ["report.txt", "summary.json"]
        .into_iter()
        .map(|n| {
            let bytes = read(&format!("run-succeeded.results/{n}"));
            (n.to_owned(), Algorithm::Sha256.hash(&bytes))
        })
        .collect();
    let mut checks = poex_verify::checks::Checks::default();
    check_results(&statement, &files, "the results folder", &mut checks);
    assert!(checks.all_ok(), "{checks:#?}");

    // A changed result is caught: the test can fail.
    let mut changed = files.clone();
    changed[0].1 = Algorithm::Sha256.hash(b"not the report");
    let mut checks = poex_verify::checks::Checks::default();
    check_results(&statement, &changed, "the results folder", &mut checks);
    assert!(!checks.all_ok(), "{checks:#?}");
    assert_eq!(summary(&statement).results.len(), 2);
}
