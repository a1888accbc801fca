//! The server half: verify a request the way Zhiyun's server does, and build its answers. The
//! sandbox is this module plus a lock around a [`ServerState`]; anyone emulating Zhiyun can use
//! it.
//!
//! # Order of the checks
//! The real server is PHP (ThinkPHP 3, `System\Logic\ValiditCheckLogic`); its order and its
//! English messages for the data calls are known \[C\]. Each failure is a [`Refusal`]:
//!
//! | step | function | code: message |
//! |---|---|---|
//! | 0 | [`Incoming::parse`] | unknown path → HTTP 404, 400 `Not Found`; not GET → HTTP 405, 400 `Method Not Allowed` \[I\] |
//! | 1 filter layer \[I\] | [`checks::check_params`] | 601 `Illegal parameter: <name>` (missing or not decimal), 602 `Empty parameter: <name>`, 400 `Illegal check value p_`, 400 `Timestamp t_ is out of range` |
//! | 2 `checkClientId` | [`checks::check_client_id`] | 100009 `http header authentication is illegal`; 100002 `Client_id access is illegal` (not for `authorize`); 100008 `The client_id  does not exist.`; 100013 `client_secret  access is illegal` |
//! | 3 `checkToken` | [`checks::check_token`] | 100014 `access token expired, please log in again` \[I: message; also for unknown tokens\] |
//! | 4 `checkAuthorizationCodeLifeTime` | [`checks::check_auth_code_lifetime`] | 100019 `Authorization code does not exist, please reauthorize`; 100020 `authorization code expired, please reauthorize` |
//! | 5 `checkAccessPermissionScope` | [`checks::check_scope`] | 100018 `The authorization code does not have permission to access` |
//! | 6 `isAuthcodeToClient` | [`checks::check_code_client`] | 100021 `Authorized client illegally holds authorization code` |
//! | 7 `isAuthcodeToUser` | [`checks::check_code_user`] | 100023 `Authorized user illegally holds authorization code` |
//! | 8 the service | [`handle`] | 602 `Empty content` when the user or company has no data \[I\] |
//!
//! `authorize` runs steps 1–3 (its handler is not public \[I\]) and issues a 40-hex code stored
//! with the client id, the token's user, `now + auth_code_ttl` and the client's scope.
//!
//! Choices where the source is silent \[I\]: `t_` may be seconds or milliseconds (the desktop
//! client sends seconds) and must be within ±10 minutes; `p_` is checked against the `t_` sent;
//! both time checks answer 400 请求无效, missing or malformed parameters 601 参数非法, empty ones
//! 602 内容为空. Refusals are sent with HTTP 200 and mirror the success envelope:
//! `{"data":null,"code":…,"message":"…"}` or its XML form with `<data/>`. The service and method
//! path segments are matched ignoring case.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use kaifang_proto_zhiyun::server::{self, ServerOptions, tenant};
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_522_404_566);
//! let mut state = tenant::seed_state(now - Duration::from_secs(86_400), tenant::ACCESS_TOKEN_TTL);
//! let req = http::Request::get("/apis/rest/authService/authorize/json?access_token=9106c9fd1e138a042d4aedf94cede7a766e0&t_=1522404566&p_=16043")
//!     .header("authorization", "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU")
//!     .body(())
//!     .unwrap();
//! let resp = server::handle(&mut state, &req, now, &ServerOptions::default(), b"entropy");
//! let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
//! assert_eq!(body["code"], 200);
//! assert_eq!(body["data"]["auth_code"].as_str().unwrap().len(), 40);
//! assert_eq!(state.codes.len(), 1);
//! ```

pub mod checks;
pub mod state;
pub mod tenant;

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::digest::sha1;
use kaifang_sign_core::hex::{HexCase, HexString};
use serde::Serialize;

pub use checks::Query;
pub use state::{
    AccessTokenRecord, AuthCodeRecord, MemoryState, ServerClient, ServerState, split_scope,
};

use crate::codes::{self, Code};
use crate::endpoint::{Endpoint, Format};
use crate::request::Stamp;
use crate::xml;

/// Server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// How far `t_` may be from the server's clock; `None` disables the check. Default ±10
    /// minutes \[I\].
    pub timestamp_window: Option<Duration>,
    /// Lifetime of issued auth codes. Default 10 minutes \[I\].
    pub auth_code_ttl: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            timestamp_window: Some(Duration::from_secs(600)),
            auth_code_ttl: Duration::from_secs(crate::app::DEFAULT_AUTH_CODE_TTL_SECS),
        }
    }
}

