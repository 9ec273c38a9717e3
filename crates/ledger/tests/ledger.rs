//! The ledger on disk: appends, dedup, queries, the index's catch-up and rebuilds, the writer
//! lock, read-only opens, proofs.
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;

use common::{event, log_key, receipt, record, sha};
use poex_ledger::entry::{Entry, Kind};
use poex_ledger::ledger::{INDEX_FILE, LOCK_FILE, default_origin};
use poex_ledger::{Ledger, LedgerError, LogIndex, LogSigner};
use poex_log::leaf_hash;
use poex_log::note::Ed25519Verifier;
use poex_log::proof::verify_consistency;
use poex_log_store::{FileStore, Log, LogConfig};
use poex_store::audit::{Event, Filter, Operation};
use time::macros::datetime;

fn idx(v: &[u64]) -> Vec<LogIndex> {
    v.iter().copied().map(LogIndex).collect()
}

/// Appends a fixed mix: record, two receipts, events of two jobs. Returns the events.
fn fill(ledger: &Ledger) -> Vec<Event> {
    assert_eq!(ledger.log_record(&record("cohort")).unwrap(), LogIndex(0));
    assert_eq!(
        ledger.log_receipt(&receipt("job-a", "cohort", 10)).unwrap(),
        LogIndex(1)
    );
    assert_eq!(
        ledger.log_receipt(&receipt("job-b", "other", 20)).unwrap(),
        LogIndex(2)
    );
    let events = vec![
        event(Operation::ReadDataset, "bob", "cohort", Some("job-a"), 5, 1),
        event(Operation::WriteResult, "proc", "r.csv", Some("job-a"), 9, 0),
        event(Operation::Refuse, "proc", "other", Some("job-b"), 15, 0),
        event(Operation::Publish, "alice", "x", None, 30, 0),
    ];
    assert_eq!(ledger.log_events(&events).unwrap(), idx(&[3, 4, 5, 6]));
    events
}

/// The queries every ledger filled by [`fill`] must answer, however it was opened or indexed.
fn check_queries(ledger: &Ledger) {
    assert_eq!(ledger.size(), 7);
    assert_eq!(ledger.by_job("job-a").unwrap(), idx(&[1, 3, 4]));
    assert_eq!(ledger.by_job("job-b").unwrap(), idx(&[2, 5]));
    assert_eq!(ledger.by_job("job-z").unwrap(), idx(&[]));
    assert_eq!(ledger.by_asset("dataset/cohort").unwrap(), idx(&[0, 1]));
    assert_eq!(ledger.by_asset(&sha(b"cohort")).unwrap(), idx(&[0, 1, 3]));
    assert_eq!(
        ledger.by_asset(&sha(b"job-a/result-00001.csv")).unwrap(),
        idx(&[1])
    );
    assert_eq!(ledger.by_kind("receipt").unwrap(), idx(&[1, 2]));
    assert_eq!(ledger.by_kind("record").unwrap(), idx(&[0]));
    assert_eq!(ledger.by_kind("event").unwrap(), idx(&[3, 4, 5, 6]));
    // Time order: record 09:00, event :05, event :09, receipt :10, event :15, receipt :20, event :30.
    assert_eq!(ledger.by_time(..).unwrap(), idx(&[0, 3, 4, 1, 5, 2, 6]));
    assert_eq!(
        ledger
            .by_time(datetime!(2026-03-01 10:00:09 UTC)..datetime!(2026-03-01 10:00:20 UTC))
            .unwrap(),
        idx(&[4, 1, 5])
    );
    assert_eq!(
        ledger
            .by_time(datetime!(2026-03-01 10:00:09 UTC)..=datetime!(2026-03-01 10:00:20 UTC))
            .unwrap(),
        idx(&[4, 1, 5, 2])
    );
}

