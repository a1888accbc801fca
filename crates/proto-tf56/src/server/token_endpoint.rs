//! `POST /openGateway/oauth/token` for the four grants.

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request};
use kaifang_proto_core::context::Context;
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::hex::{HexCase, HexString};

use super::basic::parse_basic;
use super::response::{IssuedToken, OAuthRefusal};
use super::store::{AccessRecord, RefreshRecord, Store};
use super::tenant::{SCOPE_ALL, ServerClient, Tenant};
use crate::codes::OAuthErrorCode::{
    self, InvalidClient, InvalidGrant, InvalidRequest, InvalidScope, ServerError,
    UnauthorizedClient, UnsupportedGrantType,
};
use crate::oauth::GrantType;

/// The parameters of a request: query first, then a form body, each name at most once.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be present and non-empty.
    fn require(&self, name: &str) -> Result<&str, OAuthRefusal> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| refuse(InvalidRequest, format!("Missing parameter: {name}")))
    }

    pub(crate) fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

fn refuse(code: OAuthErrorCode, description: impl Into<String>) -> OAuthRefusal {
    OAuthRefusal::new(code, description)
}

/// `true` when the content type is `application/x-www-form-urlencoded` (parameters allowed).
fn is_form(req: &Request<Vec<u8>>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Collects the query and form parameters. With `unique`, a name sent twice (in the query, the
/// body, or both) is refused (RFC 6749 §3.2: "parameters MUST NOT be included more than once").
pub(crate) fn collect_params(req: &Request<Vec<u8>>, unique: bool) -> Result<Params, OAuthRefusal> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |pairs: form_urlencoded::Parse<'_>| -> Result<(), OAuthRefusal> {
        for (k, v) in pairs {
            if out.iter().any(|(seen, _)| *seen == k) {
                if unique {
                    return Err(refuse(
                        InvalidRequest,
                        format!("Parameter sent more than once: {k}"),
                    ));
                }
                continue;
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(())
    };
    if let Some(q) = req.uri().query() {
        add(form_urlencoded::parse(q.as_bytes()))?;
    }
    if !req.body().is_empty() {
        if !is_form(req) {
            return Err(refuse(
                InvalidRequest,
                "The body must be application/x-www-form-urlencoded",
            ));
        }
        add(form_urlencoded::parse(req.body()))?;
    }
    Ok(Params(out))
}

/// A fresh token or code: 16 random bytes from `ctx` as 32 lower-case hex digits.
pub(crate) fn new_token(ctx: &Context) -> Result<String, OAuthRefusal> {
    let mut bytes = [0u8; 16];
    ctx.nonce_source()
        .try_fill(&mut bytes)
        .map_err(|_| refuse(ServerError, "The random source failed"))?;
    Ok(HexString::<32>::encode(&bytes, HexCase::Lower)
        .as_str()
        .to_owned())
}

/// The scope to grant: the requested one (space- or comma-separated) when every part is
/// allowed, else the whole allowed scope when nothing is requested.
pub(crate) fn grant_scope(
    requested: Option<&str>,
    allowed: &[String],
) -> Result<Vec<String>, OAuthRefusal> {
    let parts: Vec<String> = requested
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if parts.is_empty() {
        return Ok(allowed.to_vec());
    }
    let wildcard = allowed.iter().any(|s| s == SCOPE_ALL);
    match parts.iter().find(|p| !wildcard && !allowed.contains(p)) {
        Some(bad) => Err(refuse(InvalidScope, format!("Invalid scope: {bad}"))),
        None => Ok(parts),
    }
}

impl Tenant {
    /// The token endpoint as an HTTP answer: [`Tenant::token`], rendered.
    pub fn token_endpoint<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        req: &Request<Vec<u8>>,
    ) -> http::Response<Vec<u8>> {
        match self.token(store, ctx, req) {
            Ok(issued) => issued.to_response(),
            Err(refusal) => refusal.to_response(),
        }
    }

    /// Verifies a token request and issues tokens. The checks, in order (first failure wins):
    ///
    /// 1. method `POST` → else `method_not_allowed` (405);
    /// 2. parameters from the query and (with a form content type) the body, each at most once
    ///    → `invalid_request`;
    /// 3. client authentication: `Authorization: Basic` *or* `client_id` + `client_secret`
    ///    parameters (both → `invalid_request`; a `client_id` parameter that differs from the
    ///    Basic one → `invalid_request`); missing, malformed, unknown client or wrong secret
    ///    (constant-time) → `invalid_client` (401);
    /// 4. `grant_type` present → `invalid_request`; known → `unsupported_grant_type`; allowed
    ///    for the client → `unauthorized_client`;
    /// 5. the grant's own parameters and state → `invalid_request` / `invalid_grant` /
    ///    `invalid_scope` (per grant: see the [`server`](crate::server) module docs);
    /// 6. issue: 32-hex tokens of type `uuid`; refresh tokens for user grants.
    ///
    /// # Errors
    /// The [`OAuthRefusal`] to send.
    pub fn token<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        req: &Request<Vec<u8>>,
    ) -> Result<IssuedToken, OAuthRefusal> {
        if req.method() != Method::POST {
            return Err(refuse(
                OAuthErrorCode::MethodNotAllowed,
                format!("Request method '{}' not supported", req.method()),
            ));
        }
        let params = collect_params(req, true)?;
        let client = self.authenticate_client(req, &params)?;
        let grant_type = params.require("grant_type")?;
        let grant = GrantType::parse(grant_type).ok_or_else(|| {
            refuse(
                UnsupportedGrantType,
                format!(
                    "Unsupported grant type: {}",
                    crate::codes::scrub(grant_type)
                ),
            )
        })?;
        if !client.allows(grant) {
            return Err(refuse(
                UnauthorizedClient,
                format!("Unauthorized grant type: {grant}"),
            ));
        }
        match grant {
            GrantType::ClientCredentials => {
                let scope = grant_scope(params.get("scope"), &client.scope)?;
                self.issue(store, ctx, client, None, scope, grant, false)
            }
            GrantType::AuthorizationCode => self.grant_code(store, ctx, client, &params),
            GrantType::Password => self.grant_password(store, ctx, client, &params),
            GrantType::RefreshToken => self.grant_refresh(store, ctx, client, &params),
        }
    }

    fn authenticate_client(
        &self,
        req: &Request<Vec<u8>>,
        params: &Params,
    ) -> Result<&ServerClient, OAuthRefusal> {
        let failed = || refuse(InvalidClient, "Bad client credentials");
        let basic = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_basic);
        let (client_id, secret) = match basic {
            Some(Err(_)) => return Err(failed()),
            Some(Ok(creds)) => {
                if params.get("client_secret").is_some() {
                    return Err(refuse(
                        InvalidRequest,
                        "More than one client authentication method",
                    ));
                }
                if params.get("client_id").is_some_and(|id| id != creds.id) {
                    return Err(refuse(
                        InvalidRequest,
                        "client_id differs from the Basic credentials",
                    ));
                }
                (creds.id, creds.secret)
            }
            None => {
                let id = params.get("client_id").filter(|s| !s.is_empty());
                let secret = params.get("client_secret");
                match (id, secret) {
                    (Some(id), Some(secret)) => (id.to_owned(), SecretString::new(secret)),
                    _ => return Err(failed()),
                }
            }
        };
        let client = self.client(&client_id).ok_or_else(failed)?;
        if client.secret != secret {
            return Err(failed());
        }
        Ok(client)
    }

    /// `authorization_code`: `code` present → `invalid_request`; the code is *taken* (consumed
    /// even when a later check fails, as Spring does) → unknown or used: `invalid_grant`;
    /// expired → `invalid_grant`; issued to another client → `invalid_grant`; `redirect_uri`
    /// missing or not identical to the one of the authorize request → `invalid_grant`
    /// ("Redirect URI mismatch.").
    fn grant_code<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        client: &ServerClient,
        params: &Params,
    ) -> Result<IssuedToken, OAuthRefusal> {
        let code = params.require("code")?;
        let record = store
            .take_code(code)
            .ok_or_else(|| refuse(InvalidGrant, "Invalid authorization code"))?;
        if record.expires_at_ms <= ctx.now_millis() {
            return Err(refuse(InvalidGrant, "Authorization code expired"));
        }
        if record.client_id != client.client_id {
            return Err(refuse(
                InvalidGrant,
                "Authorization code issued to another client",
            ));
        }
        if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
            return Err(refuse(InvalidGrant, "Redirect URI mismatch."));
        }
        self.issue(
            store,
            ctx,
            client,
            Some(record.username),
            record.scope,
            GrantType::AuthorizationCode,
            true,
        )
    }

    /// `password`: `username` and `password` present → `invalid_request`; known user with
    /// this password (constant-time) → else `invalid_grant` ("Bad credentials"); scope →
    /// `invalid_scope`.
    fn grant_password<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        client: &ServerClient,
        params: &Params,
    ) -> Result<IssuedToken, OAuthRefusal> {
        let username = params.require("username")?;
        let password = SecretString::new(params.require("password")?);
        let user = self
            .user(username)
            .filter(|u| u.password == password)
            .ok_or_else(|| refuse(InvalidGrant, "Bad credentials"))?;
        let scope = grant_scope(params.get("scope"), &client.scope)?;
        self.issue(
            store,
            ctx,
            client,
            Some(user.username.clone()),
            scope,
            GrantType::Password,
            true,
        )
    }

    /// `refresh_token`: `refresh_token` present → `invalid_request`; the refresh token is
    /// *taken* (rotation: a used one is unknown afterwards) → unknown: `invalid_grant`;
    /// expired or another client's → `invalid_grant`; a requested scope wider than the
    /// original → `invalid_scope`. The new access token lives as long as the original grant's;
    /// the old access token is revoked when [`Tenant::revoke_access_on_refresh`].
    fn grant_refresh<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        client: &ServerClient,
        params: &Params,
    ) -> Result<IssuedToken, OAuthRefusal> {
        let token = params.require("refresh_token")?;
        let record = store
            .take_refresh(token)
            .ok_or_else(|| refuse(InvalidGrant, "Invalid refresh token"))?;
        if record.expires_at_ms <= ctx.now_millis() {
            return Err(refuse(InvalidGrant, "Invalid refresh token (expired)"));
        }
        if record.client_id != client.client_id {
            return Err(refuse(
                InvalidGrant,
                "Refresh token issued to another client",
            ));
        }
        let scope = grant_scope(params.get("scope"), &record.scope)?;
        if self.revoke_access_on_refresh {
            store.revoke_access(&record.access_token);
        }
        self.issue(
            store,
            ctx,
            client,
            record.username,
            scope,
            record.grant,
            true,
        )
        .map(|t| t.with_grant(GrantType::RefreshToken))
    }

    /// Issues an access token (and a refresh token) for `family`, the grant that started the
    /// token family (it decides the lifetime).
    #[allow(clippy::too_many_arguments)]
    fn issue<S: Store + ?Sized>(
        &self,
        store: &mut S,
        ctx: &Context,
        client: &ServerClient,
        username: Option<String>,
        scope: Vec<String>,
        family: GrantType,
        with_refresh: bool,
    ) -> Result<IssuedToken, OAuthRefusal> {
        let now = ctx.now_millis();
        let expires_in = self.lifetimes.access(family);
        let ms = |secs: u64| {
            now.saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
        };
        let access_token = new_token(ctx)?;
        store.put_access(
            &access_token,
            AccessRecord {
                client_id: client.client_id.clone(),
                username: username.clone(),
                scope: scope.clone(),
                grant: family,
                issued_at_ms: now,
                expires_at_ms: ms(expires_in),
            },
        );
        let refresh_token = if with_refresh && client.allows(GrantType::RefreshToken) {
            let refresh = new_token(ctx)?;
            store.put_refresh(
                &refresh,
                RefreshRecord {
                    client_id: client.client_id.clone(),
                    username: username.clone(),
                    scope: scope.clone(),
                    grant: family,
                    access_token: access_token.clone(),
                    issued_at_ms: now,
                    expires_at_ms: ms(self.lifetimes.refresh_token),
                },
            );
            Some(refresh)
        } else {
            None
        };
        Ok(IssuedToken {
            access_token,
            refresh_token,
            expires_in,
            scope,
            grant: family,
            client_id: client.client_id.clone(),
            username,
        })
    }
}

impl IssuedToken {
    fn with_grant(mut self, grant: GrantType) -> Self {
        self.grant = grant;
        self
    }
}
