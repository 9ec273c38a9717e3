//! The payload: a 16-byte random nonce, then the plaintext in 64 KiB chunks, each sealed with
//! AES-256-GCM under a key derived from the file key and that nonce.
//!
//! Chunk `i`'s 12-byte AEAD nonce is `i` as an 11-byte big-endian counter followed by a flag
//! byte, 1 for the last chunk and 0 otherwise (age's STREAM, from Hoang, Reyhanitabar, Rogaway
//! and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance"). So a
//! reader detects a chunk moved (its counter differs), a stream cut at a chunk boundary (no
//! chunk carries the last flag) and bytes added after the end (they follow the last-flagged
//! chunk). Every chunk but the last holds exactly 64 KiB; the last holds 1 to 64 KiB, or 0
//! when the whole plaintext is empty, so each plaintext has one encoding.
//!
//! Both digests are computed while streaming: two threads hash the plaintext and the
//! ciphertext (SHA-256 is sequential, ~1.3 GB/s a core here, and would otherwise halve the
//! throughput) while the caller's thread reads, seals and writes. At most [`IN_FLIGHT`]
//! batches of [`BATCH`] chunks per direction are in memory, whatever the file's size.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::{self, Scope, ScopedJoinHandle};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
use aes_gcm::aead::{Nonce, Tag};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{OpenError, SealError};
use crate::{CHUNK_SIZE, FileKey, Sealed};

/// Bytes of the AEAD tag after each chunk.
pub(crate) const TAG: usize = 16;
/// Bytes of the payload nonce that starts the payload.
pub(crate) const PAYLOAD_NONCE: usize = 16;
/// Chunks handed to the hashing threads at once (1 MiB of plaintext).
const BATCH: usize = 16;
/// Buffers per direction: one being filled, one being hashed, one spare.
const IN_FLIGHT: usize = 3;
const PAYLOAD_INFO: &[u8] = b"poex-seal/v1 payload";
const SEALED_CHUNK: usize = CHUNK_SIZE + TAG;

type Buf = Zeroizing<Vec<u8>>;

fn payload_cipher(file_key: &FileKey, nonce: &[u8; PAYLOAD_NONCE]) -> Aes256Gcm {
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<Sha256>::new(Some(nonce), file_key.expose_secret())
        .expand(PAYLOAD_INFO, key.as_mut_slice())
        .expect("32 bytes is within HKDF-SHA256's 8160-byte output limit");
    Aes256Gcm::new_from_slice(key.as_slice()).expect("AES-256-GCM takes a 32-byte key")
}

fn chunk_nonce(index: u64, last: bool) -> Nonce<Aes256Gcm> {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n.into()
}

/// A thread that hashes the buffers it is sent, in order, and sends each back for reuse.
struct Lane<'scope> {
    to: Option<SyncSender<Arc<Buf>>>,
    back: Receiver<Arc<Buf>>,
    allocated: usize,
    thread: ScopedJoinHandle<'scope, ([u8; 32], u64)>,
}

impl<'scope> Lane<'scope> {
    fn spawn<'env>(scope: &'scope Scope<'scope, 'env>) -> Self {
        let (to, from) = mpsc::sync_channel::<Arc<Buf>>(IN_FLIGHT);
        let (give_back, back) = mpsc::channel();
        let thread = scope.spawn(move || {
            let mut hash = Sha256::new();
            let mut len = 0u64;
            for buf in from {
                hash.update(buf.as_slice());
                len += buf.len() as u64;
                // The receiver is gone only when the caller stopped early: drop the buffer.
                let _ = give_back.send(buf);
            }
            (hash.finalize().into(), len)
        });
        Lane {
            to: Some(to),
            back,
            allocated: 0,
            thread,
        }
    }

    /// A buffer to fill: one the thread has finished with, a new one while fewer than
    /// [`IN_FLIGHT`] + 1 exist, or else the next one the thread hands back.
    fn buffer(&mut self) -> Buf {
        let returned = match self.back.try_recv() {
            Ok(buf) => Some(buf),
            Err(TryRecvError::Empty) if self.allocated <= IN_FLIGHT => None,
            Err(TryRecvError::Empty) => self.back.recv().ok(),
            Err(TryRecvError::Disconnected) => None,
        };
        // The caller drops its own handle before asking again, so the thread's is the last.
        match returned.map(Arc::try_unwrap) {
            Some(Ok(buf)) => buf,
            _ => {
                self.allocated += 1;
                Zeroizing::new(Vec::new())
            }
        }
    }

    fn send(&self, buf: Arc<Buf>) -> io::Result<()> {
        self.to
            .as_ref()
            .and_then(|to| to.send(buf).ok())
            .ok_or_else(|| io::Error::other("a hashing thread stopped"))
    }

    /// Ends the stream and returns its SHA-256 and length.
    fn finish(mut self) -> io::Result<([u8; 32], u64)> {
        self.to = None;
        self.thread
            .join()
            .map_err(|_| io::Error::other("a hashing thread panicked"))
    }
}

