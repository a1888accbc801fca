//! The client's configuration and the prepared client.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kaifang_proto_core::Error;
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::zhiyun;
use serde::Deserialize;
use zeroize::Zeroize;

use crate::endpoint::Format;

/// Default lifetime assumed for an `auth_code`: 10 minutes. The real TTL is not public \[I\]; the
/// client renews the code whenever the server says it expired (100020) or is missing (100019),
/// so a wrong guess costs one extra call, never a failure.
pub const DEFAULT_AUTH_CODE_TTL_SECS: u64 = 600;

/// The unit of `t_`.
///
/// The seed's example (`t_=1422339152058`) and most third-party apps send milliseconds; the
/// Zhiyun desktop client computes it from `time(NULL)`, i.e. seconds. The server accepts both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Unix milliseconds (default).
    #[default]
    Millis,
    /// Unix seconds, as the desktop client sends.
    Seconds,
}

impl TimeUnit {
    /// `t_` for a time given in Unix milliseconds (negative times give 0).
    pub fn t_from_millis(self, millis: i64) -> u64 {
        let ms = u64::try_from(millis).unwrap_or(0);
        match self {
            TimeUnit::Millis => ms,
            TimeUnit::Seconds => ms / 1000,
        }
    }
}

/// Everything needed to call Zhiyun as one client for one user. Deserializable from a config
/// file; `client_secret` and `access_token` are never printed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZhiyunConfig {
    /// Base URL, e.g. `http://auth.xx.dev.com` (no production host is public: configure it).
    pub base_url: String,
    /// `client_id` (the Basic user name, and a query parameter of the user and company calls).
    pub client_id: String,
    /// `client_secret` (the Basic password).
    pub client_secret: SecretString,
    /// The user's `access_token`, generated when the user logs in to the Zhiyun desktop client
    /// (致云桌面); it lives about 3 months and then must be replaced here (100014).
    pub access_token: SecretString,
    /// Unit of `t_`: milliseconds (default) or seconds.
    #[serde(default)]
    pub time_unit: TimeUnit,
    /// Response format asked for: `json` (default) or `xml`. Both parse into the same types.
    #[serde(default)]
    pub format: Format,
    /// Lifetime assumed for an `auth_code`, in seconds (default 600) \[I\].
    #[serde(default = "default_ttl")]
    pub auth_code_ttl_secs: u64,
}

fn default_ttl() -> u64 {
    DEFAULT_AUTH_CODE_TTL_SECS
}

impl ZhiyunConfig {
    /// A configuration with the defaults (milliseconds, JSON, 10-minute auth codes).
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        access_token: impl Into<String>,
    ) -> Self {
        ZhiyunConfig {
            base_url: base_url.into(),
            client_id: client_id.into(),
            client_secret: SecretString::new(client_secret),
            access_token: SecretString::new(access_token),
            time_unit: TimeUnit::Millis,
            format: Format::Json,
            auth_code_ttl_secs: DEFAULT_AUTH_CODE_TTL_SECS,
        }
    }

    /// Sets the unit of `t_`.
    #[must_use]
    pub fn time_unit(mut self, unit: TimeUnit) -> Self {
        self.time_unit = unit;
        self
    }

    /// Sets the response format.
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the assumed `auth_code` lifetime.
    #[must_use]
    pub fn auth_code_ttl(mut self, ttl: Duration) -> Self {
        self.auth_code_ttl_secs = ttl.as_secs();
        self
    }

    /// Replaces the user's `access_token` (after logging in to the desktop client again).
    #[must_use]
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = SecretString::new(token);
        self
    }
}

impl fmt::Debug for ZhiyunConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZhiyunConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("access_token", &self.access_token)
            .field("time_unit", &self.time_unit)
            .field("format", &self.format)
            .field("auth_code_ttl_secs", &self.auth_code_ttl_secs)
            .finish()
    }
}

/// A validated client with its `Authorization` header computed once. Cheap to clone.
#[derive(Clone)]
pub struct Zhiyun {
    inner: Arc<Inner>,
}

struct Inner {
    config: ZhiyunConfig,
    /// `Basic base64(client_id:client_secret)`: as secret as the secret itself.
    authorization: SecretString,
    base: String,
}

impl fmt::Debug for Zhiyun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zhiyun").field(&self.inner.config).finish()
    }
}

impl Zhiyun {
    /// Validates the configuration and computes the `Authorization` header.
    ///
    /// ```
    /// use kaifang_proto_zhiyun::{Zhiyun, ZhiyunConfig};
    /// let app = Zhiyun::new(ZhiyunConfig::new("http://auth.xx.dev.com", "1102084294", "aku8hCyXBd9SqYkT", "9106c9fd1e138a042d4aedf94cede7a766e0"))?;
    /// assert_eq!(app.config().client_id, "1102084294");
    /// assert!(!format!("{app:?}").contains("aku8hCyXBd9SqYkT"));
    /// # Ok::<(), kaifang_proto_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for an empty client id, secret or access token, a client id holding
    /// `:` (it cannot be a Basic user name), or a base URL that is not http(s).
    pub fn new(config: ZhiyunConfig) -> Result<Self, Error> {
        if config.client_id.trim().is_empty() {
            return Err(Error::Config("zhiyun: client_id is empty".into()));
        }
        if config.client_id.contains(':') {
            return Err(Error::Config(
                "zhiyun: client_id must not contain ':' (it is the HTTP Basic user name)".into(),
            ));
        }
        if config.client_secret.is_empty() {
            return Err(Error::Config("zhiyun: client_secret is empty".into()));
        }
        if config.access_token.is_empty() {
            return Err(Error::Config(
                "zhiyun: access_token is empty: log in to the Zhiyun desktop client (致云桌面) and copy its access token into the configuration".into(),
            ));
        }
        let url = url::Url::parse(&config.base_url)
            .map_err(|e| Error::Config(format!("zhiyun: base_url {:?}: {e}", config.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "zhiyun: base_url must be http(s), got {:?}",
                config.base_url
            )));
        }
        let secret = config.client_secret.expose_secret();
        let mut buf =
            vec![0u8; zhiyun::basic_authorization_len(config.client_id.len(), secret.len())];
        let authorization = zhiyun::basic_authorization(&config.client_id, secret, &mut buf)
            .map(SecretString::new)
            .map_err(|e| {
                Error::Config(format!("zhiyun: cannot encode the Basic credentials: {e}"))
            });
        buf.zeroize();
        let authorization = authorization?;
        let base = config.base_url.trim_end_matches('/').to_owned();
        Ok(Zhiyun {
            inner: Arc::new(Inner {
                config,
                authorization,
                base,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ZhiyunConfig {
        &self.inner.config
    }

    /// `Authorization: Basic base64(client_id:client_secret)`, sent on every call.
    pub fn authorization(&self) -> &SecretString {
        &self.inner.authorization
    }

    /// `base_url + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.base, path)
    }

    /// The assumed `auth_code` lifetime.
    pub fn auth_code_ttl(&self) -> Duration {
        Duration::from_secs(self.inner.config.auth_code_ttl_secs)
    }
}
