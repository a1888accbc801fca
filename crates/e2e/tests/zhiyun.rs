//! Zhiyun (致云) end to end: the proto crate's client through both transports (ureq and
//! reqwest), in JSON and XML, against an in-process sandbox running `ZhiyunModule`.
//!
//! * `flow_*`: every endpoint (authorize → getUserInfo → getCompanyInfo);
//! * `step01_…` to `step12_…`: every refusal, one test per step of the server's validation
//!   order, each seen in the client as a typed error (`Code`) with its meaning (the hint);
//! * `lifecycle_*`: the auth code through each transport's `TokenManager` with
//!   `ZhiyunAuthCodes` (reuse, 100020 → renew and retry once, 100014 → no retry);
//! * `seed_literal_*`: the seed document's request is what the client produces, and the sandbox
//!   accepts it with its clock frozen at the document's `t_`;
//! * `curl_interop_seed_header`: curl with the document's header (what CI runs as the curl
//!   interop; skipped loudly without curl unless `KAIFANG_REQUIRE_EXTERNAL=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kaifang_e2e::runtime;
use kaifang_proto_core::context::{Clock, Context, FrozenClock, OsNonce, from_unix_millis};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_zhiyun::codes::{self, Code};
use kaifang_proto_zhiyun::server::tenant::{
    self, ACCESS_TOKENS, CLIENT_ID, CLIENT_SECRET, USER_IDS,
};
use kaifang_proto_zhiyun::{
    AuthorizeData, CompanyInfo, Endpoint, Format, TimeUnit, UserInfo, Zhiyun, ZhiyunAuthCodes,
    ZhiyunConfig, response,
};
use kaifang_sandbox::platforms::zhiyun::{AUTH_CODE, PLATFORM, ZhiyunModule};
use kaifang_sandbox::{Config, FaultSpec, Sandbox, SandboxHandle};
use kaifang_transport_async::AsyncClient;
use kaifang_transport_blocking::{BlockingClient, TransportConfig};
use serde_json::{Value, json};

/// The seed document's header: `Basic base64("1102084294:aku8hCyXBd9SqYkT")`.
const SEED_BASIC: &str = "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU";
/// The seed document's `t_` (ms) and its `p_`.
const SEED_T: i64 = 1_422_339_152_058;
const SEED_P: u64 = 8519;
/// A second client, only in the two-client configuration (codes of another client: 100021).
const CLIENT_B: &str = "2000000001";
const SECRET_B: &str = "sandbox-secret-b";
const FORMATS: [Format; 2] = [Format::Json, Format::Xml];

/// The sandbox clock, as the clients' clock: `t_` always matches the sandbox, and a cached
/// auth code ages with it.
#[derive(Debug)]
struct SandboxTime(Arc<SandboxHandle>);

impl Clock for SandboxTime {
    fn now(&self) -> SystemTime {
        self.0.clock().now()
    }
}

/// One sandbox and one client of each transport on its clock.
struct Fx {
    sb: Arc<SandboxHandle>,
    blocking: Arc<BlockingClient>,
    asynch: Arc<AsyncClient>,
}

fn transport_config() -> TransportConfig {
    TransportConfig {
        // The clients already run on the sandbox clock.
        learn_skew: false,
        ..TransportConfig::default()
    }
}

fn fx() -> Fx {
    fx_with(None)
}

fn fx_with(config: Option<Config>) -> Fx {
    let sb = runtime()
        .block_on(async {
            let mut b = Sandbox::builder().module(ZhiyunModule::default()).seed(11);
            if let Some(c) = config {
                b = b.config(c);
            }
            b.start().await
        })
        .expect("sandbox starts");
    let sb = Arc::new(sb);
    let ctx = Context::new(Arc::new(SandboxTime(Arc::clone(&sb))), Arc::new(OsNonce));
    Fx {
        blocking: Arc::new(BlockingClient::with_context(transport_config(), ctx.clone()).unwrap()),
        asynch: Arc::new(AsyncClient::with_context(transport_config(), ctx).unwrap()),
        sb,
    }
}

/// The seed's users with their tokens, the seed client and client B.
fn two_clients() -> Config {
    let toml = format!(
        r#"
[[platforms.zhiyun.clients]]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"

[[platforms.zhiyun.clients]]
client_id = "{CLIENT_B}"
client_secret = "{SECRET_B}"

[[platforms.zhiyun.users]]
user_id = "{u0}"
access_tokens = ["{t0}"]

[[platforms.zhiyun.users]]
user_id = "{u1}"
access_tokens = ["{t1}"]
"#,
        u0 = USER_IDS[0],
        u1 = USER_IDS[1],
        t0 = ACCESS_TOKENS[0],
        t1 = ACCESS_TOKENS[1],
    );
    Config::from_toml(&toml, "zhiyun-two-clients.toml").unwrap()
}

