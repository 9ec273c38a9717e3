//! poex-grant: a validator reads a sealed execution log through m-of-n proxies, by Umbral
//! threshold proxy re-encryption ([`umbral_pre`]), without anyone re-encrypting the log and
//! without any proxy seeing the plaintext or the file key.
//!
//! The pieces, in the order they are used (docs/grants.md has the why):
//!
//! 1. The log's owner (the processor) has an [`Identity`]: one 32-byte seed from which two
//!    secp256k1 keys are derived, one to decrypt, one to sign key fragments. Its [`Public`]
//!    half (`umbral:…`) is what others are given. A validator has an [`Identity`] too.
//! 2. Sealing a log adds a [`WrappedKey`]: the log's file key encrypted to the owner's public
//!    key (an Umbral capsule and a ciphertext). It is the `-> umbral` stanza of the sealed log.
//! 3. To let a validator read, the owner calls [`grant`]: `n` [`KeyFragment`]s (`m` needed),
//!    each carrying a [`GrantInfo`] signed by the owner, one for each proxy.
//! 4. A proxy checks its fragment ([`KeyFragment::verify`]) and re-encrypts the capsule
//!    ([`VerifiedKeyFragment::reencrypt`]) into a [`CapsuleFragment`]. It never holds the
//!    file key: a fragment alone, or fewer than `m` of them, open nothing.
//! 5. The validator checks each capsule fragment ([`CapsuleFragment::verify`]) and, with `m`
//!    of them, recovers the file key ([`WrappedKey::open_reencrypted`]).
//!
//! The owner can always open its own logs directly ([`WrappedKey::open`]).
//!
//! What this crate does not do: keep grant records, revoke, or read any file but an identity
//! file ([`Identity::read_file`]). Umbral cannot take back a key fragment once handed out;
//! the CLI records revocations so the owner's own proxies refuse, and rotating the owner's
//! key keeps logs sealed afterwards out of reach (docs/grants.md, "Revocation"). Nor does it
//! say who the owner is: a [`Public`] is not bound to the processor's Ed25519 key, so a
//! validator pins it (`trusted_owner`) or relies, as `poex validate-log` does, on the final
//! comparison of the decrypted log with the digest in the signed receipt.
//!
//! ```
//! use poex_grant::{self as grant, Identity};
//!
//! let owner = Identity::generate()?;
//! let validator = Identity::generate()?;
//!
//! // The processor seals a log to the requester and to itself (the `-> umbral` stanza).
//! let requester = poex_seal::Identity::generate()?;
//! let owner_public = owner.public();
//! let mut sealed = Vec::new();
//! let recipients: [&dyn poex_seal::Wrap; 2] = [&requester.recipient(), &owner_public];
//! poex_seal::encrypt_to(&recipients, &b"job log\n"[..], &mut sealed)?;
//!
//! // Later, the owner grants a validator 2 of 3; two proxies re-encrypt the capsule.
//! let g = grant::grant(&owner, &validator.public(), 2, 3, "2026-11-21T20:00:00Z")?;
//! let log = poex_seal::Decryptor::new(&sealed[..])?;
//! let wrapped = grant::WrappedKey::find(log.stanzas())?;
//! let mut cfrags = Vec::new();
//! for kfrag in &g.kfrags[..2] {
//!     let cfrag = kfrag.clone().verify(Some(&owner_public))?.reencrypt(wrapped.capsule());
//!     cfrags.push(cfrag.verify(&wrapped, &validator.public(), Some(&owner_public))?);
//! }
//!
//! // The validator opens the file key and the log.
//! let file_key = wrapped.open_reencrypted(&validator, cfrags)?;
//! let mut plain = Vec::new();
//! log.decrypt(&file_key, &mut plain)?;
//! assert_eq!(plain, b"job log\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};
use umbral_pre::{
    Capsule as UmbralCapsule, CapsuleFrag, DefaultDeserialize as _, DefaultSerialize as _, KeyFrag,
    PublicKey, SecretKey, SecretKeyFactory, Signature, Signer, VerifiedCapsuleFrag,
    VerifiedKeyFrag,
};
use zeroize::Zeroizing;

use poex_seal::{FILE_KEY_LEN, FileKey, OpenError, SealError, Stanza, Unwrap, Wrap};
use poex_secret_file::SecretFileError;

/// The tag of a [`WrappedKey`]'s stanza in a sealed file: `-> umbral <capsule>`, the body the
/// wrapped file key.
pub const STANZA_TAG: &str = "umbral";

/// The name of a poex home's umbral identity file, in its `keys/` folder.
pub const IDENTITY_FILE: &str = "umbral.key";

/// The prefix of a [`Public`] in text.
pub const PUBLIC_PREFIX: &str = "umbral:";

/// The tag of the secret line of an identity file (after it: the seed, base64).
pub const SECRET_TAG: &str = "POEX-UMBRAL-SECRET-1";

/// Most key fragments one grant may have (Umbral has no limit; a grant to more proxies than
/// this is a mistake, not a policy).
pub const MAX_SHARES: usize = 255;

