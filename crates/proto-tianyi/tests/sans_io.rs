//! The client half against the server half, with no I/O: every request the client builds is
//! verified by `server::verify` exactly as the sandbox will, at a frozen time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
use kaifang_proto_core::exchange::{Exchange, run_with};
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_tianyi::server::{self, Refusal, ServerApp, VerifyOptions};
use kaifang_proto_tianyi::{
    AppKind, AuthPageRequest, Case, GetAccessToken, Grant, LoginClientType, PrivateParams, Tianyi,
    TianyiConfig, codes, parse_callback, sign_form,
};
use serde_json::json;

const APP_ID: &str = "693299085757";
const SECRET: &str = "88bd97ee5e9949c2bc48efb6e6fa2207";
const NOW: i64 = 1_700_000_000_000;

fn ctx() -> Context {
    Context::new(
        Arc::new(FrozenClock::from_unix_millis(NOW)),
        Arc::new(FixedNonce::new("abcdefghijklmnop")),
    )
}

fn server_app(kind: AppKind) -> ServerApp {
    ServerApp {
        app_id: APP_ID.into(),
        secret: SecretString::new(SECRET),
        name: "demo".into(),
        kind,
        callback_domain: Some("http://192.168.140.1:8889".into()),
        enterprise_users: vec!["13800000000".into()],
    }
}

fn verify(req: &http::Request<Vec<u8>>, kind: AppKind) -> Result<server::Verified, Refusal> {
    server::verify(
        req.headers(),
        req.body(),
        NOW,
        |id| (id == APP_ID).then(|| server_app(kind)),
        VerifyOptions::default(),
    )
    .map(|(_, v)| v)
}

#[test]
fn seed_form_body_is_byte_for_byte_what_the_python_sends() {
    let app = Tianyi::new(TianyiConfig::new(APP_ID, SECRET)).unwrap();
    let login = AuthPageRequest::new(
        &app,
        &ctx(),
        "http://192.168.140.1:8889",
        LoginClientType::Web,
    )
    .unwrap();
    let req = login.build(&ctx()).unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.uri(),
        "https://vcp.21cn.com/open/oauth/login/getAuthPageUrl"
    );
    assert_eq!(req.headers()["apiVersion"], "2.0");
    assert_eq!(
        req.headers()["content-type"],
        "application/x-www-form-urlencoded"
    );
    // ../shared/vectors/extra_vectors.txt, "form body (python requests, dict order)".
    assert_eq!(
        std::str::from_utf8(req.body()).unwrap(),
        "signature=7134edd0ae864e3c00072ce39cf6c33efd68b94fb0e7d442061877b62360b376&params=e7f042fd76937d76ba2cd63de2de44252a197afaad647ba9721514439866aee816a40057235799c1fe2fa1b452378cdbb2a7f4dba3eb9d794815e7eb72fff452c2ce1862d46f66cbc55fe6c1d9a90d7dd8fa6bdb51b2a658&appId=693299085757&version=2.0&clientType=3&timestamp=1700000000000"
    );
    let v = verify(&req, AppKind::Standard).unwrap();
    assert_eq!(
        v.params.get("callbackUrl"),
        Some("http://192.168.140.1:8889")
    );
    assert_eq!(v.params.get("state"), Some("abcdefghijklmnop"));
}

#[test]
fn explain_shows_every_step_and_no_secret() {
    let app = Tianyi::new(TianyiConfig::new(APP_ID, SECRET)).unwrap();
    let token = SecretString::new("ACCESS-TOKEN-MARKER-123");
    let call = app.show_device(&token, "dev-1").unwrap();
    let ex = call.explain(&ctx()).unwrap();
    let text = ex.to_text();
    assert!(text.contains("accessToken=[redacted len=23]"), "{text}");
    assert!(text.contains("deviceCode=dev-1"));
    assert!(
        ex.get("string-to-sign (appId + clientType + params + timestamp + version)")
            .unwrap()
            .starts_with(APP_ID)
    );
    assert!(!text.contains("ACCESS-TOKEN-MARKER"));
    assert!(!text.contains(SECRET));
    assert!(!format!("{call:?}{app:?}").contains(SECRET));
}

#[test]
fn upper_case_variants_verify_too() {
    let app = Tianyi::new(
        TianyiConfig::new(APP_ID, SECRET)
            .case(Case::Upper, Case::Upper)
            .version("v2.0"),
    )
    .unwrap();
    let form = sign_form(
        &app,
        &PrivateParams::new().with("grantType", "vcp_189").unwrap(),
        NOW as u64,
    )
    .unwrap();
    assert!(form.params.chars().all(|c| !c.is_ascii_lowercase()));
    assert!(form.signature.chars().all(|c| !c.is_ascii_lowercase()));
    let req = GetAccessToken::new(&app, &Grant::RefreshToken(SecretString::new("r")))
        .unwrap()
        .build(&ctx())
        .unwrap();
    assert!(verify(&req, AppKind::Standard).is_ok());
}

