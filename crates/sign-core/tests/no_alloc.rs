//! Proof that the signing paths allocate nothing: a counting global allocator, counted per thread
//! so that the test harness's own threads do not disturb the count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns
#![allow(unsafe_code)] // A GlobalAlloc impl is unsafe by definition; it only forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use kaifang_sign_core::aliyun::{self, MqttSign, SecureMode, SignMethod};
use kaifang_sign_core::hex::HexCase;
use kaifang_sign_core::tianyi::{StringToSign, TianyiSigner};
use kaifang_sign_core::{ilab, zhiyun};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting uses
// a const-initialised thread-local `Cell`, which itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_counts() {
    // Guards against a counter that always says zero.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);
}

#[test]
fn tianyi_envelope_allocates_nothing() {
    let mut buf = [0u8; 256];
    let n = allocations_during(|| {
        let signer = TianyiSigner::new(b"88bd97ee5e9949c2bc48efb6e6fa2207");
        let plain =
            b"callbackUrl=http://192.168.140.1:8889&state=abcdefghijklmnop&loginClientType=10010";
        let params = signer
            .encrypt_params_hex(plain, HexCase::Lower, &mut buf)
            .unwrap();
        let sts = StringToSign {
            app_id: "693299085757",
            client_type: 3,
            params,
            timestamp: 1_700_000_000_000,
            version: "2.0",
        };
        let sig = signer.sign(&sts, HexCase::Lower);
        assert_eq!(
            sig.as_str(),
            "7134edd0ae864e3c00072ce39cf6c33efd68b94fb0e7d442061877b62360b376"
        );
        assert!(signer.verify(&sts, sig.as_str()));
    });
    assert_eq!(n, 0);
}

#[test]
fn ilab_signature_allocates_nothing() {
    let n = allocations_during(|| {
        let sig = ilab::signature(
            "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D",
            "105348",
            "secret",
        );
        assert_eq!(sig.as_str(), "A420ABC82AB3B07C347F7F02A6B28FD2");
    });
    assert_eq!(n, 0);
}

#[test]
fn zhiyun_values_allocate_nothing() {
    let mut buf = [0u8; 64];
    let n = allocations_during(|| {
        assert_eq!(zhiyun::check_value(1_422_339_152_058), 8519);
        let auth = zhiyun::basic_authorization("1102084294", "aku8hCyXBd9SqYkT", &mut buf).unwrap();
        assert_eq!(auth, "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU");
    });
    assert_eq!(n, 0);
}

#[test]
fn mqtt_credentials_allocate_nothing() {
    let mut buf = [0u8; 128];
    let n = allocations_during(|| {
        for method in [
            SignMethod::HmacMd5,
            SignMethod::HmacSha1,
            SignMethod::HmacSha256,
        ] {
            let sign = MqttSign {
                product_key: "pk",
                device_name: "device",
                device_secret: "secret",
                client_id: "12345",
                timestamp: Some(789),
                sign_method: method,
                secure_mode: SecureMode::Tcp,
            };
            let creds = sign.credentials(&mut buf).unwrap();
            assert_eq!(creds.username, "device&pk");
        }
        let sign = aliyun::register_sign(
            "a1csED27mp7",
            "AdvExample_dyn1",
            "VuULINCrtTAzCSzp",
            "2HyP9O70q5t9VuX",
        );
        assert_eq!(
            sign.as_str(),
            "9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556"
        );
    });
    assert_eq!(n, 0);
}
