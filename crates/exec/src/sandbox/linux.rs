//! The Linux runner: bubblewrap for isolation, rlimits set between fork and exec, and a
//! supervising parent for wall time, output size and the log.
//!
//! Threads per job: one drains the log pipe, one reads bubblewrap's JSON status, one blocks
//! in `waitid` until bubblewrap exits; the calling thread polls the cancel token, the clock,
//! the job cgroup's CPU time and OOM kills every [`POLL`], and the output folder at most every
//! [`POLL`] (less often when walking it takes long), and kills the sandbox when the job is
//! cancelled or a limit is crossed.

use std::ffi::{CString, OsString};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, PipeReader, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::cgroup::{self, JobCgroup};
use super::{
    Access, Accounting, Mount, Outcome, Profile, ProfileMount, RESERVED_PATHS, SandboxError, Spec,
    Termination, UNPRIVILEGED_ID, Usage,
};
use crate::outdir::{self, measure};

/// How often the parent checks the cancel token, the wall clock and the output folder.
const POLL: Duration = Duration::from_millis(50);
/// How long after killing the sandbox's init the parent waits before killing bubblewrap too.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// How long the parent waits for the sandbox's pid namespace to empty after the kill.
const REAP_TIMEOUT: Duration = Duration::from_secs(3);
/// Hostname inside the sandbox (the host's name is not revealed).
const HOSTNAME: &str = "poex";
/// Where root stages input mounts so that the sandbox uid can reach them (see [`Stage`]).
const STAGE_ROOT: &str = "/run/poex-sandbox";
/// `/etc` entries the job sees: what the dynamic linker, python and `getpwuid` need, nothing
/// secret (never `shadow`, `gshadow`, `ssh`, `ssl/private`). `python3*` entries are added.
const ETC_ENTRIES: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "passwd",
    "group",
    "nsswitch.conf",
];
/// Top-level system folders that merged-/usr systems make symlinks into `/usr`.
const USR_ALIASES: &[&str] = &["bin", "sbin", "lib", "lib64", "lib32", "libx32"];
/// bubblewrap's own processes (outer monitor and pid-namespace init), counted by `RLIMIT_NPROC`
/// and `pids.max`.
const BWRAP_PROCESSES: u64 = 2;
/// Threads this runner starts after counting the uid's tasks (log, status, wait): when the job
/// runs as the caller's uid they count against its `RLIMIT_NPROC` too.
const HELPER_THREADS: u64 = 3;
/// The output watcher walks the folder at most once per this many times the last walk took,
/// so that its cost stays a small share of a core however many files the job makes.
const WATCH_COST_FACTOR: u32 = 10;

