//! A fleet of workers sharing one token through Redis, against the in-process sandbox's tf56
//! gateway: each worker is what one process of your service would be (its own HTTP client,
//! token manager and Redis connection); together they make one upstream token request per
//! expiry instead of one each.
//!
//! ```text
//! cargo run -p kaifang-examples --example fleet
//! KAIFANG_REDIS_URL=redis://127.0.0.1:6379/0 cargo run -p kaifang-examples --example fleet
//! ```
//!
//! Without `KAIFANG_REDIS_URL` it starts a throwaway `redis-server` from `PATH` (the Debian
//! package `redis-server`) on a free port. It forces three expiries (the sandbox clock jumps past
//! the token's life, so every cached token is refused) and checks the sandbox's counter of token
//! requests after each; it exits non-zero if the workers did not share. Secrets are never printed.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaifang::blocking::{BlockingClient, TokenManager};
use kaifang::core::secret::AccessToken;
use kaifang::core::transport::TransportConfig;
use kaifang::redis::{RedisStore, RedisStoreConfig};
use kaifang::sandbox::platforms::tf56::Tf56Module;
use kaifang::sandbox::{BlockingSandbox, Sandbox};
use kaifang::tf56::server::{PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET};
use kaifang::tf56::{Tf56, Tf56Config, Tf56Tokens};
use kaifang_e2e::RedisServer;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const WORKERS: usize = 4;
const CALLERS: usize = 25;
const EXPIRIES: u64 = 3;
const TOKEN_PATH: &str = "/openGateway/oauth/token";

/// One process of the service: its own client, manager and Redis connection.
struct Worker {
    tokens: TokenManager,
    source: Tf56Tokens,
}

impl Worker {
    fn new(app: &Tf56, redis_url: &str) -> Res<Self> {
        let store =
            RedisStore::open(RedisStoreConfig::new(redis_url).prefix("kaifang-fleet-example"))?;
        let client = BlockingClient::new(TransportConfig {
            max_idle_per_host: CALLERS,
            ..TransportConfig::default()
        })?;
        Ok(Self {
            tokens: TokenManager::new(Arc::new(client)).with_store(Arc::new(store)),
            source: Tf56Tokens::client_credentials(app),
        })
    }

    /// `CALLERS` threads calling `sayHello` at once.
    fn burst(&self, app: &Tf56) -> Res<()> {
        std::thread::scope(|s| {
            let calls: Vec<_> = (0..CALLERS)
                .map(|_| {
                    s.spawn(|| {
                        self.tokens.call_with_token(&self.source, |t| {
                            app.say_hello(&AccessToken::from(t.access.clone()))
                        })
                    })
                })
                .collect();
            for call in calls {
                match call.join() {
                    Ok(Ok(_hello)) => {}
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => return Err("a caller panicked".into()),
                }
            }
            Ok(())
        })
    }
}

fn token_requests(sandbox: &BlockingSandbox) -> u64 {
    sandbox.count(&format!("POST {TOKEN_PATH}")) + sandbox.count(&format!("GET {TOKEN_PATH}"))
}

fn run() -> Res<bool> {
    // Your Redis, or a throwaway one.
    let (_server, redis_url) = match std::env::var("KAIFANG_REDIS_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => match RedisServer::start()? {
            Some(server) => {
                let url = server.url();
                (Some(server), url)
            }
            None => {
                return Err("no redis-server on PATH: install it or set KAIFANG_REDIS_URL".into());
            }
        },
    };
    let sandbox = Sandbox::builder().module(Tf56Module).start_blocking()?;
    let app = Tf56::new(
        Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET).base_url(sandbox.base_url()),
    )?;
    let workers = (0..WORKERS)
        .map(|_| Worker::new(&app, &redis_url))
        .collect::<Res<Vec<_>>>()?;

    let mut shared = true;
    for expiry in 0..=EXPIRIES {
        if expiry > 0 {
            // Every cached token is now refused by the gateway.
            sandbox.advance_clock(Duration::from_secs(1_801));
        }
        let before = token_requests(&sandbox);
        let started = Instant::now();
        std::thread::scope(|s| {
            let bursts: Vec<_> = workers.iter().map(|w| s.spawn(|| w.burst(&app))).collect();
            bursts
                .into_iter()
                .map(|b| b.join().map_err(|_| "a worker panicked")?)
                .collect::<Res<Vec<()>>>()
        })?;
        let made = token_requests(&sandbox) - before;
        let what = if expiry == 0 {
            "first token".to_owned()
        } else {
            format!("expiry {expiry}")
        };
        println!(
            "{what:>11}: {WORKERS} workers x {CALLERS} callers -> {made} upstream token request(s), all calls served in {:?}",
            started.elapsed()
        );
        shared &= made == 1;
    }
    Ok(shared)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => {
            println!("one upstream token request per expiry for the whole fleet");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("the workers did not share their tokens");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
