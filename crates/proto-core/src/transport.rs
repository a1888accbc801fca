//! What every transport shares, as pure data and pure functions: [`TransportConfig`], the
//! request/response steps around the I/O ([`TransportCore`]), the bounded body buffer
//! ([`BodyBuffer`]), the error constructors, and the settling of a refresh ticket
//! ([`settle_refresh`]).
//!
//! A transport (`kaifang-transport-blocking`, `kaifang-transport-async`) does only the I/O:
//!
//! 1. [`TransportCore::build`]: the exchange builds its request; the URI is checked to be
//!    absolute and the `User-Agent` is added when the exchange did not set one.
//! 2. Send it (connect and total timeouts from [`TransportConfig`]; redirects never followed).
//! 3. [`TransportCore::check_head`] on the status and headers: learns the clock skew from `Date`,
//!    refuses a redirect (`Error::Transport { kind: Redirect }`), refuses a `Content-Length`
//!    above the limit, and returns the [`BodyBuffer`] to read into.
//! 4. Read the body chunk by chunk into the buffer ([`BodyBuffer::push`] fails as soon as the
//!    limit is passed, whatever `Content-Length` said).
//! 5. [`TransportCore::finish`]: the exchange parses the response, with the skew-corrected
//!    [`Context`].
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::error::{Error, TransportErrorKind};
//! use kaifang_proto_core::transport::{TransportConfig, TransportCore};
//!
//! let config = TransportConfig { max_body_bytes: 4, ..TransportConfig::default() };
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(0)), Arc::new(FixedNonce::new("n")));
//! let core = TransportCore::new(config, ctx).unwrap();
//! let mut body = core.check_head(http::StatusCode::OK, &http::HeaderMap::new()).unwrap();
//! body.push(b"abcd").unwrap();
//! let err = body.push(b"e").unwrap_err();
//! assert!(matches!(err, Error::Transport { kind: TransportErrorKind::BodyTooLarge { limit: 4 }, .. }));
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::context::{Clock, Context, Nonce, OffsetClock};
use crate::error::{Error, TransportErrorKind};
use crate::exchange::Exchange;
use crate::lifecycle::{
    FailureOutcome, Fence, RefreshPolicy, RefreshTicket, StoredToken, TokenSlot,
};
use crate::redact;
use crate::token::Token;

/// `kaifang/<version>`: the `User-Agent` both transports send unless the exchange sets one.
pub const DEFAULT_USER_AGENT: &str = concat!("kaifang/", env!("CARGO_PKG_VERSION"));

/// Default response body limit: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// The configuration both transports take, with the same meaning in each.
///
/// `Default`: connect timeout 10 s, total timeout 30 s, body limit 4 MiB, user agent
/// [`DEFAULT_USER_AGENT`], skew learning on with a 2 s threshold, 64 idle connections kept per
/// host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Deadline for DNS resolution plus the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Deadline for the whole exchange: connect, send, response head and the complete body.
    pub total_timeout: Duration,
    /// Largest response body accepted, in bytes. A larger `Content-Length` fails before the
    /// body is read; a body without one (chunked, close-delimited) fails as soon as it passes
    /// the limit. Either way: `Error::Transport { kind: BodyTooLarge { limit } }`.
    pub max_body_bytes: u64,
    /// `User-Agent` sent when the exchange did not set one.
    pub user_agent: String,
    /// Learn the clock skew from each response's `Date` header and apply it to the clock the
    /// exchanges see (signatures and token expiries then use the server's time).
    pub learn_skew: bool,
    /// The skew is updated only when it moves by more than this (`Date` has one-second
    /// resolution: keep it at 2 s or more).
    pub skew_threshold: Duration,
    /// Idle keep-alive connections kept per host for reuse. Size it to the number of requests
    /// your process runs at once: every request beyond it opens (and then closes) a connection
    /// of its own, paying the TCP and TLS handshakes, and bursts of new connections are what
    /// overflow a server's accept queue. (ureq's own default is 3.)
    pub max_idle_per_host: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            learn_skew: true,
            skew_threshold: Duration::from_secs(2),
            max_idle_per_host: 64,
        }
    }
}