pub(super) fn run(spec: &Spec) -> Result<Outcome, SandboxError> {
    validate(spec)?;
    let engine = engine()?;
    become_subreaper();
    let id = identity();

    let mut profile = Profile {
        engine: engine.version.clone(),
        namespaces: ["user", "mount", "pid", "net", "ipc", "uts", "cgroup"]
            .map(String::from)
            .to_vec(),
        nested_user_namespaces: false,
        network: "none".into(),
        uid: id.uid,
        gid: id.gid,
        hostname: HOSTNAME.into(),
        mounts: Vec::new(),
        limits: spec.limits.clone(),
        nproc_rlimit: None,
        env_keys: Vec::new(),
        accounting: Accounting::PerProcess,
        seccomp: super::seccomp::description(),
    };

    // The job's own cgroup, where the host allows one: limits and usage for the whole job.
    // Where it does not (or making one fails now), per-process rlimits, and the receipt says so.
    let cgroup = cgroup::hierarchy().ok().and_then(|h| {
        JobCgroup::create(
            h,
            spec.limits.memory_bytes,
            u64::from(spec.limits.processes) + BWRAP_PROCESSES,
        )
        .ok()
    });
    profile.accounting = cgroup
        .as_ref()
        .map_or(Accounting::PerProcess, JobCgroup::accounting);
    // Removes the job cgroup on every return below, killing anything left in it.
    let cgroup = CgroupGuard(cgroup);

    // Open every mount source now: what is mounted is what was opened, even if a path is
    // swapped afterwards.
    let mut stage = if id.root {
        Some(Stage::create().map_err(io_err("creating the staging folder"))?)
    } else {
        None
    };
    let mut mounts = Vec::new();
    for m in &spec.read_only {
        let file = File::open(&m.host).map_err(|source| SandboxError::Open {
            path: m.host.clone(),
            source,
        })?;
        let is_dir = file
            .metadata()
            .map_err(io_err("reading mount metadata"))?
            .is_dir();
        if id.root {
            check_readable(&m.host, id.uid, id.gid)?;
        }
        mounts.push(Opened {
            file: above_stdio(file)?,
            sandbox: m.sandbox.clone(),
            writable: false,
            is_dir,
            staged: None,
        });
    }
    let out_file = File::open(&spec.output).map_err(|source| SandboxError::Open {
        path: spec.output.clone(),
        source,
    })?;
    let out_meta = out_file.metadata().map_err(|source| SandboxError::Output {
        path: spec.output.clone(),
        source,
    })?;
    if !out_meta.is_dir() {
        return Err(SandboxError::Output {
            path: spec.output.clone(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    if id.root && (out_meta.uid() != id.uid || out_meta.gid() != id.gid) {
        std::os::unix::fs::fchown(&out_file, Some(id.uid), Some(id.gid)).map_err(|source| {
            SandboxError::Output {
                path: spec.output.clone(),
                source,
            }
        })?;
    }
    mounts.push(Opened {
        file: above_stdio(out_file)?,
        sandbox: spec.output_at.clone(),
        writable: true,
        is_dir: true,
        staged: None,
    });

    let mut binds = Vec::new();
    if let Some(stage) = stage.as_mut() {
        for m in &mut mounts {
            let target = stage
                .mountpoint(m.is_dir)
                .map_err(io_err("creating a staging mountpoint"))?;
            binds.push((
                m.file.as_raw_fd(),
                cstring(target.as_os_str().as_bytes().to_vec())?,
            ));
            m.staged = Some(target);
        }
    }

    let (log_r, log_w) = io::pipe().map_err(io_err("creating the log pipe"))?;
    let (status_r, status_w) = io::pipe().map_err(io_err("creating the status pipe"))?;
    let status_w = above_stdio(status_w)?;
    let seccomp = seccomp_pipe()?;

    let args = bwrap_args(
        spec,
        &mounts,
        status_w.as_raw_fd(),
        seccomp.as_ref().map(AsRawFd::as_raw_fd),
        &mut profile,
    );

    // RLIMIT_NPROC counts every task of the host uid: without a pids cgroup it is the only
    // bound, so it is the budget plus what the uid runs already (and, when the job runs as the
    // caller, the helper threads started below); with one, pids.max bounds this job alone.
    let nproc = match &cgroup.0 {
        Some(_) => None,
        None => Some(
            u64::from(spec.limits.processes)
                + BWRAP_PROCESSES
                + tasks_of_uid(id.uid)
                + if id.root { 0 } else { HELPER_THREADS },
        ),
    };
    profile.nproc_rlimit = nproc;
    let cpu_secs =
        spec.limits.cpu_time.as_secs() + u64::from(spec.limits.cpu_time.subsec_nanos() > 0);
    let mut inherit = vec![status_w.as_raw_fd()];
    inherit.extend(seccomp.as_ref().map(AsRawFd::as_raw_fd));
    if stage.is_none() {
        inherit.extend(mounts.iter().map(|m| m.file.as_raw_fd()));
    }
    let setup = sys::ChildSetup {
        cgroup_procs: cgroup
            .0
            .as_ref()
            .map(JobCgroup::procs_fds)
            .unwrap_or_default(),
        stage: stage.as_ref().map(|_| sys::StageSetup {
            trees: vec![-1; binds.len()],
            binds,
            uid: id.uid,
            gid: id.gid,
        }),
        parent: std::process::id(),
        rlimits: sys::rlimits(
            cpu_secs,
            // The cgroup counts memory for the whole job; an address-space limit per process
            // would only fail allocations (and reservations) earlier and less clearly.
            cgroup.0.is_none().then_some(spec.limits.memory_bytes),
            nproc,
            spec.limits.output_bytes,
        ),
        inherit,
    };

    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("HOME".into(), "/tmp".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    for (k, v) in &spec.env {
        env.retain(|(existing, _)| existing != k);
        env.push((k.clone(), v.clone()));
    }
    profile.env_keys = env.iter().map(|(k, _)| k.clone()).collect();
    profile.env_keys.sort();

    let mut cmd = Command::new(&engine.path);
    cmd.args(&args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(
            log_w
                .try_clone()
                .map_err(io_err("duplicating the log pipe"))?,
        )
        .stderr(log_w)
        .process_group(0);
    sys::set_pre_exec(&mut cmd, setup);

    let start = Instant::now();
    let child = cmd.spawn().map_err(io_err("launching bubblewrap"))?;
    let pid = i32::try_from(child.id())
        .map_err(|_| io_err("launching bubblewrap")(io::Error::other("pid out of range")))?;
    // The parent's copies of the write ends must go, or the readers never see end-of-file.
    drop(cmd);
    drop(status_w);
    drop(seccomp);
    drop(mounts);

    let log_cap = usize::try_from(spec.limits.log_bytes).unwrap_or(usize::MAX);
    let log_thread = thread::spawn(move || read_log(log_r, log_cap));
    let (tx, rx) = mpsc::channel();
    let status_tx = tx.clone();
    let status_thread = thread::spawn(move || read_status(status_r, status_tx));
    thread::spawn(move || {
        sys::wait_exited(pid);
        let _ = tx.send(Event::Exited);
    });

    let deadline = start + spec.limits.wall_time;
    let mut next_walk = start;
    let mut killed: Option<(Termination, Instant)> = None;
    let mut escalated = false;
    let mut init: Option<(i32, OwnedFd)> = None;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(Event::Exited) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(Event::Started(child_pid)) => {
                // The race (init gone and its pid reused before this call) needs a full pid
                // cycle within microseconds; accepted.
                if let Ok(fd) = sys::pidfd_open(child_pid) {
                    if killed.is_some() {
                        sys::pidfd_kill(&fd);
                    }
                    init = Some((child_pid, fd));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        match killed {
            None => {
                let reason = if spec.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                    Some(Termination::Cancelled)
                } else if now >= deadline {
                    Some(Termination::WallTimeExceeded)
                } else if cgroup.0.as_ref().is_some_and(|cg| cg.oom_kills() > 0) {
                    Some(Termination::MemoryLimitExceeded)
                } else if cgroup
                    .0
                    .as_ref()
                    .and_then(JobCgroup::cpu_total)
                    .is_some_and(|cpu| cpu >= spec.limits.cpu_time)
                {
                    Some(Termination::CpuTimeExceeded)
                } else if now >= next_walk {
                    let size = measure(&spec.output);
                    let took = now.elapsed();
                    next_walk = Instant::now() + took * WATCH_COST_FACTOR;
                    over_output_limits(&size, spec).then_some(Termination::OutputLimitExceeded)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    // Kill the pid-namespace init first: the kernel then kills every process
                    // in the namespace and bubblewrap reaps init, so CPU usage stays counted.
                    match &init {
                        Some((_, fd)) => sys::pidfd_kill(fd),
                        None => sys::kill_group(pid),
                    }
                    killed = Some((reason, now));
                }
            }
            Some((_, at)) if !escalated && now.duration_since(at) > KILL_GRACE => {
                sys::kill_group(pid);
                escalated = true;
            }
            Some(_) => {}
        }
    }

    let (status, mut rusage) = sys::reap(pid).map_err(io_err("waiting for bubblewrap"))?;
    // The pid namespace is gone with bubblewrap's init; anything that escaped into another
    // (impossible for the job, which cannot unshare) would still be in the job cgroup.
    if let Some(cg) = &cgroup.0 {
        cg.kill_all();
    }
    // bubblewrap's init exits only once every process of its pid namespace is gone; wait for
    // that before trusting that nothing survived.
    if let Some((child_pid, fd)) = &init {
        if !sys::pidfd_wait(fd, REAP_TIMEOUT) {
            sys::pidfd_kill(fd);
            if !sys::pidfd_wait(fd, REAP_TIMEOUT) {
                return Err(SandboxError::Survived { pid: *child_pid });
            }
        }
        // bubblewrap's monitor exits on init's word without reaping it, so init (with the
        // CPU time of every process it reaped) is reparented here, the subreaper.
        if let Some(init_usage) = sys::reap_pidfd(fd) {
            rusage.user += init_usage.user;
            rusage.system += init_usage.system;
            rusage.max_rss_bytes = rusage.max_rss_bytes.max(init_usage.max_rss_bytes);
        }
    }
    let wall = start.elapsed();
    let (log, log_total) = log_thread
        .join()
        .map_err(|_| io_err("reading the log")(io::Error::other("log reader panicked")))?;
    let status_seen = status_thread.join().unwrap_or_default();
    drop(stage);

    let out = measure(&spec.output);
    let (user_cpu, system_cpu) = cgroup
        .0
        .as_ref()
        .and_then(JobCgroup::cpu)
        .unwrap_or((rusage.user, rusage.system));
    let oom_kills = cgroup.0.as_ref().map_or(0, JobCgroup::oom_kills);
    let usage = Usage {
        accounting: profile.accounting,
        user_cpu,
        system_cpu,
        wall,
        max_rss_bytes: rusage.max_rss_bytes,
        peak_memory_bytes: cgroup.0.as_ref().and_then(JobCgroup::memory_peak),
        output_bytes: out.bytes,
        output_files: out.files,
        output_entries: out.entries,
        output_too_deep: out.too_deep,
        log_bytes: log_total,
        fuel: None,
    };
    drop(cgroup);

    let termination = match (killed, status) {
        (Some((reason, _)), _) => reason,
        (None, sys::Status::Signaled(sig)) => Termination::Signaled(sig),
        // bubblewrap never made the sandbox: the log is bubblewrap's own message.
        (None, sys::Status::Exited(_)) if !status_seen.started => {
            return Err(setup_error(&log));
        }
        // The sandbox was made but bubblewrap reported no exit of the job's program: it
        // failed before `execvp` succeeded (bubblewrap writes `exit-code` only once its
        // close-on-exec pipe was closed by a successful exec, which the job cannot fake).
        (None, sys::Status::Exited(_)) if !status_seen.exec_succeeded => Termination::NotStarted,
        (None, sys::Status::Exited(_)) if oom_kills > 0 => Termination::MemoryLimitExceeded,
        (None, sys::Status::Exited(code)) => {
            // The kernel enforces RLIMIT_CPU on precise run time, while rusage splits it into
            // user and system by sampling: allow rusage to read up to 10% short.
            let cpu = usage.user_cpu + usage.system_cpu;
            let cpu_limit_reached = cpu >= Duration::from_secs(cpu_secs).mul_f64(0.9);
            if (code == 128 + libc::SIGXCPU || code == 128 + libc::SIGKILL) && cpu_limit_reached {
                Termination::CpuTimeExceeded
            } else if (code == 128 + libc::SIGXFSZ && out.largest >= spec.limits.output_bytes)
                || over_output_limits(&out, spec)
                // A job that ignores SIGXFSZ (Python does) gets EFBIG instead and fails on
                // its own; a file that reached the limit exactly tells why.
                || (code != 0 && out.largest >= spec.limits.output_bytes)
            {
                Termination::OutputLimitExceeded
            } else {
                Termination::Exited(code)
            }
        }
    };

    Ok(Outcome {
        termination,
        usage,
        log_truncated: log_total > log.len() as u64,
        log,
        profile,
    })
}

/// Makes this process a child subreaper, once: orphans of its descendants (bubblewrap's init,
/// left behind by bubblewrap's monitor) are reparented here instead of to the host's init,
/// so their resource usage can be read by reaping them. A process-wide setting: orphans of
/// other children of this process become its zombies too.
fn become_subreaper() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(sys::set_child_subreaper);
}

/// bubblewrap found once, with the version it reports.
struct Engine {
    path: PathBuf,
    version: String,
}

fn engine() -> Result<&'static Engine, SandboxError> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine);
    }
    let path = find_bwrap().ok_or(SandboxError::BwrapMissing)?;
    let broken = |detail: String| SandboxError::BwrapBroken {
        path: path.clone(),
        detail,
    };
    let output = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|e| broken(e.to_string()))?;
    if !output.status.success() {
        return Err(broken(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(ENGINE.get_or_init(|| Engine { path, version }))
}

fn find_bwrap() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin".into(), "/bin".into()]);
    dirs.into_iter()
        .map(|d| d.join("bwrap"))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Who the job runs as.
struct Identity {
    uid: u32,
    gid: u32,
    /// poex runs as root: drop to [`UNPRIVILEGED_ID`] and stage the mounts.
    root: bool,
}

fn identity() -> Identity {
    let (uid, gid) = sys::effective_ids();
    if uid == 0 {
        Identity {
            uid: UNPRIVILEGED_ID,
            gid: UNPRIVILEGED_ID,
            root: true,
        }
    } else {
        Identity {
            uid,
            gid,
            root: false,
        }
    }
}

/// A mount source opened by the parent.
struct Opened {
    file: OwnedFd,
    sandbox: PathBuf,
    writable: bool,
    is_dir: bool,
    /// Where root bind-mounted it for bubblewrap (see [`Stage`]).
    staged: Option<PathBuf>,
}

/// Mountpoints under [`STAGE_ROOT`] (root-owned, mode 0755) onto which the child, still root
/// and in a private mount namespace of its own, bind-mounts each opened source before dropping
/// to the sandbox uid. bubblewrap 0.8 resolves `--bind-fd` sources back to their path, which
/// the sandbox uid could not traverse under e.g. `/root` (0700); the staged path it can. The
/// binds exist only in the child's namespace: on the host these are empty directories and
/// files, removed when the job ends.
struct Stage {
    dir: PathBuf,
    entries: Vec<(PathBuf, bool)>,
}

impl Stage {
    fn create() -> io::Result<Stage> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(STAGE_ROOT)?;
        fs::set_permissions(STAGE_ROOT, fs::Permissions::from_mode(0o755))?;
        let dir = Path::new(STAGE_ROOT).join(format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if dir.exists() {
            // Left by a crashed process with the same pid: only empty mountpoints.
            remove_stage(&dir);
        }
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        Ok(Stage {
            dir,
            entries: Vec::new(),
        })
    }

    fn mountpoint(&mut self, is_dir: bool) -> io::Result<PathBuf> {
        let path = self.dir.join(format!("m{}", self.entries.len()));
        if is_dir {
            fs::create_dir(&path)?;
        } else {
            File::create(&path)?;
        }
        fs::set_permissions(
            &path,
            fs::Permissions::from_mode(if is_dir { 0o755 } else { 0o644 }),
        )?;
        self.entries.push((path.clone(), is_dir));
        Ok(path)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        remove_stage(&self.dir);
    }
}

/// Removes the staging folders of processes that no longer exist (`<pid>-<n>` under
/// [`STAGE_ROOT`]); returns how many.
pub(super) fn clean_stages() -> usize {
    let Ok(entries) = fs::read_dir(STAGE_ROOT) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if super::owner_is_gone(&entry.file_name(), "") != Some(true) {
            continue;
        }
        remove_stage(&entry.path());
        removed += usize::from(!entry.path().exists());
    }
    removed
}

/// Removes a staging folder without ever recursing: the entries are empty mountpoints, and a
/// non-empty one (which would mean a bind leaked to the host) is left alone rather than wiped.
fn remove_stage(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
    let _ = fs::remove_dir(dir);
}

/// The read end of a pipe that already holds the whole seccomp program, its write end closed:
/// bubblewrap reads it to end-of-file. The program (432 bytes; at most 4 KiB, which the unit
/// tests check) fits in any pipe's buffer (one page at least), so writing it before the spawn
/// cannot block.
#[cfg(target_arch = "x86_64")]
fn seccomp_pipe() -> Result<Option<OwnedFd>, SandboxError> {
    use std::io::Write;

    let (r, mut w) = io::pipe().map_err(io_err("creating the seccomp pipe"))?;
    w.write_all(&super::seccomp::program())
        .map_err(io_err("writing the seccomp program"))?;
    drop(w);
    above_stdio(r).map(Some)
}

/// No filter off x86_64 (the deny list holds x86_64 numbers); the profile says `none`.
#[cfg(not(target_arch = "x86_64"))]
fn seccomp_pipe() -> Result<Option<OwnedFd>, SandboxError> {
    Ok(None)
}

fn bwrap_args(
    spec: &Spec,
    mounts: &[Opened],
    status_fd: RawFd,
    seccomp_fd: Option<RawFd>,
    profile: &mut Profile,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    add(
        &mut args,
        &[
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
        ],
    );
    add(&mut args, &["--hostname", HOSTNAME]);
    add(&mut args, &["--ro-bind", "/usr", "/usr"]);
    let mut record = |path: &str, kind: &str, access: Access| {
        profile.mounts.push(ProfileMount {
            path: path.into(),
            kind: kind.into(),
            access,
        });
    };
    record("/usr", "host-system", Access::Ro);

    let mut system: Vec<String> = USR_ALIASES.iter().map(|n| format!("/{n}")).collect();
    system.extend(ETC_ENTRIES.iter().map(|n| format!("/etc/{n}")));
    if let Ok(entries) = fs::read_dir("/etc") {
        let mut python: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| n.starts_with("python3"))
            .map(|n| format!("/etc/{n}"))
            .collect();
        python.sort();
        system.extend(python);
    }
    for path in &system {
        let Ok(meta) = fs::symlink_metadata(path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = fs::read_link(path) {
                add(&mut args, &["--symlink"]);
                args.push(target.into_os_string());
                args.push(path.into());
                record(path, "symlink", Access::Ro);
            }
        } else {
            add(&mut args, &["--ro-bind", path, path]);
            record(path, "host-system", Access::Ro);
        }
    }
    // Every tmpfs the job can write is sized, and at most the memory budget: their pages are
    // memory the job cgroup is charged for. The root and /dev (tmpfs mounts bubblewrap makes
    // unsized) are made read-only at the end, once every mountpoint in them exists.
    let tmpfs_bytes = spec
        .limits
        .tmp_bytes
        .min(spec.limits.memory_bytes)
        .to_string();
    add(&mut args, &["--proc", "/proc", "--dev", "/dev", "--size"]);
    args.push(tmpfs_bytes.clone().into());
    add(&mut args, &["--tmpfs", "/dev/shm", "--size"]);
    args.push(tmpfs_bytes.into());
    add(&mut args, &["--tmpfs", "/tmp"]);
    record("/proc", "proc", Access::Ro);
    record("/dev", "dev", Access::Ro);
    record("/dev/shm", "tmpfs", Access::Rw);
    record("/tmp", "tmpfs", Access::Rw);

    for m in mounts {
        match (&m.staged, m.writable) {
            (Some(_), false) => add(&mut args, &["--ro-bind"]),
            (Some(_), true) => add(&mut args, &["--bind"]),
            (None, false) => add(&mut args, &["--ro-bind-fd"]),
            (None, true) => add(&mut args, &["--bind-fd"]),
        }
        match &m.staged {
            Some(staged) => args.push(staged.clone().into_os_string()),
            None => args.push(m.file.as_raw_fd().to_string().into()),
        }
        args.push(m.sandbox.clone().into_os_string());
        let access = if m.writable { Access::Rw } else { Access::Ro };
        record(
            &m.sandbox.to_string_lossy(),
            if m.writable { "output" } else { "input" },
            access,
        );
    }
    // The working directory may be a folder no mount provides (poex exec keeps the caller's
    // directory): create it, empty, on the sandbox's private root.
    if !RESERVED_PATHS
        .iter()
        .any(|r| spec.workdir.starts_with(r) && *r != "/tmp")
    {
        add(&mut args, &["--dir"]);
        args.push(spec.workdir.clone().into_os_string());
    }
    add(&mut args, &["--remount-ro", "/dev", "--remount-ro", "/"]);
    record("/", "tmpfs", Access::Ro);
    add(&mut args, &["--chdir"]);
    args.push(spec.workdir.clone().into_os_string());
    add(&mut args, &["--json-status-fd"]);
    args.push(status_fd.to_string().into());
    if let Some(fd) = seccomp_fd {
        add(&mut args, &["--seccomp"]);
        args.push(fd.to_string().into());
    }
    add(&mut args, &["--"]);
    args.extend(spec.argv.iter().map(OsString::from));
    args
}

fn add(args: &mut Vec<OsString>, items: &[&str]) {
    args.extend(items.iter().map(OsString::from));
}

fn validate(spec: &Spec) -> Result<(), SandboxError> {
    let invalid = |reason: String| Err(SandboxError::InvalidSpec { reason });
    if spec.argv.is_empty() {
        return invalid("argv is empty: give the program to run".into());
    }
    if let Some(arg) = spec.argv.iter().find(|a| a.contains('\0')) {
        return invalid(format!("argument {arg:?} contains a NUL byte"));
    }
    for (key, value) in &spec.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return invalid(format!(
                "environment variable {key:?} has an invalid name or value"
            ));
        }
    }
    if !is_clean_absolute(&spec.workdir) {
        return invalid(format!(
            "workdir {} must be an absolute path without `..`",
            spec.workdir.display()
        ));
    }
    let mut seen = Vec::new();
    let output = Mount {
        host: spec.output.clone(),
        sandbox: spec.output_at.clone(),
    };
    for m in spec.read_only.iter().chain(std::iter::once(&output)) {
        let p = &m.sandbox;
        if !is_clean_absolute(p) || p == Path::new("/") {
            return invalid(format!(
                "mount point {} must be an absolute path below / without `..`",
                p.display()
            ));
        }
        // Below /tmp is allowed: binds are applied after the private tmpfs, on top of it.
        let below_tmp = p.starts_with("/tmp") && p != Path::new("/tmp");
        if let Some(r) = RESERVED_PATHS.iter().find(|r| {
            p.starts_with(r)
                && !(below_tmp && **r == "/tmp")
                && !(p == Path::new("/out") && **r == "/out")
        }) {
            return invalid(format!(
                "mount point {} is inside the reserved {r}; use e.g. /data/NAME or /algo",
                p.display()
            ));
        }
        if p.to_str().is_none() {
            return invalid(format!("mount point {} is not UTF-8", p.display()));
        }
        if seen.contains(&p) {
            return invalid(format!("mount point {} is used twice", p.display()));
        }
        seen.push(p);
    }
    let l = &spec.limits;
    if l.cpu_time.is_zero() || l.wall_time.is_zero() || l.processes == 0 {
        return invalid("cpu_time, wall_time and processes must be greater than zero".into());
    }
    if l.memory_bytes < 16 << 20 {
        return invalid(format!(
            "memory_bytes {} is below 16 MiB, too little to start bubblewrap",
            l.memory_bytes
        ));
    }
    Ok(())
}

fn is_clean_absolute(p: &Path) -> bool {
    p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// Fails with the first file or folder the sandbox uid could not read (or folder it could not
/// list). Mirrors the kernel's owner/group/other choice; ACLs are not consulted.
fn check_readable(root: &Path, uid: u32, gid: u32) -> Result<(), SandboxError> {
    let mut stack = vec![(root.to_path_buf(), true)];
    while let Some((path, follow)) = stack.pop() {
        let meta = if follow {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        let meta = meta.map_err(|source| SandboxError::Open {
            path: path.clone(),
            source,
        })?;
        let mode = meta.mode();
        let class = if meta.uid() == uid {
            mode >> 6
        } else if meta.gid() == gid {
            mode >> 3
        } else {
            mode
        } & 0o7;
        let needed = if meta.is_dir() {
            0o5
        } else if meta.is_file() {
            0o4
        } else {
            continue; // symlinks are resolved inside the sandbox; devices and fifos are not data
        };
        if class & needed != needed {
            return Err(SandboxError::NotReadable { path, uid });
        }
        if meta.is_dir() {
            let entries = fs::read_dir(&path).map_err(|source| SandboxError::Open {
                path: path.clone(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| SandboxError::Open {
                    path: path.clone(),
                    source,
                })?;
                stack.push((entry.path(), false));
            }
        }
    }
    Ok(())
}

/// Tasks (threads included, as `RLIMIT_NPROC` counts them) the host uid runs now.
fn tasks_of_uid(uid: u32) -> u64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    let mut tasks = 0;
    for entry in entries.flatten() {
        if !entry.file_name().as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        if !entry.metadata().is_ok_and(|m| m.uid() == uid) {
            continue;
        }
        let Ok(status) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        tasks += status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(1);
    }
    tasks
}

enum Event {
    /// bubblewrap created the sandbox; its init has this host pid.
    Started(i32),
    /// bubblewrap exited (not yet reaped).
    Exited,
}

/// What bubblewrap reported on its status channel, which only its monitor (outside the
/// sandbox) writes.
#[derive(Clone, Copy, Debug, Default)]
struct StatusSeen {
    /// `child-pid`: the sandbox was created.
    started: bool,
    /// `exit-code`: the job's program was executed and has ended. bubblewrap writes it only
    /// when its setup pipe carried exactly the byte written before `execvp` and was then
    /// closed by the successful exec (close-on-exec); a failed exec writes a second byte.
    exec_succeeded: bool,
}

/// Reads bubblewrap's `--json-status-fd` documents.
fn read_status(pipe: PipeReader, tx: mpsc::Sender<Event>) -> StatusSeen {
    let mut seen = StatusSeen::default();
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(pid) = doc
            .get("child-pid")
            .and_then(serde_json::Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
        {
            seen.started = true;
            let _ = tx.send(Event::Started(pid));
        }
        if doc.get("exit-code").is_some() {
            seen.exec_succeeded = true;
        }
    }
    seen
}

/// Whether the output folder is over one of its limits: bytes, entries, or nesting.
fn over_output_limits(size: &outdir::OutputSize, spec: &Spec) -> bool {
    size.bytes > spec.limits.output_bytes
        || size.entries > spec.limits.output_files
        || size.too_deep
}

/// Removes the job cgroup when the run ends, however it ends.
struct CgroupGuard(Option<JobCgroup>);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Some(cg) = self.0.take() {
            cg.remove();
        }
    }
}

/// Keeps the first `cap` bytes and counts the rest, so a chatty job never blocks on a full
/// pipe nor grows poex's memory.
fn read_log(mut pipe: PipeReader, cap: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::with_capacity(cap.min(64 << 10));
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                let room = cap.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, total)
}

