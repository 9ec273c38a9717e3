//! `poex audit`: query the audit trail, which is the transparency log's `event` entries.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use poex_store::audit::Filter;
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
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        } else {
            writeln!(
                out,
                "{}  {:<14} {:<16} {}{}{}",
                e.time,
                e.operation.name(),
                &e.actor[..e.actor.len().min(16)],
                e.object,
                e.digest.map(|d| format!("  {d}")).unwrap_or_default(),
                e.job
                    .as_deref()
                    .map(|j| format!("  job {j}"))
                    .unwrap_or_default(),
            )?;
            if let Some(d) = &e.detail {
                writeln!(out, "{:>30}{d}", "")?;
            }
        }
    }
    Ok(Done(0))
}

/// `poex audit validate`.
fn validate(root: &Path, from: &Option<String>, to: &Option<String>, json: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let from = time_arg("--from", from)?;
    let to = time_arg("--to", to)?;
    let _ = (home, from, to, json);
    anyhow::bail!("poex audit validate: not implemented yet")
}
