//! `kaifang-sandbox --addr ADDR [--config FILE] [--allow-remote] [--demo]`: runs the sandbox
//! with all five platforms until Ctrl-C. The first line on stdout is
//! `kaifang-sandbox listening on http://HOST:PORT`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kaifang_sandbox::Sandbox;
use kaifang_sandbox::demo::DemoModule;

/// A strict, controllable emulator of the kaifang platforms. A test tool: never expose it.
#[derive(Debug, Parser)]
#[command(name = "kaifang-sandbox", version)]
struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// TOML file with `[sandbox]` and `[platforms.<name>]` sections.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Allow a non-loopback address (only on an isolated network).
    #[arg(long)]
    allow_remote: bool,
    /// Also mount the `demo` test platform under `/__demo/`.
    #[arg(long)]
    demo: bool,
    /// Seed for reproducible token values.
    #[arg(long)]
    seed: Option<u64>,
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("--addr {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("--addr {addr}: resolves to no address"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let addr = match resolve(&args.addr) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kaifang-sandbox: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kaifang-sandbox: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let mut b = Sandbox::builder()
            .addr(addr)
            .allow_remote(args.allow_remote)
            .all_platforms();
        if let Some(c) = &args.config {
            b = b.config_file(c);
        }
        if let Some(s) = args.seed {
            b = b.seed(s);
        }
        if args.demo {
            b = b.module(DemoModule);
        }
        let handle = match b.start().await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("kaifang-sandbox: {e}");
                return ExitCode::from(2);
            }
        };
        println!("kaifang-sandbox listening on {}", handle.base_url());
        if !handle.addr().ip().is_loopback() {
            eprintln!(
                "kaifang-sandbox: WARNING: listening on a non-loopback address; this is a test tool with well-known credentials"
            );
        }
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}
