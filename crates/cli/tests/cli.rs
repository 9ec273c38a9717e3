//! End-to-end tests of the `poex` binary: real keys, real registry, real bubblewrap sandbox.
//!
//! Each test gets its own home and working folder. They check status, stdout/stderr content
//! and the files left behind, including that nothing is half-written after a refusal.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{Env, outcome, receipt_statement};

#[test]
fn run_and_verify_end_to_end() {
    let env = Env::new();
    env.publish_sample();
    let (stdout, _) = env.run_count(0, "job");
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert_eq!(
        fs::read_to_string(env.path("job/results/rows.txt")).unwrap(),
        "3"
    );
    assert!(
        fs::read_to_string(env.path("job/execution.log"))
            .unwrap()
            .contains("counted 3")
    );

    let (stdout, _) = env.ok(&["verify", "job"]);
    for check in [
        "signature",
        "statement",
        "request",
        "inputs",
        "results",
        "file",
    ] {
        assert!(
            stdout.contains(&format!("ok   {check}")),
            "{check} missing in:\n{stdout}"
        );
    }
    let (json, _) = env.ok(&[
        "verify",
        "job/receipt.json",
        "--json",
        "--results",
        "job/results",
    ]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["verified"], true);

    // The receipt carries the seed-002 metadata.
    let st = receipt_statement(&env.path("job/receipt.json"));
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(st["subject"][0]["name"], "rows.txt");
    let p = &st["predicate"];
    assert!(p["buildDefinition"]["externalParameters"]["jobRequest"]["payload"].is_string());
    let deps = p["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert_eq!(deps.len(), 2);
    assert!(
        deps.iter()
            .all(|d| d["digest"]["sha256"].is_string() && d["digest"]["blake3"].is_string())
    );
    assert!(p["runDetails"]["metadata"]["startedOn"].is_string());
    assert!(p["runDetails"]["metadata"]["finishedOn"].is_string());
    assert!(
        p["runDetails"]["builder"]["id"]
            .as_str()
            .unwrap()
            .starts_with("urn:poex:processor:")
    );
    let o = outcome(&st);
    assert_eq!(o["status"], "succeeded");
    assert_eq!(o["exitCode"], 0);
    assert!(o["resourceUsage"]["maxRssBytes"].as_u64().unwrap() > 0);
    assert_eq!(
        p["buildDefinition"]["internalParameters"]["sandbox"]["network"],
        "none"
    );

    // Audit: publish x2, read-algorithm, read-dataset, run-started, write-result, run-finished.
    let (audit, _) = env.ok(&["audit", "--json"]);
    let ops: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["operation"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for op in [
        "publish",
        "read-algorithm",
        "read-dataset",
        "run-started",
        "write-result",
        "run-finished",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} missing from {ops:?}");
    }
    let (filtered, _) = env.ok(&["audit", "--operation", "read-dataset", "--json"]);
    assert_eq!(filtered.lines().count(), 1);
}

#[test]
fn tampered_result_added_file_and_log_are_detected() {
    let env = Env::new();
    env.publish_sample();
    env.run_count(0, "job");
    fs::write(env.path("job/results/rows.txt"), "4").unwrap();
    let (stdout, _) = env.expect(4, &["verify", "job"]);
    assert!(
        stdout.contains("FAIL results") && stdout.contains("rows.txt: modified"),
        "{stdout}"
    );
    fs::write(env.path("job/results/rows.txt"), "3").unwrap();
    env.ok(&["verify", "job"]);
    fs::write(env.path("job/results/extra.txt"), "x").unwrap();
    let (stdout, _) = env.expect(4, &["verify", "job"]);
    assert!(stdout.contains("extra.txt: in"), "{stdout}");
    fs::remove_file(env.path("job/results/extra.txt")).unwrap();
    fs::write(env.path("job/execution.log"), "forged log\n").unwrap();
    let (stdout, _) = env.expect(4, &["verify", "job"]);
    assert!(
        stdout.contains("does not match the execution log"),
        "{stdout}"
    );
}

#[test]
fn tampered_receipt_and_wrong_key_are_detected() {
    let env = Env::new();
    env.publish_sample();
    env.run_count(0, "job");
    let receipt = env.path("job/receipt.json");
    let original = fs::read_to_string(&receipt).unwrap();

    // Change the result digest inside the signed payload and re-encode it.
    let mut envelope: Value = serde_json::from_str(&original).unwrap();
    let mut st = receipt_statement(&receipt);
    st["subject"][0]["digest"]["sha256"] = Value::from("0".repeat(64));
    use base64::Engine as _;
    envelope["payload"] = Value::from(
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&st).unwrap()),
    );
    fs::write(&receipt, serde_json::to_string(&envelope).unwrap()).unwrap();
    let (stdout, _) = env.expect(4, &["verify", "job/receipt.json"]);
    assert!(stdout.contains("FAIL signature"), "{stdout}");

    // Not JSON at all.
    fs::write(&receipt, "{ not json").unwrap();
    let (stdout, _) = env.expect(4, &["verify", "job/receipt.json"]);
    assert!(stdout.contains("is not JSON"), "{stdout}");

    // The right receipt under someone else's key.
    fs::write(&receipt, &original).unwrap();
    env.ok(&["key", "new", "mallory"]);
    let (pem, _) = env.ok(&["key", "show", "mallory", "--pem"]);
    let pem_path = env.write("mallory.pub", &pem);
    let (stdout, _) = env.expect(
        4,
        &[
            "verify",
            "job/receipt.json",
            "--key",
            pem_path.to_str().unwrap(),
        ],
    );
    assert!(stdout.contains("FAIL signature"), "{stdout}");
    // And under the processor's exported key, as a third party would.
    let (pem, _) = env.ok(&["key", "show", "processor", "--pem"]);
    let pem_path = env.write("processor.pub", &pem);
    env.ok(&[
        "verify",
        "job/receipt.json",
        "--key",
        pem_path.to_str().unwrap(),
    ]);
}

