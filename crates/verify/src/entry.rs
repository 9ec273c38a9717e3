//! Typed, versioned log entries: what one leaf of the poex log holds.
//!
//! # Encoding
//!
//! ```text
//! poex-entry/v1 <kind>\n
//! <compact JSON of the body>
//! ```
//!
//! The header line names the format version and the kind; the body is the kind's JSON exactly as
//! `serde_json::to_vec` writes it (no whitespace, fields in declaration order). The leaf hash the
//! log commits to is `SHA-256(0x00 ‖ entry bytes)`, so the bytes, not the JSON value, are what a
//! proof is about: keep them (the proof bundle carries them verbatim as `logEntry`).
//!
//! | kind | body |
//! |---|---|
//! | `receipt` | the receipt's DSSE envelope, as [`Envelope`] serializes it |
//! | `receipt-digest` | [`ReceiptDigest`]: used instead of `receipt` when the receipt entry would exceed [`MAX_ENTRY_SIZE`] |
//! | `record` | a registry [`Record`] |
//! | `event` | an audit [`Event`] |
//!
//! An entry of another kind or version decodes as [`Entry::Unknown`] (so older tools can still
//! list and count newer entries); a known kind whose body does not parse is an [`EntryError`]
//! naming the kind and what is wrong.
//!
//! # Index keys
//!
//! [`Entry::keys`] gives what the ledger indexes an entry under: its kind, its job id, the assets
//! it concerns (registry `kind/name` and `sha256:<hex>` digests) and a time. See [`Keys`].

use std::fmt;

use poex_core::asset::Record;
use poex_core::audit::Event;
use poex_core::dsse::Envelope;
use poex_core::receipt::ReceiptStatement;
use poex_core::statement::ResourceDescriptor;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The largest entry the log accepts (an entry bundle stores lengths as `u16`).
pub const MAX_ENTRY_SIZE: usize = poex_log::tile::MAX_ENTRY_SIZE;

/// The format and version part of every header: `poex-entry/v1`.
pub const FORMAT: &str = "poex-entry/v1";

/// Longest header line accepted (without its newline); longer is malformed.
pub const MAX_HEADER_LEN: usize = 256;

/// The kinds this version of poex writes and understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// A receipt's DSSE envelope.
    Receipt,
    /// The digest of a receipt too large to log whole.
    ReceiptDigest,
    /// A registry record.
    Record,
    /// An audit event.
    Event,
}

impl Kind {
    /// Every known kind.
    pub const ALL: [Kind; 4] = [
        Kind::Receipt,
        Kind::ReceiptDigest,
        Kind::Record,
        Kind::Event,
    ];

    /// The name used in the header and as the kind index key.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Receipt => "receipt",
            Kind::ReceiptDigest => "receipt-digest",
            Kind::Record => "record",
            Kind::Event => "event",
        }
    }

    /// The kind with this header name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The header line, without its newline: `poex-entry/v1 <kind>`.
    pub fn header(self) -> String {
        format!("{FORMAT} {}", self.name())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The body of a `receipt-digest` entry: a receipt too large for the log, logged by digest.
///
/// The receipt itself stays in the job folder; anyone holding it checks that the SHA-256 of its
/// compact JSON (see [`receipt_json`]) is `sha256`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptDigest {
    /// Lowercase hex SHA-256 of the receipt envelope's compact JSON.
    pub sha256: String,
    /// Length in bytes of that JSON.
    pub size: u64,
    /// The job id (the statement's `runDetails.metadata.invocationId`).
    pub job: String,
    /// The statement's `runDetails.metadata.finishedOn` (RFC 3339).
    pub finished_on: String,
}

impl ReceiptDigest {
    /// The digest entry for `envelope`: hashes its compact JSON and reads job id and end time
    /// from its (unverified) statement.
    pub fn of(envelope: &Envelope) -> Result<Self, EntryError> {
        let json = receipt_json(envelope);
        let statement = statement_of(envelope).map_err(EntryError::ReceiptUnreadable)?;
        let metadata = &statement.predicate.run_details.metadata;
        let job = metadata.invocation_id.clone().ok_or_else(|| {
            EntryError::ReceiptUnreadable("the statement has no invocationId (job id)".into())
        })?;
        let finished_on = metadata.finished_on.clone().ok_or_else(|| {
            EntryError::ReceiptUnreadable("the statement has no finishedOn".into())
        })?;
        Ok(ReceiptDigest {
            sha256: hex::encode(sha2::Sha256::digest(&json)),
            size: json.len() as u64,
            job,
            finished_on,
        })
    }

