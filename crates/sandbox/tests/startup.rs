//! Start-up: configuration errors (with line, column and field), unknown platform sections,
//! loopback refusal, route conflicts, the blocking starter, graceful shutdown, and the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::routing::get as route_get;
use common::*;
use kaifang_sandbox::demo::DemoModule;
use kaifang_sandbox::{Config, Module, ModuleContext, Sandbox, SandboxError};

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kaifang-sandbox-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

async fn start_err(b: kaifang_sandbox::Builder) -> SandboxError {
    b.start().await.unwrap_err()
}

#[test]
fn config_file_tenants_are_used() {
    run(async {
        let p = write_config(
            "good.toml",
            r#"
[sandbox]
seed = 3
journal_capacity = 2

[platforms.demo]
token_ttl_secs = 60

[[platforms.demo.clients]]
client_id = "acme"
client_secret = "acme-secret"
app_name = "Acme"
redirect_prefix = "http://127.0.0.1"
"#,
        );
        let sb = Sandbox::builder()
            .module(DemoModule)
            .config_file(&p)
            .start()
            .await
            .unwrap();
        let c = client();
        let (_, v) = get(&c, sb.url("/__sandbox/tenants")).await;
        assert_eq!(v["demo"]["clients"][0]["client_id"], "acme");
        assert_eq!(v["demo"]["clients"].as_array().unwrap().len(), 1);
        let (s, tok) = json_of(
            post_form(
                &c,
                sb.url("/__demo/oauth/token"),
                "grant_type=client_credentials&client_id=acme&client_secret=acme-secret",
            )
            .await,
        )
        .await;
        assert_eq!((s, &tok["expires_in"]), (200, &serde_json::json!(60)));
        // The built-in client is gone: the section replaced the defaults.
        assert_eq!(cc_token(&c, &sb).await.0, 401);
        let (_, h) = get(&c, sb.url("/__sandbox/health")).await;
        assert_eq!(
            (h["seed"].as_u64(), h["journal_capacity"].as_u64()),
            (Some(3), Some(2))
        );
    });
}

#[test]
fn malformed_config_names_file_line_and_column() {
    run(async {
        let p = write_config(
            "broken.toml",
            "[sandbox]\nseed = 1\n\n[platforms.demo\ntoken_ttl_secs = 5\n",
        );
        let e = start_err(Sandbox::builder().module(DemoModule).config_file(&p)).await;
        let m = e.to_string();
        assert!(m.contains("broken.toml: line 4"), "{m}");
        assert!(matches!(e, SandboxError::Config { line: Some(4), .. }));

        let p = write_config("typo.toml", "[sandbox]\nseeed = 1\n");
        let m = start_err(Sandbox::builder().config_file(&p))
            .await
            .to_string();
        assert!(m.contains("typo.toml: line 2, column 1"), "{m}");
        assert!(m.contains("seeed"), "{m}");

        let m = start_err(Sandbox::builder().config_file("/nonexistent/kaifang.toml"))
            .await
            .to_string();
        assert!(m.contains("/nonexistent/kaifang.toml"), "{m}");
    });
}

#[test]
fn unknown_sections_and_bad_values_are_named() {
    run(async {
        let cfg = Config::from_toml(
            "[platforms.tianyi]\napp_id = 1\n[platforms.demo]\n",
            "s.toml",
        )
        .unwrap();
        let m = start_err(Sandbox::builder().module(DemoModule).config(cfg))
            .await
            .to_string();
        assert!(m.contains("unknown platform section(s) `tianyi`"), "{m}");
        assert!(m.contains("`demo`"), "{m}");

        let cfg =
            Config::from_toml("[platforms.demo]\ntoken_ttl_secs = \"long\"\n", "v.toml").unwrap();
        let e = start_err(Sandbox::builder().module(DemoModule).config(cfg)).await;
        let m = e.to_string();
        assert!(
            m.starts_with("v.toml: line 2, column 18: platforms.demo.token_ttl_secs:"),
            "{m}"
        );

        let cfg = Config::from_toml(
            "[platforms.demo]\n[[platforms.demo.clients]]\nclient_id = \"a\"\nclient_secret = \"b\"\napp_name = \"c\"\nredirect_prefx = \"d\"\n",
            "w.toml",
        )
        .unwrap();
        let m = start_err(Sandbox::builder().module(DemoModule).config(cfg))
            .await
            .to_string();
        assert!(m.contains("w.toml: line 6"), "{m}");
        assert!(m.contains("redirect_prefx"), "{m}");
        assert!(m.contains("platforms.demo.clients[0]"), "{m}");
    });
}

