//! tf56 (Transfar open gateway) end to end: kaifang's client through both transports against the
//! sandbox's `tf56` module. Every grant (client_credentials, authorization_code through the login
//! page, password, refresh_token), refresh-token rotation, reactive retry after revoke and after
//! expiry on the sandbox clock, and the refusals (wrong secret, wrong redirect URI, replayed code,
//! deny on the login page) as typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use kaifang_e2e::runtime;
use kaifang_proto_core::Error;
use kaifang_proto_core::error::ErrorClass;
use kaifang_proto_core::secret::{AccessToken, SecretString};
use kaifang_proto_core::token::Token;
use kaifang_proto_core::transport::TransportConfig;
use kaifang_proto_tf56::server::{
    CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, CODE_CLIENT_SECRET, DEMO_PASSWORD, DEMO_USERNAME,
    PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET,
};
use kaifang_proto_tf56::{
    AuthorizeRequest, ClientAuth, Grant, Tf56, Tf56Config, Tf56Tokens, TokenRequest, parse_callback,
};
use kaifang_sandbox::platforms::tf56::Tf56Module;
use kaifang_sandbox::{BlockingSandbox, Sandbox};
use kaifang_transport_async::{AsyncClient, TokenManager as AsyncTokens};
use kaifang_transport_blocking::{BlockingClient, TokenManager as BlockingTokens};
use serde_json::{Value, json};

const TOKEN_PATH: &str = "/openGateway/oauth/token";
const HELLO_PATH: &str = "/openGateway/oauthentry/tf56.open.demo/1/sayHello";

// ---------------------------------------------------------------------------------------------
// helpers

fn sandbox() -> BlockingSandbox {
    Sandbox::builder()
        .module(Tf56Module)
        .seed(56)
        .start_blocking()
        .expect("sandbox starts")
}

/// Client `7` (the public client of the seed) against the sandbox.
fn public_app(sb: &BlockingSandbox, auth: ClientAuth) -> Tf56 {
    Tf56::new(
        Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET)
            .base_url(sb.base_url())
            .client_auth(auth),
    )
    .unwrap()
}

/// Client `1` (the seed's authorization-code client) against the sandbox.
fn code_app(sb: &BlockingSandbox, redirect: &str) -> Tf56 {
    Tf56::new(
        Tf56Config::new(CODE_CLIENT_ID, CODE_CLIENT_SECRET)
            .base_url(sb.base_url())
            .redirect_uri(redirect)
            .scope("all"),
    )
    .unwrap()
}

fn blocking() -> Arc<BlockingClient> {
    Arc::new(BlockingClient::new(TransportConfig::default()).unwrap())
}

fn asynch() -> Arc<AsyncClient> {
    Arc::new(AsyncClient::new(TransportConfig::default()).unwrap())
}

