//! [`TokenManager`]: drives the proto-core token lifecycle with a short `std::sync::Mutex`
//! (never held across `.await`) and a `tokio::sync::Notify`.
//!
//! This follows the recipe of [`kaifang_proto_core::lifecycle`] step by step; the policy (when
//! to refresh, single-flight, backoff, compare-and-expire) lives there, not here.
//!
//! # Cancellation
//! The refresh runs in its own task (`tokio::spawn`), not in the future of the caller that got
//! the ticket. That caller awaits the task's `JoinHandle`; if it is cancelled (dropped,
//! aborted, timed out), the refresh goes on, finishes, installs the token and wakes every
//! waiter: nobody is stranded and the upstream still sees exactly one request. If the task
//! itself dies (runtime shutdown, panic in an exchange), a drop guard returns the ticket as
//! abandoned and wakes the waiters, one of which takes over. Outside a tokio runtime the
//! refresh runs inline under the same guard.

use core::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use kaifang_proto_core::context::Clock;
use kaifang_proto_core::error::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::lifecycle::{
    Acquire, AsyncTokenStore, Fence, KeyMap, MemoryStore, Plan, RefreshPolicy, RefreshTicket,
    RetryGate, StoredToken, SyncAsAsync, TokenKey, TokenReader, TokenSlot, TokenSource,
};
use kaifang_proto_core::token::Token;
use kaifang_proto_core::transport::{
    Settled, StoreTurn, adopt_from_store, settle_refresh, store_poll_delay,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::AsyncClient;

/// Per-key state: the lock-free reader, the slot behind a short lock, and the waiters' signal.
#[derive(Debug)]
struct Entry {
    reader: TokenReader,
    slot: Mutex<TokenSlot>,
    notify: Notify,
}

impl Entry {
    fn new() -> Self {
        let slot = TokenSlot::new();
        Self {
            reader: slot.reader(),
            slot: Mutex::new(slot),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TokenSlot> {
        // Every TokenSlot method is short and leaves the state consistent.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Entries = KeyMap<Arc<Entry>>;

/// Returns the ticket to the slot as abandoned if the refresh future is dropped (or unwinds)
/// before settling it, and wakes the waiters so one of them takes over.
struct AbandonGuard {
    entry: Arc<Entry>,
    ticket: Option<RefreshTicket>,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let _ = self.entry.lock().on_refresh_abandoned(ticket);
            self.entry.notify.notify_waiters();
        }
    }
}

struct Inner {
    client: Arc<AsyncClient>,
    policy: RefreshPolicy,
    store: Arc<dyn AsyncTokenStore>,
    instance: String,
    entries: ArcSwap<Entries>,
    insert: Mutex<()>,
}

/// Caches tokens per [`TokenKey`] and refreshes them through an [`AsyncClient`]: proactive
/// refresh, single-flight (any number of tasks → one upstream request), backoff with jitter
/// after failures while a still-valid token keeps serving, compare-and-expire plus one retry,
/// and an optional shared [`AsyncTokenStore`] (in-memory by default). Cheap to clone (an `Arc`).
///
/// * Hot path ([`TokenManager::token`] with a fresh token): one lock-free map lookup and one
///   lock-free read on the coarse clock ([`Clock::now_coarse`]) before the first `.await`; no
///   lock, no allocation beyond the `Arc` clone. Faster still, bind a [`TokenHandle`] once with
///   [`TokenManager::handle`]: no map lookup, and [`TokenHandle::with_token`] (not `async`)
///   does not even clone the `Arc`.
/// * `ServeAndRefresh` (token due but valid): the refresh is spawned and the caller is served
///   the current token at once.
/// * Cancellation-safe: the refresh runs in its own task (`tokio::spawn`), not in the future of
///   the caller that got the ticket. That caller awaits the task; if it is cancelled, the
///   refresh goes on, installs the token and wakes every waiter, and the upstream still sees
///   exactly one request. If the task itself dies (runtime shutdown, a panicking exchange), a
///   drop guard returns the ticket as abandoned and wakes the waiters, one of which takes over.
///   Outside a tokio runtime the refresh runs inline under the same guard.
/// * Waiting for a refresh is bounded by [`RefreshPolicy::max_wait`], then
///   [`Error::RefreshTimeout`].
///
/// Sources are passed as `&Arc<S>` so the spawned refresh can own one.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("policy", &self.inner.policy)
            .field("store", &self.inner.store)
            .field("instance", &self.inner.instance)
            .field("keys", &self.inner.entries.load().len())
            .finish_non_exhaustive()
    }
}

/// What the locked part of one round decided.
enum Step {
    Done(Result<Arc<Token>, Error>),
    Wait,
    Refresh {
        ticket: RefreshTicket,
        current: Option<Arc<Token>>,
        serving: Option<Arc<Token>>,
    },
}

impl TokenManager {
    /// A manager with the default [`RefreshPolicy`] and an in-memory store whose leases follow
    /// the client's (skew-corrected) clock.
    #[must_use]
    pub fn new(client: Arc<AsyncClient>) -> Self {
        let clock: Arc<dyn Clock> = Arc::clone(client.clock()) as Arc<dyn Clock>;
        let instance = client.context().nonce(16).map_or_else(
            |_| "kaifang-instance".to_owned(),
            |n| format!("kaifang-{n}"),
        );
        Self {
            inner: Arc::new(Inner {
                client,
                policy: RefreshPolicy::default(),
                store: Arc::new(SyncAsAsync(MemoryStore::new(clock))),
                instance,
                entries: ArcSwap::from_pointee(Entries::default()),
                insert: Mutex::new(()),
            }),
        }
    }

    fn inner_mut(&mut self) -> Option<&mut Inner> {
        Arc::get_mut(&mut self.inner)
    }

    /// Replaces the refresh policy (call before cloning the manager; ignored afterwards).
    #[must_use]
    pub fn with_policy(mut self, policy: RefreshPolicy) -> Self {
        if let Some(inner) = self.inner_mut() {
            inner.policy = policy;
        }
        self
    }

    /// Shares tokens with other processes through `store` (call before cloning the manager;
    /// ignored afterwards).
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn AsyncTokenStore>) -> Self {
        if let Some(inner) = self.inner_mut() {
            inner.store = store;
        }
        self
    }

    /// The client used for token and API exchanges.
    #[must_use]
    pub fn client(&self) -> &Arc<AsyncClient> {
        &self.inner.client
    }

    /// The refresh policy.
    #[must_use]
    pub fn policy(&self) -> &RefreshPolicy {
        &self.inner.policy
    }

    /// The id this manager uses as the owner of store locks.
    #[must_use]
    pub fn instance_id(&self) -> &str {
        &self.inner.instance
    }

    /// The hot path alone: the cached token for `key` if it is fresh now, without refreshing.
    #[must_use]
    pub fn cached(&self, key: &TokenKey) -> Option<Arc<Token>> {
        let now = self.inner.now_coarse();
        self.inner
            .entries
            .load()
            .get(key)
            .and_then(|e| e.reader.fresh(now))
    }

    /// Binds `source` to its cache entry once, for a hot path without the map lookup (and,
    /// with [`TokenHandle::with_token`], without the `Arc` clone). The handle owns clones of the
    /// manager and the source (`'static`, `Send`, `Sync`: keep it in your service or move it
    /// into tasks); it sees every refresh, expiry and store adoption the manager does (entries
    /// are never removed).
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use kaifang_proto_core::lifecycle::TokenSource;
    /// # use kaifang_proto_core::transport::TransportConfig;
    /// # use kaifang_transport_async::{AsyncClient, TokenManager};
    /// # async fn demo(source: Arc<dyn TokenSource>) -> Result<(), kaifang_proto_core::Error> {
    /// let tokens = TokenManager::new(Arc::new(AsyncClient::new(TransportConfig::default())?));
    /// let handle = tokens.handle(&source);
    /// let auth = match handle.with_token(|t| format!("Bearer {}", t.access.expose_secret())) {
    ///     Some(auth) => auth, // hot path, no `.await`
    ///     None => format!("Bearer {}", handle.token().await?.access.expose_secret()),
    /// };
    /// # let _ = auth; Ok(()) }
    /// ```
    #[must_use]
    pub fn handle<S>(&self, source: &Arc<S>) -> TokenHandle<S>
    where
        S: TokenSource + ?Sized + 'static,
    {
        TokenHandle {
            entry: self.inner.entry(source.key()),
            manager: self.clone(),
            source: Arc::clone(source),
        }
    }

    /// A valid token for `source`: the cached one when fresh (hot path), else after the single
    /// refresh in flight.
    ///
    /// # Errors
    /// The refresh error (for callers waiting on that refresh), [`Error::RefreshBackoff`] while
    /// backing off with no usable token, [`Error::RefreshTimeout`] after waiting
    /// [`RefreshPolicy::max_wait`].
    pub async fn token<S>(&self, source: &Arc<S>) -> Result<Arc<Token>, Error>
    where
        S: TokenSource + ?Sized + 'static,
    {
        if let Some(t) = self.cached(source.key()) {
            return Ok(t);
        }
        let entry = self.inner.entry(source.key());
        self.acquire(entry, source).await
    }

    /// Runs the exchange `make(token)` with a token for `source`. If it fails because the
    /// platform rejected the token (`is_token_invalid`), expires that token (compare-and-expire,
    /// locally and in the store) and runs it once more with a new token; a second rejection is
    /// returned ([`RetryGate`]: never a loop).
    ///
    /// # Errors
    /// From [`TokenManager::token`] or the exchange.
    pub async fn call_with_token<S, E, F>(
        &self,
        source: &Arc<S>,
        mut make: F,
    ) -> Result<E::Output, Error>
    where
        S: TokenSource + ?Sized + 'static,
        E: Exchange,
        F: FnMut(&Token) -> E,
    {
        self.try_call_with_token(source, |token| Ok(make(token)))
            .await
    }

    /// [`call_with_token`](TokenManager::call_with_token) for exchanges whose construction can
    /// fail (the platform crates' builders validate their input): an `Err` from `make` is
    /// returned as it is, before anything is sent.
    ///
    /// # Errors
    /// From [`TokenManager::token`], `make`, or the exchange.
    pub async fn try_call_with_token<S, E, F>(
        &self,
        source: &Arc<S>,
        mut make: F,
    ) -> Result<E::Output, Error>
    where
        S: TokenSource + ?Sized + 'static,
        E: Exchange,
        F: FnMut(&Token) -> Result<E, Error>,
    {
        let mut gate = RetryGate::new();
        let token = self.token(source).await?;
        let first = self.inner.client.execute(&make(&token)?).await;
        match first {
            Err(err) if gate.should_retry(&err) => {
                tracing::debug!(key = %source.key(), "token rejected; expiring it and retrying once");
                self.expire(source.key(), &token).await;
                let token = self.token(source).await?;
                self.inner.client.execute(&make(&token)?).await
            }
            other => other,
        }
    }

    /// Compare-and-expire: marks `token` invalid for `key` if it is still the current one (here
    /// and in the store), so the next [`TokenManager::token`] refreshes. Returns whether the
    /// local cache changed.
    pub async fn expire(&self, key: &TokenKey, token: &Token) -> bool {
        let fp = token.fingerprint();
        let changed = self.inner.entry(key).lock().invalidate_if(&fp);
        if let Err(e) = self.inner.store.expire_if(key, &fp).await {
            tracing::warn!(key = %key, error = %e, "token store expire failed");
        }
        changed
    }

    /// Step 2 of the recipe: acquire under the lock, wait on `Notify`, refresh in a task.
    async fn acquire<S>(&self, entry: Arc<Entry>, source: &Arc<S>) -> Result<Arc<Token>, Error>
    where
        S: TokenSource + ?Sized + 'static,
    {
        let started = Instant::now();
        let deadline = started + self.inner.policy.max_wait;
        loop {
            // Registered before looking at the state, so a wake-up between the check and the
            // await is not lost.
            let mut notified = pin!(entry.notify.notified());
            notified.as_mut().enable();
            let step = {
                let mut slot = entry.lock();
                match slot.acquire(&self.inner.policy, self.inner.now()) {
                    Acquire::Serve(t) => Step::Done(Ok(t)),
                    Acquire::Wait { .. } => Step::Wait,
                    backoff @ Acquire::Backoff { .. } => Step::Done(Err(backoff
                        .into_backoff_error()
                        .unwrap_or(Error::RefreshTimeout {
                            waited: started.elapsed(),
                        }))),
                    Acquire::ServeAndRefresh { token, ticket } => Step::Refresh {
                        ticket,
                        current: slot.current().cloned(),
                        serving: Some(token),
                    },
                    Acquire::Fetch(ticket) => Step::Refresh {
                        ticket,
                        current: slot.current().cloned(),
                        serving: None,
                    },
                }
            };
            match step {
                Step::Done(result) => return result,
                Step::Wait => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return Err(Error::RefreshTimeout {
                            waited: started.elapsed(),
                        });
                    }
                }
                Step::Refresh {
                    ticket,
                    current,
                    serving,
                } => {
                    let guard = AbandonGuard {
                        entry: Arc::clone(&entry),
                        ticket: Some(ticket),
                    };
                    let job =
                        Inner::refresh(Arc::clone(&self.inner), guard, Arc::clone(source), current);
                    let settled = match tokio::runtime::Handle::try_current() {
                        Ok(rt) => {
                            let handle = rt.spawn(job);
                            if let Some(t) = serving {
                                return Ok(t);
                            }
                            match handle.await {
                                Ok(settled) => settled,
                                // The task died; its guard abandoned the ticket: go again.
                                Err(_) => continue,
                            }
                        }
                        Err(_) => job.await,
                    };
                    match settled {
                        Settled::Token(t) => return Ok(t),
                        Settled::FallBack => {}
                        Settled::Failed { error, stale } => return serving.or(stale).ok_or(error),
                    }
                }
            }
        }
    }
}

