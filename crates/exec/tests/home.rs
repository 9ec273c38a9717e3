//! The poex home: opening and initializing it, its notices going to the caller's notifier,
//! and its log given to the pipeline either afresh per write or as one shared writer.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

use std::fs;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poex_core::Signer as _;
use poex_core::dsse::Envelope;
use poex_core::receipt;
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, RequestedLimits, Requester, SignedRequest,
};
use poex_exec::pipeline::{LedgerAccess, Processor};
use poex_exec::sandbox::Limits;
use poex_home::{DEFAULT_KEY, Home, HomeError, LOG_KEY, PROCESSOR_KEY};
use poex_ledger::{LedgerError, ProofBundle};

/// A home whose notices are collected instead of printed.
fn home_with_notices(root: &std::path::Path) -> (Home, Arc<Mutex<Vec<String>>>) {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&notices);
    let home = Home::open(root)
        .unwrap()
        .with_notifier(move |n| sink.lock().unwrap().push(n.to_owned()));
    (home, notices)
}

/// A request signed by the home's default key (its content does not matter to `end_unrun`).
fn request(home: &Home) -> Envelope {
    let key = home.secret(DEFAULT_KEY).unwrap();
    let digest = poex_core::Algorithm::Sha256.hash(b"algo");
    let request = JobRequest {
        type_: REQUEST_TYPE.into(),
        requester: Requester {
            key_id: key.public_key().key_id(),
            public_key: key.public_key(),
        },
        algorithm: AssetRef {
            name: "algo".into(),
            digest,
        },
        datasets: Vec::new(),
        arguments: Vec::new(),
        limits: RequestedLimits::default(),
        requested_at: "2025-01-01T00:00:00Z".into(),
        nonce: "00112233445566778899aabbccddeeff".into(),
        result_recipient: None,
    };
    SignedRequest::sign(request, &key).unwrap().envelope
}

#[test]
fn init_creates_the_layout_and_open_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    assert!(matches!(
        Home::open(&root),
        Err(HomeError::NotInitialized { root: r }) if r == root
    ));
    let (home, created) = Home::init(&root).unwrap();
    assert!(created);
    for key in [PROCESSOR_KEY, LOG_KEY, DEFAULT_KEY] {
        assert!(home.keys.contains(key), "{key}");
    }
    assert!(home.jobs_dir().is_dir());
    assert_eq!(home.ledger_dir(), root.join("ledger"));
    let (_, created) = Home::init(&root).unwrap();
    assert!(!created, "keys are never replaced");

    let home = Home::open(&root).unwrap();
    assert!(matches!(home.ledger_read(), Err(HomeError::NoLog { .. })));
    let processor = home.processor().unwrap().public_key().key_id().to_string();
    assert_eq!(home.key_id(PROCESSOR_KEY).unwrap(), processor);
    assert_eq!(home.key_id(&processor).unwrap(), processor);
    assert!(matches!(
        home.key_id("nobody"),
        Err(HomeError::UnknownKey { .. })
    ));
    drop(home.ledger().unwrap());
    home.ledger_read().unwrap();
}

#[test]
fn notices_go_to_the_notifier() {
    let dir = tempfile::tempdir().unwrap();
    Home::init(dir.path()).unwrap();
    // A home made before the log existed has no log key: the first write creates one.
    fs::remove_file(dir.path().join("keys/log.key")).unwrap();
    let (home, notices) = home_with_notices(dir.path());
    drop(home.ledger().unwrap());
    let seen = notices.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("created the log key "), "{seen:?}");
}

#[test]
fn a_second_writer_waits_with_a_notice_and_nowait_refuses() {
    let dir = tempfile::tempdir().unwrap();
    Home::init(dir.path()).unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let home = Home::open(dir.path())
        .unwrap()
        .with_notifier(move |n| tx.send(n.to_owned()).unwrap());
    let first = home.ledger_nowait().unwrap();
    assert!(matches!(
        home.ledger_nowait(),
        Err(LedgerError::InUse { .. })
    ));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| home.ledger().map(drop));
        let notice = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(
            notice.starts_with("waiting for another poex process to finish writing the log"),
            "{notice}"
        );
        assert!(!waiter.is_finished());
        drop(first);
        waiter.join().unwrap().unwrap();
    });
}

#[test]
fn one_shared_writer_serves_concurrent_jobs() {
    let dir = tempfile::tempdir().unwrap();
    Home::init(dir.path()).unwrap();
    let home = Home::open(dir.path()).unwrap();
    // What a node does: open the log once, without waiting, and share it.
    let shared = Arc::new(home.ledger_nowait().unwrap());
    let processor_key = home.processor().unwrap();
    let processor = Processor {
        runner: &poex_exec::runner::Bubblewrap,
        store: &home.store,
        ledger: &shared,
        signer: &processor_key,
        jobs_dir: home.jobs_dir(),
        ceiling: Limits::default(),
        data_identity: None,
        log_owner: None,
    };
    assert!(Arc::ptr_eq(&shared.open().unwrap(), &shared));
    let request = request(&home);
    let reports: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (processor, request, home) = (&processor, &request, &home);
                s.spawn(move || {
                    let id = format!("job-{i}");
                    processor
                        .end_unrun(
                            &id,
                            request,
                            &home.jobs_dir().join(&id),
                            poex_core::outcome::EndStatus::Expired,
                            "waited too long",
                        )
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut indexes: Vec<u64> = reports.iter().map(|r| r.log_index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), 4);
    for report in &reports {
        let bundle = ProofBundle::from_json(&fs::read(&report.bundle_path).unwrap()).unwrap();
        bundle
            .verify(&processor_key.public_key(), shared.verifier())
            .unwrap();
        receipt::open(&report.receipt, &processor_key.public_key()).unwrap();
    }
    // While the node holds the writer, the home's own access waits: nowait says so.
    assert!(matches!(
        home.ledger_nowait(),
        Err(LedgerError::InUse { .. })
    ));
}
