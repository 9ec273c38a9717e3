//! The job pipeline against a real store, a real transparency log in a temporary folder and
//! the real sandbox: job ids and output folders chosen by the caller, cancellation, and jobs
//! that end without running. The pipeline's own rules (what reaches the runner, what is
//! recorded, what each end becomes) are also tested with `runner::testing::Scripted`, which
//! runs a closure instead of a sandbox.
//!
//! The tests that run a job hold a process-wide lock, as the sandbox tests do: the jobs share
//! the sandbox uid's process budget.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use poex_core::dsse::Envelope;
use poex_core::keys::SecretKey;
use poex_core::outcome::EndStatus;
use poex_core::receipt::{self, OUTCOME_NAME, ReceiptStatement};
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, RequestedLimits, Requester, SignedRequest,
};
use poex_core::{Signer, statement::ResourceDescriptor};
use poex_exec::CancelToken;
use poex_exec::pipeline::{
    BUNDLE_NAME, JobOptions, JobReport, JobStatus, LedgerAccess, PipelineError, Processor, Quiet,
    check_job_id,
};
use poex_exec::runner::testing::{Script, Scripted};
use poex_exec::runner::{Bubblewrap, Runner};
use poex_exec::sandbox::{Limits, SandboxError, Termination};
use poex_ledger::{Ledger, LedgerError, ProofBundle};
use poex_store::Store;
use poex_store::audit::{Filter, Operation};
use poex_store::registry::{AssetKind, Name, Policy, Record};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

/// A log opened afresh for each write, as the CLI's home does.
struct TestLedger {
    dir: PathBuf,
    key: Arc<SecretKey>,
}

impl LedgerAccess for TestLedger {
    fn open(&self) -> Result<Arc<Ledger>, LedgerError> {
        Ledger::open_or_create(&self.dir, self.key.clone(), None).map(Arc::new)
    }
}

/// A home: store, log, processor key, and a requester who published what it runs.
struct Env {
    _guard: MutexGuard<'static, ()>,
    root: tempfile::TempDir,
    store: Store,
    ledger: TestLedger,
    processor: SecretKey,
    requester: SecretKey,
}

impl Env {
    fn new() -> Env {
        let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path().join("store")).unwrap();
        let ledger = TestLedger {
            dir: root.path().join("ledger"),
            key: Arc::new(SecretKey::generate().unwrap()),
        };
        Env {
            _guard: guard,
            store,
            ledger,
            processor: SecretKey::generate().unwrap(),
            requester: SecretKey::generate().unwrap(),
            root,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn jobs_dir(&self) -> PathBuf {
        self.path("jobs")
    }

    fn processor(&self) -> Processor<'_> {
        self.processor_with(&Bubblewrap)
    }

    fn processor_with<'a>(&'a self, runner: &'a dyn Runner) -> Processor<'a> {
        Processor {
            runner,
            store: &self.store,
            ledger: &self.ledger,
            signer: &self.processor,
            jobs_dir: self.jobs_dir(),
            ceiling: Limits {
                cpu_time: Duration::from_secs(10),
                wall_time: Duration::from_secs(60),
                memory_bytes: 512 << 20,
                processes: 16,
                output_bytes: 16 << 20,
                output_files: 1_000,
                log_bytes: 64 << 10,
                tmp_bytes: 8 << 20,
            },
            data_identity: None,
            log_owner: None,
        }
    }

    /// Publishes a file as the requester; returns its record.
    fn publish(
        &self,
        kind: AssetKind,
        name: &str,
        content: &str,
        entrypoint: Option<&[&str]>,
        policy: Option<Policy>,
    ) -> Record {
        let src = self.path(&format!("src-{name}"));
        fs::write(&src, content).unwrap();
        let stored = self.store.objects().import(&src, &|_| {}).unwrap();
        let record = Record {
            kind,
            name: Name::new(name).unwrap(),
            digests: stored.tree.digests.clone(),
            layout: stored.tree.kind,
            size: stored.tree.total_bytes,
            file_count: stored.tree.files.len() as u64,
            published_at: poex_store::now_rfc3339(),
            publisher: self.requester.public_key().key_id().to_string(),
            entrypoint: entrypoint.map(|e| e.iter().map(|s| s.to_string()).collect()),
            policy,
            sealed: None,
        };
        self.store.registry().add(&record).unwrap();
        record
    }

