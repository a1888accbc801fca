//! Tianyi Shilian VCP (天翼视联), standard app, async transport: the login page, the
//! authorization code, the token, every business call (with the `getAllDeviceListNew` cursor
//! to the end) and the refresh rotation.
//!
//! ```text
//! cargo run -p kaifang-examples --example tianyi_async
//! ```
//!
//! By default it starts an in-process sandbox with the seed's app (`693299085757`) and approves
//! the sandbox's login page itself, as a user's browser would.
//!
//! Against a real host set:
//!
//! | variable | meaning |
//! |---|---|
//! | `KAIFANG_TIANYI_BASE_URL` | e.g. `https://vcp.21cn.com` (switches the sandbox off) |
//! | `KAIFANG_TIANYI_APP_ID` | your AppID |
//! | `KAIFANG_TIANYI_APP_SECRET` | your appSecret (never printed) |
//! | `KAIFANG_TIANYI_CALLBACK_URL` | a URL on your registered callback domain (授权回调域名) |
//! | `KAIFANG_TIANYI_AUTH_CODE` | optional: the `authCode` your callback received (only when `errorCode=0`, and after checking its `state`); without it the example prints the login URL to open and stops |
//!
//! It exits non-zero on any failure, printing the error with the platform's hint.

use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use kaifang::asynch::AsyncClient;
use kaifang::core::secret::SecretString;
use kaifang::core::transport::TransportConfig;
use kaifang::sandbox::Sandbox;
use kaifang::sandbox::platforms::tianyi::{SEED_APP_ID, SEED_APP_SECRET, TianyiModule};
use kaifang::tianyi::device::StatusQuery;
use kaifang::tianyi::{
    AuthPageRequest, GetAccessToken, Grant, LoginClientType, Tianyi, TianyiConfig, parse_callback,
};

