//! Firmware without `std`: the [`HttpPost`] trait stands for the modem's HTTP stack (AT
//! commands, a vendor SDK, an embedded TCP/TLS stack), and [`provision_with`],
//! [`register_with`] and [`authenticate_with`] run the whole exchange through it.
//! [`RecordingModem`] is a test double that records every request byte for byte.
//!
//! ```
//! use kaifang_proto_device::modem::{RecordingModem, provision_with};
//! use kaifang_proto_device::{MqttOptions, ProvisionRequest};
//!
//! let mut modem = RecordingModem::new();
//! modem.respond(200, br#"{"code":"00000","result":{"device":{"productKey":"pk","deviceName":"device",
//!     "deviceSecret":"secret"},"connect":{"qos":1,"host":"","cleanSession":1}}}"#);
//! let request = ProvisionRequest::new().imei("490154203237518")?;
//! let config = provision_with(&mut modem, "https://iot.example.com/provision", &request)?;
//! let mqtt = config.mqtt_connect(&MqttOptions::new().client_id("490154203237518"))?;
//! assert_eq!(mqtt.username, "device&pk");
//!
//! let sent = &modem.requests()[0];
//! assert_eq!(sent.content_type, "application/json");
//! assert_eq!(sent.body, br#"{"imei": "490154203237518"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::config::DeviceConfig;
use crate::devicename::{DeviceNameAuth, DeviceToken, parse_devicename_response};
use crate::dynreg::{RegisterRequest, parse_register_response};
use crate::error::DeviceError;
use crate::iot_auth::FORM_CONTENT_TYPE;
use crate::request::{JSON_CONTENT_TYPE, ProvisionRequest};
use crate::response::{MAX_RESPONSE_LEN, ProvisionOutcome, parse_response};

/// One HTTP POST over the device's own HTTP stack.
pub trait HttpPost {
    /// The stack's error (connection, TLS, timeout...).
    type Error;

    /// Sends `POST url` with `Content-Type: content_type`, the `extra_headers`, and `body`;
    /// appends the response body to `response` (empty on entry) and returns the HTTP status.
    /// Implementations should stop reading past
    /// [`MAX_RESPONSE_LEN`] bytes (the caller rejects longer bodies anyway).
    ///
    /// # Errors
    /// The stack's error when no complete response arrived.
    fn post(
        &mut self,
        url: &str,
        content_type: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<u16, Self::Error>;
}

impl<T: HttpPost + ?Sized> HttpPost for &mut T {
    type Error = T::Error;

