//! `tianyi`: Tianyi Shilian VCP (天翼视联), thin glue over [`kaifang_proto_tianyi::server`].
//!
//! Every platform route is a signed form `POST` (`apiVersion: 2.0` header; `appId`,
//! `clientType`, `params`, `timestamp`, `version`, `signature`), verified in the real server's
//! order: the header (70012), the public fields (10002) and a known `appId` (30043), the HMAC
//! over the *received* `params` ignoring hex case (10001), decryption of `params` in either hex
//! case (10002), the timestamp within [`TianyiSandboxConfig::timestamp_window_secs`] of the
//! **sandbox clock** (10003). Then the endpoint's own rules:
//!
//! | route | what |
//! |---|---|
//! | `POST /open/oauth/login/getAuthPageUrl` | `callbackUrl` on the app's domain (40104 none configured, 40105 other; an app with a domain also takes an RFC 8252 loopback callback on any port, `http://127.0.0.1:<port>/…` or `http://localhost:<port>/…`, for `kaifang login tianyi`), `state`, `loginClientType` (`10010`/`20100`) → `data`: the URL of the sandbox login page |
//! | `GET /open/oauth/login/authPage?session=…` | the login page (framework [`LoginRequest`], app name shown); Approve → `callbackUrl?authCode=…&errorCode=0&state=…`, Deny → `?errorCode=1&state=…`; `kaifang_auto=approve\|deny` skips the click |
//! | `POST /open/oauth/getAccessToken` | `grantType` must fit the app (30040): `auth_code` + `authCode` (5 minutes, single use, same app, else 30004), `189_code` + `tokenCode` (minted only; 30004), `vcp_189` (platform apps), `refresh_token` / `refresh_vcp_token` + `refreshToken` (30003); platform apps need `enterpriseUser` (30045) → `{accessToken, refreshToken, expiresIn, refreshExpiresIn}` (never encrypted) |
//! | `POST /open/token/device/getReginWithGroupList` | `regionId` (`""` = top) → region nodes with `hasChildren`, `havDevice` |
//! | `POST /open/token/device/getDeviceList` | `regionId`, `pageNo` (≥ 1, default 1), `pageSize` (1..=50, default 10) → `{pageNo, pageSize, total, list}` |
//! | `POST /open/token/device/getAllDeviceListNew` | `cusRegionId`, `hasChildDevices` (0/1), `lastId` (0 first), `pageSize` (1..=50, default 50) → `{lastId, list}`, `lastId = -1` on the last page |
//! | `POST /open/token/device/showDevice` | `deviceCode` → the device (20001 for a code the user does not have) |
//! | `POST /open/token/device/batchDeviceStatus` | `deviceCodes` (1..=20, comma-separated), `queryData` 1 online / 2 cloud storage / 3 binding → `[{deviceCode, status}]` (unknown codes left out) |
//! | `POST /open/token/cloud/getDeviceMediaUrlHls` | `deviceCode`, `expire` (1..=1800 s, default 300), `mediaType` → `{url, expire, deviceCode}` |
//! | any other `POST /open/token/...` or `/open/oauth/...` | after the same verification (and, under `/open/token/`, the token check): **30201 接口不支持**. The sandbox does not echo: a client calling a path it does not emulate learns so instead of trusting made-up data |
//!
//! Every `/open/token/...` call first checks `enterpriseUser` for platform apps (30045), then
//! the `accessToken` (unknown, expired, revoked or another app's → 30002). Business `data` is
//! XXTEA-encrypted (hex) when the request's `version` is `v1.0`, as the platform does for
//! sensitive data; with `1.1` (RSA with the partner's uploaded key, which the sandbox does not
//! have) and every other version it is plain JSON.
//!
//! # Fake data
//! Deterministic, the same for every app and user: [`TianyiSandboxConfig::regions`] top regions
//! `35RR00`, each with two leaf regions `35RR01`, `35RR02`; [`TianyiSandboxConfig::devices`]
//! devices `KFSBX000001`… (numeric `id` = their number) spread round-robin over the leaves;
//! every fourth device is offline, every odd one has cloud storage. Stream URLs are
//! `http://hls.sandbox.kaifang.invalid/live/{deviceCode}/index.m3u8?mediaType=…&expire=…`.
//!
//! # Tokens
//! Access tokens and refresh tokens are 32 alphanumerics; lifetimes 1 day / 7 days for standard
//! apps, 7 days / 30 days for platform apps, each overridable with the lifetimes control (kinds
//! `access_token`, `refresh_token`, `auth_code`). A refresh returns a new access token **and** a
//! new refresh token; the old refresh token is consumed (30003 afterwards). The old access token
//! stays valid until its own expiry by default (callers that have not seen the refresh yet keep
//! working; the platform's documentation does not say otherwise);
//! [`TianyiSandboxConfig::revoke_access_on_refresh`] makes the refresh revoke it instead.
//! The revoke control (`POST /__sandbox/revoke`) works on all of them.
//!
//! # Mint kinds (`POST /__sandbox/mint`, `{"platform":"tianyi","kind":…,"request":{…}}`)
//! * `auth_code`: `{"app_id"?, "user"?}` → `{"authCode", "expiresIn"}`, as if the user had
//!   approved the login page (default app: the seed's `693299085757`, user `sandbox-user`);
//! * `token_code`: the same for the `189_code` grant → `{"tokenCode", "expiresIn"}`;
//! * `access_token`: `{"app_id"?, "user"?}` → the token answer's `data` (both tokens).
//!
//! # Default tenants
//! | appId | secret | kind | callback domain | note |
//! |---|---|---|---|---|
//! | `693299085757` | `88bd97ee5e9949c2bc48efb6e6fa2207` | standard | `http://192.168.140.1:8889` | the seed's app: its own code works with only the host changed |
//! | [`PLATFORM_APP_ID`] | [`PLATFORM_APP_SECRET`] | platform | none | enterprise user [`PLATFORM_ENTERPRISE_USER`] |
//! | [`NO_CALLBACK_APP_ID`] | [`NO_CALLBACK_APP_SECRET`] | standard | none | answers 40104 on `getAuthPageUrl` |

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, Uri, header};
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_tianyi::app::AppKind;
use kaifang_proto_tianyi::codes;
use kaifang_proto_tianyi::params::PrivateParams;
use kaifang_proto_tianyi::server::{self, Refusal, ServerApp, Verified, VerifyOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::login::{LoginRequest, is_loopback_redirect};
use crate::module::{Module, ModuleContext};
use crate::tokens::{Grant, LookupError, NewGrant};

/// The `tianyi` module. Mount it with `Sandbox::builder().module(TianyiModule)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TianyiModule;

/// The seed's app id (standard app).
pub const SEED_APP_ID: &str = "693299085757";
/// The seed's app secret (printed in the seed document).
pub const SEED_APP_SECRET: &str = "88bd97ee5e9949c2bc48efb6e6fa2207";
/// The seed's callback domain (its `callbackUrl`).
pub const SEED_CALLBACK_DOMAIN: &str = "http://192.168.140.1:8889";
/// The built-in platform app's id.
pub const PLATFORM_APP_ID: &str = "800000000189";
/// The built-in platform app's secret.
pub const PLATFORM_APP_SECRET: &str = "5ad1b0c4e7f94d2a9c3e8f6b1a2d4c70";
/// The built-in platform app's enterprise owner (`enterpriseUser`).
pub const PLATFORM_ENTERPRISE_USER: &str = "13800000189";
/// A standard app without a callback domain (40104).
pub const NO_CALLBACK_APP_ID: &str = "800000040104";
/// Its secret.
pub const NO_CALLBACK_APP_SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Path of `getAuthPageUrl`.
pub const AUTH_PAGE_URL_PATH: &str = "/open/oauth/login/getAuthPageUrl";
/// Path of the sandbox login page the `getAuthPageUrl` answer points to.
pub const LOGIN_PAGE_PATH: &str = "/open/oauth/login/authPage";
/// Path of `getAccessToken`.
pub const ACCESS_TOKEN_PATH: &str = "/open/oauth/getAccessToken";

/// Registry kind of access tokens (lifetime control key).
pub const ACCESS_TOKEN: &str = "access_token";
/// Registry kind of refresh tokens.
pub const REFRESH_TOKEN: &str = "refresh_token";
/// Registry kind of authorization codes.
pub const AUTH_CODE: &str = "auth_code";
/// Registry kind of 189 token codes (`189_code` grant).
pub const TOKEN_CODE: &str = "token_code";
/// Registry kind of pending login pages.
pub const LOGIN_SESSION: &str = "login_session";

/// Largest `pageSize` of the device lists.
pub const MAX_PAGE_SIZE: u32 = 50;
/// Most codes per `batchDeviceStatus`.
pub const MAX_BATCH_CODES: usize = 20;
/// Longest stream URL lifetime, seconds.
pub const MAX_MEDIA_EXPIRE: u32 = 1800;

/// 接口不支持: a path the sandbox does not emulate.
pub const UNSUPPORTED: i64 = 30201;
/// 用户无设备权限: a device code the user does not have.
pub const NO_DEVICE_PERMISSION: i64 = 20001;

const LOGIN_SESSION_TTL: Duration = Duration::from_secs(600);
const DEFAULT_USER: &str = "sandbox-user";

/// Standard or platform app, as written in the config (`"standard"` / `"platform"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TianyiAppKind {
    /// 标准应用: a user logs in (`auth_code`, `189_code`).
    #[default]
    Standard,
    /// 平台应用: `vcp_189` and `enterpriseUser` on every call.
    Platform,
}

