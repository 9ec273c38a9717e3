//! A poex Ed25519 key as a signed-note signer, so the log's checkpoints are signed by a key
//! poex manages like any other (PKCS#8 file, `poex key`), never by a seed copied into a note key
//! string.

use std::sync::Arc;

use poex_log::note::{self, ALG_ED25519, Ed25519Verifier, KeyError, KeyId, SignError};

/// Signs notes (checkpoints) with a [`poex_core::Signer`].
///
/// The key name is the log's origin; the key ID is the signed-note one,
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`. Signatures come from the wrapped signer, so
/// the private key never leaves it.
pub struct LogSigner {
    name: String,
    key_id: KeyId,
    key: Arc<dyn poex_core::Signer>,
    verifier: Ed25519Verifier,
}

impl LogSigner {
    /// The signer named `name` (the log's origin: non-empty, no white space, no `+`).
    pub fn new(name: &str, key: Arc<dyn poex_core::Signer>) -> Result<Self, KeyError> {
        let public = key.public_key();
        let verifier = Ed25519Verifier::new(name, public.as_bytes())?;
        Ok(LogSigner {
            name: name.to_owned(),
            key_id: KeyId::compute(name, ALG_ED25519, public.as_bytes()),
            key,
            verifier,
        })
    }

    /// The matching verifier; its `Display` is the verifier key string `name+hex8+base64`.
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
}

impl note::Signer for LogSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> KeyId {
        self.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.key.sign(msg).to_vec())
    }
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use poex_core::SecretKey;
    use poex_log::note::{Ed25519Signer, Signer as _, Verifier as _};

    use super::*;

    #[test]
    fn same_notes_as_the_log_crates_signer() {
        let seed = [9u8; 32];
        let ours =
            LogSigner::new("poex.local/log/x", Arc::new(SecretKey::from_seed(&seed))).unwrap();
        let reference = Ed25519Signer::from_seed("poex.local/log/x", &seed).unwrap();
        assert_eq!(ours.key_id(), reference.key_id());
        assert_eq!(
            ours.verifier().to_string(),
            reference.verifier().to_string()
        );
        let text = "poex.local/log/x\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        assert_eq!(
            note::sign(text, &[&ours]).unwrap(),
            note::sign(text, &[&reference]).unwrap()
        );
        assert!(
            ours.verifier()
                .verify(text.as_bytes(), &ours.sign(text.as_bytes()).unwrap())
        );
    }

    #[test]
    fn refuses_names_a_note_cannot_carry() {
        let key: Arc<dyn poex_core::Signer> = Arc::new(SecretKey::from_seed(&[1; 32]));
        assert!(LogSigner::new("has space", Arc::clone(&key)).is_err());
        assert!(LogSigner::new("a+b", Arc::clone(&key)).is_err());
        assert!(LogSigner::new("", key).is_err());
    }
}
