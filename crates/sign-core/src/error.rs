//! The one error type of this crate.

use core::fmt;

/// Everything that can go wrong in sign-core.
///
/// No variant carries key material, plaintext or ciphertext: only lengths and positions, so an
/// `Error` can be logged as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The caller's output buffer is too small; nothing meaningful was written.
    BufferTooSmall {
        /// Bytes the operation needs.
        needed: usize,
        /// Bytes the caller gave.
        available: usize,
    },
    /// A hex string has an odd number of digits.
    OddHexLength {
        /// Its length.
        len: usize,
    },
    /// A hex string holds a byte that is not `0-9`, `a-f` or `A-F`.
    InvalidHexDigit {
        /// Zero-based position of the offending byte.
        index: usize,
    },
    /// XXTEA ciphertext must be a whole number of 32-bit words.
    CiphertextNotWordAligned {
        /// Its length in bytes.
        len: usize,
    },
    /// XXTEA ciphertext in the xxtea-py format is at least two words (8 bytes) long.
    CiphertextTooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// The decrypted length word is out of range: wrong key, or not xxtea-py ciphertext.
    InvalidLengthWord {
        /// The plaintext length the last word claims.
        claimed: u32,
        /// The ciphertext length in bytes.
        cipher_len: usize,
    },
    /// The input is longer than the format can express (XXTEA's length word is 32 bits).
    InputTooLong {
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "output buffer too small: {needed} bytes needed, {available} given"
                )
            }
            Error::OddHexLength { len } => write!(f, "hex string has an odd length ({len})"),
            Error::InvalidHexDigit { index } => {
                write!(f, "invalid hex digit at position {index}")
            }
            Error::CiphertextNotWordAligned { len } => write!(
                f,
                "XXTEA ciphertext length {len} is not a multiple of 4 bytes"
            ),
            Error::CiphertextTooShort { len } => write!(
                f,
                "XXTEA ciphertext of {len} bytes is too short (xxtea-py output is at least 8 bytes)"
            ),
            Error::InvalidLengthWord {
                claimed,
                cipher_len,
            } => write!(
                f,
                "XXTEA decryption failed: length word {claimed} does not fit {cipher_len} bytes of \
                 ciphertext (wrong key, or not xxtea-py data)"
            ),
            Error::InputTooLong { len } => {
                write!(
                    f,
                    "input of {len} bytes is longer than XXTEA's 32-bit length word allows"
                )
            }
        }
    }
}

impl core::error::Error for Error {}

/// Fails with [`Error::BufferTooSmall`] unless `out` holds at least `needed` bytes.
pub(crate) fn ensure_capacity(needed: usize, out: &[u8]) -> Result<(), Error> {
    if out.len() < needed {
        Err(Error::BufferTooSmall {
            needed,
            available: out.len(),
        })
    } else {
        Ok(())
    }
}
