//! [`RefreshPolicy`]: when to refresh, how long to back off, and what a cached token is good for
//! right now ([`Freshness`]). Pure functions of their inputs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::token::Token;

/// The numbers of the token lifecycle. `Default` gives: margin 5 min, fraction 0.8, floor 0.5,
/// jitter 0.1, headroom 2 s, backoff 1 s doubling to 60 s, max wait 10 s, store lease 5 s.
///
/// # When a token is refreshed
/// With `ttl = expires_at − issued_at`:
///
/// ```text
/// base       = max( min(expires_at − margin, issued_at + fraction × ttl),
///                   issued_at + floor × ttl )
/// refresh_at = min( base − u × jitter × (base − issued_at),  expires_at − headroom )
/// ```
///
/// with `u` uniform in `[0, 1)` drawn once per token. So a long-lived token is refreshed a margin
/// before it expires (or at 80 % of its life, whichever is first), and a short-lived one (a server
/// that returns the *remaining* lifetime of an existing token, or a TTL shorter than the margin)
/// is still used for at least `floor × (1 − jitter)` of its life instead of causing a refresh
/// storm. Jitter spreads refreshes of many processes that got their tokens at the same moment.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use kaifang_proto_core::lifecycle::RefreshPolicy;
/// use kaifang_proto_core::token::Token;
///
/// let p = RefreshPolicy::default();
/// let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let long = Token::from_expires_in("a", t0, 7200);
/// assert_eq!(p.refresh_at(&long, 0.0), t0 + Duration::from_secs(5760)); // 80 % < 7200 − 300
/// let short = Token::from_expires_in("a", t0, 100); // margin 300 s > ttl
/// assert_eq!(p.refresh_at(&short, 0.0), t0 + Duration::from_secs(50)); // floor: half its life
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPolicy {
    /// Refresh at least this long before expiry (when the TTL allows).
    pub margin: Duration,
    /// Refresh at the latest after this fraction of the TTL (0..=1).
    pub fraction: f64,
    /// Never refresh before this fraction of the TTL (0..=1), whatever the margin says.
    pub floor: f64,
    /// Refresh up to this fraction of the lead time earlier, at random (0..=1).
    pub jitter: f64,
    /// A token with less than this left is treated as expired (time for the request to arrive).
    pub headroom: Duration,
    /// First backoff after a failed refresh.
    pub backoff_base: Duration,
    /// Backoff cap.
    pub backoff_max: Duration,
    /// How long a caller waits for a refresh in progress elsewhere; also the lease of an
    /// in-flight refresh inside one process, after which another caller may take over.
    pub max_wait: Duration,
    /// The lease of a shared store's refresh lock ([`TokenStore::try_lock`](super::TokenStore::try_lock)):
    /// when the instance holding it dies mid-refresh, the others take over after this long.
    /// Keep it shorter than `max_wait` (so that waiters outlive a dead holder's lease) and longer
    /// than one token request (a slower holder is overtaken, which costs one extra upstream
    /// request but never a wrong token: fences order the writes).
    ///
    /// A caller waiting on another instance gets its token within `store_lease` + one poll
    /// interval (≤ 500 ms) + one token request when the holder died, and never waits longer
    /// than `max_wait` in total (then [`Error::RefreshTimeout`](crate::error::Error::RefreshTimeout)).
    pub store_lease: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(300),
            fraction: 0.8,
            floor: 0.5,
            jitter: 0.1,
            headroom: Duration::from_secs(2),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_wait: Duration::from_secs(10),
            store_lease: Duration::from_secs(5),
        }
    }
}

/// `d × f` with `f` clamped to `[0, 1]` (NaN counts as 0): never panics.
fn scale(d: Duration, f: f64) -> Duration {
    let f = if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) };
    Duration::try_from_secs_f64(d.as_secs_f64() * f).unwrap_or(Duration::ZERO)
}

