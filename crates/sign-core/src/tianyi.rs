//! Tianyi Shilian VCP (天翼视联): the encrypted private params and the signature.
//!
//! Every call is a form POST whose private params `k1=v1&k2=v2` (raw, in the caller's order) are
//! XXTEA-encrypted with the app secret (effectively its first 16 bytes, see [`crate::xxtea`]) and
//! hex-encoded, and whose signature is
//! `HMAC-SHA256(key = the whole app secret, appId + clientType + params + timestamp + version)`
//! over the params exactly as sent (their hex case included).
//!
//! ```
//! use kaifang_sign_core::hex::HexCase;
//! use kaifang_sign_core::tianyi::{StringToSign, TianyiSigner};
//!
//! let signer = TianyiSigner::new(b"88bd97ee5e9949c2bc48efb6e6fa2207");
//! let plain = b"callbackUrl=http://192.168.140.1:8889&state=abcdefghijklmnop&loginClientType=10010";
//! let mut buf = [0u8; 256];
//! let params = signer.encrypt_params_hex(plain, HexCase::Lower, &mut buf)?;
//! assert!(params.starts_with("e7f042fd76937d76"));
//! let sts = StringToSign { app_id: "693299085757", client_type: 3, params, timestamp: 1_700_000_000_000, version: "2.0" };
//! assert_eq!(
//!     signer.sign(&sts, HexCase::Lower).as_str(),
//!     "7134edd0ae864e3c00072ce39cf6c33efd68b94fb0e7d442061877b62360b376"
//! );
//! # Ok::<(), kaifang_sign_core::Error>(())
//! ```

use core::fmt;

use crate::error::Error;
use crate::hex::{self, HexCase, HexString};
use crate::mac::HmacSha256Key;
use crate::writer::Decimal;
use crate::xxtea::{self, XxteaKey};

/// The app secret, prepared once: the keyed HMAC (whole secret) and the XXTEA key (first 16 bytes).
#[derive(Clone)]
pub struct TianyiSigner {
    hmac: HmacSha256Key,
    xxtea: XxteaKey,
}

impl fmt::Debug for TianyiSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TianyiSigner([redacted])")
    }
}

/// The public fields that the signature covers, in the order they are concatenated.
///
/// Its `Display` is the string-to-sign itself (it holds no secret: `params` is ciphertext).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringToSign<'a> {
    /// `appId`, as issued by the platform.
    pub app_id: &'a str,
    /// `clientType`: 0 iOS, 1 Android, 2 web, 3 PC, 4 server.
    pub client_type: u32,
    /// `params`: the encrypted private params in hex, exactly as sent.
    pub params: &'a str,
    /// `timestamp`: Unix milliseconds.
    pub timestamp: u64,
    /// `version`, e.g. `2.0` or `v1.0` (part of the signature).
    pub version: &'a str,
}

impl StringToSign<'_> {
    /// Feeds the string-to-sign to `sink` piece by piece (no intermediate string).
    pub fn for_each_part(&self, mut sink: impl FnMut(&[u8])) {
        sink(self.app_id.as_bytes());
        sink(Decimal::new(u64::from(self.client_type)).as_bytes());
        sink(self.params.as_bytes());
        sink(Decimal::new(self.timestamp).as_bytes());
        sink(self.version.as_bytes());
    }

    /// The string-to-sign copied into `buf`, or `None` (nothing usable written) if it does not
    /// fit.
    fn assemble<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let mut n: usize = 0;
        let mut fits = true;
        self.for_each_part(|part| {
            match n
                .checked_add(part.len())
                .and_then(|end| buf.get_mut(n..end))
            {
                Some(dst) if fits => {
                    dst.copy_from_slice(part);
                    n += part.len();
                }
                _ => fits = false,
            }
        });
        if fits { buf.get(..n) } else { None }
    }

    /// Length of the string-to-sign in bytes.
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.for_each_part(|p| n += p.len());
        n
    }

    /// Whether the string-to-sign is empty (it never is for a real request).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for StringToSign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut result = Ok(());
        self.for_each_part(|part| {
            if result.is_ok() {
                result = f.write_str(core::str::from_utf8(part).unwrap_or("\u{fffd}"));
            }
        });
        result
    }
}

/// The stack buffer [`TianyiSigner::sign`] assembles a string-to-sign in before hashing it:
/// room for private params of up to about 130 plaintext bytes (hex-encoded ciphertext) plus the
/// other fields, while costing firmware stacks little; longer strings are streamed.
const STS_STACK_BYTES: usize = 320;

/// Hex length of the encrypted params for a plaintext of `plain_len` bytes.
pub const fn params_hex_len(plain_len: usize) -> Option<usize> {
    match xxtea::ciphertext_len(plain_len) {
        Some(n) => n.checked_mul(2),
        None => None,
    }
}

impl TianyiSigner {
    /// Prepares the app secret (keys the HMAC once; fixes the XXTEA key once).
    pub fn new(app_secret: &[u8]) -> Self {
        TianyiSigner {
            hmac: HmacSha256Key::new(app_secret),
            xxtea: XxteaKey::new(app_secret),
        }
    }

    /// Encrypts the private params and hex-encodes them into `out`, which needs
    /// [`params_hex_len`] bytes (the ciphertext goes to the upper half of that area and is
    /// expanded to hex over it: one buffer, no copy).
    pub fn encrypt_params_hex<'a>(
        &self,
        plain: &[u8],
        case: HexCase,
        out: &'a mut [u8],
    ) -> Result<&'a str, Error> {
        let needed = params_hex_len(plain.len()).ok_or(Error::InputTooLong { len: plain.len() })?;
        crate::error::ensure_capacity(needed, out)?;
        // Encrypt into the upper half of the hex area, then expand it forwards over the area.
        let area = &mut out[..needed];
        xxtea::encrypt_into(&self.xxtea, plain, &mut area[needed / 2..])?;
        Ok(hex::expand_upper_half(area, case))
    }

    /// Decrypts hex params of either case (what the server receives) into `out`, which needs
    /// half the hex length. Returns the plaintext `k=v&...` bytes.
    pub fn decrypt_params_hex<'a>(
        &self,
        params: &str,
        out: &'a mut [u8],
    ) -> Result<&'a [u8], Error> {
        let cipher_len = hex::decode_to_slice(params, out)?.len();
        let n =
            xxtea::decrypt_in_place(&self.xxtea, out.get_mut(..cipher_len).unwrap_or_default())?
                .len();
        Ok(out.get(..n).unwrap_or_default())
    }

    /// The signature over `sts`, streamed into the keyed HMAC, in the requested case.
    pub fn sign(&self, sts: &StringToSign<'_>, case: HexCase) -> HexString<64> {
        let mut mac = self.hmac.start();
        // One `update` over the string assembled on the stack when it fits (the usual case: 205
        // bytes for the seed's 82-byte params), so that SHA-256 runs over whole blocks straight
        // from the buffer instead of re-buffering five pieces; a longer one is streamed.
        let mut buf = [0u8; STS_STACK_BYTES];
        match sts.assemble(&mut buf) {
            Some(whole) => mac.update(whole),
            None => sts.for_each_part(|part| mac.update(part)),
        }
        HexString::encode(&mac.finish(), case)
    }

    /// Checks a received signature over `sts`, ignoring hex case, in constant time.
    pub fn verify(&self, sts: &StringToSign<'_>, signature: &str) -> bool {
        self.sign(sts, HexCase::Lower).eq_ignore_case_ct(signature)
    }
}
