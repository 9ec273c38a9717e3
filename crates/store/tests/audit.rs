//! The audit trail: append and query with filters; a torn last line is reported with its
//! line number, never dropped, and later appends stay intact.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected errors, like the tests"
)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use poex_core::Algorithm;
use poex_store::audit::{AuditError, AuditLog, Event, Filter, Operation, ReadMode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn event(time: &str, actor: &str, op: Operation, object: &str, job: Option<&str>) -> Event {
    Event {
        time: time.into(),
        actor: actor.into(),
        operation: op,
        object: object.into(),
        digest: Some(Algorithm::Sha256.hash(object.as_bytes())),
        job: job.map(Into::into),
        detail: None,
    }
}

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

fn sample() -> Vec<Event> {
    vec![
        event(
            "2025-01-01T00:00:00.1Z",
            "alice",
            Operation::Publish,
            "survey",
            None,
        ),
        event(
            "2025-01-01T00:00:01.25Z",
            "alice",
            Operation::Publish,
            "stats",
            None,
        ),
        event(
            "2025-01-02T10:00:00Z",
            "bob",
            Operation::RunStarted,
            "stats",
            Some("job-1"),
        ),
        event(
            "2025-01-02T10:00:00.5Z",
            "bob",
            Operation::ReadDataset,
            "survey",
            Some("job-1"),
        ),
        event(
            "2025-01-02T10:00:02Z",
            "bob",
            Operation::WriteResult,
            "out.csv",
            Some("job-1"),
        ),
        event(
            "2025-01-03T00:00:00Z",
            "mallory",
            Operation::Refuse,
            "survey",
            Some("job-2"),
        ),
    ]
}

#[test]
fn append_and_query_with_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let events = sample();
    log.append(&events[..2]).unwrap();
    log.append(&events[2..]).unwrap();
    log.append(&[]).unwrap();

    // Reopening sees the same events: it is all on disk.
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.query(&Filter::default()).unwrap(), events);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.contains("\"operation\":\"read-dataset\""), "{text}");

    let q = |f: Filter| -> Vec<String> {
        log.query(&f)
            .unwrap()
            .into_iter()
            .map(|e| format!("{}:{}", e.operation, e.object))
            .collect()
    };
    assert_eq!(
        q(Filter {
            actor: Some("alice".into()),
            ..Filter::default()
        }),
        ["publish:survey", "publish:stats"]
    );
    assert_eq!(
        q(Filter {
            job: Some("job-1".into()),
            operation: Some(Operation::ReadDataset),
            ..Filter::default()
        }),
        ["read-dataset:survey"]
    );
    assert_eq!(
        q(Filter {
            object: Some("survey".into()),
            ..Filter::default()
        }),
        ["publish:survey", "read-dataset:survey", "refuse:survey"]
    );
    // since inclusive, until exclusive, with fractional seconds.
    assert_eq!(
        q(Filter {
            since: Some(at("2025-01-01T00:00:01.25Z")),
            until: Some(at("2025-01-02T10:00:02Z")),
            ..Filter::default()
        }),
        ["publish:stats", "run-started:stats", "read-dataset:survey"]
    );
}

#[test]
fn now_has_fractional_seconds_and_operations_parse() {
    let e = Event::now("alice", Operation::RunFinished, "job");
    let t = e.timestamp().unwrap();
    assert!(e.time.ends_with('Z'), "{}", e.time);
    assert!((OffsetDateTime::now_utc() - t).whole_seconds().abs() < 60);
    for op in Operation::ALL {
        assert_eq!(op.name().parse::<Operation>().unwrap(), op);
        assert_eq!(
            serde_json::to_string(&op).unwrap(),
            format!("\"{}\"", op.name())
        );
    }
    assert!("explode".parse::<Operation>().is_err());
}

#[test]
fn bad_time_is_refused_on_append() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(tmp.path().join("a.jsonl")).unwrap();
    let mut e = Event::now("a", Operation::Publish, "x");
    e.time = "yesterday".into();
    assert!(matches!(log.append(&[e]), Err(AuditError::BadTime { .. })));
    assert!(log.query(&Filter::default()).unwrap().is_empty());
}

#[test]
fn torn_last_line_is_reported_with_its_number() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let events = sample();
    log.append(&events[..3]).unwrap();

    // Simulate a crash in the middle of the next append: half a line, no newline.
    let line = serde_json::to_string(&events[3]).unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&line.as_bytes()[..line.len() / 2])
        .unwrap();

    match log.read(ReadMode::Strict) {
        Err(AuditError::Damaged { line, torn, .. }) => assert_eq!((line, torn), (4, true)),
        other => panic!("torn line not reported: {other:?}"),
    }
    let msg = log.query(&Filter::default()).unwrap_err().to_string();
    assert!(
        msg.contains("line 4") && msg.contains("audit.jsonl"),
        "{msg}"
    );

    let report = log.read(ReadMode::ReportDamage).unwrap();
    assert_eq!(report.events, events[..3]);
    assert_eq!(report.damaged.len(), 1);
    assert_eq!((report.damaged[0].line, report.damaged[0].torn), (4, true));

    // The next append ends the torn line first: the new events are intact, and the damage
    // stays reported at line 4 (no longer the last line, so no longer "torn").
    log.append(&events[3..]).unwrap();
    let report = log.read(ReadMode::ReportDamage).unwrap();
    assert_eq!(report.events, events);
    assert_eq!(report.damaged.len(), 1);
    assert_eq!((report.damaged[0].line, report.damaged[0].torn), (4, false));
    assert!(matches!(
        log.read(ReadMode::Strict),
        Err(AuditError::Damaged { line: 4, .. })
    ));
}

#[test]
fn concurrent_appends_do_not_interleave() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(tmp.path().join("audit.jsonl")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let log = &log;
            s.spawn(move || {
                for i in 0..25 {
                    let batch: Vec<Event> = (0..3)
                        .map(|k| {
                            Event::now(format!("t{t}"), Operation::Publish, format!("{i}.{k}"))
                        })
                        .collect();
                    log.append(&batch).unwrap();
                }
            });
        }
    });
    let all = log.read(ReadMode::Strict).unwrap();
    assert_eq!(all.events.len(), 4 * 25 * 3);
    assert!(all.damaged.is_empty());
    // Each batch is contiguous.
    for chunk in all.events.chunks(3) {
        assert!(chunk.iter().all(|e| e.actor == chunk[0].actor));
    }
}
