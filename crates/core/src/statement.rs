//! in-toto Statement v1 and the SLSA Provenance v1 predicate, as plain serde types.
//!
//! Field names and rules follow in-toto/attestation `spec/v1` and `slsa.dev/provenance/v1`;
//! [`Statement::validate`] and [`Provenance::validate`] apply the checks of the reference Go
//! validators, so what poex writes is accepted by the ecosystem's tools.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::{Algorithm, DigestSet};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `predicateType` of SLSA Provenance v1.
pub const PROVENANCE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// An in-toto Statement v1 with a predicate of type `P`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement<P> {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The artifacts the statement is about (for poex: the results).
    pub subject: Vec<ResourceDescriptor>,
    /// URI naming the predicate's schema.
    pub predicate_type: String,
    /// The predicate itself.
    pub predicate: P,
}

/// An in-toto ResourceDescriptor. `digest` keeps every algorithm as text so that foreign
/// statements round-trip unchanged; [`ResourceDescriptor::digests`] parses the ones poex knows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A name for the artifact, e.g. a path relative to the output folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the artifact lives, if it has a URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm name -> lowercase hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// Media type of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Free-form, typed properties.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
}

impl ResourceDescriptor {
    /// A descriptor with a name and digests.
    pub fn new(name: impl Into<String>, digests: &DigestSet) -> Self {
        ResourceDescriptor {
            name: Some(name.into()),
            digest: digests
                .iter()
                .map(|d| (d.algorithm().name().to_owned(), d.hex()))
                .collect(),
            ..Default::default()
        }
    }

    /// Adds an annotation (builder style).
    pub fn annotate(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.annotations.insert(key.to_owned(), value.into());
        self
    }

    /// The digests poex can check; algorithms it does not know are skipped.
    pub fn digests(&self) -> Result<DigestSet, StatementError> {
        let mut set = DigestSet::new();
        for (alg, hex) in &self.digest {
            if let Ok(alg) = alg.parse::<Algorithm>() {
                set.insert(crate::Digest::from_hex(alg, hex).map_err(|_| {
                    StatementError::BadDigest {
                        algorithm: alg.name().to_owned(),
                        value: hex.clone(),
                    }
                })?);
            }
        }
        Ok(set)
    }
}

/// A statement or predicate broke a rule of the spec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementError {
    /// `_type` is not the in-toto Statement v1 URI.
    #[error("wrong statement type {0:?}; expected {STATEMENT_TYPE}")]
    WrongType(String),
    /// The statement has no subject.
    #[error("statement has no subject")]
    NoSubject,
    /// A subject carries no digest.
    #[error("subject #{0} has no digest")]
    SubjectWithoutDigest(usize),
    /// `predicateType` is empty.
    #[error("predicateType is empty")]
    NoPredicateType,
    /// A known algorithm's value is not lowercase hex of the right length.
    #[error("{algorithm} digest {value:?} is not 64 lowercase hex digits")]
    BadDigest {
        /// The algorithm.
        algorithm: String,
        /// The offending value.
        value: String,
    },
    /// A field the SLSA validator requires is missing or empty.
    #[error("{0} required")]
    Missing(&'static str),
}

impl<P> Statement<P> {
    /// A statement of `predicate_type` about `subject`.
    pub fn new(subject: Vec<ResourceDescriptor>, predicate_type: &str, predicate: P) -> Self {
        Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// The in-toto Go validator's rules: type, non-empty subjects with digests, a
    /// predicate type, well-formed digests of known algorithms.
    pub fn validate(&self) -> Result<(), StatementError> {
        if self.type_ != STATEMENT_TYPE {
            return Err(StatementError::WrongType(self.type_.clone()));
        }
        if self.subject.is_empty() {
            return Err(StatementError::NoSubject);
        }
        for (i, s) in self.subject.iter().enumerate() {
            if s.digest.is_empty() {
                return Err(StatementError::SubjectWithoutDigest(i));
            }
            s.digests()?;
        }
        if self.predicate_type.is_empty() {
            return Err(StatementError::NoPredicateType);
        }
        Ok(())
    }
}

/// The SLSA Provenance v1 predicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// What was run, with which inputs.
    pub build_definition: BuildDefinition,
    /// Who ran it, when, and what else it produced.
    pub run_details: RunDetails,
}

/// SLSA `buildDefinition`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// URI of the template that gives the other fields their meaning.
    #[serde(default)]
    pub build_type: String,
    /// Inputs under the requester's control (poex: the signed job request).
    #[serde(default)]
    pub external_parameters: Map<String, Value>,
    /// Inputs chosen by the processor (poex: the sandbox profile).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub internal_parameters: Map<String, Value>,
    /// Artifacts fetched during the run (poex: the algorithm and the datasets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// SLSA `runDetails`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// The platform that ran the job and signed this.
    pub builder: Builder,
    /// Invocation id and times.
    #[serde(default)]
    pub metadata: BuildMetadata,
    /// Other outputs (poex: the execution log, the outcome with resource usage).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// SLSA `builder`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// URI identifying the builder (poex: the processor's key id).
    #[serde(default)]
    pub id: String,
    /// Component versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    /// Software the builder ran on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// SLSA `metadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// Identifies this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// RFC 3339 time the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    /// RFC 3339 time the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

impl Provenance {
    /// The SLSA Go validator's required fields.
    pub fn validate(&self) -> Result<(), StatementError> {
        let bd = &self.build_definition;
        if bd.build_type.is_empty() && bd.external_parameters.is_empty() {
            return Err(StatementError::Missing("buildDefinition"));
        }
        if bd.build_type.is_empty() {
            return Err(StatementError::Missing("buildDefinition.buildType"));
        }
        if bd.external_parameters.is_empty() {
            return Err(StatementError::Missing(
                "buildDefinition.externalParameters",
            ));
        }
        if self.run_details.builder.id.is_empty() {
            return Err(StatementError::Missing("runDetails.builder.id"));
        }
        Ok(())
    }
}
