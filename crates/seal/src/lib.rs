//! poex-seal: results and execution logs encrypted to the requester.
//!
//! A job whose request names a `resultRecipient` leaves no plaintext on the processor: each
//! result and the execution log is *sealed* to the requester's X25519 key, and the receipt
//! commits to both the plaintext's and the sealed file's SHA-256. The format
//! (`poex-seal/v1`, [docs/seal.md](../../../docs/seal.md)) is age's design with HPKE in place
//! of age's X25519 recipe:
//!
//! ```text
//! poex-seal/v1                                      version line
//! -> hpke-x25519 <base64 enc>                       one stanza per recipient: the random
//! <base64 HPKE-sealed file key>                       32-byte file key, wrapped
//! --- <base64 HMAC-SHA256 of the header>            MAC under a key derived from the file key
//! <16-byte nonce><64 KiB AES-256-GCM chunks>...     the payload (STREAM, last chunk flagged)
//! ```
//!
//! What it does not do: authenticate the sender (anyone who knows a recipient's public key can
//! seal to it; the processor's signed receipt, which names the sealed file's SHA-256, is what
//! says the processor made it), hide the plaintext's length (to within 64 KiB), or manage
//! keys beyond reading and writing one identity file ([`keyfile`]).
//!
//! The main types: [`Recipient`] (a public key, `poex-x25519:<base64>`) and [`Identity`] (its
//! secret); [`encrypt`] and [`decrypt`] stream from a reader to a writer and return
//! [`Sealed`], both digests computed on the way. Another kind of recipient (the Umbral
//! re-encryption grants of the poex-grant crate) adds a [`Stanza`] kind by implementing [`Wrap`] and [`Unwrap`], and
//! uses [`encrypt_to`]/[`decrypt_with`], or [`encrypt_with`] and [`Decryptor`] when it manages
//! the [`FileKey`] itself; readers skip stanzas they cannot open.
//!
//! ```
//! let alice = poex_seal::Identity::generate()?;
//! let mut sealed = Vec::new();
//! let facts = poex_seal::encrypt(&[alice.recipient()], &b"42\n"[..], &mut sealed)?;
//! assert_eq!(facts.ciphertext_len, sealed.len() as u64);
//!
//! let mut plain = Vec::new();
//! let opened = poex_seal::decrypt(&alice, &sealed[..], &mut plain)?;
//! assert_eq!(plain, b"42\n");
//! assert_eq!(opened.plaintext_sha256, facts.plaintext_sha256);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use std::fmt;
use std::io::{BufReader, Read, Write};

use poex_core::Digest;
use zeroize::Zeroizing;

mod error;
mod header;
pub mod keyfile;
mod stream;
pub mod suite;
pub mod x25519;

pub use error::{OpenError, SealError};
pub use header::Stanza;
pub use x25519::{Identity, KeyError, Recipient};

/// The format's version line, and the `format` a receipt names for a sealed file.
pub const FORMAT: &str = "poex-seal/v1";
/// What a sealed file's name adds to the plaintext's (`report.csv` -> `report.csv.sealed`).
pub const SEALED_SUFFIX: &str = ".sealed";
/// Plaintext bytes per payload chunk (the last chunk may be shorter).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// The payload's AEAD. AES-256-GCM was measured against ChaCha20-Poly1305 here (2.5 vs 1.1
/// GB/s on one core with AES-NI; docs/performance.md); both digests cost more than either.
pub const PAYLOAD_AEAD: &str = "AES-256-GCM";
/// Bytes in a file key.
pub const FILE_KEY_LEN: usize = 32;

/// The random key of one sealed file: wrapped in each stanza, it derives the header MAC key
/// and the payload key. Zeroized on drop; `Debug` does not show it.
pub struct FileKey(Zeroizing<[u8; FILE_KEY_LEN]>);

impl FileKey {
    /// A fresh random file key.
    pub fn generate() -> Result<Self, SealError> {
        let mut key = Zeroizing::new([0u8; FILE_KEY_LEN]);
        getrandom::fill(key.as_mut_slice()).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(FileKey(key))
    }

