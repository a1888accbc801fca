//! Zhiyun (致云) open auth: the `p_` check value and the HTTP Basic client credentials.
//!
//! ```
//! use kaifang_sign_core::zhiyun;
//!
//! assert_eq!(zhiyun::check_value(1_422_339_152_058), 8519);
//! let mut buf = [0u8; 64];
//! assert_eq!(
//!     zhiyun::basic_authorization("1102084294", "aku8hCyXBd9SqYkT", &mut buf)?,
//!     "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU"
//! );
//! # Ok::<(), kaifang_sign_core::Error>(())
//! ```

use crate::base64;
use crate::error::Error;
use crate::writer::SliceWriter;

/// `p_ = (t_ % 10000) * 3 + 2345`, always within `2345..=32342`. `t_` is whatever unit the caller
/// sends (milliseconds by default; the Zhiyun desktop client sends seconds).
pub const fn check_value(t: u64) -> u64 {
    (t % 10_000) * 3 + 2345
}

/// Length of the `Authorization` value for a client id and secret of these lengths.
pub const fn basic_authorization_len(client_id_len: usize, client_secret_len: usize) -> usize {
    6 + base64::encoded_len(client_id_len + 1 + client_secret_len)
}

/// Writes `Basic base64(client_id:client_secret)` into `out` without building the joined string.
pub fn basic_authorization<'a>(
    client_id: &str,
    client_secret: &str,
    out: &'a mut [u8],
) -> Result<&'a str, Error> {
    let mut w = SliceWriter::new(out);
    w.reserve_total(basic_authorization_len(
        client_id.len(),
        client_secret.len(),
    ))?;
    w.push(b"Basic ")?;
    base64::encode_parts(
        &[client_id.as_bytes(), b":", client_secret.as_bytes()],
        &mut w,
    )?;
    Ok(w.into_str())
}
