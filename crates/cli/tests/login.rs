//! `kaifang login` without a browser: the sandbox's `kaifang_auto=approve|deny` decides at once,
//! and the test follows the redirect to the CLI's loopback callback itself. Also the state
//! mismatch, the timeout and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod login_support;

use std::time::Duration;

use kaifang::sandbox::platforms::tianyi::{SEED_APP_ID, SEED_APP_SECRET};
use kaifang::sandbox::{BlockingSandbox, Sandbox};
use login_support::{Login, TF56_ID, TF56_SECRET, get, query_param, token_json};

const URL_WITHIN: Duration = Duration::from_secs(30);
const EXIT_WITHIN: Duration = Duration::from_secs(60);

fn sandbox() -> BlockingSandbox {
    Sandbox::builder().all_platforms().start_blocking().unwrap()
}

fn tf56(sb: &BlockingSandbox, extra: &[&str]) -> Login {
    let mut args = vec![
        "tf56",
        "--base-url",
        sb.base_url(),
        "--no-browser",
        "--json",
    ];
    args.extend_from_slice(extra);
    Login::spawn(
        &args,
        &[
            ("KAIFANG_TF56_CLIENT_ID", TF56_ID),
            ("KAIFANG_TF56_CLIENT_SECRET", TF56_SECRET),
        ],
    )
}

/// Lets the sandbox decide and follows its redirect to the CLI; returns the callback's page.
fn decide(url: &str, decision: &str) -> String {
    let answer = get(&format!("{url}&kaifang_auto={decision}"));
    assert_eq!(answer.status, 302, "{}", answer.body);
    let callback = answer.location.expect("a redirect to the callback");
    assert!(
        callback.starts_with("http://127.0.0.1:"),
        "not the loopback callback: {callback}"
    );
    let page = get(&callback);
    assert_eq!(page.status, 200);
    page.body
}

#[test]
fn tf56_approve_prints_a_redacted_token() {
    let sb = sandbox();
    let mut login = tf56(&sb, &[]);
    let url = login.url(URL_WITHIN);
    assert!(
        url.starts_with(&format!("{}/openGateway/oauth/?", sb.base_url())),
        "{url}"
    );
    let redirect = query_param(&url, "redirect_uri").unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"));
    assert_eq!(query_param(&url, "state").unwrap().len(), 16);
    let page = decide(&url, "approve");
    assert!(page.contains("Login complete"), "{page}");
    let done = login.finish(EXIT_WITHIN);
    assert!(done.status.success(), "{}", done.stderr);
    let v = token_json(&done.stdout);
    assert_eq!(v["platform"], "tf56");
    assert_eq!(v["access_token"], "[redacted]");
    assert_eq!(v["refresh_token"], "[redacted]");
    assert!(!done.stdout.contains(TF56_SECRET) && !done.stderr.contains(TF56_SECRET));
    sb.shutdown();
}

#[test]
fn tf56_deny_exits_1_with_a_clear_message() {
    let sb = sandbox();
    let mut login = tf56(&sb, &[]);
    let url = login.url(URL_WITHIN);
    let page = decide(&url, "deny");
    assert!(
        page.contains("Login failed") && page.contains("denied"),
        "{page}"
    );
    let done = login.finish(EXIT_WITHIN);
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("the user denied the authorization"),
        "{}",
        done.stderr
    );
    assert!(done.stdout.is_empty());
    sb.shutdown();
}

#[test]
fn a_wrong_state_exits_1_and_nothing_is_exchanged() {
    let sb = sandbox();
    let mut login = tf56(&sb, &[]);
    let url = login.url(URL_WITHIN);
    let redirect = query_param(&url, "redirect_uri").unwrap();
    // Other paths are answered 404 and the wait goes on.
    assert_eq!(
        get(&redirect.replace("/callback", "/favicon.ico")).status,
        404
    );
    let page = get(&format!(
        "{redirect}?state=forged0000000000&code=0123456789abcdef"
    ));
    assert!(page.body.contains("Login failed"), "{}", page.body);
    let done = login.finish(EXIT_WITHIN);
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("state does not match"),
        "{}",
        done.stderr
    );
    assert_eq!(sb.count("POST /openGateway/oauth/token"), 0);
    sb.shutdown();
}

