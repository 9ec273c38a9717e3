//! The HTTP API: one table of routes (checked against `openapi.json` by a test), one router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::state::Node;
use crate::{tiles, ui};

mod assets;
mod audit;
mod info;
mod jobs;
mod por;
mod verify;

/// Every route the node serves, as `(method, OpenAPI path)`. The router below and
/// `openapi.json` must both match this list (tested).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/info"),
    ("post", "/api/objects"),
    ("post", "/api/assets"),
    ("get", "/api/assets"),
    ("get", "/api/assets/{kind}/{name}"),
    ("post", "/api/jobs"),
    ("get", "/api/jobs"),
    ("get", "/api/jobs/{id}"),
    ("post", "/api/jobs/{id}/cancel"),
    ("get", "/api/jobs/{id}/receipt"),
    ("get", "/api/jobs/{id}/bundle"),
    ("get", "/api/jobs/{id}/results"),
    ("get", "/api/jobs/{id}/results/{path}"),
    ("get", "/api/jobs/{id}/log"),
    ("get", "/api/audit"),
    ("get", "/api/checkpoints"),
    ("post", "/api/verify"),
    ("post", "/api/por/{kind}/{name}"),
    ("get", "/log/checkpoint"),
    ("get", "/log/tile/{path}"),
    ("get", "/"),
    ("get", "/ui/{file}"),
];

/// The node's router. Bodies are read by the handlers under the node's own limits (so
/// axum's default limit is lifted here and enforced there with JSON errors).
pub fn router(node: Arc<Node>) -> Router {
    let timeout = crate::body::Pace {
        idle: Duration::from_secs(node.config.request_timeout_secs),
        min_rate: node.config.min_body_bytes_per_sec.max(1),
    };
    Router::new()
        .route("/healthz", get(info::health))
        .route("/api/info", get(info::info))
        .route("/api/objects", post(assets::upload))
        .route("/api/assets", post(assets::publish).get(assets::list))
        .route("/api/assets/{kind}/{name}", get(assets::show))
        .route("/api/jobs", post(jobs::submit).get(jobs::list))
        .route("/api/jobs/{id}", get(jobs::show))
        .route("/api/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/jobs/{id}/receipt", get(jobs::receipt))
        .route("/api/jobs/{id}/bundle", get(jobs::bundle))
        .route("/api/jobs/{id}/results", get(jobs::results))
        .route("/api/jobs/{id}/results/{*path}", get(jobs::result_file))
        .route("/api/jobs/{id}/log", get(jobs::execution_log))
        .route("/api/audit", get(audit::query))
        .route("/api/checkpoints", get(info::checkpoints))
        .route("/api/verify", post(verify::verify))
        .route("/api/por/{kind}/{name}", post(por::respond))
        .route("/log/checkpoint", get(tiles::checkpoint))
        .route("/log/tile/{*path}", get(tiles::tile))
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .fallback(info::not_found)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(node.clone(), guard))
        .layer(TraceLayer::new_for_http())
        .layer(axum::Extension(timeout))
        .with_state(node)
}

/// Whether a request may append to the log (an upload, publish, submit, cancel, a dataset's
/// proof of retrievability, a download with its audit event): refused while the log cannot
/// be written. Reads and `POST /api/verify` are served all the same.
pub fn writes_log(method: &Method, path: &str) -> bool {
    if method == Method::POST {
        return path != "/api/verify";
    }
    let mut parts = path.trim_start_matches('/').split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("api"), Some("jobs"), Some(_), Some("results" | "log"))
    )
}

/// Every request passes here: while the log cannot be written (a failed write; the node
/// tries to reopen it, at most once a second) what would write it gets 503 with
/// `Retry-After`; and every error response leaves as `{"error","message"}` JSON, with the
/// home's absolute path written `HOME`.
async fn guard(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path: String = request.uri().path().chars().take(200).collect();
    if node.ledger.writer_fault().is_some() && writes_log(&method, &path) {
        let n = node.clone();
        let fault = tokio::task::spawn_blocking(move || n.log_fault())
            .await
            .unwrap_or_else(|e| Some(e.to_string()));
        if let Some(fault) = fault {
            return crate::error::ApiError::unavailable(format!(
                "the node cannot write its log right now ({fault}); it refuses work until the log \
                 is writable again (it retries by itself); retry in a few seconds"
            ))
            .retry_after(5)
            .into_response();
        }
    }
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let response = next.run(request).await;
    let mut response = crate::error::json_errors(method, path, response, |m| node.scrub(m)).await;
    if has_body && !response.status().is_success() {
        // A refusal may leave the body unread, and then hyper does not reuse the connection:
        // say so, or a client that sends its next request on it sees it close unanswered.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
