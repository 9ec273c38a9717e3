//! HTTP Message Signatures (RFC 9421) and `Content-Digest` (RFC 9530): the subset poex
//! speaks, sans-IO.
//!
//! Everything here takes plain strings and bytes, never an HTTP library's types, so the node
//! (axum) and the CLI (ureq) share one implementation: the caller copies the method,
//! authority, path, query and headers into a [`Message`], and gets header values back as
//! strings.
//!
//! What a poex request carries (see `docs/httpsig.md`):
//!
//! ```text
//! Content-Digest: sha-256=:<base64 SHA-256 of the body>:
//! Signature-Input: poex=("@method" "@authority" "@path" "@query" "content-digest" "content-type");created=1700000000;expires=1700000060;nonce="...";keyid="<base64 public key>";alg="ed25519";tag="poex"
//! Signature: poex=:<base64 Ed25519 signature over the signature base>:
//! ```
//!
//! The pieces:
//!
//! - [`sign`] builds the signature base (RFC 9421 §2.5) from a [`Message`] and [`Params`],
//!   signs it with a [`Signer`] and returns the `Signature-Input` and `Signature` values.
//! - [`parse`] reads those two headers (RFC 8941 dictionaries, parsed strictly) into a
//!   [`Parsed`] signature; [`verify`] checks it against a [`PublicKey`];
//!   [`check_policy`] applies poex's rules (time window, nonce, key id, covered components).
//! - [`content_digest_sha256`] and [`check_content_digest`] write and check `Content-Digest`.
//!
//! What is deliberately left out: algorithms other than `ed25519`; derived components other
//! than `@method`, `@authority`, `@path`, `@query`; component parameters (`;sf`, `;key`,
//! `;bs`, `;req`, `;tr`, `@query-param;name`); signature parameters outside the RFC 9421
//! registry. Each is refused with an error that names it, never silently ignored. Replay
//! protection (remembering nonces) needs state and lives in the node.
//!
//! ```
//! use poex_core::httpsig::{self, Message, Params};
//! use poex_core::keys::SecretKey;
//! use poex_core::Signer as _;
//!
//! let key = SecretKey::from_seed(&[7; 32]);
//! let headers = [("Accept", "application/json")];
//! let msg = Message {
//!     method: "GET",
//!     authority: "node.example:8080",
//!     path: "/api/jobs/42/results",
//!     query: "",
//!     headers: &headers,
//! };
//! let params = Params::poex(false, 1_700_000_000, 1_700_000_060, "0123456789abcdef0123", &key.public_key());
//! let signed = httpsig::sign(&msg, &params, httpsig::LABEL, &key).unwrap();
//!
//! // The receiving side.
//! let parsed = httpsig::parse(&signed.signature_input, &signed.signature, httpsig::LABEL).unwrap();
//! httpsig::check_policy(&parsed, 1_700_000_010, 300, httpsig::COMPONENTS).unwrap();
//! let caller = parsed.public_key().unwrap();
//! httpsig::verify(&msg, &parsed, &caller).unwrap();
//! ```

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq as _;

use crate::keys::{PublicKey, Signer};

/// The signature label poex uses in `Signature-Input` and `Signature`.
pub const LABEL: &str = "poex";
/// The `tag` parameter poex signatures carry, so a poex signature is not mistaken for one
/// made for another application with the same key (RFC 9421 §7.2.5).
pub const TAG: &str = "poex";
/// The only algorithm accepted in the `alg` parameter.
pub const ALG: &str = "ed25519";
/// Components every signed poex request covers, in this order.
pub const COMPONENTS: &[&str] = &["@method", "@authority", "@path", "@query"];
/// Components a signed poex request with a body covers, in this order.
pub const BODY_COMPONENTS: &[&str] = &[
    "@method",
    "@authority",
    "@path",
    "@query",
    "content-digest",
    "content-type",
];
/// How far in the future `created` may be, to allow for clock skew between caller and node.
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;
/// Shortest accepted nonce, in characters.
pub const MIN_NONCE_LEN: usize = 16;
/// Longest accepted nonce, in characters.
pub const MAX_NONCE_LEN: usize = 128;

/// Largest magnitude of an RFC 8941 integer (15 decimal digits).
const MAX_SF_INTEGER: i64 = 999_999_999_999_999;

