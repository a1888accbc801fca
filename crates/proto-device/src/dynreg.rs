//! 一型一密 dynamic registration: trade the ProductSecret for this device's DeviceSecret with
//! `POST {auth host}/auth/register/device`.
//!
//! The body is `productKey=…&deviceName=…&random=…&sign=…&signMethod=hmacsha256` (camelCase
//! `signMethod`, unlike MQTT's `signmethod`), with
//! `sign = hex(HMAC-SHA256(productSecret, "deviceName"+dn+"productKey"+pk+"random"+random))`
//! computed by `kaifang-sign-core`. An unactivated device may register again and receives a new
//! secret each time (the last one wins); an activated device gets `6289`.
//!
//! ```
//! use kaifang_proto_device::{DeviceConfig, dynreg::{RegisterRequest, parse_register_response}};
//!
//! let config = DeviceConfig::with_product_secret("a1csED27mp7", "AdvExample_dyn1", "VuULINCrtTAzCSzp")?;
//! let req = RegisterRequest::new(&config, "2HyP9O70q5t9VuX")?;
//! assert_eq!(
//!     req.body(),
//!     "productKey=a1csED27mp7&deviceName=AdvExample_dyn1&random=2HyP9O70q5t9VuX\
//!      &sign=9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556&signMethod=hmacsha256"
//! );
//! let answer = br#"{"code":200,"data":{"deviceName":"AdvExample_dyn1",
//!     "deviceSecret":"ximd4xyeAjtHp5lsz3A5okefnJMYtQTP","productKey":"a1csED27mp7"},"message":"success"}"#;
//! let config = config.registered(parse_register_response(answer)?)?;
//! assert_eq!(config.device_secret.unwrap().expose_secret(), "ximd4xyeAjtHp5lsz3A5okefnJMYtQTP");
//!
//! let active = parse_register_response(br#"{"code":6289,"message":"device is already active"}"#);
//! assert!(matches!(active, Err(kaifang_proto_device::DeviceError::Aliyun(e))
//!     if e.code == kaifang_proto_device::AliyunCode::DeviceAlreadyActive));
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```

use alloc::string::String;
use core::fmt;

use kaifang_sign_core::aliyun::register_sign;
use kaifang_sign_core::hex::HexString;

use crate::config::DeviceConfig;
use crate::error::DeviceError;
use crate::iot_auth::{self, push_pair};
use crate::json;
use crate::secret::{DeviceSecret, ProductSecret};

/// The path.
pub const REGISTER_PATH: &str = "/auth/register/device";
/// The only `signMethod` of dynamic registration.
pub const SIGN_METHOD: &str = "hmacsha256";
/// The length of `random` Aliyun's SDKs draw (any 1..=64 alphanumerics are accepted here).
pub const RANDOM_LEN: usize = 15;

/// A dynamic-registration request.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    product_key: String,
    device_name: String,
    product_secret: ProductSecret,
    random: String,
}

impl fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("product_secret", &self.product_secret)
            .field("random", &self.random)
            .finish()
    }
}

impl RegisterRequest {
    /// For a 一型一密 configuration and a caller-drawn `random` (15 alphanumerics, as Aliyun's
    /// SDKs draw; firmware takes them from its hardware RNG).
    ///
    /// # Errors
    /// [`DeviceError::NoProductSecret`], or [`DeviceError::Input`] for a bad `random`.
    pub fn new(config: &DeviceConfig, random: &str) -> Result<Self, DeviceError> {
        let product_secret = config
            .product_secret
            .clone()
            .ok_or(DeviceError::NoProductSecret)?;
        Self::from_parts(
            &config.product_key,
            &config.device_name,
            product_secret,
            random,
        )
    }

    /// From the parts.
    ///
    /// # Errors
    /// [`DeviceError::Input`] for an empty value or a `random` that is not 1..=64 ASCII
    /// alphanumerics.
    pub fn from_parts(
        product_key: &str,
        device_name: &str,
        product_secret: ProductSecret,
        random: &str,
    ) -> Result<Self, DeviceError> {
        for (field, value) in [("productKey", product_key), ("deviceName", device_name)] {
            if value.is_empty() {
                return Err(DeviceError::Input {
                    field,
                    reason: "must not be empty",
                });
            }
        }
        if product_secret.is_empty() {
            return Err(DeviceError::NoProductSecret);
        }
        if random.is_empty()
            || random.len() > 64
            || !random.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(DeviceError::Input {
                field: "random",
                reason: "must be 1..=64 ASCII letters and digits (Aliyun SDKs use 15)",
            });
        }
        Ok(RegisterRequest {
            product_key: String::from(product_key),
            device_name: String::from(device_name),
            product_secret,
            random: String::from(random),
        })
    }

    /// `productKey`.
    pub fn product_key(&self) -> &str {
        &self.product_key
    }

    /// `deviceName`.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// `random`.
    pub fn random(&self) -> &str {
        &self.random
    }

    /// The signature (lower-case hex HMAC-SHA256).
    pub fn sign(&self) -> HexString<64> {
        register_sign(
            &self.product_key,
            &self.device_name,
            self.product_secret.expose_secret(),
            &self.random,
        )
    }

    /// The string the signature covers (no secret in it).
    pub fn string_to_sign(&self) -> String {
        let mut s = String::new();
        for part in [
            "deviceName",
            &self.device_name,
            "productKey",
            &self.product_key,
            "random",
            &self.random,
        ] {
            s.push_str(part);
        }
        s
    }

    /// The form body.
    pub fn body(&self) -> String {
        let mut body = String::new();
        push_pair(&mut body, "productKey", &self.product_key);
        push_pair(&mut body, "deviceName", &self.device_name);
        push_pair(&mut body, "random", &self.random);
        push_pair(&mut body, "sign", self.sign().as_str());
        push_pair(&mut body, "signMethod", SIGN_METHOD);
        body
    }

    /// `{auth_host}/auth/register/device`.
    pub fn url(&self, auth_host: &str) -> String {
        iot_auth::join_url(auth_host, REGISTER_PATH)
    }

    /// The headers besides `Content-Type` ([`iot_auth::FORM_CONTENT_TYPE`]).
    pub fn extra_headers(&self) -> [(&'static str, &'static str); 1] {
        [("Accept", iot_auth::ACCEPT)]
    }
}

/// A successful registration's `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// `productKey`.
    pub product_key: String,
    /// `deviceName`.
    pub device_name: String,
    /// `deviceSecret`.
    pub device_secret: DeviceSecret,
}

