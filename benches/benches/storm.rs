//! Thundering herd: a token expires while a crowd asks for it, and the token managers'
//! single-flight turns the crowd into exactly one upstream request.
//!
//! * async: 10,000 tokio tasks call `TokenManager::token` at once right after the cached token
//!   was expired (`TokenManager::expire`); the token endpoint is a loopback server that counts
//!   requests and answers after 5 ms.
//! * blocking: 64 threads × 100 calls each, started together on a barrier, same setup.
//!
//! Each round measures the time from the first spawn until every caller holds a token, and
//! checks that the round made exactly one upstream request and that every caller got the new
//! token; any other count makes the program exit nonzero. The result is ONE line of JSON on
//! stdout (progress goes to stderr):
//!
//! ```text
//! {"tasks":10000,"rounds":N,"upstream_requests_per_round":[1,...],"serve_all_ms":{"median":f,"min":f,"max":f},
//!  "blocking":{"threads":64,"calls_per_thread":100,"rounds":N,"upstream_requests_per_round":[1,...],"serve_all_ms":{...}}}
//! ```
//!
//! `cargo bench -p kaifang-benches --bench storm [-- --quick]`

// A measurement program, not library code: a failed setup or a broken invariant ends it with
// an error (nonzero exit), which is what `?` in `main` does.
#![allow(missing_docs)]

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use kaifang_proto_core::lifecycle::TokenSource;
use kaifang_test_support::exchanges::Source;
use kaifang_test_support::{Reply, TestServer, runtime};
use kaifang_transport_async::AsyncClient;
use kaifang_transport_blocking::{BlockingClient, TransportConfig};

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

const TASKS: usize = 10_000;
const THREADS: usize = 64;
const CALLS_PER_THREAD: usize = 100;
/// How long the token endpoint takes to answer.
const UPSTREAM_DELAY: Duration = Duration::from_millis(5);

/// A token endpoint answering a new token (`storm-<n>`, 2 h) after [`UPSTREAM_DELAY`].
fn token_server() -> TestServer {
    let issued = AtomicU64::new(0);
    TestServer::start(move |_| {
        let n = issued.fetch_add(1, Ordering::SeqCst);
        Reply::json(
            200,
            format!(r#"{{"access_token":"storm-{n}","expires_in":7200}}"#),
        )
        .delay(UPSTREAM_DELAY)
    })
}

fn config() -> TransportConfig {
    TransportConfig {
        learn_skew: false,
        ..TransportConfig::default()
    }
}

/// One round's result.
struct Round {
    upstream: usize,
    elapsed: Duration,
}

fn async_round(
    tokens: &kaifang_transport_async::TokenManager,
    source: &Arc<Source>,
    server: &TestServer,
) -> Result<Round> {
    runtime().block_on(async {
        let old = tokens.token(source).await?;
        if !tokens.expire(source.key(), &old).await {
            return Err("expire did not change the cache".into());
        }
        let before = server.hits();
        let start = Instant::now();
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let tokens = tokens.clone();
                let source = Arc::clone(source);
                tokio::spawn(async move { tokens.token(&source).await })
            })
            .collect();
        let mut first: Option<String> = None;
        for h in handles {
            let t = h.await??;
            let access = t.access.expose_secret();
            if access == old.access.expose_secret() {
                return Err(format!("a task got the expired token {access}").into());
            }
            match &first {
                None => first = Some(access.to_owned()),
                Some(f) if f != access => {
                    return Err(format!("tasks got different tokens: {f} and {access}").into());
                }
                Some(_) => {}
            }
        }
        let elapsed = start.elapsed();
        Ok(Round {
            upstream: server.hits() - before,
            elapsed,
        })
    })
}

