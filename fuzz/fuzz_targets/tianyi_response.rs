//! Every Tianyi response parser on arbitrary bytes, with a fuzzed status and content type:
//! `AuthPageRequest`, `GetAccessToken` and the device `Call`s' `Exchange::parse` (for both app
//! kinds and for the `v1.0` encrypted data), `response::data`, `parse_token`, `parse_callback`.
//!
//! Invariants: no panic; no error holds the app secret; a `2xx` answer is never `HttpStatus`;
//! `v1.0` data encrypted with the app secret decrypts back to what was encrypted;
//! `parse_callback` reads back a callback query built from the same code and state.
#![no_main]

use kaifang_fuzz::{assert_no_secret, ctx, split};
use kaifang_proto_core::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_tianyi::device::StatusQuery;
use kaifang_proto_tianyi::{
    AppKind, AuthPageRequest, GetAccessToken, Grant, LoginClientType, Tianyi, TianyiConfig, auth,
    parse_callback, response,
};
use kaifang_sign_core::hex::HexCase;
use kaifang_sign_core::tianyi::TianyiSigner;
use libfuzzer_sys::fuzz_target;

const APP_ID: &str = "693299085757";
const SECRET: &str = "88bd97ee5e9949c2bc48efb6e6fa2207";

struct Input<'a> {
    body: &'a [u8],
    plain: &'a str,
    callback: &'a str,
    state: &'a str,
    code: &'a str,
}

fn check<T>(r: &Result<T, Error>, status: http::StatusCode) {
    if let Err(e) = r {
        assert_no_secret(e, SECRET);
        if status.is_success() {
            assert!(
                !matches!(e, Error::HttpStatus { .. }),
                "2xx became HttpStatus: {e:?}"
            );
        }
    }
}

fn app(platform: bool, v1: bool) -> Tianyi {
    let mut cfg = TianyiConfig::new(APP_ID, SECRET);
    if platform {
        cfg = cfg.platform("13800000000");
    }
    if v1 {
        cfg = cfg.version("v1.0");
    }
    Tianyi::new(cfg).expect("valid config")
}

fuzz_target!(|data: &[u8]| {
    let Some((head, flags, body)) = split(data) else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    // The text as a callback query and as the plaintext of `v1.0` data; split at the first
    // newline into the code and state of the callback round trip.
    let (code, state) = text.split_once('\n').unwrap_or((&text, "abcdefghijklmnop"));
    let input = Input {
        body,
        plain: &text,
        callback: &text,
        state,
        code,
    };
    let ctx = ctx();
    let app = app(flags & 1 != 0, flags & 2 != 0);
    let v1 = flags & 2 != 0;
    let resp = head.response(input.body);
    let status = resp.status();
    let token = SecretString::new("token-0123456789");

    let login = AuthPageRequest::with_state(
        &app,
        "http://127.0.0.1:8889",
        LoginClientType::Web,
        "st".into(),
    )
    .expect("valid login request");
    check(&login.parse(&ctx, resp.clone()), status);
    for grant in [
        Grant::AuthCode(SecretString::new("c")),
        Grant::RefreshToken(SecretString::new("r")),
    ] {
        if let Ok(get) = GetAccessToken::new(&app, &grant) {
            check(&get.parse(&ctx, resp.clone()), status);
        }
    }
    if let Ok(call) = app.call(&token, "/open/token/x", &[]) {
        check(&call.parse(&ctx, resp.clone()), status);
    }
    if let Ok(call) = app.regions(&token, "") {
        check(&call.parse(&ctx, resp.clone()), status);
    }
    if let Ok(call) = app.device_list(&token, "r", 1, 10) {
        check(&call.parse(&ctx, resp.clone()), status);
    }
    if let Ok(call) = app.all_devices_page(&token, "r", true, 0, 10) {
        check(&call.parse(&ctx, resp.clone()), status);
    }
    if let Ok(call) = app.show_device(&token, "d") {
        check(&call.parse(&ctx, resp.clone()), status);
    }
    if let Ok(call) = app.batch_device_status(&token, &["d"], StatusQuery::Online) {
        check(&call.parse(&ctx, resp.clone()), status);
    }
    if let Ok(call) = app.media_url_hls(&token, "d", 60) {
        check(&call.parse(&ctx, resp.clone()), status);
    }
    let data = response::data(&app, &ctx, &resp);
    check(&data, status);
    if let Ok(v) = &data {
        for kind in [AppKind::Standard, AppKind::Platform] {
            check(&auth::parse_token(v, kind, &ctx, input.body), status);
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(input.body) {
        check(
            &auth::parse_token(&v, AppKind::Standard, &ctx, input.body),
            status,
        );
    }

    // v1.0: data encrypted with the app secret comes back decrypted.
    if v1 && !input.plain.is_empty() {
        let signer = TianyiSigner::new(SECRET.as_bytes());
        let mut out = vec![0u8; input.plain.len() * 2 + 16];
        if let Ok(hex) = signer.encrypt_params_hex(input.plain.as_bytes(), HexCase::Lower, &mut out)
        {
            let body = serde_json::json!({"code": 0, "msg": "ok", "data": hex}).to_string();
            let ok = http::Response::new(body.into_bytes());
            let got = response::data(&app, &ctx, &ok).expect("own v1.0 data decrypts");
            let want = serde_json::from_str(input.plain)
                .unwrap_or_else(|_| serde_json::Value::String(input.plain.to_owned()));
            assert_eq!(got, want);
        }
    }

    // Callbacks: arbitrary query, then the round trip.
    if let Err(e) = parse_callback(input.callback, input.state) {
        assert_no_secret(&e, SECRET);
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("authCode", input.code)
        .append_pair("state", input.state)
        .finish();
    match parse_callback(&query, input.state) {
        Ok(code) => assert_eq!(code.expose_secret(), input.code),
        Err(_) => assert!(input.code.is_empty(), "valid callback refused: {query}"),
    }
    if !input.state.is_empty() {
        let other = format!("{}x", input.state);
        assert!(
            parse_callback(&query, &other).is_err(),
            "state mismatch accepted"
        );
    }
});
