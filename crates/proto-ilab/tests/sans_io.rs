//! The client half against the server half, with no I/O: every request the client builds is
//! answered by `IlabServer::handle` exactly as the sandbox will, at a frozen time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use kaifang_proto_core::context::{Context, FrozenClock, SeqNonce};
use kaifang_proto_core::exchange::{Exchange, run_with};
use kaifang_proto_core::lifecycle::{Plan, TokenSource};
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_ilab::codes::{self, Endpoint, Kind};
use kaifang_proto_ilab::server::{
    IlabServer, IlabStore, Incoming, MemoryStore, ServerApp, TicketRecord, TokenKind,
    UploadContent, mint,
};
use kaifang_proto_ilab::upload::{DataUpload, Status, StepRecord};
use kaifang_proto_ilab::{
    AccessTokenRequest, Attachment, AttachmentUpload, DataUploadRequest, Ilab, IlabConfig,
    IlabSession, IlabToken, IlabTokens, Lineage, Profile, RefreshRequest, Ticket,
    decode_unverified,
};

const ADDR: &str = "http://127.0.0.1:8180";
const APPID: &str = "1681600222748241929";
const SECRET: &str = "123456";
const USER: &str = "1701808169793138690";
const SEED_TICKET: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI";
const SEED_ACCESS: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtc2ciOiLosIPnlKjmiJDlip_vvIzov5Tlm57miYDpnIDmlbDmja4iLCJjb2RlIjowLCJjcmVhdGVfdGltZSI6MTcxMTEwMzIyOTEyMiwiY3JlYXRlX3RpbWVfZGlzcGxheSI6IjIwMjQtMDMtMjIgMTg6Mjc6MDkiLCJ1c2VyX25hbWUiOiIxNzAxODA4MTY5NzkzMTM4NjkwIiwiYXV0aG9yaXRpZXMiOlsiQURNSU4iXSwiY2xpZW50X2lkIjoiMTY4MTYwMDIyMjc0ODI0MTkyOSIsImRpcyI6IjE3MDE4MDgxNjk3OTMxMzg2OTAiLCJzY29wZSI6WyJjYWxsYmFjazpzY29yZSJdLCJleHBpcmVzX3RpbWVfZGlzcGxheSI6IjIwMjQtMDMtMjMgMTg6Mjc6MDgiLCJ1biI6IjE3MDE4MDgxNjk3OTMxMzg2OTAiLCJleHAiOjE3MTExODk2MjksImp0aSI6ImE1N2FiOTljLTZlZDMtNGI5My1hOGEzLTA3NzQ2NDM0ZmZlOCIsImV4cGlyZXNfdGltZSI6MTcxMTE4OTYyODEyMn0.rnRo5Z0D4R2p6jd57Ld29hAOegDtddKA4Z4sp4C7kD8";
const SEED_REFRESH: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtc2ciOiLosIPnlKjmiJDlip_vvIzov5Tlm57miYDpnIDmlbDmja4iLCJjb2RlIjowLCJjcmVhdGVfdGltZSI6MTcxMTEwMzIyOTEyMiwiY3JlYXRlX3RpbWVfZGlzcGxheSI6IjIwMjQtMDMtMjIgMTg6Mjc6MDkiLCJ1c2VyX25hbWUiOiIxNzAxODA4MTY5NzkzMTM4NjkwIiwiYXV0aG9yaXRpZXMiOlsiQURNSU4iXSwiY2xpZW50X2lkIjoiMTY4MTYwMDIyMjc0ODI0MTkyOSIsImRpcyI6IjE3MDE4MDgxNjk3OTMxMzg2OTAiLCJzY29wZSI6WyJjYWxsYmFjazpzY29yZSJdLCJhdGkiOiJhNTdhYjk5Yy02ZWQzLTRiOTMtYThhMy0wNzc0NjQzNGZmZTgiLCJleHBpcmVzX3RpbWVfZGlzcGxheSI6IjIwMjQtMDMtMjMgMTg6Mjc6MDgiLCJ1biI6IjE3MDE4MDgxNjk3OTMxMzg2OTAiLCJleHAiOjE3MTM2OTUyMjksImp0aSI6ImE3YTUwYzdmLTMxN2MtNGUzYy1iNTIwLWViZDhiMDI2ZmVjZiIsImV4cGlyZXNfdGltZSI6MTcxMTE4OTYyODEyMn0.CCIavimTmuyBcy6LxP9GHJHZSfurR9ILjhg-N2b9e48";
/// The seed answer's create_time.
const NOW: i64 = 1_711_103_229_122;

const V2_TICKET_ENCODED: &str = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D";
const V2_TICKET: &str = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5+1UFkxS7PclakS5u3P6cXwrv8+7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ=";

/// A platform, its memory and its clock, answering the client's requests in-process.
struct Platform {
    server: IlabServer,
    store: MemoryStore,
    clock: Arc<FrozenClock>,
    ctx: Context,
}

impl Platform {
    fn new(profile: Profile, appid: &str, secret: &str) -> Self {
        let clock = Arc::new(FrozenClock::from_unix_millis(NOW));
        let ctx = Context::new(clock.clone(), Arc::new(SeqNonce::new(42)));
        Platform {
            server: IlabServer::new(profile, b"sandbox-jwt-key")
                .with_app(ServerApp::new(appid, secret, "demo")),
            store: MemoryStore::new(),
            clock,
            ctx,
        }
    }

    fn seed() -> Self {
        let mut p = Platform::new(Profile::Roncoo, APPID, SECRET);
        p.register(SEED_TICKET, APPID, 1_713_692_065_000);
        p
    }

