//! How a job ended and what it used, as its receipt records it: the `outcome` byproduct
//! ([`Outcome`]), its status word ([`EndStatus`]), the [`Termination`], the resources used
//! ([`Usage`]) and the [`Limits`] applied (in `internalParameters.sandbox.limits`).
//!
//! These types are the one serialization of those fields: the pipeline writes a receipt's
//! outcome from an [`Outcome`], and every reader (`poex verify`, the audit views, a node's
//! queue, the verifier) reads it back with [`Outcome::of`]. Adding a receipt field is adding a
//! field here. Fields added since the first receipts are optional or defaulted, so receipts
//! written before them still read (`testdata/receipts-before-types` keeps that tested).
//!
//! ```
//! use poex_core::outcome::{EndStatus, Outcome};
//!
//! let outcome = Outcome::new(EndStatus::Refused, "dataset cohort does not allow algorithm x");
//! let descriptor = outcome.to_descriptor();
//! assert_eq!(descriptor.annotations["status"], "refused");
//! assert_eq!(Outcome::from_descriptor(&descriptor).unwrap(), outcome);
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::receipt::{OUTCOME_MEDIA_TYPE, OUTCOME_NAME, ReceiptStatement};
use crate::statement::ResourceDescriptor;

/// How a job ended: the receipt outcome's `status` word. Exhaustive on purpose: a new status
/// must be handled by every reader, and the compiler finds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndStatus {
    /// Ran and exited 0.
    Succeeded,
    /// Ran and exited non-zero; or the program could not be started in the sandbox; or the
    /// processor could not run or finish it (then the receipt resolves no inputs).
    Failed,
    /// Refused before it ran: a digest, a policy or the request did not check out.
    Refused,
    /// The sandbox was killed by a signal from outside poex.
    Killed,
    /// Stopped at its CPU-time limit.
    CpuTimeExceeded,
    /// Stopped at its wall-time limit.
    WallTimeExceeded,
    /// Stopped at an output limit (bytes, files, nesting).
    OutputLimitExceeded,
    /// Stopped at its memory limit (with a job cgroup).
    MemoryLimitExceeded,
    /// Its output could not be attested (a file of a kind that is not a result, a name that
    /// is not a path, …).
    InvalidOutput,
    /// An input changed between its hashing and the end of the run.
    InputChanged,
    /// Cancelled by its requester or an owner, queued or running.
    Cancelled,
    /// Cut off: the processor stopped while it ran.
    Interrupted,
    /// Waited in a node's queue past its deadline.
    Expired,
}

impl EndStatus {
    /// Every status word, in declaration order.
    pub const ALL: [EndStatus; 13] = [
        EndStatus::Succeeded,
        EndStatus::Failed,
        EndStatus::Refused,
        EndStatus::Killed,
        EndStatus::CpuTimeExceeded,
        EndStatus::WallTimeExceeded,
        EndStatus::OutputLimitExceeded,
        EndStatus::MemoryLimitExceeded,
        EndStatus::InvalidOutput,
        EndStatus::InputChanged,
        EndStatus::Cancelled,
        EndStatus::Interrupted,
        EndStatus::Expired,
    ];

    /// The statuses a job can end with without a completed run (cancelled or expired in a
    /// queue, cut off, or failed because the processor could not run it): such receipts may
    /// resolve no inputs and attest no results.
    pub const UNRUN: [EndStatus; 4] = [
        EndStatus::Interrupted,
        EndStatus::Cancelled,
        EndStatus::Expired,
        EndStatus::Failed,
    ];

    /// The word the receipt records: `succeeded`, `cpu-time-exceeded`, …
    pub fn word(self) -> &'static str {
        match self {
            EndStatus::Succeeded => "succeeded",
            EndStatus::Failed => "failed",
            EndStatus::Refused => "refused",
            EndStatus::Killed => "killed",
            EndStatus::CpuTimeExceeded => "cpu-time-exceeded",
            EndStatus::WallTimeExceeded => "wall-time-exceeded",
            EndStatus::OutputLimitExceeded => "output-limit-exceeded",
            EndStatus::MemoryLimitExceeded => "memory-limit-exceeded",
            EndStatus::InvalidOutput => "invalid-output",
            EndStatus::InputChanged => "input-changed",
            EndStatus::Cancelled => "cancelled",
            EndStatus::Interrupted => "interrupted",
            EndStatus::Expired => "expired",
        }
    }

    /// Parses a status word.
    pub fn parse(word: &str) -> Option<EndStatus> {
        EndStatus::ALL.into_iter().find(|s| s.word() == word)
    }

    /// True only for [`EndStatus::Succeeded`].
    pub fn is_success(self) -> bool {
        self == EndStatus::Succeeded
    }

    /// Whether a job may end with this status without a completed run ([`EndStatus::UNRUN`]).
    pub fn may_be_unrun(self) -> bool {
        EndStatus::UNRUN.contains(&self)
    }
}