/// The platform's refusal: a code and message, rendered as the server renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// The HTTP status (200 for the platform's own refusals).
    pub status: StatusCode,
}

impl Refusal {
    /// The refusal for `code` with the server's message.
    pub fn new(code: Code) -> Self {
        let info = code.info();
        Refusal {
            code: info.code,
            message: info.en.to_owned(),
            status: StatusCode::OK,
        }
    }

    /// The same with another message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The same with another HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The typed code, when known.
    pub fn kind(&self) -> Option<Code> {
        Code::from_value(self.code)
    }

    /// The answer: `{"data":null,"code":…,"message":…}` or its XML form.
    pub fn to_response(&self, format: Format) -> http::Response<Vec<u8>> {
        let mut resp = render::<()>(format, self.code, &self.message, None);
        *resp.status_mut() = self.status;
        resp
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

#[derive(Serialize)]
struct JsonOut<'a, T> {
    data: Option<&'a T>,
    code: i64,
    message: &'a str,
}

/// Renders an envelope in `format` (HTTP 200, with its `Content-Type`).
pub fn render<T: Serialize>(
    format: Format,
    code: i64,
    message: &str,
    data: Option<&T>,
) -> http::Response<Vec<u8>> {
    let body = match format {
        Format::Json => serde_json::to_vec(&JsonOut {
            data,
            code,
            message,
        })
        .map_err(|e| e.to_string()),
        Format::Xml => xml::render(code, message, data)
            .map(String::into_bytes)
            .map_err(|e| e.to_string()),
    };
    let (status, body) = match body {
        Ok(body) => (StatusCode::OK, body),
        // Only a data type that cannot be rendered gets here: a bug in the state, not input.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"data":null,"code":500,"message":"Internal Server Error"}"#.to_vec(),
        ),
    };
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(match (status, format) {
            (StatusCode::OK, f) => f.content_type(),
            _ => Format::Json.content_type(),
        }),
    );
    resp
}

/// A success answer `{"data":…,"code":200,"message":"ok"}` (or XML).
pub fn success<T: Serialize>(format: Format, data: &T) -> http::Response<Vec<u8>> {
    render(format, codes::SUCCESS, codes::SUCCESS_MESSAGE, Some(data))
}

/// What the server reads from a request before any check.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The answer format.
    pub format: Format,
    /// The query parameters.
    pub query: Query,
    authorization: Option<SecretString>,
}

impl Incoming {
    /// Routes a request (method and path) and reads its query and `Authorization` header.
    ///
    /// # Errors
    /// HTTP 404 (code 400 `Not Found`) for another path, HTTP 405 (code 400 `Method Not
    /// Allowed`) for a method other than GET or HEAD \[I\]; both in JSON.
    pub fn parse<B>(req: &http::Request<B>) -> Result<Incoming, Refusal> {
        Self::from_parts(req.method(), req.uri(), req.headers())
    }

    /// [`Incoming::parse`] from the parts.
    ///
    /// # Errors
    /// As [`Incoming::parse`].
    pub fn from_parts(
        method: &Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> Result<Incoming, Refusal> {
        let (endpoint, format) = Endpoint::route(uri.path()).ok_or_else(|| {
            Refusal::new(Code::BadRequest)
                .with_message("Not Found")
                .with_status(StatusCode::NOT_FOUND)
        })?;
        if method != Method::GET && method != Method::HEAD {
            return Err(Refusal::new(Code::BadRequest)
                .with_message("Method Not Allowed")
                .with_status(StatusCode::METHOD_NOT_ALLOWED));
        }
        Ok(Incoming {
            endpoint,
            format,
            query: Query::parse(uri.query().unwrap_or("")),
            authorization: headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(SecretString::new),
        })
    }

    /// The `Authorization` header, if any and readable as text.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_ref().map(SecretString::expose_secret)
    }
}

/// What a verified request carries.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The answer format.
    pub format: Format,
    /// `t_` and `p_` as sent.
    pub stamp: Stamp,
    /// The client (Basic user).
    pub client: ServerClient,
    /// The access token's record (its user).
    pub token: AccessTokenRecord,
    /// The auth code's record (user and company calls only).
    pub auth_code: Option<AuthCodeRecord>,
}

