//! The client's configuration ([`Tf56Config`]) and the validated, prepared client ([`Tf56`]).

use std::fmt;
use std::sync::Arc;

use kaifang_proto_core::Error;
use kaifang_proto_core::secret::SecretString;
use serde::Deserialize;

/// Production host.
pub const PRODUCTION_BASE_URL: &str = "https://open.tf56.com";
/// The gateway prefix every path starts with.
pub const GATEWAY_PREFIX: &str = "/openGateway";
/// The token endpoint, under the gateway prefix.
pub const TOKEN_PATH: &str = "/oauth/token";
/// The authorize endpoint, under the gateway prefix. Note the trailing `/`.
pub const AUTHORIZE_PATH: &str = "/oauth/";
/// The API entry, under the gateway prefix: `/oauthentry/<module>/<version>/<method>`.
pub const ENTRY_PATH: &str = "/oauthentry";

/// How the client authenticates itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// What the platform's own clients do: `POST` with **every** parameter, `client_id` and
    /// `client_secret` included, in the query string and an empty body
    /// (`…/oauth/token?grant_type=client_credentials&client_id=7&client_secret=…`).
    #[default]
    QueryParams,
    /// RFC 6749 §2.3.1 form body: every parameter, `client_id` and `client_secret` included, in
    /// an `application/x-www-form-urlencoded` body.
    FormBody,
    /// RFC 6749 §2.3.1 HTTP Basic: `Authorization: Basic base64(client_id:client_secret)`, the
    /// other parameters in a form body. The id and secret are sent as they are (not
    /// form-encoded first), as most servers expect; an id holding `:` is refused.
    BasicAuth,
}

/// Everything needed to talk to the tf56 gateway as one client. Deserializable from a config
/// file (`client_secret` is read but never printed).
///
/// ```
/// use kaifang_proto_tf56::{ClientAuth, Tf56Config};
///
/// let cfg = Tf56Config::new("7", "7fad9d6b20e849219d6888b25e3f40db")
///     .base_url("http://127.0.0.1:8080")
///     .client_auth(ClientAuth::FormBody);
/// assert!(!format!("{cfg:?}").contains("7fad9d6b"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tf56Config {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret` (never printed).
    pub client_secret: SecretString,
    /// Base URL, default `https://open.tf56.com`; the sandbox's URL in tests.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The gateway prefix, default `/openGateway` (empty for a server mounted at the root).
    #[serde(default = "default_prefix")]
    pub gateway_prefix: String,
    /// `redirect_uri` registered for the client (authorization-code flow).
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// `scope` to request, space-separated (`None`: the client's registered scope).
    #[serde(default)]
    pub scope: Option<String>,
    /// A full token URL replacing `{base}{prefix}/oauth/token`, to talk to standard OAuth
    /// servers (e.g. `http://localhost:8080/token` for npm's `oauth2-mock-server`).
    #[serde(default)]
    pub token_url: Option<String>,
    /// A full authorize URL replacing `{base}{prefix}/oauth/`.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Client authentication at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

fn default_base_url() -> String {
    PRODUCTION_BASE_URL.to_owned()
}

fn default_prefix() -> String {
    GATEWAY_PREFIX.to_owned()
}

impl Tf56Config {
    /// A client with the defaults: production host, `/openGateway`, query-string client
    /// authentication, no redirect URI, no scope.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Tf56Config {
            client_id: client_id.into(),
            client_secret: SecretString::new(client_secret),
            base_url: default_base_url(),
            gateway_prefix: default_prefix(),
            redirect_uri: None,
            scope: None,
            token_url: None,
            authorize_url: None,
            client_auth: ClientAuth::QueryParams,
        }
    }

    /// Sets the base URL.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets the gateway prefix (`""` for none).
    #[must_use]
    pub fn gateway_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.gateway_prefix = prefix.into();
        self
    }

    /// Sets the redirect URI.
    #[must_use]
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Sets the scope to request (space-separated).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Replaces the token URL with a full URL.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Replaces the authorize URL with a full URL.
    #[must_use]
    pub fn authorize_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_url = Some(url.into());
        self
    }

    /// Sets the client authentication style.
    #[must_use]
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }
}

