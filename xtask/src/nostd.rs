//! `cargo xtask nostd`: the link-based proof that `kaifang-sign-core` needs neither `std` nor
//! `alloc`, and that the firmware example (`kaifang-proto-device` with `alloc`) needs no `std`.
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
//!
//! `cargo xtask nostd --target <triple>` (CI: `thumbv7em-none-eabihf`, a Cortex-M4F) builds the
//! same two check crates for a real bare-metal target with `cargo +nightly build
//! -Zbuild-std=core,alloc --release` (no prebuilt standard library is needed, only the nightly
//! `rust-src` component) in `<target>/nostd-cross`, and reports their `.text` sizes. Without the
//! nightly toolchain or its `rust-src` it skips loudly, or fails with
//! `KAIFANG_REQUIRE_EXTERNAL=1`.

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use crate::process::{self, cargo_nightly, format_duration, require_external};
use crate::{Error, Result};

/// A `#![no_std]` link check: a staticlib crate in its own workspace, and the canaries that
/// must break it.
struct Check {
    /// What it proves, for the log.
    what: &'static str,
    /// The crate, relative to the workspace root.
    dir: &'static str,
    /// Its target directory, under the main target directory.
    target: &'static str,
    /// The staticlib it produces, relative to its target directory.
    staticlib: &'static str,
    /// The archive member names of the crate's own object (its dependencies are LTO'd into it).
    object_prefix: &'static str,
    /// Builds that must fail.
    canaries: &'static [Canary],
}

/// A build that must fail, and how its failure must read.
struct Canary {
    /// The check crate's feature that breaks the build.
    feature: &'static str,
    /// What it smuggles in (`std` or `alloc`).
    smuggles: &'static str,
    /// Every one of these must appear in the compiler's error output.
    needles: &'static [&'static str],
}

/// std smuggled in: the duplicate `panic_impl` lang item.
const STD_NEEDLES: &[&str] = &["duplicate lang item", "panic_impl"];
/// alloc smuggled in: no global allocator.
const ALLOC_NEEDLES: &[&str] = &["no global memory allocator found"];

/// sign-core: no std, no alloc.
const SIGN_CORE: Check = Check {
    what: "every public function of kaifang-sign-core links without std or alloc",
    dir: "xtask/nostd-check",
    target: "nostd-check",
    staticlib: "release/libkaifang_nostd_check.a",
    object_prefix: "kaifang_nostd_check-",
    canaries: &[
        Canary {
            feature: "canary-std",
            smuggles: "std",
            needles: STD_NEEDLES,
        },
        Canary {
            feature: "canary-alloc",
            smuggles: "alloc",
            needles: ALLOC_NEEDLES,
        },
    ],
};

/// The firmware example: kaifang-proto-device with `alloc` but no std (it needs alloc on purpose,
/// so there is no alloc canary).
const FIRMWARE: Check = Check {
    what: "the firmware example (kaifang-proto-device, no_std + alloc) links without std",
    dir: "examples/firmware",
    target: "firmware",
    staticlib: "release/libkaifang_firmware_example.a",
    object_prefix: "kaifang_firmware_example-",
    canaries: &[
        Canary {
            feature: "canary-std",
            smuggles: "std",
            needles: STD_NEEDLES,
        },
        Canary {
            feature: "canary-device-std",
            smuggles: "std (through kaifang-proto-device's `std` feature)",
            needles: STD_NEEDLES,
        },
    ],
};

/// Every check `cargo xtask nostd` runs.
const CHECKS: [Check; 2] = [SIGN_CORE, FIRMWARE];

/// The bare-metal target CI builds for (`cargo xtask nostd --target thumbv7em-none-eabihf`).
pub(crate) const THUMBV7EM: &str = "thumbv7em-none-eabihf";

/// Options of `cargo xtask nostd`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// `--target <triple>`: build the check crates for this target with nightly's `build-std`
    /// instead of running the host proof.
    pub(crate) target: Option<String>,
}

/// Runs every proof (each real build must pass, every canary must fail the expected way), or
/// with `--target` the cross builds. `"ok"`, or `"skipped"` when a cross build's tools are
/// missing (and allowed to be).
pub(crate) fn run(options: &Options) -> Result<&'static str> {
    let root = process::repo_root()?;
    if let Some(triple) = &options.target {
        return run_cross(&root, triple);
    }
    for check in &CHECKS {
        run_check(check, &root)?;
    }
    Ok("ok")
}

