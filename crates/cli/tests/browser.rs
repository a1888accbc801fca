//! `kaifang login tf56` end to end with a real browser: headless Chromium driven through
//! chromedriver (WebDriver, `fantoccini`) clicks Approve or Deny on the sandbox's login page,
//! and the CLI's loopback callback finishes the flow.
//!
//! Needs `chromium` and `chromedriver` on `PATH` (Debian: `apt-get install chromium
//! chromium-driver`); without them the tests print a loud skip message and pass, unless
//! `KAIFANG_REQUIRE_EXTERNAL=1`, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod login_support;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use kaifang::sandbox::Sandbox;
use login_support::{Finished, Login, TF56_ID, TF56_SECRET, token_json};

fn external_required() -> bool {
    std::env::var("KAIFANG_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` after a loud skip (a failure when required).
fn programs() -> Option<(PathBuf, PathBuf)> {
    let chromium = which("chromium").or_else(|| which("chromium-browser"));
    let driver = which("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = [("chromium", c.is_none()), ("chromedriver", d.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" and ");
            assert!(
                !external_required(),
                "KAIFANG_REQUIRE_EXTERNAL=1 but not on PATH: {missing}"
            );
            eprintln!(
                "\n\n!!!!!!!! SKIPPED: not on PATH: {missing} (apt-get install chromium chromium-driver; set KAIFANG_REQUIRE_EXTERNAL=1 to make this a failure) !!!!!!!!\n"
            );
            None
        }
    }
}

/// chromedriver on a free port, killed on drop, with a fresh Chromium profile directory.
struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Driver {
    fn start(driver: &PathBuf) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let profile =
            std::env::temp_dir().join(format!("kaifang-browser-{}-{port}", std::process::id()));
        let d = Driver {
            child,
            port,
            profile,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    async fn session(&self, chromium: &PathBuf) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Opens the login URL of `kaifang login tf56`, clicks `button`, and returns the CLI's outcome
/// and the text the browser shows at the end.
async fn click_through(button: &str) -> Option<(Finished, String)> {
    let (chromium, driver) = programs()?;
    let started = Instant::now();
    let sb = Sandbox::builder().all_platforms().start().await.unwrap();
    let base = sb.base_url().to_owned();
    let driver = Driver::start(&driver);
    let (login, url) = tokio::task::spawn_blocking(move || {
        let mut login = Login::spawn(
            &["tf56", "--base-url", &base, "--no-browser", "--json"],
            &[
                ("KAIFANG_TF56_CLIENT_ID", TF56_ID),
                ("KAIFANG_TF56_CLIENT_SECRET", TF56_SECRET),
            ],
        );
        let url = login.url(Duration::from_secs(30));
        (login, url)
    })
    .await
    .unwrap();

    let client = driver.session(&chromium).await;
    client.goto(&url).await.unwrap();
    let app = client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(app, "tf56 test app");
    client
        .find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = tokio::task::spawn_blocking(move || login.finish(Duration::from_secs(60)))
        .await
        .unwrap();
    // The browser landed on the CLI's own page.
    let shown = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("message"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = client.current_url().await.unwrap();
    assert_eq!(at.host_str(), Some("127.0.0.1"), "{at}");
    assert_eq!(at.path(), "/callback");
    client.close().await.unwrap();
    drop(driver);
    sb.shutdown().await;
    eprintln!(
        "browser login ({button}) took {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Some((done, shown))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_in_chromium_prints_the_token() {
    let Some((done, shown)) = click_through("#approve").await else {
        return;
    };
    assert!(done.status.success(), "{}", done.stderr);
    let v = token_json(&done.stdout);
    assert_eq!(v["platform"], "tf56");
    assert_eq!(v["access_token"], "[redacted]");
    assert!(shown.contains("received the tf56 token"), "{shown}");
    assert!(!done.stderr.contains(TF56_SECRET) && !done.stdout.contains(TF56_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_in_chromium_exits_1() {
    let Some((done, shown)) = click_through("#deny").await else {
        return;
    };
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("the user denied the authorization"),
        "{}",
        done.stderr
    );
    assert!(done.stdout.is_empty(), "{}", done.stdout);
    assert!(shown.contains("denied"), "{shown}");
}
