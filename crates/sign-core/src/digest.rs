//! One-shot hashes: MD5 and SHA-256 into fixed arrays.
//!
//! ```
//! use kaifang_sign_core::{digest, hex::{HexCase, HexString}};
//!
//! let md5 = digest::md5(b"abc");
//! assert_eq!(HexString::<32>::encode(&md5, HexCase::Lower), "900150983cd24fb0d6963f7d28e17f72");
//! ```

use md5::Digest as _;

/// MD5 of `data` (RFC 1321). Only for the platforms whose signatures require it.
pub fn md5(data: &[u8]) -> [u8; 16] {
    md5::Md5::digest(data).into()
}

/// SHA-256 of `data` (FIPS 180-4).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// SHA-1 of `data`. Only for the platforms whose signatures require it.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(data).into()
}

/// Streaming MD5 for callers that build a message piece by piece.
#[derive(Clone, Default)]
pub struct Md5(md5::Md5);

impl Md5 {
    /// A fresh MD5 state.
    pub fn new() -> Self {
        Md5::default()
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> [u8; 16] {
        self.0.finalize().into()
    }
}

impl core::fmt::Debug for Md5 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Md5 { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::{HexCase, HexString};

    #[test]
    fn known_answers() {
        assert_eq!(
            HexString::<64>::encode(&sha256(b"abc"), HexCase::Lower),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            HexString::<40>::encode(&sha1(b"abc"), HexCase::Lower),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let mut m = Md5::new();
        m.update(b"a");
        m.update(b"bc");
        assert_eq!(m.finish(), md5(b"abc"));
    }
}
