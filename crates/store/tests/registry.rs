//! The write-once registry: create-once, idempotent re-publish, refusal naming both digests,
//! exactly one winner under concurrency, corrupt files named.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected errors, like the tests"
)]

use std::fs;
use std::sync::{Arc, Barrier};

use poex_core::{Algorithm, DigestSet};
use poex_store::hash::Layout;
use poex_store::registry::{Added, AssetKind, Name, Policy, Record, Registry, RegistryError};

fn digests(content: &[u8]) -> DigestSet {
    DigestSet::of([
        Algorithm::Sha256.hash(content),
        Algorithm::Blake3.hash(content),
    ])
}

fn dataset(name: &str, content: &[u8]) -> Record {
    Record {
        kind: AssetKind::Dataset,
        name: Name::new(name).unwrap(),
        digests: digests(content),
        layout: Layout::File,
        size: content.len() as u64,
        file_count: 1,
        published_at: "2025-01-02T03:04:05.5Z".into(),
        publisher: "alice".into(),
        entrypoint: None,
        policy: Some(Policy {
            allowed_algorithms: vec![Algorithm::Sha256.hash(b"algo")],
            allowed_requesters: vec!["bob".into()],
        }),
        sealed: None,
    }
}

fn algorithm(name: &str, content: &[u8]) -> Record {
    Record {
        kind: AssetKind::Algorithm,
        entrypoint: Some(vec!["python3".into(), "main.py".into()]),
        policy: None,
        ..dataset(name, content)
    }
}

#[test]
fn create_once_then_idempotent_then_refused_with_both_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();
    let first = dataset("survey", b"v1");
    assert_eq!(reg.add(&first).unwrap(), Added::Created);
    assert_eq!(
        reg.get(AssetKind::Dataset, &first.name).unwrap(),
        Some(first.clone())
    );
    // Kinds are separate namespaces.
    assert_eq!(reg.get(AssetKind::Algorithm, &first.name).unwrap(), None);

    // Same content again (even with another policy): nothing written, the existing record
    // is returned.
    let mut again = first.clone();
    again.policy = None;
    assert_eq!(
        reg.add(&again).unwrap(),
        Added::AlreadyPresent {
            existing: Box::new(first.clone())
        }
    );

    // Different content: refused, naming both digests.
    let second = dataset("survey", b"v2");
    let err = reg.add(&second).unwrap_err();
    let msg = err.to_string();
    match &err {
        RegistryError::Exists {
            existing,
            attempted,
            name,
            ..
        } => {
            assert_eq!(existing, &first.digests);
            assert_eq!(attempted, &second.digests);
            assert_eq!(name.as_str(), "survey");
        }
        other => panic!("expected Exists, got {other:?}"),
    }
    for d in first.digests.iter().chain(second.digests.iter()) {
        assert!(msg.contains(&d.to_string()), "{msg} lacks {d}");
    }
    // And the original is untouched.
    assert_eq!(
        reg.get(AssetKind::Dataset, &first.name).unwrap(),
        Some(first)
    );
    // No temporary left behind.
    let names: Vec<_> = fs::read_dir(tmp.path().join("datasets"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["survey.json"]);
}

#[test]
fn concurrent_adds_of_one_name_have_exactly_one_winner() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();
    let threads = 8;

    // Different content from each thread: one Created, the rest Exists.
    let barrier = Arc::new(Barrier::new(threads));
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (reg, barrier) = (&reg, barrier.clone());
                s.spawn(move || {
                    let rec = algorithm("contested", format!("content {i}").as_bytes());
                    barrier.wait();
                    reg.add(&rec)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Added::Created)))
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(RegistryError::Exists { .. })))
        .count();
    assert_eq!((created, refused), (1, threads - 1), "{outcomes:?}");

    // Same content from each thread: one Created, the rest AlreadyPresent.
    let barrier = Arc::new(Barrier::new(threads));
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (reg, barrier) = (&reg, barrier.clone());
                s.spawn(move || {
                    let rec = algorithm("shared", b"one content");
                    barrier.wait();
                    reg.add(&rec)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Added::Created)))
        .count();
    let present = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Added::AlreadyPresent { .. })))
        .count();
    assert_eq!((created, present), (1, threads - 1), "{outcomes:?}");
    assert_eq!(reg.list(AssetKind::Algorithm).unwrap().len(), 2);
}

