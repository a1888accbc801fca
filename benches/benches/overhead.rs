//! Transport overhead on loopback, measured interleaved: in one process, per transport,
//! batches of kaifang's client executing a minimal exchange (`GET /api?x=1`, the whole response
//! returned: transports.rs's `exchange_loopback` group) alternate with batches of the bare
//! client doing the same GET against the same loopback server with keep-alive, for R rounds.
//! Alternating cancels the drift of a noisy VM that separate runs would fold into the
//! comparison; the order inside a round flips every round.
//!
//! * blocking: `BlockingClient` vs its own ureq agent used bare (`bare`: the same timeouts, TLS
//!   and resolver, so the difference is kaifang's per-request work), vs a stock ureq agent with
//!   the same timeouts (`bare_same_timeouts`: ureq's stock resolver spawns a thread per request
//!   for them) and vs ureq with its defaults (`bare_default`: no timeouts at all, so no
//!   per-read `setsockopt` for a shrinking deadline either);
//! * async: `AsyncClient` vs a reqwest client built like the transport's
//!   (`reqwest_builder()`, same timeouts, no redirects, no proxy); both `block_on` the same
//!   runtime per request.
//!
//! Per round: µs/request of each; reported: the medians over rounds and the median of the
//! per-round ratios kaifang / bare. ONE line of JSON on stdout:
//!
//! ```text
//! {"rounds":R,"batch":B,"blocking":{"kaifang_us":f,"bare_us":f,"ratio_median":f,
//!   "bare_same_timeouts_us":f,"bare_default_us":f,"ratio_default_median":f},
//!   "async":{"kaifang_us":f,"bare_us":f,"ratio_median":f}}
//! ```
//!
//! `cargo bench -p kaifang-benches --bench overhead [-- --quick]`

// A measurement program, not library code: failures end it with an error (nonzero exit).
#![allow(missing_docs)]

use std::error::Error;
use std::hint::black_box;
use std::io::Read;
use std::time::{Duration, Instant};

use kaifang_test_support::exchanges::Raw;
use kaifang_test_support::{Reply, TestServer, runtime};
use kaifang_transport_async::AsyncClient;
use kaifang_transport_blocking::{BlockingClient, TransportConfig};

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

const BATCH: usize = 200;

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

/// Runs `op` `BATCH` times; µs per call.
fn batch(op: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..BATCH {
        op()?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / BATCH as f64)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Interleaves the contenders for `rounds` rounds (order rotating each round); per contender
/// the µs/request of every round.
fn interleave(
    rounds: usize,
    contenders: &mut [&mut dyn FnMut() -> Result<()>],
) -> Result<Vec<Vec<f64>>> {
    // Warm-up: connections open, pools filled, code paged in.
    for op in contenders.iter_mut() {
        batch(*op)?;
    }
    let n = contenders.len();
    let mut out = vec![Vec::with_capacity(rounds); n];
    for r in 0..rounds {
        for k in 0..n {
            let i = (r + k) % n;
            out[i].push(batch(contenders[i])?);
        }
    }
    Ok(out)
}

fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; anything but `--quick` is ignored.
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 8 } else { 30 };

    let srv = server();
    let url = srv.url("/api?x=1");
    let raw = Raw(url.clone());

    // blocking
    let client = BlockingClient::new(config())?;
    let same_timeouts = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    );
    let defaults = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build(),
    );
    let ureq_get = |agent: &ureq::Agent| -> Result<()> {
        let mut resp = agent.get(&url).call()?;
        let mut body = Vec::new();
        resp.body_mut().as_reader().read_to_end(&mut body)?;
        black_box(body);
        Ok(())
    };
    let mut k = || -> Result<()> {
        black_box(client.execute(&raw)?);
        Ok(())
    };
    let own_agent = client.agent().clone();
    let mut a = || ureq_get(&own_agent);
    let mut b = || ureq_get(&same_timeouts);
    let mut d = || ureq_get(&defaults);
    let blocking = interleave(rounds, &mut [&mut k, &mut a, &mut b, &mut d])?;
    eprintln!(
        "overhead blocking: kaifang {:.1} µs, its agent bare {:.1} µs, ureq same timeouts {:.1} µs, ureq defaults {:.1} µs",
        median(&blocking[0]),
        median(&blocking[1]),
        median(&blocking[2]),
        median(&blocking[3])
    );

    // async
    let aclient = AsyncClient::new(config())?;
    let bare = kaifang_transport_async::reqwest_builder()?
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?;
    let mut ak = || -> Result<()> {
        black_box(runtime().block_on(aclient.execute(&raw))?);
        Ok(())
    };
    let mut ab = || -> Result<()> {
        black_box(runtime().block_on(async { bare.get(&url).send().await?.bytes().await })?);
        Ok(())
    };
    let asynch = interleave(rounds, &mut [&mut ak, &mut ab])?;
    eprintln!(
        "overhead async: kaifang {:.1} µs, reqwest {:.1} µs",
        median(&asynch[0]),
        median(&asynch[1])
    );

    println!(
        r#"{{"rounds":{rounds},"batch":{BATCH},"blocking":{{"kaifang_us":{:.2},"bare_us":{:.2},"ratio_median":{:.3},"bare_same_timeouts_us":{:.2},"bare_default_us":{:.2},"ratio_default_median":{:.3}}},"async":{{"kaifang_us":{:.2},"bare_us":{:.2},"ratio_median":{:.3}}}}}"#,
        median(&blocking[0]),
        median(&blocking[1]),
        median(&ratios(&blocking[0], &blocking[1])),
        median(&blocking[2]),
        median(&blocking[3]),
        median(&ratios(&blocking[0], &blocking[3])),
        median(&asynch[0]),
        median(&asynch[1]),
        median(&ratios(&asynch[0], &asynch[1])),
    );
    Ok(())
}
