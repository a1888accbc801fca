//! Aliyun IoT device credentials: MQTT direct-connect parameters and the 一型一密
//! dynamic-registration signature.
//!
//! MQTT (Aliyun's "MQTT-TCP 连接通信" document):
//! - clientId: `{client_id}|securemode={2|3},signmethod={method}[,timestamp={ms}]|`
//! - username: `{deviceName}&{productKey}`
//! - password: `hex(HMAC_{method}(deviceSecret, "clientId" + client_id + "deviceName" + dn +
//!   "productKey" + pk [+ "timestamp" + ts]))`, lower case (the server accepts either case).
//!
//! Dynamic registration: `sign = hex(HMAC-SHA256(productSecret, "deviceName" + dn + "productKey" +
//! pk + "random" + random))`.
//!
//! ```
//! use kaifang_sign_core::aliyun::{MqttSign, SecureMode, SignMethod};
//!
//! let sign = MqttSign {
//!     product_key: "pk", device_name: "device", device_secret: "secret",
//!     client_id: "12345", timestamp: Some(789),
//!     sign_method: SignMethod::HmacSha1, secure_mode: SecureMode::Tcp,
//! };
//! let mut buf = [0u8; 128];
//! let creds = sign.credentials(&mut buf)?;
//! assert_eq!(creds.client_id, "12345|securemode=3,signmethod=hmacsha1,timestamp=789|");
//! assert_eq!(creds.username, "device&pk");
//! assert_eq!(creds.password.as_str(), "fafd82a3d602b37fb0fa8b7892f24a477f851a14");
//! # Ok::<(), kaifang_sign_core::Error>(())
//! ```

use core::fmt;

use crate::error::Error;
use crate::hex::{HexCase, HexString};
use crate::mac::{HmacMd5Key, HmacSha1Key, HmacSha256Key};
use crate::writer::{Decimal, SliceWriter};

/// The HMAC that signs the MQTT password (`signmethod`). Aliyun's default is `hmacmd5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignMethod {
    /// `hmacmd5` (the default when none is given).
    #[default]
    HmacMd5,
    /// `hmacsha1`.
    HmacSha1,
    /// `hmacsha256`.
    HmacSha256,
}

impl SignMethod {
    /// The wire name: `hmacmd5`, `hmacsha1` or `hmacsha256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignMethod::HmacMd5 => "hmacmd5",
            SignMethod::HmacSha1 => "hmacsha1",
            SignMethod::HmacSha256 => "hmacsha256",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    pub fn parse(name: &str) -> Option<Self> {
        [
            SignMethod::HmacMd5,
            SignMethod::HmacSha1,
            SignMethod::HmacSha256,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// HMAC of the concatenated `parts` under `key`, as lower-case hex.
    pub fn hex_mac(self, key: &[u8], parts: &[&[u8]]) -> HexString<64> {
        match self {
            SignMethod::HmacMd5 => {
                HexString::encode(&HmacMd5Key::new(key).sign_parts(parts), HexCase::Lower)
            }
            SignMethod::HmacSha1 => {
                HexString::encode(&HmacSha1Key::new(key).sign_parts(parts), HexCase::Lower)
            }
            SignMethod::HmacSha256 => {
                HexString::encode(&HmacSha256Key::new(key).sign_parts(parts), HexCase::Lower)
            }
        }
    }
}

impl fmt::Display for SignMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `securemode`: 2 for TLS direct connection, 3 for plain TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecureMode {
    /// `securemode=2`: TLS.
    #[default]
    Tls,
    /// `securemode=3`: plain TCP.
    Tcp,
}

impl SecureMode {
    /// The wire digit.
    pub const fn as_u8(self) -> u8 {
        match self {
            SecureMode::Tls => 2,
            SecureMode::Tcp => 3,
        }
    }

    /// From the wire digit.
    pub const fn from_u8(mode: u8) -> Option<Self> {
        match mode {
            2 => Some(SecureMode::Tls),
            3 => Some(SecureMode::Tcp),
            _ => None,
        }
    }
}

/// The inputs of an MQTT direct-connect signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MqttSign<'a> {
    /// ProductKey.
    pub product_key: &'a str,
    /// DeviceName.
    pub device_name: &'a str,
    /// DeviceSecret (the HMAC key). Never printed by `Debug`.
    pub device_secret: &'a str,
    /// The client id before the `|...|` extension (IMEI, MAC, or `pk.dn`).
    pub client_id: &'a str,
    /// Milliseconds; `None` leaves `timestamp` out of both clientId and signature.
    pub timestamp: Option<u64>,
    /// `signmethod`.
    pub sign_method: SignMethod,
    /// `securemode`.
    pub secure_mode: SecureMode,
}

impl fmt::Debug for MqttSign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSign")
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("device_secret", &"[redacted]")
            .field("client_id", &self.client_id)
            .field("timestamp", &self.timestamp)
            .field("sign_method", &self.sign_method)
            .field("secure_mode", &self.secure_mode)
            .finish()
    }
}

