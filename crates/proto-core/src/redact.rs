//! Redaction of URLs, query strings, form bodies, JSON bodies, free text and header maps, for
//! logs, traces and error messages.
//!
//! A value is replaced by `[redacted len=N]` (N = its length in bytes as it appeared); no
//! characters of it are kept. Every function here accepts any input, including non-UTF-8 bytes,
//! and never panics.
//!
//! ```
//! use kaifang_proto_core::redact;
//!
//! assert_eq!(
//!     redact::url("https://api.example.com/x?client_id=42&access_token=abcd#frag"),
//!     "https://api.example.com/x?client_id=42&access_token=[redacted len=4]#frag",
//! );
//! assert_eq!(
//!     redact::json_str(r#"{"appId":"1","data":{"accessToken":"tok"}}"#),
//!     r#"{"appId":"1","data":{"accessToken":"[redacted len=3]"}}"#,
//! );
//! ```
//!
//! # Which names are sensitive
//! Names are compared after lower-casing and removing `_` and `-`, so `access_token`,
//! `accessToken`, `AccessToken` and `access-token` are one name. See [`is_sensitive`].

use std::borrow::Cow;
use std::fmt::Write as _;

use http::HeaderMap;
use serde_json::Value;

/// Default maximum size of a body snippet kept in an error, in bytes.
pub const SNIPPET_MAX: usize = 512;

/// Names (normalized: lower case, no `_`/`-`) whose values are always redacted.
const EXACT: &[&str] = &[
    "accesstoken",
    "refreshtoken",
    "refeshtoken", // sic: a platform's own misspelling
    "signature",
    "sign",
    "secret",
    "clientsecret",
    "appsecret",
    "password",
    "passwd",
    "ticket",
    "code",
    "authcode",
    "tokencode",
    "devicesecret",
    "productsecret",
    "params", // Tianyi's encrypted private parameters
    "p",      // Zhiyun's `p_`
    "authorization",
    "proxyauthorization",
    "cookie",
    "setcookie",
    "token",
];

/// Suffixes (normalized) that make any name sensitive: `iotToken`, `deviceSecret`, `userPassword`.
const SUFFIXES: &[&str] = &["token", "secret", "password", "signature"];

/// `true` when a parameter, JSON key or header with this name carries a secret.
///
/// The comparison ignores ASCII case, `_` and `-`. Besides the exact names listed in this
/// module's source (`access_token`, `refresh_token`, `sign`, `signature`, `secret`, `password`,
/// `ticket`, `code`, `authCode`, `tokenCode`, `params`, `p_`, `Authorization`, `Cookie`, ...),
/// any name ending in `token`, `secret`, `password` or `signature` is sensitive.
///
/// ```
/// use kaifang_proto_core::redact::is_sensitive;
/// assert!(is_sensitive("refresh_token") && is_sensitive("refreshToken") && is_sensitive("P_"));
/// assert!(is_sensitive("iotToken") && is_sensitive("Set-Cookie"));
/// assert!(!is_sensitive("token_type") && !is_sensitive("deviceCode") && !is_sensitive("appId"));
/// ```
#[must_use]
pub fn is_sensitive(name: &str) -> bool {
    let mut norm = [0u8; 48];
    let mut n = 0;
    for b in name.bytes() {
        if b == b'_' || b == b'-' {
            continue;
        }
        if n == norm.len() {
            // Very long names: fall back to an allocation.
            return is_sensitive_slow(name);
        }
        norm[n] = b.to_ascii_lowercase();
        n += 1;
    }
    classify(&norm[..n])
}

fn is_sensitive_slow(name: &str) -> bool {
    let norm: Vec<u8> = name
        .bytes()
        .filter(|b| *b != b'_' && *b != b'-')
        .map(|b| b.to_ascii_lowercase())
        .collect();
    classify(&norm)
}

fn classify(norm: &[u8]) -> bool {
    EXACT.iter().any(|e| e.as_bytes() == norm)
        || SUFFIXES.iter().any(|s| norm.ends_with(s.as_bytes()))
}

/// The replacement text for a secret of `len` bytes: `[redacted len=N]`.
#[must_use]
pub fn placeholder(len: usize) -> String {
    format!("[redacted len={len}]")
}

