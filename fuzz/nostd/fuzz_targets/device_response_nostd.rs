//! The proto-device parsers as firmware builds them (no `std`: serde_json on `alloc`): the
//! checks of `../../fuzz_targets/common/device_checks.rs` on the raw input as the body.
#![no_main]

include!("../../fuzz_targets/common/device_checks.rs");

libfuzzer_sys::fuzz_target!(|body: &[u8]| device_checks(body));
