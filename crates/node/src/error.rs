//! The one way the API reports failure: a status and `{"error": code, "message": text}`.
//!
//! 4xx are the caller's mistakes; the message says what is wrong and what to do, and they are
//! logged at debug level only. 5xx carry a generic message; the detail goes to the node's log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error response.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short machine-readable code (`unauthorized`, `not_found`, ...).
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
    /// Seconds the caller should wait before trying again (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// The same error, telling the caller to retry after `secs` seconds (`Retry-After`).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }
    /// 400: malformed input.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 401: no valid signature.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403: signed, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409: conflicts with what exists (write-once registry, job state).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 413: body too large.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    /// 415: wrong content type.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
    /// 408: the client stopped sending.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "timeout", message)
    }
    /// 429: too many queued jobs.
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
    }
    /// 503: shutting down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    /// 500: the node failed; `detail` is logged, the caller sees a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the node failed to handle this request; its operator can find the cause in the node's log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(status = %self.status, message = %self.message, "request refused");
        }
        let mut response = (
            self.status,
            Json(poex_client::wire::ErrorBody {
                error: self.code.into(),
                message: self.message,
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The machine-readable code of an error status that no handler made (axum's own refusals).
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// The largest error body [`json_errors`] reads back (handlers' messages are far smaller).
const MAX_ERROR_BODY: usize = 64 << 10;

/// Makes every error response the node sends `{"error", "message"}` JSON, whoever made it:
/// axum's extractor rejections (plain text) and its empty 405 are rewritten, keeping their
/// status and headers (`Allow`); a JSON answer of the node's own keeps its fields and gains
/// `error` and `message` if it lacks them (`/healthz` while unhealthy has `reason`); every
/// message is passed through `scrub` (which takes the node's absolute paths out).
pub async fn json_errors(
    method: axum::http::Method,
    path: String,
    response: Response,
    scrub: impl Fn(&str) -> String,
) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let ours = is_json
        .then(|| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .flatten()
        .filter(serde_json::Value::is_object);
    let object = match ours {
        Some(mut object) => {
            let message = object
                .get("message")
                .or_else(|| object.get("reason"))
                .and_then(|m| m.as_str())
                .map(&scrub)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("refused").to_owned());
            if object.get("error").is_none_or(|e| !e.is_string()) {
                object["error"] = json!(code_of(status));
            }
            if object
                .get("reason")
                .is_some_and(serde_json::Value::is_string)
            {
                object["reason"] = json!(message);
            }
            object["message"] = json!(message);
            object
        }
        None => {
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            let message = match status {
                StatusCode::METHOD_NOT_ALLOWED => {
                    let allow = parts
                        .headers
                        .get(header::ALLOW)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    format!("{method} is not allowed on {path}; it takes {allow}")
                }
                _ if text.is_empty() => status
                    .canonical_reason()
                    .unwrap_or("the request was refused")
                    .to_owned(),
                _ => format!("{text} ({method} {path}; see openapi.json)"),
            };
            json!({ "error": code_of(status), "message": scrub(&message) })
        }
    };
    let body = serde_json::to_vec(&object).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
