//! Reading request bodies under the node's limits: a size cap (413), deadlines (408, for slow
//! or vanished clients: see [`Pace`]) and a SHA-256 as the bytes arrive.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::HeaderMap;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::error::ApiError;

/// How fast a body must arrive: no gap between two chunks longer than `idle`, and, counted
/// from the request's start, the whole body by `idle` plus one second per `min_rate` bytes
/// received (so a client trickling a byte now and then is cut off after `idle`, while an
/// upload that keeps `min_rate` bytes/s goes on as long as it needs).
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// `request_timeout_secs`.
    pub idle: Duration,
    /// `min_body_bytes_per_sec` (at least 1).
    pub min_rate: u64,
}

/// Waits for the next chunk of `stream` under `pace`, `received` bytes into a body begun at
/// `start`.
async fn next_chunk(
    stream: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    pace: Pace,
    start: Instant,
    received: u64,
) -> Result<Option<axum::body::Bytes>, ApiError> {
    let allowance = Duration::from_secs_f64(received as f64 / pace.min_rate.max(1) as f64);
    let deadline = start + pace.idle + allowance;
    let now = Instant::now();
    if now >= deadline {
        return Err(too_slow(pace, received));
    }
    let wait = pace.idle.min(deadline - now);
    match tokio::time::timeout(wait, stream.next()).await {
        Err(_) if wait < pace.idle => Err(too_slow(pace, received)),
        Err(_) => Err(stalled(pace.idle)),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(broken(e)),
        Ok(Some(Ok(c))) => Ok(Some(c)),
    }
}

fn too_slow(pace: Pace, received: u64) -> ApiError {
    ApiError::timeout(format!(
        "the body arrived slower than {} bytes/s ({received} bytes so far): the request was \
         abandoned and nothing was kept",
        pace.min_rate
    ))
}

/// What arrived.
pub struct Received {
    /// Bytes read.
    pub size: u64,
    /// Their SHA-256.
    pub sha256: [u8; 32],
}

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!(
        "the body is larger than this node accepts ({limit} bytes); nothing was kept"
    ))
}

/// Refuses early when `Content-Length` already says the body is too large.
pub fn check_length(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Requires the content type (ignoring parameters such as `charset`).
pub fn require_type(headers: &HeaderMap, allowed: &[&str]) -> Result<String, ApiError> {
    let got = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let base = got
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if allowed.contains(&base.as_str()) {
        Ok(base)
    } else {
        Err(ApiError::unsupported_media(format!(
            "Content-Type is {got:?}; this endpoint takes {}",
            allowed.join(" or ")
        )))
    }
}

/// Reads a whole (small) body into memory.
pub async fn read_all(body: Body, limit: u64, pace: Pace) -> Result<(Vec<u8>, [u8; 32]), ApiError> {
    let mut out = Vec::new();
    let mut hasher = Sha256::new();
    let mut stream = body.into_data_stream();
    let start = Instant::now();
    while let Some(chunk) = next_chunk(&mut stream, pace, start, out.len() as u64).await? {
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        hasher.update(&chunk);
        out.extend_from_slice(&chunk);
    }
    Ok((out, hasher.finalize().into()))
}

/// Streams a body into a new file at `path` (which must not exist), fsyncing it at the end.
/// On any error the file is removed.
pub async fn to_file(
    body: Body,
    path: &Path,
    limit: u64,
    pace: Pace,
) -> Result<Received, ApiError> {
    let result = write_file(body, path, limit, pace).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    result
}

async fn write_file(body: Body, path: &Path, limit: u64, pace: Pace) -> Result<Received, ApiError> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await
        .map_err(ApiError::internal)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    let start = Instant::now();
    while let Some(chunk) = next_chunk(&mut stream, pace, start, size).await? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok(Received {
        size,
        sha256: hasher.finalize().into(),
    })
}

fn stalled(timeout: Duration) -> ApiError {
    ApiError::timeout(format!(
        "no data for {} s: the upload was abandoned and nothing was kept",
        timeout.as_secs()
    ))
}

fn broken(e: axum::Error) -> ApiError {
    // The client went away or sent a malformed body; axum's length-limit error lands here too.
    let text = e.to_string();
    if text.contains("length limit") {
        ApiError::too_large(format!("{text}; nothing was kept"))
    } else {
        ApiError::bad_request(format!(
            "the request body could not be read ({text}); nothing was kept"
        ))
    }
}

/// `json` with every number that has an integral value written as an integer (`183.0` as
/// `183`), so that a body whose schema says `integer` deserializes into integer fields: JSON
/// Schema (OpenAPI 3.1) counts `183.0` as an integer, serde does not. Bytes that are not JSON
/// are returned as they are (the caller's parse then says what is wrong).
pub fn integral_numbers(json: &[u8]) -> Vec<u8> {
    fn fix(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if !n.is_i64() && !n.is_u64() => {
                // A float with no fraction is an integer exactly; outside u64 and i64 it is
                // left for the parse to refuse.
                if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                    if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                        *v = serde_json::Value::from(f as u64);
                    } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                        *v = serde_json::Value::from(f as i64);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(fix),
            serde_json::Value::Object(o) => o.values_mut().for_each(fix),
            _ => {}
        }
    }
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(mut v) => {
            fix(&mut v);
            serde_json::to_vec(&v).unwrap_or_else(|_| json.to_vec())
        }
        Err(_) => json.to_vec(),
    }
}
