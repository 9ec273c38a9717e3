//! Containment tests against the real bubblewrap: each job tries to break out or exhaust a
//! resource, and the test checks it was stopped, recorded, and left the host as it was.
//!
//! The jobs run one at a time (a process-wide lock): they share the sandbox uid's process
//! budget, and the machine has few cores.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use poex_exec::sandbox::{
    self, CancelToken, Limits, Mount, Outcome, SandboxError, Spec, Termination,
};

static SERIAL: Mutex<()> = Mutex::new(());

/// A dataset folder, an output folder, and a place outside both.
struct Job {
    _guard: Option<MutexGuard<'static, ()>>,
    root: tempfile::TempDir,
}

impl Job {
    fn new() -> Job {
        let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        Job::with_guard(Some(guard))
    }

    /// A job that does not take the lock: for a test that runs two jobs at once (it holds the
    /// lock through its other job).
    fn new_unserialized() -> Job {
        Job::with_guard(None)
    }

    fn with_guard(guard: Option<MutexGuard<'static, ()>>) -> Job {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("data")).unwrap();
        fs::write(root.path().join("data/numbers.csv"), "1\n2\n3\n").unwrap();
        fs::create_dir(root.path().join("out")).unwrap();
        Job {
            _guard: guard,
            root,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn spec(&self, argv: &[&str], limits: Limits) -> Spec {
        Spec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            read_only: vec![Mount {
                host: self.path("data"),
                sandbox: "/data".into(),
            }],
            output: self.path("out"),
            output_at: "/out".into(),
            workdir: "/out".into(),
            env: vec![],
            limits,
            cancel: None,
        }
    }

    fn run(&self, argv: &[&str], limits: Limits) -> Outcome {
        sandbox::run(&self.spec(argv, limits)).unwrap()
    }
}

fn quick() -> Limits {
    Limits {
        cpu_time: Duration::from_secs(5),
        wall_time: Duration::from_secs(10),
        memory_bytes: 512 << 20,
        processes: 16,
        output_bytes: 16 << 20,
        output_files: 1_000,
        log_bytes: 64 << 10,
        tmp_bytes: 8 << 20,
    }
}

fn log(outcome: &Outcome) -> String {
    String::from_utf8_lossy(&outcome.log).into_owned()
}

fn python(job: &Job, code: &str, limits: Limits) -> Outcome {
    job.run(&["python3", "-c", code], limits)
}

/// Processes whose command line contains `marker`, excluding this test process.
fn processes_with(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            fs::read(e.path().join("cmdline"))
                .ok()
                .map(|c| (e.file_name(), c))
        })
        .filter(|(_, c)| String::from_utf8_lossy(c).contains(marker))
        .map(|(pid, c)| format!("{}: {}", pid.to_string_lossy(), String::from_utf8_lossy(&c)))
        .collect()
}

/// Whether jobs get cgroups of their own here. With `POEX_REQUIRE_CGROUP=1` (CI sets it, on
/// a host whose cgroup v1 hierarchies root may write) their absence fails the test instead of
/// choosing the per-process expectations.
fn job_cgroups() -> bool {
    match sandbox::accounting() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var("POEX_REQUIRE_CGROUP").as_deref() != Ok("1"),
                "POEX_REQUIRE_CGROUP=1 but jobs get no cgroup: {why}"
            );
            false
        }
    }
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap()
}

#[test]
fn python_reads_dataset_and_writes_result() {
    let job = Job::new();
    let outcome = python(
        &job,
        "total = sum(int(l) for l in open('/data/numbers.csv'))\nopen('/out/result.txt', 'w').write(f'{total}\\n')\nprint('ok')",
        quick(),
    );
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "log: {}",
        log(&outcome)
    );
    assert_eq!(
        fs::read_to_string(job.path("out/result.txt")).unwrap(),
        "6\n"
    );
    assert_eq!(log(&outcome), "ok\n");
    assert_eq!(outcome.usage.output_files, 1);
    assert_eq!(outcome.usage.output_bytes, 2);
    // Usage covers the job itself, not only bubblewrap (python takes ~10 MiB and ~20 ms).
    assert!(outcome.usage.max_rss_bytes > 5 << 20, "{:?}", outcome.usage);
    assert!(
        outcome.usage.user_cpu + outcome.usage.system_cpu > Duration::from_millis(5),
        "{:?}",
        outcome.usage
    );
    assert!(
        outcome.profile.engine.starts_with("bubblewrap "),
        "{:?}",
        outcome.profile
    );
    assert_eq!(outcome.profile.network, "none");
    let json = serde_json::to_value(&outcome.profile).unwrap();
    assert!(
        json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["path"] == "/data" && m["access"] == "ro")
    );
    assert!(
        json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["path"] == "/out" && m["access"] == "rw")
    );
}

