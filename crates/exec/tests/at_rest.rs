//! Datasets kept encrypted at rest (docs/seal.md "Datasets at rest"),
//! through the real store, log and sandbox: the store never holds the plaintext; a job opens
//! it into a private folder, checks its digests, mounts it read-only and removes it when the
//! run ends (success, failure, cancel); a tampered sealed object, a missing or wrong data
//! identity refuse the job naming the dataset; leftovers of dead processes are removed.
//!
//! The tests hold a process-wide lock: they share the sandbox uid's process budget, and they
//! look for this process's plaintext folders, which must be their own.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use poex_core::dsse::Envelope;
use poex_core::keys::SecretKey;
use poex_core::receipt::{self, ReceiptStatement};
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, RequestedLimits, Requester, SignedRequest,
};
use poex_core::{Algorithm, Signer};
use poex_exec::CancelToken;
use poex_exec::at_rest::{self, Identity};
use poex_exec::pipeline::{JobOptions, JobReport, JobStatus, LedgerAccess, Processor, Quiet};
use poex_exec::sandbox::Limits;
use poex_ledger::{Ledger, LedgerError, ProofBundle};
use poex_store::Store;
use poex_store::audit::{Filter, Operation};
use poex_store::hash::hash_tree;
use poex_store::registry::{AssetKind, Name, Policy, Record};

static SERIAL: Mutex<()> = Mutex::new(());

/// In every dataset below: found nowhere under the home but inside a job's run.
const MARKER: &str = "MARKER-at-rest-5c1e0b7d";

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
    /// The home: store, log, jobs.
    home: tempfile::TempDir,
    /// Where the owner's plaintext comes from (outside the home).
    source: tempfile::TempDir,
    store: Store,
    ledger: TestLedger,
    processor: SecretKey,
    owner: SecretKey,
    identity: Identity,
}

