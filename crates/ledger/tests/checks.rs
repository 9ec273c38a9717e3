//! The checks `poex verify` and the node's verify page run on a proof bundle, on real ledgers:
//! a good bundle passes every check; each tampering fails the check it breaks, with a detail
//! that says why; the files a user holds match the receipt's results by name or by digest.
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use common::{digests, job_facts, log_key, processor, receipt, record};
use poex_core::receipt::{self, BUILD_TYPE_EXEC, ReceiptFacts, ReceiptStatement};
use poex_core::{Algorithm, Digest, SecretKey};
use poex_ledger::checks::{
    Checks, Proof, Trust, check_bundle, check_request, check_results, check_subjects, parse, report,
};
use poex_ledger::{Ledger, LogIndex, ProofBundle};
use poex_log::note::Ed25519Verifier;
use poex_log::tlog_proof::TlogProof;
use serde_json::Value;

const RESULTS: &[(&str, &[u8])] = &[("a.csv", b"a,b\n1,2\n"), ("sub/b.csv", b"c\n3\n")];
const LOG: &[u8] = b"counted 3\n";

/// A ledger with a record and two receipts (log key seed `key`), then the job's receipt.
fn ledger_with_job(dir: &std::path::Path, key: u8) -> (Ledger, ProofBundle) {
    let ledger = Ledger::create(dir, log_key(key), None).unwrap();
    ledger.log_record(&record("cohort")).unwrap();
    ledger.log_receipt(&receipt("job-1", "cohort", 10)).unwrap();
    ledger.log_receipt(&receipt("job-2", "cohort", 20)).unwrap();
    let job = job_facts("job-3", RESULTS, LOG).sign(&processor()).unwrap();
    let bundle = ledger.log_and_prove(&job).unwrap();
    (ledger, bundle)
}

fn check(bytes: &[u8], log: &Ed25519Verifier) -> Checks {
    let pk = processor().public();
    let trust = Trust {
        processor: &pk,
        processor_source: "the test's processor key",
        log,
        log_source: "the test's log key",
    };
    check_bundle(bytes, "bundle.json", &trust).0
}

fn names(checks: &Checks) -> Vec<(&str, bool)> {
    checks.iter().map(|c| (c.name.as_str(), c.ok)).collect()
}

/// The one failed check: its name and detail.
fn failure(checks: &Checks) -> (&str, &str) {
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert_eq!(failed.len(), 1, "{checks:#?}");
    (failed[0].name.as_str(), failed[0].detail.as_str())
}

fn statement(facts: ReceiptFacts) -> ReceiptStatement {
    let key = processor();
    receipt::open(&facts.sign(&key).unwrap(), &key.public()).unwrap()
}

fn sha(bytes: &[u8]) -> Digest {
    Algorithm::Sha256.hash(bytes)
}

#[test]
fn a_good_bundle_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, bundle) = ledger_with_job(dir.path(), 2);
    let pk = processor().public();
    let trust = Trust {
        processor: &pk,
        processor_source: "the test's processor key",
        log: ledger.verifier(),
        log_source: "the test's log key",
    };
    let (checks, verified) = check_bundle(bundle.to_json().as_bytes(), "bundle.json", &trust);
    assert_eq!(
        names(&checks),
        [
            ("signature", true),
            ("statement", true),
            ("log entry", true),
            ("inclusion", true),
            ("request", true),
            ("inputs", true),
        ],
        "{checks:#?}"
    );
    assert!(checks.all_ok());
    let verified = verified.unwrap();
    assert_eq!(verified.index, LogIndex(3));

    let detail = |name: &str| {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .detail
            .clone()
    };
    assert_eq!(
        detail("signature"),
        format!(
            "signed by processor {} (the test's processor key)",
            pk.key_id()
        )
    );
    assert_eq!(
        detail("log entry"),
        "the bundle's log entry (receipt) is this receipt"
    );
    let cp = &verified.checkpoint;
    assert_eq!(
        detail("inclusion"),
        format!(
            "entry 3 is in log {} at size 4 (root {}), checkpoint signed by the trusted log key (the test's log key)",
            cp.origin, cp.root
        )
    );
    assert_eq!(
        detail("request"),
        format!(
            "signed by requester {} at 2026-03-01T10:00:00.000000Z",
            common::requester().public().key_id()
        )
    );

    // The report is what `poex verify --json` prints.
    let r = report(&checks, Some(&verified.statement));
    assert_eq!(r["verified"], true);
    assert_eq!(r["checks"], checks.to_json());
    assert_eq!(r["checks"][2]["check"], "log entry");
    assert_eq!(r["summary"]["job"], "job-3");
    assert_eq!(r["summary"]["outcome"]["status"], "succeeded");
    assert_eq!(r["summary"]["results"][1]["name"], "sub/b.csv");
    assert_eq!(r["summary"]["inputs"][0]["role"], "algorithm");
    assert_eq!(report(&Checks::default(), None)["summary"], Value::Null);
}

