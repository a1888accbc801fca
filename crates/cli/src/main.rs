//! `kaifang`: the command line of the kaifang SDK.
//!
//! * `kaifang demo`: every platform through both transports against the embedded sandbox.
//! * `kaifang sandbox`: the sandbox on a port of your choice, for your own tests.
//! * `kaifang token <platform>`: a token from any server, as JSON.
//! * `kaifang sign ...` / `kaifang xxtea ...`: offline signing with every intermediate value.
//! * `kaifang call <platform> ...`: a signed business call with a cached token.
//! * `kaifang login <tianyi|tf56>`: the authorization-code flow with a loopback callback.
//!
//! Exit codes: 0 ok, 1 the platform refused, 2 bad input, 3 network (see [`exit`]).

mod call;
mod config;
mod demo;
mod exit;
mod login;
mod platforms;
mod sandbox;
mod session;
mod sign;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::CliError;

/// Authenticate against Chinese open platforms correctly the first time.
///
/// Exit codes: 0 ok, 1 the platform refused, 2 bad input, 3 network.
#[derive(Debug, Parser)]
#[command(name = "kaifang", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs every platform through both transports against the embedded sandbox.
    Demo(demo::DemoArgs),
    /// Runs the sandbox (all five platforms) until Ctrl-C.
    Sandbox(sandbox::SandboxArgs),
    /// Gets a token from a server (real or sandbox) and prints it as JSON.
    Token(token::TokenArgs),
    /// Offline signing: prints every intermediate value.
    Sign(sign::SignArgs),
    /// Offline xxtea-py compatible XXTEA.
    Xxtea(sign::XxteaArgs),
    /// A signed business call with a cached token.
    Call(call::CallArgs),
    /// The authorization-code flow on the command line (loopback callback).
    Login(login::LoginArgs),
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Sandbox(a) => sandbox::run(a),
        Command::Token(a) => token::run(a),
        Command::Sign(a) => sign::run(a),
        Command::Xxtea(a) => sign::run_xxtea(a),
        Command::Call(a) => call::run(a),
        Command::Login(a) => login::run(a),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kaifang: {e}");
            e.exit_code()
        }
    }
}
