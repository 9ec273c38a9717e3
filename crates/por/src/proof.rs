//! Challenges, responses, and the two operations on them: [`respond`] (holder) and
//! [`check`] (verifier).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use poex_core::{Algorithm, Digest};
use serde::{Deserialize, Serialize};

use crate::error::{FailedChunk, PorError, RespondError};
use crate::outboard::Outboard;
use crate::source::ReadAt;
use crate::tree::{
    self, CHUNK_LEN, Cv, GROUP_CHUNKS, GROUP_LEN, Node, chunk_bytes, chunk_count, siblings,
};

/// Most chunks one challenge may ask for: 4096 chunks are 4 MiB of data to read and send
/// (and detect the loss of 0.1 % of a file with probability 98.4 %). A node answers
/// anyone who may challenge, so the bound is its cost of answering.
pub const MAX_K: u32 = 4096;

/// The `type` of a challenge in JSON.
pub const CHALLENGE_TYPE: &str = "poex.por.challenge/v1";

/// The BLAKE3 `derive_key` context of the chunk indices (domain separation).
const INDEX_CONTEXT: &str = "poex.dev 2026 proof of retrievability challenge indices v1";

/// A challenge: which file (root and size), how many chunks, and a fresh nonce from which the
/// chunk indices are derived, so the holder cannot choose them and cannot know them before.
///
/// JSON (the form it travels in):
///
/// ```json
/// {"type": "poex.por.challenge/v1", "root": "blake3:<64 hex>", "size": 1073741824,
///  "k": 100, "nonce": "<64 hex>"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ChallengeJson", into = "ChallengeJson")]
pub struct Challenge {
    root: Digest,
    size: u64,
    k: u32,
    nonce: [u8; 32],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeJson {
    #[serde(rename = "type")]
    kind: String,
    root: Digest,
    size: u64,
    k: u32,
    nonce: String,
}

impl TryFrom<ChallengeJson> for Challenge {
    type Error = PorError;
    fn try_from(j: ChallengeJson) -> Result<Self, PorError> {
        if j.kind != CHALLENGE_TYPE {
            return Err(PorError::MalformedChallenge(format!(
                "type {:?}, expected {CHALLENGE_TYPE:?}",
                j.kind
            )));
        }
        let mut nonce = [0; 32];
        hex::decode_to_slice(&j.nonce, &mut nonce).map_err(|_| {
            PorError::MalformedChallenge("nonce must be 64 hex digits (32 bytes)".into())
        })?;
        Challenge::with_nonce(j.root, j.size, j.k, nonce)
    }
}

impl From<Challenge> for ChallengeJson {
    fn from(c: Challenge) -> Self {
        ChallengeJson {
            kind: CHALLENGE_TYPE.into(),
            root: c.root,
            size: c.size,
            k: c.k,
            nonce: hex::encode(c.nonce),
        }
    }
}

impl Challenge {
    /// A challenge of `k` chunks of the `size`-byte file whose blake3 digest is `root`, with a
    /// fresh random nonce.
    pub fn new(root: Digest, size: u64, k: u32) -> Result<Challenge, PorError> {
        let mut nonce = [0; 32];
        getrandom::fill(&mut nonce).map_err(|e| PorError::Random(e.to_string()))?;
        Self::with_nonce(root, size, k, nonce)
    }

    /// A challenge with a given nonce: for tests and for nonces drawn elsewhere (a beacon, a
    /// block hash). A nonce must never be reused against the same holder: its old response
    /// would answer it.
    pub fn with_nonce(
        root: Digest,
        size: u64,
        k: u32,
        nonce: [u8; 32],
    ) -> Result<Challenge, PorError> {
        if root.algorithm() != Algorithm::Blake3 {
            return Err(PorError::NotBlake3 {
                digest: root.to_string(),
            });
        }
        if k == 0 || k > MAX_K {
            return Err(PorError::BadK { k, max: MAX_K });
        }
        Ok(Challenge {
            root,
            size,
            k,
            nonce,
        })
    }