impl fmt::Display for EndStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// How a job's main process ended, as the sandbox saw it. Serialized tagged:
/// `{"kind":"exited","value":3}`, `{"kind":"wall_time_exceeded"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Termination {
    /// The job's main process exited with this status, as the sandbox reports it: with
    /// bubblewrap a main process killed by signal `N` shows as `128 + N` (the shell
    /// convention), since bubblewrap folds the two together.
    Exited(i32),
    /// The sandbox itself was killed by this signal from outside poex.
    Signaled(i32),
    /// The processor killed the job at its wall-time limit.
    WallTimeExceeded,
    /// A process reached its CPU-time limit (the kernel's limit or the job cgroup's, as the
    /// runner enforces it).
    CpuTimeExceeded,
    /// The output folder exceeded a limit (bytes, [`Limits::output_files`], or nesting;
    /// [`Usage`] says which).
    OutputLimitExceeded,
    /// The job reached [`Limits::memory_bytes`] with a job cgroup: the kernel's OOM killer
    /// ended a process of the job, and the processor killed the rest.
    MemoryLimitExceeded,
    /// The program could not be started inside the sandbox (a mount, the working directory,
    /// or `execvp` itself failed before the job's program ran).
    NotStarted,
    /// The job was cancelled while it ran: the processor killed the whole sandbox.
    Cancelled,
    /// A WebAssembly module trapped (unreachable, an out-of-bounds access, a stack overflow):
    /// the engine stopped it, and its execution log ends with the engine's message.
    Trapped,
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
    /// (processes), CPU from `wait4`, memory only as the largest process's RSS. Receipts
    /// written before the field existed were counted this way, so it is the default.
    #[default]
    PerProcess,
    /// A WebAssembly engine's own metering: CPU as fuel (about one unit per instruction),
    /// memory as the module's linear memories; no process of the job's exists.
    Engine,
}

impl Accounting {
    /// The word the receipt records: `cgroup-v2`, `cgroup-v1` or `per-process`.
    pub fn word(&self) -> &'static str {
        match self {
            Accounting::CgroupV2 => "cgroup-v2",
            Accounting::CgroupV1 => "cgroup-v1",
            Accounting::PerProcess => "per-process",
            Accounting::Engine => "engine",
        }
    }
}

/// Resources a job used: the outcome's `resourceUsage` (times in seconds, to the microsecond).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// How the figures below were counted.
    #[serde(default)]
    pub accounting: Accounting,
    /// User CPU time of all the job's processes: the job cgroup's, or without one the sum
    /// over the sandbox's processes that were reaped (normally all).
    #[serde(rename = "userCpuSeconds", with = "seconds")]
    pub user_cpu: Duration,
    /// System CPU time, same scope.
    #[serde(rename = "systemCpuSeconds", with = "seconds")]
    pub system_cpu: Duration,
    /// Wall time from launch to the end of the last sandbox process.
    #[serde(rename = "wallSeconds", with = "seconds")]
    pub wall: Duration,
    /// Largest resident set of any single process, in bytes.
    pub max_rss_bytes: u64,
    /// Peak memory of the job cgroup (all processes, page cache, tmpfs and kernel memory it
    /// was charged), in bytes; `None` (JSON `null`) without a cgroup, or where the kernel does
    /// not report it (cgroup v2 before Linux 5.19).
    #[serde(default)]
    pub peak_memory_bytes: Option<u64>,
    /// Bytes in regular files left in the output folder (apparent size: a sparse file counts
    /// what it claims, not the blocks it holds).
    pub output_bytes: u64,
    /// Regular files left in the output folder.
    pub output_files: u64,
    /// Files and folders of any kind left in the output folder (what
    /// [`Limits::output_files`] limits).
    #[serde(default)]
    pub output_entries: u64,
    /// Bytes the job wrote to stdout and stderr, kept in the execution log or not.
    #[serde(default)]
    pub log_bytes: u64,
    /// Fuel a WebAssembly module burnt (the same on every machine running the same engine
    /// version and configuration); none for native jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// True when the output folder holds folders nested deeper than the runner allows (not
    /// recorded: the status and its reason say so).
    #[serde(skip)]
    pub output_too_deep: bool,
}

