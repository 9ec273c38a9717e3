//! A real node on a temporary home, called through its router (no socket) with requests
//! signed exactly as a client signs them.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use poex_core::keys::SecretKey;
use poex_core::receipt::rfc3339;
use poex_core::request::{
    AssetRef, JobRequest, REQUEST_TYPE, Requester, SignedRequest, random_hex16,
};
use poex_core::{Digest, Signer as _};
use poex_home::Home;
use poex_node::{Config, Node};
use serde_json::{Value, json};
use sha2::Digest as _;
use tower::ServiceExt as _;

pub const HOST: &str = "node.test";

pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub node: Arc<Node>,
    pub app: Router,
    /// The home's `default` key: an owner.
    pub owner: SecretKey,
}

pub fn config() -> Config {
    let mut c = Config::default();
    c.listen = "127.0.0.1:0".parse().unwrap();
    // Router tests sign for HOST; tests over a socket set None (the bound address).
    c.authority = Some(HOST.into());
    c
}

impl TestNode {
    pub fn new() -> TestNode {
        Self::with(config())
    }

    pub fn with(config: Config) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        Home::init(dir.path()).unwrap();
        Self::open(dir, config)
    }

    pub fn open(dir: tempfile::TempDir, config: Config) -> TestNode {
        let t = Self::open_idle(dir, config);
        poex_node::start_workers(&t.node).unwrap();
        t
    }

    /// A node whose queue accepts jobs but runs none (no workers).
    pub fn open_idle(dir: tempfile::TempDir, config: Config) -> TestNode {
        poex_node::init_tracing(false);
        let node = Node::open(dir.path(), config).unwrap();
        let app = poex_node::api::router(node.clone());
        let owner = node.home.keys.load("default").unwrap();
        TestNode {
            dir,
            node,
            app,
            owner,
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Sends a request; `signer` signs it; `body` is `(content type, bytes)`.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        signer: Option<&SecretKey>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Vec<u8>) {
        let req = build(method, uri, signer, body);
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, bytes)
    }

    /// The job's public bundle, and what `/api/verify` says of it (both answers 200).
    pub async fn bundle_and_verdict(&self, id: &str) -> (Value, Value) {
        let (s, bundle) = self
            .json("GET", &format!("/api/jobs/{id}/bundle"), None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{bundle}");
        let (s, verdict) = self
            .json(
                "POST",
                "/api/verify",
                None,
                Some(json!({ "bundle": bundle })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{verdict}");
        (bundle, verdict)
    }

    pub async fn json(
        &self,
        method: &str,
        uri: &str,
        signer: Option<&SecretKey>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap()));
        let (status, bytes) = self.call(method, uri, signer, body).await;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// Uploads bytes as a file object; returns its `blake3:` digest.
    pub async fn upload(&self, signer: &SecretKey, bytes: &[u8]) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/objects",
                Some(signer),
                Some(("application/octet-stream", bytes.to_vec())),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&body)
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        v["object"].as_str().unwrap().to_owned()
    }

    /// Publishes `script` as algorithm `name` run by `sh`, by `signer`.
    pub async fn algorithm(&self, signer: &SecretKey, name: &str, script: &str) -> Value {
        let object = self.upload(signer, script.as_bytes()).await;
        let (status, v) = self
            .json(
                "POST",
                "/api/assets",
                Some(signer),
                Some(json!({"kind": "algorithm", "name": name, "object": object,
                            "entrypoint": ["sh", name]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    /// Publishes `bytes` as dataset `name` (by the owner) allowing `algorithms` and `requesters`.
    pub async fn dataset(
        &self,
        name: &str,
        bytes: &[u8],
        algorithms: &[&Value],
        requesters: &[&SecretKey],
    ) -> Value {
        let object = self.upload(&self.owner, bytes).await;
        let allowed: Vec<String> = algorithms.iter().map(|a| sha256_of(a)).collect();
        let who: Vec<String> = requesters
            .iter()
            .map(|k| k.public_key().key_id().to_string())
            .collect();
        let (status, v) = self
            .json(
                "POST",
                "/api/assets",
                Some(&self.owner),
                Some(json!({"kind": "dataset", "name": name, "object": object,
                            "policy": {"allowedAlgorithms": allowed, "allowedRequesters": who}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    /// Submits a job; returns the status and the answer.
    pub async fn submit(
        &self,
        signer: &SecretKey,
        algorithm: &Value,
        datasets: &[&Value],
        wall_seconds: Option<u64>,
    ) -> (StatusCode, Value) {
        let envelope = request(signer, algorithm, datasets, wall_seconds).envelope;
        self.json(
            "POST",
            "/api/jobs",
            Some(signer),
            Some(serde_json::to_value(&envelope).unwrap()),
        )
        .await
    }

    /// Polls a job until `done(state)` or 60 s.
    pub async fn wait(&self, id: &str, done: impl Fn(&str) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, v) = self
                .json("GET", &format!("/api/jobs/{id}"), None, None)
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            if done(v["state"].as_str().unwrap_or("")) {
                return v;
            }
            assert!(Instant::now() < deadline, "job {id} never got there: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Audit events matching `query`.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let (status, v) = self
            .json("GET", &format!("/api/audit?{query}"), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["events"].as_array().unwrap().clone()
    }
}

pub fn sha256_of(record: &Value) -> String {
    record["digests"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find_map(|x| x.as_str().filter(|s| s.starts_with("sha256:")))
        })
        .map(str::to_owned)
        .or_else(|| {
            record["digests"]["sha256"]
                .as_str()
                .map(|h| format!("sha256:{h}"))
        })
        .unwrap_or_else(|| panic!("no sha256 in {record}"))
}

pub fn request(
    signer: &SecretKey,
    algorithm: &Value,
    datasets: &[&Value],
    wall_seconds: Option<u64>,
) -> SignedRequest {
    let asset = |r: &Value| AssetRef {
        name: r["name"].as_str().unwrap().to_owned(),
        digest: sha256_of(r).parse::<Digest>().unwrap(),
    };
    let limits = poex_core::request::RequestedLimits {
        wall_seconds,
        ..Default::default()
    };
    let req = JobRequest {
        type_: REQUEST_TYPE.into(),
        requester: Requester {
            key_id: signer.public_key().key_id(),
            public_key: signer.public_key(),
        },
        algorithm: asset(algorithm),
        datasets: datasets.iter().map(|d| asset(d)).collect(),
        arguments: vec![],
        limits,
        requested_at: rfc3339(time::OffsetDateTime::now_utc()),
        nonce: random_hex16().unwrap(),
        result_recipient: None,
    };
    SignedRequest::sign(req, signer).unwrap()
}

/// A request as a client sends it, signed now.
pub fn build(
    method: &str,
    uri: &str,
    signer: Option<&SecretKey>,
    body: Option<(&str, Vec<u8>)>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Some(key) = signer {
        let sha = body
            .as_ref()
            .map(|(ct, bytes)| (*ct, sha2::Sha256::digest(bytes).into()));
        for (k, v) in poex_client::sign::sign_request(key, method, HOST, uri, sha, now).unwrap() {
            b = b.header(k, v);
        }
    } else if let Some((ct, _)) = &body {
        b = b.header("content-type", *ct);
    }
    b.body(match body {
        Some((_, bytes)) => Body::from(bytes),
        None => Body::empty(),
    })
    .unwrap()
}

pub fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

/// Serves `t` on a real loopback listener: its address, the trigger of a graceful shutdown,
/// and the server task.
pub fn serve_on_loopback(
    t: &TestNode,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = t.node.clone();
    let server = tokio::spawn(async move {
        poex_node::serve(
            node,
            async move {
                let _ = stopped.await;
            },
            move |addr| tx.send(addr).unwrap(),
        )
        .await
        .unwrap();
    });
    (
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        stop,
        server,
    )
}
