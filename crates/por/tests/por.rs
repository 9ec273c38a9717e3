//! Proofs of retrievability end to end: honest holders pass; holders that lost or altered
//! data, replay old answers, or tamper with proofs are caught, at the documented rate.

// unwrap in #[test] functions is allowed by clippy.toml (allow-unwrap-in-tests).

use poex_core::{Algorithm, Digest};
use poex_por::tree::{CHUNK_LEN, chunk_count};
use poex_por::{Challenge, Outboard, PorError, Response, check, detect, respond, respond_file};

/// Deterministic pseudo-random bytes (SplitMix64).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The i-th seeded nonce of a test, so every run draws the same chunks (no flaky rates).
fn nonce(test: &str, i: u64) -> [u8; 32] {
    *blake3::Hasher::new()
        .update(test.as_bytes())
        .update(&i.to_le_bytes())
        .finalize()
        .as_bytes()
}

fn root_of(file: &[u8]) -> Digest {
    Algorithm::Blake3.hash(file)
}

fn failed_indices(err: &PorError) -> Vec<u64> {
    match err {
        PorError::Chunks { failed, .. } => failed.iter().map(|f| f.index).collect(),
        other => panic!("expected failed chunks, got {other}"),
    }
}

#[test]
fn an_honest_holder_passes_for_every_shape_of_file() {
    // Empty, one short chunk, exactly one chunk, within one group, group edges, uneven tails.
    for size in [
        0usize,
        1,
        1024,
        1025,
        5000,
        16 * 1024,
        16 * 1024 + 1,
        33 * 1024 - 5,
        300_000,
        1 << 20,
    ] {
        let file = bytes(size, size as u64);
        let root = root_of(&file);
        let outboard = Outboard::create(&file[..]).unwrap();
        for k in [1, 3, 16, 100] {
            let c =
                Challenge::with_nonce(root, size as u64, k, nonce("honest", size as u64)).unwrap();
            let r = respond(&file[..], Some(&outboard), &c).unwrap();
            let parsed = Response::from_bytes(&r.to_bytes()).unwrap();
            assert_eq!(parsed, r);
            check(&root, size as u64, &c, &parsed)
                .unwrap_or_else(|e| panic!("size {size} k {k}: {e}"));
            // Without an outboard the holder builds one: same answer.
            assert_eq!(respond(&file[..], None, &c).unwrap(), r);
            let want = u64::from(k).min(chunk_count(size as u64));
            assert_eq!(u64::from(r.chunk_count()), want);
        }
    }
}

#[test]
fn indices_are_distinct_uniform_and_fixed_by_the_nonce() {
    let root = root_of(b"x");
    let size = 1000 * CHUNK_LEN;
    let mut hits = vec![0u32; 1000];
    for i in 0..2000 {
        let c = Challenge::with_nonce(root, size, 50, nonce("uniform", i)).unwrap();
        let idx = c.indices();
        assert_eq!(idx.len(), 50);
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert_eq!(idx, c.indices(), "deterministic");
        for j in idx {
            hits[j as usize] += 1;
        }
    }
    // 100,000 draws over 1000 chunks: 100 each on average, sd 10.
    let (min, max) = (hits.iter().min().unwrap(), hits.iter().max().unwrap());
    assert!(*min > 50 && *max < 150, "min {min} max {max}");
    let other = Challenge::with_nonce(root, size, 50, nonce("uniform", 9999)).unwrap();
    let first = Challenge::with_nonce(root, size, 50, nonce("uniform", 0)).unwrap();
    assert_ne!(other.indices(), first.indices());
}

