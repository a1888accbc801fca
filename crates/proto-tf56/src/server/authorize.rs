//! `GET /openGateway/oauth/?response_type=code&client_id=…&redirect_uri=…&state=…&scope=…`:
//! validation, the code issued on approval, and the redirects.

use http::StatusCode;
use kaifang_proto_core::context::Context;

use super::response::{OAuthRefusal, redirect};
use super::store::{CodeRecord, Store};
use super::tenant::Tenant;
use super::token_endpoint::{grant_scope, new_token};
use crate::codes::OAuthErrorCode;
use crate::oauth::GrantType;

/// A validated authorize request: what the login page shows and what approval needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeGrant {
    /// The client.
    pub client_id: String,
    /// Its display name.
    pub client_name: String,
    /// Where to send the browser back (the registered redirect URI).
    pub redirect_uri: String,
    /// The client's `state`, echoed unchanged.
    pub state: Option<String>,
    /// The scope to grant.
    pub scope: Vec<String>,
}

/// Why an authorize request is refused, and how: RFC 6749 §4.1.2.1 forbids redirecting to an
/// unverified redirect URI, so client and redirect URI errors are shown; the others are sent
/// back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeRefusal {
    /// Shown to the user (HTTP 400, OAuth error body): unknown client, bad redirect URI.
    Show(OAuthRefusal),
    /// Sent back to the client: the full redirect URL with `error`, `error_description` and
    /// `state`.
    Redirect(String),
}

impl AuthorizeRefusal {
    /// The HTTP answer (400 with the body, or 302 to the client).
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        match self {
            Self::Show(refusal) => {
                let mut resp = refusal.to_response();
                *resp.status_mut() = StatusCode::BAD_REQUEST;
                resp
            }
            Self::Redirect(location) => redirect(location),
        }
    }
}

fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    // A fragment never reaches the server: drop it so the parameters stay in the query.
    let base = uri.split('#').next().unwrap_or(uri);
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", q.finish())
}

/// Where the login page sends the browser after approval: `redirect_uri?state=…&code=…`, in
/// the seed's order (`http://www.yourdomain.com/?state=123456&code=61ee…`); no `state` when the
/// client sent none.
///
/// ```
/// use kaifang_proto_tf56::server::redirect_after_login;
/// assert_eq!(
///     redirect_after_login("http://www.yourdomain.com/", "61ee64e55e08383ca93bdf045e24fa2b", Some("123456")),
///     "http://www.yourdomain.com/?state=123456&code=61ee64e55e08383ca93bdf045e24fa2b",
/// );
/// ```
pub fn redirect_after_login(redirect_uri: &str, code: &str, state: Option<&str>) -> String {
    match state {
        Some(s) => append_query(redirect_uri, &[("state", s), ("code", code)]),
        None => append_query(redirect_uri, &[("code", code)]),
    }
}

/// Where the browser goes when the user refuses: `redirect_uri?error=access_denied&state=…`.
///
/// ```
/// use kaifang_proto_tf56::server::redirect_denied;
/// assert_eq!(redirect_denied("http://test.tf56.com", Some("s1")), "http://test.tf56.com?error=access_denied&state=s1");
/// ```
pub fn redirect_denied(redirect_uri: &str, state: Option<&str>) -> String {
    redirect_error(redirect_uri, OAuthErrorCode::AccessDenied, None, state)
}

/// `redirect_uri?error=…[&error_description=…][&state=…]`.
pub fn redirect_error(
    redirect_uri: &str,
    error: OAuthErrorCode,
    description: Option<&str>,
    state: Option<&str>,
) -> String {
    let mut pairs = vec![("error", error.as_str())];
    if let Some(d) = description {
        pairs.push(("error_description", d));
    }
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    append_query(redirect_uri, &pairs)
}