/// Resource limits of one job, as the receipt records them (`internalParameters.sandbox.limits`;
/// durations as whole milliseconds, `cpu_time_ms`, `wall_time_ms`). Each is enforced as
/// `docs/sandbox.md` describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time (user + system). With a job cgroup of all the job's processes together: the
    /// processor kills the job once the cgroup's CPU time reaches it. Always also
    /// `RLIMIT_CPU` of each process, rounded up to whole seconds (`SIGXCPU` at the limit,
    /// `SIGKILL` one second later).
    #[serde(rename = "cpu_time_ms", with = "millis")]
    pub cpu_time: Duration,
    /// Memory. With a job cgroup: everything the job's processes charge to it together
    /// (anonymous memory, page cache, the pages of `/tmp`, `/dev/shm` and memfds, socket
    /// buffers and other kernel memory the controller counts), no swap; at the limit the
    /// kernel's OOM killer ends a process and the processor kills the rest
    /// ([`Termination::MemoryLimitExceeded`]). Without one ([`Accounting::PerProcess`]): the
    /// address space of each process (`RLIMIT_AS`), where allocations beyond it fail inside
    /// the job, and the total is bounded only by `processes x memory_bytes`.
    pub memory_bytes: u64,
    /// Wall-clock time from launch, enforced by the processor, which kills the whole sandbox.
    #[serde(rename = "wall_time_ms", with = "millis")]
    pub wall_time: Duration,
    /// Processes (threads count too) the job may run at once: the job cgroup's `pids.max`
    /// (for this job alone), or without one `RLIMIT_NPROC` (counted per host uid).
    pub processes: u32,
    /// Bytes the job may leave in the output folder: exact per file (`RLIMIT_FSIZE`), and for
    /// the total a watcher that polls every 50 ms and kills on excess (bounded overshoot).
    pub output_bytes: u64,
    /// Files and folders the job may leave in the output folder, counted by the same watcher
    /// (and once more at the end). Beyond the runner's nesting limit the output is over its
    /// limits too, whatever its size.
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

/// The receipt's `outcome` byproduct (media type [`OUTCOME_MEDIA_TYPE`]), carried in the
/// descriptor's `annotations`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Outcome {
    /// How the job ended.
    pub status: EndStatus,
    /// Why, in a sentence, when it did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How the sandbox saw it end, for a job that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<Termination>,
    /// The main process's exit status, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// What it used, for a job that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_usage: Option<Usage>,
    /// Whether the execution log holds less than the job wrote, for a job that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_truncated: Option<bool>,
    /// Where the output that could not be attested was moved, in the job folder, when there
    /// was such output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unattested: Option<String>,
    /// Files a run that did not end left in the job folder, which the receipt does not attest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_files: Vec<String>,
    /// A remark for a person (what happened to those files, that the program never ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The outcome byproduct of a receipt could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutcomeError {
    /// The receipt has no byproduct named `outcome`.
    #[error("the receipt has no {OUTCOME_NAME:?} byproduct")]
    Missing,
    /// It is there but not of the outcome's shape (an unknown status word, a field of the
    /// wrong type).
    #[error("the receipt's {OUTCOME_NAME:?} byproduct is malformed: {0}")]
    Malformed(#[source] serde_json::Error),
}

impl Outcome {
    /// An outcome with a status and a reason, nothing else (a refused or unrun job).
    pub fn new(status: EndStatus, reason: impl Into<String>) -> Outcome {
        Outcome {
            status,
            reason: Some(reason.into()),
            termination: None,
            exit_code: None,
            resource_usage: None,
            log_truncated: None,
            unattested: None,
            partial_files: Vec::new(),
            note: None,
        }
    }

    /// The outcome of a job that ran: its status, how it ended, what it used, and the reason
    /// when it did not succeed; `exitCode` is set from an [`Termination::Exited`].
    pub fn ran(
        status: EndStatus,
        reason: Option<String>,
        termination: Termination,
        usage: Usage,
        log_truncated: bool,
    ) -> Outcome {
        Outcome {
            status,
            reason,
            termination: Some(termination),
            exit_code: match termination {
                Termination::Exited(code) => Some(code),
                _ => None,
            },
            resource_usage: Some(usage),
            log_truncated: Some(log_truncated),
            unattested: None,
            partial_files: Vec::new(),
            note: None,
        }
    }

