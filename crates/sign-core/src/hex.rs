//! Hex encoding (lower or upper case) into caller buffers, and decoding of either case.
//!
//! ```
//! use kaifang_sign_core::hex::{self, HexCase};
//!
//! let mut out = [0u8; 8];
//! assert_eq!(hex::encode_to_slice(b"\x01\xab\xff\x00", HexCase::Upper, &mut out)?, "01ABFF00");
//! let mut back = [0u8; 4];
//! assert_eq!(hex::decode_to_slice("01abFF00", &mut back)?, b"\x01\xab\xff\x00");
//! # Ok::<(), kaifang_sign_core::Error>(())
//! ```

use core::fmt;

use crate::error::{Error, ensure_capacity};

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Both hex digits of every byte value: one lookup and one 2-byte store per byte.
const fn pairs(digits: &[u8; 16]) -> [[u8; 2]; 256] {
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [digits[i >> 4], digits[i & 0x0f]];
        i += 1;
    }
    table
}
static LOWER_PAIRS: [[u8; 2]; 256] = pairs(LOWER);
static UPPER_PAIRS: [[u8; 2]; 256] = pairs(UPPER);

/// Which letters a hex encoding uses. Platforms disagree: Python and most Go clients send lower
/// case, Java's `HexBinaryAdapter` and C#'s `Convert.ToHexString` upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HexCase {
    /// `0-9a-f` (Python's `bytes.hex()`).
    #[default]
    Lower,
    /// `0-9A-F` (Java `HexBinaryAdapter`, C# `Convert.ToHexString`).
    Upper,
}

impl HexCase {
    fn pairs(self) -> &'static [[u8; 2]; 256] {
        match self {
            HexCase::Lower => &LOWER_PAIRS,
            HexCase::Upper => &UPPER_PAIRS,
        }
    }
}

/// The hex digits of 16 bytes, written branch-free and table-free so that the compiler turns it
/// into a handful of SIMD instructions (SSE2 on x86_64, NEON on aarch64; plain loops elsewhere):
/// split the nibbles, map each `n` to `'0' + n`, plus the gap to the letters when `n > 9`, and
/// interleave high and low digits.
#[inline(always)]
fn encode16(input: &[u8; 16], case: HexCase, out: &mut [u8; 32]) {
    let gap = match case {
        HexCase::Lower => b'a' - b'0' - 10,
        HexCase::Upper => b'A' - b'0' - 10,
    };
    let digit = |n: u8| n + b'0' + (((n + 6) >> 4) * gap);
    let mut hi = [0u8; 16];
    let mut lo = [0u8; 16];
    for i in 0..16 {
        hi[i] = digit(input[i] >> 4);
        lo[i] = digit(input[i] & 0x0f);
    }
    let (pairs, _) = out.as_chunks_mut::<2>();
    for i in 0..16 {
        pairs[i] = [hi[i], lo[i]];
    }
}

/// Encodes `input` into `out` (exactly twice its length): 16 bytes at a time, then the tail
/// from the table.
fn encode_into(input: &[u8], case: HexCase, out: &mut [u8]) {
    let (chunks, tail) = input.as_chunks::<16>();
    let (outs, out_tail) = out.as_chunks_mut::<32>();
    for (chunk, dst) in chunks.iter().zip(outs.iter_mut()) {
        encode16(chunk, case, dst);
    }
    let table = case.pairs();
    let (pairs, _) = out_tail.as_chunks_mut::<2>();
    for (pair, &byte) in pairs.iter_mut().zip(tail) {
        *pair = table[usize::from(byte)];
    }
}

/// Writes the hex form of `input` into `out[..2 * input.len()]` and returns it as `&str`.
///
/// On `Err` (`out` too small) nothing is written.
pub fn encode_to_slice<'a>(
    input: &[u8],
    case: HexCase,
    out: &'a mut [u8],
) -> Result<&'a str, Error> {
    let needed = input
        .len()
        .checked_mul(2)
        .ok_or(Error::InputTooLong { len: input.len() })?;
    ensure_capacity(needed, out)?;
    let dst = &mut out[..needed];
    encode_into(input, case, dst);
    Ok(ascii_str(dst))
}

