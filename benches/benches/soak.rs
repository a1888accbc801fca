//! Soak: the in-process sandbox and clients of all five platforms under sustained load, with
//! token lifetimes shortened to seconds so that the `TokenManager`s refresh all the time.
//!
//! * The sandbox (all five modules, its own two-worker runtime) gives access tokens (Tianyi,
//!   tf56, iLab) and auth codes (Zhiyun) a lifetime of `--ttl` seconds (default 10) through its
//!   lifetime overrides, and forgets expired tokens after 30 s (so its registry stays bounded).
//! * Per platform and transport, `--workers` (default 2) blocking threads share one blocking
//!   `TokenManager`, and as many tokio tasks (on a two-worker client runtime) share one async
//!   `TokenManager`; each does the platform's real business call through `call_with_token`
//!   (Tianyi `getReginWithGroupList` as a platform app, Zhiyun `getUserInfo`, tf56 `sayHello`
//!   with client credentials, iLab score upload) in a loop, pausing `--pause-ms` (default 10)
//!   between calls. The device platform has no token lifecycle: its workers provision and
//!   authenticate (`/device/provision`, `/auth/devicename`) in the same loop.
//! * iLab allows two refreshes per ticket (the platform's rule, kept by `IlabTokens`): when a
//!   source has used both, its workers hand it a new ticket (the user clicking 我要做实验 again),
//!   which the next renewal redeems. Renewals are counted whichever way they go.
//!
//! # Expected upstream token requests
//! The default `RefreshPolicy` (margin 300 s, fraction 0.8, floor 0.5, jitter 0.1, headroom 2 s)
//! refreshes a token whose lifetime `T` is shorter than the margin at
//! `issued + floor × T × (1 − jitter × u)`, `u` uniform in [0, 1) drawn per token: between 0.45 T
//! and 0.5 T after it was received, 0.475 T on average. Under constant load a call arrives
//! within a pause of that moment, and the calling worker refreshes (the others are served the
//! still-valid token), so one manager makes `1 + D / (0.475 T)` token requests in `D` seconds
//! (the 1 is the first grant), at least `1 + floor(D / (0.5 T + slack))` and at most
//! `1 + ceil(D / (0.45 T))`. `T` is the lifetime the client sees (`expires_in`; iLab answers one
//! second less than the registry's lifetime), measured from the first token.
//!
//! Resident memory (`VmRSS` of `/proc/self/status`) is sampled at the start (after the first
//! tokens), every 30 s and at the end.
//!
//! Progress goes to stderr; the result is ONE line of JSON on stdout:
//!
//! ```text
//! {"duration_s":f,"ttl_s":n,"workers":n,"pause_ms":n,"requests_served":n,"errors":n,
//!  "platforms":{"tianyi":{"calls":n,"errors":n,"token_requests":n,"expected":{"min":n,"mean":f,"max":n},"client_ttl_s":f,"managers":2,"first_errors":[..]},...},
//!  "rss_kb":[{"t_s":f,"kb":n},...],"rss_start_kb":n,"rss_end_kb":n,"ok":bool}
//! ```
//!
//! It exits nonzero when a call failed or a platform's token requests fall outside the expected
//! range. `cargo bench -p kaifang-benches --bench soak -- --minutes N` (default 5; fractions
//! allowed); `cargo xtask soak` runs it and writes `target/soak/report.json`.

