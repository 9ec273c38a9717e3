//! Jobs whose request names a `resultRecipient`, run for real (store, log, sandbox): only
//! sealed files stay on disk, the receipt commits to each plaintext and each sealed file, and
//! the requester's identity opens them to the attested bytes.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use poex_core::dsse::Envelope;
use poex_core::keys::SecretKey;
use poex_core::receipt::{self, LOG_NAME, OUTCOME_NAME, ReceiptStatement};
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, RequestedLimits, Requester, SignedRequest,
};
use poex_core::statement::ResourceDescriptor;
use poex_core::{Algorithm, Signer};
use poex_exec::pipeline::{JobOptions, JobReport, JobStatus, LedgerAccess, Processor, Quiet};
use poex_exec::sandbox::Limits;
use poex_ledger::{Ledger, LedgerError, ProofBundle};
use poex_seal::Identity;
use poex_store::Store;
use poex_store::audit::{Filter, Operation};
use poex_store::registry::{AssetKind, Name, Policy, Record};
use serde_json::Value;

/// Jobs share the sandbox uid's process budget: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct TestLedger {
    dir: PathBuf,
    key: Arc<SecretKey>,
}

impl LedgerAccess for TestLedger {
    fn open(&self) -> Result<Arc<Ledger>, LedgerError> {
        Ledger::open_or_create(&self.dir, self.key.clone(), None).map(Arc::new)
    }
}

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
        Env {
            _guard: guard,
            store: Store::open(root.path().join("store")).unwrap(),
            ledger: TestLedger {
                dir: root.path().join("ledger"),
                key: Arc::new(SecretKey::generate().unwrap()),
            },
            processor: SecretKey::generate().unwrap(),
            requester: SecretKey::generate().unwrap(),
            root,
        }
    }

    fn processor(&self) -> Processor<'_> {
        Processor {
            runner: &poex_exec::runner::Bubblewrap,
            store: &self.store,
            ledger: &self.ledger,
            signer: &self.processor,
            jobs_dir: self.root.path().join("jobs"),
            ceiling: Limits {
                cpu_time: Duration::from_secs(10),
                wall_time: Duration::from_secs(60),
                memory_bytes: 512 << 20,
                processes: 16,
                output_bytes: 64 << 20,
                output_files: 1_000,
                log_bytes: 64 << 10,
                tmp_bytes: 8 << 20,
            },
            data_identity: None,
            log_owner: None,
        }
    }

    fn publish(
        &self,
        kind: AssetKind,
        name: &str,
        content: &str,
        policy: Option<Policy>,
    ) -> Record {
        let src = self.root.path().join(format!("src-{name}"));
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
            entrypoint: (kind == AssetKind::Algorithm)
                .then(|| vec!["sh".to_owned(), "/algo/algo".to_owned()]),
            policy,
            sealed: None,
        };
        self.store.registry().add(&record).unwrap();
        record
    }

    /// A request for `script` (run by `sh`) on a small dataset, sealed to `recipient`.
    fn job(&self, script: &str, recipient: Option<String>) -> Envelope {
        let algo = self.publish(AssetKind::Algorithm, "algo", script, None);
        let data = self.publish(
            AssetKind::Dataset,
            "numbers",
            "1\n2\n3\n",
            Some(Policy {
                allowed_algorithms: vec![*algo.digests.sha256().unwrap()],
                allowed_requesters: Vec::new(),
            }),
        );
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
            algorithm: pin(&algo),
            datasets: vec![pin(&data)],
            arguments: Vec::new(),
            limits: RequestedLimits::default(),
            requested_at: "2026-11-21T00:00:00Z".into(),
            nonce: "00112233445566778899aabbccddeeff".into(),
            result_recipient: recipient,
        };
        SignedRequest::sign(request, &self.requester)
            .unwrap()
            .envelope
    }

    fn verified(&self, report: &JobReport) -> ReceiptStatement {
        let statement = receipt::open(&report.receipt, &self.processor.public_key()).unwrap();
        let bundle = ProofBundle::from_json(&fs::read(&report.bundle_path).unwrap()).unwrap();
        let log = self.ledger.open().unwrap();
        bundle
            .verify(&self.processor.public_key(), log.verifier())
            .unwrap();
        statement
    }
}

