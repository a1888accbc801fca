//! The server's answers, byte for byte: token bodies in the seed's key order, OAuth error
//! bodies, the business envelope, redirects.

use std::fmt;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::codes::{OAuthErrorCode, RESULT_ERROR, RESULT_SUCCESS};
use crate::oauth::GrantType;

/// The content type of every JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";
/// The `token_type` the gateway issues `[C]`.
pub const TOKEN_TYPE: &str = "uuid";

/// A JSON string literal (quotes and escapes). Serializing a `&str` cannot fail.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The two spellings of a token answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSpelling {
    /// `{"scope","expires_in","token_type"[,"refresh_token"],"access_token"}`: the
    /// `client_credentials` answer `[C: seed]`.
    Underscored,
    /// `{"scope","expiresin","tokentype"[,"refreshtoken"],"accesstoken"}`: the
    /// `authorization_code` answer `[C: seed]`, also used for `password` and `refresh_token`
    /// `[I]`.
    Compact,
}

impl TokenSpelling {
    /// The spelling of the answer to `grant`.
    pub const fn for_grant(grant: GrantType) -> Self {
        match grant {
            GrantType::ClientCredentials => Self::Underscored,
            _ => Self::Compact,
        }
    }
}

/// A token answer, rendered compact on one line in the seed's key order with the access token
/// **last** (a real client extracts it with `lastIndexOf(":")`).
///
/// ```
/// use kaifang_proto_tf56::server::{TokenSpelling, token_json};
///
/// assert_eq!(
///     token_json(TokenSpelling::Underscored, "商铺 good-list op-truck open-demo", 1800, None, "d45e242ad95238cfa9a24436153adfa0"),
///     r#"{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":"d45e242ad95238cfa9a24436153adfa0"}"#,
/// );
/// assert_eq!(
///     token_json(TokenSpelling::Compact, "all", 25200, Some("ec63769442ac34c5a698d3a6d2b07654"), "db4439a4ee2d3d0795e03013d227fc0d"),
///     r#"{"scope":"all","expiresin":25200,"tokentype":"uuid","refreshtoken":"ec63769442ac34c5a698d3a6d2b07654","accesstoken":"db4439a4ee2d3d0795e03013d227fc0d"}"#,
/// );
/// ```
pub fn token_json(
    spelling: TokenSpelling,
    scope: &str,
    expires_in: u64,
    refresh_token: Option<&str>,
    access_token: &str,
) -> String {
    let (expires, kind, refresh, access) = match spelling {
        TokenSpelling::Underscored => ("expires_in", "token_type", "refresh_token", "access_token"),
        TokenSpelling::Compact => ("expiresin", "tokentype", "refreshtoken", "accesstoken"),
    };
    let mut out = format!(
        "{{\"scope\":{},\"{expires}\":{expires_in},\"{kind}\":{}",
        lit(scope),
        lit(TOKEN_TYPE)
    );
    if let Some(r) = refresh_token {
        out.push_str(&format!(",\"{refresh}\":{}", lit(r)));
    }
    out.push_str(&format!(",\"{access}\":{}}}", lit(access_token)));
    out
}

/// Tokens just issued. `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The access token (32 lower-case hex).
    pub access_token: String,
    /// The refresh token, for user grants.
    pub refresh_token: Option<String>,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// Granted scope.
    pub scope: Vec<String>,
    /// The grant of this request.
    pub grant: GrantType,
    /// The client.
    pub client_id: String,
    /// The user, for user grants.
    pub username: Option<String>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("grant", &self.grant)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish()
    }
}

impl IssuedToken {
    /// The body, in the spelling of its grant ([`TokenSpelling::for_grant`]).
    pub fn to_json(&self) -> String {
        token_json(
            TokenSpelling::for_grant(self.grant),
            &self.scope.join(" "),
            self.expires_in,
            self.refresh_token.as_deref(),
            &self.access_token,
        )
    }

    /// The HTTP answer: 200, JSON, `Cache-Control: no-store`.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let mut resp = json_response(StatusCode::OK, self.to_json());
        no_store(&mut resp);
        resp
    }
}

/// An OAuth error answer `{"error":…,"error_description":…}` with the code's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthRefusal {
    /// The code.
    pub error: OAuthErrorCode,
    /// The description (never holds a secret: the server functions write it).
    pub description: String,
}

impl OAuthRefusal {
    /// A refusal.
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        OAuthRefusal {
            error,
            description: description.into(),
        }
    }

    /// The HTTP status ([`OAuthErrorCode::status`]).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The body, compact: `{"error":"invalid_client","error_description":"Bad client credentials"}`.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"error\":{},\"error_description\":{}}}",
            lit(self.error.as_str()),
            lit(&self.description)
        )
    }

    /// The HTTP answer, with `WWW-Authenticate` on 401 (`Basic realm="tf56"` for
    /// `invalid_client`, `Bearer error="invalid_token"` for `invalid_token`) and
    /// `Cache-Control: no-store`.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let mut resp = json_response(self.status(), self.to_json());
        let challenge = match self.error {
            OAuthErrorCode::InvalidClient => Some("Basic realm=\"tf56\""),
            OAuthErrorCode::InvalidToken => Some("Bearer realm=\"tf56\", error=\"invalid_token\""),
            OAuthErrorCode::InsufficientScope => {
                Some("Bearer realm=\"tf56\", error=\"insufficient_scope\"")
            }
            _ => None,
        };
        if let Some(c) = challenge {
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        no_store(&mut resp);
        resp
    }
}

/// The business envelope, compact, keys in the order `result, code, msg, data`.
///
/// ```
/// use kaifang_proto_tf56::server::envelope_json;
/// assert_eq!(
///     envelope_json("success", "200", "成功", &serde_json::json!({"a":1})),
///     r#"{"result":"success","code":"200","msg":"成功","data":{"a":1}}"#,
/// );
/// ```
pub fn envelope_json(result: &str, code: &str, msg: &str, data: &Value) -> String {
    format!(
        "{{\"result\":{},\"code\":{},\"msg\":{},\"data\":{data}}}",
        lit(result),
        lit(code),
        lit(msg)
    )
}

/// A success envelope (HTTP 200, code `200`, msg `成功`).
pub fn gateway_success(data: &Value) -> http::Response<Vec<u8>> {
    json_response(
        StatusCode::OK,
        envelope_json(RESULT_SUCCESS, crate::codes::GW_SUCCESS, "成功", data),
    )
}

/// An error envelope (`result: "error"`, `data: null`) with this HTTP status.
pub fn gateway_error(status: StatusCode, code: &str, msg: &str) -> http::Response<Vec<u8>> {
    json_response(status, envelope_json(RESULT_ERROR, code, msg, &Value::Null))
}

/// A `302 Found` to `location`.
pub fn redirect(location: &str) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(Vec::new());
    *resp.status_mut() = StatusCode::FOUND;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
        }
        Err(_) => *resp.status_mut() = StatusCode::BAD_REQUEST,
    }
    resp
}

pub(crate) fn json_response(status: StatusCode, body: String) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(body.into_bytes());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    resp
}

fn no_store(resp: &mut http::Response<Vec<u8>>) {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(PRAGMA, HeaderValue::from_static("no-cache"));
}