/// Why the cross build cannot run here, if it cannot: no nightly toolchain, or no `rust-src`
/// for it (`-Zbuild-std` compiles core and alloc from those sources).
fn missing_cross_tools() -> Option<String> {
    let nightly = process::run_captured(cargo_nightly().arg("--version"))
        .ok()
        .is_some_and(|out| out.status.success());
    if !nightly {
        return Some(
            "the nightly toolchain is not installed (`rustup toolchain install nightly \
             --profile minimal`)"
                .into(),
        );
    }
    let components = process::run_captured(std::process::Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]));
    match components {
        Ok(out) if out.status.success() => {
            let listed = String::from_utf8_lossy(&out.stdout);
            if has_rust_src(&listed) {
                None
            } else {
                Some(
                    "the nightly `rust-src` component is not installed (`rustup component add \
                     rust-src --toolchain nightly`)"
                        .into(),
                )
            }
        }
        _ => {
            Some("`rustup component list --toolchain nightly` failed (is rustup installed?)".into())
        }
    }
}

/// Whether `rustup component list --installed` output lists `rust-src`.
fn has_rust_src(listed: &str) -> bool {
    listed.lines().any(|line| line.trim() == "rust-src")
}

/// `cargo xtask nostd --target <triple>`: both check crates built for a bare-metal target, with
/// their `.text` sizes.
fn run_cross(root: &Path, triple: &str) -> Result<&'static str> {
    if let Some(why) = missing_cross_tools() {
        if require_external() {
            return Err(Error::Failed(format!(
                "nostd --target {triple}: {why}; KAIFANG_REQUIRE_EXTERNAL=1 makes this a failure"
            )));
        }
        println!(
            "\n!!!!!!!! SKIPPED nostd --target {triple}: {why} (set KAIFANG_REQUIRE_EXTERNAL=1 to \
             make this a failure) !!!!!!!!\n"
        );
        return Ok("skipped");
    }
    for check in &CHECKS {
        println!(
            "nostd: building {} for {triple} (cargo +nightly build -Zbuild-std=core,alloc \
             --release)",
            check.dir
        );
        let start = Instant::now();
        let lib = cross_build(check, root, triple)?;
        println!(
            "nostd: OK, {} builds for {triple} ({})",
            check.dir,
            format_duration(start.elapsed())
        );
        report_size(&lib, check.object_prefix);
    }
    Ok("ok")
}

/// Builds one check crate for `triple` with nightly's `-Zbuild-std=core,alloc` in
/// `<target>/nostd-cross` (shared by both crates: same profile, so core and alloc build once);
/// returns the staticlib's path.
fn cross_build(check: &Check, root: &Path, triple: &str) -> Result<std::path::PathBuf> {
    let target = process::target_dir(root).join("nostd-cross");
    let mut cmd = cargo_nightly();
    cmd.current_dir(root.join(check.dir))
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "build",
            "--release",
            "-Zbuild-std=core,alloc",
            "--target",
            triple,
        ]);
    let output = process::run_captured(&mut cmd)?;
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "`{}` failed for {triple}:\n{}",
            process::display(&cmd),
            first_diagnostic(&String::from_utf8_lossy(&output.stderr))
        )));
    }
    Ok(target.join(triple).join(check.staticlib))
}

