//! Tianyi Shilian VCP (天翼视联), platform app (平台应用), blocking transport with the token
//! lifecycle: `TokenManager` + `TianyiTokens` get the token with `vcp_189` (no user login),
//! cache it, and on a rejected token (30002) expire it, refresh with the refresh token and
//! retry once.
//!
//! ```text
//! cargo run -p kaifang-examples --example tianyi_blocking
//! ```
//!
//! By default it starts an in-process sandbox with its built-in platform app and also shows the
//! lifecycle: the sandbox revokes the token between two calls and the second call still
//! succeeds after one refresh.
//!
//! Against a real host set:
//!
//! | variable | meaning |
//! |---|---|
//! | `KAIFANG_TIANYI_BASE_URL` | e.g. `https://vcp.21cn.com` (switches the sandbox off) |
//! | `KAIFANG_TIANYI_APP_ID` | your platform app's AppID |
//! | `KAIFANG_TIANYI_APP_SECRET` | its appSecret (never printed) |
//! | `KAIFANG_TIANYI_ENTERPRISE_USER` | the enterprise owner's phone number (`enterpriseUser`) added in the portal |
//!
//! It exits non-zero on any failure, printing the error with the platform's hint.

use std::error::Error;
use std::sync::Arc;

use kaifang::blocking::{BlockingClient, TokenManager};
use kaifang::core::transport::TransportConfig;
use kaifang::sandbox::Sandbox;
use kaifang::sandbox::platforms::tianyi::{
    PLATFORM_APP_ID, PLATFORM_APP_SECRET, PLATFORM_ENTERPRISE_USER, TianyiModule,
};
use kaifang::tianyi::device::Region;
use kaifang::tianyi::{Tianyi, TianyiConfig, TianyiTokens};

type Res<T> = Result<T, Box<dyn Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Res<String> {
    env(name).ok_or_else(|| format!("{name} must be set with KAIFANG_TIANYI_BASE_URL").into())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("tianyi_blocking failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let client = Arc::new(BlockingClient::new(TransportConfig::default())?);
    let manager = TokenManager::new(client.clone());
    match env("KAIFANG_TIANYI_BASE_URL") {
        Some(base) => {
            let app = Tianyi::new(
                TianyiConfig::new(
                    required("KAIFANG_TIANYI_APP_ID")?,
                    required("KAIFANG_TIANYI_APP_SECRET")?,
                )
                .platform(required("KAIFANG_TIANYI_ENTERPRISE_USER")?)
                .base_url(base),
            )?;
            tour(&client, &manager, &app)
        }
        None => {
            let sandbox = Sandbox::builder().module(TianyiModule).start_blocking()?;
            println!("sandbox at {}", sandbox.base_url());
            let app = Tianyi::new(
                TianyiConfig::new(PLATFORM_APP_ID, PLATFORM_APP_SECRET)
                    .platform(PLATFORM_ENTERPRISE_USER)
                    .base_url(sandbox.base_url()),
            )?;
            tour(&client, &manager, &app)?;

            // The lifecycle: the platform revokes the token between two calls.
            let source = TianyiTokens::new(&app);
            let before = manager.token(&source)?;
            sandbox.revoke(Some("tianyi"), before.access.expose_secret())?;
            println!("sandbox: revoked the current access token");
            let regions = top_regions(&manager, &source, &app)?;
            let after = manager.token(&source)?;
            println!(
                "getReginWithGroupList still answered ({} regions): 30002 → refresh → one retry; new token: {}",
                regions.len(),
                after.access != before.access
            );
            println!(
                "getAccessToken was called {} times in all",
                sandbox.count("POST /open/oauth/getAccessToken")
            );
            sandbox.shutdown();
            Ok(())
        }
    }
}

fn top_regions(manager: &TokenManager, source: &TianyiTokens, app: &Tianyi) -> Res<Vec<Region>> {
    Ok(manager.try_call_with_token(source, |t| app.regions(&t.access, ""))?)
}

/// Token through the manager, then the device calls.
fn tour(client: &BlockingClient, manager: &TokenManager, app: &Tianyi) -> Res<()> {
    let source = TianyiTokens::new(app);
    let token = manager.token(&source)?;
    println!(
        "vcp_189 → token valid {} s (refresh token: {})",
        token.ttl().as_secs(),
        token.refresh.is_some()
    );
    let regions = top_regions(manager, &source, app)?;
    println!(
        "getReginWithGroupList → {} top regions (cached token reused)",
        regions.len()
    );

    let access = &token.access;
    let page = client.execute(&app.device_list(access, "", 1, 50)?)?;
    println!(
        "getDeviceList → {} of {:?} devices",
        page.list.len(),
        page.total
    );
    let mut cursor = app.all_devices(access, "", true, 50);
    let mut n = 0;
    while let Some(call) = cursor.next_call()? {
        n += cursor.accept(client.execute(&call)?).len();
    }
    println!("getAllDeviceListNew → {n} devices, cursor at the end");
    if let Some(d) = page.list.first() {
        let shown = client.execute(&app.show_device(access, &d.device_code)?)?;
        println!("showDevice {} → {}", shown.device_code, shown.device_name);
        let media = client.execute(&app.media_url_hls(access, &d.device_code, 300)?)?;
        println!("getDeviceMediaUrlHls → {}", media.url);
    }
    Ok(())
}
