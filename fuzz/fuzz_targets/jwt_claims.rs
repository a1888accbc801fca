//! iLab's JWT claim decoding (`claims::decode_unverified`, used for ticket ids and token
//! expiry) on arbitrary text, and the server half's HS256 minting and verification
//! (`server::mint::hs256_jwt` / `hs256_verify`).
//!
//! Invariants: no panic, whatever the input (the function's documented promise); no error
//! quotes the token; claims built from the input (`un`, `dis`, `exp`, `scope`) and minted
//! into a JWT decode back to the same values; a minted JWT verifies under its key and not under
//! another, nor with a changed payload.
#![no_main]

use kaifang_proto_ilab::decode_unverified;
use kaifang_proto_ilab::server::mint::{hs256_jwt, hs256_verify};
use kaifang_sign_core::mac::HmacSha256Key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match decode_unverified(&text) {
        Ok(claims) => {
            let _ = claims.expires_at();
            let _ = claims.has_scope("callback:score");
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            let token = text.trim();
            // Only meaningful for a token of some length (all-blank input trims to ""). The
            // fuzzer also writes tokens that are pieces of the error's own wording ("e response
            // at `jwt`: not a JWT…"): the token counts as quoted only if the error for a
            // token of the same shape spelled differently does not contain it too.
            if token.len() >= 16 && shown.contains(token) {
                let other = rotate(&text);
                let static_text = match decode_unverified(&other) {
                    Err(e) => format!("{e} {e:?}"),
                    Ok(_) => String::new(),
                };
                assert!(
                    other.trim() != token && static_text.contains(token),
                    "the token is quoted in {shown}"
                );
            }
        }
    }

    // Round trip: claims from the input, minted, decoded.
    let (un, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let exp = i64::from_le_bytes(
        data.iter()
            .copied()
            .chain([0; 8])
            .take(8)
            .collect::<Vec<_>>()
            .try_into()
            .expect("8 bytes"),
    );
    let scopes: Vec<&str> = rest.split(' ').filter(|s| !s.is_empty()).collect();
    let payload =
        serde_json::json!({"un": un, "dis": rest, "exp": exp, "scope": scopes, "jti": "j"});
    let payload = serde_json::to_vec(&payload).expect("a Value serializes");
    let key = HmacSha256Key::new(rest.as_bytes());
    let jwt = hs256_jwt(&key, r#"{"alg":"HS256","typ":"JWT"}"#, &payload);
    let claims = decode_unverified(&jwt).expect("a minted JWT decodes");
    // `un` reads numbers or strings, trimmed; blank is missing (proto-core `opt_num_or_str`).
    let want_un = Some(un.trim()).filter(|u| !u.is_empty());
    assert_eq!(claims.un.as_deref(), want_un);
    assert_eq!(claims.dis.as_deref(), Some(rest));
    assert_eq!(claims.exp, Some(exp));
    assert_eq!(claims.scope, scopes);
    assert_eq!(claims.jti.as_deref(), Some("j"));

    assert!(hs256_verify(&key, &jwt), "a minted JWT does not verify");
    let other = HmacSha256Key::new(format!("{rest}!").as_bytes());
    assert!(!hs256_verify(&other, &jwt), "verifies under another key");
    let mut changed = payload.clone();
    changed.push(b' ');
    let (head, _) = jwt.split_once('.').expect("three parts");
    let sig = jwt.rsplit_once('.').expect("three parts").1;
    let forged = format!("{head}.{}.{sig}", kaifang_fuzz::b64url(&changed));
    assert!(
        !hs256_verify(&key, &forged),
        "verifies with another payload"
    );
    let _ = hs256_verify(&key, &text);
});

/// The same text with every ASCII letter and digit moved one step (`a`→`b`, `z`→`a`, `9`→`0`):
/// the same shape (dots, lengths, base64 alphabet), another spelling.
fn rotate(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            c if c.is_ascii_alphanumeric() => char::from(c as u8 + 1),
            c => c,
        })
        .collect()
}
