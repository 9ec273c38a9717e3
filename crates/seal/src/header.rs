//! The header: a version line, one or more stanzas, and a MAC line.
//!
//! ```text
//! poex-seal/v1
//! -> hpke-x25519 <base64 enc>
//! <base64 body, 64 columns a line, the last line shorter than 64 (possibly empty)>
//! -> umbral ...                      (any other kind: skipped by readers that cannot open it)
//! ...
//! --- <base64 HMAC-SHA256 over the bytes from "poex-seal/v1" through "---">
//! ```
//!
//! The stanza grammar is age's (`-> tag args...`, body wrapped at 64 columns, base64 without
//! padding, canonical), so the header is plain text a person can read and any reader can skip
//! a stanza it does not know without understanding it.

use std::io::{BufRead, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::error::{OpenError, SealError};
use crate::{FORMAT, FileKey};

/// Columns of a stanza body line; a shorter line ends the body.
const BODY_COLUMNS: usize = 64;
/// The longest header line read (a stanza line with its arguments).
const MAX_LINE: usize = 4096;
/// The largest header read; beyond it the file is refused rather than buffered.
pub(crate) const MAX_HEADER: usize = 1 << 20;
const MAC_LINE: &[u8] = b"---";
const MAC_INFO: &[u8] = b"poex-seal/v1 header";

/// One stanza: a tag naming its kind, its arguments, and a binary body. A stanza wraps the
/// file key for one recipient; the kind says how (`hpke-x25519` for [`crate::Recipient`]).
///
/// Tags and arguments are non-empty strings of visible ASCII (`!` to `~`); the body is any
/// bytes. Readers skip a stanza whose tag they do not know, so a module can add a kind
/// (implement [`crate::Wrap`] and [`crate::Unwrap`]) without touching the parser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stanza {
    /// The kind of stanza, e.g. `hpke-x25519`.
    pub tag: String,
    /// Its arguments, in order.
    pub args: Vec<String>,
    /// Its body (stored base64, 64 columns a line).
    pub body: Vec<u8>,
}

impl Stanza {
    fn check(&self) -> Result<(), SealError> {
        let invalid = |reason: &str| SealError::InvalidStanza {
            tag: self.tag.clone(),
            reason: reason.to_owned(),
        };
        if !is_atom(&self.tag) {
            return Err(invalid(
                "the tag must be non-empty visible ASCII without spaces",
            ));
        }
        if !self.args.iter().all(|a| is_atom(a)) {
            return Err(invalid(
                "each argument must be non-empty visible ASCII without spaces",
            ));
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"-> ");
        out.extend_from_slice(self.tag.as_bytes());
        for arg in &self.args {
            out.push(b' ');
            out.extend_from_slice(arg.as_bytes());
        }
        out.push(b'\n');
        let body = STANDARD_NO_PAD.encode(&self.body);
        let mut lines = body.as_bytes().chunks(BODY_COLUMNS);
        let mut last_len = 0;
        for line in lines.by_ref() {
            out.extend_from_slice(line);
            out.push(b'\n');
            last_len = line.len();
        }
        // The body ends with a line shorter than 64 columns: add an empty one when the last
        // line was full (or the body empty).
        if last_len == BODY_COLUMNS || body.is_empty() {
            out.push(b'\n');
        }
    }
}

fn is_atom(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A parsed header, with the exact bytes it was read from.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) stanzas: Vec<Stanza>,
    /// The whole header, through the MAC line's newline (part of the ciphertext digest).
    pub(crate) raw: Vec<u8>,
    /// How many bytes of `raw` the MAC covers (through "---").
    mac_input: usize,
    mac: [u8; 32],
}

/// Writes a header for `stanzas`, authenticated with a key derived from `file_key`.
pub(crate) fn write(file_key: &FileKey, stanzas: &[Stanza]) -> Result<Vec<u8>, SealError> {
    if stanzas.is_empty() {
        return Err(SealError::NoRecipients);
    }
    let mut out = Vec::with_capacity(256 * stanzas.len());
    out.extend_from_slice(FORMAT.as_bytes());
    out.push(b'\n');
    for stanza in stanzas {
        stanza.check()?;
        stanza.write(&mut out);
    }
    out.extend_from_slice(MAC_LINE);
    let mac = mac(file_key, &out);
    out.push(b' ');
    out.extend_from_slice(STANDARD_NO_PAD.encode(mac).as_bytes());
    out.push(b'\n');
    Ok(out)
}

