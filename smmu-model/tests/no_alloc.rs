//! The translation hot path (configuration-cache and TLB hits) does not allocate:
//! proved with a counting global allocator.

mod common;
use common::*;
use smmu_model::{Transaction, TranslationKind};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// counting has no effect on the returned memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout, which satisfies `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through `alloc`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Ordering::Relaxed) - before
}

#[test]
fn tlb_hit_path_does_not_allocate() {
    const VA: u64 = 0x0000_0001_0000_0000;
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    // SID 1: stage 1. SID 2: stage 2. SID 3: bypass.
    let root = rig.page();
    let s2root = rig.page();
    let cd_page = rig.page();
    write_words(&rig.mem, cd_page, &cd(1, root, true));
    rig.write_ste(1, ste_s1(cd_page));
    rig.write_ste(2, ste_s2(2, s2root, true));
    rig.write_ste(3, STE_BYPASS);
    let pages: Vec<u64> = (0..64).map(|_| rig.page()).collect();
    for (i, p) in pages.iter().enumerate() {
        rig.map4k(root, VA + i as u64 * 0x1000, *p, S1_RW | S1_NG);
        rig.map4k(s2root, VA + i as u64 * 0x1000, *p, S2_RW);
    }
    rig.enable();
    let txs: Vec<Transaction> = (0..64u64)
        .flat_map(|i| {
            [
                Transaction::read(1, VA + i * 0x1000 + 8, 8),
                Transaction::write(2, VA + i * 0x1000 + 16, 8),
                Transaction::read(3, VA + i * 0x1000, 8),
            ]
        })
        .collect();
    // Warm the caches.
    for t in &txs {
        rig.smmu.translate(t).unwrap();
    }
    let mut hits = 0;
    let n = allocations_during(|| {
        for _ in 0..20 {
            for t in &txs {
                let r = rig.smmu.translate(t).unwrap();
                hits += u32::from(r.tlb_hit || r.kind == TranslationKind::SteBypass);
            }
        }
    });
    assert_eq!(hits as usize, 20 * txs.len(), "all hits");
    assert_eq!(n, 0, "the hot path allocated {n} times");
    // DMA through the hot path does not allocate either.
    let n = allocations_during(|| {
        let mut buf = [0u8; 64];
        for t in txs.iter().filter(|t| t.sid != 3).take(30) {
            rig.smmu.dma_read(t, &mut buf).unwrap();
        }
    });
    assert_eq!(n, 0);
}
