//! The HTTP side: a node's address, one agent, requests signed by [`crate::sign`], answers
//! checked and read within limits, and errors that say what the node said and what to do.

use std::io::Read;
use std::time::Duration;

use poex_core::httpsig::{self, HttpSigError};
use poex_core::keys::SecretKey;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

/// The largest JSON answer read into memory (job lists, audit pages, bundles).
pub const MAX_JSON: u64 = 64 << 20;

/// The node answered with an error status. Carries the node's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The HTTP status.
    pub status: u16,
    /// `METHOD path` of the request.
    pub request: String,
    /// The node's `message` (or the body, if it is not poex's JSON error).
    pub message: String,
}

impl HttpError {
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

/// Talking to a node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's address is not one this client can use.
    #[error("{0}")]
    Url(String),
    /// The node answered with an error status.
    #[error(transparent)]
    Node(#[from] HttpError),
    /// Nothing answers at the address.
    #[error("cannot reach the node at {base}: {cause}; is `poex node` running there?")]
    Unreachable {
        /// The node's URL.
        base: String,
        /// The transport's error.
        cause: ureq::Error,
    },
    /// The node closed the connection while the request was being sent.
    #[error(
        "the node at {base} closed the connection while the request was being sent ({cause}); \
         it may have refused it before reading it all (too large, not signed right): its log \
         says why"
    )]
    Cut {
        /// The node's URL.
        base: String,
        /// The transport's error.
        cause: ureq::Error,
    },
    /// Any other transport failure.
    #[error("talking to the node at {base}: {cause}")]
    Transport {
        /// The node's URL.
        base: String,
        /// The transport's error.
        cause: ureq::Error,
    },
    /// The answer could not be read.
    #[error("reading the answer to {request}: {cause}")]
    Read {
        /// `METHOD path`.
        request: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The answer is larger than this client reads into memory.
    #[error("the answer to {request} is larger than {limit} bytes")]
    TooLarge {
        /// `METHOD path`.
        request: String,
        /// The limit.
        limit: u64,
    },
    /// The answer is not what a poex node sends.
    #[error("the answer to {request} is not {expected}: {cause}")]
    Answer {
        /// `METHOD path`.
        request: String,
        /// What was expected (`JSON`, `a registry record`).
        expected: &'static str,
        /// Why it did not parse.
        cause: serde_json::Error,
    },
    /// The request could not be signed.
    #[error("signing the request: {0}")]
    Sign(#[from] HttpSigError),
}

impl Error {
    /// The node's HTTP status, when it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Node(h) => Some(h.status),
            _ => None,
        }
    }

    /// Whether the node said the thing asked for does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The exit code of a command that failed with this error: a refusal (401, 403) is 2,
    /// like a job refused before running; anything else is 1.
    pub fn exit_code(&self) -> u8 {
        match self.status() {
            Some(401 | 403) => 2,
            _ => 1,
        }
    }
}

/// What a call gives.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A node's address and an HTTP agent for it.
#[derive(Clone, Debug)]
pub struct Client {
    /// `http://host:port[/prefix]` as given, without a trailing slash (for messages).
    base: String,
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

impl Upload<'static> {
    /// A body held in memory.
    pub fn bytes(content_type: &'static str, bytes: Vec<u8>) -> Upload<'static> {
        Upload {
            content_type,
            sha256: Sha256::digest(&bytes).into(),
            len: bytes.len() as u64,
            reader: Box::new(std::io::Cursor::new(bytes)),
        }
    }

    /// A JSON body.
    pub fn json(value: &impl Serialize) -> Upload<'static> {
        // Our wire types hold strings, numbers and JSON values: serializing cannot fail.
        Upload::bytes(
            "application/json",
            serde_json::to_vec(value).unwrap_or_default(),
        )
    }
}

/// A streamed answer: the bytes of a result, an execution log, a bundle.
pub struct Download {
    /// The file name the node suggests (`Content-Disposition`), if any.
    pub file_name: Option<String>,
    /// The bytes.
    pub reader: Box<dyn Read + Send>,
}

