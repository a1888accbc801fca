//! [`TokenStore`]: where tokens are shared between processes, with set-if-newer writes and a
//! leased, fenced refresh lock. [`MemoryStore`] is the in-process default; `store-redis`
//! implements the same contract on Redis.
//!
//! The store is synchronous with short operations ([`TokenStore`]), and has a boxed-future twin
//! ([`AsyncTokenStore`]) for stores whose client is async. Any synchronous store, such as
//! [`MemoryStore`], serves async transports through [`SyncAsAsync`].

use core::fmt;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::key::TokenKey;
use crate::context::{Clock, SystemClock};
use crate::error::Error;
use crate::token::{Fingerprint, Token};

/// A token as kept in a store, with the version that orders writes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredToken {
    /// The token.
    pub token: Arc<Token>,
    /// The fence of the lock held by the writer ([`Fence::token`]), or 0 when written without a
    /// lock.
    pub version: u64,
    /// Set by [`TokenStore::expire_if`]: the platform rejected this access token; its refresh
    /// token may still be used.
    pub invalidated: bool,
}

impl StoredToken {
    /// A valid token written under `version`.
    #[must_use]
    pub fn new(token: Arc<Token>, version: u64) -> Self {
        Self {
            token,
            version,
            invalidated: false,
        }
    }

    /// The write order: `(version, issued_at)` compared lexicographically. A writer whose lease
    /// expired (lower fence) can never overwrite the token of the writer that took over.
    #[must_use]
    pub fn is_newer_than(&self, other: &StoredToken) -> bool {
        (self.version, self.token.issued_at) > (other.version, other.token.issued_at)
    }
}

/// Proof of holding a store lock: a fencing number (strictly increasing per key across all
/// owners), the owner, and the end of the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The fencing number; use it as the [`StoredToken::version`] of what you write.
    pub token: u64,
    /// Who holds the lock (an instance id; not a secret).
    pub owner: String,
    /// When the lease ends if not released.
    pub expires_at: SystemTime,
}

/// A shared token store.
///
/// Contract (every implementation, memory or remote):
/// * `get` never returns a token older than one a `set_if_newer` returned `true` for, except
///   after the entry's TTL ran out;
/// * `set_if_newer` writes only if [`StoredToken::is_newer_than`] the stored one (or there is
///   none), atomically;
/// * `try_lock` grants at most one unexpired lease per key and fences strictly increase;
/// * `unlock` deletes the lock only if it is still `fence` (compare-and-delete), so an owner whose
///   lease expired cannot release the next owner's lock.
///
/// Every operation is short (no waiting inside); waiting for another instance's refresh is the
/// transport's job: poll `get` with backoff up to [`RefreshPolicy::max_wait`](super::RefreshPolicy::max_wait).
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The stored token.
    ///
    /// # Errors
    /// [`Error::Store`] when the backend fails.
    fn get(&self, key: &TokenKey) -> Result<Option<StoredToken>, Error>;

    /// Writes `token` if it is newer than the stored one; returns whether it wrote.
    ///
    /// # Errors
    /// [`Error::Store`]; then nothing was written.
    fn set_if_newer(&self, key: &TokenKey, token: &StoredToken) -> Result<bool, Error>;

    /// Compare-and-expire across instances: marks the stored token invalid if its access token
    /// has `fingerprint`. Returns whether it did.
    ///
    /// # Errors
    /// [`Error::Store`]; then nothing changed.
    fn expire_if(&self, key: &TokenKey, fingerprint: &Fingerprint) -> Result<bool, Error>;

    /// Takes the refresh lock of `key` for `lease` if it is free or its lease ended.
    ///
    /// # Errors
    /// [`Error::Store`]; then no lock is held.
    fn try_lock(
        &self,
        key: &TokenKey,
        lease: Duration,
        owner: &str,
    ) -> Result<Option<Fence>, Error>;

    /// Releases the lock if it is still `fence`; returns whether it did.
    ///
    /// # Errors
    /// [`Error::Store`]; the lease then ends on its own.
    fn unlock(&self, key: &TokenKey, fence: &Fence) -> Result<bool, Error>;
}

