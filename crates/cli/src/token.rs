//! `kaifang token <platform>`: a token from any server (real or sandbox), printed as JSON.
//!
//! Token values print as `[redacted]` unless `--show-secrets`. Secrets (client secrets,
//! passwords, codes, refresh tokens, tickets) come from `KAIFANG_<PLATFORM>_<NAME>` or the
//! profile, never from flags. For `device`, the token is the provisioning result: the MQTT
//! connect parameters (the password redacted unless `--show-secrets`).

use kaifang::device::exchange::{Provision, Register};
use kaifang::device::{AuthMode, MqttOptions, ProvisionRequest};
use serde_json::json;

use crate::exit::CliError;
use crate::platforms::{self, Platform};
use crate::session::{self, ServerArgs};

/// `kaifang token`.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {
    /// The platform.
    #[arg(value_enum)]
    platform: Platform,
    #[command(flatten)]
    server: ServerArgs,
}

pub(crate) fn run(args: TokenArgs) -> Result<(), CliError> {
    let client = session::client()?;
    let out = match args.platform {
        Platform::Device => device(&args.server, &client)?,
        p => {
            let got = session::token(p, &args.server, &client)?;
            let mut v = platforms::token_json(p, &got.kind, &got.token, args.server.show_secrets);
            v["from_cache"] = json!(got.from_cache);
            v
        }
    };
    println!("{out:#}");
    Ok(())
}

fn device(
    args: &ServerArgs,
    client: &kaifang::blocking::BlockingClient,
) -> Result<serde_json::Value, CliError> {
    let s = args.settings(Platform::Device)?;
    let imei = s.require("imei")?;
    let url = match s.get("provision_url")? {
        Some(u) => u,
        None => format!(
            "{}{}",
            s.require("base_url")?.trim_end_matches('/'),
            kaifang::sandbox::platforms::device::PROVISION_PATH
        ),
    };
    let dev = |e: kaifang::device::DeviceError| CliError::bad_input(e.to_string());
    let request = ProvisionRequest::new().imei(&imei).map_err(dev)?;
    let mut config = client.execute(&Provision::new(url.as_str(), request))?;
    let registered = config.auth_mode() != AuthMode::DeviceSecret;
    if registered {
        // 一型一密: trade the ProductSecret for a DeviceSecret at the auth host.
        let host = match s.get("auth_host")? {
            Some(h) => h,
            None => s.require("base_url")?,
        };
        config = client.execute(&Register::new(host.as_str(), config))?;
    }
    let mqtt = config
        .mqtt_connect(&MqttOptions::new().client_id(&imei))
        .map_err(dev)?;
    Ok(json!({
        "platform": "device",
        "kind": "mqtt",
        "product_key": config.product_key,
        "device_name": config.device_name,
        "dynamic_registration": registered,
        "host": mqtt.host,
        "port": mqtt.port,
        "client_id": mqtt.client_id,
        "username": mqtt.username,
        "password": if args.show_secrets { json!(mqtt.password.expose_secret()) } else { json!("[redacted]") },
        "keep_alive": mqtt.keep_alive,
    }))
}
