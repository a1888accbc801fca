//! The lifecycle policy supports single-flight: a minimal blocking driver (std `Mutex` + `Condvar`
//! around `TokenSlot`, as the blocking transport will do) and 64 threads.

#![allow(clippy::unwrap_used, clippy::panic)] // test driver code: failing loudly is the point

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kaifang_proto_core::context::{Clock, FrozenClock, SeqNonce};
use kaifang_proto_core::error::{Error, ErrorClass, PlatformError};
use kaifang_proto_core::lifecycle::{
    Acquire, FailureOutcome, Plan, RefreshPolicy, RetryGate, TokenReader, TokenSlot,
};
use kaifang_proto_core::token::Token;

struct Driver {
    slot: Mutex<TokenSlot>,
    cv: Condvar,
    reader: TokenReader,
    policy: RefreshPolicy,
    clock: Arc<FrozenClock>,
    rng: SeqNonce,
    fetches: AtomicUsize,
    fail_next: AtomicUsize,
}

impl Driver {
    fn new(clock: Arc<FrozenClock>) -> Self {
        let slot = TokenSlot::new();
        let reader = slot.reader();
        Self {
            slot: Mutex::new(slot),
            cv: Condvar::new(),
            reader,
            policy: RefreshPolicy::default(),
            clock,
            rng: SeqNonce::new(42),
            fetches: AtomicUsize::new(0),
            fail_next: AtomicUsize::new(0),
        }
    }

    /// The "grant": slow, counted, optionally failing.
    fn grant(&self, plan: &Plan) -> Result<Token, Error> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        thread::sleep(Duration::from_millis(30));
        if self.fail_next.load(Ordering::SeqCst) > 0 {
            self.fail_next.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Transport {
                kind: kaifang_proto_core::error::TransportErrorKind::Timeout,
                message: "slow".into(),
            });
        }
        let _ = plan;
        Ok(
            Token::from_expires_in(format!("tok{n}"), self.clock.now(), 7200)
                .with_refresh(format!("ref{n}"), None),
        )
    }

    fn token(&self) -> Result<Arc<Token>, Error> {
        let now = self.clock.now();
        if let Some(t) = self.reader.fresh(now) {
            return Ok(t);
        }
        let started = Instant::now();
        let mut slot = self.slot.lock().unwrap();
        loop {
            let now = self.clock.now();
            match slot.acquire(&self.policy, now) {
                Acquire::Serve(t) => return Ok(t),
                Acquire::Wait { .. } => {
                    let left = self.policy.max_wait.checked_sub(started.elapsed()).ok_or(
                        Error::RefreshTimeout {
                            waited: started.elapsed(),
                        },
                    )?;
                    slot = self.cv.wait_timeout(slot, left).unwrap().0;
                }
                a @ Acquire::Backoff { .. } => return Err(a.into_backoff_error().unwrap()),
                Acquire::ServeAndRefresh { token, ticket } => {
                    drop(slot);
                    let result = self.grant(ticket.plan());
                    let mut s = self.slot.lock().unwrap();
                    match result {
                        Ok(t) => {
                            s.on_refresh_success(ticket, t, &self.policy, &self.rng);
                        }
                        Err(e) => {
                            s.on_refresh_failure(
                                ticket,
                                &e,
                                &self.policy,
                                self.clock.now(),
                                &self.rng,
                            );
                        }
                    }
                    self.cv.notify_all();
                    return Ok(token);
                }
                Acquire::Fetch(ticket) => {
                    drop(slot);
                    let result = self.grant(ticket.plan());
                    let mut s = self.slot.lock().unwrap();
                    let out = match result {
                        Ok(t) => Ok(s.on_refresh_success(ticket, t, &self.policy, &self.rng)),
                        Err(e) => {
                            match s.on_refresh_failure(
                                ticket,
                                &e,
                                &self.policy,
                                self.clock.now(),
                                &self.rng,
                            ) {
                                FailureOutcome::FallBackToFullGrant => {
                                    self.cv.notify_all();
                                    slot = s;
                                    continue;
                                }
                                _ => Err(e),
                            }
                        }
                    };
                    self.cv.notify_all();
                    return out;
                }
            }
        }
    }
}

