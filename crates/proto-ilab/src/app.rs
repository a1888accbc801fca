//! The app's configuration, the two platform profiles, and the prepared client.
//!
//! Both platforms speak the same protocol (ticket + appid + MD5 signature, then uploads with the
//! access token); they differ in paths and in what a refresh sends. Those differences live in
//! one table, [`Paths`], selected by [`Profile`].

use std::fmt;
use std::sync::Arc;

use kaifang_proto_core::Error;
use kaifang_proto_core::secret::SecretString;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

/// The scope an upload needs (`callback:score`).
pub const SCOPE_CALLBACK_SCORE: &str = "callback:score";

/// Which platform the app talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The RONCOO-based clone of the seed (`{addr}` = `http://host:8180`, `/oauth/...` paths,
    /// Spring-Security-OAuth2 JWTs, a separate refresh token).
    #[default]
    Roncoo,
    /// The national platform iLab-x 实验空间, interface v2 (`/open/api/v2/...`; the access token
    /// is base64 with `+ / =` and is what a refresh sends).
    IlabX,
}

/// The paths and parameter names of one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paths {
    /// Ticket → token.
    pub token: &'static str,
    /// Refresh.
    pub refresh: &'static str,
    /// 数据回传 (score upload, JSON body).
    pub data_upload: &'static str,
    /// 实验报告上传 (report upload, raw bytes).
    pub attachment_upload: &'static str,
    /// Reading back uploaded data, where the platform has it.
    pub data_get: Option<&'static str>,
    /// The query parameter carrying the value a refresh sends (and signs).
    pub refresh_param: &'static str,
    /// Whether the refresh sends the refresh token (`true`) or the access token (`false`).
    pub refresh_with_refresh_token: bool,
}

impl Profile {
    /// The profile's paths. Confirmed: the RONCOO token, refresh and attachment paths, and the
    /// iLab-x token, refresh, data_upload and data_get paths. Inferred: the RONCOO data_upload
    /// path (by symmetry with attachment_upload) and the iLab-x attachment_upload path (by
    /// analogy).
    pub const fn paths(self) -> Paths {
        match self {
            Profile::Roncoo => Paths {
                token: "/oauth/token/accesstoken",
                refresh: "/oauth/token/refreshtoken",
                data_upload: "/oauth/api/v1/data_upload",
                attachment_upload: "/oauth/api/v1/attachment_upload",
                data_get: None,
                refresh_param: "refresh_token",
                refresh_with_refresh_token: true,
            },
            Profile::IlabX => Paths {
                token: "/open/api/v2/token",
                refresh: "/open/api/v2/token/refresh",
                data_upload: "/open/api/v2/data_upload",
                attachment_upload: "/open/api/v2/attachment_upload",
                data_get: Some("/open/api/v2/data_get"),
                refresh_param: "access_token",
                refresh_with_refresh_token: false,
            },
        }
    }

    /// A short name (`roncoo`, `ilabx`).
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Roncoo => "roncoo",
            Profile::IlabX => "ilabx",
        }
    }
}

/// Everything needed to call the platform as one experiment (app). Deserializable from a config
/// file.
///
/// ```
/// use kaifang_proto_ilab::{IlabConfig, Profile};
/// let cfg = IlabConfig::new("http://127.0.0.1:8180", "1681600222748241929", "123456");
/// assert_eq!(cfg.profile, Profile::Roncoo);
/// assert!(!format!("{cfg:?}").contains("123456"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IlabConfig {
    /// Base address (`http://host:8180` for the clone, `http://www.ilab-x.com` for iLab-x).
    pub addr: String,
    /// APPID (个人中心 > 实验管理 > 实验列表 > APPID).
    pub appid: String,
    /// SECRET (never printed).
    pub secret: SecretString,
    /// Which platform.
    #[serde(default)]
    pub profile: Profile,
}

impl IlabConfig {
    /// A RONCOO-profile app.
    pub fn new(
        addr: impl Into<String>,
        appid: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        IlabConfig {
            addr: addr.into(),
            appid: appid.into(),
            secret: SecretString::new(secret),
            profile: Profile::Roncoo,
        }
    }

    /// Sets the profile.
    #[must_use]
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }
}

impl fmt::Debug for IlabConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IlabConfig")
            .field("addr", &self.addr)
            .field("appid", &self.appid)
            .field("secret", &self.secret)
            .field("profile", &self.profile)
            .finish()
    }
}

/// A validated app. Cheap to clone.
#[derive(Clone)]
pub struct Ilab {
    inner: Arc<Inner>,
}

struct Inner {
    config: IlabConfig,
    base: String,
}

impl fmt::Debug for Ilab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ilab").field(&self.inner.config).finish()
    }
}

impl Ilab {
    /// Validates the configuration.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty appid or secret, or an address that is not an http(s)
    /// URL.
    pub fn new(config: IlabConfig) -> Result<Self, Error> {
        if config.appid.trim().is_empty() {
            return Err(Error::Config("ilab: appid is empty".into()));
        }
        if config.appid.trim() != config.appid {
            return Err(Error::Config(
                "ilab: appid has leading or trailing spaces; it is part of the signature".into(),
            ));
        }
        if config.secret.is_empty() {
            return Err(Error::Config("ilab: secret is empty".into()));
        }
        let url = url::Url::parse(&config.addr)
            .map_err(|e| Error::Config(format!("ilab: addr {:?}: {e}", config.addr)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "ilab: addr must be http(s), got {:?}",
                config.addr
            )));
        }
        if url.query().is_some() {
            return Err(Error::Config(format!(
                "ilab: addr must not carry a query, got {:?}",
                config.addr
            )));
        }
        let base = config.addr.trim_end_matches('/').to_owned();
        Ok(Ilab {
            inner: Arc::new(Inner { config, base }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IlabConfig {
        &self.inner.config
    }

    /// The appid.
    pub fn appid(&self) -> &str {
        &self.inner.config.appid
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.inner.config.profile
    }

    /// The profile's paths.
    pub fn paths(&self) -> Paths {
        self.inner.config.profile.paths()
    }

    pub(crate) fn secret(&self) -> &SecretString {
        &self.inner.config.secret
    }

    /// `addr + path + ?query` where `query` is given as `(name, value)` pairs, each value
    /// percent-encoded exactly once (see [`encode_component`]).
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{}", self.inner.base, path);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, COMPONENT));
        }
        url
    }
}

/// Everything but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`) is escaped, as
/// Python's `quote(s, safe='')` and Java's `URLEncoder` (but for space) do. A JWT passes
/// unchanged; `+ / =` of a base64 value become `%2B %2F %3D`.
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one query value (RFC 3986 unreserved characters stay).
///
/// ```
/// use kaifang_proto_ilab::app::encode_component;
/// assert_eq!(encode_component("a+b/c="), "a%2Bb%2Fc%3D");
/// assert_eq!(encode_component("eyJ0.eyJp.Ff_Z-A"), "eyJ0.eyJp.Ff_Z-A");
/// ```
pub fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}
