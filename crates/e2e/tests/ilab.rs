//! iLab-style virtual-simulation platform end to end: the proto crate's client half through the
//! blocking (ureq) and async (reqwest) transports against the sandbox's `ilab` module, on a
//! frozen sandbox clock that the clients read too (so clock control moves both sides), and the
//! seed's own Python example against the same sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kaifang_e2e::runtime;
use kaifang_proto_core::Error;
use kaifang_proto_core::context::{Clock, Context, OsNonce, from_unix_millis};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::lifecycle::{RefreshPolicy, TokenSource};
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::transport::TransportConfig;
use kaifang_proto_ilab::codes::{self, Endpoint, Kind};
use kaifang_proto_ilab::server::mint::hs256_verify;
use kaifang_proto_ilab::upload::{DataUpload, Status, StepRecord};
use kaifang_proto_ilab::{
    AccessTokenRequest, Attachment, AttachmentUpload, DataUploadRequest, Ilab, IlabConfig,
    IlabSession, IlabToken, IlabTokens, Lineage, Profile, RefreshRequest, Ticket,
    decode_unverified,
};
use kaifang_sandbox::platforms::ilab::{
    DEFAULT_JWT_KEY, ILABX_APPID, ILABX_SECRET, ILABX_USER, IlabModule, SEED_APPID, SEED_DIS,
    SEED_SECRET, SEED_USER,
};
use kaifang_sandbox::{ClockMode, FaultSpec, Sandbox, SandboxHandle};
use kaifang_sign_core::mac::HmacSha256Key;
use kaifang_transport_async::AsyncClient;
use kaifang_transport_blocking::BlockingClient;
use serde_json::{Value, json};

/// The seed answer's create_time: the sandbox clock starts there, frozen.
const T0: i64 = 1_711_103_229_122;
const SEED_TICKET: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI";
const V2_TICKET_ENCODED: &str = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D";
const V2_TICKET: &str = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5+1UFkxS7PclakS5u3P6cXwrv8+7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ=";

const TOKEN_PATH: &str = "/oauth/token/accesstoken";
const REFRESH_PATH: &str = "/oauth/token/refreshtoken";

// ---------------------------------------------------------------- harness

/// The sandbox clock as a proto-core clock, so the clients see the sandbox's time.
#[derive(Debug)]
struct SandboxTime(Arc<SandboxHandle>);

impl Clock for SandboxTime {
    fn now(&self) -> SystemTime {
        from_unix_millis(self.0.clock().now_millis())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Blocking,
    Async,
}

enum Client {
    Blocking(Arc<BlockingClient>),
    Async(Arc<AsyncClient>),
}

impl Client {
    fn run<E: Exchange>(&self, e: &E) -> Result<E::Output, Error> {
        match self {
            Client::Blocking(c) => c.execute(e),
            Client::Async(c) => runtime().block_on(c.execute(e)),
        }
    }

    fn now(&self) -> SystemTime {
        match self {
            Client::Blocking(c) => c.context().now(),
            Client::Async(c) => c.context().now(),
        }
    }
}

struct Env {
    sb: Arc<SandboxHandle>,
    client: Client,
    app: Ilab,
}

fn sandbox() -> Arc<SandboxHandle> {
    let sb = runtime()
        .block_on(
            Sandbox::builder()
                .module(IlabModule::default())
                .clock(ClockMode::Frozen { at_ms: T0 })
                .start(),
        )
        .unwrap();
    Arc::new(sb)
}

fn config() -> TransportConfig {
    TransportConfig {
        // The sandbox clock is frozen in 2024; hyper's `Date` header is today.
        learn_skew: false,
        ..TransportConfig::default()
    }
}

fn env(t: Transport) -> Env {
    let sb = sandbox();
    let ctx = Context::new(Arc::new(SandboxTime(sb.clone())), Arc::new(OsNonce));
    let client = match t {
        Transport::Blocking => Client::Blocking(Arc::new(
            BlockingClient::with_context(config(), ctx).unwrap(),
        )),
        Transport::Async => {
            Client::Async(Arc::new(AsyncClient::with_context(config(), ctx).unwrap()))
        }
    };
    let app = app_for(&sb, SEED_APPID, SEED_SECRET, Profile::Roncoo);
    Env { sb, client, app }
}

fn app_for(sb: &SandboxHandle, appid: &str, secret: &str, profile: Profile) -> Ilab {
    Ilab::new(IlabConfig::new(sb.base_url(), appid, secret).profile(profile)).unwrap()
}

impl Env {
    fn mint_ticket(&self, appid: &str) -> Ticket {
        let v = self
            .sb
            .mint("ilab", "ticket", json!({"appid": appid}))
            .unwrap();
        Ticket::from_decoded(v["ticket"].as_str().unwrap()).unwrap()
    }

    fn login(&self) -> IlabToken {
        let t = self.mint_ticket(SEED_APPID);
        self.client
            .run(&AccessTokenRequest::new(&self.app, t))
            .unwrap()
    }

    fn advance(&self, secs: u64) {
        self.sb.advance_clock(Duration::from_secs(secs));
    }

    fn count(&self, method_path: &str) -> u64 {
        self.sb.count(method_path)
    }

