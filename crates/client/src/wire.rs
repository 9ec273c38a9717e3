//! What a node's HTTP API sends and accepts, as types: the node serializes these, clients
//! deserialize them, so a field added here is added on both sides (docs/node.md lists the
//! endpoints). Readers ignore fields they do not know, so an older client can read a newer node.
//!
//! Receipts, bundles, registry records and audit events are not redefined here: they are
//! [`poex_core`]'s and [`poex_verify`]'s types, carried as they are.

use poex_core::asset::Record;
use poex_core::audit::Event;
use poex_core::outcome::EndStatus;
use poex_verify::checks::Checks;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a job is in its life. The end states match the receipt's status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum JobState {
    /// Accepted, waiting for a worker.
    Queued,
    /// In the pipeline (verifying, running, sealing).
    Running,
    /// Ran and exited 0.
    Succeeded,
    /// Ran and failed (exit status, a limit, bad output), or the node could not finish it.
    Failed,
    /// Refused by the pipeline's checks (digests, policy); nothing ran.
    Refused,
    /// Cancelled by its requester or an owner (or by shutdown after the grace period).
    Cancelled,
    /// Waited in the queue longer than `queue_timeout_secs`.
    Expired,
    /// The node stopped while it ran.
    Interrupted,
}

impl JobState {
    /// Every state, in the order of a job's life.
    pub const ALL: [JobState; 8] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Refused,
        JobState::Cancelled,
        JobState::Expired,
        JobState::Interrupted,
    ];

    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    /// The state's name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Refused => "refused",
            JobState::Cancelled => "cancelled",
            JobState::Expired => "expired",
            JobState::Interrupted => "interrupted",
        }
    }

    /// The state a job ends in, from its receipt's end status (`wall-time-exceeded` and the
    /// other failure words are `failed`).
    pub fn from_status(status: EndStatus) -> JobState {
        match status {
            EndStatus::Succeeded => JobState::Succeeded,
            EndStatus::Refused => JobState::Refused,
            EndStatus::Cancelled => JobState::Cancelled,
            EndStatus::Expired => JobState::Expired,
            EndStatus::Interrupted => JobState::Interrupted,
            _ => JobState::Failed,
        }
    }

    /// Parses a state name.
    pub fn parse(text: &str) -> Option<JobState> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A job as `POST /api/jobs`, `GET /api/jobs/{id}` and `POST .../cancel` answer it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The job id (the receipt's `invocationId`).
    pub id: String,
    /// Submission order on this node (in job lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Key id of the requester.
    pub requester: String,
    /// Algorithm name.
    pub algorithm: String,
    /// Dataset names.
    pub datasets: Vec<String>,
    /// Where the job is.
    pub state: JobState,
    /// The receipt's end status once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EndStatus>,
    /// Why it failed, was refused or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// RFC 3339 UTC.
    pub submitted_at: String,
    /// RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The receipt's index in the node's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// What a running job is doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Where to find its parts.
    pub links: JobLinks,
}

/// The API paths of a job's parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLinks {
    /// `GET`: the job.
    #[serde(rename = "self")]
    pub this: String,
    /// `GET`: the signed receipt (DSSE).
    pub receipt: String,
    /// `GET`: the proof bundle.
    pub bundle: String,
    /// `GET` (signed, the requester): the result files.
    pub results: String,
    /// `GET` (signed): the execution log.
    pub log: String,
}

impl JobLinks {
    /// The links of job `id`.
    pub fn of(id: &str) -> JobLinks {
        JobLinks {
            this: format!("/api/jobs/{id}"),
            receipt: format!("/api/jobs/{id}/receipt"),
            bundle: format!("/api/jobs/{id}/bundle"),
            results: format!("/api/jobs/{id}/results"),
            log: format!("/api/jobs/{id}/log"),
        }
    }
}