fn tamper_object(object: &Path) {
    // Objects are read-only; an attacker with access to the store changes that first.
    let file = if object.is_dir() {
        fs::set_permissions(object, fs::Permissions::from_mode(0o755)).unwrap();
        fs::read_dir(object)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    } else {
        object.to_owned()
    };
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&file).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&file, bytes).unwrap();
}

#[test]
fn tampered_dataset_is_refused_recorded_and_not_run() {
    let env = Env::new();
    env.publish_sample();
    tamper_object(&env.object_of("cohort"));
    let (_, stderr) = env.run_count(2, "job");
    assert!(
        stderr.contains("refused") && stderr.contains("\"cohort\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected blake3:") && stderr.contains("found blake3:"),
        "{stderr}"
    );
    assert!(!env.path("job/results/rows.txt").exists(), "nothing ran");
    let st = receipt_statement(&env.path("job/receipt.json"));
    assert_eq!(outcome(&st)["status"], "refused");
    assert!(st["predicate"]["runDetails"]["metadata"]["startedOn"].is_null());
    let (audit, _) = env.ok(&["audit", "--operation", "refuse", "--json"]);
    let ev: Value = serde_json::from_str(audit.lines().next().expect("a refuse event")).unwrap();
    assert_eq!(ev["object"], "cohort");
    // The refusal receipt itself verifies (it is a signed record of the refusal).
    let (stdout, _) = env.ok(&["verify", "job/receipt.json"]);
    assert!(
        stdout.contains("ok   refusal") && stdout.contains("status     refused"),
        "{stdout}"
    );
}

#[test]
fn tampered_algorithm_is_refused() {
    let env = Env::new();
    env.publish_sample();
    tamper_object(&env.object_of("count"));
    let (_, stderr) = env.run_count(2, "job");
    assert!(
        stderr.contains("algorithm \"count\"") && stderr.contains("expected blake3:"),
        "{stderr}"
    );
    assert!(stderr.contains("found blake3:"), "{stderr}");
}

