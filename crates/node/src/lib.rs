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
//! Ed25519 key), or keeping results from the node's operator (see issue 6's HPKE results).

#![forbid(unsafe_code)]

pub mod anchor;
pub mod api;
pub mod auth;
pub mod body;
pub mod config;
pub mod error;
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
    let workers = start_workers(&node)?;
    tracing::info!(%local, home = %node.home.root.display(), "poex node listening");
    on_ready(local);

    // Anchoring stops when shutdown begins (or when the server stops on an error, which drops
    // the sender); a transaction it leaves unconfirmed is in its journal for the next start.
    let (stop_anchoring, anchoring_stop) = tokio::sync::watch::channel(false);
    let anchoring = node
        .anchoring
        .is_some()
        .then(|| tokio::spawn(anchor::run(node.clone(), anchoring_stop)));

    let app = api::router(node.clone());
    let stopping = node.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new requests or jobs");
            stopping.stopping.store(true, Ordering::Relaxed);
            let _ = stop_anchoring.send(true);
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the server stopped with an error");
    }
    if let Some(task) = anchoring {
        // It holds the node: wait for it, so the log's lock goes with the node.
        let _ = task.await;
    }

    // Finish or cancel running work, off the async runtime.
    let node2 = node.clone();
    let grace = Duration::from_secs(node.config.shutdown_grace_secs);
    tokio::task::spawn_blocking(move || drain(&node2, grace, workers))
        .await
        .map_err(|e| StartError::Home(format!("shutdown: {e}")))?;
    tracing::info!("stopped");
    Ok(())
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
