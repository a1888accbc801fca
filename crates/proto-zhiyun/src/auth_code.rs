//! The `auth_code` lifecycle.
//!
//! The user's `access_token` (3 months, from the desktop client) is configuration; what the
//! client obtains and renews is the `auth_code` that `authorize` trades it for. The code is kept
//! for its assumed lifetime (`auth_code_ttl_secs`, 10 minutes by default \[I\]) and renewed when
//! the server answers 100019 (missing), 100020 (expired) or 100023 (issued for another user):
//! these are classified `TokenInvalid`, so a caller expires the code it used (compare-and-expire)
//! and retries once with a new one. 100014 (the access token expired) is `Permission`: no retry
//! can fix it, the user must log in to the desktop client again.
//!
//! Two ways to drive it:
//! * with a transport's token lifecycle: [`ZhiyunAuthCodes`] is the [`TokenSource`] (key
//!   `zhiyun/{client_id}/auth_code`; every plan is the `authorize` exchange), e.g.
//!   `tokens.call_with_token(&source, |code| app.user_info(&code.access))`;
//! * without one (firmware, custom stacks, tests): [`AuthCodeCache`] and
//!   [`call_with_auth_code`], which takes the HTTP round trip as a closure.
//!
//! ```
//! use std::sync::Arc;
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_zhiyun::{AuthCodeCache, Zhiyun, ZhiyunConfig, call_with_auth_code};
//!
//! let app = Zhiyun::new(ZhiyunConfig::new("http://auth.xx.dev.com", "1102084294", "aku8hCyXBd9SqYkT", "9106c9fd1e138a042d4aedf94cede7a766e0"))?;
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_522_404_566_000)), Arc::new(FixedNonce::new("n")));
//! let mut cache = AuthCodeCache::for_app(&app);
//! let mut calls = Vec::new();
//! let user = call_with_auth_code(&mut cache, &app, &ctx, |code| app.user_info(code), |req| {
//!     calls.push(req.uri().path().to_owned());
//!     let body: &[u8] = if req.uri().path().contains("authorize") {
//!         br#"{"data":{"auth_code":"c3a8ad070c745db455e30a51511dca819b607bf7"},"code":200,"message":"ok"}"#
//!     } else {
//!         br#"{"data":{"username":"li******40"},"code":200,"message":"ok"}"#
//!     };
//!     Ok(http::Response::new(body.to_vec()))
//! })?;
//! assert_eq!(user.username, "li******40");
//! assert_eq!(calls, ["/apis/rest/authService/authorize/json", "/apis/rest/userService/getUserInfo/json"]);
//! assert!(cache.current(ctx.now()).is_some()); // the next call reuses the code
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::exchange::{Exchange, run_with};
use kaifang_proto_core::lifecycle::{Plan, RetryGate, TokenExchange, TokenKey, TokenSource};
use kaifang_proto_core::secret::SecretString;

use crate::app::Zhiyun;

/// Token kind of the auth code in [`TokenKey`]s.
pub const TOKEN_KIND: &str = "auth_code";

/// Zhiyun in the token lifecycle: the "token" is the `auth_code`, obtained with `authorize`.
/// There is no refresh grant; both plans run `authorize`.
pub struct ZhiyunAuthCodes {
    app: Zhiyun,
    key: TokenKey,
}

impl fmt::Debug for ZhiyunAuthCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZhiyunAuthCodes")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ZhiyunAuthCodes {
    /// The source of `app`, keyed `zhiyun / {client_id} / auth_code`.
    pub fn new(app: &Zhiyun) -> Self {
        ZhiyunAuthCodes {
            app: app.clone(),
            key: TokenKey::new(
                crate::codes::PLATFORM,
                app.config().client_id.clone(),
                TOKEN_KIND,
            ),
        }
    }
}

impl TokenSource for ZhiyunAuthCodes {
    fn key(&self) -> &TokenKey {
        &self.key
    }

    fn exchange(&self, plan: &Plan) -> Result<TokenExchange<'_>, Error> {
        match plan {
            Plan::FullGrant | Plan::UseRefreshToken(_) => {
                Ok(Box::new(self.app.authorize().into_token()))
            }
        }
    }
}

