//! [`TokenManager`]: drives the proto-core token lifecycle with `std::sync::Mutex` + `Condvar`.
//!
//! This follows the recipe of [`kaifang_proto_core::lifecycle`] step by step; the policy (when
//! to refresh, single-flight, backoff, compare-and-expire) lives there, not here.

use core::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use kaifang_proto_core::context::Clock;
use kaifang_proto_core::error::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::lifecycle::{
    Acquire, Fence, KeyMap, MemoryStore, Plan, RefreshPolicy, RefreshTicket, RetryGate,
    StoredToken, TokenKey, TokenReader, TokenSlot, TokenSource, TokenStore,
};
use kaifang_proto_core::token::Token;
use kaifang_proto_core::transport::{
    Settled, StoreTurn, adopt_from_store, settle_refresh, store_poll_delay,
};

use crate::client::BlockingClient;

/// Per-key state: the lock-free reader and the slot behind this transport's lock.
#[derive(Debug)]
struct Entry {
    reader: TokenReader,
    slot: Mutex<TokenSlot>,
    cv: Condvar,
}

impl Entry {
    fn new() -> Self {
        let slot = TokenSlot::new();
        Self {
            reader: slot.reader(),
            slot: Mutex::new(slot),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TokenSlot> {
        // Every TokenSlot method is short and leaves the state consistent; a panic elsewhere while
        // the guard was held cannot have left it half-written.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Entries = KeyMap<Arc<Entry>>;

/// Returns the ticket to the slot as abandoned if the refresher unwinds before settling it, so
/// the waiters are woken and one of them takes over.
struct AbandonGuard<'a> {
    entry: &'a Entry,
    ticket: Option<RefreshTicket>,
}

impl AbandonGuard<'_> {
    fn plan(&self) -> Option<&Plan> {
        self.ticket.as_ref().map(RefreshTicket::plan)
    }
}

impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let _ = self.entry.lock().on_refresh_abandoned(ticket);
            self.entry.cv.notify_all();
        }
    }
}

/// Caches tokens per [`TokenKey`] and refreshes them through a [`BlockingClient`]: proactive
/// refresh, single-flight (any number of threads → one upstream request), backoff with jitter
/// after failures while a still-valid token keeps serving, compare-and-expire plus one retry,
/// and an optional shared [`TokenStore`] (in-memory by default).
///
/// * Hot path ([`TokenManager::token`] with a fresh token): one lock-free map lookup and one
///   lock-free read on the coarse clock ([`Clock::now_coarse`]); no lock, no allocation beyond
///   the `Arc` clone. Faster still, bind a [`TokenHandle`] once with [`TokenManager::handle`]:
///   no map lookup, and [`TokenHandle::with_token`] does not even clone the `Arc`.
/// * `ServeAndRefresh` (token due but valid): the one caller that gets the refresh ticket
///   refreshes on its own thread, then returns (the new token); everybody else is served the
///   current token without waiting.
/// * Waiting for another thread's refresh is bounded by [`RefreshPolicy::max_wait`]
///   (monotonic), then [`Error::RefreshTimeout`].
/// * A panicking refresher (a panicking exchange) abandons its ticket through a drop guard,
///   so waiters wake up and one of them takes over.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use kaifang_proto_core::lifecycle::TokenSource;
/// # use kaifang_proto_core::transport::TransportConfig;
/// # use kaifang_transport_blocking::{BlockingClient, TokenManager};
/// # fn demo(source: &dyn TokenSource) -> Result<(), kaifang_proto_core::Error> {
/// let client = Arc::new(BlockingClient::new(TransportConfig::default())?);
/// let tokens = TokenManager::new(client);
/// let token = tokens.token(source)?;
/// # let _ = token; Ok(()) }
/// ```
pub struct TokenManager {
    client: Arc<BlockingClient>,
    policy: RefreshPolicy,
    store: Arc<dyn TokenStore>,
    instance: String,
    entries: ArcSwap<Entries>,
    insert: Mutex<()>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("policy", &self.policy)
            .field("store", &self.store)
            .field("instance", &self.instance)
            .field("keys", &self.entries.load().len())
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager with the default [`RefreshPolicy`] and an in-memory store whose leases follow
    /// the client's (skew-corrected) clock.
    #[must_use]
    pub fn new(client: Arc<BlockingClient>) -> Self {
        let clock: Arc<dyn Clock> = Arc::clone(client.clock()) as Arc<dyn Clock>;
        let instance = client.context().nonce(16).map_or_else(
            |_| "kaifang-instance".to_owned(),
            |n| format!("kaifang-{n}"),
        );
        Self {
            client,
            policy: RefreshPolicy::default(),
            store: Arc::new(MemoryStore::new(clock)),
            instance,
            entries: ArcSwap::from_pointee(Entries::default()),
            insert: Mutex::new(()),
        }
    }

