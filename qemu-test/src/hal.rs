//! The driver's HAL (design.md §3.1) over real MMIO and memory: [`QemuHal`] implements
//! `smmu_v3_driver::{Registers, TableMemory, Platform}`.
//!
//! * Registers: volatile 32/64-bit accesses to the SMMU frame from the device tree, with
//!   `DMB OSHST` before a write and `DMB OSHLD` after a read ([`Mmio`]).
//! * DMA memory: a [`Bump`] region (`dma0` for the first kernel, `dma1` for a kdump
//!   kernel), identity-mapped Normal memory, so the CPU pointer is the physical address.
//!   Nothing is ever freed (`free` is a no-op, which the contract allows).
//! * `map` (memremap of memory a previous kernel left): any 8-byte aligned range inside
//!   RAM, returned as its identity-mapped pointer; anything else fails.
//! * Cache maintenance: `DC CVAC` / `DC CIVAC` per cache line and `DSB SY`. QEMU's SMMU is
//!   `dma-coherent` in the device tree, so the driver skips them there; they are real for
//!   a non-coherent configuration.
//! * Platform: kdump flag and firmware coherency as constructed; `relax` waits 1 µs on
//!   the generic timer, so the default poll budget (10^6) is about one second.

use core::alloc::Layout;
use core::ptr::NonNull;

use smmu_regs::PhysAddr;
use smmu_strtab::{DmaRegion, MemoryError};
use smmu_v3_driver::{Diagnostic, Platform, Registers, TableMemory};

use crate::console::println;
use crate::heap::Bump;
use crate::mmio::Mmio;
use crate::platform::Range;
use crate::time;

/// The HAL handle given to the driver: `Copy`, so every table can keep one.
#[derive(Clone, Copy, Debug)]
pub struct QemuHal {
    regs: Mmio,
    dma: &'static Bump,
    ram: Range,
    kdump: bool,
    coherent: Option<bool>,
}

impl QemuHal {
    /// A HAL for the SMMU whose register frame is `regs`, allocating DMA memory from
    /// `dma`, mapping only inside `ram`.
    ///
    /// # Safety
    ///
    /// `regs` is the SMMU's 128 KiB register frame (Device memory); `dma` was initialised
    /// over identity-mapped Normal RAM used for nothing else; `ram` is identity-mapped
    /// Normal memory; `coherent` is what firmware says about the SMMU (the device tree's
    /// `dma-coherent`); `kdump` is true only when this "kernel" runs with memory disjoint
    /// from the previous one (`dma` is a region the previous kernel never used).
    pub unsafe fn new(
        regs: Mmio,
        dma: &'static Bump,
        ram: Range,
        kdump: bool,
        coherent: Option<bool>,
    ) -> Self {
        Self {
            regs,
            dma,
            ram,
            kdump,
            coherent,
        }
    }
}

// SAFETY: each method performs exactly one access of its width at `offset` of the SMMU
// frame (`Mmio` checks the bounds and alignment); `Mmio` writes are preceded by
// `DMB OSHST` and reads followed by `DMB OSHLD` (Linux writel / readl); the accesses keep
// no state, so concurrent calls do not interfere.
unsafe impl Registers for QemuHal {
    fn read32(&self, offset: usize) -> u32 {
        self.regs.read32(offset)
    }

    fn write32(&self, offset: usize, value: u32) {
        self.regs.write32(offset, value);
    }

    fn read64(&self, offset: usize) -> u64 {
        self.regs.read64(offset)
    }

    fn write64(&self, offset: usize, value: u64) {
        self.regs.write64(offset, value);
    }
}

/// The smallest data-cache line size, from CTR_EL0.DminLine.
fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