impl From<TianyiAppKind> for AppKind {
    fn from(k: TianyiAppKind) -> Self {
        match k {
            TianyiAppKind::Standard => AppKind::Standard,
            TianyiAppKind::Platform => AppKind::Platform,
        }
    }
}

/// One app registered in the sandbox's portal.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TianyiSandboxApp {
    /// `appId`.
    pub app_id: String,
    /// `appSecret` (not in `Debug`; shown by `GET /__sandbox/tenants`, a test tool).
    pub app_secret: String,
    /// The name shown on the login page.
    #[serde(default = "default_app_name")]
    pub name: String,
    /// Standard or platform.
    #[serde(default)]
    pub kind: TianyiAppKind,
    /// 授权回调域名 (`protocol://host[:port]`); none → 40104.
    #[serde(default)]
    pub callback_domain: Option<String>,
    /// Enterprise owners (`enterpriseUser`) of a platform app; empty accepts any non-empty one.
    #[serde(default)]
    pub enterprise_users: Vec<String>,
}

impl std::fmt::Debug for TianyiSandboxApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TianyiSandboxApp")
            .field("app_id", &self.app_id)
            .field("app_secret", &"[redacted]")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("callback_domain", &self.callback_domain)
            .field("enterprise_users", &self.enterprise_users)
            .finish()
    }
}

