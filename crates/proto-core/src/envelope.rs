//! Response decoding: the error envelope that platforms put inside HTTP 200 bodies, tolerant serde
//! helpers, and JSON decoding that keeps the path to the bad field.
//!
//! The usual parse step of a platform crate is: [`Envelope::check`] the body (error codes first),
//! then [`decode_value`] the success part into a typed struct.
//!
//! ```
//! use kaifang_proto_core::envelope::{self, Classified, Envelope};
//! use kaifang_proto_core::error::ErrorClass;
//!
//! #[derive(serde::Deserialize)]
//! struct TokenData {
//!     #[serde(rename = "accessToken")]
//!     access_token: String,
//!     // Some responses send "7200", others 7200; one spelling of the doc says `expiresin`.
//!     #[serde(rename = "expiresIn", alias = "expiresin", deserialize_with = "envelope::de::num_or_str")]
//!     expires_in: u64,
//! }
//!
//! const ENVELOPE: Envelope = Envelope {
//!     platform: "demo",
//!     code_keys: &["code", "CODE"],
//!     success: &["0"],
//!     message_keys: &["msg", "message", "MSG"],
//!     missing_code_is_success: false,
//! };
//! fn classify(code: &str, _msg: &str) -> Classified {
//!     match code {
//!         "10001" => Classified::new(ErrorClass::TokenInvalid).hint("refresh the token"),
//!         _ => Classified::new(ErrorClass::Other),
//!     }
//! }
//!
//! let body = br#"{"code":0,"msg":"ok","data":{"accessToken":"t","expiresIn":"7200"}}"#;
//! let v = ENVELOPE.check(body, classify).unwrap();
//! let data: TokenData = envelope::decode_value(&v["data"], body).unwrap();
//! assert_eq!(data.expires_in, 7200);
//!
//! let err = ENVELOPE.check(br#"{"CODE":10001,"MSG":"expired"}"#, classify).unwrap_err();
//! assert!(err.is_token_invalid());
//! assert_eq!(err.to_string(), "demo error 10001: expired (hint: refresh the token)");
//! ```

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorClass, PlatformError};

/// Decodes a JSON body into `T`.
///
/// # Errors
/// [`Error::Decode`] with the path to the offending field (`data.expiresIn`) and a redacted,
/// truncated snippet of the body.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| decode_error(&e, body))?;
    de.end()
        .map_err(|e| Error::decode(".", e.to_string(), body))?;
    Ok(value)
}

/// Decodes an already parsed JSON value (e.g. the `data` member after [`Envelope::check`]).
/// `body` is the original body, used only for the redacted snippet of an error.
///
/// # Errors
/// [`Error::Decode`] with the path relative to `value`.
pub fn decode_value<T: DeserializeOwned>(value: &Value, body: &[u8]) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| decode_error(&e, body))
}

fn decode_error(e: &serde_path_to_error::Error<serde_json::Error>, body: &[u8]) -> Error {
    let path = e.path().to_string();
    let field = path.rsplit('.').next().unwrap_or("");
    let message = scrub_quoted(&e.inner().to_string(), crate::redact::is_sensitive(field));
    Error::decode(path, message, body)
}

/// serde messages quote the offending value (`invalid type: string "…", expected u64`). Redact
/// quoted values when the field is sensitive, or when they look like a credential (16 bytes or
/// more): short values such as `"soon"` stay, since they are what makes the message useful.
fn scrub_quoted(msg: &str, always: bool) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let inner = &after[..close];
        out.push_str(&rest[..=open]);
        if always || inner.len() >= 16 {
            out.push_str(&crate::redact::placeholder(inner.len()));
        } else {
            out.push_str(inner);
        }
        out.push('"');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The first of `keys` present in `map` (for fields with several spellings when
/// `#[serde(alias)]` is not enough, e.g. on a `Map` already parsed).
///
/// ```
/// use kaifang_proto_core::envelope::either_key;
/// let v = serde_json::json!({"accesstoken": "x"});
/// let map = v.as_object().unwrap();
/// assert_eq!(either_key(map, &["access_token", "accesstoken"]).and_then(|v| v.as_str()), Some("x"));
/// ```
#[must_use]
pub fn either_key<'a>(map: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .find_map(|k| map.get(*k).filter(|v| !v.is_null()))
}

/// A JSON scalar as text: strings as they are, numbers and booleans in their JSON spelling.
#[must_use]
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a platform's code table says about one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The class.
    pub class: ErrorClass,
    /// A hint for the user.
    pub hint: Option<&'static str>,
}