/// Why a signature or a `Content-Digest` was refused, or could not be made.
///
/// Messages are written for the client: what is wrong and what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSigError {
    /// A header the operation needs is absent (raised by callers that look headers up).
    #[error(
        "the request has no {name} header; signed poex requests carry Signature-Input and Signature (and Content-Digest with a body), see docs/httpsig.md"
    )]
    MissingHeader {
        /// The header's name, e.g. `Signature-Input`.
        name: &'static str,
    },
    /// A structured field (RFC 8941) does not parse.
    #[error("malformed {field} header at byte {position}: {reason}")]
    Malformed {
        /// Which header: `Signature-Input`, `Signature` or `Content-Digest`.
        field: &'static str,
        /// Byte offset into the header value where parsing stopped.
        position: usize,
        /// What was expected there.
        reason: String,
    },
    /// The header has no member with the expected label.
    #[error(
        "{field} has no signature labelled {label:?} (labels present: {found:?}); sign with label {label:?} in both Signature-Input and Signature"
    )]
    UnknownLabel {
        /// `Signature-Input` or `Signature`.
        field: &'static str,
        /// The label looked for.
        label: String,
        /// The labels the header does have.
        found: Vec<String>,
    },
    /// A signature label is not an RFC 8941 key.
    #[error(
        "signature label {label:?} is not valid: use lowercase letters, digits, '_', '-', '.', '*', starting with a letter or '*'"
    )]
    BadLabel {
        /// The offending label.
        label: String,
    },
    /// A covered component identifier is not one poex can build.
    #[error("covered component {component:?} is not supported: {reason}")]
    UnsupportedComponent {
        /// The component identifier as written.
        component: String,
        /// Why, and what to cover instead.
        reason: String,
    },
    /// A covered header is absent from the message.
    #[error(
        "the signature covers {component:?} but the request has no such header; send the header, or sign without covering it"
    )]
    MissingComponent {
        /// The lowercase header name.
        component: String,
    },
    /// A component value would break the line structure of the signature base.
    #[error(
        "the value of {component:?} contains a control character (CR, LF, NUL, ...); it cannot be signed"
    )]
    BadComponentValue {
        /// The component whose value was refused.
        component: String,
    },
    /// A signature parameter is missing, duplicated, unknown or of the wrong type.
    #[error("signature parameter {name:?}: {reason}")]
    BadParameter {
        /// The parameter's name.
        name: String,
        /// What is wrong and what to send instead.
        reason: String,
    },
    /// The signature does not verify.
    #[error(
        "signature {label:?} does not verify under key {key_id}: the request was changed after signing (method, authority, path, query or a covered header), the signature base was built differently (see docs/httpsig.md), or another key signed it"
    )]
    BadSignature {
        /// The signature's label.
        label: String,
        /// The key it was checked against (hex SHA-256 of its SubjectPublicKeyInfo).
        key_id: String,
    },
    /// `alg` names an algorithm other than `ed25519`.
    #[error("signature algorithm {alg:?} is not supported; poex signatures use alg=\"ed25519\"")]
    UnsupportedAlgorithm {
        /// The `alg` parameter as received.
        alg: String,
    },
    /// `keyid` is not the base64 of a 32-byte Ed25519 public key.
    #[error(
        "keyid {keyid:?} is not an Ed25519 public key: poex expects keyid=\"<standard base64 of the 32 public key bytes>\""
    )]
    BadKeyId {
        /// The `keyid` parameter as received.
        keyid: String,
    },
    /// `Content-Digest` has no `sha-256` member.
    #[error(
        "Content-Digest has no sha-256 digest (found: {found:?}); send Content-Digest: sha-256=:<base64 SHA-256 of the body>:"
    )]
    ContentDigestMissingSha256 {
        /// The algorithms the header does name.
        found: Vec<String>,
    },
    /// `Content-Digest`'s `sha-256` does not match the body received.
    #[error(
        "Content-Digest sha-256=:{received}: does not match the body received (its SHA-256 is :{computed}:); digest the exact body bytes sent"
    )]
    ContentDigestMismatch {
        /// Base64 of the SHA-256 of the body as received.
        computed: String,
        /// Base64 of the value in the header.
        received: String,
    },
    /// `created` is too far in the future.
    #[error(
        "signature created at {created}, more than {MAX_CLOCK_SKEW_SECS} s after the node's time {now}; check the client's clock"
    )]
    CreatedInFuture {
        /// The `created` parameter.
        created: i64,
        /// The verifier's time.
        now: i64,
    },
    /// `expires` is absent.
    #[error("the signature has no expires parameter; add ;expires=<unix seconds>")]
    MissingExpires,
    /// The signature has expired.
    #[error("signature expired at {expires} (now {now}); sign the request again")]
    Expired {
        /// The `expires` parameter.
        expires: i64,
        /// The verifier's time.
        now: i64,
    },
    /// `expires - created` is not in `1..=max`.
    #[error(
        "signature lifetime expires - created = {lifetime} s is not between 1 and {max} s; sign with a shorter expiry"
    )]
    BadLifetime {
        /// `expires - created`.
        lifetime: i64,
        /// The node's `signature_max_age_secs`.
        max: i64,
    },
    /// `nonce` is absent.
    #[error(
        "the signature has no nonce parameter; add ;nonce=\"<{MIN_NONCE_LEN} to {MAX_NONCE_LEN} random characters>\""
    )]
    MissingNonce,
    /// `nonce` is too short or too long.
    #[error(
        "nonce is {len} characters; poex accepts {MIN_NONCE_LEN} to {MAX_NONCE_LEN} (e.g. 32 hex digits of 128 random bits)"
    )]
    BadNonce {
        /// The nonce's length.
        len: usize,
    },
    /// `keyid` is absent.
    #[error(
        "the signature has no keyid parameter; add ;keyid=\"<base64 of your Ed25519 public key>\""
    )]
    MissingKeyId,
    /// A component the node requires is not covered by the signature.
    #[error("the signature does not cover {component:?}; poex requires {required:?} to be covered")]
    NotCovered {
        /// The missing component.
        component: String,
        /// Everything required for this request.
        required: Vec<String>,
    },
}