/// Every file under `dir`, relative, `/`-separated, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn sealed_annotation(rd: &ResourceDescriptor) -> &serde_json::Map<String, Value> {
    rd.annotations["sealed"].as_object().unwrap()
}

fn open_sealed(identity: &Identity, path: &Path) -> Vec<u8> {
    let mut plain = Vec::new();
    poex_seal::decrypt(identity, fs::File::open(path).unwrap(), &mut plain).unwrap();
    plain
}

#[test]
fn a_sealed_job_leaves_only_sealed_files_that_open_to_the_attested_bytes() {
    let env = Env::new();
    let requester_identity = Identity::generate().unwrap();
    // A small file, one of several chunks in a sub-folder, an empty one, and a result whose
    // name is another's sealed name ("x" and "x.sealed").
    let script = "\
        echo 'report line' > /out/report.txt\n\
        mkdir /out/sub\n\
        head -c 300000 /dev/zero | tr '\\0' 'a' > /out/sub/data.csv\n\
        : > /out/empty\n\
        echo x > /out/x\n\
        echo not-really-sealed > /out/x.sealed\n\
        echo 'to the log'; echo 'and stderr' >&2\n";
    let request = env.job(script, Some(requester_identity.recipient().to_string()));
    let report = env
        .processor()
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    assert_eq!(report.status, JobStatus::Succeeded, "{report:?}");
    let out = report.receipt_path.parent().unwrap().to_owned();

    // Only sealed files on disk: no plaintext result, no plaintext log, no temporary.
    assert_eq!(
        files_under(&report.results_dir),
        [
            "empty.sealed",
            "report.txt.sealed",
            "sub/data.csv.sealed",
            "x.sealed",
            "x.sealed.sealed"
        ]
    );
    assert!(!out.join(LOG_NAME).exists());
    assert_eq!(report.log_path, Some(out.join("execution.log.sealed")));

    // Each subject keeps its plaintext digest; its annotation names the sealed file and its
    // digest, which is the file's; the identity opens it to bytes of the subject's digest.
    let statement = env.verified(&report);
    let expected: BTreeMap<&str, Vec<u8>> = [
        ("empty", Vec::new()),
        ("report.txt", b"report line\n".to_vec()),
        ("sub/data.csv", vec![b'a'; 300_000]),
        ("x", b"x\n".to_vec()),
        ("x.sealed", b"not-really-sealed\n".to_vec()),
    ]
    .into_iter()
    .collect();
    assert_eq!(statement.subject.len(), expected.len());
    for s in &statement.subject {
        let name = s.name.as_deref().unwrap();
        let sealed = sealed_annotation(s);
        assert_eq!(sealed["name"], format!("{name}.sealed"));
        assert_eq!(sealed["format"], "poex-seal/v1");
        let path = report.results_dir.join(sealed["name"].as_str().unwrap());
        let bytes = fs::read(&path).unwrap();
        assert_eq!(
            sealed["sha256"],
            Algorithm::Sha256.hash(&bytes).hex(),
            "{name}"
        );
        assert_eq!(sealed["bytes"], bytes.len() as u64);
        let plain = open_sealed(&requester_identity, &path);
        assert_eq!(
            s.digest["sha256"],
            Algorithm::Sha256.hash(&plain).hex(),
            "{name}"
        );
        assert_eq!(plain, expected[name], "{name}");
    }

    // The log byproduct likewise.
    let log = statement
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(LOG_NAME))
        .unwrap();
    let sealed = sealed_annotation(log);
    assert_eq!(sealed["name"], "execution.log.sealed");
    let log_path = out.join("execution.log.sealed");
    let bytes = fs::read(&log_path).unwrap();
    assert_eq!(sealed["sha256"], Algorithm::Sha256.hash(&bytes).hex());
    let plain = open_sealed(&requester_identity, &log_path);
    assert_eq!(log.digest["sha256"], Algorithm::Sha256.hash(&plain).hex());
    let text = String::from_utf8(plain).unwrap();
    assert!(
        text.contains("to the log") && text.contains("and stderr"),
        "{text}"
    );

    // Someone else's identity opens nothing.
    let other = Identity::generate().unwrap();
    let err = poex_seal::decrypt(&other, fs::File::open(&log_path).unwrap(), std::io::sink())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no stanza opens with this identity")
    );

    // The audit trail says where each result went.
    let events = env
        .ledger
        .open()
        .unwrap()
        .events(&Filter {
            job: Some(report.job_id.clone()),
            ..Filter::default()
        })
        .unwrap();
    let writes: Vec<_> = events
        .iter()
        .filter(|(_, e)| e.operation == Operation::WriteResult)
        .collect();
    assert_eq!(writes.len(), expected.len());
    for (_, e) in writes {
        let detail = e.detail.as_deref().unwrap();
        assert!(
            detail.starts_with(&format!("sealed to the requester as {}.sealed", e.object)),
            "{detail}"
        );
    }
}

