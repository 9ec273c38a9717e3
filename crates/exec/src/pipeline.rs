//! The job pipeline: verify before running, run in the sandbox, record, sign.
//!
//! [`Processor::run_job`] takes a requester-signed job request and
//!
//! 1. checks the request signature, looks the algorithm and datasets up in the registry,
//!    compares the digests the requester pinned with the registry's, and checks each
//!    dataset's policy (allowed algorithm digests, allowed requesters);
//! 2. re-hashes the stored algorithm and dataset bytes (BLAKE3, both cores) exactly as the
//!    sandbox will mount them and compares them with the registry; a dataset kept sealed at
//!    rest is instead decrypted with [`Processor::data_identity`] into this job's private
//!    folder, its SHA-256 and BLAKE3 checked as it is written ([`crate::at_rest`]), and that
//!    folder is removed as soon as the run ends;
//! 3. runs the entrypoint in the sandbox with the datasets read-only;
//! 4. hashes the results and the execution log, seals them to the requester if the request
//!    names a `resultRecipient` (docs/seal.md), signs the receipt, logs the audit events and
//!    the receipt in the transparency log and writes the receipt's proof bundle.
//!
//! Any failed check in 1-2 refuses the job: nothing runs, the refusal is an audit event and a
//! signed failure receipt, and the [`JobReport`] names the asset, the expected and the actual
//! digest. [`Processor::exec`] is the ad-hoc variant (`poex exec`): no registry; the
//! materials are hashed with SHA-256 on the way in, and a job whose materials changed between
//! that moment and the end of its run does not end `succeeded` (see [`crate::inputs`]).
//!
//! [`JobOptions`] lets the caller choose the job id (a node uses its queue's) and the output
//! folder, and pass a [`CancelToken`] that stops the job. [`Processor::end_unrun`] ends a job
//! that never ran (cancelled or expired while queued) or whose run was cut off (interrupted)
//! with a signed failure receipt.
//!
//! Output layout of a job (`OUT` is [`JobOptions::out`] or `<jobs dir>/<job id>`):
//!
//! ```text
//! OUT/request.json     the signed job request (DSSE)
//! OUT/receipt.json     the signed receipt (DSSE over in-toto/SLSA)
//! OUT/bundle.json      the receipt + its log entry, inclusion proof and signed checkpoint
//! OUT/execution.log    stdout and stderr, interleaved, bounded
//! OUT/results/         what the job wrote to /out
//! OUT/results.unattested/  instead, when that output cannot be attested (over its limits,
//!                      or a link, fifo, socket, bad name or unreadable folder in it): the job
//!                      fails, `results/` is left empty, and the receipt names this folder
//! ```
//!
//! From the moment a job's reads are logged, it ends with a signed receipt whatever happens:
//! a run the sandbox could not start, output that cannot be hashed or handed back, a result
//! that cannot be sealed — each is a failure receipt with the reason, never an error without
//! one.
//!
//! A job whose request names a `resultRecipient` leaves `OUT/execution.log.sealed` and
//! `OUT/results/<file>.sealed` instead (poex-seal/v1, sealed to that recipient): each result
//! is sealed as soon as it is hashed and its plaintext removed once the sealed file is safely
//! in place; the log never reaches the disk in plaintext. The receipt keeps each plaintext
//! digest as the subject and adds a `sealed` annotation with the sealed file's name and
//! SHA-256, so it commits to both.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use poex_core::dsse::Envelope;
use poex_core::receipt::{BUILD_TYPE_EXEC, BUILD_TYPE_JOB, LOG_NAME, ReceiptFacts, rfc3339};
use poex_core::request::{JobRequest, RequestedLimits, SignedRequest, random_hex16};
use poex_core::statement::ResourceDescriptor;
use poex_core::{Algorithm, Digest, DigestSet, Signer};
use poex_ledger::{Ledger, LedgerError};
use poex_seal::{Recipient, SEALED_SUFFIX, Sealed};
use poex_store::Store;
use poex_store::audit::{Event, Operation};
use poex_store::hash::{Layout, Tree, hash_tree, total_size};
use poex_store::objects::ObjectError;
use poex_store::registry::{AssetKind, Name, Record};
use serde_json::{Map, Value, json};

use crate::at_rest;
use poex_core::outcome::{EndStatus, Outcome as ReceiptOutcome};

use crate::sandbox::{self, CancelToken, Limits, Mount, Outcome, Spec, Termination};

/// Receives progress from a long job; every method has a do-nothing default.
pub trait Reporter: Sync {
    /// Whether byte counts are wanted at all; when not, poex skips the extra walk that sizes
    /// a folder before hashing it.
    fn wants_bytes(&self) -> bool {
        false
    }
    /// A new stage starts (`"verifying dataset cohort"`).
    fn stage(&self, _what: &str) {}
    /// A byte-counted step of `total` bytes starts.
    fn begin_bytes(&self, _what: &str, _total: u64) {}
    /// `n` more bytes of the current step are done (called from several threads).
    fn advance(&self, _n: u64) {}
    /// The byte-counted step is over.
    fn end_bytes(&self) {}
}

/// A [`Reporter`] that reports nothing.
pub struct Quiet;
impl Reporter for Quiet {}

/// How a job ended, in the receipt's words. Complete by definition: a job either ran and
/// succeeded, ran and failed, or was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Ran and exited 0.
    Succeeded,
    /// Ran and ended otherwise (non-zero exit, a limit, a signal, bad output).
    Failed {
        /// Any [`EndStatus`] but `succeeded` and `refused`: from a run, `failed`,
        /// `cpu-time-exceeded`, `wall-time-exceeded`, `output-limit-exceeded`,
        /// `memory-limit-exceeded`, `killed`, `invalid-output`, `input-changed`, `cancelled` or
        /// `interrupted` (stopped by its [`CancelToken`]); from [`Processor::end_unrun`], one
        /// of [`EndStatus::UNRUN`].
        status: EndStatus,
        /// Human explanation.
        reason: String,
    },
    /// Refused before running; nothing ran.
    Refused {
        /// What check failed, naming the asset and digests.
        reason: String,
    },
}

impl JobStatus {
    /// The status the receipt records.
    pub fn end_status(&self) -> EndStatus {
        match self {
            JobStatus::Succeeded => EndStatus::Succeeded,
            JobStatus::Failed { status, .. } => *status,
            JobStatus::Refused { .. } => EndStatus::Refused,
        }
    }

    /// The status word recorded in the receipt.
    pub fn word(&self) -> &'static str {
        self.end_status().word()
    }

    /// Why it did not succeed (`None` for a success).
    pub fn reason(&self) -> Option<&str> {
        match self {
            JobStatus::Succeeded => None,
            JobStatus::Failed { reason, .. } | JobStatus::Refused { reason } => Some(reason),
        }
    }
}

/// What [`Processor::run_job`] and [`Processor::exec`] return: the job ended with a receipt.
#[derive(Clone, Debug)]
pub struct JobReport {
    /// The job id (the receipt's `invocationId`).
    pub job_id: String,
    /// How it ended.
    pub status: JobStatus,
    /// Where the results are (`OUT/results` for jobs, the `--out` folder for exec).
    pub results_dir: PathBuf,
    /// Where the signed receipt is.
    pub receipt_path: PathBuf,
    /// Where the proof bundle is: the receipt, its log entry, inclusion proof and signed
    /// checkpoint (docs/proof-bundle.md).
    pub bundle_path: PathBuf,
    /// The receipt's index in the transparency log.
    pub log_index: u64,
    /// Where the execution log is (`None` when nothing ran).
    pub log_path: Option<PathBuf>,
    /// The signed receipt.
    pub receipt: Envelope,
    /// Resource usage, when the job ran.
    pub outcome: Option<Outcome>,
}

/// How [`Processor::run_job`] runs one job; the default is what `poex run` does.
#[derive(Clone, Debug, Default)]
pub struct JobOptions {
    /// The job id (the receipt's `invocationId` and the output folder's name), checked with
    /// [`check_job_id`]; default 16 random bytes in hex. A node passes its queue's id.
    pub job_id: Option<String>,
    /// The output folder: created if missing, refused if not empty; default
    /// `<jobs dir>/<job id>`.
    pub out: Option<PathBuf>,
    /// Cancelling this token stops the job. Before it runs (checked before and after the
    /// request is verified), it ends as [`Processor::end_unrun`] ends it, nothing run. While
    /// it runs, the sandbox is killed and the job ends with a receipt of what it did until
    /// then (its results, its log). The status is `cancelled` after [`CancelToken::cancel`],
    /// `interrupted` after [`CancelToken::interrupt`].
    pub cancel: Option<CancelToken>,
}

