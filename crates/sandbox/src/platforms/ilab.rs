//! `ilab`: the virtual-simulation experiment platform (iLab-x 实验空间 interface v2 and its
//! RONCOO-based clone of seed 004), both profiles at once on their real paths. Thin glue over
//! [`kaifang_proto_ilab::server`]: [`IlabServer::handle`] decides every answer; this module
//! keeps its memory in the sandbox's services.
//!
//! | route (GET or POST; uploads POST) | profile | what |
//! |---|---|---|
//! | `/oauth/token/accesstoken?ticket&appid&signature` | RONCOO | ticket → token (codes 1, 2, 3, 4; −1 for a wrong method) |
//! | `/oauth/token/refreshtoken?refresh_token&appid&signature` | RONCOO | refresh (1, 2, 3, 4; 5 = third refresh, 6 = a refreshed token) |
//! | `/oauth/api/v1/data_upload?access_token` | RONCOO | 数据回传, JSON body (1; 2 expired, 3 invalid, 4 no `callback:score`) |
//! | `/oauth/api/v1/attachment_upload?access_token&appid&originId&filename&title&remarks` | RONCOO | 实验报告上传, raw body (as data_upload; needs a prior data_upload) |
//! | `/open/api/v2/token`, `/open/api/v2/token/refresh`, `/open/api/v2/data_upload`, `/open/api/v2/attachment_upload` | iLab-x v2 | the same; tickets and tokens are base64 with `+ / =`, a refresh sends the access token |
//!
//! The checks, their order and the codes are those of the proto crate's server half (see its
//! module docs). RONCOO tickets and tokens are HS256 JWTs with the seed's claims, signed with
//! [`IlabSandboxConfig::jwt_key`] (default [`DEFAULT_JWT_KEY`]); the access token lives
//! 86,400 s (`expires_in` 86,399), the refresh token 30 days, a minted ticket 30 days, and the
//! original token may be refreshed twice.
//!
//! # Built-in tenants (`[platforms.ilab]` replaces them)
//! | profile | appid | secret | users (`un` / `dis`) |
//! |---|---|---|---|
//! | RONCOO (`/oauth/...`) | `1681600222748241929` (the seed's) | `123456` | `1701808169793138690` / `用户姓名` |
//! | iLab-x v2 (`/open/api/v2/...`) | `105348` | `secret` | `test1` / `贾宝玉` |
//!
//! # Sandbox services
//! * Tickets, access tokens and refresh tokens live in the token registry (kinds `ticket`,
//!   `access_token`, `refresh_token`), so the sandbox clock moves their expiry,
//!   `PUT /__sandbox/lifetimes` changes their lifetimes (taken at issue time; the JWT `exp`,
//!   `expires_in` and the registry agree), `POST /__sandbox/revoke` revokes a token (then
//!   answered 3 on uploads, 4 on refresh) or a ticket (answered 4), and a sandbox reset forgets
//!   them. Faults, the journal and the counters apply as to every route.
//! * Module-private, cleared by a reset: the refresh lineages (how often an original token was
//!   refreshed) and the accepted uploads (bounded: [`IlabSandboxConfig::max_uploads`] records
//!   and [`MAX_STORED_BYTES`] of report bytes; the oldest go first).
//!
//! # Mint kinds (`POST /__sandbox/mint {"platform":"ilab","kind":…,"request":{…}}`)
//! | kind | request | answer |
//! |---|---|---|
//! | `ticket` | `{"appid", "un"?, "dis"?, "value"?, "expires_at_ms"?}` | `{"ticket","ticket_encoded","appid","profile","un","dis","expires_at_ms"}`: what clicking 我要做实验 hands the experiment (`value` registers a given ticket instead, e.g. a seed's) |
//! | `access_token` | `{"appid", "un"?, "dis"?}` | the token endpoint's answer for a fresh ticket (no protocol dance) |
//! | `uploads` | `{"appid"?, "un"?, "origin_id"?, "profile"?}` | `{"count","uploads":[…]}`: the stored uploads, oldest first (inspection) |
//! | `sessions` | `{"appid"?, "profile"?}` | `{"count","sessions":[{"profile","lineage","refreshes","max_refreshes"}]}` (inspection) |
//!
//! `un` defaults to the profile's first user; an unknown `un` needs a `dis`. The inspection
//! kinds are served read-only at `GET /__sandbox/inspect/ilab/{uploads|sessions}?appid=…`
//! (and, for older tests, as mint kinds of the same names).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::{Request, StatusCode};
use kaifang_proto_ilab::Profile;
use kaifang_proto_ilab::app::encode_component;
use kaifang_proto_ilab::auth::signature;
use kaifang_proto_ilab::server::{
    IlabServer, IlabStore, Incoming, LineageRecord, ServerApp, StoredUpload, TicketRecord,
    TokenKind, TokenRecord, UploadContent,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::module::{Module, ModuleContext};
use crate::tokens::{Grant, LookupError, NewGrant, PlatformTokens};

/// The registry kind of a ticket (also its `PUT /__sandbox/lifetimes` kind).
pub const KIND_TICKET: &str = "ticket";
/// The registry kind of an access token.
pub const KIND_ACCESS: &str = "access_token";
/// The registry kind of a refresh token.
pub const KIND_REFRESH: &str = "refresh_token";
/// The mint kind listing the stored uploads.
pub const KIND_UPLOADS: &str = "uploads";
/// The mint kind listing the refresh lineages.
pub const KIND_SESSIONS: &str = "sessions";

/// The default HS256 key of the sandbox's tickets and tokens (a test key, public on purpose:
/// tests verify the JWTs with it).
pub const DEFAULT_JWT_KEY: &str = "kaifang-sandbox-ilab-hs256";
/// The seed's appid (RONCOO profile).
pub const SEED_APPID: &str = "1681600222748241929";
/// The seed's secret.
pub const SEED_SECRET: &str = "123456";
/// The seed's user (`userId` of its ticket).
pub const SEED_USER: &str = "1701808169793138690";
/// The seed's display name.
pub const SEED_DIS: &str = "用户姓名";
/// The built-in iLab-x v2 appid (the one of the reference signature vector).
pub const ILABX_APPID: &str = "105348";
/// The built-in iLab-x v2 secret.
pub const ILABX_SECRET: &str = "secret";
/// The built-in iLab-x v2 user.
pub const ILABX_USER: &str = "test1";
/// Most report bytes kept (all stored attachments together).
pub const MAX_STORED_BYTES: usize = 64 * 1024 * 1024;
/// Most bytes of one report shown by the `uploads` view.
pub const VIEW_BYTES: usize = 64 * 1024;
/// Most refresh lineages kept.
const MAX_LINEAGES: usize = 100_000;

/// The `ilab` module. Holds the module-private state (lineages, uploads); clones share it.
#[derive(Clone, Default)]
pub struct IlabModule {
    state: Arc<Mutex<Private>>,
}

impl fmt::Debug for IlabModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = lock(&self.state);
        f.debug_struct("IlabModule")
            .field("lineages", &p.lineages.len())
            .field("uploads", &p.uploads.len())
            .finish()
    }
}

