//! Talking to a `poex node` over plain HTTP (ureq, no TLS): requests signed with RFC 9421
//! HTTP Message Signatures by the caller's Ed25519 key, JSON in and out, errors turned into
//! messages that say what the node said and what to do.
//!
//! The signature is the one `crates/node/src/auth.rs` checks: label `poex`, the components
//! [`poex_node::auth::REQUIRED`] (no body) or [`poex_node::auth::REQUIRED_WITH_BODY`] (with
//! one, then `Content-Digest` carries the body's SHA-256), `created` now, `expires` a minute
//! later, a fresh 128-bit nonce, `keyid` the base64 public key, `alg="ed25519"`, `tag="poex"`.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use poex_core::httpsig;
use poex_core::keys::SecretKey;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The largest JSON answer we read into memory (job lists, audit pages, bundles).
const MAX_JSON: u64 = 64 << 20;

/// The node answered with an error status. Carries the node's own message.
#[derive(Debug)]
pub struct HttpError {
    /// The HTTP status.
    pub status: u16,
    /// `METHOD path` of the request.
    pub request: String,
    /// The node's `message` (or the body, if it is not poex's JSON error).
    pub message: String,
}

impl HttpError {
    /// The exit code: a refusal (401, 403) is 2, like a job refused before running; anything
    /// else is an error (1).
    pub fn exit_code(&self) -> u8 {
        match self.status {
            401 | 403 => 2,
            _ => 1,
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            400 => "bad request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not found",
            408 => "request timeout",
            409 => "conflict",
            413 => "too large",
            415 => "unsupported media type",
            429 => "too many requests",
            500 => "internal error",
            503 => "unavailable",
            _ => "error",
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = match self.status {
            401 | 403 => "refused",
            400..=499 => "rejected",
            _ => "failed",
        };
        write!(
            f,
            "the node {verb} {}: {} (HTTP {} {})",
            self.request,
            self.message,
            self.status,
            self.reason()
        )
    }
}

impl std::error::Error for HttpError {}

/// A node's address and an HTTP agent for it.
pub struct Client {
    /// `http://host:port[/prefix]` as given, without a trailing slash (for messages).
    pub base: String,
    /// `host[:port]`: what the `Host` header and the signature's `@authority` say.
    authority: String,
    /// A path prefix (a node behind a reverse proxy), no trailing slash; usually empty.
    prefix: String,
    agent: ureq::Agent,
}

/// A request body: its bytes come from `reader`, its SHA-256 and length are known in advance
/// (the signature covers the digest, so it must be computed before sending).
pub struct Upload<'a> {
    /// `application/octet-stream`, `application/x-tar`, `application/json`.
    pub content_type: &'a str,
    /// SHA-256 of every byte `reader` will give.
    pub sha256: [u8; 32],
    /// How many bytes `reader` will give.
    pub len: u64,
    /// The bytes.
    pub reader: Box<dyn Read + Send + 'a>,
}

