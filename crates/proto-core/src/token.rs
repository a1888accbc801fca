//! [`Token`]: an access token with absolute expiry, its optional refresh token, scope and the
//! platform's extra fields.
//!
//! Expiry is stored as absolute times computed when the response is received
//! ([`Token::from_expires_in`]), never as the relative `expires_in` the platform sent.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use kaifang_proto_core::token::Token;
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let t = Token::from_expires_in("MARKER-access", now, 7200).with_refresh("MARKER-refresh", Some(86_400));
//! assert!(t.is_valid_at(now + Duration::from_secs(7199)));
//! assert!(!t.is_valid_at(now + Duration::from_secs(7200)));
//! assert_eq!(t.remaining(now + Duration::from_secs(7000)), Duration::from_secs(200));
//! assert!(!format!("{t:?}").contains("MARKER"));
//! ```

use core::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::context::{from_unix_millis, to_unix_millis};
use crate::error::Error;
use crate::secret::SecretString;

/// An access token and what came with it.
#[derive(Clone, PartialEq)]
pub struct Token {
    /// The access token.
    pub access: SecretString,
    /// The refresh token, when the grant returned one.
    pub refresh: Option<SecretString>,
    /// `token_type` as sent (`bearer`, `uuid`, ...).
    pub token_type: Option<String>,
    /// Granted scopes (split on spaces or commas by the platform crate).
    pub scope: Vec<String>,
    /// When this process received the token (local clock, or the skew-corrected clock).
    pub issued_at: SystemTime,
    /// When the access token stops working.
    pub expires_at: SystemTime,
    /// When the refresh token stops working, if known.
    pub refresh_expires_at: Option<SystemTime>,
    /// Other fields of the response (`openid`, `uid`, ...). `Debug` shows only their keys.
    pub extra: Map<String, Value>,
}

impl Token {
    /// A token valid from `issued_at` until `expires_at`.
    pub fn new(access: impl Into<String>, issued_at: SystemTime, expires_at: SystemTime) -> Self {
        Self {
            access: SecretString::new(access),
            refresh: None,
            token_type: None,
            scope: Vec::new(),
            issued_at,
            expires_at: expires_at.max(issued_at),
            refresh_expires_at: None,
            extra: Map::new(),
        }
    }

    /// A token received at `now` that lives `expires_in_secs` seconds.
    pub fn from_expires_in(
        access: impl Into<String>,
        now: SystemTime,
        expires_in_secs: u64,
    ) -> Self {
        let expires_at = now
            .checked_add(Duration::from_secs(expires_in_secs))
            .unwrap_or(now);
        Self::new(access, now, expires_at)
    }

    /// Adds a refresh token living `expires_in_secs` seconds from `issued_at` (`None`: unknown).
    #[must_use]
    pub fn with_refresh(
        mut self,
        refresh: impl Into<String>,
        expires_in_secs: Option<u64>,
    ) -> Self {
        self.refresh = Some(SecretString::new(refresh));
        self.refresh_expires_at =
            expires_in_secs.and_then(|s| self.issued_at.checked_add(Duration::from_secs(s)));
        self
    }

