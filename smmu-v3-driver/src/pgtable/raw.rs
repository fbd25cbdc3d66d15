//! The only code of the page-table and CD-table modules that dereferences table memory.
//!
//! * Table words (page-table descriptors, L1CDs) are accessed with aligned 64-bit atomic
//!   loads (`Acquire`) and stores (`Release`), one word at a time, so the SMMU (or a model
//!   walker on another thread) never sees a torn word and never sees a `memcpy`.
//! * CPU-only bookkeeping words (the child pointers of a page table, the links of a list of
//!   unpublished or detached tables) are accessed as [`AtomicPtr`], which keeps pointer
//!   provenance (Miri `-Zmiri-strict-provenance` clean) and never races.
//!
//! Every access is bounds-checked against the region length: an out-of-range index is an
//! [`AccessError`], never undefined behaviour and never a panic.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use smmu_regs::PhysAddr;
use smmu_strtab::{AccessError, DmaRegion, TableMemory};

/// Size of a CPU pointer stored in a bookkeeping word.
pub(crate) const PTR_BYTES: usize = core::mem::size_of::<*mut u64>();
const _: () = assert!(PTR_BYTES <= 8 && core::mem::align_of::<AtomicPtr<u64>>() <= 8);

/// Checks that `size` bytes at byte `offset` fit in a region of `len` bytes and that the
/// offset is a multiple of `size` (so the access is naturally aligned: region pointers are
/// 8-byte aligned).
fn check(offset: usize, size: usize, len: usize) -> Result<(), AccessError> {
    let err = AccessError {
        index: offset / size.max(1),
        len,
    };
    let end = offset.checked_add(size).ok_or(err)?;
    if end > len || !offset.is_multiple_of(size) {
        return Err(err);
    }
    Ok(())
}

/// Pointer to byte `offset` of the `len`-byte memory at `base`, after [`check`].
fn byte_ptr(
    base: NonNull<u64>,
    len: usize,
    offset: usize,
    size: usize,
) -> Result<*mut u8, AccessError> {
    check(offset, size, len)?;
    // SAFETY: `offset + size <= len` was checked, and `base` is valid for `len` bytes
    // (`DmaRegion::new` contract, or the `RawRegion` invariant), so the offset stays inside
    // the same allocation and cannot overflow `isize` (`len <= isize::MAX`).
    Ok(unsafe { base.as_ptr().cast::<u8>().add(offset) })
}

fn load_at(base: NonNull<u64>, len: usize, word: usize) -> Result<u64, AccessError> {
    let offset = word
        .checked_mul(8)
        .ok_or(AccessError { index: word, len })?;
    let ptr = byte_ptr(base, len, offset, 8)?.cast::<u64>();
    // SAFETY: in bounds (checked), 8-byte aligned (region pointers are `NonNull<u64>`, the
    // offset is a multiple of 8), valid for atomic access from any thread while the region
    // is live (the caller holds it); every other access to table words is atomic or comes
    // from an agent outside the Rust abstract machine (the SMMU).
    let atomic = unsafe { AtomicU64::from_ptr(ptr) };
    Ok(atomic.load(Ordering::Acquire))
}

fn store_at(base: NonNull<u64>, len: usize, word: usize, value: u64) -> Result<(), AccessError> {
    let offset = word
        .checked_mul(8)
        .ok_or(AccessError { index: word, len })?;
    let ptr = byte_ptr(base, len, offset, 8)?.cast::<u64>();
    // SAFETY: as in `load_at`: in bounds, aligned, valid while the region is live; readers
    // only use atomic loads.
    let atomic = unsafe { AtomicU64::from_ptr(ptr) };
    atomic.store(value, Ordering::Release);
    Ok(())
}

/// Loads 64-bit word `word` of `region` with one atomic load.
pub(crate) fn load(region: &DmaRegion, word: usize) -> Result<u64, AccessError> {
    load_at(region.ptr(), region.len(), word)
}

/// Stores 64-bit word `word` of `region` with one atomic store.
pub(crate) fn store(region: &DmaRegion, word: usize, value: u64) -> Result<(), AccessError> {
    store_at(region.ptr(), region.len(), word, value)
}

/// A table region owned by a page table, kept as raw parts so that it can be found again
/// from the CPU-side child pointer of its parent.
///
/// **Invariant** (upheld by the owning module, which is why every method can be safe): a
/// `RawRegion` is made only from a [`DmaRegion`] that the owning table received from
/// [`TableMemory::alloc_zeroed`] and has not yet passed back to [`TableMemory::free`];
/// copies are used only while the owner holds the region, and the region is freed once,
/// through [`RawRegion::into_region`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawRegion {
    ptr: NonNull<u64>,
    pa: u64,
    len: usize,
}

impl RawRegion {
    /// Takes over `region` (its ownership moves to the table that keeps this value).
    pub(crate) fn from_region(region: DmaRegion) -> Self {
        Self {
            ptr: region.ptr(),
            pa: region.pa().0,
            len: region.len(),
        }
    }

    /// Rebuilds the region of a table from its parts (CPU pointer from the parent's
    /// bookkeeping, physical address from the parent's descriptor, length from its level).
    ///
    /// # Safety
    ///
    /// The parts are those of a live region owned by the calling table (see the type
    /// invariant).
    pub(crate) unsafe fn from_parts(ptr: NonNull<u64>, pa: u64, len: usize) -> Self {
        Self { ptr, pa, len }
    }

