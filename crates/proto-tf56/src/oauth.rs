//! OAuth 2.0 against the gateway: the authorize URL and its callback, the token request for the
//! four grants in the three client-authentication styles, and [`Tf56Tokens`] for the token
//! lifecycle.
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::Exchange;
//! use kaifang_proto_tf56::{Grant, Tf56, Tf56Config, TokenRequest};
//!
//! let app = Tf56::new(Tf56Config::new("7", "7fad9d6b20e849219d6888b25e3f40db"))?;
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(0)), Arc::new(FixedNonce::new("n")));
//! let req = TokenRequest::new(&app, Grant::ClientCredentials)?.build(&ctx)?;
//! // What the platform's own clients send: POST, everything in the query, empty body.
//! assert_eq!(req.method(), "POST");
//! assert_eq!(
//!     req.uri(),
//!     "https://open.tf56.com/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret=7fad9d6b20e849219d6888b25e3f40db"
//! );
//! assert!(req.body().is_empty());
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::fmt;
use std::sync::Mutex;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::error::PlatformError;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::explain::Explain;
use kaifang_proto_core::lifecycle::{Plan, TokenExchange, TokenKey, TokenSource};
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::token::Token;
use kaifang_sign_core::zhiyun::{basic_authorization, basic_authorization_len};

use crate::codes::{self, LOGIN_REQUIRED, OAuthErrorCode, PLATFORM, local_error};
use crate::config::{ClientAuth, Tf56};
use crate::token::parse_token_response;

/// The content type of form bodies.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The four grant types, as `grant_type` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `client_credentials`: public APIs, no user.
    ClientCredentials,
    /// `authorization_code`: user APIs after the user logged in on the authorize page.
    AuthorizationCode,
    /// `password`: the user's name and password (trusted clients).
    Password,
    /// `refresh_token`: a new access token (and refresh token) from a refresh token.
    RefreshToken,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 4] = [
        Self::ClientCredentials,
        Self::AuthorizationCode,
        Self::Password,
        Self::RefreshToken,
    ];

    /// The `grant_type` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
        }
    }

    /// The grant type for a `grant_type` value (exact), `None` when unknown.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grant with its credentials. `Debug` hides every secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Grant {
    /// `grant_type=client_credentials`.
    ClientCredentials,
    /// `grant_type=authorization_code&code=…&redirect_uri=…` (the configured redirect URI).
    AuthorizationCode(SecretString),
    /// `grant_type=password&username=…&password=…`.
    Password {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// `grant_type=refresh_token&refresh_token=…`.
    RefreshToken(SecretString),
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::ClientCredentials => f.write_str("Grant::ClientCredentials"),
            Grant::AuthorizationCode(_) => f.write_str("Grant::AuthorizationCode([redacted])"),
            Grant::Password { username, .. } => f
                .debug_struct("Grant::Password")
                .field("username", username)
                .field("password", &"[redacted]")
                .finish(),
            Grant::RefreshToken(_) => f.write_str("Grant::RefreshToken([redacted])"),
        }
    }
}

impl Grant {
    /// The grant type.
    pub const fn grant_type(&self) -> GrantType {
        match self {
            Grant::ClientCredentials => GrantType::ClientCredentials,
            Grant::AuthorizationCode(_) => GrantType::AuthorizationCode,
            Grant::Password { .. } => GrantType::Password,
            Grant::RefreshToken(_) => GrantType::RefreshToken,
        }
    }
}

/// A token request for one grant: an [`Exchange`] producing a [`Token`].
///
/// The parameters, in this order: `grant_type`, the grant's own (`code`, `redirect_uri` /
/// `username`, `password` / `refresh_token`), `scope` when configured (not for
/// `authorization_code` and `refresh_token`, whose scope is the original grant's), then
/// `client_id` and `client_secret` unless HTTP Basic is used. Where they go depends on
/// [`ClientAuth`].
#[derive(Debug)]
pub struct TokenRequest {
    app: Tf56,
    grant: Grant,
}

