//! The proof bundle: one JSON file that lets anyone check, offline, that a receipt was signed by
//! the processor and is in the poex log.
//!
//! ```json
//! {
//!   "mediaType": "application/vnd.poex.proof-bundle.v1+json",
//!   "receipt": { "payload": "…", "payloadType": "application/vnd.in-toto+json", "signatures": [ … ] },
//!   "logEntry": "<base64 of the exact entry bytes in the log>",
//!   "tlogProof": "c2sp.org/tlog-proof@v1\nindex 7\n<base64 hash>\n…\n\n<signed checkpoint>",
//!   "logKey": "poex.local/log/0123456789abcdef+1a2b3c4d+AT…"
//! }
//! ```
//!
//! `anchor` (a chain anchor of the checkpoint) is reserved for later and left out when absent.
//! `logKey` is informational: [`ProofBundle::verify`] takes the trusted log key from the caller.
//!
//! [`ProofBundle::verify`] checks, in order, and names the first failing check:
//!
//! 1. the receipt's DSSE signature under the trusted processor key, and that its statement is
//!    in-toto/SLSA valid ([`BundleError::ReceiptSignedByOtherKey`], [`BundleError::ReceiptSignature`],
//!    [`BundleError::ReceiptInvalid`]);
//! 2. `logEntry` is a `receipt` entry of exactly this receipt, or a `receipt-digest` entry whose
//!    SHA-256 and size are those of this receipt's compact JSON ([`BundleError::LogEntryMalformed`],
//!    [`BundleError::LogEntryNotReceipt`], [`BundleError::LogEntryMismatch`]);
//! 3. the tlog-proof's checkpoint is of the trusted log (origin = the log key's name) and signed by
//!    the trusted log key ([`BundleError::TlogProofMalformed`], [`BundleError::CheckpointOrigin`],
//!    [`BundleError::CheckpointSignature`]);
//! 4. the inclusion proof of `SHA-256(0x00 ‖ logEntry)` at the proof's index leads to that
//!    checkpoint's root ([`BundleError::Inclusion`]).
//!
//! [`verify_extends`] and [`verify_extends_from_tiles`] then check that a later checkpoint of the
//! log (fetched by the caller from a directory or URL) extends the bundle's: the log did not fork
//! or rewrite history after the bundle was made.
//!
//! [`check`] runs the same verification as a list of named checks, each passed or failed with
//! its reason (what `poex verify` prints and a node's verify page shows), and [`check_subjects`]
//! adds the files a user holds, by digest: see `checks` (which builds on this module, never the
//! other way round).

use std::fmt::Display;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use poex_core::PublicKey;
use poex_core::dsse::{DsseError, Envelope};
use poex_core::receipt::{self, ReceiptError, ReceiptStatement};
use poex_log::LogIndex;
use poex_log::checkpoint::{Checkpoint, CheckpointOpenError};
use poex_log::note::{self, Ed25519Verifier, Verifier as _};
use poex_log::proof::{self, ConsistencyError, InclusionError};
use poex_log::tile::{TileHashReader, TileSource};
use poex_log::tlog_proof::{TlogProof, TlogProofError};
use poex_log::{Hash, leaf_hash};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::entry::{Entry, EntryError, Kind};

/// The bundle's `mediaType`.
pub const MEDIA_TYPE: &str = "application/vnd.poex.proof-bundle.v1+json";

/// A receipt with the proof that it is in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProofBundle {
    /// Always [`MEDIA_TYPE`].
    pub media_type: String,
    /// The receipt: the processor-signed DSSE envelope.
    pub receipt: Envelope,
    /// The exact bytes of the receipt's log entry (base64 in JSON).
    #[serde(with = "b64")]
    pub log_entry: Vec<u8>,
    /// The c2sp.org/tlog-proof: index, inclusion proof, signed checkpoint.
    pub tlog_proof: String,
    /// The log's verifier key string (informational: a verifier pins its own copy).
    pub log_key: String,
    /// A chain anchor of the checkpoint, when there is one (reserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<serde_json::Value>,
}

