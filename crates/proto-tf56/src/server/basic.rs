//! Reading `Authorization: Basic …` (RFC 7617). sign-core encodes these credentials
//! (`zhiyun::basic_authorization`) but has no decoder; this strict standard-alphabet base64
//! decoder is the server's counterpart.

use kaifang_proto_core::secret::SecretString;

/// Decoded Basic credentials. `Debug` hides the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user part (`client_id`).
    pub id: String,
    /// The password part (`client_secret`).
    pub secret: SecretString,
}

fn sextet(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard base64 with optional padding; `None` on any other character, a bad length or
/// non-zero trailing bits.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let body = s.trim_end_matches('=');
    let pad = s.len() - body.len();
    if pad > 2 || (pad > 0 && !s.len().is_multiple_of(4)) || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | sextet(c)?;
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => {
                // 18 bits: 2 bytes and 2 bits that must be zero.
                if acc & 0b11 != 0 {
                    return None;
                }
                let v = (acc >> 2).to_be_bytes();
                out.extend_from_slice(&v[2..4]);
            }
            2 => {
                // 12 bits: 1 byte and 4 bits that must be zero.
                if acc & 0b1111 != 0 {
                    return None;
                }
                out.push(((acc >> 4) & 0xff) as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// An `Authorization: Basic` value that does not decode (bad base64, not UTF-8, no `:`, empty
/// id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedBasic;

/// Reads an `Authorization` value. `None` when it is not `Basic` (any case);
/// `Some(Err(MalformedBasic))` when it is `Basic` but malformed.
///
/// ```
/// use kaifang_proto_tf56::server::parse_basic;
/// let creds = parse_basic("Basic Nzo3ZmFk").unwrap().unwrap();
/// assert_eq!((creds.id.as_str(), creds.secret.expose_secret()), ("7", "7fad"));
/// assert!(parse_basic("Bearer x").is_none());
/// ```
pub fn parse_basic(value: &str) -> Option<Result<BasicCredentials, MalformedBasic>> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let parsed = decode_base64(rest.trim())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            (!id.is_empty()).then(|| BasicCredentials {
                id: id.to_owned(),
                secret: SecretString::new(secret),
            })
        });
    Some(parsed.ok_or(MalformedBasic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaifang_sign_core::zhiyun::{basic_authorization, basic_authorization_len};

    #[test]
    fn decodes_what_sign_core_encodes() {
        for (id, secret) in [
            ("7", "7fad9d6b20e849219d6888b25e3f40db"),
            ("1102084294", "aku8hCyXBd9SqYkT"),
            ("a", ""),
            ("ab", "c"),
            ("客户", "密:码"),
        ] {
            let mut buf = vec![0u8; basic_authorization_len(id.len(), secret.len())];
            let header = basic_authorization(id, secret, &mut buf).unwrap();
            let creds = parse_basic(header).unwrap().unwrap();
            assert_eq!(creds.id, id);
            assert_eq!(creds.secret.expose_secret(), secret);
        }
    }

    #[test]
    fn refuses_malformed() {
        assert!(parse_basic("Bearer abc").is_none());
        for bad in [
            "Basic !!!!",
            "Basic YQ",   // "a": no colon
            "Basic OmI=", // ":b": empty id
            "Basic YWI6Yw===",
            "Basic YWI6Y",
            "Basic YR==", // non-zero trailing bits
            "Basic /w==", // not UTF-8
        ] {
            assert_eq!(parse_basic(bad), Some(Err(MalformedBasic)), "{bad}");
        }
        assert!(parse_basic("basic YWI6Yw").unwrap().is_ok());
    }
}
