//! Every Zhiyun response parser on arbitrary bytes (JSON or XML, any status and content type):
//! `Authorize`, `AuthorizeToken`, `GetUserInfo`, `GetCompanyInfo` (`Exchange::parse`),
//! `response::decode`/`sniff`, `xml::head`/`xml::data`.
//!
//! Invariants: no panic; no error holds the client secret or the access token; a `2xx` answer
//! is never `HttpStatus`; an answer rendered by the server half (`xml::render`, JSON) with an
//! arbitrary code and message parses back to that code (and the message for errors).
#![no_main]

use kaifang_fuzz::{assert_no_secret, ctx, split};
use kaifang_proto_core::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_zhiyun::server::tenant;
use kaifang_proto_zhiyun::{Format, Zhiyun, ZhiyunConfig, response, xml};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "c2VjcmV0LW9mLXRoZS1jbGllbnQtMDEyMzQ1";
const TOKEN: &str = "access-token-7f3a9c1e5b";

fn check<T>(r: &Result<T, Error>, status: http::StatusCode) {
    if let Err(e) = r {
        assert_no_secret(e, SECRET);
        assert_no_secret(e, TOKEN);
        if status.is_success() {
            assert!(
                !matches!(e, Error::HttpStatus { .. }),
                "2xx became HttpStatus: {e:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, flags, body)) = split(data) else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    // The round trip's code: the first line as a number (else the flags), its message: the rest.
    let (first, message) = text.split_once('\n').unwrap_or((&text, ""));
    let code = first
        .trim()
        .parse::<i64>()
        .unwrap_or(i64::from(flags) * 100);
    let ctx = ctx();
    let format = if flags & 1 != 0 {
        Format::Xml
    } else {
        Format::Json
    };
    let app = Zhiyun::new(
        ZhiyunConfig::new("http://127.0.0.1:1", tenant::CLIENT_ID, SECRET, TOKEN).format(format),
    )
    .expect("valid config");
    let resp = head.response(body);
    let status = resp.status();
    let auth_code = SecretString::new("0123456789abcdef0123456789abcdef01234567");

    let authorize = app.authorize();
    check(&authorize.parse(&ctx, resp.clone()), status);
    check(&authorize.into_token().parse(&ctx, resp.clone()), status);
    check(&app.user_info(&auth_code).parse(&ctx, resp.clone()), status);
    check(
        &app.company_info(&auth_code).parse(&ctx, resp.clone()),
        status,
    );
    check(&response::decode::<serde_json::Value>(&ctx, &resp), status);
    let _ = response::sniff(body);
    if let Err(e) = xml::head(body) {
        assert_no_secret(&e, SECRET);
    }
    if let Err(e) = xml::data::<serde_json::Value>(body) {
        assert_no_secret(&e, SECRET);
    }

    // Round trip through the server half's renderer.
    let data = serde_json::json!({"auth_code": "abc"});
    if let Ok(text) = xml::render(code, message, Some(&data)) {
        let (got_code, _message) = xml::head(text.as_bytes()).expect("rendered XML has a head");
        assert_eq!(got_code, code.to_string());
    }
    let json = serde_json::json!({"code": code, "message": message, "data": data});
    let ok = http::Response::new(json.to_string().into_bytes());
    let got = response::decode::<serde_json::Value>(&ctx, &ok);
    if code == 200 {
        assert_eq!(got.expect("code 200 is success"), data);
    } else {
        match got {
            Err(Error::Platform(p)) => assert_eq!(p.code, code.to_string()),
            other => panic!("code {} gave {other:?}", code),
        }
    }
});
