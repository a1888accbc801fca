//! The server half: verify incoming requests in the real server's order and build its real
//! answers. Pure functions over an [`Incoming`] request, the time and random source of a
//! [`Context`], and an [`IlabStore`] that the caller keeps (tickets, tokens, refresh counts,
//! uploads). A sandbox is thin glue around [`IlabServer::handle`]:
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FrozenClock, SeqNonce};
//! use kaifang_proto_ilab::Profile;
//! use kaifang_proto_ilab::server::{Incoming, IlabServer, MemoryStore, ServerApp};
//!
//! let server = IlabServer::new(Profile::Roncoo, b"sandbox-jwt-key")
//!     .with_app(ServerApp::new("1681600222748241929", "123456", "demo experiment"));
//! let mut store = MemoryStore::new();
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_711_103_229_122)), Arc::new(SeqNonce::new(7)));
//! let ticket = server.mint_ticket(&mut store, &ctx, "1681600222748241929", "1701808169793138690", "用户姓名")?;
//!
//! let req = http::Request::get("/oauth/token/accesstoken?ticket=x&appid=1681600222748241929")
//!     .body(Vec::new())?;
//! let resp = server.handle(&mut store, &ctx, &Incoming::from_request(&req)).expect("our path");
//! assert_eq!(resp.body().as_slice(), r#"{"code":1,"msg":"参数错误"}"#.as_bytes());
//! # let _ = ticket;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Order of the checks
//! | endpoint | checks, in order (first failure answers) |
//! |---|---|
//! | token | method GET/POST; `ticket`, `appid`, `signature` present → 1; appid known and signature = UPPER(MD5(decoded ticket + appid + secret)) → 2; ticket known and for this appid → 4; not expired → 3; not used → 4 |
//! | refresh | method; value, `appid`, `signature` present → 1; signature over the value (or, leniently, over the lineage's current access token) → 2; value known, right kind, this appid, not revoked → 4; not expired → 3; not itself from a refresh → 6; fewer than 2 refreshes → 5 |
//! | data_upload | method POST; `access_token` present → 1; token known and not revoked → 3; not expired → 2; scope `callback:score` → 4; `Content-Type: application/json` → 1; body shape and rules ([`DataUpload::from_json`](crate::upload::DataUpload::from_json)), appid and username those of the token → 1 |
//! | attachment_upload | method POST/GET; `access_token` → 1; token as above → 3/2/4; `appid`, `originId`, `filename` present, appid of the token, file name with extension, non-empty body, a prior data_upload with this originId → 1 |
//!
//! Refusals are HTTP 200 with `{"code":N,"msg":"…"}`; a wrong method is HTTP 405 with code −1.

mod endpoints;
pub mod mint;
pub mod state;

use std::fmt;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode};
use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::mac::HmacSha256Key;
use serde::Serialize;

use crate::app::Profile;
use crate::codes::{self, Endpoint};

pub use endpoints::{TokenAnswer, verify_access_token};
pub use state::{
    IlabStore, LineageRecord, MemoryStore, StoredUpload, TicketRecord, TokenKind, TokenRecord,
    UploadContent,
};

/// An experiment (app) as the platform knows it.
#[derive(Clone)]
pub struct ServerApp {
    /// APPID.
    pub appid: String,
    /// SECRET.
    pub secret: SecretString,
    /// The experiment's name.
    pub name: String,
}

impl ServerApp {
    /// An app.
    pub fn new(
        appid: impl Into<String>,
        secret: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ServerApp {
            appid: appid.into(),
            secret: SecretString::new(secret),
            name: name.into(),
        }
    }
}

impl fmt::Debug for ServerApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerApp")
            .field("appid", &self.appid)
            .field("secret", &self.secret)
            .field("name", &self.name)
            .finish()
    }
}

/// One emulated platform (one profile): its apps, its JWT key and its lifetimes.
#[derive(Debug, Clone)]
pub struct IlabServer {
    /// Which platform's paths and token format.
    pub profile: Profile,
    /// The experiments.
    pub apps: Vec<ServerApp>,
    /// Access-token lifetime, seconds (86,400; the answer reports one second less).
    pub access_ttl_secs: i64,
    /// Refresh-token lifetime, seconds (30 days).
    pub refresh_ttl_secs: i64,
    /// Lifetime of minted tickets, seconds (30 days, as in the seed's sample).
    pub ticket_ttl_secs: i64,
    /// Refreshes allowed on an original token (2).
    pub max_refreshes: u8,
    key: HmacSha256Key,
}

