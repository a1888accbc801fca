//! The customer's provisioning endpoint (the seed's server side, every choice \[I\]).
//!
//! [`provision`] checks, in order:
//! 1. `Content-Type` is `application/json` → else 415, `"10002"`;
//! 2. the body is a JSON object → else 400, `"10002"`;
//! 3. `imei` is present (when [`ProvisionPolicy::require_imei`]) and valid (15 digits, Luhn),
//!    `iccid` valid if present → else 400, `"10002"`;
//! 4. a device matches: by `imei`, then `iccid`, then every other string or number field in
//!    request order → else 404, `"10001"`; a registry failure → 500, `"10004"`;
//! 5. it has a secret to hand out: its DeviceSecret, else the ProductSecret of a product with
//!    dynamic registration on (一型一密) → else 409, `"10003"`.
//!
//! Success is 200 with `{"code":"00000","result":{"device":{…},"connect":{…}}}`. The seed's
//! client ignores the HTTP status and reads only the body's `code`, so the statuses are a
//! courtesy to other clients.

use http::StatusCode;
use serde_json::{Value, json};

use super::registry::{DeviceRecord, DeviceRegistry};
use super::{content_type_is, json_response};
use crate::codes;
use crate::config::DeviceConfig;
use crate::error::DeviceError;
use crate::ids::{Iccid, Imei};
use crate::request::{ICCID_KEY, IMEI_KEY, JSON_CONTENT_TYPE, ProvisionRequest};

/// Server choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionPolicy {
    /// Refuse requests without `imei` (default `true`).
    pub require_imei: bool,
    /// Refuse requests whose `Content-Type` is not JSON (default `true`; the seed always
    /// sends it).
    pub require_json_content_type: bool,
}

impl Default for ProvisionPolicy {
    fn default() -> Self {
        ProvisionPolicy {
            require_imei: true,
            require_json_content_type: true,
        }
    }
}

/// The answer to a provisioning request.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The seed-format code (`"00000"` on success).
    pub code: &'static str,
    /// The provisioned configuration on success.
    pub config: Option<DeviceConfig>,
    /// The failure message (no secrets, no echoed values).
    pub message: Option<String>,
}

/// A failed check (kept small: it travels in `Err`).
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<Refusal> for ProvisionAnswer {
    fn from(r: Refusal) -> Self {
        ProvisionAnswer {
            status: r.status,
            code: r.code,
            config: None,
            message: Some(r.message),
        }
    }
}

impl ProvisionAnswer {
    /// The body: `{"code":"00000","result":{…}}` or `{"code":"…","message":"…"}`.
    pub fn body(&self) -> Value {
        match &self.config {
            Some(config) => json!({"code": self.code, "result": config.to_result_value()}),
            None => json!({"code": self.code, "message": self.message.as_deref().unwrap_or("")}),
        }
    }

    /// The HTTP response.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        json_response(self.status, &self.body())
    }
}

/// Answers a provisioning request (see the module docs for the checks and codes).
pub fn provision<R: DeviceRegistry + ?Sized>(
    headers: &http::HeaderMap,
    body: &[u8],
    registry: &R,
    policy: &ProvisionPolicy,
) -> ProvisionAnswer {
    match provision_inner(headers, body, registry, policy) {
        Ok(config) => ProvisionAnswer {
            status: StatusCode::OK,
            code: codes::SUCCESS,
            config: Some(config),
            message: None,
        },
        Err(refusal) => refusal.into(),
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
}

fn provision_inner<R: DeviceRegistry + ?Sized>(
    headers: &http::HeaderMap,
    body: &[u8],
    registry: &R,
    policy: &ProvisionPolicy,
) -> Result<DeviceConfig, Refusal> {
    if policy.require_json_content_type && !content_type_is(headers, JSON_CONTENT_TYPE) {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::BAD_REQUEST,
            "Content-Type must be application/json",
        ));
    }
    let request = ProvisionRequest::from_json(body).map_err(|e| match e {
        DeviceError::Shape { .. } => bad("the body must be a JSON object"),
        other => bad(format!("the body is not valid JSON: {other}")),
    })?;
    match request.get(IMEI_KEY) {
        Some(Value::String(imei)) => {
            Imei::parse(imei).map_err(|e| bad(format!("invalid imei: {e}")))?;
        }
        Some(_) => return Err(bad("imei must be a string")),
        None if policy.require_imei => return Err(bad("imei is required")),
        None => {}
    }
    match request.get(ICCID_KEY) {
        Some(Value::String(iccid)) => {
            Iccid::parse(iccid).map_err(|e| bad(format!("invalid iccid: {e}")))?;
        }
        Some(_) => return Err(bad("iccid must be a string")),
        None => {}
    }
    let device = find_device(&request, registry)?.ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_DEVICE,
            "unknown device",
        )
    })?;
    config_for(device, registry)
}

fn registry_failed(e: &super::RegistryError) -> Refusal {
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        codes::REGISTRY_FAILED,
        e.to_string(),
    )
}

fn find_device<R: DeviceRegistry + ?Sized>(
    request: &ProvisionRequest,
    registry: &R,
) -> Result<Option<DeviceRecord>, Refusal> {
    let preferred = [IMEI_KEY, ICCID_KEY];
    let ordered = preferred
        .iter()
        .filter_map(|k| request.get(k).map(|v| (*k, v)))
        .chain(request.fields().filter(|(k, _)| !preferred.contains(k)));
    for (key, value) in ordered {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        if let Some(device) = registry
            .find_by_field(key, &text)
            .map_err(|e| registry_failed(&e))?
        {
            return Ok(Some(device));
        }
    }
    Ok(None)
}

fn config_for<R: DeviceRegistry + ?Sized>(
    device: DeviceRecord,
    registry: &R,
) -> Result<DeviceConfig, Refusal> {
    let no_secret = || {
        Refusal::new(
            StatusCode::CONFLICT,
            codes::NO_SECRET,
            "the device has no secret to hand out",
        )
    };
    let product_secret = if device.device_secret.is_some() {
        None
    } else {
        let product = registry
            .product(&device.product_key)
            .map_err(|e| registry_failed(&e))?
            .filter(|p| p.dynamic_registration)
            .and_then(|p| p.product_secret.clone())
            .ok_or_else(no_secret)?;
        Some(product)
    };
    DeviceConfig {
        product_key: device.product_key,
        device_name: device.device_name,
        device_secret: device.device_secret,
        product_secret,
        connect: device.connect,
    }
    .validated()
    .map_err(|_| no_secret())
}