/// MQTT connect credentials; `client_id` and `username` borrow the caller's buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MqttCredentials<'a> {
    /// The MQTT clientId with its `|securemode=...|` extension.
    pub client_id: &'a str,
    /// The MQTT username, `deviceName&productKey`.
    pub username: &'a str,
    /// The MQTT password (lower-case hex). Never printed by `Debug`.
    pub password: HexString<64>,
}

impl fmt::Debug for MqttCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttCredentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl<'a> MqttSign<'a> {
    /// Bytes needed for [`MqttSign::credentials`]' buffer (clientId plus username).
    pub fn buffer_len(&self) -> usize {
        self.client_id_len() + self.device_name.len() + 1 + self.product_key.len()
    }

    fn client_id_len(&self) -> usize {
        let ts = self.timestamp.map_or(0, |t| {
            ",timestamp=".len() + Decimal::new(t).as_bytes().len()
        });
        self.client_id.len()
            + "|securemode=2,signmethod=".len()
            + self.sign_method.as_str().len()
            + ts
            + 1
    }

    /// Writes the MQTT clientId into `out`.
    pub fn client_id_into<'b>(&self, out: &'b mut [u8]) -> Result<&'b str, Error> {
        let mut w = SliceWriter::new(out);
        w.reserve_total(self.client_id_len())?;
        w.push(self.client_id.as_bytes())?;
        w.push(b"|securemode=")?;
        w.push(&[b'0' + self.secure_mode.as_u8()])?;
        w.push(b",signmethod=")?;
        w.push(self.sign_method.as_str().as_bytes())?;
        if let Some(ts) = self.timestamp {
            w.push(b",timestamp=")?;
            w.push(Decimal::new(ts).as_bytes())?;
        }
        w.push(b"|")?;
        Ok(w.into_str())
    }

    /// Writes the MQTT username, `deviceName&productKey`, into `out`.
    pub fn username_into<'b>(&self, out: &'b mut [u8]) -> Result<&'b str, Error> {
        let mut w = SliceWriter::new(out);
        w.reserve_total(self.device_name.len() + 1 + self.product_key.len())?;
        w.push(self.device_name.as_bytes())?;
        w.push(b"&")?;
        w.push(self.product_key.as_bytes())?;
        Ok(w.into_str())
    }

    /// The MQTT password: the signature over the sorted submitted parameters.
    pub fn password(&self) -> HexString<64> {
        let ts = self.timestamp.map(Decimal::new);
        let ts_bytes = ts.as_ref().map_or(&[][..], Decimal::as_bytes);
        let ts_name: &[u8] = if ts.is_some() { b"timestamp" } else { b"" };
        self.sign_method.hex_mac(
            self.device_secret.as_bytes(),
            &[
                b"clientId",
                self.client_id.as_bytes(),
                b"deviceName",
                self.device_name.as_bytes(),
                b"productKey",
                self.product_key.as_bytes(),
                ts_name,
                ts_bytes,
            ],
        )
    }

    /// clientId, username and password at once; `buf` needs [`MqttSign::buffer_len`] bytes.
    pub fn credentials<'b>(&self, buf: &'b mut [u8]) -> Result<MqttCredentials<'b>, Error> {
        crate::error::ensure_capacity(self.buffer_len(), buf)?;
        let (id_buf, user_buf) = buf.split_at_mut(self.client_id_len());
        let client_id = self.client_id_into(id_buf)?;
        let username = self.username_into(user_buf)?;
        Ok(MqttCredentials {
            client_id,
            username,
            password: self.password(),
        })
    }
}

/// The 一型一密 dynamic-registration signature (`signMethod=hmacsha256`), lower-case hex.
pub fn register_sign(
    product_key: &str,
    device_name: &str,
    product_secret: &str,
    random: &str,
) -> HexString<64> {
    SignMethod::HmacSha256.hex_mac(
        product_secret.as_bytes(),
        &[
            b"deviceName",
            device_name.as_bytes(),
            b"productKey",
            product_key.as_bytes(),
            b"random",
            random.as_bytes(),
        ],
    )
}
