//! poex-node: the compute-to-data service.
//!
//! A node serves one poex home over HTTP (axum on tokio): consumers upload algorithms and
//! submit signed job requests to where the data lives; the node verifies them, queues them
//! persistently, runs them through the [`poex_exec`] pipeline (sandbox, receipt, log), and
//! returns results to the requester and proofs to anyone. docs/node.md is the user's guide;
//! `openapi.json` beside this crate is the API's contract (a test keeps it true).
//!
//! The map:
//!
//! - [`config`]: settings from defaults, `HOME/node.toml`, `POEX_NODE_*`, flags.
//! - [`state::Node`]: the home, the one writer of the log, the queue, the replay cache.
//! - [`auth`]: RFC 9421 HTTP Message Signatures (Ed25519) with replay protection.
//! - [`queue`]: the persistent job queue, its fair scheduler and crash recovery.
//! - [`api`]: the routes; [`tiles`] serves the log per C2SP tlog-tiles; [`ui`] the explorer.
//! - [`anchor`]: anchors the log's checkpoints on an EVM chain every `anchor_interval_secs`.
//! - [`serve`]: binds, runs workers and the anchoring task, and shuts down gracefully.
//!
//! What it does not do: TLS (put a reverse proxy in front), user accounts (a caller *is* its
//! Ed25519 key), or keeping results from the node's operator (for that, results are sealed to the requester: docs/seal.md).

#![forbid(unsafe_code)]

#[cfg(feature = "chain")]
pub mod anchor;
#[cfg(not(feature = "chain"))]
#[path = "anchor_off.rs"]
pub mod anchor;
pub mod api;
pub mod auth;
pub mod body;
pub mod config;
pub mod deny;
pub mod error;
pub mod preflight;
pub mod queue;
pub mod state;
pub mod tiles;
pub mod ui;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use config::Config;
pub use state::{Node, StartError};

/// Runs the node until `shutdown` resolves: binds `config.listen`, starts the workers, serves,
/// then shuts down gracefully (stop accepting, let running jobs finish within the grace
/// period, interrupt the rest; queued jobs stay queued for the next start). `on_ready` is called
/// with the bound address once the node accepts connections.
///
/// Connections are served by hyper's HTTP/1 server with what `axum::serve` leaves out: a
/// deadline for each request's head (`request_timeout_secs`, which also closes a keep-alive
/// connection idle that long: slowloris and idle floods free their slot), a limit of
/// `max_connections` served at once (one more gets a 503 and is closed at once), and the
/// peer's address on each request (`ConnectInfo`, for the denial budget).
pub async fn serve(
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), StartError> {
    let addr = node.config.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    node.set_bound(local);
    warn_if_few_descriptors(node.config.max_connections);
    let workers = start_workers(&node)?;
    tracing::info!(%local, home = %node.home.root.display(), authority = ?node.authorities(), "poex node listening");
    on_ready(local);

    // Anchoring stops when shutdown begins (or when the server stops on an error, which drops
    // the sender); a transaction it leaves unconfirmed is in its journal for the next start.
    let (stop_anchoring, anchoring_stop) = tokio::sync::watch::channel(false);
    let anchoring = node
        .anchoring
        .is_some()
        .then(|| tokio::spawn(anchor::run(node.clone(), anchoring_stop.clone())));
    let upkeep = tokio::spawn(upkeep(node.clone(), anchoring_stop));

    let app = api::router(node.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(node.config.max_connections));
    let head_timeout = Duration::from_secs(node.config.request_timeout_secs);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors, most often: the connections in the backlog wait.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse_busy(&stream, node.config.max_connections);
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(head_timeout);
        let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    tracing::info!("shutting down: no new requests or jobs");
    node.stopping.store(true, Ordering::Relaxed);
    let _ = stop_anchoring.send(true);
    drop(listener);
    // Requests in flight finish; idle connections close at once.
    let grace = Duration::from_secs(node.config.shutdown_grace_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {} s; closing them",
            grace.as_secs()
        );
    }
    if let Some(task) = anchoring {
        // It holds the node: wait for it, so the log's lock goes with the node.
        let _ = task.await;
    }
    let _ = upkeep.await;

    // Finish or cancel running work, off the async runtime.
    let node2 = node.clone();
    tokio::task::spawn_blocking(move || drain(&node2, grace, workers))
        .await
        .map_err(|e| StartError::Home(format!("shutdown: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// What `serve` answers a connection over `max_connections`, before closing it.
fn refuse_busy(stream: &tokio::net::TcpStream, limit: usize) {
    let body = serde_json::json!({
        "error": "unavailable",
        "message": format!("the node serves {limit} connections at once and all are in use; retry in a second"),
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // A fresh socket's send buffer is empty: this never blocks, and if it cannot be written
    // the client just sees the connection close.
    let _ = stream.try_write(response.as_bytes());
    tracing::debug!("connection refused: max_connections reached");
}

/// Warns when the process may run out of file descriptors before `max_connections`: each
/// connection holds one, and the log, the store and the jobs need some too.
fn warn_if_few_descriptors(max_connections: usize) {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    if let Some(soft) = soft
        && soft < max_connections + 256
    {
        tracing::warn!(
            open_files = soft,
            max_connections,
            "the open-file limit leaves little room beside max_connections; raise it (ulimit -n) or lower max_connections"
        );
    }
}

/// Background upkeep while the node serves: the denial summary when it is due, and reopening
/// a failed log writer even when no request comes to try it.
async fn upkeep(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        let n = node.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if n.ledger.writer_fault().is_some() {
                n.log_fault();
            }
            if let Some(summary) = n.denials.summary(false) {
                n.audit(vec![summary]);
            }
        })
        .await;
    }
    // What was counted until now is logged before the node stops.
    let n = node.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(summary) = n.denials.summary(true) {
            n.audit(vec![summary]);
        }
    })
    .await;
}

/// Starts the node's `max_concurrent_jobs` worker threads; they run jobs until the queue
/// stops ([`queue::Queue::stop`]).
pub fn start_workers(node: &Arc<Node>) -> Result<Vec<std::thread::JoinHandle<()>>, StartError> {
    (0..node.config.max_concurrent_jobs)
        .map(|i| {
            let node = node.clone();
            std::thread::Builder::new()
                .name(format!("poex-worker-{i}"))
                .spawn(move || node.work())
        })
        .collect::<Result<_, _>>()
        .map_err(|e| StartError::Home(format!("starting worker threads: {e}")))
}

fn drain(node: &Node, grace: Duration, workers: Vec<std::thread::JoinHandle<()>>) {
    node.stopping.store(true, Ordering::Relaxed);
    node.queue.stop();
    let deadline = Instant::now() + grace;
    while node.queue.any_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if node.queue.any_running() {
        tracing::warn!(
            "running jobs did not finish within {} s; interrupting them",
            grace.as_secs()
        );
        node.queue.interrupt_running();
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Sets up structured logs on stderr: `POEX_LOG` (or `RUST_LOG`) filters, default `info`;
/// `json` gives one JSON object per line.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POEX_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
