//! `poex verify`: check a receipt or proof bundle and the files a user holds against it.
//!
//! Every check is listed, passed or failed, with what it found; the exit code is 4 if any
//! failed. Nothing here trusts the receipt before its signature has verified under a key the
//! user chose (`--key`, or this home's processor key), nor a log checkpoint before it verified
//! under the log key the user chose (`--log-key`, or this home's log key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use poex_core::dsse::Envelope;
use poex_core::receipt::{self, BUILD_TYPE_JOB, LOG_NAME, OUTCOME_NAME, ReceiptStatement};
use poex_core::request::SignedRequest;
use poex_core::statement::ResourceDescriptor;
use poex_core::{Algorithm, DigestSet, PublicKey, digest::Comparison};
use poex_exec::pipeline::BUNDLE_NAME;
use poex_ledger::bundle::verify_extends_from_tiles;
use poex_ledger::ledger::default_origin;
use poex_ledger::{BundleError, ProofBundle};
use poex_log::checkpoint::Checkpoint;
use poex_log::note::Ed25519Verifier;
use poex_store::hash::{hash_file, hash_tree, no_progress};
use poex_store::keystore::load_public_file;
use serde_json::{Value, json};

use crate::Done;
use crate::args::VerifyArgs;
use crate::checks::Checks;
use crate::home::{Home, PROCESSOR_KEY};
use crate::logsource::LogSource;

/// The receipt or bundle file, and the results folder and log that conventionally sit with it.
struct Located {
    receipt: PathBuf,
    results: Option<PathBuf>,
    log: Option<PathBuf>,
}

fn locate(proof: &Path) -> Result<Located> {
    if proof.is_dir() {
        let bundle = proof.join(BUNDLE_NAME);
        let receipt = if bundle.exists() {
            bundle
        } else {
            proof.join("receipt.json")
        };
        if !receipt.exists() {
            bail!(
                "{} is a folder without {BUNDLE_NAME} or receipt.json; give the bundle or receipt file itself",
                proof.display()
            );
        }
        let results = Some(proof.join("results")).filter(|p| p.is_dir());
        let log = Some(proof.join(LOG_NAME)).filter(|p| p.is_file());
        return Ok(Located {
            receipt,
            results,
            log,
        });
    }
    if !proof.exists() {
        bail!("{} does not exist", proof.display());
    }
    // `poex exec --out OUT` writes OUT.receipt.json, OUT.bundle.json and OUT.log beside OUT.
    let text = proof.to_string_lossy();
    let stem = text
        .strip_suffix(".receipt.json")
        .or_else(|| text.strip_suffix(".bundle.json"));
    let (results, log) = match stem {
        Some(stem) => (
            Some(PathBuf::from(stem)).filter(|p| p.is_dir()),
            Some(PathBuf::from(format!("{stem}.log"))).filter(|p| p.is_file()),
        ),
        None => (None, None),
    };
    Ok(Located {
        receipt: proof.to_owned(),
        results,
        log,
    })
}

fn trusted_key(root: &Path, flag: Option<&Path>) -> Result<(PublicKey, String)> {
    if let Some(path) = flag {
        return Ok((load_public_file(path)?, format!("--key {}", path.display())));
    }
    let home = Home::open(root).context(
        "no processor key to trust: pass --key PROCESSOR.pub (the processor's public key, PEM)",
    )?;
    Ok((
        home.keys.public(PROCESSOR_KEY)?,
        format!("this home's processor key ({})", home.root.display()),
    ))
}

