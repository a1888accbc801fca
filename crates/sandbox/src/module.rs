//! The one trait a platform implements to plug into the sandbox, and the context it receives.

use std::sync::Arc;

use axum::Router;
use kaifang_proto_core::context::{Clock, Context};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clock::SandboxClock;
use crate::config::Config;
use crate::error::{ControlError, SandboxError};
use crate::login::LoginPages;
use crate::rng::SandboxRng;
use crate::tokens::{PlatformTokens, TokenRegistry};

/// A platform emulator. One implementation per platform; the sandbox mounts its routes at the
/// root on the platform's real paths (which must not overlap other modules' paths nor
/// `/__sandbox/`).
///
/// # Recipe
/// 1. `type Config`: the tenants (app ids, client ids, secrets, callback domains, lifetimes) as a
///    serde struct with `#[serde(deny_unknown_fields)]`; its `Default` holds the credentials
///    printed in the platform's seed documents, so the seeds' own example code works against
///    the sandbox with only the host changed. A `[platforms.<name>]` section in the TOML file
///    replaces it; bad values are reported with line, column and field path.
/// 2. [`name`](Module::name): the section name and the `platform` of every control call.
/// 3. [`routes`](Module::routes): an axum `Router` with the real paths; keep the
///    [`ModuleContext`] in the router's state. Verify requests as strictly as the real server
///    (use the proto crate's `server` half), issue and check tokens through
///    [`ModuleContext::tokens`], read time only from [`ModuleContext::clock`], draw token values
///    from [`ModuleContext::rng`], and serve login pages with [`ModuleContext::login`].
/// 4. [`mint`](Module::mint): what tests may ask for without the protocol dance (tickets,
///    authorization codes ...); [`reset`](Module::reset): clear module-private state.
///
/// The crate's `demo` module is a complete, small example.
pub trait Module: Send + Sync + 'static {
    /// The module's typed `[platforms.<name>]` section.
    type Config: DeserializeOwned + Serialize + Default + Send + Sync + 'static;

    /// The platform name (lowercase, stable): `tianyi`, `zhiyun`, `device`, `tf56`, `ilab`.
    fn name(&self) -> &'static str;

    /// The module's routes, on the platform's real paths.
    fn routes(&self, ctx: ModuleContext<Self::Config>) -> Router;

    /// What `GET /__sandbox/tenants` shows for this platform. Default: the config as JSON.
    fn tenants(&self, ctx: &ModuleContext<Self::Config>) -> Value {
        serde_json::to_value(ctx.config()).unwrap_or(Value::Null)
    }

    /// The kinds [`mint`](Module::mint) supports (listed in errors and `GET /__sandbox/health`).
    fn mint_kinds(&self) -> &'static [&'static str] {
        &[]
    }

    /// Mints a value of `kind` for a test (`POST /__sandbox/mint`). Default: unsupported.
    ///
    /// # Errors
    /// [`ControlError::Unsupported`] for an unknown kind, [`ControlError::BadRequest`] /
    /// [`ControlError::NotFound`] for a bad request (unknown tenant ...).
    fn mint(
        &self,
        ctx: &ModuleContext<Self::Config>,
        kind: &str,
        request: Value,
    ) -> Result<Value, ControlError> {
        let _ = (ctx, request);
        Err(ControlError::Unsupported {
            platform: self.name().to_owned(),
            kind: kind.to_owned(),
            supported: self.mint_kinds().iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// The kinds [`inspect`](Module::inspect) supports.
    fn inspect_kinds(&self) -> &'static [&'static str] {
        &[]
    }

    /// A read-only view of module state for a test (`GET /__sandbox/inspect/{platform}/{kind}`,
    /// the query string given as a JSON object of strings), e.g. the uploads a platform stored.
    /// Default: unsupported.
    ///
    /// # Errors
    /// [`ControlError::Unsupported`] for an unknown kind, [`ControlError::BadRequest`] for bad
    /// filters.
    fn inspect(
        &self,
        ctx: &ModuleContext<Self::Config>,
        kind: &str,
        request: Value,
    ) -> Result<Value, ControlError> {
        let _ = (ctx, request);
        Err(ControlError::Unsupported {
            platform: self.name().to_owned(),
            kind: kind.to_owned(),
            supported: self
                .inspect_kinds()
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        })
    }

    /// Clears module-private state on a sandbox reset (tokens, faults, journal, counters and the
    /// clock are reset by the framework). Default: nothing.
    fn reset(&self, ctx: &ModuleContext<Self::Config>) {
        let _ = ctx;
    }
}

/// The services shared by all modules.
#[derive(Debug, Clone)]
pub(crate) struct Services {
    pub(crate) clock: Arc<SandboxClock>,
    pub(crate) rng: SandboxRng,
    pub(crate) tokens: TokenRegistry,
    pub(crate) login: LoginPages,
}

/// What a module receives: its typed config and the sandbox services. Cheap to clone; keep it in
/// the router state.
#[derive(Debug)]
pub struct ModuleContext<C> {
    platform: &'static str,
    config: Arc<C>,
    services: Services,
    tokens: PlatformTokens,
}

impl<C> Clone for ModuleContext<C> {
    fn clone(&self) -> Self {
        Self {
            platform: self.platform,
            config: Arc::clone(&self.config),
            services: self.services.clone(),
            tokens: self.tokens.clone(),
        }
    }
}

impl<C> ModuleContext<C> {
    pub(crate) fn new(platform: &'static str, config: C, services: Services) -> Self {
        let tokens = PlatformTokens::new(services.tokens.clone(), platform);
        Self {
            platform,
            config: Arc::new(config),
            services,
            tokens,
        }
    }

    /// The platform name.
    #[must_use]
    pub fn platform(&self) -> &'static str {
        self.platform
    }

    /// The module's config (its `[platforms.<name>]` section or its default).
    #[must_use]
    pub fn config(&self) -> &C {
        &self.config
    }

    /// The controllable sandbox clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<SandboxClock> {
        &self.services.clock
    }

    /// The sandbox time, Unix milliseconds.
    #[must_use]
    pub fn now_millis(&self) -> i64 {
        self.services.clock.now_millis()
    }

    /// The random source for token values.
    #[must_use]
    pub fn rng(&self) -> &SandboxRng {
        &self.services.rng
    }

    /// The token registry, scoped to this platform.
    #[must_use]
    pub fn tokens(&self) -> &PlatformTokens {
        &self.tokens
    }

    /// The login-page helper.
    #[must_use]
    pub fn login(&self) -> &LoginPages {
        &self.services.login
    }

    /// A proto-core [`Context`] on the sandbox clock and RNG, for the proto crates' server
    /// halves.
    #[must_use]
    pub fn proto_context(&self) -> Context {
        Context::new(self.services.clock.clone(), self.services.rng.nonce())
    }
}

