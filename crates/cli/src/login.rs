//! `kaifang login <tianyi|tf56>`: the authorization-code flow on the command line, with an
//! RFC 8252 loopback callback.
//!
//! 1. Listens on `127.0.0.1` (`--redirect-port`, default: any free port); the redirect URI is
//!    `http://127.0.0.1:<port>/callback`.
//! 2. Builds the login URL with a fresh random `state`: tf56 builds the authorize URL locally
//!    ([`AuthorizeRequest`]); Tianyi asks the platform for its login page
//!    (`getAuthPageUrl`, [`AuthPageRequest`]).
//! 3. Prints the URL on stderr and opens it with `xdg-open` (unless `--no-browser`; failing to
//!    open it is only a note).
//! 4. Waits at most `--timeout` seconds for the browser's `GET /callback`, verifies the state
//!    (constant time), answers the browser with a small HTML page and exchanges the code with
//!    the blocking transport.
//! 5. Prints the token as JSON on stdout (`--json`: one line); the access and refresh tokens
//!    are `"[redacted]"` unless `--show-secrets`.
//!
//! Exit codes: 1 for a refused login (state mismatch, denied, no callback in time, a refused
//! code), 2 for bad input (missing id or secret, bad URL, busy port), 3 for the network.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kaifang::blocking::BlockingClient;
use kaifang::core::Error as CoreError;
use kaifang::core::secret::SecretString;
use kaifang::core::token::Token;
use kaifang::core::transport::TransportConfig;
use kaifang::tf56::{AuthorizeRequest, Grant as Tf56Grant, Tf56, Tf56Config, TokenRequest};
use kaifang::tianyi::auth::{
    AuthPageRequest, GetAccessToken, Grant as TianyiGrant, LoginClientType,
};
use kaifang::tianyi::{Tianyi, TianyiConfig};
use serde_json::{Value, json};

use crate::config::{ProfileArgs, Settings};
use crate::exit::CliError;

/// The path of the loopback callback.
const CALLBACK_PATH: &str = "/callback";
/// How long one browser connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read from the browser.
const MAX_HEAD: usize = 16 * 1024;
/// What replaces a token value in the output without `--show-secrets`.
const REDACTED: &str = "[redacted]";

/// The platforms with a browser login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LoginPlatform {
    /// 天翼视联 (standard apps: `getAuthPageUrl`, then `auth_code`).
    Tianyi,
    /// 传化开放平台 (OAuth 2.0 authorization code).
    Tf56,
}

impl LoginPlatform {
    const fn name(self) -> &'static str {
        match self {
            LoginPlatform::Tianyi => "tianyi",
            LoginPlatform::Tf56 => "tf56",
        }
    }

    /// The settings keys of the id and the secret.
    const fn keys(self) -> (&'static str, &'static str) {
        match self {
            LoginPlatform::Tianyi => ("app_id", "app_secret"),
            LoginPlatform::Tf56 => ("client_id", "client_secret"),
        }
    }
}

/// `kaifang login`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoginArgs {
    /// The platform.
    #[arg(value_enum)]
    platform: LoginPlatform,
    /// Base URL of the platform (default: production; the sandbox's URL in tests).
    #[arg(long)]
    base_url: Option<String>,
    /// The client id (tf56 `client_id`, Tianyi `appId`). The secret comes from
    /// KAIFANG_TF56_CLIENT_SECRET / KAIFANG_TIANYI_APP_SECRET or the profile, never a flag.
    #[arg(long, alias = "app-id")]
    client_id: Option<String>,
    /// Port of the loopback callback on 127.0.0.1 (default: any free port).
    #[arg(long)]
    redirect_port: Option<u16>,
    /// Only print the login URL; do not try to open a browser.
    #[arg(long)]
    no_browser: bool,
    /// Seconds to wait for the browser's callback.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    /// Prints the token as one line of JSON (default: indented JSON).
    #[arg(long)]
    json: bool,
    /// Shows the access and refresh token values instead of `[redacted]`.
    #[arg(long)]
    show_secrets: bool,
    #[command(flatten)]
    profile: ProfileArgs,
}