type Res<T> = Result<T, Box<dyn Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Res<String> {
    env(name).ok_or_else(|| format!("{name} must be set with KAIFANG_TIANYI_BASE_URL").into())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("tianyi_async failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Res<()> {
    let client = Arc::new(AsyncClient::new(TransportConfig::default())?);
    match env("KAIFANG_TIANYI_BASE_URL") {
        Some(base) => {
            let app = Tianyi::new(
                TianyiConfig::new(
                    required("KAIFANG_TIANYI_APP_ID")?,
                    required("KAIFANG_TIANYI_APP_SECRET")?,
                )
                .base_url(base),
            )?;
            let callback = required("KAIFANG_TIANYI_CALLBACK_URL")?;
            match env("KAIFANG_TIANYI_AUTH_CODE") {
                Some(code) => tour(&client, &app, SecretString::new(code)).await,
                None => {
                    let login = AuthPageRequest::new(
                        &app,
                        client.context(),
                        &callback,
                        LoginClientType::Web,
                    )?;
                    let page = client.execute(&login).await?;
                    println!("open this login page in a browser:\n  {}", page.url);
                    println!(
                        "expect state={} on the callback; then run again with",
                        page.state
                    );
                    println!("  KAIFANG_TIANYI_AUTH_CODE=<the callback's authCode>");
                    Ok(())
                }
            }
        }
        None => {
            let sandbox = Sandbox::builder().module(TianyiModule).start().await?;
            println!("sandbox at {}", sandbox.base_url());
            let app = Tianyi::new(
                TianyiConfig::new(SEED_APP_ID, SEED_APP_SECRET).base_url(sandbox.base_url()),
            )?;
            // 1. The login page.
            let login = AuthPageRequest::new(
                &app,
                client.context(),
                "http://192.168.140.1:8889/callback",
                LoginClientType::Web,
            )?;
            let page = client.execute(&login).await?;
            println!("getAuthPageUrl → {}", page.url);
            // 2. The user approves (the sandbox's `kaifang_auto=approve`); the browser lands on
            //    the callback with authCode, errorCode=0 and our state.
            let location = follow_once(&format!("{}&kaifang_auto=approve", page.url))?;
            let query = location.split_once('?').map_or("", |(_, q)| q);
            let code = parse_callback(query, &page.state)?;
            println!(
                "callback: state verified, authCode received ({} chars)",
                code.expose_secret().len()
            );
            let result = tour(&client, &app, code).await;
            sandbox.shutdown().await;
            result
        }
    }
}

/// Token, every business call, refresh rotation.
async fn tour(client: &AsyncClient, app: &Tianyi, code: SecretString) -> Res<()> {
    let token = client
        .execute(&GetAccessToken::new(app, &Grant::AuthCode(code))?)
        .await?;
    println!(
        "getAccessToken (auth_code) → token valid {} s, with a refresh token: {}",
        token.ttl().as_secs(),
        token.refresh.is_some()
    );
    let access = &token.access;

    let regions = client.execute(&app.regions(access, "")?).await?;
    println!("getReginWithGroupList → {} top regions", regions.len());
    for r in &regions {
        let children = client.execute(&app.regions(access, &r.region_id)?).await?;
        println!("  {} {} ({} children)", r.region_id, r.name, children.len());
    }
    let page = client.execute(&app.device_list(access, "", 1, 10)?).await?;
    println!(
        "getDeviceList page 1 → {} of {:?} devices",
        page.list.len(),
        page.total
    );

    let mut cursor = app.all_devices(access, "", true, 50);
    let mut devices = Vec::new();
    while let Some(call) = cursor.next_call()? {
        let got = cursor.accept(client.execute(&call).await?);
        println!("getAllDeviceListNew → {} devices", got.len());
        devices.extend(got);
    }
    println!(
        "  cursor done (lastId -1): {} devices in all",
        devices.len()
    );

    if let Some(first) = devices.first() {
        let d = client
            .execute(&app.show_device(access, &first.device_code)?)
            .await?;
        println!(
            "showDevice {} → {} (status {:?})",
            d.device_code, d.device_name, d.status
        );
        let codes: Vec<&str> = devices
            .iter()
            .take(20)
            .map(|d| d.device_code.as_str())
            .collect();
        let statuses = client
            .execute(&app.batch_device_status(access, &codes, StatusQuery::Online)?)
            .await?;
        let online = statuses.iter().filter(|s| s.status == 1).count();
        println!("batchDeviceStatus → {online} of {} online", statuses.len());
        let media = client
            .execute(&app.media_url_hls(access, &first.device_code, 300)?)
            .await?;
        println!(
            "getDeviceMediaUrlHls → {} (expires in {:?} s)",
            media.url, media.expire
        );
    }

    if let Some(refresh) = token.refresh.clone() {
        let fresh = client
            .execute(&GetAccessToken::new(
                app,
                &Grant::RefreshToken(refresh.clone()),
            )?)
            .await?;
        println!(
            "refresh_token → new access token: {}, new refresh token: {}",
            fresh.access != token.access,
            fresh.refresh.as_ref() != Some(&refresh)
        );
        match client
            .execute(&GetAccessToken::new(app, &Grant::RefreshToken(refresh))?)
            .await
        {
            Err(e) => println!("the old refresh token is refused, as it should be: {e}"),
            Ok(_) => return Err("the old refresh token was accepted twice".into()),
        }
    }
    Ok(())
}

/// One GET without following the redirect; returns its `Location` (the sandbox login page
/// answers 302 to the callback). Plain `std` so the example needs no other HTTP client.
fn follow_once(url: &str) -> Res<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("the sandbox serves plain http")?;
    let (host, target) = rest.split_once('/').ok_or("no path in the login URL")?;
    let mut s = TcpStream::connect(host)?;
    write!(
        s,
        "GET /{target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer.split(' ').nth(1).unwrap_or("");
    if status != "302" {
        return Err(format!("the login page answered {status}, not a redirect").into());
    }
    answer
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .ok_or_else(|| "no Location on the login redirect".into())
}