/// What a verified bundle establishes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Verified {
    /// The receipt's statement, signed by the processor.
    pub statement: ReceiptStatement,
    /// Where the receipt's entry is in the log.
    pub index: LogIndex,
    /// The signed checkpoint whose tree includes it.
    pub checkpoint: Checkpoint,
    /// `receipt` or `receipt-digest`.
    pub entry_kind: Kind,
}

/// A bundle did not verify; the variant names the failing check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not a poex proof bundle of this version.
    #[error("mediaType is {found:?}, expected {MEDIA_TYPE:?}")]
    MediaType {
        /// What the bundle says.
        found: String,
    },
    /// Check 1: the receipt is signed, but not by the trusted processor key (the DSSE key id
    /// hints name another key).
    #[error(
        "receipt is signed by key {found:?}, not by the trusted processor key {expected}; \
         check which processor key you trust"
    )]
    ReceiptSignedByOtherKey {
        /// The trusted processor key's id.
        expected: String,
        /// The key ids the signatures name.
        found: Vec<String>,
    },
    /// Check 1: the signature of the trusted key does not verify: the receipt was altered.
    #[error("receipt signature does not verify: {0}")]
    ReceiptSignature(#[source] DsseError),
    /// Check 1: signed, but the statement is not a valid in-toto/SLSA receipt.
    #[error("receipt: {0}")]
    ReceiptInvalid(#[source] ReceiptError),
    /// Check 2: `logEntry` is not a poex log entry.
    #[error("logEntry: {0}")]
    LogEntryMalformed(#[source] EntryError),
    /// Check 2: `logEntry` is a log entry of another kind.
    #[error("logEntry is a {kind:?} entry, not a receipt")]
    LogEntryNotReceipt {
        /// Its kind key.
        kind: String,
    },
    /// Check 2: `logEntry` is a receipt entry of another receipt.
    #[error("logEntry is a {kind} entry of another receipt than the bundle's")]
    LogEntryMismatch {
        /// `receipt` or `receipt-digest`.
        kind: Kind,
    },
    /// Check 3: `tlogProof` does not parse.
    #[error("tlogProof: {0}")]
    TlogProofMalformed(#[source] TlogProofError),
    /// Check 3: the checkpoint is of another log.
    #[error("the proof's checkpoint is of log {found:?}, not of the trusted log {expected:?}")]
    CheckpointOrigin {
        /// The trusted log's origin (its key's name).
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// Check 3: the checkpoint is not signed by the trusted log key.
    #[error("the proof's checkpoint is not signed by the trusted log key: {0}")]
    CheckpointSignature(#[source] CheckpointOpenError),
    /// Check 4: the inclusion proof does not lead from the entry to the checkpoint's root.
    #[error("logEntry is not at index {index} of the checkpointed tree of size {size}: {source}")]
    Inclusion {
        /// The index the proof claims.
        index: u64,
        /// The checkpoint's size.
        size: u64,
        /// Why.
        #[source]
        source: InclusionError,
    },
}

impl ProofBundle {
    /// The bundle of `receipt`, whose exact entry bytes in the log are `log_entry`, proved by
    /// `proof` (index, inclusion proof, signed checkpoint) in the log whose verifier key string
    /// is `log_key`. A pure function of a committed entry: the log that committed it makes the
    /// proof; nothing is checked here ([`verify`](Self::verify) does that).
    pub fn new(
        receipt: Envelope,
        log_entry: Vec<u8>,
        proof: &TlogProof,
        log_key: String,
    ) -> ProofBundle {
        ProofBundle {
            media_type: MEDIA_TYPE.to_owned(),
            receipt,
            log_entry,
            tlog_proof: proof.encode(),
            log_key,
            anchor: None,
        }
    }

    /// The bundle as pretty JSON, ending in a newline.
    pub fn to_json(&self) -> String {
        // The bundle holds strings, byte strings (base64) and JSON values: serializing cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a bundle (any JSON layout).
    pub fn from_json(bytes: &[u8]) -> Result<ProofBundle, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Verifies the bundle offline against the trusted processor key and the trusted log key;
    /// see the [module docs](self) for the checks, in order.
    pub fn verify(
        &self,
        processor: &PublicKey,
        log: &Ed25519Verifier,
    ) -> Result<Verified, BundleError> {
        if self.media_type != MEDIA_TYPE {
            return Err(BundleError::MediaType {
                found: self.media_type.clone(),
            });
        }

        // 1. The processor signed this receipt.
        let statement = receipt::open(&self.receipt, processor).map_err(|e| match e {
            ReceiptError::Signature(DsseError::NoValidSignature { .. }) => {
                let expected = processor.key_id().to_string();
                let found: Vec<String> = self
                    .receipt
                    .signatures
                    .iter()
                    .map(|s| s.keyid.clone())
                    .collect();
                // The key ids are unauthenticated hints, used only to say which way it failed.
                if found.iter().all(|k| !k.is_empty() && *k != expected) {
                    BundleError::ReceiptSignedByOtherKey { expected, found }
                } else {
                    match e {
                        ReceiptError::Signature(d) => BundleError::ReceiptSignature(d),
                        other => BundleError::ReceiptInvalid(other),
                    }
                }
            }
            ReceiptError::Signature(d) => BundleError::ReceiptSignature(d),
            other => BundleError::ReceiptInvalid(other),
        })?;

        // 2. The logged entry is this receipt.
        let entry = Entry::decode(&self.log_entry).map_err(BundleError::LogEntryMalformed)?;
        let entry_kind = match &entry {
            Entry::Receipt(logged) if *logged == self.receipt => Kind::Receipt,
            Entry::ReceiptDigest(d) if d.matches(&self.receipt) => Kind::ReceiptDigest,
            Entry::Receipt(_) | Entry::ReceiptDigest(_) => {
                return Err(BundleError::LogEntryMismatch {
                    kind: entry.kind().unwrap_or(Kind::Receipt),
                });
            }
            other => {
                return Err(BundleError::LogEntryNotReceipt {
                    kind: other.kind_key(),
                });
            }
        };

        // 3. The checkpoint is the trusted log's, signed by its key.
        let proof = TlogProof::parse(&self.tlog_proof).map_err(BundleError::TlogProofMalformed)?;
        let checkpoint =
            open_checkpoint(proof.checkpoint.as_bytes(), log).map_err(|e| match e {
                CheckpointCheck::Origin { expected, found } => {
                    BundleError::CheckpointOrigin { expected, found }
                }
                CheckpointCheck::Signature(s) => BundleError::CheckpointSignature(s),
            })?;

        // 4. The entry is in the checkpointed tree.
        let size = checkpoint.size.get();
        proof::verify_inclusion(
            &leaf_hash(&self.log_entry),
            proof.index,
            size,
            &proof.hashes,
            &checkpoint.root,
        )
        .map_err(|source| BundleError::Inclusion {
            index: proof.index,
            size,
            source,
        })?;

        Ok(Verified {
            statement,
            index: LogIndex(proof.index),
            checkpoint,
            entry_kind,
        })
    }
}

enum CheckpointCheck {
    Origin { expected: String, found: String },
    Signature(CheckpointOpenError),
}

/// Opens a signed checkpoint of the trusted log: its origin must be the log key's name (checked
/// first, so a checkpoint of another log is named as such), then the signature must verify.
fn open_checkpoint(
    note_bytes: &[u8],
    log: &Ed25519Verifier,
) -> Result<Checkpoint, CheckpointCheck> {
    let unverified = note::Note::parse(note_bytes)
        .ok()
        .and_then(|n| Checkpoint::parse(&n.text).ok());
    if let Some(cp) = unverified
        && cp.origin.as_str() != log.name()
    {
        return Err(CheckpointCheck::Origin {
            expected: log.name().to_owned(),
            found: cp.origin.to_string(),
        });
    }
    Checkpoint::open(note_bytes, &[log])
        .map(|(cp, _)| cp)
        .map_err(CheckpointCheck::Signature)
}

/// A later checkpoint does not show that the log extends the bundle's checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtendError {
    /// The later checkpoint is of another log.
    #[error("the later checkpoint is of log {found:?}, not of the trusted log {expected:?}")]
    Origin {
        /// The trusted log's origin.
        expected: String,
        /// The later checkpoint's origin.
        found: String,
    },
    /// The later checkpoint is not signed by the trusted log key.
    #[error("the later checkpoint is not signed by the trusted log key: {0}")]
    Signature(#[source] CheckpointOpenError),
    /// The later checkpoint is smaller than the bundle's: it proves nothing about it (a stale
    /// copy of the log?).
    #[error(
        "the log's checkpoint (size {later}) is older than the bundle's (size {bundle}); fetch a newer one"
    )]
    Older {
        /// The bundle's checkpoint size.
        bundle: u64,
        /// The later checkpoint's size.
        later: u64,
    },
    /// The consistency proof fails: the log forked or rewrote history. The error keeps both
    /// checkpoints and the proof, the evidence to publish.
    #[error(
        "the log does not extend the bundle's checkpoint (size {} to size {}): {source}; \
         the log forked or rewrote its history",
        bundle.size, later.size
    )]
    NotAnExtension {
        /// The bundle's checkpoint.
        bundle: Box<Checkpoint>,
        /// The later checkpoint.
        later: Box<Checkpoint>,
        /// The consistency proof given.
        proof: Vec<Hash>,
        /// Why it fails.
        #[source]
        source: ConsistencyError,
    },
    /// The tiles needed for the consistency proof could not be read.
    #[error("reading the log's tiles for a consistency proof: {0}")]
    Tiles(String),
}

/// Checks that `later_note` (a signed checkpoint of the trusted log, e.g. its latest) extends
/// `bundle` (the checkpoint of a verified bundle), given the consistency proof between them.
/// Returns the later checkpoint.
pub fn verify_extends(
    bundle: &Checkpoint,
    later_note: &[u8],
    consistency: &[Hash],
    log: &Ed25519Verifier,
) -> Result<Checkpoint, ExtendError> {
    let later = open_later(later_note, log)?;
    check_extension(bundle, later, consistency)
}

/// Like [`verify_extends`], computing the consistency proof from the log's tiles (a tlog-tiles
/// directory, `poex_log_store::dir::DirTiles`, or any [`TileSource`], e.g. over HTTP).
/// The tiles need not be trusted: the proof they give is checked against both signed roots.
pub fn verify_extends_from_tiles<S>(
    bundle: &Checkpoint,
    later_note: &[u8],
    tiles: &S,
    log: &Ed25519Verifier,
) -> Result<Checkpoint, ExtendError>
where
    S: TileSource,
    S::Error: Display,
{
    let later = open_later(later_note, log)?;
    let (size1, size2) = (bundle.size.get(), later.size.get());
    if size2 < size1 {
        return Err(ExtendError::Older {
            bundle: size1,
            later: size2,
        });
    }
    let consistency = proof::consistency_proof(size1, size2, &TileHashReader::new(size2, tiles))
        .map_err(|e| ExtendError::Tiles(e.to_string()))?;
    check_extension(bundle, later, &consistency)
}

fn open_later(later_note: &[u8], log: &Ed25519Verifier) -> Result<Checkpoint, ExtendError> {
    open_checkpoint(later_note, log).map_err(|e| match e {
        CheckpointCheck::Origin { expected, found } => ExtendError::Origin { expected, found },
        CheckpointCheck::Signature(s) => ExtendError::Signature(s),
    })
}

fn check_extension(
    bundle: &Checkpoint,
    later: Checkpoint,
    consistency: &[Hash],
) -> Result<Checkpoint, ExtendError> {
    let (size1, size2) = (bundle.size.get(), later.size.get());
    if size2 < size1 {
        return Err(ExtendError::Older {
            bundle: size1,
            later: size2,
        });
    }
    match proof::verify_consistency(size1, size2, consistency, &bundle.root, &later.root) {
        Ok(()) => Ok(later),
        Err(source) => Err(ExtendError::NotAnExtension {
            bundle: Box::new(bundle.clone()),
            later: Box::new(later),
            proof: consistency.to_vec(),
            source,
        }),
    }
}

/// Base64 (standard, padded) for `logEntry`.
mod b64 {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(&text)
            .map_err(|_| serde::de::Error::custom("logEntry is not standard base64"))
    }
}