/// Labels of the two keys derived from an identity's seed: decrypting and signing are kept
/// apart so that an ECDSA signature never uses the key that opens capsules.
const DECRYPT_LABEL: &[u8] = b"poex/grant/v1/decrypt";
const SIGN_LABEL: &[u8] = b"poex/grant/v1/sign-kfrags";

const SEED_LEN: usize = 32;
/// A compressed secp256k1 point.
const POINT_LEN: usize = 33;

const KFRAG_MAGIC: &str = "poex-grant-kfrag/v1";
const CFRAG_MAGIC: &str = "poex-grant-cfrag/v1";
const STATEMENT_MAGIC: &str = "poex-grant/v1";

/// Why a grant could not be made, used or checked. Each variant says which check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// A key, fragment or capsule did not parse.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it did not parse.
        reason: String,
    },
    /// `m` of `n` is impossible.
    #[error("a grant needs 1 <= threshold <= shares <= {MAX_SHARES}; got {threshold} of {shares}")]
    Threshold {
        /// `m`.
        threshold: usize,
        /// `n`.
        shares: usize,
    },
    /// The operating system's random source failed.
    #[error("the random source failed: {0}")]
    Random(String),
    /// Umbral refused to encrypt (it never does for a file key's size).
    #[error("wrapping the file key: {0}")]
    Encrypt(String),
    /// The owner's key does not open this capsule: another owner's log, or a modified
    /// capsule or wrapped key.
    #[error(
        "this key does not open the capsule: the log was sealed to another owner, or its umbral stanza was modified"
    )]
    NotOwner,
    /// The grant's statement is not signed by the owner key it names.
    #[error("the grant {grant} is not signed by the owner key it names (modified or forged)")]
    GrantSignature {
        /// The grant id.
        grant: String,
    },
    /// The grant is by another owner than the one trusted.
    #[error("the grant {grant} is by owner {found}, not the trusted owner {expected}")]
    OwnerMismatch {
        /// The grant id.
        grant: String,
        /// The trusted owner.
        expected: String,
        /// The owner the grant names.
        found: String,
    },
    /// The key fragment does not verify under the grant's keys.
    #[error("key fragment {index} of grant {grant} does not verify: {reason}")]
    KeyFragment {
        /// The grant id.
        grant: String,
        /// The fragment's index (1-based).
        index: usize,
        /// Umbral's reason.
        reason: String,
    },
    /// The capsule fragment was made for another validator.
    #[error("grant {grant} is for validator {granted}, not for {you}")]
    NotGranted {
        /// The grant id.
        grant: String,
        /// The validator the grant names.
        granted: String,
        /// The validator asking.
        you: String,
    },
    /// The capsule fragment re-encrypts another capsule (another log).
    #[error(
        "capsule fragment {index} of grant {grant} re-encrypts capsule {found}, not this log's {expected}"
    )]
    WrongCapsule {
        /// The grant id.
        grant: String,
        /// The fragment's index.
        index: usize,
        /// This log's capsule id.
        expected: String,
        /// The fragment's.
        found: String,
    },
    /// The sealed file has no `umbral` stanza: it was not sealed to an owner who can grant.
    #[error("the sealed file has no umbral stanza (its stanzas: {tags}): it cannot be granted")]
    NoStanza {
        /// The tags of the stanzas it has.
        tags: String,
    },
    /// The capsule fragment's proof of correct re-encryption does not verify.
    #[error("capsule fragment {index} of grant {grant} does not verify: {reason}")]
    CapsuleFragment {
        /// The grant id.
        grant: String,
        /// The fragment's index.
        index: usize,
        /// Umbral's reason.
        reason: String,
    },
    /// Capsule fragments of different grants cannot be combined.
    #[error("capsule fragments of different grants ({first}, {other}) cannot be combined")]
    MixedGrants {
        /// The first fragment's grant.
        first: String,
        /// Another grant.
        other: String,
    },
    /// Two capsule fragments from the same key fragment count once.
    #[error("capsule fragment {index} of grant {grant} is given twice")]
    Repeated {
        /// The grant id.
        grant: String,
        /// The fragment's index.
        index: usize,
    },
    /// Fewer than `m` capsule fragments.
    #[error(
        "{have} capsule fragment(s) of grant {grant}, and it needs {need}: ask more proxies to re-encrypt"
    )]
    NotEnough {
        /// The grant id.
        grant: String,
        /// Distinct verified fragments given.
        have: usize,
        /// The grant's threshold.
        need: usize,
    },
    /// The verified fragments still did not open the capsule (Umbral's final check).
    #[error("the capsule fragments do not open the wrapped key: {0}")]
    Reencrypted(String),
}

