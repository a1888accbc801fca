//! Sandbox throughput against npm's oauth2-mock-server under one load generator.
//!
//! Both servers answer the same request under the same load: `wrk` (Debian's; installed with
//! apt-get when absent) with a Lua script that POSTs the client_credentials token request as a
//! form body (`application/x-www-form-urlencoded`, `Accept: application/json`), 2 threads,
//! 32 keep-alive connections, 10 s (`--quick`: 3 s), `--latency`, after a discarded warm-up run
//! of 3 s (`--quick`: 1 s) against the same server (node's JIT, the sandbox's allocator).
//!
//! * ours: `kaifang sandbox --addr 127.0.0.1:0` (the release binary), tf56's
//!   `POST /openGateway/oauth/token` with `grant_type=client_credentials&client_id=7&
//!   client_secret=…`: the body kaifang's tf56 client sends with `ClientAuth::FormBody` (its
//!   default, `QueryParams`, puts the same parameters in the query of an empty POST; the form
//!   body is what a standard OAuth client sends, and what the other server reads);
//! * theirs: npm's `oauth2-mock-server` (installed into `target/bench-npm` when absent), started
//!   by a small node script on a free loopback port (as `crates/e2e/tests/tf56_interop.rs` does),
//!   `POST /token` with the same body (it answers client_credentials with an RS256 JWT).
//!
//! One server runs at a time (the machine has 2 cores; wrk takes its share). Each is checked
//! first with one `curl` request (200 and an `access_token`), then loaded. The result:
//!
//! ```text
//! {"tool":"wrk 4.1.0","threads":2,"connections":32,"duration_s":10,"warmup_s":3,
//!  "sandbox":{"rps":f,"p50_ms":f,"p90_ms":f,"p99_ms":f,"requests":n,"non_2xx":n,"errors":n,
//!             "socket_errors":{"connect":n,"read":n,"write":n,"timeout":n}},
//!  "oauth2_mock_server":{...},"rps_ratio":f,"p99_ratio":f}
//! ```
//!
//! `rps_ratio` is sandbox / oauth2-mock-server (above 1: the sandbox serves more);
//! `p99_ratio` is sandbox / oauth2-mock-server (below 1: the sandbox's tail is shorter).
//! `non_2xx` is wrk's "Non-2xx or 3xx responses" count (wrk counts every status ≥ 400 there;
//! a redirect would already fail the curl check). Non-2xx answers and socket errors are
//! reported in the JSON and warned about on stderr, never dropped. Both servers are killed at
//! the end, on error too.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{display, run_captured, run_inherit};
use crate::{Error, Result};

/// The tf56 public client of the sandbox (and of the seed's docs).
const TF56_CLIENT_ID: &str = "7";
const TF56_CLIENT_SECRET: &str = "7fad9d6b20e849219d6888b25e3f40db";
/// The sandbox's tf56 token endpoint.
const SANDBOX_TOKEN_PATH: &str = "/openGateway/oauth/token";
/// oauth2-mock-server's token endpoint.
const MOCK_TOKEN_PATH: &str = "/token";

const THREADS: u32 = 2;
const CONNECTIONS: u32 = 32;

/// Starts npm's oauth2-mock-server on a free loopback port and prints its issuer URL.
const MOCK_SCRIPT: &str = r#"
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const modules = process.env.KAIFANG_NODE_MODULES;
const require = createRequire(path.join(path.resolve(modules), 'kaifang-resolve.cjs'));
const { OAuth2Server } = await import(pathToFileURL(require.resolve('oauth2-mock-server')).href);

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
console.log(server.issuer.url);
// Stop when our parent closes stdin (or kills us).
process.stdin.on('end', async () => { await server.stop(); process.exit(0); });
process.stdin.resume();
"#;

/// The form body of the client_credentials request.
fn form_body() -> String {
    format!(
        "grant_type=client_credentials&client_id={TF56_CLIENT_ID}&client_secret={TF56_CLIENT_SECRET}"
    )
}

