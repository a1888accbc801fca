//! The token lifecycle, written once as policy and driven by each transport with its own lock.
//!
//! | piece | job |
//! |---|---|
//! | [`TokenKey`] | which token (platform, tenant, kind): explicit, no ambient state |
//! | [`RefreshPolicy`] | when to refresh (margin, fraction of TTL, floor, jitter), how long to back off |
//! | [`TokenSlot`] | per-key state machine: current token, single-flight ticket, failures, backoff, compare-and-expire |
//! | [`TokenReader`] | lock-free, allocation-free read of a fresh token |
//! | [`Plan`] / [`TokenSource`] | refresh token first, full grant as fallback; the platform's exchanges |
//! | [`TokenStore`] / [`AsyncTokenStore`] / [`MemoryStore`] | sharing between processes: set-if-newer, leased fenced lock |
//! | [`RetryGate`] | one retry after a token-invalid error, never a loop |
//!
//! # How a transport drives it
//! Per key, a transport keeps `reader: TokenReader` and `slot: Lock<TokenSlot>` (plus a condvar
//! or `Notify` to wake waiters). To get a token at `now = ctx.now()`:
//!
//! 1. `reader.fresh(now)` → `Some(token)`: use it. (The hot path: no lock.)
//! 2. Otherwise lock the slot and `slot.acquire(&policy, now)`; release the lock before any I/O.
//!    * `Serve(t)`: use `t`.
//!    * `Wait { .. }`: wait for a notification (bounded by `policy.max_wait` on a monotonic
//!      timer, then [`Error::RefreshTimeout`](crate::error::Error::RefreshTimeout)), go to 2.
//!    * `Backoff { .. }`: return [`Acquire::into_backoff_error`].
//!    * `Fetch(ticket)` / `ServeAndRefresh { token, ticket }`: you are the only refresher. Arm a
//!      drop guard that calls `slot.on_refresh_abandoned(ticket)` if you are cancelled. Then:
//!      (shared store) `store.get` → if it holds a usable token newer than yours, that is the
//!      result; else `store.try_lock(key, store_lease, instance_id)` and read the store once
//!      more (a token written in between is adopted); if another instance holds the lock, poll
//!      `store.get` and `try_lock` with backoff until one succeeds or `max_wait` passes (a
//!      dead holder's lease ends after `store_lease`; see [`StoreTurn`](crate::transport::StoreTurn)).
//!      A failing store is bypassed: refresh without it. Otherwise run
//!      `source.exchange(ticket.plan())` through the HTTP client, `store.set_if_newer(key,
//!      StoredToken::new(token, fence.token))`, `store.unlock(key, &fence)`.
//!      Lock the slot again: `on_refresh_success(ticket, token, ..)` or
//!      `on_refresh_failure(ticket, &err, ..)` (on [`FailureOutcome::FallBackToFullGrant`] go to
//!      2 at once). Notify all waiters. With `ServeAndRefresh` the caller may use `token`
//!      immediately and do the refresh after (or spawn it).
//! 3. Call the API. If it fails with a token-invalid error and `RetryGate::should_retry` says
//!    so, `slot.invalidate_if(&token.fingerprint())` (and `store.expire_if`), then go to 1 once.
//!
//! After each response, transports may feed the `Date` header to an
//! [`OffsetClock`](crate::context::OffsetClock) so the next signature uses the server's time.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use kaifang_proto_core::context::{FrozenClock, Clock, SeqNonce};
//! use kaifang_proto_core::lifecycle::{Acquire, RefreshPolicy, TokenSlot};
//! use kaifang_proto_core::token::Token;
//!
//! let clock = FrozenClock::from_unix_millis(1_700_000_000_000);
//! let rng = SeqNonce::new(1);
//! let policy = RefreshPolicy::default();
//! let slot = Mutex::new(TokenSlot::new());
//! let reader = slot.lock().unwrap().reader();
//!
//! let now = clock.now();
//! assert!(reader.fresh(now).is_none());
//! let Acquire::Fetch(ticket) = slot.lock().unwrap().acquire(&policy, now) else { unreachable!() };
//! // ... run the grant without holding the lock ...
//! let token = Token::from_expires_in("t", now, 7200);
//! slot.lock().unwrap().on_refresh_success(ticket, token, &policy, &rng);
//! assert!(reader.fresh(clock.now()).is_some()); // hot path from now on
//! ```

mod key;
mod policy;
mod retry;
mod slot;
mod source;
mod store;

pub use key::{KeyHasher, KeyMap, TokenKey};
pub use policy::{Freshness, RefreshPolicy};
pub use retry::RetryGate;
pub use slot::{Acquire, FailureOutcome, Plan, RefreshTicket, TokenReader, TokenSlot};
pub use source::{TokenExchange, TokenSource};
pub use store::{
    AsyncTokenStore, BoxFuture, Fence, MemoryStore, StoredToken, SyncAsAsync, TokenStore,
};