pub fn verify(root: &Path, args: VerifyArgs, quiet: bool) -> Result<Done> {
    let located = locate(&args.proof)?;
    let (key, key_source) = trusted_key(root, args.key.as_deref())?;
    let mut checks = Checks::default();

    let bytes = std::fs::read(&located.receipt)
        .with_context(|| format!("reading {}", located.receipt.display()))?;
    let parsed: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            checks.fail(
                "envelope",
                format!("{} is not JSON: {e}", located.receipt.display()),
            );
            return finish(checks, None, args.json, quiet);
        }
    };
    let bundle = if parsed.get("mediaType").is_some() {
        match ProofBundle::from_json(&bytes) {
            Ok(b) => Some(b),
            Err(e) => {
                checks.fail(
                    "bundle",
                    format!("{} is not a proof bundle: {e}", located.receipt.display()),
                );
                return finish(checks, None, args.json, quiet);
            }
        }
    } else if args.log.is_some() {
        bail!(
            "--log checks a proof bundle against a log, and {} is a bare receipt; give the \
             bundle (bundle.json in the job folder)",
            located.receipt.display()
        );
    } else {
        None
    };
    let envelope: Envelope = match &bundle {
        Some(b) => b.receipt.clone(),
        None => match serde_json::from_value(parsed) {
            Ok(e) => e,
            Err(e) => {
                checks.fail(
                    "envelope",
                    format!("{} is not a DSSE envelope: {e}", located.receipt.display()),
                );
                return finish(checks, None, args.json, quiet);
            }
        },
    };
    let statement = match receipt::open(&envelope, &key) {
        Ok(s) => {
            checks.pass(
                "signature",
                format!("signed by processor {} ({key_source})", key.key_id()),
            );
            checks.pass(
                "statement",
                "in-toto Statement v1 with a valid SLSA Provenance v1 predicate",
            );
            s
        }
        Err(e) => {
            checks.fail(
                "signature",
                format!("{e} (trusted key {}, from {key_source})", key.key_id()),
            );
            return finish(checks, None, args.json, quiet);
        }
    };
    if let Some(bundle) = &bundle {
        check_bundle(root, bundle, &key, &args, &mut checks)?;
    }
    check_request(&statement, &mut checks);

    let subjects: Vec<&ResourceDescriptor> = statement
        .subject
        .iter()
        .filter(|s| s.name.as_deref() != Some("poex:job-request"))
        .collect();
    let byproducts = &statement.predicate.run_details.byproducts;
    let results_dir = args.results.clone().or(located.results);
    if let Some(dir) = &results_dir {
        check_results(dir, &subjects, &mut checks)?;
    }
    let log_rd = byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(LOG_NAME));
    let mut files = args.files.clone();
    if let Some(log) = located.log.filter(|l| !files.contains(l)) {
        files.push(log);
    }
    for file in &files {
        check_file(file, &subjects, log_rd, &mut checks)?;
    }
    finish(checks, Some(&statement), args.json, quiet)
}

/// The log key to trust: `--log-key` (a signed-note verifier key or a PEM public key file), or
/// this home's log key.
fn trusted_log_key(root: &Path, flag: Option<&str>) -> Result<(Ed25519Verifier, String)> {
    if let Some(text) = flag {
        if let Ok(v) = Ed25519Verifier::parse(text) {
            return Ok((v, "--log-key".into()));
        }
        let path = Path::new(text);
        if !path.exists() {
            bail!(
                "--log-key {text:?} is neither a log verifier key (name+hex8+base64, as \
                 `poex log info` prints it) nor a public key file"
            );
        }
        let key = load_public_file(path)?;
        // A PEM key has no name; a poex log is named after its key (default origin). A log
        // with another origin needs its verifier key string instead.
        let origin = default_origin(&key);
        return Ok((
            Ed25519Verifier::new(origin.as_str(), key.as_bytes())?,
            format!("--log-key {}", path.display()),
        ));
    }
    let home = Home::open(root).context(
        "no log key to trust: pass --log-key with the log's verifier key (`poex log info` on the processor prints it)",
    )?;
    let ledger = home.ledger_read()?;
    Ok((
        ledger.verifier().clone(),
        format!("this home's log key ({})", home.root.display()),
    ))
}

