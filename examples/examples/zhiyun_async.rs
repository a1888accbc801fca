//! Zhiyun (致云) open auth with the async transport (reqwest + tokio): trade the user's access
//! token for an auth code (`authorize`), then read the user (`getUserInfo`) and the company
//! (`getCompanyInfo`), with the auth code cached and renewed by the token manager. Secrets
//! (client secret, access token, auth code) are never printed.
//!
//! Run: `cargo run -p kaifang-examples --example zhiyun_async`
//!
//! By default it starts kaifang's sandbox in-process (the seed document's client and test
//! access token), and also shows the renewal of a code the server no longer holds and the
//! typed error of an expired access token. Against a real host, set all four of:
//!
//! | variable | meaning |
//! |---|---|
//! | `KAIFANG_ZHIYUN_BASE_URL` | the API host, e.g. `http://auth.xx.dev.com`; switches the example to real mode |
//! | `KAIFANG_ZHIYUN_CLIENT_ID` | the client id issued by the open platform (the Basic user name) |
//! | `KAIFANG_ZHIYUN_CLIENT_SECRET` | its secret (the Basic password) |
//! | `KAIFANG_ZHIYUN_ACCESS_TOKEN` | the user's access token from the Zhiyun desktop client (致云桌面) login |
//! | `KAIFANG_ZHIYUN_FORMAT` | optional: `json` (default) or `xml` |
//!
//! The process exits non-zero on any failure; an expired access token (100014) says to log in
//! to the desktop client again.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;

use kaifang::asynch::{AsyncClient, TokenManager, TransportConfig};
use kaifang::core::exchange::Exchange;
use kaifang::core::lifecycle::TokenSource;
use kaifang::sandbox::platforms::zhiyun::{self as sandbox_zhiyun, ZhiyunModule};
use kaifang::sandbox::{Sandbox, SandboxHandle};
use kaifang::zhiyun::server::tenant;
use kaifang::zhiyun::{Endpoint, Format, Zhiyun, ZhiyunAuthCodes, ZhiyunConfig, codes};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const VARS: [&str; 4] = [
    "KAIFANG_ZHIYUN_BASE_URL",
    "KAIFANG_ZHIYUN_CLIENT_ID",
    "KAIFANG_ZHIYUN_CLIENT_SECRET",
    "KAIFANG_ZHIYUN_ACCESS_TOKEN",
];

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The real host's configuration when `KAIFANG_ZHIYUN_BASE_URL` is set (then all four are
/// required), else `None`.
fn real_config() -> Result<Option<ZhiyunConfig>> {
    let [base, id, secret, token] = VARS.map(env);
    let (base, id, secret, token) = match (base, id, secret, token) {
        (None, None, None, None) => return Ok(None),
        (Some(b), Some(i), Some(s), Some(t)) => (b, i, s, t),
        _ => {
            let missing: Vec<&str> = VARS.into_iter().filter(|v| env(v).is_none()).collect();
            return Err(format!("real mode needs all of {VARS:?}; missing: {missing:?}").into());
        }
    };
    let format = match env("KAIFANG_ZHIYUN_FORMAT").as_deref() {
        None | Some("json") => Format::Json,
        Some("xml") => Format::Xml,
        Some(other) => {
            return Err(format!("KAIFANG_ZHIYUN_FORMAT must be json or xml, not {other:?}").into());
        }
    };
    Ok(Some(
        ZhiyunConfig::new(base, id, secret, token).format(format),
    ))
}

/// authorize (through the manager) → getUserInfo → getCompanyInfo (the cached code reused).
async fn read_user_and_company(
    tokens: &TokenManager,
    app: &Zhiyun,
    source: &Arc<ZhiyunAuthCodes>,
) -> Result<()> {
    let user = tokens
        .call_with_token(source, |code| app.user_info(&code.access))
        .await?;
    println!(
        "getUserInfo      username={} truename={} is_admin={} created={} nowtime={:?}",
        user.username, user.truename, user.is_admin, user.created, user.nowtime
    );
    let company = tokens
        .call_with_token(source, |code| app.company_info(&code.access))
        .await?;
    println!(
        "getCompanyInfo   company_name={} tax_number={} legal_person_name={} nowtime={:?}",
        company.company_name, company.tax_number, company.legal_person_name, company.nowtime
    );
    Ok(())
}

/// Sandbox only: the server forgets the cached code (revoked through the controls), the
/// manager gets 100019, authorizes again and retries once; then an expired access token.
async fn sandbox_extras(
    sandbox: &SandboxHandle,
    client: &Arc<AsyncClient>,
    tokens: &TokenManager,
    app: &Zhiyun,
    source: &Arc<ZhiyunAuthCodes>,
) -> Result<()> {
    let authorize_key = format!("GET {}", Endpoint::Authorize.path(app.config().format));
    println!(
        "authorize calls  {} (one code served both calls)",
        sandbox.count(&authorize_key)
    );
    let cached = tokens
        .cached(source.key())
        .ok_or("the manager holds no auth code")?;
    sandbox.revoke(
        Some(sandbox_zhiyun::PLATFORM),
        cached.access.expose_secret(),
    )?;
    let user = tokens
        .call_with_token(source, |code| app.user_info(&code.access))
        .await?;
    println!(
        "after a revoke   100019 → authorize again → getUserInfo username={} (authorize calls: {})",
        user.username,
        sandbox.count(&authorize_key)
    );

    // A desktop login that has expired: the typed error says what to do, and nothing retries.
    let minted = sandbox.mint(
        sandbox_zhiyun::PLATFORM,
        sandbox_zhiyun::ACCESS_TOKEN,
        serde_json::json!({"expires_in": -1}),
    )?;
    let expired = minted["access_token"]
        .as_str()
        .ok_or("mint answered no access_token")?;
    let stale = Zhiyun::new(app.config().clone().access_token(expired))?;
    match client.execute(&stale.authorize()).await {
        Err(e) if codes::is_access_token_expired(&e) => {
            println!("expired token    {e}");
            Ok(())
        }
        Err(e) => Err(format!("expected 100014, got: {e}").into()),
        Ok(_) => Err("expected 100014, got an auth code".into()),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zhiyun_async: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let real = real_config()?;
    let sandbox = match real {
        Some(_) => None,
        None => Some(
            Sandbox::builder()
                .module(ZhiyunModule::default())
                .start()
                .await?,
        ),
    };
    let config = match (real, &sandbox) {
        (Some(c), _) => {
            println!("mode             real host {}", c.base_url);
            c
        }
        (None, Some(sb)) => {
            println!(
                "mode             sandbox at {} (set {} to use a real host)",
                sb.base_url(),
                VARS.join(", ")
            );
            ZhiyunConfig::new(
                sb.base_url(),
                tenant::CLIENT_ID,
                tenant::CLIENT_SECRET,
                tenant::ACCESS_TOKENS[0],
            )
        }
        (None, None) => return Err("no sandbox and no real host".into()),
    };
    let app = Zhiyun::new(config)?;
    let client = Arc::new(AsyncClient::new(TransportConfig::default())?);
    if let Some(explain) = app.authorize().explain(client.context()) {
        print!("{explain}");
    }
    let tokens = TokenManager::new(Arc::clone(&client));
    let source = Arc::new(ZhiyunAuthCodes::new(&app));

    read_user_and_company(&tokens, &app, &source).await?;
    if let Some(sb) = sandbox {
        sandbox_extras(&sb, &client, &tokens, &app, &source).await?;
        sb.shutdown().await;
    }
    println!("done");
    Ok(())
}
