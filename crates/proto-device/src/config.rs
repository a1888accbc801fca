//! [`DeviceConfig`]: the device triple (or 一型一密 pair) and MQTT connect settings that the
//! customer's server hands out, validated.
//!
//! ```
//! use kaifang_proto_device::{Connect, DeviceConfig, Qos};
//!
//! let config = DeviceConfig::with_device_secret("pk", "device", "secret")?;
//! assert!(config.device_secret.is_some() && config.product_secret.is_none());
//! assert_eq!(config.connect, Connect { qos: Qos::AtMostOnce, host: None, clean_session: false });
//! assert!(!format!("{config:?}").contains("secret\""));
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```

use alloc::format;
use alloc::string::String;

use serde_json::{Value, json};

use crate::error::DeviceError;
use crate::json::{self, Object};
use crate::secret::{DeviceSecret, ProductSecret};

/// The default MQTT port of Aliyun IoT (used for both TCP and TLS).
pub const DEFAULT_MQTT_PORT: u16 = 1883;

/// MQTT quality of service used by the device for publish and subscribe: 0 or 1 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Qos {
    /// `0`: at most once (the seed's documented default).
    #[default]
    AtMostOnce,
    /// `1`: at least once.
    AtLeastOnce,
}

impl Qos {
    /// The wire number.
    pub const fn as_u8(self) -> u8 {
        match self {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
        }
    }

    /// From the wire number (0 or 1; QoS 2 is not supported by Aliyun IoT).
    pub const fn from_u8(qos: u8) -> Option<Self> {
        match qos {
            0 => Some(Qos::AtMostOnce),
            1 => Some(Qos::AtLeastOnce),
            _ => None,
        }
    }
}

/// A host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `host`, `host:port` or `scheme://host[:port][/]` (`mqtt`, `mqtts`, `tcp`, `ssl`,
    /// `tls`); without a port, `default_port`.
    ///
    /// # Errors
    /// [`DeviceError::Input`] for an empty host, an unknown scheme or a bad port.
    pub fn parse(text: &str, default_port: u16) -> Result<Self, DeviceError> {
        const FIELD: &str = "connect.host";
        let mut rest = text.trim();
        if let Some((scheme, after)) = rest.split_once("://") {
            if !["mqtt", "mqtts", "tcp", "ssl", "tls"]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scheme))
            {
                return Err(DeviceError::Input {
                    field: FIELD,
                    reason: "only mqtt://, mqtts://, tcp://, ssl:// or tls:// may prefix the host",
                });
            }
            rest = after;
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let port =
                    port.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or(DeviceError::Input {
                            field: FIELD,
                            reason: "the port must be a number in 1..=65535",
                        })?;
                (host, port)
            }
            None => (rest, default_port),
        };
        if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
            return Err(DeviceError::Input {
                field: FIELD,
                reason: "must be a host name, optionally with :port",
            });
        }
        Ok(Endpoint {
            host: String::from(host),
            port,
        })
    }
}

/// The `connect` part of a provisioning answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Connect {
    /// `qos`: 0 or 1; 0 when absent (the seed documents "默认0").
    pub qos: Qos,
    /// `host`: the MQTT server, `None` when absent, `null` or `""` (then the Aliyun default
    /// `{productKey}.iot-as-mqtt.{region}.aliyuncs.com:1883` is used).
    pub host: Option<String>,
    /// `cleanSession`: `0`/`1` on the wire (`true`/`false` accepted); `false` when absent (the
    /// seed documents "默认为False").
    pub clean_session: bool,
}

impl Connect {
    /// The seed's initial `connect` value in `PointAccess.__init__`: qos 1, empty host,
    /// cleanSession 1.
    pub fn seed_initial() -> Self {
        Connect {
            qos: Qos::AtLeastOnce,
            host: None,
            clean_session: true,
        }
    }

    /// The answer's JSON form: `{"qos":1,"host":"…","cleanSession":1}` (host `""` when none).
    pub fn to_json_value(&self) -> Value {
        json!({
            "qos": self.qos.as_u8(),
            "host": self.host.as_deref().unwrap_or(""),
            "cleanSession": u8::from(self.clean_session),
        })
    }

