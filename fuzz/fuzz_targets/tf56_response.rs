//! Every tf56 response parser on arbitrary bytes, with a fuzzed status and content type:
//! `TokenRequest::parse` (each grant), `ApiCall::parse` (`Hello`, `UserInfo`, `Value`),
//! `parse_token`, `parse_token_response`, `api::business_data`, `parse_callback`,
//! `ApiMethod::parse`, `GrantType::parse`.
//!
//! Invariants: no panic; no error holds the client secret; a `2xx` answer is never `HttpStatus`;
//! `parse_token` and `parse_token_response` agree on a `200`; a token rendered by the server
//! half (`server::token_json`-style JSON) parses back; `ApiMethod` survives display-and-parse;
//! `parse_callback` reads back a callback built from the same code and state.
#![no_main]

use kaifang_fuzz::{assert_no_secret, ctx, split};
use kaifang_proto_core::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::{AccessToken, SecretString};
use kaifang_proto_tf56::api::{self, ApiMethod};
use kaifang_proto_tf56::oauth::GrantType;
use kaifang_proto_tf56::token::{parse_token, parse_token_response};
use kaifang_proto_tf56::{Grant, Tf56, Tf56Config, TokenRequest, parse_callback};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "7fad9d6b20e849219d6888b25e3f40db";

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

fuzz_target!(|data: &[u8]| {
    let Some((head, _flags, body)) = split(data) else {
        return;
    };
    let ctx = ctx();
    let app = Tf56::new(Tf56Config::new("7", SECRET).redirect_uri("http://test.tf56.com"))
        .expect("valid config");
    let resp = head.response(body);
    let status = resp.status();
    for grant in [
        Grant::ClientCredentials,
        Grant::AuthorizationCode(SecretString::new("code")),
        Grant::Password {
            username: "demo".into(),
            password: SecretString::new("demo123456"),
        },
        Grant::RefreshToken(SecretString::new("r")),
    ] {
        if let Ok(req) = TokenRequest::new(&app, grant) {
            check(&req.parse(&ctx, resp.clone()), status);
        }
    }
    let token = AccessToken::new("d45e242ad95238cfa9a24436153adfa0");
    check(&app.say_hello(&token).parse(&ctx, resp.clone()), status);
    check(
        &app.query_user_info(&token).parse(&ctx, resp.clone()),
        status,
    );
    check(
        &app.call(ApiMethod::say_hello(), &token)
            .parse(&ctx, resp.clone()),
        status,
    );
    check(&api::business_data(&resp, &ctx), status);
    let direct = parse_token(body, ctx.now());
    check(&direct, status);
    let full = parse_token_response(&resp, ctx.now());
    check(&full, status);
    if status == http::StatusCode::OK {
        // A token that parses alone also parses as a 200 answer (unless it carries an error).
        if let (Ok(a), Ok(b)) = (&direct, &full) {
            assert_eq!(a.access.expose_secret(), b.access.expose_secret());
            assert_eq!(a.expires_at, b.expires_at);
        }
    }

    let text = String::from_utf8_lossy(body);
    if let Err(e) = parse_callback(&text, "abcdefghijklmnop") {
        assert_no_secret(&e, SECRET);
    }
    if let Ok(m) = ApiMethod::parse(&text) {
        let again = ApiMethod::parse(&m.to_string()).expect("displayed method parses");
        assert_eq!(again.to_string(), m.to_string());
    }
    let _ = GrantType::parse(&text);

    // Round trips: a token answer and a callback built from the input's text.
    let (value, state) = text.split_once('\n').unwrap_or((&text, "abcdefghijklmnop"));
    let answer =
        serde_json::json!({"access_token": value, "token_type": "uuid", "expires_in": 1800});
    let ok = http::Response::new(answer.to_string().into_bytes());
    match parse_token_response(&ok, ctx.now()) {
        Ok(t) => assert_eq!(t.access.expose_secret(), value),
        Err(e) => assert!(value.is_empty(), "token answer refused: {e:?}"),
    }
    let callback = format!(
        "http://test.tf56.com/?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("code", value)
            .append_pair("state", state)
            .finish()
    );
    match parse_callback(&callback, state) {
        Ok(code) => assert_eq!(code.expose_secret(), value),
        Err(e) => assert!(
            value.is_empty() || state.is_empty(),
            "callback refused: {e:?} {callback}"
        ),
    }
});
