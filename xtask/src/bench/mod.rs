//! `cargo xtask bench [--quick]`: every comparison of the benchmark issue, measured side by
//! side on this machine in one run, written to `benches/REPORT.md` with a plot of XXTEA
//! throughput (`benches/xxtea-throughput.svg`, rendered to `.png` by `rsvg-convert`).
//!
//! Sections, each recorded as `not measured: <why>` when it cannot run (and then the command
//! fails at the end, after writing what it could):
//! 1. criterion: sign-core (ours and xxtea-nostd side by side, the Tianyi envelope and its
//!    primitives) and the token hot path;
//! 2. `storm` and `overhead` (benches/benches): the 10,000-task storm and the transport overhead
//!    against bare ureq/reqwest, measured interleaved;
//! 3. the seeds' own Python code and xxtea-py ([`python`]);
//! 4. the sandbox against npm's oauth2-mock-server under wrk ([`load`]);
//! 5. sizes: the release `kaifang` binary, sign-core's no_std object on x86_64 and thumbv7em.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::process::{self, format_duration};
use crate::{Error, Result};

mod load;
mod plot;
mod python;

/// Options of `cargo xtask bench`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Short measurements (a fast check, under 5 minutes).
    pub(crate) quick: bool,
}

/// The XXTEA sizes of the plot and the tables.
const SIZES: [u64; 4] = [64, 256, 4096, 65536];

/// One section's outcome: its data, or why it could not be measured.
type Section = std::result::Result<Value, String>;

/// Runs every benchmark and writes the report.
pub(crate) fn run(options: &Options) -> Result<()> {
    let root = process::repo_root()?;
    let started = Instant::now();
    let quick = options.quick;
    eprintln!(
        "bench: {} run; the report goes to benches/REPORT.md",
        if quick { "quick" } else { "full" }
    );

    let binary = step("release kaifang binary", || release_binary(&root));
    let criterion = step("criterion (token hot path)", || criterion(&root, quick));
    let sidebyside = step("sign-core side by side (interleaved)", || {
        bench_json(&root, "sidebyside", quick)
    });
    let storm = step("token storm", || bench_json(&root, "storm", quick));
    let overhead = step("transport overhead", || {
        bench_json(&root, "overhead", quick)
    });
    let python = step("the seeds' Python and xxtea-py", || {
        python::run(&root, quick).map_err(|e| e.to_string())
    });
    let load = step("sandbox vs oauth2-mock-server", || match &binary {
        Ok(v) => load::run(
            &root,
            Path::new(v["path"].as_str().unwrap_or_default()),
            quick,
        )
        .map_err(|e| e.to_string()),
        Err(e) => Err(format!("needs the release binary: {e}")),
    });
    let sign_core_x86 = step("sign-core no_std size (x86_64)", || {
        crate::nostd::sign_core_text(&root, None)
            .map(Value::from)
            .map_err(|e| e.to_string())
    });
    let sign_core_thumb = step("sign-core no_std size (thumbv7em)", || {
        crate::nostd::sign_core_text(&root, Some("thumbv7em-none-eabihf"))
            .map(Value::from)
            .map_err(|e| {
                format!(
                    "{e} (needs the nightly toolchain with rust-src: `rustup component add rust-src --toolchain nightly`)"
                )
            })
    });

    let data = Data {
        criterion,
        sidebyside,
        storm,
        overhead,
        python,
        load,
        binary,
        sign_core_x86,
        sign_core_thumb,
    };
    let machine = machine();
    let plot_note = plot::write(&root, &data.xxtea_series());
    let report = render(&data, &machine, quick, &plot_note, started.elapsed());
    let path = root.join("benches/REPORT.md");
    std::fs::write(&path, report)
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))?;
    let raw = root.join("target/bench/report-data.json");
    let _ = std::fs::create_dir_all(root.join("target/bench"));
    let _ = std::fs::write(&raw, data.to_json().to_string());
    println!(
        "bench: wrote {} in {} (raw data: {})",
        path.display(),
        format_duration(started.elapsed()),
        raw.display()
    );
    let missing = data.missing();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "not measured: {} (see the report)",
            missing.join(", ")
        )))
    }
}

