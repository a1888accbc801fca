//! Sans-IO [`Exchange`]s for the kaifang transports (feature `std`): [`Provision`],
//! [`Register`] and [`Authenticate`]. Time and random values come from the [`Context`].
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::run_with;
//! use kaifang_proto_device::{DeviceConfig, exchange::Register};
//!
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(0)), Arc::new(FixedNonce::new("2HyP9O70q5t9VuX")));
//! let config = DeviceConfig::with_product_secret("a1csED27mp7", "AdvExample_dyn1", "VuULINCrtTAzCSzp")?;
//! let register = Register::new("https://iot-auth.cn-shanghai.aliyuncs.com", config);
//! let config = run_with(&register, &ctx, |req| {
//!     assert_eq!(req.uri(), "https://iot-auth.cn-shanghai.aliyuncs.com/auth/register/device");
//!     assert!(std::str::from_utf8(req.body()).unwrap()
//!         .contains("&sign=9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556&"));
//!     Ok(http::Response::new(br#"{"code":200,"data":{"deviceName":"AdvExample_dyn1",
//!         "deviceSecret":"ximd4xyeAjtHp5lsz3A5okefnJMYtQTP","productKey":"a1csED27mp7"},"message":"success"}"#.to_vec()))
//! })?;
//! assert!(config.device_secret.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors map onto [`kaifang_proto_core::Error`]: a refusal is `Error::Platform` (platform
//! `"device"` for the provisioning server, `"aliyun-iot"` for `iot-auth`) with the code as sent;
//! bodies of the wrong shape are `Error::Decode` with the path; a non-2xx status without an
//! answer is `Error::HttpStatus`.

use http::header::{ACCEPT, CONTENT_TYPE};
use kaifang_proto_core::context::Context;
use kaifang_proto_core::error::{Error, ErrorClass, PlatformError};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::explain::Explain;
use kaifang_sign_core::aliyun::SignMethod;

use crate::codes::{self, AliyunCode, ResultCode};
use crate::config::DeviceConfig;
use crate::devicename::{DeviceNameAuth, DeviceToken, parse_devicename_response};
use crate::dynreg::{RANDOM_LEN, RegisterRequest, parse_register_response};
use crate::error::DeviceError;
use crate::iot_auth::{self, FORM_CONTENT_TYPE};
use crate::request::{JSON_CONTENT_TYPE, ProvisionRequest};
use crate::response::parse_response;

/// The `platform` of provisioning-server errors.
pub const PROVISION_PLATFORM: &str = "device";
/// The `platform` of Aliyun `iot-auth` errors.
pub const ALIYUN_PLATFORM: &str = "aliyun-iot";

/// Converts a [`DeviceError`] met while parsing `resp` into the workspace error.
pub fn to_core_error(err: DeviceError, resp: &http::Response<Vec<u8>>, ctx: &Context) -> Error {
    match err {
        DeviceError::Refused { code, message } => {
            let (class, hint) = match code.as_str() {
                codes::BAD_REQUEST => (
                    ErrorClass::BadRequest,
                    Some("the server rejected the request body: check the IMEI/ICCID fields"),
                ),
                codes::UNKNOWN_DEVICE => (
                    ErrorClass::BadRequest,
                    Some("the server does not know this device: register its IMEI/ICCID there"),
                ),
                codes::NO_SECRET => (
                    ErrorClass::BadRequest,
                    Some("the server knows the device but has no secret for it"),
                ),
                codes::REGISTRY_FAILED => (ErrorClass::Retryable, None),
                _ => (ErrorClass::Other, None),
            };
            Error::Platform(PlatformError {
                platform: PROVISION_PLATFORM,
                code: code.as_str().to_owned(),
                message: message.unwrap_or_default(),
                hint,
                class,
            })
        }
        DeviceError::Aliyun(e) => Error::Platform(PlatformError {
            platform: ALIYUN_PLATFORM,
            code: e.code.code().to_string(),
            message: e.message,
            hint: Some(e.code.hint()),
            class: if e.code.is_retryable() {
                ErrorClass::Retryable
            } else if e.code == AliyunCode::RequestAuthError {
                ErrorClass::Permission
            } else {
                ErrorClass::BadRequest
            },
        }),
        DeviceError::Json(e) => Error::decode(".", e.to_string(), resp.body()),
        DeviceError::Shape { path, expected } => {
            Error::decode(path, format!("expected {expected}"), resp.body())
        }
        DeviceError::HttpStatus { .. } | DeviceError::TooLarge { .. } => {
            Error::http_status(resp.status(), resp.headers(), resp.body(), ctx.now())
        }
        other => Error::Config(other.to_string()),
    }
}

/// Parses with `f`; a failure on a non-2xx status becomes `Error::HttpStatus`.
fn parse_with<T>(
    resp: &http::Response<Vec<u8>>,
    ctx: &Context,
    f: impl FnOnce(&[u8]) -> Result<T, DeviceError>,
) -> Result<T, Error> {
    f(resp.body()).map_err(|err| {
        let shape_error = matches!(
            err,
            DeviceError::Json(_) | DeviceError::Shape { .. } | DeviceError::TooLarge { .. }
        );
        if shape_error && !resp.status().is_success() {
            Error::http_status(resp.status(), resp.headers(), resp.body(), ctx.now())
        } else {
            to_core_error(err, resp, ctx)
        }
    })
}

fn config_error(err: DeviceError) -> Error {
    Error::Config(err.to_string())
}

