//! # kaifang-sign-core
//!
//! The pure computations behind every kaifang platform: hashes, HMACs, hex, xxtea-py-compatible
//! XXTEA, and each platform's signature, in `#![no_std]` code that never allocates (callers pass
//! buffers or receive fixed arrays) and never panics on input. Time and randomness are arguments,
//! so every function is deterministic. Firmware can depend on this crate alone.
//!
//! ```
//! use kaifang_sign_core::{ilab, zhiyun};
//!
//! assert_eq!(zhiyun::check_value(1_422_339_152_058), 8519);
//! let sig = ilab::signature("ticket%2Bwith%2Fslash%3D", "105348", "secret");
//! assert_eq!(sig.len(), 32);
//! ```
//!
//! ## What is here, and who needs it
//!
//! | Function | Module | Platform |
//! |---|---|---|
//! | [`TianyiSigner::encrypt_params_hex`](tianyi::TianyiSigner::encrypt_params_hex) (XXTEA + hex, one buffer) | [`tianyi`] | Tianyi VCP |
//! | [`TianyiSigner::sign`](tianyi::TianyiSigner::sign) / [`verify`](tianyi::TianyiSigner::verify), [`StringToSign`](tianyi::StringToSign) | [`tianyi`] | Tianyi VCP |
//! | [`TianyiSigner::decrypt_params_hex`](tianyi::TianyiSigner::decrypt_params_hex) (server side, `v1.0` data) | [`tianyi`] | Tianyi VCP |
//! | [`zhiyun::check_value`] (`p_`), [`zhiyun::basic_authorization`] | [`zhiyun`] | Zhiyun |
//! | [`ilab::signature`], [`ilab::signature_decoded`], [`ilab::unquote_into`] | [`ilab`] | iLab-x style |
//! | [`MqttSign`](aliyun::MqttSign) (clientId, username, password), [`aliyun::register_sign`] | [`aliyun`] | Device provisioning (Aliyun IoT) |
//! | [`xxtea::encrypt_into`], [`xxtea::decrypt_into`], [`xxtea::decrypt_in_place`], raw blocks | [`xxtea`] | Tianyi (params, `v1.0` responses) |
//! | [`HmacSha256Key`](mac::HmacSha256Key), [`HmacSha1Key`](mac::HmacSha1Key), [`HmacMd5Key`](mac::HmacMd5Key): keyed once, reused | [`mac`] | Tianyi, Aliyun |
//! | [`digest::md5`], [`digest::sha256`], [`digest::sha1`], [`digest::Md5`] | [`digest`] | iLab, tests |
//! | [`hex::encode_to_slice`], [`hex::expand_in_place`], [`hex::decode_to_slice`], [`HexString`](hex::HexString) | [`hex`] | all |
//!
//! ## Features
//!
//! | Feature | Default | Adds |
//! |---|---|---|
//! | `alloc` | no | `Vec` conveniences: [`xxtea::encrypt`], [`xxtea::decrypt`] |
//!
//! ## Why our own XXTEA
//! See [`xxtea`]: `xxtea-nostd` is unsound on unaligned input, native-endian and panics on edge
//! cases; it remains our differential test oracle and benchmark reference.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod aliyun;
mod base64;
pub mod digest;
pub mod error;
pub mod hex;
pub mod ilab;
pub mod mac;
pub mod tianyi;
mod writer;
pub mod xxtea;
pub mod zhiyun;

pub use error::Error;
