//! X25519 recipients and identities, and their `hpke-x25519` stanza.
//!
//! ```text
//! -> hpke-x25519 <base64 enc (32 bytes)>
//! <base64 HPKE ciphertext of the file key (32 + 16 bytes)>
//! ```
//!
//! The file key is sealed with RFC 9180 base mode ([`crate::suite`]) to the recipient's key,
//! with `info` = [`STANZA_INFO`] and an empty `aad`; the header MAC binds the stanza to the
//! rest of the header. The stanza names no recipient (as in age), so a reader tries its
//! identity on every `hpke-x25519` stanza: one X25519 operation each.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use zeroize::Zeroizing;

use crate::error::{OpenError, SealError};
use crate::header::Stanza;
use crate::{FILE_KEY_LEN, FileKey, Unwrap, Wrap, suite};

/// Text form of a [`Recipient`]: this prefix, then the base64 (with padding) of the 32-byte
/// X25519 public key.
pub const RECIPIENT_PREFIX: &str = "poex-x25519:";
/// Text form of an [`Identity`]: this prefix, then the base64 of the 32-byte private key.
pub const IDENTITY_PREFIX: &str = "poex-x25519-secret:";
/// Why a key could not be parsed or generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a `poex-x25519:` recipient.
    #[error(
        "{text:?} is not a recipient: expected {prefix}<base64 of 32 bytes>",
        prefix = RECIPIENT_PREFIX
    )]
    BadRecipient {
        /// What was given (a public value, safe to print).
        text: String,
    },
    /// The text is not a `poex-x25519-secret:` identity. The text itself is never printed.
    #[error("not an identity: expected a line {prefix}<base64 of 32 bytes>", prefix = IDENTITY_PREFIX)]
    BadIdentity,
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
}

/// The tag of the stanza a [`Recipient`] writes.
pub const STANZA_TAG: &str = "hpke-x25519";
/// The HPKE `info` of the stanza: binds the wrapped key to this use.
pub const STANZA_INFO: &[u8] = b"poex-seal/v1 hpke-x25519 file key";

/// Someone a file can be sealed to: an X25519 public key, written `poex-x25519:<base64>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Recipient {
    public: [u8; 32],
}

impl Recipient {
    /// The recipient of these 32 public key bytes.
    pub fn from_bytes(public: [u8; 32]) -> Self {
        Recipient { public }
    }

    /// The 32 public key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.public
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RECIPIENT_PREFIX}{}", STANDARD.encode(self.public))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl FromStr for Recipient {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadRecipient {
            text: text.to_owned(),
        };
        let b64 = text.trim().strip_prefix(RECIPIENT_PREFIX).ok_or_else(bad)?;
        let bytes = STANDARD.decode(b64).map_err(|_| bad())?;
        let public: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(Recipient { public })
    }
}

impl Wrap for Recipient {
    fn wrap(&self, file_key: &FileKey) -> Result<Vec<Stanza>, SealError> {
        let mut ikm = Zeroizing::new([0u8; 32]);
        getrandom::fill(ikm.as_mut()).map_err(|e| SealError::Random(e.to_string()))?;
        let (enc, ct) =
            suite::dangerous_seal_base(self, &ikm, STANZA_INFO, b"", file_key.expose_secret())
                .map_err(|e| SealError::Hpke {
                    recipient: self.to_string(),
                    reason: e.to_string(),
                })?;
        Ok(vec![Stanza {
            tag: STANZA_TAG.into(),
            args: vec![STANDARD_NO_PAD.encode(enc)],
            body: ct,
        }])
    }
}

/// The secret half: opens files sealed to its [`Recipient`]. Zeroized on drop; its `Debug`
/// shows only the recipient. Text form `poex-x25519-secret:<base64>`, kept in a file of mode
/// 0600 ([`crate::keyfile`]).
pub struct Identity {
    secret: Zeroizing<[u8; 32]>,
    recipient: Recipient,
}