/// The test: a holder that lost or altered 1 % of a file's chunks is caught at the
/// documented rate. 2000 challenges of k = 100 on a 10,000-chunk file with 100 altered
/// chunks, seeded, so the count is the same on every run.
///
/// The holder is the best cheater there is: it keeps every CV of the tree (so no proof value
/// betrays it) and all data but the altered chunks; it is caught exactly when a challenge
/// draws an altered chunk: probability 1 - C(9900, 100) / C(10000, 100) = 0.6358 (the
/// with-replacement figure 1 - 0.99^100 = 0.6340). The check must also name exactly the
/// altered chunks it drew.
#[test]
fn a_holder_that_altered_one_percent_is_caught_at_the_documented_rate() {
    const N: u64 = 10_000;
    const BAD: u64 = 100;
    const TRIALS: u64 = 2000;
    const K: u32 = 100;
    let file = bytes((N * CHUNK_LEN) as usize, 7);
    let root = root_of(&file);
    let size = file.len() as u64;
    let outboard = Outboard::create(&file[..]).unwrap();
    // Alter 100 chunks chosen by a seeded draw (the challenge sampler is a fine one).
    let altered = Challenge::with_nonce(root, size, BAD as u32, nonce("altered", 0))
        .unwrap()
        .indices();
    let mut damaged = file.clone();
    for &i in &altered {
        damaged[(i * CHUNK_LEN + 17) as usize] ^= 0x5a;
    }
    let mut caught = 0u64;
    for t in 0..TRIALS {
        let c = Challenge::with_nonce(root, size, K, nonce("one-percent", t)).unwrap();
        // The best cheater: honest proof values, the damaged bytes where it has nothing else.
        let honest = respond(&file[..], Some(&outboard), &c).unwrap().to_bytes();
        let mut cheat = honest.clone();
        let drawn: Vec<u64> = c.indices();
        for (slot, &i) in drawn.iter().enumerate() {
            if altered.binary_search(&i).is_ok() {
                let at = 88 + slot * CHUNK_LEN as usize;
                let from = (i * CHUNK_LEN) as usize;
                cheat[at..at + CHUNK_LEN as usize]
                    .copy_from_slice(&damaged[from..from + CHUNK_LEN as usize]);
            }
        }
        let expected_failures: Vec<u64> = drawn
            .iter()
            .copied()
            .filter(|i| altered.binary_search(i).is_ok())
            .collect();
        match check(&root, size, &c, &Response::from_bytes(&cheat).unwrap()) {
            Ok(()) => assert!(expected_failures.is_empty(), "trial {t} passed a bad chunk"),
            Err(e) => {
                assert_eq!(failed_indices(&e), expected_failures, "trial {t}");
                caught += 1;
            }
        }
    }
    let rate = caught as f64 / TRIALS as f64;
    let expected = detect::exact(N, BAD, u64::from(K));
    let sd = (expected * (1.0 - expected) / TRIALS as f64).sqrt();
    assert!((expected - 0.6358).abs() < 5e-4, "{expected}");
    assert!(
        (rate - expected).abs() < 4.0 * sd,
        "caught {caught} of {TRIALS} ({rate:.4}); documented {expected:.4} +- {:.4}",
        4.0 * sd
    );
    // The count this seeded run gives, so a change of sampler or check shows up here.
    eprintln!("caught {caught} of {TRIALS} = {rate:.4}, documented {expected:.4} (sd {sd:.4})");
}

#[test]
fn a_holder_answering_from_its_damaged_copy_is_caught_more_often() {
    // A real damaged disk, not the ideal cheater: the holder answers from its bytes with the
    // outboard it built before the damage. CVs inside a challenged chunk's 16 KiB group come
    // from the damaged bytes too, so damage anywhere in the group fails the chunk.
    const N: u64 = 10_000;
    let file = bytes((N * CHUNK_LEN) as usize, 8);
    let root = root_of(&file);
    let size = file.len() as u64;
    let outboard = Outboard::create(&file[..]).unwrap();
    let altered = Challenge::with_nonce(root, size, 100, nonce("disk", 0))
        .unwrap()
        .indices();
    let mut damaged = file.clone();
    for &i in &altered {
        damaged[(i * CHUNK_LEN) as usize] ^= 1;
    }
    let mut caught = 0;
    for t in 0..200 {
        let c = Challenge::with_nonce(root, size, 100, nonce("disk", t + 1)).unwrap();
        let r = respond(&damaged[..], Some(&outboard), &c).unwrap();
        if let Err(e) = check(&root, size, &c, &r) {
            // Every altered chunk drawn is among those named.
            let named = failed_indices(&e);
            for i in c.indices() {
                if altered.binary_search(&i).is_ok() {
                    assert!(named.contains(&i));
                }
            }
            caught += 1;
        }
    }
    assert!(caught >= 190, "caught {caught} of 200");
}

