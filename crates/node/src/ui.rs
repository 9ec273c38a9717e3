//! The web explorer: static files compiled into the binary (no build step, no CDN).
//!
//! `ui/index.html` loads `ui/app.js` and `ui/style.css`; the app reads the node's public JSON
//! API only. Every page is served with a Content-Security-Policy that allows scripts, styles
//! and requests from this node alone (no inline script, no other origin), so a string from the
//! API that slipped through as markup still could not run. docs/web-ui.md describes the pages;
//! `tests/explorer.rs` drives them in headless Chromium.

use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const INDEX: &str = include_str!("../ui/index.html");

/// The explorer's files: `(name under /ui/, media type, content)`. openapi.json's `/ui/{file}`
/// lists the same names.
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
];

/// The policy of every explorer response: this origin only, no inline code, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

fn headers(mime: &'static str) -> [(HeaderName, HeaderValue); 5] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ]
}

/// `GET /`.
pub async fn index() -> Response {
    (headers("text/html; charset=utf-8"), INDEX).into_response()
}

/// `GET /ui/{file}`.
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, mime, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::not_found(format!("no UI file {file:?}")))?;
    Ok((headers(mime), *body).into_response())
}