#[test]
fn a_job_without_a_recipient_is_unchanged() {
    let env = Env::new();
    let request = env.job("echo plain > /out/plain.txt\necho hi\n", None);
    let payload: Value = serde_json::from_slice(&request.payload).unwrap();
    assert!(payload.get("resultRecipient").is_none());
    let report = env
        .processor()
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    assert_eq!(report.status, JobStatus::Succeeded);
    assert_eq!(files_under(&report.results_dir), ["plain.txt"]);
    let out = report.receipt_path.parent().unwrap();
    assert!(out.join(LOG_NAME).exists());
    let statement = env.verified(&report);
    assert!(statement.subject[0].annotations.get("sealed").is_none());
}

#[test]
fn a_recipient_that_does_not_parse_refuses_the_job_before_it_runs() {
    let env = Env::new();
    let request = env.job("echo ran > /out/ran.txt\n", Some("poex-x25519:nope".into()));
    let report = env
        .processor()
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    let JobStatus::Refused { reason } = &report.status else {
        panic!("{report:?}")
    };
    assert!(reason.contains("resultRecipient"), "{reason}");
    assert!(!report.results_dir.join("ran.txt").exists());
}

#[test]
fn unattestable_output_of_a_sealed_job_is_removed_not_kept_in_plaintext() {
    let env = Env::new();
    let identity = Identity::generate().unwrap();
    let request = env.job(
        "echo secret > /out/secret.txt\nln -s /etc/passwd /out/link\n",
        Some(identity.recipient().to_string()),
    );
    let report = env
        .processor()
        .run_job(request, JobOptions::default(), &Quiet)
        .unwrap();
    let JobStatus::Failed { status, reason } = &report.status else {
        panic!("{report:?}")
    };
    assert_eq!(*status, poex_core::outcome::EndStatus::InvalidOutput);
    assert!(reason.contains("removed"), "{reason}");
    assert!(files_under(&report.results_dir).is_empty());
    // The log is still sealed and attested.
    let out = report.receipt_path.parent().unwrap();
    assert!(out.join("execution.log.sealed").exists());
    assert!(!out.join(LOG_NAME).exists());
    env.verified(&report);
}

#[test]
fn a_cut_off_sealed_job_leaves_no_plaintext() {
    let env = Env::new();
    let identity = Identity::generate().unwrap();
    let request = env.job("true\n", Some(identity.recipient().to_string()));
    let out = env.root.path().join("jobs/cut-off");
    fs::create_dir_all(out.join("results/sub")).unwrap();
    fs::write(out.join("results/sub/half.csv"), "1,2\n").unwrap();
    fs::write(out.join(LOG_NAME), "started\n").unwrap();
    let report = env
        .processor()
        .end_unrun(
            "cut-off",
            &request,
            &out,
            poex_core::outcome::EndStatus::Interrupted,
            "the node stopped while the job ran",
        )
        .unwrap();
    assert!(files_under(&out.join("results")).is_empty());
    assert!(!out.join(LOG_NAME).exists());
    let statement = env.verified(&report);
    let outcome = &statement
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(OUTCOME_NAME))
        .unwrap()
        .annotations;
    assert_eq!(
        outcome["partialFiles"],
        serde_json::json!(["results/", "execution.log"])
    );
    assert!(outcome["note"].as_str().unwrap().contains("removed"));
}
