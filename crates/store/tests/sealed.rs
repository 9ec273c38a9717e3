//! Records of datasets kept encrypted at rest (`Record::sealed`, docs/seal.md "Datasets at
//! rest"): records without it keep their bytes, records with it round-trip, name the sealed
//! object as their store object, and are validated.

#![expect(clippy::unwrap_used, reason = "tests")]

use poex_core::{Algorithm, DigestSet};
use poex_store::hash::Layout;
use poex_store::registry::{
    Added, AssetKind, Name, Policy, Record, Registry, RegistryError, SEALED_FORMAT, SealedAt,
};

fn digests(content: &[u8]) -> DigestSet {
    DigestSet::of([
        Algorithm::Sha256.hash(content),
        Algorithm::Blake3.hash(content),
    ])
}

fn dataset(name: &str, content: &[u8]) -> Record {
    Record {
        kind: AssetKind::Dataset,
        name: Name::new(name).unwrap(),
        digests: digests(content),
        layout: Layout::File,
        size: content.len() as u64,
        file_count: 1,
        published_at: "2025-01-02T03:04:05.5Z".into(),
        publisher: "alice".into(),
        entrypoint: None,
        policy: Some(Policy::default()),
        sealed: None,
    }
}

fn sealed(content: &[u8], sealed_bytes: &[u8]) -> Record {
    Record {
        sealed: Some(SealedAt::new(
            SealedAt::PAYLOAD_FILE,
            digests(sealed_bytes),
            sealed_bytes.len() as u64,
            "poex-x25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        )),
        ..dataset("cohort", content)
    }
}

/// A record without `sealed` is written exactly as before the field existed: these are the
/// bytes this version's predecessor wrote for it (registry file and log entry alike).
#[test]
fn unsealed_records_keep_their_bytes() {
    let rec = dataset("survey", b"v1");
    let expected = r#"{
  "kind": "dataset",
  "name": "survey",
  "digests": {
    "blake3": "2a84887509a92ed4c5f4f4acb4aec1232da18970cef84558c77fe0f78336fb82",
    "sha256": "3bfc269594ef649228e9a74bab00f042efc91d5acc6fbee31a382e80d42388fe"
  },
  "layout": "file",
  "size": 2,
  "file_count": 1,
  "published_at": "2025-01-02T03:04:05.5Z",
  "publisher": "alice",
  "policy": {
    "allowed_algorithms": [],
    "allowed_requesters": []
  }
}"#;
    // The digests of b"v1" (`printf v1 | sha256sum`, `printf v1 | b3sum`).
    assert_eq!(
        Algorithm::Sha256.hash(b"v1").hex(),
        "3bfc269594ef649228e9a74bab00f042efc91d5acc6fbee31a382e80d42388fe"
    );
    let json = serde_json::to_string_pretty(&rec).unwrap();
    assert_eq!(json, expected);
    // An old record file reads back without a `sealed` field and writes the same bytes.
    let back: Record = serde_json::from_str(expected).unwrap();
    assert_eq!(back.sealed, None);
    assert_eq!(serde_json::to_string_pretty(&back).unwrap(), expected);
    assert_eq!(rec.object(), rec.digests.blake3());

    // And through the registry: the record file holds those bytes.
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();
    reg.add(&rec).unwrap();
    let on_disk = std::fs::read_to_string(reg.path_of(AssetKind::Dataset, &rec.name)).unwrap();
    assert_eq!(on_disk, format!("{expected}\n"));
}

#[test]
fn sealed_records_round_trip_and_name_the_sealed_object() {
    let rec = sealed(b"plain", b"poex-seal/v1 ... ciphertext");
    let s = rec.sealed.as_ref().unwrap();
    assert_eq!(s.format, SEALED_FORMAT);
    // The store object is the sealed one; the record's digests stay the plaintext's.
    assert_eq!(rec.object(), s.digests.blake3());
    assert_ne!(rec.object(), rec.digests.blake3());
    assert_eq!(rec.digests, digests(b"plain"));

    let json = serde_json::to_string_pretty(&rec).unwrap();
    assert!(json.contains("\"sealed\": {"), "{json}");
    assert!(json.contains("\"format\": \"poex-seal/v1\""), "{json}");
    let back: Record = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rec);

    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();
    assert_eq!(reg.add(&rec).unwrap(), Added::Created);
    assert_eq!(reg.get(AssetKind::Dataset, &rec.name).unwrap(), Some(rec));
}

#[test]
fn invalid_sealed_records_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(tmp.path()).unwrap();

    let mut algorithm = sealed(b"code", b"sealed code");
    algorithm.kind = AssetKind::Algorithm;
    algorithm.policy = None;
    algorithm.entrypoint = Some(vec!["sh".into(), "x".into()]);

    let mut no_blake3 = sealed(b"a", b"sealed a");
    no_blake3.name = Name::new("no-blake3").unwrap();
    if let Some(s) = no_blake3.sealed.as_mut() {
        s.digests = DigestSet::of([Algorithm::Sha256.hash(b"sealed a")]);
    }

    let mut other_format = sealed(b"b", b"sealed b");
    other_format.name = Name::new("other-format").unwrap();
    if let Some(s) = other_format.sealed.as_mut() {
        s.format = "age-encryption.org/v1".into();
    }

    // A folder is sealed as a tar stream, a file as its bytes: the two must agree.
    let mut folder_as_file = sealed(b"c", b"sealed c");
    folder_as_file.name = Name::new("folder").unwrap();
    folder_as_file.layout = Layout::Directory;

    for rec in [algorithm, no_blake3, other_format, folder_as_file] {
        let err = reg.add(&rec).unwrap_err();
        assert!(
            matches!(err, RegistryError::Invalid { .. }),
            "{}: {err}",
            rec.name
        );
    }
    assert!(reg.list(AssetKind::Dataset).unwrap().is_empty());
    assert!(reg.list(AssetKind::Algorithm).unwrap().is_empty());
}