/// Why an identity file could not be written or read ([`Identity::read_file`],
/// [`Identity::write_new_file`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityFileError {
    /// The file exists; identities are never overwritten.
    #[error("{0} already exists; identity files are never overwritten")]
    Exists(PathBuf),
    /// The file is readable or writable by other users.
    #[error(
        "umbral identity file {path} has mode {mode:04o}, open to other users; refusing to use it. If the key is not compromised, run 'chmod 600 {path}'"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold an identity.
    #[error("{path}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong (the secret itself is never printed).
        source: GrantError,
    },
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn malformed(what: &'static str, reason: impl fmt::Display) -> GrantError {
    GrantError::Malformed {
        what,
        reason: reason.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Keys

/// An Umbral identity: a 32-byte seed. The decrypting key and the key that signs key fragments
/// are derived from it with Umbral's `SecretKeyFactory` under two labels. Never printed
/// (`Debug` shows only the public half); the seed is zeroized on drop.
pub struct Identity {
    seed: Zeroizing<[u8; SEED_LEN]>,
}

impl Identity {
    /// A new identity from the operating system's random source.
    pub fn generate() -> Result<Identity, GrantError> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        getrandom::fill(&mut seed[..]).map_err(|e| GrantError::Random(e.to_string()))?;
        Ok(Identity { seed })
    }

    /// The identity of this seed.
    pub fn from_seed(seed: &[u8]) -> Result<Identity, GrantError> {
        let bytes: [u8; SEED_LEN] = seed.try_into().map_err(|_| {
            malformed(
                "umbral identity",
                format!("{} bytes, not {SEED_LEN}", seed.len()),
            )
        })?;
        Ok(Identity {
            seed: Zeroizing::new(bytes),
        })
    }

    /// Parses an identity file: `#` comment lines, and one line `POEX-UMBRAL-SECRET-1 <base64
    /// seed>`.
    pub fn parse(text: &str) -> Result<Identity, GrantError> {
        let mut found = None;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let Some(b64) = line
                .strip_prefix(SECRET_TAG)
                .and_then(|r| r.strip_prefix(' '))
            else {
                return Err(malformed(
                    "umbral identity",
                    format!("expected a line '{SECRET_TAG} <base64>'"),
                ));
            };
            if found.is_some() {
                return Err(malformed("umbral identity", "more than one secret line"));
            }
            let seed = Zeroizing::new(
                B64.decode(b64)
                    .map_err(|e| malformed("umbral identity", e))?,
            );
            found = Some(Identity::from_seed(&seed)?);
        }
        found.ok_or_else(|| malformed("umbral identity", format!("no '{SECRET_TAG}' line")))
    }

    /// The identity file's text: a comment with the public half, then the secret line. Write
    /// it to a file only other users cannot read.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# poex umbral identity: decrypts capsules and signs grants. Keep it secret.\n\
             # public: {}\n\
             {SECRET_TAG} {}\n",
            self.public(),
            B64.encode(*self.seed)
        ))
    }

    /// The public half: what owners grant to, and what proxies and validators check against.
    pub fn public(&self) -> Public {
        Public {
            encrypting: self.decrypting().public_key(),
            verifying: self.signer().verifying_key(),
        }
    }

    fn factory(&self) -> SecretKeyFactory {
        // The seed has the length the factory wants (checked in from_seed), so this cannot
        // fail; a factory from a wrong length would be a bug here, not bad input.
        SecretKeyFactory::from_secure_randomness(&self.seed[..])
            .expect("SEED_LEN is SecretKeyFactory::seed_size()")
    }

    fn decrypting(&self) -> SecretKey {
        self.factory().make_key(DECRYPT_LABEL)
    }

    fn signer(&self) -> Signer {
        Signer::new(self.factory().make_key(SIGN_LABEL))
    }
}

impl Identity {
    /// Reads the identity in `path`, refusing a file other users can read or write (as
    /// [`poex_seal::keyfile::read`] does for X25519 identities).
    pub fn read_file(path: &Path) -> Result<Identity, IdentityFileError> {
        let text = poex_secret_file::read(path).map_err(|e| file_error(path, e))?;
        Identity::parse(&text).map_err(|source| IdentityFileError::Malformed {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the identity to a new file at `path`, mode 0600 from its first byte, fsynced,
    /// then hard-linked to its name (which fails if the name exists): a crash never leaves
    /// half a key, and a key is never overwritten.
    pub fn write_new_file(&self, path: &Path) -> Result<(), IdentityFileError> {
        poex_secret_file::create(path, &self.to_file_text()).map_err(|e| file_error(path, e))
    }
}

fn file_error(path: &Path, e: SecretFileError) -> IdentityFileError {
    match e {
        SecretFileError::Exists => IdentityFileError::Exists(path.to_owned()),
        SecretFileError::TooOpen(mode) => IdentityFileError::TooOpen {
            path: path.to_owned(),
            mode,
        },
        SecretFileError::Io(path, source) => IdentityFileError::Io { path, source },
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({}, secret withheld)", self.public())
    }
}

/// The public half of an [`Identity`]: the key capsules are encrypted to (and grants are made
/// for), and the key grants are signed with. In text: `umbral:` and the base64 of both
/// compressed secp256k1 points (33 + 33 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Public {
    encrypting: PublicKey,
    verifying: PublicKey,
}

impl Public {
    /// A short, stable name for messages and file names: the first 8 bytes of the SHA-256 of
    /// the text form, hex.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.to_string().as_bytes());
        to_hex(&digest[..8])
    }
}

impl fmt::Display for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(2 * POINT_LEN);
        bytes.extend_from_slice(&self.encrypting.to_compressed_bytes());
        bytes.extend_from_slice(&self.verifying.to_compressed_bytes());
        write!(f, "{PUBLIC_PREFIX}{}", B64.encode(bytes))
    }
}

