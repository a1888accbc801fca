//! Fault injection: per route (path, optionally method), with a seedable probability and an
//! optional count.

use std::sync::Mutex;
use std::time::Duration;

use kaifang_proto_core::context::{Nonce, OsNonce, SeqNonce};
use serde::{Deserialize, Serialize};

use crate::error::ControlError;

/// What a fault does to a matching request (after any [`FaultSpec::latency_ms`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answers `status` with `body` (and `content_type`, default `application/json`) instead of
    /// calling the route.
    Status {
        /// The HTTP status (100..=999).
        status: u16,
        /// The body, sent as is.
        #[serde(default)]
        body: String,
        /// The `Content-Type`; `application/json` when absent.
        #[serde(default)]
        content_type: Option<String>,
        /// A `Retry-After` header, sent as is (delta seconds such as `"7"`, or an HTTP date);
        /// none when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<String>,
    },
    /// Calls the route, then replaces its body with a malformed one of the same content type
    /// (`{"code":` for JSON), keeping the status.
    Malformed,
    /// Calls the route, then sends its headers with a `Content-Length` larger than the bytes
    /// that follow, and closes the connection.
    Truncated,
    /// Closes the connection without any response.
    Drop,
}

impl FaultAction {
    /// A short label for the journal: `status`, `malformed`, `truncated`, `drop`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Malformed => "malformed",
            Self::Truncated => "truncated",
            Self::Drop => "drop",
        }
    }
}

fn one() -> f64 {
    1.0
}

/// A fault rule, as `POST /__sandbox/faults` takes it (JSON) or built in Rust:
///
/// ```
/// use kaifang_sandbox::FaultSpec;
/// let f = FaultSpec::new("/open/oauth/getAccessToken").method("POST").status(503, "busy").count(2);
/// assert_eq!(f.count, Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The request path: exact, or a prefix when it ends with `*` (`/open/token/*`).
    pub path: String,
    /// The method (`GET`, `POST`, ...); any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Delay before answering, in milliseconds (at most 60,000).
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// What to answer; only the latency applies when absent.
    #[serde(default)]
    pub action: Option<FaultAction>,
    /// Chance that a matching request is hit, in `[0, 1]` (default 1).
    #[serde(default = "one")]
    pub probability: f64,
    /// Seed of this fault's draws: the same seed gives the same sequence of hits. Random when
    /// absent.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Hit only the next `count` matching requests (that the draw selects); unlimited when
    /// absent.
    #[serde(default)]
    pub count: Option<u64>,
}

/// Longest injectable latency.
pub const MAX_LATENCY_MS: u64 = 60_000;

