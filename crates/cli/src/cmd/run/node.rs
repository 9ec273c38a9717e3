//! `poex --node URL run|status|cancel|fetch`: jobs on a node.
//!
//! `run` builds and signs the job request here, exactly as a local `poex run` does (the
//! algorithm's and datasets' SHA-256 pinned from the node's registry), submits it, follows
//! it until it ends, and downloads what a local run would leave in its job folder.

use std::fs::File;
use std::io::{self, IsTerminal as _, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use poex_client::wire::{Job, JobState};
use poex_client::{Client, query};
use poex_core::Signer as _;
use poex_core::display::escape;
use poex_core::keys::SecretKey;
use poex_core::receipt::LOG_NAME;
use poex_core::request::{AssetRef, SignedRequest};
use poex_exec::pipeline::BUNDLE_NAME;
use poex_store::registry::AssetKind;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::Done;
use crate::args::{RunArgs, StatusArgs};

/// How long `run` and `status` keep retrying while the node cannot be reached (a restart).
const UNREACHABLE_PATIENCE: Duration = Duration::from_secs(120);
/// How long `cancel` waits for a running job to end.
const CANCEL_WAIT: Duration = Duration::from_secs(30);

/// The node's record of `name`, as the request pins it: its name and SHA-256.
fn asset_ref(client: &Client, kind: AssetKind, name: &str) -> Result<AssetRef> {
    poex_store::registry::Name::new(name)?;
    let record = client.asset(kind, name)?.with_context(|| {
        format!(
            "no {kind} named {name:?} is published on the node at {} (see `poex --node {} show {name}`)",
            client.base(),
            client.base()
        )
    })?;
    Ok(AssetRef {
        name: name.to_owned(),
        digest: *record
            .digests
            .sha256()
            .context("the node's registry record has no sha256")?,
    })
}

fn exit_code(state: JobState) -> u8 {
    match state {
        JobState::Succeeded => 0,
        JobState::Refused => 2,
        _ => 3,
    }
}

/// A job id is lowercase letters, digits and '-': refuse anything else before it goes into
/// a URL or a folder name.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!(
            "{id:?} is not a job id (lowercase hex digits, as `poex --node URL status` lists them)"
        );
    }
    Ok(())
}

pub fn run(client: &Client, root: &Path, args: RunArgs, quiet: bool) -> Result<Done> {
    if args.chain {
        bail!(
            "run --chain drives the task with this home as the processor; with --node the node \
             runs the job: drop --node to run it here as a chain task"
        );
    }
    let key = crate::home::identity(root, &args.as_key)?;
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let request = super::request(root, &args, &key, |kind, name| {
        asset_ref(client, kind, name)
    })?;
    // The node's digests for the inputs, checked against the chain this home names.
    if let Some(reason) = super::chain_refusal(root, &args, quiet, &request)? {
        eprintln!("poex: error: job refused, nothing was sent to the node: {reason}");
        return Ok(Done(2));
    }
    let signed = SignedRequest::sign(request, &key)?;
    let accepted = client.submit(&signed.envelope, &key)?;
    let id = accepted.id.clone();
    check_id(&id)?;
    if args.no_wait {
        if args.json {
            outln!("{}", crate::json::pretty(&accepted)?);
        } else if quiet {
            outln!("{id}");
        } else {
            outln!(
                "job {id} accepted by {} ({})",
                client.base(),
                accepted.state
            );
            outln!("  follow   poex --node {} status {id}", client.base());
            outln!("  fetch    poex --node {} fetch {id}", client.base());
            outln!("  cancel   poex --node {} cancel {id}", client.base());
        }
        return Ok(Done(0));
    }
    if !quiet && !args.json {
        eprintln!(
            "poex: job {id} accepted by {}; waiting for it (Ctrl-C stops waiting, not the job)",
            client.base()
        );
    }
    let job = wait(client, &id, quiet || args.json)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("poex-job-{id}")));
    let fetched = download(client, &key, &job, &out)?;
    report(client, &job, &fetched, args.json, quiet)
}

