//! Cellular device provisioning with the blocking transport: ask the provisioning server for the
//! device's Aliyun IoT identity by IMEI, register it dynamically when it only got a
//! ProductSecret (一型一密), and compute its MQTT credentials. Secrets are never printed.
//!
//! Run: `cargo run -p kaifang-examples --example device_provision_blocking`
//!
//! By default it starts kaifang's sandbox in-process and provisions its two built-in devices
//! (one 一机一密, one 一型一密), then does the `/auth/devicename` pre-auth. Against a real
//! provisioning server, set:
//!
//! | variable | meaning |
//! |---|---|
//! | `KAIFANG_DEVICE_PROVISION_URL` | the customer's provisioning URL (`https://…`); switches the example to real mode |
//! | `KAIFANG_DEVICE_IMEI` | the device's IMEI (15 digits, required in real mode) |
//! | `KAIFANG_DEVICE_ICCID` | the SIM's ICCID (optional, sent as `iccid`) |
//! | `KAIFANG_DEVICE_AUTH_HOST` | Aliyun's auth host for dynamic registration (default `https://iot-auth.{region}.aliyuncs.com`) |
//! | `KAIFANG_DEVICE_REGION` | the Aliyun region (default `cn-shanghai`) |
//!
//! In real mode a 一型一密 device is registered with Aliyun for real: it receives a new
//! DeviceSecret, which a device must then keep (QuecPython writes it to `secret.json`).
//! The process exits non-zero on any failure.

use std::error::Error;

use kaifang::blocking::{BlockingClient, TransportConfig};
use kaifang::device::exchange::{Authenticate, Provision, Register};
use kaifang::device::iot_auth::auth_host;
use kaifang::device::mqtt::DEFAULT_REGION;
use kaifang::device::{AuthMode, DeviceConfig, MqttConnect, MqttOptions, ProvisionRequest};
use kaifang::sandbox::Sandbox;
use kaifang::sandbox::platforms::device::{self as sandbox_device, DeviceModule};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Provisions `imei` (and `iccid`), registering the device when it got a ProductSecret only.
fn provision(
    client: &BlockingClient,
    url: &str,
    auth_host: &str,
    imei: &str,
    iccid: Option<&str>,
) -> Result<DeviceConfig> {
    let mut request = ProvisionRequest::new().imei(imei)?;
    if let Some(iccid) = iccid {
        request = request.iccid(iccid)?;
    }
    let config = client.execute(&Provision::new(url, request))?;
    println!(
        "provisioned      {}/{} ({:?}, qos {}, cleanSession {})",
        config.product_key,
        config.device_name,
        config.auth_mode(),
        config.connect.qos.as_u8(),
        config.connect.clean_session
    );
    if config.auth_mode() == AuthMode::DeviceSecret {
        return Ok(config);
    }
    // 一型一密: trade the ProductSecret for this device's DeviceSecret.
    let registered = client.execute(&Register::new(auth_host, config))?;
    println!(
        "registered       deviceSecret received ({} characters)",
        registered.device_secret.as_ref().map_or(0, |s| s.len())
    );
    Ok(registered)
}

fn show(mqtt: &MqttConnect) {
    println!("mqtt server      {}:{}", mqtt.host, mqtt.port);
    println!("mqtt clientId    {}", mqtt.client_id);
    println!("mqtt username    {}", mqtt.username);
    println!(
        "mqtt password    [{} characters, not shown]",
        mqtt.password.len()
    );
    println!("mqtt keep-alive  {} s", mqtt.keep_alive);
}

fn real(url: &str) -> Result<()> {
    let imei = env("KAIFANG_DEVICE_IMEI").ok_or("KAIFANG_DEVICE_IMEI is required")?;
    let iccid = env("KAIFANG_DEVICE_ICCID");
    let region = env("KAIFANG_DEVICE_REGION").unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let host = match env("KAIFANG_DEVICE_AUTH_HOST") {
        Some(h) => h,
        None => auth_host(&region)?,
    };
    let client = BlockingClient::new(TransportConfig::default())?;
    let config = provision(&client, url, &host, &imei, iccid.as_deref())?;
    let mqtt = config.mqtt_connect(&MqttOptions::new().region(region).client_id(imei))?;
    show(&mqtt);
    Ok(())
}

fn sandboxed() -> Result<()> {
    let sandbox = Sandbox::builder()
        .module(DeviceModule::default())
        .start_blocking()?;
    let url = sandbox.url(sandbox_device::PROVISION_PATH);
    let base = sandbox.base_url().to_owned();
    println!("sandbox          {base}");
    let client = BlockingClient::new(TransportConfig::default())?;

    println!("\n# 一机一密: the server hands out the DeviceSecret");
    let config = provision(
        &client,
        &url,
        &base,
        sandbox_device::DEVICE_IMEI,
        Some(sandbox_device::DEVICE_ICCID),
    )?;
    show(&config.mqtt_connect(&MqttOptions::new().client_id(sandbox_device::DEVICE_IMEI))?);

    println!("\n# 一型一密: ProductSecret only, then dynamic registration");
    let dynamic = provision(&client, &url, &base, sandbox_device::DYN_DEVICE_IMEI, None)?;
    show(&dynamic.mqtt_connect(&MqttOptions::new())?);

    println!("\n# /auth/devicename: trade the DeviceSecret for an iotId and iotToken");
    let token = client.execute(&Authenticate::new(
        base.as_str(),
        config,
        sandbox_device::DEVICE_IMEI,
    ))?;
    let mqtt = token.mqtt_connect(sandbox_device::DEVICE_IMEI, 300, true)?;
    println!("iotId            {}", token.iot_id);
    show(&mqtt);

    sandbox.shutdown();
    Ok(())
}

fn main() -> Result<()> {
    match env("KAIFANG_DEVICE_PROVISION_URL") {
        Some(url) => real(&url),
        None => sandboxed(),
    }
}