impl Env {
    fn new() -> Env {
        let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path().join("store")).unwrap();
        let ledger = TestLedger {
            dir: home.path().join("ledger"),
            key: Arc::new(SecretKey::generate().unwrap()),
        };
        Env {
            _guard: guard,
            store,
            ledger,
            processor: SecretKey::generate().unwrap(),
            owner: SecretKey::generate().unwrap(),
            identity: Identity::generate().unwrap(),
            source: tempfile::tempdir().unwrap(),
            home,
        }
    }

    fn jobs_dir(&self) -> PathBuf {
        self.home.path().join("jobs")
    }

    fn processor<'a>(&'a self, identity: Option<&'a Identity>) -> Processor<'a> {
        Processor {
            runner: &poex_exec::runner::Bubblewrap,
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
            data_identity: identity,
            log_owner: None,
        }
    }

    /// Publishes `script` (run by `sh`) as algorithm `algo`, unsealed.
    fn algorithm(&self, script: &str) -> Record {
        let src = self.source.path().join("algo");
        fs::write(&src, script).unwrap();
        let stored = self.store.objects().import(&src, &|_| {}).unwrap();
        let record = Record {
            kind: AssetKind::Algorithm,
            name: Name::new("algo").unwrap(),
            digests: stored.tree.digests.clone(),
            layout: stored.tree.kind,
            size: stored.tree.total_bytes,
            file_count: 1,
            published_at: poex_store::now_rfc3339(),
            publisher: self.owner.public_key().key_id().to_string(),
            entrypoint: Some(vec!["sh".into(), "/algo/algo".into()]),
            policy: None,
            sealed: None,
        };
        self.store.registry().add(&record).unwrap();
        record
    }

    /// Publishes `src` (a file or folder outside the home) sealed at rest as dataset `name`,
    /// allowing `algo`, then removes the source: the owner's copy is gone, only the store's
    /// sealed one is left.
    fn sealed_dataset(&self, name: &str, src: &Path, algo: &Record) -> Record {
        let sealed = at_rest::seal_into_store(
            self.store.objects(),
            src,
            &self.identity.recipient(),
            &|_| {},
        )
        .unwrap();
        let record = sealed.record(
            Name::new(name).unwrap(),
            self.owner.public_key().key_id().to_string(),
            Policy {
                allowed_algorithms: vec![*algo.digests.sha256().unwrap()],
                allowed_requesters: Vec::new(),
            },
        );
        self.store.registry().add(&record).unwrap();
        record
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.source.path().join(name);
        fs::write(&path, content).unwrap();
        path
    }

    fn request(&self, algo: &Record, datasets: &[&Record]) -> Envelope {
        self.request_with(algo, datasets, &[])
    }

    fn request_with(&self, algo: &Record, datasets: &[&Record], args: &[&str]) -> Envelope {
        let pin = |r: &Record| AssetRef {
            name: r.name.as_str().to_owned(),
            digest: *r.digests.sha256().unwrap(),
        };
        let request = JobRequest {
            type_: REQUEST_TYPE.into(),
            requester: Requester {
                key_id: self.owner.public_key().key_id(),
                public_key: self.owner.public_key(),
            },
            algorithm: pin(algo),
            datasets: datasets.iter().map(|d| pin(d)).collect(),
            arguments: args.iter().map(|a| a.to_string()).collect(),
            limits: RequestedLimits::default(),
            requested_at: "2025-01-01T00:00:00Z".into(),
            nonce: "00112233445566778899aabbccddeeff".into(),
            result_recipient: None,
        };
        SignedRequest::sign(request, &self.owner).unwrap().envelope
    }

    fn run(&self, identity: Option<&Identity>, request: Envelope, job: &str) -> JobReport {
        self.processor(identity)
            .run_job(
                request,
                JobOptions {
                    job_id: Some(job.into()),
                    ..JobOptions::default()
                },
                &Quiet,
            )
            .unwrap()
    }

    /// The receipt opens under the processor key and its bundle verifies against the log.
    fn verified(&self, report: &JobReport) -> ReceiptStatement {
        let statement = receipt::open(&report.receipt, &self.processor.public_key()).unwrap();
        let bundle = ProofBundle::from_json(&fs::read(&report.bundle_path).unwrap()).unwrap();
        let log = self.ledger.open().unwrap();
        let verified = bundle
            .verify(&self.processor.public_key(), log.verifier())
            .unwrap();
        assert_eq!(verified.statement, statement);
        statement
    }

    /// Every file under the home that holds `needle`.
    fn holding(&self, needle: &str) -> Vec<PathBuf> {
        files_holding(self.home.path(), needle)
    }

    /// This process's plaintext folders, in memory and on disk.
    fn plain_dirs(&self) -> Vec<PathBuf> {
        let mine = format!("{}{}-", at_rest::SHM_PREFIX, std::process::id());
        let mut found: Vec<PathBuf> = fs::read_dir(at_rest::SHM_DIR)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&mine))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(d) = fs::read_dir(self.jobs_dir().join(at_rest::DISK_DIR)) {
            found.extend(d.flatten().map(|e| e.path()));
        }
        found
    }

    fn refusal_events(&self, job: &str) -> Vec<String> {
        self.ledger
            .open()
            .unwrap()
            .events(&Filter {
                job: Some(job.into()),
                ..Filter::default()
            })
            .unwrap()
            .into_iter()
            .filter(|(_, e)| e.operation == Operation::Refuse)
            .map(|(_, e)| format!("{}: {}", e.object, e.detail.unwrap_or_default()))
            .collect()
    }
}

