//! The client half against the server half, with no I/O: every request the client builds is
//! answered by `server::handle` exactly as the sandbox will, at a frozen time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
use kaifang_proto_core::exchange::{Exchange, run_with};
use kaifang_proto_core::lifecycle::{Plan, TokenSource};
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_zhiyun::server::{self, MemoryState, ServerClient, ServerOptions, tenant};
use kaifang_proto_zhiyun::{
    AuthCodeCache, Code, CompanyInfo, Endpoint, Format, TimeUnit, UserInfo, Zhiyun,
    ZhiyunAuthCodes, ZhiyunConfig, call_with_auth_code, codes, response,
};

const BASE: &str = "http://auth.xx.dev.com";
const SEED_BASIC: &str = "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU";
/// The seed's sample user answer's time.
const NOW_S: i64 = tenant::USER_SAMPLE_NOWTIME;

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

fn app_with(format: Format, unit: TimeUnit, token: &str) -> Zhiyun {
    Zhiyun::new(
        ZhiyunConfig::new(BASE, tenant::CLIENT_ID, tenant::CLIENT_SECRET, token)
            .format(format)
            .time_unit(unit),
    )
    .unwrap()
}

fn app(format: Format) -> Zhiyun {
    app_with(format, TimeUnit::Millis, tenant::ACCESS_TOKENS[0])
}