impl Fx {
    fn base(&self) -> &str {
        self.sb.base_url()
    }

    /// The seed client for the seed's first user.
    fn app(&self, format: Format) -> Zhiyun {
        self.app_as(format, CLIENT_ID, CLIENT_SECRET, ACCESS_TOKENS[0])
    }

    fn app_as(&self, format: Format, id: &str, secret: &str, token: &str) -> Zhiyun {
        Zhiyun::new(ZhiyunConfig::new(self.base(), id, secret, token).format(format)).unwrap()
    }

    /// Runs `e` through the blocking, then the async transport.
    fn both<E: Exchange>(&self, e: &E) -> [(&'static str, Result<E::Output, Error>); 2] {
        [
            ("blocking", self.blocking.execute(e)),
            ("async", runtime().block_on(self.asynch.execute(e))),
        ]
    }

    /// An auth code from `app` (blocking transport).
    fn code(&self, app: &Zhiyun) -> SecretString {
        self.blocking.execute(&app.authorize()).unwrap()
    }

    fn now_ms(&self) -> i64 {
        self.sb.clock_state().now_ms
    }

    /// `t_=<sandbox ms>&p_=…`.
    fn stamp(&self) -> String {
        let t = u64::try_from(self.now_ms()).unwrap();
        format!("t_={t}&p_={}", p_of(t))
    }

    fn count(&self, endpoint: Endpoint, format: Format) -> u64 {
        self.sb.count(&format!("GET {}", endpoint.path(format)))
    }

    fn mint(&self, kind: &str, request: Value) -> Value {
        self.sb.mint(PLATFORM, kind, request).unwrap()
    }
}

fn p_of(t: u64) -> u64 {
    (t % 10_000) * 3 + 2345
}

/// A hand-made GET (for what the client never sends: a missing parameter, no Basic header, a
/// wrong `p_`), decoded by the client's own envelope parser.
struct Raw {
    endpoint: Endpoint,
    url: String,
    authorization: Option<String>,
}

/// What a [`Raw`] call answers (the data is only read when a test fails, through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
enum RawOut {
    Code(AuthorizeData),
    User(UserInfo),
    Company(CompanyInfo),
}

impl RawOut {
    fn auth_code(self) -> SecretString {
        match self {
            RawOut::Code(d) => d.auth_code,
            other => panic!("not an auth code: {other:?}"),
        }
    }
}

/// `GET {base}{endpoint path}?{query}`.
fn raw(
    fx: &Fx,
    endpoint: Endpoint,
    format: Format,
    query: &str,
    authorization: Option<&str>,
) -> Raw {
    Raw {
        endpoint,
        url: format!("{}{}?{query}", fx.base(), endpoint.path(format)),
        authorization: authorization.map(str::to_owned),
    }
}

impl Exchange for Raw {
    type Output = RawOut;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let mut b = http::Request::get(&self.url);
        if let Some(a) = &self.authorization {
            b = b.header(http::header::AUTHORIZATION, a);
        }
        b.body(Vec::new())
            .map_err(|e| Error::Config(format!("raw request: {e}")))
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<RawOut, Error> {
        Ok(match self.endpoint {
            Endpoint::Authorize => RawOut::Code(response::decode(ctx, &resp)?),
            Endpoint::GetUserInfo => RawOut::User(response::decode(ctx, &resp)?),
            Endpoint::GetCompanyInfo => RawOut::Company(response::decode(ctx, &resp)?),
        })
    }
}

/// The error is Zhiyun's `want`, with the code table's class and hint (the Chinese meaning and
/// what to do), and `message` when given.
fn assert_refused<T: Debug>(
    label: &str,
    result: Result<T, Error>,
    want: Code,
    message: Option<&str>,
) -> Error {
    let err = match result {
        Ok(v) => panic!("{label}: expected {} but got {v:?}", want.value()),
        Err(e) => e,
    };
    assert_eq!(Code::of(&err), Some(want), "{label}: {err}");
    let info = want.info();
    let p = err.platform().unwrap();
    assert_eq!(p.platform, codes::PLATFORM);
    assert_eq!(p.hint, Some(info.hint), "{label}");
    assert_eq!(err.class(), info.class, "{label}");
    assert_eq!(
        p.message,
        message.unwrap_or(info.en),
        "{label}: the server's message"
    );
    let shown = err.to_string();
    assert!(shown.contains(info.zh), "{label}: meaning missing: {shown}");
    assert!(shown.contains(&info.code.to_string()), "{label}: {shown}");
    // Never a secret in what the user sees.
    for secret in [CLIENT_SECRET, ACCESS_TOKENS[0], ACCESS_TOKENS[1], SECRET_B] {
        assert!(!shown.contains(secret), "{label}: secret in {shown}");
        assert!(
            !format!("{err:?}").contains(secret),
            "{label}: secret in Debug"
        );
    }
    err
}

/// `e` is refused with `want` through both transports.
fn refused_both<E: Exchange>(fx: &Fx, label: &str, e: &E, want: Code, message: Option<&str>)
where
    E::Output: Debug,
{
    for (transport, r) in fx.both(e) {
        assert_refused(&format!("{label} [{transport}]"), r, want, message);
    }
}

fn expected_user(now_ms: i64) -> UserInfo {
    UserInfo {
        nowtime: Some(now_ms / 1000),
        ..tenant::sample_user()
    }
}

fn expected_company(now_ms: i64) -> CompanyInfo {
    CompanyInfo {
        nowtime: Some(now_ms / 1000),
        ..tenant::sample_company()
    }
}

fn is_code(code: &SecretString) -> bool {
    let c = code.expose_secret();
    c.len() == 40
        && c.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---------------------------------------------------------------------------------------------
// Every endpoint, both formats, both transports.

fn flow(format: Format, unit: TimeUnit) {
    let fx = fx();
    fx.sb.freeze_clock_at(1_700_000_000_123);
    let app = Zhiyun::new(
        ZhiyunConfig::new(fx.base(), CLIENT_ID, CLIENT_SECRET, ACCESS_TOKENS[0])
            .format(format)
            .time_unit(unit),
    )
    .unwrap();
    for (transport, code) in fx.both(&app.authorize()) {
        let code = code.unwrap_or_else(|e| panic!("{format:?} {transport} authorize: {e}"));
        assert!(is_code(&code), "{transport}");
        for (t2, user) in fx.both(&app.user_info(&code)) {
            assert_eq!(
                user.unwrap(),
                expected_user(fx.now_ms()),
                "{transport}/{t2}"
            );
        }
        for (t2, company) in fx.both(&app.company_info(&code)) {
            assert_eq!(
                company.unwrap(),
                expected_company(fx.now_ms()),
                "{transport}/{t2}"
            );
        }
    }
    assert_eq!(fx.count(Endpoint::Authorize, format), 2);
    assert_eq!(fx.count(Endpoint::GetUserInfo, format), 4);
    assert_eq!(fx.count(Endpoint::GetCompanyInfo, format), 4);
    // The journal never holds the token or the code.
    let journal = serde_json::to_string(&fx.sb.journal()).unwrap();
    assert!(!journal.contains(ACCESS_TOKENS[0]), "{journal}");
}

#[test]
fn flow_json_every_endpoint_both_transports() {
    flow(Format::Json, TimeUnit::Millis);
}

#[test]
fn flow_xml_every_endpoint_both_transports() {
    flow(Format::Xml, TimeUnit::Millis);
}

#[test]
fn flow_t_in_seconds_like_the_desktop_client() {
    flow(Format::Json, TimeUnit::Seconds);
}

#[test]
fn flow_through_faults_and_the_second_user() {
    let fx = fx();
    let app = fx.app_as(Format::Json, CLIENT_ID, CLIENT_SECRET, ACCESS_TOKENS[1]);
    let code = fx.code(&app);
    fx.sb
        .add_fault(
            FaultSpec::new(Endpoint::GetUserInfo.path(Format::Json))
                .status(503, "<html>busy</html>")
                .count(2),
        )
        .unwrap();
    for (transport, r) in fx.both(&app.user_info(&code)) {
        let err = r.unwrap_err();
        assert!(
            matches!(err, Error::HttpStatus { status, .. } if status == 503),
            "{transport}: {err}"
        );
        assert!(err.is_retryable(), "{transport}");
    }
    for (transport, r) in fx.both(&app.user_info(&code)) {
        assert_eq!(r.unwrap().username, "li******40", "{transport}");
    }
}

// ---------------------------------------------------------------------------------------------
// Every refusal, in the server's order.

/// Step 1, the filter layer: 601 (missing or not decimal), 602 (empty); it runs before anything
/// else (no Basic header and a wrong `p_` still give 601). Before the network, the client
/// refuses what it can (typed `Error::Config`).
#[test]
fn step01_filter_601_602() {
    let fx = fx();
    for format in FORMATS {
        // No Basic header and no auth_code: the filter speaks first.
        let missing = raw(
            &fx,
            Endpoint::GetUserInfo,
            format,
            &format!(
                "access_token={}&client_id={CLIENT_ID}&{}",
                ACCESS_TOKENS[0],
                fx.stamp()
            ),
            None,
        );
        refused_both(
            &fx,
            &format!("{format:?} missing auth_code"),
            &missing,
            Code::IllegalParameter,
            Some("Illegal parameter: auth_code"),
        );
        let not_decimal = raw(
            &fx,
            Endpoint::Authorize,
            format,
            &format!("access_token={}&t_=abc&p_=1", ACCESS_TOKENS[0]),
            Some(SEED_BASIC),
        );
        refused_both(
            &fx,
            &format!("{format:?} t_ not decimal"),
            &not_decimal,
            Code::IllegalParameter,
            Some("Illegal parameter: t_"),
        );
        // Through the client: an auth code of blanks is sent, and is empty to the server.
        let app = fx.app(format);
        refused_both(
            &fx,
            &format!("{format:?} blank auth_code"),
            &app.user_info(&SecretString::new("  ")),
            Code::EmptyContent,
            Some("Empty parameter: auth_code"),
        );
        // The client refuses an empty code or token before sending anything.
        let err = fx
            .blocking
            .execute(&app.user_info(&SecretString::new("")))
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        let err =
            Zhiyun::new(ZhiyunConfig::new(fx.base(), CLIENT_ID, CLIENT_SECRET, "")).unwrap_err();
        assert!(err.to_string().contains("致云桌面"), "{err}");
    }
    assert_eq!(fx.count(Endpoint::GetUserInfo, Format::Json), 4);
}

/// Step 1 (end): `p_` must be `(t_ % 10000) * 3 + 2345` for the `t_` sent, and `t_` within ten
/// minutes of the server's clock: both 400.
#[test]
fn step02_p_and_t_checks_400() {
    let fx = fx();
    fx.sb.freeze_clock_at(1_700_000_000_000);
    for format in FORMATS {
        let t = 1_700_000_000_000u64;
        let wrong_p = raw(
            &fx,
            Endpoint::Authorize,
            format,
            &format!(
                "access_token={}&t_={t}&p_={}",
                ACCESS_TOKENS[0],
                p_of(t) + 1
            ),
            Some(SEED_BASIC),
        );
        refused_both(
            &fx,
            &format!("{format:?} wrong p_"),
            &wrong_p,
            Code::BadRequest,
            Some("Illegal check value p_"),
        );
        // A client whose clock is 11 minutes behind the server's.
        let late = Context::new(
            Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000 - 660_000)),
            Arc::new(OsNonce),
        );
        let blocking = BlockingClient::with_context(transport_config(), late.clone()).unwrap();
        let asynch = AsyncClient::with_context(transport_config(), late).unwrap();
        let app = fx.app(format);
        for (transport, r) in [
            ("blocking", blocking.execute(&app.authorize())),
            (
                "async",
                runtime().block_on(asynch.execute(&app.authorize())),
            ),
        ] {
            let err = assert_refused(
                &format!("{format:?} stale t_ [{transport}]"),
                r,
                Code::BadRequest,
                Some("Timestamp t_ is out of range"),
            );
            assert!(err.to_string().contains("clock"), "{err}");
        }
        // Nine minutes behind is still inside the window.
        let ok = BlockingClient::with_context(
            transport_config(),
            Context::new(
                Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000 - 540_000)),
                Arc::new(OsNonce),
            ),
        )
        .unwrap();
        assert!(is_code(&ok.execute(&app.authorize()).unwrap()));
    }
}

