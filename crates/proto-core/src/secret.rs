//! Secret newtypes: zeroized on drop, redacted in `Debug`, no `Display`, constant-time equality.
//!
//! ```
//! use kaifang_proto_core::secret::SecretString;
//!
//! let s = SecretString::new("hunter2");
//! assert_eq!(format!("{s:?}"), "SecretString([redacted] len=7)");
//! assert_eq!(s.expose_secret(), "hunter2");
//! assert_eq!(s, SecretString::new("hunter2")); // constant-time comparison
//! ```
//!
//! Deserialization is supported (config files hold secrets); serialization is not implemented on
//! purpose: write `secret.expose_secret()` where a secret really must leave the process, or use
//! [`expose_serialize`] with `#[serde(serialize_with = ...)]` so the choice is visible in the code.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret string (app secret, password, access or refresh token, ticket, authorization code).
///
/// * `Debug` prints `SecretString([redacted] len=N)`; there is no `Display`.
/// * The bytes are zeroized when the value is dropped (clones zeroize independently).
/// * `==` runs in constant time over the contents (the length is not hidden).
#[derive(Clone, Default)]
pub struct SecretString(String);

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretString {}

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Every call site is a place where the secret leaves its box: keep them
    /// few and never pass the result to a logger.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Length in bytes (safe to reveal: it is what `Debug` prints).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when the secret is the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString([redacted] len={})", self.0.len())
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// `#[serde(serialize_with = "kaifang_proto_core::secret::expose_serialize")]`: writes the secret
/// in clear. Only for stores and config writers that must persist it.
///
/// # Errors
/// Whatever the serializer returns.
pub fn expose_serialize<S: serde::Serializer>(
    secret: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

/// Like [`expose_serialize`] for `Option<SecretString>`.
///
/// # Errors
/// Whatever the serializer returns.
pub fn expose_serialize_opt<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(s) => serializer.serialize_some(s.expose_secret()),
        None => serializer.serialize_none(),
    }
}

macro_rules! secret_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(SecretString::new(secret))
            }

            /// The secret itself; see [`SecretString::expose_secret`].
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }

            /// The inner [`SecretString`].
            #[must_use]
            pub fn as_secret(&self) -> &SecretString {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted] len={})"), self.0.len())
            }
        }

        impl From<SecretString> for $name {
            fn from(value: SecretString) -> Self {
                Self(value)
            }
        }

        impl From<$name> for SecretString {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

secret_newtype!(
    /// An access token (bearer credential for API calls). Same guarantees as [`SecretString`].
    AccessToken
);
secret_newtype!(
    /// A refresh token (long-lived credential that mints access tokens). Same guarantees as
    /// [`SecretString`].
    RefreshToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::new("MARKER-SECRET-123");
        let dbg = format!(
            "{s:?} {:?} {:?}",
            AccessToken::new("MARKER-A"),
            RefreshToken::new("MARKER-R")
        );
        assert!(!dbg.contains("MARKER"), "{dbg}");
        assert!(dbg.contains("len=17"));
        assert!(dbg.contains("AccessToken([redacted] len=8)"));
    }

    #[test]
    fn equality_and_deserialize() {
        let a: SecretString = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(a, SecretString::from("abc"));
        assert_ne!(a, SecretString::from("abd"));
        assert_ne!(a, SecretString::from("ab"));
        let t: AccessToken = serde_json::from_str("\"tok\"").unwrap();
        assert_eq!(t.expose_secret(), "tok");
    }

    #[test]
    fn explicit_serialize() {
        #[derive(serde::Serialize)]
        struct Cfg {
            #[serde(serialize_with = "expose_serialize")]
            secret: SecretString,
        }
        let out = serde_json::to_string(&Cfg { secret: "x".into() }).unwrap();
        assert_eq!(out, r#"{"secret":"x"}"#);
    }
}
