//! API calls: `{base}/openGateway/oauthentry/<module>/<version>/<method>` with the access token,
//! answering the business envelope `{"result":"success"|…,"code":…,"msg":"…","data":…}`.
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::{Exchange, run_with};
//! use kaifang_proto_core::secret::AccessToken;
//! use kaifang_proto_tf56::{ApiCall, ApiMethod, Tf56, Tf56Config};
//!
//! #[derive(serde::Deserialize)]
//! struct Audit { realname: String }
//!
//! let app = Tf56::new(Tf56Config::new("7", "secret"))?;
//! let method = ApiMethod::new("certificateAudit", "1", "authIdCardAudit")?;
//! let call: ApiCall<Audit> = ApiCall::new(&app, method, AccessToken::new("d45e242ad95238cfa9a24436153adfa0"))
//!     .param("realname", "张三")
//!     .param("ordernumber", "42");
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(0)), Arc::new(FixedNonce::new("n")));
//! let audit = run_with(&call, &ctx, |req| {
//!     assert_eq!(req.uri(), "https://open.tf56.com/openGateway/oauthentry/certificateAudit/1/authIdCardAudit");
//!     assert_eq!(req.headers()["content-type"], "application/x-www-form-urlencoded;charset=UTF-8");
//!     assert!(req.body().starts_with(b"access_token=d45e242ad95238cfa9a24436153adfa0&realname="));
//!     Ok(http::Response::new(br#"{"result":"success","code":"200","msg":"ok","data":{"realname":"zhang"}}"#.to_vec()))
//! })?;
//! assert_eq!(audit.realname, "zhang");
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

use http::header::{ACCEPT, CONTENT_TYPE};
use kaifang_proto_core::context::Context;
use kaifang_proto_core::envelope::{decode_value, scalar_text};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::AccessToken;
use kaifang_proto_core::{Error, ErrorClass, redact};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::codes;
use crate::config::{ENTRY_PATH, Tf56};

/// The content type the platform's clients send API calls with `[C]`.
pub const API_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";

/// An API's address: `<module>/<version>/<method>` (`tf56.open.demo/1/sayHello`). Each segment
/// is non-empty and holds no `/`, `?`, `#`, `%`, whitespace or control character.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiMethod {
    module: String,
    version: String,
    method: String,
}

fn check_segment(what: &str, s: &str) -> Result<(), Error> {
    let bad = s.is_empty()
        || s == "."
        || s == ".."
        || s.chars().any(|c| {
            matches!(c, '/' | '?' | '#' | '%' | '\\') || c.is_whitespace() || c.is_control()
        });
    if bad {
        return Err(Error::Config(format!(
            "tf56: the API {what} {s:?} must be a non-empty path segment without '/', '?', '#', '%', '\\' or spaces"
        )));
    }
    Ok(())
}

impl ApiMethod {
    /// An API address from its three segments.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad segment.
    ///
    /// ```
    /// use kaifang_proto_tf56::ApiMethod;
    /// assert_eq!(ApiMethod::new("open.demo", "1", "queryUserInfo")?.path(), "/oauthentry/open.demo/1/queryUserInfo");
    /// assert!(ApiMethod::new("open.demo", "", "x").is_err());
    /// assert!(ApiMethod::new("a/b", "1", "x").is_err());
    /// assert!(ApiMethod::new("a", "1", "x?y=1").is_err());
    /// # Ok::<(), kaifang_proto_core::Error>(())
    /// ```
    pub fn new(
        module: impl Into<String>,
        version: impl Into<String>,
        method: impl Into<String>,
    ) -> Result<Self, Error> {
        let (module, version, method) = (module.into(), version.into(), method.into());
        check_segment("module", &module)?;
        check_segment("version", &version)?;
        check_segment("method", &method)?;
        Ok(ApiMethod {
            module,
            version,
            method,
        })
    }

