//! Health, node information, checkpoints, and the JSON 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use poex_client::wire::{
    Auth, CheckpointView, Checkpoints, Health, Info, JobCounts, Limits, LogInfo, LogSize, Processor,
};

use crate::error::{ApiError, ApiResult};
use crate::state::Node;

/// `GET /healthz`: 200 `ok` while the node serves (`stopping` during shutdown); 503
/// `unhealthy`, with `Retry-After` and the reason, while its log cannot be written (it
/// refuses work then, and tries to reopen the log, at most once a second).
pub async fn health(State(node): State<Arc<Node>>) -> Response {
    let fault = if node.ledger.writer_fault().is_some() {
        let n = node.clone();
        tokio::task::spawn_blocking(move || n.log_fault())
            .await
            .unwrap_or_else(|e| Some(e.to_string()))
    } else {
        None
    };
    let (queued, running) = node.queue.counts();
    let status = match (&fault, node.is_stopping()) {
        (Some(_), _) => "unhealthy",
        (None, true) => "stopping",
        (None, false) => "ok",
    };
    let mut body = Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        jobs: JobCounts { queued, running },
        log: LogSize {
            size: node.ledger.size(),
        },
        reason: None,
    };
    match fault {
        None => Json(body).into_response(),
        Some(fault) => {
            body.reason = Some(format!(
                "the log cannot be written ({fault}); the node refuses work that writes it until it can"
            ));
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
                Json(body),
            )
                .into_response()
        }
    }
}

/// `GET /api/info`: what a client needs to trust and talk to this node.
pub async fn info(State(node): State<Arc<Node>>) -> Json<Info> {
    let c = &node.config;
    let strings = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    Json(Info {
        version: env!("CARGO_PKG_VERSION").into(),
        processor: Processor {
            key_id: node.processor_id().to_string(),
            public_key: node.processor_public().to_base64(),
        },
        log: LogInfo {
            origin: node.ledger.origin().as_str().into(),
            verifier_key: node.ledger.verifier_key(),
            size: node.ledger.size(),
            tiles: "/log/".into(),
        },
        owners: node.owners.clone(),
        authority: node.authorities(),
        anchor: node.anchoring.as_ref().and_then(|a| a.last()),
        limits: Limits {
            max_concurrent_jobs: c.max_concurrent_jobs,
            max_queued_per_requester: c.max_queued_per_requester,
            queue_timeout_secs: c.queue_timeout_secs,
            max_upload_bytes: c.max_upload_bytes,
            max_json_bytes: c.max_json_bytes,
            signature_max_age_secs: c.signature_max_age_secs,
            request_timeout_secs: c.request_timeout_secs,
            min_body_bytes_per_sec: c.min_body_bytes_per_sec,
            max_connections: c.max_connections,
        },
        auth: Auth {
            scheme: "RFC 9421 HTTP Message Signatures, Ed25519".into(),
            label: crate::auth::LABEL.into(),
            components: strings(crate::auth::REQUIRED),
            components_with_body: strings(crate::auth::REQUIRED_WITH_BODY),
            keyid: "base64 of the caller's 32-byte Ed25519 public key".into(),
        },
    })
}

/// `GET /api/checkpoints`: the latest signed checkpoint.
pub async fn checkpoints(State(node): State<Arc<Node>>) -> ApiResult<Json<Checkpoints>> {
    let (checkpoint, note) = node.ledger.checkpoint().map_err(ApiError::internal)?;
    Ok(Json(Checkpoints {
        latest: CheckpointView {
            origin: checkpoint.origin.as_str().into(),
            size: checkpoint.size.get(),
            root_hash: base64_std(checkpoint.root.as_bytes()),
            note,
        },
        verifier_key: node.ledger.verifier_key(),
    }))
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Any other path.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {}; see /api/info and docs/node.md",
        uri.path()
    ))
}
