//! HTTP Message Signatures (RFC 9421) and Content-Digest (RFC 9530): the published vectors,
//! round trips, and every way a signed request can be refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use poex_core::Signer as _;
use poex_core::httpsig::{
    self, BODY_COMPONENTS, COMPONENTS, HttpSigError, LABEL, Message, Params, Parsed,
};
use poex_core::keys::{PublicKey, SecretKey};
use sha2::{Digest as _, Sha256};

// ---------------------------------------------------------------------------------------
// RFC 9421 Appendix B (HTTP Message Signatures, February 2024), text copied from the RFC
// with its RFC 8792 '\' line wrapping undone.

/// RFC 9421 Appendix B.1.4, "Example Ed25519 Test Key" (`test-key-ed25519`).
const RFC_ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
";
/// RFC 9421 Appendix B.1.4, the public half.
const RFC_ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
";

/// RFC 9421 Appendix B.2, `test-request`:
///
/// ```text
/// POST /foo?param=Value&Pet=dog HTTP/1.1
/// Host: example.com
/// Date: Tue, 20 Apr 2021 02:07:55 GMT
/// Content-Type: application/json
/// Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
/// Content-Length: 18
///
/// {"hello": "world"}
/// ```
const RFC_HEADERS: &[(&str, &str)] = &[
    ("Host", "example.com"),
    ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
    ("Content-Type", "application/json"),
    (
        "Content-Digest",
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    ),
    ("Content-Length", "18"),
];
const RFC_BODY: &[u8] = br#"{"hello": "world"}"#;

fn rfc_request() -> Message<'static> {
    Message {
        method: "POST",
        authority: "example.com",
        path: "/foo",
        query: "param=Value&Pet=dog",
        headers: RFC_HEADERS,
    }
}

/// RFC 9421 Appendix B.2.6, "Signing a Request Using ed25519": the signature base.
const B26_BASE: &str = r#""date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
/// RFC 9421 Appendix B.2.6: the `Signature-Input` value.
const B26_INPUT: &str = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
/// RFC 9421 Appendix B.2.6: the `Signature` value.
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

/// RFC 9421 Appendix B.2.1, "Minimal Signature Using rsa-pss-sha512": no component covered,
/// and `keyid` before `nonce`, the opposite of the order poex writes.
const B21_INPUT: &str =
    r#"sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#;
const B21_SIGNATURE: &str = "sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:";
const B21_BASE: &str = r#""@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#;

/// RFC 9421 Appendix B.2.3, "Full Coverage Using rsa-pss-sha512": every component poex can
/// build, `@query` included.
const B23_INPUT: &str = r#"sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss""#;
const B23_SIGNATURE: &str = "sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:";
const B23_BASE: &str = r#""date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@query": ?param=Value&Pet=dog
"@authority": example.com
"content-type": application/json
"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss""#;

/// RFC 9421 Appendix B.2.2, which covers `"@query-param";name="Pet"`: a component
/// parameter poex does not support.
const B22_INPUT: &str = r#"sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#;

fn rfc_key() -> SecretKey {
    SecretKey::from_pkcs8_pem(RFC_ED25519_PRIVATE).expect("RFC 9421 B.1.4 key is PKCS#8 Ed25519")
}

#[test]
fn rfc9421_b26_sign_reproduces_the_published_signature() {
    let key = rfc_key();
    assert_eq!(
        key.public_key(),
        PublicKey::from_spki_pem(RFC_ED25519_PUBLIC).unwrap(),
        "B.1.4 private and public keys belong together"
    );
    let params = Params::new(
        [
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ],
        1618884473,
    )
    .with_keyid("test-key-ed25519");
    let msg = rfc_request();
    assert_eq!(httpsig::signature_base(&msg, &params).unwrap(), B26_BASE);
    // Ed25519 is deterministic: the same key and base give the RFC's exact bytes.
    let signed = httpsig::sign(&msg, &params, "sig-b26", &key).unwrap();
    assert_eq!(signed.signature_input, B26_INPUT);
    assert_eq!(signed.signature, B26_SIGNATURE);
}

