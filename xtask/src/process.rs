//! Running external programs (cargo, `size`) and locating the workspace.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::{Error, Result};

/// The workspace root: the parent of this crate's directory.
pub(crate) fn repo_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::Failed("cannot find the workspace root above xtask/".into()))
}

/// The main workspace's target directory: `$CARGO_TARGET_DIR` if set, else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The cargo that runs us (`$CARGO`, set by `cargo run`), so every step uses one toolchain.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// `cargo +nightly` through the rustup proxy on `PATH` (not `$CARGO`, the stable toolchain's own
/// binary, which takes no `+toolchain`), without the outer cargo's toolchain variables.
pub(crate) fn cargo_nightly() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// Whether a missing outside tool must fail a command instead of skipping it
/// (`KAIFANG_REQUIRE_EXTERNAL=1`, set by `.ci/run`).
pub(crate) fn require_external() -> bool {
    std::env::var("KAIFANG_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// A shell-like rendering of a command (`KEY=value cargo args...`) for headers and errors.
pub(crate) fn display(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(key, value)| {
            value.map(|v| format!("{}={:?}", key.to_string_lossy(), v.to_string_lossy()))
        })
        .collect();
    let program = Path::new(cmd.get_program());
    // `$CARGO` is an absolute path into the toolchain; `cargo` reads better.
    parts.push(match program.file_stem() {
        Some(stem) if stem == "cargo" => "cargo".to_owned(),
        _ => program.to_string_lossy().into_owned(),
    });
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `cmd` with the terminal attached and fails unless it exits successfully.
pub(crate) fn run_inherit(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    let status = cmd
        .status()
        .map_err(|e| Error::Failed(format!("could not start `{shown}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Failed(format!("`{shown}` failed ({status})")))
    }
}

/// Runs `cmd` with its output captured; only failing to start it is an error.
pub(crate) fn run_captured(cmd: &mut Command) -> Result<Output> {
    cmd.output()
        .map_err(|e| Error::Failed(format!("could not start `{}`: {e}", display(cmd))))
}

/// `1.2s`, or `3m 04s` from a minute on.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(format_duration(Duration::from_secs(184)), "3m 04s");
    }

    #[test]
    fn commands_render_with_their_environment() {
        let mut cmd = Command::new("/some/toolchain/bin/cargo");
        cmd.args(["doc", "--workspace"])
            .env("RUSTDOCFLAGS", "-D warnings");
        assert_eq!(
            display(&cmd),
            "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace"
        );
    }

    #[test]
    fn the_root_holds_the_workspace_manifest() {
        let root = repo_root().unwrap();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("xtask/nostd-check/Cargo.toml").is_file());
    }
}