/// The parts of an HTTP request a signature can cover, as plain strings.
///
/// Not `#[non_exhaustive]` on purpose: callers build it with a struct literal from their HTTP
/// library's request, and the fields are the request line plus headers.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The method as sent (`"POST"`); not case-normalized, per RFC 9421 §2.2.1.
    pub method: &'a str,
    /// `host[:port]` as in the `Host` header or the URI authority, default port omitted;
    /// lowercased when signed.
    pub authority: &'a str,
    /// The absolute path, percent-encoded as sent (`"/api/jobs"`); empty means `/`.
    pub path: &'a str,
    /// The raw query without `?`, empty when there is none.
    pub query: &'a str,
    /// Header fields in the order received; names in any case. A name that appears more
    /// than once has its values joined with `", "`, as RFC 9421 §2.1 requires.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Signature parameters (RFC 9421 §2.3): what is covered, and the metadata signed with it.
///
/// Build with [`Params::new`] or [`Params::poex`] and the `with_*` methods.
/// [`Params::serialize`] writes the parameters in the order `created`, `expires`, `nonce`,
/// `keyid`, `alg`, `tag`; a received signature keeps its own order in
/// [`Parsed::signature_params`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// Covered component identifiers, in signing order: derived components (`@method`) and
    /// lowercase header names.
    pub components: Vec<String>,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Expiry time, Unix seconds.
    pub expires: Option<i64>,
    /// A single-use random value.
    pub nonce: Option<String>,
    /// Which key signed (poex: base64 of the Ed25519 public key).
    pub keyid: Option<String>,
    /// The algorithm; poex uses `ed25519`.
    pub alg: Option<String>,
    /// The application the signature is meant for; poex uses [`TAG`].
    pub tag: Option<String>,
}

impl Params {
    /// Covers `components`, created at `created`, no other parameter.
    pub fn new<I, S>(components: I, created: i64) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Params {
            components: components.into_iter().map(Into::into).collect(),
            created,
            expires: None,
            nonce: None,
            keyid: None,
            alg: None,
            tag: None,
        }
    }

    /// The parameters of a poex request: [`BODY_COMPONENTS`] if the request has a body
    /// (then it must carry `Content-Digest` and `Content-Type`), else [`COMPONENTS`];
    /// `keyid` the base64 public key, `alg="ed25519"`, `tag="poex"`.
    pub fn poex(has_body: bool, created: i64, expires: i64, nonce: &str, key: &PublicKey) -> Self {
        let components = if has_body {
            BODY_COMPONENTS
        } else {
            COMPONENTS
        };
        Params::new(components.iter().copied(), created)
            .with_expires(expires)
            .with_nonce(nonce)
            .with_keyid(key.to_base64())
            .with_alg(ALG)
            .with_tag(TAG)
    }

    /// Sets `expires`.
    pub fn with_expires(mut self, expires: i64) -> Self {
        self.expires = Some(expires);
        self
    }

    /// Sets `nonce`.
    pub fn with_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Sets `keyid`.
    pub fn with_keyid(mut self, keyid: impl Into<String>) -> Self {
        self.keyid = Some(keyid.into());
        self
    }

    /// Sets `alg`.
    pub fn with_alg(mut self, alg: impl Into<String>) -> Self {
        self.alg = Some(alg.into());
        self
    }

    /// Sets `tag`.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// The `@signature-params` value (RFC 9421 §2.3), e.g.
    /// `("@method" "@path");created=1618884473;keyid="test-key-ed25519"`.
    ///
    /// Fails if a component is not one poex can build, or a value cannot be an RFC 8941
    /// string or integer.
    pub fn serialize(&self) -> Result<String, HttpSigError> {
        check_components(&self.components)?;
        let mut params: Vec<(&str, ParamValue<'_>)> =
            vec![("created", ParamValue::Int(self.created))];
        if let Some(v) = self.expires {
            params.push(("expires", ParamValue::Int(v)));
        }
        let strings = [
            ("nonce", &self.nonce),
            ("keyid", &self.keyid),
            ("alg", &self.alg),
            ("tag", &self.tag),
        ];
        for (name, value) in strings {
            if let Some(v) = value {
                params.push((name, ParamValue::Str(v)));
            }
        }
        for (name, value) in &params {
            match value {
                ParamValue::Int(v) if !(-MAX_SF_INTEGER..=MAX_SF_INTEGER).contains(v) => {
                    return Err(bad_param(
                        name,
                        "is out of range for a structured-field integer (at most 15 digits)",
                    ));
                }
                ParamValue::Str(v) if !v.bytes().all(|b| (0x20..=0x7e).contains(&b)) => {
                    return Err(bad_param(
                        name,
                        "must be printable ASCII (a structured-field string)",
                    ));
                }
                _ => {}
            }
        }
        Ok(serialize_signature_params(&self.components, &params))
    }
}

/// The header values [`sign`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedHeaders {
    /// The `Signature-Input` value: `label=(...);created=...`.
    pub signature_input: String,
    /// The `Signature` value: `label=:base64:`.
    pub signature: String,
}