#[test]
fn network_to_host_loopback_is_blocked() {
    let job = Job::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\ns = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('127.0.0.1', {port}))\n    print('CONNECTED')\nexcept OSError as e:\n    print('blocked:', e)"
    );
    let outcome = python(&job, &code, quick());
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "log: {}",
        log(&outcome)
    );
    assert!(
        log(&outcome).starts_with("blocked:"),
        "log: {}",
        log(&outcome)
    );
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the listener saw a connection"
    );
}

#[test]
fn reads_outside_the_mounts_fail() {
    let job = Job::new();
    let secret_dir = job.path("secret");
    fs::create_dir(&secret_dir).unwrap();
    let secret = secret_dir.join("key.txt");
    fs::write(&secret, "do not read").unwrap();
    let before = fs::metadata(&secret).unwrap().modified().unwrap();
    let code = format!(
        "import os\nfor p in ['/etc/shadow', {secret:?}, {dir:?}, '/root', '/home']:\n    try:\n        print('READ', p, open(p).read() if os.path.isfile(p) else os.listdir(p))\n    except OSError as e:\n        print('denied', p, type(e).__name__)",
        secret = secret.to_str().unwrap(),
        dir = secret_dir.to_str().unwrap(),
    );
    let outcome = python(&job, &code, quick());
    let text = log(&outcome);
    assert_eq!(outcome.termination, Termination::Exited(0), "log: {text}");
    assert!(!text.contains("READ"), "log: {text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("denied")).count(),
        5,
        "log: {text}"
    );
    assert_eq!(fs::read_to_string(&secret).unwrap(), "do not read");
    assert_eq!(fs::metadata(&secret).unwrap().modified().unwrap(), before);
}

