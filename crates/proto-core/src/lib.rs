//! The sans-IO contract shared by every kaifang platform crate and transport.
//!
//! A platform crate describes each API call as an [`Exchange`](exchange::Exchange): build an
//! `http::Request<Vec<u8>>`, parse an `http::Response<Vec<u8>>`. A transport (blocking or async)
//! runs any exchange and drives the token [`lifecycle`]. This crate does no I/O, has no async
//! runtime, and never reads the clock or the random source except through [`context`].
//!
//! | module | job |
//! |---|---|
//! | [`exchange`] | the `Exchange` trait: build a request, parse a response |
//! | [`context`] | `Context`: `Clock` (system, frozen, offset by server skew) and `Nonce` sources |
//! | [`secret`] | `SecretString` and friends: zeroized, redacted, constant-time equality |
//! | [`token`] | `Token` with absolute expiry; `Fingerprint` for compare-and-expire |
//! | [`error`] | `Error`, `ErrorClass`, `PlatformError` |
//! | [`envelope`] | errors inside 200 bodies, numbers-as-strings, decoding with the path to the bad field |
//! | [`redact`] | redaction of URLs, queries, forms, JSON, text, headers; body snippets |
//! | [`explain`] | `Explain`: the steps of a signature with secrets elided |
//! | [`lifecycle`] | refresh policy, single-flight slot, lock-free reader, stores, retry-once |
//! | [`transport`] | what both transports share: config, request/response steps, body limit, error mapping |
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::envelope::{Classified, Envelope};
//! use kaifang_proto_core::error::{Error, ErrorClass};
//! use kaifang_proto_core::exchange::{Exchange, run_with};
//! use kaifang_proto_core::token::Token;
//!
//! struct GetToken;
//! const ENVELOPE: Envelope = Envelope {
//!     platform: "demo", code_keys: &["code"], success: &["0"],
//!     message_keys: &["msg"], missing_code_is_success: false,
//! };
//!
//! impl Exchange for GetToken {
//!     type Output = Token;
//!     fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
//!         let body = format!("grant_type=client_credentials&timestamp={}", ctx.now_millis());
//!         http::Request::post("https://api.example.com/token")
//!             .header("content-type", "application/x-www-form-urlencoded")
//!             .body(body.into_bytes())
//!             .map_err(|e| Error::Config(e.to_string()))
//!     }
//!     fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Token, Error> {
//!         let v = ENVELOPE.check(resp.body(), |_, _| Classified::new(ErrorClass::Other))?;
//!         let access = v["data"]["accessToken"].as_str().unwrap_or_default();
//!         Ok(Token::from_expires_in(access, ctx.now(), 7200))
//!     }
//! }
//!
//! let ctx = Context::new(
//!     Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000)),
//!     Arc::new(FixedNonce::new("n")),
//! );
//! let token = run_with(&GetToken, &ctx, |req| {
//!     assert_eq!(req.body(), b"grant_type=client_credentials&timestamp=1700000000000");
//!     Ok(http::Response::new(br#"{"code":0,"data":{"accessToken":"t0k"}}"#.to_vec()))
//! })
//! .unwrap();
//! assert_eq!(token.access.expose_secret(), "t0k");
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod context;
pub mod envelope;
pub mod error;
pub mod exchange;
pub mod explain;
pub mod lifecycle;
pub mod redact;
pub mod secret;
pub mod time;
pub mod token;
pub mod transport;

pub use error::{Error, ErrorClass};
