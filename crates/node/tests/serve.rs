//! The node over a real loopback listener: slow and vanishing clients, and a graceful
//! shutdown that interrupts running jobs and keeps queued ones for the next start.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestNode, key, serve_on_loopback as start};
use poex_core::keys::SecretKey;
use serde_json::Value;
use sha2::Digest as _;

/// Sends the head of a signed upload of `body` and only `sent` bytes of it.
fn partial_upload(addr: SocketAddr, key: &SecretKey, body: &[u8], sent: usize) -> TcpStream {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let authority = addr.to_string();
    let sha: [u8; 32] = sha2::Sha256::digest(body).into();
    let headers = poex_node::auth::sign_request(
        key,
        "POST",
        &authority,
        "/api/objects",
        Some(("application/octet-stream", sha)),
        now,
    )
    .unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "POST /api/objects HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..sent]).unwrap();
    s
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_vanishing_clients_leave_nothing() {
    let mut config = common::config();
    config.request_timeout_secs = 1;
    config.authority = None;
    let t = TestNode::with(config);
    let (addr, stop, server) = start(&t);
    let uploads = t.home().join("uploads");
    let alice = key();
    let body = vec![b'x'; 100_000];

    // A client that stops sending: 408 after the timeout, nothing kept.
    let mut slow = partial_upload(addr, &alice, &body, 1000);
    let started = Instant::now();
    let mut answer = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("nothing was kept"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(15));

    // A client that goes away mid-body.
    let gone = partial_upload(addr, &alice, &body, 5000);
    drop(gone);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !empty(&uploads) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(empty(&uploads), "a temporary upload was left behind");

    // The node is still up.
    let health = tokio::task::spawn_blocking(move || {
        ureq::get(&format!("http://{addr}/healthz"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(health.contains("\"ok\""), "{health}");
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_interrupts_running_jobs_and_keeps_queued_ones() {
    let mut config = common::config();
    config.max_concurrent_jobs = 1;
    config.shutdown_grace_secs = 1;
    let dir = tempfile::tempdir().unwrap();
    poex_exec::home::Home::init(dir.path()).unwrap();
    // Only serve's own workers run jobs, so its shutdown is the one that ends them.
    let t = TestNode::open_idle(dir, config.clone());
    let alice = key();
    let slow = t.algorithm(&alice, "slow.sh", "sleep 30\n").await;
    let quick = t.algorithm(&alice, "quick.sh", "echo ok > /out/ok\n").await;
    let ds = t.dataset("d", b"x", &[&slow, &quick], &[&alice]).await;
    let (addr, stop, server) = start(&t);
    let _ = addr;
    let (_, a) = t.submit(&alice, &slow, &[&ds], None).await;
    let a = a["id"].as_str().unwrap().to_owned();
    t.wait(&a, |s| s == "running").await;
    let (_, b) = t.submit(&alice, &quick, &[&ds], None).await;
    let b = b["id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    stop.send(()).unwrap();
    server.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown waited for the 30 s job"
    );
    let state = |id: &str| -> Value {
        serde_json::from_slice(
            &std::fs::read(t.home().join("queue").join(format!("{id}.json"))).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(state(&a)["state"], "interrupted", "{}", state(&a));
    assert_eq!(state(&b)["state"], "queued");

    // The next start runs what was queued.
    let TestNode { dir, node, app, .. } = t;
    drop(app);
    drop(node);
    let t = TestNode::open(dir, config);
    let done = t.wait(&b, |s| s != "queued" && s != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
}
