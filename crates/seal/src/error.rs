//! Errors: one enum per operation, because sealing and opening fail in different ways and a
//! caller acts on different things (age does the same with `EncryptError`/`DecryptError`).

use std::io;

/// Why a file could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Reading the plaintext or writing the sealed file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// No stanza to put in the header: nobody could ever open the file.
    #[error("no recipients: a sealed file needs at least one stanza that wraps its file key")]
    NoRecipients,
    /// A stanza's tag or arguments cannot be written in the header.
    #[error("stanza {tag:?} cannot be written: {reason}")]
    InvalidStanza {
        /// The stanza's tag.
        tag: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// HPKE refused to wrap the file key for a recipient (e.g. a low-order public key).
    #[error("wrapping the file key with HPKE for {recipient}: {reason}")]
    Hpke {
        /// The recipient, in text form.
        recipient: String,
        /// HPKE's error.
        reason: String,
    },
}

/// Why a sealed file could not be opened. Every variant means: do not use any output written
/// so far (the decrypting functions only ever write authenticated chunks, but a truncated or
/// extended stream is only known to be so at its end).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Reading the sealed file or writing the plaintext failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not start with a poex-seal header line.
    #[error("not a sealed file: it does not start with \"{}\"", crate::FORMAT)]
    NotSealed,
    /// A poex-seal file of a version this build cannot read.
    #[error("sealed with {0:?}, which this version of poex cannot open (it reads {format})", format = crate::FORMAT)]
    UnsupportedVersion(String),
    /// The header is not well formed (line `line`, counting from 1).
    #[error("the header is malformed at line {line}: {reason}")]
    MalformedHeader {
        /// The header line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A stanza of a known kind is malformed (wrong argument count or size).
    #[error("stanza {tag:?} is malformed: {reason}")]
    MalformedStanza {
        /// The stanza's tag.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// None of the header's stanzas opens with the identities given.
    #[error(
        "no stanza opens with this identity: the file was sealed to other recipients ({stanzas} stanza(s): {tags})"
    )]
    NoMatchingStanza {
        /// How many stanzas the header has.
        stanzas: usize,
        /// Their tags, comma-separated.
        tags: String,
    },
    /// A stanza opened, but the header MAC does not verify under its file key: the header
    /// was altered (stanzas swapped, added, removed or edited).
    #[error(
        "the header MAC does not match: the header was altered (a stanza swapped, added, removed or edited)"
    )]
    HeaderMac,
    /// Chunk `index` (counting from 0) of the payload does not authenticate: the sealed file
    /// was altered or damaged there.
    #[error(
        "chunk {index} failed authentication: the sealed file was altered or damaged at payload bytes {start}..{end}"
    )]
    Chunk {
        /// The chunk's index, from 0.
        index: u64,
        /// Offset of the chunk in the payload (after the header and the payload nonce).
        start: u64,
        /// End of the chunk in the payload.
        end: u64,
    },
    /// The stream stops at a chunk boundary before the chunk marked last: the file was
    /// truncated.
    #[error(
        "the stream ends before its last chunk: the sealed file was truncated after {chunks} chunk(s)"
    )]
    Truncated {
        /// How many whole chunks authenticated.
        chunks: u64,
    },
    /// Bytes follow the chunk marked last: the file was extended.
    #[error("data follows the last chunk (chunk {index}): the sealed file was extended")]
    TrailingData {
        /// The index of the last chunk.
        index: u64,
    },
    /// The last chunk is empty although earlier chunks exist; poex-seal never writes that,
    /// so the file was not made by it (each plaintext has one encoding).
    #[error("chunk {index} is an empty last chunk after full chunks, which poex-seal never writes")]
    NonCanonical {
        /// The chunk's index.
        index: u64,
    },
}
