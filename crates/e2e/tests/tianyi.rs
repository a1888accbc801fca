//! Tianyi Shilian VCP end to end: our client through BOTH transports (ureq and reqwest) against
//! the in-process sandbox's `tianyi` module, every endpoint, every error code the sandbox can
//! answer, the token lifecycle through both `TokenManager`s, the sandbox controls (clock,
//! lifetimes, revoke, faults, mint), and interop with the seed's own Python program (extracted
//! from the seed document at run time; skipped loudly without a Python that has `xxtea-py` and
//! `requests`, unless `KAIFANG_REQUIRE_EXTERNAL=1`).
//!
//! The clients read the sandbox's own clock (`SandboxTime`), so moving the sandbox clock moves
//! the client's timestamps and token expiries with it, as a real client's clock and the real
//! server's clock move together.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kaifang_e2e::runtime;
use kaifang_proto_core::context::{Clock, Context, FrozenClock, OsNonce, from_unix_millis};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::transport::TransportConfig;
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_tianyi::device::StatusQuery;
use kaifang_proto_tianyi::{
    AuthPageRequest, Case, GetAccessToken, Grant, LoginClientType, PrivateParams, Tianyi,
    TianyiConfig, TianyiTokens, codes, parse_callback, sign_form,
};
use kaifang_sandbox::platforms::tianyi::{
    ACCESS_TOKEN_PATH, AUTH_PAGE_URL_PATH, LOGIN_PAGE_PATH, NO_CALLBACK_APP_ID,
    NO_CALLBACK_APP_SECRET, PLATFORM_APP_ID, PLATFORM_APP_SECRET, PLATFORM_ENTERPRISE_USER,
    SEED_APP_ID, SEED_APP_SECRET, TianyiModule,
};
use kaifang_sandbox::{Config, FaultSpec, Sandbox, SandboxHandle};
use kaifang_transport_async::AsyncClient;
use serde_json::{Value, json};

const CALLBACK: &str = "http://192.168.140.1:8889/after-login";

// ------------------------------------------------------------------------------------------
// Harness

/// The sandbox's clock seen from the client.
#[derive(Debug)]
struct SandboxTime(Arc<SandboxHandle>);

impl Clock for SandboxTime {
    fn now(&self) -> SystemTime {
        from_unix_millis(self.0.clock().now_millis())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Blocking,
    Async,
}

const BOTH: [Via; 2] = [Via::Blocking, Via::Async];

struct Env {
    sb: Arc<SandboxHandle>,
    blocking: Arc<kaifang_transport_blocking::BlockingClient>,
    asynch: Arc<AsyncClient>,
}

fn transport_config() -> TransportConfig {
    TransportConfig {
        learn_skew: false,
        ..TransportConfig::default()
    }
}

impl Env {
    fn new() -> Self {
        Self::with(Sandbox::builder().module(TianyiModule).seed(7))
    }

    fn with(builder: kaifang_sandbox::Builder) -> Self {
        let sb = Arc::new(runtime().block_on(builder.start()).unwrap());
        let ctx = Context::new(Arc::new(SandboxTime(sb.clone())), Arc::new(OsNonce));
        Self::with_ctx(sb, ctx)
    }

    fn with_ctx(sb: Arc<SandboxHandle>, ctx: Context) -> Self {
        let blocking = Arc::new(
            kaifang_transport_blocking::BlockingClient::with_context(
                transport_config(),
                ctx.clone(),
            )
            .unwrap(),
        );
        let asynch = Arc::new(AsyncClient::with_context(transport_config(), ctx).unwrap());
        Env {
            sb,
            blocking,
            asynch,
        }
    }

    /// The same sandbox seen by clients with another context (e.g. a wrong clock).
    fn other_clients(&self, ctx: Context) -> Env {
        Self::with_ctx(self.sb.clone(), ctx)
    }

    fn ctx(&self) -> &Context {
        self.blocking.context()
    }

    fn exec<E: Exchange>(&self, via: Via, e: &E) -> Result<E::Output, Error> {
        match via {
            Via::Blocking => self.blocking.execute(e),
            Via::Async => runtime().block_on(self.asynch.execute(e)),
        }
    }

    fn app(&self, cfg: TianyiConfig) -> Tianyi {
        Tianyi::new(cfg.base_url(self.sb.base_url())).unwrap()
    }

    fn seed_app(&self) -> Tianyi {
        self.app(TianyiConfig::new(SEED_APP_ID, SEED_APP_SECRET))
    }

    fn platform_app(&self) -> Tianyi {
        self.app(
            TianyiConfig::new(PLATFORM_APP_ID, PLATFORM_APP_SECRET)
                .platform(PLATFORM_ENTERPRISE_USER),
        )
    }

    fn count(&self, path: &str) -> u64 {
        self.sb.count(&format!("POST {path}"))
    }

    /// The login page flow with `kaifang_auto`, returning the callback's query string.
    fn login(&self, via: Via, app: &Tianyi, decision: &str) -> (String, String) {
        let page = self
            .exec(
                via,
                &AuthPageRequest::new(app, self.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
            )
            .unwrap();
        let resp = http_get(&format!("{}&kaifang_auto={decision}", page.url));
        assert_eq!(resp.status, 302, "{}", resp.body);
        let location = resp.header("location").unwrap();
        assert!(location.starts_with(CALLBACK), "{location}");
        let query = location.split_once('?').unwrap().1.to_owned();
        (query, page.state)
    }

    fn auth_code(&self, via: Via, app: &Tianyi) -> SecretString {
        let (query, state) = self.login(via, app, "approve");
        parse_callback(&query, &state).unwrap()
    }
}

/// A minimal HTTP/1.1 client (no redirects followed, nothing hidden), for the login page's 302,
/// the control endpoints, and requests our client refuses to build.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn raw_http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let u = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut target = u.path().to_owned();
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut rest = buf[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let eol = i + rest[i..].windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[i..eol]).unwrap().trim(), 16)
                    .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            i = eol + 2 + size + 2;
        }
        rest = out;
    }
    RawResponse {
        status,
        headers,
        body: String::from_utf8(rest).unwrap(),
    }
}

fn http_get(url: &str) -> RawResponse {
    raw_http("GET", url, &[], b"")
}

