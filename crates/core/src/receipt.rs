//! The receipt: a DSSE envelope, signed by the processor, over an in-toto Statement v1
//! whose predicate is SLSA Provenance v1. `docs/receipt.md` explains every field.
//!
//! Where the proof-of-execution metadata (who asked, what ran on what, where, when, with what
//! result) sits in the SLSA fields:
//!
//! | metadata | receipt |
//! |---|---|
//! | owner / requester, request time | `buildDefinition.externalParameters.jobRequest` (the requester-signed envelope) |
//! | executable hashes | `resolvedDependencies[role=algorithm]` |
//! | dataset hashes | `resolvedDependencies[role=dataset]` |
//! | processor | `runDetails.builder.id` = `urn:poex:processor:<key id>` |
//! | start / end time | `runDetails.metadata.startedOn` / `finishedOn` |
//! | result hashes | `subject` |
//! | execution log | `byproducts[name=execution.log]` (digest) |
//! | exit status, resource usage, sandbox | `byproducts[name=outcome]`, `internalParameters.sandbox` |

use serde_json::{Map, Value};

use crate::dsse::{DsseError, Envelope};
use crate::keys::{PublicKey, Signer};
use crate::statement::{
    BuildDefinition, BuildMetadata, Builder, PAYLOAD_TYPE, PROVENANCE_TYPE, Provenance,
    ResourceDescriptor, RunDetails, Statement, StatementError,
};

/// `buildType` of a job run from the registry (`poex run`).
pub const BUILD_TYPE_JOB: &str = "urn:poex:build-type:job:v1";
/// `buildType` of an ad-hoc wrapped command (`poex exec`).
pub const BUILD_TYPE_EXEC: &str = "urn:poex:build-type:exec:v1";
/// Name of the execution-log byproduct.
pub const LOG_NAME: &str = "execution.log";
/// Name of the outcome byproduct (status, exit code, resource usage).
pub const OUTCOME_NAME: &str = "outcome";
/// Media type of the outcome byproduct.
pub const OUTCOME_MEDIA_TYPE: &str = "application/vnd.poex.outcome+json";

/// A receipt's statement type.
pub type ReceiptStatement = Statement<Provenance>;

/// Everything a processor attests about one job; [`ReceiptFacts::sign`] turns it into a
/// receipt.
#[derive(Clone, Debug)]
pub struct ReceiptFacts {
    /// [`BUILD_TYPE_JOB`] or [`BUILD_TYPE_EXEC`].
    pub build_type: &'static str,
    /// The job id.
    pub invocation_id: String,
    /// Requester-controlled inputs (for jobs: `{"jobRequest": <envelope>}`).
    pub external_parameters: Map<String, Value>,
    /// Processor-chosen inputs (the sandbox profile actually applied).
    pub internal_parameters: Map<String, Value>,
    /// Algorithm and datasets, each annotated with its `role`.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
    /// RFC 3339 start time (`None` when the job was refused before it started).
    pub started_on: Option<String>,
    /// RFC 3339 end time.
    pub finished_on: String,
    /// The result files.
    pub results: Vec<ResourceDescriptor>,
    /// Byproducts: the execution log and the outcome.
    pub byproducts: Vec<ResourceDescriptor>,
    /// Used as the subject when there is no result (a refused or failed job), so the
    /// statement stays valid in-toto: the receipt is then about the request itself.
    pub fallback_subject: ResourceDescriptor,
}

