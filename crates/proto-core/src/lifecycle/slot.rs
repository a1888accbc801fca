//! [`TokenSlot`]: the per-key state machine a transport keeps behind its own lock, and
//! [`TokenReader`]: the lock-free read path for a fresh token.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;

use super::policy::{Freshness, RefreshPolicy};
use crate::context::Nonce;
use crate::error::{Error, ErrorClass};
use crate::secret::SecretString;
use crate::token::{Fingerprint, Token};

/// How to obtain the next token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Use the refresh token of the current token.
    UseRefreshToken(SecretString),
    /// Run the full grant (client credentials, signed app request, ...).
    FullGrant,
}

/// The right (and duty) to refresh, handed to exactly one caller at a time by
/// [`TokenSlot::acquire`]. Give it back with exactly one of
/// [`on_refresh_success`](TokenSlot::on_refresh_success),
/// [`on_refresh_failure`](TokenSlot::on_refresh_failure) or
/// [`on_refresh_abandoned`](TokenSlot::on_refresh_abandoned) (from a drop guard, so that a
/// cancelled future or a panicking thread cannot strand waiters; if even that is missed, the
/// ticket's lease of [`RefreshPolicy::max_wait`] expires and another caller takes over).
#[derive(Debug)]
#[must_use = "a ticket must be returned to the slot"]
pub struct RefreshTicket {
    id: u64,
    generation: u64,
    started_at: SystemTime,
    plan: Plan,
}

impl RefreshTicket {
    /// How to refresh.
    #[must_use]
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The ticket number (monotonic per slot): a fencing value for logs and stores.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The slot generation when the ticket was issued.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// When the ticket was issued.
    #[must_use]
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }
}

/// What a caller must do, from [`TokenSlot::acquire`].
#[derive(Debug)]
pub enum Acquire {
    /// Use this token. (Fresh; or due for refresh while another caller refreshes; or a still
    /// valid token served during a backoff.)
    Serve(Arc<Token>),
    /// Use this still-valid token **and** refresh with the ticket (after the call, or in the
    /// background). The caller is the single refresher.
    ServeAndRefresh {
        /// The token to use now.
        token: Arc<Token>,
        /// The refresh duty.
        ticket: RefreshTicket,
    },
    /// No usable token: refresh with the ticket, then use the result. The caller is the single
    /// refresher; everyone else gets `Wait`.
    Fetch(RefreshTicket),
    /// Another caller is refreshing: release the lock, wait to be notified (at most until
    /// `until`, measured on your own monotonic timer from `max_wait`), then `acquire` again.
    Wait {
        /// When the other caller's lease ends.
        until: SystemTime,
    },
    /// No usable token and a recent refresh failed: fail fast with
    /// [`Error::RefreshBackoff`] (see [`Acquire::into_backoff_error`]).
    Backoff {
        /// Time until a refresh may be tried again.
        retry_in: Duration,
        /// Consecutive failures.
        failures: u32,
    },
}

impl Acquire {
    /// The error a transport returns for [`Acquire::Backoff`]; `None` for other variants.
    #[must_use]
    pub fn into_backoff_error(&self) -> Option<Error> {
        match self {
            Self::Backoff { retry_in, failures } => Some(Error::RefreshBackoff {
                retry_in: *retry_in,
                failures: *failures,
            }),
            _ => None,
        }
    }
}

/// What happened after [`TokenSlot::on_refresh_failure`].
#[derive(Debug, Clone, PartialEq)]
pub enum FailureOutcome {
    /// The refresh token was rejected: the next ticket's plan is [`Plan::FullGrant`]. No
    /// backoff: `acquire` again right away.
    FallBackToFullGrant,
    /// Backing off until `until`; `stale` is the still-usable old token, if any (serve it).
    BackOff {
        /// When a refresh may be tried again.
        until: SystemTime,
        /// The old token while it is usable.
        stale: Option<Arc<Token>>,
    },
    /// The ticket had been superseded (its lease expired and another caller took over): nothing
    /// changed.
    Superseded,
}

#[derive(Debug)]
struct Snapshot {
    token: Arc<Token>,
    refresh_at: SystemTime,
}

