//! [`BlockingClient`]: runs any [`Exchange`] over ureq, on the calling thread.

use core::fmt;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use kaifang_proto_core::context::{Context, OffsetClock};
use kaifang_proto_core::error::{Error, TransportErrorKind};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::redact;
use kaifang_proto_core::transport::{TransportConfig, TransportCore, transport_error};
use tracing::field::Empty;

/// A blocking HTTP client for exchanges. Cheap to share (`&self` everywhere; put it in an `Arc`
/// to share between threads); keeps a connection pool.
///
/// Behaviour (the same as `kaifang-transport-async`):
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
///   no decompression (the limit counts bytes on the wire);
/// * one `kaifang.http` debug span per request with `exchange`, `method`, the redacted `url`,
///   `status` and `latency_ms`; error messages are redacted;
/// * the server's `Date` header moves the skew of the clock the exchanges see
///   ([`BlockingClient::context`]) when [`TransportConfig::learn_skew`] is on.
///
/// ```no_run
/// use kaifang_proto_core::transport::TransportConfig;
/// use kaifang_transport_blocking::BlockingClient;
/// # fn demo<E: kaifang_proto_core::exchange::Exchange>(exchange: E) -> Result<(), kaifang_proto_core::Error> {
/// let client = BlockingClient::new(TransportConfig::default())?;
/// let output = client.execute(&exchange)?;
/// # let _ = output; Ok(()) }
/// ```
pub struct BlockingClient {
    core: TransportCore,
    agent: ureq::Agent,
}

impl fmt::Debug for BlockingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingClient")
            .field("config", self.core.config())
            .field("skew_ms", &self.core.clock().offset_ms())
            .finish_non_exhaustive()
    }
}

impl BlockingClient {
    /// A client with the system clock and random source.
    ///
    /// # Errors
    /// [`Error::Config`] when `config` is invalid.
    pub fn new(config: TransportConfig) -> Result<Self, Error> {
        Self::with_context(config, Context::system())
    }

    /// A client whose exchanges see `ctx` (its clock wrapped in the skew-learning
    /// [`OffsetClock`]).
    ///
    /// # Errors
    /// [`Error::Config`] when `config` is invalid.
    pub fn with_context(config: TransportConfig, ctx: Context) -> Result<Self, Error> {
        let core = TransportCore::new(config, ctx)?;
        let c = core.config();
        let agent_config = ureq::Agent::config_builder()
            .timeout_connect(Some(c.connect_timeout))
            .timeout_global(Some(c.total_timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .user_agent(c.user_agent.as_str())
            .build();
        Ok(Self {
            core,
            agent: ureq::Agent::new_with_config(agent_config),
        })
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

    /// The skew-corrected clock behind [`BlockingClient::context`].
    #[must_use]
    pub fn clock(&self) -> &Arc<OffsetClock> {
        self.core.clock()
    }

    /// Builds, sends and parses one exchange.
    ///
    /// # Errors
    /// The exchange's build or parse error, or `Error::Transport` (connect, timeout, io, tls,
    /// body too large, redirect refused).
    pub fn execute<E: Exchange + ?Sized>(&self, exchange: &E) -> Result<E::Output, Error> {
        let req = self.core.build(exchange)?;
        let span = tracing::debug_span!(
            "kaifang.http",
            exchange = exchange.name(),
            method = %req.method(),
            url = %redact::url(&req.uri().to_string()),
            status = Empty,
            latency_ms = Empty,
        );
        let _entered = span.enter();
        let started = Instant::now();
        let sent = self.send(req, &span);
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        span.record("latency_ms", latency_ms);
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

    fn send(
        &self,
        req: http::Request<Vec<u8>>,
        span: &tracing::Span,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let mut resp = self.agent.run(req).map_err(map_error)?;
        let status = resp.status();
        span.record("status", status.as_u16());
        let mut body = self.core.check_head(status, resp.headers())?;
        {
            let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
            let mut chunk = [0u8; 16 * 1024];
            loop {
                let n = reader
                    .read(&mut chunk)
                    .map_err(|e| map_error(ureq::Error::from(e)))?;
                if n == 0 {
                    break;
                }
                body.push(&chunk[..n])?;
            }
        }
        let (parts, _) = resp.into_parts();
        Ok(http::Response::from_parts(parts, body.into_vec()))
    }
}

/// ureq's error → the shared [`TransportErrorKind`]s (message redacted).
fn map_error(e: ureq::Error) -> Error {
    use std::io::ErrorKind as K;
    let kind = match &e {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        ureq::Error::Io(io) => match io.kind() {
            K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
            K::ConnectionRefused
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable => TransportErrorKind::Connect,
            _ => TransportErrorKind::Io,
        },
        ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired => TransportErrorKind::Tls,
        ureq::Error::BodyExceedsLimit(limit) => TransportErrorKind::BodyTooLarge { limit: *limit },
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => TransportErrorKind::Redirect,
        ureq::Error::Protocol(_) | ureq::Error::BodyStalled => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    };
    transport_error(kind, &e.to_string())
}
