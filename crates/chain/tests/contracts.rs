//! HashSig's and CheckpointAnchor's own rules on a real EVM node (Hardhat 3), called through
//! the generated bindings with plain alloy providers (one per test account), not through
//! [`poex_chain::Chain`]: the contracts must hold their rules against any caller.
#![expect(clippy::unwrap_used, reason = "tests")]

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider as _, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall as _;
use poex_chain::contracts::CheckpointAnchor::{self, CheckpointAnchorErrors};
use poex_chain::contracts::HashSig::{self, HashSigErrors};
use poex_chain::devnode::{ACCOUNT_KEYS, DevNode};
use poex_chain::{Chain, Deployed};
use poex_log::note::Ed25519Signer;
use poex_log::{Checkpoint, Hash};

/// A provider that signs as test account `i`.
fn as_account(node: &DevNode, i: usize) -> (DynProvider, Address) {
    let signer: PrivateKeySigner = ACCOUNT_KEYS[i].parse().unwrap();
    let address = signer.address();
    // The nonce is asked of the node for every transaction: the cached nonce manager would
    // count the refused (estimate-reverted) sends and skip nonces.
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

async fn deploy(node: &DevNode) -> Deployed {
    Chain::connect(node.config(), Some(node.account(0)))
        .await
        .unwrap()
        .deploy()
        .await
        .unwrap()
}

fn block_of(r: &TransactionReceipt) -> u64 {
    r.block_number.unwrap()
}

#[test]
fn selectors_are_the_seeds() {
    // Seed 001's web3 code calls these raw selectors; ours must answer them.
    assert_eq!(HashSig::addSigCall::SELECTOR, [0xfa, 0x3d, 0x13, 0x25]);
    assert_eq!(HashSig::getSigCall::SELECTOR, [0x89, 0x31, 0x82, 0xff]);
    assert_eq!(
        keccak256("addSig(bytes32,bytes32)")[..4],
        HashSig::addSigCall::SELECTOR
    );
    assert_eq!(
        keccak256("getSig(bytes32)")[..4],
        HashSig::getSigCall::SELECTOR
    );
}

#[tokio::test]
async fn hashsig_is_write_once() {
    let node = DevNode::start();
    let d = deploy(&node).await;
    let (p0, a0) = as_account(&node, 0);
    let (p1, _) = as_account(&node, 1);
    let reg0 = HashSig::new(d.registry, &p0);
    let reg1 = HashSig::new(d.registry, &p1);
    let name = keccak256("algorithm/wordcount");
    let hash = B256::repeat_byte(0xab);

    // Absent: zero hash, zero owner, block zero.
    assert_eq!(reg0.getSig(name).call().await.unwrap(), B256::ZERO);
    let e = reg0.getEntry(name).call().await.unwrap();
    assert_eq!(
        (e.hash, e.owner, e.blockNumber),
        (B256::ZERO, Address::ZERO, 0)
    );

    // addSig answers true to a call, then stores on a transaction.
    assert!(reg0.addSig(name, hash).call().await.unwrap());
    let receipt = reg0
        .addSig(name, hash)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let added = receipt.decoded_log::<HashSig::SigAdded>().unwrap();
    assert_eq!(added.address, d.registry);
    assert_eq!(
        added.data,
        HashSig::SigAdded {
            name,
            hash,
            owner: a0
        }
    );
    assert_eq!(reg0.getSig(name).call().await.unwrap(), hash);
    let e = reg1.getEntry(name).call().await.unwrap();
    assert_eq!(
        (e.hash, e.owner, e.blockNumber),
        (hash, a0, block_of(&receipt))
    );

    // The seed's raw calldata (selector ++ name) reads the same hash.
    let mut raw = vec![0x89, 0x31, 0x82, 0xff];
    raw.extend_from_slice(name.as_slice());
    let answer = p1
        .call(
            TransactionRequest::default()
                .to(d.registry)
                .input(Bytes::from(raw).into()),
        )
        .await
        .unwrap();
    assert_eq!(answer.as_ref(), hash.as_slice());

    // A second addSig for the name reverts, whoever sends it and whatever the hash.
    for (reg, h) in [(&reg0, hash), (&reg1, B256::repeat_byte(1))] {
        let err = reg.addSig(name, h).send().await.unwrap_err();
        assert_eq!(
            err.as_decoded_interface_error::<HashSigErrors>().unwrap(),
            HashSigErrors::AlreadyRegistered(HashSig::AlreadyRegistered {
                name,
                hash,
                owner: a0
            })
        );
    }
    // A zero hash is refused (zero means "absent").
    let other = keccak256("dataset/x");
    let err = reg1.addSig(other, B256::ZERO).send().await.unwrap_err();
    assert_eq!(
        err.as_decoded_interface_error::<HashSigErrors>().unwrap(),
        HashSigErrors::ZeroHash(HashSig::ZeroHash { name: other })
    );
    assert_eq!(reg0.getSig(other).call().await.unwrap(), B256::ZERO);
    // The entry did not change.
    assert_eq!(reg1.getSig(name).call().await.unwrap(), hash);
}

fn note(size: u64, root: u8) -> (String, B256) {
    let signer = Ed25519Signer::from_seed("example.org/log", &[7; 32]).unwrap();
    let root = Hash::from_bytes([root; 32]);
    let text = Checkpoint::new(
        "example.org/log".parse().unwrap(),
        poex_log::checkpoint::TreeSize(size),
        root,
    )
    .sign(&[&signer])
    .unwrap();
    (text, B256::from(root.to_bytes()))
}

fn anchor_error(err: &alloy::contract::Error) -> CheckpointAnchorErrors {
    err.as_decoded_interface_error::<CheckpointAnchorErrors>()
        .unwrap_or_else(|| panic!("not a CheckpointAnchor error: {err}"))
}

#[tokio::test]
async fn checkpoint_anchor_rules() {
    let node = DevNode::start();
    let d = deploy(&node).await;
    let (p0, a0) = as_account(&node, 0);
    let (p1, a1) = as_account(&node, 1);
    let (p2, _) = as_account(&node, 2);
    let c0 = CheckpointAnchor::new(d.anchor, &p0);
    let c1 = CheckpointAnchor::new(d.anchor, &p1);
    let c2 = CheckpointAnchor::new(d.anchor, &p2);
    let key = B256::repeat_byte(0x11);
    let origin = "example.org/log".to_owned();
    let (n5, r5) = note(5, 1);

    // Nothing yet.
    let head = c0.latest(key).call().await.unwrap();
    assert_eq!((head.size, head.root, head.blockNumber), (0, B256::ZERO, 0));
    assert_eq!(c0.submitterOf(key).call().await.unwrap(), Address::ZERO);

    // Size 0 is refused, even for the first anchorer (who then does not become submitter).
    let err = c1
        .anchor(key, origin.clone(), 0, r5, Bytes::new())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        anchor_error(&err),
        CheckpointAnchorErrors::EmptyTree(CheckpointAnchor::EmptyTree { logKey: key })
    );
    assert_eq!(c0.submitterOf(key).call().await.unwrap(), Address::ZERO);

    // The first anchorer becomes the submitter.
    let receipt = c0
        .anchor(key, origin.clone(), 5, r5, n5.clone().into_bytes().into())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let block5 = block_of(&receipt);
    assert_eq!(
        receipt
            .decoded_log::<CheckpointAnchor::SubmitterChanged>()
            .unwrap()
            .data,
        CheckpointAnchor::SubmitterChanged {
            logKey: key,
            from: Address::ZERO,
            to: a0
        }
    );
    let anchored = receipt
        .decoded_log::<CheckpointAnchor::Anchored>()
        .unwrap()
        .data;
    assert_eq!(
        anchored,
        CheckpointAnchor::Anchored {
            logKey: key,
            size: 5,
            root: r5,
            origin: origin.clone(),
            note: n5.clone().into_bytes().into(),
            submitter: a0
        }
    );
    // The note in the event is the log's own signed checkpoint, byte for byte.
    assert_eq!(std::str::from_utf8(&anchored.note).unwrap(), n5);
    assert_eq!(c1.submitterOf(key).call().await.unwrap(), a0);
    let head = c1.latest(key).call().await.unwrap();
    assert_eq!((head.size, head.root, head.blockNumber), (5, r5, block5));
    let at = c1.anchoredAt(key, 5).call().await.unwrap();
    assert_eq!((at.root, at.blockNumber), (r5, block5));
    let none = c1.anchoredAt(key, 4).call().await.unwrap();
    assert_eq!((none.root, none.blockNumber), (B256::ZERO, 0));

    // Anyone else is refused.
    let (n9, r9) = note(9, 2);
    let err = c1
        .anchor(key, origin.clone(), 9, r9, n9.clone().into_bytes().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        anchor_error(&err),
        CheckpointAnchorErrors::NotSubmitter(CheckpointAnchor::NotSubmitter {
            logKey: key,
            submitter: a0
        })
    );
    // The same size (even with the same root) and smaller sizes are refused.
    for (size, root) in [(5, r5), (5, r9), (4, r9)] {
        let err = c0
            .anchor(key, origin.clone(), size, root, Bytes::new())
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            anchor_error(&err),
            CheckpointAnchorErrors::NotGrowing(CheckpointAnchor::NotGrowing {
                logKey: key,
                anchoredSize: 5,
                size
            })
        );
    }
    let err = c0
        .anchor(key, origin.clone(), 0, r9, Bytes::new())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        anchor_error(&err),
        CheckpointAnchorErrors::EmptyTree(CheckpointAnchor::EmptyTree { logKey: key })
    );

    // Handing over: only the submitter may, never to zero.
    let err = c1.setSubmitter(key, a1).send().await.unwrap_err();
    assert_eq!(
        anchor_error(&err),
        CheckpointAnchorErrors::NotSubmitter(CheckpointAnchor::NotSubmitter {
            logKey: key,
            submitter: a0
        })
    );
    let err = c0
        .setSubmitter(key, Address::ZERO)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        anchor_error(&err),
        CheckpointAnchorErrors::ZeroSubmitter(CheckpointAnchor::ZeroSubmitter { logKey: key })
    );
    let receipt = c0
        .setSubmitter(key, a1)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert_eq!(
        receipt
            .decoded_log::<CheckpointAnchor::SubmitterChanged>()
            .unwrap()
            .data,
        CheckpointAnchor::SubmitterChanged {
            logKey: key,
            from: a0,
            to: a1
        }
    );
    assert_eq!(c2.submitterOf(key).call().await.unwrap(), a1);
    // The old submitter is refused now, for anchoring and for handing over.
    let err = c0
        .anchor(key, origin.clone(), 9, r9, n9.clone().into_bytes().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        anchor_error(&err),
        CheckpointAnchorErrors::NotSubmitter(CheckpointAnchor::NotSubmitter {
            logKey: key,
            submitter: a1
        })
    );
    let err = c0.setSubmitter(key, a0).send().await.unwrap_err();
    assert!(matches!(
        anchor_error(&err),
        CheckpointAnchorErrors::NotSubmitter(_)
    ));
    // The new one anchors.
    let receipt = c1
        .anchor(key, origin.clone(), 9, r9, n9.clone().into_bytes().into())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    assert!(
        receipt
            .decoded_log::<CheckpointAnchor::SubmitterChanged>()
            .is_none()
    );
    let e = receipt
        .decoded_log::<CheckpointAnchor::Anchored>()
        .unwrap()
        .data;
    assert_eq!((e.size, e.submitter, e.origin), (9, a1, origin.clone()));
    let block9 = block_of(&receipt);
    let head = c2.latest(key).call().await.unwrap();
    assert_eq!((head.size, head.root, head.blockNumber), (9, r9, block9));
    // Earlier anchors stay readable.
    let at = c2.anchoredAt(key, 5).call().await.unwrap();
    assert_eq!((at.root, at.blockNumber), (r5, block5));

    // Another log key is independent: a different first anchorer claims it.
    let key2 = B256::repeat_byte(0x22);
    let receipt = c2
        .anchor(key2, origin.clone(), 1, r5, Bytes::new())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    assert_eq!(
        c0.submitterOf(key2).call().await.unwrap(),
        receipt
            .decoded_log::<CheckpointAnchor::Anchored>()
            .unwrap()
            .data
            .submitter
    );
    assert_eq!(c0.latest(key).call().await.unwrap().size, 9);

    // A reverted anchor left no trace: exactly two Anchored events for the first key.
    let logs = p0
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(d.anchor)
                .event_signature(
                    <CheckpointAnchor::Anchored as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
                )
                .topic1(key)
                .from_block(0),
        )
        .await
        .unwrap();
    let sizes: Vec<U256> = logs
        .iter()
        .map(|l| U256::from_be_slice(l.topics()[2].as_slice()))
        .collect();
    assert_eq!(sizes, [U256::from(5), U256::from(9)]);
}
