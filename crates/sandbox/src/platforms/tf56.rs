//! `tf56`: the Transfar open gateway (传化开放平台), OAuth 2.0 on `/openGateway/...`. Thin glue
//! over [`kaifang_proto_tf56::server`]: the proto crate verifies and answers, this module keeps
//! what it issues in the sandbox's [`PlatformTokens`] (so the clock, lifetime overrides, revoke,
//! purge and reset controls all apply) and shows the framework's login page.
//!
//! | route | what |
//! |---|---|
//! | `POST /openGateway/oauth/token` | the four grants (`client_credentials`, `authorization_code`, `password`, `refresh_token`); parameters in the query (the gateway's own clients: `POST` with an empty body), a form body, and HTTP Basic client authentication |
//! | `GET /openGateway/oauth/` (also without `/`) | `response_type=code&client_id&redirect_uri&state&scope` → the login page (app name, Approve `#approve` / Deny `#deny`); approve → `redirect_uri?state=…&code=…` (32 hex, single use), deny → `redirect_uri?error=access_denied&state=…`; `kaifang_auto=approve\|deny` and `kaifang_user=NAME` skip the click |
//! | `GET`/`POST /openGateway/oauthentry/<module>/<version>/<method>` | `tf56.open.demo/1/sayHello`, `open.demo/1/queryUserInfo` behind `access_token` (or the seed's `AccessToken`) in the query or a form body; `{result, code, msg, data}` envelope |
//!
//! The authorize page takes the client's registered `redirect_uri`, or, for a client that has
//! one (the demo client `1`), an RFC 8252 §7.3 loopback redirect URI on any port:
//! `http://127.0.0.1:<port>/…`, `http://localhost:<port>/…`, `http://[::1]:<port>/…`
//! ([`is_loopback_redirect`]), as native apps and `kaifang login tf56` send. The code is bound
//! to the URI it was issued for; the token request must repeat it (else `invalid_grant`).
//!
//! Tokens are 32 lower-case hex of type `uuid`: 1,800 s for `client_credentials`, 25,200 s for
//! `authorization_code` and `password`, refresh tokens 7 days, rotating (a used refresh token is
//! refused with `invalid_grant`; the access token issued with it is revoked), codes 10 minutes.
//! Errors are RFC 6749 / 6750 bodies (`{"error","error_description"}`): wrong client secret →
//! 401 `invalid_client`, wrong or replayed code / wrong `redirect_uri` / used refresh token →
//! 400 `invalid_grant`, a bad token on the gateway → 401 `invalid_token` (or the envelope, with
//! `invalid_token_style = "gateway"`).
//!
//! # The two spellings, and standard OAuth clients
//! The gateway answers `client_credentials` with `expires_in` / `token_type` / `access_token`
//! (one line, in the seed's key order, access token last) but `authorization_code` with
//! `expiresin` / `tokentype` / `refreshtoken` / `accesstoken` `[C: seed]`. A standard OAuth
//! client (oauthlib, authlib …) cannot read the second form. The gateway's documented clients
//! send every parameter in the query string with an empty body; standard clients send a form
//! body (RFC 6749 §4) and often HTTP Basic. So, by default
//! ([`TokenSpellingPolicy::ByRequest`]), a request in the gateway's own style gets the seed's
//! spellings, and a request with a form body or an `Authorization` header gets the RFC 6749
//! spellings (`expires_in`, `token_type`, `refresh_token`, `access_token`: same key order,
//! still one line). This is kaifang's choice `[I]`: how the real gateway answers a form-body
//! request is not public. `token_spelling = "seed"` gives the seed's spellings to everyone,
//! `"standard"` the RFC ones.
//!
//! # Controls
//! * Lifetime overrides (`PUT /__sandbox/lifetimes`), kinds `access_token` (every grant),
//!   `refresh_token` and `code`: the `expires_in` answered follows them.
//! * `POST /__sandbox/revoke` with an access or refresh token (or a code).
//! * Mint kinds: `code` — request `{"client_id", "user"?, "scope"?, "redirect_uri"?}` →
//!   `{"code","redirect_uri","user","expires_in"}`: an authorization code as if the user had
//!   approved on the login page (same checks as the authorize page: registered redirect URI,
//!   scope); `access_token` — request `{"client_id", "user"?, "scope"?}` →
//!   `{"access_token","token_type","expires_in","scope"}`: a client token, or a user's token
//!   (with `user`, as after the authorization-code grant).
//! * `GET /__sandbox/tenants` shows the clients and users with their secrets redacted.
//!
//! # `[platforms.tf56]`
//! ```toml
//! [platforms.tf56]
//! token_spelling = "by_request"      # or "seed", "standard"
//! invalid_token_style = "oauth"      # or "gateway" (envelope code 401 in an HTTP 200)
//! revoke_access_on_refresh = true
//! lifetimes = { client_credentials = 1800, authorization_code = 25200, password = 25200, refresh_token = 604800, code = 600 }
//!
//! [[platforms.tf56.clients]]
//! client_id = "7"
//! secret = "7fad9d6b20e849219d6888b25e3f40db"
//! name = "tf56 public client"
//! scope = ["商铺", "good-list", "op-truck", "open-demo"]
//! grants = ["client_credentials", "password", "refresh_token"]
//!
//! [[platforms.tf56.users]]
//! username = "demo"
//! password = "demo123456"
//! ```
//! A section replaces the default tenant's lists it names (`clients`, `users`); the others keep
//! the defaults (client `7` with the public secret, client `1` with redirect URI
//! `http://test.tf56.com`, user `demo` / `demo123456`: see [`kaifang_proto_tf56::server`]).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, Uri};
use kaifang_proto_tf56::GrantType;
use kaifang_proto_tf56::server::{
    AccessRecord, AuthorizeRefusal, CodeRecord, DEMO_USERNAME, InvalidTokenStyle, IssuedToken,
    Lifetimes, RefreshRecord, SCOPE_ALL, ServerClient, ServerUser, Store, TOKEN_TYPE, Tenant,
    TokenSpelling, token_json,
};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::login::{LoginRequest, is_loopback_redirect};
use crate::module::{Module, ModuleContext};
use crate::tokens::{Grant, LookupError, NewGrant, PlatformTokens};

