//! The fleet: separate processes (blocking and async token managers) sharing one `redis-server`
//! against the sandbox's tf56 gateway (client_credentials, `sayHello`).
//!
//! * 4 processes × 250 concurrent callers, 10 forced expiries (the sandbox clock jumps past the
//!   token's life, so every cached token is refused): exactly 10 upstream token requests, and
//!   every caller of a round ends on the token the store holds, never an older one.
//! * `kill -9` of the process holding the refresh lock mid-refresh (its token request hangs on a
//!   sandbox latency fault): another process takes over once the lease has run out, and no caller
//!   waits longer than the documented bound.
//! * Redis killed and restarted mid-run: callers keep working from their cached tokens, refresh
//!   without the store while it is down, and share one refresh again once it is back.
//!
//! The worker processes are this test binary run again with `--exact fleet_worker` and
//! `KAIFANG_FLEET_WORKER` set; they take `round` / `quit` on stdin and answer one `FLEET …`
//! line per round on stdout. Without `redis-server` on `PATH` the tests are skipped with a loud
//! message, unless `KAIFANG_REQUIRE_EXTERNAL=1` makes them fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kaifang_e2e::{RedisServer, runtime};
use kaifang_proto_core::Error;
use kaifang_proto_core::lifecycle::{RefreshPolicy, TokenKey, TokenSource, TokenStore};
use kaifang_proto_core::secret::AccessToken;
use kaifang_proto_core::token::{Fingerprint, Token};
use kaifang_proto_core::transport::TransportConfig;
use kaifang_proto_tf56::server::{PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET};
use kaifang_proto_tf56::{Tf56, Tf56Config, Tf56Tokens};
use kaifang_sandbox::platforms::tf56::Tf56Module;
use kaifang_sandbox::{BlockingSandbox, FaultSpec, Sandbox};
use kaifang_store_redis::keys::Keys;
use kaifang_store_redis::{AsyncRedisStore, RedisStore, RedisStoreConfig};
use kaifang_transport_async::{AsyncClient, TokenManager as AsyncTokens};
use kaifang_transport_blocking::{BlockingClient, TokenManager as BlockingTokens};
use serde_json::{Value, json};

const TOKEN_PATH: &str = "/openGateway/oauth/token";
/// The sandbox's tf56 access tokens live 1800 s; a jump of this much expires every one.
const EXPIRE: Duration = Duration::from_secs(1_801);
const PREFIX: &str = "fleet";

const ENV_ROLE: &str = "KAIFANG_FLEET_WORKER";
const ENV_REDIS: &str = "KAIFANG_FLEET_REDIS";
const ENV_SANDBOX: &str = "KAIFANG_FLEET_SANDBOX";
const ENV_CALLERS: &str = "KAIFANG_FLEET_CALLERS";
const ENV_LEASE_MS: &str = "KAIFANG_FLEET_LEASE_MS";
const ENV_MAX_WAIT_MS: &str = "KAIFANG_FLEET_MAX_WAIT_MS";

fn app(base_url: &str) -> Tf56 {
    Tf56::new(Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET).base_url(base_url)).unwrap()
}

fn policy(lease: Duration, max_wait: Duration) -> RefreshPolicy {
    RefreshPolicy {
        store_lease: lease,
        max_wait,
        ..RefreshPolicy::default()
    }
}

/// A connection pool sized to the callers, as a server running that many requests at once is
/// configured: without it, hundreds of threads opening fresh connections at the same instant
/// overflow the sandbox's accept queue on this 2-core machine (connection resets that have
/// nothing to do with the store).
fn transport_config(callers: usize) -> TransportConfig {
    TransportConfig {
        max_idle_per_host: callers,
        ..TransportConfig::default()
    }
}

fn store_config(redis_url: &str) -> RedisStoreConfig {
    RedisStoreConfig::new(redis_url)
        .prefix(PREFIX)
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
}

fn access(t: &Token) -> AccessToken {
    AccessToken::from(t.access.clone())
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn token_requests(sb: &BlockingSandbox) -> u64 {
    sb.count(&format!("POST {TOKEN_PATH}")) + sb.count(&format!("GET {TOKEN_PATH}"))
}

// ---------------------------------------------------------------------------------------------
// the worker process

/// What the callers of one round did.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: Vec<String>,
    /// Fingerprint (hex) of the token each successful call used → number of calls.
    used: BTreeMap<String, u64>,
    /// Callers handed a token issued before one already handed out in this process.
    violations: u64,
    max_wait: Duration,
}

