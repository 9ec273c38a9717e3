//! `poex run` (a registered algorithm on registered datasets) and `poex exec` (any command).

pub mod node;

use std::path::Path;

use anyhow::{Context as _, Result};
use poex_core::Signer as _;
use poex_core::display::escape;
use poex_core::receipt::rfc3339;
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, RequestedLimits, Requester, SignedRequest, random_hex16,
};
use poex_exec::pipeline::{ExecRequest, JobOptions, JobReport, JobStatus, Processor};
use poex_exec::sandbox::Limits;
use poex_store::registry::{AssetKind, Name};
use serde_json::json;

use crate::Done;
use crate::args::{ExecArgs, LimitArgs, RunArgs};
use crate::home::Home;
use crate::progress::Bars;

fn requested(l: &LimitArgs) -> RequestedLimits {
    RequestedLimits {
        cpu_seconds: l.cpu_seconds,
        memory_bytes: l.memory_mib.map(|m| m << 20),
        wall_seconds: l.wall_seconds,
        processes: l.processes,
        output_bytes: l.output_mib.map(|m| m << 20),
        output_files: l.output_files,
    }
}

/// Looks a name up to pin its sha256 in the request.
fn asset_ref(home: &Home, kind: AssetKind, name: &str) -> Result<AssetRef> {
    let record = home
        .store
        .registry()
        .get(kind, &Name::new(name)?)?
        .with_context(|| {
            format!("no {kind} named {name:?} is published (see 'poex show {name}')")
        })?;
    Ok(AssetRef {
        name: name.to_owned(),
        digest: *record
            .digests
            .sha256()
            .context("registry record without sha256")?,
    })
}

/// The job request `poex run` signs, here or for a node: the inputs pinned by `pin` (this
/// home's registry, or the node's).
fn request(
    root: &Path,
    args: &RunArgs,
    requester: &poex_core::keys::SecretKey,
    pin: impl Fn(AssetKind, &str) -> Result<AssetRef>,
) -> Result<JobRequest> {
    Ok(JobRequest {
        type_: REQUEST_TYPE.into(),
        requester: Requester {
            key_id: requester.public_key().key_id(),
            public_key: requester.public_key(),
        },
        algorithm: pin(AssetKind::Algorithm, &args.algorithm)?,
        datasets: args
            .datasets
            .iter()
            .map(|d| pin(AssetKind::Dataset, d))
            .collect::<Result<_>>()?,
        arguments: args.args.clone(),
        limits: requested(&args.limits),
        requested_at: rfc3339(time::OffsetDateTime::now_utc()),
        nonce: random_hex16()?,
        result_recipient: (args.recipient.as_deref())
            .map(|r| super::seal::recipient_text(root, r))
            .transpose()?,
    })
}

/// The inputs on chain (when HOME/chain.toml names a registry): another digest registered
/// under an input's name refuses the job before anything runs. The reason, if refused.
fn chain_refusal(
    root: &Path,
    args: &RunArgs,
    quiet: bool,
    request: &JobRequest,
) -> Result<Option<String>> {
    let inputs = super::chain::request_inputs(request);
    let check = super::chain::RunCheck {
        require: args.require_chain,
        skip: args.no_chain_check,
        rpc: args.rpc.as_deref(),
        to_stderr: args.json,
        quiet,
    };
    super::chain::check_run_inputs(root, &check, &inputs)
}

