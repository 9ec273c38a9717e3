//! `chain.toml`: which chain, which contracts, which key. Everything a chain operation needs
//! besides the key itself, which stays in its own 0600 file.
//!
//! ```toml
//! rpc_url = "https://core.bloxberg.org"
//! chain_id = 8995
//! key_file = "keys/chain.key"          # relative to the folder of chain.toml
//!
//! [contracts]
//! registry = "0x…"                     # HashSig
//! anchor = "0x…"                       # CheckpointAnchor
//! tasks = "0x…"                        # PoxTasks
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::ChainError;

/// The chain settings. Unknown keys are refused (a misspelt key would otherwise be ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The JSON-RPC endpoint (http or https).
    pub rpc_url: String,
    /// The chain id the endpoint must report; transactions are signed for it (EIP-155).
    pub chain_id: u64,
    /// The signer key file; relative paths are relative to the folder of `chain.toml`.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// The deployed contracts.
    #[serde(default)]
    pub contracts: Contracts,
    /// Seconds to wait for one JSON-RPC answer.
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_secs: u64,
    /// Seconds to wait for a sent transaction's receipt.
    #[serde(default = "default_receipt_timeout")]
    pub receipt_timeout_secs: u64,
    /// Milliseconds between receipt polls.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// Attempts for a read that failed on the transport (sends are never repeated blindly).
    #[serde(default = "default_attempts")]
    pub read_attempts: u32,
}

/// Addresses of the three contracts (absent until deployed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contracts {
    /// HashSig, the write-once digest registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Address>,
    /// CheckpointAnchor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Address>,
    /// PoxTasks, the task workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Address>,
}

fn default_key_file() -> PathBuf {
    PathBuf::from("keys/chain.key")
}
fn default_rpc_timeout() -> u64 {
    10
}
fn default_receipt_timeout() -> u64 {
    120
}
fn default_poll() -> u64 {
    500
}
fn default_attempts() -> u32 {
    3
}

impl ChainConfig {
    /// A configuration for `rpc_url` and `chain_id` with every other setting at its default.
    pub fn new(rpc_url: impl Into<String>, chain_id: u64) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            chain_id,
            key_file: default_key_file(),
            contracts: Contracts::default(),
            rpc_timeout_secs: default_rpc_timeout(),
            receipt_timeout_secs: default_receipt_timeout(),
            poll_interval_ms: default_poll(),
            read_attempts: default_attempts(),
        }
    }

    /// Reads `path`; relative `key_file` paths are resolved against its folder.
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        let text = fs::read_to_string(path).map_err(|e| {
            ChainError::Config(if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} does not exist: create it with 'poex chain init --rpc URL --chain-id N' (docs/chain.md)",
                    path.display()
                )
            } else {
                format!("{}: {e}", path.display())
            })
        })?;
        let mut config: Self = toml::from_str(&text)
            .map_err(|e| ChainError::Config(format!("{}: {e}", path.display())))?;
        if config.key_file.is_relative() {
            let dir = path.parent().unwrap_or(Path::new("."));
            config.key_file = dir.join(&config.key_file);
        }
        config.check()?;
        Ok(config)
    }

    /// Writes the configuration to `path` atomically (temporary file, fsync, rename). A
    /// `key_file` under the folder of `path` is written relative to it.
    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        self.check()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut stored = self.clone();
        if let Ok(rel) = stored.key_file.strip_prefix(dir) {
            stored.key_file = rel.to_owned();
        }
        let text = toml::to_string(&stored)
            .map_err(|e| ChainError::Config(format!("{}: {e}", path.display())))?;
        let io = |e: std::io::Error| ChainError::Config(format!("{}: {e}", path.display()));
        let file = format!("# poex chain settings (docs/chain.md)\n{text}");
        poex_durable::write_atomic(path, file.as_bytes()).map_err(io)
    }

    fn check(&self) -> Result<(), ChainError> {
        let url = self.rpc_url.as_str();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ChainError::Config(format!(
                "rpc_url {url:?} is not an http:// or https:// URL"
            )));
        }
        if self.rpc_timeout_secs == 0 || self.receipt_timeout_secs == 0 {
            return Err(ChainError::Config(
                "rpc_timeout_secs and receipt_timeout_secs must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_relative_key_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.toml");
        let mut c = ChainConfig::new("http://127.0.0.1:8545", 31337);
        c.key_file = dir.path().join("keys/chain.key");
        c.contracts.anchor = Some(Address::repeat_byte(7));
        c.save(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("key_file = \"keys/chain.key\""), "{text}");
        assert_eq!(ChainConfig::load(&path).unwrap(), c);

        fs::write(
            &path,
            "rpc_url = \"http://x\"\nchain_id = 1\nrpc_url_typo = 1\n",
        )
        .unwrap();
        let err = ChainConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("rpc_url_typo"), "{err}");
        fs::write(&path, "rpc_url = \"ftp://x\"\nchain_id = 1\n").unwrap();
        assert!(
            ChainConfig::load(&path)
                .unwrap_err()
                .to_string()
                .contains("not an http")
        );
        let missing = ChainConfig::load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(missing.to_string().contains("poex chain init"), "{missing}");
    }
}