fn setup_error(log: &[u8]) -> SandboxError {
    let text = String::from_utf8_lossy(log);
    let message = text
        .trim()
        .strip_prefix("bwrap: ")
        .unwrap_or(text.trim())
        .to_owned();
    let lower = message.to_lowercase();
    if lower.contains("namespace") || lower.contains("uid map") || lower.contains("uid_map") {
        SandboxError::UserNamespacesUnavailable { message }
    } else {
        SandboxError::SetupFailed { message }
    }
}

/// Moves a descriptor above 2, so that setting up the child's stdio cannot overwrite it.
fn above_stdio(fd: impl Into<OwnedFd>) -> Result<OwnedFd, SandboxError> {
    let fd = fd.into();
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // std duplicates with F_DUPFD_CLOEXEC starting at 3.
    fd.try_clone().map_err(io_err("duplicating a descriptor"))
}

fn cstring(bytes: Vec<u8>) -> Result<CString, SandboxError> {
    CString::new(bytes).map_err(|e| io_err("preparing a mount path")(io::Error::other(e)))
}

fn io_err(context: &'static str) -> impl Fn(io::Error) -> SandboxError {
    move |source| SandboxError::Io { context, source }
}

/// The few calls std does not offer. Every `unsafe` block of the crate is here.
mod sys {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::ptr;
    use std::time::Duration;

