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
        sealed: None,
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

/// The requester key that signs job requests.
pub fn requester() -> SecretKey {
    SecretKey::from_seed(&[3; 32])
}

/// The digests (sha256 and blake3) of `bytes`.
pub fn digests(bytes: &[u8]) -> DigestSet {
    DigestSet::of([Algorithm::Sha256.hash(bytes), Algorithm::Blake3.hash(bytes)])
}

/// The facts of job `job`, as a processor records them: [`requester`] asked (a signed request)
/// for algorithm `stats` (bytes `print`) on dataset `cohort` (bytes `rows`); the job made
/// `results` (name, bytes) and the execution log `log`, and succeeded.
pub fn job_facts(job: &str, results: &[(&str, &[u8])], log: &[u8]) -> ReceiptFacts {
    use poex_core::Signer as _;
    use poex_core::receipt::{LOG_NAME, OUTCOME_MEDIA_TYPE, OUTCOME_NAME};
    use poex_core::request::{AssetRef, JobRequest, REQUEST_TYPE, Requester, SignedRequest};

    let (algorithm, dataset) = (digests(b"print"), digests(b"rows"));
    let requester = requester();
    let request = SignedRequest::sign(
        JobRequest {
            type_: REQUEST_TYPE.into(),
            requester: Requester {
                key_id: requester.public().key_id(),
                public_key: requester.public_key(),
            },
            algorithm: AssetRef {
                name: "stats".into(),
                digest: *algorithm.sha256().unwrap(),
            },
            datasets: vec![AssetRef {
                name: "cohort".into(),
                digest: *dataset.sha256().unwrap(),
            }],
            arguments: vec![],
            limits: Default::default(),
            requested_at: "2026-03-01T10:00:00.000000Z".into(),
            nonce: format!("{job:0>32}"),
            result_recipient: None,
        },
        &requester,
    )
    .unwrap();
    let mut ext = Map::new();
    ext.insert(
        "jobRequest".into(),
        serde_json::to_value(&request.envelope).unwrap(),
    );
    let dep = |name: &str, role: &str, d: &DigestSet| {
        let mut rd = ResourceDescriptor::new(name, d).annotate("role", role);
        rd.uri = Some(format!("poex:{role}/{name}"));
        rd
    };
    let mut log_rd = ResourceDescriptor::new(LOG_NAME, &digests(log));
    log_rd.media_type = Some("text/plain".into());
    let outcome = ResourceDescriptor {
        name: Some(OUTCOME_NAME.into()),
        media_type: Some(OUTCOME_MEDIA_TYPE.into()),
        annotations: match serde_json::json!({"status": "succeeded", "exitCode": 0}) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        ..Default::default()
    };
    ReceiptFacts {
        build_type: BUILD_TYPE_JOB,
        invocation_id: job.into(),
        external_parameters: ext,
        internal_parameters: Map::new(),
        resolved_dependencies: vec![
            dep("stats", "algorithm", &algorithm),
            dep("cohort", "dataset", &dataset),
        ],
        started_on: Some("2026-03-01T10:00:01.000000Z".into()),
        finished_on: "2026-03-01T10:00:02.000000Z".into(),
        results: results
            .iter()
            .map(|(name, bytes)| ResourceDescriptor::new(*name, &digests(bytes)))
            .collect(),
        byproducts: vec![log_rd, outcome],
        fallback_subject: ResourceDescriptor::new(
            "poex:job-request",
            &DigestSet::of([Algorithm::Sha256.hash(&request.envelope.payload)]),
        ),
    }
}