#[test]
fn rfc9421_b26_verify_accepts_the_published_headers() {
    let public = PublicKey::from_spki_pem(RFC_ED25519_PUBLIC).unwrap();
    let parsed = httpsig::parse(B26_INPUT, B26_SIGNATURE, "sig-b26").unwrap();
    assert_eq!(parsed.label, "sig-b26");
    assert_eq!(parsed.params.created, 1618884473);
    assert_eq!(parsed.params.keyid.as_deref(), Some("test-key-ed25519"));
    assert_eq!(parsed.params.expires, None);
    assert_eq!(parsed.signature.len(), 64);
    assert_eq!(parsed.signature_base(&rfc_request()).unwrap(), B26_BASE);
    httpsig::verify(&rfc_request(), &parsed, &public).unwrap();

    // The same request with the body's Content-Length changed no longer verifies.
    let mut headers = RFC_HEADERS.to_vec();
    headers[4] = ("Content-Length", "19");
    let msg = Message {
        headers: &headers,
        ..rfc_request()
    };
    assert!(matches!(
        httpsig::verify(&msg, &parsed, &public),
        Err(HttpSigError::BadSignature { .. })
    ));
}

#[test]
fn rfc9421_b21_keeps_the_received_parameter_order() {
    let parsed = httpsig::parse(B21_INPUT, B21_SIGNATURE, "sig-b21").unwrap();
    assert!(parsed.params.components.is_empty());
    assert_eq!(
        parsed.params.nonce.as_deref(),
        Some("b3k2pp5k7z-50gnwp.yemd")
    );
    assert_eq!(parsed.signature.len(), 256, "an RSA-2048 signature");
    assert_eq!(parsed.signature_base(&rfc_request()).unwrap(), B21_BASE);
    // Re-serializing in poex's own order (nonce before keyid) would be a different base.
    let reordered = Params::new(Vec::<String>::new(), 1618884473)
        .with_keyid("test-key-rsa-pss")
        .with_nonce("b3k2pp5k7z-50gnwp.yemd");
    assert_ne!(
        httpsig::signature_base(&rfc_request(), &reordered).unwrap(),
        B21_BASE
    );
    // RSA-PSS is not poex's algorithm: an Ed25519 key refuses it.
    assert!(matches!(
        httpsig::verify(&rfc_request(), &parsed, &rfc_key().public_key()),
        Err(HttpSigError::BadSignature { .. })
    ));
}

#[test]
fn rfc9421_b23_full_coverage_base() {
    let parsed = httpsig::parse(B23_INPUT, B23_SIGNATURE, "sig-b23").unwrap();
    assert_eq!(parsed.signature_base(&rfc_request()).unwrap(), B23_BASE);
}

