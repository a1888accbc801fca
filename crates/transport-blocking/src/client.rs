//! [`BlockingClient`]: runs any [`Exchange`] over ureq, on the calling thread.

use core::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use kaifang_proto_core::context::{Context, OffsetClock};
use kaifang_proto_core::error::{Error, TransportErrorKind};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::redact;
use kaifang_proto_core::transport::{TransportConfig, TransportCore, transport_error};
use tracing::field::Empty;
use ureq::config::Config as UreqConfig;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

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
            .max_idle_connections_per_host(c.max_idle_per_host)
            .max_idle_connections(c.max_idle_per_host.max(10))
            .build();
        Ok(Self {
            core,
            agent: ureq::Agent::with_parts(
                agent_config,
                DefaultConnector::default(),
                LiteralFirstResolver::default(),
            ),
        })
    }

    /// The ureq agent underneath, with this client's timeouts, TLS, resolver, user agent and
    /// redirect policy: an escape hatch for a request kaifang does not model (it gets none of the
    /// exchange's redaction, tracing, body limit or skew learning).
    #[must_use]
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
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
        // Straight into the body buffer, at most limit + 1 bytes (no zeroed 16 KiB chunk).
        body.read_to_end_from(
            resp.body_mut().with_config().limit(u64::MAX).reader(),
            |e| map_error(ureq::Error::from(e)),
        )?;
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

/// ureq's resolver, minus a thread per request for IP literals.
///
/// ureq's `DefaultResolver` runs `ToSocketAddrs` on a freshly spawned thread whenever a timeout
/// bounds resolution (ours always does: [`TransportConfig::total_timeout`]), so that it can give
/// up on a slow DNS server. It does so for every request, pooled connection or not, and even
/// for `127.0.0.1`: a thread spawn and join per request (~150 µs on loopback). An IP literal
/// (`127.0.0.1`, `[::1]`) needs no lookup, so it is answered at once, filtered by the agent's
/// IP family like any other address; host names go to `DefaultResolver`, timeout included.
#[derive(Debug, Default)]
struct LiteralFirstResolver {
    dns: DefaultResolver,
}

impl LiteralFirstResolver {
    /// The socket address of an `http`/`https` URI whose host is an IP literal.
    fn literal(uri: &Uri) -> Option<SocketAddr> {
        let authority = uri.authority()?;
        let port = match (authority.port_u16(), uri.scheme_str()?) {
            (Some(port), "http" | "https") => port,
            (None, "http") => 80,
            (None, "https") => 443,
            _ => return None,
        };
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, port))
    }
}

impl Resolver for LiteralFirstResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &UreqConfig,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(addr) = Self::literal(uri) else {
            return self.dns.resolve(uri, config, timeout);
        };
        let mut out = self.empty();
        for a in config.ip_family().keep_wanted(std::iter::once(addr)) {
            out.push(a);
        }
        if out.is_empty() {
            Err(ureq::Error::HostNotFound)
        } else {
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(uri: &str) -> Option<SocketAddr> {
        LiteralFirstResolver::literal(&uri.parse().unwrap())
    }

    #[test]
    fn ip_literals_resolve_without_lookup() {
        assert_eq!(
            literal("http://127.0.0.1:8080/x"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            literal("http://127.0.0.1/x"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            literal("https://10.1.2.3/x?y=1"),
            Some("10.1.2.3:443".parse().unwrap())
        );
        assert_eq!(
            literal("http://[::1]:9000/"),
            Some("[::1]:9000".parse().unwrap())
        );
        assert_eq!(
            literal("https://[2001:db8::1]/"),
            Some("[2001:db8::1]:443".parse().unwrap())
        );
        // Host names (and unknown schemes) go to ureq's resolver.
        assert_eq!(literal("http://localhost:8080/"), None);
        assert_eq!(literal("https://api.example.com/"), None);
        assert_eq!(literal("socks5://127.0.0.1:1080/"), None);
    }

    #[test]
    fn resolver_answers_literals_and_delegates_names() {
        let r = LiteralFirstResolver::default();
        let timeout = NextTimeout {
            after: std::time::Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        let any = UreqConfig::default();
        let addrs = r
            .resolve(&"http://127.0.0.1:1/".parse().unwrap(), &any, timeout)
            .unwrap();
        assert_eq!(&addrs[..], &["127.0.0.1:1".parse::<SocketAddr>().unwrap()]);
        let addrs = r
            .resolve(&"http://[::1]:2/".parse().unwrap(), &any, timeout)
            .unwrap();
        assert_eq!(&addrs[..], &["[::1]:2".parse::<SocketAddr>().unwrap()]);
        // The agent's IP family still applies.
        let v4 = UreqConfig::builder()
            .ip_family(ureq::config::IpFamily::Ipv4Only)
            .build();
        assert!(matches!(
            r.resolve(&"http://[::1]:2/".parse().unwrap(), &v4, timeout),
            Err(ureq::Error::HostNotFound)
        ));
        // A host name goes through the lookup.
        let addrs = r
            .resolve(&"http://localhost:3/".parse().unwrap(), &any, timeout)
            .unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 3));
    }
}
