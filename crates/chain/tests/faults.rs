//! Every way talking to a chain goes wrong, through poex-chain's API on a real node (Hardhat 3)
//! or a fake endpoint: each fault is its own [`ChainError`] variant, and its message says what
//! to do. Nothing is ever sent twice, and no error shows key material.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::Provider as _;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent as _;
use poex_chain::contracts::CheckpointAnchor;
use poex_chain::devnode::{ACCOUNT_KEYS, DevNode};
use poex_chain::{Anchored, Chain, ChainConfig, ChainError, ChainKey, Registered, log_key};
use poex_log::note::{Ed25519Signer, Ed25519Verifier};
use poex_log::{Checkpoint, Hash};
use serde_json::json;

/// A chain with the three contracts deployed, signing as test account `i`.
async fn deployed(node: &DevNode) -> ChainConfig {
    let chain = Chain::connect(node.config(), Some(node.account(0)))
        .await
        .unwrap();
    let d = chain.deploy().await.unwrap();
    let mut config = node.config();
    config.contracts.registry = Some(d.registry);
    config.contracts.anchor = Some(d.anchor);
    config.contracts.tasks = Some(d.tasks);
    config
}

fn log() -> (Ed25519Signer, Ed25519Verifier) {
    let signer = Ed25519Signer::from_seed("example.org/log", &[7; 32]).unwrap();
    let verifier = signer.verifier();
    (signer, verifier)
}

fn checkpoint(signer: &Ed25519Signer, size: u64, root: u8) -> String {
    Checkpoint::new(
        "example.org/log".parse().unwrap(),
        poex_log::checkpoint::TreeSize(size),
        Hash::from_bytes([root; 32]),
    )
    .sign(&[signer])
    .unwrap()
}

fn nonce(node: &DevNode, who: Address, tag: &str) -> u64 {
    let n = node.rpc("eth_getTransactionCount", json!([who.to_string(), tag]));
    u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn block_number(node: &DevNode) -> u64 {
    let n = node.rpc("eth_blockNumber", json!([]));
    u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fake endpoint that accepts connections and then either closes them at once (`answer`
/// false: a crashing proxy) or holds them open without a word (a stuck node). Counts them.
fn fake_endpoint(hold: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            seen.fetch_add(1, Ordering::SeqCst);
            if hold {
                held.push(stream);
            } else {
                drop(stream);
            }
        }
    });
    (port, count)
}