    /// Publishes `script` (run by `sh`) as algorithm `algo` and a dataset that allows it, and
    /// returns a request for the job, signed by the requester.
    fn job(&self, script: &str) -> Envelope {
        let algo = self.publish(
            AssetKind::Algorithm,
            "algo",
            script,
            Some(&["sh", "/algo/algo"]),
            None,
        );
        let algo_sha = *algo.digests.sha256().unwrap();
        let data = self.publish(
            AssetKind::Dataset,
            "numbers",
            "1\n2\n3\n",
            None,
            Some(Policy {
                allowed_algorithms: vec![algo_sha],
                allowed_requesters: Vec::new(),
            }),
        );
        self.request(&algo, &[&data])
    }

    fn request(&self, algo: &Record, datasets: &[&Record]) -> Envelope {
        let pin = |r: &Record| AssetRef {
            name: r.name.as_str().to_owned(),
            digest: *r.digests.sha256().unwrap(),
        };
        let request = JobRequest {
            type_: REQUEST_TYPE.into(),
            requester: Requester {
                key_id: self.requester.public_key().key_id(),
                public_key: self.requester.public_key(),
            },
            algorithm: pin(algo),
            datasets: datasets.iter().map(|d| pin(d)).collect(),
            arguments: Vec::new(),
            limits: RequestedLimits::default(),
            requested_at: "2025-01-01T00:00:00Z".into(),
            nonce: "00112233445566778899aabbccddeeff".into(),
            result_recipient: None,
        };
        SignedRequest::sign(request, &self.requester)
            .unwrap()
            .envelope
    }

    /// Opens the receipt under the processor key and checks the bundle beside it against the
    /// processor and log keys; returns the statement.
    fn verified(&self, report: &JobReport) -> ReceiptStatement {
        let on_disk: Envelope =
            serde_json::from_slice(&fs::read(&report.receipt_path).unwrap()).unwrap();
        assert_eq!(on_disk, report.receipt);
        let statement = receipt::open(&on_disk, &self.processor.public_key()).unwrap();
        let bundle = ProofBundle::from_json(&fs::read(&report.bundle_path).unwrap()).unwrap();
        let log = self.ledger.open().unwrap();
        let verified = bundle
            .verify(&self.processor.public_key(), log.verifier())
            .unwrap();
        assert_eq!(verified.index.0, report.log_index);
        assert_eq!(verified.statement, statement);
        statement
    }

    /// The log's events of one job, as `operation:object`.
    fn events(&self, job: &str) -> Vec<String> {
        self.ledger
            .open()
            .unwrap()
            .events(&Filter {
                job: Some(job.into()),
                ..Filter::default()
            })
            .unwrap()
            .into_iter()
            .map(|(_, e)| format!("{}:{}", e.operation, e.object))
            .collect()
    }
}

fn outcome(statement: &ReceiptStatement) -> &serde_json::Map<String, Value> {
    &statement
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(OUTCOME_NAME))
        .unwrap()
        .annotations
}

fn subject_names(statement: &ReceiptStatement) -> Vec<&str> {
    statement
        .subject
        .iter()
        .filter_map(|s: &ResourceDescriptor| s.name.as_deref())
        .collect()
}