/// Why a receipt did not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Signature or payload type.
    #[error("receipt signature: {0}")]
    Signature(#[from] DsseError),
    /// The payload is not JSON of the expected shape (or could not be encoded as JSON).
    #[error("receipt payload is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The statement is not SLSA Provenance.
    #[error("receipt payload is malformed: predicateType is {0:?}, expected {PROVENANCE_TYPE:?}")]
    PredicateType(String),
    /// The statement or predicate breaks the in-toto/SLSA rules.
    #[error("receipt statement is invalid: {0}")]
    Invalid(#[from] StatementError),
}

impl ReceiptFacts {
    /// Builds the statement (without signing).
    pub fn statement(&self, processor: &PublicKey) -> ReceiptStatement {
        let subject = if self.results.is_empty() {
            vec![self.fallback_subject.clone()]
        } else {
            self.results.clone()
        };
        let predicate = Provenance {
            build_definition: BuildDefinition {
                build_type: self.build_type.to_owned(),
                external_parameters: self.external_parameters.clone(),
                internal_parameters: self.internal_parameters.clone(),
                resolved_dependencies: self.resolved_dependencies.clone(),
            },
            run_details: RunDetails {
                builder: Builder {
                    id: builder_id(processor),
                    version: [("poex".to_owned(), env!("CARGO_PKG_VERSION").to_owned())]
                        .into_iter()
                        .collect(),
                    builder_dependencies: Vec::new(),
                },
                metadata: BuildMetadata {
                    invocation_id: Some(self.invocation_id.clone()),
                    started_on: self.started_on.clone(),
                    finished_on: Some(self.finished_on.clone()),
                },
                byproducts: self.byproducts.clone(),
            },
        };
        Statement::new(subject, PROVENANCE_TYPE, predicate)
    }

    /// Builds the statement and signs it with the processor key.
    pub fn sign(&self, processor: &dyn Signer) -> Result<Envelope, ReceiptError> {
        let statement = self.statement(&processor.public_key());
        let payload = serde_json::to_vec(&statement)?;
        Ok(Envelope::sign(PAYLOAD_TYPE, payload, processor))
    }
}

/// `runDetails.builder.id` for a processor key.
pub fn builder_id(processor: &PublicKey) -> String {
    format!("urn:poex:processor:{}", processor.key_id())
}

/// Verifies a receipt's signature under the trusted processor key, then parses and validates
/// the statement and predicate.
pub fn open(envelope: &Envelope, processor: &PublicKey) -> Result<ReceiptStatement, ReceiptError> {
    let payload = envelope.verify(PAYLOAD_TYPE, processor)?;
    let statement: ReceiptStatement = serde_json::from_slice(payload)?;
    statement.validate()?;
    if statement.predicate_type != PROVENANCE_TYPE {
        return Err(ReceiptError::PredicateType(statement.predicate_type));
    }
    statement.predicate.validate()?;
    Ok(statement)
}

/// Formats a time as RFC 3339 UTC with microseconds: `2026-11-21T12:00:00.123456Z`.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use crate::{Algorithm, DigestSet};

    fn facts() -> ReceiptFacts {
        let d = DigestSet::of([Algorithm::Sha256.hash(b"r")]);
        let mut ext = Map::new();
        ext.insert("command".into(), Value::from(vec!["true"]));
        ReceiptFacts {
            build_type: BUILD_TYPE_EXEC,
            invocation_id: "job-1".into(),
            external_parameters: ext,
            internal_parameters: Map::new(),
            resolved_dependencies: vec![],
            started_on: Some("2026-11-21T12:00:00.000000Z".into()),
            finished_on: "2026-11-21T12:00:01.000000Z".into(),
            results: vec![ResourceDescriptor::new("out.txt", &d)],
            byproducts: vec![],
            fallback_subject: ResourceDescriptor::new("request", &d),
        }
    }

    #[test]
    fn signed_receipt_opens_and_validates() {
        let key = SecretKey::from_seed(&[3; 32]);
        let env = facts().sign(&key).unwrap();
        let st = open(&env, &key.public()).unwrap();
        assert_eq!(st.subject[0].name.as_deref(), Some("out.txt"));
        assert_eq!(
            st.predicate.run_details.builder.id,
            builder_id(&key.public())
        );
        let other = SecretKey::from_seed(&[4; 32]);
        assert!(matches!(
            open(&env, &other.public()),
            Err(ReceiptError::Signature(_))
        ));
    }

    #[test]
    fn no_results_uses_the_fallback_subject() {
        let key = SecretKey::from_seed(&[3; 32]);
        let mut f = facts();
        f.results.clear();
        let st = open(&f.sign(&key).unwrap(), &key.public()).unwrap();
        assert_eq!(st.subject[0].name.as_deref(), Some("request"));
    }

    #[test]
    fn rfc3339_format() {
        let t = time::macros::datetime!(2026-11-21 12:34:56.789 UTC);
        assert_eq!(rfc3339(t), "2026-11-21T12:34:56.789000Z");
    }
}
