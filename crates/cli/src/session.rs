//! What `token` and `call` share: the server flags, getting a token for a platform through the
//! blocking transport, and the on-disk token cache that lets `call` reuse it across runs.
//!
//! The cache is one JSON file per (platform, server, tenant, token kind) under
//! `$KAIFANG_CACHE_DIR`, else `$XDG_CACHE_HOME/kaifang`, else `~/.cache/kaifang`, written with
//! mode 0600 (it holds live tokens). `--no-cache` bypasses it.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use kaifang::blocking::BlockingClient;
use kaifang::core::lifecycle::{Plan, TokenSource};
use kaifang::core::secret::SecretString;
use kaifang::core::token::Token;
use kaifang::core::transport::TransportConfig;

use crate::config::{ProfileArgs, Settings};
use crate::exit::CliError;
use crate::platforms::{self, Platform};

/// A cached token must stay valid at least this long to be reused.
const REUSE_MARGIN: Duration = Duration::from_secs(60);

/// The flags of every server-facing command (secrets come from the environment or the profile).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArgs {
    /// The platform's base URL (a real host or `kaifang sandbox`'s address).
    #[arg(long)]
    pub(crate) base_url: Option<String>,
    /// The token endpoint, when it is not under the base URL (tf56).
    #[arg(long)]
    pub(crate) token_url: Option<String>,
    /// Client id (tf56, zhiyun).
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    /// App id (tianyi, ilab).
    #[arg(long)]
    pub(crate) app_id: Option<String>,
    /// Tianyi platform apps: the enterprise owner's phone number (`vcp_189` grant).
    #[arg(long)]
    pub(crate) enterprise_user: Option<String>,
    /// The grant: tianyi `vcp189|auth-code|refresh-token`, tf56
    /// `client-credentials|password|authorization-code|refresh-token`.
    #[arg(long)]
    pub(crate) grant: Option<String>,
    /// tf56 password grant: the user name (the password from KAIFANG_TF56_PASSWORD).
    #[arg(long)]
    pub(crate) username: Option<String>,
    /// Device: the modem's IMEI.
    #[arg(long)]
    pub(crate) imei: Option<String>,
    /// Device: the provisioning URL (default: base URL + /device/provision).
    #[arg(long)]
    pub(crate) provision_url: Option<String>,
    /// Print token values instead of `[redacted]`.
    #[arg(long)]
    pub(crate) show_secrets: bool,
    /// Neither read nor write the token cache.
    #[arg(long)]
    pub(crate) no_cache: bool,
    #[command(flatten)]
    pub(crate) profile: ProfileArgs,
}

impl ServerArgs {
    pub(crate) fn settings(&self, platform: Platform) -> Result<Settings, CliError> {
        Settings::load(
            platform.name(),
            &self.profile,
            [
                ("base_url", self.base_url.clone()),
                ("token_url", self.token_url.clone()),
                ("client_id", self.client_id.clone()),
                ("app_id", self.app_id.clone()),
                ("enterprise_user", self.enterprise_user.clone()),
                ("grant", self.grant.clone()),
                ("username", self.username.clone()),
                ("imei", self.imei.clone()),
                ("provision_url", self.provision_url.clone()),
            ],
        )
    }
}

pub(crate) fn client() -> Result<BlockingClient, CliError> {
    Ok(BlockingClient::new(TransportConfig::default())?)
}

/// Runs the full grant (or the refresh named by `grant`) of `source`.
fn fetch(
    client: &BlockingClient,
    source: &dyn TokenSource,
    refresh: Option<SecretString>,
) -> Result<Token, CliError> {
    let plan = match refresh {
        Some(r) => Plan::UseRefreshToken(r),
        None => Plan::FullGrant,
    };
    Ok(client.execute(&*source.exchange(&plan)?)?)
}

/// Runs the chosen grant when no cached token serves.
type Fetch<'a> = Box<dyn FnOnce() -> Result<Token, CliError> + 'a>;

/// A token and what it is.
pub(crate) struct Acquired {
    pub(crate) kind: String,
    pub(crate) token: Token,
    pub(crate) from_cache: bool,
    cache: Option<Cache>,
}

/// Which grant to use and its secret input.
fn grant_of(s: &Settings, default: &str) -> Result<String, CliError> {
    Ok(s.get("grant")?.unwrap_or_else(|| default.to_owned()))
}

