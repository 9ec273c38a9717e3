//! The node's shared state: the home, the one writer of the log, the queue, the replay cache.
//!
//! Module cycle: [`Node`] is the one shared state of a running node. The queue, the tile cache,
//! the anchoring, the denial log and the signature check each hold a part of it and take
//! `&Node` to reach the rest (the log writer, the home, the config); `Node` holds those parts.
//! A separate context type passed to each would only rename the cycle, so it stays, here only.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use poex_core::keys::SecretKey;
use poex_core::{KeyId, Signer as _};
use poex_exec::at_rest::{self, Identity};
use poex_exec::pipeline::{LedgerAccess, Processor};
use poex_exec::sandbox::Limits;
use poex_home::{DEFAULT_KEY, Home, HomeError};
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
    log_owner: Option<poex_home::LogOwner>,
    /// Held while a dataset or algorithm is published, so that a publish which removes a
    /// plaintext upload (sealed at rest) never races one that registers it.
    pub(crate) publish_lock: Mutex<()>,
    /// Checkpoint anchoring, when `anchor_interval_secs` is not 0 (run by [`crate::serve`]).
    pub anchoring: Option<crate::anchor::Anchoring>,
    /// The spellings of the home's absolute path, longest first, which callers see as `HOME`.
    home_spellings: Vec<String>,
    /// Which denials are logged one by one.
    pub(crate) denials: crate::deny::Budget,
    /// The address [`crate::serve`] bound (the listen address with its real port).
    bound: OnceLock<std::net::SocketAddr>,
    /// When the node last tried to reopen a failed log writer.
    log_retry: Mutex<Option<std::time::Instant>>,
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
        // A node killed a moment ago (a supervisor restarting it at once) may not have let go
        // of the log yet: its last processes are still exiting. Wait for that briefly; a live
        // node holding the log is still refused, after these seconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let ledger = loop {
            match home.ledger_nowait() {
                Err(LedgerError::InUse { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => break other,
            }
        };
        let ledger = match ledger {
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
        // Sandboxes of a killed poex: their job cgroups (and anything still running in them)
        // and their staging folders.
        let left = poex_exec::sandbox::clean_leftovers();
        if left != poex_exec::sandbox::Leftovers::default() {
            tracing::warn!(
                cgroups = left.cgroups,
                processes = left.processes,
                staging = left.staging,
                "removed what the sandboxes of a killed poex left (processes killed)"
            );
        }
        match poex_exec::sandbox::accounting() {
            Ok(kind) => tracing::info!(
                accounting = kind.word(),
                "each job runs in cgroups of its own: memory, processes and CPU are limited for the whole job"
            ),
            Err(why) => tracing::warn!(
                reason = %why,
                "jobs get no cgroup of their own: memory, CPU and processes are limited per process (receipts say accounting: per-process); see docs/sandbox.md, Per-job cgroups"
            ),
        }
        let uploads = root.join("uploads");
        // Uploads cut short by a crash: nothing refers to them.
        let _ = std::fs::remove_dir_all(&uploads);
        std::fs::create_dir_all(&uploads)
            .map_err(|e| StartError::Home(format!("{}: {e}", uploads.display())))?;
        let mut home_spellings = vec![root.display().to_string()];
        if let Ok(canonical) = std::fs::canonicalize(root) {
            home_spellings.push(canonical.display().to_string());
        }
        if let Ok(absolute) = std::path::absolute(root) {
            home_spellings.push(absolute.display().to_string());
        }
        home_spellings.retain(|s| s.len() > 1);
        home_spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
        home_spellings.dedup();
        let denials = crate::deny::Budget::new(
            config.deny_log_per_minute,
            Duration::from_secs(config.deny_summary_secs),
        );
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
            home_spellings,
            denials,
            bound: OnceLock::new(),
            log_retry: Mutex::new(None),
        });
        node.recover(interrupted);
        Ok(node)
    }

    /// The pipeline, borrowing this node's store, log and key.
    pub(crate) fn processor(&self) -> Processor<'_> {
        Processor {
            runner: &poex_exec::runner::Bubblewrap,
            store: &self.home.store,
            ledger: self,
            signer: &self.processor_key,
            jobs_dir: self.home.jobs_dir(),
            ceiling: self.ceiling(),
            data_identity: self.data_identity.get(),
            log_owner: self.log_owner.as_deref(),
        }
    }

    /// The most a job may get (a request may ask for less).
    pub(crate) fn ceiling(&self) -> Limits {
        Limits::default()
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
        if let Err(e) = self.audit_or_fail(events) {
            tracing::error!(error = %e, "could not log audit events");
        }
    }

    /// Records audit events, each bounded in size ([`bound_event`]); the caller decides what a
    /// failure means (a download is not served without its event).
    pub(crate) fn audit_or_fail(&self, events: Vec<Event>) -> Result<(), LedgerError> {
        let events: Vec<Event> = events.into_iter().map(bound_event).collect();
        self.ledger.log_events(&events).map(|_| ())
    }

    /// `text` with the home's absolute path written `HOME`: what callers see of the node's
    /// files (error messages, job reasons, receipts) says where, not where on this machine.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for spelling in &self.home_spellings {
            out = out.replace(spelling.as_str(), "HOME");
        }
        out
    }

    /// The authorities (`host[:port]`) request signatures must be made for: `authority` from
    /// the settings, else the address served (with `localhost:PORT` beside a loopback one).
    pub fn authorities(&self) -> Vec<String> {
        if let Some(a) = &self.config.authority {
            return vec![a.to_ascii_lowercase()];
        }
        let addr = self.bound.get().copied().unwrap_or(self.config.listen);
        let mut out = vec![addr.to_string()];
        if addr.ip().is_loopback() {
            out.push(format!("localhost:{}", addr.port()));
        }
        out
    }

    /// The summary of the denials counted over the budget and not logged yet, taken now (it
    /// is logged when due, and at shutdown); `None` if there are none.
    pub fn take_denial_summary(&self) -> Option<Event> {
        self.denials.summary(true)
    }

    /// Records the address [`crate::serve`] bound (the first call wins).
    pub fn set_bound(&self, addr: std::net::SocketAddr) {
        let _ = self.bound.set(addr);
    }

    /// Why the log cannot be written now, after trying (at most once a second) to reopen a
    /// failed writer; `None` when it can.
    pub fn log_fault(&self) -> Option<String> {
        let fault = self.ledger.writer_fault()?;
        let now = std::time::Instant::now();
        {
            let mut last = self
                .log_retry
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
                return Some(fault);
            }
            *last = Some(now);
        }
        match self.ledger.reopen_writer() {
            Ok(()) => {
                tracing::warn!(error = %fault, "the log writer failed and was reopened; the node takes work again");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "the log writer failed and cannot be reopened yet; the node refuses work that writes the log");
                Some(self.scrub(&e.to_string()))
            }
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

/// The longest actor, object and detail an audit event keeps (the rest is cut, with a note):
/// an entry must stay far below the log's 64 KiB limit, whatever a caller put in a header.
pub const MAX_EVENT_FIELD: [usize; 3] = [256, 1024, 4096];

/// `event` with its free-text fields cut to [`MAX_EVENT_FIELD`], each cut saying so.
pub fn bound_event(mut event: Event) -> Event {
    fn cut(text: &mut String, max: usize) {
        if text.len() <= max {
            return;
        }
        let total = text.len();
        let mut end = max.saturating_sub(64);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!(" [cut: {total} bytes in all]"));
    }
    let [actor, object, detail] = MAX_EVENT_FIELD;
    cut(&mut event.actor, actor);
    cut(&mut event.object, object);
    if let Some(d) = event.detail.as_mut() {
        cut(d, detail);
    }
    event
}

impl LedgerAccess for Node {
    fn open(&self) -> Result<Arc<Ledger>, LedgerError> {
        match self.log_fault() {
            None => Ok(self.ledger.clone()),
            Some(fault) => Err(LedgerError::Unavailable(fault)),
        }
    }
}
