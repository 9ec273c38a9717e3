//! kill -9 a real appending process at random points, many times; after each kill, reopen the
//! log (recovery) and check that nothing acknowledged is lost and the checkpoints are consistent.
//!
//! The child is this test binary re-executed with `POEX_LOG_CRASH_CHILD` set: its `crash_child`
//! test appends from three threads and writes `ACK <index> <entry>` to stdout (unbuffered, not
//! captured by the test harness) after each append returns.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

mod logcheck;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logcheck::{Expect, check_log, config};
use poex_log_store::{FileStore, Log, LogIndex, validate};

/// How many times the appending process is killed.
const CRASH_RUNS: usize = 200;
/// Kill after a random delay below this (the child needs a few ms just to start).
const MAX_DELAY_MICROS: u64 = 40_000;
const CHILD_ENV: &str = "POEX_LOG_CRASH_CHILD";
const RUN_ENV: &str = "POEX_LOG_CRASH_RUN";

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // only does something when launched by the parent test
    };
    let run: usize = std::env::var(RUN_ENV).unwrap().parse().unwrap();
    let dir = std::path::Path::new(&dir);
    let log = Log::open_indexed(
        FileStore::open(dir.join("log")).unwrap(),
        config(),
        dir.join("leaves.redb"),
    )
    .unwrap();
    std::io::stdout().lock().write_all(b"READY\n").unwrap();
    std::thread::scope(|s| {
        for t in 0..3 {
            let log = &log;
            s.spawn(move || {
                for j in 0..10_000 {
                    let mut batch = vec![format!("run {run} thread {t} entry {j}")];
                    if j % 5 == 0 {
                        // Entries repeated across runs: dedup must give the same index forever.
                        batch.push(format!("shared {}", (run * 7 + j) % 64));
                    }
                    let idx = log.append(&batch).unwrap();
                    let mut out = String::new();
                    for (e, i) in batch.iter().zip(&idx) {
                        out.push_str(&format!("ACK {i} {e}\n"));
                    }
                    std::io::stdout().lock().write_all(out.as_bytes()).unwrap();
                }
            });
        }
    });
}

/// xorshift64*, seeded from the clock: a different schedule each run, printed for replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn kill_9_at_random_points_loses_nothing_acknowledged() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = std::env::var("POEX_LOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed {seed} (POEX_LOG_CRASH_SEED to replay)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // The store, and the leaf index beside it (outside the tlog-tiles root).
    let store_dir = dir.path().join("log");
    let index_file = dir.path().join("leaves.redb");
    drop(Log::create_indexed(FileStore::open(&store_dir).unwrap(), config(), &index_file).unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut expect = Expect::default();
    let mut by_entry: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    let mut acks_total = 0;
    for run in 0..CRASH_RUNS {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--test-threads=1", "--quiet"])
            .env(CHILD_ENV, dir.path())
            .env(RUN_ENV, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Drain stdout concurrently so a full pipe never stalls the child; signal READY.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "READY" {
                    let _ = ready_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        // One run in eight is killed at a random time from spawn (often during open and
        // recovery); the others at a random time after the log opened (during appends).
        if !rng.next().is_multiple_of(8) {
            let _ = ready_rx.recv_timeout(Duration::from_secs(10));
        }
        std::thread::sleep(Duration::from_micros(rng.next() % MAX_DELAY_MICROS));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let out = reader.join().unwrap();
        assert!(
            !status.success(),
            "run {run}: child finished before the kill"
        );

        // Lines that reached the pipe were acknowledged before the kill.
        let mut acked = 0;
        for line in out.iter().filter_map(|l| l.strip_prefix("ACK ")) {
            let (i, e) = line.split_once(' ').unwrap();
            let i: u64 = i.parse().unwrap();
            if let Some(&old) = by_entry.get(e) {
                assert_eq!(old, i, "run {run}: {e:?} acknowledged at {old} and {i}");
            }
            by_entry.insert(e.to_owned(), i);
            expect.ack(&[e.as_bytes().to_vec()], &[LogIndex(i)]);
            acked += 1;
        }
        acks_total += acked;

        // Recovery through a normal open, then the checks.
        let log = Log::open_indexed(FileStore::open(&store_dir).unwrap(), config(), &index_file)
            .unwrap_or_else(|e| panic!("run {run} (seed {seed}): reopen: {e}"));
        if (run + 1).is_multiple_of(25) || run + 1 == CRASH_RUNS {
            check_log(&log, &mut expect, 97);
            // The leaf index (updated after each commit point, caught up on open) agrees with
            // the level-0 tiles, and finds every acknowledged entry at its index.
            log.check_index()
                .unwrap_or_else(|e| panic!("run {run} (seed {seed}): index: {e}"));
            for (&i, e) in &expect.acked {
                assert_eq!(
                    log.find(&poex_log::leaf_hash(e)).unwrap(),
                    Some(LogIndex(i)),
                    "run {run} (seed {seed}): index lookup of entry {i}"
                );
            }
        } else {
            quick_check(&log, &mut expect, run);
        }
    }
    eprintln!(
        "{CRASH_RUNS} kills, {acks_total} acknowledgements, final size {}, {:?}",
        expect.seen.last().map_or(0, |s| s.0),
        started.elapsed()
    );
    assert!(acks_total > 0, "no child ever acknowledged an append");
    let store = FileStore::open(&store_dir).unwrap();
    assert!(validate(&store, &*config().verifier).is_ok());
}

/// Between whole-log checks: the newest acknowledgements are present and the checkpoint is
/// consistent with the previous one (the whole-log check covers everything every 25 runs).
fn quick_check(log: &Log<FileStore>, expect: &mut Expect, run: usize) {
    let (cp, _) = log.checkpoint().unwrap();
    let size = cp.size.get();
    for (&i, e) in expect.acked.iter().rev().take(20) {
        assert_eq!(
            &log.entry(i).unwrap(),
            e,
            "run {run}: acknowledged entry {i} lost"
        );
    }
    if let Some(&(old, old_root)) = expect.seen.last() {
        assert!(old <= size, "run {run}: log shrank from {old} to {size}");
        if old > 0 {
            let proof = log.consistency_proof(old, size).unwrap();
            poex_log::proof::verify_consistency(old, size, &proof, &old_root, &cp.root).unwrap();
        }
    }
    if expect.seen.last() != Some(&(size, cp.root)) {
        expect.seen.push((size, cp.root));
    }
}
