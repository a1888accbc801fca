//! The fault matrix (issue 12): every platform, through BOTH transports, against the sandbox with
//! each fault of [`CELLS`] injected, and the outcome of every cell asserted exactly.
//!
//! The grid is data: [`MATRIX`] holds one [`Row`] per platform × cell with the expected
//! [`Outcome`] of each transport (recovered, a typed error, or "n/a" with the reason). One runner
//! per transport ([`run_blocking`], [`run_async`]) plays a row and returns what it
//! [`Observed`]; the tests compare it with the table. `docs/fault-matrix.md` carries the table
//! rendered by [`render_matrix`] between markers, checked by `doc_is_the_rendered_matrix`
//! (`KAIFANG_BLESS=1` rewrites it).
//!
//! What every row asserts:
//! * the result: success, or the exact `Error` variant (kind, status, `Retry-After`, platform
//!   code and class);
//! * the upstream calls it cost, from the sandbox's exact counters (API calls and token-endpoint
//!   calls, counted from the moment the fault is armed);
//! * the token cache: after a typed error the manager's `cached()` token is the one it had
//!   before (same fingerprint: no valid token thrown away); after a recovery, whether it was
//!   renewed;
//! * after a transient fault (latency … dropped connection), the next call succeeds with the
//!   same cached token and no token request;
//! * no panic and no hang: each row runs on its own thread under [`ROW_DEADLINE`], with a
//!   client total timeout of [`CLIENT_TIMEOUT`].
//!
//! Clocks: the clients read the sandbox clock plus a client-side skew (normally 0), so moving
//! the sandbox clock moves both sides (as a real client's clock and a real server's move
//! together), while the skew cells move only the server: the sandbox runs 10 minutes ahead of
//! (or behind) the client. Skew learning from `Date` is off (hyper's `Date` is the real time,
//! not the sandbox clock).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use kaifang_e2e::runtime;
use kaifang_proto_core::context::{Clock, Context, OsNonce, from_unix_millis};
use kaifang_proto_core::error::TransportErrorKind;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::lifecycle::{RefreshPolicy, TokenSource};
use kaifang_proto_core::secret::{AccessToken, SecretString};
use kaifang_proto_core::token::{Fingerprint, Token};
use kaifang_proto_core::transport::TransportConfig;
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_device::ProvisionRequest;
use kaifang_proto_device::exchange::Provision;
use kaifang_proto_ilab::upload::{DataUpload, Status, StepRecord};
use kaifang_proto_ilab::{AccessTokenRequest, DataUploadRequest, Ilab, IlabConfig, IlabTokens};
use kaifang_proto_tf56::server::{
    CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, CODE_CLIENT_SECRET, DEMO_PASSWORD, DEMO_USERNAME,
    PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET,
};
use kaifang_proto_tf56::{ClientAuth, Tf56, Tf56Config, Tf56Tokens, TokenRequest};
use kaifang_proto_tianyi::{GetAccessToken, Tianyi, TianyiConfig, TianyiTokens};
use kaifang_proto_zhiyun::{Zhiyun, ZhiyunAuthCodes, ZhiyunConfig};
use kaifang_sandbox::platforms::device::{self as dm, DeviceModule};
use kaifang_sandbox::platforms::ilab::{IlabModule, SEED_APPID, SEED_SECRET, SEED_USER};
use kaifang_sandbox::platforms::tf56::Tf56Module;
use kaifang_sandbox::platforms::tianyi::{
    ACCESS_TOKEN_PATH, PLATFORM_APP_ID, PLATFORM_APP_SECRET, PLATFORM_ENTERPRISE_USER, SEED_APP_ID,
    SEED_APP_SECRET, TianyiModule,
};
use kaifang_sandbox::platforms::zhiyun::ZhiyunModule;
use kaifang_sandbox::{FaultAction, FaultSpec, Sandbox, SandboxHandle};
use kaifang_transport_async::{AsyncClient, TokenManager as AsyncTokens};
use kaifang_transport_blocking::{BlockingClient, TokenManager as BlockingTokens};
use serde_json::json;

/// The clients' total (and connect) timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// The injected latency of the timeout cell: beyond [`CLIENT_TIMEOUT`].
const FAULT_LATENCY: Duration = Duration::from_millis(2500);
/// The most one row may take, set-up and follow-up call included.
const ROW_DEADLINE: Duration = Duration::from_secs(20);
/// The server clock's offset in the skew cells: 10 minutes and one second. Tianyi and Zhiyun
/// accept a signed time within 600 s of their clock, bounds included; at exactly 600 s the
/// outcome would depend on the millisecond the request lands, so the cells sit one second past
/// the edge.
const SKEW_MS: i64 = 10 * 60 * 1000 + 1000;
/// The `Retry-After` of the cells that send one, seconds.
const RETRY_AFTER_SECS: u64 = 7;

// ---------------------------------------------------------------------------------------------
// The grid as data.

