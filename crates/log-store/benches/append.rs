//! Durable append throughput (group commit vs one synchronous append at a time), proof
//! generation and verification, bytes on disk, open time and resident memory, on a `FileStore`
//! in a temp dir with the leaf index in a redb file beside it (`Log::create_indexed`).
//!
//! `cargo bench -p poex-log-store --bench append` (plain timing, prints a table). Scale with
//! `POEX_BENCH_SIZE` (entries in the proof log, default 1,000,000) and `POEX_BENCH_DIR` (where the
//! temp dirs go; default the system temp dir, which must be a real disk for fsync to mean anything).

use std::sync::Arc;
use std::time::{Duration, Instant};

use poex_log::leaf_hash;
use poex_log::note::Ed25519Signer;
use poex_log::proof::{verify_consistency, verify_inclusion};
use poex_log_store::{FileStore, Log, LogConfig};

fn config() -> LogConfig {
    let signer = Ed25519Signer::from_seed("bench.example/log", &[9; 32]).expect("valid name");
    let verifier = signer.verifier();
    LogConfig {
        origin: "bench.example/log".parse().expect("valid origin"),
        signer: Arc::new(signer),
        verifier: Arc::new(verifier),
    }
}

fn tempdir() -> tempfile::TempDir {
    match std::env::var("POEX_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d),
        Err(_) => tempfile::tempdir(),
    }
    .expect("temp dir")
}

/// A store directory and an index file beside it, under one temp dir.
fn create_log(dir: &tempfile::TempDir) -> Log<FileStore> {
    Log::create_indexed(
        FileStore::open(dir.path().join("log")).expect("store"),
        config(),
        dir.path().join("leaves.redb"),
    )
    .expect("create")
}

fn open_log(dir: &tempfile::TempDir) -> Log<FileStore> {
    Log::open_indexed(
        FileStore::open(dir.path().join("log")).expect("store"),
        config(),
        dir.path().join("leaves.redb"),
    )
    .expect("open")
}

fn row(name: &str, value: String, note: String) {
    println!("| {name} | {value} | {note} |");
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn disk_bytes(dir: &std::path::Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                stack.push(e.path());
            } else {
                bytes += m.len();
                files += 1;
            }
        }
    }
    (bytes, files)
}