impl Identity {
    /// A new random identity.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Self::from_secret_bytes(secret)
    }

    /// The identity of a 32-byte X25519 private key (RFC 9180 `DeserializePrivateKey`, which
    /// clamps: keys that differ only in the clamped bits are the same identity, with one
    /// text form).
    pub fn from_secret_bytes(secret: Zeroizing<[u8; 32]>) -> Result<Self, KeyError> {
        let (secret, public) = suite::normalize(&secret).map_err(|_| KeyError::BadIdentity)?;
        Ok(Identity {
            secret,
            recipient: Recipient { public },
        })
    }

    /// RFC 9180 `DeriveKeyPair(ikm)` for DHKEM(X25519, HKDF-SHA256): the same `ikm` always
    /// gives the same identity (used by the RFC's vectors; `ikm` needs 32 bytes of entropy).
    pub fn derive(ikm: &[u8]) -> Self {
        let (secret, public) = suite::derive(ikm);
        Identity {
            secret,
            recipient: Recipient { public },
        }
    }

    /// Who this identity opens files for.
    pub fn recipient(&self) -> Recipient {
        self.recipient.clone()
    }

    /// The text form, `poex-x25519-secret:<base64>`, in memory that is zeroized on drop.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(IDENTITY_PREFIX));
        STANDARD.encode_string(self.secret.as_ref(), &mut text);
        text
    }

    /// Parses the text form. Surrounding whitespace is ignored; the text is never echoed in
    /// an error.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let b64 = text
            .trim()
            .strip_prefix(IDENTITY_PREFIX)
            .ok_or(KeyError::BadIdentity)?;
        let bytes = Zeroizing::new(STANDARD.decode(b64).map_err(|_| KeyError::BadIdentity)?);
        let mut secret = Zeroizing::new([0u8; 32]);
        if bytes.len() != secret.len() {
            return Err(KeyError::BadIdentity);
        }
        secret.copy_from_slice(&bytes);
        Self::from_secret_bytes(secret)
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

impl Unwrap for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, OpenError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let malformed = |reason: &str| {
            Some(Err(OpenError::MalformedStanza {
                tag: STANZA_TAG.into(),
                reason: reason.to_owned(),
            }))
        };
        let [enc] = stanza.args.as_slice() else {
            return malformed("it takes one argument, the encapsulated key");
        };
        let enc: [u8; 32] = match STANDARD_NO_PAD.decode(enc).map(<[u8; 32]>::try_from) {
            Ok(Ok(enc)) => enc,
            _ => return malformed("the encapsulated key is not 32 bytes of base64"),
        };
        if stanza.body.len() != FILE_KEY_LEN + 16 {
            return malformed("the body is not a 32-byte file key and its 16-byte tag");
        }
        // A stanza that does not open was sealed to someone else: not an error, try the next.
        let key = suite::open_base(self, &enc, STANZA_INFO, b"", &stanza.body).ok()?;
        let mut bytes = Zeroizing::new([0u8; FILE_KEY_LEN]);
        bytes.copy_from_slice(&key);
        Some(Ok(FileKey::from_zeroizing(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_secrets_do_not_print() {
        let id = Identity::generate().unwrap();
        let text = id.to_text();
        let again = Identity::from_text(&text).unwrap();
        assert_eq!(again.recipient(), id.recipient());
        let r: Recipient = id.recipient().to_string().parse().unwrap();
        assert_eq!(r, id.recipient());
        let debug = format!("{id:?}");
        let b64 = text.strip_prefix(IDENTITY_PREFIX).unwrap();
        assert!(!debug.contains(b64), "{debug}");
        assert!(debug.contains(RECIPIENT_PREFIX));
        for bad in [
            "",
            "poex-x25519:",
            "poex-x25519:AAAA",
            "age1xyz",
            "poex-x25519:!!!!",
        ] {
            assert!(bad.parse::<Recipient>().is_err(), "{bad}");
        }
        let err = Identity::from_text("poex-x25519-secret:c2VjcmV0").unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"));
    }

    #[test]
    fn stanza_opens_only_for_its_identity() {
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        let key = FileKey::from_bytes([9; 32]);
        let stanzas = alice.recipient().wrap(&key).unwrap();
        let [stanza] = stanzas.as_slice() else {
            panic!("one stanza")
        };
        let opened = alice.unwrap_stanza(stanza).unwrap().unwrap();
        assert_eq!(opened.expose_secret(), key.expose_secret());
        assert!(bob.unwrap_stanza(stanza).is_none());
        let other = Stanza {
            tag: "umbral".into(),
            ..stanza.clone()
        };
        assert!(
            alice.unwrap_stanza(&other).is_none(),
            "unknown tags are skipped"
        );
        let mut flipped = stanza.clone();
        flipped.body[0] ^= 1;
        assert!(alice.unwrap_stanza(&flipped).is_none());
        let mut short = stanza.clone();
        short.body.pop();
        assert!(matches!(
            alice.unwrap_stanza(&short),
            Some(Err(OpenError::MalformedStanza { .. }))
        ));
    }
}
