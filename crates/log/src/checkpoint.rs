//! C2SP checkpoints (`c2sp.org/tlog-checkpoint`): the signed statement of a log's size and root.
//!
//! A checkpoint is the text of a [signed note](crate::note):
//!
//! ```text
//! <origin>            a unique, non-empty name of the log, e.g. "example.com/log"
//! <tree size>         decimal, no leading zeros
//! <root hash>         standard base64 of the 32-byte RFC 9162 root
//! [extension lines]   optional, opaque, each non-empty
//! ```
//!
//! [`Checkpoint::parse`] reads the body, [`Checkpoint::sign`] and [`Checkpoint::open`] wrap it in
//! a signed note.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::hash::Hash;
use crate::note::{self, OpenError, OpenedNote, SignError, Signer, Verifier};

/// The origin line of a checkpoint: the log's unique name.
///
/// Non-empty, without ASCII control characters (so without newlines).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin(String);

impl Origin {
    /// The origin as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Origin {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(CheckpointError::Origin("empty"));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(CheckpointError::Origin("has a control character"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Origin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The number of leaves in a log tree.
///
/// Parsed from canonical decimal: ASCII digits, no sign, no leading zeros, at most `u64::MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeSize(pub u64);

impl TreeSize {
    /// The size as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for TreeSize {
    fn from(size: u64) -> Self {
        Self(size)
    }
}

impl From<TreeSize> for u64 {
    fn from(size: TreeSize) -> Self {
        size.0
    }
}

impl FromStr for TreeSize {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CheckpointError::Size("not a decimal number"));
        }
        if s.len() > 1 && s.starts_with('0') {
            return Err(CheckpointError::Size("has a leading zero"));
        }
        s.parse()
            .map(Self)
            .map_err(|_| CheckpointError::Size("larger than 2^64-1"))
    }
}

impl fmt::Display for TreeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A checkpoint body: origin, tree size, root hash and optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name.
    pub origin: Origin,
    /// Number of leaves in the tree.
    pub size: TreeSize,
    /// RFC 9162 root of the tree.
    pub root: Hash,
    /// Extension lines, without their newlines; each non-empty.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: Origin, size: TreeSize, root: Hash) -> Self {
        Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses a checkpoint body (the text of the note, ending in a newline).
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let lines = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::NotNewlineTerminated)?;
        let mut lines = lines.split('\n');
        let origin = lines
            .next()
            .ok_or(CheckpointError::MissingLine("origin"))?
            .parse()?;
        let size = lines
            .next()
            .ok_or(CheckpointError::MissingLine("tree size"))?
            .parse()?;
        let root = parse_root(
            lines
                .next()
                .ok_or(CheckpointError::MissingLine("root hash"))?,
        )?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 4 });
            }
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin,
            size,
            root,
            extensions,
        })
    }

    /// The body, ready to be signed: each line followed by a newline.
    pub fn to_body(&self) -> String {
        self.to_string()
    }

    /// Signs the body and returns the signed note.
    pub fn sign(&self, signers: &[&dyn Signer]) -> Result<String, SignError> {
        note::sign(&self.to_body(), signers)
    }

    /// Opens a signed checkpoint with the log's verifier key(s) and parses its body.
    ///
    /// The verifiers must be keys of this log: any one that verifies is enough.
    pub fn open(
        msg: &[u8],
        verifiers: &[&dyn Verifier],
    ) -> Result<(Self, OpenedNote), CheckpointOpenError> {
        let opened = note::open(msg, verifiers)?;
        let checkpoint = Self::parse(&opened.text)?;
        Ok((checkpoint, opened))
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", BASE64.encode(self.root.as_bytes()))?;
        for line in &self.extensions {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let raw = BASE64
        .decode(line)
        .map_err(|_| CheckpointError::Root("not standard base64"))?;
    Hash::try_from(raw.as_slice()).map_err(|_| CheckpointError::Root("not 32 bytes"))
}

/// A checkpoint body is malformed; the variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body does not end in a newline.
    #[error("checkpoint: body does not end in a newline")]
    NotNewlineTerminated,
    /// A mandatory line is missing.
    #[error("checkpoint: {0} line missing")]
    MissingLine(&'static str),
    /// The origin line is invalid.
    #[error("checkpoint: origin {0}")]
    Origin(&'static str),
    /// The tree size line is invalid.
    #[error("checkpoint: tree size {0}")]
    Size(&'static str),
    /// The root hash line is invalid.
    #[error("checkpoint: root hash {0}")]
    Root(&'static str),
    /// An extension line is empty.
    #[error("checkpoint: extension line {line} is empty")]
    EmptyExtension {
        /// 1-based line number in the body.
        line: usize,
    },
}

/// A signed checkpoint could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointOpenError {
    /// The note did not verify.
    #[error(transparent)]
    Note(#[from] OpenError),
    /// The note verified but its text is not a checkpoint.
    #[error(transparent)]
    Body(#[from] CheckpointError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_canonical_decimal() {
        assert_eq!("0".parse::<TreeSize>(), Ok(TreeSize(0)));
        assert_eq!(
            "18446744073709551615".parse::<TreeSize>(),
            Ok(TreeSize(u64::MAX))
        );
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "18446744073709551616",
            "0x10",
        ] {
            assert!(bad.parse::<TreeSize>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let cases = [
            (
                "o\n1\n".to_owned(),
                CheckpointError::MissingLine("root hash"),
            ),
            (format!("\n1\n{root}\n"), CheckpointError::Origin("empty")),
            (
                format!("o\n01\n{root}\n"),
                CheckpointError::Size("has a leading zero"),
            ),
            (
                "o\n1\nAAAA\n".to_owned(),
                CheckpointError::Root("not 32 bytes"),
            ),
            (
                format!("o\n1\n{root}"),
                CheckpointError::NotNewlineTerminated,
            ),
            (
                format!("o\n1\n{root}\n\n"),
                CheckpointError::EmptyExtension { line: 4 },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse(&body), Err(want), "{body:?}");
        }
        let with_ext = format!("o\n1\n{root}\nx y\n");
        assert_eq!(Checkpoint::parse(&with_ext).unwrap().to_body(), with_ext);
    }
}