    pub(crate) fn from_json(map: &Object) -> Result<Self, DeviceError> {
        let qos = match map.get("qos") {
            None | Some(Value::Null) => Qos::default(),
            Some(v) => v
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .and_then(Qos::from_u8)
                .ok_or(DeviceError::Shape {
                    path: "result.connect.qos",
                    expected: "0 or 1",
                })?,
        };
        let host = json::optional_str(map, "host", "result.connect.host")?.map(String::from);
        let clean_session = match map.get("cleanSession") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => match v.as_u64() {
                Some(0) => false,
                Some(1) => true,
                _ => {
                    return Err(DeviceError::Shape {
                        path: "result.connect.cleanSession",
                        expected: "0 or 1",
                    });
                }
            },
        };
        Ok(Connect {
            qos,
            host,
            clean_session,
        })
    }
}

/// A device's identity and connect settings.
///
/// Invariants (checked by every constructor and by [`parse_response`](crate::parse_response)):
/// `product_key` and `device_name` are non-empty, and at least one of `device_secret` (一机一密)
/// and `product_secret` (一型一密, before dynamic registration) is present and non-empty.
/// An empty string on the wire counts as absent (the seed initialises `deviceSecret` to `''`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// `productKey`.
    pub product_key: String,
    /// `deviceName`.
    pub device_name: String,
    /// `deviceSecret`: `None` before dynamic registration of a 一型一密 device.
    pub device_secret: Option<DeviceSecret>,
    /// `productSecret`: present for 一型一密 products only.
    pub product_secret: Option<ProductSecret>,
    /// MQTT settings.
    pub connect: Connect,
}

/// How the device authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// It has its DeviceSecret (一机一密, or after dynamic registration).
    DeviceSecret,
    /// It has only the ProductSecret: dynamic registration comes first (一型一密).
    ProductSecret,
}

impl DeviceConfig {
    /// A 一机一密 device with default connect settings.
    ///
    /// # Errors
    /// [`DeviceError::Input`] when a value is empty.
    pub fn with_device_secret(
        product_key: impl Into<String>,
        device_name: impl Into<String>,
        device_secret: impl Into<DeviceSecret>,
    ) -> Result<Self, DeviceError> {
        DeviceConfig {
            product_key: product_key.into(),
            device_name: device_name.into(),
            device_secret: Some(device_secret.into()),
            product_secret: None,
            connect: Connect::default(),
        }
        .validated()
    }

    /// A 一型一密 device (dynamic registration pending) with default connect settings.
    ///
    /// # Errors
    /// [`DeviceError::Input`] when a value is empty.
    pub fn with_product_secret(
        product_key: impl Into<String>,
        device_name: impl Into<String>,
        product_secret: impl Into<ProductSecret>,
    ) -> Result<Self, DeviceError> {
        DeviceConfig {
            product_key: product_key.into(),
            device_name: device_name.into(),
            device_secret: None,
            product_secret: Some(product_secret.into()),
            connect: Connect::default(),
        }
        .validated()
    }

    /// The same with other connect settings.
    #[must_use]
    pub fn connect(mut self, connect: Connect) -> Self {
        self.connect = connect;
        self
    }

    /// Checks the invariants (see the type's docs); empty secrets become `None`.
    ///
    /// # Errors
    /// [`DeviceError::Input`] naming the first violation.
    pub fn validated(mut self) -> Result<Self, DeviceError> {
        if self.product_key.is_empty() {
            return Err(DeviceError::Input {
                field: "productKey",
                reason: "must not be empty",
            });
        }
        if self.device_name.is_empty() {
            return Err(DeviceError::Input {
                field: "deviceName",
                reason: "must not be empty",
            });
        }
        if self
            .device_secret
            .as_ref()
            .is_some_and(DeviceSecret::is_empty)
        {
            self.device_secret = None;
        }
        if self
            .product_secret
            .as_ref()
            .is_some_and(ProductSecret::is_empty)
        {
            self.product_secret = None;
        }
        if self.device_secret.is_none() && self.product_secret.is_none() {
            return Err(DeviceError::Input {
                field: "deviceSecret",
                reason: "either deviceSecret or productSecret (一型一密) is required",
            });
        }
        Ok(self)
    }

