//! `anchor_interval_secs`: a served node anchors its log's checkpoints on a real EVM node
//! (Hardhat, poex-chain's `devnode`), only when the log grew; refuses to start without chain
//! settings; keeps serving while the chain is unreachable.
#![cfg(feature = "chain")]
#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestNode, key, serve_on_loopback as start};
use poex_chain::devnode::{ACCOUNT_KEYS, DevNode};
use poex_chain::{Chain, ChainConfig, ChainKey, log_key};
use poex_node::Node;
use serde_json::Value;

/// Writes `HOME/chain.toml` for `config` and imports Hardhat's account 0 as the key.
fn chain_home(home: &Path, mut config: ChainConfig) {
    config.key_file = home.join("keys/chain.key");
    config.save(&home.join("chain.toml")).unwrap();
    ChainKey::import(&config.key_file, ACCOUNT_KEYS[0]).unwrap();
}

fn anchoring_config() -> poex_node::Config {
    let mut c = common::config();
    c.anchor_interval_secs = 1;
    c
}

fn nonce(dev: &DevNode, address: &str) -> u64 {
    let hex = dev.rpc(
        "eth_getTransactionCount",
        serde_json::json!([address, "latest"]),
    );
    u64::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Polls the chain until the log's latest anchor has `size` (60 s at most).
async fn anchored(chain: &Chain, t: &TestNode, size: u64) -> poex_chain::AnchorRecord {
    let key = log_key(t.node.ledger.verifier());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(rec) = chain.latest_anchor(key).await.unwrap()
            && rec.size >= size
        {
            return rec;
        }
        assert!(
            Instant::now() < deadline,
            "size {size} was not anchored within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /api/info`'s `anchor` once it reports `size` (10 s at most: it is set right after the
/// transaction's receipt).
async fn info_anchor(t: &TestNode, size: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, info) = t.json("GET", "/api/info", None, None).await;
        if info["anchor"]["size"] == size {
            return info["anchor"].clone();
        }
        assert!(Instant::now() < deadline, "{info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_served_node_anchors_its_log_when_it_grows_and_only_then() {
    let dev = DevNode::start();
    let deployer = Chain::connect(dev.config(), Some(dev.account(0)))
        .await
        .unwrap();
    let deployed = deployer.deploy().await.unwrap();
    let mut config = dev.config();
    config.contracts.anchor = Some(deployed.anchor);
    let reader = Chain::connect(config.clone(), None).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    chain_home(dir.path(), config);
    let t = TestNode::open_idle(dir, anchoring_config());
    let (_, info) = t.json("GET", "/api/info", None, None).await;
    assert_eq!(info["anchor"], Value::Null, "{info}");
    let (addr, stop, server) = start(&t);
    let _ = addr;

    // The log grows: its checkpoint gets anchored, and /api/info says where.
    let alice = key();
    t.algorithm(&alice, "a.sh", "echo a > /out/a\n").await;
    let size = t.node.ledger.size();
    let rec = anchored(&reader, &t, size).await;
    assert_eq!(rec.size, size);
    rec.open(t.node.ledger.verifier()).unwrap();
    assert_eq!(rec.submitter, dev.account(0).address());
    let shown = info_anchor(&t, size).await;
    assert_eq!(shown["tx"], rec.tx.to_string(), "{shown}");
    assert_eq!(shown["block"], rec.block, "{shown}");
    assert_eq!(shown["chainId"], poex_chain::devnode::CHAIN_ID, "{shown}");
    assert_eq!(shown["contract"], deployed.anchor.to_string(), "{shown}");
    let at = shown["at"].as_str().unwrap();
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap();

    // Nothing new in the log: no transaction over several intervals.
    let signer = dev.account(0).address().to_string();
    let before = nonce(&dev, &signer);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(t.node.ledger.size(), size, "the log grew by itself");
    assert_eq!(nonce(&dev, &signer), before, "anchored with nothing new");

    // It grows again: anchored again.
    t.algorithm(&alice, "b.sh", "echo b > /out/b\n").await;
    let size2 = t.node.ledger.size();
    assert!(size2 > size);
    let rec2 = anchored(&reader, &t, size2).await;
    assert_eq!(rec2.size, size2);
    assert!(nonce(&dev, &signer) > before);
    info_anchor(&t, size2).await;

    // Shutdown does not wait for the next round.
    let started = Instant::now();
    stop.send(()).unwrap();
    server.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn refusal(home: &Path) -> String {
    match Node::open(home, anchoring_config()) {
        Ok(_) => panic!("the node started"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn anchoring_without_chain_settings_or_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let e = refusal(dir.path());
    assert!(
        e.contains("chain.toml") && e.contains("anchor_interval_secs"),
        "{e}"
    );

    // No anchor contract.
    let config = ChainConfig::new("http://127.0.0.1:1", 31337);
    chain_home(dir.path(), config.clone());
    let e = refusal(dir.path());
    assert!(e.contains("contracts.anchor"), "{e}");

    // No key file.
    let mut config = config;
    config.contracts.anchor = Some(poex_chain::Address::repeat_byte(7));
    config.key_file = dir.path().join("keys/missing.key");
    config.save(&dir.path().join("chain.toml")).unwrap();
    let e = refusal(dir.path());
    assert!(e.contains("missing.key"), "{e}");

    // Malformed chain.toml.
    std::fs::write(dir.path().join("chain.toml"), "rpc_url = 3\n").unwrap();
    let e = refusal(dir.path());
    assert!(e.contains("chain.toml"), "{e}");

    // Off: chain.toml is not read at all.
    Node::open(dir.path(), common::config()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_chain_does_not_stop_the_node() {
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    // Nothing listens on port 1.
    let mut config = ChainConfig::new("http://127.0.0.1:1", 31337);
    config.contracts.anchor = Some(poex_chain::Address::repeat_byte(7));
    config.rpc_timeout_secs = 1;
    config.read_attempts = 1;
    chain_home(dir.path(), config);
    let t = TestNode::open_idle(dir, anchoring_config());
    let (addr, stop, server) = start(&t);
    t.algorithm(&key(), "a.sh", "echo a > /out/a\n").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let health = tokio::task::spawn_blocking(move || {
        poex_client::Client::new(&format!("http://{addr}"))
            .unwrap()
            .health()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(health.status, "ok", "{health:?}");
    let (_, info) = t.json("GET", "/api/info", None, None).await;
    assert_eq!(info["anchor"], Value::Null, "{info}");
    let started = Instant::now();
    stop.send(()).unwrap();
    server.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}