impl RefreshPolicy {
    /// When to refresh `token`, with `unit` in `[0, 1)` the jitter draw (see the type docs).
    /// Always within `[issued_at, expires_at]`.
    #[must_use]
    pub fn refresh_at(&self, token: &Token, unit: f64) -> SystemTime {
        let issued = token.issued_at;
        let ttl = token.ttl();
        let floor_f = if self.floor.is_nan() { 0.0 } else { self.floor };
        let fraction_f = if self.fraction.is_nan() {
            1.0
        } else {
            self.fraction.max(floor_f)
        };
        let by_fraction = issued + scale(ttl, fraction_f);
        let floor = issued + scale(ttl, floor_f);
        let base = match token.expires_at.checked_sub(self.margin) {
            Some(by_margin) => by_margin.min(by_fraction),
            None => floor,
        }
        .max(floor);
        let lead = base.duration_since(issued).unwrap_or(Duration::ZERO);
        let jittered = base - scale(lead, scale_unit(self.jitter) * scale_unit(unit));
        let latest = token
            .expires_at
            .checked_sub(self.headroom)
            .unwrap_or(issued)
            .max(issued);
        jittered.min(latest)
    }

    /// The backoff after `failures` consecutive failed refreshes (1 for the first), with `unit`
    /// in `[0, 1)` the jitter draw: `d = min(backoff_base × 2^(failures−1), backoff_max)`, then
    /// "equal jitter" `d/2 + unit × d/2`. Never more than `backoff_max`.
    #[must_use]
    pub fn backoff(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let d = self
            .backoff_base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max);
        d / 2 + scale(d / 2, unit)
    }

    /// `true` when `token` can still be sent at `now` (more than `headroom` left).
    #[must_use]
    pub fn is_usable(&self, token: &Token, now: SystemTime) -> bool {
        token.is_valid_at(now.checked_add(self.headroom).unwrap_or(now))
    }

    /// What the cached state is good for at `now`.
    ///
    /// * `cached`: the current token (not invalidated) and its `refresh_at`;
    /// * `backoff_until`: set after a failed refresh.
    ///
    /// A token before its `refresh_at` is [`Freshness::Fresh`] even during a backoff.
    #[must_use]
    pub fn decide(
        &self,
        cached: Option<(&Arc<Token>, SystemTime)>,
        backoff_until: Option<SystemTime>,
        now: SystemTime,
    ) -> Freshness {
        let usable = cached.filter(|(t, _)| self.is_usable(t, now));
        let backoff = backoff_until.filter(|until| now < *until);
        match (usable, backoff) {
            (Some((t, refresh_at)), _) if now < refresh_at => Freshness::Fresh(Arc::clone(t)),
            (Some((t, _)), None) => Freshness::RefreshAhead(Arc::clone(t)),
            (None, None) => Freshness::MustFetch,
            (stale, Some(until)) => Freshness::BackingOff {
                until,
                stale: stale.map(|(t, _)| Arc::clone(t)),
            },
        }
    }
}

fn scale_unit(f: f64) -> f64 {
    if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) }
}