impl TianyiSandboxApp {
    fn server_app(&self) -> ServerApp {
        ServerApp {
            app_id: self.app_id.clone(),
            secret: SecretString::new(self.app_secret.clone()),
            name: self.name.clone(),
            kind: self.kind.into(),
            callback_domain: self.callback_domain.clone(),
            enterprise_users: self.enterprise_users.clone(),
        }
    }
}

/// `[platforms.tianyi]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TianyiSandboxConfig {
    /// The registered apps (default: the seed's app, a platform app, an app without callback
    /// domain).
    #[serde(default = "default_apps")]
    pub apps: Vec<TianyiSandboxApp>,
    /// How far `timestamp` may be from the sandbox clock, seconds (default 600).
    #[serde(default = "default_window")]
    pub timestamp_window_secs: u64,
    /// Authorization-code (and token-code) lifetime, seconds (default 300).
    #[serde(default = "default_code_ttl")]
    pub auth_code_ttl_secs: u64,
    /// Whether a refresh revokes the access token issued with the old refresh token (default
    /// `false`: it stays valid until its own expiry).
    #[serde(default)]
    pub revoke_access_on_refresh: bool,
    /// Top-level fake regions (default 3, at most 99), each with two leaf regions.
    #[serde(default = "default_regions")]
    pub regions: u32,
    /// Fake devices (default 123, at most 100000).
    #[serde(default = "default_devices")]
    pub devices: u32,
}

fn default_app_name() -> String {
    "Tianyi sandbox app".to_owned()
}
fn default_window() -> u64 {
    600
}
fn default_code_ttl() -> u64 {
    300
}
fn default_regions() -> u32 {
    3
}
fn default_devices() -> u32 {
    123
}

fn default_apps() -> Vec<TianyiSandboxApp> {
    vec![
        TianyiSandboxApp {
            app_id: SEED_APP_ID.to_owned(),
            app_secret: SEED_APP_SECRET.to_owned(),
            name: "天翼视联 seed app (sandbox)".to_owned(),
            kind: TianyiAppKind::Standard,
            callback_domain: Some(SEED_CALLBACK_DOMAIN.to_owned()),
            enterprise_users: Vec::new(),
        },
        TianyiSandboxApp {
            app_id: PLATFORM_APP_ID.to_owned(),
            app_secret: PLATFORM_APP_SECRET.to_owned(),
            name: "天翼视联 platform app (sandbox)".to_owned(),
            kind: TianyiAppKind::Platform,
            callback_domain: None,
            enterprise_users: vec![PLATFORM_ENTERPRISE_USER.to_owned()],
        },
        TianyiSandboxApp {
            app_id: NO_CALLBACK_APP_ID.to_owned(),
            app_secret: NO_CALLBACK_APP_SECRET.to_owned(),
            name: "天翼视联 app without callback domain (sandbox)".to_owned(),
            kind: TianyiAppKind::Standard,
            callback_domain: None,
            enterprise_users: Vec::new(),
        },
    ]
}

impl Default for TianyiSandboxConfig {
    fn default() -> Self {
        Self {
            apps: default_apps(),
            timestamp_window_secs: default_window(),
            auth_code_ttl_secs: default_code_ttl(),
            revoke_access_on_refresh: false,
            regions: default_regions(),
            devices: default_devices(),
        }
    }
}

type Ctx = ModuleContext<TianyiSandboxConfig>;

fn find_app<'a>(ctx: &'a Ctx, app_id: &str) -> Option<&'a TianyiSandboxApp> {
    ctx.config().apps.iter().find(|a| a.app_id == app_id)
}

fn to_axum(resp: http::Response<Vec<u8>>) -> Response {
    resp.map(Body::from).into_response()
}

fn refuse(code: i64) -> Refusal {
    Refusal::code(code)
}

fn bad_param(what: &str) -> Refusal {
    refuse(codes::BAD_PARAMS).with_message(format!("参数错误: {what}"))
}