impl Tenant {
    /// Validates the authorize page's query (with or without `?`). In order:
    ///
    /// 1. `client_id` present and known → else shown `invalid_request` / `unauthorized_client`
    ///    (no redirect: the redirect URI cannot be trusted yet);
    /// 2. the client has a registered redirect URI, and `redirect_uri`, when sent, is
    ///    identical → else shown `invalid_request` ("redirect_uri does not match");
    /// 3. `response_type=code` → else redirected `unsupported_response_type`;
    /// 4. the client may use `authorization_code` → else redirected `unauthorized_client`;
    /// 5. `scope` within the client's → else redirected `invalid_scope`.
    ///
    /// Every redirected error carries the client's `state`.
    ///
    /// # Errors
    /// The [`AuthorizeRefusal`] to answer.
    pub fn authorize(&self, query: &str) -> Result<AuthorizeGrant, AuthorizeRefusal> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let get = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let show = |code, d: &str| AuthorizeRefusal::Show(OAuthRefusal::new(code, d));
        let client_id = get("client_id").filter(|c| !c.is_empty()).ok_or_else(|| {
            show(
                OAuthErrorCode::InvalidRequest,
                "Missing parameter: client_id",
            )
        })?;
        let client = self
            .client(&client_id)
            .ok_or_else(|| show(OAuthErrorCode::UnauthorizedClient, "Unknown client"))?;
        let registered = client.redirect_uri.as_deref().ok_or_else(|| {
            show(
                OAuthErrorCode::InvalidRequest,
                "The client has no registered redirect_uri",
            )
        })?;
        if get("redirect_uri").is_some_and(|u| u != registered) {
            return Err(show(
                OAuthErrorCode::InvalidRequest,
                "redirect_uri does not match the registered one",
            ));
        }
        let state = get("state").filter(|s| !s.is_empty());
        let back = |code, d: &str| {
            AuthorizeRefusal::Redirect(redirect_error(registered, code, Some(d), state.as_deref()))
        };
        if get("response_type").as_deref() != Some("code") {
            return Err(back(
                OAuthErrorCode::UnsupportedResponseType,
                "response_type must be code",
            ));
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(back(
                OAuthErrorCode::UnauthorizedClient,
                "This client may not use the authorization code grant",
            ));
        }
        let scope = grant_scope(get("scope").as_deref(), &client.scope)
            .map_err(|r| back(r.error, &r.description))?;
        Ok(AuthorizeGrant {
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            redirect_uri: registered.to_owned(),
            state,
            scope,
        })
    }

    /// Issues the authorization code for `username` (the login page stands in for the password
    /// check: any non-empty name is accepted; known users get their profile in
    /// `queryUserInfo`). The code is 32 lower-case hex, single-use, and lives
    /// [`Lifetimes::code`](super::Lifetimes::code) seconds.
    ///
    /// # Errors
    /// `access_denied` for an empty user name, `server_error` when the random source fails.
    pub fn issue_code<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        grant: &AuthorizeGrant,
        username: &str,
    ) -> Result<String, OAuthRefusal> {
        if username.trim().is_empty() {
            return Err(OAuthRefusal::new(
                OAuthErrorCode::AccessDenied,
                "No user logged in",
            ));
        }
        let code = new_token(ctx)?;
        let now = ctx.now_millis();
        let ttl_ms = i64::try_from(self.lifetimes.code.saturating_mul(1000)).unwrap_or(i64::MAX);
        store.put_code(
            &code,
            CodeRecord {
                client_id: grant.client_id.clone(),
                redirect_uri: grant.redirect_uri.clone(),
                username: username.to_owned(),
                scope: grant.scope.clone(),
                issued_at_ms: now,
                expires_at_ms: now.saturating_add(ttl_ms),
            },
        );
        Ok(code)
    }

    /// Approval in one step: issues the code and returns the redirect URL
    /// ([`redirect_after_login`]); on failure, the error redirect.
    pub fn approve<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        grant: &AuthorizeGrant,
        username: &str,
    ) -> String {
        match self.issue_code(store, ctx, grant, username) {
            Ok(code) => redirect_after_login(&grant.redirect_uri, &code, grant.state.as_deref()),
            Err(r) => redirect_error(
                &grant.redirect_uri,
                r.error,
                Some(&r.description),
                grant.state.as_deref(),
            ),
        }
    }
}
