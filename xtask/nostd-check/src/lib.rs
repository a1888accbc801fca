//! Link-time proof that `kaifang-sign-core` needs neither `std` nor `alloc`.
//!
//! Every public function and method of sign-core is called from an exported `extern "C"` entry
//! point, on data derived from the arguments, so the optimiser can remove none of them and the
//! whole API is compiled and linked for a `#![no_std]` staticlib with `panic = "abort"` and its
//! own `#[panic_handler]`. If `std` reached the dependency graph, its `panic_impl` lang item would
//! clash with ours and the build would fail; if `alloc` did, the build would fail for want of a
//! global allocator (this staticlib defines none). The `canary-std` and `canary-alloc` features
//! do exactly that on purpose (see `cargo xtask nostd`).
//!
//! The entry points return a checksum of everything they computed; error paths fold into it too.
#![no_std]

#[cfg(feature = "canary-alloc")]
extern crate alloc;
#[cfg(feature = "canary-std")]
extern crate std;

use core::fmt::{self, Write as _};
use core::panic::PanicInfo;

use kaifang_sign_core::aliyun::{self, MqttCredentials, MqttSign, SecureMode, SignMethod};
use kaifang_sign_core::hex::{self, HexCase, HexString};
use kaifang_sign_core::mac::{
    self, HmacMd5, HmacMd5Key, HmacSha1, HmacSha1Key, HmacSha256, HmacSha256Key,
};
use kaifang_sign_core::tianyi::{self, StringToSign, TianyiSigner};
use kaifang_sign_core::xxtea::{self, XxteaKey};
use kaifang_sign_core::{Error, digest, ilab, zhiyun};

/// Our own panic handler: the one `std` would duplicate.
#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers: argument-derived data and a checksum.

/// A xorshift64 step (never zero for a nonzero state).
fn next(state: &mut u64) -> u64 {
    let mut x = *state | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// `N` pseudo-random bytes from `seed`.
fn bytes<const N: usize>(seed: u64) -> [u8; N] {
    let mut state = seed;
    let mut out = [0u8; N];
    for b in &mut out {
        *b = next(&mut state).to_le_bytes()[0];
    }
    out
}

/// `N` pseudo-random ASCII alphanumerics from `seed` (valid UTF-8 by construction).
fn ascii<const N: usize>(seed: u64) -> [u8; N] {
    const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = bytes::<N>(seed);
    for b in &mut out {
        *b = ALPHABET[usize::from(*b) % ALPHABET.len()];
    }
    out
}

/// A `&str` view of ASCII bytes (empty if, impossibly, they are not UTF-8).
fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("")
}

/// Folds bytes into a checksum (FNV-1a).
fn fold(acc: u64, data: &[u8]) -> u64 {
    data.iter().fold(acc ^ 0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Folds a number into a checksum.
fn fold_u64(acc: u64, n: u64) -> u64 {
    fold(acc, &n.to_le_bytes())
}

/// Folds a result into a checksum: the value's bytes, or the error's `Display` text.
fn fold_result<T: AsRef<[u8]> + ?Sized>(acc: u64, r: Result<&T, Error>) -> u64 {
    match r {
        Ok(v) => fold(acc, v.as_ref()),
        Err(e) => fold_display(acc ^ 0xdead, &e),
    }
}

/// A `fmt::Write` sink that folds whatever is written into a checksum (no allocation).
struct Sink(u64);

impl fmt::Write for Sink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = fold(self.0, s.as_bytes());
        Ok(())
    }
}

/// Folds a value's `Display` output into a checksum.
fn fold_display(acc: u64, value: &dyn fmt::Display) -> u64 {
    let mut sink = Sink(acc);
    let _ = write!(sink, "{value}");
    sink.0
}

/// Folds a value's `Debug` output into a checksum.
fn fold_debug(acc: u64, value: &dyn fmt::Debug) -> u64 {
    let mut sink = Sink(acc);
    let _ = write!(sink, "{value:?}");
    sink.0
}