fn access(t: &Token) -> AccessToken {
    AccessToken::from(t.access.clone())
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn assert_uuid_token(t: &Token, ttl: u64, with_refresh: bool) {
    assert!(is_hex32(t.access.expose_secret()));
    assert_eq!(t.token_type.as_deref(), Some("uuid"));
    assert_eq!(t.ttl(), Duration::from_secs(ttl));
    assert_eq!(t.refresh.is_some(), with_refresh);
    if let Some(r) = &t.refresh {
        assert!(is_hex32(r.expose_secret()));
        assert_ne!(r.expose_secret(), t.access.expose_secret());
    }
}

/// The platform error code of `e` (panics on other errors).
fn code_of(e: &Error) -> &str {
    &e.platform()
        .unwrap_or_else(|| panic!("expected a platform error, got {e}"))
        .code
}

/// No secret of the seed tenant appears in an error's `Display` or `Debug`.
fn assert_no_secret(e: &Error) {
    let shown = format!("{e} {e:?}");
    for secret in [PUBLIC_CLIENT_SECRET, CODE_CLIENT_SECRET, DEMO_PASSWORD] {
        assert!(!shown.contains(secret), "secret leaked in {shown}");
    }
}

/// A minimal HTTP/1.1 exchange over a fresh TCP connection: the transports never follow a
/// redirect and redact its `Location`, but the authorization-code flow needs to read the
/// callback the browser would be sent to.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn raw(method: &str, url: &str, content_type: Option<&str>, body: &str) -> Raw {
    let u = url::Url::parse(url).unwrap();
    let host = format!(
        "{}:{}",
        u.host_str().unwrap(),
        u.port_or_known_default().unwrap()
    );
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Raw {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// The login page with `kaifang_auto=<decision>`: returns the callback URL (302 `Location`).
fn auto_login(page: &AuthorizeRequest, decision: &str) -> String {
    let resp = raw(
        "GET",
        &format!("{}&kaifang_auto={decision}", page.url()),
        None,
        "",
    );
    assert_eq!(resp.status, 302, "{}", resp.body);
    resp.header("location").unwrap().to_owned()
}

fn fresh_page(app: &Tf56) -> AuthorizeRequest {
    // A state with characters that need encoding, to see it come back unchanged.
    AuthorizeRequest::with_state(app, "st/8 &é").unwrap()
}

/// Calls of a gateway API (the client posts a form; `GET` with the query also works).
fn api_calls(sb: &BlockingSandbox, path: &str) -> u64 {
    sb.count(&format!("POST {path}")) + sb.count(&format!("GET {path}"))
}

fn token_requests(sb: &BlockingSandbox) -> u64 {
    sb.count(&format!("POST {TOKEN_PATH}"))
}

// ---------------------------------------------------------------------------------------------
// client_credentials

#[test]
fn client_credentials_blocking_every_client_auth_style() {
    let sb = sandbox();
    let client = blocking();
    for auth in [
        ClientAuth::QueryParams,
        ClientAuth::FormBody,
        ClientAuth::BasicAuth,
    ] {
        let app = public_app(&sb, auth);
        let t = client
            .execute(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
            .unwrap();
        assert_uuid_token(&t, 1800, false);
        assert_eq!(t.scope, ["商铺", "good-list", "op-truck", "open-demo"]);
        let hello = client.execute(&app.say_hello(&access(&t))).unwrap();
        assert_eq!(hello.message, "Hello, 7!");
        assert_eq!(hello.client_id.as_deref(), Some("7"));
    }
}

#[test]
fn client_credentials_async_through_the_token_manager() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::QueryParams);
    runtime().block_on(async {
        let tokens = AsyncTokens::new(asynch());
        let source = Arc::new(Tf56Tokens::client_credentials(&app));
        let t = tokens.token(&source).await.unwrap();
        assert_uuid_token(&t, 1800, false);
        let hello = tokens
            .call_with_token(&source, |t| app.say_hello(&access(t)))
            .await
            .unwrap();
        assert_eq!(hello.message, "Hello, 7!");
    });
    // One token request: the second call was served from the cache.
    assert_eq!(token_requests(&sb), 1);
}

#[test]
fn client_credentials_answer_is_the_seed_line() {
    let sb = sandbox();
    let url = sb.url(&format!(
        "{TOKEN_PATH}?grant_type=client_credentials&client_id={PUBLIC_CLIENT_ID}&client_secret={PUBLIC_CLIENT_SECRET}"
    ));
    let resp = raw("POST", &url, None, "");
    assert_eq!(resp.status, 200);
    assert!(!resp.body.contains('\n'));
    let prefix = r#"{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":""#;
    assert!(resp.body.starts_with(prefix), "{}", resp.body);
    // sdgs.main.GetToken: substring(lastIndexOf(":")+2, lastIndexOf("}")-1)
    let line = &resp.body;
    let token = &line[line.rfind(':').unwrap() + 2..line.rfind('}').unwrap() - 1];
    assert!(is_hex32(token), "{token}");
    assert_eq!(resp.header("cache-control"), Some("no-store"));
}

// ---------------------------------------------------------------------------------------------
// authorization_code through the login page

#[test]
fn authorization_code_blocking_via_auto_approve() {
    let sb = sandbox();
    let app = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    let page = fresh_page(&app);
    let callback = auto_login(&page, "approve");
    // The seed's shape: redirect_uri?state=…&code=<32 hex>, state first and unchanged.
    let u = url::Url::parse(&callback).unwrap();
    assert_eq!(u.host_str(), Some("test.tf56.com"));
    let pairs: Vec<(String, String)> = u.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
    assert_eq!(pairs[0], ("state".to_owned(), "st/8 &é".to_owned()));
    assert_eq!(pairs[1].0, "code");
    assert!(is_hex32(&pairs[1].1));

    let code = parse_callback(&callback, page.state()).unwrap();
    let tokens = BlockingTokens::new(blocking());
    let source = Tf56Tokens::authorization_code(&app).with_code(code);
    let t = tokens.token(&source).unwrap();
    assert_uuid_token(&t, 25_200, true);
    assert_eq!(t.scope, ["all"]);
    let me = tokens
        .call_with_token(&source, |t| app.query_user_info(&access(t)))
        .unwrap();
    assert_eq!(me.username.as_deref(), Some(DEMO_USERNAME));
    assert_eq!(me.realname.as_deref(), Some("张三"));
    let hello = tokens
        .call_with_token(&source, |t| app.say_hello(&access(t)))
        .unwrap();
    assert_eq!(hello.message, "Hello, 1!");
}

#[test]
fn authorization_code_async_via_auto_approve_with_another_user() {
    let sb = sandbox();
    let app = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    let page = fresh_page(&app);
    let callback = auto_login(
        &AuthorizeRequest::with_state(&app, page.state()).unwrap(),
        "approve&kaifang_user=lisi",
    );
    let code = parse_callback(&callback, page.state()).unwrap();
    runtime().block_on(async {
        let tokens = AsyncTokens::new(asynch());
        let source = Arc::new(Tf56Tokens::authorization_code(&app).with_code(code));
        let t = tokens.token(&source).await.unwrap();
        assert_uuid_token(&t, 25_200, true);
        let me = tokens
            .call_with_token(&source, |t| app.query_user_info(&access(t)))
            .await
            .unwrap();
        assert_eq!(me.user_id, "lisi");
        assert_eq!(me.username.as_deref(), Some("lisi"));
    });
}

#[test]
fn login_page_html_approve_and_deny_buttons() {
    let sb = sandbox();
    let app = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    let page = fresh_page(&app);
    let html = raw("GET", page.url(), None, "");
    assert_eq!(html.status, 200);
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    for needle in [
        "tf56 test app",
        r#"id="approve""#,
        r#"id="deny""#,
        "test.tf56.com",
    ] {
        assert!(html.body.contains(needle), "{needle} not in the page");
    }
    let marker = r#"name="login_id" value=""#;
    let at = html.body.find(marker).unwrap() + marker.len();
    let login_id = html.body[at..].split('"').next().unwrap().to_owned();

    let decided = raw(
        "POST",
        &sb.url("/__sandbox/login/decision"),
        Some("application/x-www-form-urlencoded"),
        &format!("login_id={login_id}&decision=approve&user=demo"),
    );
    assert_eq!(decided.status, 303);
    let code = parse_callback(decided.header("location").unwrap(), page.state()).unwrap();
    let t = blocking()
        .execute(&TokenRequest::new(&app, Grant::AuthorizationCode(code)).unwrap())
        .unwrap();
    assert_uuid_token(&t, 25_200, true);

    // The same page, denied by the button.
    let page = fresh_page(&app);
    let html = raw("GET", page.url(), None, "");
    let at = html.body.find(marker).unwrap() + marker.len();
    let login_id = html.body[at..].split('"').next().unwrap().to_owned();
    let denied = raw(
        "POST",
        &sb.url("/__sandbox/login/decision"),
        Some("application/x-www-form-urlencoded"),
        &format!("login_id={login_id}&decision=deny"),
    );
    assert_eq!(denied.status, 303);
    let err = parse_callback(denied.header("location").unwrap(), page.state()).unwrap_err();
    assert_eq!(code_of(&err), "access_denied");
}

#[test]
fn deny_at_the_login_page_is_a_typed_error() {
    let sb = sandbox();
    let app = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    let page = fresh_page(&app);
    let callback = auto_login(&page, "deny");
    let u = url::Url::parse(&callback).unwrap();
    assert_eq!(
        u.query(),
        Some("error=access_denied&state=st%2F8+%26%C3%A9")
    );
    let err = parse_callback(&callback, page.state()).unwrap_err();
    let p = err.platform().unwrap();
    assert_eq!((p.platform, p.code.as_str()), ("tf56", "access_denied"));
    assert_eq!(p.class, ErrorClass::Permission);
    assert!(p.hint.is_some());
    // And a forged state is refused before anything else.
    let err = parse_callback(&callback, "another-state").unwrap_err();
    assert_eq!(code_of(&err), "state_mismatch");
}

#[test]
fn wrong_redirect_uri_on_the_page_and_at_the_token_endpoint() {
    let sb = sandbox();
    // On the authorize page: shown (400), never redirected to the unregistered URI.
    let evil = code_app(&sb, "http://evil.example/cb");
    let page = fresh_page(&evil);
    let resp = raw(
        "GET",
        &format!("{}&kaifang_auto=approve", page.url()),
        None,
        "",
    );
    assert_eq!(resp.status, 400);
    assert!(resp.header("location").is_none());
    let body: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(body["error"], "invalid_request");

    // At the token endpoint: a code obtained for the registered URI, exchanged with another.
    let good = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    let page = fresh_page(&good);
    let code = parse_callback(&auto_login(&page, "approve"), page.state()).unwrap();
    let other = code_app(&sb, "http://test.tf56.com/other");
    let err = blocking()
        .execute(&TokenRequest::new(&other, Grant::AuthorizationCode(code)).unwrap())
        .unwrap_err();
    assert_eq!(code_of(&err), "invalid_grant");
    assert!(err.to_string().contains("Redirect URI mismatch"), "{err}");
    assert_eq!(err.class(), ErrorClass::BadRequest);
}

#[test]
fn replayed_code_is_refused_async() {
    let sb = sandbox();
    let app = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    let page = fresh_page(&app);
    let code = parse_callback(&auto_login(&page, "approve"), page.state()).unwrap();
    runtime().block_on(async {
        let client = asynch();
        let first = client
            .execute(&TokenRequest::new(&app, Grant::AuthorizationCode(code.clone())).unwrap())
            .await
            .unwrap();
        assert_uuid_token(&first, 25_200, true);
        let err = client
            .execute(&TokenRequest::new(&app, Grant::AuthorizationCode(code)).unwrap())
            .await
            .unwrap_err();
        assert_eq!(code_of(&err), "invalid_grant");
        assert_eq!(err.class(), ErrorClass::BadRequest);
    });
}

#[test]
fn a_used_code_makes_the_manager_ask_for_a_new_login() {
    let sb = sandbox();
    let app = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    // Minted code: the login skipped.
    let minted = sb
        .mint("tf56", "code", json!({"client_id": CODE_CLIENT_ID}))
        .unwrap();
    assert_eq!(minted["redirect_uri"], CODE_CLIENT_REDIRECT_URI);
    let code = minted["code"].as_str().unwrap().to_owned();
    let tokens = BlockingTokens::new(blocking());
    let source = Tf56Tokens::authorization_code(&app).with_code(code);
    tokens.token(&source).unwrap();
    // Refresh token and access token both revoked: the manager's refresh fails, then it has no
    // code left.
    let refresh_and_access: Vec<String> = sb
        .tokens()
        .entries("tf56")
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    for v in &refresh_and_access {
        sb.revoke(Some("tf56"), v).unwrap();
    }
    let err = tokens
        .call_with_token(&source, |t| app.query_user_info(&access(t)))
        .unwrap_err();
    // The refresh is refused (invalid_grant), the single-use code is gone: log in again.
    assert!(kaifang_proto_tf56::codes::is_login_required(&err), "{err}");
    let again = sb
        .mint("tf56", "code", json!({"client_id": CODE_CLIENT_ID}))
        .unwrap();
    source.set_code(again["code"].as_str().unwrap());
    // The manager backs off briefly after the failed refresh (it says for how long).
    let call = || tokens.call_with_token(&source, |t| app.query_user_info(&access(t)));
    let me = match call() {
        Err(Error::RefreshBackoff { retry_in, .. }) => {
            std::thread::sleep(retry_in + Duration::from_millis(50));
            call().unwrap()
        }
        other => other.unwrap(),
    };
    assert_eq!(me.username.as_deref(), Some(DEMO_USERNAME));
}

// ---------------------------------------------------------------------------------------------
// password and refresh_token

#[test]
fn password_grant_both_transports() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::QueryParams);
    let pw = || SecretString::new(DEMO_PASSWORD);
    let tokens = BlockingTokens::new(blocking());
    let source = Tf56Tokens::password(&app, DEMO_USERNAME, pw());
    let t = tokens.token(&source).unwrap();
    assert_uuid_token(&t, 25_200, true);
    let me = tokens
        .call_with_token(&source, |t| app.query_user_info(&access(t)))
        .unwrap();
    assert_eq!(me.user_id, "10001");
    assert_eq!(me.mobile.as_deref(), Some("13800000000"));

    runtime().block_on(async {
        let tokens = AsyncTokens::new(asynch());
        let source = Arc::new(Tf56Tokens::password(&app, DEMO_USERNAME, pw()));
        let me = tokens
            .call_with_token(&source, |t| app.query_user_info(&access(t)))
            .await
            .unwrap();
        assert_eq!(me.realname.as_deref(), Some("张三"));
        // A wrong password: invalid_grant, the password nowhere in the error.
        let bad = TokenRequest::new(
            &app,
            Grant::Password {
                username: DEMO_USERNAME.into(),
                password: SecretString::new("demo123456-wrong"),
            },
        )
        .unwrap();
        let err = asynch().execute(&bad).await.unwrap_err();
        assert_eq!(code_of(&err), "invalid_grant");
        assert!(!format!("{err} {err:?}").contains("demo123456-wrong"));
    });
}

