//! `zhiyun`: the Zhiyun (致云) open auth API on its real paths, thin glue over
//! [`kaifang_proto_zhiyun::server`] (the real server's check order, codes, messages and
//! answers, in JSON and XML).
//!
//! | route | what |
//! |---|---|
//! | `GET /apis/rest/authService/authorize/{json,xml}?access_token&t_&p_` | Basic auth → `{"data":{"auth_code":"<40 hex>"},"code":200,"message":"ok"}` |
//! | `GET /apis/rest/userService/getUserInfo/{json,xml}?access_token&client_id&auth_code&t_&p_` | the user behind the access token |
//! | `GET /apis/rest/companyService/getCompanyInfo/{json,xml}?…` | that user's company |
//!
//! Any other path under `/apis/rest/` answers HTTP 404 with the platform's envelope (code 400),
//! another method HTTP 405 (code 400); refusals come with HTTP 200 and the platform's code, in
//! the real order: 601/602 filter, `p_` and the `t_` window (400), 100009, 100002, 100008,
//! 100013, 100014, 100019, 100020, 100018, 100021, 100023 (see the proto crate's
//! [`server`] docs).
//!
//! The default configuration is the seed document's tenant: client `1102084294` (secret
//! `aku8hCyXBd9SqYkT`, scope `getUserInfo,getCompanyInfo`) and its two test access tokens, for
//! users `1152` and `1153` holding the document's (masked) sample user and company. A request
//! copied from the document works against the sandbox with only the host changed (and a `t_`
//! near the sandbox clock, or the clock frozen at the document's `t_`).
//!
//! # Sandbox services
//! * Time is the sandbox clock: freezing or offsetting it moves the `t_` window, the expiry of
//!   access tokens and auth codes, and `nowtime`.
//! * Access tokens (kind `access_token`) and auth codes (kind `auth_code`) live in the token
//!   registry: `PUT /__sandbox/lifetimes` shortens those issued afterwards, `POST
//!   /__sandbox/revoke` revokes either (a revoked access token answers 100014, a revoked code
//!   100019), and an expired one is told apart (100014 / 100020) until the registry forgets it
//!   (the retention, one hour of sandbox time by default; then 100014 / 100019).
//! * The seed's access tokens are issued when the sandbox starts and again on every reset,
//!   living `access_token_ttl_secs` from then (so they are also valid at any earlier sandbox
//!   time, e.g. the document's `t_=1422339152058`).
//! * Faults, journal and counters apply to these paths like to every module's.
//!
//! # Mint kinds
//! * `auth_code`, request `{"client_id"?, "access_token"? | "user_id"?, "scope"?,
//!   "expires_in"?}` (defaults: the first client, the first user, the client's scope, the
//!   auth-code lifetime; `scope` is comma-separated method names, e.g. `"getUserInfo"`;
//!   `expires_in` ≤ 0 gives an already expired code) → `{"auth_code", "client_id", "user_id",
//!   "scope", "expires_in", "expires_at_ms"}`.
//! * `access_token` (a new desktop login), request `{"user_id"?, "access_token"?,
//!   "expires_in"?}` (defaults: the first user, 36 random hex characters, the access-token
//!   lifetime; `expires_in` ≤ 0 gives an already expired token) → `{"access_token", "user_id",
//!   "expires_in", "expires_at_ms"}`.
//!
//! # Configuration (`[platforms.zhiyun]`)
//! ```toml
//! [platforms.zhiyun]
//! access_token_ttl_secs = 7776000  # 90 days ("过期时间一般为3个月")
//! auth_code_ttl_secs = 600         # not public; kaifang's choice
//! timestamp_window_secs = 600      # how far t_ may be from the clock; 0 turns the check off
//!
//! [[platforms.zhiyun.clients]]
//! client_id = "1102084294"
//! client_secret = "aku8hCyXBd9SqYkT"
//! scope = "getUserInfo,getCompanyInfo"  # the default
//!
//! [[platforms.zhiyun.users]]
//! user_id = "1152"
//! access_tokens = ["9106c9fd1e138a042d4aedf94cede7a766e0"]
//! # info = { username = "...", ... } and company = { company_name = "...", ... }:
//! # default to the document's samples
//! ```
//! A section replaces the whole default (list every client and user you need).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use kaifang_proto_core::context::from_unix_millis;
use kaifang_proto_zhiyun::model::{CompanyInfo, UserInfo};
use kaifang_proto_zhiyun::server::{
    self, AccessTokenRecord, AuthCodeRecord, MemoryState, ServerClient, ServerOptions, ServerState,
    split_scope, tenant,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::module::{Module, ModuleContext};
use crate::tokens::{Grant, LookupError, NewGrant, PlatformTokens};

/// The platform name (`[platforms.zhiyun]`, `"platform": "zhiyun"` in the controls).
pub const PLATFORM: &str = "zhiyun";
/// Registry kind (and mint kind) of users' access tokens.
pub const ACCESS_TOKEN: &str = "access_token";
/// Registry kind (and mint kind) of auth codes.
pub const AUTH_CODE: &str = "auth_code";

/// The `zhiyun` module. Holds the server's directory (clients, users, companies) behind a lock;
/// access tokens and auth codes live in the sandbox's token registry.
#[derive(Debug, Clone, Default)]
pub struct ZhiyunModule {
    directory: Arc<Mutex<MemoryState>>,
}

/// One client (`auth_clients`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZhiyunClient {
    /// `client_id` (the Basic user name).
    pub client_id: String,
    /// `client_secret` (the Basic password).
    pub client_secret: String,
    /// Methods its auth codes may call, comma-separated (default `getUserInfo,getCompanyInfo`).
    #[serde(default = "default_scope")]
    pub scope: String,
}

