//! Transports: the cached-token hot path (1 thread, and 2 threads reading at once) and one
//! exchange on loopback through each transport versus the bare HTTP client making the same
//! request to the same local server.
//!
//! Hot path, per transport, on the real clock (`Context::system()`, as in production; the
//! freshness check reads `CLOCK_REALTIME_COARSE`):
//! * `handle/…`: `TokenHandle::with_token` reading a field (target ≤ 20 ns, and 2 threads at
//!   once ≤ 1.2× one): no map lookup, no `Arc` clone;
//! * `token/…`: `TokenManager::token` (map lookup + `Arc` clone, whose refcount is one cache
//!   line both threads write: it does not scale, which is why the handle exists).
//!
//! Exchange: the fair ureq baseline is `bare_ureq_default` (the bare client with its defaults:
//! no timeouts, so its resolver never spawns a thread). `bare_ureq_same_timeouts` is ureq with
//! our timeouts and its stock resolver, which spawns a resolver thread per request (~150 µs);
//! the transport avoids that with its own resolver for IP literals. Both the transport and
//! bare reqwest reuse one client (one connection pool) and `block_on` the same runtime.
//!
//! `cargo bench -p kaifang-benches --bench transports -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::io::Read;
use std::sync::{Arc, Barrier};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kaifang_test_support::exchanges::{Raw, Source};
use kaifang_test_support::{Reply, TestServer, runtime};
use kaifang_transport_async::AsyncClient;
use kaifang_transport_blocking::BlockingClient;
use kaifang_transport_blocking::TransportConfig;

fn server() -> TestServer {
    TestServer::start(|req| match req.path() {
        "/token" => Reply::json(200, r#"{"access_token":"bench-token","expires_in":7200}"#),
        _ => Reply::json(200, r#"{"code":0,"data":{"ok":true}}"#),
    })
}

fn config() -> TransportConfig {
    TransportConfig {
        learn_skew: false,
        ..TransportConfig::default()
    }
}

/// Polls a future that is expected to be ready at once (the hot path never awaits).
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("hot path awaited"),
    }
}

/// Runs `op` `iters` times on each of 2 threads started together; the slower thread's time.
fn two_threads<F: Fn() + Sync>(iters: u64, op: F) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op();
                    }
                    start.elapsed()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    })
}

fn hot_path(c: &mut Criterion) {
    let srv = server();
    let source = Source::new(srv.url("/token"), "secret");

    // The real clock, as in production (a 7200 s token stays fresh for the whole run).
    let blocking = Arc::new(BlockingClient::new(config()).unwrap());
    let tokens = kaifang_transport_blocking::TokenManager::new(blocking);
    tokens.token(&*source).unwrap();
    let handle = tokens.handle(&*source);

    let asynch = Arc::new(AsyncClient::new(config()).unwrap());
    let atokens = kaifang_transport_async::TokenManager::new(asynch);
    runtime().block_on(atokens.token(&source)).unwrap();
    let ahandle = atokens.handle(&source);

    let read = |t: &kaifang_proto_core::token::Token| black_box(t.access.expose_secret().len());

    let mut g = c.benchmark_group("token_hot_path");
    g.bench_function("blocking/handle/1_thread", |b| {
        b.iter(|| black_box(black_box(&handle).with_token(read).unwrap()));
    });
    g.bench_function("blocking/handle/2_threads", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(black_box(&handle).with_token(read).unwrap());
            })
        });
    });
    g.bench_function("async/handle/1_thread", |b| {
        b.iter(|| black_box(black_box(&ahandle).with_token(read).unwrap()));
    });
    g.bench_function("async/handle/2_threads", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(black_box(&ahandle).with_token(read).unwrap());
            })
        });
    });
    g.bench_function("blocking/token/1_thread", |b| {
        b.iter(|| black_box(tokens.token(black_box(&*source)).unwrap()));
    });
    g.bench_function("blocking/token/2_threads", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(tokens.token(black_box(&*source)).unwrap());
            })
        });
    });
    g.bench_function("async/token/1_thread", |b| {
        b.iter(|| black_box(ready(atokens.token(black_box(&source))).unwrap()));
    });
    g.bench_function("async/token/2_threads", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(ready(atokens.token(black_box(&source))).unwrap());
            })
        });
    });
    g.finish();
}

fn exchange(c: &mut Criterion) {
    let srv = server();
    let url = srv.url("/api?x=1");

    let mut g = c.benchmark_group("exchange_loopback");

    let client = BlockingClient::new(config()).unwrap();
    let raw = Raw(url.clone());
    g.bench_function("blocking/kaifang", |b| {
        b.iter(|| black_box(client.execute(&raw).unwrap()));
    });
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build(),
    );
    g.bench_function("blocking/bare_ureq_default", |b| {
        b.iter(|| {
            let mut resp = agent.get(&url).call().unwrap();
            let mut body = Vec::new();
            resp.body_mut().as_reader().read_to_end(&mut body).unwrap();
            black_box(body)
        });
    });

    let agent2 = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    );
    g.bench_function("blocking/bare_ureq_same_timeouts", |b| {
        b.iter(|| {
            let mut resp = agent2.get(&url).call().unwrap();
            let mut body = Vec::new();
            resp.body_mut().as_reader().read_to_end(&mut body).unwrap();
            black_box(body)
        });
    });
    let aclient = AsyncClient::new(config()).unwrap();
    g.bench_function("async/kaifang", |b| {
        b.iter(|| black_box(runtime().block_on(aclient.execute(&raw)).unwrap()));
    });
    let bare = kaifang_transport_async::reqwest_builder()
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    g.bench_function("async/bare_reqwest", |b| {
        b.iter(|| {
            black_box(
                runtime()
                    .block_on(async { bare.get(&url).send().await?.bytes().await })
                    .unwrap(),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, hot_path, exchange);
criterion_main!(benches);
