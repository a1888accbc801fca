//! The blocking client against a loopback server: timeouts, body limit, status mapping,
//! decode errors, redirect refusal, user agent and clock skew.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kaifang_proto_core::error::{Error, TransportErrorKind};
use kaifang_test_support::exchanges::{Json, Now, Raw};
use kaifang_test_support::{Blackhole, Framing, Reply, TestServer, http_date};
use kaifang_transport_blocking::{BlockingClient, TransportConfig};

fn client(config: TransportConfig) -> BlockingClient {
    BlockingClient::new(config).unwrap()
}

fn kind(e: &Error) -> TransportErrorKind {
    match e {
        Error::Transport { kind, .. } => *kind,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[test]
fn connect_timeout() {
    let hole = Blackhole::new();
    let c = client(TransportConfig {
        connect_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    });
    let started = Instant::now();
    let err = c.execute(&Raw(hole.url("/x"))).unwrap_err();
    assert_eq!(kind(&err), TransportErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn connection_refused_is_connect() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = client(TransportConfig::default())
        .execute(&Raw(format!("http://{addr}/x")))
        .unwrap_err();
    assert_eq!(kind(&err), TransportErrorKind::Connect, "{err}");
}

#[test]
fn total_timeout() {
    let s = TestServer::start(|_| Reply::text(200, "late").delay(Duration::from_secs(3)));
    let c = client(TransportConfig {
        total_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    });
    let started = Instant::now();
    let err = c.execute(&Raw(s.url("/slow"))).unwrap_err();
    assert_eq!(kind(&err), TransportErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn body_limit_with_and_without_content_length() {
    let s = TestServer::start(|req| {
        let body = vec![b'x'; 1001];
        match req.path() {
            "/exact" => Reply::bytes(200, vec![b'x'; 1000]),
            "/length" => Reply::bytes(200, body),
            "/lies" => Reply::bytes(200, vec![b'x'; 10]).declare_length(10_000_000),
            "/chunked" => Reply::bytes(200, vec![b'x'; 50_000]).framing(Framing::Chunked),
            _ => Reply::bytes(200, body).framing(Framing::Close),
        }
    });
    let c = client(TransportConfig {
        max_body_bytes: 1000,
        ..TransportConfig::default()
    });
    assert_eq!(c.execute(&Raw(s.url("/exact"))).unwrap().body().len(), 1000);
    for path in ["/length", "/lies", "/chunked", "/close"] {
        let err = c.execute(&Raw(s.url(path))).unwrap_err();
        assert_eq!(
            kind(&err),
            TransportErrorKind::BodyTooLarge { limit: 1000 },
            "{path}: {err}"
        );
    }
}

#[test]
fn server_error_keeps_retry_after_and_malformed_json_is_decode() {
    let s = TestServer::start(|req| match req.path() {
        "/busy" => Reply::json(503, r#"{"msg":"busy"}"#).header("retry-after", "7"),
        _ => Reply::json(200, r#"{"a": [1, 2"#),
    });
    let c = client(TransportConfig::default());
    let err = c.execute(&Json(s.url("/busy"))).unwrap_err();
    match &err {
        Error::HttpStatus {
            status,
            retry_after,
            ..
        } => {
            assert_eq!(status.as_u16(), 503);
            assert_eq!(*retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_retryable());
    let err = c.execute(&Json(s.url("/bad"))).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[test]
fn redirect_to_another_host_is_refused_not_followed() {
    let other = TestServer::start(|_| Reply::text(200, "stolen"));
    let location = format!(
        "http://localhost:{}/steal?access_token=MARKER_REDIRECT",
        other.addr().port()
    );
    let s = TestServer::start(move |_| Reply::text(302, "").header("location", location.clone()));
    let err = client(TransportConfig::default())
        .execute(&Raw(s.url("/start")))
        .unwrap_err();
    assert_eq!(kind(&err), TransportErrorKind::Redirect, "{err}");
    assert_eq!(other.hits(), 0);
    assert_eq!(s.hits(), 1);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("MARKER_REDIRECT"), "{text}");
    assert!(text.contains("302"), "{text}");
}

#[test]
fn user_agent_is_kaifang() {
    let s = TestServer::start(|req| Reply::text(200, req.header("user-agent").unwrap_or("")));
    let resp = client(TransportConfig::default())
        .execute(&Raw(s.url("/ua")))
        .unwrap();
    let ua = String::from_utf8(resp.into_body()).unwrap();
    assert_eq!(ua, format!("kaifang/{}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn skew_is_learned_from_date() {
    let ahead = Duration::from_secs(600);
    let s = TestServer::start(move |_| {
        Reply::text(200, "ok").header("date", http_date(SystemTime::now() + ahead))
    });
    let c = client(TransportConfig::default());
    let before = c.context().now();
    c.execute(&Raw(s.url("/first"))).unwrap();
    let seen = c.execute(&Now(s.url("/second"))).unwrap();
    let skew = seen.duration_since(SystemTime::now()).unwrap();
    assert!(
        skew > Duration::from_secs(597) && skew < Duration::from_secs(603),
        "{skew:?}"
    );
    assert!((c.clock().offset_ms() - 600_000).abs() < 2_000);
    assert!(before < SystemTime::now() + Duration::from_secs(1));
    // With learning off, nothing moves.
    let c = client(TransportConfig {
        learn_skew: false,
        ..TransportConfig::default()
    });
    c.execute(&Raw(s.url("/first"))).unwrap();
    assert_eq!(c.clock().offset_ms(), 0);
    let _ = Arc::clone(c.clock());
}

#[test]
fn ip_literal_and_host_name_both_reach_the_server() {
    let s = TestServer::start(|req| Reply::text(200, req.path().to_owned()));
    let c = client(TransportConfig::default());
    let port = s.addr().port();
    // An IP literal is answered by our resolver without a lookup thread...
    let r = c
        .execute(&Raw(format!("http://127.0.0.1:{port}/literal")))
        .unwrap();
    assert_eq!(r.body(), b"/literal");
    // ...and a host name still goes through ureq's resolver (with its timeout).
    let r = c
        .execute(&Raw(format!("http://localhost:{port}/name")))
        .unwrap();
    assert_eq!(r.body(), b"/name");
    assert_eq!(s.hits(), 2);
    // An IP literal nobody listens on is a connect error, as before.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = c.execute(&Raw(format!("http://{closed}/x"))).unwrap_err();
    assert_eq!(kind(&err), TransportErrorKind::Connect, "{err}");
}
