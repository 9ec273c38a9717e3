//! Periodic anchoring of the log's signed checkpoints on an EVM chain (`anchor_interval_secs`,
//! docs/node.md "Anchoring").
//!
//! The chain settings (`HOME/chain.toml`, which must name a `CheckpointAnchor` contract) and the
//! signer key are read when the node starts: a missing or malformed one is a configuration
//! mistake and stops the start. The chain itself is only contacted by the background task
//! ([`run`]): an unreachable endpoint, or one serving another chain, is logged and tried again
//! each interval while the node goes on serving. Every round that finds the log larger than
//! the last checkpoint anchored (or found anchored) by this node anchors the latest signed
//! checkpoint; `Chain::anchor` sends nothing for a checkpoint already covered, and its journal
//! (`HOME/chain/pending`) makes a lost receipt safe to retry.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use poex_chain::{AnchorRecord, Anchored, Chain, ChainConfig, ChainError, ChainKey};
use tokio::sync::watch;

use crate::config::Config;
use crate::state::{Node, StartError};

/// The anchoring set-up of a node whose `anchor_interval_secs` is not 0.
pub struct Anchoring {
    config: ChainConfig,
    key: ChainKey,
    journal: PathBuf,
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The largest checkpoint size anchored, or found anchored, since the node started.
    anchored: u64,
    /// What `GET /api/info` shows.
    last: Option<LastAnchor>,
}

/// The latest anchor of the log this node knows of, as `GET /api/info` shows it.
pub use poex_client::wire::Anchor as LastAnchor;

impl Anchoring {
    /// Reads `root/chain.toml` and its key file when `config.anchor_interval_secs` is not 0.
    pub(crate) fn load(root: &Path, config: &Config) -> Result<Option<Anchoring>, StartError> {
        let secs = config.anchor_interval_secs;
        if secs == 0 {
            return Ok(None);
        }
        let path = poex_home::chain_config_path(root);
        let refuse = |what: String| {
            StartError::Chain(format!(
                "anchor_interval_secs = {secs} needs the chain settings in {} and their key: {what}. \
                 Fix them, or set anchor_interval_secs = 0 to serve without anchoring",
                path.display()
            ))
        };
        let chain = ChainConfig::load(&path).map_err(|e| refuse(e.to_string()))?;
        let Some(contract) = chain.contracts.anchor else {
            return Err(refuse(
                "chain.toml has no contracts.anchor address (deploy with 'poex chain deploy' or set it)"
                    .to_owned(),
            ));
        };
        let key = ChainKey::load(&chain.key_file).map_err(|e| refuse(e.to_string()))?;
        tracing::info!(
            every_secs = secs,
            chain_id = chain.chain_id,
            contract = %contract,
            signer = %key.address(),
            "anchoring the log's checkpoints"
        );
        Ok(Some(Anchoring {
            config: chain,
            key,
            journal: poex_home::chain_journal_dir(root),
            interval: Duration::from_secs(secs),
            state: Mutex::new(State::default()),
        }))
    }

    /// The latest anchor anchored, or found anchored, since the node started.
    pub fn last(&self) -> Option<LastAnchor> {
        self.lock().last.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, rec: &AnchorRecord) {
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut state = self.lock();
        state.anchored = state.anchored.max(rec.size);
        if state.last.as_ref().is_none_or(|l| l.size <= rec.size) {
            state.last = Some(LastAnchor {
                size: rec.size,
                block: rec.block,
                tx: rec.tx.to_string(),
                at,
                chain_id: self.config.chain_id,
                contract: self
                    .config
                    .contracts
                    .anchor
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            });
        }
    }

    /// One round: anchors the latest checkpoint if the log grew past the last anchor.
    async fn round(&self, node: &Node, chain: &mut Option<Chain>) {
        let size = node.ledger.size();
        if size == 0 || self.lock().anchored >= size {
            return;
        }
        let note = match node.ledger.checkpoint() {
            Ok((_, note)) => note,
            Err(e) => {
                tracing::error!(error = %e, "anchoring: cannot read the log's checkpoint");
                return;
            }
        };
        let chain = match chain {
            Some(c) => c,
            None => match Chain::connect(self.config.clone(), Some(self.key.clone())).await {
                Ok(c) => {
                    tracing::info!(
                        endpoint = c.endpoint(),
                        chain_id = self.config.chain_id,
                        "anchoring: connected to the chain"
                    );
                    chain.insert(c.with_journal(&self.journal))
                }
                Err(e) => {
                    self.failed(&e, "cannot connect to the chain");
                    return;
                }
            },
        };
        let endpoint = chain.endpoint();
        match chain.anchor(&note, node.ledger.verifier()).await {
            Ok(Anchored::Now(rec, sent)) => {
                tracing::info!(
                    size = rec.size,
                    block = sent.block,
                    tx = %sent.tx,
                    gas = sent.gas_used,
                    endpoint,
                    "anchored the log's checkpoint"
                );
                self.record(&rec);
            }
            Ok(Anchored::Already(rec)) => {
                tracing::info!(
                    size = rec.size,
                    block = rec.block,
                    tx = %rec.tx,
                    endpoint,
                    "the log's checkpoint is anchored already; nothing sent"
                );
                self.record(&rec);
            }
            Ok(Anchored::Covered(rec)) => {
                // The chain holds a larger checkpoint of this log than the log has: the log
                // was restored from an older copy, or another log uses its key.
                tracing::warn!(
                    size = rec.size,
                    log_size = size,
                    block = rec.block,
                    tx = %rec.tx,
                    submitter = %rec.submitter,
                    endpoint,
                    "a larger checkpoint than the log's is anchored already; nothing sent until the log grows past it"
                );
                self.record(&rec);
            }
            Err(e) => self.failed(&e, "anchoring failed"),
        }
    }

    fn failed(&self, e: &ChainError, what: &str) {
        let retry = self.interval.as_secs();
        match e {
            // Nothing that fixes itself: say so louder.
            ChainError::Forked { .. }
            | ChainError::WrongChain { .. }
            | ChainError::NoContract { .. }
            | ChainError::NotConfigured { .. }
            | ChainError::InsufficientFunds { .. }
            | ChainError::Key { .. }
            | ChainError::Config(_) => {
                tracing::error!(error = %e, retry_secs = retry, "{what}");
            }
            _ => tracing::warn!(error = %e, retry_secs = retry, "{what}; trying again"),
        }
    }
}

/// Anchors every interval until `stop` turns true (or its sender is dropped). The first round
/// runs at once. Never holds a lock across an await: a round reads the size and the latest
/// signed note, then talks to the chain.
pub(crate) async fn run(node: std::sync::Arc<Node>, mut stop: watch::Receiver<bool>) {
    let Some(anchoring) = node.anchoring.as_ref() else {
        return;
    };
    let rounds = async {
        let mut ticks = tokio::time::interval(anchoring.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut chain = None;
        loop {
            ticks.tick().await;
            anchoring.round(&node, &mut chain).await;
        }
    };
    tokio::select! {
        _ = stop.wait_for(|stopping| *stopping) => {}
        _ = rounds => {}
    }
    tracing::debug!("anchoring stopped");
}