/// What a running job is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The step (`running in the sandbox`, `verifying dataset cohort`).
    pub stage: String,
    /// Bytes done of a byte-counted step.
    pub bytes_done: u64,
    /// Bytes of a byte-counted step (0: not byte-counted).
    pub bytes_total: u64,
}

/// `GET /api/jobs`: a page of jobs, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// `?before=` for the next page, if there is one.
    pub next_before: Option<u64>,
}

/// `GET /api/jobs/{id}/results`: the attested result files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultList {
    /// The job id.
    pub job: String,
    /// Its state.
    pub state: JobState,
    /// The files the receipt names.
    pub files: Vec<ResultFile>,
}

/// One result file the receipt names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultFile {
    /// Path relative to the results folder (a sealed result's sealed file).
    pub name: String,
    /// `sha256:<hex>`, as the receipt has it.
    pub sha256: String,
    /// `GET` (signed, the requester): the bytes.
    pub href: String,
}

/// `POST /api/objects`: what the node stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// Every digest of the content (`sha256:...`, `blake3:...`).
    pub digests: Vec<String>,
    /// The object's name in the store (`blake3:<hex>`): what `POST /api/assets` takes.
    pub object: Option<String>,
    /// `file` or `directory`.
    pub layout: String,
    /// Bytes.
    pub size: u64,
    /// Files.
    pub files: u64,
}

/// `POST /api/assets`: publish an uploaded object (or a file under an import root) by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Publish {
    /// `dataset` or `algorithm`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// An uploaded object, by its BLAKE3 digest (`blake3:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// A file or folder under one of the node's `import_roots` (owners only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
    /// Algorithms: the command to run, relative to the algorithm's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Datasets: which algorithms and requesters may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyBody>,
    /// Datasets: keep the bytes encrypted at rest, sealed to the owner's data identity.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seal_at_rest: bool,
}

/// A dataset's policy as `POST /api/assets` takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyBody {
    /// SHA-256 digests (`sha256:<hex>`) of algorithm records that may run on it.
    #[serde(default)]
    pub allowed_algorithms: Vec<String>,
    /// Key ids of requesters who may use it.
    #[serde(default)]
    pub allowed_requesters: Vec<String>,
}

/// `GET /api/assets`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetList {
    /// The records, datasets first.
    pub assets: Vec<Record>,
}

/// `GET /api/audit`: a page of audit events, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The events and their log indexes.
    pub events: Vec<AuditItem>,
    /// `?after=` for the next page, if there is one.
    pub next: Option<u64>,
}

/// One audit event and where it is in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditItem {
    /// The entry's index in the log.
    pub index: u64,
    /// The event.
    pub event: Event,
}

/// `POST /api/verify`: a bundle to check, and digests of files the caller holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The proof bundle (the JSON object as the node or `poex run` wrote it).
    pub bundle: Value,
    /// Files the caller holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileDigest>,
}

/// A file the caller holds: its name and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// The name the receipt would give it.
    pub name: String,
    /// `sha256:<hex>`.
    pub sha256: String,
}

/// What `POST /api/verify` found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Every check passed.
    pub ok: bool,
    /// The checks, in order.
    pub checks: Checks,
    /// The keys the node checked against: its own.
    pub trusted: Trusted,
}

/// The keys a node's verdict trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trusted {
    /// The node's processor key id.
    pub processor_key_id: String,
    /// The node's log verifier key (C2SP vkey).
    pub log_verifier_key: String,
}

/// `GET /api/info`: what a client needs to trust and talk to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// poex's version on the node.
    pub version: String,
    /// The key that signs receipts.
    pub processor: Processor,
    /// The node's log.
    pub log: LogInfo,
    /// Key ids of the node's owners.
    pub owners: Vec<String>,
    /// The `host[:port]` values signatures may cover.
    pub authority: Vec<String>,
    /// The latest anchor of the log on chain, if the node anchors.
    pub anchor: Option<Anchor>,
    /// The node's limits.
    pub limits: Limits,
    /// How to sign requests.
    pub auth: Auth,
}

