//! The request of every call: `GET {base}/apis/rest/<service>/<method>/<fmt>?…` with
//! `Authorization: Basic base64(client_id:client_secret)`, and the query parameters in the
//! seed's order: `access_token`, [`client_id`, `auth_code`,] `t_`, `p_`.
//!
//! `t_` is the context's clock in the configured unit and `p_ = (t_ % 10000) * 3 + 2345`
//! ([`kaifang_sign_core::zhiyun::check_value`]).
//!
//! ```
//! use kaifang_proto_zhiyun::request::Stamp;
//! let s = Stamp::from_t(1_422_339_152_058);
//! assert_eq!((s.t, s.p), (1_422_339_152_058, 8519));
//! ```

use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION};
use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::explain::Explain;
use kaifang_proto_core::redact;
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::zhiyun;

use crate::app::{TimeUnit, Zhiyun};
use crate::endpoint::Endpoint;

/// `t_` and its check value `p_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// `t_`: Unix milliseconds or seconds.
    pub t: u64,
    /// `p_ = (t_ % 10000) * 3 + 2345`.
    pub p: u64,
}

impl Stamp {
    /// The stamp for a given `t_`.
    pub const fn from_t(t: u64) -> Self {
        Stamp {
            t,
            p: zhiyun::check_value(t),
        }
    }

    /// The stamp at the context's time, in `unit`.
    pub fn now(ctx: &Context, unit: TimeUnit) -> Self {
        Self::from_t(unit.t_from_millis(ctx.now_millis()))
    }
}

/// The query string (no `?`) of `endpoint` at `stamp`. `auth_code` is required by the user and
/// company calls and ignored by `authorize`.
pub fn query(
    app: &Zhiyun,
    endpoint: Endpoint,
    auth_code: Option<&SecretString>,
    stamp: Stamp,
) -> String {
    let cfg = app.config();
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("access_token", cfg.access_token.expose_secret());
    if endpoint.needs_auth_code() {
        q.append_pair("client_id", &cfg.client_id);
        q.append_pair("auth_code", auth_code.map_or("", |c| c.expose_secret()));
    }
    q.append_pair("t_", &stamp.t.to_string());
    q.append_pair("p_", &stamp.p.to_string());
    q.finish()
}

/// The absolute URL of `endpoint` at `stamp` (holds the access token and auth code: redact it
/// with [`redact::url`] before logging).
pub fn url(
    app: &Zhiyun,
    endpoint: Endpoint,
    auth_code: Option<&SecretString>,
    stamp: Stamp,
) -> String {
    let path = endpoint.path(app.config().format);
    format!(
        "{}?{}",
        app.url(&path),
        query(app, endpoint, auth_code, stamp)
    )
}

/// Builds the GET request of `endpoint` at the context's time.
///
/// # Errors
/// [`Error::Config`] when a user or company call has no auth code, or the request cannot be
/// formed.
pub fn build(
    app: &Zhiyun,
    endpoint: Endpoint,
    auth_code: Option<&SecretString>,
    ctx: &Context,
) -> Result<http::Request<Vec<u8>>, Error> {
    if endpoint.needs_auth_code() && auth_code.is_none_or(SecretString::is_empty) {
        return Err(Error::Config(format!(
            "zhiyun: {} needs an auth_code from authorize",
            endpoint.method()
        )));
    }
    let stamp = Stamp::now(ctx, app.config().time_unit);
    let mut authorization =
        HeaderValue::from_str(app.authorization().expose_secret()).map_err(|_| {
            Error::Config("zhiyun: the Basic credentials are not a valid header".into())
        })?;
    authorization.set_sensitive(true);
    http::Request::get(url(app, endpoint, auth_code, stamp))
        .header(AUTHORIZATION, authorization)
        .header(ACCEPT, app.config().format.accept())
        .body(Vec::new())
        .map_err(|e| Error::Config(format!("zhiyun: cannot build request: {e}")))
}

/// How the request at the context's time is made, secrets elided.
pub fn explain(
    app: &Zhiyun,
    endpoint: Endpoint,
    auth_code: Option<&SecretString>,
    ctx: &Context,
) -> Explain {
    let cfg = app.config();
    let stamp = Stamp::now(ctx, cfg.time_unit);
    let mut ex = Explain::new(format!("zhiyun GET {}", endpoint.path(cfg.format)));
    ex.push("url", redact::url(&url(app, endpoint, auth_code, stamp)))
        .push("client_id (Basic user name)", cfg.client_id.clone())
        .push_secret(
            "client_secret (Basic password)",
            cfg.client_secret.expose_secret(),
        )
        .push_secret(
            "Authorization (Basic base64(client_id:client_secret))",
            app.authorization().expose_secret(),
        )
        .push_secret("access_token", cfg.access_token.expose_secret());
    if endpoint.needs_auth_code() {
        ex.push_secret("auth_code", auth_code.map_or("", |c| c.expose_secret()));
    }
    let unit = match cfg.time_unit {
        TimeUnit::Millis => "ms",
        TimeUnit::Seconds => "s",
    };
    ex.push(format!("t_ (Unix {unit})"), stamp.t.to_string())
        .push(
            "p_ = (t_ % 10000) * 3 + 2345",
            format!("({} % 10000) * 3 + 2345 = {}", stamp.t, stamp.p),
        );
    ex
}