fn password_token(client: &BlockingClient, app: &Tf56) -> Token {
    client
        .execute(
            &TokenRequest::new(
                app,
                Grant::Password {
                    username: DEMO_USERNAME.into(),
                    password: SecretString::new(DEMO_PASSWORD),
                },
            )
            .unwrap(),
        )
        .unwrap()
}

#[test]
fn refresh_rotates_blocking() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::QueryParams);
    let client = blocking();
    let first = password_token(&client, &app);
    let r1 = first.refresh.clone().unwrap();
    let second = client
        .execute(&TokenRequest::new(&app, Grant::RefreshToken(r1.clone())).unwrap())
        .unwrap();
    assert_uuid_token(&second, 25_200, true);
    let r2 = second.refresh.clone().unwrap();
    assert_ne!(r1.expose_secret(), r2.expose_secret());
    assert_ne!(first.access.expose_secret(), second.access.expose_secret());

    // The old refresh token is refused, the old access token revoked, the new ones work.
    let err = client
        .execute(&TokenRequest::new(&app, Grant::RefreshToken(r1)).unwrap())
        .unwrap_err();
    assert_eq!(code_of(&err), "invalid_grant");
    let err = client.execute(&app.say_hello(&access(&first))).unwrap_err();
    assert!(err.is_token_invalid(), "{err}");
    assert_eq!(code_of(&err), "invalid_token");
    client.execute(&app.say_hello(&access(&second))).unwrap();
    let third = client
        .execute(&TokenRequest::new(&app, Grant::RefreshToken(r2)).unwrap())
        .unwrap();
    assert!(third.refresh.is_some());
}

