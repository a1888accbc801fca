//! Reading the claims of the platform's JWTs (ticket, access token, refresh token) **without
//! verifying them**.
//!
//! # Untrusted information
//! [`decode_unverified`] checks no signature (the key belongs to the platform) and no expiry.
//! Anyone can forge a token with any claims. Use the result to display a name, to pick a cache
//! key, or to debug; **never for an authorisation decision** (who the user is, what they may
//! do, whether a score belongs to them). The identity you may trust is the `un` / `dis` the
//! platform returned in the token answer over TLS, or a check against the platform.
//!
//! ```
//! use kaifang_proto_ilab::claims::decode_unverified;
//! let ticket = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI";
//! let c = decode_unverified(ticket)?;
//! assert_eq!(c.iss.as_deref(), Some("RONCOO"));
//! assert_eq!(c.user_id.as_deref(), Some("1701808169793138690"));
//! assert_eq!(c.exp, Some(1_713_692_065));
//! assert!(decode_unverified("not a jwt").is_err());
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use kaifang_proto_core::Error;
use kaifang_proto_core::context::from_unix_millis;
use kaifang_proto_core::envelope::{self, de};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Longest token accepted by [`decode_unverified`].
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The claims the platform puts in its tickets and tokens. Every field is optional; numbers
/// sent as strings are accepted. **Unverified**: see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// `un`: the user name (the platform's user id).
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub un: Option<String>,
    /// `dis`: the user's display name.
    #[serde(default)]
    pub dis: Option<String>,
    /// `scope` (`["callback:score"]`).
    #[serde(default, deserialize_with = "de::space_or_list")]
    pub scope: Vec<String>,
    /// `exp`: expiry in Unix **seconds**.
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub exp: Option<i64>,
    /// `jti`: the token's id.
    #[serde(default)]
    pub jti: Option<String>,
    /// `ati`: in a refresh token, the `jti` of its access token.
    #[serde(default)]
    pub ati: Option<String>,
    /// `user_name` (Spring's principal; equals `un`).
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub user_name: Option<String>,
    /// `client_id` (equals the appid).
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub client_id: Option<String>,
    /// `authorities` (`["ADMIN"]`).
    #[serde(default, deserialize_with = "de::space_or_list")]
    pub authorities: Vec<String>,
    /// `create_time` in Unix milliseconds.
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub create_time: Option<i64>,
    /// `expires_time` in Unix milliseconds.
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub expires_time: Option<i64>,
    /// `create_time_display` (`yyyy-MM-dd HH:mm:ss`, Beijing time).
    #[serde(default)]
    pub create_time_display: Option<String>,
    /// `expires_time_display`.
    #[serde(default)]
    pub expires_time_display: Option<String>,
    /// `iss` (tickets: `RONCOO`).
    #[serde(default)]
    pub iss: Option<String>,
    /// `userId` (tickets).
    #[serde(default, rename = "userId", deserialize_with = "de::opt_num_or_str")]
    pub user_id: Option<String>,
    /// Every other claim (`msg`, `code`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// `exp` as a time (unverified).
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.exp
            .and_then(|s| s.checked_mul(1000))
            .map(from_unix_millis)
    }

    /// `true` when the claims list `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }
}

/// Decodes the payload of a compact JWT (`header.payload.signature`) **without verifying
/// anything** (see the module docs). Accepts base64url with or without padding (and the
/// standard alphabet, which some encoders emit). Never panics, whatever the input.
///
/// # Errors
/// [`Error::Decode`] (path `jwt`, `jwt.payload` or the claim's name; the token itself is never
/// quoted) when the value is not three dot-separated parts, longer than [`MAX_TOKEN_LEN`], or
/// its payload is not base64 of a JSON object of the expected types.
pub fn decode_unverified(token: &str) -> Result<Claims, Error> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::decode("jwt", "longer than 64 KiB", b""));
    }
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::decode(
            "jwt",
            "not a JWT: expected three dot-separated parts",
            b"",
        ));
    };
    let bytes =
        b64_decode(payload).ok_or_else(|| Error::decode("jwt.payload", "not base64url", b""))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| Error::decode("jwt.payload", "not JSON", b""))?;
    if !value.is_object() {
        return Err(Error::decode("jwt.payload", "not a JSON object", b""));
    }
    envelope::decode_value(&value, b"")
}

/// Base64url (or standard) without caring about padding.
pub(crate) fn b64_decode(part: &str) -> Option<Vec<u8>> {
    let trimmed = part.trim_end_matches('=');
    if trimmed.is_empty() {
        return None;
    }
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
        .ok()
}

/// Base64url without padding (JWT segments).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