/// Step 2a: no (or a non-Basic) `Authorization` header → 100009.
#[test]
fn step03_100009_http_header_auth() {
    let fx = fx();
    for format in FORMATS {
        for header in [None, Some("Bearer abc"), Some("Basic !!!")] {
            let e = raw(
                &fx,
                Endpoint::Authorize,
                format,
                &format!("access_token={}&{}", ACCESS_TOKENS[0], fx.stamp()),
                header,
            );
            refused_both(
                &fx,
                &format!("{format:?} header {header:?}"),
                &e,
                Code::HeaderAuthIllegal,
                None,
            );
        }
    }
}

/// Step 2b: the query `client_id` differs from the Basic user → 100002 (before the client is
/// looked up).
#[test]
fn step04_100002_client_id_mismatch() {
    let fx = fx();
    let code = fx.code(&fx.app(Format::Json));
    for format in FORMATS {
        for basic in [SEED_BASIC, "Basic OTk5OTk5OTk5OTp4"] {
            let e = raw(
                &fx,
                Endpoint::GetUserInfo,
                format,
                &format!(
                    "access_token={}&client_id=1102084295&auth_code={}&{}",
                    ACCESS_TOKENS[0],
                    code.expose_secret(),
                    fx.stamp()
                ),
                Some(basic),
            );
            refused_both(
                &fx,
                &format!("{format:?} {basic}"),
                &e,
                Code::ClientIdIllegal,
                None,
            );
        }
    }
}

