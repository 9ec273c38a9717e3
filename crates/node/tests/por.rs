//! `POST /api/por/{kind}/{name}`: a node answers proof-of-retrievability challenges about its
//! stored assets; datasets only to their owners and allowed requesters, each answer logged.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::os::unix::fs::PermissionsExt as _;

use axum::http::StatusCode;
use common::{TestNode, key};
use poex_core::{Algorithm, Signer as _};
use poex_por::{Challenge, PorError, Response, check};
use serde_json::Value;

fn data(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

async fn ask(
    t: &TestNode,
    uri: &str,
    signer: Option<&poex_core::keys::SecretKey>,
    c: &Challenge,
) -> (StatusCode, Vec<u8>) {
    let body = serde_json::to_vec(c).unwrap();
    t.call("POST", uri, signer, Some(("application/json", body)))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_proves_it_holds_a_dataset_to_those_allowed_and_logs_it() {
    let t = TestNode::new();
    let friend = key();
    let stranger = key();
    let bytes = data(300_000);
    t.dataset("cohort", &bytes, &[], &[&friend]).await;
    let root = Algorithm::Blake3.hash(&bytes);
    let size = bytes.len() as u64;
    let uri = "/api/por/dataset/cohort";

    for who in [&t.owner, &friend] {
        let c = Challenge::new(root, size, 40).unwrap();
        let (status, body) = ask(&t, uri, Some(who), &c).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        check(&root, size, &c, &Response::from_bytes(&body).unwrap()).unwrap();
    }
    // The outboard the node keeps beside its store.
    let outboard = t
        .home()
        .join("por")
        .join(format!("{}.outboard", root.hex()));
    assert!(outboard.is_file());

    // Anyone else: 403 (signed, no right) or 401 (unsigned), and a logged denial.
    let c = Challenge::new(root, size, 40).unwrap();
    let (status, body) = ask(&t, uri, Some(&stranger), &c).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _) = ask(&t, uri, None, &c).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Each answer is an audit event naming who received how many chunks.
    let (_, audit) = t
        .json("GET", "/api/audit?operation=read-dataset", None, None)
        .await;
    let events: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .filter(|e| {
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("proof of retrievability: 40 chunks"))
        })
        .collect();
    let actors: Vec<&str> = events
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{audit}");
    assert!(actors.contains(&friend.public_key().key_id().to_string().as_str()));
    let (_, denials) = t.json("GET", "/api/audit?operation=deny", None, None).await;
    assert!(
        denials.to_string().contains("/api/por/dataset/cohort"),
        "{denials}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anyone_may_challenge_an_algorithm_and_bad_challenges_are_refused() {
    let t = TestNode::new();
    let script = "echo hello > out/result.txt\n".repeat(200);
    t.algorithm(&t.owner, "hello", &script).await;
    let root = Algorithm::Blake3.hash(script.as_bytes());
    let size = script.len() as u64;
    let uri = "/api/por/algorithm/hello";
    let c = Challenge::new(root, size, 100).unwrap();
    let (status, body) = ask(&t, uri, None, &c).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    check(&root, size, &c, &Response::from_bytes(&body).unwrap()).unwrap();

    // Another root or size than the record's: 409, saying what the record holds.
    let wrong = Challenge::new(Algorithm::Blake3.hash(b"other"), size, 10).unwrap();
    let (status, body) = ask(&t, uri, None, &wrong).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(String::from_utf8_lossy(&body).contains(&root.to_string()));
    // Not JSON, an unknown asset, an unknown kind.
    let (status, _) = t
        .call(
            "POST",
            uri,
            None,
            Some(("application/json", b"{}".to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = ask(&t, "/api/por/algorithm/nope", None, &c).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ask(&t, "/api/por/thing/hello", None, &c).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_whose_stored_dataset_was_altered_fails_and_the_chunks_are_named() {
    let t = TestNode::new();
    let bytes = data(200 * 1024);
    t.dataset("ledger", &bytes, &[], &[]).await;
    let root = Algorithm::Blake3.hash(&bytes);
    let size = bytes.len() as u64;
    let uri = "/api/por/dataset/ledger";
    // First challenge builds the outboard from the intact object.
    let c = Challenge::new(root, size, 10).unwrap();
    let (status, _) = ask(&t, uri, Some(&t.owner), &c).await;
    assert_eq!(status, StatusCode::OK);
    // Then one byte of every 8th chunk changes on disk (bit rot, or a careless edit).
    let object = t.home().join("store/objects").join(root.hex());
    let mut damaged = std::fs::read(&object).unwrap();
    for chunk in (0..200).step_by(8) {
        damaged[chunk * 1024 + 5] ^= 0xff;
    }
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&object, &damaged).unwrap();
    let c = Challenge::new(root, size, 100).unwrap();
    let (status, body) = ask(&t, uri, Some(&t.owner), &c).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the node answers honestly with what it has"
    );
    match check(&root, size, &c, &Response::from_bytes(&body).unwrap()) {
        Err(PorError::Chunks { failed, challenged }) => {
            assert_eq!(challenged, 100);
            let named: Vec<u64> = failed.iter().map(|f| f.index).collect();
            for i in c.indices() {
                if i % 8 == 0 {
                    assert!(
                        named.contains(&i),
                        "altered chunk {i} not named in {named:?}"
                    );
                }
            }
        }
        other => panic!("expected failing chunks, got {other:?}"),
    }
}
