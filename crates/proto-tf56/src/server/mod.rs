//! The server half: verify incoming requests the way the gateway does and build its answers.
//! The sandbox mounts these functions; anyone emulating tf56 can use them.
//!
//! Everything is a pure function of the request, a [`Tenant`] (clients, users, lifetimes,
//! switches), a [`Store`] (issued codes and tokens, kept by the caller) and a [`Context`] (the
//! time, and the random source for tokens):
//!
//! | route | function | answers |
//! |---|---|---|
//! | `POST /openGateway/oauth/token` | [`Tenant::token_endpoint`] ([`Tenant::token`] + render) | token JSON / OAuth error |
//! | `GET /openGateway/oauth/` | [`Tenant::authorize`], then [`Tenant::issue_code`] or [`Tenant::approve`] on login, [`redirect_denied`] on refusal | 302 / 400 |
//! | `GET` or `POST` `/openGateway/oauthentry/<m>/<v>/<method>` | [`Tenant::entry`] ([`Tenant::authenticate_api`] + [`Tenant::demo_api`]) | envelope / OAuth error |
//! | any | [`Tenant::handle`]: routes by path ([`route`]) | |
//!
//! # What is confirmed and what is chosen
//! `[C]` from public sources (platforms.md §4): the paths; query-string parameters with an
//! empty body; 32-hex tokens of type `uuid`; lifetimes 1,800 s (client credentials) and
//! 25,200 s (authorization code); both token spellings and the key order; `state` echoed on the
//! redirect; the redirect URI checked against the registered one; `access_token` (and the
//! seed's `AccessToken`) in the query or an `access_token` form field; `result == "success"`.
//!
//! `[I]` kaifang's choices where nothing is public: OAuth error bodies and statuses (RFC 6749 /
//! 6750, Spring Security OAuth's descriptions); the check order; form bodies and HTTP Basic
//! accepted besides the query; password and refresh grants as in RFC 6749 (their answers in the
//! `authorization_code` spelling); refresh tokens living 7 days and rotating (the old one is
//! unknown after use, the old access token revoked); codes living 10 minutes, single-use,
//! consumed even when the token request then fails; the gateway codes `200/400/401/403/404/500`
//! and [`InvalidTokenStyle`]; the demo API shapes; the secret of client `1` and the demo user.
//!
//! # Per-grant rules of the token endpoint (after client authentication and `grant_type`)
//! * `client_credentials`: `scope` within the client's → else `invalid_scope`. No refresh
//!   token. Answer one-line in the seed's order (`scope, expires_in, token_type,
//!   access_token`).
//! * `authorization_code`: `code` → `invalid_request`; the code is taken → unknown, used or
//!   expired: `invalid_grant`; another client's → `invalid_grant`; `redirect_uri` identical to
//!   the authorize request's → else `invalid_grant` "Redirect URI mismatch.". Answer
//!   `scope, expiresin, tokentype, refreshtoken, accesstoken`.
//! * `password`: `username`, `password` → `invalid_request`; wrong → `invalid_grant` "Bad
//!   credentials"; `scope` → `invalid_scope`.
//! * `refresh_token`: `refresh_token` → `invalid_request`; taken (rotation) → unknown, used or
//!   expired: `invalid_grant`; another client's → `invalid_grant`; `scope` within the original
//!   → else `invalid_scope`.
//!
//! # The state the caller keeps
//! A [`Store`]: authorization codes ([`CodeRecord`]), access tokens ([`AccessRecord`]) and
//! refresh tokens ([`RefreshRecord`]), keyed by their value, with absolute expiries. Codes and
//! refresh tokens are *taken* (removed when used); revoking an access token is forgetting it.
//! [`MemoryStore`] is the plain implementation.
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FrozenClock, SeqNonce};
//! use kaifang_proto_tf56::server::{MemoryStore, Tenant};
//!
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000)), Arc::new(SeqNonce::new(1)));
//! let (tenant, mut store) = (Tenant::default(), MemoryStore::new());
//! let req = http::Request::post("https://open.tf56.com/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret=7fad9d6b20e849219d6888b25e3f40db")
//!     .body(Vec::new())?;
//! let resp = tenant.handle(&mut store, &ctx, &req);
//! assert_eq!(resp.status(), 200);
//! let body = String::from_utf8(resp.into_body())?;
//! assert!(body.starts_with(r#"{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":""#));
//!
//! let wrong = http::Request::post("https://open.tf56.com/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret=nope")
//!     .body(Vec::new())?;
//! let resp = tenant.handle(&mut store, &ctx, &wrong);
//! assert_eq!(resp.status(), 401);
//! assert_eq!(resp.body(), br#"{"error":"invalid_client","error_description":"Bad client credentials"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authorize;
mod basic;
mod gateway;
mod response;
mod store;
mod tenant;
mod token_endpoint;