    /// Whether the device can connect now, or must register first.
    pub fn auth_mode(&self) -> AuthMode {
        if self.device_secret.is_some() {
            AuthMode::DeviceSecret
        } else {
            AuthMode::ProductSecret
        }
    }

    /// The MQTT server: the answer's `host` (a missing port means 1883), else
    /// `{productKey}.iot-as-mqtt.{region}.aliyuncs.com:1883`.
    ///
    /// # Errors
    /// [`DeviceError::Input`] for a malformed `host` or region.
    pub fn mqtt_endpoint(&self, region: &str) -> Result<Endpoint, DeviceError> {
        match &self.connect.host {
            Some(host) => Endpoint::parse(host, DEFAULT_MQTT_PORT),
            None => Ok(Endpoint {
                host: default_mqtt_host(&self.product_key, region)?,
                port: DEFAULT_MQTT_PORT,
            }),
        }
    }

    /// The seed's `result` object: `{"device":{…},"connect":{…}}`, secrets included (this is
    /// the wire form the server half answers with). `productSecret` is written only when
    /// present; `deviceSecret` is `""` when absent, as in the seed's initial value.
    pub fn to_result_value(&self) -> Value {
        let mut device = serde_json::Map::new();
        device.insert("productKey".into(), self.product_key.as_str().into());
        device.insert("deviceName".into(), self.device_name.as_str().into());
        device.insert(
            "deviceSecret".into(),
            self.device_secret
                .as_ref()
                .map_or("", DeviceSecret::expose_secret)
                .into(),
        );
        if let Some(ps) = &self.product_secret {
            device.insert("productSecret".into(), ps.expose_secret().into());
        }
        json!({"device": device, "connect": self.connect.to_json_value()})
    }

    pub(crate) fn from_result(result: &Value) -> Result<Self, DeviceError> {
        let result = json::object(result, "result")?;
        let device = json::object(
            json::member(result, "device", "result.device")?,
            "result.device",
        )?;
        let connect = json::object(
            json::member(result, "connect", "result.connect")?,
            "result.connect",
        )?;
        let product_key = json::required_str(device, "productKey", "result.device.productKey")?;
        let device_name = json::required_str(device, "deviceName", "result.device.deviceName")?;
        let device_secret =
            json::optional_str(device, "deviceSecret", "result.device.deviceSecret")?;
        let product_secret =
            json::optional_str(device, "productSecret", "result.device.productSecret")?;
        if device_secret.is_none() && product_secret.is_none() {
            return Err(DeviceError::Shape {
                path: "result.device.deviceSecret",
                expected: "a non-empty string (or a productSecret for 一型一密)",
            });
        }
        Ok(DeviceConfig {
            product_key: String::from(product_key),
            device_name: String::from(device_name),
            device_secret: device_secret.map(DeviceSecret::from),
            product_secret: product_secret.map(ProductSecret::from),
            connect: Connect::from_json(connect)?,
        })
    }
}

/// `{productKey}.iot-as-mqtt.{region}.aliyuncs.com`.
///
/// # Errors
/// [`DeviceError::Input`] when the region is empty or not `[a-z0-9-]` (it becomes part of a host
/// name).
pub fn default_mqtt_host(product_key: &str, region: &str) -> Result<String, DeviceError> {
    check_region(region)?;
    Ok(format!("{product_key}.iot-as-mqtt.{region}.aliyuncs.com"))
}

pub(crate) fn check_region(region: &str) -> Result<(), DeviceError> {
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(DeviceError::Input {
            field: "region",
            reason: "must be a region id such as cn-shanghai ([a-z0-9-]+)",
        });
    }
    Ok(())
}