/// The longest job id [`check_job_id`] accepts.
pub const MAX_JOB_ID_LEN: usize = 64;

/// Checks a job id chosen by the caller: 1 to [`MAX_JOB_ID_LEN`] characters of `a-z`, `0-9`
/// and `-`, not starting with `-`. It becomes a folder name (and a URL path segment on a
/// node), so nothing that could climb out of a folder, hide, or read as an option passes.
pub fn check_job_id(id: &str) -> Result<(), PipelineError> {
    let invalid = |reason: &str| {
        Err(PipelineError::InvalidJobId {
            id: id.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if id.is_empty() || id.len() > MAX_JOB_ID_LEN {
        return invalid("it must be 1 to 64 characters long");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return invalid("only lowercase letters, digits and '-' are allowed");
    }
    if id.starts_with('-') {
        return invalid("it must start with a letter or a digit");
    }
    Ok(())
}

/// Errors that prevent a job from ending with a receipt at all (the home is unusable, the
/// output folder is taken). Refusals and failed runs are not errors: they end in a
/// [`JobReport`] with a failure receipt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The output folder exists and is not empty: poex never writes over files.
    #[error(
        "output folder {0} exists and is not empty; choose a new --out folder (poex never overwrites results)"
    )]
    OutputNotEmpty(PathBuf),
    /// A file operation on the home or the output folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The sandbox could not be started at all.
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    /// A material given to `exec` could not be hashed.
    #[error("hashing {path}: {message}")]
    Material {
        /// The material.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The object store could not give what a verified job needs.
    #[error("store: {0}")]
    Store(#[from] ObjectError),
    /// A registry record has no BLAKE3 digest, so its object cannot be found.
    #[error(
        "registry record {kind} {name:?} has no blake3 digest; the record is corrupt (re-publish \
         the asset under a new name)"
    )]
    NoObject {
        /// The record's kind.
        kind: AssetKind,
        /// The record's name.
        name: String,
    },
    /// A dataset sealed at rest reached the sandbox without being opened (a bug of the
    /// pipeline, not of the input).
    #[error("store: dataset {0} is sealed at rest but was not opened")]
    NotOpened(String),
    /// The log could not be opened to take the job's record.
    #[error("log: {0}")]
    Log(#[from] LedgerError),
    /// The log is open read-only.
    #[error("log: the log is open read-only; a job needs it writable")]
    ReadOnlyLog,
    /// The receipt was written but could not be logged or proven.
    #[error(
        "the receipt is saved at {receipt} but is not in the log: {reason}; fix the log \
         (`poex audit validate` says what is wrong) and run `poex log add {receipt}`"
    )]
    NotLogged {
        /// Where the receipt is.
        receipt: PathBuf,
        /// Why logging failed.
        reason: String,
    },
    /// Signing the receipt failed.
    #[error("receipt: {0}")]
    Receipt(#[from] poex_core::receipt::ReceiptError),
    /// Encoding the receipt or the request it embeds as JSON failed.
    #[error("receipt: {0}")]
    Encode(#[from] serde_json::Error),
    /// The system's random source failed (job ids).
    #[error("job id: {0}")]
    Random(#[from] poex_core::keys::KeyError),
    /// [`Processor::end_unrun`] was given a status other than [`EndStatus::UNRUN`].
    #[error("a job that did not run ends interrupted, cancelled, expired or failed, not {0}")]
    UnrunStatus(EndStatus),
    /// [`Processor::end_unrun`] found the job's proof bundle: the job already ended with a
    /// logged receipt, which stays the job's record.
    #[error(
        "job {job_id} already ended: its proof bundle is at {bundle}; use that receipt instead of ending the job again"
    )]
    AlreadyEnded {
        /// The job.
        job_id: String,
        /// Its proof bundle.
        bundle: PathBuf,
    },
    /// A result or the log could not be sealed to the requester (the job's plaintext results
    /// were removed all the same: a sealed job keeps none).
    #[error("sealing {path} to the requester: {message}")]
    Seal {
        /// The file being sealed.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A job id given in [`JobOptions::job_id`] is not acceptable.
    #[error("invalid job id {id:?}: {reason}")]
    InvalidJobId {
        /// The id given.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PipelineError + '_ {
    move |source| PipelineError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A processor: a store, a signing key, where jobs go, and the limits it grants.
pub struct Processor<'a> {
    /// Objects and registry.
    pub store: &'a Store,
    /// The transparency log: audit events, receipts and their proof bundles go there.
    pub ledger: &'a dyn LedgerAccess,
    /// What executes the jobs: [`crate::runner::Bubblewrap`] for real ones.
    pub runner: &'a dyn crate::runner::Runner,
    /// The processor's key: signs every receipt.
    pub signer: &'a dyn Signer,
    /// Default parent of job output folders.
    pub jobs_dir: PathBuf,
    /// The most a job may get; a request may ask for less, never more.
    pub ceiling: Limits,
    /// The owner's data identity, which opens datasets kept sealed at rest
    /// ([`crate::at_rest`]); with `None` a job on such a dataset is refused.
    pub data_identity: Option<&'a poex_seal::Identity>,
    /// The log owner's key: when set, a sealed execution log also wraps its file key to it.
    /// With the `grants` feature of the `poex` command this is the owner's Umbral key
    /// (`HOME/keys/umbral.key`, `poex_grant::Public`, docs/grants.md), so the owner can later
    /// grant a validator the log by proxy re-encryption without ever holding it in plaintext.
    pub log_owner: Option<&'a (dyn poex_seal::Wrap + Send + Sync)>,
}

/// How the pipeline reaches the transparency log.
///
/// The pipeline asks for the log only for a moment: before a run, to check that it can be
/// written, and after it, for the one commit of the job's events, receipt and proof; it holds
/// none while the sandbox runs, so concurrent jobs share one log. An implementation either opens the log for each call, waiting for its
/// writer lock (the `poex` command's [`Home`](poex_home::Home)), or hands out clones of one
/// writer it keeps open (a node; `Arc<Ledger>` does this): a [`Ledger`] is `Sync`, and
/// concurrent appends are committed together.
pub trait LedgerAccess: Sync {
    /// The log, open for writing.
    fn open(&self) -> Result<Arc<Ledger>, LedgerError>;
}

/// The `poex` command's home: opens the log afresh for each write, waiting while another
/// process writes it.
impl LedgerAccess for poex_home::Home {
    fn open(&self) -> Result<Arc<Ledger>, LedgerError> {
        self.ledger().map(Arc::new)
    }
}

/// One writer shared by every job: each call returns a clone of it.
impl LedgerAccess for Arc<Ledger> {
    fn open(&self) -> Result<Arc<Ledger>, LedgerError> {
        Ok(Arc::clone(self))
    }
}

/// An ad-hoc command for [`Processor::exec`].
#[derive(Clone, Debug)]
pub struct ExecRequest {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Input files or folders with their role (`dataset`, `algorithm`): hashed, then mounted
    /// read-only at their own absolute paths.
    pub materials: Vec<(PathBuf, &'static str)>,
    /// Output folder (created; must be empty), mounted writable at its own absolute path.
    pub out: PathBuf,
    /// Where to write the receipt (default `OUT.receipt.json` beside the folder).
    pub receipt: Option<PathBuf>,
    /// Working directory inside the sandbox (an absolute path; created empty if no mount
    /// provides it).
    pub workdir: PathBuf,
    /// Limits asked for (capped by the processor's ceiling).
    pub limits: RequestedLimits,
}

impl Processor<'_> {
    /// Whether the log can take the job's record now: a job does not run while it cannot.
    fn log_writable(&self) -> Result<(), PipelineError> {
        let ledger = self.ledger.open().map_err(PipelineError::Log)?;
        if ledger.is_writable() {
            Ok(())
        } else {
            Err(PipelineError::ReadOnlyLog)
        }
    }

    /// Logs the job's last events and its receipt, and writes the receipt's proof bundle.
    /// Returns the receipt's log index.
    fn record(
        &self,
        events: &[Event],
        receipt: &Envelope,
        receipt_path: &Path,
        bundle_path: &Path,
    ) -> Result<u64, PipelineError> {
        let not_logged = |reason: String| PipelineError::NotLogged {
            receipt: receipt_path.to_owned(),
            reason,
        };
        let ledger = self.ledger.open().map_err(|e| not_logged(e.to_string()))?;
        // One commit for the events and the receipt: a crash leaves both or neither.
        let (bundle, index) = ledger
            .record_job(events, receipt)
            .map_err(|e| not_logged(e.to_string()))?;
        write_atomic(bundle_path, bundle.to_json().as_bytes())?;
        Ok(index.0)
    }

    fn event(&self, op: Operation, actor: &str, object: &str, job: &str) -> Event {
        Event {
            time: now(),
            actor: actor.to_owned(),
            operation: op,
            object: object.to_owned(),
            digest: None,
            job: Some(job.to_owned()),
            detail: None,
        }
    }

    /// Verifies, runs and records one requester-signed job.
    pub fn run_job(
        &self,
        envelope: Envelope,
        options: JobOptions,
        reporter: &dyn Reporter,
    ) -> Result<JobReport, PipelineError> {
        let JobOptions {
            job_id,
            out,
            cancel,
        } = options;
        let job_id = match job_id {
            Some(id) => {
                check_job_id(&id)?;
                id
            }
            None => random_hex16().map_err(PipelineError::from)?,
        };
        let out = out.unwrap_or_else(|| self.jobs_dir.join(&job_id));
        prepare_out(&out)?;
        write_atomic(&out.join("request.json"), &to_json(&envelope)?)?;
        let processor_id = self.signer.public_key().key_id().to_string();
        if let Some((word, reason)) = stopped_before_run(cancel.as_ref()) {
            return self.end_unrun(&job_id, &envelope, &out, word, reason);
        }

        reporter.stage("checking the request signature and the registry");
        let checked = match self.check_request(envelope.clone(), reporter) {
            Ok(c) => c,
            Err(refusal) => {
                let requester = refusal
                    .requester
                    .clone()
                    .unwrap_or_else(|| "unknown".into());
                let mut ev = self.event(Operation::Refuse, &requester, &refusal.object, &job_id);
                ev.digest = refusal.actual;
                ev.detail = Some(refusal.reason.clone());
                let mut ext = Map::new();
                ext.insert(
                    "jobRequest".into(),
                    serde_json::to_value(&envelope).unwrap_or(Value::Null),
                );
                return self.finish_refused(
                    &job_id,
                    &out,
                    ext,
                    refusal.resolved,
                    &envelope.payload,
                    refusal.reason,
                    ev,
                );
            }
        };

        if let Some((word, reason)) = stopped_before_run(cancel.as_ref()) {
            // Verified but nothing read yet: the job did not run.
            return self.end_unrun(&job_id, &envelope, &out, word, reason);
        }

        // Record every read before the job can read anything.
        let mut reads = vec![{
            let mut e = self.event(
                Operation::ReadAlgorithm,
                &checked.requester,
                checked.algorithm.name.as_str(),
                &job_id,
            );
            e.digest = checked.algorithm.digests.sha256().copied();
            e
        }];
        for ds in &checked.datasets {
            let mut e = self.event(
                Operation::ReadDataset,
                &checked.requester,
                ds.name.as_str(),
                &job_id,
            );
            e.digest = ds.digests.sha256().copied();
            reads.push(e);
        }
        reads.push(self.event(
            Operation::RunStarted,
            &processor_id,
            checked.algorithm.name.as_str(),
            &job_id,
        ));
        // Nothing runs while the log cannot be written. The reads are logged in the commit
        // that logs the receipt (Processor::record): the log never holds a job's start
        // without its end.
        reporter.stage("checking that the log can be written");
        self.log_writable()?;

        // From here the job is started: whatever happens next, it ends with a signed
        // receipt, a failure receipt if it cannot run.
        let mut ext = Map::new();
        ext.insert(
            "jobRequest".into(),
            serde_json::to_value(&checked.request.envelope).map_err(PipelineError::from)?,
        );
        let started = now();
        let unstarted = |checked: Checked, reason: String| {
            self.finish_unstarted(
                Unstarted {
                    build_type: BUILD_TYPE_JOB,
                    reads: reads.clone(),
                    job_id: &job_id,
                    receipt: out.join("receipt.json"),
                    bundle: out.join(BUNDLE_NAME),
                    results: out.join("results"),
                    ext: ext.clone(),
                    resolved: checked.resolved,
                    request_bytes: &checked.request.envelope.payload,
                    started: started.clone(),
                },
                reason,
            )
        };
        reporter.stage("preparing the run (mounts, limits)");
        let spec = match self.prepare_run(&checked, &job_id, &out, cancel) {
            Ok(spec) => spec,
            Err(e) => return unstarted(checked, format!("the job could not be prepared: {e}")),
        };
        let mut checked = checked;
        // Dropped (removing every plaintext in it) as soon as the run ends, or with `checked`
        // on any return before.
        let plain = checked.plain.take();
        reporter.stage("running in the sandbox");
        let owner = match fs::metadata(&out) {
            Ok(m) => m,
            Err(e) => return unstarted(checked, format!("{}: {e}", out.display())),
        };
        let outcome = self.runner.run(&spec);
        reporter.stage("the sandbox ended: checking inputs and results");
        drop(plain);
        let output_problem = restore_owner(&spec.output, &owner).err();
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => return unstarted(checked, format!("the sandbox could not run the job: {e}")),
        };
        let finished = now();
        let interrupted = spec
            .cancel
            .as_ref()
            .is_some_and(CancelToken::is_interrupted);
        let status = status_of(&outcome, interrupted);

        let paths = FinishPaths {
            reads,
            results: spec.output.clone(),
            receipt: out.join("receipt.json"),
            bundle: out.join(BUNDLE_NAME),
            log: out.join(LOG_NAME),
            seal_to: checked.seal_to,
        };
        self.finish(
            paths,
            BUILD_TYPE_JOB,
            &job_id,
            ext,
            checked.resolved,
            &checked.request.envelope.payload,
            started,
            finished,
            outcome,
            status,
            output_problem,
            reporter,
        )
    }

    /// The sandbox spec of a verified job: the algorithm at `/algo`, each dataset at
    /// `/data/<name>` (a dataset sealed at rest from its opened plaintext in `checked.plain`,
    /// which must live until the run ends), results at `/out` (the new folder `OUT/results`).
    fn prepare_run(
        &self,
        checked: &Checked,
        job_id: &str,
        out: &Path,
        cancel: Option<CancelToken>,
    ) -> Result<Spec, PipelineError> {
        let alg = &checked.algorithm;
        let alg_path = self.store.objects().path_of(blake3_of(alg)?)?;
        let (alg_mount, workdir) = match alg.layout {
            Layout::Directory => (PathBuf::from("/algo"), PathBuf::from("/algo")),
            _ => (
                PathBuf::from(format!("/algo/{}", alg.name)),
                PathBuf::from("/algo"),
            ),
        };
        let mut read_only = vec![Mount {
            host: alg_path,
            sandbox: alg_mount,
        }];
        let mut data_paths = Vec::new();
        for ds in &checked.datasets {
            // A dataset sealed at rest is mounted from the plaintext opened and checked in
            // this job's private folder, never from the store.
            let host = match (&ds.sealed, &checked.plain) {
                (Some(_), Some(plain)) => plain.path_of(&ds.name),
                (Some(_), None) => {
                    return Err(PipelineError::NotOpened(ds.name.as_str().to_owned()));
                }
                (None, _) => self.store.objects().path_of(blake3_of(ds)?)?,
            };
            let at = format!("/data/{}", ds.name);
            data_paths.push(at.clone());
            read_only.push(Mount {
                host,
                sandbox: PathBuf::from(at),
            });
        }
        let mut argv = alg.entrypoint.clone().unwrap_or_default();
        argv.extend(checked.request.request.arguments.iter().cloned());
        let results_dir = out.join("results");
        fs::create_dir(&results_dir).map_err(io_err(&results_dir))?;
        let spec = Spec {
            argv,
            read_only,
            output: results_dir,
            output_at: PathBuf::from("/out"),
            workdir,
            env: vec![
                ("POEX_JOB_ID".into(), job_id.to_owned()),
                ("POEX_OUT".into(), "/out".into()),
                ("POEX_DATA".into(), "/data".into()),
                ("POEX_DATASETS".into(), data_paths.join(":")),
            ],
            limits: apply_limits(&self.ceiling, &checked.request.request.limits),
            cancel,
        };
        Ok(spec)
    }

    /// Runs an ad-hoc command the way `in-toto-run` does, in the sandbox, with a receipt.
    ///
    /// What the receipt attests is what the job read: every entry of each material is stamped
    /// (inode, size, modification and change time) before it is hashed, and stamped again
    /// after the run ([`crate::inputs`]). If anything changed in between — even bytes written
    /// and put back — the job ends `input-changed` and its results are not attested.
    pub fn exec(
        &self,
        request: &ExecRequest,
        requester: &dyn Signer,
        reporter: &dyn Reporter,
    ) -> Result<JobReport, PipelineError> {
        let job_id = random_hex16().map_err(PipelineError::from)?;
        let out = absolute(&request.out)?;
        prepare_out(&out)?;
        let requester_id = requester.public_key().key_id().to_string();

        let mut stamps = Vec::new();
        let mut resolved = Vec::new();
        let mut read_only = Vec::new();
        let mut reads = Vec::new();
        for (material, role) in &request.materials {
            let path = fs::canonicalize(material).map_err(|e| PipelineError::Material {
                path: material.clone(),
                message: e.to_string(),
            })?;
            // Stamped before it is hashed: a change from here to the end of the run shows.
            let before = crate::inputs::Stamps::of(&path).map_err(|e| PipelineError::Material {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let tree = hash_with_progress(&path, &[Algorithm::Sha256], reporter)?;
            stamps.push((path.clone(), before));
            let name = path.to_string_lossy().into_owned();
            let mut rd = ResourceDescriptor::new(&name, &tree.digests).annotate("role", *role);
            if tree.kind == Layout::Directory {
                rd = rd
                    .annotate("layout", "directory")
                    .annotate("files", tree.files.len());
            }
            resolved.push(rd);
            let op = if *role == "algorithm" {
                Operation::ReadAlgorithm
            } else {
                Operation::ReadDataset
            };
            let mut ev = self.event(op, &requester_id, &name, &job_id);
            ev.digest = tree.digests.sha256().copied();
            reads.push(ev);
            read_only.push(Mount {
                host: path.clone(),
                sandbox: path,
            });
        }
        // Logged with the receipt, in one commit (Processor::record).
        reporter.stage("checking that the log can be written");
        self.log_writable()?;

        let spec = Spec {
            argv: request.argv.clone(),
            read_only,
            output: out.clone(),
            output_at: out.clone(),
            workdir: request.workdir.clone(),
            env: vec![("POEX_JOB_ID".into(), job_id.clone())],
            limits: apply_limits(&self.ceiling, &request.limits),
            cancel: None,
        };
        let mut ext = Map::new();
        ext.insert("command".into(), json!(request.argv));
        ext.insert("workingDirectory".into(), json!(request.workdir));
        ext.insert(
            "requester".into(),
            json!({
                "keyId": requester_id,
                "publicKey": requester.public_key().to_base64(),
            }),
        );
        let receipt_path = request
            .receipt
            .clone()
            .unwrap_or_else(|| sibling(&out, ".receipt.json"));
        let bundle_path = sibling(&out, ".bundle.json");
        let argv_json = serde_json::to_vec(&request.argv).unwrap_or_default();
        reporter.stage("running in the sandbox");
        let started = now();
        let owner = fs::metadata(&out).map_err(io_err(&out))?;
        let outcome = self.runner.run(&spec);
        reporter.stage("the sandbox ended: checking inputs and results");
        let changed = stamps.iter().find_map(|(path, before)| {
            let what = match crate::inputs::Stamps::of(path) {
                Ok(after) => before.changed(&after)?,
                Err(e) => format!("cannot be read again ({e})"),
            };
            Some(format!("input {}: {what}", path.display()))
        });
        let output_problem = restore_owner(&spec.output, &owner).err();
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                return self.finish_unstarted(
                    Unstarted {
                        build_type: BUILD_TYPE_EXEC,
                        reads,
                        job_id: &job_id,
                        receipt: receipt_path,
                        bundle: bundle_path,
                        results: out,
                        ext,
                        resolved,
                        request_bytes: &argv_json,
                        started,
                    },
                    format!("the sandbox could not run the command: {e}"),
                );
            }
        };
        let finished = now();
        let status = match changed {
            // The job may have read other bytes than were hashed: no success is signed.
            Some(what) => JobStatus::Failed {
                status: EndStatus::InputChanged,
                reason: format!(
                    "{what} between the moment it was hashed and the end of the run, so the job may not have read what this receipt records"
                ),
            },
            None => status_of(&outcome, false),
        };
        self.finish(
            FinishPaths {
                reads,
                results: out.clone(),
                receipt: receipt_path,
                bundle: bundle_path,
                log: sibling(&out, ".log"),
                seal_to: None,
            },
            BUILD_TYPE_EXEC,
            &job_id,
            ext,
            resolved,
            &argv_json,
            started,
            finished,
            outcome,
            status,
            output_problem,
            reporter,
        )
    }
}

impl Processor<'_> {
    /// Ends a job that did not run to its end with a signed failure receipt: one cancelled or
    /// expired while it waited in a queue, or one whose run was cut off (`interrupted`: a node
    /// found it running when it started, so the process that ran it died).
    ///
    /// `status` is one of [`EndStatus::UNRUN`]; `reason` says why, in a sentence. The receipt
    /// embeds `request` (not checked here: a job may be cancelled before its request is
    /// verified) and attests no result: its subject is the request's digest, it has no
    /// `startedOn`, no resolved inputs and no execution log. Its outcome byproduct carries
    /// `status`, `reason`, and, when `out` holds files of a cut-off run (`results/`,
    /// `execution.log`), their names in `partialFiles` with a note that they are not attested.
    ///
    /// `out` is the job folder: created if missing; files already in it are left alone (a
    /// missing `request.json` is written). `receipt.json` and [`BUNDLE_NAME`] are written
    /// atomically. One audit event is logged with the receipt: `cancel` for `cancelled`,
    /// `run-finished` (with `reason` as detail) otherwise.
    ///
    /// # Errors
    ///
    /// [`PipelineError::InvalidJobId`], [`PipelineError::UnrunStatus`] for a bad argument;
    /// [`PipelineError::AlreadyEnded`] if `out` already has a proof bundle (the job ended
    /// and its receipt is logged; that receipt stays the job's record); file, signing and log
    /// errors as for [`run_job`](Self::run_job).
    pub fn end_unrun(
        &self,
        job_id: &str,
        request: &Envelope,
        out: &Path,
        status: EndStatus,
        reason: &str,
    ) -> Result<JobReport, PipelineError> {
        check_job_id(job_id)?;
        if !status.may_be_unrun() {
            return Err(PipelineError::UnrunStatus(status));
        }
        let bundle_path = out.join(BUNDLE_NAME);
        if bundle_path.exists() {
            return Err(PipelineError::AlreadyEnded {
                job_id: job_id.to_owned(),
                bundle: bundle_path,
            });
        }
        fs::create_dir_all(out).map_err(io_err(out))?;
        let request_path = out.join("request.json");
        if !request_path.exists() {
            write_atomic(&request_path, &to_json(request)?)?;
        }

        let mut outcome = ReceiptOutcome::new(status, reason);
        let partial = partial_files(out)?;
        if !partial.is_empty() {
            outcome.partial_files = partial;
            // A cut-off run of a job sealed to its requester may have left plaintext (a
            // result not sealed yet): none stays on the processor.
            let sealed_job = serde_json::from_slice::<JobRequest>(&request.payload)
                .is_ok_and(|r| r.result_recipient.is_some());
            let note = if sealed_job {
                outdir_remove(&out.join("results"))?;
                let log = out.join(LOG_NAME);
                match fs::remove_file(&log) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&log)(e)),
                    _ => {}
                }
                "these files were left in the job folder by a run that did not end; the request asks for sealed results, so they were removed, unattested"
            } else {
                "these files in the job folder are left from a run that did not end; this receipt does not attest them"
            };
            outcome.note = Some(note.into());
        }
        let mut ext = Map::new();
        ext.insert(
            "jobRequest".into(),
            serde_json::to_value(request).map_err(PipelineError::from)?,
        );
        let facts = ReceiptFacts {
            build_type: BUILD_TYPE_JOB,
            invocation_id: job_id.to_owned(),
            external_parameters: ext,
            internal_parameters: Map::new(),
            resolved_dependencies: Vec::new(),
            started_on: None,
            finished_on: now(),
            results: Vec::new(),
            byproducts: vec![outcome.to_descriptor()],
            fallback_subject: request_subject(&request.payload),
        };
        let receipt = facts.sign(self.signer).map_err(PipelineError::from)?;
        let receipt_path = out.join("receipt.json");
        write_atomic(&receipt_path, &to_json(&receipt)?)?;

        let processor_id = self.signer.public_key().key_id().to_string();
        let op = if status == EndStatus::Cancelled {
            Operation::Cancel
        } else {
            Operation::RunFinished
        };
        let mut event = self.event(op, &processor_id, status.word(), job_id);
        event.detail = Some(reason.to_owned());
        let log_index = self.record(&[event], &receipt, &receipt_path, &bundle_path)?;
        Ok(JobReport {
            job_id: job_id.to_owned(),
            status: JobStatus::Failed {
                status,
                reason: reason.to_owned(),
            },
            results_dir: out.join("results"),
            receipt_path,
            bundle_path,
            log_index,
            log_path: None,
            receipt,
            outcome: None,
        })
    }
}

