//! The provisioning answer: [`parse_response`] into a [`ProvisionOutcome`], and [`PointAccess`],
//! the seed's stateful component with its exact semantics.
//!
//! ```
//! use kaifang_proto_device::{parse_response, ProvisionOutcome, Qos, ResultCode};
//!
//! let body = br#"{"code":"00000","result":{"device":{"productKey":"pk","deviceName":"device",
//!     "deviceSecret":"secret"},"connect":{"qos":1,"host":"","cleanSession":1}}}"#;
//! let ProvisionOutcome::Provisioned(config) = parse_response(body)? else { unreachable!() };
//! assert_eq!(config.device_name, "device");
//! assert_eq!(config.connect.qos, Qos::AtLeastOnce);
//! assert!(config.connect.clean_session && config.connect.host.is_none());
//!
//! let refused = parse_response(br#"{"code":"10001","message":"unknown device"}"#)?;
//! assert_eq!(refused.code(), ResultCode::Other("10001".into()));
//! assert_eq!(parse_response(b"{}")?.code(), ResultCode::NoCode);
//! assert!(parse_response(b"<html>502 Bad Gateway</html>").is_err()); // the seed raises here
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```
//!
//! Where the seed raises and where kaifang differs:
//! - a body that is not JSON (or is truncated): the seed's `resp.json()` sits outside its `try`
//!   and raises; [`parse_response`] returns [`DeviceError::Json`].
//! - JSON that is not an object: the seed raises `AttributeError` on `.get`; here
//!   [`DeviceError::Shape`] at `.`.
//! - `"00000"` without `result.device` or `result.connect`: the seed raises `KeyError`; here
//!   [`DeviceError::Shape`] with the path. kaifang also validates what the seed copies blindly:
//!   non-empty productKey and deviceName, a secret, `qos` 0/1, `cleanSession` 0/1.

use alloc::string::{String, ToString};

use serde_json::Value;

use crate::codes::ResultCode;
use crate::config::{Connect, DeviceConfig};
use crate::error::DeviceError;
use crate::json;

/// The largest answer this crate parses (64 KiB): a provisioning or `iot-auth` answer is a few
/// hundred bytes, and firmware should not buffer more.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// What a well-formed provisioning answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionOutcome {
    /// `"00000"` with a valid configuration.
    Provisioned(DeviceConfig),
    /// Any other code; the seed leaves its configuration untouched in this case.
    NotProvisioned {
        /// The code as sent ([`ResultCode::NoCode`] when the key was absent).
        code: ResultCode,
        /// The answer's `message` (or `msg`), if a string; cut to 200 characters.
        message: Option<String>,
    },
}

impl ProvisionOutcome {
    /// The result code (what the seed's `request` returns).
    pub fn code(&self) -> ResultCode {
        match self {
            ProvisionOutcome::Provisioned(_) => ResultCode::Success,
            ProvisionOutcome::NotProvisioned { code, .. } => code.clone(),
        }
    }

    /// The configuration, or [`DeviceError::Refused`] with the code.
    ///
    /// # Errors
    /// [`DeviceError::Refused`] for any code but `"00000"`.
    pub fn into_config(self) -> Result<DeviceConfig, DeviceError> {
        match self {
            ProvisionOutcome::Provisioned(config) => Ok(config),
            ProvisionOutcome::NotProvisioned { code, message } => {
                Err(DeviceError::Refused { code, message })
            }
        }
    }
}

/// Parses a provisioning answer body. Works without `std`; never panics.
///
/// # Errors
/// [`DeviceError::Json`] (not JSON, truncated), [`DeviceError::TooLarge`],
/// [`DeviceError::Shape`] (not an object; or `"00000"` with an invalid `result`).
pub fn parse_response(body: &[u8]) -> Result<ProvisionOutcome, DeviceError> {
    let value = json::parse(body)?;
    let map = json::object(&value, ".")?;
    let code = match map.get("code") {
        None => ResultCode::NoCode,
        Some(Value::String(code)) => ResultCode::from_wire(code),
        Some(other) => ResultCode::Other(other.to_string()),
    };
    if code.is_success() {
        let result = json::member(map, "result", "result")?;
        return DeviceConfig::from_result(result).map(ProvisionOutcome::Provisioned);
    }
    let message = ["message", "msg"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .map(|m| json::truncate(m, 200));
    Ok(ProvisionOutcome::NotProvisioned { code, message })
}

/// The seed's `PointAccess` component: a configuration that starts at the seed's initial values
/// and is replaced only by a `"00000"` answer.
///
/// ```
/// use kaifang_proto_device::{parse_response, PointAccess, ResultCode};
///
/// let mut point = PointAccess::new();
/// let code = point.apply(parse_response(br#"{"code":"12345"}"#)?);
/// assert_eq!(code.as_str(), "12345");
/// assert!(point.device_config.is_none()); // untouched
/// # Ok::<(), kaifang_proto_device::DeviceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointAccess {
    /// The configuration from the last `"00000"` answer; `None` until then (the seed's initial
    /// `device` values are empty strings, which no device can connect with).
    pub device_config: Option<DeviceConfig>,
    /// The `connect` settings: the seed's initial values until an answer replaces them.
    pub connect: Connect,
}

impl Default for PointAccess {
    fn default() -> Self {
        PointAccess::new()
    }
}

impl PointAccess {
    /// The seed's initial state (`qos` 1, `cleanSession` 1, no device).
    pub fn new() -> Self {
        PointAccess {
            device_config: None,
            connect: Connect::seed_initial(),
        }
    }

    /// Applies an answer as the seed does; returns the code the seed's `request` returns.
    pub fn apply(&mut self, outcome: ProvisionOutcome) -> ResultCode {
        match outcome {
            ProvisionOutcome::Provisioned(config) => {
                self.connect = config.connect.clone();
                self.device_config = Some(config);
                ResultCode::Success
            }
            ProvisionOutcome::NotProvisioned { code, .. } => code,
        }
    }

    /// The seed's `request(url, data, headers=…)` through a modem: a modem error gives
    /// [`ResultCode::RequestFailed`] (`"77777"`, the seed's `except`), an answer is applied.
    ///
    /// # Errors
    /// Where the seed raises: a body that is not a JSON object, or a `"00000"` answer with an
    /// invalid `result` (see the module docs).
    pub fn request_with<M: crate::modem::HttpPost>(
        &mut self,
        modem: &mut M,
        url: &str,
        data: &crate::ProvisionRequest,
        extra_headers: &[(&str, &str)],
    ) -> Result<ResultCode, DeviceError> {
        match crate::modem::post_provision(modem, url, data, extra_headers) {
            Ok((_, body)) => Ok(self.apply(parse_response(&body)?)),
            Err(_) => Ok(ResultCode::RequestFailed),
        }
    }
}