    /// Replaces the refresh policy.
    #[must_use]
    pub fn with_policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Shares tokens with other processes through `store` (set-if-newer writes, leased refresh
    /// lock, compare-and-expire).
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = store;
        self
    }

    /// The client used for token and API exchanges.
    #[must_use]
    pub fn client(&self) -> &Arc<BlockingClient> {
        &self.client
    }

    /// The refresh policy.
    #[must_use]
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    /// The id this manager uses as the owner of store locks.
    #[must_use]
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    fn now(&self) -> SystemTime {
        self.client.context().now()
    }

    /// The clock reading of the hot path's freshness check: the coarse one (may lag a few ms,
    /// harmless since `refresh_at` is a margin before expiry). Refresh decisions use `now`.
    #[inline]
    fn now_coarse(&self) -> SystemTime {
        self.client.clock().now_coarse()
    }

    /// The hot path alone: the cached token for `key` if it is fresh now, without refreshing.
    #[must_use]
    pub fn cached(&self, key: &TokenKey) -> Option<Arc<Token>> {
        let now = self.now_coarse();
        self.entries
            .load()
            .get(key)
            .and_then(|e| e.reader.fresh(now))
    }

    /// Binds `source` to its cache entry once, for a hot path without the map lookup (and,
    /// with [`TokenHandle::with_token`], without the `Arc` clone). The handle borrows the
    /// manager and the source; it stays valid for the manager's life (entries are never
    /// removed), and sees every refresh, expiry and store adoption the manager does.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use kaifang_proto_core::lifecycle::TokenSource;
    /// # use kaifang_proto_core::transport::TransportConfig;
    /// # use kaifang_transport_blocking::{BlockingClient, TokenManager};
    /// # fn demo(source: &dyn TokenSource) -> Result<(), kaifang_proto_core::Error> {
    /// let tokens = TokenManager::new(Arc::new(BlockingClient::new(TransportConfig::default())?));
    /// let handle = tokens.handle(source);
    /// let auth = match handle.with_token(|t| format!("Bearer {}", t.access.expose_secret())) {
    ///     Some(auth) => auth,                                                   // hot path
    ///     None => format!("Bearer {}", handle.token()?.access.expose_secret()), // refresh
    /// };
    /// # let _ = auth; Ok(()) }
    /// ```
    #[must_use]
    pub fn handle<'a, S: TokenSource + ?Sized>(&'a self, source: &'a S) -> TokenHandle<'a, S> {
        TokenHandle {
            manager: self,
            source,
            entry: self.entry(source.key()),
        }
    }

    /// A valid token for `source`: the cached one when fresh (hot path), else after the single
    /// refresh in flight.
    ///
    /// # Errors
    /// The refresh error (for the caller that ran it), [`Error::RefreshBackoff`] while backing
    /// off with no usable token, [`Error::RefreshTimeout`] after waiting
    /// [`RefreshPolicy::max_wait`] for another refresher.
    pub fn token<S: TokenSource + ?Sized>(&self, source: &S) -> Result<Arc<Token>, Error> {
        if let Some(t) = self.cached(source.key()) {
            return Ok(t);
        }
        let entry = self.entry(source.key());
        self.acquire(&entry, source)
    }

