//! Pure values: what a job asks for ([`Spec`], [`Limits`], [`Mount`]) and what it got
//! ([`Outcome`], [`Termination`], [`Usage`], [`Profile`]). No I/O here.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::CancelToken;

/// Resource limits of one job. Each is enforced as described in `docs/sandbox.md`.
///
/// Durations serialize as whole milliseconds (`cpu_time_ms`, `wall_time_ms`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time (user + system). With a job cgroup ([`Accounting::CgroupV2`],
    /// [`Accounting::CgroupV1`]) of all the job's processes together: the parent kills the job
    /// once the cgroup's CPU time reaches it. Always also `RLIMIT_CPU` of each process, rounded
    /// up to whole seconds (`SIGXCPU` at the limit, `SIGKILL` one second later).
    #[serde(rename = "cpu_time_ms", with = "millis")]
    pub cpu_time: Duration,
    /// Memory. With a job cgroup: everything the job's processes charge to it together
    /// (anonymous memory, page cache, the pages of `/tmp`, `/dev/shm` and memfds, socket
    /// buffers and other kernel memory the controller counts), no swap; at the limit the
    /// kernel's OOM killer ends a process and the parent kills the rest
    /// ([`Termination::MemoryLimitExceeded`]). Without one ([`Accounting::PerProcess`]): the
    /// address space of each process (`RLIMIT_AS`), where allocations beyond it fail inside
    /// the job, and the total is bounded only by `processes x memory_bytes`.
    pub memory_bytes: u64,
    /// Wall-clock time from launch, enforced by the parent, which kills the whole sandbox.
    #[serde(rename = "wall_time_ms", with = "millis")]
    pub wall_time: Duration,
    /// Processes (threads count too) the job may run at once: the job cgroup's `pids.max`
    /// (for this job alone), or without one `RLIMIT_NPROC` (counted per host uid).
    pub processes: u32,
    /// Bytes the job may leave in the output folder: exact per file (`RLIMIT_FSIZE`), and for
    /// the total a watcher that polls every 50 ms and kills on excess (bounded overshoot).
    pub output_bytes: u64,
    /// Files and folders the job may leave in the output folder, counted by the same watcher
    /// (and once more at the end). Beyond [`MAX_OUTPUT_DEPTH`] nested folders the output is
    /// over its limits too, whatever its size.
    #[serde(default = "default_output_files")]
    pub output_files: u64,
    /// Bytes of interleaved stdout/stderr kept as the log; the rest is counted and dropped.
    pub log_bytes: u64,
    /// Size of the private `/tmp`, and of the private `/dev/shm` (each a tmpfs; writes beyond
    /// it fail with `ENOSPC`). Their pages are memory: with a job cgroup they count against
    /// [`memory_bytes`](Self::memory_bytes), and either is capped at it.
    pub tmp_bytes: u64,
}

fn default_output_files() -> u64 {
    Limits::default().output_files
}

/// Folders nested deeper than this in the output folder put a job over its output limits:
/// results are paths of at most this many folders (the watcher holds one descriptor per level).
pub const MAX_OUTPUT_DEPTH: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(60),
            memory_bytes: 2 << 30,
            wall_time: Duration::from_secs(120),
            processes: 64,
            output_bytes: 1 << 30,
            output_files: 5_000,
            log_bytes: 1 << 20,
            tmp_bytes: 64 << 20,
        }
    }
}

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

/// How a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
#[non_exhaustive]
pub enum Termination {
    /// The job's main process exited with this status, as bubblewrap reports it: a main
    /// process killed by signal `N` shows as `128 + N` (the shell convention), since
    /// bubblewrap folds the two together.
    Exited(i32),
    /// The sandbox itself (bubblewrap) was killed by this signal from outside poex.
    Signaled(i32),
    /// The parent killed the job at its wall-time limit.
    WallTimeExceeded,
    /// A process reached its CPU-time limit: the main process died of `SIGXCPU` or `SIGKILL`
    /// and the measured CPU time reached the limit (both are required; the measure may read
    /// up to 10% short, as rusage samples what the kernel's limit counts exactly).
    CpuTimeExceeded,
    /// The output folder exceeded a limit (bytes, [`Limits::output_files`], or nesting deeper
    /// than [`MAX_OUTPUT_DEPTH`]; [`Usage`] says which): the watcher killed the job, or a
    /// write past the per-file limit raised `SIGXFSZ`, or the folder was over a limit when the
    /// job ended.
    OutputLimitExceeded,
    /// The job cgroup reached [`Limits::memory_bytes`]: the kernel's OOM killer ended a
    /// process of the job, and the parent killed the rest. Only with a job cgroup.
    MemoryLimitExceeded,
    /// The program could not be started inside the sandbox: bubblewrap created the sandbox
    /// but failed before the job's program ran (a mount, the working directory, or `execvp`
    /// itself, e.g. no such program). Told apart from a job that prints `bwrap: ...` and
    /// exits 1 through bubblewrap's status channel, which the job cannot write: the log then
    /// holds bubblewrap's own message.
    NotStarted,
    /// The job was cancelled through [`Spec::cancel`]: the parent killed the whole sandbox,
    /// as at the wall-time limit.
    Cancelled,
}

