//! Reading somebody's log: a tlog-tiles directory on disk or a tlog-tiles URL (`http://`),
//! both through [`poex_log::reader::LogReader`], the one tile reader.
//!
//! What `poex verify --log`, `poex log` and a node checking another node's log use to fetch a
//! latest checkpoint and the tiles a consistency or inclusion proof needs. Nothing read here
//! is trusted: checkpoints are opened with the log key the caller trusts, and proofs built from
//! fetched tiles are verified against signed checkpoints.

use std::io::Read as _;
use std::path::PathBuf;

use poex_log::reader::{LogFiles, LogReader, ReadError};
use poex_log_store::dir::DirFiles;

/// The largest file fetched: a full tile is 8 KiB, a full entry bundle at most 256 × 64 KiB.
pub const MAX_FETCH: u64 = 17 * 1024 * 1024;

/// The files of a log served over HTTP at a tlog-tiles base URL.
#[derive(Clone, Debug)]
pub struct HttpFiles {
    /// `http://host/prefix`, no trailing slash.
    base: String,
    agent: ureq::Agent,
}

/// Fetching a file of a log failed.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct FetchError {
    /// The URL.
    pub url: String,
    /// Why.
    pub reason: String,
}

impl HttpFiles {
    /// The log at `base` (`http://host/prefix`).
    pub fn new(base: &str) -> HttpFiles {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .timeout_connect(Some(std::time::Duration::from_secs(15)))
            .timeout_global(Some(std::time::Duration::from_secs(300)))
            .user_agent(format!("poex/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpFiles {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }
}

impl LogFiles for HttpFiles {
    type Error = FetchError;

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, FetchError> {
        let url = format!("{}/{path}", self.base);
        let failed = |reason: String| FetchError {
            url: url.clone(),
            reason,
        };
        let response = match self.agent.get(&url).call() {
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

/// Where a log's files are.
#[derive(Clone, Debug)]
pub enum LogSource {
    /// A tlog-tiles directory (holding `checkpoint` and `tile/`).
    Dir(DirFiles),
    /// A tlog-tiles base URL.
    Url(HttpFiles),
}

/// A log's file could not be read, from either source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// From a directory.
    #[error(transparent)]
    Dir(std::io::Error),
    /// Over HTTP.
    #[error(transparent)]
    Url(FetchError),
}

/// A log read from a [`LogSource`].
pub type SourceTiles = LogReader<LogSource>;

/// Why a log's file could not be read from a [`LogSource`].
pub type SourceReadError = ReadError<SourceError>;

impl LogSource {
    /// Parses a `--log` argument: `http://...` is a URL, anything else a directory.
    pub fn parse(arg: &str) -> Result<Self, String> {
        if let Some(rest) = arg.strip_prefix("http://") {
            if rest.trim_end_matches('/').is_empty() {
                return Err(format!("--log {arg}: the URL has no host"));
            }
            return Ok(Self::Url(HttpFiles::new(arg)));
        }
        if arg.starts_with("https://") {
            return Err(format!(
                "--log {arg}: this build fetches logs over plain http:// only (no TLS stack is \
                 compiled in); download the checkpoint and tiles and pass the directory instead"
            ));
        }
        let dir = PathBuf::from(arg);
        if !dir.join(poex_log::reader::CHECKPOINT).is_file() {
            return Err(format!(
                "--log {arg}: no tlog-tiles log there (no 'checkpoint' file); pass the log's \
                 tiles directory (`poex log info` prints it) or its http:// URL"
            ));
        }
        Ok(Self::Dir(DirFiles::new(dir)))
    }

    /// This log as it is at `latest` entries (the size of its newest checkpoint).
    pub fn tiles(&self, latest: u64) -> SourceTiles {
        LogReader::new(self.clone(), latest)
    }
}

impl LogFiles for LogSource {
    type Error = SourceError;

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self {
            Self::Dir(d) => d.read(path).map_err(SourceError::Dir),
            Self::Url(u) => u.read(path).map_err(SourceError::Url),
        }
    }
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(d) => d.root().display().fmt(f),
            Self::Url(u) => u.base.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_kinds() {
        assert!(matches!(
            LogSource::parse("http://127.0.0.1:8080/log/").unwrap(),
            LogSource::Url(u) if u.base() == "http://127.0.0.1:8080/log"
        ));
        let e = LogSource::parse("https://example.com/log").unwrap_err();
        assert!(e.contains("http:// only"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = LogSource::parse(dir.path().to_str().unwrap()).unwrap_err();
        assert!(e.contains("no 'checkpoint' file"), "{e}");
        std::fs::write(dir.path().join("checkpoint"), "x").unwrap();
        let source = LogSource::parse(dir.path().to_str().unwrap()).unwrap();
        assert!(matches!(source, LogSource::Dir(_)));
        assert_eq!(source.tiles(0).checkpoint().unwrap(), b"x");
    }
}