#[test]
fn writes_into_the_dataset_fail() {
    let job = Job::new();
    let code = "import os\nfor p in ['/data/numbers.csv', '/data/new.txt']:\n    try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n    except OSError as e:\n        print('denied', p, e.strerror)\ntry:\n    os.remove('/data/numbers.csv'); print('REMOVED')\nexcept OSError as e:\n    print('denied remove', e.strerror)";
    let outcome = python(&job, code, quick());
    let text = log(&outcome);
    assert_eq!(outcome.termination, Termination::Exited(0), "log: {text}");
    assert!(
        !text.contains("WROTE") && !text.contains("REMOVED"),
        "log: {text}"
    );
    assert!(text.contains("Read-only file system"), "log: {text}");
    assert_eq!(
        fs::read_to_string(job.path("data/numbers.csv")).unwrap(),
        "1\n2\n3\n"
    );
    let names: Vec<_> = fs::read_dir(job.path("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["numbers.csv"]);
}

#[test]
fn fork_bomb_is_contained() {
    let job = Job::new();
    let limits = Limits {
        wall_time: Duration::from_secs(2),
        cpu_time: Duration::from_secs(2),
        ..quick()
    };
    let started = Instant::now();
    let outcome = job.run(
        &[
            "sh",
            "-c",
            "(b() { b | b & }; b); exec sleep 30 # poex-fork-bomb",
        ],
        limits,
    );
    assert!(
        matches!(
            outcome.termination,
            Termination::WallTimeExceeded | Termination::CpuTimeExceeded
        ),
        "{:?} log: {}",
        outcome.termination,
        log(&outcome)
    );
    assert!(
        log(&outcome).contains("Cannot fork"),
        "the process limit was never hit: {}",
        log(&outcome)
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(processes_with("poex-fork-bomb"), Vec::<String>::new());
    // The host can still start processes.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn unbounded_allocation_is_contained() {
    let job = Job::new();
    let limits = Limits {
        memory_bytes: 256 << 20,
        ..quick()
    };
    let outcome = python(
        &job,
        "a = []\nwhile True:\n    a.append(bytearray(10_000_000))",
        limits,
    );
    if job_cgroups() {
        // The cgroup's OOM killer ends it; the parent says why.
        assert_eq!(
            outcome.termination,
            Termination::MemoryLimitExceeded,
            "log: {}",
            log(&outcome)
        );
        let peak = outcome.usage.peak_memory_bytes.unwrap();
        assert!(peak <= 256 << 20, "{:?}", outcome.usage);
    } else {
        // Per process: RLIMIT_AS makes the allocation fail inside the job.
        assert_eq!(
            outcome.termination,
            Termination::Exited(1),
            "log: {}",
            log(&outcome)
        );
        assert!(
            log(&outcome).contains("MemoryError"),
            "log: {}",
            log(&outcome)
        );
        // (With a cgroup RSS may read above the limit: it counts file pages, such as
        // python's own, that were charged to whoever read them first.)
        assert!(
            outcome.usage.max_rss_bytes < 256 << 20,
            "{:?}",
            outcome.usage
        );
    }
}

#[test]
fn infinite_loop_hits_the_cpu_limit() {
    let job = Job::new();
    let limits = Limits {
        cpu_time: Duration::from_secs(1),
        ..quick()
    };
    let outcome = python(&job, "while True: pass", limits);
    assert_eq!(
        outcome.termination,
        Termination::CpuTimeExceeded,
        "{:?} log: {}",
        outcome.usage,
        log(&outcome)
    );
    let cpu = outcome.usage.user_cpu + outcome.usage.system_cpu;
    assert!(
        cpu >= Duration::from_millis(900) && cpu < Duration::from_secs(3),
        "{:?}",
        outcome.usage
    );
}

#[test]
fn sleeping_forever_hits_the_wall_limit_and_leaves_nothing() {
    let job = Job::new();
    let limits = Limits {
        wall_time: Duration::from_secs(1),
        ..quick()
    };
    let outcome = job.run(&["sh", "-c", "sleep 987654 & sleep 987653"], limits);
    assert_eq!(
        outcome.termination,
        Termination::WallTimeExceeded,
        "log: {}",
        log(&outcome)
    );
    assert!(
        outcome.usage.wall >= Duration::from_secs(1) && outcome.usage.wall < Duration::from_secs(3)
    );
    assert_eq!(processes_with("98765"), Vec::<String>::new());
}

#[test]
fn a_cancelled_job_is_killed_and_leaves_nothing() {
    let job = Job::new();
    let token = CancelToken::new();
    let mut spec = job.spec(&["sh", "-c", "sleep 876543 & sleep 876542"], quick());
    spec.limits.wall_time = Duration::from_secs(30);
    spec.cancel = Some(token.clone());
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        token.cancel();
    });
    let start = Instant::now();
    let outcome = sandbox::run(&spec).unwrap();
    canceller.join().unwrap();
    assert_eq!(
        outcome.termination,
        Termination::Cancelled,
        "log: {}",
        log(&outcome)
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(processes_with("87654"), Vec::<String>::new());
}

#[test]
fn a_job_cancelled_before_it_starts_ends_cancelled() {
    let job = Job::new();
    let token = CancelToken::new();
    token.cancel();
    let mut spec = job.spec(&["sleep", "30"], quick());
    spec.cancel = Some(token);
    let outcome = sandbox::run(&spec).unwrap();
    assert_eq!(outcome.termination, Termination::Cancelled);
}

#[test]
fn writing_10_gb_to_one_file_stops_at_the_output_limit() {
    let job = Job::new();
    let limits = Limits {
        output_bytes: 10 << 20,
        ..quick()
    };
    let started = Instant::now();
    let outcome = job.run(
        &["dd", "if=/dev/zero", "of=/out/big", "bs=1M", "count=10240"],
        limits,
    );
    assert_eq!(
        outcome.termination,
        Termination::OutputLimitExceeded,
        "log: {}",
        log(&outcome)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fs::metadata(job.path("out/big")).unwrap().len(), 10 << 20);
}

#[test]
fn writing_10_gb_in_many_files_is_stopped_by_the_watcher() {
    let job = Job::new();
    let limits = Limits {
        output_bytes: 20 << 20,
        ..quick()
    };
    let started = Instant::now();
    let code = "chunk = b'x' * (1 << 20)\nfor i in range(10240):\n    with open(f'/out/part{i}', 'wb') as f:\n        f.write(chunk)";
    let outcome = python(&job, code, limits);
    assert_eq!(
        outcome.termination,
        Termination::OutputLimitExceeded,
        "log: {}",
        log(&outcome)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Overshoot is bounded by what the job writes in one polling interval.
    assert!(
        outcome.usage.output_bytes < 200 << 20,
        "{:?}",
        outcome.usage
    );
    assert!(outcome.usage.output_bytes > 20 << 20, "{:?}", outcome.usage);
}

#[test]
fn a_chatty_job_gets_a_bounded_log() {
    let job = Job::new();
    let code = "import sys\nline = b'y' * 1023 + b'\\n'\nfor _ in range(100 * 1024):\n    sys.stdout.buffer.write(line)\nsys.stderr.write('done\\n')";
    let outcome = python(&job, code, quick());
    assert_eq!(outcome.termination, Termination::Exited(0));
    assert_eq!(outcome.log.len(), 64 << 10);
    assert!(outcome.log_truncated);
    assert_eq!(outcome.usage.log_bytes, 100 * 1024 * 1024 + 5);
}

#[test]
#[expect(unsafe_code, reason = "std::env::set_var is unsafe in edition 2024")]
fn environment_is_scrubbed() {
    let job = Job::new();
    // SAFETY: every test takes SERIAL before touching the environment or spawning, so no
    // other thread of this process reads the environment while it changes.
    unsafe { std::env::set_var("POEX_SECRET_TEST", "hunter2") };
    let mut spec = job.spec(&["sh", "-c", "env | sort"], quick());
    spec.env.push(("ALGO_ARG".into(), "1".into()));
    let outcome = sandbox::run(&spec).unwrap();
    let text = log(&outcome);
    assert!(
        !text.contains("POEX_SECRET_TEST") && !text.contains("hunter2"),
        "log: {text}"
    );
    let keys: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(
        keys,
        ["ALGO_ARG", "HOME", "LANG", "PATH", "PWD"],
        "log: {text}"
    );
    assert_eq!(
        outcome.profile.env_keys,
        ["ALGO_ARG", "HOME", "LANG", "PATH"]
    );
}

#[test]
fn inputs_under_a_private_parent_are_reachable() {
    let job = Job::new();
    let private = job.path("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let data = private.join("dataset");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("a.txt"), "hello").unwrap();
    let mut spec = job.spec(&["cat", "/data/a.txt"], quick());
    spec.read_only = vec![Mount {
        host: data,
        sandbox: "/data".into(),
    }];
    let outcome = sandbox::run(&spec).unwrap();
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "log: {}",
        log(&outcome)
    );
    assert_eq!(log(&outcome), "hello");
}

#[test]
fn an_unreadable_input_is_refused_by_name_when_root() {
    if !running_as_root() {
        eprintln!("skipped: only root drops to another uid");
        return;
    }
    let job = Job::new();
    let file = job.path("data/numbers.csv");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let err = sandbox::run(&job.spec(&["true"], quick())).unwrap_err();
    match &err {
        SandboxError::NotReadable { path, uid } => {
            assert_eq!(path, &file);
            assert_eq!(*uid, 65534);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("chmod"), "{err}");
}

#[test]
fn a_missing_program_did_not_start() {
    let job = Job::new();
    let outcome = job.run(&["/no/such/program"], quick());
    assert_eq!(outcome.termination, Termination::NotStarted);
    assert!(
        log(&outcome).contains("execvp /no/such/program"),
        "{}",
        log(&outcome)
    );
}

/// A job cannot pass itself off as a sandbox that failed to start: it prints what bubblewrap
/// prints and exits 1, and is still a job that ran and exited 1.
#[test]
fn a_job_printing_a_bwrap_message_is_still_a_job_that_exited() {
    let job = Job::new();
    let outcome = job.run(
        &[
            "sh",
            "-c",
            "echo 'bwrap: execvp /algo/main.py: No such file or directory' >&2; exit 1",
        ],
        quick(),
    );
    assert_eq!(
        outcome.termination,
        Termination::Exited(1),
        "{}",
        log(&outcome)
    );
}

#[test]
fn reserved_mount_points_are_refused() {
    let job = Job::new();
    let mut spec = job.spec(&["true"], quick());
    spec.read_only[0].sandbox = "/etc/shadow".into();
    assert!(matches!(
        sandbox::run(&spec),
        Err(SandboxError::InvalidSpec { .. })
    ));
    spec.read_only[0].sandbox = "/data/../etc".into();
    assert!(matches!(
        sandbox::run(&spec),
        Err(SandboxError::InvalidSpec { .. })
    ));
}

/// Calls each system call through `ctypes` and prints `name return errno`.
#[cfg(target_arch = "x86_64")]
const SYSCALL_PROBE: &str = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(name, nr, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(name, ret, ctypes.get_errno() if ret == -1 else 0, flush=True)
call("ptrace_traceme", 101, 0, 0, 0, 0)          # PTRACE_TRACEME: 0 without the filter
call("perf_event_open", 298, 0, 0, -1, -1, 0)    # NULL attr: EFAULT without the filter
call("io_uring_setup", 425, 1, 0)                # NULL params: EFAULT without the filter
call("keyctl", 250, 0, -3, 0)                    # session keyring id: a number without it
call("unshare_newns", 272, 0x20000)              # CLONE_NEWNS: EPERM anyway (no capability)
call("unshare_nothing", 272, 0)                  # a no-op: 0 without the filter
call("x32_getpid", 0x40000000 + 39)              # x32 ABI: ENOSYS or a pid without it
call("getpid", 39)                               # allowed: pid 2 in the sandbox
"#;

#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_denies_escape_system_calls_with_eperm() {
    let job = Job::new();
    let outcome = python(&job, SYSCALL_PROBE, quick());
    let text = log(&outcome);
    assert_eq!(outcome.termination, Termination::Exited(0), "log: {text}");
    let results: Vec<(&str, i64, i32)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0], f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    let denied = [
        "ptrace_traceme",
        "perf_event_open",
        "io_uring_setup",
        "keyctl",
        "unshare_newns",
        "unshare_nothing",
        "x32_getpid",
    ];
    assert_eq!(results.len(), denied.len() + 1, "log: {text}");
    let names: Vec<&str> = results.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names[..denied.len()], denied, "log: {text}");
    let not_denied: Vec<_> = results[..denied.len()]
        .iter()
        .filter(|(_, ret, errno)| (*ret, *errno) != (-1, libc::EPERM))
        .collect();
    assert!(not_denied.is_empty(), "not EPERM: {not_denied:?}");
    assert_eq!(results[denied.len()], ("getpid", 2, 0), "log: {text}");
    assert_eq!(outcome.profile.seccomp, sandbox::seccomp::description());
    assert!(
        outcome
            .profile
            .seccomp
            .starts_with("deny-list v1: 47 syscalls"),
        "{}",
        outcome.profile.seccomp
    );
}

/// `int 0x80` (the i386 ABI, with its own numbers) from a 64-bit process: the filter sees
/// another `arch` and kills the process with `SIGSYS`.
#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_kills_i386_system_calls() {
    let code = r#"
import ctypes, mmap
code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax, 20 (i386 getpid); int 0x80; ret
buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
print("pid", ctypes.CFUNCTYPE(ctypes.c_int)(addr)(), flush=True)
"#;
    let job = Job::new();
    // Only meaningful where the kernel runs i386 calls at all (ia32 emulation).
    let host = std::process::Command::new("python3")
        .args(["-c", code])
        .output()
        .unwrap();
    if !host.status.success() {
        eprintln!("skipped: this kernel does not run i386 system calls ({host:?})");
        return;
    }
    let outcome = python(&job, code, quick());
    assert_eq!(
        outcome.termination,
        Termination::Exited(128 + libc::SIGSYS),
        "log: {}",
        log(&outcome)
    );
    assert_eq!(log(&outcome), "");
}

#[test]
fn an_ordinary_job_runs_under_seccomp() {
    let job = Job::new();
    let code = r#"
import concurrent.futures, os, subprocess, sys, tempfile
rows = [int(l) for l in open('/data/numbers.csv')]
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    squares = list(pool.map(lambda x: x * x, rows))
child = subprocess.run([sys.executable, '-c', 'import sys; print(sum(map(int, sys.argv[1:])))'] + [str(s) for s in squares], capture_output=True, text=True, check=True)
shell = subprocess.run(['sh', '-c', 'echo $((1 + 2))'], capture_output=True, text=True, check=True)
with tempfile.NamedTemporaryFile('w', dir='/tmp') as t:
    t.write('scratch')
    t.flush()
os.makedirs('/out/sub', exist_ok=True)
with open('/out/sub/result.txt', 'w') as f:
    f.write(child.stdout.strip() + ' ' + shell.stdout.strip() + '\n')
print('ok', len(os.urandom(16)))
"#;
    let outcome = python(&job, code, quick());
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "log: {}",
        log(&outcome)
    );
    assert_eq!(log(&outcome), "ok 16\n");
    assert_eq!(
        fs::read_to_string(job.path("out/sub/result.txt")).unwrap(),
        "14 3\n"
    );
}