fn mac_key(file_key: &FileKey) -> zeroize::Zeroizing<[u8; 32]> {
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<Sha256>::new(None, file_key.expose_secret())
        .expand(MAC_INFO, key.as_mut())
        .expect("32 bytes is within HKDF-SHA256's 8160-byte output limit");
    key
}

fn mac(file_key: &FileKey, input: &[u8]) -> [u8; 32] {
    let mut m = <hmac::Hmac<Sha256>>::new_from_slice(mac_key(file_key).as_ref())
        .expect("HMAC accepts keys of any length");
    m.update(input);
    m.finalize().into_bytes().into()
}

impl Header {
    /// Whether `file_key` authenticates this header (constant-time comparison).
    pub(crate) fn verify(&self, file_key: &FileKey) -> bool {
        let mut m = <hmac::Hmac<Sha256>>::new_from_slice(mac_key(file_key).as_ref())
            .expect("HMAC accepts keys of any length");
        m.update(&self.raw[..self.mac_input]);
        m.verify_slice(&self.mac).is_ok()
    }

    /// Reads a header from `reader`, leaving it at the first payload byte.
    pub(crate) fn read<R: BufRead>(reader: &mut R) -> Result<Header, OpenError> {
        let mut raw = Vec::new();
        let mut line_no = 0;
        // Whatever stops the first line (no newline in 4 KiB, binary, empty), the file is
        // not one of ours.
        let first = match next_line(reader, &mut raw, &mut line_no) {
            Ok(line) => line,
            Err(OpenError::Io(e)) => return Err(OpenError::Io(e)),
            Err(_) => return Err(OpenError::NotSealed),
        };
        if first != FORMAT.as_bytes() {
            let text = String::from_utf8_lossy(first).into_owned();
            return Err(if text.starts_with("poex-seal/") {
                OpenError::UnsupportedVersion(text)
            } else {
                OpenError::NotSealed
            });
        }
        let mut stanzas = Vec::new();
        loop {
            let start = raw.len();
            let line = next_line(reader, &mut raw, &mut line_no)?.to_vec();
            let malformed = |reason: &str| OpenError::MalformedHeader {
                line: line_no,
                reason: reason.to_owned(),
            };
            if let Some(rest) = line.strip_prefix(b"-> ") {
                let text = std::str::from_utf8(rest)
                    .map_err(|_| malformed("a stanza line must be ASCII"))?;
                let mut words = text.split(' ');
                let tag = words.next().unwrap_or_default().to_owned();
                let args: Vec<String> = words.map(str::to_owned).collect();
                if !is_atom(&tag) || !args.iter().all(|a| is_atom(a)) {
                    return Err(malformed(
                        "a stanza line is \"-> TAG ARGS...\", each word visible ASCII, one space apart",
                    ));
                }
                let body = read_body(reader, &mut raw, &mut line_no)?;
                stanzas.push(Stanza { tag, args, body });
            } else if let Some(rest) = line.strip_prefix(b"--- ") {
                if stanzas.is_empty() {
                    return Err(malformed("the header has no stanza"));
                }
                let mut mac = [0u8; 32];
                match STANDARD_NO_PAD.decode(rest) {
                    Ok(bytes) if bytes.len() == 32 => mac.copy_from_slice(&bytes),
                    _ => return Err(malformed("the MAC is not 32 bytes of base64")),
                }
                return Ok(Header {
                    stanzas,
                    mac_input: start + MAC_LINE.len(),
                    raw,
                    mac,
                });
            } else {
                return Err(malformed(
                    "expected a stanza (\"-> \") or the MAC line (\"--- \")",
                ));
            }
        }
    }
}

/// Reads one line (without its `\n`) into `raw`, returning it.
fn next_line<'a, R: BufRead>(
    reader: &mut R,
    raw: &'a mut Vec<u8>,
    line_no: &mut usize,
) -> Result<&'a [u8], OpenError> {
    *line_no += 1;
    let start = raw.len();
    let limit = MAX_LINE.min(MAX_HEADER.saturating_sub(start)) as u64;
    let n = reader.by_ref().take(limit).read_until(b'\n', raw)?;
    if n == 0 && start == 0 {
        return Err(OpenError::NotSealed);
    }
    if raw.last() != Some(&b'\n') || n == 0 {
        let reason = if n as u64 == limit {
            "the line (or the header) is too long"
        } else {
            "the file ends inside the header"
        };
        return Err(OpenError::MalformedHeader {
            line: *line_no,
            reason: reason.to_owned(),
        });
    }
    Ok(&raw[start..raw.len() - 1])
}

