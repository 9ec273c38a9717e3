//! C2SP signed notes (`c2sp.org/signed-note`): text signed by one or more keys.
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> <base64(4-byte key ID || signature)>
//! …one line per signature
//! ```
//!
//! Parsing, opening and signing follow Go's `golang.org/x/mod/sumdb/note`, the reference the
//! spec grew out of:
//!
//! - a note is valid UTF-8 without ASCII control characters other than newline;
//! - the signature block follows the **last** blank line and every line of it must be a
//!   well-formed signature line ending in a newline; more than [`MAX_SIGNATURES`] lines is refused;
//! - [`open`] ignores signatures from unknown keys (keeping them as unverified), refuses the
//!   whole note if a signature from a known key (same name and key ID) does not verify, checks
//!   only the first signature per known key, and fails if no signature verified.
//!
//! Ed25519 keys (signature type `0x01`) are built in: [`Ed25519Signer`] and [`Ed25519Verifier`],
//! written as Go's `PRIVATE+KEY+name+hex8+base64(0x01||seed)` and `name+hex8+base64(0x01||pubkey)`.
//! Other key types plug in through the [`Signer`] and [`Verifier`] traits.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Signature type byte of Ed25519 keys (C2SP signed-note).
pub const ALG_ED25519: u8 = 0x01;

/// Most signature lines a note may carry; more is refused as malformed (Go's limit; the spec asks
/// verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Prefix of every signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// The 32-bit identifier of a key: for Ed25519, `SHA-256(name || 0x0A || 0x01 || pubkey)[:4]`
/// read big-endian. Written as 8 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u32);

impl KeyId {
    /// The key ID the spec recommends: the first 4 bytes of
    /// `SHA-256(name || 0x0A || algorithm || public key)`.
    pub fn compute(name: &str, algorithm: u8, public_key: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([b'\n', algorithm]);
        h.update(public_key);
        let digest = h.finalize();
        Self(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    }

    /// The 4 bytes that start an encoded signature.
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:08x})", self.0)
    }
}

/// Whether `name` can name a key: non-empty, no Unicode white space, no `+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// One signature line of a note, verified or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Name of the key that made it.
    pub name: String,
    /// ID of the key that made it.
    pub key_id: KeyId,
    /// The signature proper, after the 4-byte key ID.
    pub signature: Vec<u8>,
}

impl Signature {
    /// The signature line, without its final newline: `— name base64(keyid || signature)`.
    pub fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}", self.name, BASE64.encode(raw))
    }
}

/// A parsed note: its text and its signature lines, none of them verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// The signatures, in note order.
    pub signatures: Vec<Signature>,
}

impl Note {
    /// Parses a signed note without verifying anything.
    pub fn parse(msg: &[u8]) -> Result<Self, NoteError> {
        let msg = std::str::from_utf8(msg).map_err(|e| NoteError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        if let Some(offset) = msg.bytes().position(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::ControlCharacter { offset });
        }
        let split = msg.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, block) = (&msg[..=split], &msg[split + 2..]);
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if !block.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        let mut signatures = Vec::new();
        for (i, line) in block[..block.len() - 1].split('\n').enumerate() {
            if i == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push(parse_signature_line(line).map_err(|reason| {
                NoteError::SignatureLine {
                    line: i + 1,
                    reason,
                }
            })?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note as bytes: text, blank line, one line per signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            writeln!(f, "{}", sig.line())?;
        }
        Ok(())
    }
}

fn parse_signature_line(line: &str) -> Result<Signature, SignatureLineError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(SignatureLineError::NoEmDash)?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(SignatureLineError::NoSignature)?;
    if !is_valid_name(name) {
        return Err(SignatureLineError::InvalidName);
    }
    if encoded.is_empty() {
        return Err(SignatureLineError::NoSignature);
    }
    let raw = BASE64
        .decode(encoded)
        .map_err(|_| SignatureLineError::NotBase64)?;
    if raw.len() < 5 {
        return Err(SignatureLineError::TooShort { actual: raw.len() });
    }
    Ok(Signature {
        name: name.to_owned(),
        key_id: KeyId(u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]])),
        signature: raw[4..].to_vec(),
    })
}