fn control(sb: &SandboxHandle, method: &str, path: &str, body: &Value) -> RawResponse {
    raw_http(
        method,
        &sb.url(path),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// A request our client would not build (missing header, tampered fields), sent through our
/// transports and parsed by our envelope code, so its error is what a user of kaifang sees.
struct RawTianyi {
    app: Tianyi,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl RawTianyi {
    fn new(app: &Tianyi, path: &str, body: String) -> Self {
        RawTianyi {
            app: app.clone(),
            path: path.to_owned(),
            headers: vec![
                ("apiVersion", "2.0".to_owned()),
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ],
            body,
        }
    }

    fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| *k != name);
        self
    }
}

impl Exchange for RawTianyi {
    type Output = Value;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let mut b = http::Request::post(self.app.url(&self.path));
        for (k, v) in &self.headers {
            b = b.header(*k, v);
        }
        Ok(b.body(self.body.clone().into_bytes()).unwrap())
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Value, Error> {
        kaifang_proto_tianyi::response::data(&self.app, ctx, &resp)
    }
}

/// Replaces one form field of a urlencoded body.
fn set_field(body: &str, key: &str, value: Option<&str>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(body.as_bytes()) {
        if k == key {
            if let Some(v) = value {
                out.append_pair(&k, v);
            }
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

fn field(body: &str, key: &str) -> String {
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .unwrap()
        .1
        .into_owned()
}

fn now_ms(env: &Env) -> u64 {
    u64::try_from(env.sb.clock().now_millis()).unwrap()
}

fn login_params(state: &str) -> PrivateParams {
    PrivateParams::new()
        .with("callbackUrl", CALLBACK)
        .unwrap()
        .with("state", state)
        .unwrap()
        .with("loginClientType", "10010")
        .unwrap()
}

/// Asserts a typed platform error with the code table's hint and class.
#[track_caller]
fn expect_code<T: std::fmt::Debug>(result: Result<T, Error>, code: i64) -> String {
    let info = codes::lookup(code).unwrap_or_else(|| panic!("code {code} not in the table"));
    match result {
        Err(Error::Platform(p)) => {
            assert_eq!(p.platform, "tianyi");
            assert_eq!(p.code, code.to_string(), "{p}");
            assert_eq!(p.hint, Some(info.hint), "{p}");
            assert_eq!(p.class, info.class, "{p}");
            // The Display carries the hint; no secret in it.
            let text = Error::Platform(p.clone()).to_string();
            assert!(text.contains(info.hint));
            for secret in [SEED_APP_SECRET, PLATFORM_APP_SECRET] {
                assert!(!text.contains(secret));
            }
            p.message
        }
        other => panic!("expected tianyi code {code}, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------
// The standard app, every endpoint

fn standard_flow(via: Via) {
    let env = Env::new();
    let app = env.seed_app();

    // getAuthPageUrl → the sandbox login page naming the app.
    let page = env
        .exec(
            via,
            &AuthPageRequest::new(&app, env.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
        )
        .unwrap();
    assert!(
        page.url.starts_with(&env.sb.url(LOGIN_PAGE_PATH)),
        "{}",
        page.url
    );
    let html = http_get(&page.url);
    assert_eq!(html.status, 200);
    assert!(
        html.body.contains("天翼视联 seed app (sandbox)"),
        "{}",
        html.body
    );
    assert!(html.body.contains("id=\"approve\""));

    // Approve (auto) → the callback with authCode, errorCode=0 and the unchanged state.
    let resp = http_get(&format!("{}&kaifang_auto=approve", page.url));
    assert_eq!(resp.status, 302);
    let location = resp.header("location").unwrap().to_owned();
    let query = location.split_once('?').unwrap().1;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(pairs[1], ("errorCode".into(), "0".into()));
    assert_eq!(pairs[2], ("state".into(), page.state.clone()));
    let code = parse_callback(query, &page.state).unwrap();
    assert_eq!(code.expose_secret().len(), 24);
    // The page is spent with its decision.
    assert_eq!(
        http_get(&format!("{}&kaifang_auto=approve", page.url)).status,
        404
    );

    // getAccessToken auth_code → 1 day / 7 days.
    let token = env
        .exec(
            via,
            &GetAccessToken::new(&app, &Grant::AuthCode(code.clone())).unwrap(),
        )
        .unwrap();
    assert_eq!(token.ttl(), Duration::from_secs(86_400));
    let refresh_left = token
        .refresh_expires_at
        .unwrap()
        .duration_since(token.issued_at)
        .unwrap();
    assert_eq!(refresh_left, Duration::from_secs(7 * 86_400));
    assert_eq!(token.access.expose_secret().len(), 32);
    // The code is single use.
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
        ),
        codes::AUTH_CODE_INVALID,
    );

    business_calls(&env, via, &app, &token.access);

    // Refresh rotation: new access AND refresh tokens; the old refresh token is refused.
    let old_refresh = token.refresh.clone().unwrap();
    let fresh = env
        .exec(
            via,
            &GetAccessToken::new(&app, &Grant::RefreshToken(old_refresh.clone())).unwrap(),
        )
        .unwrap();
    assert_ne!(fresh.access, token.access);
    assert_ne!(fresh.refresh.clone().unwrap(), old_refresh);
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::RefreshToken(old_refresh)).unwrap(),
        ),
        codes::REFRESH_TOKEN_INVALID,
    );
    // The new access token works; the old one stays valid until its own expiry (documented).
    env.exec(via, &app.regions(&fresh.access, "").unwrap())
        .unwrap();
    env.exec(via, &app.regions(&token.access, "").unwrap())
        .unwrap();
    // The new refresh token rotates again.
    env.exec(
        via,
        &GetAccessToken::new(&app, &Grant::RefreshToken(fresh.refresh.unwrap())).unwrap(),
    )
    .unwrap();
}

fn business_calls(env: &Env, via: Via, app: &Tianyi, access: &SecretString) {
    let top = env.exec(via, &app.regions(access, "").unwrap()).unwrap();
    assert_eq!(top.len(), 3);
    assert!(top.iter().all(|r| r.has_children && r.has_device));
    let leaves = env
        .exec(via, &app.regions(access, &top[0].region_id).unwrap())
        .unwrap();
    assert_eq!(leaves.len(), 2);
    assert!(leaves.iter().all(|r| !r.has_children));

    // getDeviceList: every page of 50, the last one short.
    let mut listed = Vec::new();
    for page_no in 1..=3 {
        let page = env
            .exec(via, &app.device_list(access, "", page_no, 50).unwrap())
            .unwrap();
        assert_eq!(page.total, Some(123));
        assert_eq!(page.page_no, Some(page_no));
        listed.extend(page.list.into_iter().map(|d| d.device_code));
    }
    assert_eq!(listed.len(), 123);
    let by_region = env
        .exec(
            via,
            &app.device_list(access, &leaves[0].region_id, 1, 50)
                .unwrap(),
        )
        .unwrap();
    assert!(
        by_region
            .list
            .iter()
            .all(|d| d.region_id.as_deref() == Some(leaves[0].region_id.as_str()))
    );

    // getAllDeviceListNew: the cursor to the end (lastId -1).
    let mut cursor = app.all_devices(access, "", true, 20);
    let mut walked = Vec::new();
    let mut calls = 0;
    while let Some(call) = cursor.next_call().unwrap() {
        calls += 1;
        walked.extend(cursor.accept(env.exec(via, &call).unwrap()));
    }
    assert!(cursor.is_done());
    assert_eq!(calls, 7);
    assert_eq!(
        walked
            .iter()
            .map(|d| d.device_code.clone())
            .collect::<Vec<_>>(),
        listed
    );

    // showDevice, batchDeviceStatus (20 codes), getDeviceMediaUrlHls.
    let d = env
        .exec(via, &app.show_device(access, &listed[3]).unwrap())
        .unwrap();
    assert_eq!(d.device_code, listed[3]);
    assert_eq!(d.status, Some(0)); // every fourth device is offline
    let codes20: Vec<&str> = listed.iter().take(20).map(String::as_str).collect();
    let statuses = env
        .exec(
            via,
            &app.batch_device_status(access, &codes20, StatusQuery::Online)
                .unwrap(),
        )
        .unwrap();
    assert_eq!(statuses.len(), 20);
    assert_eq!(
        statuses.iter().filter(|s| s.status == 1).count(),
        15,
        "{statuses:?}"
    );
    let media = env
        .exec(via, &app.media_url_hls(access, &listed[0], 600).unwrap())
        .unwrap();
    assert_eq!(
        media.url,
        format!(
            "http://hls.sandbox.kaifang.invalid/live/{}/index.m3u8?mediaType=0&expire=600",
            listed[0]
        )
    );
    assert_eq!(media.expire, Some(600));
}

#[test]
fn standard_flow_blocking() {
    standard_flow(Via::Blocking);
}

#[test]
fn standard_flow_async() {
    standard_flow(Via::Async);
}

#[test]
fn login_page_deny_and_state_checks() {
    let env = Env::new();
    let app = env.seed_app();
    for via in BOTH {
        let (query, state) = env.login(via, &app, "deny");
        assert!(query.contains("errorCode=1"), "{query}");
        assert!(!query.contains("authCode"));
        let err = parse_callback(&query, &state).unwrap_err();
        assert!(
            matches!(&err, Error::Platform(p) if p.code == "login_refused" && p.hint.is_some()),
            "{err:?}"
        );
        let (query, _) = env.login(via, &app, "approve");
        let err = parse_callback(&query, "another-state-123").unwrap_err();
        assert!(
            matches!(&err, Error::Platform(p) if p.code == "state_mismatch"),
            "{err:?}"
        );
    }
    // Clicking through the real form: POST the decision with the page's login_id.
    let page = env
        .exec(
            Via::Blocking,
            &AuthPageRequest::new(&app, env.ctx(), CALLBACK, LoginClientType::Wap).unwrap(),
        )
        .unwrap();
    let html = http_get(&page.url).body;
    let id = html
        .split("name=\"login_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let form = format!("login_id={id}&decision=approve&user=alice");
    let resp = raw_http(
        "POST",
        &env.sb.url("/__sandbox/login/decision"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(resp.status, 303);
    let query = resp
        .header("location")
        .unwrap()
        .split_once('?')
        .unwrap()
        .1
        .to_owned();
    let code = parse_callback(&query, &page.state).unwrap();
    let grant = env
        .sb
        .tokens()
        .entries("tianyi")
        .into_iter()
        .find(|(v, _)| v == code.expose_secret())
        .unwrap()
        .1;
    assert_eq!(grant.subject.as_deref(), Some("alice"));
}

// ------------------------------------------------------------------------------------------
// The platform app

fn platform_flow(via: Via) {
    let env = Env::new();
    let app = env.platform_app();
    let token = env
        .exec(via, &GetAccessToken::new(&app, &Grant::Vcp189).unwrap())
        .unwrap();
    assert_eq!(token.ttl(), Duration::from_secs(7 * 86_400));
    assert_eq!(
        token
            .refresh_expires_at
            .unwrap()
            .duration_since(token.issued_at)
            .unwrap(),
        Duration::from_secs(30 * 86_400)
    );
    let devices = env
        .exec(via, &app.device_list(&token.access, "", 1, 10).unwrap())
        .unwrap();
    assert_eq!(devices.list.len(), 10);

    // The same app without enterpriseUser (our client refuses to build that: a standard-kind
    // config with the platform app's credentials sends none) → 30045.
    assert!(matches!(
        Tianyi::new(TianyiConfig::new(PLATFORM_APP_ID, PLATFORM_APP_SECRET).platform("")),
        Err(Error::Config(_))
    ));
    let bare = env.app(TianyiConfig::new(PLATFORM_APP_ID, PLATFORM_APP_SECRET));
    expect_code(
        env.exec(via, &bare.regions(&token.access, "").unwrap()),
        codes::ENTERPRISE_USER_MISSING,
    );
    // An enterprise user who is not an owner of the app → 30045 as well.
    let stranger =
        env.app(TianyiConfig::new(PLATFORM_APP_ID, PLATFORM_APP_SECRET).platform("13900000000"));
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&stranger, &Grant::Vcp189).unwrap(),
        ),
        codes::ENTERPRISE_USER_MISSING,
    );
    // Refresh works for platform apps too (plain refresh_token, as the PlatformDemo does).
    let fresh = env
        .exec(
            via,
            &GetAccessToken::new(&app, &Grant::RefreshToken(token.refresh.unwrap())).unwrap(),
        )
        .unwrap();
    assert_eq!(fresh.ttl(), Duration::from_secs(7 * 86_400));
}

#[test]
fn platform_flow_blocking() {
    platform_flow(Via::Blocking);
}

#[test]
fn platform_flow_async() {
    platform_flow(Via::Async);
}

// ------------------------------------------------------------------------------------------
// Every error code

fn error_codes(via: Via) {
    let env = Env::new();
    let app = env.seed_app();
    let platform = env.platform_app();
    let access = {
        let code = env.auth_code(via, &app);
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
        )
        .unwrap()
        .access
    };
    let signed = |a: &Tianyi, params: &PrivateParams| sign_form(a, params, now_ms(&env)).unwrap();

    // 70012: the apiVersion header missing (our client always sends it: raw request).
    let body = signed(&app, &login_params("abcdefghijklmnop")).body;
    expect_code(
        env.exec(
            via,
            &RawTianyi::new(&app, AUTH_PAGE_URL_PATH, body.clone()).without_header("apiVersion"),
        ),
        codes::API_VERSION_MISSING,
    );
    // ... and the same request with the header passes.
    env.exec(via, &RawTianyi::new(&app, AUTH_PAGE_URL_PATH, body.clone()))
        .unwrap();

    // 30043: unknown appId.
    let unknown = env.app(TianyiConfig::new("000000000000", SEED_APP_SECRET));
    expect_code(
        env.exec(
            via,
            &AuthPageRequest::new(&unknown, env.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
        ),
        codes::APP_NOT_FOUND,
    );

    // 10001: a wrong secret; a tampered params (signature kept).
    let wrong = env.app(TianyiConfig::new(
        SEED_APP_ID,
        "ffffffffffffffffffffffffffffffff",
    ));
    expect_code(
        env.exec(
            via,
            &AuthPageRequest::new(&wrong, env.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
        ),
        codes::SIGNATURE_MISMATCH,
    );
    let params = field(&body, "params");
    let flipped = if params.starts_with('0') { "1" } else { "0" };
    let tampered = set_field(&body, "params", Some(&format!("{flipped}{}", &params[1..])));
    expect_code(
        env.exec(via, &RawTianyi::new(&app, AUTH_PAGE_URL_PATH, tampered)),
        codes::SIGNATURE_MISMATCH,
    );

    // 10002: a missing field; params signed correctly but not decryptable.
    expect_code(
        env.exec(
            via,
            &RawTianyi::new(
                &app,
                AUTH_PAGE_URL_PATH,
                set_field(&body, "timestamp", None),
            ),
        ),
        codes::BAD_PARAMS,
    );
    let garbage = {
        let ts = now_ms(&env);
        let good = sign_form(&app, &login_params("x"), ts).unwrap();
        let bad_params = "0123456789abcdef0123456789abcdef";
        let sts = kaifang_sign_core::tianyi::StringToSign {
            app_id: SEED_APP_ID,
            client_type: 3,
            params: bad_params,
            timestamp: ts,
            version: "2.0",
        };
        let sig = kaifang_sign_core::tianyi::TianyiSigner::new(SEED_APP_SECRET.as_bytes())
            .sign(&sts, kaifang_sign_core::hex::HexCase::Lower);
        let sig = sig.as_str();
        let b = set_field(&good.body, "params", Some(bad_params));
        set_field(&b, "signature", Some(sig))
    };
    expect_code(
        env.exec(via, &RawTianyi::new(&app, AUTH_PAGE_URL_PATH, garbage)),
        codes::BAD_PARAMS,
    );

    // 10003: a stale timestamp (a client clock 11 minutes behind the sandbox).
    let stale = env.other_clients(Context::new(
        Arc::new(FrozenClock::from_unix_millis(
            env.sb.clock().now_millis() - 11 * 60 * 1000,
        )),
        Arc::new(OsNonce),
    ));
    expect_code(
        stale.exec(
            via,
            &AuthPageRequest::new(&app, stale.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
        ),
        codes::TIMESTAMP_EXPIRED,
    );

    // 40104 / 40105: the callback domain.
    let no_cb = env.app(TianyiConfig::new(
        NO_CALLBACK_APP_ID,
        NO_CALLBACK_APP_SECRET,
    ));
    expect_code(
        env.exec(
            via,
            &AuthPageRequest::new(&no_cb, env.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
        ),
        codes::CALLBACK_DOMAIN_EMPTY,
    );
    for bad in [
        "http://evil.example:8889/cb",
        "https://192.168.140.1:8889/cb",
        "http://192.168.140.1:8890/",
    ] {
        expect_code(
            env.exec(
                via,
                &AuthPageRequest::new(&app, env.ctx(), bad, LoginClientType::Web).unwrap(),
            ),
            codes::CALLBACK_ILLEGAL,
        );
    }

    // 30040: the grant type against the app type (our client refuses: configs of the other
    // kind with the same credentials).
    assert!(matches!(
        GetAccessToken::new(&app, &Grant::Vcp189),
        Err(Error::Config(_))
    ));
    let seed_as_platform =
        env.app(TianyiConfig::new(SEED_APP_ID, SEED_APP_SECRET).platform("13800000000"));
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&seed_as_platform, &Grant::Vcp189).unwrap(),
        ),
        codes::GRANT_TYPE_MISMATCH,
    );
    let platform_as_standard = env.app(TianyiConfig::new(PLATFORM_APP_ID, PLATFORM_APP_SECRET));
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(
                &platform_as_standard,
                &Grant::AuthCode(SecretString::new("ZyZwY6VXdTV2Y6Gn1wIf7IKt")),
            )
            .unwrap(),
        ),
        codes::GRANT_TYPE_MISMATCH,
    );

    // 30045: platform app without enterpriseUser on getAccessToken.
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(
                &platform_as_standard,
                &Grant::RefreshToken(SecretString::new("x")),
            )
            .unwrap(),
        ),
        codes::ENTERPRISE_USER_MISSING,
    );

    // 30002: unknown, another app's, expired, revoked access tokens.
    let msg = expect_code(
        env.exec(
            via,
            &app.regions(&SecretString::new("A".repeat(32)), "").unwrap(),
        ),
        codes::ACCESS_TOKEN_INVALID,
    );
    assert!(msg.contains("无效"), "{msg}");
    let platform_token = env
        .exec(
            via,
            &GetAccessToken::new(&platform, &Grant::Vcp189).unwrap(),
        )
        .unwrap();
    expect_code(
        env.exec(via, &app.regions(&platform_token.access, "").unwrap()),
        codes::ACCESS_TOKEN_INVALID,
    );
    let revoked = control(
        &env.sb,
        "POST",
        "/__sandbox/revoke",
        &json!({"token": platform_token.access.expose_secret(), "platform": "tianyi"}),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let msg = expect_code(
        env.exec(via, &platform.regions(&platform_token.access, "").unwrap()),
        codes::ACCESS_TOKEN_INVALID,
    );
    assert!(msg.contains("失效"), "{msg}");

    // 30003: unknown refresh token; another app's.
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(
                &app,
                &Grant::RefreshToken(SecretString::new("B".repeat(32))),
            )
            .unwrap(),
        ),
        codes::REFRESH_TOKEN_INVALID,
    );
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::RefreshToken(platform_token.refresh.unwrap()))
                .unwrap(),
        ),
        codes::REFRESH_TOKEN_INVALID,
    );

    // 30004: unknown code; another app's code; an expired code (5 minutes).
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::AuthCode(SecretString::new("C".repeat(24))))
                .unwrap(),
        ),
        codes::AUTH_CODE_INVALID,
    );
    let other = env
        .sb
        .mint("tianyi", "auth_code", json!({"app_id": NO_CALLBACK_APP_ID}))
        .unwrap();
    let other_code = SecretString::new(other["authCode"].as_str().unwrap());
    expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::AuthCode(other_code.clone())).unwrap(),
        ),
        codes::AUTH_CODE_INVALID,
    );
    // ... which stays usable by its own app.
    env.exec(
        via,
        &GetAccessToken::new(&no_cb, &Grant::AuthCode(other_code)).unwrap(),
    )
    .unwrap();
    let code = env.auth_code(via, &app);
    env.sb.advance_clock(Duration::from_secs(301));
    let msg = expect_code(
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
        ),
        codes::AUTH_CODE_INVALID,
    );
    assert!(msg.contains("过期"), "{msg}");

    // 30201: a path the sandbox does not emulate, under /open/token/ and /open/oauth/.
    expect_code(
        env.exec(
            via,
            &app.call(&access, "/open/token/vcpTree/getRegions", &[])
                .unwrap(),
        ),
        30201,
    );
    expect_code(
        env.exec(
            via,
            &RawTianyi::new(&app, "/open/oauth/unknownThing", body_now(&env, &app)),
        ),
        30201,
    );

    // 20001: a device the user does not have.
    expect_code(
        env.exec(via, &app.show_device(&access, "KFSBX999999").unwrap()),
        20001,
    );

    // 10002 for business limits our typed calls refuse to build (sent with the generic call).
    assert!(matches!(
        app.device_list(&access, "", 1, 51),
        Err(Error::Config(_))
    ));
    expect_code(
        env.exec(
            via,
            &app.call(
                &access,
                "/open/token/device/getDeviceList",
                &[("pageSize", "51")],
            )
            .unwrap(),
        ),
        codes::BAD_PARAMS,
    );
    let many = (1..=21)
        .map(|n| format!("KFSBX{n:06}"))
        .collect::<Vec<_>>()
        .join(",");
    expect_code(
        env.exec(
            via,
            &app.call(
                &access,
                "/open/token/device/batchDeviceStatus",
                &[("deviceCodes", &many)],
            )
            .unwrap(),
        ),
        codes::BAD_PARAMS,
    );
    expect_code(
        env.exec(
            via,
            &app.call(&access, "/open/oauth/getAccessToken", &[])
                .unwrap(),
        ),
        codes::BAD_PARAMS,
    );
}

