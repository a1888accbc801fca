//! The key layout: `{prefix}:{platform}:{tenant}:{kind}` for the token, with `:lock` and
//! `:fence` beside it.
//!
//! [`TokenKey::storage_key`] percent-encodes `:` inside each part, so a token key has exactly
//! three `:`-separated parts after the prefix and the `:lock`/`:fence` keys (four parts) can
//! never collide with another token's key.
//!
//! ```
//! use kaifang_proto_core::lifecycle::TokenKey;
//! use kaifang_store_redis::keys::Keys;
//! let k = Keys::new("fleet", &TokenKey::new("tf56", "app:7", "access"));
//! assert_eq!(k.token(), "fleet:tf56:app%3A7:access");
//! assert_eq!(k.lock(), "fleet:tf56:app%3A7:access:lock");
//! assert_eq!(k.fence(), "fleet:tf56:app%3A7:access:fence");
//! ```

use kaifang_proto_core::lifecycle::TokenKey;

/// The Redis keys of one [`TokenKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    token: String,
    lock: String,
    fence: String,
}

impl Keys {
    /// The keys of `key` under `prefix`.
    #[must_use]
    pub fn new(prefix: &str, key: &TokenKey) -> Self {
        let token = format!("{prefix}:{}", key.storage_key());
        Self {
            lock: format!("{token}:lock"),
            fence: format!("{token}:fence"),
            token,
        }
    }

    /// The token's hash.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The refresh lock.
    #[must_use]
    pub fn lock(&self) -> &str {
        &self.lock
    }

    /// The fence counter.
    #[must_use]
    pub fn fence(&self) -> &str {
        &self.fence
    }
}