pub use authorize::{
    AuthorizeGrant, AuthorizeRefusal, redirect_after_login, redirect_denied, redirect_error,
};
pub use basic::{BasicCredentials, MalformedBasic, parse_basic};
pub use gateway::{ApiCaller, ApiRefusal, ApiRequest, entry_method};
pub use response::{
    IssuedToken, JSON_CONTENT_TYPE, OAuthRefusal, TOKEN_TYPE, TokenSpelling, envelope_json,
    gateway_error, gateway_success, redirect, token_json,
};
pub use store::{AccessRecord, CodeRecord, MemoryStore, RefreshRecord, Store};
pub use tenant::{
    CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, CODE_CLIENT_SCOPE, CODE_CLIENT_SECRET, DEMO_PASSWORD,
    DEMO_USERNAME, InvalidTokenStyle, Lifetimes, PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SCOPE,
    PUBLIC_CLIENT_SECRET, SCOPE_ALL, ServerClient, ServerUser, Tenant,
};

use http::StatusCode;
use kaifang_proto_core::context::Context;

use crate::config::{AUTHORIZE_PATH, ENTRY_PATH, GATEWAY_PREFIX, TOKEN_PATH};

/// Which endpoint a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/openGateway/oauth/token`.
    Token,
    /// `/openGateway/oauth/` (also without the trailing `/`).
    Authorize,
    /// `/openGateway/oauthentry/…`.
    Entry,
    /// Anything else.
    NotFound,
}

/// The endpoint of a request path.
///
/// ```
/// use kaifang_proto_tf56::server::{Route, route};
/// assert_eq!(route("/openGateway/oauth/token"), Route::Token);
/// assert_eq!(route("/openGateway/oauth/"), Route::Authorize);
/// assert_eq!(route("/openGateway/oauthentry/open.demo/1/queryUserInfo"), Route::Entry);
/// assert_eq!(route("/token"), Route::NotFound);
/// ```
pub fn route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix(GATEWAY_PREFIX) else {
        return Route::NotFound;
    };
    if rest == TOKEN_PATH {
        Route::Token
    } else if rest == AUTHORIZE_PATH || rest == AUTHORIZE_PATH.trim_end_matches('/') {
        Route::Authorize
    } else if rest
        .strip_prefix(ENTRY_PATH)
        .is_some_and(|r| r.starts_with('/'))
    {
        Route::Entry
    } else {
        Route::NotFound
    }
}

impl Tenant {
    /// Serves any request: the token endpoint, the gateway, and the authorize page — the latter
    /// without a login page: a valid request is approved at once for
    /// [`Tenant::auto_login_user`] (302 to the redirect URI with `state` and `code`), or
    /// answered 501 when that is `None`. Unknown paths get a 404 envelope.
    pub fn handle<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        req: &http::Request<Vec<u8>>,
    ) -> http::Response<Vec<u8>> {
        match route(req.uri().path()) {
            Route::Token => self.token_endpoint(store, ctx, req),
            Route::Entry => self.entry(&*store, ctx, req),
            Route::Authorize => {
                let grant = match self.authorize(req.uri().query().unwrap_or_default()) {
                    Ok(grant) => grant,
                    Err(refusal) => return refusal.to_response(),
                };
                match self.auto_login_user.as_deref() {
                    Some(user) => redirect(&self.approve(store, ctx, &grant, user)),
                    None => gateway_error(
                        StatusCode::NOT_IMPLEMENTED,
                        crate::codes::GW_SYSTEM_ERROR,
                        "login page not emulated here",
                    ),
                }
            }
            Route::NotFound => ApiRefusal::not_found().to_response(),
        }
    }
}