#[test]
fn append_query_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    assert!(ledger.notices().is_empty(), "{:?}", ledger.notices());
    let key = poex_core::SecretKey::from_seed(&[2; 32]).public();
    assert_eq!(ledger.origin(), &default_origin(&key));
    assert!(ledger.origin().as_str().starts_with("poex.local/log/"));
    assert_eq!(ledger.origin().as_str().len(), "poex.local/log/".len() + 16);
    let vkey = ledger.verifier_key();
    assert!(vkey.starts_with(&format!("{}+", ledger.origin())), "{vkey}");
    assert_eq!(Ed25519Verifier::parse(&vkey).unwrap(), *ledger.verifier());
    assert_eq!(ledger.tiles_dir(), dir.path().join("log"));
    assert!(dir.path().join(poex_ledger::ledger::LEAVES_FILE).exists());

    fill(&ledger);
    check_queries(&ledger);

    // Dedup: the same receipt, record or event again gets its first index; nothing is added.
    assert_eq!(
        ledger.log_receipt(&receipt("job-a", "cohort", 10)).unwrap(),
        LogIndex(1)
    );
    assert_eq!(ledger.log_record(&record("cohort")).unwrap(), LogIndex(0));
    assert_eq!(ledger.size(), 7);
    check_queries(&ledger);

    // Entries come back as logged.
    let logged = ledger.entry(LogIndex(1)).unwrap();
    assert_eq!(logged.entry, Entry::Receipt(receipt("job-a", "cohort", 10)));
    assert_eq!(logged.bytes, logged.entry.encode().unwrap());
    assert!(logged.bytes.starts_with(b"poex-entry/v1 receipt\n"));
    let (cp, note) = ledger.checkpoint().unwrap();
    assert_eq!(cp.size.get(), 7);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log/checkpoint")).unwrap(),
        note
    );
    assert!(matches!(
        ledger.entry(LogIndex(7)),
        Err(LedgerError::OutOfRange {
            what: "entry",
            value: 7,
            size: 7
        })
    ));

    drop(ledger);
    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    assert!(ledger.notices().is_empty(), "{:?}", ledger.notices());
    check_queries(&ledger);
    assert_eq!(
        ledger.find_receipt(&receipt("job-b", "other", 20)).unwrap(),
        Some(LogIndex(2))
    );
    assert_eq!(
        ledger.find_receipt(&receipt("job-b", "other", 21)).unwrap(),
        None
    );
}

#[test]
fn unknown_entries_are_logged_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    let future = Entry::decode(b"poex-entry/v2 receipt\n{\"new\":true}").unwrap();
    let i = ledger.append(std::slice::from_ref(&future)).unwrap();
    assert_eq!(ledger.by_kind("poex-entry/v2 receipt").unwrap(), i);
    assert_eq!(ledger.entry(i[0]).unwrap().entry, future);
}

#[test]
fn a_crash_between_log_commit_and_index_update_is_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    let origin = ledger.origin().clone();
    ledger.log_record(&record("cohort")).unwrap();
    drop(ledger);

    // Append straight to the log, as if the ledger had died after the log's commit point and
    // before its index update: the index still says 1 entry.
    {
        let signer = Arc::new(LogSigner::new(origin.as_str(), log_key(2)).unwrap());
        let config = LogConfig {
            origin: origin.clone(),
            signer: signer.clone(),
            verifier: Arc::new(signer.verifier().clone()),
        };
        let log = Log::open(FileStore::open(dir.path().join("log")).unwrap(), config).unwrap();
        let entries = [
            Entry::receipt(&receipt("job-a", "cohort", 10)).unwrap(),
            Entry::receipt(&receipt("job-b", "other", 20)).unwrap(),
        ]
        .map(|e| e.encode().unwrap());
        assert_eq!(log.append(&entries).unwrap(), idx(&[1, 2]));
    }

    // A reader sees them (from memory), before any writer caught the index up.
    let reader = Ledger::open_read_only(dir.path(), &verifier_of(dir.path())).unwrap();
    assert_eq!(reader.by_kind("receipt").unwrap(), idx(&[1, 2]));
    assert_eq!(reader.by_asset("dataset/cohort").unwrap(), idx(&[0, 1]));
    drop(reader);

    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    assert!(
        ledger.notices().is_empty(),
        "catching up is routine: {:?}",
        ledger.notices()
    );
    assert_eq!(ledger.by_job("job-b").unwrap(), idx(&[2]));
    assert_eq!(ledger.by_asset("dataset/cohort").unwrap(), idx(&[0, 1]));
    drop(ledger);
    // Caught up in the file: a reader finds them in the index.
    let reader = Ledger::open_read_only(dir.path(), &verifier_of(dir.path())).unwrap();
    assert!(reader.notices().is_empty(), "{:?}", reader.notices());
    assert_eq!(reader.by_job("job-a").unwrap(), idx(&[1]));
}