fn decode_name(raw: &str) -> Cow<'_, str> {
    if raw.contains(['%', '+']) {
        let plus = raw.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&plus).decode_utf8_lossy();
        Cow::Owned(decoded.into_owned())
    } else {
        Cow::Borrowed(raw)
    }
}

/// Redacts the values of sensitive parameters in a query string or an
/// `application/x-www-form-urlencoded` body (without the leading `?`). Names are matched after
/// percent-decoding; everything else is kept byte for byte.
///
/// ```
/// use kaifang_proto_core::redact;
/// assert_eq!(
///     redact::query("grant_type=refresh_token&refresh_token=r%2B1&p_=xyz"),
///     "grant_type=refresh_token&refresh_token=[redacted len=5]&p_=[redacted len=3]",
/// );
/// ```
#[must_use]
pub fn query(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, value)) if is_sensitive(&decode_name(name)) => {
                out.push_str(name);
                out.push('=');
                out.push_str(&placeholder(value.len()));
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// Redacts a form body given as bytes (lossy UTF-8).
#[must_use]
pub fn form(body: &[u8]) -> String {
    query(&String::from_utf8_lossy(body))
}

/// Redacts a URL: credentials in the authority (`user:password@`), sensitive query parameters,
/// and sensitive parameters in the fragment (implicit-grant tokens). Works on relative or
/// malformed URLs too.
#[must_use]
pub fn url(u: &str) -> String {
    let (before_frag, frag) = match u.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (u, None),
    };
    let (base, q) = match before_frag.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (before_frag, None),
    };
    let mut out = redact_userinfo(base);
    if let Some(q) = q {
        out.push('?');
        out.push_str(&query(q));
    }
    if let Some(f) = frag {
        out.push('#');
        if f.contains('=') {
            out.push_str(&query(f));
        } else {
            out.push_str(f);
        }
    }
    out
}

fn redact_userinfo(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return base.to_owned();
    };
    let after = &base[scheme_end + 3..];
    let auth_end = after.find('/').unwrap_or(after.len());
    let authority = &after[..auth_end];
    let Some(at) = authority.rfind('@') else {
        return base.to_owned();
    };
    let userinfo = &authority[..at];
    let mut out = String::with_capacity(base.len());
    out.push_str(&base[..scheme_end + 3]);
    match userinfo.split_once(':') {
        Some((user, pass)) => {
            out.push_str(user);
            out.push(':');
            out.push_str(&placeholder(pass.len()));
        }
        None => out.push_str(&placeholder(userinfo.len())),
    }
    out.push_str(&after[at..]);
    out
}

/// Redacts, in place, every value under a sensitive key at any depth of a JSON value. Scalars
/// become `"[redacted len=N]"` (N = length of the string, or of the number's text); arrays and
/// objects under a sensitive key become `"[redacted]"`.
pub fn json_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if is_sensitive(k) {
                    *child = redacted_json(child);
                } else {
                    json_value(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json_value),
        _ => {}
    }
}

fn redacted_json(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(placeholder(s.len())),
        Value::Number(n) => Value::String(placeholder(n.to_string().len())),
        Value::Bool(_) => Value::String("[redacted]".to_owned()),
        Value::Array(_) | Value::Object(_) => Value::String("[redacted]".to_owned()),
    }
}

/// Redacts a JSON document given as text; on invalid JSON (truncated, HTML, ...) falls back to
/// [`text`].
#[must_use]
pub fn json_str(s: &str) -> String {
    match serde_json::from_str::<Value>(s) {
        Ok(mut v) => {
            json_value(&mut v);
            v.to_string()
        }
        Err(_) => text(s),
    }
}

