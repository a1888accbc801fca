//! Every shell command of the README's quickstarts runs and succeeds against a sandbox: the
//! `sh` blocks are extracted, `BASE` pointed at an in-process sandbox, and the script run with
//! `bash -e` with this build's `kaifang` first on `PATH`. (The `cargo ...` lines, the two main
//! commands and the install, are checked elsewhere: the demo by `cli.rs`, the tests by CI.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn readme_shell_commands_succeed() {
    let missing: Vec<&str> = ["bash", "curl", "python3"]
        .into_iter()
        .filter(|p| !have(p))
        .collect();
    if !missing.is_empty() {
        let msg = format!("README shell test needs {missing:?} on PATH");
        if std::env::var("KAIFANG_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1") {
            panic!("{msg} (KAIFANG_REQUIRE_EXTERNAL=1)");
        }
        eprintln!("\n!!! SKIPPED: {msg}\n");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let sandbox = kaifang::sandbox::Sandbox::builder()
        .all_platforms()
        .start_blocking()
        .unwrap();
    let mut script = String::new();
    let mut in_sh = false;
    let mut blocks = 0;
    for line in readme.lines() {
        if line.trim_start() == "```sh" {
            in_sh = true;
            blocks += 1;
        } else if line.trim_start().starts_with("```") {
            in_sh = false;
        } else if in_sh && !line.trim_start().starts_with("cargo ") {
            if line.starts_with("export BASE=") {
                script.push_str(&format!("export BASE={}\n", sandbox.base_url()));
            } else {
                script.push_str(line);
                script.push('\n');
            }
        }
    }
    assert!(
        blocks >= 6 && script.contains("kaifang call"),
        "no shell blocks found"
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kaifang"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = std::env::temp_dir().join(format!("kaifang-readme-{}", std::process::id()));
    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", &script])
        .current_dir(&root)
        .env("PATH", path)
        .env("KAIFANG_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&cache);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "script:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The calls really answered.
    assert!(
        stdout.contains("Hello, 7!") && stdout.contains("\"msg\": \"成功\""),
        "{stdout}"
    );
}