    /// Runs the exchange `make(token)` with a token for `source`. If it fails because the
    /// platform rejected the token (`is_token_invalid`), expires that token (compare-and-expire,
    /// locally and in the store) and runs it once more with a new token; a second rejection is
    /// returned ([`RetryGate`]: never a loop).
    ///
    /// # Errors
    /// From [`TokenManager::token`] or the exchange.
    pub fn call_with_token<S, E, F>(&self, source: &S, mut make: F) -> Result<E::Output, Error>
    where
        S: TokenSource + ?Sized,
        E: Exchange,
        F: FnMut(&Token) -> E,
    {
        self.try_call_with_token(source, |token| Ok(make(token)))
    }

    /// [`call_with_token`](TokenManager::call_with_token) for exchanges whose construction can
    /// fail (the platform crates' builders validate their input): an `Err` from `make` is
    /// returned as it is, before anything is sent.
    ///
    /// # Errors
    /// From [`TokenManager::token`], `make`, or the exchange.
    pub fn try_call_with_token<S, E, F>(&self, source: &S, mut make: F) -> Result<E::Output, Error>
    where
        S: TokenSource + ?Sized,
        E: Exchange,
        F: FnMut(&Token) -> Result<E, Error>,
    {
        let mut gate = RetryGate::new();
        let token = self.token(source)?;
        match self.client.execute(&make(&token)?) {
            Err(err) if gate.should_retry(&err) => {
                tracing::debug!(key = %source.key(), "token rejected; expiring it and retrying once");
                self.expire(source.key(), &token);
                let token = self.token(source)?;
                self.client.execute(&make(&token)?)
            }
            other => other,
        }
    }

    /// Compare-and-expire: marks `token` invalid for `key` if it is still the current one (here
    /// and in the store), so the next [`TokenManager::token`] refreshes. Returns whether the
    /// local cache changed.
    pub fn expire(&self, key: &TokenKey, token: &Token) -> bool {
        let fp = token.fingerprint();
        let entry = self.entry(key);
        let changed = entry.lock().invalidate_if(&fp);
        if let Err(e) = self.store.expire_if(key, &fp) {
            tracing::warn!(key = %key, error = %e, "token store expire failed");
        }
        changed
    }

    fn entry(&self, key: &TokenKey) -> Arc<Entry> {
        if let Some(e) = self.entries.load().get(key) {
            return Arc::clone(e);
        }
        let _guard = self.insert.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.entries.load_full();
        if let Some(e) = current.get(key) {
            return Arc::clone(e);
        }
        let entry = Arc::new(Entry::new());
        let mut next: Entries = (*current).clone();
        next.insert(key.clone(), Arc::clone(&entry));
        self.entries.store(Arc::new(next));
        entry
    }