fn body_now(env: &Env, app: &Tianyi) -> String {
    sign_form(app, &login_params("s"), now_ms(env))
        .unwrap()
        .body
}

#[test]
fn error_codes_blocking() {
    error_codes(Via::Blocking);
}

#[test]
fn error_codes_async() {
    error_codes(Via::Async);
}

#[test]
fn raw_wire_answers_are_the_platforms() {
    let env = Env::new();
    let app = env.seed_app();
    let body = body_now(&env, &app);
    // Errors are HTTP 200 with the platform's envelope.
    let r = raw_http(
        "POST",
        &env.sb.url(AUTH_PAGE_URL_PATH),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"code": 70012, "msg": "应用不存在", "data": null})
    );
    let r = raw_http(
        "POST",
        &env.sb.url(AUTH_PAGE_URL_PATH),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("apiVersion", "2.0"),
        ],
        body.as_bytes(),
    );
    let v = r.json();
    assert_eq!(v["code"], 0);
    assert!(v["data"].as_str().unwrap().contains(LOGIN_PAGE_PATH));
    // A wrong method on a platform path is the framework's JSON 405.
    assert_eq!(http_get(&env.sb.url(ACCESS_TOKEN_PATH)).status, 405);
}

// ------------------------------------------------------------------------------------------
// Versions and hex cases

