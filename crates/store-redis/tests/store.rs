//! The store contract against a real `redis-server` (started per test on a free port), for the
//! blocking and the async store alike: set-if-newer, TTL, compare-and-expire, the fenced lock,
//! leases, connection loss and recovery, and what `Debug` and errors may show.
//!
//! Without `redis-server` on `PATH` every test is skipped with a loud message, unless
//! `KAIFANG_REQUIRE_EXTERNAL=1` makes it fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kaifang_e2e::{RedisServer, runtime};
use kaifang_proto_core::Error;
use kaifang_proto_core::lifecycle::{AsyncTokenStore, StoredToken, TokenKey, TokenStore};
use kaifang_proto_core::token::Token;
use kaifang_store_redis::keys::Keys;
use kaifang_store_redis::{AsyncRedisStore, RedisStore, RedisStoreConfig};

fn server() -> Option<RedisServer> {
    RedisServer::start().unwrap()
}

fn key() -> TokenKey {
    TokenKey::new("tf56", "app:7", "access")
}

fn config(r: &RedisServer) -> RedisStoreConfig {
    RedisStoreConfig::new(r.url()).prefix("test")
}

fn blocking(r: &RedisServer) -> RedisStore {
    RedisStore::open(config(r)).unwrap()
}

fn asynch(r: &RedisServer) -> AsyncRedisStore {
    AsyncRedisStore::open(config(r)).unwrap()
}

/// A token issued `issued_ago` before now that lives `ttl` seconds.
fn stored(access: &str, issued_ago_ms: u64, ttl: u64, version: u64) -> StoredToken {
    let issued = SystemTime::now() - Duration::from_millis(issued_ago_ms);
    StoredToken::new(
        Arc::new(Token::from_expires_in(access, issued, ttl).with_refresh("refresh-secret", None)),
        version,
    )
}

