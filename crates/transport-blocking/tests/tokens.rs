//! The blocking token manager against a loopback token server: single-flight across 64
//! threads, compare-and-expire with exactly one retry, bounded backoff, and stale serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use kaifang_proto_core::context::{Context, FrozenClock, SeqNonce};
use kaifang_proto_core::error::Error;
use kaifang_test_support::exchanges::{Call, Source};
use kaifang_test_support::{Reply, TestServer};
use kaifang_transport_blocking::{BlockingClient, TokenManager, TransportConfig};

const T0: i64 = 1_700_000_000_000;

/// A token server: `/token` answers `tok-N` (7200 s) after `delay`, or 500 while `fail` is set;
/// `/api` answers 401 for every token.
struct Upstream {
    server: TestServer,
    tokens: Arc<AtomicUsize>,
    api: Arc<AtomicUsize>,
    fail: Arc<AtomicBool>,
}

fn upstream(delay: Duration) -> Upstream {
    let tokens = Arc::new(AtomicUsize::new(0));
    let api = Arc::new(AtomicUsize::new(0));
    let fail = Arc::new(AtomicBool::new(false));
    let server = {
        let (tokens, api, fail) = (Arc::clone(&tokens), Arc::clone(&api), Arc::clone(&fail));
        TestServer::start(move |req| {
            if req.path() == "/api" {
                api.fetch_add(1, Ordering::SeqCst);
                return Reply::json(401, r#"{"error":"invalid_token"}"#);
            }
            let n = tokens.fetch_add(1, Ordering::SeqCst) + 1;
            if fail.load(Ordering::SeqCst) {
                return Reply::json(500, r#"{"error":"down"}"#);
            }
            Reply::json(
                200,
                format!(r#"{{"access_token":"tok-{n}","expires_in":7200}}"#),
            )
            .delay(delay)
        })
    };
    Upstream {
        server,
        tokens,
        api,
        fail,
    }
}

fn manager(clock: &Arc<FrozenClock>) -> TokenManager {
    let ctx = Context::new(clock.clone(), Arc::new(SeqNonce::new(7)));
    let config = TransportConfig {
        learn_skew: false,
        ..TransportConfig::default()
    };
    TokenManager::new(Arc::new(BlockingClient::with_context(config, ctx).unwrap()))
}

#[test]
fn sixty_four_threads_one_upstream_request_for_an_expired_token() {
    let up = upstream(Duration::from_millis(100));
    let clock = Arc::new(FrozenClock::from_unix_millis(T0));
    let tokens = Arc::new(manager(&clock));
    let source = Source::new(up.server.url("/token"), "secret");
    let first = tokens.token(&*source).unwrap();
    assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
    // Hot path: no request.
    assert!(Arc::ptr_eq(&tokens.token(&*source).unwrap(), &first));
    assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(7200));
    let barrier = Arc::new(Barrier::new(64));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let (tokens, source, barrier) = (
                Arc::clone(&tokens),
                Arc::clone(&source),
                Arc::clone(&barrier),
            );
            thread::spawn(move || {
                barrier.wait();
                tokens.token(&*source)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap().access.expose_secret(), "tok-2");
    }
    assert_eq!(up.tokens.load(Ordering::SeqCst), 2);
    assert_eq!(up.server.hits(), 2);
}

#[test]
fn token_rejected_twice_means_exactly_two_calls_and_a_typed_error() {
    let up = upstream(Duration::ZERO);
    let clock = Arc::new(FrozenClock::from_unix_millis(T0));
    let tokens = manager(&clock);
    let source = Source::new(up.server.url("/token"), "secret");
    let api = up.server.url("/api");
    let err = tokens
        .call_with_token(&*source, |t| Call {
            url: api.clone(),
            access_token: t.access.expose_secret().to_owned(),
            signature: "sig".into(),
        })
        .unwrap_err();
    assert!(err.is_token_invalid(), "{err:?}");
    assert!(matches!(err, Error::HttpStatus { .. }));
    assert_eq!(up.api.load(Ordering::SeqCst), 2);
    assert_eq!(
        up.tokens.load(Ordering::SeqCst),
        2,
        "one refresh after the expire"
    );
}

#[test]
fn try_call_returns_a_build_error_before_sending_and_retries_like_call() {
    let up = upstream(Duration::ZERO);
    let clock = Arc::new(FrozenClock::from_unix_millis(T0));
    let tokens = manager(&clock);
    let source = Source::new(up.server.url("/token"), "secret");
    let api = up.server.url("/api");
    // A builder that refuses: the error comes back as it is and nothing reaches the API.
    let err = tokens
        .try_call_with_token(&*source, |_| -> Result<Call, Error> {
            Err(Error::Config("bad input".into()))
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m == "bad input"),
        "{err:?}"
    );
    assert_eq!(up.api.load(Ordering::SeqCst), 0);
    // A builder that succeeds behaves exactly like `call_with_token`: one retry, then the error.
    let err = tokens
        .try_call_with_token(&*source, |t| {
            Ok(Call {
                url: api.clone(),
                access_token: t.access.expose_secret().to_owned(),
                signature: "sig".into(),
            })
        })
        .unwrap_err();
    assert!(err.is_token_invalid(), "{err:?}");
    assert_eq!(up.api.load(Ordering::SeqCst), 2);
}

#[test]
fn failed_refreshes_back_off_boundedly() {
    let up = upstream(Duration::ZERO);
    up.fail.store(true, Ordering::SeqCst);
    let clock = Arc::new(FrozenClock::from_unix_millis(T0));
    let tokens = manager(&clock);
    let source = Source::new(up.server.url("/token"), "secret");
    let mut backoff_errors = 0;
    // 60 simulated seconds, a caller every 100 ms: 600 calls.
    for _ in 0..600 {
        match tokens.token(&*source) {
            Err(Error::RefreshBackoff { .. }) => backoff_errors += 1,
            Err(Error::HttpStatus { .. }) => {}
            other => panic!("{other:?}"),
        }
        clock.advance(Duration::from_millis(100));
    }
    let attempts = up.tokens.load(Ordering::SeqCst);
    // Backoff 1 s doubling (equal jitter) up to 60 s: 6 or 7 attempts in 60 s.
    assert!((5..=8).contains(&attempts), "{attempts} attempts");
    assert_eq!(backoff_errors, 600 - attempts);
}

#[test]
fn failed_refresh_keeps_serving_the_valid_token() {
    let up = upstream(Duration::ZERO);
    let clock = Arc::new(FrozenClock::from_unix_millis(T0));
    let tokens = manager(&clock);
    let source = Source::new(up.server.url("/token"), "secret");
    let first = tokens.token(&*source).unwrap();
    // Past the refresh point (≤ 5760 s for 7200 s), still valid.
    clock.advance(Duration::from_secs(6000));
    up.fail.store(true, Ordering::SeqCst);
    for _ in 0..20 {
        let t = tokens.token(&*source).unwrap();
        assert!(Arc::ptr_eq(&t, &first));
    }
    // One failed refresh, then the backoff holds the others off.
    assert_eq!(up.tokens.load(Ordering::SeqCst), 2);
    up.fail.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        tokens.token(&*source).unwrap().access.expose_secret(),
        "tok-3"
    );
}

#[test]
fn handle_reads_without_lookup_and_refreshes_like_the_manager() {
    let up = upstream(Duration::ZERO);
    let clock = Arc::new(FrozenClock::from_unix_millis(T0));
    let tokens = manager(&clock);
    let source = Source::new(up.server.url("/token"), "secret");
    let handle = tokens.handle(&*source);
    assert_eq!(
        handle.key(),
        kaifang_proto_core::lifecycle::TokenSource::key(&*source)
    );
    // Nothing cached yet: the hot path declines and does not fetch.
    assert_eq!(
        handle.with_token(|t| t.access.expose_secret().to_owned()),
        None
    );
    assert!(handle.cached().is_none());
    assert_eq!(up.tokens.load(Ordering::SeqCst), 0);
    // The full path fetches once; the handle and the manager share the entry.
    let first = handle.token().unwrap();
    assert_eq!(first.access.expose_secret(), "tok-1");
    assert!(Arc::ptr_eq(&tokens.token(&*source).unwrap(), &first));
    assert_eq!(
        handle.with_token(|t| t.access.expose_secret().len()),
        Some(5)
    );
    assert!(Arc::ptr_eq(&handle.cached().unwrap(), &first));
    // A token fetched through the manager is seen by the handle, and vice versa after expiry.
    assert!(tokens.expire(handle.key(), &first));
    assert_eq!(handle.with_token(|_| ()), None);
    assert_eq!(
        tokens.token(&*source).unwrap().access.expose_secret(),
        "tok-2"
    );
    assert_eq!(
        handle
            .with_token(|t| t.access.expose_secret().to_owned())
            .as_deref(),
        Some("tok-2")
    );
    // Past refresh_at the hot path declines; `token` refreshes (one request).
    clock.advance(Duration::from_secs(7000));
    assert_eq!(handle.with_token(|_| ()), None);
    assert_eq!(handle.token().unwrap().access.expose_secret(), "tok-3");
    assert_eq!(handle.with_token(|_| ()), Some(()));
    assert_eq!(up.tokens.load(Ordering::SeqCst), 3);
    assert!(format!("{handle:?}").contains("TokenHandle"));
}

#[test]
fn handles_on_many_threads_share_one_refresh() {
    let up = upstream(Duration::from_millis(100));
    let clock = Arc::new(FrozenClock::from_unix_millis(T0));
    let tokens = manager(&clock);
    let source = Source::new(up.server.url("/token"), "secret");
    let barrier = Barrier::new(16);
    thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                let handle = tokens.handle(&*source);
                barrier.wait();
                let t = handle.token().unwrap();
                assert_eq!(t.access.expose_secret(), "tok-1");
                assert_eq!(
                    handle
                        .with_token(|t| t.access.expose_secret().to_owned())
                        .as_deref(),
                    Some("tok-1")
                );
            });
        }
    });
    assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
}

#[test]
fn system_clock_hot_path_uses_the_coarse_reading() {
    // With the real clock (coarse freshness check), a fresh 7200 s token is served from the
    // cache by the manager and the handle alike.
    let up = upstream(Duration::ZERO);
    let config = TransportConfig {
        learn_skew: false,
        ..TransportConfig::default()
    };
    let tokens = TokenManager::new(Arc::new(BlockingClient::new(config).unwrap()));
    let source = Source::new(up.server.url("/token"), "secret");
    let first = tokens.token(&*source).unwrap();
    let handle = tokens.handle(&*source);
    for _ in 0..1000 {
        assert!(Arc::ptr_eq(&tokens.token(&*source).unwrap(), &first));
        assert_eq!(
            handle.with_token(|t| t.access.expose_secret().len()),
            Some(5)
        );
    }
    assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
}