    use libc::c_int;

    #[cfg(target_env = "gnu")]
    type Resource = libc::__rlimit_resource_t;
    #[cfg(not(target_env = "gnu"))]
    type Resource = c_int;

    /// What the child does between fork and exec. Everything is prepared by the parent: the
    /// child only reads these fields and makes raw system calls.
    pub(super) struct ChildSetup {
        /// `cgroup.procs` of the job cgroups, open for writing: the child joins each first.
        pub(super) cgroup_procs: Vec<RawFd>,
        /// Root only: bind the staged mounts, then drop to the sandbox uid.
        pub(super) stage: Option<StageSetup>,
        /// This process: the child dies with it (`PR_SET_PDEATHSIG`), and checks that it has
        /// not died already.
        pub(super) parent: u32,
        pub(super) rlimits: Vec<(Resource, libc::rlimit)>,
        /// Descriptors bubblewrap must inherit (their `FD_CLOEXEC` is cleared in the child
        /// only, so concurrent spawns elsewhere in the process never inherit them).
        pub(super) inherit: Vec<RawFd>,
    }

    pub(super) struct StageSetup {
        /// (opened source, staging mountpoint)
        pub(super) binds: Vec<(RawFd, std::ffi::CString)>,
        /// One slot per bind for its detached mount, allocated by the parent (`-1`).
        pub(super) trees: Vec<c_int>,
        pub(super) uid: u32,
        pub(super) gid: u32,
    }

