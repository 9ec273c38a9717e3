//! Denials (401 and 403) in the audit trail, within a budget.
//!
//! Every denial used to be one log entry, and the log is append-only: an unauthenticated
//! client could grow it without bound (each entry costs the tiles it rewrites, about 43 KB
//! of disk per request measured at 200-270 requests/s). Now each source address has a token
//! bucket of individually logged denials (`deny_log_per_minute`, refilled continuously), and
//! all sources share one ten times larger, so that many addresses (an IPv6 prefix) cannot
//! add up to more. A denial over the budget is still refused the same way; it is counted,
//! and the counts are logged as one `deny` event (actor [`ANONYMOUS`],
//! object `denials`) at most once per `deny_summary_secs`, naming the busiest sources.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use poex_store::audit::{Event, Operation};

use crate::state::Node;

/// The actor of events about callers whose identity was not proven: a signature that did not
/// verify proves nobody's identity.
pub const ANONYMOUS: &str = "anonymous";

/// Sources named one by one in a summary; the rest are counted together.
const SUMMARY_SOURCES: usize = 10;
/// Distinct sources counted between two summaries; more are counted as "others".
const TRACKED_SOURCES: usize = 10_000;
/// Buckets kept at once; when more are needed the full ones (idle sources) are forgotten.
const MAX_BUCKETS: usize = 100_000;

/// A token bucket: `capacity` tokens, refilled at `per_sec`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, capacity: f64, per_sec: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_sec).min(capacity);
        self.last = now;
    }
}

#[derive(Debug)]
struct State {
    buckets: HashMap<Option<IpAddr>, Bucket>,
    global: Bucket,
    /// Denials over the budget since the last summary, by source.
    suppressed: HashMap<Option<IpAddr>, u64>,
    /// Of those, from sources beyond [`TRACKED_SOURCES`].
    others: u64,
    /// By the first words of their reason.
    reasons: BTreeMap<String, u64>,
    first: Option<String>,
    last_summary: Instant,
}

/// The denial budget of one node.
#[derive(Debug)]
pub struct Budget {
    per_minute: f64,
    interval: Duration,
    state: Mutex<State>,
}

impl Budget {
    /// A budget of `per_minute` individually logged denials per source (and ten times that
    /// for all sources together), with a summary of the rest at most every `interval`.
    pub fn new(per_minute: u32, interval: Duration) -> Budget {
        let now = Instant::now();
        let per_minute = f64::from(per_minute);
        Budget {
            per_minute,
            interval,
            state: Mutex::new(State {
                buckets: HashMap::new(),
                global: Bucket::full(per_minute * 10.0, now),
                suppressed: HashMap::new(),
                others: 0,
                reasons: BTreeMap::new(),
                first: None,
                last_summary: now,
            }),
        }
    }

    /// Whether this denial may be logged on its own; if not, it is counted for the summary.
    fn admit(&self, source: Option<IpAddr>, why: &str, now: Instant) -> bool {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (capacity, per_sec) = (self.per_minute, self.per_minute / 60.0);
        if st.buckets.len() >= MAX_BUCKETS && !st.buckets.contains_key(&source) {
            // Forget sources whose bucket has refilled: they start full again anyway.
            st.buckets.retain(|_, b| {
                let mut b = *b;
                b.refill(capacity, per_sec, now);
                b.tokens < capacity
            });
            if st.buckets.len() >= MAX_BUCKETS {
                st.buckets.clear();
            }
        }
        st.global.refill(capacity * 10.0, per_sec * 10.0, now);
        let bucket = st
            .buckets
            .entry(source)
            .or_insert_with(|| Bucket::full(capacity, now));
        bucket.refill(capacity, per_sec, now);
        let admitted = bucket.tokens >= 1.0 && st.global.tokens >= 1.0;
        if admitted {
            if let Some(b) = st.buckets.get_mut(&source) {
                b.tokens -= 1.0;
            }
            st.global.tokens -= 1.0;
            return true;
        }
        if st.suppressed.len() < TRACKED_SOURCES || st.suppressed.contains_key(&source) {
            *st.suppressed.entry(source).or_default() += 1;
        } else {
            st.others += 1;
        }
        let reason: String = why
            .split([':', ';', '('])
            .next()
            .unwrap_or("")
            .chars()
            .take(80)
            .collect();
        if st.reasons.len() < 20 || st.reasons.contains_key(&reason) {
            *st.reasons.entry(reason).or_default() += 1;
        }
        st.first.get_or_insert_with(poex_store::now_rfc3339);
        false
    }