/// The five platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Tianyi,
    Zhiyun,
    Device,
    Tf56,
    Ilab,
}

const PLATFORMS: [Platform; 5] = [
    Platform::Tianyi,
    Platform::Zhiyun,
    Platform::Device,
    Platform::Tf56,
    Platform::Ilab,
];

impl Platform {
    fn name(self) -> &'static str {
        match self {
            Platform::Tianyi => "tianyi",
            Platform::Zhiyun => "zhiyun",
            Platform::Device => "device",
            Platform::Tf56 => "tf56",
            Platform::Ilab => "ilab",
        }
    }

    /// The call the cells are played on.
    fn subject(self) -> &'static str {
        match self {
            Platform::Tianyi => {
                "`getReginWithGroupList` with the platform app's token (`vcp_189`, refresh token)"
            }
            Platform::Zhiyun => "`getUserInfo` with the cached `auth_code` (`ZhiyunAuthCodes`)",
            Platform::Device => "`POST /device/provision` (no token)",
            Platform::Tf56 => "`sayHello` with a `password`-grant token (refresh token)",
            Platform::Ilab => "`data_upload` with the ticket's token (refresh token)",
        }
    }
}

/// The faults (columns of the issue): one cell each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Latency,
    Status500,
    Status502,
    Status502RetryAfter,
    Status503,
    Status503RetryAfter,
    Malformed,
    Truncated,
    Dropped,
    Revoked,
    ClockAhead,
    ClockBehind,
    RefreshExpired,
    CodeReplay,
}

const CELLS: [Cell; 14] = [
    Cell::Latency,
    Cell::Status500,
    Cell::Status502,
    Cell::Status502RetryAfter,
    Cell::Status503,
    Cell::Status503RetryAfter,
    Cell::Malformed,
    Cell::Truncated,
    Cell::Dropped,
    Cell::Revoked,
    Cell::ClockAhead,
    Cell::ClockBehind,
    Cell::RefreshExpired,
    Cell::CodeReplay,
];

impl Cell {
    fn label(self) -> &'static str {
        match self {
            Cell::Latency => "latency 2.5 s > client timeout 2 s",
            Cell::Status500 => "HTTP 500",
            Cell::Status502 => "HTTP 502",
            Cell::Status502RetryAfter => "HTTP 502 + `Retry-After: 7`",
            Cell::Status503 => "HTTP 503",
            Cell::Status503RetryAfter => "HTTP 503 + `Retry-After: 7`",
            Cell::Malformed => "malformed JSON (status kept)",
            Cell::Truncated => "truncated body",
            Cell::Dropped => "connection reset (dropped)",
            Cell::Revoked => "token revoked between calls",
            Cell::ClockAhead => "server clock +10 min (+601 s)",
            Cell::ClockBehind => "server clock −10 min (−601 s)",
            Cell::RefreshExpired => "refresh token expired",
            Cell::CodeReplay => "authorization code replayed",
        }
    }

    /// A fault injected on the API route, after which the next call must succeed unchanged.
    fn transient(self) -> bool {
        matches!(
            self,
            Cell::Latency
                | Cell::Status500
                | Cell::Status502
                | Cell::Status502RetryAfter
                | Cell::Status503
                | Cell::Status503RetryAfter
                | Cell::Malformed
                | Cell::Truncated
                | Cell::Dropped
        )
    }
}

/// A typed error, as asserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// `Error::Transport { kind: Timeout }`.
    Timeout,
    /// `Error::Transport { kind: Io }`.
    Io,
    /// `Error::HttpStatus { status, retry_after }` (seconds).
    Http(u16, Option<u64>),
    /// `Error::Decode { .. }`.
    Decode,
    /// `Error::Platform` with this code and class.
    Platform(&'static str, ErrorClass),
}

impl Want {
    fn of(err: &Error) -> Option<Want> {
        Some(match err {
            Error::Transport {
                kind: TransportErrorKind::Timeout,
                ..
            } => Want::Timeout,
            Error::Transport {
                kind: TransportErrorKind::Io,
                ..
            } => Want::Io,
            Error::HttpStatus {
                status,
                retry_after,
                ..
            } => Want::Http(status.as_u16(), retry_after.map(|d| d.as_secs())),
            Error::Decode { .. } => Want::Decode,
            Error::Platform(p) => Want::Platform(leak(&p.code), p.class),
            _ => return None,
        })
    }
}

/// Platform codes are few and short: keep them `'static` so that an observation compares with
/// the table directly.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Want::Timeout => f.write_str("`Transport{Timeout}`"),
            Want::Io => f.write_str("`Transport{Io}`"),
            Want::Http(s, None) => write!(f, "`HttpStatus{{{s}, retry_after: None}}`"),
            Want::Http(s, Some(r)) => write!(f, "`HttpStatus{{{s}, retry_after: {r}s}}`"),
            Want::Decode => f.write_str("`Decode`"),
            Want::Platform(code, class) => write!(f, "platform `{code}` ({class})"),
        }
    }
}

