//! The web explorer end to end: a real node (temporary home, real sandbox, real log) served on
//! 127.0.0.1, seeded through its API with datasets, algorithms, a finished job and a denied
//! request, then driven in headless Chromium by `tests/ui/explorer.mjs` (playwright-core): every
//! page with real content, jobs watched while they run (the script prints `SUBMIT-SLOW` and
//! reads back the id of a five-second job this test submits), and the verify page with the
//! job's real bundle, a tampered one, a modified result and a file that is not JSON.
//!
//! Needs Node.js, Debian's Chromium (`/usr/bin/chromium`, or `POEX_CHROMIUM`) and
//! `npm ci --prefix crates/node/tests/ui`; without them this test fails and says how to install
//! them (`.ci/run` does). Screenshots go to a temporary folder, or with
//! `POEX_UPDATE_SCREENSHOTS=1` to `docs/screenshots/` (see docs/web-ui.md).

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use tower::ServiceExt as _;

/// Counts the cohort's rows into `summary.txt`.
const COUNT: &str = "set -e\n\
    rows=$(wc -l < /data/demo-cohort)\n\
    echo \"rows: $rows\" > /out/summary.txt\n\
    echo \"counted $rows rows\"\n";

/// Runs a few seconds (so the jobs page can be watched), then leaves a result whose name is
/// markup: the explorer must show it as text.
const SLOW: &str = "sleep 5\n\
    printf 'a file named like markup\\n' > '/out/<img src=x onerror=window.poexPwned=1>.txt'\n\
    echo done\n";
const HOSTILE: &str = "<img src=x onerror=window.poexPwned=1>.txt";

/// The screenshots the script takes (docs/web-ui.md shows them).
const SCREENSHOTS: &[&str] = &[
    "jobs-live",
    "jobs",
    "datasets",
    "algorithms",
    "job",
    "audit",
    "log",
    "verify-pass",
    "verify-tampered",
    "verify-file-mismatch",
    "verify-not-json",
];

const INSTALL: &str = "install them with\n    \
    apt-get install -y chromium chromium-driver nodejs npm\n    \
    npm ci --prefix crates/node/tests/ui\n\
    (.ci/run does both; POEX_CHROMIUM names another Chromium binary)";

fn chromium() -> PathBuf {
    std::env::var_os("POEX_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What the test needs besides Rust; each missing piece named.
fn prerequisites(ui: &Path) -> Result<(), String> {
    let mut missing = Vec::new();
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => missing.push("Node.js (`node` on PATH)".to_owned()),
    }
    let chromium = chromium();
    if !chromium.exists() {
        missing.push(format!("Chromium ({})", chromium.display()));
    }
    if !ui
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push(format!("playwright-core ({}/node_modules)", ui.display()));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the web explorer's end-to-end test needs {}: {INSTALL}",
            missing.join(", ")
        ))
    }
}

/// A small synthetic cohort: `id,age,bmi,systolic`.
fn cohort() -> String {
    let mut csv = String::from("id,age,bmi,systolic\n");
    for i in 1..=240u32 {
        let age = 18 + (i * 37) % 70;
        let bmi = 18.0 + f64::from((i * 53) % 170) / 10.0;
        let systolic = 95 + (i * 29) % 70;
        writeln!(csv, "{i},{age},{bmi:.1},{systolic}").unwrap();
    }
    csv
}

/// The bundle with one byte of the receipt's first signature changed.
fn tamper(bundle: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bundle).unwrap();
    let sig = v["receipt"]["signatures"][0]["sig"].as_str().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(sig).unwrap();
    raw[10] ^= 0x01;
    v["receipt"]["signatures"][0]["sig"] = Value::String(b64.encode(raw));
    serde_json::to_vec_pretty(&v).unwrap()
}

