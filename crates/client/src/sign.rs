//! Signing a request the way a node checks it: RFC 9421 HTTP Message Signatures by the
//! caller's Ed25519 key.
//!
//! Label `poex`, the components [`httpsig::COMPONENTS`] (no body) or
//! [`httpsig::BODY_COMPONENTS`] (with one, then `Content-Digest` carries the body's SHA-256),
//! `created` now, `expires` a minute later, a fresh 128-bit nonce, `keyid` the base64 public
//! key, `alg="ed25519"`, `tag="poex"`. The node's side is `poex_node::auth`.

use poex_core::httpsig::{self, HttpSigError, Message};

/// The headers that sign a request: `content-type` and `content-digest` when there is a body,
/// then `signature-input` and `signature`. `path_and_query` is what the request line carries
/// (already percent-encoded, with any prefix); `body` is its content type and SHA-256; `now`
/// the Unix time the signature is created at.
pub fn sign_request(
    signer: &dyn poex_core::Signer,
    method: &str,
    authority: &str,
    path_and_query: &str,
    body: Option<(&str, [u8; 32])>,
    now: i64,
) -> Result<Vec<(String, String)>, HttpSigError> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some((content_type, sha)) = body {
        headers.push(("content-type".into(), content_type.to_owned()));
        headers.push((
            "content-digest".into(),
            httpsig::content_digest_sha256(&sha),
        ));
    }
    // 128 random bits; if the system has no randomness, the time and the caller's key still
    // make a nonce unique per second, which the node's replay check then enforces.
    let nonce = poex_core::request::random_hex16()
        .unwrap_or_else(|_| format!("{now:016x}{}", &signer.public_key().key_id().short()));
    let params = httpsig::Params::poex(body.is_some(), now, now + 60, &nonce, &signer.public_key());
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let message = Message {
        method,
        authority,
        path,
        query,
        headers: &pairs,
    };
    let signed = httpsig::sign(&message, &params, httpsig::LABEL, signer)?;
    headers.push(("signature-input".into(), signed.signature_input));
    headers.push(("signature".into(), signed.signature));
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use poex_core::Signer as _;
    use poex_core::keys::SecretKey;

    use super::*;

    #[test]
    fn a_signed_request_verifies_under_the_policy_a_node_applies() {
        let key = SecretKey::from_seed(&[3; 32]);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signed = sign_request(
            &key,
            "POST",
            "h:1",
            "/api/jobs?x=1",
            Some(("application/json", [0; 32])),
            now,
        )
        .unwrap();
        let get = |n: &str| signed.iter().find(|(k, _)| k == n).unwrap().1.clone();
        let parsed = httpsig::parse(&get("signature-input"), &get("signature"), "poex").unwrap();
        httpsig::check_policy(&parsed, now, 300, httpsig::BODY_COMPONENTS).unwrap();
        let pairs: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut msg = Message {
            method: "POST",
            authority: "h:1",
            path: "/api/jobs",
            query: "x=1",
            headers: &pairs,
        };
        httpsig::verify(&msg, &parsed, &key.public_key()).unwrap();
        msg.query = "x=2";
        assert!(httpsig::verify(&msg, &parsed, &key.public_key()).is_err());
    }
}