fn lifetimes(kind: AppKind) -> (Duration, Duration) {
    (
        Duration::from_secs(kind.access_ttl_secs()),
        Duration::from_secs(kind.refresh_ttl_secs()),
    )
}

/// Issues a fresh access + refresh pair and returns the token answer's `data`.
fn issue_pair(ctx: &Ctx, app: &ServerApp, subject: &str) -> Value {
    let (access_ttl, refresh_ttl) = lifetimes(app.kind);
    let access = ctx.rng().alphanumeric(32);
    let refresh = ctx.rng().alphanumeric(32);
    let a = ctx.tokens().issue(
        access.clone(),
        NewGrant::new(ACCESS_TOKEN, app.app_id.clone(), access_ttl).subject(subject),
    );
    let r = ctx.tokens().issue(
        refresh.clone(),
        NewGrant::new(REFRESH_TOKEN, app.app_id.clone(), refresh_ttl)
            .subject(subject)
            .meta(json!({ "access": access })),
    );
    server::token_data(&access, &refresh, a.ttl_secs(), r.ttl_secs())
}

fn issue_code(
    ctx: &Ctx,
    kind: &str,
    app_id: &str,
    user: &str,
    callback: Option<&str>,
) -> (String, Grant) {
    let code = ctx.rng().alphanumeric(24);
    let grant = ctx.tokens().issue(
        code.clone(),
        NewGrant::new(
            kind,
            app_id,
            Duration::from_secs(ctx.config().auth_code_ttl_secs),
        )
        .subject(user)
        .meta(json!({ "callbackUrl": callback })),
    );
    (code, grant)
}

/// Single use, and only for its own app: another app's value is left alone and unknown.
fn take(ctx: &Ctx, kind: &str, value: &str, app_id: &str) -> Result<Grant, LookupError> {
    match ctx.tokens().lookup_kind(kind, value) {
        Ok(g) if g.tenant != app_id => Err(LookupError::Unknown),
        Err(LookupError::Unknown) => Err(LookupError::Unknown),
        _ => ctx.tokens().consume(kind, value),
    }
}

fn lookup_message(base: &str, e: LookupError) -> String {
    match e {
        LookupError::Unknown => format!("{base}无效"),
        LookupError::Expired => format!("{base}已过期"),
        LookupError::Revoked => format!("{base}已失效"),
    }
}

async fn open(State(ctx): State<Ctx>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let opts = VerifyOptions {
        timestamp_window_ms: i64::try_from(ctx.config().timestamp_window_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000),
    };
    let verified = server::verify(
        &headers,
        &body,
        ctx.now_millis(),
        |id| find_app(&ctx, id).map(TianyiSandboxApp::server_app),
        opts,
    );
    let (app, v) = match verified {
        Ok(ok) => ok,
        Err(r) => return to_axum(r.to_response()),
    };
    let path = uri.path();
    let result = if path == AUTH_PAGE_URL_PATH {
        auth_page_url(&ctx, &headers, &app, &v)
    } else if path == ACCESS_TOKEN_PATH {
        access_token(&ctx, &app, &v)
    } else if path.starts_with("/open/token/") {
        token_call(&ctx, path, &app, &v)
    } else {
        Err(refuse(UNSUPPORTED))
    };
    match result {
        Ok(resp) => to_axum(resp),
        Err(r) => to_axum(r.to_response()),
    }
}

type Answer = Result<http::Response<Vec<u8>>, Refusal>;

/// The callback check of `getAuthPageUrl`: on the app's callback domain (40104 when it has
/// none, 40105 for another origin), or, for an app that has one, an RFC 8252 loopback callback
/// on any port ([`is_loopback_redirect`]: `http://127.0.0.1:<port>/…`,
/// `http://localhost:<port>/…`), as `kaifang login tianyi` sends.
fn check_callback(app: &ServerApp, callback: &str) -> Result<(), Refusal> {
    let has_domain = app
        .callback_domain
        .as_deref()
        .is_some_and(|d| !d.is_empty());
    if has_domain && is_loopback_redirect(callback) {
        return Ok(());
    }
    server::check_callback(app, callback)
}

fn auth_page_url(ctx: &Ctx, headers: &HeaderMap, app: &ServerApp, v: &Verified) -> Answer {
    let callback = v
        .params
        .get("callbackUrl")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad_param("缺少callbackUrl"))?;
    check_callback(app, callback)?;
    let login_type = v.params.get("loginClientType").unwrap_or("10010");
    if !matches!(login_type, "10010" | "20100" | "") {
        return Err(bad_param("loginClientType"));
    }
    let state = v.params.get("state").unwrap_or("");
    let session = ctx.rng().alphanumeric(32);
    ctx.tokens().issue(
        session.clone(),
        NewGrant::new(LOGIN_SESSION, app.app_id.clone(), LOGIN_SESSION_TTL).meta(json!({
            "callbackUrl": callback,
            "state": state,
            "loginClientType": login_type,
        })),
    );
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', '?', '#', '@', ' ']))
        .unwrap_or("127.0.0.1");
    let url = format!("http://{host}{LOGIN_PAGE_PATH}?session={session}");
    Ok(server::success(app, &v.version, Value::String(url), false))
}