    /// The summary event of the denials not logged one by one, if there are any and `force`
    /// or the interval has passed since the last summary.
    pub fn summary(&self, force: bool) -> Option<Event> {
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !force && now.saturating_duration_since(st.last_summary) < self.interval {
            return None;
        }
        st.last_summary = now;
        let total: u64 = st.suppressed.values().sum::<u64>() + st.others;
        if total == 0 {
            return None;
        }
        let mut sources: Vec<(Option<IpAddr>, u64)> = st.suppressed.drain().collect();
        sources.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut named: Vec<String> = sources
            .iter()
            .take(SUMMARY_SOURCES)
            .map(|(ip, n)| match ip {
                Some(ip) => format!("{ip}: {n}"),
                None => format!("unknown source: {n}"),
            })
            .collect();
        let rest: u64 = sources
            .iter()
            .skip(SUMMARY_SOURCES)
            .map(|(_, n)| n)
            .sum::<u64>()
            + st.others;
        let rest_sources = sources.len().saturating_sub(SUMMARY_SOURCES);
        if rest > 0 {
            named.push(format!(
                "{rest_sources} other source(s) and untracked: {rest}"
            ));
        }
        let reasons: Vec<String> = std::mem::take(&mut st.reasons)
            .into_iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        let since = st.first.take().unwrap_or_default();
        st.others = 0;
        let mut ev = Event::now(ANONYMOUS, Operation::Deny, "denials");
        ev.detail = Some(format!(
            "{total} denial(s) since {since} were over the budget of {} logged per source per \
             minute and are counted here instead of logged one by one; by source: {}; by reason: {}",
            self.per_minute,
            named.join(", "),
            reasons.join(", ")
        ));
        Some(ev)
    }
}

/// The address a request came from, when it came over a socket.
pub fn source(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Records a denial: one `deny` event within the budget, else a count for the next summary
/// (logged here when it is due).
pub fn record(node: &Node, actor: &str, parts: &Parts, why: &str) {
    let from = source(parts);
    let now = Instant::now();
    if node.denials.admit(from, why, now) {
        let object = format!("{} {}", parts.method, parts.uri.path());
        let mut ev = Event::now(actor, Operation::Deny, object);
        ev.detail = Some(match from {
            Some(ip) => format!("{why} (from {ip})"),
            None => why.to_owned(),
        });
        node.audit(vec![ev]);
    }
    if let Some(summary) = node.denials.summary(false) {
        node.audit(vec![summary]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_its_budget_is_summarised_not_logged() {
        let budget = Budget::new(5, Duration::from_secs(3600));
        let now = Instant::now();
        let a: Option<IpAddr> = Some("192.0.2.1".parse().unwrap_or(IpAddr::from([0; 4])));
        let b: Option<IpAddr> = Some("192.0.2.2".parse().unwrap_or(IpAddr::from([0; 4])));
        let admitted = (0..100)
            .filter(|_| budget.admit(a, "unsigned: x", now))
            .count();
        assert_eq!(admitted, 5);
        // Another source has its own budget.
        assert!(budget.admit(b, "bad signature", now));
        assert!(budget.summary(false).is_none(), "not due yet");
        let summary = budget.summary(true).map(|e| e.detail.unwrap_or_default());
        let text = summary.unwrap_or_default();
        assert!(text.starts_with("95 denial(s)"), "{text}");
        assert!(text.contains("192.0.2.1: 95"), "{text}");
        assert!(text.contains("unsigned: 95"), "{text}");
        assert!(budget.summary(true).is_none(), "counted once");
    }

    #[test]
    fn many_sources_share_one_global_budget() {
        let budget = Budget::new(2, Duration::from_secs(3600));
        let now = Instant::now();
        let admitted = (0..1000u32)
            .filter(|i| {
                let ip = IpAddr::from(i.to_be_bytes());
                budget.admit(Some(ip), "x", now)
            })
            .count();
        assert_eq!(admitted, 20, "ten times the per-source budget in all");
        let text = budget
            .summary(true)
            .and_then(|e| e.detail)
            .unwrap_or_default();
        assert!(text.starts_with("980 denial(s)"), "{text}");
        assert!(text.contains("other source(s)"), "{text}");
    }
}
