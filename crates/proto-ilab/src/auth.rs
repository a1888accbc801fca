//! Ticket → token, refresh, the refresh rules, and the [`TokenSource`] for the lifecycle.
//!
//! ```text
//! GET {addr}/oauth/token/accesstoken?ticket=<ticket, URL-encoded once>&appid=<appid>&signature=<SIG>
//!     SIG = UPPER(hex(MD5(decoded ticket + appid + secret)))
//! GET {addr}/oauth/token/refreshtoken?refresh_token=<value>&appid=<appid>&signature=UPPER(hex(MD5(value + appid + secret)))
//! ```
//!
//! # The refresh rules
//! Tokens live 24 hours. The **original** token (from a ticket) may be refreshed **at most
//! twice**, and a token **obtained by refresh cannot itself be refreshed**: both refreshes use
//! the original's refresh value. [`IlabSession`] keeps that lineage and refuses a forbidden
//! refresh before calling, with an error that says which rule applies.
//!
//! ```
//! use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
//! use kaifang_proto_core::exchange::Exchange;
//! use kaifang_proto_ilab::{AccessTokenRequest, Ilab, IlabConfig, Ticket};
//! use std::sync::Arc;
//!
//! let app = Ilab::new(IlabConfig::new("http://127.0.0.1:8180", "1681600222748241929", "123456"))?;
//! let ticket = Ticket::new("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI")?;
//! let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(1_711_103_229_000)), Arc::new(FixedNonce::new("n")));
//! let req = AccessTokenRequest::new(&app, ticket).build(&ctx)?;
//! assert!(req.uri().to_string().ends_with("&appid=1681600222748241929&signature=6CC426EF80A31C5E7BDE10F6F5772DE5"));
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use kaifang_proto_core::Error;
use kaifang_proto_core::context::{Context, from_unix_millis};
use kaifang_proto_core::envelope::{self, de};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::explain::Explain;
use kaifang_proto_core::lifecycle::{Plan, TokenExchange, TokenKey, TokenSource};
use kaifang_proto_core::redact;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::token::Token;
use serde::Deserialize;
use serde_json::Value;

use crate::app::{Ilab, Profile, SCOPE_CALLBACK_SCORE};
use crate::codes::{self, Endpoint};
use crate::response;
use crate::ticket::Ticket;

/// How many times the original token may be refreshed.
pub const MAX_REFRESHES: u8 = 2;
/// Access-token lifetime when the answer gives none (24 h).
pub const DEFAULT_TTL_SECS: u64 = 86_400;
/// Refresh-token lifetime of the RONCOO clone (30 days, the refresh JWT's `exp`).
pub const REFRESH_TTL_SECS: u64 = 30 * 86_400;
/// An upload needs the token to stay valid at least this long (see [`needs_refresh`]).
pub const UPLOAD_MARGIN: Duration = Duration::from_secs(5 * 60);

/// `UPPER(hex(MD5(value + appid + secret)))` over a value that is already decoded.
///
/// ```
/// use kaifang_proto_ilab::auth::signature;
/// assert_eq!(
///     signature("22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5+1UFkxS7PclakS5u3P6cXwrv8+7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ=", "105348", "secret"),
///     "A420ABC82AB3B07C347F7F02A6B28FD2",
/// );
/// ```
pub fn signature(decoded_value: &str, appid: &str, secret: &str) -> String {
    kaifang_sign_core::ilab::signature_decoded(decoded_value, appid, secret)
        .as_str()
        .to_owned()
}

/// Where a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lineage {
    /// Obtained from a ticket: refreshable, at most [`MAX_REFRESHES`] times.
    Original,
    /// Obtained by the `number`-th refresh of the original (1 or 2): not refreshable.
    Refreshed {
        /// 1 for the first refresh, 2 for the second.
        number: u8,
    },
}

