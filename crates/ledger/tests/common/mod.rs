//! Receipts, records and events for the ledger tests, built with fixed keys and times.
#![allow(dead_code, reason = "each test file uses a different part")]
#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::sync::Arc;

use poex_core::dsse::Envelope;
use poex_core::receipt::{BUILD_TYPE_JOB, ReceiptFacts};
use poex_core::statement::ResourceDescriptor;
use poex_core::{Algorithm, DigestSet, SecretKey};
use poex_store::audit::{Event, Operation};
use poex_store::hash::Layout;
use poex_store::registry::{AssetKind, Name, Policy, Record};
use serde_json::{Map, Value};

/// The processor key that signs receipts.
pub fn processor() -> SecretKey {
    SecretKey::from_seed(&[1; 32])
}

/// A log key.
pub fn log_key(seed: u8) -> Arc<dyn poex_core::Signer> {
    Arc::new(SecretKey::from_seed(&[seed; 32]))
}

/// The sha256 digest text of `bytes`.
pub fn sha(bytes: &[u8]) -> String {
    Algorithm::Sha256.hash(bytes).to_string()
}

/// The facts of job `job` on dataset `dataset`, with `results` result files, finished at
/// second `second` of 2026-03-01T10:00.
pub fn facts(job: &str, dataset: &str, results: usize, second: u32) -> ReceiptFacts {
    let mut ext = Map::new();
    ext.insert("jobRequest".into(), Value::from("(request)"));
    let data = DigestSet::of([
        Algorithm::Sha256.hash(dataset.as_bytes()),
        Algorithm::Blake3.hash(dataset.as_bytes()),
    ]);
    let mut dep = ResourceDescriptor::new(dataset, &data).annotate("role", "dataset");
    dep.uri = Some(format!("poex:dataset/{dataset}"));
    ReceiptFacts {
        build_type: BUILD_TYPE_JOB,
        invocation_id: job.into(),
        external_parameters: ext,
        internal_parameters: Map::new(),
        resolved_dependencies: vec![dep],
        started_on: Some(format!(
            "2026-03-01T10:00:{:02}.000000Z",
            second.saturating_sub(1)
        )),
        finished_on: format!("2026-03-01T10:00:{second:02}.000000Z"),
        results: (0..results)
            .map(|i| {
                let name = format!("result-{i:05}.csv");
                ResourceDescriptor::new(
                    name.clone(),
                    &DigestSet::of([Algorithm::Sha256.hash(format!("{job}/{name}").as_bytes())]),
                )
            })
            .collect(),
        byproducts: vec![],
        fallback_subject: ResourceDescriptor::new(
            "poex:job-request",
            &DigestSet::of([Algorithm::Sha256.hash(job.as_bytes())]),
        ),
    }
}

/// A receipt signed by [`processor`].
pub fn receipt(job: &str, dataset: &str, second: u32) -> Envelope {
    facts(job, dataset, 2, second).sign(&processor()).unwrap()
}

/// A registry record of dataset `name`.
pub fn record(name: &str) -> Record {
    Record {
        kind: AssetKind::Dataset,
        name: Name::new(name).unwrap(),
        digests: DigestSet::of([
            Algorithm::Sha256.hash(name.as_bytes()),
            Algorithm::Blake3.hash(name.as_bytes()),
        ]),
        layout: Layout::File,
        size: 10,
        file_count: 1,
        published_at: "2026-03-01T09:00:00Z".into(),
        publisher: "alice".into(),
        entrypoint: None,
        policy: Some(Policy::default()),
    }
}

/// An event at second `second` (and `nanos`) of 2026-03-01T10:00.
pub fn event(
    op: Operation,
    actor: &str,
    object: &str,
    job: Option<&str>,
    second: u32,
    nanos: u32,
) -> Event {
    Event {
        time: format!("2026-03-01T10:00:{second:02}.{nanos:09}Z"),
        actor: actor.into(),
        operation: op,
        object: object.into(),
        digest: Some(Algorithm::Sha256.hash(object.as_bytes())),
        job: job.map(Into::into),
        detail: None,
    }
}
