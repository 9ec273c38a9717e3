//! `poex node` and `poex --node URL ...` end to end: a real node process (the built binary)
//! on a temporary home, driven by the CLI from other homes (requesters), over HTTP.
//!
//! Nothing here sleeps blindly: every wait polls with a deadline.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_poex");

/// A running `poex node`; killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    url: String,
    home: PathBuf,
    /// Everything the node wrote on stderr (for failure messages).
    log: Arc<Mutex<String>>,
}

impl Node {
    /// Starts `poex node --listen 127.0.0.1:0` on `home` and waits until it listens.
    fn start(home: &Path, extra: &[&str]) -> Node {
        let mut child = Command::new(BIN)
            .arg("--home")
            .arg(home)
            .args(["node", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("POEX_NODE")
            .env_remove("POEX_HOME")
            .env("POEX_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("poex node starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("poex node listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_owned());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "poex node did not say where it listens; its stderr:\n{}\nprocesses holding its log lock: {:?}",
                    log.lock().unwrap(),
                    holders(&home.join("ledger/log.lock"))
                );
            }
        };
        Node {
            child,
            url,
            home: home.to_owned(),
            log,
        }
    }

    /// `kill -9`.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// The node owner's key (the node home's `default` key) as a PEM path for `--as`.
    fn owner_key(&self) -> String {
        self.home.join("keys/default.key").display().to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `poex --node URL args...` in `env` (its home holds the caller's keys).
fn remote(env: &Env, node: &Node, args: &[&str]) -> Output {
    let mut all = vec!["--node", node.url.as_str()];
    all.extend_from_slice(args);
    env.poex(&all)
}

/// Like [`remote`], asserting the exit code; returns (stdout, stderr).
fn expect(env: &Env, node: &Node, code: i32, args: &[&str]) -> (String, String) {
    let out = remote(env, node, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "poex --node {} {args:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- node\n{}",
        node.url,
        node.log.lock().unwrap()
    );
    (stdout, stderr)
}

fn ok(env: &Env, node: &Node, args: &[&str]) -> (String, String) {
    expect(env, node, 0, args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn key_id(env: &Env) -> String {
    let (out, _) = env.ok(&["key", "show", "default"]);
    out.lines()
        .find_map(|l| l.strip_prefix("key id"))
        .expect("key id line")
        .trim()
        .to_owned()
}

fn state(env: &Env, node: &Node, id: &str) -> String {
    let (out, _) = ok(env, node, &["status", id, "--json"]);
    json(&out)["state"].as_str().unwrap().to_owned()
}

/// Polls the job's state until `done` says yes, or panics at the deadline.
fn wait_for(env: &Env, node: &Node, id: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let s = state(env, node, id);
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never became {what} (last state {s})\n--- node\n{}",
            node.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Submits without waiting; returns the job id.
fn submit(env: &Env, node: &Node, algorithm: &str, out: &str) -> String {
    let (stdout, _) = ok(
        env,
        node,
        &[
            "run",
            "--algorithm",
            algorithm,
            "--dataset",
            "cohort",
            "--no-wait",
            "--json",
            "--out",
            out,
        ],
    );
    json(&stdout)["id"].as_str().unwrap().to_owned()
}

/// A requester publishes `count` (a folder, so it travels as tar) and `sleeper`; the node's
/// owner publishes `cohort`, allowing both algorithms and the requester.
fn publish_sample(node: &Node, requester: &Env) {
    requester.write(
        "alg/main.py",
        "import os\n\
         rows = 0\n\
         for d in os.environ['POEX_DATASETS'].split(':'):\n\
         \x20   rows += len(open(d).read().splitlines())\n\
         open('/out/rows.txt', 'w').write(str(rows))\n\
         print('counted', rows)\n",
    );
    requester.write("alg/lib/README", "a nested file, so the tar has a folder\n");
    requester.write("sleeper/sleep.sh", "echo started\nsleep 30\n");
    requester.write("data.csv", "a,b\n1,2\n3,4\n");
    let (out, _) = ok(
        requester,
        node,
        &[
            "publish",
            "algorithm",
            "alg",
            "--name",
            "count",
            "--entrypoint",
            "python3 main.py",
        ],
    );
    assert!(out.contains("published algorithm count"), "{out}");
    // The folder travelled as tar and was unpacked by the node: its digests are the ones a
    // local publish of the same folder gives.
    let sha = |text: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with("sha256:"))
            .map(|l| l.trim().to_owned())
            .expect("a sha256 line")
    };
    let (local, _) = requester.ok(&[
        "publish",
        "algorithm",
        "alg",
        "--name",
        "count",
        "--entrypoint",
        "python3 main.py",
    ]);
    assert_eq!(sha(&out), sha(&local));
    ok(
        requester,
        node,
        &[
            "publish",
            "algorithm",
            "sleeper",
            "--name",
            "sleeper",
            "--entrypoint",
            "sh sleep.sh",
        ],
    );
    let me = key_id(requester);
    let owner = node.owner_key();
    let (out, _) = ok(
        requester,
        node,
        &[
            "publish",
            "dataset",
            "data.csv",
            "--name",
            "cohort",
            "--allow",
            "count",
            "--allow",
            "sleeper",
            "--allow-requester",
            &me,
            "--as",
            &owner,
            // Kept sealed at rest on the node: the jobs below run on the decrypted copy.
            "--seal-at-rest",
        ],
    );
    assert!(out.contains("published dataset cohort"), "{out}");
}

#[test]
fn publish_run_status_audit_and_verify_through_a_node() {
    let machine = tempfile::tempdir().unwrap();
    // A fresh machine: the node initializes its home with the embedded defaults.
    let node = Node::start(&machine.path().join("node-home"), &[]);
    assert!(node.home.join("keys/processor.key").exists());
    let requester = Env::new();
    publish_sample(&node, &requester);

    // The same content under the same name again: nothing changes.
    let (out, _) = ok(
        &requester,
        &node,
        &[
            "publish",
            "algorithm",
            "alg",
            "--name",
            "count",
            "--entrypoint",
            "python3 main.py",
        ],
    );
    assert!(out.contains("already published"), "{out}");
    // Only owners publish datasets.
    let (_, err) = expect(
        &requester,
        &node,
        2,
        &["publish", "dataset", "data.csv", "--name", "mine"],
    );
    assert!(err.contains("403") && err.contains("owners"), "{err}");
    let (out, _) = ok(&requester, &node, &["show", "cohort"]);
    assert!(
        out.contains("dataset cohort") && out.contains("allows"),
        "{out}"
    );
    assert!(
        out.contains("sealed"),
        "the node kept it sealed at rest: {out}"
    );

    // run: waits, downloads, exits like a local run.
    let (out, _) = ok(
        &requester,
        &node,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--out",
            "job1",
            "--json",
        ],
    );
    let report = json(&out);
    assert_eq!(report["state"], "succeeded", "{out}");
    let id = report["jobId"].as_str().unwrap().to_owned();
    let job1 = requester.path("job1");
    assert_eq!(
        fs::read_to_string(job1.join("results/rows.txt")).unwrap(),
        "3"
    );
    for f in ["bundle.json", "receipt.json", "execution.log"] {
        assert!(job1.join(f).is_file(), "{f} downloaded");
    }
    assert!(
        fs::read_to_string(job1.join("execution.log"))
            .unwrap()
            .contains("counted 3")
    );

    // status: one job and the list.
    assert_eq!(state(&requester, &node, &id), "succeeded");
    let (out, _) = ok(&requester, &node, &["status"]);
    assert!(out.contains(&id) && out.contains("succeeded"), "{out}");
    let (out, _) = ok(&requester, &node, &["status", &id]);
    assert!(out.contains("state      succeeded"), "{out}");

    // audit: the download is an event by the requester.
    let (out, _) = ok(
        &requester,
        &node,
        &["audit", "--operation", "download-result", "--json"],
    );
    let events: Vec<Value> = out.lines().map(json).collect();
    assert!(
        events
            .iter()
            .any(|e| e["job"] == id.as_str() && e["object"] == "rows.txt"),
        "{out}"
    );
    let (out, _) = ok(&requester, &node, &["audit", "--job", &id]);
    assert!(out.contains("download-result"), "{out}");

    // verify: here, with the node's keys, and consistent with its log today.
    let (out, _) = ok(&requester, &node, &["verify", "job1"]);
    assert!(out.contains("keys the node at"), "{out}");
    assert!(out.contains("consistency"), "{out}");
    assert!(out.contains("verified: every check passed"), "{out}");
    assert!(out.contains("independent check"), "{out}");
    let (out, _) = ok(&requester, &node, &["verify", "job1", "--ask-node"]);
    assert!(out.contains("verified by the node"), "{out}");

    // A tampered copy fails both ways.
    let copy = requester.path("job1-tampered");
    fs::create_dir_all(copy.join("results")).unwrap();
    for f in ["bundle.json", "receipt.json", "execution.log"] {
        fs::copy(job1.join(f), copy.join(f)).unwrap();
    }
    fs::write(copy.join("results/rows.txt"), "4").unwrap();
    let (out, _) = expect(&requester, &node, 4, &["verify", "job1-tampered"]);
    assert!(out.contains("FAIL"), "{out}");
    let (out, _) = expect(
        &requester,
        &node,
        4,
        &["verify", "job1-tampered", "--ask-node"],
    );
    assert!(out.contains("FAIL"), "{out}");
    let mut bundle = json(&fs::read_to_string(job1.join("bundle.json")).unwrap());
    let payload = bundle["receipt"]["payload"].as_str().unwrap();
    bundle["receipt"]["payload"] = Value::from(format!("eyJh{payload}"));
    fs::write(requester.path("forged.bundle.json"), bundle.to_string()).unwrap();
    expect(&requester, &node, 4, &["verify", "forged.bundle.json"]);

    // A requester the dataset's policy does not name: 403, naming the dataset, nothing runs.
    let stranger = Env::new();
    let (_, err) = expect(
        &stranger,
        &node,
        2,
        &["run", "--algorithm", "count", "--dataset", "cohort"],
    );
    assert!(err.contains("403") && err.contains("cohort"), "{err}");
    // Results go to the requester only: a stranger fetches the proofs, not the results.
    let (out, _) = ok(&stranger, &node, &["fetch", &id, "--out", "theirs"]);
    assert!(out.contains("requester only"), "{out}");
    assert!(stranger.path("theirs/bundle.json").is_file());
    assert!(!stranger.path("theirs/results").exists());
    let (out, _) = ok(&requester, &node, &["audit", "--operation", "deny"]);
    assert!(out.contains("cohort"), "{out}");

    // Commands without a remote variant say so; an unreachable node is named.
    let (_, err) = expect(&requester, &node, 1, &["log", "info"]);
    assert!(err.contains("no --node variant"), "{err}");
    let out = requester.poex(&["--node", "http://127.0.0.1:1", "status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot reach the node at http://127.0.0.1:1") && err.contains("poex node"),
        "{err}"
    );
    let (_, err) = requester.expect(1, &["status"]);
    assert!(err.contains("--node URL"), "{err}");
}

#[test]
fn a_running_job_is_cancelled() {
    let machine = tempfile::tempdir().unwrap();
    let node = Node::start(&machine.path().join("node-home"), &[]);
    let requester = Env::new();
    publish_sample(&node, &requester);
    let id = submit(&requester, &node, "sleeper", "unused");
    wait_for(&requester, &node, &id, "running", |s| s == "running");
    let (out, _) = ok(&requester, &node, &["cancel", &id]);
    assert!(out.contains(&format!("job {id} cancelled")), "{out}");
    assert_eq!(state(&requester, &node, &id), "cancelled");
    // Its proofs are there like any job's; fetch exits 3 like a failed run.
    let (_, err) = expect(&requester, &node, 3, &["fetch", &id, "--out", "cancelled"]);
    assert!(err.contains("cancelled"), "{err}");
    ok(&requester, &node, &["verify", "cancelled"]);
    // Another requester may not cancel a job; an ended job cannot be cancelled again.
    let stranger = Env::new();
    let other = submit(&requester, &node, "sleeper", "unused");
    let (_, err) = expect(&stranger, &node, 2, &["cancel", &other]);
    assert!(err.contains("403"), "{err}");
    ok(&requester, &node, &["cancel", &other]);
    let (_, err) = expect(&requester, &node, 1, &["cancel", &id]);
    assert!(err.contains("409"), "{err}");
}

#[test]
fn jobs_are_never_silently_lost_when_the_node_is_killed() {
    let requester = Env::new();
    let node_home = requester.path("node-home");
    let node = Node::start(&node_home, &["--max-concurrent-jobs", "1"]);
    publish_sample(&node, &requester);
    let running = submit(&requester, &node, "sleeper", "unused");
    wait_for(&requester, &node, &running, "running", |s| s == "running");
    // One job at a time: this one waits in the queue.
    let queued = submit(&requester, &node, "count", "unused");
    assert_eq!(state(&requester, &node, &queued), "queued");

    let dead = node.child.id();
    node.kill();
    // The sandbox died with the node (bubblewrap's parent-death signal): nothing of the job
    // runs on, re-parented to init.
    let marker = format!("POEX_JOB_ID={running}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with_env(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(processes_with_env(&marker), Vec::<String>::new());
    let node = Node::start(&node_home, &["--max-concurrent-jobs", "1"]);
    // And what its sandbox left (its job cgroups, its staging folder) went at the restart.
    let prefix = format!("poex-{dead}-");
    for root in ["/sys/fs/cgroup", "/run/poex-sandbox"] {
        assert_eq!(
            named_below(Path::new(root), &prefix, 6),
            Vec::<String>::new(),
            "{root}"
        );
    }
    let stage = format!("{dead}-");
    assert_eq!(
        named_below(Path::new("/run/poex-sandbox"), &stage, 1),
        Vec::<String>::new()
    );

    // The job that was running when the node died ends `interrupted`, with a receipt whose
    // bundle verifies against the restarted node's keys and log.
    let s = wait_for(&requester, &node, &running, "ended", |s| {
        s != "running" && s != "queued"
    });
    assert_eq!(s, "interrupted");
    let (_, err) = expect(
        &requester,
        &node,
        3,
        &["fetch", &running, "--out", "interrupted"],
    );
    assert!(err.contains("interrupted"), "{err}");
    let (out, _) = ok(&requester, &node, &["verify", "interrupted"]);
    assert!(out.contains("verified: every check passed"), "{out}");

    // The queued job survived the restart and runs.
    let s = wait_for(&requester, &node, &queued, "ended", |s| {
        s != "running" && s != "queued"
    });
    assert_eq!(s, "succeeded");
    ok(
        &requester,
        &node,
        &["fetch", &queued, "--out", "after-restart"],
    );
    assert_eq!(
        fs::read_to_string(requester.path("after-restart/results/rows.txt")).unwrap(),
        "3"
    );
    ok(&requester, &node, &["verify", "after-restart"]);
}

/// Processes whose environment holds `entry` (`NAME=value`).
fn processes_with_env(entry: &str) -> Vec<String> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == entry.as_bytes()))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Entries under `dir` (at most `depth` levels down) whose name starts with `prefix`.
fn named_below(dir: &Path, prefix: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            found.push(e.path().display().to_string());
        } else if depth > 1 && e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(named_below(&e.path(), prefix, depth - 1));
        }
    }
    found
}

/// Processes with `path` open (pid: command), for failure messages.
fn holders(path: &Path) -> Vec<String> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter(|p| {
            fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == path))
            })
        })
        .map(|p| {
            let cmd = fs::read(p.path().join("cmdline")).unwrap_or_default();
            format!(
                "{}: {}",
                p.file_name().to_string_lossy(),
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            )
        })
        .collect()
}
