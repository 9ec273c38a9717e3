//! poex-log: the pure half of the poex transparency log.
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod checkpoint;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tile;

pub use hash::{Hash, empty_root, leaf_hash, node_hash};
