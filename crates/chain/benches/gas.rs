//! Gas per poex chain operation, from real receipts on a Hardhat dev node, against the baseline
//! of a plain value transfer (21,000 gas) sent in the same run; and the wall-clock latency of
//! `Chain::anchor` (reads, estimate, send, receipt) on that node.
//!
//! `cargo bench -p poex-chain --features devnode --bench gas`
//!
//! Gas is what the EVM charges for the call with these inputs, the same on any chain at the
//! same hardfork; the cost column is gas × 1 gwei, in ETH (or whatever the chain's coin is).
//! The latency is a local dev node's, with instant mining: the client's own overhead, not a
//! real chain's block time.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark: any failure is a bug to see"
)]

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider as _, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use poex_chain::contracts::{CheckpointAnchor, PoxTasks};
use poex_chain::devnode::{ACCOUNT_KEYS, DevNode};
use poex_chain::{Anchored, Chain, Registered, log_key, registry_name};
use poex_log::note::{Ed25519Signer, Verifier as _};
use poex_log::{Checkpoint, Hash};
use serde_json::json;

/// A provider signing as test account `i` (the nonce asked of the node every time).
fn as_account(node: &DevNode, i: usize) -> (DynProvider, Address) {
    let signer: PrivateKeySigner = ACCOUNT_KEYS[i].parse().unwrap();
    let address = signer.address();
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(signer)
        .connect_http(node.url().parse().unwrap())
        .erased();
    (provider, address)
}

/// The receipt of a contract call sent through the bindings, which must succeed.
macro_rules! mined {
    ($call:expr) => {{
        let r: TransactionReceipt = $call.send().await.unwrap().get_receipt().await.unwrap();
        assert!(r.status(), "reverted: {r:?}");
        r
    }};
}

fn signed_checkpoint(signer: &Ed25519Signer, size: u64) -> String {
    let root = Hash::from_bytes(*keccak256(size.to_be_bytes()));
    Checkpoint::new(
        signer.verifier().name().parse().unwrap(),
        poex_log::checkpoint::TreeSize(size),
        root,
    )
    .sign(&[signer])
    .unwrap()
}

fn digests(n: usize, tag: &str) -> Vec<B256> {
    (0..n).map(|i| keccak256(format!("{tag}/{i}"))).collect()
}

struct Table {
    rows: Vec<(String, u64)>,
}

