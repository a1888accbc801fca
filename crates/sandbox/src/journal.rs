//! The request journal (a bounded ring of redacted entries) and the per-route call counters.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kaifang_proto_core::redact;
use serde::Serialize;

/// Default number of entries the journal keeps.
pub const DEFAULT_JOURNAL_CAPACITY: usize = 1_000;
/// Bodies longer than this (after redaction) are cut in the journal.
pub const JOURNAL_BODY_MAX: usize = 4_096;

/// One request as the sandbox saw it. Query and body are redacted with proto-core's
/// [`redact`] (tokens, secrets, signatures, codes, tickets ... never appear).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    /// Sequence number, from 1, never reused (also across a reset).
    pub seq: u64,
    /// Sandbox time when the request arrived, Unix milliseconds.
    pub time_ms: i64,
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The redacted query string, when there was one.
    pub query: Option<String>,
    /// The redacted body (by its content type), when not empty; cut at [`JOURNAL_BODY_MAX`].
    pub body: Option<String>,
    /// The response status; `None` when the connection was dropped by a fault.
    pub status: Option<u16>,
    /// Time spent answering (including injected latency), milliseconds.
    pub latency_ms: f64,
    /// The fault applied, if any (`latency`, `status`, `malformed`, `truncated`, `drop`).
    pub fault: Option<String>,
}

impl JournalEntry {
    pub(crate) fn redacted_query(q: Option<&str>) -> Option<String> {
        q.filter(|q| !q.is_empty()).map(redact::query)
    }

    pub(crate) fn redacted_body(content_type: Option<&str>, body: &[u8]) -> Option<String> {
        if body.is_empty() {
            return None;
        }
        Some(redact::truncate(
            &redact::body(content_type, body),
            JOURNAL_BODY_MAX,
        ))
    }
}

/// A bounded ring of [`JournalEntry`]: the oldest entry goes when a new one would exceed the
/// capacity.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    seq: AtomicU64,
    entries: Mutex<VecDeque<JournalEntry>>,
}

impl Journal {
    /// A journal keeping `capacity` entries (0 disables it).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seq: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<JournalEntry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn push(&self, mut e: JournalEntry) {
        if self.capacity == 0 {
            return;
        }
        e.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut g = self.lock();
        while g.len() >= self.capacity {
            g.pop_front();
        }
        g.push_back(e);
    }

    /// All entries, oldest first.
    #[must_use]
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().iter().cloned().collect()
    }

    /// Empties the journal.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// Exact call counts per route, keyed `"METHOD /path"` (no query).
#[derive(Debug, Default)]
pub struct Counters {
    map: Mutex<HashMap<String, u64>>,
}

impl Counters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn hit(&self, method: &str, path: &str) {
        let key = format!("{method} {path}");
        *self.lock().entry(key).or_insert(0) += 1;
    }

    /// The count for `"METHOD /path"` (0 when never called).
    #[must_use]
    pub fn get(&self, key: &str) -> u64 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    /// All counts, sorted by key.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Zeroes every count.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> JournalEntry {
        JournalEntry {
            seq: 0,
            time_ms: 0,
            method: "GET".into(),
            path: path.into(),
            query: None,
            body: None,
            status: Some(200),
            latency_ms: 0.0,
            fault: None,
        }
    }

    #[test]
    fn ring() {
        let j = Journal::new(3);
        for i in 0..5 {
            j.push(entry(&format!("/{i}")));
        }
        let e = j.entries();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].path, "/2");
        assert_eq!(e[2].seq, 5);
        assert_eq!(
            JournalEntry::redacted_query(Some("a=1&client_secret=S3CRET")).unwrap(),
            "a=1&client_secret=[redacted len=6]"
        );
    }
}
