//! `POST /api/verify`: run every check of `poex verify` on a proof bundle, under this node's
//! processor and log keys, plus consistency with this node's current log and, optionally, the
//! SHA-256 of result files the caller holds (the web page hashes them in the browser: the
//! files never leave the caller's machine).
//!
//! This is a convenience: the node vouches for nothing here that the caller could not check
//! offline with `poex verify BUNDLE --log-key ...` (docs/proof-bundle.md).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::{Extension, Json};
use poex_client::wire::{Trusted, Verdict, VerifyRequest};
use poex_core::Digest;

use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::state::Node;

/// `POST /api/verify`.
pub async fn verify(
    State(node): State<Arc<Node>>,
    Extension(timeout): Extension<body::Pace>,
    request: Request,
) -> ApiResult<Json<Verdict>> {
    let (parts, body_stream) = request.into_parts();
    body::require_type(&parts.headers, &["application/json"])?;
    body::check_length(&parts.headers, node.config.max_json_bytes as u64 * 8)?;
    let (bytes, _) =
        body::read_all(body_stream, node.config.max_json_bytes as u64 * 8, timeout).await?;
    let req: VerifyRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"bundle\": <proof bundle>, \"files\": [{{\"name\", \"sha256\"}}]}}: {e}"
        ))
    })?;
    if !req.bundle.is_object() {
        return Err(ApiError::bad_request(
            "bundle must be a JSON object: a proof bundle as the node or `poex run` wrote it",
        ));
    }
    let mut files = Vec::new();
    for f in &req.files {
        let d: Digest = f
            .sha256
            .parse()
            .map_err(|e| ApiError::bad_request(format!("files: {:?}: {e}", f.name)))?;
        files.push((f.name.clone(), d));
    }
    let bundle_bytes = serde_json::to_vec(&req.bundle).map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || {
        let processor = node.processor_public();
        let trust = poex_verify::checks::Trust {
            processor: &processor,
            processor_source: "this node's processor key",
            log: node.ledger.verifier(),
            log_source: "this node's log key",
        };
        let (mut checks, verified) =
            poex_verify::checks::check_bundle(&bundle_bytes, "the bundle", &trust);
        if let Some(v) = &verified {
            if !files.is_empty() {
                poex_verify::checks::check_subjects(&v.statement, &files, &mut checks);
            }
            consistency(&node, v, &mut checks);
        }
        Ok(Json(Verdict {
            ok: checks.all_ok(),
            checks,
            trusted: Trusted {
                processor_key_id: node.processor_id().to_string(),
                log_verifier_key: node.ledger.verifier_key(),
            },
        }))
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether this node's log today extends the bundle's checkpoint (a fork would show here).
fn consistency(
    node: &Node,
    verified: &poex_verify::Verified,
    checks: &mut poex_verify::checks::Checks,
) {
    let (_, note) = match node.ledger.checkpoint() {
        Ok(c) => c,
        Err(e) => {
            checks.fail("consistency", format!("this node's checkpoint: {e}"));
            return;
        }
    };
    let tiles = poex_log_store::dir::DirFiles::tiles(node.ledger.tiles_dir(), node.ledger.size());
    match poex_verify::bundle::verify_extends_from_tiles(
        &verified.checkpoint,
        note.as_bytes(),
        &tiles,
        node.ledger.verifier(),
    ) {
        Ok(later) => checks.pass(
            "consistency",
            format!(
                "this node's log at size {} extends the bundle's checkpoint (size {})",
                later.size.get(),
                verified.checkpoint.size.get()
            ),
        ),
        Err(e) => checks.fail("consistency", e.to_string()),
    }
}