/// A token answer, typed: the proto-core [`Token`] (expiry counted from receipt, refresh value,
/// scope `callback:score`, `un` / `dis` / `jti` also in `extra`) and the platform's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct IlabToken {
    /// The token for the lifecycle.
    pub token: Token,
    /// `un`: the user name; send it as `username` in uploads.
    pub un: String,
    /// `dis`: the user's display name.
    pub dis: String,
    /// `create_time` (server clock).
    pub created_at: Option<SystemTime>,
    /// `expires_time` (server clock).
    pub expires_time: Option<SystemTime>,
    /// `create_time_display` as sent (`yyyy-MM-dd HH:mm:ss`, Beijing time).
    pub create_time_display: Option<String>,
    /// `expires_time_display` as sent.
    pub expires_time_display: Option<String>,
    /// `jti` of the access token.
    pub jti: Option<String>,
    /// Original or refreshed.
    pub lineage: Lineage,
}

impl IlabToken {
    /// The access token.
    pub fn access(&self) -> &SecretString {
        &self.token.access
    }

    /// What a refresh of this token sends: the refresh token (RONCOO) or the access token
    /// (iLab-x).
    pub fn refresh_value(&self, profile: Profile) -> Option<&SecretString> {
        if profile.paths().refresh_with_refresh_token {
            self.token.refresh.as_ref()
        } else {
            Some(&self.token.access)
        }
    }
}

/// `true` when `token` must be refreshed before an upload at `now`: it expires within
/// [`UPLOAD_MARGIN`] (the experiment outlived it), or has expired.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use kaifang_proto_core::token::Token;
/// use kaifang_proto_ilab::needs_refresh;
/// let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let token = Token::from_expires_in("t", t0, 86_399);
/// assert!(!needs_refresh(&token, t0 + Duration::from_secs(3600)));
/// assert!(needs_refresh(&token, t0 + Duration::from_secs(86_399 - 60)));
/// ```
pub fn needs_refresh(token: &Token, now: SystemTime) -> bool {
    now.checked_add(UPLOAD_MARGIN)
        .is_none_or(|t| !token.is_valid_at(t))
}

/// Ticket → token. Not idempotent: a ticket works once.
#[derive(Debug, Clone)]
pub struct AccessTokenRequest {
    app: Ilab,
    ticket: Ticket,
}

impl AccessTokenRequest {
    /// The token request for `ticket`.
    pub fn new(app: &Ilab, ticket: Ticket) -> Self {
        AccessTokenRequest {
            app: app.clone(),
            ticket,
        }
    }

    /// The ticket.
    pub fn ticket(&self) -> &Ticket {
        &self.ticket
    }

    /// The signature sent.
    pub fn signature(&self) -> String {
        signature(
            self.ticket.decoded().expose_secret(),
            self.app.appid(),
            self.app.secret().expose_secret(),
        )
    }

    /// The URL (with the ticket in clear: never log it; see [`redact::url`]).
    pub fn url(&self) -> String {
        let ticket = self.ticket.decoded().expose_secret();
        let sig = self.signature();
        self.app.url(
            self.app.paths().token,
            &[
                ("ticket", ticket),
                ("appid", self.app.appid()),
                ("signature", &sig),
            ],
        )
    }
}

impl Exchange for AccessTokenRequest {
    type Output = IlabToken;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        get(&self.url())
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<IlabToken, Error> {
        let body = response::check(Endpoint::Token, ctx, &resp)?;
        parse_answer(
            &body,
            resp.body(),
            ctx,
            self.app.profile(),
            Lineage::Original,
        )
    }

    fn explain(&self, _ctx: &Context) -> Option<Explain> {
        let ticket = self.ticket.decoded().expose_secret();
        let mut ex = Explain::new(format!("ilab GET {}", self.app.paths().token));
        ex.push("url", redact::url(&self.url()))
            .push_secret("ticket (decoded: signed)", ticket)
            .push(
                "ticket (URL-encoded once: sent)",
                redact::placeholder(self.ticket.encoded().len()),
            )
            .push("appid", self.app.appid())
            .push_secret("secret", self.app.secret().expose_secret())
            .push(
                "string-to-sign",
                "decoded ticket + appid + secret (no separators)",
            )
            .push(
                "signature (UPPER(hex(MD5(string-to-sign))))",
                self.signature(),
            );
        Some(ex)
    }

    fn name(&self) -> &'static str {
        "ilab.access_token"
    }
}

