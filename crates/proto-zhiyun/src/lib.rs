//! # kaifang-proto-zhiyun — Zhiyun (致云) open auth API, sans-IO
//!
//! Three GET calls under `/apis/rest/`, each with `Authorization: Basic
//! base64(client_id:client_secret)` and the query parameters `t_` (the time) and
//! `p_ = (t_ % 10000) * 3 + 2345`:
//!
//! 1. `authService/authorize`: the user's `access_token` (from the Zhiyun desktop client, about
//!    3 months) → an `auth_code`;
//! 2. `userService/getUserInfo` and 3. `companyService/getCompanyInfo`: with `client_id` and
//!    that `auth_code`, the user's and the company's (masked) details.
//!
//! Answers come as JSON or XML (`…/json`, `…/xml`), parsed into the same types. This crate
//! builds the requests and parses the answers; run them with `kaifang-transport-blocking` or
//! `kaifang-transport-async`. Its [`server`] half verifies requests in the real server's order.
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::Exchange;
//! use kaifang_proto_zhiyun::{Zhiyun, ZhiyunConfig};
//!
//! let app = Zhiyun::new(ZhiyunConfig::new(
//!     "http://auth.xx.dev.com", "1102084294", "aku8hCyXBd9SqYkT", "9106c9fd1e138a042d4aedf94cede7a766e0",
//! ))?;
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_422_339_152_058)), Arc::new(FixedNonce::new("n")));
//! let req = app.authorize().build(&ctx)?;
//! assert_eq!(req.headers()["authorization"], "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU");
//! assert_eq!(
//!     req.uri(),
//!     "http://auth.xx.dev.com/apis/rest/authService/authorize/json?access_token=9106c9fd1e138a042d4aedf94cede7a766e0&t_=1422339152058&p_=8519"
//! );
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```
//!
//! | module | job |
//! |---|---|
//! | [`app`] | `ZhiyunConfig` (base URL, client id and secret, access token, `t_` unit, format, auth code TTL) and the prepared `Zhiyun` |
//! | [`endpoint`] | `Endpoint` and `Format`: paths, parameter order, routing |
//! | [`request`] | `t_`/`p_` (`Stamp`), the query, the request with its Basic header, `explain` |
//! | [`response`] | the `{data, code, message}` envelope in JSON or XML |
//! | [`xml`] | the XML shape (kaifang's choice: no sample is public) |
//! | [`model`] | `UserInfo`, `CompanyInfo`, `AuthorizeData`: tolerant of nulls, numbers, the `newtime` typo |
//! | [`api`] | the exchanges `Authorize`, `GetUserInfo`, `GetCompanyInfo` |
//! | [`auth_code`] | the auth code's lifecycle: `ZhiyunAuthCodes` (`TokenSource`), `AuthCodeCache`, `call_with_auth_code` |
//! | [`codes`] | every code: Chinese and English meaning, hint, class |
//! | [`server`] | the server half: the real check order and messages, answers, state, the seed tenant |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api;
pub mod app;
pub mod auth_code;
pub mod codes;
pub mod endpoint;
pub mod model;
pub mod request;
pub mod response;
pub mod server;
pub mod xml;

pub use api::{Authorize, AuthorizeToken, Call, GetCompanyInfo, GetUserInfo};
pub use app::{TimeUnit, Zhiyun, ZhiyunConfig};
pub use auth_code::{AuthCodeCache, Next, ZhiyunAuthCodes, call_with_auth_code};
pub use codes::Code;
pub use endpoint::{Endpoint, Format};
pub use model::{AuthorizeData, CompanyInfo, UserInfo};