/// A note is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// Not valid UTF-8.
    #[error("malformed note: not UTF-8 at byte {offset}")]
    NotUtf8 {
        /// First invalid byte.
        offset: usize,
    },
    /// An ASCII control character other than newline.
    #[error("malformed note: control character at byte {offset}")]
    ControlCharacter {
        /// Its position.
        offset: usize,
    },
    /// No blank line separates text and signatures.
    #[error("malformed note: no blank line before a signature block")]
    NoSignatureBlock,
    /// The signature block is empty.
    #[error("malformed note: no signature lines")]
    NoSignatures,
    /// The last signature line does not end in a newline.
    #[error("malformed note: the last signature line does not end in a newline")]
    MissingFinalNewline,
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("malformed note: more than {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A signature line is malformed.
    #[error("malformed note: signature line {line}: {reason}")]
    SignatureLine {
        /// 1-based position in the signature block.
        line: usize,
        /// What is wrong with it.
        reason: SignatureLineError,
    },
}

/// What is wrong with one signature line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureLineError {
    /// It does not start with an em dash (U+2014) and a space.
    #[error("does not start with \"\u{2014} \"")]
    NoEmDash,
    /// No space-separated signature after the name.
    #[error("no signature after the key name")]
    NoSignature,
    /// The key name is empty or has white space or `+`.
    #[error("invalid key name")]
    InvalidName,
    /// The signature is not standard base64.
    #[error("signature is not base64")]
    NotBase64,
    /// The decoded signature is shorter than a key ID and one byte.
    #[error("signature is {actual} bytes, less than a 4-byte key ID and a signature")]
    TooShort {
        /// Decoded length.
        actual: usize,
    },
}

/// A key that can check signatures on notes.
///
/// # Implementation notes
///
/// `name` and `key_id` select which signature lines this verifier judges; `verify` gets the note
/// text exactly as signed (with its final newline) and the signature bytes after the key ID.
pub trait Verifier {
    /// The key name.
    fn name(&self) -> &str;
    /// The key ID.
    fn key_id(&self) -> KeyId;
    /// Whether `signature` is a valid signature of `msg` by this key.
    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool;
}

/// A key that can sign notes.
///
/// # Implementation notes
///
/// `sign` gets the note text exactly (with its final newline) and returns the signature bytes
/// that follow the key ID in the signature line. A signer that keeps secrets must not print them
/// in `Debug`.
pub trait Signer {
    /// The key name.
    fn name(&self) -> &str;
    /// The key ID.
    fn key_id(&self) -> KeyId;
    /// Signs `msg`.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A note that verified: its text and which signatures checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Signatures by known keys, all verified (one per key).
    pub verified: Vec<Signature>,
    /// Signatures by unknown keys, unchecked (identical lines kept once).
    pub unverified: Vec<Signature>,
}

/// A note could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The note is not well formed.
    #[error(transparent)]
    Malformed(#[from] NoteError),
    /// A signature from a known key does not verify: the whole note is refused.
    #[error("invalid signature for key {name}+{key_id}")]
    InvalidSignature {
        /// The key's name.
        name: String,
        /// The key's ID.
        key_id: KeyId,
    },
    /// No signature is from a known key.
    #[error("note has no verifiable signatures (signed by: {})", signer_list(.unverified))]
    NoVerifiableSignature {
        /// The signatures the note carries, none from a known key.
        unverified: Vec<Signature>,
    },
}

fn signer_list(sigs: &[Signature]) -> String {
    let names: Vec<String> = sigs
        .iter()
        .map(|s| format!("{}+{}", s.name, s.key_id))
        .collect();
    if names.is_empty() {
        "nobody".to_owned()
    } else {
        names.join(", ")
    }
}

