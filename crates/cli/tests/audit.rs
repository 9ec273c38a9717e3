//! `poex audit` and `poex audit validate` on a real home: the trail comes from the log, and the
//! audit pinpoints a flipped byte in an entry or a tile, a deleted bundle, an inserted entry, a
//! truncated tile and a registry record that never reached the log.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

mod common;
use common::Env;

/// A home with a published sample and two runs, a clean audit, and the log's size.
fn home_with_runs() -> (Env, u64) {
    let env = Env::new();
    env.publish_sample();
    env.run_count(0, "job1");
    env.run_count(0, "job2");
    let (out, _) = env.ok(&["audit", "validate"]);
    assert!(out.contains("valid:"), "{out}");
    let (info, _) = env.ok(&["log", "info", "--json"]);
    let size = serde_json::from_str::<Value>(&info).unwrap()["size"]
        .as_u64()
        .unwrap();
    assert!(
        size > 4 && size < 256,
        "the test expects one partial bundle: {size}"
    );
    (env, size)
}

fn tiles(env: &Env) -> PathBuf {
    env.home().join("ledger/log/tile")
}

/// The findings of a failing `audit validate --json`.
fn findings(env: &Env) -> Vec<Value> {
    let (out, _) = env.expect(4, &["audit", "validate", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["problem"] == true)
        .cloned()
        .collect()
}

fn has(findings: &[Value], kind: &str, index: Option<u64>) -> bool {
    findings
        .iter()
        .any(|f| f["kind"] == kind && index.is_none_or(|i| f["index"] == i))
}

/// Entry bundle codec (c2sp.org/tlog-tiles): each entry is a big-endian u16 length and bytes.
fn decode(bundle: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        out.push(rest[2..2 + n].to_vec());
        rest = &rest[2 + n..];
    }
    out
}

fn encode(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&u16::try_from(e.len()).unwrap().to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

#[test]
fn the_audit_trail_is_read_from_the_log() {
    let (env, _) = home_with_runs();
    let (out, _) = env.ok(&["audit", "--operation", "publish", "--json"]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().any(|e| e["object"] == "cohort"));
    let (out, _) = env.ok(&["audit", "--operation", "read-dataset"]);
    assert_eq!(
        out.lines().filter(|l| l.contains("cohort")).count(),
        2,
        "{out}"
    );
    // No separate audit file any more: the log is the trail.
    assert!(!env.home().join("store/audit.jsonl").exists());
}

#[test]
fn a_flipped_byte_in_an_entry_is_pinpointed() {
    let (env, size) = home_with_runs();
    let bundle = tiles(&env).join(format!("entries/000.p/{size}"));
    let mut entries = decode(&fs::read(&bundle).unwrap());
    let last = entries.last_mut().unwrap();
    let at = last.len() / 2;
    last[at] ^= 0x20;
    fs::write(&bundle, encode(&entries)).unwrap();
    let f = findings(&env);
    assert!(has(&f, "entry_modified", Some(size - 1)), "{f:?}");
    assert_eq!(f.len(), 1, "{f:?}");
    let (text, _) = env.expect(4, &["audit", "validate"]);
    assert!(
        text.contains(&format!("entry {} modified", size - 1)),
        "{text}"
    );
    assert!(text.contains("NOT VALID"), "{text}");
}

#[test]
fn an_inserted_entry_is_pinpointed() {
    let (env, size) = home_with_runs();
    let bundle = tiles(&env).join(format!("entries/000.p/{size}"));
    let mut entries = decode(&fs::read(&bundle).unwrap());
    let forged = b"poex-entry/v1 event\n{\"forged\":true}".to_vec();
    entries.insert(3, forged);
    fs::write(&bundle, encode(&entries)).unwrap();
    let f = findings(&env);
    assert!(has(&f, "entries_inserted", Some(3)), "{f:?}");
}

#[test]
fn a_deleted_bundle_is_pinpointed() {
    let (env, size) = home_with_runs();
    fs::remove_file(tiles(&env).join(format!("entries/000.p/{size}"))).unwrap();
    let f = findings(&env);
    assert!(has(&f, "entries_deleted", None), "{f:?}");
}

#[test]
fn a_modified_and_a_truncated_tile_are_pinpointed() {
    let (env, size) = home_with_runs();
    let tile = tiles(&env).join(format!("0/000.p/{size}"));
    let mut bytes = fs::read(&tile).unwrap();
    bytes[40] ^= 1;
    fs::write(&tile, &bytes).unwrap();
    let f = findings(&env);
    assert!(has(&f, "tile_modified", None), "{f:?}");
    assert!(
        f.iter().any(|x| x["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("0/000.p/{size}"))),
        "{f:?}"
    );

    bytes[40] ^= 1;
    fs::write(&tile, &bytes[..bytes.len() - 7]).unwrap();
    let f = findings(&env);
    assert!(!f.is_empty(), "a truncated tile must be a finding");
    assert!(
        f.iter().any(|x| x["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("0/000.p/{size}"))),
        "{f:?}"
    );
    // The log refuses to serve over the damage: a writer's open names the tile and the hint.
    let (_, err) = env.expect(1, &["run", "--algorithm", "count", "--dataset", "cohort"]);
    assert!(err.contains("poex audit validate"), "{err}");
}

#[test]
fn a_registry_record_missing_from_the_log_is_reported() {
    let (env, _) = home_with_runs();
    // A record written into the registry behind poex's back (never logged).
    let dir = env.home().join("store/registry/datasets");
    let original = fs::read_to_string(dir.join("cohort.json")).unwrap();
    let mut record: Value = serde_json::from_str(&original).unwrap();
    record["name"] = Value::from("smuggled");
    fs::write(
        dir.join("smuggled.json"),
        serde_json::to_string(&record).unwrap(),
    )
    .unwrap();
    let f = findings(&env);
    assert!(has(&f, "record_not_logged", None), "{f:?}");
    assert!(
        f.iter().any(|x| x["path"] == "registry/dataset/smuggled"),
        "{f:?}"
    );
}

#[test]
fn a_time_range_limits_the_entries_checked() {
    let (env, size) = home_with_runs();
    let (all, _) = env.ok(&["audit", "validate", "--json"]);
    let all: Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all["checked"]["to"], size);
    let (none, _) = env.ok(&[
        "audit",
        "validate",
        "--from",
        "2000-01-01T00:00:00Z",
        "--to",
        "2000-01-02T00:00:00Z",
        "--json",
    ]);
    let none: Value = serde_json::from_str(&none).unwrap();
    assert_eq!(none["checked"]["from"], none["checked"]["to"], "{none}");
    let (_, err) = env.expect(1, &["audit", "validate", "--from", "yesterday"]);
    assert!(err.contains("RFC 3339"), "{err}");
}
