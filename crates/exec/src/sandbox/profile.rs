//! Pure values: what a job asks for ([`Spec`], [`Limits`], [`Mount`]) and what it got
//! ([`Outcome`], [`Termination`], [`Usage`], [`Profile`]). No I/O here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use poex_core::outcome::{Accounting, Limits, Termination, Usage};

use super::CancelToken;

/// Folders nested deeper than this in the output folder put a job over its output limits:
/// results are paths of at most this many folders (the watcher holds one descriptor per level).
pub const MAX_OUTPUT_DEPTH: usize = 64;

/// A host file or directory mounted read-only inside the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Path on the host. Its parent directories need not be accessible to the sandbox user.
    pub host: PathBuf,
    /// Absolute path inside the sandbox, outside the reserved system paths
    /// (`/usr`, `/etc`, `/proc`, `/dev`, `/tmp`, `/out`, ...), e.g. `/data/census`.
    pub sandbox: PathBuf,
}

/// Everything needed to run one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Program and arguments, as seen inside the sandbox (e.g. `["python3", "/algo/main.py"]`).
    pub argv: Vec<String>,
    /// Read-only mounts: algorithm and datasets.
    pub read_only: Vec<Mount>,
    /// Host directory mounted writable at [`Spec::output_at`]; it must exist.
    pub output: PathBuf,
    /// Where the output folder appears inside the sandbox (normally `/out`; `poex exec` uses
    /// the host path so that commands keep their own paths).
    pub output_at: PathBuf,
    /// Working directory inside the sandbox (absolute), e.g. `/out`.
    pub workdir: PathBuf,
    /// Extra environment variables, on top of `PATH`, `HOME` and `LANG` (which they may override).
    pub env: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
    /// When set, cancelling the token kills the job (within 50 ms) and it ends
    /// [`Termination::Cancelled`].
    pub cancel: Option<CancelToken>,
}

/// The result of [`run`](super::run): how the job ended, what it used, what it printed, and
/// the sandbox it ran in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Outcome {
    /// How the job ended.
    pub termination: Termination,
    /// Resources used.
    pub usage: Usage,
    /// The first [`Limits::log_bytes`] of stdout and stderr, interleaved as written.
    #[serde(skip)]
    pub log: Vec<u8>,
    /// True when `log` holds less than the job wrote.
    pub log_truncated: bool,
    /// The sandbox actually applied.
    pub profile: Profile,
}

/// Read-only or writable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Access {
    /// Read-only.
    Ro,
    /// Writable.
    Rw,
}

/// What is mounted at one sandbox path. Host paths are left out on purpose: the profile goes
/// into a public receipt, and the digests of the mounted bytes are recorded elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileMount {
    /// Path inside the sandbox.
    pub path: String,
    /// `host-system` (same path on the host), `input`, `output`, `tmpfs`, `proc`, `dev`, `symlink`.
    pub kind: String,
    /// Read-only or writable.
    pub access: Access,
}

/// A description of the sandbox actually applied, for the receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// The isolation engine and its version as it reports it, e.g. `bubblewrap 0.8.0`.
    pub engine: String,
    /// Namespaces created for the job.
    pub namespaces: Vec<String>,
    /// Whether the job may create further user namespaces (bubblewrap `--disable-userns`).
    pub nested_user_namespaces: bool,
    /// Network access: `none` (a fresh network namespace with only a loopback device).
    pub network: String,
    /// Host uid the sandbox runs as (65534 when poex runs as root, else the caller's).
    pub uid: u32,
    /// Host gid the sandbox runs as.
    pub gid: u32,
    /// Hostname inside the sandbox.
    pub hostname: String,
    /// Mounts, in the order applied.
    pub mounts: Vec<ProfileMount>,
    /// The limits requested.
    pub limits: Limits,
    /// `RLIMIT_NPROC` actually set, without a cgroup: `limits.processes` + 2 for bubblewrap's
    /// own processes + the tasks the sandbox uid had at launch, poex's own helper threads
    /// included (the kernel counts per host uid). With a cgroup `None`: `pids.max` is
    /// `limits.processes` + 2, for this job alone.
    pub nproc_rlimit: Option<u64>,
    /// Names of the environment variables the job sees (values left out).
    pub env_keys: Vec<String>,
    /// How the limits were applied: for the job as a whole (`cgroup-v2`, `cgroup-v1`) or per
    /// process (`per-process`, where no cgroup could be made).
    pub accounting: Accounting,
    /// Seccomp filter applied: on x86_64 `deny-list v1: 47 syscalls -> EPERM, x32 -> EPERM,
    /// non-x86_64 -> kill` (the calls are [`DENIED_SYSCALLS`](super::seccomp::DENIED_SYSCALLS)),
    /// elsewhere `none`.
    pub seccomp: String,
}

impl ProfileMount {
    /// A mount as a receipt records it: its path inside the job, `input` or `output`, and
    /// whether the job could write it.
    pub fn new(path: impl Into<String>, kind: impl Into<String>, access: Access) -> ProfileMount {
        ProfileMount {
            path: path.into(),
            kind: kind.into(),
            access,
        }
    }
}

impl Profile {
    /// The profile of a runner that executes the job inside this process (an engine, not a
    /// process sandbox): no namespaces, no uid of its own, no process limits; `engine` says
    /// what ran it, `network` and `seccomp` what the engine allows instead.
    #[allow(
        clippy::too_many_arguments,
        reason = "every field a receipt records must be given"
    )]
    pub fn in_process(
        engine: String,
        network: String,
        seccomp: String,
        mounts: Vec<ProfileMount>,
        limits: Limits,
        env_keys: Vec<String>,
        accounting: Accounting,
    ) -> Profile {
        Profile {
            engine,
            namespaces: Vec::new(),
            nested_user_namespaces: false,
            network,
            uid: 0,
            gid: 0,
            hostname: String::new(),
            mounts,
            limits,
            nproc_rlimit: None,
            env_keys,
            accounting,
            seccomp,
        }
    }
}

impl Outcome {
    /// How a job ended, what it used, what it printed, and where it ran.
    pub fn new(
        termination: Termination,
        usage: Usage,
        log: Vec<u8>,
        log_truncated: bool,
        profile: Profile,
    ) -> Outcome {
        Outcome {
            termination,
            usage,
            log,
            log_truncated,
            profile,
        }
    }
}