impl Table {
    fn add(&mut self, op: impl Into<String>, gas: u64) {
        self.rows.push((op.into(), gas));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = DevNode::start();
    let mut t = Table { rows: Vec::new() };

    // Baseline: a plain value transfer.
    let (p0, a0) = as_account(&node, 0);
    let (p1, a1) = as_account(&node, 1);
    let (p2, _) = as_account(&node, 2);
    let transfer = p0
        .send_transaction(TransactionRequest::default().to(a1).value(U256::from(1)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap()
        .gas_used;

    // Deployments, through poex-chain.
    let chain = Chain::connect(node.config(), Some(node.account(0)))
        .await
        .unwrap();
    let d = chain.deploy().await.unwrap();
    for (name, sent) in &d.transactions {
        t.add(format!("deploy {name}"), sent.gas_used);
    }
    let mut config = node.config();
    config.contracts.registry = Some(d.registry);
    config.contracts.anchor = Some(d.anchor);
    config.contracts.tasks = Some(d.tasks);
    let chain = Chain::connect(config.clone(), Some(node.account(0)))
        .await
        .unwrap();

    // Registry.
    let Registered::Now(_, sent) = chain
        .register(
            registry_name("algorithm", "wordcount"),
            keccak256("the algorithm"),
        )
        .await
        .unwrap()
    else {
        panic!("registered already")
    };
    t.add("HashSig.addSig (register a digest)", sent.gas_used);

    // Anchors: a realistic signed checkpoint note, first for its log, then a later one.
    let signer = Ed25519Signer::from_seed("poex.example.org/node-1/log", &[7; 32]).unwrap();
    let verifier = signer.verifier();
    let note = signed_checkpoint(&signer, 1_024);
    let note_len = note.len();
    let Anchored::Now(_, sent) = chain.anchor(&note, &verifier).await.unwrap() else {
        panic!("anchored already")
    };
    t.add(
        format!("CheckpointAnchor.anchor, first for a log ({note_len} B note)"),
        sent.gas_used,
    );
    let note = signed_checkpoint(&signer, 2_048);
    let Anchored::Now(_, sent) = chain.anchor(&note, &verifier).await.unwrap() else {
        panic!("anchored already")
    };
    t.add(
        format!("CheckpointAnchor.anchor, later ({} B note)", note.len()),
        sent.gas_used,
    );
    let anchor = CheckpointAnchor::new(d.anchor, &p0);
    let r = mined!(anchor.setSubmitter(log_key(&verifier), a1));
    t.add("CheckpointAnchor.setSubmitter", r.gas_used);

    // The task workflow, through the bindings: account 0 owns the data, account 1 processes.
    let owner = PoxTasks::new(d.tasks, &p0);
    let processor = PoxTasks::new(d.tasks, &p1);
    let anyone = PoxTasks::new(d.tasks, &p2);
    let now = p0
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    let (match_by, result_by) = (now + 3_600, now + 7_200);
    let metadata =
        r#"{"name":"wordcount","runtime":"python3.12","cpu":2,"memory_mib":2048,"egress":"none"}"#;
    let submit = |n: usize| {
        owner.submitTask(
            keccak256("algorithm/wordcount"),
            digests(n, "dataset"),
            keccak256("signed job request"),
            metadata.to_owned(),
            match_by,
            result_by,
        )
    };
    let task_of = |r: &TransactionReceipt| {
        r.decoded_log::<PoxTasks::TaskSubmitted>()
            .unwrap()
            .data
            .task
    };
    let r = mined!(submit(1));
    let task1 = task_of(&r);
    t.add("PoxTasks.submitTask, 1 dataset", r.gas_used);
    let r = mined!(submit(8));
    let task8 = task_of(&r);
    t.add("PoxTasks.submitTask, 8 datasets", r.gas_used);
    let r = mined!(processor.advertise(
        "cpu=16 mem=64GiB gpu=0 region=eu-central sandbox=gvisor".to_owned(),
        now + 86_400
    ));
    let offer = r
        .decoded_log::<PoxTasks::OfferAdvertised>()
        .unwrap()
        .data
        .offer;
    t.add("PoxTasks.advertise", r.gas_used);
    let r = mined!(owner.matchTask(task1, offer));
    t.add("PoxTasks.matchTask", r.gas_used);
    let r = mined!(processor.approve(task1));
    t.add("PoxTasks.approve", r.gas_used);
    let result = |task: U256, n: usize| {
        processor.submitResult(
            task,
            digests(n, "result"),
            keccak256("signed receipt"),
            log_key(&verifier),
            4_096,
            keccak256("root"),
        )
    };
    let r = mined!(result(task1, 1));
    t.add("PoxTasks.submitResult, 1 result", r.gas_used);
    mined!(owner.matchTask(task8, offer));
    mined!(processor.approve(task8));
    let r = mined!(result(task8, 8));
    t.add("PoxTasks.submitResult, 8 results", r.gas_used);
    let r = mined!(submit(1));
    let r = mined!(owner.cancel(task_of(&r)));
    t.add("PoxTasks.cancel", r.gas_used);
    let r = mined!(submit(1));
    let late = task_of(&r);
    node.rpc("evm_increaseTime", json!([3_601]));
    node.rpc("evm_mine", json!([]));
    let r = mined!(anyone.expire(late));
    t.add("PoxTasks.expire", r.gas_used);

    // Latency of Chain::anchor, send to receipt, over 20 anchors of a fresh log.
    let signer = Ed25519Signer::from_seed("poex.example.org/node-2/log", &[9; 32]).unwrap();
    let verifier = signer.verifier();
    let mut times: Vec<Duration> = Vec::new();
    for size in 1..=20u64 {
        let note = signed_checkpoint(&signer, size * 100);
        let started = Instant::now();
        let got = chain.anchor(&note, &verifier).await.unwrap();
        times.push(started.elapsed());
        assert!(matches!(got, Anchored::Now(..)));
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    println!(
        "\nGas per operation (Hardhat 3 dev node, {a0} signing; contracts compiled for Istanbul)\n"
    );
    println!("| operation | gas | cost at 1 gwei (ETH) | × transfer |");
    println!("|---|---:|---:|---:|");
    println!(
        "| plain value transfer (baseline) | {transfer} | {:.9} | 1.00 |",
        transfer as f64 * 1e-9
    );
    for (op, gas) in &t.rows {
        println!(
            "| {op} | {gas} | {:.9} | {:.2} |",
            *gas as f64 * 1e-9,
            *gas as f64 / transfer as f64
        );
    }
    println!(
        "\nChain::anchor wall-clock on the dev node (reads, estimate, send, receipt; automine), {} anchors: p50 {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
}