#[test]
fn verification_order_and_codes() {
    let app = Tianyi::new(TianyiConfig::new(APP_ID, SECRET)).unwrap();
    let good = GetAccessToken::new(&app, &Grant::AuthCode(SecretString::new("code")))
        .unwrap()
        .build(&ctx())
        .unwrap();
    let code = |req: &http::Request<Vec<u8>>| verify(req, AppKind::Standard).unwrap_err().code;

    let mut no_header = good.clone();
    no_header.headers_mut().remove("apiVersion");
    assert_eq!(code(&no_header), codes::API_VERSION_MISSING);

    let body = String::from_utf8(good.body().clone()).unwrap();
    let with_body = |b: String| {
        let mut r = good.clone();
        *r.body_mut() = b.into_bytes();
        r
    };
    assert_eq!(
        code(&with_body(body.replace("appId=693299085757", "appId=1"))),
        codes::APP_NOT_FOUND
    );
    assert_eq!(
        code(&with_body(body.replace("&timestamp=1700000000000", ""))),
        codes::BAD_PARAMS
    );
    // Tampered params: the signature no longer matches.
    let form: Vec<(String, String)> = form_urlencoded::parse(good.body()).into_owned().collect();
    let params = &form.iter().find(|(k, _)| k == "params").unwrap().1;
    let mut tampered = params.clone();
    tampered.replace_range(0..2, if &params[0..2] == "00" { "11" } else { "00" });
    assert_eq!(
        code(&with_body(body.replace(params.as_str(), &tampered))),
        codes::SIGNATURE_MISMATCH
    );
    // A wrong secret: signature mismatch.
    let other = Tianyi::new(TianyiConfig::new(
        APP_ID,
        "00000000000000000000000000000000",
    ))
    .unwrap();
    let wrong = GetAccessToken::new(&other, &Grant::AuthCode(SecretString::new("code")))
        .unwrap()
        .build(&ctx())
        .unwrap();
    assert_eq!(code(&wrong), codes::SIGNATURE_MISMATCH);
    // Stale timestamp: signed correctly, 11 minutes old.
    let old_ctx = Context::new(
        Arc::new(FrozenClock::from_unix_millis(NOW - 11 * 60_000)),
        Arc::new(FixedNonce::new("x")),
    );
    let stale = GetAccessToken::new(&app, &Grant::AuthCode(SecretString::new("code")))
        .unwrap()
        .build(&old_ctx)
        .unwrap();
    assert_eq!(code(&stale), codes::TIMESTAMP_EXPIRED);
}

#[test]
fn endpoint_rules() {
    let std_app = server_app(AppKind::Standard);
    assert!(server::check_callback(&std_app, "http://192.168.140.1:8889/any/path?x=1").is_ok());
    assert_eq!(
        server::check_callback(&std_app, "http://evil.example:8889")
            .unwrap_err()
            .code,
        codes::CALLBACK_ILLEGAL
    );
    assert_eq!(
        server::check_callback(&std_app, "http://192.168.140.1:9999")
            .unwrap_err()
            .code,
        codes::CALLBACK_ILLEGAL
    );
    let mut no_domain = std_app.clone();
    no_domain.callback_domain = None;
    assert_eq!(
        server::check_callback(&no_domain, "http://192.168.140.1:8889")
            .unwrap_err()
            .code,
        codes::CALLBACK_DOMAIN_EMPTY
    );
    assert_eq!(
        server::check_grant(&std_app, "vcp_189").unwrap_err().code,
        codes::GRANT_TYPE_MISMATCH
    );
    assert!(server::check_grant(&std_app, "auth_code").is_ok());
    let platform = server_app(AppKind::Platform);
    assert_eq!(
        server::check_grant(&platform, "auth_code")
            .unwrap_err()
            .code,
        codes::GRANT_TYPE_MISMATCH
    );
    let no_user = PrivateParams::new().with("accessToken", "t").unwrap();
    assert_eq!(
        server::check_enterprise_user(&platform, &no_user)
            .unwrap_err()
            .code,
        codes::ENTERPRISE_USER_MISSING
    );
    let with_user = no_user.with("enterpriseUser", "13800000000").unwrap();
    assert!(server::check_enterprise_user(&platform, &with_user).is_ok());
}

#[test]
fn token_exchange_end_to_end_without_io() {
    let app = Tianyi::new(TianyiConfig::new(APP_ID, SECRET).platform("13800000000")).unwrap();
    let exchange = GetAccessToken::new(&app, &Grant::Vcp189).unwrap();
    let token = run_with(&exchange, &ctx(), |req| {
        let v = verify(&req, AppKind::Platform).map_err(|r| Error::Config(r.message))?;
        assert_eq!(v.params.get("grantType"), Some("vcp_189"));
        assert_eq!(v.params.get("enterpriseUser"), Some("13800000000"));
        let data = json!({"accessToken": "A", "refreshToken": "R", "expiresin": "604800", "refreshExpiresin": 2592000});
        Ok(server::success(&server_app(AppKind::Platform), &v.version, data, false))
    })
    .unwrap();
    assert_eq!(token.access.expose_secret(), "A");
    assert_eq!(token.ttl().as_secs(), 604_800);
    assert_eq!(token.refresh.as_ref().unwrap().expose_secret(), "R");
}

