//! The append-only audit trail: one JSON object per line in `audit.jsonl`.
//!
//! Each publish, each dataset or algorithm read by a job, each result written, each refusal
//! and each run's start and end is an [`Event`]. [`Event`] is self-contained (strings and a
//! digest, no references into the store) so that a later transparency log can take events as
//! its leaves unchanged.
//!
//! # Durability and torn lines
//!
//! [`AuditLog::append`] serializes a batch of events into one buffer, writes it with a single
//! `write` on a file opened with `O_APPEND` (so concurrent appenders, even in other processes,
//! never interleave within a batch) and then `fdatasync`s. A crash during the write can leave
//! a *torn* last line: a prefix of an event without its newline. It is never silently
//! dropped: [`AuditLog::read`] in [`ReadMode::Strict`] fails with
//! [`AuditError::Damaged`] naming the line number, and [`ReadMode::ReportDamage`] returns the
//! intact events together with a [`Damage`] entry for each bad line. The next append first
//! ends a torn line with a newline, so the damage stays confined to that one line and the
//! new events are intact.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use poex_core::Digest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fsutil::fsync_dir;

/// Mode of the audit file: it names requesters and jobs, so only the poex user reads it.
const AUDIT_MODE: u32 = 0o600;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Operation {
    /// An asset was published to the registry.
    Publish,
    /// A job read a dataset.
    ReadDataset,
    /// A job read (ran) an algorithm.
    ReadAlgorithm,
    /// A job wrote a result.
    WriteResult,
    /// A request was refused (digest mismatch, policy, ...).
    Refuse,
    /// A job started.
    RunStarted,
    /// A job finished (whatever its exit status).
    RunFinished,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 7] = [
        Operation::Publish,
        Operation::ReadDataset,
        Operation::ReadAlgorithm,
        Operation::WriteResult,
        Operation::Refuse,
        Operation::RunStarted,
        Operation::RunFinished,
    ];

    /// The kebab-case name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Publish => "publish",
            Operation::ReadDataset => "read-dataset",
            Operation::ReadAlgorithm => "read-algorithm",
            Operation::WriteResult => "write-result",
            Operation::Refuse => "refuse",
            Operation::RunStarted => "run-started",
            Operation::RunFinished => "run-finished",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Operation {
    type Err = AuditError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| AuditError::UnknownOperation(s.to_owned()))
    }
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When, RFC 3339 UTC with fractional seconds (`2025-01-02T03:04:05.123456789Z`).
    pub time: String,
    /// Who: a key id.
    pub actor: String,
    /// What.
    pub operation: Operation,
    /// On what: a registry name, a path or a job's output.
    pub object: String,
    /// The digest of the object, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The job this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Free text, e.g. why something was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    /// An event stamped with the current time, without digest, job or detail.
    pub fn now(actor: impl Into<String>, operation: Operation, object: impl Into<String>) -> Self {
        Event {
            time: crate::now_rfc3339(),
            actor: actor.into(),
            operation,
            object: object.into(),
            digest: None,
            job: None,
            detail: None,
        }
    }

    /// The parsed time.
    pub fn timestamp(&self) -> Result<OffsetDateTime, time::error::Parse> {
        OffsetDateTime::parse(&self.time, &Rfc3339)
    }
}

/// Which events [`AuditLog::query`] returns: every field set must match (`None` matches
/// anything). `since` is inclusive, `until` exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact operation.
    pub operation: Option<Operation>,
    /// Exact object.
    pub object: Option<String>,
    /// Exact job.
    pub job: Option<String>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Strictly before this time.
    pub until: Option<OffsetDateTime>,
}

impl Filter {
    /// Whether `event` passes the filter. An event whose time does not parse fails any
    /// time bound (events read from the log always parse: reading checks it).
    pub fn matches(&self, event: &Event) -> bool {
        fn same(want: &Option<String>, have: &str) -> bool {
            want.as_deref().is_none_or(|w| w == have)
        }
        if !same(&self.actor, &event.actor)
            || !same(&self.object, &event.object)
            || self.operation.is_some_and(|op| op != event.operation)
            || self
                .job
                .as_deref()
                .is_some_and(|j| event.job.as_deref() != Some(j))
        {
            return false;
        }
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Ok(t) = event.timestamp() else {
            return false;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// How [`AuditLog::read`] treats a line that is not a valid event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadMode {
    /// Fail with [`AuditError::Damaged`] at the first bad line.
    Strict,
    /// Return the intact events and list every bad line in [`AuditRead::damaged`].
    ReportDamage,
}

/// A line of the audit file that is not a valid event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damage {
    /// Line number, from 1.
    pub line: u64,
    /// True for a last line without its newline: an append cut short by a crash.
    pub torn: bool,
    /// Why it does not parse.
    pub reason: String,
}

/// What [`AuditLog::read`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRead {
    /// Every valid event, in file order.
    pub events: Vec<Event>,
    /// Every bad line (always empty in [`ReadMode::Strict`]).
    pub damaged: Vec<Damage>,
}

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A filesystem operation failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The audit file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A line is not a valid event.
    #[error(
        "audit log {path}, line {line}: {}{reason}; the other lines are intact. Inspect the \
         line and move it aside, or read the log with damage reporting",
        if *torn { "incomplete last line (an append cut short by a crash?): " } else { "" }
    )]
    Damaged {
        /// The audit file.
        path: PathBuf,
        /// Line number, from 1.
        line: u64,
        /// True for a last line without its newline.
        torn: bool,
        /// Why it does not parse.
        reason: String,
    },
    /// An event offered to [`AuditLog::append`] has a time that is not RFC 3339.
    #[error("audit event time {time:?} is not RFC 3339 (use poex_store::now_rfc3339())")]
    BadTime {
        /// The time given.
        time: String,
    },
    /// A string that names no [`Operation`].
    #[error(
        "unknown audit operation {0:?}; one of publish, read-dataset, read-algorithm, \
         write-result, refuse, run-started, run-finished"
    )]
    UnknownOperation(String),
}