    fn uploads(&self, filter: Value) -> Value {
        self.sb.mint("ilab", "uploads", filter).unwrap()
    }
}

fn kind(err: &Error, endpoint: Endpoint) -> Kind {
    codes::kind_of(err, endpoint).unwrap_or_else(|| panic!("not an ilab answer: {err}"))
}

fn code(err: &Error) -> String {
    err.platform()
        .unwrap_or_else(|| panic!("not a platform error: {err}"))
        .code
        .clone()
}

/// A hand-built request parsed by a proto exchange: malformed requests through the real
/// transports, answers typed by the real parser.
struct Raw<'a, E> {
    req: http::Request<Vec<u8>>,
    parser: &'a E,
}

impl<E: Exchange> Exchange for Raw<'_, E> {
    type Output = E::Output;
    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let mut b = http::Request::builder()
            .method(self.req.method().clone())
            .uri(self.req.uri().clone());
        for (k, v) in self.req.headers() {
            b = b.header(k, v);
        }
        Ok(b.body(self.req.body().clone()).unwrap())
    }
    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<E::Output, Error> {
        self.parser.parse(ctx, resp)
    }
}

fn raw<'a, E>(method: &str, url: &str, parser: &'a E) -> Raw<'a, E> {
    Raw {
        req: http::Request::builder()
            .method(method)
            .uri(url)
            .body(Vec::new())
            .unwrap(),
        parser,
    }
}

/// The JSON of a control endpoint, through the transport (a tiny exchange).
struct Control {
    method: &'static str,
    url: String,
    body: Value,
}

impl Exchange for Control {
    type Output = (u16, Value);
    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        Ok(http::Request::builder()
            .method(self.method)
            .uri(&self.url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&self.body).unwrap())
            .unwrap())
    }
    fn parse(&self, _ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<(u16, Value), Error> {
        let v = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        Ok((resp.status().as_u16(), v))
    }
}

fn record(un: &str, origin: &str) -> DataUpload {
    DataUpload::builder(un, "电路虚拟仿真实验", origin)
        .status(Status::Completed)
        .score(66)
        .times(T0, T0 + 12 * 60_000)
        .step(
            StepRecord::builder("实验准备")
                .times(T0, T0 + 2 * 60_000)
                .max_score(20)
                .score(18),
        )
        .step(
            StepRecord::builder("实验操作")
                .times(T0 + 2 * 60_000, T0 + 12 * 60_000)
                .max_score(80)
                .score(48)
                .evaluation("优秀")
                .scoring_model("自动评分"),
        )
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- offline

#[test]
fn seed_signature_through_the_high_level_api() {
    let app = Ilab::new(IlabConfig::new(
        "http://127.0.0.1:8180",
        SEED_APPID,
        SEED_SECRET,
    ))
    .unwrap();
    let req = AccessTokenRequest::new(&app, Ticket::new(SEED_TICKET).unwrap());
    assert_eq!(req.signature(), "6CC426EF80A31C5E7BDE10F6F5772DE5");
    assert_eq!(
        req.url(),
        format!(
            "http://127.0.0.1:8180/oauth/token/accesstoken?ticket={SEED_TICKET}&appid={SEED_APPID}&signature=6CC426EF80A31C5E7BDE10F6F5772DE5"
        )
    );
}

// ---------------------------------------------------------------- login, refresh

fn login_and_two_refreshes(t: Transport) {
    let e = env(t);
    let token = e.login();
    assert_eq!(token.un, SEED_USER);
    assert_eq!(token.dis, SEED_DIS);
    assert_eq!(token.lineage, Lineage::Original);
    // expires_in 86,399 from receipt (the sandbox clock).
    assert_eq!(
        token.token.expires_at,
        from_unix_millis(T0) + Duration::from_secs(86_399)
    );
    assert_eq!(token.token.scope, vec!["callback:score".to_owned()]);
    assert_eq!(
        token.create_time_display.as_deref(),
        Some("2024-03-22 18:27:09")
    );
    // Both are HS256 JWTs under the sandbox key, with the seed's claims.
    let key = HmacSha256Key::new(DEFAULT_JWT_KEY.as_bytes());
    let access = token.access().expose_secret().to_owned();
    let refresh = token.token.refresh.clone().unwrap();
    assert!(hs256_verify(&key, &access));
    assert!(hs256_verify(&key, refresh.expose_secret()));
    let c = decode_unverified(&access).unwrap();
    assert_eq!(c.client_id.as_deref(), Some(SEED_APPID));
    assert_eq!(c.un.as_deref(), Some(SEED_USER));
    assert!(c.has_scope("callback:score"));
    assert_eq!(c.exp, Some(T0 / 1000 + 86_400));
    assert_eq!(c.expires_time, Some(T0 + 86_399_000));
    assert_eq!(c.authorities, vec!["ADMIN".to_owned()]);
    let rc = decode_unverified(refresh.expose_secret()).unwrap();
    assert_eq!(rc.exp, Some(T0 / 1000 + 30 * 86_400));
    assert_eq!(rc.ati, c.jti);

    let mut session = IlabSession::new(Profile::Roncoo, token).unwrap();
    for n in 1..=2u8 {
        e.advance(3600);
        let refreshed = e.client.run(&session.refresh(&e.app).unwrap()).unwrap();
        assert_eq!(refreshed.lineage, Lineage::Refreshed { number: n });
        assert_ne!(refreshed.access().expose_secret(), access);
        session.accept(refreshed).unwrap();
    }
    assert_eq!(e.count(&format!("GET {REFRESH_PATH}")), 2);
    let sessions = e.sb.mint("ilab", "sessions", Value::Null).unwrap();
    assert_eq!(sessions["count"], 1);
    assert_eq!(sessions["sessions"][0]["refreshes"], 2);
    assert_eq!(sessions["sessions"][0]["appid"], SEED_APPID);

    // The third is refused client-side: nothing is sent.
    let err = session.refresh(&e.app).unwrap_err();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshLimitReached);
    assert_eq!(e.count(&format!("GET {REFRESH_PATH}")), 2);
    // Forced, the server refuses it: 5.
    let err = e
        .client
        .run(&RefreshRequest::forced(&e.app, &refresh, 3))
        .unwrap_err();
    assert_eq!(code(&err), "5");
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshLimitReached);
    // A refreshed token's own refresh token: 6, client- and server-side.
    let second = session.current().token.refresh.clone().unwrap();
    let err = e
        .client
        .run(&RefreshRequest::forced(&e.app, &second, 1))
        .unwrap_err();
    assert_eq!(code(&err), "6");
    assert_eq!(
        kind(&err, Endpoint::Refresh),
        Kind::RefreshedTokenNotRefreshable
    );
    let err = IlabSession::new(Profile::Roncoo, session.current().clone()).unwrap_err();
    assert_eq!(
        kind(&err, Endpoint::Refresh),
        Kind::RefreshedTokenNotRefreshable
    );
    // The latest token works for uploads.
    let current = session.current().clone();
    e.client
        .run(&DataUploadRequest::new(
            &e.app,
            current.access(),
            &record(&current.un, "rec-1"),
        ))
        .unwrap();
}

