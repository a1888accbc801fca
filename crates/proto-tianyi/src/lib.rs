//! # kaifang-proto-tianyi — Tianyi Shilian VCP (天翼视联), sans-IO
//!
//! Every call is a form POST whose private params are XXTEA-encrypted with the app secret and
//! hex-encoded, signed with HMAC-SHA256 over `appId + clientType + params + timestamp + version`,
//! and sent with the header `apiVersion: 2.0` (without it the server answers 70012, "应用不存在").
//! This crate builds those requests and parses the answers; run them with
//! `kaifang-transport-blocking` or `kaifang-transport-async`.
//!
//! ```
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::Exchange;
//! use kaifang_proto_tianyi::{AuthPageRequest, LoginClientType, Tianyi, TianyiConfig};
//! use std::sync::Arc;
//!
//! let app = Tianyi::new(TianyiConfig::new("693299085757", "88bd97ee5e9949c2bc48efb6e6fa2207"))?;
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000)), Arc::new(FixedNonce::new("abcdefghijklmnop")));
//! let login = AuthPageRequest::new(&app, &ctx, "http://192.168.140.1:8889", LoginClientType::Web)?;
//! let req = login.build(&ctx)?;
//! assert_eq!(req.headers()["apiVersion"], "2.0");
//! assert!(std::str::from_utf8(req.body()).unwrap().starts_with("signature=7134edd0ae864e3c"));
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```
//!
//! | module | job |
//! |---|---|
//! | [`app`] | `TianyiConfig` (credentials, version, client type, hex case, app kind) and the prepared `Tianyi` |
//! | [`params`] | private params `k=v&…`, raw and in order |
//! | [`envelope`] | the signed form (`sign_form`, `explain`) and `Call<T>` for any path |
//! | [`response`] | the `{code, msg, data}` envelope, upper-case `CODE`, `v1.0` data decryption |
//! | [`auth`] | `getAuthPageUrl`, the callback, `getAccessToken` grants, `TianyiTokens` for the lifecycle |
//! | [`device`] | typed business calls and the `getAllDeviceListNew` cursor |
//! | [`codes`] | every known code with its hint and class |
//! | [`server`] | the server half: verification in the real order, answers, redirects |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod app;
pub mod auth;
pub mod codes;
pub mod device;
pub mod envelope;
pub mod params;
pub mod response;
pub mod server;

pub use app::{AppKind, Case, Tianyi, TianyiConfig};
pub use auth::{
    AuthPage, AuthPageRequest, GetAccessToken, Grant, LoginClientType, TianyiTokens, parse_callback,
};
pub use envelope::{Call, SignedForm, sign_form};
pub use params::PrivateParams;