// A measurement program, not library code: a failed setup ends it with an error.
#![allow(missing_docs)]

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kaifang_proto_core::lifecycle::RefreshPolicy;
use kaifang_proto_core::secret::AccessToken;
use kaifang_proto_core::token::Token;
use kaifang_proto_ilab::upload::{DataUpload, Status, StepRecord};
use kaifang_proto_ilab::{DataUploadRequest, Ilab, IlabConfig, IlabTokens, Ticket};
use kaifang_proto_tf56::{Tf56, Tf56Config, Tf56Tokens};
use kaifang_proto_tianyi::{Tianyi, TianyiConfig, TianyiTokens};
use kaifang_proto_zhiyun::{Zhiyun, ZhiyunAuthCodes, ZhiyunConfig};
use kaifang_sandbox::platforms::{device as sdev, ilab as silab, tianyi as sty};
use kaifang_sandbox::{BlockingSandbox, Sandbox};
use kaifang_transport_async::{AsyncClient, TokenManager as AsyncTokens};
use kaifang_transport_blocking::{BlockingClient, TokenManager as BlockingTokens, TransportConfig};
use serde_json::{Value, json};

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

const PLATFORMS: [&str; 5] = ["tianyi", "zhiyun", "device", "tf56", "ilab"];
/// How often resident memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(30);
/// How long the sandbox keeps an expired token before forgetting it.
const RETENTION: Duration = Duration::from_secs(30);

struct Options {
    duration: Duration,
    ttl: u64,
    workers: usize,
    pause: Duration,
}

fn options() -> Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<&str> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let minutes: f64 = value("--minutes").map_or(Ok(5.0), str::parse)?;
    if !(minutes > 0.0 && minutes <= 24.0 * 60.0) {
        return Err(format!("--minutes {minutes}: want more than 0, at most a day").into());
    }
    let ttl: u64 = value("--ttl").map_or(Ok(10), str::parse)?;
    if !(4..=3600).contains(&ttl) {
        return Err(format!("--ttl {ttl}: want 4..=3600 seconds").into());
    }
    let workers: usize = value("--workers").map_or(Ok(2), str::parse)?;
    let pause: u64 = value("--pause-ms").map_or(Ok(10), str::parse)?;
    Ok(Options {
        duration: Duration::from_secs_f64(minutes * 60.0),
        ttl,
        workers: workers.max(1),
        pause: Duration::from_millis(pause),
    })
}

/// `VmRSS` of this process in kB (0 where there is no `/proc`).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One platform's counts.
#[derive(Default)]
struct Stats {
    calls: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    /// The lifetime of the first token the client saw, in ms (0: none yet).
    client_ttl_ms: AtomicU64,
}

impl Stats {
    fn record<T>(&self, what: &str, r: Result<T, kaifang_proto_core::Error>) {
        match r {
            Ok(_) => {
                self.calls.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self
                    .first_errors
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if first.len() < 10 {
                    eprintln!("soak: {what}: {e}");
                    first.push(format!("{what}: {e}"));
                }
            }
        }
    }

