//! DSSE, in-toto and SLSA against the published vectors in testdata/vectors/ (sources and
//! licences in testdata/README.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use poex_core::dsse::{Envelope, pae};
use poex_core::keys::{PublicKey, SecretKey};
use poex_core::statement::{Provenance, Statement, StatementError};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!(
        "../../../testdata/vectors/dsse_intoto_vectors.json"
    ))
    .expect("vector file is JSON")
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{path:?} is a string"))
}

#[test]
fn pae_official_vector() {
    let v = vectors();
    let out = pae(
        s(&v, &["official_vector", "payloadType"]),
        s(&v, &["official_vector", "payload_utf8"]).as_bytes(),
    );
    assert_eq!(hex::encode(&out), s(&v, &["official_vector", "pae_hex"]));
    for case in v["pae_only"].as_array().unwrap() {
        let got = pae(s(case, &["type"]), s(case, &["body"]).as_bytes());
        assert_eq!(String::from_utf8(got).unwrap(), s(case, &["pae"]));
    }
}

#[test]
fn official_envelope_parses_and_its_signature_covers_our_pae() {
    use p256::ecdsa::signature::Verifier as _;
    let v = vectors();
    let env: Envelope = serde_json::from_value(v["official_vector"]["envelope"].clone()).unwrap();
    assert_eq!(env.payload, b"hello world");
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(
        &hex::decode(s(
            &v,
            &["official_vector", "key", "pub_sec1_uncompressed_hex"],
        ))
        .unwrap(),
    )
    .unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&env.signatures[0].sig).unwrap();
    key.verify(&pae(&env.payload_type, &env.payload), &sig)
        .expect("the published P-256 signature verifies over poex's PAE");
    let mut tampered = env.payload.clone();
    tampered[0] ^= 1;
    assert!(
        key.verify(&pae(&env.payload_type, &tampered), &sig)
            .is_err()
    );
}

#[test]
fn ed25519_envelope_reproduced_byte_for_byte() {
    let v = vectors();
    let d = &v["ed25519_derived"];
    let mut seed = [0u8; 32];
    hex::decode_to_slice(s(d, &["seed_hex"]), &mut seed).unwrap();
    let key = SecretKey::from_seed(&seed);
    assert_eq!(hex::encode(key.public().as_bytes()), s(d, &["pub_hex"]));
    let env = Envelope::sign(
        s(d, &["payloadType"]),
        s(d, &["payload_utf8"]).as_bytes().to_vec(),
        &key,
    );
    assert_eq!(STANDARD.encode(&env.signatures[0].sig), s(d, &["sig_b64"]));
    let published: Envelope = serde_json::from_value(d["envelope"].clone()).unwrap();
    assert_eq!(published.payload, env.payload);
    published
        .verify(s(d, &["payloadType"]), &key.public())
        .expect("published envelope verifies");
    let wrong = PublicKey::from_bytes(&[
        0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a, 0xa7, 0x4d, 0x1b, 0x7e,
        0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4, 0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4,
        0x66, 0x0c,
    ])
    .unwrap();
    assert!(published.verify(s(d, &["payloadType"]), &wrong).is_err());
}

#[test]
fn in_toto_statement_rules() {
    let v = vectors();
    let st: Statement<Value> =
        serde_json::from_str(s(&v, &["in_toto_statement_v1", "valid_json"])).unwrap();
    st.validate().unwrap();
    // Round trip: parse, write, same bytes.
    assert_eq!(
        serde_json::to_string(&st).unwrap(),
        s(&v, &["in_toto_statement_v1", "valid_json"])
    );
    for bad in v["in_toto_statement_v1"]["invalid"].as_array().unwrap() {
        let st: Statement<Value> = serde_json::from_str(s(bad, &["json"])).unwrap();
        assert!(matches!(st.validate(), Err(StatementError::WrongType(_))));
    }
    let mut no_subject = st.clone();
    no_subject.subject.clear();
    assert_eq!(no_subject.validate(), Err(StatementError::NoSubject));
    let mut bad_digest = st;
    bad_digest.subject[0]
        .digest
        .insert("sha256".into(), "ABC".into());
    assert!(matches!(
        bad_digest.validate(),
        Err(StatementError::BadDigest { .. })
    ));
}

#[test]
fn slsa_provenance_rules() {
    let v = vectors();
    let p = &v["slsa_provenance_v1_predicate"];
    let good: Provenance = serde_json::from_str(s(p, &["valid_json"])).unwrap();
    good.validate().unwrap();
    assert_eq!(serde_json::to_string(&good).unwrap(), s(p, &["valid_json"]));
    let bad: Provenance = serde_json::from_str(s(p, &["invalid_example", "json"])).unwrap();
    let err = bad.validate().unwrap_err();
    assert_eq!(err.to_string(), s(p, &["invalid_example", "error"]));
}