/// Expands the first `len` bytes of `buf` into their hex form in place, filling `buf[..2 * len]`.
///
/// This lets one buffer hold first the binary and then the hex (the Tianyi envelope encrypts and
/// hex-encodes its params this way). On `Err` the buffer is unchanged.
pub fn expand_in_place(buf: &mut [u8], len: usize, case: HexCase) -> Result<&str, Error> {
    let needed = len.checked_mul(2).ok_or(Error::InputTooLong { len })?;
    ensure_capacity(needed, buf)?;
    // Move the bytes to the upper half of `buf[..2 * len]`, then expand forwards: chunk `k` is
    // read from `[len + 16k, len + 16k + 16)` into a local copy before its 32 digits go to
    // `[32k, 32k + 32)`, which ends at or before `len + 16(k + 1)`: never past a byte still to
    // be read. Bytes after `2 * len` are never touched.
    let area = &mut buf[..needed];
    area.copy_within(..len, len);
    Ok(expand_upper_half(area, case))
}

/// Expands the bytes held in the upper half of `area` (whose length is even) into their hex
/// form over the whole of it (see [`expand_in_place`]); the Tianyi envelope encrypts straight
/// into the upper half and calls this, so no byte is moved.
pub(crate) fn expand_upper_half(area: &mut [u8], case: HexCase) -> &str {
    let len = area.len() / 2;
    let chunks = len / 16;
    for k in 0..chunks {
        let mut chunk = [0u8; 16];
        chunk.copy_from_slice(&area[len + 16 * k..len + 16 * k + 16]);
        let mut digits = [0u8; 32];
        encode16(&chunk, case, &mut digits);
        area[32 * k..32 * k + 32].copy_from_slice(&digits);
    }
    let table = case.pairs();
    for i in 16 * chunks..len {
        let [hi, lo] = table[usize::from(area[len + i])];
        area[2 * i] = hi;
        area[2 * i + 1] = lo;
    }
    ascii_str(area)
}

/// Decodes hex of either case (mixed case too) into `out` and returns the decoded bytes.
///
/// On `Err` the content of `out` is unspecified, and the error says what was wrong and where.
pub fn decode_to_slice<'a>(hex: &str, out: &'a mut [u8]) -> Result<&'a [u8], Error> {
    let hex = hex.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return Err(Error::OddHexLength { len: hex.len() });
    }
    let needed = hex.len() / 2;
    ensure_capacity(needed, out)?;
    for (i, (dst, pair)) in out.iter_mut().zip(hex.chunks_exact(2)).enumerate() {
        let hi = nibble(pair[0]).ok_or(Error::InvalidHexDigit { index: 2 * i })?;
        let lo = nibble(pair[1]).ok_or(Error::InvalidHexDigit { index: 2 * i + 1 })?;
        *dst = (hi << 4) | lo;
    }
    Ok(out.get(..needed).unwrap_or_default())
}

/// Decodes hex in place: `buf` holds ASCII hex and, on success, its first half holds the bytes.
pub fn decode_in_place(buf: &mut [u8]) -> Result<&mut [u8], Error> {
    if !buf.len().is_multiple_of(2) {
        return Err(Error::OddHexLength { len: buf.len() });
    }
    // Validate first so that an error leaves the buffer unchanged.
    if let Some(index) = buf.iter().position(|&b| nibble(b).is_none()) {
        return Err(Error::InvalidHexDigit { index });
    }
    let half = buf.len() / 2;
    for i in 0..half {
        let hi = nibble(buf[2 * i]).unwrap_or(0);
        let lo = nibble(buf[2 * i + 1]).unwrap_or(0);
        buf[i] = (hi << 4) | lo;
    }
    Ok(buf.get_mut(..half).unwrap_or_default())
}

