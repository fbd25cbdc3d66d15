//! An identity map for EL1 and the switch that turns the MMU and caches on.
//!
//! With the MMU off every data access is Device-nGnRnE: no unaligned accesses, and
//! exclusive/atomic accesses are not architecturally guaranteed, while the driver's
//! tables are written with 64-bit atomics (design.md §3.2). So the program maps RAM as
//! Normal write-back memory and the device ranges as Device-nGnRnE, one level-1 table of
//! 1 GiB blocks (4 KiB granule, T0SZ = 25: a 39-bit VA space starting at level 1), VA =
//! PA. Only the blocks the caller names are mapped; everything else faults.
//!
//! QEMU's TCG models neither caches nor their maintenance, so the D-cache is not cleaned
//! or invalidated by set/way before enabling it, as real hardware would need.

use core::sync::atomic::{AtomicU64, Ordering};

/// Size of one level-1 block.
pub const BLOCK: u64 = 1 << 30;
/// Size of the VA (= PA) space the map covers: 2^39.
pub const VA_LIMIT: u64 = 1 << 39;

const ENTRIES: usize = 512;
/// MAIR_EL1: attribute 0 = Device-nGnRnE, attribute 1 = Normal, inner/outer write-back
/// non-transient, read- and write-allocate.
const MAIR: u64 = 0xff << 8;
const ATTR_DEVICE: u64 = 0 << 2;
const ATTR_NORMAL: u64 = 1 << 2;
const DESC_BLOCK: u64 = 0b01;
const DESC_AF: u64 = 1 << 10;
const DESC_SH_INNER: u64 = 3 << 8;
const DESC_PXN: u64 = 1 << 53;
const DESC_UXN: u64 = 1 << 54;

/// TCR_EL1: T0SZ = 25, IRGN0 = ORGN0 = write-back write-allocate, SH0 = inner
/// shareable, TG0 = 4 KiB, EPD1 = 1 (no TTBR1 walks). IPS is filled in from
/// ID_AA64MMFR0_EL1.PARange.
const TCR: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23);
const TCR_IPS_SHIFT: u32 = 32;

const SCTLR_M: u64 = 1 << 0;
const SCTLR_A: u64 = 1 << 1;
const SCTLR_C: u64 = 1 << 2;
const SCTLR_I: u64 = 1 << 12;
const SCTLR_WXN: u64 = 1 << 19;

#[repr(C, align(4096))]
struct Table([AtomicU64; ENTRIES]);

/// The level-1 table (in `.bss`, so it starts out all-invalid).
static L1: Table = Table([const { AtomicU64::new(0) }; ENTRIES]);

/// Memory type of a mapped block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Normal write-back memory, executable (RAM).
    Normal,
    /// Device-nGnRnE, never executable (MMIO).
    Device,
}

/// Why a range could not be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The range reaches beyond the 39-bit address space of the map.
    OutOfRange,
    /// A block of the range is already mapped with another memory type.
    Conflict,
}

/// Maps every 1 GiB block that overlaps `base .. base + size` as `kind`. Blocks already
/// mapped with the same kind are left as they are.
pub fn map(base: u64, size: u64, kind: Kind) -> Result<(), MapError> {
    if size == 0 {
        return Ok(());
    }
    let end = base.checked_add(size).ok_or(MapError::OutOfRange)?;
    if end > VA_LIMIT {
        return Err(MapError::OutOfRange);
    }
    let attrs = match kind {
        Kind::Normal => ATTR_NORMAL | DESC_SH_INNER,
        Kind::Device => ATTR_DEVICE | DESC_PXN | DESC_UXN,
    };
    for block in (base / BLOCK)..end.div_ceil(BLOCK) {
        let desc = (block * BLOCK) | attrs | DESC_AF | DESC_BLOCK;
        let slot = usize::try_from(block)
            .ok()
            .and_then(|i| L1.0.get(i))
            .ok_or(MapError::OutOfRange)?;
        match slot.load(Ordering::Relaxed) {
            0 => slot.store(desc, Ordering::Relaxed),
            old if old == desc => {}
            _ => return Err(MapError::Conflict),
        }
    }
    Ok(())
}

/// Turns on the MMU, the data and the instruction cache with the map built by [`map`].
///
/// # Safety
///
/// Called once, at EL1 with the MMU off, after [`map`] covered (as Normal) the whole
/// image with its stack and (as Device) every MMIO range the program will touch: code,
/// stack and data keep their addresses (identity map), so execution continues seamlessly.
pub unsafe fn enable() {
    let pa_range: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64mmfr0_el1", out(reg) pa_range, options(nomem, nostack))
    };
    let tcr = TCR | ((pa_range & 0xf).min(6) << TCR_IPS_SHIFT);
    let ttbr = L1.0.as_ptr() as u64;
    // SAFETY: the caller guarantees EL1 with the MMU off and an identity map covering
    // everything in use. The sequence programs the attributes, the translation control
    // and the table base, invalidates stale TLB entries, then sets SCTLR_EL1.{M,C,I}
    // (clearing A and WXN) with the required barriers. The asm is a full compiler
    // barrier (no `nomem`), so the table stores above are emitted before it.
    unsafe {
        core::arch::asm!(
            "dsb ish",
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {ttbr}",
            "isb",
            "tlbi vmalle1",
            "ic iallu",
            "dsb ish",
            "isb",
            "mrs {tmp}, sctlr_el1",
            "orr {tmp}, {tmp}, {set}",
            "bic {tmp}, {tmp}, {clear}",
            "msr sctlr_el1, {tmp}",
            "isb",
            mair = in(reg) MAIR,
            tcr = in(reg) tcr,
            ttbr = in(reg) ttbr,
            set = in(reg) SCTLR_M | SCTLR_C | SCTLR_I,
            clear = in(reg) SCTLR_A | SCTLR_WXN,
            tmp = out(reg) _,
            options(nostack),
        );
    }
}

/// Whether SCTLR_EL1.M (stage 1 translation) is set.
pub fn enabled() -> bool {
    let sctlr: u64;
    // SAFETY: reading a system register has no side effects.
    unsafe { core::arch::asm!("mrs {}, sctlr_el1", out(reg) sctlr, options(nomem, nostack)) };
    sctlr & SCTLR_M != 0
}
