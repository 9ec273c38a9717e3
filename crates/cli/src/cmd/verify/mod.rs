//! `poex verify`: check a receipt or proof bundle and the files a user holds against it.
//!
//! Every check is listed, passed or failed, with what it found; the exit code is 4 if any
//! failed. Nothing here trusts the receipt before its signature has verified under a key the
//! user chose (`--key`, or this home's processor key), nor a log checkpoint before it verified
//! under the log key the user chose (`--log-key`, or this home's log key).
//!
//! The checks themselves are [`poex_verify::checks`] (shared with the node's verify API and
//! page); this command finds the files, the trusted keys, hashes what the user holds, and adds
//! `consistency` with a later log (`--log`), which needs to read it.

pub mod node;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use poex_core::display::escape;
use poex_core::outcome::seconds;
use poex_core::receipt::{LOG_NAME, ReceiptStatement};
use poex_core::{Algorithm, Digest, PublicKey};
use poex_exec::pipeline::BUNDLE_NAME;
use poex_ledger::ProofBundle;
use poex_ledger::ledger::default_origin;
use poex_log::checkpoint::Checkpoint;
use poex_log::note::Ed25519Verifier;
use poex_store::hash::{hash_file, hash_tree, no_progress};
use poex_store::keystore::load_public_file;
use poex_verify::bundle::verify_extends_from_tiles;
use poex_verify::checks::{
    Proof, check_log, check_receipt, check_request, check_results, check_subjects, parse, report,
    summary,
};

#[cfg(not(feature = "chain"))]
use super::chain::ChainConfig;
#[cfg(feature = "chain")]
use poex_chain::ChainConfig;

