//! poex on an EVM chain (docs/chain.md).
//!
//! Three contracts (`contracts/src`, compiled by solcjs to `contracts/build`): `HashSig`, the
//! write-once digest registry (`addSig`/`getSig`); `CheckpointAnchor`, which keeps each log's signed
//! checkpoints in a strictly growing line; and `PoxTasks`, the task workflow (submit,
//! advertise, match, approve, result) with deadlines. [`Chain`] connects to a JSON-RPC endpoint
//! named by a [`ChainConfig`] (checking its chain id), signs with a [`ChainKey`] kept in a 0600
//! file, and reports every failure as a [`ChainError`] that says what to do.

mod anchor;
mod client;
mod config;
pub mod contracts;
mod deploy;
#[cfg(feature = "devnode")]
pub mod devnode;
mod error;
mod key;
mod registry;
mod tasks;

pub use alloy::primitives::{Address, B256, U256};
pub use anchor::{AnchorRecord, Anchored, log_key};
pub use client::{Chain, Sent, redact_url};
pub use config::{ChainConfig, Contracts};
pub use deploy::Deployed;
pub use error::{ChainError, describe_revert};
pub use key::ChainKey;
pub use registry::{Entry, Registered, registry_name};
pub use tasks::*;