    /// The outcome of a receipt's statement.
    pub fn of(statement: &ReceiptStatement) -> Result<Outcome, OutcomeError> {
        let descriptor = statement
            .predicate
            .run_details
            .byproducts
            .iter()
            .find(|b| b.name.as_deref() == Some(OUTCOME_NAME))
            .ok_or(OutcomeError::Missing)?;
        Outcome::from_descriptor(descriptor)
    }

    /// Reads an outcome byproduct.
    pub fn from_descriptor(descriptor: &ResourceDescriptor) -> Result<Outcome, OutcomeError> {
        serde_json::from_value(Value::Object(descriptor.annotations.clone()))
            .map_err(OutcomeError::Malformed)
    }

    /// The outcome as the receipt's byproduct.
    pub fn to_descriptor(&self) -> ResourceDescriptor {
        let mut rd = ResourceDescriptor {
            name: Some(OUTCOME_NAME.into()),
            media_type: Some(OUTCOME_MEDIA_TYPE.into()),
            ..Default::default()
        };
        // Strings, numbers, booleans and enums of unit or integer variants: this serializes.
        if let Ok(Value::Object(map)) = serde_json::to_value(self) {
            rd.annotations = map;
        }
        rd
    }
}

/// A duration in seconds as a receipt writes it: rounded to the microsecond.
pub fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

/// `Duration` as whole milliseconds, the unit of a receipt's limits.
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

/// `Duration` as seconds with microseconds (`0.034932`), the unit of a receipt's usage.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::seconds(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| D::Error::custom(format!("{secs} is not a duration in seconds")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_round_trip() {
        for s in EndStatus::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.word()));
            assert_eq!(serde_json::from_str::<EndStatus>(&json).unwrap(), s);
            assert_eq!(EndStatus::parse(s.word()), Some(s));
        }
        assert!(serde_json::from_str::<EndStatus>("\"exploded\"").is_err());
        assert!(EndStatus::Cancelled.may_be_unrun());
        assert!(!EndStatus::Succeeded.may_be_unrun());
    }

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

    #[test]
    fn a_run_outcome_serializes_as_receipts_carry_it() {
        let usage = Usage {
            accounting: Accounting::CgroupV1,
            user_cpu: Duration::from_micros(4_000),
            wall: Duration::from_nanos(34_932_400),
            max_rss_bytes: 4_153_344,
            peak_memory_bytes: None,
            log_bytes: 3,
            ..Usage::default()
        };
        let o = Outcome::ran(
            EndStatus::Failed,
            Some("the algorithm exited with status 3".into()),
            Termination::Exited(3),
            usage,
            false,
        );
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "failed",
                "reason": "the algorithm exited with status 3",
                "termination": {"kind": "exited", "value": 3},
                "exitCode": 3,
                "logTruncated": false,
                "resourceUsage": {
                    "accounting": "cgroup-v1",
                    "userCpuSeconds": 0.004,
                    "systemCpuSeconds": 0.0,
                    "wallSeconds": 0.034932,
                    "maxRssBytes": 4153344,
                    "peakMemoryBytes": null,
                    "outputBytes": 0,
                    "outputFiles": 0,
                    "outputEntries": 0,
                    "logBytes": 3,
                },
            })
        );
        let back = Outcome::from_descriptor(&o.to_descriptor()).unwrap();
        assert_eq!(back.status, EndStatus::Failed);
        assert_eq!(back.exit_code, Some(3));
    }

    #[test]
    fn fields_added_later_default_in_older_outcomes() {
        // An outcome as the first receipts wrote it: no accounting, peak memory, entries.
        let old = serde_json::json!({
            "status": "succeeded",
            "termination": {"kind": "exited", "value": 0},
            "exitCode": 0,
            "logTruncated": false,
            "resourceUsage": {
                "userCpuSeconds": 0.01, "systemCpuSeconds": 0.0, "wallSeconds": 0.02,
                "maxRssBytes": 1, "outputBytes": 2, "outputFiles": 1, "logBytes": 0,
            },
        });
        let o: Outcome = serde_json::from_value(old).unwrap();
        let u = o.resource_usage.unwrap();
        assert_eq!(u.accounting, Accounting::PerProcess);
        assert_eq!((u.peak_memory_bytes, u.output_entries), (None, 0));
        let bad = serde_json::json!({"status": "succeeded", "exitCode": "zero"});
        assert!(serde_json::from_value::<Outcome>(bad).is_err());
    }
}
