//! Sealing throughput against a plain copy of the same bytes, in one run.
//!
//! ```text
//! cargo bench -p poex-seal --bench seal                 # 1 GiB
//! POEX_SEAL_BENCH_MIB=256 cargo bench -p poex-seal --bench seal
//! ```
//!
//! Two paths: memory to a sink (the bytes are in RAM, the output is dropped: pure CPU) and
//! file to file under the system temp directory (page cache warm, no fsync: what sealing adds
//! to a copy, not the disk). The plain copy moves the same bytes through the same 1 MiB
//! buffer; `encrypt` and `decrypt` also compute both SHA-256 digests, as the pipeline needs.
//! The parts are measured too (SHA-256 and each AEAD alone, one thread) to show what bounds
//! the total. Each figure is the best of three runs. Data is deleted at the end.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark binary: any error is fatal and printed"
)]

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
use sha2::Digest as _;

const RUNS: usize = 3;
const BUF: usize = 1 << 20;

/// Best wall time of [`RUNS`], and the CPU time (all threads) of that run.
fn best(mut f: impl FnMut()) -> Duration {
    best_cpu(&mut f).0
}

fn best_cpu(mut f: impl FnMut()) -> (Duration, Duration) {
    (0..RUNS)
        .map(|_| {
            let cpu = cpu_time();
            let t = Instant::now();
            f();
            (t.elapsed(), cpu_time().saturating_sub(cpu))
        })
        .min()
        .unwrap()
}

/// User + system time of this process so far, all threads (/proc/self/stat, in clock ticks
/// of 10 ms).
fn cpu_time() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

