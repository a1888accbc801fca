//! Test helpers for the kaifang transports (never published).
//!
//! | item | job |
//! |---|---|
//! | [`runtime`] | the one tokio runtime of a test binary (servers run on it; async tests may too) |
//! | [`TestServer`] | a scriptable HTTP/1.1 server on `127.0.0.1:0`: a closure from [`Request`] to [`Reply`] |
//! | [`Reply`] | status, headers, body, delay, and how the body is framed ([`Framing`]) |
//! | [`Blackhole`] | a loopback address whose TCP connect never completes (connect-timeout tests) |
//! | [`http_date`], [`LogCapture`] | a `Date` header value; every tracing line (TRACE) captured in memory |
//! | [`exchanges`] | small generic exchanges and a token source for the transport tests |
//!
//! The server is written directly on tokio sockets (no hyper), so a reply can lie about its
//! `Content-Length`, stream a chunked or close-delimited body, or stall before answering.
//!
//! ```
//! use kaifang_test_support::{Reply, TestServer};
//! let server = TestServer::start(|req| Reply::text(200, format!("you asked for {}", req.path())));
//! assert!(server.url("/x").starts_with("http://127.0.0.1:"));
//! assert_eq!(server.hits(), 0);
//! ```

pub mod exchanges;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// The tokio runtime shared by everything in one test binary (two worker threads), created on
/// first use.
///
/// # Panics
/// If the runtime cannot be created (out of threads): a test helper may fail loudly.
#[allow(clippy::expect_used)]
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Headers in arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (read by `Content-Length`).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with this (lower-case) name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path (target before `?`).
    #[must_use]
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query (target after `?`, or empty).
    #[must_use]
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// How a reply's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: <declared or real length>`, connection kept alive.
    Length,
    /// `Transfer-Encoding: chunked` in 8 KiB chunks, no `Content-Length`.
    Chunked,
    /// No length at all: the body ends when the server closes the connection.
    Close,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Sleep this long before sending anything.
    pub delay: Duration,
    /// Body framing.
    pub framing: Framing,
    /// With [`Framing::Length`]: send this `Content-Length` instead of the real one.
    pub declared_length: Option<u64>,
}

impl Reply {
    /// A reply with a body and no `Content-Type`.
    pub fn bytes(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            framing: Framing::Length,
            declared_length: None,
        }
    }

    /// A `text/plain` reply.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::bytes(status, body.into().into_bytes()).header("content-type", "text/plain")
    }

    /// An `application/json` reply.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::bytes(status, body.into().into_bytes()).header("content-type", "application/json")
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sleeps `d` before answering.
    #[must_use]
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Frames the body as given.
    #[must_use]
    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Declares this `Content-Length` (with [`Framing::Length`]).
    #[must_use]
    pub fn declare_length(mut self, n: u64) -> Self {
        self.declared_length = Some(n);
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A scriptable HTTP/1.1 server on `127.0.0.1:0`, running on [`runtime`]; stopped on drop.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server answering every request with `handler` (called on a runtime thread; keep
    /// it quick and use [`Reply::delay`] to stall).
    ///
    /// # Panics
    /// If no loopback port can be bound.
    #[allow(clippy::expect_used)]
    pub fn start<F>(handler: F) -> Self
    where
        F: Fn(&Request) -> Reply + Send + Sync + 'static,
    {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = std_listener.local_addr().expect("local addr");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let hits = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(handler);
        let task = {
            let hits = Arc::clone(&hits);
            runtime().spawn(async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else {
                    return;
                };
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let handler = Arc::clone(&handler);
                    let hits = Arc::clone(&hits);
                    tokio::spawn(async move {
                        let _ = serve(stream, handler, hits).await;
                    });
                }
            })
        };
        Self { addr, hits, task }
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far (counted before the handler runs).
    #[must_use]
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

async fn serve(mut stream: TcpStream, handler: Handler, hits: Arc<AtomicUsize>) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > 64 * 1024 || stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_owned();
        let target = first.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(Ok(0), |(_, v)| v.parse())
            .map_err(|_| bad("content-length"))?;
        let start = head_end + 4;
        while buf.len() < start + len {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body = buf[start..start + len].to_vec();
        buf.drain(..start + len);
        let req = Request {
            method,
            target,
            headers,
            body,
        };
        hits.fetch_add(1, Ordering::SeqCst);
        let reply = handler(&req);
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let close = write_reply(&mut stream, &reply).await?;
        if close {
            let _ = stream.shutdown().await;
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes the reply; returns whether the connection must close afterwards.
async fn write_reply(stream: &mut TcpStream, reply: &Reply) -> io::Result<bool> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    match reply.framing {
        Framing::Length => {
            let n = reply.declared_length.unwrap_or(reply.body.len() as u64);
            head.push_str(&format!("content-length: {n}\r\n\r\n"));
            let mut out = head.into_bytes();
            out.extend_from_slice(&reply.body);
            stream.write_all(&out).await?;
            Ok(reply.declared_length.is_some())
        }
        Framing::Chunked => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            for chunk in reply.body.chunks(8 * 1024) {
                stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                stream.write_all(chunk).await?;
                stream.write_all(b"\r\n").await?;
            }
            stream.write_all(b"0\r\n\r\n").await?;
            Ok(false)
        }
        Framing::Close => {
            head.push_str("connection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&reply.body).await?;
            Ok(true)
        }
    }
}

/// A loopback address whose TCP handshake never completes: a listener with a backlog of 0 that
/// never accepts, whose queue is filled at creation. A client connecting to it waits until its
/// connect timeout (no traffic leaves the machine).
#[derive(Debug)]
pub struct Blackhole {
    addr: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<std::net::TcpStream>,
}

impl Blackhole {
    /// Creates one.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    #[allow(clippy::expect_used)]
    #[must_use]
    pub fn new() -> Self {
        let _rt = runtime().enter();
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind loopback");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("local addr");
        let mut fillers = Vec::new();
        for _ in 0..64 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => fillers.push(s),
                Err(_) => break,
            }
        }
        Self {
            addr,
            _listener: listener,
            _fillers: fillers,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Default for Blackhole {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn blackhole_connect_times_out() {
        let b = Blackhole::new();
        let started = std::time::Instant::now();
        let r = std::net::TcpStream::connect_timeout(&b.addr, Duration::from_millis(300));
        assert!(r.is_err());
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn server_answers() {
        use std::io::{Read, Write};
        let s = TestServer::start(|r| Reply::text(200, r.target.clone()));
        let mut c = std::net::TcpStream::connect(s.addr()).unwrap();
        c.write_all(b"GET /a?b=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut got = String::new();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
        assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
        assert!(got.ends_with("/a?b=1"), "{got}");
        assert_eq!(s.hits(), 1);
    }
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for a `Date` header.
#[must_use]
pub fn http_date(t: std::time::SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Every tracing event and span of the process, at TRACE, formatted into memory. Install once
/// per test binary (it becomes the global default subscriber).
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    buf: Arc<std::sync::Mutex<Vec<u8>>>,
}

struct CaptureWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Installs the global subscriber (TRACE, span fields included on every line, span
    /// open/close events too).
    ///
    /// # Panics
    /// If a global subscriber is already set.
    #[allow(clippy::expect_used)]
    #[must_use]
    pub fn install() -> Self {
        let capture = Self::default();
        let buf = Arc::clone(&capture.buf);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || CaptureWriter(Arc::clone(&buf)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        capture
    }

    /// Everything captured so far.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .buf
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}