    /// The region descriptor, to hand back to [`TableMemory::free`].
    ///
    /// # Safety
    ///
    /// `self` satisfies the type invariant, and the returned region is freed at most once;
    /// no copy of `self` is used after it is freed.
    pub(crate) unsafe fn into_region(self) -> DmaRegion {
        // SAFETY: forwarded from the caller: these are the parts of a live region that
        // `TableMemory` returned, which satisfied the `DmaRegion::new` contract.
        unsafe { DmaRegion::new(PhysAddr(self.pa), self.ptr, self.len) }
    }

    /// Physical address of the first byte.
    pub(crate) fn pa(self) -> u64 {
        self.pa
    }

    /// CPU pointer of the first byte.
    pub(crate) fn ptr(self) -> NonNull<u64> {
        self.ptr
    }

    /// Length in bytes.
    pub(crate) fn len(self) -> usize {
        self.len
    }

    /// Loads word `word` (one atomic 64-bit load).
    pub(crate) fn load(self, word: usize) -> Result<u64, AccessError> {
        load_at(self.ptr, self.len, word)
    }

    /// Stores word `word` (one atomic 64-bit store).
    pub(crate) fn store(self, word: usize, value: u64) -> Result<(), AccessError> {
        store_at(self.ptr, self.len, word, value)
    }

    /// Loads the CPU pointer kept at byte `offset` (a multiple of [`PTR_BYTES`]).
    pub(crate) fn load_ptr(self, offset: usize) -> Result<Option<NonNull<u64>>, AccessError> {
        let ptr = byte_ptr(self.ptr, self.len, offset, PTR_BYTES)?.cast::<*mut u64>();
        // SAFETY: in bounds and aligned to `PTR_BYTES` (checked; the base is 8-byte aligned
        // and `AtomicPtr` needs at most 8), valid while the region is live; the word is only
        // ever accessed through `AtomicPtr` (or is zero from `alloc_zeroed`, a null pointer).
        let atomic = unsafe { AtomicPtr::from_ptr(ptr) };
        Ok(NonNull::new(atomic.load(Ordering::Acquire)))
    }

    /// Stores a CPU pointer at byte `offset` (a multiple of [`PTR_BYTES`]).
    pub(crate) fn store_ptr(
        self,
        offset: usize,
        value: Option<NonNull<u64>>,
    ) -> Result<(), AccessError> {
        let ptr = byte_ptr(self.ptr, self.len, offset, PTR_BYTES)?.cast::<*mut u64>();
        // SAFETY: as in `load_ptr`.
        let atomic = unsafe { AtomicPtr::from_ptr(ptr) };
        atomic.store(
            value.map_or(core::ptr::null_mut(), NonNull::as_ptr),
            Ordering::Release,
        );
        Ok(())
    }

    /// Cleans `offset .. offset + len` of the region (clamped to the region) to the point of
    /// coherency.
    pub(crate) fn clean<M: TableMemory + ?Sized>(self, mem: &M, offset: usize, len: usize) {
        if offset >= self.len {
            return;
        }
        let len = len.min(self.len - offset);
        // SAFETY: the parts are those of a live region (type invariant); the alias is only
        // borrowed by `clean` for the duration of the call and never freed.
        let alias = unsafe { DmaRegion::new(PhysAddr(self.pa), self.ptr, self.len) };
        mem.clean(&alias, offset, len);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    fn region(buf: &[AtomicU64], len: usize) -> DmaRegion {
        assert!(len <= buf.len() * 8);
        let ptr = NonNull::new(buf.as_ptr().cast::<u64>().cast_mut()).unwrap();
        // SAFETY: `buf` outlives every use of the region in these tests and is only accessed
        // atomically.
        unsafe { DmaRegion::new(PhysAddr(0x1000), ptr, len) }
    }

    #[test]
    fn words_and_pointers_are_bounds_checked() {
        let buf: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(0)).collect();
        let r = region(&buf, 32);
        store(&r, 3, 0xabcd).unwrap();
        assert_eq!(load(&r, 3).unwrap(), 0xabcd);
        assert_eq!(load(&r, 4), Err(AccessError { index: 4, len: 32 }));
        assert!(store(&r, 4, 1).is_err());
        assert!(load(&r, usize::MAX).is_err());
        assert_eq!(buf[4].load(Ordering::Relaxed), 0);

        let raw = RawRegion::from_region(r);
        let mut target = 7u64;
        let p = NonNull::from(&mut target);
        raw.store_ptr(PTR_BYTES, Some(p)).unwrap();
        let back = raw.load_ptr(PTR_BYTES).unwrap().unwrap();
        // SAFETY: `target` is alive and not otherwise borrowed; provenance survived.
        assert_eq!(unsafe { back.as_ptr().read() }, 7);
        assert!(raw.load_ptr(32).is_err());
        assert!(raw.load_ptr(1).is_err());
        assert_eq!(raw.load_ptr(0).unwrap(), None);
        raw.store_ptr(PTR_BYTES, None).unwrap();
        assert_eq!(raw.load(1).unwrap(), 0);
    }
}
