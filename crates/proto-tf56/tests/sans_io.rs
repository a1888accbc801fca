//! The client half against the server half, with no I/O: every request the client builds is
//! answered by `server::Tenant::handle` exactly as the sandbox will, at a frozen time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock, SeqNonce};
use kaifang_proto_core::exchange::{Exchange, run_with};
use kaifang_proto_core::lifecycle::{Plan, TokenSource};
use kaifang_proto_core::secret::{AccessToken, SecretString};
use kaifang_proto_core::token::Token;
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_tf56::server::{
    self, CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, CODE_CLIENT_SECRET, DEMO_PASSWORD,
    DEMO_USERNAME, InvalidTokenStyle, MemoryStore, PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET, Store,
    Tenant, TokenSpelling,
};
use kaifang_proto_tf56::token::parse_token;
use kaifang_proto_tf56::{
    ApiCall, ApiMethod, AuthorizeRequest, ClientAuth, Grant, Tf56, Tf56Config, Tf56Tokens,
    TokenPlacement, TokenRequest, codes, parse_callback,
};
use serde_json::Value;

const NOW: i64 = 1_700_000_000_000;
const STYLES: [ClientAuth; 3] = [
    ClientAuth::QueryParams,
    ClientAuth::FormBody,
    ClientAuth::BasicAuth,
];

/// The client and the emulated gateway, sharing one frozen clock.
struct World {
    clock: Arc<FrozenClock>,
    ctx: Context,
    tenant: Tenant,
    store: MemoryStore,
}

impl World {
    fn new() -> Self {
        Self::with_tenant(Tenant::default())
    }

    fn with_tenant(tenant: Tenant) -> Self {
        let clock = Arc::new(FrozenClock::from_unix_millis(NOW));
        let ctx = Context::new(clock.clone(), Arc::new(SeqNonce::new(42)));
        World {
            clock,
            ctx,
            tenant,
            store: MemoryStore::new(),
        }
    }

    fn run<E: Exchange>(&mut self, exchange: &E) -> Result<E::Output, Error> {
        let (tenant, store, ctx) = (&self.tenant, &mut self.store, &self.ctx);
        run_with(exchange, ctx, |req| Ok(tenant.handle(store, ctx, &req)))
    }

    fn send(&mut self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        self.tenant.handle(&mut self.store, &self.ctx, req)
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Logs the demo user in on the authorize page (non-interactive) and returns the code.
    fn login(&mut self, app: &Tf56) -> SecretString {
        let page = AuthorizeRequest::new(app, &self.ctx).unwrap();
        let req = http::Request::get(page.url()).body(Vec::new()).unwrap();
        let resp = self.send(&req);
        assert_eq!(
            resp.status(),
            302,
            "{:?}",
            String::from_utf8_lossy(resp.body())
        );
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("http://test.tf56.com?state="),
            "{location}"
        );
        parse_callback(&location, page.state()).unwrap()
    }
}

fn public_app(auth: ClientAuth) -> Tf56 {
    Tf56::new(Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET).client_auth(auth)).unwrap()
}

fn code_app(auth: ClientAuth) -> Tf56 {
    Tf56::new(
        Tf56Config::new(CODE_CLIENT_ID, CODE_CLIENT_SECRET)
            .redirect_uri(CODE_CLIENT_REDIRECT_URI)
            .scope("all")
            .client_auth(auth),
    )
    .unwrap()
}

fn access(token: &Token) -> AccessToken {
    AccessToken::from(token.access.clone())
}

fn is_token_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn platform(err: &Error) -> &kaifang_proto_core::error::PlatformError {
    err.platform()
        .unwrap_or_else(|| panic!("expected a platform error, got {err:?}"))
}

#[test]
fn the_seed_request_is_what_the_java_client_sends() {
    let app = public_app(ClientAuth::QueryParams);
    let req = TokenRequest::new(&app, Grant::ClientCredentials)
        .unwrap()
        .build(&Context::system())
        .unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.uri(),
        "https://open.tf56.com/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret=7fad9d6b20e849219d6888b25e3f40db"
    );
    assert!(req.body().is_empty());
    assert!(req.headers().get("content-type").is_none());
}