async fn login_page(State(ctx): State<Ctx>, RawQuery(q): RawQuery) -> Response {
    let session = form_urlencoded::parse(q.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "session")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let grant = match ctx.tokens().lookup_kind(LOGIN_SESSION, &session) {
        Ok(g) => g,
        Err(e) => {
            return ControlError::NotFound(format!(
                "tianyi login page: {e} (already decided, older than ten minutes, or never \
                 issued); call getAuthPageUrl again"
            ))
            .into_response();
        }
    };
    let Some(app) = find_app(&ctx, &grant.tenant).cloned() else {
        return ControlError::NotFound("tianyi login page: the app is gone".into()).into_response();
    };
    let text = |k: &str| {
        grant
            .meta
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let callback = text("callbackUrl");
    let state = text("state");
    let approver_ctx = ctx.clone();
    let app_id = app.app_id.clone();
    let cb = callback.clone();
    let sid = session.clone();
    let req = LoginRequest::new(app.name.clone(), callback, move |user: &str| {
        // One login, one code: the session is spent by the decision.
        approver_ctx
            .tokens()
            .consume(LOGIN_SESSION, &sid)
            .map_err(|e| format!("tianyi login: {e}; call getAuthPageUrl again"))?;
        let (code, _) = issue_code(&approver_ctx, AUTH_CODE, &app_id, user, Some(&cb));
        Ok(vec![
            ("authCode".to_owned(), code),
            ("errorCode".to_owned(), "0".to_owned()),
        ])
    })
    .state(Some(state))
    .deny_params(vec![("errorCode".to_owned(), "1".to_owned())]);
    ctx.login().respond(req, q.as_deref())
}

fn access_token(ctx: &Ctx, app: &ServerApp, v: &Verified) -> Answer {
    let grant_type = v
        .params
        .get("grantType")
        .filter(|g| !g.is_empty())
        .ok_or_else(|| bad_param("缺少grantType"))?;
    server::check_grant(app, grant_type)?;
    server::check_enterprise_user(app, &v.params)?;
    let param = |k: &str, code: i64| {
        v.params
            .get(k)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refuse(code).with_message(format!("缺少{k}")))
    };
    let subject = match grant_type {
        "auth_code" | "189_code" => {
            let (name, kind) = if grant_type == "auth_code" {
                ("authCode", AUTH_CODE)
            } else {
                ("tokenCode", TOKEN_CODE)
            };
            let code = param(name, codes::AUTH_CODE_INVALID)?;
            let g = take(ctx, kind, code, &app.app_id).map_err(|e| {
                refuse(codes::AUTH_CODE_INVALID).with_message(lookup_message(name, e))
            })?;
            g.subject.unwrap_or_else(|| DEFAULT_USER.to_owned())
        }
        "vcp_189" => v.params.get("enterpriseUser").unwrap_or("").to_owned(),
        _ => {
            let refresh = param("refreshToken", codes::REFRESH_TOKEN_INVALID)?;
            let g = take(ctx, REFRESH_TOKEN, refresh, &app.app_id).map_err(|e| {
                refuse(codes::REFRESH_TOKEN_INVALID).with_message(lookup_message("refreshToken", e))
            })?;
            if ctx.config().revoke_access_on_refresh
                && let Some(old) = g.meta.get("access").and_then(Value::as_str)
            {
                ctx.tokens().revoke(old);
            }
            g.subject.unwrap_or_else(|| DEFAULT_USER.to_owned())
        }
    };
    let data = issue_pair(ctx, app, &subject);
    Ok(server::success(app, &v.version, data, false))
}

fn token_call(ctx: &Ctx, path: &str, app: &ServerApp, v: &Verified) -> Answer {
    server::check_enterprise_user(app, &v.params)?;
    let token = v.params.get("accessToken").unwrap_or("");
    match ctx.tokens().lookup_kind(ACCESS_TOKEN, token) {
        Ok(g) if g.tenant == app.app_id => {}
        Ok(_) => {
            return Err(refuse(codes::ACCESS_TOKEN_INVALID)
                .with_message(lookup_message("accessToken", LookupError::Unknown)));
        }
        Err(e) => {
            return Err(
                refuse(codes::ACCESS_TOKEN_INVALID).with_message(lookup_message("accessToken", e))
            );
        }
    }
    let world = World::new(ctx.config());
    let p = &v.params;
    let data = match path {
        "/open/token/device/getReginWithGroupList" => {
            world.regions(p.get("regionId").unwrap_or(""))
        }
        "/open/token/device/getDeviceList" => world.device_list(p)?,
        "/open/token/device/getAllDeviceListNew" => world.all_devices(p)?,
        "/open/token/device/showDevice" => world.show_device(p)?,
        "/open/token/device/batchDeviceStatus" => world.batch_status(p)?,
        "/open/token/cloud/getDeviceMediaUrlHls" => world.media_hls(p)?,
        _ => return Err(refuse(UNSUPPORTED)),
    };
    Ok(server::success(app, &v.version, data, true))
}