impl TokenRequest {
    /// The request for `grant`.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty code, refresh token, user name or password, and for the
    /// authorization-code grant without a configured `redirect_uri`.
    pub fn new(app: &Tf56, grant: Grant) -> Result<Self, Error> {
        let empty = |what: &str| Error::Config(format!("tf56: {what} is empty"));
        match &grant {
            Grant::ClientCredentials => {}
            Grant::AuthorizationCode(code) => {
                if code.is_empty() {
                    return Err(empty("the authorization code"));
                }
                if app.config().redirect_uri.is_none() {
                    return Err(Error::Config(
                        "tf56: the authorization_code grant needs the redirect_uri used on the authorize page (Tf56Config::redirect_uri)".into(),
                    ));
                }
            }
            Grant::Password { username, password } => {
                if username.is_empty() {
                    return Err(empty("username"));
                }
                if password.is_empty() {
                    return Err(empty("password"));
                }
            }
            Grant::RefreshToken(refresh) => {
                if refresh.is_empty() {
                    return Err(empty("the refresh token"));
                }
            }
        }
        Ok(TokenRequest {
            app: app.clone(),
            grant,
        })
    }

    /// The grant.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The parameters, secrets in clear, in the order they are sent (client credentials
    /// included unless HTTP Basic is used).
    fn params(&self) -> Vec<(&'static str, &str)> {
        let cfg = self.app.config();
        let mut p = vec![("grant_type", self.grant.grant_type().as_str())];
        match &self.grant {
            Grant::ClientCredentials => {}
            Grant::AuthorizationCode(code) => {
                p.push(("code", code.expose_secret()));
                if let Some(uri) = cfg.redirect_uri.as_deref() {
                    p.push(("redirect_uri", uri));
                }
            }
            Grant::Password { username, password } => {
                p.push(("username", username));
                p.push(("password", password.expose_secret()));
            }
            Grant::RefreshToken(refresh) => p.push(("refresh_token", refresh.expose_secret())),
        }
        if matches!(
            self.grant,
            Grant::ClientCredentials | Grant::Password { .. }
        ) && let Some(scope) = cfg.scope.as_deref()
        {
            p.push(("scope", scope));
        }
        if cfg.client_auth != ClientAuth::BasicAuth {
            p.push(("client_id", &cfg.client_id));
            p.push(("client_secret", cfg.client_secret.expose_secret()));
        }
        p
    }
}

