//! The sealed format end to end: round trips at the sizes where chunks and batches turn,
//! several recipients, the wrong identity, and every way of altering a sealed file: each byte
//! flipped, cut at each chunk boundary, chunks swapped, bytes added, stanzas swapped.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use poex_core::Algorithm;
use poex_seal::{
    CHUNK_SIZE, Decryptor, FileKey, Identity, OpenError, Recipient, SealError, Stanza, Unwrap,
    Wrap, decrypt, decrypt_with, encrypt, encrypt_to, encrypt_with, sealed_len,
};

const TAG: usize = 16;
const SEALED_CHUNK: usize = CHUNK_SIZE + TAG;

fn data(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn seal_to(recipients: &[Recipient], plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let facts = encrypt(recipients, plain, &mut out).unwrap();
    assert_eq!(facts.plaintext_len, plain.len() as u64);
    assert_eq!(facts.ciphertext_len, out.len() as u64);
    assert_eq!(facts.plaintext_sha256, Algorithm::Sha256.hash(plain));
    assert_eq!(facts.ciphertext_sha256, Algorithm::Sha256.hash(&out));
    out
}

/// Where the payload (nonce, then chunks) starts: after the header's MAC line.
fn payload_start(sealed: &[u8]) -> usize {
    Decryptor::new(sealed).unwrap().header_bytes().len()
}

fn open(identity: &Identity, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut out = Vec::new();
    decrypt(identity, sealed, &mut out).map(|_| out)
}

#[test]
fn round_trips_at_every_boundary() {
    let id = Identity::generate().unwrap();
    let sizes = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
        16 * CHUNK_SIZE, // one whole batch: the read-ahead decides it is the last
        16 * CHUNK_SIZE + 1,
        3 * (1 << 20) + 12_345, // several batches
    ];
    for len in sizes {
        let plain = data(len);
        let sealed = seal_to(&[id.recipient()], &plain);
        let header = payload_start(&sealed) as u64;
        assert_eq!(sealed.len() as u64, sealed_len(len as u64, header), "{len}");
        let mut out = Vec::new();
        let facts = decrypt(&id, &sealed[..], &mut out).unwrap();
        assert!(out == plain, "round trip of {len} bytes");
        assert_eq!(facts.plaintext_sha256, Algorithm::Sha256.hash(&plain));
        assert_eq!(facts.ciphertext_sha256, Algorithm::Sha256.hash(&sealed));
        assert_eq!(facts.ciphertext_len, sealed.len() as u64);
        // Sealing the same bytes twice gives different files (fresh file key and nonce).
        if len <= CHUNK_SIZE {
            assert_ne!(seal_to(&[id.recipient()], &plain), sealed);
        }
    }
}

/// A reader that returns at most `step` bytes per call, as pipes and sockets do.
struct Dribble<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn short_reads_change_nothing() {
    let id = Identity::generate().unwrap();
    let plain = data(3 * CHUNK_SIZE + 7);
    let mut sealed = Vec::new();
    encrypt(
        &[id.recipient()],
        Dribble {
            data: &plain,
            step: 1000,
        },
        &mut sealed,
    )
    .unwrap();
    let mut out = Vec::new();
    decrypt(
        &id,
        Dribble {
            data: &sealed,
            step: 777,
        },
        &mut out,
    )
    .unwrap();
    assert!(out == plain);
}

#[test]
fn two_recipients_each_open_and_others_do_not() {
    let alice = Identity::generate().unwrap();
    let bob = Identity::generate().unwrap();
    let eve = Identity::generate().unwrap();
    let plain = data(70_000);
    let sealed = seal_to(&[alice.recipient(), bob.recipient()], &plain);
    assert_eq!(Decryptor::new(&sealed[..]).unwrap().stanzas().len(), 2);
    assert!(open(&alice, &sealed).unwrap() == plain);
    assert!(open(&bob, &sealed).unwrap() == plain);
    let err = open(&eve, &sealed).unwrap_err();
    assert!(matches!(
        err,
        OpenError::NoMatchingStanza { stanzas: 2, .. }
    ));
    assert!(
        err.to_string()
            .contains("no stanza opens with this identity"),
        "{err}"
    );
    assert!(matches!(
        encrypt(&[], &plain[..], io::sink()),
        Err(SealError::NoRecipients)
    ));
}