/// The registry kind of access tokens (also the lifetime-override kind).
pub const KIND_ACCESS: &str = "access_token";
/// The registry kind of refresh tokens (also the lifetime-override kind).
pub const KIND_REFRESH: &str = "refresh_token";
/// The registry kind of authorization codes (also the lifetime-override kind and a mint kind).
pub const KIND_CODE: &str = "code";

const REDACTED: &str = "[redacted]";

/// Which field names the token endpoint uses (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSpellingPolicy {
    /// The seed's spellings for requests in the gateway's style (query parameters, empty
    /// body, no `Authorization`), the RFC 6749 spellings for a form body or HTTP Basic.
    #[default]
    ByRequest,
    /// Always the seed's spellings (`expiresin`, `accesstoken`… for the user grants).
    Seed,
    /// Always the RFC 6749 spellings.
    Standard,
}

impl TokenSpellingPolicy {
    /// The spelling of the answer to `grant` for a request that did (`standard_request`) or did
    /// not use a form body or an `Authorization` header.
    #[must_use]
    pub fn spelling(self, grant: GrantType, standard_request: bool) -> TokenSpelling {
        match self {
            Self::Standard => TokenSpelling::Underscored,
            Self::ByRequest if standard_request => TokenSpelling::Underscored,
            Self::ByRequest | Self::Seed => TokenSpelling::for_grant(grant),
        }
    }
}

/// `[platforms.tf56]`: the gateway's tenant (clients, users, lifetimes, switches) and the
/// sandbox's spelling policy. `Default` is the seed tenant of [`Tenant::default`]. `Debug` and
/// `Serialize` redact every secret and password.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tf56Config {
    /// The clients.
    pub clients: Vec<ServerClient>,
    /// The users (password grant, `queryUserInfo`).
    pub users: Vec<ServerUser>,
    /// Lifetimes in seconds (the control overrides win).
    pub lifetimes: Lifetimes,
    /// How the gateway refuses a bad token.
    pub invalid_token_style: InvalidTokenStyle,
    /// Whether a refresh revokes the access token issued with the used refresh token.
    pub revoke_access_on_refresh: bool,
    /// Which spellings the token endpoint uses.
    pub token_spelling: TokenSpellingPolicy,
}

impl Default for Tf56Config {
    fn default() -> Self {
        let t = Tenant::default();
        Self {
            clients: t.clients,
            users: t.users,
            lifetimes: t.lifetimes,
            invalid_token_style: t.invalid_token_style,
            revoke_access_on_refresh: t.revoke_access_on_refresh,
            token_spelling: TokenSpellingPolicy::default(),
        }
    }
}

impl Tf56Config {
    /// The proto crate's [`Tenant`] for this config (the login page replaces the tenant's
    /// non-interactive auto-login).
    #[must_use]
    pub fn tenant(&self) -> Tenant {
        Tenant {
            clients: self.clients.clone(),
            users: self.users.clone(),
            lifetimes: self.lifetimes,
            invalid_token_style: self.invalid_token_style,
            revoke_access_on_refresh: self.revoke_access_on_refresh,
            auto_login_user: None,
        }
    }
}

struct ClientView<'a>(&'a ServerClient);

impl Serialize for ClientView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut st = s.serialize_struct("ServerClient", 6)?;
        st.serialize_field("client_id", &c.client_id)?;
        st.serialize_field("secret", REDACTED)?;
        st.serialize_field("name", &c.name)?;
        st.serialize_field("redirect_uri", &c.redirect_uri)?;
        st.serialize_field("scope", &c.scope)?;
        st.serialize_field("grants", &c.grants)?;
        st.end()
    }
}

