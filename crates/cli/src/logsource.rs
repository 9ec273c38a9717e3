//! Reading somebody's log: a tlog-tiles directory on disk or a tlog-tiles URL (`http://`).
//!
//! What `poex verify --log` and `poex log` use to fetch a log's latest checkpoint and the tiles a
//! consistency or inclusion proof needs. Nothing read here is trusted: checkpoints are opened
//! with the log key the user trusts, and proofs built from fetched tiles are verified against
//! signed checkpoints.

use std::io::Read as _;
use std::path::PathBuf;

use poex_log::tile::{HashTile, TileId, TileSource};

/// The largest file we fetch: a full tile is 8 KiB, a full entry bundle at most 256 × 64 KiB.
const MAX_FETCH: u64 = 17 * 1024 * 1024;

/// Where a log's tiles are.
#[derive(Debug, Clone)]
pub enum LogSource {
    /// A tlog-tiles directory (holding `checkpoint` and `tile/`).
    Dir(PathBuf),
    /// A tlog-tiles base URL (`http://host/prefix`), no trailing slash.
    Url(String),
}

/// A file could not be read from the log.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file is not there.
    #[error("{0}: not found")]
    Missing(String),
    /// Reading or fetching failed.
    #[error("{what}: {reason}")]
    Failed {
        /// Path or URL.
        what: String,
        /// Why.
        reason: String,
    },
    /// A tile is malformed.
    #[error("{what}: {reason}")]
    Malformed {
        /// Path or URL.
        what: String,
        /// Why.
        reason: String,
    },
}

impl LogSource {
    /// Parses a `--log` argument: `http://...` is a URL, anything else a directory.
    pub fn parse(arg: &str) -> anyhow::Result<Self> {
        if let Some(rest) = arg.strip_prefix("http://") {
            if rest.is_empty() {
                anyhow::bail!("--log {arg}: the URL has no host");
            }
            return Ok(Self::Url(arg.trim_end_matches('/').to_owned()));
        }
        if arg.starts_with("https://") {
            anyhow::bail!(
                "--log {arg}: this build fetches logs over plain http:// only (no TLS stack is \
                 compiled in); download the checkpoint and tiles and pass the directory instead"
            );
        }
        let dir = PathBuf::from(arg);
        if !dir.join("checkpoint").is_file() {
            anyhow::bail!(
                "--log {arg}: no tlog-tiles log there (no 'checkpoint' file); pass the log's \
                 tiles directory (`poex log info` prints it) or its http:// URL"
            );
        }
        Ok(Self::Dir(dir))
    }

    /// Reads one file of the log by its tlog-tiles path; `Ok(None)` when it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self {
            Self::Dir(dir) => {
                let file = dir.join(path);
                match std::fs::read(&file) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(SourceError::Failed {
                        what: file.display().to_string(),
                        reason: e.to_string(),
                    }),
                }
            }
            Self::Url(base) => {
                let url = format!("{base}/{path}");
                let failed = |reason: String| SourceError::Failed {
                    what: url.clone(),
                    reason,
                };
                let response = match ureq::get(&url).call() {
                    Ok(r) => r,
                    Err(ureq::Error::StatusCode(404)) => return Ok(None),
                    Err(e) => return Err(failed(e.to_string())),
                };
                let mut body = Vec::new();
                response
                    .into_body()
                    .into_reader()
                    .take(MAX_FETCH + 1)
                    .read_to_end(&mut body)
                    .map_err(|e| failed(e.to_string()))?;
                if body.len() as u64 > MAX_FETCH {
                    return Err(failed(format!("larger than {MAX_FETCH} bytes")));
                }
                Ok(Some(body))
            }
        }
    }

    /// The log's latest signed checkpoint note, unverified.
    pub fn checkpoint(&self) -> anyhow::Result<Vec<u8>> {
        self.read("checkpoint")?
            .ok_or_else(|| anyhow::anyhow!("{}: no checkpoint", self))
    }

    /// A tile source over this log as it is at `latest` entries (the size of its checkpoint).
    pub fn tiles(&self, latest: u64) -> SourceTiles<'_> {
        SourceTiles {
            source: self,
            latest,
        }
    }
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(d) => d.display().fmt(f),
            Self::Url(u) => u.fmt(f),
        }
    }
}

/// Hash tiles read from a [`LogSource`].
///
/// A partial tile a proof asks for (for a tree size that was never published) is served by the
/// full tile or the partial tile at the latest size, which extend it.
pub struct SourceTiles<'a> {
    source: &'a LogSource,
    latest: u64,
}

impl SourceTiles<'_> {
    fn read_path(&self, path: &str) -> Result<Option<HashTile>, SourceError> {
        let Some(bytes) = self.source.read(path)? else {
            return Ok(None);
        };
        HashTile::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| SourceError::Malformed {
                what: format!("{}/{path}", self.source),
                reason: e.to_string(),
            })
    }
}

impl TileSource for SourceTiles<'_> {
    type Error = SourceError;

    fn read_tile(&self, id: TileId) -> Result<HashTile, SourceError> {
        for c in id.serving_tiles(self.latest) {
            if let Some(t) = self.read_path(&c.path())? {
                return Ok(t);
            }
        }
        Err(SourceError::Missing(format!(
            "{}/{}",
            self.source,
            id.path()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_kinds() {
        assert!(matches!(
            LogSource::parse("http://127.0.0.1:8080/log/").unwrap(),
            LogSource::Url(u) if u == "http://127.0.0.1:8080/log"
        ));
        let e = LogSource::parse("https://example.com/log")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http:// only"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = LogSource::parse(dir.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no 'checkpoint' file"), "{e}");
        std::fs::write(dir.path().join("checkpoint"), "x").unwrap();
        assert!(matches!(
            LogSource::parse(dir.path().to_str().unwrap()).unwrap(),
            LogSource::Dir(_)
        ));
    }
}
