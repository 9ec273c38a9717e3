//! poex-home: where a poex home keeps its keys, store, transparency log and job folders.
//!
//! ```text
//! HOME/
//!   keys/        0700  processor.key (signs receipts), log.key (signs log checkpoints),
//!                      default.key (you), NAME.key ...; data.x25519 (the owner's data
//!                      identity: opens datasets sealed at rest; created on first use)
//!   store/       0755  objects/, registry/ (poex-store)
//!   ledger/            the transparency log (poex-ledger): log/ (tlog-tiles: checkpoint,
//!                      tile/...), log-index.redb, log-leaves.redb, log.lock
//!   jobs/        0755  <job id>/ request.json receipt.json bundle.json execution.log results/
//! ```
//!
//! A home on a chain adds `chain.toml`, `keys/chain.key` and `chain/pending/` (the journal of
//! sent transactions; docs/chain.md): [`chain_config_path`], [`chain_key_path`],
//! [`chain_journal_dir`]. A node serving the home adds `queue/`, `uploads/` and `node.toml`
//! (docs/node.md). Where
//! the home is (`--home`, `POEX_HOME`, the XDG data folder) is the caller's business: this
//! module takes its path.
//!
//! Opening the log can have something to say (another process holds the writer lock and poex
//! waits; a log key was created; the log repaired something on open): [`Home`] hands these
//! notices to its notifier, which prints `poex: <notice>` to stderr unless the caller sets
//! another with [`Home::with_notifier`] (a service sends them to its own log).
//!
//! The owner's *data identity* ([`Home::data_identity`]) is an X25519 identity (poex-seal)
//! kept beside the signing keys: datasets published sealed at rest are sealed to its
//! recipient, and the pipeline opens them with it for a job (`poex_exec::at_rest`).
//!
//! [`Home::ledger`] opens the log afresh for each write, waiting for another writer to finish
//! (the job pipeline's `LedgerAccess` for a `Home`, in poex-exec, is that); a long-running
//! process opens it once with [`Home::ledger_nowait`] and shares that [`Ledger`].
//!
//! What this crate does not do: run jobs, choose where the home is, or read the chain and
//! node settings it names (their crates do).

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use poex_core::keys::{PublicKey, SecretKey};
use poex_ledger::{Ledger, LedgerError};
use poex_store::keystore::{self, KeyFileError, Keystore};
use poex_store::{Store, StoreError};

/// Name of the key that signs receipts.
pub const PROCESSOR_KEY: &str = "processor";
/// Name of the key `poex init` creates for the user.
pub const DEFAULT_KEY: &str = "default";
/// Name of the key that signs the log's checkpoints.
pub const LOG_KEY: &str = "log";

/// File name, in `HOME/keys`, of the owner's data identity ([`Home::data_identity`]).
pub const DATA_IDENTITY: &str = "data.x25519";

/// `HOME/chain.toml`, the chain settings (docs/chain.md).
pub fn chain_config_path(root: &Path) -> PathBuf {
    root.join("chain.toml")
}

/// `HOME/keys/chain.key`, the chain signer key when `chain.toml` names no other.
pub fn chain_key_path(root: &Path) -> PathBuf {
    root.join("keys").join("chain.key")
}

/// `HOME/chain/pending`, where sent transactions are journalled until mined.
pub fn chain_journal_dir(root: &Path) -> PathBuf {
    root.join("chain").join("pending")
}

/// Receives the home's notices (one sentence each, without a `poex:` prefix).
pub type Notifier = Arc<dyn Fn(&str) + Send + Sync>;

/// An opened poex home.
pub struct Home {
    /// The home folder.
    pub root: PathBuf,
    /// `HOME/keys`.
    pub keys: Keystore,
    /// `HOME/store`: objects and registry.
    pub store: Store,
    /// Where notices go; set once by [`Home::with_notifier`].
    notify: Notifier,
}