    fn register(&mut self, ticket: &str, appid: &str, expires_at_ms: i64) {
        self.store.put_ticket(
            ticket.to_owned(),
            TicketRecord {
                appid: appid.to_owned(),
                user_id: USER.to_owned(),
                dis: "用户姓名".to_owned(),
                expires_at_ms,
                used: false,
            },
        );
    }

    fn answer(&mut self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        self.server
            .handle(&mut self.store, &self.ctx, &Incoming::from_request(req))
            .expect("a platform path")
    }

    fn run<E: Exchange>(&mut self, exchange: &E) -> Result<E::Output, Error> {
        let ctx = self.ctx.clone();
        run_with(exchange, &ctx, |req| Ok(self.answer(&req)))
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

fn app() -> Ilab {
    Ilab::new(IlabConfig::new(ADDR, APPID, SECRET)).unwrap()
}

fn login(p: &mut Platform) -> IlabToken {
    p.run(&AccessTokenRequest::new(
        &app(),
        Ticket::new(SEED_TICKET).unwrap(),
    ))
    .unwrap()
}

fn kind(err: &Error, endpoint: Endpoint) -> Kind {
    codes::kind_of(err, endpoint).unwrap_or_else(|| panic!("not an ilab answer: {err}"))
}

fn upload_record(un: &str) -> DataUpload {
    DataUpload::builder(un, "电路实验", "rec-42")
        .status(Status::Completed)
        .score(66)
        .times(NOW, NOW + 12 * 60_000)
        .step(
            StepRecord::builder("实验准备")
                .times(NOW, NOW + 2 * 60_000)
                .max_score(20)
                .score(18),
        )
        .step(
            StepRecord::builder("实验操作")
                .times(NOW + 2 * 60_000, NOW + 12 * 60_000)
                .max_score(80)
                .score(48)
                .evaluation("优秀")
                .scoring_model("自动评分"),
        )
        .build()
        .unwrap()
}

#[test]
fn seed_url_and_signature_through_the_high_level_api() {
    let req = AccessTokenRequest::new(&app(), Ticket::new(SEED_TICKET).unwrap());
    assert_eq!(req.signature(), "6CC426EF80A31C5E7BDE10F6F5772DE5");
    let built = req.build(&Context::system()).unwrap();
    assert_eq!(built.method(), http::Method::GET);
    // The seed's 调用URL示例 with {{ addr }} = ADDR.
    assert_eq!(
        built.uri().to_string(),
        format!(
            "{ADDR}/oauth/token/accesstoken?ticket={SEED_TICKET}&appid={APPID}&signature=6CC426EF80A31C5E7BDE10F6F5772DE5"
        )
    );
}

#[test]
fn login_gives_a_typed_token_and_the_seed_answer_shape() {
    let mut p = Platform::seed();
    let req = AccessTokenRequest::new(&app(), Ticket::new(SEED_TICKET).unwrap())
        .build(&p.ctx)
        .unwrap();
    let resp = p.answer(&req);
    let body = std::str::from_utf8(resp.body()).unwrap().to_owned();
    assert!(
        body.starts_with(r#"{"code":0,"msg":"调用成功，返回所需数据","access_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."#),
        "{body}"
    );
    let keys = [
        "code",
        "msg",
        "access_token",
        "token_type",
        "refresh_token",
        "expires_in",
        "scope",
        "un",
        "dis",
        "create_time",
        "create_time_display",
        "expires_time",
        "expires_time_display",
        "jti",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| body.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{body}");
    assert!(body.contains(r#""expires_in":86399,"scope":"callback:score","un":"1701808169793138690","dis":"用户姓名","create_time":"1711103229122","create_time_display":"2024-03-22 18:27:09","expires_time":"1711189628122","expires_time_display":"2024-03-23 18:27:08","jti":""#), "{body}");

    let token = AccessTokenRequest::new(&app(), Ticket::new(SEED_TICKET).unwrap())
        .parse(&p.ctx, resp)
        .unwrap();
    assert_eq!(token.un, USER);
    assert_eq!(token.dis, "用户姓名");
    assert_eq!(token.lineage, Lineage::Original);
    assert_eq!(token.token.scope, ["callback:score"]);
    assert_eq!(token.token.token_type.as_deref(), Some("bearer"));
    // Expiry counted from receipt.
    assert_eq!(token.token.issued_at, p.ctx.now());
    assert_eq!(token.token.ttl(), Duration::from_secs(86_399));
    assert_eq!(
        token.created_at,
        Some(kaifang_proto_core::context::from_unix_millis(NOW))
    );
    assert_eq!(
        token.expires_time_display.as_deref(),
        Some("2024-03-23 18:27:08")
    );
    assert_eq!(token.token.extra["un"], USER);
    assert!(token.token.refresh.is_some());
    assert_eq!(token.jti.as_deref().map(str::len), Some(36));
}

#[test]
fn minted_jwts_carry_the_seed_claims_in_the_seed_order() {
    let p = Platform::seed();
    let m = mint::tokens(
        p.server.jwt_key(),
        &p.ctx,
        mint::TokenSpec {
            profile: Profile::Roncoo,
            appid: APPID,
            un: USER,
            dis: USER,
            now_ms: NOW,
            access_ttl_secs: 86_400,
            refresh_ttl_secs: 30 * 86_400,
        },
    )
    .unwrap();
    let payload = |jwt: &str| {
        use base64::Engine as _;
        let seg = jwt.split('.').nth(1).unwrap();
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(seg)
                .unwrap(),
        )
        .unwrap()
    };
    let seed_access =
        payload(SEED_ACCESS).replace("a57ab99c-6ed3-4b93-a8a3-07746434ffe8", &m.claims.jti);
    assert_eq!(payload(&m.access), seed_access);
    let seed_refresh = payload(SEED_REFRESH)
        .replace("a57ab99c-6ed3-4b93-a8a3-07746434ffe8", &m.claims.jti)
        .replace("a7a50c7f-317c-4e3c-b520-ebd8b026fecf", &m.refresh_jti);
    assert_eq!(payload(&m.refresh), seed_refresh);
    // Same header as the seed's tokens; our own key signs them.
    assert_eq!(m.access.split('.').next(), SEED_ACCESS.split('.').next());
    assert!(mint::hs256_verify(p.server.jwt_key(), &m.access));
    assert!(!mint::hs256_verify(p.server.jwt_key(), SEED_ACCESS));
    // Minted tickets look like the seed's.
    let mut store = MemoryStore::new();
    let t = p
        .server
        .mint_ticket(&mut store, &p.ctx, APPID, USER, "张三")
        .unwrap();
    assert_eq!(t.split('.').next(), SEED_TICKET.split('.').next());
    let c = decode_unverified(&t).unwrap();
    assert_eq!(c.iss.as_deref(), Some("RONCOO"));
    assert_eq!(c.user_id.as_deref(), Some(USER));
    assert_eq!(c.exp, Some(NOW / 1000 + 30 * 86_400));
}

#[test]
fn claims_of_the_seed_tokens() {
    let c = decode_unverified(SEED_ACCESS).unwrap();
    assert_eq!(c.un.as_deref(), Some(USER));
    assert_eq!(c.user_name.as_deref(), Some(USER));
    assert_eq!(c.client_id.as_deref(), Some(APPID));
    assert_eq!(c.authorities, ["ADMIN"]);
    assert!(c.has_scope("callback:score"));
    assert_eq!(c.exp, Some(1_711_189_629));
    assert_eq!(c.create_time, Some(NOW));
    assert_eq!(c.expires_time, Some(1_711_189_628_122));
    assert_eq!(
        c.jti.as_deref(),
        Some("a57ab99c-6ed3-4b93-a8a3-07746434ffe8")
    );
    assert_eq!(c.extra["msg"], "调用成功，返回所需数据");
    let r = decode_unverified(SEED_REFRESH).unwrap();
    assert_eq!(r.ati, c.jti);
    assert_eq!(r.exp, Some(1_713_695_229));
    // The doc artefact with a trailing `=` still decodes (the signature part is not checked).
    assert!(decode_unverified(&format!("{SEED_ACCESS}=")).is_ok());
    for bad in ["", "a.b", "a.b.c.d", "x.!!!.y", "x.bnVsbA.y", "x.WzFd.y"] {
        let err = decode_unverified(bad).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{bad}: {err}");
    }
}

#[test]
fn ilabx_ticket_with_plus_slash_equals() {
    let mut p = Platform::new(Profile::IlabX, "105348", "secret");
    p.register(V2_TICKET, "105348", NOW + 60_000);
    let app = Ilab::new(IlabConfig::new(ADDR, "105348", "secret").profile(Profile::IlabX)).unwrap();
    // Encoded or decoded input: the same request.
    let from_encoded = AccessTokenRequest::new(&app, Ticket::new(V2_TICKET_ENCODED).unwrap());
    let from_decoded = AccessTokenRequest::new(&app, Ticket::new(V2_TICKET).unwrap());
    assert_eq!(from_encoded.signature(), "A420ABC82AB3B07C347F7F02A6B28FD2");
    assert_eq!(from_encoded.url(), from_decoded.url());
    assert_eq!(
        from_encoded.url(),
        format!(
            "{ADDR}/open/api/v2/token?ticket={V2_TICKET_ENCODED}&appid=105348&signature=A420ABC82AB3B07C347F7F02A6B28FD2"
        )
    );
    // A ticket whose `+` a form decoder turned into spaces is repaired.
    let spaced = V2_TICKET.replace('+', " ");
    assert_eq!(
        AccessTokenRequest::new(&app, Ticket::new(&spaced).unwrap()).signature(),
        "A420ABC82AB3B07C347F7F02A6B28FD2"
    );

    // The classic bug: signing the still-encoded ticket.
    let buggy = format!(
        "{ADDR}/open/api/v2/token?ticket={V2_TICKET_ENCODED}&appid=105348&signature=C2CF942B96009601A49947F09CB40914"
    );
    let resp = p.answer(&http::Request::get(&buggy).body(Vec::new()).unwrap());
    assert_eq!(
        resp.body().as_slice(),
        r#"{"code":2,"msg":"密钥错误"}"#.as_bytes()
    );
    let err = from_encoded.parse(&p.ctx, resp).unwrap_err();
    assert_eq!(kind(&err, Endpoint::Token), Kind::SignatureMismatch);
    assert!(err.to_string().contains("DECODED"), "{err}");
    // The other classic bug: the ticket not encoded in the URL (`+` arrives as a space).
    let raw = format!(
        "{ADDR}/open/api/v2/token?ticket={V2_TICKET}&appid=105348&signature=A420ABC82AB3B07C347F7F02A6B28FD2"
    );
    let resp = p.answer(&http::Request::get(&raw).body(Vec::new()).unwrap());
    assert_eq!(
        resp.body().as_slice(),
        r#"{"code":2,"msg":"密钥错误"}"#.as_bytes()
    );

    // Done right, it works once; the answer's base64 token is sent encoded on upload.
    let token = p.run(&from_encoded).unwrap();
    assert!(token.access().expose_secret().contains('='));
    let up = DataUploadRequest::new(&app, token.access(), &upload_record(&token.un));
    let built = up.build(&p.ctx).unwrap();
    assert!(
        !built.uri().query().unwrap().contains(['+', '/']),
        "{:?}",
        built.uri()
    );
    p.run(&up).unwrap();
    let again = p.run(&from_decoded).unwrap_err();
    assert_eq!(kind(&again, Endpoint::Token), Kind::TicketInvalid);
}

#[test]
fn two_refreshes_then_the_third_is_refused_on_both_sides() {
    let mut p = Platform::seed();
    let app = app();
    let original = login(&mut p);
    let original_refresh = original.token.refresh.clone().unwrap();
    let mut session = IlabSession::new(Profile::Roncoo, original).unwrap();

    for n in 1..=2u8 {
        p.advance(3600);
        let req = session.refresh(&app).unwrap();
        assert_eq!(req.number(), n);
        let refreshed = p.run(&req).unwrap();
        assert_eq!(refreshed.lineage, Lineage::Refreshed { number: n });
        assert_eq!(refreshed.un, USER);
        session.accept(refreshed).unwrap();
    }
    assert_eq!(session.refreshes_used(), 2);
    assert_eq!(session.refreshes_left(), 0);
    // Refused before calling.
    let err = session.refresh(&app).unwrap_err();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshLimitReached);
    assert!(err.to_string().contains("at most twice"), "{err}");
    // Forced: the server refuses too (5).
    let err = p
        .run(&RefreshRequest::forced(&app, &original_refresh, 3))
        .unwrap_err();
    assert_eq!(err.platform().unwrap().code, "5");
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshLimitReached);
    // A refreshed token's own refresh token is not refreshable (6), client- and server-side.
    let refreshed_refresh = session.current().token.refresh.clone().unwrap();
    let err = p
        .run(&RefreshRequest::forced(&app, &refreshed_refresh, 3))
        .unwrap_err();
    assert_eq!(
        kind(&err, Endpoint::Refresh),
        Kind::RefreshedTokenNotRefreshable
    );
    let err = IlabSession::new(Profile::Roncoo, session.current().clone()).unwrap_err();
    assert_eq!(
        kind(&err, Endpoint::Refresh),
        Kind::RefreshedTokenNotRefreshable
    );
}

#[test]
fn refresh_signature_over_the_access_token_is_accepted_leniently() {
    let mut p = Platform::seed();
    let original = login(&mut p);
    let refresh = original.token.refresh.clone().unwrap();
    let sig = kaifang_proto_ilab::auth::signature(original.access().expose_secret(), APPID, SECRET);
    let url = format!(
        "{ADDR}/oauth/token/refreshtoken?refresh_token={}&appid={APPID}&signature={sig}",
        refresh.expose_secret()
    );
    let resp = p.answer(&http::Request::post(&url).body(Vec::new()).unwrap());
    let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(v["code"], 0, "{v}");
}

#[test]
fn score_with_steps_then_report_file() {
    let mut p = Platform::seed();
    let app = app();
    let token = login(&mut p);
    let record = upload_record(&token.un);

    // The report first is refused: the score must come first.
    let report = Attachment::new("rec-42", "实验报告.pdf", b"%PDF-1.4 ...".to_vec())
        .unwrap()
        .title("电路实验报告")
        .remarks("第一次");
    let err = p
        .run(&AttachmentUpload::new(&app, token.access(), report.clone()))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Upload), Kind::MissingParameter);

    let up = DataUploadRequest::new(&app, token.access(), &record);
    let req = up.build(&p.ctx).unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.headers()["content-type"], "application/json");
    assert!(
        req.uri()
            .to_string()
            .starts_with(&format!("{ADDR}/oauth/api/v1/data_upload?access_token=eyJ"))
    );
    let body = std::str::from_utf8(req.body()).unwrap();
    assert!(body.starts_with(r#"{"username":"1701808169793138690","title":"电路实验","status":1,"score":66,"startTime":1711103229122,"endTime":1711103949122,"timeUsed":12,"appid":"1681600222748241929","originId":"rec-42","steps":[{"seq":1,"title":"实验准备","startTime":1711103229122,"endTime":1711103349122,"timeUsed":2,"expectTime":2,"maxScore":20,"score":18,"repeatCount":1,"evaluation":"","scoringModel":"","remarks":""},{"seq":2,"#), "{body}");
    let receipt = p.run(&up).unwrap();
    assert_eq!(receipt.message, "成功");

    let att = AttachmentUpload::new(&app, token.access(), report);
    let req = att.build(&p.ctx).unwrap();
    assert_eq!(req.headers()["content-type"], "application/octet-stream");
    let q = req.uri().query().unwrap().to_owned();
    assert!(q.contains("&appid=1681600222748241929&originId=rec-42&filename=%E5%AE%9E%E9%AA%8C%E6%8A%A5%E5%91%8A.pdf&title="), "{q}");
    p.run(&att).unwrap();

    let uploads = p.store.uploads();
    assert_eq!(uploads.len(), 2);
    match &uploads[0].content {
        UploadContent::Data(d) => assert_eq!(d, &record),
        other => panic!("{other:?}"),
    }
    match &uploads[1].content {
        UploadContent::Attachment(a) => {
            assert_eq!(a.filename, "实验报告.pdf");
            assert_eq!(a.title, "电路实验报告");
            assert_eq!(a.remarks, "第一次");
            assert_eq!(a.bytes, b"%PDF-1.4 ...");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_experiment_that_outlived_its_token_refreshes_before_uploading() {
    let mut p = Platform::seed();
    let app = app();
    let mut session = IlabSession::new(Profile::Roncoo, login(&mut p)).unwrap();
    p.advance(86_400 - 120);
    assert!(session.needs_refresh(p.ctx.now()));
    let refreshed = p.run(&session.refresh(&app).unwrap()).unwrap();
    session.accept(refreshed).unwrap();
    assert!(!session.needs_refresh(p.ctx.now()));
    p.advance(600);
    let up = DataUploadRequest::new(
        &app,
        session.current().access(),
        &upload_record(&session.current().un),
    );
    p.run(&up).unwrap();
}

#[test]
fn every_token_endpoint_code() {
    let mut p = Platform::seed();
    let app = app();
    let ask = |p: &mut Platform, url: String| {
        let resp = p.answer(&http::Request::get(url).body(Vec::new()).unwrap());
        AccessTokenRequest::new(&app, Ticket::new("x").unwrap())
            .parse(&p.ctx, resp)
            .unwrap_err()
    };
    // 1: a missing parameter (checked first).
    let err = ask(
        &mut p,
        format!("{ADDR}/oauth/token/accesstoken?ticket={SEED_TICKET}&appid={APPID}"),
    );
    assert_eq!(kind(&err, Endpoint::Token), Kind::MissingParameter);
    assert_eq!(err.platform().unwrap().message, "参数错误");
    assert_eq!(err.class(), ErrorClass::BadRequest);
    // 2: a wrong secret.
    let other = Ilab::new(IlabConfig::new(ADDR, APPID, "654321")).unwrap();
    let err = p
        .run(&AccessTokenRequest::new(
            &other,
            Ticket::new(SEED_TICKET).unwrap(),
        ))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Token), Kind::SignatureMismatch);
    // 4: unknown ticket.
    let err = p
        .run(&AccessTokenRequest::new(
            &app,
            Ticket::new("eyJ.unknown.ticket").unwrap(),
        ))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Token), Kind::TicketInvalid);
    // 3: expired ticket.
    p.register("expired-ticket", APPID, NOW - 1);
    let err = p
        .run(&AccessTokenRequest::new(
            &app,
            Ticket::new("expired-ticket").unwrap(),
        ))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Token), Kind::TicketExpired);
    assert!(err.to_string().contains("我要做实验"));
    // 4: a ticket works once.
    login(&mut p);
    let err = p
        .run(&AccessTokenRequest::new(
            &app,
            Ticket::new(SEED_TICKET).unwrap(),
        ))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Token), Kind::TicketInvalid);
    // Other codes: system error.
    let resp = http::Response::new(r#"{"code":500,"msg":"系统错误"}"#.as_bytes().to_vec());
    let err = AccessTokenRequest::new(&app, Ticket::new("x").unwrap())
        .parse(&p.ctx, resp)
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Token), Kind::System);
    // Wrong method: 405.
    let resp = p.answer(
        &http::Request::put(format!("{ADDR}/oauth/token/accesstoken"))
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(resp.status(), http::StatusCode::METHOD_NOT_ALLOWED);
    // Not a platform path.
    let req = http::Request::get(format!("{ADDR}/elsewhere"))
        .body(Vec::new())
        .unwrap();
    assert!(
        p.server
            .handle(&mut p.store, &p.ctx, &Incoming::from_request(&req))
            .is_none()
    );
}

