//! The five platforms as a command-line value, each one's client built from
//! [`crate::config::Settings`], and a token as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use kaifang::core::token::Token;
use serde_json::{Value, json};

use crate::config::Settings;
use crate::exit::CliError;

/// A platform name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Platform {
    /// Tianyi Shilian VCP (天翼视联).
    Tianyi,
    /// Zhiyun open auth (致云).
    Zhiyun,
    /// Cellular device provisioning (Aliyun IoT triple, MQTT, 一型一密).
    Device,
    /// Transfar open gateway (传化 tf56), OAuth 2.0.
    Tf56,
    /// Virtual-simulation experiment platform (iLab-x style).
    Ilab,
}

impl Platform {
    /// Every platform, in the order of the demo table.
    pub(crate) const ALL: [Platform; 5] = [
        Platform::Tianyi,
        Platform::Zhiyun,
        Platform::Device,
        Platform::Tf56,
        Platform::Ilab,
    ];

    /// The short name (also the profile section and the `KAIFANG_<NAME>_…` prefix).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Platform::Tianyi => "tianyi",
            Platform::Zhiyun => "zhiyun",
            Platform::Device => "device",
            Platform::Tf56 => "tf56",
            Platform::Ilab => "ilab",
        }
    }
}

/// Tianyi: `base_url`, `app_id`, secret `app_secret`; optional `enterprise_user` (platform
/// apps), `version`, `client_type`.
pub(crate) fn tianyi(s: &Settings) -> Result<kaifang::tianyi::Tianyi, CliError> {
    use kaifang::tianyi::{Tianyi, TianyiConfig};
    let mut config = TianyiConfig::new(
        s.require("app_id")?,
        s.require_secret("app_secret")?.expose_secret(),
    );
    if let Some(base) = s.get("base_url")? {
        config = config.base_url(base);
    }
    if let Some(user) = s.get("enterprise_user")? {
        config = config.platform(user);
    }
    if let Some(v) = s.get("version")? {
        config = config.version(v);
    }
    if let Some(t) = s.get("client_type")? {
        let t = t.parse().map_err(|_| {
            CliError::bad_input(format!("tianyi client_type must be a number, not {t:?}"))
        })?;
        config = config.client_type(t);
    }
    Ok(Tianyi::new(config)?)
}

/// Zhiyun: `base_url`, `client_id`, secrets `client_secret` and `access_token`; optional
/// `format` (`json` or `xml`).
pub(crate) fn zhiyun(s: &Settings) -> Result<kaifang::zhiyun::Zhiyun, CliError> {
    use kaifang::zhiyun::{Format, Zhiyun, ZhiyunConfig};
    let mut config = ZhiyunConfig::new(
        s.require("base_url")?,
        s.require("client_id")?,
        s.require_secret("client_secret")?.expose_secret(),
        s.require_secret("access_token")?.expose_secret(),
    );
    match s.get("format")?.as_deref() {
        None | Some("json") => {}
        Some("xml") => config = config.format(Format::Xml),
        Some(other) => {
            return Err(CliError::bad_input(format!(
                "zhiyun format must be json or xml, not {other:?}"
            )));
        }
    }
    Ok(Zhiyun::new(config)?)
}

/// tf56: `client_id`, secret `client_secret`; optional `base_url`, `token_url`,
/// `redirect_uri`, `scope`.
pub(crate) fn tf56(s: &Settings) -> Result<kaifang::tf56::Tf56, CliError> {
    use kaifang::tf56::{Tf56, Tf56Config};
    let mut config = Tf56Config::new(
        s.require("client_id")?,
        s.require_secret("client_secret")?.expose_secret(),
    );
    if let Some(base) = s.get("base_url")? {
        config = config.base_url(base);
    }
    if let Some(url) = s.get("token_url")? {
        config = config.token_url(url);
    }
    if let Some(uri) = s.get("redirect_uri")? {
        config = config.redirect_uri(uri);
    }
    if let Some(scope) = s.get("scope")? {
        config = config.scope(scope);
    }
    Ok(Tf56::new(config)?)
}

/// iLab: `base_url`, `app_id`, secret `secret`; optional `profile` (`roncoo` or `ilabx`).
pub(crate) fn ilab(s: &Settings) -> Result<kaifang::ilab::Ilab, CliError> {
    use kaifang::ilab::{Ilab, IlabConfig, Profile};
    let mut config = IlabConfig::new(
        s.require("base_url")?,
        s.require("app_id")?,
        s.require_secret("secret")?.expose_secret(),
    );
    match s.get("profile")?.as_deref() {
        None | Some("roncoo") => {}
        Some("ilabx") => config = config.profile(Profile::IlabX),
        Some(other) => {
            return Err(CliError::bad_input(format!(
                "ilab profile must be roncoo or ilabx, not {other:?}"
            )));
        }
    }
    Ok(Ilab::new(config)?)
}

fn unix(t: SystemTime) -> Value {
    t.duration_since(UNIX_EPOCH)
        .map_or(Value::Null, |d| json!(d.as_secs()))
}

/// A token as JSON: values redacted unless `show_secrets`, expiries as Unix seconds.
pub(crate) fn token_json(platform: Platform, kind: &str, t: &Token, show_secrets: bool) -> Value {
    let shown = |s: &kaifang::core::secret::SecretString| {
        if show_secrets {
            json!(s.expose_secret())
        } else {
            json!("[redacted]")
        }
    };
    let mut extra = Value::Object(t.extra.clone());
    if !show_secrets {
        kaifang::core::redact::json_value(&mut extra);
    }
    json!({
        "platform": platform.name(),
        "kind": kind,
        "access_token": shown(&t.access),
        "refresh_token": t.refresh.as_ref().map(shown),
        "token_type": t.token_type,
        "scope": t.scope,
        "expires_in": t.remaining(SystemTime::now()).as_secs(),
        "issued_at": unix(t.issued_at),
        "expires_at": unix(t.expires_at),
        "refresh_expires_at": t.refresh_expires_at.map(unix),
        "extra": extra,
    })
}
