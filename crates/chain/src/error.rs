//! What can go wrong talking to a chain, each case with what to do about it.

use std::path::PathBuf;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::{SolInterface, decode_revert_reason};

use crate::AnchorRecord;
use crate::contracts::{CheckpointAnchor, HashSig, PoxTasks};

/// Why a chain operation failed. The messages name the endpoint, transaction or contract
/// involved and the next step; none of them contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// `chain.toml` is missing, malformed or incomplete.
    #[error("{0}")]
    Config(String),
    /// The signer key file could not be created or read.
    #[error("chain key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// Nothing answers at the RPC URL.
    #[error(
        "cannot reach the JSON-RPC endpoint {url}: {detail}. Check rpc_url in chain.toml (or --rpc) and that the node is running"
    )]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The transport's error.
        detail: String,
    },
    /// The endpoint took longer than the configured timeout.
    #[error(
        "the JSON-RPC endpoint {url} did not answer {what} within {secs} s; it is slow or stuck. Try again, or raise rpc_timeout_secs in chain.toml"
    )]
    Timeout {
        /// The endpoint.
        url: String,
        /// The request.
        what: String,
        /// The timeout.
        secs: u64,
    },
    /// The endpoint serves another chain than the configuration names.
    #[error(
        "{url} serves chain id {got}, but chain.toml says chain_id = {expected}; refusing to sign for the wrong chain. Fix rpc_url or chain_id"
    )]
    WrongChain {
        /// The endpoint.
        url: String,
        /// chain_id in the configuration.
        expected: u64,
        /// What the endpoint reports.
        got: u64,
    },
    /// No contract code where the configuration says a contract is.
    #[error(
        "no contract code at {address} (contracts.{role} in chain.toml) on chain {chain_id}: deploy with 'poex chain deploy' or fix the address"
    )]
    NoContract {
        /// registry, anchor or tasks.
        role: &'static str,
        /// The configured address.
        address: Address,
        /// The chain.
        chain_id: u64,
    },
    /// The configuration names no address for a contract the operation needs.
    #[error(
        "chain.toml has no contracts.{role} address: deploy with 'poex chain deploy' or set it"
    )]
    NotConfigured {
        /// registry, anchor or tasks.
        role: &'static str,
    },
    /// The contract refused the call; nothing changed on chain. Found when estimating (`tx`
    /// is `None`: nothing was sent) or in a mined transaction (`tx`).
    #[error("{call} reverted: {reason}{}", revert_where(.tx))]
    Reverted {
        /// Contract and function.
        call: String,
        /// The decoded revert (custom error with its fields, or the revert string).
        reason: String,
        /// The mined transaction, when the revert happened on chain rather than in the estimate.
        tx: Option<B256>,
    },
    /// The signer cannot pay for the transaction.
    #[error(
        "{address} has {balance} wei but {call} needs up to {} wei (gas {gas} at {max_fee_per_gas} wei); nothing was sent. Fund the address and run the command again",
        U256::from(*.gas) * U256::from(*.max_fee_per_gas)
    )]
    InsufficientFunds {
        /// The signer's address.
        address: Address,
        /// Its balance.
        balance: U256,
        /// Estimated gas (with a margin); the transaction needs up to gas × max fee.
        gas: u64,
        /// Max fee per gas.
        max_fee_per_gas: u128,
        /// Contract and function.
        call: String,
    },
    /// The transaction was sent but no receipt arrived in time.
    #[error(
        "{call}: transaction {tx} was sent but has no receipt after {secs} s; it may still be mined. Run the same command again: it waits for this transaction rather than sending another"
    )]
    NoReceipt {
        /// Contract and function.
        call: String,
        /// The transaction hash.
        tx: B256,
        /// How long we waited.
        secs: u64,
    },
    /// The chain holds a different root for a size this log has signed: the log forked, or the
    /// anchor belongs to someone else's log of the same key.
    #[error(
        "log {} is anchored at size {} with root {} (transaction {}, block {}, by {}), but this checkpoint has root {ours}: the log has forked. Nothing was sent; keep both signed checkpoints (the anchored note is in that transaction) as evidence and stop using this log until the fork is explained",
        .anchored.log_key, .anchored.size, .anchored.root, .anchored.tx, .anchored.block, .anchored.submitter
    )]
    Forked {
        /// What the chain holds for this size: log key, size, root, note, transaction.
        anchored: Box<AnchorRecord>,
        /// The checkpoint's root.
        ours: B256,
    },
    /// A checkpoint to anchor does not open with the log's key.
    #[error("the checkpoint does not verify with the log's key: {0}")]
    Checkpoint(String),
    /// The journal of sent transactions could not be read or written.
    #[error("transaction journal {path}: {reason}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Any other JSON-RPC error, with the node's message.
    #[error("JSON-RPC {what} at {url}: {detail}")]
    Rpc {
        /// The endpoint.
        url: String,
        /// The request.
        what: String,
        /// The node's message.
        detail: String,
    },
}

/// Names a revert: one of poex's contracts' custom errors with its fields, a revert string, a
/// panic code, or the raw data.
pub fn describe_revert(data: &[u8]) -> String {
    if data.is_empty() {
        return "no reason given".to_owned();
    }
    if let Ok(e) = HashSig::HashSigErrors::abi_decode(data) {
        return format!("{e:?}; {}", registry_hint(&e));
    }
    if let Ok(e) = CheckpointAnchor::CheckpointAnchorErrors::abi_decode(data) {
        return format!("{e:?}; {}", anchor_hint(&e));
    }
    if let Ok(e) = PoxTasks::PoxTasksErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    decode_revert_reason(data).unwrap_or_else(|| format!("0x{}", Bytes::copy_from_slice(data)))
}

fn revert_where(tx: &Option<B256>) -> String {
    match tx {
        None => " (found by estimating the transaction: nothing was sent)".to_owned(),
        Some(tx) => format!(" (in mined transaction {tx}: it used gas, nothing else changed)"),
    }
}

/// What to do about a HashSig refusal.
fn registry_hint(e: &HashSig::HashSigErrors) -> String {
    match e {
        HashSig::HashSigErrors::AlreadyRegistered(e) => format!(
            "the name is taken by {} with digest {}; entries are write-once, so register under another name",
            e.owner, e.hash
        ),
        HashSig::HashSigErrors::ZeroHash(_) => {
            "a zero digest means \"not registered\"; register the asset's actual digest".to_owned()
        }
    }
}

/// What to do about a CheckpointAnchor refusal.
fn anchor_hint(e: &CheckpointAnchor::CheckpointAnchorErrors) -> String {
    use CheckpointAnchor::CheckpointAnchorErrors as E;
    match e {
        E::NotSubmitter(e) => format!(
            "only {} may anchor this log or hand it over (it anchored first, or was handed the log); sign with that key, or have it call setSubmitter for this address",
            e.submitter
        ),
        E::NotGrowing(e) => format!(
            "size {} is anchored already and anchors only grow; anchor a checkpoint larger than that",
            e.anchoredSize
        ),
        E::EmptyTree(_) => {
            "an empty log has nothing to anchor; anchor once it has entries".to_owned()
        }
        E::ZeroSubmitter(_) => "name a non-zero address to hand the log to".to_owned(),
    }
}
