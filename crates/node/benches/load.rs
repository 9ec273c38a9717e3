//! Load test of a real node over loopback HTTP, bounded in count and time.
//!
//! ```text
//! cargo bench -p poex-node --bench load
//! POEX_LOAD_JOBS=50 POEX_LOAD_SECS=5 POEX_LOAD_CLIENTS=200 cargo bench -p poex-node --bench load
//! ```
//!
//! 1. submit -> proof latency of a trivial job (`echo`), one at a time, against the bare
//!    sandbox time of the same command measured in the same run (the baseline);
//! 2. tile reads per second (`GET /log/tile/...`, keep-alive clients), against reading the
//!    same file straight from disk in the same run;
//! 3. N concurrent clients (default 200), each doing signed uploads and public reads; every
//!    response must be the expected one — errors are counted and printed.
//!
//! Goals: p50 latency <= 50 ms above the bare sandbox; >= 10,000 tile reads/s;
//! 200 concurrent clients with no error. The figures go to docs/performance.md.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark binary: any failure should stop it"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use poex_core::Signer as _;
use poex_core::keys::SecretKey;
use poex_core::receipt::rfc3339;
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, Requester, SignedRequest, random_hex16,
};
use poex_exec::sandbox::{self, Limits, Spec};
use poex_home::Home;
use poex_node::{Config, Node};
use serde_json::{Value, json};
use sha2::Digest as _;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Client {
    base: String,
    authority: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base: base.to_owned(),
            authority: base.trim_start_matches("http://").to_owned(),
            agent,
        }
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_vec().unwrap())
    }

    fn post(&self, key: &SecretKey, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let sha: [u8; 32] = sha2::Sha256::digest(body).into();
        let headers = poex_node::auth::sign_request(
            key,
            "POST",
            &self.authority,
            path,
            Some((content_type, sha)),
            now,
        )
        .unwrap();
        let mut req = self.agent.post(&format!("{}{path}", self.base));
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let mut r = req.send(body).unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_vec().unwrap())
    }

    fn post_json(&self, key: &SecretKey, path: &str, v: &Value) -> (u16, Value) {
        let (s, b) = self.post(
            key,
            path,
            "application/json",
            &serde_json::to_vec(v).unwrap(),
        );
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sha256_of(record: &Value) -> String {
    record["digests"]["sha256"]
        .as_str()
        .map(|h| format!("sha256:{h}"))
        .or_else(|| {
            record["digests"].as_array().and_then(|a| {
                a.iter().find_map(|d| {
                    d.as_str()
                        .filter(|s| s.starts_with("sha256:"))
                        .map(str::to_owned)
                })
            })
        })
        .unwrap()
}

fn main() {
    let jobs = env_u64("POEX_LOAD_JOBS", 30);
    let secs = env_u64("POEX_LOAD_SECS", 3);
    let clients = env_u64("POEX_LOAD_CLIENTS", 200);
    let dir = tempfile::tempdir().unwrap();
    Home::init(dir.path()).unwrap();
    let mut config = Config::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.max_queued_per_requester = 10_000;
    let node = Node::open(dir.path(), config).unwrap();
    let owner = node.home.keys.load("default").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_node = node.clone();
    let server = runtime.spawn(async move {
        poex_node::serve(
            server_node,
            async move {
                let _ = stop_rx.await;
            },
            move |addr| tx.send(addr).unwrap(),
        )
        .await
        .unwrap();
    });
    let addr = rx.recv().unwrap();
    let base = format!("http://{addr}");
    let client = Client::new(&base);
    println!(
        "poex node load test against {base} ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // Publish a trivial algorithm and a dataset.
    let alice = SecretKey::generate().unwrap();
    let script = b"echo done > /out/x\n";
    let (s, obj) = client.post(&alice, "/api/objects", "application/octet-stream", script);
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&obj));
    let obj: Value = serde_json::from_slice(&obj).unwrap();
    let (s, alg) = client.post_json(
        &alice,
        "/api/assets",
        &json!({"kind": "algorithm", "name": "t.sh", "object": obj["object"], "entrypoint": ["sh", "t.sh"]}),
    );
    assert_eq!(s, 201, "{alg}");
    let (_, dobj) = client.post(&owner, "/api/objects", "application/octet-stream", b"data");
    let dobj: Value = serde_json::from_slice(&dobj).unwrap();
    let (s, ds) = client.post_json(
        &owner,
        "/api/assets",
        &json!({"kind": "dataset", "name": "d", "object": dobj["object"],
                "policy": {"allowedAlgorithms": [sha256_of(&alg)],
                           "allowedRequesters": [alice.public_key().key_id().to_string()]}}),
    );
    assert_eq!(s, 201, "{ds}");

    // 1a. The baseline: the same command in the bare sandbox.
    let script_path = dir.path().join("t.sh");
    std::fs::write(&script_path, script).unwrap();
    let mut bare = Vec::new();
    for _ in 0..jobs {
        let out = tempfile::tempdir().unwrap();
        let spec = Spec {
            argv: vec!["sh".into(), "/algo/t.sh".into()],
            read_only: vec![sandbox::Mount {
                host: script_path.clone(),
                sandbox: "/algo/t.sh".into(),
            }],
            output: out.path().to_owned(),
            output_at: "/out".into(),
            workdir: "/algo".into(),
            env: vec![],
            limits: Limits::default(),
            cancel: None,
        };
        let t = Instant::now();
        let outcome = sandbox::run(&spec).unwrap();
        bare.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(outcome.termination.success(), "{:?}", outcome.termination);
    }
    bare.sort_by(f64::total_cmp);

    // 1b. Submit -> proof, one job at a time.
    let asset = |r: &Value| AssetRef {
        name: r["name"].as_str().unwrap().to_owned(),
        digest: sha256_of(r).parse().unwrap(),
    };
    let mut latency = Vec::new();
    for _ in 0..jobs {
        let req = JobRequest {
            type_: REQUEST_TYPE.into(),
            requester: Requester {
                key_id: alice.public_key().key_id(),
                public_key: alice.public_key(),
            },
            algorithm: asset(&alg),
            datasets: vec![asset(&ds)],
            arguments: vec![],
            limits: Default::default(),
            requested_at: rfc3339(time::OffsetDateTime::now_utc()),
            nonce: random_hex16().unwrap(),
            result_recipient: None,
        };
        let envelope = SignedRequest::sign(req, &alice).unwrap().envelope;
        let body = serde_json::to_value(&envelope).unwrap();
        let t = Instant::now();
        let (s, v) = client.post_json(&alice, "/api/jobs", &body);
        assert_eq!(s, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        loop {
            let (s, b) = client.get(&format!("/api/jobs/{id}/bundle"));
            if s == 200 {
                let bundle: Value = serde_json::from_slice(&b).unwrap();
                assert!(bundle["tlogProof"].is_string());
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "job {id} never produced a bundle"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        latency.push(t.elapsed().as_secs_f64() * 1e3);
    }
    latency.sort_by(f64::total_cmp);
    let (b50, l50, l90) = (
        percentile(&bare, 0.5),
        percentile(&latency, 0.5),
        percentile(&latency, 0.9),
    );
    println!();
    println!("1. submit -> proof ({jobs} trivial jobs, one at a time)");
    println!(
        "   bare sandbox       p50 {b50:7.1} ms   p90 {:7.1} ms",
        percentile(&bare, 0.9)
    );
    println!("   node submit->proof p50 {l50:7.1} ms   p90 {l90:7.1} ms");
    println!(
        "   overhead above the bare sandbox: p50 {:+.1} ms (goal <= 50 ms: {})",
        l50 - b50,
        if l50 - b50 <= 50.0 { "met" } else { "MISSED" }
    );

    // 2. Tile reads per second.
    let size = node.ledger.size();
    let tile = poex_log::tile::TileId::at_size(0, 0, size).unwrap().path();
    let tile_url = format!("/log/{tile}");
    assert_eq!(client.get(&tile_url).0, 200);
    let file = node.ledger.tiles_dir().join(&tile);
    let disk = rate(secs, 2, move |_| {
        let b = std::fs::read(&file).unwrap();
        assert!(!b.is_empty());
        true
    });
    let threads = 8;
    let http = rate(secs, threads, {
        let base = base.clone();
        let tile_url = tile_url.clone();
        move |_| {
            thread_local! { static C: std::cell::RefCell<Option<Client>> = const { std::cell::RefCell::new(None) }; }
            C.with(|c| {
                let mut c = c.borrow_mut();
                let c = c.get_or_insert_with(|| Client::new(&base));
                c.get(&tile_url).0 == 200
            })
        }
    });
    // The peer: Python's static file server on the same directory, same clients.
    let peer_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut python = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &peer_port.to_string(),
            "--directory",
        ])
        .arg(node.ledger.tiles_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let peer_base = format!("http://127.0.0.1:{peer_port}");
    let peer_url = format!("/{tile}");
    let ready = Instant::now();
    while Client::new(&peer_base)
        .agent
        .get(&format!("{peer_base}{peer_url}"))
        .call()
        .is_err()
    {
        assert!(
            ready.elapsed() < Duration::from_secs(10),
            "python3 http.server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let peer = rate(secs, threads, move |_| {
        thread_local! { static P: std::cell::RefCell<Option<Client>> = const { std::cell::RefCell::new(None) }; }
        P.with(|c| {
            let mut c = c.borrow_mut();
            let c = c.get_or_insert_with(|| Client::new(&peer_base));
            c.get(&peer_url).0 == 200
        })
    });
    let _ = python.kill();
    let _ = python.wait();
    println!();
    println!("2. tile reads ({tile}, {secs} s, {threads} keep-alive clients)");
    println!(
        "   straight from disk (2 threads)   {:>9.0} reads/s",
        disk.0
    );
    println!(
        "   python3 -m http.server (peer)    {:>9.0} reads/s ({} errors)",
        peer.0, peer.1
    );
    println!(
        "   poex node /log/tile/...          {:>9.0} reads/s ({} errors), {:.1}x the peer (goal >= 10,000/s: {})",
        http.0,
        http.1,
        http.0 / peer.0.max(1.0),
        if http.0 >= 10_000.0 { "met" } else { "MISSED" }
    );

    // 3. Concurrent clients.
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let base = base.clone();
            let errors = errors.clone();
            let done = done.clone();
            let tile_url = tile_url.clone();
            std::thread::spawn(move || {
                let c = Client::new(&base);
                let key = SecretKey::generate().unwrap();
                let check = |ok: bool, what: &str| {
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("client {i}: {what} failed");
                    }
                };
                for round in 0..5u32 {
                    check(c.get("/healthz").0 == 200, "healthz");
                    check(c.get("/api/assets").0 == 200, "assets");
                    check(c.get(&tile_url).0 == 200, "tile");
                    let body = format!("client {i} round {round}");
                    let (s, _) = c.post(
                        &key,
                        "/api/objects",
                        "application/octet-stream",
                        body.as_bytes(),
                    );
                    check(s == 201, "upload");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    println!();
    println!(
        "3. {clients} concurrent clients: {} requests in {took:.1} s ({:.0}/s), {} errors (goal: none: {})",
        done.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed) as f64 / took,
        errors.load(Ordering::Relaxed),
        if errors.load(Ordering::Relaxed) == 0 {
            "met"
        } else {
            "MISSED"
        }
    );

    let _ = stop_tx.send(());
    runtime.block_on(server).unwrap();
}

/// Runs `f` on `threads` threads for `secs` seconds; `(calls/s, failures)`.
fn rate(
    secs: u64,
    threads: usize,
    f: impl Fn(usize) -> bool + Send + Sync + Clone + 'static,
) -> (f64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (ok, bad, f) = (ok.clone(), bad.clone(), f.clone());
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    if f(i) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    (
        ok.load(Ordering::Relaxed) as f64 / secs as f64,
        bad.load(Ordering::Relaxed),
    )
}
