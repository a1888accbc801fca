//! HMAC-SHA256, HMAC-SHA1 and HMAC-MD5 with a keyed state built once per secret.
//!
//! Keying an HMAC costs two compressions; [`HmacSha256Key::new`] does it once, and every
//! [`sign`](HmacSha256Key::sign) clones the keyed state, which saves them on every message.
//!
//! ```
//! use kaifang_sign_core::mac::HmacSha256Key;
//! use kaifang_sign_core::hex::{HexCase, HexString};
//!
//! let key = HmacSha256Key::new(b"key");
//! let tag = key.sign(b"The quick brown fox jumps over the lazy dog");
//! assert_eq!(
//!     HexString::<64>::encode(&tag, HexCase::Lower),
//!     "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
//! );
//! // Streaming: no intermediate string.
//! let mut mac = key.start();
//! mac.update(b"The quick brown fox ");
//! mac.update(b"jumps over the lazy dog");
//! assert_eq!(mac.finish(), tag);
//! ```

use core::fmt;

use hmac::{KeyInit, Mac};
use md5::Digest as _;
use zeroize::Zeroize;

/// HMAC's block size for SHA-256, SHA-1 and MD5 alike.
const BLOCK: usize = 64;

macro_rules! hmac_type {
    ($(#[$doc:meta])* $key:ident, $state:ident, $digest:ty, $out:literal, $oneshot:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $key(hmac::Hmac<$digest>);

        impl $key {
            /// Keys the HMAC with `secret` (any length; longer than 64 bytes is hashed first, as
            /// RFC 2104 says).
            pub fn new(secret: &[u8]) -> Self {
                let mut block = [0u8; BLOCK];
                if secret.len() > BLOCK {
                    let hashed = <$digest>::digest(secret);
                    block[..hashed.len()].copy_from_slice(&hashed);
                } else {
                    block[..secret.len()].copy_from_slice(secret);
                }
                let keyed = hmac::Hmac::<$digest>::new(&block.into());
                block.zeroize();
                $key(keyed)
            }

            /// The tag of one message.
            pub fn sign(&self, message: &[u8]) -> [u8; $out] {
                let mut mac = self.0.clone();
                mac.update(message);
                mac.finalize().into_bytes().into()
            }

            /// The tag of the concatenation of `parts`, without building it.
            pub fn sign_parts(&self, parts: &[&[u8]]) -> [u8; $out] {
                let mut mac = self.0.clone();
                for part in parts {
                    mac.update(part);
                }
                mac.finalize().into_bytes().into()
            }

            /// A streaming state for this key: feed pieces with `update`, end with `finish`.
            pub fn start(&self) -> $state {
                $state(self.0.clone())
            }

            /// Verifies `tag` in constant time.
            pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
                let mut mac = self.0.clone();
                mac.update(message);
                mac.verify_slice(tag).is_ok()
            }
        }

        impl fmt::Debug for $key {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($key), "([redacted])"))
            }
        }

        #[doc = concat!("A streaming ", $name, " computation started from a keyed state.")]
        #[derive(Clone)]
        pub struct $state(hmac::Hmac<$digest>);

        impl $state {
            /// Feeds `data`.
            pub fn update(&mut self, data: &[u8]) {
                self.0.update(data);
            }

            /// The tag of everything fed.
            pub fn finish(self) -> [u8; $out] {
                self.0.finalize().into_bytes().into()
            }
        }

        impl fmt::Debug for $state {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($state), "([redacted])"))
            }
        }

        #[doc = concat!("One-shot ", $name, " of `message` under `secret`.")]
        pub fn $oneshot(secret: &[u8], message: &[u8]) -> [u8; $out] {
            $key::new(secret).sign(message)
        }
    };
}

hmac_type!(
    /// HMAC-SHA256 keyed once per secret (Tianyi, Aliyun hmacsha256, dynamic registration).
    HmacSha256Key, HmacSha256, sha2::Sha256, 32, hmac_sha256, "HMAC-SHA256"
);
hmac_type!(
    /// HMAC-SHA1 keyed once per secret (Aliyun hmacsha1).
    HmacSha1Key, HmacSha1, sha1::Sha1, 20, hmac_sha1, "HMAC-SHA1"
);
hmac_type!(
    /// HMAC-MD5 keyed once per secret (Aliyun hmacmd5, its default).
    HmacMd5Key, HmacMd5, md5::Md5, 16, hmac_md5, "HMAC-MD5"
);

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2 and RFC 2202 test cases 2 (SHA-1, MD5).
    #[test]
    fn rfc_vectors() {
        let msg = b"what do ya want for nothing?";
        assert_eq!(
            ::hex::encode(hmac_sha256(b"Jefe", msg)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            ::hex::encode(hmac_sha1(b"Jefe", msg)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            ::hex::encode(hmac_md5(b"Jefe", msg)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
    }

    // RFC 4231 test case 6: a 131-byte key is hashed first.
    #[test]
    fn long_key_is_hashed() {
        let key = [0xaa_u8; 131];
        assert_eq!(
            ::hex::encode(hmac_sha256(
                &key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn parts_stream_and_verify_agree() {
        let key = HmacMd5Key::new(b"k");
        let whole = key.sign(b"hello world");
        assert_eq!(key.sign_parts(&[b"hello", b" ", b"world"]), whole);
        assert!(key.verify(b"hello world", &whole));
        assert!(!key.verify(b"hello world!", &whole));
        assert_eq!(std::format!("{key:?}"), "HmacMd5Key([redacted])");
    }
}
