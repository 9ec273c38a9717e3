//! The HPKE ciphersuite of `hpke-x25519` stanzas: RFC 9180 base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 (ids 0x0020/0x0001/0x0003), the
//! suite of RFC 9180 Appendix A.2, whose published vectors the tests check.
//!
//! Most callers want [`crate::Recipient`] and [`crate::Identity`]; this module is the single
//! place the suite is named, and exposes the one-shot operations so the vectors can be checked
//! against exactly the code the stanzas use.

use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use zeroize::Zeroizing;

use crate::{Identity, Recipient};

/// The KEM: DHKEM(X25519, HKDF-SHA256).
pub type Kem = hpke::kem::X25519HkdfSha256;
/// The KDF: HKDF-SHA256.
pub type Kdf = hpke::kdf::HkdfSha256;
/// The AEAD: ChaCha20-Poly1305 (only 32-byte file keys go through it; the payload uses its
/// own AEAD, see [`crate::PAYLOAD_AEAD`]).
pub type Aead = hpke::aead::ChaCha20Poly1305;

/// RFC 9180 `kem_id` of [`Kem`].
pub const KEM_ID: u16 = 0x0020;
/// RFC 9180 `kdf_id` of [`Kdf`].
pub const KDF_ID: u16 = 0x0001;
/// RFC 9180 `aead_id` of [`Aead`].
pub const AEAD_ID: u16 = 0x0003;

/// Why a one-shot HPKE operation failed (HPKE's own error, as text).
#[derive(Debug, thiserror::Error)]
#[error("HPKE: {0}")]
pub struct HpkeError(String);

impl From<hpke::HpkeError> for HpkeError {
    fn from(e: hpke::HpkeError) -> Self {
        HpkeError(e.to_string())
    }
}

pub(crate) fn public_key(bytes: &[u8; 32]) -> Result<<Kem as hpke::Kem>::PublicKey, HpkeError> {
    Ok(<Kem as hpke::Kem>::PublicKey::from_bytes(bytes)?)
}

pub(crate) fn private_key(bytes: &[u8; 32]) -> Result<<Kem as hpke::Kem>::PrivateKey, HpkeError> {
    Ok(<Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)?)
}

/// RFC 9180 `DeserializePrivateKey` then `SerializePrivateKey` (which clamp, 7.1.2), and the
/// public key: (private key bytes, public key bytes).
pub(crate) fn normalize(secret: &[u8; 32]) -> Result<(Zeroizing<[u8; 32]>, [u8; 32]), HpkeError> {
    let sk = private_key(secret)?;
    let public = to_array(&Kem::sk_to_pk(&sk).to_bytes());
    Ok((Zeroizing::new(to_array(&sk.to_bytes())), public))
}

/// RFC 9180 `DeriveKeyPair(ikm)`: (private key bytes, public key bytes).
pub(crate) fn derive(ikm: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let (sk, pk) = Kem::derive_keypair(ikm);
    let secret = Zeroizing::new(to_array(&sk.to_bytes()));
    (secret, to_array(&pk.to_bytes()))
}

fn to_array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // Every X25519 key and encapsulation in this suite is 32 bytes (RFC 9180 7.1: Npk = Nsk
    // = Nenc = 32); copy_from_slice would panic otherwise, so take what is there.
    let n = bytes.len().min(32);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// `SealBase(pkR, info, aad, pt)` with the ephemeral key pair derived from `ikm_e`
/// (`DeriveKeyPair(ikmE)`, as the RFC's vectors do). Returns `(enc, ct)`.
///
/// **Dangerous**: HPKE's security needs a fresh random ephemeral key for every call; this
/// takes it from the caller so the RFC 9180 vectors can check the sender side. The stanza
/// code calls it with 32 fresh bytes from the operating system.
pub fn dangerous_seal_base(
    recipient: &Recipient,
    ikm_e: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; 32], Vec<u8>), HpkeError> {
    let pk = public_key(&recipient.to_bytes())?;
    let mut rng = Ikm::new(ikm_e);
    let (enc, ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        aad,
        &mut rng,
    )?;
    if rng.overdrawn {
        return Err(HpkeError(
            "the KEM asked for more than 32 bytes of randomness".into(),
        ));
    }
    Ok((to_array(&enc.to_bytes()), ct))
}

/// `OpenBase(enc, skR, info, aad, ct)`: the plaintext, or an error if `ct` does not open
/// (wrong key, other info or aad, altered bytes).
pub fn open_base(
    identity: &Identity,
    enc: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HpkeError> {
    let sk = private_key(identity.secret_bytes())?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)?;
    let pt =
        hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, info, ciphertext, aad)?;
    Ok(Zeroizing::new(pt))
}

/// A "random" source that hands out one 32-byte seed: the ephemeral key's IKM. DHKEM(X25519)
/// draws exactly `Nsk` = 32 bytes; anything beyond is zeros and sets `overdrawn`, which the
/// caller turns into an error instead of sealing with a predictable key.
struct Ikm<'a> {
    seed: &'a [u8; 32],
    used: usize,
    overdrawn: bool,
}

impl<'a> Ikm<'a> {
    fn new(seed: &'a [u8; 32]) -> Self {
        Ikm {
            seed,
            used: 0,
            overdrawn: false,
        }
    }
}

impl hpke::rand_core::TryRng for Ikm<'_> {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            match self.seed.get(self.used) {
                Some(b) => *byte = *b,
                None => {
                    *byte = 0;
                    self.overdrawn = true;
                }
            }
            self.used += 1;
        }
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for Ikm<'_> {}