/// Deterministic, incompressible-looking bytes (xorshift64*).
fn fill(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// A sink that the optimizer cannot see through (`io::sink` lets a copy loop vanish).
struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        std::hint::black_box(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The baseline: the same bytes through a read/write loop with a 1 MiB buffer.
fn plain_copy(mut from: impl Read, mut to: impl Write) -> u64 {
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).unwrap();
        if n == 0 {
            to.flush().unwrap();
            return total;
        }
        to.write_all(&buf[..n]).unwrap();
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
    what: &'static str,
    copy: Duration,
    time: Duration,
}

fn main() {
    let mib: u64 = std::env::var("POEX_SEAL_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let bytes = mib << 20;
    let identity = poex_seal::Identity::generate().unwrap();
    let recipients = [identity.recipient()];
    println!(
        "poex-seal bench: {mib} MiB, {} cores, best of {RUNS}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // File to file first, so the peak RSS it reports is not the in-memory runs' buffers.
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    let sealed = dir.path().join("plain.sealed");
    let opened = dir.path().join("opened");
    let copy = dir.path().join("copy");
    {
        let mut f = BufWriter::with_capacity(BUF, File::create(&plain).unwrap());
        let mut buf = vec![0u8; BUF];
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..mib {
            fill(&mut buf, &mut state);
            f.write_all(&buf).unwrap();
        }
        f.flush().unwrap();
    }
    let open_file = |p: &Path| File::open(p).unwrap();
    let create = |p: &Path| File::create(p).unwrap();
    let file_copy = best(|| {
        plain_copy(open_file(&plain), create(&copy));
    });
    let mut facts = None;
    let file_seal = best(|| {
        facts = Some(poex_seal::encrypt(&recipients, open_file(&plain), create(&sealed)).unwrap());
    });
    let file_open = best(|| {
        let o = poex_seal::decrypt(&identity, open_file(&sealed), create(&opened)).unwrap();
        assert_eq!(Some(&o), facts.as_ref());
    });
    let rss_files = peak_rss_mib();
    drop(dir);

    // Memory to a sink.
    let mut data = vec![0u8; bytes as usize];
    fill(&mut data, &mut 0x0123_4567_89ab_cdef);
    let mem_copy = best(|| {
        plain_copy(&data[..], Sink);
    });
    let (mem_seal, mem_seal_cpu) = best_cpu(|| {
        poex_seal::encrypt(&recipients, &data[..], Sink).unwrap();
    });
    let mut sealed_bytes = Vec::with_capacity(data.len() + data.len() / 4096 + 4096);
    poex_seal::encrypt(&recipients, &data[..], &mut sealed_bytes).unwrap();
    let (mem_open, mem_open_cpu) = best_cpu(|| {
        poex_seal::decrypt(&identity, &sealed_bytes[..], Sink).unwrap();
    });
    drop(sealed_bytes);

    // The parts, one thread each, in 64 KiB pieces as the payload uses them.
    let sha = best(|| {
        let mut h = sha2::Sha256::new();
        for piece in data.chunks(poex_seal::CHUNK_SIZE) {
            h.update(piece);
        }
        std::hint::black_box(h.finalize());
    });
    let mut work = vec![0u8; poex_seal::CHUNK_SIZE];
    let aes = aes_gcm::Aes256Gcm::new_from_slice(&[7; 32]).unwrap();
    let aes_time = best(|| {
        for (i, piece) in data.chunks(poex_seal::CHUNK_SIZE).enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let n = piece.len();
            work[..n].copy_from_slice(piece);
            let tag = aes
                .encrypt_inout_detached(&nonce.into(), b"", (&mut work[..n]).into())
                .unwrap();
            std::hint::black_box(tag);
        }
    });
    let chacha = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&[7; 32]).unwrap();
    let chacha_time = best(|| {
        for (i, piece) in data.chunks(poex_seal::CHUNK_SIZE).enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let n = piece.len();
            work[..n].copy_from_slice(piece);
            let tag = chacha
                .encrypt_inout_detached(&nonce.into(), b"", (&mut work[..n]).into())
                .unwrap();
            std::hint::black_box(tag);
        }
    });

    let rows = [
        Row {
            what: "encrypt, memory -> sink",
            copy: mem_copy,
            time: mem_seal,
        },
        Row {
            what: "decrypt, memory -> sink",
            copy: mem_copy,
            time: mem_open,
        },
        Row {
            what: "encrypt, file -> file",
            copy: file_copy,
            time: file_seal,
        },
        Row {
            what: "decrypt, file -> file",
            copy: file_copy,
            time: file_open,
        },
    ];
    println!();
    println!("| {mib} MiB | plain copy | poex-seal | ratio (copy time / seal time) |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.2} GB/s ({:.3} s) | {:.2} GB/s ({:.3} s) | {:.2} |",
            r.what,
            gbps(bytes, r.copy),
            r.copy.as_secs_f64(),
            gbps(bytes, r.time),
            r.time.as_secs_f64(),
            r.copy.as_secs_f64() / r.time.as_secs_f64(),
        );
    }
    println!();
    println!("| part, one thread, 64 KiB pieces | throughput |");
    println!("|---|---:|");
    println!("| SHA-256 (sha2, SHA-NI) | {:.2} GB/s |", gbps(bytes, sha));
    println!(
        "| AES-256-GCM (aes-gcm 0.11) | {:.2} GB/s |",
        gbps(bytes, aes_time)
    );
    println!(
        "| ChaCha20-Poly1305 (chacha20poly1305 0.11) | {:.2} GB/s |",
        gbps(bytes, chacha_time)
    );
    println!();
    for (what, wall, cpu) in [
        ("encrypt", mem_seal, mem_seal_cpu),
        ("decrypt", mem_open, mem_open_cpu),
    ] {
        println!(
            "{what}, memory -> sink: {:.2} s CPU for {:.2} s wall ({:.2} cores busy): {:.2} GB per CPU-second",
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            cpu.as_secs_f64() / wall.as_secs_f64(),
            bytes as f64 / cpu.as_secs_f64() / 1e9,
        );
    }
    println!("peak RSS during the file-to-file runs: {rss_files} MiB");
    println!(
        "load average at the end: {}",
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