#[test]
fn every_refresh_code() {
    let mut p = Platform::seed();
    let app = app();
    let original = login(&mut p);
    let refresh = original.token.refresh.clone().unwrap();
    let ask = |p: &mut Platform, url: String| {
        let resp = p.answer(&http::Request::get(url).body(Vec::new()).unwrap());
        RefreshRequest::forced(&app, &refresh, 1)
            .parse(&p.ctx, resp)
            .unwrap_err()
    };
    let err = ask(
        &mut p,
        format!("{ADDR}/oauth/token/refreshtoken?appid={APPID}&signature=X"),
    );
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::MissingParameter);
    let other = Ilab::new(IlabConfig::new(ADDR, APPID, "654321")).unwrap();
    let err = p
        .run(&RefreshRequest::forced(&other, &refresh, 1))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::SignatureMismatch);
    // An access token where a refresh token is expected: invalid.
    let err = p
        .run(&RefreshRequest::forced(&app, original.access(), 1))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshTokenInvalid);
    let err = p
        .run(&RefreshRequest::forced(&app, &SecretString::new("nope"), 1))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshTokenInvalid);
    p.advance(30 * 86_400);
    let err = p
        .run(&RefreshRequest::forced(&app, &refresh, 1))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshTokenExpired);
}

#[test]
fn every_upload_code() {
    let mut p = Platform::seed();
    let app = app();
    let token = login(&mut p);
    let record = upload_record(&token.un);
    let up = |t: &SecretString| DataUploadRequest::new(&app, t, &record);

    // 3: unknown token; classified token-invalid so the lifecycle refreshes and retries once.
    let err = p.run(&up(&SecretString::new("forged"))).unwrap_err();
    assert_eq!(kind(&err, Endpoint::Upload), Kind::TokenInvalid);
    assert!(err.is_token_invalid());
    // 3: a refresh token is not an access token.
    let err = p
        .run(&up(token.token.refresh.as_ref().unwrap()))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Upload), Kind::TokenInvalid);
    // 3: revoked.
    let revoked = login_second_user(&mut p);
    assert!(p.store.revoke(revoked.access().expose_secret()));
    let err = p.run(&up(revoked.access())).unwrap_err();
    assert_eq!(kind(&err, Endpoint::Upload), Kind::TokenInvalid);
    // 4: no callback:score scope.
    let mut rec = p.store.token(token.access().expose_secret()).unwrap();
    rec.scope.clear();
    p.store.put_token("scopeless".into(), rec.clone());
    let err = p.run(&up(&SecretString::new("scopeless"))).unwrap_err();
    assert_eq!(kind(&err, Endpoint::Upload), Kind::ScopeMissing);
    assert_eq!(err.class(), ErrorClass::Permission);
    // 1: body problems, each with the field in the message.
    let mut bad = serde_json::from_slice::<serde_json::Value>(&record.to_json(APPID)).unwrap();
    bad["steps"][1]["score"] = 99.into();
    let raw = |p: &mut Platform, body: Vec<u8>, ct: &str| {
        let req = http::Request::post(format!(
            "{ADDR}/oauth/api/v1/data_upload?access_token={}",
            token.access().expose_secret()
        ))
        .header("content-type", ct)
        .body(body)
        .unwrap();
        let resp = p.answer(&req);
        serde_json::from_slice::<serde_json::Value>(resp.body()).unwrap()
    };
    let v = raw(
        &mut p,
        serde_json::to_vec(&bad).unwrap(),
        "application/json",
    );
    assert_eq!(v["code"], 1);
    assert!(v["msg"].as_str().unwrap().contains("steps[1].score"), "{v}");
    let v = raw(&mut p, record.to_json(APPID), "text/plain");
    assert_eq!(v["code"], 1);
    let v = raw(
        &mut p,
        record.to_json("999"),
        "application/json; charset=utf-8",
    );
    assert_eq!(v["code"], 1);
    assert!(v["msg"].as_str().unwrap().contains("appid"));
    // Lenient types are accepted: strings for numbers, a numeric appid.
    let body = format!(
        r#"{{"username":"{USER}","title":"t","status":"1","score":"66","startTime":"{NOW}","endTime":{end},"appid":{APPID},"originId":7,"steps":[{{"seq":"1","title":"s","startTime":{NOW},"endTime":{end},"maxScore":"100","score":50}}]}}"#,
        end = NOW + 1000
    );
    let v = raw(&mut p, body.into_bytes(), "application/json");
    assert_eq!(v["code"], 0, "{v}");
    // 2: expired (and the lifecycle class is token-invalid).
    p.advance(86_400);
    let err = p.run(&up(token.access())).unwrap_err();
    assert_eq!(kind(&err, Endpoint::Upload), Kind::TokenExpired);
    assert!(err.is_token_invalid());
    // 1: no token at all.
    let v = raw(&mut p, Vec::new(), "application/json");
    assert_eq!(v["code"], 2);
    let req = http::Request::post(format!("{ADDR}/oauth/api/v1/data_upload"))
        .body(Vec::new())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(p.answer(&req).body()).unwrap();
    assert_eq!(v["code"], 1);
}