#[test]
fn rfc9421_b22_component_parameters_are_refused_by_name() {
    let err = httpsig::parse(B22_INPUT, "sig-b22=:AAAA:", "sig-b22").unwrap_err();
    match &err {
        HttpSigError::UnsupportedComponent { component, reason } => {
            assert_eq!(component, "@query-param");
            assert!(reason.contains(";name"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// RFC 9530 Content-Digest.

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[test]
fn rfc9530_content_digest() {
    // The body of RFC 9421's test-request, 18 bytes without a newline.
    assert_eq!(
        httpsig::content_digest_sha256(&sha256(RFC_BODY)),
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
    // RFC 9530 Appendix B.1: {"hello": "world"} followed by LF.
    let b1_body = b"{\"hello\": \"world\"}\n";
    let b1 = "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:";
    assert_eq!(httpsig::content_digest_sha256(&sha256(b1_body)), b1);
    httpsig::check_content_digest(b1, &sha256(b1_body)).unwrap();
    // RFC 9530 Section 2: the sha-512 of the same body; a dictionary may hold several
    // digests, poex checks only sha-256 and needs it.
    let b1_sha512 = "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:";
    httpsig::check_content_digest(&format!("{b1_sha512}, {b1}"), &sha256(b1_body)).unwrap();
    assert_eq!(
        httpsig::check_content_digest(b1_sha512, &sha256(b1_body)),
        Err(HttpSigError::ContentDigestMissingSha256 {
            found: vec!["sha-512".to_owned()]
        })
    );
    // The same digest does not match the body without its newline.
    assert!(matches!(
        httpsig::check_content_digest(b1, &sha256(RFC_BODY)),
        Err(HttpSigError::ContentDigestMismatch { .. })
    ));
    // An empty body has a digest too.
    httpsig::check_content_digest(
        "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
        &sha256(b""),
    )
    .unwrap();
}

#[test]
fn content_digest_refusals() {
    let digest = sha256(RFC_BODY);
    let malformed = [
        "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", // a token, not bytes
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:", // unpadded
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:,", // trailing comma
        "SHA-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", // keys are lowercase
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-256=:AAAA:", // twice
    ];
    for value in malformed {
        assert!(
            matches!(
                httpsig::check_content_digest(value, &digest),
                Err(HttpSigError::Malformed {
                    field: "Content-Digest",
                    ..
                })
            ),
            "{value}"
        );
    }
    // A digest of the wrong length is a mismatch, not a panic.
    assert!(matches!(
        httpsig::check_content_digest("sha-256=:AAAA:", &digest),
        Err(HttpSigError::ContentDigestMismatch { .. })
    ));
    assert!(matches!(
        httpsig::check_content_digest("", &digest),
        Err(HttpSigError::ContentDigestMissingSha256 { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// poex requests: round trip and tampering.

const NOW: i64 = 1_700_000_000;
const MAX_AGE: i64 = 300;
const NONCE: &str = "6f1c2a9e0b7d4c3f8a5e1d2c3b4a5968";
const JOB: &[u8] = br#"{"payloadType":"application/vnd.poex.job-request+json"}"#;

struct Request {
    method: &'static str,
    authority: &'static str,
    path: &'static str,
    query: &'static str,
    headers: Vec<(&'static str, String)>,
}

impl Request {
    fn post_job() -> Request {
        Request {
            method: "POST",
            authority: "node.example:8443",
            path: "/api/jobs",
            query: "",
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                (
                    "Content-Digest",
                    httpsig::content_digest_sha256(&sha256(JOB)),
                ),
                ("User-Agent", "poex/0.1".to_owned()),
            ],
        }
    }

    fn get_results() -> Request {
        Request {
            method: "GET",
            authority: "node.example:8443",
            path: "/api/jobs/42/results/out%20put.csv",
            query: "download=1",
            headers: vec![("Accept", "*/*".to_owned())],
        }
    }

    fn with<R>(&self, f: impl FnOnce(&Message<'_>) -> R) -> R {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        f(&Message {
            method: self.method,
            authority: self.authority,
            path: self.path,
            query: self.query,
            headers: &headers,
        })
    }

    fn sign(&self, key: &SecretKey, has_body: bool) -> (String, String) {
        let params = Params::poex(has_body, NOW, NOW + 60, NONCE, &key.public_key());
        let signed = self
            .with(|m| httpsig::sign(m, &params, LABEL, key))
            .expect("a poex request signs");
        (signed.signature_input, signed.signature)
    }

    /// Everything the node does, in its order.
    fn accept(
        &self,
        input: &str,
        signature: &str,
        body: Option<&[u8]>,
    ) -> Result<Parsed, HttpSigError> {
        let parsed = httpsig::parse(input, signature, LABEL)?;
        let required = if body.is_some() {
            BODY_COMPONENTS
        } else {
            COMPONENTS
        };
        httpsig::check_policy(&parsed, NOW + 5, MAX_AGE, required)?;
        let key = parsed.public_key()?;
        self.with(|m| httpsig::verify(m, &parsed, &key))?;
        if let Some(body) = body {
            let digest = self
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-digest"))
                .ok_or(HttpSigError::MissingHeader {
                    name: "Content-Digest",
                })?;
            httpsig::check_content_digest(&digest.1, &sha256(body))?;
        }
        Ok(parsed)
    }
}

fn caller() -> SecretKey {
    SecretKey::from_seed(&[9; 32])
}

fn is_bad_signature(r: Result<Parsed, HttpSigError>) -> bool {
    matches!(r, Err(HttpSigError::BadSignature { .. }))
}

#[test]
fn poex_round_trip_with_and_without_body() {
    let key = caller();
    let post = Request::post_job();
    let (input, sig) = post.sign(&key, true);
    assert_eq!(
        input,
        format!(
            "poex=(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-digest\" \"content-type\");created={NOW};expires={};nonce=\"{NONCE}\";keyid=\"{}\";alg=\"ed25519\";tag=\"poex\"",
            NOW + 60,
            key.public_key().to_base64()
        )
    );
    let parsed = post.accept(&input, &sig, Some(JOB)).unwrap();
    assert_eq!(parsed.public_key().unwrap(), key.public_key());
    assert_eq!(parsed.params.tag.as_deref(), Some("poex"));

    let get = Request::get_results();
    let (input, sig) = get.sign(&key, false);
    get.accept(&input, &sig, None).unwrap();
    assert!(
        get.with(|m| httpsig::signature_base(m, &parsed.params))
            .is_err(),
        "a GET has no Content-Digest to cover"
    );
}

#[test]
fn signature_base_of_a_poex_request() {
    let key = caller();
    let params = Params::poex(false, NOW, NOW + 60, NONCE, &key.public_key());
    let req = Request {
        authority: "Node.Example:8443",
        ..Request::get_results()
    };
    let base = req.with(|m| httpsig::signature_base(m, &params)).unwrap();
    assert_eq!(
        base,
        format!(
            "\"@method\": GET\n\"@authority\": node.example:8443\n\"@path\": /api/jobs/42/results/out%20put.csv\n\"@query\": ?download=1\n\"@signature-params\": (\"@method\" \"@authority\" \"@path\" \"@query\");created={NOW};expires={};nonce=\"{NONCE}\";keyid=\"{}\";alg=\"ed25519\";tag=\"poex\"",
            NOW + 60,
            key.public_key().to_base64()
        )
    );
    // No query and an empty path still have values: "?" and "/".
    let bare = Request {
        path: "",
        query: "",
        ..Request::get_results()
    };
    let base = bare.with(|m| httpsig::signature_base(m, &params)).unwrap();
    assert!(base.contains("\"@path\": /\n\"@query\": ?\n"), "{base}");
}

#[test]
fn header_values_are_found_by_any_case_trimmed_and_joined() {
    let key = caller();
    let params = Params::new(["x-multi", "content-type"], NOW);
    let headers = [
        ("X-Multi", "  one "),
        ("content-TYPE", "\ttext/plain "),
        ("x-multi", "two"),
        ("X-Empty", ""),
    ];
    let msg = Message {
        method: "POST",
        authority: "a",
        path: "/",
        query: "",
        headers: &headers,
    };
    let base = httpsig::signature_base(&msg, &params).unwrap();
    assert!(
        base.starts_with("\"x-multi\": one, two\n\"content-type\": text/plain\n"),
        "{base}"
    );
    // A present but empty header is covered as an empty value.
    let empty = Params::new(["x-empty"], NOW);
    assert!(
        httpsig::signature_base(&msg, &empty)
            .unwrap()
            .starts_with("\"x-empty\": \n")
    );
    // What the RFC normalizes away does not break the signature.
    let signed = httpsig::sign(&msg, &params, LABEL, &key).unwrap();
    let parsed = httpsig::parse(&signed.signature_input, &signed.signature, LABEL).unwrap();
    let respaced = [
        ("x-multi", "one"),
        ("Content-Type", "text/plain"),
        ("X-MULTI", "two  "),
    ];
    httpsig::verify(
        &Message {
            headers: &respaced,
            authority: "A",
            ..msg
        },
        &parsed,
        &key.public_key(),
    )
    .unwrap();
    // Order of repeated lines matters.
    let swapped = [
        ("x-multi", "two"),
        ("Content-Type", "text/plain"),
        ("x-multi", "one"),
    ];
    assert!(matches!(
        httpsig::verify(
            &Message {
                headers: &swapped,
                ..msg
            },
            &parsed,
            &key.public_key()
        ),
        Err(HttpSigError::BadSignature { .. })
    ));
}

#[test]
fn any_change_to_a_covered_part_breaks_the_signature() {
    let key = caller();
    let post = Request::post_job();
    let (input, sig) = post.sign(&key, true);

    let changed = [
        Request {
            method: "PUT",
            ..Request::post_job()
        },
        Request {
            method: "post",
            ..Request::post_job()
        },
        Request {
            authority: "other.example:8443",
            ..Request::post_job()
        },
        Request {
            authority: "node.example",
            ..Request::post_job()
        },
        Request {
            path: "/api/jobs/",
            ..Request::post_job()
        },
        Request {
            query: "x=1",
            ..Request::post_job()
        },
    ];
    for req in changed {
        assert!(
            is_bad_signature(req.accept(&input, &sig, Some(JOB))),
            "{} {} {} {}",
            req.method,
            req.authority,
            req.path,
            req.query
        );
    }

    // A covered header changed.
    let mut req = Request::post_job();
    req.headers[0].1 = "application/x-tar".to_owned();
    assert!(is_bad_signature(req.accept(&input, &sig, Some(JOB))));

    // A covered header removed.
    let mut req = Request::post_job();
    req.headers.remove(0);
    assert_eq!(
        req.accept(&input, &sig, Some(JOB)).unwrap_err(),
        HttpSigError::MissingComponent {
            component: "content-type".to_owned()
        }
    );

    // A covered header added twice (an intermediary appending a value).
    let mut req = Request::post_job();
    req.headers.push(("content-type", "text/html".to_owned()));
    assert!(is_bad_signature(req.accept(&input, &sig, Some(JOB))));

    // The body changed, Content-Digest kept: the signature holds, the digest does not.
    let err = post.accept(&input, &sig, Some(b"{}")).unwrap_err();
    assert!(
        matches!(err, HttpSigError::ContentDigestMismatch { .. }),
        "{err:?}"
    );

    // The body and Content-Digest changed together: the signature covers the digest.
    let mut req = Request::post_job();
    req.headers[1].1 = httpsig::content_digest_sha256(&sha256(b"{}"));
    assert!(is_bad_signature(req.accept(&input, &sig, Some(b"{}"))));

    // An uncovered header may change.
    let mut req = Request::post_job();
    req.headers[2].1 = "curl/8".to_owned();
    req.headers.push(("X-Forwarded-For", "10.0.0.1".to_owned()));
    req.accept(&input, &sig, Some(JOB)).unwrap();
}

#[test]
fn the_wrong_key_or_edited_parameters_break_the_signature() {
    let key = caller();
    let post = Request::post_job();
    let (input, sig) = post.sign(&key, true);

    // Another key, claimed through keyid: verify with the key the caller claims to be.
    let other = SecretKey::from_seed(&[10; 32]);
    let claimed = input.replace(
        &key.public_key().to_base64(),
        &other.public_key().to_base64(),
    );
    assert!(is_bad_signature(post.accept(&claimed, &sig, Some(JOB))));
    // Or verified against a key the node expected.
    let parsed = httpsig::parse(&input, &sig, LABEL).unwrap();
    let err = post
        .with(|m| httpsig::verify(m, &parsed, &other.public_key()))
        .unwrap_err();
    assert_eq!(
        err,
        HttpSigError::BadSignature {
            label: "poex".to_owned(),
            key_id: other.public_key().key_id().to_string()
        }
    );

    // created, expires, nonce, tag, component order: all signed.
    let edits = [
        input.replace(&format!("created={NOW}"), &format!("created={}", NOW + 1)),
        input.replace(
            &format!("expires={}", NOW + 60),
            &format!("expires={}", NOW + 61),
        ),
        input.replace(NONCE, "00000000000000000000000000000000"),
        input.replace("tag=\"poex\"", "tag=\"poey\""),
        input.replace("\"@method\" \"@authority\"", "\"@authority\" \"@method\""),
        input.replace(";alg=\"ed25519\"", ""),
    ];
    for edited in edits {
        assert_ne!(edited, input);
        assert!(
            is_bad_signature(post.accept(&edited, &sig, Some(JOB))),
            "{edited}"
        );
    }

    // A flipped signature bit.
    let mut bytes = STANDARD
        .decode(&sig["poex=:".len()..sig.len() - 1])
        .unwrap();
    bytes[10] ^= 1;
    let flipped = format!("poex=:{}:", STANDARD.encode(&bytes));
    assert!(is_bad_signature(post.accept(&input, &flipped, Some(JOB))));

    // Dropping the content-digest coverage is a policy failure before any crypto.
    let (get_input, get_sig) = Request::post_job().sign(&key, false);
    assert!(matches!(
        post.accept(&get_input, &get_sig, Some(JOB)),
        Err(HttpSigError::NotCovered { component, .. }) if component == "content-digest"
    ));
}

#[test]
fn whitespace_and_other_signatures_in_the_headers() {
    let key = caller();
    let post = Request::post_job();
    let (input, sig) = post.sign(&key, true);
    // Other labels beside ours, extra (insignificant) whitespace in the inner list.
    let spaced =
        input
            .replace("(\"@method\" ", "( \"@method\"   ")
            .replacen(";created", "; created", 1);
    let input2 = format!("other=(\"@method\");created=1, {spaced}");
    let sig2 = format!("{sig} ,\tother=:AAAA:");
    let parsed = post.accept(&input2, &sig2, Some(JOB)).unwrap();
    assert_eq!(parsed.signature_params, input["poex=".len()..]);
    // A label we were not asked for is not ours.
    assert_eq!(
        httpsig::parse(&input2, &sig2, "sig1").unwrap_err(),
        HttpSigError::UnknownLabel {
            field: "Signature-Input",
            label: "sig1".to_owned(),
            found: vec!["other".to_owned(), "poex".to_owned()]
        }
    );
    assert!(matches!(
        httpsig::parse(&input, "other=:AAAA:", LABEL),
        Err(HttpSigError::UnknownLabel {
            field: "Signature",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------
// Malformed headers.

fn parse_err(input: &str, signature: &str) -> HttpSigError {
    httpsig::parse(input, signature, LABEL).expect_err(input)
}

const SIG_OK: &str = "poex=:AAAA:";

#[test]
fn malformed_signature_input_is_refused_with_a_position() {
    let cases: &[(&str, usize)] = &[
        ("poex=(\"@method\" \"@path\";created=1", 33), // inner list never closed
        ("poex=(\"@method\"", 15),                     // inner list not closed at the end
        ("poex=(\"@method\"\"@path\");created=1", 15), // items not separated by a space
        ("poex=(@method);created=1", 6),               // component not a string
        ("poex=(\"@method\")created=1", 16),           // ';' missing
        ("poex=(\"@method\");created=1,", 27),         // trailing comma
        ("poex=(\"@method\");created=1;created=2", 27), // duplicate parameter
        ("poex=(\"@method\");created=1, poex=()", 28), // duplicate label
        ("Poex=(\"@method\");created=1", 0),           // uppercase key
        ("poex=(\"@method\");created=12345678901234567", 25), // more than 15 digits
        ("poex=(\"@method\");nonce=\"caf\u{e9}\";created=1", 27), // non-ASCII in a string
    ];
    for (input, position) in cases {
        match parse_err(input, SIG_OK) {
            HttpSigError::Malformed {
                field: "Signature-Input",
                position: p,
                reason,
            } => assert_eq!(p, *position, "{input}: {reason}"),
            other => panic!("{input}: {other:?}"),
        }
    }
    // Well-formed structured fields that are not a poex signature.
    let not_a_list = parse_err("poex=\"@method\"", SIG_OK);
    assert!(
        matches!(
            not_a_list,
            HttpSigError::Malformed {
                field: "Signature-Input",
                position: 5,
                ..
            }
        ),
        "{not_a_list:?}"
    );
    let e = parse_err("poex=(\"@method\");created=1.5", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::BadParameter { name, .. } if name == "created"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"@method\");created=\"1\"", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::BadParameter { name, .. } if name == "created"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"@method\");nonce=abc;created=1", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::BadParameter { name, .. } if name == "nonce"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"@method\");expires=5", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::BadParameter { name, .. } if name == "created"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"@method\");created=1;foo=1", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::BadParameter { name, .. } if name == "foo"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"Content-Type\");created=1", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::UnsupportedComponent { component, .. } if component == "Content-Type"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"@path\" \"@path\");created=1", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::UnsupportedComponent { component, .. } if component == "@path"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"@target-uri\");created=1", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::UnsupportedComponent { component, .. } if component == "@target-uri"),
        "{e:?}"
    );
    let e = parse_err("poex=(\"@signature-params\");created=1", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::UnsupportedComponent { .. }),
        "{e:?}"
    );
    let e = parse_err("poex=(\"content-type\";sf);created=1", SIG_OK);
    assert!(
        matches!(&e, HttpSigError::UnsupportedComponent { .. }),
        "{e:?}"
    );
}

#[test]
fn malformed_signature_is_refused() {
    let input = "poex=(\"@method\");created=1";
    let cases: &[(&str, usize)] = &[
        ("poex=:AAA:", 6),      // not padded
        ("poex=:AA AA:", 8),    // space inside
        ("poex=:AAAA", 10),     // not closed
        ("poex=AAAA", 5),       // a token... parses, but is not bytes: position of the value
        ("poex=:AAAA:;x=1", 5), // parameters on the signature
        ("poex=(:AAAA:)", 5),   // an inner list
    ];
    for (sig, position) in cases {
        match parse_err(input, sig) {
            HttpSigError::Malformed {
                field: "Signature",
                position: p,
                reason,
            } => assert_eq!(p, *position, "{sig}: {reason}"),
            other => panic!("{sig}: {other:?}"),
        }
    }
}

#[test]
fn error_messages_tell_the_client_what_to_do() {
    let e = parse_err("poex=(\"@method\"\"@path\");created=1", SIG_OK);
    assert_eq!(
        e.to_string(),
        "malformed Signature-Input header at byte 15: expected a space or ')' after an inner list item, found '\"'"
    );
    let e = parse_err("poex=(\"@method\" \"@path\";created=1", SIG_OK);
    assert_eq!(
        e.to_string(),
        "malformed Signature-Input header at byte 33: expected a space or ')' after an inner list item, found the end of the value"
    );
    let e = parse_err("poex=(\"@method\");expires=5", SIG_OK);
    assert_eq!(
        e.to_string(),
        "signature parameter \"created\": is missing; add ;created=<Unix seconds>"
    );
    let e = HttpSigError::MissingComponent {
        component: "content-type".to_owned(),
    };
    assert!(e.to_string().contains("send the header"));
    let e = httpsig::check_content_digest("sha-512=:AAAA:", &[0; 32]).unwrap_err();
    assert!(
        e.to_string()
            .contains("sha-256=:<base64 SHA-256 of the body>:"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Signing refuses what it cannot express.

#[test]
fn sign_refuses_what_cannot_be_signed() {
    let key = caller();
    let req = Request::get_results();
    let ok = Params::poex(false, NOW, NOW + 60, NONCE, &key.public_key());
    for label in ["Poex", "", "1abc", "po ex"] {
        assert!(matches!(
            req.with(|m| httpsig::sign(m, &ok, label, &key)),
            Err(HttpSigError::BadLabel { .. })
        ));
    }
    let bad = [
        ok.clone().with_nonce("caf\u{e9}"),
        ok.clone().with_tag("a\nb"),
        Params::new(["@method"], 10_i64.pow(15)),
    ];
    for params in bad {
        assert!(
            matches!(
                req.with(|m| httpsig::sign(m, &params, LABEL, &key)),
                Err(HttpSigError::BadParameter { .. })
            ),
            "{params:?}"
        );
    }
    for component in [
        "@status",
        "@target-uri",
        "Accept",
        "bad header",
        "@method;x",
    ] {
        let params = Params::new(["@path", component], NOW);
        assert!(
            matches!(
                req.with(|m| httpsig::sign(m, &params, LABEL, &key)),
                Err(HttpSigError::UnsupportedComponent { .. })
            ),
            "{component}"
        );
    }
    // A value with a line break would forge a line of the base.
    let headers = [("X-A", "one\n\"@method\": GET")];
    let msg = Message {
        method: "POST",
        authority: "a",
        path: "/",
        query: "",
        headers: &headers,
    };
    assert_eq!(
        httpsig::sign(&msg, &Params::new(["x-a"], NOW), LABEL, &key).unwrap_err(),
        HttpSigError::BadComponentValue {
            component: "x-a".to_owned()
        }
    );
    // Strings are escaped, and parse back.
    let quoted = Params::new(["@method"], NOW).with_keyid("a \"b\" \\c");
    let signed = req
        .with(|m| httpsig::sign(m, &quoted, LABEL, &key))
        .unwrap();
    assert!(
        signed.signature_input.ends_with(r#";keyid="a \"b\" \\c""#),
        "{}",
        signed.signature_input
    );
    let parsed = httpsig::parse(&signed.signature_input, &signed.signature, LABEL).unwrap();
    assert_eq!(parsed.params, quoted);
    req.with(|m| httpsig::verify(m, &parsed, &key.public_key()))
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Policy.

fn policy(params: Params, now: i64) -> Result<(), HttpSigError> {
    let key = caller();
    let req = Request::get_results();
    let signed = req
        .with(|m| httpsig::sign(m, &params, LABEL, &key))
        .expect("policy cases sign");
    let parsed = httpsig::parse(&signed.signature_input, &signed.signature, LABEL)
        .expect("what sign writes parses");
    httpsig::check_policy(&parsed, now, MAX_AGE, COMPONENTS)
}

fn poex_params(created: i64, expires: i64, nonce: &str) -> Params {
    Params::poex(false, created, expires, nonce, &caller().public_key())
}

#[test]
fn policy_time_window() {
    let p = |c, e| poex_params(c, e, NONCE);
    policy(p(NOW, NOW + 60), NOW).unwrap();
    policy(p(NOW, NOW + MAX_AGE), NOW + MAX_AGE - 1).unwrap();
    // Up to 60 s of clock skew is allowed, not 61.
    policy(p(NOW + 60, NOW + 120), NOW).unwrap();
    assert_eq!(
        policy(p(NOW + 61, NOW + 120), NOW),
        Err(HttpSigError::CreatedInFuture {
            created: NOW + 61,
            now: NOW
        })
    );
    // Expired: at expires exactly, and after.
    assert_eq!(
        policy(p(NOW - 60, NOW), NOW),
        Err(HttpSigError::Expired {
            expires: NOW,
            now: NOW
        })
    );
    assert!(matches!(
        policy(p(NOW - 600, NOW - 300), NOW),
        Err(HttpSigError::Expired { .. })
    ));
    // Too long a lifetime, or none.
    assert_eq!(
        policy(p(NOW, NOW + MAX_AGE + 1), NOW),
        Err(HttpSigError::BadLifetime {
            lifetime: MAX_AGE + 1,
            max: MAX_AGE
        })
    );
    assert!(matches!(
        policy(p(NOW + 30, NOW + 10), NOW),
        Err(HttpSigError::BadLifetime { .. })
    ));
    let mut no_expiry = p(NOW, NOW + 60);
    no_expiry.expires = None;
    assert_eq!(policy(no_expiry, NOW), Err(HttpSigError::MissingExpires));
}

#[test]
fn policy_nonce_keyid_alg_coverage() {
    let n = |nonce: &str| poex_params(NOW, NOW + 60, nonce);
    policy(n(&"a".repeat(16)), NOW).unwrap();
    policy(n(&"a".repeat(128)), NOW).unwrap();
    assert_eq!(
        policy(n(&"a".repeat(15)), NOW),
        Err(HttpSigError::BadNonce { len: 15 })
    );
    assert_eq!(
        policy(n(&"a".repeat(129)), NOW),
        Err(HttpSigError::BadNonce { len: 129 })
    );
    let mut p = n(NONCE);
    p.nonce = None;
    assert_eq!(policy(p, NOW), Err(HttpSigError::MissingNonce));

    let mut p = n(NONCE);
    p.keyid = None;
    assert_eq!(policy(p, NOW), Err(HttpSigError::MissingKeyId));
    let mut p = n(NONCE);
    p.alg = None;
    policy(p, NOW).unwrap();
    let p = n(NONCE).with_alg("hmac-sha256");
    assert_eq!(
        policy(p, NOW),
        Err(HttpSigError::UnsupportedAlgorithm {
            alg: "hmac-sha256".to_owned()
        })
    );

    let mut p = n(NONCE);
    p.components.retain(|c| c != "@query");
    assert_eq!(
        policy(p, NOW),
        Err(HttpSigError::NotCovered {
            component: "@query".to_owned(),
            required: COMPONENTS.iter().map(|c| (*c).to_owned()).collect()
        })
    );
}

#[test]
fn keyid_must_be_a_public_key() {
    let key = caller();
    let req = Request::get_results();
    for keyid in ["test-key-ed25519", "AAAA", ""] {
        let params = Params::new(COMPONENTS.iter().copied(), NOW).with_keyid(keyid);
        let signed = req
            .with(|m| httpsig::sign(m, &params, LABEL, &key))
            .unwrap();
        let parsed = httpsig::parse(&signed.signature_input, &signed.signature, LABEL).unwrap();
        assert_eq!(
            parsed.public_key(),
            Err(HttpSigError::BadKeyId {
                keyid: keyid.to_owned()
            })
        );
    }
    // alg other than ed25519 is refused by verify too, not only by the policy.
    let params = Params::new(COMPONENTS.iter().copied(), NOW).with_alg("rsa-pss-sha512");
    let signed = req
        .with(|m| httpsig::sign(m, &params, LABEL, &key))
        .unwrap();
    let parsed = httpsig::parse(&signed.signature_input, &signed.signature, LABEL).unwrap();
    assert!(matches!(
        req.with(|m| httpsig::verify(m, &parsed, &key.public_key())),
        Err(HttpSigError::UnsupportedAlgorithm { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// docs/httpsig.md's worked example is what this code signs.

/// The fenced block after `<!-- example:NAME -->` in docs/httpsig.md.
fn doc_block(name: &str) -> &'static str {
    const DOC: &str = include_str!("../../../docs/httpsig.md");
    let marker = format!("<!-- example:{name} -->\n```text\n");
    let start = DOC.find(&marker).expect("marker in docs/httpsig.md") + marker.len();
    let len = DOC[start..].find("\n```").expect("closing fence");
    &DOC[start..start + len]
}

#[test]
fn doc_example_is_what_poex_signs() {
    let key = SecretKey::from_seed(&[42; 32]);
    let content_digest = httpsig::content_digest_sha256(&sha256(RFC_BODY));
    let headers = [
        ("Content-Type", "application/json"),
        ("Content-Digest", content_digest.as_str()),
    ];
    let msg = Message {
        method: "POST",
        authority: "node.example:8443",
        path: "/api/jobs",
        query: "",
        headers: &headers,
    };
    let params = Params::poex(true, 1700000000, 1700000060, NONCE, &key.public_key());
    assert_eq!(
        httpsig::signature_base(&msg, &params).unwrap(),
        doc_block("base")
    );
    let signed = httpsig::sign(&msg, &params, LABEL, &key).unwrap();
    let expected = format!(
        "Content-Type: application/json\nContent-Digest: {content_digest}\nSignature-Input: {}\nSignature: {}",
        signed.signature_input, signed.signature
    );
    assert_eq!(doc_block("headers"), expected);
}
