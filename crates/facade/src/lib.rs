//! # kaifang (开放)
//!
//! Authenticate against Chinese open platforms correctly the first time. This crate re-exports
//! kaifang's layered crates behind features, so each downstream crate takes only what it needs.
//!
//! | Feature | Module | What you get |
//! |---|---|---|
//! | (always) | [`sign`] | `kaifang-sign-core`: `no_std` HMAC / MD5 / xxtea-py XXTEA / every platform's signature |
//! | (always) | [`core`] | `kaifang-proto-core`: the sans-IO contract, tokens, errors, redaction, lifecycle |
//! | `tianyi` | `tianyi` | Tianyi Shilian VCP (天翼视联) |
//! | `zhiyun` | `zhiyun` | Zhiyun open auth (致云) |
//! | `device` | `device` | Cellular device provisioning + Aliyun IoT MQTT / 一型一密 |
//! | `tf56` | `tf56` | Transfar open gateway (传化 tf56), OAuth 2.0 |
//! | `ilab` | `ilab` | Virtual-simulation experiment platform (iLab-x style) |
//! | `blocking` | `blocking` | The blocking transport (ureq) and its token manager |
//! | `async` | `asynch` | The async transport (reqwest + tokio) and its token manager |
//! | `sandbox` | `sandbox` | The local emulator of all five platforms |
//! | `full` | all of the above | |
//!
//! ```
//! // Offline: the Zhiyun check value and the Tianyi signature need only the default features.
//! assert_eq!(kaifang::sign::zhiyun::check_value(1_422_339_152_058), 8519);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use kaifang_proto_core as core;
pub use kaifang_sign_core as sign;

#[cfg(feature = "tianyi")]
#[cfg_attr(docsrs, doc(cfg(feature = "tianyi")))]
pub use kaifang_proto_tianyi as tianyi;

#[cfg(feature = "zhiyun")]
#[cfg_attr(docsrs, doc(cfg(feature = "zhiyun")))]
pub use kaifang_proto_zhiyun as zhiyun;

#[cfg(feature = "device")]
#[cfg_attr(docsrs, doc(cfg(feature = "device")))]
pub use kaifang_proto_device as device;

#[cfg(feature = "tf56")]
#[cfg_attr(docsrs, doc(cfg(feature = "tf56")))]
pub use kaifang_proto_tf56 as tf56;

#[cfg(feature = "ilab")]
#[cfg_attr(docsrs, doc(cfg(feature = "ilab")))]
pub use kaifang_proto_ilab as ilab;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub use kaifang_transport_blocking as blocking;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use kaifang_transport_async as asynch;

#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub use kaifang_sandbox as sandbox;