/// The expected outcome of one cell through one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The call succeeds, after `api` API calls and `token` token-endpoint calls; `renewed`:
    /// the cached token afterwards is a new one.
    Recovered { api: u64, token: u64, renewed: bool },
    /// The call fails with exactly this error, after `api` and `token` calls; `kept`: the
    /// cached token is the one cached before (else: it is gone, having expired).
    Fails {
        err: Want,
        api: u64,
        token: u64,
        kept: bool,
    },
    /// The cell does not apply.
    Na(&'static str),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Recovered {
                api,
                token,
                renewed,
            } => write!(
                f,
                "**recovered**: {api} API + {token} token call(s), token {}",
                if *renewed { "renewed" } else { "kept" }
            ),
            Outcome::Fails {
                err,
                api,
                token,
                kept,
            } => write!(
                f,
                "{err}: {api} API + {token} token call(s), token {}",
                if *kept {
                    "cache unchanged"
                } else {
                    "cache emptied (expired)"
                }
            ),
            Outcome::Na(why) => write!(f, "n/a: {why}"),
        }
    }
}

/// One platform × cell, with the outcome through each transport.
#[derive(Debug, Clone, Copy)]
struct Row {
    platform: Platform,
    cell: Cell,
    blocking: Outcome,
    asynch: Outcome,
}

const fn same(platform: Platform, cell: Cell, outcome: Outcome) -> Row {
    Row {
        platform,
        cell,
        blocking: outcome,
        asynch: outcome,
    }
}

const fn fails(err: Want, api: u64, token: u64) -> Outcome {
    Outcome::Fails {
        err,
        api,
        token,
        kept: true,
    }
}

const fn recovered(api: u64, token: u64, renewed: bool) -> Outcome {
    Outcome::Recovered {
        api,
        token,
        renewed,
    }
}

/// The transient faults on the API route are the same for every platform: one API call, no
/// token call, the typed error, the token kept.
macro_rules! transient_rows {
    ($p:expr) => {
        [
            same($p, Cell::Latency, fails(Want::Timeout, 1, 0)),
            same($p, Cell::Status500, fails(Want::Http(500, None), 1, 0)),
            same($p, Cell::Status502, fails(Want::Http(502, None), 1, 0)),
            same(
                $p,
                Cell::Status502RetryAfter,
                fails(Want::Http(502, Some(RETRY_AFTER_SECS)), 1, 0),
            ),
            same($p, Cell::Status503, fails(Want::Http(503, None), 1, 0)),
            same(
                $p,
                Cell::Status503RetryAfter,
                fails(Want::Http(503, Some(RETRY_AFTER_SECS)), 1, 0),
            ),
            same($p, Cell::Malformed, fails(Want::Decode, 1, 0)),
            same($p, Cell::Truncated, fails(Want::Io, 1, 0)),
            same($p, Cell::Dropped, fails(Want::Io, 1, 0)),
        ]
    };
}

const TIANYI: [Row; 14] = {
    let t = transient_rows!(Platform::Tianyi);
    let p = Platform::Tianyi;
    [
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        // 30002 → compare-and-expire → refresh_token grant → one retry.
        same(p, Cell::Revoked, recovered(2, 1, true)),
        // The signed `timestamp` is 10 min behind the server: outside the 600 s window.
        same(
            p,
            Cell::ClockAhead,
            fails(Want::Platform("10003", ErrorClass::BadRequest), 1, 0),
        ),
        same(
            p,
            Cell::ClockBehind,
            fails(Want::Platform("10003", ErrorClass::BadRequest), 1, 0),
        ),
        // Access token expired, the refresh token refused (30003) → full grant (`vcp_189`).
        same(p, Cell::RefreshExpired, recovered(1, 2, true)),
        same(
            p,
            Cell::CodeReplay,
            fails(Want::Platform("30004", ErrorClass::BadRequest), 0, 1),
        ),
    ]
};

const ZHIYUN: [Row; 14] = {
    let t = transient_rows!(Platform::Zhiyun);
    let p = Platform::Zhiyun;
    [
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        // The auth code revoked: 100019 → authorize → one retry.
        same(p, Cell::Revoked, recovered(2, 1, true)),
        same(
            p,
            Cell::ClockAhead,
            fails(Want::Platform("400", ErrorClass::BadRequest), 1, 0),
        ),
        same(
            p,
            Cell::ClockBehind,
            fails(Want::Platform("400", ErrorClass::BadRequest), 1, 0),
        ),
        // No refresh grant; its analogue, the desktop `access_token` behind every code, expired:
        // 100014 is `Permission` (log in to the desktop client again): no renewal, no retry.
        same(
            p,
            Cell::RefreshExpired,
            fails(Want::Platform("100014", ErrorClass::Permission), 1, 0),
        ),
        // A code is good for any number of calls within its life: the replay is served.
        same(p, Cell::CodeReplay, recovered(1, 0, false)),
    ]
};

