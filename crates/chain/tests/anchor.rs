//! The registry and the checkpoint anchor on a real EVM node (Hardhat 3), through poex-chain.
#![expect(clippy::unwrap_used, reason = "tests")]

use poex_chain::devnode::DevNode;
use poex_chain::{Anchored, Chain, ChainError, Registered, registry_name};
use poex_log::note::Ed25519Signer;
use poex_log::{Checkpoint, Hash};

async fn deployed(node: &DevNode) -> Chain {
    let chain = Chain::connect(node.config(), Some(node.account(0)))
        .await
        .unwrap();
    let d = chain.deploy().await.unwrap();
    let mut config = node.config();
    config.contracts.registry = Some(d.registry);
    config.contracts.anchor = Some(d.anchor);
    config.contracts.tasks = Some(d.tasks);
    Chain::connect(config, Some(node.account(0))).await.unwrap()
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

#[tokio::test]
async fn register_and_anchor_round_trip() {
    let node = DevNode::start();
    let chain = deployed(&node).await;
    let name = registry_name("algorithm", "wordcount");
    let hash = poex_chain::B256::repeat_byte(0xab);
    let Registered::Now(entry, sent) = chain.register(name, hash).await.unwrap() else {
        panic!()
    };
    assert_eq!(entry.hash, hash);
    assert!(sent.gas_used > 21_000);
    assert!(matches!(
        chain.register(name, hash).await.unwrap(),
        Registered::Already(_)
    ));
    let err = chain
        .register(name, poex_chain::B256::repeat_byte(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("write-once"), "{err}");

    let signer = Ed25519Signer::from_seed("example.org/log", &[7; 32]).unwrap();
    let verifier = signer.verifier();
    let n5 = checkpoint(&signer, 5, 1);
    let Anchored::Now(rec, _) = chain.anchor(&n5, &verifier).await.unwrap() else {
        panic!()
    };
    assert_eq!(rec.size, 5);
    assert!(matches!(
        chain.anchor(&n5, &verifier).await.unwrap(),
        Anchored::Already(_)
    ));
    let forked = checkpoint(&signer, 5, 2);
    assert!(matches!(
        chain.anchor(&forked, &verifier).await.unwrap_err(),
        ChainError::Forked { .. }
    ));
    let n9 = checkpoint(&signer, 9, 3);
    assert!(matches!(
        chain.anchor(&n9, &verifier).await.unwrap(),
        Anchored::Now(..)
    ));
    assert!(matches!(
        chain.anchor(&n5, &verifier).await.unwrap(),
        Anchored::Already(_)
    ));
    let n7 = checkpoint(&signer, 7, 4);
    assert!(matches!(
        chain.anchor(&n7, &verifier).await.unwrap(),
        Anchored::Covered(_)
    ));
    let latest = chain
        .latest_anchor(poex_chain::log_key(&verifier))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.size, 9);
    latest.open(&verifier).unwrap();
}

/// Bloxberg runs the Istanbul hardfork: no base fee, so no EIP-1559 transactions. The
/// contracts (compiled for Istanbul) deploy there and the client falls back to legacy gas
/// prices.
#[tokio::test]
async fn works_on_a_chain_without_eip1559_like_bloxberg() {
    let node = DevNode::start_bloxberg_like();
    let chain = deployed(&node).await;
    assert_eq!(chain.config().chain_id, 8995);
    let name = registry_name("dataset", "cohort");
    let Registered::Now(_, sent) = chain
        .register(name, poex_chain::B256::repeat_byte(3))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        u8::from(sent.receipt.transaction_type()),
        0,
        "a legacy transaction"
    );
    let signer = Ed25519Signer::from_seed("example.org/log", &[9; 32]).unwrap();
    let n3 = checkpoint(&signer, 3, 1);
    assert!(matches!(
        chain.anchor(&n3, &signer.verifier()).await.unwrap(),
        Anchored::Now(..)
    ));
}
