//! Job requests: what a requester asks a processor to run, signed by the requester.
//!
//! A request names the algorithm and datasets *and pins their SHA-256 digests*, so the
//! requester commits to the exact bytes they expect; it carries arguments, limits, the time
//! it was made and a random nonce (so two identical requests are still two jobs). It travels
//! as a DSSE envelope of type [`PAYLOAD_TYPE`] signed by the requester, and the receipt embeds
//! that envelope unchanged, so anyone can later check who asked for what.

use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::dsse::{DsseError, Envelope};
use crate::keys::{KeyId, PublicKey, Signer};

/// DSSE payload type of a signed job request.
pub const PAYLOAD_TYPE: &str = "application/vnd.poex.job-request+json";
/// `_type` of a job request document.
pub const REQUEST_TYPE: &str = "urn:poex:job-request:v1";

/// A job request. Unknown fields are refused so a signature never covers something poex
/// would silently ignore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobRequest {
    /// Always [`REQUEST_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// Who asks: the key that signs this request.
    pub requester: Requester,
    /// The algorithm to run.
    pub algorithm: AssetRef,
    /// The datasets to run it on, mounted in this order.
    pub datasets: Vec<AssetRef>,
    /// Extra arguments appended to the algorithm's entrypoint.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// Limits the requester asks for (the processor may lower them; the receipt records
    /// what was applied).
    #[serde(default)]
    pub limits: RequestedLimits,
    /// RFC 3339 UTC time the request was made.
    pub requested_at: String,
    /// 128 random bits, hex.
    pub nonce: String,
    /// Seal the results and the execution log to this recipient (`poex-x25519:<base64>`, see
    /// docs/seal.md): the processor keeps no plaintext of them, and the receipt commits to
    /// both the plaintext and the sealed file. Left out of the JSON when absent, so requests
    /// that do not ask for it serialize, and verify, exactly as before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_recipient: Option<String>,
}

/// The requesting key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requester {
    /// Hex SHA-256 of the key's SubjectPublicKeyInfo.
    pub key_id: KeyId,
    /// The Ed25519 public key, base64 of its 32 bytes.
    pub public_key: PublicKey,
}

/// A registered asset, by name and the SHA-256 digest the requester expects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssetRef {
    /// Registry name.
    pub name: String,
    /// Expected SHA-256 digest of the asset.
    pub digest: Digest,
}

/// Resource limits asked for; `None` means the processor's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestedLimits {
    /// CPU seconds: of the whole job where the processor gives jobs a cgroup, else of each
    /// process (the receipt's `accounting` says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
    /// Memory bytes: of the whole job where the processor gives jobs a cgroup, else the
    /// address space of each process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Wall-clock seconds for the whole job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<u64>,
    /// Processes at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u32>,
    /// Bytes written to the output folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// Files and folders left in the output folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_files: Option<u64>,
}

/// Why a signed request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The envelope's signature or type is wrong.
    #[error("job request signature: {0}")]
    Signature(#[from] DsseError),
    /// The payload is not a job request document (or could not be encoded as JSON).
    #[error("job request is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The document is of another type.
    #[error("job request is malformed: _type is {0:?}, expected {REQUEST_TYPE:?}")]
    Type(String),
    /// The key id does not belong to the embedded key.
    #[error("job request names key id {claimed} but carries the key {actual}")]
    KeyIdMismatch {
        /// What the request says.
        claimed: KeyId,
        /// The id of the key it carries.
        actual: KeyId,
    },
}

/// A job request together with its verified DSSE envelope.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    /// The envelope exactly as signed (embedded in the receipt).
    pub envelope: Envelope,
    /// The decoded request.
    pub request: JobRequest,
}

impl SignedRequest {
    /// Serializes and signs `request`. The signer must be the request's requester.
    pub fn sign(request: JobRequest, signer: &dyn Signer) -> Result<Self, RequestError> {
        if request.requester.public_key != signer.public_key() {
            return Err(RequestError::KeyIdMismatch {
                claimed: request.requester.key_id.clone(),
                actual: signer.public_key().key_id(),
            });
        }
        let payload = serde_json::to_vec(&request)?;
        let envelope = Envelope::sign(PAYLOAD_TYPE, payload, signer);
        Ok(SignedRequest { envelope, request })
    }