/// The deterministic fake regions and devices.
struct World {
    regions: u32,
    devices: u32,
}

fn number(p: &PrivateParams, key: &str, default: i64) -> Result<i64, Refusal> {
    match p.get(key).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s.trim().parse().map_err(|_| bad_param(key)),
    }
}

impl World {
    fn new(cfg: &TianyiSandboxConfig) -> Self {
        World {
            regions: cfg.regions.clamp(1, 99),
            devices: cfg.devices.min(100_000),
        }
    }

    fn leaves(&self) -> u32 {
        self.regions * 2
    }

    /// The leaf region of device `n` (1-based): (top index, child index), both 1-based.
    fn leaf_of(&self, n: u32) -> (u32, u32) {
        let leaf = (n - 1) % self.leaves();
        (leaf / 2 + 1, leaf % 2 + 1)
    }

    fn region_id(top: u32, child: u32) -> String {
        format!("35{top:02}{child:02}")
    }

    fn device(&self, n: u32) -> Value {
        let (top, child) = self.leaf_of(n);
        json!({
            "id": n,
            "deviceCode": format!("KFSBX{n:06}"),
            "deviceName": format!("沙箱摄像头{n:03}"),
            "regionId": Self::region_id(top, child),
            "status": i64::from(!n.is_multiple_of(4)),
            "cloudStatus": n % 2,
            "bandStatus": 1,
            "deviceType": "IPC",
            "deviceModel": "KF-SANDBOX-CAM",
        })
    }

    fn code_number(&self, code: &str) -> Option<u32> {
        let n: u32 = code.strip_prefix("KFSBX")?.parse().ok()?;
        (code.len() == 11 && (1..=self.devices).contains(&n)).then_some(n)
    }

    /// Which devices a region id covers: `None` for an unknown region.
    fn in_region(&self, region: &str, with_children: bool) -> Option<Vec<u32>> {
        let all = 1..=self.devices;
        if region.is_empty() {
            return Some(all.collect());
        }
        let (top, child) = self.parse_region(region)?;
        Some(
            all.filter(|&n| {
                let (t, c) = self.leaf_of(n);
                match child {
                    0 => with_children && t == top,
                    c0 => t == top && c == c0,
                }
            })
            .collect(),
        )
    }

    fn parse_region(&self, region: &str) -> Option<(u32, u32)> {
        if region.len() != 6 || !region.starts_with("35") {
            return None;
        }
        let top: u32 = region.get(2..4)?.parse().ok()?;
        let child: u32 = region.get(4..6)?.parse().ok()?;
        ((1..=self.regions).contains(&top) && child <= 2).then_some((top, child))
    }

    fn regions(&self, parent: &str) -> Value {
        let node = |top: u32, child: u32, children: bool| {
            json!({
                "regionId": Self::region_id(top, child),
                "name": if child == 0 { format!("沙箱区域{top}") } else { format!("沙箱区域{top}-{child}") },
                "regionCode": Self::region_id(top, child),
                "hasChildren": i64::from(children),
                "havDevice": 1,
            })
        };
        if parent.is_empty() {
            return Value::Array((1..=self.regions).map(|t| node(t, 0, true)).collect());
        }
        match self.parse_region(parent) {
            Some((top, 0)) => Value::Array((1..=2).map(|c| node(top, c, false)).collect()),
            _ => Value::Array(Vec::new()),
        }
    }

    fn page_size(p: &PrivateParams, default: i64) -> Result<usize, Refusal> {
        let size = number(p, "pageSize", default)?;
        if !(1..=i64::from(MAX_PAGE_SIZE)).contains(&size) {
            return Err(bad_param("pageSize超出范围(1-50)"));
        }
        usize::try_from(size).map_err(|_| bad_param("pageSize"))
    }