/// Watches the host's `MemAvailable` while `f` runs; returns `f`'s value and the largest drop
/// seen from before it started, in bytes.
fn host_memory_drop<T>(f: impl FnOnce() -> T) -> (T, u64) {
    fn available() -> u64 {
        let info = fs::read_to_string("/proc/meminfo").unwrap();
        let kib: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib << 10
    }
    let before = available();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut lowest = before;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                lowest = lowest.min(available());
                std::thread::sleep(Duration::from_millis(10));
            }
            before.saturating_sub(lowest)
        })
    };
    let value = f();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (value, watcher.join().unwrap())
}

/// The issue's bypasses of a per-process memory limit: each tries to pin 2 GiB under a
/// 256 MiB budget through memory RLIMIT_AS does not see. With a job cgroup each ends
/// `MemoryLimitExceeded`, the cgroup's peak stays within the budget, and so does the host's
/// memory (with a margin for the rest of the machine).
#[test]
fn memory_the_address_space_limit_misses_is_counted_for_the_job() {
    if !job_cgroups() {
        return;
    }
    let budget: u64 = 256 << 20;
    let attacks: [(&str, String); 5] = [
        (
            "/dev/shm",
            "f = open('/dev/shm/pin', 'wb')\nfor _ in range(2048): f.write(b'x' * (1 << 20))\nimport time; time.sleep(30)".into(),
        ),
        (
            "/tmp",
            "f = open('/tmp/pin', 'wb')\nfor _ in range(2048): f.write(b'x' * (1 << 20))\nimport time; time.sleep(30)".into(),
        ),
        (
            "memfd",
            "import os, time\nfd = os.memfd_create('pin')\nfor _ in range(2048): os.write(fd, b'x' * (1 << 20))\ntime.sleep(30)".into(),
        ),
        (
            "3000 socketpairs",
            "import resource, socket, time\nresource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))\npairs = []\nfor _ in range(3000):\n    a, b = socket.socketpair()\n    a.setblocking(False)\n    try:\n        while True: a.send(b'x' * 65536)\n    except BlockingIOError: pass\n    pairs.append((a, b))\ntime.sleep(30)".into(),
        ),
        (
            "6 processes of 200 MiB",
            "import os, time\nfor _ in range(6):\n    if os.fork() == 0:\n        b = bytearray(200 << 20)\n        for i in range(0, len(b), 4096): b[i] = 1\n        time.sleep(30)\n        os._exit(0)\ntime.sleep(30)".into(),
        ),
    ];
    for (what, code) in attacks {
        let job = Job::new();
        let limits = Limits {
            memory_bytes: budget,
            // Asked for more than the budget: capped at it.
            tmp_bytes: 4 << 30,
            // RLIMIT_FSIZE (the per-file output limit) bounds files in /tmp too: out of the way.
            output_bytes: 4 << 30,
            processes: 16,
            wall_time: Duration::from_secs(20),
            ..quick()
        };
        let (outcome, drop) = host_memory_drop(|| python(&job, &code, limits));
        assert_eq!(
            outcome.termination,
            Termination::MemoryLimitExceeded,
            "{what}: {:?} log: {}",
            outcome.usage,
            log(&outcome)
        );
        let peak = outcome.usage.peak_memory_bytes.unwrap();
        assert!(peak <= budget, "{what}: peak {peak}");
        assert!(
            peak > budget / 2,
            "{what}: the attack never filled the budget: {peak}"
        );
        // Unbounded, each would take 2 GiB or more of the host.
        assert!(drop < 1 << 30, "{what}: the host lost {} MiB", drop >> 20);
        assert_ne!(outcome.usage.accounting, sandbox::Accounting::PerProcess);
        assert_eq!(outcome.profile.accounting, outcome.usage.accounting);
    }
}