fn case_of(seed: u64) -> HexCase {
    if seed & 1 == 0 {
        HexCase::Lower
    } else {
        HexCase::Upper
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points, one per module.

/// `hex`: encode/expand/decode (slice and in place), `nibble`, `HexString`, constant-time compare.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_hex(seed: u64, len: u32) -> u64 {
    let data = bytes::<32>(seed);
    let n = (len as usize) % (data.len() + 1);
    let input = &data[..n];
    let case = case_of(seed);
    let mut acc = fold_u64(0, seed);

    let mut out = [0u8; 64];
    acc = fold_result(acc, hex::encode_to_slice(input, case, &mut out));
    // Too small on purpose when n > 4: the error path is linked too.
    let mut small = [0u8; 8];
    acc = fold_result(
        acc,
        hex::encode_to_slice(input, HexCase::default(), &mut small),
    );

    let mut buf = [0u8; 64];
    buf[..n].copy_from_slice(input);
    let expanded_len = match hex::expand_in_place(&mut buf, n, case) {
        Ok(s) => {
            acc = fold(acc, s.as_bytes());
            s.len()
        }
        Err(e) => {
            acc = fold_display(acc, &e);
            0
        }
    };

    let mut back = [0u8; 32];
    acc = fold_result(
        acc,
        hex::decode_to_slice(text(&buf[..expanded_len]), &mut back),
    );
    acc = fold_result(
        acc,
        hex::decode_in_place(&mut buf[..expanded_len]).map(|b| &*b),
    );
    // Invalid digits and odd lengths, from the data.
    acc = fold_result(
        acc,
        hex::decode_to_slice(text(&ascii::<7>(seed)), &mut back),
    );
    acc = fold_u64(acc, u64::from(hex::nibble(data[0]).unwrap_or(0xff)));

    let hs = HexString::<32>::encode(input, case);
    acc = fold(acc, hs.as_str().as_bytes());
    acc = fold(acc, hs.as_bytes());
    acc = fold_u64(acc, hs.len() as u64 + u64::from(hs.is_empty()));
    acc = fold_u64(acc, u64::from(hs.eq_ignore_case_ct(text(&out[..hs.len()]))));
    acc = fold_u64(acc, u64::from(hs == text(&out[..hs.len()])));
    acc = fold(acc, hs.as_ref().as_bytes());
    acc = fold_display(acc, &hs);
    acc = fold_debug(acc, &hs);
    acc = fold_debug(acc, &case);
    fold_u64(
        acc,
        u64::from(hex::ct_eq_ignore_ascii_case(&out[..n], &buf[..n])),
    )
}

/// `digest`: one-shot MD5, SHA-256, SHA-1, and streaming `Md5`.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_digest(seed: u64, len: u32) -> u64 {
    let data = bytes::<200>(seed);
    let n = (len as usize) % (data.len() + 1);
    let msg = &data[..n];
    let mut acc = fold(0, &digest::md5(msg));
    acc = fold(acc, &digest::sha256(msg));
    acc = fold(acc, &digest::sha1(msg));
    let mut md5 = digest::Md5::new();
    let (a, b) = msg.split_at(n / 2);
    md5.update(a);
    md5.update(b);
    acc = fold_debug(acc, &md5);
    fold(acc, &md5.finish())
}

/// Calls every method of one keyed HMAC type and its streaming state and one-shot function.
macro_rules! exercise_mac {
    ($acc:ident, $key:ty, $state:ty, $oneshot:path, $secret:expr, $msg:expr) => {{
        let secret: &[u8] = $secret;
        let msg: &[u8] = $msg;
        let key = <$key>::new(secret);
        let tag = key.sign(msg);
        $acc = fold($acc, &tag);
        let (a, b) = msg.split_at(msg.len() / 2);
        $acc = fold($acc, &key.sign_parts(&[a, b]));
        let mut state: $state = key.start();
        state.update(a);
        state.update(b);
        $acc = fold_debug($acc, &state);
        $acc = fold($acc, &state.finish());
        $acc = fold_u64($acc, u64::from(key.verify(msg, &tag)));
        $acc = fold_u64($acc, u64::from(key.verify(b, &tag[..tag.len() / 2])));
        $acc = fold_debug($acc, &key);
        $acc = fold($acc, &$oneshot(secret, msg));
    }};
}

/// `mac`: all three key types (`new`, `sign`, `sign_parts`, `start`, `update`, `finish`,
/// `verify`) and the one-shot functions.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_mac(seed: u64, len: u32) -> u64 {
    let secret = bytes::<80>(seed ^ 0x5ec2e7);
    let data = bytes::<128>(seed);
    let n = (len as usize) % (data.len() + 1);
    // Secrets longer than the block size take the hashed-key path.
    let key_len = (seed as usize >> 8) % (secret.len() + 1);
    let mut acc = 0;
    exercise_mac!(
        acc,
        HmacSha256Key,
        HmacSha256,
        mac::hmac_sha256,
        &secret[..key_len],
        &data[..n]
    );
    exercise_mac!(
        acc,
        HmacSha1Key,
        HmacSha1,
        mac::hmac_sha1,
        &secret[..key_len],
        &data[..n]
    );
    exercise_mac!(
        acc,
        HmacMd5Key,
        HmacMd5,
        mac::hmac_md5,
        &secret[..key_len],
        &data[..n]
    );
    acc
}

