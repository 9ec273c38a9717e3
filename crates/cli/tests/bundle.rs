//! Proof bundles end to end: every run returns one, `poex verify` checks it offline, and
//! `--log DIR|URL` checks that the log still holds it (consistency with the log's latest
//! checkpoint), against a real log directory and a real HTTP server.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

mod common;
use common::Env;

fn bundle(env: &Env, rel: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(env.path(rel)).unwrap()).unwrap()
}

fn write_bundle(env: &Env, rel: &str, v: &Value) {
    fs::write(env.path(rel), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn log_dir(env: &Env) -> String {
    env.home().join("ledger/log").to_str().unwrap().to_owned()
}

#[test]
fn every_run_returns_a_bundle_that_verifies_offline_and_against_the_log() {
    let env = Env::new();
    env.publish_sample();
    let (stdout, _) = env.run_count(0, "job");
    assert!(stdout.contains("bundle"), "{stdout}");
    let b = bundle(&env, "job/bundle.json");
    assert_eq!(b["mediaType"], "application/vnd.poex.proof-bundle.v1+json");
    assert!(
        b["tlogProof"]
            .as_str()
            .unwrap()
            .starts_with("c2sp.org/tlog-proof@v1\n")
    );

    // The job folder's bundle is what `verify` picks; inclusion is checked offline.
    let (stdout, _) = env.ok(&["verify", "job"]);
    for check in ["signature", "log entry", "inclusion", "results"] {
        assert!(
            stdout.contains(&format!("ok   {check}")),
            "{check}:\n{stdout}"
        );
    }

    // More entries later: the log's latest checkpoint must extend the bundle's.
    env.run_count(0, "job2");
    let (stdout, _) = env.ok(&["verify", "job/bundle.json", "--log", &log_dir(&env)]);
    assert!(stdout.contains("ok   consistency"), "{stdout}");

    // A third party holding only public keys: the processor PEM and the log's vkey.
    let (pem, _) = env.ok(&["key", "show", "processor", "--pem"]);
    let pem = env.write("processor.pub", &pem);
    let (info, _) = env.ok(&["init"]);
    let vkey = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("log key"))
        .unwrap()
        .trim()
        .to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_poex"))
        .args(["--home", "/nonexistent/poex-home", "verify"])
        .arg(env.path("job/bundle.json"))
        .args(["--key", pem.to_str().unwrap(), "--log-key", &vkey])
        .args(["--log", &log_dir(&env), "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true, "{v}");

    // exec gets one too, beside its output folder.
    env.ok(&["exec", "--out", "eo", "--", "sh", "-c", "echo hi > eo/x"]);
    assert!(env.path("eo.bundle.json").is_file());
    let (stdout, _) = env.ok(&["verify", "eo.bundle.json"]);
    assert!(stdout.contains("ok   inclusion"), "{stdout}");
    assert!(stdout.contains("ok   results"), "{stdout}");
}

#[test]
fn forged_bundles_fail_the_check_they_break() {
    let env = Env::new();
    env.publish_sample();
    env.run_count(0, "job");
    env.run_count(0, "other");
    let original = bundle(&env, "job/bundle.json");
    let fails = |check: &str| {
        let (stdout, _) = env.expect(4, &["verify", "job"]);
        assert!(
            stdout.contains(&format!("FAIL {check}")),
            "{check}:\n{stdout}"
        );
        stdout
    };

    // A flipped hash in the inclusion proof.
    let mut b = original.clone();
    let proof = b["tlogProof"].as_str().unwrap().to_owned();
    let line = proof.lines().nth(2).unwrap().to_owned();
    let mut raw = B64.decode(&line).unwrap();
    raw[0] ^= 1;
    b["tlogProof"] = Value::from(proof.replacen(&line, &B64.encode(raw), 1));
    write_bundle(&env, "job/bundle.json", &b);
    fails("inclusion");

    // Another job's log entry (with its valid proof) under this receipt.
    let other = bundle(&env, "other/bundle.json");
    let mut b = original.clone();
    b["logEntry"] = other["logEntry"].clone();
    b["tlogProof"] = other["tlogProof"].clone();
    write_bundle(&env, "job/bundle.json", &b);
    fails("log entry");

    // A checkpoint from another log (another home, another log key).
    let stranger = Env::new();
    stranger.publish_sample();
    stranger.run_count(0, "job");
    let theirs = serde_json::from_str::<Value>(
        &fs::read_to_string(stranger.path("job/bundle.json")).unwrap(),
    )
    .unwrap();
    let mut b = original.clone();
    let ours = b["tlogProof"].as_str().unwrap().to_owned();
    let their_cp = theirs["tlogProof"]
        .as_str()
        .unwrap()
        .split_once("\n\n")
        .unwrap()
        .1;
    let (head, _) = ours.split_once("\n\n").unwrap();
    b["tlogProof"] = Value::from(format!("{head}\n\n{their_cp}"));
    write_bundle(&env, "job/bundle.json", &b);
    fails("checkpoint");

    // Not a bundle of this version.
    let mut b = original.clone();
    b["mediaType"] = Value::from("application/vnd.poex.proof-bundle.v0+json");
    write_bundle(&env, "job/bundle.json", &b);
    fails("bundle");

    // The honest bundle still verifies.
    write_bundle(&env, "job/bundle.json", &original);
    env.ok(&["verify", "job"]);
}

#[test]
fn a_forked_log_fails_consistency() {
    let env = Env::new();
    env.publish_sample();
    // The operator copies the whole home, keys included, and lets the copies diverge: the
    // same log key signs two histories.
    let copy = env.path("fork-home");
    let status = Command::new("cp")
        .arg("-a")
        .arg(env.home())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    env.run_count(0, "job");
    // Two runs in the fork, so its log is larger than the bundle's checkpoint.
    for out in ["forked-job", "forked-job2"] {
        let run = env.poex_with_home(
            &copy,
            &[
                "run",
                "--algorithm",
                "count",
                "--dataset",
                "cohort",
                "--out",
                out,
            ],
        );
        assert!(run.status.success(), "{run:?}");
    }

    let fork_log = copy.join("ledger/log");
    let (stdout, _) = env.expect(
        4,
        &[
            "verify",
            "job/bundle.json",
            "--log",
            fork_log.to_str().unwrap(),
        ],
    );
    assert!(stdout.contains("FAIL consistency"), "{stdout}");
    assert!(stdout.contains("forked or rewrote"), "{stdout}");
    // Against the honest log it passes.
    env.ok(&["verify", "job/bundle.json", "--log", &log_dir(&env)]);
}

/// A static file server over the log directory: tlog-tiles needs nothing more.
struct Server(Child, String);

impl Server {
    fn start(dir: &str) -> Self {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap()
            .to_owned();
        Server(child, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn consistency_over_http() {
    let env = Env::new();
    env.publish_sample();
    env.run_count(0, "job");
    env.run_count(0, "job2");
    let server = Server::start(&log_dir(&env));
    let (stdout, _) = env.ok(&["verify", "job/bundle.json", "--log", &server.1]);
    assert!(stdout.contains("ok   consistency"), "{stdout}");
    assert!(stdout.contains(&server.1), "{stdout}");

    // A server without the log: a clear failure, not a pass.
    let empty = env.path("empty");
    fs::create_dir_all(&empty).unwrap();
    let nothing = Server::start(empty.to_str().unwrap());
    let (stdout, _) = env.expect(4, &["verify", "job/bundle.json", "--log", &nothing.1]);
    assert!(stdout.contains("FAIL consistency"), "{stdout}");
    assert!(
        stdout.contains("checkpoint is missing from the log"),
        "{stdout}"
    );
}