/// `checks::check` is the same list, with details that do not say where the keys came from.
#[test]
fn bundle_check_runs_the_same_checks_without_key_sources() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, good) = ledger_with_job(dir.path(), 2);
    let pk = processor().public();
    let (checks, verified) =
        poex_ledger::checks::check(good.to_json().as_bytes(), &pk, ledger.verifier());
    let full = check(good.to_json().as_bytes(), ledger.verifier());
    assert_eq!(names(&checks), names(&full));
    assert!(checks.all_ok() && verified.is_some());
    let details: Vec<&str> = checks.iter().map(|c| c.detail.as_str()).collect();
    assert_eq!(details[0], format!("signed by processor {}", pk.key_id()));
    assert!(
        details[3].ends_with("checkpoint signed by the trusted log key"),
        "{}",
        details[3]
    );

    let mut b = good.clone();
    let last = b.receipt.payload.len() - 2;
    b.receipt.payload[last] ^= 0x01;
    let (checks, verified) =
        poex_ledger::checks::check(b.to_json().as_bytes(), &pk, ledger.verifier());
    assert!(verified.is_none());
    let (name, detail) = failure(&checks);
    assert_eq!(name, "signature");
    assert!(
        detail.ends_with(&format!("(trusted key {})", pk.key_id())),
        "{detail}"
    );
    let (checks, _) = poex_ledger::checks::check(b"[", &pk, ledger.verifier());
    assert!(failure(&checks).1.starts_with("the bundle is not JSON: "));

    let mut b = good.clone();
    b.tlog_proof = b.tlog_proof.replacen("index 3", "index 03", 1);
    let (checks, verified) =
        poex_ledger::checks::check(b.to_json().as_bytes(), &pk, ledger.verifier());
    assert!(verified.is_none());
    let (name, detail) = failure(&checks);
    assert_eq!(name, "checkpoint");
    assert!(
        detail.starts_with("tlogProof: ") && !detail.contains("trusted log key from"),
        "{detail}"
    );
}

/// The bundle in docs/proof-bundle.md (processor seed 1, log seed 2) passes every check too.
#[test]
fn the_documented_example_passes_every_check() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/proof-bundle.md"),
    )
    .unwrap();
    let json = doc
        .rsplit("```json\n")
        .next()
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let log_public = SecretKey::from_seed(&[2; 32]).public();
    let origin = poex_ledger::ledger::default_origin(&log_public);
    let log = Ed25519Verifier::new(origin.as_str(), log_public.as_bytes()).unwrap();
    let checks = check(json.as_bytes(), &log);
    assert!(checks.all_ok(), "{checks:#?}");
    assert_eq!(
        names(&checks)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        [
            "signature",
            "statement",
            "log entry",
            "inclusion",
            "request",
            "inputs"
        ]
    );
}