/// The server half with the seed tenant and a frozen clock shared with the client's context.
struct Sandbox {
    state: RefCell<MemoryState>,
    clock: Arc<FrozenClock>,
    opts: ServerOptions,
    requests: RefCell<Vec<String>>,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            // Tokens issued a day before the sample answer: valid for 90 days.
            state: RefCell::new(tenant::seed_state(
                at(NOW_S - 86_400),
                tenant::ACCESS_TOKEN_TTL,
            )),
            clock: Arc::new(FrozenClock::from_unix_millis(NOW_S * 1000)),
            opts: ServerOptions::default(),
            requests: RefCell::new(Vec::new()),
        }
    }

    fn ctx(&self) -> Context {
        Context::new(self.clock.clone(), Arc::new(FixedNonce::new("n")))
    }

    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.ctx().now_millis() as u64)
    }

    fn send(&self, req: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Error> {
        self.requests.borrow_mut().push(req.uri().path().to_owned());
        let n = self.requests.borrow().len();
        Ok(server::handle(
            &mut *self.state.borrow_mut(),
            &req,
            self.now(),
            &self.opts,
            &n.to_be_bytes(),
        ))
    }

    fn run<E: Exchange>(&self, exchange: &E) -> Result<E::Output, Error> {
        run_with(exchange, &self.ctx(), |req| self.send(req))
    }

    /// Sends a raw request (path and query) with the seed's Basic header unless `basic` says
    /// otherwise, and returns `(code, message)`.
    fn raw(&self, path_and_query: &str, basic: Option<&str>) -> (i64, String) {
        let mut req = http::Request::get(path_and_query);
        if let Some(b) = basic {
            req = req.header("authorization", b);
        }
        let resp = self.send(req.body(Vec::new()).unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        (
            v["code"].as_i64().unwrap(),
            v["message"].as_str().unwrap().to_owned(),
        )
    }
}

fn platform_code(err: &Error) -> i64 {
    err.platform()
        .unwrap_or_else(|| panic!("not a platform error: {err}"))
        .code
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The seed's literal request.

#[test]
fn seed_request_is_byte_for_byte_the_documented_one() {
    let app = app(Format::Json);
    let ctx = Context::new(
        Arc::new(FrozenClock::from_unix_millis(1_422_339_152_058)),
        Arc::new(FixedNonce::new("n")),
    );
    let req = app.authorize().build(&ctx).unwrap();
    assert_eq!(req.method(), http::Method::GET);
    assert_eq!(req.headers()["authorization"], SEED_BASIC);
    assert!(req.headers()["authorization"].is_sensitive());
    assert_eq!(
        req.uri(),
        "http://auth.xx.dev.com/apis/rest/authService/authorize/json?access_token=9106c9fd1e138a042d4aedf94cede7a766e0&t_=1422339152058&p_=8519"
    );
    assert!(req.body().is_empty());

    let code =
        kaifang_proto_core::secret::SecretString::new("c3a8ad070c745db455e30a51511dca819b607bf7");
    for (call, path) in [
        (
            app.user_info(&code).build(&ctx).unwrap(),
            "/apis/rest/userService/getUserInfo/json",
        ),
        (
            app.company_info(&code).build(&ctx).unwrap(),
            "/apis/rest/companyService/getCompanyInfo/json",
        ),
    ] {
        assert_eq!(call.uri().path(), path);
        assert_eq!(call.headers()["authorization"], SEED_BASIC);
        assert_eq!(
            call.uri().query().unwrap(),
            "access_token=9106c9fd1e138a042d4aedf94cede7a766e0&client_id=1102084294&auth_code=c3a8ad070c745db455e30a51511dca819b607bf7&t_=1422339152058&p_=8519"
        );
    }
    // The XML variant only changes the last segment.
    let xml = app_with(Format::Xml, TimeUnit::Millis, tenant::ACCESS_TOKENS[0]);
    let req = xml.authorize().build(&ctx).unwrap();
    assert_eq!(req.uri().path(), "/apis/rest/authService/authorize/xml");
    assert_eq!(req.headers()["accept"], "application/xml");
}

#[test]
fn t_in_seconds_gives_p_from_seconds() {
    let app = app_with(Format::Json, TimeUnit::Seconds, tenant::ACCESS_TOKENS[0]);
    let ctx = Context::new(
        Arc::new(FrozenClock::from_unix_millis(1_422_339_152_058)),
        Arc::new(FixedNonce::new("n")),
    );
    let req = app.authorize().build(&ctx).unwrap();
    // (1422339152 % 10000) * 3 + 2345 = 9152 * 3 + 2345
    assert!(
        req.uri()
            .query()
            .unwrap()
            .ends_with("&t_=1422339152&p_=29801")
    );
}

// ---------------------------------------------------------------------------------------------
// Every endpoint in both formats.

#[test]
fn every_endpoint_in_both_formats() {
    for format in [Format::Json, Format::Xml] {
        let sb = Sandbox::new();
        let app = app(format);
        let code = sb.run(&app.authorize()).unwrap();
        assert_eq!(code.len(), 40);
        assert!(code.expose_secret().bytes().all(|b| b.is_ascii_hexdigit()));
        let record = sb.state.borrow().codes[code.expose_secret()].clone();
        assert_eq!(record.client_id, tenant::CLIENT_ID);
        assert_eq!(record.user_id, "1152");
        assert_eq!(record.scope, ["getUserInfo", "getCompanyInfo"]);
        assert_eq!(record.expires_at, at(NOW_S + 600));

        let user = sb.run(&app.user_info(&code)).unwrap();
        assert_eq!(
            user,
            UserInfo {
                nowtime: Some(NOW_S),
                ..tenant::sample_user()
            },
            "{format:?}"
        );
        let company = sb.run(&app.company_info(&code)).unwrap();
        assert_eq!(
            company,
            CompanyInfo {
                nowtime: Some(NOW_S),
                ..tenant::sample_company()
            },
            "{format:?}"
        );
    }
}

#[test]
fn server_answers_are_exactly_the_seed_json() {
    let sb = Sandbox::new();
    let app = app(Format::Json);
    let code = sb.run(&app.authorize()).unwrap();
    let req = app.user_info(&code).build(&sb.ctx()).unwrap();
    let resp = sb.send(req).unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(
        std::str::from_utf8(resp.body()).unwrap(),
        r#"{"data":{"username":"li******40","truename":"李**","sex":"3","phone":"13******0170","is_admin":"1","status":null,"avatar":"http://avatar.xxx.dev.com/000/00/11/52_avatar_small","created":"2017-11-30 10:37:30","nowtime":1522404566},"code":200,"message":"ok"}"#
    );
    sb.clock.advance(Duration::from_secs(
        (tenant::COMPANY_SAMPLE_NOWTIME - NOW_S) as u64,
    ));
    let req = app.company_info(&code).build(&sb.ctx()).unwrap();
    let resp = sb.send(req).unwrap();
    assert_eq!(
        std::str::from_utf8(resp.body()).unwrap(),
        r#"{"data":{"company_name":"水磨沟区*******餐饮店","company_type":"1","tax_number":"6523248***************03404","province":"","city":"","zone":"","address":"乌鲁木齐市***巷186号","disable":"","tel_phone":"","legal_person_phone":"133*****0170","legal_person_name":"李**","created":"2017-11-30 10:37:30","nowtime":1522404881},"code":200,"message":"ok"}"#
    );
}

#[test]
fn xml_shape_is_the_documented_choice() {
    let sb = Sandbox::new();
    let app = app(Format::Xml);
    let req = app.authorize().build(&sb.ctx()).unwrap();
    let resp = sb.send(req).unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let text = String::from_utf8(resp.body().clone()).unwrap();
    let code = text
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?><response><code>200</code><message>ok</message><data><auth_code>"#)
        .and_then(|rest| rest.strip_suffix("</auth_code></data></response>"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(code.len(), 40);

    let code = kaifang_proto_core::secret::SecretString::new(code);
    let req = app.user_info(&code).build(&sb.ctx()).unwrap();
    let text = String::from_utf8(sb.send(req).unwrap().into_body()).unwrap();
    assert_eq!(
        text,
        r#"<?xml version="1.0" encoding="UTF-8"?><response><code>200</code><message>ok</message><data><username>li******40</username><truename>李**</truename><sex>3</sex><phone>13******0170</phone><is_admin>1</is_admin><status/><avatar>http://avatar.xxx.dev.com/000/00/11/52_avatar_small</avatar><created>2017-11-30 10:37:30</created><nowtime>1522404566</nowtime></data></response>"#
    );

    // Errors mirror it with <data/>.
    let resp = server::Refusal::new(Code::AuthCodeMissing).to_response(Format::Xml);
    assert_eq!(
        std::str::from_utf8(resp.body()).unwrap(),
        r#"<?xml version="1.0" encoding="UTF-8"?><response><code>100019</code><message>Authorization code does not exist, please reauthorize</message><data/></response>"#
    );
    let resp = server::Refusal::new(Code::AuthCodeMissing).to_response(Format::Json);
    assert_eq!(
        std::str::from_utf8(resp.body()).unwrap(),
        r#"{"data":null,"code":100019,"message":"Authorization code does not exist, please reauthorize"}"#
    );
}

#[test]
fn service_segment_is_case_insensitive() {
    let sb = Sandbox::new();
    let code = sb.run(&app(Format::Json).authorize()).unwrap();
    let q = format!(
        "access_token={}&client_id={}&auth_code={}&t_={}&p_={}",
        tenant::ACCESS_TOKENS[0],
        tenant::CLIENT_ID,
        code.expose_secret(),
        NOW_S,
        kaifang_sign_core::zhiyun::check_value(NOW_S as u64)
    );
    for path in [
        "/apis/rest/UserService/getUserInfo/json",
        "/apis/rest/userservice/GETUSERINFO/json",
        "/apis/rest/CompanyService/getCompanyInfo/json/",
    ] {
        let (c, m) = sb.raw(&format!("{path}?{q}"), Some(SEED_BASIC));
        assert_eq!((c, m.as_str()), (200, "ok"), "{path}");
    }
    let resp = sb
        .send(
            http::Request::get("/apis/rest/fooService/bar/json")
                .body(Vec::new())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(resp.status(), http::StatusCode::NOT_FOUND);
    let resp = sb
        .send(
            http::Request::post("/apis/rest/authService/authorize/json")
                .body(Vec::new())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(resp.status(), http::StatusCode::METHOD_NOT_ALLOWED);
}

// ---------------------------------------------------------------------------------------------
// The validation order: one test per step, each with its code and exact message.

/// A correct getUserInfo query with a fresh code, as key/value pairs to tamper with.
fn good_query(sb: &Sandbox, token_index: usize) -> Vec<(String, String)> {
    let app = app_with(
        Format::Json,
        TimeUnit::Millis,
        tenant::ACCESS_TOKENS[token_index],
    );
    let code = sb.run(&app.authorize()).unwrap();
    let req = app.user_info(&code).build(&sb.ctx()).unwrap();
    form_urlencoded::parse(req.uri().query().unwrap().as_bytes())
        .into_owned()
        .collect()
}

fn with(q: &[(String, String)], name: &str, value: Option<&str>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in q {
        if k == name {
            if let Some(v) = value {
                s.append_pair(k, v);
            }
        } else {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

const USER_PATH: &str = "/apis/rest/userService/getUserInfo/json";

fn basic(user: &str, password: &str) -> String {
    let mut buf = [0u8; 128];
    kaifang_sign_core::zhiyun::basic_authorization(user, password, &mut buf)
        .unwrap()
        .to_owned()
}

#[test]
fn step1_filter_layer_params() {
    let sb = Sandbox::new();
    let q = good_query(&sb, 0);
    let call = |query: String| sb.raw(&format!("{USER_PATH}?{query}"), Some(SEED_BASIC));
    assert_eq!(call(with(&q, "zzz", None)), (200, "ok".into()));
    for name in ["access_token", "client_id", "auth_code", "t_", "p_"] {
        assert_eq!(
            call(with(&q, name, None)),
            (601, format!("Illegal parameter: {name}"))
        );
        assert_eq!(
            call(with(&q, name, Some(""))),
            (602, format!("Empty parameter: {name}"))
        );
    }
    assert_eq!(
        call(with(&q, "t_", Some("12a"))),
        (601, "Illegal parameter: t_".into())
    );
    assert_eq!(
        call(with(&q, "p_", Some("-1"))),
        (601, "Illegal parameter: p_".into())
    );
    // The filter runs before checkClientId: no Basic header, and a missing t_, gives 601.
    assert_eq!(
        sb.raw(&format!("{USER_PATH}?{}", with(&q, "t_", None)), None),
        (601, "Illegal parameter: t_".into())
    );
}

#[test]
fn step1_p_is_checked_against_the_t_sent() {
    let sb = Sandbox::new();
    let q = good_query(&sb, 0);
    let t: u64 = q
        .iter()
        .find(|(k, _)| k == "t_")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let p = kaifang_sign_core::zhiyun::check_value(t);
    let call = |query: String| sb.raw(&format!("{USER_PATH}?{query}"), Some(SEED_BASIC));
    assert_eq!(
        call(with(&q, "p_", Some(&(p + 1).to_string()))),
        (400, "Illegal check value p_".into())
    );
    // The p_ of the seconds value does not pass for the millisecond t_.
    assert_eq!(
        call(with(
            &q,
            "p_",
            Some(&kaifang_sign_core::zhiyun::check_value(t / 1000).to_string())
        )),
        (400, "Illegal check value p_".into())
    );
    // Seconds with their own p_ pass.
    let secs = (t / 1000).to_string();
    let query = with(
        &with_pairs(&q, "t_", &secs),
        "p_",
        Some(&kaifang_sign_core::zhiyun::check_value(t / 1000).to_string()),
    );
    assert_eq!(call(query), (200, "ok".into()));
}

fn with_pairs(q: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if k == name {
                    value.to_owned()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

#[test]
fn step1_t_window_in_seconds_and_milliseconds() {
    for unit in [TimeUnit::Millis, TimeUnit::Seconds] {
        let sb = Sandbox::new();
        let app = app_with(Format::Json, unit, tenant::ACCESS_TOKENS[0]);
        // In sync: accepted.
        let code = sb.run(&app.authorize()).unwrap();
        assert!(sb.run(&app.user_info(&code)).is_ok(), "{unit:?}");
        // A client clock 9 minutes behind: accepted; 11 minutes behind or ahead: 400.
        for (skew, ok) in [
            (-9 * 60, true),
            (-11 * 60, false),
            (11 * 60, false),
            (9 * 60, true),
        ] {
            let clock = Arc::new(FrozenClock::from_unix_millis((NOW_S + skew) * 1000));
            let ctx = Context::new(clock, Arc::new(FixedNonce::new("n")));
            let out = run_with(&app.user_info(&code), &ctx, |req| sb.send(req));
            if ok {
                assert!(out.is_ok(), "{unit:?} {skew}: {out:?}");
            } else {
                let err = out.unwrap_err();
                assert_eq!(platform_code(&err), 400, "{unit:?} {skew}");
                assert_eq!(
                    err.platform().unwrap().message,
                    "Timestamp t_ is out of range"
                );
                assert_eq!(err.class(), ErrorClass::BadRequest);
            }
        }
    }
}

#[test]
fn step2_check_client_id() {
    let sb = Sandbox::new();
    let q = good_query(&sb, 0);
    let good = with(&q, "zzz", None);
    let call = |query: &str, b: Option<&str>| sb.raw(&format!("{USER_PATH}?{query}"), b);
    let e100009 = (100_009, "http header authentication is illegal".to_owned());
    assert_eq!(call(&good, None), e100009);
    assert_eq!(call(&good, Some("Bearer abc")), e100009);
    assert_eq!(call(&good, Some("Basic !!!not-base64")), e100009);
    assert_eq!(
        call(&good, Some(&format!("Basic {}", "bm9jb2xvbg=="))),
        e100009
    ); // "nocolon"
    // Lenient on scheme case and missing padding, like Apache/PHP.
    assert_eq!(
        call(&good, Some(&SEED_BASIC.replace("Basic", "basic"))).0,
        200
    );

    // Query client_id differs from the Basic user: 100002, before the client is looked up.
    let other_id = with(&q, "client_id", Some("1102084295"));
    assert_eq!(
        call(&other_id, Some(SEED_BASIC)),
        (100_002, "Client_id access is illegal".into())
    );
    assert_eq!(
        call(&good, Some(&basic("9999999999", "x"))),
        (100_002, "Client_id access is illegal".into())
    );
    // Unknown client (query and Basic agree): 100008, with the server's double space.
    let unknown = with(&q, "client_id", Some("9999999999"));
    assert_eq!(
        call(&unknown, Some(&basic("9999999999", "x"))),
        (100_008, "The client_id  does not exist.".into())
    );
    // Wrong secret: 100013, double space too.
    assert_eq!(
        call(&good, Some(&basic(tenant::CLIENT_ID, "wrong-secret"))),
        (100_013, "client_secret  access is illegal".into())
    );
    // authorize has no client_id parameter: no 100002 there, even with a stray client_id.
    let auth = format!(
        "/apis/rest/authService/authorize/json?access_token={}&client_id=1&t_={}&p_={}",
        tenant::ACCESS_TOKENS[0],
        NOW_S,
        kaifang_sign_core::zhiyun::check_value(NOW_S as u64)
    );
    assert_eq!(sb.raw(&auth, Some(SEED_BASIC)).0, 200);
    assert_eq!(sb.raw(&auth, None), e100009);
    assert_eq!(
        sb.raw(&auth, Some(&basic("9999999999", "x"))),
        (100_008, "The client_id  does not exist.".into())
    );
    assert_eq!(
        sb.raw(&auth, Some(&basic(tenant::CLIENT_ID, "x"))),
        (100_013, "client_secret  access is illegal".into())
    );
}

#[test]
fn step3_check_token() {
    let sb = Sandbox::new();
    let q = good_query(&sb, 0);
    let call = |query: String, b: &str| sb.raw(&format!("{USER_PATH}?{query}"), Some(b));
    let expired = (
        100_014,
        "access token expired, please log in again".to_owned(),
    );
    assert_eq!(
        call(with(&q, "access_token", Some("0000")), SEED_BASIC),
        expired
    );
    // A wrong secret is reported before the token.
    assert_eq!(
        call(
            with(&q, "access_token", Some("0000")),
            &basic(tenant::CLIENT_ID, "x")
        )
        .0,
        100_013
    );
    // 90 days after issue, the token expires; the client error says what to do.
    let sb = Sandbox::new();
    let app = app(Format::Json);
    sb.clock.advance(Duration::from_secs(90 * 86_400));
    let err = sb.run(&app.authorize()).unwrap_err();
    assert_eq!(Code::of(&err), Some(Code::AccessTokenExpired));
    assert!(codes::is_access_token_expired(&err));
    assert_eq!(err.class(), ErrorClass::Permission);
    let text = err.to_string();
    assert!(
        text.contains("致云桌面") && text.contains("access_token"),
        "{text}"
    );
    assert!(text.contains("访问token已过期"), "{text}");
}

#[test]
fn step4_auth_code_lifetime() {
    let sb = Sandbox::new();
    let q = good_query(&sb, 0);
    let call = |query: String| sb.raw(&format!("{USER_PATH}?{query}"), Some(SEED_BASIC));
    assert_eq!(
        call(with(
            &q,
            "auth_code",
            Some("c3a8ad070c745db455e30a51511dca819b607bf7")
        )),
        (
            100_019,
            "Authorization code does not exist, please reauthorize".into()
        )
    );
    // A bad token is reported before a bad code.
    let both = with(
        &with_pairs(&q, "access_token", "0000"),
        "auth_code",
        Some("x"),
    );
    assert_eq!(call(both).0, 100_014);
    // Exactly at expiry the code still works (`now > expires` fails), one second later not.
    let app = app(Format::Json);
    let code = sb.run(&app.authorize()).unwrap();
    sb.clock.advance(Duration::from_secs(600));
    assert!(sb.run(&app.user_info(&code)).is_ok());
    sb.clock.advance(Duration::from_secs(1));
    let err = sb.run(&app.user_info(&code)).unwrap_err();
    assert_eq!(platform_code(&err), 100_020);
    assert_eq!(
        err.platform().unwrap().message,
        "authorization code expired, please reauthorize"
    );
    assert!(err.is_token_invalid());
}

#[test]
fn step5_scope() {
    let sb = Sandbox::new();
    sb.state.borrow_mut().add_client(ServerClient::new(
        tenant::CLIENT_ID,
        tenant::CLIENT_SECRET,
        "getUserInfo",
    ));
    let app = app(Format::Json);
    let code = sb.run(&app.authorize()).unwrap();
    assert!(sb.run(&app.user_info(&code)).is_ok());
    let err = sb.run(&app.company_info(&code)).unwrap_err();
    assert_eq!(platform_code(&err), 100_018);
    assert_eq!(
        err.platform().unwrap().message,
        "The authorization code does not have permission to access"
    );
    assert_eq!(err.class(), ErrorClass::Permission);
}

#[test]
fn step6_code_of_another_client() {
    let sb = Sandbox::new();
    sb.state.borrow_mut().add_client(ServerClient::new(
        "2200000000",
        "other-secret",
        "getUserInfo",
    ));
    let other = Zhiyun::new(ZhiyunConfig::new(
        BASE,
        "2200000000",
        "other-secret",
        tenant::ACCESS_TOKENS[0],
    ))
    .unwrap();
    let code = sb.run(&other.authorize()).unwrap();
    let app = app(Format::Json);
    let err = sb.run(&app.user_info(&code)).unwrap_err();
    assert_eq!(platform_code(&err), 100_021);
    assert_eq!(
        err.platform().unwrap().message,
        "Authorized client illegally holds authorization code"
    );
    // The scope check comes first: the other client's code lacks getCompanyInfo.
    assert_eq!(
        platform_code(&sb.run(&app.company_info(&code)).unwrap_err()),
        100_018
    );
}

#[test]
fn step7_code_of_another_user() {
    let sb = Sandbox::new();
    let second = app_with(Format::Json, TimeUnit::Millis, tenant::ACCESS_TOKENS[1]);
    let code = sb.run(&second.authorize()).unwrap();
    assert!(sb.run(&second.user_info(&code)).is_ok());
    let err = sb.run(&app(Format::Json).user_info(&code)).unwrap_err();
    assert_eq!(platform_code(&err), 100_023);
    assert_eq!(
        err.platform().unwrap().message,
        "Authorized user illegally holds authorization code"
    );
    assert!(err.is_token_invalid());
}

#[test]
fn step8_no_data_is_602() {
    let sb = Sandbox::new();
    sb.state.borrow_mut().companies.clear();
    let app = app(Format::Xml);
    let code = sb.run(&app.authorize()).unwrap();
    let err = sb.run(&app.company_info(&code)).unwrap_err();
    assert_eq!(platform_code(&err), 602);
}

// ---------------------------------------------------------------------------------------------
// The auth code's lifecycle.

#[test]
fn cache_reuses_the_code_and_renews_it_once_on_100020() {
    let sb = Sandbox::new();
    // The client assumes an hour; the server's codes live 10 minutes.
    let app = Zhiyun::new(
        ZhiyunConfig::new(
            BASE,
            tenant::CLIENT_ID,
            tenant::CLIENT_SECRET,
            tenant::ACCESS_TOKENS[0],
        )
        .auth_code_ttl(Duration::from_secs(3600)),
    )
    .unwrap();
    let mut cache = AuthCodeCache::for_app(&app);
    let ctx = sb.ctx();
    let user =
        call_with_auth_code(&mut cache, &app, &ctx, |c| app.user_info(c), |r| sb.send(r)).unwrap();
    assert_eq!(user.username, "li******40");
    let _company = call_with_auth_code(
        &mut cache,
        &app,
        &ctx,
        |c| app.company_info(c),
        |r| sb.send(r),
    )
    .unwrap();
    let first = cache.current(ctx.now()).unwrap().clone();
    assert_eq!(
        *sb.requests.borrow(),
        [
            "/apis/rest/authService/authorize/json",
            "/apis/rest/userService/getUserInfo/json",
            "/apis/rest/companyService/getCompanyInfo/json"
        ]
    );
    sb.requests.borrow_mut().clear();
    sb.clock.advance(Duration::from_secs(11 * 60));
    call_with_auth_code(&mut cache, &app, &ctx, |c| app.user_info(c), |r| sb.send(r)).unwrap();
    assert_eq!(
        *sb.requests.borrow(),
        [
            "/apis/rest/userService/getUserInfo/json", // 100020
            "/apis/rest/authService/authorize/json",
            "/apis/rest/userService/getUserInfo/json",
        ]
    );
    assert_ne!(cache.current(ctx.now()).unwrap(), &first);

    // The cache's own TTL triggers authorize without a failed call.
    sb.requests.borrow_mut().clear();
    sb.clock.advance(Duration::from_secs(3600));
    sb.state.borrow_mut().clear_codes();
    // (the token must still be valid: it was issued a day before and lives 90 days)
    call_with_auth_code(&mut cache, &app, &ctx, |c| app.user_info(c), |r| sb.send(r)).unwrap();
    assert_eq!(
        sb.requests.borrow()[0],
        "/apis/rest/authService/authorize/json"
    );
}

#[test]
fn renewal_happens_once_and_100014_is_never_retried() {
    let sb = Sandbox::new();
    let app = app(Format::Json);
    let mut cache = AuthCodeCache::for_app(&app);
    let ctx = sb.ctx();
    // A server that forgets every code right away: 100019 twice → the second is returned.
    let err = call_with_auth_code(
        &mut cache,
        &app,
        &ctx,
        |c| app.user_info(c),
        |r| {
            let resp = sb.send(r);
            sb.state.borrow_mut().clear_codes();
            resp
        },
    )
    .unwrap_err();
    assert_eq!(platform_code(&err), 100_019);
    assert_eq!(sb.requests.borrow().len(), 4); // authorize, call, authorize, call

    // An expired access token: one authorize, no retry.
    sb.requests.borrow_mut().clear();
    sb.state.borrow_mut().revoke_token(tenant::ACCESS_TOKENS[0]);
    let mut cache = AuthCodeCache::for_app(&app);
    let err = call_with_auth_code(&mut cache, &app, &ctx, |c| app.user_info(c), |r| sb.send(r))
        .unwrap_err();
    assert_eq!(Code::of(&err), Some(Code::AccessTokenExpired));
    assert_eq!(sb.requests.borrow().len(), 1);
}

#[test]
fn cache_state_machine() {
    use kaifang_proto_core::secret::SecretString;
    use kaifang_proto_zhiyun::Next;
    let t0 = at(NOW_S);
    let mut cache = AuthCodeCache::new(Duration::from_secs(600));
    assert_eq!(cache.next(t0), Next::Authorize);
    let a = SecretString::new("a".repeat(40));
    cache.store(a.clone(), t0);
    assert_eq!(
        cache.next(t0 + Duration::from_secs(569)),
        Next::Use(a.clone())
    );
    // Stale 30 s before the assumed expiry.
    assert_eq!(cache.next(t0 + Duration::from_secs(570)), Next::Authorize);
    // Compare-and-expire keeps a newer code.
    let b = SecretString::new("b".repeat(40));
    cache.store(b.clone(), t0);
    assert!(!cache.invalidate_if(&a));
    assert_eq!(cache.next(t0), Next::Use(b.clone()));
    assert!(!cache.on_error(&b, &Code::AccessTokenExpired.to_error()));
    assert_eq!(cache.next(t0), Next::Use(b.clone()));
    assert!(cache.on_error(&b, &Code::AuthCodeExpired.to_error()));
    assert_eq!(cache.next(t0), Next::Authorize);
    assert!(!format!("{cache:?}").contains("bbbb"));
}

#[test]
fn token_source_for_the_lifecycle() {
    let sb = Sandbox::new();
    let app = app(Format::Xml);
    let source = ZhiyunAuthCodes::new(&app);
    assert_eq!(source.key().storage_key(), "zhiyun:1102084294:auth_code");
    for plan in [Plan::FullGrant, Plan::UseRefreshToken(Default::default())] {
        let exchange = source.exchange(&plan).unwrap();
        assert_eq!(exchange.name(), "zhiyun.authorize");
        let token = run_with(&exchange, &sb.ctx(), |r| sb.send(r)).unwrap();
        assert_eq!(token.access.len(), 40);
        assert_eq!(token.ttl(), Duration::from_secs(600));
        assert!(token.refresh.is_none());
        assert!(sb.run(&app.user_info(&token.access)).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing what the wild sends.

#[test]
fn seed_sample_answers_parse_as_printed() {
    let ctx = Context::system();
    let parse_user = |body: &str| {
        response::decode::<UserInfo>(&ctx, &http::Response::new(body.as_bytes().to_vec()))
    };
    let user = parse_user(
        r#"{
"data": {
"username": "li******40",
"truename": "李**",
"sex": "3",
"phone": "13******0170",
"is_admin": "1",
"status": null,
"avatar": "http://avatar.xxx.dev.com/000/00/11/52_avatar_small",
"created": "2017-11-30 10:37:30",
"nowtime": 1522404566
},
"code": 200,
"message": "ok"
}"#,
    )
    .unwrap();
    assert_eq!(
        user,
        UserInfo {
            nowtime: Some(1_522_404_566),
            ..tenant::sample_user()
        }
    );

    let company: CompanyInfo = response::decode(
        &ctx,
        &http::Response::new(
            r#"{
"data": {
"company_name": "水磨沟区*******餐饮店",
"company_type": "1",
"tax_number": "6523248***************03404",
"province": "",
"city": "",
"zone": "",
"address": "乌鲁木齐市***巷186号",
"disable": "",
"tel_phone": "",
"legal_person_phone": "133*****0170",
"legal_person_name": "李**",
"created": "2017-11-30 10:37:30",
"newtime": 1522404881
},
"code": 200,
"message": "ok"
}"#
            .as_bytes()
            .to_vec(),
        ),
    )
    .unwrap();
    assert_eq!(
        company,
        CompanyInfo {
            nowtime: Some(1_522_404_881),
            ..tenant::sample_company()
        }
    );

    let app = app(Format::Json);
    let code = run_with(&app.authorize(), &ctx, |_| {
        Ok(http::Response::new(
            br#"{
"data": {
"auth_code": "c3a8ad070c745db455e30a51511dca819b607bf7"
},
"code": 200,
"message": "ok"
}"#
            .to_vec(),
        ))
    })
    .unwrap();
    assert_eq!(
        code.expose_secret(),
        "c3a8ad070c745db455e30a51511dca819b607bf7"
    );
}

#[test]
fn null_numbers_typos_and_escapes_parse_in_both_formats() {
    let ctx = Context::system();
    let decode = |body: &str| {
        response::decode::<UserInfo>(&ctx, &http::Response::new(body.as_bytes().to_vec())).unwrap()
    };
    // PHP json_encode escapes: \u674e and \/; numbers where strings were; nulls; missing
    // fields; the newtime typo as a string; extra fields.
    let u = decode(
        r#"{"data":{"username":null,"truename":"\u674e**","sex":3,"phone":"","is_admin":true,"status":"","avatar":"http:\/\/a\/b","newtime":"1522404566","extra":[1]},"code":"200","message":"ok"}"#,
    );
    assert_eq!(u.username, "");
    assert_eq!(u.truename, "李**");
    assert_eq!((u.sex.as_str(), u.is_admin.as_str()), ("3", "1"));
    assert_eq!(u.status, None);
    assert_eq!(u.avatar, "http://a/b");
    assert_eq!(u.created, "");
    assert_eq!(u.nowtime, Some(1_522_404_566));
    let u = decode(r#"{"data":{"status":0,"nowtime":null},"code":200,"message":"ok"}"#);
    assert_eq!((u.status.as_deref(), u.nowtime), (Some("0"), None));

    // XML: any element order, empty elements, attributes, whitespace, the typo, a BOM.
    let u = decode(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <message>ok</message>\n  <code>200</code>\n  <data>\n    <newtime>1522404566</newtime>\n    <status/>\n    <sex type=\"int\">3</sex>\n    <username>li******40</username>\n    <truename>李**</truename>\n    <avatar>http://x/?a=1&amp;b=2</avatar>\n    <phone></phone>\n  </data>\n</response>",
    );
    assert_eq!(u.username, "li******40");
    assert_eq!(u.truename, "李**");
    assert_eq!(u.sex, "3");
    assert_eq!(u.status, None);
    assert_eq!(u.phone, "");
    assert_eq!(u.avatar, "http://x/?a=1&b=2");
    assert_eq!(u.nowtime, Some(1_522_404_566));
    let u = decode(
        "<response><code>200</code><message>ok</message><data><status>1</status></data></response>",
    );
    assert_eq!(u.status.as_deref(), Some("1"));

    // A JSON error from an XML request (or the reverse) is still understood.
    let err = response::decode::<UserInfo>(
        &ctx,
        &http::Response::new(br#"{"data":null,"code":100020,"message":"authorization code expired, please reauthorize"}"#.to_vec()),
    )
    .unwrap_err();
    assert_eq!(Code::of(&err), Some(Code::AuthCodeExpired));
    let err = response::decode::<UserInfo>(
        &ctx,
        &http::Response::new(b"<?xml version=\"1.0\"?><response><code>100013</code><message>client_secret  access is illegal</message><data/></response>".to_vec()),
    )
    .unwrap_err();
    assert_eq!(Code::of(&err), Some(Code::ClientSecretIllegal));
    assert_eq!(
        err.platform().unwrap().message,
        "client_secret  access is illegal"
    );
}

#[test]
fn bad_bodies_and_statuses() {
    let ctx = Context::system();
    let mut resp = http::Response::new(b"<html><body>502 Bad Gateway</body></html>".to_vec());
    *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
    let err = response::decode::<UserInfo>(&ctx, &resp).unwrap_err();
    assert!(matches!(err, Error::HttpStatus { .. }), "{err:?}");
    assert!(err.is_retryable());
    let mut resp = http::Response::new(b"Service Unavailable".to_vec());
    *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    assert!(matches!(
        response::decode::<UserInfo>(&ctx, &resp),
        Err(Error::HttpStatus { .. })
    ));
    // A typed field of the wrong shape keeps its path.
    let err = response::decode::<UserInfo>(
        &ctx,
        &http::Response::new(br#"{"data":{"nowtime":"soon"},"code":200,"message":"ok"}"#.to_vec()),
    )
    .unwrap_err();
    match &err {
        Error::Decode { path, .. } => assert_eq!(path, "data.nowtime"),
        other => panic!("{other:?}"),
    }
    let err = response::decode::<UserInfo>(
        &ctx,
        &http::Response::new(b"<response><code>200</code><message>ok</message><data><nowtime>soon</nowtime></data></response>".to_vec()),
    )
    .unwrap_err();
    match &err {
        Error::Decode { path, .. } => assert_eq!(path, "data.nowtime"),
        other => panic!("{other:?}"),
    }
    // Unknown codes are still errors, classified Other.
    let err = response::decode::<UserInfo>(
        &ctx,
        &http::Response::new(br#"{"data":null,"code":123456,"message":"new"}"#.to_vec()),
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Other);
    // Calls without a code are refused before sending.
    let app = app(Format::Json);
    let empty = kaifang_proto_core::secret::SecretString::new("");
    assert!(matches!(
        app.user_info(&empty).build(&ctx),
        Err(Error::Config(_))
    ));
    assert!(
        kaifang_proto_zhiyun::Call::<UserInfo>::new(&app, Endpoint::Authorize, &empty).is_err()
    );
}

#[test]
fn config_is_validated() {
    let bad = |c: ZhiyunConfig| Zhiyun::new(c).unwrap_err();
    let ok = || ZhiyunConfig::new(BASE, tenant::CLIENT_ID, tenant::CLIENT_SECRET, "t");
    assert!(matches!(
        bad(ZhiyunConfig {
            client_id: " ".into(),
            ..ok()
        }),
        Error::Config(_)
    ));
    assert!(matches!(
        bad(ZhiyunConfig {
            client_id: "a:b".into(),
            ..ok()
        }),
        Error::Config(_)
    ));
    assert!(matches!(
        bad(ZhiyunConfig {
            client_secret: "".into(),
            ..ok()
        }),
        Error::Config(_)
    ));
    assert!(matches!(bad(ok().access_token("")), Error::Config(_)));
    assert!(matches!(
        bad(ZhiyunConfig {
            base_url: "ftp://x".into(),
            ..ok()
        }),
        Error::Config(_)
    ));
    let cfg: ZhiyunConfig = serde_json::from_str(
        r#"{"base_url":"http://auth.xx.dev.com","client_id":"1102084294","client_secret":"aku8hCyXBd9SqYkT","access_token":"t","time_unit":"seconds","format":"xml","auth_code_ttl_secs":60}"#,
    )
    .unwrap();
    assert_eq!(
        (cfg.time_unit, cfg.format, cfg.auth_code_ttl_secs),
        (TimeUnit::Seconds, Format::Xml, 60)
    );
    let cfg: ZhiyunConfig = serde_json::from_str(
        r#"{"base_url":"http://h","client_id":"1","client_secret":"s","access_token":"t"}"#,
    )
    .unwrap();
    assert_eq!(
        (cfg.time_unit, cfg.format, cfg.auth_code_ttl_secs),
        (TimeUnit::Millis, Format::Json, 600)
    );
}

// ---------------------------------------------------------------------------------------------
// Codes and secrets.

#[test]
fn code_table_is_complete() {
    for code in Code::ALL {
        let info = code.info();
        assert_eq!(info.code, code.value());
        assert_eq!(Code::from_value(info.code), Some(code));
        assert!(info.hint.starts_with(info.zh), "{code:?}");
        assert!(info.hint.contains(" / "), "{code:?}");
        let err = code.to_error();
        assert_eq!(Code::of(&err), Some(code));
    }
    let class = |c: Code| c.info().class;
    assert_eq!(class(Code::AuthCodeMissing), ErrorClass::TokenInvalid);
    assert_eq!(class(Code::AuthCodeExpired), ErrorClass::TokenInvalid);
    assert_eq!(class(Code::AuthCodeWrongUser), ErrorClass::TokenInvalid);
    assert_eq!(class(Code::AccessTokenExpired), ErrorClass::Permission);
    assert_eq!(class(Code::ScopeDenied), ErrorClass::Permission);
    assert_eq!(class(Code::InternalError), ErrorClass::Retryable);
    assert_eq!(class(Code::ClientSecretIllegal), ErrorClass::BadRequest);
    assert!(!Code::AccessTokenExpired.info().message_confirmed);
    assert!(Code::ClientIdNotFound.info().message_confirmed);
}

const SECRET_MARKERS: [&str; 3] = [
    tenant::CLIENT_SECRET,
    "MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU", // the Basic credentials
    "9106c9fd1e138a042d4aedf94cede7a766e0", // the access token
];

fn assert_clean(text: &str, extra: &str) {
    for m in SECRET_MARKERS.iter().chain([&extra]) {
        assert!(!text.contains(m), "leaked {m:?} in {text}");
    }
}

#[test]
fn no_secret_in_debug_display_errors_or_explain() {
    let sb = Sandbox::new();
    let app = app(Format::Json);
    let code = sb.run(&app.authorize()).unwrap();
    let code_text = code.expose_secret().to_owned();
    let user_call = app.user_info(&code);
    let req = user_call.build(&sb.ctx()).unwrap();
    let source = ZhiyunAuthCodes::new(&app);
    let mut cache = AuthCodeCache::for_app(&app);
    cache.store(code.clone(), sb.now());
    let debug = format!(
        "{app:?} {:?} {user_call:?} {:?} {source:?} {cache:?} {:?} {:?} {:?}",
        app.config(),
        app.authorize(),
        req.headers(),
        sb.state.borrow(),
        server::Incoming::parse(&req).unwrap(),
    );
    assert_clean(&debug, &code_text);

    let ex = user_call.explain(&sb.ctx()).unwrap();
    let text = ex.to_text();
    assert_clean(&text, &code_text);
    assert!(text.contains("p_ = (t_ % 10000) * 3 + 2345"), "{text}");
    assert!(
        text.contains(&format!("({} % 10000) * 3 + 2345 = ", NOW_S * 1000)),
        "{text}"
    );
    assert!(text.contains("client_secret (Basic password)"));
    assert_clean(&ex.to_json(), &code_text);

    // Platform errors for credential problems do not echo them.
    let wrong = Zhiyun::new(ZhiyunConfig::new(
        BASE,
        tenant::CLIENT_ID,
        "MARKER-wrong-secret",
        tenant::ACCESS_TOKENS[0],
    ))
    .unwrap();
    let err = sb.run(&wrong.user_info(&code)).unwrap_err();
    assert_eq!(platform_code(&err), 100_013);
    assert!(!format!("{err} {err:?}").contains("MARKER"));

    // Decode errors of an authorize answer do not echo the code, in either format.
    for body in [
        format!(r#"{{"data":{{"auth_code":"{code_text}","x":}},"code":200}}"#),
        format!(
            "<response><code>200</code><message>ok</message><data><auth_code>{code_text}</auth_code><broken></data></response>"
        ),
        format!(
            "<response><code>200</code><message>ok</message><data><auth_code><x>{code_text}</x></auth_code></data></response>"
        ),
    ] {
        let err = run_with(&app.authorize(), &sb.ctx(), |_| {
            Ok(http::Response::new(body.clone().into_bytes()))
        })
        .unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
        assert_clean(&format!("{err} {err:?}"), &code_text);
    }

    // Server refusals never carry the request's secrets.
    let q = good_query(&sb, 0);
    let resp = sb
        .send(
            http::Request::get(format!("{USER_PATH}?{}", with(&q, "p_", Some("1"))))
                .header("authorization", basic(tenant::CLIENT_ID, "MARKER-x"))
                .body(Vec::new())
                .unwrap(),
        )
        .unwrap();
    assert_clean(std::str::from_utf8(resp.body()).unwrap(), "MARKER");
}
