//! The proof-of-execution task workflow on `PoxTasks` (docs/chain.md): a data owner submits a task, a processor
//! advertises an offer, either side matches the task with the offer and the other approves, and
//! the matched processor submits the result. Deadlines are unix seconds in chain time
//! ([`Chain::chain_time`]): a task not approved by `match_by`, or without a result by
//! `result_by`, can be expired by anyone; the owner can cancel until approval.

use std::fmt;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::Provider as _;
use alloy::sol_types::{SolCall as _, SolEvent};

pub use crate::contracts::PoxTasks;
use crate::registry::contract_rpc;
use crate::{Chain, ChainError, Sent};

/// A task as the data owner submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// The algorithm's digest.
    pub algorithm: B256,
    /// The datasets' digests (at most 64).
    pub datasets: Vec<B256>,
    /// The digest of the signed poex job request.
    pub request: B256,
    /// Free metadata.
    pub metadata: String,
    /// The task must be matched and approved by this time (unix seconds, chain time).
    pub match_by: u64,
    /// The result must be submitted by this time (unix seconds, chain time; after `match_by`).
    pub result_by: u64,
}

/// A task's result as the matched processor submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultSpec {
    /// The results' digests (at most 64).
    pub results: Vec<B256>,
    /// The digest of the signed receipt (not zero).
    pub receipt: B256,
    /// The key of the log whose checkpoint includes the receipt.
    pub log_key: B256,
    /// That checkpoint's tree size (not zero).
    pub tree_size: u64,
    /// That checkpoint's root.
    pub root: B256,
}

/// Where a task is in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Submitted, waiting for a match.
    Open,
    /// Matched with an offer, waiting for the counterparty's approval.
    Matched,
    /// Approved, waiting for the processor's result.
    Approved,
    /// The result is in.
    Done,
    /// Cancelled by its owner.
    Cancelled,
    /// Expired after a missed deadline.
    Expired,
}

impl TaskStatus {
    /// The contract's `Status` code (0 is "no such task").
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Open,
            2 => Self::Matched,
            3 => Self::Approved,
            4 => Self::Done,
            5 => Self::Cancelled,
            6 => Self::Expired,
            _ => return None,
        })
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "open",
            Self::Matched => "matched",
            Self::Approved => "approved",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        })
    }
}

/// A task as the chain holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// Its id (from 1).
    pub id: u64,
    /// The data owner who submitted it.
    pub owner: Address,
    /// The algorithm's digest.
    pub algorithm: B256,
    /// The digest of the signed poex job request.
    pub request: B256,
    /// The datasets' digests.
    pub datasets: Vec<B256>,
    /// Free metadata.
    pub metadata: String,
    /// Match-and-approve deadline (unix seconds, chain time).
    pub match_by: u64,
    /// Result deadline (unix seconds, chain time).
    pub result_by: u64,
    /// Where it is in the workflow.
    pub status: TaskStatus,
    /// The matched offer (0 before a match).
    pub offer: u64,
    /// The matched offer's processor (zero before a match).
    pub processor: Address,
    /// Who matched it: the owner or the processor (zero before a match).
    pub matched_by: Address,
    /// The results' digests (empty until done).
    pub results: Vec<B256>,
    /// The digest of the signed receipt (zero until done).
    pub receipt: B256,
    /// The key of the log that includes the receipt (zero until done).
    pub log_key: B256,
    /// That log's checkpoint tree size (0 until done).
    pub tree_size: u64,
    /// That checkpoint's root (zero until done).
    pub root: B256,
}

/// A processor's offer as the chain holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferView {
    /// Its id (from 1).
    pub id: u64,
    /// The processor who advertised it.
    pub processor: Address,
    /// The advertised resources.
    pub resources: String,
    /// It can be matched until this time (unix seconds, chain time).
    pub valid_until: u64,
    /// Taken back by the processor.
    pub withdrawn: bool,
}