impl Termination {
    /// True for `Exited(0)`, the only successful end.
    pub fn success(&self) -> bool {
        matches!(self, Termination::Exited(0))
    }
}

/// How a job's resources were counted and its limits applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Accounting {
    /// A cgroup v2 of its own (a delegated subtree): `memory.max`, `memory.swap.max` 0,
    /// `memory.oom.group`, `pids.max`; usage from `memory.peak` and `cpu.stat`.
    CgroupV2,
    /// cgroups of its own in the v1 `memory` (`memory.limit_in_bytes`, and
    /// `memory.memsw.limit_in_bytes` where swap is accounted), `pids` (`pids.max`) and, where
    /// mounted, `cpuacct` hierarchies; usage from `memory.max_usage_in_bytes` and
    /// `cpuacct.usage_user`/`usage_sys`.
    CgroupV1,
    /// No cgroup could be made: rlimits of each process (memory, CPU) and of the host uid
    /// (processes), CPU from `wait4`, memory only as the largest process's RSS.
    #[default]
    PerProcess,
}

impl Accounting {
    /// The word the receipt records: `cgroup-v2`, `cgroup-v1` or `per-process`.
    pub fn word(&self) -> &'static str {
        match self {
            Accounting::CgroupV2 => "cgroup-v2",
            Accounting::CgroupV1 => "cgroup-v1",
            Accounting::PerProcess => "per-process",
        }
    }
}

/// Resources a job used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// How the figures below were counted.
    pub accounting: Accounting,
    /// User CPU time of all the job's processes: the job cgroup's, or without one the sum
    /// over the sandbox's processes that were reaped (normally all).
    #[serde(rename = "user_cpu_ms", with = "millis")]
    pub user_cpu: Duration,
    /// System CPU time, same scope.
    #[serde(rename = "system_cpu_ms", with = "millis")]
    pub system_cpu: Duration,
    /// Wall time from launch to the end of the last sandbox process.
    #[serde(rename = "wall_ms", with = "millis")]
    pub wall: Duration,
    /// Largest resident set of any single process, in bytes.
    pub max_rss_bytes: u64,
    /// Peak memory of the job cgroup (all processes, page cache, tmpfs and kernel memory it
    /// was charged), in bytes; `None` without a cgroup, or where the kernel does not report it
    /// (cgroup v2 before Linux 5.19).
    pub peak_memory_bytes: Option<u64>,
    /// Bytes in regular files left in the output folder (apparent size: a sparse file counts
    /// what it claims, not the blocks it holds).
    pub output_bytes: u64,
    /// Regular files left in the output folder.
    pub output_files: u64,
    /// Files and folders of any kind left in the output folder (what
    /// [`Limits::output_files`] limits).
    pub output_entries: u64,
    /// True when the output folder holds folders nested deeper than [`MAX_OUTPUT_DEPTH`].
    pub output_too_deep: bool,
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
    /// Total bytes the job wrote to stdout and stderr, kept or not.
    pub log_total_bytes: u64,
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

/// `Duration` as whole milliseconds, the unit receipts use.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_round_trip_in_milliseconds() {
        let limits = Limits::default();
        let json = serde_json::to_value(&limits).unwrap();
        assert_eq!(json["cpu_time_ms"], 60_000);
        assert_eq!(json["wall_time_ms"], 120_000);
        let back: Limits = serde_json::from_value(json).unwrap();
        assert_eq!(back, limits);
    }

    #[test]
    fn termination_serializes_tagged() {
        let json = serde_json::to_string(&Termination::Exited(3)).unwrap();
        assert_eq!(json, r#"{"kind":"exited","value":3}"#);
        let json = serde_json::to_string(&Termination::WallTimeExceeded).unwrap();
        assert_eq!(json, r#"{"kind":"wall_time_exceeded"}"#);
        let json = serde_json::to_string(&Termination::Cancelled).unwrap();
        assert_eq!(json, r#"{"kind":"cancelled"}"#);
        assert!(!Termination::Cancelled.success());
        assert!(Termination::Exited(0).success());
        assert!(!Termination::CpuTimeExceeded.success());
    }
}