#[test]
fn login_and_two_refreshes_blocking() {
    login_and_two_refreshes(Transport::Blocking);
}

#[test]
fn login_and_two_refreshes_async() {
    login_and_two_refreshes(Transport::Async);
}

// ---------------------------------------------------------------- uploads

fn score_and_report_then_inspect(t: Transport) {
    let e = env(t);
    let token = e.login();
    let rec = record(&token.un, "rec-42");
    let report = Attachment::new(
        "rec-42",
        "实验报告.txt",
        "实验结论: 合格\n".as_bytes().to_vec(),
    )
    .unwrap()
    .title("电路实验报告")
    .remarks("第一次 & 最后一次");
    // The report before the score: 1.
    let err = e
        .client
        .run(&AttachmentUpload::new(
            &e.app,
            token.access(),
            report.clone(),
        ))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Upload), Kind::MissingParameter);
    assert!(err.to_string().contains("data_upload"), "{err}");

    let receipt = e
        .client
        .run(&DataUploadRequest::new(&e.app, token.access(), &rec))
        .unwrap();
    assert_eq!(receipt.message, "成功");
    e.client
        .run(&AttachmentUpload::new(&e.app, token.access(), report))
        .unwrap();

    // Inspection through the handle ...
    let v = e.uploads(json!({"origin_id": "rec-42"}));
    assert_eq!(v["count"], 2, "{v}");
    let data = &v["uploads"][0];
    assert_eq!(data["type"], "data");
    assert_eq!(data["profile"], "roncoo");
    assert_eq!(data["un"], SEED_USER);
    assert_eq!(data["record"]["score"], 66);
    assert_eq!(data["record"]["steps"][1]["evaluation"], "优秀");
    assert_eq!(data["record"]["steps"].as_array().unwrap().len(), 2);
    let file = &v["uploads"][1];
    assert_eq!(file["type"], "attachment");
    assert_eq!(file["filename"], "实验报告.txt");
    assert_eq!(file["title"], "电路实验报告");
    assert_eq!(file["remarks"], "第一次 & 最后一次");
    assert_eq!(file["text"], "实验结论: 合格\n");
    // ... and over HTTP, as any test tool sees it.
    let (status, over_http) = e
        .client
        .run(&Control {
            method: "POST",
            url: e.sb.url("/__sandbox/mint"),
            body: json!({"platform": "ilab", "kind": "uploads", "request": {"appid": SEED_APPID}}),
        })
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(over_http, v);
    assert_eq!(e.sb.tenants()["ilab"]["uploads"], 2);
    // A reset forgets them.
    e.sb.reset();
    assert_eq!(e.uploads(Value::Null)["count"], 0);
}

#[test]
fn score_and_report_then_inspect_blocking() {
    score_and_report_then_inspect(Transport::Blocking);
}

#[test]
fn score_and_report_then_inspect_async() {
    score_and_report_then_inspect(Transport::Async);
}

// ---------------------------------------------------------------- error codes