#[tokio::test]
async fn rpc_down_is_unreachable_after_the_retries() {
    // Nothing listens; the URL's credentials never show.
    let port = closed_port();
    let mut config = ChainConfig::new(
        format!("http://user:pa55word@127.0.0.1:{port}/v3/apikey123"),
        31337,
    );
    config.read_attempts = 3;
    let started = Instant::now();
    let err = Chain::connect(config.clone(), None).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("http://127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("Check rpc_url"), "{msg}");
    assert!(msg.contains("node is running"), "{msg}");
    for secret in ["pa55word", "apikey123", "user"] {
        assert!(!msg.contains(secret), "{msg}");
        assert!(!format!("{err:?}").contains(secret), "{err:?}");
    }
    // Three attempts, backing off 250 ms then 500 ms.
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");

    // A peer that hangs up is tried exactly read_attempts times, then reported unreachable.
    let (port, count) = fake_endpoint(false);
    let mut config = ChainConfig::new(format!("http://127.0.0.1:{port}"), 31337);
    config.read_attempts = 3;
    let err = Chain::connect(config, None).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn rpc_slow_is_a_timeout() {
    let (port, count) = fake_endpoint(true);
    let mut config = ChainConfig::new(format!("http://127.0.0.1:{port}"), 31337);
    config.rpc_timeout_secs = 1;
    config.read_attempts = 2;
    let started = Instant::now();
    let err = Chain::connect(config, None).await.unwrap_err();
    let elapsed = started.elapsed();
    let ChainError::Timeout { what, secs, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((what.as_str(), *secs), ("eth_chainId", 1));
    let msg = err.to_string();
    assert!(msg.contains("within 1 s"), "{msg}");
    assert!(msg.contains("raise rpc_timeout_secs"), "{msg}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn wrong_chain_is_refused_before_signing() {
    let node = DevNode::start();
    let mut config = node.config();
    config.chain_id = 1;
    let err = Chain::connect(config, Some(node.account(0)))
        .await
        .unwrap_err();
    let ChainError::WrongChain { expected, got, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*expected, *got), (1, 31337));
    let msg = err.to_string();
    assert!(msg.contains("refusing to sign"), "{msg}");
    assert!(msg.contains("Fix rpc_url or chain_id"), "{msg}");
    // No Chain to sign with exists, so nothing was sent.
    assert_eq!(nonce(&node, node.account(0).address(), "pending"), 0);
}

#[tokio::test]
async fn no_contract_at_the_address() {
    let node = DevNode::start();
    let mut config = deployed(&node).await;
    // An address without code, and an account (no code either).
    for address in [Address::repeat_byte(0x42), node.account(1).address()] {
        config.contracts.registry = Some(address);
        let chain = Chain::connect(config.clone(), Some(node.account(0)))
            .await
            .unwrap();
        for err in [
            chain.lookup(B256::repeat_byte(1)).await.unwrap_err(),
            chain
                .register(B256::repeat_byte(1), B256::repeat_byte(2))
                .await
                .unwrap_err(),
        ] {
            let ChainError::NoContract {
                role, address: a, ..
            } = &err
            else {
                panic!("{err:?}")
            };
            assert_eq!((*role, *a), ("registry", address));
            let msg = err.to_string();
            assert!(msg.contains("contracts.registry"), "{msg}");
            assert!(msg.contains("poex chain deploy"), "{msg}");
        }
    }
    // No address at all.
    config.contracts.anchor = None;
    let chain = Chain::connect(config, Some(node.account(0))).await.unwrap();
    let (signer, verifier) = log();
    let err = chain
        .anchor(&checkpoint(&signer, 3, 1), &verifier)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::NotConfigured { role: "anchor" }),
        "{err:?}"
    );
    assert!(err.to_string().contains("poex chain deploy"), "{err}");
}

#[tokio::test]
async fn a_reverting_transaction_is_not_sent() {
    let node = DevNode::start();
    let config = deployed(&node).await;
    let first = Chain::connect(config.clone(), Some(node.account(0)))
        .await
        .unwrap();
    let second = Chain::connect(config.clone(), Some(node.account(1)))
        .await
        .unwrap();
    let (signer, verifier) = log();
    assert!(matches!(
        first
            .anchor(&checkpoint(&signer, 3, 1), &verifier)
            .await
            .unwrap(),
        Anchored::Now(..)
    ));
    let block = block_number(&node);
    let err = second
        .anchor(&checkpoint(&signer, 8, 2), &verifier)
        .await
        .unwrap_err();
    let ChainError::Reverted { call, reason, tx } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(call, "CheckpointAnchor.anchor");
    assert!(reason.contains("NotSubmitter"), "{reason}");
    assert!(
        reason.contains(&first.address().unwrap().to_string()),
        "{reason}"
    );
    assert_eq!(*tx, None);
    let msg = err.to_string();
    assert!(msg.contains("nothing was sent"), "{msg}");
    assert!(msg.contains("setSubmitter"), "{msg}");
    // Nothing mined, nothing pending.
    assert_eq!(block_number(&node), block);
    assert_eq!(nonce(&node, second.address().unwrap(), "pending"), 0);

    // The registry's write-once rule, likewise before sending.
    let name = B256::repeat_byte(9);
    first.register(name, B256::repeat_byte(1)).await.unwrap();
    let err = second
        .register(name, B256::repeat_byte(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::Reverted { tx: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("write-once"), "{err}");
    assert_eq!(nonce(&node, second.address().unwrap(), "pending"), 0);
}

#[tokio::test]
async fn insufficient_funds_names_the_address_and_sends_nothing() {
    let node = DevNode::start();
    let config = deployed(&node).await;
    let dir = tempfile::tempdir().unwrap();
    // A fresh key: no funds at all.
    let fresh = ChainKey::create(&dir.path().join("chain.key")).unwrap();
    let address = fresh.address();
    let chain = Chain::connect(config.clone(), Some(fresh)).await.unwrap();
    let err = chain
        .register(B256::repeat_byte(1), B256::repeat_byte(2))
        .await
        .unwrap_err();
    let ChainError::InsufficientFunds {
        address: a,
        balance,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*a, *balance), (address, U256::ZERO));
    let msg = err.to_string();
    assert!(msg.contains(&address.to_string()), "{msg}");
    assert!(msg.contains("Fund the address"), "{msg}");
    assert!(msg.contains("HashSig.addSig"), "{msg}");
    assert_eq!(nonce(&node, address, "pending"), 0);

    // A funded account drained to almost nothing.
    let poor = node.account(2);
    node.rpc(
        "hardhat_setBalance",
        json!([poor.address().to_string(), "0x3e8"]),
    );
    let chain = Chain::connect(config, Some(poor.clone())).await.unwrap();
    let (signer, verifier) = log();
    let err = chain
        .anchor(&checkpoint(&signer, 4, 1), &verifier)
        .await
        .unwrap_err();
    let ChainError::InsufficientFunds {
        address: a,
        balance,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*a, *balance), (poor.address(), U256::from(1000)));
    assert!(err.to_string().contains("Fund the address"), "{err}");
    assert_eq!(nonce(&node, poor.address(), "pending"), 0);
}

#[tokio::test]
async fn a_missing_receipt_is_waited_for_never_sent_twice() {
    let node = DevNode::start();
    let mut config = deployed(&node).await;
    config.receipt_timeout_secs = 2;
    let journal = tempfile::tempdir().unwrap();
    let key = node.account(0);
    let me = key.address();
    let chain = Chain::connect(config.clone(), Some(key.clone()))
        .await
        .unwrap()
        .with_journal(journal.path());
    let (signer, verifier) = log();
    let n5 = checkpoint(&signer, 5, 1);
    let mined = nonce(&node, me, "latest");

    node.rpc("evm_setAutomine", json!([false]));
    let err = chain.anchor(&n5, &verifier).await.unwrap_err();
    let ChainError::NoReceipt { tx, secs, call } = &err else {
        panic!("{err:?}")
    };
    let tx = *tx;
    assert_eq!((*secs, call.as_str()), (2, "CheckpointAnchor.anchor"));
    let msg = err.to_string();
    assert!(msg.contains(&tx.to_string()), "{msg}");
    assert!(msg.contains("Run the same command again"), "{msg}");
    assert_eq!(nonce(&node, me, "pending"), mined + 1);

    // Again, still nothing mined: the same transaction, no second one. A new connection (a
    // new process) finds it in the journal.
    let again = Chain::connect(config.clone(), Some(key.clone()))
        .await
        .unwrap()
        .with_journal(journal.path());
    let err = again.anchor(&n5, &verifier).await.unwrap_err();
    assert!(
        matches!(err, ChainError::NoReceipt { tx: t, .. } if t == tx),
        "{err:?}"
    );
    assert_eq!(nonce(&node, me, "pending"), mined + 1);
    assert_eq!(nonce(&node, me, "latest"), mined);

    // Mined: the run after reports that very transaction.
    node.rpc("evm_setAutomine", json!([true]));
    node.rpc("evm_mine", json!([]));
    let Anchored::Now(rec, sent) = again.anchor(&n5, &verifier).await.unwrap() else {
        panic!("expected the journalled transaction to be reported")
    };
    assert_eq!((sent.tx, rec.tx, rec.size), (tx, tx, 5));
    assert_eq!(nonce(&node, me, "latest"), mined + 1);
    assert!(matches!(
        again.anchor(&n5, &verifier).await.unwrap(),
        Anchored::Already(r) if r.tx == tx
    ));
    // Exactly one Anchored event for the log.
    let logs = again
        .provider()
        .get_logs(
            &Filter::new()
                .address(config.contracts.anchor.unwrap())
                .event_signature(CheckpointAnchor::Anchored::SIGNATURE_HASH)
                .topic1(log_key(&verifier))
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].transaction_hash, Some(tx));
    assert_eq!(nonce(&node, me, "pending"), mined + 1);
    // The journal is empty again.
    assert_eq!(std::fs::read_dir(journal.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_lost_receipt_for_a_smaller_checkpoint_does_not_stand_for_a_larger_one() {
    let node = DevNode::start();
    let mut config = deployed(&node).await;
    config.receipt_timeout_secs = 1;
    let journal = tempfile::tempdir().unwrap();
    let chain = Chain::connect(config, Some(node.account(0)))
        .await
        .unwrap()
        .with_journal(journal.path());
    let (signer, verifier) = log();
    node.rpc("evm_setAutomine", json!([false]));
    let err = chain
        .anchor(&checkpoint(&signer, 5, 1), &verifier)
        .await
        .unwrap_err();
    let ChainError::NoReceipt { tx: tx5, .. } = err else {
        panic!("{err:?}")
    };
    // The log grew; the earlier transaction is still pending: wait for it, send nothing.
    let n9 = checkpoint(&signer, 9, 2);
    let err = chain.anchor(&n9, &verifier).await.unwrap_err();
    assert!(
        matches!(err, ChainError::NoReceipt { tx, .. } if tx == tx5),
        "{err:?}"
    );
    node.rpc("evm_setAutomine", json!([true]));
    node.rpc("evm_mine", json!([]));
    // Size 5 is mined now; size 9 is anchored by a transaction of its own.
    let Anchored::Now(rec, sent) = chain.anchor(&n9, &verifier).await.unwrap() else {
        panic!()
    };
    assert_eq!(rec.size, 9);
    assert_ne!(sent.tx, tx5);
    assert_eq!(
        chain
            .anchor_at(log_key(&verifier), 5)
            .await
            .unwrap()
            .unwrap()
            .tx,
        tx5
    );
}

#[tokio::test]
async fn a_journalled_transaction_the_node_never_saw_is_sent_anew() {
    let node = DevNode::start();
    let config = deployed(&node).await;
    let journal = tempfile::tempdir().unwrap();
    let (signer, verifier) = log();
    let key = log_key(&verifier);
    // What a run that crashed between journalling and sending leaves behind.
    let ghost = keccak256("never sent");
    std::fs::write(
        journal.path().join(format!("31337-anchor-{key}.json")),
        json!({"tx": ghost, "call": "CheckpointAnchor.anchor"}).to_string(),
    )
    .unwrap();
    let chain = Chain::connect(config, Some(node.account(0)))
        .await
        .unwrap()
        .with_journal(journal.path());
    let Anchored::Now(rec, sent) = chain
        .anchor(&checkpoint(&signer, 2, 1), &verifier)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_ne!(sent.tx, ghost);
    assert_eq!(rec.size, 2);
    assert_eq!(std::fs::read_dir(journal.path()).unwrap().count(), 0);

    // A journal that cannot be read stops the operation and says how to clear it.
    let path = journal.path().join(format!("31337-anchor-{key}.json"));
    std::fs::write(&path, "{not json").unwrap();
    let err = chain
        .anchor(&checkpoint(&signer, 3, 1), &verifier)
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Journal { .. }), "{err:?}");
    assert!(err.to_string().contains("remove the file"), "{err}");
}

#[tokio::test]
async fn registering_after_a_lost_receipt_reports_the_first_transaction() {
    let node = DevNode::start();
    let mut config = deployed(&node).await;
    config.receipt_timeout_secs = 1;
    let journal = tempfile::tempdir().unwrap();
    let chain = Chain::connect(config, Some(node.account(0)))
        .await
        .unwrap()
        .with_journal(journal.path());
    let (name, hash) = (B256::repeat_byte(3), B256::repeat_byte(4));
    node.rpc("evm_setAutomine", json!([false]));
    let ChainError::NoReceipt { tx, .. } = chain.register(name, hash).await.unwrap_err() else {
        panic!()
    };
    node.rpc("evm_setAutomine", json!([true]));
    node.rpc("evm_mine", json!([]));
    let Registered::Now(entry, sent) = chain.register(name, hash).await.unwrap() else {
        panic!()
    };
    assert_eq!((sent.tx, entry.hash), (tx, hash));
    assert!(matches!(
        chain.register(name, hash).await.unwrap(),
        Registered::Already(_)
    ));
}

#[test]
fn key_errors_never_show_the_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let secret = ACCOUNT_KEYS[1].trim_start_matches("0x");
    let cases = [
        // One digit too many, one too few, a stray character, the zero key.
        format!("0x{secret}0\n"),
        format!("0x{}\n", &secret[1..]),
        format!("0x{}g\n", &secret[1..]),
        format!("# address: 0x0\n{secret} {secret}\n"),
        format!("0x{}\n", "0".repeat(64)),
    ];
    for (i, text) in cases.iter().enumerate() {
        let path = dir.path().join(format!("k{i}.key"));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = ChainKey::load(&path).unwrap_err();
        assert!(matches!(err, ChainError::Key { .. }), "{err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(&secret[1..40]), "{shown}");
            assert!(shown.contains("private key"), "{shown}");
        }
    }
    // Imported text is not echoed either.
    let err = ChainKey::import(&dir.path().join("new.key"), &format!("{secret}00")).unwrap_err();
    assert!(!err.to_string().contains(&secret[..40]), "{err}");
}
