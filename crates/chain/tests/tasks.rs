//! The PoX task workflow (`PoxTasks`) on a real EVM node (Hardhat 3), through poex-chain:
//! account 0 is the data owner, account 1 the processor, account 2 a stranger.
#![expect(clippy::unwrap_used, reason = "tests")]

use poex_chain::devnode::DevNode;
use poex_chain::{B256, Chain, ChainError, PoxTasks, ResultSpec, Sent, TaskSpec, TaskStatus, U256};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinct request digests, so each task has its own journal operation.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A deployed chain with the three parties connected to it.
struct World {
    node: DevNode,
    owner: Chain,
    processor: Chain,
    stranger: Chain,
}

impl World {
    async fn start() -> Self {
        let node = DevNode::start();
        let deployer = Chain::connect(node.config(), Some(node.account(0)))
            .await
            .unwrap();
        let d = deployer.deploy().await.unwrap();
        let mut config = node.config();
        config.contracts.registry = Some(d.registry);
        config.contracts.anchor = Some(d.anchor);
        config.contracts.tasks = Some(d.tasks);
        let party = |i| Chain::connect(config.clone(), Some(node.account(i)));
        let (owner, processor, stranger) = (
            party(0).await.unwrap(),
            party(1).await.unwrap(),
            party(2).await.unwrap(),
        );
        Self {
            node,
            owner,
            processor,
            stranger,
        }
    }

    /// A task due `match_in` and `result_in` seconds from now (chain time).
    async fn spec(&self, match_in: u64, result_in: u64) -> TaskSpec {
        let now = self.owner.chain_time().await.unwrap();
        TaskSpec {
            algorithm: B256::repeat_byte(0xa1),
            datasets: vec![B256::repeat_byte(0xd1), B256::repeat_byte(0xd2)],
            request: B256::from(U256::from(NEXT_REQUEST.fetch_add(1, Ordering::Relaxed))),
            metadata: "wordcount over two corpora".to_owned(),
            match_by: now + match_in,
            result_by: now + result_in,
        }
    }

    /// The owner submits a task due in 1000 s (match) and 2000 s (result).
    async fn submit(&self) -> u64 {
        let spec = self.spec(1000, 2000).await;
        self.owner.submit_task(&spec).await.unwrap().0
    }

    /// The processor advertises an offer valid for 5000 s.
    async fn advertise(&self) -> u64 {
        let now = self.processor.chain_time().await.unwrap();
        self.processor
            .advertise("8 cores, 32 GiB, SGX", now + 5000)
            .await
            .unwrap()
            .0
    }

    /// A task submitted, matched by the processor and approved by the owner.
    async fn approved(&self) -> u64 {
        let task = self.submit().await;
        let offer = self.advertise().await;
        self.processor.match_task(task, offer).await.unwrap();
        self.owner.approve_task(task).await.unwrap();
        task
    }

    /// Moves chain time on by `secs` and mines a block at the new time.
    fn advance(&self, secs: u64) {
        self.node.rpc("evm_increaseTime", json!([secs]));
        self.node.rpc("evm_mine", json!([]));
    }

    async fn status(&self, task: u64) -> TaskStatus {
        self.owner.task(task).await.unwrap().status
    }
}

fn result() -> ResultSpec {
    ResultSpec {
        results: vec![B256::repeat_byte(0xe1), B256::repeat_byte(0xe2)],
        receipt: B256::repeat_byte(0xc0),
        log_key: B256::repeat_byte(0x1c),
        tree_size: 42,
        root: B256::repeat_byte(0x77),
    }
}

