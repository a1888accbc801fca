//! Shared helpers: one tokio runtime per test binary, a reqwest client that does not follow
//! redirects, JSON helpers, and a raw TCP client for the connection-level faults.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use kaifang_sandbox::demo::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DemoModule};
use kaifang_sandbox::{Sandbox, SandboxHandle};
use serde_json::Value;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

/// Runs a future on the binary's one runtime.
pub fn run<F: std::future::Future>(f: F) -> F::Output {
    RT.block_on(f)
}

/// A sandbox with the demo module and a fixed seed.
pub async fn demo() -> SandboxHandle {
    Sandbox::builder()
        .module(DemoModule)
        .seed(1)
        .start()
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, v)
}

pub async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    json_of(c.get(url).send().await.unwrap()).await
}

pub async fn send_json(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: &str,
) -> (u16, Value) {
    let resp = c
        .request(method, url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    json_of(resp).await
}

pub async fn post(c: &reqwest::Client, url: String, body: &str) -> (u16, Value) {
    send_json(c, reqwest::Method::POST, url, body).await
}

pub async fn post_form(c: &reqwest::Client, url: String, form: &str) -> reqwest::Response {
    c.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap()
}

/// A client-credentials token from the demo module.
pub async fn cc_token(c: &reqwest::Client, sb: &SandboxHandle) -> (u16, Value) {
    let form = format!(
        "grant_type=client_credentials&client_id={DEMO_CLIENT_ID}&client_secret={DEMO_CLIENT_SECRET}"
    );
    json_of(post_form(c, sb.url("/__demo/oauth/token"), &form).await).await
}

/// Calls the protected route with a bearer token.
pub async fn me(c: &reqwest::Client, sb: &SandboxHandle, token: &str) -> (u16, Value) {
    let resp = c
        .get(sb.url("/__demo/api/me"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    json_of(resp).await
}

/// Sends a raw request and reads until the server closes (or 5 s pass).
pub fn raw(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// Splits a raw HTTP/1.1 response into (head, body bytes).
pub fn split_response(raw: &[u8]) -> (String, Vec<u8>) {
    let pos = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    (
        String::from_utf8_lossy(&raw[..pos]).into_owned(),
        raw[pos + 4..].to_vec(),
    )
}

pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