/// A bundle: its log entry is this receipt, the entry is in the log under a checkpoint signed
/// by the trusted log key, and (with `--log`) the log's latest checkpoint extends that one.
fn check_bundle(
    root: &Path,
    bundle: &ProofBundle,
    processor: &PublicKey,
    args: &VerifyArgs,
    checks: &mut Checks,
) -> Result<()> {
    let (log_key, source) = trusted_log_key(root, args.log_key.as_deref())?;
    let verified = match bundle.verify(processor, &log_key) {
        Ok(v) => v,
        Err(e) => {
            let name = match &e {
                BundleError::LogEntryMalformed(_)
                | BundleError::LogEntryNotReceipt { .. }
                | BundleError::LogEntryMismatch { .. } => "log entry",
                BundleError::TlogProofMalformed(_)
                | BundleError::CheckpointOrigin { .. }
                | BundleError::CheckpointSignature(_) => "checkpoint",
                BundleError::Inclusion { .. } => "inclusion",
                _ => "bundle",
            };
            checks.fail(name, format!("{e} (trusted log key from {source})"));
            return Ok(());
        }
    };
    let cp = &verified.checkpoint;
    checks.pass(
        "log entry",
        format!(
            "the bundle's log entry ({}) is this receipt",
            verified.entry_kind.name()
        ),
    );
    checks.pass(
        "inclusion",
        format!(
            "entry {} is in log {} at size {} (root {}), checkpoint signed by the trusted log key ({source})",
            verified.index,
            cp.origin,
            cp.size,
            cp.root
        ),
    );
    let Some(arg) = &args.log else {
        return Ok(());
    };
    let log = LogSource::parse(arg)?;
    let note = match log.checkpoint() {
        Ok(n) => n,
        Err(e) => {
            checks.fail("consistency", format!("{e:#}"));
            return Ok(());
        }
    };
    let latest = match Checkpoint::open(&note, &[&log_key]) {
        Ok((c, _)) => c.size.get(),
        Err(e) => {
            checks.fail(
                "consistency",
                format!("the checkpoint of {log} does not verify with the trusted log key: {e}"),
            );
            return Ok(());
        }
    };
    match verify_extends_from_tiles(cp, &note, &log.tiles(latest), &log_key) {
        Ok(later) => checks.pass(
            "consistency",
            format!(
                "{log} at size {} extends the bundle's checkpoint (size {}): the entry is still there",
                later.size, cp.size
            ),
        ),
        Err(e) => checks.fail("consistency", format!("{log}: {e}")),
    }
    Ok(())
}

/// For jobs: the embedded request verifies under the requester's key, and what it pinned is
/// what the processor says it resolved.
fn check_request(statement: &ReceiptStatement, checks: &mut Checks) {
    let bd = &statement.predicate.build_definition;
    if bd.build_type != BUILD_TYPE_JOB {
        return;
    }
    let Some(env) = bd.external_parameters.get("jobRequest") else {
        checks.fail("request", "the receipt carries no jobRequest");
        return;
    };
    let signed = match serde_json::from_value::<Envelope>(env.clone())
        .map_err(|e| e.to_string())
        .and_then(|e| SignedRequest::open(e).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            checks.fail(
                "request",
                format!("the embedded job request does not verify: {e}"),
            );
            return;
        }
    };
    let req = &signed.request;
    checks.pass(
        "request",
        format!(
            "signed by requester {} at {}",
            req.requester.key_id, req.requested_at
        ),
    );
    let outcome = statement
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(OUTCOME_NAME));
    if let Some(o) =
        outcome.filter(|o| o.annotations.get("status") == Some(&Value::from("refused")))
    {
        // A refusal receipt records what was checked before anything ran; its inputs list
        // stops at the asset that failed, so there is nothing further to match.
        let reason = o
            .annotations
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("?");
        checks.pass(
            "refusal",
            format!("the processor refused this job before running it: {reason}"),
        );
        return;
    }
    let resolved: BTreeMap<(&str, &str), &ResourceDescriptor> = bd
        .resolved_dependencies
        .iter()
        .filter_map(|r| {
            Some((
                (r.annotations.get("role")?.as_str()?, r.name.as_deref()?),
                r,
            ))
        })
        .collect();
    let wanted = std::iter::once(("algorithm", &req.algorithm))
        .chain(req.datasets.iter().map(|d| ("dataset", d)));
    let mut all = true;
    for (role, asset) in wanted {
        let got = resolved
            .get(&(role, asset.name.as_str()))
            .and_then(|r| r.digests().ok())
            .and_then(|d| d.sha256().copied());
        if got != Some(asset.digest) {
            all = false;
            checks.fail(
                "request",
                format!(
                    "{role} {}: requested {} but the receipt records {}",
                    asset.name,
                    asset.digest,
                    got.map(|d| d.to_string())
                        .unwrap_or_else(|| "nothing".into())
                ),
            );
        }
    }
    if all {
        checks.pass(
            "inputs",
            "the algorithm and datasets run are the ones the requester pinned",
        );
    }
}

