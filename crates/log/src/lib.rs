//! poex-log: the poex transparency log's formats and arithmetic, with no I/O.
//!
//! A transparency log is an append-only Merkle tree: a signed *checkpoint* commits to the tree's
//! size and root, an *inclusion proof* shows an entry is in it, a *consistency proof* shows a
//! later checkpoint extends an earlier one. This crate implements the formats and the arithmetic,
//! following the specs everyone else speaks so that other tools can check our log:
//!
//! | module | spec | what it gives |
//! |---|---|---|
//! | [`hash`] | RFC 9162 §2.1 | [`Hash`](struct@Hash), leaf and node hashing |
//! | [`proof`] | RFC 9162 §2.1.3-4, transparency-dev/merkle checks | proof generation over any [`proof::HashReader`] and verification; [`proof::MemoryTree`] |
//! | [`note`] | c2sp.org/signed-note | [`note::open`], [`note::sign`], Ed25519 [`note::Ed25519Signer`] / [`note::Ed25519Verifier`] and their key strings |
//! | [`checkpoint`] | c2sp.org/tlog-checkpoint | [`Checkpoint`], [`checkpoint::Origin`], [`checkpoint::TreeSize`] |
//! | [`tile`] | c2sp.org/tlog-tiles | tile and bundle paths and encodings, [`tile::integrate`], [`tile::TileHashReader`] |
//! | [`reader`] | c2sp.org/tlog-tiles | [`reader::LogReader`]: a published log's checkpoint, tiles and entries through any [`reader::LogFiles`] transport |
//!
//! How they fit: entries go through [`tile::integrate`], which returns the tiles and entry
//! bundles to persist and the new root; the log then signs a [`Checkpoint`] of the new size and
//! root into a note. Proofs are generated from the stored tiles through a
//! [`tile::TileHashReader`] and verified with [`proof::verify_inclusion`] and
//! [`proof::verify_consistency`] against a checkpoint opened with the log's verifier key.
//!
//! What this crate does **not** do: no file or network I/O, no clock, no randomness, no async;
//! its dependencies are hashing (`sha2`), signatures (`ed25519-dalek`), encodings (`base64`,
//! `hex`), `thiserror` and `zeroize`. Storage is the caller's: [`tile::integrate`] reads the few
//! tiles it needs through the [`tile::TileSource`] trait and hands back what to write. The log on
//! disk (the tile store and its durability contract, the group-commit sequencer, the leaf index,
//! recovery and the audit) is the `poex-log-store` crate, built on this one. Keys come in as seeds or key strings;
//! generating them is the caller's job. Tiles read from an untrusted source are not
//! authenticated here; proofs made from them are, when verified against a signed checkpoint.
//!
//! # Example
//!
//! ```
//! use poex_log::checkpoint::{Checkpoint, Origin, TreeSize};
//! use poex_log::note::Ed25519Signer;
//! use poex_log::proof::{inclusion_proof, verify_inclusion};
//! use poex_log::tile::{MemoryTiles, TileHashReader, integrate};
//! use poex_log::leaf_hash;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Append three entries to an empty log; persist what integrate returns.
//! let mut store = MemoryTiles::new();
//! let step = integrate(0, &store, None, &[b"one", b"two", b"six"])?;
//! store.apply(&step);
//!
//! // Sign a checkpoint of the new tree.
//! let signer = Ed25519Signer::from_seed("example.com/log", &[42; 32])?;
//! let origin: Origin = "example.com/log".parse()?;
//! let signed = Checkpoint::new(origin, TreeSize(step.size), step.root).sign(&[&signer])?;
//!
//! // A verifier opens the checkpoint with the log's public key and checks entry 1 is in it.
//! let verifier = signer.verifier();
//! let (checkpoint, _) = Checkpoint::open(signed.as_bytes(), &[&verifier])?;
//! let proof = inclusion_proof(1, checkpoint.size.get(), &TileHashReader::new(step.size, &store))?;
//! verify_inclusion(&leaf_hash(b"two"), 1, checkpoint.size.get(), &proof, &checkpoint.root)?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod checkpoint;
pub mod hash;
pub mod note;
pub mod proof;
pub mod reader;
pub mod tile;
pub mod tlog_proof;

/// The position of an entry in the log (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogIndex(pub u64);

impl LogIndex {
    /// The index as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for LogIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

pub use checkpoint::Checkpoint;
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
