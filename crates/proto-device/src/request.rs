//! [`ProvisionRequest`]: the free-form JSON object a device posts to the customer's server.
//!
//! The seed lets each customer choose the fields ("携带请求的发送给服务器认证的信息, 客户基于自身
//! 情况编写"); IMEI and ICCID are the usual ones, so they have validating setters. Fields keep
//! their insertion order, and setting a key twice replaces the value in place, as a Python dict
//! does. [`to_json`](ProvisionRequest::to_json) writes the bytes CPython's
//! `json.dumps(data)` writes (see [`PythonJson`]).
//!
//! ```
//! use kaifang_proto_device::ProvisionRequest;
//!
//! let req = ProvisionRequest::new()
//!     .imei("490154203237518")?
//!     .iccid("89860012345678901234")?
//!     .field("fw", "1.0.3")
//!     .field("battery", 87);
//! assert_eq!(
//!     req.to_json(),
//!     br#"{"imei": "490154203237518", "iccid": "89860012345678901234", "fw": "1.0.3", "battery": 87}"#
//! );
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::Value;

use crate::error::{DeviceError, JsonError};
use crate::ids::{Iccid, Imei};
use crate::python_json::PythonJson;

/// The `Content-Type` of a provisioning request.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The key [`ProvisionRequest::imei`] writes (and the server half reads).
pub const IMEI_KEY: &str = "imei";
/// The key [`ProvisionRequest::iccid`] writes (and the server half reads).
pub const ICCID_KEY: &str = "iccid";

/// An insertion-ordered JSON object of identification fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProvisionRequest {
    fields: Vec<(String, Value)>,
}

impl ProvisionRequest {
    /// An empty request (`{}`).
    pub fn new() -> Self {
        ProvisionRequest { fields: Vec::new() }
    }

    /// Adds `"imei": "<15 digits>"` after validating it (Luhn check digit included).
    ///
    /// # Errors
    /// [`DeviceError::Imei`].
    pub fn imei(self, imei: &str) -> Result<Self, DeviceError> {
        let imei = Imei::parse(imei)?;
        Ok(self.field(IMEI_KEY, imei.as_str()))
    }

    /// Adds `"iccid": "<19–20 digits>"` after validating it (a final `f` becomes `F`).
    ///
    /// # Errors
    /// [`DeviceError::Iccid`].
    pub fn iccid(self, iccid: &str) -> Result<Self, DeviceError> {
        let iccid = Iccid::parse(iccid)?;
        Ok(self.field(ICCID_KEY, iccid.as_str()))
    }

    /// Adds or replaces any field (replacing keeps the key's first position, like a dict).
    #[must_use]
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    /// [`field`](ProvisionRequest::field) on a borrowed request.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((key, value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The fields in order.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The body bytes, as CPython's `json.dumps(data)` writes them.
    pub fn to_json(&self) -> Vec<u8> {
        self.to_json_with(PythonJson::CPYTHON)
    }

    /// The body bytes with another layout (e.g. [`PythonJson::MICROPYTHON`]).
    pub fn to_json_with(&self, layout: PythonJson) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 40 * self.fields.len());
        layout.write_object(&mut out, self.fields());
        out
    }

    /// Parses a received body, keeping the order of its keys (the server half uses this).
    /// A repeated key keeps its first position and its last value, as Python's `json.loads`.
    ///
    /// # Errors
    /// [`DeviceError::Json`] for invalid JSON, [`DeviceError::Shape`] when it is not an object,
    /// [`DeviceError::TooLarge`] above the size limit.
    pub fn from_json(body: &[u8]) -> Result<Self, DeviceError> {
        if body.len() > crate::response::MAX_RESPONSE_LEN {
            return Err(DeviceError::TooLarge {
                len: body.len(),
                limit: crate::response::MAX_RESPONSE_LEN,
            });
        }
        serde_json::from_slice::<ProvisionRequest>(body).map_err(|e| {
            if e.classify() == serde_json::error::Category::Data {
                DeviceError::Shape {
                    path: ".",
                    expected: "a JSON object",
                }
            } else {
                DeviceError::Json(JsonError::from_serde(&e))
            }
        })
    }
}

impl serde::Serialize for ProvisionRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for ProvisionRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = ProvisionRequest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ProvisionRequest, A::Error> {
                let mut req = ProvisionRequest::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    req.set(k, v);
                }
                Ok(req)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for ProvisionRequest {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut req = ProvisionRequest::new();
        for (k, v) in iter {
            req.set(k, v);
        }
        req
    }
}

#[cfg(test)]
mod fuzz_regressions {
    #![allow(clippy::unwrap_used)]
    use super::ProvisionRequest;

    /// Fuzz target `device_response_nostd`: a 50-digit number parsed to 1e48, rendered as
    /// `1e+48`, parsed back as 9.999999999999999e47 (serde_json's default float parsing is not
    /// correctly rounded; `float_roundtrip` is).
    #[test]
    fn float_members_survive_render_and_parse() {
        let body = br#"{"cPde":999999999999999999999999900000000000000000000012}"#;
        let request = ProvisionRequest::from_json(body).unwrap();
        let again = ProvisionRequest::from_json(&request.to_json()).unwrap();
        assert_eq!(again, request);
        for text in [
            "1e+48",
            "9.999999999999999e+47",
            "0.1",
            "1.7976931348623157e+308",
            "5e-324",
        ] {
            let body = alloc::format!("{{\"x\": {text}}}");
            let request = ProvisionRequest::from_json(body.as_bytes()).unwrap();
            let again = ProvisionRequest::from_json(&request.to_json()).unwrap();
            assert_eq!(again, request, "{text}");
        }
    }
}