    /// Reads `<module>/<version>/<method>` (the part after `/oauthentry/`).
    ///
    /// # Errors
    /// [`Error::Config`] when there are not exactly three valid segments.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(v), Some(n), None) => Self::new(m, v, n),
            _ => Err(Error::Config(format!(
                "tf56: expected <module>/<version>/<method>, got {s:?}"
            ))),
        }
    }

    /// `tf56.open.demo/1/sayHello`.
    pub fn say_hello() -> Self {
        ApiMethod {
            module: "tf56.open.demo".into(),
            version: "1".into(),
            method: "sayHello".into(),
        }
    }

    /// `open.demo/1/queryUserInfo`.
    pub fn query_user_info() -> Self {
        ApiMethod {
            module: "open.demo".into(),
            version: "1".into(),
            method: "queryUserInfo".into(),
        }
    }

    /// The module (`tf56.open.demo`).
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The version (`1`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The method (`sayHello`).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path under the gateway prefix: `/oauthentry/<module>/<version>/<method>`.
    pub fn path(&self) -> String {
        format!("{ENTRY_PATH}/{self}")
    }
}

impl fmt::Display for ApiMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.module, self.version, self.method)
    }
}

/// Where the access token (and the business parameters) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenPlacement {
    /// `POST` with an `application/x-www-form-urlencoded;charset=UTF-8` body holding
    /// `access_token` then the parameters: what the platform's clients do `[C]`.
    #[default]
    FormBody,
    /// `GET …?access_token=…&<params>`, as in the seed's examples `[C]`.
    Query,
}

