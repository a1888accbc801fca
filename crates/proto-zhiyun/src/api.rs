//! The three exchanges: [`Authorize`] (→ `auth_code`), [`GetUserInfo`] and [`GetCompanyInfo`].
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::{Exchange, run_with};
//! use kaifang_proto_zhiyun::{Zhiyun, ZhiyunConfig};
//!
//! let app = Zhiyun::new(ZhiyunConfig::new("http://auth.xx.dev.com", "1102084294", "aku8hCyXBd9SqYkT", "9106c9fd1e138a042d4aedf94cede7a766e0"))?;
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_422_339_152_058)), Arc::new(FixedNonce::new("n")));
//! let code = run_with(&app.authorize(), &ctx, |req| {
//!     assert_eq!(req.headers()["authorization"], "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU");
//!     assert!(req.uri().to_string().ends_with("&t_=1422339152058&p_=8519"));
//!     Ok(http::Response::new(br#"{"data":{"auth_code":"c3a8ad070c745db455e30a51511dca819b607bf7"},"code":200,"message":"ok"}"#.to_vec()))
//! })?;
//! let user_call = app.user_info(&code);
//! assert!(user_call.build(&ctx)?.uri().query().unwrap().contains("&auth_code=c3a8ad07"));
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::explain::Explain;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::token::Token;
use serde::de::DeserializeOwned;

use crate::app::Zhiyun;
use crate::endpoint::Endpoint;
use crate::model::{AuthorizeData, CompanyInfo, UserInfo};
use crate::{request, response};

/// `GET …/authService/authorize/{fmt}?access_token&t_&p_` → the `auth_code`.
#[derive(Debug, Clone)]
pub struct Authorize {
    app: Zhiyun,
}

impl Authorize {
    /// The authorize call of `app` (its configured access token).
    pub fn new(app: &Zhiyun) -> Self {
        Authorize { app: app.clone() }
    }

    /// The same call producing a [`Token`] whose `access` is the auth code and whose lifetime
    /// is the configured `auth_code_ttl_secs`: the full grant of [`crate::ZhiyunAuthCodes`].
    pub fn into_token(self) -> AuthorizeToken {
        AuthorizeToken { inner: self }
    }
}

impl Exchange for Authorize {
    type Output = SecretString;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        request::build(&self.app, Endpoint::Authorize, None, ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<SecretString, Error> {
        let data: AuthorizeData = response::decode(ctx, &resp)?;
        if data.auth_code.is_empty() {
            return Err(Error::decode("data.auth_code", "empty", resp.body()));
        }
        Ok(data.auth_code)
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        Some(request::explain(&self.app, Endpoint::Authorize, None, ctx))
    }

    fn name(&self) -> &'static str {
        Endpoint::Authorize.name()
    }

    fn idempotent(&self) -> bool {
        true
    }
}

/// [`Authorize`] producing a [`Token`] (see [`Authorize::into_token`]).
#[derive(Debug, Clone)]
pub struct AuthorizeToken {
    inner: Authorize,
}

impl Exchange for AuthorizeToken {
    type Output = Token;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        self.inner.build(ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Token, Error> {
        let code = self.inner.parse(ctx, resp)?;
        let mut token = Token::from_expires_in(
            code.expose_secret(),
            ctx.now(),
            self.inner.app.config().auth_code_ttl_secs,
        );
        token.token_type = Some("auth_code".to_owned());
        Ok(token)
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        self.inner.explain(ctx)
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn idempotent(&self) -> bool {
        true
    }
}

/// A user or company call with an auth code, whose `data` decodes into `T`.
pub struct Call<T> {
    app: Zhiyun,
    endpoint: Endpoint,
    auth_code: SecretString,
    _out: PhantomData<fn() -> T>,
}

/// `GET …/userService/getUserInfo/{fmt}?access_token&client_id&auth_code&t_&p_`.
pub type GetUserInfo = Call<UserInfo>;
/// `GET …/companyService/getCompanyInfo/{fmt}?access_token&client_id&auth_code&t_&p_`.
pub type GetCompanyInfo = Call<CompanyInfo>;

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("endpoint", &self.endpoint)
            .field("auth_code", &self.auth_code)
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Call<T> {
    fn clone(&self) -> Self {
        Call {
            app: self.app.clone(),
            endpoint: self.endpoint,
            auth_code: self.auth_code.clone(),
            _out: PhantomData,
        }
    }
}

impl<T> Call<T> {
    /// A call of `endpoint` with `auth_code`.
    ///
    /// # Errors
    /// [`Error::Config`] for [`Endpoint::Authorize`] (use [`Authorize`]).
    pub fn new(app: &Zhiyun, endpoint: Endpoint, auth_code: &SecretString) -> Result<Self, Error> {
        if !endpoint.needs_auth_code() {
            return Err(Error::Config(
                "zhiyun: authorize takes no auth code; use Authorize".into(),
            ));
        }
        Ok(Call {
            app: app.clone(),
            endpoint,
            auth_code: auth_code.clone(),
            _out: PhantomData,
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The auth code this call sends (to compare with a cached one after a 100019/100020).
    pub fn auth_code(&self) -> &SecretString {
        &self.auth_code
    }
}

impl<T: DeserializeOwned> Exchange for Call<T> {
    type Output = T;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        request::build(&self.app, self.endpoint, Some(&self.auth_code), ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<T, Error> {
        response::decode(ctx, &resp)
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        Some(request::explain(
            &self.app,
            self.endpoint,
            Some(&self.auth_code),
            ctx,
        ))
    }

    fn name(&self) -> &'static str {
        self.endpoint.name()
    }

    fn idempotent(&self) -> bool {
        true
    }
}

impl Zhiyun {
    /// `authorize`: the configured access token → an auth code.
    pub fn authorize(&self) -> Authorize {
        Authorize::new(self)
    }

    /// `getUserInfo` with `auth_code`.
    pub fn user_info(&self, auth_code: &SecretString) -> GetUserInfo {
        Call {
            app: self.clone(),
            endpoint: Endpoint::GetUserInfo,
            auth_code: auth_code.clone(),
            _out: PhantomData,
        }
    }

    /// `getCompanyInfo` with `auth_code`.
    pub fn company_info(&self, auth_code: &SecretString) -> GetCompanyInfo {
        Call {
            app: self.clone(),
            endpoint: Endpoint::GetCompanyInfo,
            auth_code: auth_code.clone(),
            _out: PhantomData,
        }
    }
}
