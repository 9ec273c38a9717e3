//! poex-por: proofs of retrievability against a file's BLAKE3 digest.
//!
//! A verifier that keeps only a file's `blake3:` digest (poex's registry records it for every
//! dataset and algorithm) and its size can ask whoever holds the file to prove it still has
//! it: it sends a [`Challenge`] (a fresh 32-byte nonce and a count `k`), from which both sides
//! derive the same `k` random chunk indices; the holder answers with a [`Response`] holding
//! those chunks' bytes and the chaining values (CVs) of the BLAKE3 tree beside their paths;
//! [`check`] hashes each chunk at its index and walks it up to the root. A holder that lost or
//! altered a fraction `f` of the chunks is caught with probability `1 - (1 - f)^k` or better
//! ([`detect`]); the design and the figures are in `docs/por.md`.
//!
//! | item | role |
//! |---|---|
//! | [`Challenge`], [`challenge`] | verifier: ask; JSON form `poex.por.challenge/v1` |
//! | [`respond`], [`respond_file`] | holder: answer from a [`ReadAt`] source and an [`Outboard`] |
//! | [`Response`] | the answer; compact binary form `poexPR01` |
//! | [`check`] | verifier: accept, or [`PorError::Chunks`] naming every chunk that failed |
//! | [`Outboard`] | holder: the tree's CVs at 16 KiB-group level and above (0.39 % of the file) |
//! | [`tree`] | the BLAKE3 tree's shape and node values, through `blake3::hazmat` |
//! | [`detect`] | detection probabilities |
//!
//! What this crate does **not** do: it does not fetch files or talk to holders (the CLI and
//! the node do), does not keep state between challenges (the verifier keeps root, size and the
//! nonce it sent), and does not make a file recoverable from a damaged copy: it *detects* loss
//! (no erasure coding). Only [`Outboard::load`], [`Outboard::save`],
//! [`Outboard::load_or_create`] and [`respond_file`] touch the filesystem; [`check`] is pure.
//!
//! # Example
//!
//! ```
//! use poex_core::Algorithm;
//! use poex_por::{Challenge, Outboard, Response, check, respond};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
//! // The verifier keeps the digest and the size, nothing else.
//! let root = Algorithm::Blake3.hash(&file);
//! let size = file.len() as u64;
//!
//! // Verifier: a challenge of 20 chunks with a fresh nonce.
//! let challenge = Challenge::new(root, size, 20)?;
//!
//! // Holder: an outboard (kept beside the file), then the answer.
//! let outboard = Outboard::create(&file[..])?;
//! let bytes = respond(&file[..], Some(&outboard), &challenge)?.to_bytes();
//!
//! // Verifier: accept it.
//! check(&root, size, &challenge, &Response::from_bytes(&bytes)?)?;
//!
//! // A holder that altered a byte of a challenged chunk is caught, and the chunk is named.
//! let mut damaged = file.clone();
//! let victim = challenge.indices()[0];
//! damaged[(victim * 1024) as usize] ^= 1;
//! let response = respond(&damaged[..], Some(&outboard), &challenge)?;
//! let err = check(&root, size, &challenge, &response).unwrap_err();
//! assert!(err.to_string().starts_with(&format!("chunk {victim} ")));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod detect;
mod error;
mod outboard;
mod proof;
mod source;
pub mod tree;

pub use error::{FailedChunk, PorError, RespondError};
pub use outboard::Outboard;
pub use proof::{
    Answer, CHALLENGE_TYPE, Challenge, MAX_K, Response, challenge, check, respond, respond_file,
};
pub use source::ReadAt;