/// One received signature, read from `Signature-Input` and `Signature` by [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Parsed {
    /// The label it was found under.
    pub label: String,
    /// The covered components and parameters.
    pub params: Params,
    /// The `@signature-params` value to verify against: the received inner list and
    /// parameters re-serialized (RFC 8941 §4.1) in the order received, since the signer's
    /// order is part of what was signed; only insignificant whitespace can differ from the
    /// header.
    pub signature_params: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl Parsed {
    /// The signature base (RFC 9421 §2.5) this signature should cover in `msg`.
    pub fn signature_base(&self, msg: &Message<'_>) -> Result<String, HttpSigError> {
        build_base(msg, &self.params.components, &self.signature_params)
    }

    /// The signer's key, from `keyid` (standard base64 of the 32 Ed25519 public key bytes).
    ///
    /// This says who claims to have signed; only [`verify`] says they did.
    pub fn public_key(&self) -> Result<PublicKey, HttpSigError> {
        let keyid = self
            .params
            .keyid
            .as_deref()
            .ok_or(HttpSigError::MissingKeyId)?;
        PublicKey::from_base64(keyid).map_err(|_| HttpSigError::BadKeyId {
            keyid: keyid.to_owned(),
        })
    }
}

/// The signature base (RFC 9421 §2.5) for `msg` covered by `params`: one
/// `"<component>": <value>` line per covered component, then
/// `"@signature-params": <params.serialize()>`, lines joined by LF, no trailing LF.
///
/// Fails if a covered header is absent or a component is unsupported.
pub fn signature_base(msg: &Message<'_>, params: &Params) -> Result<String, HttpSigError> {
    build_base(msg, &params.components, &params.serialize()?)
}

/// Signs `msg` under `label` and returns the `Signature-Input` and `Signature` values.
pub fn sign(
    msg: &Message<'_>,
    params: &Params,
    label: &str,
    signer: &dyn Signer,
) -> Result<SignedHeaders, HttpSigError> {
    if !is_sf_key(label) {
        return Err(HttpSigError::BadLabel {
            label: label.to_owned(),
        });
    }
    let serialized = params.serialize()?;
    let base = build_base(msg, &params.components, &serialized)?;
    let signature = signer.sign(base.as_bytes());
    Ok(SignedHeaders {
        signature_input: format!("{label}={serialized}"),
        signature: format!("{label}=:{}:", STANDARD.encode(signature)),
    })
}

/// Reads the signature labelled `label` from the `Signature-Input` and `Signature` header
/// values (each an RFC 8941 dictionary; join repeated header lines with `", "` first).
///
/// Strict: malformed structured fields, duplicate labels or parameters, component
/// parameters, unknown signature parameters and a missing `created` are refused. Other
/// labels must be well-formed but are otherwise ignored.
pub fn parse(signature_input: &str, signature: &str, label: &str) -> Result<Parsed, HttpSigError> {
    const SI: &str = "Signature-Input";
    const SIG: &str = "Signature";
    let inputs = sf::parse_dictionary(SI, signature_input)?;
    let signatures = sf::parse_dictionary(SIG, signature)?;
    let find = |field: &'static str, dict: &'_ [sf::Entry]| {
        dict.iter()
            .position(|e| e.key == label)
            .ok_or_else(|| HttpSigError::UnknownLabel {
                field,
                label: label.to_owned(),
                found: dict.iter().map(|e| e.key.clone()).collect(),
            })
    };
    let input = &inputs[find(SI, &inputs)?];
    let sig = &signatures[find(SIG, &signatures)?];

    let malformed =
        |field: &'static str, position: usize, reason: String| HttpSigError::Malformed {
            field,
            position,
            reason,
        };
    let signature = match &sig.value {
        sf::Member::Item(sf::Item {
            bare: sf::Bare::Bytes(bytes),
            params,
        }) if params.is_empty() => bytes.clone(),
        _ => {
            return Err(malformed(
                SIG,
                sig.at,
                format!(
                    "the value of {label:?} must be a byte sequence :<base64>: without parameters"
                ),
            ));
        }
    };
    let (items, raw_params) = match &input.value {
        sf::Member::InnerList(items, params) => (items, params),
        sf::Member::Item(_) => {
            return Err(malformed(
                SI,
                input.at,
                format!(
                    "the value of {label:?} must be an inner list of covered components, e.g. (\"@method\" \"@path\");created=..."
                ),
            ));
        }
    };

    let mut components = Vec::with_capacity(items.len());
    for item in items {
        let sf::Bare::String(name) = &item.bare else {
            return Err(malformed(
                SI,
                input.at,
                "covered components must be quoted strings, e.g. \"@method\"".to_owned(),
            ));
        };
        if let Some((param, _)) = item.params.first() {
            return Err(HttpSigError::UnsupportedComponent {
                component: name.clone(),
                reason: format!("component parameters (;{param}) are not supported by poex"),
            });
        }
        components.push(name.clone());
    }
    check_components(&components)?;

    let mut params = Params::new(Vec::<String>::new(), 0);
    params.components = components;
    let mut created = None;
    let mut ordered: Vec<(&str, ParamValue<'_>)> = Vec::with_capacity(raw_params.len());
    for (name, value) in raw_params {
        let value = match (name.as_str(), value) {
            ("created", sf::Bare::Integer(v)) => {
                created = Some(*v);
                ParamValue::Int(*v)
            }
            ("expires", sf::Bare::Integer(v)) => {
                params.expires = Some(*v);
                ParamValue::Int(*v)
            }
            ("created" | "expires", _) => {
                return Err(bad_param(name, "must be an integer (Unix seconds)"));
            }
            ("nonce" | "keyid" | "alg" | "tag", sf::Bare::String(v)) => {
                let slot = match name.as_str() {
                    "nonce" => &mut params.nonce,
                    "keyid" => &mut params.keyid,
                    "alg" => &mut params.alg,
                    _ => &mut params.tag,
                };
                *slot = Some(v.clone());
                ParamValue::Str(v)
            }
            ("nonce" | "keyid" | "alg" | "tag", _) => {
                return Err(bad_param(name, "must be a quoted string"));
            }
            _ => {
                return Err(bad_param(
                    name,
                    "is not a signature parameter poex knows (created, expires, nonce, keyid, alg, tag)",
                ));
            }
        };
        ordered.push((name, value));
    }
    params.created =
        created.ok_or_else(|| bad_param("created", "is missing; add ;created=<Unix seconds>"))?;
    let signature_params = serialize_signature_params(&params.components, &ordered);
    Ok(Parsed {
        label: label.to_owned(),
        params,
        signature_params,
        signature,
    })
}