/// The audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// The file opened for append (and for reading its last byte). The lock serializes this
    /// process's appends so the torn-line check and the write go together; other processes
    /// rely on `O_APPEND` alone (see [`AuditLog::append`]).
    file: Mutex<File>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl AuditLog {
    /// Opens the audit file at `path`, creating it (mode 0600) if missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AuditError> {
        let path = path.into();
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(AUDIT_MODE)
            .open(&path)
            .map_err(io_err(&path))?;
        if !existed && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent).map_err(io_err(parent))?;
        }
        Ok(AuditLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// The audit file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `events` as one write of JSON lines, then `fdatasync`s: when this returns Ok
    /// the events are on stable storage.
    ///
    /// Concurrent appends from other processes are safe: `O_APPEND` places each batch at the
    /// end atomically. If two processes both find a torn last line, each ends it, which
    /// leaves an empty line; readers skip empty lines (they hold no event).
    pub fn append(&self, events: &[Event]) -> Result<(), AuditError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(events.len() * 256);
        for event in events {
            if event.timestamp().is_err() {
                return Err(AuditError::BadTime {
                    time: event.time.clone(),
                });
            }
            serde_json::to_writer(&mut buf, event)
                .expect("an Event holds only strings and digests, which always serialize");
            buf.push(b'\n');
        }
        // A poisoned lock means another append panicked mid-way; the file itself is still
        // consistent (the torn-line check below handles a partial write), so carry on.
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let len = file.metadata().map_err(io_err(&self.path))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.read_exact_at(&mut last, len - 1)
                .map_err(io_err(&self.path))?;
            if last[0] != b'\n' {
                // A previous append was cut short (crash): end the torn line so our events
                // start on a fresh line. The torn line stays, and readers report it.
                buf.insert(0, b'\n');
            }
        }
        file.write_all(&buf).map_err(io_err(&self.path))?;
        // If we crash before this returns, some or all of the batch may be lost or torn;
        // the caller has not seen Ok, and a torn tail is reported on read.
        file.sync_data().map_err(io_err(&self.path))
    }

    /// Reads every event (see the [module docs](self) for damaged lines).
    pub fn read(&self, mode: ReadMode) -> Result<AuditRead, AuditError> {
        let file = File::open(&self.path).map_err(io_err(&self.path))?;
        let mut reader = BufReader::new(file);
        let mut out = AuditRead::default();
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(io_err(&self.path))?;
            if n == 0 {
                return Ok(out);
            }
            number += 1;
            let torn = line.last() != Some(&b'\n');
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            if body.is_empty() && !torn {
                continue;
            }
            let parsed = serde_json::from_slice::<Event>(body)
                .map_err(|e| e.to_string())
                .and_then(|ev| match ev.timestamp() {
                    Ok(_) => Ok(ev),
                    Err(e) => Err(format!("time {:?} is not RFC 3339: {e}", ev.time)),
                });
            match (parsed, torn) {
                (Ok(ev), false) => out.events.push(ev),
                // Valid JSON without its newline is still a cut-short append: the writer
                // always ends a batch with '\n'.
                (Ok(_), true) => {
                    self.damage(mode, &mut out, number, true, "missing newline".into())?
                }
                (Err(reason), torn) => self.damage(mode, &mut out, number, torn, reason)?,
            }
        }
    }

    fn damage(
        &self,
        mode: ReadMode,
        out: &mut AuditRead,
        line: u64,
        torn: bool,
        reason: String,
    ) -> Result<(), AuditError> {
        match mode {
            ReadMode::Strict => Err(AuditError::Damaged {
                path: self.path.clone(),
                line,
                torn,
                reason,
            }),
            ReadMode::ReportDamage => {
                out.damaged.push(Damage { line, torn, reason });
                Ok(())
            }
        }
    }

    /// The events matching `filter`, in file order. Strict: a damaged line is an error.
    pub fn query(&self, filter: &Filter) -> Result<Vec<Event>, AuditError> {
        let mut all = self.read(ReadMode::Strict)?;
        all.events.retain(|e| filter.matches(e));
        Ok(all.events)
    }
}
