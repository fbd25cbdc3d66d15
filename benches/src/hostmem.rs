//! [`HostMem`]: the benches' [`TableMemory`], a real and sound implementation over one
//! host allocation with fake but consistent physical addresses.
//!
//! * **One arena.** At construction the whole arena is allocated (2 MiB aligned) and
//!   every page is touched, so no page fault lands inside a measured section later.
//! * **Physical addresses.** Arena byte `off` has physical address [`PA_BASE`]` + off`.
//!   `PA_BASE` is 2^38, so a PA is aligned to any power of two up to 2^38 exactly when
//!   its offset is: [`TableMemory::alloc_zeroed`] honours alignments up to 1 GiB.
//! * **Allocation.** First fit over a sorted, coalescing free list behind a mutex, as
//!   a kernel page allocator would do it off the hot path. Every allocation is zeroed
//!   with a `memset` at allocation time (a kernel's `kzalloc` / `dma_alloc_coherent`
//!   cost), never by relying on fresh zero pages from the host OS.
//! * **Mapping.** [`TableMemory::map`] accepts any 8-byte aligned range inside the
//!   arena (the "RAM" of this fake machine) and fails for everything else, as the
//!   contract asks; mappings may alias allocations (that is what adoption does).
//! * **Coherency.** The host CPU is the only observer: `clean` / `invalidate` do nothing.
//!
//! Table words are only ever accessed through raw pointers and 64-bit atomics; the
//! module never creates a Rust reference to arena memory other than transient
//! `&AtomicU64` for a single atomic access.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use smmu_regs::PhysAddr;
use smmu_strtab::{DmaRegion, MemoryError, TableMemory};

/// Physical address of arena byte 0 (2^38: aligned to every table alignment we use).
pub const PA_BASE: u64 = 1 << 38;
/// Largest alignment [`TableMemory::alloc_zeroed`] accepts.
pub const MAX_ALIGN: usize = 1 << 30;
/// Host alignment of the arena (a huge page, so offsets and host addresses agree on
/// cache-line and page alignment).
const HOST_ALIGN: usize = 2 << 20;
/// Page size used to pre-fault the arena.
const PAGE: usize = 4096;

/// Free ranges (offset, length) sorted by offset and coalesced, plus the live
/// allocations (offset, rounded length).
#[derive(Debug, Default)]
struct Heap {
    free: Vec<(usize, usize)>,
    live: Vec<(usize, usize)>,
}

impl Heap {
    /// First fit: the lowest offset aligned to `align` with `len` free bytes.
    fn alloc(&mut self, len: usize, align: usize) -> Option<usize> {
        let (i, start) = self.free.iter().enumerate().find_map(|(i, &(off, flen))| {
            let start = off.checked_next_multiple_of(align)?;
            let end = start.checked_add(len)?;
            (end <= off + flen).then_some((i, start))
        })?;
        let (off, flen) = self.free.remove(i);
        let end = start + len;
        let mut at = i;
        if start > off {
            self.free.insert(at, (off, start - off));
            at += 1;
        }
        if off + flen > end {
            self.free.insert(at, (end, off + flen - end));
        }
        self.live.push((start, len));
        Some(start)
    }

    /// Returns the live allocation at `off` to the free list; false if none.
    fn free(&mut self, off: usize) -> bool {
        let Some(pos) = self.live.iter().position(|&(o, _)| o == off) else {
            return false;
        };
        let (_, len) = self.live.swap_remove(pos);
        let at = self.free.partition_point(|&(o, _)| o < off);
        self.free.insert(at, (off, len));
        // Coalesce with the next range, then with the previous one.
        if let (Some(&(o, l)), Some(&(n, nl))) = (self.free.get(at), self.free.get(at + 1))
            && o + l == n
        {
            self.free[at] = (o, l + nl);
            self.free.remove(at + 1);
        }
        if at > 0
            && let (Some(&(p, pl)), Some(&(o, l))) = (self.free.get(at - 1), self.free.get(at))
            && p + pl == o
        {
            self.free[at - 1] = (p, pl + l);
            self.free.remove(at);
        }
        true
    }
}

/// A [`TableMemory`] over one pre-faulted host arena (see the module docs).
pub struct HostMem {
    base: NonNull<u64>,
    layout: Layout,
    heap: Mutex<Heap>,
}

impl std::fmt::Debug for HostMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostMem")
            .field("bytes", &self.layout.size())
            .field("pa_base", &format_args!("{PA_BASE:#x}"))
            .finish_non_exhaustive()
    }
}