/// Reads until `buf` holds `want` bytes or the reader ends; returns whether it ended. A full
/// buffer is followed by a one-byte read ahead (kept in `carry` for the next call) so the
/// last chunk is known when it is sealed or opened.
fn fill<R: Read>(
    reader: &mut R,
    buf: &mut Buf,
    want: usize,
    carry: &mut Option<u8>,
) -> io::Result<bool> {
    // Reused buffers keep their length, so resizing to the same size writes nothing.
    buf.resize(want, 0);
    let mut filled = 0;
    if let Some(b) = carry.take() {
        buf[0] = b;
        filled = 1;
    }
    while filled < want {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => {
                buf.truncate(filled);
                return Ok(true);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut one = [0u8; 1];
    loop {
        match reader.read(&mut one) {
            Ok(0) => return Ok(true),
            Ok(_) => {
                *carry = Some(one[0]);
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn digest(bytes: [u8; 32]) -> poex_core::Digest {
    poex_core::Digest::new(poex_core::Algorithm::Sha256, bytes)
}

/// Writes `header`, the payload nonce and the sealed chunks of everything `reader` gives.
pub(crate) fn seal<R: Read, W: Write>(
    file_key: &FileKey,
    header: &[u8],
    mut reader: R,
    mut writer: W,
) -> Result<Sealed, SealError> {
    let mut nonce = [0u8; PAYLOAD_NONCE];
    getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
    let cipher = payload_cipher(file_key, &nonce);
    thread::scope(|scope| {
        let mut plain = Lane::spawn(scope);
        let mut sealed = Lane::spawn(scope);
        let run = (|| -> Result<(), SealError> {
            let mut start = sealed.buffer();
            start.clear();
            start.extend_from_slice(header);
            start.extend_from_slice(&nonce);
            writer.write_all(&start)?;
            sealed.send(Arc::new(start))?;
            let mut carry = None;
            let mut index = 0u64;
            loop {
                let mut pt = plain.buffer();
                let eof = fill(&mut reader, &mut pt, BATCH * CHUNK_SIZE, &mut carry)?;
                let pt = Arc::new(pt);
                plain.send(Arc::clone(&pt))?;
                // An empty batch happens only for an empty plaintext: one empty last chunk.
                let chunks = pt.len().div_ceil(CHUNK_SIZE).max(1);
                let mut ct = sealed.buffer();
                ct.resize(pt.len() + chunks * TAG, 0);
                for (i, out) in ct.chunks_mut(SEALED_CHUNK).enumerate() {
                    let from = i * CHUNK_SIZE;
                    let piece = &pt[from..pt.len().min(from + CHUNK_SIZE)];
                    let (body, tag_out) = out.split_at_mut(piece.len());
                    let last = eof && i + 1 == chunks;
                    let buf = InOutBuf::new(piece, body)
                        .expect("a sealed chunk's body is as long as its plaintext");
                    let tag = cipher
                        .encrypt_inout_detached(&chunk_nonce(index, last), b"", buf)
                        .map_err(|_| io::Error::other("AES-GCM refused a 64 KiB chunk"))?;
                    tag_out.copy_from_slice(&tag);
                    index += 1;
                }
                drop(pt);
                writer.write_all(&ct)?;
                sealed.send(Arc::new(ct))?;
                if eof {
                    break;
                }
            }
            writer.flush()?;
            Ok(())
        })();
        let (pt_sha, pt_len) = plain.finish()?;
        let (ct_sha, ct_len) = sealed.finish()?;
        run?;
        Ok(Sealed {
            plaintext_sha256: digest(pt_sha),
            ciphertext_sha256: digest(ct_sha),
            plaintext_len: pt_len,
            ciphertext_len: ct_len,
        })
    })
}

/// How one chunk fared.
enum Verdict {
    Opened,
    Failed(OpenError),
}

/// Reads the payload nonce and the chunks that follow `header` (already read), writing each
/// batch of plaintext only once all its chunks authenticated.
pub(crate) fn open<R: Read, W: Write>(
    file_key: &FileKey,
    header: &[u8],
    mut reader: R,
    mut writer: W,
) -> Result<Sealed, OpenError> {
    let mut nonce = [0u8; PAYLOAD_NONCE];
    if let Err(e) = reader.read_exact(&mut nonce) {
        return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
            OpenError::Truncated { chunks: 0 }
        } else {
            OpenError::Io(e)
        });
    }
    let cipher = payload_cipher(file_key, &nonce);
    thread::scope(|scope| {
        let mut plain = Lane::spawn(scope);
        let mut sealed = Lane::spawn(scope);
        let run = (|| -> Result<(), OpenError> {
            let mut start = sealed.buffer();
            start.clear();
            start.extend_from_slice(header);
            start.extend_from_slice(&nonce);
            sealed.send(Arc::new(start))?;
            let mut carry = None;
            let mut index = 0u64;
            loop {
                let mut ct = sealed.buffer();
                let eof = fill(&mut reader, &mut ct, BATCH * SEALED_CHUNK, &mut carry)?;
                let ct = Arc::new(ct);
                sealed.send(Arc::clone(&ct))?;
                if ct.is_empty() {
                    // Only reachable when nothing follows the payload nonce (a full batch
                    // is followed by at least the byte read ahead).
                    return Err(OpenError::Truncated { chunks: index });
                }
                let pieces = ct.len().div_ceil(SEALED_CHUNK);
                let last_piece = ct.len() - (pieces - 1) * SEALED_CHUNK;
                let mut pt = plain.buffer();
                // A last piece shorter than a tag is refused below, before it is sliced.
                pt.resize(
                    (pieces - 1) * CHUNK_SIZE + last_piece.saturating_sub(TAG),
                    0,
                );
                for (i, piece) in ct.chunks(SEALED_CHUNK).enumerate() {
                    let at_end = eof && i + 1 == pieces;
                    let start = index * SEALED_CHUNK as u64;
                    let failed = OpenError::Chunk {
                        index,
                        start,
                        end: start + piece.len() as u64,
                    };
                    if piece.len() < TAG {
                        return Err(failed);
                    }
                    let (body, tag) = piece.split_at(piece.len() - TAG);
                    let tag = Tag::<Aes256Gcm>::try_from(tag).expect("the tag slice is 16 bytes");
                    let out = &mut pt[i * CHUNK_SIZE..i * CHUNK_SIZE + body.len()];
                    let mut try_open = |last: bool| {
                        let buf = InOutBuf::new(body, &mut *out)
                            .expect("a chunk's plaintext is as long as its sealed body");
                        cipher
                            .decrypt_inout_detached(&chunk_nonce(index, last), b"", buf, &tag)
                            .is_ok()
                    };
                    let verdict = if !at_end {
                        if try_open(false) {
                            Verdict::Opened
                        } else if try_open(true) {
                            Verdict::Failed(OpenError::TrailingData { index })
                        } else {
                            Verdict::Failed(failed)
                        }
                    } else if try_open(true) {
                        if body.is_empty() && index > 0 {
                            Verdict::Failed(OpenError::NonCanonical { index })
                        } else {
                            Verdict::Opened
                        }
                    } else if body.len() == CHUNK_SIZE && try_open(false) {
                        Verdict::Failed(OpenError::Truncated { chunks: index + 1 })
                    } else {
                        Verdict::Failed(failed)
                    };
                    if let Verdict::Failed(e) = verdict {
                        return Err(e);
                    }
                    index += 1;
                }
                drop(ct);
                // Every chunk of this batch authenticated: only now does plaintext leave.
                writer.write_all(&pt)?;
                plain.send(Arc::new(pt))?;
                if eof {
                    break;
                }
            }
            writer.flush()?;
            Ok(())
        })();
        let (pt_sha, pt_len) = plain.finish()?;
        let (ct_sha, ct_len) = sealed.finish()?;
        run?;
        Ok(Sealed {
            plaintext_sha256: digest(pt_sha),
            ciphertext_sha256: digest(ct_sha),
            plaintext_len: pt_len,
            ciphertext_len: ct_len,
        })
    })
}