fn login_second_user(p: &mut Platform) -> IlabToken {
    let ticket = p
        .server
        .mint_ticket(&mut p.store, &p.ctx, APPID, "u2", "李四")
        .unwrap();
    let t = p
        .run(&AccessTokenRequest::new(
            &app(),
            Ticket::new(&ticket).unwrap(),
        ))
        .unwrap();
    assert_eq!(t.un, "u2");
    assert_eq!(t.dis, "李四");
    t
}

#[test]
fn token_source_follows_the_rules() {
    let mut p = Platform::seed();
    let app = app();
    let source = IlabTokens::new(&app, Ticket::new(SEED_TICKET).unwrap());
    assert_eq!(source.key().tenant, format!("{APPID}/{USER}"));
    let token = p.run(&source.exchange(&Plan::FullGrant).unwrap()).unwrap();
    assert_eq!(token.extra["dis"], "用户姓名");
    let refresh = token.refresh.clone().unwrap();
    for _ in 0..2 {
        p.run(
            &source
                .exchange(&Plan::UseRefreshToken(refresh.clone()))
                .unwrap(),
        )
        .unwrap();
    }
    assert_eq!(source.refreshes_used(), 2);
    let err = source
        .exchange(&Plan::UseRefreshToken(refresh.clone()))
        .err()
        .unwrap();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshLimitReached);
    assert_eq!(err.class(), ErrorClass::BadRequest);
    // The lifecycle then falls back to the full grant: the ticket is spent.
    let err = source.exchange(&Plan::FullGrant).err().unwrap();
    assert_eq!(kind(&err, Endpoint::Token), Kind::NewTicketNeeded);
    assert!(err.to_string().contains("我要做实验"));
    // The user clicked again.
    let fresh = p
        .server
        .mint_ticket(&mut p.store, &p.ctx, APPID, USER, "用户姓名")
        .unwrap();
    source.supply_ticket(Ticket::new(&fresh).unwrap());
    p.run(&source.exchange(&Plan::FullGrant).unwrap()).unwrap();
    assert_eq!(source.refreshes_used(), 0);
}