#[test]
fn client_credentials_in_every_client_auth_style() {
    for style in STYLES {
        let mut w = World::new();
        let app = public_app(style);
        let token = w
            .run(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
            .unwrap_or_else(|e| panic!("{style:?}: {e}"));
        assert!(is_token_hex(token.access.expose_secret()));
        assert_eq!(token.token_type.as_deref(), Some("uuid"));
        assert_eq!(token.ttl(), Duration::from_secs(1800));
        assert_eq!(token.scope, ["商铺", "good-list", "op-truck", "open-demo"]);
        assert!(token.refresh.is_none());
        let hello = w.run(&app.say_hello(&access(&token))).unwrap();
        assert_eq!(hello.message, "Hello, 7!");
        assert_eq!(hello.client_id.as_deref(), Some("7"));
    }
}

#[test]
fn client_credentials_answer_is_one_line_in_the_seed_order_with_the_token_last() {
    // The exact bytes for given values.
    assert_eq!(
        server::token_json(
            TokenSpelling::Underscored,
            "商铺 good-list op-truck open-demo",
            1800,
            None,
            "d45e242ad95238cfa9a24436153adfa0"
        ),
        r#"{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":"d45e242ad95238cfa9a24436153adfa0"}"#
    );
    // And what the server sends, parsed the way `sdgs.main.GetToken` does.
    let mut w = World::new();
    let req = http::Request::post("http://sandbox/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret=7fad9d6b20e849219d6888b25e3f40db")
        .body(Vec::new())
        .unwrap();
    let resp = w.send(&req);
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    let line = String::from_utf8(resp.body().clone()).unwrap();
    assert!(!line.contains('\n'));
    let token = &line[line.rfind(':').unwrap() + 2..line.rfind('}').unwrap() - 1];
    assert!(is_token_hex(token), "{line}");
    assert_eq!(
        line,
        format!(
            r#"{{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":"{token}"}}"#
        )
    );
}

#[test]
fn authorization_code_in_every_client_auth_style() {
    for style in STYLES {
        let mut w = World::new();
        let app = code_app(style);
        let code = w.login(&app);
        let exchange = TokenRequest::new(&app, Grant::AuthorizationCode(code)).unwrap();
        let req = exchange.build(&w.ctx).unwrap();
        let resp = w.send(&req);
        let body = String::from_utf8(resp.body().clone()).unwrap();
        // The seed's spelling and key order.
        assert!(
            body.starts_with(
                r#"{"scope":"all","expiresin":25200,"tokentype":"uuid","refreshtoken":""#
            ),
            "{style:?}: {body}"
        );
        let token = exchange.parse(&w.ctx, resp).unwrap();
        assert_eq!(token.ttl(), Duration::from_secs(25_200));
        assert!(token.refresh.is_some());
        let user = w.run(&app.query_user_info(&access(&token))).unwrap();
        assert_eq!(user.username.as_deref(), Some(DEMO_USERNAME));
        assert_eq!(user.realname.as_deref(), Some("张三"));
        assert_eq!(user.user_id, "10001");
    }
}

#[test]
fn password_in_every_client_auth_style() {
    for style in STYLES {
        let mut w = World::new();
        let app = public_app(style);
        let grant = Grant::Password {
            username: DEMO_USERNAME.into(),
            password: SecretString::new(DEMO_PASSWORD),
        };
        let token = w.run(&TokenRequest::new(&app, grant).unwrap()).unwrap();
        assert_eq!(token.ttl(), Duration::from_secs(25_200));
        assert!(token.refresh.is_some());
        let user = w.run(&app.query_user_info(&access(&token))).unwrap();
        assert_eq!(user.mobile.as_deref(), Some("13800000000"));

        let wrong = Grant::Password {
            username: DEMO_USERNAME.into(),
            password: SecretString::new("MARKER-wrong-password"),
        };
        let err = w.run(&TokenRequest::new(&app, wrong).unwrap()).unwrap_err();
        assert_eq!(platform(&err).code, "invalid_grant");
        assert!(!format!("{err} {err:?}").contains("MARKER"));
    }
}

#[test]
fn refresh_rotates_in_every_client_auth_style() {
    for style in STYLES {
        let mut w = World::new();
        let app = code_app(style);
        let code = w.login(&app);
        let first = w
            .run(&TokenRequest::new(&app, Grant::AuthorizationCode(code)).unwrap())
            .unwrap();
        let old_refresh = first.refresh.clone().unwrap();
        w.advance(60);
        let second = w
            .run(&TokenRequest::new(&app, Grant::RefreshToken(old_refresh.clone())).unwrap())
            .unwrap();
        assert_ne!(second.access, first.access);
        assert_ne!(second.refresh.as_ref().unwrap(), &old_refresh);
        // A refreshed token keeps the lifetime of its original grant.
        assert_eq!(second.ttl(), Duration::from_secs(25_200));

        // The old refresh token is refused: a bad request, so the lifecycle falls back.
        let err = w
            .run(&TokenRequest::new(&app, Grant::RefreshToken(old_refresh)).unwrap())
            .unwrap_err();
        assert_eq!(platform(&err).code, "invalid_grant");
        assert_eq!(err.class(), ErrorClass::BadRequest);
        // The old access token was revoked with it; the new one works.
        let err = w.run(&app.say_hello(&access(&first))).unwrap_err();
        assert!(err.is_token_invalid(), "{err}");
        assert!(w.run(&app.say_hello(&access(&second))).is_ok());
    }
}

#[test]
fn revoked_and_expired_tokens_are_token_invalid_in_both_styles() {
    for style in [InvalidTokenStyle::OAuth, InvalidTokenStyle::Gateway] {
        let mut w = World::with_tenant(Tenant {
            invalid_token_style: style,
            ..Tenant::default()
        });
        let app = public_app(ClientAuth::QueryParams);
        let token = w
            .run(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
            .unwrap();
        assert!(w.store.revoke_access(token.access.expose_secret()));
        let err = w.run(&app.say_hello(&access(&token))).unwrap_err();
        assert!(err.is_token_invalid(), "{style:?}: {err}");

        let token = w
            .run(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
            .unwrap();
        w.advance(1799);
        assert!(w.run(&app.say_hello(&access(&token))).is_ok());
        w.advance(1);
        let err = w.run(&app.say_hello(&access(&token))).unwrap_err();
        assert!(err.is_token_invalid(), "{style:?}: {err}");
        match style {
            InvalidTokenStyle::OAuth => assert_eq!(platform(&err).code, "invalid_token"),
            InvalidTokenStyle::Gateway => assert_eq!(platform(&err).code, codes::GW_TOKEN_INVALID),
        }
        assert!(!err.to_string().contains(token.access.expose_secret()));
    }
}

#[test]
fn a_401_is_token_invalid_whatever_the_body() {
    let app = public_app(ClientAuth::QueryParams);
    let ctx = Context::system();
    for body in [
        &br#"{"error":"unauthorized","error_description":"Full authentication is required"}"#[..],
        br#"{"result":"error","code":"E1","msg":"denied"}"#,
        b"<html>401</html>",
    ] {
        let call = app.say_hello(&AccessToken::new("t"));
        let err = run_with(&call, &ctx, |_| {
            let mut r = http::Response::new(body.to_vec());
            *r.status_mut() = http::StatusCode::UNAUTHORIZED;
            Ok(r)
        })
        .unwrap_err();
        assert!(err.is_token_invalid(), "{err}");
    }
}

#[test]
fn wrong_client_secret_is_invalid_client_and_never_echoed() {
    for style in STYLES {
        let mut w = World::new();
        let app = Tf56::new(
            Tf56Config::new(PUBLIC_CLIENT_ID, "MARKER-wrong-secret-0123456789").client_auth(style),
        )
        .unwrap();
        let exchange = TokenRequest::new(&app, Grant::ClientCredentials).unwrap();
        let resp = w.send(&exchange.build(&w.ctx).unwrap());
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"tf56\"");
        let err = exchange.parse(&w.ctx, resp).unwrap_err();
        let p = platform(&err);
        assert_eq!(p.code, "invalid_client");
        // The client's credentials are wrong: not a token problem, not retryable.
        assert_eq!(err.class(), ErrorClass::BadRequest);
        assert!(!format!("{err} {err:?}").contains("MARKER"));
    }
    // Unknown client, and no credentials at all.
    let mut w = World::new();
    let app = Tf56::new(Tf56Config::new("99", "x")).unwrap();
    let err = w
        .run(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
        .unwrap_err();
    assert_eq!(platform(&err).code, "invalid_client");
    let req = http::Request::post("http://h/openGateway/oauth/token?grant_type=client_credentials")
        .body(Vec::new())
        .unwrap();
    assert_eq!(w.send(&req).status(), 401);
}

#[test]
fn redirect_uri_is_checked_at_authorize_and_at_the_token_endpoint() {
    let mut w = World::new();
    // At the authorize page: shown, not redirected.
    let evil = Tf56::new(
        Tf56Config::new(CODE_CLIENT_ID, CODE_CLIENT_SECRET).redirect_uri("http://evil.example"),
    )
    .unwrap();
    let page = AuthorizeRequest::new(&evil, &w.ctx).unwrap();
    let resp = w.send(&http::Request::get(page.url()).body(Vec::new()).unwrap());
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    let v: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(v["error"], "invalid_request");

    // At the token endpoint: a code issued for the registered URI, redeemed with another.
    let app = code_app(ClientAuth::FormBody);
    let code = w.login(&app);
    let err = w
        .run(&TokenRequest::new(&evil, Grant::AuthorizationCode(code)).unwrap())
        .unwrap_err();
    assert_eq!(platform(&err).code, "invalid_grant");
    assert_eq!(platform(&err).message, "Redirect URI mismatch.");
}

#[test]
fn codes_are_single_use_and_short_lived() {
    let mut w = World::new();
    let app = code_app(ClientAuth::QueryParams);
    let code = w.login(&app);
    let exchange = TokenRequest::new(&app, Grant::AuthorizationCode(code)).unwrap();
    assert!(w.run(&exchange).is_ok());
    let replay = w.run(&exchange).unwrap_err();
    assert_eq!(platform(&replay).code, "invalid_grant");
    assert_eq!(replay.class(), ErrorClass::BadRequest);

    let code = w.login(&app);
    w.advance(600);
    let err = w
        .run(&TokenRequest::new(&app, Grant::AuthorizationCode(code)).unwrap())
        .unwrap_err();
    assert_eq!(platform(&err).code, "invalid_grant");
    assert!(platform(&err).message.contains("expired"));
}

#[test]
fn callback_state_is_verified() {
    let mut w = World::new();
    let app = code_app(ClientAuth::QueryParams);
    let page = AuthorizeRequest::new(&app, &w.ctx).unwrap();
    let grant = w
        .tenant
        .authorize(page.url().split_once('?').unwrap().1)
        .unwrap();
    assert_eq!(grant.state.as_deref(), Some(page.state()));
    let location = w.tenant.approve(&mut w.store, &w.ctx, &grant, "demo");
    assert!(parse_callback(&location, page.state()).is_ok());
    let err = parse_callback(&location, "another-state").unwrap_err();
    assert_eq!(platform(&err).code, "state_mismatch");
    let no_state = location.replace("state=", "x=");
    assert!(parse_callback(&no_state, page.state()).is_err());

    // The user refuses: error redirect with the state.
    let denied = server::redirect_denied(&grant.redirect_uri, grant.state.as_deref());
    let err = parse_callback(&denied, page.state()).unwrap_err();
    assert_eq!(platform(&err).code, "access_denied");
    assert_eq!(err.class(), ErrorClass::Permission);
}

#[test]
fn authorize_errors_after_the_redirect_uri_is_trusted_go_back_to_the_client() {
    let mut tenant = Tenant::default();
    tenant.clients[1].scope = vec!["open-demo".into()];
    let w = World::with_tenant(tenant);
    let refusal = w
        .tenant
        .authorize(
            "response_type=token&client_id=1&redirect_uri=http%3A%2F%2Ftest.tf56.com&state=s1",
        )
        .unwrap_err();
    let server::AuthorizeRefusal::Redirect(location) = refusal else {
        panic!("{refusal:?}")
    };
    assert!(location.starts_with("http://test.tf56.com?error=unsupported_response_type"));
    assert!(location.ends_with("&state=s1"));
    let refusal = w
        .tenant
        .authorize("response_type=code&client_id=1&scope=secret-stuff&state=s1")
        .unwrap_err();
    assert!(
        matches!(refusal, server::AuthorizeRefusal::Redirect(l) if l.contains("error=invalid_scope"))
    );
    // Client 7 has no redirect URI: shown, not redirected.
    let refusal = w
        .tenant
        .authorize("response_type=code&client_id=7")
        .unwrap_err();
    assert!(matches!(refusal, server::AuthorizeRefusal::Show(_)));
}

#[test]
fn tolerant_token_parsing() {
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for body in [
        r#"{"scope":"all","expiresin":"25200","tokentype":"uuid","refreshtoken":"r","accesstoken":"a"}"#,
        r#"{"scope":"all","expires_in":25200,"token_type":"uuid","refresh_token":"r","access_token":"a"}"#,
        r#"{"scope":["all"],"expiresIn":"25200","tokenType":"uuid","refreshToken":"r","accessToken":"a"}"#,
    ] {
        let t = parse_token(body.as_bytes(), now).unwrap();
        assert_eq!(t.access.expose_secret(), "a", "{body}");
        assert_eq!(t.refresh.as_ref().unwrap().expose_secret(), "r");
        assert_eq!(t.ttl(), Duration::from_secs(25_200));
        assert_eq!(t.token_type.as_deref(), Some("uuid"));
        assert_eq!(t.scope, ["all"]);
        assert!(t.extra.is_empty(), "{body}");
    }
    let t = parse_token(
        r#"{"access_token":"a","expires_in":"1800","scope":"商铺,good-list","openid":"o1","uid":7}"#
            .as_bytes(),
        now,
    )
    .unwrap();
    assert_eq!(t.scope, ["商铺", "good-list"]);
    assert_eq!(t.extra["openid"], "o1");
    assert_eq!(t.extra["uid"], 7);
}

#[test]
fn api_calls_accept_the_token_in_query_body_and_the_seed_spelling() {
    let mut w = World::new();
    let app = public_app(ClientAuth::QueryParams);
    let token = w
        .run(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
        .unwrap();
    let query = app
        .say_hello(&access(&token))
        .param("name", "传化")
        .placement(TokenPlacement::Query);
    let req = query.build(&w.ctx).unwrap();
    assert_eq!(req.method(), http::Method::GET);
    assert!(req.uri().to_string().starts_with(
        "https://open.tf56.com/openGateway/oauthentry/tf56.open.demo/1/sayHello?access_token="
    ));
    assert_eq!(w.run(&query).unwrap().message, "Hello, 传化!");

    // The seed's `?AccessToken=`.
    let url = format!(
        "http://h/openGateway/oauthentry/tf56.open.demo/1/sayHello?AccessToken={}",
        token.access.expose_secret()
    );
    let resp = w.send(&http::Request::get(url).body(Vec::new()).unwrap());
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(v["result"], "success");
    assert_eq!(
        std::str::from_utf8(resp.body()).unwrap(),
        r#"{"result":"success","code":"200","msg":"成功","data":{"clientId":"7","message":"Hello, 7!"}}"#
    );

    // No token at all: a client bug, not a token to refresh.
    let resp = w.send(
        &http::Request::get("http://h/openGateway/oauthentry/tf56.open.demo/1/sayHello")
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(resp.status(), 400);

    // Unknown API and a client token on a user API.
    let raw: ApiCall<Value> = app.call(
        ApiMethod::new("UO.WMS", "1", "singleItemSynchronize").unwrap(),
        &access(&token),
    );
    let err = w.run(&raw).unwrap_err();
    assert_eq!(platform(&err).code, codes::GW_NOT_FOUND);
    let err = w.run(&app.query_user_info(&access(&token))).unwrap_err();
    assert_eq!(platform(&err).code, "insufficient_scope");
    assert_eq!(err.class(), ErrorClass::Permission);
}

#[test]
fn token_endpoint_refusals() {
    let mut w = World::new();
    let secret = PUBLIC_CLIENT_SECRET;
    let cases: [(http::Request<Vec<u8>>, u16, &str); 5] = [
        (
            http::Request::get(format!("http://h/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret={secret}"))
                .body(Vec::new())
                .unwrap(),
            405,
            "method_not_allowed",
        ),
        (
            http::Request::post(format!("http://h/openGateway/oauth/token?grant_type=implicit&client_id=7&client_secret={secret}"))
                .body(Vec::new())
                .unwrap(),
            400,
            "unsupported_grant_type",
        ),
        (
            http::Request::post(format!("http://h/openGateway/oauth/token?grant_type=authorization_code&code=x&client_id=7&client_secret={secret}"))
                .body(Vec::new())
                .unwrap(),
            400,
            "unauthorized_client",
        ),
        (
            http::Request::post(format!("http://h/openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret={secret}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b"grant_type=client_credentials".to_vec())
                .unwrap(),
            400,
            "invalid_request",
        ),
        (
            http::Request::post(format!("http://h/openGateway/oauth/token?grant_type=client_credentials&scope=admin&client_id=7&client_secret={secret}"))
                .body(Vec::new())
                .unwrap(),
            400,
            "invalid_scope",
        ),
    ];
    for (req, status, error) in cases {
        let resp = w.send(&req);
        assert_eq!(resp.status(), status, "{error}");
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(v["error"], error);
        assert!(!std::str::from_utf8(resp.body()).unwrap().contains(secret));
    }
    // Basic and client_secret together: two authentication methods.
    let app = public_app(ClientAuth::BasicAuth);
    let mut req = TokenRequest::new(&app, Grant::ClientCredentials)
        .unwrap()
        .build(&w.ctx)
        .unwrap();
    *req.body_mut() = format!("grant_type=client_credentials&client_secret={secret}").into_bytes();
    let v: Value = serde_json::from_slice(w.send(&req).body()).unwrap();
    assert_eq!(v["error"], "invalid_request");
}

#[test]
fn token_url_override_talks_to_standard_oauth_servers() {
    let app = Tf56::new(
        Tf56Config::new("client", "secret")
            .token_url("http://localhost:8080/token")
            .client_auth(ClientAuth::FormBody),
    )
    .unwrap();
    let ctx = Context::system();
    let token = run_with(
        &TokenRequest::new(&app, Grant::ClientCredentials).unwrap(),
        &ctx,
        |req| {
            assert_eq!(req.uri(), "http://localhost:8080/token");
            assert_eq!(
                req.body(),
                b"grant_type=client_credentials&client_id=client&client_secret=secret"
            );
            // oauth2-mock-server's answer shape.
            Ok(http::Response::new(
                br#"{"access_token":"eyJhbGciOi.x.y","token_type":"Bearer","expires_in":3600,"scope":""}"#.to_vec(),
            ))
        },
    )
    .unwrap();
    assert_eq!(token.token_type.as_deref(), Some("Bearer"));
    assert!(token.scope.is_empty());
}

#[test]
fn token_source_plans() {
    let app = code_app(ClientAuth::QueryParams);
    let cc = Tf56Tokens::client_credentials(&app);
    assert_eq!(cc.key().to_string(), "tf56:1:client_credentials");
    assert_eq!(
        cc.exchange(&Plan::FullGrant).unwrap().name(),
        "tf56.token.client_credentials"
    );
    assert_eq!(
        cc.exchange(&Plan::UseRefreshToken(SecretString::new("r")))
            .unwrap()
            .name(),
        "tf56.token.refresh_token"
    );
    let pw = Tf56Tokens::password(&app, "demo", SecretString::new("MARKER-pw"));
    assert_eq!(pw.key().kind, "password");
    assert_eq!(
        pw.exchange(&Plan::FullGrant).unwrap().name(),
        "tf56.token.password"
    );
    assert!(!format!("{pw:?}").contains("MARKER"));

    // The one-time code through the whole lifecycle of a login.
    let mut w = World::new();
    let source = Tf56Tokens::authorization_code(&app);
    let err = source.exchange(&Plan::FullGrant).err().unwrap();
    assert!(codes::is_login_required(&err));
    source.set_code(w.login(&app));
    let ex = source.exchange(&Plan::FullGrant).unwrap();
    let token = w.run(&ex).unwrap();
    let ex = source
        .exchange(&Plan::UseRefreshToken(token.refresh.clone().unwrap()))
        .unwrap();
    assert!(w.run(&ex).is_ok());
    assert!(codes::is_login_required(
        &source.exchange(&Plan::FullGrant).err().unwrap()
    ));
}

#[test]
fn no_secret_in_debug_display_explain_or_errors() {
    const MARK: &str = "MARKER";
    let cfg = Tf56Config::new("7", "MARKER-client-secret")
        .redirect_uri("http://test.tf56.com")
        .client_auth(ClientAuth::BasicAuth);
    let app = Tf56::new(cfg.clone()).unwrap();
    let ctx = Context::new(
        Arc::new(FrozenClock::from_unix_millis(NOW)),
        Arc::new(FixedNonce::new("MARKERstate")),
    );
    let grants = [
        Grant::ClientCredentials,
        Grant::AuthorizationCode(SecretString::new("MARKER-code")),
        Grant::Password {
            username: "u".into(),
            password: SecretString::new("MARKER-password"),
        },
        Grant::RefreshToken(SecretString::new("MARKER-refresh")),
    ];
    for grant in grants {
        let req = TokenRequest::new(&app, grant).unwrap();
        let ex = req.explain(&ctx).unwrap();
        let shown = format!(
            "{req:?} {:?} {} {}",
            req.grant(),
            ex.to_text(),
            ex.to_json()
        );
        assert!(!shown.contains(MARK), "{shown}");
        assert!(ex.to_text().contains("Authorization: Basic"));
    }
    let page = AuthorizeRequest::new(&app, &ctx).unwrap();
    let call = app
        .say_hello(&AccessToken::new("MARKER-access"))
        .param("password", "MARKER-p");
    let tenant = Tenant::default();
    let shown = format!(
        "{cfg:?} {app:?} {page:?} {call:?} {:?} {tenant:?}",
        Tf56Tokens::authorization_code(&app).with_code("MARKER-c")
    );
    assert!(!shown.contains(MARK), "{shown}");
    assert!(!shown.contains(PUBLIC_CLIENT_SECRET), "{shown}");

    // Server records and issued tokens.
    let mut w = World::new();
    let token = w
        .run(
            &TokenRequest::new(
                &public_app(ClientAuth::FormBody),
                Grant::Password {
                    username: DEMO_USERNAME.into(),
                    password: SecretString::new(DEMO_PASSWORD),
                },
            )
            .unwrap(),
        )
        .unwrap();
    let issued = server::IssuedToken {
        access_token: "MARKER-a".into(),
        refresh_token: Some("MARKER-r".into()),
        expires_in: 1,
        scope: vec![],
        grant: kaifang_proto_tf56::GrantType::Password,
        client_id: "7".into(),
        username: None,
    };
    let shown = format!("{token:?} {issued:?} {:?}", w.store);
    assert!(
        !shown.contains(MARK) && !shown.contains(token.access.expose_secret()),
        "{shown}"
    );

    // Config errors do not print the secret either.
    let err = Tf56::new(Tf56Config::new("", "MARKER")).unwrap_err();
    assert!(!err.to_string().contains(MARK));
}

#[test]
fn config_validation() {
    for bad in [
        Tf56Config::new(" ", "s"),
        Tf56Config::new("7", ""),
        Tf56Config::new("7", "s").base_url("open.tf56.com"),
        Tf56Config::new("7", "s").base_url("https://open.tf56.com/?x=1"),
        Tf56Config::new("7", "s").gateway_prefix("openGateway"),
        Tf56Config::new("a:b", "s").client_auth(ClientAuth::BasicAuth),
        Tf56Config::new("7", "s").token_url("/token"),
        Tf56Config::new("7", "s").redirect_uri("not a url"),
    ] {
        assert!(
            matches!(Tf56::new(bad.clone()), Err(Error::Config(_))),
            "{bad:?}"
        );
    }
    let app = Tf56::new(
        Tf56Config::new("7", "s")
            .base_url("http://127.0.0.1:9/")
            .gateway_prefix(""),
    )
    .unwrap();
    assert_eq!(app.token_endpoint(), "http://127.0.0.1:9/oauth/token");
    assert!(TokenRequest::new(&app, Grant::AuthorizationCode(SecretString::new("c"))).is_err());
    assert!(AuthorizeRequest::new(&app, &Context::system()).is_err());
    let cfg: Tf56Config = serde_json::from_str(
        r#"{"client_id":"7","client_secret":"s","client_auth":"basic_auth","scope":"open-demo"}"#,
    )
    .unwrap();
    assert_eq!(cfg.client_auth, ClientAuth::BasicAuth);
    assert_eq!(cfg.gateway_prefix, "/openGateway");
}

#[test]
fn tenant_from_config() {
    let tenant: Tenant = serde_json::from_str(
        r#"{"clients":[{"client_id":"9","secret":"s9","scope":["open-demo"],"grants":["client_credentials"]}],
            "lifetimes":{"client_credentials":60},"invalid_token_style":"gateway"}"#,
    )
    .unwrap();
    assert_eq!(tenant.lifetimes.client_credentials, 60);
    assert_eq!(tenant.lifetimes.authorization_code, 25_200);
    assert_eq!(tenant.invalid_token_style, InvalidTokenStyle::Gateway);
    let mut w = World::with_tenant(tenant);
    let app = Tf56::new(Tf56Config::new("9", "s9")).unwrap();
    let token = w
        .run(&TokenRequest::new(&app, Grant::ClientCredentials).unwrap())
        .unwrap();
    assert_eq!(token.ttl(), Duration::from_secs(60));
    assert!(serde_json::from_str::<Tenant>(r#"{"nope":1}"#).is_err());
}
