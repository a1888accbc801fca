//! The async transport of kaifang: runs any [`Exchange`](kaifang_proto_core::exchange::Exchange)
//! over [reqwest](https://docs.rs/reqwest) on tokio, and drives the token lifecycle of
//! [`kaifang_proto_core::lifecycle`] with a short lock and a `tokio::sync::Notify`, the refresh
//! running in its own task so that cancelling a caller never strands the others.
//!
//! | item | job |
//! |---|---|
//! | [`AsyncClient`] | execute an exchange: timeouts, body limit, redirects refused, redacted `kaifang.http` span, clock skew from `Date` |
//! | [`TokenManager`] | cached tokens per key: lock-free hot path, single-flight spawned refresh, backoff, compare-and-expire + one retry, shared store |
//! | [`TokenHandle`] | one source bound to its cache entry: the hot path without map lookup or `Arc` clone |
//! | [`reqwest_builder`] | a bare `reqwest::ClientBuilder` with the same TLS (ring, webpki roots) |
//! | [`TransportConfig`] | the configuration shared with `kaifang-transport-blocking` (re-exported from proto-core) |
//!
//! Behaviour is identical to `kaifang-transport-blocking`; both share the I/O-free steps of
//! [`kaifang_proto_core::transport`]. In particular a redirect (301, 302, 303, 307, 308) is
//! never followed: it becomes `Error::Transport { kind: Redirect }` before the exchange parses
//! anything, so a token in a query string can never be carried to another host.
//!
//! TLS is rustls with the ring provider and the webpki roots, handed to reqwest as a ready
//! configuration: no process-wide crypto provider is installed. reqwest's own `rustls` feature
//! (aws-lc-rs) is enabled only so that plain `reqwest::Client`s elsewhere in the same build keep
//! working (with `rustls-no-provider` they would panic at build time); this client never uses it.

mod client;
mod tokens;

pub use client::{AsyncClient, reqwest_builder};
pub use kaifang_proto_core::transport::TransportConfig;
pub use tokens::{TokenHandle, TokenManager};
