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

use poex_client::log::HttpFiles;
use poex_client::wire::{PolicyBody, Publish};
use poex_client::{Client, Upload};
use poex_core::Signer as _;
use poex_core::keys::SecretKey;
use poex_core::receipt::rfc3339;
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, Requester, SignedRequest, random_hex16,
};
use poex_exec::sandbox::{self, Limits, Spec};
use poex_home::Home;
use poex_log::reader::LogFiles as _;
use poex_node::{Config, Node};
use serde_json::Value;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
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
    let client = Client::new(&base).unwrap();
    println!(
        "poex node load test against {base} ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // Publish a trivial algorithm and a dataset.
    let alice = SecretKey::generate().unwrap();
    let script = b"echo done > /out/x\n";
    let octets = |b: &[u8]| Upload::bytes("application/octet-stream", b.to_vec());
    let obj = client.upload(octets(script), &alice).unwrap();
    let (created, alg) = client
        .publish(
            &Publish {
                kind: "algorithm".into(),
                name: "t.sh".into(),
                object: obj.object,
                entrypoint: Some(vec!["sh".into(), "t.sh".into()]),
                ..Publish::default()
            },
            &alice,
        )
        .unwrap();
    assert!(created);
    let dobj = client.upload(octets(b"data"), &owner).unwrap();
    let (created, ds) = client
        .publish(
            &Publish {
                kind: "dataset".into(),
                name: "d".into(),
                object: dobj.object,
                policy: Some(PolicyBody {
                    allowed_algorithms: vec![alg.digests.sha256().unwrap().to_string()],
                    allowed_requesters: vec![alice.public_key().key_id().to_string()],
                }),
                ..Publish::default()
            },
            &owner,
        )
        .unwrap();
    assert!(created);

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
    let asset = |r: &poex_core::asset::Record| AssetRef {
        name: r.name.as_str().to_owned(),
        digest: *r.digests.sha256().unwrap(),
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
        let t = Instant::now();
        let id = client.submit(&envelope, &alice).unwrap().id;
        loop {
            if let Some(d) = client.job_part(&id, "bundle").unwrap() {
                let bundle: Value = serde_json::from_reader(d.reader).unwrap();
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
    let log_url = format!("{base}/log");
    assert!(HttpFiles::new(&log_url).read(&tile).unwrap().is_some());
    let file = node.ledger.tiles_dir().join(&tile);
    let disk = rate(secs, 2, move |_| {
        let b = std::fs::read(&file).unwrap();
        assert!(!b.is_empty());
        true
    });
    let threads = 8;
    let http = rate(secs, threads, {
        let log_url = log_url.clone();
        let tile = tile.clone();
        move |_| {
            thread_local! { static C: std::cell::RefCell<Option<HttpFiles>> = const { std::cell::RefCell::new(None) }; }
            C.with(|c| {
                let mut c = c.borrow_mut();
                let c = c.get_or_insert_with(|| HttpFiles::new(&log_url));
                matches!(c.read(&tile), Ok(Some(_)))
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
    let ready = Instant::now();
    while !matches!(HttpFiles::new(&peer_base).read(&tile), Ok(Some(_))) {
        assert!(
            ready.elapsed() < Duration::from_secs(10),
            "python3 http.server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let peer_tile = tile.clone();
    let peer = rate(secs, threads, move |_| {
        thread_local! { static P: std::cell::RefCell<Option<HttpFiles>> = const { std::cell::RefCell::new(None) }; }
        P.with(|c| {
            let mut c = c.borrow_mut();
            let c = c.get_or_insert_with(|| HttpFiles::new(&peer_base));
            matches!(c.read(&peer_tile), Ok(Some(_)))
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
            let log_url = log_url.clone();
            let tile = tile.clone();
            std::thread::spawn(move || {
                let c = Client::new(&base).unwrap();
                let tiles = HttpFiles::new(&log_url);
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
                    check(c.health().is_ok(), "healthz");
                    check(c.assets(None).is_ok(), "assets");
                    check(matches!(tiles.read(&tile), Ok(Some(_))), "tile");
                    let body = format!("client {i} round {round}");
                    let stored = c.upload(
                        Upload::bytes("application/octet-stream", body.into_bytes()),
                        &key,
                    );
                    check(stored.is_ok(), "upload");
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
