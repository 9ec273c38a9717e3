//! RFC 9180's published vector for the stanza suite: Appendix A.2.1, base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 (source named in the JSON).
//!
//! Both sides are deterministic given the vector's IKMs, so both are checked: the key pairs
//! derived from `ikmR`/`ikmE`, the receiver opening every listed encryption with `skRm` and
//! `enc`, the sender (its ephemeral key derived from `ikmE`) producing `enc` and every listed
//! ciphertext, and the exported values. Sequence 0 goes through the crate's own one-shot
//! functions, which the `hpke-x25519` stanza uses; the multi-message context uses the hpke
//! crate with the crate's suite types.

#![expect(clippy::unwrap_used, reason = "tests")]

use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use poex_seal::{Identity, Recipient, suite};
use serde_json::Value;
use zeroize::Zeroizing;

const VECTOR: &str = include_str!("vectors/rfc9180-a.2.1-base.json");

fn hex_field(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().unwrap()).unwrap()
}

fn array(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().unwrap()
}

/// Hands out the vector's `ikmE` as the sender's "randomness" (DHKEM draws exactly 32 bytes).
struct Fixed(Vec<u8>);

impl hpke::rand_core::TryRng for Fixed {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("DHKEM(X25519) draws its IKM with fill_bytes")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("DHKEM(X25519) draws its IKM with fill_bytes")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert!(dst.len() <= self.0.len(), "more randomness than ikmE");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl hpke::rand_core::TryCryptoRng for Fixed {}

#[test]
fn the_suite_is_the_vectors_suite() {
    let v: Value = serde_json::from_str(VECTOR).unwrap();
    assert_eq!(v["mode"], 0);
    assert_eq!(v["kem_id"], u64::from(suite::KEM_ID));
    assert_eq!(v["kdf_id"], u64::from(suite::KDF_ID));
    assert_eq!(v["aead_id"], u64::from(suite::AEAD_ID));
    assert_eq!(<suite::Kem as hpke::Kem>::KEM_ID, suite::KEM_ID);
    assert_eq!(<suite::Kdf as hpke::kdf::Kdf>::KDF_ID, suite::KDF_ID);
    assert_eq!(<suite::Aead as hpke::aead::Aead>::AEAD_ID, suite::AEAD_ID);
}

#[test]
fn key_pairs_derive_from_ikm() {
    let v: Value = serde_json::from_str(VECTOR).unwrap();
    let receiver = Identity::derive(&hex_field(&v, "ikmR"));
    assert_eq!(
        receiver.recipient(),
        Recipient::from_bytes(array(&hex_field(&v, "pkRm")))
    );
    let from_sk =
        Identity::from_secret_bytes(Zeroizing::new(array(&hex_field(&v, "skRm")))).unwrap();
    assert_eq!(from_sk.recipient(), receiver.recipient());
    // Same secret too (compared through the text form, the only way it leaves the type; both
    // are clamped as RFC 9180 7.1.2 says SerializePrivateKey must, and skRm is printed
    // unclamped in the RFC).
    assert_eq!(*from_sk.to_text(), *receiver.to_text());
    let ephemeral = Identity::derive(&hex_field(&v, "ikmE"));
    assert_eq!(
        ephemeral.recipient().to_bytes(),
        array(&hex_field(&v, "pkEm"))
    );
    assert_eq!(hex_field(&v, "pkEm"), hex_field(&v, "enc"));
}

#[test]
fn one_shot_open_and_seal_at_sequence_0() {
    let v: Value = serde_json::from_str(VECTOR).unwrap();
    let info = hex_field(&v, "info");
    let e0 = &v["encryptions"][0];
    assert_eq!(e0["sequence_number"], 0);
    let (pt, aad, ct) = (
        hex_field(e0, "pt"),
        hex_field(e0, "aad"),
        hex_field(e0, "ct"),
    );
    let enc = array(&hex_field(&v, "enc"));

    let receiver =
        Identity::from_secret_bytes(Zeroizing::new(array(&hex_field(&v, "skRm")))).unwrap();
    let opened = suite::open_base(&receiver, &enc, &info, &aad, &ct).unwrap();
    assert_eq!(*opened, pt);

    let ikm_e = array(&hex_field(&v, "ikmE"));
    let (enc_out, ct_out) =
        suite::dangerous_seal_base(&receiver.recipient(), &ikm_e, &info, &aad, &pt).unwrap();
    assert_eq!(enc_out, enc);
    assert_eq!(ct_out, ct);

    // The wrong key, the wrong info, the wrong aad, a flipped byte: nothing opens.
    let other = Identity::derive(&[1; 32]);
    assert!(suite::open_base(&other, &enc, &info, &aad, &ct).is_err());
    assert!(suite::open_base(&receiver, &enc, b"other info", &aad, &ct).is_err());
    assert!(suite::open_base(&receiver, &enc, &info, b"Count-1", &ct).is_err());
    let mut flipped = ct.clone();
    flipped[3] ^= 0x80;
    assert!(suite::open_base(&receiver, &enc, &info, &aad, &flipped).is_err());
}

#[test]
fn every_listed_encryption_and_export() {
    let v: Value = serde_json::from_str(VECTOR).unwrap();
    let info = hex_field(&v, "info");
    let pk_r = <suite::Kem as hpke::Kem>::PublicKey::from_bytes(&hex_field(&v, "pkRm")).unwrap();
    let sk_r = <suite::Kem as hpke::Kem>::PrivateKey::from_bytes(&hex_field(&v, "skRm")).unwrap();
    let mut rng = Fixed(hex_field(&v, "ikmE"));
    let (enc, mut sender) = hpke::setup_sender_with_rng::<suite::Aead, suite::Kdf, suite::Kem>(
        &OpModeS::Base,
        &pk_r,
        &info,
        &mut rng,
    )
    .unwrap();
    assert_eq!(enc.to_bytes().as_slice(), hex_field(&v, "enc").as_slice());
    let enc = <suite::Kem as hpke::Kem>::EncappedKey::from_bytes(&hex_field(&v, "enc")).unwrap();
    let mut receiver = hpke::setup_receiver::<suite::Aead, suite::Kdf, suite::Kem>(
        &OpModeR::Base,
        &sk_r,
        &enc,
        &info,
    )
    .unwrap();

    let listed = v["encryptions"].as_array().unwrap();
    assert_eq!(listed.len(), 6);
    let pt = hex_field(&listed[0], "pt");
    let mut checked = 0;
    // The contexts count messages: walk every sequence number up to the last one listed,
    // sealing the unlisted ones with the vector's plaintext and "Count-<seq>" as aad.
    for seq in 0..=256u64 {
        let aad = format!("Count-{seq}").into_bytes();
        let ct = sender.seal(&pt, &aad).unwrap();
        let wanted = listed.iter().find(|e| e["sequence_number"] == seq);
        if let Some(e) = wanted {
            assert_eq!(aad, hex_field(e, "aad"), "seq {seq}");
            assert_eq!(ct, hex_field(e, "ct"), "sender, seq {seq}");
            checked += 1;
        }
        // The receiver opens the vector's bytes where listed, the sender's elsewhere.
        let to_open = wanted.map(|e| hex_field(e, "ct")).unwrap_or(ct);
        assert_eq!(
            receiver.open(&to_open, &aad).unwrap(),
            pt,
            "receiver, seq {seq}"
        );
    }
    assert_eq!(checked, 6);

    for e in v["exports"].as_array().unwrap() {
        let context = hex_field(e, "exporter_context");
        let mut out = vec![0u8; usize::try_from(e["L"].as_u64().unwrap()).unwrap()];
        receiver.export(&context, &mut out).unwrap();
        assert_eq!(out, hex_field(e, "exported_value"));
        sender.export(&context, &mut out).unwrap();
        assert_eq!(out, hex_field(e, "exported_value"));
    }
}
