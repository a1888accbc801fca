//! Login and tokens: `getAuthPageUrl`, the callback, `getAccessToken` for every grant type, and
//! the [`TokenSource`] that plugs Tianyi into the token lifecycle.

use std::fmt;
use std::sync::Mutex;

use kaifang_proto_core::context::Context;
use kaifang_proto_core::envelope::{de, either_key};
use kaifang_proto_core::error::PlatformError;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::explain::Explain;
use kaifang_proto_core::lifecycle::{Plan, TokenExchange, TokenKey, TokenSource};
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::token::Token;
use kaifang_proto_core::{Error, ErrorClass};
use serde_json::Value;

use crate::app::{AppKind, Tianyi};
use crate::envelope::{build_request, explain_form};
use crate::params::PrivateParams;
use crate::response;

/// `POST /open/oauth/login/getAuthPageUrl`.
pub const AUTH_PAGE_PATH: &str = "/open/oauth/login/getAuthPageUrl";
/// `POST /open/oauth/getAccessToken`.
pub const ACCESS_TOKEN_PATH: &str = "/open/oauth/getAccessToken";

/// `loginClientType`: which login page the platform shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginClientType {
    /// `10010`: web / PC.
    #[default]
    Web,
    /// `20100`: WAP / H5.
    Wap,
}

impl LoginClientType {
    /// The wire value.
    pub const fn code(self) -> u32 {
        match self {
            LoginClientType::Web => 10010,
            LoginClientType::Wap => 20100,
        }
    }
}

/// The login page request. Its `state` is drawn once, when the value is made, so a retried
/// request keeps it; keep [`AuthPageRequest::state`] to verify the callback.
#[derive(Debug)]
pub struct AuthPageRequest {
    app: Tianyi,
    params: PrivateParams,
    state: String,
}

impl AuthPageRequest {
    /// A login-page request for `callback_url` with a fresh 16-character alphanumeric state.
    ///
    /// # Errors
    /// [`Error::Config`] for a callback URL that is not an absolute http(s) URL or holds `&`.
    pub fn new(
        app: &Tianyi,
        ctx: &Context,
        callback_url: &str,
        login: LoginClientType,
    ) -> Result<Self, Error> {
        let state = ctx.nonce(16)?;
        Self::with_state(app, callback_url, login, state)
    }

    /// The same with a state of your choice.
    ///
    /// # Errors
    /// As [`AuthPageRequest::new`].
    pub fn with_state(
        app: &Tianyi,
        callback_url: &str,
        login: LoginClientType,
        state: String,
    ) -> Result<Self, Error> {
        let url = url::Url::parse(callback_url)
            .map_err(|e| Error::Config(format!("tianyi: callbackUrl {callback_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(
                "tianyi: callbackUrl needs the protocol, http:// or https://".into(),
            ));
        }
        let params = PrivateParams::new()
            .with("callbackUrl", callback_url)?
            .with("state", state.clone())?
            .with("loginClientType", login.code().to_string())?;
        Ok(AuthPageRequest {
            app: app.clone(),
            params,
            state,
        })
    }

    /// The state to verify in the callback.
    pub fn state(&self) -> &str {
        &self.state
    }
}

/// The login page to send the user to, and the state to expect back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPage {
    /// The URL of the platform's login page.
    pub url: String,
    /// The state sent.
    pub state: String,
}

impl Exchange for AuthPageRequest {
    type Output = AuthPage;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        build_request(&self.app, AUTH_PAGE_PATH, &self.params, ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<AuthPage, Error> {
        let data = response::data(&self.app, ctx, &resp)?;
        let url = match &data {
            Value::String(s) => s.clone(),
            Value::Object(map) => either_key(map, &["url", "authPageUrl"])
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::decode("data", "expected the login URL", resp.body()))?,
            _ => {
                return Err(Error::decode(
                    "data",
                    "expected the login URL as a string",
                    resp.body(),
                ));
            }
        };
        Ok(AuthPage {
            url,
            state: self.state.clone(),
        })
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        explain_form(
            &self.app,
            AUTH_PAGE_PATH,
            &self.params,
            u64::try_from(ctx.now_millis()).unwrap_or(0),
        )
    }

    fn name(&self) -> &'static str {
        "tianyi.get_auth_page_url"
    }
}