/// Redacts free text (a body that is neither valid JSON nor a form, an error message): values of
/// `name=value` pairs (ended by `&`, whitespace, `;`, `,`, `"` or `'`) and of
/// `"name": "value"` / `"name": 123` JSON fragments whose name is sensitive.
#[must_use]
pub fn text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0; // bytes of `s` already copied to `out`
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'=' || b == b':' {
            // For `"name" : value`, the name ends before the closing quote (spaces allowed).
            let mut j = i;
            if b == b':' {
                while j > 0 && bytes[j - 1].is_ascii_whitespace() {
                    j -= 1;
                }
            }
            let name_end = if b == b':' && j > 0 && bytes[j - 1] == b'"' {
                j - 1
            } else {
                i
            };
            // Walk back over the name.
            let mut start = name_end;
            while start > 0 && is_name_byte(bytes[start - 1]) {
                start -= 1;
            }
            let name = &s[start..name_end];
            let is_json = b == b':' && name_end != i;
            if !name.is_empty() && (b == b'=' || is_json) && is_sensitive(name) {
                let (vstart, vend) = value_span(bytes, i + 1, is_json);
                if vend > vstart {
                    out.push_str(&s[copied..vstart]);
                    out.push_str(&placeholder(vend - vstart));
                    copied = vend;
                    i = vend;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Span of the value starting at `from` (after `=` or `:`). For JSON, skips spaces and an
/// opening quote and stops at the closing quote (honouring `\"`), or at `,`/`}` for bare values.
fn value_span(bytes: &[u8], from: usize, is_json: bool) -> (usize, usize) {
    let mut start = from;
    if is_json {
        while start < bytes.len() && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        if start < bytes.len() && bytes[start] == b'"' {
            start += 1;
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            return (start, end.min(bytes.len()));
        }
        let mut end = start;
        while end < bytes.len() && !matches!(bytes[end], b',' | b'}' | b']') {
            end += 1;
        }
        return (start, end);
    }
    let mut end = start;
    while end < bytes.len()
        && !bytes[end].is_ascii_whitespace()
        && !matches!(bytes[end], b'&' | b';' | b',' | b'"' | b'\'' | b'<' | b'>')
    {
        end += 1;
    }
    (start, end)
}

/// Redacts a body according to its `Content-Type` (JSON, form, or anything else as text; a JSON
/// body is detected even without the header). Non-UTF-8 bytes are replaced (lossy).
#[must_use]
pub fn body(content_type: Option<&str>, body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("x-www-form-urlencoded") {
        return query(&s);
    }
    let trimmed = s.trim_start();
    if ct.contains("json") || trimmed.starts_with('{') || trimmed.starts_with('[') {
        return json_str(&s);
    }
    text(&s)
}

/// [`body`] then [`truncate`] to `max` bytes: the snippet kept in errors.
#[must_use]
pub fn snippet(content_type: Option<&str>, raw: &[u8], max: usize) -> String {
    truncate(&body(content_type, raw), max)
}

/// Cuts `s` to at most `max` bytes on a character boundary, appending `…(+N bytes)` when cut.
/// Apply only to text that is already redacted.
#[must_use]
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…(+{} bytes)", &s[..cut], s.len() - cut)
}

/// The value of a header for logs: redacted when the name is sensitive, `[non-utf8 len=N]` when
/// the value is not visible ASCII/UTF-8.
#[must_use]
pub fn header_value(name: &str, value: &http::HeaderValue) -> String {
    if is_sensitive(name) {
        return placeholder(value.len());
    }
    match value.to_str() {
        Ok(v) => text(v),
        Err(_) => format!("[non-utf8 len={}]", value.len()),
    }
}

/// All headers as `(name, redacted value)` pairs, in map order.
#[must_use]
pub fn headers(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.as_str().to_owned(), header_value(k.as_str(), v)))
        .collect()
}