impl FaultSpec {
    /// A fault on `path` that does nothing yet (add a latency or an action).
    #[must_use]
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            method: None,
            latency_ms: None,
            action: None,
            probability: 1.0,
            seed: None,
            count: None,
        }
    }

    /// Only requests with this method.
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Adds latency.
    #[must_use]
    pub fn latency(mut self, d: Duration) -> Self {
        self.latency_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Answers `status` with a JSON `body`.
    #[must_use]
    pub fn status(mut self, status: u16, body: impl Into<String>) -> Self {
        self.action = Some(FaultAction::Status {
            status,
            body: body.into(),
            content_type: None,
            retry_after: None,
        });
        self
    }

    /// Adds `Retry-After: <value>` to a [`status`](Self::status) answer (set the status first;
    /// no effect on other actions).
    ///
    /// ```
    /// use kaifang_sandbox::{FaultAction, FaultSpec};
    /// let f = FaultSpec::new("/x").status(503, "busy").retry_after("7");
    /// assert!(matches!(f.action, Some(FaultAction::Status { retry_after: Some(ref v), .. }) if v == "7"));
    /// ```
    #[must_use]
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        if let Some(FaultAction::Status { retry_after, .. }) = &mut self.action {
            *retry_after = Some(value.into());
        }
        self
    }

    /// See [`FaultAction::Malformed`].
    #[must_use]
    pub fn malformed(mut self) -> Self {
        self.action = Some(FaultAction::Malformed);
        self
    }

    /// See [`FaultAction::Truncated`].
    #[must_use]
    pub fn truncated(mut self) -> Self {
        self.action = Some(FaultAction::Truncated);
        self
    }

    /// See [`FaultAction::Drop`].
    #[must_use]
    pub fn drop_connection(mut self) -> Self {
        self.action = Some(FaultAction::Drop);
        self
    }

    /// Sets the probability.
    #[must_use]
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Limits the fault to the next `n` hits.
    #[must_use]
    pub fn count(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ControlError::BadRequest`] naming the bad field.
    pub fn validate(&self) -> Result<(), ControlError> {
        let bad = |m: String| Err(ControlError::BadRequest(m));
        if !self.path.starts_with('/') {
            return bad(format!("path: must start with '/', got {:?}", self.path));
        }
        if let Some(m) = &self.method
            && (http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty())
        {
            return bad(format!("method: not an HTTP method: {m:?}"));
        }
        if !(self.probability.is_finite() && (0.0..=1.0).contains(&self.probability)) {
            return bad(format!(
                "probability: must be within [0, 1], got {}",
                self.probability
            ));
        }
        if let Some(l) = self.latency_ms
            && l > MAX_LATENCY_MS
        {
            return bad(format!("latency_ms: at most {MAX_LATENCY_MS}, got {l}"));
        }
        if let Some(FaultAction::Status {
            status,
            content_type,
            retry_after,
            ..
        }) = &self.action
        {
            if let Some(ra) = retry_after
                && http::HeaderValue::from_str(ra).is_err()
            {
                return bad(format!("action.retry_after: not a header value: {ra:?}"));
            }
            if !(100..=999).contains(status) || http::StatusCode::from_u16(*status).is_err() {
                return bad(format!("action.status: not an HTTP status: {status}"));
            }
            if let Some(ct) = content_type
                && http::HeaderValue::from_str(ct).is_err()
            {
                return bad(format!("action.content_type: not a header value: {ct:?}"));
            }
        }
        if self.latency_ms.is_none() && self.action.is_none() {
            return bad("a fault needs `latency_ms` or `action` (or both)".to_owned());
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        };
        path_ok
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// A registered fault and what it has done so far (`GET /__sandbox/faults`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultInfo {
    /// Its id (for `DELETE /__sandbox/faults/{id}`).
    pub id: u64,
    /// The rule.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Matching requests seen.
    pub matched: u64,
    /// Requests hit.
    pub fired: u64,
    /// Hits left, when limited.
    pub remaining: Option<u64>,
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub(crate) id: u64,
    pub(crate) latency: Option<Duration>,
    pub(crate) action: Option<FaultAction>,
}

#[derive(Debug)]
struct Active {
    info: FaultInfo,
    draws: Box<dyn Nonce>,
}

/// The registered faults, in order: the first matching fault whose draw hits decides.
#[derive(Debug, Default)]
pub struct FaultSet {
    inner: Mutex<(u64, Vec<Active>)>,
}

impl FaultSet {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<Active>)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Validates and registers a fault; returns its id.
    ///
    /// # Errors
    /// [`ControlError::BadRequest`] from [`FaultSpec::validate`].
    pub fn add(&self, mut spec: FaultSpec) -> Result<u64, ControlError> {
        spec.validate()?;
        if let Some(m) = &mut spec.method {
            *m = m.to_ascii_uppercase();
        }
        let draws: Box<dyn Nonce> = match spec.seed {
            Some(s) => Box::new(SeqNonce::new(s)),
            None => Box::new(OsNonce),
        };
        let mut g = self.lock();
        g.0 += 1;
        let id = g.0;
        let remaining = spec.count;
        g.1.push(Active {
            info: FaultInfo {
                id,
                spec,
                matched: 0,
                fired: 0,
                remaining,
            },
            draws,
        });
        Ok(id)
    }

    /// Removes one fault. Returns `false` for an unknown id.
    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.lock();
        let before = g.1.len();
        g.1.retain(|a| a.info.id != id);
        g.1.len() != before
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().1.clear();
    }

    /// The registered faults with their counts.
    #[must_use]
    pub fn list(&self) -> Vec<FaultInfo> {
        self.lock().1.iter().map(|a| a.info.clone()).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().1.is_empty()
    }

    pub(crate) fn decide(&self, method: &str, path: &str) -> Option<Decision> {
        let mut g = self.lock();
        for a in &mut g.1 {
            if a.info.remaining == Some(0) || !a.info.spec.matches(method, path) {
                continue;
            }
            a.info.matched += 1;
            let p = a.info.spec.probability;
            let hit = p >= 1.0 || (p > 0.0 && a.draws.unit_f64() < p);
            if !hit {
                continue;
            }
            a.info.fired += 1;
            if let Some(r) = &mut a.info.remaining {
                *r -= 1;
            }
            return Some(Decision {
                id: a.info.id,
                latency: a.info.spec.latency_ms.map(Duration::from_millis),
                action: a.info.spec.action.clone(),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_count_and_seed() {
        let set = FaultSet::default();
        let id = set
            .add(FaultSpec::new("/a/*").method("post").malformed().count(2))
            .unwrap();
        assert!(set.decide("GET", "/a/x").is_none());
        assert_eq!(set.decide("POST", "/a/x").unwrap().id, id);
        assert!(set.decide("POST", "/a/y").is_some());
        assert!(set.decide("POST", "/a/y").is_none());
        assert_eq!(set.list()[0].remaining, Some(0));
        set.clear();

        let pattern = |seed| {
            let s = FaultSet::default();
            s.add(
                FaultSpec::new("/p")
                    .drop_connection()
                    .probability(0.5)
                    .seed(seed),
            )
            .unwrap();
            (0..64)
                .map(|_| s.decide("GET", "/p").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(3), pattern(3));
        assert_ne!(pattern(3), pattern(4));
        let hits = pattern(3).into_iter().filter(|h| *h).count();
        assert!((16..48).contains(&hits), "{hits}");
    }

    #[test]
    fn retry_after_round_trips_as_json() {
        let spec = FaultSpec::new("/x").status(503, "busy").retry_after("7");
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["action"]["retry_after"], "7");
        let back: FaultSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
        // Absent in the JSON: none, and not serialized back.
        let plain: FaultSpec = serde_json::from_str(
            r#"{"path":"/x","action":{"type":"status","status":502,"body":""}}"#,
        )
        .unwrap();
        assert!(matches!(
            plain.action,
            Some(FaultAction::Status {
                retry_after: None,
                ..
            })
        ));
        assert!(
            serde_json::to_string(&plain)
                .unwrap()
                .find("retry_after")
                .is_none()
        );
        // Only a status answer carries it.
        assert_eq!(
            FaultSpec::new("/x")
                .drop_connection()
                .retry_after("7")
                .action,
            Some(FaultAction::Drop)
        );
    }

    #[test]
    fn validation() {
        for bad in [
            FaultSpec::new("x").drop_connection(),
            FaultSpec::new("/x"),
            FaultSpec::new("/x").drop_connection().probability(1.5),
            FaultSpec::new("/x").drop_connection().probability(f64::NAN),
            FaultSpec::new("/x").status(42, ""),
            FaultSpec::new("/x").latency(Duration::from_secs(3600)),
            FaultSpec::new("/x").drop_connection().method("GE T"),
            FaultSpec::new("/x").status(503, "").retry_after("1\n2"),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