/// Reads the callback query (`authCode`, `errorCode`, `state`) and verifies the state.
///
/// `query` is the query string of the callback URL, with or without a leading `?`.
///
/// # Errors
/// A [`PlatformError`] with code `state_mismatch` (possible CSRF: drop the request) when the
/// state differs or is missing, with the platform's `errorCode` when it is not `0`, and with
/// `missing_auth_code` when there is no code.
pub fn parse_callback(query: &str, expected_state: &str) -> Result<SecretString, Error> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut code = None;
    let mut state = None;
    let mut error_code = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "authCode" => code = Some(SecretString::new(v.into_owned())),
            "state" => state = Some(v.into_owned()),
            "errorCode" | "errcode" | "errCode" => error_code = Some(v.into_owned()),
            _ => {}
        }
    }
    // Constant-time comparison (SecretString's Eq).
    let state_ok = state.is_some_and(|s| SecretString::new(s) == SecretString::new(expected_state));
    if !state_ok {
        return Err(callback_error(
            "state_mismatch",
            "the callback's state differs from the one sent",
            "Possible CSRF or a stale login: discard this callback and start the login again.",
        ));
    }
    if let Some(ec) = error_code.filter(|c| c != "0") {
        return Err(callback_error(
            "login_refused",
            &format!("login failed with errorCode {ec}"),
            "The user did not authorize the app, or the login failed; the authCode is only usable when errorCode is 0.",
        ));
    }
    code.filter(|c| !c.is_empty()).ok_or_else(|| {
        callback_error(
            "missing_auth_code",
            "the callback carries no authCode",
            "Start the login again.",
        )
    })
}

fn callback_error(code: &str, message: &str, hint: &'static str) -> Error {
    Error::Platform(PlatformError {
        platform: "tianyi",
        code: code.to_owned(),
        message: message.to_owned(),
        hint: Some(hint),
        class: ErrorClass::BadRequest,
    })
}

/// The grant of a `getAccessToken` call.
#[derive(Clone, PartialEq, Eq)]
pub enum Grant {
    /// `auth_code` + `authCode`: standard apps, after the user logged in.
    AuthCode(SecretString),
    /// `vcp_189`: platform apps, no user interaction (sends `enterpriseUser`).
    Vcp189,
    /// `189_code` + `tokenCode`: standard apps via a 天翼 account token code.
    Code189(SecretString),
    /// `refresh_token` + `refreshToken`: new access and refresh tokens.
    RefreshToken(SecretString),
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grant::AuthCode(_) => "Grant::AuthCode([redacted])",
            Grant::Vcp189 => "Grant::Vcp189",
            Grant::Code189(_) => "Grant::Code189([redacted])",
            Grant::RefreshToken(_) => "Grant::RefreshToken([redacted])",
        })
    }
}

impl Grant {
    /// The `grantType` value.
    pub const fn grant_type(&self) -> &'static str {
        match self {
            Grant::AuthCode(_) => "auth_code",
            Grant::Vcp189 => "vcp_189",
            Grant::Code189(_) => "189_code",
            Grant::RefreshToken(_) => "refresh_token",
        }
    }
}

/// `getAccessToken` for one grant.
#[derive(Debug)]
pub struct GetAccessToken {
    app: Tianyi,
    params: PrivateParams,
}

impl GetAccessToken {
    /// The token request for `grant`.
    ///
    /// # Errors
    /// [`Error::Config`] when the grant does not fit the app type (the server would answer
    /// 30040), said before calling.
    pub fn new(app: &Tianyi, grant: &Grant) -> Result<Self, Error> {
        let kind = app.config().kind;
        match (grant, kind) {
            (Grant::Vcp189, AppKind::Standard) => {
                return Err(Error::Config("tianyi: vcp_189 is for platform apps; standard apps use auth_code or 189_code (the server answers 30040)".into()));
            }
            (Grant::AuthCode(_) | Grant::Code189(_), AppKind::Platform) => {
                return Err(Error::Config("tianyi: platform apps use vcp_189; auth_code and 189_code are for standard apps (the server answers 30040)".into()));
            }
            _ => {}
        }
        let mut params = PrivateParams::new().with("grantType", grant.grant_type())?;
        match grant {
            Grant::AuthCode(code) => params.push("authCode", code.expose_secret())?,
            Grant::Code189(code) => params.push("tokenCode", code.expose_secret())?,
            Grant::RefreshToken(refresh) => params.push("refreshToken", refresh.expose_secret())?,
            Grant::Vcp189 => &mut params,
        };
        if kind == AppKind::Platform {
            add_platform_user(app, &mut params)?;
        }
        Ok(GetAccessToken {
            app: app.clone(),
            params,
        })
    }
}

/// Adds `enterpriseUser` (and `parentUser`) for platform apps.
pub(crate) fn add_platform_user(app: &Tianyi, params: &mut PrivateParams) -> Result<(), Error> {
    if let Some(user) = app.config().enterprise_user.as_deref() {
        params.push("enterpriseUser", user)?;
    }
    if let Some(parent) = app.config().parent_user.as_deref() {
        params.push("parentUser", parent)?;
    }
    Ok(())
}