/// Runs the checks in the real server's order (see the module docs); no side effects.
///
/// # Errors
/// The [`Refusal`] of the first failed check.
pub fn verify<S: ServerState + ?Sized>(
    state: &S,
    incoming: &Incoming,
    now: SystemTime,
    opts: &ServerOptions,
) -> Result<Verified, Refusal> {
    let endpoint = incoming.endpoint;
    let q = &incoming.query;
    let stamp = checks::check_params(endpoint, q, now, opts)?;
    let client = checks::check_client_id(state, endpoint, incoming.authorization(), q)?;
    let token = checks::check_token(state, q.get("access_token").unwrap_or_default(), now)?;
    let auth_code = if endpoint.needs_auth_code() {
        let code =
            checks::check_auth_code_lifetime(state, q.get("auth_code").unwrap_or_default(), now)?;
        checks::check_scope(endpoint, &code)?;
        checks::check_code_client(&code, &client.client_id)?;
        checks::check_code_user(&code, &token)?;
        Some(code)
    } else {
        None
    };
    Ok(Verified {
        endpoint,
        format: incoming.format,
        stamp,
        client,
        token,
        auth_code,
    })
}

/// A new auth code: 40 lower-case hex characters, SHA-1 of `entropy`, the client, the user and
/// the time (the real codes look like SHA-1 digests). Give fresh random bytes as `entropy`.
pub fn mint_auth_code(entropy: &[u8], client_id: &str, user_id: &str, now: SystemTime) -> String {
    let mut input = Vec::with_capacity(entropy.len() + client_id.len() + user_id.len() + 24);
    input.extend_from_slice(entropy);
    input.extend_from_slice(client_id.as_bytes());
    input.push(0);
    input.extend_from_slice(user_id.as_bytes());
    input.push(0);
    input.extend_from_slice(&kaifang_proto_core::context::to_unix_millis(now).to_be_bytes());
    HexString::<40>::encode(&sha1(&input), HexCase::Lower)
        .as_str()
        .to_owned()
}

/// Issues an auth code for a verified `authorize` and stores it; returns the code.
pub fn issue_auth_code<S: ServerState + ?Sized>(
    state: &mut S,
    verified: &Verified,
    now: SystemTime,
    opts: &ServerOptions,
    entropy: &[u8],
) -> String {
    let code = mint_auth_code(
        entropy,
        &verified.client.client_id,
        &verified.token.user_id,
        now,
    );
    state.save_auth_code(
        &code,
        AuthCodeRecord {
            client_id: verified.client.client_id.clone(),
            user_id: verified.token.user_id.clone(),
            expires_at: now.checked_add(opts.auth_code_ttl).unwrap_or(now),
            scope: verified.client.scope.clone(),
        },
    );
    code
}

#[derive(Serialize)]
struct AuthCodeOut<'a> {
    auth_code: &'a str,
}

/// The whole server: route, verify, and answer (issuing a code for `authorize`, reading the
/// user or company otherwise, with `nowtime` = `now`). `entropy` feeds [`mint_auth_code`].
pub fn handle<S: ServerState + ?Sized, B>(
    state: &mut S,
    req: &http::Request<B>,
    now: SystemTime,
    opts: &ServerOptions,
    entropy: &[u8],
) -> http::Response<Vec<u8>> {
    let incoming = match Incoming::parse(req) {
        Ok(incoming) => incoming,
        Err(refusal) => return refusal.to_response(Format::Json),
    };
    let format = incoming.format;
    let verified = match verify(state, &incoming, now, opts) {
        Ok(v) => v,
        Err(refusal) => return refusal.to_response(format),
    };
    let nowtime = Some(checks::unix_secs(now));
    let empty = || Refusal::new(Code::EmptyContent).to_response(format);
    match verified.endpoint {
        Endpoint::Authorize => {
            let code = issue_auth_code(state, &verified, now, opts, entropy);
            success(format, &AuthCodeOut { auth_code: &code })
        }
        Endpoint::GetUserInfo => match state.user_info(&verified.token.user_id) {
            Some(mut user) => {
                user.nowtime = nowtime;
                success(format, &user)
            }
            None => empty(),
        },
        Endpoint::GetCompanyInfo => match state.company_info(&verified.token.user_id) {
            Some(mut company) => {
                company.nowtime = nowtime;
                success(format, &company)
            }
            None => empty(),
        },
    }
}