#[test]
fn every_flipped_byte_of_a_small_file_fails() {
    let id = Identity::generate().unwrap();
    let plain = data(100);
    let sealed = seal_to(&[id.recipient()], &plain);
    for i in 0..sealed.len() {
        // The low bit changes every base64 character and every binary byte; the high bit
        // makes a header byte non-ASCII (tried on the header only: it costs an X25519 each).
        let bits: &[u8] = if i < payload_start(&sealed) {
            &[0x01, 0x80]
        } else {
            &[0x01]
        };
        for &bit in bits {
            let mut bad = sealed.clone();
            bad[i] ^= bit;
            let mut out = Vec::new();
            let result = decrypt(&id, &bad[..], &mut out);
            assert!(
                result.is_err(),
                "flipping bit {bit:#x} of byte {i} went unnoticed"
            );
            assert!(out.is_empty(), "byte {i}: plaintext written before failing");
        }
    }
}

#[test]
fn a_flipped_byte_names_its_chunk_and_nothing_after_it_is_written() {
    let id = Identity::generate().unwrap();
    // 40 chunks: three batches of 16, 16 and 8.
    let plain = data(40 * CHUNK_SIZE - 5);
    let sealed = seal_to(&[id.recipient()], &plain);
    let payload = payload_start(&sealed) + 16;
    for (chunk, offset) in [(0u64, 0usize), (17, 100), (39, SEALED_CHUNK - 30)] {
        let mut bad = sealed.clone();
        let at = payload + chunk as usize * SEALED_CHUNK + offset;
        bad[at] ^= 0x20;
        let mut out = Vec::new();
        let err = decrypt(&id, &bad[..], &mut out).unwrap_err();
        assert!(
            matches!(err, OpenError::Chunk { index, .. } if index == chunk),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("chunk {chunk} failed authentication")),
            "{err}"
        );
        // Only whole authenticated chunks before the damaged one were written.
        assert!(out.len() <= chunk as usize * CHUNK_SIZE);
        assert!(out.len() % CHUNK_SIZE == 0 && out[..] == plain[..out.len()]);
    }
    // The payload nonce: every chunk's key changes, so chunk 0 fails.
    let mut bad = sealed.clone();
    bad[payload - 1] ^= 1;
    assert!(matches!(
        open(&id, &bad),
        Err(OpenError::Chunk { index: 0, .. })
    ));
}

#[test]
fn truncation_at_every_chunk_boundary_fails() {
    let id = Identity::generate().unwrap();
    // The last length crosses a batch (16 chunks) boundary.
    for len in [5 * CHUNK_SIZE, 5 * CHUNK_SIZE + 99, 17 * CHUNK_SIZE] {
        let plain = data(len);
        let sealed = seal_to(&[id.recipient()], &plain);
        let payload = payload_start(&sealed) + 16;
        let chunks = len.div_ceil(CHUNK_SIZE);
        // Cut after k whole chunks, for every k that leaves the file short.
        for k in 0..chunks {
            let cut = &sealed[..payload + k * SEALED_CHUNK];
            let err = open(&id, cut).unwrap_err();
            assert!(
                matches!(err, OpenError::Truncated { chunks } if chunks == k as u64),
                "len {len}, cut after {k} chunks: {err}"
            );
            assert!(
                err.to_string()
                    .contains("the stream ends before its last chunk"),
                "{err}"
            );
        }
        // Cut inside a chunk, inside the nonce, inside the header.
        for cut in [
            sealed.len() - 1,
            payload + SEALED_CHUNK / 2,
            payload - 3,
            10,
        ] {
            assert!(open(&id, &sealed[..cut]).is_err(), "cut at {cut}");
        }
    }
}

