//! Emulation of Aliyun's `iot-auth` endpoints: `/auth/register/device` (一型一密 dynamic
//! registration) and `/auth/devicename` (HTTPS pre-auth).
//!
//! [`register_device`] checks, in order (\[C\] = Aliyun behaviour, \[I\] = kaifang's choice):
//! 1. form fields `productKey`, `deviceName`, `random`, `sign` present and `signMethod`
//!    `hmacsha256` → else 460 \[I\];
//! 2. the product exists → else 5001 \[I\]; it has a ProductSecret and dynamic registration on →
//!    else 6200 \[I\];
//! 3. `sign` verifies with the ProductSecret (either hex case, constant time) → else 401 \[I\];
//! 4. the device is pre-registered in the product → else 5001 \[I\];
//! 5. it is not active → else 6289 "device is already active" \[C\];
//! 6. a new 32-character DeviceSecret is drawn and stored, replacing any earlier one (an
//!    unactivated device may register again; the last secret wins) \[C\].
//!
//! [`auth_devicename`] checks: fields (`productKey`, `deviceName`, `clientId`, `sign`,
//! `signmethod` one of hmacmd5/hmacsha1/hmacsha256, `timestamp` digits if present) → 460; the
//! device exists → 5001; it has a DeviceSecret → else 6200 \[I\]; `sign` verifies → 401; then it
//! answers `iotId` (stable per device, [`iot_id`]), a fresh 32-character `iotToken`, and the MQTT
//! endpoint, and (with [`AuthServerOptions::activate_on_auth`]) marks the device active \[I\].

use std::collections::HashMap;

use http::StatusCode;
use kaifang_proto_core::context::Context;
use kaifang_sign_core::aliyun::{MqttSign, SecureMode, SignMethod, register_sign};
use kaifang_sign_core::digest;
use kaifang_sign_core::hex::{HexCase, HexString};
use serde_json::{Value, json};

use super::registry::DeviceRegistry;
use super::{content_type_is, json_response};
use crate::codes::AliyunCode;
use crate::config::{DEFAULT_MQTT_PORT, Endpoint, default_mqtt_host};
use crate::iot_auth::FORM_CONTENT_TYPE;
use crate::mqtt::DEFAULT_REGION;
use crate::secret::DeviceSecret;

/// Server choices for the `iot-auth` emulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthServerOptions {
    /// Region of the default MQTT host (`cn-shanghai`).
    pub region: String,
    /// Mark a device active when `/auth/devicename` succeeds (default `true`): the emulator has
    /// no broker to see it come online, and a token is only asked for to connect.
    pub activate_on_auth: bool,
    /// Refuse a form whose `Content-Type` is not `application/x-www-form-urlencoded` (460;
    /// default `true`).
    pub require_form_content_type: bool,
}

impl Default for AuthServerOptions {
    fn default() -> Self {
        AuthServerOptions {
            region: String::from(DEFAULT_REGION),
            activate_on_auth: true,
            require_form_content_type: true,
        }
    }
}

/// An `iot-auth` answer: `{"code":…,"data":…,"message":…}` (always HTTP 200 \[I\]).
#[derive(Debug, Clone, PartialEq)]
pub struct AliyunAnswer {
    /// The code.
    pub code: AliyunCode,
    /// The message.
    pub message: String,
    /// `data` on success.
    pub data: Option<Value>,
}

impl AliyunAnswer {
    fn refuse(code: AliyunCode) -> Self {
        AliyunAnswer {
            code,
            message: String::from(code.message()),
            data: None,
        }
    }

    fn success(data: Value) -> Self {
        AliyunAnswer {
            code: AliyunCode::Success,
            message: String::from(AliyunCode::Success.message()),
            data: Some(data),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match &self.data {
            Some(data) => json!({"code": self.code.code(), "data": data, "message": self.message}),
            None => json!({"code": self.code.code(), "message": self.message}),
        }
    }

    /// The HTTP response.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        json_response(StatusCode::OK, &self.body())
    }
}

type Answer<T> = Result<T, AliyunAnswer>;

fn form(
    headers: &http::HeaderMap,
    body: &[u8],
    opts: &AuthServerOptions,
) -> Answer<HashMap<String, String>> {
    if opts.require_form_content_type && !content_type_is(headers, FORM_CONTENT_TYPE) {
        return Err(AliyunAnswer::refuse(AliyunCode::ParamError));
    }
    let mut fields = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        fields
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    Ok(fields)
}

fn required<'a>(fields: &'a HashMap<String, String>, key: &str) -> Answer<&'a str> {
    fields
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AliyunAnswer::refuse(AliyunCode::ParamError))
}

fn unknown_error(_: super::RegistryError) -> AliyunAnswer {
    AliyunAnswer::refuse(AliyunCode::UnknownError)
}

fn new_secret(ctx: &Context) -> Answer<String> {
    ctx.nonce(32)
        .map_err(|_| AliyunAnswer::refuse(AliyunCode::UnknownError))
}

/// Answers `POST /auth/register/device` (see the module docs).
pub fn register_device<R: DeviceRegistry + ?Sized>(
    headers: &http::HeaderMap,
    body: &[u8],
    ctx: &Context,
    registry: &R,
    opts: &AuthServerOptions,
) -> AliyunAnswer {
    match register_inner(headers, body, ctx, registry, opts) {
        Ok(answer) | Err(answer) => answer,
    }
}