/// The wrk script: every request a form POST with `body`.
fn lua_script(body: &str) -> String {
    format!(
        "-- written by cargo xtask bench (xtask/src/bench/load.rs)\n\
         wrk.method = \"POST\"\n\
         wrk.body = \"{body}\"\n\
         wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
         wrk.headers[\"Accept\"] = \"application/json\"\n"
    )
}

/// A child process killed (and reaped) on drop.
struct Running {
    name: &'static str,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` (stdout piped, stderr to `log`) and waits up to 30 s for its first stdout line,
/// which must contain `http://127.0.0.1:`; returns the process and the base URL. The rest of
/// stdout is drained in the background.
fn start_server(name: &'static str, cmd: &mut Command, log: &Path) -> Result<(Running, String)> {
    let shown = display(cmd);
    let log_file = std::fs::File::create(log)
        .map_err(|e| Error::Failed(format!("cannot create {}: {e}", log.display())))?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| Error::Failed(format!("could not start `{shown}`: {e}")))?;
    let stdout = child.stdout.take();
    let running = Running { name, child };
    let Some(stdout) = stdout else {
        return Err(Error::Failed(format!("{name}: no stdout")));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| {
        Error::Failed(format!(
            "{name} (`{shown}`) did not print its address within 30 s (stderr: {})",
            log.display()
        ))
    })?;
    let url = base_url(&line).ok_or_else(|| {
        Error::Failed(format!(
            "{name} printed {:?}, not its address (stderr: {})",
            line.trim(),
            log.display()
        ))
    })?;
    Ok((running, url))
}

/// `http://127.0.0.1:PORT` from a line that contains it (`kaifang sandbox listening on …`, or the
/// mock's issuer URL alone).
fn base_url(line: &str) -> Option<String> {
    let start = line.find("http://127.0.0.1:")?;
    let url = line[start..].split_whitespace().next()?;
    Some(url.trim_end_matches('/').to_owned())
}

/// One request with curl: a 200 with an `access_token` string, or an error saying what came.
fn check_once(name: &str, url: &str, body: &str) -> Result<()> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-X", "POST"])
        .args(["-H", "Content-Type: application/x-www-form-urlencoded"])
        .args(["-H", "Accept: application/json"])
        .args(["--data", body, "-w", "\n%{http_code}", url]);
    let out = run_captured(&mut cmd)?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "{name}: curl {url} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let (resp, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let token = serde_json::from_str::<Value>(resp)
        .ok()
        .and_then(|v| v.get("access_token").and_then(Value::as_str).map(str::len));
    match (status.trim(), token) {
        ("200", Some(n)) if n > 0 => {
            eprintln!("load: {name}: POST {url} → 200 with an access token ({n} chars)");
            Ok(())
        }
        (status, _) => Err(Error::Failed(format!(
            "{name}: POST {url} answered {status}, not a 200 with an access token: {resp}"
        ))),
    }
}

/// What wrk reported for one run.
#[derive(Debug, Clone, PartialEq)]
struct WrkReport {
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    requests: u64,
    non_2xx: u64,
    connect: u64,
    read: u64,
    write: u64,
    timeout: u64,
}

impl WrkReport {
    fn errors(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }

