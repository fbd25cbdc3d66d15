//! The only place in the crate that dereferences table memory.
//!
//! * Table words (STEs, CDs, L1 descriptors) are accessed with aligned 64-bit atomic loads
//!   (`Acquire`) and stores (`Release`), one word at a time, so the SMMU (or a model walker
//!   on another thread) never sees a torn word and never sees a whole entry copied with
//!   `memcpy`.
//! * The CPU-only slot records of a 2-level table (which L2 region backs which L1 index)
//!   are read and written as plain values; they are never visible to the SMMU.
//!
//! Every index is bounds-checked against the region length: an out-of-range index is an
//! [`AccessError`], never undefined behaviour and never a panic.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::error::AccessError;
use crate::memory::DmaRegion;

/// Checks that `count` items of `size` bytes starting at item `index` fit in `region`,
/// and returns the byte offset of item `index`.
///
/// `size` is a non-zero constant at every call site, so after inlining the check is a
/// shift and two comparisons: with `cap = len / size` (rounded down), the items fit exactly
/// when `index <= cap` and `count <= cap - index`, and nothing can overflow.
#[inline]
fn checked_offset(
    region: &DmaRegion,
    index: usize,
    size: usize,
    count: usize,
) -> Result<usize, AccessError> {
    let cap = region.len().checked_div(size).unwrap_or(0);
    if index <= cap && count <= cap - index {
        // No overflow: `index * size <= cap * size <= len`.
        Ok(index * size)
    } else {
        Err(AccessError {
            index,
            len: region.len(),
        })
    }
}

/// Pointer to 64-bit word `word` of `region`, bounds-checked.
#[inline]
fn word_ptr(region: &DmaRegion, word: usize) -> Result<*mut u64, AccessError> {
    checked_offset(region, word, 8, 1)?;
    // SAFETY: `word * 8 + 8 <= region.len()` was checked above and the region's pointer is
    // valid for `len` bytes (`DmaRegion::new` contract), so the offset stays inside the
    // same allocation and cannot overflow `isize`.
    Ok(unsafe { region.ptr().as_ptr().add(word) })
}

/// Loads 64-bit word `word` of `region` with one atomic load.
#[inline]
pub(crate) fn load(region: &DmaRegion, word: usize) -> Result<u64, AccessError> {
    let ptr = word_ptr(region, word)?;
    // SAFETY: `ptr` is in bounds (checked), 8-byte aligned (region pointers are
    // `NonNull<u64>` and the offset is a whole number of words), valid for atomic access
    // from any thread for the region's lifetime, which outlives this call because we hold
    // `&DmaRegion`; all other accesses to table words are atomic or come from agents outside
    // the Rust abstract machine (the SMMU).
    let atomic = unsafe { AtomicU64::from_ptr(ptr) };
    Ok(atomic.load(Ordering::Acquire))
}

/// Stores 64-bit word `word` of `region` with one atomic store.
#[inline]
pub(crate) fn store(region: &DmaRegion, word: usize, value: u64) -> Result<(), AccessError> {
    let ptr = word_ptr(region, word)?;
    // SAFETY: as in `load`: in bounds, aligned, valid for atomic access while `region` is
    // borrowed; concurrent readers only use atomic loads.
    let atomic = unsafe { AtomicU64::from_ptr(ptr) };
    atomic.store(value, Ordering::Release);
    Ok(())
}

/// Loads the 8 words of the 64-byte entry `entry` (STE or CD) of `region`: one bounds
/// check for the whole entry, then 8 atomic loads from one pointer.
#[inline]
pub(crate) fn load_entry(region: &DmaRegion, entry: usize) -> Result<[u64; 8], AccessError> {
    let offset = checked_offset(region, entry, 64, 1)?;
    // SAFETY: `offset + 64 <= region.len()` was checked above and the region's pointer is
    // valid for `len` bytes, so the offset stays inside the allocation.
    let first = unsafe { region.ptr().as_ptr().byte_add(offset) };
    Ok(core::array::from_fn(|i| {
        // SAFETY: `i < 8`, so word `i` of the entry is inside the checked 64 bytes; it is
        // 8-byte aligned (8-aligned region pointer, offset a multiple of 64) and valid for
        // atomic access while `region` is borrowed (see `load`).
        let atomic = unsafe { AtomicU64::from_ptr(first.add(i)) };
        atomic.load(Ordering::Acquire)
    }))
}

/// Folds `f` over words `first .. first + count` of `region`, read in order with
/// `Relaxed` atomic loads after one bounds check for the whole run. For bulk scans that
/// order themselves with one [`fence`](core::sync::atomic::fence) afterwards.
#[inline]
pub(crate) fn fold_words_relaxed<A>(
    region: &DmaRegion,
    first: usize,
    count: usize,
    init: A,
    mut f: impl FnMut(A, u64) -> A,
) -> Result<A, AccessError> {
    let offset = checked_offset(region, first, 8, count)?;
    // SAFETY: `offset + count * 8 <= region.len()` was checked above, so the offset stays
    // inside the region's allocation.
    let base = unsafe { region.ptr().as_ptr().byte_add(offset) };
    let mut acc = init;
    for i in 0..count {
        // SAFETY: `i < count`, so word `i` of the run is inside the checked range; aligned
        // and valid for atomic access while `region` is borrowed (see `load`).
        let atomic = unsafe { AtomicU64::from_ptr(base.add(i)) };
        acc = f(acc, atomic.load(Ordering::Relaxed));
    }
    Ok(acc)
}