/// Step 2c: an unknown client → 100008 (note the server's double space).
#[test]
fn step05_100008_unknown_client() {
    let fx = fx();
    let code = fx.code(&fx.app(Format::Json));
    for format in FORMATS {
        let app = fx.app_as(format, "9999999999", CLIENT_SECRET, ACCESS_TOKENS[0]);
        refused_both(
            &fx,
            "authorize",
            &app.authorize(),
            Code::ClientIdNotFound,
            Some("The client_id  does not exist."),
        );
        refused_both(
            &fx,
            "getUserInfo",
            &app.user_info(&code),
            Code::ClientIdNotFound,
            None,
        );
    }
}

/// Step 2d: the wrong secret → 100013 (not in the seed document).
#[test]
fn step06_100013_wrong_secret() {
    let fx = fx();
    let code = fx.code(&fx.app(Format::Json));
    for format in FORMATS {
        let app = fx.app_as(format, CLIENT_ID, "not-the-secret", ACCESS_TOKENS[0]);
        refused_both(
            &fx,
            "authorize",
            &app.authorize(),
            Code::ClientSecretIllegal,
            None,
        );
        refused_both(
            &fx,
            "getCompanyInfo",
            &app.company_info(&code),
            Code::ClientSecretIllegal,
            None,
        );
    }
}