#[test]
fn what_is_not_a_bundle_fails_envelope_or_bundle_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, bundle) = ledger_with_job(dir.path(), 2);
    let log = ledger.verifier();

    let c = check(b"{ not json", log);
    assert_eq!(c.len(), 1);
    let (name, detail) = failure(&c);
    assert_eq!(name, "envelope");
    assert!(detail.starts_with("bundle.json is not JSON: "), "{detail}");

    let c = check(
        br#"{"mediaType": "application/vnd.poex.proof-bundle.v1+json"}"#,
        log,
    );
    assert_eq!(c.len(), 1);
    let (name, detail) = failure(&c);
    assert_eq!(name, "bundle");
    assert!(
        detail.starts_with("bundle.json is not a proof bundle: "),
        "{detail}"
    );

    // A bare receipt is no bundle: it proves nothing about the log.
    let bare = serde_json::to_vec(&bundle.receipt).unwrap();
    let c = check(&bare, log);
    assert_eq!(c.len(), 1);
    let (name, detail) = failure(&c);
    assert_eq!(name, "bundle");
    assert!(detail.contains("bare receipt"), "{detail}");

    // parse: which proof a file holds, or why it holds none.
    let mut c = Checks::default();
    assert!(matches!(
        parse(&bare, "r.json", &mut c),
        Some(Proof::Receipt(e)) if e == bundle.receipt
    ));
    assert!(matches!(
        parse(bundle.to_json().as_bytes(), "b.json", &mut c),
        Some(Proof::Bundle(b)) if *b == bundle
    ));
    assert!(c.is_empty());
    assert!(parse(br#"{"payload": 3}"#, "r.json", &mut c).is_none());
    let (name, detail) = failure(&c);
    assert_eq!(name, "envelope");
    assert!(
        detail.starts_with("r.json is not a DSSE envelope: "),
        "{detail}"
    );
}

#[test]
fn each_tampering_fails_the_check_it_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, good) = ledger_with_job(dir.path(), 2);
    let other = ledger
        .log_and_prove(&receipt("job-2", "cohort", 20))
        .unwrap();
    let log = ledger.verifier();
    let run = |b: &ProofBundle| check(b.to_json().as_bytes(), log);
    assert!(run(&good).all_ok());
    // After a failed log check the request is still checked (as `poex verify` does).
    let after_log = |c: &Checks, failed: &str| {
        assert_eq!(
            names(c),
            [
                ("signature", true),
                ("statement", true),
                (failed, false),
                ("request", true),
                ("inputs", true),
            ]
        );
    };

    // Another version of the format.
    let mut b = good.clone();
    b.media_type = "application/vnd.poex.proof-bundle.v2+json".into();
    let c = run(&b);
    after_log(&c, "bundle");
    let (_, detail) = failure(&c);
    assert!(
        detail.starts_with("mediaType is \"application/vnd.poex.proof-bundle.v2+json\"")
            && detail.ends_with("(trusted log key from the test's log key)"),
        "{detail}"
    );

    // A tampered receipt: nothing after the signature is trusted, so nothing else runs.
    let mut b = good.clone();
    let last = b.receipt.payload.len() - 2;
    b.receipt.payload[last] ^= 0x01;
    let c = run(&b);
    assert_eq!(c.len(), 1);
    let (name, detail) = failure(&c);
    assert_eq!(name, "signature");
    assert!(
        detail.ends_with(&format!(
            "(trusted key {}, from the test's processor key)",
            processor().public().key_id()
        )),
        "{detail}"
    );

    // A receipt signed by another processor.
    let mut b = good.clone();
    b.receipt = job_facts("job-3", RESULTS, LOG)
        .sign(&SecretKey::from_seed(&[66; 32]))
        .unwrap();
    let c = run(&b);
    assert_eq!(failure(&c).0, "signature");
    assert_eq!(c.len(), 1);

    // Another receipt's log entry (and its valid proof) under this receipt.
    let mut b = good.clone();
    b.log_entry = other.log_entry.clone();
    b.tlog_proof = other.tlog_proof.clone();
    let c = run(&b);
    after_log(&c, "log entry");
    assert!(
        failure(&c).1.contains("entry of another receipt"),
        "{}",
        failure(&c).1
    );

    // A tlog-proof that does not parse.
    let mut b = good.clone();
    b.tlog_proof = b.tlog_proof.replacen("index 3", "index 03", 1);
    let c = run(&b);
    after_log(&c, "checkpoint");
    assert!(
        failure(&c).1.starts_with("tlogProof: "),
        "{}",
        failure(&c).1
    );

    // A flipped hash in the inclusion proof.
    let mut b = good.clone();
    let mut p = TlogProof::parse(&b.tlog_proof).unwrap();
    let mut h = p.hashes[0].to_bytes();
    h[5] ^= 0x80;
    p.hashes[0] = h.into();
    b.tlog_proof = p.encode();
    let c = run(&b);
    after_log(&c, "inclusion");
    assert!(
        failure(&c)
            .1
            .starts_with("logEntry is not at index 3 of the checkpointed tree of size 4"),
        "{}",
        failure(&c).1
    );

    // The same entries in a log of another key with the same origin, and in another log.
    let d2 = tempfile::tempdir().unwrap();
    let impostor = Ledger::create(d2.path(), log_key(3), Some(ledger.origin().clone())).unwrap();
    let b = impostor.log_and_prove(&good.receipt).unwrap();
    let c = run(&b);
    after_log(&c, "checkpoint");
    assert!(
        failure(&c)
            .1
            .starts_with("the proof's checkpoint is not signed by the trusted log key"),
        "{}",
        failure(&c).1
    );
    let d3 = tempfile::tempdir().unwrap();
    let (stranger, b) = ledger_with_job(d3.path(), 4);
    let c = run(&b);
    after_log(&c, "checkpoint");
    assert!(
        failure(&c).1.starts_with(&format!(
            "the proof's checkpoint is of log \"{}\"",
            stranger.origin()
        )),
        "{}",
        failure(&c).1
    );
    // (and it passes under its own log key: only the trusted key made the difference)
    assert!(check(b.to_json().as_bytes(), stranger.verifier()).all_ok());
}

