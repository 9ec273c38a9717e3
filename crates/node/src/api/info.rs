//! Health, node information, checkpoints, and the JSON 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

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
    let mut body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "jobs": { "queued": queued, "running": running },
        "log": { "size": node.ledger.size() },
    });
    match fault {
        None => Json(body).into_response(),
        Some(fault) => {
            body["reason"] = json!(format!(
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
pub async fn info(State(node): State<Arc<Node>>) -> Json<Value> {
    let c = &node.config;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "processor": {
            "keyId": node.processor_id().to_string(),
            "publicKey": node.processor_public().to_base64(),
        },
        "log": {
            "origin": node.ledger.origin().as_str(),
            "verifierKey": node.ledger.verifier_key(),
            "size": node.ledger.size(),
            "tiles": "/log/",
        },
        "owners": node.owners,
        "authority": node.authorities(),
        "anchor": node.anchoring.as_ref().and_then(|a| a.last()),
        "limits": {
            "maxConcurrentJobs": c.max_concurrent_jobs,
            "maxQueuedPerRequester": c.max_queued_per_requester,
            "queueTimeoutSecs": c.queue_timeout_secs,
            "maxUploadBytes": c.max_upload_bytes,
            "maxJsonBytes": c.max_json_bytes,
            "signatureMaxAgeSecs": c.signature_max_age_secs,
            "requestTimeoutSecs": c.request_timeout_secs,
            "minBodyBytesPerSec": c.min_body_bytes_per_sec,
            "maxConnections": c.max_connections,
        },
        "auth": {
            "scheme": "RFC 9421 HTTP Message Signatures, Ed25519",
            "label": crate::auth::LABEL,
            "components": crate::auth::REQUIRED,
            "componentsWithBody": crate::auth::REQUIRED_WITH_BODY,
            "keyid": "base64 of the caller's 32-byte Ed25519 public key",
        },
    }))
}

/// `GET /api/checkpoints`: the latest signed checkpoint.
pub async fn checkpoints(State(node): State<Arc<Node>>) -> ApiResult<Json<Value>> {
    let (checkpoint, note) = node.ledger.checkpoint().map_err(ApiError::internal)?;
    Ok(Json(json!({
        "latest": {
            "origin": checkpoint.origin.as_str(),
            "size": checkpoint.size.get(),
            "rootHash": base64_std(checkpoint.root.as_bytes()),
            "note": note,
        },
        "verifierKey": node.ledger.verifier_key(),
    })))
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