impl fmt::Debug for ZhiyunClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZhiyunClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

/// One user: their desktop-login access tokens and their data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZhiyunUser {
    /// The user id (what an auth code is bound to).
    pub user_id: String,
    /// Access tokens issued at start-up and on reset.
    #[serde(default)]
    pub access_tokens: Vec<String>,
    /// `getUserInfo`'s data (default: the document's sample; `nowtime` is the clock).
    #[serde(default = "tenant::sample_user")]
    pub info: UserInfo,
    /// `getCompanyInfo`'s data (default: the document's sample).
    #[serde(default = "default_company")]
    pub company: Option<CompanyInfo>,
}

impl fmt::Debug for ZhiyunUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZhiyunUser")
            .field("user_id", &self.user_id)
            .field("access_tokens", &self.access_tokens.len())
            .field("info", &self.info)
            .field("company", &self.company.is_some())
            .finish()
    }
}

/// `[platforms.zhiyun]`: the tenants and the lifetimes. Validated when read
/// ([`ZhiyunConfigError`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig", into = "RawConfig")]
pub struct ZhiyunSandboxConfig {
    clients: Vec<ZhiyunClient>,
    users: Vec<ZhiyunUser>,
    access_token_ttl_secs: u64,
    auth_code_ttl_secs: u64,
    timestamp_window_secs: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_clients")]
    clients: Vec<ZhiyunClient>,
    #[serde(default = "default_users")]
    users: Vec<ZhiyunUser>,
    #[serde(default = "default_access_ttl")]
    access_token_ttl_secs: u64,
    #[serde(default = "default_code_ttl")]
    auth_code_ttl_secs: u64,
    #[serde(default = "default_window")]
    timestamp_window_secs: u64,
}