    fn to_json(&self) -> Value {
        json!({
            "rps": round(self.rps, 2),
            "p50_ms": round(self.p50_ms, 4),
            "p90_ms": round(self.p90_ms, 4),
            "p99_ms": round(self.p99_ms, 4),
            "requests": self.requests,
            "non_2xx": self.non_2xx,
            "errors": self.errors(),
            "socket_errors": {
                "connect": self.connect,
                "read": self.read,
                "write": self.write,
                "timeout": self.timeout,
            },
        })
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// A wrk duration (`412.00us`, `0.91ms`, `1.20s`, `2.00m`, `1.00h`) in milliseconds.
fn duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    match unit {
        "us" => Some(v / 1e3),
        "ms" => Some(v),
        "s" => Some(v * 1e3),
        "m" => Some(v * 60e3),
        "h" => Some(v * 3600e3),
        _ => None,
    }
}

/// Parses wrk's output (run with `--latency`).
fn parse_wrk(out: &str) -> Result<WrkReport> {
    let fail = |what: &str| Error::Failed(format!("wrk output without {what}:\n{out}"));
    let mut rps = None;
    let mut requests = None;
    let (mut p50, mut p90, mut p99) = (None, None, None);
    let mut non_2xx = 0;
    let (mut connect, mut read, mut write, mut timeout) = (0, 0, 0, 0);
    let mut in_distribution = false;
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("Latency Distribution") {
            in_distribution = true;
            continue;
        }
        if in_distribution {
            if let Some((pct, value)) = t.split_once('%') {
                match pct.trim() {
                    "50" => p50 = duration_ms(value),
                    "90" => p90 = duration_ms(value),
                    "99" => p99 = duration_ms(value),
                    _ => {}
                }
                continue;
            }
            in_distribution = false;
        }
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().map_err(|_| fail("a Non-2xx count"))?;
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            for part in v.split(',') {
                let mut words = part.split_whitespace();
                let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                    return Err(fail("a readable Socket errors line"));
                };
                let n: u64 = n
                    .parse()
                    .map_err(|_| fail("readable socket error counts"))?;
                match kind {
                    "connect" => connect = n,
                    "read" => read = n,
                    "write" => write = n,
                    "timeout" => timeout = n,
                    _ => return Err(fail("known socket error kinds")),
                }
            }
        } else if let Some((n, rest)) = t.split_once(" requests in ")
            && rest.contains(" read")
        {
            requests = n.trim().parse::<u64>().ok();
        }
    }
    Ok(WrkReport {
        rps: rps.ok_or_else(|| fail("Requests/sec"))?,
        p50_ms: p50.ok_or_else(|| fail("a 50% latency"))?,
        p90_ms: p90.ok_or_else(|| fail("a 90% latency"))?,
        p99_ms: p99.ok_or_else(|| fail("a 99% latency"))?,
        requests: requests.ok_or_else(|| fail("the request count"))?,
        non_2xx,
        connect,
        read,
        write,
        timeout,
    })
}

/// `wrk 4.1.0` from `wrk --version`'s first line (`wrk 4.1.0 [epoll] Copyright …`, or
/// `wrk debian/4.1.0-3+b2 [epoll] …`).
fn wrk_version(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.trim_start().starts_with("wrk "))?;
    let mut words = line.split_whitespace();
    let (Some(name), Some(version)) = (words.next(), words.next()) else {
        return None;
    };
    // Debian's build says `wrk debian/4.1.0-3+b2`: the upstream version is `4.1.0`.
    let version = version.strip_prefix("debian/").unwrap_or(version);
    let version = version.split_once('-').map_or(version, |(v, _)| v);
    Some(format!("{name} {version}"))
}

/// wrk's version, installing Debian's wrk first when it is missing.
fn ensure_wrk() -> Result<String> {
    let probe = || -> Option<String> {
        // `wrk --version` exits 1 after printing its banner.
        let out = Command::new("wrk").arg("--version").output().ok()?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        wrk_version(&text)
    };
    if let Some(v) = probe() {
        return Ok(v);
    }
    eprintln!("load: wrk not found; installing Debian's wrk");
    let root_user = run_captured(Command::new("id").arg("-u"))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if root_user {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_inherit(&mut cmd)
    };
    apt(&["update"])?;
    apt(&["install", "-y", "wrk"])?;
    probe().ok_or_else(|| Error::Failed("wrk still missing after apt-get install wrk".into()))
}