fn failed_status(report: &JobReport) -> (&str, &str) {
    match &report.status {
        JobStatus::Failed { status, reason } => (status.word(), reason),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn job_ids_are_checked() {
    for good in ["a", "0", "job-1", "0123456789abcdef", &"f".repeat(64)] {
        check_job_id(good).unwrap();
    }
    for bad in [
        "",
        &"f".repeat(65),
        "-job",
        "Job",
        "..",
        "a/b",
        "a b",
        "a_b",
        "job.1",
        "é",
    ] {
        assert!(
            matches!(check_job_id(bad), Err(PipelineError::InvalidJobId { .. })),
            "{bad:?} passed"
        );
    }
}

#[test]
fn a_job_runs_under_the_id_and_folder_it_is_given() {
    let env = Env::new();
    let request = env.job("wc -l < /data/numbers > /out/count.txt\n");
    let report = env
        .processor()
        .run_job(
            request,
            JobOptions {
                job_id: Some("queue-0001".into()),
                ..JobOptions::default()
            },
            &Quiet,
        )
        .unwrap();
    assert_eq!(report.status, JobStatus::Succeeded, "{report:?}");
    assert_eq!(report.job_id, "queue-0001");
    let out = env.jobs_dir().join("queue-0001");
    assert_eq!(report.receipt_path, out.join("receipt.json"));
    assert_eq!(
        fs::read_to_string(out.join("results/count.txt")).unwrap(),
        "3\n"
    );
    let statement = env.verified(&report);
    assert_eq!(
        statement.predicate.run_details.metadata.invocation_id,
        Some("queue-0001".into())
    );
    assert_eq!(subject_names(&statement), ["count.txt"]);
}

#[test]
fn an_invalid_job_id_is_refused_before_anything_is_written() {
    let env = Env::new();
    let request = env.job("true\n");
    let err = env
        .processor()
        .run_job(
            request,
            JobOptions {
                job_id: Some("../escape".into()),
                ..JobOptions::default()
            },
            &Quiet,
        )
        .unwrap_err();
    assert!(matches!(err, PipelineError::InvalidJobId { .. }), "{err:?}");
    assert!(!env.jobs_dir().exists());
    assert!(!env.path("escape").exists());
}

#[test]
fn cancelling_a_running_job_kills_it_and_signs_a_cancelled_receipt() {
    let env = Env::new();
    let request = env.job("echo started > /out/partial.txt\nsleep 30\n");
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            token.cancel();
        })
    };
    let start = Instant::now();
    let report = env
        .processor()
        .run_job(
            request,
            JobOptions {
                job_id: Some("cancel-me".into()),
                cancel: Some(token),
                ..JobOptions::default()
            },
            &Quiet,
        )
        .unwrap();
    canceller.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(failed_status(&report).0, "cancelled");
    let statement = env.verified(&report);
    let outcome = outcome(&statement);
    assert_eq!(outcome["status"], "cancelled");
    assert_eq!(outcome["termination"]["kind"], "cancelled");
    assert!(
        env.events("cancel-me")
            .contains(&"run-finished:cancelled".to_owned()),
        "{:?}",
        env.events("cancel-me")
    );
}

/// The request of a job that was never verified: nothing is published.
fn unpublished_request(env: &Env) -> Envelope {
    let algo = env.publish(
        AssetKind::Algorithm,
        "algo",
        "true\n",
        Some(&["sh", "/algo/algo"]),
        None,
    );
    env.request(&algo, &[])
}

#[test]
fn each_unrun_status_ends_with_a_verified_receipt_and_one_event() {
    let env = Env::new();
    let request = unpublished_request(&env);
    for (i, status) in EndStatus::UNRUN.into_iter().enumerate() {
        let job_id = format!("unrun-{i}");
        let out = env.jobs_dir().join(&job_id);
        let reason = format!("the job ended {status} in a test");
        let report = env
            .processor()
            .end_unrun(&job_id, &request, &out, status, &reason)
            .unwrap();
        assert_eq!(
            report.status,
            JobStatus::Failed {
                status,
                reason: reason.clone()
            }
        );
        assert_eq!(report.receipt_path, out.join("receipt.json"));
        assert_eq!(report.bundle_path, out.join(BUNDLE_NAME));
        assert_eq!(report.log_path, None);
        assert!(report.outcome.is_none());

        let statement = env.verified(&report);
        let meta = &statement.predicate.run_details.metadata;
        assert_eq!(meta.invocation_id.as_deref(), Some(job_id.as_str()));
        assert_eq!(meta.started_on, None);
        assert!(
            statement
                .predicate
                .build_definition
                .resolved_dependencies
                .is_empty()
        );
        assert_eq!(
            statement.predicate.build_definition.external_parameters["jobRequest"],
            serde_json::to_value(&request).unwrap()
        );
        // No result is attested: the subject is the request.
        assert_eq!(subject_names(&statement), ["poex:job-request"]);
        let outcome = outcome(&statement);
        assert_eq!(outcome["status"], status.word());
        assert_eq!(outcome["reason"], reason.as_str());
        assert!(!outcome.contains_key("partialFiles"), "{outcome:?}");

        // The request is kept beside the receipt, as for any job.
        let kept: Envelope =
            serde_json::from_slice(&fs::read(out.join("request.json")).unwrap()).unwrap();
        assert_eq!(kept, request);

        let expected = if status == EndStatus::Cancelled {
            "cancel:cancelled".to_owned()
        } else {
            format!("run-finished:{status}")
        };
        assert_eq!(env.events(&job_id), [expected]);
        let log = env.ledger.open().unwrap();
        let (_, event) = log
            .events(&Filter {
                job: Some(job_id.clone()),
                ..Filter::default()
            })
            .unwrap()
            .remove(0);
        assert_eq!(event.detail.as_deref(), Some(reason.as_str()));
        assert_eq!(event.actor, env.processor.public_key().key_id().to_string());
        if status == EndStatus::Cancelled {
            assert_eq!(event.operation, Operation::Cancel);
        }
    }
}