#[test]
fn platform_errors_are_typed_with_hints() {
    let app = Tianyi::new(TianyiConfig::new(APP_ID, SECRET)).unwrap();
    let exchange = GetAccessToken::new(&app, &Grant::AuthCode(SecretString::new("c"))).unwrap();
    for (code, class) in [
        (codes::API_VERSION_MISSING, ErrorClass::BadRequest),
        (codes::ACCESS_TOKEN_INVALID, ErrorClass::TokenInvalid),
        (codes::ENTERPRISE_USER_MISSING, ErrorClass::Permission),
        (50004, ErrorClass::Retryable),
    ] {
        let err =
            run_with(&exchange, &ctx(), |_| Ok(Refusal::code(code).to_response())).unwrap_err();
        let p = err.platform().unwrap();
        assert_eq!(p.code, code.to_string());
        assert_eq!(p.class, class);
        assert!(p.hint.is_some());
    }
    let err = run_with(&exchange, &ctx(), |_| {
        Ok(Refusal::code(codes::API_VERSION_MISSING).to_response())
    })
    .unwrap_err();
    assert!(err.to_string().contains("apiVersion: 2.0"), "{err}");
    // IP whitelist refusals use upper-case keys.
    let err = run_with(&exchange, &ctx(), |_| {
        Ok(Refusal::code(codes::IP_WHITELIST).to_response())
    })
    .unwrap_err();
    assert_eq!(err.platform().unwrap().code, "20103");
    // Grant and app type mismatch is said before calling.
    assert!(GetAccessToken::new(&app, &Grant::Vcp189).is_err());
}

#[test]
fn v1_data_is_decrypted_transparently() {
    let app = Tianyi::new(TianyiConfig::new(APP_ID, SECRET).version("v1.0")).unwrap();
    let token = SecretString::new("t");
    let call = app.show_device(&token, "dev-9").unwrap();
    let device = run_with(&call, &ctx(), |req| {
        let v = verify(&req, AppKind::Standard).map_err(|r| Error::Config(r.message))?;
        assert_eq!(v.version, "v1.0");
        Ok(server::success(
            &server_app(AppKind::Standard),
            &v.version,
            json!({"deviceCode": "dev-9", "deviceName": "门口"}),
            true,
        ))
    })
    .unwrap();
    assert_eq!(device.device_code, "dev-9");
    assert_eq!(device.device_name, "门口");
}

#[test]
fn callback_state_is_verified() {
    let ok = server::callback_redirect("http://cb.example/x", Some("CODE123"), "st");
    let query = ok.split_once('?').unwrap().1;
    assert_eq!(
        parse_callback(query, "st").unwrap().expose_secret(),
        "CODE123"
    );
    assert_eq!(
        parse_callback(query, "other")
            .unwrap_err()
            .platform()
            .unwrap()
            .code,
        "state_mismatch"
    );
    let denied = server::callback_redirect("http://cb.example/x", None, "st");
    assert_eq!(
        parse_callback(denied.split_once('?').unwrap().1, "st")
            .unwrap_err()
            .platform()
            .unwrap()
            .code,
        "login_refused"
    );
}

#[test]
fn cursor_pages_until_minus_one() {
    let app = Tianyi::new(TianyiConfig::new(APP_ID, SECRET)).unwrap();
    let token = SecretString::new("t");
    let mut pages = app.all_devices(&token, "", true, 2);
    let mut seen = Vec::new();
    let mut calls = 0;
    while let Some(call) = pages.next_call().unwrap() {
        calls += 1;
        let page = run_with(&call, &ctx(), |req| {
            let v = verify(&req, AppKind::Standard).map_err(|r| Error::Config(r.message))?;
            let last: i64 = v.params.get("lastId").unwrap().parse().unwrap();
            let (list, next) = match last {
                0 => (json!([{"deviceCode": "a"}, {"deviceCode": "b"}]), 2),
                2 => (json!([{"deviceCode": "c"}]), -1),
                _ => panic!("unexpected lastId {last}"),
            };
            Ok(server::success(
                &server_app(AppKind::Standard),
                "2.0",
                json!({"lastId": next, "list": list}),
                false,
            ))
        })
        .unwrap();
        seen.extend(pages.accept(page).into_iter().map(|d| d.device_code));
    }
    assert_eq!(calls, 2);
    assert_eq!(seen, ["a", "b", "c"]);
    assert!(pages.is_done());
}