fn register_inner<R: DeviceRegistry + ?Sized>(
    headers: &http::HeaderMap,
    body: &[u8],
    ctx: &Context,
    registry: &R,
    opts: &AuthServerOptions,
) -> Answer<AliyunAnswer> {
    let fields = form(headers, body, opts)?;
    let pk = required(&fields, "productKey")?;
    let dn = required(&fields, "deviceName")?;
    let random = required(&fields, "random")?;
    let sign = required(&fields, "sign")?;
    if !required(&fields, "signMethod")?.eq_ignore_ascii_case("hmacsha256") {
        return Err(AliyunAnswer::refuse(AliyunCode::ParamError));
    }
    let product = registry
        .product(pk)
        .map_err(unknown_error)?
        .ok_or_else(|| AliyunAnswer::refuse(AliyunCode::DeviceNotFound))?;
    let product_secret = product
        .product_secret
        .filter(|_| product.dynamic_registration)
        .ok_or_else(|| AliyunAnswer::refuse(AliyunCode::AuthTypeMismatch))?;
    let expected = register_sign(pk, dn, product_secret.expose_secret(), random);
    if !expected.eq_ignore_case_ct(sign) {
        return Err(AliyunAnswer::refuse(AliyunCode::RequestAuthError));
    }
    let device = registry
        .device(pk, dn)
        .map_err(unknown_error)?
        .ok_or_else(|| AliyunAnswer::refuse(AliyunCode::DeviceNotFound))?;
    if device.activated {
        return Err(AliyunAnswer::refuse(AliyunCode::DeviceAlreadyActive));
    }
    let secret = new_secret(ctx)?;
    registry
        .set_device_secret(pk, dn, DeviceSecret::new(secret.as_str()))
        .map_err(unknown_error)?;
    Ok(AliyunAnswer::success(json!({
        "deviceName": dn,
        "deviceSecret": secret,
        "productKey": pk,
    })))
}

/// The `iotId` the emulator gives a device: 26 characters derived from productKey and
/// deviceName (stable, so the same device always gets the same id).
pub fn iot_id(product_key: &str, device_name: &str) -> String {
    let mut input = Vec::with_capacity(product_key.len() + device_name.len() + 1);
    input.extend_from_slice(product_key.as_bytes());
    input.push(b'/');
    input.extend_from_slice(device_name.as_bytes());
    let hex = HexString::<64>::encode(&digest::sha256(&input), HexCase::Lower);
    hex.as_str().get(..26).unwrap_or_default().to_owned()
}

/// Answers `POST /auth/devicename` (see the module docs).
pub fn auth_devicename<R: DeviceRegistry + ?Sized>(
    headers: &http::HeaderMap,
    body: &[u8],
    ctx: &Context,
    registry: &R,
    opts: &AuthServerOptions,
) -> AliyunAnswer {
    match devicename_inner(headers, body, ctx, registry, opts) {
        Ok(answer) | Err(answer) => answer,
    }
}

fn devicename_inner<R: DeviceRegistry + ?Sized>(
    headers: &http::HeaderMap,
    body: &[u8],
    ctx: &Context,
    registry: &R,
    opts: &AuthServerOptions,
) -> Answer<AliyunAnswer> {
    let fields = form(headers, body, opts)?;
    let pk = required(&fields, "productKey")?;
    let dn = required(&fields, "deviceName")?;
    let client_id = required(&fields, "clientId")?;
    let sign = required(&fields, "sign")?;
    let method = SignMethod::parse(required(&fields, "signmethod")?)
        .ok_or_else(|| AliyunAnswer::refuse(AliyunCode::ParamError))?;
    let timestamp = match fields.get("timestamp").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => {
            let ts = t
                .parse::<u64>()
                .map_err(|_| AliyunAnswer::refuse(AliyunCode::ParamError))?;
            // A timestamp signed as `0123` was signed as sent; refuse the ambiguity.
            if ts.to_string() != *t {
                return Err(AliyunAnswer::refuse(AliyunCode::ParamError));
            }
            Some(ts)
        }
    };
    let device = registry
        .device(pk, dn)
        .map_err(unknown_error)?
        .ok_or_else(|| AliyunAnswer::refuse(AliyunCode::DeviceNotFound))?;
    let secret = device
        .device_secret
        .as_ref()
        .ok_or_else(|| AliyunAnswer::refuse(AliyunCode::AuthTypeMismatch))?;
    let expected = MqttSign {
        product_key: pk,
        device_name: dn,
        device_secret: secret.expose_secret(),
        client_id,
        timestamp,
        sign_method: method,
        secure_mode: SecureMode::Tls,
    }
    .password();
    if !expected.eq_ignore_case_ct(sign) {
        return Err(AliyunAnswer::refuse(AliyunCode::RequestAuthError));
    }
    let endpoint = match &device.connect.host {
        Some(host) => Endpoint::parse(host, DEFAULT_MQTT_PORT)
            .map_err(|_| AliyunAnswer::refuse(AliyunCode::UnknownError))?,
        None => Endpoint {
            host: default_mqtt_host(pk, &opts.region)
                .map_err(|_| AliyunAnswer::refuse(AliyunCode::UnknownError))?,
            port: DEFAULT_MQTT_PORT,
        },
    };
    let token = new_secret(ctx)?;
    if opts.activate_on_auth {
        registry.record_activation(pk, dn).map_err(unknown_error)?;
    }
    Ok(AliyunAnswer::success(json!({
        "iotId": iot_id(pk, dn),
        "iotToken": token,
        "resources": {"mqtt": {"host": endpoint.host, "port": endpoint.port}},
    })))
}