#[test]
fn an_interrupted_run_leaves_its_partial_files_unattested() {
    let env = Env::new();
    let request = unpublished_request(&env);
    let out = env.jobs_dir().join("cut-short");
    fs::create_dir_all(out.join("results/sub")).unwrap();
    fs::write(
        out.join("request.json"),
        "the request as the cut run wrote it\n",
    )
    .unwrap();
    fs::write(out.join("results/sub/half.csv"), "1,2\n").unwrap();
    fs::write(out.join("execution.log"), "started\n").unwrap();

    let report = env
        .processor()
        .end_unrun(
            "cut-short",
            &request,
            &out,
            EndStatus::Interrupted,
            "the node stopped while the job ran",
        )
        .unwrap();
    assert_eq!(failed_status(&report).0, "interrupted");
    let statement = env.verified(&report);
    assert_eq!(subject_names(&statement), ["poex:job-request"]);
    let outcome = outcome(&statement);
    assert_eq!(
        outcome["partialFiles"],
        serde_json::json!(["results/", "execution.log"])
    );
    assert!(
        outcome["note"]
            .as_str()
            .unwrap()
            .contains("does not attest"),
        "{outcome:?}"
    );
    assert!(
        statement
            .predicate
            .run_details
            .byproducts
            .iter()
            .all(|b| b.name.as_deref() == Some(OUTCOME_NAME)),
        "no execution.log byproduct"
    );
    // What the cut run left is left alone.
    assert_eq!(
        fs::read_to_string(out.join("results/sub/half.csv")).unwrap(),
        "1,2\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("request.json")).unwrap(),
        "the request as the cut run wrote it\n"
    );
    assert_eq!(env.events("cut-short"), ["run-finished:interrupted"]);
}

#[test]
fn an_empty_results_folder_is_not_reported_as_partial() {
    let env = Env::new();
    let request = unpublished_request(&env);
    let out = env.jobs_dir().join("empty");
    fs::create_dir_all(out.join("results")).unwrap();
    let report = env
        .processor()
        .end_unrun(
            "empty",
            &request,
            &out,
            EndStatus::Expired,
            "waited too long",
        )
        .unwrap();
    let statement = env.verified(&report);
    assert!(!outcome(&statement).contains_key("partialFiles"));
}

#[test]
fn end_unrun_refuses_other_words_bad_ids_and_a_job_that_already_ended() {
    let env = Env::new();
    let request = unpublished_request(&env);
    let out = env.jobs_dir().join("once");
    let p = env.processor();
    for status in EndStatus::ALL {
        if EndStatus::UNRUN.contains(&status) {
            continue;
        }
        assert!(
            matches!(
                p.end_unrun("once", &request, &out, status, "r"),
                Err(PipelineError::UnrunStatus(s)) if s == status
            ),
            "{status}"
        );
    }
    assert!(matches!(
        p.end_unrun("../once", &request, &out, EndStatus::Cancelled, "r"),
        Err(PipelineError::InvalidJobId { .. })
    ));
    assert!(!out.exists(), "nothing written for a refused call");

    let first = p
        .end_unrun("once", &request, &out, EndStatus::Cancelled, "r")
        .unwrap();
    let receipt = fs::read(&first.receipt_path).unwrap();
    let err = p
        .end_unrun("once", &request, &out, EndStatus::Interrupted, "again")
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::AlreadyEnded { bundle, .. } if *bundle == first.bundle_path),
        "{err:?}"
    );
    assert_eq!(fs::read(&first.receipt_path).unwrap(), receipt);
    assert_eq!(env.events("once"), ["cancel:cancelled"]);
}

#[test]
fn a_job_cancelled_before_it_runs_reads_nothing_and_runs_nothing() {
    let env = Env::new();
    let request = env.job("echo ran > /out/ran.txt\n");
    let token = CancelToken::new();
    token.cancel();
    let report = env
        .processor()
        .run_job(
            request,
            JobOptions {
                job_id: Some("never-ran".into()),
                cancel: Some(token),
                ..JobOptions::default()
            },
            &Quiet,
        )
        .unwrap();
    assert_eq!(failed_status(&report).0, "cancelled");
    assert!(report.outcome.is_none());
    let out = env.jobs_dir().join("never-ran");
    assert!(!out.join("results").exists());
    assert!(out.join("request.json").exists());
    env.verified(&report);
    assert_eq!(env.events("never-ran"), ["cancel:cancelled"]);
}

