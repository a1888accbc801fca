//! The real server's checks, one function each, in its order (see the [module docs](super)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use kaifang_sign_core::zhiyun;

use super::state::{AccessTokenRecord, AuthCodeRecord, ServerClient, ServerState};
use super::{Refusal, ServerOptions};
use crate::codes::Code;
use crate::endpoint::Endpoint;
use crate::request::Stamp;

/// `t_` at or above this is read as milliseconds (10^11 ms is March 1973; 10^11 s is the year
/// 5138), below as seconds.
pub const MILLIS_THRESHOLD: u64 = 100_000_000_000;

/// The query parameters of a request. Duplicates: the last one wins, as in PHP's `$_GET`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&kaifang_proto_core::redact::query(&self.to_query_string()))
    }
}

impl Query {
    /// Parses a query string (with or without the leading `?`).
    pub fn parse(query: &str) -> Query {
        let query = query.strip_prefix('?').unwrap_or(query);
        Query {
            pairs: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// The value of `name` (the last occurrence).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn to_query_string(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .finish()
    }
}

/// Unix seconds of `t`.
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Step 1, the filter layer \[I: codes and messages not public\]: each parameter of the endpoint
/// present (else 601 `Illegal parameter: <name>`) and not empty (else 602 `Empty parameter:
/// <name>`), in the order `access_token`, `client_id`, `auth_code`, `t_`, `p_`; `t_` and `p_`
/// decimal (else 601); `p_` equal to `(t_ % 10000) * 3 + 2345` for the `t_` sent (else 400
/// `Illegal check value p_`); `t_`, read as milliseconds or seconds ([`MILLIS_THRESHOLD`]),
/// within `opts.timestamp_window` of `now` (else 400 `Timestamp t_ is out of range`).
///
/// # Errors
/// The refusal of the first failed rule.
pub fn check_params(
    endpoint: Endpoint,
    query: &Query,
    now: SystemTime,
    opts: &ServerOptions,
) -> Result<Stamp, Refusal> {
    for name in endpoint.params() {
        match query.get(name) {
            None => {
                return Err(Refusal::new(Code::IllegalParameter)
                    .with_message(format!("Illegal parameter: {name}")));
            }
            Some(v) if v.trim().is_empty() => {
                return Err(Refusal::new(Code::EmptyContent)
                    .with_message(format!("Empty parameter: {name}")));
            }
            Some(_) => {}
        }
    }
    let number = |name: &str| -> Result<u64, Refusal> {
        let v = query.get(name).unwrap_or_default().trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::new(Code::IllegalParameter)
                .with_message(format!("Illegal parameter: {name}")));
        }
        v.parse().map_err(|_| {
            Refusal::new(Code::IllegalParameter).with_message(format!("Illegal parameter: {name}"))
        })
    };
    let t = number("t_")?;
    let p = number("p_")?;
    if p != zhiyun::check_value(t) {
        return Err(Refusal::new(Code::BadRequest).with_message("Illegal check value p_"));
    }
    if let Some(window) = opts.timestamp_window
        && !timestamp_fresh(t, now, window)
    {
        return Err(Refusal::new(Code::BadRequest).with_message("Timestamp t_ is out of range"));
    }
    Ok(Stamp { t, p })
}

/// `true` when `t` (ms or s, see [`MILLIS_THRESHOLD`]) is within `window` of `now`.
pub fn timestamp_fresh(t: u64, now: SystemTime, window: Duration) -> bool {
    let t_ms = if t >= MILLIS_THRESHOLD {
        i128::from(t)
    } else {
        i128::from(t) * 1000
    };
    let now_ms = i128::from(kaifang_proto_core::context::to_unix_millis(now));
    (t_ms - now_ms).unsigned_abs() <= window.as_millis()
}

