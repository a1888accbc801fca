//! [`DeviceError`]: everything that can go wrong on the device side, typed.
//!
//! No variant carries a secret: bad input is named by field and reason, JSON errors by category
//! and position (never the offending text), and server messages are the servers' own.
//! The type parameter `E` is the modem's error in [`provision_with`](crate::modem::provision_with)
//! and friends; everywhere else it is [`Infallible`].

use alloc::string::String;
use core::convert::Infallible;
use core::fmt;

use crate::codes::{AliyunError, ResultCode};
use crate::ids::{IccidError, ImeiError};

/// The category of a JSON decoding failure (mirrors `serde_json::error::Category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// Not JSON: an unexpected byte.
    Syntax,
    /// The body ended in the middle of a value (truncated).
    Eof,
    /// Valid JSON of an unexpected type.
    Data,
    /// An I/O failure while reading.
    Io,
}

/// Why a body is not the JSON it should be. Carries the position only, never the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// What went wrong.
    pub kind: JsonErrorKind,
    /// 1-based line of the failure (0 when unknown).
    pub line: usize,
    /// 1-based column of the failure (0 when unknown).
    pub column: usize,
}

impl JsonError {
    pub(crate) fn from_serde(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Syntax => JsonErrorKind::Syntax,
            Category::Eof => JsonErrorKind::Eof,
            Category::Data => JsonErrorKind::Data,
            Category::Io => JsonErrorKind::Io,
        };
        JsonError {
            kind,
            line: e.line(),
            column: e.column(),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            JsonErrorKind::Syntax => "not JSON",
            JsonErrorKind::Eof => "truncated JSON",
            JsonErrorKind::Data => "JSON of the wrong type",
            JsonErrorKind::Io => "unreadable JSON",
        };
        write!(f, "{what} at line {} column {}", self.line, self.column)
    }
}

/// Everything that can go wrong on the device side. `E` is the modem's error type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError<E = Infallible> {
    /// An invalid IMEI given to the request builder.
    Imei(ImeiError),
    /// An invalid ICCID given to the request builder.
    Iccid(IccidError),
    /// Invalid input to a builder (empty product key, bad `random`, bad client id, ...).
    Input {
        /// The field, as the wire names it.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The MQTT keep-alive is outside 60..=1200 seconds.
    KeepAlive {
        /// The value given.
        seconds: u16,
    },
    /// The response body is not JSON, or is truncated.
    Json(JsonError),
    /// The response is JSON but not of the documented shape.
    Shape {
        /// Path of the offending value (`result.device.productKey`; `.` for the root).
        path: &'static str,
        /// What was expected there.
        expected: &'static str,
    },
    /// The response body is larger than this crate parses.
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit ([`MAX_RESPONSE_LEN`](crate::response::MAX_RESPONSE_LEN)).
        limit: usize,
    },
    /// A non-2xx HTTP status with a body that is not an answer of the expected format.
    HttpStatus {
        /// The status.
        status: u16,
    },
    /// The provisioning server answered a code other than `"00000"`.
    Refused {
        /// The code, kept as sent.
        code: ResultCode,
        /// The server's `message`, if any.
        message: Option<String>,
    },
    /// Aliyun's `iot-auth` refused (dynamic registration or `/auth/devicename`).
    Aliyun(AliyunError),
    /// The configuration holds only a ProductSecret (一型一密): run dynamic registration
    /// ([`register_with`](crate::modem::register_with) / [`Register`](crate::dynreg)) first.
    NeedsRegistration,
    /// Dynamic registration needs a ProductSecret and the configuration has none.
    NoProductSecret,
    /// A registration answer names another device than the one asked for.
    Mismatch {
        /// `productKey` or `deviceName`.
        field: &'static str,
    },
    /// The modem (the firmware's HTTP stack) failed.
    Modem(E),
}

impl DeviceError<Infallible> {
    /// The same error with any modem error type (this one never holds a modem error).
    pub fn widen<E>(self) -> DeviceError<E> {
        match self {
            DeviceError::Imei(e) => DeviceError::Imei(e),
            DeviceError::Iccid(e) => DeviceError::Iccid(e),
            DeviceError::Input { field, reason } => DeviceError::Input { field, reason },
            DeviceError::KeepAlive { seconds } => DeviceError::KeepAlive { seconds },
            DeviceError::Json(e) => DeviceError::Json(e),
            DeviceError::Shape { path, expected } => DeviceError::Shape { path, expected },
            DeviceError::TooLarge { len, limit } => DeviceError::TooLarge { len, limit },
            DeviceError::HttpStatus { status } => DeviceError::HttpStatus { status },
            DeviceError::Refused { code, message } => DeviceError::Refused { code, message },
            DeviceError::Aliyun(e) => DeviceError::Aliyun(e),
            DeviceError::NeedsRegistration => DeviceError::NeedsRegistration,
            DeviceError::NoProductSecret => DeviceError::NoProductSecret,
            DeviceError::Mismatch { field } => DeviceError::Mismatch { field },
            DeviceError::Modem(never) => match never {},
        }
    }
}

impl<E> From<ImeiError> for DeviceError<E> {
    fn from(e: ImeiError) -> Self {
        DeviceError::Imei(e)
    }
}

impl<E> From<IccidError> for DeviceError<E> {
    fn from(e: IccidError) -> Self {
        DeviceError::Iccid(e)
    }
}

impl<E> From<JsonError> for DeviceError<E> {
    fn from(e: JsonError) -> Self {
        DeviceError::Json(e)
    }
}

impl<E> From<AliyunError> for DeviceError<E> {
    fn from(e: AliyunError) -> Self {
        DeviceError::Aliyun(e)
    }
}

impl<E: fmt::Display> fmt::Display for DeviceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Imei(e) => write!(f, "invalid IMEI: {e}"),
            DeviceError::Iccid(e) => write!(f, "invalid ICCID: {e}"),
            DeviceError::Input { field, reason } => write!(f, "invalid `{field}`: {reason}"),
            DeviceError::KeepAlive { seconds } => write!(
                f,
                "MQTT keep-alive must be 60..=1200 seconds, {seconds} given"
            ),
            DeviceError::Json(e) => write!(f, "response is {e}"),
            DeviceError::Shape { path, expected } => {
                write!(f, "unexpected response: `{path}` must be {expected}")
            }
            DeviceError::TooLarge { len, limit } => write!(
                f,
                "response of {len} bytes is larger than the {limit}-byte limit"
            ),
            DeviceError::HttpStatus { status } => {
                write!(f, "HTTP {status} without a provisioning answer in the body")
            }
            DeviceError::Refused { code, message } => {
                write!(f, "provisioning refused with code {code}")?;
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            DeviceError::Aliyun(e) => fmt::Display::fmt(e, f),
            DeviceError::NeedsRegistration => f.write_str(
                "the configuration has a ProductSecret but no DeviceSecret: run dynamic registration first",
            ),
            DeviceError::NoProductSecret => {
                f.write_str("dynamic registration needs a ProductSecret and there is none")
            }
            DeviceError::Mismatch { field } => write!(
                f,
                "the registration answer is for another device (`{field}` differs)"
            ),
            DeviceError::Modem(e) => write!(f, "modem error: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for DeviceError<E> {}
