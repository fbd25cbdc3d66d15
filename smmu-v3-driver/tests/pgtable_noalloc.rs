//! `iova_to_phys` and the map of a 4 KiB page never allocate from the heap: table pages
//! come from `TableMemory`, and the bookkeeping lives in table memory.

mod common_mem;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common_mem::TestMem;
use iommu_core::Prot;
use smmu_regs::{AddressSize, Iova, PhysAddr};
use smmu_strtab::Coherency;
use smmu_v3_driver::pgtable::{Aarch64PageTable, PageTableParams, Stage};

/// Counts the heap allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to `System`; the counter is a const-initialised thread local (no
// allocation, no reentrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn heap_allocs<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (r, ALLOCS.with(Cell::get) - before)
}

#[test]
fn hot_paths_do_not_allocate() {
    let prot = Prot::READ | Prot::WRITE | Prot::CACHE;
    for (stage, coherency) in [
        (Stage::Stage1, Coherency::Coherent),
        (Stage::Stage2, Coherency::NonCoherent),
    ] {
        let mem = if coherency == Coherency::Coherent {
            TestMem::new(256 << 10)
        } else {
            TestMem::non_coherent(256 << 10)
        };
        let mut pt = Aarch64PageTable::new(
            &mem,
            PageTableParams::new(stage, 48, AddressSize::Bits48, coherency),
        )
        .unwrap();
        // The counter works.
        let (_, n) = heap_allocs(|| vec![1u8; 16]);
        assert_eq!(n, 1);
        let (r, n) = heap_allocs(|| {
            // A map that creates three tables, one that reuses them, lookups, an unmap.
            let a = pt.map(&mem, Iova(0x7f00_1234_5000), PhysAddr(0x1000), 0x1000, prot);
            let b = pt.map(&mem, Iova(0x7f00_1234_6000), PhysAddr(0x2000), 0x1000, prot);
            let c = pt.iova_to_phys(&mem, Iova(0x7f00_1234_6abc));
            let d = pt.iova_to_phys(&mem, Iova(0x7f00_1234_7000));
            let e = pt.unmap(&mem, Iova(0x7f00_1234_5000), 0x1000);
            (a, b, c, d, e)
        });
        assert_eq!(
            r,
            (Ok(()), Ok(()), Some(PhysAddr(0x2abc)), None, Ok(0x1000))
        );
        assert_eq!(n, 0, "{stage:?}: heap allocations on the hot path");
        assert_eq!(mem.live(), 4);
        // SAFETY: no SMMU walks the test tables.
        unsafe { pt.release(&mem) };
        assert_eq!(mem.live(), 0);
    }
}