fn token_endpoint_codes(t: Transport) {
    let e = env(t);
    let base = e.sb.base_url().to_owned();
    let ticket = e.mint_ticket(SEED_APPID);
    let parser = AccessTokenRequest::new(&e.app, ticket.clone());

    // 1: a parameter is missing.
    let url = format!(
        "{base}{TOKEN_PATH}?ticket={}&appid={SEED_APPID}",
        ticket.encoded()
    );
    let err = e.client.run(&raw("GET", &url, &parser)).unwrap_err();
    assert_eq!(code(&err), "1");
    assert_eq!(kind(&err, Endpoint::Token), Kind::MissingParameter);
    // 2: the wrong secret.
    let wrong = app_for(&e.sb, SEED_APPID, "654321", Profile::Roncoo);
    let err = e
        .client
        .run(&AccessTokenRequest::new(&wrong, ticket.clone()))
        .unwrap_err();
    assert_eq!(code(&err), "2");
    assert_eq!(kind(&err, Endpoint::Token), Kind::SignatureMismatch);
    // 4: an unknown ticket; a ticket of another profile's app.
    let err = e
        .client
        .run(&AccessTokenRequest::new(
            &e.app,
            Ticket::new(SEED_TICKET).unwrap(),
        ))
        .unwrap_err();
    assert_eq!(code(&err), "4");
    assert_eq!(kind(&err, Endpoint::Token), Kind::TicketInvalid);
    // The ticket is still good after those refusals; it works once.
    e.client.run(&parser).unwrap();
    let err = e.client.run(&parser).unwrap_err();
    assert_eq!(code(&err), "4");
    // 3: expired (lifetime control + clock control).
    e.sb.set_token_lifetime("ilab", "ticket", Some(Duration::from_secs(60)))
        .unwrap();
    let short = e.mint_ticket(SEED_APPID);
    e.advance(61);
    let err = e
        .client
        .run(&AccessTokenRequest::new(&e.app, short))
        .unwrap_err();
    assert_eq!(code(&err), "3");
    assert_eq!(kind(&err, Endpoint::Token), Kind::TicketExpired);
    // A revoked ticket: 4.
    let revoked = e.mint_ticket(SEED_APPID);
    e.sb.revoke(Some("ilab"), revoked.decoded().expose_secret())
        .unwrap();
    let err = e
        .client
        .run(&AccessTokenRequest::new(&e.app, revoked))
        .unwrap_err();
    assert_eq!(code(&err), "4");
    // Other: a wrong method (405, code -1) ...
    let fresh = e.mint_ticket(SEED_APPID);
    let good = AccessTokenRequest::new(&e.app, fresh.clone());
    let err = e.client.run(&raw("PUT", &good.url(), &good)).unwrap_err();
    assert_eq!(code(&err), "-1");
    assert_eq!(kind(&err, Endpoint::Token), Kind::System);
    // ... and a system error injected as a fault.
    e.sb.add_fault(
        FaultSpec::new(TOKEN_PATH)
            .status(200, r#"{"code":500,"msg":"系统错误"}"#)
            .count(1),
    )
    .unwrap();
    let err = e.client.run(&good).unwrap_err();
    assert_eq!(code(&err), "500");
    assert_eq!(kind(&err, Endpoint::Token), Kind::System);
    // The faulted request never reached the module: the ticket still works.
    e.client.run(&good).unwrap();
}

#[test]
fn token_endpoint_codes_blocking() {
    token_endpoint_codes(Transport::Blocking);
}

#[test]
fn token_endpoint_codes_async() {
    token_endpoint_codes(Transport::Async);
}

fn refresh_codes(t: Transport) {
    let e = env(t);
    let base = e.sb.base_url().to_owned();
    let token = e.login();
    let refresh = token.token.refresh.clone().unwrap();
    let parser = RefreshRequest::forced(&e.app, &refresh, 1);

    // 1: missing.
    let url = format!("{base}{REFRESH_PATH}?appid={SEED_APPID}&signature=X");
    let err = e.client.run(&raw("GET", &url, &parser)).unwrap_err();
    assert_eq!(code(&err), "1");
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::MissingParameter);
    // 2: the wrong secret.
    let wrong = app_for(&e.sb, SEED_APPID, "654321", Profile::Roncoo);
    let err = e
        .client
        .run(&RefreshRequest::forced(&wrong, &refresh, 1))
        .unwrap_err();
    assert_eq!(code(&err), "2");
    // 4: an access token where the refresh token goes; an unknown value.
    let err = e
        .client
        .run(&RefreshRequest::forced(&e.app, token.access(), 1))
        .unwrap_err();
    assert_eq!(code(&err), "4");
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshTokenInvalid);
    let err = e
        .client
        .run(&RefreshRequest::forced(
            &e.app,
            &SecretString::new("forged"),
            1,
        ))
        .unwrap_err();
    assert_eq!(code(&err), "4");
    // 4: revoked through the controls (over HTTP).
    let second = e.login();
    let second_refresh = second.token.refresh.clone().unwrap();
    let (status, v) = e
        .client
        .run(&Control {
            method: "POST",
            url: e.sb.url("/__sandbox/revoke"),
            body: json!({"token": second_refresh.expose_secret(), "platform": "ilab"}),
        })
        .unwrap();
    assert_eq!((status, &v["revoked"]), (200, &json!(true)));
    let err = e
        .client
        .run(&RefreshRequest::forced(&e.app, &second_refresh, 1))
        .unwrap_err();
    assert_eq!(code(&err), "4");
    // 3: expired (the refresh lifetime set over HTTP, then the clock).
    let (status, _) = e
        .client
        .run(&Control {
            method: "PUT",
            url: e.sb.url("/__sandbox/lifetimes"),
            body: json!({"platform": "ilab", "kind": "refresh_token", "seconds": 120}),
        })
        .unwrap();
    assert_eq!(status, 200);
    let short = e.login();
    let short_refresh = short.token.refresh.clone().unwrap();
    let claims = decode_unverified(short_refresh.expose_secret()).unwrap();
    assert_eq!(
        claims.expires_at(),
        Some(from_unix_millis(T0 / 1000 * 1000 + 120_000))
    );
    e.advance(121);
    let err = e
        .client
        .run(&RefreshRequest::forced(&e.app, &short_refresh, 1))
        .unwrap_err();
    assert_eq!(code(&err), "3");
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshTokenExpired);
    // The first login's refresh token still lives 30 days: OK, with the lenient signature too.
    let sig = kaifang_proto_ilab::auth::signature(
        token.access().expose_secret(),
        SEED_APPID,
        SEED_SECRET,
    );
    let url = format!(
        "{base}{REFRESH_PATH}?refresh_token={}&appid={SEED_APPID}&signature={sig}",
        refresh.expose_secret()
    );
    let refreshed = e.client.run(&raw("POST", &url, &parser)).unwrap();
    assert_eq!(refreshed.un, SEED_USER);
}