/// `xxtea`: keys, `ciphertext_len`, framed encrypt/decrypt (into and in place), raw blocks.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_xxtea(seed: u64, len: u32) -> u64 {
    let plain = bytes::<64>(seed);
    let n = (len as usize) % (plain.len() + 1);
    let key = XxteaKey::new(&bytes::<20>(seed.rotate_left(17)));
    let words = XxteaKey::from_words([seed as u32, (seed >> 32) as u32, len, xxtea::DELTA]);
    let mut acc = fold_debug(0, &key);
    acc = fold_u64(acc, u64::from(key == words));
    acc = fold_u64(acc, xxtea::ciphertext_len(n).map_or(u64::MAX, |c| c as u64));
    acc = fold_u64(
        acc,
        xxtea::ciphertext_len(len as usize).map_or(u64::MAX, |c| c as u64),
    );

    let mut cipher = [0u8; 72];
    let c = match xxtea::encrypt_into(&key, &plain[..n], &mut cipher) {
        Ok(c) => c,
        Err(e) => {
            acc = fold_display(acc, &e);
            0
        }
    };
    acc = fold(acc, &cipher[..c]);
    let mut out = [0u8; 72];
    acc = fold_result(acc, xxtea::decrypt_into(&key, &cipher[..c], &mut out));
    // The wrong key: the length-word check fails (usually).
    acc = fold_result(acc, xxtea::decrypt_into(&words, &cipher[..c], &mut out));
    acc = fold_result(
        acc,
        xxtea::decrypt_in_place(&key, &mut cipher[..c]).map(|p| &*p),
    );

    let mut block = bytes::<64>(!seed);
    let b = (len as usize >> 8) % (block.len() + 1);
    match xxtea::encrypt_block(&words, &mut block[..b]) {
        Ok(()) => acc = fold(acc, &block[..b]),
        Err(e) => acc = fold_display(acc, &e),
    }
    match xxtea::decrypt_block(&words, &mut block[..b]) {
        Ok(()) => acc = fold(acc, &block[..b]),
        Err(e) => acc = fold_display(acc, &e),
    }
    acc
}

/// `tianyi`: `TianyiSigner` (`new`, `encrypt_params_hex`, `decrypt_params_hex`, `sign`,
/// `verify`), `StringToSign` and `params_hex_len`.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_tianyi(seed: u64, timestamp: u64, client_type: u32) -> u64 {
    let secret = ascii::<32>(seed);
    let signer = TianyiSigner::new(&secret);
    let plain = ascii::<48>(seed ^ timestamp);
    let n = (client_type as usize) % (plain.len() + 1);
    let case = case_of(timestamp);
    let mut acc = fold_debug(0, &signer);
    acc = fold_u64(
        acc,
        tianyi::params_hex_len(n).map_or(u64::MAX, |l| l as u64),
    );

    let mut params = [0u8; 128];
    let hex_len = match signer.encrypt_params_hex(&plain[..n], case, &mut params) {
        Ok(s) => s.len(),
        Err(e) => {
            acc = fold_display(acc, &e);
            0
        }
    };
    let params = text(&params[..hex_len]);
    let mut decrypted = [0u8; 64];
    acc = fold_result(acc, signer.decrypt_params_hex(params, &mut decrypted));

    let app_id = ascii::<12>(seed.rotate_left(7));
    let version = ascii::<3>(timestamp.rotate_left(9));
    let sts = StringToSign {
        app_id: text(&app_id),
        client_type,
        params,
        timestamp,
        version: text(&version),
    };
    sts.for_each_part(|part| acc = fold(acc, part));
    acc = fold_u64(acc, sts.len() as u64 + u64::from(sts.is_empty()));
    acc = fold_display(acc, &sts);
    acc = fold_debug(acc, &sts);
    let signature = signer.sign(&sts, case);
    acc = fold(acc, signature.as_bytes());
    acc = fold_u64(acc, u64::from(signer.verify(&sts, signature.as_str())));
    fold_u64(acc, u64::from(signer.verify(&sts, params)))
}

/// `zhiyun`: `check_value`, `basic_authorization_len`, `basic_authorization`.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_zhiyun(seed: u64, t: u64, secret_len: u32) -> u64 {
    let id = ascii::<10>(seed);
    let secret = ascii::<40>(seed ^ t);
    let secret = &secret[..(secret_len as usize) % (secret.len() + 1)];
    let mut acc = fold_u64(0, zhiyun::check_value(t));
    acc = fold_u64(
        acc,
        zhiyun::basic_authorization_len(id.len(), secret.len()) as u64,
    );
    let mut out = [0u8; 80];
    acc = fold_result(
        acc,
        zhiyun::basic_authorization(text(&id), text(secret), &mut out),
    );
    // Too small when the secret is long.
    let mut small = [0u8; 40];
    fold_result(
        acc,
        zhiyun::basic_authorization(text(&id), text(secret), &mut small),
    )
}

