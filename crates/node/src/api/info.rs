//! Health, node information, checkpoints, and the JSON 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::state::Node;

/// `GET /healthz`: answers while the node serves; says `stopping` during shutdown.
pub async fn health(State(node): State<Arc<Node>>) -> Json<Value> {
    let (queued, running) = node.queue.counts();
    Json(json!({
        "status": if node.is_stopping() { "stopping" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "jobs": { "queued": queued, "running": running },
        "log": { "size": node.ledger.size() },
    }))
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
        "anchor": node.anchoring.as_ref().and_then(|a| a.last()),
        "limits": {
            "maxConcurrentJobs": c.max_concurrent_jobs,
            "maxQueuedPerRequester": c.max_queued_per_requester,
            "queueTimeoutSecs": c.queue_timeout_secs,
            "maxUploadBytes": c.max_upload_bytes,
            "maxJsonBytes": c.max_json_bytes,
            "signatureMaxAgeSecs": c.signature_max_age_secs,
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