/// `threads` threads each appending `per_thread` calls of `batch` entries; entries/s and commits.
/// The temp dir is returned, not deleted, so that no deletion happens while later rows are timed.
fn durable_appends(
    threads: usize,
    per_thread: usize,
    batch: usize,
) -> (f64, Duration, u64, tempfile::TempDir) {
    let dir = tempdir();
    let log = create_log(&dir);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let log = &log;
            s.spawn(move || {
                for i in 0..per_thread {
                    let entries: Vec<Vec<u8>> = (0..batch)
                        .map(|j| format!("thread {t} call {i} entry {j}").into_bytes())
                        .collect();
                    log.append(&entries).expect("append");
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let n = (threads * per_thread * batch) as f64;
    (n / elapsed.as_secs_f64(), elapsed, log.size(), dir)
}

/// Mean time of a 512-byte write plus `fsync` on the bench disk: the figures above depend on
/// it more than on anything in the log, and on a shared disk it varies by 10x.
fn fsync_probe() -> Duration {
    use std::io::Write as _;
    let dir = tempdir();
    let mut f = std::fs::File::create(dir.path().join("probe")).expect("probe file");
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        f.write_all(&[0u8; 512]).expect("write");
        f.sync_all().expect("fsync");
    }
    start.elapsed() / n
}

fn main() {
    let size: u64 = std::env::var("POEX_BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!("| measurement | result | notes |");
    println!("|---|---|---|");
    row(
        "fsync of a 512-byte write, before the runs",
        format!("{:.0?}", fsync_probe()),
        "mean of 200 on the bench disk".into(),
    );

    let mut keep = Vec::new();
    let (rate, t, _, dir) = durable_appends(1, 300, 1);
    keep.push(dir);
    row(
        "single synchronous appends (1 thread, 1 entry per call)",
        format!("{rate:.0} appends/s"),
        format!("300 calls in {t:.2?}"),
    );
    for threads in [16, 64] {
        let per = 4000 / threads;
        let (rate, t, _, dir) = durable_appends(threads, per, 1);
        keep.push(dir);
        row(
            &format!("group commit, {threads} threads, 1 entry per call"),
            format!("{rate:.0} entries/s"),
            format!("{} calls in {t:.2?}", threads * per),
        );
    }
    let (rate, t, _, dir) = durable_appends(16, 20, 256);
    keep.push(dir);
    row(
        "group commit, 16 threads, 256 entries per call",
        format!("{rate:.0} entries/s"),
        format!("{} entries in {t:.2?}", 16 * 20 * 256),
    );

    // A larger log for proofs, built in big batches (each batch is still a durable commit).
    let dir = tempdir();
    let log = create_log(&dir);
    let start = Instant::now();
    let chunk = 65_536u64;
    let mut n = 0u64;
    let mut entry_bytes = 0u64;
    while n < size {
        let end = (n + chunk).min(size);
        let entries: Vec<Vec<u8>> = (n..end)
            .map(|i| format!("{{\"entry\":{i},\"digest\":\"sha256:{i:064x}\"}}").into_bytes())
            .collect();
        entry_bytes += entries.iter().map(|e| e.len() as u64).sum::<u64>();
        log.append(&entries).expect("append");
        n = end;
    }
    let build = start.elapsed();
    row(
        &format!("build a {size}-entry log, {chunk} entries per call"),
        format!("{:.0} entries/s", size as f64 / build.as_secs_f64()),
        format!("{build:.2?}"),
    );
    let (cp_size, root, _) = log.latest();
    drop(log);
    let (bytes, files) = disk_bytes(&dir.path().join("log"));
    let index_bytes = std::fs::metadata(dir.path().join("leaves.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    row(
        "bytes on disk per entry",
        format!(
            "{:.1} B + {:.1} B index",
            bytes as f64 / size as f64,
            index_bytes as f64 / size as f64
        ),
        format!(
            "{bytes} bytes in {files} files, index {index_bytes} bytes; entries average {:.1} B",
            entry_bytes as f64 / size as f64
        ),
    );

    let rss_before = rss_kib();
    let start = Instant::now();
    let log = open_log(&dir);
    let open = start.elapsed();
    row(
        &format!("open at {size} (checks, index up to date)"),
        format!("{open:.2?}"),
        format!(
            "resident memory +{} MiB",
            rss_kib().saturating_sub(rss_before) / 1024
        ),
    );

    let samples = 2000u64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let indexes: Vec<u64> = (0..samples).map(|_| next() % cp_size).collect();
    let start = Instant::now();
    let proofs: Vec<_> = indexes
        .iter()
        .map(|&i| log.inclusion_proof(i, cp_size).expect("proof"))
        .collect();
    let gen_t = start.elapsed() / samples as u32;
    let leaves: Vec<_> = indexes
        .iter()
        .map(|&i| leaf_hash(&log.entry(i).expect("entry")))
        .collect();
    let start = Instant::now();
    for ((i, p), l) in indexes.iter().zip(&proofs).zip(&leaves) {
        verify_inclusion(l, *i, cp_size, p, &root).expect("verifies");
    }
    let ver_t = start.elapsed() / samples as u32;
    row(
        &format!("inclusion proof generation at {cp_size}"),
        format!("{gen_t:.2?}"),
        format!("mean of {samples}, tiles read from disk (page cache warm)"),
    );
    row(
        &format!("inclusion proof verification at {cp_size}"),
        format!("{ver_t:.2?}"),
        format!("mean of {samples}, {} hashes per proof", proofs[0].len()),
    );
    let old = cp_size / 3 + 1;
    let start = Instant::now();
    let cproof = log.consistency_proof(old, cp_size).expect("proof");
    let cgen = start.elapsed();
    let old_root = log.root(old).expect("root");
    let start = Instant::now();
    verify_consistency(old, cp_size, &cproof, &old_root, &root).expect("consistent");
    row(
        &format!("consistency proof {old} -> {cp_size}"),
        format!("gen {cgen:.2?}, verify {:.2?}", start.elapsed()),
        "one sample".into(),
    );
    row(
        &format!("resident memory after open and proofs at {size}"),
        format!("{} MiB", rss_kib() / 1024),
        format!(
            "whole process; peak {} MiB (includes building the log)",
            status_kib("VmHWM:") / 1024
        ),
    );
    drop(log);

    // The index rebuilt from the level-0 tiles (what open does when the index file is lost).
    std::fs::remove_file(dir.path().join("leaves.redb")).expect("remove index");
    let start = Instant::now();
    let log = open_log(&dir);
    row(
        &format!("open at {size}, index file missing (rebuilt from the tiles)"),
        format!("{:.2?}", start.elapsed()),
        "reads every level-0 tile".into(),
    );
    drop(log);
    row(
        "fsync of a 512-byte write, after the runs",
        format!("{:.0?}", fsync_probe()),
        "mean of 200 on the bench disk".into(),
    );
    drop(keep);
}