fn read_body<R: BufRead>(
    reader: &mut R,
    raw: &mut Vec<u8>,
    line_no: &mut usize,
) -> Result<Vec<u8>, OpenError> {
    let mut text = Vec::new();
    loop {
        let line = next_line(reader, raw, line_no)?;
        if line.len() > BODY_COLUMNS {
            return Err(OpenError::MalformedHeader {
                line: *line_no,
                reason: "a stanza body line is longer than 64 columns".into(),
            });
        }
        text.extend_from_slice(line);
        if line.len() < BODY_COLUMNS {
            break;
        }
    }
    // The base64 engine refuses padding and non-canonical trailing bits, so every body has
    // exactly one encoding (a tampered header cannot hide a second form of the same stanza).
    STANDARD_NO_PAD
        .decode(&text)
        .map_err(|e| OpenError::MalformedHeader {
            line: *line_no,
            reason: format!("a stanza body is not canonical base64: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FileKey {
        FileKey::from_bytes([7; 32])
    }

    fn round_trip(stanzas: &[Stanza]) -> Header {
        let bytes = write(&key(), stanzas).unwrap();
        let mut reader = &bytes[..];
        let header = Header::read(&mut reader).unwrap();
        assert!(reader.is_empty(), "the header read stops at its end");
        assert_eq!(header.raw, bytes);
        assert_eq!(header.stanzas, stanzas);
        assert!(header.verify(&key()));
        assert!(!header.verify(&FileKey::from_bytes([8; 32])));
        header
    }

    #[test]
    fn bodies_of_every_length_round_trip() {
        // 48 bytes = exactly 64 base64 columns: the body then ends with an empty line.
        for len in [0, 1, 2, 3, 47, 48, 49, 96, 200] {
            let stanza = Stanza {
                tag: "test".into(),
                args: vec!["a".into(), "b=c".into()],
                body: (0..len).map(|i| i as u8).collect(),
            };
            round_trip(&[stanza.clone(), stanza]);
        }
    }

    #[test]
    fn exact_text() {
        let stanza = Stanza {
            tag: "x".into(),
            args: vec!["arg".into()],
            body: vec![0xff; 48],
        };
        let bytes = write(&key(), &[stanza]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "poex-seal/v1");
        assert_eq!(lines[1], "-> x arg");
        assert_eq!(lines[2], "/".repeat(64));
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("--- ") && lines[4].len() == 4 + 43);
    }

    #[test]
    fn refuses_bad_stanzas_and_headers() {
        let bad = Stanza {
            tag: "has space".into(),
            args: vec![],
            body: vec![],
        };
        assert!(matches!(
            write(&key(), &[bad]),
            Err(SealError::InvalidStanza { .. })
        ));
        assert!(matches!(write(&key(), &[]), Err(SealError::NoRecipients)));
        let cases: [(&[u8], &str); 8] = [
            (b"", "not a sealed"),
            (b"age-encryption.org/v1\n", "not a sealed"),
            (b"poex-seal/v2\n", "cannot open"),
            (b"poex-seal/v1\n--- AAAA\n", "no stanza"),
            (b"poex-seal/v1\n-> x\n\n", "ends inside"),
            (b"poex-seal/v1\n->  x\n\n", "stanza line"),
            (b"poex-seal/v1\n-> x\nAB=\n", "canonical base64"),
            (b"poex-seal/v1\n-> x\nAQ\n--- AAAA\n", "MAC is not"),
        ];
        for (bytes, want) in cases {
            let err = Header::read(&mut &bytes[..]).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(bytes)
            );
        }
        // Non-canonical trailing bits ("AQ" is the one encoding of 0x01, "AR" decodes to it too).
        let err = Header::read(&mut &b"poex-seal/v1\n-> x\nAR\n"[..])
            .unwrap_err()
            .to_string();
        assert!(err.contains("canonical"), "{err}");
        // A line without end, far longer than any header line.
        let long = [b"poex-seal/v1\n-> ".as_slice(), &[b'a'; 10_000]].concat();
        let err = Header::read(&mut &long[..]).unwrap_err().to_string();
        assert!(err.contains("too long"), "{err}");
    }
}
