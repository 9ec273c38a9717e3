//! The node's shared state: the home, the one writer of the log, the queue, the replay cache.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use poex_core::keys::SecretKey;
use poex_core::{KeyId, Signer as _};
use poex_exec::at_rest::{self, Identity};
use poex_exec::home::{DEFAULT_KEY, Home, HomeError};
use poex_exec::pipeline::{LedgerAccess, Processor};
use poex_exec::sandbox::Limits;
use poex_ledger::{Ledger, LedgerError};
use poex_store::audit::Event;

use crate::config::Config;
use crate::queue::Queue;

/// Why the node could not start. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The home is missing or unusable.
    #[error("{0}")]
    Home(String),
    /// Another process writes the log.
    #[error(
        "another poex process holds the log of this home ({0}); stop it (or the other node) first: \
         a node must be the only writer of its log"
    )]
    LogInUse(String),
    /// The log could not be opened.
    #[error("opening the log: {0}")]
    Log(#[from] LedgerError),
    /// The queue could not be loaded.
    #[error("loading the job queue: {0}")]
    Queue(#[from] crate::queue::QueueError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another address with --listen")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Anchoring is on but the chain settings or key cannot be used.
    #[error("{0}")]
    Chain(String),
}

/// Everything a request handler or a worker needs.
pub struct Node {
    /// The settings.
    pub config: Config,
    /// Keys, store, registry, job folders.
    pub home: Home,
    /// The log, open for writing for the node's whole life (the node holds its lock).
    pub ledger: Arc<Ledger>,
    /// Signs receipts.
    processor_key: SecretKey,
    /// Key ids with owner rights.
    pub owners: Vec<String>,
    /// Jobs.
    pub queue: Queue,
    /// Nonces of accepted request signatures, until their signature expires.
    nonces: Mutex<HashMap<String, i64>>,
    /// Unix time the node started: signatures created earlier are refused (a restart empties
    /// the nonce cache, so this keeps replays out).
    pub started_unix: i64,
    /// Set when shutdown begins.
    pub stopping: AtomicBool,
    /// Tiles already served.
    pub tiles: crate::tiles::Cache,
    /// The owner's data identity (`HOME/keys/data.x25519`), which datasets sealed at rest are
    /// sealed to: read at start if the home has one, else created by the first sealed publish.
    data_identity: OnceLock<Identity>,
    /// The log owner's Umbral key, read at start (docs/grants.md).
    log_owner: Option<poex_seal::grant::Public>,
    /// Held while a dataset or algorithm is published, so that a publish which removes a
    /// plaintext upload (sealed at rest) never races one that registers it.
    pub(crate) publish_lock: Mutex<()>,
    /// Checkpoint anchoring, when `anchor_interval_secs` is not 0 (run by [`crate::serve`]).
    pub anchoring: Option<crate::anchor::Anchoring>,
}

/// The most nonces kept at once; beyond it new signed requests get 503 until old ones expire.
const MAX_NONCES: usize = 1_000_000;

impl Node {
    /// Opens the home at `root` (which must have been initialized) and recovers the queue.
    pub fn open(root: &Path, config: Config) -> Result<Arc<Node>, StartError> {
        let home = Home::open(root)
            .map_err(|e| StartError::Home(e.to_string()))?
            .with_notifier(|notice| tracing::info!(notice, "home"));
        // Before the log's lock is taken: a configuration mistake should cost nothing.
        let anchoring = crate::anchor::Anchoring::load(root, &config)?;
        let processor_key = home
            .processor()
            .map_err(|e| StartError::Home(e.to_string()))?;
        let ledger = match home.ledger_nowait() {
            Ok(l) => l,
            Err(e) => {
                return Err(match e {
                    LedgerError::InUse { lock, .. } => {
                        StartError::LogInUse(lock.display().to_string())
                    }
                    other => StartError::Log(other),
                });
            }
        };
        let owners = if config.owners.is_empty() {
            let key = home
                .keys
                .public(DEFAULT_KEY)
                .map_err(|e| StartError::Home(format!("the home's default key: {e}")))?;
            vec![key.key_id().to_string()]
        } else {
            config.owners.clone()
        };
        let (queue, interrupted) = Queue::load(
            &root.join("queue"),
            config.max_concurrent_jobs,
            config.max_queued_per_requester,
            Duration::from_secs(config.queue_timeout_secs),
        )?;
        let data_identity = OnceLock::new();
        if let Some(identity) = home
            .data_identity_if_exists()
            .map_err(|e| StartError::Home(e.to_string()))?
        {
            let _ = data_identity.set(identity);
        }
        let log_owner = home
            .log_owner_if_exists()
            .map_err(|e| StartError::Home(e.to_string()))?;
        // Plaintext of sealed datasets that jobs of a killed node left behind.
        for path in at_rest::remove_leftovers(&home.jobs_dir()) {
            tracing::warn!(path = %path.display(), "removed the plaintext a killed job left");
        }
        let uploads = root.join("uploads");
        // Uploads cut short by a crash: nothing refers to them.
        let _ = std::fs::remove_dir_all(&uploads);
        std::fs::create_dir_all(&uploads)
            .map_err(|e| StartError::Home(format!("{}: {e}", uploads.display())))?;
        let node = Arc::new(Node {
            config,
            home,
            ledger: Arc::new(ledger),
            processor_key,
            owners,
            queue,
            nonces: Mutex::new(HashMap::new()),
            started_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
            stopping: AtomicBool::new(false),
            tiles: crate::tiles::Cache::default(),
            data_identity,
            log_owner,
            publish_lock: Mutex::new(()),
            anchoring,
        });
        node.recover(interrupted);
        Ok(node)
    }

    /// The pipeline, borrowing this node's store, log and key.
    pub(crate) fn processor(&self) -> Processor<'_> {
        Processor {
            store: &self.home.store,
            ledger: self,
            signer: &self.processor_key,
            jobs_dir: self.home.jobs_dir(),
            ceiling: Limits::default(),
            data_identity: self.data_identity.get(),
            log_owner: self.log_owner.as_ref(),
        }
    }

    /// The owner's data identity, created on first use (see [`Home::data_identity`]).
    pub(crate) fn data_identity(&self) -> Result<&Identity, HomeError> {
        if let Some(identity) = self.data_identity.get() {
            return Ok(identity);
        }
        // Two first uses at once both read or create the same file; either value is it.
        let identity = self.home.data_identity()?;
        Ok(self.data_identity.get_or_init(|| identity))
    }

    /// The processor's key id.
    pub fn processor_id(&self) -> KeyId {
        self.processor_key.public_key().key_id()
    }

    /// The processor's public key.
    pub fn processor_public(&self) -> poex_core::keys::PublicKey {
        self.processor_key.public_key()
    }

    /// Whether `key_id` is an owner.
    pub fn is_owner(&self, key_id: &str) -> bool {
        self.owners.iter().any(|o| o == key_id)
    }

    /// Records audit events; a failure is logged (the request it describes already happened).
    pub(crate) fn audit(&self, events: Vec<Event>) {
        if let Err(e) = self.ledger.log_events(&events) {
            tracing::error!(error = %e, "could not log audit events");
        }
    }

    /// Accepts a nonce once; `false` if it was seen before its signature expired.
    pub(crate) fn fresh_nonce(&self, nonce: &str, expires: i64, now: i64) -> Result<bool, ()> {
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        if nonces.len() >= MAX_NONCES / 2 {
            nonces.retain(|_, exp| *exp >= now);
        }
        if nonces.len() >= MAX_NONCES {
            return Err(());
        }
        if nonces.get(nonce).is_some_and(|exp| *exp >= now) {
            return Ok(false);
        }
        nonces.insert(nonce.to_owned(), expires);
        Ok(true)
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

impl LedgerAccess for Node {
    fn open(&self) -> Result<Arc<Ledger>, LedgerError> {
        Ok(self.ledger.clone())
    }
}