fn raw(r: &RedisServer) -> redis::Connection {
    redis::Client::open(r.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn access(s: &Option<StoredToken>) -> &str {
    s.as_ref().unwrap().token.access.expose_secret()
}

#[test]
fn set_if_newer_orders_by_version_then_issue_time_and_sets_the_ttl() {
    let Some(r) = server() else { return };
    let s = blocking(&r);
    assert_eq!(s.get(&key()).unwrap(), None);
    assert!(s.set_if_newer(&key(), &stored("a", 5_000, 100, 1)).unwrap());
    // Older issue time, same version: refused. Same issue time: refused.
    assert!(
        !s.set_if_newer(&key(), &stored("older", 9_000, 100, 1))
            .unwrap()
    );
    // A later token written without a lock (version 0) never beats a fenced one.
    assert!(
        !s.set_if_newer(&key(), &stored("unfenced", 0, 100, 0))
            .unwrap()
    );
    assert_eq!(access(&s.get(&key()).unwrap()), "a");
    // Higher version wins even with an older issue time.
    assert!(
        s.set_if_newer(&key(), &stored("b", 20_000, 100, 2))
            .unwrap()
    );
    let got = s.get(&key()).unwrap();
    assert_eq!(access(&got), "b");
    let got = got.unwrap();
    assert_eq!((got.version, got.invalidated), (2, false));
    assert_eq!(
        got.token.refresh.as_ref().unwrap().expose_secret(),
        "refresh-secret"
    );
    // TTL: the token's remaining life (100 s issued 20 s ago → about 80 s).
    let ttl: i64 = redis::cmd("PTTL")
        .arg(Keys::new("test", &key()).token())
        .query(&mut raw(&r))
        .unwrap();
    assert!((75_000..=80_000).contains(&ttl), "{ttl}");
    // An expired token is not written.
    assert!(
        !s.set_if_newer(&key(), &stored("dead", 200_000, 100, 9))
            .unwrap()
    );
    assert_eq!(access(&s.get(&key()).unwrap()), "b");
}

#[test]
fn concurrent_writers_leave_the_newest_token() {
    let Some(r) = server() else { return };
    let s = Arc::new(blocking(&r));
    // 8 threads × 25 writes with interleaved (version, age); the maximum must survive.
    std::thread::scope(|scope| {
        for t in 0..8u64 {
            let s = Arc::clone(&s);
            scope.spawn(move || {
                for i in 0..25u64 {
                    let version = (i * 7 + t * 3) % 20;
                    let age = 1_000 + ((i * 13 + t * 5) % 50) * 10;
                    let name = format!("v{version}-a{age}");
                    s.set_if_newer(&key(), &stored(&name, age, 600, version))
                        .unwrap();
                }
            });
        }
    });
    let got = s.get(&key()).unwrap().unwrap();
    assert_eq!(got.version, 19);
    // Among version 19 writes the youngest (smallest age) wins.
    let best_age = (0..8u64)
        .flat_map(|t| (0..25u64).map(move |i| (t, i)))
        .filter(|(t, i)| (i * 7 + t * 3) % 20 == 19)
        .map(|(t, i)| 1_000 + ((i * 13 + t * 5) % 50) * 10)
        .min()
        .unwrap();
    assert_eq!(got.token.access.expose_secret(), format!("v19-a{best_age}"));
}

#[test]
fn expire_if_compares_the_fingerprint() {
    let Some(r) = server() else { return };
    let s = blocking(&r);
    let a = stored("a", 0, 100, 1);
    s.set_if_newer(&key(), &a).unwrap();
    let other = Token::from_expires_in("zzz", SystemTime::now(), 10).fingerprint();
    assert!(!s.expire_if(&key(), &other).unwrap());
    assert!(!s.get(&key()).unwrap().unwrap().invalidated);
    assert!(s.expire_if(&key(), &a.token.fingerprint()).unwrap());
    assert!(!s.expire_if(&key(), &a.token.fingerprint()).unwrap());
    assert!(s.get(&key()).unwrap().unwrap().invalidated);
    // A newer write clears the mark.
    s.set_if_newer(&key(), &stored("b", 0, 100, 2)).unwrap();
    assert!(!s.get(&key()).unwrap().unwrap().invalidated);
    assert!(!s.expire_if(&TokenKey::new("x", "y", "z"), &other).unwrap());
}

#[test]
fn the_lock_is_exclusive_fenced_and_leased() {
    let Some(r) = server() else { return };
    let s = blocking(&r);
    let lease = Duration::from_millis(300);
    let f1 = s.try_lock(&key(), lease, "one").unwrap().unwrap();
    assert_eq!(f1.owner, "one");
    assert!(s.try_lock(&key(), lease, "two").unwrap().is_none());
    // Compare-and-delete: a forged fence does not release it.
    let mut forged = f1.clone();
    forged.token += 1;
    assert!(!s.unlock(&key(), &forged).unwrap());
    assert!(s.unlock(&key(), &f1).unwrap());
    let f2 = s.try_lock(&key(), lease, "two").unwrap().unwrap();
    assert!(f2.token > f1.token);
    // The lease runs out: another owner takes it, and the old owner cannot release it.
    std::thread::sleep(lease + Duration::from_millis(100));
    let f3 = s.try_lock(&key(), lease, "three").unwrap().unwrap();
    assert!(f3.token > f2.token);
    assert!(!s.unlock(&key(), &f2).unwrap());
    // The lost holder's late write (lower fence) loses to the new holder's.
    assert!(
        s.set_if_newer(&key(), &stored("by-three", 0, 100, f3.token))
            .unwrap()
    );
    assert!(
        !s.set_if_newer(&key(), &stored("by-two", 0, 100, f2.token))
            .unwrap()
    );
    assert_eq!(access(&s.get(&key()).unwrap()), "by-three");
    assert!(s.unlock(&key(), &f3).unwrap());
}

#[test]
fn fences_stay_above_the_stored_version_when_the_counter_is_lost() {
    let Some(r) = server() else { return };
    let s = blocking(&r);
    s.set_if_newer(&key(), &stored("v57", 0, 100, 57)).unwrap();
    let keys = Keys::new("test", &key());
    let _: i64 = redis::cmd("DEL")
        .arg(keys.fence())
        .query(&mut raw(&r))
        .unwrap();
    let f = s
        .try_lock(&key(), Duration::from_secs(5), "me")
        .unwrap()
        .unwrap();
    assert_eq!(f.token, 58);
    assert!(
        s.set_if_newer(&key(), &stored("v58", 0, 100, f.token))
            .unwrap()
    );
}

#[test]
fn blocking_and_async_stores_share_one_protocol() {
    let Some(r) = server() else { return };
    let b = blocking(&r);
    let a = asynch(&r);
    runtime().block_on(async {
        a.ping().await.unwrap();
        assert!(
            AsyncTokenStore::set_if_newer(&a, &key(), &stored("from-async", 0, 100, 3))
                .await
                .unwrap()
        );
        let f = AsyncTokenStore::try_lock(&a, &key(), Duration::from_secs(5), "async")
            .await
            .unwrap()
            .unwrap();
        assert!(
            b.try_lock(&key(), Duration::from_secs(5), "blocking")
                .unwrap()
                .is_none()
        );
        assert!(f.token > 3, "fence {} above the stored version", f.token);
        assert!(AsyncTokenStore::unlock(&a, &key(), &f).await.unwrap());
    });
    let got = b.get(&key()).unwrap().unwrap();
    assert_eq!(got.token.access.expose_secret(), "from-async");
    assert!(b.expire_if(&key(), &got.token.fingerprint()).unwrap());
    let seen = runtime()
        .block_on(AsyncTokenStore::get(&a, &key()))
        .unwrap()
        .unwrap();
    assert!(seen.invalidated);
}

/// Redis killed: every operation fails fast with a typed store error naming the operation;
/// Redis back (empty): the very next operation works again on a new connection.
#[test]
fn connection_loss_is_a_fast_typed_error_and_recovers() {
    let Some(mut r) = server() else { return };
    let b = blocking(&r);
    let a = asynch(&r);
    b.ping().unwrap();
    runtime().block_on(a.ping()).unwrap();
    r.kill();
    let started = Instant::now();
    for _ in 0..3 {
        let e = b.get(&key()).unwrap_err();
        assert!(
            matches!(&e, Error::Store(m) if m.starts_with("redis ")),
            "{e}"
        );
        assert!(e.is_retryable());
        let e = runtime()
            .block_on(AsyncTokenStore::get(&a, &key()))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Store(m) if m.starts_with("redis ")),
            "{e}"
        );
    }
    // Six failed operations within the timeouts (connection refused on loopback is immediate).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    r.restart().unwrap();
    assert!(b.set_if_newer(&key(), &stored("after", 0, 100, 1)).unwrap());
    let got = runtime()
        .block_on(AsyncTokenStore::get(&a, &key()))
        .unwrap();
    assert_eq!(access(&got), "after");
}