/// The sandbox's root and /dev are tmpfs mounts bubblewrap makes without a size: they are
/// read-only, so nothing can be pinned there at all.
#[test]
fn the_sandbox_root_and_dev_are_read_only() {
    let job = Job::new();
    let code = "import errno\nfor path in ['/pin', '/dev/pin', '/usr/pin']:\n    try:\n        open(path, 'wb').write(b'x')\n        print('wrote', path)\n    except OSError as e:\n        print(path, errno.errorcode[e.errno])";
    let outcome = python(&job, code, quick());
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "{}",
        log(&outcome)
    );
    assert_eq!(
        log(&outcome),
        "/pin EROFS\n/dev/pin EROFS\n/usr/pin EROFS\n"
    );
    let json = serde_json::to_value(&outcome.profile).unwrap();
    let mounts = json["mounts"].as_array().unwrap();
    for (path, access) in [("/", "ro"), ("/dev/shm", "rw"), ("/tmp", "rw")] {
        assert!(
            mounts
                .iter()
                .any(|m| m["path"] == path && m["access"] == access),
            "{path} {access}: {mounts:?}"
        );
    }
}

/// CPU time is the job's, not each process's: five CPU-bound processes under a 2 s limit are
/// stopped once they used 2 s together (per process they could use 10 s).
#[test]
fn cpu_time_is_limited_for_the_job_as_a_whole() {
    if !job_cgroups() {
        return;
    }
    let job = Job::new();
    let limits = Limits {
        cpu_time: Duration::from_secs(2),
        wall_time: Duration::from_secs(30),
        ..quick()
    };
    let code = "import os\nfor _ in range(5):\n    if os.fork() == 0:\n        while True: pass\nwhile True: pass";
    let outcome = python(&job, code, limits);
    assert_eq!(
        outcome.termination,
        Termination::CpuTimeExceeded,
        "{:?} log: {}",
        outcome.usage,
        log(&outcome)
    );
    let cpu = outcome.usage.user_cpu + outcome.usage.system_cpu;
    assert!(cpu >= Duration::from_secs(2), "{:?}", outcome.usage);
    assert!(cpu < Duration::from_secs(4), "{:?}", outcome.usage);
}