/// A configuration the server cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZhiyunConfigError {
    /// No client or no user.
    #[error("zhiyun: at least one {0} is required")]
    Empty(&'static str),
    /// An empty (or blank) field.
    #[error("zhiyun: {0} must not be empty")]
    Blank(String),
    /// A client id holding `:` cannot be a Basic user name.
    #[error("zhiyun: client_id `{0}` must not contain ':' (it is the HTTP Basic user name)")]
    Colon(String),
    /// The same id or token twice.
    #[error("zhiyun: duplicate {0}")]
    Duplicate(String),
    /// A lifetime of zero.
    #[error("zhiyun: {0} must be at least 1")]
    ZeroLifetime(&'static str),
}

impl TryFrom<RawConfig> for ZhiyunSandboxConfig {
    type Error = ZhiyunConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ZhiyunConfigError> {
        if raw.clients.is_empty() {
            return Err(ZhiyunConfigError::Empty("client"));
        }
        if raw.users.is_empty() {
            return Err(ZhiyunConfigError::Empty("user"));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in raw.clients.iter().enumerate() {
            if c.client_id.trim().is_empty() {
                return Err(ZhiyunConfigError::Blank(format!("clients[{i}].client_id")));
            }
            if c.client_id.contains(':') {
                return Err(ZhiyunConfigError::Colon(c.client_id.clone()));
            }
            if c.client_secret.is_empty() {
                return Err(ZhiyunConfigError::Blank(format!(
                    "clients[{i}].client_secret"
                )));
            }
            if !ids.insert(c.client_id.as_str()) {
                return Err(ZhiyunConfigError::Duplicate(format!(
                    "client_id `{}`",
                    c.client_id
                )));
            }
        }
        let mut users = BTreeSet::new();
        let mut tokens = BTreeSet::new();
        for (i, u) in raw.users.iter().enumerate() {
            if u.user_id.trim().is_empty() {
                return Err(ZhiyunConfigError::Blank(format!("users[{i}].user_id")));
            }
            if !users.insert(u.user_id.as_str()) {
                return Err(ZhiyunConfigError::Duplicate(format!(
                    "user_id `{}`",
                    u.user_id
                )));
            }
            for (j, t) in u.access_tokens.iter().enumerate() {
                if t.trim().is_empty() {
                    return Err(ZhiyunConfigError::Blank(format!(
                        "users[{i}].access_tokens[{j}]"
                    )));
                }
                if !tokens.insert(t.as_str()) {
                    // The token itself is a secret: name its place, not its value.
                    return Err(ZhiyunConfigError::Duplicate(format!(
                        "access token (users[{i}].access_tokens[{j}])"
                    )));
                }
            }
        }
        if raw.access_token_ttl_secs == 0 {
            return Err(ZhiyunConfigError::ZeroLifetime("access_token_ttl_secs"));
        }
        if raw.auth_code_ttl_secs == 0 {
            return Err(ZhiyunConfigError::ZeroLifetime("auth_code_ttl_secs"));
        }
        Ok(ZhiyunSandboxConfig {
            clients: raw.clients,
            users: raw.users,
            access_token_ttl_secs: raw.access_token_ttl_secs,
            auth_code_ttl_secs: raw.auth_code_ttl_secs,
            timestamp_window_secs: raw.timestamp_window_secs,
        })
    }
}

impl From<ZhiyunSandboxConfig> for RawConfig {
    fn from(c: ZhiyunSandboxConfig) -> Self {
        RawConfig {
            clients: c.clients,
            users: c.users,
            access_token_ttl_secs: c.access_token_ttl_secs,
            auth_code_ttl_secs: c.auth_code_ttl_secs,
            timestamp_window_secs: c.timestamp_window_secs,
        }
    }
}

impl Default for ZhiyunSandboxConfig {
    fn default() -> Self {
        ZhiyunSandboxConfig {
            clients: default_clients(),
            users: default_users(),
            access_token_ttl_secs: default_access_ttl(),
            auth_code_ttl_secs: default_code_ttl(),
            timestamp_window_secs: default_window(),
        }
    }
}

impl ZhiyunSandboxConfig {
    /// A configuration from its parts.
    ///
    /// # Errors
    /// [`ZhiyunConfigError`] for no client or user, a blank id, secret or token, a client id
    /// with `:`, a duplicate, or a zero lifetime.
    pub fn new(
        clients: Vec<ZhiyunClient>,
        users: Vec<ZhiyunUser>,
    ) -> Result<Self, ZhiyunConfigError> {
        RawConfig {
            clients,
            users,
            access_token_ttl_secs: default_access_ttl(),
            auth_code_ttl_secs: default_code_ttl(),
            timestamp_window_secs: default_window(),
        }
        .try_into()
    }

    /// The clients.
    #[must_use]
    pub fn clients(&self) -> &[ZhiyunClient] {
        &self.clients
    }

    /// The users.
    #[must_use]
    pub fn users(&self) -> &[ZhiyunUser] {
        &self.users
    }

    /// Default lifetime of access tokens.
    #[must_use]
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// Default lifetime of auth codes.
    #[must_use]
    pub fn auth_code_ttl(&self) -> Duration {
        Duration::from_secs(self.auth_code_ttl_secs)
    }

    /// How far `t_` may be from the sandbox clock (`None`: not checked).
    #[must_use]
    pub fn timestamp_window(&self) -> Option<Duration> {
        (self.timestamp_window_secs > 0).then(|| Duration::from_secs(self.timestamp_window_secs))
    }

    fn client(&self, id: &str) -> Option<&ZhiyunClient> {
        self.clients.iter().find(|c| c.client_id == id)
    }

    fn user(&self, id: &str) -> Option<&ZhiyunUser> {
        self.users.iter().find(|u| u.user_id == id)
    }
}

fn default_scope() -> String {
    tenant::SCOPE.to_owned()
}

#[expect(
    clippy::unnecessary_wraps,
    reason = "a serde default for an Option field"
)]
fn default_company() -> Option<CompanyInfo> {
    Some(tenant::sample_company())
}

fn default_clients() -> Vec<ZhiyunClient> {
    vec![ZhiyunClient {
        client_id: tenant::CLIENT_ID.to_owned(),
        client_secret: tenant::CLIENT_SECRET.to_owned(),
        scope: default_scope(),
    }]
}

