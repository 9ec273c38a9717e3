//! The sandbox: run one command in bubblewrap with read-only inputs, one writable output
//! folder, no network, a scrubbed environment and resource limits.
//!
//! - [`Spec`] says what to run, what to mount and with which [`Limits`], and optionally a
//!   [`CancelToken`] that stops the job from another thread.
//! - [`run`] launches it, enforces the limits, and returns an [`Outcome`]: the
//!   [`Termination`], the [`Usage`], the bounded log and the [`Profile`] actually applied (for
//!   the receipt).
//!
//! What it stops and what it does not is in `docs/sandbox.md`. In short: the job sees `/usr`,
//! a small secret-free subset of `/etc`, its inputs (read-only), `/out` (writable), a private
//! size-limited `/tmp`, and nothing else of the host; it has no network; it runs in new user,
//! mount, pid, net, ipc, uts and cgroup namespaces. On x86_64 a [`seccomp`] filter makes the
//! system calls of [`seccomp::DENIED_SYSCALLS`] (ptrace, bpf, perf_event_open, io_uring, keyctl,
//! mount and namespace calls, ...) fail with `EPERM`, refuses the x32 ABI and kills a process
//! that makes i386 calls; every other system call is allowed, so most of the kernel's surface
//! is still reachable. Elsewhere there is no filter, and the profile says so (`seccomp: none`).
//!
//! When poex runs as root the job runs as uid/gid 65534 (the kernel never enforces
//! `RLIMIT_NPROC` for root, even inside a user namespace), the output folder is handed to that
//! uid, and inputs are bind-mounted from descriptors opened by the parent so that their parent
//! directories (e.g. `/root`) need not be accessible to it. Otherwise the job runs as the caller.
//!
//! ```no_run
//! use poex_exec::sandbox::{self, Limits, Mount, Spec};
//!
//! let spec = Spec {
//!     argv: vec!["python3".into(), "/algo/main.py".into()],
//!     read_only: vec![
//!         Mount { host: "algo".into(), sandbox: "/algo".into() },
//!         Mount { host: "data".into(), sandbox: "/data".into() },
//!     ],
//!     output: "out".into(),
//!     output_at: "/out".into(),
//!     workdir: "/out".into(),
//!     env: vec![],
//!     limits: Limits::default(),
//!     cancel: None,
//! };
//! let outcome = sandbox::run(&spec)?;
//! println!("{:?}, {} ms CPU", outcome.termination, outcome.usage.user_cpu.as_millis());
//! # Ok::<(), sandbox::SandboxError>(())
//! ```

use std::io;
use std::path::PathBuf;

mod cancel;
mod cgroup;
mod linux;
mod profile;
pub mod seccomp;

pub use cancel::CancelToken;
pub use cgroup::{ENV as CGROUP_ENV, Leftovers};
pub use profile::{
    Access, Accounting, Limits, MAX_OUTPUT_DEPTH, Mount, Outcome, Profile, ProfileMount, Spec,
    Termination, Usage,
};

/// Sandbox paths the runner owns; mounts may not go there.
pub const RESERVED_PATHS: &[&str] = &[
    "/usr", "/etc", "/proc", "/dev", "/tmp", "/out", "/bin", "/lib", "/lib64", "/lib32", "/sbin",
    "/sys", "/run", "/var",
];

/// Uid and gid the job runs as when poex runs as root.
pub const UNPRIVILEGED_ID: u32 = 65534;

/// Run one job in the sandbox and wait for it to end (at the latest at its wall-time limit, or
/// within 50 ms of its [`Spec::cancel`] token being cancelled).
///
/// Blocks the calling thread, which must stay alive until this returns: bubblewrap is told to
/// die with the thread that spawned it.
///
/// A job that fails, is killed or exceeds a limit is an `Ok` [`Outcome`]; `Err` means the job
/// could not be run (or, for [`SandboxError::Survived`], could not be cleaned up).
pub fn run(spec: &Spec) -> Result<Outcome, SandboxError> {
    linux::run(spec)
}