#[test]
fn interrupting_a_running_job_signs_an_interrupted_receipt_with_its_results() {
    let env = Env::new();
    let request = env.job("echo started > /out/partial.txt\nsleep 30\n");
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            token.interrupt();
        })
    };
    let report = env
        .processor()
        .run_job(
            request,
            JobOptions {
                job_id: Some("shutdown".into()),
                cancel: Some(token),
                ..JobOptions::default()
            },
            &Quiet,
        )
        .unwrap();
    canceller.join().unwrap();
    assert_eq!(failed_status(&report).0, "interrupted");
    let statement = env.verified(&report);
    assert_eq!(outcome(&statement)["termination"]["kind"], "cancelled");
    // Killed like a job at its wall-time limit: what it left is hashed and listed.
    assert_eq!(subject_names(&statement), ["partial.txt"]);
    assert!(
        env.events("shutdown")
            .contains(&"run-finished:interrupted".to_owned())
    );
}

#[test]
fn a_job_interrupted_before_it_runs_ends_interrupted_without_running() {
    let env = Env::new();
    let request = env.job("true\n");
    let token = CancelToken::new();
    token.interrupt();
    let report = env
        .processor()
        .run_job(
            request,
            JobOptions {
                job_id: Some("not-started".into()),
                cancel: Some(token),
                ..JobOptions::default()
            },
            &Quiet,
        )
        .unwrap();
    assert_eq!(failed_status(&report).0, "interrupted");
    env.verified(&report);
    assert_eq!(env.events("not-started"), ["run-finished:interrupted"]);
}

/// What the pipeline does around a run, without a sandbox: the runner gets the job's view
/// (algorithm, datasets, output, environment), everything is recorded, results are attested.
#[test]
fn the_pipeline_gives_the_runner_the_jobs_view_and_records_what_it_left() {
    let env = Env::new();
    let request = env.job("unused: the scripted runner runs instead");
    let runner = Scripted(|spec: &poex_exec::sandbox::Spec| {
        let mounts: Vec<_> = spec.read_only.iter().map(|m| m.sandbox.clone()).collect();
        assert_eq!(
            mounts,
            [PathBuf::from("/algo/algo"), "/data/numbers".into()]
        );
        assert_eq!(spec.output_at, PathBuf::from("/out"));
        assert_eq!(spec.argv, ["sh", "/algo/algo"]);
        assert!(
            spec.env
                .iter()
                .any(|(k, v)| k == "POEX_DATASETS" && v == "/data/numbers")
        );
        fs::write(spec.output.join("sum.txt"), "6\n").unwrap();
        Ok(Script::exited(0, "summed\n"))
    });
    let report = env
        .processor_with(&runner)
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    assert_eq!(report.status, JobStatus::Succeeded);
    let statement = env.verified(&report);
    assert_eq!(subject_names(&statement), ["sum.txt"]);
    let sandbox = &statement.predicate.build_definition.internal_parameters["sandbox"];
    assert!(
        sandbox["engine"].as_str().unwrap().contains("no isolation"),
        "a scripted run must say so: {sandbox}"
    );
    assert_eq!(
        env.events(&report.job_id),
        [
            "read-algorithm:algo",
            "read-dataset:numbers",
            "run-started:algo",
            "write-result:sum.txt",
            "run-finished:succeeded",
        ]
    );
    assert_eq!(
        fs::read_to_string(report.log_path.unwrap()).unwrap(),
        "summed\n"
    );
}

