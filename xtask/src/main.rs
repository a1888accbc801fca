//! kaifang's project automation (`cargo xtask <command>`).
//!
//! The standard library plus serde_json (for `bench`'s data). Every command returns a [`Result`]; `main` prints the error and exits
//! nonzero, so the commands can be chained in scripts and CI (`.ci/run` runs `cargo xtask ci`).
//!
//! Commands:
//! - `nostd [--target TRIPLE]`: the link-based `no_std` proof for `kaifang-sign-core`, or the
//!   check crates built for a bare-metal target with their code size (see [`nostd`]).
//! - `features`: `cargo check` of every feature combination of the `kaifang` facade (see
//!   [`features`]).
//! - `bench [--quick]`: every benchmark side by side, written to `benches/REPORT.md` with a plot
//!   (see [`mod@bench`]).
//! - `fuzz-smoke`: build every cargo-fuzz target and run each for a few seconds over its corpus
//!   (see [`fuzz`]).
//! - `soak [--minutes N]`: the sandbox and all five platforms' clients under sustained load with
//!   token lifetimes of seconds; calls, errors, refreshes against the expectation, memory (see
//!   [`soak`]).
//! - `release [--dry-run] <version|patch|minor|major>`: metadata checks, version bump,
//!   CHANGELOG.md, semver-checks and `cargo publish --dry-run` of every crate in dependency order;
//!   never uploads (see [`release`]).
//! - `ci`: everything CI checks, in CI's order (see [`ci`]).

mod bench;
mod ci;
mod features;
mod fuzz;
mod nostd;
mod process;
mod release;
mod soak;

use std::fmt;
use std::process::ExitCode;

/// Why a command failed: a usage mistake (exit code 2) or a failed step (exit code 1).
#[derive(Debug, PartialEq, Eq)]
enum Error {
    /// The command line was wrong; the message says how.
    Usage(String),
    /// A command ran and failed; the message says what and, where possible, why.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::Failed(msg) => f.write_str(msg),
        }
    }
}

/// The result type of every command.
type Result<T, E = Error> = std::result::Result<T, E>;

/// `cargo xtask help`.
const USAGE: &str = "\
Usage: cargo xtask <command> [options]

Commands:
  nostd              Prove that kaifang-sign-core links without std or alloc: build the
                     #![no_std] staticlib in xtask/nostd-check calling every public function,
                     and require that its std and alloc canaries FAIL to build.
  nostd --target T   Build the same check crate and examples/firmware (kaifang-proto-device,
                     no_std + alloc) for the bare-metal target T (e.g. thumbv7em-none-eabihf)
                     with cargo +nightly -Zbuild-std=core,alloc and report their .text sizes.
                     Skipped loudly without nightly's rust-src, unless
                     KAIFANG_REQUIRE_EXTERNAL=1.
  features           Check that every feature combination of the kaifang facade builds:
                     no features; each platform alone, with blocking and with async;
                     blocking, async, sandbox and full alone (cargo check, one target dir).
  bench [--quick]    Run every benchmark side by side (criterion, the seeds' Python, xxtea-nostd,
                     bare ureq/reqwest, npm's oauth2-mock-server under wrk, sizes) and write
                     benches/REPORT.md and benches/xxtea-throughput.png. --quick: short
                     measurements (under 5 minutes), for a fast check.
  fuzz-smoke         Build every cargo-fuzz target (fuzz/, fuzz/nostd/) and run each for 5
                     seconds over its committed corpus (cargo +nightly fuzz). Skipped with a
                     loud message when nightly or cargo-fuzz is missing, unless
                     KAIFANG_REQUIRE_EXTERNAL=1.
  soak [--minutes N] The sandbox and clients of all five platforms (both transports, the
                     TokenManagers) under sustained load for N minutes (default 5) with
                     token lifetimes of 10 s: calls, errors, upstream token requests against
                     the expected count, VmRSS every 30 s. Writes target/soak/report.json.
                     Not part of ci.
  release [--dry-run] [--allow-dirty] [--skip-tests] [--no-verify] <X.Y.Z|patch|minor|major>
                     Check a clean tree and green tests (cargo test --workspace), the crates'
                     publish metadata and their dependency order (cargo metadata); bump the
                     workspace version in Cargo.toml, move CHANGELOG.md's [Unreleased] to the
                     new version, run cargo semver-checks against the last v* tag, and
                     cargo publish --dry-run --workspace in that order. --dry-run does all of
                     it in a temporary copy and prints the diff (the tree stays unchanged).
                     Never uploads: a real run prints the commands to publish.
                     --allow-dirty: accept uncommitted changes (local experiments).
                     --skip-tests: the tests already ran in this job (CI).
                     --no-verify: package without building the packaged crates.
  ci [--skip-deny] [--allow-dirty]
                     Run every CI check in CI's order: fmt, clippy, features, test,
                     fuzz-smoke, nostd, nostd --target thumbv7em-none-eabihf, doc, deny,
                     bench --no-run, release --dry-run --skip-tests patch. Stops at the
                     first failure. --skip-deny skips cargo-deny (otherwise it must be
                     installed: cargo install --locked cargo-deny). --allow-dirty lets the
                     release dry run package uncommitted changes (local runs).
  help               Print this help.
";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    /// `cargo xtask nostd`, with the options it takes.
    Nostd(nostd::Options),
    /// `cargo xtask features`.
    Features,
    /// `cargo xtask bench`, with the options it takes.
    Bench(bench::Options),
    /// `cargo xtask fuzz-smoke`.
    FuzzSmoke,
    /// `cargo xtask soak`, with the options it takes.
    Soak(soak::Options),
    /// `cargo xtask release`, with the options it takes.
    Release(release::Options),
    /// `cargo xtask ci`, with the options it takes.
    Ci(ci::Options),
    /// `cargo xtask help` (also `-h`, `--help`, and no command at all).
    Help,
}

