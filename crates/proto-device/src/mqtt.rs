//! MQTT connect parameters for Aliyun IoT direct connection, from a [`DeviceConfig`].
//!
//! - clientId: `{client_id}|securemode={2|3},signmethod={method}[,timestamp={ms}]|`
//! - username: `{deviceName}&{productKey}`
//! - password: HMAC of `"clientId"+id+"deviceName"+dn+"productKey"+pk["timestamp"+ts]` keyed by
//!   the DeviceSecret, lower-case hex (the server accepts either case), computed by
//!   `kaifang-sign-core`.
//! - host: the answer's `connect.host`, else `{productKey}.iot-as-mqtt.{region}.aliyuncs.com`,
//!   port 1883.
//!
//! Aliyun's documented vector, through this API:
//!
//! ```
//! use kaifang_proto_device::{DeviceConfig, MqttOptions, SecureMode, SignMethod};
//!
//! let config = DeviceConfig::with_device_secret("pk", "device", "secret")?;
//! let mqtt = config.mqtt_connect(
//!     &MqttOptions::new()
//!         .client_id("12345")
//!         .timestamp(789)
//!         .sign_method(SignMethod::HmacSha1)
//!         .secure_mode(SecureMode::Tcp),
//! )?;
//! assert_eq!(mqtt.client_id, "12345|securemode=3,signmethod=hmacsha1,timestamp=789|");
//! assert_eq!(mqtt.username, "device&pk");
//! assert!(mqtt.password.expose_secret().eq_ignore_ascii_case("FAFD82A3D602B37FB0FA8B7892F24A477F851A14"));
//! assert_eq!((mqtt.host.as_str(), mqtt.port), ("pk.iot-as-mqtt.cn-shanghai.aliyuncs.com", 1883));
//! assert_eq!(mqtt.keep_alive, 300);
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::ops::RangeInclusive;

use kaifang_sign_core::aliyun::{MqttSign, SecureMode, SignMethod};

use crate::config::DeviceConfig;
use crate::error::DeviceError;
use crate::secret::MqttPassword;

/// The region used when none is given.
pub const DEFAULT_REGION: &str = "cn-shanghai";
/// The keep-alive used when none is given (QuecPython's default), in seconds.
pub const DEFAULT_KEEP_ALIVE: u16 = 300;
/// The accepted keep-alive range (QuecPython's `setMqtt`), in seconds.
pub const KEEP_ALIVE_RANGE: RangeInclusive<u16> = 60..=1200;
/// The longest clientId Aliyun accepts (before the `|…|` extension).
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Choices for [`DeviceConfig::mqtt_connect`]; every one has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttOptions {
    region: String,
    client_id: Option<String>,
    timestamp: Option<u64>,
    sign_method: SignMethod,
    secure_mode: SecureMode,
    keep_alive: u16,
}

impl Default for MqttOptions {
    fn default() -> Self {
        MqttOptions::new()
    }
}

impl MqttOptions {
    /// Region `cn-shanghai`, clientId `{productKey}.{deviceName}`, no timestamp, `hmacsha256`,
    /// `securemode=2` (TLS), keep-alive 300 s.
    pub fn new() -> Self {
        MqttOptions {
            region: String::from(DEFAULT_REGION),
            client_id: None,
            timestamp: None,
            sign_method: SignMethod::HmacSha256,
            secure_mode: SecureMode::Tls,
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }

    /// The region of the default host.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The clientId before the `|…|` extension (IMEI, MAC, serial number...; at most 64 bytes).
    #[must_use]
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// A timestamp in milliseconds, signed and put into the clientId (optional for Aliyun).
    #[must_use]
    pub fn timestamp(mut self, millis: u64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// The password's HMAC (`signmethod`).
    #[must_use]
    pub fn sign_method(mut self, method: SignMethod) -> Self {
        self.sign_method = method;
        self
    }

    /// `securemode`: [`SecureMode::Tls`] (2) or [`SecureMode::Tcp`] (3).
    #[must_use]
    pub fn secure_mode(mut self, mode: SecureMode) -> Self {
        self.secure_mode = mode;
        self
    }

    /// The MQTT keep-alive in seconds (checked to be in 60..=1200 when used).
    #[must_use]
    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.keep_alive = seconds;
        self
    }
}

/// Everything an MQTT CONNECT needs. `Debug` redacts the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConnect {
    /// The broker host.
    pub host: String,
    /// The broker port.
    pub port: u16,
    /// The MQTT clientId (with its `|securemode=…|` extension for direct connection).
    pub client_id: String,
    /// The MQTT username.
    pub username: String,
    /// The MQTT password.
    pub password: MqttPassword,
    /// Keep-alive in seconds.
    pub keep_alive: u16,
    /// The CONNECT's clean-session flag.
    pub clean_session: bool,
}

pub(crate) fn check_keep_alive(seconds: u16) -> Result<u16, DeviceError> {
    if KEEP_ALIVE_RANGE.contains(&seconds) {
        Ok(seconds)
    } else {
        Err(DeviceError::KeepAlive { seconds })
    }
}

pub(crate) fn check_client_id(client_id: &str) -> Result<(), DeviceError> {
    if client_id.is_empty()
        || client_id.len() > MAX_CLIENT_ID_LEN
        || client_id
            .bytes()
            .any(|b| b == b'|' || b == b',' || b <= b' ' || b == 0x7f)
    {
        return Err(DeviceError::Input {
            field: "clientId",
            reason: "must be 1..=64 bytes without `|`, `,`, spaces or control characters",
        });
    }
    Ok(())
}

impl DeviceConfig {
    /// MQTT direct-connect parameters (see the [module docs](crate::mqtt)).
    ///
    /// # Errors
    /// [`DeviceError::NeedsRegistration`] for a 一型一密 configuration without DeviceSecret;
    /// [`DeviceError::KeepAlive`]; [`DeviceError::Input`] for a bad clientId, region or host.
    pub fn mqtt_connect(&self, options: &MqttOptions) -> Result<MqttConnect, DeviceError> {
        let secret = self
            .device_secret
            .as_ref()
            .ok_or(DeviceError::NeedsRegistration)?;
        let keep_alive = check_keep_alive(options.keep_alive)?;
        let client_id = match &options.client_id {
            Some(id) => id.clone(),
            None => format!("{}.{}", self.product_key, self.device_name),
        };
        check_client_id(&client_id)?;
        let endpoint = self.mqtt_endpoint(&options.region)?;
        let sign = MqttSign {
            product_key: &self.product_key,
            device_name: &self.device_name,
            device_secret: secret.expose_secret(),
            client_id: &client_id,
            timestamp: options.timestamp,
            sign_method: options.sign_method,
            secure_mode: options.secure_mode,
        };
        let mut buf = vec![0u8; sign.buffer_len()];
        let creds = sign.credentials(&mut buf).map_err(|_| DeviceError::Input {
            field: "clientId",
            reason: "could not be formatted",
        })?;
        Ok(MqttConnect {
            host: endpoint.host,
            port: endpoint.port,
            client_id: String::from(creds.client_id),
            username: String::from(creds.username),
            password: MqttPassword::new(creds.password.as_str()),
            keep_alive,
            clean_session: self.connect.clean_session,
        })
    }
}