    /// Whether `envelope` is the receipt this digest names (SHA-256 and size of its compact JSON).
    pub fn matches(&self, envelope: &Envelope) -> bool {
        let json = receipt_json(envelope);
        json.len() as u64 == self.size && hex::encode(sha2::Sha256::digest(&json)) == self.sha256
    }
}

/// The compact JSON of a receipt envelope, as the `receipt` entry body and the `receipt-digest`
/// hash use it: `{"payload":"<base64>","payloadType":"…","signatures":[{"keyid":"…","sig":"<base64>"}]}`.
pub fn receipt_json(envelope: &Envelope) -> Vec<u8> {
    // An Envelope holds only strings and byte strings (written as base64): serializing cannot fail.
    serde_json::to_vec(envelope).unwrap_or_default()
}

/// One typed log entry.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Entry {
    /// A receipt: the processor-signed DSSE envelope, whole.
    Receipt(Envelope),
    /// A receipt too large to log whole, by digest.
    ReceiptDigest(ReceiptDigest),
    /// A registry record (a publish).
    Record(Record),
    /// An audit event.
    Event(Event),
    /// A kind or version this poex does not know: kept as it is.
    Unknown {
        /// The header line, without its newline.
        header: String,
        /// The bytes after the header line.
        body: Vec<u8>,
    },
}

/// An entry could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The bytes do not start with a `poex-entry/...` header line.
    #[error("not a poex log entry: {0}")]
    NotAnEntry(&'static str),
    /// A known kind whose body does not parse.
    #[error("malformed {kind} entry: {reason}")]
    Malformed {
        /// The kind the header names.
        kind: Kind,
        /// What is wrong.
        reason: String,
    },
    /// The encoded entry is larger than the log accepts.
    #[error("{kind} entry is {size} bytes, more than the {MAX_ENTRY_SIZE} a log entry may have")]
    TooLarge {
        /// The kind.
        kind: String,
        /// Its encoded size.
        size: usize,
    },
    /// A receipt too large to log whole has a statement we cannot read job id or time from.
    #[error("receipt too large to log whole, and its statement is unreadable: {0}")]
    ReceiptUnreadable(String),
}

impl Entry {
    /// The entry for a receipt: [`Entry::Receipt`] when it fits in [`MAX_ENTRY_SIZE`] bytes,
    /// else [`Entry::ReceiptDigest`] (the big receipt stays in the job folder).
    pub fn receipt(envelope: &Envelope) -> Result<Entry, EntryError> {
        let whole = Kind::Receipt.header().len() + 1 + receipt_json(envelope).len();
        if whole <= MAX_ENTRY_SIZE {
            Ok(Entry::Receipt(envelope.clone()))
        } else {
            Ok(Entry::ReceiptDigest(ReceiptDigest::of(envelope)?))
        }
    }