#[test]
fn corrupt_record_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();
    reg.add(&dataset("good", b"g")).unwrap();
    let bad = tmp.path().join("datasets/bad.json");
    fs::write(&bad, "{\"kind\": \"dataset\", \"name\": \"ba").unwrap();

    let name = Name::new("bad").unwrap();
    let err = reg.get(AssetKind::Dataset, &name).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { ref path, .. } if *path == bad));
    assert!(err.to_string().contains("datasets/bad.json"), "{err}");
    // list() does not skip it silently.
    assert!(matches!(
        reg.list(AssetKind::Dataset),
        Err(RegistryError::Corrupt { .. })
    ));
    // Adding under the corrupt name reports the corruption rather than overwriting.
    assert!(matches!(
        reg.add(&dataset("bad", b"b")),
        Err(RegistryError::Corrupt { .. })
    ));

    // A valid record under the wrong file name is corrupt too.
    fs::remove_file(&bad).unwrap();
    fs::copy(tmp.path().join("datasets/good.json"), &bad).unwrap();
    let err = reg.get(AssetKind::Dataset, &name).unwrap_err();
    assert!(err.to_string().contains("holds dataset good"), "{err}");

    // A stray file is named as well.
    fs::remove_file(&bad).unwrap();
    fs::write(tmp.path().join("datasets/notes.txt"), "hi").unwrap();
    let err = reg.list(AssetKind::Dataset).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[test]
fn invalid_records_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();
    let mut no_blake3 = dataset("x", b"x");
    no_blake3.digests = DigestSet::of([Algorithm::Sha256.hash(b"x")]);
    let mut no_entrypoint = algorithm("y", b"y");
    no_entrypoint.entrypoint = Some(vec![]);
    let mut blake3_policy = dataset("z", b"z");
    blake3_policy.policy = Some(Policy {
        allowed_algorithms: vec![Algorithm::Blake3.hash(b"a")],
        allowed_requesters: vec![],
    });
    for rec in [no_blake3, no_entrypoint, blake3_policy] {
        assert!(
            matches!(reg.add(&rec), Err(RegistryError::Invalid { .. })),
            "{}",
            rec.name
        );
    }
    assert!(reg.list(AssetKind::Dataset).unwrap().is_empty());
}

#[test]
fn list_and_policy_helpers() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();
    for n in ["zeta", "alpha", "mid"] {
        reg.add(&dataset(n, n.as_bytes())).unwrap();
    }
    let names: Vec<String> = reg
        .list(AssetKind::Dataset)
        .unwrap()
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);

    let rec = dataset("p", b"p");
    assert!(rec.allows_requester("alice")); // the publisher
    assert!(rec.allows_requester("bob"));
    assert!(!rec.allows_requester("mallory"));
    assert!(rec.allows_algorithm(&Algorithm::Sha256.hash(b"algo")));
    assert!(!rec.allows_algorithm(&Algorithm::Sha256.hash(b"other")));
    let open = Record {
        policy: None,
        ..rec
    };
    assert!(!open.allows_algorithm(&Algorithm::Sha256.hash(b"algo")));
}

#[test]
fn record_json_round_trips() {
    let rec = algorithm("stats", b"code");
    let json = serde_json::to_string_pretty(&rec).unwrap();
    assert!(json.contains("\"kind\": \"algorithm\""), "{json}");
    assert!(json.contains("\"layout\": \"file\""), "{json}");
    assert!(!json.contains("policy"), "{json}");
    let back: Record = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rec);
    let bad = json.replace("\"stats\"", "\"../stats\"");
    assert!(serde_json::from_str::<Record>(&bad).is_err());
}
