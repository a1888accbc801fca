//! sign-core's comparisons measured INTERLEAVED, for the report (`cargo xtask bench`).
//!
//! Criterion measures one function after another; on a shared VM the machine's speed drifts
//! between them by 10–30 %, which a ratio of two separately measured medians folds in. Here every
//! comparison is a group of contenders whose batches alternate, round after round (the order
//! rotating), so each round's ratio compares measurements taken within milliseconds of each
//! other. Reported per contender: the median and the minimum ns/op over rounds; per group, the
//! median of the per-round ratios.
//!
//! Groups: the Tianyi envelope and its primitives; XXTEA encrypt and decrypt at 64 B, 256 B,
//! 4 KiB and 64 KiB, ours and xxtea-nostd on the same aligned buffers; and the iLab signature,
//! Zhiyun `p_` + Basic and the Aliyun MQTT password on their own. ONE line of JSON on stdout.
//!
//! `cargo bench -p kaifang-benches --bench sidebyside [-- --quick]`

#![allow(missing_docs)]

use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

use kaifang_sign_core::aliyun::{MqttSign, SecureMode, SignMethod};
use kaifang_sign_core::hex::{self, HexCase, HexString};
use kaifang_sign_core::mac::HmacSha256Key;
use kaifang_sign_core::tianyi::{StringToSign, TianyiSigner};
use kaifang_sign_core::xxtea::{self, XxteaKey};
use kaifang_sign_core::{ilab, zhiyun};

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

const SECRET: &[u8] = b"88bd97ee5e9949c2bc48efb6e6fa2207";
const SEED_PARAMS: &[u8] =
    b"callbackUrl=http://192.168.140.1:8889&state=abcdefghijklmnop&loginClientType=10010";
const SIZES: [usize; 4] = [64, 256, 4096, 65536];

#[repr(align(4))]
struct AlignedKey([u8; 16]);
static NOSTD_KEY: AlignedKey = AlignedKey(*b"88bd97ee5e9949c2");

type Op<'a> = Box<dyn FnMut() + 'a>;

