//! `GET /__sandbox/inspect/{platform}/{kind}`: read-only views of module state, through HTTP and
//! the Rust handle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kaifang_sandbox::Sandbox;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_serves_module_views_and_refuses_unknown_kinds() {
    let sandbox = Sandbox::builder()
        .all_platforms()
        .seed(3)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();

    let health: serde_json::Value = http
        .get(sandbox.url("/__sandbox/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let ilab = health["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "ilab")
        .unwrap();
    assert_eq!(ilab["inspect_kinds"], json!(["uploads", "sessions"]));

    let resp = http
        .get(sandbox.url("/__sandbox/inspect/ilab/uploads?appid=1681600222748241929"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["count"], 0);
    assert_eq!(
        sandbox.inspect("ilab", "uploads", json!({})).unwrap()["count"],
        0
    );

    let unknown_kind = http
        .get(sandbox.url("/__sandbox/inspect/ilab/nope"))
        .send()
        .await
        .unwrap();
    assert!(unknown_kind.status().is_client_error());
    let text = unknown_kind.text().await.unwrap();
    assert!(
        text.contains("uploads"),
        "the error lists the supported kinds: {text}"
    );

    let unknown_platform = http
        .get(sandbox.url("/__sandbox/inspect/nowhere/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_platform.status(), 404);

    let unsupported = http
        .get(sandbox.url("/__sandbox/inspect/tf56/uploads"))
        .send()
        .await
        .unwrap();
    assert!(unsupported.status().is_client_error());
    sandbox.shutdown().await;
}