    /// Verifies an envelope against the key it names and decodes the request.
    ///
    /// This proves that whoever holds the requester key signed the request; whether that key
    /// belongs to a person you trust is the dataset policy's question.
    pub fn open(envelope: Envelope) -> Result<Self, RequestError> {
        // Parse first to learn the claimed key, then verify under exactly that key.
        let claimed: JobRequest = serde_json::from_slice(&envelope.payload)?;
        if claimed.type_ != REQUEST_TYPE {
            return Err(RequestError::Type(claimed.type_));
        }
        let key = claimed.requester.public_key;
        if key.key_id() != claimed.requester.key_id {
            return Err(RequestError::KeyIdMismatch {
                claimed: claimed.requester.key_id,
                actual: key.key_id(),
            });
        }
        envelope.verify(PAYLOAD_TYPE, &key)?;
        Ok(SignedRequest {
            envelope,
            request: claimed,
        })
    }
}

/// 128 random bits as 32 hex digits, for request nonces and job ids.
pub fn random_hex16() -> Result<String, crate::keys::KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| crate::keys::KeyError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;
    use crate::keys::SecretKey;

    fn request(key: &SecretKey) -> JobRequest {
        JobRequest {
            type_: REQUEST_TYPE.into(),
            requester: Requester {
                key_id: key.public().key_id(),
                public_key: key.public(),
            },
            algorithm: AssetRef {
                name: "stats".into(),
                digest: Algorithm::Sha256.hash(b"alg"),
            },
            datasets: vec![AssetRef {
                name: "cohort".into(),
                digest: Algorithm::Sha256.hash(b"data"),
            }],
            arguments: vec!["--col".into(), "age".into()],
            limits: RequestedLimits::default(),
            requested_at: "2026-11-21T12:00:00Z".into(),
            nonce: random_hex16().unwrap(),
            result_recipient: None,
        }
    }

    #[test]
    fn result_recipient_is_absent_unless_given() {
        let key = SecretKey::from_seed(&[1; 32]);
        let mut req = request(&key);
        let json = serde_json::to_string(&req).unwrap();
        assert!(!json.contains("resultRecipient"), "{json}");
        // A request signed before the field existed (no such key) still parses and verifies.
        let signed = SignedRequest::sign(req.clone(), &key).unwrap();
        let opened = SignedRequest::open(signed.envelope.clone()).unwrap();
        assert_eq!(opened.request.result_recipient, None);
        assert_eq!(
            serde_json::to_vec(&opened.request).unwrap(),
            signed.envelope.payload
        );

        req.result_recipient = Some("poex-x25519:AAAA".into());
        let json = serde_json::to_string(&req).unwrap();
        assert!(
            json.contains(r#""resultRecipient":"poex-x25519:AAAA""#),
            "{json}"
        );
        let signed = SignedRequest::sign(req, &key).unwrap();
        let opened = SignedRequest::open(signed.envelope).unwrap();
        assert_eq!(
            opened.request.result_recipient.as_deref(),
            Some("poex-x25519:AAAA")
        );
    }

    #[test]
    fn sign_open_round_trip() {
        let key = SecretKey::from_seed(&[1; 32]);
        let signed = SignedRequest::sign(request(&key), &key).unwrap();
        let json = serde_json::to_string(&signed.envelope).unwrap();
        let opened = SignedRequest::open(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(opened.request, signed.request);
    }

    #[test]
    fn refuses_forgeries() {
        let key = SecretKey::from_seed(&[1; 32]);
        let mallory = SecretKey::from_seed(&[2; 32]);
        // Signed by someone else than the named requester.
        assert!(SignedRequest::sign(request(&key), &mallory).is_err());
        // Payload altered after signing.
        let mut env = SignedRequest::sign(request(&key), &key).unwrap().envelope;
        let mut req: JobRequest = serde_json::from_slice(&env.payload).unwrap();
        req.arguments.push("--evil".into());
        env.payload = serde_json::to_vec(&req).unwrap();
        assert!(matches!(
            SignedRequest::open(env),
            Err(RequestError::Signature(_))
        ));
        // Key swapped for the attacker's, signature by the attacker, but key id left.
        let mut req = request(&key);
        req.requester.public_key = mallory.public();
        let payload = serde_json::to_vec(&req).unwrap();
        let env = Envelope::sign(PAYLOAD_TYPE, payload, &mallory);
        assert!(matches!(
            SignedRequest::open(env),
            Err(RequestError::KeyIdMismatch { .. })
        ));
    }
}