#[test]
fn no_callback_times_out_with_exit_1() {
    let sb = sandbox();
    let mut login = tf56(&sb, &["--timeout", "1"]);
    let _ = login.url(URL_WITHIN);
    let done = login.finish(Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("no login callback within 1 s"),
        "{}",
        done.stderr
    );
    assert!(done.elapsed < Duration::from_secs(10), "{:?}", done.elapsed);
    sb.shutdown();
}

#[test]
fn tianyi_approve_with_show_secrets() {
    let sb = sandbox();
    let mut login = Login::spawn(
        &[
            "tianyi",
            "--base-url",
            sb.base_url(),
            "--no-browser",
            "--show-secrets",
        ],
        &[
            ("KAIFANG_TIANYI_APP_ID", SEED_APP_ID),
            ("KAIFANG_TIANYI_APP_SECRET", SEED_APP_SECRET),
        ],
    );
    let url = login.url(URL_WITHIN);
    assert!(url.contains("/open/oauth/login/authPage?session="), "{url}");
    let page = decide(&url, "approve");
    assert!(page.contains("Login complete"), "{page}");
    let done = login.finish(EXIT_WITHIN);
    assert!(done.status.success(), "{}", done.stderr);
    let v = token_json(&done.stdout);
    assert_eq!(v["platform"], "tianyi");
    let access = v["access_token"].as_str().unwrap();
    assert_eq!(access.len(), 32, "{v}");
    assert!(v["refresh_token"].as_str().unwrap().len() == 32, "{v}");
    assert!(!done.stderr.contains(SEED_APP_SECRET) && !done.stdout.contains(SEED_APP_SECRET));
    sb.shutdown();
}

#[test]
fn tianyi_deny_exits_1() {
    let sb = sandbox();
    let mut login = Login::spawn(
        &["tianyi", "--base-url", sb.base_url(), "--no-browser"],
        &[
            ("KAIFANG_TIANYI_APP_ID", SEED_APP_ID),
            ("KAIFANG_TIANYI_APP_SECRET", SEED_APP_SECRET),
        ],
    );
    let url = login.url(URL_WITHIN);
    decide(&url, "deny");
    let done = login.finish(EXIT_WITHIN);
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("the user denied the authorization"),
        "{}",
        done.stderr
    );
    sb.shutdown();
}

#[test]
fn bad_input_exits_2() {
    // No secret anywhere.
    let done = Login::spawn(
        &[
            "tf56",
            "--client-id",
            "1",
            "--no-browser",
            "--base-url",
            "http://127.0.0.1:9",
        ],
        &[],
    )
    .finish(EXIT_WITHIN);
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("KAIFANG_TF56_CLIENT_SECRET"),
        "{}",
        done.stderr
    );
    // A base URL that is not http(s).
    let done = Login::spawn(
        &["tf56", "--no-browser", "--base-url", "ftp://x"],
        &[
            ("KAIFANG_TF56_CLIENT_ID", TF56_ID),
            ("KAIFANG_TF56_CLIENT_SECRET", TF56_SECRET),
        ],
    )
    .finish(EXIT_WITHIN);
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(!done.stderr.contains(TF56_SECRET));
    // An unknown platform and a zero timeout: clap's usage errors.
    let done = Login::spawn(&["zhiyun"], &[]).finish(EXIT_WITHIN);
    assert_eq!(done.status.code(), Some(2));
    let done = Login::spawn(&["tf56", "--timeout", "0"], &[]).finish(EXIT_WITHIN);
    assert_eq!(done.status.code(), Some(2));
}