fn files_holding(root: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if meta.is_file() {
            let bytes = fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

fn refused_reason(report: &JobReport) -> &str {
    match &report.status {
        JobStatus::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_sealed_dataset_never_lies_in_the_store_in_plaintext_and_a_job_runs_on_it() {
    let env = Env::new();
    let algo = env.algorithm(
        "grep -c MARKER /data/secret > /out/marked\nwc -l < /data/secret > /out/lines\n\
         ls -l /data > /out/listing\n",
    );
    let content = format!("name,value\n{MARKER},1\nbob,2\n");
    let src = env.file("secret.csv", &content);
    let record = env.sealed_dataset("secret", &src, &algo);
    fs::remove_file(&src).unwrap();

    // The record describes the plaintext, as an unsealed publish of it would.
    assert_eq!(
        record.digests,
        poex_core::DigestSet::of([
            Algorithm::Sha256.hash(content.as_bytes()),
            Algorithm::Blake3.hash(content.as_bytes()),
        ])
    );
    assert_eq!(record.size, content.len() as u64);
    // The store object is the sealed one, and it is not the plaintext.
    let sealed = record.sealed.as_ref().unwrap();
    let object = env
        .store
        .objects()
        .path_of(record.object().unwrap())
        .unwrap();
    let bytes = fs::read(&object).unwrap();
    assert!(bytes.starts_with(b"poex-seal/v1\n"));
    assert_eq!(bytes.len() as u64, sealed.size);
    assert_eq!(sealed.recipient, env.identity.recipient().to_string());
    assert!(
        !env.store
            .objects()
            .path_of(record.digests.blake3().unwrap())
            .unwrap()
            .exists(),
        "the plaintext's object must not exist"
    );
    assert_eq!(env.holding(MARKER), Vec::<PathBuf>::new());
    assert_eq!(env.holding("bob,2"), Vec::<PathBuf>::new());

    let report = env.run(
        Some(&env.identity),
        env.request(&algo, &[&record]),
        "sealed-ok",
    );
    assert_eq!(report.status, JobStatus::Succeeded, "{report:?}");
    let results = report.results_dir.clone();
    assert_eq!(fs::read_to_string(results.join("marked")).unwrap(), "1\n");
    assert_eq!(fs::read_to_string(results.join("lines")).unwrap(), "3\n");
    // Mounted read-only as a file at /data/secret.
    let listing = fs::read_to_string(results.join("listing")).unwrap();
    assert!(
        listing.contains("-r--r--r--") && listing.contains("secret"),
        "{listing}"
    );

    // The receipt names the plaintext digests the request pinned, and the sealed object.
    let statement = env.verified(&report);
    let dep = statement
        .predicate
        .build_definition
        .resolved_dependencies
        .iter()
        .find(|d| d.name.as_deref() == Some("secret"))
        .unwrap();
    assert_eq!(
        dep.digest.get("sha256").map(String::as_str),
        Some(record.digests.sha256().unwrap().hex().as_str())
    );
    let annotation = &dep.annotations["sealedAtRest"];
    assert_eq!(annotation["format"], "poex-seal/v1");
    assert_eq!(
        annotation["digest"]["blake3"],
        sealed.digests.blake3().unwrap().hex()
    );

    // After the job: no plaintext anywhere under the home, and no private folder left.
    assert_eq!(env.holding(MARKER), Vec::<PathBuf>::new());
    assert_eq!(env.plain_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn a_sealed_folder_opens_to_the_folder_that_was_published() {
    let env = Env::new();
    let algo = env.algorithm(
        "cd /data/cohort && find . | LC_ALL=C sort > /out/tree && cat a.csv sub/b.csv > /out/all\n",
    );
    let folder = env.source.path().join("cohort");
    fs::create_dir_all(folder.join("sub/deeper")).unwrap();
    fs::create_dir_all(folder.join("empty")).unwrap();
    fs::write(folder.join("a.csv"), format!("{MARKER},a\n")).unwrap();
    fs::write(folder.join("sub/b.csv"), "b\n").unwrap();
    fs::write(folder.join("sub/deeper/c.bin"), vec![7u8; 200_000]).unwrap();
    let unsealed = hash_tree(&folder, &[Algorithm::Sha256, Algorithm::Blake3], &|_| {}).unwrap();
    let record = env.sealed_dataset("cohort", &folder, &algo);
    fs::remove_dir_all(&folder).unwrap();
    // The digests are those of the folder, as if it had been published unsealed.
    assert_eq!(record.digests, unsealed.digests);
    assert_eq!(record.file_count, 3);
    assert_eq!(record.sealed.as_ref().unwrap().payload, "tar");
    assert_eq!(env.holding(MARKER), Vec::<PathBuf>::new());

    let report = env.run(
        Some(&env.identity),
        env.request(&algo, &[&record]),
        "folder",
    );
    assert_eq!(report.status, JobStatus::Succeeded, "{report:?}");
    assert_eq!(
        fs::read_to_string(report.results_dir.join("tree")).unwrap(),
        ".\n./a.csv\n./empty\n./sub\n./sub/b.csv\n./sub/deeper\n./sub/deeper/c.bin\n"
    );
    assert_eq!(
        fs::read_to_string(report.results_dir.join("all")).unwrap(),
        format!("{MARKER},a\nb\n")
    );
    env.verified(&report);
    assert_eq!(env.plain_dirs(), Vec::<PathBuf>::new());
    // The results hold the marker (the job copied it out, as it may); nothing else does.
    assert_eq!(env.holding(MARKER), vec![report.results_dir.join("all")]);
}

#[test]
fn a_tampered_sealed_object_refuses_the_job_naming_the_dataset() {
    let env = Env::new();
    let algo = env.algorithm("cat /data/secret > /out/copy\n");
    let src = env.file(
        "secret.csv",
        &format!("{MARKER}\n{}\n", "x".repeat(100_000)),
    );
    let record = env.sealed_dataset("secret", &src, &algo);
    let object = env
        .store
        .objects()
        .path_of(record.object().unwrap())
        .unwrap();
    let original = fs::read(&object).unwrap();

    // A flipped byte in the payload: the chunk does not authenticate.
    let mut bytes = original.clone();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    fs::set_permissions(&object, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&object, &bytes).unwrap();
    let report = env.run(
        Some(&env.identity),
        env.request(&algo, &[&record]),
        "flipped",
    );
    let reason = refused_reason(&report);
    assert!(reason.starts_with("dataset \"secret\""), "{reason}");
    assert!(reason.contains("failed authentication"), "{reason}");
    assert!(
        reason.contains("modified") && reason.contains("nothing was run"),
        "{reason}"
    );
    assert!(!report.results_dir.join("copy").exists());
    env.verified(&report);
    let refusals = env.refusal_events("flipped");
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].starts_with("secret: "), "{refusals:?}");

    // Another file sealed to the same key in its place (anyone who knows the recipient
    // can make one): it opens, but it is not the recorded object, nor the plaintext.
    let forged = env.file("forged.csv", &format!("{MARKER}\nforged\n"));
    let mut forged_sealed = Vec::new();
    poex_seal::encrypt(
        &[env.identity.recipient()],
        fs::File::open(&forged).unwrap(),
        &mut forged_sealed,
    )
    .unwrap();
    fs::write(&object, &forged_sealed).unwrap();
    let report = env.run(
        Some(&env.identity),
        env.request(&algo, &[&record]),
        "forged",
    );
    let reason = refused_reason(&report);
    assert!(reason.starts_with("dataset \"secret\""), "{reason}");
    assert!(
        reason.contains("does not match the registry")
            && reason.contains(
                &record
                    .sealed
                    .as_ref()
                    .unwrap()
                    .digests
                    .sha256()
                    .unwrap()
                    .to_string()
            ),
        "{reason}"
    );

    // Cut short: the last chunk is missing.
    fs::write(&object, &original[..original.len() - 70_000]).unwrap();
    let report = env.run(Some(&env.identity), env.request(&algo, &[&record]), "cut");
    let reason = refused_reason(&report);
    assert!(reason.starts_with("dataset \"secret\""), "{reason}");
    assert!(reason.contains("modified"), "{reason}");

    // Gone.
    fs::remove_file(&object).unwrap();
    let report = env.run(Some(&env.identity), env.request(&algo, &[&record]), "gone");
    assert!(refused_reason(&report).contains("missing"), "{report:?}");

    // Restored: it runs again.
    fs::write(&object, &original).unwrap();
    let report = env.run(
        Some(&env.identity),
        env.request(&algo, &[&record]),
        "restored",
    );
    assert_eq!(report.status, JobStatus::Succeeded, "{report:?}");

    // No refusal left plaintext behind.
    assert_eq!(env.plain_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn without_the_right_data_identity_the_job_is_refused() {
    let env = Env::new();
    let algo = env.algorithm("cat /data/secret > /out/copy\n");
    let src = env.file("secret.csv", &format!("{MARKER}\n"));
    let record = env.sealed_dataset("secret", &src, &algo);

    let report = env.run(None, env.request(&algo, &[&record]), "no-identity");
    let reason = refused_reason(&report);
    assert!(reason.starts_with("dataset \"secret\""), "{reason}");
    assert!(reason.contains("no data identity"), "{reason}");
    assert!(
        reason.contains(&env.identity.recipient().to_string()),
        "{reason}"
    );
    env.verified(&report);
    assert_eq!(env.refusal_events("no-identity").len(), 1);

    let stranger = Identity::generate().unwrap();
    let report = env.run(
        Some(&stranger),
        env.request(&algo, &[&record]),
        "wrong-identity",
    );
    let reason = refused_reason(&report);
    assert!(reason.starts_with("dataset \"secret\""), "{reason}");
    assert!(reason.contains("cannot open it"), "{reason}");
    assert_eq!(env.plain_dirs(), Vec::<PathBuf>::new());
    assert_eq!(env.holding(MARKER), Vec::<PathBuf>::new());
}

#[test]
fn an_edited_record_is_held_to_its_size_and_digests() {
    let env = Env::new();
    let algo = env.algorithm("true\n");
    let src = env.file("big.csv", &"y".repeat(300_000));
    let mut record = env.sealed_dataset("big", &src, &algo);
    // A registry record edited to claim less: decryption stops at the claimed size rather
    // than writing whatever the object holds.
    record.size = 1000;
    record.name = Name::new("big-edited").unwrap();
    env.store.registry().add(&record).unwrap();
    let report = env.run(
        Some(&env.identity),
        env.request(&algo, &[&record]),
        "too-big",
    );
    let reason = refused_reason(&report);
    assert!(reason.contains("more than the 1000 bytes"), "{reason}");

    // A record edited to name other plaintext digests (the sealed object still its own): the
    // plaintext written is checked against the record, as a stored object is.
    let mut lying = env.sealed_dataset("lying", &src, &algo);
    let actual = *lying.digests.blake3().unwrap();
    lying.digests = poex_core::DigestSet::of([
        Algorithm::Sha256.hash(b"other"),
        Algorithm::Blake3.hash(b"other"),
    ]);
    lying.name = Name::new("lying-edited").unwrap();
    env.store.registry().add(&lying).unwrap();
    let report = env.run(Some(&env.identity), env.request(&algo, &[&lying]), "lying");
    let reason = refused_reason(&report);
    assert!(reason.starts_with("dataset \"lying-edited\""), "{reason}");
    assert!(
        reason.contains(&format!(
            "does not match the registry: expected {}, found {actual}",
            Algorithm::Blake3.hash(b"other")
        )),
        "{reason}"
    );
    assert_eq!(env.plain_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn the_plaintext_exists_only_while_the_job_runs_even_when_it_is_cancelled_or_fails() {
    let env = Env::new();
    let algo = env.algorithm(
        "test -f /data/secret || exit 9\nif [ \"$1\" = fail ]; then exit 3; fi\nsleep 30\n",
    );
    let src = env.file("secret.csv", &format!("{MARKER}\n"));
    let record = env.sealed_dataset("secret", &src, &algo);

    let token = CancelToken::new();
    let watcher = {
        let token = token.clone();
        let home = env.home.path().to_owned();
        let jobs = env.jobs_dir();
        std::thread::spawn(move || {
            // Wait for the job's plaintext folder, look inside it, then cancel the job.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mine = format!("{}{}-", at_rest::SHM_PREFIX, std::process::id());
            loop {
                let mut dirs: Vec<PathBuf> = fs::read_dir(at_rest::SHM_DIR)
                    .map(|d| {
                        d.flatten()
                            .filter(|e| e.file_name().to_string_lossy().starts_with(&mine))
                            .map(|e| e.path())
                            .collect()
                    })
                    .unwrap_or_default();
                if let Ok(d) = fs::read_dir(jobs.join(at_rest::DISK_DIR)) {
                    dirs.extend(d.flatten().map(|e| e.path()));
                }
                if let Some(dir) = dirs.first() {
                    // The run is on: the plaintext is there, in a folder only we can enter,
                    // and (unless /dev/shm was unusable) not under the home.
                    std::thread::sleep(Duration::from_millis(300));
                    let mode = fs::metadata(dir).unwrap().permissions().mode() & 0o777;
                    let held = files_holding(dir, MARKER);
                    let in_home = files_holding(&home, MARKER);
                    token.cancel();
                    return (mode, held, in_home, dir.clone());
                }
                assert!(Instant::now() < deadline, "no plaintext folder appeared");
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let report = env
        .processor(Some(&env.identity))
        .run_job(
            env.request(&algo, &[&record]),
            JobOptions {
                job_id: Some("cancelled".into()),
                cancel: Some(token),
                ..JobOptions::default()
            },
            &Quiet,
        )
        .unwrap();
    let (mode, held, in_home, dir) = watcher.join().unwrap();
    assert_eq!(mode, 0o700);
    assert_eq!(held, vec![dir.join("secret")]);
    if dir.starts_with(at_rest::SHM_DIR) {
        assert_eq!(in_home, Vec::<PathBuf>::new());
    }
    match &report.status {
        JobStatus::Failed { status, .. } => assert_eq!(status.word(), "cancelled"),
        other => panic!("expected cancelled, got {other:?}"),
    }
    assert!(!dir.exists(), "{} outlived the job", dir.display());
    assert_eq!(env.plain_dirs(), Vec::<PathBuf>::new());

    // A run that fails removes it too.
    let report = env.run(
        Some(&env.identity),
        env.request_with(&algo, &[&record], &["fail"]),
        "fails",
    );
    match &report.status {
        JobStatus::Failed { status, reason } => {
            assert_eq!(status.word(), "failed");
            assert!(reason.contains("status 3"), "{reason}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(env.plain_dirs(), Vec::<PathBuf>::new());
    assert_eq!(env.holding(MARKER), Vec::<PathBuf>::new());
}

#[test]
fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
    let env = Env::new();
    // A pid that ran and ended: it has no /proc entry any more.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    assert!(!Path::new("/proc").join(dead.to_string()).exists());

    let disk = env.jobs_dir().join(at_rest::DISK_DIR);
    fs::create_dir_all(&disk).unwrap();
    let mut dead_dirs = vec![disk.join(format!("{dead}-0011"))];
    let mut live_dirs = vec![disk.join(format!("{}-0022", std::process::id()))];
    if Path::new(at_rest::SHM_DIR).is_dir() {
        dead_dirs
            .push(Path::new(at_rest::SHM_DIR).join(format!("{}{dead}-0033", at_rest::SHM_PREFIX)));
        live_dirs.push(Path::new(at_rest::SHM_DIR).join(format!(
            "{}{}-0044",
            at_rest::SHM_PREFIX,
            std::process::id()
        )));
    }
    for dir in dead_dirs.iter().chain(&live_dirs) {
        // As a job leaves them: a read-only folder holding a read-only file.
        fs::create_dir_all(dir.join("data")).unwrap();
        fs::write(dir.join("data/file"), MARKER).unwrap();
        fs::set_permissions(dir.join("data/file"), fs::Permissions::from_mode(0o444)).unwrap();
        fs::set_permissions(dir.join("data"), fs::Permissions::from_mode(0o555)).unwrap();
    }
    let mut removed = at_rest::remove_leftovers(&env.jobs_dir());
    removed.sort();
    dead_dirs.sort();
    assert_eq!(removed, dead_dirs);
    for dir in &dead_dirs {
        assert!(!dir.exists(), "{}", dir.display());
    }
    for dir in &live_dirs {
        assert!(dir.join("data/file").exists(), "{}", dir.display());
        fs::set_permissions(dir.join("data"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }
}
