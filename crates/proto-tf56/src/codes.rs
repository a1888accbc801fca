//! Error codes: the OAuth 2.0 `error` values (RFC 6749 §5.2, RFC 6750 §3.1) and the gateway's
//! business envelope codes, what they mean, and how the token lifecycle treats them.
//!
//! Public sources show neither error body of the real gateway (platforms.md §4.3), so:
//! * the OAuth codes are the RFC's, typed as [`OAuthErrorCode`] `[C: RFC]`;
//! * the gateway codes in [`GATEWAY_TABLE`] are kaifang's choices `[I]`, kept in one place so a
//!   correction is one line. Real clients only branch on `result == "success"` and read
//!   `code`, `msg` and `data` `[C]`.
//!
//! ```
//! use kaifang_proto_core::ErrorClass;
//! use kaifang_proto_tf56::codes::OAuthErrorCode;
//!
//! let code = OAuthErrorCode::parse("invalid_token").unwrap();
//! assert_eq!(code.class(), ErrorClass::TokenInvalid);
//! assert_eq!(code.as_str(), "invalid_token");
//! assert_eq!(OAuthErrorCode::InvalidClient.status(), 401);
//! ```

use kaifang_proto_core::envelope::{Classified, scalar_text};
use kaifang_proto_core::error::PlatformError;
use kaifang_proto_core::{Error, ErrorClass, redact};
use serde_json::{Map, Value};

/// The platform name in errors and token keys.
pub const PLATFORM: &str = "tf56";

/// An OAuth 2.0 `error` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_client`: unknown client or wrong secret (HTTP 401).
    InvalidClient,
    /// `invalid_grant`: the code, refresh token or password is invalid, expired, already used,
    /// or was issued to another client or redirect URI.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant type.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`: unknown scope, or more than the client (or the original grant) has.
    InvalidScope,
    /// `access_denied`: the user refused (authorize redirect).
    AccessDenied,
    /// `unsupported_response_type`: `response_type` is not `code` (authorize redirect).
    UnsupportedResponseType,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// `invalid_token` (RFC 6750): the access token is unknown, expired or revoked.
    InvalidToken,
    /// `insufficient_scope` (RFC 6750): the token lacks the scope (or the user) the API needs.
    InsufficientScope,
    /// `method_not_allowed`: the token endpoint was called with another method than `POST`
    /// (Spring Security OAuth's spelling).
    MethodNotAllowed,
}

impl OAuthErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [OAuthErrorCode; 13] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::UnsupportedResponseType,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::MethodNotAllowed,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The code for a wire spelling (exact, lower case), `None` when unknown.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How the token lifecycle treats it. `invalid_grant` is a bad request, so a rejected refresh
    /// token makes the lifecycle fall back to the full grant.
    pub const fn class(self) -> ErrorClass {
        match self {
            Self::InvalidToken => ErrorClass::TokenInvalid,
            Self::UnauthorizedClient | Self::AccessDenied | Self::InsufficientScope => {
                ErrorClass::Permission
            }
            Self::ServerError | Self::TemporarilyUnavailable => ErrorClass::Retryable,
            Self::InvalidRequest
            | Self::InvalidClient
            | Self::InvalidGrant
            | Self::UnsupportedGrantType
            | Self::InvalidScope
            | Self::UnsupportedResponseType
            | Self::MethodNotAllowed => ErrorClass::BadRequest,
        }
    }

    /// The HTTP status a server answers it with (RFC 6749 §5.2, RFC 6750 §3.1).
    pub const fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::MethodNotAllowed => 405,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }

    /// What to do about it.
    pub const fn hint(self) -> &'static str {
        match self {
            Self::InvalidRequest => {
                "A parameter is missing, repeated or malformed: check grant_type, code, redirect_uri, username and password."
            }
            Self::InvalidClient => {
                "Client authentication failed: check client_id and client_secret, and the client authentication style (query parameters, form body or HTTP Basic)."
            }
            Self::InvalidGrant => {
                "The authorization code, refresh token or user credentials are invalid, expired, already used, or were issued to another client or redirect_uri: log in again."
            }
            Self::UnauthorizedClient => "This client may not use this grant type.",
            Self::UnsupportedGrantType => {
                "Use client_credentials, authorization_code, password or refresh_token."
            }
            Self::InvalidScope => {
                "Request only scopes registered for the client (or granted by the original grant)."
            }
            Self::AccessDenied => "The user refused the authorization.",
            Self::UnsupportedResponseType => "The authorize URL needs response_type=code.",
            Self::ServerError => "The server failed; retry later.",
            Self::TemporarilyUnavailable => {
                "The server is overloaded or in maintenance; retry later."
            }
            Self::InvalidToken => {
                "The access token is unknown, expired or revoked: the cached token is replaced and the call retried once."
            }
            Self::InsufficientScope => {
                "The token lacks the scope this API needs; user APIs (queryUserInfo) need a token from the authorization_code or password grant."
            }
            Self::MethodNotAllowed => "The token endpoint accepts POST only.",
        }
    }
}

