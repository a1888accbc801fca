//! Every control, through the HTTP API and through the Rust handle, observed through the demo
//! module: clock, token lifetimes, mint, revoke, journal (redaction), counters, reset, tenants,
//! and the sandbox's answers to bad requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use kaifang_sandbox::demo::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use kaifang_sandbox::{ClockMode, ControlError, Sandbox};
use reqwest::Method;
use serde_json::json;

const T0: i64 = 1_700_000_000_000;

#[test]
fn clock_controls_over_http_drive_token_expiry() {
    run(async {
        let sb = demo().await;
        let c = client();
        let (s, v) = post(
            &c,
            sb.url("/__sandbox/clock/freeze"),
            &format!(r#"{{"at_ms":{T0}}}"#),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v, json!({"now_ms": T0, "mode": "frozen", "at_ms": T0}));
        let (_, tok) = cc_token(&c, &sb).await;
        assert_eq!(tok["expires_in"], 7200);
        let token = tok["access_token"].as_str().unwrap().to_owned();
        assert_eq!(sb.tokens().lookup("demo", &token).unwrap().issued_at_ms, T0);

        // One millisecond short of the lifetime the token still works.
        let (_, v) = post(&c, sb.url("/__sandbox/clock/advance"), r#"{"ms":7199999}"#).await;
        assert_eq!(v["now_ms"], T0 + 7_199_999);
        assert_eq!(me(&c, &sb, &token).await.0, 200);
        post(&c, sb.url("/__sandbox/clock/advance"), r#"{"ms":1}"#).await;
        let (s, v) = me(&c, &sb, &token).await;
        assert_eq!(
            (s, v["error_description"].as_str()),
            (401, Some("token expired"))
        );

        // An offset clock runs from the system time.
        let (_, v) = post(
            &c,
            sb.url("/__sandbox/clock/offset"),
            r#"{"offset_ms":-86400000}"#,
        )
        .await;
        assert_eq!(v["mode"], "offset");
        assert_eq!(v["offset_ms"], -86_400_000);
        let (_, tok) = cc_token(&c, &sb).await;
        let g = sb
            .tokens()
            .lookup("demo", tok["access_token"].as_str().unwrap())
            .unwrap();
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((sys - 86_400_000 - g.issued_at_ms).abs() < 5_000);

        let (s, v) = post(&c, sb.url("/__sandbox/clock/unfreeze"), "").await;
        assert_eq!((s, &v["mode"]), (200, &json!("system")));
        let (s, v) = get(&c, sb.url("/__sandbox/clock")).await;
        assert_eq!((s, &v["mode"]), (200, &json!("system")));
        // Freeze without a time freezes "now".
        let (_, v) = post(&c, sb.url("/__sandbox/clock/freeze"), "{}").await;
        assert_eq!(v["mode"], "frozen");
        assert_eq!(v["at_ms"], v["now_ms"]);

        // Bad values: clear 400s naming the field.
        for (path, body, needle) in [
            (
                "/__sandbox/clock/advance",
                r#"{"ms":-5}"#,
                "ms: must be >= 0",
            ),
            ("/__sandbox/clock/advance", r#"{"ms":"soon"}"#, "ms"),
            ("/__sandbox/clock/freeze", r#"{"at_ms":"x"}"#, "at_ms"),
            ("/__sandbox/clock/offset", r#"{}"#, "offset_ms"),
            (
                "/__sandbox/clock/offset",
                r#"{"offset_ms":1,"extra":2}"#,
                "extra",
            ),
            ("/__sandbox/clock/freeze", r#"{"at_ms":"#, "invalid JSON"),
        ] {
            let (s, v) = post(&c, sb.url(path), body).await;
            assert_eq!(s, 400, "{path} {body}");
            assert_eq!(v["error"], "bad_request");
            let m = v["message"].as_str().unwrap();
            assert!(m.contains(needle), "{path} {body}: {m}");
        }
        sb.shutdown().await;
    });
}

#[test]
fn clock_controls_through_the_handle() {
    run(async {
        let sb = demo().await;
        let c = client();
        sb.freeze_clock_at(T0);
        assert_eq!(sb.clock_state().now_ms, T0);
        let (_, tok) = cc_token(&c, &sb).await;
        let token = tok["access_token"].as_str().unwrap().to_owned();
        sb.advance_clock(Duration::from_secs(7199));
        assert_eq!(me(&c, &sb, &token).await.0, 200);
        sb.advance_clock(Duration::from_secs(1));
        assert_eq!(me(&c, &sb, &token).await.0, 401);
        sb.offset_clock(-7_200_000 * 10);
        assert_eq!(
            sb.clock().mode(),
            ClockMode::Offset {
                offset_ms: -72_000_000
            }
        );
        sb.unfreeze_clock();
        assert_eq!(sb.clock_state().mode, ClockMode::System);
        // The HTTP view agrees with the handle.
        sb.freeze_clock_at(42);
        assert_eq!(get(&c, sb.url("/__sandbox/clock")).await.1["now_ms"], 42);
    });
}

#[test]
fn builder_can_start_with_a_frozen_clock() {
    run(async {
        let sb = Sandbox::builder()
            .module(kaifang_sandbox::demo::DemoModule)
            .clock(ClockMode::Frozen { at_ms: T0 })
            .start()
            .await
            .unwrap();
        assert_eq!(sb.clock_state().now_ms, T0);
    });
}

#[test]
fn token_lifetime_overrides_over_http_and_handle() {
    run(async {
        let sb = demo().await;
        let c = client();
        sb.freeze_clock_at(T0);
        let (s, v) = send_json(
            &c,
            Method::PUT,
            sb.url("/__sandbox/lifetimes"),
            r#"{"platform":"demo","kind":"access_token","seconds":5}"#,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            v,
            json!([{"platform":"demo","kind":"access_token","seconds":5}])
        );
        assert_eq!(get(&c, sb.url("/__sandbox/lifetimes")).await.1, v);
        let (_, tok) = cc_token(&c, &sb).await;
        assert_eq!(tok["expires_in"], 5);
        let token = tok["access_token"].as_str().unwrap().to_owned();
        sb.advance_clock(Duration::from_secs(4));
        assert_eq!(me(&c, &sb, &token).await.0, 200);
        sb.advance_clock(Duration::from_secs(1));
        assert_eq!(me(&c, &sb, &token).await.0, 401);

        // null clears.
        let (_, v) = send_json(
            &c,
            Method::PUT,
            sb.url("/__sandbox/lifetimes"),
            r#"{"platform":"demo","kind":"access_token","seconds":null}"#,
        )
        .await;
        assert_eq!(v, json!([]));
        assert_eq!(cc_token(&c, &sb).await.1["expires_in"], 7200);

        // Through the handle.
        sb.set_token_lifetime("demo", "access_token", Some(Duration::from_secs(60)))
            .unwrap();
        assert_eq!(sb.token_lifetimes()[0].seconds, 60);
        assert_eq!(cc_token(&c, &sb).await.1["expires_in"], 60);
        sb.set_token_lifetime("demo", "access_token", None).unwrap();
        assert!(sb.token_lifetimes().is_empty());
        assert!(matches!(
            sb.set_token_lifetime("nope", "access_token", Some(Duration::ZERO)),
            Err(ControlError::UnknownPlatform { .. })
        ));

        // Bad values.
        for (body, status, needle) in [
            (
                r#"{"platform":"demo","kind":"access_token","seconds":-1}"#,
                400,
                "seconds",
            ),
            (
                r#"{"platform":"demo","kind":"access_token","seconds":1e3}"#,
                400,
                "seconds",
            ),
            (
                r#"{"platform":"nope","kind":"access_token","seconds":1}"#,
                404,
                "unknown platform `nope`",
            ),
            (r#"{"platform":"demo","kind":" ","seconds":1}"#, 400, "kind"),
            (r#"{"platform":"demo"}"#, 400, "kind"),
        ] {
            let (s, v) = send_json(&c, Method::PUT, sb.url("/__sandbox/lifetimes"), body).await;
            assert_eq!(s, status, "{body}: {v}");
            assert!(
                v["message"].as_str().unwrap().contains(needle),
                "{body}: {v}"
            );
        }
    });
}

#[test]
fn mint_over_http_and_handle() {
    run(async {
        let sb = demo().await;
        let c = client();
        let (s, v) = post(
            &c,
            sb.url("/__sandbox/mint"),
            r#"{"platform":"demo","kind":"authorization_code","request":{"client_id":"demo-client","subject":"alice"}}"#,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let code = v["code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 24);
        let form = format!(
            "grant_type=authorization_code&code={code}&client_id={DEMO_CLIENT_ID}&client_secret={DEMO_CLIENT_SECRET}"
        );
        let (s, tok) = json_of(post_form(&c, sb.url("/__demo/oauth/token"), &form).await).await;
        assert_eq!(s, 200, "{tok}");
        let (s, who) = me(&c, &sb, tok["access_token"].as_str().unwrap()).await;
        assert_eq!((s, &who["subject"]), (200, &json!("alice")));
        // Codes are single use.
        let (s, v) = json_of(post_form(&c, sb.url("/__demo/oauth/token"), &form).await).await;
        assert_eq!((s, &v["error"]), (400, &json!("invalid_grant")));

        // Through the handle.
        let v = sb
            .mint("demo", "access_token", json!({"client_id": "demo-client"}))
            .unwrap();
        assert_eq!(
            me(&c, &sb, v["access_token"].as_str().unwrap()).await.0,
            200
        );
        assert!(matches!(
            sb.mint("demo", "ticket", json!({})),
            Err(ControlError::Unsupported { .. })
        ));

        // Bad requests.
        for (body, status, needle) in [
            (
                r#"{"platform":"demo","kind":"ticket"}"#,
                400,
                "cannot mint `ticket`",
            ),
            (
                r#"{"platform":"nope","kind":"authorization_code"}"#,
                404,
                "unknown platform",
            ),
            (
                r#"{"platform":"demo","kind":"access_token","request":{"client_id":"ghost"}}"#,
                404,
                "unknown client_id `ghost`",
            ),
            (
                r#"{"platform":"demo","kind":"access_token","request":{}}"#,
                400,
                "client_id",
            ),
            (r#"{"kind":"access_token"}"#, 400, "platform"),
            ("[1,2", 400, "invalid JSON"),
        ] {
            let (s, v) = post(&c, sb.url("/__sandbox/mint"), body).await;
            assert_eq!(s, status, "{body}: {v}");
            assert!(
                v["message"].as_str().unwrap().contains(needle),
                "{body}: {v}"
            );
        }
    });
}

#[test]
fn revoke_over_http_and_handle() {
    run(async {
        let sb = demo().await;
        let c = client();
        let t1 = cc_token(&c, &sb).await.1["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let t2 = cc_token(&c, &sb).await.1["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(me(&c, &sb, &t1).await.0, 200);
        let (s, v) = post(
            &c,
            sb.url("/__sandbox/revoke"),
            &format!(r#"{{"token":"{t1}"}}"#),
        )
        .await;
        assert_eq!((s, v), (200, json!({"revoked": true, "platform": "demo"})));
        let (s, v) = me(&c, &sb, &t1).await;
        assert_eq!(
            (s, v["error_description"].as_str()),
            (401, Some("token revoked"))
        );
        assert_eq!(me(&c, &sb, &t2).await.0, 200);

        assert_eq!(sb.revoke(Some("demo"), &t2).unwrap(), "demo");
        assert_eq!(me(&c, &sb, &t2).await.0, 401);
        assert!(matches!(
            sb.revoke(None, "nope"),
            Err(ControlError::NotFound(_))
        ));

        let (s, v) = post(&c, sb.url("/__sandbox/revoke"), r#"{"token":"nope"}"#).await;
        assert_eq!((s, &v["error"]), (404, &json!("not_found")));
        let (s, _) = post(
            &c,
            sb.url("/__sandbox/revoke"),
            r#"{"token":"x","platform":"zz"}"#,
        )
        .await;
        assert_eq!(s, 404);
        let (s, v) = post(&c, sb.url("/__sandbox/revoke"), r#"{"tok":"x"}"#).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("tok"), "{v}");
    });
}

#[test]
fn journal_is_redacted_and_bounded() {
    const MARK: &str = "MARKERsecret0123";
    run(async {
        let sb = Sandbox::builder()
            .module(kaifang_sandbox::demo::DemoModule)
            .journal_capacity(4)
            .start()
            .await
            .unwrap();
        let c = client();
        // Secrets in the query, a form body and a JSON body.
        c.get(sb.url(&format!("/__demo/api/me?access_token={MARK}&x=1")))
            .send()
            .await
            .unwrap();
        post_form(
            &c,
            sb.url("/__demo/oauth/token"),
            &format!("grant_type=client_credentials&client_id=demo-client&client_secret={MARK}"),
        )
        .await;
        c.post(sb.url("/__demo/ping"))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"password":"{MARK}","nested":{{"sign":"{MARK}"}},"ok":1}}"#
            ))
            .send()
            .await
            .unwrap();

        let text = c
            .get(sb.url("/__sandbox/journal"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains(MARK), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let e = v["entries"].as_array().unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0]["method"], "GET");
        assert_eq!(e[0]["path"], "/__demo/api/me");
        assert_eq!(e[0]["query"], "access_token=[redacted len=16]&x=1");
        assert_eq!(e[0]["status"], 401);
        assert_eq!(e[1]["status"], 401); // wrong secret
        assert!(
            e[1]["body"]
                .as_str()
                .unwrap()
                .contains("client_id=demo-client")
        );
        assert_eq!(e[2]["status"], 405); // ping is GET only
        assert!(e[2]["body"].as_str().unwrap().contains(r#""ok":1"#));
        assert!(e[0]["latency_ms"].as_f64().unwrap() >= 0.0);
        assert!(e[0]["time_ms"].as_i64().unwrap() > 0);
        assert!(!format!("{:?}", sb.journal()).contains(MARK));

        // A ring of 4; filters; clear.
        for _ in 0..3 {
            c.get(sb.url("/__demo/ping")).send().await.unwrap();
        }
        let all = sb.journal();
        assert_eq!(all.len(), 4);
        assert_eq!((all[0].method.as_str(), all[0].seq), ("POST", 3));
        assert_eq!(all[3].seq, 6);
        let (_, v) = get(&c, sb.url("/__sandbox/journal?limit=2&path=/__demo/ping")).await;
        assert_eq!(v["entries"].as_array().unwrap().len(), 2);
        let (s, v) = get(&c, sb.url("/__sandbox/journal?limit=x")).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("limit"));
        let (s, _) = send_json(&c, Method::DELETE, sb.url("/__sandbox/journal"), "").await;
        assert_eq!(s, 200);
        assert!(sb.journal().is_empty());
        c.get(sb.url("/__demo/ping")).send().await.unwrap();
        sb.clear_journal();
        assert!(sb.journal().is_empty());
    });
}

#[test]
fn counters_are_exact() {
    run(async {
        let sb = demo().await;
        let c = client();
        for _ in 0..7 {
            assert_eq!(
                c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
                200
            );
        }
        for _ in 0..3 {
            cc_token(&c, &sb).await;
        }
        c.get(sb.url("/__demo/nowhere")).send().await.unwrap();
        // Control calls are not counted.
        get(&c, sb.url("/__sandbox/health")).await;
        let (_, v) = get(&c, sb.url("/__sandbox/counters")).await;
        assert_eq!(
            v,
            json!({"GET /__demo/ping": 7, "POST /__demo/oauth/token": 3, "GET /__demo/nowhere": 1})
        );
        assert_eq!(sb.count("POST /__demo/oauth/token"), 3);
        assert_eq!(sb.count("GET /never"), 0);
        assert_eq!(sb.counters().len(), 3);
        let (s, _) = send_json(&c, Method::DELETE, sb.url("/__sandbox/counters"), "").await;
        assert_eq!(s, 200);
        assert_eq!(get(&c, sb.url("/__sandbox/counters")).await.1, json!({}));
        c.get(sb.url("/__demo/ping")).send().await.unwrap();
        sb.clear_counters();
        assert!(sb.counters().is_empty());
    });
}

#[test]
fn reset_over_http_and_handle() {
    run(async {
        let sb = demo().await;
        let c = client();
        let first = cc_token(&c, &sb).await.1["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let prepare = || {
            sb.freeze_clock_at(T0);
            sb.add_fault(kaifang_sandbox::FaultSpec::new("/__demo/ping").status(503, "{}"))
                .unwrap();
            sb.set_token_lifetime("demo", "access_token", Some(Duration::from_secs(9)))
                .unwrap();
        };
        prepare();
        assert_eq!(
            c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
            503
        );
        let (s, v) = post(&c, sb.url("/__sandbox/reset"), "").await;
        assert_eq!((s, v), (200, json!({"reset": true})));
        assert!(sb.faults().is_empty() && sb.journal().is_empty() && sb.counters().is_empty());
        assert!(sb.token_lifetimes().is_empty() && sb.tokens().is_empty());
        assert_eq!(sb.clock_state().mode, ClockMode::System);
        assert_eq!(
            me(&c, &sb, &first).await.1["error_description"],
            "unknown token"
        );
        assert_eq!(
            c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
            200
        );
        // A seeded sandbox issues the same values again after a reset.
        sb.reset();
        let again = cc_token(&c, &sb).await.1["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(first, again);

        prepare();
        sb.reset();
        assert!(sb.faults().is_empty() && sb.token_lifetimes().is_empty());
        assert_eq!(sb.clock_state().mode, ClockMode::System);
    });
}

#[test]
fn tenants_and_bad_requests_to_the_sandbox() {
    run(async {
        let sb = demo().await;
        let c = client();
        let (s, v) = get(&c, sb.url("/__sandbox/tenants")).await;
        assert_eq!(s, 200);
        assert_eq!(v["demo"]["clients"][0]["client_id"], "demo-client");
        assert_eq!(v, sb.tenants());
        let (s, v) = get(&c, sb.url("/__sandbox/health")).await;
        assert_eq!((s, &v["modules"][0]["name"]), (200, &json!("demo")));

        // Unknown routes, unknown controls: JSON 404.
        for path in [
            "/nowhere",
            "/__sandbox/nothing",
            "/open/oauth/getAccessToken",
        ] {
            let (s, v) = get(&c, sb.url(path)).await;
            assert_eq!((s, &v["error"]), (404, &json!("not_found")), "{path}");
            assert!(v["message"].as_str().unwrap().contains(path));
        }
        // Unknown client, wrong secret, missing fields: the module's own errors.
        let (s, v) = json_of(
            post_form(
                &c,
                sb.url("/__demo/oauth/token"),
                "grant_type=client_credentials&client_id=ghost&client_secret=x",
            )
            .await,
        )
        .await;
        assert_eq!((s, &v["error"]), (401, &json!("invalid_client")));
        assert!(v["error_description"].as_str().unwrap().contains("ghost"));
        let (s, v) = json_of(post_form(&c, sb.url("/__demo/oauth/token"), "%%%&&=").await).await;
        assert_eq!((s, &v["error"]), (400, &json!("invalid_request")));
        let (s, _) = me(&c, &sb, "not-a-token").await;
        assert_eq!(s, 401);
        // Bad JSON, wrong types and unknown fields to the controls.
        for (path, body, needle) in [
            ("/__sandbox/faults", "not json", "invalid JSON"),
            ("/__sandbox/faults", r#"{"path":5}"#, "path"),
            (
                "/__sandbox/mint",
                r#"{"platform":"demo","kind":"access_token","bogus":1}"#,
                "bogus",
            ),
        ] {
            let (s, v) = post(&c, sb.url(path), body).await;
            assert_eq!(s, 400, "{path} {body}");
            assert!(v["message"].as_str().unwrap().contains(needle), "{v}");
        }
        // Oversized bodies are refused with 413, not buffered.
        let small = Sandbox::builder()
            .module(kaifang_sandbox::demo::DemoModule)
            .max_body_bytes(16)
            .start()
            .await
            .unwrap();
        let resp = c
            .post(small.url("/__demo/oauth/token"))
            .body("x".repeat(100))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
    });
}

#[test]
fn token_count_and_purge_over_http_and_handle() {
    run(async {
        let sb = kaifang_sandbox::Sandbox::builder()
            .module(kaifang_sandbox::demo::DemoModule)
            .token_retention(Duration::from_secs(60))
            .start()
            .await
            .unwrap();
        let c = client();
        sb.freeze_clock_at(T0);
        let token = cc_token(&c, &sb).await.1["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        cc_token(&c, &sb).await;
        assert_eq!(
            get(&c, sb.url("/__sandbox/tokens")).await.1,
            json!({"count": 2})
        );
        // Expired but within the retention: still known as expired, not purged.
        sb.advance_clock(Duration::from_secs(7200));
        let (_, v) = post(&c, sb.url("/__sandbox/tokens/purge"), "").await;
        assert_eq!(v, json!({"purged": 0, "count": 2}));
        assert_eq!(
            me(&c, &sb, &token).await.1["error_description"],
            "token expired"
        );
        // Past the retention: forgotten.
        sb.advance_clock(Duration::from_secs(61));
        let (_, v) = post(&c, sb.url("/__sandbox/tokens/purge"), "").await;
        assert_eq!(v, json!({"purged": 2, "count": 0}));
        assert_eq!(
            me(&c, &sb, &token).await.1["error_description"],
            "unknown token"
        );
        cc_token(&c, &sb).await;
        sb.advance_clock(Duration::from_secs(7261));
        assert_eq!(sb.tokens().purge_expired(), 1);
        assert!(sb.tokens().is_empty());
        // Wrong methods get a JSON 405 too.
        let (s, v) = json_of(c.delete(sb.url("/__demo/ping")).send().await.unwrap()).await;
        assert_eq!((s, &v["error"]), (405, &json!("method_not_allowed")));
    });
}

#[test]
fn seeded_sandboxes_issue_the_same_tokens() {
    run(async {
        let c = client();
        let a = demo().await;
        let b = demo().await;
        let ta = cc_token(&c, &a).await.1["access_token"].clone();
        let tb = cc_token(&c, &b).await.1["access_token"].clone();
        assert_eq!(ta, tb);
        assert_eq!(ta.as_str().unwrap().len(), 32);
    });
}
