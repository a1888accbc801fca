//! The one error type of the workspace, and the classes that drive retries and token
//! invalidation.
//!
//! Every message is safe to log: bodies are kept only as redacted snippets
//! ([`redact::snippet`](crate::redact::snippet)) and secrets never enter an error.
//!
//! ```
//! use kaifang_proto_core::error::{Error, ErrorClass, PlatformError};
//!
//! let e = Error::Platform(PlatformError {
//!     platform: "demo",
//!     code: "10001".into(),
//!     message: "accessToken expired".into(),
//!     hint: Some("the cached token is refreshed automatically; if this repeats, check the app id"),
//!     class: ErrorClass::TokenInvalid,
//! });
//! assert!(e.is_token_invalid());
//! assert_eq!(
//!     e.to_string(),
//!     "demo error 10001: accessToken expired (hint: the cached token is refreshed automatically; if this repeats, check the app id)"
//! );
//! ```

use core::fmt;
use std::time::Duration;

/// What a caller can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The access token was rejected (expired, revoked, unknown): expire it (compare-and-expire)
    /// and retry once with a new one.
    TokenInvalid,
    /// Transient (network, timeout, 5xx, "system busy"): the same request may succeed later.
    Retryable,
    /// The credentials are valid but not allowed to do this (scope, IP allow-list, quota).
    Permission,
    /// The request itself is wrong (parameters, signature, expired code or refresh token): do
    /// not retry unchanged.
    BadRequest,
    /// Anything else.
    Other,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TokenInvalid => "token invalid",
            Self::Retryable => "retryable",
            Self::Permission => "permission",
            Self::BadRequest => "bad request",
            Self::Other => "other",
        })
    }
}

/// How a transport failed before a complete response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// DNS resolution or TCP connection failed.
    Connect,
    /// A connect, read or overall deadline passed.
    Timeout,
    /// The response body exceeded the configured limit (bytes).
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A redirect was refused (to another host, or too many).
    Redirect,
    /// Reading or writing the connection failed.
    Io,
    /// TLS handshake or certificate validation failed.
    Tls,
    /// Anything else the HTTP client reported.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect => f.write_str("connect"),
            Self::Timeout => f.write_str("timeout"),
            Self::BodyTooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            Self::Redirect => f.write_str("redirect refused"),
            Self::Io => f.write_str("i/o"),
            Self::Tls => f.write_str("tls"),
            Self::Other => f.write_str("other"),
        }
    }
}

/// An error reported by a platform in its response body (often inside an HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformError {
    /// Which platform answered (the platform crate's short name).
    pub platform: &'static str,
    /// The platform's code exactly as sent, as text (`"00000"` and `0` both stay distinct).
    pub code: String,
    /// The platform's message (already free of secrets: platform crates pass it through
    /// [`redact::text`](crate::redact::text) when it may echo parameters).
    pub message: String,
    /// What to do about it, from the platform crate's code table.
    pub hint: Option<&'static str>,
    /// The class that drives retries and invalidation.
    pub class: ErrorClass,
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error {}: {}", self.platform, self.code, self.message)?;
        if let Some(hint) = self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlatformError {}

/// Everything that can go wrong building, sending or parsing an exchange, or managing a token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP client failed before a complete response arrived.
    #[error("transport error ({kind}): {message}")]
    Transport {
        /// What failed.
        kind: TransportErrorKind,
        /// The client's description (URLs in it must be redacted by the transport).
        message: String,
    },

    /// The server answered with an unexpected HTTP status.
    #[error("HTTP {status}{}: {body_snippet}", fmt_retry_after(.retry_after))]
    HttpStatus {
        /// The status.
        status: http::StatusCode,
        /// The start of the body, redacted then truncated.
        body_snippet: String,
        /// The `Retry-After` delay, when the server sent one.
        retry_after: Option<Duration>,
    },

    /// The platform reported an error in its body.
    #[error(transparent)]
    Platform(#[from] PlatformError),

    /// The body could not be decoded into the expected shape.
    #[error("cannot decode response at `{path}`: {message}; body: {snippet}")]
    Decode {
        /// Path to the offending field (`data.expiresIn`), `.` for the root.
        path: String,
        /// What was wrong.
        message: String,
        /// The start of the body, redacted then truncated.
        snippet: String,
    },

    /// Invalid configuration or input detected before sending anything.
    #[error("configuration error: {0}")]
    Config(String),

    /// A token refresh failed recently and the lifecycle is backing off; no valid token is
    /// cached.
    #[error(
        "token refresh is backing off after {failures} failure(s); next attempt in {retry_in:?}"
    )]
    RefreshBackoff {
        /// Time until the next refresh attempt is allowed.
        retry_in: Duration,
        /// Consecutive failed refreshes so far.
        failures: u32,
    },

    /// Waiting for another caller's (or another instance's) refresh took longer than allowed.
    #[error("timed out after {waited:?} waiting for a token refresh in progress elsewhere")]
    RefreshTimeout {
        /// How long the caller waited.
        waited: Duration,
    },

    /// A token store (memory, Redis, ...) failed.
    #[error("token store error: {0}")]
    Store(String),
}