/// How a job whose token was set before it ran ends: the status word for
/// [`Processor::end_unrun`] and the reason.
fn stopped_before_run(cancel: Option<&CancelToken>) -> Option<(EndStatus, &'static str)> {
    let token = cancel.filter(|t| t.is_cancelled())?;
    Some(if token.is_interrupted() {
        (
            EndStatus::Interrupted,
            "the processor stopped before the job started; nothing was run",
        )
    } else {
        (
            EndStatus::Cancelled,
            "cancelled before it started; nothing was run",
        )
    })
}

/// What a cut-off run may have left in a job folder: `results/` if it holds anything, and
/// `execution.log`. (A `receipt.json` without a bundle is replaced, not reported: its job
/// never got a proof.)
fn partial_files(out: &Path) -> Result<Vec<String>, PipelineError> {
    let mut found = Vec::new();
    let results = out.join("results");
    match fs::read_dir(&results) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                found.push("results/".to_owned());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&results)(e)),
    }
    if fs::symlink_metadata(out.join(LOG_NAME)).is_ok() {
        found.push(LOG_NAME.to_owned());
    }
    Ok(found)
}

/// Where a finished job's files go, and whom they are sealed to.
struct FinishPaths {
    /// The job's start events (its input reads, the run's start): logged in the one commit
    /// that logs its receipt, before the events of its end.
    reads: Vec<Event>,
    results: PathBuf,
    receipt: PathBuf,
    bundle: PathBuf,
    log: PathBuf,
    seal_to: Option<Recipient>,
}

