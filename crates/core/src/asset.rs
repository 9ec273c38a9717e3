//! Published assets as the registry and the log hold them: a [`Record`] names a dataset or
//! an algorithm, pins its content by digest and carries a dataset's [`Policy`].
//!
//! These are values only. Where records are kept (one write-once file per name) and how a
//! path is hashed into a [`Layout`] and digests are poex-store's; the transparency log carries
//! records as entries unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Digest, DigestSet};

/// Whether a hashed path was a single file or a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// A single regular file: its digest is the digest of its bytes.
    File,
    /// A directory: its digest is the digest of its manifest (its manifest's digest, as poex-store's `hash` module computes it).
    Directory,
}

/// What a record describes. Exhaustive on purpose: a new kind must be handled by the
/// registry's validation and the pipeline, which match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    /// Data an algorithm runs on; carries a [`Policy`].
    Dataset,
    /// A program; carries an entrypoint.
    Algorithm,
}

impl AssetKind {
    /// "dataset" or "algorithm".
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::Dataset => "dataset",
            AssetKind::Algorithm => "algorithm",
        }
    }

    /// The plural, as in folder names and messages (`datasets`, `algorithms`).
    pub fn plural(self) -> &'static str {
        match self {
            AssetKind::Dataset => "datasets",
            AssetKind::Algorithm => "algorithms",
        }
    }
}

impl fmt::Display for AssetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Longest accepted [`Name`], in bytes (all characters are ASCII).
pub const MAX_NAME_LEN: usize = 128;

/// A registry name: 1 to 128 characters from `[A-Za-z0-9._-]`, not starting with `.` or `-`.
///
/// That alphabet has no `/` and no leading `.`, so a name is always a single, non-hidden
/// path component (no traversal, no clash with temporary files), and never looks like a
/// command-line option.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The empty string.
    #[error("a name cannot be empty; use 1-128 characters from A-Z a-z 0-9 . _ -")]
    Empty,
    /// More than [`MAX_NAME_LEN`] characters.
    #[error("name is {len} characters long; the limit is 128")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `[A-Za-z0-9._-]`.
    #[error(
        "name {name:?} has {character:?} at position {position}; \
         names use only A-Z a-z 0-9 . _ -"
    )]
    BadCharacter {
        /// The name given.
        name: String,
        /// The first bad character.
        character: char,
        /// Its position (in characters, from 0).
        position: usize,
    },
    /// Starts with `.` or `-`.
    #[error("name {name:?} starts with {character:?}; names start with a letter, digit or _")]
    BadStart {
        /// The name given.
        name: String,
        /// `.` or `-`.
        character: char,
    },
}