#[test]
fn policy_is_enforced() {
    let env = Env::new();
    env.publish_sample();
    // A dataset that allows no algorithm.
    env.write("closed.csv", "x\n1\n");
    env.ok(&["publish", "dataset", "closed.csv", "--name", "closed"]);
    let (_, stderr) = env.expect(
        2,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "closed",
            "--out",
            "j1",
        ],
    );
    assert!(
        stderr.contains("does not allow algorithm \"count\""),
        "{stderr}"
    );
    // A requester the owner did not list.
    env.ok(&["key", "new", "bob"]);
    let (_, stderr) = env.expect(
        2,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--as",
            "bob",
            "--out",
            "j2",
        ],
    );
    assert!(stderr.contains("does not allow requester"), "{stderr}");
    // Once listed, bob may.
    env.write("open.csv", "x\n1\n2\n");
    env.ok(&[
        "publish",
        "dataset",
        "open.csv",
        "--name",
        "open",
        "--allow",
        "count",
        "--allow-requester",
        "bob",
    ]);
    env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "open",
        "--as",
        "bob",
        "--out",
        "j3",
    ]);
    assert_eq!(
        fs::read_to_string(env.path("j3/results/rows.txt")).unwrap(),
        "3"
    );
}

#[test]
fn registry_is_write_once() {
    let env = Env::new();
    env.publish_sample();
    let (stdout, _) = env.ok(&[
        "publish", "dataset", "data.csv", "--name", "cohort", "--allow", "count",
    ]);
    assert!(
        stdout.contains("already published with this content"),
        "{stdout}"
    );
    env.write("other.csv", "different\n");
    let (before, _) = env.ok(&["show", "cohort", "--json"]);
    let (_, stderr) = env.expect(1, &["publish", "dataset", "other.csv", "--name", "cohort"]);
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    assert_eq!(
        stderr.matches("sha256:").count(),
        2,
        "names both digests: {stderr}"
    );
    let (after, _) = env.ok(&["show", "cohort", "--json"]);
    assert_eq!(before, after);
}

