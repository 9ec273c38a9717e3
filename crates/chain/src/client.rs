//! The connection to one chain: reads with bounded retries, and transactions that are
//! estimated (a revert is reported before anything is spent), paid for (the balance is checked
//! first), signed locally, written to a journal before they are sent, and awaited for a bounded
//! time. Running an operation again after a lost receipt finds its transaction in the journal
//! and waits for it instead of sending a second one.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::eips::BlockId;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder as _, TransactionBuilder as _};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy::providers::{Provider as _, RootProvider};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::transports::RpcError;
use alloy::transports::TransportErrorKind;
use alloy::transports::http::{Http, reqwest};
use serde::{Deserialize, Serialize};

use crate::error::describe_revert;
use crate::{ChainConfig, ChainError, ChainKey};

/// A mined, successful transaction.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Its hash.
    pub tx: B256,
    /// The block it is in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// The whole receipt (events are decoded from its logs).
    pub receipt: Box<TransactionReceipt>,
}

/// A connection to the chain named by a [`ChainConfig`], optionally with a signer.
#[derive(Debug, Clone)]
pub struct Chain {
    provider: RootProvider,
    config: ChainConfig,
    key: Option<ChainKey>,
    journal: Option<PathBuf>,
    endpoint: String,
}

/// One journal entry: a transaction signed and handed to the node, not yet known to be mined.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    tx: B256,
    call: String,
    /// keccak256 of the destination and calldata, so a later run can tell whether it is about
    /// to send this very call again or another one under the same operation name. Absent in
    /// entries written by hand: taken to be the same call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    what: Option<B256>,
}

/// The fingerprint of a call: its destination (none for a deployment) and calldata.
fn fingerprint(to: Option<Address>, input: &[u8]) -> B256 {
    let mut bytes = Vec::with_capacity(21 + input.len());
    match to {
        Some(a) => {
            bytes.push(1);
            bytes.extend_from_slice(a.as_slice());
        }
        None => bytes.push(0),
    }
    bytes.extend_from_slice(input);
    keccak256(bytes)
}

/// The endpoint as shown in messages: scheme, host and port only, since RPC URLs often carry
/// an API key in their path, query or user part.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => "(unparsable rpc_url)".to_owned(),
    }
}