/// The name of the contract's custom error a call reverted with.
#[track_caller]
fn revert<T: std::fmt::Debug>(got: Result<T, ChainError>) -> String {
    match got {
        Err(ChainError::Reverted { reason, .. }) => reason
            .split(['(', ' '])
            .next()
            .unwrap_or_default()
            .to_owned(),
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// The first event `E` in `sent`.
fn event<E: alloy::sol_types::SolEvent>(sent: &Sent) -> E {
    sent.receipt
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<E>().ok())
        .unwrap()
        .inner
        .data
}

#[tokio::test]
async fn happy_path_processor_matches_owner_approves() {
    let w = World::start().await;
    let owner = w.owner.address().unwrap();
    let processor = w.processor.address().unwrap();

    let spec = w.spec(1000, 2000).await;
    let (task, sent) = w.owner.submit_task(&spec).await.unwrap();
    assert_eq!(task, 1);
    let e: PoxTasks::TaskSubmitted = event(&sent);
    assert_eq!(e.task, U256::from(task));
    assert_eq!(e.owner, owner);
    assert_eq!(e.algorithm, spec.algorithm);
    assert_eq!(e.request, spec.request);
    assert_eq!(e.datasets, spec.datasets);
    assert_eq!(e.metadata, spec.metadata);
    assert_eq!((e.matchBy, e.resultBy), (spec.match_by, spec.result_by));
    assert_eq!(w.status(task).await, TaskStatus::Open);

    let now = w.processor.chain_time().await.unwrap();
    let (offer, sent) = w
        .processor
        .advertise("8 cores, 32 GiB, SGX", now + 5000)
        .await
        .unwrap();
    assert_eq!(offer, 1);
    let e: PoxTasks::OfferAdvertised = event(&sent);
    assert_eq!(e.offer, U256::from(offer));
    assert_eq!(e.processor, processor);
    assert_eq!(e.resources, "8 cores, 32 GiB, SGX");
    assert_eq!(e.validUntil, now + 5000);
    let o = w.stranger.offer(offer).await.unwrap();
    assert_eq!(
        (
            o.id,
            o.processor,
            o.resources.as_str(),
            o.valid_until,
            o.withdrawn
        ),
        (offer, processor, "8 cores, 32 GiB, SGX", now + 5000, false)
    );

    let sent = w.processor.match_task(task, offer).await.unwrap();
    let e: PoxTasks::TaskMatched = event(&sent);
    assert_eq!(e.task, U256::from(task));
    assert_eq!(e.offer, U256::from(offer));
    assert_eq!((e.processor, e.matchedBy), (processor, processor));
    assert_eq!(w.status(task).await, TaskStatus::Matched);
    // The one who matched cannot also approve.
    assert_eq!(revert(w.processor.approve_task(task).await), "NotAllowed");

    let sent = w.owner.approve_task(task).await.unwrap();
    let e: PoxTasks::TaskApproved = event(&sent);
    assert_eq!((e.task, e.approver), (U256::from(task), owner));
    assert_eq!(w.status(task).await, TaskStatus::Approved);

    let r = result();
    let sent = w.processor.submit_result(task, &r).await.unwrap();
    let e: PoxTasks::ResultSubmitted = event(&sent);
    assert_eq!((e.task, e.processor), (U256::from(task), processor));
    assert_eq!(e.results, r.results);
    assert_eq!((e.receipt, e.logKey), (r.receipt, r.log_key));
    assert_eq!((e.treeSize, e.root), (r.tree_size, r.root));

    let t = w.stranger.task(task).await.unwrap();
    assert_eq!(t.id, task);
    assert_eq!(t.owner, owner);
    assert_eq!(t.algorithm, spec.algorithm);
    assert_eq!(t.request, spec.request);
    assert_eq!(t.datasets, spec.datasets);
    assert_eq!(t.metadata, spec.metadata);
    assert_eq!((t.match_by, t.result_by), (spec.match_by, spec.result_by));
    assert_eq!(t.status, TaskStatus::Done);
    assert_eq!(t.status.to_string(), "done");
    assert_eq!(t.offer, offer);
    assert_eq!((t.processor, t.matched_by), (processor, processor));
    assert_eq!(t.results, r.results);
    assert_eq!((t.receipt, t.log_key), (r.receipt, r.log_key));
    assert_eq!((t.tree_size, t.root), (r.tree_size, r.root));

    // A done task is final: not again, not cancelled, not expired even after its deadlines.
    assert_eq!(
        revert(w.processor.submit_result(task, &r).await),
        "WrongStatus"
    );
    assert_eq!(revert(w.owner.cancel_task(task).await), "WrongStatus");
    w.advance(3000);
    assert_eq!(revert(w.stranger.expire_task(task).await), "WrongStatus");
    assert_eq!(w.status(task).await, TaskStatus::Done);
}

#[tokio::test]
async fn owner_matches_and_processor_approves() {
    let w = World::start().await;
    let task = w.submit().await;
    let offer = w.advertise().await;
    let sent = w.owner.match_task(task, offer).await.unwrap();
    let e: PoxTasks::TaskMatched = event(&sent);
    assert_eq!(e.matchedBy, w.owner.address().unwrap());
    assert_eq!(e.processor, w.processor.address().unwrap());
    assert_eq!(revert(w.owner.approve_task(task).await), "NotAllowed");
    w.processor.approve_task(task).await.unwrap();
    let t = w.owner.task(task).await.unwrap();
    assert_eq!(t.status, TaskStatus::Approved);
    assert_eq!(t.matched_by, w.owner.address().unwrap());
    // Only the matched processor reports the result, not the owner.
    assert_eq!(
        revert(w.owner.submit_result(task, &result()).await),
        "NotAllowed"
    );
    w.processor.submit_result(task, &result()).await.unwrap();
    assert_eq!(w.status(task).await, TaskStatus::Done);
}

#[tokio::test]
async fn strangers_are_refused() {
    let w = World::start().await;
    let task = w.submit().await;
    let offer = w.advertise().await;
    assert_eq!(
        revert(w.stranger.match_task(task, offer).await),
        "NotAllowed"
    );
    assert_eq!(revert(w.stranger.cancel_task(task).await), "NotAllowed");
    assert_eq!(
        revert(w.stranger.withdraw_offer(offer).await),
        "NotOfferProcessor"
    );
    w.processor.match_task(task, offer).await.unwrap();
    assert_eq!(revert(w.stranger.approve_task(task).await), "NotAllowed");
    assert_eq!(revert(w.stranger.cancel_task(task).await), "NotAllowed");
    w.owner.approve_task(task).await.unwrap();
    assert_eq!(
        revert(w.stranger.submit_result(task, &result()).await),
        "NotAllowed"
    );
    assert_eq!(w.status(task).await, TaskStatus::Approved);
}

#[tokio::test]
async fn results_need_an_approved_task_and_content() {
    let w = World::start().await;
    let task = w.submit().await;
    let offer = w.advertise().await;
    assert_eq!(
        revert(w.processor.submit_result(task, &result()).await),
        "WrongStatus"
    );
    w.owner.match_task(task, offer).await.unwrap();
    assert_eq!(
        revert(w.processor.submit_result(task, &result()).await),
        "WrongStatus"
    );
    w.processor.approve_task(task).await.unwrap();
    let empty = ResultSpec {
        receipt: B256::ZERO,
        ..result()
    };
    assert_eq!(
        revert(w.processor.submit_result(task, &empty).await),
        "EmptyResult"
    );
    let too_many = ResultSpec {
        results: vec![B256::repeat_byte(1); 65],
        ..result()
    };
    assert_eq!(
        revert(w.processor.submit_result(task, &too_many).await),
        "TooManyItems"
    );
    assert_eq!(w.status(task).await, TaskStatus::Approved);
}

#[tokio::test]
async fn withdrawn_or_expired_offers_are_unavailable() {
    let w = World::start().await;
    let task = w.submit().await;
    let offer = w.advertise().await;
    let sent = w.processor.withdraw_offer(offer).await.unwrap();
    let e: PoxTasks::OfferWithdrawn = event(&sent);
    assert_eq!(e.offer, U256::from(offer));
    assert!(w.owner.offer(offer).await.unwrap().withdrawn);
    assert_eq!(
        revert(w.owner.match_task(task, offer).await),
        "OfferUnavailable"
    );
    assert_eq!(
        revert(w.processor.match_task(task, offer).await),
        "OfferUnavailable"
    );

    let now = w.processor.chain_time().await.unwrap();
    let (short, _) = w.processor.advertise("1 core", now + 100).await.unwrap();
    w.advance(200);
    assert_eq!(
        revert(w.owner.match_task(task, short).await),
        "OfferUnavailable"
    );
    assert_eq!(revert(w.owner.match_task(task, 99).await), "UnknownOffer");
    assert_eq!(w.status(task).await, TaskStatus::Open);
}

#[tokio::test]
async fn bad_deadlines_too_many_items_and_unknown_ids() {
    let w = World::start().await;
    let past = w.spec(0, 1000).await;
    assert_eq!(revert(w.owner.submit_task(&past).await), "BadDeadlines");
    let inverted = w.spec(2000, 1000).await;
    assert_eq!(revert(w.owner.submit_task(&inverted).await), "BadDeadlines");
    let equal = w.spec(1000, 1000).await;
    assert_eq!(revert(w.owner.submit_task(&equal).await), "BadDeadlines");
    let now = w.processor.chain_time().await.unwrap();
    assert_eq!(
        revert(w.processor.advertise("stale", now).await),
        "BadDeadlines"
    );

    let mut many = w.spec(1000, 2000).await;
    many.datasets = vec![B256::repeat_byte(0xd0); 65];
    assert_eq!(revert(w.owner.submit_task(&many).await), "TooManyItems");
    many.datasets.pop();
    let (task, _) = w.owner.submit_task(&many).await.unwrap();
    assert_eq!(w.owner.task(task).await.unwrap().datasets.len(), 64);

    assert_eq!(revert(w.owner.task(99).await), "UnknownTask");
    assert_eq!(revert(w.owner.offer(99).await), "UnknownOffer");
    let offer = w.advertise().await;
    assert_eq!(revert(w.owner.match_task(99, offer).await), "UnknownTask");
    assert_eq!(revert(w.owner.approve_task(99).await), "UnknownTask");
    assert_eq!(
        revert(w.processor.submit_result(99, &result()).await),
        "UnknownTask"
    );
    assert_eq!(revert(w.owner.cancel_task(99).await), "UnknownTask");
    assert_eq!(revert(w.stranger.expire_task(99).await), "UnknownTask");
}

#[tokio::test]
async fn owner_cancels_until_approval() {
    let w = World::start().await;
    let open = w.submit().await;
    let sent = w.owner.cancel_task(open).await.unwrap();
    let e: PoxTasks::TaskCancelled = event(&sent);
    assert_eq!(e.task, U256::from(open));
    assert_eq!(w.status(open).await, TaskStatus::Cancelled);
    assert_eq!(w.status(open).await.to_string(), "cancelled");
    let offer = w.advertise().await;
    assert_eq!(revert(w.owner.match_task(open, offer).await), "WrongStatus");

    let matched = w.submit().await;
    w.processor.match_task(matched, offer).await.unwrap();
    w.owner.cancel_task(matched).await.unwrap();
    assert_eq!(w.status(matched).await, TaskStatus::Cancelled);
    assert_eq!(revert(w.owner.approve_task(matched).await), "WrongStatus");

    let approved = w.approved().await;
    assert_eq!(revert(w.owner.cancel_task(approved).await), "WrongStatus");
    assert_eq!(w.status(approved).await, TaskStatus::Approved);
}

#[tokio::test]
async fn anyone_expires_open_and_matched_tasks_after_match_by() {
    let w = World::start().await;
    let open = w.submit().await;
    let matched = w.submit().await;
    let offer = w.advertise().await;
    w.owner.match_task(matched, offer).await.unwrap();
    for task in [open, matched] {
        assert_eq!(
            revert(w.stranger.expire_task(task).await),
            "DeadlineNotPassed"
        );
    }
    w.advance(1001);
    // Too late to match or approve.
    assert_eq!(
        revert(w.processor.match_task(open, offer).await),
        "DeadlinePassed"
    );
    assert_eq!(
        revert(w.processor.approve_task(matched).await),
        "DeadlinePassed"
    );
    for (task, was) in [(open, 1), (matched, 2)] {
        let sent = w.stranger.expire_task(task).await.unwrap();
        let e: PoxTasks::TaskExpired = event(&sent);
        assert_eq!((e.task, e.was), (U256::from(task), was));
        assert_eq!(w.status(task).await, TaskStatus::Expired);
        assert_eq!(revert(w.stranger.expire_task(task).await), "WrongStatus");
        assert_eq!(revert(w.owner.cancel_task(task).await), "WrongStatus");
    }
}

#[tokio::test]
async fn approved_tasks_expire_after_result_by_and_late_results_are_refused() {
    let w = World::start().await;
    let task = w.approved().await;
    assert_eq!(
        revert(w.stranger.expire_task(task).await),
        "DeadlineNotPassed"
    );
    // Past match_by but not result_by: an approved task is still running.
    w.advance(1500);
    assert_eq!(
        revert(w.stranger.expire_task(task).await),
        "DeadlineNotPassed"
    );
    w.advance(1000);
    assert_eq!(
        revert(w.processor.submit_result(task, &result()).await),
        "DeadlinePassed"
    );
    let sent = w.stranger.expire_task(task).await.unwrap();
    let e: PoxTasks::TaskExpired = event(&sent);
    assert_eq!(e.was, 3);
    let t = w.owner.task(task).await.unwrap();
    assert_eq!(t.status, TaskStatus::Expired);
    assert_eq!(t.status.to_string(), "expired");
    assert!(t.results.is_empty());
    assert_eq!(t.receipt, B256::ZERO);
}