struct UserView<'a>(&'a ServerUser);

impl Serialize for UserView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut st = s.serialize_struct("ServerUser", 5)?;
        st.serialize_field("username", &u.username)?;
        st.serialize_field("password", REDACTED)?;
        st.serialize_field("user_id", &u.user_id)?;
        st.serialize_field("realname", &u.realname)?;
        st.serialize_field("mobile", &u.mobile)?;
        st.end()
    }
}

struct LifetimesView(Lifetimes);

impl Serialize for LifetimesView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("client_credentials", &l.client_credentials)?;
        m.serialize_entry("authorization_code", &l.authorization_code)?;
        m.serialize_entry("password", &l.password)?;
        m.serialize_entry("refresh_token", &l.refresh_token)?;
        m.serialize_entry("code", &l.code)?;
        m.end()
    }
}

impl Serialize for Tf56Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let clients: Vec<_> = self.clients.iter().map(ClientView).collect();
        let users: Vec<_> = self.users.iter().map(UserView).collect();
        let style = match self.invalid_token_style {
            InvalidTokenStyle::OAuth => "oauth",
            InvalidTokenStyle::Gateway => "gateway",
        };
        let mut st = s.serialize_struct("Tf56Config", 6)?;
        st.serialize_field("clients", &clients)?;
        st.serialize_field("users", &users)?;
        st.serialize_field("lifetimes", &LifetimesView(self.lifetimes))?;
        st.serialize_field("invalid_token_style", style)?;
        st.serialize_field("revoke_access_on_refresh", &self.revoke_access_on_refresh)?;
        st.serialize_field("token_spelling", &self.token_spelling)?;
        st.end()
    }
}

/// The `tf56` module. `Default`: the seed tenant (see [`Tf56Config`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tf56Module;

type Ctx = ModuleContext<Tf56Config>;

/// The router state: the context and the tenant built once from the config.
#[derive(Clone)]
struct Shared {
    ctx: Ctx,
    tenant: Arc<Tenant>,
}

fn ms_to_duration(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}

/// The proto crate's [`Store`] over the sandbox's token registry: every record is kept as the
/// grant's metadata; the registry's expiry (on the sandbox clock) is authoritative; revoked
/// values are unknown to the server half, expired ones are returned so it can say "expired".
#[derive(Debug, Clone, Copy)]
pub struct RegistryStore<'a> {
    tokens: &'a PlatformTokens,
}

impl<'a> RegistryStore<'a> {
    /// A store over `tokens`.
    #[must_use]
    pub fn new(tokens: &'a PlatformTokens) -> Self {
        Self { tokens }
    }

    fn put(&self, value: &str, grant: NewGrant, record: Value) {
        self.tokens.issue(value, grant.meta(record));
    }

    /// The grant of `value` when it is of `kind` and usable or merely expired.
    fn peek(&self, kind: &str, value: &str) -> Option<Grant> {
        match self.tokens.lookup_kind(kind, value) {
            Ok(g) => Some(g),
            Err(LookupError::Expired) => {
                let mut found = None;
                self.tokens.modify(value, |g| {
                    if g.kind == kind {
                        found = Some(g.clone());
                    }
                });
                found
            }
            Err(LookupError::Revoked | LookupError::Unknown) => None,
        }
    }

    fn take(&self, kind: &str, value: &str) -> Option<Grant> {
        let grant = self.peek(kind, value)?;
        self.tokens.remove(value);
        Some(grant)
    }
}

fn decode<T: serde::de::DeserializeOwned>(g: &Grant) -> Option<T> {
    serde_json::from_value(g.meta.clone()).ok()
}

impl Store for RegistryStore<'_> {
    fn put_code(&mut self, code: &str, record: CodeRecord) {
        let ttl = ms_to_duration(record.issued_at_ms, record.expires_at_ms);
        let grant = NewGrant::new(KIND_CODE, record.client_id.clone(), ttl)
            .subject(record.username.clone())
            .scope(record.scope.join(" "));
        self.put(
            code,
            grant,
            serde_json::to_value(&record).unwrap_or(Value::Null),
        );
    }

    fn take_code(&mut self, code: &str) -> Option<CodeRecord> {
        let g = self.take(KIND_CODE, code)?;
        let mut r: CodeRecord = decode(&g)?;
        (r.issued_at_ms, r.expires_at_ms) = (g.issued_at_ms, g.expires_at_ms);
        Some(r)
    }

    fn put_access(&mut self, token: &str, record: AccessRecord) {
        let ttl = ms_to_duration(record.issued_at_ms, record.expires_at_ms);
        let mut grant =
            NewGrant::new(KIND_ACCESS, record.client_id.clone(), ttl).scope(record.scope.join(" "));
        if let Some(u) = &record.username {
            grant = grant.subject(u.clone());
        }
        self.put(
            token,
            grant,
            serde_json::to_value(&record).unwrap_or(Value::Null),
        );
    }

    fn access(&self, token: &str) -> Option<AccessRecord> {
        let g = self.peek(KIND_ACCESS, token)?;
        let mut r: AccessRecord = decode(&g)?;
        (r.issued_at_ms, r.expires_at_ms) = (g.issued_at_ms, g.expires_at_ms);
        Some(r)
    }

    fn revoke_access(&mut self, token: &str) -> bool {
        self.tokens.revoke(token)
    }

    fn put_refresh(&mut self, token: &str, record: RefreshRecord) {
        let ttl = ms_to_duration(record.issued_at_ms, record.expires_at_ms);
        let mut grant = NewGrant::new(KIND_REFRESH, record.client_id.clone(), ttl)
            .scope(record.scope.join(" "));
        if let Some(u) = &record.username {
            grant = grant.subject(u.clone());
        }
        self.put(
            token,
            grant,
            serde_json::to_value(&record).unwrap_or(Value::Null),
        );
    }

    fn take_refresh(&mut self, token: &str) -> Option<RefreshRecord> {
        let g = self.take(KIND_REFRESH, token)?;
        let mut r: RefreshRecord = decode(&g)?;
        (r.issued_at_ms, r.expires_at_ms) = (g.issued_at_ms, g.expires_at_ms);
        Some(r)
    }
}

