//! Every job ends with a signed receipt that tells the truth, whatever the algorithm leaves
//! behind: each case runs a real job through `poex run` or `poex exec` in the real
//! sandbox, then checks the receipt's outcome and that `poex verify` passes on the job folder
//! as it was left.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Env, names_in, outcome, receipt_statement};
use serde_json::Value;

/// Publishes `code` as algorithm `name` (python3 main.py) with a dataset `NAME-data` that
/// allows it, runs it into `NAME-job` with `limits`, expecting exit `code_expected`; returns the
/// receipt's outcome.
fn run_python(env: &Env, name: &str, code: &str, limits: &[&str], expected: i32) -> Value {
    env.write(&format!("{name}/main.py"), code);
    env.write(&format!("{name}.csv"), "a\n1\n");
    env.ok(&[
        "publish",
        "algorithm",
        name,
        "--name",
        name,
        "--entrypoint",
        "python3 main.py",
    ]);
    env.ok(&[
        "publish",
        "dataset",
        &format!("{name}.csv"),
        "--name",
        &format!("{name}-data"),
        "--allow",
        name,
    ]);
    let out = format!("{name}-job");
    let data = format!("{name}-data");
    let mut args = vec![
        "run",
        "--algorithm",
        name,
        "--dataset",
        &data,
        "--out",
        &out,
    ];
    args.extend_from_slice(limits);
    env.expect(expected, &args);
    let statement = receipt_statement(&env.path(&format!("{out}/receipt.json")));
    outcome(&statement)
}

