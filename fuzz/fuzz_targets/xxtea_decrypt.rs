//! sign-core XXTEA (xxtea-py framing): `decrypt_into`, `decrypt_in_place`, the owned `decrypt`,
//! and `decrypt_block` on arbitrary ciphertext under an arbitrary key.
//!
//! Input: 16 key bytes (cut at the first NUL as xxtea-py does), one byte of output-buffer slack
//! (signed: a short buffer must fail cleanly), then the ciphertext.
//!
//! Invariants: no panic; `decrypt_in_place` restores the buffer byte for byte on `Err`; the three
//! decryptions agree; a plaintext is a prefix of the decrypted block and within 3 bytes of its
//! end (the length word's rule); re-encrypting a plaintext decrypts back to it; encrypting the
//! ciphertext taken as plaintext round-trips.
#![no_main]

use kaifang_sign_core::xxtea::{self, XxteaKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key_bytes, rest)) = data.split_first_chunk::<16>() else {
        return;
    };
    let Some((&slack, cipher)) = rest.split_first() else {
        return;
    };
    let key = XxteaKey::new(key_bytes);

    // In place: on failure the buffer holds the ciphertext again.
    let mut buf = cipher.to_vec();
    let in_place = xxtea::decrypt_in_place(&key, &mut buf).map(|p| p.to_vec());
    match &in_place {
        Ok(plain) => {
            assert!(plain.len() <= cipher.len().saturating_sub(4) || cipher.is_empty());
            assert!(
                cipher.is_empty() || plain.len() + 7 >= cipher.len(),
                "length word rule"
            );
            assert_eq!(&buf[..plain.len()], &plain[..]);
        }
        Err(_) => assert_eq!(buf, cipher, "decrypt_in_place did not restore the buffer"),
    }

    // Into a buffer of the exact size: same answer as in place.
    let mut out = vec![0xA5u8; cipher.len()];
    let into = xxtea::decrypt_into(&key, cipher, &mut out).map(<[u8]>::to_vec);
    assert_eq!(into.is_ok(), in_place.is_ok());
    if let (Ok(a), Ok(b)) = (&into, &in_place) {
        assert_eq!(a, b);
    }
    // Into a buffer of another size: a short one fails, never panics.
    let other_len = cipher.len().saturating_add_signed(isize::from(slack as i8));
    let mut other = vec![0u8; other_len];
    match xxtea::decrypt_into(&key, cipher, &mut other) {
        Ok(p) => {
            assert!(other_len >= cipher.len());
            assert_eq!(Some(p), into.as_deref().ok());
        }
        Err(_) => assert!(other_len < cipher.len() || into.is_err()),
    }
    // Owned.
    let owned = xxtea::decrypt(&key, cipher);
    assert_eq!(owned.as_ref().ok(), in_place.as_ref().ok());

    // Round trips.
    if let Ok(plain) = &in_place {
        let again = xxtea::encrypt(&key, plain).expect("a decrypted plaintext re-encrypts");
        assert_eq!(
            xxtea::decrypt(&key, &again).expect("own ciphertext decrypts"),
            *plain
        );
    }
    let sealed = xxtea::encrypt(&key, cipher).expect("any input encrypts");
    assert_eq!(
        sealed.len(),
        xxtea::ciphertext_len(cipher.len()).expect("length")
    );
    assert_eq!(
        xxtea::decrypt(&key, &sealed).expect("own ciphertext decrypts"),
        cipher
    );

    // The raw block cipher: decrypt then encrypt is the identity.
    let mut block = cipher.to_vec();
    if xxtea::decrypt_block(&key, &mut block).is_ok() {
        xxtea::encrypt_block(&key, &mut block).expect("same length");
        assert_eq!(block, cipher);
    }
});
