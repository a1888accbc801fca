//! Fault injection observed by a real HTTP client (reqwest) and by a raw TCP client: latency,
//! status, malformed body, truncated body, dropped connection; counts, methods, prefixes, seeded
//! probability; both through `/__sandbox/faults` and through the handle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use kaifang_sandbox::{FaultAction, FaultSpec};
use reqwest::Method;
use serde_json::json;

const TOKEN_FORM: &str =
    "grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret";

#[test]
fn latency_and_status_over_http() {
    run(async {
        let sb = demo().await;
        let c = client();
        let (s, v) = post(
            &c,
            sb.url("/__sandbox/faults"),
            r#"{"path":"/__demo/ping","latency_ms":300,"count":1}"#,
        )
        .await;
        assert_eq!((s, &v["id"]), (200, &json!(1)));
        let t = Instant::now();
        assert_eq!(
            c.get(sb.url("/__demo/ping"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "pong"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t.elapsed()
        );
        let t = Instant::now();
        c.get(sb.url("/__demo/ping")).send().await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(300));

        let (s, _) = post(
            &c,
            sb.url("/__sandbox/faults"),
            r#"{"path":"/__demo/oauth/token","method":"POST","action":{"type":"status","status":503,"body":"{\"code\":-1,\"msg\":\"busy\"}"},"count":2}"#,
        )
        .await;
        assert_eq!(s, 200);
        for _ in 0..2 {
            let resp = post_form(&c, sb.url("/__demo/oauth/token"), TOKEN_FORM).await;
            assert_eq!(resp.status(), 503);
            assert_eq!(resp.headers()["content-type"], "application/json");
            assert_eq!(resp.text().await.unwrap(), r#"{"code":-1,"msg":"busy"}"#);
        }
        // Count exhausted: the route answers again.
        assert_eq!(
            post_form(&c, sb.url("/__demo/oauth/token"), TOKEN_FORM)
                .await
                .status(),
            200
        );

        let (_, list) = get(&c, sb.url("/__sandbox/faults")).await;
        assert_eq!(list[1]["fired"], 2);
        assert_eq!(list[1]["matched"], 2);
        assert_eq!(list[1]["remaining"], 0);
        assert_eq!(list[1]["action"]["type"], "status");
        let j = sb.journal();
        assert_eq!(j[0].fault.as_deref(), Some("latency"));
        assert!(j[0].latency_ms >= 300.0);
        assert_eq!(j[2].fault.as_deref(), Some("status"));
        assert_eq!(j[2].status, Some(503));

        // Remove one, clear all.
        let (s, _) = send_json(&c, Method::DELETE, sb.url("/__sandbox/faults/1"), "").await;
        assert_eq!(s, 200);
        let (s, v) = send_json(&c, Method::DELETE, sb.url("/__sandbox/faults/1"), "").await;
        assert_eq!((s, &v["error"]), (404, &json!("not_found")));
        let (s, _) = send_json(&c, Method::DELETE, sb.url("/__sandbox/faults/x"), "").await;
        assert_eq!(s, 400);
        send_json(&c, Method::DELETE, sb.url("/__sandbox/faults"), "").await;
        assert!(sb.faults().is_empty());
    });
}

#[test]
fn method_and_prefix_matching_through_the_handle() {
    run(async {
        let sb = demo().await;
        let c = client();
        let id = sb
            .add_fault(FaultSpec::new("/__demo/*").method("get").status(429, "{}"))
            .unwrap();
        assert_eq!(
            c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
            429
        );
        assert_eq!(
            c.get(sb.url("/__demo/api/me"))
                .send()
                .await
                .unwrap()
                .status(),
            429
        );
        // Another method is not hit.
        assert_eq!(
            post_form(&c, sb.url("/__demo/oauth/token"), TOKEN_FORM)
                .await
                .status(),
            200
        );
        assert!(sb.remove_fault(id));
        assert!(!sb.remove_fault(id));
        sb.add_fault(
            FaultSpec::new("/__demo/ping")
                .latency(Duration::from_millis(150))
                .status(500, "x"),
        )
        .unwrap();
        let t = Instant::now();
        assert_eq!(
            c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
            500
        );
        assert!(t.elapsed() >= Duration::from_millis(150));
        assert_eq!(
            sb.journal().last().unwrap().fault.as_deref(),
            Some("latency+status")
        );
        sb.clear_faults();
        assert_eq!(
            c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
            200
        );
    });
}

#[test]
fn malformed_body_keeps_status_and_content_type() {
    run(async {
        let sb = demo().await;
        let c = client();
        sb.add_fault(FaultSpec::new("/__demo/oauth/token").malformed().count(1))
            .unwrap();
        let resp = post_form(&c, sb.url("/__demo/oauth/token"), TOKEN_FORM).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = resp.text().await.unwrap();
        assert_eq!(body, r#"{"code":"#);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
        // Over HTTP too; the next request is whole again.
        let (s, _) = post(
            &c,
            sb.url("/__sandbox/faults"),
            r#"{"path":"/__demo/ping","action":{"type":"malformed"},"count":1}"#,
        )
        .await;
        assert_eq!(s, 200);
        let resp = c.get(sb.url("/__demo/ping")).send().await.unwrap();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_ne!(resp.text().await.unwrap(), "pong");
        assert_eq!(
            post_form(&c, sb.url("/__demo/oauth/token"), TOKEN_FORM)
                .await
                .status(),
            200
        );
    });
}

#[test]
fn truncated_body_is_an_error_for_the_client() {
    let (sb, addr) = run(async {
        let sb = demo().await;
        let addr = sb.addr();
        let c = client();
        sb.add_fault(FaultSpec::new("/__demo/oauth/token").truncated().count(1))
            .unwrap();
        let resp = post_form(&c, sb.url("/__demo/oauth/token"), TOKEN_FORM).await;
        assert_eq!(resp.status(), 200);
        let err = resp.text().await.unwrap_err();
        assert!(err.is_body() || err.is_decode(), "{err:?}");
        // Over HTTP, for the raw client below.
        let (s, _) = post(
            &c,
            sb.url("/__sandbox/faults"),
            r#"{"path":"/__demo/oauth/token","action":{"type":"truncated"},"count":1}"#,
        )
        .await;
        assert_eq!(s, 200);
        (sb, addr)
    });
    let req = format!(
        "POST /__demo/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{TOKEN_FORM}",
        TOKEN_FORM.len()
    );
    let bytes = raw(addr, &req);
    let (head, body) = split_response(&bytes);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let announced: usize = header(&head, "content-length").unwrap().parse().unwrap();
    assert!(body.len() < announced, "{} of {announced}", body.len());
    assert!(!body.is_empty());
    assert_eq!(
        sb.journal().last().unwrap().fault.as_deref(),
        Some("truncated")
    );
}

#[test]
fn dropped_connection_gets_no_response() {
    let (sb, addr) = run(async {
        let sb = demo().await;
        let addr = sb.addr();
        let c = client();
        sb.add_fault(FaultSpec::new("/__demo/ping").drop_connection().count(1))
            .unwrap();
        let err = c.get(sb.url("/__demo/ping")).send().await.unwrap_err();
        assert!(!err.is_timeout(), "{err:?}");
        assert!(err.status().is_none());
        assert_eq!(
            c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
            200
        );
        let (s, _) = post(
            &c,
            sb.url("/__sandbox/faults"),
            r#"{"path":"/__demo/ping","action":{"type":"drop"},"count":1}"#,
        )
        .await;
        assert_eq!(s, 200);
        (sb, addr)
    });
    let t = Instant::now();
    let bytes = raw(addr, "GET /__demo/ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "closed, not timed out"
    );
    let last = sb.journal().last().cloned().unwrap();
    assert_eq!((last.fault.as_deref(), last.status), (Some("drop"), None));
    assert_eq!(sb.count("GET /__demo/ping"), 3);
}

#[test]
fn seeded_probability_is_deterministic() {
    run(async {
        let sb = demo().await;
        let c = client();
        let body = r#"{"path":"/__demo/ping","action":{"type":"status","status":500},"probability":0.5,"seed":99}"#;
        let mut patterns = Vec::new();
        for _ in 0..2 {
            let (s, _) = post(&c, sb.url("/__sandbox/faults"), body).await;
            assert_eq!(s, 200);
            let mut p = Vec::new();
            for _ in 0..40 {
                p.push(
                    c.get(sb.url("/__demo/ping"))
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16(),
                );
            }
            patterns.push(p);
            post(&c, sb.url("/__sandbox/reset"), "").await;
        }
        assert_eq!(patterns[0], patterns[1]);
        let hits = patterns[0].iter().filter(|s| **s == 500).count();
        assert!((8..=32).contains(&hits), "{hits} of 40");
        // Same through the handle, and another seed gives another pattern.
        let pattern = |seed| {
            let sb = &sb;
            let c = &c;
            async move {
                sb.reset();
                sb.add_fault(
                    FaultSpec::new("/__demo/ping")
                        .status(500, "")
                        .probability(0.5)
                        .seed(seed),
                )
                .unwrap();
                let mut p = Vec::new();
                for _ in 0..40 {
                    p.push(
                        c.get(sb.url("/__demo/ping"))
                            .send()
                            .await
                            .unwrap()
                            .status()
                            .as_u16(),
                    );
                }
                p
            }
        };
        assert_eq!(pattern(99).await, patterns[0]);
        assert_ne!(pattern(100).await, patterns[0]);
        // probability 0 never fires; the fault still counts what it saw.
        sb.reset();
        sb.add_fault(
            FaultSpec::new("/__demo/ping")
                .drop_connection()
                .probability(0.0),
        )
        .unwrap();
        for _ in 0..5 {
            assert_eq!(
                c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
                200
            );
        }
        let f = &sb.faults()[0];
        assert_eq!((f.matched, f.fired), (5, 0));
    });
}

#[test]
fn bad_fault_values_are_refused_with_the_field_named() {
    run(async {
        let sb = demo().await;
        let c = client();
        for (body, needle) in [
            (
                r#"{"path":"/x","action":{"type":"drop"},"probability":2}"#,
                "probability",
            ),
            (r#"{"path":"x","action":{"type":"drop"}}"#, "path"),
            (r#"{"path":"/x"}"#, "latency_ms"),
            (r#"{"path":"/x","latency_ms":600000}"#, "latency_ms"),
            (r#"{"path":"/x","action":{"type":"explode"}}"#, "explode"),
            (
                r#"{"path":"/x","action":{"type":"status","status":42}}"#,
                "status",
            ),
            (r#"{"path":"/x","action":{"type":"status"}}"#, "status"),
            (
                r#"{"path":"/x","action":{"type":"drop"},"count":-1}"#,
                "count",
            ),
            (
                r#"{"path":"/x","action":{"type":"drop"},"method":"G T"}"#,
                "method",
            ),
            (r#"{"action":{"type":"drop"}}"#, "path"),
            (
                r#"{"path":"/x","action":{"type":"drop"},"colour":"red"}"#,
                "colour",
            ),
        ] {
            let (s, v) = post(&c, sb.url("/__sandbox/faults"), body).await;
            assert_eq!(s, 400, "{body}: {v}");
            assert_eq!(v["error"], "bad_request");
            assert!(
                v["message"].as_str().unwrap().contains(needle),
                "{body}: {v}"
            );
        }
        assert!(sb.faults().is_empty());
        assert!(
            sb.add_fault(FaultSpec::new("/x").probability(-0.1).drop_connection())
                .is_err()
        );
        let spec: FaultSpec =
            serde_json::from_str(r#"{"path":"/y","action":{"type":"truncated"}}"#).unwrap();
        assert_eq!(spec.action, Some(FaultAction::Truncated));
    });
}