impl Name {
    /// Parses a name.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        for (position, character) in name.chars().enumerate() {
            if !(character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')) {
                return Err(NameError::BadCharacter {
                    name,
                    character,
                    position,
                });
            }
        }
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: name.len() });
        }
        if let Some(character @ ('.' | '-')) = name.chars().next() {
            return Err(NameError::BadStart { name, character });
        }
        Ok(Name(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::new(s)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Name::new(s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who may use a dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// SHA-256 digests of the algorithms allowed to run on the dataset. Empty: none is.
    pub allowed_algorithms: Vec<Digest>,
    /// Key ids allowed to request jobs on the dataset, besides the publisher (who always is).
    pub allowed_requesters: Vec<String>,
}

/// One published asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Dataset or algorithm.
    pub kind: AssetKind,
    /// The registry name, unique per kind.
    pub name: Name,
    /// SHA-256 and BLAKE3 of the content (file digest or directory digest); both required.
    pub digests: DigestSet,
    /// File or directory.
    pub layout: Layout,
    /// Total bytes.
    pub size: u64,
    /// Number of regular files (1 for a file).
    pub file_count: u64,
    /// When it was published, RFC 3339 UTC.
    pub published_at: String,
    /// Key id of the publisher, as supplied by the caller.
    pub publisher: String,
    /// For algorithms: the argv to run, relative to the algorithm's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// For datasets: who may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// For datasets kept encrypted at rest: the sealed object the store holds instead of the
    /// plaintext ([`SealedAt`]). Absent for every other record, so records published before
    /// this field existed, and their log entries, keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedAt>,
}

/// The envelope format of every sealed dataset: poex-seal's version line.
pub const SEALED_FORMAT: &str = "poex-seal/v1";

/// How the store keeps a dataset encrypted at rest (docs/seal.md, "Datasets at rest").
///
/// The record's own `digests`, `size` and `layout` still describe the *plaintext*: requests
/// pin them and receipts name them. This says where the sealed bytes are and how to open
/// them: `digests` are the sealed object's (its BLAKE3 digest is its address in the store),
/// `recipient` is the owner's X25519 key the object's file key is wrapped to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SealedAt {
    /// The envelope format, [`SEALED_FORMAT`].
    pub format: String,
    /// What the envelope holds: [`SealedAt::PAYLOAD_FILE`] (the file's bytes) or
    /// [`SealedAt::PAYLOAD_TAR`] (a folder as a tar stream).
    pub payload: String,
    /// SHA-256 and BLAKE3 of the sealed object; the BLAKE3 digest names it in the store.
    pub digests: DigestSet,
    /// Bytes of the sealed object.
    pub size: u64,
    /// The recipient (`poex-x25519:<base64>`, a public key) the object is sealed to.
    pub recipient: String,
}

impl SealedAt {
    /// The payload of a sealed file: its bytes.
    pub const PAYLOAD_FILE: &str = "file";
    /// The payload of a sealed folder: a tar stream of its folders and regular files.
    pub const PAYLOAD_TAR: &str = "tar";

    /// A [`SEALED_FORMAT`] object holding `payload`, with the sealed object's `digests` and
    /// `size`, sealed to `recipient`.
    pub fn new(payload: &str, digests: DigestSet, size: u64, recipient: String) -> Self {
        SealedAt {
            format: SEALED_FORMAT.to_owned(),
            payload: payload.to_owned(),
            digests,
            size,
            recipient,
        }
    }
}

impl Record {
    /// The BLAKE3 digest that names this record's object in the store: the sealed object's
    /// for a dataset kept encrypted at rest, else the content's own. `None` only for a record
    /// file edited by hand ([`Registry::add`] refuses records without BLAKE3 digests).
    pub fn object(&self) -> Option<&Digest> {
        match &self.sealed {
            Some(sealed) => sealed.digests.blake3(),
            None => self.digests.blake3(),
        }
    }

    /// The one file the store holds for this asset, as `(blake3, bytes)`, when it holds one:
    /// the sealed object of an asset sealed at rest (a folder is sealed as one tar stream), or
    /// the asset itself when it is a file. An unsealed folder is many files: `None`. This is
    /// what a proof of retrievability challenges.
    pub fn stored_file(&self) -> Option<(Digest, u64)> {
        match &self.sealed {
            Some(sealed) => sealed.digests.blake3().map(|d| (*d, sealed.size)),
            None if self.layout == Layout::File => self.digests.blake3().map(|d| (*d, self.size)),
            None => None,
        }
    }

    /// Whether `key_id` may request a job on this asset: the publisher always may, others
    /// only if the dataset's policy lists them.
    pub fn allows_requester(&self, key_id: &str) -> bool {
        self.publisher == key_id
            || self
                .policy
                .as_ref()
                .is_some_and(|p| p.allowed_requesters.iter().any(|r| r == key_id))
    }

    /// Whether the algorithm with SHA-256 digest `algorithm` may run on this dataset.
    /// No policy, or an empty list, allows none (deny by default).
    pub fn allows_algorithm(&self, algorithm: &Digest) -> bool {
        self.policy
            .as_ref()
            .is_some_and(|p| p.allowed_algorithms.iter().any(|a| a == algorithm))
    }
}