fn verifier_of(dir: &std::path::Path) -> Ed25519Verifier {
    // The test reads the key from the checkpoint's origin: origin is the key name.
    let note = std::fs::read_to_string(dir.join("log/checkpoint")).unwrap();
    let origin = note.lines().next().unwrap();
    LogSigner::new(origin, log_key(2))
        .unwrap()
        .verifier()
        .clone()
}

#[test]
fn missing_damaged_or_foreign_index_is_rebuilt_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    fill(&ledger);
    drop(ledger);
    let index = dir.path().join(INDEX_FILE);

    std::fs::remove_file(&index).unwrap();
    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    let notices = ledger.notices();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("no index") && n.contains("7 entries")),
        "{notices:?}"
    );
    check_queries(&ledger);
    drop(ledger);
    assert!(index.exists());

    std::fs::write(&index, vec![0x42; 40_000]).unwrap();
    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    let notices = ledger.notices();
    assert!(
        notices.iter().any(|n| n.contains("rebuilding")),
        "{notices:?}"
    );
    check_queries(&ledger);
    drop(ledger);

    // The index of another log (same key, other entries) is refused: its root differs.
    let other = tempfile::tempdir().unwrap();
    let l2 = Ledger::create(other.path(), log_key(2), None).unwrap();
    l2.log_events(&[event(Operation::Publish, "eve", "y", Some("job-a"), 1, 0)])
        .unwrap();
    drop(l2);
    std::fs::copy(other.path().join(INDEX_FILE), &index).unwrap();
    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    let notices = ledger.notices();
    assert!(
        notices.iter().any(|n| n.contains("does not match")),
        "{notices:?}"
    );
    check_queries(&ledger);
    drop(ledger);

    // And after the rebuild, a plain reopen is quiet.
    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    assert!(ledger.notices().is_empty(), "{:?}", ledger.notices());
}