fn assert_login_again(err: &Error) {
    assert!(codes::is_access_token_expired(err), "{err}");
    assert_eq!(err.class(), ErrorClass::Permission);
    assert!(!err.is_token_invalid(), "100014 must not trigger a renewal");
    let shown = err.to_string();
    assert!(
        shown.contains("致云桌面") && shown.contains("log in"),
        "{shown}"
    );
}

/// Step 3: the access token expired → 100014, whether minted with a past expiry, aged past its
/// 90 days on the sandbox clock, or revoked; it is checked before the auth code.
#[test]
fn step07_100014_access_token_expired() {
    let fx = fx();
    for format in FORMATS {
        let minted = fx.mint("access_token", json!({"expires_in": -1}));
        let app = fx.app_as(
            format,
            CLIENT_ID,
            CLIENT_SECRET,
            minted["access_token"].as_str().unwrap(),
        );
        for (transport, r) in fx.both(&app.authorize()) {
            let err = assert_refused(transport, r, Code::AccessTokenExpired, None);
            assert_login_again(&err);
        }
    }
    // A valid code whose user's token is revoked afterwards: 100014, not a code error.
    let minted = fx.mint("access_token", json!({"user_id": USER_IDS[1]}));
    let token = minted["access_token"].as_str().unwrap();
    assert_eq!(minted["expires_in"], 90 * 24 * 3600);
    let app = fx.app_as(Format::Xml, CLIENT_ID, CLIENT_SECRET, token);
    let code = fx.code(&app);
    fx.sb.revoke(Some(PLATFORM), token).unwrap();
    refused_both(
        &fx,
        "revoked",
        &app.user_info(&code),
        Code::AccessTokenExpired,
        None,
    );

    // The seed token, 90 days (its lifetime) later on the sandbox clock.
    let app = fx.app(Format::Json);
    let code = fx.code(&app);
    fx.sb.freeze_clock_at(fx.now_ms());
    fx.sb.advance_clock(Duration::from_secs(90 * 24 * 3600 + 1));
    refused_both(
        &fx,
        "aged",
        &app.authorize(),
        Code::AccessTokenExpired,
        None,
    );
    refused_both(
        &fx,
        "aged",
        &app.company_info(&code),
        Code::AccessTokenExpired,
        None,
    );
}

/// Step 4a: an auth code the server does not hold (never issued, or revoked) → 100019.
#[test]
fn step08_100019_code_missing() {
    let fx = fx();
    for format in FORMATS {
        let app = fx.app(format);
        let made_up = SecretString::new("0123456789abcdef0123456789abcdef01234567");
        refused_both(
            &fx,
            "made up",
            &app.user_info(&made_up),
            Code::AuthCodeMissing,
            None,
        );
        let code = fx.code(&app);
        fx.sb.revoke(None, code.expose_secret()).unwrap();
        let [(_, r), _] = fx.both(&app.company_info(&code));
        let err = assert_refused("revoked", r, Code::AuthCodeMissing, None);
        assert!(err.is_token_invalid(), "a missing code is renewed");
    }
}

/// Step 4b: an expired auth code → 100020, by the clock (codes live 10 minutes) or by the
/// lifetimes control; expiry is checked before the scope.
#[test]
fn step09_100020_code_expired() {
    let fx = fx();
    fx.sb.freeze_clock_at(fx.now_ms());
    for format in FORMATS {
        let app = fx.app(format);
        let code = fx.code(&app);
        fx.sb.advance_clock(Duration::from_secs(601));
        refused_both(
            &fx,
            "by clock",
            &app.user_info(&code),
            Code::AuthCodeExpired,
            None,
        );

        fx.sb
            .set_token_lifetime(PLATFORM, AUTH_CODE, Some(Duration::from_secs(2)))
            .unwrap();
        let code = fx.code(&app);
        assert!(
            fx.sb
                .tokens()
                .lookup(PLATFORM, code.expose_secret())
                .is_ok()
        );
        fx.sb.advance_clock(Duration::from_secs(3));
        let [(_, r), _] = fx.both(&app.company_info(&code));
        let err = assert_refused("by lifetime", r, Code::AuthCodeExpired, None);
        assert!(err.is_token_invalid(), "an expired code is renewed");
        fx.sb.set_token_lifetime(PLATFORM, AUTH_CODE, None).unwrap();

        // Expired and without the scope: expiry first.
        let minted = fx.mint(AUTH_CODE, json!({"scope": "", "expires_in": 0}));
        let code = SecretString::new(minted["auth_code"].as_str().unwrap());
        refused_both(
            &fx,
            "order",
            &app.company_info(&code),
            Code::AuthCodeExpired,
            None,
        );
    }
}