/// One experiment (app) of a profile.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IlabApp {
    /// APPID.
    pub appid: String,
    /// SECRET (never in `Debug`).
    pub secret: String,
    /// The experiment's name.
    #[serde(default)]
    pub name: String,
}

impl fmt::Debug for IlabApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IlabApp")
            .field("appid", &self.appid)
            .field("secret", &"[redacted]")
            .field("name", &self.name)
            .finish()
    }
}

/// A platform user (who clicks 我要做实验).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IlabUser {
    /// `un` (the ticket's `userId`).
    pub un: String,
    /// `dis`, the display name.
    pub dis: String,
}

/// The apps and users of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IlabProfileConfig {
    /// The experiments.
    #[serde(default)]
    pub apps: Vec<IlabApp>,
    /// The users (the first is the default of `mint`).
    #[serde(default)]
    pub users: Vec<IlabUser>,
}

/// `[platforms.ilab]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IlabSandboxConfig {
    /// The RONCOO clone (`/oauth/...`).
    #[serde(default = "default_roncoo")]
    pub roncoo: IlabProfileConfig,
    /// iLab-x v2 (`/open/api/v2/...`).
    #[serde(default = "default_ilabx")]
    pub ilabx: IlabProfileConfig,
    /// HS256 key of the RONCOO tickets and tokens (never in `Debug`).
    #[serde(default = "default_jwt_key")]
    pub jwt_key: String,
    /// Access-token lifetime, seconds (`expires_in` reports one less).
    #[serde(default = "default_access_ttl")]
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime, seconds.
    #[serde(default = "default_long_ttl")]
    pub refresh_ttl_secs: u64,
    /// Lifetime of minted tickets, seconds.
    #[serde(default = "default_long_ttl")]
    pub ticket_ttl_secs: u64,
    /// Refreshes allowed on an original token.
    #[serde(default = "default_max_refreshes")]
    pub max_refreshes: u8,
    /// Most upload records kept.
    #[serde(default = "default_max_uploads")]
    pub max_uploads: usize,
}

impl fmt::Debug for IlabSandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IlabSandboxConfig")
            .field("roncoo", &self.roncoo)
            .field("ilabx", &self.ilabx)
            .field("jwt_key", &"[redacted]")
            .field("access_ttl_secs", &self.access_ttl_secs)
            .field("refresh_ttl_secs", &self.refresh_ttl_secs)
            .field("ticket_ttl_secs", &self.ticket_ttl_secs)
            .field("max_refreshes", &self.max_refreshes)
            .field("max_uploads", &self.max_uploads)
            .finish()
    }
}

fn default_roncoo() -> IlabProfileConfig {
    IlabProfileConfig {
        apps: vec![IlabApp {
            appid: SEED_APPID.to_owned(),
            secret: SEED_SECRET.to_owned(),
            name: "虚拟仿真实验 (seed 004)".to_owned(),
        }],
        users: vec![IlabUser {
            un: SEED_USER.to_owned(),
            dis: SEED_DIS.to_owned(),
        }],
    }
}

fn default_ilabx() -> IlabProfileConfig {
    IlabProfileConfig {
        apps: vec![IlabApp {
            appid: ILABX_APPID.to_owned(),
            secret: ILABX_SECRET.to_owned(),
            name: "iLab-x v2 实验".to_owned(),
        }],
        users: vec![IlabUser {
            un: ILABX_USER.to_owned(),
            dis: "贾宝玉".to_owned(),
        }],
    }
}

fn default_jwt_key() -> String {
    DEFAULT_JWT_KEY.to_owned()
}

fn default_access_ttl() -> u64 {
    86_400
}

fn default_long_ttl() -> u64 {
    30 * 86_400
}

fn default_max_refreshes() -> u8 {
    2
}

fn default_max_uploads() -> usize {
    1000
}

impl Default for IlabSandboxConfig {
    fn default() -> Self {
        Self {
            roncoo: default_roncoo(),
            ilabx: default_ilabx(),
            jwt_key: default_jwt_key(),
            access_ttl_secs: default_access_ttl(),
            refresh_ttl_secs: default_long_ttl(),
            ticket_ttl_secs: default_long_ttl(),
            max_refreshes: default_max_refreshes(),
            max_uploads: default_max_uploads(),
        }
    }
}