/// A boxed `Send` future, as returned by [`AsyncTokenStore`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`TokenStore`] for backends with async clients; same contract, same meaning of each method.
pub trait AsyncTokenStore: Send + Sync + fmt::Debug {
    /// See [`TokenStore::get`].
    fn get<'a>(&'a self, key: &'a TokenKey) -> BoxFuture<'a, Result<Option<StoredToken>, Error>>;
    /// See [`TokenStore::set_if_newer`].
    fn set_if_newer<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a StoredToken,
    ) -> BoxFuture<'a, Result<bool, Error>>;
    /// See [`TokenStore::expire_if`].
    fn expire_if<'a>(
        &'a self,
        key: &'a TokenKey,
        fingerprint: &'a Fingerprint,
    ) -> BoxFuture<'a, Result<bool, Error>>;
    /// See [`TokenStore::try_lock`].
    fn try_lock<'a>(
        &'a self,
        key: &'a TokenKey,
        lease: Duration,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fence>, Error>>;
    /// See [`TokenStore::unlock`].
    fn unlock<'a>(
        &'a self,
        key: &'a TokenKey,
        fence: &'a Fence,
    ) -> BoxFuture<'a, Result<bool, Error>>;
}

/// Any [`TokenStore`] used as an [`AsyncTokenStore`] (its operations are short, so running them
/// inline in a future is fine).
#[derive(Debug, Clone)]
pub struct SyncAsAsync<S>(pub S);

impl<S: TokenStore> AsyncTokenStore for SyncAsAsync<S> {
    fn get<'a>(&'a self, key: &'a TokenKey) -> BoxFuture<'a, Result<Option<StoredToken>, Error>> {
        Box::pin(std::future::ready(self.0.get(key)))
    }
    fn set_if_newer<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a StoredToken,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(std::future::ready(self.0.set_if_newer(key, token)))
    }
    fn expire_if<'a>(
        &'a self,
        key: &'a TokenKey,
        fingerprint: &'a Fingerprint,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(std::future::ready(self.0.expire_if(key, fingerprint)))
    }
    fn try_lock<'a>(
        &'a self,
        key: &'a TokenKey,
        lease: Duration,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fence>, Error>> {
        Box::pin(std::future::ready(self.0.try_lock(key, lease, owner)))
    }
    fn unlock<'a>(
        &'a self,
        key: &'a TokenKey,
        fence: &'a Fence,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(std::future::ready(self.0.unlock(key, fence)))
    }
}

#[derive(Debug, Default)]
struct Entry {
    stored: Option<StoredToken>,
    lock: Option<Fence>,
    fence_seq: u64,
}