/// Two jobs at once each get their own process budget: a fork bomb filling one job's budget
/// leaves the other job's forks alone (a per-uid RLIMIT_NPROC would have shared it).
#[test]
fn concurrent_jobs_do_not_share_a_process_budget() {
    if !job_cgroups() {
        return;
    }
    let other = Job::new();
    let bomb = Job::new_unserialized();
    let bomb_spec = bomb.spec(
        &[
            "sh",
            "-c",
            "(b() { b | b & }; b); exec sleep 30 # poex-budget-bomb",
        ],
        Limits {
            wall_time: Duration::from_secs(6),
            processes: 16,
            ..quick()
        },
    );
    let bomber = std::thread::spawn(move || sandbox::run(&bomb_spec).unwrap());
    std::thread::sleep(Duration::from_secs(2));
    let outcome = other.run(
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2 & done; wait; echo done",
        ],
        Limits {
            processes: 16,
            ..quick()
        },
    );
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "{}",
        log(&outcome)
    );
    assert_eq!(log(&outcome), "done\n");
    let bombed = bomber.join().unwrap();
    assert!(log(&bombed).contains("Cannot fork"), "{}", log(&bombed));
    assert_eq!(processes_with("poex-budget-bomb"), Vec::<String>::new());
    drop(bomb);
}