#[test]
fn a_lost_tail_is_caught() {
    let file = bytes(2_000 * 1024 + 100, 9);
    let root = root_of(&file);
    let size = file.len() as u64;
    let outboard = Outboard::create(&file[..]).unwrap();
    // The holder kept the first 90 % and pads the rest with zeros to answer at all.
    let kept = file.len() * 9 / 10;
    let mut truncated = file[..kept].to_vec();
    let c = Challenge::with_nonce(root, size, 100, nonce("tail", 0)).unwrap();
    let err = respond(&truncated[..], Some(&outboard), &c).unwrap_err();
    assert!(err.to_string().contains("lost its tail"), "{err}");
    truncated.resize(file.len(), 0);
    let r = respond(&truncated[..], Some(&outboard), &c).unwrap();
    let named = failed_indices(&check(&root, size, &c, &r).unwrap_err());
    let first_lost = kept as u64 / CHUNK_LEN;
    let drawn_lost: Vec<u64> = c
        .indices()
        .into_iter()
        .filter(|&i| i >= first_lost)
        .collect();
    assert!(!drawn_lost.is_empty());
    for i in drawn_lost {
        assert!(
            named.contains(&i),
            "chunk {i} of the lost tail not named: {named:?}"
        );
    }
}

#[test]
fn the_wrong_root_or_size_fails() {
    let file = bytes(100_000, 10);
    let root = root_of(&file);
    let size = file.len() as u64;
    let c = Challenge::with_nonce(root, size, 10, nonce("root", 0)).unwrap();
    let r = respond(&file[..], None, &c).unwrap();
    let other = root_of(b"another file");
    assert!(matches!(
        check(&other, size, &c, &r),
        Err(PorError::ChallengeMismatch { .. })
    ));
    // A challenge about another root: the holder's file is not it.
    let c2 = Challenge::with_nonce(other, size, 10, nonce("root", 1)).unwrap();
    assert!(respond(&file[..], None, &c2).is_err());
    // Forged: the response re-labelled with the other root fails on every chunk.
    let mut forged = r.to_bytes();
    forged[40..72].copy_from_slice(other.as_bytes());
    forged[8..40].copy_from_slice(c2.nonce());
    let e = check(&other, size, &c2, &Response::from_bytes(&forged).unwrap()).unwrap_err();
    assert!(
        matches!(e, PorError::Chunks { .. } | PorError::Malformed(_)),
        "{e}"
    );
    // A sha256 root is refused.
    let sha = Algorithm::Sha256.hash(&file);
    assert!(matches!(
        Challenge::with_nonce(sha, size, 10, [0; 32]),
        Err(PorError::NotBlake3 { .. })
    ));
}

