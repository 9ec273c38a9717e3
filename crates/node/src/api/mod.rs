//! The HTTP API: one table of routes (checked against `openapi.json` by a test), one router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
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
    let timeout = Duration::from_secs(node.config.request_timeout_secs);
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
        .layer(TraceLayer::new_for_http())
        .layer(axum::Extension(timeout))
        .with_state(node)
}