/// `ilab`: `signature`, `signature_decoded`, `unquote_into`, `unquote_each`.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_ilab(seed: u64, escapes: u32) -> u64 {
    // A ticket with argument-chosen `%XX` escapes (valid, invalid UTF-8 and malformed ones).
    let mut ticket = ascii::<60>(seed);
    let digits = bytes::<20>(seed.rotate_left(29));
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, &d) in digits.iter().enumerate() {
        if escapes & (1 << i) != 0 {
            ticket[3 * i] = b'%';
            ticket[3 * i + 1] = HEX[usize::from(d >> 4)];
            ticket[3 * i + 2] = if d & 1 == 0 {
                HEX[usize::from(d & 0x0f)]
            } else {
                b'g'
            };
        }
    }
    let ticket = text(&ticket);
    let appid = ascii::<19>(seed ^ 0x1ab);
    let secret = ascii::<6>(!seed);
    let mut acc = fold(
        0,
        ilab::signature(ticket, text(&appid), text(&secret)).as_bytes(),
    );
    acc = fold(
        acc,
        ilab::signature_decoded(ticket, text(&appid), text(&secret)).as_bytes(),
    );
    let mut out = [0u8; 60];
    acc = fold_result(acc, ilab::unquote_into(ticket, &mut out));
    let mut small = [0u8; 10];
    acc = fold_result(acc, ilab::unquote_into(ticket, &mut small));
    ilab::unquote_each(ticket, |part| acc = fold(acc, part));
    acc
}

/// `aliyun`: `SignMethod` and `SecureMode` helpers, every `MqttSign` method, `register_sign`.
#[unsafe(no_mangle)]
pub extern "C" fn kaifang_nostd_aliyun(seed: u64, timestamp: u64, method: u8, mode: u8) -> u64 {
    let methods = [
        SignMethod::HmacMd5,
        SignMethod::HmacSha1,
        SignMethod::HmacSha256,
    ];
    let sign_method = methods[usize::from(method) % methods.len()];
    let parsed_name = ascii::<8>(seed);
    let mut acc = fold(0, sign_method.as_str().as_bytes());
    acc = fold_display(acc, &sign_method);
    acc = fold_debug(acc, &SignMethod::parse(sign_method.as_str()));
    acc = fold_debug(acc, &SignMethod::parse(text(&parsed_name)));
    acc = fold_debug(acc, &SignMethod::default());
    let secure_mode = SecureMode::from_u8(mode).unwrap_or_default();
    acc = fold_u64(acc, u64::from(secure_mode.as_u8()));

    let key = bytes::<24>(seed ^ timestamp);
    let (a, b) = key.split_at(usize::from(method) % key.len());
    acc = fold(acc, sign_method.hex_mac(&key, &[a, b]).as_bytes());

    let product_key = ascii::<11>(seed);
    let device_name = ascii::<12>(seed.rotate_left(11));
    let device_secret = ascii::<32>(seed.rotate_left(23));
    let client_id = ascii::<15>(timestamp);
    let sign = MqttSign {
        product_key: text(&product_key),
        device_name: text(&device_name),
        device_secret: text(&device_secret),
        client_id: text(&client_id),
        timestamp: if mode & 0x80 == 0 {
            Some(timestamp)
        } else {
            None
        },
        sign_method,
        secure_mode,
    };
    acc = fold_debug(acc, &sign);
    acc = fold_u64(acc, sign.buffer_len() as u64);
    let mut buf = [0u8; 160];
    acc = fold_result(acc, sign.client_id_into(&mut buf));
    acc = fold_result(acc, sign.username_into(&mut buf));
    acc = fold(acc, sign.password().as_bytes());
    match sign.credentials(&mut buf) {
        Ok(creds) => {
            let MqttCredentials {
                client_id,
                username,
                password,
            } = creds;
            acc = fold_debug(acc, &creds);
            acc = fold(acc, client_id.as_bytes());
            acc = fold(acc, username.as_bytes());
            acc = fold(acc, password.as_bytes());
        }
        Err(e) => acc = fold_display(acc, &e),
    }
    let mut small = [0u8; 16];
    if let Err(e) = sign.credentials(&mut small) {
        acc = fold_display(acc, &e);
    }
    let random = ascii::<16>(timestamp ^ seed);
    let registered = aliyun::register_sign(
        text(&product_key),
        text(&device_name),
        text(&device_secret),
        text(&random),
    );
    fold(acc, registered.as_bytes())
}