/// The job cgroup is gone once the job is, and the receipt's figures come from it.
#[test]
fn the_job_cgroup_reports_and_goes_away() {
    if !job_cgroups() {
        return;
    }
    let job = Job::new();
    let outcome = python(
        &job,
        "b = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1",
        quick(),
    );
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "{}",
        log(&outcome)
    );
    let peak = outcome.usage.peak_memory_bytes.unwrap();
    assert!(peak >= 64 << 20, "{:?}", outcome.usage);
    assert_eq!(outcome.profile.nproc_rlimit, None);
    let mine = format!("poex-{}-", std::process::id());
    for dir in [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/cpuacct",
        "/sys/fs/cgroup/unified",
    ] {
        let found = walk_names(std::path::Path::new(dir), &mine);
        assert_eq!(found, Vec::<String>::new(), "left in {dir}");
    }
}

/// Folders below `dir` (two levels) whose name starts with `prefix`.
fn walk_names(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) {
            found.push(e.path().display().to_string());
        } else if e.path().is_dir() {
            found.extend(
                walk_names(&e.path(), prefix)
                    .into_iter()
                    .filter(|p| p.matches('/').count() < 8),
            );
        }
    }
    found
}

/// The output watcher never follows what the job swaps in: a folder that becomes a link to
/// /usr (gigabytes) does not make a job that wrote nothing exceed its output limit.
#[test]
fn the_output_watcher_does_not_follow_a_swapped_in_link() {
    let job = Job::new();
    let limits = Limits {
        output_bytes: 1 << 20,
        ..quick()
    };
    let code = "import os, time\nend = time.time() + 1.5\nwhile time.time() < end:\n    os.mkdir('/out/d')\n    os.rmdir('/out/d')\n    os.symlink('/usr', '/out/d')\n    time.sleep(0.01)\n    os.unlink('/out/d')";
    let outcome = python(&job, code, limits);
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "{:?} {}",
        outcome.usage,
        log(&outcome)
    );
    assert_eq!(outcome.usage.output_bytes, 0);
}

