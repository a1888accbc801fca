//! XXTEA, byte for byte compatible with the Python package `xxtea-py` 1.0.3.
//!
//! The format (what Tianyi's servers expect):
//! - **Key**: the first 16 bytes of the secret; a shorter secret is zero-padded, and every byte
//!   after the first NUL is zeroed (C-string semantics). Tianyi's 32-character appSecret
//!   `88bd97ee5e9949c2bc48efb6e6fa2207` therefore encrypts with `88bd97ee5e9949c2`.
//! - **Framing**: the plaintext as little-endian 32-bit words, zero-padded, plus one last word
//!   holding its byte length. Ciphertext length is `4 * (ceil(len / 4) + 1)`. No PKCS padding.
//! - **Cipher**: Corrected Block TEA, `DELTA = 0x9E3779B9`, `6 + 52 / n` rounds over the `n` words
//!   (length word included), little-endian words on every machine.
//! - **Empty** plaintext encrypts to empty ciphertext, and decrypts from it.
//! - **Decryption** checks the length word. xxtea-py returns `b""` on any failure; we return a
//!   typed [`Error`] instead, so a wrong key is never mistaken for an empty message.
//!
//! # Why not `xxtea-nostd`
//! `xxtea-nostd` 0.1.0 reinterprets `&[u8]` as `&[u32]` without checking alignment (undefined
//! behaviour reachable from safe code: Miri flags it, and debug builds abort on unaligned input),
//! uses the native byte order (so big-endian targets disagree with xxtea-py), panics on empty
//! blocks, short keys and unaligned lengths, keeps a division per word in its decrypt loop, and
//! does none of xxtea-py's key fixing or framing. This implementation is safe code
//! (`#![forbid(unsafe_code)]`), endian-explicit and panic-free on every input; `xxtea-nostd`
//! stays in our tests as a differential oracle, fed aligned and framed buffers, and in the
//! benchmarks side by side.
//!
//! ```
//! use kaifang_sign_core::xxtea::{self, XxteaKey};
//!
//! let key = XxteaKey::new(b"88bd97ee5e9949c2bc48efb6e6fa2207");
//! let mut buf = [0u8; 16];
//! let n = xxtea::encrypt_into(&key, b"abcdefgh", &mut buf)?;
//! assert_eq!(n, 12);
//! let mut out = [0u8; 12];
//! assert_eq!(xxtea::decrypt_into(&key, &buf[..n], &mut out)?, b"abcdefgh");
//! # Ok::<(), kaifang_sign_core::Error>(())
//! ```

use core::fmt;

use zeroize::Zeroize;

use crate::error::{Error, ensure_capacity};

/// The XXTEA round constant.
pub const DELTA: u32 = 0x9E37_79B9;

/// An XXTEA key fixed the way xxtea-py fixes it (see the module docs). Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct XxteaKey([u32; 4]);

impl XxteaKey {
    /// Fixes `secret` as xxtea-py does: first 16 bytes, zero-padded, cut at the first NUL.
    pub fn new(secret: &[u8]) -> Self {
        let mut bytes = [0u8; 16];
        let take = secret.len().min(16);
        bytes[..take].copy_from_slice(&secret[..take]);
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes[nul..].fill(0);
        }
        let mut words = [0u32; 4];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        bytes.zeroize();
        XxteaKey(words)
    }

    /// A key given directly as four words (the raw cipher's view).
    pub const fn from_words(words: [u32; 4]) -> Self {
        XxteaKey(words)
    }
}

impl Drop for XxteaKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for XxteaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XxteaKey([redacted])")
    }
}

/// The ciphertext length for a plaintext of `plain_len` bytes: `0` for `0`, else
/// `4 * (ceil(plain_len / 4) + 1)`. `None` when the length word cannot express `plain_len`.
pub const fn ciphertext_len(plain_len: usize) -> Option<usize> {
    if plain_len == 0 {
        return Some(0);
    }
    if plain_len > u32::MAX as usize - 8 {
        return None;
    }
    Some((plain_len.div_ceil(4) + 1) * 4)
}

/// Encrypts `plain` into `out` in the xxtea-py format and returns the ciphertext length.
///
/// `out` needs [`ciphertext_len`] bytes. On `Err` nothing is written.
pub fn encrypt_into(key: &XxteaKey, plain: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let len = ciphertext_len(plain.len()).ok_or(Error::InputTooLong { len: plain.len() })?;
    if len == 0 {
        return Ok(0);
    }
    ensure_capacity(len, out)?;
    let block = &mut out[..len];
    let (body, length_word) = block.split_at_mut(len - 4);
    body[..plain.len()].copy_from_slice(plain);
    body[plain.len()..].fill(0);
    // `ciphertext_len` bounded the length by u32::MAX.
    length_word.copy_from_slice(&(plain.len() as u32).to_le_bytes());
    let (words, _) = block.as_chunks_mut::<4>();
    encrypt_words(words, &key.0);
    Ok(len)
}

