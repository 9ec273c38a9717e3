//! c2sp.org/tlog-proof: an offline-verifiable proof that an entry is in a log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>            (optional, unauthenticated)
//! index <decimal>
//! <base64 hash>             (zero or more: the RFC 6962 inclusion proof, leaf's sibling first)
//! <empty line>
//! <signed checkpoint note, verbatim>
//! ```
//!
//! [`TlogProof::parse`] checks the syntax and names the line at fault; [`TlogProof::verify`]
//! opens the checkpoint with the log's key(s) and checks the inclusion proof of a leaf hash
//! against it. The `extra` data is carried, never trusted.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::{Checkpoint, CheckpointOpenError};
use crate::hash::Hash;
use crate::note::Verifier;
use crate::proof::{InclusionError, verify_inclusion};

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The file extension proofs should be stored with (without the dot).
pub const EXTENSION: &str = "tlog-proof";

/// A parsed tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque application data; not authenticated.
    pub extra: Option<Vec<u8>>,
    /// The entry's 0-based index.
    pub index: u64,
    /// The inclusion proof, leaf's sibling first.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim (ends in a newline).
    pub checkpoint: String,
}

/// A tlog-proof is malformed; the variant names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    /// The first line is not [`HEADER`].
    #[error("tlog-proof: first line must be {HEADER:?}")]
    Header,
    /// The `extra` line does not hold standard base64.
    #[error("tlog-proof line 2: extra data is not standard base64")]
    Extra,
    /// The `index` line is missing or not a canonical decimal.
    #[error("tlog-proof line {line}: expected \"index N\" with N a decimal without leading zeros")]
    Index {
        /// 1-based line number.
        line: usize,
    },
    /// A proof line is not the base64 of 32 bytes.
    #[error("tlog-proof line {line}: proof hash is not the base64 of 32 bytes")]
    Hash {
        /// 1-based line number.
        line: usize,
    },
    /// The empty line before the checkpoint, or the checkpoint, is missing.
    #[error(
        "tlog-proof: no checkpoint (an empty line and the signed checkpoint must follow the proof hashes)"
    )]
    NoCheckpoint,
}