#[test]
fn one_writer_at_a_time_readers_any_time() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Ledger::create(dir.path(), log_key(2), None).unwrap();
    assert!(dir.path().join(LOCK_FILE).exists());
    fill(&writer);

    let err = Ledger::try_open(dir.path(), log_key(2)).unwrap_err();
    assert!(matches!(err, LedgerError::InUse { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another poex process"),
        "{err}"
    );
    assert!(matches!(
        Ledger::create(dir.path(), log_key(2), None),
        Err(LedgerError::InUse { .. })
    ));

    // Readers need no lock and see the writer's entries through the shared index file.
    let reader = Ledger::open_read_only(dir.path(), writer.verifier()).unwrap();
    assert!(!reader.is_writable());
    assert!(reader.notices().is_empty(), "{:?}", reader.notices());
    check_queries(&reader);
    assert!(matches!(
        reader.log_record(&record("z")),
        Err(LedgerError::ReadOnly)
    ));
    // The writer goes on; the reader keeps its snapshot; a new reader sees more.
    writer.log_record(&record("later")).unwrap();
    assert_eq!(reader.size(), 7);
    assert_eq!(reader.by_kind("record").unwrap(), idx(&[0]));
    let reader2 = Ledger::open_read_only(dir.path(), writer.verifier()).unwrap();
    assert_eq!(reader2.by_kind("record").unwrap(), idx(&[0, 7]));

    // A waiting open gets the log once the writer is gone.
    let path = dir.path().to_path_buf();
    let waiter = std::thread::spawn(move || {
        let l = Ledger::open(&path, log_key(2)).unwrap();
        l.size()
    });
    drop(writer);
    assert_eq!(waiter.join().unwrap(), 8);
    let again = Ledger::try_open(dir.path(), log_key(2)).unwrap();
    assert_eq!(again.size(), 8);
}

#[test]
fn read_only_open_writes_nothing_and_checks_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Ledger::create(dir.path(), log_key(2), None).unwrap();
    fill(&writer);
    let verifier = writer.verifier().clone();
    // A writer's temporary file in flight must survive a reader (FileStore::open would clear it).
    let tmp = dir.path().join("log/.tmp/in-flight");
    std::fs::write(&tmp, b"x").unwrap();

    let by_key = Ledger::open_read_only_with_key(
        dir.path(),
        &poex_core::SecretKey::from_seed(&[2; 32]).public(),
    )
    .unwrap();
    assert_eq!(by_key.verifier(), writer.verifier());
    assert_eq!(by_key.size(), 7);
    assert!(matches!(
        Ledger::open_read_only_with_key(
            dir.path(),
            &poex_core::SecretKey::from_seed(&[3; 32]).public()
        ),
        Err(LedgerError::Checkpoint { .. })
    ));
    let other_key = LogSigner::new(writer.origin().as_str(), log_key(3)).unwrap();
    let err = Ledger::open_read_only(dir.path(), other_key.verifier()).unwrap_err();
    assert!(matches!(err, LedgerError::Checkpoint { .. }), "{err}");

    drop(writer);
    std::fs::remove_file(dir.path().join(INDEX_FILE)).unwrap();
    let reader = Ledger::open_read_only(dir.path(), &verifier).unwrap();
    assert!(
        reader.notices().iter().any(|n| n.contains("no index")),
        "{:?}",
        reader.notices()
    );
    check_queries(&reader);
    assert!(tmp.exists());
    assert!(
        !dir.path().join(INDEX_FILE).exists(),
        "a reader creates no index"
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Ledger::open_read_only(empty.path(), &verifier),
        Err(LedgerError::NoLog { .. })
    ));
}

#[test]
fn create_open_refusals() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Ledger::open(dir.path(), log_key(2)),
        Err(LedgerError::NoLog { .. })
    ));
    let origin: poex_log::checkpoint::Origin = "example.org/poex-log".parse().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), Some(origin.clone())).unwrap();
    assert_eq!(ledger.origin(), &origin);
    assert!(ledger.verifier_key().starts_with("example.org/poex-log+"));
    drop(ledger);
    assert!(matches!(
        Ledger::create(dir.path(), log_key(2), None),
        Err(LedgerError::Exists { .. })
    ));
    let err = Ledger::open(dir.path(), log_key(3)).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let other: poex_log::checkpoint::Origin = "example.org/other".parse().unwrap();
    assert!(matches!(
        Ledger::open_or_create(dir.path(), log_key(2), Some(other)),
        Err(LedgerError::OriginMismatch { .. })
    ));
    assert_eq!(
        Ledger::open_or_create(dir.path(), log_key(2), Some(origin))
            .unwrap()
            .size(),
        0
    );
    let fresh = tempfile::tempdir().unwrap();
    let made = Ledger::open_or_create(fresh.path().join("sub"), log_key(2), None).unwrap();
    assert_eq!(made.size(), 0);
    let bad: poex_log::checkpoint::Origin = "has space".parse().unwrap();
    assert!(matches!(
        Ledger::create(tempfile::tempdir().unwrap().path(), log_key(2), Some(bad)),
        Err(LedgerError::Key(_))
    ));
}

