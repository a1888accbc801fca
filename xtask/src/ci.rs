//! `cargo xtask ci`: every check CI runs, in CI's order, so that developers can run the same
//! thing locally. `.ci/run` installs the tools and then calls this.
//!
//! Steps: fmt, clippy (`-D warnings`), the facade's feature matrix (`cargo xtask features`),
//! tests, the fuzz targets' smoke run (`cargo xtask fuzz-smoke`), the `no_std` proof and the
//! `thumbv7em-none-eabihf` build, docs (`-D warnings`), cargo-deny (licences, bans, sources;
//! never advisories, which need the network), building the benchmarks, and the release dry run
//! (`cargo xtask release --dry-run --skip-tests patch`: metadata, publish order, every crate
//! packaged and verified; the tests ran earlier in the job). Each step prints a header and its
//! duration; the first failure stops the run.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{self, format_duration};
use crate::{Error, Result, features, fuzz, nostd, release};

/// Options of `cargo xtask ci`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Skip `cargo deny` instead of failing when cargo-deny is not installed.
    pub(crate) skip_deny: bool,
    /// Let the release dry run package uncommitted changes (local runs; CI's checkout is clean).
    pub(crate) allow_dirty: bool,
}

/// What a step does.
enum Action {
    /// A cargo command with extra environment variables.
    Cargo {
        /// The arguments after `cargo`.
        args: &'static [&'static str],
        /// Environment variables set for this command only.
        env: &'static [(&'static str, &'static str)],
    },
    /// `cargo xtask features`, called in-process.
    Features,
    /// `cargo xtask fuzz-smoke`, called in-process.
    FuzzSmoke,
    /// `cargo xtask nostd`, called in-process.
    Nostd,
    /// `cargo xtask nostd --target <triple>`, called in-process.
    NostdCross(&'static str),
    /// `cargo xtask release --dry-run --skip-tests patch`, called in-process.
    ReleaseDryRun,
    /// `cargo deny check licenses bans sources`, if cargo-deny is installed.
    Deny,
}

/// One CI step.
struct Step {
    /// The step's name in headers and the summary.
    name: &'static str,
    /// What it runs.
    action: Action,
}

/// The arguments of the cargo-deny step (advisories are left out: they need the network).
const DENY_ARGS: &[&str] = &["deny", "check", "licenses", "bans", "sources"];

/// The steps, in order. `.ci/run` relies on this list being the whole of CI.
const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        action: Action::Cargo {
            args: &["fmt", "--all", "--check"],
            env: &[],
        },
    },
    Step {
        name: "clippy",
        action: Action::Cargo {
            args: &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
        },
    },
    Step {
        name: "features",
        action: Action::Features,
    },
    Step {
        name: "test",
        action: Action::Cargo {
            args: &["test", "--workspace"],
            env: &[],
        },
    },
    Step {
        name: "fuzz-smoke",
        action: Action::FuzzSmoke,
    },
    Step {
        name: "nostd",
        action: Action::Nostd,
    },
    Step {
        name: "nostd thumbv7em",
        action: Action::NostdCross(nostd::THUMBV7EM),
    },
    Step {
        name: "doc",
        action: Action::Cargo {
            args: &["doc", "--workspace", "--no-deps"],
            env: &[("RUSTDOCFLAGS", "-D warnings")],
        },
    },
    Step {
        name: "deny",
        action: Action::Deny,
    },
    Step {
        name: "bench (build only)",
        action: Action::Cargo {
            args: &["bench", "--workspace", "--no-run"],
            env: &[],
        },
    },
    Step {
        name: "release dry run",
        action: Action::ReleaseDryRun,
    },
];

