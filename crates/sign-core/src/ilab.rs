//! The virtual-simulation experiment platform (iLab-x style): the ticket signature.
//!
//! `signature = UPPER(hex(MD5(unquote(ticket) + appid + secret)))`. The ticket arrives
//! URL-encoded; it is signed *decoded* and sent *encoded*. Signing the still-encoded ticket is
//! the classic bug: for an iLab-x v2 ticket with `+ / =` it gives a different signature that the
//! platform rejects with code 2.
//!
//! [`signature`] decodes exactly as Python's `urllib.parse.unquote` does (the platform's sample
//! code uses it): `%XX` becomes a byte, `+` stays `+`, a `%` not followed by two hex digits stays
//! literal, and decoded bytes that are not valid UTF-8 become U+FFFD. It streams the decoded
//! ticket into MD5 without allocating.
//!
//! ```
//! use kaifang_sign_core::ilab;
//!
//! let ticket = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI";
//! assert_eq!(ilab::signature(ticket, "1681600222748241929", "123456"), "6CC426EF80A31C5E7BDE10F6F5772DE5");
//! ```

use crate::digest::Md5;
use crate::error::{Error, ensure_capacity};
use crate::hex::{self, HexCase, HexString};

/// The signature over a ticket as received (URL-encoded or not): it is percent-decoded first.
pub fn signature(ticket: &str, appid: &str, secret: &str) -> HexString<32> {
    let mut md5 = Md5::new();
    unquote_each(ticket, |part| md5.update(part));
    finish(md5, appid, secret)
}

/// The signature over a ticket that is already decoded (no percent-decoding applied).
pub fn signature_decoded(ticket: &str, appid: &str, secret: &str) -> HexString<32> {
    let mut md5 = Md5::new();
    md5.update(ticket.as_bytes());
    finish(md5, appid, secret)
}

fn finish(mut md5: Md5, appid: &str, secret: &str) -> HexString<32> {
    md5.update(appid.as_bytes());
    md5.update(secret.as_bytes());
    HexString::encode(&md5.finish(), HexCase::Upper)
}

/// Percent-decodes `input` into `out` as Python's `unquote` does, and returns the result.
///
/// The result is never longer than the input, so `out` of `input.len()` bytes always suffices
/// (checked up front: on `Err` nothing is written).
pub fn unquote_into<'a>(input: &str, out: &'a mut [u8]) -> Result<&'a str, Error> {
    ensure_capacity(decoded_len_bound(input), out)?;
    let mut pos = 0;
    unquote_each(input, |part| {
        if let Some(dst) = out.get_mut(pos..pos + part.len()) {
            dst.copy_from_slice(part);
            pos += part.len();
        }
    });
    core::str::from_utf8(out.get(..pos).unwrap_or_default()).map_err(|_| Error::BufferTooSmall {
        needed: decoded_len_bound(input),
        available: pos,
    })
}

/// An upper bound of the decoded length: each U+FFFD (3 bytes) replaces at least one `%XX`
/// (3 bytes), so the result never exceeds the input.
fn decoded_len_bound(input: &str) -> usize {
    input.len()
}

/// Streams the Python-`unquote` decoding of `input` to `sink` in pieces.
///
/// Decoded bytes gather in a small stack buffer; complete UTF-8 goes out as it is, invalid
/// sequences as U+FFFD, and an incomplete sequence at the buffer's end waits for the next bytes.
/// A raw non-ASCII character ends a percent-decoded run, as in Python, which decodes each ASCII
/// run of the string separately.
pub fn unquote_each(input: &str, mut sink: impl FnMut(&[u8])) {
    let bytes = input.as_bytes();
    if !bytes.contains(&b'%') {
        sink(bytes);
        return;
    }
    let mut run = Run::default();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex::nibble);
            let lo = bytes.get(i + 2).copied().and_then(hex::nibble);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                run.push((hi << 4) | lo, &mut sink);
                i += 3;
                continue;
            }
            run.push(b, &mut sink);
        } else if b.is_ascii() {
            run.push(b, &mut sink);
        } else {
            // A raw (valid) non-ASCII character: Python decodes the run before it on its own.
            run.flush(true, &mut sink);
            sink(&[b]);
        }
        i += 1;
    }
    run.flush(true, &mut sink);
}

/// Decoded bytes of the current ASCII run, waiting to be validated as UTF-8.
struct Run {
    buf: [u8; 64],
    len: usize,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            buf: [0; 64],
            len: 0,
        }
    }
}

const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

impl Run {
    fn push(&mut self, byte: u8, sink: &mut impl FnMut(&[u8])) {
        if self.len == self.buf.len() {
            self.flush(false, sink);
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Emits what is complete. Unless `end`, an incomplete UTF-8 sequence at the end is kept.
    fn flush(&mut self, end: bool, sink: &mut impl FnMut(&[u8])) {
        let filled = &self.buf[..self.len];
        let mut keep_from = self.len;
        let mut chunks = filled.utf8_chunks().peekable();
        let mut offset = 0;
        while let Some(chunk) = chunks.next() {
            let valid = chunk.valid().as_bytes();
            let invalid = chunk.invalid();
            if !valid.is_empty() {
                sink(valid);
            }
            let invalid_start = offset + valid.len();
            offset = invalid_start + invalid.len();
            if invalid.is_empty() {
                continue;
            }
            let at_end = chunks.peek().is_none() && offset == self.len;
            if !end && at_end && is_incomplete_prefix(invalid) {
                keep_from = invalid_start;
            } else {
                sink(REPLACEMENT);
            }
        }
        let kept = self.len - keep_from;
        self.buf.copy_within(keep_from..self.len, 0);
        self.len = kept;
    }
}

/// Whether `bytes` (reported invalid at the very end of a buffer) is the start of a longer
/// sequence: a lead byte announcing more bytes than are there.
fn is_incomplete_prefix(bytes: &[u8]) -> bool {
    let need = match bytes.first() {
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => 0,
    };
    bytes.len() < need
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unquote(s: &str) -> std::string::String {
        let mut out = std::vec![0u8; s.len()];
        unquote_into(s, &mut out).unwrap().into()
    }

    #[test]
    fn python_unquote_semantics() {
        assert_eq!(unquote("a%2Bb%2Fc%3D"), "a+b/c=");
        assert_eq!(unquote("a+b"), "a+b");
        assert_eq!(unquote("100%"), "100%");
        assert_eq!(unquote("%zz%4"), "%zz%4");
        assert_eq!(unquote("%E5%A4%A9"), "天");
        assert_eq!(unquote("%E5%A4"), "\u{fffd}");
        assert_eq!(unquote("%FF%FEx"), "\u{fffd}\u{fffd}x");
        assert_eq!(unquote("%E5天%A4"), "\u{fffd}天\u{fffd}");
    }

    #[test]
    fn long_runs_cross_the_buffer() {
        let mut s = std::string::String::new();
        for _ in 0..50 {
            s.push_str("%E5%A4%A9a");
        }
        let want: std::string::String = core::iter::repeat_n("天a", 50).collect();
        assert_eq!(unquote(&s), want);
    }
}
