//! Property tests: round trips for any bytes and keys, and no panic on any input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use kaifang_sign_core::hex::{self, HexCase};
use kaifang_sign_core::tianyi::TianyiSigner;
use kaifang_sign_core::xxtea::{self, XxteaKey};
use kaifang_sign_core::{Error, ilab};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn xxtea_round_trips_any_bytes_and_key_length(plain in proptest::collection::vec(any::<u8>(), 0..700), key in proptest::collection::vec(any::<u8>(), 0..40)) {
        let key = XxteaKey::new(&key);
        let cipher = xxtea::encrypt(&key, &plain).unwrap();
        prop_assert_eq!(cipher.len(), xxtea::ciphertext_len(plain.len()).unwrap());
        prop_assert_eq!(xxtea::decrypt(&key, &cipher).unwrap(), plain);
    }

    #[test]
    fn xxtea_decrypt_of_arbitrary_bytes_never_panics_and_restores(data in proptest::collection::vec(any::<u8>(), 0..300), key in proptest::collection::vec(any::<u8>(), 0..20)) {
        let key = XxteaKey::new(&key);
        let mut out = vec![0u8; data.len()];
        let _ = xxtea::decrypt_into(&key, &data, &mut out);
        let mut buf = data.clone();
        if xxtea::decrypt_in_place(&key, &mut buf).is_err() {
            prop_assert_eq!(buf, data);
        }
    }

    #[test]
    fn hex_round_trips_both_cases(bytes in proptest::collection::vec(any::<u8>(), 0..300), upper in any::<bool>()) {
        let case = if upper { HexCase::Upper } else { HexCase::Lower };
        let mut text = vec![0u8; bytes.len() * 2];
        let encoded = hex::encode_to_slice(&bytes, case, &mut text).unwrap().to_owned();
        let oracle = ::hex::encode(&bytes);
        prop_assert_eq!(&encoded, &if upper { oracle.to_uppercase() } else { oracle });
        let mut back = vec![0u8; bytes.len()];
        prop_assert_eq!(hex::decode_to_slice(&encoded, &mut back).unwrap(), &bytes[..]);
        // Mixed case decodes too.
        let mixed: String = encoded.chars().enumerate().map(|(i, c)| if i % 3 == 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect();
        prop_assert_eq!(hex::decode_to_slice(&mixed, &mut back).unwrap(), &bytes[..]);
    }

    #[test]
    fn hex_decode_never_panics(text in "\\PC{0,80}") {
        let mut out = vec![0u8; text.len()];
        match hex::decode_to_slice(&text, &mut out) {
            Ok(_) | Err(Error::OddHexLength { .. } | Error::InvalidHexDigit { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn tianyi_params_round_trip(plain in "[ -~]{0,200}", secret in "[0-9a-f]{32}", upper in any::<bool>()) {
        let signer = TianyiSigner::new(secret.as_bytes());
        let case = if upper { HexCase::Upper } else { HexCase::Lower };
        let mut buf = vec![0u8; kaifang_sign_core::tianyi::params_hex_len(plain.len()).unwrap()];
        let params = signer.encrypt_params_hex(plain.as_bytes(), case, &mut buf).unwrap().to_owned();
        let mut out = vec![0u8; params.len() / 2];
        prop_assert_eq!(signer.decrypt_params_hex(&params, &mut out).unwrap(), plain.as_bytes());
    }

    /// `sign` assembles short strings-to-sign on the stack and streams long ones: both paths
    /// equal the one-shot HMAC over the whole string (lengths around the 320-byte switch).
    #[test]
    fn tianyi_sign_equals_one_shot_hmac(params in "[0-9a-f]{0,700}", app_id in "[0-9]{1,20}", ts in any::<u64>(), version in "(v?[12]\\.[01])") {
        use kaifang_sign_core::mac::HmacSha256Key;
        use kaifang_sign_core::tianyi::StringToSign;
        let secret = b"0123456789abcdef0123456789abcdef";
        let sts = StringToSign { app_id: &app_id, client_type: 3, params: &params, timestamp: ts, version: &version };
        let whole = sts.to_string();
        let expected = HmacSha256Key::new(secret).sign(whole.as_bytes());
        let got = TianyiSigner::new(secret).sign(&sts, HexCase::Lower);
        let expected = hex::HexString::<64>::encode(&expected, HexCase::Lower);
        prop_assert_eq!(got.as_str(), expected.as_str());
    }

    #[test]
    fn unquote_matches_lossy_reference(input in "([a-zA-Z0-9+/=._~-]|%[0-9a-fA-F]{2}|%|天){0,60}") {
        let mut out = vec![0u8; input.len()];
        let ours = ilab::unquote_into(&input, &mut out).unwrap().to_owned();
        prop_assert_eq!(ours, reference_unquote(&input));
    }
}

/// Python's `unquote` spelled out with allocation: split into ASCII and non-ASCII runs, decode
/// `%XX` in ASCII runs to bytes, then UTF-8 with replacement per run.
fn reference_unquote(input: &str) -> String {
    let mut out = String::new();
    let mut run: Vec<u8> = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    let flush = |run: &mut Vec<u8>, out: &mut String| {
        out.push_str(&String::from_utf8_lossy(run));
        run.clear();
    };
    while i < bytes.len() {
        let b = bytes[i];
        if !b.is_ascii() {
            flush(&mut run, &mut out);
            let ch = input[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        if b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            run.push(u8::from_str_radix(&input[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            run.push(b);
            i += 1;
        }
    }
    flush(&mut run, &mut out);
    out
}