    /// Sets the token type.
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = Some(token_type.into());
        self
    }

    /// Sets the scopes.
    #[must_use]
    pub fn with_scope<I, S>(mut self, scope: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scope = scope.into_iter().map(Into::into).collect();
        self
    }

    /// The lifetime the platform granted (`expires_at − issued_at`).
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.expires_at
            .duration_since(self.issued_at)
            .unwrap_or(Duration::ZERO)
    }

    /// `true` while `now < expires_at`.
    #[must_use]
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        now < self.expires_at
    }

    /// Time left before expiry (zero once expired).
    #[must_use]
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.expires_at
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }

    /// `true` when there is a refresh token and it is not known to be expired at `now`.
    #[must_use]
    pub fn refresh_usable_at(&self, now: SystemTime) -> bool {
        self.refresh.is_some() && self.refresh_expires_at.is_none_or(|t| now < t)
    }

    /// A non-reversible fingerprint of the access token, stable across processes: compare it to
    /// know whether a cached token is still the one that failed (compare-and-expire).
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.access.expose_secret())
    }

    /// Serializes the whole token, secrets in clear, to JSON for a token store. The buffer is
    /// zeroized on drop. Times are Unix milliseconds.
    #[must_use]
    pub fn to_json_exposing_secrets(&self) -> Zeroizing<Vec<u8>> {
        let wire = Wire {
            access_token: self.access.expose_secret(),
            refresh_token: self.refresh.as_ref().map(SecretString::expose_secret),
            token_type: self.token_type.as_deref(),
            scope: &self.scope,
            issued_at_ms: to_unix_millis(self.issued_at),
            expires_at_ms: to_unix_millis(self.expires_at),
            refresh_expires_at_ms: self.refresh_expires_at.map(to_unix_millis),
            extra: &self.extra,
        };
        // Serializing borrowed strings and a JSON map into a Vec cannot fail.
        Zeroizing::new(serde_json::to_vec(&wire).unwrap_or_default())
    }

    /// Reads what [`Token::to_json_exposing_secrets`] wrote.
    ///
    /// # Errors
    /// [`Error::Decode`] (redacted) when the bytes are not a stored token.
    pub fn from_stored_json(bytes: &[u8]) -> Result<Self, Error> {
        let w: WireOwned = crate::envelope::decode_json(bytes)?;
        Ok(Self {
            access: SecretString::new(w.access_token),
            refresh: w.refresh_token.map(SecretString::new),
            token_type: w.token_type,
            scope: w.scope,
            issued_at: from_unix_millis(w.issued_at_ms),
            expires_at: from_unix_millis(w.expires_at_ms),
            refresh_expires_at: w.refresh_expires_at_ms.map(from_unix_millis),
            extra: w.extra,
        })
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    // Named like the OAuth fields so that redaction recognises them if this JSON is ever logged.
    access_token: &'a str,
    refresh_token: Option<&'a str>,
    token_type: Option<&'a str>,
    scope: &'a [String],
    issued_at_ms: i64,
    expires_at_ms: i64,
    refresh_expires_at_ms: Option<i64>,
    extra: &'a Map<String, Value>,
}

#[derive(Deserialize)]
struct WireOwned {
    access_token: String,
    refresh_token: Option<String>,
    token_type: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    issued_at_ms: i64,
    expires_at_ms: i64,
    refresh_expires_at_ms: Option<i64>,
    #[serde(default)]
    extra: Map<String, Value>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access", &self.access)
            .field("refresh", &self.refresh)
            .field("fingerprint", &self.fingerprint())
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("issued_at_ms", &to_unix_millis(self.issued_at))
            .field("expires_at_ms", &to_unix_millis(self.expires_at))
            .field(
                "refresh_expires_at_ms",
                &self.refresh_expires_at.map(to_unix_millis),
            )
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The first 16 bytes of SHA-256 over an access token. Equal fingerprints mean the same token;
/// the token cannot be recovered from it. `Debug`/`Display` print 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    /// The fingerprint of a token string.
    #[must_use]
    pub fn of(token: &str) -> Self {
        let digest = Sha256::digest(token.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }

    /// All 32 lower-case hex digits (for stores that compare fingerprints).
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(32);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn validity_and_refresh() {
        let t = Token::from_expires_in("a", t0(), 10).with_refresh("r", Some(20));
        assert_eq!(t.ttl(), Duration::from_secs(10));
        assert!(t.refresh_usable_at(t0() + Duration::from_secs(19)));
        assert!(!t.refresh_usable_at(t0() + Duration::from_secs(20)));
        assert_eq!(t.remaining(t0() + Duration::from_secs(11)), Duration::ZERO);
        let never = Token::from_expires_in("a", t0(), 0);
        assert!(!never.is_valid_at(t0()));
    }

    #[test]
    fn debug_hides_secrets_and_extra_values() {
        let mut t = Token::from_expires_in("MARKER1", t0(), 10).with_refresh("MARKER2", None);
        t.extra
            .insert("iotToken".into(), Value::String("MARKER3".into()));
        let d = format!("{t:?}");
        assert!(!d.contains("MARKER"), "{d}");
        assert!(d.contains("iotToken"));
    }

    #[test]
    fn fingerprint_distinguishes() {
        let a = Token::from_expires_in("a", t0(), 10);
        let b = Token::from_expires_in("b", t0(), 10);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), Fingerprint::of("a"));
        assert_eq!(a.fingerprint().to_hex().len(), 32);
        assert_eq!(format!("{}", a.fingerprint()).len(), 8);
    }

    #[test]
    fn stored_json_roundtrip() {
        let mut t = Token::from_expires_in("acc", t0(), 10)
            .with_refresh("ref", Some(99))
            .with_scope(["a", "b"])
            .with_token_type("bearer");
        t.extra.insert("uid".into(), Value::from(7));
        let bytes = t.to_json_exposing_secrets();
        let back = Token::from_stored_json(&bytes).unwrap();
        assert_eq!(back, t);
        let err = Token::from_stored_json(br#"{"access_token":"MARKER"}"#).unwrap_err();
        assert!(!err.to_string().contains("MARKER"));
    }
}
