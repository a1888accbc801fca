//! tf56 (传化开放平台, the Transfar open gateway) with the async transport (see `tf56_blocking` for
//! the same with the blocking one).
//!
//! ```text
//! cargo run -p kaifang-examples --example tf56_async
//! ```
//!
//! By default everything runs against an in-process kaifang sandbox (no network): the public
//! client `7` gets a `client_credentials` token and calls `sayHello`; the demo user logs in with
//! the `password` grant and calls `queryUserInfo`; the token is refreshed (rotating the refresh
//! token); and client `1` exchanges an authorization code (minted by the sandbox in place of the
//! browser login) for a user token.
//!
//! Against a real gateway set all three of
//! * `KAIFANG_TF56_BASE_URL` (e.g. `https://open.tf56.com`),
//! * `KAIFANG_TF56_CLIENT_ID`,
//! * `KAIFANG_TF56_CLIENT_SECRET`;
//!
//! and optionally `KAIFANG_TF56_USERNAME` + `KAIFANG_TF56_PASSWORD` for the password grant. The
//! example exits non-zero on any failure. Secrets are never printed.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;

use kaifang::asynch::{AsyncClient, TokenManager};
use kaifang::core::secret::{AccessToken, SecretString};
use kaifang::core::token::Token;
use kaifang::core::transport::TransportConfig;
use kaifang::sandbox::platforms::tf56::Tf56Module;
use kaifang::sandbox::{Sandbox, SandboxHandle};
use kaifang::tf56::server::{
    CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, CODE_CLIENT_SECRET, DEMO_PASSWORD, DEMO_USERNAME,
    PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET,
};
use kaifang::tf56::{Grant, Tf56, Tf56Config, Tf56Tokens, TokenRequest};

type Res<T> = Result<T, Box<dyn Error>>;

/// Where to run: a real host from the environment, or the in-process sandbox.
enum Target {
    Real {
        base_url: String,
        client_id: String,
        client_secret: SecretString,
        user: Option<(String, SecretString)>,
    },
    Sandbox(SandboxHandle),
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn target() -> Res<Target> {
    let base = env("KAIFANG_TF56_BASE_URL");
    let id = env("KAIFANG_TF56_CLIENT_ID");
    let secret = env("KAIFANG_TF56_CLIENT_SECRET");
    match (base, id, secret) {
        (None, None, None) => Ok(Target::Sandbox(
            Sandbox::builder().module(Tf56Module).start().await?,
        )),
        (Some(base_url), Some(client_id), Some(secret)) => {
            let user = match (env("KAIFANG_TF56_USERNAME"), env("KAIFANG_TF56_PASSWORD")) {
                (Some(u), Some(p)) => Some((u, SecretString::new(p))),
                (None, None) => None,
                _ => return Err("set both KAIFANG_TF56_USERNAME and KAIFANG_TF56_PASSWORD, or neither".into()),
            };
            Ok(Target::Real {
                base_url,
                client_id,
                client_secret: SecretString::new(secret),
                user,
            })
        }
        _ => Err("set all of KAIFANG_TF56_BASE_URL, KAIFANG_TF56_CLIENT_ID and KAIFANG_TF56_CLIENT_SECRET (a real host), or none (the in-process sandbox)".into()),
    }
}

fn access(t: &Token) -> AccessToken {
    AccessToken::from(t.access.clone())
}

fn describe(what: &str, t: &Token) {
    // Token's Debug and these fields never show the token values.
    println!(
        "{what}: token_type={} expires_in={}s scope={:?} refresh_token={}",
        t.token_type.as_deref().unwrap_or("?"),
        t.ttl().as_secs(),
        t.scope,
        if t.refresh.is_some() { "yes" } else { "no" },
    );
}

async fn run() -> Res<()> {
    let target = target().await?;
    let (app, user) = match &target {
        Target::Real {
            base_url,
            client_id,
            client_secret,
            user,
        } => {
            println!("tf56 at {base_url}");
            let cfg = Tf56Config::new(client_id.clone(), client_secret.expose_secret())
                .base_url(base_url.clone());
            (Tf56::new(cfg)?, user.clone())
        }
        Target::Sandbox(sb) => {
            println!("tf56 in the in-process sandbox at {}", sb.base_url());
            let cfg =
                Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET).base_url(sb.base_url());
            (
                Tf56::new(cfg)?,
                Some((DEMO_USERNAME.to_owned(), SecretString::new(DEMO_PASSWORD))),
            )
        }
    };
    let client = Arc::new(AsyncClient::new(TransportConfig::default())?);
    let tokens = TokenManager::new(Arc::clone(&client));

    // Public APIs: client_credentials, cached and renewed by the token manager (which also
    // retries once with a new token when the gateway rejects the cached one).
    let public = Arc::new(Tf56Tokens::client_credentials(&app));
    describe("client_credentials", tokens.token(&public).await?.as_ref());
    let hello = tokens
        .call_with_token(&public, |t| app.say_hello(&access(t)))
        .await?;
    println!("sayHello: {}", hello.message);

    // User APIs with the password grant, then one refresh.
    if let Some((username, password)) = user {
        let source = Arc::new(Tf56Tokens::password(&app, username, password));
        let token = tokens.token(&source).await?;
        describe("password", &token);
        let me = tokens
            .call_with_token(&source, |t| app.query_user_info(&access(t)))
            .await?;
        println!(
            "queryUserInfo: userId={} username={}",
            me.user_id,
            me.username.as_deref().unwrap_or("?")
        );
        if let Some(refresh) = token.refresh.clone() {
            let renewed = client
                .execute(&TokenRequest::new(&app, Grant::RefreshToken(refresh))?)
                .await?;
            describe("refresh_token", &renewed);
        }
    }

    // The authorization-code grant: a browser would open the authorize page; the sandbox mints
    // the code the login page would have returned.
    if let Target::Sandbox(sb) = &target {
        let web = Tf56::new(
            Tf56Config::new(CODE_CLIENT_ID, CODE_CLIENT_SECRET)
                .base_url(sb.base_url())
                .redirect_uri(CODE_CLIENT_REDIRECT_URI),
        )?;
        let minted = sb.mint(
            "tf56",
            "code",
            serde_json::json!({"client_id": CODE_CLIENT_ID, "user": DEMO_USERNAME}),
        )?;
        let code = minted["code"]
            .as_str()
            .ok_or("the sandbox minted no code")?
            .to_owned();
        let source = Arc::new(Tf56Tokens::authorization_code(&web).with_code(code));
        describe("authorization_code", tokens.token(&source).await?.as_ref());
        let me = tokens
            .call_with_token(&source, |t| web.query_user_info(&access(t)))
            .await?;
        println!("queryUserInfo (authorization_code): userId={}", me.user_id);
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let result = run().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tf56_async failed: {e}");
            ExitCode::FAILURE
        }
    }
}
