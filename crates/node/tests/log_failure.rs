//! A log write that fails (here, as found under 20,000 idle connections: the process is out
//! of file descriptors) no longer leaves the node broken until a restart: while the log
//! cannot be written `/healthz` says `unhealthy` (503) and work that would write it gets 503
//! with `Retry-After`; once descriptors are free again the node reopens its log writer by
//! itself, a job caught in the middle still ends with a receipt, and the log validates.
//!
//! Its own test binary: it lowers the open-file limit of the whole process (`prlimit`, as a
//! process runs out of descriptors for real) and must not share it with other tests.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{TestNode, key};
use serde_json::json;

/// Sets this process's open-file limit (soft and hard) with util-linux's `prlimit`.
fn set_nofile(soft: u64, hard: u64) {
    let pid = std::process::id().to_string();
    let status = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={soft}:{hard}")])
        .status()
        .expect("prlimit (util-linux) is needed to lower the open-file limit");
    assert!(status.success());
}

fn nofile() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut v = line.split_whitespace().skip(3);
    let soft = v.next().unwrap().parse().unwrap();
    let hard = v.next().unwrap().parse().unwrap_or(u64::MAX);
    (soft, hard)
}

/// Opens `/dev/null` until the process has no descriptor left; dropping them frees them.
fn exhaust() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(24), "EMFILE expected: {e}");
                return held;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_log_write_is_reported_refused_and_recovered() {
    let t = TestNode::new();
    let alice = key();
    let slow = t
        .algorithm(&alice, "slow.sh", "sleep 5\necho done > /out/done.txt\n")
        .await;
    let quick = t.algorithm(&alice, "q.sh", "echo ok > /out/ok.txt\n").await;
    let ds = t.dataset("d", b"x", &[&slow, &quick], &[&alice]).await;
    // A job inside its sandbox when the log fails.
    let (s, v) = t.submit(&alice, &slow, &[&ds], None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let caught = v["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v) = t
            .json("GET", &format!("/api/jobs/{caught}"), None, None)
            .await;
        if v["progress"]["stage"] == "running in the sandbox"
            || v["state"] != "running" && v["state"] != "queued"
        {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (soft, hard) = nofile();
    set_nofile(4096.min(soft), hard);
    let held = exhaust();
    // Any append now fails part-way, and the log's handle refuses every later one: a denial
    // (it is logged) is enough to hit it.
    let (s, _) = t.json("POST", "/api/jobs", None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let fault = t.node.ledger.writer_fault();
    assert!(fault.is_some(), "the log write should have failed");

    // Reported, and work refused with Retry-After (a reopen fails while nothing is free).
    let (s, health) = t.json("GET", "/healthz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["status"], "unhealthy", "{health}");
    assert!(
        health["reason"].as_str().unwrap().contains("log"),
        "{health}"
    );
    let req = common::build(
        "POST",
        "/api/objects",
        Some(&alice),
        Some(("application/octet-stream", b"bytes".to_vec())),
    );
    let resp = tower::ServiceExt::oneshot(t.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    // Reads still work.
    let (s, _) = t.json("GET", "/api/jobs", None, None).await;
    assert_eq!(s, StatusCode::OK);

    drop(held);
    set_nofile(soft, hard);

    // The node reopens its writer by itself (at most one try a second).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, health) = t.json("GET", "/healthz", None, None).await;
        if s == StatusCode::OK {
            assert_eq!(health["status"], "ok", "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(t.node.ledger.writer_fault().is_none());

    // The job caught by the fault ended with a receipt, whatever became of its run.
    let ended = t.wait(&caught, |s| s != "queued" && s != "running").await;
    assert!(ended["logIndex"].is_u64(), "{ended}");
    verify(&t, &caught).await;
    // New work is accepted and runs.
    let (s, v) = t.submit(&alice, &quick, &[&ds], None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let done = t.wait(&id, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    verify(&t, &id).await;

    // And the log on disk is whole.
    let log_key = t.node.home.keys.public("log").unwrap();
    let verifier = poex_log::note::Ed25519Verifier::new(
        poex_ledger::ledger::default_origin(&log_key).as_str(),
        log_key.as_bytes(),
    )
    .unwrap();
    let store = poex_log_store::FileStore::open_read_only(t.home().join("ledger/log")).unwrap();
    let report = poex_log_store::validate_range(&store, &verifier, None);
    let problems: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.is_problem())
        .map(ToString::to_string)
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}

async fn verify(t: &TestNode, id: &str) {
    let (_, v) = t.bundle_and_verdict(id).await;
    assert_eq!(v["ok"], true, "{v}");
}
