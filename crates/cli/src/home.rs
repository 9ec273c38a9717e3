//! The poex home (`poex_home`: keys, store, log, job folders), and where the `poex`
//! command finds it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use poex_core::keys::SecretKey;
pub use poex_home::*;
use poex_store::keystore;

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

/// The key requests are signed with: `--as NAME` (a key of this home) or `--as FILE.pem`.
pub fn identity(root: &Path, as_key: &str) -> Result<SecretKey> {
    if as_key.contains('/') {
        return keystore::load_secret_file(Path::new(as_key))
            .with_context(|| format!("--as {as_key}"));
    }
    let home = Home::open(root).with_context(|| {
        format!(
            "requests to a node are signed with your key (--as {as_key}); create one with \
             `poex init`, or pass --as KEY.pem"
        )
    })?;
    Ok(home.secret(as_key)?)
}

/// A key id: 64 hex digits, or a local key's id by name.
pub fn key_id(root: &Path, text: &str) -> Result<String> {
    if let Ok(id) = text.parse::<poex_core::KeyId>() {
        return Ok(id.to_string());
    }
    let home =
        Home::open(root).with_context(|| format!("{text:?} is not a key id (64 hex digits)"))?;
    Ok(home.key_id(text)?)
}