/// One row of the gateway code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayCode {
    /// The `code` value, as text.
    pub code: &'static str,
    /// The `msg` the sandbox sends.
    pub message: &'static str,
    /// What it means and what to do.
    pub hint: &'static str,
    /// How the lifecycle treats it.
    pub class: ErrorClass,
    /// `true` when seen in public sources; every row is kaifang's choice today.
    pub confirmed: bool,
}

/// `result` on success `[C]`.
pub const RESULT_SUCCESS: &str = "success";
/// `result` on failure `[I]`.
pub const RESULT_ERROR: &str = "error";
/// `code` on success `[I]`.
pub const GW_SUCCESS: &str = "200";
/// A parameter (the access token, a business parameter) is missing or malformed `[I]`.
pub const GW_BAD_REQUEST: &str = "400";
/// The access token is unknown, expired or revoked `[I]`.
pub const GW_TOKEN_INVALID: &str = "401";
/// The token may not call this API (scope, or a user API with a client token) `[I]`.
pub const GW_FORBIDDEN: &str = "403";
/// No such API `[I]`.
pub const GW_NOT_FOUND: &str = "404";
/// The gateway or the service failed `[I]`.
pub const GW_SYSTEM_ERROR: &str = "500";

/// The gateway's codes (all `[I]`).
pub const GATEWAY_TABLE: &[GatewayCode] = &[
    GatewayCode {
        code: GW_BAD_REQUEST,
        message: "参数错误",
        hint: "A parameter is missing or malformed (the access token goes in `access_token`).",
        class: ErrorClass::BadRequest,
        confirmed: false,
    },
    GatewayCode {
        code: GW_TOKEN_INVALID,
        message: "access_token无效或已过期",
        hint: "The access token is unknown, expired or revoked: the cached token is replaced and the call retried once.",
        class: ErrorClass::TokenInvalid,
        confirmed: false,
    },
    GatewayCode {
        code: GW_FORBIDDEN,
        message: "无权访问该接口",
        hint: "The token may not call this API: user APIs need a token from a user grant; check the client's scope.",
        class: ErrorClass::Permission,
        confirmed: false,
    },
    GatewayCode {
        code: GW_NOT_FOUND,
        message: "接口不存在",
        hint: "No such API: check `<module>/<version>/<method>` (case-sensitive).",
        class: ErrorClass::BadRequest,
        confirmed: false,
    },
    GatewayCode {
        code: GW_SYSTEM_ERROR,
        message: "系统错误",
        hint: "The gateway failed; retry later.",
        class: ErrorClass::Retryable,
        confirmed: false,
    },
];

/// The gateway row for `code`, if known.
pub fn gateway_lookup(code: &str) -> Option<&'static GatewayCode> {
    GATEWAY_TABLE.iter().find(|row| row.code == code)
}

/// Classifies a gateway error by its code, then by its message: a message that speaks of an
/// expired or invalid token (`token无效`, `token已过期`, `invalid token`, …) is token-invalid
/// whatever the code.
pub fn classify_gateway(code: &str, message: &str) -> Classified {
    if let Some(row) = gateway_lookup(code.trim()) {
        return Classified::new(row.class).hint(row.hint);
    }
    let lower = message.to_ascii_lowercase();
    let about_token = lower.contains("token") || message.contains("令牌");
    let bad = ["无效", "过期", "失效", "invalid", "expired", "revoked"]
        .iter()
        .any(|w| lower.contains(w));
    if about_token && bad {
        return Classified::new(ErrorClass::TokenInvalid).hint(
            "The gateway rejected the access token: it is replaced and the call retried once.",
        );
    }
    Classified::new(ErrorClass::Other)
}

