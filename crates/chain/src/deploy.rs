//! Deploying the three contracts from their checked-in init code.

use alloy::primitives::{Address, Bytes};

use crate::contracts::{CheckpointAnchor, HashSig, PoxTasks};
use crate::{Chain, ChainError, Sent};

/// Where the contracts went, and what each deployment cost.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// HashSig.
    pub registry: Address,
    /// CheckpointAnchor.
    pub anchor: Address,
    /// PoxTasks.
    pub tasks: Address,
    /// (contract, transaction) per deployment, in that order.
    pub transactions: Vec<(&'static str, Sent)>,
}

impl Chain {
    /// Deploys HashSig, CheckpointAnchor and PoxTasks; put the addresses in `chain.toml`.
    pub async fn deploy(&self) -> Result<Deployed, ChainError> {
        let mut transactions = Vec::new();
        let mut addresses = Vec::new();
        for (name, code) in [
            ("HashSig", &HashSig::BYTECODE),
            ("CheckpointAnchor", &CheckpointAnchor::BYTECODE),
            ("PoxTasks", &PoxTasks::BYTECODE),
        ] {
            let sent = self.deploy_code(name, code.clone()).await?;
            let address = sent
                .receipt
                .contract_address
                .ok_or_else(|| ChainError::Rpc {
                    url: self.endpoint().to_owned(),
                    what: "eth_getTransactionReceipt".to_owned(),
                    detail: format!(
                        "the deployment of {name} ({}) has no contract address",
                        sent.tx
                    ),
                })?;
            addresses.push(address);
            transactions.push((name, sent));
        }
        Ok(Deployed {
            registry: addresses[0],
            anchor: addresses[1],
            tasks: addresses[2],
            transactions,
        })
    }

    async fn deploy_code(&self, name: &'static str, code: Bytes) -> Result<Sent, ChainError> {
        self.transact(
            &format!("deploy-{name}"),
            &format!("deploy {name}"),
            None,
            code,
        )
        .await
    }
}