    /// The file's blake3 digest.
    pub fn root(&self) -> &Digest {
        &self.root
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The number of chunks asked for.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The nonce.
    pub fn nonce(&self) -> &[u8; 32] {
        &self.nonce
    }

    /// The challenged chunk indices, ascending and distinct: `min(k, chunks)` of them, drawn
    /// uniformly without replacement from the BLAKE3 XOF of the nonce (derive-key mode,
    /// keyed also by root and size), by rejection so that every index is equally likely.
    /// A file with no more than `k` chunks is challenged whole.
    pub fn indices(&self) -> Vec<u64> {
        let n = chunk_count(self.size);
        let want = u64::from(self.k).min(n);
        if want == n {
            return (0..n).collect();
        }
        let mut xof = blake3::Hasher::new_derive_key(INDEX_CONTEXT)
            .update(self.root.as_bytes())
            .update(&self.size.to_le_bytes())
            .update(&self.nonce)
            .finalize_xof();
        // Accept x below the largest multiple of n: then x % n is exactly uniform.
        let limit = u64::MAX / n * n;
        let mut picked = BTreeSet::new();
        let mut word = [0u8; 8];
        while (picked.len() as u64) < want {
            xof.fill(&mut word);
            let x = u64::from_le_bytes(word);
            if x < limit {
                picked.insert(x % n);
            }
        }
        picked.into_iter().collect()
    }

    /// The challenge as JSON (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a challenge from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Challenge, PorError> {
        serde_json::from_slice(bytes).map_err(|e| PorError::MalformedChallenge(e.to_string()))
    }
}

/// A fresh challenge of `k` chunks of the `size`-byte file whose blake3 digest is `root`.
pub fn challenge(root: &Digest, size: u64, k: u32) -> Result<Challenge, PorError> {
    Challenge::new(*root, size, k)
}

const RESPONSE_MAGIC: &[u8; 8] = b"poexPR01";
const RESPONSE_HEADER: usize = 88;

/// A holder's answer: the challenged chunks' bytes and the CVs of every sibling on their
/// paths to the root, each CV once.
///
/// # Binary format (`poexPR01`)
///
/// ```text
/// offset  size   field
///      0     8   magic "poexPR01"
///      8    32   nonce of the challenge answered
///     40    32   root: blake3 of the file, as the holder names it
///     72     8   size of the file, u64 little-endian
///     80     4   number of chunks c, u32 little-endian
///     84     4   number of CVs m, u32 little-endian
///     88     d   the c chunks' bytes, in index order (1024 each; the file's last chunk
///                may be shorter: lengths follow from the indices and the size)
///   88+d  32*m   the CVs, one per sibling node, in (first chunk, end chunk) order
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    nonce: [u8; 32],
    root: [u8; 32],
    size: u64,
    chunk_count: u32,
    data: Vec<u8>,
    cvs: Vec<Cv>,
}

impl Response {
    /// The nonce of the challenge it answers.
    pub fn nonce(&self) -> &[u8; 32] {
        &self.nonce
    }

    /// How many chunks it carries.
    pub fn chunk_count(&self) -> u32 {
        self.chunk_count
    }

    /// How many CVs it carries.
    pub fn cv_count(&self) -> usize {
        self.cvs.len()
    }

    /// Bytes of chunk data it carries.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Its encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        RESPONSE_HEADER + self.data.len() + 32 * self.cvs.len()
    }

    /// The binary encoding (see the type's docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(RESPONSE_MAGIC);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.chunk_count.to_le_bytes());
        out.extend_from_slice(&(self.cvs.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.data);
        for cv in &self.cvs {
            out.extend_from_slice(cv);
        }
        out
    }

    /// Parses the binary encoding. Only the framing is checked here; [`check`] checks the
    /// rest against the challenge.
    pub fn from_bytes(bytes: &[u8]) -> Result<Response, PorError> {
        let bad = |why: &str| PorError::Malformed(why.to_owned());
        if bytes.len() < RESPONSE_HEADER || &bytes[..8] != RESPONSE_MAGIC {
            return Err(bad(
                "not a poex proof-of-retrievability response (magic poexPR01)",
            ));
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let mut size = [0; 8];
        size.copy_from_slice(&bytes[72..80]);
        let chunk_count = word(80);
        let cv_count = word(84) as usize;
        let cv_bytes = cv_count
            .checked_mul(32)
            .filter(|&b| b <= bytes.len() - RESPONSE_HEADER)
            .ok_or_else(|| bad("it announces more CVs than it holds"))?;
        let data_end = bytes.len() - cv_bytes;
        Ok(Response {
            nonce: take32(&bytes[8..40]),
            root: take32(&bytes[40..72]),
            size: u64::from_le_bytes(size),
            chunk_count,
            data: bytes[RESPONSE_HEADER..data_end].to_vec(),
            cvs: bytes[data_end..].chunks_exact(32).map(take32).collect(),
        })
    }
}

fn take32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(bytes);
    out
}