/// Decrypts xxtea-py ciphertext into `out` and returns the plaintext, `out[..n]`.
///
/// `out` needs `cipher.len()` bytes (it is the working buffer). Empty ciphertext gives empty
/// plaintext. On `Err` the content of `out` is unspecified; `cipher` is never touched.
pub fn decrypt_into<'a>(
    key: &XxteaKey,
    cipher: &[u8],
    out: &'a mut [u8],
) -> Result<&'a [u8], Error> {
    check_cipher_len(cipher.len())?;
    ensure_capacity(cipher.len(), out)?;
    let work = &mut out[..cipher.len()];
    work.copy_from_slice(cipher);
    let n = decrypt_framed(key, work)?;
    Ok(&out[..n])
}

/// Decrypts xxtea-py ciphertext in place and returns the plaintext, a prefix of `buf`.
///
/// On `Err` the buffer is restored to the ciphertext it held, so nothing is lost.
pub fn decrypt_in_place<'a>(key: &XxteaKey, buf: &'a mut [u8]) -> Result<&'a mut [u8], Error> {
    check_cipher_len(buf.len())?;
    let n = decrypt_framed(key, buf)?;
    Ok(&mut buf[..n])
}

/// The raw cipher: encrypts `block` (little-endian words, at least two) in place, no framing.
///
/// This is what xxtea-py applies after framing; useful for other framings and for benchmarks.
pub fn encrypt_block(key: &XxteaKey, block: &mut [u8]) -> Result<(), Error> {
    check_block_len(block.len())?;
    let (words, _) = block.as_chunks_mut::<4>();
    encrypt_words(words, &key.0);
    Ok(())
}

/// The raw cipher: decrypts `block` (little-endian words, at least two) in place, no framing.
pub fn decrypt_block(key: &XxteaKey, block: &mut [u8]) -> Result<(), Error> {
    check_block_len(block.len())?;
    let (words, _) = block.as_chunks_mut::<4>();
    decrypt_words(words, &key.0);
    Ok(())
}

fn check_block_len(len: usize) -> Result<(), Error> {
    if !len.is_multiple_of(4) {
        Err(Error::CiphertextNotWordAligned { len })
    } else if len < 8 {
        Err(Error::CiphertextTooShort { len })
    } else {
        Ok(())
    }
}

fn check_cipher_len(len: usize) -> Result<(), Error> {
    if len == 0 {
        Ok(())
    } else {
        check_block_len(len)
    }
}

/// Decrypts a framed block in place and validates the length word as xxtea-py does
/// (`n - 3 <= m <= n` with `n = len - 4`); restores the ciphertext on failure.
fn decrypt_framed(key: &XxteaKey, block: &mut [u8]) -> Result<usize, Error> {
    if block.is_empty() {
        return Ok(0);
    }
    let len = block.len();
    {
        let (words, _) = block.as_chunks_mut::<4>();
        decrypt_words(words, &key.0);
    }
    let n = len - 4;
    let mut last = [0u8; 4];
    last.copy_from_slice(&block[n..]);
    let claimed = u32::from_le_bytes(last);
    let m = claimed as usize;
    // `m > n` first: when it is false, `m <= n < usize::MAX - 3`, so `m + 3` cannot overflow on a
    // 32-bit target with a length word near `u32::MAX` (seen while writing the fuzz target).
    if m > n || m + 3 < n {
        let (words, _) = block.as_chunks_mut::<4>();
        encrypt_words(words, &key.0);
        return Err(Error::InvalidLengthWord {
            claimed,
            cipher_len: len,
        });
    }
    Ok(m)
}

#[inline(always)]
fn mx(sum: u32, y: u32, z: u32, p: usize, e: usize, k: &[u32; 4]) -> u32 {
    (((z >> 5) ^ (y << 2)).wrapping_add((y >> 3) ^ (z << 4)))
        ^ ((sum ^ y).wrapping_add(k[(p ^ e) & 3] ^ z))
}

#[inline(always)]
fn load(word: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*word)
}

