//! Checkpoint anchors: a log's signed checkpoints written to `CheckpointAnchor`, one strictly
//! growing line per log key, and read back with the block and transaction that wrote them.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider as _;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall as _, SolEvent as _};
use poex_log::Checkpoint;
use poex_log::note::{Ed25519Verifier, Verifier as _};
use sha2::{Digest as _, Sha256};

use crate::contracts::CheckpointAnchor;
use crate::registry::contract_rpc;
use crate::{Chain, ChainError, Sent};

/// The log key: SHA-256 of the note verifier key (`name || 0x0A || 0x01 || public key`); its
/// first four bytes are the key ID in the log's signature lines.
pub fn log_key(verifier: &Ed25519Verifier) -> B256 {
    let mut h = Sha256::new();
    h.update(verifier.name().as_bytes());
    h.update([b'\n', 0x01]);
    h.update(verifier.public_key());
    B256::from(<[u8; 32]>::from(h.finalize()))
}

/// A checkpoint as anchored on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorRecord {
    /// The log key.
    pub log_key: B256,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: B256,
    /// The log's origin line, as submitted.
    pub origin: String,
    /// The signed checkpoint note, as submitted (check it with the log's key: the contract
    /// cannot).
    pub note: Vec<u8>,
    /// Who anchored it.
    pub submitter: Address,
    /// Its block.
    pub block: u64,
    /// Its transaction.
    pub tx: B256,
}

impl AnchorRecord {
    /// The anchored note opened with the log's key: the anchored size and root must be the
    /// ones the log signed.
    pub fn open(&self, verifier: &Ed25519Verifier) -> Result<Checkpoint, ChainError> {
        let (cp, _) = Checkpoint::open(&self.note, &[verifier])
            .map_err(|e| ChainError::Checkpoint(e.to_string()))?;
        if cp.size.0 != self.size || cp.root.as_bytes() != self.root.as_slice() {
            return Err(ChainError::Checkpoint(format!(
                "the note anchored in transaction {} says size {} but the anchor says {}",
                self.tx, cp.size.0, self.size
            )));
        }
        Ok(cp)
    }
}

/// What [`Chain::anchor`] did.
#[derive(Debug, Clone)]
pub enum Anchored {
    /// Anchored by this transaction.
    Now(AnchorRecord, Sent),
    /// This very checkpoint was anchored already: nothing was sent.
    Already(AnchorRecord),
    /// A larger checkpoint of the log is anchored already: nothing was sent (it covers this
    /// one, by consistency).
    Covered(AnchorRecord),
}

impl Chain {
    /// Anchors `signed_note`, a checkpoint of the log whose key is `verifier`. The note must
    /// verify with that key. Sends nothing when this checkpoint or a larger one is anchored;
    /// refuses ([`ChainError::Forked`]) when the chain holds another root at this size.
    pub async fn anchor(
        &self,
        signed_note: &str,
        verifier: &Ed25519Verifier,
    ) -> Result<Anchored, ChainError> {
        let (cp, _) = Checkpoint::open(signed_note.as_bytes(), &[verifier])
            .map_err(|e| ChainError::Checkpoint(e.to_string()))?;
        let key = log_key(verifier);
        let at = self.contract("anchor").await?;
        let size = cp.size.0;
        let root = B256::from(cp.root.to_bytes());
        let input = CheckpointAnchor::anchorCall {
            logKey: key,
            origin: cp.origin.as_str().to_owned(),
            size,
            root,
            note: signed_note.as_bytes().to_vec().into(),
        }
        .abi_encode();
        let op = format!("anchor-{key}");
        // A transaction an earlier run sent for this log comes first: wait for it (nothing
        // else is sent while it is pending), and if it anchored this very checkpoint, that is
        // the answer. The checks below then see the chain with it mined.
        if let Some(sent) = self.settle(&op, Some(at), &input).await? {
            let record = self.record_in(&sent, key)?;
            return Ok(Anchored::Now(record, sent));
        }
        if let Some(anchored) = self.anchor_at(key, size).await? {
            if anchored.root != root {
                return Err(ChainError::Forked {
                    anchored: Box::new(anchored),
                    ours: root,
                });
            }
            return Ok(Anchored::Already(anchored));
        }
        if let Some(latest) = self.latest_anchor(key).await?
            && latest.size > size
        {
            return Ok(Anchored::Covered(latest));
        }
        let sent = self
            .transact(&op, "CheckpointAnchor.anchor", Some(at), input.into())
            .await?;
        let record = self.record_in(&sent, key)?;
        Ok(Anchored::Now(record, sent))
    }