/// Checks `parsed` against `key` over `msg`: Ed25519 (RFC 8032, strict) over the signature
/// base built from the received parameters, in their received order.
///
/// Checks only the signature; run [`check_policy`] for time, nonce and coverage rules.
pub fn verify(msg: &Message<'_>, parsed: &Parsed, key: &PublicKey) -> Result<(), HttpSigError> {
    if let Some(alg) = &parsed.params.alg
        && alg != ALG
    {
        return Err(HttpSigError::UnsupportedAlgorithm { alg: alg.clone() });
    }
    let base = parsed.signature_base(msg)?;
    key.verify(base.as_bytes(), &parsed.signature)
        .map_err(|e| HttpSigError::BadSignature {
            label: parsed.label.clone(),
            key_id: e.key_id.to_string(),
        })
}

/// poex's rules for a received signature, at verifier time `now_unix`:
///
/// - `created` at most [`MAX_CLOCK_SKEW_SECS`] after `now_unix`;
/// - `expires` present and after `now_unix`, `expires - created` in `1..=max_age_secs`;
/// - `nonce` present, [`MIN_NONCE_LEN`]`..=`[`MAX_NONCE_LEN`] characters (remembering it is
///   the caller's job);
/// - `keyid` present; `alg` absent or `ed25519`;
/// - every component in `required` covered.
pub fn check_policy(
    parsed: &Parsed,
    now_unix: i64,
    max_age_secs: i64,
    required: &[&str],
) -> Result<(), HttpSigError> {
    let p = &parsed.params;
    if p.created > now_unix.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(HttpSigError::CreatedInFuture {
            created: p.created,
            now: now_unix,
        });
    }
    let expires = p.expires.ok_or(HttpSigError::MissingExpires)?;
    if expires <= now_unix {
        return Err(HttpSigError::Expired {
            expires,
            now: now_unix,
        });
    }
    let lifetime = expires.saturating_sub(p.created);
    if !(1..=max_age_secs).contains(&lifetime) {
        return Err(HttpSigError::BadLifetime {
            lifetime,
            max: max_age_secs,
        });
    }
    let nonce = p.nonce.as_deref().ok_or(HttpSigError::MissingNonce)?;
    if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) {
        return Err(HttpSigError::BadNonce { len: nonce.len() });
    }
    if p.keyid.is_none() {
        return Err(HttpSigError::MissingKeyId);
    }
    if let Some(alg) = &p.alg
        && alg != ALG
    {
        return Err(HttpSigError::UnsupportedAlgorithm { alg: alg.clone() });
    }
    if let Some(missing) = required
        .iter()
        .find(|r| !p.components.iter().any(|c| c == *r))
    {
        return Err(HttpSigError::NotCovered {
            component: (*missing).to_owned(),
            required: required.iter().map(|r| (*r).to_owned()).collect(),
        });
    }
    Ok(())
}

/// The `Content-Digest` value (RFC 9530) for a body whose SHA-256 is `sha256`:
/// `sha-256=:<base64>:`.
pub fn content_digest_sha256(sha256: &[u8; 32]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(sha256))
}

