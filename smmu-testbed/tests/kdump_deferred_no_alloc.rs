//! The driver's `is_attach_deferred` (kdump.md §10: decided from STE dw0 only) does not
//! allocate: a counting global allocator observes the calling thread while it runs on an
//! adopted table.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Core, core, small};
use iommu_core::{DeviceDesc, DeviceId, IommuDriver, Iova, PhysAddr, Prot, StreamId};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::ModelConfig;

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
fn is_attach_deferred_does_not_allocate() {
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 16]))) >= 1);

    // Kernel 1: a live device at 0x10; 0x11 keeps the table's default STE (abort). It
    // crashes.
    let tb = Testbed::new(ModelConfig::default());
    let mut k1 = core(&tb, &small());
    k1.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(0x10)]))
        .unwrap();
    let buf = tb.alloc_buffer(4096);
    k1.dma_map(
        DeviceId(1),
        Iova(0x1000),
        PhysAddr(buf),
        4096,
        Prot::READ.union(Prot::WRITE),
    )
    .unwrap();
    std::mem::forget(k1);

    let kd = tb.reboot(true);
    let mut k2: Core = core(&kd, &small());
    let live = [StreamId(0x11), StreamId(0x10)];
    let idle = [StreamId(0x11)];
    // Probing device 1 adopts the L2 table of SIDs 0..=0xff. 0x11 is left unprobed:
    // probing it would attach its default domain at once (not deferred, kdump.md §10).
    k2.probe_device(DeviceDesc::new(DeviceId(1), &live[1..]))
        .unwrap();
    // A StreamID whose L2 table kernel 1 never created, and one beyond the table.
    let (unpopulated, beyond) = ([StreamId(0x4200)], [StreamId(0x7fff_ffff)]);
    let (mut deferred, mut not_deferred, mut absent) = (false, false, [true; 2]);
    let n = allocations_during(|| {
        for _ in 0..1000 {
            deferred = k2
                .driver()
                .is_attach_deferred(DeviceDesc::new(DeviceId(1), &live));
            not_deferred = k2
                .driver()
                .is_attach_deferred(DeviceDesc::new(DeviceId(2), &idle));
            absent = [&unpopulated, &beyond].map(|sids| {
                k2.driver()
                    .is_attach_deferred(DeviceDesc::new(DeviceId(3), sids))
            });
            let _ = k2.is_attach_deferred(DeviceId(1));
        }
    });
    assert_eq!(n, 0, "is_attach_deferred allocated");
    assert!(deferred, "V = 1, Config = S1_TRANS: live");
    assert!(!not_deferred, "V = 1, Config = ABORT: not live");
    assert_eq!(absent, [false, false], "no STE: nothing live");
    assert!(k2.is_attach_deferred(DeviceId(1)).unwrap());
}
