//! `POST /api/por/{kind}/{name}`: answer a proof-of-retrievability challenge about a stored
//! asset (docs/por.md).
//!
//! The answer holds `k` chunks of the asset's bytes. An algorithm is public (anyone can list
//! and run it), so anyone may challenge it, unsigned. A dataset's bytes are its owner's: the
//! challenge must be signed (RFC 9421, as every signed call) by a node owner or a requester
//! the dataset's policy allows, each answer is an audit event naming who received how many
//! chunks, and a refusal is a logged denial.
//!
//! The node keeps each object's outboard (the BLAKE3 tree's CVs at 16 KiB-group level and
//! above, 0.39 % of the object) at `HOME/por/<blake3 hex>.outboard`, built on the first
//! challenge (one pass over the object), and checks each answer against the root before
//! sending it: a damaged outboard is rebuilt; a damaged object is answered honestly (the
//! challenger will see the failing chunks) and logged as an error here.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use poex_por::Challenge;
use poex_store::audit::{Event, Operation};
use poex_store::registry::{AssetKind, Name};

use crate::auth;
use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::state::Node;

/// `POST /api/por/{kind}/{name}`: the JSON challenge in, the binary response out.
pub async fn respond(
    State(node): State<Arc<Node>>,
    Extension(timeout): Extension<body::Pace>,
    UrlPath((kind, name)): UrlPath<(String, String)>,
    request: Request,
) -> ApiResult<Response> {
    let kind = match kind.as_str() {
        "dataset" => AssetKind::Dataset,
        "algorithm" => AssetKind::Algorithm,
        other => {
            return Err(ApiError::bad_request(format!(
                "kind {other:?} is neither \"dataset\" nor \"algorithm\""
            )));
        }
    };
    let parsed =
        Name::new(name.as_str()).map_err(|e| ApiError::bad_request(format!("name: {e}")))?;
    let record = node
        .home
        .store
        .registry()
        .get(kind, &parsed)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no {kind} named {name:?} on this node")))?;
    // Datasets: a signed caller with a right to the data. Algorithms: anyone.
    let (caller, bytes) = if kind == AssetKind::Dataset {
        let (caller, parts, bytes) = auth::signed_json(&node, request, timeout).await?;
        let who = caller.id();
        if !node.is_owner(&who) && !record.allows_requester(&who) {
            let why = format!(
                "only the node's owners and the requesters dataset {name:?} allows may challenge it \
                 (its answer holds its bytes); you are {who}"
            );
            auth::deny(&node, &who, &parts, &why);
            return Err(ApiError::forbidden(why));
        }
        (Some(who), bytes)
    } else {
        let (parts, stream) = request.into_parts();
        body::require_type(&parts.headers, &["application/json"])?;
        let (bytes, _) = body::read_all(stream, node.config.max_json_bytes as u64, timeout).await?;
        (None, bytes)
    };
    let challenge = Challenge::from_json(&body::integral_numbers(&bytes))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (digest, size) = record.stored_file().ok_or_else(|| {
        ApiError::conflict(format!(
            "{kind} {name:?} is a folder kept as many files: its blake3 is the digest of its manifest, \
             not of one file's BLAKE3 tree, so it has no proof of retrievability; challenge \
             single-file assets (or folders sealed at rest, which are stored as one file)"
        ))
    })?;
    if *challenge.root() != digest || challenge.size() != size {
        return Err(ApiError::conflict(format!(
            "the challenge is about {}, {} bytes; {kind} {name:?} is {digest}, {} bytes: \
             challenge with the record's digest and size (GET /api/assets/{kind}/{name})",
            challenge.root(),
            challenge.size(),
            size
        )));
    }
    let object = node
        .home
        .store
        .objects()
        .path_of(&digest)
        .map_err(ApiError::internal)?;
    let dir = node.home.root.join("por");
    let outboard = dir.join(format!("{}.outboard", digest.hex()));
    let ch = challenge.clone();
    let answer = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        poex_por::respond_file(&object, Some(&outboard), &ch).map_err(std::io::Error::other)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    if let Err(e) = &answer.self_check {
        tracing::error!(asset = %name, %kind, error = %e, "a stored object fails its own proof of retrievability");
    }
    let encoded = answer.response.to_bytes();
    if let Some(who) = caller {
        let mut ev = Event::now(who.as_str(), Operation::ReadDataset, name.as_str());
        ev.digest = record.digests.sha256().copied();
        ev.detail = Some(format!(
            "proof of retrievability: {} chunks ({} bytes of the dataset) sent to {who}",
            answer.response.chunk_count(),
            answer.response.data_len()
        ));
        node.audit(vec![ev]);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        encoded,
    )
        .into_response())
}
