//! The node under faults and abuse: requests the pipeline cannot run,
//! runs that fail, a node killed between logging a receipt and writing its bundle, denials
//! of unproven callers and floods of them, unattested logs, and the caller mistakes that
//! used to be 500s or plain text. Real homes, real logs, real sandboxes; requests signed as
//! clients sign them.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;

use axum::http::StatusCode;
use common::{TestNode, key};
use poex_core::Signer as _;
use poex_core::dsse::Envelope;
use poex_core::keys::SecretKey;
use poex_core::outcome::EndStatus;
use poex_core::request::{JobRequest, SignedRequest};
use poex_exec::pipeline::{JobOptions, JobStatus, LedgerAccess, Processor, Quiet};
use poex_exec::sandbox::Limits;
use serde_json::{Value, json};

const QUICK: &str = "echo ok > /out/ok.txt\necho ran\n";

/// Publishes an algorithm run as `entrypoint` (the uploaded file is `script`).
async fn algorithm_with(t: &TestNode, who: &SecretKey, name: &str, entrypoint: &[&str]) -> Value {
    let object = t.upload(who, b"echo hi\n").await;
    let (s, v) = t
        .json(
            "POST",
            "/api/assets",
            Some(who),
            Some(json!({"kind": "algorithm", "name": name, "object": object,
                        "entrypoint": entrypoint})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

/// A change made to a job request before it is signed.
type Edit = Box<dyn FnOnce(&mut JobRequest)>;

/// A job request of `signer` for `algorithm` on `datasets`, changed by `edit`, signed.
fn request_with(
    signer: &SecretKey,
    algorithm: &Value,
    datasets: &[&Value],
    edit: impl FnOnce(&mut JobRequest),
) -> SignedRequest {
    let mut req = common::request(signer, algorithm, datasets, None).request;
    edit(&mut req);
    SignedRequest::sign(req, signer).unwrap()
}

async fn submit_envelope(
    t: &TestNode,
    who: &SecretKey,
    envelope: &Envelope,
) -> (StatusCode, Value) {
    t.json(
        "POST",
        "/api/jobs",
        Some(who),
        Some(serde_json::to_value(envelope).unwrap()),
    )
    .await
}

/// `/api/verify` on the job's bundle, and the same checks offline (what `poex verify` runs
/// on a bundle), under the node's keys.
async fn bundle_verifies(t: &TestNode, id: &str) -> Value {
    let (bundle, verdict) = t.bundle_and_verdict(id).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let processor = t.node.processor_public();
    let trust = poex_verify::checks::Trust {
        processor: &processor,
        processor_source: "the node",
        log: t.node.ledger.verifier(),
        log_source: "the node",
    };
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let (checks, verified) = poex_verify::checks::check_bundle(&bytes, "bundle", &trust);
    assert!(checks.all_ok(), "{:?}", checks.to_json());
    assert!(verified.is_some());
    bundle
}

fn queue_file(home: &Path, id: &str) -> std::path::PathBuf {
    home.join("queue").join(format!("{id}.json"))
}

/// Marks a job `running` in its queue file, as a node killed while it ran leaves it.
fn mark_running(home: &Path, id: &str) {
    let file = queue_file(home, id);
    let mut record: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    record["state"] = json!("running");
    for k in ["status", "reason", "finishedAt", "logIndex"] {
        record.as_object_mut().unwrap().remove(k);
    }
    std::fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
}

/// Stops `t` (its workers first, so nothing holds the node) and opens its home again.
fn reopen(t: TestNode, workers: Vec<std::thread::JoinHandle<()>>) -> TestNode {
    t.node.queue.stop();
    for w in workers {
        w.join().unwrap();
    }
    let TestNode { dir, node, app, .. } = t;
    drop(app);
    drop(node);
    TestNode::open(dir, common::config())
}

/// A node on a fresh home whose workers the test holds (see [`reopen`]).
fn node_with_workers() -> (TestNode, Vec<std::thread::JoinHandle<()>>) {
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, common::config());
    let workers = poex_node::start_workers(&t.node).unwrap();
    (t, workers)
}

// --- 1. Jobs the pipeline cannot run -----------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn requests_the_pipeline_cannot_run_are_refused_at_submission_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, common::config());
    let alice = key();
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "limits.wallSeconds",
            Box::new(|r| r.limits.wall_seconds = Some(0)),
        ),
        (
            "limits.cpuSeconds",
            Box::new(|r| {
                r.limits = poex_core::request::RequestedLimits {
                    cpu_seconds: Some(0),
                    memory_bytes: Some(0),
                    wall_seconds: Some(0),
                    processes: Some(0),
                    output_bytes: Some(0),
                    output_files: Some(0),
                }
            }),
        ),
        (
            "limits.processes",
            Box::new(|r| r.limits.processes = Some(0)),
        ),
        (
            "limits.memoryBytes",
            Box::new(|r| r.limits.memory_bytes = Some(1 << 20)),
        ),
        (
            "arguments[1]",
            Box::new(|r| r.arguments = vec!["ok".into(), "a\0b".into()]),
        ),
        (
            "arguments[0]",
            Box::new(|r| r.arguments = vec!["x".repeat(200_000)]),
        ),
        (
            "datasets[1]",
            Box::new(|r| {
                let d = r.datasets[0].clone();
                r.datasets = vec![d; 5000];
            }),
        ),
        (
            "resultRecipient",
            Box::new(|r| r.result_recipient = Some("poex-x25519:not-a-key".into())),
        ),
    ];
    let before = t.node.ledger.size();
    for (field, edit) in cases {
        let signed = request_with(&alice, &alg, &[&ds], edit);
        let (s, v) = submit_envelope(&t, &alice, &signed.envelope).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
        assert_eq!(v["error"], "bad_request", "{v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
        assert!(message.contains("nothing was queued"), "{message}");
    }
    let (_, jobs) = t.json("GET", "/api/jobs", None, None).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
    assert_eq!(
        t.node.ledger.size(),
        before,
        "a refused submission logs nothing"
    );
    // The same request without the fault is accepted.
    let (s, v) = t.submit(&alice, &alg, &[&ds], Some(5)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
}

/// The node refuses what the pipeline itself would fail on: each case, given to the pipeline
/// directly, ends in the sandbox's refusal of the spec (so the two sets of rules agree).
#[tokio::test(flavor = "multi_thread")]
async fn each_refused_request_is_one_the_sandbox_refuses() {
    let t = TestNode::new();
    let alice = key();
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let cases: Vec<Edit> = vec![
        Box::new(|r| r.limits.wall_seconds = Some(0)),
        Box::new(|r| r.limits.cpu_seconds = Some(0)),
        Box::new(|r| r.limits.processes = Some(0)),
        Box::new(|r| r.limits.memory_bytes = Some(1 << 20)),
        Box::new(|r| r.arguments = vec!["a\0b".into()]),
        Box::new(|r| {
            let d = r.datasets[0].clone();
            r.datasets = vec![d; 3];
        }),
    ];
    let signer = t.node.home.processor().unwrap();
    let ledger: &dyn LedgerAccess = t.node.as_ref();
    let processor = Processor {
        runner: &poex_exec::runner::Bubblewrap,
        store: &t.node.home.store,
        ledger,
        signer: &signer,
        jobs_dir: t.home().join("direct"),
        ceiling: Limits::default(),
        data_identity: None,
        log_owner: None,
    };
    for edit in cases {
        let signed = request_with(&alice, &alg, &[&ds], edit);
        // The pipeline ends such a job with a signed `failed` receipt naming the sandbox's
        // refusal; the node refuses it before it is ever queued.
        let report = processor
            .run_job(signed.envelope.clone(), JobOptions::default(), &Quiet)
            .unwrap();
        let err = match &report.status {
            JobStatus::Failed { status, reason } if *status == EndStatus::Failed => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert!(err.contains("invalid sandbox spec"), "{err}");
        assert!(
            poex_node::preflight::check(&signed.request, &Limits::default()).is_err(),
            "the node must refuse what the sandbox refuses: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_run_fails_still_ends_with_a_receipt_that_verifies() {
    let t = TestNode::new();
    let alice = key();
    // The sandbox cannot start a program that is not there: the job must still end with a
    // signed receipt that says so.
    let alg = algorithm_with(&t, &alice, "missing", &["/no/such/program"]).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let (s, v) = t.submit(&alice, &alg, &[&ds], None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let done = t.wait(&id, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "failed", "{done}");
    assert!(done["logIndex"].is_u64(), "{done}");
    let reason = done["reason"].as_str().unwrap();
    assert!(reason.contains("could not start the program"), "{reason}");
    assert!(
        t.home()
            .join("jobs")
            .join(&id)
            .join("receipt.json")
            .exists()
    );
    bundle_verifies(&t, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reasons_callers_see_name_no_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, common::config());
    let alice = key();
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let (_, v) = t.submit(&alice, &alg, &[&ds], None).await;
    let id = v["id"].as_str().unwrap().to_owned();
    // The job folder is taken before the job runs: the pipeline refuses to write over it,
    // with an error naming the folder.
    let folder = t.home().join("jobs").join(&id);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("squatter"), "x").unwrap();
    poex_node::start_workers(&t.node).unwrap();
    let done = t.wait(&id, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "failed", "{done}");
    let reason = done["reason"].as_str().unwrap();
    let home = t.home().display().to_string();
    assert!(!reason.contains(&home), "{reason}");
    assert!(reason.contains(&format!("HOME/jobs/{id}")), "{reason}");
    let receipt = std::fs::read_to_string(folder.join("receipt.json")).unwrap();
    let envelope: Envelope = serde_json::from_str(&receipt).unwrap();
    let payload = String::from_utf8(envelope.payload.clone()).unwrap();
    assert!(
        !payload.contains(&home),
        "the signed receipt names the home"
    );
    bundle_verifies(&t, &id).await;
}

// --- 2. A node killed between logging a receipt and writing its bundle --------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_logged_before_its_bundle_stays_the_jobs_one_receipt() {
    let (t, workers) = node_with_workers();
    let alice = key();
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let (_, v) = t.submit(&alice, &alg, &[&ds], None).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let done = t.wait(&id, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let logged_at = done["logIndex"].as_u64().unwrap();
    let home = t.home();
    // The state a kill -9 leaves between the log's commit and the bundle's write: the
    // receipt is logged, bundle.json is missing, the queue file still says running.
    std::fs::remove_file(home.join("jobs").join(&id).join("bundle.json")).unwrap();
    mark_running(&home, &id);
    let size = t.node.ledger.size();

    let t = reopen(t, workers);
    let v = t.wait(&id, |s| s != "running").await;
    assert_eq!(v["state"], "succeeded", "{v}");
    assert_eq!(v["logIndex"].as_u64(), Some(logged_at), "{v}");
    assert_eq!(t.node.ledger.size(), size, "recovery appended nothing");
    let receipts = t.node.ledger.job_receipts(&id).unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let bundle = bundle_verifies(&t, &id).await;
    assert_eq!(
        bundle["receipt"],
        serde_json::to_value(receipts[0].1.as_ref().unwrap()).unwrap()
    );
    assert!(
        t.node
            .ledger
            .jobs_with_several_receipts()
            .unwrap()
            .is_empty()
    );

    // What the node did before: sign a second, contradicting end. `poex audit validate`
    // names such a job (Ledger::jobs_with_several_receipts).
    std::fs::remove_file(home.join("jobs").join(&id).join("bundle.json")).unwrap();
    let signer = t.node.home.processor().unwrap();
    let ledger: &dyn LedgerAccess = t.node.as_ref();
    let processor = Processor {
        runner: &poex_exec::runner::Bubblewrap,
        store: &t.node.home.store,
        ledger,
        signer: &signer,
        jobs_dir: home.join("jobs"),
        ceiling: Limits::default(),
        data_identity: None,
        log_owner: None,
    };
    let envelope: Envelope = serde_json::from_slice(
        &std::fs::read(home.join("jobs").join(&id).join("request.json")).unwrap(),
    )
    .unwrap();
    processor
        .end_unrun(
            &id,
            &envelope,
            &home.join("jobs").join(&id),
            EndStatus::Interrupted,
            "again",
        )
        .unwrap();
    let several = t.node.ledger.jobs_with_several_receipts().unwrap();
    assert_eq!(several.len(), 1, "{several:?}");
    assert_eq!(several[0].0, id);
    assert_eq!(several[0].1.len(), 2);
}

// --- 5. Denials of callers whose identity is not proven -----------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unverified_keys_are_recorded_as_claims_of_anonymous() {
    let t = TestNode::new();
    let victim = key();
    let victim_id = victim.public_key().key_id().to_string();
    // The victim's key id with a signature by another key.
    let mallory = key();
    let mut forged = common::build("GET", "/api/jobs/abc/log", Some(&mallory), None);
    let real = common::build("GET", "/api/jobs/abc/log", Some(&victim), None);
    let input = real.headers()["signature-input"].clone();
    forged.headers_mut().insert("signature-input", input);
    let (s, _) = t.send(forged).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A replay of the victim's real request: the first use is the victim's; the second
    // proves nothing about who sent it.
    let (parts, _) = real.into_parts();
    let again = || {
        let mut r = axum::http::Request::builder()
            .method("GET")
            .uri("/api/jobs/abc/log");
        for (k, v) in &parts.headers {
            r = r.header(k, v);
        }
        r.body(axum::body::Body::empty()).unwrap()
    };
    let (first, _) = t.send(again()).await;
    assert_eq!(first, StatusCode::NOT_FOUND, "the victim's own request");
    let (second, _) = t.send(again()).await;
    assert_eq!(second, StatusCode::UNAUTHORIZED);

    assert!(
        t.audit(&format!("actor={victim_id}")).await.is_empty(),
        "nothing unproven is in the victim's audit trail"
    );
    let denials = t.audit("operation=deny").await;
    assert_eq!(denials.len(), 2, "{denials:?}");
    for d in &denials {
        assert_eq!(d["event"]["actor"], "anonymous", "{d}");
        let detail = d["event"]["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("claimed key id {victim_id} (not verified)")),
            "{detail}"
        );
    }
}

// --- 6. Floods of denials ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn denials_over_the_budget_are_counted_not_logged_one_by_one() {
    // What 200 unsigned requests cost the log without a budget (as before) and with one.
    let mut growth = Vec::new();
    for per_minute in [1_000_000, 3] {
        let mut config = common::config();
        config.deny_log_per_minute = per_minute;
        config.deny_summary_secs = 3600;
        let t = TestNode::with(config);
        let ledger = t.home().join("ledger");
        let before = du(&ledger);
        let size = t.node.ledger.size();
        for _ in 0..200 {
            let (s, v) = t.json("POST", "/api/jobs", None, Some(json!({}))).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        }
        let entries = t.node.ledger.size() - size;
        let bytes = du(&ledger) as i64 - before as i64;
        growth.push((per_minute, entries, bytes));
        if per_minute == 3 {
            assert_eq!(entries, 3, "three denials logged, the rest counted");
            // The summary (due at the interval, forced here as shutdown forces it) counts the
            // rest.
            let summary = t.node.take_denial_summary().unwrap();
            let detail = summary.detail.clone().unwrap();
            assert!(detail.starts_with("197 denial(s)"), "{detail}");
            assert_eq!(summary.actor, "anonymous");
        } else {
            assert_eq!(entries, 200);
        }
    }
    for (budget, entries, bytes) in growth {
        eprintln!(
            "budget {budget}/min: 200 denied requests added {entries} log entries, {bytes} bytes on disk ({} per request)",
            bytes / 200
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_denial_is_cut_with_a_note_not_dropped() {
    let t = TestNode::new();
    let huge = "A".repeat(100_000);
    let r = axum::http::Request::builder()
        .method("POST")
        .uri("/api/jobs")
        .header("host", common::HOST)
        .header(
            "signature-input",
            format!(
                "poex=(\"@method\");created=1;expires=2;nonce=\"{}\";keyid=\"{huge}\"",
                "n".repeat(20)
            ),
        )
        .header("signature", "poex=:AAAA:")
        .body(axum::body::Body::empty())
        .unwrap();
    let (s, _) = t.send(r).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let denials = t.audit("operation=deny").await;
    assert_eq!(denials.len(), 1, "the denial is logged");
    let detail = denials[0]["event"]["detail"].as_str().unwrap();
    assert!(detail.len() <= 4096, "{}", detail.len());
    assert!(detail.contains("[cut:"), "{detail}");
}

fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

// --- 7. Unattested logs -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_job_serves_no_unattested_log() {
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let root = dir.path().to_owned();
    let t = TestNode::open_idle(dir, common::config());
    let alice = key();
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let (_, v) = t.submit(&alice, &alg, &[&ds], None).await;
    let id = v["id"].as_str().unwrap().to_owned();
    // Killed mid-run: a partial log and a partial result in the job folder.
    mark_running(&root, &id);
    let folder = root.join("jobs").join(&id);
    std::fs::create_dir_all(folder.join("results")).unwrap();
    std::fs::write(folder.join("results/half.txt"), "half").unwrap();
    std::fs::write(folder.join("execution.log"), "half a log\n").unwrap();
    let t = reopen(t, Vec::new());
    let v = t.wait(&id, |s| s != "running").await;
    assert_eq!(v["state"], "interrupted", "{v}");
    let (s, body) = t
        .json("GET", &format!("/api/jobs/{id}/log"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("attests no execution log"),
        "{body}"
    );
    let (s, list) = t
        .json(
            "GET",
            &format!("/api/jobs/{id}/results"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["files"].as_array().unwrap().len(), 0, "{list}");
    // What a fetch then has (receipt and bundle, no log, no result) verifies.
    bundle_verifies(&t, &id).await;
    // A job that ran serves its log, which matches the receipt.
    let (_, v) = t.submit(&alice, &alg, &[&ds], None).await;
    let ok = v["id"].as_str().unwrap().to_owned();
    t.wait(&ok, |s| s == "succeeded").await;
    let (s, log) = t
        .call("GET", &format!("/api/jobs/{ok}/log"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&log).contains("ran"));
}

// --- 8. Caller mistakes: 400 with JSON, never 500 or plain text ---------------------------

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut h, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tar_mistakes_are_400_with_json_and_leave_nothing() {
    let t = TestNode::new();
    let alice = key();
    let long_name = "n".repeat(300);
    let long_path = vec!["d".repeat(200); 12].join("/");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tar_of(&[("a", b"file"), ("a/b", b"inside a file")]),
            "as a file",
        ),
        (
            tar_of(&[("a/b", b"x"), ("a", b"a file over a folder")]),
            "as a folder",
        ),
        (
            tar_of(&[(long_name.as_str(), b"x")]),
            "has a name of 300 bytes",
        ),
        (
            tar_of(&[(long_path.as_str(), b"x")]),
            "paths may have at most",
        ),
        (tar_of(&[("x", b"1"), ("x", b"2")]), "appears twice"),
    ];
    for (archive, says) in cases {
        let (s, b) = t
            .call(
                "POST",
                "/api/objects",
                Some(&alice),
                Some(("application/x-tar", archive)),
            )
            .await;
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{says}: {v}");
        assert_eq!(v["error"], "bad_request");
        assert!(v["message"].as_str().unwrap().contains(says), "{says}: {v}");
    }
    assert_eq!(
        std::fs::read_dir(t.home().join("uploads")).unwrap().count(),
        0,
        "no upload left half-written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn axums_own_refusals_are_json_too() {
    let t = TestNode::new();
    for (method, uri, status, code) in [
        (
            "GET",
            "/api/jobs?limit=many",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/audit?after=-1",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "DELETE",
            "/api/jobs",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "PUT",
            "/api/info",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let req = common::build(method, uri, None, None);
        let resp = tower::ServiceExt::oneshot(t.app.clone(), req)
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{method} {uri}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{method} {uri}"
        );
        let allow = resp.headers().get("allow").cloned();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], code, "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty(), "{v}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(allow.is_some(), "405 keeps its Allow header");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_for_another_authority_are_refused() {
    let mut config = common::config();
    config.authority = Some("node.example:8420".into());
    let t = TestNode::with(config);
    let alice = key();
    // Signed (and sent) for common::HOST, which this node is not.
    let (s, v) = t
        .json("GET", "/api/jobs/abc/results", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("\"node.test\"") && m.contains("\"node.example:8420\""),
        "{m}"
    );
}
