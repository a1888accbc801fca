//! A `#![no_std]` firmware using kaifang-proto-device through its modem's HTTP stack.
//!
//! [`provision_and_connect`] is what a cellular device runs at boot: post its IMEI/ICCID to the
//! customer's provisioning server, register itself with Aliyun if it only got a ProductSecret
//! (一型一密), and compute its MQTT CONNECT parameters. It is generic over
//! [`HttpPost`](kaifang_proto_device::modem::HttpPost), the trait a firmware implements over its
//! AT commands or TCP/TLS stack.
//!
//! The exported `extern "C"` functions run that flow against
//! [`RecordingModem`](kaifang_proto_device::modem::RecordingModem) (scripted answers, every
//! request recorded) so that this staticlib links the whole client path: building it proves that
//! kaifang-proto-device needs no `std`. There is no `std` anywhere: our own panic handler,
//! `panic = "abort"`, and a static bump allocator for `alloc`. If `std` reached the graph its
//! `panic_impl` would clash with ours; the `canary-std` and `canary-device-std` features do that
//! on purpose.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(feature = "canary-std")]
extern crate std;

pub mod bump;

use alloc::string::String;
use core::fmt::{self, Write as _};
use core::panic::PanicInfo;

use kaifang_proto_device::devicename::DeviceNameAuth;
use kaifang_proto_device::modem::{
    HttpPost, RecordingModem, authenticate_with, provision_with, register_with,
};
use kaifang_proto_device::{
    DeviceConfig, DeviceError, MqttConnect, MqttOptions, ProvisionRequest, SecureMode, SignMethod,
    parse_response,
};

#[global_allocator]
static HEAP: bump::BumpAllocator = bump::BumpAllocator::new();

/// Our own panic handler: the one `std` would duplicate. Nothing in this crate panics on
/// purpose; kaifang-proto-device returns typed errors for bad input.
#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// What the device knows about itself and its environment at boot.
pub struct Boot<'a> {
    /// The customer's provisioning URL.
    pub provision_url: &'a str,
    /// Aliyun's auth host, e.g. `https://iot-auth.cn-shanghai.aliyuncs.com`.
    pub auth_host: &'a str,
    /// The module's IMEI (`AT+GSN`).
    pub imei: &'a str,
    /// The SIM's ICCID (`AT+QCCID`).
    pub iccid: &'a str,
    /// 15 alphanumerics from the hardware RNG, for dynamic registration.
    pub random: &'a str,
    /// Milliseconds since the epoch from the network clock (`AT+CCLK`), signed into the MQTT
    /// clientId.
    pub now_ms: u64,
}

/// Provisions, registers when needed, and returns the MQTT CONNECT parameters.
///
/// # Errors
/// Whatever step failed, typed: the modem's error, a refusal code, an Aliyun code (6289 when a
/// 一型一密 device lost its secret after activation), or a malformed answer.
pub fn provision_and_connect<M: HttpPost>(
    modem: &mut M,
    boot: &Boot<'_>,
) -> Result<(DeviceConfig, MqttConnect), DeviceError<M::Error>> {
    let request = ProvisionRequest::new()
        .imei(boot.imei)
        .and_then(|r| r.iccid(boot.iccid))
        .map(|r| r.field("fw", env!("CARGO_PKG_VERSION")))
        .map_err(DeviceError::widen)?;
    let config = provision_with(modem, boot.provision_url, &request)?;
    // A no-op (no request) when the server handed out a DeviceSecret.
    let config = register_with(modem, boot.auth_host, config, boot.random)?;
    let mqtt = config
        .mqtt_connect(
            &MqttOptions::new()
                .client_id(boot.imei)
                .timestamp(boot.now_ms)
                .sign_method(SignMethod::HmacSha256)
                .secure_mode(SecureMode::Tcp),
        )
        .map_err(DeviceError::widen)?;
    Ok((config, mqtt))
}

// ---------------------------------------------------------------------------------------------
// Exported entry points (scripted modem), folding every result into a checksum.

/// Folds bytes into a checksum (FNV-1a).
fn fold(acc: u64, data: &[u8]) -> u64 {
    data.iter().fold(acc ^ 0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A `fmt::Write` sink folding its input (no allocation).
struct Sink(u64);

impl fmt::Write for Sink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = fold(self.0, s.as_bytes());
        Ok(())
    }
}

fn fold_display(acc: u64, value: &dyn fmt::Display) -> u64 {
    let mut sink = Sink(acc);
    let _ = write!(sink, "{value}");
    sink.0
}

fn fold_debug(acc: u64, value: &dyn fmt::Debug) -> u64 {
    let mut sink = Sink(acc);
    let _ = write!(sink, "{value:?}");
    sink.0
}

fn fold_mqtt(acc: u64, mqtt: &MqttConnect) -> u64 {
    let mut acc = fold(acc, mqtt.host.as_bytes());
    acc = fold(acc, &mqtt.port.to_le_bytes());
    acc = fold(acc, mqtt.client_id.as_bytes());
    acc = fold(acc, mqtt.username.as_bytes());
    acc = fold(acc, mqtt.password.expose_secret().as_bytes());
    fold_debug(acc, mqtt)
}

