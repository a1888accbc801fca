//! Validated identifiers of a cellular module: [`Imei`] and [`Iccid`].
//!
//! ```
//! use kaifang_proto_device::{Iccid, IccidError, Imei, ImeiError};
//!
//! assert_eq!(Imei::parse("490154203237518")?.as_str(), "490154203237518");
//! assert_eq!(
//!     Imei::parse("490154203237519"),
//!     Err(ImeiError::CheckDigit { expected: 8, found: 9 })
//! );
//! assert_eq!(Iccid::parse("8986001234567890123f")?.as_str(), "8986001234567890123F");
//! assert_eq!(Iccid::parse("8986"), Err(IccidError::Length { len: 4 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::string::String;
use core::fmt;

/// Why a string is not an IMEI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImeiError {
    /// An IMEI is exactly 15 digits.
    Length {
        /// The length received, in bytes.
        len: usize,
    },
    /// A byte that is not an ASCII digit.
    NotADigit {
        /// Its zero-based position.
        index: usize,
    },
    /// The 15th digit is not the Luhn check digit of the first 14.
    CheckDigit {
        /// The Luhn digit of the first 14 digits.
        expected: u8,
        /// The 15th digit received.
        found: u8,
    },
}

impl fmt::Display for ImeiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ImeiError::Length { len } => {
                write!(f, "an IMEI has exactly 15 digits, this one has {len} bytes")
            }
            ImeiError::NotADigit { index } => {
                write!(f, "an IMEI has only digits, byte {index} is not one")
            }
            ImeiError::CheckDigit { expected, found } => write!(
                f,
                "IMEI check digit is {found}, but the Luhn digit of the first 14 is {expected}"
            ),
        }
    }
}

impl core::error::Error for ImeiError {}

/// Why a string is not an ICCID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IccidError {
    /// An ICCID is 19 or 20 digits, or 19 digits and a final `F`.
    Length {
        /// The length received, in bytes.
        len: usize,
    },
    /// A byte that is not an ASCII digit (nor the final `F`/`f` padding).
    NotADigit {
        /// Its zero-based position.
        index: usize,
    },
}

impl fmt::Display for IccidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IccidError::Length { len } => write!(
                f,
                "an ICCID has 19 or 20 digits (or 19 digits and a final F), this one has {len} bytes"
            ),
            IccidError::NotADigit { index } => write!(
                f,
                "an ICCID has only digits (and possibly a final F), byte {index} is not one"
            ),
        }
    }
}

impl core::error::Error for IccidError {}

/// The Luhn check digit of `digits` (ASCII digits, already validated).
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    // Double every second digit counting from the right of the payload (the rightmost first).
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    // `sum % 10` is below 10, so the cast cannot truncate.
    ((10 - sum % 10) % 10) as u8
}

/// A 15-digit IMEI whose last digit is the Luhn check digit of the first 14.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Imei(String);

impl Imei {
    /// Validates `s`: exactly 15 ASCII digits, Luhn check digit last.
    ///
    /// # Errors
    /// [`ImeiError`] naming the first problem.
    pub fn parse(s: &str) -> Result<Self, ImeiError> {
        let bytes = s.as_bytes();
        if bytes.len() != 15 {
            return Err(ImeiError::Length { len: bytes.len() });
        }
        if let Some(index) = bytes.iter().position(|b| !b.is_ascii_digit()) {
            return Err(ImeiError::NotADigit { index });
        }
        let expected = luhn_check_digit(&bytes[..14]);
        let found = bytes[14] - b'0';
        if expected != found {
            return Err(ImeiError::CheckDigit { expected, found });
        }
        Ok(Imei(String::from(s)))
    }

    /// The 15 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Type Allocation Code (first 8 digits: maker and model).
    pub fn tac(&self) -> &str {
        self.0.get(..8).unwrap_or_default()
    }
}

impl fmt::Display for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for Imei {
    type Err = ImeiError;
    fn from_str(s: &str) -> Result<Self, ImeiError> {
        Imei::parse(s)
    }
}

/// A SIM card's ICCID: 19 or 20 digits, or 19 digits and a final `F` padding nibble (kept as an
/// upper-case `F`). The check digit is not verified: operators differ in whether they include it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iccid(String);

impl Iccid {
    /// Validates `s` (a final `f` is accepted and stored as `F`).
    ///
    /// # Errors
    /// [`IccidError`] naming the first problem.
    pub fn parse(s: &str) -> Result<Self, IccidError> {
        let bytes = s.as_bytes();
        let (digits, padded) = match bytes.split_last() {
            Some((b'F' | b'f', rest)) => (rest, true),
            _ => (bytes, false),
        };
        let ok_len = if padded {
            digits.len() == 19
        } else {
            (19..=20).contains(&digits.len())
        };
        if !ok_len {
            return Err(IccidError::Length { len: bytes.len() });
        }
        if let Some(index) = digits.iter().position(|b| !b.is_ascii_digit()) {
            return Err(IccidError::NotADigit { index });
        }
        let mut out = String::with_capacity(bytes.len());
        for &b in digits {
            out.push(char::from(b));
        }
        if padded {
            out.push('F');
        }
        Ok(Iccid(out))
    }

    /// The ICCID (digits, and `F` if padded).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for Iccid {
    type Err = IccidError;
    fn from_str(s: &str) -> Result<Self, IccidError> {
        Iccid::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert_eq!(luhn_check_digit(b"49015420323751"), 8);
        assert_eq!(luhn_check_digit(b"35209900176148"), 1);
        assert!(Imei::parse("352099001761481").is_ok());
        assert_eq!(
            Imei::parse("49015420323751a"),
            Err(ImeiError::NotADigit { index: 14 })
        );
        assert_eq!(Imei::parse("４９"), Err(ImeiError::Length { len: 6 }));
        assert_eq!(Imei::parse("490154203237518").map(|i| i.tac().len()), Ok(8));
    }

    #[test]
    fn iccid_lengths() {
        assert!(Iccid::parse("8986001234567890123").is_ok());
        assert!(Iccid::parse("89860012345678901234").is_ok());
        assert!(Iccid::parse("8986001234567890123F").is_ok());
        assert_eq!(
            Iccid::parse("898600123456789012F"),
            Err(IccidError::Length { len: 19 })
        );
        assert_eq!(
            Iccid::parse("89860012345678901234F"),
            Err(IccidError::Length { len: 21 })
        );
        assert_eq!(
            Iccid::parse("8986001234567890F23"),
            Err(IccidError::NotADigit { index: 16 })
        );
    }
}