/// Runs one section with a progress line and its duration.
fn step(name: &str, f: impl FnOnce() -> Section) -> Section {
    eprintln!("bench: {name} ...");
    let t = Instant::now();
    let out = f();
    match &out {
        Ok(_) => eprintln!("bench: {name}: done in {}", format_duration(t.elapsed())),
        Err(e) => eprintln!("bench: {name}: NOT MEASURED: {e}"),
    }
    out
}

fn release_binary(root: &Path) -> Section {
    let mut cmd = process::cargo();
    cmd.current_dir(root)
        .args(["build", "--release", "-p", "kaifang-cli"]);
    process::run_inherit(&mut cmd).map_err(|e| e.to_string())?;
    let path = process::target_dir(root).join("release/kaifang");
    let bytes = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    Ok(serde_json::json!({"path": path.to_string_lossy(), "bytes": bytes}))
}

/// criterion's arguments for a quick or a full run.
fn criterion_args(quick: bool) -> Vec<&'static str> {
    if quick {
        vec![
            "--warm-up-time",
            "0.3",
            "--measurement-time",
            "1",
            "--sample-size",
            "20",
        ]
    } else {
        vec!["--warm-up-time", "2", "--measurement-time", "5"]
    }
}

fn criterion(root: &Path, quick: bool) -> Section {
    let mut cmd = process::cargo();
    cmd.current_dir(root)
        .args([
            "bench",
            "-p",
            "kaifang-benches",
            "--bench",
            "transports",
            "--",
        ])
        .arg("token_hot_path")
        .args(criterion_args(quick));
    process::run_inherit(&mut cmd).map_err(|e| e.to_string())?;
    let dir = process::target_dir(root).join("criterion");
    let mut found = BTreeMap::new();
    collect_estimates(&dir, &dir, &mut found);
    if found.is_empty() {
        return Err(format!("no estimates under {}", dir.display()));
    }
    Ok(Value::Object(found.into_iter().collect()))
}

/// Every `<id>/new/estimates.json` under `dir`: `id` → median ns.
fn collect_estimates(base: &Path, dir: &Path, out: &mut BTreeMap<String, Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let estimates = path.join("new/estimates.json");
        if let Some(ns) = std::fs::read_to_string(&estimates)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| v["median"]["point_estimate"].as_f64())
            && let Ok(rel) = path.strip_prefix(base)
        {
            out.insert(rel.to_string_lossy().replace('\\', "/"), Value::from(ns));
        }
        if path
            .file_name()
            .is_some_and(|n| n != "new" && n != "base" && n != "report")
        {
            collect_estimates(base, &path, out);
        }
    }
}

/// Runs a measurement program of kaifang-benches and reads the JSON line it prints last.
fn bench_json(root: &Path, bench: &str, quick: bool) -> Section {
    let mut cmd = process::cargo();
    cmd.current_dir(root)
        .args(["bench", "-p", "kaifang-benches", "--bench", bench, "--"]);
    if quick {
        cmd.arg("--quick");
    }
    let out = process::run_captured(&mut cmd).map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(format!(
            "`cargo bench --bench {bench}` failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .ok_or_else(|| format!("`{bench}` printed no JSON line"))
}

/// CPU, cores, memory, OS, rustc and the date.
fn machine() -> Vec<(&'static str, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown".to_owned(), |s| s.trim().to_owned());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    let capture = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    vec![
        ("CPU", format!("{cpu} ({cores} cores)")),
        ("Memory", mem),
        ("Kernel", capture("uname", &["-sr"])),
        ("Rust", capture("rustc", &["--version"])),
        ("Date", capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
        (
            "Load average (1, 5, 15 min) when the report was written",
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|_| "unknown".to_owned()),
        ),
    ]
}

/// Every section's outcome.
struct Data {
    criterion: Section,
    sidebyside: Section,
    storm: Section,
    overhead: Section,
    python: Section,
    load: Section,
    binary: Section,
    sign_core_x86: Section,
    sign_core_thumb: Section,
}

/// A cell: a number formatted, or `—` with the reason in a footnote list.
fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "—".to_owned(),
        Some(ns) if ns >= 1_000_000.0 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1_000.0 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.1} ns"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

