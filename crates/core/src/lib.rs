//! poex-core: the values every other poex crate speaks in. No I/O.
//!
//! - [`digest`]: `sha256:<hex>` / `blake3:<hex>` digests and in-toto digest sets.
//! - [`display`]: text from algorithms, requesters or nodes, with control and bidi characters
//!   escaped for printing.
//! - [`keys`]: Ed25519 keys in PKCS#8 / SubjectPublicKeyInfo PEM, key ids, the [`Signer`] trait.
//! - [`dsse`]: DSSE v1 envelopes and their pre-authentication encoding.
//! - [`statement`]: in-toto Statement v1 and SLSA Provenance v1 types with the reference
//!   validators' rules.
//! - [`request`]: job requests signed by the requester.
//! - [`receipt`]: the processor-signed receipt that ties them together.
//! - [`outcome`]: how a job ended and what it used, as its receipt records it (status,
//!   termination, usage, limits): the one serialization every reader uses.
//! - [`httpsig`]: HTTP Message Signatures (RFC 9421) and `Content-Digest` (RFC 9530) on plain
//!   strings, shared by the node and the CLI.
//!
//! What this crate does not do: read files, spawn processes, or ask the clock. Callers pass
//! bytes, keys (as a [`Signer`]) and timestamps in.
//!
//! ```
//! use poex_core::{dsse::Envelope, keys::SecretKey, Signer};
//!
//! let key = SecretKey::from_seed(&[42; 32]);
//! let envelope = Envelope::sign("text/plain", b"hello".to_vec(), &key);
//! assert_eq!(envelope.verify("text/plain", &key.public_key()).unwrap(), b"hello");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod asset;
pub mod audit;
pub mod digest;
pub mod display;
pub mod dsse;
pub mod httpsig;
pub mod keys;
pub mod outcome;
pub mod receipt;
pub mod request;
pub mod statement;

pub use digest::{Algorithm, Digest, DigestSet};
pub use keys::{KeyId, PublicKey, SecretKey, Signer};