    /// Step 2 of the recipe: acquire under the lock, never holding it across I/O.
    fn acquire<S: TokenSource + ?Sized>(
        &self,
        entry: &Entry,
        source: &S,
    ) -> Result<Arc<Token>, Error> {
        let started = Instant::now();
        // The token promised by `ServeAndRefresh`, returned if the refresh does not produce a
        // better one.
        let mut serving: Option<Arc<Token>> = None;
        let mut slot = entry.lock();
        loop {
            let now = self.now();
            let ticket = match slot.acquire(&self.policy, now) {
                Acquire::Serve(t) => return Ok(t),
                Acquire::Wait { .. } => {
                    if let Some(t) = serving {
                        return Ok(t);
                    }
                    let waited = started.elapsed();
                    let Some(left) = self.policy.max_wait.checked_sub(waited) else {
                        return Err(Error::RefreshTimeout { waited });
                    };
                    slot = entry
                        .cv
                        .wait_timeout(slot, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    continue;
                }
                backoff @ Acquire::Backoff { .. } => {
                    return match (serving, backoff.into_backoff_error()) {
                        (Some(t), _) => Ok(t),
                        (None, Some(e)) => Err(e),
                        (None, None) => Err(Error::RefreshTimeout {
                            waited: started.elapsed(),
                        }),
                    };
                }
                Acquire::ServeAndRefresh { token, ticket } => {
                    serving = Some(token);
                    ticket
                }
                Acquire::Fetch(ticket) => ticket,
            };
            let current = slot.current().cloned();
            drop(slot);
            match self.refresh(entry, source, ticket, current.as_deref()) {
                Settled::Token(t) => return Ok(t),
                Settled::FallBack => {
                    slot = entry.lock();
                }
                Settled::Failed { error, stale } => {
                    return serving.or(stale).ok_or(error);
                }
            }
        }
    }

    /// Runs one ticket to its end and settles it (the caller does not hold the lock).
    fn refresh<S: TokenSource + ?Sized>(
        &self,
        entry: &Entry,
        source: &S,
        ticket: RefreshTicket,
        current: Option<&Token>,
    ) -> Settled {
        let mut guard = AbandonGuard {
            entry,
            ticket: Some(ticket),
        };
        let result = match guard.plan() {
            Some(plan) => self.obtain(source, plan, current),
            None => Err(Error::Config("refresh ticket missing".into())),
        };
        let Some(ticket) = guard.ticket.take() else {
            return Settled::Failed {
                error: Error::Config("refresh ticket missing".into()),
                stale: None,
            };
        };
        if let Err(e) = &result {
            tracing::debug!(key = %source.key(), error = %e, "token refresh failed");
        }
        let rng = self.client.context().nonce_source();
        let settled = settle_refresh(
            &mut entry.lock(),
            ticket,
            result,
            &self.policy,
            self.now(),
            &**rng,
        );
        entry.cv.notify_all();
        settled
    }

    /// The shared-store part of the recipe, then the grant itself.
    fn obtain<S: TokenSource + ?Sized>(
        &self,
        source: &S,
        plan: &Plan,
        current: Option<&Token>,
    ) -> Result<Token, Error> {
        let key = source.key();
        let fence = match self.lock_store(key, current)? {
            StoreTurn::Adopt(token) => return Ok(token),
            StoreTurn::Refresh(fence) => fence,
        };
        tracing::debug!(
            key = %key,
            full_grant = matches!(plan, Plan::FullGrant),
            "refreshing token"
        );
        let result = source
            .exchange(plan)
            .and_then(|exchange| self.client.execute(&exchange));
        if let Some(fence) = fence {
            if let Ok(token) = &result {
                let stored = StoredToken::new(Arc::new(token.clone()), fence.token);
                if let Err(e) = self.store.set_if_newer(key, &stored) {
                    tracing::warn!(key = %key, error = %e, "token store write failed");
                }
            }
            if let Err(e) = self.store.unlock(key, &fence) {
                tracing::warn!(key = %key, error = %e, "token store unlock failed");
            }
        }
        result
    }

    /// The store's turn ([`StoreTurn`]): a usable newer token in the store is adopted; else
    /// this instance takes the store lock and refreshes; while another instance holds the lock,
    /// poll the store (20 ms doubling to 500 ms) for its token, and take the lock when it frees
    /// (its holder finished without a token, or died and its lease ended). After taking the
    /// lock the store is read once more, so a token written between the read and the lock is
    /// adopted, not fetched twice. A store that fails is bypassed (refresh without it), so a
    /// Redis outage never stops the refresh. Bounded by [`RefreshPolicy::max_wait`].
    fn lock_store(&self, key: &TokenKey, current: Option<&Token>) -> Result<StoreTurn, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match self.store.get(key) {
                Ok(Some(st)) if adopt_from_store(&st, current, &self.policy, self.now()) => {
                    tracing::debug!(key = %key, "token taken from the store");
                    return Ok(StoreTurn::Adopt((*st.token).clone()));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "token store read failed; refreshing without it");
                    return Ok(StoreTurn::Refresh(None));
                }
            }
            match self
                .store
                .try_lock(key, self.policy.store_lease, &self.instance)
            {
                Ok(Some(fence)) => return Ok(self.recheck_store(key, current, fence)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "token store lock failed; refreshing without it");
                    return Ok(StoreTurn::Refresh(None));
                }
            }
            let waited = started.elapsed();
            let Some(left) = self.policy.max_wait.checked_sub(waited) else {
                return Err(Error::RefreshTimeout { waited });
            };
            std::thread::sleep(store_poll_delay(attempt).min(left));
            attempt += 1;
        }
    }

    /// Just after taking the store lock: adopt (and unlock) if the store gained a usable newer
    /// token since it was read, else refresh under `fence`.
    fn recheck_store(&self, key: &TokenKey, current: Option<&Token>, fence: Fence) -> StoreTurn {
        match self.store.get(key) {
            Ok(Some(st)) if adopt_from_store(&st, current, &self.policy, self.now()) => {
                if let Err(e) = self.store.unlock(key, &fence) {
                    tracing::warn!(key = %key, error = %e, "token store unlock failed");
                }
                tracing::debug!(key = %key, "token taken from the store after locking");
                StoreTurn::Adopt((*st.token).clone())
            }
            _ => StoreTurn::Refresh(Some(fence)),
        }
    }
}