pub fn run(root: &Path, args: RunArgs, quiet: bool) -> Result<Done> {
    crate::progress::timing("opening the home, reading the keys");
    let home = Home::open(root)?;
    let requester = home.secret(&args.as_key)?;
    let request = request(root, &args, &requester, |kind, name| {
        asset_ref(&home, kind, name)
    })?;
    if let Some(reason) = chain_refusal(&home.root, &args, quiet, &request)? {
        eprintln!(
            "poex: error: job refused, nothing was run: {}",
            escape(&reason)
        );
        return Ok(Done(2));
    }
    let algorithm_digest = request.algorithm.digest;
    let dataset_digests: Vec<poex_core::Digest> =
        request.datasets.iter().map(|d| d.digest).collect();
    let signed = SignedRequest::sign(request, &requester)?;
    let processor_key = home.processor()?;
    // --chain: the task is submitted, matched and approved on chain before the job runs.
    let mut job_id = None;
    let task = if args.chain {
        if let Some(out) = &args.out
            && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
        {
            anyhow::bail!(
                "--out {} is not empty; give a new or empty folder (nothing was sent on chain)",
                out.display()
            );
        }
        let id = random_hex16()?;
        let options = super::chain::TaskOptions {
            requester_key: args.requester_chain_key.as_deref(),
            match_within: super::chain::parse_duration(
                args.match_within.as_deref().unwrap_or("10m"),
                "--match-within",
            )?,
            result_within: super::chain::parse_duration(
                args.result_within.as_deref().unwrap_or("1h"),
                "--result-within",
            )?,
            rpc: args.rpc.as_deref(),
            resources: format!("poex processor {}", processor_key.public_key().key_id()),
            metadata: format!("poex job {id}"),
            to_stderr: args.json,
            quiet,
        };
        let datasets: Vec<&poex_core::Digest> = dataset_digests.iter().collect();
        let task = super::chain::TaskRun::begin(
            &home.root,
            &options,
            &request_json(&signed.envelope)?,
            &algorithm_digest,
            &datasets,
        )?;
        job_id = Some(id);
        Some(task)
    } else {
        None
    };
    // Datasets sealed at rest open with the owner's data identity, if this home has one.
    let data_identity = home.data_identity_if_exists()?;
    // A sealed execution log is also wrapped to the owner's Umbral key, if there is one.
    let log_owner = home.log_owner_if_exists()?;
    let processor = Processor {
        runner: &poex_exec::runner::Bubblewrap,
        store: &home.store,
        ledger: &home,
        signer: &processor_key,
        jobs_dir: home.jobs_dir(),
        ceiling: Limits::default(),
        data_identity: data_identity.as_ref(),
        log_owner: log_owner.as_deref(),
    };
    let bars = Bars::new(quiet || args.json);
    let options = JobOptions {
        out: args.out.clone(),
        job_id,
        ..JobOptions::default()
    };
    crate::progress::timing("the job begins");
    let report = match processor.run_job(signed.envelope, options, &bars) {
        Ok(r) => r,
        Err(e) => {
            return Err(match &task {
                Some(t) => anyhow::Error::new(e).context(t.unfinished()),
                None => e.into(),
            });
        }
    };
    let Some(task) = task else {
        return print_report(&report, args.json, quiet);
    };
    // The processor reports the result: after the job's summary in text, inside the JSON.
    let done = if args.json {
        None
    } else {
        Some(print_report(&report, false, quiet)?)
    };
    let request_path = report
        .receipt_path
        .parent()
        .map(|d| d.join("request.json"))
        .context("the job folder")?;
    let log = home.ledger_read()?;
    let steps = task.finish(
        &report,
        &processor_key.public_key(),
        log.verifier(),
        &request_path,
    )?;
    match done {
        Some(done) => Ok(done),
        None => print_report_with(&report, true, quiet, Some(steps)),
    }
}

/// The signed request exactly as the job writes it to request.json (pretty JSON and a newline):
/// its SHA-256 is the task's request digest.
fn request_json(envelope: &poex_core::dsse::Envelope) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(envelope)?;
    bytes.push(b'\n');
    Ok(bytes)
}

