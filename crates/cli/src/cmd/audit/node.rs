//! `poex --node URL audit [filters]`: the node's audit trail (`GET /api/audit`), every page,
//! printed as a local `poex audit` prints it.

use std::io::Write as _;

use anyhow::Result;
use poex_client::{Client, query};

use crate::Done;
use crate::args::AuditArgs;

/// Events per page asked for (the node's maximum).
const PAGE: usize = 1000;

pub fn audit(client: &Client, args: AuditArgs) -> Result<Done> {
    if let Some(op) = &args.operation {
        // The node says the same, but a typo is better caught before the request.
        op.parse::<poex_store::audit::Operation>()?;
    }
    let mut out = std::io::stdout().lock();
    let mut after: Option<u64> = None;
    loop {
        let q = query(&[
            ("actor", args.actor.clone()),
            ("object", args.object.clone()),
            ("operation", args.operation.clone()),
            ("job", args.job.clone()),
            ("since", args.since.clone()),
            ("until", args.until.clone()),
            ("limit", Some(PAGE.to_string())),
            ("after", after.map(|a| a.to_string())),
        ]);
        let page = client.audit(&q)?;
        for item in &page.events {
            let e = &item.event;
            if args.json {
                writeln!(out, "{}", crate::json::line(&e)?)?;
            } else {
                crate::cmd::audit::print_event(&mut out, e)?;
            }
        }
        match page.next {
            Some(n) if after != Some(n) => after = Some(n),
            _ => break,
        }
    }
    Ok(Done(0))
}