/// Answers `challenge` from `file`, taking CVs above the 16 KiB group level from `outboard`
/// (or, without one, building it first: a full pass over the file).
///
/// Reads the 16 KiB group around each challenged chunk (its bytes and the CVs beside it on
/// its path come from there) and nothing else. Fails if the file's size, or the outboard's
/// root and size, are not the challenge's; it does **not** re-hash the file, so a holder whose
/// bytes changed after the outboard was built answers with the changed bytes, and [`check`]
/// names them. To check one's own answer first, use [`respond_file`].
pub fn respond<R: ReadAt + Sync + ?Sized>(
    file: &R,
    outboard: Option<&Outboard>,
    challenge: &Challenge,
) -> Result<Response, RespondError> {
    let io = |e| RespondError::io(Path::new(""), e);
    let size = file.size().map_err(io)?;
    if size != challenge.size {
        return Err(RespondError::SizeMismatch {
            file: size,
            challenge: challenge.size,
        });
    }
    let built;
    let outboard = match outboard {
        Some(o) => o,
        None => {
            built = Outboard::create(file).map_err(io)?;
            &built
        }
    };
    if outboard.size() != size || outboard.root().as_bytes() != challenge.root.as_bytes() {
        return Err(RespondError::NotThisFile {
            expected: challenge.root.hex(),
            actual: outboard.root().to_hex().to_string(),
        });
    }
    let n = chunk_count(size);
    let indices = challenge.indices();
    // The groups holding challenged chunks, each read once.
    let mut groups: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for &i in &indices {
        let g = i / GROUP_CHUNKS;
        if let std::collections::btree_map::Entry::Vacant(slot) = groups.entry(g) {
            let start = g * GROUP_LEN;
            let mut bytes = vec![0; ((start + GROUP_LEN).min(size) - start) as usize];
            file.read_exact_at(&mut bytes, start).map_err(io)?;
            slot.insert(bytes);
        }
    }
    let in_group = |node_start: u64, node_end_byte: u64| -> Option<&[u8]> {
        let g = node_start / GROUP_CHUNKS;
        let bytes = groups.get(&g)?;
        let from = ((node_start - g * GROUP_CHUNKS) * CHUNK_LEN) as usize;
        let to = (node_end_byte - g * GROUP_LEN) as usize;
        bytes.get(from..to)
    };
    let missing = || RespondError::Outboard("it lacks a CV the tree needs".into());
    let mut data = Vec::with_capacity(indices.len() * CHUNK_LEN as usize);
    for &i in &indices {
        let (_, end) = chunk_bytes(i, size);
        data.extend_from_slice(in_group(i, end).ok_or_else(missing)?);
    }
    let mut cvs = Vec::new();
    if n > 1 {
        for node in siblings(&indices, n) {
            let cv = if node.is_group_or_above(n) {
                outboard.cv(node)
            } else {
                let end = (node.end * CHUNK_LEN).min(size);
                in_group(node.start, end).map(|bytes| tree::subtree_cv(node.start, bytes))
            };
            cvs.push(cv.ok_or_else(missing)?);
        }
    }
    Ok(Response {
        nonce: challenge.nonce,
        root: *challenge.root.as_bytes(),
        size,
        chunk_count: indices.len() as u32,
        data,
        cvs,
    })
}

