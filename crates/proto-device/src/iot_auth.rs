//! What Aliyun's device authentication host (`iot-auth.{region}.aliyuncs.com`) shares between
//! [`dynreg`](crate::dynreg) and [`devicename`](crate::devicename): the host, the form encoding,
//! the headers, and the `{"code":200,"data":…,"message":"success"}` envelope.
//!
//! ```
//! use kaifang_proto_device::iot_auth;
//!
//! assert_eq!(iot_auth::auth_host("cn-shanghai")?, "https://iot-auth.cn-shanghai.aliyuncs.com");
//! let mut form = String::new();
//! iot_auth::push_pair(&mut form, "deviceName", "dev@home 1");
//! assert_eq!(form, "deviceName=dev%40home+1");
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```

use alloc::format;
use alloc::string::String;

use serde_json::Value;

use crate::codes::{AliyunCode, AliyunError};
use crate::error::DeviceError;
use crate::json::{self, Object};

/// `Content-Type` of the requests.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// `Accept` sent by Aliyun's C SDK, which kaifang sends too.
pub const ACCEPT: &str = "text/xml,text/javascript,text/html,application/json";

/// `https://iot-auth.{region}.aliyuncs.com`.
///
/// # Errors
/// [`DeviceError::Input`] when the region is not `[a-z0-9-]+`.
pub fn auth_host(region: &str) -> Result<String, DeviceError> {
    crate::config::check_region(region)?;
    Ok(format!("https://iot-auth.{region}.aliyuncs.com"))
}

/// `base` + `path`, with exactly one `/` between them.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Appends `key=value` (with `&` when `out` is not empty), `application/x-www-form-urlencoded`
/// (WHATWG): `[A-Za-z0-9*-._]` as is, space as `+`, every other byte as `%XX`.
pub fn push_pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    push_encoded(out, key);
    out.push('=');
    push_encoded(out, value);
}

fn push_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

/// Checks the envelope and returns `data` (an object) on code 200.
///
/// # Errors
/// [`DeviceError::Aliyun`] for any other code; JSON and shape errors otherwise.
pub(crate) fn parse_envelope(body: &[u8]) -> Result<Object, DeviceError> {
    let value = json::parse(body)?;
    let map = json::object(&value, ".")?;
    let code = json::integer(json::member(map, "code", "code")?).ok_or(DeviceError::Shape {
        path: "code",
        expected: "an integer",
    })?;
    let code = AliyunCode::from_code(code);
    if code != AliyunCode::Success {
        let message = map
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| String::from(code.message()), |m| json::truncate(m, 200));
        return Err(DeviceError::Aliyun(AliyunError { code, message }));
    }
    match map.get("data") {
        Some(Value::Object(data)) => Ok(data.clone()),
        _ => Err(DeviceError::Shape {
            path: "data",
            expected: "a JSON object",
        }),
    }
}