/// ns/op of `iters` calls.
fn time(op: &mut Op<'_>, iters: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// How many calls make a batch of about `target`.
fn calibrate(op: &mut Op<'_>, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let ns = time(op, iters) * iters as f64;
        if ns >= target.as_nanos() as f64 / 4.0 || iters >= 1 << 30 {
            let per = ns / iters as f64;
            return ((target.as_nanos() as f64 / per.max(0.1)) as u64).max(1);
        }
        iters *= 4;
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the contenders interleaved; per contender, its ns/op of every round.
fn interleave(rounds: usize, batch: Duration, ops: &mut [(&str, Op<'_>)]) -> Vec<Vec<f64>> {
    let iters: Vec<u64> = ops.iter_mut().map(|(_, op)| calibrate(op, batch)).collect();
    let n = ops.len();
    let mut out = vec![Vec::with_capacity(rounds); n];
    for r in 0..rounds {
        for k in 0..n {
            let i = (r + k) % n;
            out[i].push(time(&mut ops[i].1, iters[i]));
        }
    }
    out
}

fn stats(samples: &[f64]) -> String {
    let mut v = samples.to_vec();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    format!(
        r#"{{"median_ns":{:.2},"min_ns":{:.2}}}"#,
        median(&mut v),
        min
    )
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, batch) = if quick {
        (15, Duration::from_millis(4))
    } else {
        (61, Duration::from_millis(10))
    };
    let mut json = Vec::new();

    // The Tianyi envelope and its primitives.
    let signer = TianyiSigner::new(SECRET);
    let xkey = XxteaKey::new(SECRET);
    let hkey = HmacSha256Key::new(SECRET);
    let mut buf = [0u8; 256];
    let params = signer
        .encrypt_params_hex(SEED_PARAMS, HexCase::Lower, &mut buf)?
        .to_owned();
    let sts_string = StringToSign {
        app_id: "693299085757",
        client_type: 3,
        params: &params,
        timestamp: 1_700_000_000_000,
        version: "2.0",
    }
    .to_string();
    let cipher = [0xa7u8; 88];
    let tag = [0x5cu8; 32];
    let mut tianyi: Vec<(&str, Op<'_>)> = vec![
        (
            "envelope",
            Box::new(|| {
                let mut out = [0u8; 256];
                if let Ok(p) =
                    signer.encrypt_params_hex(black_box(SEED_PARAMS), HexCase::Lower, &mut out)
                {
                    let sts = StringToSign {
                        app_id: "693299085757",
                        client_type: 3,
                        params: p,
                        timestamp: black_box(1_700_000_000_000),
                        version: "2.0",
                    };
                    black_box(signer.sign(&sts, HexCase::Lower));
                }
            }),
        ),
        (
            "xxtea_82",
            Box::new(|| {
                let mut out = [0u8; 88];
                let _ = black_box(xxtea::encrypt_into(&xkey, black_box(SEED_PARAMS), &mut out));
            }),
        ),
        (
            "hmac_string_to_sign",
            Box::new(|| {
                black_box(hkey.sign(black_box(sts_string.as_bytes())));
            }),
        ),
        (
            "hex_88",
            Box::new(|| {
                let mut out = [0u8; 176];
                let _ = black_box(
                    hex::encode_to_slice(black_box(&cipher), HexCase::Lower, &mut out)
                        .map(str::len),
                );
            }),
        ),
        (
            "hex_32",
            Box::new(|| {
                black_box(HexString::<64>::encode(black_box(&tag), HexCase::Lower));
            }),
        ),
        (
            // Not a primitive: the envelope with the string-to-sign streamed piece by piece into
            // the keyed HMAC (what `TianyiSigner::sign` did before it assembled the string on
            // the stack), for the before/after of that change in the same run.
            "envelope_streamed",
            Box::new(|| {
                let mut out = [0u8; 256];
                if let Ok(p) =
                    signer.encrypt_params_hex(black_box(SEED_PARAMS), HexCase::Lower, &mut out)
                {
                    let sts = StringToSign {
                        app_id: "693299085757",
                        client_type: 3,
                        params: p,
                        timestamp: black_box(1_700_000_000_000),
                        version: "2.0",
                    };
                    let mut mac = hkey.start();
                    sts.for_each_part(|part| mac.update(part));
                    black_box(HexString::<64>::encode(&mac.finish(), HexCase::Lower));
                }
            }),
        ),
        (
            // Not a primitive: the generic `hmac` crate keyed for every message (what most
            // callers write), for scale next to sign-core's keyed-once HMAC.
            "hmac_crate_string_to_sign",
            Box::new(|| {
                use hmac::{KeyInit as _, Mac as _};
                if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET) {
                    mac.update(black_box(sts_string.as_bytes()));
                    black_box(mac.finalize().into_bytes());
                }
            }),
        ),
    ];
    let t = interleave(rounds, batch, &mut tianyi);
    let per_round = |f: &dyn Fn(usize) -> f64| -> f64 {
        let mut v: Vec<f64> = (0..rounds).map(f).collect();
        median(&mut v)
    };
    let two_parts = per_round(&|r| t[0][r] / (t[1][r] + t[2][r]));
    let all_parts = per_round(&|r| t[0][r] / (t[1][r] + t[2][r] + t[3][r] + t[4][r]));
    let streamed_parts = per_round(&|r| t[5][r] / (t[1][r] + t[2][r]));
    let names: Vec<String> = tianyi
        .iter()
        .zip(&t)
        .map(|((n, _), s)| format!(r#""{n}":{}"#, stats(s)))
        .collect();
    json.push(format!(
        r#""tianyi":{{{},"ratio_envelope_to_xxtea_plus_hmac":{two_parts:.3},"ratio_envelope_to_all_primitives":{all_parts:.3},"ratio_streamed_envelope_to_xxtea_plus_hmac":{streamed_parts:.3}}}"#,
        names.join(",")
    ));
    eprintln!(
        "sidebyside tianyi: envelope / (xxtea + hmac) = {two_parts:.3}, / all primitives = {all_parts:.3}; streamed envelope / (xxtea + hmac) = {streamed_parts:.3}"
    );

    // XXTEA, ours and xxtea-nostd.
    for (op, decrypt) in [("encrypt", false), ("decrypt", true)] {
        for size in SIZES {
            let mut ours = Aligned::new(size);
            let mut theirs = Aligned::new(size);
            let mut ops: Vec<(&str, Op<'_>)> = vec![
                (
                    "kaifang",
                    Box::new(|| {
                        let block = ours.bytes();
                        let _ = if decrypt {
                            xxtea::decrypt_block(&xkey, black_box(block))
                        } else {
                            xxtea::encrypt_block(&xkey, black_box(block))
                        };
                    }),
                ),
                (
                    "xxtea-nostd",
                    Box::new(|| {
                        let block = theirs.bytes();
                        if decrypt {
                            xxtea_nostd::decrypt(&NOSTD_KEY.0, black_box(block));
                        } else {
                            xxtea_nostd::encrypt(&NOSTD_KEY.0, black_box(block));
                        }
                    }),
                ),
            ];
            let s = interleave(rounds, batch, &mut ops);
            let ratio = per_round(&|r| s[1][r] / s[0][r]);
            json.push(format!(
                r#""xxtea_{op}_{size}":{{"kaifang":{},"xxtea-nostd":{},"nostd_over_kaifang":{ratio:.3}}}"#,
                stats(&s[0]),
                stats(&s[1])
            ));
            eprintln!("sidebyside xxtea {op} {size}: xxtea-nostd / kaifang = {ratio:.3}");
        }
    }

    // The other signatures, each on its own.
    let ticket = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D";
    let mqtt = MqttSign {
        product_key: "a1csED27mp7",
        device_name: "AdvExample_dyn1",
        device_secret: "ximd4xyeAjtHp5lsz3A5okefnJMYtQTP",
        client_id: "a1csED27mp7.AdvExample_dyn1",
        timestamp: Some(1_700_000_000_000),
        sign_method: SignMethod::HmacSha256,
        secure_mode: SecureMode::Tls,
    };
    let mut others: Vec<(&str, Op<'_>)> = vec![
        (
            "ilab_signature",
            Box::new(|| {
                black_box(ilab::signature(black_box(ticket), "105348", "secret"));
            }),
        ),
        (
            "zhiyun_p_and_basic",
            Box::new(|| {
                let p = zhiyun::check_value(black_box(1_422_339_152_058));
                let mut out = [0u8; 64];
                let h = zhiyun::basic_authorization("1102084294", "aku8hCyXBd9SqYkT", &mut out)
                    .map(str::len);
                black_box((p, h.ok()));
            }),
        ),
        (
            "aliyun_mqtt_password_hmacsha256",
            Box::new(|| {
                black_box(black_box(&mqtt).password());
            }),
        ),
    ];
    let o = interleave(rounds, batch, &mut others);
    let names: Vec<String> = others
        .iter()
        .zip(&o)
        .map(|((n, _), s)| format!(r#""{n}":{}"#, stats(s)))
        .collect();
    json.push(format!(r#""others":{{{}}}"#, names.join(",")));

    println!(
        r#"{{"rounds":{rounds},"batch_ms":{},{}}}"#,
        batch.as_millis(),
        json.join(",")
    );
    Ok(())
}

/// A byte buffer starting at a 4-aligned address (xxtea-nostd requires it), without `unsafe`.
struct Aligned {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Self {
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