/// Follows a job until it ends, showing its state, stage and progress on stderr.
fn wait(client: &Client, id: &str, quiet: bool) -> Result<Job> {
    let tty = io::stderr().is_terminal();
    let bar = if quiet || !tty {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    };
    let spinner = ProgressStyle::with_template("  {spinner} job {prefix}: {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bytes = ProgressStyle::with_template(
        "  job {prefix}: {msg} [{bar:30}] {bytes}/{total_bytes} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(spinner.clone());
    bar.set_prefix(id.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut last = String::new();
    let mut delay = Duration::from_millis(100);
    let mut reachable = Instant::now();
    let job = loop {
        let job = match client.job(id) {
            Ok(j) => {
                reachable = Instant::now();
                j
            }
            Err(e)
                if !matches!(e, poex_client::Error::Node(_))
                    && reachable.elapsed() < UNREACHABLE_PATIENCE =>
            {
                bar.set_message(format!("node unreachable, retrying ({e})"));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(e.into());
            }
        };
        let state = job.state.name();
        let (stage, done, total) = job.progress.as_ref().map_or(("", 0, 0), |p| {
            (p.stage.as_str(), p.bytes_done, p.bytes_total)
        });
        let message = if stage.is_empty() || stage == state {
            state.to_owned()
        } else {
            format!("{state}, {}", escape(stage))
        };
        if message != last {
            if !quiet && !tty {
                eprintln!("poex: job {id} {message}");
            }
            last = message.clone();
        }
        if total > 0 {
            bar.set_style(bytes.clone());
            bar.set_length(total);
            bar.set_position(done);
        } else {
            bar.set_style(spinner.clone());
        }
        bar.set_message(message);
        if job.state.is_final() {
            break job;
        }
        std::thread::sleep(delay);
        delay = (delay * 3 / 2).min(Duration::from_secs(1));
    };
    bar.finish_and_clear();
    Ok(job)
}

/// `--out` must not exist, or be an empty folder (nothing is ever overwritten).
fn check_out(out: &Path) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} exists and is not empty; choose a new --out folder (poex never overwrites results)",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}", out.display())),
    }
}

/// What `download` left where.
struct Fetched {
    out: PathBuf,
    receipt: Option<PathBuf>,
    bundle: Option<PathBuf>,
    results: Option<(PathBuf, usize)>,
    log: Option<PathBuf>,
    /// Why results and log were not downloaded.
    note: Option<String>,
}

/// Downloads a finished job into `out`: bundle and receipt (anyone), results and execution
/// log (the requester only; each result checked against the SHA-256 the node lists).
fn download(client: &Client, key: &SecretKey, job: &Job, out: &Path) -> Result<Fetched> {
    let id = job.id.as_str();
    check_id(id)?;
    check_out(out)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut fetched = Fetched {
        out: out.to_owned(),
        receipt: None,
        bundle: None,
        results: None,
        log: None,
        note: None,
    };
    for (name, slot) in [
        ("receipt", &mut fetched.receipt),
        ("bundle", &mut fetched.bundle),
    ] {
        let file = out.join(if name == "bundle" {
            BUNDLE_NAME
        } else {
            "receipt.json"
        });
        if let Some(d) = client.job_part(id, name)? {
            save(d.reader, &file)?;
            *slot = Some(file);
        }
    }
    let me = key.public_key().key_id().to_string();
    let requester = &job.requester;
    if *requester != me {
        fetched.note = Some(format!(
            "results and the execution log go to the job's requester only ({requester}; you sign as {me})"
        ));
        return Ok(fetched);
    }
    let listing = client.results(id, key)?;
    let results = out.join("results");
    std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
    let files = listing.files;
    for f in &files {
        let name = f.name.as_str();
        let rel = safe_relative(name)?;
        let want = &f.sha256;
        let target = results.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let response = client.result(id, name, key)?;
        let (sha, _) = save(response.reader, &target)?;
        let got = format!("sha256:{}", hex::encode(sha));
        if got != *want {
            bail!(
                "result {name}: the node listed {want} but sent bytes with {got}; the download in {} is not the attested result",
                target.display()
            );
        }
    }
    fetched.results = Some((results, files.len()));
    if let Some(r) = client.execution_log(id, key)? {
        {
            // A job sealed to its requester has only its sealed log; the node names it.
            let sealed = r
                .file_name
                .as_deref()
                .is_some_and(|v| v.contains(".sealed"));
            let file = if sealed {
                out.join(format!("{LOG_NAME}{}", poex_seal::SEALED_SUFFIX))
            } else {
                out.join(LOG_NAME)
            };
            save(r.reader, &file)?;
            fetched.log = Some(file);
        }
    }
    Ok(fetched)
}