/// The lock-free read side of a [`TokenSlot`]: clone it freely and check it before taking the
/// transport's lock. Reading is an `arc_swap` guard load (no lock, no allocation, no write to a
/// cache line shared with other readers) and, for [`TokenReader::fresh`] with a fresh token, one
/// `Arc` clone; [`TokenReader::with_fresh`] does not even clone.
///
/// `now` may come from [`Clock::now_coarse`](crate::context::Clock::now_coarse): a reading a few
/// milliseconds late is harmless because `refresh_at` is a margin before expiry.
#[derive(Debug, Clone, Default)]
pub struct TokenReader {
    hot: Arc<ArcSwapOption<Snapshot>>,
}

impl TokenReader {
    /// The cached token when it is fresh at `now` (before its `refresh_at`, not invalidated);
    /// otherwise `None` and the caller goes to the slow path ([`TokenSlot::acquire`]).
    #[must_use]
    #[inline]
    pub fn fresh(&self, now: SystemTime) -> Option<Arc<Token>> {
        let guard = self.hot.load();
        match guard.as_ref() {
            Some(s) if now < s.refresh_at => Some(Arc::clone(&s.token)),
            _ => None,
        }
    }

    /// Runs `f` on the fresh token without cloning the `Arc` (the snapshot is held by a
    /// `load()` guard while `f` runs: keep `f` short).
    #[inline]
    pub fn with_fresh<R>(&self, now: SystemTime, f: impl FnOnce(&Token) -> R) -> Option<R> {
        let guard = self.hot.load();
        match guard.as_ref() {
            Some(s) if now < s.refresh_at => Some(f(&s.token)),
            _ => None,
        }
    }

    fn publish(&self, token: &Arc<Token>, refresh_at: SystemTime) {
        self.hot.store(Some(Arc::new(Snapshot {
            token: Arc::clone(token),
            refresh_at,
        })));
    }

    fn clear(&self) {
        self.hot.store(None);
    }
}

#[derive(Debug)]
struct Current {
    token: Arc<Token>,
    refresh_at: SystemTime,
    invalidated: bool,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    since: SystemTime,
}

/// The token lifecycle state of one [`TokenKey`](super::TokenKey), as a plain state machine.
///
/// A transport wraps it in its own lock (`std::sync::Mutex` + `Condvar`, `tokio::sync::Mutex` +
/// `Notify`, ...) and never holds that lock across I/O: every method is short and does not block.
/// The policy (what to do when) lives here, once; the waiting lives in the transport.
///
/// Invariants:
/// * at most one unexpired [`RefreshTicket`] exists at a time (single-flight);
/// * a token is only replaced by one issued at the same time or later;
/// * methods returning `Err`/no-op leave the state unchanged (documented per method).
#[derive(Debug, Default)]
pub struct TokenSlot {
    current: Option<Current>,
    generation: u64,
    next_ticket: u64,
    in_flight: Option<InFlight>,
    failures: u32,
    backoff_until: Option<SystemTime>,
    full_grant_next: bool,
    reader: TokenReader,
}

impl TokenSlot {
    /// An empty slot.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock-free reader of this slot (shares state with it).
    #[must_use]
    pub fn reader(&self) -> TokenReader {
        self.reader.clone()
    }

    /// The current token, also when it is due for refresh, expired or invalidated.
    #[must_use]
    pub fn current(&self) -> Option<&Arc<Token>> {
        self.current.as_ref().map(|c| &c.token)
    }

    /// Bumped each time a token is installed or invalidated.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Consecutive failed refreshes.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// `true` while a ticket is out and its lease has not expired at `now`.
    #[must_use]
    pub fn refresh_in_flight(&self, policy: &RefreshPolicy, now: SystemTime) -> bool {
        self.active_in_flight(policy, now).is_some()
    }

    /// What the cached token is good for at `now` (no state change).
    #[must_use]
    pub fn freshness(&self, policy: &RefreshPolicy, now: SystemTime) -> Freshness {
        let cached = self
            .current
            .as_ref()
            .filter(|c| !c.invalidated)
            .map(|c| (&c.token, c.refresh_at));
        policy.decide(cached, self.backoff_until, now)
    }

    fn active_in_flight(&self, policy: &RefreshPolicy, now: SystemTime) -> Option<InFlight> {
        self.in_flight
            .filter(|f| now < f.since.checked_add(policy.max_wait).unwrap_or(f.since))
    }