/// Parses `msg` and verifies it with the known `verifiers`.
pub fn open(msg: &[u8], verifiers: &[&dyn Verifier]) -> Result<OpenedNote, OpenError> {
    let note = Note::parse(msg)?;
    let mut verified: Vec<Signature> = Vec::new();
    let mut unverified: Vec<Signature> = Vec::new();
    for sig in note.signatures {
        let known = verifiers
            .iter()
            .find(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        let Some(verifier) = known else {
            if !unverified.contains(&sig) {
                unverified.push(sig);
            }
            continue;
        };
        // Only the first signature per known key counts, as in Go: later ones are skipped unread.
        if verified
            .iter()
            .any(|v| v.name == sig.name && v.key_id == sig.key_id)
        {
            continue;
        }
        if !verifier.verify(note.text.as_bytes(), &sig.signature) {
            return Err(OpenError::InvalidSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        verified.push(sig);
    }
    if verified.is_empty() {
        return Err(OpenError::NoVerifiableSignature { unverified });
    }
    Ok(OpenedNote {
        text: note.text,
        verified,
        unverified,
    })
}

/// Signs `text` with each signer, in order, and returns the signed note.
///
/// `text` must end in a newline and contain no ASCII control characters other than newline.
pub fn sign(text: &str, signers: &[&dyn Signer]) -> Result<String, SignError> {
    check_text(text)?;
    let mut note = Note {
        text: text.to_owned(),
        signatures: Vec::with_capacity(signers.len()),
    };
    for signer in signers {
        note.signatures.push(sign_one(text, *signer)?);
    }
    Ok(note.to_string())
}

/// Adds signatures to an already signed note, replacing any existing ones by the same keys.
pub fn cosign(note: &Note, signers: &[&dyn Signer]) -> Result<String, SignError> {
    check_text(&note.text)?;
    let mut out = Note {
        text: note.text.clone(),
        signatures: Vec::new(),
    };
    for sig in &note.signatures {
        let replaced = signers
            .iter()
            .any(|s| s.name() == sig.name && s.key_id() == sig.key_id);
        if !replaced {
            out.signatures.push(sig.clone());
        }
    }
    for signer in signers {
        out.signatures.push(sign_one(&note.text, *signer)?);
    }
    if out.signatures.len() > MAX_SIGNATURES {
        return Err(SignError::TooManySignatures {
            max: MAX_SIGNATURES,
        });
    }
    Ok(out.to_string())
}

fn check_text(text: &str) -> Result<(), SignError> {
    if !text.ends_with('\n') {
        return Err(SignError::TextNotNewlineTerminated);
    }
    if let Some(offset) = text.bytes().position(|b| b < 0x20 && b != b'\n') {
        return Err(SignError::ControlCharacter { offset });
    }
    Ok(())
}

fn sign_one(text: &str, signer: &dyn Signer) -> Result<Signature, SignError> {
    if !is_valid_name(signer.name()) {
        return Err(SignError::InvalidName {
            name: signer.name().to_owned(),
        });
    }
    Ok(Signature {
        name: signer.name().to_owned(),
        key_id: signer.key_id(),
        signature: signer.sign(text.as_bytes())?,
    })
}

/// A note could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The text does not end in a newline.
    #[error("note text must end in a newline")]
    TextNotNewlineTerminated,
    /// The text has an ASCII control character other than newline.
    #[error("note text has a control character at byte {offset}")]
    ControlCharacter {
        /// Its position.
        offset: usize,
    },
    /// The signer's name cannot name a key.
    #[error("invalid key name {name:?}: must be non-empty, without white space or '+'")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// The note would carry more signatures than [`MAX_SIGNATURES`].
    #[error("a note carries at most {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// The signer itself failed (for example a remote or hardware key).
    #[error("signer failed: {0}")]
    Signer(String),
}

/// A verifier or signer key string could not be parsed.
///
/// Never carries key material: a bad private key string must not end up in a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not `name+hex8+base64` (or `PRIVATE+KEY+name+hex8+base64`); names the part that is wrong.
    #[error("malformed key: {part}")]
    Format {
        /// Which part: "PRIVATE+KEY prefix", "name", "key ID", "key".
        part: &'static str,
    },
    /// The key ID is not the one computed from name and key.
    #[error("key ID {given} does not match the name and key (computed {computed})")]
    KeyIdMismatch {
        /// The ID in the string.
        given: KeyId,
        /// The ID computed from name and public key.
        computed: KeyId,
    },
    /// The signature type byte is not Ed25519 (0x01).
    #[error("unsupported key type 0x{0:02x} (only Ed25519, 0x01)")]
    UnknownAlgorithm(u8),
    /// The key is not 32 bytes.
    #[error("Ed25519 key is {actual} bytes, want 32")]
    KeyLength {
        /// Its length.
        actual: usize,
    },
    /// The public key is not a valid Ed25519 point.
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
}

/// An Ed25519 note verifier: a key name and a public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// A verifier for `public_key` under `name`.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::Format { part: "name" });
        }
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| KeyError::InvalidPublicKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: KeyId::compute(name, ALG_ED25519, public_key),
            key,
        })
    }

    /// Parses a verifier key `name+hex8+base64(0x01 || pubkey)`.
    pub fn parse(vkey: &str) -> Result<Self, KeyError> {
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(KeyError::Format { part: "name" })?;
        let (id, encoded) = rest
            .split_once('+')
            .ok_or(KeyError::Format { part: "key ID" })?;
        let given = parse_key_id(id)?;
        if !is_valid_name(name) {
            return Err(KeyError::Format { part: "name" });
        }
        let raw = BASE64
            .decode(encoded)
            .map_err(|_| KeyError::Format { part: "key" })?;
        let Some((&algorithm, key)) = raw.split_first() else {
            return Err(KeyError::Format { part: "key" });
        };
        let computed = KeyId::compute(name, algorithm, key);
        if given != computed {
            return Err(KeyError::KeyIdMismatch { given, computed });
        }
        if algorithm != ALG_ED25519 {
            return Err(KeyError::UnknownAlgorithm(algorithm));
        }
        let key: &[u8; 32] = key
            .try_into()
            .map_err(|_| KeyError::KeyLength { actual: key.len() })?;
        Self::new(name, key)
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl Verifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> KeyId {
        self.key_id
    }

    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(bytes);
        self.key.verify_strict(msg, &signature).is_ok()
    }
}

