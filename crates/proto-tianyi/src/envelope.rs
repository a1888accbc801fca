//! The signed envelope: every Tianyi call is this form POST.
//!
//! ```text
//! POST {base}{path}
//! apiVersion: 2.0
//! Content-Type: application/x-www-form-urlencoded
//!
//! signature=…&params=…&appId=…&version=…&clientType=…&timestamp=…
//! ```
//! The fields are in the order the seed's Python sends them (the server does not care), so the
//! body is byte-for-byte what that program sends for the same inputs.

use std::marker::PhantomData;

use http::header::{ACCEPT, CONTENT_TYPE};
use kaifang_proto_core::context::Context;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::explain::Explain;
use kaifang_proto_core::{Error, envelope};
use kaifang_sign_core::tianyi::{StringToSign, params_hex_len};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::Tianyi;
use crate::params::PrivateParams;
use crate::response;

/// The header without which the server answers 70012.
pub const API_VERSION_HEADER: &str = "apiVersion";
/// Its value.
pub const API_VERSION: &str = "2.0";

/// Every value of one signed form, for inspection (`kaifang sign tianyi`) and for building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedForm {
    /// `params`: the encrypted private params in hex.
    pub params: String,
    /// `timestamp` in Unix milliseconds.
    pub timestamp: u64,
    /// The string-to-sign (no secret in it: params are ciphertext).
    pub string_to_sign: String,
    /// `signature`.
    pub signature: String,
    /// The urlencoded form body.
    pub body: String,
}

/// Encrypts and signs `params` at `timestamp` (ms) for `app`.
///
/// # Errors
/// [`Error::Config`] when the params are too long for XXTEA's length word.
pub fn sign_form(
    app: &Tianyi,
    params: &PrivateParams,
    timestamp: u64,
) -> Result<SignedForm, Error> {
    let cfg = app.config();
    let plain = params.to_plain();
    let len = params_hex_len(plain.len())
        .ok_or_else(|| Error::Config("tianyi: private params too long".into()))?;
    let mut buf = vec![0u8; len];
    let hex = app
        .signer()
        .encrypt_params_hex(plain.as_bytes(), cfg.params_case.into(), &mut buf)
        .map_err(|e| Error::Config(format!("tianyi: cannot encrypt params: {e}")))?
        .to_owned();
    let sts = StringToSign {
        app_id: &cfg.app_id,
        client_type: cfg.client_type,
        params: &hex,
        timestamp,
        version: &cfg.version,
    };
    let signature = app
        .signer()
        .sign(&sts, cfg.signature_case.into())
        .as_str()
        .to_owned();
    let string_to_sign = sts.to_string();
    let client_type = cfg.client_type.to_string();
    let ts = timestamp.to_string();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("signature", &signature)
        .append_pair("params", &hex)
        .append_pair("appId", &cfg.app_id)
        .append_pair("version", &cfg.version)
        .append_pair("clientType", &client_type)
        .append_pair("timestamp", &ts)
        .finish();
    Ok(SignedForm {
        params: hex,
        timestamp,
        string_to_sign,
        signature,
        body,
    })
}

/// The `explain` view of a signed call: plaintext params with secrets elided, the
/// string-to-sign and the signature.
pub fn explain_form(
    app: &Tianyi,
    path: &str,
    params: &PrivateParams,
    timestamp: u64,
) -> Option<Explain> {
    let form = sign_form(app, params, timestamp).ok()?;
    let mut ex = Explain::new(format!("tianyi POST {path}"));
    ex.push("url", app.url(path))
        .push("header", format!("{API_VERSION_HEADER}: {API_VERSION}"))
        .push(
            "private params (plaintext, secrets elided)",
            params.to_elided(),
        )
        .push("xxtea key", "first 16 bytes of appSecret")
        .push_secret("appSecret", app.config().app_secret.expose_secret())
        .push("params (XXTEA, hex)", form.params.clone())
        .push("timestamp", form.timestamp.to_string())
        .push(
            "string-to-sign (appId + clientType + params + timestamp + version)",
            form.string_to_sign.clone(),
        )
        .push(
            "signature (HMAC-SHA256, key = whole appSecret)",
            form.signature.clone(),
        )
        .push("body", form.body);
    Some(ex)
}

/// Builds the HTTP request of a signed call at the context's time.
///
/// # Errors
/// [`Error::Config`] when the request cannot be formed.
pub fn build_request(
    app: &Tianyi,
    path: &str,
    params: &PrivateParams,
    ctx: &Context,
) -> Result<http::Request<Vec<u8>>, Error> {
    let timestamp = u64::try_from(ctx.now_millis()).unwrap_or(0);
    let form = sign_form(app, params, timestamp)?;
    http::Request::post(app.url(path))
        .header(API_VERSION_HEADER, API_VERSION)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "*/*")
        .body(form.body.into_bytes())
        .map_err(|e| Error::Config(format!("tianyi: cannot build request: {e}")))
}

/// A signed call to any path whose `data` decodes into `T` (`serde_json::Value` for raw data).
pub struct Call<T> {
    app: Tianyi,
    path: String,
    params: PrivateParams,
    name: &'static str,
    _out: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("path", &self.path)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl<T> Call<T> {
    /// A call to `path` (e.g. `/open/token/device/showDevice`) with `params`.
    pub fn new(app: &Tianyi, path: impl Into<String>, params: PrivateParams) -> Self {
        Call {
            app: app.clone(),
            path: path.into(),
            params,
            name: "tianyi.call",
            _out: PhantomData,
        }
    }

    /// Names the call for spans and metrics.
    #[must_use]
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The private params.
    pub fn params(&self) -> &PrivateParams {
        &self.params
    }
}

impl<T: DeserializeOwned> Exchange for Call<T> {
    type Output = T;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        build_request(&self.app, &self.path, &self.params, ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<T, Error> {
        let data = response::data(&self.app, ctx, &resp)?;
        envelope::decode_value(&data, resp.body())
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        explain_form(
            &self.app,
            &self.path,
            &self.params,
            u64::try_from(ctx.now_millis()).unwrap_or(0),
        )
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

/// A raw call returning `data` as JSON.
pub type RawCall = Call<Value>;