    /// Decides what this caller does now; may hand out the single [`RefreshTicket`].
    ///
    /// | freshness | refresh in flight | result |
    /// |---|---|---|
    /// | fresh | any | `Serve` |
    /// | due for refresh | yes | `Serve` |
    /// | due for refresh | no | `ServeAndRefresh` (ticket) |
    /// | no usable token | yes | `Wait` |
    /// | no usable token | no | `Fetch` (ticket) |
    /// | backing off, usable token | any | `Serve` (stale) |
    /// | backing off, no usable token | any | `Backoff` |
    ///
    /// A ticket whose lease ([`RefreshPolicy::max_wait`]) has expired counts as "not in flight":
    /// the next caller gets a new ticket and the old one is superseded.
    pub fn acquire(&mut self, policy: &RefreshPolicy, now: SystemTime) -> Acquire {
        let busy = self.active_in_flight(policy, now);
        match self.freshness(policy, now) {
            Freshness::Fresh(t) => Acquire::Serve(t),
            Freshness::RefreshAhead(t) => match busy {
                Some(_) => Acquire::Serve(t),
                None => Acquire::ServeAndRefresh {
                    token: t,
                    ticket: self.issue(now),
                },
            },
            Freshness::MustFetch => match busy {
                Some(f) => Acquire::Wait {
                    until: f.since.checked_add(policy.max_wait).unwrap_or(f.since),
                },
                None => Acquire::Fetch(self.issue(now)),
            },
            Freshness::BackingOff { stale: Some(t), .. } => Acquire::Serve(t),
            Freshness::BackingOff { until, stale: None } => Acquire::Backoff {
                retry_in: until.duration_since(now).unwrap_or(Duration::ZERO),
                failures: self.failures,
            },
        }
    }

    fn issue(&mut self, now: SystemTime) -> RefreshTicket {
        self.next_ticket += 1;
        self.in_flight = Some(InFlight {
            id: self.next_ticket,
            since: now,
        });
        let plan = match &self.current {
            Some(c) if !self.full_grant_next && c.token.refresh_usable_at(now) => c
                .token
                .refresh
                .clone()
                .map_or(Plan::FullGrant, Plan::UseRefreshToken),
            _ => Plan::FullGrant,
        };
        RefreshTicket {
            id: self.next_ticket,
            generation: self.generation,
            started_at: now,
            plan,
        }
    }

    fn release(&mut self, ticket: &RefreshTicket) -> bool {
        match self.in_flight {
            Some(f) if f.id == ticket.id => {
                self.in_flight = None;
                true
            }
            _ => false,
        }
    }

    /// Installs a token obtained outside a ticket (e.g. read from a shared
    /// [`TokenStore`](super::TokenStore) written by another instance) if it is at least as new
    /// as the current one. Returns whether it was installed; otherwise nothing changed.
    pub fn offer(&mut self, token: Arc<Token>, policy: &RefreshPolicy, rng: &dyn Nonce) -> bool {
        let newer = match &self.current {
            None => true,
            Some(c) => {
                token.issued_at >= c.token.issued_at
                    && (c.invalidated
                        || token.fingerprint() != c.token.fingerprint()
                        || token.issued_at > c.token.issued_at)
            }
        };
        if !newer {
            return false;
        }
        let refresh_at = policy.refresh_at(&token, rng.unit_f64());
        self.reader.publish(&token, refresh_at);
        self.current = Some(Current {
            token,
            refresh_at,
            invalidated: false,
        });
        self.generation += 1;
        true
    }

    /// Ends a ticket with a new token: installs it (unless a newer one is already installed),
    /// clears failures, backoff and the full-grant fallback, and publishes it to the readers.
    /// Returns the token now current. Wake the waiters after calling this.
    pub fn on_refresh_success(
        &mut self,
        ticket: RefreshTicket,
        token: Token,
        policy: &RefreshPolicy,
        rng: &dyn Nonce,
    ) -> Arc<Token> {
        self.release(&ticket);
        let token = Arc::new(token);
        self.offer(Arc::clone(&token), policy, rng);
        self.failures = 0;
        self.backoff_until = None;
        self.full_grant_next = false;
        self.current
            .as_ref()
            .map_or(token, |c| Arc::clone(&c.token))
    }