#[test]
fn refresh_rotates_async_with_the_standard_form_body() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::FormBody);
    runtime().block_on(async {
        let client = asynch();
        let first = client
            .execute(
                &TokenRequest::new(
                    &app,
                    Grant::Password {
                        username: DEMO_USERNAME.into(),
                        password: SecretString::new(DEMO_PASSWORD),
                    },
                )
                .unwrap(),
            )
            .await
            .unwrap();
        let r1 = first.refresh.clone().unwrap();
        let second = client
            .execute(&TokenRequest::new(&app, Grant::RefreshToken(r1.clone())).unwrap())
            .await
            .unwrap();
        assert_uuid_token(&second, 25_200, true);
        let err = client
            .execute(&TokenRequest::new(&app, Grant::RefreshToken(r1)).unwrap())
            .await
            .unwrap_err();
        assert_eq!(code_of(&err), "invalid_grant");
    });
}

#[test]
fn spellings_follow_the_request_style() {
    let sb = sandbox();
    let pw = format!(
        "grant_type=password&username={DEMO_USERNAME}&password={DEMO_PASSWORD}&client_id={PUBLIC_CLIENT_ID}&client_secret={PUBLIC_CLIENT_SECRET}"
    );
    // The gateway's style (query, empty body): the seed's authorization_code spelling.
    let seed = raw("POST", &sb.url(&format!("{TOKEN_PATH}?{pw}")), None, "");
    assert_eq!(seed.status, 200);
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&seed.body)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(seed.body.starts_with(r#"{"scope":"#));
    assert!(
        seed.body
            .contains(r#","expiresin":25200,"tokentype":"uuid","refreshtoken":""#)
    );
    assert!(seed.body.contains(r#","accesstoken":""#), "{keys:?}");
    // A form body: RFC 6749 names, same order, access token still last.
    let std = raw(
        "POST",
        &sb.url(TOKEN_PATH),
        Some("application/x-www-form-urlencoded;charset=UTF-8"),
        &pw,
    );
    assert_eq!(std.status, 200);
    assert!(
        std.body
            .contains(r#","expires_in":25200,"token_type":"uuid","refresh_token":""#)
    );
    assert!(std.body.contains(r#","access_token":""#));
    assert!(std.body.ends_with("\"}"));
}

// ---------------------------------------------------------------------------------------------
// revoked and expired tokens: reactive retry once through the TokenManager

#[test]
fn revoked_token_is_replaced_once_blocking() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::QueryParams);
    let tokens = BlockingTokens::new(blocking());
    let source = Tf56Tokens::client_credentials(&app);
    tokens
        .call_with_token(&source, |t| app.say_hello(&access(t)))
        .unwrap();
    let old = tokens.token(&source).unwrap();
    sb.revoke(Some("tf56"), old.access.expose_secret()).unwrap();
    sb.clear_counters();

    let hello = tokens
        .call_with_token(&source, |t| app.say_hello(&access(t)))
        .unwrap();
    assert_eq!(hello.message, "Hello, 7!");
    // The rejected call, one new token, the retried call.
    assert_eq!(api_calls(&sb, HELLO_PATH), 2);
    assert_eq!(token_requests(&sb), 1);
    let new = tokens.token(&source).unwrap();
    assert_ne!(new.access.expose_secret(), old.access.expose_secret());
}

#[test]
fn revoked_user_token_is_refreshed_once_async() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::QueryParams);
    runtime().block_on(async {
        let tokens = AsyncTokens::new(asynch());
        let source = Arc::new(Tf56Tokens::password(
            &app,
            DEMO_USERNAME,
            SecretString::new(DEMO_PASSWORD),
        ));
        let old = tokens.token(&source).await.unwrap();
        sb.revoke(Some("tf56"), old.access.expose_secret()).unwrap();
        sb.clear_counters();
        sb.clear_journal();
        let me = tokens
            .call_with_token(&source, |t| app.query_user_info(&access(t)))
            .await
            .unwrap();
        assert_eq!(me.username.as_deref(), Some(DEMO_USERNAME));
        let new = tokens.token(&source).await.unwrap();
        assert_ne!(new.access.expose_secret(), old.access.expose_secret());
        // The new token came from the refresh_token grant: the refresh token rotated.
        assert_ne!(
            new.refresh.as_ref().unwrap().expose_secret(),
            old.refresh.as_ref().unwrap().expose_secret()
        );
    });
    assert_eq!(token_requests(&sb), 1);
    let journal = sb.journal();
    let token_call = journal
        .iter()
        .find(|e| e.path == TOKEN_PATH)
        .expect("a token request");
    let query = token_call.query.as_deref().unwrap_or_default();
    assert!(query.contains("grant_type=refresh_token"), "{query}");
}

#[test]
fn expired_on_the_sandbox_clock_is_replaced_once_async() {
    let sb = sandbox();
    sb.freeze_clock_at(1_700_000_000_000);
    let app = public_app(&sb, ClientAuth::BasicAuth);
    runtime().block_on(async {
        let tokens = AsyncTokens::new(asynch());
        let source = Arc::new(Tf56Tokens::client_credentials(&app));
        let old = tokens.token(&source).await.unwrap();
        // Still valid at 1,799 s.
        sb.advance_clock(Duration::from_secs(1_799));
        tokens
            .call_with_token(&source, |t| app.say_hello(&access(t)))
            .await
            .unwrap();
        assert_eq!(token_requests(&sb), 1);
        // Expired at 1,800 s on the sandbox clock; the client's clock still says valid.
        sb.advance_clock(Duration::from_secs(1));
        let err = asynch()
            .execute(&app.say_hello(&access(&old)))
            .await
            .unwrap_err();
        assert!(err.is_token_invalid(), "{err}");
        let hello = tokens
            .call_with_token(&source, |t| app.say_hello(&access(t)))
            .await
            .unwrap();
        assert_eq!(hello.message, "Hello, 7!");
    });
    assert_eq!(token_requests(&sb), 2);
}

#[test]
fn expired_on_the_sandbox_clock_is_replaced_once_blocking() {
    let sb = sandbox();
    sb.freeze_clock_at(1_700_000_000_000);
    let app = code_app(&sb, CODE_CLIENT_REDIRECT_URI);
    let code = sb
        .mint(
            "tf56",
            "code",
            json!({"client_id": CODE_CLIENT_ID, "user": "demo"}),
        )
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = BlockingTokens::new(blocking());
    let source = Tf56Tokens::authorization_code(&app).with_code(code);
    tokens
        .call_with_token(&source, |t| app.query_user_info(&access(t)))
        .unwrap();
    sb.advance_clock(Duration::from_secs(25_200));
    sb.clear_counters();
    let me = tokens
        .call_with_token(&source, |t| app.query_user_info(&access(t)))
        .unwrap();
    assert_eq!(me.username.as_deref(), Some("demo"));
    assert_eq!(
        api_calls(&sb, "/openGateway/oauthentry/open.demo/1/queryUserInfo"),
        2
    );
    assert_eq!(token_requests(&sb), 1);
}

#[test]
fn a_second_rejection_is_returned_not_looped() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::QueryParams);
    let tokens = BlockingTokens::new(blocking());
    let source = Tf56Tokens::client_credentials(&app);
    tokens.token(&source).unwrap();
    // Every new token is born dead: the retry fails too and the error comes back.
    sb.set_token_lifetime("tf56", "access_token", Some(Duration::ZERO))
        .unwrap();
    let old = tokens.token(&source).unwrap();
    sb.revoke(Some("tf56"), old.access.expose_secret()).unwrap();
    sb.clear_counters();
    let err = tokens
        .call_with_token(&source, |t| app.say_hello(&access(t)))
        .unwrap_err();
    assert!(err.is_token_invalid(), "{err}");
    assert_eq!(api_calls(&sb, HELLO_PATH), 2);
}

// ---------------------------------------------------------------------------------------------
// refusals and controls

#[test]
fn wrong_client_secret_both_transports() {
    let sb = sandbox();
    for auth in [
        ClientAuth::QueryParams,
        ClientAuth::FormBody,
        ClientAuth::BasicAuth,
    ] {
        let app = Tf56::new(
            Tf56Config::new(PUBLIC_CLIENT_ID, "00000000000000000000000000000000")
                .base_url(sb.base_url())
                .client_auth(auth),
        )
        .unwrap();
        let req = TokenRequest::new(&app, Grant::ClientCredentials).unwrap();
        let err = blocking().execute(&req).unwrap_err();
        assert_eq!(code_of(&err), "invalid_client", "{auth:?}");
        assert_no_secret(&err);
        let err = runtime().block_on(async { asynch().execute(&req).await.unwrap_err() });
        assert_eq!(code_of(&err), "invalid_client");
        assert!(!format!("{err} {err:?}").contains("00000000000000000000000000000000"));
    }
}

#[test]
fn lifetime_overrides_and_mint() {
    let sb = sandbox();
    let app = public_app(&sb, ClientAuth::QueryParams);
    sb.set_token_lifetime("tf56", "access_token", Some(Duration::from_secs(60)))
        .unwrap();
    let client = blocking();
    let t = client
        .execute(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
        .unwrap();
    assert_eq!(t.ttl(), Duration::from_secs(60));
    sb.set_token_lifetime("tf56", "access_token", None).unwrap();

    let minted = sb
        .mint(
            "tf56",
            "access_token",
            json!({"client_id": PUBLIC_CLIENT_ID}),
        )
        .unwrap();
    assert_eq!(minted["token_type"], "uuid");
    assert_eq!(minted["expires_in"], 1800);
    let token = AccessToken::new(minted["access_token"].as_str().unwrap());
    client.execute(&app.say_hello(&token)).unwrap();
    // A client token is not a user's: queryUserInfo is forbidden.
    let err = client.execute(&app.query_user_info(&token)).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permission, "{err}");

    let user = sb
        .mint(
            "tf56",
            "access_token",
            json!({"client_id": CODE_CLIENT_ID, "user": "demo"}),
        )
        .unwrap();
    assert_eq!(user["expires_in"], 25_200);
    let me = client
        .execute(&app.query_user_info(&AccessToken::new(user["access_token"].as_str().unwrap())))
        .unwrap();
    assert_eq!(me.user_id, "10001");

    // Bad mint requests are typed control errors.
    assert!(
        sb.mint("tf56", "code", json!({"client_id": "nope"}))
            .is_err()
    );
    assert!(
        sb.mint("tf56", "code", json!({"client_id": PUBLIC_CLIENT_ID}))
            .is_err()
    );
    assert!(sb.mint("tf56", "ticket", json!({})).is_err());

    // Reset forgets every token.
    sb.reset();
    let err = client.execute(&app.say_hello(&token)).unwrap_err();
    assert!(err.is_token_invalid());
}

#[test]
fn tenants_redact_secrets_and_faults_apply() {
    let sb = sandbox();
    let tenants = sb.tenants().to_string();
    assert!(tenants.contains("test.tf56.com"));
    for secret in [PUBLIC_CLIENT_SECRET, CODE_CLIENT_SECRET, DEMO_PASSWORD] {
        assert!(!tenants.contains(secret));
    }
    sb.add_fault(
        kaifang_sandbox::FaultSpec::new(TOKEN_PATH)
            .status(503, r#"{"error":"temporarily_unavailable"}"#)
            .count(1),
    )
    .unwrap();
    let app = public_app(&sb, ClientAuth::QueryParams);
    let req = TokenRequest::new(&app, Grant::ClientCredentials).unwrap();
    let err = blocking().execute(&req).unwrap_err();
    assert!(err.is_retryable(), "{err}");
    blocking().execute(&req).unwrap();
}
