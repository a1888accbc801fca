//! `/openGateway/oauthentry/<module>/<version>/<method>`: token check, then the demo APIs.

use http::{Method, Request, StatusCode};
use kaifang_proto_core::context::Context;
use serde_json::{Value, json};

use super::response::{OAuthRefusal, gateway_error, gateway_success};
use super::store::Store;
use super::tenant::{InvalidTokenStyle, SCOPE_ALL, Tenant};
use super::token_endpoint::collect_params;
use crate::api::ApiMethod;
use crate::codes::{self, OAuthErrorCode};
use crate::config::{ENTRY_PATH, GATEWAY_PREFIX};
use crate::oauth::GrantType;

/// Who is calling: what the access token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCaller {
    /// The client.
    pub client_id: String,
    /// The user, for tokens of user grants.
    pub username: Option<String>,
    /// The token's scope.
    pub scope: Vec<String>,
    /// The grant that produced the token family.
    pub grant: GrantType,
}

impl ApiCaller {
    /// `true` when the token has `scope` (or `all`).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope || s == SCOPE_ALL)
    }
}

/// An authenticated API call: the address, the caller and the business parameters (every
/// query and form parameter but the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// The API.
    pub method: ApiMethod,
    /// The caller.
    pub caller: ApiCaller,
    /// The business parameters, in order.
    pub params: Vec<(String, String)>,
}

impl ApiRequest {
    /// The first business parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why the gateway refuses a call, and how it says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRefusal {
    /// An OAuth error body with its status (401 `invalid_token`, 403 `insufficient_scope`, 400
    /// `invalid_request`).
    OAuth(OAuthRefusal),
    /// A business envelope `{"result":"error","code":…,"msg":…,"data":null}` with this status.
    Gateway {
        /// HTTP status.
        status: StatusCode,
        /// The `code` (see [`codes::GATEWAY_TABLE`]).
        code: &'static str,
        /// The `msg`.
        msg: String,
    },
}

impl ApiRefusal {
    /// The HTTP answer.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        match self {
            Self::OAuth(r) => r.to_response(),
            Self::Gateway { status, code, msg } => gateway_error(*status, code, msg),
        }
    }

    fn gateway(status: StatusCode, code: &'static str) -> Self {
        let msg = codes::gateway_lookup(code).map_or("系统错误", |row| row.message);
        Self::Gateway {
            status,
            code,
            msg: msg.to_owned(),
        }
    }

    /// No such API: always the envelope, HTTP 404.
    pub fn not_found() -> Self {
        Self::gateway(StatusCode::NOT_FOUND, codes::GW_NOT_FOUND)
    }
}

/// The API address in a request path (`/openGateway/oauthentry/<m>/<v>/<method>`), `None` when
/// the path is not an entry path.
pub fn entry_method(path: &str) -> Option<Result<ApiMethod, ApiRefusal>> {
    let rest = path
        .strip_prefix(GATEWAY_PREFIX)?
        .strip_prefix(ENTRY_PATH)?
        .strip_prefix('/')?;
    Some(ApiMethod::parse(rest).map_err(|_| ApiRefusal::not_found()))
}

impl Tenant {
    fn token_refusal(&self, oauth: OAuthErrorCode, description: &str) -> ApiRefusal {
        match self.invalid_token_style {
            InvalidTokenStyle::OAuth => ApiRefusal::OAuth(OAuthRefusal::new(oauth, description)),
            InvalidTokenStyle::Gateway => {
                let (status, code) = match oauth {
                    OAuthErrorCode::InvalidToken => (StatusCode::OK, codes::GW_TOKEN_INVALID),
                    OAuthErrorCode::InsufficientScope => (StatusCode::OK, codes::GW_FORBIDDEN),
                    _ => (StatusCode::OK, codes::GW_BAD_REQUEST),
                };
                ApiRefusal::gateway(status, code)
            }
        }
    }

