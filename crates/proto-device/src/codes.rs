//! Every code this crate knows: the seed's result codes ([`ResultCode`]), the codes kaifang's
//! provisioning server adds for its failures, and Aliyun's `iot-auth` codes ([`AliyunCode`]).
//!
//! | code | meaning | source |
//! |---|---|---|
//! | `"00000"` | provisioned | \[C\] seed |
//! | `"77777"` | the request failed (the modem or HTTP stack raised) | \[C\] seed |
//! | `"99999"` | the answer had no `code` key | \[C\] seed |
//! | `"10001"` | unknown device: no registry entry matches the request's fields | \[I\] kaifang server |
//! | `"10002"` | bad request: not JSON, not an object, wrong `Content-Type`, IMEI/ICCID missing or invalid | \[I\] kaifang server |
//! | `"10003"` | the device is known but has no secret to hand out (no DeviceSecret, and its product does not allow dynamic registration) | \[I\] kaifang server |
//! | `"10004"` | the registry failed (storage error) | \[I\] kaifang server |
//! | `200` | success | \[C\] Aliyun |
//! | `401` | request auth error (signature) | \[C\] Aliyun doc |
//! | `460` | param error | \[C\] Aliyun doc |
//! | `500` | unknown error | \[C\] Aliyun doc |
//! | `5001` | meta device not found | \[C\] Aliyun doc (`/auth/devicename`); \[I\] also for `/auth/register/device` |
//! | `6200` | auth type mismatch | \[C\] Aliyun doc; \[I\] also when a product does not allow dynamic registration |
//! | `6289` | device is already active | \[C\] Aliyun dynamic registration |

use alloc::string::String;
use core::fmt;

/// `"00000"`: the seed's success code.
pub const SUCCESS: &str = "00000";
/// `"77777"`: the seed's code when the request itself raised.
pub const REQUEST_FAILED: &str = "77777";
/// `"99999"`: the seed's code when the answer has no `code` key.
pub const NO_CODE: &str = "99999";
/// `"10001"` \[I\]: no registry entry matches the request.
pub const UNKNOWN_DEVICE: &str = "10001";
/// `"10002"` \[I\]: the request is malformed (see the module table).
pub const BAD_REQUEST: &str = "10002";
/// `"10003"` \[I\]: the device has no secret to hand out.
pub const NO_SECRET: &str = "10003";
/// `"10004"` \[I\]: the registry failed.
pub const REGISTRY_FAILED: &str = "10004";

/// The result code of a provisioning answer, as the seed's `PointAccess.request` returns it.
///
/// The seed compares strings, so the wire text is kept: any code other than the three it names
/// is [`Other`](ResultCode::Other), passed through unchanged. A `code` that is not a JSON string
/// (`0`, `null`) is kept as its JSON text: the seed would return the Python value, which never
/// equals `"00000"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// `"00000"`: the answer holds the device configuration.
    Success,
    /// `"77777"`: the request failed before an answer arrived.
    RequestFailed,
    /// `"99999"`: the answer had no `code` key (or the server sent `"99999"` itself).
    NoCode,
    /// Any other code, exactly as sent.
    Other(String),
}

impl ResultCode {
    /// From the wire text.
    pub fn from_wire(code: &str) -> Self {
        match code {
            SUCCESS => ResultCode::Success,
            REQUEST_FAILED => ResultCode::RequestFailed,
            NO_CODE => ResultCode::NoCode,
            other => ResultCode::Other(String::from(other)),
        }
    }

    /// The wire text (`"00000"`, `"77777"`, `"99999"` or the code received).
    pub fn as_str(&self) -> &str {
        match self {
            ResultCode::Success => SUCCESS,
            ResultCode::RequestFailed => REQUEST_FAILED,
            ResultCode::NoCode => NO_CODE,
            ResultCode::Other(code) => code,
        }
    }

    /// Whether this is `"00000"`.
    pub fn is_success(&self) -> bool {
        matches!(self, ResultCode::Success)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code of Aliyun's device authentication service (`iot-auth`), numeric in its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AliyunCode {
    /// `200`: success.
    Success,
    /// `401`: request auth error (the signature does not verify).
    RequestAuthError,
    /// `460`: a parameter is missing or invalid.
    ParamError,
    /// `500`: unknown server error (retryable).
    UnknownError,
    /// `5001`: the product or device does not exist.
    DeviceNotFound,
    /// `6200`: the authentication type does not match the device or product.
    AuthTypeMismatch,
    /// `6289`: the device is already active; dynamic registration is refused.
    DeviceAlreadyActive,
    /// Any other code.
    Other(i64),
}

impl AliyunCode {
    /// From the numeric code.
    pub const fn from_code(code: i64) -> Self {
        match code {
            200 => AliyunCode::Success,
            401 => AliyunCode::RequestAuthError,
            460 => AliyunCode::ParamError,
            500 => AliyunCode::UnknownError,
            5001 => AliyunCode::DeviceNotFound,
            6200 => AliyunCode::AuthTypeMismatch,
            6289 => AliyunCode::DeviceAlreadyActive,
            other => AliyunCode::Other(other),
        }
    }

    /// The numeric code.
    pub const fn code(self) -> i64 {
        match self {
            AliyunCode::Success => 200,
            AliyunCode::RequestAuthError => 401,
            AliyunCode::ParamError => 460,
            AliyunCode::UnknownError => 500,
            AliyunCode::DeviceNotFound => 5001,
            AliyunCode::AuthTypeMismatch => 6200,
            AliyunCode::DeviceAlreadyActive => 6289,
            AliyunCode::Other(code) => code,
        }
    }

    /// The message Aliyun sends with the code (what kaifang's server half answers).
    pub const fn message(self) -> &'static str {
        match self {
            AliyunCode::Success => "success",
            AliyunCode::RequestAuthError => "request auth error",
            AliyunCode::ParamError => "param error",
            AliyunCode::UnknownError => "unknown error",
            AliyunCode::DeviceNotFound => "meta device not found",
            AliyunCode::AuthTypeMismatch => "auth type mismatch",
            AliyunCode::DeviceAlreadyActive => "device is already active",
            AliyunCode::Other(_) => "error",
        }
    }

    /// What to do about it.
    pub const fn hint(self) -> &'static str {
        match self {
            AliyunCode::Success => "none",
            AliyunCode::RequestAuthError => {
                "the signature did not verify: check the secret and that the signed fields are the ones sent"
            }
            AliyunCode::ParamError => "a field is missing or malformed",
            AliyunCode::UnknownError => "server-side failure: retry later",
            AliyunCode::DeviceNotFound => {
                "check productKey and deviceName (the device must be pre-registered in the product)"
            }
            AliyunCode::AuthTypeMismatch => {
                "the product's authentication type does not allow this (e.g. dynamic registration is off)"
            }
            AliyunCode::DeviceAlreadyActive => {
                "the device is active: use its stored DeviceSecret, or reset the device in the console to register again"
            }
            AliyunCode::Other(_) => "unknown code",
        }
    }

    /// Whether retrying the same request later may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(self, AliyunCode::UnknownError)
    }
}

impl fmt::Display for AliyunCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// An error answered by Aliyun's `iot-auth` (`{"code":6289,"message":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliyunError {
    /// The code.
    pub code: AliyunCode,
    /// The server's message (cut to 200 characters).
    pub message: String,
}

impl fmt::Display for AliyunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "aliyun iot-auth error {}: {} (hint: {})",
            self.code,
            self.message,
            self.code.hint()
        )
    }
}

impl core::error::Error for AliyunError {}