/// A [`TokenSource`] bound to its cache entry in a [`TokenManager`] ([`TokenManager::handle`]):
/// the hot path without the map lookup.
///
/// * [`TokenHandle::with_token`]: the hot path alone. A coarse clock reading
///   ([`Clock::now_coarse`]) and an `arc_swap` guard load, then `f` on the borrowed token: no
///   lock, no map lookup, no `Arc` clone (no shared refcount write, so threads reading at once
///   do not contend), no allocation. `None` when the token is missing or due: call
///   [`TokenHandle::token`].
/// * [`TokenHandle::token`]: like [`TokenManager::token`] (refresh on a miss), minus the lookup.
pub struct TokenHandle<'a, S: ?Sized> {
    manager: &'a TokenManager,
    source: &'a S,
    entry: Arc<Entry>,
}

impl<S: TokenSource + ?Sized> fmt::Debug for TokenHandle<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenHandle")
            .field("key", self.source.key())
            .finish_non_exhaustive()
    }
}

impl<S: TokenSource + ?Sized> TokenHandle<'_, S> {
    /// The key this handle is bound to.
    #[must_use]
    pub fn key(&self) -> &TokenKey {
        self.source.key()
    }

    /// Runs `f` on the cached token if it is fresh, without refreshing; `None` otherwise (then
    /// call [`TokenHandle::token`]). The token is borrowed from the cache while `f` runs: keep
    /// `f` short (read a field, format a header) and clone what must outlive it.
    #[inline]
    pub fn with_token<R>(&self, f: impl FnOnce(&Token) -> R) -> Option<R> {
        self.entry.reader.with_fresh(self.manager.now_coarse(), f)
    }

    /// The cached token if it is fresh, without refreshing (one `Arc` clone).
    #[must_use]
    pub fn cached(&self) -> Option<Arc<Token>> {
        self.entry.reader.fresh(self.manager.now_coarse())
    }

    /// A valid token: the cached one when fresh, else after the single refresh in flight
    /// (exactly [`TokenManager::token`] for this source).
    ///
    /// # Errors
    /// As [`TokenManager::token`].
    pub fn token(&self) -> Result<Arc<Token>, Error> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        self.manager.acquire(&self.entry, self.source)
    }
}