impl IlabSandboxConfig {
    /// The section of `profile`.
    #[must_use]
    pub fn profile(&self, profile: Profile) -> &IlabProfileConfig {
        match profile {
            Profile::Roncoo => &self.roncoo,
            Profile::IlabX => &self.ilabx,
        }
    }

    /// The profile that has the app `appid` (RONCOO first).
    #[must_use]
    pub fn profile_of(&self, appid: &str) -> Option<Profile> {
        [Profile::Roncoo, Profile::IlabX]
            .into_iter()
            .find(|p| self.profile(*p).apps.iter().any(|a| a.appid == appid))
    }
}

type Ctx = ModuleContext<IlabSandboxConfig>;

// ---- module-private state

struct LineageEntry {
    record: LineageRecord,
    expires_at_ms: i64,
}

struct UploadEntry {
    seq: u64,
    profile: Profile,
    upload: StoredUpload,
}

#[derive(Default)]
struct Private {
    lineages: HashMap<(Profile, String), LineageEntry>,
    uploads: VecDeque<UploadEntry>,
    upload_bytes: usize,
    next_seq: u64,
}

fn lock(m: &Mutex<Private>) -> MutexGuard<'_, Private> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn attachment_len(u: &StoredUpload) -> usize {
    match &u.content {
        UploadContent::Attachment(a) => a.bytes.len(),
        UploadContent::Data(_) => 0,
    }
}

impl Private {
    fn put_lineage(&mut self, key: (Profile, String), record: LineageRecord, expires_at_ms: i64) {
        if let Some(e) = self.lineages.get_mut(&key) {
            e.record = record;
            return;
        }
        if self.lineages.len() >= MAX_LINEAGES {
            let now = expires_at_ms.saturating_sub(1);
            self.lineages.retain(|_, e| e.expires_at_ms > now);
            if self.lineages.len() >= MAX_LINEAGES
                && let Some(oldest) = self
                    .lineages
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at_ms)
                    .map(|(k, _)| k.clone())
            {
                self.lineages.remove(&oldest);
            }
        }
        self.lineages.insert(
            key,
            LineageEntry {
                record,
                expires_at_ms,
            },
        );
    }

    fn push_upload(&mut self, profile: Profile, upload: StoredUpload, max_uploads: usize) {
        self.next_seq += 1;
        self.upload_bytes += attachment_len(&upload);
        self.uploads.push_back(UploadEntry {
            seq: self.next_seq,
            profile,
            upload,
        });
        while self.uploads.len() > max_uploads.max(1) || self.upload_bytes > MAX_STORED_BYTES {
            match self.uploads.pop_front() {
                Some(old) => {
                    self.upload_bytes = self
                        .upload_bytes
                        .saturating_sub(attachment_len(&old.upload));
                }
                None => break,
            }
        }
    }
}

// ---- the store over the sandbox's services

#[derive(Serialize, Deserialize)]
struct TicketMeta {
    profile: String,
    dis: String,
    used: bool,
    expires_at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct TokenMeta {
    profile: String,
    dis: String,
    scope: Vec<String>,
    jti: String,
    created_at_ms: i64,
    expires_at_ms: i64,
    lineage: String,
    refreshable: bool,
    revoked: bool,
}

/// [`IlabStore`] over the token registry (tickets, tokens) and the module-private state
/// (lineages, uploads), for one profile.
struct Store<'a> {
    tokens: &'a PlatformTokens,
    profile: Profile,
    private: &'a mut Private,
    now_ms: i64,
    refresh_ttl_ms: i64,
    max_uploads: usize,
}

impl Store<'_> {
    /// The grant of `value` even when expired or revoked (within the retention), and whether
    /// it is revoked.
    fn grant(&self, value: &str) -> Option<(Grant, bool)> {
        match self.tokens.lookup(value) {
            Ok(g) => Some((g, false)),
            Err(LookupError::Unknown) => None,
            Err(e @ (LookupError::Expired | LookupError::Revoked)) => {
                let mut out = None;
                self.tokens.modify(value, |g| out = Some(g.clone()));
                out.map(|g| (g, e == LookupError::Revoked))
            }
        }
    }

    /// Records `value`, keeping the expiry of an entry already held (a ticket marked used, a
    /// token re-stored) rather than re-issuing it.
    fn put(&self, value: String, kind: &str, tenant: &str, subject: &str, meta: Value, exp: i64) {
        let updated = self.tokens.modify(&value, |g| {
            if g.kind == kind {
                g.meta = meta.clone();
            }
        });
        if !updated {
            let ttl_ms = u64::try_from(exp.saturating_sub(self.now_ms)).unwrap_or(0);
            let mut grant = NewGrant::new(kind, tenant, Duration::from_millis(ttl_ms))
                .subject(subject)
                .meta(meta.clone());
            if let Some(scope) = meta.get("scope").and_then(Value::as_array) {
                let s: Vec<&str> = scope.iter().filter_map(Value::as_str).collect();
                grant = grant.scope(s.join(" "));
            }
            self.tokens.issue(value, grant);
        }
    }
}

