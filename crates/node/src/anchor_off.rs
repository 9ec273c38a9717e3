//! Anchoring in a build without the `chain` feature: a node configured to anchor
//! (`anchor_interval_secs` not 0) refuses to start and says how to build one that can, rather
//! than serve without the anchoring its operator asked for.

use std::path::Path;

use tokio::sync::watch;

use crate::config::Config;
use crate::state::{Node, StartError};

/// The anchoring set-up: none exists in this build.
pub enum Anchoring {}

/// The latest anchor (`GET /api/info`): never known in this build.
pub use poex_client::wire::Anchor as LastAnchor;

impl Anchoring {
    /// Refuses `anchor_interval_secs` other than 0.
    pub(crate) fn load(_root: &Path, config: &Config) -> Result<Option<Anchoring>, StartError> {
        match config.anchor_interval_secs {
            0 => Ok(None),
            secs => Err(StartError::Chain(format!(
                "anchor_interval_secs = {secs} anchors the log's checkpoints on an EVM chain, and \
                 this poex was built without the `chain` feature: build it with `cargo install \
                 --path crates/cli --features chain`, or set anchor_interval_secs = 0 to serve \
                 without anchoring"
            ))),
        }
    }

    /// Never called: there is no anchoring to ask.
    pub fn last(&self) -> Option<LastAnchor> {
        match *self {}
    }
}

/// Never spawned: there is no anchoring to run.
pub(crate) async fn run(_node: std::sync::Arc<Node>, _stop: watch::Receiver<bool>) {}
