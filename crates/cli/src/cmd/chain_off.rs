//! The chain commands in a build without the `chain` feature: `poex chain`, `poex anchor`,
//! `publish --chain`, `run --chain`, `run --require-chain` and `verify --rpc` say how to get
//! them, and a home that names a chain (`HOME/chain.toml`) refuses `poex run` rather than skip
//! the registry check its owner set up. The types that only a chain client makes are
//! uninhabited here, so the code after a refusal cannot be reached.

use std::path::Path;

use anyhow::{Result, bail};
use poex_core::Digest;
use poex_log::note::Ed25519Verifier;
use poex_store::registry::AssetKind;
use serde_json::Value;

use crate::Done;
use crate::args::{AnchorArgs, ChainArgs};

pub use super::chain_common::*;
pub use poex_home::chain_config_path as config_path;

/// What every refusal ends with.
const BUILD: &str = "this poex was built without the `chain` feature: build it with `cargo install --path crates/cli --features chain` (docs/chain.md)";

/// The chain settings: none can be read in this build.
pub enum ChainConfig {}

/// A `poex run --chain` task: none can be started in this build.
pub enum TaskRun {}

pub fn chain(_root: &Path, _args: ChainArgs, _quiet: bool) -> Result<Done> {
    bail!("poex chain talks to an EVM chain, and {BUILD}")
}

pub fn anchor(_root: &Path, _args: AnchorArgs, _quiet: bool) -> Result<Done> {
    bail!("poex anchor writes the log's checkpoint on an EVM chain, and {BUILD}")
}

pub fn publish_config(_root: &Path, _rpc: Option<&str>) -> Result<ChainConfig> {
    bail!("--chain registers what is published on an EVM chain, and {BUILD}; nothing was published")
}

pub fn register_published(
    _root: &Path,
    config: &ChainConfig,
    _kind: AssetKind,
    _name: &str,
    _sha256: &Digest,
    _quiet: bool,
) -> Result<()> {
    match *config {}
}

pub fn verify_config(
    _root: &Path,
    _rpc: &str,
    _chain_id: Option<u64>,
    _anchor_contract: Option<&str>,
) -> Result<ChainConfig> {
    bail!(
        "--rpc checks the bundle's checkpoint against an EVM chain, and {BUILD}; nothing was checked"
    )
}

/// Before `poex run`: with no chain client, a job runs only where no chain check was asked
/// for, by the command (`--require-chain`) or by the home (`HOME/chain.toml`).
pub fn check_run_inputs(
    root: &Path,
    check: &RunCheck<'_>,
    _inputs: &[(AssetKind, &str, &Digest)],
) -> Result<Option<String>> {
    let path = config_path(root);
    if check.require {
        bail!("--require-chain looks the inputs up on chain, and {BUILD}; nothing was run")
    }
    if path.exists() && !check.skip {
        bail!(
            "{} names a chain whose registry this home checks a job's inputs in, and {BUILD}; or pass --no-chain-check to run without the check. Nothing was run",
            path.display()
        )
    }
    Ok(None)
}

impl TaskRun {
    pub fn begin(
        _root: &Path,
        _opts: &TaskOptions<'_>,
        _request_json: &[u8],
        _algorithm: &Digest,
        _datasets: &[&Digest],
    ) -> Result<Self> {
        bail!("--chain runs the job as a task on an EVM chain, and {BUILD}; nothing was run")
    }

    pub fn unfinished(&self) -> String {
        match *self {}
    }

    pub fn finish(
        self,
        _report: &poex_exec::pipeline::JobReport,
        _processor_key: &poex_core::PublicKey,
        _log_verifier: &Ed25519Verifier,
        _request_path: &Path,
    ) -> Result<Value> {
        match self {}
    }
}