    fn device_list(&self, p: &PrivateParams) -> Result<Value, Refusal> {
        let page_no = number(p, "pageNo", 1)?;
        if page_no < 1 {
            return Err(bad_param("pageNo"));
        }
        let size = Self::page_size(p, 10)?;
        let ids = self
            .in_region(p.get("regionId").unwrap_or(""), true)
            .unwrap_or_default();
        let skip = usize::try_from(page_no - 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(size);
        let list: Vec<Value> = ids
            .iter()
            .skip(skip)
            .take(size)
            .map(|&n| self.device(n))
            .collect();
        Ok(json!({"pageNo": page_no, "pageSize": size, "total": ids.len(), "list": list}))
    }

    fn all_devices(&self, p: &PrivateParams) -> Result<Value, Refusal> {
        let with_children = match p.get("hasChildDevices").unwrap_or("") {
            "" | "1" => true,
            "0" => false,
            _ => return Err(bad_param("hasChildDevices")),
        };
        let last_id = number(p, "lastId", 0)?;
        if last_id < 0 {
            return Err(bad_param("lastId"));
        }
        let size = Self::page_size(p, i64::from(MAX_PAGE_SIZE))?;
        let ids = self
            .in_region(p.get("cusRegionId").unwrap_or(""), with_children)
            .unwrap_or_default();
        let rest: Vec<u32> = ids
            .into_iter()
            .filter(|&n| i64::from(n) > last_id)
            .collect();
        let page: Vec<u32> = rest.iter().copied().take(size).collect();
        let next = match page.last() {
            Some(&last) if rest.len() > page.len() => i64::from(last),
            _ => -1,
        };
        let list: Vec<Value> = page.iter().map(|&n| self.device(n)).collect();
        Ok(json!({"lastId": next, "list": list}))
    }

    fn device_by_code(&self, p: &PrivateParams) -> Result<u32, Refusal> {
        let code = p
            .get("deviceCode")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_param("缺少deviceCode"))?;
        self.code_number(code)
            .ok_or_else(|| refuse(NO_DEVICE_PERMISSION))
    }

    fn show_device(&self, p: &PrivateParams) -> Result<Value, Refusal> {
        let n = self.device_by_code(p)?;
        let mut d = self.device(n);
        if let Some(map) = d.as_object_mut() {
            map.insert("channelNum".into(), json!(1));
            map.insert("firmwareVersion".into(), json!("V5.5.0 build 240101"));
            map.insert("longitude".into(), json!(120.0 + f64::from(n) / 1000.0));
            map.insert("latitude".into(), json!(30.0 + f64::from(n) / 1000.0));
        }
        Ok(d)
    }

