//! # kaifang-proto-ilab — virtual-simulation experiment platforms, sans-IO
//!
//! iLab-x 实验空间 (interface v2) and its RONCOO-based clone: the user clicks 我要做实验 on the
//! platform, which opens your experiment with a `ticket`; you trade it for a 24-hour token
//! (`signature = UPPER(hex(MD5(decoded ticket + appid + secret)))`), refresh it at most twice,
//! and send back the score (数据回传) and the report (实验报告上传). This crate builds those
//! requests and parses the answers; run them with `kaifang-transport-blocking` or
//! `kaifang-transport-async`. Its [`server`] half is the platform itself, for the sandbox.
//!
//! ```
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::Exchange;
//! use kaifang_proto_ilab::{AccessTokenRequest, Ilab, IlabConfig, Ticket};
//! use std::sync::Arc;
//!
//! let app = Ilab::new(IlabConfig::new("http://127.0.0.1:8180", "105348", "secret"))?;
//! // As found in the experiment's URL, or already decoded: either way it is encoded once.
//! let ticket = Ticket::new("22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D")?;
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000)), Arc::new(FixedNonce::new("n")));
//! let req = AccessTokenRequest::new(&app, ticket).build(&ctx)?;
//! let uri = req.uri().to_string();
//! assert!(uri.contains("wWQ%3D&appid=105348&signature=A420ABC82AB3B07C347F7F02A6B28FD2"));
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```
//!
//! | module | job |
//! |---|---|
//! | [`app`] | `IlabConfig` (addr, appid, secret, `Profile`), the paths table, the prepared `Ilab` |
//! | [`ticket`] | `Ticket`: decoded once, signed decoded, sent encoded once |
//! | [`auth`] | ticket → token, refresh, `IlabToken`, `IlabSession` (the refresh rules), `IlabTokens` for the lifecycle, `needs_refresh` |
//! | [`upload`] | score and report uploads: validated builders and their exchanges |
//! | [`claims`] | JWT claims decoded **without verification** (untrusted) |
//! | [`response`] | the `{"code":…,"msg":…}` envelope |
//! | [`codes`] | every code per endpoint, its meaning, hint and class; the client's own refusals |
//! | [`time`] | the `yyyy-MM-dd HH:mm:ss` Beijing-time display |
//! | [`server`] | the server half: checks in the real order, minting, answers, the state to keep |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod app;
pub mod auth;
pub mod claims;
pub mod codes;
pub mod response;
pub mod server;
pub mod ticket;
pub mod time;
pub mod upload;

pub use app::{Ilab, IlabConfig, Paths, Profile};
pub use auth::{
    AccessTokenRequest, IlabSession, IlabToken, IlabTokens, Lineage, RefreshRequest, needs_refresh,
};
pub use claims::{Claims, decode_unverified};
pub use ticket::Ticket;
pub use upload::{
    Attachment, AttachmentUpload, DataUpload, DataUploadRequest, Status, StepRecord, UploadReceipt,
    ValidationError,
};
