//! Helpers shared by the `kaifang login` tests: the binary in a child process (its stderr read
//! on a thread so the login URL is seen while it waits), and a minimal HTTP/1.1 GET.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tf56 demo code client of the sandbox.
pub(crate) const TF56_ID: &str = "1";
/// Its secret (public, printed in the platform's documentation).
pub(crate) const TF56_SECRET: &str = kaifang::tf56::server::CODE_CLIENT_SECRET;

/// A running `kaifang login`.
pub(crate) struct Login {
    child: Child,
    url: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stdout: std::thread::JoinHandle<String>,
}

/// What the process left behind.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

impl Login {
    /// `kaifang login <args>` with `env` (and no profile file, no inherited KAIFANG_* ids).
    pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)]) -> Login {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaifang"));
        cmd.arg("login").args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("KAIFANG_") && k != "KAIFANG_REQUIRE_EXTERNAL" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kaifang");
        let err = child.stderr.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, url) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("http://") || line.starts_with("https://") {
                    let _ = tx.send(line.clone());
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Login {
            child,
            url,
            stderr,
            stdout,
        }
    }

    /// The login URL printed on stderr.
    pub(crate) fn url(&mut self, within: Duration) -> String {
        match self.url.recv_timeout(within) {
            Ok(u) => u,
            Err(_) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "kaifang printed no login URL within {within:?}; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
        }
    }

    /// Waits for the exit (killing the process after `within`).
    pub(crate) fn finish(mut self, within: Duration) -> Finished {
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "kaifang login did not exit within {within:?}; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.join().unwrap();
        // The stderr thread ends at EOF, right after the exit.
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr.lock().unwrap().clone();
        Finished {
            status,
            stdout,
            stderr,
            elapsed: started.elapsed(),
        }
    }
}

/// A parsed answer of [`get`].
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

/// `GET url` over plain HTTP/1.1 (`Connection: close`), redirects not followed.
pub(crate) fn get(url: &str) -> Answer {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: text/html\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_owned())
    });
    Answer {
        status,
        location,
        body: body.to_owned(),
    }
}

/// The value of query parameter `name` in `url`.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Checks the printed token JSON; returns it.
pub(crate) fn token_json(stdout: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
    assert!(v["expires_in"].as_u64().unwrap() > 0, "{v}");
    assert!(v["expiry"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(
        v.get("token_type").is_some() && v.get("scope").is_some(),
        "{v}"
    );
    v
}