use crate::Done;
use crate::args::VerifyArgs;
use crate::checks::{Checks, PrintChecks as _};
use crate::cmd::chain;
use crate::home::{Home, PROCESSOR_KEY};
use poex_client::log::LogSource;

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
    let name = located.receipt.display().to_string();
    let Some(proof) = parse(&bytes, &name, &mut checks) else {
        return finish(checks, None, args.json, quiet);
    };
    if matches!(proof, Proof::Receipt(_)) && args.log.is_some() {
        bail!(
            "--log checks a proof bundle against a log, and {name} is a bare receipt; give the \
             bundle (bundle.json in the job folder)"
        );
    }
    if matches!(proof, Proof::Receipt(_)) && args.rpc.is_some() {
        bail!(
            "--rpc checks that a proof bundle's log checkpoint is anchored on chain, and {name} \
             is a bare receipt; give the bundle (bundle.json in the job folder)"
        );
    }
    // The chain settings are settled before any check runs: a missing chain id is a usage
    // error, not a failed check.
    let chain = match &args.rpc {
        Some(rpc) => Some(chain::verify_config(
            root,
            rpc,
            args.chain_id,
            args.anchor_contract.as_deref(),
        )?),
        None => None,
    };
    let Some(statement) = check_receipt(proof.receipt(), &key, &key_source, &mut checks) else {
        return finish(checks, None, args.json, quiet);
    };
    if let Proof::Bundle(bundle) = &proof {
        check_bundle(root, bundle, &key, &args, chain.as_ref(), &mut checks)?;
    }
    check_request(&statement, &mut checks);

    let results_dir = args.results.clone().or(located.results);
    if let Some(dir) = &results_dir {
        check_results_dir(dir, &statement, &mut checks)?;
    }
    let mut files = args.files.clone();
    if let Some(log) = located.log.filter(|l| !files.contains(l)) {
        files.push(log);
    }
    for file in &files {
        check_file(file, &statement, &mut checks)?;
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
/// by the trusted log key, (with `--log`) the log's latest checkpoint extends that one, and
/// (with `--rpc`) the checkpoint is anchored on chain, itself or by a later consistent one.
fn check_bundle(
    root: &Path,
    bundle: &ProofBundle,
    processor: &PublicKey,
    args: &VerifyArgs,
    chain: Option<&ChainConfig>,
    checks: &mut Checks,
) -> Result<()> {
    let (log_key, source) = trusted_log_key(root, args.log_key.as_deref())?;
    let Some(verified) = check_log(bundle, processor, &log_key, &source, checks) else {
        return Ok(());
    };
    let cp = &verified.checkpoint;
    if let Some(arg) = &args.log {
        let log = LogSource::parse(arg).map_err(anyhow::Error::msg)?;
        match extends(&log, cp, None, &log_key) {
            Ok(later) => checks.pass(
                "consistency",
                format!(
                    "{log} at size {} extends the bundle's checkpoint (size {}): the entry is still there",
                    later.size, cp.size
                ),
            ),
            Err(e) => checks.fail("consistency", e),
        }
    }
    if let Some(config) = chain {
        check_anchor(root, config, cp, &log_key, args.log.as_deref(), checks)?;
    }
    Ok(())
}

/// Proves from `log` that `later_note` (default: the log's own latest checkpoint) extends
/// `cp`. The error is the check's detail.
fn extends(
    log: &LogSource,
    cp: &Checkpoint,
    later_note: Option<&[u8]>,
    log_key: &Ed25519Verifier,
) -> std::result::Result<Checkpoint, String> {
    let note = log
        .tiles(0)
        .checkpoint()
        .map_err(|e| format!("{log}: {e}"))?;
    let latest = match Checkpoint::open(&note, &[log_key]) {
        Ok((c, _)) => c.size.get(),
        Err(e) => {
            return Err(format!(
                "the checkpoint of {log} does not verify with the trusted log key: {e}"
            ));
        }
    };
    let later = later_note.unwrap_or(&note);
    if let Some(l) = later_note
        && let Ok((c, _)) = Checkpoint::open(l, &[log_key])
        && c.size.get() > latest
    {
        return Err(format!(
            "{log} has {latest} entries, fewer than the anchored checkpoint's {}: give a newer copy of the log",
            c.size
        ));
    }
    verify_extends_from_tiles(cp, later, &log.tiles(latest), log_key)
        .map_err(|e| format!("{log}: {e}"))
}

/// `anchor` in a build without the chain client: `verify_config` refused already.
#[cfg(not(feature = "chain"))]
fn check_anchor(
    _root: &Path,
    config: &ChainConfig,
    _cp: &Checkpoint,
    _log_key: &Ed25519Verifier,
    _log_arg: Option<&str>,
    _checks: &mut Checks,
) -> Result<()> {
    match *config {}
}

/// `anchor`: the bundle's checkpoint is anchored on chain exactly, or a later anchored
/// checkpoint extends it (proved with `--log`, or this home's log when it is the same log).
#[cfg(feature = "chain")]
fn check_anchor(
    root: &Path,
    config: &ChainConfig,
    cp: &Checkpoint,
    log_key: &Ed25519Verifier,
    log_arg: Option<&str>,
    checks: &mut Checks,
) -> Result<()> {
    let id = config.chain_id;
    let rec = match chain::find_anchor(config, cp, log_key)? {
        chain::AnchorFinding::Fail(why) => {
            checks.fail("anchor", why);
            return Ok(());
        }
        chain::AnchorFinding::Exact(rec) => {
            checks.pass(
                "anchor",
                format!(
                    "the checkpoint (size {}, root {}) is anchored on chain {id} in block {}, transaction {} (by {})",
                    cp.size, cp.root, rec.block, rec.tx, rec.submitter
                ),
            );
            return Ok(());
        }
        chain::AnchorFinding::Later(rec) => rec,
    };
    // A later checkpoint is anchored: prove the bundle's is a prefix of it.
    let log = match log_arg {
        Some(arg) => Some(LogSource::parse(arg).map_err(anyhow::Error::msg)?),
        None => home_log(root, log_key),
    };
    let Some(log) = log else {
        checks.fail(
            "anchor",
            format!(
                "the checkpoint (size {}) is not anchored itself; chain {id} anchors a later one (size {}, block {}, transaction {}), which covers it only with a consistency proof from the log: pass --log DIR|URL (the processor's log) to prove it",
                cp.size, rec.size, rec.block, rec.tx
            ),
        );
        return Ok(());
    };
    match extends(&log, cp, Some(rec.note.as_slice()), log_key) {
        Ok(later) => checks.pass(
            "anchor",
            format!(
                "the checkpoint (size {}) is consistent with the log's checkpoint anchored on chain {id} at size {} (root {}) in block {}, transaction {} (by {}); proof from {log}",
                cp.size, later.size, later.root, rec.block, rec.tx, rec.submitter
            ),
        ),
        Err(e) => checks.fail(
            "anchor",
            format!(
                "chain {id} anchors a later checkpoint (size {}, block {}, transaction {}), but it does not extend the bundle's (size {}): {e}",
                rec.size, rec.block, rec.tx, cp.size
            ),
        ),
    }
    Ok(())
}

/// This home's log, when it is the log of `log_key`.
#[cfg(feature = "chain")]
fn home_log(root: &Path, log_key: &Ed25519Verifier) -> Option<LogSource> {
    let home = Home::open(root).ok()?;
    let ledger = home.ledger_read().ok()?;
    if ledger.verifier_key() != log_key.to_string() {
        return None;
    }
    LogSource::parse(&ledger.tiles_dir().display().to_string()).ok()
}

/// `results`: the files of a results folder, hashed here, are exactly the receipt's results.
fn check_results_dir(dir: &Path, statement: &ReceiptStatement, checks: &mut Checks) -> Result<()> {
    let tree = match hash_tree(dir, &[Algorithm::Sha256], &no_progress) {
        Ok(t) => t,
        Err(e) => {
            checks.fail("results", format!("{}: {e}", dir.display()));
            return Ok(());
        }
    };
    let files: Vec<(String, Digest)> = tree
        .files
        .iter()
        .filter_map(|f| Some((f.path.clone(), *f.digests.sha256()?)))
        .collect();
    check_results(statement, &files, &dir.display().to_string(), checks);
    Ok(())
}

/// `file`: a file given on the command line (or the execution log beside the receipt), hashed
/// here, is a result or the execution log of the receipt.
fn check_file(file: &Path, statement: &ReceiptStatement, checks: &mut Checks) -> Result<()> {
    let digest = match hash_file(file, &[Algorithm::Sha256], &no_progress) {
        Ok(d) => d.sha256().copied(),
        Err(e) => {
            checks.fail("file", e.to_string());
            return Ok(());
        }
    };
    match digest {
        Some(d) => check_subjects(statement, &[(file.display().to_string(), d)], checks),
        None => checks.fail("file", format!("{}: no sha256 computed", file.display())),
    }
    Ok(())
}

fn finish(
    checks: Checks,
    st: Option<&ReceiptStatement>,
    as_json: bool,
    quiet: bool,
) -> Result<Done> {
    let ok = checks.all_ok();
    if as_json {
        outln!("{}", crate::json::pretty(&report(&checks, st))?);
        return Ok(Done(if ok { 0 } else { 4 }));
    }
    if !quiet || !ok {
        checks.print()?;
    }
    if let (Some(st), false) = (st, quiet) {
        let s = summary(st);
        // The names, times and statuses are the receipt's: the job chose its result names,
        // the requester its inputs'. Shown with control and bidi characters escaped.
        fn text<'a>(v: Option<&'a str>, or: &'static str) -> std::borrow::Cow<'a, str> {
            escape(v.unwrap_or(or))
        }
        outln!();
        outln!("what the processor attests:");
        outln!("  job        {}", text(s.job.as_deref(), "?"));
        outln!("  processor  {}", escape(&s.processor));
        for i in &s.inputs {
            outln!(
                "  {:<10} {}  sha256:{}",
                text(i.role.as_deref(), "input"),
                text(i.name.as_deref(), "?"),
                text(i.sha256(), "?")
            );
        }
        outln!(
            "  ran        {} -> {}",
            text(s.started_on.as_deref(), "(not started)"),
            text(s.finished_on.as_deref(), "?")
        );
        match &s.outcome {
            Some(o) => outln!(
                "  status     {}{}",
                o.status,
                o.exit_code
                    .map(|c| format!(", exit code {c}"))
                    .unwrap_or_default()
            ),
            None => outln!("  status     ?"),
        }
        if let Some(u) = s.outcome.as_ref().and_then(|o| o.resource_usage.as_ref()) {
            outln!(
                "  usage      cpu {}s user + {}s sys, wall {}s, max rss {} bytes, output {} bytes",
                seconds(u.user_cpu),
                seconds(u.system_cpu),
                seconds(u.wall),
                u.max_rss_bytes,
                u.output_bytes
            );
        }
        for r in &s.results {
            outln!(
                "  result     {}  sha256:{}",
                text(r.name.as_deref(), "?"),
                text(r.sha256(), "?")
            );
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