/// Checks a received `Content-Digest` value against the SHA-256 of the body received.
///
/// The header may list other algorithms too (they are parsed, not checked); it must have
/// `sha-256`, and that must match (compared in constant time).
pub fn check_content_digest(
    header_value: &str,
    sha256_of_body: &[u8; 32],
) -> Result<(), HttpSigError> {
    const FIELD: &str = "Content-Digest";
    let dict = sf::parse_dictionary(FIELD, header_value)?;
    let entry = dict.iter().find(|e| e.key == "sha-256").ok_or_else(|| {
        HttpSigError::ContentDigestMissingSha256 {
            found: dict.iter().map(|e| e.key.clone()).collect(),
        }
    })?;
    let sf::Member::Item(sf::Item {
        bare: sf::Bare::Bytes(received),
        ..
    }) = &entry.value
    else {
        return Err(HttpSigError::Malformed {
            field: FIELD,
            position: entry.at,
            reason: "sha-256 must be a byte sequence :<base64>:".to_owned(),
        });
    };
    if bool::from(received.as_slice().ct_eq(&sha256_of_body[..])) {
        Ok(())
    } else {
        Err(HttpSigError::ContentDigestMismatch {
            computed: STANDARD.encode(sha256_of_body),
            received: STANDARD.encode(received),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Signature base.

/// A signature parameter's value, for serialization.
enum ParamValue<'a> {
    Int(i64),
    Str(&'a str),
}

fn bad_param(name: &str, reason: &str) -> HttpSigError {
    HttpSigError::BadParameter {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

/// RFC 8941 §4.1.1.1 inner list with parameters, single spaces, strings escaped.
fn serialize_signature_params(components: &[String], params: &[(&str, ParamValue<'_>)]) -> String {
    let mut out = String::from("(");
    for (i, c) in components.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_sf_string(&mut out, c);
    }
    out.push(')');
    for (name, value) in params {
        out.push(';');
        out.push_str(name);
        out.push('=');
        match value {
            ParamValue::Int(v) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "{v}");
            }
            ParamValue::Str(v) => push_sf_string(&mut out, v),
        }
    }
    out
}

fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Refuses component lists poex cannot build a base for, before any signing or verifying.
fn check_components(components: &[String]) -> Result<(), HttpSigError> {
    let unsupported = |component: &str, reason: &str| HttpSigError::UnsupportedComponent {
        component: component.to_owned(),
        reason: reason.to_owned(),
    };
    for (i, c) in components.iter().enumerate() {
        if components[..i].contains(c) {
            return Err(unsupported(
                c,
                "it is listed twice (RFC 9421 §2.5 forbids duplicates)",
            ));
        }
        if c.starts_with('@') {
            match c.as_str() {
                "@method" | "@authority" | "@path" | "@query" => {}
                "@signature-params" => {
                    return Err(unsupported(
                        c,
                        "@signature-params cannot be a covered component",
                    ));
                }
                _ => {
                    return Err(unsupported(
                        c,
                        "poex builds only the derived components @method, @authority, @path and @query",
                    ));
                }
            }
        } else if c.is_empty() || !c.bytes().all(is_tchar) {
            return Err(unsupported(
                c,
                "a header name must be a non-empty HTTP token",
            ));
        } else if c.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(unsupported(
                c,
                "header names must be lowercase in Signature-Input (RFC 9421 §2.1)",
            ));
        }
    }
    Ok(())
}

fn build_base(
    msg: &Message<'_>,
    components: &[String],
    signature_params: &str,
) -> Result<String, HttpSigError> {
    check_components(components)?;
    let mut out = String::new();
    for c in components {
        let value = component_value(msg, c)?;
        // A CR or LF would let a value forge further lines of the base.
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(HttpSigError::BadComponentValue {
                component: c.clone(),
            });
        }
        push_sf_string(&mut out, c);
        out.push_str(": ");
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("\"@signature-params\": ");
    out.push_str(signature_params);
    Ok(out)
}

/// RFC 9421 §2.1 (fields) and §2.2 (derived components) for the components poex supports.
fn component_value(msg: &Message<'_>, component: &str) -> Result<String, HttpSigError> {
    Ok(match component {
        "@method" => msg.method.to_owned(),
        "@authority" => msg.authority.to_ascii_lowercase(),
        "@path" if msg.path.is_empty() => "/".to_owned(),
        "@path" => msg.path.to_owned(),
        "@query" => format!("?{}", msg.query),
        field => {
            let mut values = msg
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(field))
                .map(|(_, value)| value.trim_matches([' ', '\t']))
                .peekable();
            if values.peek().is_none() {
                return Err(HttpSigError::MissingComponent {
                    component: field.to_owned(),
                });
            }
            values.collect::<Vec<_>>().join(", ")
        }
    })
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 8941 `key`: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
fn is_sf_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'*'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'))
}

// ---------------------------------------------------------------------------------------
// RFC 8941 structured fields: dictionaries only, parsed strictly.

/// A strict RFC 8941 dictionary parser (§4.2.2 and the item algorithms it uses).
///
/// Written here rather than taken from the `sfv` crate: we need one field type, positions
/// in error messages for clients, and two deliberate deviations that make the parse
/// unambiguous: duplicate dictionary keys and duplicate parameter keys are refused (RFC 8941
/// keeps the last one, so a proxy and the node could disagree on which signature they saw).
/// RFC 9651's Date (`@`) and Display String (`%`) are refused.
mod sf {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::HttpSigError;

    /// A bare item.
    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Bare {
        Integer(i64),
        /// Nothing in poex reads decimals, tokens or booleans, but they must parse.
        Decimal,
        String(String),
        Token,
        Bytes(Vec<u8>),
        Boolean,
    }

    /// An item with its parameters.
    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Item {
        pub(super) bare: Bare,
        pub(super) params: Vec<(String, Bare)>,
    }

    /// A dictionary member's value.
    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Member {
        Item(Item),
        InnerList(Vec<Item>, Vec<(String, Bare)>),
    }

    /// A dictionary member: key, value, and the byte offset of the value (for errors).
    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Entry {
        pub(super) key: String,
        pub(super) value: Member,
        pub(super) at: usize,
    }

    struct Parser<'a> {
        field: &'static str,
        s: &'a [u8],
        pos: usize,
    }

    pub(super) fn parse_dictionary(
        field: &'static str,
        input: &str,
    ) -> Result<Vec<Entry>, HttpSigError> {
        let mut p = Parser {
            field,
            s: input.as_bytes(),
            pos: 0,
        };
        p.skip_sp();
        let mut out: Vec<Entry> = Vec::new();
        if p.eof() {
            return Ok(out);
        }
        loop {
            let key_at = p.pos;
            let key = p.key()?;
            let has_value = p.peek() == Some(b'=');
            if has_value {
                p.pos += 1;
            }
            let at = p.pos;
            let value = if has_value {
                if p.peek() == Some(b'(') {
                    p.inner_list()?
                } else {
                    Member::Item(p.item()?)
                }
            } else {
                Member::Item(Item {
                    bare: Bare::Boolean,
                    params: p.params()?,
                })
            };
            if out.iter().any(|e| e.key == key) {
                return Err(p.fail_at(key_at, format!("key {key:?} appears twice")));
            }
            out.push(Entry { key, value, at });
            p.skip_ows();
            if p.eof() {
                return Ok(out);
            }
            if p.peek() != Some(b',') {
                return Err(p.fail("expected ',' between members"));
            }
            p.pos += 1;
            p.skip_ows();
            if p.eof() {
                return Err(p.fail("trailing ',' with no member after it"));
            }
        }
    }

    impl Parser<'_> {
        fn eof(&self) -> bool {
            self.pos >= self.s.len()
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.pos).copied()
        }

        fn fail(&self, reason: impl Into<String>) -> HttpSigError {
            self.fail_at(self.pos, reason)
        }

        fn fail_at(&self, position: usize, reason: impl Into<String>) -> HttpSigError {
            HttpSigError::Malformed {
                field: self.field,
                position,
                reason: reason.into(),
            }
        }

        /// What the parser found, for messages.
        fn found(&self) -> String {
            match self.peek() {
                None => "the end of the value".to_owned(),
                Some(b) if b.is_ascii_graphic() || b == b' ' => format!("{:?}", b as char),
                Some(b) => format!("byte 0x{b:02x}"),
            }
        }

        fn skip_sp(&mut self) {
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
        }

        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
        }

        fn key(&mut self) -> Result<String, HttpSigError> {
            let start = self.pos;
            if !matches!(self.peek(), Some(b'a'..=b'z' | b'*')) {
                return Err(self.fail(format!(
                    "expected a key (lowercase letter or '*'), found {}",
                    self.found()
                )));
            }
            while matches!(
                self.peek(),
                Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
            ) {
                self.pos += 1;
            }
            Ok(ascii(&self.s[start..self.pos]))
        }

        fn inner_list(&mut self) -> Result<Member, HttpSigError> {
            self.pos += 1; // '('
            let mut items = Vec::new();
            loop {
                self.skip_sp();
                match self.peek() {
                    Some(b')') => {
                        self.pos += 1;
                        let params = self.params()?;
                        return Ok(Member::InnerList(items, params));
                    }
                    None => return Err(self.fail("inner list is not closed with ')'")),
                    _ => {}
                }
                items.push(self.item()?);
                if !matches!(self.peek(), Some(b' ' | b')')) {
                    return Err(self.fail(format!(
                        "expected a space or ')' after an inner list item, found {}",
                        self.found()
                    )));
                }
            }
        }

        fn item(&mut self) -> Result<Item, HttpSigError> {
            let bare = self.bare()?;
            let params = self.params()?;
            Ok(Item { bare, params })
        }

        fn params(&mut self) -> Result<Vec<(String, Bare)>, HttpSigError> {
            let mut out: Vec<(String, Bare)> = Vec::new();
            while self.peek() == Some(b';') {
                self.pos += 1;
                self.skip_sp();
                let key_at = self.pos;
                let key = self.key()?;
                let value = if self.peek() == Some(b'=') {
                    self.pos += 1;
                    self.bare()?
                } else {
                    Bare::Boolean
                };
                if out.iter().any(|(k, _)| *k == key) {
                    return Err(self.fail_at(key_at, format!("parameter {key:?} appears twice")));
                }
                out.push((key, value));
            }
            Ok(out)
        }

        fn bare(&mut self) -> Result<Bare, HttpSigError> {
            match self.peek() {
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(b'"') => self.string(),
                Some(b':') => self.bytes(),
                Some(b'?') => self.boolean(),
                Some(b) if b.is_ascii_alphabetic() || b == b'*' => Ok(self.token()),
                Some(b'@' | b'%') => {
                    Err(self.fail("dates and display strings (RFC 9651) are not accepted here"))
                }
                _ => Err(self.fail(format!("expected a value, found {}", self.found()))),
            }
        }

        fn number(&mut self) -> Result<Bare, HttpSigError> {
            let start = self.pos;
            let negative = self.peek() == Some(b'-');
            if negative {
                self.pos += 1;
            }
            let int_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            let int_digits = self.pos - int_start;
            if int_digits == 0 {
                return Err(self.fail("expected a digit"));
            }
            if self.peek() != Some(b'.') {
                if int_digits > 15 {
                    return Err(self.fail_at(start, "integer has more than 15 digits"));
                }
                let text = ascii(&self.s[start..self.pos]);
                return text
                    .parse::<i64>()
                    .map(Bare::Integer)
                    .map_err(|_| self.fail_at(start, "integer out of range"));
            }
            if int_digits > 12 {
                return Err(self.fail_at(start, "decimal has more than 12 integer digits"));
            }
            self.pos += 1; // '.'
            let frac_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            let frac_digits = self.pos - frac_start;
            if !(1..=3).contains(&frac_digits) {
                return Err(self.fail_at(frac_start, "a decimal needs 1 to 3 digits after '.'"));
            }
            Ok(Bare::Decimal)
        }

        fn string(&mut self) -> Result<Bare, HttpSigError> {
            self.pos += 1; // '"'
            let mut out = String::new();
            loop {
                let Some(b) = self.peek() else {
                    return Err(self.fail("string is not closed with '\"'"));
                };
                match b {
                    b'"' => {
                        self.pos += 1;
                        return Ok(Bare::String(out));
                    }
                    b'\\' => {
                        self.pos += 1;
                        match self.peek() {
                            Some(c @ (b'"' | b'\\')) => out.push(c as char),
                            _ => {
                                return Err(
                                    self.fail("in a string, '\\' may only escape '\"' or '\\'")
                                );
                            }
                        }
                    }
                    0x20..=0x7e => out.push(b as char),
                    _ => return Err(self.fail("strings may only hold printable ASCII")),
                }
                self.pos += 1;
            }
        }

        fn token(&mut self) -> Bare {
            self.pos += 1; // ALPHA or '*', checked by the caller
            while let Some(b) = self.peek() {
                if super::is_tchar(b) || b == b':' || b == b'/' {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            Bare::Token
        }

        fn bytes(&mut self) -> Result<Bare, HttpSigError> {
            self.pos += 1; // ':'
            let start = self.pos;
            loop {
                match self.peek() {
                    Some(b':') => break,
                    Some(b) if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' => {
                        self.pos += 1;
                    }
                    None => return Err(self.fail("byte sequence is not closed with ':'")),
                    Some(_) => {
                        return Err(self.fail(format!(
                            "byte sequences hold base64 (A-Z a-z 0-9 + / =), found {}",
                            self.found()
                        )));
                    }
                }
            }
            let decoded = STANDARD.decode(&self.s[start..self.pos]).map_err(|_| {
                self.fail_at(start, "byte sequence is not padded, canonical base64")
            })?;
            self.pos += 1; // ':'
            Ok(Bare::Bytes(decoded))
        }

        fn boolean(&mut self) -> Result<Bare, HttpSigError> {
            self.pos += 1; // '?'
            match self.peek() {
                Some(b'0' | b'1') => {
                    self.pos += 1;
                    Ok(Bare::Boolean)
                }
                _ => Err(self.fail("a boolean is ?0 or ?1")),
            }
        }
    }

    /// The bytes are ASCII, checked by the caller.
    fn ascii(bytes: &[u8]) -> String {
        bytes.iter().map(|&b| b as char).collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn pos(input: &str) -> usize {
            match parse_dictionary("X", input) {
                Err(HttpSigError::Malformed { position, .. }) => position,
                other => panic!("{input:?} parsed: {other:?}"),
            }
        }

        #[test]
        fn accepts_the_shapes_rfc_8941_allows() {
            let d = parse_dictionary(
                "X",
                " a=1, b=?0;x, c;p=\"q\\\"\" ,\td=(\"x\" tok*/: 2.5 :AQI=:);k=-7, *e=?1  ",
            )
            .unwrap();
            let keys: Vec<_> = d.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["a", "b", "c", "d", "*e"]);
            assert_eq!(
                d[0].value,
                Member::Item(Item {
                    bare: Bare::Integer(1),
                    params: vec![]
                })
            );
            assert_eq!(
                d[2].value,
                Member::Item(Item {
                    bare: Bare::Boolean,
                    params: vec![("p".into(), Bare::String("q\"".into()))]
                })
            );
            let Member::InnerList(items, params) = &d[3].value else {
                panic!()
            };
            assert_eq!(items.len(), 4);
            assert_eq!(items[3].bare, Bare::Bytes(vec![1, 2]));
            assert_eq!(params, &[("k".to_owned(), Bare::Integer(-7))]);
            assert!(parse_dictionary("X", "").unwrap().is_empty());
            assert!(parse_dictionary("X", "a=()").is_ok());
        }

        #[test]
        fn refuses_malformed_input_at_the_right_byte() {
            assert_eq!(pos("A=1"), 0); // uppercase key
            assert_eq!(pos("a=1,"), 4); // trailing comma
            assert_eq!(pos("a=1 b=2"), 4); // missing comma
            assert_eq!(pos("a=1, a=2"), 5); // duplicate key
            assert_eq!(pos("a=(\"x\"\"y\")"), 6); // items not separated
            assert_eq!(pos("a=(\"x\""), 6); // unclosed inner list
            assert_eq!(pos("a=\"x"), 4); // unclosed string
            assert_eq!(pos("a=\"\\n\""), 4); // bad escape
            assert_eq!(pos("a=\"é\""), 3); // non-ASCII in string
            assert_eq!(pos("a=:AQI:"), 3); // unpadded base64
            assert_eq!(pos("a=:AQ!=:"), 5); // bad base64 character
            assert_eq!(pos("a=:AQI="), 7); // unclosed byte sequence
            assert_eq!(pos("a=1234567890123456"), 2); // 16-digit integer
            assert_eq!(pos("a=1.2345"), 4); // 4 fractional digits
            assert_eq!(pos("a=-"), 3); // sign without digits
            assert_eq!(pos("a=?2"), 3); // bad boolean
            assert_eq!(pos("a=1;p;p"), 6); // duplicate parameter
            assert_eq!(pos("a=@1659578233"), 2); // RFC 9651 date
            assert_eq!(pos("a="), 2); // no value
        }
    }
}