fn blocking_round(
    tokens: &kaifang_transport_blocking::TokenManager,
    source: &Source,
    server: &TestServer,
) -> Result<Round> {
    let old = tokens.token(source)?;
    if !tokens.expire(source.key(), &old) {
        return Err("expire did not change the cache".into());
    }
    let before = server.hits();
    let barrier = Barrier::new(THREADS + 1);
    let old_access = old.access.expose_secret();
    let (start, results) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| -> Result<Option<String>> {
                    barrier.wait();
                    let mut got: Option<String> = None;
                    for _ in 0..CALLS_PER_THREAD {
                        let t = tokens.token(source)?;
                        let access = t.access.expose_secret();
                        if access == old_access {
                            return Err(format!("a thread got the expired token {access}").into());
                        }
                        if got.is_none() {
                            got = Some(access.to_owned());
                        }
                    }
                    Ok(got)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "a storm thread panicked"))
            .collect();
        (start, results)
    });
    let elapsed = start.elapsed();
    let mut first: Option<String> = None;
    for r in results {
        let got = r??;
        match (&first, got) {
            (None, g) => first = g,
            (Some(f), Some(g)) if *f != g => {
                return Err(format!("threads got different tokens: {f} and {g}").into());
            }
            _ => {}
        }
    }
    Ok(Round {
        upstream: server.hits() - before,
        elapsed,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `{"median":f,"min":f,"max":f}` of the rounds' times in ms.
fn summary(rounds: &[Round]) -> String {
    let mut v: Vec<f64> = rounds.iter().map(|r| ms(r.elapsed)).collect();
    v.sort_by(f64::total_cmp);
    let median = match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    format!(
        r#"{{"median":{median:.3},"min":{:.3},"max":{:.3}}}"#,
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn counts(rounds: &[Round]) -> String {
    let v: Vec<String> = rounds.iter().map(|r| r.upstream.to_string()).collect();
    format!("[{}]", v.join(","))
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; anything but `--quick` is ignored.
    let quick = std::env::args().any(|a| a == "--quick");
    let n_rounds = if quick { 3 } else { 10 };

    let server = token_server();
    let source = Source::new(server.url("/token"), "secret");

    // async: 10,000 tasks on the shared two-worker runtime (the server runs there too).
    let tokens = kaifang_transport_async::TokenManager::new(Arc::new(AsyncClient::new(config())?));
    runtime().block_on(tokens.token(&source))?; // warm: connection, entry
    let mut rounds = Vec::with_capacity(n_rounds);
    for i in 0..n_rounds {
        let r = async_round(&tokens, &source, &server)?;
        eprintln!(
            "storm async round {}: {TASKS} tasks served in {:.2} ms, {} upstream request(s)",
            i + 1,
            ms(r.elapsed),
            r.upstream
        );
        rounds.push(r);
    }

    // blocking: 64 threads × 100 calls.
    let btokens =
        kaifang_transport_blocking::TokenManager::new(Arc::new(BlockingClient::new(config())?));
    btokens.token(&*source)?;
    let mut brounds = Vec::with_capacity(n_rounds);
    for i in 0..n_rounds {
        let r = blocking_round(&btokens, &source, &server)?;
        eprintln!(
            "storm blocking round {}: {THREADS} threads x {CALLS_PER_THREAD} calls served in {:.2} ms, {} upstream request(s)",
            i + 1,
            ms(r.elapsed),
            r.upstream
        );
        brounds.push(r);
    }

    println!(
        r#"{{"tasks":{TASKS},"rounds":{n_rounds},"upstream_requests_per_round":{},"serve_all_ms":{},"blocking":{{"threads":{THREADS},"calls_per_thread":{CALLS_PER_THREAD},"rounds":{n_rounds},"upstream_requests_per_round":{},"serve_all_ms":{}}}}}"#,
        counts(&rounds),
        summary(&rounds),
        counts(&brounds),
        summary(&brounds)
    );

    let bad: Vec<String> = rounds
        .iter()
        .map(|r| ("async", r))
        .chain(brounds.iter().map(|r| ("blocking", r)))
        .enumerate()
        .filter(|(_, (_, r))| r.upstream != 1)
        .map(|(i, (kind, r))| {
            format!(
                "{kind} round {}: {} upstream requests",
                i % n_rounds + 1,
                r.upstream
            )
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "single-flight broken (want exactly 1 per storm): {}",
            bad.join("; ")
        )
        .into())
    }
}