    fn batch_status(&self, p: &PrivateParams) -> Result<Value, Refusal> {
        let codes_text = p
            .get("deviceCodes")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_param("缺少deviceCodes"))?;
        let list: Vec<&str> = codes_text.split(',').map(str::trim).collect();
        if list.len() > MAX_BATCH_CODES || list.iter().any(|c| c.is_empty()) {
            return Err(bad_param("deviceCodes最多20个"));
        }
        let query = p.get("queryData").filter(|q| !q.is_empty()).unwrap_or("1");
        if !matches!(query, "1" | "2" | "3") {
            return Err(bad_param("queryData"));
        }
        let out: Vec<Value> = list
            .iter()
            .filter_map(|c| self.code_number(c).map(|n| (c, n)))
            .map(|(c, n)| {
                let status = match query {
                    "1" => i64::from(!n.is_multiple_of(4)),
                    "2" => i64::from(n % 2),
                    _ => 1,
                };
                json!({"deviceCode": c, "status": status})
            })
            .collect();
        Ok(Value::Array(out))
    }

    fn media_hls(&self, p: &PrivateParams) -> Result<Value, Refusal> {
        let n = self.device_by_code(p)?;
        let expire = number(p, "expire", 300)?;
        if !(1..=i64::from(MAX_MEDIA_EXPIRE)).contains(&expire) {
            return Err(bad_param("expire超出范围(1-1800)"));
        }
        let media_type = p.get("mediaType").filter(|m| !m.is_empty()).unwrap_or("0");
        if !media_type.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_param("mediaType"));
        }
        let code = format!("KFSBX{n:06}");
        Ok(json!({
            "url": format!("http://hls.sandbox.kaifang.invalid/live/{code}/index.m3u8?mediaType={media_type}&expire={expire}"),
            "expire": expire,
            "deviceCode": code,
        }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintReq {
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

impl Module for TianyiModule {
    type Config = TianyiSandboxConfig;

    fn name(&self) -> &'static str {
        "tianyi"
    }

    fn routes(&self, ctx: Ctx) -> Router {
        Router::new()
            .route(AUTH_PAGE_URL_PATH, post(open))
            .route(ACCESS_TOKEN_PATH, post(open))
            .route(LOGIN_PAGE_PATH, get(login_page))
            .route("/open/oauth/{*rest}", post(open))
            .route("/open/token/{*rest}", post(open))
            .with_state(ctx)
    }

    fn mint_kinds(&self) -> &'static [&'static str] {
        &[AUTH_CODE, TOKEN_CODE, ACCESS_TOKEN]
    }

    fn mint(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        if !self.mint_kinds().contains(&kind) {
            return Err(ControlError::Unsupported {
                platform: self.name().to_owned(),
                kind: kind.to_owned(),
                supported: self.mint_kinds().iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        let request = if request.is_null() {
            json!({})
        } else {
            request
        };
        let r: MintReq = serde_json::from_value(request)
            .map_err(|e| ControlError::BadRequest(format!("request: {e}")))?;
        let app_id = r.app_id.unwrap_or_else(|| SEED_APP_ID.to_owned());
        let Some(app) = find_app(ctx, &app_id) else {
            return Err(ControlError::NotFound(format!(
                "unknown app_id `{app_id}` on platform `tianyi`"
            )));
        };
        let user = r.user.unwrap_or_else(|| match app.kind {
            TianyiAppKind::Platform => app
                .enterprise_users
                .first()
                .cloned()
                .unwrap_or_else(|| DEFAULT_USER.to_owned()),
            TianyiAppKind::Standard => DEFAULT_USER.to_owned(),
        });
        Ok(match kind {
            ACCESS_TOKEN => issue_pair(ctx, &app.server_app(), &user),
            _ => {
                let (code, g) = issue_code(ctx, kind, &app_id, &user, None);
                let field = if kind == AUTH_CODE {
                    "authCode"
                } else {
                    "tokenCode"
                };
                json!({ field: code, "expiresIn": g.ttl_secs() })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::new(&TianyiSandboxConfig::default())
    }

    fn params(s: &str) -> PrivateParams {
        PrivateParams::parse_plain(s)
    }

    #[test]
    fn loopback_callbacks_for_apps_with_a_domain() {
        let apps: Vec<ServerApp> = TianyiSandboxConfig::default()
            .apps
            .iter()
            .map(TianyiSandboxApp::server_app)
            .collect();
        let app = |id: &str| apps.iter().find(|a| a.app_id == id).unwrap();
        let seed = app(SEED_APP_ID);
        for ok in [
            "http://127.0.0.1:53127/callback",
            "http://localhost:8080/cb",
            "http://192.168.140.1:8889/callback",
        ] {
            assert!(check_callback(seed, ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:1/callback",
            "http://127.0.0.1.evil.example/callback",
            "http://evil.example/callback",
        ] {
            assert_eq!(
                check_callback(seed, bad).unwrap_err().code,
                codes::CALLBACK_ILLEGAL,
                "{bad}"
            );
        }
        // No callback domain: still 40104, loopback or not.
        assert_eq!(
            check_callback(app(NO_CALLBACK_APP_ID), "http://127.0.0.1:1/callback")
                .unwrap_err()
                .code,
            codes::CALLBACK_DOMAIN_EMPTY
        );
    }

    #[test]
    fn regions_and_devices_are_consistent() {
        let w = world();
        assert_eq!(w.regions("").as_array().unwrap().len(), 3);
        assert_eq!(w.regions("350100").as_array().unwrap().len(), 2);
        assert!(w.regions("350101").as_array().unwrap().is_empty());
        assert!(w.regions("999999").as_array().unwrap().is_empty());
        let top: usize = (1..=3)
            .map(|t| w.in_region(&World::region_id(t, 0), true).unwrap().len())
            .sum();
        assert_eq!(top, 123);
        assert!(w.in_region("350100", false).unwrap().is_empty());
        let leaves: usize = (1..=3)
            .flat_map(|t| (1..=2).map(move |c| (t, c)))
            .map(|(t, c)| w.in_region(&World::region_id(t, c), false).unwrap().len())
            .sum();
        assert_eq!(leaves, 123);
        assert_eq!(w.code_number("KFSBX000123"), Some(123));
        assert_eq!(w.code_number("KFSBX000124"), None);
        assert_eq!(w.code_number("KFSBX00001"), None);
    }

    #[test]
    fn cursor_walks_every_device_once() {
        let w = world();
        let mut last = 0;
        let mut seen = Vec::new();
        loop {
            let page = w
                .all_devices(&params(&format!("cusRegionId=&lastId={last}&pageSize=50")))
                .unwrap();
            for d in page["list"].as_array().unwrap() {
                seen.push(d["id"].as_u64().unwrap());
            }
            last = page["lastId"].as_i64().unwrap();
            if last == -1 {
                break;
            }
        }
        assert_eq!(seen, (1..=123).collect::<Vec<u64>>());
    }

    #[test]
    fn limits_are_typed_refusals() {
        let w = world();
        assert_eq!(
            w.device_list(&params("pageSize=51")).unwrap_err().code,
            10002
        );
        assert_eq!(w.device_list(&params("pageNo=0")).unwrap_err().code, 10002);
        let page = w.device_list(&params("pageNo=3&pageSize=50")).unwrap();
        assert_eq!(page["list"].as_array().unwrap().len(), 23);
        let many = (1..=21)
            .map(|n| format!("KFSBX{n:06}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            w.batch_status(&params(&format!("deviceCodes={many}")))
                .unwrap_err()
                .code,
            10002
        );
        assert_eq!(
            w.show_device(&params("deviceCode=nope")).unwrap_err().code,
            20001
        );
        assert_eq!(
            w.media_hls(&params("deviceCode=KFSBX000001&expire=1801"))
                .unwrap_err()
                .code,
            10002
        );
    }

    #[test]
    fn config_debug_hides_secrets() {
        let cfg = TianyiSandboxConfig::default();
        let text = format!("{cfg:?}");
        assert!(!text.contains(SEED_APP_SECRET));
        assert!(text.contains(SEED_APP_ID));
    }
}
