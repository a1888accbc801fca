//! Login pages for authorization-code flows.
//!
//! A module's authorize route builds a [`LoginRequest`] and returns
//! [`LoginPages::respond`]: a real HTML page naming the app, with a user field and Approve / Deny
//! buttons (ids `approve`, `deny`) in a form that posts to `POST /__sandbox/login/decision`.
//! Approve calls the module's approver (which issues the code) and redirects (303) to the
//! callback with the module's parameters and the unchanged `state`; Deny redirects with the
//! module's error parameters.
//!
//! Non-browser tests skip the click: `kaifang_auto=approve` (or `auto_approve=1`) or
//! `kaifang_auto=deny` in the authorize URL's query decides at once (302), and
//! `kaifang_user=NAME` picks the user.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::response::{Html, IntoResponse, Response};
use http::{StatusCode, header};

use crate::error::ControlError;
use crate::rng::SandboxRng;

/// The approver: given the user name, returns the parameters to add to the callback on approve
/// (e.g. `[("code", "...")]`), or an error message.
pub type Approver = Arc<dyn Fn(&str) -> Result<Vec<(String, String)>, String> + Send + Sync>;

/// The decision taken on a login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The user approved.
    Approve,
    /// The user denied.
    Deny,
}

impl Decision {
    /// Parses `approve`/`deny` (also `1`/`0`, `yes`/`no`, `true`/`false`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "approve" | "1" | "yes" | "true" | "allow" => Some(Self::Approve),
            "deny" | "0" | "no" | "false" | "reject" => Some(Self::Deny),
            _ => None,
        }
    }
}

/// What a login page needs from the module.
#[derive(Clone)]
pub struct LoginRequest {
    app_name: String,
    redirect_uri: String,
    state: Option<String>,
    state_param: String,
    deny_params: Vec<(String, String)>,
    default_user: String,
    approver: Approver,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("app_name", &self.app_name)
            .field("redirect_uri", &self.redirect_uri)
            .field("state_param", &self.state_param)
            .field("deny_params", &self.deny_params)
            .finish_non_exhaustive()
    }
}

impl LoginRequest {
    /// A login for `app_name` that returns to `redirect_uri` (already checked by the module
    /// against the tenant's registration). `approver` runs on Approve and returns the callback
    /// parameters. Defaults: state parameter `state`, deny parameters
    /// `error=access_denied`, user `sandbox-user`.
    pub fn new(
        app_name: impl Into<String>,
        redirect_uri: impl Into<String>,
        approver: impl Fn(&str) -> Result<Vec<(String, String)>, String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            app_name: app_name.into(),
            redirect_uri: redirect_uri.into(),
            state: None,
            state_param: "state".to_owned(),
            deny_params: vec![("error".to_owned(), "access_denied".to_owned())],
            default_user: "sandbox-user".to_owned(),
            approver: Arc::new(approver),
        }
    }

    /// The client's `state`, returned unchanged on both outcomes.
    #[must_use]
    pub fn state(mut self, state: Option<String>) -> Self {
        self.state = state;
        self
    }

    /// The name of the state parameter on the callback (default `state`).
    #[must_use]
    pub fn state_param(mut self, name: impl Into<String>) -> Self {
        self.state_param = name.into();
        self
    }

    /// The parameters added on Deny (default `error=access_denied`).
    #[must_use]
    pub fn deny_params(mut self, params: Vec<(String, String)>) -> Self {
        self.deny_params = params;
        self
    }

    /// The user pre-filled on the page (default `sandbox-user`).
    #[must_use]
    pub fn default_user(mut self, user: impl Into<String>) -> Self {
        self.default_user = user.into();
        self
    }
}

struct Pending {
    req: LoginRequest,
    created: Instant,
}

/// How long a login page stays answerable.
pub const LOGIN_PAGE_LIFETIME: Duration = Duration::from_secs(600);
const MAX_PENDING: usize = 10_000;

/// The framework's login helper (one per sandbox, shared by modules).
#[derive(Clone)]
pub struct LoginPages {
    pending: Arc<Mutex<HashMap<String, Pending>>>,
    rng: SandboxRng,
}

impl fmt::Debug for LoginPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginPages").finish_non_exhaustive()
    }
}

/// Escapes text for HTML content and attribute values.
#[must_use]
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The path the login form posts to.
pub const DECISION_PATH: &str = "/__sandbox/login/decision";