const DEVICE: [Row; 14] = {
    let t = transient_rows!(Platform::Device);
    let p = Platform::Device;
    [
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        same(
            p,
            Cell::Revoked,
            Outcome::Na("provisioning takes no token; the iotToken is checked by the MQTT broker"),
        ),
        // Provisioning signs nothing with the time.
        same(p, Cell::ClockAhead, recovered(1, 0, false)),
        same(p, Cell::ClockBehind, recovered(1, 0, false)),
        same(
            p,
            Cell::RefreshExpired,
            Outcome::Na("no refresh token: device credentials do not expire"),
        ),
        same(
            p,
            Cell::CodeReplay,
            Outcome::Na("no authorization code in device provisioning"),
        ),
    ]
};

const TF56: [Row; 14] = {
    let t = transient_rows!(Platform::Tf56);
    let p = Platform::Tf56;
    [
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        // invalid_token → refresh_token grant → one retry.
        same(p, Cell::Revoked, recovered(2, 1, true)),
        same(p, Cell::ClockAhead, recovered(1, 0, false)),
        same(p, Cell::ClockBehind, recovered(1, 0, false)),
        // The refresh refused (invalid_grant) → the password grant again.
        same(p, Cell::RefreshExpired, recovered(1, 2, true)),
        same(
            p,
            Cell::CodeReplay,
            fails(
                Want::Platform("invalid_grant", ErrorClass::BadRequest),
                0,
                1,
            ),
        ),
    ]
};

const ILAB: [Row; 14] = {
    let t = transient_rows!(Platform::Ilab);
    let p = Platform::Ilab;
    [
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        same(p, Cell::Revoked, recovered(2, 1, true)),
        same(p, Cell::ClockAhead, recovered(1, 0, false)),
        same(p, Cell::ClockBehind, recovered(1, 0, false)),
        // The refresh refused; the full grant needs a new ticket (tickets work once): the
        // source says so itself, without a request.
        same(
            p,
            Cell::RefreshExpired,
            Outcome::Fails {
                err: Want::Platform("new_ticket_needed", ErrorClass::BadRequest),
                api: 0,
                token: 1,
                kept: false,
            },
        ),
        same(
            p,
            Cell::CodeReplay,
            fails(Want::Platform("4", ErrorClass::BadRequest), 0, 1),
        ),
    ]
};

/// The whole grid: platform × cell, each with both transports.
const MATRIX: [[Row; 14]; 5] = [TIANYI, ZHIYUN, DEVICE, TF56, ILAB];

fn rows(platform: Platform) -> &'static [Row; 14] {
    &MATRIX[PLATFORMS.iter().position(|p| *p == platform).unwrap()]
}

// ---------------------------------------------------------------------------------------------
// The harness: a sandbox, clients on its clock, a token manager, the platform's subject.

/// The sandbox clock plus the client's own skew (0 except in the clock cells).
#[derive(Debug)]
struct ClientTime {
    sb: Arc<SandboxHandle>,
    skew_ms: Arc<AtomicI64>,
}

impl Clock for ClientTime {
    fn now(&self) -> SystemTime {
        from_unix_millis(self.sb.clock().now_millis() + self.skew_ms.load(Ordering::SeqCst))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Blocking,
    Async,
}

/// A transport's client and token manager.
enum Mgr {
    Blocking(Arc<BlockingClient>, BlockingTokens),
    Async(Arc<AsyncClient>, AsyncTokens),
}

impl Mgr {
    fn call<S, E, F>(&self, source: &Arc<S>, make: F) -> Result<(), Error>
    where
        S: TokenSource + 'static,
        E: Exchange,
        F: FnMut(&Token) -> Result<E, Error>,
    {
        match self {
            Mgr::Blocking(_, m) => m.try_call_with_token(source.as_ref(), make).map(drop),
            Mgr::Async(_, m) => runtime()
                .block_on(m.try_call_with_token(source, make))
                .map(drop),
        }
    }

    fn execute<E: Exchange>(&self, e: &E) -> Result<E::Output, Error> {
        match self {
            Mgr::Blocking(c, _) => c.execute(e),
            Mgr::Async(c, _) => runtime().block_on(c.execute(e)),
        }
    }

