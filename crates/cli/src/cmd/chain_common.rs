//! The parts of the chain commands that need no chain client: what `poex run` checks on chain
//! and the options of a chain task, shared by `chain.rs` (the `chain` feature) and
//! `chain_off.rs` (a build without it).

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use poex_core::Digest;
use poex_store::registry::AssetKind;

/// A job request's inputs as `check_run_inputs` takes them: the algorithm, then each dataset.
pub fn request_inputs(request: &poex_core::request::JobRequest) -> Vec<(AssetKind, &str, &Digest)> {
    let mut inputs = vec![(
        AssetKind::Algorithm,
        request.algorithm.name.as_str(),
        &request.algorithm.digest,
    )];
    inputs.extend(
        request
            .datasets
            .iter()
            .map(|d| (AssetKind::Dataset, d.name.as_str(), &d.digest)),
    );
    inputs
}

/// How `poex run` looks its inputs up on chain.
#[cfg_attr(
    not(feature = "chain"),
    expect(dead_code, reason = "read by the chain client, which this build lacks")
)]
pub struct RunCheck<'a> {
    /// `--require-chain`.
    pub require: bool,
    /// `--no-chain-check`.
    pub skip: bool,
    /// `--rpc`.
    pub rpc: Option<&'a str>,
    /// Print the lines on stderr (stdout carries JSON).
    pub to_stderr: bool,
    /// `--quiet`.
    pub quiet: bool,
}

/// A duration for `--match-within`/`--result-within`: seconds, or a number with s, m, h or d.
pub fn parse_duration(text: &str, flag: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{flag} {text:?}: give seconds, or a number with s, m, h or d (e.g. 10m)"),
    };
    let n: u64 = digits.parse().map_err(|_| {
        anyhow::anyhow!("{flag} {text:?}: give seconds, or a number with s, m, h or d (e.g. 10m)")
    })?;
    if n == 0 {
        bail!("{flag} {text:?}: must be more than zero");
    }
    n.checked_mul(scale)
        .with_context(|| format!("{flag} {text:?}: too long"))
}

/// What `poex run --chain` needs to start a task.
#[cfg_attr(
    not(feature = "chain"),
    expect(dead_code, reason = "read by the chain client, which this build lacks")
)]
pub struct TaskOptions<'a> {
    /// `--requester-chain-key` (default: the home's chain key).
    pub requester_key: Option<&'a Path>,
    /// Seconds of chain time to match and approve.
    pub match_within: u64,
    /// Seconds of chain time to the result.
    pub result_within: u64,
    /// `--rpc`.
    pub rpc: Option<&'a str>,
    /// The processor's offer text.
    pub resources: String,
    /// The task's metadata.
    pub metadata: String,
    /// Print the steps on stderr (stdout carries JSON).
    pub to_stderr: bool,
    /// `--quiet`.
    pub quiet: bool,
}