/// `<root>/target/bench-npm/node_modules`, with oauth2-mock-server installed there if absent.
fn ensure_mock_server(root: &Path) -> Result<PathBuf> {
    let prefix = root.join("target/bench-npm");
    let modules = prefix.join("node_modules");
    if !modules.join("oauth2-mock-server/package.json").is_file() {
        std::fs::create_dir_all(&prefix)
            .map_err(|e| Error::Failed(format!("cannot create {}: {e}", prefix.display())))?;
        eprintln!(
            "load: installing oauth2-mock-server into {}",
            prefix.display()
        );
        run_inherit(
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .arg("oauth2-mock-server"),
        )?;
    }
    if modules.join("oauth2-mock-server/package.json").is_file() {
        Ok(modules)
    } else {
        Err(Error::Failed(format!(
            "oauth2-mock-server is not in {} after npm install",
            modules.display()
        )))
    }
}

/// One wrk run against `url` (its socket errors and non-2xx answers warned about here).
fn run_wrk(name: &str, script: &Path, url: &str, duration_s: u32) -> Result<WrkReport> {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{duration_s}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url);
    eprintln!("load: {name}: {}", display(&cmd));
    let out = run_captured(&mut cmd)?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "`{}` failed ({}): {}{}",
            display(&cmd),
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    eprint!("{text}");
    let report = parse_wrk(&text)?;
    if report.non_2xx > 0 || report.errors() > 0 {
        eprintln!(
            "load: WARNING: {name}: {} non-2xx responses and {} socket errors out of {} requests",
            report.non_2xx,
            report.errors(),
            report.requests
        );
    }
    Ok(report)
}