/// A refresh. Build it through [`IlabSession::refresh`] (which enforces the rules) or, to test
/// a server's enforcement, [`RefreshRequest::forced`].
#[derive(Clone)]
pub struct RefreshRequest {
    app: Ilab,
    value: SecretString,
    number: u8,
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("app", &self.app)
            .field("value", &self.value)
            .field("number", &self.number)
            .finish()
    }
}

impl RefreshRequest {
    /// A refresh sending `value` (the refresh token for RONCOO, the access token for iLab-x,
    /// decoded as received) **without checking the refresh rules**: for testing a server's
    /// enforcement. The answer is typed as the refresh number `number`.
    pub fn forced(app: &Ilab, value: &SecretString, number: u8) -> Self {
        RefreshRequest {
            app: app.clone(),
            value: value.clone(),
            number,
        }
    }

    /// Which refresh of the original this is (1 or 2).
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The signature sent: over the value sent (the platform's doc writes ACCESS_TOKEN there;
    /// the sandbox accepts both).
    pub fn signature(&self) -> String {
        signature(
            self.value.expose_secret(),
            self.app.appid(),
            self.app.secret().expose_secret(),
        )
    }

    /// The URL (with the token in clear: never log it).
    pub fn url(&self) -> String {
        let paths = self.app.paths();
        let sig = self.signature();
        self.app.url(
            paths.refresh,
            &[
                (paths.refresh_param, self.value.expose_secret()),
                ("appid", self.app.appid()),
                ("signature", &sig),
            ],
        )
    }
}

impl Exchange for RefreshRequest {
    type Output = IlabToken;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        get(&self.url())
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<IlabToken, Error> {
        let body = response::check(Endpoint::Refresh, ctx, &resp)?;
        parse_answer(
            &body,
            resp.body(),
            ctx,
            self.app.profile(),
            Lineage::Refreshed {
                number: self.number,
            },
        )
    }

    fn explain(&self, _ctx: &Context) -> Option<Explain> {
        let paths = self.app.paths();
        let mut ex = Explain::new(format!("ilab GET {}", paths.refresh));
        ex.push("url", redact::url(&self.url()))
            .push_secret(
                format!(
                    "{} (signed as is, sent URL-encoded once)",
                    paths.refresh_param
                ),
                self.value.expose_secret(),
            )
            .push("appid", self.app.appid())
            .push_secret("secret", self.app.secret().expose_secret())
            .push(
                "string-to-sign",
                format!("{} + appid + secret", paths.refresh_param),
            )
            .push(
                "signature (UPPER(hex(MD5(string-to-sign))))",
                self.signature(),
            );
        Some(ex)
    }

    fn name(&self) -> &'static str {
        "ilab.refresh_token"
    }
}

fn get(url: &str) -> Result<http::Request<Vec<u8>>, Error> {
    http::Request::get(url)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| Error::Config(format!("ilab: cannot build request: {e}")))
}

#[derive(Deserialize)]
struct Answer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "de::space_or_list")]
    scope: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    un: Option<String>,
    #[serde(default)]
    dis: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    create_time: Option<i64>,
    #[serde(default)]
    create_time_display: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    expires_time: Option<i64>,
    #[serde(default)]
    expires_time_display: Option<String>,
    #[serde(default)]
    jti: Option<String>,
}