    /// A file key from its bytes (e.g. unwrapped from a stanza).
    pub fn from_bytes(bytes: [u8; FILE_KEY_LEN]) -> Self {
        FileKey(Zeroizing::new(bytes))
    }

    /// A file key from bytes already held in zeroizing memory.
    pub fn from_zeroizing(bytes: Zeroizing<[u8; FILE_KEY_LEN]>) -> Self {
        FileKey(bytes)
    }

    /// The key bytes, for a [`Wrap`] implementation to wrap.
    pub fn expose_secret(&self) -> &[u8; FILE_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey([redacted])")
    }
}

/// A kind of recipient: wraps a file key into the stanza(s) that let its holder recover it.
///
/// # Implementation notes
///
/// Return stanzas whose tag names your kind (visible ASCII, no spaces; not `hpke-x25519`) and
/// whose body and arguments are all a reader needs besides its secret. Use fresh randomness
/// for each call: a file key must never be wrapped twice the same way.
pub trait Wrap {
    /// The stanza(s) for `file_key`.
    fn wrap(&self, file_key: &FileKey) -> Result<Vec<Stanza>, SealError>;
}

/// A kind of identity: recovers a file key from a stanza meant for it.
///
/// # Implementation notes
///
/// Return `None` for a stanza of another kind, and for one of your kind that does not open
/// with your secret (it was sealed to someone else); `Some(Err(_))` only for a stanza of your
/// kind that is malformed. The caller then checks the header MAC with the key you return, so
/// a wrong key is caught there.
pub trait Unwrap {
    /// The file key in `stanza`, if it is for this identity.
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, OpenError>>;
}

/// What was sealed or opened: the SHA-256 and length of the plaintext and of the sealed file
/// (header and payload), both computed while streaming.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sealed {
    /// SHA-256 of the plaintext.
    pub plaintext_sha256: Digest,
    /// SHA-256 of the whole sealed file.
    pub ciphertext_sha256: Digest,
    /// Bytes of plaintext.
    pub plaintext_len: u64,
    /// Bytes of the sealed file.
    pub ciphertext_len: u64,
}

/// Seals everything `reader` gives to `recipients`, writing the sealed file to `writer`.
///
/// Memory stays bounded (a few MiB) whatever the size; the writer receives the header first,
/// then sealed chunks in order. Errors: [`SealError::NoRecipients`] for an empty list, I/O.
pub fn encrypt<R: Read, W: Write>(
    recipients: &[Recipient],
    reader: R,
    writer: W,
) -> Result<Sealed, SealError> {
    let wrappers: Vec<&dyn Wrap> = recipients.iter().map(|r| r as &dyn Wrap).collect();
    encrypt_to(&wrappers, reader, writer)
}

/// [`encrypt`] to recipients of any kind (each [`Wrap`] adds its stanzas, in order).
pub fn encrypt_to<R: Read, W: Write>(
    recipients: &[&dyn Wrap],
    reader: R,
    writer: W,
) -> Result<Sealed, SealError> {
    let file_key = FileKey::generate()?;
    let mut stanzas = Vec::new();
    for r in recipients {
        stanzas.extend(r.wrap(&file_key)?);
    }
    encrypt_with(&file_key, &stanzas, reader, writer)
}

/// Seals with a file key and stanzas the caller made: for a kind of recipient that must see
/// the file key itself. `stanzas` must wrap `file_key` (nothing here can check that), and
/// `file_key` must be fresh ([`FileKey::generate`]) for every file.
pub fn encrypt_with<R: Read, W: Write>(
    file_key: &FileKey,
    stanzas: &[Stanza],
    reader: R,
    writer: W,
) -> Result<Sealed, SealError> {
    let header = header::write(file_key, stanzas)?;
    stream::seal(file_key, &header, reader, writer)
}

