//! Audit events: serialization, operation names, and the filters queries use.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected errors, like the tests"
)]

use poex_core::Algorithm;
use poex_store::audit::{Event, Filter, Operation};
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
fn filters_select_events() {
    let events = sample();
    // Events serialize with kebab-case operations and skip absent fields.
    let text = serde_json::to_string(&events[3]).unwrap();
    assert!(text.contains("\"operation\":\"read-dataset\""), "{text}");
    assert!(!text.contains("detail"), "{text}");
    let back: Event = serde_json::from_str(&text).unwrap();
    assert_eq!(back, events[3]);

    let q = |f: Filter| -> Vec<String> {
        events
            .iter()
            .filter(|e| f.matches(e))
            .map(|e| format!("{}:{}", e.operation, e.object))
            .collect()
    };
    assert_eq!(q(Filter::default()).len(), events.len());
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
    // An event whose time does not parse fails any time bound.
    let mut bad = events[0].clone();
    bad.time = "yesterday".into();
    assert!(Filter::default().matches(&bad));
    assert!(
        !Filter {
            since: Some(at("2000-01-01T00:00:00Z")),
            ..Filter::default()
        }
        .matches(&bad)
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
fn node_operations_have_their_names() {
    // The names are a wire format (log entries, `?operation=`): pinned here, not derived.
    let names = [
        (Operation::Upload, "upload"),
        (Operation::Submit, "submit"),
        (Operation::Cancel, "cancel"),
        (Operation::DownloadResult, "download-result"),
        (Operation::DownloadLog, "download-log"),
        (Operation::Deny, "deny"),
    ];
    for (op, name) in names {
        assert_eq!(op.name(), name);
        assert_eq!(name.parse::<Operation>().unwrap(), op);
        assert!(Operation::ALL.contains(&op), "{op} missing from ALL");
        let e: Event = serde_json::from_str(&format!(
            r#"{{"time":"2025-01-01T00:00:00Z","actor":"a","operation":"{name}","object":"o"}}"#
        ))
        .unwrap();
        assert_eq!(e.operation, op);
    }
    // ALL has no duplicates, and the error for an unknown name lists every name.
    let mut all: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), Operation::ALL.len());
    let message = "explode".parse::<Operation>().unwrap_err().to_string();
    for op in Operation::ALL {
        assert!(message.contains(op.name()), "{message}");
    }
}