/// A module after start-up, type-erased.
pub(crate) trait Mounted: Send + Sync {
    fn name(&self) -> &'static str;
    fn tenants(&self) -> Value;
    fn mint_kinds(&self) -> &'static [&'static str];
    fn mint(&self, kind: &str, request: Value) -> Result<Value, ControlError>;
    fn inspect_kinds(&self) -> &'static [&'static str];
    fn inspect(&self, kind: &str, request: Value) -> Result<Value, ControlError>;
    fn reset(&self);
}

struct MountedModule<M: Module> {
    module: M,
    ctx: ModuleContext<M::Config>,
}

impl<M: Module> Mounted for MountedModule<M> {
    fn name(&self) -> &'static str {
        self.module.name()
    }
    fn tenants(&self) -> Value {
        self.module.tenants(&self.ctx)
    }
    fn mint_kinds(&self) -> &'static [&'static str] {
        self.module.mint_kinds()
    }
    fn mint(&self, kind: &str, request: Value) -> Result<Value, ControlError> {
        self.module.mint(&self.ctx, kind, request)
    }
    fn inspect_kinds(&self) -> &'static [&'static str] {
        self.module.inspect_kinds()
    }
    fn inspect(&self, kind: &str, request: Value) -> Result<Value, ControlError> {
        self.module.inspect(&self.ctx, kind, request)
    }
    fn reset(&self) {
        self.module.reset(&self.ctx);
    }
}

/// A module before start-up, type-erased (what [`Builder::module`](crate::Builder::module)
/// stores).
pub(crate) trait Unmounted: Send {
    fn name(&self) -> &'static str;
    fn mount(
        self: Box<Self>,
        config: &Config,
        services: &Services,
    ) -> Result<(Router, Arc<dyn Mounted>), SandboxError>;
}

pub(crate) struct Pending<M>(pub(crate) M);

impl<M: Module> Unmounted for Pending<M> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn mount(
        self: Box<Self>,
        config: &Config,
        services: &Services,
    ) -> Result<(Router, Arc<dyn Mounted>), SandboxError> {
        let name = self.0.name();
        let cfg: M::Config = config.section(name)?;
        let ctx = ModuleContext::new(name, cfg, services.clone());
        let router = self.0.routes(ctx.clone());
        Ok((
            router,
            Arc::new(MountedModule {
                module: self.0,
                ctx,
            }),
        ))
    }
}
