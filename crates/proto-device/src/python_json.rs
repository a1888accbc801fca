//! [`PythonJson`]: JSON bytes exactly as Python's `json.dumps(data)` writes them.
//!
//! The seed sends `request.post(url, json=data, …)`, which serializes with `json.dumps` defaults:
//! separators `", "` and `": "` (with spaces), keys in the dict's insertion order, and
//! `ensure_ascii=True` (every non-ASCII character and DEL as `\uXXXX`, lower-case hex, astral
//! characters as surrogate pairs). Floats use Python's `repr` (`1.0`, `1e+16`, `1e-05`).
//! A server that checks a body signature or logs raw bodies sees the same bytes from a kaifang
//! device as from a QuecPython one.
//!
//! ```
//! use kaifang_proto_device::PythonJson;
//! use serde_json::json;
//!
//! let v = json!({"b": [1, 2.5, 1e16], "a": "设备"});
//! // serde_json's `Value` sorts keys; an insertion-ordered object is `ProvisionRequest`.
//! assert_eq!(
//!     PythonJson::CPYTHON.to_vec(&v),
//!     br#"{"a": "\u8bbe\u5907", "b": [1, 2.5, 1e+16]}"#
//! );
//! assert_eq!(PythonJson::MICROPYTHON.to_vec(&v), r#"{"a": "设备", "b": [1, 2.5, 1e+16]}"#.as_bytes());
//! ```
//!
//! Nested objects given as a `serde_json::Value` keep `Value`'s key order (sorted); only the
//! top level of a [`ProvisionRequest`](crate::ProvisionRequest) is insertion-ordered.

use alloc::vec::Vec;
use core::fmt::Write as _;

use serde_json::{Number, Value};

/// A JSON writer with Python's `json.dumps` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonJson {
    /// `true` (CPython's default): escape everything outside printable ASCII as `\uXXXX`.
    /// `false`: write UTF-8 as is, escaping only `"`, `\` and control characters (MicroPython,
    /// or CPython with `ensure_ascii=False`).
    pub ensure_ascii: bool,
}

impl Default for PythonJson {
    fn default() -> Self {
        PythonJson::CPYTHON
    }
}

impl PythonJson {
    /// CPython's `json.dumps` defaults (what `requests.post(json=…)` sends).
    pub const CPYTHON: PythonJson = PythonJson { ensure_ascii: true };
    /// UTF-8 output, as MicroPython/QuecPython `ujson.dumps` writes non-ASCII text.
    pub const MICROPYTHON: PythonJson = PythonJson {
        ensure_ascii: false,
    };

    /// The bytes of `value`.
    pub fn to_vec(&self, value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_value(&mut out, value);
        out
    }

    /// Appends `value` to `out`.
    pub fn write_value(&self, out: &mut Vec<u8>, value: &Value) {
        match value {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Number(n) => write_number(out, n),
            Value::String(s) => self.write_str(out, s),
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    self.write_value(out, item);
                }
                out.push(b']');
            }
            Value::Object(map) => self.write_object(out, map.iter().map(|(k, v)| (k.as_str(), v))),
        }
    }

    /// Appends an object whose members come in the given order.
    pub fn write_object<'a, I>(&self, out: &mut Vec<u8>, members: I)
    where
        I: IntoIterator<Item = (&'a str, &'a Value)>,
    {
        out.push(b'{');
        for (i, (key, value)) in members.into_iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            self.write_str(out, key);
            out.extend_from_slice(b": ");
            self.write_value(out, value);
        }
        out.push(b'}');
    }

    /// Appends a JSON string literal.
    pub fn write_str(&self, out: &mut Vec<u8>, s: &str) {
        out.push(b'"');
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if (c as u32) < 0x20 => push_u_escape(out, c as u32),
                c if self.ensure_ascii && !(' '..='~').contains(&c) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        push_u_escape(out, u32::from(*unit));
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        out.push(b'"');
    }
}

fn push_u_escape(out: &mut Vec<u8>, unit: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12u32, 8, 4, 0] {
        out.push(HEX[((unit >> shift) & 0xf) as usize]);
    }
}

/// `Vec<u8>` as a `fmt::Write` sink.
struct Sink<'a>(&'a mut Vec<u8>);

impl core::fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        let _ = write!(Sink(out), "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(Sink(out), "{i}");
    } else if let Some(f) = n.as_f64() {
        write_python_float(out, f);
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, positional when the decimal exponent
/// is in `-4..16`, otherwise `d.ddde±XX`.
pub(crate) fn write_python_float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    // Rust's `{:e}` prints the shortest round-trip digits: `-1.2345e-5`, `1e16`, `0e0`.
    let mut sci = Vec::with_capacity(32);
    let _ = write!(Sink(&mut sci), "{f:e}");
    let (mantissa, exp) = match sci.iter().position(|&b| b == b'e') {
        Some(i) => (&sci[..i], &sci[i + 1..]),
        None => (&sci[..], &b"0"[..]),
    };
    let (negative, mantissa) = match mantissa.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.iter().copied().filter(|&b| b != b'.').collect();
    let exp: i32 = core::str::from_utf8(exp)
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    if negative {
        out.push(b'-');
    }
    let n = digits.len() as i32;
    let decpt = exp + 1;
    if !(-3..=16).contains(&decpt) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let _ = write!(Sink(out), "{:02}", exp.unsigned_abs());
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(core::iter::repeat_n(b'0', decpt.unsigned_abs() as usize));
        out.extend_from_slice(&digits);
    } else if decpt < n {
        let (int, frac) = digits.split_at(decpt as usize);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(&digits);
        out.extend(core::iter::repeat_n(b'0', (decpt - n) as usize));
        out.extend_from_slice(b".0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn py(f: f64) -> String {
        let mut out = Vec::new();
        write_python_float(&mut out, f);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn floats_match_python_repr() {
        // Expected values from CPython 3.11 `repr`.
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e16, "1.5e+16"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.2345e-5, "1.2345e-05"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (-1.7976931348623157e308, "-1.7976931348623157e+308"),
            (100.0, "100.0"),
            (123.456, "123.456"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for &(f, want) in cases {
            assert_eq!(py(f), want, "{f:?}");
        }
    }
}