impl Data {
    fn missing(&self) -> Vec<&'static str> {
        [
            ("criterion", &self.criterion),
            ("sidebyside", &self.sidebyside),
            ("storm", &self.storm),
            ("overhead", &self.overhead),
            ("python", &self.python),
            ("load", &self.load),
            ("binary", &self.binary),
            ("sign-core x86_64 size", &self.sign_core_x86),
            ("sign-core thumbv7em size", &self.sign_core_thumb),
        ]
        .into_iter()
        .filter(|(_, s)| s.is_err())
        .map(|(n, _)| n)
        .collect()
    }

    fn to_json(&self) -> Value {
        let s = |x: &Section| match x {
            Ok(v) => v.clone(),
            Err(e) => serde_json::json!({ "not_measured": e }),
        };
        serde_json::json!({
            "criterion": s(&self.criterion), "sidebyside": s(&self.sidebyside), "storm": s(&self.storm), "overhead": s(&self.overhead),
            "python": s(&self.python), "load": s(&self.load), "binary": s(&self.binary),
            "sign_core_x86_64_text": s(&self.sign_core_x86), "sign_core_thumbv7em_text": s(&self.sign_core_thumb),
        })
    }

    /// A criterion median in ns, by its directory under `target/criterion` (criterion turns a
    /// `/` inside a function name into `_`).
    fn c(&self, id: &str) -> Option<f64> {
        self.criterion.as_ref().ok()?.get(id)?.as_f64()
    }

    /// A value of the interleaved sign-core run, by its JSON path.
    fn sbs(&self, path: &[&str]) -> Option<f64> {
        let mut v = self.sidebyside.as_ref().ok()?;
        for key in path {
            v = v.get(*key)?;
        }
        v.as_f64()
    }

    /// A Python measurement in ns (`results.<key>` or `results.<key>.<size>`).
    fn py(&self, key: &str, size: Option<u64>) -> Option<f64> {
        let r = &self.python.as_ref().ok()?["results"][key];
        match size {
            None => r.as_f64(),
            Some(s) => r[s.to_string()].as_f64(),
        }
    }

    /// MB/s series of the plot: (label, [(size, MB/s)]).
    fn xxtea_series(&self) -> Vec<(String, Vec<(u64, f64)>)> {
        let mbps = |size: u64, ns: Option<f64>| ns.map(|ns| (size, size as f64 / ns * 1e3));
        let mut series = Vec::new();
        for (op, py_key) in [
            ("encrypt", "xxtea_encrypt_ns"),
            ("decrypt", "xxtea_decrypt_ns"),
        ] {
            for (who, id) in [("kaifang", "kaifang"), ("xxtea-nostd", "xxtea-nostd")] {
                let points = SIZES
                    .iter()
                    .filter_map(|&s| {
                        mbps(s, self.sbs(&[&format!("xxtea_{op}_{s}"), id, "median_ns"]))
                    })
                    .collect();
                series.push((format!("{who} {op}"), points));
            }
            let points = SIZES
                .iter()
                .filter_map(|&s| mbps(s, self.py(py_key, Some(s))))
                .collect();
            series.push((format!("xxtea-py {op}"), points));
        }
        series
    }
}

