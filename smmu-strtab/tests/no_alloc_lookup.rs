//! The lookup hot path (`StreamTable::ste` + `SteSlot::read` / `SteSlot::read_word`) and
//! an STE rewrite do not allocate: a counting global allocator observes the calling thread
//! while they run.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::TestMem;
use smmu_regs::StreamId;
use smmu_strtab::{StreamTable, StreamTableCaps, TablePolicy, WriteStep};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: forwards to the system allocator; counting has no effect on the allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with allocation counting armed on this thread and returns the count.
fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCS.store(0, Ordering::SeqCst);
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    ALLOCS.load(Ordering::SeqCst)
}

#[test]
fn lookup_and_write_do_not_allocate() {
    // The counter works.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 16]))) >= 1);

    let mem = TestMem::new(true);
    let caps = StreamTableCaps {
        sid_bits: 16,
        two_level: true,
        attr_types_ovr: true,
    };
    let mut table = StreamTable::new(&mem, caps, &TablePolicy::default()).unwrap();
    for sid in [0u32, 0x1234, 0xffff] {
        table.ensure_sid(StreamId(sid)).unwrap();
    }
    let mut hook = |_: WriteStep| Ok::<(), ()>(());
    let n = allocations_during(|| {
        let mut acc = 0u64;
        for sid in (0..=0xffffu32)
            .step_by(if cfg!(miri) { 251 } else { 7 })
            .chain([0x1234, 0xffff, 0x1_0000, u32::MAX])
        {
            match table.ste(StreamId(sid)) {
                Ok(slot) => acc ^= slot.read().unwrap()[0] ^ slot.read_word(0).unwrap(),
                Err(e) => acc ^= std::hint::black_box(&e) as *const _ as u64 & 1,
            }
        }
        let slot = table.ste(StreamId(0x1234)).unwrap();
        slot.write(&[0x9, 1 << 44, 0, 0, 0, 0, 0, 0], &mut hook)
            .unwrap();
        std::hint::black_box(acc);
    });
    assert_eq!(n, 0, "the lookup path allocated");
}
