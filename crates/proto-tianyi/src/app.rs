//! The app's configuration and the prepared client.

use std::fmt;
use std::sync::Arc;

use kaifang_proto_core::Error;
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::hex::HexCase;
use kaifang_sign_core::tianyi::TianyiSigner;
use serde::Deserialize;

/// Production host.
pub const PRODUCTION_BASE_URL: &str = "https://vcp.21cn.com";

/// Standard apps (标准应用: a user logs in) or platform apps (平台应用: no user interaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// 标准应用: `auth_code` / `189_code` grants; tokens live 1 day, refresh tokens 7 days.
    #[default]
    Standard,
    /// 平台应用: `vcp_189` grant and `enterpriseUser` on every call; tokens live 7 days, refresh
    /// tokens 30 days.
    Platform,
}

impl AppKind {
    /// Default access-token lifetime in seconds when the server sends none.
    pub const fn access_ttl_secs(self) -> u64 {
        match self {
            AppKind::Standard => 86_400,
            AppKind::Platform => 7 * 86_400,
        }
    }

    /// Default refresh-token lifetime in seconds when the server sends none.
    pub const fn refresh_ttl_secs(self) -> u64 {
        match self {
            AppKind::Standard => 7 * 86_400,
            AppKind::Platform => 30 * 86_400,
        }
    }
}

/// Hex letter case for `params` and `signature` (the server accepts both; clients differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// Python, Go, hutool.
    #[default]
    Lower,
    /// Java's official demo, C#.
    Upper,
}

impl From<Case> for HexCase {
    fn from(c: Case) -> Self {
        match c {
            Case::Lower => HexCase::Lower,
            Case::Upper => HexCase::Upper,
        }
    }
}

/// Everything needed to call Tianyi as one app. Deserializable from a config file.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TianyiConfig {
    /// `appId`.
    pub app_id: String,
    /// `appSecret` (never printed).
    pub app_secret: SecretString,
    /// Base URL, default `https://vcp.21cn.com`; the sandbox's URL in tests.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// `clientType`: 0 iOS, 1 Android, 2 web, 3 PC (default), 4 server.
    #[serde(default = "default_client_type")]
    pub client_type: u32,
    /// `version`, part of the signature: `2.0` (default), `v2.0`, `v1.0` (XXTEA-encrypted
    /// response data, decrypted transparently), `1.1` (RSA-encrypted data: not decrypted).
    #[serde(default = "default_version")]
    pub version: String,
    /// Hex case of `params`.
    #[serde(default)]
    pub params_case: Case,
    /// Hex case of `signature`.
    #[serde(default)]
    pub signature_case: Case,
    /// Standard or platform app.
    #[serde(default)]
    pub kind: AppKind,
    /// `enterpriseUser` (platform apps): the enterprise owner's phone number.
    #[serde(default)]
    pub enterprise_user: Option<String>,
    /// `parentUser` (platform apps, sub-accounts).
    #[serde(default)]
    pub parent_user: Option<String>,
}

fn default_base_url() -> String {
    PRODUCTION_BASE_URL.to_owned()
}
fn default_client_type() -> u32 {
    3
}
fn default_version() -> String {
    "2.0".to_owned()
}

impl TianyiConfig {
    /// A standard app with the defaults (client type 3, version 2.0, lower-case hex).
    pub fn new(app_id: impl Into<String>, app_secret: impl Into<String>) -> Self {
        TianyiConfig {
            app_id: app_id.into(),
            app_secret: SecretString::new(app_secret),
            base_url: default_base_url(),
            client_type: default_client_type(),
            version: default_version(),
            params_case: Case::Lower,
            signature_case: Case::Lower,
            kind: AppKind::Standard,
            enterprise_user: None,
            parent_user: None,
        }
    }

    /// Sets the base URL.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Makes it a platform app with its enterprise owner.
    #[must_use]
    pub fn platform(mut self, enterprise_user: impl Into<String>) -> Self {
        self.kind = AppKind::Platform;
        self.enterprise_user = Some(enterprise_user.into());
        self
    }

    /// Sets the hex case of params and signature.
    #[must_use]
    pub fn case(mut self, params: Case, signature: Case) -> Self {
        self.params_case = params;
        self.signature_case = signature;
        self
    }

    /// Sets `version`.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets `clientType`.
    #[must_use]
    pub fn client_type(mut self, client_type: u32) -> Self {
        self.client_type = client_type;
        self
    }
}

impl fmt::Debug for TianyiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TianyiConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &self.app_secret)
            .field("base_url", &self.base_url)
            .field("client_type", &self.client_type)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("enterprise_user", &self.enterprise_user)
            .finish_non_exhaustive()
    }
}

/// A validated app with its secret prepared once (keyed HMAC, fixed XXTEA key). Cheap to clone.
#[derive(Clone)]
pub struct Tianyi {
    inner: Arc<Inner>,
}

struct Inner {
    config: TianyiConfig,
    signer: TianyiSigner,
    base: String,
}

impl fmt::Debug for Tianyi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tianyi").field(&self.inner.config).finish()
    }
}

impl Tianyi {
    /// Validates the configuration and prepares the secret.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty app id or secret, a base URL that is not http(s), or a
    /// platform app without `enterprise_user`.
    pub fn new(config: TianyiConfig) -> Result<Self, Error> {
        if config.app_id.trim().is_empty() {
            return Err(Error::Config("tianyi: app_id is empty".into()));
        }
        if config.app_secret.is_empty() {
            return Err(Error::Config("tianyi: app_secret is empty".into()));
        }
        let url = url::Url::parse(&config.base_url)
            .map_err(|e| Error::Config(format!("tianyi: base_url {:?}: {e}", config.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "tianyi: base_url must be http(s), got {:?}",
                config.base_url
            )));
        }
        if config.kind == AppKind::Platform
            && config.enterprise_user.as_deref().is_none_or(str::is_empty)
        {
            return Err(Error::Config(
                "tianyi: platform apps need enterprise_user (the enterprise owner's phone number); without it every call fails with 30045".into(),
            ));
        }
        let signer = TianyiSigner::new(config.app_secret.expose_secret().as_bytes());
        let base = config.base_url.trim_end_matches('/').to_owned();
        Ok(Tianyi {
            inner: Arc::new(Inner {
                config,
                signer,
                base,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TianyiConfig {
        &self.inner.config
    }

    pub(crate) fn signer(&self) -> &TianyiSigner {
        &self.inner.signer
    }

    /// `base_url + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.base, path)
    }
}
