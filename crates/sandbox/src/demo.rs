//! `demo`: a small OAuth-style platform that exercises the framework, mounted under `/__demo/`.
//! It is the reference for platform authors and what the crate's tests and load benchmark use;
//! no real client talks to it.
//!
//! | route | what |
//! |---|---|
//! | `GET /__demo/ping` | `pong` (a trivial route) |
//! | `POST /__demo/oauth/token` | form `grant_type=client_credentials&client_id&client_secret`, or `grant_type=authorization_code&code&client_id&client_secret` → `{"access_token","token_type":"bearer","expires_in"}` |
//! | `GET /__demo/api/me` | `Authorization: Bearer <token>` (or `?access_token=`) → `{"client_id","subject","scope"}` |
//! | `GET /__demo/oauth/authorize` | `response_type=code&client_id&redirect_uri&state` → the login page |
//!
//! Errors are RFC 6749 style: `{"error": "invalid_client" | "invalid_grant" | "invalid_token" |
//! "invalid_request" | "unsupported_grant_type", "error_description": ...}` with 400/401.
//!
//! Mint kinds: `authorization_code` and `access_token`, request `{"client_id", "subject"?}`.

use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::login::LoginRequest;
use crate::module::{Module, ModuleContext};
use crate::tokens::{LookupError, NewGrant};

/// The `demo` module.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoModule;

/// One registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoClient {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The name shown on the login page.
    pub app_name: String,
    /// Allowed callback prefix (`redirect_uri` must start with it).
    pub redirect_prefix: String,
}

/// `[platforms.demo]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Registered clients.
    #[serde(default = "default_clients")]
    pub clients: Vec<DemoClient>,
    /// Access-token lifetime in seconds.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_secs: u64,
    /// Authorization-code lifetime in seconds.
    #[serde(default = "default_code_ttl")]
    pub code_ttl_secs: u64,
}

/// The built-in client id.
pub const DEMO_CLIENT_ID: &str = "demo-client";
/// The built-in client secret.
pub const DEMO_CLIENT_SECRET: &str = "demo-secret";

fn default_clients() -> Vec<DemoClient> {
    vec![DemoClient {
        client_id: DEMO_CLIENT_ID.to_owned(),
        client_secret: DEMO_CLIENT_SECRET.to_owned(),
        app_name: "Demo App".to_owned(),
        redirect_prefix: "http://127.0.0.1".to_owned(),
    }]
}

fn default_token_ttl() -> u64 {
    7200
}

fn default_code_ttl() -> u64 {
    300
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            clients: default_clients(),
            token_ttl_secs: default_token_ttl(),
            code_ttl_secs: default_code_ttl(),
        }
    }
}

type Ctx = ModuleContext<DemoConfig>;

/// Token kinds in the registry.
const ACCESS: &str = "access_token";
const CODE: &str = "authorization_code";

fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response()
}

fn client<'a>(ctx: &'a Ctx, id: &str) -> Option<&'a DemoClient> {
    ctx.config().clients.iter().find(|c| c.client_id == id)
}

fn issue_access(ctx: &Ctx, client_id: &str, subject: Option<String>) -> Value {
    let value = ctx.rng().hex(32);
    let mut grant = NewGrant::new(
        ACCESS,
        client_id,
        Duration::from_secs(ctx.config().token_ttl_secs),
    )
    .scope("demo");
    if let Some(s) = subject {
        grant = grant.subject(s);
    }
    let g = ctx.tokens().issue(value.clone(), grant);
    json!({"access_token": value, "token_type": "bearer", "expires_in": g.ttl_secs()})
}

fn issue_code(ctx: &Ctx, client_id: &str, subject: &str, redirect_uri: Option<&str>) -> String {
    let code = ctx.rng().alphanumeric(24);
    ctx.tokens().issue(
        code.clone(),
        NewGrant::new(
            CODE,
            client_id,
            Duration::from_secs(ctx.config().code_ttl_secs),
        )
        .subject(subject)
        .meta(json!({"redirect_uri": redirect_uri})),
    );
    code
}

async fn ping() -> &'static str {
    "pong"
}