fn default_users() -> Vec<ZhiyunUser> {
    tenant::USER_IDS
        .into_iter()
        .zip(tenant::ACCESS_TOKENS)
        .map(|(user_id, token)| ZhiyunUser {
            user_id: user_id.to_owned(),
            access_tokens: vec![token.to_owned()],
            info: tenant::sample_user(),
            company: default_company(),
        })
        .collect()
}

fn default_access_ttl() -> u64 {
    tenant::ACCESS_TOKEN_TTL.as_secs()
}

fn default_code_ttl() -> u64 {
    kaifang_proto_zhiyun::app::DEFAULT_AUTH_CODE_TTL_SECS
}

fn default_window() -> u64 {
    600
}

type Ctx = ModuleContext<ZhiyunSandboxConfig>;

/// The router state.
#[derive(Clone)]
struct Shared {
    ctx: Ctx,
    directory: Arc<Mutex<MemoryState>>,
}

fn lock(m: &Mutex<MemoryState>) -> MutexGuard<'_, MemoryState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Clients, users and companies of `cfg` (tokens and codes are in the registry).
fn directory(cfg: &ZhiyunSandboxConfig) -> MemoryState {
    let mut state = MemoryState::new();
    for c in &cfg.clients {
        state.add_client(ServerClient::new(
            c.client_id.clone(),
            c.client_secret.clone(),
            &c.scope,
        ));
    }
    for u in &cfg.users {
        state.add_user(u.user_id.clone(), u.info.clone(), u.company.clone());
    }
    state
}

/// Issues the configured access tokens, living the access-token lifetime from now.
fn issue_seed_tokens(ctx: &Ctx) {
    let ttl = ctx.config().access_token_ttl();
    for u in &ctx.config().users {
        for t in &u.access_tokens {
            ctx.tokens().issue(
                t.clone(),
                NewGrant::new(ACCESS_TOKEN, u.user_id.clone(), ttl).subject(u.user_id.clone()),
            );
        }
    }
}

/// The proto server's state over the directory and the token registry.
struct Backed<'a> {
    directory: &'a MemoryState,
    tokens: &'a PlatformTokens,
    now: SystemTime,
}

impl Backed<'_> {
    /// An expiry in the past, for a value the registry reports expired.
    fn past(&self) -> SystemTime {
        self.now
            .checked_sub(Duration::from_millis(1))
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

fn subject(g: &Grant) -> String {
    g.subject.clone().unwrap_or_else(|| g.tenant.clone())
}

impl ServerState for Backed<'_> {
    fn client(&self, client_id: &str) -> Option<ServerClient> {
        self.directory.client(client_id)
    }

    fn access_token(&self, access_token: &str) -> Option<AccessTokenRecord> {
        match self.tokens.lookup_kind(ACCESS_TOKEN, access_token) {
            Ok(g) => Some(AccessTokenRecord {
                user_id: subject(&g),
                expires_at: from_unix_millis(g.expires_at_ms),
            }),
            Err(LookupError::Expired) => Some(AccessTokenRecord {
                user_id: String::new(),
                expires_at: self.past(),
            }),
            Err(LookupError::Revoked | LookupError::Unknown) => None,
        }
    }

    fn auth_code(&self, auth_code: &str) -> Option<AuthCodeRecord> {
        match self.tokens.lookup_kind(AUTH_CODE, auth_code) {
            Ok(g) => Some(AuthCodeRecord {
                client_id: g.tenant.clone(),
                user_id: subject(&g),
                expires_at: from_unix_millis(g.expires_at_ms),
                scope: split_scope(g.scope.as_deref().unwrap_or_default()),
            }),
            Err(LookupError::Expired) => Some(AuthCodeRecord {
                client_id: String::new(),
                user_id: String::new(),
                expires_at: self.past(),
                scope: Vec::new(),
            }),
            Err(LookupError::Revoked | LookupError::Unknown) => None,
        }
    }

    fn save_auth_code(&mut self, auth_code: &str, record: AuthCodeRecord) {
        let ttl = record
            .expires_at
            .duration_since(self.now)
            .unwrap_or(Duration::ZERO);
        self.tokens.issue(
            auth_code,
            NewGrant::new(AUTH_CODE, record.client_id, ttl)
                .subject(record.user_id)
                .scope(record.scope.join(",")),
        );
    }

    fn user_info(&self, user_id: &str) -> Option<UserInfo> {
        self.directory.user_info(user_id)
    }

    fn company_info(&self, user_id: &str) -> Option<CompanyInfo> {
        self.directory.company_info(user_id)
    }
}

