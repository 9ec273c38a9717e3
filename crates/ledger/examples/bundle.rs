//! Prints a proof bundle made on a temporary ledger with fixed keys and times, and its parts
//! decoded: the example in `docs/proof-bundle.md` is this program's output.
//!
//! ```sh
//! cargo run -p poex-ledger --example bundle            # everything
//! cargo run -p poex-ledger --example bundle -- json    # the bundle JSON only
//! ```
//!
//! Illustrative only: the receipt is built here, not by a sandboxed run; `poex run` returning
//! bundles is the CLI's integration.

use std::error::Error;
use std::sync::Arc;

use poex_core::dsse::Envelope;
use poex_core::receipt::{BUILD_TYPE_JOB, OUTCOME_MEDIA_TYPE, OUTCOME_NAME, ReceiptFacts};
use poex_core::request::{AssetRef, JobRequest, REQUEST_TYPE, Requester, SignedRequest};
use poex_core::statement::ResourceDescriptor;
use poex_core::{Algorithm, DigestSet, SecretKey, Signer as _};
use poex_ledger::Ledger;
use poex_log::leaf_hash;
use poex_log::tlog_proof::TlogProof;
use poex_store::audit::{Event, Operation};
use poex_store::hash::Layout;
use poex_store::registry::{AssetKind, Name, Policy, Record};
use serde_json::{Map, Value, json};

fn main() -> Result<(), Box<dyn Error>> {
    let json_only = std::env::args().nth(1).as_deref() == Some("json");
    let processor = SecretKey::from_seed(&[1; 32]);
    let log_key = SecretKey::from_seed(&[2; 32]);
    let requester = SecretKey::from_seed(&[3; 32]);

    let dataset = DigestSet::of([
        Algorithm::Sha256.hash(b"age,weight\n41,70\n"),
        Algorithm::Blake3.hash(b"age,weight\n41,70\n"),
    ]);
    let algorithm = DigestSet::of([
        Algorithm::Sha256.hash(b"print('stats')\n"),
        Algorithm::Blake3.hash(b"print('stats')\n"),
    ]);
    let record = |kind, name: &str, digests: &DigestSet| Record {
        kind,
        name: Name::new(name).expect("a valid name"),
        digests: digests.clone(),
        layout: Layout::File,
        size: 17,
        file_count: 1,
        published_at: "2026-03-01T09:00:00.000000Z".into(),
        publisher: requester.public().key_id().to_string(),
        entrypoint: None,
        policy: (kind == AssetKind::Dataset).then(|| Policy {
            allowed_algorithms: vec![*algorithm.sha256().expect("sha256")],
            allowed_requesters: vec![],
        }),
        sealed: None,
    };
    let receipt = job_receipt(&processor, &requester, &dataset, &algorithm)?;

    let dir = tempfile::tempdir()?;
    let ledger = Ledger::create(dir.path(), Arc::new(log_key), None)?;
    ledger.log_record(&record(AssetKind::Dataset, "demo-cohort", &dataset))?;
    ledger.log_record(&record(AssetKind::Algorithm, "demo-stats", &algorithm))?;
    let event = |op, object: &str, second: u32| Event {
        time: format!("2026-03-01T10:00:{second:02}.000000Z"),
        actor: processor.public().key_id().to_string(),
        operation: op,
        object: object.into(),
        digest: None,
        job: Some("c9bc944af93cf8fe2c978fc1bfc432d0".into()),
        detail: None,
    };
    let publish = |object: &str, digests: &DigestSet| Event {
        time: "2026-03-01T09:00:00.000000Z".into(),
        actor: requester.public().key_id().to_string(),
        operation: Operation::Publish,
        object: object.into(),
        digest: digests.sha256().copied(),
        job: None,
        detail: None,
    };
    ledger.log_events(&[
        publish("demo-cohort", &dataset),
        publish("demo-stats", &algorithm),
    ])?;
    ledger.log_events(&[
        event(Operation::RunStarted, "demo-stats", 1),
        event(Operation::ReadAlgorithm, "demo-stats", 1),
        event(Operation::ReadDataset, "demo-cohort", 1),
    ])?;
    let bundle = ledger.log_and_prove(&receipt)?;
    ledger.log_events(&[event(Operation::RunFinished, "demo-stats", 2)])?;

    let verified = bundle.verify(&processor.public(), ledger.verifier())?;
    if json_only {
        print!("{}", bundle.to_json());
        return Ok(());
    }
    println!("== proof-bundle.json ==\n{}", bundle.to_json());
    println!(
        "== logEntry, decoded ({} bytes) ==\n{}\n",
        bundle.log_entry.len(),
        String::from_utf8_lossy(&bundle.log_entry)
    );
    println!("== tlogProof ==\n{}", bundle.tlog_proof);
    let proof = TlogProof::parse(&bundle.tlog_proof)?;
    println!(
        "== leaf hash SHA-256(0x00 || logEntry) ==\n{}\n",
        leaf_hash(&bundle.log_entry).to_hex()
    );
    println!(
        "== keys ==\nprocessor public key (SPKI PEM):\n{}log verifier key: {}\n",
        processor.public().to_spki_pem(),
        ledger.verifier_key()
    );
    println!(
        "== verified ==\nreceipt of job {} at index {} of the tree of size {} (proof of {} hashes); the log has grown to {} since\n",
        verified
            .statement
            .predicate
            .run_details
            .metadata
            .invocation_id
            .unwrap_or_default(),
        verified.index,
        verified.checkpoint.size,
        proof.hashes.len(),
        ledger.size()
    );
    println!("== entries of the log ==");
    for i in 0..ledger.size() {
        let logged = ledger.entry(poex_ledger::LogIndex(i))?;
        let keys = logged.entry.keys();
        println!(
            "{i}  {:<7} job={:<34} assets={}",
            keys.kind,
            keys.job.unwrap_or_else(|| "-".into()),
            keys.assets.join(" ")
        );
    }
    Ok(())
}

