//! Start-up ([`Builder`]), the connection loop with fault injection, journal and counters, and
//! the [`SandboxHandle`] that controls a running sandbox.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kaifang_proto_core::context::Clock;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::clock::{ClockMode, ClockState, SandboxClock};
use crate::config::Config;
use crate::controls;
use crate::error::{ControlError, SandboxError};
use crate::faults::{FaultAction, FaultInfo, FaultSet, FaultSpec};
use crate::journal::{Counters, DEFAULT_JOURNAL_CAPACITY, Journal, JournalEntry};
use crate::login::LoginPages;
use crate::module::{Module, Mounted, Pending, Services, Unmounted};
use crate::rng::SandboxRng;
use crate::tokens::{DEFAULT_CAPACITY, DEFAULT_RETENTION, LifetimeOverride, TokenRegistry};

/// Default largest request body, in bytes.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;
/// How often expired tokens are purged.
const PURGE_EVERY: Duration = Duration::from_secs(10);
/// How long a graceful shutdown waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The prefix of the control endpoints (never journaled, counted or faulted).
pub const CONTROL_PREFIX: &str = "/__sandbox";

/// The entry point: `Sandbox::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox;

impl Sandbox {
    /// A builder listening on `127.0.0.1:0` with no modules.
    #[must_use]
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Configures and starts a sandbox.
pub struct Builder {
    addr: SocketAddr,
    allow_remote: bool,
    config: Option<Config>,
    config_file: Option<PathBuf>,
    modules: Vec<Box<dyn Unmounted>>,
    clock: ClockMode,
    seed: Option<u64>,
    journal_capacity: Option<usize>,
    token_capacity: usize,
    token_retention: Option<Duration>,
    max_body: Option<usize>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("addr", &self.addr)
            .field("allow_remote", &self.allow_remote)
            .field(
                "modules",
                &self.modules.iter().map(|m| m.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            allow_remote: false,
            config: None,
            config_file: None,
            modules: Vec::new(),
            clock: ClockMode::System,
            seed: None,
            journal_capacity: None,
            token_capacity: DEFAULT_CAPACITY,
            token_retention: None,
            max_body: None,
        }
    }
}

impl Builder {
    /// The address to listen on (default `127.0.0.1:0`: a free port on loopback).
    #[must_use]
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Allows a non-loopback address. The sandbox accepts well-known credentials: only on an
    /// isolated network.
    #[must_use]
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// A parsed configuration.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// A configuration file, read at start (wins over [`config`](Self::config)).
    #[must_use]
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Mounts a platform module.
    #[must_use]
    pub fn module(mut self, module: impl Module) -> Self {
        self.modules.push(Box::new(Pending(module)));
        self
    }

    /// The initial clock (default: the system clock).
    #[must_use]
    pub fn clock(mut self, mode: ClockMode) -> Self {
        self.clock = mode;
        self
    }

    /// Seeds the token RNG (overrides `[sandbox] seed`).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Entries kept in the journal (default 1,000; overrides `[sandbox] journal_capacity`).
    #[must_use]
    pub fn journal_capacity(mut self, n: usize) -> Self {
        self.journal_capacity = Some(n);
        self
    }

    /// Most entries the token registry holds (default 100,000).
    #[must_use]
    pub fn token_capacity(mut self, n: usize) -> Self {
        self.token_capacity = n;
        self
    }

    /// How long an expired token is still reported as expired (default one hour).
    #[must_use]
    pub fn token_retention(mut self, d: Duration) -> Self {
        self.token_retention = Some(d);
        self
    }

    /// Largest request body accepted (default 16 MiB); larger bodies get 413.
    #[must_use]
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body = Some(n);
        self
    }

