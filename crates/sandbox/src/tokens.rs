//! The token registry: every token, code or ticket a module issues, with its owner, scope,
//! metadata and absolute expiry on the sandbox clock.
//!
//! Memory stays bounded: an entry that expired more than the retention ago (default one hour of
//! sandbox time) is forgotten, both on access and by the periodic purge task, and the registry
//! never holds more than its capacity (the entries closest to expiry are evicted first).
//! Within the retention an expired entry is still known, so a module can answer "expired"
//! rather than "unknown" where its platform distinguishes them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kaifang_proto_core::context::Clock;
use serde::Serialize;
use serde_json::Value;

use crate::clock::SandboxClock;

/// What the registry knows about an issued value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    /// The platform (module name) that issued it.
    pub platform: String,
    /// What it is, in the module's words: `access_token`, `refresh_token`, `auth_code`, ...
    pub kind: String,
    /// The tenant (client id, app id, product key ...) it belongs to.
    pub tenant: String,
    /// The user or device it was issued for, if any.
    pub subject: Option<String>,
    /// The granted scope, if any, as the platform spells it.
    pub scope: Option<String>,
    /// Anything else the module wants to keep (refresh counters, the redirect URI, ...).
    pub meta: Value,
    /// Sandbox time of issue, Unix milliseconds.
    pub issued_at_ms: i64,
    /// Absolute expiry on the sandbox clock, Unix milliseconds.
    pub expires_at_ms: i64,
}

impl Grant {
    /// The lifetime it was issued with, in whole seconds (what an `expires_in` field reports).
    #[must_use]
    pub fn ttl_secs(&self) -> u64 {
        u64::try_from(self.expires_at_ms.saturating_sub(self.issued_at_ms) / 1000).unwrap_or(0)
    }
}

/// A grant to be issued: [`TokenRegistry::issue`] stamps it with the clock and the lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGrant {
    /// See [`Grant::kind`].
    pub kind: String,
    /// See [`Grant::tenant`].
    pub tenant: String,
    /// See [`Grant::subject`].
    pub subject: Option<String>,
    /// See [`Grant::scope`].
    pub scope: Option<String>,
    /// See [`Grant::meta`].
    pub meta: Value,
    /// The platform's lifetime for this kind; a control override for (platform, kind) wins.
    pub ttl: Duration,
}

impl NewGrant {
    /// A grant of `kind` for `tenant` living `ttl` (unless overridden).
    #[must_use]
    pub fn new(kind: impl Into<String>, tenant: impl Into<String>, ttl: Duration) -> Self {
        Self {
            kind: kind.into(),
            tenant: tenant.into(),
            subject: None,
            scope: None,
            meta: Value::Null,
            ttl,
        }
    }

    /// Sets the subject.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the scope.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the metadata.
    #[must_use]
    pub fn meta(mut self, meta: Value) -> Self {
        self.meta = meta;
        self
    }
}

/// Why a lookup found no usable grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Never issued, consumed, or forgotten after the retention.
    #[error("unknown token")]
    Unknown,
    /// Past its expiry on the sandbox clock.
    #[error("token expired")]
    Expired,
    /// Revoked through the controls.
    #[error("token revoked")]
    Revoked,
}

#[derive(Debug, Clone)]
struct Entry {
    grant: Grant,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// platform → value → entry
    by_platform: HashMap<String, HashMap<String, Entry>>,
    len: usize,
    /// (platform, kind) → lifetime override
    lifetimes: BTreeMap<(String, String), Duration>,
}

/// One entry of [`TokenRegistry::lifetimes`] (`GET /__sandbox/lifetimes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifetimeOverride {
    /// The platform.
    pub platform: String,
    /// The kind of value.
    pub kind: String,
    /// The lifetime, in seconds.
    pub seconds: u64,
}

/// Default bound on the number of live entries.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// Default time an expired entry is still reported as expired before it is forgotten.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(3600);

/// Every value issued by every module. Cheap to clone (shared). `Debug` shows counts and
/// settings, never a token, code or ticket (the map keys are the issued values).
#[derive(Clone)]
pub struct TokenRegistry {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<SandboxClock>,
    capacity: usize,
    retention_ms: i64,
}

