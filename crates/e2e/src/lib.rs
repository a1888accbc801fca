//! Support for kaifang's end-to-end and interop tests (the tests are in `tests/`).
//!
//! Tests that need an outside program (python with packages, node, mosquitto, curl, chromium)
//! ask [`require`] / [`python_with`] for it. When it is missing they skip with a loud message,
//! unless `KAIFANG_REQUIRE_EXTERNAL=1` (set by `.ci/run` after installing everything), where a
//! missing program fails the test instead.
//!
//! Conventions shared with `.ci/run`:
//! - `KAIFANG_PYTHON`: the Python interpreter with the interop packages (`.ci/run` makes a venv
//!   in `target/ci-venv` and points this at it); default `python3`.
//! - `KAIFANG_NODE_MODULES`: a `node_modules` directory holding `oauth2-mock-server`
//!   (`.ci/run` installs it into `target/ci-npm`).
//! - `KAIFANG_SHARED`: where the shared seed documents are; default `../shared` beside the
//!   checkout (the seeds' own code is extracted from them at run time, never copied here).

mod redis;
pub use redis::RedisServer;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Whether missing external programs must fail the test (`KAIFANG_REQUIRE_EXTERNAL=1`).
pub fn external_required() -> bool {
    std::env::var("KAIFANG_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Reports a missing external dependency: `None` after a loud skip message, or a failure
/// (`Err`) when external programs are required. Use as
/// `let Some(x) = skip_or_fail("...")? else { return Ok(()) };` or match on it.
///
/// # Errors
/// When `KAIFANG_REQUIRE_EXTERNAL=1`.
pub fn missing<T>(what: &str) -> Result<Option<T>, String> {
    if external_required() {
        Err(format!(
            "KAIFANG_REQUIRE_EXTERNAL=1 but {what} is not available"
        ))
    } else {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: {what} is not available (set KAIFANG_REQUIRE_EXTERNAL=1 to make this a failure) !!!!!!!!\n"
        );
        Ok(None)
    }
}

/// The path of `program` on `PATH`, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// `program` when it is on `PATH`; otherwise see [`missing`].
///
/// # Errors
/// When it is missing and `KAIFANG_REQUIRE_EXTERNAL=1`.
pub fn require(program: &str) -> Result<Option<PathBuf>, String> {
    match which(program) {
        Some(p) => Ok(Some(p)),
        None => missing(&format!("the program `{program}`")),
    }
}

/// A Python interpreter that can import every module in `modules`; otherwise see [`missing`].
///
/// # Errors
/// When none is found and `KAIFANG_REQUIRE_EXTERNAL=1`.
pub fn python_with(modules: &[&str]) -> Result<Option<PathBuf>, String> {
    let python =
        std::env::var_os("KAIFANG_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let probe = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = Command::new(&python)
        .args(["-c", &probe])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(Some(python))
    } else {
        missing(&format!(
            "a Python ({}) with the modules {modules:?}",
            python.display()
        ))
    }
}

/// The shared seed documents' folder (`KAIFANG_SHARED`, default `../shared` beside the
/// checkout); otherwise see [`missing`].
///
/// # Errors
/// When it is missing and `KAIFANG_REQUIRE_EXTERNAL=1`.
pub fn shared_dir() -> Result<Option<PathBuf>, String> {
    let dir = std::env::var_os("KAIFANG_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    if dir.join("seeds").is_dir() {
        Ok(Some(dir))
    } else {
        missing(&format!(
            "the shared seed documents at {} (../shared beside the checkout)",
            dir.display()
        ))
    }
}

/// The seed document whose name starts with `prefix` (e.g. `000_`).
///
/// # Errors
/// When the seeds are missing and required, or no file has that prefix.
pub fn seed(prefix: &str) -> Result<Option<String>, String> {
    let Some(dir) = shared_dir()? else {
        return Ok(None);
    };
    let entries = std::fs::read_dir(dir.join("seeds")).map_err(|e| e.to_string())?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            return std::fs::read_to_string(entry.path())
                .map(Some)
                .map_err(|e| e.to_string());
        }
    }
    Err(format!("no seed document starting with {prefix}"))
}

/// The fenced code blocks of a Markdown document with the given language tag, in order.
pub fn code_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed.starts_with("```")
                && trimmed.trim_start_matches('`').trim() == lang =>
            {
                current = Some(String::new());
            }
            Some(block) if trimmed.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// One multi-threaded tokio runtime shared by all the tests of a test binary.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cannot start the shared tokio runtime: {e}");
                std::process::abort()
            }
        }
    })
}

/// The README's Rust blocks (the quickstarts of every platform, the sandbox in tests, firmware
/// signing), compiled and run as doctests by `cargo test --workspace`, so that the README never
/// shows code that does not work.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
