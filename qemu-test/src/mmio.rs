//! Memory-mapped I/O: the only place that dereferences device addresses.
//!
//! An [`Mmio`] is a checked window onto one device's register block. Creating one is
//! `unsafe` (the caller vouches for the address range); every access after that is a
//! bounds- and alignment-checked volatile access with the barriers Linux's `readl` /
//! `writel` use, so that MMIO and normal-memory accesses are ordered for DMA:
//!
//! * a write is preceded by `DMB OSHST`: normal-memory stores made before it (DMA
//!   buffers, queue entries, table words) are observable by a device that sees the
//!   register write;
//! * a read is followed by `DMB OSHLD`: normal-memory loads made after it do not see data
//!   older than the register value (a DMA completion flag, a queue producer index).

use core::fmt;

/// A device register block at a fixed address, accessed by volatile loads and stores.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mmio {
    base: usize,
    len: usize,
}

impl fmt::Debug for Mmio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mmio({:#x}..{:#x})", self.base, self.base + self.len)
    }
}

impl Mmio {
    /// Describes the register block `base .. base + len`.
    ///
    /// # Safety
    ///
    /// For as long as the value (or a copy) is used: the range is mapped as Device memory
    /// (or the MMU is off), belongs to one device, and 32- and 64-bit volatile accesses to
    /// it do not break memory safety by themselves (they may start DMA; the functions that
    /// program DMA addresses carry their own safety contracts).
    pub const unsafe fn new(base: usize, len: usize) -> Self {
        Self { base, len }
    }

    /// The first address of the block.
    pub const fn base(&self) -> usize {
        self.base
    }

    /// The length of the block in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    fn addr(&self, offset: usize, width: usize) -> usize {
        let in_range = offset.checked_add(width).is_some_and(|end| end <= self.len);
        assert!(
            in_range && offset.is_multiple_of(width),
            "MMIO access at {offset:#x} (width {width}) outside {self:?} or misaligned"
        );
        self.base + offset
    }

    /// Reads the 32-bit register at `offset`.
    ///
    /// # Panics
    ///
    /// If the access is misaligned or outside the block (a programming error).
    pub fn read32(&self, offset: usize) -> u32 {
        let addr = self.addr(offset, 4);
        // SAFETY: `addr` is a 4-byte aligned address inside the block, which `new`'s
        // contract makes a valid device register range.
        let value = unsafe { core::ptr::read_volatile(addr as *const u32) };
        read_barrier();
        value
    }

    /// Writes the 32-bit register at `offset`.
    ///
    /// # Panics
    ///
    /// If the access is misaligned or outside the block (a programming error).
    pub fn write32(&self, offset: usize, value: u32) {
        let addr = self.addr(offset, 4);
        write_barrier();
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) };
    }

    /// Reads the 64-bit register at `offset` with one 64-bit access.
    ///
    /// # Panics
    ///
    /// If the access is misaligned or outside the block (a programming error).
    pub fn read64(&self, offset: usize) -> u64 {
        let addr = self.addr(offset, 8);
        // SAFETY: as in `read32`, 8-byte aligned.
        let value = unsafe { core::ptr::read_volatile(addr as *const u64) };
        read_barrier();
        value
    }

    /// Writes the 64-bit register at `offset` with one 64-bit access.
    ///
    /// # Panics
    ///
    /// If the access is misaligned or outside the block (a programming error).
    pub fn write64(&self, offset: usize, value: u64) {
        let addr = self.addr(offset, 8);
        write_barrier();
        // SAFETY: as in `read32`, 8-byte aligned.
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) };
    }
}

/// `DMB OSHLD`: orders the preceding device read before later memory reads.
fn read_barrier() {
    // SAFETY: a barrier instruction has no operands and no effect besides ordering.
    unsafe { core::arch::asm!("dmb oshld", options(nostack, preserves_flags)) };
}

/// `DMB OSHST`: orders earlier memory writes before the following device write.
fn write_barrier() {
    // SAFETY: a barrier instruction has no operands and no effect besides ordering.
    unsafe { core::arch::asm!("dmb oshst", options(nostack, preserves_flags)) };
}

/// `DSB SY`: waits until every earlier memory access has completed (used around DMA
/// whose completion is observed by polling).
pub fn dsb() {
    // SAFETY: a barrier instruction has no operands and no effect besides ordering.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}
