//! A bounded writer over a caller's buffer, and integer formatting without allocation.

use crate::error::{Error, ensure_capacity};

/// Appends bytes to a caller's buffer and reports overflow as [`Error::BufferTooSmall`].
pub(crate) struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> SliceWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter { buf, pos: 0 }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos = end;
                Ok(())
            }
            None => Err(Error::BufferTooSmall {
                needed: end,
                available: self.buf.len(),
            }),
        }
    }

    /// Checks up front that `total` bytes fit, so a failed write leaves no partial output behind
    /// in callers that pre-compute their length.
    pub(crate) fn reserve_total(&self, total: usize) -> Result<(), Error> {
        ensure_capacity(total, self.buf)
    }

    /// The written part as `&str`. Every caller writes only UTF-8, so this never fails in practice;
    /// it still returns a `Result` rather than assume.
    pub(crate) fn into_str(self) -> &'a str {
        let SliceWriter { buf, pos } = self;
        let written: &'a [u8] = match buf.get(..pos) {
            Some(w) => w,
            None => &[],
        };
        core::str::from_utf8(written).unwrap_or_default()
    }
}

/// A `u64` in decimal, on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(mut value: u64) -> Self {
        // Two digits per step from a table: half the dependent divisions of one-digit steps.
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        while value >= 100 && start >= 2 {
            // `value % 100` is below 100, so the index stays below 200.
            let i = (value % 100) as usize * 2;
            value /= 100;
            start -= 2;
            digits[start] = PAIRS[i];
            digits[start + 1] = PAIRS[i + 1];
        }
        if value >= 10 && start >= 2 {
            let i = value as usize * 2;
            start -= 2;
            digits[start] = PAIRS[i];
            digits[start + 1] = PAIRS[i + 1];
        } else if start >= 1 {
            start -= 1;
            // Below 10 here.
            digits[start] = b'0' + value as u8;
        }
        Decimal { digits, start }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.digits.get(self.start..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formats_edges() {
        for v in [0u64, 7, 10, 1_700_000_000_000, u64::MAX] {
            let d = Decimal::new(v);
            assert_eq!(
                core::str::from_utf8(d.as_bytes()).unwrap(),
                std::format!("{v}")
            );
        }
    }

    #[test]
    fn writer_refuses_overflow() {
        let mut buf = [0u8; 4];
        let mut w = SliceWriter::new(&mut buf);
        w.push(b"ab").unwrap();
        assert_eq!(
            w.push(b"abc"),
            Err(Error::BufferTooSmall {
                needed: 5,
                available: 4
            })
        );
        assert_eq!(w.into_str(), "ab");
    }
}