#[test]
fn a_failed_login_keeps_the_ticket_only_when_it_was_not_spent() {
    let mut p = Platform::seed();
    let source = IlabTokens::new(&app(), Ticket::new(SEED_TICKET).unwrap());
    // A transport failure: the ticket stays for a retry.
    let ex = source.exchange(&Plan::FullGrant).unwrap();
    let err = run_with(&ex, &p.ctx, |_| {
        Err(Error::Config("connection refused".into()))
    })
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    drop(ex);
    p.run(&source.exchange(&Plan::FullGrant).unwrap()).unwrap();
}

#[test]
fn validation_errors_are_typed() {
    use kaifang_proto_ilab::ValidationError as V;
    let step = || StepRecord::builder("s").times(NOW, NOW + 1000).score(1);
    let base = || {
        DataUpload::builder("u", "t", "o")
            .score(50)
            .times(NOW, NOW + 1000)
    };
    assert!(base().step(step()).build().is_ok());
    assert_eq!(
        DataUpload::builder("", "t", "o").build(),
        Err(V::Empty {
            field: "username".into()
        })
    );
    assert_eq!(
        DataUpload::builder("u", "t", " ").build(),
        Err(V::Empty {
            field: "originId".into()
        })
    );
    assert!(matches!(
        base()
            .times(1_711_103_229, 1_711_103_300)
            .step(step())
            .build(),
        Err(V::NotMillis { .. })
    ));
    assert_eq!(
        base().times(NOW, NOW - 1).step(step()).build(),
        Err(V::EndBeforeStart {
            field: String::new(),
            start: NOW,
            end: NOW - 1
        })
    );
    assert_eq!(
        base().score(101).step(step()).build(),
        Err(V::ScoreOutOfRange { score: 101 })
    );
    assert_eq!(base().build(), Err(V::NoSteps));
    assert_eq!(
        base().step(step().max_score(10).score(11)).build(),
        Err(V::StepScoreAboveMax {
            index: 0,
            score: 11,
            max_score: 10
        })
    );
    assert_eq!(
        base().step(step()).step(step().seq(3)).build(),
        Err(V::SeqNotIncreasing {
            index: 1,
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        base().step(step().seq(0)).build(),
        Err(V::SeqNotIncreasing {
            index: 0,
            expected: 1,
            got: 0
        })
    );
    assert!(matches!(
        base().step(step().times(NOW + 5, NOW)).build(),
        Err(V::EndBeforeStart { ref field, .. }) if field == "steps[0]."
    ));
    assert!(matches!(
        base().step(StepRecord::builder("s").times(NOW, NOW)).build(),
        Err(V::Missing { ref field }) if field == "steps[0].score"
    ));
    assert!(matches!(
        base().step(step().repeat_count(0)).build(),
        Err(V::Invalid { ref field, .. }) if field == "steps[0].repeatCount"
    ));
    assert!(Attachment::new("o", "report", b"x".to_vec()).is_err());
    assert!(Attachment::new("o", ".pdf", b"x".to_vec()).is_err());
    assert!(Attachment::new("o", "r.pdf", Vec::new()).is_err());
    assert!(Attachment::new("", "r.pdf", b"x".to_vec()).is_err());
    let e: Error = V::NoSteps.into();
    assert!(e.to_string().contains("at least one step"));
    // Derived timeUsed: minutes rounded up, or seconds.
    let r = base()
        .times(NOW, NOW + 61_000)
        .step(step())
        .build()
        .unwrap();
    assert_eq!(r.time_used, 2);
    let r = base()
        .time_unit(kaifang_proto_ilab::upload::TimeUnit::Seconds)
        .times(NOW, NOW + 61_000)
        .step(step())
        .build()
        .unwrap();
    assert_eq!((r.time_used, r.steps[0].time_used), (61, 1));
}

#[test]
fn ticket_contract() {
    assert_eq!(
        Ticket::new(SEED_TICKET).unwrap().encoded(),
        SEED_TICKET,
        "a JWT passes unchanged"
    );
    assert_eq!(Ticket::new(SEED_TICKET).unwrap().id(), USER);
    assert!(Ticket::new(V2_TICKET).unwrap().id().starts_with("t-"));
    let from_url = Ticket::from_url(&format!(
        "http://lab.example/index.html?from=x&ticket={V2_TICKET_ENCODED}#top"
    ))
    .unwrap();
    assert_eq!(from_url.decoded().expose_secret(), V2_TICKET);
    for bad in ["", "   ", "a%252Bb", "tab\there", "中文"] {
        assert!(Ticket::new(bad).is_err(), "{bad:?}");
    }
    assert!(Ticket::from_url("http://lab.example/?x=1").is_err());
    assert!(Ticket::new(&"a".repeat(9000)).is_err());
}

#[test]
fn no_secret_in_debug_display_errors_or_explain() {
    const MARK: &str = "SECRETMARKER";
    let app = Ilab::new(IlabConfig::new(ADDR, APPID, format!("{MARK}-app"))).unwrap();
    let ticket = Ticket::new(&format!("{MARK}-ticket")).unwrap();
    let req = AccessTokenRequest::new(&app, ticket.clone());
    let ctx = Context::system();
    let explain = req.explain(&ctx).unwrap();
    let text = explain.to_text();
    assert!(
        text.contains(APPID) && text.contains(&req.signature()),
        "{text}"
    );
    let access = SecretString::new(format!("{MARK}-access"));
    let refresh = RefreshRequest::forced(&app, &SecretString::new(format!("{MARK}-refresh")), 1);
    let up = DataUploadRequest::new(&app, &access, &upload_record(USER));
    let att = AttachmentUpload::new(
        &app,
        &access,
        Attachment::new("o", "r.pdf", b"x".to_vec()).unwrap(),
    );
    let source = IlabTokens::new(&app, ticket.clone());
    let server = IlabServer::new(Profile::Roncoo, MARK.as_bytes())
        .with_app(ServerApp::new(APPID, MARK, "x"));
    let mut store = MemoryStore::new();
    let t = server
        .mint_ticket(&mut store, &ctx, APPID, USER, "d")
        .unwrap();
    let err_ticket = Ticket::new(&format!("{MARK}%zz")).unwrap_err();
    let errors = [
        // An answer echoing the token in its message is redacted.
        response_err(&format!(
            r#"{{"code":3,"msg":"无效token access_token={MARK}-access"}}"#
        )),
        response_err(&format!(r#"<html>ticket={MARK}</html>"#)),
        err_ticket,
        decode_unverified(&format!("{MARK}.{MARK}.{MARK}")).unwrap_err(),
    ];
    let dumps = format!(
        "{app:?}{:?}{ticket:?}{req:?}{explain:?}{text}{}{refresh:?}{}{up:?}{att:?}{source:?}{server:?}{store:?}{errors:?}{}",
        app.config(),
        explain.to_json(),
        refresh.explain(&ctx).unwrap(),
        errors.iter().map(ToString::to_string).collect::<String>(),
    );
    assert!(!dumps.contains(MARK), "{dumps}");
    assert!(!dumps.contains(&t));
}

fn response_err(body: &str) -> Error {
    let app = app();
    let mut resp = http::Response::new(body.as_bytes().to_vec());
    if body.starts_with('<') {
        *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
    }
    let up = DataUploadRequest::new(&app, &SecretString::new("t"), &upload_record(USER));
    up.parse(&Context::system(), resp).unwrap_err()
}

#[test]
fn lifetimes_are_configurable_for_tests() {
    let mut p = Platform::seed();
    p.server.access_ttl_secs = 60;
    let token = login(&mut p);
    assert_eq!(token.token.ttl(), Duration::from_secs(59));
    let rec = p.store.token(token.access().expose_secret()).unwrap();
    assert_eq!(rec.kind, TokenKind::Access);
    assert_eq!(rec.expires_at_ms, (NOW / 1000 + 60) * 1000);
}

#[test]
fn ilabx_refresh_sends_the_original_access_token() {
    let mut p = Platform::new(Profile::IlabX, "105348", "secret");
    p.register(V2_TICKET, "105348", NOW + 60_000);
    let app = Ilab::new(IlabConfig::new(ADDR, "105348", "secret").profile(Profile::IlabX)).unwrap();
    let original = p
        .run(&AccessTokenRequest::new(
            &app,
            Ticket::new(V2_TICKET).unwrap(),
        ))
        .unwrap();
    let access = original.access().clone();
    let mut session = IlabSession::new(Profile::IlabX, original).unwrap();
    let req = session.refresh(&app).unwrap();
    let url = req.url();
    assert!(
        url.starts_with(&format!("{ADDR}/open/api/v2/token/refresh?access_token=")),
        "{url}"
    );
    assert!(url.contains(&kaifang_proto_ilab::app::encode_component(
        access.expose_secret()
    )));
    assert_eq!(
        req.signature(),
        kaifang_proto_ilab::auth::signature(access.expose_secret(), "105348", "secret")
    );
    for _ in 0..2 {
        let t = p.run(&session.refresh(&app).unwrap()).unwrap();
        session.accept(t).unwrap();
    }
    assert!(session.refresh(&app).is_err());
    // Server side: the refreshed access token is not refreshable (6); the original is spent (5).
    let err = p
        .run(&RefreshRequest::forced(&app, session.current().access(), 3))
        .unwrap_err();
    assert_eq!(
        kind(&err, Endpoint::Refresh),
        Kind::RefreshedTokenNotRefreshable
    );
    let err = p
        .run(&RefreshRequest::forced(&app, &access, 3))
        .unwrap_err();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshLimitReached);
}

#[test]
fn a_source_without_the_lineage_lets_the_platform_decide() {
    let mut p = Platform::seed();
    let app = app();
    // Logged in elsewhere (another instance sharing the token store).
    let token = login(&mut p);
    let refresh = token.token.refresh.clone().unwrap();
    let source = IlabTokens::new(&app, Ticket::new(SEED_TICKET).unwrap());
    let first = p
        .run(
            &source
                .exchange(&Plan::UseRefreshToken(refresh.clone()))
                .unwrap(),
        )
        .unwrap();
    // Handing it the refreshed token's refresh value: the platform says 6, and the source stops.
    let err = p
        .run(
            &source
                .exchange(&Plan::UseRefreshToken(first.refresh.clone().unwrap()))
                .unwrap(),
        )
        .unwrap_err();
    assert_eq!(
        kind(&err, Endpoint::Refresh),
        Kind::RefreshedTokenNotRefreshable
    );
    let err = source
        .exchange(&Plan::UseRefreshToken(refresh))
        .err()
        .unwrap();
    assert_eq!(kind(&err, Endpoint::Refresh), Kind::RefreshLimitReached);
}

#[test]
fn explain_shows_the_steps() {
    let req = AccessTokenRequest::new(&app(), Ticket::new(V2_TICKET_ENCODED).unwrap());
    let ex = req.explain(&Context::system()).unwrap();
    assert_eq!(
        ex.get("signature (UPPER(hex(MD5(string-to-sign))))"),
        Some(req.signature().as_str())
    );
    assert_eq!(ex.get("appid"), Some(APPID));
    // The decoded and the encoded lengths differ: the ticket was decoded before signing.
    assert_eq!(
        ex.get("ticket (decoded: signed)"),
        Some("[redacted len=108]")
    );
    assert_eq!(
        ex.get("ticket (URL-encoded once: sent)"),
        Some("[redacted len=114]")
    );
    assert!(!ex.to_text().contains("wWQ"));
}