#[test]
fn events_from_the_log_match_a_scan_of_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("ledger"), log_key(2), None).unwrap();
    ledger.log_record(&record("cohort")).unwrap();
    // 700 events over three bundles, several jobs, actors and operations, times not in log order.
    let ops = [
        Operation::ReadDataset,
        Operation::WriteResult,
        Operation::RunFinished,
    ];
    let events: Vec<Event> = (0..700u32)
        .map(|i| {
            let job = format!("job-{}", i % 7);
            event(
                ops[(i % 3) as usize],
                ["bob", "carol"][(i % 2) as usize],
                &format!("obj-{}", i % 5),
                (i % 11 != 0).then_some(job.as_str()),
                (i * 37) % 60,
                i,
            )
        })
        .collect();
    for chunk in events.chunks(64) {
        ledger.log_events(chunk).unwrap();
    }
    ledger.log_receipt(&receipt("job-3", "cohort", 10)).unwrap();
    let filters = [
        Filter::default(),
        Filter {
            job: Some("job-3".into()),
            ..Filter::default()
        },
        Filter {
            actor: Some("carol".into()),
            operation: Some(Operation::WriteResult),
            ..Filter::default()
        },
        Filter {
            since: Some(datetime!(2026-03-01 10:00:10 UTC)),
            until: Some(datetime!(2026-03-01 10:00:20 UTC)),
            ..Filter::default()
        },
        Filter {
            job: Some("job-1".into()),
            since: Some(datetime!(2026-03-01 10:00:30 UTC)),
            ..Filter::default()
        },
        Filter {
            until: Some(datetime!(2026-03-01 10:00:01 UTC)),
            object: Some("obj-0".into()),
            ..Filter::default()
        },
        Filter {
            job: Some("nobody".into()),
            ..Filter::default()
        },
        Filter {
            since: Some(datetime!(2026-03-01 10:00:30 UTC)),
            until: Some(datetime!(2026-03-01 10:00:10 UTC)),
            ..Filter::default()
        },
    ];
    let check = |ledger: &Ledger| {
        for f in &filters {
            let from_log: Vec<Event> = ledger
                .events(f)
                .unwrap()
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            let scanned: Vec<Event> = events.iter().filter(|e| f.matches(e)).cloned().collect();
            assert_eq!(from_log, scanned, "{f:?}");
        }
        let all = ledger.events(&Filter::default()).unwrap();
        assert_eq!(all.len(), 700);
        assert_eq!(all[0].0, LogIndex(1));
        assert_eq!(all[699].0, LogIndex(700));
    };
    check(&ledger);
    drop(ledger);
    // The same answers from a rebuilt index and from a reader without one.
    std::fs::remove_file(dir.path().join("ledger").join(INDEX_FILE)).unwrap();
    let reader = Ledger::open_read_only(
        dir.path().join("ledger"),
        &verifier_of(&dir.path().join("ledger")),
    )
    .unwrap();
    check(&reader);
    drop(reader);
    let rebuilt = Ledger::open(dir.path().join("ledger"), log_key(2)).unwrap();
    check(&rebuilt);
}