impl Tally {
    fn record(&mut self, outcome: Result<Fingerprint, Error>, waited: Duration) {
        match outcome {
            Ok(fp) => {
                self.ok += 1;
                *self.used.entry(fp.to_hex()).or_default() += 1;
            }
            Err(e) => self.errors.push(e.to_string()),
        }
        self.max_wait = self.max_wait.max(waited);
    }

    fn json(&self) -> Value {
        json!({
            "ok": self.ok,
            "errors": self.errors.iter().take(5).collect::<Vec<_>>(),
            "error_count": self.errors.len(),
            "used": self.used,
            "violations": self.violations,
            "max_wait_ms": u64::try_from(self.max_wait.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// The newest issue time handed out in this process: a caller that receives an older token
/// than one already handed out before it asked is a violation.
struct Newest(AtomicI64);

impl Newest {
    fn check(&self, before: i64, token: &Token) -> bool {
        let iat = unix_ms(token.issued_at);
        self.0.fetch_max(iat, Ordering::SeqCst);
        iat < before
    }
}

/// The worker's entry point: does nothing in a normal test run (the variable is unset); the
/// fleet tests start this binary with it set.
#[test]
fn fleet_worker() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let num = |name: &str| var(name).parse::<u64>().unwrap();
    let redis = var(ENV_REDIS);
    let app = Arc::new(app(&var(ENV_SANDBOX)));
    let callers = usize::try_from(num(ENV_CALLERS)).unwrap();
    let policy = policy(
        Duration::from_millis(num(ENV_LEASE_MS)),
        Duration::from_millis(num(ENV_MAX_WAIT_MS)),
    );
    let newest = Arc::new(Newest(AtomicI64::new(0)));
    match role.as_str() {
        "blocking" => {
            let store = RedisStore::open(store_config(&redis)).unwrap();
            let tokens = BlockingTokens::new(Arc::new(
                BlockingClient::new(transport_config(callers)).unwrap(),
            ))
            .with_policy(policy)
            .with_store(Arc::new(store));
            let source = Tf56Tokens::client_credentials(&app);
            serve(tokens.instance_id(), || {
                let barrier = std::sync::Barrier::new(callers);
                let tally = std::sync::Mutex::new(Tally::default());
                std::thread::scope(|s| {
                    for _ in 0..callers {
                        s.spawn(|| {
                            barrier.wait();
                            let started = Instant::now();
                            let before = newest.0.load(Ordering::SeqCst);
                            let outcome = tokens.token(&source).and_then(|t| {
                                let violated = newest.check(before, &t);
                                let mut used = None;
                                tokens
                                    .call_with_token(&source, |t| {
                                        used = Some(t.fingerprint());
                                        app.say_hello(&access(t))
                                    })
                                    .map(|_| (used, violated))
                            });
                            let mut tally = tally.lock().unwrap();
                            let outcome = outcome.map(|(used, violated)| {
                                tally.violations += u64::from(violated);
                                used.unwrap()
                            });
                            tally.record(outcome, started.elapsed());
                        });
                    }
                });
                tally.into_inner().unwrap()
            });
        }
        "async" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let store = AsyncRedisStore::open(store_config(&redis)).unwrap();
            let tokens = AsyncTokens::new(Arc::new(
                AsyncClient::new(transport_config(callers)).unwrap(),
            ))
            .with_policy(policy)
            .with_store(Arc::new(store));
            let source = Arc::new(Tf56Tokens::client_credentials(&app));
            serve(tokens.instance_id(), || {
                rt.block_on(async {
                    let barrier = Arc::new(tokio::sync::Barrier::new(callers));
                    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
                    let tasks: Vec<_> = (0..callers)
                        .map(|_| {
                            let (barrier, tally, tokens, source, app, newest) = (
                                Arc::clone(&barrier),
                                Arc::clone(&tally),
                                tokens.clone(),
                                Arc::clone(&source),
                                Arc::clone(&app),
                                Arc::clone(&newest),
                            );
                            tokio::spawn(async move {
                                barrier.wait().await;
                                let started = Instant::now();
                                let before = newest.0.load(Ordering::SeqCst);
                                let outcome = match tokens.token(&source).await {
                                    Ok(t) => {
                                        let violated = newest.check(before, &t);
                                        let mut used = None;
                                        tokens
                                            .call_with_token(&source, |t| {
                                                used = Some(t.fingerprint());
                                                app.say_hello(&access(t))
                                            })
                                            .await
                                            .map(|_| (used, violated))
                                    }
                                    Err(e) => Err(e),
                                };
                                let mut tally = tally.lock().unwrap();
                                let outcome = outcome.map(|(used, violated)| {
                                    tally.violations += u64::from(violated);
                                    used.unwrap()
                                });
                                tally.record(outcome, started.elapsed());
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    std::mem::take(&mut *tally.lock().unwrap())
                })
            });
        }
        other => panic!("unknown worker role {other}"),
    }
}

/// Announces the instance id, then runs one round per `round` line until `quit` or EOF.
fn serve(instance: &str, mut round: impl FnMut() -> Tally) {
    let mut out = std::io::stdout();
    writeln!(out, "FLEET ready {instance}").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        match line.unwrap().trim() {
            "round" => {
                let tally = round();
                writeln!(out, "FLEET done {}", tally.json()).unwrap();
                out.flush().unwrap();
            }
            _ => break,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the parent side

struct Worker {
    role: &'static str,
    id: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Worker {
    fn spawn(
        role: &'static str,
        redis: &RedisServer,
        sb: &BlockingSandbox,
        callers: usize,
        policy: &RefreshPolicy,
    ) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["fleet_worker", "--exact", "--nocapture", "--test-threads=1"])
            .env(ENV_ROLE, role)
            .env(ENV_REDIS, redis.url())
            .env(ENV_SANDBOX, sb.base_url())
            .env(ENV_CALLERS, callers.to_string())
            .env(ENV_LEASE_MS, policy.store_lease.as_millis().to_string())
            .env(ENV_MAX_WAIT_MS, policy.max_wait.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The test harness may print `test fleet_worker ... ` before it on the line.
                if let Some(at) = line.find("FLEET ")
                    && tx.send(line[at + "FLEET ".len()..].to_owned()).is_err()
                {
                    break;
                }
            }
        });
        let mut w = Self {
            role,
            id: String::new(),
            child,
            stdin,
            lines,
        };
        let ready = w.next_line(Duration::from_secs(60));
        w.id = ready.strip_prefix("ready ").unwrap().to_owned();
        w
    }

    fn next_line(&self, timeout: Duration) -> String {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("{} worker {} did not answer: {e}", self.role, self.id))
    }

    fn start_round(&mut self) {
        writeln!(self.stdin, "round").unwrap();
        self.stdin.flush().unwrap();
    }

    fn report(&self) -> Value {
        let line = self.next_line(Duration::from_secs(60));
        serde_json::from_str(line.strip_prefix("done ").unwrap()).unwrap()
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sandbox() -> BlockingSandbox {
    Sandbox::builder()
        .module(Tf56Module)
        .seed(13)
        .start_blocking()
        .unwrap()
}

fn token_key(sb: &BlockingSandbox) -> TokenKey {
    Tf56Tokens::client_credentials(&app(sb.base_url()))
        .key()
        .clone()
}

/// Runs one round on `workers` and returns their reports, after checking that every caller
/// succeeded, on the token the store holds, and no process went back to an older token.
fn round(workers: &mut [Worker], callers: u64, stored_fp: impl Fn() -> String) -> Vec<Value> {
    for w in workers.iter_mut() {
        w.start_round();
    }
    let reports: Vec<Value> = workers.iter().map(Worker::report).collect();
    let fp = stored_fp();
    for (w, r) in workers.iter().zip(&reports) {
        assert_eq!(r["error_count"], 0, "{} {}: {r}", w.role, w.id);
        assert_eq!(r["ok"], callers, "{} {}: {r}", w.role, w.id);
        assert_eq!(r["violations"], 0, "{} {}: {r}", w.role, w.id);
        assert_eq!(
            r["used"],
            json!({ fp.clone(): callers }),
            "{} {}: every call used the stored token",
            w.role,
            w.id
        );
    }
    reports
}

#[test]
fn four_processes_share_one_refresh_per_expiry() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let sb = sandbox();
    let callers = 250;
    let policy = policy(Duration::from_secs(5), Duration::from_secs(10));
    let mut workers: Vec<Worker> = ["blocking", "async", "blocking", "async"]
        .into_iter()
        .map(|role| Worker::spawn(role, &redis, &sb, callers, &policy))
        .collect();
    let store = RedisStore::open(store_config(&redis.url())).unwrap();
    let key = token_key(&sb);
    let stored = || store.get(&key).unwrap().unwrap();
    let stored_fp = || stored().token.fingerprint().to_hex();

    // Warm-up: every process gets the first token (one upstream request for all of them).
    round(&mut workers, callers as u64, stored_fp);
    assert_eq!(token_requests(&sb), 1);
    sb.clear_counters();

    let mut last = stored();
    let mut max_wait = 0;
    for expiry in 1..=10u64 {
        sb.advance_clock(EXPIRE);
        let reports = round(&mut workers, callers as u64, stored_fp);
        assert_eq!(
            token_requests(&sb),
            expiry,
            "one upstream token request per expiry across 4 processes × {callers} callers"
        );
        let now = stored();
        assert!(now.is_newer_than(&last), "the store moved forward");
        assert!(now.token.issued_at >= last.token.issued_at);
        last = now;
        for r in &reports {
            max_wait = max_wait.max(r["max_wait_ms"].as_u64().unwrap());
        }
    }
    eprintln!(
        "fleet: 10 expiries, 4 processes × {callers} callers: {} upstream token requests, \
         slowest caller {max_wait} ms, final fence {}",
        token_requests(&sb),
        last.version
    );
}

#[test]
fn a_killed_lock_holder_is_taken_over_after_the_lease() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let sb = sandbox();
    let callers = 50;
    let lease = Duration::from_secs(1);
    let policy = policy(lease, Duration::from_secs(8));
    // The documented bound for a caller when the holder dies: the lease, one poll interval
    // (≤ 500 ms) and one token request (1.5 s allowed on this loaded loopback).
    let bound = lease + Duration::from_millis(500) + Duration::from_millis(1_500);
    let mut workers: Vec<Worker> = ["blocking", "async", "blocking"]
        .into_iter()
        .map(|role| Worker::spawn(role, &redis, &sb, callers, &policy))
        .collect();
    let store = RedisStore::open(store_config(&redis.url())).unwrap();
    let key = token_key(&sb);
    let keys = Keys::new(PREFIX, &key);
    round(&mut workers, callers as u64, || {
        store
            .get(&key)
            .unwrap()
            .unwrap()
            .token
            .fingerprint()
            .to_hex()
    });
    let first = store.get(&key).unwrap().unwrap();
    sb.clear_counters();

    // The next token request hangs for 30 s: whoever takes the lock is stuck mid-refresh.
    sb.add_fault(
        FaultSpec::new(TOKEN_PATH)
            .latency(Duration::from_secs(30))
            .count(1),
    )
    .unwrap();
    sb.advance_clock(EXPIRE);
    for w in &mut workers {
        w.start_round();
    }
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let started = Instant::now();
    let holder = loop {
        let lock: Option<String> = redis::cmd("GET").arg(keys.lock()).query(&mut raw).unwrap();
        if let Some(lock) = lock {
            let (fence, owner) = lock.split_once(' ').unwrap();
            break (fence.parse::<u64>().unwrap(), owner.to_owned());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nobody took the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // Mid-refresh: its token request has reached the sandbox and hangs there.
    while token_requests(&sb) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no token request"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let victim = workers.iter().position(|w| w.id == holder.1).unwrap();
    let mut dead = workers.remove(victim);
    dead.kill();
    let locked_at = started.elapsed();

    let reports: Vec<Value> = workers.iter().map(Worker::report).collect();
    let after = store.get(&key).unwrap().unwrap();
    let fp = after.token.fingerprint().to_hex();
    for (w, r) in workers.iter().zip(&reports) {
        assert_eq!(r["error_count"], 0, "{} {}: {r}", w.role, w.id);
        assert_eq!(r["ok"], callers as u64, "{r}");
        assert_eq!(r["used"], json!({ fp.clone(): callers }), "{r}");
        let waited = Duration::from_millis(r["max_wait_ms"].as_u64().unwrap());
        assert!(waited <= bound, "{} waited {waited:?} > {bound:?}", w.role);
        // They did wait for the lease: nobody refreshed while the dead holder's lease ran.
        assert!(waited + Duration::from_millis(100) >= lease, "{waited:?}");
    }
    // The one who took over wrote with a higher fence than the dead holder's.
    assert!(after.version > holder.0, "{} > {}", after.version, holder.0);
    assert!(after.is_newer_than(&first));
    // Two upstream requests: the dead holder's (hung) and the one that completed.
    assert_eq!(token_requests(&sb), 2);
    eprintln!(
        "kill -9: holder {} (fence {}) killed {locked_at:?} after the round started; \
         taken over with fence {}; slowest surviving caller {} ms (bound {bound:?})",
        dead.role,
        holder.0,
        after.version,
        reports
            .iter()
            .map(|r| r["max_wait_ms"].as_u64().unwrap())
            .max()
            .unwrap()
    );
}

#[test]
fn callers_keep_working_while_redis_restarts() {
    let Some(mut redis) = RedisServer::start().unwrap() else {
        return;
    };
    let sb = sandbox();
    let app = Arc::new(app(sb.base_url()));
    let policy = policy(Duration::from_secs(2), Duration::from_secs(5));
    let blocking = BlockingTokens::new(Arc::new(
        BlockingClient::new(TransportConfig::default()).unwrap(),
    ))
    .with_policy(policy.clone())
    .with_store(Arc::new(
        RedisStore::open(store_config(&redis.url())).unwrap(),
    ));
    let asynch = AsyncTokens::new(Arc::new(
        AsyncClient::new(TransportConfig::default()).unwrap(),
    ))
    .with_policy(policy)
    .with_store(Arc::new(
        AsyncRedisStore::open(store_config(&redis.url())).unwrap(),
    ));
    let b_source = Tf56Tokens::client_credentials(&app);
    let a_source = Arc::new(Tf56Tokens::client_credentials(&app));
    // 20 concurrent callers on each manager; returns the fingerprints they used.
    let burst = || -> Vec<Fingerprint> {
        std::thread::scope(|s| {
            let b: Vec<_> = (0..20)
                .map(|_| {
                    s.spawn(|| {
                        let mut used = None;
                        blocking
                            .call_with_token(&b_source, |t| {
                                used = Some(t.fingerprint());
                                app.say_hello(&access(t))
                            })
                            .unwrap();
                        used.unwrap()
                    })
                })
                .collect();
            let a = runtime().block_on(async {
                let tasks: Vec<_> = (0..20)
                    .map(|_| {
                        let (asynch, source, app) =
                            (asynch.clone(), Arc::clone(&a_source), Arc::clone(&app));
                        tokio::spawn(async move {
                            let mut used = None;
                            asynch
                                .call_with_token(&source, |t| {
                                    used = Some(t.fingerprint());
                                    app.say_hello(&access(t))
                                })
                                .await
                                .unwrap();
                            used.unwrap()
                        })
                    })
                    .collect();
                let mut used = Vec::new();
                for t in tasks {
                    used.push(t.await.unwrap());
                }
                used
            });
            b.into_iter().map(|h| h.join().unwrap()).chain(a).collect()
        })
    };
    let distinct = |fps: &[Fingerprint]| {
        let mut v = fps.to_vec();
        v.sort();
        v.dedup();
        v
    };

    // Shared: one upstream request for both managers.
    let used = burst();
    assert_eq!(distinct(&used).len(), 1);
    assert_eq!(token_requests(&sb), 1);

    // Redis dies: the cached token keeps serving, no upstream request.
    redis.kill();
    for _ in 0..3 {
        burst();
    }
    assert_eq!(token_requests(&sb), 1);

    // An expiry while Redis is down: each manager refreshes on its own (no store to share),
    // at most once each, and every call succeeds.
    sb.advance_clock(EXPIRE);
    let used = burst();
    let during = token_requests(&sb);
    assert!((2..=3).contains(&during), "{during}");
    assert!(distinct(&used).len() <= 2);

    // Redis is back, empty: cached tokens still serve; the next expiry is shared again.
    redis.restart().unwrap();
    burst();
    assert_eq!(token_requests(&sb), during);
    sb.advance_clock(EXPIRE);
    let used = burst();
    assert_eq!(
        token_requests(&sb),
        during + 1,
        "one shared refresh after the restart"
    );
    let used = distinct(&used);
    assert_eq!(used.len(), 1);
    let key = b_source.key().clone();
    let stored = RedisStore::open(store_config(&redis.url()))
        .unwrap()
        .get(&key)
        .unwrap()
        .unwrap();
    assert_eq!(stored.token.fingerprint(), used[0]);
}