    fn post(
        &mut self,
        url: &str,
        content_type: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<u16, Self::Error> {
        (**self).post(url, content_type, extra_headers, body, response)
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Maps a parse error of a non-2xx answer to [`DeviceError::HttpStatus`]: a gateway's HTML error
/// page is a status problem, not a JSON one.
fn status_or<T, E>(status: u16, parsed: Result<T, DeviceError>) -> Result<T, DeviceError<E>> {
    match parsed {
        Err(DeviceError::Json(_) | DeviceError::Shape { .. } | DeviceError::TooLarge { .. })
            if !is_success(status) =>
        {
            Err(DeviceError::HttpStatus { status })
        }
        other => other.map_err(DeviceError::widen),
    }
}

pub(crate) fn post_provision<M: HttpPost>(
    modem: &mut M,
    url: &str,
    request: &ProvisionRequest,
    extra_headers: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), M::Error> {
    let mut response = Vec::new();
    let status = modem.post(
        url,
        JSON_CONTENT_TYPE,
        extra_headers,
        &request.to_json(),
        &mut response,
    )?;
    Ok((status, response))
}

/// Posts `request` to the customer's provisioning `url` as the seed does (JSON body,
/// `Content-Type: application/json`) and returns the configuration.
///
/// # Errors
/// [`DeviceError::Modem`] when the stack fails (the seed's `"77777"`),
/// [`DeviceError::Refused`] for a code other than `"00000"`, [`DeviceError::HttpStatus`] for a
/// non-2xx status without an answer, JSON and shape errors.
pub fn provision_with<M: HttpPost>(
    modem: &mut M,
    url: &str,
    request: &ProvisionRequest,
) -> Result<DeviceConfig, DeviceError<M::Error>> {
    let (status, body) = post_provision(modem, url, request, &[]).map_err(DeviceError::Modem)?;
    let outcome: ProvisionOutcome = status_or(status, parse_response(&body))?;
    outcome.into_config().map_err(DeviceError::widen)
}

/// Runs dynamic registration for a 一型一密 configuration against `auth_host`
/// (`https://iot-auth.cn-shanghai.aliyuncs.com`, see
/// [`iot_auth::auth_host`](crate::iot_auth::auth_host)) with a caller-drawn `random`, and
/// returns the configuration with its DeviceSecret. A configuration that already has one is
/// returned unchanged without any request.
///
/// # Errors
/// [`DeviceError::Aliyun`] (`6289` when the device is already active), [`DeviceError::Modem`],
/// [`DeviceError::NoProductSecret`], [`DeviceError::Input`] for a bad `random`.
pub fn register_with<M: HttpPost>(
    modem: &mut M,
    auth_host: &str,
    config: DeviceConfig,
    random: &str,
) -> Result<DeviceConfig, DeviceError<M::Error>> {
    if config.device_secret.is_some() {
        return Ok(config);
    }
    let request = RegisterRequest::new(&config, random).map_err(DeviceError::widen)?;
    let mut response = Vec::new();
    let status = modem
        .post(
            &request.url(auth_host),
            FORM_CONTENT_TYPE,
            &request.extra_headers(),
            request.body().as_bytes(),
            &mut response,
        )
        .map_err(DeviceError::Modem)?;
    let registered = status_or(status, parse_register_response(&response))?;
    config.registered(registered).map_err(DeviceError::widen)
}

/// Runs `/auth/devicename` against `auth_host` and returns the iotId/iotToken.
///
/// # Errors
/// [`DeviceError::Aliyun`], [`DeviceError::Modem`], JSON and shape errors.
pub fn authenticate_with<M: HttpPost>(
    modem: &mut M,
    auth_host: &str,
    auth: &DeviceNameAuth,
) -> Result<DeviceToken, DeviceError<M::Error>> {
    let mut response = Vec::new();
    let status = modem
        .post(
            &auth.url(auth_host),
            FORM_CONTENT_TYPE,
            &[("Accept", crate::iot_auth::ACCEPT)],
            auth.body().as_bytes(),
            &mut response,
        )
        .map_err(DeviceError::Modem)?;
    status_or(status, parse_devicename_response(&response))
}

/// One request as [`RecordingModem`] received it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The URL.
    pub url: String,
    /// The `Content-Type`.
    pub content_type: String,
    /// The other headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl fmt::Debug for RecordedRequest {
    // Bodies carry signatures; show their length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("url", &self.url)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The error of [`RecordingModem`] when no response is queued (or a failure was queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoResponse;

impl fmt::Display for NoResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no response (connection failed)")
    }
}

impl core::error::Error for NoResponse {}

/// A test double of the modem: records every request and answers from a queue. Works without
/// `std`, so firmware tests and the host tests use the same double.
#[derive(Debug, Default)]
pub struct RecordingModem {
    requests: Vec<RecordedRequest>,
    responses: VecDeque<Option<(u16, Vec<u8>)>>,
}

impl RecordingModem {
    /// A modem with no queued responses.
    pub fn new() -> Self {
        RecordingModem::default()
    }

    /// Queues a response.
    pub fn respond(&mut self, status: u16, body: &[u8]) -> &mut Self {
        self.responses.push_back(Some((status, body.to_vec())));
        self
    }

    /// Queues a connection failure ([`NoResponse`]).
    pub fn fail(&mut self) -> &mut Self {
        self.responses.push_back(None);
        self
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> &[RecordedRequest] {
        &self.requests
    }
}

impl HttpPost for RecordingModem {
    type Error = NoResponse;

    fn post(
        &mut self,
        url: &str,
        content_type: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<u16, NoResponse> {
        self.requests.push(RecordedRequest {
            url: String::from(url),
            content_type: String::from(content_type),
            headers: extra_headers
                .iter()
                .map(|(k, v)| (String::from(*k), String::from(*v)))
                .collect(),
            body: body.to_vec(),
        });
        let (status, body) = self.responses.pop_front().flatten().ok_or(NoResponse)?;
        let keep = body.len().min(MAX_RESPONSE_LEN + 1);
        response.extend_from_slice(&body[..keep]);
        Ok(status)
    }
}
