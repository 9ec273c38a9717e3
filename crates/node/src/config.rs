//! Node settings: embedded defaults, then `HOME/node.toml` (or `--config FILE`), then
//! `POEX_NODE_*` environment variables, then flags (applied by the caller). Unknown keys in
//! the file are refused, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The node's settings. Field docs are the reference; docs/node.md has the same table.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Address to serve (`127.0.0.1:8420`).
    pub listen: SocketAddr,
    /// Jobs running at once.
    pub max_concurrent_jobs: usize,
    /// Jobs one requester may have queued; more get 429.
    pub max_queued_per_requester: usize,
    /// A job waiting longer than this ends `expired`.
    pub queue_timeout_secs: u64,
    /// Largest upload body.
    pub max_upload_bytes: u64,
    /// Largest JSON body.
    pub max_json_bytes: usize,
    /// A request whose body does not arrive within this many seconds is cut off (408).
    pub request_timeout_secs: u64,
    /// How long shutdown waits for running jobs before cancelling them.
    pub shutdown_grace_secs: u64,
    /// Key ids (64 hex digits) that may publish datasets, register files by path and cancel
    /// any job. Empty: the home's `default` key.
    pub owners: Vec<String>,
    /// Host folders whose files owners may register by path.
    pub import_roots: Vec<PathBuf>,
    /// Longest `expires - created` of an accepted request signature.
    pub signature_max_age_secs: i64,
    /// Seconds between anchoring rounds: each round anchors the log's latest signed checkpoint
    /// on the chain named by `HOME/chain.toml`, when the log has grown. 0 (the default): off.
    pub anchor_interval_secs: u64,
    /// The authority (`host[:port]`, RFC 9421 `@authority`) request signatures must be made
    /// for: the `Host` clients send. Unset: the listen address (and `localhost:PORT` when it is
    /// a loopback address); required when listening on all interfaces.
    pub authority: Option<String>,
    /// Connections served at once; more are answered 503 and closed at once.
    pub max_connections: usize,
    /// After `request_timeout_secs`, a request body must keep arriving at this rate on average
    /// (each byte received extends the deadline by `1 / min_body_bytes_per_sec` s), or 408.
    pub min_body_bytes_per_sec: u64,
    /// Denials (401, 403) logged one by one per source address per minute (all sources
    /// together: ten times this); the rest are counted and summarised.
    pub deny_log_per_minute: u32,
    /// At most one summary of the denials over the budget per this many seconds.
    pub deny_summary_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8420)),
            max_concurrent_jobs: 2,
            max_queued_per_requester: 64,
            queue_timeout_secs: 3600,
            max_upload_bytes: 1 << 30,
            max_json_bytes: 1 << 20,
            request_timeout_secs: 30,
            shutdown_grace_secs: 30,
            owners: Vec::new(),
            import_roots: Vec::new(),
            signature_max_age_secs: 300,
            anchor_interval_secs: 0,
            authority: None,
            max_connections: 512,
            min_body_bytes_per_sec: 1024,
            deny_log_per_minute: 10,
            deny_summary_secs: 60,
        }
    }
}