/// How this process's jobs will be accounted and limited: `Ok` with a cgroup kind when each
/// job gets cgroups of its own, or `Err` with why not (jobs then run with per-process limits,
/// [`Accounting::PerProcess`]). Found once per process; a service logs it at start.
pub fn accounting() -> Result<Accounting, String> {
    cgroup::hierarchy()
        .map(|h| h.accounting())
        .map_err(str::to_owned)
}

/// Removes what sandboxes of processes that died without cleaning up left behind (a node
/// killed with `kill -9`): their job cgroups, after killing any process still in them, and
/// their staging folders under `/run/poex-sandbox`. What belongs to live processes stays.
/// Cheap (a few directory reads); a service calls it at start.
pub fn clean_leftovers() -> Leftovers {
    let mut found = cgroup::clean_leftovers();
    found.staging = linux::clean_stages();
    found
}

/// Whether `name` (`<prefix><pid>-<rest>`) belongs to a process that no longer exists: what
/// the runner leaves per process (job cgroups, staging folders) is named that way, and only a
/// dead owner's is a leftover. `None` for names of another shape.
pub(crate) fn owner_is_gone(name: &std::ffi::OsStr, prefix: &str) -> Option<bool> {
    let pid = name
        .to_str()?
        .strip_prefix(prefix)?
        .split_once('-')?
        .0
        .parse::<u32>()
        .ok()?;
    Some(pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Why a job could not be run. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// bubblewrap is not installed.
    #[error(
        "bubblewrap (bwrap) was not found in PATH or /usr/bin; install bubblewrap: apt-get install bubblewrap"
    )]
    BwrapMissing,
    /// bubblewrap is there but could not report its version.
    #[error(
        "running `{path} --version` failed ({detail}); reinstall bubblewrap: apt-get install --reinstall bubblewrap"
    )]
    BwrapBroken {
        /// The binary tried.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The kernel refused to create the namespaces.
    #[error(
        "user namespaces are unavailable ({message}); enable them (sysctl user.max_user_namespaces=15000; on Debian/Ubuntu also kernel.unprivileged_userns_clone=1 and no AppArmor userns restriction) or run inside a VM that allows them"
    )]
    UserNamespacesUnavailable {
        /// bubblewrap's message.
        message: String,
    },
    /// bubblewrap failed before the job's program started (a mount, or the program itself
    /// could not be executed).
    #[error(
        "the sandbox could not start the job: {message}; check that the program exists inside the sandbox (host /usr, or a read-only mount) and that the mounts are valid"
    )]
    SetupFailed {
        /// bubblewrap's message.
        message: String,
    },
    /// A runner other than bubblewrap could not run the job (its engine failed, or the spec
    /// asks for something it cannot give).
    #[error("the {runner} runner could not run the job: {message}")]
    Runner {
        /// Which runner (`wasm`).
        runner: &'static str,
        /// What went wrong and what to do.
        message: String,
    },
    /// The spec is not acceptable.
    #[error("invalid sandbox spec: {reason}")]
    InvalidSpec {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A mount source or the output folder could not be opened.
    #[error("cannot open {path}: {source}; check that it exists")]
    Open {
        /// The host path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A file the job would need to read is not readable by the sandbox uid.
    #[error(
        "{path} is not readable by the sandbox user (uid {uid}); poex runs jobs as uid {uid} when it runs as root: make the inputs world-readable (chmod -R o+rX on the mounted folder) or run poex as a non-root user"
    )]
    NotReadable {
        /// The first offending path.
        path: PathBuf,
        /// The sandbox uid.
        uid: u32,
    },
    /// The output folder could not be prepared.
    #[error(
        "cannot prepare the output folder {path}: {source}; it must be an existing directory poex may chown"
    )]
    Output {
        /// The host path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A processes of the sandbox did not go away after `SIGKILL`.
    #[error("sandbox process {pid} survived SIGKILL; inspect it (ps -p {pid}) and kill it by hand")]
    Survived {
        /// Its host pid.
        pid: i32,
    },
    /// Any other operating-system error while launching or supervising the job.
    #[error("{context}: {source}")]
    Io {
        /// What poex was doing.
        context: &'static str,
        /// The error.
        source: io::Error,
    },
}
