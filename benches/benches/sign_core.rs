//! sign-core benchmarks: XXTEA (ours and xxtea-nostd side by side), HMAC, MD5, and each platform's
//! signature. Run with `cargo bench -p kaifang-benches --bench sign_core`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // criterion macros; bench setup

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kaifang_sign_core::aliyun::{MqttSign, SecureMode, SignMethod};
use kaifang_sign_core::hex::{self, HexCase, HexString};
use kaifang_sign_core::mac::HmacSha256Key;
use kaifang_sign_core::tianyi::{StringToSign, TianyiSigner};
use kaifang_sign_core::xxtea::{self, XxteaKey};
use kaifang_sign_core::{digest, ilab, zhiyun};

const SECRET: &[u8] = b"88bd97ee5e9949c2bc48efb6e6fa2207";
const SEED_PARAMS: &[u8] =
    b"callbackUrl=http://192.168.140.1:8889&state=abcdefghijklmnop&loginClientType=10010";
const SIZES: [usize; 4] = [64, 256, 4096, 65536];

/// A 4-byte-aligned byte buffer (xxtea-nostd reinterprets bytes as words), found in safe code.
struct Aligned {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl Aligned {
    fn zeroed(len: usize) -> Self {
        let storage = vec![0x5a; len + 4];
        let offset = storage.as_ptr().align_offset(4);
        Aligned {
            storage,
            offset,
            len,
        }
    }
    fn bytes(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

fn xxtea_raw(c: &mut Criterion) {
    let key = XxteaKey::new(SECRET);
    for (name, decrypt) in [("xxtea_encrypt", false), ("xxtea_decrypt", true)] {
        let mut group = c.benchmark_group(name);
        for size in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let mut ours = Aligned::zeroed(size);
            group.bench_with_input(BenchmarkId::new("kaifang", size), &size, |b, _| {
                b.iter(|| {
                    let block = ours.bytes();
                    if decrypt {
                        xxtea::decrypt_block(&key, black_box(block)).unwrap();
                    } else {
                        xxtea::encrypt_block(&key, black_box(block)).unwrap();
                    }
                })
            });
            let mut theirs = Aligned::zeroed(size);
            group.bench_with_input(BenchmarkId::new("xxtea-nostd", size), &size, |b, _| {
                b.iter(|| {
                    let block = theirs.bytes();
                    if decrypt {
                        xxtea_nostd::decrypt(&NOSTD_KEY.0, black_box(block));
                    } else {
                        xxtea_nostd::encrypt(&NOSTD_KEY.0, black_box(block));
                    }
                })
            });
        }
        group.finish();
    }
}

/// The key for xxtea-nostd as a 4-byte-aligned static.
#[repr(align(4))]
struct AlignedKey([u8; 16]);
static NOSTD_KEY: AlignedKey = AlignedKey(*b"88bd97ee5e9949c2");

fn xxtea_framed(c: &mut Criterion) {
    let key = XxteaKey::new(SECRET);
    let mut group = c.benchmark_group("xxtea_py_format");
    for size in [82usize, 256] {
        let plain = vec![b'a'; size];
        let mut out = vec![0u8; xxtea::ciphertext_len(size).unwrap()];
        group.bench_with_input(BenchmarkId::new("encrypt_into", size), &size, |b, _| {
            b.iter(|| xxtea::encrypt_into(&key, black_box(&plain), &mut out).unwrap())
        });
    }
    group.finish();
}

fn hashes(c: &mut Criterion) {
    let key = HmacSha256Key::new(SECRET);
    let mut group = c.benchmark_group("hash");
    for size in [100usize, 4096] {
        let msg = vec![7u8; size];
        group.bench_with_input(
            BenchmarkId::new("hmac_sha256_keyed", size),
            &size,
            |b, _| b.iter(|| key.sign(black_box(&msg))),
        );
    }
    let msg = vec![7u8; 100];
    group.bench_function("md5/100", |b| b.iter(|| digest::md5(black_box(&msg))));
    group.finish();
}

fn tianyi(c: &mut Criterion) {
    let signer = TianyiSigner::new(SECRET);
    let xkey = XxteaKey::new(SECRET);
    let hkey = HmacSha256Key::new(SECRET);
    let mut buf = [0u8; 256];
    let params = signer
        .encrypt_params_hex(SEED_PARAMS, HexCase::Lower, &mut buf)
        .unwrap()
        .to_owned();
    let sts = StringToSign {
        app_id: "693299085757",
        client_type: 3,
        params: &params,
        timestamp: 1_700_000_000_000,
        version: "2.0",
    };
    let sts_string = sts.to_string();

    let mut group = c.benchmark_group("tianyi");
    group.bench_function("envelope", |b| {
        b.iter(|| {
            let mut out = [0u8; 256];
            let params = signer
                .encrypt_params_hex(black_box(SEED_PARAMS), HexCase::Lower, &mut out)
                .unwrap();
            let sts = StringToSign {
                app_id: "693299085757",
                client_type: 3,
                params,
                timestamp: black_box(1_700_000_000_000),
                version: "2.0",
            };
            signer.sign(&sts, HexCase::Lower)
        })
    });
    group.bench_function("step_encrypt_params_hex", |b| {
        b.iter(|| {
            let mut out = [0u8; 256];
            signer
                .encrypt_params_hex(black_box(SEED_PARAMS), HexCase::Lower, &mut out)
                .map(|s| s.len())
                .unwrap()
        })
    });
    group.bench_function("step_sign", |b| {
        b.iter(|| signer.sign(black_box(&sts), HexCase::Lower))
    });
    group.bench_function("part_xxtea_82", |b| {
        b.iter(|| {
            let mut out = [0u8; 88];
            xxtea::encrypt_into(&xkey, black_box(SEED_PARAMS), &mut out).unwrap()
        })
    });
    group.bench_function("part_hex_88", |b| {
        let cipher = [0xa7u8; 88];
        b.iter(|| {
            let mut out = [0u8; 176];
            hex::encode_to_slice(black_box(&cipher), HexCase::Lower, &mut out)
                .map(str::len)
                .unwrap()
        })
    });
    group.bench_function("part_hmac_string_to_sign", |b| {
        b.iter(|| hkey.sign(black_box(sts_string.as_bytes())))
    });
    group.bench_function("part_hex_32", |b| {
        let tag = [0x5cu8; 32];
        b.iter(|| HexString::<64>::encode(black_box(&tag), HexCase::Lower))
    });
    group.finish();
}

fn others(c: &mut Criterion) {
    let ticket = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D";
    c.bench_function("zhiyun/p_and_basic", |b| {
        b.iter(|| {
            let p = zhiyun::check_value(black_box(1_422_339_152_058));
            let mut out = [0u8; 64];
            let header = zhiyun::basic_authorization("1102084294", "aku8hCyXBd9SqYkT", &mut out)
                .unwrap()
                .len();
            (p, header)
        })
    });
    c.bench_function("ilab/signature", |b| {
        b.iter(|| ilab::signature(black_box(ticket), "105348", "secret"))
    });
    let sign = MqttSign {
        product_key: "a1csED27mp7",
        device_name: "AdvExample_dyn1",
        device_secret: "ximd4xyeAjtHp5lsz3A5okefnJMYtQTP",
        client_id: "a1csED27mp7.AdvExample_dyn1",
        timestamp: Some(1_700_000_000_000),
        sign_method: SignMethod::HmacSha256,
        secure_mode: SecureMode::Tls,
    };
    c.bench_function("aliyun/mqtt_password_hmacsha256", |b| {
        b.iter(|| black_box(&sign).password())
    });
}

criterion_group!(benches, xxtea_raw, xxtea_framed, hashes, tianyi, others);
criterion_main!(benches);
