//! Login pages of authorization-code flows: the HTML, Approve and Deny through the decision
//! endpoint, the auto flag, and `state` returned unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

const STATE: &str = "s t&a=t/e+é%";

fn authorize_url(sb: &kaifang_sandbox::SandboxHandle, extra: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "demo-client")
        .append_pair("redirect_uri", "http://127.0.0.1:9/cb?keep=1")
        .append_pair("state", STATE)
        .finish();
    sb.url(&format!("/__demo/oauth/authorize?{q}{extra}"))
}

fn params(location: &str) -> Vec<(String, String)> {
    let u = url::Url::parse(location).unwrap();
    assert_eq!(u.origin().ascii_serialization(), "http://127.0.0.1:9");
    assert_eq!(u.path(), "/cb");
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get_param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn login_id(html: &str) -> String {
    let at = html.find(r#"name="login_id" value=""#).unwrap() + r#"name="login_id" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

async fn exchange(
    c: &reqwest::Client,
    sb: &kaifang_sandbox::SandboxHandle,
    code: &str,
) -> (u16, serde_json::Value) {
    let form = format!(
        "grant_type=authorization_code&code={code}&client_id=demo-client&client_secret=demo-secret"
    );
    json_of(post_form(c, sb.url("/__demo/oauth/token"), &form).await).await
}

#[test]
fn page_then_approve_and_deny() {
    run(async {
        let sb = demo().await;
        let c = client();
        let resp = c.get(authorize_url(&sb, "")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = resp.text().await.unwrap();
        assert!(html.contains("Demo App"));
        assert!(html.contains(r#"<button id="approve""#), "{html}");
        assert!(html.contains(r#"<button id="deny""#));
        assert!(html.contains(r#"action="/__sandbox/login/decision""#));
        assert!(html.contains(r#"method="post""#));

        // Approve, as the browser would post the form.
        let id = login_id(&html);
        let resp = post_form(
            &c,
            sb.url("/__sandbox/login/decision"),
            &format!("login_id={id}&user=alice&decision=approve"),
        )
        .await;
        assert_eq!(resp.status(), 303);
        let p = params(resp.headers()["location"].to_str().unwrap());
        assert_eq!(get_param(&p, "keep"), Some("1"));
        assert_eq!(get_param(&p, "state"), Some(STATE));
        let code = get_param(&p, "code").unwrap().to_owned();
        let (s, tok) = exchange(&c, &sb, &code).await;
        assert_eq!(s, 200, "{tok}");
        assert_eq!(
            me(&c, &sb, tok["access_token"].as_str().unwrap()).await.1["subject"],
            "alice"
        );
        // The page cannot be decided twice.
        let resp = post_form(
            &c,
            sb.url("/__sandbox/login/decision"),
            &format!("login_id={id}&decision=approve"),
        )
        .await;
        assert_eq!(resp.status(), 404);

        // Deny.
        let html = c
            .get(authorize_url(&sb, ""))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let id = login_id(&html);
        let resp = post_form(
            &c,
            sb.url("/__sandbox/login/decision"),
            &format!("login_id={id}&decision=deny"),
        )
        .await;
        assert_eq!(resp.status(), 303);
        let p = params(resp.headers()["location"].to_str().unwrap());
        assert_eq!(get_param(&p, "error"), Some("access_denied"));
        assert_eq!(get_param(&p, "state"), Some(STATE));
        assert_eq!(get_param(&p, "code"), None);

        // Bad decisions.
        for (form, status) in [
            ("decision=approve".to_owned(), 400),
            (format!("login_id={id}&decision=maybe"), 400),
            ("login_id=nope&decision=approve".to_owned(), 404),
        ] {
            let resp = post_form(&c, sb.url("/__sandbox/login/decision"), &form).await;
            assert_eq!(resp.status(), status, "{form}");
            let (_, v) = json_of(resp).await;
            assert!(v["message"].is_string());
        }
    });
}

#[test]
fn auto_flag_decides_without_a_click() {
    run(async {
        let sb = demo().await;
        let c = client();
        let resp = c
            .get(authorize_url(&sb, "&kaifang_auto=approve&kaifang_user=bob"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        let p = params(resp.headers()["location"].to_str().unwrap());
        assert_eq!(get_param(&p, "state"), Some(STATE));
        let (s, tok) = exchange(&c, &sb, get_param(&p, "code").unwrap()).await;
        assert_eq!(s, 200);
        assert_eq!(
            me(&c, &sb, tok["access_token"].as_str().unwrap()).await.1["subject"],
            "bob"
        );

        let resp = c
            .get(authorize_url(&sb, "&auto_approve=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        assert!(
            get_param(
                &params(resp.headers()["location"].to_str().unwrap()),
                "code"
            )
            .is_some()
        );

        let resp = c
            .get(authorize_url(&sb, "&kaifang_auto=deny"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        let p = params(resp.headers()["location"].to_str().unwrap());
        assert_eq!(
            (get_param(&p, "error"), get_param(&p, "state")),
            (Some("access_denied"), Some(STATE))
        );

        // The module's own checks still apply before any page.
        let (s, v) = get(
            &c,
            sb.url("/__demo/oauth/authorize?response_type=code&client_id=demo-client&redirect_uri=http://evil.example/cb&kaifang_auto=approve"),
        )
        .await;
        assert_eq!((s, &v["error"]), (400, &json!("invalid_request")));
        let (s, _) = get(
            &c,
            sb.url("/__demo/oauth/authorize?response_type=code&client_id=ghost"),
        )
        .await;
        assert_eq!(s, 400);
    });
}
