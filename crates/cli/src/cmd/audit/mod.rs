//! `poex audit`: query the audit trail, which is the transparency log's `event` entries.

pub mod node;

use std::io::Write as _;
use std::path::Path;

use std::ops::Bound;

use anyhow::{Context as _, Result, bail};
use poex_core::display::escape;
use poex_ledger::Entry;
use poex_ledger::ledger::default_origin;
use poex_log::note::Ed25519Verifier;
use poex_log_store::{CHECKPOINT_PATH, FileStore, validate_range};
use poex_store::audit::{Event, Filter};
use poex_store::registry::AssetKind;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Done;
use crate::args::{AuditArgs, AuditCommand};
use crate::home::Home;

fn time_arg(flag: &str, value: &Option<String>) -> Result<Option<OffsetDateTime>> {
    value
        .as_deref()
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).with_context(|| {
                format!("{flag} {v:?}: give an RFC 3339 time such as 2026-11-21T12:00:00Z")
            })
        })
        .transpose()
}

pub fn audit(root: &Path, args: AuditArgs) -> Result<Done> {
    if let Some(AuditCommand::Validate { from, to, json }) = &args.command {
        return validate(root, from, to, *json);
    }
    let home = Home::open(root)?;
    let filter = Filter {
        actor: args.actor.clone(),
        operation: args.operation.as_deref().map(str::parse).transpose()?,
        object: args.object.clone(),
        job: args.job.clone(),
        since: time_arg("--since", &args.since)?,
        until: time_arg("--until", &args.until)?,
    };
    let events = home.ledger_read()?.events(&filter)?;
    let mut out = std::io::stdout().lock();
    for (_, e) in &events {
        if args.json {
            writeln!(out, "{}", crate::json::line(e)?)?;
        } else {
            print_event(&mut out, e)?;
        }
    }
    Ok(Done(0))
}

/// One event as `poex audit` prints it (and `poex --node URL audit`): a line of time,
/// operation, actor (its first 16 characters), object, digest and job, then the detail on a
/// line of its own. Objects, jobs and details name what requesters asked for and what jobs
/// wrote, so every field is shown with control and bidi characters escaped.
pub(crate) fn print_event(out: &mut impl std::io::Write, e: &Event) -> std::io::Result<()> {
    let actor: String = e.actor.chars().take(16).collect();
    writeln!(
        out,
        "{}  {:<14} {:<16} {}{}{}",
        escape(&e.time),
        e.operation.name(),
        escape(&actor),
        escape(&e.object),
        e.digest.map(|d| format!("  {d}")).unwrap_or_default(),
        e.job
            .as_deref()
            .map(|j| format!("  job {}", escape(j)))
            .unwrap_or_default(),
    )?;
    if let Some(d) = &e.detail {
        writeln!(out, "{:>30}{}", "", escape(d))?;
    }
    Ok(())
}