    fn cached<S: TokenSource>(&self, source: &S) -> Option<Arc<Token>> {
        match self {
            Mgr::Blocking(_, m) => m.cached(source.key()),
            Mgr::Async(_, m) => m.cached(source.key()),
        }
    }
}

/// What the cells are played on, per platform.
enum Subject {
    Tianyi(Tianyi, Arc<TianyiTokens>),
    Zhiyun(Zhiyun, Arc<ZhiyunAuthCodes>, String),
    Device(String),
    Tf56(Tf56, Arc<Tf56Tokens>),
    Ilab(Ilab, Arc<IlabTokens>),
}

struct Harness {
    sb: Arc<SandboxHandle>,
    skew_ms: Arc<AtomicI64>,
    mgr: Mgr,
    subject: Subject,
    /// The route the transient faults are injected on.
    api_path: String,
    /// The token endpoints (their calls are counted apart).
    token_paths: Vec<String>,
}

fn start(builder: kaifang_sandbox::Builder) -> Arc<SandboxHandle> {
    Arc::new(runtime().block_on(builder.start()).unwrap())
}

fn transport_config() -> TransportConfig {
    TransportConfig {
        connect_timeout: CLIENT_TIMEOUT,
        total_timeout: CLIENT_TIMEOUT,
        learn_skew: false,
        ..TransportConfig::default()
    }
}

fn policy() -> RefreshPolicy {
    RefreshPolicy {
        jitter: 0.0,
        max_wait: Duration::from_secs(5),
        ..RefreshPolicy::default()
    }
}

fn access(t: &Token) -> AccessToken {
    AccessToken::from(t.access.clone())
}

fn ilab_record(origin: &str) -> DataUpload {
    let t0 = 1_711_103_229_122;
    DataUpload::builder(SEED_USER, "电路虚拟仿真实验", origin)
        .status(Status::Completed)
        .score(66)
        .times(t0, t0 + 12 * 60_000)
        .step(
            StepRecord::builder("实验准备")
                .times(t0, t0 + 2 * 60_000)
                .max_score(20)
                .score(18),
        )
        .build()
        .unwrap()
}

impl Harness {
    /// A fresh sandbox with `platform`, clients through `via`, and the subject for `cell`.
    fn new(platform: Platform, via: Via, cell: Cell) -> Harness {
        let builder = Sandbox::builder().seed(12);
        let sb = match platform {
            Platform::Tianyi => start(builder.module(TianyiModule)),
            Platform::Zhiyun => start(builder.module(ZhiyunModule::default())),
            Platform::Device => start(builder.module(DeviceModule::default())),
            Platform::Tf56 => start(builder.module(Tf56Module)),
            Platform::Ilab => start(builder.module(IlabModule::default())),
        };
        let skew_ms = Arc::new(AtomicI64::new(0));
        let ctx = Context::new(
            Arc::new(ClientTime {
                sb: sb.clone(),
                skew_ms: skew_ms.clone(),
            }),
            Arc::new(OsNonce),
        );
        let mgr = match via {
            Via::Blocking => {
                let c = Arc::new(BlockingClient::with_context(transport_config(), ctx).unwrap());
                Mgr::Blocking(c.clone(), BlockingTokens::new(c).with_policy(policy()))
            }
            Via::Async => {
                let c = Arc::new(AsyncClient::with_context(transport_config(), ctx).unwrap());
                Mgr::Async(c.clone(), AsyncTokens::new(c).with_policy(policy()))
            }
        };
        let base = sb.base_url().to_owned();
        let replay = cell == Cell::CodeReplay;
        let (subject, api_path, token_paths) = match platform {
            Platform::Tianyi => {
                let config = if replay {
                    TianyiConfig::new(SEED_APP_ID, SEED_APP_SECRET)
                } else {
                    TianyiConfig::new(PLATFORM_APP_ID, PLATFORM_APP_SECRET)
                        .platform(PLATFORM_ENTERPRISE_USER)
                };
                let app = Tianyi::new(config.base_url(&base)).unwrap();
                let mut source = TianyiTokens::new(&app);
                if replay {
                    // Redeemed once, then handed to the manager again.
                    let minted = sb
                        .mint("tianyi", "auth_code", json!({"app_id": SEED_APP_ID}))
                        .unwrap();
                    let code = SecretString::new(minted["authCode"].as_str().unwrap());
                    let grant = kaifang_proto_tianyi::Grant::AuthCode(code);
                    mgr.execute(&GetAccessToken::new(&app, &grant).unwrap())
                        .unwrap();
                    source = source.with_login(grant);
                }
                (
                    Subject::Tianyi(app, Arc::new(source)),
                    "/open/token/device/getReginWithGroupList".to_owned(),
                    vec![ACCESS_TOKEN_PATH.to_owned()],
                )
            }
            Platform::Zhiyun => {
                let desktop = sb.mint("zhiyun", "access_token", json!({})).unwrap()["access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let app = Zhiyun::new(ZhiyunConfig::new(
                    &base,
                    kaifang_proto_zhiyun::server::tenant::CLIENT_ID,
                    kaifang_proto_zhiyun::server::tenant::CLIENT_SECRET,
                    &desktop,
                ))
                .unwrap();
                let source = Arc::new(ZhiyunAuthCodes::new(&app));
                (
                    Subject::Zhiyun(app, source, desktop),
                    "/apis/rest/userService/getUserInfo/json".to_owned(),
                    vec!["/apis/rest/authService/authorize/json".to_owned()],
                )
            }
            Platform::Device => (
                Subject::Device(sb.url(dm::PROVISION_PATH)),
                dm::PROVISION_PATH.to_owned(),
                Vec::new(),
            ),
            Platform::Tf56 => {
                let (id, secret) = if replay {
                    (CODE_CLIENT_ID, CODE_CLIENT_SECRET)
                } else {
                    (PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET)
                };
                let mut config = Tf56Config::new(id, secret)
                    .base_url(&base)
                    .client_auth(ClientAuth::QueryParams);
                if replay {
                    config = config.redirect_uri(CODE_CLIENT_REDIRECT_URI).scope("all");
                }
                let app = Tf56::new(config).unwrap();
                let source = if replay {
                    let minted = sb
                        .mint("tf56", "code", json!({"client_id": CODE_CLIENT_ID}))
                        .unwrap();
                    let code = SecretString::new(minted["code"].as_str().unwrap());
                    mgr.execute(
                        &TokenRequest::new(
                            &app,
                            kaifang_proto_tf56::Grant::AuthorizationCode(code.clone()),
                        )
                        .unwrap(),
                    )
                    .unwrap();
                    Tf56Tokens::authorization_code(&app).with_code(code)
                } else {
                    Tf56Tokens::password(&app, DEMO_USERNAME, SecretString::new(DEMO_PASSWORD))
                };
                (
                    Subject::Tf56(app, Arc::new(source)),
                    "/openGateway/oauthentry/tf56.open.demo/1/sayHello".to_owned(),
                    vec!["/openGateway/oauth/token".to_owned()],
                )
            }
            Platform::Ilab => {
                let app = Ilab::new(IlabConfig::new(&base, SEED_APPID, SEED_SECRET)).unwrap();
                let minted = sb
                    .mint("ilab", "ticket", json!({"appid": SEED_APPID}))
                    .unwrap();
                let ticket =
                    kaifang_proto_ilab::Ticket::from_decoded(minted["ticket"].as_str().unwrap())
                        .unwrap();
                if replay {
                    mgr.execute(&AccessTokenRequest::new(&app, ticket.clone()))
                        .unwrap();
                }
                let paths = app.paths();
                (
                    Subject::Ilab(app.clone(), Arc::new(IlabTokens::new(&app, ticket))),
                    paths.data_upload.to_owned(),
                    vec![paths.token.to_owned(), paths.refresh.to_owned()],
                )
            }
        };
        Harness {
            sb,
            skew_ms,
            mgr,
            subject,
            api_path,
            token_paths,
        }
    }