    /// Verifies an API call. In order:
    ///
    /// 1. the path is `/openGateway/oauthentry/<module>/<version>/<method>` with valid
    ///    segments → else 404 envelope `404`;
    /// 2. method `GET` or `POST` → else 405 envelope `400`;
    /// 3. parameters from the query and a form body (first occurrence wins);
    /// 4. the token in `access_token` or the seed's `AccessToken` (query or body) → else
    ///    `invalid_request` (400) / envelope `400`;
    /// 5. a known, unexpired token (revoked tokens are forgotten) → else `invalid_token`
    ///    (401) / envelope `401`, per [`Tenant::invalid_token_style`].
    ///
    /// The API's own rules (existence, scope, user) come after, in [`Tenant::demo_api`] or the
    /// caller's handler.
    ///
    /// # Errors
    /// The [`ApiRefusal`] to answer.
    pub fn authenticate_api<S: Store + ?Sized>(
        &self,
        store: &S,
        now_ms: i64,
        req: &Request<Vec<u8>>,
    ) -> Result<ApiRequest, ApiRefusal> {
        let method =
            entry_method(req.uri().path()).unwrap_or_else(|| Err(ApiRefusal::not_found()))?;
        if req.method() != Method::GET && req.method() != Method::POST {
            return Err(ApiRefusal::Gateway {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: codes::GW_BAD_REQUEST,
                msg: format!("不支持的请求方法: {}", req.method()),
            });
        }
        let params = collect_params(req, false).map_err(|_| {
            self.token_refusal(
                OAuthErrorCode::InvalidRequest,
                "The body must be application/x-www-form-urlencoded",
            )
        })?;
        let token = params
            .get("access_token")
            .or_else(|| params.get("AccessToken"))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                self.token_refusal(OAuthErrorCode::InvalidRequest, "Missing access_token")
            })?;
        let record = store.access(&token).ok_or_else(|| {
            self.token_refusal(OAuthErrorCode::InvalidToken, "Invalid access token")
        })?;
        if record.expires_at_ms <= now_ms {
            return Err(self.token_refusal(OAuthErrorCode::InvalidToken, "Access token expired"));
        }
        let params = params
            .into_vec()
            .into_iter()
            .filter(|(k, _)| k != "access_token" && k != "AccessToken")
            .collect();
        Ok(ApiRequest {
            method,
            caller: ApiCaller {
                client_id: record.client_id,
                username: record.username,
                scope: record.scope,
                grant: record.grant,
            },
            params,
        })
    }

    /// The demo APIs `[I: shapes chosen by kaifang]`:
    ///
    /// * `tf56.open.demo/1/sayHello` (scope `open-demo` or `all`): `data` =
    ///   `{"message":"Hello, <name or client_id>!","clientId":…}` (parameter `name` optional);
    /// * `open.demo/1/queryUserInfo` (a user's token): `data` =
    ///   `{"userId":…,"username":…,"realname":…,"mobile":…}`.
    ///
    /// `None` for any other API. A token without the scope, or a client token on the user API,
    /// gets `insufficient_scope` (403) / envelope `403`.
    pub fn demo_api(&self, api: &ApiRequest) -> Option<http::Response<Vec<u8>>> {
        let forbidden = |d: &str| {
            self.token_refusal(OAuthErrorCode::InsufficientScope, d)
                .to_response()
        };
        if api.method == ApiMethod::say_hello() {
            if !api.caller.has_scope("open-demo") {
                return Some(forbidden("sayHello needs the scope open-demo"));
            }
            let who = api.param("name").unwrap_or(&api.caller.client_id);
            return Some(gateway_success(&json!({
                "message": format!("Hello, {who}!"),
                "clientId": api.caller.client_id,
            })));
        }
        if api.method == ApiMethod::query_user_info() {
            let Some(username) = api.caller.username.as_deref() else {
                return Some(forbidden(
                    "queryUserInfo needs a user's token (authorization_code or password grant)",
                ));
            };
            let data = match self.user(username) {
                Some(u) => json!({
                    "userId": u.user_id,
                    "username": u.username,
                    "realname": u.realname,
                    "mobile": u.mobile,
                }),
                None => {
                    json!({"userId": username, "username": username, "realname": Value::Null, "mobile": Value::Null})
                }
            };
            return Some(gateway_success(&data));
        }
        None
    }

    /// The gateway as an HTTP answer: [`Tenant::authenticate_api`], then [`Tenant::demo_api`],
    /// else 404 envelope.
    pub fn entry<S: Store + ?Sized>(
        &self,
        store: &S,
        ctx: &Context,
        req: &Request<Vec<u8>>,
    ) -> http::Response<Vec<u8>> {
        match self.authenticate_api(store, ctx.now_millis(), req) {
            Ok(api) => self
                .demo_api(&api)
                .unwrap_or_else(|| ApiRefusal::not_found().to_response()),
            Err(refusal) => refusal.to_response(),
        }
    }
}
