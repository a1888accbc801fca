//! # kaifang-proto-tf56 — the Transfar open gateway (传化 tf56), sans-IO
//!
//! OAuth 2.0 with the gateway's own habits: the platform's clients `POST` the token request
//! with **every** parameter in the query string and an empty body, the `client_credentials`
//! answer says `expires_in` / `token_type` / `access_token` while the `authorization_code`
//! answer says `expiresin` / `tokentype` / `accesstoken`, tokens are 32 lower-case hex digits of
//! type `uuid`, and APIs live at `/openGateway/oauthentry/<module>/<version>/<method>` behind a
//! `{result, code, msg, data}` envelope. This crate builds those requests and parses the
//! answers; run them with `kaifang-transport-blocking` or `kaifang-transport-async`. Its
//! [`server`] half is what the sandbox serves.
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::run_with;
//! use kaifang_proto_core::secret::AccessToken;
//! use kaifang_proto_tf56::server::{MemoryStore, Tenant};
//! use kaifang_proto_tf56::{Grant, Tf56, Tf56Config, TokenRequest};
//!
//! // The client half against the server half, no I/O.
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000)), Arc::new(FixedNonce::new("n")));
//! let (tenant, mut store) = (Tenant::default(), MemoryStore::default());
//! let mut serve = |req: http::Request<Vec<u8>>| Ok(tenant.handle(&mut store, &ctx, &req));
//!
//! let app = Tf56::new(Tf56Config::new("7", "7fad9d6b20e849219d6888b25e3f40db"))?;
//! let token = run_with(&TokenRequest::new(&app, Grant::ClientCredentials)?, &ctx, &mut serve)?;
//! assert_eq!(token.token_type.as_deref(), Some("uuid"));
//! assert_eq!(token.scope, ["商铺", "good-list", "op-truck", "open-demo"]);
//!
//! let hello = run_with(&app.say_hello(&AccessToken::from(token.access.clone())), &ctx, &mut serve)?;
//! assert!(hello.message.starts_with("Hello"));
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```
//!
//! | module | job |
//! |---|---|
//! | [`config`] | `Tf56Config` (client, URLs, token-URL override, client authentication) and the prepared `Tf56` |
//! | [`oauth`] | grants, `TokenRequest`, the authorize URL and its callback, `Tf56Tokens` for the lifecycle |
//! | [`token`] | the token answer under both spellings |
//! | [`api`] | `ApiMethod`, `ApiCall<T>` and the business envelope; `sayHello`, `queryUserInfo` |
//! | [`codes`] | OAuth error codes and gateway codes, with hints and classes |
//! | [`server`] | the server half: token endpoint, authorize page, gateway, and the state they keep |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api;
pub mod codes;
pub mod config;
pub mod oauth;
pub mod server;
pub mod token;

pub use api::{ApiCall, ApiMethod, Hello, TokenPlacement, UserInfo};
pub use config::{ClientAuth, Tf56, Tf56Config};
pub use oauth::{AuthorizeRequest, Grant, GrantType, Tf56Tokens, TokenRequest, parse_callback};
