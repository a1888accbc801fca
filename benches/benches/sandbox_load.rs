//! Sandbox throughput: requests per second for a trivial route (`GET /__demo/ping`) and for the
//! demo module's token route (`POST /__demo/oauth/token`, client credentials: parse the form,
//! check the secret, mint and register a token), with 32 requests in flight over keep-alive
//! connections from an in-process reqwest client sharing the sandbox's two-worker runtime.
//! Run with `cargo bench -p kaifang-benches --bench sandbox_load`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // criterion macros; bench setup

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaifang_sandbox::Sandbox;
use kaifang_sandbox::demo::DemoModule;

/// Requests per measured iteration.
const BATCH: u64 = 512;
/// Requests in flight.
const IN_FLIGHT: u64 = 32;

#[derive(Clone, Copy)]
enum Route {
    Ping,
    Token,
}

async fn batch(client: &reqwest::Client, base: &Arc<str>, route: Route) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let client = client.clone();
        let base = Arc::clone(base);
        tasks.spawn(async move {
            for _ in 0..BATCH / IN_FLIGHT {
                let resp = match route {
                    Route::Ping => client.get(format!("{base}/__demo/ping")).send().await,
                    Route::Token => {
                        client
                            .post(format!("{base}/__demo/oauth/token"))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body("grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret")
                            .send()
                            .await
                    }
                }
                .unwrap();
                assert!(resp.status().is_success());
                resp.bytes().await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

fn sandbox_load(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sb = rt
        .block_on(Sandbox::builder().module(DemoModule).seed(1).start())
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT as usize)
        .build()
        .unwrap();
    let base: Arc<str> = Arc::from(sb.base_url());

    let mut g = c.benchmark_group("sandbox_load");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    for (name, route) in [("ping", Route::Ping), ("token", Route::Token)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        batch(&client, &base, route).await;
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
    // The journal stayed a ring and every token request was counted.
    assert!(sb.journal().len() <= 1_000);
    assert!(sb.count("POST /__demo/oauth/token") > 0);
    rt.block_on(sb.shutdown());
}

criterion_group!(benches, sandbox_load);
criterion_main!(benches);