impl HostMem {
    /// An arena of at least `bytes` bytes (rounded up to 2 MiB), zeroed and pre-faulted.
    ///
    /// # Panics
    ///
    /// If `bytes` is 0 or the host cannot allocate the arena.
    #[must_use]
    pub fn new(bytes: usize) -> Self {
        assert!(bytes > 0, "empty arena");
        let size = bytes.next_multiple_of(HOST_ALIGN);
        let layout = Layout::from_size_align(size, HOST_ALIGN).expect("arena layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(base) = NonNull::new(raw.cast::<u64>()) else {
            alloc::handle_alloc_error(layout)
        };
        for page in (0..size).step_by(PAGE) {
            // SAFETY: `page < size`, so the byte is inside the allocation; a volatile
            // write of the zero that is already there cannot be elided and makes the host
            // OS commit the page now rather than inside a measurement.
            unsafe { raw.add(page).write_volatile(0) };
        }
        Self {
            base,
            layout,
            heap: Mutex::new(Heap {
                free: vec![(0, size)],
                live: Vec::new(),
            }),
        }
    }

    /// Size of the arena in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.layout.size()
    }

    fn heap(&self) -> MutexGuard<'_, Heap> {
        self.heap.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The arena offset of `[pa, pa + len)` if it lies inside the arena and `pa` is
    /// 8-byte aligned.
    fn offset_of(&self, pa: u64, len: usize) -> Option<usize> {
        let off = usize::try_from(pa.checked_sub(PA_BASE)?).ok()?;
        let end = off.checked_add(len)?;
        (off.is_multiple_of(8) && end <= self.size()).then_some(off)
    }

    /// The host pointer of arena offset `off` (8-byte aligned, `off <= size`).
    fn ptr_at(&self, off: usize) -> NonNull<u64> {
        debug_assert!(off.is_multiple_of(8) && off <= self.size());
        // SAFETY: callers pass an 8-byte aligned offset no larger than the arena size,
        // so the word offset stays inside (or one past the end of) the allocation.
        unsafe { self.base.add(off / 8) }
    }

    /// Allocates `len` zeroed bytes at a physical address aligned to `align`; returns
    /// the arena offset.
    fn alloc_offset(&self, len: usize, align: usize) -> Result<usize, MemoryError> {
        if len == 0 || !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(MemoryError::Unsupported);
        }
        let rounded = len
            .checked_next_multiple_of(8)
            .ok_or(MemoryError::Unsupported)?;
        let off = self
            .heap()
            .alloc(rounded, align.max(8))
            .ok_or(MemoryError::NoMemory)?;
        // SAFETY: `[off, off + rounded)` lies inside the arena (the free list only holds
        // arena ranges) and was free until now, so no region points into it and nothing
        // else reads or writes it concurrently; arena memory is plain bytes.
        unsafe {
            self.ptr_at(off)
                .as_ptr()
                .cast::<u8>()
                .write_bytes(0, rounded)
        };
        Ok(off)
    }

    /// Reserves `len` zeroed bytes aligned to `align` outside the [`TableMemory`]
    /// interface, as memory that "a previous kernel" owns (for adoption); returns its
    /// physical address. Fill it with [`write_u64`](Self::write_u64).
    ///
    /// # Errors
    ///
    /// As for [`TableMemory::alloc_zeroed`].
    pub fn reserve(&self, len: usize, align: usize) -> Result<u64, MemoryError> {
        let off = self.alloc_offset(len, align)?;
        Ok(PA_BASE + off as u64)
    }

    /// The host pointer of the word at `pa`, if `[pa, pa + len)` is arena memory and
    /// `pa` is 8-byte aligned. Accesses through it must be 64-bit atomic operations;
    /// it stays valid as long as `self`.
    #[must_use]
    pub fn host_ptr(&self, pa: u64, len: usize) -> Option<NonNull<AtomicU64>> {
        let off = self.offset_of(pa, len.max(8))?;
        Some(self.ptr_at(off).cast())
    }

    /// Reads the word at `pa` (atomic, `Acquire`); `None` outside the arena.
    #[must_use]
    pub fn read_u64(&self, pa: u64) -> Option<u64> {
        let p = self.host_ptr(pa, 8)?;
        // SAFETY: in bounds and aligned (checked by `host_ptr`); arena words are only ever
        // accessed atomically or by the owner of a fresh allocation before handing it out.
        Some(unsafe { p.as_ref() }.load(Ordering::Acquire))
    }

    /// Writes the word at `pa` (atomic, `Release`); false outside the arena.
    pub fn write_u64(&self, pa: u64, value: u64) -> bool {
        let Some(p) = self.host_ptr(pa, 8) else {
            return false;
        };
        // SAFETY: as in `read_u64`.
        unsafe { p.as_ref() }.store(value, Ordering::Release);
        true
    }
}