#[test]
fn the_request_must_verify_and_pin_what_ran() {
    let names_of = |st: &ReceiptStatement| {
        let mut c = Checks::default();
        check_request(st, &mut c);
        c
    };

    // A job request that is not a signed envelope.
    let c = names_of(&statement(common::facts("job-1", "cohort", 1, 10)));
    let (name, detail) = failure(&c);
    assert_eq!(name, "request");
    assert!(
        detail.starts_with("the embedded job request does not verify: "),
        "{detail}"
    );
    assert_eq!(c.len(), 1);

    // No request at all.
    let mut f = job_facts("job-1", RESULTS, LOG);
    f.external_parameters.remove("jobRequest");
    f.external_parameters
        .insert("arguments".into(), Value::from("(none)"));
    let c = names_of(&statement(f));
    assert_eq!(
        failure(&c),
        ("request", "the receipt carries no jobRequest")
    );

    // A dataset other than the one pinned ran; the algorithm is missing from the record.
    let mut f = job_facts("job-1", RESULTS, LOG);
    let other = digests(b"other rows");
    f.resolved_dependencies[1] =
        poex_core::statement::ResourceDescriptor::new("cohort", &other).annotate("role", "dataset");
    f.resolved_dependencies.remove(0);
    let c = names_of(&statement(f));
    assert_eq!(
        names(&c),
        [("request", true), ("request", false), ("request", false)]
    );
    let details: Vec<&str> = c.iter().skip(1).map(|c| c.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            format!(
                "algorithm stats: requested {} but the receipt records nothing",
                sha(b"print")
            ),
            format!(
                "dataset cohort: requested {} but the receipt records {}",
                sha(b"rows"),
                sha(b"other rows")
            ),
        ]
    );

    // A refusal: nothing ran, nothing to match.
    let mut f = job_facts("job-1", &[], LOG);
    f.byproducts[1]
        .annotations
        .insert("status".into(), "refused".into());
    f.byproducts[1]
        .annotations
        .insert("reason".into(), "dataset cohort was altered".into());
    f.resolved_dependencies.clear();
    let c = names_of(&statement(f));
    assert_eq!(names(&c), [("request", true), ("refusal", true)]);
    assert_eq!(
        c.iter().nth(1).unwrap().detail,
        "the processor refused this job before running it: dataset cohort was altered"
    );

    // An exec receipt has no request to check.
    let mut f = common::facts("job-1", "cohort", 1, 10);
    f.build_type = BUILD_TYPE_EXEC;
    assert!(names_of(&statement(f)).is_empty());
}