/// The proof bundle's file name in a job folder.
pub const BUNDLE_NAME: &str = "bundle.json";

/// A job that passed every check.
struct Checked {
    request: SignedRequest,
    /// The request's `resultRecipient`, parsed.
    seal_to: Option<Recipient>,
    requester: String,
    algorithm: Record,
    datasets: Vec<Record>,
    resolved: Vec<ResourceDescriptor>,
    /// The plaintext of the datasets sealed at rest, opened and checked for this job only.
    plain: Option<at_rest::PlainDir>,
}

/// Why a job was refused, with the evidence for the audit event.
struct Refusal {
    requester: Option<String>,
    object: String,
    actual: Option<Digest>,
    reason: String,
    resolved: Vec<ResourceDescriptor>,
}

impl Refusal {
    fn new(requester: Option<&str>, object: &str, reason: String) -> Box<Self> {
        Box::new(Refusal {
            requester: requester.map(str::to_owned),
            object: object.to_owned(),
            actual: None,
            reason,
            resolved: Vec::new(),
        })
    }
}

impl Processor<'_> {
    fn lookup(&self, kind: AssetKind, name: &str, requester: &str) -> Result<Record, Box<Refusal>> {
        let parsed = Name::new(name)
            .map_err(|e| Refusal::new(Some(requester), name, format!("{kind} name: {e}")))?;
        match self.store.registry().get(kind, &parsed) {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(Refusal::new(
                Some(requester),
                name,
                format!("{kind} {name:?} is not in the registry (see 'poex show {name}')"),
            )),
            Err(e) => Err(Refusal::new(Some(requester), name, e.to_string())),
        }
    }

    /// Every check of step 1 and 2; on failure the refusal names the asset and digests.
    fn check_request(
        &self,
        envelope: Envelope,
        reporter: &dyn Reporter,
    ) -> Result<Checked, Box<Refusal>> {
        let request = SignedRequest::open(envelope)
            .map_err(|e| Refusal::new(None, "job-request", e.to_string()))?;
        let req = &request.request;
        let requester = req.requester.key_id.to_string();
        // Checked first: a job whose results could not be sealed as asked must not run.
        let seal_to = match &req.result_recipient {
            None => None,
            Some(text) => Some(text.parse::<Recipient>().map_err(|e| {
                Refusal::new(
                    Some(&requester),
                    "job-request",
                    format!("resultRecipient: {e}; nothing was run"),
                )
            })?),
        };
        let algorithm = self.lookup(AssetKind::Algorithm, &req.algorithm.name, &requester)?;
        pinned(&algorithm, &req.algorithm.digest, &requester)?;
        let mut datasets = Vec::new();
        for wanted in &req.datasets {
            let ds = self.lookup(AssetKind::Dataset, &wanted.name, &requester)?;
            pinned(&ds, &wanted.digest, &requester)?;
            let alg_sha = algorithm.digests.sha256().copied();
            if !alg_sha.is_some_and(|d| ds.allows_algorithm(&d)) {
                return Err(Refusal::new(
                    Some(&requester),
                    &wanted.name,
                    format!(
                        "dataset {:?} does not allow algorithm {:?} ({}); its owner must publish a dataset whose policy lists it (--allow)",
                        wanted.name,
                        algorithm.name.as_str(),
                        algorithm
                            .digests
                            .sha256()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                ));
            }
            if !ds.allows_requester(&requester) {
                return Err(Refusal::new(
                    Some(&requester),
                    &wanted.name,
                    format!(
                        "dataset {:?} does not allow requester {requester}; its owner must list the key with --allow-requester",
                        wanted.name
                    ),
                ));
            }
            datasets.push(ds);
        }
        // Re-hash the stored bytes exactly as the sandbox will mount them.
        let mut resolved = Vec::new();
        let mut plain = None;
        for (record, role) in std::iter::once((&algorithm, "algorithm"))
            .chain(datasets.iter().map(|d| (d, "dataset")))
        {
            let name = record.name.as_str();
            if let Some(sealed) = &record.sealed {
                // Kept sealed at rest: decrypt it into this job's private folder, checking
                // the plaintext's digests as it is written; that is what gets mounted.
                let dir = match plain.take() {
                    Some(dir) => dir,
                    None => {
                        // What a process that died mid-job left is removed first.
                        at_rest::remove_leftovers(&self.jobs_dir);
                        let need = datasets
                            .iter()
                            .filter(|d| d.sealed.is_some())
                            .map(|d| d.size)
                            .sum();
                        match at_rest::PlainDir::create(&self.jobs_dir, need) {
                            Ok(dir) => dir,
                            Err(e) => {
                                let mut r = Refusal::new(
                                    Some(&requester),
                                    name,
                                    format!(
                                        "{role} {name:?} is sealed at rest, and no private folder could be made for its plaintext: {e} — nothing was run"
                                    ),
                                );
                                r.resolved = resolved;
                                return Err(r);
                            }
                        }
                    }
                };
                let dir = plain.insert(dir);
                reporter.begin_bytes(&format!("opening sealed {role} {name}"), record.size);
                let opened = at_rest::open_into(
                    self.store.objects(),
                    record,
                    self.data_identity,
                    dir,
                    &|n| reporter.advance(n),
                );
                reporter.end_bytes();
                if let Err(e) = opened {
                    let mut r = Refusal::new(
                        Some(&requester),
                        name,
                        format!("{role} {name:?}: {e} — nothing was run"),
                    );
                    r.actual = e.actual();
                    r.resolved = resolved;
                    return Err(r);
                }
                resolved.push(
                    descriptor(record, role).annotate("sealedAtRest", at_rest::annotation(sealed)),
                );
                continue;
            }
            reporter.begin_bytes(&format!("verifying {role} {name}"), record.size);
            let expected = *blake3_of(record)
                .map_err(|reason| Refusal::new(Some(&requester), name, reason.to_string()))?;
            let verified = self
                .store
                .objects()
                .verify(&expected, &|n| reporter.advance(n));
            reporter.end_bytes();
            let actual = match verified {
                Ok(tree) => tree.digests.blake3().copied(),
                Err(ObjectError::Tampered { actual, .. }) => Some(actual),
                Err(e) => {
                    let mut r = Refusal::new(
                        Some(&requester),
                        name,
                        format!("{role} {name:?}: stored bytes cannot be verified: {e}"),
                    );
                    r.resolved = resolved;
                    return Err(r);
                }
            };
            if actual != Some(expected) {
                let actual_text = actual
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "none".into());
                let mut r = Refusal::new(
                    Some(&requester),
                    name,
                    format!(
                        "{role} {name:?} does not match the registry: expected {expected}, found {actual_text}; the stored copy was modified — nothing was run"
                    ),
                );
                r.actual = actual;
                r.resolved = resolved;
                return Err(r);
            }
            resolved.push(descriptor(record, role));
        }
        Ok(Checked {
            request,
            seal_to,
            requester,
            algorithm,
            datasets,
            resolved,
            plain,
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    fn finish_refused(
        &self,
        job_id: &str,
        out: &Path,
        ext: Map<String, Value>,
        resolved: Vec<ResourceDescriptor>,
        request_bytes: &[u8],
        reason: String,
        event: Event,
    ) -> Result<JobReport, PipelineError> {
        let outcome = ReceiptOutcome::new(EndStatus::Refused, reason.clone());
        let facts = ReceiptFacts {
            build_type: BUILD_TYPE_JOB,
            invocation_id: job_id.to_owned(),
            external_parameters: ext,
            internal_parameters: Map::new(),
            resolved_dependencies: resolved,
            started_on: None,
            finished_on: now(),
            results: Vec::new(),
            byproducts: vec![outcome.to_descriptor()],
            fallback_subject: request_subject(request_bytes),
        };
        let receipt = facts.sign(self.signer).map_err(PipelineError::from)?;
        let receipt_path = out.join("receipt.json");
        write_atomic(&receipt_path, &to_json(&receipt)?)?;
        let bundle_path = out.join(BUNDLE_NAME);
        let log_index = self.record(&[event], &receipt, &receipt_path, &bundle_path)?;
        Ok(JobReport {
            job_id: job_id.to_owned(),
            status: JobStatus::Refused { reason },
            results_dir: out.join("results"),
            receipt_path,
            bundle_path,
            log_index,
            log_path: None,
            receipt,
            outcome: None,
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per job kind; a struct would only rename them"
    )]
    fn finish(
        &self,
        mut paths: FinishPaths,
        build_type: &'static str,
        job_id: &str,
        ext: Map<String, Value>,
        resolved: Vec<ResourceDescriptor>,
        request_bytes: &[u8],
        started: String,
        finished: String,
        outcome: Outcome,
        status: JobStatus,
        output_problem: Option<PipelineError>,
        reporter: &dyn Reporter,
    ) -> Result<JobReport, PipelineError> {
        let processor_id = self.signer.public_key().key_id().to_string();
        // With a recipient the log goes from memory straight into its sealed file: its
        // plaintext never reaches the disk.
        let (log_path, log_sealed) = match &paths.seal_to {
            None => {
                write_atomic(&paths.log, &outcome.log)?;
                (paths.log.clone(), None)
            }
            Some(recipient) => {
                let sealed_path = with_suffix(&paths.log, SEALED_SUFFIX);
                let mut to: Vec<&dyn poex_seal::Wrap> = vec![recipient];
                if let Some(owner) = self.log_owner {
                    to.push(owner);
                }
                let facts = seal_atomic(&to, &outcome.log[..], &sealed_path)?;
                (sealed_path, Some(facts))
            }
        };
        let log_digests = DigestSet::of([
            Algorithm::Sha256.hash(&outcome.log),
            Algorithm::Blake3.hash(&outcome.log),
        ]);

        // The job's output is untrusted. What cannot be results — over the output limits
        // (never hashed: 20 sparse 1000 MiB files would cost a minute of hashing zeros), not
        // handed back, or holding a link, a fifo, an unreadable folder or a bad name — is not
        // attested: it moves aside to RESULTS.unattested (a job sealed to its requester keeps
        // no plaintext: it is removed instead), so the results folder holds exactly what the
        // receipt attests.
        let mut status = status;
        let mut results = Vec::new();
        let mut writes = std::mem::take(&mut paths.reads);
        let mut unattested: Option<String> = None;
        let refused = if outcome.termination == Termination::OutputLimitExceeded {
            Some("the output is over its limits, so it was not hashed".to_owned())
        } else if status.end_status() == EndStatus::InputChanged {
            Some("the results are not attested".to_owned())
        } else if let Some(e) = output_problem {
            Some(format!("the output could not be handed back: {e}"))
        } else {
            reporter.stage("hashing results");
            match hash_with_progress(
                &paths.results,
                &[Algorithm::Sha256, Algorithm::Blake3],
                reporter,
            ) {
                Ok(tree) => {
                    let sealed = match &paths.seal_to {
                        None => Ok(vec![None; tree.files.len()]),
                        Some(recipient) => {
                            reporter.stage("sealing the results to the requester");
                            seal_results(recipient, &paths.results, &tree, reporter)
                                .map(|v| v.into_iter().map(Some).collect())
                        }
                    };
                    match sealed {
                        Ok(sealed) => {
                            for (f, sealed) in tree.files.iter().zip(sealed) {
                                let mut rd = ResourceDescriptor::new(&f.path, &f.digests);
                                let mut ev = self.event(
                                    Operation::WriteResult,
                                    &processor_id,
                                    &f.path,
                                    job_id,
                                );
                                ev.digest = f.digests.sha256().copied();
                                if let Some(facts) = sealed {
                                    let name = format!("{}{SEALED_SUFFIX}", f.path);
                                    ev.detail = Some(format!(
                                        "sealed to the requester as {name} ({})",
                                        facts.ciphertext_sha256
                                    ));
                                    rd = rd.annotate("sealed", sealed_annotation(&name, &facts));
                                }
                                results.push(rd);
                                writes.push(ev);
                            }
                            None
                        }
                        // seal_results removed every file: a sealed job keeps no plaintext.
                        Err(e) => {
                            status = JobStatus::Failed {
                                status: EndStatus::Failed,
                                reason: format!(
                                    "{e}; the results were removed, unattested, as the request asks for sealed results and keeps no plaintext on the processor"
                                ),
                            };
                            None
                        }
                    }
                }
                Err(e) => Some(format!("{e}; the results are not attested")),
            }
        };
        if let Some(mut reason) = refused {
            if paths.seal_to.is_some() {
                outdir_remove(&paths.results)?;
                reason.push_str(
                    "; they were removed, as the request asks for sealed results and keeps no plaintext on the processor",
                );
            } else {
                let aside = move_aside(
                    &paths.results,
                    &with_suffix(&paths.results, UNATTESTED_SUFFIX),
                )?;
                let name = aside
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                reason.push_str(&format!(
                    "; what the job left was moved to {name}, beside the results folder"
                ));
                unattested = Some(name);
            }
            status = match status {
                JobStatus::Failed {
                    status: word,
                    reason: first,
                } if word != EndStatus::Failed => JobStatus::Failed {
                    status: word,
                    reason: format!("{first}; {reason}"),
                },
                JobStatus::Failed { reason: first, .. } => JobStatus::Failed {
                    status: EndStatus::InvalidOutput,
                    reason: format!("{reason}; before that, {first}"),
                },
                _ => JobStatus::Failed {
                    status: EndStatus::InvalidOutput,
                    reason,
                },
            };
        }
        let mut done = self.event(Operation::RunFinished, &processor_id, status.word(), job_id);
        done.detail = Some(match &status {
            JobStatus::Failed { reason, .. } | JobStatus::Refused { reason } => reason.clone(),
            JobStatus::Succeeded => "succeeded".into(),
        });
        writes.push(done);

        let mut recorded = ReceiptOutcome::ran(
            status.end_status(),
            status.reason().map(str::to_owned),
            outcome.termination,
            outcome.usage.clone(),
            outcome.log_truncated,
        );
        recorded.unattested = unattested;
        let mut log_rd = ResourceDescriptor::new(LOG_NAME, &log_digests)
            .annotate("bytes", outcome.log.len())
            .annotate("truncated", outcome.log_truncated);
        if let Some(facts) = &log_sealed {
            let name = format!("{LOG_NAME}{SEALED_SUFFIX}");
            log_rd = log_rd.annotate("sealed", sealed_annotation(&name, facts));
        }
        log_rd.media_type = Some("text/plain".into());
        let mut internal = Map::new();
        internal.insert(
            "sandbox".into(),
            serde_json::to_value(&outcome.profile).map_err(PipelineError::from)?,
        );
        let facts = ReceiptFacts {
            build_type,
            invocation_id: job_id.to_owned(),
            external_parameters: ext,
            internal_parameters: internal,
            resolved_dependencies: resolved,
            started_on: Some(started),
            finished_on: finished,
            results,
            byproducts: vec![log_rd, recorded.to_descriptor()],
            fallback_subject: request_subject(request_bytes),
        };
        reporter.stage("signing the receipt");
        let receipt = facts.sign(self.signer).map_err(PipelineError::from)?;
        write_atomic(&paths.receipt, &to_json(&receipt)?)?;
        reporter.stage("recording the job in the log, writing its proof bundle");
        let log_index = self.record(&writes, &receipt, &paths.receipt, &paths.bundle)?;
        Ok(JobReport {
            job_id: job_id.to_owned(),
            status,
            results_dir: paths.results,
            receipt_path: paths.receipt,
            bundle_path: paths.bundle,
            log_index,
            log_path: Some(log_path),
            receipt,
            outcome: Some(outcome),
        })
    }
}

/// A job whose inputs were read on the record but whose run never started.
struct Unstarted<'a> {
    build_type: &'static str,
    /// Its start events, logged with its receipt.
    reads: Vec<Event>,
    job_id: &'a str,
    receipt: PathBuf,
    bundle: PathBuf,
    results: PathBuf,
    ext: Map<String, Value>,
    resolved: Vec<ResourceDescriptor>,
    request_bytes: &'a [u8],
    started: String,
}

impl Processor<'_> {
    /// Ends a job whose reads were logged but which could not be run (its sandbox could not
    /// be prepared or started) with a signed `failed` receipt: the inputs it resolved, no
    /// results, no execution log, the reason. Without it the audit trail would show a read
    /// and a start and never an end.
    fn finish_unstarted(
        &self,
        job: Unstarted<'_>,
        reason: String,
    ) -> Result<JobReport, PipelineError> {
        let mut outcome = ReceiptOutcome::new(EndStatus::Failed, reason.clone());
        outcome.note = Some("the job's program never ran".into());
        let facts = ReceiptFacts {
            build_type: job.build_type,
            invocation_id: job.job_id.to_owned(),
            external_parameters: job.ext,
            internal_parameters: Map::new(),
            resolved_dependencies: job.resolved,
            started_on: Some(job.started),
            finished_on: now(),
            results: Vec::new(),
            byproducts: vec![outcome.to_descriptor()],
            fallback_subject: request_subject(job.request_bytes),
        };
        let receipt = facts.sign(self.signer).map_err(PipelineError::from)?;
        write_atomic(&job.receipt, &to_json(&receipt)?)?;
        let processor_id = self.signer.public_key().key_id().to_string();
        let mut event = self.event(
            Operation::RunFinished,
            &processor_id,
            EndStatus::Failed.word(),
            job.job_id,
        );
        event.detail = Some(reason.clone());
        let mut events = job.reads;
        events.push(event);
        let log_index = self.record(&events, &receipt, &job.receipt, &job.bundle)?;
        Ok(JobReport {
            job_id: job.job_id.to_owned(),
            status: JobStatus::Failed {
                status: EndStatus::Failed,
                reason,
            },
            results_dir: job.results,
            receipt_path: job.receipt,
            bundle_path: job.bundle,
            log_index,
            log_path: None,
            receipt,
            outcome: None,
        })
    }
}

/// The status of a job that ran; `interrupted` when its cancel token was set by
/// [`CancelToken::interrupt`].
fn status_of(outcome: &Outcome, interrupted: bool) -> JobStatus {
    let failed = |status: EndStatus, reason: String| JobStatus::Failed { status, reason };
    match outcome.termination {
        Termination::Exited(0) => JobStatus::Succeeded,
        Termination::Exited(code) => failed(
            EndStatus::Failed,
            format!("the algorithm exited with status {code}"),
        ),
        Termination::Signaled(sig) => failed(
            EndStatus::Killed,
            format!("the sandbox was killed by signal {sig}"),
        ),
        Termination::WallTimeExceeded => failed(
            EndStatus::WallTimeExceeded,
            format!(
                "stopped at the wall-time limit of {:?}",
                outcome.profile.limits.wall_time
            ),
        ),
        Termination::CpuTimeExceeded => failed(
            EndStatus::CpuTimeExceeded,
            format!(
                "stopped at the CPU-time limit of {:?}",
                outcome.profile.limits.cpu_time
            ),
        ),
        Termination::OutputLimitExceeded => {
            let (u, l) = (&outcome.usage, &outcome.profile.limits);
            let what = if u.output_too_deep {
                format!(
                    "folders nested deeper than {} levels in the output",
                    sandbox::MAX_OUTPUT_DEPTH
                )
            } else if u.output_entries > l.output_files {
                format!(
                    "{} files and folders in the output, over the limit of {}",
                    u.output_entries, l.output_files
                )
            } else {
                format!(
                    "{} bytes of output, over the limit of {} (sizes as the files claim: sparse files count in full)",
                    u.output_bytes, l.output_bytes
                )
            };
            failed(
                EndStatus::OutputLimitExceeded,
                format!("stopped at an output limit: {what}"),
            )
        }
        Termination::MemoryLimitExceeded => failed(
            EndStatus::MemoryLimitExceeded,
            format!(
                "stopped at the memory limit of {} bytes (the job's processes, its /tmp and /dev/shm, and the kernel memory they used, together)",
                outcome.profile.limits.memory_bytes
            ),
        ),
        Termination::NotStarted => failed(
            EndStatus::Failed,
            format!(
                "the sandbox could not start the program: {}",
                String::from_utf8_lossy(&outcome.log)
                    .trim()
                    .strip_prefix("bwrap: ")
                    .unwrap_or("see the execution log")
            ),
        ),
        Termination::Cancelled if interrupted => failed(
            EndStatus::Interrupted,
            "the processor stopped while the job ran; the sandbox was killed".into(),
        ),
        Termination::Cancelled => failed(
            EndStatus::Cancelled,
            "cancelled while running; the sandbox was killed".into(),
        ),
        Termination::Trapped => failed(
            EndStatus::Failed,
            "the WebAssembly module trapped; the execution log ends with the engine's message"
                .into(),
        ),
    }
}

/// The request's digest as a subject, for receipts of jobs without results.
fn request_subject(request_bytes: &[u8]) -> ResourceDescriptor {
    ResourceDescriptor::new(
        "poex:job-request",
        &DigestSet::of([Algorithm::Sha256.hash(request_bytes)]),
    )
    .annotate(
        "note",
        "the job produced no attested result; this receipt is about its request",
    )
}

fn descriptor(record: &Record, role: &str) -> ResourceDescriptor {
    let mut rd = ResourceDescriptor::new(record.name.as_str(), &record.digests)
        .annotate("role", role)
        .annotate(
            "layout",
            serde_json::to_value(record.layout).unwrap_or(Value::Null),
        )
        .annotate("bytes", record.size)
        .annotate("files", record.file_count)
        .annotate("publisher", record.publisher.clone());
    rd.uri = Some(format!("poex:{}/{}", record.kind, record.name));
    rd
}

fn pinned(record: &Record, wanted: &Digest, requester: &str) -> Result<(), Box<Refusal>> {
    let have = record.digests.sha256().copied();
    if have == Some(*wanted) {
        return Ok(());
    }
    let mut r = Refusal::new(
        Some(requester),
        record.name.as_str(),
        format!(
            "{} {:?}: the request pins {wanted} but the registry has {}",
            record.kind,
            record.name.as_str(),
            have.map(|d| d.to_string())
                .unwrap_or_else(|| "no sha256".into())
        ),
    );
    r.actual = have;
    Err(r)
}

/// The BLAKE3 digest that names a record's object. `Registry::add` refuses records without
/// one, but a record file edited by hand could lack it: that refuses the job, never panics.
fn blake3_of(record: &Record) -> Result<&Digest, PipelineError> {
    record
        .digests
        .blake3()
        .ok_or_else(|| PipelineError::NoObject {
            kind: record.kind,
            name: record.name.as_str().to_owned(),
        })
}

fn apply_limits(ceiling: &Limits, asked: &RequestedLimits) -> Limits {
    let mut l = ceiling.clone();
    if let Some(s) = asked.cpu_seconds {
        l.cpu_time = l.cpu_time.min(Duration::from_secs(s));
    }
    if let Some(b) = asked.memory_bytes {
        l.memory_bytes = l.memory_bytes.min(b);
    }
    if let Some(s) = asked.wall_seconds {
        l.wall_time = l.wall_time.min(Duration::from_secs(s));
    }
    if let Some(p) = asked.processes {
        l.processes = l.processes.min(p);
    }
    if let Some(b) = asked.output_bytes {
        l.output_bytes = l.output_bytes.min(b);
    }
    if let Some(n) = asked.output_files {
        l.output_files = l.output_files.min(n);
    }
    l
}

fn hash_with_progress(
    path: &Path,
    algorithms: &[Algorithm],
    reporter: &dyn Reporter,
) -> Result<Tree, PipelineError> {
    let material = |e: &dyn std::fmt::Display| PipelineError::Material {
        path: path.to_owned(),
        message: e.to_string(),
    };
    if reporter.wants_bytes() {
        let total = total_size(path).map_err(|e| material(&e))?;
        reporter.begin_bytes(&format!("hashing {}", path.display()), total);
    }
    let tree = hash_tree(path, algorithms, &|n| reporter.advance(n));
    reporter.end_bytes();
    tree.map_err(|e| material(&e))
}

/// Hands the output folder back from the sandbox uid to the owner of `out` (a no-op unless
/// poex runs as root, when the folder was handed to the sandbox uid). The tree was written by
/// the job: the walk is descriptor-relative, changes links rather than following them, and
/// works at any path length.
fn restore_owner(dir: &Path, owner: &fs::Metadata) -> Result<(), PipelineError> {
    use std::os::unix::fs::MetadataExt as _;
    let now = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if now.uid() == owner.uid() && now.gid() == owner.gid() {
        return Ok(());
    }
    crate::outdir::chown_tree(dir, owner.uid(), owner.gid()).map_err(io_err(dir))
}

/// The suffix of the folder a job's unattested output moves to (`results.unattested`).
pub const UNATTESTED_SUFFIX: &str = ".unattested";

/// Moves the folder `from` (the job's output) to `to`, or `to-2`, `to-3`, ... if that is
/// taken, and leaves an empty `from` in its place.
fn move_aside(from: &Path, to: &Path) -> Result<PathBuf, PipelineError> {
    let mut target = to.to_owned();
    let mut n = 1;
    while fs::symlink_metadata(&target).is_ok() {
        n += 1;
        target = with_suffix(to, &format!("-{n}"));
    }
    fs::rename(from, &target).map_err(io_err(from))?;
    fs::create_dir(from).map_err(io_err(from))?;
    if let Some(parent) = from.parent() {
        fsync_dir(parent)?;
    }
    Ok(target)
}

/// Removes everything the job left in `dir` (kept, empty), whatever it is: see
/// [`crate::outdir::remove_contents`].
fn outdir_remove(dir: &Path) -> Result<(), PipelineError> {
    match crate::outdir::remove_contents(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(dir)(e)),
        Ok(()) => fsync_dir(dir),
    }
}

