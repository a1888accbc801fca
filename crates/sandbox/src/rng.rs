//! Random values for modules: token strings of a given shape, seedable for reproducible runs.

use std::fmt;
use std::sync::{Arc, RwLock};

use kaifang_proto_core::context::{Nonce, OsNonce, SeqNonce};

/// The sandbox's random source. Seeded ([`Builder::seed`](crate::Builder::seed)) it yields the
/// same sequence on every run (and again after a reset); unseeded it uses the OS source.
#[derive(Clone)]
pub struct SandboxRng {
    seed: Option<u64>,
    inner: Arc<RwLock<Arc<dyn Nonce>>>,
}

impl fmt::Debug for SandboxRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxRng")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

fn source(seed: Option<u64>) -> Arc<dyn Nonce> {
    match seed {
        Some(s) => Arc::new(SeqNonce::new(s)),
        None => Arc::new(OsNonce),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl SandboxRng {
    /// A seeded source (`Some`) or the OS source (`None`).
    #[must_use]
    pub fn new(seed: Option<u64>) -> Self {
        Self {
            seed,
            inner: Arc::new(RwLock::new(source(seed))),
        }
    }

    /// The seed, if any.
    #[must_use]
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The underlying proto-core [`Nonce`] (to build a proto-core `Context`).
    #[must_use]
    pub fn nonce(&self) -> Arc<dyn Nonce> {
        Arc::clone(
            &self
                .inner
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Restarts a seeded sequence from its seed (no effect on the OS source).
    pub fn reseed(&self) {
        *self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = source(self.seed);
    }

    /// Fills `buf` with random bytes. The OS source failing (it does not in practice) falls back
    /// to a time-seeded sequence rather than failing a request.
    pub fn fill(&self, buf: &mut [u8]) {
        if self.nonce().try_fill(buf).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let _ = SeqNonce::new(t).try_fill(buf);
        }
    }

    /// `len` lowercase hex characters (e.g. 32 for a tf56 token, 40 for a Zhiyun `auth_code`).
    #[must_use]
    pub fn hex(&self, len: usize) -> String {
        let mut bytes = vec![0u8; len.div_ceil(2)];
        self.fill(&mut bytes);
        let mut out = String::with_capacity(len);
        for b in bytes {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out.truncate(len);
        out
    }

    /// `len` characters from `[A-Za-z0-9]` (e.g. 32 for a Tianyi access token).
    #[must_use]
    pub fn alphanumeric(&self, len: usize) -> String {
        match self.nonce().alphanumeric(len) {
            Ok(s) => s,
            Err(_) => self.hex(len),
        }
    }

    /// `len` decimal digits.
    #[must_use]
    pub fn digits(&self, len: usize) -> String {
        let mut bytes = vec![0u8; len];
        self.fill(&mut bytes);
        bytes
            .into_iter()
            .map(|b| char::from(b'0' + b % 10))
            .collect()
    }

    /// A uniform value in `[0, 1)`.
    #[must_use]
    pub fn unit_f64(&self) -> f64 {
        self.nonce().unit_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_seeds() {
        let r = SandboxRng::new(Some(7));
        let a = r.hex(33);
        assert_eq!(a.len(), 33);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let b = r.alphanumeric(24);
        assert_eq!(b.len(), 24);
        r.reseed();
        assert_eq!(r.hex(33), a);
        assert_eq!(
            SandboxRng::new(Some(7)).hex(8),
            SandboxRng::new(Some(7)).hex(8)
        );
        assert_ne!(SandboxRng::new(None).hex(32), SandboxRng::new(None).hex(32));
        assert!(r.digits(10).bytes().all(|b| b.is_ascii_digit()));
    }
}