fn subjects(env: &Env, job: &str) -> Vec<String> {
    receipt_statement(&env.path(&format!("{job}/receipt.json")))["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_output_deeper_than_path_max_ends_with_a_receipt_and_verifies() {
    let env = Env::new();
    let code = "import os\nfor _ in range(40):\n    os.mkdir('n' * 200)\n    os.chdir('n' * 200)\nopen('leaf', 'w').write('x')\n";
    let o = run_python(
        &env,
        "deep",
        &format!("import os\nos.chdir('/out')\n{code}"),
        &[],
        3,
    );
    assert_eq!(o["status"], "invalid-output", "{o}");
    assert!(o["reason"].as_str().unwrap().contains("too long"), "{o}");
    assert_eq!(o["unattested"], "results.unattested", "{o}");
    assert_eq!(
        names_in(&env.path("deep-job/results")),
        Vec::<String>::new()
    );
    assert_eq!(
        names_in(&env.path("deep-job/results.unattested")),
        ["n".repeat(200)]
    );
    assert_eq!(subjects(&env, "deep-job"), ["poex:job-request"]);
    env.ok(&["verify", "deep-job"]);
    let (audit, _) = env.ok(&["audit", "--job", &job_id(&env, "deep-job")]);
    assert!(audit.contains("run-finished"), "{audit}");
}

fn job_id(env: &Env, job: &str) -> String {
    receipt_statement(&env.path(&format!("{job}/receipt.json")))["predicate"]["runDetails"]
        ["metadata"]["invocationId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_job_printing_a_bwrap_message_is_a_job_that_failed() {
    let env = Env::new();
    let o = run_python(
        &env,
        "fake",
        "import sys\nprint('bwrap: execvp /algo/main.py: No such file or directory', file=sys.stderr)\nsys.exit(1)\n",
        &[],
        3,
    );
    assert_eq!(o["status"], "failed", "{o}");
    assert_eq!(o["exitCode"], 1, "{o}");
    assert_eq!(o["reason"], "the algorithm exited with status 1", "{o}");
    env.ok(&["verify", "fake-job"]);
}

#[test]
fn a_program_that_cannot_start_ends_with_a_receipt() {
    let env = Env::new();
    env.write("nostart/x", "not a program");
    env.write("nostart.csv", "a\n");
    env.ok(&[
        "publish",
        "algorithm",
        "nostart",
        "--name",
        "nostart",
        "--entrypoint",
        "/no/such/interpreter x",
    ]);
    env.ok(&[
        "publish",
        "dataset",
        "nostart.csv",
        "--name",
        "ns",
        "--allow",
        "nostart",
    ]);
    let (_, stderr) = env.expect(
        3,
        &[
            "run",
            "--algorithm",
            "nostart",
            "--dataset",
            "ns",
            "--out",
            "job",
        ],
    );
    assert!(stderr.contains("could not start the program"), "{stderr}");
    let o = outcome(&receipt_statement(&env.path("job/receipt.json")));
    assert_eq!(o["termination"]["kind"], "not_started", "{o}");
    assert!(
        o["reason"]
            .as_str()
            .unwrap()
            .contains("execvp /no/such/interpreter"),
        "{o}"
    );
    env.ok(&["verify", "job"]);
}

/// A link, a fifo, a socket or a name the manifest cannot hold fails the job; the results
/// folder then holds exactly what the receipt attests (nothing), and verify passes.
#[test]
fn refused_outputs_move_aside_and_the_job_folder_verifies() {
    let env = Env::new();
    let cases = [
        (
            "link",
            "import os\nopen('/out/ok.txt','w').write('1')\nos.symlink('/etc/passwd', '/out/link')\n",
        ),
        (
            "fifo",
            "import os\nopen('/out/ok.txt','w').write('1')\nos.mkfifo('/out/pipe')\n",
        ),
        (
            "sock",
            "import socket\nopen('/out/ok.txt','w').write('1')\nsocket.socket(socket.AF_UNIX).bind('/out/sock')\n",
        ),
        (
            "badname",
            "open('/out/ok.txt','w').write('1')\nopen('/out/bad\\nname', 'w').write('x')\n",
        ),
    ];
    for (name, code) in cases {
        let o = run_python(&env, name, code, &[], 3);
        assert_eq!(o["status"], "invalid-output", "{name}: {o}");
        let job = format!("{name}-job");
        assert_eq!(
            names_in(&env.path(&format!("{job}/results"))),
            Vec::<String>::new(),
            "{name}"
        );
        assert!(
            names_in(&env.path(&format!("{job}/results.unattested")))
                .contains(&"ok.txt".to_owned()),
            "{name}"
        );
        env.ok(&["verify", &job]);
    }
}

/// 100,000 empty files stop at the file limit: no 24 MB receipt, no 100,000 log entries.
#[test]
fn many_files_stop_at_the_file_limit_with_a_small_receipt() {
    let env = Env::new();
    let o = run_python(
        &env,
        "many",
        "import time\nfor i in range(100_000): open(f'/out/f{i}', 'w').close()\ntime.sleep(30)\n",
        &["--output-files", "1000", "--wall-seconds", "60"],
        3,
    );
    assert_eq!(o["status"], "output-limit-exceeded", "{o}");
    assert!(
        o["reason"].as_str().unwrap().contains("files and folders"),
        "{o}"
    );
    let receipt = fs::metadata(env.path("many-job/receipt.json"))
        .unwrap()
        .len();
    assert!(receipt < 64 << 10, "receipt of {receipt} bytes");
    assert_eq!(subjects(&env, "many-job"), ["poex:job-request"]);
    env.ok(&["verify", "many-job"]);
}

/// Twenty sparse 1000 MiB files are over a 1 GiB limit by their apparent size: the job stops
/// and the holes are never hashed.
#[test]
fn sparse_files_over_the_output_limit_are_not_hashed() {
    let env = Env::new();
    let o = run_python(
        &env,
        "sparse",
        "for i in range(20):\n    with open(f'/out/hole{i}', 'wb') as f: f.truncate(1000 << 20)\n",
        &["--output-mib", "1024"],
        3,
    );
    assert_eq!(o["status"], "output-limit-exceeded", "{o}");
    assert!(o["reason"].as_str().unwrap().contains("sparse"), "{o}");
    assert_eq!(
        o["resourceUsage"]["outputBytes"],
        20u64 * (1000 << 20),
        "{o}"
    );
    assert_eq!(subjects(&env, "sparse-job"), ["poex:job-request"]);
    env.ok(&["verify", "sparse-job"]);
}

/// What `poex exec` attests is what the job read: a writer changing an input on the host
/// while the job runs — even one that puts the old bytes back — means no success is signed,
/// and the results are not attested. Without a writer the same job succeeds.
#[test]
fn exec_signs_no_success_over_an_input_that_changed_while_the_job_ran() {
    let env = Env::new();
    let data = env.write("data.csv", "original\n");
    env.write(
        "slow.py",
        "import sys, time\nopen(sys.argv[2] + '/started', 'w').close()\ntime.sleep(1.5)\nopen(sys.argv[2] + '/seen.txt', 'w').write(open(sys.argv[1]).read())\n",
    );
    let data_arg = data.to_string_lossy().into_owned();
    let exec = |out: &str, code: i32| {
        let out = env.path(out).to_string_lossy().into_owned();
        env.expect(
            code,
            &[
                "exec",
                "--dataset",
                &data_arg,
                "--algorithm",
                "slow.py",
                "--out",
                &out,
                "--",
                "python3",
                "slow.py",
                &data_arg,
                &out,
            ],
        )
    };
    exec("calm", 0);
    assert_eq!(
        fs::read_to_string(env.path("calm/seen.txt")).unwrap(),
        "original\n"
    );

    for (out, rewrite) in [("changed", false), ("put-back", true)] {
        let writer = {
            let data = data.clone();
            let started = env.path(&format!("{out}/started"));
            std::thread::spawn(move || {
                // Once the job runs (it was hashed before it started).
                while !started.exists() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                fs::write(&data, "changed while the job ran\n").unwrap();
                if rewrite {
                    fs::write(&data, "original\n").unwrap();
                }
            })
        };
        let (_, stderr) = exec(out, 3);
        writer.join().unwrap();
        assert!(stderr.contains("input-changed"), "{stderr}");
        let st = receipt_statement(&env.path(&format!("{out}.receipt.json")));
        let o = outcome(&st);
        assert_eq!(o["status"], "input-changed", "{o}");
        assert!(o["reason"].as_str().unwrap().contains("data.csv"), "{o}");
        // The results are not attested: they moved aside, and the job folder verifies.
        assert_eq!(names_in(&env.path(out)), Vec::<String>::new());
        assert_eq!(
            names_in(&env.path(&format!("{out}.unattested"))),
            ["seen.txt", "started"]
        );
        env.ok(&["verify", &format!("{out}.bundle.json")]);
    }
}

/// Where no cgroup can be made the job runs with per-process limits and the receipt says so.
#[test]
fn without_a_cgroup_the_receipt_says_limits_were_per_process() {
    let env = Env::new();
    env.write("data.csv", "a\n");
    let out = Command::new(env!("CARGO_BIN_EXE_poex"))
        .arg("--home")
        .arg(env.home())
        .args(["exec", "--dataset", "data.csv", "--out", "o", "--", "true"])
        .current_dir(env.dir.path())
        .env(poex_exec::sandbox::CGROUP_ENV, "none")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = receipt_statement(&env.path("o.receipt.json"));
    assert_eq!(outcome(&st)["resourceUsage"]["accounting"], "per-process");
    let sandbox = &st["predicate"]["buildDefinition"]["internalParameters"]["sandbox"];
    assert_eq!(sandbox["accounting"], "per-process");
    assert!(sandbox["nproc_rlimit"].as_u64().is_some(), "{sandbox}");
    assert_eq!(
        outcome(&st)["resourceUsage"]["peakMemoryBytes"],
        Value::Null
    );
}

/// The same job with a cgroup (where the host gives one): the receipt names it and reports
/// the job's peak memory.
#[test]
fn with_a_cgroup_the_receipt_reports_the_jobs_peak_memory() {
    if poex_exec::sandbox::accounting().is_err() {
        assert_ne!(
            std::env::var("POEX_REQUIRE_CGROUP").as_deref(),
            Ok("1"),
            "POEX_REQUIRE_CGROUP=1 but jobs get no cgroup"
        );
        return;
    }
    let env = Env::new();
    env.write("data.csv", "a\n");
    env.ok(&["exec", "--dataset", "data.csv", "--out", "o", "--", "true"]);
    let st = receipt_statement(&env.path("o.receipt.json"));
    let usage = &outcome(&st)["resourceUsage"];
    assert!(
        ["cgroup-v1", "cgroup-v2"].contains(&usage["accounting"].as_str().unwrap()),
        "{usage}"
    );
    assert!(usage["peakMemoryBytes"].as_u64().unwrap() > 0, "{usage}");
}

/// A poex binary and a home that the unprivileged user 65534 can use (CI runs as root).
struct Unprivileged {
    dir: tempfile::TempDir,
    poex: PathBuf,
}

impl Unprivileged {
    fn new() -> Option<Unprivileged> {
        if !running_as_root() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        // The test binary's own folders may not be open to that user: a copy is.
        let poex = dir.path().join("poex");
        fs::copy(env!("CARGO_BIN_EXE_poex"), &poex).unwrap();
        let work = dir.path().join("work");
        fs::create_dir(&work).unwrap();
        std::os::unix::fs::chown(&work, Some(65534), Some(65534)).unwrap();
        let u = Unprivileged { dir, poex };
        u.poex(&["init"], 0);
        Some(u)
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn poex(&self, args: &[&str], code: i32) -> String {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&self.poex)
            .arg("--home")
            .arg(self.work().join("home"))
            .args(args)
            .current_dir(self.work())
            .env_remove("POEX_HOME")
            .env(poex_exec::sandbox::CGROUP_ENV, "none")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "poex {args:?}: {text}");
        text
    }

    fn write(&self, rel: &str, content: &str) {
        let path = self.work().join(rel);
        fs::write(&path, content).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata("/proc/self").unwrap().uid() == 0
}

/// Run as an unprivileged user, a job that makes a folder unreadable (chmod 000) still ends
/// with a receipt, and its job folder verifies.
#[test]
fn an_unreadable_folder_left_by_an_unprivileged_job_ends_with_a_receipt() {
    let Some(u) = Unprivileged::new() else {
        return;
    };
    u.write("data.csv", "a\n");
    u.write(
        "lock.py",
        "import os, sys\nopen(sys.argv[1] + '/ok.txt', 'w').write('1')\nos.mkdir(sys.argv[1] + '/locked')\nopen(sys.argv[1] + '/locked/secret', 'w').write('x')\nos.chmod(sys.argv[1] + '/locked', 0)\n",
    );
    let out = u.work().join("out").to_string_lossy().into_owned();
    let text = u.poex(
        &[
            "exec",
            "--dataset",
            "data.csv",
            "--algorithm",
            "lock.py",
            "--out",
            &out,
            "--",
            "python3",
            "lock.py",
            &out,
        ],
        3,
    );
    assert!(text.contains("invalid-output"), "{text}");
    let st = receipt_statement(&u.work().join("out.receipt.json"));
    assert_eq!(outcome(&st)["status"], "invalid-output");
    u.poex(&["verify", "out.receipt.json"], 0);
}

/// Unprivileged, per process: the job gets the processes it asked for (poex's own helper
/// threads, which share the uid's RLIMIT_NPROC, are counted on top).
#[test]
fn an_unprivileged_job_gets_every_process_it_asked_for() {
    let Some(u) = Unprivileged::new() else {
        return;
    };
    u.write("data.csv", "a\n");
    // sh and 7 sleeps: 8 processes at once.
    let text = u.poex(
        &[
            "exec",
            "--dataset",
            "data.csv",
            "--processes",
            "8",
            "--out",
            "out",
            "--",
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7; do sleep 1 & done; wait; echo all-started",
        ],
        0,
    );
    assert!(text.contains("succeeded"), "{text}");
    let log = fs::read_to_string(u.work().join("out.log")).unwrap();
    assert_eq!(log, "all-started\n");
}
