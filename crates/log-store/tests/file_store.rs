//! The file-backed log: appends, reads, proofs, dedup across restarts, group commit, recovery
//! from a fault at every write, and validation naming exactly the damaged file.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

mod logcheck;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use logcheck::{Expect, Fault, FaultyStore, check_log, config};
use poex_log_store::{
    CHECKPOINT_PATH, FileStore, Finding, Log, LogError, LogOptions, MemoryStore, Report, TileStore,
    WriteMode, validate, validate_range,
};

fn entry(batch: usize, i: usize) -> Vec<u8> {
    format!("entry {batch}/{i}").into_bytes()
}

/// The scripted appends: batch sizes crossing bundle and tile boundaries, with duplicates of
/// earlier entries (and within a batch) mixed in.
fn script() -> Vec<Vec<Vec<u8>>> {
    let sizes = [1usize, 2, 254, 3, 1, 300, 2];
    sizes
        .iter()
        .enumerate()
        .map(|(b, &n)| {
            let mut v: Vec<Vec<u8>> = (0..n).map(|i| entry(b, i)).collect();
            if b > 0 {
                v.push(entry(0, 0)); // duplicate of the first entry ever
                v.push(entry(b, 0)); // duplicate within the batch
            }
            v
        })
        .collect()
}

#[test]
fn append_read_prove_and_dedup_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut expect = Expect::default();
    {
        let log = Log::create(FileStore::open(dir.path()).unwrap(), config()).unwrap();
        for batch in script() {
            let idx = log.append(&batch).unwrap();
            expect.ack(&batch, &idx);
            check_log(&log, &mut expect, 13);
        }
        assert_eq!(log.size(), 563);
        assert_eq!(log.append(&[entry(0, 0)]).unwrap()[0].get(), 0);
    }
    // Reopen: the dedup index survives, and appends continue where they stopped.
    let log = Log::open(FileStore::open(dir.path()).unwrap(), config()).unwrap();
    check_log(&log, &mut expect, 13);
    assert_eq!(
        log.append(&[entry(5, 299)]).unwrap()[0].get(),
        expect_index(&expect, &entry(5, 299))
    );
    let new = log.append(&[b"fresh".to_vec()]).unwrap();
    assert_eq!(new[0].get(), 563);
    expect.ack(std::slice::from_ref(&b"fresh".to_vec()), &new);
    check_log(&log, &mut expect, 13);
    // The layout is C2SP tlog-tiles.
    for path in [
        "checkpoint",
        "tile/0/000",
        "tile/0/002.p/52",
        "tile/1/000.p/2",
        "tile/entries/001",
        "tile/entries/002.p/52",
    ] {
        assert!(dir.path().join(path).is_file(), "{path}");
    }
}

fn expect_index(expect: &Expect, e: &[u8]) -> u64 {
    *expect
        .acked
        .iter()
        .find(|(_, v)| v.as_slice() == e)
        .unwrap()
        .0
}

#[test]
fn oversized_entry_is_refused_with_advice() {
    let log = Log::create(MemoryStore::new(), config()).unwrap();
    let err = log.append(&[vec![0u8; 10], vec![0u8; 65536]]).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::EntryTooLarge {
                position: 1,
                size: 65536
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("log its digest"), "{err}");
    assert_eq!(log.size(), 0);
    assert_eq!(log.append(&[vec![1u8; 65535]]).unwrap()[0].get(), 0);
}

