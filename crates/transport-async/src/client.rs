//! [`AsyncClient`]: runs any [`Exchange`] over reqwest on tokio.

use core::fmt;
use std::sync::Arc;
use std::time::Instant;

use kaifang_proto_core::context::{Context, OffsetClock};
use kaifang_proto_core::error::{Error, TransportErrorKind};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::redact;
use kaifang_proto_core::transport::{TransportConfig, TransportCore, transport_error};
use tracing::Instrument;
use tracing::field::Empty;

/// An async HTTP client for exchanges (reqwest on tokio). Cheap to share (`&self` everywhere;
/// put it in an `Arc`); keeps a connection pool. Futures are `Send`.
///
/// Behaviour (the same as `kaifang-transport-blocking`):
/// * connect timeout and total timeout (connect, send, head and whole body) from
///   [`TransportConfig`];
/// * the body is read chunk by chunk up to [`TransportConfig::max_body_bytes`]: a larger
///   `Content-Length` fails before reading, a longer body fails as soon as it passes the limit
///   (`Error::Transport { kind: BodyTooLarge { limit } }`);
/// * redirects are **never followed**: 301/302/303/307/308 become
///   `Error::Transport { kind: Redirect }` (the redacted `Location` in the message) before the
///   exchange sees the response; every other status, 3xx included, goes to
///   [`Exchange::parse`];
/// * `User-Agent: kaifang/<version>` unless the exchange set one; no proxy from the environment;
///   no decompression; HTTP/1.1; TLS by rustls with the ring provider and the webpki roots;
/// * one `kaifang.http` debug span per request with `exchange`, `method`, the redacted `url`,
///   `status` and `latency_ms`; error messages are redacted (reqwest's URL is stripped);
/// * the server's `Date` header moves the skew of the clock the exchanges see
///   ([`AsyncClient::context`]) when [`TransportConfig::learn_skew`] is on.
///
/// Dropping an `execute` future cancels the request (the connection is closed).
///
/// ```no_run
/// use kaifang_proto_core::transport::TransportConfig;
/// use kaifang_transport_async::AsyncClient;
/// # async fn demo<E: kaifang_proto_core::exchange::Exchange + Sync>(exchange: E) -> Result<(), kaifang_proto_core::Error> {
/// let client = AsyncClient::new(TransportConfig::default())?;
/// let output = client.execute(&exchange).await?;
/// # let _ = output; Ok(()) }
/// ```
pub struct AsyncClient {
    core: TransportCore,
    http: reqwest::Client,
}

impl fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClient")
            .field("config", self.core.config())
            .field("skew_ms", &self.core.clock().offset_ms())
            .finish_non_exhaustive()
    }
}

impl AsyncClient {
    /// A client with the system clock and random source.
    ///
    /// # Errors
    /// [`Error::Config`] when `config` is invalid or the TLS setup fails.
    pub fn new(config: TransportConfig) -> Result<Self, Error> {
        Self::with_context(config, Context::system())
    }

    /// A client whose exchanges see `ctx` (its clock wrapped in the skew-learning
    /// [`OffsetClock`]).
    ///
    /// # Errors
    /// [`Error::Config`] when `config` is invalid or the TLS setup fails.
    pub fn with_context(config: TransportConfig, ctx: Context) -> Result<Self, Error> {
        let core = TransportCore::new(config, ctx)?;
        let c = core.config();
        let http = reqwest_builder()?
            .connect_timeout(c.connect_timeout)
            .timeout(c.total_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(c.user_agent.as_str())
            .pool_max_idle_per_host(c.max_idle_per_host)
            .no_proxy()
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", chain(&e))))?;
        Ok(Self { core, http })
    }

    /// The context exchanges see (skew-corrected clock).
    #[must_use]
    pub fn context(&self) -> &Context {
        self.core.context()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &TransportConfig {
        self.core.config()
    }

    /// The skew-corrected clock behind [`AsyncClient::context`].
    #[must_use]
    pub fn clock(&self) -> &Arc<OffsetClock> {
        self.core.clock()
    }

    /// Builds, sends and parses one exchange.
    ///
    /// # Errors
    /// The exchange's build or parse error, or `Error::Transport` (connect, timeout, io, tls,
    /// body too large, redirect refused).
    pub async fn execute<E: Exchange + ?Sized>(&self, exchange: &E) -> Result<E::Output, Error> {
        let req = self.core.build(exchange)?;
        let span = tracing::debug_span!(
            "kaifang.http",
            exchange = exchange.name(),
            method = %req.method(),
            url = %redact::url(&req.uri().to_string()),
            status = Empty,
            latency_ms = Empty,
        );
        let started = Instant::now();
        let sent = self.send(req, &span).instrument(span.clone()).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        span.record("latency_ms", latency_ms);
        let _entered = span.enter();
        match sent {
            Ok(resp) => {
                tracing::debug!(status = resp.status().as_u16(), latency_ms, "response");
                self.core.finish(exchange, resp)
            }
            Err(err) => {
                tracing::debug!(error = %err, latency_ms, "request failed");
                Err(err)
            }
        }
    }

    async fn send(
        &self,
        req: http::Request<Vec<u8>>,
        span: &tracing::Span,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let req = reqwest::Request::try_from(req).map_err(|e| map_error(&e))?;
        let mut resp = self.http.execute(req).await.map_err(|e| map_error(&e))?;
        let status = resp.status();
        span.record("status", status.as_u16());
        let mut body = self.core.check_head(status, resp.headers())?;
        let headers = std::mem::take(resp.headers_mut());
        let version = resp.version();
        while let Some(chunk) = resp.chunk().await.map_err(|e| map_error(&e))? {
            body.push(&chunk)?;
        }
        let mut out = http::Response::new(body.into_vec());
        *out.status_mut() = status;
        *out.version_mut() = version;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// A `reqwest::ClientBuilder` with this crate's TLS already set (rustls, ring provider, webpki
/// roots): for a bare reqwest client that trusts exactly what [`AsyncClient`] trusts (benches
/// use it as the baseline).
///
/// # Errors
/// [`Error::Config`] if the TLS configuration cannot be built.
pub fn reqwest_builder() -> Result<reqwest::ClientBuilder, Error> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_config()?))
}

/// rustls with the ring provider and the webpki roots (the trust store the ureq transport uses).
fn tls_config() -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The error and its sources, one line, without reqwest's URL.
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// reqwest's error → the shared [`TransportErrorKind`]s (URL stripped, message redacted).
fn map_error(e: &reqwest::Error) -> Error {
    let mut tls = false;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        TransportErrorKind::Timeout
    } else if tls {
        TransportErrorKind::Tls
    } else if e.is_connect() {
        TransportErrorKind::Connect
    } else if e.is_redirect() {
        TransportErrorKind::Redirect
    } else if e.is_body() || e.is_request() || e.is_decode() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    };
    let stripped = clone_without_url(e);
    transport_error(kind, &stripped)
}

fn clone_without_url(e: &reqwest::Error) -> String {
    // `without_url` consumes the error; rebuild the text instead: reqwest's Display appends
    // ` for url (...)`, which is cut here, then every source follows.
    let full = chain(e);
    match (full.find(" for url ("), e.url()) {
        (Some(i), Some(url)) => {
            let marker = format!(" for url ({url})");
            let mut s = full.clone();
            if let Some(j) = s.find(&marker) {
                s.replace_range(j..j + marker.len(), "");
                s
            } else {
                full[..i].to_owned()
            }
        }
        _ => full,
    }
}
