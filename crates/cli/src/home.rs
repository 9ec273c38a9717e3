//! The poex home: where keys, the store and job folders live.
//!
//! ```text
//! HOME/
//!   keys/        0700  processor.key (signs receipts), log.key (signs log checkpoints),
//!                      default.key (you), NAME.key ...
//!   store/       0755  objects/, registry/ (poex-store)
//!   ledger/            the transparency log (poex-ledger): log/ (tlog-tiles: checkpoint,
//!                      tile/...), log-index.redb, log-leaves.redb, log.lock
//!   jobs/        0755  <job id>/ request.json receipt.json bundle.json execution.log results/
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use poex_core::keys::{PublicKey, SecretKey};
use poex_exec::pipeline::LedgerAccess;
use poex_ledger::{Ledger, LedgerError};
use poex_store::Store;
use poex_store::keystore::{self, Keystore};

/// Name of the key that signs receipts.
pub const PROCESSOR_KEY: &str = "processor";
/// Name of the key `poex init` creates for the user.
pub const DEFAULT_KEY: &str = "default";
/// Name of the key that signs the log's checkpoints.
pub const LOG_KEY: &str = "log";

pub struct Home {
    pub root: PathBuf,
    pub keys: Keystore,
    pub store: Store,
}

/// The home directory to use: `--home`/`POEX_HOME`, else the XDG data dir.
pub fn resolve(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_owned());
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("poex"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/poex")),
        None => bail!("cannot find a home for poex: set POEX_HOME or pass --home DIR"),
    }
}

impl Home {
    /// Opens an initialized home; says how to create one if there is none.
    pub fn open(root: &Path) -> Result<Home> {
        if !root
            .join("keys")
            .join(format!("{PROCESSOR_KEY}.key"))
            .exists()
        {
            bail!(
                "no poex home at {} (no processor key); run 'poex init' first, or pass --home DIR",
                root.display()
            );
        }
        Self::open_unchecked(root)
    }

    fn open_unchecked(root: &Path) -> Result<Home> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let keys = Keystore::open(root.join("keys"))?;
        let store = Store::open(root.join("store"))?;
        std::fs::create_dir_all(root.join("jobs"))
            .with_context(|| format!("creating {}", root.join("jobs").display()))?;
        Ok(Home {
            root: root.to_owned(),
            keys,
            store,
        })
    }

    /// Creates what is missing (keys are never replaced). Returns the home and whether it
    /// was new.
    pub fn init(root: &Path) -> Result<(Home, bool)> {
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

    /// Where the transparency log lives.
    pub fn ledger_dir(&self) -> PathBuf {
        self.root.join("ledger")
    }

    /// The log key; a home made before the log existed gets one on first use.
    fn log_key(&self) -> Result<SecretKey> {
        if !self.keys.contains(LOG_KEY) {
            self.keys.create(LOG_KEY)?;
            eprintln!(
                "poex: created the log key {}",
                self.keys.dir().join(format!("{LOG_KEY}.key")).display()
            );
        }
        Ok(self.keys.load(LOG_KEY)?)
    }

    /// The log's public key, which checkpoints verify with.
    pub fn log_public(&self) -> Result<PublicKey> {
        Ok(self.keys.public(LOG_KEY)?)
    }

    /// Opens the log for writing (creating it on first use), waiting, with a message, while
    /// another poex process writes it.
    pub fn ledger(&self) -> Result<Ledger> {
        Ok(self.open_ledger()?)
    }

    /// Opens the log for reading: no lock, nothing written; it must exist.
    pub fn ledger_read(&self) -> Result<Ledger> {
        let dir = self.ledger_dir();
        if !dir.join("log").join("checkpoint").exists() {
            bail!(
                "no log in {} yet: it is created by the first publish or run (or `poex init`)",
                dir.display()
            );
        }
        Ok(Ledger::open_read_only_with_key(&dir, &self.log_public()?)?)
    }

    fn open_ledger(&self) -> Result<Ledger, LedgerError> {
        let dir = self.ledger_dir();
        let key: Arc<dyn poex_core::Signer> =
            Arc::new(self.log_key().map_err(|e| LedgerError::Io {
                path: self.keys.dir().join(format!("{LOG_KEY}.key")),
                source: std::io::Error::other(e.to_string()),
            })?);
        if !dir.join("log").join("checkpoint").exists() {
            return Ledger::open_or_create(&dir, key, None);
        }
        match Ledger::try_open(&dir, key.clone()) {
            Err(LedgerError::InUse { lock, .. }) => {
                eprintln!(
                    "poex: waiting for another poex process to finish writing the log ({})",
                    lock.display()
                );
                Ledger::open(&dir, key)
            }
            other => other,
        }
        .inspect(|l| {
            for n in l.notices() {
                eprintln!("poex: log: {n}");
            }
        })
    }

    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }

    pub fn processor(&self) -> Result<SecretKey> {
        Ok(self.keys.load(PROCESSOR_KEY)?)
    }

    /// A key by local name, or a PKCS#8 PEM file path (anything containing '/').
    pub fn secret(&self, name_or_path: &str) -> Result<SecretKey> {
        if name_or_path.contains('/') {
            Ok(keystore::load_secret_file(Path::new(name_or_path))?)
        } else {
            Ok(self.keys.load(name_or_path)?)
        }
    }

    /// A key id given as 64 hex digits, or the id of a local key by name.
    pub fn key_id(&self, text: &str) -> Result<String> {
        if let Ok(id) = text.parse::<poex_core::KeyId>() {
            return Ok(id.to_string());
        }
        let key: PublicKey = self.keys.public(text).with_context(|| {
            format!("{text:?} is neither a key id (64 hex digits) nor a local key")
        })?;
        Ok(key.key_id().to_string())
    }
}

impl LedgerAccess for Home {
    fn open(&self) -> Result<Ledger, LedgerError> {
        self.open_ledger()
    }
}