    /// The platform's call, through the token manager where there is one.
    fn call(&self) -> Result<(), Error> {
        match &self.subject {
            Subject::Tianyi(app, source) => self.mgr.call(source, |t| app.regions(&t.access, "")),
            Subject::Zhiyun(app, source, _) => {
                self.mgr.call(source, |t| Ok(app.user_info(&t.access)))
            }
            Subject::Device(url) => {
                let request = ProvisionRequest::new().imei(dm::DEVICE_IMEI).unwrap();
                self.mgr
                    .execute(&Provision::new(url.as_str(), request))
                    .map(drop)
            }
            Subject::Tf56(app, source) => self.mgr.call(source, |t| Ok(app.say_hello(&access(t)))),
            Subject::Ilab(app, source) => {
                let record = ilab_record("faults");
                self.mgr.call(source, |t| {
                    Ok(DataUploadRequest::new(app, &t.access, &record))
                })
            }
        }
    }

    /// The manager's cached token (`None` for the device, which has none).
    fn cached(&self) -> Option<Arc<Token>> {
        match &self.subject {
            Subject::Tianyi(_, s) => self.mgr.cached(s.as_ref()),
            Subject::Zhiyun(_, s, _) => self.mgr.cached(s.as_ref()),
            Subject::Device(_) => None,
            Subject::Tf56(_, s) => self.mgr.cached(s.as_ref()),
            Subject::Ilab(_, s) => self.mgr.cached(s.as_ref()),
        }
    }

    fn fingerprint(&self) -> Option<Fingerprint> {
        self.cached().map(|t| t.fingerprint())
    }

    /// (API calls, token-endpoint calls) since the counters were last cleared.
    fn counts(&self) -> (u64, u64) {
        let mut api = 0;
        let mut token = 0;
        for (key, n) in self.sb.counters() {
            let path = key.split_once(' ').map_or(key.as_str(), |(_, p)| p);
            if self.token_paths.iter().any(|t| t == path) {
                token += n;
            } else {
                api += n;
            }
        }
        (api, token)
    }

    fn fault(&self, spec: FaultSpec) {
        self.sb.add_fault(spec.count(1)).unwrap();
    }

