//! `cargo xtask nostd`: the link-based proof that `kaifang-sign-core` needs neither `std` nor
//! `alloc`.
//!
//! Only the host target is installed, so there is no bare-metal target to build for. Instead,
//! `xtask/nostd-check` (its own workspace) is a `#![no_std]` staticlib with its own
//! `#[panic_handler]` and `panic = "abort"` that calls every public function of sign-core with
//! default features off. Building it links the whole API:
//!
//! - if `std` reaches the graph, its `panic_impl` lang item clashes with ours (E0152);
//! - if `alloc` reaches the graph, rustc finds no global allocator.
//!
//! A check that cannot fail proves nothing, so two canaries (`canary-std`, `canary-alloc`
//! features, which add `extern crate std` / `extern crate alloc`) must fail with exactly those
//! errors. Everything builds in `<target>/nostd-check`, inside the main target directory, so CI
//! caches one directory.

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use crate::process::{self, format_duration};
use crate::{Error, Result};

/// The check crate, relative to the workspace root.
const CHECK_DIR: &str = "xtask/nostd-check";

/// The staticlib the check crate produces, relative to its target directory.
const STATICLIB: &str = "release/libkaifang_nostd_check.a";

/// The archive member names of the check crate's own object (sign-core is LTO'd into it).
const CRATE_OBJECT_PREFIX: &str = "kaifang_nostd_check-";

/// A build that must fail, and how its failure must read.
struct Canary {
    /// The check crate's feature that breaks the build.
    feature: &'static str,
    /// What it smuggles in (`std` or `alloc`).
    smuggles: &'static str,
    /// Every one of these must appear in the compiler's error output.
    needles: &'static [&'static str],
}

/// The two canaries: std and alloc.
const CANARIES: [Canary; 2] = [
    Canary {
        feature: "canary-std",
        smuggles: "std",
        needles: &["duplicate lang item", "panic_impl"],
    },
    Canary {
        feature: "canary-alloc",
        smuggles: "alloc",
        needles: &["no global memory allocator found"],
    },
];

/// Runs the proof: the real build must pass, every canary must fail the expected way.
pub(crate) fn run() -> Result<()> {
    let root = process::repo_root()?;
    let dir = root.join(CHECK_DIR);
    let target = process::target_dir(&root).join("nostd-check");

    // The check crate is outside the main workspace, so `cargo fmt --all` does not see it.
    let mut fmt = process::cargo();
    fmt.current_dir(&dir).args(["fmt", "--check"]);
    process::run_inherit(&mut fmt)?;

    println!(
        "nostd: building {CHECK_DIR} (#![no_std] staticlib, panic=abort, sign-core default \
         features off)"
    );
    let start = Instant::now();
    let output = build(&dir, &target, None)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(Error::Failed(diagnose_failure(&stderr)));
    }
    if stderr.contains("warning") {
        eprintln!("{}", first_diagnostic(&stderr));
    }
    println!(
        "nostd: OK, every public function of kaifang-sign-core links without std or alloc ({})",
        format_duration(start.elapsed())
    );
    report_size(&target.join(STATICLIB));

    for canary in &CANARIES {
        check_canary(canary, &dir, &target)?;
    }
    Ok(())
}

/// `cargo build --release [--features <feature>]` in the check crate, output captured.
fn build(dir: &Path, target: &Path, feature: Option<&str>) -> Result<Output> {
    let mut cmd = process::cargo();
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--release"]);
    if let Some(feature) = feature {
        cmd.args(["--features", feature]);
    }
    process::run_captured(&mut cmd)
}

/// Builds one canary and requires it to fail with its expected error; prints that error.
fn check_canary(canary: &Canary, dir: &Path, target: &Path) -> Result<()> {
    let Canary {
        feature,
        smuggles,
        needles,
    } = canary;
    println!("canary: building with --features {feature} (adds `extern crate {smuggles};`)");
    let output = build(dir, target, Some(feature))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return Err(Error::Failed(format!(
            "the {feature} build SUCCEEDED: the no_std check cannot detect {smuggles}, so its \
             passing proves nothing. Check xtask/nostd-check (panic handler, profiles, features)."
        )));
    }
    if !is_expected_failure(&stderr, needles) {
        return Err(Error::Failed(format!(
            "the {feature} build failed, but not with the expected error (wanted {}):\n{stderr}",
            needles
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        )));
    }
    println!("canary: {smuggles} correctly detected; the compiler said:");
    for line in first_diagnostic(&stderr).lines() {
        println!("{}", format!("    {line}").trim_end());
    }
    Ok(())
}

/// Whether a failed build's output contains every expected phrase.
fn is_expected_failure(stderr: &str, needles: &[&str]) -> bool {
    needles.iter().all(|needle| stderr.contains(needle))
}