#[test]
fn bad_input_gets_a_clear_error_and_nothing_half_written() {
    let env = Env::new();
    env.publish_sample();
    // Path traversal in names.
    let (_, stderr) = env.expect(1, &["publish", "dataset", "data.csv", "--name", "../evil"]);
    assert!(stderr.contains("../evil"), "{stderr}");
    assert!(!env.home().join("store/evil.json").exists());
    let (_, stderr) = env.expect(1, &["key", "new", "../k"]);
    assert!(stderr.contains("not allowed"), "{stderr}");
    // Missing file.
    let (_, stderr) = env.expect(1, &["publish", "dataset", "nope.csv", "--name", "nope"]);
    assert!(
        stderr.contains("nope.csv") && stderr.contains("does not exist"),
        "{stderr}"
    );
    let (_, stderr) = env.expect(1, &["verify", "missing.json"]);
    assert!(stderr.contains("missing.json"), "{stderr}");
    // Unknown names.
    let (_, stderr) = env.expect(1, &["run", "--algorithm", "nope", "--dataset", "cohort"]);
    assert!(stderr.contains("no algorithm named \"nope\""), "{stderr}");
    // A key file readable by others is refused and left as it is.
    let key = env.home().join("keys/default.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, stderr) = env.expect(1, &["run", "--algorithm", "count", "--dataset", "cohort"]);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o644
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    // A malformed key file.
    let bad = env.write(
        "bad.key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o600)).unwrap();
    let (_, stderr) = env.expect(
        1,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--as",
            bad.to_str().unwrap(),
        ],
    );
    assert!(stderr.contains("not an Ed25519 private key"), "{stderr}");
    // An output folder with files in it is never written into.
    env.write("busy/keep.txt", "mine");
    let (_, stderr) = env.run_count(1, "busy");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(fs::read_dir(env.path("busy")).unwrap().count(), 1);
    // No home yet.
    let out = Command::new(env!("CARGO_BIN_EXE_poex"))
        .args(["--home", env.path("nohome").to_str().unwrap(), "show", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("poex init"));
}

#[test]
fn hostile_algorithm_is_contained_and_recorded() {
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let key = env.home().join("keys/processor.key");
    let key_before = fs::read(&key).unwrap();
    env.write(
        "alg/main.py",
        &format!(
            "import os, socket\n\
             res = []\n\
             def attempt(name, f):\n\
             \x20   try:\n\
             \x20       f(); res.append(name + ': ALLOWED')\n\
             \x20   except Exception as e:\n\
             \x20       res.append(name + ': blocked')\n\
             attempt('net', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2))\n\
             attempt('key', lambda: open({key:?}).read())\n\
             attempt('shadow', lambda: open('/etc/shadow').read())\n\
             attempt('dataset', lambda: open('/data/cohort', 'a').write('x'))\n\
             open('/out/report.txt', 'w').write('\\n'.join(res) + '\\n')\n"
        ),
    );
    env.write("data.csv", "a\n1\n");
    env.ok(&[
        "publish",
        "algorithm",
        "alg",
        "--name",
        "hostile",
        "--entrypoint",
        "python3 main.py",
    ]);
    env.ok(&[
        "publish", "dataset", "data.csv", "--name", "cohort", "--allow", "hostile",
    ]);
    env.ok(&[
        "run",
        "--algorithm",
        "hostile",
        "--dataset",
        "cohort",
        "--out",
        "job",
    ]);
    let report = fs::read_to_string(env.path("job/results/report.txt")).unwrap();
    assert_eq!(
        report,
        "net: blocked\nkey: blocked\nshadow: blocked\ndataset: blocked\n"
    );
    assert!(listener.accept().is_err(), "the listener got no connection");
    assert_eq!(fs::read(&key).unwrap(), key_before);
    // The dataset is intact: the next job's re-hash still matches the registry.
    env.ok(&[
        "run",
        "--algorithm",
        "hostile",
        "--dataset",
        "cohort",
        "--out",
        "job2",
    ]);
}

#[test]
fn limits_end_the_job_with_a_recorded_status() {
    let env = Env::new();
    env.write("alg/loop.py", "while True:\n    pass\n");
    env.write(
        "alg/big.py",
        "f = open('/out/big', 'wb')\nchunk = b'x' * (1 << 20)\nwhile True:\n    f.write(chunk)\n",
    );
    env.write(
        "alg/exit.py",
        "import sys\nprint('bad input')\nsys.exit(7)\n",
    );
    env.write(
        "alg/bomb.sh",
        // In a subshell: a shell whose own fork fails exits (status 2); this one must not.
        "(bomb() { bomb | bomb & }; bomb)\nexec sleep 60\n",
    );
    env.write(
        "alg/hog.py",
        "x = []\nwhile True:\n    x.append(bytearray(1 << 24))\n",
    );
    env.write("data.csv", "a\n1\n");
    let entry = |name: &str| match name {
        "bomb" => "sh bomb.sh".to_owned(),
        n => format!("python3 {n}.py"),
    };
    for name in ["loop", "big", "exit", "bomb", "hog"] {
        env.ok(&[
            "publish",
            "algorithm",
            "alg",
            "--name",
            &format!("{name}-alg"),
            "--entrypoint",
            &entry(name),
        ]);
    }
    // The folder is one object; three names share it with different entrypoints.
    env.ok(&[
        "publish", "dataset", "data.csv", "--name", "d", "--allow", "loop-alg", "--allow",
        "big-alg", "--allow", "exit-alg", "--allow", "bomb-alg", "--allow", "hog-alg",
    ]);
    let cases = [
        ("loop-alg", vec!["--cpu-seconds", "1"], "cpu-time-exceeded"),
        (
            "big-alg",
            vec!["--output-mib", "8"],
            "output-limit-exceeded",
        ),
        ("exit-alg", vec![], "failed"),
        // The fork bomb hits the process limit and keeps trying until the wall clock ends it.
        (
            "bomb-alg",
            vec!["--processes", "16", "--wall-seconds", "3"],
            "wall-time-exceeded",
        ),
        // With a job cgroup the OOM killer ends it at the limit; per process (no cgroup),
        // allocation fails at the limit and Python exits with MemoryError.
        ("hog-alg", vec!["--memory-mib", "256"], "memory"),
    ];
    for (alg, limits, status) in cases {
        let out = format!("job-{alg}");
        let mut args = vec!["run", "--algorithm", alg, "--dataset", "d", "--out", &out];
        args.extend(limits.iter().copied());
        let (_, stderr) = env.expect(3, &args);
        let st = receipt_statement(&env.path(&format!("{out}/receipt.json")));
        let status = match status {
            "memory" if outcome(&st)["resourceUsage"]["accounting"] == "per-process" => "failed",
            "memory" => "memory-limit-exceeded",
            other => other,
        };
        assert!(stderr.contains(status), "{alg}: {stderr}");
        assert_eq!(outcome(&st)["status"], status, "{alg}");
        env.ok(&["verify", &out]);
        if status == "failed" && alg == "hog-alg" {
            let hog_log = fs::read_to_string(env.path("job-hog-alg/execution.log")).unwrap();
            assert!(hog_log.contains("MemoryError"), "{hog_log}");
        }
    }
    // Over its limit, the output is not attested: it moved aside, capped.
    let big = fs::metadata(env.path("job-big-alg/results.unattested/big"))
        .unwrap()
        .len();
    assert!(big <= 8 << 20, "output capped, got {big}");
}

#[test]
fn exec_wraps_a_command_like_in_toto_run() {
    let env = Env::new();
    env.write("data.csv", "a\n1\n2\n");
    env.write("alg.py", "import sys\nn = len(open(sys.argv[1]).read().splitlines())\nopen(sys.argv[2] + '/n.txt', 'w').write(str(n))\n");
    env.ok(&[
        "exec",
        "--dataset",
        "data.csv",
        "--algorithm",
        "alg.py",
        "--out",
        "out",
        "--",
        "python3",
        "alg.py",
        "data.csv",
        "out",
    ]);
    assert_eq!(fs::read_to_string(env.path("out/n.txt")).unwrap(), "3");
    let st = receipt_statement(&env.path("out.receipt.json"));
    assert_eq!(
        st["predicate"]["buildDefinition"]["buildType"],
        "urn:poex:build-type:exec:v1"
    );
    let deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert_eq!(deps.len(), 2);
    let (stdout, _) = env.ok(&["verify", "out.receipt.json"]);
    assert!(stdout.contains("ok   results"), "{stdout}");
    fs::write(env.path("out/n.txt"), "9").unwrap();
    env.expect(4, &["verify", "out.receipt.json"]);
    // Files not given as inputs are invisible to the command.
    env.write("secret.txt", "s");
    let (_, stderr) = env.expect(3, &["exec", "--out", "out2", "--", "cat", "secret.txt"]);
    assert!(stderr.contains("failed"), "{stderr}");
}

#[test]
fn demo_runs_on_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_poex"))
        .args(["--home", dir.path().join("h").to_str().unwrap(), "demo"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verified: every check passed"), "{stdout}");
    assert!(stdout.contains("1000 rows"), "{stdout}");
    // Running it again reuses the published assets (write-once, same content).
    let again = Command::new(env!("CARGO_BIN_EXE_poex"))
        .args([
            "--home",
            dir.path().join("h").to_str().unwrap(),
            "demo",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn descriptors_poex_inherited_do_not_reach_the_job() {
    let env = Env::new();
    // The shell opens fd 9 without close-on-exec, as a service manager or a parent shell may.
    let script = format!(
        "exec 9</etc/hostname; exec {} --home {} exec -q --out out -- sh -c 'ls /proc/self/fd > out/fds'",
        env!("CARGO_BIN_EXE_poex"),
        env.home().display()
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .current_dir(env.dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let fds = fs::read_to_string(env.path("out/fds")).unwrap();
    assert!(
        !fds.lines().any(|l| l == "9"),
        "fd 9 leaked into the job: {fds}"
    );
}

#[test]
fn a_registry_record_edited_by_hand_refuses_the_job_without_panicking() {
    let env = Env::new();
    env.publish_sample();
    let path = env.home().join("store/registry/datasets/cohort.json");
    let mut record: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    record["digests"].as_object_mut().unwrap().remove("blake3");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    let (_, stderr) = env.run_count(2, "job");
    assert!(stderr.contains("has no blake3 digest"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