/// The tenant with the control lifetime overrides applied (borrowed when there are none).
fn effective_tenant<'a>(base: &'a Tenant, tokens: &PlatformTokens) -> Cow<'a, Tenant> {
    let l = base.lifetimes;
    let secs = |kind: &str, default: u64| tokens.ttl(kind, Duration::from_secs(default)).as_secs();
    let now = Lifetimes {
        client_credentials: secs(KIND_ACCESS, l.client_credentials),
        authorization_code: secs(KIND_ACCESS, l.authorization_code),
        password: secs(KIND_ACCESS, l.password),
        refresh_token: secs(KIND_REFRESH, l.refresh_token),
        code: secs(KIND_CODE, l.code),
    };
    if now == l {
        Cow::Borrowed(base)
    } else {
        let mut t = base.clone();
        t.lifetimes = now;
        Cow::Owned(t)
    }
}

fn to_axum(resp: http::Response<Vec<u8>>) -> Response {
    resp.map(axum::body::Body::from).into_response()
}

fn to_request(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> http::Request<Vec<u8>> {
    let mut req = http::Request::new(body.to_vec());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

/// The token answer in `spelling` (the proto crate renders the grant's own spelling; the
/// headers stay).
fn render_token(issued: &IssuedToken, spelling: TokenSpelling) -> http::Response<Vec<u8>> {
    let mut resp = issued.to_response();
    if spelling != TokenSpelling::for_grant(issued.grant) {
        *resp.body_mut() = token_json(
            spelling,
            &issued.scope.join(" "),
            issued.expires_in,
            issued.refresh_token.as_deref(),
            &issued.access_token,
        )
        .into_bytes();
    }
    resp
}

async fn token(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = to_request(method, uri, headers, body);
    let tenant = effective_tenant(&s.tenant, s.ctx.tokens());
    let mut store = RegistryStore::new(s.ctx.tokens());
    match tenant.token(&mut store, &s.ctx.proto_context(), &req) {
        Ok(issued) => {
            let standard = !req.body().is_empty() || req.headers().contains_key(AUTHORIZATION);
            let spelling = s
                .ctx
                .config()
                .token_spelling
                .spelling(issued.grant, standard);
            to_axum(render_token(&issued, spelling))
        }
        Err(refusal) => to_axum(refusal.to_response()),
    }
}

async fn entry(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = to_request(method, uri, headers, body);
    let store = RegistryStore::new(s.ctx.tokens());
    to_axum(s.tenant.entry(&store, &s.ctx.proto_context(), &req))
}

/// The tenant that validates an authorize request. Besides its registered redirect URI, a
/// client with one (the demo clients) accepts an RFC 8252 loopback redirect URI
/// ([`is_loopback_redirect`]: `http://127.0.0.1:<any port>/…`, `http://localhost:<any port>/…`),
/// as native apps and `kaifang login` send; the code is then bound to that URI, and the token
/// request must repeat it. Clients without a registered redirect URI stay refused.
fn authorize_tenant<'a>(tenant: &'a Tenant, query: &str) -> Cow<'a, Tenant> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let get = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let (Some(id), Some(uri)) = (get("client_id"), get("redirect_uri")) else {
        return Cow::Borrowed(tenant);
    };
    let other_than_registered = tenant
        .client(&id)
        .and_then(|c| c.redirect_uri.as_deref())
        .is_some_and(|r| r != uri);
    if !other_than_registered || !is_loopback_redirect(&uri) {
        return Cow::Borrowed(tenant);
    }
    let mut t = tenant.clone();
    if let Some(c) = t.clients.iter_mut().find(|c| c.client_id == id) {
        c.redirect_uri = Some(uri);
    }
    Cow::Owned(t)
}