    /// The rlimits the child sets. `None` for memory or processes leaves that limit as this
    /// process has it (a job cgroup limits it instead): raising a hard limit would need a
    /// capability the child no longer has once it dropped to the sandbox uid.
    pub(super) fn rlimits(
        cpu_secs: u64,
        memory: Option<u64>,
        nproc: Option<u64>,
        fsize: u64,
    ) -> Vec<(Resource, libc::rlimit)> {
        let lim = |soft: u64, hard: u64| libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        let mut limits = vec![
            (libc::RLIMIT_CPU, lim(cpu_secs, cpu_secs + 1)),
            (libc::RLIMIT_FSIZE, lim(fsize, fsize)),
            (libc::RLIMIT_CORE, lim(0, 0)),
        ];
        if let Some(memory) = memory {
            limits.push((libc::RLIMIT_AS, lim(memory, memory)));
        }
        if let Some(nproc) = nproc {
            limits.push((libc::RLIMIT_NPROC, lim(nproc, nproc)));
        }
        limits
    }

    fn check(ret: c_int) -> io::Result<()> {
        if ret == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// `close_range(2)` flag (linux/close_range.h): set close-on-exec instead of closing.
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

    impl ChildSetup {
        /// Runs in the forked child. Async-signal-safe: no allocation, no locks; only raw
        /// system calls on values the parent prepared, and `io::Error::last_os_error`, which
        /// reads errno into an integer without allocating.
        #[expect(unsafe_code, reason = "raw system calls between fork and exec")]
        fn apply(&mut self) -> io::Result<()> {
            // Into the job cgroups before anything else, so that every process of the job
            // (bubblewrap first) is counted from its first allocation; "0" is the writer.
            for &fd in &self.cgroup_procs {
                // SAFETY: write on a descriptor the parent opened and keeps open across the
                // fork, from a static one-byte buffer.
                let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
                check(if n == 1 { 0 } else { -1 })?;
            }
            if let Some(stage) = &mut self.stage {
                // Clone each source into a detached mount while still in the host mount
                // namespace: a bind from a descriptor of another namespace is refused
                // (EINVAL), a detached tree can be attached anywhere.
                for ((source, _), tree) in stage.binds.iter().zip(stage.trees.iter_mut()) {
                    // SAFETY: open_tree takes a descriptor the parent opened (still open: it is
                    // only close-on-exec), a NUL-terminated empty path literal and flags.
                    let fd = unsafe {
                        libc::syscall(
                            libc::SYS_open_tree,
                            *source,
                            c"".as_ptr(),
                            libc::OPEN_TREE_CLONE
                                | libc::OPEN_TREE_CLOEXEC
                                | libc::AT_EMPTY_PATH as libc::c_uint,
                        )
                    };
                    *tree = c_int::try_from(fd)
                        .map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
                    check(*tree)?;
                }
                // SAFETY: unshare takes a flag word and touches no memory of ours.
                check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
                // SAFETY: all pointers are NUL-terminated literals or null where mount(2)
                // allows null (fstype and data are ignored for a propagation change).
                check(unsafe {
                    libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        ptr::null(),
                    )
                })?;
                for ((_, target), tree) in stage.binds.iter().zip(stage.trees.iter()) {
                    // SAFETY: `tree` is the detached mount opened above, the from-path is an
                    // empty literal (MOVE_MOUNT_F_EMPTY_PATH), `target` a CString owned by `self`.
                    let ret = unsafe {
                        libc::syscall(
                            libc::SYS_move_mount,
                            *tree,
                            c"".as_ptr(),
                            libc::AT_FDCWD,
                            target.as_ptr(),
                            libc::MOVE_MOUNT_F_EMPTY_PATH,
                        )
                    };
                    check(if ret == 0 { 0 } else { -1 })?;
                }
                // SAFETY: setgroups with size 0 reads no memory; setgid/setuid take integers.
                // Order matters: groups and gid while still root, uid last.
                check(unsafe { libc::setgroups(0, ptr::null()) })?;
                // SAFETY: as above.
                check(unsafe { libc::setgid(stage.gid) })?;
                // SAFETY: as above.
                check(unsafe { libc::setuid(stage.uid) })?;
            }
            // bubblewrap dies with the thread that spawned it (its `--die-with-parent` then
            // takes the sandbox down): a killed node leaves no job running. Set after the
            // uid change, which clears it; then check the parent did not die before.
            // SAFETY: prctl with PR_SET_PDEATHSIG takes integers only.
            check(unsafe {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            })?;
            // SAFETY: getppid has no preconditions and cannot fail.
            if u32::try_from(unsafe { libc::getppid() }).ok() != Some(self.parent) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            for (resource, limit) in &self.rlimits {
                // SAFETY: `limit` points to an initialised rlimit owned by `self`.
                check(unsafe { libc::setrlimit(*resource, limit) })?;
            }
            // Descriptors poex itself inherited without close-on-exec (from a shell, a
            // service manager) would otherwise pass through bwrap into the job. Mark every
            // descriptor above stderr close-on-exec (std's own exec-error pipe already is),
            // then clear the flag on exactly the ones bwrap needs. Best effort before Linux
            // 5.11, which lacks CLOSE_RANGE_CLOEXEC: the call then fails and is ignored.
            // SAFETY: close_range takes integers only; with CLOSE_RANGE_CLOEXEC it closes
            // nothing, it only sets a flag on descriptors of this (forked) process.
            unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    3 as libc::c_uint,
                    libc::c_uint::MAX,
                    CLOSE_RANGE_CLOEXEC,
                );
            }
            for &fd in &self.inherit {
                // SAFETY: fcntl on an integer descriptor the parent opened and keeps open
                // across the fork; F_GETFD/F_SETFD take and return integers only.
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
                check(flags)?;
                // SAFETY: as above.
                check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) })?;
            }
            Ok(())
        }
    }

    #[expect(unsafe_code, reason = "CommandExt::pre_exec is an unsafe fn")]
    pub(super) fn set_pre_exec(cmd: &mut Command, mut setup: ChildSetup) {
        // SAFETY: the closure is async-signal-safe (see `ChildSetup::apply`): it allocates
        // nothing, takes no lock, and only makes system calls on data moved into it before
        // the fork. It does not touch descriptors std uses for exec error reporting.
        unsafe {
            cmd.pre_exec(move || setup.apply());
        }
    }

    #[expect(unsafe_code, reason = "geteuid/getegid are FFI calls")]
    pub(super) fn effective_ids() -> (u32, u32) {
        // SAFETY: geteuid and getegid have no preconditions and cannot fail.
        unsafe { (libc::geteuid(), libc::getegid()) }
    }

    /// Blocks until `pid` (our child) has exited, without reaping it: the pid stays ours, so
    /// `kill_group` cannot hit a recycled pid until `reap`.
    #[expect(unsafe_code, reason = "waitid is an FFI call")]
    pub(super) fn wait_exited(pid: i32) {
        let Ok(id) = libc::id_t::try_from(pid) else {
            return;
        };
        loop {
            // SAFETY: siginfo_t is plain data, zero is a valid value.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
            let ret =
                unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
            if ret == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
    }

    /// How bubblewrap itself ended.
    #[derive(Clone, Copy, Debug)]
    pub(super) enum Status {
        Exited(i32),
        Signaled(i32),
    }

    pub(super) struct Rusage {
        pub(super) user: Duration,
        pub(super) system: Duration,
        pub(super) max_rss_bytes: u64,
    }

    /// Reaps `pid` and returns its status and the resource usage of it and every descendant
    /// it (transitively) reaped: all of the sandbox's processes.
    #[expect(unsafe_code, reason = "wait4 is an FFI call")]
    pub(super) fn reap(pid: i32) -> io::Result<(Status, Rusage)> {
        let mut status: c_int = 0;
        // SAFETY: rusage is plain data, zero is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: `status` and `usage` are valid and writable for the call.
            let ret = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if ret == pid {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        let status = if libc::WIFSIGNALED(status) {
            Status::Signaled(libc::WTERMSIG(status))
        } else {
            Status::Exited(libc::WEXITSTATUS(status))
        };
        Ok((status, rusage_of(&usage)))
    }

    #[expect(unsafe_code, reason = "prctl is an FFI call")]
    pub(super) fn set_child_subreaper() {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer argument and touches no memory. A
        // failure only means usage is undercounted, so the result is not checked.
        unsafe {
            libc::prctl(
                libc::PR_SET_CHILD_SUBREAPER,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            );
        }
    }

    /// Reaps the exited process behind `fd` if it is our child (see `set_child_subreaper`),
    /// returning its usage and its reaped descendants'. Through the pidfd, not the pid, so a
    /// recycled pid cannot make this reap someone else's child.
    #[expect(
        unsafe_code,
        reason = "the waitid system call with rusage has no libc wrapper"
    )]
    pub(super) fn reap_pidfd(fd: &OwnedFd) -> Option<Rusage> {
        // SAFETY: siginfo_t and rusage are plain data, zero is a valid value for both.
        let (mut info, mut usage): (libc::siginfo_t, libc::rusage) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        loop {
            // SAFETY: the raw waitid takes (idtype, id, infop, options, rusage); `info` and
            // `usage` are valid and writable for the call.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_waitid,
                    libc::P_PIDFD,
                    fd.as_raw_fd(),
                    &mut info as *mut libc::siginfo_t,
                    libc::WEXITED,
                    &mut usage as *mut libc::rusage,
                )
            };
            if ret == 0 {
                return Some(rusage_of(&usage));
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return None;
            }
        }
    }

    fn rusage_of(usage: &libc::rusage) -> Rusage {
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        Rusage {
            user: tv(usage.ru_utime),
            system: tv(usage.ru_stime),
            max_rss_bytes: u64::try_from(usage.ru_maxrss)
                .unwrap_or(0)
                .saturating_mul(1024),
        }
    }

    /// SIGKILL to the process group bubblewrap leads (created with `process_group(0)`).
    #[expect(unsafe_code, reason = "kill is an FFI call")]
    pub(super) fn kill_group(pgid: i32) {
        // SAFETY: kill takes integers. The group leader is our unreaped child (see
        // `wait_exited`), so the group id cannot have been recycled.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }

    #[expect(unsafe_code, reason = "pidfd_open has no libc wrapper")]
    pub(super) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
        // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
        let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = RawFd::try_from(ret).map_err(io::Error::other)?;
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    #[expect(unsafe_code, reason = "pidfd_send_signal has no libc wrapper")]
    pub(super) fn pidfd_kill(fd: &OwnedFd) {
        // SAFETY: integers and a null siginfo pointer, which the call allows.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                ptr::null::<libc::siginfo_t>(),
                0,
            );
        }
    }

    /// Waits until the process behind `fd` has exited; false on timeout.
    #[expect(unsafe_code, reason = "poll is an FFI call")]
    pub(super) fn pidfd_wait(fd: &OwnedFd, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        loop {
            // SAFETY: `pfd` is one valid pollfd, matching the count 1.
            let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ret >= 0 {
                return ret > 0;
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return false;
            }
        }
    }
}