fn form_request(
    url: &str,
    body: String,
    extra: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, Error> {
    let mut builder = http::Request::post(url).header(CONTENT_TYPE, FORM_CONTENT_TYPE);
    for (k, v) in extra {
        builder = builder.header(*k, *v);
    }
    builder
        .body(body.into_bytes())
        .map_err(|e| Error::Config(format!("invalid request: {e}")))
}

/// `POST <url>` with the JSON body, as the seed's `PointAccess.request` sends it.
#[derive(Debug, Clone)]
pub struct Provision {
    url: String,
    request: ProvisionRequest,
    headers: Vec<(String, String)>,
}

impl Provision {
    /// For the customer's provisioning `url`.
    pub fn new(url: impl Into<String>, request: ProvisionRequest) -> Self {
        Provision {
            url: url.into(),
            request,
            headers: Vec::new(),
        }
    }

    /// Adds a header (the seed's `headers` kwarg; `Content-Type` is always `application/json`).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl Exchange for Provision {
    type Output = DeviceConfig;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let mut builder = http::Request::post(self.url.as_str());
        for (k, v) in &self.headers {
            if !k.eq_ignore_ascii_case("content-type") {
                builder = builder.header(k.as_str(), v.as_str());
            }
        }
        builder
            .header(CONTENT_TYPE, JSON_CONTENT_TYPE)
            .body(self.request.to_json())
            .map_err(|e| Error::Config(format!("invalid provisioning request: {e}")))
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<DeviceConfig, Error> {
        let outcome = parse_with(&resp, ctx, parse_response)?;
        outcome
            .into_config()
            .map_err(|err| to_core_error(err, &resp, ctx))
    }

    fn name(&self) -> &'static str {
        "device.provision"
    }

    /// A lookup on the server: sending it twice hands out the same configuration.
    fn idempotent(&self) -> bool {
        true
    }
}

/// 一型一密 dynamic registration; `random` is 15 alphanumerics from the context's nonce. A
/// configuration that already has a DeviceSecret is still registered again (the last secret
/// wins while the device is unactivated).
#[derive(Debug, Clone)]
pub struct Register {
    auth_host: String,
    config: DeviceConfig,
}

impl Register {
    /// Against `auth_host` (see [`iot_auth::auth_host`]).
    pub fn new(auth_host: impl Into<String>, config: DeviceConfig) -> Self {
        Register {
            auth_host: auth_host.into(),
            config,
        }
    }

    fn request(&self, ctx: &Context) -> Result<RegisterRequest, Error> {
        RegisterRequest::new(&self.config, &ctx.nonce(RANDOM_LEN)?).map_err(config_error)
    }
}

impl Exchange for Register {
    type Output = DeviceConfig;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let req = self.request(ctx)?;
        form_request(
            &req.url(&self.auth_host),
            req.body(),
            &[(ACCEPT.as_str(), iot_auth::ACCEPT)],
        )
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<DeviceConfig, Error> {
        let registered = parse_with(&resp, ctx, parse_register_response)?;
        self.config
            .clone()
            .registered(registered)
            .map_err(config_error)
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        let req = self.request(ctx).ok()?;
        let mut ex = Explain::new("aliyun-iot: /auth/register/device");
        ex.push_param("productKey", req.product_key())
            .push_param("deviceName", req.device_name())
            .push_param("random", req.random())
            .push("string-to-sign", req.string_to_sign())
            .push_secret(
                "key (productSecret)",
                self.config
                    .product_secret
                    .as_ref()
                    .map_or("", |s| s.expose_secret()),
            )
            .push("signMethod", "hmacsha256")
            .push("sign", req.sign().as_str());
        Some(ex)
    }

    fn name(&self) -> &'static str {
        "aliyun_iot.register_device"
    }
}

/// `/auth/devicename`; the timestamp is the context's time in milliseconds.
#[derive(Debug, Clone)]
pub struct Authenticate {
    auth_host: String,
    config: DeviceConfig,
    client_id: String,
    sign_method: SignMethod,
}

impl Authenticate {
    /// Against `auth_host`, signing with `hmacsha256`.
    pub fn new(
        auth_host: impl Into<String>,
        config: DeviceConfig,
        client_id: impl Into<String>,
    ) -> Self {
        Authenticate {
            auth_host: auth_host.into(),
            config,
            client_id: client_id.into(),
            sign_method: SignMethod::HmacSha256,
        }
    }

    /// Another `signmethod`.
    #[must_use]
    pub fn sign_method(mut self, method: SignMethod) -> Self {
        self.sign_method = method;
        self
    }

    fn request(&self, ctx: &Context) -> Result<DeviceNameAuth, Error> {
        let ts = u64::try_from(ctx.now_millis()).unwrap_or(0);
        DeviceNameAuth::new(&self.config, &self.client_id, Some(ts), self.sign_method)
            .map_err(config_error)
    }
}

impl Exchange for Authenticate {
    type Output = DeviceToken;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let req = self.request(ctx)?;
        form_request(
            &req.url(&self.auth_host),
            req.body(),
            &[(ACCEPT.as_str(), iot_auth::ACCEPT)],
        )
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<DeviceToken, Error> {
        parse_with(&resp, ctx, parse_devicename_response)
    }

    fn name(&self) -> &'static str {
        "aliyun_iot.auth_devicename"
    }
}

/// Maps a seed [`ResultCode`] to the class the transports use (for callers that inspect codes).
pub fn result_code_class(code: &ResultCode) -> ErrorClass {
    match code.as_str() {
        codes::SUCCESS => ErrorClass::Other,
        codes::REQUEST_FAILED | codes::REGISTRY_FAILED => ErrorClass::Retryable,
        codes::BAD_REQUEST | codes::UNKNOWN_DEVICE | codes::NO_SECRET => ErrorClass::BadRequest,
        _ => ErrorClass::Other,
    }
}