async fn authorize(State(s): State<Shared>, uri: Uri) -> Response {
    let query = uri.query().unwrap_or_default().to_owned();
    let grant = match authorize_tenant(&s.tenant, &query).authorize(&query) {
        Ok(g) => g,
        Err(refusal) => return to_axum(refusal.to_response()),
    };
    // The seed's order on approval is `?state=…&code=…`: the module adds both itself (and
    // `state` after `error` on denial) instead of letting the framework append `state` last.
    let mut deny = vec![("error".to_owned(), "access_denied".to_owned())];
    if let Some(st) = &grant.state {
        deny.push(("state".to_owned(), st.clone()));
    }
    let approver = {
        let s = s.clone();
        let grant = grant.clone();
        move |user: &str| {
            let tenant = effective_tenant(&s.tenant, s.ctx.tokens());
            let mut store = RegistryStore::new(s.ctx.tokens());
            let code = tenant
                .issue_code(&mut store, &s.ctx.proto_context(), &grant, user)
                .map_err(|r| r.description)?;
            let mut params = Vec::with_capacity(2);
            if let Some(st) = &grant.state {
                params.push(("state".to_owned(), st.clone()));
            }
            params.push(("code".to_owned(), code));
            Ok(params)
        }
    };
    let req = LoginRequest::new(
        grant.client_name.clone(),
        grant.redirect_uri.clone(),
        approver,
    )
    .deny_params(deny)
    .default_user(DEMO_USERNAME);
    s.ctx.login().respond(req, Some(&query))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintCode {
    client_id: String,
    user: Option<String>,
    scope: Option<String>,
    redirect_uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintAccess {
    client_id: String,
    user: Option<String>,
    scope: Option<String>,
}

fn parse_request<T: serde::de::DeserializeOwned>(request: Value) -> Result<T, ControlError> {
    let request = if request.is_null() {
        json!({})
    } else {
        request
    };
    serde_json::from_value(request).map_err(|e| ControlError::BadRequest(format!("request: {e}")))
}

fn known_client<'a>(tenant: &'a Tenant, id: &str) -> Result<&'a ServerClient, ControlError> {
    tenant.client(id).ok_or_else(|| {
        ControlError::NotFound(format!("unknown client_id `{id}` on platform `tf56`"))
    })
}

fn mint_code(ctx: &Ctx, r: MintCode) -> Result<Value, ControlError> {
    let base = ctx.config().tenant();
    let tenant = effective_tenant(&base, ctx.tokens());
    let client = known_client(&tenant, &r.client_id)?;
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id);
    if let Some(u) = &r.redirect_uri {
        q.append_pair("redirect_uri", u);
    }
    if let Some(sc) = &r.scope {
        q.append_pair("scope", sc);
    }
    let q = q.finish();
    let grant = authorize_tenant(&tenant, &q)
        .authorize(&q)
        .map_err(|refusal| match refusal {
            AuthorizeRefusal::Show(o) => ControlError::BadRequest(o.description),
            AuthorizeRefusal::Redirect(location) => ControlError::BadRequest(format!(
                "the authorize page would refuse: {}",
                location.split_once('?').map_or("", |(_, q)| q)
            )),
        })?;
    let user = r.user.unwrap_or_else(|| DEMO_USERNAME.to_owned());
    let mut store = RegistryStore::new(ctx.tokens());
    let code = tenant
        .issue_code(&mut store, &ctx.proto_context(), &grant, &user)
        .map_err(|o| ControlError::BadRequest(o.description))?;
    Ok(json!({
        "code": code,
        "redirect_uri": grant.redirect_uri,
        "user": user,
        "expires_in": tenant.lifetimes.code,
    }))
}