    /// Ends a ticket with an error.
    ///
    /// * Superseded ticket: nothing changes ([`FailureOutcome::Superseded`]).
    /// * A rejected refresh token (class `TokenInvalid` or `BadRequest` while the plan was
    ///   [`Plan::UseRefreshToken`]): the next plan is [`Plan::FullGrant`], no backoff.
    /// * Anything else: one more failure, backoff until `now + policy.backoff(failures, u)`;
    ///   the still-usable old token keeps being served. A full grant that keeps failing with
    ///   `TokenInvalid` (a wrong secret) therefore backs off too: no quota-burning loop.
    ///
    /// The current token is never dropped here. Wake the waiters after calling this.
    pub fn on_refresh_failure(
        &mut self,
        ticket: RefreshTicket,
        err: &Error,
        policy: &RefreshPolicy,
        now: SystemTime,
        rng: &dyn Nonce,
    ) -> FailureOutcome {
        if !self.release(&ticket) {
            return FailureOutcome::Superseded;
        }
        let refresh_rejected = matches!(
            err.class(),
            ErrorClass::TokenInvalid | ErrorClass::BadRequest
        );
        if refresh_rejected && matches!(ticket.plan, Plan::UseRefreshToken(_)) {
            self.full_grant_next = true;
            return FailureOutcome::FallBackToFullGrant;
        }
        self.failures = self.failures.saturating_add(1);
        let until = now
            .checked_add(policy.backoff(self.failures, rng.unit_f64()))
            .unwrap_or(now);
        self.backoff_until = Some(until);
        let stale = self
            .current
            .as_ref()
            .filter(|c| !c.invalidated && policy.is_usable(&c.token, now))
            .map(|c| Arc::clone(&c.token));
        FailureOutcome::BackOff { until, stale }
    }

    /// Ends a ticket without a result (cancelled future, panic, shutdown): frees the
    /// single-flight slot without counting a failure. Returns `false` (and changes nothing) if
    /// the ticket had been superseded. Wake the waiters after calling this.
    pub fn on_refresh_abandoned(&mut self, ticket: RefreshTicket) -> bool {
        self.release(&ticket)
    }

