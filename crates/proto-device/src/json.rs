//! Reading untrusted JSON answers: size limit, typed errors with paths, and never a value's text
//! in an error (a misplaced secret must not leak into a log).

use alloc::string::String;

use serde_json::{Map, Value};

use crate::error::{DeviceError, JsonError};
use crate::response::MAX_RESPONSE_LEN;

pub(crate) type Object = Map<String, Value>;

/// Parses `body` as JSON (any value), within the size limit.
pub(crate) fn parse(body: &[u8]) -> Result<Value, DeviceError> {
    if body.len() > MAX_RESPONSE_LEN {
        return Err(DeviceError::TooLarge {
            len: body.len(),
            limit: MAX_RESPONSE_LEN,
        });
    }
    serde_json::from_slice(body).map_err(|e| DeviceError::Json(JsonError::from_serde(&e)))
}

/// `value` as an object, or a shape error at `path`.
pub(crate) fn object<'a>(value: &'a Value, path: &'static str) -> Result<&'a Object, DeviceError> {
    value.as_object().ok_or(DeviceError::Shape {
        path,
        expected: "a JSON object",
    })
}

/// The member `key` of `map`, which must exist.
pub(crate) fn member<'a>(
    map: &'a Object,
    key: &str,
    path: &'static str,
) -> Result<&'a Value, DeviceError> {
    map.get(key).ok_or(DeviceError::Shape {
        path,
        expected: "present",
    })
}

/// A non-empty string member.
pub(crate) fn required_str<'a>(
    map: &'a Object,
    key: &str,
    path: &'static str,
) -> Result<&'a str, DeviceError> {
    match optional_str(map, key, path)? {
        Some(s) => Ok(s),
        None => Err(DeviceError::Shape {
            path,
            expected: "a non-empty string",
        }),
    }
}

/// A string member where absent, `null` and `""` all mean "none".
pub(crate) fn optional_str<'a>(
    map: &'a Object,
    key: &str,
    path: &'static str,
) -> Result<Option<&'a str>, DeviceError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DeviceError::Shape {
            path,
            expected: "a string",
        }),
    }
}

/// An integer, also accepted as a string of digits (`200` or `"200"`).
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `s` cut to at most `max` characters (for server messages kept in errors).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => String::from(&s[..i]),
        None => String::from(s),
    }
}