impl Chain {
    /// Submits `spec` as the data owner (the signer); returns the new task's id.
    pub async fn submit_task(&self, spec: &TaskSpec) -> Result<(u64, Sent), ChainError> {
        let input = PoxTasks::submitTaskCall {
            algorithm: spec.algorithm,
            datasets: spec.datasets.clone(),
            request: spec.request,
            metadata: spec.metadata.clone(),
            matchBy: spec.match_by,
            resultBy: spec.result_by,
        }
        .abi_encode();
        let sent = self
            .tasks_call(
                &format!("task-submit-{}", spec.request),
                "PoxTasks.submitTask",
                input,
            )
            .await?;
        let event: PoxTasks::TaskSubmitted = self.event_in(&sent).map_err(|e| *e)?;
        Ok((event.task.saturating_to(), sent))
    }

    /// Advertises `resources` as a processor (the signer) until `valid_until`; returns the new
    /// offer's id.
    pub async fn advertise(
        &self,
        resources: &str,
        valid_until: u64,
    ) -> Result<(u64, Sent), ChainError> {
        let input = PoxTasks::advertiseCall {
            resources: resources.to_owned(),
            validUntil: valid_until,
        }
        .abi_encode();
        let mut preimage = resources.as_bytes().to_vec();
        preimage.extend_from_slice(&valid_until.to_be_bytes());
        let sent = self
            .tasks_call(
                &format!("offer-{}", keccak256(&preimage)),
                "PoxTasks.advertise",
                input,
            )
            .await?;
        let event: PoxTasks::OfferAdvertised = self.event_in(&sent).map_err(|e| *e)?;
        Ok((event.offer.saturating_to(), sent))
    }

    /// Takes back `offer` (only its processor may); tasks already matched with it keep it.
    pub async fn withdraw_offer(&self, offer: u64) -> Result<Sent, ChainError> {
        let input = PoxTasks::withdrawOfferCall {
            offer: U256::from(offer),
        }
        .abi_encode();
        self.tasks_call(
            &format!("offer-{offer}-withdraw"),
            "PoxTasks.withdrawOffer",
            input,
        )
        .await
    }

    /// Matches open `task` with live `offer`, as the task's owner or the offer's processor; the
    /// other one then approves ([`Chain::approve_task`]).
    pub async fn match_task(&self, task: u64, offer: u64) -> Result<Sent, ChainError> {
        let input = PoxTasks::matchTaskCall {
            task: U256::from(task),
            offer: U256::from(offer),
        }
        .abi_encode();
        self.tasks_call(&format!("task-{task}-match"), "PoxTasks.matchTask", input)
            .await
    }

    /// Approves matched `task`, as the counterparty of whoever matched it.
    pub async fn approve_task(&self, task: u64) -> Result<Sent, ChainError> {
        let input = PoxTasks::approveCall {
            task: U256::from(task),
        }
        .abi_encode();
        self.tasks_call(&format!("task-{task}-approve"), "PoxTasks.approve", input)
            .await
    }

    /// Submits the result of approved `task`, as its matched processor, by its `result_by`.
    pub async fn submit_result(&self, task: u64, result: &ResultSpec) -> Result<Sent, ChainError> {
        let input = PoxTasks::submitResultCall {
            task: U256::from(task),
            results: result.results.clone(),
            receipt: result.receipt,
            logKey: result.log_key,
            treeSize: result.tree_size,
            root: result.root,
        }
        .abi_encode();
        self.tasks_call(
            &format!("task-{task}-result"),
            "PoxTasks.submitResult",
            input,
        )
        .await
    }

    /// Cancels `task`, as its owner, while it is open or matched.
    pub async fn cancel_task(&self, task: u64) -> Result<Sent, ChainError> {
        let input = PoxTasks::cancelCall {
            task: U256::from(task),
        }
        .abi_encode();
        self.tasks_call(&format!("task-{task}-cancel"), "PoxTasks.cancel", input)
            .await
    }

