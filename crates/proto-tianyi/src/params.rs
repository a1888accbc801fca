//! Private params: `k1=v1&k2=v2` exactly as the platform decrypts them.

use std::fmt;

use kaifang_proto_core::Error;
use kaifang_proto_core::redact;
use zeroize::Zeroizing;

/// Private params in the caller's order, raw (not URL-encoded, not sorted), as Tianyi wants.
///
/// Values may hold `:` and `/` (URLs), but not `&`: the server splits on `&` and on the first `=`
/// of each piece, so a value with `&` would be cut. [`PrivateParams::push`] refuses it rather
/// than send a request the server misreads. Values are kept out of `Debug` when their name is
/// sensitive (`authCode`, `accessToken`, `refreshToken`, ...).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PrivateParams {
    pairs: Vec<(String, Zeroizing<String>)>,
}

impl PrivateParams {
    /// No params.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key=value`.
    ///
    /// # Errors
    /// [`Error::Config`] when the key is empty or holds `=` or `&`, or the value holds `&`.
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> Result<&mut Self, Error> {
        let value = Zeroizing::new(value.into());
        if key.is_empty() || key.contains(['=', '&']) {
            return Err(Error::Config(format!(
                "tianyi: invalid private param name {key:?}"
            )));
        }
        if value.contains('&') {
            return Err(Error::Config(format!(
                "tianyi: the value of private param `{key}` contains `&`, which the platform cannot parse"
            )));
        }
        self.pairs.push((key.to_owned(), value));
        Ok(self)
    }

    /// Builder form of [`push`](Self::push).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Result<Self, Error> {
        self.push(key, value)?;
        Ok(self)
    }

    /// The value of the first param named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a param named `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// The plaintext `k=v&...` (zeroized when dropped: it holds codes and tokens).
    pub fn to_plain(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }

    /// The plaintext with sensitive values replaced by `[redacted len=N]` (for `explain`).
    pub fn to_elided(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| {
                if redact::is_sensitive(k) {
                    format!("{k}={}", redact::placeholder(v.len()))
                } else {
                    format!("{k}={}", v.as_str())
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Parses decrypted params as the server does: split on `&`, then on the first `=`. Pieces
    /// without `=` and empty values are kept as empty strings; unknown keys are kept.
    pub fn parse_plain(plain: &str) -> Self {
        let pairs = plain
            .split('&')
            .filter(|piece| !piece.is_empty())
            .map(|piece| match piece.split_once('=') {
                Some((k, v)) => (k.to_owned(), Zeroizing::new(v.to_owned())),
                None => (piece.to_owned(), Zeroizing::new(String::new())),
            })
            .collect();
        PrivateParams { pairs }
    }
}

impl fmt::Debug for PrivateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateParams({})", self.to_elided())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_raw_values() {
        let p = PrivateParams::new()
            .with("callbackUrl", "http://192.168.140.1:8889")
            .unwrap()
            .with("state", "abc")
            .unwrap()
            .with("loginClientType", "10010")
            .unwrap();
        assert_eq!(
            p.to_plain().as_str(),
            "callbackUrl=http://192.168.140.1:8889&state=abc&loginClientType=10010"
        );
    }

    #[test]
    fn refuses_ampersands_and_elides_secrets() {
        assert!(PrivateParams::new().with("a", "x&y").is_err());
        assert!(PrivateParams::new().with("a=b", "x").is_err());
        let p = PrivateParams::new().with("authCode", "SECRETCODE").unwrap();
        assert!(!format!("{p:?}").contains("SECRETCODE"));
        assert_eq!(p.to_elided(), "authCode=[redacted len=10]");
    }

    #[test]
    fn server_parsing_splits_on_first_equals() {
        let p = PrivateParams::parse_plain("a=b=c&empty=&flag&&x=1");
        assert_eq!(p.get("a"), Some("b=c"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("x"), Some("1"));
    }
}