impl Client {
    /// Parses a node URL: `http://host:port[/prefix]` (a bare `host:port` means http://).
    pub fn new(url: &str) -> Result<Client> {
        let url = url.trim();
        let bad = |why: String| Err(Error::Url(format!("--node {url}: {why}")));
        if url.starts_with("https://") {
            return bad(
                "this build talks to nodes over plain http:// only (no TLS stack is compiled \
                 in); reach the node through an SSH tunnel or a local proxy, e.g. --node \
                 http://127.0.0.1:8420"
                    .into(),
            );
        }
        let rest = url.strip_prefix("http://").unwrap_or(url);
        if rest.contains("://") {
            return bad("only http:// URLs are supported".into());
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
            return bad("expected a URL like http://127.0.0.1:8420".into());
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

    /// `http://host:port[/prefix]`, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The full URL of an API path (`/api/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` (signed by `key` if given), answering JSON of type `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str, key: Option<&SecretKey>) -> Result<T> {
        let response = self.send("GET", path, key, None)?;
        read_json(response, "GET", path)
    }

    /// `GET path`; `None` on 404.
    pub fn get_opt<T: DeserializeOwned>(
        &self,
        path: &str,
        key: Option<&SecretKey>,
    ) -> Result<Option<T>> {
        match self.get(path, key) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST path` with `body` (signed by `key` if given); the status and the JSON answer.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<Upload<'_>>,
        key: Option<&SecretKey>,
    ) -> Result<(u16, T)> {
        let response = self.send("POST", path, key, body)?;
        let status = response.status().as_u16();
        Ok((status, read_json(response, "POST", path)?))
    }

    /// `method path` (signed by `key` if given), the answer streamed.
    pub fn download(
        &self,
        method: &str,
        path: &str,
        body: Option<Upload<'_>>,
        key: Option<&SecretKey>,
    ) -> Result<Download> {
        let response = self.send(method, path, key, body)?;
        let response = check(response, method, path)?;
        let file_name = response
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once("filename="))
            .map(|(_, name)| name.trim_matches('"').to_owned());
        Ok(Download {
            file_name,
            reader: Box::new(response.into_body().into_reader()),
        })
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
            let signed = crate::sign::sign_request(
                key,
                method,
                &self.authority,
                &full,
                body.as_ref().map(|b| (b.content_type, b.sha256)),
                time::OffsetDateTime::now_utc().unix_timestamp(),
            )?;
            // content-type and content-digest are in `headers` already, with the same values.
            headers.extend(
                signed
                    .into_iter()
                    .filter(|(k, _)| k.starts_with("signature")),
            );
        }
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in &headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let result = match body {
            Some(b) => {
                let mut reader = b.reader;
                let request = request
                    .body(ureq::SendBody::from_reader(&mut *reader))
                    .map_err(|e| Error::Url(format!("{method} {url}: {e}")))?;
                self.agent.run(request)
            }
            None => {
                let request = request
                    .body(())
                    .map_err(|e| Error::Url(format!("{method} {url}: {e}")))?;
                self.agent.run(request)
            }
        };
        result.map_err(|e| self.transport_error(e))
    }

    fn transport_error(&self, cause: ureq::Error) -> Error {
        let unreachable = match &cause {
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
        let cut = matches!(&cause, ureq::Error::Io(io) if matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ));
        let base = self.base.clone();
        if cut {
            Error::Cut { base, cause }
        } else if unreachable {
            Error::Unreachable { base, cause }
        } else {
            Error::Transport { base, cause }
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
    let message = serde_json::from_slice::<crate::wire::ErrorBody>(&body)
        .ok()
        .map(|e| e.message)
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

fn read_json<T: DeserializeOwned>(
    response: ureq::http::Response<ureq::Body>,
    method: &str,
    path: &str,
) -> Result<T> {
    let response = check(response, method, path)?;
    let request = || format!("{method} {path}");
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_JSON + 1)
        .read_to_end(&mut body)
        .map_err(|cause| Error::Read {
            request: request(),
            cause,
        })?;
    if body.len() as u64 > MAX_JSON {
        return Err(Error::TooLarge {
            request: request(),
            limit: MAX_JSON,
        });
    }
    if body.is_empty() {
        body = b"null".to_vec();
    }
    serde_json::from_slice(&body).map_err(|cause| Error::Answer {
        request: request(),
        expected: if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
            "what a poex node sends"
        } else {
            "JSON"
        },
        cause,
    })
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
        assert!(Client::new("http://h:99999").is_err());
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

    #[test]
    fn a_refusal_exits_like_a_refused_job() {
        let e = Error::Node(HttpError {
            status: 403,
            request: "POST /api/jobs".into(),
            message: "not allowed".into(),
        });
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "the node refused POST /api/jobs: not allowed (HTTP 403 forbidden)"
        );
        assert!(!e.is_not_found());
    }
}