#[test]
fn explorer_pages_in_headless_chromium() {
    let began = Instant::now();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ui = manifest.join("tests/ui");
    if let Err(message) = prerequisites(&ui) {
        panic!("{message}");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = rt.enter();
    let t = common::TestNode::new();

    // The node, served for real on a free port.
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(poex_node::serve(
        t.node.clone(),
        async move {
            let _ = stop_rx.await;
        },
        move |addr| {
            let _ = ready_tx.send(addr);
        },
    ));
    let addr = ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let base = format!("http://{addr}");

    // The page is served with a strict policy.
    let resp = rt
        .block_on(t.app.clone().oneshot(common::build("GET", "/", None, None)))
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    // Seed it through the API, as clients would.
    let alice = common::key();
    let mallory = common::key();
    let files = tempfile::tempdir().unwrap();
    let (alg, slow, ds, job_id, result, bundle) = rt.block_on(async {
        let alg = t.algorithm(&alice, "count-rows.sh", COUNT).await;
        let slow = t.algorithm(&alice, "slow-report.sh", SLOW).await;
        let ds = t
            .dataset(
                "demo-cohort",
                cohort().as_bytes(),
                &[&alg, &slow],
                &[&alice],
            )
            .await;
        t.dataset(
            "clinic-visits-2025",
            b"visit,ward\n1,A\n2,B\n",
            &[&alg],
            &[],
        )
        .await;
        let (s, v) = t.submit(&alice, &alg, &[&ds], None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let done = t.wait(&id, |s| s != "queued" && s != "running").await;
        assert_eq!(done["state"], "succeeded", "{done}");
        // A request the dataset's policy refuses: a `deny` event in the audit trail.
        let (s, v) = t.submit(&mallory, &alg, &[&ds], None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        let (s, result) = t
            .call(
                "GET",
                &format!("/api/jobs/{id}/results/summary.txt"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, bundle) = t
            .call("GET", &format!("/api/jobs/{id}/bundle"), None, None)
            .await;
        assert_eq!(s, StatusCode::OK);
        (alg, slow, ds, id, result, bundle)
    });

    let dir = files.path();
    std::fs::write(dir.join("bundle.json"), &bundle).unwrap();
    std::fs::write(dir.join("tampered-bundle.json"), tamper(&bundle)).unwrap();
    std::fs::write(dir.join("summary.txt"), &result).unwrap();
    std::fs::create_dir(dir.join("modified")).unwrap();
    std::fs::write(dir.join("modified/summary.txt"), b"rows: 9999\n").unwrap();
    std::fs::write(
        dir.join("notes.txt"),
        b"My notes about this job: not a proof bundle.\n",
    )
    .unwrap();
    let facts = json!({
        "dataset": "demo-cohort",
        "datasetSha256": common::sha256_of(&ds),
        "algorithm": alg["name"],
        "entrypoint": "sh count-rows.sh",
        "jobId": job_id,
        "processorKeyId": t.node.processor_id().to_string(),
        "resultName": "summary.txt",
        "resultSha256": format!("sha256:{}", hex::encode(sha2::Sha256::digest(&result))),
        "bundlePath": dir.join("bundle.json"),
        "tamperedPath": dir.join("tampered-bundle.json"),
        "resultPath": dir.join("summary.txt"),
        "wrongResultPath": dir.join("modified/summary.txt"),
        "notJsonPath": dir.join("notes.txt"),
        "hostileName": HOSTILE,
    });
    let facts_path = dir.join("facts.json");
    std::fs::write(&facts_path, serde_json::to_vec_pretty(&facts).unwrap()).unwrap();

    let shots_tmp = tempfile::tempdir().unwrap();
    let shots = if std::env::var("POEX_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        manifest
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("docs/screenshots")
    } else {
        shots_tmp.path().to_owned()
    };

    // The browser script; it asks for the slow job when its page is ready to watch it.
    let mut child = Command::new("node")
        .arg(ui.join("explorer.mjs"))
        .arg(&base)
        .arg(&shots)
        .arg(&facts_path)
        .current_dir(&ui)
        .env("POEX_CHROMIUM", chromium())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running node: {e}; {INSTALL}"));
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (line_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let deadline = Instant::now() + Duration::from_secs(300);
    let mut transcript = Vec::new();
    let mut slow_ids = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line == "SUBMIT-SLOW" => {
                let (s, v) = rt.block_on(t.submit(&alice, &slow, &[&ds], None));
                assert_eq!(s, StatusCode::ACCEPTED, "{v}");
                let id = v["id"].as_str().unwrap().to_owned();
                writeln!(stdin, "{id}").unwrap();
                stdin.flush().unwrap();
                slow_ids.push(id);
            }
            Ok(line) => {
                println!("{line}");
                transcript.push(line);
            }
            Err(RecvTimeoutError::Timeout) => {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!(
                        "explorer.mjs ran longer than 300 s; its output:\n{}",
                        transcript.join("\n")
                    );
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().unwrap();
    let errors = errors.join().unwrap();
    assert!(
        status.success(),
        "explorer.mjs failed ({status}):\n{errors}\nits output:\n{}",
        transcript.join("\n")
    );
    assert!(
        transcript.iter().any(|l| l.contains("checks passed")),
        "{}",
        transcript.join("\n")
    );

    // What the browser saw is what the node holds.
    assert_eq!(slow_ids.len(), 2, "the script asks for two slow jobs");
    for id in &slow_ids {
        let done = rt.block_on(t.wait(id, |s| s != "queued" && s != "running"));
        assert_eq!(done["state"], "succeeded", "{done}");
    }
    for name in SCREENSHOTS {
        let png = shots.join(format!("{name}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            png.display()
        );
    }

    let _ = stop_tx.send(());
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("the node stops")
            .unwrap()
            .unwrap();
    });
    println!(
        "explorer end-to-end test: {:.1} s in all",
        began.elapsed().as_secs_f64()
    );
}