/// Reads a token answer (token or refresh endpoint; both profiles): `expires_in` (number or
/// string; else `expires_time − create_time`; else 24 h) counted from receipt (`ctx.now()`),
/// `create_time` / `expires_time` as strings or numbers of ms, scope `callback:score` when the
/// answer names none.
///
/// # Errors
/// [`Error::Decode`] with the path of the bad field (no token value in it).
pub fn parse_answer(
    body: &Value,
    raw: &[u8],
    ctx: &Context,
    profile: Profile,
    lineage: Lineage,
) -> Result<IlabToken, Error> {
    let a: Answer = envelope::decode_value(body, raw)?;
    if a.access_token.is_empty() {
        return Err(Error::decode("access_token", "empty", raw));
    }
    let un =
        a.un.filter(|u| !u.is_empty())
            .ok_or_else(|| Error::decode("un", "missing: the answer names no user", raw))?;
    let expires_in = a
        .expires_in
        .or_else(|| {
            let (c, e) = (a.create_time?, a.expires_time?);
            u64::try_from(e.checked_sub(c)? / 1000).ok()
        })
        .unwrap_or(DEFAULT_TTL_SECS);
    let now = ctx.now();
    let mut token = Token::from_expires_in(a.access_token, now, expires_in)
        .with_token_type(a.token_type.unwrap_or_else(|| "bearer".to_owned()));
    token.scope = if a.scope.is_empty() {
        vec![SCOPE_CALLBACK_SCORE.to_owned()]
    } else {
        a.scope
    };
    match (profile.paths().refresh_with_refresh_token, a.refresh_token) {
        (true, Some(refresh)) if !refresh.is_empty() => {
            token = token.with_refresh(refresh, Some(REFRESH_TTL_SECS));
        }
        (false, _) => {
            let access = token.access.expose_secret().to_owned();
            token = token.with_refresh(access, Some(expires_in));
        }
        _ => {}
    }
    let dis = a.dis.unwrap_or_default();
    token.extra.insert("un".into(), Value::String(un.clone()));
    token.extra.insert("dis".into(), Value::String(dis.clone()));
    if let Some(jti) = &a.jti {
        token.extra.insert("jti".into(), Value::String(jti.clone()));
    }
    let refreshed = match lineage {
        Lineage::Original => 0,
        Lineage::Refreshed { number } => number,
    };
    token
        .extra
        .insert("ilab_refresh_number".into(), Value::from(refreshed));
    Ok(IlabToken {
        token,
        un,
        dis,
        created_at: a.create_time.map(from_unix_millis),
        expires_time: a.expires_time.map(from_unix_millis),
        create_time_display: a.create_time_display,
        expires_time_display: a.expires_time_display,
        jti: a.jti,
        lineage,
    })
}

/// One user's session: the original token's refresh value and how often it was used, and the
/// current token. Refusals of the refresh rules happen here, before calling.
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use kaifang_proto_core::token::Token;
/// use kaifang_proto_ilab::{Ilab, IlabConfig, IlabSession, IlabToken, Lineage};
///
/// let app = Ilab::new(IlabConfig::new("http://127.0.0.1:8180", "1", "s"))?;
/// let original = IlabToken {
///     token: Token::from_expires_in("a0", UNIX_EPOCH, 86_399).with_refresh("r0", None),
///     un: "u".into(), dis: "d".into(), created_at: None, expires_time: None,
///     create_time_display: None, expires_time_display: None, jti: None,
///     lineage: Lineage::Original,
/// };
/// let mut session = IlabSession::new(app.profile(), original)?;
/// assert_eq!(session.refreshes_left(), 2);
/// let first = session.refresh(&app)?;
/// assert_eq!(first.number(), 1);
/// # Ok::<(), kaifang_proto_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct IlabSession {
    profile: Profile,
    original_value: SecretString,
    used: u8,
    current: IlabToken,
}

impl IlabSession {
    /// A session from the original token (the token endpoint's answer).
    ///
    /// # Errors
    /// The refresh-rule error when `original` came from a refresh; [`Error::Config`] when it
    /// carries no refresh value.
    pub fn new(profile: Profile, original: IlabToken) -> Result<Self, Error> {
        if let Lineage::Refreshed { .. } = original.lineage {
            return Err(codes::client::refreshed_not_refreshable());
        }
        let original_value = original
            .refresh_value(profile)
            .cloned()
            .ok_or_else(|| Error::Config("ilab: the original token has no refresh_token".into()))?;
        Ok(IlabSession {
            profile,
            original_value,
            used: 0,
            current: original,
        })
    }

    /// The current token (the original, or the latest refresh).
    pub fn current(&self) -> &IlabToken {
        &self.current
    }

    /// Refreshes done so far.
    pub fn refreshes_used(&self) -> u8 {
        self.used
    }

    /// Refreshes still allowed.
    pub fn refreshes_left(&self) -> u8 {
        MAX_REFRESHES.saturating_sub(self.used)
    }