/// The verifier key string `name+hex8+base64(0x01 || pubkey)`.
impl fmt::Display for Ed25519Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.key_id, BASE64.encode(raw))
    }
}

impl fmt::Debug for Ed25519Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Verifier({self})")
    }
}

/// An Ed25519 note signer: a key name and a private key.
///
/// The private key is wiped from memory on drop and never printed: `Debug` shows only name and
/// key ID, and [`Ed25519Signer::to_skey`] returns the key string in a buffer that is wiped too.
pub struct Ed25519Signer {
    name: String,
    key_id: KeyId,
    /// ed25519-dalek zeroizes it on drop (the workspace enables its `zeroize` feature).
    key: SigningKey,
}

impl Ed25519Signer {
    /// A signer for the Ed25519 key with this 32-byte seed (RFC 8032 private key), under `name`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::Format { part: "name" });
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_id: KeyId::compute(name, ALG_ED25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses a signer key `PRIVATE+KEY+name+hex8+base64(0x01 || seed)` (Go sumdb/note form).
    pub fn parse(skey: &str) -> Result<Self, KeyError> {
        let rest = skey.strip_prefix("PRIVATE+KEY+").ok_or(KeyError::Format {
            part: "PRIVATE+KEY prefix",
        })?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(KeyError::Format { part: "name" })?;
        let (id, encoded) = rest
            .split_once('+')
            .ok_or(KeyError::Format { part: "key ID" })?;
        let given = parse_key_id(id)?;
        let raw = Zeroizing::new(
            BASE64
                .decode(encoded)
                .map_err(|_| KeyError::Format { part: "key" })?,
        );
        let Some((&algorithm, seed)) = raw.split_first() else {
            return Err(KeyError::Format { part: "key" });
        };
        if algorithm != ALG_ED25519 {
            return Err(KeyError::UnknownAlgorithm(algorithm));
        }
        let seed: &[u8; 32] = seed
            .try_into()
            .map_err(|_| KeyError::KeyLength { actual: seed.len() })?;
        let signer = Self::from_seed(name, seed)?;
        // The ID is of the public key, so it can only be checked once that is derived.
        if signer.key_id != given {
            return Err(KeyError::KeyIdMismatch {
                given,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The private key string `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`, wiped on drop.
    pub fn to_skey(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        let mut out = Zeroizing::new(String::with_capacity(128));
        out.push_str("PRIVATE+KEY+");
        out.push_str(&self.name);
        out.push('+');
        out.push_str(&self.key_id.to_string());
        out.push('+');
        BASE64.encode_string(raw.as_slice(), &mut out);
        out
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }
}

impl Signer for Ed25519Signer {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> KeyId {
        self.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn parse_key_id(id: &str) -> Result<KeyId, KeyError> {
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::Format { part: "key ID" });
    }
    u32::from_str_radix(id, 16)
        .map(KeyId)
        .map_err(|_| KeyError::Format { part: "key ID" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_seed() {
        let signer = Ed25519Signer::from_seed("example.com/log", &[7u8; 32]).unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains("example.com/log"));
        let skey = signer.to_skey();
        let secret_b64 = skey.rsplit('+').next().unwrap();
        assert!(!debug.contains(secret_b64));
        assert!(!debug.contains(&hex::encode([7u8; 32])));
    }

    #[test]
    fn sign_then_open_round_trips() {
        let signer = Ed25519Signer::from_seed("a.example", &[1u8; 32]).unwrap();
        let verifier = signer.verifier();
        let note = sign("hello\n", &[&signer]).unwrap();
        let opened = open(note.as_bytes(), &[&verifier]).unwrap();
        assert_eq!(opened.text, "hello\n");
        assert_eq!(Note::parse(note.as_bytes()).unwrap().to_string(), note);
        assert_eq!(
            sign("no newline", &[&signer]),
            Err(SignError::TextNotNewlineTerminated)
        );
    }
}
