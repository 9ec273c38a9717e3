//! Errors: one enum for the verifier ([`PorError`]) and one for the holder ([`RespondError`]),
//! because what each can do about a failure differs.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A challenged chunk whose proof did not lead to the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedChunk {
    /// Its index (chunk `i` holds bytes `1024 i .. 1024 (i + 1)`).
    pub index: u64,
    /// Its first byte in the file.
    pub start: u64,
    /// One past its last byte.
    pub end: u64,
}

impl fmt::Display for FailedChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "chunk {} (bytes {}..{})",
            self.index, self.start, self.end
        )
    }
}

/// Why a challenge or response was not accepted by the verifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PorError {
    /// The root is not a `blake3:` digest.
    #[error("a proof of retrievability is checked against a blake3 digest, got {digest}")]
    NotBlake3 {
        /// What was given.
        digest: String,
    },
    /// A challenge asked for no chunks, or for more than [`crate::MAX_K`].
    #[error("k = {k}: ask for 1 to {max} chunks")]
    BadK {
        /// The k asked for.
        k: u32,
        /// The limit.
        max: u32,
    },
    /// The challenge names another file than the root and size being checked.
    #[error(
        "the challenge is about {challenge}, not {expected}: check a response against the root and size you challenged"
    )]
    ChallengeMismatch {
        /// `root, size` of the challenge.
        challenge: String,
        /// `root, size` given to check.
        expected: String,
    },
    /// The response answers another challenge (another nonce): a replay, or the wrong file.
    #[error(
        "the response answers the challenge with nonce {got}, not {expected}: it was made for another challenge (an old response replayed?)"
    )]
    WrongNonce {
        /// The challenge's nonce.
        expected: String,
        /// The nonce in the response.
        got: String,
    },
    /// The response claims to be about another file.
    #[error("the response is about {got}, the challenge about {expected}")]
    WrongFile {
        /// `root, size` of the challenge.
        expected: String,
        /// `root, size` the response names.
        got: String,
    },
    /// The bytes are not a response, or not one for this challenge's shape.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A malformed challenge.
    #[error("malformed challenge: {0}")]
    MalformedChallenge(String),
    /// Some challenged chunks do not lead to the root: the holder could not produce them (or
    /// a CV on their path). The evidence is the response itself.
    #[error("{}", describe_failed(.failed, *.challenged))]
    Chunks {
        /// Every chunk that failed, in index order.
        failed: Vec<FailedChunk>,
        /// How many chunks were challenged.
        challenged: usize,
    },
    /// No randomness for a nonce.
    #[error("no system randomness for the challenge's nonce: {0}")]
    Random(String),
}

fn describe_failed(failed: &[FailedChunk], challenged: usize) -> String {
    let first = failed.first().map_or_else(String::new, ToString::to_string);
    let more = match failed.len() {
        0 | 1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    format!(
        "{first}{more} did not hash to the root ({} of {challenged} challenged chunks failed): \
         the holder does not have these bytes as they were published",
        failed.len()
    )
}

/// Why a holder could not build a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RespondError {
    /// Reading the file or the outboard failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned (empty for an in-memory source).
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file has another size than the challenge names.
    #[error(
        "the file is {file} bytes, the challenge is about {challenge} bytes: this is not the challenged file (or it lost its tail)"
    )]
    SizeMismatch {
        /// The file's size.
        file: u64,
        /// The challenge's.
        challenge: u64,
    },
    /// The file (or the outboard given) hashes to another root than the challenge names.
    #[error("the file hashes to blake3:{actual}, the challenge is about blake3:{expected}")]
    NotThisFile {
        /// The challenge's root (hex).
        expected: String,
        /// What the file or outboard gives (hex).
        actual: String,
    },
    /// An outboard file is damaged or not an outboard.
    #[error("outboard: {0}; delete it, it is rebuilt from the file")]
    Outboard(String),
    /// The challenge itself is not acceptable.
    #[error(transparent)]
    Challenge(#[from] PorError),
}

impl RespondError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        RespondError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
