//! The token endpoint's answer, read tolerantly, and the classification of its error bodies.
//!
//! The gateway spells the same fields two ways `[C: seed]`:
//!
//! | grant | body |
//! |---|---|
//! | `client_credentials` | `{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":"d45e…"}` |
//! | `authorization_code` | `{"scope":"all","expiresin":25200,"tokentype":"uuid","refreshtoken":"ec63…","accesstoken":"db44…"}` |
//!
//! [`parse_token`] accepts both (and camelCase), numbers sent as strings, a space- or
//! comma-separated scope (possibly Chinese) or a list, and keeps every other field in
//! [`Token::extra`].
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use kaifang_proto_tf56::token::parse_token;
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let t = parse_token(br#"{"scope":"all","expiresin":"25200","tokentype":"uuid","refreshtoken":"r","accesstoken":"a","uid":7}"#, now)?;
//! assert_eq!(t.access.expose_secret(), "a");
//! assert_eq!(t.ttl(), Duration::from_secs(25_200));
//! assert_eq!(t.token_type.as_deref(), Some("uuid"));
//! assert_eq!(t.scope, ["all"]);
//! assert!(t.refresh.is_some());
//! assert_eq!(t.extra["uid"], 7);
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::time::SystemTime;

use kaifang_proto_core::Error;
use kaifang_proto_core::envelope::{de, decode_json, either_key};
use kaifang_proto_core::token::Token;
use serde_json::{Map, Value};

use crate::codes;

/// Spellings of the access token.
pub const ACCESS_KEYS: &[&str] = &["access_token", "accesstoken", "accessToken"];
/// Spellings of the lifetime in seconds.
pub const EXPIRES_KEYS: &[&str] = &["expires_in", "expiresin", "expiresIn"];
/// Spellings of the token type.
pub const TYPE_KEYS: &[&str] = &["token_type", "tokentype", "tokenType"];
/// Spellings of the refresh token.
pub const REFRESH_KEYS: &[&str] = &["refresh_token", "refreshtoken", "refreshToken"];
/// Spellings of the refresh token's lifetime (not sent by the gateway; some OAuth servers do).
pub const REFRESH_EXPIRES_KEYS: &[&str] = &[
    "refresh_expires_in",
    "refreshexpiresin",
    "refreshExpiresIn",
    "refresh_token_expires_in",
];
/// The scope key.
pub const SCOPE_KEYS: &[&str] = &["scope"];

/// Lifetime assumed when the answer has no `expires_in`: the shortest the gateway grants
/// (client credentials, 1,800 s), so a token is never kept longer than it may live.
pub const DEFAULT_EXPIRES_IN: u64 = 1_800;

/// Reads a successful token answer received at `now`.
///
/// # Errors
/// [`Error::Decode`] (path and redacted snippet) when the body is not a JSON object, has no
/// non-empty access token, or a lifetime that is not a number.
pub fn parse_token(body: &[u8], now: SystemTime) -> Result<Token, Error> {
    let value: Value = decode_json(body)?;
    let Value::Object(map) = value else {
        return Err(Error::decode(".", "expected a JSON object", body));
    };
    token_from_map(map, now, body)
}

/// Like [`parse_token`] for an already parsed object; `body` is used for error snippets only.
///
/// # Errors
/// As [`parse_token`].
pub fn token_from_map(
    mut map: Map<String, Value>,
    now: SystemTime,
    body: &[u8],
) -> Result<Token, Error> {
    let access = either_key(&map, ACCESS_KEYS)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::decode("access_token", "missing or empty", body))?
        .to_owned();
    let seconds = |keys: &[&str], path: &str| -> Result<Option<u64>, Error> {
        match either_key(&map, keys) {
            None => Ok(None),
            Some(v) => de::opt_num_or_str::<_, u64>(v.clone())
                .map_err(|e| Error::decode(path, format!("expected seconds: {e}"), body)),
        }
    };
    let expires_in = seconds(EXPIRES_KEYS, "expires_in")?.unwrap_or(DEFAULT_EXPIRES_IN);
    let refresh_in = seconds(REFRESH_EXPIRES_KEYS, "refresh_expires_in")?;
    let scope = match either_key(&map, SCOPE_KEYS) {
        None => Vec::new(),
        Some(v) => {
            de::space_or_list(v.clone()).map_err(|e| Error::decode("scope", e.to_string(), body))?
        }
    };
    let token_type = either_key(&map, TYPE_KEYS)
        .and_then(Value::as_str)
        .map(str::to_owned);
    let refresh = either_key(&map, REFRESH_KEYS)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);

    let mut token = Token::from_expires_in(access, now, expires_in).with_scope(scope);
    if let Some(t) = token_type {
        token = token.with_token_type(t);
    }
    if let Some(r) = refresh {
        token = token.with_refresh(r, refresh_in);
    }
    for keys in [
        ACCESS_KEYS,
        EXPIRES_KEYS,
        TYPE_KEYS,
        REFRESH_KEYS,
        REFRESH_EXPIRES_KEYS,
        SCOPE_KEYS,
    ] {
        for k in keys {
            map.remove(*k);
        }
    }
    token.extra = map;
    Ok(token)
}

/// Reads any answer of the token endpoint: an OAuth error body (typed, whatever the status), a
/// gateway envelope with a non-success `result`, an unexpected status, or the token.
///
/// A 401 with `invalid_client` stays a bad request (the client's credentials are wrong): only
/// `invalid_token` is token-invalid here.
///
/// # Errors
/// [`Error::Platform`] for OAuth and gateway errors, [`Error::HttpStatus`] for another non-2xx
/// answer, [`Error::Decode`] for a 2xx body that is not a token.
pub fn parse_token_response(
    resp: &http::Response<Vec<u8>>,
    now: SystemTime,
) -> Result<Token, Error> {
    let body = resp.body();
    let status = resp.status();
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            if let Some(err) = codes::oauth_error(&map).or_else(|| codes::gateway_error(&map)) {
                return Err(err);
            }
            if !status.is_success() {
                return Err(Error::http_status(status, resp.headers(), body, now));
            }
            token_from_map(map, now, body)
        }
        _ if !status.is_success() => Err(Error::http_status(status, resp.headers(), body, now)),
        _ => parse_token(body, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn seed_bodies() {
        let t = parse_token(
            r#"{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":"d45e242ad95238cfa9a24436153adfa0"}"#.as_bytes(),
            now(),
        )
        .unwrap();
        assert_eq!(t.scope, ["商铺", "good-list", "op-truck", "open-demo"]);
        assert_eq!(t.ttl(), Duration::from_secs(1800));
        assert!(t.refresh.is_none());
        assert!(t.extra.is_empty());
    }

    #[test]
    fn bad_bodies_are_decode_errors_without_secrets() {
        let e = parse_token(br#"{"expires_in":1}"#, now()).unwrap_err();
        assert!(matches!(e, Error::Decode { .. }));
        let e = parse_token(
            br#"{"access_token":"MARKER-SECRET-TOKEN","expires_in":"soon"}"#,
            now(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("MARKER"), "{e}");
        assert!(e.to_string().contains("expires_in"), "{e}");
        let t = parse_token(br#"{"access_token":"a","expires_in":""}"#, now()).unwrap();
        assert_eq!(t.ttl(), Duration::from_secs(DEFAULT_EXPIRES_IN));
    }
}