fn digests_of(rd: &ResourceDescriptor) -> DigestSet {
    rd.digests().unwrap_or_default()
}

fn check_results(dir: &Path, subjects: &[&ResourceDescriptor], checks: &mut Checks) -> Result<()> {
    let tree = match hash_tree(dir, &[Algorithm::Sha256], &no_progress) {
        Ok(t) => t,
        Err(e) => {
            checks.fail("results", format!("{}: {e}", dir.display()));
            return Ok(());
        }
    };
    let on_disk: BTreeMap<&str, &DigestSet> = tree
        .files
        .iter()
        .map(|f| (f.path.as_str(), &f.digests))
        .collect();
    let mut bad = 0;
    for s in subjects {
        let name = s.name.as_deref().unwrap_or("");
        match on_disk.get(name) {
            None => {
                bad += 1;
                checks.fail(
                    "results",
                    format!("{name}: in the receipt but missing from {}", dir.display()),
                );
            }
            Some(found) => match digests_of(s).compare(found) {
                Comparison::Match => {}
                Comparison::Differ { ours, theirs } => {
                    bad += 1;
                    checks.fail(
                        "results",
                        format!("{name}: modified — the receipt says {ours}, the file is {theirs}"),
                    );
                }
                Comparison::NoCommonAlgorithm => {
                    bad += 1;
                    checks.fail(
                        "results",
                        format!("{name}: the receipt has no sha256 to compare"),
                    );
                }
            },
        }
    }
    let attested: std::collections::BTreeSet<&str> =
        subjects.iter().filter_map(|s| s.name.as_deref()).collect();
    for path in on_disk.keys().filter(|p| !attested.contains(*p)) {
        bad += 1;
        checks.fail(
            "results",
            format!(
                "{path}: in {} but not in the receipt (added after the job)",
                dir.display()
            ),
        );
    }
    if bad == 0 {
        checks.pass(
            "results",
            format!(
                "all {} file(s) in {} match the receipt",
                subjects.len(),
                dir.display()
            ),
        );
    }
    Ok(())
}

fn check_file(
    file: &Path,
    subjects: &[&ResourceDescriptor],
    log: Option<&ResourceDescriptor>,
    checks: &mut Checks,
) -> Result<()> {
    let digests = match hash_file(file, &[Algorithm::Sha256], &no_progress) {
        Ok(d) => d,
        Err(e) => {
            checks.fail("file", e.to_string());
            return Ok(());
        }
    };
    let is_log = file
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".log"));
    let candidates = subjects.iter().copied().chain(log);
    match candidates
        .clone()
        .find(|rd| digests_of(rd).compare(&digests) == Comparison::Match)
    {
        Some(rd) => checks.pass(
            "file",
            format!(
                "{} matches {}",
                file.display(),
                rd.name.as_deref().unwrap_or("a subject")
            ),
        ),
        None => {
            let what = if is_log {
                log.map(|l| format!("the execution log recorded as {}", digests_of(l)))
                    .unwrap_or_else(|| "no execution log in the receipt".into())
            } else {
                "any result in the receipt".into()
            };
            checks.fail(
                "file",
                format!(
                    "{} ({}) does not match {what}",
                    file.display(),
                    digests
                        .sha256()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            );
        }
    }
    Ok(())
}