/// Masks every run of 20 or more token-like characters (`[A-Za-z0-9_-]`) so that a server
/// echoing a token or secret in a description (`Invalid refresh token: ec6376…`) cannot leak it
/// into an error message; then applies [`redact::text`].
pub fn scrub(message: &str) -> String {
    let redacted = redact::text(message);
    let mut out = String::with_capacity(redacted.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 20 {
            out.push_str(&redact::placeholder(run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in redacted.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The [`Error`] for an OAuth error body `{"error": …, "error_description": …}`; `None` when
/// `map` has no `error` string. The description is [`scrub`]bed. Unknown codes keep their
/// spelling with [`ErrorClass::Other`].
pub fn oauth_error(map: &Map<String, Value>) -> Option<Error> {
    let code = map.get("error").and_then(Value::as_str)?;
    let message = map
        .get("error_description")
        .and_then(scalar_text)
        .map(|m| scrub(&m))
        .unwrap_or_default();
    let typed = OAuthErrorCode::parse(code);
    Some(Error::Platform(PlatformError {
        platform: PLATFORM,
        code: scrub(code),
        message,
        hint: typed.map(OAuthErrorCode::hint),
        class: typed.map_or(ErrorClass::Other, OAuthErrorCode::class),
    }))
}

/// `true` when `result` means success (`"success"`, any case).
pub fn is_success_result(result: &Value) -> bool {
    result
        .as_str()
        .is_some_and(|r| r.trim().eq_ignore_ascii_case(RESULT_SUCCESS))
}

/// The [`Error`] for a gateway envelope whose `result` is not success; `None` when `map` has
/// no `result` or it is success. The code is `code` as text (or the `result` value when there
/// is no code), the message `msg` (or `message`), redacted.
pub fn gateway_error(map: &Map<String, Value>) -> Option<Error> {
    let result = map.get("result")?;
    if is_success_result(result) {
        return None;
    }
    let code = map
        .get("code")
        .and_then(scalar_text)
        .or_else(|| scalar_text(result))
        .unwrap_or_default();
    let message = ["msg", "message"]
        .iter()
        .find_map(|k| map.get(*k).and_then(scalar_text))
        .map(|m| scrub(&m))
        .unwrap_or_default();
    let c = classify_gateway(&code, &message);
    Some(Error::Platform(PlatformError {
        platform: PLATFORM,
        code: scrub(&code),
        message,
        hint: c.hint,
        class: c.class,
    }))
}

/// The error of a callback or a lifecycle that needs the user to log in again.
pub const LOGIN_REQUIRED: &str = "login_required";

/// `true` when `err` says the user must log in again (no authorization code left, or a
/// refused login).
pub fn is_login_required(err: &Error) -> bool {
    err.platform().is_some_and(|p| p.code == LOGIN_REQUIRED)
}

pub(crate) fn local_error(code: &str, message: &str, hint: &'static str) -> Error {
    Error::Platform(PlatformError {
        platform: PLATFORM,
        code: code.to_owned(),
        message: message.to_owned(),
        hint: Some(hint),
        class: ErrorClass::BadRequest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_roundtrip_and_classes() {
        for c in OAuthErrorCode::ALL {
            assert_eq!(OAuthErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(OAuthErrorCode::parse("INVALID_GRANT"), None);
        assert_eq!(OAuthErrorCode::InvalidGrant.class(), ErrorClass::BadRequest);
    }

    #[test]
    fn scrub_masks_echoed_tokens() {
        let s = scrub("Invalid refresh token: ec63769442ac34c5a698d3a6d2b07654");
        assert_eq!(s, "Invalid refresh token: [redacted len=32]");
        assert_eq!(scrub("Bad credentials"), "Bad credentials");
        assert!(!scrub("client_secret=abc").contains("abc"));
    }

    #[test]
    fn envelopes() {
        let v = json!({"error":"invalid_token","error_description":"Invalid access token: d45e242ad95238cfa9a24436153adfa0"});
        let e = oauth_error(v.as_object().unwrap()).unwrap();
        assert!(e.is_token_invalid());
        assert!(!e.to_string().contains("d45e242a"), "{e}");
        let v = json!({"result":"error","code":401,"msg":"x"});
        assert!(
            gateway_error(v.as_object().unwrap())
                .unwrap()
                .is_token_invalid()
        );
        let v = json!({"result":"fail","code":"E99","msg":"token已过期"});
        assert!(
            gateway_error(v.as_object().unwrap())
                .unwrap()
                .is_token_invalid()
        );
        let v = json!({"result":"SUCCESS","code":"200"});
        assert!(gateway_error(v.as_object().unwrap()).is_none());
        let v = json!({"result":false});
        let e = gateway_error(v.as_object().unwrap()).unwrap();
        assert_eq!(e.platform().unwrap().code, "false");
    }
}
