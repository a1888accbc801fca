//! The server half (feature `server`): the customer's provisioning endpoint and Aliyun's
//! `iot-auth` endpoints as pure functions from `(headers, body, context, registry)` to an
//! answer. A web framework only routes to them and writes
//! [`to_response`](ProvisionAnswer::to_response)'s status, headers and body:
//!
//! | route | function | answer |
//! |---|---|---|
//! | `POST <customer path>` | [`provision()`] | `{"code":"00000","result":{…}}` / `{"code":"1000x","message":…}` |
//! | `POST /auth/register/device` | [`register_device`] | `{"code":200,"data":{deviceName, deviceSecret, productKey},"message":"success"}` / `{"code":6289,…}` |
//! | `POST /auth/devicename` | [`auth_devicename`] | `{"code":200,"data":{iotId, iotToken, resources:{mqtt:{host,port}}},"message":"success"}` |
//!
//! State lives behind [`DeviceRegistry`]: devices (triple, identification fields, connect
//! settings, activation flag) and products (ProductSecret, dynamic-registration switch).
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_device::server::{self, ProvisionPolicy, registry::{DeviceRecord, MemoryRegistry}};
//! use kaifang_proto_device::{parse_response, ProvisionRequest};
//!
//! let registry = MemoryRegistry::new()
//!     .with_device(DeviceRecord::new("pk", "device", Some("secret".into())).key("imei", "490154203237518"));
//! let mut headers = http::HeaderMap::new();
//! headers.insert("content-type", "application/json".parse()?);
//! let body = ProvisionRequest::new().imei("490154203237518")?.to_json();
//! let answer = server::provision(&headers, &body, &registry, &ProvisionPolicy::default());
//! let response = answer.to_response();
//! assert_eq!(response.status(), 200);
//! let config = parse_response(response.body())?.into_config()?;
//! assert_eq!(config.device_name, "device");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aliyun;
mod provision;
pub mod registry;

pub use aliyun::{AliyunAnswer, AuthServerOptions, auth_devicename, iot_id, register_device};
pub use provision::{ProvisionAnswer, ProvisionPolicy, provision};
pub use registry::{DeviceRecord, DeviceRegistry, ProductRecord, RegistryError};

/// Whether the `Content-Type` header's media type is `media` (ignoring case and parameters).
pub(crate) fn content_type_is(headers: &http::HeaderMap, media: &str) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(media))
}

/// A JSON response with `status`.
pub(crate) fn json_response(
    status: http::StatusCode,
    body: &serde_json::Value,
) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(body.to_string().into_bytes());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    resp
}