impl Inner {
    fn now(&self) -> SystemTime {
        self.client.context().now()
    }

    /// The clock reading of the hot path's freshness check: the coarse one (may lag a few ms,
    /// harmless since `refresh_at` is a margin before expiry). Refresh decisions use `now`.
    #[inline]
    fn now_coarse(&self) -> SystemTime {
        self.client.clock().now_coarse()
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

    /// Runs a ticket to its end and settles it; after a rejected refresh token, runs the
    /// full-grant ticket that follows too (so a spawned `ServeAndRefresh` completes the job).
    async fn refresh<S>(
        self: Arc<Self>,
        mut guard: AbandonGuard,
        source: Arc<S>,
        mut current: Option<Arc<Token>>,
    ) -> Settled
    where
        S: TokenSource + ?Sized + 'static,
    {
        loop {
            let result = match guard.ticket.as_ref().map(RefreshTicket::plan) {
                Some(plan) => self.obtain(&*source, plan, current.as_deref()).await,
                None => Err(Error::Config("refresh ticket missing".into())),
            };
            let Some(ticket) = guard.ticket.take() else {
                return Settled::FallBack;
            };
            if let Err(e) = &result {
                tracing::debug!(key = %source.key(), error = %e, "token refresh failed");
            }
            let rng = Arc::clone(self.client.context().nonce_source());
            let settled = {
                let mut slot = guard.entry.lock();
                let settled =
                    settle_refresh(&mut slot, ticket, result, &self.policy, self.now(), &*rng);
                if matches!(settled, Settled::FallBack) {
                    // Take the full-grant ticket now if nobody else did.
                    match slot.acquire(&self.policy, self.now()) {
                        Acquire::Fetch(t) | Acquire::ServeAndRefresh { ticket: t, .. } => {
                            guard.ticket = Some(t);
                            current = slot.current().cloned();
                        }
                        _ => {}
                    }
                }
                settled
            };
            guard.entry.notify.notify_waiters();
            if guard.ticket.is_none() {
                return settled;
            }
        }
    }

    /// The shared-store part of the recipe, then the grant itself.
    async fn obtain<S>(
        &self,
        source: &S,
        plan: &Plan,
        current: Option<&Token>,
    ) -> Result<Token, Error>
    where
        S: TokenSource + ?Sized,
    {
        let key = source.key();
        let fence = match self.lock_store(key, current).await? {
            StoreTurn::Adopt(token) => return Ok(token),
            StoreTurn::Refresh(fence) => fence,
        };
        tracing::debug!(
            key = %key,
            full_grant = matches!(plan, Plan::FullGrant),
            "refreshing token"
        );
        let result = match source.exchange(plan) {
            Ok(exchange) => self.client.execute(&exchange).await,
            Err(e) => Err(e),
        };
        if let Some(fence) = fence {
            if let Ok(token) = &result {
                let stored = StoredToken::new(Arc::new(token.clone()), fence.token);
                if let Err(e) = self.store.set_if_newer(key, &stored).await {
                    tracing::warn!(key = %key, error = %e, "token store write failed");
                }
            }
            if let Err(e) = self.store.unlock(key, &fence).await {
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
    async fn lock_store(
        &self,
        key: &TokenKey,
        current: Option<&Token>,
    ) -> Result<StoreTurn, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match self.store.get(key).await {
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
                .await
            {
                Ok(Some(fence)) => return Ok(self.recheck_store(key, current, fence).await),
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
            tokio::time::sleep(store_poll_delay(attempt).min(left)).await;
            attempt += 1;
        }
    }

    /// Just after taking the store lock: adopt (and unlock) if the store gained a usable newer
    /// token since it was read, else refresh under `fence`.
    async fn recheck_store(
        &self,
        key: &TokenKey,
        current: Option<&Token>,
        fence: Fence,
    ) -> StoreTurn {
        match self.store.get(key).await {
            Ok(Some(st)) if adopt_from_store(&st, current, &self.policy, self.now()) => {
                if let Err(e) = self.store.unlock(key, &fence).await {
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
/// the hot path without the map lookup. Cheap to clone (three `Arc`s).
///
/// * [`TokenHandle::with_token`] (not `async`): the hot path alone. A coarse clock reading
///   ([`Clock::now_coarse`]) and an `arc_swap` guard load, then `f` on the borrowed token: no
///   lock, no map lookup, no `Arc` clone (no shared refcount write, so tasks reading at once on
///   several threads do not contend), no allocation. `None` when the token is missing or due:
///   call [`TokenHandle::token`].
/// * [`TokenHandle::token`]: like [`TokenManager::token`] (refresh on a miss), minus the lookup.
pub struct TokenHandle<S: ?Sized> {
    manager: TokenManager,
    source: Arc<S>,
    entry: Arc<Entry>,
}

impl<S: ?Sized> Clone for TokenHandle<S> {
    fn clone(&self) -> Self {
        Self {
            manager: self.manager.clone(),
            source: Arc::clone(&self.source),
            entry: Arc::clone(&self.entry),
        }
    }
}

impl<S: TokenSource + ?Sized> fmt::Debug for TokenHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenHandle")
            .field("key", self.source.key())
            .finish_non_exhaustive()
    }
}

impl<S: TokenSource + ?Sized + 'static> TokenHandle<S> {
    /// The key this handle is bound to.
    #[must_use]
    pub fn key(&self) -> &TokenKey {
        self.source.key()
    }

    /// The source this handle is bound to.
    #[must_use]
    pub fn source(&self) -> &Arc<S> {
        &self.source
    }

    /// Runs `f` on the cached token if it is fresh, without refreshing; `None` otherwise (then
    /// await [`TokenHandle::token`]). The token is borrowed from the cache while `f` runs: keep
    /// `f` short (read a field, format a header) and clone what must outlive it.
    #[inline]
    pub fn with_token<R>(&self, f: impl FnOnce(&Token) -> R) -> Option<R> {
        self.entry
            .reader
            .with_fresh(self.manager.inner.now_coarse(), f)
    }

    /// The cached token if it is fresh, without refreshing (one `Arc` clone).
    #[must_use]
    pub fn cached(&self) -> Option<Arc<Token>> {
        self.entry.reader.fresh(self.manager.inner.now_coarse())
    }

    /// A valid token: the cached one when fresh, else after the single refresh in flight
    /// (exactly [`TokenManager::token`] for this source).
    ///
    /// # Errors
    /// As [`TokenManager::token`].
    pub async fn token(&self) -> Result<Arc<Token>, Error> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        self.manager
            .acquire(Arc::clone(&self.entry), &self.source)
            .await
    }
}
