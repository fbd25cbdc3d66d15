//! The driver's HAL (design.md §3.1) over real MMIO and memory: [`QemuHal`] implements
//! `smmu_v3_driver::{Registers, TableMemory, Platform}`.
//!
//! * Registers: volatile 32/64-bit accesses to the SMMU frame from the device tree, with
//!   `DMB OSHST` before a write and `DMB OSHLD` after a read ([`Mmio`]).
//! * DMA memory: a [`Bump`] region (`dma0` for phase 1 and scenario 1, one part of `dma1`
//!   per "kernel" of scenario 2), identity-mapped Normal memory, so the CPU pointer is the physical address.
//!   Nothing is ever freed (`free` is a no-op, which the contract allows).
//! * `map` (memremap of memory a previous kernel left): any 8-byte aligned range inside
//!   RAM, returned as its identity-mapped pointer; anything else fails.
//! * Cache maintenance: `DC CVAC` / `DC CIVAC` per cache line and `DSB SY`. QEMU's SMMU is
//!   `dma-coherent` in the device tree, so the driver skips them there; they are real for
//!   a non-coherent configuration.
//! * Platform: kdump flag and firmware coherency as constructed; `relax` waits 1 µs on
//!   the generic timer, so the default poll budget (10^6) is about one second.
//! * Scenario 2 instruments a HAL: a [`WriteLog`] records every register write the driver
//!   makes (QEMU 7.2 takes STRTAB_BASE / STRTAB_BASE_CFG / CR1 / CR2 writes even with the
//!   SMMU enabled, so "the adopt-mode reset wrote none of them" must be observed on the
//!   writes themselves), and a [`WriteHook`] runs after each write (to issue a device DMA
//!   at an exact point of the reset sequence).

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use smmu_regs::PhysAddr;
use smmu_strtab::{DmaRegion, MemoryError};
use smmu_v3_driver::{Diagnostic, Platform, Registers, TableMemory};

use crate::console::println;
use crate::heap::Bump;
use crate::mmio::Mmio;
use crate::platform::Range;
use crate::time;

/// How many register writes a [`WriteLog`] keeps (later ones are only counted).
pub const WRITE_LOG_LEN: usize = 512;

/// The register writes a HAL made, in order: offset and value (a 32-bit write's value is
/// zero-extended). Lock-free, so the `Registers` methods stay callable from any thread.
pub struct WriteLog {
    offsets: [AtomicU32; WRITE_LOG_LEN],
    values: [AtomicU64; WRITE_LOG_LEN],
    len: AtomicUsize,
}

impl WriteLog {
    /// An empty log.
    pub const fn new() -> Self {
        Self {
            offsets: [const { AtomicU32::new(0) }; WRITE_LOG_LEN],
            values: [const { AtomicU64::new(0) }; WRITE_LOG_LEN],
            len: AtomicUsize::new(0),
        }
    }

    fn record(&self, offset: usize, value: u64) {
        let i = self.len.fetch_add(1, Ordering::AcqRel);
        if i < WRITE_LOG_LEN {
            self.offsets[i].store(offset as u32, Ordering::Relaxed);
            self.values[i].store(value, Ordering::Release);
        }
    }

    /// Writes recorded so far, including those beyond the capacity.
    pub fn total(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether writes were counted but not kept.
    pub fn overflowed(&self) -> bool {
        self.total() > WRITE_LOG_LEN
    }

    /// The kept writes, oldest first: `(offset, value)`.
    pub fn entries(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        (0..self.total().min(WRITE_LOG_LEN)).map(|i| {
            (
                self.offsets[i].load(Ordering::Relaxed) as usize,
                self.values[i].load(Ordering::Acquire),
            )
        })
    }
}

impl fmt::Debug for WriteLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteLog({} writes)", self.total())
    }
}

/// Called after each register write with its offset and value (see
/// [`QemuHal::with_write_hook`]).
pub type WriteHook = dyn Fn(usize, u64) + Sync;

/// The HAL handle given to the driver: `Copy`, so every table can keep one.
#[derive(Clone, Copy)]
pub struct QemuHal {
    regs: Mmio,
    dma: &'static Bump,
    ram: Range,
    kdump: bool,
    coherent: Option<bool>,
    log: Option<&'static WriteLog>,
    hook: Option<&'static WriteHook>,
}

impl fmt::Debug for QemuHal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QemuHal")
            .field("regs", &self.regs)
            .field("dma", &self.dma.region())
            .field("ram", &self.ram)
            .field("kdump", &self.kdump)
            .field("coherent", &self.coherent)
            .field("log", &self.log)
            .field("hook", &self.hook.is_some())
            .finish()
    }
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
            log: None,
            hook: None,
        }
    }

    /// The same HAL, recording every register write in `log`.
    pub fn with_write_log(mut self, log: &'static WriteLog) -> Self {
        self.log = Some(log);
        self
    }

    /// The same HAL, calling `hook` after every register write (after the write reached
    /// the SMMU, before `write32` / `write64` returns).
    ///
    /// # Safety
    ///
    /// `hook` touches none of the SMMU's registers and no memory the driver owns (its
    /// tables, queues and page tables), and returns. To the driver it is then as if the
    /// CPU had been interrupted after the write: the [`Registers`] contract (one access,
    /// in order) still holds.
    pub unsafe fn with_write_hook(mut self, hook: &'static WriteHook) -> Self {
        self.hook = Some(hook);
        self
    }

    fn wrote(&self, offset: usize, value: u64) {
        if let Some(log) = self.log {
            log.record(offset, value);
        }
        if let Some(hook) = self.hook {
            hook(offset, value);
        }
    }
}

// SAFETY: each method performs exactly one access of its width at `offset` of the SMMU
// frame (`Mmio` checks the bounds and alignment); `Mmio` writes are preceded by
// `DMB OSHST` and reads followed by `DMB OSHLD` (Linux writel / readl); the accesses keep
// no state besides the optional write log (atomics), so concurrent calls do not
// interfere. A write hook runs only after the write and, by the `with_write_hook`
// contract, touches neither the SMMU nor the driver's memory.
unsafe impl Registers for QemuHal {
    fn read32(&self, offset: usize) -> u32 {
        self.regs.read32(offset)
    }

    fn write32(&self, offset: usize, value: u32) {
        self.regs.write32(offset, value);
        self.wrote(offset, u64::from(value));
    }

    fn read64(&self, offset: usize) -> u64 {
        self.regs.read64(offset)
    }

    fn write64(&self, offset: usize, value: u64) {
        self.regs.write64(offset, value);
        self.wrote(offset, value);
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