async fn token(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let mut form = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(&body) {
        form.insert(k.into_owned(), v.into_owned());
    }
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(id), Some(secret)) = (field("client_id"), field("client_secret")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        );
    };
    let Some(c) = client(&ctx, id) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!("unknown client_id `{id}`"),
        );
    };
    if c.client_secret != secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client_secret",
        );
    }
    match field("grant_type") {
        Some("client_credentials") => axum::Json(issue_access(&ctx, id, None)).into_response(),
        Some("authorization_code") => {
            let Some(code) = field("code") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is required",
                );
            };
            match ctx.tokens().consume(CODE, code) {
                Ok(g) if g.tenant == id => {
                    axum::Json(issue_access(&ctx, id, g.subject)).into_response()
                }
                Ok(_) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code was issued to another client",
                ),
                Err(e) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", e.to_string()),
            }
        }
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type `{other}` is not supported"),
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        ),
    }
}

async fn me(State(ctx): State<Ctx>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let from_query = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    let Some(token) = from_header.or(from_query) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "no access token");
    };
    match ctx.tokens().lookup_kind(ACCESS, &token) {
        Ok(g) => axum::Json(json!({"client_id": g.tenant, "subject": g.subject, "scope": g.scope}))
            .into_response(),
        Err(e @ (LookupError::Expired | LookupError::Revoked | LookupError::Unknown)) => {
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", e.to_string())
        }
    }
}

async fn authorize(State(ctx): State<Ctx>, RawQuery(q): RawQuery) -> Response {
    let mut p = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(q.as_deref().unwrap_or_default().as_bytes()) {
        p.insert(k.into_owned(), v.into_owned());
    }
    if p.get("response_type").map(String::as_str) != Some("code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "response_type must be `code`",
        );
    }
    let Some(c) = p.get("client_id").and_then(|id| client(&ctx, id)).cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    };
    let Some(redirect) = p.get("redirect_uri").cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is required",
        );
    };
    if !redirect.starts_with(&c.redirect_prefix) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not registered for this client",
        );
    }
    let approver_ctx = ctx.clone();
    let client_id = c.client_id.clone();
    let cb = redirect.clone();
    let req = LoginRequest::new(c.app_name, redirect, move |user: &str| {
        let code = issue_code(&approver_ctx, &client_id, user, Some(&cb));
        Ok(vec![("code".to_owned(), code)])
    })
    .state(p.get("state").cloned());
    ctx.login().respond(req, q.as_deref())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintReq {
    client_id: String,
    subject: Option<String>,
}

impl Module for DemoModule {
    type Config = DemoConfig;

    fn name(&self) -> &'static str {
        "demo"
    }

    fn routes(&self, ctx: ModuleContext<DemoConfig>) -> Router {
        Router::new()
            .route("/__demo/ping", get(ping))
            .route("/__demo/oauth/token", post(token))
            .route("/__demo/api/me", get(me))
            .route("/__demo/oauth/authorize", get(authorize))
            .with_state(ctx)
    }

    fn tenants(&self, ctx: &ModuleContext<DemoConfig>) -> Value {
        json!({
            "clients": ctx.config().clients,
            "token_ttl_secs": ctx.config().token_ttl_secs,
            "code_ttl_secs": ctx.config().code_ttl_secs,
        })
    }

    fn mint_kinds(&self) -> &'static [&'static str] {
        &[CODE, ACCESS]
    }

    fn mint(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        if !self.mint_kinds().contains(&kind) {
            return Err(ControlError::Unsupported {
                platform: self.name().to_owned(),
                kind: kind.to_owned(),
                supported: self.mint_kinds().iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        let r: MintReq = serde_json::from_value(request)
            .map_err(|e| ControlError::BadRequest(format!("request: {e}")))?;
        if client(ctx, &r.client_id).is_none() {
            return Err(ControlError::NotFound(format!(
                "unknown client_id `{}` on platform `demo`",
                r.client_id
            )));
        }
        Ok(if kind == CODE {
            let subject = r.subject.unwrap_or_else(|| "sandbox-user".to_owned());
            json!({"code": issue_code(ctx, &r.client_id, &subject, None)})
        } else {
            issue_access(ctx, &r.client_id, r.subject)
        })
    }
}