/// Checks `response` against the `root` and `size` the verifier keeps and the `challenge` it
/// sent. Every challenged chunk is hashed at its index and walked up to the root through the
/// response's CVs on its own, so a failure names each chunk that failed.
///
/// Accepts only if every chunk derived from the challenge's nonce is there and leads to the
/// root: a holder that cannot produce the bytes of a challenged chunk cannot pass (that would
/// need a BLAKE3 preimage or collision), and a response made for another nonce fails.
pub fn check(
    root: &Digest,
    size: u64,
    challenge: &Challenge,
    response: &Response,
) -> Result<(), PorError> {
    if root.algorithm() != Algorithm::Blake3 {
        return Err(PorError::NotBlake3 {
            digest: root.to_string(),
        });
    }
    if challenge.root != *root || challenge.size != size {
        return Err(PorError::ChallengeMismatch {
            challenge: format!("{}, {} bytes", challenge.root, challenge.size),
            expected: format!("{root}, {size} bytes"),
        });
    }
    if response.nonce != challenge.nonce {
        return Err(PorError::WrongNonce {
            expected: hex::encode(challenge.nonce),
            got: hex::encode(response.nonce),
        });
    }
    if response.root != *root.as_bytes() || response.size != size {
        return Err(PorError::WrongFile {
            expected: format!("{root}, {size} bytes"),
            got: format!(
                "blake3:{}, {} bytes",
                hex::encode(response.root),
                response.size
            ),
        });
    }
    let n = chunk_count(size);
    let indices = challenge.indices();
    if response.chunk_count as usize != indices.len() {
        return Err(PorError::Malformed(format!(
            "it carries {} chunks, the challenge asks for {}",
            response.chunk_count,
            indices.len()
        )));
    }
    let lengths: Vec<usize> = indices
        .iter()
        .map(|&i| {
            let (s, e) = chunk_bytes(i, size);
            (e - s) as usize
        })
        .collect();
    let expected_data: usize = lengths.iter().sum();
    if response.data.len() != expected_data {
        return Err(PorError::Malformed(format!(
            "it carries {} bytes of chunk data, the challenged chunks are {expected_data} bytes",
            response.data.len()
        )));
    }
    let root_hash = blake3::Hash::from_bytes(*root.as_bytes());
    let fail = |i: u64| {
        let (start, end) = chunk_bytes(i, size);
        FailedChunk {
            index: i,
            start,
            end,
        }
    };
    if n == 1 {
        return if blake3::hash(&response.data) == root_hash && response.cvs.is_empty() {
            Ok(())
        } else {
            Err(PorError::Chunks {
                failed: vec![fail(0)],
                challenged: 1,
            })
        };
    }
    let nodes: Vec<Node> = siblings(&indices, n);
    if response.cvs.len() != nodes.len() {
        return Err(PorError::Malformed(format!(
            "it carries {} CVs, the challenged chunks' paths have {} siblings",
            response.cvs.len(),
            nodes.len()
        )));
    }
    let lookup = |node: Node| nodes.binary_search(&node).ok().map(|p| response.cvs[p]);
    let mut failed = Vec::new();
    let mut at = 0;
    for (&i, &len) in indices.iter().zip(&lengths) {
        let bytes = &response.data[at..at + len];
        at += len;
        let cv = tree::subtree_cv(i, bytes);
        if tree::root_from(i, cv, n, lookup) != Some(root_hash) {
            failed.push(fail(i));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(PorError::Chunks {
            failed,
            challenged: indices.len(),
        })
    }
}

/// What [`respond_file`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Answer {
    /// The response to send.
    pub response: Response,
    /// Whether the outboard had to be built (a full pass over the file).
    pub outboard_built: bool,
    /// The holder's own check of the response against the challenge's root: an error means
    /// the file no longer holds the published bytes at the named chunks. The response is
    /// still the honest answer; the verifier will reach the same verdict.
    pub self_check: Result<(), PorError>,
}

/// The holder's whole answer for a file on disk: opens `path`, loads the outboard at
/// `outboard` (building and saving it if it is missing or for another file; without a path it
/// is built in memory), responds, and checks the response before returning it. If the check
/// fails with an outboard loaded from disk, the outboard is rebuilt from the file once and the
/// challenge answered again, so a damaged outboard is repaired rather than blamed on the data.
pub fn respond_file(
    path: &Path,
    outboard: Option<&Path>,
    challenge: &Challenge,
) -> Result<Answer, RespondError> {
    let file = std::fs::File::open(path).map_err(|e| RespondError::io(path, e))?;
    let size = file
        .metadata()
        .map_err(|e| RespondError::io(path, e))?
        .len();
    if size != challenge.size {
        return Err(RespondError::SizeMismatch {
            file: size,
            challenge: challenge.size,
        });
    }
    let root = blake3::Hash::from_bytes(*challenge.root.as_bytes());
    let (ob, built) = match outboard {
        Some(p) => Outboard::load_or_create(p, &file, &root)?,
        None => (
            Outboard::create(&file).map_err(|e| RespondError::io(path, e))?,
            true,
        ),
    };
    let respond_with = |ob: &Outboard| -> Result<(Response, Result<(), PorError>), RespondError> {
        let response = respond(&file, Some(ob), challenge).map_err(|e| match e {
            RespondError::Io { source, .. } => RespondError::io(path, source),
            other => other,
        })?;
        let verdict = check(&challenge.root, challenge.size, challenge, &response);
        Ok((response, verdict))
    };
    let (response, verdict) = respond_with(&ob)?;
    if verdict.is_err()
        && !built
        && let Some(p) = outboard
    {
        // The file may be fine and the stored outboard damaged: rebuild it (this re-hashes
        // the whole file and fails if the file no longer has the root) and answer again.
        let fresh = Outboard::create(&file).map_err(|e| RespondError::io(path, e))?;
        if fresh.root() != root {
            return Ok(Answer {
                response,
                outboard_built: false,
                self_check: verdict,
            });
        }
        fresh.save(p)?;
        let (response, verdict) = respond_with(&fresh)?;
        return Ok(Answer {
            response,
            outboard_built: true,
            self_check: verdict,
        });
    }
    Ok(Answer {
        response,
        outboard_built: built,
        self_check: verdict,
    })
}