/// The Basic credentials of an `Authorization` header: `(user, password)`.
///
/// The scheme is matched ignoring case; the base64 may lack its padding. `None` when the header
/// is absent, not Basic, not base64 of UTF-8, has no `:`, or an empty user name.
pub fn basic_credentials(authorization: Option<&str>) -> Option<(String, String)> {
    let value = authorization?.trim();
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let b64 = b64.trim();
    let raw = STANDARD
        .decode(b64)
        .or_else(|_| STANDARD_NO_PAD.decode(b64))
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.is_empty() {
        return None;
    }
    Some((user.to_owned(), password.to_owned()))
}

/// Step 2, `checkClientId`: Basic credentials present (100009), the query `client_id` equal to
/// the Basic user (100002; not for `authorize`, which has no `client_id`), the client known
/// (100008), the secret right (100013, compared in constant time).
///
/// # Errors
/// The refusal of the first failed rule, with the server's exact message.
pub fn check_client_id<S: ServerState + ?Sized>(
    state: &S,
    endpoint: Endpoint,
    authorization: Option<&str>,
    query: &Query,
) -> Result<ServerClient, Refusal> {
    let (user, password) =
        basic_credentials(authorization).ok_or_else(|| Refusal::new(Code::HeaderAuthIllegal))?;
    if endpoint.needs_auth_code() && query.get("client_id") != Some(user.as_str()) {
        return Err(Refusal::new(Code::ClientIdIllegal));
    }
    let client = state
        .client(&user)
        .ok_or_else(|| Refusal::new(Code::ClientIdNotFound))?;
    if client.secret != kaifang_proto_core::secret::SecretString::new(password) {
        return Err(Refusal::new(Code::ClientSecretIllegal));
    }
    Ok(client)
}

/// Step 3, `checkToken`: the access token known and not expired, else 100014. The real
/// server's answer for an unknown token is not public; 100014 is kaifang's choice \[I\] (a server
/// that purges expired tokens cannot tell the two apart).
///
/// # Errors
/// 100014.
pub fn check_token<S: ServerState + ?Sized>(
    state: &S,
    access_token: &str,
    now: SystemTime,
) -> Result<AccessTokenRecord, Refusal> {
    match state.access_token(access_token) {
        Some(record) if now <= record.expires_at => Ok(record),
        _ => Err(Refusal::new(Code::AccessTokenExpired)),
    }
}

/// Step 4, `checkAuthorizationCodeLifeTime`: the code exists (100019) and `now > expires` is
/// false (100020).
///
/// # Errors
/// 100019 or 100020.
pub fn check_auth_code_lifetime<S: ServerState + ?Sized>(
    state: &S,
    auth_code: &str,
    now: SystemTime,
) -> Result<AuthCodeRecord, Refusal> {
    let record = state
        .auth_code(auth_code)
        .ok_or_else(|| Refusal::new(Code::AuthCodeMissing))?;
    if now > record.expires_at {
        return Err(Refusal::new(Code::AuthCodeExpired));
    }
    Ok(record)
}

/// Step 5, `checkAccessPermissionScope`: the endpoint's method name is in the code's scope
/// (exact, case-sensitive, as PHP's `in_array` with `__FUNCTION__`), else 100018.
///
/// # Errors
/// 100018.
pub fn check_scope(endpoint: Endpoint, code: &AuthCodeRecord) -> Result<(), Refusal> {
    if code.scope.iter().any(|s| s == endpoint.method()) {
        Ok(())
    } else {
        Err(Refusal::new(Code::ScopeDenied))
    }
}

/// Step 6, `isAuthcodeToClient`: the code was issued to this client, else 100021.
///
/// # Errors
/// 100021.
pub fn check_code_client(code: &AuthCodeRecord, client_id: &str) -> Result<(), Refusal> {
    if code.client_id == client_id {
        Ok(())
    } else {
        Err(Refusal::new(Code::AuthCodeWrongClient))
    }
}

/// Step 7, `isAuthcodeToUser`: the code was issued for the access token's user, else 100023.
///
/// # Errors
/// 100023.
pub fn check_code_user(code: &AuthCodeRecord, token: &AccessTokenRecord) -> Result<(), Refusal> {
    if code.user_id == token.user_id {
        Ok(())
    } else {
        Err(Refusal::new(Code::AuthCodeWrongUser))
    }
}