/// The in-process [`TokenStore`]: a mutex-guarded map. Lease times come from its clock.
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<TokenKey, Entry>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.lock().len())
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryStore {
    /// An empty store whose leases follow `clock`.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TokenKey, Entry>> {
        // A panic while holding this lock cannot leave an entry half-written (each operation
        // replaces whole fields), so a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenStore for MemoryStore {
    fn get(&self, key: &TokenKey) -> Result<Option<StoredToken>, Error> {
        Ok(self.lock().get(key).and_then(|e| e.stored.clone()))
    }

    fn set_if_newer(&self, key: &TokenKey, token: &StoredToken) -> Result<bool, Error> {
        let mut map = self.lock();
        let entry = map.entry(key.clone()).or_default();
        let newer = entry
            .stored
            .as_ref()
            .is_none_or(|cur| token.is_newer_than(cur));
        if newer {
            entry.stored = Some(token.clone());
        }
        Ok(newer)
    }

    fn expire_if(&self, key: &TokenKey, fingerprint: &Fingerprint) -> Result<bool, Error> {
        let mut map = self.lock();
        match map.get_mut(key).and_then(|e| e.stored.as_mut()) {
            Some(s) if !s.invalidated && s.token.fingerprint() == *fingerprint => {
                s.invalidated = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn try_lock(
        &self,
        key: &TokenKey,
        lease: Duration,
        owner: &str,
    ) -> Result<Option<Fence>, Error> {
        let now = self.clock.now();
        let mut map = self.lock();
        let entry = map.entry(key.clone()).or_default();
        if entry.lock.as_ref().is_some_and(|l| now < l.expires_at) {
            return Ok(None);
        }
        entry.fence_seq += 1;
        let fence = Fence {
            token: entry.fence_seq,
            owner: owner.to_owned(),
            expires_at: now.checked_add(lease).unwrap_or(now),
        };
        entry.lock = Some(fence.clone());
        Ok(Some(fence))
    }

    fn unlock(&self, key: &TokenKey, fence: &Fence) -> Result<bool, Error> {
        let mut map = self.lock();
        match map.get_mut(key) {
            Some(e) if e.lock.as_ref() == Some(fence) => {
                e.lock = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::FrozenClock;
    use std::time::UNIX_EPOCH;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
    fn key() -> TokenKey {
        TokenKey::new("p", "app", "access")
    }
    fn stored(access: &str, issued_offset: u64, version: u64) -> StoredToken {
        StoredToken::new(
            Arc::new(Token::from_expires_in(
                access,
                t0() + Duration::from_secs(issued_offset),
                100,
            )),
            version,
        )
    }

    #[test]
    fn set_if_newer_orders_by_version_then_issue_time() {
        let s = MemoryStore::new(Arc::new(FrozenClock::new(t0())));
        assert!(s.set_if_newer(&key(), &stored("a", 10, 1)).unwrap());
        assert!(!s.set_if_newer(&key(), &stored("old", 5, 1)).unwrap());
        assert!(!s.set_if_newer(&key(), &stored("same", 10, 1)).unwrap());
        assert!(
            !s.set_if_newer(&key(), &stored("late-writer", 20, 0))
                .unwrap(),
            "lower fence loses"
        );
        assert!(s.set_if_newer(&key(), &stored("b", 11, 1)).unwrap());
        assert!(
            s.set_if_newer(&key(), &stored("c", 0, 2)).unwrap(),
            "higher fence wins"
        );
        let got = TokenStore::get(&s, &key()).unwrap().unwrap();
        assert_eq!(got.token.access.expose_secret(), "c");
        assert!(
            TokenStore::get(&s, &TokenKey::new("p", "other", "access"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn expire_if_compares() {
        let s = MemoryStore::default();
        assert!(!s.expire_if(&key(), &Fingerprint::of("a")).unwrap());
        s.set_if_newer(&key(), &stored("a", 0, 1)).unwrap();
        assert!(!s.expire_if(&key(), &Fingerprint::of("b")).unwrap());
        assert!(s.expire_if(&key(), &Fingerprint::of("a")).unwrap());
        assert!(!s.expire_if(&key(), &Fingerprint::of("a")).unwrap());
        assert!(TokenStore::get(&s, &key()).unwrap().unwrap().invalidated);
    }

    #[test]
    fn lease_expiry_and_fencing() {
        let clock = Arc::new(FrozenClock::new(t0()));
        let s = MemoryStore::new(clock.clone());
        let lease = Duration::from_secs(30);
        let a = s.try_lock(&key(), lease, "a").unwrap().unwrap();
        assert_eq!(a.token, 1);
        assert!(s.try_lock(&key(), lease, "b").unwrap().is_none());
        clock.advance(Duration::from_secs(30));
        let b = s.try_lock(&key(), lease, "b").unwrap().unwrap();
        assert!(b.token > a.token);
        // A's lease ended: it can neither release B's lock nor overwrite B's token.
        assert!(!s.unlock(&key(), &a).unwrap());
        assert!(
            s.set_if_newer(&key(), &stored("from-b", 30, b.token))
                .unwrap()
        );
        assert!(
            !s.set_if_newer(&key(), &stored("from-a", 31, a.token))
                .unwrap()
        );
        assert!(s.unlock(&key(), &b).unwrap());
        assert!(!s.unlock(&key(), &b).unwrap());
        let c = s.try_lock(&key(), lease, "a").unwrap().unwrap();
        assert_eq!(c.token, 3);
    }

    #[test]
    fn async_twin_matches() {
        fn block_on<F: Future>(f: F) -> F::Output {
            use std::task::{Context, Poll, Waker};
            let mut f = std::pin::pin!(f);
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                    return v;
                }
            }
        }
        let s = SyncAsAsync(MemoryStore::default());
        let st = stored("a", 0, 1);
        assert!(block_on(AsyncTokenStore::set_if_newer(&s, &key(), &st)).unwrap());
        assert!(
            block_on(AsyncTokenStore::get(&s, &key()))
                .unwrap()
                .is_some()
        );
        let m = SyncAsAsync(MemoryStore::default());
        let f = block_on(AsyncTokenStore::try_lock(
            &m,
            &key(),
            Duration::from_secs(1),
            "o",
        ))
        .unwrap()
        .unwrap();
        assert!(block_on(AsyncTokenStore::unlock(&m, &key(), &f)).unwrap());
        assert!(
            !block_on(AsyncTokenStore::expire_if(
                &m,
                &key(),
                &Fingerprint::of("x")
            ))
            .unwrap()
        );
    }
}