#[test]
fn proofs_at_the_latest_and_older_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    fill(&ledger);
    let (cp7, note7) = ledger.checkpoint().unwrap();
    for i in 0..7 {
        let p = ledger.prove(LogIndex(i), None).unwrap();
        assert_eq!(p.checkpoint, note7);
        let leaf = leaf_hash(&ledger.entry_bytes(LogIndex(i)).unwrap());
        let cp = p
            .verify(&leaf, Some(ledger.origin().as_str()), &[ledger.verifier()])
            .unwrap();
        assert_eq!(cp, cp7);
    }
    // Grow the log; a proof at size 7 carries the very note published at size 7.
    for n in 0..300 {
        ledger
            .log_events(&[event(Operation::Publish, "a", &format!("o{n}"), None, 1, n)])
            .unwrap();
    }
    let (cp, _) = ledger.checkpoint().unwrap();
    assert_eq!(cp.size.get(), 307);
    let old = ledger.prove(LogIndex(2), Some(7)).unwrap();
    assert_eq!(old.checkpoint, note7);
    let c = ledger.consistency(7, 307).unwrap();
    verify_consistency(7, 307, &c, &cp7.root, &cp.root).unwrap();
    assert!(matches!(
        ledger.prove(LogIndex(7), Some(7)),
        Err(LedgerError::OutOfRange { what: "entry", .. })
    ));
    assert!(matches!(
        ledger.prove(LogIndex(1), Some(308)),
        Err(LedgerError::OutOfRange {
            what: "tree size",
            ..
        })
    ));

    // A reader proves at its own size, from the tiles, identically.
    let reader = Ledger::open_read_only(dir.path(), ledger.verifier()).unwrap();
    assert_eq!(
        reader.prove(LogIndex(300), None).unwrap(),
        ledger.prove(LogIndex(300), None).unwrap()
    );
    assert_eq!(reader.consistency(7, 307).unwrap(), c);
    assert_eq!(reader.root(7).unwrap(), cp7.root);
    assert!(matches!(
        reader.prove(LogIndex(2), Some(7)),
        Err(LedgerError::NoCheckpointAt {
            size: 7,
            latest: 307
        })
    ));
    let many: Vec<LogIndex> = idx(&[306, 0, 255, 256, 1]);
    let got = reader.entries(&many).unwrap();
    assert_eq!(got.iter().map(|l| l.index).collect::<Vec<_>>(), many);
    for l in got {
        assert_eq!(l.bytes, ledger.entry_bytes(l.index).unwrap());
    }
}

#[test]
fn concurrent_appends_are_all_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let ledger = &ledger;
            s.spawn(move || {
                for n in 0..50u32 {
                    let job = format!("job-{t}");
                    ledger
                        .log_events(&[event(Operation::ReadDataset, "x", "o", Some(&job), t, n)])
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(ledger.size(), 200);
    assert_eq!(ledger.by_kind("event").unwrap().len(), 200);
    for t in 0..4 {
        let mine = ledger.by_job(&format!("job-{t}")).unwrap();
        assert_eq!(mine.len(), 50);
        for l in ledger.entries(&mine).unwrap() {
            let Entry::Event(e) = l.entry else { panic!() };
            assert_eq!(e.job.as_deref(), Some(format!("job-{t}").as_str()));
        }
    }
}

#[test]
fn big_receipts_are_logged_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    let big = common::facts("job-big", "cohort", 10_000, 40)
        .sign(&common::processor())
        .unwrap();
    let i = ledger.log_receipt(&big).unwrap();
    let logged = ledger.entry(i).unwrap();
    assert_eq!(logged.entry.kind(), Some(Kind::ReceiptDigest));
    assert!(logged.bytes.len() < 300);
    assert_eq!(ledger.by_job("job-big").unwrap(), vec![i]);
    assert_eq!(ledger.by_kind("receipt-digest").unwrap(), vec![i]);
    assert_eq!(ledger.find_receipt(&big).unwrap(), Some(i));
    assert_eq!(ledger.log_receipt(&big).unwrap(), i);
}

#[test]
fn a_ledger_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Ledger>();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Bytes flipped anywhere in the index file: a writable open (which checks every page) always
/// answers right, rebuilding when needed; a read-only open never fails or panics outward (it
/// cannot check pages, so its answers are not asserted here).
#[test]
fn damaged_index_pages_never_mislead_the_writer() {
    let base = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(base.path(), log_key(2), None).unwrap();
    fill(&ledger);
    drop(ledger);
    let original = std::fs::read(base.path().join(INDEX_FILE)).unwrap();
    let used: Vec<usize> = (0..original.len() / 4096)
        .filter(|p| original[p * 4096..(p + 1) * 4096].iter().any(|b| *b != 0))
        .collect();
    assert!(used.len() > 3, "{used:?}");
    let mut rebuilt = 0;
    for page in used {
        for offset in [0, 64] {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(base.path(), dir.path());
            let mut bytes = original.clone();
            for b in &mut bytes[page * 4096 + offset..page * 4096 + offset + 16] {
                *b ^= 0xff;
            }
            std::fs::write(dir.path().join(INDEX_FILE), &bytes).unwrap();
            let reader = Ledger::open_read_only(dir.path(), &verifier_of(dir.path())).unwrap();
            for kind in ["receipt", "event", "record"] {
                reader.by_kind(kind).unwrap();
            }
            reader.by_time(..).unwrap();
            drop(reader);
            let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
            check_queries(&ledger);
            rebuilt += usize::from(!ledger.notices().is_empty());
        }
    }
    assert!(rebuilt > 0, "no flip was noticed: the test damaged nothing");
}

#[test]
fn proving_at_an_older_size_over_a_damaged_tile_signs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    for name in ["a", "b", "c", "d", "e"] {
        ledger.log_record(&record(name)).unwrap();
    }
    for name in ["f", "g", "h"] {
        ledger.log_record(&record(name)).unwrap();
    }
    assert_eq!(ledger.size(), 8);
    // Honest: the older checkpoint is re-signed over the root the latest one commits to.
    let (cp5, _) = poex_log::checkpoint::Checkpoint::open(
        ledger
            .prove(LogIndex(1), Some(5))
            .unwrap()
            .checkpoint
            .as_bytes(),
        &[ledger.verifier()],
    )
    .unwrap();
    assert_eq!(cp5.size.get(), 5);

    // Damage the old partial level-0 tile of size 5, which only older proofs read.
    let tile = dir.path().join("log/tile/0/000.p/5");
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&tile, bytes).unwrap();
    // A fresh writer reads tiles from disk (the first one keeps its right edge in memory).
    drop(ledger);
    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    // Either the damaged tile is not what the proof reads (the wider tile of the latest size
    // serves) and the honest checkpoint comes back, or the damage is refused: never a
    // checkpoint of size 5 over another root.
    match ledger.prove(LogIndex(1), Some(5)) {
        Ok(p) => {
            let (cp, _) = poex_log::checkpoint::Checkpoint::open(
                p.checkpoint.as_bytes(),
                &[ledger.verifier()],
            )
            .unwrap();
            assert_eq!(cp.root, cp5.root);
        }
        Err(err) => {
            assert!(matches!(err, LedgerError::Prove(_)), "{err}");
            assert!(err.to_string().contains("damaged"), "{err}");
        }
    }
    // The latest size is untouched and still proves.
    ledger.prove(LogIndex(1), None).unwrap();
}