#[test]
fn refresh_codes_blocking() {
    refresh_codes(Transport::Blocking);
}

#[test]
fn refresh_codes_async() {
    refresh_codes(Transport::Async);
}

fn upload_codes(t: Transport) {
    let e = env(t);
    let base = e.sb.base_url().to_owned();
    let token = e.login();
    let rec = record(&token.un, "rec-7");
    let up = |access: &SecretString| DataUploadRequest::new(&e.app, access, &rec);

    // 3: unknown; a refresh token; revoked.
    let err = e.client.run(&up(&SecretString::new("forged"))).unwrap_err();
    assert_eq!(code(&err), "3");
    assert_eq!(kind(&err, Endpoint::Upload), Kind::TokenInvalid);
    assert!(err.is_token_invalid());
    let err = e
        .client
        .run(&up(token.token.refresh.as_ref().unwrap()))
        .unwrap_err();
    assert_eq!(code(&err), "3");
    let other = e.login();
    e.sb.revoke(None, other.access().expose_secret()).unwrap();
    let err = e.client.run(&up(other.access())).unwrap_err();
    assert_eq!(code(&err), "3");
    // 4: a token without the scope callback:score (changed in the registry).
    let third = e.login();
    assert!(
        e.sb.tokens()
            .modify("ilab", third.access().expose_secret(), |g| {
                g.meta["scope"] = json!([]);
            })
    );
    let err = e.client.run(&up(third.access())).unwrap_err();
    assert_eq!(code(&err), "4");
    assert_eq!(kind(&err, Endpoint::Upload), Kind::ScopeMissing);
    // 1: no token; not JSON; a bad record (the field path in the message); another user.
    let parser = up(token.access());
    let err = e
        .client
        .run(&raw(
            "POST",
            &format!("{base}/oauth/api/v1/data_upload"),
            &parser,
        ))
        .unwrap_err();
    assert_eq!(code(&err), "1");
    let mut wrong_type = raw(
        "POST",
        &format!(
            "{base}/oauth/api/v1/data_upload?access_token={}",
            token.access().expose_secret()
        ),
        &parser,
    );
    *wrong_type.req.body_mut() = rec.to_json(SEED_APPID);
    wrong_type
        .req
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    let err = e.client.run(&wrong_type).unwrap_err();
    assert_eq!(code(&err), "1");
    let mut bad: Value = serde_json::from_slice(&rec.to_json(SEED_APPID)).unwrap();
    bad["steps"][1]["score"] = json!(99);
    let mut bad_body = raw("POST", &wrong_type.req.uri().to_string(), &parser);
    *bad_body.req.body_mut() = serde_json::to_vec(&bad).unwrap();
    bad_body
        .req
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let err = e.client.run(&bad_body).unwrap_err();
    assert_eq!(code(&err), "1");
    assert!(err.to_string().contains("steps[1].score"), "{err}");
    let err = e
        .client
        .run(&DataUploadRequest::new(
            &e.app,
            token.access(),
            &record("somebody-else", "rec-7"),
        ))
        .unwrap_err();
    assert_eq!(code(&err), "1");
    // The report needs the same app, a file name with extension, and a prior score.
    let err = e
        .client
        .run(&AttachmentUpload::new(
            &e.app,
            token.access(),
            Attachment::new("rec-unknown", "r.pdf", b"x".to_vec()).unwrap(),
        ))
        .unwrap_err();
    assert_eq!(code(&err), "1");
    // 2: expired.
    e.client.run(&up(token.access())).unwrap();
    e.advance(86_400);
    let err = e.client.run(&up(token.access())).unwrap_err();
    assert_eq!(code(&err), "2");
    assert_eq!(kind(&err, Endpoint::Upload), Kind::TokenExpired);
    assert!(err.is_token_invalid());
    // Only the accepted record was stored.
    assert_eq!(e.uploads(Value::Null)["count"], 1);
}

#[test]
fn upload_codes_blocking() {
    upload_codes(Transport::Blocking);
}