    fn status_fault(&self, status: u16, retry_after: Option<u64>) {
        let mut spec = FaultSpec::new(&self.api_path);
        spec.action = Some(FaultAction::Status {
            status,
            body: format!("<html><body><h1>{status}</h1>upstream gateway</body></html>"),
            content_type: Some("text/html".to_owned()),
            retry_after: retry_after.map(|s| s.to_string()),
        });
        self.fault(spec);
    }

    /// Offsets the server's clock by `ms`, leaving the client's where it was.
    fn skew_server(&self, ms: i64) {
        self.sb.offset_clock(ms);
        self.skew_ms.store(-ms, Ordering::SeqCst);
    }

    fn revoke(&self, token: &SecretString) {
        self.sb.revoke(None, token.expose_secret()).unwrap();
    }

    /// Arms `cell` (after the warm-up call).
    fn arm(&self, cell: Cell) {
        match cell {
            Cell::Latency => self.fault(FaultSpec::new(&self.api_path).latency(FAULT_LATENCY)),
            Cell::Status500 => self.status_fault(500, None),
            Cell::Status502 => self.status_fault(502, None),
            Cell::Status502RetryAfter => self.status_fault(502, Some(RETRY_AFTER_SECS)),
            Cell::Status503 => self.status_fault(503, None),
            Cell::Status503RetryAfter => self.status_fault(503, Some(RETRY_AFTER_SECS)),
            Cell::Malformed => self.fault(FaultSpec::new(&self.api_path).malformed()),
            Cell::Truncated => self.fault(FaultSpec::new(&self.api_path).truncated()),
            Cell::Dropped => self.fault(FaultSpec::new(&self.api_path).drop_connection()),
            Cell::Revoked => self.revoke(&self.cached().unwrap().access),
            Cell::ClockAhead => self.skew_server(SKEW_MS),
            Cell::ClockBehind => self.skew_server(-SKEW_MS),
            Cell::RefreshExpired => {
                if let Subject::Zhiyun(_, _, desktop) = &self.subject {
                    // The desktop login behind the codes is over.
                    self.sb.revoke(None, desktop).unwrap();
                    return;
                }
                let t = self.cached().unwrap();
                // The server no longer takes the refresh token (the sandbox answers a revoked
                // and an expired one alike) ...
                self.revoke(t.refresh.as_ref().unwrap());
                // ... and the access token has run out on both clocks.
                let left = t
                    .expires_at
                    .duration_since(from_unix_millis(self.sb.clock().now_millis()))
                    .unwrap_or_default();
                self.sb.advance_clock(left + Duration::from_secs(1));
            }
            Cell::CodeReplay => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The runners.

/// What a row did.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    outcome: Outcome,
    /// After a transient fault: the next call (fault gone) succeeded, with the same token and
    /// no token request.
    next_call_clean: bool,
    /// The error's text, for the report.
    detail: String,
}

fn play(platform: Platform, via: Via, cell: Cell) -> Observed {
    let h = Harness::new(platform, via, cell);
    // Tianyi, tf56 and iLab redeemed the code in `Harness::new`; Zhiyun's first call uses it.
    if cell != Cell::CodeReplay || platform == Platform::Zhiyun {
        h.call()
            .unwrap_or_else(|e| panic!("warm-up call failed: {e}"));
    }
    h.sb.clear_counters();
    let before = h.fingerprint();
    h.arm(cell);
    let result = h.call();
    let (api, token) = h.counts();
    let after = h.fingerprint();
    let (outcome, detail) = match &result {
        Ok(()) => (
            Outcome::Recovered {
                api,
                token,
                renewed: after != before,
            },
            String::new(),
        ),
        Err(e) => match Want::of(e) {
            Some(err) => (
                Outcome::Fails {
                    err,
                    api,
                    token,
                    kept: after == before,
                },
                e.to_string(),
            ),
            None => (Outcome::Na("unexpected error"), format!("{e:?}")),
        },
    };
    let next_call_clean = if cell.transient() {
        h.sb.clear_faults();
        h.sb.clear_counters();
        let ok = h.call().is_ok();
        ok && h.counts() == (1, 0) && h.fingerprint() == before
    } else {
        true
    };
    Observed {
        outcome,
        next_call_clean,
        detail,
    }
}

/// Plays a row on its own thread under [`ROW_DEADLINE`]: a hang or a panic is a failure.
fn bounded(platform: Platform, via: Via, cell: Cell) -> Result<Observed, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("{}-{via:?}-{cell:?}", platform.name()))
        .spawn(move || {
            let _ = tx.send(play(platform, via, cell));
        })
        .unwrap();
    match rx.recv_timeout(ROW_DEADLINE) {
        Ok(o) => {
            let _ = thread.join();
            Ok(o)
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "HUNG: still running after {ROW_DEADLINE:?} (thread left behind)"
        )),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let panic = thread.join().err().map_or_else(
                || "no result".to_owned(),
                |p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()
                },
            );
            Err(format!("PANICKED: {panic}"))
        }
    }
}