#[test]
fn reordered_duplicated_and_extended_streams_fail() {
    let id = Identity::generate().unwrap();
    let plain = data(4 * CHUNK_SIZE + 10);
    let sealed = seal_to(&[id.recipient()], &plain);
    let payload = payload_start(&sealed) + 16;
    let chunk = |i: usize| &sealed[payload + i * SEALED_CHUNK..payload + (i + 1) * SEALED_CHUNK];

    // Chunks 1 and 2 swapped.
    let mut swapped = sealed[..payload].to_vec();
    for i in [0, 2, 1, 3] {
        swapped.extend_from_slice(chunk(i));
    }
    swapped.extend_from_slice(&sealed[payload + 4 * SEALED_CHUNK..]);
    assert!(matches!(
        open(&id, &swapped),
        Err(OpenError::Chunk { index: 1, .. })
    ));

    // A chunk repeated.
    let mut repeated = sealed[..payload + 2 * SEALED_CHUNK].to_vec();
    repeated.extend_from_slice(chunk(1));
    repeated.extend_from_slice(&sealed[payload + 2 * SEALED_CHUNK..]);
    assert!(open(&id, &repeated).is_err());

    // Bytes after a short last chunk run into it: that chunk fails.
    for extra in [&b"x"[..], &[0u8; TAG][..], chunk(0)] {
        let mut extended = sealed.clone();
        extended.extend_from_slice(extra);
        assert!(matches!(
            open(&id, &extended),
            Err(OpenError::Chunk { index: 4, .. })
        ));
    }
    // Bytes after a full last chunk: it opens only as the last, so they are named.
    let plain = data(4 * CHUNK_SIZE);
    let sealed = seal_to(&[id.recipient()], &plain);
    let first = &sealed[payload..payload + SEALED_CHUNK];
    for extra in [&b"x"[..], &[0u8; TAG][..], first] {
        let mut extended = sealed.clone();
        extended.extend_from_slice(extra);
        let err = open(&id, &extended).unwrap_err();
        assert!(matches!(err, OpenError::TrailingData { index: 3 }), "{err}");
        assert!(err.to_string().contains("extended"), "{err}");
    }
}

#[test]
fn swapped_or_foreign_stanzas_fail_the_header_mac() {
    let alice = Identity::generate().unwrap();
    let bob = Identity::generate().unwrap();
    let plain = data(100);
    let sealed = seal_to(&[alice.recipient(), bob.recipient()], &plain);
    let header_len = payload_start(&sealed);
    let header = std::str::from_utf8(&sealed[..header_len]).unwrap();
    // Each hpke-x25519 stanza is 3 lines: "-> hpke-x25519 <enc>", 64 columns, an empty line.
    let lines: Vec<&str> = header.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 1 + 3 + 3 + 1, "{header}");
    let mut reordered = String::from(lines[0]);
    reordered.extend(lines[4..7].iter().copied());
    reordered.extend(lines[1..4].iter().copied());
    reordered.push_str(lines[7]);
    let mut swapped = reordered.into_bytes();
    swapped.extend_from_slice(&sealed[header_len..]);
    let err = open(&alice, &swapped).unwrap_err();
    assert!(matches!(err, OpenError::HeaderMac), "{err}");
    assert!(err.to_string().contains("header MAC"), "{err}");

    // Alice's stanza taken from another file sealed to her: it opens, to the other file key.
    let other = seal_to(&[alice.recipient(), bob.recipient()], &plain);
    let other_header = std::str::from_utf8(&other[..payload_start(&other)]).unwrap();
    let other_lines: Vec<&str> = other_header.split_inclusive('\n').collect();
    let mut foreign = String::from(lines[0]);
    foreign.extend(other_lines[1..4].iter().copied());
    foreign.extend(lines[4..8].iter().copied());
    let mut foreign = foreign.into_bytes();
    foreign.extend_from_slice(&sealed[header_len..]);
    assert!(matches!(open(&alice, &foreign), Err(OpenError::HeaderMac)));
    // Bob's stanza is untouched, but the MAC covers the whole header.
    assert!(matches!(open(&bob, &foreign), Err(OpenError::HeaderMac)));

    // A stanza dropped.
    let mut dropped = String::from(lines[0]);
    dropped.extend(lines[4..8].iter().copied());
    let mut dropped = dropped.into_bytes();
    dropped.extend_from_slice(&sealed[header_len..]);
    assert!(matches!(open(&bob, &dropped), Err(OpenError::HeaderMac)));
}

/// A toy stanza kind, as another module would add one: the file key XORed with a pad both
/// sides know. Only to show that kinds plug in without touching the parser.
struct Pad([u8; 32]);

impl Wrap for Pad {
    fn wrap(&self, file_key: &FileKey) -> Result<Vec<Stanza>, SealError> {
        let body = file_key
            .expose_secret()
            .iter()
            .zip(self.0)
            .map(|(k, p)| k ^ p)
            .collect();
        Ok(vec![Stanza {
            tag: "test-pad".into(),
            args: vec!["v1".into()],
            body,
        }])
    }
}