/// The CPU-only bookkeeping for one L1 index of a 2-level table: the CPU pointer of the
/// L2 table that backs it (`None` while the index has no L2; bit 0 set when the L2 is
/// smaller than a full one, see `slots`) and `meta`, which packs the L2's physical address
/// (64-byte aligned, bits \[63:6\]), whether it was mapped rather than allocated (bit 5)
/// and its Span (bits \[4:0\]). The directory of a chunked table uses the same record for
/// each chunk: its CPU pointer and its physical address in `meta`.
///
/// `repr(C)` with an `Option<NonNull<_>>` first: all-zero bytes (freshly zeroed memory)
/// are a valid record meaning "empty" (the null niche of `Option<NonNull<_>>` is
/// guaranteed).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotRecord {
    pub(crate) ptr: Option<NonNull<u64>>,
    pub(crate) meta: u64,
}

/// Size of one slot record in bytes.
pub(crate) const SLOT_RECORD_SIZE: usize = core::mem::size_of::<SlotRecord>();
/// Alignment needed by slot records (at most 8, which every region provides).
pub(crate) const SLOT_RECORD_ALIGN: usize = core::mem::align_of::<SlotRecord>();
const _: () = assert!(SLOT_RECORD_ALIGN <= 8 && SLOT_RECORD_SIZE.is_multiple_of(SLOT_RECORD_ALIGN));

/// Pointer to slot record `index` of `slots`, bounds-checked.
#[inline]
fn slot_ptr(slots: &DmaRegion, index: usize) -> Result<*mut SlotRecord, AccessError> {
    let offset = checked_offset(slots, index, SLOT_RECORD_SIZE, 1)?;
    // SAFETY: `offset + SLOT_RECORD_SIZE <= len` was checked, so the byte offset stays in
    // the region's allocation.
    let byte_ptr = unsafe { slots.ptr().as_ptr().cast::<u8>().add(offset) };
    Ok(byte_ptr.cast::<SlotRecord>())
}

/// Reads slot record `index`.
#[inline]
pub(crate) fn slot_read(slots: &DmaRegion, index: usize) -> Result<SlotRecord, AccessError> {
    let ptr = slot_ptr(slots, index)?;
    // SAFETY: in bounds (checked); aligned because the region is 8-byte aligned and the
    // offset is a multiple of `SLOT_RECORD_SIZE`, itself a multiple of the record's
    // alignment (≤ 8); the bytes are either zero (a valid empty record) or a record written
    // by `slot_write`. The slot region is CPU-only and is written only through
    // `&mut StreamTable`, so no write can race this read.
    Ok(unsafe { ptr.read() })
}

/// Writes slot record `index`.
///
/// Callers hold `&mut` to the owning table, so no read of the slot region runs
/// concurrently.
#[inline]
pub(crate) fn slot_write(
    slots: &DmaRegion,
    index: usize,
    record: SlotRecord,
) -> Result<(), AccessError> {
    let ptr = slot_ptr(slots, index)?;
    // SAFETY: in bounds and aligned (see `slot_read`); the region is exclusively owned by
    // the table (CPU-only, never given to the SMMU) and the caller holds `&mut` to it.
    unsafe { ptr.write(record) };
    Ok(())
}

/// Rebuilds the region descriptor of an L2 table from its slot record.
///
/// # Safety
///
/// `ptr`, `pa` and `len` are those of a region that the calling table owns (recorded by
/// `slot_write` when the region was obtained), and the returned descriptor is used only
/// while the table owns the region (and passed to `free`/`unmap` at most once overall).
#[inline]
pub(crate) unsafe fn region_from_parts(
    pa: smmu_regs::PhysAddr,
    ptr: NonNull<u64>,
    len: usize,
) -> DmaRegion {
    // SAFETY: forwarded from the caller: these are the parts of a live owned region.
    unsafe { DmaRegion::new(pa, ptr, len) }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use smmu_regs::PhysAddr;

    fn region(buf: &mut [AtomicU64], len_bytes: usize) -> DmaRegion {
        let ptr = NonNull::new(buf.as_mut_ptr().cast::<u64>()).unwrap();
        assert!(len_bytes <= buf.len() * 8);
        // SAFETY: `buf` outlives every use of the region in these tests and is only accessed
        // through it.
        unsafe { DmaRegion::new(PhysAddr(0x1000), ptr, len_bytes) }
    }

    #[test]
    fn words_are_bounds_checked() {
        let mut buf: Vec<AtomicU64> = (0..16).map(|_| AtomicU64::new(0)).collect();
        let r = region(&mut buf, 64);
        store(&r, 7, 0xabcd).unwrap();
        assert_eq!(load(&r, 7).unwrap(), 0xabcd);
        assert_eq!(load(&r, 8), Err(AccessError { index: 8, len: 64 }));
        assert!(store(&r, 8, 1).is_err());
        assert!(load(&r, usize::MAX).is_err());
        assert!(load_entry(&r, 1).is_err());
        assert_eq!(load_entry(&r, 0).unwrap()[7], 0xabcd);
        // The word past the region is untouched.
        assert_eq!(buf[8].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn slot_records_round_trip_and_are_bounds_checked() {
        let mut buf: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(0)).collect();
        let r = region(&mut buf, 2 * SLOT_RECORD_SIZE);
        assert_eq!(slot_read(&r, 1).unwrap(), SlotRecord { ptr: None, meta: 0 });
        let mut target = 5u64;
        let rec = SlotRecord {
            ptr: Some(NonNull::from(&mut target)),
            meta: 0x4009,
        };
        slot_write(&r, 1, rec).unwrap();
        let back = slot_read(&r, 1).unwrap();
        assert_eq!(back, rec);
        // The pointer keeps its provenance through the slot memory.
        // SAFETY: `target` is alive and not otherwise borrowed.
        assert_eq!(unsafe { back.ptr.unwrap().as_ptr().read() }, 5);
        assert!(slot_read(&r, 2).is_err());
        assert!(slot_write(&r, 2, rec).is_err());
    }
}