#[test]
fn files_match_a_result_by_name_or_by_digest() {
    let st = statement(job_facts("job-1", RESULTS, LOG));
    let check = |files: &[(&str, &[u8])]| {
        let files: Vec<(String, Digest)> = files
            .iter()
            .map(|(n, b)| ((*n).to_owned(), sha(b)))
            .collect();
        let mut c = Checks::default();
        check_subjects(&st, &files, &mut c);
        c
    };
    let one = |name: &str, bytes: &[u8]| {
        let c = check(&[(name, bytes)]);
        assert_eq!(c.len(), 1);
        let c = c.iter().next().unwrap();
        assert_eq!(c.name, "file");
        (c.ok, c.detail.clone())
    };

    assert!(check(&[]).is_empty());
    // By name.
    assert_eq!(
        one("a.csv", RESULTS[0].1),
        (true, "a.csv matches a.csv".into())
    );
    assert_eq!(
        one("a.csv", b"a,b\n1,3\n"),
        (
            false,
            format!(
                "a.csv: modified — the receipt says {}, the file is {}",
                sha(RESULTS[0].1),
                sha(b"a,b\n1,3\n")
            )
        )
    );
    assert_eq!(
        one("execution.log", b"forged\n"),
        (
            false,
            format!(
                "execution.log: modified — the receipt says {}, the file is {}",
                sha(LOG),
                sha(b"forged\n")
            )
        )
    );
    // By digest, whatever the name (a local path, a download without its folder).
    assert_eq!(
        one("b.csv", RESULTS[1].1),
        (true, "b.csv matches sub/b.csv".into())
    );
    assert_eq!(
        one("job/execution.log", LOG),
        (true, "job/execution.log matches execution.log".into())
    );
    // A digest that matches nothing fails, naming the file.
    assert_eq!(
        one("report.txt", b"x"),
        (
            false,
            format!(
                "report.txt ({}) does not match any result in the receipt",
                sha(b"x")
            )
        )
    );
    assert_eq!(
        one("job/execution.log", b"forged\n"),
        (
            false,
            format!(
                "job/execution.log ({}) does not match the execution log recorded as {}",
                sha(b"forged\n"),
                digests(LOG)
            )
        )
    );
    // Several files: one check each, in order.
    let c = check(&[
        ("a.csv", RESULTS[0].1),
        ("x", b"x"),
        ("sub/b.csv", RESULTS[1].1),
    ]);
    assert_eq!(names(&c), [("file", true), ("file", false), ("file", true)]);

    // A receipt without results or log: the request stand-in is no result.
    let mut f = job_facts("job-2", &[], LOG);
    f.byproducts.remove(0);
    let st = statement(f);
    let request_digest = st.subject[0].digests().unwrap();
    let mut c = Checks::default();
    check_subjects(
        &st,
        &[
            ("request.json".into(), *request_digest.sha256().unwrap()),
            ("out.log".into(), sha(LOG)),
        ],
        &mut c,
    );
    let details: Vec<&str> = c.iter().map(|c| c.detail.as_str()).collect();
    assert!(!c.all_ok());
    assert!(details[0].ends_with("does not match any result in the receipt"));
    assert!(details[1].ends_with("does not match no execution log in the receipt"));
}

#[test]
fn a_results_folder_must_hold_exactly_the_results() {
    let st = statement(job_facts("job-1", RESULTS, LOG));
    let check = |files: &[(&str, &[u8])]| {
        let files: Vec<(String, Digest)> = files
            .iter()
            .map(|(n, b)| ((*n).to_owned(), sha(b)))
            .collect();
        let mut c = Checks::default();
        check_results(&st, &files, "job/results", &mut c);
        c
    };
    let c = check(RESULTS);
    assert_eq!(names(&c), [("results", true)]);
    assert_eq!(
        c.iter().next().unwrap().detail,
        "all 2 file(s) in job/results match the receipt"
    );

    let c = check(&[("a.csv", b"changed"), ("extra.txt", b"x")]);
    let details: Vec<(&str, bool, &str)> = c
        .iter()
        .map(|c| (c.name.as_str(), c.ok, c.detail.as_str()))
        .collect();
    assert_eq!(
        details,
        [
            (
                "results",
                false,
                format!(
                    "a.csv: modified — the receipt says {}, the file is {}",
                    sha(RESULTS[0].1),
                    sha(b"changed")
                )
                .as_str()
            ),
            (
                "results",
                false,
                "sub/b.csv: in the receipt but missing from job/results"
            ),
            (
                "results",
                false,
                "extra.txt: in job/results but not in the receipt (added after the job)"
            ),
        ]
    );
}

