//! The persistent job queue.
//!
//! Every job the node accepts has one file, `HOME/queue/<id>.json`, holding its state and the
//! signed request. The file is written atomically (temporary file, fsync, rename, fsync of the
//! folder) *before* the caller hears "accepted", and again at each state change, so:
//!
//! - if the node dies while a job is `queued`, the restarted node runs it;
//! - if it dies while a job is `running`, the restarted node ends it `interrupted` with a
//!   signed failure receipt in the log — unless the job had already sealed its receipt (its
//!   `bundle.json` exists), in which case the state is taken from that receipt;
//! - a finished job's file stays as the node's job index.
//!
//! Scheduling: at most `max_concurrent_jobs` run at once, each on its own worker thread (the
//! sandbox blocks). The next job is taken from the requester with the fewest running jobs;
//! among equals, the one whose oldest queued job is oldest. A job queued longer than
//! `queue_timeout` ends `expired`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use poex_core::dsse::Envelope;
use poex_core::outcome::{EndStatus, Outcome};
use poex_core::receipt::ReceiptStatement;
use poex_core::request::SignedRequest;
use poex_exec::pipeline::{JobOptions, JobReport, Reporter};
use poex_exec::sandbox::CancelToken;
use poex_store::audit::{Event, Operation};
use serde::{Deserialize, Serialize};

use crate::state::Node;

pub use poex_client::wire::JobState;

/// One job as the queue file holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The job id (the receipt's `invocationId`, the folder name under `HOME/jobs`).
    pub id: String,
    /// Submission order.
    pub seq: u64,
    /// Key id of the requester.
    pub requester: String,
    /// Algorithm name.
    pub algorithm: String,
    /// Dataset names.
    pub datasets: Vec<String>,
    /// Current state.
    pub state: JobState,
    /// The receipt's end status once the job ended (`succeeded`, `failed`,
    /// `wall-time-exceeded`, ...).
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
    /// The receipt's index in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// The signed job request.
    pub request: Envelope,
}

/// What a running job is doing, for status requests.
#[derive(Debug, Default)]
pub struct Progress {
    stage: Mutex<String>,
    done: AtomicU64,
    total: AtomicU64,
}

/// A running job's progress at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// What it is doing (`running in the sandbox`, `verifying dataset cohort`).
    pub stage: String,
    /// Bytes done of the current byte-counted step.
    pub done: u64,
    /// Bytes of the current byte-counted step (0: not byte-counted).
    pub total: u64,
}

impl Progress {
    /// The progress now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            stage: lock(&self.stage).clone(),
            done: self.done.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
        }
    }
}

impl Reporter for Progress {
    fn wants_bytes(&self) -> bool {
        true
    }
    fn stage(&self, what: &str) {
        *lock(&self.stage) = what.to_owned();
        self.done.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
    }
    fn begin_bytes(&self, what: &str, total: u64) {
        *lock(&self.stage) = what.to_owned();
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

/// Why a job could not be accepted or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The requester has too many queued jobs.
    #[error(
        "requester {requester} already has {queued} jobs queued (the limit is {limit}); wait for some to finish"
    )]
    TooMany {
        /// Key id.
        requester: String,
        /// Queued now.
        queued: usize,
        /// The limit.
        limit: usize,
    },
    /// The node is shutting down.
    #[error("the node is shutting down and accepts no new jobs; retry when it is back")]
    Stopping,
    /// No such job.
    #[error("no job {0} on this node")]
    Unknown(String),
    /// The job already ended.
    #[error("job {id} already ended ({state})")]
    Ended {
        /// Job id.
        id: String,
        /// Its state.
        state: &'static str,
    },
    /// The `submit` event could not be logged, so the job was not accepted.
    #[error(
        "the node cannot record the job in its log right now ({0}); nothing was queued; retry in a few seconds"
    )]
    Log(String),
    /// Writing the queue file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

struct Running {
    cancel: CancelToken,
    progress: Arc<Progress>,
    requester: String,
}