/// A tlog-proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogVerifyError {
    /// The checkpoint did not open with the given keys, or is not a checkpoint.
    #[error("tlog-proof checkpoint: {0}")]
    Checkpoint(#[from] CheckpointOpenError),
    /// The checkpoint is from another log.
    #[error("tlog-proof checkpoint is for log {found:?}, expected {expected:?}")]
    Origin {
        /// The origin asked for.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// The inclusion proof does not lead to the checkpoint root.
    #[error("tlog-proof inclusion: {0}")]
    Inclusion(#[from] InclusionError),
}

impl TlogProof {
    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, TlogProofError> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(TlogProofError::NoCheckpoint)?;
        if checkpoint.is_empty() {
            return Err(TlogProofError::NoCheckpoint);
        }
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        if lines.next().map(|(_, l)| l) != Some(HEADER) {
            return Err(TlogProofError::Header);
        }
        let (mut n, mut line) = lines.next().ok_or(TlogProofError::Index { line: 2 })?;
        let mut extra = None;
        if let Some(data) = line.strip_prefix("extra ") {
            extra = Some(BASE64.decode(data).map_err(|_| TlogProofError::Extra)?);
            (n, line) = lines.next().ok_or(TlogProofError::Index { line: 3 })?;
        }
        let index = line
            .strip_prefix("index ")
            .filter(|d| {
                !d.is_empty()
                    && d.bytes().all(|b| b.is_ascii_digit())
                    && (*d == "0" || !d.starts_with('0'))
            })
            .and_then(|d| d.parse().ok())
            .ok_or(TlogProofError::Index { line: n })?;
        let hashes = lines
            .map(|(line, l)| {
                BASE64
                    .decode(l)
                    .ok()
                    .and_then(|raw| Hash::try_from(raw.as_slice()).ok())
                    .ok_or(TlogProofError::Hash { line })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// The text form (what [`parse`](Self::parse) reads back).
    pub fn encode(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            let _ = writeln!(out, "extra {}", BASE64.encode(extra));
        }
        let _ = writeln!(out, "index {}", self.index);
        for h in &self.hashes {
            let _ = writeln!(out, "{}", BASE64.encode(h.as_bytes()));
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Opens the checkpoint with the log's key(s), checks its origin (when given) and that
    /// `leaf` is at [`index`](Self::index) in the checkpointed tree. Returns the checkpoint.
    pub fn verify(
        &self,
        leaf: &Hash,
        origin: Option<&str>,
        verifiers: &[&dyn Verifier],
    ) -> Result<Checkpoint, TlogVerifyError> {
        let (cp, _) = Checkpoint::open(self.checkpoint.as_bytes(), verifiers)?;
        if let Some(expected) = origin
            && cp.origin.as_str() != expected
        {
            return Err(TlogVerifyError::Origin {
                expected: expected.to_owned(),
                found: cp.origin.to_string(),
            });
        }
        verify_inclusion(leaf, self.index, cp.size.get(), &self.hashes, &cp.root)?;
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Origin, TreeSize};
    use crate::leaf_hash;
    use crate::note::Ed25519Signer;
    use crate::proof::{MemoryTree, inclusion_proof};

    fn sample(extra: Option<Vec<u8>>) -> (TlogProof, Ed25519Signer) {
        let signer = Ed25519Signer::from_seed("example.com/log", &[7; 32]).unwrap();
        let leaves: Vec<Vec<u8>> = (0..11).map(|i| format!("entry {i}").into_bytes()).collect();
        let mut tree = MemoryTree::new();
        for l in &leaves {
            tree.push(leaf_hash(l));
        }
        let origin: Origin = "example.com/log".parse().unwrap();
        let note = Checkpoint::new(origin, TreeSize(11), tree.root())
            .sign(&[&signer])
            .unwrap();
        let proof = TlogProof {
            extra,
            index: 6,
            hashes: inclusion_proof(6, 11, &tree).unwrap(),
            checkpoint: note,
        };
        (proof, signer)
    }

    #[test]
    fn round_trip_and_verify() {
        for extra in [None, Some(b"job 42".to_vec())] {
            let (proof, signer) = sample(extra);
            let text = proof.encode();
            assert!(text.starts_with("c2sp.org/tlog-proof@v1\n"));
            let back = TlogProof::parse(&text).unwrap();
            assert_eq!(back, proof);
            let v = signer.verifier();
            let cp = back
                .verify(&leaf_hash(b"entry 6"), Some("example.com/log"), &[&v])
                .unwrap();
            assert_eq!(cp.size.get(), 11);
            assert!(matches!(
                back.verify(&leaf_hash(b"entry 5"), None, &[&v]),
                Err(TlogVerifyError::Inclusion(_))
            ));
            assert!(matches!(
                back.verify(&leaf_hash(b"entry 6"), Some("other.example/log"), &[&v]),
                Err(TlogVerifyError::Origin { .. })
            ));
        }
    }

    #[test]
    fn wrong_key_fails() {
        let (proof, _) = sample(None);
        let other = Ed25519Signer::from_seed("example.com/log", &[8; 32])
            .unwrap()
            .verifier();
        assert!(matches!(
            proof.verify(&leaf_hash(b"entry 6"), None, &[&other]),
            Err(TlogVerifyError::Checkpoint(_))
        ));
    }

    #[test]
    fn malformed_names_the_line() {
        let (proof, _) = sample(None);
        let text = proof.encode();
        let cases = [
            (
                text.replacen("tlog-proof@v1", "tlog-proof@v2", 1),
                TlogProofError::Header,
            ),
            (
                text.replacen("index 6", "index 06", 1),
                TlogProofError::Index { line: 2 },
            ),
            (
                text.replacen("index 6", "idx 6", 1),
                TlogProofError::Index { line: 2 },
            ),
            (
                text.replacen("index 6\n", "extra !!\nindex 6\n", 1),
                TlogProofError::Extra,
            ),
            (
                text.replacen("index 6\n", "index 6\nAAAA\n", 1),
                TlogProofError::Hash { line: 3 },
            ),
            (
                text.replacen("\n\n", "\n", 1),
                TlogProofError::Hash { line: 7 },
            ),
            (
                text[..text.find("\n\n").unwrap() + 1].to_owned(),
                TlogProofError::NoCheckpoint,
            ),
            (
                text[..text.find("\n\n").unwrap() + 2].to_owned(),
                TlogProofError::NoCheckpoint,
            ),
        ];
        for (bad, want) in cases {
            assert_eq!(TlogProof::parse(&bad), Err(want), "{bad}");
        }
    }
}