fn prepare_out(out: &Path) -> Result<(), PipelineError> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(PipelineError::OutputNotEmpty(out.to_owned()));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(io_err(out))
        }
        Err(e) => Err(io_err(out)(e)),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, PipelineError> {
    std::path::absolute(path).map_err(io_err(path))
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    dir.with_file_name(name)
}

fn to_json(envelope: &Envelope) -> Result<Vec<u8>, PipelineError> {
    let mut bytes = serde_json::to_vec_pretty(envelope).map_err(PipelineError::from)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// `path` with `suffix` added to its file name (`a.csv` -> `a.csv.sealed`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The `sealed` annotation of a subject or byproduct: what a requester downloads, and the
/// digest that commits the receipt to it.
fn sealed_annotation(name: &str, facts: &Sealed) -> Value {
    json!({
        "name": name,
        "sha256": facts.ciphertext_sha256.hex(),
        "bytes": facts.ciphertext_len,
        "format": poex_seal::FORMAT,
    })
}

/// Seals what `reader` gives to `recipient` into the new file `dest`: written to a temporary
/// beside it, fsynced, linked to `dest` (which must not exist: nothing is overwritten), and
/// the folder fsynced. If we crash before the link, only a dot-named temporary is left.
fn seal_atomic(
    recipients: &[&dyn poex_seal::Wrap],
    reader: impl io::Read,
    dest: &Path,
) -> Result<Sealed, PipelineError> {
    // Never replaces a file: the name is taken only if free (Place::CreateNew).
    let mut file = poex_durable::AtomicFile::new(dest, poex_durable::Place::CreateNew, 0o644)
        .map_err(io_err(dest))?;
    // encrypt writes the header, then whole 1 MiB batches: no buffering needed.
    let facts =
        poex_seal::encrypt_to(recipients, reader, &mut file).map_err(|e| PipelineError::Seal {
            path: dest.to_owned(),
            message: e.to_string(),
        })?;
    file.commit().map_err(io_err(dest))?;
    Ok(facts)
}

/// Seals every result of `tree` (in `dir`) into `<path>.sealed`, removing each plaintext once
/// its sealed file is durable. Returns the facts in `tree.files` order. On any failure every
/// file in `dir` is removed: a job sealed to its requester keeps no plaintext.
fn seal_results(
    recipient: &Recipient,
    dir: &Path,
    tree: &Tree,
    reporter: &dyn Reporter,
) -> Result<Vec<Sealed>, PipelineError> {
    // Reverse name order: a result the job named "x.sealed" is sealed (to "x.sealed.sealed")
    // and removed before "x" is sealed into "x.sealed", so no name is ever taken twice.
    let mut order: Vec<usize> = (0..tree.files.len()).collect();
    order.sort_by(|&a, &b| tree.files[b].path.cmp(&tree.files[a].path));
    reporter.begin_bytes("sealing results", tree.total_bytes);
    let mut done: Vec<Option<Sealed>> = vec![None; tree.files.len()];
    let mut folders = std::collections::BTreeSet::new();
    let run = (|| -> Result<(), PipelineError> {
        for i in order {
            let f = &tree.files[i];
            let path = dir.join(&f.path);
            let dest = with_suffix(&path, SEALED_SUFFIX);
            let file = open_no_follow(&path)?;
            let facts = seal_atomic(&[recipient], Counted { file, reporter }, &dest)?;
            if Some(&facts.plaintext_sha256) != f.digests.sha256() {
                return Err(PipelineError::Seal {
                    path,
                    message: "the file changed between hashing and sealing".into(),
                });
            }
            // The sealed file is in place and durable: only now does the plaintext go.
            fs::remove_file(&path).map_err(io_err(&path))?;
            folders.insert(dest.parent().map(Path::to_owned).unwrap_or_default());
            done[i] = Some(facts);
        }
        // The removals themselves must survive a crash, or a plaintext could come back.
        for folder in &folders {
            fsync_dir(folder)?;
        }
        Ok(())
    })();
    reporter.end_bytes();
    if let Err(e) = run {
        outdir_remove(dir)?;
        return Err(e);
    }
    Ok(done.into_iter().flatten().collect())
}

/// Opens a result for reading without following a link swapped in after it was hashed.
fn open_no_follow(path: &Path) -> Result<fs::File, PipelineError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_err(path))
}

/// A file read with progress reported.
struct Counted<'a> {
    file: fs::File,
    reporter: &'a dyn Reporter,
}

impl io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.reporter.advance(n as u64);
        Ok(n)
    }
}

fn fsync_dir(dir: &Path) -> Result<(), PipelineError> {
    poex_durable::sync_dir(dir).map_err(io_err(dir))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    poex_durable::write_atomic(path, bytes).map_err(io_err(path))
}

fn now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}
