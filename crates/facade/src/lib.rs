//! # kaifang (开放)
//!
//! Authenticate against Chinese open platforms correctly the first time. This crate re-exports
//! kaifang's layered crates behind features, so each downstream crate takes only what it needs.
//!
//! | Feature | Module | What you get | Depends on (beyond the default) |
//! |---|---|---|---|
//! | (always) | [`sign`] | `kaifang-sign-core`: `no_std` HMAC / MD5 / xxtea-py XXTEA / every platform's signature | `hmac`, `sha1`, `sha2`, `md-5`, `zeroize` |
//! | (always) | [`core`] | `kaifang-proto-core`: the sans-IO contract, tokens, errors, redaction, lifecycle | `http`, `serde`, `serde_json`, `thiserror`, `arc-swap`, `getrandom` |
//! | `tianyi` | `tianyi` | Tianyi Shilian VCP (天翼视联) | `kaifang-proto-tianyi` (+ `url`, `form_urlencoded`) |
//! | `zhiyun` | `zhiyun` | Zhiyun open auth (致云) | `kaifang-proto-zhiyun` (+ `url`, `quick-xml`, `base64`) |
//! | `device` | `device` | Cellular device provisioning + Aliyun IoT MQTT / 一型一密 | `kaifang-proto-device` (with its `std` feature) |
//! | `tf56` | `tf56` | Transfar open gateway (传化 tf56), OAuth 2.0 | `kaifang-proto-tf56` (+ `url`, `form_urlencoded`) |
//! | `ilab` | `ilab` | Virtual-simulation experiment platform (iLab-x style) | `kaifang-proto-ilab` (+ `url`, `base64`, `percent-encoding`) |
//! | `blocking` | `blocking` | The blocking transport (ureq) and its token manager | `kaifang-transport-blocking` (+ `ureq` with rustls/ring, `tracing`) |
//! | `async` | `asynch` | The async transport (reqwest + tokio) and its token manager | `kaifang-transport-async` (+ `reqwest`, `rustls`/ring, `tokio`, `tracing`) |
//! | `sandbox` | `sandbox` | The local emulator of all five platforms | `kaifang-sandbox`, which depends on all five `kaifang-proto-*` crates (device with `server`) and `axum`, `hyper`, `tokio`, `toml`, `clap` |
//! | `redis` | `redis` | The Redis token store: one token per app shared by every process of a fleet (set-if-newer, fenced refresh lock) | `kaifang-store-redis` (+ `redis` with Lua scripts and tokio connections) |
//! | `full` | all of the above | | all of the above |
//!
//! The platform features are independent of the transport features: a platform crate is
//! sans-IO (it builds requests and parses answers), a transport runs them. Note that `sandbox`
//! compiles every platform's server half, so a build with `sandbox` is as heavy as `full` minus
//! the transports; the `kaifang::tianyi`-style modules still need their own features.
//!
//! ```
//! // Offline: the Zhiyun check value and the Tianyi signature need only the default features.
//! assert_eq!(kaifang::sign::zhiyun::check_value(1_422_339_152_058), 8519);
//! ```
//!
//! ## Choosing features
//!
//! - **Firmware.** On a `no_std` target depend on `kaifang-sign-core` alone (every platform's
//!   signature, no allocator needed; add its `alloc` feature for the `Vec`/`String`
//!   conveniences), plus `kaifang-proto-device` with `default-features = false` for
//!   provisioning through the modem's own HTTP stack. On an embedded Linux with `std`, `kaifang`
//!   with its default features (none) gives the signatures and the shared contract without any
//!   HTTP stack.
//! - **A server or a service.** One platform plus `async`, e.g.
//!   `kaifang = { version = "0.1", features = ["tf56", "async"] }`; use `blocking` instead of
//!   `async` in a program without an async runtime (CLIs, scripts).
//! - **Tests.** Add `sandbox` in `[dev-dependencies]` only, so that the emulator (axum, hyper,
//!   the platforms' server halves) never reaches your production build:
//!
//! ```toml
//! [dependencies]
//! kaifang = { version = "0.1", features = ["tf56", "async"] }
//!
//! [dev-dependencies]
//! kaifang = { version = "0.1", features = ["tf56", "async", "sandbox"] }
//! ```
//!
//! ## Quickstarts
//!
//! One per platform, each the smallest meaningful flow of the repository's
//! `examples/examples/<platform>_blocking.rs`: start the in-process sandbox, build the app with
//! the sandbox's demo credentials, get a token, make one call. They use the blocking transport;
//! with `async` the same calls go through `kaifang::asynch::{AsyncClient, TokenManager}` and
//! `.await` (see the `*_async.rs` examples). Each needs its platform, `blocking` and `sandbox`:
//! `cargo test -p kaifang --all-features --doc` runs them all, and without those features they
//! compile to nothing.
//!
//! ### Tianyi Shilian VCP (`tianyi`)
//!
//! A platform app (平台应用) gets its token with `vcp_189`, no user login; the token manager
//! caches it and renews it with the refresh token.
//!
//! ```
//! # #[cfg(all(feature = "tianyi", feature = "blocking", feature = "sandbox"))] {
//! use std::sync::Arc;
//! use kaifang::blocking::{BlockingClient, TokenManager, TransportConfig};
//! use kaifang::sandbox::{Sandbox, platforms::tianyi as demo};
//! use kaifang::tianyi::{Tianyi, TianyiConfig, TianyiTokens};
//!
//! let sandbox = Sandbox::builder().module(demo::TianyiModule).start_blocking()?;
//! let app = Tianyi::new(
//!     TianyiConfig::new(demo::PLATFORM_APP_ID, demo::PLATFORM_APP_SECRET)
//!         .platform(demo::PLATFORM_ENTERPRISE_USER)
//!         .base_url(sandbox.base_url()),
//! )?;
//! let client = Arc::new(BlockingClient::new(TransportConfig::default())?);
//! let token = TokenManager::new(Arc::clone(&client)).token(&TianyiTokens::new(&app))?;
//! let page = client.execute(&app.device_list(&token.access, "", 1, 50)?)?;
//! assert!(!page.list.is_empty());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ### Zhiyun open auth (`zhiyun`)
//!
//! The user's access token (from the 致云桌面 login) is traded for an auth code, which the token
//! manager caches and renews; the sandbox seeds the documentation's test client and tokens.
//!
//! ```
//! # #[cfg(all(feature = "zhiyun", feature = "blocking", feature = "sandbox"))] {
//! use std::sync::Arc;
//! use kaifang::blocking::{BlockingClient, TokenManager, TransportConfig};
//! use kaifang::sandbox::{Sandbox, platforms::zhiyun::ZhiyunModule};
//! use kaifang::zhiyun::server::tenant;
//! use kaifang::zhiyun::{Zhiyun, ZhiyunAuthCodes, ZhiyunConfig};
//!
//! let sandbox = Sandbox::builder().module(ZhiyunModule::default()).start_blocking()?;
//! let app = Zhiyun::new(ZhiyunConfig::new(
//!     sandbox.base_url(), tenant::CLIENT_ID, tenant::CLIENT_SECRET, tenant::ACCESS_TOKENS[0],
//! ))?;
//! let tokens = TokenManager::new(Arc::new(BlockingClient::new(TransportConfig::default())?));
//! let codes = ZhiyunAuthCodes::new(&app);
//! let user = tokens.call_with_token(&codes, |code| app.user_info(&code.access))?;
//! assert_eq!(user.username, tenant::sample_user().username);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ### Cellular device provisioning (`device`)
//!
//! The device posts its IMEI to the provisioning server and gets its Aliyun IoT identity, then
//! trades its DeviceSecret for an `iotToken` at `/auth/devicename` (or computes its MQTT
//! password locally with `DeviceConfig::mqtt_connect`).
//!
//! ```
//! # #[cfg(all(feature = "device", feature = "blocking", feature = "sandbox"))] {
//! use kaifang::blocking::{BlockingClient, TransportConfig};
//! use kaifang::device::ProvisionRequest;
//! use kaifang::device::exchange::{Authenticate, Provision};
//! use kaifang::sandbox::{Sandbox, platforms::device as demo};
//!
//! let sandbox = Sandbox::builder().module(demo::DeviceModule::default()).start_blocking()?;
//! let client = BlockingClient::new(TransportConfig::default())?;
//! let request = ProvisionRequest::new().imei(demo::DEVICE_IMEI)?;
//! let config = client.execute(&Provision::new(sandbox.url(demo::PROVISION_PATH), request))?;
//! assert_eq!(config.device_name, demo::DEVICE_NAME);
//! let auth = Authenticate::new(sandbox.base_url(), config, demo::DEVICE_IMEI);
//! let token = client.execute(&auth)?;
//! assert!(!token.iot_id.is_empty());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ### Transfar tf56 (`tf56`)
//!
//! OAuth 2.0 `client_credentials` for the public APIs; the token manager caches the token and
//! retries once with a new one when the gateway rejects it.
//!
//! ```
//! # #[cfg(all(feature = "tf56", feature = "blocking", feature = "sandbox"))] {
//! use std::sync::Arc;
//! use kaifang::blocking::{BlockingClient, TokenManager, TransportConfig};
//! use kaifang::core::secret::AccessToken;
//! use kaifang::sandbox::{Sandbox, platforms::tf56::Tf56Module};
//! use kaifang::tf56::server::{PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET};
//! use kaifang::tf56::{Tf56, Tf56Config, Tf56Tokens};
//!
//! let sandbox = Sandbox::builder().module(Tf56Module).start_blocking()?;
//! let app = Tf56::new(
//!     Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET).base_url(sandbox.base_url()),
//! )?;
//! let tokens = TokenManager::new(Arc::new(BlockingClient::new(TransportConfig::default())?));
//! let source = Tf56Tokens::client_credentials(&app);
//! let hello = tokens.call_with_token(&source, |t| app.say_hello(&AccessToken::from(t.access.clone())))?;
//! assert_eq!(hello.client_id.as_deref(), Some(PUBLIC_CLIENT_ID));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ### iLab-x style experiments (`ilab`)
//!
//! The platform puts a one-use `ticket` in the experiment's URL (the sandbox mints one, as
//! clicking 我要做实验 would); the experiment trades it for a token and uploads the score.
//!
//! ```
//! # #[cfg(all(feature = "ilab", feature = "blocking", feature = "sandbox"))] {
//! use std::sync::Arc;
//! use kaifang::blocking::{BlockingClient, TokenManager, TransportConfig};
//! use kaifang::ilab::upload::{DataUpload, StepRecord};
//! use kaifang::ilab::{DataUploadRequest, Ilab, IlabConfig, IlabTokens, Ticket};
//! use kaifang::sandbox::{Sandbox, platforms::ilab as demo};
//!
//! let sandbox = Sandbox::builder().module(demo::IlabModule::default()).start_blocking()?;
//! let request = format!(r#"{{"appid": "{}"}}"#, demo::SEED_APPID).parse()?; // a JSON value
//! let minted = sandbox.mint("ilab", "ticket", request)?;
//! let ticket = Ticket::new(minted["ticket_encoded"].as_str().ok_or("no ticket")?)?;
//! let app = Ilab::new(IlabConfig::new(sandbox.base_url(), demo::SEED_APPID, demo::SEED_SECRET))?;
//! let tokens = TokenManager::new(Arc::new(BlockingClient::new(TransportConfig::default())?));
//! let source = IlabTokens::new(&app, ticket);
//! let un = tokens.token(&source)?.extra["un"].as_str().ok_or("no un")?.to_owned();
//! assert_eq!(un, demo::SEED_USER);
//! let (start, end) = (1_767_225_600_000, 1_767_226_320_000); // 12 minutes, in ms
//! let record = DataUpload::builder(un, "电路虚拟仿真实验", "quickstart-1").score(90).times(start, end)
//!     .step(StepRecord::builder("实验操作").times(start, end).max_score(100).score(90))
//!     .build()?;
//! let receipt = tokens.call_with_token(&source, |t| DataUploadRequest::new(&app, &t.access, &record))?;
//! assert!(!receipt.message.is_empty());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use kaifang_proto_core as core;
pub use kaifang_sign_core as sign;

#[cfg(feature = "tianyi")]
#[cfg_attr(docsrs, doc(cfg(feature = "tianyi")))]
pub use kaifang_proto_tianyi as tianyi;

#[cfg(feature = "zhiyun")]
#[cfg_attr(docsrs, doc(cfg(feature = "zhiyun")))]
pub use kaifang_proto_zhiyun as zhiyun;

#[cfg(feature = "device")]
#[cfg_attr(docsrs, doc(cfg(feature = "device")))]
pub use kaifang_proto_device as device;

#[cfg(feature = "tf56")]
#[cfg_attr(docsrs, doc(cfg(feature = "tf56")))]
pub use kaifang_proto_tf56 as tf56;

#[cfg(feature = "ilab")]
#[cfg_attr(docsrs, doc(cfg(feature = "ilab")))]
pub use kaifang_proto_ilab as ilab;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub use kaifang_transport_blocking as blocking;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use kaifang_transport_async as asynch;

#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub use kaifang_sandbox as sandbox;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use kaifang_store_redis as redis;