/// Cleans (or cleans and invalidates) the data cache lines covering `start .. start + len`
/// to the point of coherency, then waits for completion.
fn dcache_maintain(start: usize, len: usize, invalidate: bool) {
    if len == 0 {
        return;
    }
    let line = dcache_line();
    let end = start.saturating_add(len);
    let mut addr = start & !(line - 1);
    while addr < end {
        if invalidate {
            // SAFETY: clean-and-invalidate by VA of a mapped line writes dirty data back
            // first, so no CPU write is lost; no memory is changed from Rust's view.
            unsafe { core::arch::asm!("dc civac, {}", in(reg) addr, options(nostack)) };
        } else {
            // SAFETY: clean by VA only writes dirty data back; no visible change.
            unsafe { core::arch::asm!("dc cvac, {}", in(reg) addr, options(nostack)) };
        }
        addr += line;
    }
    crate::mmio::dsb();
}

// SAFETY:
// * `alloc_zeroed` carves `len` bytes aligned to `align` (at least 8) out of the `Bump`
//   region, whose memory is identity-mapped Normal RAM used by nothing else (the `new`
//   contract), so the physical address is the pointer value and the region is physically
//   contiguous and exclusively the caller's; it is zeroed (and cleaned, for a
//   non-coherent SMMU) before it is returned. Never reused: `free` is a no-op.
// * `map` returns the identity mapping of a range that lies entirely inside RAM (the
//   `new` contract), 8-byte aligned; other ranges fail.
// * The pointers are valid for 64-bit atomic accesses from any CPU (Normal memory).
// * `clean` / `invalidate` use DC CVAC / DC CIVAC over whole lines, then DSB.
unsafe impl TableMemory for QemuHal {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        if !align.is_power_of_two() {
            return Err(MemoryError::Unsupported);
        }
        let layout =
            Layout::from_size_align(len, align.max(8)).map_err(|_| MemoryError::Unsupported)?;
        let ptr = self
            .dma
            .allocate_zeroed(layout)
            .ok_or(MemoryError::NoMemory)?;
        if self.coherent == Some(false) {
            dcache_maintain(ptr.as_ptr() as usize, len, false);
        }
        // SAFETY: see the impl comment: fresh, exclusive, identity-mapped RAM of `len`
        // bytes, 8-byte aligned.
        Ok(unsafe { DmaRegion::new(PhysAddr(ptr.as_ptr() as u64), ptr.cast(), len) })
    }

    unsafe fn free(&self, _region: DmaRegion) {
        // A bump allocator never frees.
    }

    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        let range = Range {
            base: pa.0,
            size: len as u64,
        };
        if !pa.0.is_multiple_of(8) || !self.ram.contains_range(range) {
            return Err(MemoryError::MapFailed);
        }
        let ptr = usize::try_from(pa.0)
            .ok()
            .and_then(|p| NonNull::new(p as *mut u64))
            .ok_or(MemoryError::MapFailed)?;
        // SAFETY: the range lies inside identity-mapped RAM and is 8-byte aligned; the
        // contract of `map` allows it to alias other memory.
        Ok(unsafe { DmaRegion::new(pa, ptr, len) })
    }

    unsafe fn unmap(&self, _region: DmaRegion) {
        // The identity map stays.
    }

    fn clean(&self, region: &DmaRegion, offset: usize, len: usize) {
        dcache_maintain(region.ptr().as_ptr() as usize + offset, len, false);
    }

    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize) {
        dcache_maintain(region.ptr().as_ptr() as usize + offset, len, true);
    }
}

// SAFETY: `firmware_coherent` is the device tree's `dma-coherent` of the SMMU node;
// `is_kdump_kernel` is set only for the scenario-2 kernel, which allocates from a region
// the first kernel never used; `relax` returns after about 1 µs.
unsafe impl Platform for QemuHal {
    fn is_kdump_kernel(&self) -> bool {
        self.kdump
    }

    fn firmware_coherent(&self) -> Option<bool> {
        self.coherent
    }

    fn relax(&self) {
        let until = time::ticks() + time::frequency() / 1_000_000 + 1;
        while time::ticks() < until {
            core::hint::spin_loop();
        }
    }

    fn diagnostic(&self, diagnostic: Diagnostic) {
        println!("  driver diagnostic: {diagnostic:?}");
    }
}
