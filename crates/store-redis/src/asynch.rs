//! [`AsyncRedisStore`]: the store on a tokio multiplexed connection.

use core::fmt;
use std::future::Future;
use std::time::Duration;

use kaifang_proto_core::Error;
use kaifang_proto_core::lifecycle::{AsyncTokenStore, BoxFuture, Fence, StoredToken, TokenKey};
use kaifang_proto_core::token::Fingerprint;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult};

use crate::config::RedisStoreConfig;
use crate::conn::Conn;
use crate::error::{Op, breaks_connection, is_stale, store_error};
use crate::keys::Keys;
use crate::scripts;

/// An [`AsyncTokenStore`] on Redis through one multiplexed tokio connection (concurrent
/// operations are pipelined on it; cloning it is cheap).
///
/// As [`RedisStore`](crate::RedisStore): connects on first use (inside the tokio runtime that
/// uses it), drops the connection after an I/O error or timeout and reconnects on the next
/// operation; every operation is bounded by the configured timeouts.
///
/// ```no_run
/// use std::sync::Arc;
/// use kaifang_proto_core::transport::TransportConfig;
/// use kaifang_store_redis::{AsyncRedisStore, RedisStoreConfig};
/// use kaifang_transport_async::{AsyncClient, TokenManager};
///
/// # async fn demo() -> Result<(), kaifang_proto_core::Error> {
/// let store = AsyncRedisStore::open(RedisStoreConfig::new("redis://127.0.0.1:6379"))?;
/// store.ping().await?;
/// let client = Arc::new(AsyncClient::new(TransportConfig::default())?);
/// let tokens = TokenManager::new(client).with_store(Arc::new(store));
/// # let _ = tokens; Ok(()) }
/// ```
pub struct AsyncRedisStore {
    inner: Conn<MultiplexedConnection>,
}

impl fmt::Debug for AsyncRedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("AsyncRedisStore", f)
    }
}

impl AsyncRedisStore {
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
    pub async fn ping(&self) -> Result<(), Error> {
        let cmd = &redis::cmd("PING");
        self.run(Op::Ping, |mut c| async move {
            cmd.query_async::<String>(&mut c).await
        })
        .await
        .map(drop)
    }

    fn keys(&self, key: &TokenKey) -> Keys {
        Keys::new(&self.inner.config.prefix, key)
    }

    /// The shared connection (a cheap clone), made first if there is none, and whether it was
    /// already there. Two tasks that find none at once both connect; the last one's connection
    /// is kept, the other is dropped.
    async fn connection(&self) -> Result<(MultiplexedConnection, bool), Error> {
        if let Some(c) = self.inner.slot().as_ref() {
            return Ok((c.clone(), true));
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.inner.config.connect_timeout))
            .set_response_timeout(Some(self.inner.config.response_timeout));
        let conn = self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| store_error(Op::Connect, &e, self.inner.password.as_deref()))?;
        *self.inner.slot() = Some(conn.clone());
        Ok((conn, false))
    }

    /// Runs `f` on the shared connection (made first if there is none). A connection that
    /// fails in a way that leaves it unusable is dropped; if it was an old one (Redis restarted
    /// or the network cut it), `f` runs once more on a fresh connection (see
    /// `RedisStore::run`).
    async fn run<T, F, Fut>(&self, op: Op, f: F) -> Result<T, Error>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (conn, reused) = self.connection().await?;
        let e = match f(conn).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let pw = self.inner.password.as_deref();
        if !breaks_connection(&e) {
            return Err(store_error(op, &e, pw));
        }
        *self.inner.slot() = None;
        if !(reused && is_stale(&e)) {
            tracing::debug!(op = ?op, "redis connection dropped; the next operation reconnects");
            return Err(store_error(op, &e, pw));
        }
        tracing::debug!(op = ?op, "stale redis connection; retrying once on a new one");
        let (conn, _) = self.connection().await?;
        f(conn).await.map_err(|e| {
            if breaks_connection(&e) {
                *self.inner.slot() = None;
            }
            store_error(op, &e, pw)
        })
    }

    async fn get_async(&self, key: &TokenKey) -> Result<Option<StoredToken>, Error> {
        let cmd = &scripts::get(&self.keys(key));
        let reply = self
            .run(Op::Get, |mut c| async move {
                cmd.query_async::<Vec<Option<Vec<u8>>>>(&mut c).await
            })
            .await?;
        scripts::read_get(reply)
    }

    async fn set_if_newer_async(&self, key: &TokenKey, token: &StoredToken) -> Result<bool, Error> {
        let Some(inv) =
            scripts::set_if_newer(&self.keys(key), token, self.inner.config.clock.now())
        else {
            return Ok(false);
        };
        let inv = &inv;
        self.run(Op::SetIfNewer, |mut c| async move {
            inv.invoke_async::<i64>(&mut c).await
        })
        .await
        .map(|n| n == 1)
    }

    async fn expire_if_async(&self, key: &TokenKey, fp: &Fingerprint) -> Result<bool, Error> {
        let inv = &scripts::expire_if(&self.keys(key), fp);
        self.run(Op::ExpireIf, |mut c| async move {
            inv.invoke_async::<i64>(&mut c).await
        })
        .await
        .map(|n| n == 1)
    }

    async fn try_lock_async(
        &self,
        key: &TokenKey,
        lease: Duration,
        owner: &str,
    ) -> Result<Option<Fence>, Error> {
        let inv = &scripts::try_lock(&self.keys(key), lease, owner);
        // The lease is counted from before the request (see `RedisStore::try_lock`).
        let sent = self.inner.config.clock.now();
        let fence = self
            .run(Op::TryLock, |mut c| async move {
                inv.invoke_async::<i64>(&mut c).await
            })
            .await?;
        scripts::read_try_lock(fence, owner, lease, sent)
    }

    async fn unlock_async(&self, key: &TokenKey, fence: &Fence) -> Result<bool, Error> {
        let inv = &scripts::unlock(&self.keys(key), fence);
        self.run(Op::Unlock, |mut c| async move {
            inv.invoke_async::<i64>(&mut c).await
        })
        .await
        .map(|n| n == 1)
    }
}

impl AsyncTokenStore for AsyncRedisStore {
    fn get<'a>(&'a self, key: &'a TokenKey) -> BoxFuture<'a, Result<Option<StoredToken>, Error>> {
        Box::pin(self.get_async(key))
    }

    fn set_if_newer<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a StoredToken,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(self.set_if_newer_async(key, token))
    }

    fn expire_if<'a>(
        &'a self,
        key: &'a TokenKey,
        fingerprint: &'a Fingerprint,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(self.expire_if_async(key, fingerprint))
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a TokenKey,
        lease: Duration,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fence>, Error>> {
        Box::pin(self.try_lock_async(key, lease, owner))
    }

    fn unlock<'a>(
        &'a self,
        key: &'a TokenKey,
        fence: &'a Fence,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(self.unlock_async(key, fence))
    }
}
