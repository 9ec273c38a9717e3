//! poex-core: the values every other poex crate speaks in. No I/O.
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod digest;

pub use digest::{Algorithm, Digest, DigestSet};
