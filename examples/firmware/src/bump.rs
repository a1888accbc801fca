//! A lock-free bump allocator over a static array: the smallest global allocator that lets
//! `alloc` work on a microcontroller without an RTOS heap.
//!
//! Allocation moves a cursor forward. `dealloc` moves it back when the most recent block is
//! freed (the push/pop pattern of building a request and parsing a reply), and resets it to the
//! start when the last live block is freed, so one provisioning run after another reuses the
//! same memory. The cursor and the live-block count share one atomic word, so every update is a
//! single compare-and-swap (no 64-bit atomics needed: fine on Cortex-M3 and up).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of heap.
pub const HEAP_SIZE: usize = 64 * 1024;

/// The low bits of the state hold the cursor (so the heap may be up to 1 MiB); the high bits hold
/// the number of live blocks.
const CURSOR_BITS: u32 = 20;
const CURSOR_MASK: usize = (1 << CURSOR_BITS) - 1;
const MAX_LIVE: usize = usize::MAX >> CURSOR_BITS;
const _: () = assert!(HEAP_SIZE <= CURSOR_MASK);

const fn pack(live: usize, cursor: usize) -> usize {
    (live << CURSOR_BITS) | cursor
}

const fn unpack(state: usize) -> (usize, usize) {
    (state >> CURSOR_BITS, state & CURSOR_MASK)
}

#[repr(C, align(16))]
struct Heap(UnsafeCell<[u8; HEAP_SIZE]>);

/// The allocator: a heap, a packed (live blocks, cursor) state, and the high-water mark.
pub struct BumpAllocator {
    heap: Heap,
    state: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: the heap is only reached through `alloc`, which hands out disjoint ranges: the cursor
// is advanced with compare-and-swap, so two threads (or an interrupt) never receive overlapping
// memory. The cursor moves back only over memory no live block uses (see `dealloc`).
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    /// An empty heap.
    pub const fn new() -> Self {
        BumpAllocator {
            heap: Heap(UnsafeCell::new([0; HEAP_SIZE])),
            state: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Bytes between the heap start and the cursor now.
    pub fn used(&self) -> usize {
        unpack(self.state.load(Ordering::Relaxed)).1
    }

    /// The furthest the cursor has ever been.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn base(&self) -> *mut u8 {
        self.heap.0.get().cast::<u8>()
    }
}

impl Default for BumpAllocator {
    fn default() -> Self {
        BumpAllocator::new()
    }
}

// SAFETY: `alloc` returns either null or a pointer to `layout.size()` bytes inside the static
// heap, aligned to `layout.align()` (the start is rounded up from the real address), beyond the
// cursor and therefore beyond every live block; the cursor then moves past it in the same atomic
// update that counts it live. `dealloc` moves the cursor back only to the start of the block
// being freed when that block ends at the cursor (nothing live lies beyond it), or to 0 when no
// block is live at all, so no live memory is ever handed out twice.
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.base();
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let (live, cursor) = unpack(state);
            if live == MAX_LIVE {
                return ptr::null_mut();
            }
            let Some(aligned) = base
                .addr()
                .checked_add(cursor)
                .and_then(|a| a.checked_next_multiple_of(layout.align()))
            else {
                return ptr::null_mut();
            };
            let start = aligned - base.addr();
            let Some(end) = start.checked_add(layout.size()).filter(|e| *e <= HEAP_SIZE) else {
                return ptr::null_mut();
            };
            match self.state.compare_exchange_weak(
                state,
                pack(live + 1, end),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.peak.fetch_max(end, Ordering::Relaxed);
                    // SAFETY: `start <= end <= HEAP_SIZE`, so the result stays inside the heap.
                    return unsafe { base.add(start) };
                }
                Err(seen) => state = seen,
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let start = ptr.addr().wrapping_sub(self.base().addr());
        let end = start.wrapping_add(layout.size());
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let (live, cursor) = unpack(state);
            let live = live.saturating_sub(1);
            let cursor = if live == 0 {
                0
            } else if cursor == end {
                start
            } else {
                cursor
            };
            match self.state.compare_exchange_weak(
                state,
                pack(live, cursor),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(seen) => state = seen,
            }
        }
    }
}