/// Plays every applicable row of `platform` through `via` and checks each against the table;
/// reports every mismatch at once.
fn run(platform: Platform, via: Via) {
    let started = Instant::now();
    let mut problems = Vec::new();
    for row in rows(platform) {
        assert_eq!(row.platform, platform);
        let want = match via {
            Via::Blocking => row.blocking,
            Via::Async => row.asynch,
        };
        if matches!(want, Outcome::Na(_)) {
            continue;
        }
        match bounded(platform, via, row.cell) {
            Err(e) => problems.push(format!("{:?}: {e}", row.cell)),
            Ok(seen) => {
                if seen.outcome != want {
                    problems.push(format!(
                        "{:?}: expected {want:?}, observed {:?} ({})",
                        row.cell, seen.outcome, seen.detail
                    ));
                }
                if !seen.next_call_clean {
                    problems.push(format!(
                        "{:?}: the call after the fault did not succeed with the same token and \
                         no token request",
                        row.cell
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} via {via:?}: {} cells in {:?}",
        platform.name(),
        rows(platform)
            .iter()
            .filter(|r| !matches!(r.blocking, Outcome::Na(_)))
            .count(),
        started.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{} via {via:?}:\n{}",
        platform.name(),
        problems.join("\n")
    );
}

/// The runner of the blocking transport (ureq, `kaifang_transport_blocking::TokenManager`).
fn run_blocking(platform: Platform) {
    run(platform, Via::Blocking);
}

/// The runner of the async transport (reqwest, `kaifang_transport_async::TokenManager`).
fn run_async(platform: Platform) {
    run(platform, Via::Async);
}

#[test]
fn tianyi_blocking() {
    run_blocking(Platform::Tianyi);
}

#[test]
fn tianyi_async() {
    run_async(Platform::Tianyi);
}

#[test]
fn zhiyun_blocking() {
    run_blocking(Platform::Zhiyun);
}

#[test]
fn zhiyun_async() {
    run_async(Platform::Zhiyun);
}

#[test]
fn device_blocking() {
    run_blocking(Platform::Device);
}

#[test]
fn device_async() {
    run_async(Platform::Device);
}

#[test]
fn tf56_blocking() {
    run_blocking(Platform::Tf56);
}

#[test]
fn tf56_async() {
    run_async(Platform::Tf56);
}

#[test]
fn ilab_blocking() {
    run_blocking(Platform::Ilab);
}

#[test]
fn ilab_async() {
    run_async(Platform::Ilab);
}

// ---------------------------------------------------------------------------------------------
// The table in the docs.

#[test]
fn the_grid_is_complete() {
    for (p, platform_rows) in PLATFORMS.iter().zip(MATRIX.iter()) {
        for (cell, row) in CELLS.iter().zip(platform_rows.iter()) {
            assert_eq!((row.platform, row.cell), (*p, *cell));
        }
    }
}

/// The matrix as Markdown: one table per platform, one line per cell, both transports.
fn render_matrix() -> String {
    let mut out = String::new();
    let mut totals = [0usize; 3];
    for p in PLATFORMS {
        writeln!(out, "### {}\n\nSubject: {}.\n", p.name(), p.subject()).unwrap();
        out.push_str("| fault | blocking (ureq) | async (reqwest) |\n|---|---|---|\n");
        for row in rows(p) {
            let b = row.blocking.to_string();
            let a = if row.asynch == row.blocking {
                "same".to_owned()
            } else {
                row.asynch.to_string()
            };
            writeln!(out, "| {} | {b} | {a} |", row.cell.label()).unwrap();
            for o in [row.blocking, row.asynch] {
                totals[match o {
                    Outcome::Recovered { .. } => 0,
                    Outcome::Fails { .. } => 1,
                    Outcome::Na(_) => 2,
                }] += 1;
            }
        }
        out.push('\n');
    }
    writeln!(
        out,
        "Totals over {} platform × fault × transport cells: {} recovered, {} typed errors, {} n/a.",
        totals.iter().sum::<usize>(),
        totals[0],
        totals[1],
        totals[2]
    )
    .unwrap();
    out
}

const BEGIN: &str = "<!-- fault-matrix:begin (generated by crates/e2e/tests/faults.rs) -->\n";
const END: &str = "<!-- fault-matrix:end -->";

#[test]
fn doc_is_the_rendered_matrix() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/fault-matrix.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = doc.split_once(BEGIN).expect("begin marker");
    let (_, tail) = rest.split_once(END).expect("end marker");
    let expected = format!("{head}{BEGIN}{}{END}{tail}", render_matrix());
    if std::env::var("KAIFANG_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &expected).unwrap();
    } else {
        assert!(
            doc == expected,
            "docs/fault-matrix.md is not the table of crates/e2e/tests/faults.rs; \
             run `KAIFANG_BLESS=1 cargo test -p kaifang-e2e --test faults doc_is_the_rendered_matrix`"
        );
    }
}