/// Runs one proof.
fn run_check(check: &Check, root: &Path) -> Result<()> {
    let dir = root.join(check.dir);
    let target = process::target_dir(root).join(check.target);

    // The check crate is outside the main workspace, so `cargo fmt --all` does not see it.
    let mut fmt = process::cargo();
    fmt.current_dir(&dir).args(["fmt", "--check"]);
    process::run_inherit(&mut fmt)?;

    println!(
        "nostd: building {} (#![no_std] staticlib, panic=abort)",
        check.dir
    );
    let start = Instant::now();
    let output = build(&dir, &target, None)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(Error::Failed(diagnose_failure(check, &stderr)));
    }
    if stderr.contains("warning") {
        eprintln!("{}", first_diagnostic(&stderr));
    }
    println!(
        "nostd: OK, {} ({})",
        check.what,
        format_duration(start.elapsed())
    );
    report_size(&target.join(check.staticlib), check.object_prefix);

    for canary in check.canaries {
        check_canary(canary, check, &dir, &target)?;
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
fn check_canary(canary: &Canary, check: &Check, dir: &Path, target: &Path) -> Result<()> {
    let Canary {
        feature,
        smuggles,
        needles,
    } = canary;
    println!("canary: building with --features {feature} (smuggles in {smuggles})");
    let output = build(dir, target, Some(feature))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return Err(Error::Failed(format!(
            "the {feature} build SUCCEEDED: the no_std check cannot detect {smuggles}, so its \
             passing proves nothing. Check {} (panic handler, profiles, features).",
            check.dir
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
fn diagnose_failure(check: &Check, stderr: &str) -> String {
    let dir = check.dir;
    let inspect = format!(
        "Inspect the features with `cargo tree -e features --manifest-path {dir}/Cargo.toml`."
    );
    let why = if is_expected_failure(stderr, STD_NEEDLES) {
        format!(
            "std reached {dir}'s dependency graph (a dependency's `std` or default feature is \
             on). {inspect}"
        )
    } else if is_expected_failure(stderr, ALLOC_NEEDLES) {
        format!("alloc reached {dir}'s dependency graph (an `alloc` feature is on). {inspect}")
    } else {
        format!(
            "if the public API it calls changed, update {dir}/src/lib.rs so that it still \
             calls every public function"
        )
    };
    format!(
        "the no_std check crate failed to build: {why}\n\n{}",
        first_diagnostic(stderr)
    )
}

/// The `.text` bytes of kaifang-sign-core as firmware links it: the check staticlib (every
/// public function called, dependencies LTO'd into the check crate's object), for the host, or
/// for `cross` (e.g. `thumbv7em-none-eabihf`) with the nightly toolchain and `-Zbuild-std`.
pub(crate) fn sign_core_text(root: &Path, cross: Option<&str>) -> Result<u64> {
    let lib = match cross {
        None => {
            let dir = root.join(SIGN_CORE.dir);
            let base = process::target_dir(root).join(SIGN_CORE.target);
            let output = build(&dir, &base, None)?;
            if !output.status.success() {
                return Err(Error::Failed(first_diagnostic(&String::from_utf8_lossy(
                    &output.stderr,
                ))));
            }
            base.join(SIGN_CORE.staticlib)
        }
        Some(triple) => cross_build(&SIGN_CORE, root, triple)?,
    };
    let out = process::run_captured(std::process::Command::new("size").arg(&lib))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "`size {}` failed: {}",
            lib.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_size_output(
        &String::from_utf8_lossy(&out.stdout),
        SIGN_CORE.object_prefix,
    )
    .map(|s| s.crate_text)
    .ok_or_else(|| Error::Failed(format!("no .text sizes in `size {}`", lib.display())))
}

/// Prints the code size of the staticlib (informative only; never fails the command).
fn report_size(lib: &Path, object_prefix: &str) {
    let file_size = std::fs::metadata(lib).map(|m| m.len()).ok();
    let sizes = process::run_captured(std::process::Command::new("size").arg(lib))
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| parse_size_output(&String::from_utf8_lossy(&out.stdout), object_prefix));
    match (sizes, file_size) {
        (Some(sizes), _) => println!(
            "size: .text of the check crate's object (its dependencies LTO'd in): {} bytes; \
             whole archive incl. compiler_builtins: {} bytes (informative)",
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
fn parse_size_output(stdout: &str, object_prefix: &str) -> Option<TextSizes> {
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
        if name.starts_with(object_prefix) {
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
        assert!(is_expected_failure(CANARY_STD, STD_NEEDLES));
        assert!(!is_expected_failure(CANARY_STD, ALLOC_NEEDLES));
        assert!(!is_expected_failure(
            "error[E0425]: cannot find function `sign`",
            STD_NEEDLES
        ));
    }

    #[test]
    fn the_diagnostic_starts_at_the_first_error() {
        let text = first_diagnostic(CANARY_STD);
        assert!(text.starts_with("error[E0152]: found duplicate lang item `panic_impl`"));
        assert!(text.ends_with("due to 1 previous error"));
        assert!(diagnose_failure(&SIGN_CORE, CANARY_STD).contains("std reached"));
    }

    #[test]
    fn rust_src_is_found_in_the_component_list() {
        let listed = "cargo-x86_64-unknown-linux-gnu\nrust-src\nrustc-x86_64-unknown-linux-gnu\n";
        assert!(has_rust_src(listed));
        assert!(!has_rust_src(
            "cargo-x86_64-unknown-linux-gnu\nrust-std-x86_64-unknown-linux-gnu\n"
        ));
    }

    #[test]
    fn size_output_is_summed() {
        let out = "   text\t   data\t    bss\t    dec\t    hex\tfilename
  83072\t    802\t      0\t  83874\t  147a2\tkaifang_nostd_check-fce5.kaifang_nostd_check.6a4d-cgu.0.rcgu.o (ex lib.a)
   3781\t     48\t      0\t   3829\t    ef5\tcompiler_builtins-27cf.compiler_builtins.4e30-cgu.000.rcgu.o (ex lib.a)
";
        assert_eq!(
            parse_size_output(out, SIGN_CORE.object_prefix),
            Some(TextSizes {
                crate_text: 83072,
                total_text: 86853
            })
        );
        assert_eq!(
            parse_size_output("size: lib.a: file format not recognized", "x-"),
            None
        );
    }
}
