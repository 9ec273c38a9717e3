//! Content digests in the in-toto/SLSA/OCI spelling: `sha256:<64 hex>`, `blake3:<64 hex>`.
//!
//! A [`Digest`] is one algorithm and its 32 bytes; a [`DigestSet`] is the in-toto
//! `DigestSet` map (`{"sha256": "<hex>", "blake3": "<hex>"}`) that holds several digests of
//! the same bytes. Both are parsed, never validated after the fact: once you hold one, the
//! hex is well formed and the length is right.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// A hash algorithm poex uses for content addressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    // Variants are in name order so that sets serialize with sorted keys.
    /// BLAKE3, about three times faster per core and parallel; used where speed matters.
    Blake3,
    /// SHA-256 (FIPS 180-4), the algorithm every in-toto/SLSA verifier understands.
    Sha256,
}

impl Algorithm {
    /// The lowercase name used in digest strings and in-toto digest sets.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Blake3 => "blake3",
        }
    }

    /// Hash `bytes` in one call (for small, in-memory values such as manifests).
    pub fn hash(self, bytes: &[u8]) -> Digest {
        let out: [u8; 32] = match self {
            Algorithm::Sha256 => {
                use sha2::Digest as _;
                sha2::Sha256::digest(bytes).into()
            }
            Algorithm::Blake3 => *blake3::hash(bytes).as_bytes(),
        };
        Digest::new(self, out)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sha256" => Ok(Algorithm::Sha256),
            "blake3" => Ok(Algorithm::Blake3),
            other => Err(DigestError::UnknownAlgorithm(other.to_owned())),
        }
    }
}

/// Why a digest string did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// The part before `:` is not an algorithm poex knows.
    #[error("unknown digest algorithm {0:?} (poex knows sha256 and blake3)")]
    UnknownAlgorithm(String),
    /// No `algorithm:` prefix.
    #[error("digest {0:?} has no algorithm prefix; write it as sha256:<64 hex digits>")]
    MissingAlgorithm(String),
    /// The hex part is not 64 lowercase hex digits.
    #[error("digest value {0:?} is not 64 lowercase hex digits")]
    BadHex(String),
}

/// One digest: an algorithm and its 32-byte output.
///
/// Equality is constant-time, so a digest can be compared with an expected value that an
/// attacker is probing without leaking how many leading bytes matched.
#[derive(Clone, Copy)]
pub struct Digest {
    algorithm: Algorithm,
    bytes: [u8; 32],
}

impl Digest {
    /// Wraps 32 bytes produced by `algorithm`.
    pub const fn new(algorithm: Algorithm, bytes: [u8; 32]) -> Self {
        Digest { algorithm, bytes }
    }

    /// The algorithm that produced this digest.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The lowercase hex of the digest bytes, without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Parses lowercase hex (no prefix) produced by `algorithm`.
    pub fn from_hex(algorithm: Algorithm, hex_str: &str) -> Result<Self, DigestError> {
        if hex_str.len() != 64 || hex_str.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(DigestError::BadHex(hex_str.to_owned()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_str, &mut bytes)
            .map_err(|_| DigestError::BadHex(hex_str.to_owned()))?;
        Ok(Digest { algorithm, bytes })
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm && bool::from(self.bytes.ct_eq(&other.bytes))
    }
}
impl Eq for Digest {}

impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `eq`: equal digests hash the same.
        std::hash::Hash::hash(&self.algorithm, state);
        std::hash::Hash::hash(&self.bytes, state);
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex_str) = s
            .split_once(':')
            .ok_or_else(|| DigestError::MissingAlgorithm(s.to_owned()))?;
        Digest::from_hex(alg.parse()?, hex_str)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Several digests of the same bytes: the in-toto `DigestSet`
/// (`{"blake3": "<hex>", "sha256": "<hex>"}`, keys sorted).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct DigestSet(BTreeMap<Algorithm, Digest>);