/// Every route: the proto server decides.
async fn serve(State(s): State<Shared>, req: Request) -> Response {
    let ctx = &s.ctx;
    let now = from_unix_millis(ctx.now_millis());
    let mut entropy = [0u8; 32];
    ctx.rng().fill(&mut entropy);
    let opts = ServerOptions {
        timestamp_window: ctx.config().timestamp_window(),
        auth_code_ttl: ctx.tokens().ttl(AUTH_CODE, ctx.config().auth_code_ttl()),
    };
    let resp = {
        let directory = lock(&s.directory);
        let mut state = Backed {
            directory: &directory,
            tokens: ctx.tokens(),
            now,
        };
        server::handle(&mut state, &req, now, &opts, &entropy)
    };
    resp.map(axum::body::Body::from).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MintCode {
    client_id: Option<String>,
    access_token: Option<String>,
    user_id: Option<String>,
    scope: Option<String>,
    expires_in: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MintToken {
    user_id: Option<String>,
    access_token: Option<String>,
    expires_in: Option<i64>,
}

fn parse_request<T: serde::de::DeserializeOwned + Default>(v: Value) -> Result<T, ControlError> {
    if v.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(v).map_err(|e| ControlError::BadRequest(format!("request: {e}")))
}

/// Issues `value`; an explicit `expires_in` (seconds, may be ≤ 0) wins over every lifetime.
fn issue(ctx: &Ctx, value: &str, grant: NewGrant, expires_in: Option<i64>) -> Grant {
    let stored = ctx.tokens().issue(value, grant);
    match expires_in {
        None => stored,
        Some(secs) => {
            let at = stored
                .issued_at_ms
                .saturating_add(secs.saturating_mul(1000));
            let mut out = stored;
            ctx.tokens().modify(value, |g| g.expires_at_ms = at);
            out.expires_at_ms = at;
            out
        }
    }
}

fn expires_in(g: &Grant) -> i64 {
    g.expires_at_ms.saturating_sub(g.issued_at_ms) / 1000
}

fn mint_code(ctx: &Ctx, r: MintCode) -> Result<Value, ControlError> {
    let cfg = ctx.config();
    let client = match &r.client_id {
        Some(id) => cfg.client(id).ok_or_else(|| {
            ControlError::NotFound(format!("unknown client_id `{id}` on platform `zhiyun`"))
        })?,
        None => cfg
            .clients
            .first()
            .ok_or_else(|| ControlError::NotFound("no client is configured".into()))?,
    };
    let user_id = match (&r.access_token, &r.user_id) {
        (Some(_), Some(_)) => {
            return Err(ControlError::BadRequest(
                "request: give access_token or user_id, not both".into(),
            ));
        }
        (Some(token), None) => ctx
            .tokens()
            .lookup_kind(ACCESS_TOKEN, token)
            .map(|g| subject(&g))
            .map_err(|e| ControlError::NotFound(format!("access_token: {e}")))?,
        (None, Some(id)) => cfg.user(id).map(|u| u.user_id.clone()).ok_or_else(|| {
            ControlError::NotFound(format!("unknown user_id `{id}` on platform `zhiyun`"))
        })?,
        (None, None) => cfg
            .users
            .first()
            .map(|u| u.user_id.clone())
            .ok_or_else(|| ControlError::NotFound("no user is configured".into()))?,
    };
    let scope = r.scope.unwrap_or_else(|| client.scope.clone());
    let scope = split_scope(&scope).join(",");
    let mut entropy = [0u8; 32];
    ctx.rng().fill(&mut entropy);
    let now = from_unix_millis(ctx.now_millis());
    let code = server::mint_auth_code(&entropy, &client.client_id, &user_id, now);
    let grant = issue(
        ctx,
        &code,
        NewGrant::new(AUTH_CODE, client.client_id.clone(), cfg.auth_code_ttl())
            .subject(user_id.clone())
            .scope(scope.clone()),
        r.expires_in,
    );
    Ok(json!({
        "auth_code": code,
        "client_id": client.client_id,
        "user_id": user_id,
        "scope": scope,
        "expires_in": expires_in(&grant),
        "expires_at_ms": grant.expires_at_ms,
    }))
}

fn mint_token(ctx: &Ctx, r: MintToken) -> Result<Value, ControlError> {
    let cfg = ctx.config();
    let user = match &r.user_id {
        Some(id) => cfg.user(id).ok_or_else(|| {
            ControlError::NotFound(format!("unknown user_id `{id}` on platform `zhiyun`"))
        })?,
        None => cfg
            .users
            .first()
            .ok_or_else(|| ControlError::NotFound("no user is configured".into()))?,
    };
    let value = match r.access_token {
        Some(t) if t.trim().is_empty() => {
            return Err(ControlError::BadRequest(
                "access_token: must not be empty".into(),
            ));
        }
        Some(t) => t,
        None => ctx.rng().hex(36),
    };
    let grant = issue(
        ctx,
        &value,
        NewGrant::new(ACCESS_TOKEN, user.user_id.clone(), cfg.access_token_ttl())
            .subject(user.user_id.clone()),
        r.expires_in,
    );
    Ok(json!({
        "access_token": value,
        "user_id": user.user_id,
        "expires_in": expires_in(&grant),
        "expires_at_ms": grant.expires_at_ms,
    }))
}

impl Module for ZhiyunModule {
    type Config = ZhiyunSandboxConfig;

    fn name(&self) -> &'static str {
        PLATFORM
    }

    fn routes(&self, ctx: Ctx) -> Router {
        *lock(&self.directory) = directory(ctx.config());
        issue_seed_tokens(&ctx);
        Router::new()
            .route("/apis/rest/{*path}", any(serve))
            .with_state(Shared {
                ctx,
                directory: Arc::clone(&self.directory),
            })
    }

    /// Client ids with their scopes, user ids with how many access tokens they hold, the
    /// lifetimes; never a secret or a token.
    fn tenants(&self, ctx: &Ctx) -> Value {
        let cfg = ctx.config();
        json!({
            "clients": cfg.clients.iter().map(|c| json!({
                "client_id": c.client_id,
                "scope": split_scope(&c.scope),
            })).collect::<Vec<_>>(),
            "users": cfg.users.iter().map(|u| json!({
                "user_id": u.user_id,
                "access_tokens": u.access_tokens.len(),
                "company": u.company.is_some(),
            })).collect::<Vec<_>>(),
            "access_token_ttl_secs": cfg.access_token_ttl_secs,
            "auth_code_ttl_secs": cfg.auth_code_ttl_secs,
            "timestamp_window_secs": cfg.timestamp_window_secs,
        })
    }

    fn mint_kinds(&self) -> &'static [&'static str] {
        &[AUTH_CODE, ACCESS_TOKEN]
    }

    fn mint(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        match kind {
            AUTH_CODE => mint_code(ctx, parse_request(request)?),
            ACCESS_TOKEN => mint_token(ctx, parse_request(request)?),
            _ => Err(ControlError::Unsupported {
                platform: PLATFORM.to_owned(),
                kind: kind.to_owned(),
                supported: self.mint_kinds().iter().map(|s| (*s).to_owned()).collect(),
            }),
        }
    }

    /// Back to the configuration: the directory rebuilt, the configured access tokens issued
    /// again (the framework has already emptied the registry).
    fn reset(&self, ctx: &Ctx) {
        *lock(&self.directory) = directory(ctx.config());
        issue_seed_tokens(ctx);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::{Config, Sandbox, SandboxHandle};

    const BASIC: &str = "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU";
    const SEED_T: i64 = 1_422_339_152_058;

    async fn start() -> SandboxHandle {
        Sandbox::builder()
            .module(ZhiyunModule::default())
            .seed(3)
            .start()
            .await
            .unwrap()
    }

    fn stamp(now_ms: i64) -> String {
        let t = u64::try_from(now_ms).unwrap();
        format!("t_={t}&p_={}", (t % 10_000) * 3 + 2345)
    }

    async fn get(sb: &SandboxHandle, path_and_query: &str, auth: Option<&str>) -> Value {
        let mut req = reqwest::Client::new().get(sb.url(path_and_query));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
    }

    async fn authorize(sb: &SandboxHandle, token: &str) -> Value {
        let q = stamp(sb.clock_state().now_ms);
        get(
            sb,
            &format!("/apis/rest/authService/authorize/json?access_token={token}&{q}"),
            Some(BASIC),
        )
        .await
    }

    async fn user(sb: &SandboxHandle, token: &str, code: &str) -> Value {
        let q = stamp(sb.clock_state().now_ms);
        get(
            sb,
            &format!(
                "/apis/rest/userService/getUserInfo/json?access_token={token}&client_id={}&auth_code={code}&{q}",
                tenant::CLIENT_ID
            ),
            Some(BASIC),
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seed_request_at_the_seed_instant() {
        let sb = start().await;
        sb.freeze_clock_at(SEED_T);
        let v = get(
            &sb,
            &format!(
                "/apis/rest/authService/authorize/json?access_token={}&t_=1422339152058&p_=8519",
                tenant::ACCESS_TOKENS[0]
            ),
            Some(BASIC),
        )
        .await;
        assert_eq!(v["code"], 200, "{v}");
        let code = v["data"]["auth_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 40);
        let u = user(&sb, tenant::ACCESS_TOKENS[0], &code).await;
        assert_eq!(u["code"], 200, "{u}");
        assert_eq!(u["data"]["username"], "li******40");
        assert_eq!(u["data"]["nowtime"], SEED_T / 1000);
        // The code is in the registry with the client, the user and the scope.
        let g = sb.tokens().lookup(PLATFORM, &code).unwrap();
        assert_eq!(g.kind, AUTH_CODE);
        assert_eq!(g.tenant, tenant::CLIENT_ID);
        assert_eq!(g.subject.as_deref(), Some("1152"));
        assert_eq!(g.scope.as_deref(), Some(tenant::SCOPE));
        assert_eq!(g.ttl_secs(), 600);
        sb.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn controls_revoke_lifetimes_reset() {
        let sb = start().await;
        let token = tenant::ACCESS_TOKENS[0];
        // Lifetime override for auth codes.
        sb.set_token_lifetime(PLATFORM, AUTH_CODE, Some(Duration::from_secs(5)))
            .unwrap();
        let code = authorize(&sb, token).await["data"]["auth_code"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(sb.tokens().lookup(PLATFORM, &code).unwrap().ttl_secs(), 5);
        sb.advance_clock(Duration::from_secs(6));
        assert_eq!(user(&sb, token, &code).await["code"], 100_020);
        // Revoked code → 100019; revoked token → 100014.
        let code = authorize(&sb, token).await["data"]["auth_code"]
            .as_str()
            .unwrap()
            .to_owned();
        sb.revoke(Some(PLATFORM), &code).unwrap();
        assert_eq!(user(&sb, token, &code).await["code"], 100_019);
        sb.revoke(None, token).unwrap();
        assert_eq!(authorize(&sb, token).await["code"], 100_014);
        // Lifetime override for access tokens (a new desktop login).
        sb.set_token_lifetime(PLATFORM, ACCESS_TOKEN, Some(Duration::from_secs(10)))
            .unwrap();
        let short = sb.mint(PLATFORM, ACCESS_TOKEN, json!({})).unwrap();
        assert_eq!(short["expires_in"], 10);
        let short = short["access_token"].as_str().unwrap().to_owned();
        assert_eq!(authorize(&sb, &short).await["code"], 200);
        sb.advance_clock(Duration::from_secs(10));
        assert_eq!(authorize(&sb, &short).await["code"], 100_014);
        // An offset clock moves the t_ window: a t_ from the system clock is refused.
        sb.offset_clock(-3_600_000);
        let system_ms = i64::try_from(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        let v = get(
            &sb,
            &format!(
                "/apis/rest/authService/authorize/json?access_token={}&{}",
                tenant::ACCESS_TOKENS[1],
                stamp(system_ms)
            ),
            Some(BASIC),
        )
        .await;
        assert_eq!(
            (v["code"].as_i64(), v["message"].as_str()),
            (Some(400), Some("Timestamp t_ is out of range"))
        );
        assert_eq!(authorize(&sb, tenant::ACCESS_TOKENS[1]).await["code"], 200);
        // Reset: the seed token works again, minted values are gone.
        let minted = sb.mint(PLATFORM, ACCESS_TOKEN, Value::Null).unwrap();
        let minted = minted["access_token"].as_str().unwrap().to_owned();
        assert_eq!(minted.len(), 36);
        sb.reset();
        assert!(sb.token_lifetimes().is_empty());
        assert_eq!(authorize(&sb, token).await["code"], 200);
        assert_eq!(authorize(&sb, &minted).await["code"], 100_014);
        sb.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mint_kinds_and_errors() {
        let sb = start().await;
        let t = sb
            .mint(
                PLATFORM,
                ACCESS_TOKEN,
                json!({"user_id": "1153", "expires_in": -5}),
            )
            .unwrap();
        assert_eq!(t["expires_in"], -5);
        let expired = t["access_token"].as_str().unwrap().to_owned();
        assert_eq!(authorize(&sb, &expired).await["code"], 100_014);

        let c = sb
            .mint(PLATFORM, AUTH_CODE, json!({"scope": "getUserInfo"}))
            .unwrap();
        assert_eq!(c["user_id"], "1152");
        assert_eq!(c["scope"], "getUserInfo");
        assert_eq!(c["expires_in"], 600);
        let code = c["auth_code"].as_str().unwrap();
        assert_eq!(user(&sb, tenant::ACCESS_TOKENS[0], code).await["code"], 200);
        assert_eq!(
            user(&sb, tenant::ACCESS_TOKENS[1], code).await["code"],
            100_023
        );

        let c = sb
            .mint(
                PLATFORM,
                AUTH_CODE,
                json!({"access_token": tenant::ACCESS_TOKENS[1], "expires_in": 0}),
            )
            .unwrap();
        assert_eq!(c["user_id"], "1153");
        let code = c["auth_code"].as_str().unwrap();
        assert_eq!(
            user(&sb, tenant::ACCESS_TOKENS[1], code).await["code"],
            100_020
        );

        for (kind, req, want) in [
            ("nope", Value::Null, "unsupported"),
            (AUTH_CODE, json!({"client_id": "1"}), "not_found"),
            (AUTH_CODE, json!({"user_id": "1"}), "not_found"),
            (AUTH_CODE, json!({"access_token": "unknown"}), "not_found"),
            (
                AUTH_CODE,
                json!({"user_id": "1152", "access_token": "x"}),
                "bad_request",
            ),
            (AUTH_CODE, json!({"bogus": 1}), "bad_request"),
            (ACCESS_TOKEN, json!({"access_token": " "}), "bad_request"),
            (ACCESS_TOKEN, json!({"expires_in": "soon"}), "bad_request"),
        ] {
            let err = sb.mint(PLATFORM, kind, req.clone()).unwrap_err();
            assert_eq!(err.code(), want, "{kind} {req}: {err}");
        }
        sb.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tenants_hide_secrets() {
        let sb = start().await;
        let text = sb.tenants().to_string();
        assert!(text.contains(tenant::CLIENT_ID), "{text}");
        assert!(!text.contains(tenant::CLIENT_SECRET), "{text}");
        assert!(!text.contains(tenant::ACCESS_TOKENS[0]), "{text}");
        let dbg = format!("{:?}", ZhiyunSandboxConfig::default());
        assert!(!dbg.contains(tenant::CLIENT_SECRET), "{dbg}");
        assert!(!dbg.contains(tenant::ACCESS_TOKENS[0]), "{dbg}");
        // Unknown paths and methods answer in the platform's envelope.
        let v = get(&sb, "/apis/rest/authService/nope/json", Some(BASIC)).await;
        assert_eq!(v["code"], 400);
        let resp = reqwest::Client::new()
            .post(sb.url("/apis/rest/authService/authorize/json"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
        sb.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn config_from_toml_and_bad_values() {
        let toml = r#"
[platforms.zhiyun]
auth_code_ttl_secs = 60
timestamp_window_secs = 0

[[platforms.zhiyun.clients]]
client_id = "2000000001"
client_secret = "s3cret"
scope = "getUserInfo"

[[platforms.zhiyun.users]]
user_id = "7"
access_tokens = ["tok7"]
"#;
        let sb = Sandbox::builder()
            .config(Config::from_toml(toml, "test.toml").unwrap())
            .module(ZhiyunModule::default())
            .start()
            .await
            .unwrap();
        let basic = "Basic MjAwMDAwMDAwMTpzM2NyZXQ="; // 2000000001:s3cret
        // No t_ window: an old t_ passes.
        let v = get(
            &sb,
            "/apis/rest/authService/authorize/json?access_token=tok7&t_=1422339152058&p_=8519",
            Some(basic),
        )
        .await;
        assert_eq!(v["code"], 200, "{v}");
        let code = v["data"]["auth_code"].as_str().unwrap();
        assert_eq!(sb.tokens().lookup(PLATFORM, code).unwrap().ttl_secs(), 60);
        let v = get(
            &sb,
            &format!("/apis/rest/companyService/getCompanyInfo/json?access_token=tok7&client_id=2000000001&auth_code={code}&t_=1&p_=2348"),
            Some(basic),
        )
        .await;
        assert_eq!(v["code"], 100_018, "{v}");
        sb.shutdown().await;

        for (bad, want) in [
            ("[platforms.zhiyun]\nclients = []\n", "at least one client"),
            (
                "[[platforms.zhiyun.clients]]\nclient_id = \"a:b\"\nclient_secret = \"x\"\n",
                "must not contain ':'",
            ),
            (
                "[[platforms.zhiyun.clients]]\nclient_id = \"1\"\nclient_secret = \"\"\n",
                "clients[0].client_secret must not be empty",
            ),
            (
                "[[platforms.zhiyun.users]]\nuser_id = \"1\"\naccess_tokens = [\"t\", \"t\"]\n",
                "duplicate access token",
            ),
            (
                "[platforms.zhiyun]\nauth_code_ttl_secs = 0\n",
                "auth_code_ttl_secs",
            ),
            ("[platforms.zhiyun]\ncolour = 1\n", "colour"),
        ] {
            let err = Sandbox::builder()
                .config(Config::from_toml(bad, "bad.toml").unwrap())
                .module(ZhiyunModule::default())
                .start()
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }
}