    /// Expires `task` (anyone may) once its deadline passed: `match_by` for an open or matched
    /// task, `result_by` for an approved one.
    pub async fn expire_task(&self, task: u64) -> Result<Sent, ChainError> {
        let input = PoxTasks::expireCall {
            task: U256::from(task),
        }
        .abi_encode();
        self.tasks_call(&format!("task-{task}-expire"), "PoxTasks.expire", input)
            .await
    }

    /// Task `task` as the chain holds it ([`ChainError::Reverted`] with `UnknownTask` when
    /// there is none).
    pub async fn task(&self, task: u64) -> Result<TaskView, ChainError> {
        let at = self.contract("tasks").await?;
        let c = PoxTasks::new(at, self.provider());
        let t = self
            .read("PoxTasks.getTask", || async {
                c.getTask(U256::from(task))
                    .call()
                    .await
                    .map_err(contract_rpc)
            })
            .await?;
        let code = t.status;
        let status = TaskStatus::from_code(code).ok_or_else(|| ChainError::Rpc {
            url: self.endpoint().to_owned(),
            what: "PoxTasks.getTask".to_owned(),
            detail: format!("task {task} has the unknown status code {code}"),
        })?;
        Ok(TaskView {
            id: task,
            owner: t.owner,
            algorithm: t.algorithm,
            request: t.request,
            datasets: t.datasets,
            metadata: t.metadata,
            match_by: t.matchBy,
            result_by: t.resultBy,
            status,
            offer: t.offer.saturating_to(),
            processor: t.processor,
            matched_by: t.matchedBy,
            results: t.results,
            receipt: t.receipt,
            log_key: t.logKey,
            tree_size: t.treeSize,
            root: t.root,
        })
    }

    /// Offer `offer` as the chain holds it ([`ChainError::Reverted`] with `UnknownOffer` when
    /// there is none).
    pub async fn offer(&self, offer: u64) -> Result<OfferView, ChainError> {
        let at = self.contract("tasks").await?;
        let c = PoxTasks::new(at, self.provider());
        let o = self
            .read("PoxTasks.getOffer", || async {
                c.getOffer(U256::from(offer))
                    .call()
                    .await
                    .map_err(contract_rpc)
            })
            .await?;
        Ok(OfferView {
            id: offer,
            processor: o.processor,
            resources: o.resources,
            valid_until: o.validUntil,
            withdrawn: o.withdrawn,
        })
    }

    /// The timestamp of the latest block: the clock deadlines are checked against.
    pub async fn chain_time(&self) -> Result<u64, ChainError> {
        let block = self
            .read("eth_getBlockByNumber", || {
                self.provider()
                    .get_block_by_number(BlockNumberOrTag::Latest)
            })
            .await?
            .ok_or_else(|| ChainError::Rpc {
                url: self.endpoint().to_owned(),
                what: "eth_getBlockByNumber".to_owned(),
                detail: "the node has no latest block".to_owned(),
            })?;
        Ok(block.header.timestamp)
    }

    /// Sends `input` to the tasks contract as journal operation `op`.
    async fn tasks_call(&self, op: &str, call: &str, input: Vec<u8>) -> Result<Sent, ChainError> {
        let at = self.contract("tasks").await?;
        self.transact(op, call, Some(at), Bytes::from(input)).await
    }

    /// The first event `E` of the tasks contract in `sent`'s receipt.
    fn event_in<E: SolEvent>(&self, sent: &Sent) -> Result<E, Box<ChainError>> {
        let at = self.config().contracts.tasks;
        sent.receipt
            .logs()
            .iter()
            .filter(|log| Some(log.address()) == at)
            .find_map(|log| log.log_decode::<E>().ok())
            .map(|log| log.inner.data)
            .ok_or_else(|| {
                Box::new(ChainError::Rpc {
                    url: self.endpoint().to_owned(),
                    what: "eth_getTransactionReceipt".to_owned(),
                    detail: format!("transaction {} has no {} event", sent.tx, E::SIGNATURE),
                })
            })
    }
}
