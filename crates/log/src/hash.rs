//! RFC 9162 (Certificate Transparency v2) Merkle tree hashing.
//!
//! The tree hash of a list of entries is built from two domain-separated SHA-256 hashes, so that a
//! leaf can never be passed off as an interior node:
//!
//! - leaf hash: `SHA-256(0x00 || entry)` ([`leaf_hash`]),
//! - node hash: `SHA-256(0x01 || left || right)` ([`node_hash`]),
//! - the empty tree: `SHA-256("")` ([`empty_root`]).

use std::fmt;

use sha2::{Digest as _, Sha256};

/// Size in bytes of every hash in the tree.
pub const HASH_SIZE: usize = 32;

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 Merkle tree hash: a leaf hash, an interior node hash or a tree root.
///
/// Built from exactly 32 bytes; [`Hash::try_from`] on a slice of another length fails with
/// [`HashLengthError`]. `Debug` and `Display` print lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash([u8; HASH_SIZE]);

impl Hash {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// The raw bytes, by value.
    pub const fn to_bytes(self) -> [u8; HASH_SIZE] {
        self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let bytes = hex::decode(text).map_err(|_| HashParseError::NotHex)?;
        Self::try_from(bytes.as_slice()).map_err(HashParseError::Length)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = HashLengthError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; HASH_SIZE]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashLengthError {
                actual: bytes.len(),
            })
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A byte string that should have been a 32-byte hash was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a hash is {HASH_SIZE} bytes, got {actual}")]
pub struct HashLengthError {
    /// The length that was given.
    pub actual: usize,
}

/// Text that should have been a hex-encoded hash was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashParseError {
    /// Not an even number of hex digits.
    #[error("hash is not hex")]
    NotHex,
    /// Hex, but not 32 bytes.
    #[error(transparent)]
    Length(HashLengthError),
}

/// RFC 9162 leaf hash: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(entry);
    Hash(hasher.finalize().into())
}

/// RFC 9162 interior node hash: `SHA-256(0x01 || left || right)`.
///
/// The 65-byte message always pads to exactly two SHA-256 blocks, so they are built here and
/// fed to the compression function directly: the same digest as [`node_hash_bytes`] (a test
/// checks it), about a third faster, which matters because proofs and tile trees are made of
/// little else.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    /// SHA-256 initial state (FIPS 180-4 §5.3.3).
    const H0: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    let mut first = [0u8; 64];
    first[0] = NODE_PREFIX;
    first[1..33].copy_from_slice(&left.0);
    first[33..].copy_from_slice(&right.0[..31]);
    /// The second block but for its first byte: padding (a one bit, zeros, then the message
    /// length in bits, 65 * 8 = 520 = 0x0208).
    const PADDING: [u8; 64] = {
        let mut b = [0u8; 64];
        b[1] = 0x80;
        b[62] = 0x02;
        b[63] = 0x08;
        b
    };
    let mut second = PADDING;
    second[0] = right.0[31];
    let mut state = H0;
    sha2::block_api::compress256(&mut state, &[first, second]);
    let mut out = [0u8; HASH_SIZE];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Hash(out)
}

/// RFC 9162 `HashChildren` over arbitrary byte strings.
///
/// A tree only ever hashes 32-byte children ([`node_hash`]); this form exists for test vectors
/// that hash shorter strings, and for verifying proofs exactly as the reference implementation
/// does.
pub fn node_hash_bytes(left: &[u8], right: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    Hash(hasher.finalize().into())
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_hash_is_the_generic_digest() {
        let mut left = leaf_hash(b"left");
        for i in 0..200u32 {
            let right = leaf_hash(&i.to_be_bytes());
            assert_eq!(node_hash(&left, &right), node_hash_bytes(&left.0, &right.0));
            left = node_hash(&right, &left);
        }
    }

    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_round_trip_and_length_errors() {
        let h = leaf_hash(b"");
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(
            Hash::from_hex("00"),
            Err(HashParseError::Length(HashLengthError { actual: 1 }))
        );
        assert_eq!(Hash::from_hex("zz"), Err(HashParseError::NotHex));
    }
}
