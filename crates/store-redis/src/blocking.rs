//! [`RedisStore`]: the store on a blocking connection.

use core::fmt;
use std::time::Duration;

use kaifang_proto_core::Error;
use kaifang_proto_core::lifecycle::{Fence, StoredToken, TokenKey, TokenStore};
use kaifang_proto_core::token::Fingerprint;
use redis::{Connection, RedisResult};

use crate::config::RedisStoreConfig;
use crate::conn::Conn;
use crate::error::{Op, breaks_connection, is_stale, store_error};
use crate::keys::Keys;
use crate::scripts;

/// A [`TokenStore`] on Redis through one blocking connection (operations from several threads
/// take turns on it: they are short and only happen on the refresh path, never on a cache hit).
///
/// The connection is made on first use (so a store can be built while Redis is down) and
/// dropped after an I/O error or timeout; the next operation reconnects. Every operation is
/// bounded by the connect and response timeouts of its [`RedisStoreConfig`].
///
/// ```no_run
/// use kaifang_proto_core::lifecycle::{TokenKey, TokenStore};
/// use kaifang_store_redis::{RedisStore, RedisStoreConfig};
/// # fn main() -> Result<(), kaifang_proto_core::Error> {
/// let store = RedisStore::open(RedisStoreConfig::new("redis://127.0.0.1:6379"))?;
/// store.ping()?;
/// let stored = store.get(&TokenKey::new("tf56", "7", "access"))?;
/// # let _ = stored; Ok(()) }
/// ```
pub struct RedisStore {
    inner: Conn<Connection>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("RedisStore", f)
    }
}

impl RedisStore {
    /// A store for `config`. Parses the URL; does not connect.
    ///
    /// # Errors
    /// [`Error::Config`] when the URL is not a Redis URL (the message does not quote it).
    pub fn open(config: RedisStoreConfig) -> Result<Self, Error> {
        Conn::open(config).map(|inner| Self { inner })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RedisStoreConfig {
        &self.inner.config
    }

    /// One round trip (`PING`), connecting first if needed.
    ///
    /// # Errors
    /// [`Error::Store`] when Redis cannot be reached within the timeouts.
    pub fn ping(&self) -> Result<(), Error> {
        self.run(Op::Ping, |c| redis::cmd("PING").query::<String>(c))
            .map(drop)
    }

    fn keys(&self, key: &TokenKey) -> Keys {
        Keys::new(&self.inner.config.prefix, key)
    }

    fn connect(&self) -> Result<Connection, Error> {
        let pw = self.inner.password.as_deref();
        let conn = self
            .inner
            .client
            .get_connection_with_timeout(self.inner.config.connect_timeout)
            .map_err(|e| store_error(Op::Connect, &e, pw))?;
        let timeout = Some(nonzero(self.inner.config.response_timeout));
        conn.set_read_timeout(timeout)
            .and_then(|()| conn.set_write_timeout(timeout))
            .map_err(|e| store_error(Op::Connect, &e, pw))?;
        Ok(conn)
    }

    /// Runs `f` on the connection (made first if there is none). A connection that fails in a
    /// way that leaves it unusable is dropped; if it was an old one (Redis restarted or the
    /// network cut it since its last use), `f` runs once more on a fresh connection, so the
    /// first operation after an outage does not fail for nothing.
    fn run<T>(&self, op: Op, f: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T, Error> {
        let mut guard = self.inner.slot();
        let reused = guard.is_some();
        let conn = match guard.as_mut() {
            Some(c) => c,
            None => guard.insert(self.connect()?),
        };
        let e = match f(conn) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !breaks_connection(&e) {
            return Err(store_error(op, &e, self.inner.password.as_deref()));
        }
        *guard = None;
        if !(reused && is_stale(&e)) {
            tracing::debug!(op = ?op, "redis connection dropped; the next operation reconnects");
            return Err(store_error(op, &e, self.inner.password.as_deref()));
        }
        tracing::debug!(op = ?op, "stale redis connection; retrying once on a new one");
        let conn = guard.insert(self.connect()?);
        f(conn).map_err(|e| {
            if breaks_connection(&e) {
                *guard = None;
            }
            store_error(op, &e, self.inner.password.as_deref())
        })
    }
}

/// `set_read_timeout(Some(0))` is an error; the smallest real timeout instead.
fn nonzero(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

impl TokenStore for RedisStore {
    fn get(&self, key: &TokenKey) -> Result<Option<StoredToken>, Error> {
        let cmd = scripts::get(&self.keys(key));
        let reply = self.run(Op::Get, |c| cmd.query::<Vec<Option<Vec<u8>>>>(c))?;
        scripts::read_get(reply)
    }

    fn set_if_newer(&self, key: &TokenKey, token: &StoredToken) -> Result<bool, Error> {
        let Some(inv) =
            scripts::set_if_newer(&self.keys(key), token, self.inner.config.clock.now())
        else {
            return Ok(false);
        };
        self.run(Op::SetIfNewer, |c| inv.invoke::<i64>(c))
            .map(|n| n == 1)
    }

    fn expire_if(&self, key: &TokenKey, fingerprint: &Fingerprint) -> Result<bool, Error> {
        let inv = scripts::expire_if(&self.keys(key), fingerprint);
        self.run(Op::ExpireIf, |c| inv.invoke::<i64>(c))
            .map(|n| n == 1)
    }

    fn try_lock(
        &self,
        key: &TokenKey,
        lease: Duration,
        owner: &str,
    ) -> Result<Option<Fence>, Error> {
        let inv = scripts::try_lock(&self.keys(key), lease, owner);
        // The lease is counted from before the request: the end we report is never later than
        // the server's.
        let sent = self.inner.config.clock.now();
        let fence = self.run(Op::TryLock, |c| inv.invoke::<i64>(c))?;
        scripts::read_try_lock(fence, owner, lease, sent)
    }

    fn unlock(&self, key: &TokenKey, fence: &Fence) -> Result<bool, Error> {
        let inv = scripts::unlock(&self.keys(key), fence);
        self.run(Op::Unlock, |c| inv.invoke::<i64>(c))
            .map(|n| n == 1)
    }
}