/// Results `a` and `a.sealed`, both sealed (as the pipeline does: `a` to `a.sealed`, `a.sealed`
/// to `a.sealed.sealed`): the receipt's `sealed` annotations say which file is which, so the
/// file `a.sealed` is the sealed `a` although a result bears its name.
#[test]
fn sealed_names_that_are_also_result_names_follow_the_receipt() {
    const SEALED_A: &[u8] = b"ciphertext of a";
    const SEALED_A_SEALED: &[u8] = b"ciphertext of a.sealed";
    let mut f = job_facts(
        "job-1",
        &[("a", b"plain a"), ("a.sealed", b"plain a.sealed")],
        LOG,
    );
    for (rd, (name, bytes)) in f
        .results
        .iter_mut()
        .zip([("a.sealed", SEALED_A), ("a.sealed.sealed", SEALED_A_SEALED)])
    {
        let annotation = serde_json::json!({"name": name, "sha256": sha(bytes).hex(),
            "bytes": bytes.len(), "format": "poex-seal/v1"});
        *rd = rd.clone().annotate("sealed", annotation);
    }
    let st = statement(f);
    let results = |files: &[(&str, &[u8])]| {
        let files: Vec<(String, Digest)> = files
            .iter()
            .map(|(n, b)| ((*n).to_owned(), sha(b)))
            .collect();
        let mut c = Checks::default();
        check_results(&st, &files, "job/results", &mut c);
        c.iter()
            .map(|c| (c.ok, c.detail.clone()))
            .collect::<Vec<_>>()
    };
    let all_match = vec![(
        true,
        "all 2 file(s) in job/results match the receipt".to_owned(),
    )];
    // As the job left them, and with `a` decrypted beside them.
    assert_eq!(
        results(&[("a.sealed", SEALED_A), ("a.sealed.sealed", SEALED_A_SEALED)]),
        all_match
    );
    assert_eq!(
        results(&[
            ("a", b"plain a"),
            ("a.sealed", SEALED_A),
            ("a.sealed.sealed", SEALED_A_SEALED)
        ]),
        all_match
    );
    // Decrypted both ways round: `a` and the plaintext of `a.sealed` under its own name.
    assert_eq!(
        results(&[("a", b"plain a"), ("a.sealed", b"plain a.sealed")]),
        all_match
    );
    // Either sealed file altered: that file fails, against the sealed digest the receipt
    // gives for it, and nothing else.
    assert_eq!(
        results(&[
            ("a.sealed", b"altered"),
            ("a.sealed.sealed", SEALED_A_SEALED)
        ]),
        [(
            false,
            format!(
                "a.sealed: modified — the receipt says the sealed a is {}, the file is {}",
                sha(SEALED_A),
                sha(b"altered")
            )
        )]
    );
    assert_eq!(
        results(&[("a.sealed", SEALED_A), ("a.sealed.sealed", b"altered")]),
        [(
            false,
            format!(
                "a.sealed.sealed: modified — the receipt says the sealed a.sealed is {}, the file is {}",
                sha(SEALED_A_SEALED),
                sha(b"altered")
            )
        )]
    );
    // The sealed `a` does not stand in for a missing `a.sealed`, nor the reverse.
    assert_eq!(
        results(&[("a.sealed", SEALED_A)]),
        [(
            false,
            "a.sealed: in the receipt but missing from job/results".to_owned()
        )]
    );
    assert_eq!(
        results(&[("a.sealed.sealed", SEALED_A_SEALED)]),
        [(
            false,
            "a: in the receipt but missing from job/results".to_owned()
        )]
    );

    // `file` by name: `a.sealed` is the sealed `a`, or the decrypted `a.sealed`.
    let file = |name: &str, bytes: &[u8]| {
        let mut c = Checks::default();
        check_subjects(&st, &[(name.to_owned(), sha(bytes))], &mut c);
        let c = c.iter().next().unwrap();
        (c.ok, c.detail.clone())
    };
    assert_eq!(
        file("a.sealed", SEALED_A),
        (true, "a.sealed matches the sealed form of a".into())
    );
    assert_eq!(
        file("a.sealed", b"plain a.sealed"),
        (true, "a.sealed matches a.sealed".into())
    );
    assert_eq!(
        file("a.sealed.sealed", SEALED_A_SEALED),
        (
            true,
            "a.sealed.sealed matches the sealed form of a.sealed".into()
        )
    );
    assert!(!file("a.sealed", SEALED_A_SEALED).0);
    assert_eq!(
        file("download", SEALED_A_SEALED),
        (true, "download matches the sealed form of a.sealed".into())
    );
}