/// A job's start is not in the log while it runs: its reads, its start, its writes, its end
/// and its receipt enter the log together, in the commit that logs the receipt, so no reader
/// of the log ever sees a job that started and has no receipt.
#[test]
fn a_jobs_events_and_receipt_enter_the_log_in_one_commit() {
    let env = Env::new();
    let request = env.job("unused: the scripted runner runs instead");
    let before = env.ledger.open().unwrap().size();
    let seen_during = Mutex::new(None);
    let runner = Scripted(|spec: &poex_exec::sandbox::Spec| {
        *seen_during.lock().unwrap() = Some(env.ledger.open().unwrap().size());
        fs::write(spec.output.join("sum.txt"), "6\n").unwrap();
        Ok(Script::exited(0, "summed\n"))
    });
    let report = env
        .processor_with(&runner)
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    assert_eq!(report.status, JobStatus::Succeeded);
    assert_eq!(
        seen_during.into_inner().unwrap(),
        Some(before),
        "nothing of the job may be in the log while it runs"
    );
    // Five events (two reads, start, one write, end) and the receipt, the receipt last.
    let after = env.ledger.open().unwrap().size();
    assert_eq!(after, before + 6);
    assert_eq!(report.log_index, after - 1);
    assert_eq!(env.events(&report.job_id).len(), 5);
}

/// A refused job never reaches the runner.
#[test]
fn a_refused_job_never_reaches_the_runner() {
    let env = Env::new();
    let mut request = env.job("unused");
    // Another requester's signature over the same request: the signature check fails.
    let other = SecretKey::generate().unwrap();
    request.signatures[0].sig = other.sign(b"something else").to_vec();
    let called = std::sync::atomic::AtomicBool::new(false);
    let runner = Scripted(|_: &poex_exec::sandbox::Spec| {
        called.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(Script::exited(0, ""))
    });
    let report = env
        .processor_with(&runner)
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    assert!(
        matches!(report.status, JobStatus::Refused { .. }),
        "{report:?}"
    );
    assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
    env.verified(&report);
}

/// A runner that cannot run the job: the job still ends with a signed `failed` receipt that
/// names why, and the log has its end.
#[test]
fn a_runner_that_cannot_run_the_job_leaves_a_signed_failed_receipt() {
    let env = Env::new();
    let request = env.job("unused");
    let runner = Scripted(|_: &poex_exec::sandbox::Spec| Err(SandboxError::BwrapMissing));
    let report = env
        .processor_with(&runner)
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    let (status, reason) = failed_status(&report);
    assert_eq!(status, "failed");
    assert!(
        reason.contains("bubblewrap (bwrap) was not found"),
        "{reason}"
    );
    let statement = env.verified(&report);
    assert_eq!(outcome(&statement)["note"], "the job's program never ran");
    assert_eq!(subject_names(&statement), ["poex:job-request"]);
    let events = env.events(&report.job_id);
    assert_eq!(events.last().unwrap(), "run-finished:failed", "{events:?}");
}

/// Each way a run can end becomes its status word, and output over a limit is moved aside,
/// not attested.
#[test]
fn each_end_of_a_run_gets_its_status_and_unattested_output_moves_aside() {
    let env = Env::new();
    let cases = [
        (Termination::MemoryLimitExceeded, "memory-limit-exceeded"),
        (Termination::CpuTimeExceeded, "cpu-time-exceeded"),
        (Termination::WallTimeExceeded, "wall-time-exceeded"),
        (Termination::NotStarted, "failed"),
        (Termination::Exited(3), "failed"),
        (Termination::OutputLimitExceeded, "output-limit-exceeded"),
    ];
    let algo = env.publish(
        AssetKind::Algorithm,
        "algo",
        "unused",
        Some(&["sh", "/algo/algo"]),
        None,
    );
    let data = env.publish(
        AssetKind::Dataset,
        "numbers",
        "1\n",
        None,
        Some(Policy {
            allowed_algorithms: vec![*algo.digests.sha256().unwrap()],
            allowed_requesters: Vec::new(),
        }),
    );
    for (termination, word) in cases {
        let runner = Scripted(move |spec: &poex_exec::sandbox::Spec| {
            fs::write(spec.output.join("partial.txt"), "x").unwrap();
            Ok(Script::ended(termination))
        });
        let report = env
            .processor_with(&runner)
            .run_job(env.request(&algo, &[&data]), JobOptions::default(), &Quiet)
            .unwrap();
        let (status, _) = failed_status(&report);
        assert_eq!(status, word, "{termination:?}");
        let statement = env.verified(&report);
        let moved = termination == Termination::OutputLimitExceeded;
        assert_eq!(
            subject_names(&statement),
            if moved {
                vec!["poex:job-request"]
            } else {
                vec!["partial.txt"]
            },
            "{termination:?}"
        );
        let aside = report.results_dir.with_file_name("results.unattested");
        assert_eq!(aside.join("partial.txt").exists(), moved, "{termination:?}");
        assert_eq!(report.results_dir.join("partial.txt").exists(), !moved);
    }
}
