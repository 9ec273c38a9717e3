//! DSSE v1 envelopes (secure-systems-lab/dsse `protocol.md` v1.0.2).
//!
//! The signature covers the pre-authentication encoding [`pae`] of the payload type and the
//! payload bytes, never the JSON around them, so a verifier needs no canonical JSON.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keys::{PublicKey, Signer};

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope: payload, its type, and one or more signatures over their PAE.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The signed bytes (base64 in JSON).
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    /// What the payload is, e.g. `application/vnd.in-toto+json`.
    pub payload_type: String,
    /// Signatures over `pae(payload_type, payload)`.
    pub signatures: Vec<Signature>,
}

/// One DSSE signature. `keyid` is an unauthenticated hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Hint naming the key (poex: hex SHA-256 of the SubjectPublicKeyInfo); may be empty.
    #[serde(default)]
    pub keyid: String,
    /// The raw signature bytes (base64 in JSON).
    #[serde(with = "b64")]
    pub sig: Vec<u8>,
}

/// Why an envelope did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DsseError {
    /// The envelope has no signature at all.
    #[error("the envelope carries no signature")]
    Unsigned,
    /// No signature verifies under the trusted key.
    #[error(
        "no signature in the envelope verifies under key {key_id} ({count} signature(s) checked); the envelope was altered or signed by another key"
    )]
    NoValidSignature {
        /// The trusted key that was tried.
        key_id: String,
        /// How many signatures were checked.
        count: usize,
    },
    /// The payload type is not the one the caller expects.
    #[error("payload type is {actual:?}, expected {expected:?}")]
    WrongPayloadType {
        /// What the caller asked for.
        expected: String,
        /// What the envelope says.
        actual: String,
    },
}

impl Envelope {
    /// Signs `payload` as `payload_type` with `signer`.
    pub fn sign(payload_type: &str, payload: Vec<u8>, signer: &dyn Signer) -> Envelope {
        let sig = signer.sign(&pae(payload_type, &payload));
        Envelope {
            payload,
            payload_type: payload_type.to_owned(),
            signatures: vec![Signature {
                keyid: signer.public_key().key_id().to_string(),
                sig: sig.to_vec(),
            }],
        }
    }

    /// Checks that the payload type is `expected` and that at least one signature verifies
    /// under `key`; returns the authenticated payload.
    pub fn verify(&self, expected_type: &str, key: &PublicKey) -> Result<&[u8], DsseError> {
        if self.payload_type != expected_type {
            return Err(DsseError::WrongPayloadType {
                expected: expected_type.to_owned(),
                actual: self.payload_type.clone(),
            });
        }
        if self.signatures.is_empty() {
            return Err(DsseError::Unsigned);
        }
        let message = pae(&self.payload_type, &self.payload);
        // keyid is only a hint: try every signature rather than trusting it to pick one.
        if self
            .signatures
            .iter()
            .any(|s| key.verify(&message, &s.sig).is_ok())
        {
            Ok(&self.payload)
        } else {
            Err(DsseError::NoValidSignature {
                key_id: key.key_id().to_string(),
                count: self.signatures.len(),
            })
        }
    }
}

/// Base64 as DSSE specifies: write standard, accept standard or URL-safe, padded.
mod b64 {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(&text)
            .or_else(|_| URL_SAFE.decode(&text))
            .map_err(|_| serde::de::Error::custom("not valid base64 (standard or URL-safe)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    #[test]
    fn sign_verify_and_tamper() {
        let key = SecretKey::from_seed(&[7; 32]);
        let env = Envelope::sign("t", b"hello".to_vec(), &key);
        assert_eq!(env.verify("t", &key.public()).unwrap(), b"hello");
        let mut bad = env.clone();
        bad.payload[0] ^= 1;
        assert!(matches!(
            bad.verify("t", &key.public()),
            Err(DsseError::NoValidSignature { .. })
        ));
        let mut retyped = env.clone();
        retyped.payload_type = "u".into();
        assert!(retyped.verify("u", &key.public()).is_err());
        assert!(matches!(
            env.verify("u", &key.public()),
            Err(DsseError::WrongPayloadType { .. })
        ));
        let other = SecretKey::from_seed(&[8; 32]);
        assert!(env.verify("t", &other.public()).is_err());
        let mut unsigned = env;
        unsigned.signatures.clear();
        assert_eq!(
            unsigned.verify("t", &key.public()),
            Err(DsseError::Unsigned)
        );
    }
}
