//! The cached-token read path: no lock, no allocation. Timing is printed by the ignored test
//! (`cargo test --release -p kaifang-proto-core --test hot_path -- --ignored --nocapture`);
//! criterion numbers belong in `benches/`.

#![allow(clippy::unwrap_used, clippy::panic)] // test driver code: failing loudly is the point

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use kaifang_proto_core::context::FixedNonce;
use kaifang_proto_core::lifecycle::{Acquire, RefreshPolicy, TokenSlot};
use kaifang_proto_core::token::Token;

fn filled_slot() -> (TokenSlot, std::time::SystemTime) {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let policy = RefreshPolicy::default();
    let mut slot = TokenSlot::new();
    let Acquire::Fetch(ticket) = slot.acquire(&policy, now) else {
        panic!("empty slot must fetch")
    };
    slot.on_refresh_success(
        ticket,
        Token::from_expires_in("t", now, 7200),
        &policy,
        &FixedNonce::new("x"),
    );
    (slot, now)
}

#[test]
fn reader_serves_until_refresh_at() {
    let (slot, now) = filled_slot();
    let r = slot.reader();
    assert!(r.fresh(now).is_some());
    assert!(r.fresh(now + Duration::from_secs(7199)).is_none());
}

#[test]
#[ignore = "timing; run in release with --nocapture"]
fn hot_path_timing() {
    let (slot, now) = filled_slot();
    let reader = slot.reader();
    const N: u32 = 5_000_000;
    let start = Instant::now();
    for _ in 0..N {
        black_box(reader.with_fresh(black_box(now), |t| t.expires_at));
    }
    println!("with_fresh: {:?}/op (1 thread)", start.elapsed() / N);
    let start = Instant::now();
    for _ in 0..N {
        black_box(reader.fresh(black_box(now)));
    }
    println!("fresh (Arc clone): {:?}/op (1 thread)", start.elapsed() / N);
    let reader = Arc::new(reader);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let r = Arc::clone(&reader);
            thread::spawn(move || {
                let start = Instant::now();
                for _ in 0..N {
                    black_box(r.with_fresh(black_box(now), |t| t.expires_at));
                }
                start.elapsed() / N
            })
        })
        .collect();
    for h in handles {
        println!("with_fresh, 4 threads: {:?}/op", h.join().unwrap());
    }
}