/// Step 5: the code's scope lacks the method → 100018 (before the client and user checks).
#[test]
fn step10_100018_scope() {
    let fx = fx_with(Some(two_clients()));
    for format in FORMATS {
        let app = fx.app(format);
        let minted = fx.mint(AUTH_CODE, json!({"scope": "getUserInfo"}));
        let code = SecretString::new(minted["auth_code"].as_str().unwrap());
        for (transport, r) in fx.both(&app.user_info(&code)) {
            assert_eq!(r.unwrap().username, "li******40", "{transport}");
        }
        let [(_, r), (_, r2)] = fx.both(&app.company_info(&code));
        let err = assert_refused("company", r, Code::ScopeDenied, None);
        assert_eq!(err.class(), ErrorClass::Permission);
        assert_refused("company", r2, Code::ScopeDenied, None);
        // Another client's code for another user, without the scope: still 100018.
        let minted = fx.mint(
            AUTH_CODE,
            json!({"client_id": CLIENT_B, "user_id": USER_IDS[1], "scope": "getUserInfo"}),
        );
        let code = SecretString::new(minted["auth_code"].as_str().unwrap());
        refused_both(
            &fx,
            "order",
            &app.company_info(&code),
            Code::ScopeDenied,
            None,
        );
    }
}

/// Step 6: a code issued to another client → 100021 (before the user check).
#[test]
fn step11_100021_code_of_another_client() {
    let fx = fx_with(Some(two_clients()));
    for format in FORMATS {
        let app = fx.app(format);
        let other = fx.app_as(format, CLIENT_B, SECRET_B, ACCESS_TOKENS[0]);
        let code = fx.code(&other);
        for (transport, r) in fx.both(&other.user_info(&code)) {
            assert!(r.is_ok(), "{transport}: B's own code works");
        }
        let [(_, r), (_, r2)] = fx.both(&app.user_info(&code));
        let err = assert_refused("user", r, Code::AuthCodeWrongClient, None);
        assert!(
            !err.is_token_invalid(),
            "not renewable: a shared store must key by client"
        );
        assert_refused("user", r2, Code::AuthCodeWrongClient, None);
        // B's code for the second user: still 100021.
        let other2 = fx.app_as(format, CLIENT_B, SECRET_B, ACCESS_TOKENS[1]);
        let code = fx.code(&other2);
        refused_both(
            &fx,
            "order",
            &app.company_info(&code),
            Code::AuthCodeWrongClient,
            None,
        );
    }
}