impl Client {
    /// Parses `--node URL`: `http://host:port[/prefix]` (a bare `host:port` means http://).
    pub fn new(url: &str) -> Result<Client> {
        let url = url.trim();
        if url.starts_with("https://") {
            bail!(
                "--node {url}: this build talks to nodes over plain http:// only (no TLS stack is \
                 compiled in); reach the node through an SSH tunnel or a local proxy, e.g. \
                 --node http://127.0.0.1:8420"
            );
        }
        let rest = url.strip_prefix("http://").unwrap_or(url);
        if rest.contains("://") {
            bail!("--node {url}: only http:// URLs are supported");
        }
        let rest = rest.trim_end_matches('/');
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let port_ok = match authority.rsplit_once(':') {
            Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
            None => true,
        };
        if authority.is_empty()
            || !port_ok
            || authority.contains(['?', '#', '@', ' ', '%'])
            || prefix.contains(['?', '#'])
        {
            bail!("--node {url}: expected a URL like http://127.0.0.1:8420");
        }
        // The default port is left out of the authority, as ureq leaves it out of Host.
        let authority = authority
            .strip_suffix(":80")
            .unwrap_or(authority)
            .to_owned();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(1800)))
            .user_agent(format!("poex/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            base: format!("http://{authority}{prefix}"),
            authority,
            prefix: prefix.to_owned(),
            agent,
        })
    }

    /// The full URL of an API path (`/api/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, unsigned, answering JSON.
    pub fn get_json(&self, path_and_query: &str) -> Result<Value> {
        let response = self.send("GET", path_and_query, None, None)?;
        read_json(response, "GET", path_and_query)
    }

    /// `GET path`, unsigned; `None` on 404.
    pub fn get_json_opt(&self, path_and_query: &str) -> Result<Option<Value>> {
        match self.get_json(path_and_query) {
            Ok(v) => Ok(Some(v)),
            Err(e)
                if e.downcast_ref::<HttpError>()
                    .is_some_and(|h| h.status == 404) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET path` signed by `key`; the response, status already checked.
    pub fn get_signed(
        &self,
        path_and_query: &str,
        key: &SecretKey,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let response = self.send("GET", path_and_query, Some(key), None)?;
        check(response, "GET", path_and_query)
    }

    /// `GET path` unsigned; the response, status already checked.
    pub fn get_raw(&self, path_and_query: &str) -> Result<ureq::http::Response<ureq::Body>> {
        let response = self.send("GET", path_and_query, None, None)?;
        check(response, "GET", path_and_query)
    }

    /// `POST path` with a JSON body, signed by `key` if given; returns the status and JSON.
    pub fn post_json(
        &self,
        path: &str,
        body: &Value,
        key: Option<&SecretKey>,
    ) -> Result<(u16, Value)> {
        let bytes = serde_json::to_vec(body)?;
        let upload = Upload {
            content_type: "application/json",
            sha256: Sha256::digest(&bytes).into(),
            len: bytes.len() as u64,
            reader: Box::new(std::io::Cursor::new(bytes)),
        };
        self.post(path, upload, key)
    }

    /// `POST path` with no body, signed by `key`.
    pub fn post_empty(&self, path: &str, key: &SecretKey) -> Result<(u16, Value)> {
        let response = self.send("POST", path, Some(key), None)?;
        let status = response.status().as_u16();
        Ok((status, read_json(response, "POST", path)?))
    }

    /// `POST path` with a streamed body, signed by `key` if given.
    pub fn post(
        &self,
        path: &str,
        body: Upload<'_>,
        key: Option<&SecretKey>,
    ) -> Result<(u16, Value)> {
        let response = self.send("POST", path, key, Some(body))?;
        let status = response.status().as_u16();
        Ok((status, read_json(response, "POST", path)?))
    }

    /// Sends one request. `path_and_query` starts with `/` and is already percent-encoded.
    fn send(
        &self,
        method: &str,
        path_and_query: &str,
        key: Option<&SecretKey>,
        body: Option<Upload<'_>>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let full = format!("{}{path_and_query}", self.prefix);
        let url = format!("http://{}{full}", self.authority);
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.authority.clone()),
            ("accept".into(), "application/json".into()),
        ];
        if let Some(b) = &body {
            headers.push(("content-type".into(), b.content_type.to_owned()));
            headers.push((
                "content-digest".into(),
                httpsig::content_digest_sha256(&b.sha256),
            ));
            headers.push(("content-length".into(), b.len.to_string()));
        }
        if let Some(key) = key {
            let signed = poex_node::auth::sign_request(
                key,
                method,
                &self.authority,
                &full,
                body.as_ref().map(|b| (b.content_type, b.sha256)),
                time::OffsetDateTime::now_utc().unix_timestamp(),
            )
            .context("signing the request")?;
            // content-type and content-digest are in `headers` already, with the same values.
            headers.extend(
                signed
                    .into_iter()
                    .filter(|(k, _)| k.starts_with("signature")),
            );
        }
        let result = match body {
            Some(b) => {
                let mut request = self.agent.post(&url);
                for (k, v) in &headers {
                    request = request.header(k.as_str(), v.as_str());
                }
                let mut reader = b.reader;
                request.send(ureq::SendBody::from_reader(&mut *reader))
            }
            None if method == "POST" => {
                let mut request = self.agent.post(&url);
                for (k, v) in &headers {
                    request = request.header(k.as_str(), v.as_str());
                }
                request.send_empty()
            }
            None => {
                let mut request = self.agent.get(&url);
                for (k, v) in &headers {
                    request = request.header(k.as_str(), v.as_str());
                }
                request.call()
            }
        };
        result.map_err(|e| self.transport_error(e))
    }

    fn transport_error(&self, e: ureq::Error) -> anyhow::Error {
        let unreachable = match &e {
            ureq::Error::Io(io) => matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
            ),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
            ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve),
            _ => false,
        };
        let cut = matches!(&e, ureq::Error::Io(io) if matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ));
        if cut {
            return anyhow!(
                "the node at {} closed the connection while the request was being sent ({e}); \
                 it may have refused it before reading it all (too large, not signed right): \
                 its log says why",
                self.base
            );
        }
        if unreachable {
            anyhow!(
                "cannot reach the node at {}: {e}; is `poex node` running there?",
                self.base
            )
        } else {
            anyhow!("talking to the node at {}: {e}", self.base)
        }
    }
}

/// The response if its status is 2xx, else the node's error.
fn check(
    response: ureq::http::Response<ureq::Body>,
    method: &str,
    path: &str,
) -> Result<ureq::http::Response<ureq::Body>> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let mut body = Vec::new();
    let _ = response
        .into_body()
        .into_reader()
        .take(1 << 20)
        .read_to_end(&mut body);
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            if text.is_empty() {
                "(no message)".to_owned()
            } else {
                text
            }
        });
    Err(HttpError {
        status,
        request: format!("{method} {path}"),
        message,
    }
    .into())
}

fn read_json(
    response: ureq::http::Response<ureq::Body>,
    method: &str,
    path: &str,
) -> Result<Value> {
    let response = check(response, method, path)?;
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_JSON + 1)
        .read_to_end(&mut body)
        .with_context(|| format!("reading the answer to {method} {path}"))?;
    if body.len() as u64 > MAX_JSON {
        bail!("the answer to {method} {path} is larger than {MAX_JSON} bytes");
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("the answer to {method} {path} is not JSON"))
}

/// Percent-encodes one path segment (or a `/`-separated relative path, keeping the `/`).
pub fn encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn encode_query(text: &str) -> String {
    encode_path(text).replace('/', "%2F")
}

/// A `?a=1&b=2` query from the pairs whose value is present (empty when none is).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode_query(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poex_core::Signer as _;
    use poex_core::httpsig::Message;

    #[test]
    fn urls_parse_into_authority_and_prefix() {
        let c = Client::new("http://127.0.0.1:8420/").unwrap();
        assert_eq!(c.authority, "127.0.0.1:8420");
        assert_eq!(c.prefix, "");
        assert_eq!(c.url("/api/info"), "http://127.0.0.1:8420/api/info");
        let c = Client::new("localhost:80/poex").unwrap();
        assert_eq!(c.authority, "localhost");
        assert_eq!(c.prefix, "/poex");
        let e = Client::new("https://x.example").err().unwrap().to_string();
        assert!(e.contains("plain http"), "{e}");
        assert!(Client::new("http://").is_err());
    }

    #[test]
    fn the_cli_signs_what_the_node_requires() {
        // The node's lists and core's are the same; the CLI takes the node's.
        assert_eq!(poex_node::auth::REQUIRED, httpsig::COMPONENTS);
        assert_eq!(
            poex_node::auth::REQUIRED_WITH_BODY,
            httpsig::BODY_COMPONENTS
        );
        let key = SecretKey::from_seed(&[3; 32]);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signed = poex_node::auth::sign_request(
            &key,
            "POST",
            "h:1",
            "/api/jobs",
            Some(("application/json", [0; 32])),
            now,
        )
        .unwrap();
        let get = |n: &str| signed.iter().find(|(k, _)| k == n).unwrap().1.clone();
        let parsed = httpsig::parse(&get("signature-input"), &get("signature"), "poex").unwrap();
        httpsig::check_policy(&parsed, now, 300, poex_node::auth::REQUIRED_WITH_BODY).unwrap();
        let pairs: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let msg = Message {
            method: "POST",
            authority: "h:1",
            path: "/api/jobs",
            query: "",
            headers: &pairs,
        };
        httpsig::verify(&msg, &parsed, &key.public_key()).unwrap();
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_path("a b/c%.txt"), "a%20b/c%25.txt");
        assert_eq!(
            query(&[
                ("a", Some("x/y".into())),
                ("b", None),
                ("c", Some("1".into()))
            ]),
            "?a=x%2Fy&c=1"
        );
        assert_eq!(query(&[("a", None)]), "");
    }
}