fn run_threads(driver: &Arc<Driver>, n: usize) -> Vec<Result<Arc<Token>, Error>> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let d = Arc::clone(driver);
            let b = Arc::clone(&barrier);
            thread::spawn(move || {
                b.wait();
                d.token()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn sixty_four_threads_one_fetch_when_empty() {
    let clock = Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000));
    let d = Arc::new(Driver::new(clock));
    let results = run_threads(&d, 64);
    assert_eq!(d.fetches.load(Ordering::SeqCst), 1);
    let first = results[0].as_ref().unwrap();
    for r in &results {
        assert!(Arc::ptr_eq(r.as_ref().unwrap(), first));
    }
}

#[test]
fn sixty_four_threads_one_fetch_when_expired() {
    let clock = Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000));
    let d = Arc::new(Driver::new(Arc::clone(&clock)));
    let first = d.token().unwrap();
    clock.advance(Duration::from_secs(7200)); // expired
    let results = run_threads(&d, 64);
    assert_eq!(d.fetches.load(Ordering::SeqCst), 2);
    for r in &results {
        let t = r.as_ref().unwrap();
        assert_ne!(t.fingerprint(), first.fingerprint());
        assert_eq!(t.access.expose_secret(), "tok2");
    }
}

#[test]
fn sixty_four_threads_refresh_ahead_serve_old_and_refresh_once() {
    let clock = Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000));
    let d = Arc::new(Driver::new(Arc::clone(&clock)));
    let first = d.token().unwrap();
    clock.advance(Duration::from_secs(6000)); // past refresh_at (≤ 5760 s), still valid
    let results = run_threads(&d, 64);
    assert_eq!(d.fetches.load(Ordering::SeqCst), 2);
    // Nobody waited for the refresh: every caller got a valid token (old or new).
    assert!(results.iter().all(Result::is_ok));
    assert!(
        results
            .iter()
            .any(|r| Arc::ptr_eq(r.as_ref().unwrap(), &first))
    );
    assert_eq!(d.token().unwrap().access.expose_secret(), "tok2");
}

#[test]
fn failed_fetch_backs_off_instead_of_stampeding() {
    let clock = Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000));
    let d = Arc::new(Driver::new(Arc::clone(&clock)));
    d.fail_next.store(1, Ordering::SeqCst);
    let results = run_threads(&d, 64);
    // One fetch failed; the waiters then saw the backoff instead of fetching again.
    assert_eq!(d.fetches.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|r| matches!(
        r,
        Err(Error::Transport { .. }) | Err(Error::RefreshBackoff { failures: 1, .. })
    )));
    clock.advance(Duration::from_secs(2));
    assert!(d.token().is_ok());
    assert_eq!(d.fetches.load(Ordering::SeqCst), 2);
}

#[test]
fn token_invalid_expires_once_and_retries_once() {
    let clock = Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000));
    let d = Driver::new(clock);
    let rejected = Error::Platform(PlatformError {
        platform: "t",
        code: "40001".into(),
        message: "invalid".into(),
        hint: None,
        class: ErrorClass::TokenInvalid,
    });
    // The API rejects every token: the call is tried twice, never more.
    let mut calls = 0;
    let mut gate = RetryGate::new();
    let result: Result<(), Error> = loop {
        let token = d.token().unwrap();
        calls += 1;
        let err = rejected.clone();
        if gate.should_retry(&err) {
            assert!(d.slot.lock().unwrap().invalidate_if(&token.fingerprint()));
            continue;
        }
        break Err(err);
    };
    assert!(result.unwrap_err().is_token_invalid());
    assert_eq!(calls, 2);
    assert_eq!(d.fetches.load(Ordering::SeqCst), 2);
}