/// The error text of a failed build: from the first `error`/`warning` line on, without cargo's
/// progress lines (`Compiling ...`) before it.
fn first_diagnostic(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !(l.starts_with("error") || l.starts_with("warning")))
        .collect();
    lines.join("\n").trim_end().to_owned()
}

/// Explains a failed real build: std, alloc, or (most likely) an API change.
fn diagnose_failure(stderr: &str) -> String {
    let inspect = format!(
        "Inspect the features with `cargo tree -e features --manifest-path {CHECK_DIR}/Cargo.toml`."
    );
    let why = if is_expected_failure(stderr, CANARIES[0].needles) {
        format!(
            "std reached kaifang-sign-core's dependency graph (a dependency's `std` or default \
             feature is on). {inspect}"
        )
    } else if is_expected_failure(stderr, CANARIES[1].needles) {
        format!(
            "alloc reached kaifang-sign-core's dependency graph (an `alloc` feature is on). \
             {inspect}"
        )
    } else {
        format!(
            "if sign-core's public API changed, update {CHECK_DIR}/src/lib.rs so that it still \
             calls every public function"
        )
    };
    format!(
        "the no_std check crate failed to build: {why}\n\n{}",
        first_diagnostic(stderr)
    )
}

/// Prints the code size of the staticlib (informative only; never fails the command).
fn report_size(lib: &Path) {
    let file_size = std::fs::metadata(lib).map(|m| m.len()).ok();
    let sizes = process::run_captured(std::process::Command::new("size").arg(lib))
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| parse_size_output(&String::from_utf8_lossy(&out.stdout)));
    match (sizes, file_size) {
        (Some(sizes), _) => println!(
            "size: .text of sign-core's whole API (check crate object, LTO, opt-level=s): {} \
             bytes; whole archive incl. compiler_builtins: {} bytes (informative)",
            sizes.crate_text, sizes.total_text
        ),
        (None, Some(bytes)) => println!(
            "size: `size` (binutils) unavailable; {} is {bytes} bytes on disk, unused \
             compiler_builtins and metadata included (informative)",
            lib.display()
        ),
        (None, None) => println!("size: could not read {} (informative)", lib.display()),
    }
}

/// `.text` sizes summed from `size` (Berkeley format) over an archive.
#[derive(Debug, PartialEq, Eq)]
struct TextSizes {
    /// The check crate's own object, which holds sign-core after LTO.
    crate_text: u64,
    /// Every member of the archive.
    total_text: u64,
}

/// Parses `size <archive>` output: `text data bss dec hex filename (ex archive)` per member.
fn parse_size_output(stdout: &str) -> Option<TextSizes> {
    let mut sizes = TextSizes {
        crate_text: 0,
        total_text: 0,
    };
    let mut members = 0;
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(text), Some(name)) = (fields.first(), fields.get(5)) else {
            continue;
        };
        let Ok(text) = text.parse::<u64>() else {
            continue; // the header line
        };
        members += 1;
        sizes.total_text += text;
        if name.starts_with(CRATE_OBJECT_PREFIX) {
            sizes.crate_text += text;
        }
    }
    (members > 0 && sizes.crate_text > 0).then_some(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY_STD: &str = "   Compiling kaifang-nostd-check v0.0.0 (/w/xtask/nostd-check)
error[E0152]: found duplicate lang item `panic_impl`
  --> src/lib.rs:30:1
   = note: the lang item is first defined in crate `std`

error: could not compile `kaifang-nostd-check` (lib) due to 1 previous error
";

    #[test]
    fn canary_errors_are_recognised() {
        assert!(is_expected_failure(CANARY_STD, CANARIES[0].needles));
        assert!(!is_expected_failure(CANARY_STD, CANARIES[1].needles));
        assert!(!is_expected_failure(
            "error[E0425]: cannot find function `sign`",
            CANARIES[0].needles
        ));
    }

    #[test]
    fn the_diagnostic_starts_at_the_first_error() {
        let text = first_diagnostic(CANARY_STD);
        assert!(text.starts_with("error[E0152]: found duplicate lang item `panic_impl`"));
        assert!(text.ends_with("due to 1 previous error"));
        assert!(diagnose_failure(CANARY_STD).contains("std reached"));
    }

    #[test]
    fn size_output_is_summed() {
        let out = "   text\t   data\t    bss\t    dec\t    hex\tfilename
  83072\t    802\t      0\t  83874\t  147a2\tkaifang_nostd_check-fce5.kaifang_nostd_check.6a4d-cgu.0.rcgu.o (ex lib.a)
   3781\t     48\t      0\t   3829\t    ef5\tcompiler_builtins-27cf.compiler_builtins.4e30-cgu.000.rcgu.o (ex lib.a)
";
        assert_eq!(
            parse_size_output(out),
            Some(TextSizes {
                crate_text: 83072,
                total_text: 86853
            })
        );
        assert_eq!(
            parse_size_output("size: lib.a: file format not recognized"),
            None
        );
    }
}