#[test]
fn v1_data_is_encrypted_on_the_wire_and_decrypted_by_the_client() {
    let env = Env::new();
    for via in BOTH {
        for (version, case) in [
            ("v1.0", Case::Lower),
            ("v1.0", Case::Upper),
            ("v2.0", Case::Upper),
            ("1.1", Case::Lower),
        ] {
            let app = env.app(
                TianyiConfig::new(SEED_APP_ID, SEED_APP_SECRET)
                    .version(version)
                    .case(case, case),
            );
            let code = env.auth_code(via, &app);
            let token = env
                .exec(
                    via,
                    &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
                )
                .unwrap();
            let media = env
                .exec(
                    via,
                    &app.media_url_hls(&token.access, "KFSBX000002", 300)
                        .unwrap(),
                )
                .unwrap();
            assert!(media.url.contains("KFSBX000002"));
            // On the wire: hex ciphertext for v1.0, JSON otherwise.
            let raw = env
                .exec(
                    via,
                    &RawTianyi::new(
                        &env.app(TianyiConfig::new(SEED_APP_ID, SEED_APP_SECRET)),
                        "/open/token/device/showDevice",
                        sign_form(
                            &app,
                            &app.token_params(&token.access)
                                .unwrap()
                                .with("deviceCode", "KFSBX000002")
                                .unwrap(),
                            now_ms(&env),
                        )
                        .unwrap()
                        .body,
                    ),
                )
                .unwrap();
            if version == "v1.0" {
                let hex = raw.as_str().unwrap();
                assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{raw}");
            } else {
                assert_eq!(raw["deviceCode"], "KFSBX000002");
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Token lifecycle through both TokenManagers

#[test]
fn token_manager_blocking_platform_app() {
    let env = Env::new();
    let app = env.platform_app();
    let source = TianyiTokens::new(&app);
    let manager = kaifang_transport_blocking::TokenManager::new(env.blocking.clone());
    let call = |m: &kaifang_transport_blocking::TokenManager| {
        m.call_with_token(&source, |t| app.regions(&t.access, "").unwrap())
            .unwrap()
    };
    // Full grant (vcp_189) once, then the cached token.
    assert_eq!(call(&manager).len(), 3);
    assert_eq!(call(&manager).len(), 3);
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 1);
    let first = manager.token(&source).unwrap();

    // Revoked between calls (the HTTP control) → 30002 → expire, refresh, one retry succeeds.
    let r = control(
        &env.sb,
        "POST",
        "/__sandbox/revoke",
        &json!({"token": first.access.expose_secret()}),
    );
    assert_eq!(r.json()["platform"], "tianyi");
    let before = env.count("/open/token/device/getReginWithGroupList");
    assert_eq!(call(&manager).len(), 3);
    assert_eq!(
        env.count("/open/token/device/getReginWithGroupList"),
        before + 2
    );
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 2);
    let second = manager.token(&source).unwrap();
    assert_ne!(second.access, first.access);
    // It was a refresh: the first refresh token is spent.
    assert!(
        env.sb
            .tokens()
            .lookup("tianyi", first.refresh.as_ref().unwrap().expose_secret())
            .is_err()
    );

    // Expiry via the clock: 7 days later the manager refreshes with the refresh token.
    env.sb.advance_clock(Duration::from_secs(7 * 86_400 + 1));
    assert_eq!(call(&manager).len(), 3);
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 3);
    let third = manager.token(&source).unwrap();
    assert_ne!(third.access, second.access);
    assert!(
        env.sb
            .tokens()
            .lookup("tianyi", second.refresh.as_ref().unwrap().expose_secret())
            .is_err()
    );

    // Past the refresh token's 30 days: a full grant again (platform apps need no user).
    env.sb.advance_clock(Duration::from_secs(31 * 86_400));
    assert_eq!(call(&manager).len(), 3);
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 4);
    assert_ne!(manager.token(&source).unwrap().access, third.access);
}

