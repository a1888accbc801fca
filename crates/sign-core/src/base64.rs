//! Standard base64 (RFC 4648, with padding) over several parts without joining them.

use crate::error::Error;
use crate::writer::SliceWriter;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encoded length of `n` bytes, with padding.
pub(crate) const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Encodes the concatenation of `parts` into `w`.
pub(crate) fn encode_parts(parts: &[&[u8]], w: &mut SliceWriter<'_>) -> Result<(), Error> {
    let mut group = [0u8; 3];
    let mut filled = 0;
    for &byte in parts.iter().flat_map(|p| p.iter()) {
        group[filled] = byte;
        filled += 1;
        if filled == 3 {
            w.push(&quad(group, 3))?;
            filled = 0;
        }
    }
    if filled > 0 {
        group[filled..].fill(0);
        w.push(&quad(group, filled))?;
    }
    Ok(())
}

fn quad(g: [u8; 3], filled: usize) -> [u8; 4] {
    let n = (u32::from(g[0]) << 16) | (u32::from(g[1]) << 8) | u32::from(g[2]);
    let sym = |shift: u32| ALPHABET[((n >> shift) & 0x3f) as usize];
    [
        sym(18),
        sym(12),
        if filled > 1 { sym(6) } else { b'=' },
        if filled > 2 { sym(0) } else { b'=' },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut buf = [0u8; 16];
            let mut w = SliceWriter::new(&mut buf);
            let (a, b) = input.split_at(input.len() / 2);
            encode_parts(&[a.as_bytes(), b.as_bytes()], &mut w).unwrap();
            assert_eq!(w.into_str(), want);
            assert_eq!(encoded_len(input.len()), want.len());
        }
    }
}