    /// Builds everything that can fail before binding: config, modules, routes.
    fn prepare(self) -> Result<(Arc<State>, Router, SocketAddr), SandboxError> {
        if !self.allow_remote && !self.addr.ip().is_loopback() {
            return Err(SandboxError::NotLoopback(self.addr));
        }
        let config = match &self.config_file {
            Some(p) => Config::from_file(p)?,
            None => self.config.clone().unwrap_or_default(),
        };
        let settings = config.settings().clone();
        let clock = Arc::new(SandboxClock::new(self.clock));
        let rng = SandboxRng::new(self.seed.or(settings.seed));
        let retention = self
            .token_retention
            .or(settings.token_retention_secs.map(Duration::from_secs))
            .unwrap_or(DEFAULT_RETENTION);
        let tokens = TokenRegistry::new(clock.clone(), self.token_capacity, retention);
        let login = LoginPages::new(rng.clone());
        let services = Services {
            clock: clock.clone(),
            rng: rng.clone(),
            tokens: tokens.clone(),
            login: login.clone(),
        };

        let names: Vec<String> = self.modules.iter().map(|m| m.name().to_owned()).collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(SandboxError::DuplicateModule(n.clone()));
            }
        }
        let unknown: Vec<String> = config
            .platform_names()
            .iter()
            .filter(|p| !names.contains(p))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(SandboxError::UnknownPlatforms {
                file: config.origin().to_owned(),
                unknown,
                known: names,
            });
        }

        let mut mounted = Vec::new();
        let mut module_routes = Vec::new();
        for m in self.modules {
            let (router, handle) = m.mount(&config, &services)?;
            module_routes.push((handle.name(), router));
            mounted.push(handle);
        }

        let state = Arc::new(State {
            clock,
            rng,
            tokens,
            login,
            faults: FaultSet::default(),
            journal: Journal::new(
                self.journal_capacity
                    .or(settings.journal_capacity)
                    .unwrap_or(DEFAULT_JOURNAL_CAPACITY),
            ),
            counters: Counters::default(),
            modules: mounted,
            max_body: self
                .max_body
                .or(settings.max_body_bytes)
                .unwrap_or(DEFAULT_MAX_BODY),
        });

        let mut router = controls::router(state.clone());
        for (name, r) in module_routes {
            router = merge(router, r, name)?;
        }
        let router = router
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found);
        Ok((state, router, self.addr))
    }

    /// Starts the sandbox on the current tokio runtime (multi-thread recommended).
    ///
    /// # Errors
    /// [`SandboxError`]: a refused address, a bad config (with line and field), unknown platform
    /// sections, a route conflict, or a bind failure.
    pub async fn start(self) -> Result<SandboxHandle, SandboxError> {
        let (state, router, addr) = self.prepare()?;
        let listener = listen(addr).map_err(|source| SandboxError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let app = Arc::new(App {
            state: state.clone(),
            router,
        });
        let task = tokio::spawn(serve(listener, app, stop_rx.clone()));
        tokio::spawn(purge_loop(state.tokens.clone(), stop_rx));
        Ok(SandboxHandle {
            addr: local,
            base_url: format!("http://{local}"),
            state,
            stop: stop_tx,
            task: Some(task),
        })
    }

    /// Starts the sandbox on its own runtime (two worker threads) on a background thread, for
    /// code without an async runtime (blocking clients, plain `#[test]`s). Works from inside an
    /// async context too.
    ///
    /// # Errors
    /// As [`start`](Self::start), plus [`SandboxError::Runtime`].
    pub fn start_blocking(self) -> Result<BlockingSandbox, SandboxError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kaifang-sandbox".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(SandboxError::Runtime(e.to_string())));
                        return;
                    }
                };
                rt.block_on(async move {
                    match self.start().await {
                        Ok(mut h) => {
                            let task = h.task.take();
                            let _ = tx.send(Ok(h));
                            if let Some(t) = task {
                                let _ = t.await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| SandboxError::Runtime(e.to_string()))?;
        match rx.recv() {
            Ok(Ok(handle)) => Ok(BlockingSandbox {
                handle,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(SandboxError::Runtime(
                "the sandbox thread stopped before starting".into(),
            )),
        }
    }
}

/// Merges a module router, turning axum's overlap panic into an error.
fn merge(base: Router, add: Router, module: &str) -> Result<Router, SandboxError> {
    // axum reports overlapping routes by panicking; the panic message still reaches stderr.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| base.merge(add)));
    result.map_err(|p| SandboxError::RouteConflict {
        module: module.to_owned(),
        message: p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "overlapping routes".to_owned()),
    })
}

async fn not_found(req: Request<Body>) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "error": "not_found",
            "message": format!("the sandbox has no route for {} {}", req.method(), req.uri().path()),
        })),
    )
        .into_response()
}

async fn method_not_allowed(req: Request<Body>) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({
            "error": "method_not_allowed",
            "message": format!("{} is not allowed on {}", req.method(), req.uri().path()),
        })),
    )
        .into_response()
}