impl TransportConfig {
    /// Checks the values: non-zero timeouts, a user agent that is a valid header value.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.connect_timeout.is_zero() || self.total_timeout.is_zero() {
            return Err(Error::Config("transport timeouts must be non-zero".into()));
        }
        if HeaderValue::from_str(&self.user_agent).is_err() {
            return Err(Error::Config(
                "transport user_agent is not a valid header value".into(),
            ));
        }
        Ok(())
    }
}

/// The I/O-free half of a transport: configuration, the skew-corrected clock and the steps
/// around sending (see the [module docs](self)). Both transports hold one.
#[derive(Debug)]
pub struct TransportCore {
    config: TransportConfig,
    user_agent: HeaderValue,
    local_clock: Arc<dyn Clock>,
    clock: Arc<OffsetClock>,
    ctx: Context,
}

impl TransportCore {
    /// A core for `config`, wrapping the clock of `ctx` in an [`OffsetClock`] (offset 0). The
    /// [`Context`] given to exchanges is `ctx` with that clock.
    ///
    /// # Errors
    /// [`Error::Config`] from [`TransportConfig::validate`].
    pub fn new(config: TransportConfig, ctx: Context) -> Result<Self, Error> {
        config.validate()?;
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            Error::Config("transport user_agent is not a valid header value".into())
        })?;
        let local_clock = Arc::clone(ctx.clock());
        let clock = Arc::new(OffsetClock::new(Arc::clone(&local_clock), 0));
        let ctx = ctx.with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
        Ok(Self {
            config,
            user_agent,
            local_clock,
            clock,
            ctx,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// The context exchanges see: the caller's random source and the skew-corrected clock.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The skew-corrected clock (read its [`OffsetClock::offset_ms`], or set it from a
    /// server-time API).
    #[must_use]
    pub fn clock(&self) -> &Arc<OffsetClock> {
        &self.clock
    }

    /// Step 1: builds the exchange's request, checks that its URI is absolute (`http`/`https`
    /// with a host) and adds the `User-Agent` when missing.
    ///
    /// # Errors
    /// The exchange's build error, or [`Error::Config`] for a relative URI or another scheme.
    pub fn build<E: Exchange + ?Sized>(
        &self,
        exchange: &E,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        let mut req = exchange.build(&self.ctx)?;
        let uri = req.uri();
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.authority().is_none() {
            return Err(Error::Config(format!(
                "exchange `{}` built a request without an absolute http(s) URI: {}",
                exchange.name(),
                redact::url(&uri.to_string())
            )));
        }
        if !req.headers().contains_key(http::header::USER_AGENT) {
            req.headers_mut()
                .insert(http::header::USER_AGENT, self.user_agent.clone());
        }
        Ok(req)
    }

    /// Step 3: checks a response head. Learns the skew from `Date` (when configured), refuses
    /// redirects (301, 302, 303, 307, 308: [`TransportErrorKind::Redirect`], with the redacted
    /// `Location` in the message) and a `Content-Length` above the limit
    /// ([`TransportErrorKind::BodyTooLarge`]). Returns the buffer to read the body into.
    ///
    /// # Errors
    /// The refusals above.
    pub fn check_head(&self, status: StatusCode, headers: &HeaderMap) -> Result<BodyBuffer, Error> {
        if self.config.learn_skew
            && let Some(date) = headers.get(http::header::DATE)
        {
            let _ = self.clock.learn_from_date(
                self.local_clock.now(),
                date,
                self.config.skew_threshold,
            );
        }
        if is_followable_redirect(status) {
            return Err(redirect_refused(status, headers));
        }
        let limit = self.config.max_body_bytes;
        let declared = content_length(headers);
        if declared.is_some_and(|n| n > limit) {
            return Err(body_too_large(limit));
        }
        Ok(BodyBuffer::new(limit, declared))
    }

    /// Step 5: the exchange parses the complete response with the skew-corrected context.
    ///
    /// # Errors
    /// The exchange's parse error.
    pub fn finish<E: Exchange + ?Sized>(
        &self,
        exchange: &E,
        response: http::Response<Vec<u8>>,
    ) -> Result<E::Output, Error> {
        exchange.parse(&self.ctx, response)
    }
}

/// `true` for the statuses an HTTP client would follow (301, 302, 303, 307, 308). Other 3xx
/// (304 Not Modified, 300) go to the exchange like any status.
#[must_use]
pub fn is_followable_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The error for a refused redirect: status and redacted `Location`.
#[must_use]
pub fn redirect_refused(status: StatusCode, headers: &HeaderMap) -> Error {
    let location = headers
        .get(http::header::LOCATION)
        .map(|v| redact::url(&String::from_utf8_lossy(v.as_bytes())))
        .unwrap_or_else(|| "(no Location)".to_owned());
    Error::Transport {
        kind: TransportErrorKind::Redirect,
        message: format!("redirects are not followed: {status} to {location}"),
    }
}

/// The declared `Content-Length`, when present and valid.
#[must_use]
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Error::Transport { kind: BodyTooLarge { limit } }`.
#[must_use]
pub fn body_too_large(limit: u64) -> Error {
    Error::Transport {
        kind: TransportErrorKind::BodyTooLarge { limit },
        message: format!("response body exceeds the limit of {limit} bytes"),
    }
}

/// A transport error whose message (an HTTP client's description) is passed through
/// [`redact::text`] first, so a URL with `access_token=` in it cannot leak.
#[must_use]
pub fn transport_error(kind: TransportErrorKind, message: &str) -> Error {
    Error::Transport {
        kind,
        message: redact::text(message),
    }
}

/// A response body being read: never holds more than the limit.
#[derive(Debug)]
pub struct BodyBuffer {
    limit: u64,
    buf: Vec<u8>,
}

/// Never preallocate more than this from a `Content-Length` (the server may lie).
const PREALLOC_MAX: u64 = 64 * 1024;

impl BodyBuffer {
    /// An empty buffer for a body of at most `limit` bytes; `size_hint` (the `Content-Length`)
    /// sizes the first allocation (at most 64 KiB).
    #[must_use]
    pub fn new(limit: u64, size_hint: Option<u64>) -> Self {
        let cap = size_hint.unwrap_or(0).min(limit).min(PREALLOC_MAX);
        Self {
            limit,
            buf: Vec::with_capacity(usize::try_from(cap).unwrap_or(0)),
        }
    }

    /// The limit in bytes.
    #[must_use]
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// How many more bytes may arrive: read at most `remaining() + 1` bytes from a stream to
    /// detect an oversize body without reading it all.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.buf.len() as u64)
    }

    /// Appends a chunk.
    ///
    /// # Errors
    /// [`body_too_large`] when the total would pass the limit (the chunk is then not kept).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if chunk.len() as u64 > self.remaining() {
            return Err(body_too_large(self.limit));
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Reads `reader` to its end straight into the buffer (no intermediate chunk buffer to
    /// zero and copy from), reading at most `remaining() + 1` bytes: a body longer than the
    /// limit fails as soon as it passes it. `io_error` maps a read error.
    ///
    /// # Errors
    /// `io_error(e)` for a read error; [`body_too_large`] when the body passes the limit (the
    /// buffer then holds the bytes read so far, one past the limit: drop it).
    pub fn read_to_end_from<R: std::io::Read>(
        &mut self,
        reader: R,
        io_error: impl FnOnce(std::io::Error) -> Error,
    ) -> Result<(), Error> {
        use std::io::Read as _;
        let allowed = self.remaining().saturating_add(1);
        reader
            .take(allowed)
            .read_to_end(&mut self.buf)
            .map_err(io_error)?;
        if self.buf.len() as u64 > self.limit {
            return Err(body_too_large(self.limit));
        }
        Ok(())
    }

    /// The bytes read.
    #[must_use]
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// How a refresh ended, from [`settle_refresh`].
#[derive(Debug)]
pub enum Settled {
    /// The new token, installed and published to the readers.
    Token(Arc<Token>),
    /// The refresh token was rejected: acquire again at once (the next ticket is a full grant).
    FallBack,
    /// The refresh failed; the slot backs off. `stale` is the old token while still usable.
    Failed {
        /// Why.
        error: Error,
        /// The still-usable old token, if any.
        stale: Option<Arc<Token>>,
    },
}

/// Gives a ticket back to the slot with the result of the refresh: `on_refresh_success` or
/// `on_refresh_failure`. The caller holds the slot's lock and wakes the waiters afterwards.
pub fn settle_refresh(
    slot: &mut TokenSlot,
    ticket: RefreshTicket,
    result: Result<Token, Error>,
    policy: &RefreshPolicy,
    now: SystemTime,
    rng: &dyn Nonce,
) -> Settled {
    match result {
        Ok(token) => Settled::Token(slot.on_refresh_success(ticket, token, policy, rng)),
        Err(error) => match slot.on_refresh_failure(ticket, &error, policy, now, rng) {
            FailureOutcome::FallBackToFullGrant => Settled::FallBack,
            FailureOutcome::BackOff { stale, .. } => Settled::Failed { error, stale },
            FailureOutcome::Superseded => Settled::Failed { error, stale: None },
        },
    }
}

/// Whether a token read from a shared store should be adopted instead of refreshing: it is not
/// invalidated, still usable at `now`, and newer than (or different from and as new as) the
/// `current` token of this process.
#[must_use]
pub fn adopt_from_store(
    stored: &StoredToken,
    current: Option<&Token>,
    policy: &RefreshPolicy,
    now: SystemTime,
) -> bool {
    if stored.invalidated || !policy.is_usable(&stored.token, now) {
        return false;
    }
    match current {
        None => true,
        Some(c) => {
            stored.token.issued_at >= c.issued_at && stored.token.fingerprint() != c.fingerprint()
        }
    }
}

/// The shared store's answer to an instance about to refresh (step 2 of the lifecycle recipe,
/// see [`lifecycle`](crate::lifecycle)).
#[derive(Debug)]
pub enum StoreTurn {
    /// The store holds a usable token newer than ours (another instance refreshed): use it,
    /// no upstream request.
    Adopt(Token),
    /// Refresh upstream: under this store lock (`Some`: write the token with its fence, then
    /// unlock), or without the store (`None`: it failed, and a store outage must not stop the
    /// refresh).
    Refresh(Option<Fence>),
}

/// The delay before the `attempt`-th poll (0-based) of a shared store while another instance
/// refreshes: 20 ms doubling to 500 ms.
#[must_use]
pub fn store_poll_delay(attempt: u32) -> Duration {
    Duration::from_millis(20u64.saturating_mul(1u64 << attempt.min(5)))
        .min(Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{FixedNonce, FrozenClock};
    use crate::lifecycle::Acquire;
    use std::time::UNIX_EPOCH;

    #[test]
    fn body_buffer_reads_to_end_within_the_limit() {
        let io = |e: std::io::Error| transport_error(TransportErrorKind::Io, &e.to_string());
        let mut b = BodyBuffer::new(10, Some(4));
        b.push(b"ab").unwrap();
        b.read_to_end_from(&b"cdefghij"[..], io).unwrap();
        assert_eq!(b.into_vec(), b"abcdefghij");
        // One byte past the limit fails, having read no more than limit + 1 bytes.
        let mut b = BodyBuffer::new(10, None);
        let mut src = &[b'x'; 100][..];
        let err = b.read_to_end_from(&mut src, io).unwrap_err();
        assert!(matches!(
            err,
            Error::Transport {
                kind: TransportErrorKind::BodyTooLarge { limit: 10 },
                ..
            }
        ));
        assert_eq!(src.len(), 89);
        // A read error is mapped.
        struct Broken;
        impl std::io::Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("reset"))
            }
        }
        let err = BodyBuffer::new(10, None)
            .read_to_end_from(Broken, io)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Transport {
                kind: TransportErrorKind::Io,
                ..
            }
        ));
    }

    struct Get(&'static str);
    impl Exchange for Get {
        type Output = Vec<u8>;
        fn build(&self, _: &Context) -> Result<http::Request<Vec<u8>>, Error> {
            http::Request::get(self.0)
                .body(Vec::new())
                .map_err(|e| Error::Config(e.to_string()))
        }
        fn parse(&self, _: &Context, r: http::Response<Vec<u8>>) -> Result<Vec<u8>, Error> {
            Ok(r.into_body())
        }
    }

    fn core(config: TransportConfig) -> TransportCore {
        let ctx = Context::new(
            Arc::new(FrozenClock::from_unix_millis(784_111_717_000)),
            Arc::new(FixedNonce::new("n")),
        );
        TransportCore::new(config, ctx).unwrap()
    }

    #[test]
    fn build_checks_uri_and_sets_user_agent() {
        let c = core(TransportConfig::default());
        let req = c.build(&Get("http://h/x")).unwrap();
        assert_eq!(req.headers()["user-agent"], DEFAULT_USER_AGENT);
        assert!(DEFAULT_USER_AGENT.starts_with("kaifang/"));
        let err = c.build(&Get("/relative?access_token=MARKER")).unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(!err.to_string().contains("MARKER"));
        assert!(c.build(&Get("ftp://h/x")).is_err());
    }

    #[test]
    fn head_checks_redirect_length_and_skew() {
        let c = core(TransportConfig {
            max_body_bytes: 10,
            ..TransportConfig::default()
        });
        let mut h = HeaderMap::new();
        h.insert(
            "location",
            HeaderValue::from_static("http://evil/x?access_token=MARKER"),
        );
        let err = c.check_head(StatusCode::FOUND, &h).unwrap_err();
        assert!(matches!(
            err,
            Error::Transport {
                kind: TransportErrorKind::Redirect,
                ..
            }
        ));
        assert!(!err.to_string().contains("MARKER"), "{err}");
        assert!(c.check_head(StatusCode::NOT_MODIFIED, &h).is_ok());
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("11"));
        h.insert(
            "date",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert!(matches!(
            c.check_head(StatusCode::OK, &h).unwrap_err(),
            Error::Transport {
                kind: TransportErrorKind::BodyTooLarge { limit: 10 },
                ..
            }
        ));
        // The Date header was learned even though the body was refused.
        assert_eq!(c.clock().offset_ms(), 60_000);
        assert_eq!(c.context().now_millis(), 784_111_777_000);
    }

    #[test]
    fn config_validation() {
        assert!(TransportConfig::default().validate().is_ok());
        let bad = TransportConfig {
            user_agent: "a\nb".into(),
            ..TransportConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = TransportConfig {
            total_timeout: Duration::ZERO,
            ..TransportConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn error_messages_are_redacted() {
        let e = transport_error(
            TransportErrorKind::Io,
            "error sending request for url (http://h/x?access_token=MARKER)",
        );
        assert!(!e.to_string().contains("MARKER"), "{e}");
    }

    #[test]
    fn settle_and_adopt() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = RefreshPolicy::default();
        let rng = FixedNonce::new("x");
        let mut slot = TokenSlot::new();
        let Acquire::Fetch(ticket) = slot.acquire(&p, now) else {
            unreachable!()
        };
        let s = settle_refresh(
            &mut slot,
            ticket,
            Ok(Token::from_expires_in("a", now, 100)),
            &p,
            now,
            &rng,
        );
        let Settled::Token(a) = s else { unreachable!() };
        let same = StoredToken::new(Arc::clone(&a), 1);
        assert!(!adopt_from_store(&same, Some(&a), &p, now));
        assert!(adopt_from_store(&same, None, &p, now));
        let newer = StoredToken::new(Arc::new(Token::from_expires_in("b", now, 100)), 2);
        assert!(adopt_from_store(&newer, Some(&a), &p, now));
        assert!(!adopt_from_store(
            &newer,
            Some(&a),
            &p,
            now + Duration::from_secs(99)
        ));
        assert!(store_poll_delay(0) < store_poll_delay(3));
        assert_eq!(store_poll_delay(40), Duration::from_millis(500));
    }
}