#[test]
fn token_manager_async_platform_app() {
    let env = Env::new();
    let app = env.platform_app();
    let source = Arc::new(TianyiTokens::new(&app));
    let manager = kaifang_transport_async::TokenManager::new(env.asynch.clone());
    let call = || {
        runtime()
            .block_on(manager.call_with_token(&source, |t| app.regions(&t.access, "").unwrap()))
            .unwrap()
    };
    assert_eq!(call().len(), 3);
    assert_eq!(call().len(), 3);
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 1);
    let first = runtime().block_on(manager.token(&source)).unwrap();

    env.sb
        .revoke(Some("tianyi"), first.access.expose_secret())
        .unwrap();
    assert_eq!(call().len(), 3);
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 2);
    let second = runtime().block_on(manager.token(&source)).unwrap();
    assert_ne!(second.access, first.access);
    assert!(
        env.sb
            .tokens()
            .lookup("tianyi", first.refresh.as_ref().unwrap().expose_secret())
            .is_err()
    );

    env.sb.advance_clock(Duration::from_secs(7 * 86_400 + 1));
    assert_eq!(call().len(), 3);
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 3);
    let third = runtime().block_on(manager.token(&source)).unwrap();
    assert_ne!(third.access, second.access);
}

#[test]
fn token_manager_standard_app_needs_a_new_login_after_the_refresh_token() {
    let env = Env::new();
    let app = env.seed_app();
    let code = env.auth_code(Via::Blocking, &app);
    let source = TianyiTokens::new(&app).with_login(Grant::AuthCode(code));
    let manager = kaifang_transport_blocking::TokenManager::new(env.blocking.clone());
    manager
        .call_with_token(&source, |t| app.regions(&t.access, "").unwrap())
        .unwrap();
    // A day later: refreshed with the refresh token.
    env.sb.advance_clock(Duration::from_secs(86_400 + 1));
    manager
        .call_with_token(&source, |t| app.regions(&t.access, "").unwrap())
        .unwrap();
    assert_eq!(env.count(ACCESS_TOKEN_PATH), 2);
    // Eight days later the refresh token is gone too: a standard app needs a new login.
    env.sb.advance_clock(Duration::from_secs(8 * 86_400));
    let err = manager
        .call_with_token(&source, |t| app.regions(&t.access, "").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("login"), "{err}");
}