fn fmt_retry_after(d: &Option<Duration>) -> String {
    d.map(|d| format!(" (retry after {}s)", d.as_secs()))
        .unwrap_or_default()
}

impl Error {
    /// The class of this error.
    ///
    /// | variant | class |
    /// |---|---|
    /// | `Transport` connect / timeout / io | `Retryable` |
    /// | `Transport` other kinds | `Other` |
    /// | `HttpStatus` 401 | `TokenInvalid` |
    /// | `HttpStatus` 403 | `Permission` |
    /// | `HttpStatus` 408, 425, 429, 5xx | `Retryable` |
    /// | `HttpStatus` other 4xx | `BadRequest` |
    /// | `Platform` | its own class |
    /// | `RefreshTimeout`, `Store` | `Retryable` |
    /// | `Config` | `BadRequest` |
    /// | `Decode`, `RefreshBackoff` | `Other` |
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Transport { kind, .. } => match kind {
                TransportErrorKind::Connect
                | TransportErrorKind::Timeout
                | TransportErrorKind::Io => ErrorClass::Retryable,
                _ => ErrorClass::Other,
            },
            Self::HttpStatus { status, .. } => match status.as_u16() {
                401 => ErrorClass::TokenInvalid,
                403 => ErrorClass::Permission,
                408 | 425 | 429 | 500..=599 => ErrorClass::Retryable,
                400..=499 => ErrorClass::BadRequest,
                _ => ErrorClass::Other,
            },
            Self::Platform(p) => p.class,
            Self::RefreshTimeout { .. } | Self::Store(_) => ErrorClass::Retryable,
            Self::Config(_) => ErrorClass::BadRequest,
            Self::Decode { .. } | Self::RefreshBackoff { .. } => ErrorClass::Other,
        }
    }

    /// `true` when the platform rejected the access token.
    #[must_use]
    pub fn is_token_invalid(&self) -> bool {
        self.class() == ErrorClass::TokenInvalid
    }

    /// `true` when the same request may succeed later.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// The platform error, when this is one.
    #[must_use]
    pub fn platform(&self) -> Option<&PlatformError> {
        match self {
            Self::Platform(p) => Some(p),
            _ => None,
        }
    }

    /// A `Decode` error for `body` (the snippet is redacted, then cut to
    /// [`SNIPPET_MAX`](crate::redact::SNIPPET_MAX)).
    #[must_use]
    pub fn decode(path: impl Into<String>, message: impl Into<String>, body: &[u8]) -> Self {
        Self::Decode {
            path: path.into(),
            message: message.into(),
            snippet: crate::redact::snippet(None, body, crate::redact::SNIPPET_MAX),
        }
    }

    /// An `HttpStatus` error from a response's parts (snippet redacted and cut; `Retry-After` in
    /// seconds or as an HTTP date relative to `now`).
    #[must_use]
    pub fn http_status(
        status: http::StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
        now: std::time::SystemTime,
    ) -> Self {
        let ct = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        Self::HttpStatus {
            status,
            body_snippet: crate::redact::snippet(ct, body, crate::redact::SNIPPET_MAX),
            retry_after,
        }
    }
}

/// Parses a `Retry-After` value: delta seconds, or an HTTP date (relative to `now`, zero when in
/// the past).
#[must_use]
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn classes() {
        let now = SystemTime::now();
        let h = HeaderMap::new();
        let cls =
            |s: u16| Error::http_status(StatusCode::from_u16(s).unwrap(), &h, b"", now).class();
        assert_eq!(cls(401), ErrorClass::TokenInvalid);
        assert_eq!(cls(403), ErrorClass::Permission);
        assert_eq!(cls(429), ErrorClass::Retryable);
        assert_eq!(cls(503), ErrorClass::Retryable);
        assert_eq!(cls(404), ErrorClass::BadRequest);
        let t = Error::Transport {
            kind: TransportErrorKind::Timeout,
            message: "x".into(),
        };
        assert!(t.is_retryable());
        assert!(!Error::Config("x".into()).is_retryable());
    }

    #[test]
    fn http_status_redacts_and_reads_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let e = Error::http_status(
            StatusCode::SERVICE_UNAVAILABLE,
            &h,
            br#"{"access_token":"MARKER","msg":"busy"}"#,
            SystemTime::now(),
        );
        let s = e.to_string();
        assert!(!s.contains("MARKER"), "{s}");
        assert!(
            s.starts_with("HTTP 503 Service Unavailable (retry after 7s): "),
            "{s}"
        );
        let now = UNIX_EPOCH + Duration::from_secs(784_111_700);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(77))
        );
    }

    #[test]
    fn decode_redacts() {
        let e = Error::decode(
            "data.expiresIn",
            "invalid type",
            br#"{"refreshToken":"MARKER"}"#,
        );
        assert!(!e.to_string().contains("MARKER"));
        assert!(e.to_string().contains("`data.expiresIn`"));
    }
}