    /// Compare-and-expire: if the current token is still the one with `fingerprint` (the one a
    /// platform just rejected), marks it invalid so the next `acquire` fetches a new one (its
    /// refresh token stays usable for that). Returns `true` if it did; `false` (nothing changed)
    /// when the token was already replaced or invalidated, so a late failure never expires a
    /// newer token.
    pub fn invalidate_if(&mut self, fingerprint: &Fingerprint) -> bool {
        match &mut self.current {
            Some(c) if !c.invalidated && c.token.fingerprint() == *fingerprint => {
                c.invalidated = true;
                self.generation += 1;
                self.reader.clear();
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{FixedNonce, SeqNonce};
    use crate::error::PlatformError;
    use std::time::UNIX_EPOCH;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }
    fn policy() -> RefreshPolicy {
        RefreshPolicy {
            jitter: 0.0,
            ..RefreshPolicy::default()
        }
    }
    fn no_jitter() -> FixedNonce {
        FixedNonce::new("x").with_unit(0.0)
    }
    fn platform_err(class: ErrorClass) -> Error {
        Error::Platform(PlatformError {
            platform: "t",
            code: "1".into(),
            message: "m".into(),
            hint: None,
            class,
        })
    }
    fn fetch(slot: &mut TokenSlot, now: SystemTime) -> RefreshTicket {
        match slot.acquire(&policy(), now) {
            Acquire::Fetch(t) => t,
            other => panic!("expected Fetch, got {other:?}"),
        }
    }

    #[test]
    fn empty_slot_fetches_once_then_serves() {
        let p = policy();
        let mut slot = TokenSlot::new();
        let reader = slot.reader();
        assert!(reader.fresh(t0()).is_none());
        let ticket = fetch(&mut slot, t0());
        assert_eq!(ticket.plan(), &Plan::FullGrant);
        assert!(
            matches!(slot.acquire(&p, t0()), Acquire::Wait { until } if until == t0() + p.max_wait)
        );
        let tok = slot.on_refresh_success(
            ticket,
            Token::from_expires_in("a", t0(), 100),
            &p,
            &no_jitter(),
        );
        assert_eq!(tok.access.expose_secret(), "a");
        assert!(matches!(slot.acquire(&p, t0()), Acquire::Serve(_)));
        assert!(reader.fresh(t0() + secs(49)).is_some());
        assert_eq!(reader.with_fresh(t0(), |t| t.ttl()), Some(secs(100)));
        // Past refresh_at (50 s) the reader declines and the slot hands out one ticket.
        assert!(reader.fresh(t0() + secs(50)).is_none());
        let Acquire::ServeAndRefresh { token, ticket } = slot.acquire(&p, t0() + secs(50)) else {
            panic!()
        };
        assert!(Arc::ptr_eq(&token, &tok));
        assert!(matches!(
            slot.acquire(&p, t0() + secs(51)),
            Acquire::Serve(_)
        ));
        let _ = slot.on_refresh_abandoned(ticket);
        assert!(matches!(
            slot.acquire(&p, t0() + secs(52)),
            Acquire::ServeAndRefresh { .. }
        ));
    }

    #[test]
    fn refresh_token_first_then_full_grant() {
        let p = policy();
        let mut slot = TokenSlot::new();
        let t = fetch(&mut slot, t0());
        let _ = slot.on_refresh_success(
            t,
            Token::from_expires_in("a", t0(), 100).with_refresh("r", Some(1000)),
            &p,
            &no_jitter(),
        );
        let Acquire::ServeAndRefresh { ticket, .. } = slot.acquire(&p, t0() + secs(60)) else {
            panic!()
        };
        assert_eq!(
            ticket.plan(),
            &Plan::UseRefreshToken(SecretString::new("r"))
        );
        let out = slot.on_refresh_failure(
            ticket,
            &platform_err(ErrorClass::TokenInvalid),
            &p,
            t0() + secs(60),
            &no_jitter(),
        );
        assert_eq!(out, FailureOutcome::FallBackToFullGrant);
        let Acquire::ServeAndRefresh { ticket, .. } = slot.acquire(&p, t0() + secs(60)) else {
            panic!()
        };
        assert_eq!(ticket.plan(), &Plan::FullGrant);
        // A successful full grant restores refresh-token-first.
        let _ = slot.on_refresh_success(
            ticket,
            Token::from_expires_in("b", t0() + secs(60), 100).with_refresh("r2", None),
            &p,
            &no_jitter(),
        );
        let Acquire::ServeAndRefresh { ticket, .. } = slot.acquire(&p, t0() + secs(120)) else {
            panic!()
        };
        assert_eq!(
            ticket.plan(),
            &Plan::UseRefreshToken(SecretString::new("r2"))
        );
        // An expired refresh token is not offered.
        let _ = slot.on_refresh_abandoned(ticket);
        let mut s2 = TokenSlot::new();
        let t = fetch(&mut s2, t0());
        let _ = s2.on_refresh_success(
            t,
            Token::from_expires_in("a", t0(), 100).with_refresh("r", Some(10)),
            &p,
            &no_jitter(),
        );
        let Acquire::ServeAndRefresh { ticket, .. } = s2.acquire(&p, t0() + secs(60)) else {
            panic!()
        };
        assert_eq!(ticket.plan(), &Plan::FullGrant);
        let _ = s2.on_refresh_abandoned(ticket);
    }

    #[test]
    fn failure_backs_off_serving_stale_then_errors_when_expired() {
        let p = policy();
        let mut slot = TokenSlot::new();
        let t = fetch(&mut slot, t0());
        let _ =
            slot.on_refresh_success(t, Token::from_expires_in("a", t0(), 100), &p, &no_jitter());
        let Acquire::ServeAndRefresh { ticket, .. } = slot.acquire(&p, t0() + secs(60)) else {
            panic!()
        };
        let out = slot.on_refresh_failure(
            ticket,
            &platform_err(ErrorClass::Retryable),
            &p,
            t0() + secs(60),
            &no_jitter(),
        );
        let FailureOutcome::BackOff {
            until,
            stale: Some(_),
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(until, t0() + secs(60) + Duration::from_millis(500));
        assert_eq!(slot.failures(), 1);
        // During the backoff the stale token is served and nobody refreshes.
        assert!(matches!(
            slot.acquire(&p, t0() + secs(60)),
            Acquire::Serve(_)
        ));
        // Failures grow the backoff up to the cap.
        let mut now = until;
        for _ in 0..20 {
            let Acquire::ServeAndRefresh { ticket, .. } = slot.acquire(&p, now) else {
                // The token expired meanwhile: Fetch.
                break;
            };
            let FailureOutcome::BackOff { until, .. } = slot.on_refresh_failure(
                ticket,
                &platform_err(ErrorClass::Retryable),
                &p,
                now,
                &no_jitter(),
            ) else {
                panic!()
            };
            assert!(until.duration_since(now).unwrap() <= p.backoff_max);
            now = until;
        }
        // Past expiry, during a backoff, callers fail fast.
        let mut slot = TokenSlot::new();
        let t = fetch(&mut slot, t0());
        let _ = slot.on_refresh_failure(
            t,
            &platform_err(ErrorClass::Retryable),
            &p,
            t0(),
            &SeqNonce::new(3),
        );
        let a = slot.acquire(&p, t0());
        assert!(matches!(a, Acquire::Backoff { failures: 1, .. }));
        assert!(matches!(
            a.into_backoff_error(),
            Some(Error::RefreshBackoff { failures: 1, .. })
        ));
        // After the backoff: a new ticket.
        let _ = fetch(&mut slot, t0() + secs(2));
    }

    #[test]
    fn compare_and_expire_only_matching_fingerprint() {
        let p = policy();
        let mut slot = TokenSlot::new();
        let reader = slot.reader();
        let t = fetch(&mut slot, t0());
        let a = slot.on_refresh_success(
            t,
            Token::from_expires_in("a", t0(), 100).with_refresh("r", None),
            &p,
            &no_jitter(),
        );
        assert!(!slot.invalidate_if(&Fingerprint::of("other")));
        assert!(reader.fresh(t0()).is_some());
        let g = slot.generation();
        assert!(slot.invalidate_if(&a.fingerprint()));
        assert_eq!(slot.generation(), g + 1);
        assert!(
            !slot.invalidate_if(&a.fingerprint()),
            "second expire of the same token is a no-op"
        );
        assert!(reader.fresh(t0()).is_none());
        // The next caller fetches, using the refresh token of the invalidated access token.
        let t = fetch(&mut slot, t0() + secs(1));
        assert_eq!(t.plan(), &Plan::UseRefreshToken(SecretString::new("r")));
        let b = slot.on_refresh_success(
            t,
            Token::from_expires_in("b", t0() + secs(1), 100),
            &p,
            &no_jitter(),
        );
        // A late failure report about "a" does not expire "b".
        assert!(!slot.invalidate_if(&a.fingerprint()));
        assert!(Arc::ptr_eq(slot.current().unwrap(), &b));
    }

    #[test]
    fn stale_ticket_is_superseded_and_older_token_never_wins() {
        let p = policy();
        let mut slot = TokenSlot::new();
        let old = fetch(&mut slot, t0());
        // The lease expires: another caller takes over.
        let newer = fetch(&mut slot, t0() + p.max_wait);
        assert!(newer.id() > old.id());
        let _ = slot.on_refresh_success(
            newer,
            Token::from_expires_in("new", t0() + secs(11), 100),
            &p,
            &no_jitter(),
        );
        // The old refresher finishes late with an older token: not installed.
        let cur = slot.on_refresh_success(
            old,
            Token::from_expires_in("old", t0() + secs(5), 100),
            &p,
            &no_jitter(),
        );
        assert_eq!(cur.access.expose_secret(), "new");
        // A superseded failure changes nothing.
        let mut slot = TokenSlot::new();
        let old = fetch(&mut slot, t0());
        let _newer = fetch(&mut slot, t0() + p.max_wait);
        let out = slot.on_refresh_failure(
            old,
            &platform_err(ErrorClass::Retryable),
            &p,
            t0() + secs(12),
            &no_jitter(),
        );
        assert_eq!(out, FailureOutcome::Superseded);
        assert_eq!(slot.failures(), 0);
        // offer(): equal issue time and same token is not "newer".
        let tok = Arc::new(Token::from_expires_in("x", t0(), 100));
        let mut s = TokenSlot::new();
        assert!(s.offer(Arc::clone(&tok), &p, &no_jitter()));
        assert!(!s.offer(Arc::clone(&tok), &p, &no_jitter()));
        assert!(!s.offer(
            Arc::new(Token::from_expires_in("y", t0() - secs(1), 100)),
            &p,
            &no_jitter()
        ));
    }
}