impl Exchange for GetAccessToken {
    type Output = Token;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        build_request(&self.app, ACCESS_TOKEN_PATH, &self.params, ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Token, Error> {
        let data = response::data(&self.app, ctx, &resp)?;
        parse_token(&data, self.app.config().kind, ctx, resp.body())
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        explain_form(
            &self.app,
            ACCESS_TOKEN_PATH,
            &self.params,
            u64::try_from(ctx.now_millis()).unwrap_or(0),
        )
    }

    fn name(&self) -> &'static str {
        "tianyi.get_access_token"
    }
}

/// Reads `{"accessToken","refreshToken","expiresIn"|"expiresin","refreshExpiresIn"|"refreshExpiresin"}`
/// (numbers or strings of seconds); missing lifetimes default to the app type's.
///
/// # Errors
/// [`Error::Decode`] with the path of the bad field.
pub fn parse_token(
    data: &Value,
    kind: AppKind,
    ctx: &Context,
    body: &[u8],
) -> Result<Token, Error> {
    let map = data
        .as_object()
        .ok_or_else(|| Error::decode("data", "expected an object", body))?;
    let access = either_key(map, &["accessToken", "access_token"])
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::decode("data.accessToken", "missing", body))?;
    let secs = |keys: &[&str], path: &str, default: u64| -> Result<u64, Error> {
        match either_key(map, keys) {
            None => Ok(default),
            Some(v) => de::num_or_str::<_, u64>(v.clone())
                .map_err(|e| Error::decode(path, format!("expected seconds: {e}"), body)),
        }
    };
    let expires_in = secs(
        &["expiresIn", "expiresin", "expires_in"],
        "data.expiresIn",
        kind.access_ttl_secs(),
    )?;
    let refresh_in = secs(
        &["refreshExpiresIn", "refreshExpiresin", "refresh_expires_in"],
        "data.refreshExpiresIn",
        kind.refresh_ttl_secs(),
    )?;
    let mut token = Token::from_expires_in(access, ctx.now(), expires_in);
    if let Some(refresh) =
        either_key(map, &["refreshToken", "refresh_token"]).and_then(Value::as_str)
    {
        token = token.with_refresh(refresh, Some(refresh_in));
    }
    for (k, v) in map {
        if !matches!(
            k.as_str(),
            "accessToken"
                | "access_token"
                | "refreshToken"
                | "refresh_token"
                | "expiresIn"
                | "expiresin"
                | "expires_in"
                | "refreshExpiresIn"
                | "refreshExpiresin"
                | "refresh_expires_in"
        ) {
            token.extra.insert(k.clone(), v.clone());
        }
    }
    Ok(token)
}

/// Tianyi in the token lifecycle: refreshes with `refresh_token`; the full grant is `vcp_189`
/// for platform apps, and for standard apps a one-time authorization code (or 189 token code)
/// given with [`TianyiTokens::with_login`] — once used, a standard app needs a new login.
pub struct TianyiTokens {
    app: Tianyi,
    key: TokenKey,
    login: Mutex<Option<Grant>>,
}

impl fmt::Debug for TianyiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TianyiTokens")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl TianyiTokens {
    /// The token source of `app`, keyed `tianyi / {appId} / access`.
    pub fn new(app: &Tianyi) -> Self {
        let key = TokenKey::new("tianyi", app.config().app_id.clone(), "access");
        TianyiTokens {
            app: app.clone(),
            key,
            login: Mutex::new(None),
        }
    }

    /// Supplies the code of a completed login (`auth_code` or `189_code` grant), used once.
    #[must_use]
    pub fn with_login(self, grant: Grant) -> Self {
        if let Ok(mut slot) = self.login.lock() {
            *slot = Some(grant);
        }
        self
    }
}

impl TokenSource for TianyiTokens {
    fn key(&self) -> &TokenKey {
        &self.key
    }

    fn exchange(&self, plan: &Plan) -> Result<TokenExchange<'_>, Error> {
        let grant = match plan {
            Plan::UseRefreshToken(refresh) => Grant::RefreshToken(refresh.clone()),
            Plan::FullGrant => match self.app.config().kind {
                AppKind::Platform => Grant::Vcp189,
                AppKind::Standard => self
                    .login
                    .lock()
                    .ok()
                    .and_then(|mut slot| slot.take())
                    .ok_or_else(|| {
                        Error::Config(
                            "tianyi: a standard app needs a new login (authorization code) to get a token; run the login flow again".into(),
                        )
                    })?,
            },
        };
        Ok(Box::new(GetAccessToken::new(&self.app, &grant)?))
    }
}