/// A node's processor key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Processor {
    /// Its key id (hex SHA-256 of the public key).
    pub key_id: String,
    /// The base64 Ed25519 public key.
    pub public_key: String,
}

/// A node's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogInfo {
    /// The checkpoint origin line.
    pub origin: String,
    /// The C2SP verifier key of its checkpoints.
    pub verifier_key: String,
    /// Entries.
    pub size: u64,
    /// The tlog-tiles path (`/log/`).
    pub tiles: String,
}

/// The latest anchor of a log on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    /// The anchored checkpoint's tree size.
    pub size: u64,
    /// The block holding the anchoring transaction.
    pub block: u64,
    /// The anchoring transaction (0x hex).
    pub tx: String,
    /// When the node anchored it, or found it anchored (RFC 3339, UTC).
    pub at: String,
    /// The chain id.
    pub chain_id: u64,
    /// The `CheckpointAnchor` contract.
    pub contract: String,
}

/// A node's limits, as `node.toml` sets them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Jobs run at once.
    pub max_concurrent_jobs: usize,
    /// Jobs one requester may have queued.
    pub max_queued_per_requester: usize,
    /// Seconds a job may wait in the queue.
    pub queue_timeout_secs: u64,
    /// The largest upload.
    pub max_upload_bytes: u64,
    /// The largest JSON body.
    pub max_json_bytes: usize,
    /// The longest `expires - created` of a request signature.
    pub signature_max_age_secs: i64,
    /// Seconds a request may take.
    pub request_timeout_secs: u64,
    /// The slowest body accepted.
    pub min_body_bytes_per_sec: u64,
    /// Connections at once.
    pub max_connections: usize,
}

/// How requests are signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auth {
    /// `RFC 9421 HTTP Message Signatures, Ed25519`.
    pub scheme: String,
    /// The signature label.
    pub label: String,
    /// Components every signed request covers.
    pub components: Vec<String>,
    /// Components a signed request with a body also covers.
    pub components_with_body: Vec<String>,
    /// What the `keyid` parameter holds.
    pub keyid: String,
}

/// What a node sends with an error status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short code (`not_found`, `forbidden`, `too_large`).
    pub error: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, `stopping` or `unhealthy`.
    pub status: String,
    /// poex's version on the node.
    pub version: String,
    /// Jobs now.
    pub jobs: JobCounts,
    /// The log.
    pub log: LogSize,
    /// Why it is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Jobs queued and running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    /// Waiting for a worker.
    pub queued: usize,
    /// In the pipeline.
    pub running: usize,
}

/// A log's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSize {
    /// Entries.
    pub size: u64,
}

/// `GET /api/checkpoints`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoints {
    /// The latest signed checkpoint.
    pub latest: CheckpointView,
    /// The C2SP verifier key of the log's checkpoints.
    pub verifier_key: String,
}

/// A signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointView {
    /// The origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash, base64.
    pub root_hash: String,
    /// The signed note, verbatim.
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.name()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                Value::String(s.name().into())
            );
        }
        assert_eq!(JobState::parse("done"), None);
    }

    #[test]
    fn a_job_reads_without_the_fields_a_newer_node_adds_and_an_older_one_lacks() {
        let text = r#"{"id":"j","requester":"r","algorithm":"a","datasets":["d"],
            "state":"succeeded","status":"succeeded","submittedAt":"t","future":1,
            "links":{"self":"/api/jobs/j","receipt":"/api/jobs/j/receipt",
            "bundle":"/api/jobs/j/bundle","results":"/api/jobs/j/results","log":"/api/jobs/j/log"}}"#;
        let job: Job = serde_json::from_str(text).unwrap();
        assert_eq!(job.state, JobState::Succeeded);
        assert_eq!(job.status, Some(EndStatus::Succeeded));
        assert_eq!(job.links, JobLinks::of("j"));
        assert!(job.progress.is_none() && job.log_index.is_none());
    }
}