/// Why the settings could not be loaded. Each message names the file or variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An environment variable has a value of the wrong shape.
    #[error("{name}={value:?}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        message: String,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Loads the settings: `file` if given (it must exist), else `HOME/node.toml` if it exists,
    /// else the defaults; then the environment through `env` (`std::env::var` in the binary;
    /// a map in tests).
    pub fn load(
        home: &Path,
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let default_file = home.join("node.toml");
        let path = match file {
            Some(f) => Some(f.to_owned()),
            None => default_file.exists().then_some(default_file),
        };
        let mut config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.clone(),
                    message: e.to_string().trim_end().to_owned(),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.check()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parsed<T: std::str::FromStr>(
            name: &'static str,
            value: String,
            what: &str,
        ) -> Result<T, ConfigError> {
            value.trim().parse().map_err(|_| ConfigError::Env {
                name,
                value,
                message: format!("expected {what}"),
            })
        }
        if let Some(v) = env("POEX_NODE_LISTEN") {
            self.listen = parsed("POEX_NODE_LISTEN", v, "an address like 127.0.0.1:8420")?;
        }
        if let Some(v) = env("POEX_NODE_MAX_CONCURRENT_JOBS") {
            self.max_concurrent_jobs = parsed("POEX_NODE_MAX_CONCURRENT_JOBS", v, "a number")?;
        }
        if let Some(v) = env("POEX_NODE_MAX_QUEUED_PER_REQUESTER") {
            self.max_queued_per_requester =
                parsed("POEX_NODE_MAX_QUEUED_PER_REQUESTER", v, "a number")?;
        }
        if let Some(v) = env("POEX_NODE_QUEUE_TIMEOUT_SECS") {
            self.queue_timeout_secs = parsed("POEX_NODE_QUEUE_TIMEOUT_SECS", v, "seconds")?;
        }
        if let Some(v) = env("POEX_NODE_MAX_UPLOAD_BYTES") {
            self.max_upload_bytes = parsed("POEX_NODE_MAX_UPLOAD_BYTES", v, "a byte count")?;
        }
        if let Some(v) = env("POEX_NODE_ANCHOR_INTERVAL_SECS") {
            self.anchor_interval_secs = parsed("POEX_NODE_ANCHOR_INTERVAL_SECS", v, "seconds")?;
        }
        if let Some(v) = env("POEX_NODE_AUTHORITY") {
            self.authority = Some(v.trim().to_owned());
        }
        if let Some(v) = env("POEX_NODE_MAX_CONNECTIONS") {
            self.max_connections = parsed("POEX_NODE_MAX_CONNECTIONS", v, "a number")?;
        }
        if let Some(v) = env("POEX_NODE_OWNERS") {
            self.owners = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = env("POEX_NODE_IMPORT_ROOTS") {
            self.import_roots = std::env::split_paths(&v).collect();
        }
        Ok(())
    }

    /// Refuses settings the node cannot work with.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.max_concurrent_jobs == 0 {
            return Err(ConfigError::Invalid(
                "max_concurrent_jobs is 0: no job would ever run; use 1 or more".into(),
            ));
        }
        if self.signature_max_age_secs <= 0 {
            return Err(ConfigError::Invalid(
                "signature_max_age_secs must be positive".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "max_connections is 0: no request would be served; use 1 or more".into(),
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "request_timeout_secs must be positive".into(),
            ));
        }
        match &self.authority {
            Some(a) => {
                let valid = !a.is_empty()
                    && a.parse::<axum::http::uri::Authority>()
                        .is_ok_and(|p| p.as_str() == a.as_str() && !a.contains('@'));
                if !valid {
                    return Err(ConfigError::Invalid(format!(
                        "authority {a:?} is not host[:port] (e.g. \"node.example:8420\")"
                    )));
                }
            }
            None if self.listen.ip().is_unspecified() => {
                return Err(ConfigError::Invalid(format!(
                    "listen is {} (every interface): set authority = \"HOST:PORT\" in node.toml to \
                     the name clients reach the node by (request signatures cover it)",
                    self.listen
                )));
            }
            None => {}
        }
        for o in &self.owners {
            o.parse::<poex_core::KeyId>()
                .map_err(|e| ConfigError::Invalid(format!("owners: {e}")))?;
        }
        for r in &self.import_roots {
            if !r.is_absolute() {
                return Err(ConfigError::Invalid(format!(
                    "import_roots: {} is not an absolute path",
                    r.display()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("node.toml"),
            "listen = \"127.0.0.1:9000\"\nmax_concurrent_jobs = 4\n",
        )
        .unwrap();
        let c = Config::load(
            dir.path(),
            None,
            env(&[("POEX_NODE_MAX_CONCURRENT_JOBS", "3")]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.max_concurrent_jobs, 3);
        assert_eq!(c.queue_timeout_secs, 3600);
        assert_eq!(c.anchor_interval_secs, 0);
        let c = Config::load(
            dir.path(),
            None,
            env(&[("POEX_NODE_ANCHOR_INTERVAL_SECS", "60")]),
        )
        .unwrap();
        assert_eq!(c.anchor_interval_secs, 60);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("n.toml");
        std::fs::write(&f, "max_concurent_jobs = 4\n").unwrap();
        let e = Config::load(dir.path(), Some(&f), env(&[])).unwrap_err();
        assert!(e.to_string().contains("max_concurent_jobs"), "{e}");
        let e =
            Config::load(dir.path(), None, env(&[("POEX_NODE_LISTEN", "nowhere")])).unwrap_err();
        assert!(e.to_string().contains("POEX_NODE_LISTEN"), "{e}");
        let e = Config::load(
            dir.path(),
            None,
            env(&[("POEX_NODE_MAX_CONCURRENT_JOBS", "0")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_concurrent_jobs"), "{e}");
    }
}
