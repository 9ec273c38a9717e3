//! Grants by Umbral proxy re-encryption: what each step costs the owner, a proxy and the
//! validator.
//!
//! ```text
//! cargo bench -p poex-grant --bench grant
//! POEX_BENCH_ROUNDS=20 cargo bench -p poex-grant --bench grant
//! ```
//!
//! Everything is in memory (no files): this measures the cryptography. Each figure is the
//! median of `POEX_BENCH_ROUNDS` rounds (default 50), in microseconds per operation.
//! "wrap" is what sealing a log adds for the `-> umbral` stanza; "grant" makes all `n` key
//! fragments and signs the grant; "kfrag check" and "re-encrypt" are one proxy's work for one
//! log; "cfrag check" is the validator's check of one fragment; "open" combines `m` checked
//! fragments and decrypts the file key. The size columns are the files each step writes.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark binary: any error is fatal and printed"
)]

use std::time::{Duration, Instant};

use poex_grant::{self as grant, CapsuleFragment, Identity, KeyFragment, WrappedKey};

const NOW: &str = "2026-11-21T20:00:00Z";

fn rounds() -> usize {
    std::env::var("POEX_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(50)
}

/// Median time of `f` over `rounds` runs, in microseconds.
fn median_us<T>(rounds: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}

fn main() {
    let rounds = rounds();
    let owner = Identity::generate().unwrap();
    let validator = Identity::generate().unwrap();
    let owner_pk = owner.public();
    let validator_pk = validator.public();
    let file_key = poex_seal::FileKey::from_bytes([7; 32]);

    println!("poex-grant bench: median of {rounds} rounds, microseconds per operation");
    println!();
    let wrap = median_us(rounds, || WrappedKey::new(&owner_pk, &file_key).unwrap());
    let wrapped = WrappedKey::new(&owner_pk, &file_key).unwrap();
    let open_owner = median_us(rounds, || wrapped.open(&owner).unwrap());
    println!("| operation | µs |");
    println!("|---|---:|");
    println!("| wrap the file key (the `-> umbral` stanza, at seal time) | {wrap:.0} |");
    println!("| owner opens its own capsule | {open_owner:.0} |");
    // What the stanza adds to a sealed file: the same file sealed with and without it.
    let requester = poex_seal::Identity::generate().unwrap();
    let mut without = Vec::new();
    poex_seal::encrypt(&[requester.recipient()], &b"x"[..], &mut without).unwrap();
    let mut with = Vec::new();
    let both: [&dyn poex_seal::Wrap; 2] = [&requester.recipient(), &owner_pk];
    poex_seal::encrypt_to(&both, &b"x"[..], &mut with).unwrap();
    println!(
        "| bytes the stanza adds to a sealed file | {} B |",
        with.len() - without.len()
    );
    println!();

    println!(
        "| m of n | grant (all n kfrags) | per kfrag | kfrag check (proxy) | re-encrypt (proxy) | cfrag check (validator, each) | open with m cfrags | validator total | kfrag file | cfrag file |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (m, n) in [(2, 3), (3, 5), (6, 10)] {
        let g = median_us(rounds, || {
            grant::grant(&owner, &validator_pk, m, n, NOW).unwrap()
        });
        let made = grant::grant(&owner, &validator_pk, m, n, NOW).unwrap();
        let kfrag_text = made.kfrags[0].to_text();
        let check_kfrag = median_us(rounds, || {
            KeyFragment::parse(&kfrag_text)
                .unwrap()
                .verify(Some(&owner_pk))
                .unwrap()
        });
        let verified: Vec<_> = made
            .kfrags
            .iter()
            .map(|k| k.clone().verify(Some(&owner_pk)).unwrap())
            .collect();
        let reencrypt = median_us(rounds, || verified[0].reencrypt(wrapped.capsule()));
        let cfrags: Vec<CapsuleFragment> = verified[..m]
            .iter()
            .map(|k| k.reencrypt(wrapped.capsule()))
            .collect();
        let cfrag_text = cfrags[0].to_text();
        let check_cfrag = median_us(rounds, || {
            CapsuleFragment::parse(&cfrag_text)
                .unwrap()
                .verify(&wrapped, &validator_pk, Some(&owner_pk))
                .unwrap()
        });
        let checked: Vec<_> = cfrags
            .iter()
            .map(|c| {
                c.clone()
                    .verify(&wrapped, &validator_pk, Some(&owner_pk))
                    .unwrap()
            })
            .collect();
        let open = median_us(rounds, || {
            wrapped
                .open_reencrypted(&validator, checked.clone())
                .unwrap()
        });
        println!(
            "| {m} of {n} | {g:.0} | {:.0} | {check_kfrag:.0} | {reencrypt:.0} | {check_cfrag:.0} | {open:.0} | {:.0} | {} B | {} B |",
            g / n as f64,
            check_cfrag * m as f64 + open,
            kfrag_text.len(),
            cfrag_text.len(),
        );
    }
}