/// State shared by the connection loop, the control endpoints and the handle.
pub(crate) struct State {
    pub(crate) clock: Arc<SandboxClock>,
    pub(crate) rng: SandboxRng,
    pub(crate) tokens: TokenRegistry,
    pub(crate) login: LoginPages,
    pub(crate) faults: FaultSet,
    pub(crate) journal: Journal,
    pub(crate) counters: Counters,
    pub(crate) modules: Vec<Arc<dyn Mounted>>,
    pub(crate) max_body: usize,
}

impl State {
    pub(crate) fn module_names(&self) -> Vec<String> {
        self.modules.iter().map(|m| m.name().to_owned()).collect()
    }

    pub(crate) fn module(&self, platform: &str) -> Result<&Arc<dyn Mounted>, ControlError> {
        self.modules
            .iter()
            .find(|m| m.name() == platform)
            .ok_or_else(|| ControlError::UnknownPlatform {
                platform: platform.to_owned(),
                known: self.module_names(),
            })
    }

    pub(crate) fn tenants(&self) -> Value {
        Value::Object(
            self.modules
                .iter()
                .map(|m| (m.name().to_owned(), m.tenants()))
                .collect(),
        )
    }

    pub(crate) fn mint(
        &self,
        platform: &str,
        kind: &str,
        req: Value,
    ) -> Result<Value, ControlError> {
        self.module(platform)?.mint(kind, req)
    }

    pub(crate) fn inspect(
        &self,
        platform: &str,
        kind: &str,
        req: Value,
    ) -> Result<Value, ControlError> {
        self.module(platform)?.inspect(kind, req)
    }

    pub(crate) fn set_lifetime(
        &self,
        platform: &str,
        kind: &str,
        ttl: Option<Duration>,
    ) -> Result<(), ControlError> {
        self.module(platform)?;
        if kind.trim().is_empty() {
            return Err(ControlError::BadRequest("kind: must not be empty".into()));
        }
        self.tokens.set_lifetime(platform, kind, ttl);
        Ok(())
    }

    pub(crate) fn revoke(
        &self,
        platform: Option<&str>,
        token: &str,
    ) -> Result<String, ControlError> {
        if let Some(p) = platform {
            self.module(p)?;
        }
        self.tokens
            .revoke(platform, token)
            .ok_or_else(|| ControlError::NotFound("no such token is held".into()))
    }

    pub(crate) fn reset(&self) {
        self.faults.clear();
        self.journal.clear();
        self.counters.clear();
        self.tokens.clear();
        self.login.clear();
        self.clock.unfreeze();
        self.rng.reseed();
        for m in &self.modules {
            m.reset();
        }
    }
}

struct App {
    state: Arc<State>,
    router: Router,
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped (sandbox fault or broken request)")
    }
}

impl std::error::Error for DropConnection {}

async fn call(router: &Router, req: Request<Body>) -> Response {
    match router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    }
}

fn json_error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "message": message})),
    )
        .into_response()
}

impl App {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response, DropConnection> {
        let path = req.uri().path();
        if path == CONTROL_PREFIX || path.starts_with("/__sandbox/") {
            return Ok(call(&self.router, req.map(Body::new)).await);
        }
        let started = Instant::now();
        let state = &self.state;
        let (parts, body) = req.into_parts();
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path().to_owned();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        state.counters.hit(&method, &path);
        let mut entry = JournalEntry {
            seq: 0,
            time_ms: state.clock.now_millis(),
            method: method.clone(),
            path: path.clone(),
            query: JournalEntry::redacted_query(parts.uri.query()),
            body: None,
            status: None,
            latency_ms: 0.0,
            fault: None,
        };
        let bytes = match Limited::new(body, state.max_body).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                let resp = json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("request body larger than {} bytes", state.max_body),
                );
                entry.status = Some(resp.status().as_u16());
                entry.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                state.journal.push(entry);
                return Ok(resp);
            }
            Err(_) => {
                // The client broke off while sending: nothing to answer.
                state.journal.push(entry);
                return Err(DropConnection);
            }
        };
        entry.body = JournalEntry::redacted_body(content_type.as_deref(), &bytes);

        let decision = if state.faults.is_empty() {
            None
        } else {
            state.faults.decide(&method, &path)
        };
        let (latency, action) = match decision {
            Some(d) => (d.latency, d.action),
            None => (None, None),
        };
        if let Some(l) = latency {
            tokio::time::sleep(l).await;
        }
        entry.fault = match (&latency, &action) {
            (Some(_), Some(a)) => Some(format!("latency+{}", a.label())),
            (Some(_), None) => Some("latency".to_owned()),
            (None, Some(a)) => Some(a.label().to_owned()),
            (None, None) => None,
        };
        let resp = match action {
            Some(FaultAction::Drop) => {
                entry.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                state.journal.push(entry);
                return Err(DropConnection);
            }
            Some(FaultAction::Status {
                status,
                body,
                content_type,
                retry_after,
            }) => status_response(
                status,
                body,
                content_type.as_deref(),
                retry_after.as_deref(),
            ),
            other => {
                let resp = call(&self.router, Request::from_parts(parts, Body::from(bytes))).await;
                match other {
                    Some(FaultAction::Malformed) => malformed(resp),
                    Some(FaultAction::Truncated) => truncated(resp).await,
                    _ => resp,
                }
            }
        };
        entry.status = Some(resp.status().as_u16());
        entry.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        state.journal.push(entry);
        Ok(resp)
    }
}