fn encode(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

fn basic_header(app: &Tf56) -> Result<String, Error> {
    let cfg = app.config();
    let secret = cfg.client_secret.expose_secret();
    let mut buf = vec![0u8; basic_authorization_len(cfg.client_id.len(), secret.len())];
    basic_authorization(&cfg.client_id, secret, &mut buf)
        .map(str::to_owned)
        .map_err(|e| Error::Config(format!("tf56: cannot build the Basic credentials: {e}")))
}

impl Exchange for TokenRequest {
    type Output = Token;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let url = self.app.token_endpoint();
        let encoded = encode(&self.params());
        let builder = http::Request::post(match self.app.config().client_auth {
            ClientAuth::QueryParams => format!("{url}?{encoded}"),
            ClientAuth::FormBody | ClientAuth::BasicAuth => url.to_owned(),
        })
        .header(ACCEPT, "application/json");
        let req = match self.app.config().client_auth {
            ClientAuth::QueryParams => builder.body(Vec::new()),
            ClientAuth::FormBody => builder
                .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
                .body(encoded.into_bytes()),
            ClientAuth::BasicAuth => builder
                .header(AUTHORIZATION, basic_header(&self.app)?)
                .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
                .body(encoded.into_bytes()),
        };
        req.map_err(|e| Error::Config(format!("tf56: cannot build the token request: {e}")))
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Token, Error> {
        parse_token_response(&resp, ctx.now())
    }

    /// Not signed, but the same view helps: where each parameter goes, secrets elided.
    fn explain(&self, _ctx: &Context) -> Option<Explain> {
        let auth = self.app.config().client_auth;
        let mut ex = Explain::new(format!(
            "tf56 POST token ({})",
            self.grant.grant_type().as_str()
        ));
        ex.push("url", self.app.token_endpoint())
            .push("client authentication", format!("{auth:?}"))
            .push(
                "parameters go in",
                match auth {
                    ClientAuth::QueryParams => "the query string (empty body)",
                    ClientAuth::FormBody | ClientAuth::BasicAuth => {
                        "an application/x-www-form-urlencoded body"
                    }
                },
            );
        for (k, v) in self.params() {
            ex.push_param(k, v);
        }
        if auth == ClientAuth::BasicAuth {
            ex.push(
                "header",
                "Authorization: Basic base64(client_id:client_secret)",
            )
            .push_secret(
                "client_secret",
                self.app.config().client_secret.expose_secret(),
            );
        }
        Some(ex)
    }

    fn name(&self) -> &'static str {
        match self.grant.grant_type() {
            GrantType::ClientCredentials => "tf56.token.client_credentials",
            GrantType::AuthorizationCode => "tf56.token.authorization_code",
            GrantType::Password => "tf56.token.password",
            GrantType::RefreshToken => "tf56.token.refresh_token",
        }
    }
}

/// The authorize page URL (`{base}/openGateway/oauth/?response_type=code&client_id=…&
/// redirect_uri=…&state=…&scope=…`). The `state` is drawn once, when the value is made; keep
/// [`AuthorizeRequest::state`] to verify the callback with [`parse_callback`].
///
/// ```
/// use std::sync::Arc;
/// use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
/// use kaifang_proto_tf56::{AuthorizeRequest, Tf56, Tf56Config};
///
/// let app = Tf56::new(Tf56Config::new("1", "s").redirect_uri("http://test.tf56.com").scope("all"))?;
/// let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(0)), Arc::new(FixedNonce::new("asdfadsklj")));
/// let page = AuthorizeRequest::new(&app, &ctx)?;
/// assert_eq!(
///     page.url(),
///     "https://open.tf56.com/openGateway/oauth/?response_type=code&client_id=1&redirect_uri=http%3A%2F%2Ftest.tf56.com&state=asdfadskljasdfad&scope=all"
/// );
/// assert_eq!(page.state(), "asdfadskljasdfad");
/// # Ok::<(), kaifang_proto_core::Error>(())
/// ```
#[derive(Clone)]
pub struct AuthorizeRequest {
    url: String,
    state: String,
}