#[test]
fn upload_codes_async() {
    upload_codes(Transport::Async);
}

// ---------------------------------------------------------------- iLab-x profile

fn ilabx_plus_slash_equals(t: Transport) {
    let e = env(t);
    let app = app_for(&e.sb, ILABX_APPID, ILABX_SECRET, Profile::IlabX);
    // The reference vector's ticket, registered as the platform would have issued it.
    e.sb.mint(
        "ilab",
        "ticket",
        json!({"appid": ILABX_APPID, "value": V2_TICKET}),
    )
    .unwrap();
    let ticket = Ticket::new(V2_TICKET_ENCODED).unwrap();
    assert_eq!(ticket.decoded().expose_secret(), V2_TICKET);
    let req = AccessTokenRequest::new(&app, ticket.clone());
    // Signed decoded, sent encoded once.
    assert_eq!(req.signature(), "A420ABC82AB3B07C347F7F02A6B28FD2");
    assert!(req.url().contains(&format!("ticket={V2_TICKET_ENCODED}&")));
    // Sent unencoded: the server's decoding turns `+` into spaces, so the signature fails (2).
    let unencoded = format!(
        "{}/open/api/v2/token?ticket={V2_TICKET}&appid={ILABX_APPID}&signature={}",
        e.sb.base_url(),
        req.signature()
    );
    let err = e.client.run(&raw("GET", &unencoded, &req)).unwrap_err();
    assert_eq!(code(&err), "2");
    // Signed over the encoded ticket (the classic bug): 2 as well.
    let bug = format!(
        "{}/open/api/v2/token?ticket={V2_TICKET_ENCODED}&appid={ILABX_APPID}&signature=C2CF942B96009601A49947F09CB40914",
        e.sb.base_url()
    );
    let err = e.client.run(&raw("GET", &bug, &req)).unwrap_err();
    assert_eq!(code(&err), "2");
    // Right: logged in as the registered user.
    let token = e.client.run(&req).unwrap();
    assert_eq!(token.un, ILABX_USER);
    assert_eq!(token.dis, "贾宝玉");

    // A minted iLab-x ticket and token are base64 with `+ / =` too, and work end to end.
    let minted =
        e.sb.mint("ilab", "ticket", json!({"appid": ILABX_APPID}))
            .unwrap();
    let value = minted["ticket"].as_str().unwrap();
    assert!(value.ends_with('='), "{value}");
    assert_eq!(minted["profile"], "ilabx");
    let token = e
        .client
        .run(&AccessTokenRequest::new(
            &app,
            Ticket::new(minted["ticket_encoded"].as_str().unwrap()).unwrap(),
        ))
        .unwrap();
    let access = token.access().expose_secret().to_owned();
    assert!(access.contains('.') && access.contains('='), "{access}");
    // A roncoo ticket or token is unknown on the iLab-x paths.
    let roncoo = e.mint_ticket(SEED_APPID);
    let err = e
        .client
        .run(&AccessTokenRequest::new(
            &app_for(&e.sb, SEED_APPID, SEED_SECRET, Profile::IlabX),
            roncoo,
        ))
        .unwrap_err();
    assert_eq!(code(&err), "2"); // the appid is not an iLab-x app here
    // The iLab-x refresh sends the access token (URL-encoded), twice at most.
    let mut session = IlabSession::new(Profile::IlabX, token).unwrap();
    for _ in 0..2 {
        let r = e.client.run(&session.refresh(&app).unwrap()).unwrap();
        session.accept(r).unwrap();
    }
    let err = e
        .client
        .run(&RefreshRequest::forced(
            &app,
            &SecretString::new(access.clone()),
            3,
        ))
        .unwrap_err();
    assert_eq!(code(&err), "5");
    let current = session.current().clone();
    e.client
        .run(&DataUploadRequest::new(
            &app,
            current.access(),
            &record(&current.un, "v2-rec"),
        ))
        .unwrap();
    e.client
        .run(&AttachmentUpload::new(
            &app,
            current.access(),
            Attachment::new("v2-rec", "report.bin", vec![0xff, 0x00, 0x10]).unwrap(),
        ))
        .unwrap();
    let v = e.uploads(json!({"profile": "ilabx"}));
    assert_eq!(v["count"], 2);
    assert_eq!(v["uploads"][1]["hex"], "ff0010");
    assert_eq!(e.uploads(json!({"profile": "roncoo"}))["count"], 0);
}

#[test]
fn ilabx_plus_slash_equals_blocking() {
    ilabx_plus_slash_equals(Transport::Blocking);
}

#[test]
fn ilabx_plus_slash_equals_async() {
    ilabx_plus_slash_equals(Transport::Async);
}

// ---------------------------------------------------------------- clock control