impl Unwrap for Pad {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, OpenError>> {
        if stanza.tag != "test-pad" {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, (b, p)) in stanza.body.iter().zip(self.0).enumerate() {
            key[i] = b ^ p;
        }
        Some(Ok(FileKey::from_bytes(key)))
    }
}

#[test]
fn other_stanza_kinds_plug_in_and_are_skipped_by_others() {
    let alice = Identity::generate().unwrap();
    let pad = Pad([0x5a; 32]);
    let plain = data(200_000);
    let mut sealed = Vec::new();
    let recipients: [&dyn Wrap; 2] = [&pad, &alice.recipient()];
    encrypt_to(&recipients, &plain[..], &mut sealed).unwrap();
    // Alice's reader does not know "test-pad": it skips it and opens her stanza.
    assert!(open(&alice, &sealed).unwrap() == plain);
    let mut out = Vec::new();
    decrypt_with(&[&pad], &sealed[..], &mut out).unwrap();
    assert!(out == plain);

    // The low-level path: the caller makes the file key and stanzas.
    let key = FileKey::generate().unwrap();
    let mut stanzas = pad.wrap(&key).unwrap();
    stanzas.push(Stanza {
        tag: "future-kind".into(),
        args: vec![],
        body: vec![1, 2, 3],
    });
    let mut sealed = Vec::new();
    encrypt_with(&key, &stanzas, &plain[..], &mut sealed).unwrap();
    let d = Decryptor::new(&sealed[..]).unwrap();
    assert_eq!(d.stanzas(), &stanzas[..]);
    let err = d.file_key_from(&[&alice]).unwrap_err();
    assert!(err.to_string().contains("test-pad, future-kind"), "{err}");
    let key = d.file_key_from(&[&pad]).unwrap();
    let mut out = Vec::new();
    d.decrypt(&key, &mut out).unwrap();
    assert!(out == plain);
    // A file key the caller got wrong is caught by the header MAC before any payload.
    let d = Decryptor::new(&sealed[..]).unwrap();
    assert!(matches!(
        d.decrypt(&FileKey::from_bytes([0; 32]), io::sink()),
        Err(OpenError::HeaderMac)
    ));
}

/// Counts bytes through a shared cell, to watch the stream from the other end.
struct Counting<T> {
    inner: T,
    count: Rc<Cell<u64>>,
}

impl<T: Read> Read for Counting<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<T: Write> Write for Counting<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Zeros, checking at each read that the output keeps up.
struct Watched {
    left: u64,
    read: u64,
    written: Rc<Cell<u64>>,
    max_lag: u64,
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let lag = self.read.saturating_sub(self.written.get());
        self.max_lag = self.max_lag.max(lag);
        let n = (buf.len() as u64).min(self.left) as usize;
        buf[..n].fill(0);
        self.left -= n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

#[test]
fn large_inputs_stream_through_bounded_memory() {
    let id = Identity::generate().unwrap();
    let written = Rc::new(Cell::new(0));
    let mut reader = Watched {
        left: 8 << 20,
        read: 0,
        written: Rc::clone(&written),
        max_lag: 0,
    };
    let writer = Counting {
        inner: io::sink(),
        count: Rc::clone(&written),
    };
    let facts = encrypt(&[id.recipient()], &mut reader, writer).unwrap();
    assert_eq!(facts.plaintext_len, 8 << 20);
    // The output never lags the input by more than a batch (1 MiB) and the read-ahead.
    assert!(reader.max_lag <= (1 << 20) + 1, "lag {}", reader.max_lag);

    // Decrypting reads as it writes, too.
    let plain = data(2 << 20);
    let sealed = seal_to(&[id.recipient()], &plain);
    let read = Rc::new(Cell::new(0));
    let reader = Counting {
        inner: &sealed[..],
        count: Rc::clone(&read),
    };
    let mut out = Vec::new();
    decrypt(&id, reader, &mut out).unwrap();
    assert_eq!(read.get(), sealed.len() as u64);
    assert!(out == plain);
}

#[test]
fn not_sealed_and_other_versions_are_named() {
    let id = Identity::generate().unwrap();
    for (bytes, want) in [
        (&b"hello world\n"[..], "not a sealed file"),
        (&[0u8; 5000][..], "not a sealed file"),
        (&b""[..], "not a sealed file"),
        (&b"poex-seal/v9\n-> x\n\n--- AAAA\n"[..], "cannot open"),
    ] {
        let err = open(&id, bytes).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}
