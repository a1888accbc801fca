//! Differential test: our XXTEA against `xxtea-nostd`, fed 4-byte-aligned, framed buffers (the
//! only way that crate is sound) on this little-endian machine.
// xxtea-nostd is native-endian: it is an oracle for xxtea-py only on little-endian machines.
#![cfg(target_endian = "little")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use kaifang_sign_core::xxtea::{self, XxteaKey};
use proptest::prelude::*;

/// A byte buffer whose start is 4-byte aligned, found in safe code with `align_offset`.
struct Aligned {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl Aligned {
    fn from(bytes: &[u8]) -> Self {
        let mut storage = vec![0u8; bytes.len() + 4];
        let offset = storage.as_ptr().align_offset(4);
        assert!(offset < 4);
        storage[offset..offset + bytes.len()].copy_from_slice(bytes);
        Aligned {
            storage,
            offset,
            len: bytes.len(),
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

/// xxtea-py framing: plaintext, zero padding, then the length as a little-endian word.
fn frame(plain: &[u8]) -> Vec<u8> {
    let mut framed = plain.to_vec();
    framed.resize(plain.len().div_ceil(4) * 4, 0);
    framed.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    framed
}

fn oracle_encrypt(key16: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    let mut key_aligned = Aligned::from(key16);
    let mut block = Aligned::from(&frame(plain));
    xxtea_nostd::encrypt(key_aligned.bytes(), block.bytes());
    block.bytes().to_vec()
}

fn oracle_decrypt(key16: &[u8; 16], cipher: &[u8]) -> Vec<u8> {
    let mut key_aligned = Aligned::from(key16);
    let mut block = Aligned::from(cipher);
    xxtea_nostd::decrypt(key_aligned.bytes(), block.bytes());
    block.bytes().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ours_equals_xxtea_nostd(plain in proptest::collection::vec(any::<u8>(), 1..600), key in any::<[u8; 16]>()) {
        // xxtea-nostd takes the 16 key bytes as they are; give ours a key without NUL so that
        // xxtea-py's NUL truncation does not apply.
        let key: [u8; 16] = key.map(|b| b | 1);
        let ours = xxtea::encrypt(&XxteaKey::new(&key), &plain).unwrap();
        prop_assert_eq!(&ours, &oracle_encrypt(&key, &plain));
        // Decryption: the oracle's raw output is our framed plaintext.
        prop_assert_eq!(oracle_decrypt(&key, &ours), frame(&plain));
        prop_assert_eq!(xxtea::decrypt(&XxteaKey::new(&key), &ours).unwrap(), plain);
    }

    #[test]
    fn raw_blocks_equal_xxtea_nostd(words in proptest::collection::vec(any::<u32>(), 2..200), key in any::<[u8; 16]>()) {
        let key: [u8; 16] = key.map(|b| b | 1);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut ours = bytes.clone();
        xxtea::encrypt_block(&XxteaKey::new(&key), &mut ours).unwrap();
        let mut aligned = Aligned::from(&bytes);
        let mut key_aligned = Aligned::from(&key);
        xxtea_nostd::encrypt(key_aligned.bytes(), aligned.bytes());
        prop_assert_eq!(&ours, &aligned.bytes().to_vec());
        xxtea::decrypt_block(&XxteaKey::new(&key), &mut ours).unwrap();
        prop_assert_eq!(ours, bytes);
    }
}