    /// The kind, or `None` for [`Entry::Unknown`].
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Entry::Receipt(_) => Some(Kind::Receipt),
            Entry::ReceiptDigest(_) => Some(Kind::ReceiptDigest),
            Entry::Record(_) => Some(Kind::Record),
            Entry::Event(_) => Some(Kind::Event),
            Entry::Unknown { .. } => None,
        }
    }

    /// The kind index key: the kind's name, or the whole header of an unknown entry.
    pub fn kind_key(&self) -> String {
        match self {
            Entry::Unknown { header, .. } => header.clone(),
            known => known.kind().map(Kind::name).unwrap_or_default().to_owned(),
        }
    }

    /// The entry bytes: header line, then the compact JSON body. Fails when the result would be
    /// larger than the log accepts.
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        let (header, body) = match self {
            Entry::Receipt(e) => (Kind::Receipt.header(), to_json(e)),
            Entry::ReceiptDigest(d) => (Kind::ReceiptDigest.header(), to_json(d)),
            Entry::Record(r) => (Kind::Record.header(), to_json(r)),
            Entry::Event(e) => (Kind::Event.header(), to_json(e)),
            Entry::Unknown { header, body } => (header.clone(), body.clone()),
        };
        let mut out = Vec::with_capacity(header.len() + 1 + body.len());
        out.extend_from_slice(header.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&body);
        if out.len() > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge {
                kind: self.kind_key(),
                size: out.len(),
            });
        }
        Ok(out)
    }

    /// Decodes entry bytes. Unknown kinds and versions give [`Entry::Unknown`]; a known kind
    /// with a body that does not parse is [`EntryError::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        let newline = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(EntryError::NotAnEntry("no header line"))?;
        if newline > MAX_HEADER_LEN {
            return Err(EntryError::NotAnEntry("header line too long"));
        }
        let header = std::str::from_utf8(&bytes[..newline])
            .map_err(|_| EntryError::NotAnEntry("header line is not UTF-8"))?;
        if !header.starts_with("poex-entry/") {
            return Err(EntryError::NotAnEntry(
                "header line does not start with \"poex-entry/\"",
            ));
        }
        if header.chars().any(char::is_control) {
            return Err(EntryError::NotAnEntry(
                "header line has a control character",
            ));
        }
        let body = &bytes[newline + 1..];
        let known = header
            .strip_prefix(FORMAT)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(Kind::from_name);
        let Some(kind) = known else {
            return Ok(Entry::Unknown {
                header: header.to_owned(),
                body: body.to_vec(),
            });
        };
        let malformed = |e: serde_json::Error| EntryError::Malformed {
            kind,
            reason: e.to_string(),
        };
        Ok(match kind {
            Kind::Receipt => Entry::Receipt(serde_json::from_slice(body).map_err(malformed)?),
            Kind::ReceiptDigest => {
                let d: ReceiptDigest = serde_json::from_slice(body).map_err(malformed)?;
                if d.sha256.len() != 64
                    || !d
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(EntryError::Malformed {
                        kind,
                        reason: format!("sha256 {:?} is not 64 lowercase hex digits", d.sha256),
                    });
                }
                check_time(kind, "finishedOn", &d.finished_on)?;
                Entry::ReceiptDigest(d)
            }
            Kind::Record => {
                let r: Record = serde_json::from_slice(body).map_err(malformed)?;
                check_time(kind, "published_at", &r.published_at)?;
                Entry::Record(r)
            }
            Kind::Event => {
                let e: Event = serde_json::from_slice(body).map_err(malformed)?;
                check_time(kind, "time", &e.time)?;
                Entry::Event(e)
            }
        })
    }

    /// What the ledger indexes this entry under.
    pub fn keys(&self) -> Keys {
        let mut keys = Keys {
            kind: self.kind_key(),
            ..Keys::default()
        };
        match self {
            Entry::Receipt(envelope) => {
                // The index is a lookup aid: the statement is read without checking the
                // signature (verification is the reader's job, with the processor key).
                if let Ok(st) = statement_of(envelope) {
                    let metadata = &st.predicate.run_details.metadata;
                    keys.job = metadata.invocation_id.clone();
                    keys.time = metadata.finished_on.as_deref().and_then(unix_nanos);
                    for rd in &st.subject {
                        keys.add_descriptor(rd);
                    }
                    for rd in &st.predicate.build_definition.resolved_dependencies {
                        keys.add_descriptor(rd);
                    }
                }
            }
            Entry::ReceiptDigest(d) => {
                keys.job = Some(d.job.clone());
                keys.time = unix_nanos(&d.finished_on);
            }
            Entry::Record(r) => {
                keys.add_asset(format!("{}/{}", r.kind, r.name));
                if let Some(d) = r.digests.sha256() {
                    keys.add_asset(d.to_string());
                }
                keys.time = unix_nanos(&r.published_at);
            }
            Entry::Event(e) => {
                keys.job = e.job.clone();
                if let Some(d) = e
                    .digest
                    .filter(|d| d.algorithm() == poex_core::Algorithm::Sha256)
                {
                    keys.add_asset(d.to_string());
                }
                keys.time = unix_nanos(&e.time);
            }
            Entry::Unknown { .. } => {}
        }
        keys
    }
}