fn status_response(
    status: u16,
    body: String,
    content_type: Option<&str>,
    retry_after: Option<&str>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let ct = content_type
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or(HeaderValue::from_static("application/json"));
    let mut resp = (status, [(header::CONTENT_TYPE, ct)], body).into_response();
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn malformed(resp: Response) -> Response {
    let (mut parts, _) = resp.into_parts();
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let garbage: &'static [u8] = if ct.contains("html") {
        b"<html><body><h1>50"
    } else if ct.contains("xml") {
        b"<?xml version=\"1.0\"?><response><code>"
    } else if ct.contains("x-www-form-urlencoded") {
        b"code=%zz&&="
    } else if ct.starts_with("text/") {
        b"\xff\xfe{garbage"
    } else {
        b"{\"code\":"
    };
    if !parts.headers.contains_key(header::CONTENT_TYPE) {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    Response::from_parts(parts, Body::from(garbage))
}

async fn truncated(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let full = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    // Claim at least 32 bytes so that even an empty body is visibly cut.
    let claimed = full.len().max(32);
    let part: Bytes = full.slice(..full.len() / 2);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(claimed));
    let stream = futures_util::stream::unfold(0u8, move |step| {
        let part = part.clone();
        async move {
            match step {
                0 => Some((Ok::<Bytes, std::io::Error>(part), 1)),
                1 => {
                    // Let hyper flush the headers and the partial body, then fail the body so
                    // the connection closes short of the announced length.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "sandbox fault: truncated body",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// How many connections the kernel may hold for the accept loop (capped by
/// `net.core.somaxconn`). tokio's `bind` asks for 1024; a burst of a thousand clients
/// connecting at once on a loaded 2-core machine overflowed that queue (resets, seen in the
/// Redis fleet test), so the sandbox asks for the usual kernel maximum.
const ACCEPT_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`ACCEPT_BACKLOG`] (and `SO_REUSEADDR`, as tokio's `bind` sets it).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        conns.spawn(connection(stream, app.clone(), stop.clone()));
                    }
                    // Out of descriptors and the like: back off a little, keep serving.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
}

async fn connection(stream: tokio::net::TcpStream, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let svc = hyper::service::service_fn(move |req| app.clone().handle(req));
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await;
        }
    }
}

/// Resolves once a stop is requested (or the handle is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn purge_loop(tokens: TokenRegistry, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(PURGE_EVERY) => { tokens.purge_expired(); }
            () = stopped(&mut stop) => break,
        }
    }
}

/// A running sandbox. Every control is a synchronous method here and an HTTP endpoint under
/// `/__sandbox/`. Dropping the handle stops the server (best effort, without waiting); call
/// [`shutdown`](Self::shutdown) to wait for it.
pub struct SandboxHandle {
    addr: SocketAddr,
    base_url: String,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("base_url", &self.base_url)
            .field("modules", &self.state.module_names())
            .finish_non_exhaustive()
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The base URL joined with `path` (which should start with `/`).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open requests finish (up to 5 s), and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// The mounted module names.
    #[must_use]
    pub fn modules(&self) -> Vec<String> {
        self.state.module_names()
    }

    // ---- clock

    /// The sandbox clock (freeze, offset, advance, unfreeze, read).
    #[must_use]
    pub fn clock(&self) -> &SandboxClock {
        &self.state.clock
    }

    /// The clock's mode and current time.
    #[must_use]
    pub fn clock_state(&self) -> ClockState {
        self.state.clock.state()
    }

    /// Freezes the clock at `at_ms`.
    pub fn freeze_clock_at(&self, at_ms: i64) {
        self.state.clock.freeze_at_millis(at_ms);
    }

