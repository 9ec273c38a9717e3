//! The poex home (`poex_home`: keys, store, log, job folders), and where the `poex`
//! command finds it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
pub use poex_home::*;

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