    /// Whether the rules allow another refresh.
    ///
    /// # Errors
    /// [`codes::client::refresh_limit_reached`] after two refreshes.
    pub fn check_refresh(&self) -> Result<(), Error> {
        if self.used >= MAX_REFRESHES {
            return Err(codes::client::refresh_limit_reached(self.used));
        }
        Ok(())
    }

    /// The next refresh, with the original's refresh value.
    ///
    /// # Errors
    /// [`codes::client::refresh_limit_reached`] after two refreshes (nothing is sent).
    pub fn refresh(&self, app: &Ilab) -> Result<RefreshRequest, Error> {
        self.check_refresh()?;
        Ok(RefreshRequest {
            app: app.clone(),
            value: self.original_value.clone(),
            number: self.used + 1,
        })
    }

    /// Records a refresh's answer as the current token.
    ///
    /// # Errors
    /// [`Error::Config`] when `token` is not the next refresh of this session (an original
    /// token, or a refresh number out of sequence) or belongs to another user.
    pub fn accept(&mut self, token: IlabToken) -> Result<(), Error> {
        match token.lineage {
            Lineage::Refreshed { number } if number == self.used + 1 => {}
            _ => {
                return Err(Error::Config(
                    "ilab: IlabSession::accept takes the answer of this session's next refresh"
                        .into(),
                ));
            }
        }
        if token.un != self.current.un {
            return Err(Error::Config(
                "ilab: the refreshed token belongs to another user".into(),
            ));
        }
        self.used += 1;
        self.current = token;
        Ok(())
    }

    /// Whether the current token must be refreshed before an upload at `now` (see
    /// [`needs_refresh`]).
    pub fn needs_refresh(&self, now: SystemTime) -> bool {
        needs_refresh(&self.current.token, now)
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }
}

/// The platform in the token lifecycle, for one user (one ticket).
///
/// * [`Plan::FullGrant`] redeems the ticket given at construction (or with
///   [`IlabTokens::supply_ticket`]), once; without one it answers
///   [`codes::client::new_ticket_needed`]: the user must click 我要做实验 again.
/// * [`Plan::UseRefreshToken`] refreshes with the **original** token's refresh value while the
///   rules allow (two refreshes), else answers the rule's error (class `BadRequest`, so the
///   lifecycle falls back to the full grant, which needs a new ticket). A source that did not
///   see the login (the token came from a shared store) sends the refresh value given and lets
///   the platform apply the rules; a refusal 5 or 6 ends the refreshes here too.
///
/// Key: `ilab / {appid}/{un or ticket id} / access`.
pub struct IlabTokens {
    app: Ilab,
    key: TokenKey,
    state: Mutex<SourceState>,
}

#[derive(Default)]
struct SourceState {
    ticket: Option<Ticket>,
    original: Option<SecretString>,
    used: u8,
}

impl fmt::Debug for IlabTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (has_ticket, used) = self
            .state
            .lock()
            .map(|s| (s.ticket.is_some(), s.used))
            .unwrap_or_default();
        f.debug_struct("IlabTokens")
            .field("key", &self.key)
            .field("has_ticket", &has_ticket)
            .field("refreshes_used", &used)
            .finish_non_exhaustive()
    }
}

impl IlabTokens {
    /// The token source for the user who brought `ticket`.
    pub fn new(app: &Ilab, ticket: Ticket) -> Self {
        let key = key(app, &ticket.id());
        IlabTokens {
            app: app.clone(),
            key,
            state: Mutex::new(SourceState {
                ticket: Some(ticket),
                ..SourceState::default()
            }),
        }
    }

    /// The token source of an existing session (after a restart, with the session kept).
    pub fn resume(app: &Ilab, session: &IlabSession) -> Self {
        IlabTokens {
            app: app.clone(),
            key: key(app, &session.current.un),
            state: Mutex::new(SourceState {
                ticket: None,
                original: Some(session.original_value.clone()),
                used: session.used,
            }),
        }
    }