/// Encrypts at least two words in place.
///
/// The right neighbour `y` of word `p` is read once and carried over as the word updated next;
/// the last word's right neighbour is the first word as updated in this round. (A plain index
/// loop: LLVM removes its bounds checks, and it measured faster than the iterator form.)
fn encrypt_words(v: &mut [[u8; 4]], k: &[u32; 4]) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let last = n - 1;
    let rounds = 6 + 52 / n;
    let mut sum = 0u32;
    let mut z = load(&v[last]);
    for _ in 0..rounds {
        sum = sum.wrapping_add(DELTA);
        let e = ((sum >> 2) & 3) as usize;
        let mut current = load(&v[0]);
        for p in 0..last {
            let y = load(&v[p + 1]);
            let x = current.wrapping_add(mx(sum, y, z, p, e, k));
            v[p] = x.to_le_bytes();
            z = x;
            current = y;
        }
        let x = current.wrapping_add(mx(sum, load(&v[0]), z, last, e, k));
        v[last] = x.to_le_bytes();
        z = x;
    }
}

/// Decrypts at least two words in place (the inverse of [`encrypt_words`]), walking backwards.
fn decrypt_words(v: &mut [[u8; 4]], k: &[u32; 4]) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let rounds = 6 + 52 / n;
    let mut sum = (rounds as u32).wrapping_mul(DELTA);
    let mut y = v.first().map_or(0, load);
    for _ in 0..rounds {
        let e = ((sum >> 2) & 3) as usize;
        let mut words = v.iter_mut().rev();
        let Some(mut slot) = words.next() else { return };
        let mut current = load(slot);
        let mut p = n - 1;
        let mut new_last = 0;
        for prev in words {
            let z = load(prev);
            let x = current.wrapping_sub(mx(sum, y, z, p, e, k));
            *slot = x.to_le_bytes();
            if p == n - 1 {
                new_last = x;
            }
            y = x;
            current = z;
            slot = prev;
            p -= 1;
        }
        let x = current.wrapping_sub(mx(sum, y, new_last, 0, e, k));
        *slot = x.to_le_bytes();
        y = x;
        sum = sum.wrapping_sub(DELTA);
    }
}

#[cfg(feature = "alloc")]
mod owned {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::{XxteaKey, ciphertext_len, decrypt_in_place, encrypt_into};
    use crate::error::Error;

    /// Encrypts `plain` into a new `Vec` (feature `alloc`).
    pub fn encrypt(key: &XxteaKey, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let len = ciphertext_len(plain.len()).ok_or(Error::InputTooLong { len: plain.len() })?;
        let mut out = vec![0u8; len];
        encrypt_into(key, plain, &mut out)?;
        Ok(out)
    }

    /// Decrypts `cipher` into a new `Vec` (feature `alloc`).
    pub fn decrypt(key: &XxteaKey, cipher: &[u8]) -> Result<Vec<u8>, Error> {
        let mut buf = cipher.to_vec();
        let n = decrypt_in_place(key, &mut buf)?.len();
        buf.truncate(n);
        Ok(buf)
    }
}

#[cfg(feature = "alloc")]
pub use owned::{decrypt, encrypt};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(ciphertext_len(0), Some(0));
        assert_eq!(ciphertext_len(1), Some(8));
        assert_eq!(ciphertext_len(4), Some(8));
        assert_eq!(ciphertext_len(5), Some(12));
        assert_eq!(ciphertext_len(usize::MAX), None);
    }

    #[test]
    fn key_fixing() {
        assert!(XxteaKey::new(b"1234567890") == XxteaKey::new(b"1234567890\0\0\0\0\0\0"));
        assert!(XxteaKey::new(b"12345\x0067890abcdef") == XxteaKey::new(b"12345"));
        assert!(
            XxteaKey::new(b"88bd97ee5e9949c2bc48efb6e6fa2207")
                == XxteaKey::new(b"88bd97ee5e9949c2")
        );
    }

    #[test]
    fn malformed_ciphertext_is_a_typed_error_and_restored() {
        let key = XxteaKey::new(b"k");
        let mut out = [0u8; 16];
        assert_eq!(
            decrypt_into(&key, b"abcde", &mut out),
            Err(Error::CiphertextNotWordAligned { len: 5 })
        );
        assert_eq!(
            decrypt_into(&key, b"abcd", &mut out),
            Err(Error::CiphertextTooShort { len: 4 })
        );
        let mut buf = *b"abcdefgh";
        assert!(matches!(
            decrypt_in_place(&key, &mut buf),
            Err(Error::InvalidLengthWord { .. })
        ));
        assert_eq!(&buf, b"abcdefgh");
        assert_eq!(decrypt_into(&key, b"", &mut out), Ok(&b""[..]));
    }

    #[test]
    fn small_output_buffer_is_refused() {
        let key = XxteaKey::new(b"k");
        let mut out = [0u8; 7];
        assert_eq!(
            encrypt_into(&key, b"a", &mut out),
            Err(Error::BufferTooSmall {
                needed: 8,
                available: 7
            })
        );
    }
}