/// Opens a file sealed to `identity`, writing the plaintext to `writer`.
///
/// Plaintext is written only after the chunks holding it authenticated (a batch of up to 1
/// MiB at a time), so nothing unauthenticated is ever written; but a truncated or extended
/// file is only detected at its end, so on any error discard what was written.
pub fn decrypt<R: Read, W: Write>(
    identity: &Identity,
    reader: R,
    writer: W,
) -> Result<Sealed, OpenError> {
    decrypt_with(&[identity], reader, writer)
}

/// [`decrypt`] with identities of any kind: the first stanza one of them opens is used.
pub fn decrypt_with<R: Read, W: Write>(
    identities: &[&dyn Unwrap],
    reader: R,
    writer: W,
) -> Result<Sealed, OpenError> {
    let decryptor = Decryptor::new(reader)?;
    let file_key = decryptor.file_key_from(identities)?;
    decryptor.decrypt(&file_key, writer)
}

/// A sealed file whose header has been read: look at its stanzas, recover the file key, then
/// decrypt the payload.
pub struct Decryptor<R> {
    header: header::Header,
    reader: BufReader<R>,
}

impl<R: Read> Decryptor<R> {
    /// Reads and parses the header (at most 1 MiB). Errors: [`OpenError::NotSealed`],
    /// [`OpenError::UnsupportedVersion`], [`OpenError::MalformedHeader`], I/O.
    pub fn new(reader: R) -> Result<Self, OpenError> {
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let header = header::Header::read(&mut reader)?;
        Ok(Decryptor { header, reader })
    }

    /// The header's stanzas, in order.
    pub fn stanzas(&self) -> &[Stanza] {
        &self.header.stanzas
    }

    /// The bytes of the header, as read (they start the sealed file and its digest).
    pub fn header_bytes(&self) -> &[u8] {
        &self.header.raw
    }

    /// The file key: the first stanza that one of `identities` opens, checked against the
    /// header MAC. Errors: [`OpenError::NoMatchingStanza`], [`OpenError::HeaderMac`] (a
    /// stanza opened but the header was altered), [`OpenError::MalformedStanza`].
    pub fn file_key_from(&self, identities: &[&dyn Unwrap]) -> Result<FileKey, OpenError> {
        for stanza in &self.header.stanzas {
            for identity in identities {
                if let Some(key) = identity.unwrap_stanza(stanza) {
                    let key = key?;
                    return if self.header.verify(&key) {
                        Ok(key)
                    } else {
                        Err(OpenError::HeaderMac)
                    };
                }
            }
        }
        let tags: Vec<&str> = self.header.stanzas.iter().map(|s| s.tag.as_str()).collect();
        Err(OpenError::NoMatchingStanza {
            stanzas: tags.len(),
            tags: tags.join(", "),
        })
    }

    /// Decrypts the payload with `file_key` (from [`Self::file_key_from`], or one the caller
    /// recovered itself, which is checked against the header MAC first).
    pub fn decrypt<W: Write>(self, file_key: &FileKey, writer: W) -> Result<Sealed, OpenError> {
        if !self.header.verify(file_key) {
            return Err(OpenError::HeaderMac);
        }
        // The BufReader may hold the payload's first bytes: it is read on, not unwrapped.
        stream::open(file_key, &self.header.raw, self.reader, writer)
    }
}

impl<R> fmt::Debug for Decryptor<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decryptor")
            .field("stanzas", &self.header.stanzas)
            .finish_non_exhaustive()
    }
}

/// The length of the sealed file for a plaintext of `plaintext_len` bytes and a header of
/// `header_len` bytes: header, payload nonce, the plaintext, and a 16-byte tag per chunk.
pub fn sealed_len(plaintext_len: u64, header_len: u64) -> u64 {
    let chunks = plaintext_len.div_ceil(CHUNK_SIZE as u64).max(1);
    header_len + stream::PAYLOAD_NONCE as u64 + plaintext_len + chunks * stream::TAG as u64
}