impl fmt::Debug for Tf56Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tf56Config")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("base_url", &self.base_url)
            .field("gateway_prefix", &self.gateway_prefix)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("token_url", &self.token_url)
            .field("authorize_url", &self.authorize_url)
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

/// A validated client with its URLs prepared once. Cheap to clone.
///
/// ```
/// use kaifang_proto_tf56::{Tf56, Tf56Config};
///
/// let app = Tf56::new(Tf56Config::new("7", "secret"))?;
/// assert_eq!(app.token_endpoint(), "https://open.tf56.com/openGateway/oauth/token");
/// assert_eq!(app.authorize_endpoint(), "https://open.tf56.com/openGateway/oauth/");
/// assert!(Tf56::new(Tf56Config::new("7", "secret").base_url("ftp://x")).is_err());
/// # Ok::<(), kaifang_proto_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Tf56 {
    inner: Arc<Inner>,
}

struct Inner {
    config: Tf56Config,
    /// `base + prefix`, without a trailing `/`.
    gateway: String,
    token_url: String,
    authorize_url: String,
}

impl fmt::Debug for Tf56 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tf56").field(&self.inner.config).finish()
    }
}

fn check_http_url(what: &str, value: &str) -> Result<url::Url, Error> {
    let url = url::Url::parse(value)
        .map_err(|e| Error::Config(format!("tf56: {what} {value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "tf56: {what} must be http(s), got {value:?}"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "tf56: {what} must not carry a query or a fragment, got {value:?}"
        )));
    }
    Ok(url)
}

impl Tf56 {
    /// Validates the configuration.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty client id or secret, a client id holding `:` with
    /// [`ClientAuth::BasicAuth`], a base, token or authorize URL that is not an absolute
    /// http(s) URL without query, a gateway prefix that does not start with `/`, or a redirect
    /// URI that is not an absolute URL.
    pub fn new(config: Tf56Config) -> Result<Self, Error> {
        if config.client_id.trim().is_empty() {
            return Err(Error::Config("tf56: client_id is empty".into()));
        }
        if config.client_secret.is_empty() {
            return Err(Error::Config("tf56: client_secret is empty".into()));
        }
        if config.client_auth == ClientAuth::BasicAuth && config.client_id.contains(':') {
            return Err(Error::Config(
                "tf56: a client_id holding ':' cannot be sent with HTTP Basic authentication"
                    .into(),
            ));
        }
        check_http_url("base_url", &config.base_url)?;
        let prefix = config.gateway_prefix.trim_end_matches('/');
        if !prefix.is_empty() && !prefix.starts_with('/') {
            return Err(Error::Config(format!(
                "tf56: gateway_prefix must start with '/', got {:?}",
                config.gateway_prefix
            )));
        }
        if let Some(uri) = config.redirect_uri.as_deref() {
            url::Url::parse(uri)
                .map_err(|e| Error::Config(format!("tf56: redirect_uri {uri:?}: {e}")))?;
        }
        let gateway = format!("{}{prefix}", config.base_url.trim_end_matches('/'));
        let token_url = match config.token_url.as_deref() {
            Some(u) => check_http_url("token_url", u)?.as_str().to_owned(),
            None => format!("{gateway}{TOKEN_PATH}"),
        };
        let authorize_url = match config.authorize_url.as_deref() {
            Some(u) => check_http_url("authorize_url", u)?.as_str().to_owned(),
            None => format!("{gateway}{AUTHORIZE_PATH}"),
        };
        Ok(Tf56 {
            inner: Arc::new(Inner {
                config,
                gateway,
                token_url,
                authorize_url,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Tf56Config {
        &self.inner.config
    }

    /// The token endpoint URL.
    pub fn token_endpoint(&self) -> &str {
        &self.inner.token_url
    }

    /// The authorize endpoint URL (with its trailing `/`).
    pub fn authorize_endpoint(&self) -> &str {
        &self.inner.authorize_url
    }

    /// `base + prefix + path`.
    pub fn gateway_url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.gateway)
    }
}