    fn saw(&self, t: &Token) {
        let ms = u64::try_from(t.ttl().as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .client_ttl_ms
            .compare_exchange(0, ms, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Everything the workers share.
struct Shared {
    sb: BlockingSandbox,
    stop: AtomicBool,
    stats: Vec<(&'static str, Stats)>,
    pause: Duration,
}

impl Shared {
    // Called with the names of `PLATFORMS` only.
    #[allow(clippy::expect_used)]
    fn stats(&self, platform: &str) -> &Stats {
        &self
            .stats
            .iter()
            .find(|(p, _)| *p == platform)
            .expect("a known platform")
            .1
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

fn sandbox(ttl: u64) -> Result<BlockingSandbox> {
    // The default tenants of every platform.
    let sb = Sandbox::builder()
        .all_platforms()
        .seed(5005)
        .token_retention(RETENTION)
        .start_blocking()?;
    let ttl = Some(Duration::from_secs(ttl));
    for (platform, kind) in [
        ("tianyi", sty::ACCESS_TOKEN),
        ("zhiyun", "auth_code"),
        ("tf56", "access_token"),
        ("ilab", silab::KIND_ACCESS),
    ] {
        sb.set_token_lifetime(platform, kind, ttl)?;
    }
    Ok(sb)
}

/// The token endpoints of `platform`, as counter keys' paths.
fn token_paths(platform: &str) -> &'static [&'static str] {
    match platform {
        "tianyi" => &[sty::ACCESS_TOKEN_PATH],
        "zhiyun" => &["/apis/rest/authService/authorize/json"],
        "tf56" => &["/openGateway/oauth/token"],
        "ilab" => &["/oauth/token/accesstoken", "/oauth/token/refreshtoken"],
        _ => &[],
    }
}

fn token_requests(sb: &BlockingSandbox, platform: &str) -> u64 {
    let paths = token_paths(platform);
    sb.counters()
        .iter()
        .filter(|(k, _)| {
            k.split_once(' ')
                .is_some_and(|(_, path)| paths.contains(&path))
        })
        .map(|(_, v)| *v)
        .sum()
}

fn config() -> TransportConfig {
    TransportConfig::default()
}

// ---------------------------------------------------------------------------------------------
// the platforms' apps and sources

fn tianyi_app(base: &str) -> Result<Tianyi> {
    Ok(Tianyi::new(
        TianyiConfig::new(sty::PLATFORM_APP_ID, sty::PLATFORM_APP_SECRET)
            .platform(sty::PLATFORM_ENTERPRISE_USER)
            .base_url(base),
    )?)
}

fn zhiyun_app(base: &str, ttl: u64) -> Result<Zhiyun> {
    use kaifang_proto_zhiyun::server::tenant;
    Ok(Zhiyun::new(
        ZhiyunConfig::new(
            base,
            tenant::CLIENT_ID,
            tenant::CLIENT_SECRET,
            tenant::ACCESS_TOKENS[0],
        )
        .auth_code_ttl(Duration::from_secs(ttl)),
    )?)
}

fn tf56_app(base: &str) -> Result<Tf56> {
    use kaifang_proto_tf56::server::{PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET};
    Ok(Tf56::new(
        Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET).base_url(base),
    )?)
}

fn ilab_app(base: &str) -> Result<Ilab> {
    Ok(Ilab::new(IlabConfig::new(
        base,
        silab::SEED_APPID,
        silab::SEED_SECRET,
    ))?)
}

fn ticket(sb: &BlockingSandbox) -> Result<Ticket> {
    let v = sb.mint("ilab", "ticket", json!({"appid": silab::SEED_APPID}))?;
    let raw = v["ticket_encoded"]
        .as_str()
        .ok_or("the sandbox minted no ticket")?;
    Ok(Ticket::new(raw)?)
}

/// An iLab source with its ticket bookkeeping: a new ticket once both refreshes are used.
struct IlabUser {
    source: Arc<IlabTokens>,
    supplied: AtomicBool,
}

impl IlabUser {
    fn new(sb: &BlockingSandbox, app: &Ilab) -> Result<Self> {
        Ok(IlabUser {
            source: Arc::new(IlabTokens::new(app, ticket(sb)?)),
            supplied: AtomicBool::new(false),
        })
    }

    /// The user clicks 我要做实验 again when the platform's refresh rules are exhausted.
    fn top_up(&self, sb: &BlockingSandbox, stats: &Stats) {
        use kaifang_proto_ilab::auth::MAX_REFRESHES;
        if self.source.refreshes_used() < MAX_REFRESHES {
            self.supplied.store(false, Ordering::Relaxed);
        } else if self
            .supplied
            .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            match ticket(sb) {
                Ok(t) => self.source.supply_ticket(t),
                Err(e) => stats.record::<()>(
                    "ilab ticket",
                    Err(kaifang_proto_core::Error::Config(e.to_string())),
                ),
            }
        }
    }
}

fn score_record(un: &str, worker: &str) -> Result<DataUpload> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(
        DataUpload::builder(un, "电路虚拟仿真实验", format!("soak-{worker}-{now}"))
            .status(Status::Completed)
            .score(90)
            .times(now - 600_000, now)
            .step(
                StepRecord::builder("实验操作")
                    .times(now - 600_000, now)
                    .max_score(100)
                    .score(90),
            )
            .build()?,
    )
}

// ---------------------------------------------------------------------------------------------
// blocking workers

fn blocking_workers(
    shared: &Arc<Shared>,
    ttl: u64,
    workers: usize,
) -> Result<Vec<std::thread::JoinHandle<()>>> {
    let base = shared.sb.base_url().to_owned();
    let client = Arc::new(BlockingClient::new(config())?);
    let mut handles = Vec::new();
    let mut spawn = |name: String, f: Box<dyn FnOnce() + Send>| -> Result<()> {
        handles.push(std::thread::Builder::new().name(name).spawn(f)?);
        Ok(())
    };

    // One manager per platform, shared by that platform's workers.
    let tianyi = Arc::new((
        tianyi_app(&base)?,
        Arc::new(BlockingTokens::new(Arc::clone(&client))),
    ));
    let source = Arc::new(TianyiTokens::new(&tianyi.0));
    let zhiyun = Arc::new((
        zhiyun_app(&base, ttl)?,
        Arc::new(BlockingTokens::new(Arc::clone(&client))),
    ));
    let zsource = Arc::new(ZhiyunAuthCodes::new(&zhiyun.0));
    let tf56 = Arc::new((
        tf56_app(&base)?,
        Arc::new(BlockingTokens::new(Arc::clone(&client))),
    ));
    let tsource = Arc::new(Tf56Tokens::client_credentials(&tf56.0));
    let ilab = Arc::new((
        ilab_app(&base)?,
        Arc::new(BlockingTokens::new(Arc::clone(&client))),
    ));
    let user = Arc::new(IlabUser::new(&shared.sb, &ilab.0)?);
    // The first tokens (and the lifetime the client sees).
    shared.stats("tianyi").saw(&*tianyi.1.token(&*source)?);
    shared.stats("zhiyun").saw(&*zhiyun.1.token(&*zsource)?);
    shared.stats("tf56").saw(&*tf56.1.token(&*tsource)?);
    let first = ilab.1.token(&*user.source)?;
    shared.stats("ilab").saw(&first);
    let un = first.extra["un"].as_str().unwrap_or_default().to_owned();

    for w in 0..workers {
        let (s, t, src) = (Arc::clone(shared), Arc::clone(&tianyi), Arc::clone(&source));
        spawn(
            format!("soak-tianyi-{w}"),
            Box::new(move || {
                let stats = s.stats("tianyi");
                while s.running() {
                    stats.record(
                        "tianyi blocking",
                        t.1.try_call_with_token(&*src, |tk| t.0.regions(&tk.access, "")),
                    );
                    std::thread::sleep(s.pause);
                }
            }),
        )?;
        let (s, z, src) = (
            Arc::clone(shared),
            Arc::clone(&zhiyun),
            Arc::clone(&zsource),
        );
        spawn(
            format!("soak-zhiyun-{w}"),
            Box::new(move || {
                let stats = s.stats("zhiyun");
                while s.running() {
                    stats.record(
                        "zhiyun blocking",
                        z.1.call_with_token(&*src, |tk| z.0.user_info(&tk.access)),
                    );
                    std::thread::sleep(s.pause);
                }
            }),
        )?;
        let (s, t, src) = (Arc::clone(shared), Arc::clone(&tf56), Arc::clone(&tsource));
        spawn(
            format!("soak-tf56-{w}"),
            Box::new(move || {
                let stats = s.stats("tf56");
                while s.running() {
                    stats.record(
                        "tf56 blocking",
                        t.1.call_with_token(&*src, |tk| {
                            t.0.say_hello(&AccessToken::from(tk.access.clone()))
                        }),
                    );
                    std::thread::sleep(s.pause);
                }
            }),
        )?;
        let (s, i, u) = (Arc::clone(shared), Arc::clone(&ilab), Arc::clone(&user));
        let record = score_record(&un, &format!("blocking-{w}"))?;
        spawn(
            format!("soak-ilab-{w}"),
            Box::new(move || {
                let stats = s.stats("ilab");
                while s.running() {
                    u.top_up(&s.sb, stats);
                    stats.record(
                        "ilab blocking",
                        i.1.call_with_token(&*u.source, |tk| {
                            DataUploadRequest::new(&i.0, &tk.access, &record)
                        }),
                    );
                    std::thread::sleep(s.pause);
                }
            }),
        )?;
        let (s, c, b) = (Arc::clone(shared), Arc::clone(&client), base.clone());
        spawn(
            format!("soak-device-{w}"),
            Box::new(move || {
                let stats = s.stats("device");
                let url = format!("{b}{}", sdev::PROVISION_PATH);
                while s.running() {
                    stats.record("device blocking", device_round_blocking(&c, &url, &b));
                    std::thread::sleep(s.pause);
                }
            }),
        )?;
    }
    Ok(handles)
}

fn provision_request() -> Result<kaifang_proto_device::ProvisionRequest, kaifang_proto_core::Error>
{
    kaifang_proto_device::ProvisionRequest::new()
        .imei(sdev::DEVICE_IMEI)
        .map_err(|e| kaifang_proto_core::Error::Config(e.to_string()))
}

fn device_round_blocking(
    c: &BlockingClient,
    url: &str,
    base: &str,
) -> Result<(), kaifang_proto_core::Error> {
    use kaifang_proto_device::exchange::{Authenticate, Provision};
    let config = c.execute(&Provision::new(url, provision_request()?))?;
    c.execute(&Authenticate::new(base, config, sdev::DEVICE_IMEI))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// async workers

async fn device_round_async(
    c: &AsyncClient,
    url: &str,
    base: &str,
) -> Result<(), kaifang_proto_core::Error> {
    use kaifang_proto_device::exchange::{Authenticate, Provision};
    let config = c
        .execute(&Provision::new(url, provision_request()?))
        .await?;
    c.execute(&Authenticate::new(base, config, sdev::DEVICE_IMEI))
        .await?;
    Ok(())
}

fn async_workers(
    rt: &tokio::runtime::Runtime,
    shared: &Arc<Shared>,
    ttl: u64,
    workers: usize,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let base = shared.sb.base_url().to_owned();
    let client = Arc::new(AsyncClient::new(config())?);
    let manager = || AsyncTokens::new(Arc::clone(&client));
    let tianyi = Arc::new((tianyi_app(&base)?, manager()));
    let source = Arc::new(TianyiTokens::new(&tianyi.0));
    let zhiyun = Arc::new((zhiyun_app(&base, ttl)?, manager()));
    let zsource = Arc::new(ZhiyunAuthCodes::new(&zhiyun.0));
    let tf56 = Arc::new((tf56_app(&base)?, manager()));
    let tsource = Arc::new(Tf56Tokens::client_credentials(&tf56.0));
    let ilab = Arc::new((ilab_app(&base)?, manager()));
    let user = Arc::new(IlabUser::new(&shared.sb, &ilab.0)?);
    let un = rt.block_on(async {
        shared.stats("tianyi").saw(&*tianyi.1.token(&source).await?);
        shared
            .stats("zhiyun")
            .saw(&*zhiyun.1.token(&zsource).await?);
        shared.stats("tf56").saw(&*tf56.1.token(&tsource).await?);
        let first = ilab.1.token(&user.source).await?;
        Ok::<_, kaifang_proto_core::Error>(
            first.extra["un"].as_str().unwrap_or_default().to_owned(),
        )
    })?;

    let mut handles = Vec::new();
    for w in 0..workers {
        let (s, t, src) = (Arc::clone(shared), Arc::clone(&tianyi), Arc::clone(&source));
        handles.push(rt.spawn(async move {
            let stats = s.stats("tianyi");
            while s.running() {
                let r =
                    t.1.try_call_with_token(&src, |tk| t.0.regions(&tk.access, ""))
                        .await;
                stats.record("tianyi async", r);
                tokio::time::sleep(s.pause).await;
            }
        }));
        let (s, z, src) = (
            Arc::clone(shared),
            Arc::clone(&zhiyun),
            Arc::clone(&zsource),
        );
        handles.push(rt.spawn(async move {
            let stats = s.stats("zhiyun");
            while s.running() {
                let r =
                    z.1.call_with_token(&src, |tk| z.0.user_info(&tk.access))
                        .await;
                stats.record("zhiyun async", r);
                tokio::time::sleep(s.pause).await;
            }
        }));
        let (s, t, src) = (Arc::clone(shared), Arc::clone(&tf56), Arc::clone(&tsource));
        handles.push(rt.spawn(async move {
            let stats = s.stats("tf56");
            while s.running() {
                let r =
                    t.1.call_with_token(&src, |tk| {
                        t.0.say_hello(&AccessToken::from(tk.access.clone()))
                    })
                    .await;
                stats.record("tf56 async", r);
                tokio::time::sleep(s.pause).await;
            }
        }));
        let (s, i, u) = (Arc::clone(shared), Arc::clone(&ilab), Arc::clone(&user));
        let record = score_record(&un, &format!("async-{w}"))?;
        handles.push(rt.spawn(async move {
            let stats = s.stats("ilab");
            while s.running() {
                u.top_up(&s.sb, stats);
                let r =
                    i.1.call_with_token(&u.source, |tk| {
                        DataUploadRequest::new(&i.0, &tk.access, &record)
                    })
                    .await;
                stats.record("ilab async", r);
                tokio::time::sleep(s.pause).await;
            }
        }));
        let (s, c, b) = (Arc::clone(shared), Arc::clone(&client), base.clone());
        handles.push(rt.spawn(async move {
            let stats = s.stats("device");
            let url = format!("{b}{}", sdev::PROVISION_PATH);
            while s.running() {
                stats.record("device async", device_round_async(&c, &url, &b).await);
                tokio::time::sleep(s.pause).await;
            }
        }));
    }
    Ok(handles)
}

// ---------------------------------------------------------------------------------------------
// expectations and the report

/// Expected token requests of `managers` managers over `d` with client-side lifetime `ttl`
/// under the default policy (see the module docs): (min, mean, max).
fn expected(policy: &RefreshPolicy, ttl: Duration, d: Duration, managers: u64) -> (u64, f64, u64) {
    let t = ttl.as_secs_f64();
    let lead = policy.floor * t; // the margin exceeds these lifetimes: the floor decides
    let earliest = lead * (1.0 - policy.jitter);
    let mean_interval = lead * (1.0 - policy.jitter / 2.0);
    let d = d.as_secs_f64();
    // Slack on the late side: the pause before the next call and the refresh's round trip.
    let latest = lead + 0.25;
    let min = managers * (1 + (d / latest).floor() as u64);
    let max = managers * (1 + (d / earliest).ceil() as u64);
    let mean = managers as f64 * (1.0 + d / mean_interval);
    (min, mean, max)
}

fn main() -> Result<()> {
    let o = options()?;
    eprintln!(
        "soak: {:.1} min, token lifetime {} s, {} worker(s) per platform and transport, {} ms pause",
        o.duration.as_secs_f64() / 60.0,
        o.ttl,
        o.workers,
        o.pause.as_millis()
    );
    let sb = sandbox(o.ttl)?;
    let shared = Arc::new(Shared {
        sb,
        stop: AtomicBool::new(false),
        stats: PLATFORMS.iter().map(|p| (*p, Stats::default())).collect(),
        pause: o.pause,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // The first grants happen while the workers are set up; the clock starts after them.
    let threads = blocking_workers(&shared, o.ttl, o.workers)?;
    let tasks = async_workers(&rt, &shared, o.ttl, o.workers)?;
    let start = Instant::now();
    let start_tokens: Vec<u64> = PLATFORMS
        .iter()
        .map(|p| token_requests(&shared.sb, p))
        .collect();
    let mut rss = vec![(0.0, rss_kb())];
    eprintln!("soak: started, VmRSS {} kB", rss[0].1);

    let deadline = start + o.duration;
    let mut next = start + SAMPLE_EVERY;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(next.min(deadline) - now);
        if Instant::now() >= next {
            let t = start.elapsed().as_secs_f64();
            let kb = rss_kb();
            rss.push((t, kb));
            let calls: u64 = shared
                .stats
                .iter()
                .map(|(_, s)| s.calls.load(Ordering::Relaxed))
                .sum();
            let errors: u64 = shared
                .stats
                .iter()
                .map(|(_, s)| s.errors.load(Ordering::Relaxed))
                .sum();
            eprintln!("soak: {t:>6.0} s  {calls} calls  {errors} errors  VmRSS {kb} kB");
            next += SAMPLE_EVERY;
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    for h in threads {
        h.join().map_err(|_| "a soak worker panicked")?;
    }
    rt.block_on(async {
        for t in tasks {
            t.await?;
        }
        Ok::<_, tokio::task::JoinError>(())
    })?;
    let elapsed = start.elapsed();
    rss.push((elapsed.as_secs_f64(), rss_kb()));

    let policy = RefreshPolicy::default();
    let mut platforms = serde_json::Map::new();
    let mut ok = true;
    let mut total_errors = 0;
    for (i, (name, stats)) in shared.stats.iter().enumerate() {
        let errors = stats.errors.load(Ordering::Relaxed);
        total_errors += errors;
        ok &= errors == 0;
        let mut v = json!({
            "calls": stats.calls.load(Ordering::Relaxed),
            "errors": errors,
            "first_errors": *stats.first_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        });
        if !token_paths(name).is_empty() {
            let ttl = Duration::from_millis(stats.client_ttl_ms.load(Ordering::Relaxed));
            // The first grant of each of the two managers came before the clock started.
            let during = token_requests(&shared.sb, name) - start_tokens[i];
            let (min, mean, max) = expected(&policy, ttl, elapsed, 2);
            let total = during + 2;
            let within = (min..=max).contains(&total);
            ok &= within;
            v["token_requests"] = json!(total);
            v["refreshes"] = json!(during);
            v["managers"] = json!(2);
            v["client_ttl_s"] = json!(ttl.as_secs_f64());
            v["expected"] = json!({"min": min, "mean": (mean * 10.0).round() / 10.0, "max": max});
            v["within_expected"] = json!(within);
        }
        platforms.insert((*name).to_owned(), v);
    }
    let served: u64 = shared.sb.counters().values().sum();
    let start_kb = rss.first().map_or(0, |r| r.1);
    let end_kb = rss.last().map_or(0, |r| r.1);
    let report = json!({
        "duration_s": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
        "ttl_s": o.ttl,
        "workers": o.workers,
        "pause_ms": u64::try_from(o.pause.as_millis()).unwrap_or(u64::MAX),
        "policy": {"margin_s": policy.margin.as_secs_f64(), "fraction": policy.fraction, "floor": policy.floor, "jitter": policy.jitter, "headroom_s": policy.headroom.as_secs_f64()},
        "requests_served": served,
        "errors": total_errors,
        "platforms": Value::Object(platforms),
        "rss_kb": rss.iter().map(|(t, kb)| json!({"t_s": (t * 10.0).round() / 10.0, "kb": kb})).collect::<Vec<_>>(),
        "rss_start_kb": start_kb,
        "rss_end_kb": end_kb,
        "ok": ok,
    });
    println!("{report}");
    drop(rt);
    if ok {
        Ok(())
    } else {
        Err("soak: errors, or token requests outside the expected range (see the JSON)".into())
    }
}