fn outlived_token(t: Transport) {
    let e = env(t);
    let mut session = IlabSession::new(Profile::Roncoo, e.login()).unwrap();
    // The experiment runs almost 24 hours.
    e.advance(86_400 - 120);
    assert!(session.needs_refresh(e.client.now()));
    let refreshed = e.client.run(&session.refresh(&e.app).unwrap()).unwrap();
    session.accept(refreshed).unwrap();
    assert!(!session.needs_refresh(e.client.now()));
    e.advance(600);
    let current = session.current().clone();
    e.client
        .run(&DataUploadRequest::new(
            &e.app,
            current.access(),
            &record(&current.un, "long-run"),
        ))
        .unwrap();
    // Without the refresh the same upload would have been refused: 2.
    let stale = IlabSession::new(Profile::Roncoo, e.login()).unwrap();
    e.advance(86_400);
    let err = e
        .client
        .run(&DataUploadRequest::new(
            &e.app,
            stale.current().access(),
            &record(SEED_USER, "long-run-2"),
        ))
        .unwrap_err();
    assert_eq!(code(&err), "2");
}

#[test]
fn outlived_token_refreshes_before_upload_blocking() {
    outlived_token(Transport::Blocking);
}

#[test]
fn outlived_token_refreshes_before_upload_async() {
    outlived_token(Transport::Async);
}

// ---------------------------------------------------------------- token managers

fn policy() -> RefreshPolicy {
    RefreshPolicy {
        jitter: 0.0,
        ..RefreshPolicy::default()
    }
}

/// What the scenario needs from either manager.
trait Manager {
    fn token(&self, source: &Arc<IlabTokens>) -> Result<String, Error>;
    fn upload(&self, source: &Arc<IlabTokens>, app: &Ilab, origin: &str) -> Result<(), Error>;
}

impl Manager for kaifang_transport_blocking::TokenManager {
    fn token(&self, source: &Arc<IlabTokens>) -> Result<String, Error> {
        Ok(self
            .token(source.as_ref())?
            .access
            .expose_secret()
            .to_owned())
    }
    fn upload(&self, source: &Arc<IlabTokens>, app: &Ilab, origin: &str) -> Result<(), Error> {
        let rec = record(SEED_USER, origin);
        self.call_with_token(source.as_ref(), |t| {
            DataUploadRequest::new(app, &t.access, &rec)
        })
        .map(|_| ())
    }
}

impl Manager for kaifang_transport_async::TokenManager {
    fn token(&self, source: &Arc<IlabTokens>) -> Result<String, Error> {
        runtime()
            .block_on(async { Ok(self.token(source).await?.access.expose_secret().to_owned()) })
    }
    fn upload(&self, source: &Arc<IlabTokens>, app: &Ilab, origin: &str) -> Result<(), Error> {
        let rec = record(SEED_USER, origin);
        runtime().block_on(async {
            self.call_with_token(source, |t| DataUploadRequest::new(app, &t.access, &rec))
                .await
                .map(|_| ())
        })
    }
}

fn manager(e: &Env) -> Box<dyn Manager> {
    match &e.client {
        Client::Blocking(c) => {
            Box::new(kaifang_transport_blocking::TokenManager::new(c.clone()).with_policy(policy()))
        }
        Client::Async(c) => {
            Box::new(kaifang_transport_async::TokenManager::new(c.clone()).with_policy(policy()))
        }
    }
}

fn lifecycle(t: Transport) {
    let e = env(t);
    let m = manager(&e);
    let source = Arc::new(IlabTokens::new(&e.app, e.mint_ticket(SEED_APPID)));
    assert_eq!(source.key().tenant, format!("{SEED_APPID}/{SEED_USER}"));
    let first = m.token(&source).unwrap();
    assert_eq!(m.token(&source).unwrap(), first, "cached");
    assert_eq!(e.count(&format!("GET {TOKEN_PATH}")), 1);
    m.upload(&source, &e.app, "lc-0").unwrap();

    // Each time the token expires, the manager refreshes with the original's refresh token.
    let mut seen = vec![first];
    for n in 1..=2u64 {
        e.advance(86_400);
        let t = m.token(&source).unwrap();
        assert!(!seen.contains(&t), "refresh {n} gave a new token");
        seen.push(t);
        assert_eq!(e.count(&format!("GET {REFRESH_PATH}")), n);
        assert_eq!(source.refreshes_used(), u8::try_from(n).unwrap());
        m.upload(&source, &e.app, &format!("lc-{n}")).unwrap();
    }
    // A third is refused before calling, and the ticket is spent: a new ticket is needed.
    e.advance(86_400);
    let err = m.token(&source).unwrap_err();
    assert_eq!(e.count(&format!("GET {REFRESH_PATH}")), 2);
    assert_eq!(e.count(&format!("GET {TOKEN_PATH}")), 1);
    assert!(
        matches!(
            codes::kind_of(&err, Endpoint::Token),
            Some(Kind::NewTicketNeeded | Kind::RefreshLimitReached)
        ) || matches!(err, Error::RefreshBackoff { .. }),
        "{err}"
    );
    // The user clicks 我要做实验 again; once the backoff is over, a fresh login.
    source.supply_ticket(e.mint_ticket(SEED_APPID));
    e.advance(120);
    let again = m.token(&source).unwrap();
    assert!(!seen.contains(&again));
    assert_eq!(e.count(&format!("GET {TOKEN_PATH}")), 2);
    assert_eq!(source.refreshes_used(), 0);

    // Revoked between calls: the upload is refused (3), the token expired, refreshed, retried.
    e.sb.revoke(Some("ilab"), &again).unwrap();
    m.upload(&source, &e.app, "after-revoke").unwrap();
    assert_eq!(e.count(&format!("GET {REFRESH_PATH}")), 3);
    assert_eq!(source.refreshes_used(), 1);
    let stored = e.uploads(json!({"origin_id": "after-revoke"}));
    assert_eq!(stored["count"], 1);
    assert_ne!(m.token(&source).unwrap(), again);
}