/// Step 7: a code issued for another user → 100023 (renewable: the configured token changed).
#[test]
fn step12_100023_code_of_another_user() {
    let fx = fx();
    for format in FORMATS {
        let first = fx.app(format);
        let second = fx.app_as(format, CLIENT_ID, CLIENT_SECRET, ACCESS_TOKENS[1]);
        let code = fx.code(&second);
        let [(_, r), (_, r2)] = fx.both(&first.user_info(&code));
        let err = assert_refused("user", r, Code::AuthCodeWrongUser, None);
        assert!(err.is_token_invalid());
        assert_refused("user", r2, Code::AuthCodeWrongUser, None);
        refused_both(
            &fx,
            "company",
            &first.company_info(&code),
            Code::AuthCodeWrongUser,
            None,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The auth-code lifecycle through the token managers.

/// The client assumes codes live an hour; the server's live ten minutes, so only the server
/// knows when one expired.
fn lifecycle_app(fx: &Fx, format: Format, token: &str) -> Zhiyun {
    Zhiyun::new(
        ZhiyunConfig::new(fx.base(), CLIENT_ID, CLIENT_SECRET, token)
            .format(format)
            .auth_code_ttl(Duration::from_secs(3600)),
    )
    .unwrap()
}

#[test]
fn lifecycle_blocking_token_manager() {
    use kaifang_transport_blocking::TokenManager;
    let fx = fx();
    fx.sb.freeze_clock_at(fx.now_ms());
    let format = Format::Json;
    let minted = fx.mint("access_token", json!({}));
    let token = minted["access_token"].as_str().unwrap().to_owned();
    let app = lifecycle_app(&fx, format, &token);
    let source = ZhiyunAuthCodes::new(&app);
    let tokens = TokenManager::new(Arc::clone(&fx.blocking));
    let (auth, user, company) = (
        || fx.count(Endpoint::Authorize, format),
        || fx.count(Endpoint::GetUserInfo, format),
        || fx.count(Endpoint::GetCompanyInfo, format),
    );

    // First call authorizes; the second reuses the cached code.
    let u = tokens
        .call_with_token(&source, |t| app.user_info(&t.access))
        .unwrap();
    assert_eq!(u, expected_user(fx.now_ms()));
    let c = tokens
        .call_with_token(&source, |t| app.company_info(&t.access))
        .unwrap();
    assert_eq!(c, expected_company(fx.now_ms()));
    assert_eq!((auth(), user(), company()), (1, 1, 1));
    let first = tokens.token(&source).unwrap();
    assert_eq!(first.token_type.as_deref(), Some("auth_code"));

    // Eleven minutes later the server has expired it (the client still thinks it fresh):
    // 100020, one authorize, one retry that succeeds.
    fx.sb.advance_clock(Duration::from_secs(660));
    assert_eq!(
        tokens.cached(source_key(&source)).unwrap().access,
        first.access
    );
    let u = tokens
        .call_with_token(&source, |t| app.user_info(&t.access))
        .unwrap();
    assert_eq!(u.nowtime, Some(fx.now_ms() / 1000));
    assert_eq!((auth(), user()), (2, 3));
    let second = tokens.token(&source).unwrap();
    assert_ne!(second.access, first.access);
    assert!(
        fx.sb
            .tokens()
            .lookup(PLATFORM, first.access.expose_secret())
            .is_err()
    );

    // The user's access token expires: 100014, one request, no renewal, no loop.
    fx.sb.revoke(Some(PLATFORM), &token).unwrap();
    for round in 1..=2 {
        let err = tokens
            .call_with_token(&source, |t| app.user_info(&t.access))
            .unwrap_err();
        assert_login_again(&err);
        assert_eq!((auth(), user()), (2, 3 + round), "round {round}");
    }
    // A manager without a cached code: authorize itself answers 100014, once.
    let fresh = TokenManager::new(Arc::clone(&fx.blocking));
    let err = fresh
        .call_with_token(&source, |t| app.user_info(&t.access))
        .unwrap_err();
    assert_login_again(&err);
    assert_eq!((auth(), user()), (3, 5));
}

fn source_key(source: &ZhiyunAuthCodes) -> &kaifang_proto_core::lifecycle::TokenKey {
    use kaifang_proto_core::lifecycle::TokenSource;
    source.key()
}

#[test]
fn lifecycle_async_token_manager() {
    use kaifang_transport_async::TokenManager;
    let fx = fx();
    fx.sb.freeze_clock_at(fx.now_ms());
    let format = Format::Xml;
    let minted = fx.mint("access_token", json!({"user_id": USER_IDS[1]}));
    let token = minted["access_token"].as_str().unwrap().to_owned();
    let app = lifecycle_app(&fx, format, &token);
    let source = Arc::new(ZhiyunAuthCodes::new(&app));
    let auth = || fx.count(Endpoint::Authorize, format);
    let user = || fx.count(Endpoint::GetUserInfo, format);
    runtime().block_on(async {
        let tokens = TokenManager::new(Arc::clone(&fx.asynch));
        let u = tokens
            .call_with_token(&source, |t| app.user_info(&t.access))
            .await
            .unwrap();
        assert_eq!(u, expected_user(fx.now_ms()));
        let u = tokens
            .call_with_token(&source, |t| app.user_info(&t.access))
            .await
            .unwrap();
        assert_eq!(u.username, "li******40");
        assert_eq!((auth(), user()), (1, 2), "the cached code is reused");
        let first = tokens.token(&source).await.unwrap();

        fx.sb.advance_clock(Duration::from_secs(660));
        let c = tokens
            .call_with_token(&source, |t| app.company_info(&t.access))
            .await
            .unwrap();
        assert_eq!(c, expected_company(fx.now_ms()));
        assert_eq!(auth(), 2, "renewed once after 100020");
        assert_eq!(fx.count(Endpoint::GetCompanyInfo, format), 2, "one retry");
        assert_ne!(tokens.token(&source).await.unwrap().access, first.access);

        fx.sb.revoke(Some(PLATFORM), &token).unwrap();
        let err = tokens
            .call_with_token(&source, |t| app.user_info(&t.access))
            .await
            .unwrap_err();
        assert_login_again(&err);
        assert_eq!((auth(), user()), (2, 3), "no renewal, no retry");
    });
}

// ---------------------------------------------------------------------------------------------
// The seed document's request.

/// The `Basic …` header as printed in the seed document (read at run time), if available.
fn seed_header() -> Option<String> {
    let text = kaifang_e2e::seed("001_").unwrap()?;
    let at = text.find("Basic ")?;
    let b64: String = text[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    assert!(text.contains(CLIENT_ID) && text.contains(CLIENT_SECRET));
    assert!(ACCESS_TOKENS.iter().all(|t| text.contains(t)));
    Some(format!("Basic {b64}"))
}

#[test]
fn seed_literal_request_is_ours_and_accepted() {
    if let Some(h) = seed_header() {
        assert_eq!(h, SEED_BASIC, "the seed's header");
    }
    // What the client produces for the seed's inputs at the seed's instant.
    let at_seed = Context::new(
        Arc::new(FrozenClock::from_unix_millis(SEED_T)),
        Arc::new(OsNonce),
    );
    let doc_app = Zhiyun::new(ZhiyunConfig::new(
        "http://auth.xx.dev.com",
        CLIENT_ID,
        CLIENT_SECRET,
        ACCESS_TOKENS[0],
    ))
    .unwrap();
    let req = doc_app.authorize().build(&at_seed).unwrap();
    assert_eq!(req.headers()[http::header::AUTHORIZATION], SEED_BASIC);
    let literal = format!("access_token={}&t_={SEED_T}&p_={SEED_P}", ACCESS_TOKENS[0]);
    assert_eq!(
        req.uri().to_string(),
        format!("http://auth.xx.dev.com/apis/rest/authService/authorize/json?{literal}")
    );

    // The sandbox, frozen at that instant, accepts it: the client's own request through both
    // transports, and the literal request.
    let fx = fx();
    fx.sb.freeze_clock_at(SEED_T);
    let app = fx.app(Format::Json);
    for (transport, code) in fx.both(&app.authorize()) {
        let code = code.unwrap_or_else(|e| panic!("{transport}: {e}"));
        let [(_, user), _] = fx.both(&app.user_info(&code));
        assert_eq!(user.unwrap().nowtime, Some(SEED_T / 1000));
    }
    let literal = raw(
        &fx,
        Endpoint::Authorize,
        Format::Json,
        &literal,
        Some(SEED_BASIC),
    );
    for (transport, data) in fx.both(&literal) {
        assert!(is_code(&data.unwrap().auth_code()), "{transport}");
    }
    let journal = fx.sb.journal();
    let last = journal.last().unwrap();
    let query = last.query.as_deref().unwrap_or_default();
    assert!(query.contains(&format!("t_={SEED_T}&p_=")), "{last:?}");
    assert!(!query.contains(ACCESS_TOKENS[0]), "{last:?}");
}

// ---------------------------------------------------------------------------------------------
// curl interop.

fn curl_json(curl: &std::path::Path, url: &str, header: &str) -> Value {
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "20", "-H"])
        .arg(format!("Authorization: {header}"))
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "curl output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn curl_interop_seed_header() {
    let Some(curl) = kaifang_e2e::require("curl").unwrap() else {
        return;
    };
    let header = seed_header().unwrap_or_else(|| SEED_BASIC.to_owned());
    let fx = fx();
    let token = ACCESS_TOKENS[0];

    let t = u64::try_from(fx.now_ms()).unwrap();
    let url = fx.sb.url(&format!(
        "/apis/rest/authService/authorize/json?access_token={token}&t_={t}&p_={}",
        p_of(t)
    ));
    let v = curl_json(&curl, &url, &header);
    assert_eq!(v["code"], 200, "{v}");
    assert_eq!(v["message"], "ok", "{v}");
    let code = v["data"]["auth_code"].as_str().unwrap().to_owned();
    assert!(is_code(&SecretString::new(code.clone())), "{v}");

    let t = u64::try_from(fx.now_ms()).unwrap();
    let url = fx.sb.url(&format!(
        "/apis/rest/userService/getUserInfo/json?access_token={token}&client_id={CLIENT_ID}&auth_code={code}&t_={t}&p_={}",
        p_of(t)
    ));
    let v = curl_json(&curl, &url, &header);
    assert_eq!(v["code"], 200, "{v}");
    let user: UserInfo = serde_json::from_value(v["data"].clone()).unwrap();
    assert_eq!(
        UserInfo {
            nowtime: None,
            ..user
        },
        tenant::sample_user()
    );
    assert!(v["data"]["status"].is_null(), "{v}");
    assert!(v["data"]["nowtime"].is_i64(), "{v}");

    // And a refusal, as curl sees it: the same code the typed client reports.
    let v = curl_json(&curl, &url.replace(&code, "0000"), &header);
    assert_eq!(v["code"], Code::AuthCodeMissing.value(), "{v}");
    assert_eq!(v["message"], Code::AuthCodeMissing.info().en, "{v}");
    assert!(v["data"].is_null(), "{v}");
}

#[test]
fn sandbox_time_helper_tracks_the_sandbox() {
    let fx = fx();
    fx.sb.freeze_clock_at(SEED_T);
    assert_eq!(
        SandboxTime(Arc::clone(&fx.sb)).now(),
        from_unix_millis(SEED_T)
    );
    assert_eq!(fx.blocking.context().now_millis(), SEED_T);
}