#[test]
fn refuses_non_loopback_without_allow_remote() {
    run(async {
        for addr in ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"] {
            let a: SocketAddr = addr.parse().unwrap();
            let e = start_err(Sandbox::builder().addr(a)).await;
            assert!(matches!(e, SandboxError::NotLoopback(_)), "{addr}: {e}");
            assert!(e.to_string().contains("--allow-remote"));
        }
        // Loopback v6 is fine; allow_remote lifts the refusal (0.0.0.0 binds here).
        let v6: SocketAddr = "[::1]:0".parse().unwrap();
        if let Ok(sb) = Sandbox::builder().addr(v6).start().await {
            assert!(sb.base_url().starts_with("http://[::1]:"));
        }
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let sb = Sandbox::builder()
            .addr(any)
            .allow_remote(true)
            .start()
            .await
            .unwrap();
        assert!(sb.addr().ip().is_unspecified());
        sb.shutdown().await;
    });
}

struct Clash;
impl Module for Clash {
    type Config = ();
    fn name(&self) -> &'static str {
        "clash"
    }
    fn routes(&self, _ctx: ModuleContext<()>) -> Router {
        Router::new().route("/__demo/ping", route_get(|| async { "mine" }))
    }
}

#[test]
fn route_conflicts_and_duplicate_modules_are_errors() {
    run(async {
        let e = start_err(Sandbox::builder().module(DemoModule).module(Clash)).await;
        assert!(matches!(e, SandboxError::RouteConflict { .. }), "{e}");
        let e = start_err(Sandbox::builder().module(DemoModule).module(DemoModule)).await;
        assert!(matches!(e, SandboxError::DuplicateModule(_)), "{e}");
    });
}

#[test]
fn blocking_start_for_code_without_a_runtime() {
    let sb = Sandbox::builder()
        .module(DemoModule)
        .start_blocking()
        .unwrap();
    let addr = sb.addr();
    let bytes = raw(
        addr,
        "GET /__demo/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split_response(&bytes);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"pong");
    sb.freeze_clock_at(5);
    assert_eq!(sb.clock_state().now_ms, 5);
    assert_eq!(sb.count("GET /__demo/ping"), 1);
    sb.shutdown();
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
    // Errors come back too, and dropping stops the server.
    let e = Sandbox::builder()
        .addr("0.0.0.0:0".parse().unwrap())
        .start_blocking()
        .unwrap_err();
    assert!(matches!(e, SandboxError::NotLoopback(_)));
    let sb = Sandbox::builder().start_blocking().unwrap();
    let addr = sb.addr();
    drop(sb);
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

#[test]
fn graceful_shutdown_stops_listening() {
    run(async {
        let sb = demo().await;
        let c = client();
        assert_eq!(
            c.get(sb.url("/__demo/ping")).send().await.unwrap().status(),
            200
        );
        let addr = sb.addr();
        sb.shutdown().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    });
}

#[test]
fn binary_prints_its_url_and_refuses_remote() {
    let exe = env!("CARGO_BIN_EXE_kaifang-sandbox");
    let mut child = Command::new(exe)
        .args(["--addr", "127.0.0.1:0", "--demo"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("kaifang-sandbox listening on ")
        .unwrap()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let bytes = raw(
        addr,
        "GET /__demo/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(String::from_utf8_lossy(&bytes).ends_with("pong"));
    child.kill().unwrap();
    child.wait().unwrap();

    let out = Command::new(exe)
        .args(["--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--allow-remote"),
        "{err}"
    );

    let p = write_config("bin.toml", "[platforms.demo]\ntoken_ttl_secs = [\n");
    let out = Command::new(exe)
        .args(["--demo", "--config", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bin.toml: line "), "{err}");
}