/// What the cached token is good for, from [`RefreshPolicy::decide`].
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// Serve it; nothing to do.
    Fresh(Arc<Token>),
    /// Serve it (still valid) and have one caller refresh it.
    RefreshAhead(Arc<Token>),
    /// No usable token: fetch one before serving.
    MustFetch,
    /// A refresh failed recently: do not try again before `until`; serve `stale` if there is one.
    BackingOff {
        /// When the next refresh attempt is allowed.
        until: SystemTime,
        /// The old token, while it is still usable.
        stale: Option<Arc<Token>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn refresh_at_uses_margin_when_it_is_earlier() {
        let p = RefreshPolicy {
            fraction: 0.999,
            ..RefreshPolicy::default()
        };
        let t = Token::from_expires_in("a", t0(), 86_400);
        assert_eq!(p.refresh_at(&t, 0.0), t0() + secs(86_100));
    }

    #[test]
    fn refresh_at_short_ttls_never_storm() {
        let p = RefreshPolicy::default();
        for ttl in [0u64, 1, 3, 10, 100, 299, 300, 301, 345, 600] {
            let t = Token::from_expires_in("a", t0(), ttl);
            for unit in [0.0, 0.5, 0.999] {
                let at = p.refresh_at(&t, unit);
                assert!(at >= t0() && at <= t.expires_at, "ttl {ttl}");
                let used = at.duration_since(t0()).unwrap();
                let min_use = scale(secs(ttl), 0.5 * 0.9).min(secs(ttl).saturating_sub(p.headroom));
                assert!(
                    used + Duration::from_millis(1) >= min_use,
                    "ttl {ttl} used {used:?}"
                );
            }
        }
        // The stable-token case: 345 s remaining, margin 300 s → refresh after 172.5 s, not 45 s.
        let t = Token::from_expires_in("a", t0(), 345);
        assert_eq!(p.refresh_at(&t, 0.0), t0() + Duration::from_millis(172_500));
    }

    #[test]
    fn jitter_bounds() {
        let p = RefreshPolicy::default();
        let t = Token::from_expires_in("a", t0(), 7200);
        let latest = p.refresh_at(&t, 0.0);
        let earliest = latest - scale(secs(5760), 0.1);
        for i in 0..100 {
            let at = p.refresh_at(&t, f64::from(i) / 100.0);
            assert!(at <= latest && at >= earliest);
        }
        // Nonsense parameters never panic and stay in bounds.
        let bad = RefreshPolicy {
            fraction: f64::NAN,
            floor: 7.0,
            jitter: -3.0,
            ..p
        };
        let at = bad.refresh_at(&t, f64::INFINITY);
        assert!(at >= t0() && at <= t.expires_at);
    }

    #[test]
    fn backoff_is_bounded_and_capped() {
        let p = RefreshPolicy::default();
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(500));
        assert!(p.backoff(1, 0.999_999) < secs(1));
        assert_eq!(p.backoff(3, 0.0), secs(2));
        for n in 0..200 {
            for u in [0.0, 0.5, 0.99] {
                let d = p.backoff(n, u);
                assert!(
                    d <= p.backoff_max && d >= Duration::from_millis(500),
                    "{n} {d:?}"
                );
            }
        }
        assert_eq!(p.backoff(u32::MAX, 0.0), secs(30));
    }

    #[test]
    fn decide_covers_every_state() {
        let p = RefreshPolicy::default();
        let t = Arc::new(Token::from_expires_in("a", t0(), 100));
        let ra = t0() + secs(50);
        assert!(matches!(
            p.decide(Some((&t, ra)), None, t0() + secs(10)),
            Freshness::Fresh(_)
        ));
        assert!(matches!(
            p.decide(Some((&t, ra)), None, t0() + secs(60)),
            Freshness::RefreshAhead(_)
        ));
        // Within the headroom the token is no longer usable.
        assert_eq!(
            p.decide(Some((&t, ra)), None, t0() + secs(99)),
            Freshness::MustFetch
        );
        assert_eq!(p.decide(None, None, t0()), Freshness::MustFetch);
        let until = t0() + secs(70);
        match p.decide(Some((&t, ra)), Some(until), t0() + secs(60)) {
            Freshness::BackingOff {
                until: u,
                stale: Some(s),
            } => {
                assert_eq!(u, until);
                assert!(Arc::ptr_eq(&s, &t));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p.decide(None, Some(until), t0() + secs(60)),
            Freshness::BackingOff { stale: None, .. }
        ));
        // Backoff over: back to normal.
        assert!(matches!(
            p.decide(Some((&t, ra)), Some(until), t0() + secs(80)),
            Freshness::RefreshAhead(_)
        ));
        // Fresh wins over backoff.
        assert!(matches!(
            p.decide(Some((&t, ra)), Some(until), t0()),
            Freshness::Fresh(_)
        ));
    }
}
