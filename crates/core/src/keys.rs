//! Ed25519 keys, their standard encodings, and the [`Signer`] trait.
//!
//! Private keys travel as PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`, RFC 8410), public
//! keys as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), so `openssl pkey` and
//! in-toto's `--signing-key` read them as they are. A key's [`KeyId`] is the lowercase hex
//! SHA-256 of its SubjectPublicKeyInfo DER: reproducible with
//! `openssl pkey -pubin -in key.pub -outform DER | sha256sum`.
//!
//! Reading and writing key *files* (mode 0600) is an edge concern and lives in `poex-store`;
//! this module only turns bytes into keys and back.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;
use zeroize::Zeroizing;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4); the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an Ed25519 PKCS#8 v1 OneAsymmetricKey (RFC 8410 §7); the 32 seed bytes follow.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Why key material was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not PEM with the expected label.
    #[error("not a PEM {expected} block; expected '-----BEGIN {expected}-----'")]
    NotPem {
        /// The PEM label we looked for.
        expected: &'static str,
    },
    /// The PEM body is not valid base64.
    #[error("PEM body is not valid base64")]
    BadBase64,
    /// The DER is not an Ed25519 key in the form we accept.
    #[error(
        "not an Ed25519 {what}; poex uses Ed25519 keys (create one with 'poex key new NAME' or 'openssl genpkey -algorithm ed25519')"
    )]
    NotEd25519 {
        /// "private key (PKCS#8 v1)" or "public key (SubjectPublicKeyInfo)".
        what: &'static str,
    },
    /// The 32 bytes are not a valid Ed25519 point.
    #[error("public key bytes are not a valid Ed25519 point")]
    BadPoint,
    /// The operating system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// A signature did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Ed25519 signature does not verify under key {key_id}")]
pub struct BadSignature {
    /// The key the signature was checked against.
    pub key_id: KeyId,
}

/// Anything that can produce Ed25519 signatures: a key held in memory, later an HSM or agent.
///
/// Implementation notes: `sign` must be deterministic or randomized per RFC 8032 and never
/// panic; `public_key` must return the key that verifies what `sign` returns.
pub trait Signer: Send + Sync {
    /// The public half of the signing key.
    fn public_key(&self) -> PublicKey;
    /// Signs `message` (the whole message; Ed25519 hashes internally).
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

/// An Ed25519 private key. Zeroized on drop; never printed.
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// The key with this 32-byte RFC 8032 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Parses a PKCS#8 v1 PEM private key (what `openssl genpkey -algorithm ed25519` writes).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let der = Zeroizing::new(pem_decode(pem, "PRIVATE KEY")?);
        let seed: &[u8; 32] = der
            .strip_prefix(&PKCS8_PREFIX[..])
            .and_then(|rest| rest.try_into().ok())
            .ok_or(KeyError::NotEd25519 {
                what: "private key (PKCS#8 v1)",
            })?;
        Ok(Self::from_seed(seed))
    }

    /// The PKCS#8 v1 PEM encoding. The returned string is zeroized when dropped.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&PKCS8_PREFIX);
        der.extend_from_slice(self.0.as_bytes());
        Zeroizing::new(pem_encode(&der, "PRIVATE KEY"))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

