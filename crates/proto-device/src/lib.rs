//! # kaifang-proto-device — provisioning a cellular device and connecting it to Aliyun IoT
//!
//! A cellular module (QuecPython's `PointAccess` component is the reference) asks the customer's
//! own HTTPS server for its Aliyun IoT identity, posting its IMEI/ICCID as JSON; the answer is
//! `{"code":"00000","result":{"device":{productKey, deviceName, deviceSecret[, productSecret]},
//! "connect":{qos, host, cleanSession}}}`. With a ProductSecret only (一型一密), the device then
//! registers itself with Aliyun (`/auth/register/device`) to get its DeviceSecret; finally it
//! computes its MQTT credentials (or trades them for a token at `/auth/devicename`).
//!
//! This crate is that whole client in `#![no_std]` + `alloc` code, usable from firmware through
//! its own HTTP stack ([`modem::HttpPost`]); with `std`, the same steps are sans-IO exchanges for
//! the kaifang transports; with `server`, it is also the other side.
//!
//! ```
//! use kaifang_proto_device::{parse_response, MqttOptions, ProvisionRequest, SecureMode, SignMethod};
//!
//! // 1. The request: `{"imei": "…"}` exactly as Python's json.dumps writes it.
//! let request = ProvisionRequest::new().imei("490154203237518")?;
//! assert_eq!(request.to_json(), br#"{"imei": "490154203237518"}"#);
//!
//! // 2. The answer (send the request with any HTTP stack, or see `modem` and `exchange`).
//! let answer = br#"{"code":"00000","result":{"device":{"productKey":"pk","deviceName":"device",
//!     "deviceSecret":"secret"},"connect":{"qos":1,"host":"","cleanSession":1}}}"#;
//! let config = parse_response(answer)?.into_config()?;
//!
//! // 3. MQTT credentials (Aliyun's documented vector).
//! let mqtt = config.mqtt_connect(
//!     &MqttOptions::new().client_id("12345").timestamp(789)
//!         .sign_method(SignMethod::HmacSha1).secure_mode(SecureMode::Tcp),
//! )?;
//! assert_eq!(mqtt.client_id, "12345|securemode=3,signmethod=hmacsha1,timestamp=789|");
//! assert_eq!(mqtt.password.expose_secret(), "fafd82a3d602b37fb0fa8b7892f24a477f851a14");
//! # Ok::<(), kaifang_proto_device::DeviceError>(())
//! ```
//!
//! | module | job |
//! |---|---|
//! | [`ids`] | `Imei` (15 digits, Luhn) and `Iccid` (19–20 digits, optional final `F`) |
//! | [`request`] | `ProvisionRequest`: the insertion-ordered JSON object the device posts |
//! | [`python_json`] | `PythonJson`: byte-exact `json.dumps` output |
//! | [`response`] | `parse_response` → `ProvisionOutcome`; `PointAccess`, the seed's semantics |
//! | [`config`] | `DeviceConfig`, `Connect`, `Qos`, `Endpoint`: the validated answer |
//! | [`mqtt`] | `MqttOptions` → `MqttConnect` (clientId, username, password, host, keep-alive) |
//! | [`dynreg`] | 一型一密 dynamic registration: `RegisterRequest`, `parse_register_response` |
//! | [`devicename`] | HTTPS pre-auth: `DeviceNameAuth`, `parse_devicename_response`, `DeviceToken` |
//! | [`iot_auth`] | the Aliyun auth host: URL, form encoding, headers |
//! | [`modem`] | firmware: `HttpPost`, `provision_with`, `register_with`, `authenticate_with`, `RecordingModem` |
//! | [`codes`] | `ResultCode` (seed), kaifang server codes, `AliyunCode` |
//! | [`secret`] | `DeviceSecret`, `ProductSecret`, `IotToken`, `MqttPassword`: redacted, zeroized |
//! | [`error`] | `DeviceError<E>`: typed, secret-free |
//! | `exchange` (`std`) | `Provision`, `Register`, `Authenticate`: `Exchange`s for the transports |
//! | `server` (`server`) | the server half: `DeviceRegistry`, provisioning, `/auth/register/device`, `/auth/devicename` |
//!
//! ## Features
//!
//! | Feature | Default | Adds |
//! |---|---|---|
//! | `std` | yes | `exchange`: kaifang-proto-core `Exchange` impls (and `http`) |
//! | `server` | no | `server` (implies `std`) |
//!
//! Without `std` the crate is `#![no_std]` and needs `alloc` only (serde and serde_json with
//! `alloc`, `kaifang-sign-core` without features). Time and randomness are always arguments:
//! firmware passes its RTC's milliseconds and its RNG's alphanumerics.
//!
//! ## Secrets
//! DeviceSecret, ProductSecret, iotToken and MQTT passwords live in newtypes whose `Debug` prints
//! `[redacted]` and which have no `Display`; no error message contains one.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

pub mod codes;
pub mod config;
pub mod devicename;
pub mod dynreg;
pub mod error;
#[cfg(feature = "std")]
pub mod exchange;
pub mod ids;
pub mod iot_auth;
mod json;
pub mod modem;
pub mod mqtt;
pub mod python_json;
pub mod request;
pub mod response;
pub mod secret;
#[cfg(feature = "server")]
pub mod server;

pub use codes::{AliyunCode, AliyunError, ResultCode};
pub use config::{AuthMode, Connect, DeviceConfig, Endpoint, Qos};
pub use error::{DeviceError, JsonError, JsonErrorKind};
pub use ids::{Iccid, IccidError, Imei, ImeiError};
pub use kaifang_sign_core::aliyun::{SecureMode, SignMethod};
pub use mqtt::{MqttConnect, MqttOptions};
pub use python_json::PythonJson;
pub use request::ProvisionRequest;
pub use response::{PointAccess, ProvisionOutcome, parse_response};
pub use secret::{DeviceSecret, IotToken, MqttPassword, ProductSecret};