/// Headers rendered on one line, `name: value; name: value`, redacted.
#[must_use]
pub fn headers_line(map: &HeaderMap) -> String {
    let mut out = String::new();
    for (i, (k, v)) in headers(map).into_iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let _ = write!(out, "{k}: {v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    const MARK: &str = "MARKERx9";

    #[test]
    fn names() {
        for n in [
            "access_token",
            "accessToken",
            "AccessToken",
            "refresh_token",
            "refreshToken",
            "refeshToken",
            "signature",
            "sign",
            "secret",
            "client_secret",
            "appSecret",
            "app_secret",
            "password",
            "ticket",
            "code",
            "authCode",
            "auth_code",
            "tokenCode",
            "deviceSecret",
            "productSecret",
            "params",
            "p_",
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "Set-Cookie",
            "accesstoken",
            "refreshtoken",
        ] {
            assert!(is_sensitive(n), "{n}");
        }
        for n in [
            "appId",
            "grant_type",
            "timestamp",
            "version",
            "deviceCode",
            "expires_in",
            "msg",
        ] {
            assert!(!is_sensitive(n), "{n}");
        }
        assert!(is_sensitive(&format!("{}Token", "x".repeat(100))));
    }

    #[test]
    fn url_and_query() {
        let u = format!(
            "https://user:{MARK}@h.example/p?a=1&sign={MARK}&appSecret={MARK}#access_token={MARK}&x=1"
        );
        let r = url(&u);
        assert!(!r.contains(MARK), "{r}");
        assert!(r.starts_with("https://user:[redacted len=8]@h.example/p?a=1&sign="));
        assert!(r.ends_with("&x=1"));
        assert_eq!(url("/rel?code=abc"), "/rel?code=[redacted len=3]");
        assert_eq!(query("a&b=&sign"), "a&b=&sign");
        assert_eq!(
            query("acc%65ss_token=zz"),
            "acc%65ss_token=[redacted len=2]"
        );
    }

    #[test]
    fn json_nested() {
        let body = format!(
            r#"{{"code":0,"msg":"ok","data":{{"accessToken":"{MARK}","list":[{{"deviceSecret":"{MARK}"}}],"params":{{"x":"{MARK}"}},"expiresIn":3600}}}}"#
        );
        let r = body_str(&body);
        assert!(!r.contains(MARK), "{r}");
        assert!(r.contains(r#""expiresIn":3600"#));
        assert!(r.contains(r#""msg":"ok""#));
    }

    fn body_str(s: &str) -> String {
        body(Some("application/json"), s.as_bytes())
    }

    #[test]
    fn text_and_broken_json() {
        let t = format!("error: access_token={MARK}; password:{MARK} sign={MARK}&ok=1");
        let r = text(&t);
        assert!(r.contains("ok=1"));
        assert_eq!(r.matches(MARK).count(), 1, "{r}"); // `password:` is not a JSON key here
        let broken = format!(
            r#"{{"accessToken" : "{MARK}", "n": 1, "refreshToken":12345, "sign":"a\"{MARK}""#
        );
        let r = json_str(&broken);
        assert!(!r.contains(MARK), "{r}");
        assert!(!r.contains("12345"), "{r}");
    }

    #[test]
    fn headers_redacted() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Basic c2VjcmV0"));
        h.insert("x-trace", HeaderValue::from_static("abc"));
        h.insert("x-bin", HeaderValue::from_bytes(&[0xff, 0xfe]).unwrap());
        let line = headers_line(&h);
        assert!(!line.contains("c2VjcmV0"));
        assert!(line.contains("x-trace: abc"));
        assert!(line.contains("x-bin: [non-utf8 len=2]"));
    }

    #[test]
    fn snippet_truncates_after_redaction() {
        let body = format!("access_token={MARK}&{}", "é".repeat(600));
        let s = snippet(
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
            40,
        );
        assert!(!s.contains(MARK));
        assert!(s.starts_with("access_token=[redacted len=8]&"));
        assert!(s.contains("…(+"));
        // A cut in the middle of the secret can never reveal a prefix of it.
        let s = snippet(None, format!("sign={MARK}").as_bytes(), 7);
        assert!(!s.contains("MARK"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), max in 0usize..600) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = url(&s);
            let _ = query(&s);
            let _ = text(&s);
            let _ = json_str(&s);
            let _ = snippet(None, &bytes, max);
            let _ = snippet(Some("application/json"), &bytes, max);
            let _ = snippet(Some("application/x-www-form-urlencoded"), &bytes, max);
            let _ = is_sensitive(&s);
        }

        #[test]
        fn marker_never_survives_in_sensitive_pairs(
            name in prop::sample::select(vec!["access_token", "refreshToken", "sign", "p_", "code", "appSecret"]),
            prefix in "[a-z]{0,8}",
            secret in "[A-Za-z0-9]{1,40}",
        ) {
            let marker = format!("ZZ{secret}");
            let q = format!("{prefix}=1&{name}={marker}");
            prop_assert!(!query(&q).contains(&marker));
            let u = format!("https://h/x?{q}");
            prop_assert!(!url(&u).contains(&marker));
            let t = format!("oops {q} end");
            prop_assert!(!text(&t).contains(&marker));
            let j = format!(r#"{{"{prefix}x":1,"{name}":"{marker}"}}"#);
            prop_assert!(!json_str(&j).contains(&marker));
            prop_assert!(!json_str(&j[..j.len() - 1]).contains(&marker));
        }
    }
}
