//! A driver for QEMU's `edu` PCI device (`hw/misc/edu.c`, `docs/specs/edu.rst`), the
//! device that performs DMA on command.
//!
//! Facts used (QEMU 7.2):
//!
//! * PCI ID 1234:11e8, one 1 MiB 32-bit memory BAR (BAR0).
//! * BAR0 + 0x00: identification, 0x010000ed (major 1, minor 0, 0xed).
//! * BAR0 + 0x04: liveness check: reads back the bitwise inverse of the last write.
//! * BAR0 + 0x80 / 0x88 / 0x90: DMA source, destination, count (8-byte accesses allowed).
//! * BAR0 + 0x98: DMA command: bit 0 start (cleared by the device when the transfer is
//!   done), bit 1 direction (**0 = from RAM to the device, 1 = from the device to RAM**),
//!   bit 2 raise an interrupt when done.
//! * The device's side of a transfer is its 4 KiB buffer at device address 0x40000.
//! * The transfer runs from a QEMU timer 100 ms (virtual clock) after the start bit is
//!   written; the registers are ignored while a transfer is pending.
//! * **The RAM-side address is masked with the device's `dma_mask` property, 28 bits
//!   (0x0fff_ffff) by default**: a bus address at or above 256 MiB is silently truncated
//!   (QEMU logs "clamping DMA" with `-d guest_errors`). RAM on `virt` starts at 1 GiB, so
//!   DMA with IOVA = PA needs `-device edu,dma_mask=0xffffffffff`; behind the SMMU the
//!   program uses IOVAs below 256 MiB and the default mask.
//! * A device-side range outside the buffer is a fatal `hw_error` in QEMU 7.2 (it aborts
//!   the emulator), and QEMU 7.2's range check is off by one: it also rejects a range
//!   that ends exactly at the buffer's end (0x41000), so a transfer can use at most the
//!   first 4095 bytes. [`Edu`] refuses such a transfer before starting it
//!   ([`USABLE_END`]).

use crate::mmio::{self, Mmio};
use crate::time::Deadline;

/// PCI vendor ID of the edu device.
pub const VENDOR: u16 = 0x1234;
/// PCI device ID of the edu device.
pub const DEVICE: u16 = 0x11e8;
/// Value of the identification register.
pub const ID_VALUE: u32 = 0x0100_00ed;
/// Device address of the DMA buffer.
pub const BUFFER_ADDR: u64 = 0x40000;
/// Size of the DMA buffer.
pub const BUFFER_SIZE: u64 = 4096;
/// One past the last buffer offset a transfer may touch on QEMU 7.2: its `edu_check_range`
/// requires the transfer's end address to lie strictly below the buffer's end.
pub const USABLE_END: u64 = BUFFER_SIZE - 1;
/// Size of BAR0.
pub const BAR_SIZE: usize = 1 << 20;
/// The default `dma_mask`: RAM-side DMA addresses are truncated to these bits.
pub const DEFAULT_DMA_MASK: u64 = (1 << 28) - 1;

const REG_ID: usize = 0x00;
const REG_LIVENESS: usize = 0x04;
const REG_DMA_SRC: usize = 0x80;
const REG_DMA_DST: usize = 0x88;
const REG_DMA_COUNT: usize = 0x90;
const REG_DMA_CMD: usize = 0x98;
const CMD_START: u64 = 1 << 0;
const CMD_TO_RAM: u64 = 1 << 1;

/// How long a transfer may take (QEMU starts it after 100 ms).
const DMA_TIMEOUT_MS: u64 = 5000;

/// Why a transfer was not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EduError {
    /// The device-buffer range is outside the 4 KiB buffer (QEMU would abort).
    BufferRange,
    /// A transfer is still pending from before.
    Busy,
    /// The device did not clear the start bit in time.
    Timeout,
}

/// The edu device at its BAR0.
#[derive(Debug, Clone, Copy)]
pub struct Edu {
    regs: Mmio,
}

impl Edu {
    /// The device whose BAR0 the CPU reaches at `bar0`.
    ///
    /// # Safety
    ///
    /// `bar0 .. bar0 + 1 MiB` is an edu device's BAR0, assigned and decoded (memory
    /// space enabled), mapped as Device memory.
    pub unsafe fn new(bar0: usize) -> Self {
        Self {
            // SAFETY: guaranteed by the caller.
            regs: unsafe { Mmio::new(bar0, BAR_SIZE) },
        }
    }

    /// The identification register.
    pub fn id(&self) -> u32 {
        self.regs.read32(REG_ID)
    }

    /// Writes `value` to the liveness register and reads it back (the inverse, if the
    /// device is alive).
    pub fn liveness(&self, value: u32) -> u32 {
        self.regs.write32(REG_LIVENESS, value);
        self.regs.read32(REG_LIVENESS)
    }

    /// Copies `len` bytes from bus address `src` (RAM side, an IOVA when the device is
    /// behind a translating SMMU) into the device buffer at `offset`.
    ///
    /// # Safety
    ///
    /// The device will read `src .. src + len` as translated by the IOMMU (or as physical
    /// memory): that range must not be memory whose reading has side effects. Reading is
    /// harmless for ordinary RAM, so this is `unsafe` only for symmetry with
    /// [`Edu::dma_to_ram`] and because the address is not checked.
    pub unsafe fn dma_from_ram(&self, src: u64, offset: u64, len: u64) -> Result<(), EduError> {
        let device = buffer_range(offset, len)?;
        self.run(src, device, len, 0)
    }

    /// Copies `len` bytes from the device buffer at `offset` to bus address `dst`.
    ///
    /// # Safety
    ///
    /// The device writes `dst .. dst + len` (after IOMMU translation, if any) behind the
    /// compiler's back: that memory must be owned by the caller, not referenced by any live
    /// Rust reference during the transfer, and be valid for any byte values.
    pub unsafe fn dma_to_ram(&self, offset: u64, dst: u64, len: u64) -> Result<(), EduError> {
        let device = buffer_range(offset, len)?;
        self.run(device, dst, len, CMD_TO_RAM)
    }

    fn run(&self, src: u64, dst: u64, len: u64, direction: u64) -> Result<(), EduError> {
        if self.regs.read64(REG_DMA_CMD) & CMD_START != 0 {
            return Err(EduError::Busy);
        }
        self.regs.write64(REG_DMA_SRC, src);
        self.regs.write64(REG_DMA_DST, dst);
        self.regs.write64(REG_DMA_COUNT, len);
        // Every earlier store to the buffer must be visible before the device starts.
        mmio::dsb();
        self.regs.write64(REG_DMA_CMD, CMD_START | direction);
        let deadline = Deadline::after_ms(DMA_TIMEOUT_MS);
        while self.regs.read64(REG_DMA_CMD) & CMD_START != 0 {
            if deadline.passed() {
                return Err(EduError::Timeout);
            }
            core::hint::spin_loop();
        }
        mmio::dsb();
        Ok(())
    }
}

/// The device address of `offset .. offset + len` inside the buffer.
fn buffer_range(offset: u64, len: u64) -> Result<u64, EduError> {
    let end = offset.checked_add(len).ok_or(EduError::BufferRange)?;
    if len == 0 || end > USABLE_END {
        return Err(EduError::BufferRange);
    }
    Ok(BUFFER_ADDR + offset)
}