/// Redis restarted between two operations: the old connections are stale, and the next
/// operation still succeeds (one transparent retry on a new connection), for both stores.
#[test]
fn a_restart_between_operations_costs_no_failure() {
    let Some(mut r) = server() else { return };
    let b = blocking(&r);
    let a = asynch(&r);
    b.ping().unwrap();
    runtime().block_on(a.ping()).unwrap();
    r.restart().unwrap();
    assert_eq!(b.get(&key()).unwrap(), None);
    assert_eq!(
        runtime()
            .block_on(AsyncTokenStore::get(&a, &key()))
            .unwrap(),
        None
    );
}

#[test]
fn a_hung_server_is_bounded_by_the_timeouts() {
    // A listener that accepts and never answers: every operation ends within the connect
    // timeout (the handshake) plus the response timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let cfg = RedisStoreConfig::new(url)
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300));
    let bound = Duration::from_millis(600 + 400);
    let b = RedisStore::open(cfg.clone()).unwrap();
    let a = AsyncRedisStore::open(cfg).unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        let e = b.get(&key()).unwrap_err();
        assert!(matches!(&e, Error::Store(_)), "{e}");
        assert!(
            started.elapsed() < bound,
            "blocking: {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let e = runtime()
            .block_on(AsyncTokenStore::get(&a, &key()))
            .unwrap_err();
        assert!(matches!(&e, Error::Store(_)), "{e}");
        assert!(started.elapsed() < bound, "async: {:?}", started.elapsed());
    }
    drop(listener);
}

#[test]
fn debug_and_errors_never_show_passwords_or_tokens() {
    let cfg = RedisStoreConfig::new("redis://:pw-marker-81@127.0.0.1:1/0")
        .connect_timeout(Duration::from_millis(200));
    let b = RedisStore::open(cfg.clone()).unwrap();
    let a = AsyncRedisStore::open(cfg).unwrap();
    let e = b.ping().unwrap_err();
    let e2 = runtime().block_on(a.ping()).unwrap_err();
    for shown in [
        format!("{b:?}"),
        format!("{a:?}"),
        e.to_string(),
        format!("{e:?}"),
        e2.to_string(),
    ] {
        assert!(!shown.contains("pw-marker-81"), "{shown}");
    }
    let bad = RedisStore::open(RedisStoreConfig::new("nonsense://:pw-marker-81@x")).unwrap_err();
    assert!(matches!(&bad, Error::Config(_)));
    assert!(!bad.to_string().contains("pw-marker-81"), "{bad}");

    let Some(r) = server() else { return };
    let s = blocking(&r);
    let st = stored("access-marker-82", 0, 100, 1);
    s.set_if_newer(&key(), &st).unwrap();
    let got = s.get(&key()).unwrap();
    let shown = format!("{got:?} {s:?}");
    assert!(!shown.contains("access-marker-82"), "{shown}");
    assert!(!shown.contains("refresh-secret"), "{shown}");
}