impl DigestSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding the given digests (a later digest of the same algorithm wins).
    pub fn of(digests: impl IntoIterator<Item = Digest>) -> Self {
        DigestSet(digests.into_iter().map(|d| (d.algorithm(), d)).collect())
    }

    /// Adds or replaces the digest for its algorithm.
    pub fn insert(&mut self, digest: Digest) {
        self.0.insert(digest.algorithm(), digest);
    }

    /// The digest for `algorithm`, if the set has one.
    pub fn get(&self, algorithm: Algorithm) -> Option<&Digest> {
        self.0.get(&algorithm)
    }

    /// The SHA-256 digest, if present.
    pub fn sha256(&self) -> Option<&Digest> {
        self.get(Algorithm::Sha256)
    }

    /// The BLAKE3 digest, if present.
    pub fn blake3(&self) -> Option<&Digest> {
        self.get(Algorithm::Blake3)
    }

    /// All digests, sorted by algorithm.
    pub fn iter(&self) -> impl Iterator<Item = &Digest> {
        self.0.values()
    }

    /// True when the set holds no digest.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares two sets on every algorithm both hold.
    pub fn compare(&self, other: &DigestSet) -> Comparison {
        let mut shared = false;
        for (alg, mine) in &self.0 {
            if let Some(theirs) = other.0.get(alg) {
                shared = true;
                if mine != theirs {
                    return Comparison::Differ {
                        ours: *mine,
                        theirs: *theirs,
                    };
                }
            }
        }
        if shared {
            Comparison::Match
        } else {
            Comparison::NoCommonAlgorithm
        }
    }
}

/// The result of [`DigestSet::compare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Every algorithm both sets hold agrees (and there is at least one).
    Match,
    /// The first algorithm on which they differ, with both values.
    Differ {
        /// The value in `self`.
        ours: Digest,
        /// The value in `other`.
        theirs: Digest,
    },
    /// The sets share no algorithm, so nothing can be concluded.
    NoCommonAlgorithm,
}

impl fmt::Debug for DigestSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.values()).finish()
    }
}

impl fmt::Display for DigestSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in self.0.values() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Serialize for DigestSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (alg, d) in &self.0 {
            map.serialize_entry(alg.name(), &d.hex())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DigestSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // in-toto allows algorithms we do not know; we keep the ones we can check and
        // ignore the rest rather than refuse a foreign attestation outright.
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        let mut set = DigestSet::new();
        for (alg, hex_str) in raw {
            if let Ok(alg) = alg.parse::<Algorithm>() {
                set.insert(Digest::from_hex(alg, &hex_str).map_err(serde::de::Error::custom)?);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // FIPS 180-2 "abc" and the BLAKE3 empty-input vector.
        assert_eq!(
            Algorithm::Sha256.hash(b"abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Algorithm::Blake3.hash(b"").hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn parse_round_trip_and_errors() {
        let d = Algorithm::Sha256.hash(b"x");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!(matches!(
            "md5:00".parse::<Digest>(),
            Err(DigestError::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            "abcd".parse::<Digest>(),
            Err(DigestError::MissingAlgorithm(_))
        ));
        let upper = format!("sha256:{}", d.hex().to_uppercase());
        assert!(matches!(
            upper.parse::<Digest>(),
            Err(DigestError::BadHex(_))
        ));
        assert!(matches!(
            "sha256:zz".parse::<Digest>(),
            Err(DigestError::BadHex(_))
        ));
    }

    #[test]
    fn digest_set_json_is_the_in_toto_map() {
        let set = DigestSet::of([Algorithm::Sha256.hash(b"a"), Algorithm::Blake3.hash(b"a")]);
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.starts_with("{\"blake3\":\""));
        let back: DigestSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        let foreign: DigestSet =
            serde_json::from_str(r#"{"gitCommit":"abc","sha256":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}"#)
                .unwrap();
        assert_eq!(foreign.iter().count(), 1);
    }

    #[test]
    fn mismatch_reports_the_differing_pair() {
        let a = DigestSet::of([Algorithm::Sha256.hash(b"a")]);
        let b = DigestSet::of([Algorithm::Sha256.hash(b"b")]);
        let c = DigestSet::of([Algorithm::Blake3.hash(b"a")]);
        assert_eq!(a.compare(&a), Comparison::Match);
        assert!(matches!(a.compare(&b), Comparison::Differ { .. }));
        assert_eq!(a.compare(&c), Comparison::NoCommonAlgorithm);
    }
}
