//! [`TokenKey`]: which token a cache entry, a store entry or a lock is about.

use core::fmt;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters escaped in [`TokenKey::storage_key`] so components cannot collide.
const COMPONENT: &AsciiSet = &CONTROLS.add(b'%').add(b':').add(b'/').add(b' ');

/// The explicit identity of a cached token: platform, tenant (app id, client id, device) and kind
/// (`access`, `ticket`, `platform-app`, ...). No global or thread-local state selects a tenant:
/// every cache and store call takes a key.
///
/// ```
/// use kaifang_proto_core::lifecycle::TokenKey;
/// let k = TokenKey::new("demo", "app:42", "access");
/// assert_eq!(k.storage_key(), "demo:app%3A42:access");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey {
    /// Platform short name.
    pub platform: Cow<'static, str>,
    /// Tenant: the app or client id the token belongs to (not a secret).
    pub tenant: String,
    /// Token kind within the platform.
    pub kind: Cow<'static, str>,
}

impl TokenKey {
    /// A key from its parts.
    pub fn new(
        platform: impl Into<Cow<'static, str>>,
        tenant: impl Into<String>,
        kind: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            platform: platform.into(),
            tenant: tenant.into(),
            kind: kind.into(),
        }
    }

    /// `platform:tenant:kind` with `%`, `:`, `/`, spaces and controls percent-encoded in each
    /// part: an injective string for store keys (prefix it with your namespace).
    #[must_use]
    pub fn storage_key(&self) -> String {
        format!(
            "{}:{}:{}",
            utf8_percent_encode(&self.platform, COMPONENT),
            utf8_percent_encode(&self.tenant, COMPONENT),
            utf8_percent_encode(&self.kind, COMPONENT)
        )
    }
}

impl fmt::Display for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.storage_key())
    }
}

/// A map keyed by [`TokenKey`] with a fast non-keyed hash ([`KeyHasher`]): what a transport's
/// token manager keeps its per-key entries in.
pub type KeyMap<V> = HashMap<TokenKey, V, BuildHasherDefault<KeyHasher>>;

/// FNV-1a. Token keys are a handful of short strings chosen by the application (no untrusted
/// input), so a fast hash without a random key keeps the lookup on the hot path short.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}
