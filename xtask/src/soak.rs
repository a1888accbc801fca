//! `cargo xtask soak [--minutes N]`: the sandbox and the clients of all five platforms under
//! sustained load with token lifetimes of seconds (the measurement program is
//! `benches/benches/soak.rs`, which documents the load and how the expected number of token
//! requests is computed).
//!
//! Builds and runs `cargo bench -p kaifang-benches --bench soak -- --minutes N` (default 5) with
//! its progress on the terminal, prints a summary table (calls, errors, upstream token requests
//! against the expected range, resident memory at every sample) and writes the program's JSON
//! to `target/soak/report.json`. Fails when a call failed, a platform's token requests fell
//! outside the expected range, or the program did not finish.

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::Instant;

use serde_json::Value;

use crate::process::{self, format_duration};
use crate::{Error, Result};

/// Options of `cargo xtask soak`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// How long the load runs, in minutes.
    pub(crate) minutes: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { minutes: 5 }
    }
}

/// Parses `soak`'s arguments.
pub(crate) fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--minutes" => {
                let value = rest
                    .next()
                    .ok_or_else(|| Error::Usage("`--minutes` needs a value".into()))?;
                options.minutes = match value.parse::<u32>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(Error::Usage(format!(
                            "`--minutes {value}`: want a whole number of minutes, at least 1"
                        )));
                    }
                };
            }
            other => return Err(Error::Usage(format!("`soak` does not take `{other}`"))),
        }
    }
    Ok(options)
}

/// Runs the soak and writes the report.
pub(crate) fn run(options: &Options) -> Result<()> {
    let root = process::repo_root()?;
    let started = Instant::now();
    let mut cmd = process::cargo();
    cmd.current_dir(&root)
        .args(["bench", "-p", "kaifang-benches", "--bench", "soak", "--"])
        .args(["--minutes", &options.minutes.to_string()])
        .stderr(Stdio::inherit());
    eprintln!("soak: {}", process::display(&cmd));
    let out = process::run_captured(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .ok_or_else(|| {
            Error::Failed(format!(
                "the soak printed no JSON line ({}); see its output above",
                out.status
            ))
        })?;
    let dir = root.join("target/soak");
    let path = dir.join("report.json");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, format!("{report}\n")))
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))?;
    print!("{}", summary(&report));
    println!(
        "soak: {} in {}; report: {}",
        if out.status.success() {
            "passed"
        } else {
            "FAILED"
        },
        format_duration(started.elapsed()),
        path.display()
    );
    if out.status.success() && report["ok"] == true {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "the soak failed ({}): errors, or token requests outside the expected range",
            out.status
        )))
    }
}

fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// The table printed after a run.
fn summary(r: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nsoak: {} s, token lifetime {} s, {} worker(s) per platform and transport\n",
        num(&r["duration_s"]),
        num(&r["ttl_s"]),
        num(&r["workers"])
    );
    let _ = writeln!(
        s,
        "{:<8} {:>9} {:>7} {:>15} {:>24} {:>6}",
        "platform", "calls", "errors", "token requests", "expected (min-max, mean)", "ok"
    );
    if let Some(platforms) = r["platforms"].as_object() {
        for (name, p) in platforms {
            let (expected, ok) = if p["expected"].is_object() {
                (
                    format!(
                        "{}-{}, {}",
                        num(&p["expected"]["min"]),
                        num(&p["expected"]["max"]),
                        num(&p["expected"]["mean"])
                    ),
                    if p["within_expected"] == true {
                        "yes"
                    } else {
                        "NO"
                    },
                )
            } else {
                ("(no tokens)".to_owned(), "")
            };
            let _ = writeln!(
                s,
                "{name:<8} {:>9} {:>7} {:>15} {expected:>24} {ok:>6}",
                num(&p["calls"]),
                num(&p["errors"]),
                num(&p["token_requests"]),
            );
        }
    }
    let _ = writeln!(
        s,
        "\nrequests served by the sandbox: {}, errors: {}",
        num(&r["requests_served"]),
        num(&r["errors"])
    );
    let samples: Vec<String> = r["rss_kb"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| format!("{}s {} kB", num(&x["t_s"]), num(&x["kb"])))
                .collect()
        })
        .unwrap_or_default();
    let _ = writeln!(s, "VmRSS: {}", samples.join(", "));
    let start = r["rss_start_kb"].as_i64().unwrap_or(0);
    let end = r["rss_end_kb"].as_i64().unwrap_or(0);
    let _ = writeln!(
        s,
        "VmRSS start {start} kB, end {end} kB ({:+} kB)\n",
        end - start
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn minutes() {
        assert_eq!(parse(&[]), Ok(Options { minutes: 5 }));
        assert_eq!(
            parse(&args(&["--minutes", "2"])),
            Ok(Options { minutes: 2 })
        );
        for bad in [
            &["--minutes"][..],
            &["--minutes", "0"],
            &["--minutes", "x"],
            &["--quick"],
        ] {
            assert!(matches!(parse(&args(bad)), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn the_summary_shows_every_figure() {
        let r: Value = serde_json::from_str(
            r#"{"duration_s":60.0,"ttl_s":10,"workers":2,"requests_served":1000,"errors":0,
                "platforms":{"device":{"calls":10,"errors":0},
                             "tf56":{"calls":20,"errors":0,"token_requests":26,"within_expected":true,
                                     "expected":{"min":24,"mean":27.3,"max":30}}},
                "rss_kb":[{"t_s":0.0,"kb":100},{"t_s":60.0,"kb":120}],"rss_start_kb":100,"rss_end_kb":120,"ok":true}"#,
        )
        .unwrap();
        let s = summary(&r);
        assert!(s.contains("24-30, 27.3"), "{s}");
        assert!(s.contains("(no tokens)"), "{s}");
        assert!(
            s.contains("requests served by the sandbox: 1000, errors: 0"),
            "{s}"
        );
        assert!(s.contains("0.0s 100 kB, 60.0s 120 kB"), "{s}");
        assert!(s.contains("(+20 kB)"), "{s}");
    }
}