/// Parses the arguments after the program name.
fn parse_args(args: &[String]) -> Result<Command> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    let command = match command.as_str() {
        "help" | "-h" | "--help" => Command::Help,
        "nostd" => {
            return match rest {
                [] => Ok(Command::Nostd(nostd::Options::default())),
                [flag, triple] if flag == "--target" && !triple.starts_with('-') => {
                    Ok(Command::Nostd(nostd::Options {
                        target: Some(triple.clone()),
                    }))
                }
                _ => Err(Error::Usage(
                    "`nostd` takes nothing, or `--target <triple>`".to_owned(),
                )),
            };
        }
        "release" => return release::parse(rest).map(Command::Release),
        "features" => Command::Features,
        "fuzz-smoke" => Command::FuzzSmoke,
        "bench" => {
            let mut options = bench::Options::default();
            for arg in rest {
                match arg.as_str() {
                    "--quick" => options.quick = true,
                    other => {
                        return Err(Error::Usage(format!("`bench` does not take `{other}`")));
                    }
                }
            }
            return Ok(Command::Bench(options));
        }
        "soak" => return soak::parse(rest).map(Command::Soak),
        "ci" => {
            let mut options = ci::Options::default();
            for arg in rest {
                match arg.as_str() {
                    "--skip-deny" => options.skip_deny = true,
                    "--allow-dirty" => options.allow_dirty = true,
                    other => {
                        return Err(Error::Usage(format!("`ci` does not take `{other}`")));
                    }
                }
            }
            return Ok(Command::Ci(options));
        }
        other => return Err(Error::Usage(format!("unknown command `{other}`"))),
    };
    match rest.first() {
        Some(extra) => Err(Error::Usage(format!(
            "`{command}` takes no arguments (got `{extra}`)",
            command = args[0]
        ))),
        None => Ok(command),
    }
}

/// Runs one parsed command.
fn run(command: Command) -> Result<()> {
    match command {
        Command::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Command::Nostd(options) => nostd::run(&options).map(|_| ()),
        Command::Release(options) => release::run(&options),
        Command::Features => features::run(),
        Command::Bench(options) => bench::run(&options),
        Command::FuzzSmoke => fuzz::run().map(|_| ()),
        Command::Soak(options) => soak::run(&options),
        Command::Ci(options) => ci::run(&options),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Usage(msg)) => {
            eprintln!("error: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Error::Failed(msg)) => {
            eprintln!("\nerror: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn commands_and_options() {
        assert_eq!(parse(&[]), Ok(Command::Help));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(
            parse(&["nostd"]),
            Ok(Command::Nostd(nostd::Options::default()))
        );
        assert_eq!(
            parse(&["nostd", "--target", "thumbv7em-none-eabihf"]),
            Ok(Command::Nostd(nostd::Options {
                target: Some("thumbv7em-none-eabihf".into())
            }))
        );
        assert!(matches!(
            parse(&["release", "--dry-run", "patch"]),
            Ok(Command::Release(_))
        ));
        assert_eq!(parse(&["features"]), Ok(Command::Features));
        assert_eq!(parse(&["fuzz-smoke"]), Ok(Command::FuzzSmoke));
        assert_eq!(
            parse(&["soak"]),
            Ok(Command::Soak(soak::Options { minutes: 5 }))
        );
        assert_eq!(
            parse(&["soak", "--minutes", "1"]),
            Ok(Command::Soak(soak::Options { minutes: 1 }))
        );
        assert_eq!(parse(&["ci"]), Ok(Command::Ci(ci::Options::default())));
        assert_eq!(
            parse(&["ci", "--skip-deny"]),
            Ok(Command::Ci(ci::Options {
                skip_deny: true,
                allow_dirty: false
            }))
        );
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(matches!(parse(&["bench", "--slow"]), Err(Error::Usage(_))));
        assert_eq!(
            parse(&["bench", "--quick"]),
            Ok(Command::Bench(bench::Options { quick: true }))
        );
        assert!(matches!(parse(&["ci", "--fast"]), Err(Error::Usage(_))));
        assert!(matches!(parse(&["nostd", "x"]), Err(Error::Usage(_))));
        assert!(matches!(
            parse(&["nostd", "--target"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(parse(&["release"]), Err(Error::Usage(_))));
        assert!(matches!(parse(&["soak", "--quick"]), Err(Error::Usage(_))));
        assert!(matches!(
            parse(&["soak", "--minutes", "0"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(parse(&["features", "x"]), Err(Error::Usage(_))));
        assert!(matches!(
            parse(&["fuzz-smoke", "--long"]),
            Err(Error::Usage(_))
        ));
    }
}
