//! Hashing throughput against the plain-read I/O baseline, in one run.
//!
//! ```text
//! cargo bench -p poex-store --bench hash            # 1 GiB file, 10,000 x 4 KiB files
//! POEX_BENCH_MIB=256 cargo bench -p poex-store --bench hash
//! ```
//!
//! Data is generated under the system temp directory and deleted at the end. The page cache
//! is warm (the file was just written), so "read" is memory bandwidth, not the disk: this
//! measures what hashing adds. Each figure is the best of three runs.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark binary: any error is fatal and printed"
)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use poex_core::Algorithm;
use poex_store::hash::{BUFFER_SIZE, hash_file, hash_tree, no_progress};
use poex_store::objects::Objects;

const RUNS: usize = 3;

fn best<T>(mut f: impl FnMut() -> T) -> Duration {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// The I/O baseline: the same bytes through a plain read loop with the same buffer size.
fn plain_read(path: &Path, buf: &mut [u8]) -> u64 {
    let mut f = File::open(path).unwrap();
    let mut total = 0u64;
    loop {
        let n = f.read(buf).unwrap();
        if n == 0 {
            return total;
        }
        total += n as u64;
    }
}

fn peak_rss_mib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

struct Row {
    what: String,
    bytes: u64,
    time: Duration,
    baseline: Option<Duration>,
}

fn print(rows: &[Row]) {
    println!(
        "| {:<46} | {:>10} | {:>9} | {:>8} | {:>14} |",
        "operation", "bytes", "time", "GB/s", "added vs read"
    );
    println!(
        "|{:-<48}|{:->12}|{:->11}|{:->10}|{:->16}|",
        "", "", "", "", ""
    );
    for r in rows {
        let gbs = r.bytes as f64 / r.time.as_secs_f64() / 1e9;
        let added = r.baseline.map_or("—".to_owned(), |b| {
            format!("{:+.3} s", r.time.as_secs_f64() - b.as_secs_f64())
        });
        println!(
            "| {:<46} | {:>10} | {:>7.3} s | {:>8.2} | {:>14} |",
            r.what,
            r.bytes,
            r.time.as_secs_f64(),
            gbs,
            added
        );
    }
}

fn main() {
    let mib: u64 = std::env::var("POEX_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir: PathBuf = std::env::temp_dir().join(format!("poex-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let result = std::panic::catch_unwind(|| run(&dir, mib));
    // Always clean up: the data is large. Objects are read-only, so make them writable.
    let _ = std::process::Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&dir)
        .status();
    let _ = fs::remove_dir_all(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn run(dir: &Path, mib: u64) {
    let threads = rayon::current_num_threads();
    println!(
        "poex-store hashing bench: {threads} rayon threads, buffer {} MiB, best of {RUNS}",
        BUFFER_SIZE >> 20
    );

    // One big file of pseudo-random bytes (xorshift: incompressible, cheap to make).
    let big = dir.join("big.bin");
    {
        let mut f = File::create(&big).unwrap();
        let mut chunk = vec![0u8; 16 << 20];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..(mib / 16).max(1) {
            for w in chunk.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&chunk).unwrap();
        }
    }
    let size = fs::metadata(&big).unwrap().len();
    let mut buf = vec![0u8; BUFFER_SIZE];
    plain_read(&big, &mut buf); // warm the page cache
    let read = best(|| plain_read(&big, &mut buf));
    let mut rows = vec![Row {
        what: format!("plain read loop ({} MiB file)", size >> 20),
        bytes: size,
        time: read,
        baseline: None,
    }];
    for (name, algs) in [
        ("hash_file sha256", &[Algorithm::Sha256][..]),
        ("hash_file blake3", &[Algorithm::Blake3][..]),
        (
            "hash_file sha256+blake3 (one read)",
            &[Algorithm::Sha256, Algorithm::Blake3][..],
        ),
    ] {
        let t = best(|| hash_file(&big, algs, &no_progress).unwrap());
        rows.push(Row {
            what: name.into(),
            bytes: size,
            time: t,
            baseline: Some(read),
        });
    }
    if let Ok(out) = std::process::Command::new("sha256sum")
        .arg("--version")
        .output()
        && out.status.success()
    {
        let t = best(|| {
            std::process::Command::new("sha256sum")
                .arg(&big)
                .output()
                .unwrap()
        });
        rows.push(Row {
            what: "coreutils sha256sum (reference)".into(),
            bytes: size,
            time: t,
            baseline: Some(read),
        });
    }
    let rss_after_big = peak_rss_mib();

    // Import: copy + both digests in one read pass + fsync (page cache, then the disk).
    let objects = Objects::open(dir.join("store/objects")).unwrap();
    let t = Instant::now();
    objects.import(&big, &no_progress).unwrap();
    rows.push(Row {
        what: "objects import (copy+sha256+blake3+fsync), 1 run".into(),
        bytes: size,
        time: t.elapsed(),
        baseline: Some(read),
    });
    fs::remove_file(&big).unwrap();

    // 10,000 x 4 KiB files in 100 directories.
    let small = dir.join("small");
    let mut content = vec![0u8; 4096];
    for d in 0..100 {
        let sub = small.join(format!("d{d:03}"));
        fs::create_dir_all(&sub).unwrap();
        for i in 0..100 {
            content[..8].copy_from_slice(&((d * 100 + i) as u64).to_le_bytes());
            fs::write(sub.join(format!("f{i:03}")), &content).unwrap();
        }
    }
    let files: Vec<PathBuf> = (0..100)
        .flat_map(|d| (0..100).map(move |i| (d, i)))
        .map(|(d, i)| small.join(format!("d{d:03}/f{i:03}")))
        .collect();
    let small_bytes = 10_000 * 4096;
    let mut small_buf = vec![0u8; 64 << 10];
    let read_small = best(|| {
        files
            .iter()
            .map(|p| plain_read(p, &mut small_buf))
            .sum::<u64>()
    });
    rows.push(Row {
        what: "plain read loop (10,000 x 4 KiB, 1 thread)".into(),
        bytes: small_bytes,
        time: read_small,
        baseline: None,
    });
    for (name, algs) in [
        (
            "hash_tree sha256 (10,000 x 4 KiB)",
            &[Algorithm::Sha256][..],
        ),
        (
            "hash_tree blake3 (10,000 x 4 KiB)",
            &[Algorithm::Blake3][..],
        ),
        (
            "hash_tree sha256+blake3 (10,000 x 4 KiB)",
            &[Algorithm::Sha256, Algorithm::Blake3][..],
        ),
    ] {
        let t = best(|| hash_tree(&small, algs, &no_progress).unwrap());
        rows.push(Row {
            what: name.into(),
            bytes: small_bytes,
            time: t,
            baseline: Some(read_small),
        });
    }
    let t = Instant::now();
    objects.import(&small, &no_progress).unwrap();
    rows.push(Row {
        what: "objects import (10,000 x 4 KiB, fsync each), 1 run".into(),
        bytes: small_bytes,
        time: t.elapsed(),
        baseline: Some(read_small),
    });

    print(&rows);
    println!(
        "peak RSS after hashing the {} MiB file: {rss_after_big} MiB",
        size >> 20
    );
}