// ------------------------------------------------------------------------------------------
// Sandbox controls on tianyi

#[test]
fn lifetimes_control_shortens_tianyi_tokens() {
    let env = Env::new();
    let app = env.seed_app();
    for (kind, secs) in [
        ("access_token", 60),
        ("refresh_token", 120),
        ("auth_code", 30),
    ] {
        let r = control(
            &env.sb,
            "PUT",
            "/__sandbox/lifetimes",
            &json!({"platform": "tianyi", "kind": kind, "seconds": secs}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for via in BOTH {
        let code = env.auth_code(via, &app);
        let token = env
            .exec(
                via,
                &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
            )
            .unwrap();
        assert_eq!(token.ttl(), Duration::from_secs(60));
        assert_eq!(
            token
                .refresh_expires_at
                .unwrap()
                .duration_since(token.issued_at)
                .unwrap(),
            Duration::from_secs(120)
        );
        env.sb.advance_clock(Duration::from_secs(61));
        let msg = expect_code(
            env.exec(via, &app.regions(&token.access, "").unwrap()),
            codes::ACCESS_TOKEN_INVALID,
        );
        assert!(msg.contains("过期"), "{msg}");
        env.sb.advance_clock(Duration::from_secs(60));
        expect_code(
            env.exec(
                via,
                &GetAccessToken::new(&app, &Grant::RefreshToken(token.refresh.unwrap())).unwrap(),
            ),
            codes::REFRESH_TOKEN_INVALID,
        );
        let code = env.auth_code(via, &app);
        env.sb.advance_clock(Duration::from_secs(31));
        expect_code(
            env.exec(
                via,
                &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
            ),
            codes::AUTH_CODE_INVALID,
        );
    }
}

#[test]
fn clock_freeze_and_offset_drive_timestamps_and_expiry() {
    let env = Env::new();
    let app = env.seed_app();
    // Frozen in 2023: the client (on the sandbox clock) signs 2023 timestamps and is accepted.
    env.sb.freeze_clock_at(1_700_000_000_000);
    for via in BOTH {
        let code = env.auth_code(via, &app);
        let token = env
            .exec(
                via,
                &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
            )
            .unwrap();
        assert_eq!(
            token.expires_at,
            from_unix_millis(1_700_000_000_000 + 86_400_000)
        );
    }
    // A client on the real clock is now years away from the sandbox: 10003.
    let real = env.other_clients(Context::system());
    expect_code(
        real.exec(
            Via::Async,
            &AuthPageRequest::new(&app, real.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
        ),
        codes::TIMESTAMP_EXPIRED,
    );
    // Offset: one day ahead of the system clock expires a token issued now.
    env.sb.unfreeze_clock();
    let code = env.auth_code(Via::Blocking, &app);
    let token = env
        .exec(
            Via::Blocking,
            &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
        )
        .unwrap();
    env.sb.offset_clock(86_400_000 + 1000);
    expect_code(
        env.exec(Via::Blocking, &app.regions(&token.access, "").unwrap()),
        codes::ACCESS_TOKEN_INVALID,
    );
}

#[test]
fn faults_apply_on_tianyi_paths() {
    let env = Env::new();
    let app = env.platform_app();
    env.sb
        .add_fault(FaultSpec::new(ACCESS_TOKEN_PATH).status(503, "{}").count(2))
        .unwrap();
    for via in BOTH {
        let err = env
            .exec(via, &GetAccessToken::new(&app, &Grant::Vcp189).unwrap())
            .unwrap_err();
        assert!(
            matches!(&err, Error::HttpStatus { status, .. } if status.as_u16() == 503),
            "{err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Retryable);
    }
    for via in BOTH {
        env.exec(via, &GetAccessToken::new(&app, &Grant::Vcp189).unwrap())
            .unwrap();
    }
}

#[test]
fn mint_kinds_and_tenants() {
    let env = Env::new();
    let app = env.seed_app();
    let health = http_get(&env.sb.url("/__sandbox/health")).json();
    let module = health["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "tianyi")
        .unwrap()
        .clone();
    assert_eq!(
        module["mint_kinds"],
        json!(["auth_code", "token_code", "access_token"])
    );
    let tenants = http_get(&env.sb.url("/__sandbox/tenants")).json();
    assert_eq!(tenants["tianyi"]["apps"][0]["app_id"], SEED_APP_ID);
    assert_eq!(tenants["tianyi"]["apps"][1]["kind"], "platform");

    for via in BOTH {
        // auth_code (as if the user approved) and token_code (the 189_code grant).
        let minted = env
            .sb
            .mint("tianyi", "auth_code", json!({"user": "bob"}))
            .unwrap();
        assert_eq!(minted["expiresIn"], 300);
        let code = SecretString::new(minted["authCode"].as_str().unwrap());
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
        )
        .unwrap();
        let minted = control(
            &env.sb,
            "POST",
            "/__sandbox/mint",
            &json!({"platform": "tianyi", "kind": "token_code"}),
        )
        .json();
        let code = SecretString::new(minted["tokenCode"].as_str().unwrap());
        env.exec(
            via,
            &GetAccessToken::new(&app, &Grant::Code189(code)).unwrap(),
        )
        .unwrap();
        // access_token for the platform app: usable at once.
        let minted = env
            .sb
            .mint("tianyi", "access_token", json!({"app_id": PLATFORM_APP_ID}))
            .unwrap();
        assert_eq!(minted["expiresIn"], 7 * 86_400);
        let access = SecretString::new(minted["accessToken"].as_str().unwrap());
        env.exec(via, &env.platform_app().regions(&access, "").unwrap())
            .unwrap();
    }
    assert!(env.sb.mint("tianyi", "nope", json!({})).is_err());
    assert!(
        env.sb
            .mint("tianyi", "auth_code", json!({"app_id": "1"}))
            .is_err()
    );
    assert!(
        env.sb
            .mint("tianyi", "auth_code", json!({"bogus": 1}))
            .is_err()
    );
}

#[test]
fn toml_config_replaces_the_tenants() {
    let toml = r#"
[platforms.tianyi]
timestamp_window_secs = 60
revoke_access_on_refresh = true
regions = 1
devices = 5

[[platforms.tianyi.apps]]
app_id = "111122223333"
app_secret = "0123456789abcdef0123456789abcdef"
name = "My TOML app"
callback_domain = "http://192.168.140.1:8889"
"#;
    let env = Env::with(
        Sandbox::builder()
            .module(TianyiModule)
            .config(Config::from_toml(toml, "tianyi.toml").unwrap()),
    );
    let app = env.app(TianyiConfig::new(
        "111122223333",
        "0123456789abcdef0123456789abcdef",
    ));
    let code = env.auth_code(Via::Async, &app);
    let token = env
        .exec(
            Via::Async,
            &GetAccessToken::new(&app, &Grant::AuthCode(code)).unwrap(),
        )
        .unwrap();
    let all = env
        .exec(
            Via::Async,
            &app.device_list(&token.access, "", 1, 50).unwrap(),
        )
        .unwrap();
    assert_eq!(all.total, Some(5));
    // revoke_access_on_refresh: the old access token dies with the refresh.
    env.exec(
        Via::Async,
        &GetAccessToken::new(&app, &Grant::RefreshToken(token.refresh.unwrap())).unwrap(),
    )
    .unwrap();
    expect_code(
        env.exec(Via::Async, &app.regions(&token.access, "").unwrap()),
        codes::ACCESS_TOKEN_INVALID,
    );
    // The seed app is not configured any more.
    expect_code(
        env.exec(
            Via::Async,
            &AuthPageRequest::new(&env.seed_app(), env.ctx(), CALLBACK, LoginClientType::Web)
                .unwrap(),
        ),
        codes::APP_NOT_FOUND,
    );
    // A window of 60 s.
    let late = env.other_clients(Context::new(
        Arc::new(FrozenClock::from_unix_millis(
            env.sb.clock().now_millis() - 61_000,
        )),
        Arc::new(OsNonce),
    ));
    expect_code(
        late.exec(
            Via::Blocking,
            &AuthPageRequest::new(&app, late.ctx(), CALLBACK, LoginClientType::Web).unwrap(),
        ),
        codes::TIMESTAMP_EXPIRED,
    );
    // A bad field is reported with its path.
    let err = Sandbox::builder()
        .module(TianyiModule)
        .config(Config::from_toml("[platforms.tianyi]\ndevices = \"many\"\n", "bad.toml").unwrap());
    let err = runtime().block_on(err.start()).unwrap_err().to_string();
    assert!(err.contains("devices"), "{err}");
}

// ------------------------------------------------------------------------------------------
// Interop with the seed's own Python program (000_, "完整的参考代码")

/// The seed's complete reference program, as printed in the seed document.
fn seed_program() -> Option<String> {
    let doc = kaifang_e2e::seed("000_").unwrap()?;
    let blocks = kaifang_e2e::code_blocks(&doc, "python");
    let program = blocks
        .into_iter()
        .find(|b| b.contains("def send_post") && b.contains("__main__"))
        .expect("the 完整的参考代码 python block");
    Some(program)
}

/// Replaces `from` by `to`, exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected one {from:?} in the seed program"
    );
    text.replacen(from, to, 1)
}

fn python() -> Option<std::path::PathBuf> {
    kaifang_e2e::python_with(&["xxtea", "requests"]).unwrap()
}

fn run_python(python: &std::path::Path, script: &str, name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("kaifang-tianyi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.py"));
    std::fs::write(&path, script).unwrap();
    let out = std::process::Command::new(python)
        .arg(&path)
        .env("PYTHONIOENCODING", "utf-8")
        .env("NO_PROXY", "*")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Reads `'key': 'value'` or `'key': number` from a printed Python dict.
fn py_dict_field(printed: &str, key: &str) -> String {
    let rest = printed
        .split(&format!("'{key}': "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {key} in {printed}"));
    match rest.strip_prefix('\'') {
        Some(s) => s.split('\'').next().unwrap().to_owned(),
        None => rest.split([',', '}']).next().unwrap().trim().to_owned(),
    }
}

#[test]
fn interop_seed_python_program_gets_a_login_url_from_the_sandbox() {
    let Some(python) = python() else { return };
    let Some(program) = seed_program() else {
        return;
    };
    let env = Env::new();
    // Changed only in its URL and its two typos (api_url → url, repsonse → response).
    let program = replace_once(&program, "https://vcp.21cn.com", env.sb.base_url());
    let program = replace_once(&program, "requests.post(api_url,", "requests.post(url,");
    let program = replace_once(&program, "repsonse = ", "response = ");
    let printed = run_python(&python, &program, "seed000");
    assert_eq!(py_dict_field(&printed, "code"), "0", "{printed}");
    let url = py_dict_field(&printed, "data");
    assert!(url.starts_with(&env.sb.url(LOGIN_PAGE_PATH)), "{printed}");

    // The login page it got works: approve → the seed's callback with a code our client
    // exchanges for a token.
    let resp = http_get(&format!("{url}&kaifang_auto=approve"));
    assert_eq!(resp.status, 302);
    let location = resp.header("location").unwrap();
    assert!(
        location.starts_with("http://192.168.140.1:8889/?authCode="),
        "{location}"
    );
    let query = location.split_once('?').unwrap().1;
    let state = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(state.len(), 16);
    let code = parse_callback(query, &state).unwrap();
    let exchange = GetAccessToken::new(&env.seed_app(), &Grant::AuthCode(code)).unwrap();
    env.exec(Via::Async, &exchange).unwrap();
    expect_code(env.exec(Via::Blocking, &exchange), codes::AUTH_CODE_INVALID);
}

#[test]
fn interop_our_form_body_is_the_seed_pythons_byte_for_byte() {
    let Some(python) = python() else { return };
    let Some(program) = seed_program() else {
        return;
    };
    let state = "abcdefghijklmnop";
    let ts: i64 = 1_700_000_000_000;
    // Load the program unchanged (not as __main__, so it does not send), then call its own
    // functions with time.time patched, and print the body `requests` would send.
    let driver = format!(
        r#"
import time, requests
src = {src}
ns = {{"__name__": "seed000"}}
exec(compile(src, "seed000.py", "exec"), ns)
time.time = lambda: {secs}
state = "{state}"
reqParam = "callbackUrl=%s&state=%s&loginClientType=10010" % (ns["callbackUrl"], state)
param = ns["xxtea"].encrypt(reqParam, ns["appSecret"]).hex()
realParam = ns["public_params"](param)
prepared = requests.Request("POST", ns["url"], data=realParam).prepare()
print(prepared.body)
"#,
        src = serde_json::to_string(&program).unwrap(),
        secs = ts / 1000,
    );
    let python_body = run_python(&python, &driver, "seed000-body");
    let python_body = python_body.trim_end();

    // Our exchange for the seed's inputs at the same instant.
    let app = Tianyi::new(TianyiConfig::new(SEED_APP_ID, SEED_APP_SECRET)).unwrap();
    let login = AuthPageRequest::with_state(
        &app,
        "http://192.168.140.1:8889",
        LoginClientType::Web,
        state.to_owned(),
    )
    .unwrap();
    let ctx = Context::new(
        Arc::new(FrozenClock::from_unix_millis(ts)),
        Arc::new(OsNonce),
    );
    let req = login.build(&ctx).unwrap();
    assert_eq!(std::str::from_utf8(req.body()).unwrap(), python_body);
    assert_eq!(req.headers()["apiVersion"], "2.0");
    // ... and sign_form agrees, with the reference signature of platforms.md §0.4.
    let form = sign_form(
        &app,
        &PrivateParams::new()
            .with("callbackUrl", "http://192.168.140.1:8889")
            .unwrap()
            .with("state", state)
            .unwrap()
            .with("loginClientType", "10010")
            .unwrap(),
        u64::try_from(ts).unwrap(),
    )
    .unwrap();
    assert_eq!(form.body, python_body);
    assert!(python_body.starts_with(
        "signature=7134edd0ae864e3c00072ce39cf6c33efd68b94fb0e7d442061877b62360b376&params=e7f042fd"
    ));
}