/// Gets a token for `platform` (not `device`), from the cache when a valid one is there.
pub(crate) fn token(
    platform: Platform,
    args: &ServerArgs,
    client: &BlockingClient,
) -> Result<Acquired, CliError> {
    let s = args.settings(platform)?;
    let (kind, cache_id, fetched): (String, String, Fetch<'_>) = match platform {
        Platform::Tianyi => {
            use kaifang::tianyi::{Grant, TianyiTokens};
            let app = platforms::tianyi(&s)?;
            let default = if s.get("enterprise_user")?.is_some() {
                "vcp189"
            } else {
                "auth-code"
            };
            let grant = grant_of(&s, default)?;
            let id = format!("{}|{}", app.config().base_url, app.config().app_id);
            let run: Fetch<'_> = match grant.as_str() {
                "vcp189" => Box::new(move || fetch(client, &TianyiTokens::new(&app), None)),
                "auth-code" => {
                    let code = s.require_secret("code")?;
                    Box::new(move || {
                        fetch(
                            client,
                            &TianyiTokens::new(&app).with_login(Grant::AuthCode(code)),
                            None,
                        )
                    })
                }
                "refresh-token" => {
                    let rt = s.require_secret("refresh_token")?;
                    Box::new(move || fetch(client, &TianyiTokens::new(&app), Some(rt)))
                }
                other => {
                    return Err(bad_grant(
                        "tianyi",
                        other,
                        "vcp189, auth-code, refresh-token",
                    ));
                }
            };
            (grant, id, run)
        }
        Platform::Zhiyun => {
            use kaifang::zhiyun::ZhiyunAuthCodes;
            let app = platforms::zhiyun(&s)?;
            let id = format!("{}|{}", app.config().base_url, app.config().client_id);
            (
                "auth_code".to_owned(),
                id,
                Box::new(move || fetch(client, &ZhiyunAuthCodes::new(&app), None)),
            )
        }
        Platform::Tf56 => {
            use kaifang::tf56::Tf56Tokens;
            let app = platforms::tf56(&s)?;
            let grant = grant_of(&s, "client-credentials")?;
            let id = format!(
                "{}|{}",
                s.get("base_url")?.unwrap_or_default(),
                s.require("client_id")?
            );
            let run: Fetch<'_> = match grant.as_str() {
                "client-credentials" => {
                    Box::new(move || fetch(client, &Tf56Tokens::client_credentials(&app), None))
                }
                "password" => {
                    let user = s.require("username")?;
                    let password = s.require_secret("password")?;
                    Box::new(move || {
                        fetch(client, &Tf56Tokens::password(&app, user, password), None)
                    })
                }
                "authorization-code" => {
                    let code = s.require_secret("code")?;
                    Box::new(move || {
                        fetch(
                            client,
                            &Tf56Tokens::authorization_code(&app).with_code(code),
                            None,
                        )
                    })
                }
                "refresh-token" => {
                    let rt = s.require_secret("refresh_token")?;
                    Box::new(move || fetch(client, &Tf56Tokens::client_credentials(&app), Some(rt)))
                }
                other => {
                    return Err(bad_grant(
                        "tf56",
                        other,
                        "client-credentials, password, authorization-code, refresh-token",
                    ));
                }
            };
            (grant, id, run)
        }
        Platform::Ilab => {
            use kaifang::ilab::{IlabTokens, Ticket};
            let app = platforms::ilab(&s)?;
            let id = format!("{}|{}", s.require("base_url")?, s.require("app_id")?);
            let ticket = s.secret("ticket")?;
            let run: Fetch<'_> = Box::new(move || {
                let ticket = ticket.ok_or_else(|| {
                    CliError::bad_input("ilab needs a ticket: set KAIFANG_ILAB_TICKET (the `ticket` query parameter of the platform's launch URL) or add `ticket` to the profile")
                })?;
                let ticket = Ticket::new(ticket.expose_secret())?;
                fetch(client, &IlabTokens::new(&app, ticket), None)
            });
            ("access_token".to_owned(), id, run)
        }
        Platform::Device => {
            return Err(CliError::bad_input(
                "device has no OAuth token: `kaifang token device --imei IMEI` provisions and prints the MQTT credentials",
            ));
        }
    };
    let cache = (!args.no_cache)
        .then(|| Cache::new(platform, &kind, &cache_id))
        .flatten();
    if let Some(t) = cache.as_ref().and_then(Cache::load) {
        return Ok(Acquired {
            kind,
            token: t,
            from_cache: true,
            cache,
        });
    }
    let token = fetched()?;
    if let Some(c) = &cache {
        c.store(&token);
    }
    Ok(Acquired {
        kind,
        token,
        from_cache: false,
        cache,
    })
}

impl Acquired {
    /// Forgets the cached token (the platform rejected it).
    pub(crate) fn forget(&self) {
        if let Some(c) = &self.cache {
            c.remove();
        }
    }
}

fn bad_grant(platform: &str, got: &str, allowed: &str) -> CliError {
    CliError::bad_input(format!(
        "{platform}: unknown grant {got:?} (one of {allowed})"
    ))
}

/// One cached token file.
pub(crate) struct Cache {
    path: PathBuf,
}

fn cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("KAIFANG_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("kaifang")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("kaifang")))
}

/// FNV-1a of the cache id: a stable, non-secret file name (the id holds no secret either).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Cache {
    fn new(platform: Platform, kind: &str, id: &str) -> Option<Self> {
        let dir = cache_dir()?;
        Some(Cache {
            path: dir.join(format!("{}-{kind}-{:016x}.json", platform.name(), fnv(id))),
        })
    }

    fn load(&self) -> Option<Token> {
        let bytes = std::fs::read(&self.path).ok()?;
        let token = Token::from_stored_json(&bytes).ok()?;
        token
            .is_valid_at(SystemTime::now() + REUSE_MARGIN)
            .then_some(token)
    }

    /// Best effort: a cache that cannot be written only costs a new token next time.
    fn store(&self, token: &Token) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let json = token.to_json_exposing_secrets();
        let tmp = self.path.with_extension("tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let written = opts.open(&tmp).and_then(|mut f| {
            use std::io::Write;
            f.write_all(&json)
        });
        if written.is_ok() {
            let _ = std::fs::rename(&tmp, &self.path);
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