#[test]
fn token_lifecycle_blocking() {
    lifecycle(Transport::Blocking);
}

#[test]
fn token_lifecycle_async() {
    lifecycle(Transport::Async);
}

// ---------------------------------------------------------------- controls

#[test]
fn lifetime_control_changes_the_answer() {
    let e = env(Transport::Blocking);
    e.sb.set_token_lifetime("ilab", "access_token", Some(Duration::from_secs(600)))
        .unwrap();
    let token = e.login();
    assert_eq!(
        token.token.expires_at,
        from_unix_millis(T0) + Duration::from_secs(599)
    );
    let c = decode_unverified(token.access().expose_secret()).unwrap();
    assert_eq!(
        c.expires_at(),
        Some(from_unix_millis(T0 / 1000 * 1000 + 600_000))
    );
    assert_eq!(e.sb.tenants()["ilab"]["lifetimes"]["access_token"], 600);
    // `access_token` mint: the token answer without the protocol dance.
    let v =
        e.sb.mint(
            "ilab",
            "access_token",
            json!({"appid": SEED_APPID, "un": "u9", "dis": "王五"}),
        )
        .unwrap();
    assert_eq!(v["code"], 0);
    assert_eq!(v["un"], "u9");
    assert_eq!(v["expires_in"], 599);
    // Bad mint requests are typed control errors.
    assert!(
        e.sb.mint("ilab", "ticket", json!({"appid": "nope"}))
            .is_err()
    );
    assert!(
        e.sb.mint(
            "ilab",
            "ticket",
            json!({"appid": SEED_APPID, "un": "nobody"})
        )
        .is_err()
    );
    assert!(
        e.sb.mint("ilab", "ticket", json!({"appid": SEED_APPID, "bogus": 1}))
            .is_err()
    );
    assert!(e.sb.mint("ilab", "nothing", Value::Null).is_err());
    // Secrets stay out of Debug.
    let dbg = format!("{:?}", IlabModule::default());
    assert!(!dbg.contains(SEED_SECRET));
}

// ---------------------------------------------------------------- the seed's Python example

/// The `<pre><code>` block after "Python示例", as plain text.
fn seed_python(doc: &str) -> String {
    let start = doc
        .find("Python示例")
        .expect("the seed has a Python example");
    let rest = &doc[start..];
    let code_start = rest.find("<pre><code>").unwrap() + "<pre><code>".len();
    let code_end = rest[code_start..].find("</code></pre>").unwrap() + code_start;
    rest[code_start..code_end]
        .replace("<br>", "\n")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn seed_python_example_against_the_sandbox() {
    let Some(python) = kaifang_e2e::python_with(&["urllib3"]).unwrap() else {
        return;
    };
    let Some(doc) = kaifang_e2e::seed("004_").unwrap() else {
        return;
    };
    let original = seed_python(&doc);
    assert!(original.contains("API_PATH = '{{ addr }}'"), "{original}");
    assert!(original.contains("'&appid='"), "entities unescaped");

    let e = env(Transport::Blocking);
    let ticket = e.mint_ticket(SEED_APPID);
    // Only the address and the ticket change.
    let ticket_line = original
        .lines()
        .find(|l| l.trim_start().starts_with("TICKET = '"))
        .unwrap();
    let indent = &ticket_line[..ticket_line.len() - ticket_line.trim_start().len()];
    let script = original
        .replace(
            "API_PATH = '{{ addr }}'",
            &format!("API_PATH = '{}'", e.sb.base_url()),
        )
        .replace(
            ticket_line,
            &format!("{indent}TICKET = '{}'", ticket.decoded().expose_secret()),
        );
    assert_eq!(script.lines().count(), original.lines().count());
    let changed: Vec<_> = script
        .lines()
        .zip(original.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");

    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ilab_seed_004.py");
    std::fs::write(&path, &script).unwrap();
    let out = Command::new(&python).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // The access token the sandbox issued: an HS256 JWT under its key, held as an access token
    // for the seed's app and user.
    assert!(hs256_verify(
        &HmacSha256Key::new(DEFAULT_JWT_KEY.as_bytes()),
        &printed
    ));
    let held =
        e.sb.tokens()
            .entries("ilab")
            .into_iter()
            .find(|(v, _)| *v == printed)
            .expect("the printed token is one the sandbox issued");
    assert_eq!(held.1.kind, "access_token");
    assert_eq!(held.1.tenant, SEED_APPID);
    assert_eq!(held.1.subject.as_deref(), Some(SEED_USER));
    let c = decode_unverified(&printed).unwrap();
    assert_eq!(c.client_id.as_deref(), Some(SEED_APPID));
    // And the token works for an upload through our client.
    e.client
        .run(&DataUploadRequest::new(
            &e.app,
            &SecretString::new(printed),
            &record(SEED_USER, "py-1"),
        ))
        .unwrap();
    // The script's request went through the sandbox's token endpoint, once.
    assert_eq!(e.count(&format!("GET {TOKEN_PATH}")), 1);
}