    /// The largest checkpoint anchored for `log_key`.
    pub async fn latest_anchor(&self, log_key: B256) -> Result<Option<AnchorRecord>, ChainError> {
        let at = self.contract("anchor").await?;
        let c = CheckpointAnchor::new(at, self.provider());
        let head = self
            .read("CheckpointAnchor.latest", || async {
                c.latest(log_key).call().await.map_err(contract_rpc)
            })
            .await?;
        if head.size == 0 {
            return Ok(None);
        }
        self.event_at(at, log_key, head.size, head.blockNumber)
            .await
    }

    /// The checkpoint anchored for `log_key` at exactly `size`.
    pub async fn anchor_at(
        &self,
        log_key: B256,
        size: u64,
    ) -> Result<Option<AnchorRecord>, ChainError> {
        let at = self.contract("anchor").await?;
        let c = CheckpointAnchor::new(at, self.provider());
        let got = self
            .read("CheckpointAnchor.anchoredAt", || async {
                c.anchoredAt(log_key, size)
                    .call()
                    .await
                    .map_err(contract_rpc)
            })
            .await?;
        if got.blockNumber == 0 {
            return Ok(None);
        }
        self.event_at(at, log_key, size, got.blockNumber).await
    }

    /// The `Anchored` event for (`log_key`, `size`) in `block`.
    async fn event_at(
        &self,
        at: Address,
        log_key: B256,
        size: u64,
        block: u64,
    ) -> Result<Option<AnchorRecord>, ChainError> {
        let filter = Filter::new()
            .address(at)
            .event_signature(CheckpointAnchor::Anchored::SIGNATURE_HASH)
            .topic1(log_key)
            .topic2(B256::from(U256::from(size)))
            .from_block(block)
            .to_block(block);
        let logs = self
            .read("eth_getLogs", || self.provider().get_logs(&filter))
            .await?;
        let Some(log) = logs.first() else {
            return Err(ChainError::Rpc {
                url: self.endpoint().to_owned(),
                what: "eth_getLogs".to_owned(),
                detail: format!(
                    "the contract says size {size} was anchored in block {block}, but the node returns no Anchored event there (a pruned node?)"
                ),
            });
        };
        let decoded = log
            .log_decode::<CheckpointAnchor::Anchored>()
            .map_err(|e| ChainError::Rpc {
                url: self.endpoint().to_owned(),
                what: "eth_getLogs".to_owned(),
                detail: format!("undecodable Anchored event: {e}"),
            })?;
        let e = decoded.inner.data;
        Ok(Some(AnchorRecord {
            log_key,
            size: e.size,
            root: e.root,
            origin: e.origin,
            note: e.note.to_vec(),
            submitter: e.submitter,
            block,
            tx: log.transaction_hash.unwrap_or_default(),
        }))
    }

    fn record_in(&self, sent: &Sent, key: B256) -> Result<AnchorRecord, ChainError> {
        sent.receipt
            .logs()
            .iter()
            .find_map(|log| {
                let d = log.log_decode::<CheckpointAnchor::Anchored>().ok()?;
                let e = d.inner.data;
                (e.logKey == key).then(|| AnchorRecord {
                    log_key: key,
                    size: e.size,
                    root: e.root,
                    origin: e.origin,
                    note: e.note.to_vec(),
                    submitter: e.submitter,
                    block: sent.block,
                    tx: sent.tx,
                })
            })
            .ok_or_else(|| ChainError::Rpc {
                url: self.endpoint().to_owned(),
                what: "eth_getTransactionReceipt".to_owned(),
                detail: format!("transaction {} has no Anchored event", sent.tx),
            })
    }
}