/// Many files stop the job at its file limit, and folders nested deeper than the limit stop it
/// whatever their size.
#[test]
fn too_many_files_or_too_deep_folders_stop_the_job() {
    let job = Job::new();
    let limits = Limits {
        output_files: 500,
        wall_time: Duration::from_secs(20),
        ..quick()
    };
    let outcome = python(
        &job,
        "import time\nfor i in range(100_000): open(f'/out/f{i}', 'w').close()\ntime.sleep(20)",
        limits.clone(),
    );
    assert_eq!(
        outcome.termination,
        Termination::OutputLimitExceeded,
        "{}",
        log(&outcome)
    );
    assert!(outcome.usage.output_entries > 500, "{:?}", outcome.usage);
    drop(job);

    let job = Job::new();
    let code = format!(
        "import os, time\nfor _ in range({}):\n    os.mkdir('d')\n    os.chdir('d')\ntime.sleep(20)",
        sandbox::MAX_OUTPUT_DEPTH + 10
    );
    let outcome = python(&job, &code, limits);
    assert_eq!(
        outcome.termination,
        Termination::OutputLimitExceeded,
        "{}",
        log(&outcome)
    );
    assert!(outcome.usage.output_too_deep, "{:?}", outcome.usage);
}

/// Sparse files count by the size they claim: twenty 1000 MiB holes are over a 1 GiB output
/// limit at once.
#[test]
fn sparse_files_count_by_their_apparent_size() {
    let job = Job::new();
    let limits = Limits {
        output_bytes: 1 << 30,
        wall_time: Duration::from_secs(20),
        ..quick()
    };
    let code = "import time\nfor i in range(20):\n    with open(f'/out/hole{i}', 'wb') as f: f.truncate(1000 << 20)\ntime.sleep(20)";
    let outcome = python(&job, code, limits);
    assert_eq!(
        outcome.termination,
        Termination::OutputLimitExceeded,
        "{}",
        log(&outcome)
    );
    assert_eq!(outcome.usage.output_bytes, 20 * (1000 << 20));
}

/// The seccomp filter covers bubblewrap's pid 1 in the sandbox too, not only the job.
#[test]
fn the_sandbox_init_runs_under_seccomp() {
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let job = Job::new();
    let outcome = job.run(
        &[
            "sh",
            "-c",
            "grep '^Seccomp:' /proc/1/status /proc/self/status",
        ],
        quick(),
    );
    assert_eq!(
        log(&outcome),
        "/proc/1/status:Seccomp:\t2\n/proc/self/status:Seccomp:\t2\n"
    );
}