/// `poex audit validate`: the whole-log audit, plus a check that every registry record is in
/// the log (the registry files are what `poex run` trusts; the log is what makes them provable).
fn validate(root: &Path, from: &Option<String>, to: &Option<String>, json: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let from = time_arg("--from", from)?;
    let to = time_arg("--to", to)?;
    let tiles = home.ledger_dir().join("log");
    if !tiles.join(CHECKPOINT_PATH).exists() {
        bail!(
            "no log in {}: nothing to validate (it is created by `poex init`, the first publish or run)",
            tiles.display()
        );
    }
    let log_key = home.log_public()?;
    let verifier = Ed25519Verifier::new(default_origin(&log_key).as_str(), log_key.as_bytes())?;
    let store = FileStore::open_read_only(&tiles)
        .with_context(|| format!("opening {}", tiles.display()))?;
    // Read-only: a writer may be running; its `.tmp/` files must survive the audit.
    // The reader gives the time index (for --from/--to) and the registry cross-check; a log
    // too damaged to open still gets the full walk.
    let reader = home.ledger_read();
    let mut notes = Vec::new();
    let range = match (&reader, from.is_some() || to.is_some()) {
        (_, false) => None,
        (Ok(ledger), true) => {
            let start = from.map_or(Bound::Unbounded, Bound::Included);
            let end = to.map_or(Bound::Unbounded, Bound::Excluded);
            let hits = ledger.by_time((start, end))?;
            let lo = hits.iter().map(|i| i.get()).min();
            let hi = hits.iter().map(|i| i.get()).max();
            match (lo, hi) {
                (Some(lo), Some(hi)) => Some(lo..hi + 1),
                _ => {
                    notes.push("no entry is dated in that time range".to_owned());
                    Some(0..0)
                }
            }
        }
        (Err(e), true) => {
            notes.push(format!(
                "the log's time index is unreadable ({e:#}); checking every entry instead"
            ));
            None
        }
    };
    let report = validate_range(&store, &verifier, range.clone());

    let unlogged = match &reader {
        Ok(ledger) => match unlogged_records(&home, ledger) {
            Ok(u) => u,
            Err(e) => {
                notes.push(format!(
                    "registry records not cross-checked: reading the log failed ({e:#}); see the findings"
                ));
                Vec::new()
            }
        },
        Err(e) => {
            notes.push(format!(
                "registry records not cross-checked: the log does not open ({e:#})"
            ));
            Vec::new()
        }
    };

    // A job ends once: a second receipt for it (e.g. `succeeded`, then `interrupted` signed
    // by a node that restarted without finding the first) contradicts the first.
    let several = match &reader {
        Ok(ledger) => match ledger.jobs_with_several_receipts() {
            Ok(s) => s,
            Err(e) => {
                notes.push(format!(
                    "receipts per job not checked: reading the log failed ({e:#}); see the findings"
                ));
                Vec::new()
            }
        },
        Err(_) => Vec::new(),
    };
    let several_text = |job: &str, at: &[poex_ledger::LogIndex]| {
        format!(
            "job {job} has {} receipts in the log (entries {}); a job ends once, so they contradict each other",
            at.len(),
            at.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let problems =
        report.findings.iter().filter(|f| f.is_problem()).count() + unlogged.len() + several.len();
    let valid = problems == 0;
    if json {
        let findings: Vec<_> = report
            .findings
            .iter()
            .map(|f| {
                json!({
                    "kind": f.kind(),
                    "problem": f.is_problem(),
                    "path": f.path(),
                    "index": f.index(),
                    "count": f.count(),
                    "message": f.to_string(),
                })
            })
            .chain(unlogged.iter().map(|k| {
                json!({
                    "kind": "record_not_logged",
                    "problem": true,
                    "path": format!("registry/{k}"),
                    "message": format!("registry record {k} is not in the log"),
                })
            }))
            .chain(several.iter().map(|(job, at)| {
                json!({
                    "kind": "job_receipts",
                    "problem": true,
                    "job": job,
                    "indexes": at.iter().map(|i| i.get()).collect::<Vec<_>>(),
                    "message": several_text(job, at),
                })
            }))
            .collect();
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "valid": valid,
                "log": tiles,
                "origin": report.checkpoint.as_ref().map(|c| c.origin.to_string()),
                "size": report.checkpoint.as_ref().map(|c| c.size.get()),
                "root": report.checkpoint.as_ref().map(|c| c.root.to_hex()),
                "checked": {"from": report.range.start, "to": report.range.end},
                "keptCheckpoints": report.history,
                "notes": notes,
                "findings": findings,
            }))?
        );
        return Ok(Done(if valid { 0 } else { 4 }));
    }
    match &report.checkpoint {
        Some(cp) => outln!(
            "log {} ({}): {} entries, root {}",
            cp.origin,
            tiles.display(),
            cp.size,
            cp.root
        ),
        None => outln!("log {}: no valid checkpoint", tiles.display()),
    }
    outln!(
        "checked entries {}..{} (every tile above them), {} kept checkpoint(s) and their consistency",
        report.range.start,
        report.range.end,
        report.history
    );
    // Findings and notes may quote what a damaged log holds.
    for n in &notes {
        outln!("note: {}", escape(n));
    }
    for f in &report.findings {
        let mark = if f.is_problem() { "FAIL" } else { "info" };
        outln!("{mark} {:<22} {}", f.kind(), escape(&f.to_string()));
    }
    for k in &unlogged {
        outln!(
            "FAIL {:<22} registry record {} is not in the log",
            "record_not_logged",
            escape(k)
        );
    }
    for (job, at) in &several {
        outln!("FAIL {:<22} {}", "job_receipts", several_text(job, at));
    }
    if valid {
        outln!(
            "valid: every tile recomputes from the entries and every kept checkpoint is consistent"
        );
    } else {
        outln!("NOT VALID: {problems} problem(s) above");
    }
    Ok(Done(if valid { 0 } else { 4 }))
}

/// Registry records (`kind/name`) that have no identical `record` entry in the log.
fn unlogged_records(home: &Home, ledger: &poex_ledger::Ledger) -> Result<Vec<String>> {
    let mut unlogged = Vec::new();
    for kind in [AssetKind::Dataset, AssetKind::Algorithm] {
        for record in home.store.registry().list(kind)? {
            let key = format!("{kind}/{}", record.name);
            let logged = ledger
                .entries(&ledger.by_asset(&key)?)?
                .into_iter()
                .any(|l| matches!(&l.entry, Entry::Record(r) if *r == record));
            if !logged {
                unlogged.push(key);
            }
        }
    }
    Ok(unlogged)
}