impl IlabServer {
    /// A platform signing its JWTs with `jwt_key`, with the real lifetimes and no apps.
    pub fn new(profile: Profile, jwt_key: &[u8]) -> Self {
        IlabServer {
            profile,
            apps: Vec::new(),
            access_ttl_secs: 86_400,
            refresh_ttl_secs: 30 * 86_400,
            ticket_ttl_secs: 30 * 86_400,
            max_refreshes: 2,
            key: HmacSha256Key::new(jwt_key),
        }
    }

    /// Adds an app.
    #[must_use]
    pub fn with_app(mut self, app: ServerApp) -> Self {
        self.apps.push(app);
        self
    }

    /// The app `appid`.
    pub fn app(&self, appid: &str) -> Option<&ServerApp> {
        self.apps.iter().find(|a| a.appid == appid)
    }

    /// The JWT key (to verify minted JWTs: [`mint::hs256_verify`]).
    pub fn jwt_key(&self) -> &HmacSha256Key {
        &self.key
    }

    /// What a path is, on this profile.
    pub fn route(&self, path: &str) -> Option<Route> {
        let p = self.profile.paths();
        let path = path.trim_end_matches('/');
        if path == p.token {
            Some(Route::Token)
        } else if path == p.refresh {
            Some(Route::Refresh)
        } else if path == p.data_upload {
            Some(Route::DataUpload)
        } else if path == p.attachment_upload {
            Some(Route::AttachmentUpload)
        } else {
            None
        }
    }

    /// Answers `req` when its path is one of this profile's (`None` otherwise, for a 404 by the
    /// caller).
    pub fn handle(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> Option<http::Response<Vec<u8>>> {
        let route = self.route(req.path)?;
        let allowed = match route {
            Route::DataUpload => req.method == Method::POST,
            _ => req.method == Method::GET || req.method == Method::POST,
        };
        if !allowed {
            return Some(method_not_allowed(req.method));
        }
        Some(match route {
            Route::Token => self.token(store, ctx, req),
            Route::Refresh => self.refresh(store, ctx, req),
            Route::DataUpload => self.data_upload(store, ctx, req),
            Route::AttachmentUpload => self.attachment_upload(store, ctx, req),
        })
    }

    /// Mints a ticket for `user_id` on the experiment `appid` (what clicking 我要做实验 does)
    /// and records it in `store`.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown appid or a failing random source.
    pub fn mint_ticket(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        appid: &str,
        user_id: &str,
        dis: &str,
    ) -> Result<String, Error> {
        if self.app(appid).is_none() {
            return Err(Error::Config(format!(
                "ilab server: unknown appid {appid:?}"
            )));
        }
        let exp_s = ctx
            .now_millis()
            .div_euclid(1000)
            .saturating_add(self.ticket_ttl_secs);
        let value = mint::ticket(self.profile, &self.key, ctx, user_id, exp_s)?;
        store.put_ticket(
            value.clone(),
            TicketRecord {
                appid: appid.to_owned(),
                user_id: user_id.to_owned(),
                dis: dis.to_owned(),
                expires_at_ms: exp_s.saturating_mul(1000),
                used: false,
            },
        );
        Ok(value)
    }
}

/// The endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Ticket → token.
    Token,
    /// Refresh.
    Refresh,
    /// 数据回传.
    DataUpload,
    /// 实验报告上传.
    AttachmentUpload,
}

/// An incoming request, borrowed from whatever the HTTP server holds.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query string, without `?` (empty when none).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Incoming<'a> {
    /// Borrows an `http::Request`.
    pub fn from_request(req: &'a http::Request<Vec<u8>>) -> Self {
        Incoming {
            method: req.method(),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or_default(),
            headers: req.headers(),
            body: req.body(),
        }
    }

    /// The first value of query parameter `name`, decoded as the platform's framework does
    /// (`%XX` and `+` as space); `None` when missing or empty.
    pub fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    }
}

/// The platform's refusal: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The code.
    pub code: i64,
    /// The message.
    #[serde(rename = "msg")]
    pub message: String,
}

impl Refusal {
    /// The refusal `code` of `endpoint`, with the table's message.
    pub fn new(endpoint: Endpoint, code: i64) -> Self {
        Refusal {
            code,
            message: codes::message(endpoint, code).to_owned(),
        }
    }

    /// The same with a more specific message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The HTTP answer: 200 with `{"code":N,"msg":"…"}`.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        json_response(StatusCode::OK, self)
    }
}

fn method_not_allowed(method: &Method) -> http::Response<Vec<u8>> {
    let refusal = Refusal::new(Endpoint::Token, codes::SYSTEM_ERROR).with_message(format!(
        "系统错误或非法操作: Request method '{method}' not supported"
    ));
    json_response(StatusCode::METHOD_NOT_ALLOWED, &refusal)
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> http::Response<Vec<u8>> {
    // Plain structs of strings and numbers always serialize.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = http::Response::new(bytes);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}
