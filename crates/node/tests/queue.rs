//! The persistent queue: cancel, fairness limits, and recovery after the node dies.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use axum::http::StatusCode;
use common::{TestNode, key};
use serde_json::{Value, json};

const SLEEP: &str = "sleep 30\n";
const QUICK: &str = "echo ok > /out/ok.txt\n";

async fn verify(t: &TestNode, id: &str) -> Value {
    t.bundle_and_verdict(id).await.1
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_a_running_and_a_queued_job() {
    let mut config = common::config();
    config.max_concurrent_jobs = 1;
    let t = TestNode::with(config);
    let alice = key();
    let slow = t.algorithm(&alice, "slow.sh", SLEEP).await;
    let ds = t.dataset("d", b"x", &[&slow], &[&alice]).await;
    let (_, first) = t.submit(&alice, &slow, &[&ds], None).await;
    let first = first["id"].as_str().unwrap().to_owned();
    t.wait(&first, |s| s == "running").await;
    let (s, second) = t.submit(&alice, &slow, &[&ds], None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let second = second["id"].as_str().unwrap().to_owned();
    assert_eq!(t.wait(&second, |_| true).await["state"], "queued");

    // Someone else may not cancel.
    let (s, v) = t
        .json(
            "POST",
            &format!("/api/jobs/{second}/cancel"),
            Some(&key()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // The queued one ends at once, with a receipt that verifies.
    let (s, v) = t
        .json(
            "POST",
            &format!("/api/jobs/{second}/cancel"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["state"], "cancelled", "{v}");
    let verdict = verify(&t, &second).await;
    assert_eq!(verdict["ok"], true, "{verdict}");

    // The running one: its sandbox is killed.
    let (s, v) = t
        .json(
            "POST",
            &format!("/api/jobs/{first}/cancel"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let done = t.wait(&first, |s| s != "running").await;
    assert_eq!(done["state"], "cancelled", "{done}");
    assert_eq!(verify(&t, &first).await["ok"], true);
    // Cancelling again is a conflict, not a second receipt.
    let (s, _) = t
        .json(
            "POST",
            &format!("/api/jobs/{first}/cancel"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        t.audit("operation=cancel").await.len(),
        3,
        "two cancels and the end of the queued one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requester_cannot_flood_the_queue() {
    let mut config = common::config();
    config.max_queued_per_requester = 2;
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, config);
    let (alice, bob) = (key(), key());
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice, &bob]).await;
    for _ in 0..2 {
        assert_eq!(
            t.submit(&alice, &alg, &[&ds], None).await.0,
            StatusCode::ACCEPTED
        );
    }
    let (s, v) = t.submit(&alice, &alg, &[&ds], None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    // Another requester still gets in.
    assert_eq!(
        t.submit(&bob, &alg, &[&ds], None).await.0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_survive_a_node_that_dies() {
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let root = dir.path().to_owned();
    let t = TestNode::open_idle(dir, common::config());
    let alice = key();
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let (_, a) = t.submit(&alice, &alg, &[&ds], None).await;
    let (_, b) = t.submit(&alice, &alg, &[&ds], None).await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    );
    // The node dies while `a` runs: its queue file says running, its folder holds a partial
    // result. (A real kill -9 of `poex node` is in crates/cli/tests/node.rs.)
    let file = root.join("queue").join(format!("{a}.json"));
    let mut record: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    record["state"] = json!("running");
    std::fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
    std::fs::create_dir_all(root.join("jobs").join(&a).join("results")).unwrap();
    std::fs::write(root.join("jobs").join(&a).join("results/half.txt"), "half").unwrap();
    let TestNode { dir, node, app, .. } = t;
    drop(app);
    drop(node);

    let t = TestNode::open(dir, common::config());
    let ended = t.wait(&a, |s| s != "running").await;
    assert_eq!(ended["state"], "interrupted", "{ended}");
    let verdict = verify(&t, &a).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let (_, receipt) = t
        .json("GET", &format!("/api/jobs/{a}/receipt"), None, None)
        .await;
    assert!(receipt["payload"].is_string());
    // The queued job was not lost: it runs now.
    let done = t.wait(&b, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn requesters_take_turns() {
    let mut config = common::config();
    config.max_concurrent_jobs = 1;
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, config);
    let (alice, bob) = (key(), key());
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice, &bob]).await;
    let mut ids = Vec::new();
    for who in [&alice, &alice, &alice, &bob] {
        let (s, v) = t.submit(who, &alg, &[&ds], None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    poex_node::start_workers(&t.node).unwrap();
    let mut started = Vec::new();
    for id in &ids {
        let v = t.wait(id, |s| s == "succeeded").await;
        started.push((v["startedAt"].as_str().unwrap().to_owned(), id.clone()));
    }
    started.sort();
    let order: Vec<&str> = started.iter().map(|(_, id)| id.as_str()).collect();
    // Bob's one job runs second, not after all of alice's.
    assert_eq!(order, [&ids[0], &ids[3], &ids[1], &ids[2]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn owners_register_files_by_path_only_under_import_roots() {
    let roots = tempfile::tempdir().unwrap();
    let allowed = roots.path().join("shared");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(allowed.join("cohort.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(roots.path().join("private.csv"), "secret\n").unwrap();
    let mut config = common::config();
    config.import_roots = vec![allowed.clone()];
    let t = TestNode::with(config);
    let publish = |path: std::path::PathBuf, name: &str| json!({"kind": "dataset", "name": name, "path": path});
    let (s, v) = t
        .json(
            "POST",
            "/api/assets",
            Some(&t.owner),
            Some(publish(allowed.join("cohort.csv"), "cohort")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Outside the roots, directly or through '..'.
    for (path, name) in [
        (roots.path().join("private.csv"), "p1"),
        (allowed.join("../private.csv"), "p2"),
    ] {
        let (s, v) = t
            .json(
                "POST",
                "/api/assets",
                Some(&t.owner),
                Some(publish(path, name)),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        assert!(v["message"].as_str().unwrap().contains("outside"), "{v}");
    }
    // Not an owner.
    let (s, _) = t
        .json(
            "POST",
            "/api/assets",
            Some(&key()),
            Some(publish(allowed.join("cohort.csv"), "c2")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_waits_too_long_expires_with_a_receipt() {
    let mut config = common::config();
    config.queue_timeout_secs = 1;
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, config);
    let alice = key();
    let alg = t.algorithm(&alice, "q.sh", QUICK).await;
    let ds = t.dataset("d", b"x", &[&alg], &[&alice]).await;
    let (_, v) = t.submit(&alice, &alg, &[&ds], None).await;
    let id = v["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    poex_node::start_workers(&t.node).unwrap();
    let done = t.wait(&id, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "expired", "{done}");
    assert!(
        done["reason"]
            .as_str()
            .unwrap()
            .contains("waited in the queue"),
        "{done}"
    );
    assert_eq!(verify(&t, &id).await["ok"], true);
    // Nothing ran: no result was written.
    assert!(
        !t.home()
            .join("jobs")
            .join(&id)
            .join("results/ok.txt")
            .exists()
    );
}
