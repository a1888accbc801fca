//! [`RedisStoreConfig`]: where the store connects and how long it waits.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use kaifang_proto_core::Error;
use kaifang_proto_core::context::{Clock, SystemClock};
use kaifang_proto_core::secret::SecretString;

/// How a [`RedisStore`](crate::RedisStore) or [`AsyncRedisStore`](crate::AsyncRedisStore)
/// connects.
///
/// Defaults: prefix `kaifang`, connect timeout 1 s, response timeout 1 s, the system clock
/// (token TTLs and lease ends are computed from it).
///
/// The URL may hold a password (`redis://:secret@host:6379/0`); `Debug` shows it redacted and
/// no error message quotes it.
///
/// ```
/// use std::time::Duration;
/// use kaifang_store_redis::RedisStoreConfig;
/// let c = RedisStoreConfig::new("redis://:hunter2@10.0.0.5:6379/3")
///     .prefix("fleet-a")
///     .response_timeout(Duration::from_millis(300));
/// let shown = format!("{c:?}");
/// assert!(shown.contains("10.0.0.5:6379/3") && !shown.contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct RedisStoreConfig {
    pub(crate) url: SecretString,
    pub(crate) prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl RedisStoreConfig {
    /// A configuration for the server at `url` (`redis://[:password@]host[:port][/db]` or
    /// `redis+unix:///path`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::new(url.into()),
            prefix: "kaifang".to_owned(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
        }
    }

    /// The namespace of every key (default `kaifang`): instances that share tokens use the
    /// same prefix; separate deployments on one server use different ones.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long establishing a connection may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one command may take to answer.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The clock token TTLs and lease ends are computed from (the system clock by default; use
    /// the transport client's skew-corrected clock to follow the platform's time).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The key prefix.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The URL with any password replaced by `REDACTED`: what `Debug` and logs show.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose_secret())
    }

    /// The `redis` client for the URL, and the URL's password (what error messages must never
    /// quote). Parses only; does not connect.
    pub(crate) fn client(&self) -> Result<(redis::Client, Option<String>), Error> {
        let client = redis::Client::open(self.url.expose_secret()).map_err(|e| {
            Error::Config(format!(
                "redis store: {} is not a usable Redis URL ({:?})",
                self.redacted_url(),
                e.kind()
            ))
        })?;
        Ok((client, self.password()))
    }

    /// The password in the URL, if any.
    fn password(&self) -> Option<String> {
        url::Url::parse(self.url.expose_secret())
            .ok()
            .and_then(|u| u.password().map(decode_component))
            .filter(|p| !p.is_empty())
    }
}

impl fmt::Debug for RedisStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreConfig")
            .field("url", &self.redacted_url())
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

fn decode_component(s: &str) -> String {
    percent_decode(s).unwrap_or_else(|| s.to_owned())
}

/// `%XX` decoding of a URL component (the password as Redis receives it); `None` when the
/// result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `url` with its password (and, for an unparsable URL, everything but the scheme) hidden.
fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                // Only fails for URLs that cannot have credentials, which this one has.
                let _ = u.set_password(Some("REDACTED"));
            }
            u.to_string()
        }
        Err(_) => {
            let scheme = raw.split_once("://").map_or("?", |(s, _)| s);
            format!("{scheme}://[unparsable, redacted]")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_found() {
        let c = RedisStoreConfig::new("redis://user:p%40ss@host:6380/2");
        assert_eq!(c.redacted_url(), "redis://user:REDACTED@host:6380/2");
        assert_eq!(c.password().as_deref(), Some("p@ss"));
        let c = RedisStoreConfig::new("redis://127.0.0.1:6379");
        assert_eq!(c.password(), None);
        assert_eq!(c.redacted_url(), "redis://127.0.0.1:6379");
        let c = RedisStoreConfig::new("redis://:sec ret@[::1");
        assert!(!format!("{c:?}").contains("sec"));
    }
}
