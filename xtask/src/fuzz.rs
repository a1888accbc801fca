//! `cargo xtask fuzz-smoke`: builds every cargo-fuzz target of `fuzz/` (and `fuzz/nostd/`) and
//! runs each for a few seconds over its committed corpus, so that a target that no longer builds,
//! or an input of the corpus that crashes again, fails CI. Real fuzzing is `cargo +nightly fuzz
//! run <target>` (see `fuzz/README.md`).
//!
//! cargo-fuzz needs the nightly toolchain (`cargo +nightly`) and the `cargo-fuzz` binary. When
//! either is missing the step is skipped with a loud message, unless `KAIFANG_REQUIRE_EXTERNAL=1`
//! (set by `.ci/run`, which installs cargo-fuzz), where it fails. The fuzz builds go to their
//! own target directory (`target/fuzz` under the main one) so that they never invalidate the
//! main build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::process::{self, cargo_nightly, format_duration, require_external};
use crate::{Error, Result};

/// One cargo-fuzz directory and its targets.
struct FuzzDir {
    /// The directory under the workspace root (`--fuzz-dir`).
    dir: &'static str,
    /// Its targets, each with a corpus in `fuzz/corpus/<target>/`.
    targets: &'static [&'static str],
}

/// Every fuzz target. `device_response_nostd` lives in its own directory because it builds
/// proto-device without `std`, which the main fuzz crate (it needs `server`) cannot.
const DIRS: &[FuzzDir] = &[
    FuzzDir {
        dir: "fuzz",
        targets: &[
            "tianyi_response",
            "zhiyun_response",
            "device_response",
            "tf56_response",
            "ilab_response",
            "sandbox_verifiers",
            "xxtea_decrypt",
            "percent_decode",
            "form_query",
            "jwt_claims",
        ],
    },
    FuzzDir {
        dir: "fuzz/nostd",
        targets: &["device_response_nostd"],
    },
];

/// Seconds each target runs (`-max_total_time`).
const SMOKE_SECONDS: u32 = 5;

/// The reason the fuzz tools cannot run, if any.
fn missing_tools() -> Option<String> {
    let nightly = process::run_captured(cargo_nightly().arg("--version"))
        .ok()
        .is_some_and(|out| out.status.success());
    if !nightly {
        return Some(
            "the nightly toolchain is not installed (`rustup toolchain install nightly`)".into(),
        );
    }
    let fuzz = process::run_captured(cargo_nightly().args(["fuzz", "--version"]))
        .ok()
        .is_some_and(|out| out.status.success());
    if !fuzz {
        return Some("cargo-fuzz is not installed (`cargo install --locked cargo-fuzz`)".into());
    }
    None
}

/// The command for one target: build (first call) or run it `SMOKE_SECONDS` over its corpus.
fn fuzz_command(root: &Path, target_dir: &Path, dir: &str, args: &[&str]) -> Command {
    let mut cmd = cargo_nightly();
    cmd.current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .arg("fuzz")
        .args(args.first().copied())
        .args(["--fuzz-dir", dir])
        .args(args.get(1..).unwrap_or_default());
    cmd
}

/// The arguments of `cargo fuzz run` for `target`: new inputs go to `scratch` (libFuzzer writes
/// only to its first corpus directory), the committed `corpus` is read; one process, in the
/// foreground, for `SMOKE_SECONDS`.
pub(crate) fn run_args(target: &str, scratch: &Path, corpus: &Path) -> Vec<String> {
    vec![
        "run".into(),
        target.into(),
        scratch.display().to_string(),
        corpus.display().to_string(),
        "--".into(),
        format!("-max_total_time={SMOKE_SECONDS}"),
    ]
}

/// `cargo xtask fuzz-smoke`: `"ok"`, or `"skipped"` when the tools are missing (and allowed to
/// be).
pub(crate) fn run() -> Result<&'static str> {
    if let Some(why) = missing_tools() {
        if require_external() {
            return Err(Error::Failed(format!(
                "fuzz-smoke: {why}; KAIFANG_REQUIRE_EXTERNAL=1 makes this a failure"
            )));
        }
        println!(
            "\n!!!!!!!! SKIPPED fuzz-smoke: {why} (set KAIFANG_REQUIRE_EXTERNAL=1 to make this a failure) !!!!!!!!\n"
        );
        return Ok("skipped");
    }
    let root = process::repo_root()?;
    let target_dir: PathBuf = process::target_dir(&root).join("fuzz");
    let total = Instant::now();
    let mut failed = Vec::new();
    for fuzz_dir in DIRS {
        println!("\n--> building the targets of {}", fuzz_dir.dir);
        process::run_inherit(&mut fuzz_command(
            &root,
            &target_dir,
            fuzz_dir.dir,
            &["build"],
        ))?;
        for target in fuzz_dir.targets {
            let corpus = root.join("fuzz/corpus").join(target);
            let scratch = target_dir.join("smoke-corpus").join(target);
            for dir in [&corpus, &scratch] {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Failed(format!("cannot create {}: {e}", dir.display())))?;
            }
            let args = run_args(target, &scratch, &corpus);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            println!(
                "\n--> {target} ({SMOKE_SECONDS}s over {})",
                corpus.display()
            );
            let start = Instant::now();
            let mut cmd = fuzz_command(&root, &target_dir, fuzz_dir.dir, &args);
            match process::run_inherit(&mut cmd) {
                Ok(()) => println!("<-- {target}: ok in {}", format_duration(start.elapsed())),
                Err(err) => {
                    println!("<-- {target}: FAILED");
                    failed.push(format!("{target}: {err}"));
                }
            }
        }
    }
    if failed.is_empty() {
        println!(
            "\nfuzz-smoke: every target ran in {}",
            format_duration(total.elapsed())
        );
        Ok("ok")
    } else {
        Err(Error::Failed(format!(
            "fuzz-smoke: {} target(s) failed (crash inputs are in fuzz/artifacts/<target>/):\n{}",
            failed.len(),
            failed.join("\n")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_a_source_and_a_corpus() {
        let root = process::repo_root().unwrap();
        for fuzz_dir in DIRS {
            let manifest =
                std::fs::read_to_string(root.join(fuzz_dir.dir).join("Cargo.toml")).unwrap();
            for target in fuzz_dir.targets {
                assert!(
                    root.join(fuzz_dir.dir)
                        .join("fuzz_targets")
                        .join(format!("{target}.rs"))
                        .is_file(),
                    "{target}"
                );
                assert!(
                    manifest.contains(&format!("name = \"{target}\"")),
                    "{target} is not a [[bin]] of {}",
                    fuzz_dir.dir
                );
                assert!(root.join("fuzz/corpus").join(target).is_dir(), "{target}");
            }
        }
    }

    #[test]
    fn smoke_runs_are_short_and_leave_the_corpus_alone() {
        let args = run_args(
            "jwt_claims",
            Path::new("/t/jwt_claims"),
            Path::new("/c/jwt_claims"),
        );
        assert_eq!(
            args,
            [
                "run",
                "jwt_claims",
                "/t/jwt_claims",
                "/c/jwt_claims",
                "--",
                "-max_total_time=5",
            ]
        );
    }
}