/// One prepared login: where to send the browser and how to finish.
enum Flow {
    Tf56(Tf56),
    Tianyi(Tianyi),
}

pub(crate) fn run(args: LoginArgs) -> Result<(), CliError> {
    let platform = args.platform;
    let (id_key, secret_key) = platform.keys();
    let settings = Settings::load(
        platform.name(),
        &args.profile,
        [
            ("base_url", args.base_url.clone()),
            (id_key, args.client_id.clone()),
            ("redirect_port", args.redirect_port.map(|p| p.to_string())),
        ],
    )?;
    let id = settings.require(id_key)?;
    let secret = settings.require_secret(secret_key)?;
    let base_url = settings.get("base_url")?;
    let port = match settings.get("redirect_port")? {
        None => 0,
        Some(p) => p.trim().parse::<u16>().map_err(|_| {
            CliError::bad_input(format!(
                "{}: redirect_port must be a port number (0-65535), got {p:?}",
                platform.name()
            ))
        })?,
    };

    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        CliError::bad_input(format!(
            "cannot listen on 127.0.0.1:{port} for the login callback: {e}"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::bad_input(format!("the callback listener has no address: {e}")))?;
    let redirect_uri = format!("http://127.0.0.1:{}{CALLBACK_PATH}", local.port());

    let client = BlockingClient::new(TransportConfig::default())?;
    let (flow, url, state) = match platform {
        LoginPlatform::Tf56 => {
            let mut cfg =
                Tf56Config::new(id, secret.expose_secret()).redirect_uri(redirect_uri.clone());
            if let Some(b) = base_url {
                cfg = cfg.base_url(b);
            }
            if let Some(scope) = settings.get("scope")? {
                cfg = cfg.scope(scope);
            }
            let app = Tf56::new(cfg)?;
            let page = AuthorizeRequest::new(&app, client.context())?;
            let (url, state) = (page.url().to_owned(), page.state().to_owned());
            (Flow::Tf56(app), url, state)
        }
        LoginPlatform::Tianyi => {
            let mut cfg = TianyiConfig::new(id, secret.expose_secret());
            if let Some(b) = base_url {
                cfg = cfg.base_url(b);
            }
            let app = Tianyi::new(cfg)?;
            let req =
                AuthPageRequest::new(&app, client.context(), &redirect_uri, LoginClientType::Web)?;
            let page = client.execute(&req)?;
            (Flow::Tianyi(app), page.url, page.state)
        }
    };
    drop(secret);

    eprintln!(
        "kaifang: log in to {} in your browser; open this URL:",
        platform.name()
    );
    eprintln!("{url}");
    eprintln!(
        "kaifang: waiting up to {} s for the callback on {redirect_uri}",
        args.timeout
    );
    if !args.no_browser {
        open_browser(&url);
    }

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let (query, mut stream) = wait_for_callback(&listener, deadline, args.timeout)?;
    let outcome = finish(&flow, &client, &query, &state);
    let page = match &outcome {
        Ok(_) => result_page(
            "Login complete",
            &format!(
                "kaifang received the {} token. You can close this tab and return to the terminal.",
                platform.name()
            ),
        ),
        Err(e) => result_page("Login failed", &e.to_string()),
    };
    answer(&mut stream, "200 OK", &page);
    drop(stream);
    let token = outcome?;
    let out = token_json(
        platform.name(),
        &token,
        args.show_secrets,
        SystemTime::now(),
    );
    let text = if args.json {
        serde_json::to_string(&out)
    } else {
        serde_json::to_string_pretty(&out)
    }
    .map_err(|e| CliError::refused(format!("cannot print the token: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Verifies the callback and exchanges its code.
fn finish(
    flow: &Flow,
    client: &BlockingClient,
    query: &str,
    state: &str,
) -> Result<Token, CliError> {
    match flow {
        Flow::Tf56(app) => {
            let code = kaifang::tf56::parse_callback(query, state).map_err(callback_error)?;
            Ok(client.execute(&TokenRequest::new(app, Tf56Grant::AuthorizationCode(code))?)?)
        }
        Flow::Tianyi(app) => {
            let code =
                kaifang::tianyi::auth::parse_callback(query, state).map_err(callback_error)?;
            Ok(client.execute(&GetAccessToken::new(app, &TianyiGrant::AuthCode(code))?)?)
        }
    }
}

/// The callback's errors, phrased for the terminal (exit 1).
fn callback_error(e: CoreError) -> CliError {
    let code = e.platform().map(|p| p.code.clone()).unwrap_or_default();
    match code.as_str() {
        "state_mismatch" => CliError::refused(
            "the callback's state does not match the one this login sent (possible CSRF or a \
             stale browser tab); nothing was exchanged: run `kaifang login` again",
        ),
        "access_denied" | "login_refused" | "missing_code" | "missing_auth_code" => {
            CliError::refused(format!(
                "the user denied the authorization (the callback carried no code: {e})"
            ))
        }
        _ => CliError::from(e),
    }
}

/// Runs `xdg-open URL` in the background; a failure is only a note.
fn open_browser(url: &str) {
    let child = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        // Reaped in the background so no zombie is left; its outcome does not matter.
        Ok(mut c) => {
            std::thread::spawn(move || {
                let _ = c.wait();
            });
        }
        Err(e) => {
            eprintln!("kaifang: could not open a browser (xdg-open: {e}); open the URL yourself")
        }
    }
}

/// A request head read from one browser connection.
struct Incoming {
    target: Option<String>,
    stream: TcpStream,
}

/// Accepts connections until a `GET /callback` arrives or the deadline passes. Other paths
/// (`/favicon.ico`, …) get a 404 and the wait goes on. Each connection is read on its own
/// thread, so a silent connection (a browser's preconnect) cannot hold up the real one.
fn wait_for_callback(
    listener: &TcpListener,
    deadline: Instant,
    timeout_secs: u64,
) -> Result<(String, TcpStream), CliError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| CliError::bad_input(format!("the callback listener: {e}")))?;
    let (tx, rx) = mpsc::channel::<Incoming>();
    loop {
        if Instant::now() >= deadline {
            return Err(CliError::refused(format!(
                "no login callback within {timeout_secs} s (the browser never came back to \
                 the loopback address); run `kaifang login` again, or raise --timeout"
            )));
        }
        match listener.accept() {
            Ok((stream, peer)) => spawn_reader(stream, peer, tx.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(CliError::Network(format!(
                    "the callback listener failed: {e}"
                )));
            }
        }
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(25));
        if let Ok(mut incoming) = rx.recv_timeout(wait) {
            match incoming.target.as_deref().map(split_target) {
                Some((path, query)) if path == CALLBACK_PATH => {
                    return Ok((query.to_owned(), incoming.stream));
                }
                Some(_) => answer(
                    &mut incoming.stream,
                    "404 Not Found",
                    &result_page("Not found", "This is the kaifang login callback."),
                ),
                None => answer(
                    &mut incoming.stream,
                    "400 Bad Request",
                    &result_page("Bad request", "Expected a GET request."),
                ),
            }
        }
    }
}

fn spawn_reader(stream: TcpStream, peer: SocketAddr, tx: mpsc::Sender<Incoming>) {
    // Only loopback peers can connect to a 127.0.0.1 listener; checked anyway.
    if !peer.ip().is_loopback() {
        return;
    }
    std::thread::spawn(move || {
        let mut stream = stream;
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
        let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
        let Some(head) = read_head(&mut stream) else {
            return;
        };
        let target = request_target(&head);
        let _ = tx.send(Incoming { target, stream });
    });
}

/// Reads up to the end of the request head (`\r\n\r\n`); `None` when the peer sends nothing.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while buf.len() < MAX_HEAD {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n)?);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned())
}

