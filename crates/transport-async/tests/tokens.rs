//! The async token manager against a loopback token server: single-flight across 1,000 tasks,
//! a cancelled refresh starter strands nobody, compare-and-expire with exactly one retry,
//! bounded backoff, stale serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kaifang_proto_core::context::{Context, FrozenClock, SeqNonce};
use kaifang_proto_core::error::Error;
use kaifang_test_support::exchanges::{Call, Source};
use kaifang_test_support::{Reply, TestServer, runtime};
use kaifang_transport_async::{AsyncClient, TokenManager, TransportConfig};

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
    TokenManager::new(Arc::new(AsyncClient::with_context(config, ctx).unwrap()))
}

#[test]
fn thousand_tasks_one_upstream_request_for_an_expired_token() {
    runtime().block_on(async {
        let up = upstream(Duration::from_millis(100));
        let clock = Arc::new(FrozenClock::from_unix_millis(T0));
        let tokens = manager(&clock);
        let source = Source::new(up.server.url("/token"), "secret");
        let first = tokens.token(&source).await.unwrap();
        assert!(Arc::ptr_eq(&tokens.token(&source).await.unwrap(), &first));
        assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(7200));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (tokens, source) = (tokens.clone(), Arc::clone(&source));
                tokio::spawn(async move { tokens.token(&source).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().access.expose_secret(), "tok-2");
        }
        assert_eq!(up.tokens.load(Ordering::SeqCst), 2);
        assert_eq!(up.server.hits(), 2);
    });
}

#[test]
fn cancelled_starter_strands_nobody() {
    runtime().block_on(async {
        let up = upstream(Duration::from_millis(300));
        let clock = Arc::new(FrozenClock::from_unix_millis(T0));
        let tokens = manager(&clock);
        let source = Source::new(up.server.url("/token"), "secret");
        let starter = {
            let (tokens, source) = (tokens.clone(), Arc::clone(&source));
            tokio::spawn(async move { tokens.token(&source).await })
        };
        // The starter holds the ticket and its request is in flight.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
        let others: Vec<_> = (0..200)
            .map(|_| {
                let (tokens, source) = (tokens.clone(), Arc::clone(&source));
                tokio::spawn(async move { tokens.token(&source).await })
            })
            .collect();
        starter.abort();
        assert!(starter.await.unwrap_err().is_cancelled());
        for t in others {
            assert_eq!(t.await.unwrap().unwrap().access.expose_secret(), "tok-1");
        }
        // The refresh survived the cancellation: still exactly one upstream request.
        assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
        assert!(tokens.cached(&source.key).is_some());
    });
}

