//! Helpers shared by the fuzz targets.

use std::sync::Arc;

use arbitrary::Arbitrary;
use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};

/// The frozen time of every target (2023-11-14).
pub const NOW_MS: i64 = 1_700_000_000_000;

/// A context at [`NOW_MS`] with a fixed nonce.
pub fn ctx() -> Context {
    Context::new(
        Arc::new(FrozenClock::from_unix_millis(NOW_MS)),
        Arc::new(FixedNonce::new("abcdefghijklmnopqrstuvwxyz012345")),
    )
}

/// A fuzzed response head: status and content type.
#[derive(Debug, Clone, Arbitrary)]
pub struct Head {
    /// Index into [`STATUSES`], or a raw status.
    pub status: u16,
    /// Index into [`CONTENT_TYPES`].
    pub content_type: u8,
    /// An optional `Retry-After` value.
    pub retry_after: Option<String>,
}

/// The layout of the response targets' inputs, so that real bodies seed the corpus as they are:
/// byte 0 picks the status, byte 1 the content type, byte 2 holds flags, the rest is the body.
/// `None` for inputs shorter than three bytes.
pub fn split(data: &[u8]) -> Option<(Head, u8, &[u8])> {
    let (h, body) = data.split_first_chunk::<3>()?;
    let [status, content_type, flags] = *h;
    let head = Head {
        status: u16::from(status),
        content_type,
        retry_after: (flags & 0x80 != 0).then(|| "120".to_owned()),
    };
    Some((head, flags, body))
}

/// Statuses the parsers branch on.
pub const STATUSES: [u16; 10] = [200, 201, 204, 302, 400, 401, 403, 404, 429, 503];
/// Content types the parsers branch on.
pub const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "application/json;charset=UTF-8",
    "text/xml",
    "text/html",
    "application/x-www-form-urlencoded",
    "",
];

impl Head {
    /// The response with `body`.
    pub fn response(&self, body: &[u8]) -> http::Response<Vec<u8>> {
        let status = if self.status < 1000 && self.status >= 100 && self.status % 7 == 0 {
            self.status
        } else {
            STATUSES[usize::from(self.status) % STATUSES.len()]
        };
        let mut b = http::Response::builder().status(status);
        let ct = CONTENT_TYPES[usize::from(self.content_type) % CONTENT_TYPES.len()];
        if !ct.is_empty() {
            b = b.header("content-type", ct);
        }
        if let Some(ra) = &self.retry_after {
            if let Ok(v) = http::HeaderValue::from_str(ra) {
                b = b.header("retry-after", v);
            }
        }
        b.body(body.to_vec()).expect("valid status and headers")
    }
}

/// Panics when `text` (an error's Display and Debug) holds `secret`: parsers must never put
/// secrets into errors.
pub fn assert_no_secret<E: std::fmt::Debug + std::fmt::Display>(e: &E, secret: &str) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(secret), "secret leaked into error: {shown}");
}

/// Base64url without padding (JWT segments), written here so that the targets do not trust the
/// encoder under test.
pub fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