impl fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state is in the query: show the endpoint only.
        let endpoint = self.url.split('?').next().unwrap_or_default();
        f.debug_struct("AuthorizeRequest")
            .field("endpoint", &endpoint)
            .field("state", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Length of the state drawn by [`AuthorizeRequest::new`].
pub const STATE_LEN: usize = 16;

impl AuthorizeRequest {
    /// The authorize URL with a fresh 16-character alphanumeric state from `ctx`.
    ///
    /// # Errors
    /// [`Error::Config`] when no `redirect_uri` is configured or the random source fails.
    pub fn new(app: &Tf56, ctx: &Context) -> Result<Self, Error> {
        Self::with_state(app, ctx.nonce(STATE_LEN)?)
    }

    /// The same with a state of your choice (non-empty).
    ///
    /// # Errors
    /// As [`AuthorizeRequest::new`], and for an empty state.
    pub fn with_state(app: &Tf56, state: impl Into<String>) -> Result<Self, Error> {
        let state = state.into();
        let cfg = app.config();
        let redirect_uri = cfg.redirect_uri.as_deref().ok_or_else(|| {
            Error::Config(
                "tf56: the authorize page needs the registered redirect_uri (Tf56Config::redirect_uri)"
                    .into(),
            )
        })?;
        if state.is_empty() {
            return Err(Error::Config("tf56: the state is empty".into()));
        }
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code")
            .append_pair("client_id", &cfg.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", &state);
        if let Some(scope) = cfg.scope.as_deref() {
            q.append_pair("scope", scope);
        }
        let url = format!("{}?{}", app.authorize_endpoint(), q.finish());
        Ok(AuthorizeRequest { url, state })
    }

    /// The URL to send the user's browser to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The state to expect back.
    pub fn state(&self) -> &str {
        &self.state
    }
}

/// Reads the callback (`?state=…&code=…`, or `?error=…&error_description=…&state=…`) and
/// verifies the state in constant time. Accepts the query string (with or without `?`) or the
/// whole callback URL.
///
/// # Errors
/// A [`PlatformError`] (platform `tf56`) with code
/// * `state_mismatch` when the state is missing or differs (possible CSRF: drop the request);
/// * the OAuth `error` (`access_denied`, `invalid_scope`, …, typed by [`OAuthErrorCode`]) when
///   the server refused;
/// * `missing_code` when there is no code.
///
/// ```
/// use kaifang_proto_tf56::parse_callback;
///
/// let code = parse_callback("http://www.yourdomain.com/?state=123456&code=61ee64e55e08383ca93bdf045e24fa2b", "123456")?;
/// assert_eq!(code.expose_secret(), "61ee64e55e08383ca93bdf045e24fa2b");
/// assert!(parse_callback("state=x&code=c", "123456").is_err());
/// let denied = parse_callback("?error=access_denied&state=123456", "123456").unwrap_err();
/// assert_eq!(denied.platform().unwrap().code, "access_denied");
/// # Ok::<(), kaifang_proto_core::Error>(())
/// ```
pub fn parse_callback(callback: &str, expected_state: &str) -> Result<SecretString, Error> {
    let query = match callback.split_once('?') {
        Some((_, q)) => q,
        None => callback,
    };
    let query = query.split('#').next().unwrap_or_default();
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(SecretString::new(v.into_owned()));
        }
    }
    // Constant-time comparison (SecretString's Eq).
    let state_ok = state.is_some_and(|s| s == SecretString::new(expected_state));
    if !state_ok {
        return Err(local_error(
            "state_mismatch",
            "the callback's state is missing or differs from the one sent",
            "Possible CSRF or a stale login: discard this callback and start the login again.",
        ));
    }
    if let Some(error) = error {
        let typed = OAuthErrorCode::parse(error.expose_secret());
        return Err(Error::Platform(PlatformError {
            platform: PLATFORM,
            code: codes::scrub(error.expose_secret()),
            message: description
                .map(|d| codes::scrub(d.expose_secret()))
                .unwrap_or_default(),
            hint: typed.map(OAuthErrorCode::hint),
            class: typed.map_or(kaifang_proto_core::ErrorClass::Other, OAuthErrorCode::class),
        }));
    }
    code.filter(|c| !c.is_empty()).ok_or_else(|| {
        local_error(
            "missing_code",
            "the callback carries no code",
            "Start the login again.",
        )
    })
}

enum Mode {
    ClientCredentials,
    Password {
        username: String,
        password: SecretString,
    },
    AuthorizationCode(Mutex<Option<SecretString>>),
}

