//! Audit events: what happened, by whom, on what, when.
//!
//! Each publish, each dataset or algorithm read by a job, each result written, each refusal
//! and each run's start and end is an [`Event`]; a node adds uploads, job submissions and
//! cancellations, downloads of results and logs, and denied requests. [`Event`] is
//! self-contained (strings and a digest, no references into the store): the transparency log
//! (poex-ledger) takes events as its entries unchanged, which makes the audit trail
//! tamper-evident and provable. [`Filter`] selects events for queries.

use std::str::FromStr;

use crate::Digest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
    /// An object was uploaded to a node.
    Upload,
    /// A job was accepted into a node's queue.
    Submit,
    /// A job was cancelled (while queued or while running).
    Cancel,
    /// A job's results were downloaded (by its requester).
    DownloadResult,
    /// A job's execution log was downloaded (by its requester).
    DownloadLog,
    /// A request to a node was denied: a bad or missing signature, or a caller without the
    /// right. Unlike [`Operation::Refuse`], nothing about a job was decided: the request
    /// itself was turned away.
    Deny,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 13] = [
        Operation::Publish,
        Operation::ReadDataset,
        Operation::ReadAlgorithm,
        Operation::WriteResult,
        Operation::Refuse,
        Operation::RunStarted,
        Operation::RunFinished,
        Operation::Upload,
        Operation::Submit,
        Operation::Cancel,
        Operation::DownloadResult,
        Operation::DownloadLog,
        Operation::Deny,
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
            Operation::Upload => "upload",
            Operation::Submit => "submit",
            Operation::Cancel => "cancel",
            Operation::DownloadResult => "download-result",
            Operation::DownloadLog => "download-log",
            Operation::Deny => "deny",
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
            time: now_rfc3339(),
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

/// Which events a query returns: every field set must match (`None` matches
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
    /// time bound (poex stamps events with [`crate::now_rfc3339`], which parses).
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

/// A string that names no [`Operation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A string that names no [`Operation`].
    #[error("unknown audit operation {0:?}; one of {names}", names = operation_names())]
    UnknownOperation(String),
}

/// The current time as RFC 3339 UTC with fractional seconds (the clock is read here only).
fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    now.format(&Rfc3339)
        .unwrap_or_else(|_| crate::receipt::rfc3339(now))
}

/// The operation names, comma-separated, for error messages.
fn operation_names() -> String {
    Operation::ALL.map(Operation::name).join(", ")
}
