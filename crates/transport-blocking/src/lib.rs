//! The blocking transport of kaifang: runs any [`Exchange`](kaifang_proto_core::exchange::Exchange)
//! over [ureq](https://docs.rs/ureq) on the calling thread (no async runtime anywhere), and
//! drives the token lifecycle of [`kaifang_proto_core::lifecycle`] with a `Mutex` + `Condvar`.
//!
//! | item | job |
//! |---|---|
//! | [`BlockingClient`] | execute an exchange: timeouts, body limit, redirects refused, redacted `kaifang.http` span, clock skew from `Date` |
//! | [`TokenManager`] | cached tokens per key: lock-free hot path, single-flight refresh, backoff, compare-and-expire + one retry, shared store |
//! | [`TokenHandle`] | one source bound to its cache entry: the hot path without map lookup or `Arc` clone |
//! | [`TransportConfig`] | the configuration shared with `kaifang-transport-async` (re-exported from proto-core) |
//!
//! Behaviour is identical to `kaifang-transport-async`; both share the I/O-free steps of
//! [`kaifang_proto_core::transport`]. In particular a redirect (301, 302, 303, 307, 308) is
//! never followed: it becomes `Error::Transport { kind: Redirect }` before the exchange parses
//! anything, so a token in a query string can never be carried to another host.
//!
//! Logging note: ureq itself logs through the `log` crate; at `log`'s `Trace` level for the
//! `ureq` target it prints request paths with their query strings. Keep `ureq` below `Trace` in
//! production (the `kaifang.http` span carries the redacted URL instead).

mod client;
mod tokens;

pub use client::BlockingClient;
pub use kaifang_proto_core::transport::TransportConfig;
pub use tokens::{TokenHandle, TokenManager};