/// The value of one hex digit of either case.
pub const fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// A short hex string held on the stack (a digest's hex form): no allocation, `Copy`, `&str` view.
///
/// `N` is the capacity in characters; [`HexString::as_str`] gives the written part.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexString<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> HexString<N> {
    /// Encodes `input` (at most `N / 2` bytes; longer input is cut) in the given case.
    pub fn encode(input: &[u8], case: HexCase) -> Self {
        let mut bytes = [0u8; N];
        let take = input.len().min(N / 2);
        let len = encode_to_slice(&input[..take], case, &mut bytes).map_or(0, str::len);
        HexString { bytes, len }
    }

    /// The hex characters.
    pub fn as_str(&self) -> &str {
        ascii_str(self.as_bytes())
    }

    /// The hex characters as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// Number of hex characters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no characters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Compares with another hex string ignoring letter case, in time independent of where they
    /// differ (for verifying signatures received from a peer).
    pub fn eq_ignore_case_ct(&self, other: &str) -> bool {
        ct_eq_ignore_ascii_case(self.as_bytes(), other.as_bytes())
    }
}

impl<const N: usize> AsRef<str> for HexString<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Debug for HexString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for HexString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> PartialEq<str> for HexString<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for HexString<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Constant-time (for equal lengths) ASCII-case-insensitive comparison.
pub fn ct_eq_ignore_ascii_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (&x, &y) in a.iter().zip(b) {
        diff |= x.to_ascii_lowercase() ^ y.to_ascii_lowercase();
    }
    core::hint::black_box(diff) == 0
}

/// Every caller passes bytes it wrote from the hex tables (pure ASCII).
fn ascii_str(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_and_byte_matches_the_table_in_both_cases() {
        let bytes: std::vec::Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for n in 0..bytes.len() {
            let input = &bytes[..n];
            for case in [HexCase::Lower, HexCase::Upper] {
                let table = case.pairs();
                let expected: std::vec::Vec<u8> =
                    input.iter().flat_map(|&b| table[usize::from(b)]).collect();
                let mut out = std::vec![0u8; 2 * n];
                assert_eq!(
                    encode_to_slice(input, case, &mut out).unwrap().as_bytes(),
                    expected
                );
                let mut buf = std::vec![0xeeu8; 2 * n + 3];
                buf[..n].copy_from_slice(input);
                assert_eq!(
                    expand_in_place(&mut buf, n, case).unwrap().as_bytes(),
                    expected
                );
                assert_eq!(
                    &buf[2 * n..],
                    &[0xee; 3],
                    "bytes after the hex are untouched"
                );
            }
        }
    }

    #[test]
    fn encodes_both_cases() {
        let mut out = [0u8; 6];
        assert_eq!(
            encode_to_slice(&[0, 0x9f, 0xfa], HexCase::Lower, &mut out).unwrap(),
            "009ffa"
        );
        assert_eq!(
            encode_to_slice(&[0, 0x9f, 0xfa], HexCase::Upper, &mut out).unwrap(),
            "009FFA"
        );
    }

    #[test]
    fn encode_refuses_small_buffer_without_writing() {
        let mut out = [b'x'; 3];
        assert_eq!(
            encode_to_slice(&[1, 2], HexCase::Lower, &mut out),
            Err(Error::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
        assert_eq!(out, [b'x'; 3]);
    }

    #[test]
    fn expands_in_place() {
        let mut buf = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0];
        assert_eq!(
            expand_in_place(&mut buf, 4, HexCase::Lower).unwrap(),
            "deadbeef"
        );
    }

    #[test]
    fn decode_reports_position_and_keeps_buffer_on_error() {
        let mut out = [0u8; 4];
        assert_eq!(
            decode_to_slice("abc", &mut out),
            Err(Error::OddHexLength { len: 3 })
        );
        assert_eq!(
            decode_to_slice("a0zz", &mut out),
            Err(Error::InvalidHexDigit { index: 2 })
        );
        let mut buf = *b"00gg";
        assert_eq!(
            decode_in_place(&mut buf),
            Err(Error::InvalidHexDigit { index: 2 })
        );
        assert_eq!(&buf, b"00gg");
        let mut buf = *b"0aFf";
        assert_eq!(decode_in_place(&mut buf).unwrap(), &[0x0a, 0xff]);
    }

    #[test]
    fn hex_string_views() {
        let h = HexString::<8>::encode(&[0xab, 0xcd], HexCase::Upper);
        assert_eq!(h, "ABCD");
        assert_eq!(h.len(), 4);
        assert!(h.eq_ignore_case_ct("abcd"));
        assert!(!h.eq_ignore_case_ct("abce"));
        assert!(!h.eq_ignore_case_ct("abc"));
    }
}