/// The report's Markdown.
fn render(
    d: &Data,
    machine: &[(&str, String)],
    quick: bool,
    plot_note: &str,
    took: std::time::Duration,
) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# kaifang benchmark report\n");
    let _ = writeln!(
        w,
        "Produced by `cargo xtask bench{}` in {} on this machine (every comparison measured side \
         by side in the same run; medians). Do not edit by hand: run the command again.\n",
        if quick { " --quick" } else { "" },
        format_duration(took)
    );
    let _ = writeln!(w, "| | |\n|---|---|");
    for (k, v) in machine {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    if quick {
        let _ = writeln!(
            w,
            "\n**Quick run**: short measurements, for a fast check only; quote a full run."
        );
    }

    // 1. Signing against the seeds' Python.
    let _ = writeln!(
        w,
        "\n## Signing: kaifang against the seeds' own Python code\n"
    );
    let _ = writeln!(
        w,
        "kaifang's side: `benches/benches/sidebyside.rs`, contenders interleaved round after round; \
         Python's side: the seeds' code (extracted at run time) under `timeit`, best of its repeats. \
         The speed-up compares best with best (kaifang's minimum over rounds); medians are shown too.\n"
    );
    let _ = writeln!(
        w,
        "| Operation | kaifang median | kaifang best | seed's Python best | speed-up |\n|---|---|---|---|---|"
    );
    let rows: [(&str, [&str; 2], &str); 4] = [
        (
            "Tianyi envelope (82-byte params: XXTEA, hex, HMAC-SHA256, hex)",
            ["tianyi", "envelope"],
            "tianyi_envelope_ns",
        ),
        (
            "iLab signature",
            ["others", "ilab_signature"],
            "ilab_signature_ns",
        ),
        (
            "Zhiyun `p_` + Basic header",
            ["others", "zhiyun_p_and_basic"],
            "zhiyun_p_basic_ns",
        ),
        (
            "Aliyun MQTT password (hmacsha256)",
            ["others", "aliyun_mqtt_password_hmacsha256"],
            "aliyun_mqtt_password_ns",
        ),
    ];
    for (name, [g, k], theirs) in rows {
        let med = d.sbs(&[g, k, "median_ns"]);
        let best = d.sbs(&[g, k, "min_ns"]);
        let t = d.py(theirs, None);
        let _ = writeln!(
            w,
            "| {name} | {} | {} | {} | {} |",
            fmt_ns(med),
            fmt_ns(best),
            fmt_ns(t),
            ratio(t, best)
        );
    }
    if let Ok(p) = &d.python {
        for note in p["notes"].as_array().into_iter().flatten() {
            if let Some(n) = note.as_str() {
                let _ = writeln!(w, "\n- {n}");
            }
        }
    }
    let speedup = match (
        d.py("tianyi_envelope_ns", None),
        d.sbs(&["tianyi", "envelope", "min_ns"]),
    ) {
        (Some(t), Some(o)) => Some(t / o),
        _ => None,
    };
    let two = d.sbs(&["tianyi", "ratio_envelope_to_xxtea_plus_hmac"]);
    let all = d.sbs(&["tianyi", "ratio_envelope_to_all_primitives"]);
    let streamed = d.sbs(&["tianyi", "ratio_streamed_envelope_to_xxtea_plus_hmac"]);
    let _ = writeln!(w, "\nTargets for the Tianyi envelope:\n");
    let _ = writeln!(w, "| Target | Measured | |\n|---|---|---|");
    let _ = writeln!(
        w,
        "| ≥ 7× faster than the seed's Python | {} | {} |",
        speedup.map_or("—".into(), |s| format!("{s:.2}×")),
        verdict(speedup.map(|s| s >= 7.0))
    );
    let _ = writeln!(
        w,
        "| within 1.2× of the sum of its parts, XXTEA of 82 bytes + HMAC over the string-to-sign (median of per-round ratios) | {} | {} |",
        two.map_or("—".into(), |r| format!("{r:.3}×")),
        verdict(two.map(|r| r <= 1.2))
    );
    let _ = writeln!(
        w,
        "| (for reference) the same with the two hex encodings counted as primitives too | {} | |",
        all.map_or("—".into(), |r| format!("{r:.3}×"))
    );
    let _ = writeln!(
        w,
        "| (before) the envelope with the string-to-sign streamed into the HMAC in five pieces, over the same parts | {} | |",
        streamed.map_or("—".into(), |r| format!("{r:.3}×"))
    );
    let _ = writeln!(
        w,
        "\nThe envelope and its primitives, each measured on its own, interleaved:\n"
    );
    let _ = writeln!(w, "| Contender | Median | Best |\n|---|---|---|");
    for p in [
        "envelope",
        "xxtea_82",
        "hmac_string_to_sign",
        "hex_88",
        "hex_32",
        "envelope_streamed",
        "hmac_crate_string_to_sign",
    ] {
        let _ = writeln!(
            w,
            "| `{p}` | {} | {} |",
            fmt_ns(d.sbs(&["tianyi", p, "median_ns"])),
            fmt_ns(d.sbs(&["tianyi", p, "min_ns"]))
        );
    }
    let _ = writeln!(
        w,
        "\n`envelope_streamed` is the envelope as `TianyiSigner::sign` computed it before it assembled the string-to-sign on the stack (five `update` calls); `hmac_crate_string_to_sign` is the generic `hmac` crate keyed per message, for scale (sign-core keys once per secret)."
    );

    // 2. XXTEA.
    let _ = writeln!(w, "\n## XXTEA: kaifang, xxtea-nostd and xxtea-py\n");
    let _ = writeln!(
        w,
        "![XXTEA throughput by size](xxtea-throughput.png)\n\n{plot_note}\n"
    );
    let _ = writeln!(
        w,
        "| Operation | Size | kaifang | xxtea-nostd | xxtea-py | vs xxtea-nostd | vs xxtea-py |\n|---|---|---|---|---|---|---|"
    );
    for (op, py_key) in [
        ("encrypt", "xxtea_encrypt_ns"),
        ("decrypt", "xxtea_decrypt_ns"),
    ] {
        for s in SIZES {
            let key = format!("xxtea_{op}_{s}");
            let o = d.sbs(&[&key, "kaifang", "median_ns"]);
            let n = d.sbs(&[&key, "xxtea-nostd", "median_ns"]);
            let vs_nostd = d.sbs(&[&key, "nostd_over_kaifang"]);
            let p = d.py(py_key, Some(s));
            let _ = writeln!(
                w,
                "| {op} | {s} B | {} | {} | {} | {} | {} |",
                fmt_ns(o),
                fmt_ns(n),
                fmt_ns(p),
                vs_nostd.map_or("—".into(), |r| format!("{r:.2}×")),
                ratio(p, d.sbs(&[&key, "kaifang", "min_ns"]))
            );
        }
    }
    let _ = writeln!(
        w,
        "\nRatios are how many times faster kaifang is: against xxtea-nostd the median of per-round \
         ratios (interleaved, the same aligned buffers, the raw cipher); against xxtea-py best with \
         best, and xxtea-py's numbers include its framing (length word, key fixing) and the Python \
         call, which dominate at small sizes."
    );

    // 3. Token lifecycle.
    let _ = writeln!(w, "\n## Token lifecycle\n");
    let _ = writeln!(
        w,
        "| Cached read | Median | Target ≤ 20 ns |\n|---|---|---|"
    );
    for (t, id) in [
        (
            "blocking, 1 thread",
            "token_hot_path/blocking_handle_1_thread",
        ),
        (
            "blocking, 2 threads",
            "token_hot_path/blocking_handle_2_threads",
        ),
        ("async, 1 thread", "token_hot_path/async_handle_1_thread"),
        ("async, 2 threads", "token_hot_path/async_handle_2_threads"),
    ] {
        let v = d.c(id);
        let _ = writeln!(
            w,
            "| {t} | {} | {} |",
            fmt_ns(v),
            verdict(v.map(|v| v <= 20.0))
        );
    }
    match &d.storm {
        Ok(s) => {
            let ups = s["upstream_requests_per_round"].to_string();
            let _ = writeln!(
                w,
                "\nStorm: {} tasks on an expired token, {} rounds: upstream token requests per round {ups} (target: exactly 1); all served in {} ms (median; min {}, max {}).",
                s["tasks"],
                s["rounds"],
                s["serve_all_ms"]["median"],
                s["serve_all_ms"]["min"],
                s["serve_all_ms"]["max"]
            );
            if !s["blocking"].is_null() {
                let _ = writeln!(w, "\nBlocking manager: `{}`", s["blocking"]);
            }
        }
        Err(e) => {
            let _ = writeln!(w, "\nStorm: not measured: {e}");
        }
    }

    // 4. Transport overhead.
    let _ = writeln!(w, "\n## Transport overhead on loopback\n");
    match &d.overhead {
        Ok(o) => {
            let _ = writeln!(
                w,
                "Interleaved: {} rounds of {} requests each, alternating kaifang and the bare client; medians.\n",
                o["rounds"], o["batch"]
            );
            let _ = writeln!(
                w,
                "| Transport | kaifang | bare client | ratio | Target ≤ 1.05 |\n|---|---|---|---|---|"
            );
            let us = |v: &Value| fmt_ns(v.as_f64().map(|u| u * 1e3));
            let b = &o["blocking"];
            let a = &o["async"];
            let rows = [
                (
                    "blocking",
                    us(&b["kaifang_us"]),
                    format!(
                        "{} (ureq, kaifang's agent used bare: same timeouts, TLS, resolver)",
                        us(&b["bare_us"])
                    ),
                    b["ratio_median"].as_f64(),
                    true,
                ),
                (
                    "blocking",
                    us(&b["kaifang_us"]),
                    format!(
                        "{} (ureq defaults: no timeouts at all)",
                        us(&b["bare_default_us"])
                    ),
                    b["ratio_default_median"].as_f64(),
                    false,
                ),
                (
                    "async",
                    us(&a["kaifang_us"]),
                    format!(
                        "{} (reqwest, same timeouts, no redirects)",
                        us(&a["bare_us"])
                    ),
                    a["ratio_median"].as_f64(),
                    true,
                ),
            ];
            for (t, k, bare, r, target) in rows {
                let _ = writeln!(
                    w,
                    "| {t} | {k} | {bare} | {} | {} |",
                    r.map_or("—".into(), |r| format!("{r:.3}")),
                    if target {
                        verdict(r.map(|r| r <= 1.05))
                    } else {
                        "(reference)"
                    }
                );
            }
            let _ = writeln!(
                w,
                "\nA stock ureq agent with the same timeouts takes {} per request (its resolver starts a thread per request when a timeout bounds resolution; kaifang's resolver answers IP literals itself). Against ureq with no timeouts at all, the difference is the cost of enforcing a total deadline: ureq re-arms the socket timeout with `setsockopt` before each read and write as the deadline shrinks.",
                us(&b["bare_same_timeouts_us"])
            );
        }
        Err(e) => {
            let _ = writeln!(w, "Not measured: {e}");
        }
    }

    // 5. Sandbox throughput.
    let _ = writeln!(
        w,
        "\n## Sandbox throughput: client_credentials token issuance\n"
    );
    match &d.load {
        Ok(l) => {
            let _ = writeln!(
                w,
                "Load generator: {}, {} threads, {} connections, {} s each, the same for both servers (on the same 2-core machine as the load generator).\n",
                l["tool"], l["threads"], l["connections"], l["duration_s"]
            );
            let _ = writeln!(
                w,
                "| Server | requests/s | p50 | p90 | p99 | non-2xx | errors |\n|---|---|---|---|---|---|---|"
            );
            for (name, key) in [
                ("kaifang sandbox (tf56)", "sandbox"),
                ("npm oauth2-mock-server", "oauth2_mock_server"),
            ] {
                let s = &l[key];
                let _ = writeln!(
                    w,
                    "| {name} | {:.0} | {} ms | {} ms | {} ms | {} | {} |",
                    s["rps"].as_f64().unwrap_or(0.0),
                    s["p50_ms"],
                    s["p90_ms"],
                    s["p99_ms"],
                    s["non_2xx"],
                    s["errors"]
                );
            }
            let rps = l["rps_ratio"].as_f64();
            let p99 = match (
                l["sandbox"]["p99_ms"].as_f64(),
                l["oauth2_mock_server"]["p99_ms"].as_f64(),
            ) {
                (Some(a), Some(b)) => Some(a < b),
                _ => None,
            };
            let _ = writeln!(
                w,
                "\nTargets: ≥ 5× its requests per second: {} ({}); a lower p99: {}.",
                rps.map_or("—".into(), |r| format!("{r:.2}×")),
                verdict(rps.map(|r| r >= 5.0)),
                verdict(p99)
            );
        }
        Err(e) => {
            let _ = writeln!(w, "Not measured: {e}");
        }
    }

    // 6. Sizes.
    let _ = writeln!(w, "\n## Sizes\n");
    let _ = writeln!(w, "| Artifact | Size |\n|---|---|");
    let bytes = |s: &Section| match s {
        Ok(v) => v["bytes"]
            .as_u64()
            .or_else(|| v.as_u64())
            .map_or("—".into(), |b| {
                format!("{b} bytes ({:.1} KiB)", b as f64 / 1024.0)
            }),
        Err(e) => format!("not measured: {e}"),
    };
    let _ = writeln!(
        w,
        "| release `kaifang` binary (x86_64, thin LTO) | {} |",
        bytes(&d.binary)
    );
    let _ = writeln!(
        w,
        "| sign-core `.text`, no_std, every public function linked (x86_64) | {} |",
        bytes(&d.sign_core_x86)
    );
    let _ = writeln!(
        w,
        "| sign-core `.text`, no_std, every public function linked (thumbv7em-none-eabihf, nightly `-Zbuild-std=core`) | {} |",
        bytes(&d.sign_core_thumb)
    );

    let _ = writeln!(w, "\n## Reproduce\n");
    let _ = writeln!(
        w,
        "```sh\ncargo xtask bench          # full run, ~10 minutes after the build\ncargo xtask bench --quick  # a fast check, under 5 minutes\n```\n\nIt creates a Python venv (`target/bench-venv`: xxtea-py, cffi, setuptools) and extracts \
         the seeds' code from `../shared/seeds` at run time, installs `wrk` and `rsvg-convert` (Debian) and \
         `oauth2-mock-server` (npm) when absent, and keeps the raw numbers in \
         `target/bench/report-data.json` and `target/criterion/`."
    );
    md
}

