//! Proof-of-retrievability cost on a large file: outboard creation, respond, check, size.
//!
//! ```text
//! cargo bench -p poex-por --bench por                     # 1 GiB file
//! POEX_POR_BENCH_MIB=64 cargo bench -p poex-por --bench por
//! ```
//!
//! The file (pseudo-random bytes) is written under the system temp directory and deleted at
//! the end; the page cache is warm, so reads are memory copies, not disk seeks. Each timed
//! figure over challenges is the median (and 99th percentile) of 200 fresh challenges; the
//! outboard figures are the best of three.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark binary: any error is fatal and printed"
)]

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::time::{Duration, Instant};

use poex_core::{Algorithm, Digest};
use poex_por::tree::{self, CHUNK_LEN, GROUP_LEN, Node};
use poex_por::{Challenge, Outboard, check, detect, respond, respond_file};

const CHALLENGES: u64 = 200;
const K: u32 = 100;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.unwrap())
}

fn stats(mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    (d[d.len() / 2], d[d.len() * 99 / 100])
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn nonce(i: u64) -> [u8; 32] {
    *blake3::hash(&i.to_le_bytes()).as_bytes()
}

/// How many CVs a proof needs for `indices` of an `n`-leaf tree: every sibling of every path
/// (what poex sends, so each chunk is checked alone), and only the siblings that hold no
/// challenged leaf (the least a shared multiproof can send).
fn cv_counts(indices: &[u64], n: u64) -> (usize, usize) {
    let all = tree::siblings(indices, n);
    let holds = |node: &Node| {
        let at = indices.partition_point(|&i| i < node.start);
        indices.get(at).is_some_and(|&i| i < node.end)
    };
    let minimal = all.iter().filter(|node| !holds(node)).count();
    (all.len(), minimal)
}

fn main() {
    let mib: u64 = std::env::var("POEX_POR_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let size = mib << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    {
        let mut f = File::create(&path).unwrap();
        let mut state = 1u64;
        let mut buf = vec![0u8; 4 << 20];
        let mut left = size;
        while left > 0 {
            for word in buf.chunks_exact_mut(8) {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
            }
            let n = left.min(buf.len() as u64) as usize;
            f.write_all(&buf[..n]).unwrap();
            left -= n as u64;
        }
        f.sync_all().unwrap();
    }
    let file = File::open(&path).unwrap();
    println!("poex-por bench: {mib} MiB file, k = {K}, {CHALLENGES} challenges, warm page cache");

    // Reference: plain blake3 of the file with the same read size, both cores.
    let (plain_hash, digest) = best(3, || {
        let mut f = File::open(&path).unwrap();
        let mut h = blake3::Hasher::new();
        let mut buf = vec![0u8; 4 << 20];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break h.finalize();
            }
            h.update_rayon(&buf[..n]);
        }
    });
    let (create, outboard) = best(3, || Outboard::create(&file).unwrap());
    assert_eq!(outboard.root(), digest);
    let root = Digest::new(Algorithm::Blake3, *digest.as_bytes());
    let ob_path = dir.path().join("data.outboard");
    outboard.save(&ob_path).unwrap();
    let ob_len = std::fs::metadata(&ob_path).unwrap().len();
    let (load, _) = best(3, || Outboard::load(&ob_path).unwrap());
    println!(
        "| outboard create (read + hash, 2 cores) | {} |",
        ms(create)
    );
    println!(
        "| plain blake3 of the file (reference)    | {} |",
        ms(plain_hash)
    );
    println!(
        "| outboard size                          | {ob_len} B ({:.3} % of the file) |",
        ob_len as f64 * 100.0 / size as f64
    );
    println!("| outboard load from disk                | {} |", ms(load));

    let mut t_respond = Vec::new();
    let mut t_respond_file = Vec::new();
    let mut t_check = Vec::new();
    let mut t_plain_chunks = Vec::new();
    let mut t_plain_groups = Vec::new();
    let mut sizes = Vec::new();
    let mut cvs = Vec::new();
    let mut minimal = Vec::new();
    let mut fine = Vec::new();
    let mut chunk = vec![0u8; CHUNK_LEN as usize];
    let mut group = vec![0u8; GROUP_LEN as usize];
    for i in 0..CHALLENGES {
        let c = Challenge::with_nonce(root, size, K, nonce(i)).unwrap();
        let idx = c.indices();
        // The same 100 chunks read plainly, 1 KiB each and then their 16 KiB groups.
        let t = Instant::now();
        for &j in &idx {
            file.read_exact_at(&mut chunk, j * CHUNK_LEN).unwrap();
        }
        t_plain_chunks.push(t.elapsed());
        let t = Instant::now();
        for &j in &idx {
            let g = j / 16 * GROUP_LEN;
            let len = GROUP_LEN.min(size - g) as usize;
            file.read_exact_at(&mut group[..len], g).unwrap();
        }
        t_plain_groups.push(t.elapsed());
        let t = Instant::now();
        let r = respond(&file, Some(&outboard), &c).unwrap();
        t_respond.push(t.elapsed());
        let t = Instant::now();
        let a = respond_file(&path, Some(&ob_path), &c).unwrap();
        t_respond_file.push(t.elapsed());
        assert!(!a.outboard_built);
        let bytes = r.to_bytes();
        let t = Instant::now();
        let parsed = poex_por::Response::from_bytes(&bytes).unwrap();
        check(&root, size, &c, &parsed).unwrap();
        t_check.push(t.elapsed());
        sizes.push(bytes.len());
        cvs.push(r.cv_count());
        let (_, min) = cv_counts(&idx, tree::chunk_count(size));
        minimal.push(88 + r.data_len() + 32 * min);
        // The same k over 64-byte leaves (a separate commitment, not the blake3 root).
        let leaves = size / 64;
        let c64 = Challenge::with_nonce(root, leaves * 1024, K, nonce(i)).unwrap();
        let (all64, min64) = cv_counts(&c64.indices(), leaves);
        fine.push((
            88 + 64 * K as usize + 32 * all64,
            88 + 64 * K as usize + 32 * min64,
        ));
    }
    let (rm, rp) = stats(t_respond);
    let (fm, fp) = stats(t_respond_file);
    let (cm, cp) = stats(t_check);
    let (pm, pp) = stats(t_plain_chunks);
    let (gm, gp) = stats(t_plain_groups);
    println!(
        "| respond, outboard in memory (median, p99)     | {} | {} |",
        ms(rm),
        ms(rp)
    );
    println!(
        "| respond_file: open, load outboard, respond, self-check | {} | {} |",
        ms(fm),
        ms(fp)
    );
    println!(
        "| check (parse + verify)                        | {} | {} |",
        ms(cm),
        ms(cp)
    );
    println!(
        "| plain pread of the same 100 chunks (1 KiB)    | {} | {} |",
        ms(pm),
        ms(pp)
    );
    println!(
        "| plain pread of their 100 groups (16 KiB)      | {} | {} |",
        ms(gm),
        ms(gp)
    );
    println!(
        "| respond / plain chunk reads                   | {:.1}x |",
        rm.as_secs_f64() / pm.as_secs_f64()
    );
    sizes.sort_unstable();
    cvs.sort_unstable();
    minimal.sort_unstable();
    let med = |v: &[usize]| v[v.len() / 2];
    println!(
        "| response size (median; min..max)              | {} B = {:.1} KiB ({}..{}) |",
        med(&sizes),
        med(&sizes) as f64 / 1024.0,
        sizes[0],
        sizes[sizes.len() - 1]
    );
    println!(
        "|   of which chunk data {} B, CVs {} x 32 B      |",
        K as u64 * CHUNK_LEN,
        med(&cvs)
    );
    println!(
        "| minimal shared multiproof, same chunks        | {} B = {:.1} KiB (cannot name the failing chunk) |",
        med(&minimal),
        med(&minimal) as f64 / 1024.0
    );
    let mut f_all: Vec<usize> = fine.iter().map(|f| f.0).collect();
    let mut f_min: Vec<usize> = fine.iter().map(|f| f.1).collect();
    f_all.sort_unstable();
    f_min.sort_unstable();
    println!(
        "| 64-byte leaves (another commitment), per-chunk paths / minimal | {:.1} KiB / {:.1} KiB |",
        med(&f_all) as f64 / 1024.0,
        med(&f_min) as f64 / 1024.0
    );
    println!("\nresponse size and detection by k ({mib} MiB, 1 % and 0.1 % of chunks damaged):");
    let n = tree::chunk_count(size);
    for k in [10u32, 40, 100, 300, 460, 1000] {
        let c = Challenge::with_nonce(root, size, k, nonce(7)).unwrap();
        let r = respond(&file, Some(&outboard), &c).unwrap();
        println!(
            "| k = {k:4} | {:8} B = {:7.1} KiB | {:.1} B per chunk | P(1 %) {:.4} | P(0.1 %) {:.4} |",
            r.encoded_len(),
            r.encoded_len() as f64 / 1024.0,
            r.encoded_len() as f64 / f64::from(k),
            detect::exact(n, n / 100, u64::from(k)),
            detect::exact(n, n / 1000, u64::from(k)),
        );
    }
}
