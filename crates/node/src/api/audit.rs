//! `GET /api/audit`: the audit trail (the log's event entries), filtered and paginated by log
//! index.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use poex_client::wire::{AuditItem, AuditPage};
use poex_store::audit::{Filter, Operation};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ApiError, ApiResult};
use crate::state::Node;

/// Query parameters.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    object: Option<String>,
    operation: Option<String>,
    job: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<usize>,
    /// Only events at log indexes after this one (the previous page's `next`).
    after: Option<u64>,
}

fn time_param(name: &str, value: Option<&str>) -> ApiResult<Option<OffsetDateTime>> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|e| {
                ApiError::bad_request(format!(
                    "{name}={v:?} is not an RFC 3339 time like 2026-11-21T10:00:00Z: {e}"
                ))
            })
        })
        .transpose()
}

/// `GET /api/audit`.
pub async fn query(
    State(node): State<Arc<Node>>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let operation = q
        .operation
        .as_deref()
        .map(|o| {
            o.parse::<Operation>()
                .map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .transpose()?;
    let filter = Filter {
        actor: q.actor.clone(),
        operation,
        object: q.object.clone(),
        job: q.job.clone(),
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let after = q.after;
    let events = tokio::task::spawn_blocking(move || node.ledger.events(&filter))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut page: Vec<_> = events
        .into_iter()
        .filter(|(i, _)| after.is_none_or(|a| i.get() > a))
        .collect();
    page.sort_by_key(|(i, _)| i.get());
    let more = page.len() > limit;
    page.truncate(limit);
    let next = if more {
        page.last().map(|(i, _)| i.get())
    } else {
        None
    };
    let events = page
        .into_iter()
        .map(|(i, event)| AuditItem {
            index: i.get(),
            event,
        })
        .collect();
    Ok(Json(AuditPage { events, next }))
}