/// A result name as a path inside the results folder, or an error.
fn safe_relative(name: &str) -> Result<PathBuf> {
    let mut rel = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(n) => rel.push(n),
            _ => {
                bail!("the node lists a result named {name:?}, which is not a path inside results/")
            }
        }
    }
    if rel.as_os_str().is_empty() {
        bail!("the node lists a result with an empty name");
    }
    Ok(rel)
}

/// Streams a response body into a new file; returns its SHA-256 and size.
fn save(mut reader: impl Read, path: &Path) -> Result<([u8; 32], u64)> {
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut len = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("downloading {}", path.display()))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        file.write_all(&buf[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        len += n as u64;
    }
    file.sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((sha.finalize().into(), len))
}

/// Prints what a finished job left and returns its exit code (as a local `poex run`).
fn report(
    client: &Client,
    job: &Job,
    fetched: &Fetched,
    as_json: bool,
    quiet: bool,
) -> Result<Done> {
    let id = escape(&job.id);
    let state = job.state;
    let code = exit_code(state);
    if as_json {
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "jobId": id,
                "node": client.base(),
                "state": state,
                "status": job.status,
                "reason": job.reason,
                "logIndex": job.log_index,
                "out": fetched.out,
                "receipt": fetched.receipt,
                "bundle": fetched.bundle,
                "results": fetched.results.as_ref().map(|r| &r.0),
                "log": fetched.log,
                "note": fetched.note,
            }))?
        );
        return Ok(Done(code));
    }
    let reason = escape(job.reason.as_deref().unwrap_or(""));
    match state {
        JobState::Succeeded if !quiet => outln!("job {id} succeeded on {}", client.base()),
        JobState::Succeeded => {}
        JobState::Refused => eprintln!("poex: job {id} refused, nothing was run: {reason}"),
        other => eprintln!("poex: job {id} {other}: {reason}"),
    }
    if quiet {
        return Ok(Done(code));
    }
    if let Some((dir, n)) = &fetched.results
        && state != JobState::Refused
    {
        outln!("  results  {} ({n} file(s))", dir.display());
    }
    if let Some(log) = &fetched.log {
        outln!("  log      {}", log.display());
    }
    if let Some(r) = &fetched.receipt {
        outln!("  receipt  {}", r.display());
    }
    if let Some(b) = &fetched.bundle {
        match job.log_index {
            Some(i) => outln!("  bundle   {} (log entry {i})", b.display()),
            None => outln!("  bundle   {}", b.display()),
        }
        outln!(
            "  verify   poex --node {} verify {}",
            client.base(),
            fetched.out.display()
        );
    }
    if let Some(note) = &fetched.note {
        outln!("  note     {note}");
    }
    Ok(Done(code))
}

/// `poex --node URL fetch JOB`.
pub fn fetch(
    client: &Client,
    root: &Path,
    id: &str,
    out: Option<PathBuf>,
    as_key: &str,
    quiet: bool,
) -> Result<Done> {
    check_id(id)?;
    let key = crate::home::identity(root, as_key)?;
    let job = client.job(id)?;
    let state = job.state;
    if !state.is_final() {
        bail!(
            "job {id} is still {state}; follow it with `poex --node {} status {id}` and fetch it once it has ended",
            client.base()
        );
    }
    let out = out.unwrap_or_else(|| PathBuf::from(format!("poex-job-{id}")));
    let fetched = download(client, &key, &job, &out)?;
    report(client, &job, &fetched, false, quiet)
}