/// Measures; returns the JSON described in the module docs.
pub(crate) fn run(root: &Path, kaifang: &Path, quick: bool) -> Result<Value> {
    let duration_s: u32 = if quick { 3 } else { 10 };
    let warmup_s: u32 = if quick { 1 } else { 3 };
    let tool = ensure_wrk()?;
    let modules = ensure_mock_server(root)?;
    let dir = root.join("target/bench-load");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    };
    let body = form_body();
    let script = write("token.lua", &lua_script(&body))?;
    let mock_script = write("mock-server.mjs", MOCK_SCRIPT)?;

    // Ours, alone on the machine with wrk.
    let sandbox = {
        let mut cmd = Command::new(kaifang);
        cmd.args(["sandbox", "--addr", "127.0.0.1:0"]);
        let (server, base) = start_server("sandbox", &mut cmd, &dir.join("sandbox.stderr"))?;
        let url = format!("{base}{SANDBOX_TOKEN_PATH}");
        check_once(server.name, &url, &body)?;
        run_wrk(server.name, &script, &url, warmup_s)?;
        let report = run_wrk(server.name, &script, &url, duration_s)?;
        drop(server);
        report
    };

    // Theirs, the same way.
    let mock = {
        let mut cmd = Command::new("node");
        cmd.arg(&mock_script).env("KAIFANG_NODE_MODULES", &modules);
        let (server, base) = start_server(
            "oauth2-mock-server",
            &mut cmd,
            &dir.join("mock-server.stderr"),
        )?;
        let url = format!("{base}{MOCK_TOKEN_PATH}");
        check_once(server.name, &url, &body)?;
        run_wrk(server.name, &script, &url, warmup_s)?;
        let report = run_wrk(server.name, &script, &url, duration_s)?;
        drop(server);
        report
    };

    Ok(json!({
        "tool": tool,
        "threads": THREADS,
        "connections": CONNECTIONS,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "sandbox": sandbox.to_json(),
        "oauth2_mock_server": mock.to_json(),
        "rps_ratio": round(sandbox.rps / mock.rps, 3),
        "p99_ratio": round(sandbox.p99_ms / mock.p99_ms, 3),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Running 10s test @ http://127.0.0.1:40123/openGateway/oauth/token
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   635.91us    1.08ms  27.53ms   95.87%
    Req/Sec    29.30k     2.30k   35.52k    71.00%
  Latency Distribution
     50%  412.00us
     75%  548.00us
     90%    0.91ms
     99%    1.52s
  583312 requests in 10.01s, 118.03MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:  58277.24
Transfer/sec:     11.79MB
";

    #[test]
    fn parses_wrk_with_every_unit() {
        let r = parse_wrk(SAMPLE).unwrap();
        assert_eq!(r.rps, 58277.24);
        assert!((r.p50_ms - 0.412).abs() < 1e-9, "{}", r.p50_ms);
        assert!((r.p90_ms - 0.91).abs() < 1e-9);
        assert!((r.p99_ms - 1520.0).abs() < 1e-9);
        assert_eq!(r.requests, 583_312);
        assert_eq!(r.non_2xx, 5);
        assert_eq!((r.connect, r.read, r.write, r.timeout), (0, 3, 0, 12));
        assert_eq!(r.errors(), 15);
        let j = r.to_json();
        assert_eq!(j["errors"], 15);
        assert_eq!(j["non_2xx"], 5);
        assert_eq!(j["socket_errors"]["timeout"], 12);
    }

    #[test]
    fn clean_runs_have_no_error_lines() {
        let clean: String = SAMPLE
            .lines()
            .filter(|l| !l.contains("Socket errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = parse_wrk(&clean).unwrap();
        assert_eq!((r.non_2xx, r.errors()), (0, 0));
    }

    #[test]
    fn missing_or_garbled_fields_are_errors() {
        assert!(parse_wrk("").is_err());
        let no_latency: String = SAMPLE
            .lines()
            .filter(|l| !l.contains("99%"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_wrk(&no_latency).is_err());
        let garbled = SAMPLE.replace("timeout 12", "timeout x");
        assert!(parse_wrk(&garbled).is_err());
    }

    #[test]
    fn durations() {
        let near = |s: &str, want: f64| {
            let got = duration_ms(s).unwrap();
            assert!((got - want).abs() < 1e-9, "{s}: {got} != {want}");
        };
        near("412.00us", 0.412);
        near("2.5ms", 2.5);
        near(" 1.20s", 1200.0);
        near("2.00m", 120_000.0);
        assert_eq!(duration_ms("12"), None);
        assert_eq!(duration_ms("1.0xs"), None);
    }

    #[test]
    fn versions_and_addresses() {
        assert_eq!(
            wrk_version("wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer\nUsage: ...").as_deref(),
            Some("wrk 4.1.0")
        );
        assert_eq!(
            wrk_version("wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer").as_deref(),
            Some("wrk 4.1.0")
        );
        assert_eq!(wrk_version("bash: wrk: not found"), None);
        assert_eq!(
            base_url("kaifang sandbox listening on http://127.0.0.1:4321\n").as_deref(),
            Some("http://127.0.0.1:4321")
        );
        assert_eq!(
            base_url("http://127.0.0.1:555/\n").as_deref(),
            Some("http://127.0.0.1:555")
        );
        assert_eq!(base_url("listening on [::1]:80"), None);
    }

    #[test]
    fn the_script_posts_the_form() {
        let s = lua_script(&form_body());
        assert!(s.contains("wrk.method = \"POST\""));
        assert!(s.contains(
            "wrk.body = \"grant_type=client_credentials&client_id=7&client_secret=7fad9d6b20e849219d6888b25e3f40db\""
        ));
        assert!(s.contains("application/x-www-form-urlencoded"));
    }

    /// The real measurement (wrk, node, npm, curl and the release binary):
    /// `cargo build --release -p kaifang-cli && cargo test -p xtask load -- --ignored --nocapture`
    /// (`KAIFANG_BIN` overrides the binary's path).
    #[test]
    #[ignore = "runs the servers under wrk for ~30 s"]
    fn measures_for_real() {
        let root = crate::process::repo_root().unwrap();
        let bin = std::env::var_os("KAIFANG_BIN").map_or_else(
            || crate::process::target_dir(&root).join("release/kaifang"),
            PathBuf::from,
        );
        let quick = std::env::var_os("KAIFANG_BENCH_QUICK").is_some();
        let v = run(&root, &bin, quick).unwrap();
        println!("{v}");
        assert_eq!(v["sandbox"]["non_2xx"], 0);
        assert_eq!(v["oauth2_mock_server"]["non_2xx"], 0);
    }
}