pub fn exec(root: &Path, args: ExecArgs, quiet: bool) -> Result<Done> {
    crate::progress::timing("opening the home, reading the keys");
    let (home, created) = Home::init(root)?;
    if created && !quiet {
        eprintln!(
            "poex: created a new home with a processor key at {}",
            home.root.display()
        );
    }
    let requester = home.secret(&args.as_key)?;
    let processor_key = home.processor()?;
    let processor = Processor {
        runner: &poex_exec::runner::Bubblewrap,
        store: &home.store,
        ledger: &home,
        signer: &processor_key,
        jobs_dir: home.jobs_dir(),
        ceiling: Limits::default(),
        data_identity: None,
        log_owner: None,
    };
    let mut materials: Vec<(std::path::PathBuf, &'static str)> = args
        .datasets
        .iter()
        .map(|p| (p.clone(), "dataset"))
        .collect();
    materials.extend(args.algorithms.iter().map(|p| (p.clone(), "algorithm")));
    let request = ExecRequest {
        argv: args.command.clone(),
        materials,
        out: args.out.clone(),
        receipt: args.receipt.clone(),
        workdir: std::env::current_dir().context("the current directory")?,
        limits: requested(&args.limits),
    };
    let bars = Bars::new(quiet || args.json);
    crate::progress::timing("hashing the inputs");
    let report = processor.exec(&request, &requester, &bars)?;
    crate::progress::timing("printing the report");
    print_report(&report, args.json, quiet)
}

pub fn print_report(report: &JobReport, as_json: bool, quiet: bool) -> Result<Done> {
    print_report_with(report, as_json, quiet, None)
}

/// [`print_report`], with the chain task's steps (`poex run --chain`) in the JSON.
fn print_report_with(
    report: &JobReport,
    as_json: bool,
    quiet: bool,
    chain_task: Option<serde_json::Value>,
) -> Result<Done> {
    let code = match report.status {
        JobStatus::Succeeded => 0,
        JobStatus::Refused { .. } => 2,
        _ => 3,
    };
    if as_json {
        let usage = report.outcome.as_ref().map(|o| &o.usage);
        let mut doc = json!({
            "jobId": report.job_id,
            "status": report.status.word(),
            "reason": match &report.status {
                JobStatus::Failed { reason, .. } | JobStatus::Refused { reason } => Some(reason),
                _ => None,
            },
            "receipt": report.receipt_path,
            "bundle": report.bundle_path,
            "logIndex": report.log_index,
            "results": report.results_dir,
            "log": report.log_path,
            "usage": usage,
        });
        if let Some(task) = chain_task {
            doc["chainTask"] = task;
        }
        outln!("{}", crate::json::pretty(&doc)?);
        return Ok(Done(code));
    }
    match &report.status {
        JobStatus::Succeeded if !quiet => outln!("job {} succeeded", report.job_id),
        JobStatus::Succeeded => {}
        // A reason quotes what the job or the request named (a result, an input).
        JobStatus::Failed { status, reason } => {
            eprintln!("poex: job {} {status}: {}", report.job_id, escape(reason))
        }
        JobStatus::Refused { reason } => {
            eprintln!(
                "poex: job {} refused, nothing was run: {}",
                report.job_id,
                escape(reason)
            )
        }
    }
    if !quiet {
        if let Some(o) = &report.outcome {
            let u = &o.usage;
            outln!(
                "  usage    cpu {:.3}s user + {:.3}s sys, wall {:.3}s, max rss {} KiB, output {} bytes in {} file(s)",
                u.user_cpu.as_secs_f64(),
                u.system_cpu.as_secs_f64(),
                u.wall.as_secs_f64(),
                u.max_rss_bytes >> 10,
                u.output_bytes,
                u.output_files
            );
        }
        if !matches!(report.status, JobStatus::Refused { .. }) {
            outln!("  results  {}", report.results_dir.display());
        }
        if let Some(log) = &report.log_path {
            outln!("  log      {}", log.display());
        }
        outln!("  receipt  {}", report.receipt_path.display());
        outln!(
            "  bundle   {} (log entry {})",
            report.bundle_path.display(),
            report.log_index
        );
        outln!("  verify   poex verify {}", report.bundle_path.display());
    }
    Ok(Done(code))
}