impl Drop for HostMem {
    fn drop(&mut self) {
        // SAFETY: `base` was allocated in `new` with exactly `layout` and is freed once.
        // Every `DmaRegion` handed out borrows-or-owns `self` (tables hold `&HostMem` or
        // `HostMem`), so none outlives the arena.
        unsafe { alloc::dealloc(self.base.as_ptr().cast(), self.layout) };
    }
}

// SAFETY:
// * `alloc_zeroed` returns exactly `len` bytes at `PA_BASE + off`, with `off` (hence the
//   PA, since `PA_BASE` is 2^38-aligned and `align <= 2^30`) a multiple of `align`,
//   zero-filled (there is no non-coherent observer), taken from the free list so it
//   overlaps no other live allocation, valid until `free` (the arena lives as long as
//   `self`). It is ordinary heap memory (Normal, cacheable).
// * `map` returns exactly `len` bytes at the requested `pa`, inside the arena (our RAM);
//   any other range fails with `MapFailed`, never faults.
// * Every region's pointer lies in the live arena, is 8-byte aligned and valid for
//   `len` bytes of atomic access from any thread; the arena is never referenced by Rust
//   references other than transient `&AtomicU64`.
// * `clean` / `invalidate` may do nothing: the only observer is the coherent host CPU.
unsafe impl TableMemory for HostMem {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        let off = self.alloc_offset(len, align)?;
        let pa = PhysAddr(PA_BASE + off as u64);
        // SAFETY: see the impl-level comment: `[off, off + len)` is a fresh, exclusive,
        // 8-byte aligned arena range that stays valid until `free`.
        Ok(unsafe { DmaRegion::new(pa, self.ptr_at(off), len) })
    }

    unsafe fn free(&self, region: DmaRegion) {
        let freed = self
            .offset_of(region.pa().0, region.len())
            .is_some_and(|off| self.heap().free(off));
        debug_assert!(freed, "free of a region this memory did not allocate");
    }

    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        if len == 0 {
            return Err(MemoryError::MapFailed);
        }
        let off = self.offset_of(pa.0, len).ok_or(MemoryError::MapFailed)?;
        // SAFETY: `[off, off + len)` is inside the arena and 8-byte aligned; the arena
        // outlives the mapping; aliasing other regions is what `map` is for.
        Ok(unsafe { DmaRegion::new(pa, self.ptr_at(off), len) })
    }

    unsafe fn unmap(&self, _region: DmaRegion) {}

    fn clean(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}

    fn invalidate(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_is_aligned_zeroed_and_reused() {
        let mem = HostMem::new(8 << 20);
        let a = mem.alloc_zeroed(100, 4096).unwrap();
        assert_eq!(a.len(), 100);
        assert!(a.pa().is_aligned(4096));
        let b = mem.alloc_zeroed(1 << 20, 1 << 20).unwrap();
        assert!(b.pa().is_aligned(1 << 20));
        assert!(mem.write_u64(b.pa().0 + 8, 0xdead));
        let (bpa, blen) = (b.pa(), b.len());
        // SAFETY: allocated above, freed once.
        unsafe { mem.free(b) };
        let c = mem.alloc_zeroed(blen, 1 << 20).unwrap();
        assert_eq!(c.pa(), bpa, "first fit reuses the freed range");
        assert_eq!(mem.read_u64(c.pa().0 + 8), Some(0), "re-zeroed");
        // SAFETY: allocated above, freed once each.
        unsafe {
            mem.free(a);
            mem.free(c);
        }
        let heap = mem.heap();
        assert_eq!(heap.free, vec![(0, mem.size())], "fully coalesced");
        assert!(heap.live.is_empty());
    }

    #[test]
    fn map_only_inside_the_arena() {
        let mem = HostMem::new(1 << 20);
        assert!(mem.map(PhysAddr(PA_BASE), 4096).is_ok());
        assert!(mem.map(PhysAddr(PA_BASE + 4), 8).is_err(), "misaligned");
        assert!(mem.map(PhysAddr(PA_BASE - 8), 16).is_err());
        assert!(mem.map(PhysAddr(PA_BASE + (2 << 20) - 8), 16).is_err());
        assert!(mem.alloc_zeroed(8, 3).is_err());
        assert!(mem.alloc_zeroed(4 << 20, 8).is_err(), "too large");
    }
}