/// Where the plot files go.
fn benches_dir(root: &Path) -> PathBuf {
    root.join("benches")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_found_by_id() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        let id = dir.join("xxtea_encrypt/kaifang/64/new");
        std::fs::create_dir_all(&id).unwrap();
        std::fs::write(
            id.join("estimates.json"),
            r#"{"mean":{"point_estimate":2.0},"median":{"point_estimate":1.5}}"#,
        )
        .unwrap();
        let mut found = BTreeMap::new();
        collect_estimates(&dir, &dir, &mut found);
        assert_eq!(
            found.get("xxtea_encrypt/kaifang/64"),
            Some(&Value::from(1.5))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn numbers_and_ratios_format() {
        assert_eq!(fmt_ns(Some(12.34)), "12.3 ns");
        assert_eq!(fmt_ns(Some(1234.0)), "1.23 µs");
        assert_eq!(fmt_ns(Some(2_500_000.0)), "2.50 ms");
        assert_eq!(fmt_ns(None), "—");
        assert_eq!(ratio(Some(10.0), Some(4.0)), "2.50×");
        assert_eq!(ratio(None, Some(4.0)), "—");
    }

    #[test]
    fn a_report_renders_with_sections_missing() {
        let d = Data {
            criterion: Err("w".into()),
            sidebyside: Ok(serde_json::json!({"tianyi": {
                "envelope": {"median_ns": 650.0, "min_ns": 600.0},
                "ratio_envelope_to_xxtea_plus_hmac": 1.15,
                "ratio_envelope_to_all_primitives": 1.05}})),
            storm: Err("x".into()),
            overhead: Err("y".into()),
            python: Ok(serde_json::json!({"results": {"tianyi_envelope_ns": 4200.0}})),
            load: Err("z".into()),
            binary: Ok(serde_json::json!({"bytes": 1024})),
            sign_core_x86: Ok(Value::from(2048)),
            sign_core_thumb: Err("no nightly".into()),
        };
        let md = render(
            &d,
            &[("CPU", "test".into())],
            true,
            "",
            std::time::Duration::ZERO,
        );
        assert!(
            md.contains("| ≥ 7× faster than the seed's Python | 7.00× | met |"),
            "{md}"
        );
        assert!(
            md.contains("string-to-sign (median of per-round ratios) | 1.150× | met |"),
            "{md}"
        );
        assert!(md.contains("not measured: no nightly"));
        assert!(md.contains("2048 bytes"));
        assert_eq!(
            d.missing(),
            vec![
                "criterion",
                "storm",
                "overhead",
                "load",
                "sign-core thumbv7em size"
            ]
        );
    }
}
