//! Generic exchanges for transport tests: none names a platform.

use std::sync::Arc;
use std::time::SystemTime;

use kaifang_proto_core::context::Context;
use kaifang_proto_core::error::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::lifecycle::{Plan, TokenExchange, TokenKey, TokenSource};
use kaifang_proto_core::token::Token;

fn get(url: &str) -> Result<http::Request<Vec<u8>>, Error> {
    http::Request::get(url)
        .body(Vec::new())
        .map_err(|e| Error::Config(e.to_string()))
}

fn ok_or_status(resp: &http::Response<Vec<u8>>, ctx: &Context) -> Result<(), Error> {
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(Error::http_status(
            resp.status(),
            resp.headers(),
            resp.body(),
            ctx.now(),
        ))
    }
}

/// `GET url`, the whole response returned (any status).
#[derive(Debug, Clone)]
pub struct Raw(pub String);

impl Exchange for Raw {
    type Output = http::Response<Vec<u8>>;
    fn build(&self, _: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        get(&self.0)
    }
    fn parse(&self, _: &Context, r: http::Response<Vec<u8>>) -> Result<Self::Output, Error> {
        Ok(r)
    }
    fn name(&self) -> &'static str {
        "test.raw"
    }
}

/// `GET url`: non-2xx → `Error::HttpStatus`; body decoded as JSON (`Error::Decode` if not).
#[derive(Debug, Clone)]
pub struct Json(pub String);

impl Exchange for Json {
    type Output = serde_json::Value;
    fn build(&self, _: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        get(&self.0)
    }
    fn parse(&self, ctx: &Context, r: http::Response<Vec<u8>>) -> Result<Self::Output, Error> {
        ok_or_status(&r, ctx)?;
        kaifang_proto_core::envelope::decode_json(r.body())
    }
    fn name(&self) -> &'static str {
        "test.json"
    }
}

/// `GET url`; the output is `ctx.now()` at parse time (to observe the learned skew).
#[derive(Debug, Clone)]
pub struct Now(pub String);

impl Exchange for Now {
    type Output = SystemTime;
    fn build(&self, _: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        get(&self.0)
    }
    fn parse(&self, ctx: &Context, _: http::Response<Vec<u8>>) -> Result<SystemTime, Error> {
        Ok(ctx.now())
    }
    fn name(&self) -> &'static str {
        "test.now"
    }
}

/// `POST url` with a form carrying `client_secret`; answers `{"access_token", "expires_in"}`.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Token endpoint.
    pub url: String,
    /// Sent as `client_secret` in the body.
    pub client_secret: String,
}

impl Exchange for Grant {
    type Output = Token;
    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let body = format!(
            "grant_type=client_credentials&client_secret={}&timestamp={}",
            self.client_secret,
            ctx.now_millis()
        );
        http::Request::post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {}", self.client_secret))
            .body(body.into_bytes())
            .map_err(|e| Error::Config(e.to_string()))
    }
    fn parse(&self, ctx: &Context, r: http::Response<Vec<u8>>) -> Result<Token, Error> {
        #[derive(serde::Deserialize)]
        struct Wire {
            access_token: String,
            expires_in: u64,
        }
        ok_or_status(&r, ctx)?;
        let w: Wire = kaifang_proto_core::envelope::decode_json(r.body())?;
        Ok(Token::from_expires_in(
            w.access_token,
            ctx.now(),
            w.expires_in,
        ))
    }
    fn name(&self) -> &'static str {
        "test.grant"
    }
}

/// `GET {url}?access_token=…&signature=…`: 2xx → body as text; else `Error::HttpStatus`
/// (401 is token-invalid).
#[derive(Debug, Clone)]
pub struct Call {
    /// API endpoint.
    pub url: String,
    /// The access token, put in the query string (as several platforms do).
    pub access_token: String,
    /// A signature value, also in the query.
    pub signature: String,
}

impl Exchange for Call {
    type Output = String;
    fn build(&self, _: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        get(&format!(
            "{}?access_token={}&signature={}",
            self.url, self.access_token, self.signature
        ))
    }
    fn parse(&self, ctx: &Context, r: http::Response<Vec<u8>>) -> Result<String, Error> {
        ok_or_status(&r, ctx)?;
        Ok(String::from_utf8_lossy(r.body()).into_owned())
    }
    fn name(&self) -> &'static str {
        "test.call"
    }
}

/// A token source running [`Grant`] for every plan.
#[derive(Debug, Clone)]
pub struct Source {
    /// The key.
    pub key: TokenKey,
    /// The grant it runs.
    pub grant: Grant,
}

impl Source {
    /// A source for `url` with key `test:app:access`.
    pub fn new(url: impl Into<String>, client_secret: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            key: TokenKey::new("test", "app", "access"),
            grant: Grant {
                url: url.into(),
                client_secret: client_secret.into(),
            },
        })
    }
}

impl TokenSource for Source {
    fn key(&self) -> &TokenKey {
        &self.key
    }
    fn exchange(&self, _plan: &Plan) -> Result<TokenExchange<'_>, Error> {
        Ok(Box::new(self.grant.clone()))
    }
}
