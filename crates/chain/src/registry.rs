//! The HashSig registry: a poex asset's SHA-256 under the name `keccak256("<kind>/<name>")`
//! (the seed names entries by the keccak256 of a file name), written once.

use alloy::primitives::{Address, B256, keccak256};
use alloy::sol_types::SolCall as _;

use crate::contracts::HashSig;
use crate::{Chain, ChainError, Sent};

/// An entry of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The registered digest.
    pub hash: B256,
    /// Who registered it.
    pub owner: Address,
    /// The block it was registered in.
    pub block: u64,
}

/// What [`Chain::register`] did.
#[derive(Debug, Clone)]
pub enum Registered {
    /// Newly registered by this transaction.
    Now(Entry, Sent),
    /// The same digest was already registered (by `Entry::owner`): nothing was sent.
    Already(Entry),
}

/// The registry name of asset `name` of `kind` (`algorithm` or `dataset`).
pub fn registry_name(kind: &str, name: &str) -> B256 {
    keccak256(format!("{kind}/{name}"))
}

impl Chain {
    /// The entry under `name`, if any.
    pub async fn lookup(&self, name: B256) -> Result<Option<Entry>, ChainError> {
        let at = self.contract("registry").await?;
        let c = HashSig::new(at, self.provider());
        let got = self
            .read("HashSig.getEntry", || async {
                c.getEntry(name).call().await.map_err(contract_rpc)
            })
            .await?;
        Ok((got.hash != B256::ZERO).then_some(Entry {
            hash: got.hash,
            owner: got.owner,
            block: got.blockNumber,
        }))
    }

    /// Registers `hash` under `name`. Registering the same digest again sends nothing; a
    /// different digest under a taken name is refused with the entry that holds it.
    pub async fn register(&self, name: B256, hash: B256) -> Result<Registered, ChainError> {
        let at = self.contract("registry").await?;
        let input = HashSig::addSigCall { name, hash }.abi_encode();
        let op = format!("register-{name}");
        // A transaction an earlier run sent for this name comes first (see `Chain::anchor`).
        if let Some(sent) = self.settle(&op, Some(at), &input).await? {
            return Ok(Registered::Now(self.entry_in(&sent, name, hash), sent));
        }
        if let Some(entry) = self.lookup(name).await? {
            if entry.hash == hash {
                return Ok(Registered::Already(entry));
            }
            return Err(ChainError::Reverted {
                call: "HashSig.addSig".to_owned(),
                reason: format!(
                    "the name {name} is registered with another digest {} by {} in block {}; entries are write-once",
                    entry.hash, entry.owner, entry.block
                ),
                tx: None,
            });
        }
        let sent = self
            .transact(&op, "HashSig.addSig", Some(at), input.into())
            .await?;
        Ok(Registered::Now(self.entry_in(&sent, name, hash), sent))
    }

    /// The entry `sent` registered: from its `SigAdded` event (the signer and the block
    /// otherwise).
    fn entry_in(&self, sent: &Sent, name: B256, hash: B256) -> Entry {
        let owner = sent
            .receipt
            .decoded_log::<HashSig::SigAdded>()
            .filter(|e| e.data.name == name)
            .map_or_else(|| self.address().unwrap_or_default(), |e| e.data.owner);
        Entry {
            hash,
            owner,
            block: sent.block,
        }
    }
}

/// A contract call's error as the JSON-RPC error underneath, so [`Chain::read`] classifies it.
pub(crate) fn contract_rpc(
    e: alloy::contract::Error,
) -> alloy::transports::RpcError<alloy::transports::TransportErrorKind> {
    match e {
        alloy::contract::Error::TransportError(t) => t,
        other => alloy::transports::RpcError::local_usage_str(&other.to_string()),
    }
}
