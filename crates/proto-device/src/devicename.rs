//! HTTPS pre-authentication, `POST {auth host}/auth/devicename`: trade the DeviceSecret for an
//! `iotId` / `iotToken` pair (valid 7 days) and the MQTT endpoint, then connect with
//! username = iotId and password = iotToken.
//!
//! Form fields: `productKey`, `deviceName`, `clientId`, `timestamp` (optional), `sign`,
//! `signmethod`, `version=default`, `resources=mqtt`; `sign` is the MQTT password's HMAC over
//! the same sorted fields (`version`, `sign`, `resources`, `signmethod` excluded).
//!
//! ```
//! use kaifang_proto_device::{DeviceConfig, SignMethod, devicename::{DeviceNameAuth, parse_devicename_response}};
//!
//! let config = DeviceConfig::with_device_secret("pk", "device", "secret")?;
//! let auth = DeviceNameAuth::new(&config, "12345", Some(789), SignMethod::HmacSha1)?;
//! assert_eq!(auth.sign().as_str(), "fafd82a3d602b37fb0fa8b7892f24a477f851a14");
//! assert_eq!(
//!     auth.body(),
//!     "productKey=pk&deviceName=device&clientId=12345&timestamp=789\
//!      &sign=fafd82a3d602b37fb0fa8b7892f24a477f851a14&signmethod=hmacsha1&version=default&resources=mqtt"
//! );
//! let token = parse_devicename_response(br#"{"code":200,"data":{"iotId":"42Ze0mk3556498a1AlTP",
//!     "iotToken":"0d7fdeb9dc1f4344a2cc0d45edcb0bcb","resources":{"mqtt":{"host":"xxx.iot-as-mqtt.cn-shanghai.aliyuncs.com",
//!     "port":1883}}},"message":"success"}"#)?;
//! let mqtt = token.mqtt_connect("12345", 300, true)?;
//! assert_eq!((mqtt.username.as_str(), mqtt.port), ("42Ze0mk3556498a1AlTP", 1883));
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```

use alloc::string::String;
use core::fmt;

use kaifang_sign_core::aliyun::{MqttSign, SecureMode, SignMethod};
use kaifang_sign_core::hex::HexString;
use serde_json::Value;

use crate::config::{DeviceConfig, Endpoint};
use crate::error::DeviceError;
use crate::iot_auth::{self, push_pair};
use crate::json;
use crate::mqtt::{MqttConnect, check_client_id, check_keep_alive};
use crate::secret::{DeviceSecret, IotToken, MqttPassword};

/// The path.
pub const DEVICENAME_PATH: &str = "/auth/devicename";

/// A `/auth/devicename` request.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceNameAuth {
    product_key: String,
    device_name: String,
    device_secret: DeviceSecret,
    client_id: String,
    timestamp: Option<u64>,
    sign_method: SignMethod,
}

impl fmt::Debug for DeviceNameAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceNameAuth")
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("device_secret", &self.device_secret)
            .field("client_id", &self.client_id)
            .field("timestamp", &self.timestamp)
            .field("sign_method", &self.sign_method)
            .finish()
    }
}

impl DeviceNameAuth {
    /// For a configuration with a DeviceSecret.
    ///
    /// # Errors
    /// [`DeviceError::NeedsRegistration`] without DeviceSecret; [`DeviceError::Input`] for a bad
    /// clientId.
    pub fn new(
        config: &DeviceConfig,
        client_id: &str,
        timestamp: Option<u64>,
        sign_method: SignMethod,
    ) -> Result<Self, DeviceError> {
        let device_secret = config
            .device_secret
            .clone()
            .ok_or(DeviceError::NeedsRegistration)?;
        check_client_id(client_id)?;
        Ok(DeviceNameAuth {
            product_key: config.product_key.clone(),
            device_name: config.device_name.clone(),
            device_secret,
            client_id: String::from(client_id),
            timestamp,
            sign_method,
        })
    }

    fn mqtt_sign(&self) -> MqttSign<'_> {
        MqttSign {
            product_key: &self.product_key,
            device_name: &self.device_name,
            device_secret: self.device_secret.expose_secret(),
            client_id: &self.client_id,
            timestamp: self.timestamp,
            sign_method: self.sign_method,
            // Not part of the signature.
            secure_mode: SecureMode::Tls,
        }
    }

    /// The signature (lower-case hex).
    pub fn sign(&self) -> HexString<64> {
        self.mqtt_sign().password()
    }

    /// The form body.
    pub fn body(&self) -> String {
        let mut body = String::new();
        push_pair(&mut body, "productKey", &self.product_key);
        push_pair(&mut body, "deviceName", &self.device_name);
        push_pair(&mut body, "clientId", &self.client_id);
        if let Some(ts) = self.timestamp {
            push_pair(&mut body, "timestamp", &itoa(ts));
        }
        push_pair(&mut body, "sign", self.sign().as_str());
        push_pair(&mut body, "signmethod", self.sign_method.as_str());
        push_pair(&mut body, "version", "default");
        push_pair(&mut body, "resources", "mqtt");
        body
    }

    /// `{auth_host}/auth/devicename`.
    pub fn url(&self, auth_host: &str) -> String {
        iot_auth::join_url(auth_host, DEVICENAME_PATH)
    }
}

fn itoa(n: u64) -> String {
    use core::fmt::Write as _;
    let mut s = String::new();
    let _ = write!(s, "{n}");
    s
}

/// A successful `/auth/devicename` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken {
    /// `iotId`: the MQTT username.
    pub iot_id: String,
    /// `iotToken`: the MQTT password.
    pub iot_token: IotToken,
    /// `resources.mqtt`, when the server sent it.
    pub mqtt: Option<Endpoint>,
}

impl DeviceToken {
    /// MQTT connect parameters for token login: clientId as given (no `|…|` extension),
    /// username = iotId, password = iotToken.
    ///
    /// # Errors
    /// [`DeviceError::Shape`] when the answer had no `resources.mqtt`;
    /// [`DeviceError::KeepAlive`]; [`DeviceError::Input`] for a bad clientId.
    pub fn mqtt_connect(
        &self,
        client_id: &str,
        keep_alive: u16,
        clean_session: bool,
    ) -> Result<MqttConnect, DeviceError> {
        check_client_id(client_id)?;
        let keep_alive = check_keep_alive(keep_alive)?;
        let endpoint = self.mqtt.clone().ok_or(DeviceError::Shape {
            path: "data.resources.mqtt",
            expected: "present to connect",
        })?;
        Ok(MqttConnect {
            host: endpoint.host,
            port: endpoint.port,
            client_id: String::from(client_id),
            username: self.iot_id.clone(),
            password: MqttPassword::new(self.iot_token.expose_secret()),
            keep_alive,
            clean_session,
        })
    }
}

/// Parses the answer of `/auth/devicename`.
///
/// # Errors
/// [`DeviceError::Aliyun`] for codes other than 200; JSON and shape errors.
pub fn parse_devicename_response(body: &[u8]) -> Result<DeviceToken, DeviceError> {
    let data = iot_auth::parse_envelope(body)?;
    let iot_id = json::required_str(&data, "iotId", "data.iotId")?;
    let iot_token = json::required_str(&data, "iotToken", "data.iotToken")?;
    let mqtt = match data.get("resources") {
        None | Some(Value::Null) => None,
        Some(resources) => {
            let resources = json::object(resources, "data.resources")?;
            match resources.get("mqtt") {
                None | Some(Value::Null) => None,
                Some(mqtt) => {
                    let mqtt = json::object(mqtt, "data.resources.mqtt")?;
                    let host = json::required_str(mqtt, "host", "data.resources.mqtt.host")?;
                    let port = json::member(mqtt, "port", "data.resources.mqtt.port")
                        .ok()
                        .and_then(json::integer)
                        .and_then(|p| u16::try_from(p).ok())
                        .filter(|p| *p != 0)
                        .ok_or(DeviceError::Shape {
                            path: "data.resources.mqtt.port",
                            expected: "a port number",
                        })?;
                    Some(Endpoint {
                        host: String::from(host),
                        port,
                    })
                }
            }
        }
    };
    Ok(DeviceToken {
        iot_id: String::from(iot_id),
        iot_token: IotToken::from(iot_token),
        mqtt,
    })
}