fn mint_access(ctx: &Ctx, r: MintAccess) -> Result<Value, ControlError> {
    let base = ctx.config().tenant();
    let tenant = effective_tenant(&base, ctx.tokens());
    let client = known_client(&tenant, &r.client_id)?;
    let scope: Vec<String> = match r.scope.as_deref() {
        None => client.scope.clone(),
        Some(s) => s
            .split([' ', ','])
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let wildcard = client.scope.iter().any(|s| s == SCOPE_ALL);
    if let Some(bad) = scope
        .iter()
        .find(|p| !wildcard && !client.scope.contains(p))
    {
        return Err(ControlError::BadRequest(format!(
            "scope `{bad}` is not allowed for client `{}`",
            client.client_id
        )));
    }
    let grant = if r.user.is_some() {
        GrantType::AuthorizationCode
    } else {
        GrantType::ClientCredentials
    };
    let expires_in = tenant.lifetimes.access(grant);
    let now = ctx.now_millis();
    let expires_at_ms =
        now.saturating_add(i64::try_from(expires_in.saturating_mul(1000)).unwrap_or(i64::MAX));
    let value = ctx.rng().hex(32);
    let mut store = RegistryStore::new(ctx.tokens());
    store.put_access(
        &value,
        AccessRecord {
            client_id: client.client_id.clone(),
            username: r.user,
            scope: scope.clone(),
            grant,
            issued_at_ms: now,
            expires_at_ms,
        },
    );
    Ok(json!({
        "access_token": value,
        "token_type": TOKEN_TYPE,
        "expires_in": expires_in,
        "scope": scope.join(" "),
    }))
}

impl Module for Tf56Module {
    type Config = Tf56Config;

    fn name(&self) -> &'static str {
        "tf56"
    }

    fn routes(&self, ctx: Ctx) -> Router {
        let tenant = Arc::new(ctx.config().tenant());
        Router::new()
            .route("/openGateway/oauth/token", any(token))
            .route("/openGateway/oauth/", get(authorize))
            .route("/openGateway/oauth", get(authorize))
            .route("/openGateway/oauthentry/{*api}", any(entry))
            .with_state(Shared { ctx, tenant })
    }

    fn mint_kinds(&self) -> &'static [&'static str] {
        &[KIND_CODE, KIND_ACCESS]
    }

    fn mint(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        match kind {
            KIND_CODE => mint_code(ctx, parse_request(request)?),
            KIND_ACCESS => mint_access(ctx, parse_request(request)?),
            _ => Err(ControlError::Unsupported {
                platform: self.name().to_owned(),
                kind: kind.to_owned(),
                supported: self.mint_kinds().iter().map(|s| (*s).to_owned()).collect(),
            }),
        }
    }

    /// Nothing to clear: every code and token lives in the sandbox's token registry and every
    /// pending login page in the framework's login helper, both cleared by the reset itself;
    /// the tenant is configuration.
    fn reset(&self, ctx: &Ctx) {
        let _ = ctx;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::clock::SandboxClock;
    use crate::tokens::TokenRegistry;
    use kaifang_proto_core::context::{Clock, Context, SeqNonce};
    use kaifang_proto_tf56::server::{
        CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, CODE_CLIENT_SECRET, PUBLIC_CLIENT_ID,
        PUBLIC_CLIENT_SECRET,
    };

    fn registry() -> (Arc<SandboxClock>, PlatformTokens) {
        let clock = Arc::new(SandboxClock::default());
        clock.freeze_at_millis(1_700_000_000_000);
        let reg = TokenRegistry::new(clock.clone(), 1000, Duration::from_secs(3600));
        (clock, PlatformTokens::new(reg, "tf56"))
    }

    fn ctx(clock: &Arc<SandboxClock>) -> Context {
        Context::new(clock.clone(), Arc::new(SeqNonce::new(1)))
    }

    fn post(uri: &str, body: &str, form: bool) -> http::Request<Vec<u8>> {
        let mut b = http::Request::post(uri);
        if form {
            b = b.header("content-type", "application/x-www-form-urlencoded");
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn spelling_policy() {
        use GrantType::*;
        use TokenSpelling::*;
        let p = TokenSpellingPolicy::ByRequest;
        assert_eq!(p.spelling(ClientCredentials, false), Underscored);
        assert_eq!(p.spelling(AuthorizationCode, false), Compact);
        assert_eq!(p.spelling(RefreshToken, false), Compact);
        assert_eq!(p.spelling(Password, true), Underscored);
        assert_eq!(TokenSpellingPolicy::Seed.spelling(Password, true), Compact);
        assert_eq!(
            TokenSpellingPolicy::Standard.spelling(AuthorizationCode, false),
            Underscored
        );
    }

    #[test]
    fn config_defaults_toml_and_redaction() {
        let d = Tf56Config::default();
        let t = d.tenant();
        assert_eq!(
            t.client(PUBLIC_CLIENT_ID).unwrap().secret.expose_secret(),
            PUBLIC_CLIENT_SECRET
        );
        assert_eq!(
            t.client(CODE_CLIENT_ID).unwrap().redirect_uri.as_deref(),
            Some(CODE_CLIENT_REDIRECT_URI)
        );
        assert!(t.auto_login_user.is_none());

        let c: Tf56Config = toml::from_str(
            "token_spelling = \"seed\"\nlifetimes = { client_credentials = 60 }\n[[clients]]\nclient_id = \"9\"\nsecret = \"s9\"\n",
        )
        .unwrap();
        assert_eq!(c.token_spelling, TokenSpellingPolicy::Seed);
        assert_eq!(c.lifetimes.client_credentials, 60);
        assert_eq!(c.lifetimes.authorization_code, 25_200);
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.users.len(), 1, "users keep the default");
        assert!(toml::from_str::<Tf56Config>("nope = 1").is_err());

        let shown = format!("{} {:?}", serde_json::to_string(&d).unwrap(), d);
        for secret in [PUBLIC_CLIENT_SECRET, CODE_CLIENT_SECRET, "demo123456"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["clients"][0]["secret"], REDACTED);
        assert_eq!(v["lifetimes"]["refresh_token"], 604_800);
        assert_eq!(v["token_spelling"], "by_request");
    }

    #[test]
    fn registry_store_round_trips_and_reports_expiry() {
        let (clock, tokens) = registry();
        let ctx = ctx(&clock);
        let tenant = Tenant {
            auto_login_user: Some("demo".into()),
            ..Tenant::default()
        };
        let mut store = RegistryStore::new(&tokens);

        // A code: single use.
        let grant = tenant
            .authorize("response_type=code&client_id=1&state=s")
            .unwrap();
        let code = tenant.issue_code(&mut store, &ctx, &grant, "demo").unwrap();
        assert_eq!(
            tokens.lookup_kind(KIND_CODE, &code).unwrap().ttl_secs(),
            600
        );
        let rec = store.take_code(&code).unwrap();
        assert_eq!(
            (rec.client_id.as_str(), rec.username.as_str()),
            ("1", "demo")
        );
        assert!(store.take_code(&code).is_none());

        // client_credentials through the proto's token endpoint, over this store.
        let req = post(
            &format!(
                "/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret={PUBLIC_CLIENT_SECRET}"
            ),
            "",
            false,
        );
        let issued = tenant.token(&mut store, &ctx, &req).unwrap();
        let rec = store.access(&issued.access_token).unwrap();
        assert_eq!(rec.expires_at_ms - rec.issued_at_ms, 1_800_000);
        // Expired on the sandbox clock: still returned (with its past expiry) so the gateway
        // says "expired"; then revoked: unknown.
        clock.advance(Duration::from_secs(1800));
        let rec = store.access(&issued.access_token).unwrap();
        assert!(rec.expires_at_ms <= clock.now_millis());
        let hello = http::Request::get(format!(
            "/openGateway/oauthentry/tf56.open.demo/1/sayHello?access_token={}",
            issued.access_token
        ))
        .body(Vec::new())
        .unwrap();
        let resp = tenant.entry(&store, &ctx, &hello);
        assert_eq!(resp.status(), 401);
        assert!(String::from_utf8_lossy(resp.body()).contains("expired"));
        assert!(store.revoke_access(&issued.access_token));
        assert!(store.access(&issued.access_token).is_none());

        // A refresh token is not an access token, and rotates.
        let req = post(
            "/openGateway/oauth/token",
            &format!(
                "grant_type=password&username=demo&password=demo123456&client_id=7&client_secret={PUBLIC_CLIENT_SECRET}"
            ),
            true,
        );
        let issued = tenant.token(&mut store, &ctx, &req).unwrap();
        let refresh = issued.refresh_token.clone().unwrap();
        assert!(store.access(&refresh).is_none());
        assert!(store.take_refresh(&refresh).is_some());
        assert!(store.take_refresh(&refresh).is_none());
    }

    #[test]
    fn lifetime_overrides_reach_the_tenant() {
        let (_clock, tokens) = registry();
        let base = Tenant::default();
        assert!(matches!(effective_tenant(&base, &tokens), Cow::Borrowed(_)));
        tokens
            .registry()
            .set_lifetime("tf56", KIND_ACCESS, Some(Duration::from_secs(5)));
        tokens
            .registry()
            .set_lifetime("tf56", KIND_CODE, Some(Duration::from_secs(7)));
        let t = effective_tenant(&base, &tokens);
        assert_eq!(t.lifetimes.client_credentials, 5);
        assert_eq!(t.lifetimes.authorization_code, 5);
        assert_eq!(t.lifetimes.password, 5);
        assert_eq!(t.lifetimes.code, 7);
        assert_eq!(t.lifetimes.refresh_token, 7 * 86_400);
    }

    #[test]
    fn render_in_either_spelling() {
        let issued = IssuedToken {
            access_token: "a".repeat(32),
            refresh_token: Some("r".repeat(32)),
            expires_in: 25_200,
            scope: vec!["all".into()],
            grant: GrantType::AuthorizationCode,
            client_id: "1".into(),
            username: Some("demo".into()),
        };
        let seed = render_token(&issued, TokenSpelling::Compact);
        let std = render_token(&issued, TokenSpelling::Underscored);
        let seed = String::from_utf8(seed.into_body()).unwrap();
        assert!(seed.contains("\"accesstoken\"") && seed.contains("\"expiresin\":25200"));
        assert_eq!(std.headers()["cache-control"], "no-store");
        let std = String::from_utf8(std.into_body()).unwrap();
        assert_eq!(
            std,
            format!(
                "{{\"scope\":\"all\",\"expires_in\":25200,\"token_type\":\"uuid\",\"refresh_token\":\"{}\",\"access_token\":\"{}\"}}",
                "r".repeat(32),
                "a".repeat(32)
            )
        );
    }

    #[test]
    fn loopback_redirects_for_clients_with_a_registered_one() {
        let t = Tf56Config::default().tenant();
        let q = |client: &str, uri: &str| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("response_type", "code")
                .append_pair("client_id", client)
                .append_pair("redirect_uri", uri)
                .append_pair("state", "s1")
                .finish()
        };
        for uri in [
            "http://127.0.0.1:53127/callback",
            "http://localhost:8080/",
            "http://[::1]:1/cb",
            CODE_CLIENT_REDIRECT_URI,
        ] {
            let query = q(CODE_CLIENT_ID, uri);
            let g = authorize_tenant(&t, &query).authorize(&query).unwrap();
            assert_eq!(g.redirect_uri, uri);
            assert_eq!(g.state.as_deref(), Some("s1"));
        }
        // Not loopback, not http, or a client without a registered redirect URI: refused as
        // before (shown, never redirected).
        for (client, uri) in [
            (CODE_CLIENT_ID, "http://evil.example/callback"),
            (CODE_CLIENT_ID, "https://127.0.0.1:1/callback"),
            (CODE_CLIENT_ID, "http://127.0.0.1.evil.example:1/callback"),
            (PUBLIC_CLIENT_ID, "http://127.0.0.1:1/callback"),
            ("nope", "http://127.0.0.1:1/callback"),
        ] {
            let query = q(client, uri);
            assert!(
                matches!(
                    authorize_tenant(&t, &query).authorize(&query),
                    Err(AuthorizeRefusal::Show(_))
                ),
                "{client} {uri}"
            );
        }
        // The configured tenant itself is unchanged.
        assert_eq!(
            t.client(CODE_CLIENT_ID).unwrap().redirect_uri.as_deref(),
            Some(CODE_CLIENT_REDIRECT_URI)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loopback_login_through_the_sandbox() {
        let sb = crate::Sandbox::builder()
            .module(Tf56Module)
            .seed(5)
            .start()
            .await
            .unwrap();
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let redirect = "http://127.0.0.1:40123/callback";
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", CODE_CLIENT_ID)
            .append_pair("redirect_uri", redirect)
            .append_pair("state", "st")
            .append_pair("kaifang_auto", "approve")
            .finish();
        let r = c
            .get(sb.url(&format!("/openGateway/oauth/?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        let prefix = format!("{redirect}?state=st&code=");
        assert!(loc.starts_with(&prefix), "{loc}");
        let code = &loc[prefix.len()..];
        let token = |uri: &'static str, code: String| {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("client_id", CODE_CLIENT_ID)
                .append_pair("client_secret", CODE_CLIENT_SECRET)
                .append_pair("code", &code)
                .append_pair("redirect_uri", uri)
                .finish();
            c.post(sb.url("/openGateway/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        // The code is bound to the loopback URI it was issued for.
        let r = token("http://127.0.0.1:40124/callback", code.to_owned())
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        // (taken by the failed attempt, as Spring does: mint a new one)
        let minted = sb
            .mint(
                "tf56",
                "code",
                json!({"client_id": CODE_CLIENT_ID, "redirect_uri": redirect}),
            )
            .unwrap();
        assert_eq!(minted["redirect_uri"], redirect);
        let code = minted["code"].as_str().unwrap().to_owned();
        let r = token(redirect, code).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("access_token"));
        sb.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn routes_through_the_sandbox() {
        let sb = crate::Sandbox::builder()
            .module(Tf56Module)
            .seed(3)
            .start()
            .await
            .unwrap();
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // GET on the token endpoint: the proto's 405 OAuth body.
        let r = c
            .get(sb.url("/openGateway/oauth/token"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert!(r.text().await.unwrap().contains("method_not_allowed"));
        // Unknown client on the authorize page: shown, not redirected.
        let r = c
            .get(
                sb.url(
                    "/openGateway/oauth/?response_type=code&client_id=nope&kaifang_auto=approve",
                ),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        // Without the trailing slash too; unsupported response_type is redirected with state.
        let r = c
            .get(sb.url("/openGateway/oauth?response_type=token&client_id=1&state=s1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with("http://test.tf56.com?error=unsupported_response_type"));
        assert!(loc.ends_with("&state=s1"));
        // Not an API address: the 404 envelope (a well-formed unknown API needs a token first).
        let r = c
            .post(sb.url("/openGateway/oauthentry/no-version"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert!(r.text().await.unwrap().contains("\"result\":\"error\""));
        // Mint errors are typed.
        assert!(matches!(
            sb.mint("tf56", "code", json!({"client_id": "nope"})),
            Err(ControlError::NotFound(_))
        ));
        assert!(matches!(
            sb.mint("tf56", "code", json!({"client_id": "7"})),
            Err(ControlError::BadRequest(_))
        ));
        assert!(matches!(
            sb.mint(
                "tf56",
                "access_token",
                json!({"client_id": "7", "scope": "all"})
            ),
            Err(ControlError::BadRequest(_))
        ));
        assert!(matches!(
            sb.mint("tf56", "ticket", Value::Null),
            Err(ControlError::Unsupported { .. })
        ));
        sb.shutdown().await;
    }
}
