//! The chain signer key: a secp256k1 private key in a 0600 file created once, written and read
//! through `poex_secret_file`. Only its address is ever shown; `Debug` prints the address too.
//!
//! ```text
//! # poex chain key (secp256k1): signs transactions from the address below. Keep it secret.
//! # address: 0x…
//! 0x<64 hex digits>
//! ```

use std::fmt;
use std::path::Path;

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use poex_secret_file::SecretFileError;
use zeroize::Zeroizing;

use crate::ChainError;

/// A loaded signer key.
#[derive(Clone)]
pub struct ChainKey {
    signer: PrivateKeySigner,
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainKey({})", self.address())
    }
}

impl ChainKey {
    /// A fresh random key written to `path` (refused if `path` exists).
    pub fn create(path: &Path) -> Result<Self, ChainError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        loop {
            getrandom::fill(seed.as_mut()).map_err(|e| key_error(path, e.to_string()))?;
            // Fails only for zero or a value at or above the curve order: draw again.
            if let Ok(signer) = PrivateKeySigner::from_bytes(&B256::from(*seed)) {
                let key = Self { signer };
                key.write(path)?;
                return Ok(key);
            }
        }
    }

    /// Writes a key given as 64 hex digits (with or without 0x) to a new file at `path`, e.g. an
    /// account funded on a test chain. The text is not echoed in any error.
    pub fn import(path: &Path, hex_key: &str) -> Result<Self, ChainError> {
        let key = Self::from_hex(hex_key).map_err(|reason| key_error(path, reason))?;
        key.write(path)?;
        Ok(key)
    }

    /// Reads the key in `path`, refusing a file other users can read or write.
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        let text = poex_secret_file::read(path).map_err(|e| file_error(path, e))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        Self::from_hex(line).map_err(|reason| key_error(path, reason))
    }

    /// A key from 64 hex digits, for tests and imports.
    pub fn from_hex(hex_key: &str) -> Result<Self, String> {
        let digits = hex_key.trim();
        let digits = digits.strip_prefix("0x").unwrap_or(digits);
        let mut raw = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(digits, raw.as_mut())
            .map_err(|_| "not a secp256k1 private key (64 hex digits)".to_owned())?;
        PrivateKeySigner::from_bytes(&B256::from(*raw))
            .map(|signer| Self { signer })
            .map_err(|_| "not a valid secp256k1 private key".to_owned())
    }

    /// The account that signs.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    fn write(&self, path: &Path) -> Result<(), ChainError> {
        let secret = Zeroizing::new(hex::encode(self.signer.to_bytes()));
        let text = Zeroizing::new(format!(
            "# poex chain key (secp256k1): signs transactions from the address below. Keep it secret.\n# address: {}\n0x{}\n",
            self.address(),
            secret.as_str()
        ));
        poex_secret_file::create(path, &text).map_err(|e| file_error(path, e))
    }
}

fn key_error(path: &Path, reason: String) -> ChainError {
    ChainError::Key {
        path: path.to_owned(),
        reason,
    }
}

fn file_error(path: &Path, e: SecretFileError) -> ChainError {
    let reason = match e {
        SecretFileError::Exists => "exists; key files are never overwritten".to_owned(),
        SecretFileError::TooOpen(mode) => format!(
            "mode {mode:04o} is open to other users; refusing to use it. If the key is not compromised, run 'chmod 600 {}'",
            path.display()
        ),
        SecretFileError::Io(_, e) if e.kind() == std::io::ErrorKind::NotFound => {
            "does not exist: create one with 'poex chain key new' or import a funded one with 'poex chain key import'".to_owned()
        }
        SecretFileError::Io(_, e) => e.to_string(),
    };
    key_error(path, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn create_load_import_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.key");
        let key = ChainKey::create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(ChainKey::load(&path).unwrap().address(), key.address());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("# address: {}", key.address())));
        assert!(
            ChainKey::create(&path)
                .unwrap_err()
                .to_string()
                .contains("never overwritten")
        );
        let secret = text.lines().last().unwrap().to_owned();
        assert!(!format!("{key:?}").contains(&secret[2..]));

        // Hardhat's account #0.
        let imported = dir.path().join("dev.key");
        let k = ChainKey::import(
            &imported,
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        )
        .unwrap();
        assert_eq!(
            k.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let bad = ChainKey::import(&dir.path().join("bad.key"), "0xdeadbeefcafe").unwrap_err();
        assert!(!bad.to_string().contains("deadbeefcafe"), "{bad}");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            ChainKey::load(&path)
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
    }
}