const PROVISION_DYNAMIC: &[u8] = br#"{"code":"00000","result":{"device":{"productKey":"a1csED27mp7","deviceName":"AdvExample_dyn1","deviceSecret":"","productSecret":"VuULINCrtTAzCSzp"},"connect":{"qos":1,"host":"","cleanSession":1}}}"#;
const REGISTERED: &[u8] = br#"{"code":200,"data":{"deviceName":"AdvExample_dyn1","deviceSecret":"ximd4xyeAjtHp5lsz3A5okefnJMYtQTP","productKey":"a1csED27mp7"},"message":"success"}"#;
const TOKEN: &[u8] = br#"{"code":200,"data":{"iotId":"42Ze0mk3556498a1AlTP","iotToken":"0d7fdeb9dc1f4344a2cc0d45edcb0bcb","resources":{"mqtt":{"host":"a1csED27mp7.iot-as-mqtt.cn-shanghai.aliyuncs.com","port":1883}}},"message":"success"}"#;

/// The whole boot flow of a 一型一密 device against scripted answers: provisioning, dynamic
/// registration, MQTT credentials, then `/auth/devicename`; `now_ms` is the clock. Returns a
/// checksum of everything computed and of every request sent.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_firmware_boot(now_ms: u64) -> u64 {
    let mut modem = RecordingModem::new();
    modem
        .respond(200, PROVISION_DYNAMIC)
        .respond(200, REGISTERED)
        .respond(200, TOKEN);
    let boot = Boot {
        provision_url: "https://iot.example.com/api/device/access",
        auth_host: "https://iot-auth.cn-shanghai.aliyuncs.com",
        imei: "490154203237518",
        iccid: "89860012345678901234",
        random: "2HyP9O70q5t9VuX",
        now_ms,
    };
    let mut acc = fold(0, &now_ms.to_le_bytes());
    match provision_and_connect(&mut modem, &boot) {
        Ok((config, mqtt)) => {
            acc = fold_mqtt(acc, &mqtt);
            acc = fold_debug(acc, &config);
            match DeviceNameAuth::new(&config, boot.imei, Some(now_ms), SignMethod::HmacSha1) {
                Ok(auth) => match authenticate_with(&mut modem, boot.auth_host, &auth) {
                    Ok(token) => match token.mqtt_connect(boot.imei, 300, true) {
                        Ok(mqtt) => acc = fold_mqtt(acc, &mqtt),
                        Err(e) => acc = fold_display(acc, &e),
                    },
                    Err(e) => acc = fold_display(acc, &e),
                },
                Err(e) => acc = fold_display(acc, &e),
            }
        }
        Err(e) => acc = fold_display(acc, &e),
    }
    for request in modem.requests() {
        acc = fold(acc, request.url.as_bytes());
        acc = fold(acc, request.content_type.as_bytes());
        acc = fold(acc, &request.body);
    }
    acc
}

/// Aliyun's documented MQTT vector through the high-level API: returns 1 when the password
/// computed from a provisioning answer equals `fafd82a3…` (hmacsha1), else 0.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_firmware_vector() -> u32 {
    let answer = br#"{"code":"00000","result":{"device":{"productKey":"pk","deviceName":"device","deviceSecret":"secret"},"connect":{"qos":1,"host":"","cleanSession":1}}}"#;
    let Ok(config) = parse_response(answer).and_then(|o| o.into_config()) else {
        return 0;
    };
    let options = MqttOptions::new()
        .client_id("12345")
        .timestamp(789)
        .sign_method(SignMethod::HmacSha1)
        .secure_mode(SecureMode::Tcp);
    match config.mqtt_connect(&options) {
        Ok(mqtt) => u32::from(
            mqtt.password.expose_secret() == "fafd82a3d602b37fb0fa8b7892f24a477f851a14"
                && mqtt.client_id == "12345|securemode=3,signmethod=hmacsha1,timestamp=789|"
                && mqtt.username == "device&pk",
        ),
        Err(_) => 0,
    }
}

/// A failing modem and refusal codes: the error paths link too. Returns a checksum of the
/// error texts (which never contain secrets).
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_firmware_errors(seed: u64) -> u64 {
    let mut modem = RecordingModem::new();
    modem
        .fail()
        .respond(200, br#"{"code":"10001","message":"unknown device"}"#)
        .respond(502, b"<html>Bad Gateway</html>")
        .respond(
            200,
            br#"{"code":6289,"message":"device is already active"}"#,
        );
    let mut imei = String::from("49015420323751");
    imei.push(char::from(b'0' + (seed % 10) as u8));
    let mut acc = 0;
    for _ in 0..3 {
        let request = ProvisionRequest::new()
            .imei(&imei)
            .map_err(DeviceError::widen);
        let result = request.and_then(|r| provision_with(&mut modem, "https://h/p", &r));
        match result {
            Ok(config) => acc = fold_debug(acc, &config),
            Err(e) => acc = fold_display(acc, &e),
        }
    }
    if let Ok(config) =
        DeviceConfig::with_product_secret("a1csED27mp7", "AdvExample_dyn1", "VuULINCrtTAzCSzp")
    {
        match register_with(&mut modem, "https://h", config, "2HyP9O70q5t9VuX") {
            Ok(config) => acc = fold_debug(acc, &config),
            Err(e) => acc = fold_display(acc, &e),
        }
    }
    acc
}

/// The heap's high-water mark in bytes (how much of [`bump::HEAP_SIZE`] the flow needs).
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_firmware_heap_peak() -> usize {
    HEAP.peak()
}