/// The target of a `GET` (or `HEAD`) request line; `None` for anything else.
fn request_target(head: &str) -> Option<String> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    if !matches!(method, "GET" | "HEAD") || !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    Some(target.to_owned())
}

/// `(path, query)` of an origin-form target (`/callback?state=…`).
fn split_target(target: &str) -> (&str, &str) {
    let target = target.split('#').next().unwrap_or(target);
    target.split_once('?').unwrap_or((target, ""))
}

fn answer(stream: &mut TcpStream, status: &str, html: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        html.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(html.as_bytes());
    let _ = stream.flush();
}

fn html_escape(s: &str) -> String {
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

fn result_page(title: &str, message: &str) -> String {
    let (title, message) = (html_escape(title), html_escape(message));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} — kaifang</title>\
         <style>body{{font-family:sans-serif;max-width:36em;margin:4em auto}}</style></head>\
         <body><h1 id=\"result\">{title}</h1><p id=\"message\">{message}</p></body></html>\n"
    )
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (proleptic Gregorian, UTC).
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = kaifang::core::time::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The token as printed: values redacted unless `show_secrets`.
fn token_json(platform: &str, t: &Token, show_secrets: bool, now: SystemTime) -> Value {
    let shown = |s: &SecretString| {
        if show_secrets {
            s.expose_secret().to_owned()
        } else {
            REDACTED.to_owned()
        }
    };
    let expires_in = t
        .expires_at
        .duration_since(now)
        .unwrap_or_default()
        .as_secs();
    let expires_at = unix_secs(t.expires_at);
    json!({
        "platform": platform,
        "token_type": t.token_type,
        "access_token": shown(&t.access),
        "refresh_token": t.refresh.as_ref().map(shown),
        "expires_in": expires_in,
        "expires_at": expires_at,
        "expiry": rfc3339(expires_at),
        "refresh_expiry": t.refresh_expires_at.map(|r| rfc3339(unix_secs(r))),
        "scope": t.scope.join(" "),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn request_lines() {
        assert_eq!(
            request_target("GET /callback?state=a&code=b HTTP/1.1\r\nHost: x\r\n\r\n").as_deref(),
            Some("/callback?state=a&code=b")
        );
        assert_eq!(request_target("POST /callback HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_target("GET /callback\r\n\r\n"), None);
        assert_eq!(request_target(""), None);
        assert_eq!(split_target("/callback?a=1#f"), ("/callback", "a=1"));
        assert_eq!(split_target("/favicon.ico"), ("/favicon.ico", ""));
    }

    #[test]
    fn token_values_are_redacted_unless_asked() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let t = Token::from_expires_in("MARKER-access", now, 7200)
            .with_refresh("MARKER-refresh", Some(86_400))
            .with_token_type("bearer")
            .with_scope(["all"]);
        let v = token_json("tf56", &t, false, now);
        assert!(!v.to_string().contains("MARKER"), "{v}");
        assert_eq!(v["access_token"], REDACTED);
        assert_eq!(v["refresh_token"], REDACTED);
        assert_eq!(v["expires_in"], 7200);
        assert_eq!(v["expiry"], "2023-11-15T00:13:20Z");
        assert_eq!(v["token_type"], "bearer");
        assert_eq!(v["scope"], "all");
        let v = token_json("tf56", &t, true, now);
        assert_eq!(v["access_token"], "MARKER-access");
        assert_eq!(v["refresh_token"], "MARKER-refresh");
    }

    #[test]
    fn pages_escape_messages() {
        let p = result_page("Login failed", "<script>x</script>");
        assert!(p.contains("&lt;script&gt;"));
        assert!(!p.contains("<script>"));
    }
}