#[test]
fn tampered_proof_bytes_fail_and_name_the_chunk() {
    let file = bytes(3 << 20, 11);
    let root = root_of(&file);
    let size = file.len() as u64;
    let c = Challenge::with_nonce(root, size, 100, nonce("tamper", 0)).unwrap();
    let good = respond(&file[..], None, &c).unwrap().to_bytes();
    let indices = c.indices();
    // A flipped bit in the 7th chunk's data names that chunk alone.
    let mut bad = good.clone();
    bad[88 + 6 * 1024 + 500] ^= 0x80;
    let named =
        failed_indices(&check(&root, size, &c, &Response::from_bytes(&bad).unwrap()).unwrap_err());
    assert_eq!(named, vec![indices[6]]);
    // A flipped bit in any CV fails at least one chunk, whichever CV it is.
    let cvs_at = 88 + 100 * 1024;
    for cv in (0..(good.len() - cvs_at) / 32).step_by(7) {
        let mut bad = good.clone();
        bad[cvs_at + 32 * cv + 3] ^= 1;
        let e = check(&root, size, &c, &Response::from_bytes(&bad).unwrap()).unwrap_err();
        assert!(!failed_indices(&e).is_empty());
    }
    // Cut short, or with a CV missing: malformed, not accepted.
    for cut in [1, 32, 1024, good.len() - 90] {
        let short = &good[..good.len() - cut];
        match Response::from_bytes(short) {
            Ok(r) => assert!(check(&root, size, &c, &r).is_err()),
            Err(PorError::Malformed(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn an_old_response_does_not_answer_a_new_nonce() {
    let file = bytes(1 << 20, 12);
    let root = root_of(&file);
    let size = file.len() as u64;
    let old = Challenge::with_nonce(root, size, 100, nonce("replay", 0)).unwrap();
    let new = Challenge::with_nonce(root, size, 100, nonce("replay", 1)).unwrap();
    let answer = respond(&file[..], None, &old).unwrap();
    check(&root, size, &old, &answer).unwrap();
    assert!(matches!(
        check(&root, size, &new, &answer),
        Err(PorError::WrongNonce { .. })
    ));
    // Re-labelled with the new nonce it is still the old chunks: they fail at the new indices.
    let mut relabelled = answer.to_bytes();
    relabelled[8..40].copy_from_slice(new.nonce());
    let e = check(
        &root,
        size,
        &new,
        &Response::from_bytes(&relabelled).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(e, PorError::Chunks { .. } | PorError::Malformed(_)),
        "{e}"
    );
}

#[test]
fn challenges_round_trip_as_json_and_bad_ones_are_refused() {
    let root = root_of(b"data");
    let c = Challenge::new(root, 12345, 100).unwrap();
    let json = c.to_json();
    assert!(
        json.contains("\"type\": \"poex.por.challenge/v1\""),
        "{json}"
    );
    assert_eq!(Challenge::from_json(json.as_bytes()).unwrap(), c);
    assert_ne!(Challenge::new(root, 12345, 100).unwrap().nonce(), c.nonce());
    for bad in [
        json.replace("\"k\": 100", "\"k\": 0"),
        json.replace("\"k\": 100", "\"k\": 5000"),
        json.replace("poex.por.challenge/v1", "other"),
        json.replace(&hex::encode(c.nonce()), "00"),
        json.replace("blake3:", "sha256:"),
    ] {
        assert!(Challenge::from_json(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn respond_file_keeps_an_outboard_and_repairs_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    let file = bytes(700_000, 13);
    std::fs::write(&path, &file).unwrap();
    let root = root_of(&file);
    let size = file.len() as u64;
    let ob_path = dir.path().join("data.outboard");
    let c = Challenge::with_nonce(root, size, 30, nonce("file", 0)).unwrap();
    let first = respond_file(&path, Some(&ob_path), &c).unwrap();
    assert!(first.outboard_built);
    first.self_check.unwrap();
    let again = respond_file(&path, Some(&ob_path), &c).unwrap();
    assert!(!again.outboard_built);
    assert_eq!(again.response, first.response);
    // Damage a CV deep in the stored outboard (the header check cannot see it): the self-check
    // fails, the outboard is rebuilt, and the answer is good.
    let mut ob = std::fs::read(&ob_path).unwrap();
    for at in (56..ob.len() - 64).step_by(32) {
        ob[at] ^= 1;
    }
    std::fs::write(&ob_path, &ob).unwrap();
    let repaired = respond_file(&path, Some(&ob_path), &c).unwrap();
    assert!(repaired.outboard_built);
    repaired.self_check.unwrap();
    assert_eq!(
        std::fs::read(&ob_path).unwrap(),
        Outboard::create(&file[..]).unwrap().to_bytes()
    );
    // Damage the file itself: the holder's own check says so, naming the chunk.
    let victim = c.indices()[3];
    let mut damaged = file.clone();
    damaged[(victim * CHUNK_LEN) as usize] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    let honest = respond_file(&path, Some(&ob_path), &c).unwrap();
    assert!(failed_indices(&honest.self_check.unwrap_err()).contains(&victim));
    // The wrong size is refused before reading anything.
    std::fs::write(&path, &file[..1000]).unwrap();
    assert!(respond_file(&path, Some(&ob_path), &c).is_err());
}