impl Classified {
    /// A class without a hint.
    #[must_use]
    pub const fn new(class: ErrorClass) -> Self {
        Self { class, hint: None }
    }

    /// Adds a hint.
    #[must_use]
    pub const fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }
}

/// How a platform reports errors inside its JSON bodies. Usually a `const` in the platform crate.
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    /// The platform's short name (goes into [`PlatformError::platform`]).
    pub platform: &'static str,
    /// Keys that may hold the code, tried in order (`code`, `CODE`, `errcode`, `result`).
    pub code_keys: &'static [&'static str],
    /// Code values meaning success, compared as text (`"0"`, `"200"`, `"00000"`, `"success"`).
    pub success: &'static [&'static str],
    /// Keys that may hold the message, tried in order.
    pub message_keys: &'static [&'static str],
    /// What a body without any code key means: `true` for success (plain OAuth token responses),
    /// `false` for an error with code `""`.
    pub missing_code_is_success: bool,
}

impl Envelope {
    /// Parses `body` as JSON and checks its code.
    ///
    /// Returns the whole body as a [`Value`] on success. A number code `0` and a string code
    /// `"0"` are both the text `0`; `"00000"` stays `00000`.
    ///
    /// # Errors
    /// * [`Error::Decode`] when the body is not JSON or not an object;
    /// * [`Error::Platform`] when the code is not a success value, classified by `classify`
    ///   (given the code text and the message); the message is passed through
    ///   [`redact::text`](crate::redact::text).
    pub fn check<F>(&self, body: &[u8], classify: F) -> Result<Value, Error>
    where
        F: FnOnce(&str, &str) -> Classified,
    {
        let value: Value = decode_json(body)?;
        let Value::Object(map) = &value else {
            return Err(Error::decode(".", "expected a JSON object", body));
        };
        let code = self
            .code_keys
            .iter()
            .find_map(|k| map.get(*k).and_then(scalar_text));
        let Some(code) = code else {
            if self.missing_code_is_success {
                return Ok(value);
            }
            return Err(self.error(map, String::new(), classify));
        };
        if self.success.iter().any(|s| *s == code) {
            return Ok(value);
        }
        Err(self.error(map, code, classify))
    }

    fn error<F>(&self, map: &Map<String, Value>, code: String, classify: F) -> Error
    where
        F: FnOnce(&str, &str) -> Classified,
    {
        let message = self
            .message_keys
            .iter()
            .find_map(|k| map.get(*k).and_then(scalar_text))
            .map(|m| crate::redact::text(&m))
            .unwrap_or_default();
        let c = classify(&code, &message);
        Error::Platform(PlatformError {
            platform: self.platform,
            code,
            message,
            hint: c.hint,
            class: c.class,
        })
    }
}

/// `deserialize_with` helpers for values that platforms send in more than one shape.
pub mod de {
    use core::fmt;
    use core::str::FromStr;