/// The index keys of one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keys {
    /// `receipt`, `receipt-digest`, `record`, `event`, or an unknown entry's header.
    pub kind: String,
    /// The job id: a receipt's `invocationId`, a receipt digest's `job`, an event's `job`.
    pub job: Option<String>,
    /// Registry names as `dataset/<name>` / `algorithm/<name>` (from records, and from a
    /// receipt's `poex:<kind>/<name>` dependency URIs) and `sha256:<hex>` digests (a receipt's
    /// subjects and resolved dependencies, a record's content, an event's object). Sorted, unique.
    pub assets: Vec<String>,
    /// Unix time in nanoseconds: a receipt's `finishedOn`, a record's `published_at`, an
    /// event's `time`. `None` when absent or not RFC 3339.
    pub time: Option<i128>,
}

impl Keys {
    /// The keys of an entry that is filed under `kind` only (one that does not decode).
    pub fn kind_only(kind: impl Into<String>) -> Keys {
        Keys {
            kind: kind.into(),
            ..Keys::default()
        }
    }

    fn add_asset(&mut self, key: String) {
        if let Err(at) = self.assets.binary_search(&key) {
            self.assets.insert(at, key);
        }
    }

    fn add_descriptor(&mut self, rd: &ResourceDescriptor) {
        if let Some(hex) = rd.digest.get("sha256") {
            self.add_asset(format!("sha256:{hex}"));
        }
        if let Some(name) = rd.uri.as_deref().and_then(|u| u.strip_prefix("poex:")) {
            self.add_asset(name.to_owned());
        }
    }
}

