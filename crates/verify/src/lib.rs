//! poex-verify: everything that checks poex evidence, as pure functions. Inputs in, findings
//! out: a proof bundle's bytes and the keys a verifier trusts go in; named checks, each passed
//! or failed with its reason, and the typed statement they establish come out.
//!
//! | module | what it checks |
//! |---|---|
//! | [`bundle`] | a [`ProofBundle`]: the receipt's signature and statement, that the log entry is this receipt, the checkpoint's origin and signature, the inclusion proof; and that a later checkpoint extends the bundle's ([`bundle::verify_extends`], [`bundle::verify_extends_from_tiles`]) |
//! | [`checks`] | the same as a list of named [`Check`]s (what `poex verify` prints and a node's `/api/verify` answers), plus the job request inside a receipt, results held by a user against the receipt's subjects, and the [`checks::Summary`] of what the processor attests |
//! | [`entry`] | the log's typed entries ([`Entry`]: receipts, receipt digests, registry records, audit events), their exact encoding and decoding |
//!
//! The CLI, the node and the ledger use these; a later offline verify page can too.
//!
//! What this crate does **not** do: no file system, no network, no clock, no randomness, no
//! threads. Where evidence lives is the caller's: a later checkpoint and its tiles come in
//! through [`poex_log::tile::TileSource`], files a user holds come in as (name, digest) pairs
//! the caller hashed. Its dependencies are poex-core and poex-log (themselves without I/O),
//! serde, serde_json, base64, hex, sha2, time (parsing only) and thiserror, all of which build
//! for WebAssembly. No wasm32 target is installed on the machine this is built on, so that is
//! kept by the dependency list, not tested: poex-core draws its randomness through `getrandom`,
//! which on `wasm32-unknown-unknown` needs its `wasm_js` backend selected by the final binary.
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod bundle;
pub mod checks;
pub mod entry;

pub use bundle::{BundleError, ProofBundle, Verified};
pub use checks::{Check, Checks};
pub use entry::{Entry, EntryError, Kind};
pub use poex_log::LogIndex;