fn summary(st: &ReceiptStatement) -> Value {
    let p = &st.predicate;
    let outcome = p
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(OUTCOME_NAME))
        .map(|b| Value::Object(b.annotations.clone()))
        .unwrap_or(Value::Null);
    let deps: Vec<Value> = p
        .build_definition
        .resolved_dependencies
        .iter()
        .map(|r| json!({"role": r.annotations.get("role"), "name": r.name, "digest": r.digest}))
        .collect();
    json!({
        "job": p.run_details.metadata.invocation_id,
        "buildType": p.build_definition.build_type,
        "processor": p.run_details.builder.id,
        "startedOn": p.run_details.metadata.started_on,
        "finishedOn": p.run_details.metadata.finished_on,
        "inputs": deps,
        "results": st.subject.iter().map(|s| json!({"name": s.name, "digest": s.digest})).collect::<Vec<_>>(),
        "outcome": outcome,
    })
}

fn finish(
    checks: Checks,
    st: Option<&ReceiptStatement>,
    as_json: bool,
    quiet: bool,
) -> Result<Done> {
    let ok = checks.all_ok();
    if as_json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "verified": ok,
                "checks": checks.to_json(),
                "summary": st.map(summary),
            }))?
        );
        return Ok(Done(if ok { 0 } else { 4 }));
    }
    if !quiet || !ok {
        checks.print()?;
    }
    if let (Some(st), false) = (st, quiet) {
        let s = summary(st);
        outln!();
        outln!("what the processor attests:");
        outln!("  job        {}", s["job"].as_str().unwrap_or("?"));
        outln!("  processor  {}", s["processor"].as_str().unwrap_or("?"));
        if let Some(inputs) = s["inputs"].as_array() {
            for i in inputs {
                outln!(
                    "  {:<10} {}  sha256:{}",
                    i["role"].as_str().unwrap_or("input"),
                    i["name"].as_str().unwrap_or("?"),
                    i["digest"]["sha256"].as_str().unwrap_or("?")
                );
            }
        }
        outln!(
            "  ran        {} -> {}",
            s["startedOn"].as_str().unwrap_or("(not started)"),
            s["finishedOn"].as_str().unwrap_or("?")
        );
        let o = &s["outcome"];
        outln!(
            "  status     {}{}",
            o["status"].as_str().unwrap_or("?"),
            o.get("exitCode")
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default()
        );
        if let Some(u) = o.get("resourceUsage") {
            outln!(
                "  usage      cpu {}s user + {}s sys, wall {}s, max rss {} bytes, output {} bytes",
                u["userCpuSeconds"],
                u["systemCpuSeconds"],
                u["wallSeconds"],
                u["maxRssBytes"],
                u["outputBytes"]
            );
        }
        if let Some(results) = s["results"].as_array() {
            for r in results {
                outln!(
                    "  result     {}  sha256:{}",
                    r["name"].as_str().unwrap_or("?"),
                    r["digest"]["sha256"].as_str().unwrap_or("?")
                );
            }
        }
        outln!();
        outln!(
            "{}",
            if ok {
                "verified: every check passed"
            } else {
                "NOT VERIFIED: see the failed checks above"
            }
        );
        outln!(
            "trust: this rests on the processor's signature (the processor attests what it ran; it is not proof the processor did not lie)"
        );
    } else if !ok {
        outln!("NOT VERIFIED");
    }
    Ok(Done(if ok { 0 } else { 4 }))
}