/// `poex --node URL cancel JOB`: asks, then waits a little for the job to end.
pub fn cancel(client: &Client, root: &Path, id: &str, as_key: &str, quiet: bool) -> Result<Done> {
    check_id(id)?;
    let key = crate::home::identity(root, as_key)?;
    let mut job = client.cancel(id, &key)?;
    let deadline = Instant::now() + CANCEL_WAIT;
    while !job.state.is_final() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        job = client.job(id)?;
    }
    let state = job.state;
    if !quiet {
        if state.is_final() {
            outln!("job {id} {state}");
            if let Some(r) = &job.reason {
                outln!("  reason   {}", escape(r));
            }
        } else {
            outln!(
                "job {id}: cancel requested, still {state} after {} s; `poex --node {} status {id}` follows it",
                CANCEL_WAIT.as_secs(),
                client.base()
            );
        }
    }
    Ok(Done(0))
}

/// `poex --node URL status [JOB]`.
pub fn status(client: &Client, root: &Path, args: StatusArgs) -> Result<Done> {
    if let Some(id) = &args.job {
        check_id(id)?;
        let job = client.job(id)?;
        if args.json {
            outln!("{}", crate::json::pretty(&job)?);
        } else {
            print_job(&job)?;
        }
        return Ok(Done(0));
    }
    let requester = args
        .requester
        .as_deref()
        .map(|r| crate::home::key_id(root, r))
        .transpose()?;
    let limit = args.limit.max(1);
    let mut jobs: Vec<Job> = Vec::new();
    let mut before: Option<u64> = None;
    while jobs.len() < limit {
        let q = query(&[
            ("requester", requester.clone()),
            ("state", args.state.clone()),
            ("limit", Some((limit - jobs.len()).min(500).to_string())),
            ("before", before.map(|b| b.to_string())),
        ]);
        let page = client.jobs(&q)?;
        jobs.extend(page.jobs);
        match page.next_before {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    jobs.truncate(limit);
    if args.json {
        outln!("{}", crate::json::pretty(&jobs)?);
        return Ok(Done(0));
    }
    if jobs.is_empty() {
        outln!("no jobs on {}", client.base());
    }
    for j in &jobs {
        outln!(
            "{}  {:<11} {} on {}  {}  by {}",
            escape(&j.id),
            j.state.name(),
            escape(&j.algorithm),
            names(&j.datasets),
            escape(&j.submitted_at),
            escape(&short(&j.requester))
        );
    }
    Ok(Done(0))
}

/// The first 16 characters of a key id.
fn short(id: &str) -> String {
    id.chars().take(16).collect()
}

/// Dataset names, escaped for a person.
fn names(datasets: &[String]) -> String {
    datasets
        .iter()
        .map(|d| escape(d).into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// One job as `poex --node URL status JOB` prints it: every string the node sent is shown
/// with control and bidi characters escaped (a reason quotes names the requester chose).
fn print_job(job: &Job) -> Result<()> {
    outln!("job        {}", escape(&job.id));
    let mut state = job.state.name().to_owned();
    if let Some(p) = &job.progress {
        state.push_str(&format!(", {}", escape(&p.stage)));
        if p.bytes_total > 0 {
            state.push_str(&format!(" ({}/{} bytes)", p.bytes_done, p.bytes_total));
        }
    }
    outln!("state      {state}");
    outln!("requester  {}", escape(&job.requester));
    outln!("algorithm  {}", escape(&job.algorithm));
    outln!("datasets   {}", names(&job.datasets));
    let status = job.status.map(|s| s.word().to_owned());
    for (label, value) in [
        ("submitted", Some(&job.submitted_at)),
        ("started", job.started_at.as_ref()),
        ("finished", job.finished_at.as_ref()),
        ("status", status.as_ref()),
        ("reason", job.reason.as_ref()),
    ] {
        if let Some(v) = value {
            outln!("{label:<10} {}", escape(v));
        }
    }
    if let Some(i) = job.log_index {
        outln!("log entry  {i}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_names_stay_inside_results() {
        assert_eq!(safe_relative("a/b.txt").unwrap(), PathBuf::from("a/b.txt"));
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative("").is_err());
        assert!(check_id("0123abcd").is_ok());
        assert!(check_id("../x").is_err());
    }
}