#[test]
fn concurrent_appends_are_group_committed() {
    /// Delays the first checkpoint write so that other threads queue up behind it.
    struct Slow(FaultyStore<MemoryStore>);
    impl TileStore for Slow {
        fn read(&self, p: &str) -> std::io::Result<Option<Vec<u8>>> {
            self.0.read(p)
        }
        fn write(&self, p: &str, d: &[u8], m: WriteMode) -> std::io::Result<()> {
            if p == "checkpoint" && self.0.checkpoint_writes.load(Ordering::SeqCst) == 1 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            self.0.write(p, d, m)
        }
        fn list(&self) -> std::io::Result<Vec<String>> {
            self.0.list()
        }
    }
    let log = Log::create(
        Slow(FaultyStore::new(MemoryStore::new(), None, Fault::Before)),
        config(),
    )
    .unwrap();
    let threads = 4;
    let per = 25;
    let results: Vec<Vec<(Vec<u8>, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let log = &log;
                s.spawn(move || {
                    (0..per)
                        .map(|i| {
                            let e = format!("t{t} e{i}").into_bytes();
                            let idx = log.append(std::slice::from_ref(&e)).unwrap();
                            (e, idx[0].get())
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut expect = Expect::default();
    for (e, i) in results.into_iter().flatten() {
        expect.ack(&[e], &[poex_log_store::LogIndex(i)]);
    }
    assert_eq!(expect.acked.len(), threads * per);
    assert_eq!(log.size(), (threads * per) as u64);
    check_log(&log, &mut expect, 7);
    let commits = log.store().0.checkpoint_writes.load(Ordering::SeqCst) - 1;
    assert!(
        commits < threads * per,
        "{commits} commits for {} appends: no batching",
        threads * per
    );
}

/// Sunlight-style: inject a fault at every write of the script, both before and after the write
/// lands; reopen and check the whole log after each step, then finish the script.
#[test]
fn a_fault_at_any_write_loses_nothing_acknowledged() {
    // Count the writes of a clean run.
    let clean = Arc::new(FaultyStore::new(MemoryStore::new(), None, Fault::Before));
    {
        let log = Log::create(&*clean, config()).unwrap();
        for batch in script() {
            log.append(&batch).unwrap();
        }
    }
    let total = clean.writes.load(Ordering::SeqCst);
    assert!(total > 20, "only {total} writes");
    let mut faults_hit = 0;
    for fail_at in 0..total {
        for fault in [Fault::Before, Fault::After] {
            let mem = MemoryStore::new();
            let faulty = FaultyStore::new(&mem, Some(fail_at), fault);
            let mut expect = Expect::default();
            // Every other run keeps the leaf index on disk (the write path is the same; the
            // index follows each commit point and is caught up on reopen).
            let index_dir = tempfile::tempdir().unwrap();
            let options = if fail_at % 2 == 1 {
                LogOptions::new().index_file(index_dir.path().join("leaves.redb"))
            } else {
                LogOptions::new()
            };
            let ctx = format!("fault {fault:?} at write {fail_at}");
            let mut log = Log::create_with(&faulty, config(), options.clone()).ok();
            let failed = log.is_none();
            let mut recovered: Option<Log<&MemoryStore>> = None;
            for batch in script() {
                if let Some(r) = &recovered {
                    let idx = r
                        .append(&batch)
                        .unwrap_or_else(|e| panic!("{ctx}: append after recovery: {e}"));
                    expect.ack(&batch, &idx);
                    continue;
                }
                if !failed {
                    let l = log.as_ref().unwrap();
                    match l.append(&batch) {
                        Ok(idx) => {
                            expect.ack(&batch, &idx);
                            continue;
                        }
                        Err(e) => {
                            faults_hit += 1;
                            assert!(matches!(e, LogError::Failed(_)), "{ctx}: {e}");
                            // The handle refuses further appends until reopened.
                            assert!(l.append(&[b"more"]).is_err(), "{ctx}");
                        }
                    }
                }
                // "Restart": reopen on the store as the fault left it (no more faults), check
                // the whole log, then redo the failed step and go on with the script.
                drop(log.take());
                let reopened = match Log::open_with(&mem, config(), options.clone()) {
                    Ok(l) => l,
                    Err(LogError::NoLog) if mem.list().unwrap().is_empty() => {
                        Log::create_with(&mem, config(), options.clone()).unwrap()
                    }
                    Err(e) => panic!("{ctx}: reopen: {e}"),
                };
                check_log(&reopened, &mut expect, 31);
                let idx = reopened
                    .append(&batch)
                    .unwrap_or_else(|e| panic!("{ctx}: append after recovery: {e}"));
                expect.ack(&batch, &idx);
                recovered = Some(reopened);
            }
            drop(recovered);
            let last = Log::open_with(&mem, config(), options.clone()).unwrap();
            check_log(&last, &mut expect, 31);
            last.check_index()
                .unwrap_or_else(|e| panic!("{ctx}: index: {e}"));
            assert_eq!(last.size(), 563, "{ctx}");
        }
    }
    assert!(faults_hit >= total, "faults hit: {faults_hit}");
}

#[test]
fn recovery_rolls_forward_a_batch_written_but_not_checkpointed() {
    let mem = MemoryStore::new();
    drop(Log::create(&mem, config()).unwrap());
    // Writes of a 300-entry batch from size 0: 2 bundles, level-0 tiles 0 and 1.p/44, level-1
    // tile 0.p/1, then the checkpoint (write 5): fail exactly there.
    let faulty = FaultyStore::new(&mem, Some(5), Fault::Before);
    let log = Log::open(&faulty, config()).unwrap();
    let batch: Vec<Vec<u8>> = (0..300).map(|i| entry(9, i)).collect();
    assert!(log.append(&batch).is_err());
    drop(log);
    let report = validate(&mem, &*config().verifier);
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(
        report.findings,
        [Finding::Unsequenced {
            path: "tile/0/000".into(),
            first: 0,
            count: 300
        }],
        "the batch's files are beyond the checkpoint"
    );
    let log = Log::open(&mem, config()).unwrap();
    assert_eq!(log.size(), 300, "rolled forward");
    let mut expect = Expect::default();
    check_log(&log, &mut expect, 50);
    assert_eq!(log.entry(299).unwrap(), entry(9, 299));
    // The retry of the unacknowledged append deduplicates to the same indexes.
    let idx = log.append(&batch).unwrap();
    assert_eq!(
        idx.iter().map(|i| i.get()).collect::<Vec<_>>(),
        (0..300).collect::<Vec<_>>()
    );
    assert_eq!(log.size(), 300);
}

/// A log on disk with old partial tiles, for the tamper tests: sizes 100, 256, 300, 600.
/// Kept checkpoints: sizes 0, 256 and 600.
fn tamper_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(FileStore::open(dir.path()).unwrap(), config()).unwrap();
    let mut n = 0;
    for size in [100, 256, 300, 600] {
        let batch: Vec<Vec<u8>> = (n..size).map(|i| entry(0, i)).collect();
        log.append(&batch).unwrap();
        n = size;
    }
    let report = validate(log.store(), &*config().verifier);
    assert!(report.findings.is_empty(), "{report:#?}");
    assert_eq!(report.history, 3);
    dir
}

fn report_of(dir: &tempfile::TempDir) -> Report {
    validate(&FileStore::open(dir.path()).unwrap(), &*config().verifier)
}

fn flip(dir: &tempfile::TempDir, path: &str, at: usize) {
    let p = dir.path().join(path);
    let mut b = std::fs::read(&p).unwrap();
    b[at] ^= 0x01;
    std::fs::write(&p, b).unwrap();
}

fn truncate(dir: &tempfile::TempDir, path: &str, len: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join(path))
        .unwrap();
    f.set_len(len).unwrap();
}

fn open_error(dir: &tempfile::TempDir) -> LogError {
    match Log::open(FileStore::open(dir.path()).unwrap(), config()) {
        Ok(_) => panic!("a damaged log opened"),
        Err(e) => e,
    }
}

fn tile_modified(level: u8, first: u64, path: &str) -> Finding {
    Finding::TileModified {
        level,
        first,
        path: path.into(),
    }
}

fn assert_findings(dir: &tempfile::TempDir, want: &[Finding]) {
    let r = report_of(dir);
    assert_eq!(r.findings, want, "{r:#?}");
}

/// Open (with the index in memory, so reading every level-0 tile) refuses the damage and
/// names the path and entry of the first finding.
fn assert_open_names(dir: &tempfile::TempDir, path: &str, index: u64) {
    let err = open_error(dir);
    let msg = err.to_string();
    assert!(
        matches!(&err, LogError::Corrupt { path: p, index: Some(i), .. } if p == path && *i == index),
        "{msg}"
    );
    assert!(msg.contains("poex audit validate"), "{msg}");
}

#[test]
fn flipped_byte_in_a_level0_tile_is_pinpointed() {
    for (path, first) in [("tile/0/001", 256), ("tile/0/002.p/88", 512)] {
        let dir = tamper_fixture();
        flip(&dir, path, 40);
        assert_findings(&dir, &[tile_modified(0, first, path)]);
        assert_open_names(&dir, path, first);
    }
}

#[test]
fn flipped_byte_in_a_level1_tile_is_pinpointed() {
    let dir = tamper_fixture();
    flip(&dir, "tile/1/000.p/2", 40);
    assert_findings(&dir, &[tile_modified(1, 0, "tile/1/000.p/2")]);
    assert_open_names(&dir, "tile/1/000.p/2", 0);
}

#[test]
fn flipped_byte_in_a_bundle_is_pinpointed_to_the_entry() {
    // Byte 9 is inside the bundle's first entry; byte 2 + 11 + 2 + 3 = 18 inside its second.
    for (path, at, index) in [
        ("tile/entries/001", 9, 256),
        ("tile/entries/001", 18, 257),
        ("tile/entries/002.p/88", 9, 512),
    ] {
        let dir = tamper_fixture();
        flip(&dir, path, at);
        assert_findings(
            &dir,
            &[Finding::EntryModified {
                index,
                path: path.into(),
            }],
        );
    }
    // The partial bundle is read on open: refused there too.
    let dir = tamper_fixture();
    flip(&dir, "tile/entries/002.p/88", 9);
    assert_open_names(&dir, "tile/entries/002.p/88", 512);
}

#[test]
fn old_partial_tiles_and_bundles_are_checked() {
    let dir = tamper_fixture();
    flip(&dir, "tile/0/000.p/100", 9);
    assert_findings(&dir, &[tile_modified(0, 0, "tile/0/000.p/100")]);
    let dir = tamper_fixture();
    flip(&dir, "tile/1/000.p/1", 9);
    assert_findings(&dir, &[tile_modified(1, 0, "tile/1/000.p/1")]);
    let dir = tamper_fixture();
    flip(&dir, "tile/entries/000.p/100", 9);
    assert_findings(
        &dir,
        &[Finding::EntryModified {
            index: 0,
            path: "tile/entries/000.p/100".into(),
        }],
    );
}

#[test]
fn deleted_bundle_is_named_with_its_entries() {
    let dir = tamper_fixture();
    std::fs::remove_file(dir.path().join("tile/entries/001")).unwrap();
    assert_findings(
        &dir,
        &[Finding::EntriesDeleted {
            first: 256,
            count: 256,
            path: "tile/entries/001".into(),
        }],
    );
    // Open does not read full bundles: it opens, and `entry` says the bundle is missing.
    let log = Log::open(FileStore::open(dir.path()).unwrap(), config()).unwrap();
    assert!(matches!(log.entry(300), Err(LogError::Corrupt { .. })));
}

/// Rewrites a bundle with `edit` applied to its entries.
fn edit_bundle(dir: &tempfile::TempDir, path: &str, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let p = dir.path().join(path);
    let bytes = std::fs::read(&p).unwrap();
    let mut entries = Vec::new();
    let mut rest = bytes.as_slice();
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        entries.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    edit(&mut entries);
    let mut out = Vec::new();
    for e in &entries {
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    std::fs::write(&p, out).unwrap();
}

#[test]
fn inserted_and_deleted_entries_and_the_shift_they_cause_are_named() {
    let path = "tile/entries/001";
    let dir = tamper_fixture();
    edit_bundle(&dir, path, |e| e.insert(10, b"forged".to_vec()));
    assert_findings(
        &dir,
        &[
            Finding::EntriesInserted {
                index: 266,
                count: 1,
                path: path.into(),
            },
            Finding::EntriesShifted {
                first: 266,
                count: 246,
                by: 1,
                path: path.into(),
            },
        ],
    );
    let dir = tamper_fixture();
    edit_bundle(&dir, path, |e| {
        e.remove(20);
    });
    assert_findings(
        &dir,
        &[
            Finding::EntriesDeleted {
                first: 276,
                count: 1,
                path: path.into(),
            },
            Finding::EntriesShifted {
                first: 277,
                count: 235,
                by: -1,
                path: path.into(),
            },
        ],
    );
    // Entries moved into the next bundle (everything after 300 shifted by one, across files).
    let dir = tamper_fixture();
    let mut moved = Vec::new();
    edit_bundle(&dir, path, |e| moved.push(e.pop().unwrap()));
    edit_bundle(&dir, "tile/entries/002.p/88", |e| {
        e.insert(0, moved.pop().unwrap());
        e.pop();
    });
    // Bundle 1 lacks its last entry; bundle 2 holds it first, so all of its entries are one
    // place late, and its own last one is gone.
    assert_findings(
        &dir,
        &[
            Finding::EntriesDeleted {
                first: 511,
                count: 1,
                path: path.into(),
            },
            Finding::EntriesShifted {
                first: 511,
                count: 88,
                by: 1,
                path: "tile/entries/002.p/88".into(),
            },
            Finding::EntriesDeleted {
                first: 599,
                count: 1,
                path: "tile/entries/002.p/88".into(),
            },
        ],
    );
}

#[test]
fn truncated_files_are_named() {
    for (path, len, want) in [
        ("tile/0/000", 100, tile_modified(0, 0, "tile/0/000")),
        (
            "tile/0/002.p/88",
            0,
            tile_modified(0, 512, "tile/0/002.p/88"),
        ),
        (
            "tile/entries/002.p/88",
            50,
            Finding::BundleMalformed {
                first: 512,
                path: "tile/entries/002.p/88".into(),
                reason: "entry 3 at byte 39 is cut short".into(),
            },
        ),
    ] {
        let dir = tamper_fixture();
        truncate(&dir, path, len);
        assert_findings(&dir, &[want]);
        let msg = open_error(&dir).to_string();
        assert!(
            msg.contains(path) && msg.contains("poex audit validate"),
            "{msg}"
        );
    }
}

#[test]
fn a_range_audit_reads_only_its_chunks() {
    let dir = tamper_fixture();
    flip(&dir, "tile/entries/000", 9);
    flip(&dir, "tile/entries/001", 9);
    let store = FileStore::open(dir.path()).unwrap();
    let r = validate_range(&store, &*config().verifier, Some(256..512));
    assert_eq!(r.range, 256..512);
    assert_eq!(
        r.findings,
        [Finding::EntryModified {
            index: 256,
            path: "tile/entries/001".into()
        }],
        "{r:#?}"
    );
}

#[test]
fn tamper_checkpoint_and_extra_files_are_named() {
    let dir = tamper_fixture();
    let cp = dir.path().join("checkpoint");
    let text = std::fs::read_to_string(&cp)
        .unwrap()
        .replace("\n600\n", "\n599\n");
    std::fs::write(&cp, text).unwrap();
    let r = report_of(&dir);
    assert_eq!(r.first_problem().as_deref(), Some("checkpoint"), "{r:#?}");
    assert!(matches!(r.findings[0], Finding::CheckpointInvalid { .. }));
    assert!(matches!(open_error(&dir), LogError::Checkpoint { .. }));

    let dir = tamper_fixture();
    std::fs::write(dir.path().join("tile/0/007"), [0u8; 32]).unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"hi").unwrap();
    assert_findings(
        &dir,
        &[
            Finding::ExtraFile {
                path: "notes.txt".into(),
            },
            Finding::ExtraFile {
                path: "tile/0/007".into(),
            },
        ],
    );
}

#[test]
fn kept_checkpoints_are_listed_and_checked() {
    let dir = tamper_fixture();
    let log = Log::open(FileStore::open(dir.path()).unwrap(), config()).unwrap();
    let sizes: Vec<u64> = log
        .history()
        .unwrap()
        .iter()
        .map(|k| k.checkpoint.size.get())
        .collect();
    assert_eq!(sizes, [0, 256, 600]);
    drop(log);

    // A kept checkpoint whose signature no longer verifies.
    flip(&dir, "history/001", 2);
    let r = report_of(&dir);
    assert!(
        matches!(&r.findings[..], [Finding::HistoryInvalid { path, .. }] if path == "history/001"),
        "{r:#?}"
    );

    // A kept checkpoint of a fork: same key, other entries at size 256.
    let dir = tamper_fixture();
    let fork = tempfile::tempdir().unwrap();
    {
        let log = Log::create(FileStore::open(fork.path()).unwrap(), config()).unwrap();
        let batch: Vec<Vec<u8>> = (0..256).map(|i| entry(7, i)).collect();
        log.append(&batch).unwrap();
    }
    std::fs::copy(
        fork.path().join("history/001"),
        dir.path().join("history/001"),
    )
    .unwrap();
    assert_findings(
        &dir,
        &[
            Finding::HistoryRootMismatch {
                path: "history/001".into(),
                size: 256,
            },
            Finding::HistoryInconsistent {
                path: "history/001".into(),
                size: 256,
                previous: "history/000".into(),
                previous_size: 0,
            },
            Finding::HistoryInconsistent {
                path: "history/002".into(),
                size: 600,
                previous: "history/001".into(),
                previous_size: 256,
            },
        ],
    );
}

#[test]
fn create_refuses_a_non_empty_store_and_open_an_empty_one() {
    let mem = MemoryStore::new();
    assert!(matches!(Log::open(&mem, config()), Err(LogError::NoLog)));
    mem.set("tile/0/000", Some(vec![0; 32]));
    assert!(matches!(
        Log::create(&mem, config()),
        Err(LogError::NotEmpty { .. })
    ));
}

#[test]
fn a_read_only_store_reads_and_leaves_the_writers_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(FileStore::open(dir.path()).unwrap(), config()).unwrap();
    log.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap();
    // A writer's temporary file, as mid-write.
    let pending = dir.path().join(".tmp/in-flight");
    std::fs::write(&pending, b"half").unwrap();

    let reader = FileStore::open_read_only(dir.path()).unwrap();
    assert!(pending.exists(), "opening read-only must not clear .tmp/");
    assert_eq!(
        reader.read(CHECKPOINT_PATH).unwrap(),
        log.store().read(CHECKPOINT_PATH).unwrap()
    );
    assert!(validate(&reader, &*config().verifier).is_ok());
    let err = reader
        .write("tile/0/000", b"x", WriteMode::CreateOnce)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(pending.exists());
    assert!(FileStore::open_read_only(dir.path().join("nowhere")).is_err());
}
