//! Who is calling: RFC 9421 HTTP Message Signatures by the caller's Ed25519 key.
//!
//! The signature covers the method, authority, path and query, and — when there is a body —
//! `content-digest` (RFC 9530) and `content-type`; `created`, `expires`, `nonce` and `keyid`
//! (the caller's base64 public key) are required. The body itself is checked against
//! `Content-Digest` by the handler that reads it, before anything is kept. Every refusal is
//! an audit event (`deny`) and a 401 saying what is missing.

use axum::http::HeaderMap;
use axum::http::request::Parts;
use poex_core::KeyId;
use poex_core::httpsig::{self, Message};
use poex_core::keys::PublicKey;

use crate::error::ApiError;
use crate::state::Node;

/// The signature label poex clients use.
pub const LABEL: &str = httpsig::LABEL;

/// Components every signed request covers.
pub const REQUIRED: &[&str] = httpsig::COMPONENTS;
/// Components a signed request with a body also covers.
pub const REQUIRED_WITH_BODY: &[&str] = httpsig::BODY_COMPONENTS;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The caller's public key.
    pub key: PublicKey,
    /// Its key id.
    pub id: KeyId,
}

impl Caller {
    /// The key id as text.
    pub fn id(&self) -> String {
        self.id.to_string()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the request's signature. `with_body`: the request carries a body, so
/// `content-digest` and `content-type` must be covered. On failure the denial is logged as
/// [`ANONYMOUS`]'s: a signature that did not verify (or a replayed one) proves nobody's
/// identity, so the key id it names is recorded only as a claim in the event's detail, and
/// audit queries by that key never return it.
pub fn authenticate(node: &Node, parts: &Parts, with_body: bool) -> Result<Caller, ApiError> {
    match check(node, parts, with_body) {
        Ok(c) => Ok(c),
        Err((claimed, e)) => {
            let why = match &claimed {
                Some(id) => format!("claimed key id {id} (not verified): {}", e.message),
                None => e.message.clone(),
            };
            crate::deny::record(node, ANONYMOUS, parts, &why);
            Err(e)
        }
    }
}

/// The actor of events about callers whose identity was not proven.
pub use crate::deny::ANONYMOUS;

/// Logs a denial (403) of an authenticated caller as an audit event.
pub fn deny(node: &Node, actor: &str, parts: &Parts, why: &str) {
    crate::deny::record(node, actor, parts, why);
}

/// A refused signature: the key id it claimed (if it named a usable key) and the error.
type Failure = (Option<String>, ApiError);

/// Checks the signature; see [`authenticate`].
fn check(node: &Node, parts: &Parts, with_body: bool) -> Result<Caller, Failure> {
    let fail = |claimed: Option<String>, m: String| (claimed, ApiError::unauthorized(m));
    let headers = &parts.headers;
    let (Some(input), Some(signature)) = (
        header(headers, "signature-input"),
        header(headers, "signature"),
    ) else {
        return Err(fail(
            None,
            "this request must be signed: send Signature-Input and Signature headers (RFC 9421, \
             label \"poex\", Ed25519, keyid = your base64 public key); `poex --node URL ...` does this"
                .into(),
        ));
    };
    let parsed = httpsig::parse(input, signature, LABEL).map_err(|e| fail(None, e.to_string()))?;
    let keyid = parsed.params.keyid.clone().unwrap_or_default();
    let key = PublicKey::from_base64(&keyid).map_err(|e| {
        fail(
            None,
            format!("keyid {keyid:?} is not a base64 Ed25519 public key: {e}"),
        )
    })?;
    let id = key.key_id();
    // Only a claim until the signature verifies and its nonce is fresh.
    let claimed = Some(id.to_string());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let required = if with_body {
        REQUIRED_WITH_BODY
    } else {
        REQUIRED
    };
    httpsig::check_policy(&parsed, now, node.config.signature_max_age_secs, required)
        .map_err(|e| fail(claimed.clone(), e.to_string()))?;
    if parsed.params.created < node.started_unix - 1 {
        return Err(fail(
            claimed,
            "the signature was created before this node started; sign the request again".into(),
        ));
    }
    let authority = header(headers, "host")
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let expected = node.authorities();
    if !expected.iter().any(|a| a.eq_ignore_ascii_case(&authority)) {
        return Err(fail(
            claimed,
            format!(
                "the request is for authority {:?}, but this node serves {}: the signature covers \
                 @authority, so sign for the node's own name (the Host header must be one of these; \
                 an operator sets it with `authority` in node.toml)",
                authority.chars().take(200).collect::<String>(),
                expected
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ));
    }
    let header_pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let message = Message {
        method: parts.method.as_str(),
        authority: &authority,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &header_pairs,
    };
    httpsig::verify(&message, &parsed, &key).map_err(|e| fail(claimed.clone(), e.to_string()))?;
    // Only a valid signature spends its nonce, so nobody can burn another caller's nonces.
    let nonce = parsed.params.nonce.clone().unwrap_or_default();
    let expires = parsed.params.expires.unwrap_or(now);
    match node.fresh_nonce(&nonce, expires, now) {
        Ok(true) => Ok(Caller { key, id }),
        Ok(false) => Err(fail(
            claimed,
            format!(
                "nonce {nonce:?} was already used: this looks like a replay; sign each request with a new nonce"
            ),
        )),
        Err(()) => Err((
            claimed,
            ApiError::unavailable("too many signed requests in flight; retry in a minute")
                .retry_after(60),
        )),
    }
}

/// A signed request with a JSON body: checks the signature, the content type, the size and
/// the body's `Content-Digest`, and gives the caller, the request head and the body.
pub async fn signed_json(
    node: &Node,
    request: axum::extract::Request,
    timeout: crate::body::Pace,
) -> Result<(Caller, Parts, Vec<u8>), ApiError> {
    let (parts, body_stream) = request.into_parts();
    let caller = authenticate(node, &parts, true)?;
    crate::body::require_type(&parts.headers, &["application/json"])?;
    let digest_header = expected_body_digest(&parts.headers)?;
    let (bytes, sha) =
        crate::body::read_all(body_stream, node.config.max_json_bytes as u64, timeout).await?;
    check_body_digest(&digest_header, &sha)?;
    Ok((caller, parts, bytes))
}

/// The SHA-256 the body must have, from `Content-Digest` (required with a body).
pub fn expected_body_digest(headers: &HeaderMap) -> Result<String, ApiError> {
    header(headers, "content-digest")
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::bad_request(
                "send a Content-Digest header (RFC 9530, sha-256) with the body, and cover it in the signature",
            )
        })
}

/// Checks a received body's SHA-256 against the `Content-Digest` header value.
pub fn check_body_digest(header_value: &str, sha256: &[u8; 32]) -> Result<(), ApiError> {
    httpsig::check_content_digest(header_value, sha256)
        .map_err(|e| ApiError::bad_request(format!("{e}; nothing was kept")))
}