/// A receipt of a job that ran `demo-stats` on `demo-cohort`, with fixed times and ids.
fn job_receipt(
    processor: &SecretKey,
    requester: &SecretKey,
    dataset: &DigestSet,
    algorithm: &DigestSet,
) -> Result<Envelope, Box<dyn Error>> {
    let sha = |d: &DigestSet| *d.sha256().expect("sha256");
    let request = SignedRequest::sign(
        JobRequest {
            type_: REQUEST_TYPE.into(),
            requester: Requester {
                key_id: requester.public().key_id(),
                public_key: requester.public_key(),
            },
            algorithm: AssetRef {
                name: "demo-stats".into(),
                digest: sha(algorithm),
            },
            datasets: vec![AssetRef {
                name: "demo-cohort".into(),
                digest: sha(dataset),
            }],
            arguments: vec![],
            limits: Default::default(),
            requested_at: "2026-03-01T10:00:00.000000Z".into(),
            nonce: "dde5ab1670086e5440a1f0c7fc3ef291".into(),
            result_recipient: None,
        },
        requester,
    )?;
    let mut ext = Map::new();
    ext.insert(
        "jobRequest".into(),
        serde_json::to_value(&request.envelope)?,
    );
    let dep = |name: &str, kind: &str, digests: &DigestSet| {
        let mut rd = ResourceDescriptor::new(name, digests).annotate("role", kind);
        rd.uri = Some(format!("poex:{kind}/{name}"));
        rd
    };
    let result = DigestSet::of([
        Algorithm::Sha256.hash(b"{\"n\": 1}\n"),
        Algorithm::Blake3.hash(b"{\"n\": 1}\n"),
    ]);
    let outcome = ResourceDescriptor {
        name: Some(OUTCOME_NAME.into()),
        media_type: Some(OUTCOME_MEDIA_TYPE.into()),
        annotations: match json!({"status": "succeeded", "exitCode": 0}) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        ..Default::default()
    };
    let facts = ReceiptFacts {
        build_type: BUILD_TYPE_JOB,
        invocation_id: "c9bc944af93cf8fe2c978fc1bfc432d0".into(),
        external_parameters: ext,
        internal_parameters: Map::new(),
        resolved_dependencies: vec![
            dep("demo-stats", "algorithm", algorithm),
            dep("demo-cohort", "dataset", dataset),
        ],
        started_on: Some("2026-03-01T10:00:01.000000Z".into()),
        finished_on: "2026-03-01T10:00:02.000000Z".into(),
        results: vec![ResourceDescriptor::new("summary.json", &result)],
        byproducts: vec![outcome],
        fallback_subject: ResourceDescriptor::new("poex:job-request", &result),
    };
    Ok(facts.sign(processor)?)
}