impl Chain {
    /// Connects to `config.rpc_url` and checks that it serves `config.chain_id`. `key` signs
    /// transactions; without it only reads are possible.
    pub async fn connect(config: ChainConfig, key: Option<ChainKey>) -> Result<Self, ChainError> {
        let endpoint = redact_url(&config.rpc_url);
        let url = reqwest::Url::parse(&config.rpc_url)
            .map_err(|e| ChainError::Config(format!("rpc_url {endpoint}: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.rpc_timeout_secs))
            .connect_timeout(Duration::from_secs(config.rpc_timeout_secs))
            .build()
            .map_err(|e| ChainError::Config(format!("HTTP client: {e}")))?;
        let is_local = url
            .host_str()
            .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "::1");
        let client = RpcClient::new(Http::with_client(http, url), is_local);
        let chain = Self {
            provider: RootProvider::new(client),
            config,
            key,
            journal: None,
            endpoint,
        };
        let got = chain
            .read("eth_chainId", || chain.provider.get_chain_id())
            .await?;
        if got != chain.config.chain_id {
            return Err(ChainError::WrongChain {
                url: chain.endpoint.clone(),
                expected: chain.config.chain_id,
                got,
            });
        }
        Ok(chain)
    }

    /// Keeps a journal of sent transactions in `dir` (created when needed), so that a command
    /// run again after a lost receipt waits for its transaction instead of sending another.
    pub fn with_journal(mut self, dir: impl Into<PathBuf>) -> Self {
        self.journal = Some(dir.into());
        self
    }

    /// The settings in use.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The endpoint, without any credentials it may carry.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The signer's address, if there is a signer.
    pub fn address(&self) -> Option<Address> {
        self.key.as_ref().map(ChainKey::address)
    }

    /// The JSON-RPC provider, for reads the typed methods do not cover.
    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    /// The address configured for `role`, checked to hold contract code.
    pub(crate) async fn contract(&self, role: &'static str) -> Result<Address, ChainError> {
        let address = match role {
            "registry" => self.config.contracts.registry,
            "anchor" => self.config.contracts.anchor,
            _ => self.config.contracts.tasks,
        }
        .ok_or(ChainError::NotConfigured { role })?;
        let code = self
            .read("eth_getCode", || self.provider.get_code_at(address))
            .await?;
        if code.is_empty() {
            return Err(ChainError::NoContract {
                role,
                address,
                chain_id: self.config.chain_id,
            });
        }
        Ok(address)
    }

    /// Runs a read, retrying transport failures (`read_attempts` in all, backing off from
    /// 250 ms); a JSON-RPC error answer is not retried.
    pub(crate) async fn read<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: IntoFuture<Output = Result<T, RpcError<TransportErrorKind>>>,
    {
        let mut delay = Duration::from_millis(250);
        let attempts = self.config.read_attempts.max(1);
        for attempt in 1..=attempts {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let err = self.rpc_error(what, e);
                    let transient = matches!(
                        err,
                        ChainError::Unreachable { .. } | ChainError::Timeout { .. }
                    );
                    if !transient || attempt == attempts {
                        return Err(err);
                    }
                    tracing::warn!(what, attempt, "chain read failed, retrying: {err}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Sends a call to `to` (or deploys `input` when `to` is `None`) as the journal operation
    /// `op`, and returns once it is mined successfully.
    pub(crate) async fn transact(
        &self,
        op: &str,
        call: &str,
        to: Option<Address>,
        input: Bytes,
    ) -> Result<Sent, ChainError> {
        let key = self.key.as_ref().ok_or_else(|| {
            ChainError::Config(format!(
                "{call} needs a signer key (key_file in chain.toml)"
            ))
        })?;
        let from = key.address();
        if let Some(sent) = self.settle(op, to, &input).await? {
            return Ok(sent);
        }
        let journal = self.journal_path(op);
        let what = fingerprint(to, &input);

        let mut tx = TransactionRequest::default()
            .with_from(from)
            .with_input(input)
            .with_chain_id(self.config.chain_id);
        tx.to = Some(to.map_or(TxKind::Create, TxKind::Call));
        // Estimating runs the call: a revert is reported here, before anything is spent.
        let estimate = self
            .read("eth_estimateGas", || self.provider.estimate_gas(tx.clone()))
            .await
            .map_err(|e| self.name_revert(e, call))?;
        let gas = estimate + estimate / 5;
        let fees = self.provider.estimate_eip1559_fees().await;
        let max_fee = match fees {
            Ok(f) => {
                tx = tx
                    .with_max_fee_per_gas(f.max_fee_per_gas)
                    .with_max_priority_fee_per_gas(f.max_priority_fee_per_gas);
                f.max_fee_per_gas
            }
            // A chain without EIP-1559 (no base fee): a legacy gas price.
            Err(_) => {
                let price = self
                    .read("eth_gasPrice", || self.provider.get_gas_price())
                    .await?;
                tx = tx.with_gas_price(price);
                price
            }
        };
        let balance = self
            .read("eth_getBalance", || self.provider.get_balance(from))
            .await?;
        let needed = U256::from(gas) * U256::from(max_fee);
        if balance < needed {
            return Err(ChainError::InsufficientFunds {
                address: from,
                balance,
                gas,
                max_fee_per_gas: max_fee,
                call: call.to_owned(),
            });
        }
        let nonce = self
            .read("eth_getTransactionCount", || {
                self.provider.get_transaction_count(from).pending()
            })
            .await?;
        let wallet = EthereumWallet::from(key.signer().clone());
        let envelope = tx
            .with_nonce(nonce)
            .with_gas_limit(gas)
            .build(&wallet)
            .await
            .map_err(|e| ChainError::Config(format!("{call}: cannot sign: {e}")))?;
        let hash = *envelope.tx_hash();
        if let Some(path) = &journal {
            write_pending(
                path,
                &Pending {
                    tx: hash,
                    call: call.to_owned(),
                    what: Some(what),
                },
            )?;
        }
        tracing::info!(call, tx = %hash, nonce, gas, "sending transaction");
        if let Err(e) = self.provider.send_tx_envelope(envelope).await {
            let err = self.rpc_error("eth_sendRawTransaction", e);
            let refused = match &err {
                // The node has it already (e.g. from a send whose answer was lost): wait for it.
                ChainError::Rpc { detail, .. } if is_known_message(detail) => false,
                ChainError::Rpc { .. } | ChainError::Reverted { .. } => true,
                // A transport failure or a timeout may hide an acceptance: the journal entry
                // stays, and the next run looks the transaction up before sending anything.
                _ => false,
            };
            if !refused && matches!(err, ChainError::Rpc { .. }) {
                return self.finish(journal.as_deref(), call, hash).await;
            }
            if refused && let Some(path) = &journal {
                remove_pending(path)?;
            }
            return Err(match err {
                ChainError::Rpc { detail, .. } if is_funds_message(&detail) => {
                    ChainError::InsufficientFunds {
                        address: from,
                        balance,
                        gas,
                        max_fee_per_gas: max_fee,
                        call: call.to_owned(),
                    }
                }
                other => other,
            });
        }
        self.finish(journal.as_deref(), call, hash).await
    }

    /// Waits for a sent transaction, and clears its journal entry once it is mined.
    async fn finish(
        &self,
        journal: Option<&Path>,
        call: &str,
        tx: B256,
    ) -> Result<Sent, ChainError> {
        let sent = self.await_receipt(call, tx).await;
        if let Some(path) = journal
            && is_final(&sent)
            && let Err(e) = remove_pending(path)
        {
            // The transaction's outcome stands; a stale entry is settled by the next run.
            tracing::warn!("{e}");
        }
        sent
    }

    /// Settles the transaction journalled for `op` by an earlier run, before anything else is
    /// sent for `op`:
    /// - none journalled, or the node never saw it (lost before sending, or dropped): `None`,
    ///   and the entry is cleared so the caller sends anew;
    /// - still pending: waits for it, and if it stays unmined returns
    ///   [`ChainError::NoReceipt`] for it (the entry stays: nothing new is sent behind it);
    /// - mined, and it is this very call (`to`, `input`): its result, success or revert;
    /// - mined, but another call under the same `op` (e.g. a smaller checkpoint of the same
    ///   log): `None`, so the caller goes on with this one (after checking the chain again).
    ///
    /// The entry is removed only once its transaction is mined or unknown; a read that fails
    /// while waiting keeps it, so the next run looks again instead of sending twice.
    pub(crate) async fn settle(
        &self,
        op: &str,
        to: Option<Address>,
        input: &[u8],
    ) -> Result<Option<Sent>, ChainError> {
        let Some(path) = self.journal_path(op) else {
            return Ok(None);
        };
        let Some(pending) = read_pending(&path)? else {
            return Ok(None);
        };
        let known = self
            .read("eth_getTransactionByHash", || {
                self.provider.get_transaction_by_hash(pending.tx)
            })
            .await?;
        if known.is_none() {
            tracing::warn!(tx = %pending.tx, call = %pending.call, "journalled transaction unknown to the node; sending anew");
            remove_pending(&path)?;
            return Ok(None);
        }
        tracing::info!(tx = %pending.tx, call = %pending.call, "waiting for the transaction sent earlier");
        let sent = self.await_receipt(&pending.call, pending.tx).await;
        if !is_final(&sent) {
            return sent.map(Some);
        }
        remove_pending(&path)?;
        let same = pending.what.is_none_or(|w| w == fingerprint(to, input));
        if same {
            return sent.map(Some);
        }
        match &sent {
            Ok(s) => {
                tracing::info!(tx = %s.tx, call = %pending.call, block = s.block, "the transaction sent earlier is mined; going on with this one");
            }
            Err(e) => {
                tracing::warn!(tx = %pending.tx, call = %pending.call, "the transaction sent earlier failed: {e}; going on with this one");
            }
        }
        Ok(None)
    }

    async fn await_receipt(&self, call: &str, tx: B256) -> Result<Sent, ChainError> {
        let secs = self.config.receipt_timeout_secs;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let poll = Duration::from_millis(self.config.poll_interval_ms.max(10));
        let receipt = loop {
            let got = self
                .read("eth_getTransactionReceipt", || {
                    self.provider.get_transaction_receipt(tx)
                })
                .await?;
            if let Some(r) = got {
                break r;
            }
            if Instant::now() >= deadline {
                return Err(ChainError::NoReceipt {
                    call: call.to_owned(),
                    tx,
                    secs,
                });
            }
            tokio::time::sleep(poll).await;
        };
        let block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            return Err(ChainError::Reverted {
                call: call.to_owned(),
                reason: self.replay_reason(tx, block).await,
                tx: Some(tx),
            });
        }
        Ok(Sent {
            tx,
            block,
            gas_used: receipt.gas_used,
            receipt: Box::new(receipt),
        })
    }

    /// Why a mined transaction reverted: the call replayed on the state before its block.
    async fn replay_reason(&self, tx: B256, block: u64) -> String {
        let Ok(Some(sent)) = self.provider.get_transaction_by_hash(tx).await else {
            return "reverted on chain (the transaction is no longer available to replay)"
                .to_owned();
        };
        let request: TransactionRequest = sent.into_request();
        match self
            .provider
            .call(request)
            .block(BlockId::number(block.saturating_sub(1)))
            .await
        {
            Err(RpcError::ErrorResp(p)) => p
                .as_revert_data()
                .map(|d| describe_revert(&d))
                .unwrap_or(p.message.to_string()),
            _ => format!("reverted on chain in block {block}"),
        }
    }

    fn name_revert(&self, e: ChainError, call: &str) -> ChainError {
        match e {
            ChainError::Reverted { reason, tx, .. } => ChainError::Reverted {
                call: call.to_owned(),
                reason,
                tx,
            },
            other => other,
        }
    }

    /// Classifies a JSON-RPC failure.
    pub(crate) fn rpc_error(&self, what: &str, e: RpcError<TransportErrorKind>) -> ChainError {
        let url = self.endpoint.clone();
        match e {
            RpcError::ErrorResp(payload) => {
                if let Some(data) = payload.as_revert_data() {
                    return ChainError::Reverted {
                        call: what.to_owned(),
                        reason: describe_revert(&data),
                        tx: None,
                    };
                }
                let message = payload.message.to_string();
                if message.contains("revert") {
                    return ChainError::Reverted {
                        call: what.to_owned(),
                        reason: message,
                        tx: None,
                    };
                }
                ChainError::Rpc {
                    url,
                    what: what.to_owned(),
                    detail: format!("{message} (code {})", payload.code),
                }
            }
            RpcError::Transport(TransportErrorKind::Custom(err)) => {
                match err.downcast::<reqwest::Error>() {
                    Ok(re) if re.is_timeout() => ChainError::Timeout {
                        url,
                        what: what.to_owned(),
                        secs: self.config.rpc_timeout_secs,
                    },
                    // Without the URL: its path or query may carry an API key.
                    Ok(re) => ChainError::Unreachable {
                        url,
                        detail: error_chain(&re.without_url()),
                    },
                    Err(err) => ChainError::Unreachable {
                        url,
                        detail: err.to_string(),
                    },
                }
            }
            RpcError::Transport(TransportErrorKind::HttpError(h)) => ChainError::Rpc {
                url,
                what: what.to_owned(),
                detail: format!("HTTP {}", h.status),
            },
            other => ChainError::Rpc {
                url,
                what: what.to_owned(),
                detail: other.to_string(),
            },
        }
    }

    fn journal_path(&self, op: &str) -> Option<PathBuf> {
        let safe: String = op
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.journal
            .as_ref()
            .map(|d| d.join(format!("{}-{safe}.json", self.config.chain_id)))
    }
}

/// Whether a transaction's fate is known (mined, successful or reverted), so its journal entry
/// can go.
fn is_final(sent: &Result<Sent, ChainError>) -> bool {
    matches!(sent, Ok(_) | Err(ChainError::Reverted { tx: Some(_), .. }))
}

fn remove_pending(path: &Path) -> Result<(), ChainError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ChainError::Journal {
            path: path.to_owned(),
            reason: format!("{e}; the transaction in it is settled, remove the file"),
        }),
    }
}

fn is_known_message(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("already known") || d.contains("already imported") || d.contains("known transaction")
}

fn is_funds_message(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("insufficient funds") || d.contains("enough funds")
}

/// The error and its sources, e.g. "error sending request: client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn read_pending(path: &Path) -> Result<Option<Pending>, ChainError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ChainError::Journal {
                path: path.to_owned(),
                reason: format!("{e}; if no transaction is outstanding, remove the file"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ChainError::Journal {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn write_pending(path: &Path, pending: &Pending) -> Result<(), ChainError> {
    let err = |e: std::io::Error| ChainError::Journal {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    let bytes = serde_json::to_vec(pending).unwrap_or_default();
    // The folder is synced too: a journal entry whose name a crash lost would let a second
    // transaction go out.
    poex_durable::write_atomic(path, &bytes).map_err(err)
}