impl fmt::Debug for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Public {
    type Err = GrantError;

    fn from_str(s: &str) -> Result<Public, GrantError> {
        let what = "umbral public key";
        let b64 = s
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(|| malformed(what, format!("it does not start with '{PUBLIC_PREFIX}'")))?;
        let bytes = B64.decode(b64).map_err(|e| malformed(what, e))?;
        if bytes.len() != 2 * POINT_LEN {
            return Err(malformed(
                what,
                format!("{} bytes, not {}", bytes.len(), 2 * POINT_LEN),
            ));
        }
        let (e, v) = bytes.split_at(POINT_LEN);
        Ok(Public {
            encrypting: PublicKey::try_from_compressed_bytes(e).map_err(|e| malformed(what, e))?,
            verifying: PublicKey::try_from_compressed_bytes(v).map_err(|e| malformed(what, e))?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The capsule and the wrapped file key (the `-> umbral` stanza)

/// The public part of a [`WrappedKey`]: what a proxy re-encrypts. In a file of its own it is
/// the stanza's line, `-> umbral <base64 capsule>` (Umbral's MessagePack encoding, as its
/// Python and JavaScript bindings write it), so a proxy needs neither the log nor the wrapped
/// key.
#[derive(Clone, Debug, PartialEq)]
pub struct Capsule(UmbralCapsule);

impl Capsule {
    /// The capsule's id: the SHA-256 of its encoding, hex. Capsule fragments name the capsule
    /// they re-encrypt by it.
    pub fn id(&self) -> String {
        to_hex(&Sha256::digest(self.to_bytes()))
    }

    fn to_bytes(&self) -> Box<[u8]> {
        // MessagePack of three fixed-size byte strings into a Vec: it cannot fail.
        self.0.to_bytes().expect("a capsule always serializes")
    }

    fn from_arg(arg: &str) -> Result<Capsule, GrantError> {
        let what = "umbral capsule";
        let bytes = B64_NOPAD.decode(arg).map_err(|e| malformed(what, e))?;
        // Umbral checks the capsule's own signature while decoding: a modified capsule does
        // not parse.
        UmbralCapsule::from_bytes(&bytes)
            .map(Capsule)
            .map_err(|e| malformed(what, e))
    }

    /// The capsule file's text: `-> umbral <base64 capsule>` and a newline.
    pub fn to_line(&self) -> String {
        format!("-> {STANZA_TAG} {}\n", B64_NOPAD.encode(self.to_bytes()))
    }

    /// Parses [`Capsule::to_line`]'s output (the first line of the umbral stanza of a sealed
    /// header reads the same).
    pub fn parse_line(text: &str) -> Result<Capsule, GrantError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        match line.split(' ').collect::<Vec<_>>().as_slice() {
            ["->", tag, arg] if *tag == STANZA_TAG => Capsule::from_arg(arg),
            _ => Err(malformed(
                "umbral capsule file",
                format!("expected one line '-> {STANZA_TAG} <base64 capsule>'"),
            )),
        }
    }
}

/// A file key encrypted to an owner's [`Public`] key: an Umbral [`Capsule`] and the
/// ciphertext (XChaCha20-Poly1305 under the capsule's key, the capsule as associated data).
/// In a sealed header it is the stanza
///
/// ```text
/// -> umbral <base64 capsule>
/// <base64 ciphertext: 24-byte nonce, the 32-byte file key, 16-byte tag>
/// ```
///
/// Only the owner, or a validator holding `m` capsule fragments of a grant, can open it.
#[derive(Clone, Debug, PartialEq)]
pub struct WrappedKey {
    capsule: Capsule,
    ciphertext: Box<[u8]>,
}

/// The ciphertext of a wrapped file key: XChaCha20 nonce, key, Poly1305 tag.
const WRAPPED_LEN: usize = 24 + FILE_KEY_LEN + 16;

impl WrappedKey {
    /// Encrypts `file_key` to `owner`.
    pub fn new(owner: &Public, file_key: &FileKey) -> Result<WrappedKey, GrantError> {
        let (capsule, ciphertext) =
            umbral_pre::encrypt(&owner.encrypting, file_key.expose_secret())
                .map_err(|e| GrantError::Encrypt(e.to_string()))?;
        Ok(WrappedKey {
            capsule: Capsule(capsule),
            ciphertext,
        })
    }

    /// The capsule, for a proxy.
    pub fn capsule(&self) -> &Capsule {
        &self.capsule
    }

    /// The stanza a sealed header carries.
    pub fn to_stanza(&self) -> Stanza {
        Stanza {
            tag: STANZA_TAG.into(),
            args: vec![B64_NOPAD.encode(self.capsule.to_bytes())],
            body: self.ciphertext.to_vec(),
        }
    }

    /// Reads an `umbral` stanza (one argument, the capsule; the body, the wrapped key).
    pub fn from_stanza(stanza: &Stanza) -> Result<WrappedKey, GrantError> {
        if stanza.tag != STANZA_TAG {
            return Err(malformed(
                "umbral stanza",
                format!("its tag is {:?}, not {STANZA_TAG:?}", stanza.tag),
            ));
        }
        let [arg] = stanza.args.as_slice() else {
            return Err(malformed(
                "umbral stanza",
                format!("{} arguments, not 1 (the capsule)", stanza.args.len()),
            ));
        };
        if stanza.body.len() != WRAPPED_LEN {
            return Err(malformed(
                "umbral stanza",
                format!("a body of {} bytes, not {WRAPPED_LEN}", stanza.body.len()),
            ));
        }
        Ok(WrappedKey {
            capsule: Capsule::from_arg(arg)?,
            ciphertext: stanza.body.clone().into_boxed_slice(),
        })
    }

    /// The `umbral` stanza among a sealed header's stanzas. Errors: none
    /// ([`GrantError::NoStanza`]), more than one, or a malformed one.
    pub fn find(stanzas: &[Stanza]) -> Result<WrappedKey, GrantError> {
        let mut found = stanzas.iter().filter(|s| s.tag == STANZA_TAG);
        let Some(stanza) = found.next() else {
            return Err(GrantError::NoStanza {
                tags: stanzas
                    .iter()
                    .map(|s| s.tag.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if found.next().is_some() {
            return Err(malformed(
                "sealed header",
                "more than one umbral stanza (poex seals a log to one owner)",
            ));
        }
        WrappedKey::from_stanza(stanza)
    }

    /// Opens it with the owner's identity.
    pub fn open(&self, owner: &Identity) -> Result<FileKey, GrantError> {
        let key =
            umbral_pre::decrypt_original(&owner.decrypting(), &self.capsule.0, &self.ciphertext)
                .map_err(|_| GrantError::NotOwner)?;
        file_key(&key)
    }

    /// Opens it with `m` verified capsule fragments of one grant to `validator`.
    ///
    /// Fails if the fragments are of several grants, repeat one key fragment, are fewer than
    /// the grant's threshold, or (Umbral's own final check) do not open this capsule.
    pub fn open_reencrypted(
        &self,
        validator: &Identity,
        cfrags: Vec<VerifiedCapsuleFragment>,
    ) -> Result<FileKey, GrantError> {
        let Some(first) = cfrags.first() else {
            return Err(GrantError::NotEnough {
                grant: "(none)".into(),
                have: 0,
                need: 1,
            });
        };
        let info = first.info.clone();
        let mut seen = BTreeSet::new();
        for c in &cfrags {
            if c.info != info {
                return Err(GrantError::MixedGrants {
                    first: info.id.clone(),
                    other: c.info.id.clone(),
                });
            }
            if !seen.insert(c.index) {
                return Err(GrantError::Repeated {
                    grant: info.id.clone(),
                    index: c.index,
                });
            }
        }
        if cfrags.len() < info.threshold {
            return Err(GrantError::NotEnough {
                grant: info.id.clone(),
                have: cfrags.len(),
                need: info.threshold,
            });
        }
        let key = umbral_pre::decrypt_reencrypted(
            &validator.decrypting(),
            &info.owner.encrypting,
            &self.capsule.0,
            cfrags.into_iter().map(|c| c.cfrag),
            &self.ciphertext,
        )
        .map_err(|e| GrantError::Reencrypted(e.to_string()))?;
        file_key(&key)
    }
}

fn file_key(bytes: &[u8]) -> Result<FileKey, GrantError> {
    let bytes = Zeroizing::new(bytes.to_vec());
    let mut key = Zeroizing::new([0u8; FILE_KEY_LEN]);
    if bytes.len() != FILE_KEY_LEN {
        return Err(malformed(
            "wrapped file key",
            format!("{} bytes, not {FILE_KEY_LEN}", bytes.len()),
        ));
    }
    key.copy_from_slice(&bytes);
    Ok(FileKey::from_zeroizing(key))
}

/// `grant::stanza(owner, file_key)`: the `-> umbral` stanza that lets `owner` (and anyone it
/// grants) recover `file_key`. Sealing with [`poex_seal::encrypt_to`] and `&owner` as one of the
/// recipients does the same ([`Wrap`] for [`Public`]).
pub fn stanza(owner: &Public, file_key: &FileKey) -> Result<Stanza, GrantError> {
    Ok(WrappedKey::new(owner, file_key)?.to_stanza())
}

impl Wrap for Public {
    fn wrap(&self, file_key: &FileKey) -> Result<Vec<Stanza>, SealError> {
        stanza(self, file_key)
            .map(|s| vec![s])
            .map_err(|e| SealError::InvalidStanza {
                tag: STANZA_TAG.into(),
                reason: e.to_string(),
            })
    }
}

/// The owner opens its own sealed logs directly, without a grant.
impl Unwrap for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, OpenError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let wrapped = match WrappedKey::from_stanza(stanza) {
            Ok(w) => w,
            Err(e) => {
                return Some(Err(OpenError::MalformedStanza {
                    tag: STANZA_TAG.into(),
                    reason: e.to_string(),
                }));
            }
        };
        // Sealed to another owner (or altered: the header MAC would catch a changed stanza
        // that still opened): not ours, let the next identity try.
        wrapped.open(self).ok().map(Ok)
    }
}

const B64_NOPAD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}

// ---------------------------------------------------------------------------------------------
// Grants

/// What a grant says, signed by its owner: who may read (the validator), through how many
/// proxies (`threshold` of `shares`), since when. Every key and capsule fragment carries it,
/// so a proxy and a validator can check the fragment belongs to a grant the owner made.
#[derive(Clone, Debug, PartialEq)]
pub struct GrantInfo {
    /// The grant's id: the first 16 bytes of the SHA-256 of its key fragments, hex.
    pub id: String,
    /// The owner of the logs (who made the grant).
    pub owner: Public,
    /// Who may read.
    pub validator: Public,
    /// `m`: capsule fragments needed.
    pub threshold: usize,
    /// `n`: key fragments made.
    pub shares: usize,
    /// When, as the caller gave it (RFC 3339).
    pub created: String,
    signature: Signature,
}

impl GrantInfo {
    /// The signed text.
    fn statement(
        id: &str,
        owner: &Public,
        validator: &Public,
        threshold: usize,
        shares: usize,
        created: &str,
    ) -> String {
        format!(
            "{STATEMENT_MAGIC}\ngrant {id}\nowner {owner}\nvalidator {validator}\n\
             threshold {threshold}\nshares {shares}\ncreated {created}\n"
        )
    }

    fn check_signature(&self) -> Result<(), GrantError> {
        let text = GrantInfo::statement(
            &self.id,
            &self.owner,
            &self.validator,
            self.threshold,
            self.shares,
            &self.created,
        );
        if self
            .signature
            .verify(&self.owner.verifying, text.as_bytes())
        {
            Ok(())
        } else {
            Err(GrantError::GrantSignature {
                grant: self.id.clone(),
            })
        }
    }

    fn check_owner(&self, trusted: Option<&Public>) -> Result<(), GrantError> {
        self.check_signature()?;
        match trusted {
            Some(t) if *t != self.owner => Err(GrantError::OwnerMismatch {
                grant: self.id.clone(),
                expected: t.to_string(),
                found: self.owner.to_string(),
            }),
            _ => Ok(()),
        }
    }

    fn write(&self, out: &mut String) {
        out.push_str(&format!(
            "grant {}\nowner {}\nvalidator {}\nthreshold {}\nshares {}\ncreated {}\nsignature {}\n",
            self.id,
            self.owner,
            self.validator,
            self.threshold,
            self.shares,
            self.created,
            B64_NOPAD.encode(self.signature.to_be_bytes())
        ));
    }

    fn read(fields: &mut Fields<'_>) -> Result<GrantInfo, GrantError> {
        let id = fields.next("grant")?.to_owned();
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fields.bad("grant", "not 32 hex digits"));
        }
        let owner = fields.next("owner")?.parse()?;
        let validator = fields.next("validator")?.parse()?;
        let threshold = fields.number("threshold")?;
        let shares = fields.number("shares")?;
        let created = fields.next("created")?.to_owned();
        let sig = B64_NOPAD
            .decode(fields.next("signature")?)
            .map_err(|e| fields.bad("signature", e))?;
        let signature =
            Signature::try_from_be_bytes(&sig).map_err(|e| fields.bad("signature", e))?;
        Ok(GrantInfo {
            id,
            owner,
            validator,
            threshold,
            shares,
            created,
            signature,
        })
    }
}

/// A grant as made: its signed [`GrantInfo`] and one key fragment per proxy.
#[derive(Clone, Debug)]
pub struct Grant {
    /// What the grant says.
    pub info: GrantInfo,
    /// `shares` key fragments, index 1..=shares: hand each to a different proxy.
    pub kfrags: Vec<KeyFragment>,
}

/// The owner lets `validator` read every log sealed to the owner: `shares` key fragments, any
/// `threshold` of which re-encrypt a capsule for `validator`. `created` is the time to record
/// (RFC 3339, no spaces).
pub fn grant(
    owner: &Identity,
    validator: &Public,
    threshold: usize,
    shares: usize,
    created: &str,
) -> Result<Grant, GrantError> {
    if threshold == 0 || threshold > shares || shares > MAX_SHARES {
        return Err(GrantError::Threshold { threshold, shares });
    }
    if created.is_empty() || created.contains(char::is_whitespace) {
        return Err(malformed("grant time", "empty or with spaces"));
    }
    let signer = owner.signer();
    // Both public keys are signed into each fragment, so a proxy can check a fragment is for
    // this owner and this validator before using it.
    let kfrags = umbral_pre::generate_kfrags(
        &owner.decrypting(),
        &validator.encrypting,
        &signer,
        threshold,
        shares,
        true,
        true,
    );
    let mut hash = Sha256::new();
    for k in &kfrags {
        hash.update(kfrag_bytes(&k.clone().unverify()));
    }
    let id = to_hex(&hash.finalize()[..16]);
    let owner_public = owner.public();
    let statement = GrantInfo::statement(&id, &owner_public, validator, threshold, shares, created);
    let info = GrantInfo {
        id,
        owner: owner_public,
        validator: *validator,
        threshold,
        shares,
        created: created.to_owned(),
        signature: signer.sign(statement.as_bytes()),
    };
    let kfrags = kfrags
        .iter()
        .enumerate()
        .map(|(i, k)| KeyFragment {
            info: info.clone(),
            index: i + 1,
            kfrag: k.clone().unverify(),
        })
        .collect();
    Ok(Grant { info, kfrags })
}

fn kfrag_bytes(k: &KeyFrag) -> Box<[u8]> {
    // MessagePack of fixed-size fields into a Vec: it cannot fail.
    k.to_bytes().expect("a key fragment always serializes")
}

/// One proxy's share of a grant, as a file holds it (not yet checked).
#[derive(Clone, Debug)]
pub struct KeyFragment {
    /// The grant it belongs to (as the file says: [`KeyFragment::verify`] checks it).
    pub info: GrantInfo,
    /// Its index, 1..=shares.
    pub index: usize,
    kfrag: KeyFrag,
}

impl KeyFragment {
    /// The file's text (`poex-grant-kfrag/v1`, then one `name value` line per field).
    pub fn to_text(&self) -> String {
        let mut out = format!("{KFRAG_MAGIC}\n");
        self.info.write(&mut out);
        out.push_str(&format!(
            "index {}\nkfrag {}\n",
            self.index,
            B64_NOPAD.encode(kfrag_bytes(&self.kfrag))
        ));
        out
    }

    /// Parses [`KeyFragment::to_text`]'s output.
    pub fn parse(text: &str) -> Result<KeyFragment, GrantError> {
        let mut f = Fields::new(text, KFRAG_MAGIC, "key fragment")?;
        let info = GrantInfo::read(&mut f)?;
        let index = f.number("index")?;
        let bytes = B64_NOPAD
            .decode(f.next("kfrag")?)
            .map_err(|e| f.bad("kfrag", e))?;
        let kfrag = KeyFrag::from_bytes(&bytes).map_err(|e| f.bad("kfrag", e))?;
        f.end()?;
        Ok(KeyFragment { info, index, kfrag })
    }

    /// Checks the fragment before use: the grant is signed by the owner it names (and that
    /// owner is `trusted_owner`, when given), and the fragment is signed by that owner for
    /// that owner's and the validator's keys.
    pub fn verify(self, trusted_owner: Option<&Public>) -> Result<VerifiedKeyFragment, GrantError> {
        self.info.check_owner(trusted_owner)?;
        if self.index == 0 || self.index > self.info.shares {
            return Err(GrantError::KeyFragment {
                grant: self.info.id.clone(),
                index: self.index,
                reason: format!("index outside 1..={}", self.info.shares),
            });
        }
        let owner = self.info.owner;
        let kfrag = self
            .kfrag
            .verify(
                &owner.verifying,
                Some(&owner.encrypting),
                Some(&self.info.validator.encrypting),
            )
            .map_err(|(e, _)| GrantError::KeyFragment {
                grant: self.info.id.clone(),
                index: self.index,
                reason: e.to_string(),
            })?;
        Ok(VerifiedKeyFragment {
            info: self.info,
            index: self.index,
            kfrag,
        })
    }
}

/// A key fragment that passed [`KeyFragment::verify`].
#[derive(Clone, Debug)]
pub struct VerifiedKeyFragment {
    /// Its grant.
    pub info: GrantInfo,
    /// Its index.
    pub index: usize,
    kfrag: VerifiedKeyFrag,
}

impl VerifiedKeyFragment {
    /// Re-encrypts `capsule` for the grant's validator. A proxy sees only the capsule: not
    /// the wrapped key, not the log, and the file key is never computed here.
    pub fn reencrypt(&self, capsule: &Capsule) -> CapsuleFragment {
        let cfrag = umbral_pre::reencrypt(&capsule.0, self.kfrag.clone());
        CapsuleFragment {
            info: self.info.clone(),
            index: self.index,
            capsule: capsule.id(),
            cfrag: cfrag.unverify(),
        }
    }
}

/// One proxy's re-encryption of one capsule, as a file holds it (not yet checked).
#[derive(Clone, Debug)]
pub struct CapsuleFragment {
    /// The grant of the key fragment that made it (as the file says).
    pub info: GrantInfo,
    /// The key fragment's index.
    pub index: usize,
    /// The id of the capsule it re-encrypts ([`Capsule::id`]).
    pub capsule: String,
    cfrag: CapsuleFrag,
}

impl CapsuleFragment {
    /// The file's text (`poex-grant-cfrag/v1`, then one `name value` line per field).
    pub fn to_text(&self) -> String {
        let mut out = format!("{CFRAG_MAGIC}\n");
        self.info.write(&mut out);
        // MessagePack of fixed-size fields into a Vec: it cannot fail.
        let bytes = self
            .cfrag
            .to_bytes()
            .expect("a capsule fragment always serializes");
        out.push_str(&format!(
            "index {}\ncapsule {}\ncfrag {}\n",
            self.index,
            self.capsule,
            B64_NOPAD.encode(bytes)
        ));
        out
    }

    /// Parses [`CapsuleFragment::to_text`]'s output.
    pub fn parse(text: &str) -> Result<CapsuleFragment, GrantError> {
        let mut f = Fields::new(text, CFRAG_MAGIC, "capsule fragment")?;
        let info = GrantInfo::read(&mut f)?;
        let index = f.number("index")?;
        let capsule = f.next("capsule")?.to_owned();
        let bytes = B64_NOPAD
            .decode(f.next("cfrag")?)
            .map_err(|e| f.bad("cfrag", e))?;
        let cfrag = CapsuleFrag::from_bytes(&bytes).map_err(|e| f.bad("cfrag", e))?;
        f.end()?;
        Ok(CapsuleFragment {
            info,
            index,
            capsule,
            cfrag,
        })
    }

    /// Checks the fragment as a validator: its grant is signed by the owner it names (and
    /// that owner is `trusted_owner`, when given), is for `validator`, the fragment
    /// re-encrypts this capsule, and its proof of correct re-encryption verifies.
    pub fn verify(
        self,
        wrapped: &WrappedKey,
        validator: &Public,
        trusted_owner: Option<&Public>,
    ) -> Result<VerifiedCapsuleFragment, GrantError> {
        let info = self.info;
        info.check_owner(trusted_owner)?;
        if info.validator != *validator {
            return Err(GrantError::NotGranted {
                grant: info.id.clone(),
                granted: info.validator.to_string(),
                you: validator.to_string(),
            });
        }
        let expected = wrapped.capsule.id();
        if self.capsule != expected {
            return Err(GrantError::WrongCapsule {
                grant: info.id.clone(),
                index: self.index,
                expected,
                found: self.capsule,
            });
        }
        let cfrag = self
            .cfrag
            .verify(
                &wrapped.capsule.0,
                &info.owner.verifying,
                &info.owner.encrypting,
                &validator.encrypting,
            )
            .map_err(|(e, _)| GrantError::CapsuleFragment {
                grant: info.id.clone(),
                index: self.index,
                reason: e.to_string(),
            })?;
        Ok(VerifiedCapsuleFragment {
            info,
            index: self.index,
            cfrag,
        })
    }
}

/// A capsule fragment that passed [`CapsuleFragment::verify`].
#[derive(Clone, Debug)]
pub struct VerifiedCapsuleFragment {
    /// Its grant.
    pub info: GrantInfo,
    /// Its key fragment's index.
    pub index: usize,
    cfrag: VerifiedCapsuleFrag,
}

// ---------------------------------------------------------------------------------------------
// The line format of fragment files

/// Reads `name value` lines in a fixed order after a magic first line: every field present,
/// none repeated, nothing after the last.
struct Fields<'a> {
    what: &'static str,
    lines: std::str::Lines<'a>,
}

impl<'a> Fields<'a> {
    fn new(text: &'a str, magic: &str, what: &'static str) -> Result<Fields<'a>, GrantError> {
        let mut lines = text.lines();
        if lines.next() != Some(magic) {
            return Err(malformed(what, format!("the first line is not '{magic}'")));
        }
        Ok(Fields { what, lines })
    }

    fn next(&mut self, name: &str) -> Result<&'a str, GrantError> {
        let line = self
            .lines
            .next()
            .ok_or_else(|| malformed(self.what, format!("no '{name}' line")))?;
        line.strip_prefix(name)
            .and_then(|r| r.strip_prefix(' '))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                malformed(
                    self.what,
                    format!("expected '{name} <value>', found {line:?}"),
                )
            })
    }

    fn number(&mut self, name: &str) -> Result<usize, GrantError> {
        let v = self.next(name)?;
        v.parse().map_err(|e| self.bad(name, e))
    }

    fn bad(&self, name: &str, reason: impl fmt::Display) -> GrantError {
        malformed(self.what, format!("{name}: {reason}"))
    }

    fn end(mut self) -> Result<(), GrantError> {
        match self.lines.find(|l| !l.is_empty()) {
            None => Ok(()),
            Some(l) => Err(malformed(self.what, format!("unexpected line {l:?}"))),
        }
    }
}