    use serde::Deserialize;
    use serde::de::{Deserializer, Error as _};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(serde_json::Number),
        Str(String),
    }

    fn parse<T, E>(v: NumOrStr) -> Result<T, E>
    where
        T: FromStr,
        T::Err: fmt::Display,
        E: serde::de::Error,
    {
        let text = match v {
            NumOrStr::Num(n) => n.to_string(),
            NumOrStr::Str(s) => s,
        };
        text.trim()
            .parse::<T>()
            .map_err(|e| E::custom(format_args!("expected a number, got {text:?}: {e}")))
    }

    /// A number sent either as a JSON number (`7200`) or as a string (`"7200"`); works for any
    /// `FromStr` number type (`i64`, `u64`, `f64`, `u32`, ...).
    ///
    /// # Errors
    /// When the value is neither, or the text does not parse as `T`.
    pub fn num_or_str<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: fmt::Display,
    {
        parse(NumOrStr::deserialize(d)?)
    }

    /// Like [`num_or_str`] for optional fields; `null` and `""` give `None`. Use with
    /// `#[serde(default)]`.
    ///
    /// # Errors
    /// When the value is present but not a number.
    pub fn opt_num_or_str<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: fmt::Display,
    {
        match Option::<NumOrStr>::deserialize(d)? {
            None => Ok(None),
            Some(NumOrStr::Str(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => parse(v).map(Some),
        }
    }

    /// Scopes sent as one string separated by spaces or commas (`"a b"`, `"a,b"`) or as an
    /// array of strings; `null` gives an empty list. Use with `#[serde(default)]`.
    ///
    /// # Errors
    /// When the value is another type.
    pub fn space_or_list<'de, D>(d: D) -> Result<Vec<String>, D::Error>
    where
        D: Deserializer<'de>,
    {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scope {
            One(String),
            Many(Vec<String>),
        }
        match Option::<Scope>::deserialize(d) {
            Ok(None) => Ok(Vec::new()),
            Ok(Some(Scope::One(s))) => Ok(s
                .split([' ', ','])
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()),
            Ok(Some(Scope::Many(v))) => Ok(v),
            Err(_) => Err(D::Error::custom("expected a string or an array of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: Envelope = Envelope {
        platform: "p",
        code_keys: &["code", "CODE"],
        success: &["00000"],
        message_keys: &["msg"],
        missing_code_is_success: false,
    };

    fn other(_: &str, _: &str) -> Classified {
        Classified::new(ErrorClass::Other)
    }

    #[test]
    fn string_codes_stay_strings() {
        assert!(ENV.check(br#"{"code":"00000","result":{}}"#, other).is_ok());
        let e = ENV.check(br#"{"code":0}"#, other).unwrap_err();
        assert_eq!(e.platform().unwrap().code, "0");
        let e = ENV.check(br#"{"result":1}"#, other).unwrap_err();
        assert_eq!(e.platform().unwrap().code, "");
        let ok = Envelope {
            missing_code_is_success: true,
            ..ENV
        };
        assert!(ok.check(br#"{"access_token":"x"}"#, other).is_ok());
    }

    #[test]
    fn message_is_redacted_and_non_json_is_decode_error() {
        let e = ENV
            .check(br#"{"code":"1","msg":"bad sign=MARKER"}"#, other)
            .unwrap_err();
        assert!(!e.to_string().contains("MARKER"));
        let e = ENV
            .check(b"<html>access_token=MARKER</html>", other)
            .unwrap_err();
        assert!(matches!(e, Error::Decode { .. }));
        assert!(!e.to_string().contains("MARKER"), "{e}");
        assert!(matches!(
            ENV.check(b"[1]", other),
            Err(Error::Decode { .. })
        ));
    }

    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "de::num_or_str")]
        a: i64,
        #[serde(deserialize_with = "de::num_or_str")]
        b: f64,
        #[serde(default, deserialize_with = "de::opt_num_or_str")]
        c: Option<u64>,
        #[serde(default, deserialize_with = "de::space_or_list")]
        scope: Vec<String>,
        #[serde(rename = "access_token", alias = "accesstoken")]
        tok: String,
    }

    #[test]
    fn tolerant_fields() {
        let t: T =
            decode_json(br#"{"a":"-3","b":1.5,"c":"","scope":"x y,z","accesstoken":"q"}"#).unwrap();
        assert_eq!((t.a, t.b, t.c, t.tok.as_str()), (-3, 1.5, None, "q"));
        assert_eq!(t.scope, ["x", "y", "z"]);
        let t: T =
            decode_json(br#"{"a":3,"b":"2","c":9,"scope":["s"],"access_token":"q"}"#).unwrap();
        assert_eq!((t.a, t.c, t.scope.len()), (3, Some(9), 1));
    }

    #[test]
    fn decode_error_has_path_and_no_secret() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            data: Inner,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            #[serde(rename = "expiresIn", deserialize_with = "de::num_or_str")]
            expires_in: u64,
        }
        let body = br#"{"data":{"accessToken":"MARKER","expiresIn":"soon"}}"#;
        let e = decode_json::<Outer>(body).unwrap_err();
        match &e {
            Error::Decode { path, .. } => assert_eq!(path, "data.expiresIn"),
            other => panic!("{other:?}"),
        }
        assert!(!e.to_string().contains("MARKER"));
        assert!(e.to_string().contains(r#""soon""#), "{e}");
        assert!(decode_json::<Outer>(b"{} trailing").is_err());
        // A credential-like value in a wrongly typed field is not echoed by the serde message.
        let body = br#"{"data":{"expiresIn":"MARKER-0123456789abcdef"}}"#;
        let Error::Decode { message, .. } = decode_json::<Outer>(body).unwrap_err() else {
            panic!()
        };
        assert!(!message.contains("MARKER"), "{message}");
    }
}
