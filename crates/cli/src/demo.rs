//! `kaifang demo`: every platform through both transports against the embedded sandbox.
//!
//! The sandbox starts in-process on `127.0.0.1:0`; each platform's flows (login or grant,
//! refresh, business calls, the iLab score and report uploads, device provisioning with MQTT
//! credentials and dynamic registration) run once through the blocking transport (ureq) and once
//! through the async one (reqwest on a tokio runtime). A progress line runs on stderr; the table
//! goes to stdout. Exit code 0 only when every row passed.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use kaifang::core::Error as CoreError;
use kaifang::core::exchange::Exchange;
use kaifang::sandbox::{BlockingSandbox, Sandbox};

use crate::exit::CliError;

mod flows;

/// `kaifang demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Print the rows as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only these platforms (repeatable).
    #[arg(long = "only", value_enum)]
    only: Vec<crate::platforms::Platform>,
}

/// Executes exchanges through one transport. The async transport runs on the demo's runtime.
pub(crate) enum Runner {
    Blocking(kaifang::blocking::BlockingClient),
    Async(kaifang::asynch::AsyncClient, tokio::runtime::Handle),
}

impl Runner {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Runner::Blocking(_) => "blocking",
            Runner::Async(..) => "async",
        }
    }

    pub(crate) fn execute<E: Exchange + ?Sized>(&self, e: &E) -> Result<E::Output, CoreError> {
        match self {
            Runner::Blocking(c) => c.execute(e),
            Runner::Async(c, rt) => rt.block_on(c.execute(e)),
        }
    }
}

/// One line of the table.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Row {
    platform: &'static str,
    flow: &'static str,
    transport: &'static str,
    ok: bool,
    detail: String,
    latency_ms: f64,
}

/// Records the rows of one (platform, transport) pass and draws the progress line.
pub(crate) struct Recorder<'a> {
    platform: &'static str,
    transport: &'static str,
    rows: &'a mut Vec<Row>,
    progress: &'a mut Progress,
}

impl Recorder<'_> {
    /// Runs one flow: its latency, `Ok(detail)` or the error. The value is handed on so that
    /// later flows can use it; a failed flow ends the pass (later flows depend on it).
    pub(crate) fn step<T>(
        &mut self,
        flow: &'static str,
        f: impl FnOnce() -> Result<(T, String), CoreError>,
    ) -> Result<T, Failed> {
        self.progress.show(&format!(
            "{} · {} · {}",
            self.platform, flow, self.transport
        ));
        let started = Instant::now();
        let result = f();
        let latency = started.elapsed();
        let (ok, detail, value) = match result {
            Ok((v, d)) => (true, d, Some(v)),
            Err(e) => (false, e.to_string(), None),
        };
        self.rows.push(Row {
            platform: self.platform,
            flow,
            transport: self.transport,
            ok,
            detail,
            latency_ms: millis(latency),
        });
        value.ok_or(Failed)
    }
}

/// A flow failed (its row says why).
#[derive(Debug)]
pub(crate) struct Failed;

impl From<CoreError> for Failed {
    fn from(_: CoreError) -> Self {
        Failed
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The progress line: redrawn in place on a terminal, one line per step otherwise.
pub(crate) struct Progress {
    done: usize,
    tty: bool,
}

impl Progress {
    fn show(&mut self, what: &str) {
        self.done += 1;
        let mut err = std::io::stderr().lock();
        // A failed write to stderr is not worth failing the demo for.
        let _ = if self.tty {
            write!(err, "\r\x1b[2K[{:>2}] {what} …", self.done)
        } else {
            writeln!(err, "[{:>2}] {what}", self.done)
        };
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

pub(crate) fn run(args: DemoArgs) -> Result<(), CliError> {
    let sandbox = Sandbox::builder()
        .all_platforms()
        .start_blocking()
        .map_err(|e| CliError::refused(format!("the sandbox did not start: {e}")))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::refused(format!("cannot start the async runtime: {e}")))?;
    let config = kaifang::core::transport::TransportConfig::default();
    let runners = [
        Runner::Blocking(kaifang::blocking::BlockingClient::new(config.clone())?),
        Runner::Async(
            kaifang::asynch::AsyncClient::new(config)?,
            rt.handle().clone(),
        ),
    ];
    eprintln!("kaifang demo: sandbox at {}", sandbox.base_url());
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut progress = Progress {
        done: 0,
        tty: std::io::stderr().is_terminal(),
    };
    for platform in crate::platforms::Platform::ALL {
        if !args.only.is_empty() && !args.only.contains(&platform) {
            continue;
        }
        for runner in &runners {
            // Every pass starts from the sandbox's initial state (devices register once).
            sandbox.reset();
            let mut rec = Recorder {
                platform: platform.name(),
                transport: runner.name(),
                rows: &mut rows,
                progress: &mut progress,
            };
            // A failed flow is already in its row; the pass just stops there.
            let _ = flows::run(platform, &sandbox, runner, &mut rec);
        }
    }
    progress.finish();
    let total = started.elapsed();
    drop(runners);
    drop(rt);
    shutdown(sandbox);
    print_rows(&rows, args.json)?;
    let failed = rows.iter().filter(|r| !r.ok).count();
    eprintln!(
        "kaifang demo: {} of {} rows passed in {:.2} s",
        rows.len() - failed,
        rows.len(),
        total.as_secs_f64()
    );
    if failed > 0 || rows.is_empty() {
        return Err(CliError::refused(format!(
            "{failed} of {} demo rows failed",
            rows.len()
        )));
    }
    Ok(())
}

fn shutdown(sandbox: BlockingSandbox) {
    sandbox.shutdown();
}

fn print_rows(rows: &[Row], json: bool) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, rows)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        write_table(&mut out, rows)
    };
    written.map_err(|e| CliError::refused(format!("cannot write the table: {e}")))
}

/// Terminal columns of `s`: East Asian wide characters (CJK, Hangul, full-width forms) take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115f
            | 0x2e80..=0xa4cf
            | 0xac00..=0xd7a3
            | 0xf900..=0xfaff
            | 0xfe30..=0xfe4f
            | 0xff00..=0xff60
            | 0xffe0..=0xffe6 => 2,
            _ => 1,
        })
        .sum()
}

fn write_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let header = ["platform", "flow", "transport", "result", "latency"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.platform.to_owned(),
                r.flow.to_owned(),
                r.transport.to_owned(),
                if r.ok {
                    format!("ok: {}", r.detail)
                } else {
                    format!("FAILED: {}", r.detail)
                },
                format!("{:.1} ms", r.latency_ms),
            ]
        })
        .collect();
    let mut widths = header.map(width);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(c));
        }
    }
    let line = |out: &mut dyn Write, cols: [&str; 5]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            let pad = w.saturating_sub(width(c));
            if i == 4 {
                // Latency right-aligned.
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
                s.push_str("  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, header)?;
    let rule = widths.map(|w| "-".repeat(w));
    line(out, rule.each_ref().map(String::as_str))?;
    for row in &cells {
        line(out, row.each_ref().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table_aligns_wide_characters() {
        assert_eq!(width("一型一密"), 8);
        assert_eq!(width("a → b"), 5);
        let rows = [("a", "提交成绩"), ("bbbb", "x")].map(|(f, d)| Row {
            platform: "p",
            flow: if f == "a" { "a" } else { "bbbb" },
            transport: "t",
            ok: true,
            detail: d.to_owned(),
            latency_ms: 1.0,
        });
        let mut out = Vec::new();
        write_table(&mut out, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        let widths: Vec<usize> = text.lines().map(width).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
    }
}