impl IlabStore for Store<'_> {
    fn ticket(&self, value: &str) -> Option<TicketRecord> {
        let (g, revoked) = self.grant(value)?;
        if g.kind != KIND_TICKET {
            return None;
        }
        let meta: TicketMeta = serde_json::from_value(g.meta).ok()?;
        (meta.profile == self.profile.name()).then(|| TicketRecord {
            appid: g.tenant,
            user_id: g.subject.unwrap_or_default(),
            dis: meta.dis,
            expires_at_ms: meta.expires_at_ms,
            // A revoked ticket is as good as used: 无效ticket (4).
            used: meta.used || revoked,
        })
    }

    fn put_ticket(&mut self, value: String, record: TicketRecord) {
        let meta = TicketMeta {
            profile: self.profile.name().to_owned(),
            dis: record.dis,
            used: record.used,
            expires_at_ms: record.expires_at_ms,
        };
        let meta = serde_json::to_value(meta).unwrap_or(Value::Null);
        self.put(
            value,
            KIND_TICKET,
            &record.appid,
            &record.user_id,
            meta,
            record.expires_at_ms,
        );
    }

    fn token(&self, value: &str) -> Option<TokenRecord> {
        let (g, revoked) = self.grant(value)?;
        let kind = match g.kind.as_str() {
            KIND_ACCESS => TokenKind::Access,
            KIND_REFRESH => TokenKind::Refresh,
            _ => return None,
        };
        let meta: TokenMeta = serde_json::from_value(g.meta).ok()?;
        (meta.profile == self.profile.name()).then(|| TokenRecord {
            kind,
            appid: g.tenant,
            un: g.subject.unwrap_or_default(),
            dis: meta.dis,
            scope: meta.scope,
            jti: meta.jti,
            created_at_ms: meta.created_at_ms,
            expires_at_ms: meta.expires_at_ms,
            lineage: meta.lineage,
            refreshable: meta.refreshable,
            revoked: meta.revoked || revoked,
        })
    }

    fn put_token(&mut self, value: String, record: TokenRecord) {
        let kind = match record.kind {
            TokenKind::Access => KIND_ACCESS,
            TokenKind::Refresh => KIND_REFRESH,
        };
        let meta = TokenMeta {
            profile: self.profile.name().to_owned(),
            dis: record.dis,
            scope: record.scope,
            jti: record.jti,
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
            lineage: record.lineage,
            refreshable: record.refreshable,
            revoked: record.revoked,
        };
        let meta = serde_json::to_value(meta).unwrap_or(Value::Null);
        self.put(
            value,
            kind,
            &record.appid,
            &record.un,
            meta,
            record.expires_at_ms,
        );
    }

    fn lineage(&self, id: &str) -> Option<LineageRecord> {
        self.private
            .lineages
            .get(&(self.profile, id.to_owned()))
            .map(|e| e.record.clone())
    }

    fn put_lineage(&mut self, id: String, record: LineageRecord) {
        let expires = self.now_ms.saturating_add(self.refresh_ttl_ms);
        self.private
            .put_lineage((self.profile, id), record, expires);
    }

    fn has_data_upload(&self, appid: &str, un: &str, origin_id: &str) -> bool {
        self.private.uploads.iter().any(|e| {
            e.profile == self.profile
                && matches!(e.upload.content, UploadContent::Data(_))
                && e.upload.appid == appid
                && e.upload.un == un
                && e.upload.origin_id == origin_id
        })
    }

    fn push_upload(&mut self, upload: StoredUpload) {
        self.private
            .push_upload(self.profile, upload, self.max_uploads);
    }
}

// ---- servers and routes

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The proto server of `profile` with the configured apps and the lifetimes in force (control
/// overrides win).
fn server(ctx: &Ctx, profile: Profile) -> IlabServer {
    let cfg = ctx.config();
    let tokens = ctx.tokens();
    let mut s = IlabServer::new(profile, cfg.jwt_key.as_bytes());
    for app in &cfg.profile(profile).apps {
        s = s.with_app(ServerApp::new(&app.appid, &app.secret, &app.name));
    }
    s.access_ttl_secs = secs(tokens.ttl(KIND_ACCESS, Duration::from_secs(cfg.access_ttl_secs)));
    s.refresh_ttl_secs = secs(tokens.ttl(KIND_REFRESH, Duration::from_secs(cfg.refresh_ttl_secs)));
    s.ticket_ttl_secs = secs(tokens.ttl(KIND_TICKET, Duration::from_secs(cfg.ticket_ttl_secs)));
    s.max_refreshes = cfg.max_refreshes;
    s
}

#[derive(Clone)]
struct Shared {
    ctx: Ctx,
    state: Arc<Mutex<Private>>,
    profile: Profile,
}

impl Shared {
    /// Runs `f` with the profile's server, a proto context on the sandbox clock, and the store.
    /// The module lock is held throughout: a ticket is redeemed once even under concurrency.
    fn with_store<T>(
        &self,
        f: impl FnOnce(&IlabServer, &kaifang_proto_core::context::Context, &mut Store<'_>) -> T,
    ) -> T {
        let server = server(&self.ctx, self.profile);
        let pctx = self.ctx.proto_context();
        let mut private = lock(&self.state);
        let mut store = Store {
            tokens: self.ctx.tokens(),
            profile: self.profile,
            private: &mut private,
            now_ms: self.ctx.now_millis(),
            refresh_ttl_ms: server.refresh_ttl_secs.saturating_mul(1000),
            max_uploads: self.ctx.config().max_uploads,
        };
        f(&server, &pctx, &mut store)
    }
}

async fn serve(State(shared): State<Shared>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    // The framework already bounded the body (`max_body_bytes`).
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": 1, "msg": "参数错误: unreadable body"})),
        )
            .into_response();
    };
    let incoming = Incoming {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &bytes,
    };
    let answer = shared.with_store(|server, pctx, store| server.handle(store, pctx, &incoming));
    match answer {
        Some(resp) => resp.map(Body::from).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": -1, "msg": "系统错误或非法操作: no such path"})),
        )
            .into_response(),
    }
}

fn profile_routes(ctx: &Ctx, state: &Arc<Mutex<Private>>, profile: Profile) -> Router {
    let p = profile.paths();
    Router::new()
        .route(p.token, any(serve))
        .route(p.refresh, any(serve))
        .route(p.data_upload, any(serve))
        .route(p.attachment_upload, any(serve))
        .with_state(Shared {
            ctx: ctx.clone(),
            state: Arc::clone(state),
            profile,
        })
}