#[derive(Default)]
struct Inner {
    jobs: BTreeMap<String, JobRecord>,
    running: HashMap<String, Running>,
    /// When each requester last had a job started (a tick of `started`): fairness.
    served: HashMap<String, u64>,
    /// Jobs started by this process.
    started: u64,
    next_seq: u64,
    stopping: bool,
}

/// The queue: job records in memory and on disk, and the scheduler's state.
pub struct Queue {
    dir: PathBuf,
    max_concurrent: usize,
    max_queued_per_requester: usize,
    timeout: Duration,
    /// All jobs and the running set; guarded together so scheduling decisions are atomic.
    inner: Mutex<Inner>,
    /// Signalled when a job is queued, a job ends, or the queue stops.
    wake: Condvar,
    /// When this process loaded the queue: queued jobs' waiting time counts from the later of
    /// this and their submission (time spent while the node was down is not held against them).
    loaded: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent; a panicking worker does not damage it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> String {
    poex_store::now_rfc3339()
}

impl Queue {
    /// Loads `dir` (created if missing). Jobs found `running` are returned separately: the
    /// caller ends them (see [`Node::recover`]).
    pub fn load(
        dir: &Path,
        max_concurrent: usize,
        max_queued_per_requester: usize,
        timeout: Duration,
    ) -> Result<(Queue, Vec<JobRecord>), QueueError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| QueueError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut inner = Inner::default();
        let mut interrupted = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".tmp-") {
                // A state write cut short by a crash: the previous file is intact.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let record: JobRecord = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable queue file");
                    continue;
                }
            };
            inner.next_seq = inner.next_seq.max(record.seq + 1);
            if record.state == JobState::Running {
                interrupted.push(record.clone());
            }
            inner.jobs.insert(record.id.clone(), record);
        }
        Ok((
            Queue {
                dir: dir.to_owned(),
                max_concurrent,
                max_queued_per_requester,
                timeout,
                inner: Mutex::new(inner),
                wake: Condvar::new(),
                loaded: Instant::now(),
            },
            interrupted,
        ))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes a record durably: if we crash before the rename the old state stands; after
    /// it, the new one.
    fn persist(&self, record: &JobRecord) -> Result<(), QueueError> {
        let path = self.path(&record.id);
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| QueueError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        poex_store::write_atomic(&path, &bytes).map_err(|source| QueueError::Io { path, source })
    }

    /// Accepts a verified request: the record is on disk when this returns. `log` records
    /// the job's `submit` event once the queue's limits allow it, before the record is
    /// written: if it fails, nothing is queued.
    pub fn submit(
        &self,
        id: String,
        request: &SignedRequest,
        log: impl FnOnce(&JobRecord) -> Result<(), QueueError>,
    ) -> Result<JobRecord, QueueError> {
        let requester = request.request.requester.key_id.to_string();
        let mut inner = lock(&self.inner);
        if inner.stopping {
            return Err(QueueError::Stopping);
        }
        let queued = inner
            .jobs
            .values()
            .filter(|j| j.state == JobState::Queued && j.requester == requester)
            .count();
        if queued >= self.max_queued_per_requester {
            return Err(QueueError::TooMany {
                requester,
                queued,
                limit: self.max_queued_per_requester,
            });
        }
        let record = JobRecord {
            id: id.clone(),
            seq: inner.next_seq,
            requester,
            algorithm: request.request.algorithm.name.clone(),
            datasets: request
                .request
                .datasets
                .iter()
                .map(|d| d.name.clone())
                .collect(),
            state: JobState::Queued,
            status: None,
            reason: None,
            submitted_at: now(),
            started_at: None,
            finished_at: None,
            log_index: None,
            request: request.envelope.clone(),
        };
        log(&record)?;
        self.persist(&record)?;
        inner.next_seq += 1;
        inner.jobs.insert(id, record.clone());
        drop(inner);
        self.wake.notify_all();
        Ok(record)
    }

    /// One job, with its live progress if it runs.
    pub fn get(&self, id: &str) -> Option<(JobRecord, Option<Snapshot>)> {
        let inner = lock(&self.inner);
        let record = inner.jobs.get(id)?.clone();
        let progress = inner.running.get(id).map(|r| r.progress.snapshot());
        Some((record, progress))
    }

    /// Jobs matching the filters, newest first, after `before_seq` (exclusive), at most `limit`.
    pub fn list(
        &self,
        requester: Option<&str>,
        state: Option<JobState>,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Vec<JobRecord> {
        let inner = lock(&self.inner);
        let mut out: Vec<JobRecord> = inner
            .jobs
            .values()
            .filter(|j| requester.is_none_or(|r| j.requester == r))
            .filter(|j| state.is_none_or(|s| j.state == s))
            .filter(|j| before_seq.is_none_or(|b| j.seq < b))
            .cloned()
            .collect();
        out.sort_by_key(|j| std::cmp::Reverse(j.seq));
        out.truncate(limit);
        out
    }

    /// `(queued, running)` counts.
    pub fn counts(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        let queued = inner
            .jobs
            .values()
            .filter(|j| j.state == JobState::Queued)
            .count();
        (queued, inner.running.len())
    }

    /// Stops scheduling: workers finish their job and exit; queued jobs stay queued on disk.
    pub fn stop(&self) {
        lock(&self.inner).stopping = true;
        self.wake.notify_all();
    }

    /// Stops every running job (after the shutdown grace period); their receipts say
    /// `interrupted`.
    pub fn interrupt_running(&self) {
        for r in lock(&self.inner).running.values() {
            r.cancel.interrupt();
        }
    }

    /// Whether any job is running.
    pub fn any_running(&self) -> bool {
        !lock(&self.inner).running.is_empty()
    }

    /// Takes the next job to run, fairly; `None` when the queue stops. Jobs that waited too
    /// long are returned too, marked so the worker ends them `expired`.
    fn next(&self) -> Option<(JobRecord, Arc<Progress>, CancelToken, bool)> {
        let mut inner = lock(&self.inner);
        loop {
            if inner.stopping {
                return None;
            }
            if inner.running.len() < self.max_concurrent
                && let Some(id) = self.pick(&inner)
            {
                let expired = self.has_expired(inner.jobs.get(&id)?);
                inner.started += 1;
                let tick = inner.started;
                let record = inner.jobs.get_mut(&id)?;
                record.state = JobState::Running;
                record.started_at = Some(now());
                let record = record.clone();
                inner.served.insert(record.requester.clone(), tick);
                let progress = Arc::new(Progress::default());
                let cancel = CancelToken::new();
                inner.running.insert(
                    id,
                    Running {
                        cancel: cancel.clone(),
                        progress: progress.clone(),
                        requester: record.requester.clone(),
                    },
                );
                return Some((record, progress, cancel, expired));
            }
            // Wake at least every second to notice jobs that expire while nothing else happens.
            inner = self
                .wake
                .wait_timeout(inner, Duration::from_secs(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn has_expired(&self, record: &JobRecord) -> bool {
        let submitted = time::OffsetDateTime::parse(
            &record.submitted_at,
            &time::format_description::well_known::Rfc3339,
        )
        .ok();
        // Waiting counts from the later of submission and this process's start.
        let waited_here = self.loaded.elapsed();
        let waited_total = submitted
            .map(|t| (time::OffsetDateTime::now_utc() - t).unsigned_abs())
            .unwrap_or_default();
        waited_total.min(waited_here) > self.timeout
    }

    /// Fairness: the requester with the fewest running jobs; among those, the one served
    /// longest ago (never served first); then the oldest queued job. So requesters take turns
    /// even when only one job runs at a time.
    fn pick(&self, inner: &Inner) -> Option<String> {
        let mut running_by: HashMap<&str, usize> = HashMap::new();
        for r in inner.running.values() {
            *running_by.entry(r.requester.as_str()).or_default() += 1;
        }
        inner
            .jobs
            .values()
            .filter(|j| j.state == JobState::Queued)
            .min_by_key(|j| {
                (
                    running_by.get(j.requester.as_str()).copied().unwrap_or(0),
                    inner.served.get(&j.requester).copied().unwrap_or(0),
                    j.seq,
                )
            })
            .map(|j| j.id.clone())
    }

    /// Records the end of a job (on disk first).
    fn finish(&self, mut record: JobRecord) {
        record.finished_at.get_or_insert_with(now);
        if let Err(e) = self.persist(&record) {
            tracing::error!(job = %record.id, error = %e, "could not record the job's end state");
        }
        let mut inner = lock(&self.inner);
        inner.running.remove(&record.id);
        inner.jobs.insert(record.id.clone(), record);
        drop(inner);
        self.wake.notify_all();
    }

    /// Forgets that a job runs without recording an end: its file still says `running`, so
    /// the next start ends it (used when the node stops while the job's receipt waits for
    /// the log).
    fn release(&self, id: &str) {
        lock(&self.inner).running.remove(id);
        self.wake.notify_all();
    }

    /// Cancels a job: a queued one is taken out of the queue and returned (the caller signs
    /// its failure receipt); a running one is killed and ends through its worker.
    pub fn cancel(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let mut inner = lock(&self.inner);
        let record = inner
            .jobs
            .get_mut(id)
            .ok_or_else(|| QueueError::Unknown(id.to_owned()))?;
        match record.state {
            JobState::Queued => {
                // Mark it running so no worker takes it while the caller seals the receipt.
                record.state = JobState::Running;
                let record = record.clone();
                inner.running.insert(
                    id.to_owned(),
                    Running {
                        cancel: CancelToken::new(),
                        progress: Arc::new(Progress::default()),
                        requester: record.requester.clone(),
                    },
                );
                Ok(Some(record))
            }
            JobState::Running => {
                if let Some(r) = inner.running.get(id) {
                    r.cancel.cancel();
                }
                Ok(None)
            }
            s => Err(QueueError::Ended {
                id: id.to_owned(),
                state: s.name(),
            }),
        }
    }
}

/// The state and status a pipeline report ends a job in.
fn ended(report: &JobReport) -> (JobState, EndStatus, Option<String>) {
    let status = report.status.end_status();
    (
        JobState::from_status(status),
        status,
        report.status.reason().map(str::to_owned),
    )
}

impl Node {
    /// Ends, with a signed failure receipt, a job that will not run (cancelled while queued,
    /// expired, interrupted by a crash, or one the pipeline could not run), and records its
    /// end state. A job that has a receipt already (in its folder or in the log) keeps that one
    /// instead ([`Node::finish_from_receipt`]). While the log cannot be written the receipt
    /// waits for it (the node reopens a failed log writer); if the node stops meanwhile, the
    /// job stays `running` on disk and the next start ends it.
    pub(crate) fn end_unrun(&self, mut record: JobRecord, status: EndStatus, reason: &str) {
        let out = self.home.jobs_dir().join(&record.id);
        let reason = self.scrub(reason);
        loop {
            if self.finish_from_receipt(&mut record) {
                self.queue.finish(record);
                return;
            }
            // Signing now would write over a receipt the job may have saved (one the log
            // failed to take): wait for the log first, then look again.
            if self.log_fault().is_some() {
                tracing::error!(job = %record.id, "the log cannot be written; the job's receipt waits for it");
                if !self.wait_for_log() {
                    self.queue.release(&record.id);
                    return;
                }
                continue;
            }
            let result =
                self.processor()
                    .end_unrun(&record.id, &record.request, &out, status, &reason);
            match result {
                Ok(report) => {
                    let (state, status, reason) = ended(&report);
                    record.state = state;
                    record.status = Some(status);
                    record.reason = reason.map(|r| self.scrub(&r));
                    record.log_index = Some(report.log_index);
                    break;
                }
                Err(e) if self.ledger.writer_fault().is_some() => {
                    tracing::error!(job = %record.id, error = %e, "the log failed while the job's receipt was logged");
                }
                Err(e) => {
                    tracing::error!(job = %record.id, error = %e, "could not sign the job's failure receipt");
                    record.state = JobState::Failed;
                    record.status = Some(status);
                    record.reason = Some(self.scrub(&format!(
                        "{reason}; and its failure receipt could not be written: {e}"
                    )));
                    break;
                }
            }
        }
        self.queue.finish(record);
    }

    /// Waits until the log can be written again (true) or the node stops (false).
    fn wait_for_log(&self) -> bool {
        loop {
            if self.is_stopping() {
                return false;
            }
            if self.log_fault().is_none() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Ends `record` from a receipt the job has already, if it has one, and says whether it
    /// did: its proof bundle in the job folder; else a receipt for this job in the log (the
    /// node died after logging it and before writing the bundle: the bundle is made from the
    /// logged receipt, appending nothing); else the job folder's `receipt.json` if this
    /// node's processor key signed it for this job and this request (the node could not log
    /// it: it is logged now). Never signs a second receipt.
    pub(crate) fn finish_from_receipt(&self, record: &mut JobRecord) -> bool {
        let out = self.home.jobs_dir().join(&record.id);
        if let Some((state, status)) = sealed_state(&out) {
            record.state = state;
            record.status = Some(status);
            return true;
        }
        let saved = std::fs::read(out.join("receipt.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Envelope>(&b).ok())
            .filter(|env| self.own_receipt(env, record));
        let logged = match self.ledger.job_receipts(&record.id) {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(job = %record.id, error = %e, "could not look the job's receipts up in the log");
                return false;
            }
        };
        // The first receipt logged for the job is its end; a digest entry names the saved one.
        let first = logged.into_iter().find_map(|(_, env)| match env {
            Some(env) => self.own_receipt(&env, record).then_some(env),
            None => saved
                .clone()
                .filter(|s| self.ledger.find_receipt(s).ok().flatten().is_some()),
        });
        let (envelope, bundle) = match (first, saved) {
            (Some(env), _) => match self.ledger.prove_logged(&env) {
                Ok(b) => (env, b),
                Err(e) => {
                    tracing::error!(job = %record.id, error = %e, "could not prove the job's logged receipt");
                    return false;
                }
            },
            (None, Some(env)) => match self.ledger.log_and_prove(&env) {
                Ok(b) => (env, b),
                Err(e) => {
                    tracing::error!(job = %record.id, error = %e, "could not log the job's saved receipt");
                    return false;
                }
            },
            (None, None) => return false,
        };
        let receipt_bytes = match serde_json::to_vec_pretty(&envelope) {
            Ok(mut b) => {
                b.push(b'\n');
                b
            }
            Err(_) => return false,
        };
        let receipt_path = out.join("receipt.json");
        let bundle_path = out.join(poex_exec::pipeline::BUNDLE_NAME);
        let written = std::fs::create_dir_all(&out)
            .and_then(|()| {
                let same = std::fs::read(&receipt_path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Envelope>(&b).ok())
                    .is_some_and(|e| e == envelope);
                if same {
                    Ok(())
                } else {
                    poex_store::write_atomic(&receipt_path, &receipt_bytes)
                }
            })
            .and_then(|()| poex_store::write_atomic(&bundle_path, bundle.to_json().as_bytes()));
        if let Err(e) = written {
            tracing::error!(job = %record.id, error = %e, "could not write the job's proof bundle");
            return false;
        }
        let status = receipt_status(&envelope);
        record.state = JobState::from_status(status);
        record.status = Some(status);
        record.log_index = poex_log::tlog_proof::TlogProof::parse(&bundle.tlog_proof)
            .ok()
            .map(|p| p.index);
        tracing::info!(job = %record.id, state = record.state.name(), "ended the job from the receipt it had");
        true
    }

    /// Whether `envelope` is a receipt this node's processor key signed for `record`'s job and
    /// request.
    fn own_receipt(&self, envelope: &Envelope, record: &JobRecord) -> bool {
        let Ok(statement) = poex_core::receipt::open(envelope, &self.processor_public()) else {
            return false;
        };
        let bd = &statement.predicate.build_definition;
        let same_job = statement
            .predicate
            .run_details
            .metadata
            .invocation_id
            .as_deref()
            == Some(record.id.as_str());
        let same_request = bd
            .external_parameters
            .get("jobRequest")
            .and_then(|v| serde_json::from_value::<Envelope>(v.clone()).ok())
            .is_some_and(|r| r == record.request);
        same_job && same_request
    }

    /// Ends the jobs a previous run of the node left `running`.
    pub(crate) fn recover(&self, interrupted: Vec<JobRecord>) {
        for mut record in interrupted {
            // The job may have ended just before the node died: its receipt (bundled,
            // logged, or saved) is then the job's end, and no second one is signed.
            if self.finish_from_receipt(&mut record) {
                tracing::info!(job = %record.id, state = record.state.name(), "recovered a job that had ended");
                self.queue.finish(record);
                continue;
            }
            tracing::warn!(job = %record.id, "the node stopped while this job ran; ending it interrupted");
            self.end_unrun(
                record,
                EndStatus::Interrupted,
                "the node stopped while the job ran (killed or crashed); partial results are not attested",
            );
        }
    }

    /// A worker: takes jobs until the queue stops.
    pub(crate) fn work(self: &Arc<Self>) {
        while let Some((mut record, progress, cancel, expired)) = self.queue.next() {
            if expired {
                let reason = format!(
                    "the job waited in the queue longer than {} s and was not run",
                    self.queue.timeout.as_secs()
                );
                self.end_unrun(record, EndStatus::Expired, &reason);
                continue;
            }
            // A job started while the log cannot be written would fail for that alone: it
            // waits (and stays queued on disk if the node stops first).
            if self.log_fault().is_some() {
                tracing::warn!(job = %record.id, "the log cannot be written; the job waits for it");
                if !self.wait_for_log() {
                    self.queue.release(&record.id);
                    continue;
                }
            }
            if let Err(e) = self.queue.persist(&record) {
                tracing::error!(job = %record.id, error = %e, "could not record that the job runs");
            }
            tracing::info!(job = %record.id, requester = %record.requester, "job started");
            let options = JobOptions {
                job_id: Some(record.id.clone()),
                out: None,
                cancel: Some(cancel),
            };
            let result =
                self.processor()
                    .run_job(record.request.clone(), options, progress.as_ref());
            match result {
                Ok(report) => {
                    let (state, status, reason) = ended(&report);
                    record.state = state;
                    record.status = Some(status);
                    record.reason = reason;
                    record.reason = record.reason.map(|r| self.scrub(&r));
                    record.log_index = Some(report.log_index);
                    tracing::info!(job = %record.id, state = state.name(), "job ended");
                    self.queue.finish(record);
                }
                Err(e) => {
                    tracing::error!(job = %record.id, error = %e, "job could not complete");
                    let reason = format!("the node could not complete the job: {e}");
                    self.end_unrun(record, EndStatus::Failed, &reason);
                }
            }
        }
    }

    /// Logs that a job was accepted.
    pub(crate) fn log_submit(&self, record: &JobRecord) -> Result<(), QueueError> {
        let mut ev = Event::now(&record.requester, Operation::Submit, &record.algorithm);
        ev.job = Some(record.id.clone());
        ev.detail = Some(format!("datasets: {}", record.datasets.join(", ")));
        self.audit_or_fail(vec![ev])
            .map_err(|e| QueueError::Log(self.scrub(&e.to_string())))
    }
}

/// The state recorded in a job folder's sealed bundle, if there is one.
fn sealed_state(out: &Path) -> Option<(JobState, EndStatus)> {
    let bytes = std::fs::read(out.join(poex_exec::pipeline::BUNDLE_NAME)).ok()?;
    let bundle: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let receipt: Envelope = serde_json::from_value(bundle.get("receipt")?.clone()).ok()?;
    let status = receipt_status(&receipt);
    Some((JobState::from_status(status), status))
}

/// The end status of a receipt (its outcome byproduct's; `failed` if it has none or it cannot
/// be read).
fn receipt_status(receipt: &Envelope) -> EndStatus {
    serde_json::from_slice::<ReceiptStatement>(&receipt.payload)
        .ok()
        .and_then(|statement| Outcome::of(&statement).ok())
        .map_or(EndStatus::Failed, |o| o.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        for s in [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Refused,
            JobState::Cancelled,
            JobState::Expired,
            JobState::Interrupted,
        ] {
            assert_eq!(JobState::parse(s.name()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
        }
    }
}