/// Whether `uri` is an RFC 8252 §7.3 loopback redirect URI of a native app:
/// `http://127.0.0.1:<port>/…`, `http://[::1]:<port>/…` or `http://localhost:<port>/…`, any
/// port (the app picks a free one at run time), no user info, no fragment. The platform
/// modules accept these for their registered demo clients in addition to the registered
/// redirect URI, so command-line logins (`kaifang login`) work against the sandbox.
///
/// ```
/// use kaifang_sandbox::login::is_loopback_redirect;
/// assert!(is_loopback_redirect("http://127.0.0.1:53127/callback"));
/// assert!(is_loopback_redirect("http://localhost:8080/"));
/// assert!(!is_loopback_redirect("https://127.0.0.1:1/callback"));
/// assert!(!is_loopback_redirect("http://127.0.0.1.example.com/callback"));
/// ```
#[must_use]
pub fn is_loopback_redirect(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let loopback_host = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    url.scheme() == "http"
        && loopback_host
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

impl LoginPages {
    pub(crate) fn new(rng: SandboxRng) -> Self {
        Self {
            pending: Arc::new(Mutex::new(HashMap::new())),
            rng,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers an authorize request: the HTML page, or, with `kaifang_auto` / `auto_approve` in
    /// `query` (the authorize request's raw query string), an immediate 302 to the callback.
    #[must_use]
    pub fn respond(&self, req: LoginRequest, query: Option<&str>) -> Response {
        if let Err(e) = url::Url::parse(&req.redirect_uri) {
            return ControlError::BadRequest(format!(
                "redirect_uri is not an absolute URL ({e}): {:?}",
                req.redirect_uri
            ))
            .into_response();
        }
        let mut auto = None;
        let mut user = None;
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "kaifang_auto" | "auto_approve" => auto = Decision::parse(&v),
                "kaifang_user" => user = Some(v.into_owned()),
                _ => {}
            }
        }
        if let Some(d) = auto {
            let user = user.unwrap_or_else(|| req.default_user.clone());
            return finish(&req, d, &user, StatusCode::FOUND);
        }
        let id = self.rng.alphanumeric(32);
        let page = render(&req, &id, user.as_deref().unwrap_or(&req.default_user));
        {
            let mut g = self.lock();
            g.retain(|_, p| p.created.elapsed() < LOGIN_PAGE_LIFETIME);
            if g.len() >= MAX_PENDING
                && let Some(oldest) = g
                    .iter()
                    .min_by_key(|(_, p)| p.created)
                    .map(|(k, _)| k.clone())
            {
                g.remove(&oldest);
            }
            g.insert(
                id,
                Pending {
                    req,
                    created: Instant::now(),
                },
            );
        }
        ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
    }

    /// Handles the form post of the page (`login_id`, `decision`, `user`).
    pub(crate) fn decide(&self, form: &[u8]) -> Response {
        let mut id = None;
        let mut decision = None;
        let mut user = None;
        for (k, v) in form_urlencoded::parse(form) {
            match k.as_ref() {
                "login_id" => id = Some(v.into_owned()),
                "decision" => decision = Some(v.into_owned()),
                "user" => user = Some(v.into_owned()),
                _ => {}
            }
        }
        let Some(id) = id else {
            return ControlError::BadRequest("missing form field `login_id`".into())
                .into_response();
        };
        let Some(d) = decision.as_deref().and_then(Decision::parse) else {
            return ControlError::BadRequest(format!(
                "form field `decision` must be `approve` or `deny`, got {decision:?}"
            ))
            .into_response();
        };
        let pending = self.lock().remove(&id);
        let Some(p) = pending.filter(|p| p.created.elapsed() < LOGIN_PAGE_LIFETIME) else {
            return ControlError::NotFound(format!(
                "no pending login `{id}` (already decided, expired, or never shown)"
            ))
            .into_response();
        };
        let user = user
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| p.req.default_user.clone());
        finish(&p.req, d, &user, StatusCode::SEE_OTHER)
    }

    /// Forgets every pending login.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

fn finish(req: &LoginRequest, d: Decision, user: &str, status: StatusCode) -> Response {
    let params = match d {
        Decision::Approve => match (req.approver)(user) {
            Ok(p) => p,
            Err(m) => return ControlError::BadRequest(m).into_response(),
        },
        Decision::Deny => req.deny_params.clone(),
    };
    let Ok(mut url) = url::Url::parse(&req.redirect_uri) else {
        return ControlError::BadRequest("redirect_uri is not an absolute URL".into())
            .into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &params {
            q.append_pair(k, v);
        }
        if let Some(s) = &req.state {
            q.append_pair(&req.state_param, s);
        }
    }
    (
        status,
        [
            (header::LOCATION, url.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

fn render(req: &LoginRequest, id: &str, user: &str) -> String {
    let app = html_escape(&req.app_name);
    let host = url::Url::parse(&req.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in to {app} — kaifang sandbox</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}button{{margin-right:1em;padding:.5em 1.5em}}</style>
</head>
<body>
<h1>{app}</h1>
<p id="notice">kaifang sandbox (a test emulator): <strong>{app}</strong> asks to access your account.
You will be sent back to <code>{host}</code>.</p>
<form id="login" method="post" action="{action}">
<input type="hidden" name="login_id" value="{id}">
<label for="user">User</label> <input id="user" name="user" value="{user}">
<p>
<button id="approve" type="submit" name="decision" value="approve">Approve</button>
<button id="deny" type="submit" name="decision" value="deny">Deny</button>
</p>
</form>
</body>
</html>
"#,
        action = DECISION_PATH,
        host = html_escape(&host),
        id = html_escape(id),
        user = html_escape(user),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_per_rfc_8252() {
        for ok in [
            "http://127.0.0.1:53127/callback",
            "http://127.0.0.1/callback",
            "http://localhost:1/",
            "http://LOCALHOST:65535/cb?x=1",
            "http://[::1]:8080/callback",
        ] {
            assert!(is_loopback_redirect(ok), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:1/callback",
            "http://127.0.0.2:1/callback",
            "http://127.0.0.1.evil.example/callback",
            "http://localhost.evil.example:1/",
            "http://user@127.0.0.1:1/callback",
            "http://127.0.0.1:1/callback#frag",
            "http://test.tf56.com",
            "127.0.0.1:1/callback",
            "",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }
}