// ---- mint and inspection

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketReq {
    appid: String,
    #[serde(default)]
    un: Option<String>,
    #[serde(default)]
    dis: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    expires_at_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UploadsReq {
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    un: Option<String>,
    #[serde(default)]
    origin_id: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SessionsReq {
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned + Default>(request: Value) -> Result<T, ControlError> {
    if request.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(request).map_err(|e| ControlError::BadRequest(format!("request: {e}")))
}

fn parse_profile(name: Option<&str>) -> Result<Option<Profile>, ControlError> {
    match name {
        None => Ok(None),
        Some("roncoo") => Ok(Some(Profile::Roncoo)),
        Some("ilabx") => Ok(Some(Profile::IlabX)),
        Some(other) => Err(ControlError::BadRequest(format!(
            "profile `{other}`: expected `roncoo` or `ilabx`"
        ))),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn upload_view(e: &UploadEntry) -> Value {
    let u = &e.upload;
    let mut v = json!({
        "seq": e.seq,
        "profile": e.profile.name(),
        "appid": u.appid,
        "un": u.un,
        "origin_id": u.origin_id,
        "received_at_ms": u.received_at_ms,
    });
    match &u.content {
        UploadContent::Data(d) => {
            v["type"] = json!("data");
            v["record"] = serde_json::from_slice(&d.to_json(&u.appid)).unwrap_or(Value::Null);
        }
        UploadContent::Attachment(a) => {
            let shown = a.bytes.get(..VIEW_BYTES).unwrap_or(&a.bytes);
            v["type"] = json!("attachment");
            v["filename"] = json!(a.filename);
            v["title"] = json!(a.title);
            v["remarks"] = json!(a.remarks);
            v["len"] = json!(a.bytes.len());
            v["truncated"] = json!(shown.len() < a.bytes.len());
            match std::str::from_utf8(shown) {
                Ok(text) => v["text"] = json!(text),
                Err(_) => v["hex"] = json!(hex(shown)),
            }
        }
    }
    v
}

/// Mints a ticket as [`IlabServer::mint_ticket`] does, but never one already held: a RONCOO
/// ticket is `{"iss","exp","userId"}` only, so two clicks of the same user in the same second
/// (a frozen clock) would give the same value; its `exp` moves on by a second until it is new.
fn mint_fresh_ticket(
    server: &IlabServer,
    pctx: &kaifang_proto_core::context::Context,
    store: &mut Store<'_>,
    appid: &str,
    un: &str,
    dis: &str,
) -> Result<(String, i64), ControlError> {
    let bad = |e: kaifang_proto_core::Error| ControlError::BadRequest(e.to_string());
    let base_s = store
        .now_ms
        .div_euclid(1000)
        .saturating_add(server.ticket_ttl_secs);
    for bump in 0..1000 {
        let exp_s = base_s.saturating_add(bump);
        let value = kaifang_proto_ilab::server::mint::ticket(
            server.profile,
            server.jwt_key(),
            pctx,
            un,
            exp_s,
        )
        .map_err(bad)?;
        if store.grant(&value).is_none() {
            let expires_at_ms = exp_s.saturating_mul(1000);
            store.put_ticket(
                value.clone(),
                TicketRecord {
                    appid: appid.to_owned(),
                    user_id: un.to_owned(),
                    dis: dis.to_owned(),
                    expires_at_ms,
                    used: false,
                },
            );
            return Ok((value, expires_at_ms));
        }
    }
    Err(ControlError::BadRequest(
        "could not mint a new ticket: 1000 tickets of this user already held for this second"
            .into(),
    ))
}

impl IlabModule {
    /// A module with empty state (the same as `default()`).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The inspection views: `uploads` (request `{"appid"?, "un"?, "origin_id"?, "profile"?}`)
    /// and `sessions` (request `{"appid"?, "profile"?}`); `Null` means no filter. Served at
    /// `GET /__sandbox/inspect/ilab/{kind}` and as mint kinds of the same names.
    ///
    /// # Errors
    /// [`ControlError::Unsupported`] for another kind, [`ControlError::BadRequest`] for a bad
    /// filter.
    pub fn inspect(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        match kind {
            KIND_UPLOADS => {
                let r: UploadsReq = parse(request)?;
                let profile = parse_profile(r.profile.as_deref())?;
                let p = lock(&self.state);
                let list: Vec<Value> = p
                    .uploads
                    .iter()
                    .filter(|e| profile.is_none_or(|want| e.profile == want))
                    .filter(|e| r.appid.as_ref().is_none_or(|a| *a == e.upload.appid))
                    .filter(|e| r.un.as_ref().is_none_or(|a| *a == e.upload.un))
                    .filter(|e| {
                        r.origin_id
                            .as_ref()
                            .is_none_or(|a| *a == e.upload.origin_id)
                    })
                    .map(upload_view)
                    .collect();
                Ok(json!({"count": list.len(), "uploads": list}))
            }
            KIND_SESSIONS => {
                let r: SessionsReq = parse(request)?;
                let profile = parse_profile(r.profile.as_deref())?;
                // The appid of a lineage is that of its tokens.
                let appid_of: HashMap<String, String> = ctx
                    .tokens()
                    .entries()
                    .into_iter()
                    .filter(|(_, g)| g.kind == KIND_ACCESS)
                    .filter_map(|(_, g)| {
                        let lineage = g.meta.get("lineage")?.as_str()?.to_owned();
                        Some((lineage, g.tenant))
                    })
                    .collect();
                let p = lock(&self.state);
                let mut list: Vec<Value> = p
                    .lineages
                    .iter()
                    .filter(|((pr, _), _)| profile.is_none_or(|want| *pr == want))
                    .map(|((pr, id), e)| {
                        json!({
                            "profile": pr.name(),
                            "lineage": id,
                            "appid": appid_of.get(id),
                            "refreshes": e.record.refreshes,
                            "max_refreshes": ctx.config().max_refreshes,
                            "expires_at_ms": e.expires_at_ms,
                        })
                    })
                    .filter(|v| {
                        r.appid
                            .as_ref()
                            .is_none_or(|a| v["appid"].as_str() == Some(a.as_str()))
                    })
                    .collect();
                list.sort_by_key(|v| v["expires_at_ms"].as_i64());
                Ok(json!({"count": list.len(), "sessions": list}))
            }
            other => Err(ControlError::Unsupported {
                platform: "ilab".to_owned(),
                kind: other.to_owned(),
                supported: vec![KIND_UPLOADS.to_owned(), KIND_SESSIONS.to_owned()],
            }),
        }
    }

    fn shared(&self, ctx: &Ctx, profile: Profile) -> Shared {
        Shared {
            ctx: ctx.clone(),
            state: Arc::clone(&self.state),
            profile,
        }
    }

    /// Mints (or registers) a ticket; returns the mint answer.
    fn mint_ticket(&self, ctx: &Ctx, request: Value) -> Result<Value, ControlError> {
        if request.is_null() {
            return Err(ControlError::BadRequest(
                "request: `appid` is required".into(),
            ));
        }
        let r: TicketReq = serde_json::from_value(request)
            .map_err(|e| ControlError::BadRequest(format!("request: {e}")))?;
        let cfg = ctx.config();
        let profile = cfg.profile_of(&r.appid).ok_or_else(|| {
            let known: Vec<&str> = cfg
                .roncoo
                .apps
                .iter()
                .chain(&cfg.ilabx.apps)
                .map(|a| a.appid.as_str())
                .collect();
            ControlError::NotFound(format!(
                "unknown appid `{}` on platform `ilab` (known: {})",
                r.appid,
                known.join(", ")
            ))
        })?;
        let users = &cfg.profile(profile).users;
        let (un, dis) = match (r.un, r.dis) {
            (Some(un), Some(dis)) => (un, dis),
            (Some(un), None) => {
                let dis = users
                    .iter()
                    .find(|u| u.un == un)
                    .map(|u| u.dis.clone())
                    .ok_or_else(|| {
                        ControlError::NotFound(format!(
                            "unknown user `{un}` on profile `{}`: give its `dis` too",
                            profile.name()
                        ))
                    })?;
                (un, dis)
            }
            (None, dis) => {
                let first = users.first().ok_or_else(|| {
                    ControlError::BadRequest(format!(
                        "profile `{}` has no users: give `un` and `dis`",
                        profile.name()
                    ))
                })?;
                (first.un.clone(), dis.unwrap_or_else(|| first.dis.clone()))
            }
        };
        if un.trim().is_empty() {
            return Err(ControlError::BadRequest("`un` must not be empty".into()));
        }
        let shared = self.shared(ctx, profile);
        let appid = r.appid;
        let (value, expires_at_ms) = match r.value {
            Some(value) => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ControlError::BadRequest(
                        "`value`: a ticket is printable ASCII without spaces (give it decoded)"
                            .into(),
                    ));
                }
                shared.with_store(|server, _, store| {
                    let exp = r.expires_at_ms.unwrap_or_else(|| {
                        store
                            .now_ms
                            .saturating_add(server.ticket_ttl_secs.saturating_mul(1000))
                    });
                    store.put_ticket(
                        value.clone(),
                        TicketRecord {
                            appid: appid.clone(),
                            user_id: un.clone(),
                            dis: dis.clone(),
                            expires_at_ms: exp,
                            used: false,
                        },
                    );
                    (value, exp)
                })
            }
            None => {
                if r.expires_at_ms.is_some() {
                    return Err(ControlError::BadRequest(
                        "`expires_at_ms` goes with `value`; a minted ticket's lifetime is the `ticket` lifetime (PUT /__sandbox/lifetimes)".into(),
                    ));
                }
                shared.with_store(|server, pctx, store| {
                    mint_fresh_ticket(server, pctx, store, &appid, &un, &dis)
                })?
            }
        };
        Ok(json!({
            "ticket": value,
            "ticket_encoded": encode_component(&value),
            "appid": appid,
            "profile": profile.name(),
            "un": un,
            "dis": dis,
            "expires_at_ms": expires_at_ms,
        }))
    }

    /// Mints a ticket and redeems it through the token endpoint.
    fn mint_access(&self, ctx: &Ctx, request: Value) -> Result<Value, ControlError> {
        if request.get("value").is_some() || request.get("expires_at_ms").is_some() {
            return Err(ControlError::BadRequest(
                "request: `access_token` takes `appid`, `un` and `dis` only".into(),
            ));
        }
        let minted = self.mint_ticket(ctx, request)?;
        let (Some(ticket), Some(appid), Some(profile)) = (
            minted["ticket"].as_str(),
            minted["appid"].as_str(),
            parse_profile(minted["profile"].as_str())?,
        ) else {
            return Err(ControlError::BadRequest("ticket minting failed".into()));
        };
        let secret = ctx
            .config()
            .profile(profile)
            .apps
            .iter()
            .find(|a| a.appid == appid)
            .map(|a| a.secret.clone())
            .unwrap_or_default();
        let sig = signature(ticket, appid, &secret);
        let query = format!(
            "ticket={}&appid={}&signature={sig}",
            encode_component(ticket),
            encode_component(appid)
        );
        let method = http::Method::GET;
        let headers = http::HeaderMap::new();
        let incoming = Incoming {
            method: &method,
            path: profile.paths().token,
            query: &query,
            headers: &headers,
            body: &[],
        };
        let resp = self
            .shared(ctx, profile)
            .with_store(|server, pctx, store| server.handle(store, pctx, &incoming))
            .ok_or_else(|| ControlError::BadRequest("token path not served".into()))?;
        let answer: Value = serde_json::from_slice(resp.body())
            .map_err(|e| ControlError::BadRequest(format!("token answer: {e}")))?;
        if answer["code"] != json!(0) {
            return Err(ControlError::BadRequest(format!(
                "the token endpoint refused: {}",
                answer["msg"]
            )));
        }
        Ok(answer)
    }
}

impl Module for IlabModule {
    type Config = IlabSandboxConfig;

    fn name(&self) -> &'static str {
        "ilab"
    }

    fn routes(&self, ctx: ModuleContext<IlabSandboxConfig>) -> Router {
        profile_routes(&ctx, &self.state, Profile::Roncoo).merge(profile_routes(
            &ctx,
            &self.state,
            Profile::IlabX,
        ))
    }

    fn tenants(&self, ctx: &Ctx) -> Value {
        let cfg = ctx.config();
        let profile = |p: Profile| {
            let paths = p.paths();
            json!({
                "paths": {
                    "token": paths.token,
                    "refresh": paths.refresh,
                    "data_upload": paths.data_upload,
                    "attachment_upload": paths.attachment_upload,
                    "refresh_param": paths.refresh_param,
                },
                "apps": cfg.profile(p).apps,
                "users": cfg.profile(p).users,
            })
        };
        let tokens = ctx.tokens();
        let ttl =
            |kind: &str, default: u64| tokens.ttl(kind, Duration::from_secs(default)).as_secs();
        let uploads = lock(&self.state).uploads.len();
        json!({
            "roncoo": profile(Profile::Roncoo),
            "ilabx": profile(Profile::IlabX),
            "jwt": "HS256",
            "lifetimes": {
                KIND_ACCESS: ttl(KIND_ACCESS, cfg.access_ttl_secs),
                KIND_REFRESH: ttl(KIND_REFRESH, cfg.refresh_ttl_secs),
                KIND_TICKET: ttl(KIND_TICKET, cfg.ticket_ttl_secs),
            },
            "max_refreshes": cfg.max_refreshes,
            "max_uploads": cfg.max_uploads,
            "uploads": uploads,
        })
    }

    fn mint_kinds(&self) -> &'static [&'static str] {
        &[KIND_TICKET, KIND_ACCESS, KIND_UPLOADS, KIND_SESSIONS]
    }

    fn inspect_kinds(&self) -> &'static [&'static str] {
        &[KIND_UPLOADS, KIND_SESSIONS]
    }

    fn inspect(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        IlabModule::inspect(self, ctx, kind, request)
    }

    fn mint(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        match kind {
            KIND_TICKET => self.mint_ticket(ctx, request),
            KIND_ACCESS => self.mint_access(ctx, request),
            KIND_UPLOADS | KIND_SESSIONS => self.inspect(ctx, kind, request),
            other => Err(ControlError::Unsupported {
                platform: self.name().to_owned(),
                kind: other.to_owned(),
                supported: self.mint_kinds().iter().map(|s| (*s).to_owned()).collect(),
            }),
        }
    }

    fn reset(&self, _ctx: &Ctx) {
        *lock(&self.state) = Private::default();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::clock::{ClockMode, SandboxClock};
    use crate::login::LoginPages;
    use crate::module::Services;
    use crate::rng::SandboxRng;
    use crate::tokens::TokenRegistry;
    use kaifang_proto_core::context::Clock as _;

    const T0: i64 = 1_711_103_229_122;

    fn ctx() -> Ctx {
        let clock = Arc::new(SandboxClock::new(ClockMode::Frozen { at_ms: T0 }));
        let rng = SandboxRng::new(Some(3));
        let services = Services {
            tokens: TokenRegistry::new(clock.clone(), 10_000, Duration::from_secs(3600)),
            login: LoginPages::new(rng.clone()),
            clock,
            rng,
        };
        ModuleContext::new("ilab", IlabSandboxConfig::default(), services)
    }

    fn token_answer(m: &IlabModule, ctx: &Ctx, profile: Profile, ticket: &str) -> Value {
        let app = &ctx.config().profile(profile).apps[0];
        let query = format!(
            "ticket={}&appid={}&signature={}",
            encode_component(ticket),
            app.appid,
            signature(ticket, &app.appid, &app.secret)
        );
        let headers = http::HeaderMap::new();
        let incoming = Incoming {
            method: &http::Method::GET,
            path: profile.paths().token,
            query: &query,
            headers: &headers,
            body: &[],
        };
        let resp = m
            .shared(ctx, profile)
            .with_store(|s, p, st| s.handle(st, p, &incoming))
            .unwrap();
        serde_json::from_slice(resp.body()).unwrap()
    }

    #[test]
    fn defaults_and_debug() {
        let cfg = IlabSandboxConfig::default();
        assert_eq!(cfg.profile_of(SEED_APPID), Some(Profile::Roncoo));
        assert_eq!(cfg.profile_of(ILABX_APPID), Some(Profile::IlabX));
        assert_eq!(cfg.profile_of("x"), None);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains(SEED_SECRET) || !dbg.contains("secret: \"123456\""));
        assert!(!dbg.contains(DEFAULT_JWT_KEY));
        assert!(dbg.contains("[redacted]"));
        let toml_like: IlabSandboxConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(toml_like, cfg);
        assert!(serde_json::from_value::<IlabSandboxConfig>(json!({"nope": 1})).is_err());
    }

    #[test]
    fn tickets_are_unique_single_use_and_follow_the_controls() {
        let ctx = ctx();
        let m = IlabModule::new();
        let a = m
            .mint(&ctx, KIND_TICKET, json!({"appid": SEED_APPID}))
            .unwrap();
        let b = m
            .mint(&ctx, KIND_TICKET, json!({"appid": SEED_APPID}))
            .unwrap();
        assert_ne!(
            a["ticket"], b["ticket"],
            "same user, same second, still two tickets"
        );
        assert_eq!(a["expires_at_ms"], json!((T0 / 1000 + 30 * 86_400) * 1000));
        let ticket = a["ticket"].as_str().unwrap();
        assert_eq!(token_answer(&m, &ctx, Profile::Roncoo, ticket)["code"], 0);
        assert_eq!(token_answer(&m, &ctx, Profile::Roncoo, ticket)["code"], 4);
        // Not known on the other profile's paths (signed there with that profile's app): 4.
        let other = b["ticket"].as_str().unwrap();
        assert_eq!(token_answer(&m, &ctx, Profile::IlabX, other)["code"], 4);
        // Revoked → 4.
        assert!(ctx.tokens().revoke(other));
        assert_eq!(token_answer(&m, &ctx, Profile::Roncoo, other)["code"], 4);
        // Lifetime override → 3 after it.
        ctx.tokens()
            .registry()
            .set_lifetime("ilab", KIND_TICKET, Some(Duration::from_secs(10)));
        let c = m
            .mint(&ctx, KIND_TICKET, json!({"appid": SEED_APPID}))
            .unwrap();
        ctx.clock().advance(Duration::from_secs(11));
        assert_eq!(
            token_answer(&m, &ctx, Profile::Roncoo, c["ticket"].as_str().unwrap())["code"],
            3
        );
        // A registered value with an explicit expiry.
        let v = m
            .mint(
                &ctx,
                KIND_TICKET,
                json!({"appid": ILABX_APPID, "value": "a+b/c=", "un": "u1", "dis": "甲"}),
            )
            .unwrap();
        assert_eq!(v["ticket_encoded"], "a%2Bb%2Fc%3D");
        let answer = token_answer(&m, &ctx, Profile::IlabX, "a+b/c=");
        assert_eq!(
            (answer["code"].clone(), answer["un"].clone()),
            (json!(0), json!("u1"))
        );
    }

    #[test]
    fn access_token_mint_lifetimes_and_sessions() {
        let ctx = ctx();
        let m = IlabModule::new();
        ctx.tokens()
            .registry()
            .set_lifetime("ilab", KIND_ACCESS, Some(Duration::from_secs(100)));
        let t = m
            .mint(&ctx, KIND_ACCESS, json!({"appid": SEED_APPID}))
            .unwrap();
        assert_eq!(t["expires_in"], 99);
        assert_eq!(t["un"], SEED_USER);
        let access = t["access_token"].as_str().unwrap();
        let g = ctx.tokens().lookup_kind(KIND_ACCESS, access).unwrap();
        assert_eq!(g.expires_at_ms / 1000, T0 / 1000 + 100);
        assert_eq!(g.scope.as_deref(), Some("callback:score"));
        let refresh = t["refresh_token"].as_str().unwrap();
        assert!(ctx.tokens().lookup_kind(KIND_REFRESH, refresh).is_ok());
        let s = m.mint(&ctx, KIND_SESSIONS, Value::Null).unwrap();
        assert_eq!(s["count"], 1);
        assert_eq!(s["sessions"][0]["refreshes"], 0);
        assert_eq!(s["sessions"][0]["appid"], SEED_APPID);
        assert_eq!(m.tenants(&ctx)["lifetimes"][KIND_ACCESS], 100);
        m.reset(&ctx);
        assert_eq!(
            m.mint(&ctx, KIND_SESSIONS, Value::Null).unwrap()["count"],
            0
        );
        // Bad requests are typed.
        assert!(matches!(
            m.mint(&ctx, KIND_TICKET, Value::Null),
            Err(ControlError::BadRequest(_))
        ));
        assert!(matches!(
            m.mint(&ctx, KIND_TICKET, json!({"appid": "nope"})),
            Err(ControlError::NotFound(_))
        ));
        assert!(matches!(
            m.mint(&ctx, KIND_UPLOADS, json!({"profile": "x"})),
            Err(ControlError::BadRequest(_))
        ));
        assert!(matches!(
            m.mint(&ctx, "other", Value::Null),
            Err(ControlError::Unsupported { .. })
        ));
        let _ = ctx.clock().now();
    }

    #[test]
    fn uploads_are_bounded() {
        let mut p = Private::default();
        let upload = |origin: &str, bytes: usize| StoredUpload {
            appid: "a".into(),
            un: "u".into(),
            origin_id: origin.into(),
            received_at_ms: T0,
            content: UploadContent::Attachment(
                kaifang_proto_ilab::Attachment::new(origin, "r.bin", vec![1; bytes]).unwrap(),
            ),
        };
        for i in 0..5 {
            p.push_upload(Profile::Roncoo, upload(&format!("o{i}"), 10), 3);
        }
        assert_eq!(p.uploads.len(), 3);
        assert_eq!(p.upload_bytes, 30);
        assert_eq!(p.uploads[0].upload.origin_id, "o2");
        assert_eq!(p.uploads[2].seq, 5);
        p.push_upload(Profile::Roncoo, upload("big", MAX_STORED_BYTES), 3);
        assert_eq!(p.uploads.len(), 1);
        assert_eq!(p.upload_bytes, MAX_STORED_BYTES);
        let view = upload_view(&p.uploads[0]);
        assert_eq!(view["len"], MAX_STORED_BYTES);
        assert_eq!(view["truncated"], true);
    }
}
