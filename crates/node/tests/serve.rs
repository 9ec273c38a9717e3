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
    let headers = poex_client::sign::sign_request(
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
        poex_client::Client::new(&format!("http://{addr}"))
            .unwrap()
            .health()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(health.status, "ok", "{health:?}");
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_interrupts_running_jobs_and_keeps_queued_ones() {
    let mut config = common::config();
    config.max_concurrent_jobs = 1;
    config.shutdown_grace_secs = 1;
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
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

/// A node served on loopback with `request_timeout_secs` and `max_connections`.
fn served(
    timeout: u64,
    max_connections: usize,
) -> (
    TestNode,
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut config = common::config();
    config.request_timeout_secs = timeout;
    config.max_connections = max_connections;
    config.authority = None;
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, config);
    let (addr, stop, server) = start(&t);
    (t, addr, stop, server)
}

/// Reads until the node closes the connection (EOF or reset); what it sent. Fails if the
/// connection is still open after 30 s.
fn until_closed(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the node kept the connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Writes `bytes` one at a time, 200 ms apart, in a thread, until the write fails or all
/// are sent.
fn trickle(s: &TcpStream, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut s = s.try_clone().unwrap();
    std::thread::spawn(move || {
        for b in bytes {
            if s.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_idle_clients_are_cut_off() {
    let (t, addr, stop, server) = served(1, 64);
    let alice = key();
    tokio::task::spawn_blocking(move || {
        // Idle: connected, nothing sent.
        let mut idle = TcpStream::connect(addr).unwrap();
        assert_eq!(until_closed(&mut idle), "", "an idle connection is closed");

        // Slowloris: a request head that never ends, one byte every 200 ms.
        let mut slow = TcpStream::connect(addr).unwrap();
        let head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: 1\r\nx-b: 2\r\nx-c: 3\r\nx-d: 4\r\nx-e: 5\r\n".repeat(4);
        let writer = trickle(&slow, head);
        let answer = until_closed(&mut slow);
        assert!(!answer.contains("200 OK"), "{answer}");
        writer.join().unwrap();

        // Keep-alive: a request answered, then silence: closed too.
        let mut kept = TcpStream::connect(addr).unwrap();
        kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let answer = until_closed(&mut kept);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        // A body trickled far below min_body_bytes_per_sec: 408, nothing kept.
        let body = vec![b'x'; 100_000];
        let mut upload = partial_upload(addr, &alice, &body, 0);
        let writer = trickle(&upload, body);
        let answer = until_closed(&mut upload);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("slower than"), "{answer}");
        drop(upload);
        writer.join().unwrap();

        // Denials over a socket name the source address.
        let mut anon = TcpStream::connect(addr).unwrap();
        anon.write_all(b"POST /api/jobs HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        let answer = until_closed(&mut anon);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

        // A refusal that leaves a body unread says the connection closes, so that a client
        // does not send its next request on it.
        let mut unread = TcpStream::connect(addr).unwrap();
        unread
            .write_all(b"POST /api/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            .unwrap();
        let answer = until_closed(&mut unread);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
    })
    .await
    .unwrap();
    let denials = t.audit("operation=deny").await;
    assert!(
        denials.iter().any(|d| d["event"]["detail"]
            .as_str()
            .unwrap()
            .contains("(from 127.0.0.1)")),
        "{denials:?}"
    );
    assert!(empty(&t.home().join("uploads")));
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_limit_get_503_and_the_slots_come_back() {
    let (_t, addr, stop, server) = served(60, 4);
    tokio::task::spawn_blocking(move || {
        let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut extra = TcpStream::connect(addr).unwrap();
        let answer = until_closed(&mut extra);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after: 1"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "unavailable", "{v}");
        // The clients that held the slots go; the next client is served.
        drop(held);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .unwrap();
            let answer = until_closed(&mut s);
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "{answer}");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_idle_connections_is_shed_and_the_node_still_serves() {
    let (_t, addr, stop, server) = served(1, 32);
    tokio::task::spawn_blocking(move || {
        let mut flood: Vec<TcpStream> = (0..300)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let (mut refused, mut cut) = (0, 0);
        for s in &mut flood {
            let answer = until_closed(s);
            if answer.starts_with("HTTP/1.1 503") {
                refused += 1;
            } else {
                assert_eq!(answer, "", "an idle connection is closed without an answer");
                cut += 1;
            }
        }
        assert!(refused > 0 && cut > 0, "refused {refused}, cut {cut}");
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        assert!(until_closed(&mut s).starts_with("HTTP/1.1 200"));
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap();
}