/// Parses the answer of `/auth/register/device`.
///
/// # Errors
/// [`DeviceError::Aliyun`] for codes other than 200 (`6289` = already active); JSON and shape
/// errors.
pub fn parse_register_response(body: &[u8]) -> Result<Registered, DeviceError> {
    let data = iot_auth::parse_envelope(body)?;
    Ok(Registered {
        product_key: String::from(json::required_str(&data, "productKey", "data.productKey")?),
        device_name: String::from(json::required_str(&data, "deviceName", "data.deviceName")?),
        device_secret: DeviceSecret::from(json::required_str(
            &data,
            "deviceSecret",
            "data.deviceSecret",
        )?),
    })
}

impl DeviceConfig {
    /// This configuration with the DeviceSecret obtained by dynamic registration (the
    /// ProductSecret is kept, so the device can register again while unactivated).
    ///
    /// # Errors
    /// [`DeviceError::Mismatch`] when the answer names another product or device.
    pub fn registered(mut self, registered: Registered) -> Result<Self, DeviceError> {
        if registered.product_key != self.product_key {
            return Err(DeviceError::Mismatch {
                field: "productKey",
            });
        }
        if registered.device_name != self.device_name {
            return Err(DeviceError::Mismatch {
                field: "deviceName",
            });
        }
        self.device_secret = Some(registered.device_secret);
        Ok(self)
    }
}
