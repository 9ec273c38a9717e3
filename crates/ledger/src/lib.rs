//! poex-ledger: the poex transparency log of typed entries — receipts, registry records, audit
//! events — with indexes for queries and offline proof bundles.
//!
//! [`poex_log`] is the log itself (RFC 9162 tree, C2SP checkpoints and tiles, a crash-safe
//! store); this crate decides *what* goes in it and how to find and prove it.
//!
//! # Map
//!
//! | module | what |
//! |---|---|
//! | [`entry`] | [`Entry`]: typed, versioned entries (`poex-entry/v1 <kind>\n` + compact JSON) and their index [`Keys`](entry::Keys) |
//! | [`index`] | the redb index (job, asset, time, kind → log indexes), derived from the log |
//! | [`ledger`](mod@ledger) | [`Ledger`]: the single writer of a log directory, read-only opens, queries, proofs |
//! | [`bundle`] | [`ProofBundle`]: receipt + log entry + tlog-proof in one JSON file, and its offline verification |
//! | [`checks`] | [`Checks`]: a bundle and the files a user holds checked step by step, each check named with its reason (what `poex verify` and a node's verify page show) |
//! | [`signer`] | [`LogSigner`]: a poex Ed25519 key as the log's checkpoint signer |
//!
//! # Layout of a ledger directory
//!
//! ```text
//! D/log/             tlog-tiles: checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]
//!                    (pure c2sp.org/tlog-tiles: serve it as static files; .tmp/ aside)
//! D/log-index.redb   the index: derived data, rebuilt from the log when missing or damaged
//! D/log-leaves.redb  poex-log's leaf-hash index (deduplication): derived data too
//! D/log.lock         flock held by the one process writing the log
//! ```
//!
//! The log's checkpoints are signed with a poex Ed25519 key ([`LogSigner`] adapts any
//! [`poex_core::Signer`]); the signed-note key name is the log's origin, by default
//! `poex.local/log/<first 16 hex digits of the key's id>`, and the verifier key string
//! ([`Ledger::verifier_key`], `<origin>+<hex8>+<base64(0x01 ‖ public key)>`) is what a verifier
//! pins to trust the log.
//!
//! # Entries
//!
//! ```text
//! poex-entry/v1 receipt\n{"payload":"eyJfdHlwZSI6…","payloadType":"application/vnd.in-toto+json","signatures":[…]}
//! ```
//!
//! Kinds: `receipt` (the DSSE envelope), `receipt-digest` (`{"sha256","size","job","finishedOn"}`
//! when the receipt entry would exceed 65535 bytes — e.g. a job with 10,000 result files; the
//! receipt stays in the job folder), `record` (a registry record), `event` (an audit event).
//! Unknown kinds or versions decode as [`Entry::Unknown`]. Identical entries are stored once: the
//! log deduplicates by leaf hash, so logging a receipt twice returns its first index.
//!
//! # Index
//!
//! Each entry is filed under its kind, its job id (a receipt's `invocationId`, an event's `job`),
//! the assets it concerns (`dataset/<name>`, `algorithm/<name>`, `sha256:<hex>`) and a time
//! (receipt `finishedOn`, record `published_at`, event `time`). The index is updated after each
//! append succeeds and caught up on open from the indexed size to the log's size, so a crash
//! between the log's commit and the index update only delays indexing. A missing, damaged or
//! foreign index (its recorded root differs from the log's) is rebuilt from the log, with a
//! [notice](Ledger::notices); the log never fails because of its index. [`Ledger::events`]
//! answers an audit [`Filter`](poex_store::audit::Filter) from the log.
//!
//! # Proof bundle and what each check proves
//!
//! [`ProofBundle::verify`] needs only the bundle, the processor's public key and the log's
//! verifier key (both trusted out of band, never taken from the bundle):
//!
//! 1. **Receipt signature** — the processor's key signed this in-toto statement: it attests
//!    what ran, on what, for whom, with which results (what a receipt alone proves).
//! 2. **Log entry = receipt** — the bytes the log committed to are this receipt (or its
//!    SHA-256), so the inclusion proof below is about this receipt and no other.
//! 3. **Checkpoint signed by the log key** — the log operator committed to a tree of this size
//!    and root; a log cannot later present a tree without this entry without its own signatures
//!    contradicting each other.
//! 4. **Inclusion** — `SHA-256(0x00 ‖ logEntry)` at the stated index hashes up to that root: the
//!    receipt was in the log when the checkpoint was signed, so it cannot be back-dated past it
//!    or silently removed.
//!
//! Checks 3–4 rest on the log key; the guarantee that the log shows everyone the same history
//! needs more than one party to look: [`bundle::verify_extends`] and
//! [`bundle::verify_extends_from_tiles`] check that a later checkpoint (from the log's directory
//! or URL) extends the bundle's. Witnesses and chain anchors (the bundle's reserved `anchor`
//! field) are the next layers. None of this proves the processor did not lie in its receipt.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use poex_core::SecretKey;
//! use poex_ledger::{Ledger, ProofBundle};
//! # use poex_core::receipt::{ReceiptFacts, BUILD_TYPE_EXEC};
//! # use poex_core::statement::ResourceDescriptor;
//! # use poex_core::{Algorithm, DigestSet};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let d = DigestSet::of([Algorithm::Sha256.hash(b"result")]);
//! # let mut ext = serde_json::Map::new();
//! # ext.insert("command".into(), serde_json::Value::from(vec!["true"]));
//! # let facts = ReceiptFacts {
//! #     build_type: BUILD_TYPE_EXEC, invocation_id: "job-1".into(),
//! #     external_parameters: ext, internal_parameters: Default::default(),
//! #     resolved_dependencies: vec![], started_on: None,
//! #     finished_on: "2026-01-01T00:00:00.000000Z".into(),
//! #     results: vec![ResourceDescriptor::new("out.txt", &d)], byproducts: vec![],
//! #     fallback_subject: ResourceDescriptor::new("request", &d),
//! # };
//! let processor = SecretKey::from_seed(&[1; 32]);
//! let receipt = facts.sign(&processor)?;          // what `poex run` produces
//!
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::create(dir.path(), Arc::new(SecretKey::from_seed(&[2; 32])), None)?;
//! let bundle = ledger.log_and_prove(&receipt)?;  // logs the receipt, proves it
//!
//! // Anyone, offline, with the two public keys they trust:
//! let verified = bundle.verify(&processor.public(), ledger.verifier())?;
//! assert_eq!(verified.index.get(), 0);
//! assert_eq!(ledger.by_job("job-1")?, vec![verified.index]);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod bundle;
pub use poex_verify::{checks, entry};
pub mod index;
pub mod ledger;
pub mod signer;

pub use bundle::{BundleError, ProofBundle, Verified};
pub use checks::{Check, Checks};
pub use entry::{Entry, EntryError, Kind};
pub use ledger::{Ledger, LedgerError, Logged};
pub use poex_log_store::LogIndex;
pub use signer::LogSigner;
