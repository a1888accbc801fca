//! The Redis token store: one token per key shared by every instance of a fleet, so that a
//! platform that allows one live token per app sees one refresh per expiry, not one per process.
//!
//! | item | job |
//! |---|---|
//! | [`RedisStore`] | [`TokenStore`](kaifang_proto_core::lifecycle::TokenStore) on blocking connections (for the blocking transport's `TokenManager`) |
//! | [`AsyncRedisStore`] | [`AsyncTokenStore`](kaifang_proto_core::lifecycle::AsyncTokenStore) on tokio multiplexed connections (for the async transport's `TokenManager`) |
//! | [`RedisStoreConfig`] | URL, key prefix, connect and response timeouts, clock |
//! | [`keys`] | the key layout |
//! | [`scripts`] | the Lua scripts (set-if-newer, compare-and-expire, fenced lock, compare-and-delete unlock) |
//!
//! Both stores speak the same protocol (the scripts and their arguments are built once, in
//! [`scripts`]), so blocking and async instances share one fleet.
//!
//! # Layout
//! For a [`TokenKey`](kaifang_proto_core::lifecycle::TokenKey) `platform:tenant:kind` (each part
//! percent-encoded, see [`TokenKey::storage_key`](kaifang_proto_core::lifecycle::TokenKey::storage_key)):
//!
//! | key | type | contents | expiry |
//! |---|---|---|---|
//! | `{prefix}:{platform}:{tenant}:{kind}` | hash | `v` version (the writer's fence, 0 without a lock), `iat` issued-at (Unix ms), `fp` the access token's fingerprint, `inv` 1 once a platform rejected it, `tok` the token as JSON | the token's life: its access token's, or its refresh token's when that is longer |
//! | `…:lock` | string | `"{fence} {owner}"` | the lease (`PX`) |
//! | `…:fence` | counter | the last fence handed out | none (fences must never repeat) |
//!
//! # Guarantees
//! * **Set-if-newer** ([`scripts::SET_IF_NEWER`]): a write lands only if `(version, issued_at)`
//!   is greater than the stored one, atomically in Lua, so an older token never overwrites a
//!   newer one, whichever instance writes last.
//! * **The refresh lock** ([`scripts::TRY_LOCK`]): `SET NX PX` semantics with a fencing number
//!   that strictly increases per key (and is kept above any stored version even if the counter
//!   was lost), so a holder whose lease ran out cannot overwrite the token of the instance that
//!   took over. Unlock is compare-and-delete ([`scripts::UNLOCK`]): a holder never releases a
//!   lock it has lost. Leases are not renewed; a holder that dies (`kill -9`) simply lets its
//!   lease run out ([`RefreshPolicy::store_lease`](kaifang_proto_core::lifecycle::RefreshPolicy::store_lease)),
//!   and the instances waiting on it take the lock.
//! * **Waiting** is the transports' job (they poll this store with backoff for at most
//!   [`RefreshPolicy::max_wait`](kaifang_proto_core::lifecycle::RefreshPolicy::max_wait)); every
//!   store operation is one round trip bounded by the response timeout.
//! * **Connection loss**: an operation that fails returns
//!   [`Error::Store`](kaifang_proto_core::Error::Store) within the timeouts (the message never
//!   holds the URL's password or a token); the transports then keep serving their in-process
//!   cache and refresh without the store. The broken connection is dropped and the next
//!   operation reconnects, so the store recovers by itself when Redis is back.
//!
//! Tokens are kept in Redis in clear (that is the point of sharing them): protect the server
//! (a password in the URL, a private network). Redis Cluster is not supported (the lock script
//! touches three keys of one token); a single server or a Sentinel-managed primary is.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kaifang_proto_core::transport::TransportConfig;
//! use kaifang_store_redis::{RedisStore, RedisStoreConfig};
//! use kaifang_transport_blocking::{BlockingClient, TokenManager};
//!
//! # fn main() -> Result<(), kaifang_proto_core::Error> {
//! let store = RedisStore::open(RedisStoreConfig::new("redis://127.0.0.1:6379/0").prefix("myapp"))?;
//! let client = Arc::new(BlockingClient::new(TransportConfig::default())?);
//! let tokens = TokenManager::new(client).with_store(Arc::new(store));
//! # let _ = tokens; Ok(()) }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod asynch;
mod blocking;
mod config;
mod conn;
mod error;
pub mod keys;
pub mod scripts;

pub use asynch::AsyncRedisStore;
pub use blocking::RedisStore;
pub use config::RedisStoreConfig;