/// What to do next for a call that needs an auth code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Use this cached code.
    Use(SecretString),
    /// Run `authorize` first, then [`AuthCodeCache::store`] its code.
    Authorize,
}

/// A sans-IO cache of one auth code with its assumed expiry (see the module docs).
#[derive(Clone)]
pub struct AuthCodeCache {
    ttl: Duration,
    margin: Duration,
    current: Option<(SecretString, SystemTime)>,
}

impl fmt::Debug for AuthCodeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCodeCache")
            .field("ttl", &self.ttl)
            .field("margin", &self.margin)
            .field("expires_at", &self.current.as_ref().map(|(_, at)| at))
            .finish_non_exhaustive()
    }
}

impl AuthCodeCache {
    /// An empty cache for codes living `ttl`. A code is considered stale `margin` before its
    /// expiry, with `margin` = a tenth of `ttl`, at most 30 seconds, so a call does not race the
    /// server's clock.
    pub fn new(ttl: Duration) -> Self {
        AuthCodeCache {
            ttl,
            margin: (ttl / 10).min(Duration::from_secs(30)),
            current: None,
        }
    }

    /// An empty cache for the app's configured TTL.
    pub fn for_app(app: &Zhiyun) -> Self {
        Self::new(app.auth_code_ttl())
    }

    /// The cached code when it is still fresh at `now`.
    pub fn current(&self, now: SystemTime) -> Option<&SecretString> {
        self.current
            .as_ref()
            .filter(|(_, expires)| now.checked_add(self.margin).is_some_and(|t| t < *expires))
            .map(|(code, _)| code)
    }

    /// Use the cached code, or authorize first.
    pub fn next(&self, now: SystemTime) -> Next {
        self.current(now)
            .map_or(Next::Authorize, |code| Next::Use(code.clone()))
    }

    /// Keeps a code received at `now`.
    pub fn store(&mut self, code: SecretString, now: SystemTime) {
        let expires = now.checked_add(self.ttl).unwrap_or(now);
        self.current = Some((code, expires));
    }

    /// Compare-and-expire: forgets the cached code only if it is `used` (a newer code stored
    /// meanwhile is kept). Returns whether it was forgotten.
    pub fn invalidate_if(&mut self, used: &SecretString) -> bool {
        if self.current.as_ref().is_some_and(|(code, _)| code == used) {
            self.current = None;
            return true;
        }
        false
    }

    /// Forgets the cached code.
    pub fn clear(&mut self) {
        self.current = None;
    }

    /// After a failed call made with `used`: when `err` says the code is missing, expired or
    /// another user's (class `TokenInvalid`), expires it (compare-and-expire) and returns `true`
    /// (authorize again and retry once). Other errors leave the cache alone.
    pub fn on_error(&mut self, used: &SecretString, err: &Error) -> bool {
        if err.is_token_invalid() {
            self.invalidate_if(used);
            return true;
        }
        false
    }
}

/// Runs a call that needs an auth code through `send` (one HTTP round trip), with the cache:
/// authorize when no fresh code is cached, call, and on a `TokenInvalid` answer expire the code,
/// authorize again and retry exactly once.
///
/// # Errors
/// The first error that is not a renewable code, or the second renewable one.
pub fn call_with_auth_code<E, M, S>(
    cache: &mut AuthCodeCache,
    app: &Zhiyun,
    ctx: &Context,
    make: M,
    mut send: S,
) -> Result<E::Output, Error>
where
    E: Exchange,
    M: Fn(&SecretString) -> E,
    S: FnMut(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Error>,
{
    let mut gate = RetryGate::new();
    loop {
        let code = match cache.next(ctx.now()) {
            Next::Use(code) => code,
            Next::Authorize => {
                let code = run_with(&app.authorize(), ctx, &mut send)?;
                cache.store(code.clone(), ctx.now());
                code
            }
        };
        match run_with(&make(&code), ctx, &mut send) {
            Ok(out) => return Ok(out),
            Err(err) if gate.should_retry(&err) => {
                cache.on_error(&code, &err);
            }
            Err(err) => return Err(err),
        }
    }
}