    /// Gives a fresh ticket (the user clicked 我要做实验 again), used once by the next full
    /// grant.
    pub fn supply_ticket(&self, ticket: Ticket) {
        if let Ok(mut s) = self.state.lock() {
            s.ticket = Some(ticket);
        }
    }

    /// Refreshes done on the current original token.
    pub fn refreshes_used(&self) -> u8 {
        self.state.lock().map(|s| s.used).unwrap_or(MAX_REFRESHES)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, SourceState>, Error> {
        self.state
            .lock()
            .map_err(|_| Error::Config("ilab: token source state poisoned".into()))
    }
}

fn key(app: &Ilab, user: &str) -> TokenKey {
    TokenKey::new("ilab", format!("{}/{user}", app.appid()), "access")
}

impl TokenSource for IlabTokens {
    fn key(&self) -> &TokenKey {
        &self.key
    }

    fn exchange(&self, plan: &Plan) -> Result<TokenExchange<'_>, Error> {
        let state = self.lock()?;
        match plan {
            Plan::UseRefreshToken(given) => {
                // Without a lineage here (the token came from a shared store, logged in by
                // another instance), send the value given and let the platform apply the rules:
                // its refusals (5, 6) are typed and end the refresh attempts too.
                let original = state.original.clone().unwrap_or_else(|| given.clone());
                if state.used >= MAX_REFRESHES {
                    return Err(codes::client::refresh_limit_reached(state.used));
                }
                let inner = RefreshRequest {
                    app: self.app.clone(),
                    value: original,
                    number: state.used + 1,
                };
                Ok(Box::new(Tracked {
                    source: self,
                    step: Step::Refresh(inner),
                }))
            }
            Plan::FullGrant => {
                // Kept until the answer says it is spent: a transport failure leaves it for a
                // retry (which the platform answers 4 if the first attempt did consume it).
                let ticket = state.ticket.clone().ok_or_else(|| {
                    codes::client::new_ticket_needed(
                        "the ticket was used and the refresh rules allow no more refreshes",
                    )
                })?;
                Ok(Box::new(Tracked {
                    source: self,
                    step: Step::Login(AccessTokenRequest::new(&self.app, ticket)),
                }))
            }
        }
    }
}

enum Step {
    Login(AccessTokenRequest),
    Refresh(RefreshRequest),
}

/// An exchange that records its outcome in the source's lineage.
struct Tracked<'a> {
    source: &'a IlabTokens,
    step: Step,
}

impl Exchange for Tracked<'_> {
    type Output = Token;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        match &self.step {
            Step::Login(r) => r.build(ctx),
            Step::Refresh(r) => r.build(ctx),
        }
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Token, Error> {
        let profile = self.source.app.profile();
        match &self.step {
            Step::Login(r) => {
                let answer = r.parse(ctx, resp);
                let mut s = self.source.lock()?;
                let spent = match &answer {
                    Ok(_) => true,
                    Err(e) => matches!(
                        codes::kind_of(e, Endpoint::Token),
                        Some(codes::Kind::TicketExpired | codes::Kind::TicketInvalid)
                    ),
                };
                if spent && s.ticket.as_ref() == Some(r.ticket()) {
                    s.ticket = None;
                }
                let t = answer?;
                s.original = t.refresh_value(profile).cloned();
                s.used = 0;
                Ok(t.token)
            }
            Step::Refresh(r) => {
                let answer = r.parse(ctx, resp);
                let mut s = self.source.lock()?;
                match &answer {
                    Ok(_) => s.used = s.used.max(r.number),
                    Err(e) => {
                        if matches!(
                            codes::kind_of(e, Endpoint::Refresh),
                            Some(
                                codes::Kind::RefreshLimitReached
                                    | codes::Kind::RefreshedTokenNotRefreshable
                            )
                        ) {
                            s.used = MAX_REFRESHES;
                        }
                    }
                }
                Ok(answer?.token)
            }
        }
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        match &self.step {
            Step::Login(r) => r.explain(ctx),
            Step::Refresh(r) => r.explain(ctx),
        }
    }

    fn name(&self) -> &'static str {
        match &self.step {
            Step::Login(r) => r.name(),
            Step::Refresh(r) => r.name(),
        }
    }
}