/// tf56 in the token lifecycle, keyed `tf56 / {client_id} / {grant type}`.
///
/// * [`Plan::UseRefreshToken`] → the `refresh_token` grant (the server rotates the refresh
///   token; the new one comes with the new token).
/// * [`Plan::FullGrant`] → `client_credentials`, or `password` with the stored credentials, or
///   `authorization_code` with the one-time code given by [`Tf56Tokens::with_code`] /
///   [`Tf56Tokens::set_code`]; once it is used, a `login_required` error
///   ([`codes::is_login_required`]) says the user must log in again.
///
/// ```
/// use kaifang_proto_core::lifecycle::{Plan, TokenSource};
/// use kaifang_proto_tf56::{Tf56, Tf56Config, Tf56Tokens, codes};
///
/// let app = Tf56::new(Tf56Config::new("1", "s").redirect_uri("http://test.tf56.com"))?;
/// let source = Tf56Tokens::authorization_code(&app).with_code("61ee64e55e08383ca93bdf045e24fa2b");
/// assert_eq!(source.key().to_string(), "tf56:1:authorization_code");
/// assert!(source.exchange(&Plan::FullGrant).is_ok());       // uses the code
/// let again = source.exchange(&Plan::FullGrant).err().unwrap(); // the code was single-use
/// assert!(codes::is_login_required(&again));
/// # Ok::<(), kaifang_proto_core::Error>(())
/// ```
pub struct Tf56Tokens {
    app: Tf56,
    key: TokenKey,
    mode: Mode,
}

impl fmt::Debug for Tf56Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tf56Tokens")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tf56Tokens {
    fn with_mode(app: &Tf56, kind: GrantType, mode: Mode) -> Self {
        Tf56Tokens {
            app: app.clone(),
            key: TokenKey::new(PLATFORM, app.config().client_id.clone(), kind.as_str()),
            mode,
        }
    }

    /// Tokens for public APIs: `client_credentials`.
    pub fn client_credentials(app: &Tf56) -> Self {
        Self::with_mode(app, GrantType::ClientCredentials, Mode::ClientCredentials)
    }

    /// Tokens for a user from their name and password: `password`.
    pub fn password(app: &Tf56, username: impl Into<String>, password: SecretString) -> Self {
        Self::with_mode(
            app,
            GrantType::Password,
            Mode::Password {
                username: username.into(),
                password,
            },
        )
    }

    /// Tokens for a user who logs in on the authorize page: `authorization_code`. Give the code
    /// from the callback with [`with_code`](Self::with_code) or [`set_code`](Self::set_code).
    pub fn authorization_code(app: &Tf56) -> Self {
        Self::with_mode(
            app,
            GrantType::AuthorizationCode,
            Mode::AuthorizationCode(Mutex::new(None)),
        )
    }

    /// Supplies the code of a completed login, used once.
    #[must_use]
    pub fn with_code(self, code: impl Into<SecretString>) -> Self {
        self.set_code(code);
        self
    }

    /// Supplies the code of a new login (after a `login_required` error), used once. Does
    /// nothing for the other grants.
    pub fn set_code(&self, code: impl Into<SecretString>) {
        if let Mode::AuthorizationCode(slot) = &self.mode
            && let Ok(mut slot) = slot.lock()
        {
            *slot = Some(code.into());
        }
    }
}

impl TokenSource for Tf56Tokens {
    fn key(&self) -> &TokenKey {
        &self.key
    }

    fn exchange(&self, plan: &Plan) -> Result<TokenExchange<'_>, Error> {
        let grant = match (plan, &self.mode) {
            (Plan::UseRefreshToken(refresh), _) => Grant::RefreshToken(refresh.clone()),
            (Plan::FullGrant, Mode::ClientCredentials) => Grant::ClientCredentials,
            (Plan::FullGrant, Mode::Password { username, password }) => Grant::Password {
                username: username.clone(),
                password: password.clone(),
            },
            (Plan::FullGrant, Mode::AuthorizationCode(slot)) => slot
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .map(Grant::AuthorizationCode)
                .ok_or_else(|| {
                    local_error(
                        LOGIN_REQUIRED,
                        "no authorization code left: the user must log in again",
                        "Send the user to the authorize page again (AuthorizeRequest), then give the new code with Tf56Tokens::set_code.",
                    )
                })?,
        };
        Ok(Box::new(TokenRequest::new(&self.app, grant)?))
    }
}
