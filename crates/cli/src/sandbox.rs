//! `kaifang sandbox`: the sandbox with all five platforms, until Ctrl-C.
//!
//! The first line on stdout is `kaifang sandbox listening on http://HOST:PORT`, so that scripts
//! and tests can wait for it. The demo credentials of every platform are printed on stderr.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use kaifang::sandbox::Sandbox;

use crate::exit::CliError;

/// `kaifang sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// TOML file with `[sandbox]` and `[platforms.<name>]` sections (tenants, lifetimes).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Allow a non-loopback address (only on an isolated network: the credentials are public).
    #[arg(long)]
    allow_remote: bool,
    /// Seed for reproducible token values.
    #[arg(long)]
    seed: Option<u64>,
}

fn resolve(addr: &str) -> Result<SocketAddr, CliError> {
    addr.to_socket_addrs()
        .map_err(|e| CliError::bad_input(format!("--addr {addr}: {e}")))?
        .next()
        .ok_or_else(|| CliError::bad_input(format!("--addr {addr}: resolves to no address")))
}

pub(crate) fn run(args: SandboxArgs) -> Result<(), CliError> {
    let addr = resolve(&args.addr)?;
    if let Some(c) = &args.config
        && !c.is_file()
    {
        return Err(CliError::bad_input(format!(
            "--config {}: no such file",
            c.display()
        )));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::refused(format!("cannot start the runtime: {e}")))?;
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
        // Start-up errors are configuration errors (bad file, address in use, remote refused).
        let handle = b.start().await.map_err(|e| CliError::bad_input(e.to_string()))?;
        println!("kaifang sandbox listening on {}", handle.base_url());
        eprintln!("{}", credentials_help(handle.base_url()));
        if !handle.addr().ip().is_loopback() {
            eprintln!(
                "kaifang sandbox: WARNING: listening on a non-loopback address; this is a test tool with well-known credentials"
            );
        }
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown().await;
        Ok(())
    })
}

/// What to point a client at: the demo tenants' ids (their secrets are in the crate docs and the
/// proto crates' `server` modules; this is a test tool).
fn credentials_help(base: &str) -> String {
    use kaifang::sandbox::platforms::{device, ilab, tianyi};
    format!(
        "kaifang sandbox: try\n  \
         KAIFANG_TF56_CLIENT_SECRET={tf56_secret} kaifang token tf56 --base-url {base} --client-id {tf56_id}\n  \
         tianyi platform app {ty_id} (enterprise user {ty_user}); iLab appid {ilab_id}; device IMEI {imei} at {base}{path}\n  \
         controls: {base}/__sandbox/",
        tf56_secret = kaifang::tf56::server::PUBLIC_CLIENT_SECRET,
        tf56_id = kaifang::tf56::server::PUBLIC_CLIENT_ID,
        ty_id = tianyi::PLATFORM_APP_ID,
        ty_user = tianyi::PLATFORM_ENTERPRISE_USER,
        ilab_id = ilab::SEED_APPID,
        imei = device::DEVICE_IMEI,
        path = device::PROVISION_PATH,
    )
}