/// RFC 3339 text to Unix nanoseconds.
pub fn unix_nanos(rfc3339: &str) -> Option<i128> {
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

fn check_time(kind: Kind, field: &str, value: &str) -> Result<(), EntryError> {
    match OffsetDateTime::parse(value, &Rfc3339) {
        Ok(_) => Ok(()),
        Err(e) => Err(EntryError::Malformed {
            kind,
            reason: format!("{field} {value:?} is not RFC 3339: {e}"),
        }),
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Every body type holds strings, numbers, maps with string keys and byte strings written as
    // base64: serde_json cannot fail on them.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The receipt's statement, parsed without checking the signature.
pub(crate) fn statement_of(envelope: &Envelope) -> Result<ReceiptStatement, String> {
    serde_json::from_slice(&envelope.payload).map_err(|e| format!("statement: {e}"))
}

#[cfg(test)]
mod tests {
    use poex_core::asset::{AssetKind, Layout, Name, Policy};
    use poex_core::audit::Operation;
    use poex_core::receipt::{BUILD_TYPE_JOB, ReceiptFacts};
    use poex_core::{Algorithm, DigestSet, SecretKey};
    use serde_json::{Map, Value};

    use super::*;

    const SHA_R: &str = "sha256:454349e422f05297191ead13e21d3db520e5abef52055e4964b82fb213f593a1";

    fn facts(job: &str, results: usize) -> ReceiptFacts {
        let mut ext = Map::new();
        ext.insert("jobRequest".into(), Value::from("…"));
        let dataset = ResourceDescriptor {
            name: Some("cohort".into()),
            uri: Some("poex:dataset/cohort".into()),
            digest: [("sha256".to_owned(), "ab".repeat(32))]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        ReceiptFacts {
            build_type: BUILD_TYPE_JOB,
            invocation_id: job.into(),
            external_parameters: ext,
            internal_parameters: Map::new(),
            resolved_dependencies: vec![dataset],
            started_on: Some("2026-01-02T03:04:05.000000Z".into()),
            finished_on: "2026-01-02T03:04:06.500000Z".into(),
            results: (0..results)
                .map(|i| {
                    let d = DigestSet::of([Algorithm::Sha256.hash(format!("r{i}").as_bytes())]);
                    ResourceDescriptor::new(format!("out/{i:05}.txt"), &d)
                })
                .collect(),
            byproducts: vec![],
            fallback_subject: ResourceDescriptor::new(
                "poex:job-request",
                &DigestSet::of([Algorithm::Sha256.hash(b"r")]),
            ),
        }
    }

    fn receipt(job: &str, results: usize) -> Envelope {
        facts(job, results)
            .sign(&SecretKey::from_seed(&[1; 32]))
            .unwrap()
    }

    fn record() -> Record {
        Record {
            kind: AssetKind::Dataset,
            name: Name::new("cohort").unwrap(),
            digests: DigestSet::of([Algorithm::Sha256.hash(b"r"), Algorithm::Blake3.hash(b"r")]),
            layout: Layout::File,
            size: 1,
            file_count: 1,
            published_at: "2026-01-01T00:00:00Z".into(),
            publisher: "alice".into(),
            entrypoint: None,
            policy: Some(Policy::default()),
            sealed: None,
        }
    }

    fn event() -> Event {
        Event {
            time: "2026-01-02T03:04:05.123456789Z".into(),
            actor: "bob".into(),
            operation: Operation::ReadDataset,
            object: "cohort".into(),
            digest: Some(SHA_R.parse().unwrap()),
            job: Some("job-7".into()),
            detail: None,
        }
    }

    #[test]
    fn receipt_round_trip_and_keys() {
        let env = receipt("job-1", 2);
        let entry = Entry::receipt(&env).unwrap();
        assert_eq!(entry, Entry::Receipt(env.clone()));
        let bytes = entry.encode().unwrap();
        assert!(bytes.starts_with(b"poex-entry/v1 receipt\n{\"payload\":\""));
        assert_eq!(&bytes[22..], receipt_json(&env).as_slice());
        assert_eq!(Entry::decode(&bytes).unwrap(), entry);
        let keys = entry.keys();
        assert_eq!(keys.kind, "receipt");
        assert_eq!(keys.job.as_deref(), Some("job-1"));
        assert_eq!(keys.time, unix_nanos("2026-01-02T03:04:06.5Z"));
        assert!(keys.assets.contains(&"dataset/cohort".to_owned()));
        assert!(keys.assets.contains(&format!("sha256:{}", "ab".repeat(32))));
        let r0 = Algorithm::Sha256.hash(b"r0").to_string();
        assert!(keys.assets.contains(&r0), "{:?}", keys.assets);
        assert_eq!(keys.assets.len(), 4);
    }

    #[test]
    fn record_and_event_round_trip_and_keys() {
        let r = Entry::Record(record());
        let bytes = r.encode().unwrap();
        assert!(bytes.starts_with(b"poex-entry/v1 record\n{"));
        assert_eq!(Entry::decode(&bytes).unwrap(), r);
        let k = r.keys();
        assert_eq!(k.kind, "record");
        assert_eq!(k.job, None);
        assert_eq!(
            k.assets,
            vec!["dataset/cohort".to_owned(), SHA_R.to_owned()]
        );
        assert_eq!(k.time, Some(1_767_225_600_000_000_000));

        let e = Entry::Event(event());
        let bytes = e.encode().unwrap();
        assert!(bytes.starts_with(b"poex-entry/v1 event\n{\"time\":"));
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
        let k = e.keys();
        assert_eq!(k.kind, "event");
        assert_eq!(k.job.as_deref(), Some("job-7"));
        assert_eq!(k.assets, vec![SHA_R.to_owned()]);
        assert_eq!(k.time, Some(1_767_323_045_123_456_789));
    }

    /// A receipt whose `receipt` entry is exactly `size` bytes: the DSSE keyid hint is free
    /// text, so padding it moves the size one byte at a time.
    fn receipt_of_entry_size(size: usize) -> Envelope {
        let mut env = receipt("job-big", 400);
        let base = Entry::Receipt(env.clone()).encode().unwrap().len();
        assert!(base < size, "base receipt entry {base} bytes");
        env.signatures[0].keyid.push_str(&"k".repeat(size - base));
        env
    }

    #[test]
    fn switches_to_digest_just_past_the_limit() {
        let at = receipt_of_entry_size(MAX_ENTRY_SIZE);
        let entry = Entry::receipt(&at).unwrap();
        assert!(matches!(entry, Entry::Receipt(_)));
        assert_eq!(entry.encode().unwrap().len(), MAX_ENTRY_SIZE);

        let over = receipt_of_entry_size(MAX_ENTRY_SIZE + 1);
        assert!(matches!(
            Entry::Receipt(over.clone()).encode(),
            Err(EntryError::TooLarge { size, .. }) if size == MAX_ENTRY_SIZE + 1
        ));
        let entry = Entry::receipt(&over).unwrap();
        let Entry::ReceiptDigest(d) = &entry else {
            panic!("expected a digest entry, got {entry:?}")
        };
        let json = receipt_json(&over);
        assert_eq!(d.size, json.len() as u64);
        assert_eq!(d.sha256, hex::encode(sha2::Sha256::digest(&json)));
        assert_eq!(d.job, "job-big");
        assert_eq!(d.finished_on, "2026-01-02T03:04:06.500000Z");
        assert!(d.matches(&over));
        assert!(!d.matches(&at));

        let bytes = entry.encode().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("poex-entry/v1 receipt-digest\n{\"sha256\":\""),
            "{text}"
        );
        assert!(
            text.ends_with("\"job\":\"job-big\",\"finishedOn\":\"2026-01-02T03:04:06.500000Z\"}")
        );
        assert_eq!(Entry::decode(&bytes).unwrap(), entry);
        let k = entry.keys();
        assert_eq!(
            (k.kind.as_str(), k.job.as_deref()),
            ("receipt-digest", Some("job-big"))
        );
        assert!(k.time.is_some());
    }

    #[test]
    fn ten_thousand_results_are_logged_by_digest() {
        let env = receipt("job-10k", 10_000);
        assert!(receipt_json(&env).len() > 1_000_000);
        let entry = Entry::receipt(&env).unwrap();
        assert!(matches!(entry, Entry::ReceiptDigest(_)));
        assert!(entry.encode().unwrap().len() < 300);
    }

    #[test]
    fn unknown_kinds_and_versions_are_kept() {
        for raw in [
            &b"poex-entry/v1 anchor\n{\"chain\":1}"[..],
            b"poex-entry/v2 receipt\nwhatever bytes \xff",
            b"poex-entry/v1\n",
        ] {
            let e = Entry::decode(raw).unwrap();
            let Entry::Unknown { header, body } = &e else {
                panic!("{e:?}")
            };
            assert_eq!(e.encode().unwrap(), raw);
            assert_eq!(e.kind(), None);
            assert_eq!(e.keys().kind, *header);
            assert_eq!(body.as_slice(), &raw[header.len() + 1..]);
        }
    }

    #[test]
    fn malformed_entries_name_the_problem() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "no header line"),
            (b"hello\n{}", "does not start with"),
            (b"poex-entry/v1 receipt", "no header line"),
            (b"\xff\n", "not UTF-8"),
            (b"poex-entry/v1 receipt\n{}", "malformed receipt entry: missing field"),
            (b"poex-entry/v1 event\n[1]", "malformed event entry"),
            (
                b"poex-entry/v1 record\n{\"kind\":\"dataset\"}",
                "malformed record entry",
            ),
            (
                b"poex-entry/v1 receipt-digest\n{\"sha256\":\"AB\",\"size\":1,\"job\":\"j\",\"finishedOn\":\"2026-01-01T00:00:00Z\"}",
                "is not 64 lowercase hex digits",
            ),
            (
                b"poex-entry/v1 event\n{\"time\":\"yesterday\",\"actor\":\"a\",\"operation\":\"publish\",\"object\":\"o\"}",
                "time \"yesterday\" is not RFC 3339",
            ),
        ];
        for (raw, want) in cases {
            let err = Entry::decode(raw).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(raw)
            );
        }
        let long = format!("poex-entry/{}\n", "x".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            Entry::decode(long.as_bytes()),
            Err(EntryError::NotAnEntry(_))
        ));
    }

    #[test]
    fn unreadable_big_receipt_is_an_error() {
        let key = SecretKey::from_seed(&[1; 32]);
        let env = Envelope::sign(
            poex_core::statement::PAYLOAD_TYPE,
            vec![b'x'; MAX_ENTRY_SIZE],
            &key,
        );
        assert!(matches!(
            Entry::receipt(&env),
            Err(EntryError::ReceiptUnreadable(_))
        ));
    }
}
