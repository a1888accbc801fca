//! `cargo xtask features`: the feature matrix of the `kaifang` facade. Every combination a user
//! can pick must build on its own, because cargo's feature unification hides a missing
//! `#[cfg(feature = …)]` or a dependency feature in any build that happens to enable more (the
//! workspace build, `--all-features`, the examples).
//!
//! The combinations: no features at all; for each platform P, `P`, `P,blocking` and `P,async`;
//! then `blocking`, `async`, `sandbox` and `full` alone. Each is
//! `cargo check -p kaifang --no-default-features --features …`, run one after the other in the
//! one (default) target directory, so the dependencies are checked once and reused. Every
//! combination runs even after a failure; the error names each one that broke.

use std::time::{Duration, Instant};

use crate::process::{self, format_duration};
use crate::{Error, Result};

/// The facade's package name.
const PACKAGE: &str = "kaifang";

/// The platform features; each is checked alone and with each transport.
const PLATFORMS: &[&str] = &["tianyi", "zhiyun", "device", "tf56", "ilab"];

/// The transport features, combined with each platform.
const TRANSPORTS: &[&str] = &["blocking", "async"];

/// The features also checked on their own (besides the platforms).
const ALONE: &[&str] = &["blocking", "async", "sandbox", "redis", "full"];

/// The feature lists to check, in order; the empty list is `--no-default-features` alone.
pub(crate) fn combinations() -> Vec<String> {
    let mut all = vec![String::new()];
    for platform in PLATFORMS {
        all.push((*platform).to_owned());
        for transport in TRANSPORTS {
            all.push(format!("{platform},{transport}"));
        }
    }
    all.extend(ALONE.iter().map(|f| (*f).to_owned()));
    all
}

/// The cargo arguments checking one combination.
pub(crate) fn check_args(features: &str) -> Vec<&str> {
    let mut args = vec!["check", "-p", PACKAGE, "--no-default-features"];
    if !features.is_empty() {
        args.extend(["--features", features]);
    }
    args
}

/// A combination's name in the output: its features, or `(none)`.
fn label(features: &str) -> &str {
    if features.is_empty() {
        "(none)"
    } else {
        features
    }
}

/// Checks every combination; fails naming the ones that did not build.
pub(crate) fn run() -> Result<()> {
    let root = process::repo_root()?;
    let combinations = combinations();
    let total = Instant::now();
    let mut results: Vec<(&str, Duration, bool)> = Vec::with_capacity(combinations.len());
    for (i, features) in combinations.iter().enumerate() {
        let mut cmd = process::cargo();
        cmd.current_dir(&root).args(check_args(features));
        println!(
            "\n--> features {}/{} [{}]: {}",
            i + 1,
            combinations.len(),
            label(features),
            process::display(&cmd)
        );
        let start = Instant::now();
        let outcome = process::run_inherit(&mut cmd);
        let elapsed = start.elapsed();
        match &outcome {
            Ok(()) => println!(
                "<-- [{}] ok in {}",
                label(features),
                format_duration(elapsed)
            ),
            Err(err) => println!(
                "<-- [{}] FAILED in {}: {err}",
                label(features),
                format_duration(elapsed)
            ),
        }
        results.push((features, elapsed, outcome.is_ok()));
    }
    println!(
        "\nfeatures: {} combinations of `{PACKAGE}` in {}",
        results.len(),
        format_duration(total.elapsed())
    );
    for (features, elapsed, ok) in &results {
        let status = if *ok { "ok" } else { "FAILED" };
        println!(
            "  {:<20} {status:<8} {:>8}",
            label(features),
            format_duration(*elapsed)
        );
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, _, ok)| !ok)
        .map(|(features, _, _)| *features)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|f| label(f)).collect();
    let commands: Vec<String> = failed
        .iter()
        .map(|f| format!("  cargo {}", check_args(f).join(" ")))
        .collect();
    Err(Error::Failed(format!(
        "{} of {} feature combinations of `{PACKAGE}` do not build: {} (the cargo output above \
         says why). Reproduce with:\n{}",
        failed.len(),
        results.len(),
        names.join("; "),
        commands.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix() {
        let all = combinations();
        assert_eq!(
            all,
            [
                "",
                "tianyi",
                "tianyi,blocking",
                "tianyi,async",
                "zhiyun",
                "zhiyun,blocking",
                "zhiyun,async",
                "device",
                "device,blocking",
                "device,async",
                "tf56",
                "tf56,blocking",
                "tf56,async",
                "ilab",
                "ilab,blocking",
                "ilab,async",
                "blocking",
                "async",
                "sandbox",
                "redis",
                "full",
            ]
        );
    }

    #[test]
    fn the_command_lines() {
        assert_eq!(
            check_args(""),
            ["check", "-p", "kaifang", "--no-default-features"]
        );
        assert_eq!(
            check_args("tf56,async"),
            [
                "check",
                "-p",
                "kaifang",
                "--no-default-features",
                "--features",
                "tf56,async"
            ]
        );
    }

    #[test]
    fn every_feature_of_the_facade_is_in_the_matrix() {
        let manifest = std::fs::read_to_string(
            process::repo_root()
                .unwrap()
                .join("crates/facade/Cargo.toml"),
        )
        .unwrap();
        let features = manifest
            .split("[features]")
            .nth(1)
            .unwrap()
            .split("\n[")
            .next()
            .unwrap();
        let declared: Vec<&str> = features
            .lines()
            .filter_map(|line| line.split_once(" = ").map(|(name, _)| name.trim()))
            .filter(|name| *name != "default")
            .collect();
        let checked = combinations();
        for feature in &declared {
            assert!(
                checked.iter().any(|c| c.split(',').any(|f| f == *feature)),
                "the facade's feature `{feature}` is not in the matrix"
            );
        }
        assert!(declared.len() >= 9, "{declared:?}");
    }
}
