//! No secret reaches a log line, an error, or a `Debug`/`Display` of the client, the manager
//! or a token: token fetches and API calls whose URLs, bodies and headers carry unique markers,
//! with every tracing event at TRACE captured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kaifang_test_support::exchanges::{Call, Json, Raw, Source};
use kaifang_test_support::{LogCapture, Reply, TestServer};
use kaifang_transport_blocking::{BlockingClient, TokenManager, TransportConfig};

const MARKERS: [&str; 5] = [
    "MKCLIENTSECRET",
    "MKACCESSTOKEN",
    "MKSIGNATURE",
    "MKREDIRECT",
    "MKERRBODY",
];

#[test]
fn markers_never_leak() {
    let logs = LogCapture::install();
    let s = TestServer::start(|req| match req.path() {
        "/token" => Reply::json(200, r#"{"access_token":"MKACCESSTOKEN","expires_in":7200}"#),
        "/bad-token" => Reply::json(200, r#"{"access_token":"MKACCESSTOKEN","expires_in":"x"}"#),
        "/api" => Reply::json(401, r#"{"access_token":"MKERRBODY","msg":"invalid"}"#),
        "/json" => Reply::json(500, r#"{"client_secret":"MKERRBODY"}"#),
        _ => Reply::text(302, "").header(
            "location",
            "http://127.0.0.2:9/x?access_token=MKREDIRECT&signature=MKREDIRECT",
        ),
    });
    let client = Arc::new(BlockingClient::new(TransportConfig::default()).unwrap());
    let tokens = TokenManager::new(Arc::clone(&client));
    let source = Source::new(s.url("/token"), "MKCLIENTSECRET");
    let token = tokens.token(&*source).unwrap();
    assert_eq!(token.access.expose_secret(), "MKACCESSTOKEN");

    let mut errors = Vec::new();
    let api = s.url("/api");
    errors.push(
        tokens
            .call_with_token(&*source, |t| Call {
                url: api.clone(),
                access_token: t.access.expose_secret().to_owned(),
                signature: "MKSIGNATURE".into(),
            })
            .unwrap_err(),
    );
    let bad = Source::new(s.url("/bad-token"), "MKCLIENTSECRET");
    let mut bad = (*bad).clone();
    bad.key = kaifang_proto_core::lifecycle::TokenKey::new("test", "app", "other");
    errors.push(tokens.token(&bad).unwrap_err());
    errors.push(client.execute(&Json(s.url("/json"))).unwrap_err());
    errors.push(
        client
            .execute(&Raw(s.url("/redirect?access_token=MKACCESSTOKEN")))
            .unwrap_err(),
    );
    errors.push(
        client
            .execute(&Raw(
                "http://127.0.0.1:1/x?access_token=MKACCESSTOKEN&client_secret=MKCLIENTSECRET"
                    .into(),
            ))
            .unwrap_err(),
    );
    assert_eq!(errors.len(), 5);

    let mut seen = String::new();
    for e in &errors {
        seen.push_str(&format!("{e}\n{e:?}\n"));
    }
    seen.push_str(&format!("{client:?}\n{tokens:?}\n{token:?}\n"));
    let log = logs.text();
    assert!(log.contains("kaifang.http"), "spans were captured");
    assert!(log.contains("latency_ms"), "{log}");
    for m in MARKERS {
        assert!(!seen.contains(m), "{m} leaked:\n{seen}");
        for line in log.lines() {
            assert!(!line.contains(m), "{m} leaked in a log line: {line}");
        }
    }
}