impl Signer for SecretKey {
    fn public_key(&self) -> PublicKey {
        self.public()
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretKey(<redacted>, public {})",
            self.public().key_id()
        )
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::BadPoint)
    }

    /// The 32 raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The SubjectPublicKeyInfo DER (44 bytes).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let mut der = Vec::with_capacity(44);
        der.extend_from_slice(&SPKI_PREFIX);
        der.extend_from_slice(self.as_bytes());
        der
    }

    /// Parses SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let bytes: &[u8; 32] = der
            .strip_prefix(&SPKI_PREFIX[..])
            .and_then(|rest| rest.try_into().ok())
            .ok_or(KeyError::NotEd25519 {
                what: "public key (SubjectPublicKeyInfo)",
            })?;
        Self::from_bytes(bytes)
    }

    /// The SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_spki_pem(&self) -> String {
        pem_encode(&self.to_spki_der(), "PUBLIC KEY")
    }

    /// Parses SubjectPublicKeyInfo PEM.
    pub fn from_spki_pem(pem: &str) -> Result<Self, KeyError> {
        Self::from_spki_der(&pem_decode(pem, "PUBLIC KEY")?)
    }

    /// Standard base64 of the 32 raw bytes (the form used inside poex JSON documents).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.as_bytes())
    }

    /// Parses standard base64 of 32 raw bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let raw = STANDARD.decode(text).map_err(|_| KeyError::BadBase64)?;
        let bytes: &[u8; 32] = raw.as_slice().try_into().map_err(|_| KeyError::BadPoint)?;
        Self::from_bytes(bytes)
    }

    /// The key's identifier: hex SHA-256 of its SubjectPublicKeyInfo DER.
    pub fn key_id(&self) -> KeyId {
        KeyId(hex::encode(sha2::Sha256::digest(self.to_spki_der())))
    }

    /// Verifies a 64-byte Ed25519 signature over `message` with RFC 8032's strict checks
    /// (no small-order keys, canonical `S`), so one message has one valid signature per key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        let bad = || BadSignature {
            key_id: self.key_id(),
        };
        let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| bad())?;
        self.0.verify_strict(message, &sig).map_err(|_| bad())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PublicKey::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// A key identifier: 64 lowercase hex digits, the SHA-256 of the key's SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 16 hex digits, for human output where the full id is too long.
    pub fn short(&self) -> &str {
        &self.0[..16]
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// Why a key id did not parse.
#[derive(Debug, thiserror::Error)]
#[error("key id {0:?} is not 64 lowercase hex digits (see 'poex key list')")]
pub struct BadKeyId(String);

impl FromStr for KeyId {
    type Err = BadKeyId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(BadKeyId(s.to_owned()))
        }
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

fn pem_encode(der: &[u8], label: &str) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every 64-byte chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(pem: &str, label: &'static str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or(KeyError::NotPem { expected: label })?;
    let rest = &pem[start + begin.len()..];
    let stop = rest
        .find(&end)
        .ok_or(KeyError::NotPem { expected: label })?;
    let body: Zeroizing<String> = Zeroizing::new(
        rest[..stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    STANDARD
        .decode(body.as_bytes())
        .map_err(|_| KeyError::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032 §7.1 TEST 1.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUB: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const SIG_EMPTY: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn test_key() -> SecretKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(SEED, &mut seed).unwrap();
        SecretKey::from_seed(&seed)
    }

    #[test]
    fn rfc8032_test1() {
        let key = test_key();
        assert_eq!(hex::encode(key.public().as_bytes()), PUB);
        assert_eq!(hex::encode(key.sign(b"")), SIG_EMPTY);
        key.public().verify(b"", &key.sign(b"")).unwrap();
        assert!(key.public().verify(b"x", &key.sign(b"")).is_err());
    }

    #[test]
    fn pem_round_trips_and_matches_openssl_layout() {
        let key = test_key();
        let pem = key.to_pkcs8_pem();
        // `openssl pkey` (OpenSSL 3.0) writes exactly these PEM bodies for this seed.
        assert!(pem.contains("MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"));
        let back = SecretKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public(), key.public());
        let pub_pem = key.public().to_spki_pem();
        assert!(pub_pem.contains("MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="));
        assert_eq!(PublicKey::from_spki_pem(&pub_pem).unwrap(), key.public());
    }

    #[test]
    fn refuses_foreign_material() {
        assert!(matches!(
            SecretKey::from_pkcs8_pem("hello"),
            Err(KeyError::NotPem { .. })
        ));
        let rsa_like = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            SecretKey::from_pkcs8_pem(rsa_like),
            Err(KeyError::NotEd25519 { .. })
        ));
        let pub_pem = test_key().public().to_spki_pem();
        assert!(SecretKey::from_pkcs8_pem(&pub_pem).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", test_key());
        assert!(!shown.contains(&SEED[..16]));
        assert!(!shown.contains("nWGxne"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn key_id_is_sha256_of_spki() {
        let key = test_key().public();
        let id = key.key_id();
        // `openssl pkey -in k.pem -pubout -outform DER | sha256sum`
        assert_eq!(
            id.as_str(),
            "06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9"
        );
        assert_eq!(id.as_str().parse::<KeyId>().unwrap(), id);
        assert!("ABC".parse::<KeyId>().is_err());
    }
}