#[test]
fn token_rejected_twice_means_exactly_two_calls_and_a_typed_error() {
    runtime().block_on(async {
        let up = upstream(Duration::ZERO);
        let clock = Arc::new(FrozenClock::from_unix_millis(T0));
        let tokens = manager(&clock);
        let source = Source::new(up.server.url("/token"), "secret");
        let api = up.server.url("/api");
        let err = tokens
            .call_with_token(&source, |t| Call {
                url: api.clone(),
                access_token: t.access.expose_secret().to_owned(),
                signature: "sig".into(),
            })
            .await
            .unwrap_err();
        assert!(err.is_token_invalid(), "{err:?}");
        assert!(matches!(err, Error::HttpStatus { .. }));
        assert_eq!(up.api.load(Ordering::SeqCst), 2);
        assert_eq!(up.tokens.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn failed_refreshes_back_off_boundedly() {
    runtime().block_on(async {
        let up = upstream(Duration::ZERO);
        up.fail.store(true, Ordering::SeqCst);
        let clock = Arc::new(FrozenClock::from_unix_millis(T0));
        let tokens = manager(&clock);
        let source = Source::new(up.server.url("/token"), "secret");
        let mut backoff_errors = 0;
        for _ in 0..600 {
            match tokens.token(&source).await {
                Err(Error::RefreshBackoff { .. }) => backoff_errors += 1,
                Err(Error::HttpStatus { .. }) => {}
                other => panic!("{other:?}"),
            }
            clock.advance(Duration::from_millis(100));
        }
        let attempts = up.tokens.load(Ordering::SeqCst);
        assert!((5..=8).contains(&attempts), "{attempts} attempts");
        assert_eq!(backoff_errors, 600 - attempts);
    });
}

#[test]
fn failed_refresh_keeps_serving_the_valid_token() {
    runtime().block_on(async {
        let up = upstream(Duration::ZERO);
        let clock = Arc::new(FrozenClock::from_unix_millis(T0));
        let tokens = manager(&clock);
        let source = Source::new(up.server.url("/token"), "secret");
        let first = tokens.token(&source).await.unwrap();
        clock.advance(Duration::from_secs(6000));
        up.fail.store(true, Ordering::SeqCst);
        // The refresh is spawned; callers are served the old token meanwhile and after.
        for _ in 0..20 {
            assert!(Arc::ptr_eq(&tokens.token(&source).await.unwrap(), &first));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(up.tokens.load(Ordering::SeqCst), 2);
        up.fail.store(false, Ordering::SeqCst);
        clock.advance(Duration::from_secs(2));
        // This caller starts the refresh in the background and is served the old token.
        let _ = tokens.token(&source).await.unwrap();
        for _ in 0..100 {
            if tokens.cached(&source.key).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            tokens.token(&source).await.unwrap().access.expose_secret(),
            "tok-3"
        );
    });
}

#[test]
fn handle_reads_without_lookup_and_refreshes_like_the_manager() {
    runtime().block_on(async {
        let up = upstream(Duration::ZERO);
        let clock = Arc::new(FrozenClock::from_unix_millis(T0));
        let tokens = manager(&clock);
        let source = Source::new(up.server.url("/token"), "secret");
        let handle = tokens.handle(&source);
        assert!(Arc::ptr_eq(handle.source(), &source));
        // Nothing cached yet: the hot path declines and does not fetch.
        assert_eq!(
            handle.with_token(|t| t.access.expose_secret().to_owned()),
            None
        );
        assert!(handle.cached().is_none());
        assert_eq!(up.tokens.load(Ordering::SeqCst), 0);
        // The full path fetches once; the handle and the manager share the entry.
        let first = handle.token().await.unwrap();
        assert_eq!(first.access.expose_secret(), "tok-1");
        assert!(Arc::ptr_eq(&tokens.token(&source).await.unwrap(), &first));
        assert_eq!(
            handle.with_token(|t| t.access.expose_secret().len()),
            Some(5)
        );
        assert!(Arc::ptr_eq(&handle.cached().unwrap(), &first));
        // An expiry through the manager is seen by the handle (and its clones).
        let clone = handle.clone();
        assert!(tokens.expire(handle.key(), &first).await);
        assert_eq!(clone.with_token(|_| ()), None);
        assert_eq!(
            tokens.token(&source).await.unwrap().access.expose_secret(),
            "tok-2"
        );
        assert_eq!(
            clone
                .with_token(|t| t.access.expose_secret().to_owned())
                .as_deref(),
            Some("tok-2")
        );
        // Past expiry the hot path declines; `token` fetches (one request).
        clock.advance(Duration::from_secs(7300));
        assert_eq!(handle.with_token(|_| ()), None);
        assert_eq!(
            handle.token().await.unwrap().access.expose_secret(),
            "tok-3"
        );
        assert_eq!(handle.with_token(|_| ()), Some(()));
        assert_eq!(up.tokens.load(Ordering::SeqCst), 3);
        assert!(format!("{handle:?}").contains("TokenHandle"));
    });
}

#[test]
fn handles_in_many_tasks_share_one_refresh() {
    runtime().block_on(async {
        let up = upstream(Duration::from_millis(100));
        let clock = Arc::new(FrozenClock::from_unix_millis(T0));
        let tokens = manager(&clock);
        let source = Source::new(up.server.url("/token"), "secret");
        let handle = tokens.handle(&source);
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let handle = handle.clone();
                tokio::spawn(async move {
                    let t = handle.token().await.unwrap();
                    assert_eq!(t.access.expose_secret(), "tok-1");
                    handle.with_token(|t| t.access.expose_secret().to_owned())
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().as_deref(), Some("tok-1"));
        }
        assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn system_clock_hot_path_uses_the_coarse_reading() {
    runtime().block_on(async {
        let up = upstream(Duration::ZERO);
        let config = TransportConfig {
            learn_skew: false,
            ..TransportConfig::default()
        };
        let tokens = TokenManager::new(Arc::new(AsyncClient::new(config).unwrap()));
        let source = Source::new(up.server.url("/token"), "secret");
        let first = tokens.token(&source).await.unwrap();
        let handle = tokens.handle(&source);
        for _ in 0..1000 {
            assert!(Arc::ptr_eq(&tokens.token(&source).await.unwrap(), &first));
            assert_eq!(
                handle.with_token(|t| t.access.expose_secret().len()),
                Some(5)
            );
        }
        assert_eq!(up.tokens.load(Ordering::SeqCst), 1);
    });
}