/// Runs every step in order, stopping at the first failure.
pub(crate) fn run(options: &Options) -> Result<()> {
    let root = process::repo_root()?;
    let total = Instant::now();
    let mut done: Vec<(&str, Duration, &str)> = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let description = describe(step);
        println!(
            "\n==> [{}/{}] {}: {description}",
            i + 1,
            STEPS.len(),
            step.name
        );
        let start = Instant::now();
        let outcome = match &step.action {
            Action::Cargo { args, env } => {
                let mut cmd = process::cargo();
                cmd.current_dir(&root).args(*args).envs(env.iter().copied());
                process::run_inherit(&mut cmd).map(|()| "ok")
            }
            Action::Features => features::run().map(|()| "ok"),
            Action::FuzzSmoke => fuzz::run(),
            Action::Nostd => nostd::run(&nostd::Options::default()),
            Action::NostdCross(triple) => nostd::run(&nostd::Options {
                target: Some((*triple).to_owned()),
            }),
            Action::ReleaseDryRun => release::run(&release::Options {
                dry_run: true,
                allow_dirty: options.allow_dirty,
                skip_tests: true,
                no_verify: false,
                bump: release::Bump::Patch,
            })
            .map(|()| "ok"),
            Action::Deny => deny(&root, options),
        };
        let elapsed = start.elapsed();
        match outcome {
            Ok(result) => {
                println!(
                    "<== {}: {result} in {}",
                    step.name,
                    format_duration(elapsed)
                );
                done.push((step.name, elapsed, result));
            }
            Err(err) => {
                return Err(Error::Failed(format!(
                    "CI step {}/{} `{}` failed after {} (steps after it did not run):\n{err}",
                    i + 1,
                    STEPS.len(),
                    step.name,
                    format_duration(elapsed)
                )));
            }
        }
    }
    println!(
        "\nci: all steps passed in {}",
        format_duration(total.elapsed())
    );
    for (name, elapsed, result) in done {
        println!("  {name:<20} {result:<8} {:>8}", format_duration(elapsed));
    }
    Ok(())
}

/// The command line a step runs, for its header.
fn describe(step: &Step) -> String {
    match &step.action {
        Action::Cargo { args, env } => {
            let mut cmd = Command::new("cargo");
            cmd.args(*args).envs(env.iter().copied());
            process::display(&cmd)
        }
        Action::Features => "cargo xtask features".to_owned(),
        Action::FuzzSmoke => "cargo xtask fuzz-smoke".to_owned(),
        Action::Nostd => "cargo xtask nostd".to_owned(),
        Action::NostdCross(triple) => format!("cargo xtask nostd --target {triple}"),
        Action::ReleaseDryRun => "cargo xtask release --dry-run --skip-tests patch".to_owned(),
        Action::Deny => format!("cargo {}", DENY_ARGS.join(" ")),
    }
}

/// The cargo-deny step: runs it if installed; otherwise fails, or skips with `--skip-deny`.
fn deny(root: &std::path::Path, options: &Options) -> Result<&'static str> {
    let version = process::run_captured(process::cargo().args(["deny", "--version"]))
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    let Some(version) = version else {
        if options.skip_deny {
            println!("cargo-deny is not installed; skipped (--skip-deny)");
            return Ok("skipped");
        }
        return Err(Error::Failed(
            "cargo-deny is not installed. Install it with `cargo install --locked cargo-deny` \
             (.ci/run pins the version CI uses), or pass --skip-deny to skip this step."
                .to_owned(),
        ));
    };
    println!("using {version}");
    let mut cmd = process::cargo();
    cmd.current_dir(root).args(DENY_ARGS);
    process::run_inherit(&mut cmd).map(|()| "ok")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_cis_steps_in_order() {
        let described: Vec<String> = STEPS.iter().map(describe).collect();
        assert_eq!(
            described,
            [
                "cargo fmt --all --check",
                "cargo clippy --workspace --all-targets -- -D warnings",
                "cargo xtask features",
                "cargo test --workspace",
                "cargo xtask fuzz-smoke",
                "cargo xtask nostd",
                "cargo xtask nostd --target thumbv7em-none-eabihf",
                "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps",
                "cargo deny check licenses bans sources",
                "cargo bench --workspace --no-run",
                "cargo xtask release --dry-run --skip-tests patch",
            ]
        );
    }
}