impl fmt::Debug for TokenRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.lock();
        let per_platform: BTreeMap<&str, usize> = g
            .by_platform
            .iter()
            .map(|(p, m)| (p.as_str(), m.len()))
            .collect();
        f.debug_struct("TokenRegistry")
            .field("len", &g.len)
            .field("per_platform", &per_platform)
            .field("lifetimes", &g.lifetimes)
            .field("capacity", &self.capacity)
            .field("retention_ms", &self.retention_ms)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl TokenRegistry {
    /// A registry reading `clock`, holding at most `capacity` entries, forgetting expired
    /// entries `retention` after their expiry.
    #[must_use]
    pub fn new(clock: Arc<SandboxClock>, capacity: usize, retention: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            clock,
            capacity: capacity.max(1),
            retention_ms: ms(retention),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Sets (`Some`) or clears (`None`) the lifetime override for `kind` on `platform`.
    pub fn set_lifetime(&self, platform: &str, kind: &str, ttl: Option<Duration>) {
        let key = (platform.to_owned(), kind.to_owned());
        let mut g = self.lock();
        match ttl {
            Some(t) => {
                g.lifetimes.insert(key, t);
            }
            None => {
                g.lifetimes.remove(&key);
            }
        }
    }

    /// The override for (platform, kind), if any.
    #[must_use]
    pub fn lifetime_override(&self, platform: &str, kind: &str) -> Option<Duration> {
        self.lock()
            .lifetimes
            .get(&(platform.to_owned(), kind.to_owned()))
            .copied()
    }

    /// All overrides, sorted by platform then kind.
    #[must_use]
    pub fn lifetimes(&self) -> Vec<LifetimeOverride> {
        self.lock()
            .lifetimes
            .iter()
            .map(|((p, k), d)| LifetimeOverride {
                platform: p.clone(),
                kind: k.clone(),
                seconds: d.as_secs(),
            })
            .collect()
    }

    /// Records `value` as issued by `platform`. The lifetime is the override for
    /// (platform, kind) if one is set, else `grant.ttl`. Returns the stored grant (use
    /// [`Grant::ttl_secs`] for the `expires_in` to report). Re-issuing a value replaces it.
    pub fn issue(&self, platform: &str, value: impl Into<String>, grant: NewGrant) -> Grant {
        let now = self.now();
        let mut g = self.lock();
        let ttl = g
            .lifetimes
            .get(&(platform.to_owned(), grant.kind.clone()))
            .copied()
            .unwrap_or(grant.ttl);
        let stored = Grant {
            platform: platform.to_owned(),
            kind: grant.kind,
            tenant: grant.tenant,
            subject: grant.subject,
            scope: grant.scope,
            meta: grant.meta,
            issued_at_ms: now,
            expires_at_ms: now.saturating_add(ms(ttl)),
        };
        if g.len >= self.capacity {
            self.make_room(&mut g, now);
        }
        let old = g
            .by_platform
            .entry(platform.to_owned())
            .or_default()
            .insert(
                value.into(),
                Entry {
                    grant: stored.clone(),
                    revoked: false,
                },
            );
        if old.is_none() {
            g.len += 1;
        }
        stored
    }

    /// Purges expired entries; if still full, evicts the eighth of entries closest to expiry.
    fn make_room(&self, g: &mut Inner, now: i64) {
        Self::purge_where(g, |e| e.grant.expires_at_ms <= now);
        if g.len < self.capacity {
            return;
        }
        let mut expiries: Vec<i64> = g
            .by_platform
            .values()
            .flat_map(|m| m.values().map(|e| e.grant.expires_at_ms))
            .collect();
        expiries.sort_unstable();
        let idx = (self.capacity / 8).min(expiries.len().saturating_sub(1));
        let cut = expiries.get(idx).copied().unwrap_or(i64::MIN);
        Self::purge_where(g, |e| e.grant.expires_at_ms <= cut);
    }

    fn purge_where(g: &mut Inner, mut dead: impl FnMut(&Entry) -> bool) -> usize {
        let mut removed = 0;
        for m in g.by_platform.values_mut() {
            let before = m.len();
            m.retain(|_, e| !dead(e));
            removed += before - m.len();
        }
        g.by_platform.retain(|_, m| !m.is_empty());
        g.len -= removed;
        removed
    }

    fn forgotten(&self, e: &Entry, now: i64) -> bool {
        e.grant.expires_at_ms.saturating_add(self.retention_ms) < now
    }

    /// The grant for `value` if it is usable now.
    ///
    /// # Errors
    /// [`LookupError`] says why it is not: unknown, expired or revoked.
    pub fn lookup(&self, platform: &str, value: &str) -> Result<Grant, LookupError> {
        let now = self.now();
        let mut g = self.lock();
        let Some(m) = g.by_platform.get_mut(platform) else {
            return Err(LookupError::Unknown);
        };
        let Some(e) = m.get(value) else {
            return Err(LookupError::Unknown);
        };
        if self.forgotten(e, now) {
            m.remove(value);
            g.len -= 1;
            return Err(LookupError::Unknown);
        }
        if e.revoked {
            Err(LookupError::Revoked)
        } else if e.grant.expires_at_ms <= now {
            Err(LookupError::Expired)
        } else {
            Ok(e.grant.clone())
        }
    }

    /// Like [`lookup`](Self::lookup) but also checks the kind (a refresh token is not an access
    /// token): a value of another kind is [`LookupError::Unknown`].
    ///
    /// # Errors
    /// As [`lookup`](Self::lookup).
    pub fn lookup_kind(
        &self,
        platform: &str,
        kind: &str,
        value: &str,
    ) -> Result<Grant, LookupError> {
        let grant = self.lookup(platform, value);
        match grant {
            Ok(g) if g.kind != kind => Err(LookupError::Unknown),
            other => other,
        }
    }

    /// Single use: returns the grant of a usable `value` of `kind` and removes it, so a second
    /// consume of the same code is [`LookupError::Unknown`]. An expired or revoked value is
    /// removed too.
    ///
    /// # Errors
    /// As [`lookup`](Self::lookup).
    pub fn consume(&self, platform: &str, kind: &str, value: &str) -> Result<Grant, LookupError> {
        let result = self.lookup_kind(platform, kind, value);
        if !matches!(result, Err(LookupError::Unknown)) {
            let mut g = self.lock();
            if let Some(m) = g.by_platform.get_mut(platform)
                && m.remove(value).is_some()
            {
                g.len -= 1;
            }
        }
        result
    }

    /// Changes a stored grant in place (e.g. bump a refresh counter in `meta`). Returns `false`
    /// when `value` is not held.
    pub fn modify(&self, platform: &str, value: &str, f: impl FnOnce(&mut Grant)) -> bool {
        let mut g = self.lock();
        match g
            .by_platform
            .get_mut(platform)
            .and_then(|m| m.get_mut(value))
        {
            Some(e) => {
                f(&mut e.grant);
                true
            }
            None => false,
        }
    }

    /// Revokes `value` (on `platform`, or on whichever platform holds it). Returns the platform
    /// that held it, or `None` when no platform does.
    pub fn revoke(&self, platform: Option<&str>, value: &str) -> Option<String> {
        let mut g = self.lock();
        for (p, m) in &mut g.by_platform {
            if platform.is_some_and(|want| want != p) {
                continue;
            }
            if let Some(e) = m.get_mut(value) {
                e.revoked = true;
                return Some(p.clone());
            }
        }
        None
    }

    /// Removes `value` outright (e.g. an old token replaced by a refresh).
    pub fn remove(&self, platform: &str, value: &str) -> bool {
        let mut g = self.lock();
        let removed = g
            .by_platform
            .get_mut(platform)
            .is_some_and(|m| m.remove(value).is_some());
        if removed {
            g.len -= 1;
        }
        removed
    }

    /// Every value held for `platform` with its grant (tests and diagnostics).
    #[must_use]
    pub fn entries(&self, platform: &str) -> Vec<(String, Grant)> {
        let g = self.lock();
        let mut out: Vec<(String, Grant)> = g
            .by_platform
            .get(platform)
            .map(|m| {
                m.iter()
                    .map(|(k, e)| (k.clone(), e.grant.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.1.issued_at_ms.cmp(&b.1.issued_at_ms).then(a.0.cmp(&b.0)));
        out
    }

    /// Forgets every entry that expired more than the retention ago. Returns how many.
    pub fn purge_expired(&self) -> usize {
        let now = self.now();
        let retention = self.retention_ms;
        let mut g = self.lock();
        Self::purge_where(&mut g, |e| {
            e.grant.expires_at_ms.saturating_add(retention) < now
        })
    }

    /// How many entries are held (live, expired within the retention, or revoked).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// `true` when nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry and every lifetime override.
    pub fn clear(&self) {
        let mut g = self.lock();
        g.by_platform.clear();
        g.len = 0;
        g.lifetimes.clear();
    }
}

/// The registry seen from one platform: the same operations without the platform argument.
/// Obtained from [`ModuleContext::tokens`](crate::ModuleContext::tokens).
#[derive(Debug, Clone)]
pub struct PlatformTokens {
    registry: TokenRegistry,
    platform: &'static str,
}

impl PlatformTokens {
    pub(crate) fn new(registry: TokenRegistry, platform: &'static str) -> Self {
        Self { registry, platform }
    }

    /// The whole registry.
    #[must_use]
    pub fn registry(&self) -> &TokenRegistry {
        &self.registry
    }

    /// See [`TokenRegistry::issue`].
    pub fn issue(&self, value: impl Into<String>, grant: NewGrant) -> Grant {
        self.registry.issue(self.platform, value, grant)
    }

    /// The lifetime `kind` gets: the control override if set, else `default`.
    #[must_use]
    pub fn ttl(&self, kind: &str, default: Duration) -> Duration {
        self.registry
            .lifetime_override(self.platform, kind)
            .unwrap_or(default)
    }

    /// See [`TokenRegistry::lookup`].
    ///
    /// # Errors
    /// See [`TokenRegistry::lookup`].
    pub fn lookup(&self, value: &str) -> Result<Grant, LookupError> {
        self.registry.lookup(self.platform, value)
    }

    /// See [`TokenRegistry::lookup_kind`].
    ///
    /// # Errors
    /// See [`TokenRegistry::lookup`].
    pub fn lookup_kind(&self, kind: &str, value: &str) -> Result<Grant, LookupError> {
        self.registry.lookup_kind(self.platform, kind, value)
    }

    /// See [`TokenRegistry::consume`].
    ///
    /// # Errors
    /// See [`TokenRegistry::lookup`].
    pub fn consume(&self, kind: &str, value: &str) -> Result<Grant, LookupError> {
        self.registry.consume(self.platform, kind, value)
    }

    /// See [`TokenRegistry::modify`].
    pub fn modify(&self, value: &str, f: impl FnOnce(&mut Grant)) -> bool {
        self.registry.modify(self.platform, value, f)
    }

    /// See [`TokenRegistry::revoke`].
    pub fn revoke(&self, value: &str) -> bool {
        self.registry.revoke(Some(self.platform), value).is_some()
    }

    /// See [`TokenRegistry::remove`].
    pub fn remove(&self, value: &str) -> bool {
        self.registry.remove(self.platform, value)
    }

    /// See [`TokenRegistry::entries`].
    #[must_use]
    pub fn entries(&self) -> Vec<(String, Grant)> {
        self.registry.entries(self.platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(cap: usize) -> (Arc<SandboxClock>, TokenRegistry) {
        let clock = Arc::new(SandboxClock::default());
        clock.freeze_at_millis(1_000_000);
        let r = TokenRegistry::new(clock.clone(), cap, Duration::from_secs(60));
        (clock, r)
    }

    /// Regression (leak audit): the derived `Debug` printed the map, keyed by the issued values.
    #[test]
    fn debug_shows_no_issued_value() {
        let (_, r) = reg(100);
        r.issue(
            "p",
            "SECRET-TOKEN-VALUE-1",
            NewGrant::new("access", "c", Duration::from_secs(10)),
        );
        let scoped = PlatformTokens::new(r.clone(), "p");
        for shown in [format!("{r:?}"), format!("{r:#?}"), format!("{scoped:?}")] {
            assert!(!shown.contains("SECRET-TOKEN-VALUE-1"), "{shown}");
            assert!(shown.contains("len: 1"), "{shown}");
        }
    }

    #[test]
    fn lifecycle() {
        let (clock, r) = reg(100);
        let g = r.issue(
            "p",
            "t1",
            NewGrant::new("access", "c", Duration::from_secs(10)),
        );
        assert_eq!(g.ttl_secs(), 10);
        assert_eq!(r.lookup("p", "t1").unwrap().tenant, "c");
        assert_eq!(r.lookup("q", "t1"), Err(LookupError::Unknown));
        assert_eq!(
            r.lookup_kind("p", "refresh", "t1"),
            Err(LookupError::Unknown)
        );
        clock.advance(Duration::from_secs(10));
        assert_eq!(r.lookup("p", "t1"), Err(LookupError::Expired));
        clock.advance(Duration::from_secs(61));
        assert_eq!(r.lookup("p", "t1"), Err(LookupError::Unknown));
        assert_eq!(r.len(), 0);

        r.issue(
            "p",
            "c1",
            NewGrant::new("code", "c", Duration::from_secs(10)),
        );
        assert!(r.consume("p", "code", "c1").is_ok());
        assert_eq!(r.consume("p", "code", "c1"), Err(LookupError::Unknown));

        r.issue(
            "p",
            "t2",
            NewGrant::new("access", "c", Duration::from_secs(10)),
        );
        assert_eq!(r.revoke(None, "t2").as_deref(), Some("p"));
        assert_eq!(r.lookup("p", "t2"), Err(LookupError::Revoked));
        assert_eq!(r.revoke(None, "nope"), None);

        r.set_lifetime("p", "access", Some(Duration::from_secs(3)));
        assert_eq!(
            r.issue(
                "p",
                "t3",
                NewGrant::new("access", "c", Duration::from_secs(10))
            )
            .ttl_secs(),
            3
        );
        assert_eq!(r.lifetimes().len(), 1);
        r.set_lifetime("p", "access", None);
        assert!(r.lifetimes().is_empty());
    }

    #[test]
    fn bounded() {
        let (clock, r) = reg(16);
        for i in 0..100 {
            clock.advance(Duration::from_millis(1));
            r.issue(
                "p",
                format!("t{i}"),
                NewGrant::new("a", "c", Duration::from_secs(1000)),
            );
            assert!(r.len() <= 16);
        }
        // The newest survive.
        assert!(r.lookup("p", "t99").is_ok());
        clock.advance(Duration::from_secs(2000));
        let held = r.len();
        assert_eq!(r.purge_expired(), held);
        assert!(r.is_empty());
    }
}