/// Index entries gather in memory and reach the index file in one transaction when the
/// ledger is dropped (a redb commit costs two fdatasyncs; a job appends about ten entries).
/// A process that dies before leaves them to the next open, which indexes them from the log.
#[test]
fn index_entries_reach_the_file_when_the_ledger_is_dropped_or_are_caught_up_after_a_crash() {
    let index_size = |dir: &std::path::Path| {
        poex_ledger::index::Index::open_read_only(dir.join(INDEX_FILE))
            .unwrap()
            .state()
            .unwrap()
            .size
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), log_key(2), None).unwrap();
    ledger.log_record(&record("cohort")).unwrap();
    ledger.log_receipt(&receipt("job-a", "cohort", 10)).unwrap();
    // Queries see both at once (from memory); the file has not been written yet.
    assert_eq!(ledger.by_job("job-a").unwrap(), idx(&[1]));
    assert_eq!(index_size(dir.path()), 0);
    drop(ledger);
    assert_eq!(index_size(dir.path()), 2);

    // Dies without dropping: the entry is in the log, not in the index file.
    let ledger = Ledger::open(dir.path(), log_key(2)).unwrap();
    ledger.log_receipt(&receipt("job-b", "other", 20)).unwrap();
    std::mem::forget(ledger);
    assert_eq!(index_size(dir.path()), 2);
    // (The forgotten writer still holds the log's lock: a reader catches up from the log.)
    let reader = Ledger::open_read_only(dir.path(), &verifier_of(dir.path())).unwrap();
    assert_eq!(reader.by_job("job-b").unwrap(), idx(&[2]));
    assert_eq!(reader.by_asset("dataset/cohort").unwrap(), idx(&[0, 1]));
}
