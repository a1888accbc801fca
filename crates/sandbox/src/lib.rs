//! `kaifang-sandbox`: a strict, controllable emulator of the platforms kaifang speaks to, served
//! by one axum server on their real paths, so a client only swaps its base URL.
//!
//! **This is a test tool. Never expose it.** It accepts the well-known credentials printed in
//! the platforms' documentation and lets anyone who can reach it mint tokens, move its clock and
//! read its journal. It listens on loopback only unless told otherwise
//! ([`Builder::allow_remote`], `--allow-remote`), and it is strict by default: a module verifies
//! requests the way the real server does and answers with the real error codes.
//!
//! ```
//! use std::time::Duration;
//! use kaifang_sandbox::{Sandbox, FaultSpec, demo::DemoModule};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::builder().module(DemoModule).seed(7).start().await?;
//! let base = sandbox.base_url();            // http://127.0.0.1:PORT
//! assert!(base.starts_with("http://127.0.0.1:"));
//!
//! sandbox.freeze_clock_at(1_700_000_000_000); // token expiry follows the sandbox clock
//! sandbox.add_fault(FaultSpec::new("/__demo/oauth/token").status(503, "{}").count(1))?;
//! let minted = sandbox.mint("demo", "access_token", serde_json::json!({"client_id": "demo-client"}))?;
//! assert_eq!(minted["expires_in"], 7200);
//! sandbox.advance_clock(Duration::from_secs(7200)); // ... and now it has expired
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! From code without a runtime (blocking clients): [`Builder::start_blocking`].
//!
//! # Pieces
//! | item | job |
//! |---|---|
//! | [`Module`] | the one trait a platform implements (recipe in its docs); [`demo`] is the example |
//! | [`ModuleContext`] | what a module gets: typed config, [`SandboxClock`], [`SandboxRng`], [`PlatformTokens`], [`LoginPages`] |
//! | [`Builder`] / [`SandboxHandle`] | start-up and every control in Rust |
//! | [`Config`] | the TOML file: `[sandbox]` and `[platforms.<name>]` |
//! | [`FaultSpec`] | latency, status, malformed body, truncated body, dropped connection |
//! | [`JournalEntry`] | one redacted request |
//!
//! # Control endpoints (JSON; errors are 4xx `{"error": code, "message": text}`)
//! Requests to `/__sandbox/...` are never journaled, counted or faulted.
//!
//! | endpoint | body → answer |
//! |---|---|
//! | `GET /__sandbox/health` | → `{"ok":true,"modules":[{"name","mint_kinds"}],"tokens":n,"journal_capacity":n,"seed":n\|null}` |
//! | `GET /__sandbox/tenants` | → `{"<platform>": <tenants>}` |
//! | `GET /__sandbox/clock` | → `{"now_ms":n,"mode":"system"}` / `{"now_ms","mode":"frozen","at_ms"}` / `{"now_ms","mode":"offset","offset_ms"}` |
//! | `POST /__sandbox/clock/freeze` | `{"at_ms"?: n}` (now when absent) → clock |
//! | `POST /__sandbox/clock/offset` | `{"offset_ms": n}` → clock |
//! | `POST /__sandbox/clock/advance` | `{"ms": n ≥ 0}` → clock |
//! | `POST /__sandbox/clock/unfreeze` | → clock (system) |
//! | `GET /__sandbox/lifetimes` | → `[{"platform","kind","seconds"}]` |
//! | `PUT /__sandbox/lifetimes` | `{"platform","kind","seconds": n \| null}` → list |
//! | `POST /__sandbox/mint` | `{"platform","kind","request"?: {...}}` → the module's answer |
//! | `GET /__sandbox/inspect/{platform}/{kind}?filter=…` | → a read-only view of module state (e.g. `ilab` `uploads`) |
//! | `POST /__sandbox/revoke` | `{"token","platform"?}` → `{"revoked":true,"platform"}`; 404 when not held |
//! | `GET /__sandbox/tokens`, `POST /__sandbox/tokens/purge` | → `{"count"}`, `{"purged","count"}` |
//! | `GET /__sandbox/faults` | → `[{"id","path","method","latency_ms","action","probability","seed","count","matched","fired","remaining"}]` |
//! | `POST /__sandbox/faults` | [`FaultSpec`] as JSON, e.g. `{"path":"/x","method":"POST","action":{"type":"status","status":503,"body":"{}"},"probability":0.5,"seed":1,"count":3}` → `{"id"}` |
//! | `DELETE /__sandbox/faults`, `DELETE /__sandbox/faults/{id}` | → `{"cleared":true}`, `{"removed":id}` |
//! | `GET /__sandbox/journal?limit=&path=` | → `{"capacity","entries":[JournalEntry]}` |
//! | `DELETE /__sandbox/journal` | → `{"cleared":true}` |
//! | `GET /__sandbox/counters` | → `{"POST /x": 3}`; `DELETE` zeroes |
//! | `POST /__sandbox/reset` | → `{"reset":true}` |
//! | `POST /__sandbox/login/decision` | the login page's form (`login_id`, `decision`, `user`) → 303 to the callback |
//!
//! Fault actions: `{"type":"status","status":503,"body":"...","content_type"?:"...","retry_after"?:"7"}`,
//! `{"type":"malformed"}`, `{"type":"truncated"}`, `{"type":"drop"}`; `latency_ms` may come
//! with or without an action.
//!
//! # Bounded memory
//! Tokens and codes expire on the sandbox clock and are purged (every 10 s, and on access) once
//! past the retention; the registry has a capacity; the journal is a ring; pending login pages
//! expire after ten minutes.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod config;
mod controls;
pub mod demo;
pub mod error;
pub mod faults;
pub mod journal;
pub mod login;
pub mod module;
pub mod platforms;
pub mod rng;
mod server;
pub mod tokens;

pub use clock::{ClockMode, ClockState, SandboxClock};
pub use config::{Config, SandboxSettings};
pub use error::{ControlError, SandboxError};
pub use faults::{FaultAction, FaultInfo, FaultSpec};
pub use journal::JournalEntry;
pub use login::{Decision, LoginPages, LoginRequest};
pub use module::{Module, ModuleContext};
pub use rng::SandboxRng;
pub use server::{
    BlockingSandbox, Builder, CONTROL_PREFIX, DEFAULT_MAX_BODY, Sandbox, SandboxHandle,
};
pub use tokens::{Grant, LookupError, NewGrant, PlatformTokens, TokenRegistry};