    /// Moves the clock forward.
    pub fn advance_clock(&self, d: Duration) {
        self.state.clock.advance(d);
    }

    /// Runs the clock at an offset from the system clock.
    pub fn offset_clock(&self, offset_ms: i64) {
        self.state.clock.set_offset_millis(offset_ms);
    }

    /// Back to the system clock.
    pub fn unfreeze_clock(&self) {
        self.state.clock.unfreeze();
    }

    // ---- tokens

    /// The token registry (all platforms).
    #[must_use]
    pub fn tokens(&self) -> &TokenRegistry {
        &self.state.tokens
    }

    /// Sets (`Some`) or clears (`None`) the lifetime of `kind` tokens on `platform`.
    ///
    /// # Errors
    /// [`ControlError::UnknownPlatform`], or an empty kind.
    pub fn set_token_lifetime(
        &self,
        platform: &str,
        kind: &str,
        ttl: Option<Duration>,
    ) -> Result<(), ControlError> {
        self.state.set_lifetime(platform, kind, ttl)
    }

    /// The lifetime overrides in force.
    #[must_use]
    pub fn token_lifetimes(&self) -> Vec<LifetimeOverride> {
        self.state.tokens.lifetimes()
    }

    /// Revokes a token (on `platform`, or wherever it is held); returns the platform.
    ///
    /// # Errors
    /// [`ControlError::NotFound`] when no platform holds it.
    pub fn revoke(&self, platform: Option<&str>, token: &str) -> Result<String, ControlError> {
        self.state.revoke(platform, token)
    }

    /// Asks `platform` to mint a `kind` (ticket, authorization code ...).
    ///
    /// # Errors
    /// [`ControlError`] from the module, or an unknown platform.
    pub fn mint(&self, platform: &str, kind: &str, request: Value) -> Result<Value, ControlError> {
        self.state.mint(platform, kind, request)
    }

    /// A read-only view of `platform`'s state (`kind` e.g. `uploads`), filtered by `request`.
    ///
    /// # Errors
    /// [`ControlError`] from the module, or an unknown platform.
    pub fn inspect(
        &self,
        platform: &str,
        kind: &str,
        request: Value,
    ) -> Result<Value, ControlError> {
        self.state.inspect(platform, kind, request)
    }

    /// `{platform: tenants}` as `GET /__sandbox/tenants` shows it.
    #[must_use]
    pub fn tenants(&self) -> Value {
        self.state.tenants()
    }

    // ---- faults

    /// Registers a fault; returns its id.
    ///
    /// # Errors
    /// [`ControlError::BadRequest`] naming the bad field.
    pub fn add_fault(&self, spec: FaultSpec) -> Result<u64, ControlError> {
        self.state.faults.add(spec)
    }

    /// Removes a fault; `false` for an unknown id.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.state.faults.remove(id)
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// The faults with their counts.
    #[must_use]
    pub fn faults(&self) -> Vec<FaultInfo> {
        self.state.faults.list()
    }

    // ---- journal and counters

    /// The journal, oldest first.
    #[must_use]
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.state.journal.entries()
    }

    /// Empties the journal.
    pub fn clear_journal(&self) {
        self.state.journal.clear();
    }

    /// Call counts keyed `"METHOD /path"`.
    #[must_use]
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.state.counters.snapshot()
    }

    /// The count of one route, e.g. `count("POST /open/oauth/getAccessToken")`.
    #[must_use]
    pub fn count(&self, key: &str) -> u64 {
        self.state.counters.get(key)
    }

    /// Zeroes the counters.
    pub fn clear_counters(&self) {
        self.state.counters.clear();
    }

    /// Clears faults, journal, counters, tokens, lifetime overrides and pending logins; puts the
    /// clock back on the system time; restarts a seeded RNG; calls every module's `reset`.
    pub fn reset(&self) {
        self.state.reset();
    }
}

/// A sandbox running on its own background runtime ([`Builder::start_blocking`]). Derefs to
/// [`SandboxHandle`] for the controls. Dropping it stops the server and joins the thread.
#[derive(Debug)]
pub struct BlockingSandbox {
    handle: SandboxHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlockingSandbox {
    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.handle.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::ops::Deref for BlockingSandbox {
    type Target = SandboxHandle;
    fn deref(&self) -> &SandboxHandle {
        &self.handle
    }
}

impl Drop for BlockingSandbox {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