/// A call to any API whose `data` decodes into `T` (`serde_json::Value` for raw data, `()` for
/// none).
///
/// Parsing: an HTTP 401 is token-invalid whatever its body; an OAuth error body is typed by its
/// `error`; an envelope whose `result` is not `success` becomes an [`Error::Platform`] with its
/// `code` and `msg`, classified by [`codes::classify_gateway`]; another non-2xx status is an
/// [`Error::HttpStatus`].
pub struct ApiCall<T> {
    app: Tf56,
    method: ApiMethod,
    token: AccessToken,
    params: Vec<(String, String)>,
    placement: TokenPlacement,
    name: &'static str,
    _out: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ApiCall<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<_> = self
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if redact::is_sensitive(k) {
                    redact::placeholder(v.len())
                } else {
                    v.clone()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("ApiCall")
            .field("method", &self.method)
            .field("token", &self.token)
            .field("params", &params)
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl<T> ApiCall<T> {
    /// A call of `method` with `token`, no parameters, the token in the form body.
    pub fn new(app: &Tf56, method: ApiMethod, token: AccessToken) -> Self {
        ApiCall {
            app: app.clone(),
            method,
            token,
            params: Vec::new(),
            placement: TokenPlacement::FormBody,
            name: "tf56.call",
            _out: PhantomData,
        }
    }

    /// Adds a business parameter (sent after `access_token`, in the order added). A parameter
    /// named `access_token` or `AccessToken` is ignored (the call's token is the one sent).
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        if name != "access_token" && name != "AccessToken" {
            self.params.push((name, value.into()));
        }
        self
    }

    /// Puts the token and the parameters in the query (`GET`) or in the form body (`POST`).
    #[must_use]
    pub fn placement(mut self, placement: TokenPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// Names the call for spans and metrics.
    #[must_use]
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The API address.
    pub fn method(&self) -> &ApiMethod {
        &self.method
    }

    /// The business parameters.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    fn encoded(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("access_token", self.token.expose_secret());
        for (k, v) in &self.params {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

impl<T: DeserializeOwned> Exchange for ApiCall<T> {
    type Output = T;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let url = self.app.gateway_url(&self.method.path());
        let req = match self.placement {
            TokenPlacement::FormBody => http::Request::post(url)
                .header(CONTENT_TYPE, API_CONTENT_TYPE)
                .header(ACCEPT, "application/json")
                .body(self.encoded().into_bytes()),
            TokenPlacement::Query => http::Request::get(format!("{url}?{}", self.encoded()))
                .header(ACCEPT, "application/json")
                .body(Vec::new()),
        };
        req.map_err(|e| Error::Config(format!("tf56: cannot build the call {}: {e}", self.method)))
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<T, Error> {
        let data = business_data(&resp, ctx)?;
        decode_value(&data, resp.body())
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

/// Checks an API answer and returns its `data` (`null` when absent). See [`ApiCall`] for the
/// rules.
///
/// # Errors
/// [`Error::Platform`] (OAuth or gateway error), [`Error::HttpStatus`], [`Error::Decode`].
pub fn business_data(resp: &http::Response<Vec<u8>>, ctx: &Context) -> Result<Value, Error> {
    let body = resp.body();
    let status = resp.status();
    let parsed = serde_json::from_slice::<Value>(body);
    let Ok(Value::Object(mut map)) = parsed else {
        if !status.is_success() {
            return Err(Error::http_status(status, resp.headers(), body, ctx.now()));
        }
        return Err(Error::decode(
            ".",
            "expected the JSON envelope {result, code, msg, data}",
            body,
        ));
    };
    let err = codes::oauth_error(&map).or_else(|| codes::gateway_error(&map));
    if let Some(mut err) = err {
        // A 401 from the gateway means the token was refused, whatever the body says.
        if status == http::StatusCode::UNAUTHORIZED
            && let Error::Platform(p) = &mut err
        {
            p.class = ErrorClass::TokenInvalid;
        }
        return Err(err);
    }
    if !status.is_success() {
        return Err(Error::http_status(status, resp.headers(), body, ctx.now()));
    }
    if !map.get("result").is_some_and(codes::is_success_result) {
        return Err(Error::decode(
            "result",
            "missing: expected the envelope {result, code, msg, data}",
            body,
        ));
    }
    Ok(map.remove("data").unwrap_or(Value::Null))
}

/// `data` of `tf56.open.demo/1/sayHello` (shape chosen by the sandbox `[I]`; unknown fields are
/// kept).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Hello {
    /// The greeting.
    pub message: String,
    /// The client the token belongs to, when sent.
    #[serde(default, rename = "clientId", deserialize_with = "opt_text")]
    pub client_id: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `data` of `open.demo/1/queryUserInfo` (shape chosen by the sandbox `[I]`, with `realname`
/// as the platform's audit APIs spell it `[C]`; unknown fields are kept).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserInfo {
    /// The user's id (number or string on the wire).
    #[serde(
        rename = "userId",
        alias = "userid",
        alias = "user_id",
        deserialize_with = "text"
    )]
    pub user_id: String,
    /// The login name.
    #[serde(default)]
    pub username: Option<String>,
    /// The real name.
    #[serde(default)]
    pub realname: Option<String>,
    /// The mobile number.
    #[serde(default)]
    pub mobile: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    scalar_text(&v).ok_or_else(|| serde::de::Error::custom("expected a string or a number"))
}

fn opt_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(scalar_text(&v))
}

impl Tf56 {
    /// `tf56.open.demo/1/sayHello` with `token` (any token of the client).
    pub fn say_hello(&self, token: &AccessToken) -> ApiCall<Hello> {
        ApiCall::new(self, ApiMethod::say_hello(), token.clone()).named("tf56.say_hello")
    }

    /// `open.demo/1/queryUserInfo` with a user's `token` (from the authorization-code or
    /// password grant).
    pub fn query_user_info(&self, token: &AccessToken) -> ApiCall<UserInfo> {
        ApiCall::new(self, ApiMethod::query_user_info(), token.clone())
            .named("tf56.query_user_info")
    }

    /// A call of any API returning raw `data`.
    pub fn call(&self, method: ApiMethod, token: &AccessToken) -> ApiCall<Value> {
        ApiCall::new(self, method, token.clone())
    }
}