/// Why a home could not be opened or used. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// [`Home::open`] found no processor key: the home was never initialized.
    #[error("no poex home at {root} (no processor key); run 'poex init' first, or pass --home DIR")]
    NotInitialized {
        /// The folder looked at.
        root: PathBuf,
    },
    /// [`Home::ledger_read`] found no log.
    #[error("no log in {dir} yet: it is created by the first publish or run (or `poex init`)")]
    NoLog {
        /// The ledger folder.
        dir: PathBuf,
    },
    /// [`Home::key_id`] was given neither a key id nor the name of a local key.
    #[error("{text:?} is neither a key id (64 hex digits) nor a local key")]
    UnknownKey {
        /// What was given.
        text: String,
        /// Why it is not a local key.
        source: KeyFileError,
    },
    /// A folder of the home could not be created.
    #[error("creating {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A key could not be created or read.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log could not be opened.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The data identity could not be created or read.
    #[error("the data identity (datasets sealed at rest): {0}")]
    DataIdentity(#[from] poex_seal::keyfile::KeyFileError),
    /// The Umbral key file (`keys/umbral.key`) is unreadable or malformed.
    #[cfg(feature = "grants")]
    #[error(transparent)]
    UmbralKey(#[from] poex_grant::IdentityFileError),
}

/// A key a sealed execution log's file key is also wrapped to: the log owner's Umbral key
/// ([`Home::log_owner_if_exists`]).
pub type LogOwner = Box<dyn poex_seal::Wrap + Send + Sync>;

/// The default notifier: `poex: <notice>` on stderr, as the `poex` command prints it.
pub fn notify_stderr(notice: &str) {
    eprintln!("poex: {notice}");
}

impl Home {
    /// Opens an initialized home; says how to create one if there is none.
    pub fn open(root: &Path) -> Result<Home, HomeError> {
        if !root
            .join("keys")
            .join(format!("{PROCESSOR_KEY}.key"))
            .exists()
        {
            return Err(HomeError::NotInitialized {
                root: root.to_owned(),
            });
        }
        Self::open_unchecked(root)
    }

    fn open_unchecked(root: &Path) -> Result<Home, HomeError> {
        create_dir_all(root)?;
        let keys = Keystore::open(root.join("keys"))?;
        let store = Store::open(root.join("store"))?;
        create_dir_all(&root.join("jobs"))?;
        Ok(Home {
            root: root.to_owned(),
            keys,
            store,
            notify: Arc::new(notify_stderr),
        })
    }

    /// Creates what is missing (keys are never replaced). Returns the home and whether it
    /// was new.
    pub fn init(root: &Path) -> Result<(Home, bool), HomeError> {
        let home = Self::open_unchecked(root)?;
        let mut created = false;
        for name in [PROCESSOR_KEY, LOG_KEY, DEFAULT_KEY] {
            if !home.keys.contains(name) {
                home.keys.create(name)?;
                created = true;
            }
        }
        Ok((home, created))
    }

    /// Sends the home's notices to `notify` instead of stderr.
    pub fn with_notifier(mut self, notify: impl Fn(&str) + Send + Sync + 'static) -> Home {
        self.notify = Arc::new(notify);
        self
    }

    fn notify(&self, notice: &str) {
        (self.notify)(notice);
    }

    /// Where the transparency log lives.
    pub fn ledger_dir(&self) -> PathBuf {
        self.root.join("ledger")
    }

    /// Where job folders go.
    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// The log key; a home made before the log existed gets one on first use.
    fn log_key(&self) -> Result<SecretKey, KeyFileError> {
        if !self.keys.contains(LOG_KEY) {
            self.keys.create(LOG_KEY)?;
            self.notify(&format!(
                "created the log key {}",
                self.keys.dir().join(format!("{LOG_KEY}.key")).display()
            ));
        }
        self.keys.load(LOG_KEY)
    }

    /// The log's public key, which checkpoints verify with.
    pub fn log_public(&self) -> Result<PublicKey, HomeError> {
        Ok(self.keys.public(LOG_KEY)?)
    }

    /// Opens the log for writing (creating it on first use), waiting, with a notice, while
    /// another process writes it.
    pub fn ledger(&self) -> Result<Ledger, LedgerError> {
        self.open_writer(true)
    }

    /// Opens the log for writing (creating it on first use), failing at once with
    /// [`LedgerError::InUse`] if another process writes it. For a process that keeps the log
    /// open for its lifetime (a node): it must be the only writer.
    pub fn ledger_nowait(&self) -> Result<Ledger, LedgerError> {
        self.open_writer(false)
    }

    /// Opens the log for reading: no lock, nothing written; it must exist.
    pub fn ledger_read(&self) -> Result<Ledger, HomeError> {
        let dir = self.ledger_dir();
        if !dir.join("log").join("checkpoint").exists() {
            return Err(HomeError::NoLog { dir });
        }
        Ok(Ledger::open_read_only_with_key(&dir, &self.log_public()?)?)
    }

    fn open_writer(&self, wait: bool) -> Result<Ledger, LedgerError> {
        let dir = self.ledger_dir();
        let key: Arc<dyn poex_core::Signer> =
            Arc::new(self.log_key().map_err(|e| LedgerError::Io {
                path: self.keys.dir().join(format!("{LOG_KEY}.key")),
                source: io::Error::other(e.to_string()),
            })?);
        let ledger = if !dir.join("log").join("checkpoint").exists() {
            // A first writer creates the log (waiting for another one creating it too).
            Ledger::open_or_create(&dir, key, None)?
        } else {
            match Ledger::try_open(&dir, key.clone()) {
                Err(LedgerError::InUse { lock, .. }) if wait => {
                    self.notify(&format!(
                        "waiting for another poex process to finish writing the log ({})",
                        lock.display()
                    ));
                    Ledger::open(&dir, key)?
                }
                other => other?,
            }
        };
        for notice in ledger.notices() {
            self.notify(&format!("log: {notice}"));
        }
        Ok(ledger)
    }

    /// Where the owner's data identity is: `HOME/keys/data.x25519`.
    pub fn data_identity_path(&self) -> PathBuf {
        self.keys.dir().join(DATA_IDENTITY)
    }

    /// The owner's data identity, the X25519 key datasets sealed at rest are sealed to;
    /// created (mode 0600, never overwritten) on first use, with a notice that names its
    /// recipient and says to back it up: without it, those datasets cannot be opened. A file
    /// other users can read is refused, as for every key.
    pub fn data_identity(&self) -> Result<poex_seal::Identity, HomeError> {
        use poex_seal::keyfile::{self, KeyFileError};
        if let Some(identity) = self.data_identity_if_exists()? {
            return Ok(identity);
        }
        let path = self.data_identity_path();
        let identity = poex_seal::Identity::generate().map_err(|e| HomeError::Io {
            path: path.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        match keyfile::write_new(&path, &identity) {
            Ok(()) => {
                self.notify(&format!(
                    "created the data identity {} (recipient {}): datasets sealed at rest can only \
                     be opened with it; keep a copy somewhere safe",
                    path.display(),
                    identity.recipient()
                ));
                Ok(identity)
            }
            // Another process created it first: use theirs.
            Err(KeyFileError::Exists(_)) => Ok(keyfile::read(&path)?),
            Err(e) => Err(e.into()),
        }
    }

    /// The owner's data identity if the home has one; `None` if it was never created.
    pub fn data_identity_if_exists(&self) -> Result<Option<poex_seal::Identity>, HomeError> {
        let path = self.data_identity_path();
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Ok(Some(poex_seal::keyfile::read(&path)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HomeError::Io { path, source }),
        }
    }

    /// Where the log owner's Umbral key lives (docs/grants.md).
    pub fn umbral_key_path(&self) -> PathBuf {
        self.keys.dir().join("umbral.key")
    }

    /// The log owner's key, if this home has an Umbral key (`poex grant --show-key` makes it):
    /// sealed execution logs are then also wrapped to it, so the owner can grant validators
    /// (docs/grants.md). Reading it needs the `grants` feature (it links Umbral, GPL-3.0-only);
    /// without it a home that has the key gets a notice that sealed logs are not wrapped to it.
    pub fn log_owner_if_exists(&self) -> Result<Option<LogOwner>, HomeError> {
        let path = self.umbral_key_path();
        match std::fs::symlink_metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(HomeError::Io { path, source }),
        }
        #[cfg(feature = "grants")]
        {
            Ok(Some(Box::new(
                poex_grant::Identity::read_file(&path)?.public(),
            )))
        }
        #[cfg(not(feature = "grants"))]
        {
            self.notify(&format!(
                "{} exists, but this poex was built without the `grants` feature: sealed \
                 execution logs are not wrapped to it, so they cannot be granted to validators \
                 (build with `--features grants`, docs/grants.md)",
                path.display()
            ));
            Ok(None)
        }
    }

    /// The processor key, which signs receipts.
    pub fn processor(&self) -> Result<SecretKey, HomeError> {
        Ok(self.keys.load(PROCESSOR_KEY)?)
    }

    /// A key by local name, or a PKCS#8 PEM file path (anything containing '/').
    pub fn secret(&self, name_or_path: &str) -> Result<SecretKey, HomeError> {
        if name_or_path.contains('/') {
            Ok(keystore::load_secret_file(Path::new(name_or_path))?)
        } else {
            Ok(self.keys.load(name_or_path)?)
        }
    }

    /// A key id given as 64 hex digits, or the id of a local key by name.
    pub fn key_id(&self, text: &str) -> Result<String, HomeError> {
        if let Ok(id) = text.parse::<poex_core::KeyId>() {
            return Ok(id.to_string());
        }
        let key = self
            .keys
            .public(text)
            .map_err(|source| HomeError::UnknownKey {
                text: text.to_owned(),
                source,
            })?;
        Ok(key.key_id().to_string())
    }
}

impl fmt::Debug for Home {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Home")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn create_dir_all(path: &Path) -> Result<(), HomeError> {
    std::fs::create_dir_all(path).map_err(|source| HomeError::Io {
        path: path.to_owned(),
        source,
    })
}
