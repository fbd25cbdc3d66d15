//! The memory seam: how this crate obtains, maps, releases and maintains the memory that
//! holds stream tables (design.md §3.1–§3.2).
//!
//! The crate never dereferences a physical address. Every table lives in a [`DmaRegion`]
//! handed out by a [`TableMemory`] implementation, which the OS (or the host model)
//! provides.

use core::ptr::NonNull;

use smmu_regs::PhysAddr;

/// Errors a [`TableMemory`] implementation reports (and one the crate reports when an
/// implementation breaks its contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MemoryError {
    /// No memory of the requested size and alignment is available.
    #[error("out of DMA memory")]
    NoMemory,
    /// The physical range cannot be mapped (not RAM, not permitted, or no address space).
    #[error("the physical range cannot be mapped")]
    MapFailed,
    /// The size or alignment is not supported (for example larger than the address
    /// space, or an alignment that is not a power of two).
    #[error("unsupported size or alignment")]
    Unsupported,
    /// The implementation returned a region that does not satisfy the request (wrong
    /// length, misaligned physical address). The crate released the region again.
    #[error("the memory implementation returned a region that does not match the request")]
    BadRegion,
}

/// Whether the SMMU's table walks are coherent with the CPU caches (IDR0.COHACC, as
/// overridden by firmware).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Coherency {
    /// Table walks snoop the CPU caches: no cache maintenance is needed.
    #[default]
    Coherent,
    /// Table walks do not snoop: the crate calls [`TableMemory::clean`] after every
    /// publish step (before the sync hook runs) and [`TableMemory::invalidate`] before it
    /// reads memory that a previous owner wrote (adopted tables).
    NonCoherent,
}

/// A physically contiguous range of memory that holds (part of) a table, as seen from
/// the CPU (`ptr`) and from the SMMU (`pa`).
///
/// A region is created only by a [`TableMemory`] implementation (through the `unsafe`
/// [`DmaRegion::new`]) and is handed back to the same implementation exactly once, through
/// [`TableMemory::free`] or [`TableMemory::unmap`]. It is deliberately neither `Copy` nor
/// `Clone`: owning a `DmaRegion` means owning the memory.
#[derive(Debug, PartialEq, Eq)]
pub struct DmaRegion {
    pa: PhysAddr,
    ptr: NonNull<u64>,
    len: usize,
}

// SAFETY: a region is plain memory that this crate accesses only through 64-bit atomic
// operations (table words) or while holding `&mut` to the owning table (slot records); the
// `TableMemory` contract makes the mapping valid from any CPU, so moving or sharing the
// descriptor between threads is sound.
unsafe impl Send for DmaRegion {}
// SAFETY: see the `Send` impl; shared access only performs atomic loads and stores.
unsafe impl Sync for DmaRegion {}

impl DmaRegion {
    /// Describes a region of `len` bytes at physical address `pa`, mapped for the CPU at
    /// `ptr`.
    ///
    /// # Safety
    ///
    /// Until the region is passed back to [`TableMemory::free`] or
    /// [`TableMemory::unmap`]:
    /// * `ptr` is valid for reads and writes of `len` bytes, including 64-bit atomic
    ///   accesses, from any thread; it is 8-byte aligned (guaranteed by `NonNull<u64>` being
    ///   well aligned) and `len` is at most `isize::MAX`;
    /// * the CPU bytes at `ptr` are the bytes the SMMU reads at `pa .. pa + len`
    ///   (after [`TableMemory::clean`] on a non-coherent SMMU);
    /// * nothing else creates Rust references to this memory; other agents (the SMMU, a
    ///   model walker thread) access it only by 64-bit aligned reads or atomic accesses.
    #[must_use]
    pub const unsafe fn new(pa: PhysAddr, ptr: NonNull<u64>, len: usize) -> Self {
        Self { pa, ptr, len }
    }

    /// The physical address of the first byte, as the SMMU sees it.
    #[must_use]
    pub const fn pa(&self) -> PhysAddr {
        self.pa
    }

    /// The CPU pointer to the first byte (as 64-bit words).
    #[must_use]
    pub const fn ptr(&self) -> NonNull<u64> {
        self.ptr
    }

    /// The length in bytes.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A second descriptor of the same memory, used internally to hand a region to the
    /// cache-maintenance hooks or to an [`EntrySlot`](crate::EntrySlot).
    ///
    /// # Safety
    ///
    /// The alias must not outlive the original's ownership, and at most one of the two may
    /// ever be passed to `free`/`unmap`.
    pub(crate) const unsafe fn alias(&self) -> Self {
        Self {
            pa: self.pa,
            ptr: self.ptr,
            len: self.len,
        }
    }
}

/// The memory an SMMU table lives in: allocation of DMA memory, mapping of memory left by
/// a previous kernel, and cache maintenance.
///
/// The driver's hardware-abstraction layer is a superset of this trait; the host model
/// (`smmu-model`) implements it over its simulated RAM.
///
/// # Safety
///
/// An implementation guarantees:
///
/// * **[`alloc_zeroed(len, align)`](TableMemory::alloc_zeroed)**, on success, returns a
///   region of exactly `len` bytes of *physically contiguous* memory whose physical
///   address is a multiple of `align` (a power of two), zero-filled both for the CPU and
///   for the SMMU (cleaned to the point of coherency if the SMMU is not coherent). The
///   memory is exclusively the caller's: no other live region returned by `alloc_zeroed`
///   overlaps it. It stays valid until passed to [`free`](TableMemory::free). Because the
///   crate also keeps CPU-only bookkeeping in such regions (see the crate docs), the
///   memory must be ordinary RAM that supports any aligned load and store (Normal memory,
///   cacheable or not), not Device memory.
/// * **[`map(pa, len)`](TableMemory::map)**, on success, returns a region of exactly
///   `len` bytes whose `pa` is the requested address and whose pointer gives CPU read and
///   write access to the physical bytes `pa .. pa + len` (what Linux calls `memremap`
///   with write-back attributes). It stays valid until passed to
///   [`unmap`](TableMemory::unmap). It may alias other memory (that is its purpose).
///   Requests for ranges that are not RAM must fail, not fault.
/// * Every returned [`DmaRegion`] satisfies the safety contract of [`DmaRegion::new`]:
///   the pointer is valid for 64-bit atomic accesses from any thread for `len` bytes.
/// * **[`clean`](TableMemory::clean)** makes the CPU's writes to `offset .. offset + len`
///   of the region visible to a non-coherent SMMU (e.g. `DC CVAC` per line, then `DSB`),
///   and **[`invalidate`](TableMemory::invalidate)** makes data written by others
///   (the SMMU, a previous kernel) visible to the CPU. `invalidate` must never discard CPU
///   writes that were not yet cleaned (use clean-and-invalidate, `DC CIVAC`, for lines
///   that may be dirty). Both may round the range out to whole cache lines. On a coherent
///   system both may do nothing.
///
/// This crate guarantees, in return, that `offset + len <= region.len()` for every
/// `clean`/`invalidate` call, that it passes to `free` only regions from `alloc_zeroed`
/// and to `unmap` only regions from `map`, each exactly once, and that it accesses table
/// words only with aligned 64-bit atomic operations.
pub unsafe trait TableMemory {
    /// Allocates `len` bytes of zeroed, physically contiguous memory whose physical address
    /// is aligned to `align` (a power of two).
    ///
    /// # Errors
    ///
    /// [`MemoryError::NoMemory`] when the memory is not available,
    /// [`MemoryError::Unsupported`] when the request cannot be expressed.
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError>;

    /// Releases memory obtained from [`alloc_zeroed`](TableMemory::alloc_zeroed).
    ///
    /// # Safety
    ///
    /// `region` was returned by `alloc_zeroed` of this implementation, is passed here at
    /// most once, and the SMMU no longer reads it.
    unsafe fn free(&self, region: DmaRegion);

    /// Maps `len` bytes of existing physical memory at `pa` (memory a previous kernel left
    /// behind) for CPU reads and writes.
    ///
    /// # Errors
    ///
    /// [`MemoryError::MapFailed`] when the range cannot be mapped.
    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError>;

    /// Releases a mapping obtained from [`map`](TableMemory::map). The physical memory is
    /// not freed.
    ///
    /// # Safety
    ///
    /// `region` was returned by `map` of this implementation and is passed here at most
    /// once.
    unsafe fn unmap(&self, region: DmaRegion);

    /// Cleans `offset .. offset + len` of `region` to the point of coherency, after CPU
    /// writes, so that a non-coherent SMMU reads them.
    fn clean(&self, region: &DmaRegion, offset: usize, len: usize);

    /// Invalidates (cleans and invalidates) `offset .. offset + len` of `region` before
    /// the CPU reads memory that the SMMU or a previous kernel wrote.
    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize);
}

// SAFETY: every method forwards to `T`, whose implementation upholds the contract; the
// regions are the same regions.
unsafe impl<T: TableMemory + ?Sized> TableMemory for &T {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        (**self).alloc_zeroed(len, align)
    }
    unsafe fn free(&self, region: DmaRegion) {
        // SAFETY: the caller's guarantees for `free` are forwarded unchanged.
        unsafe { (**self).free(region) }
    }
    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        (**self).map(pa, len)
    }
    unsafe fn unmap(&self, region: DmaRegion) {
        // SAFETY: the caller's guarantees for `unmap` are forwarded unchanged.
        unsafe { (**self).unmap(region) }
    }
    fn clean(&self, region: &DmaRegion, offset: usize, len: usize) {
        (**self).clean(region, offset, len);
    }
    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize) {
        (**self).invalidate(region, offset, len);
    }
}

/// Where a table region came from, which decides how it is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// From `alloc_zeroed`: released with `free`.
    Allocated,
    /// From `map` (adopted): released with `unmap`.
    Mapped,
}

/// Allocates through `mem` and checks the result against the request.
pub(crate) fn alloc_checked<M: TableMemory + ?Sized>(
    mem: &M,
    len: usize,
    align: usize,
) -> Result<DmaRegion, MemoryError> {
    if !align.is_power_of_two() {
        return Err(MemoryError::Unsupported);
    }
    let region = mem.alloc_zeroed(len, align)?;
    let align_u64 = u64::try_from(align).map_err(|_| MemoryError::Unsupported)?;
    if region.len() != len || !region.pa().is_aligned(align_u64) {
        // SAFETY: the region was just returned by `alloc_zeroed` and is released once.
        unsafe { mem.free(region) };
        return Err(MemoryError::BadRegion);
    }
    Ok(region)
}

/// Maps through `mem` and checks the result against the request.
pub(crate) fn map_checked<M: TableMemory + ?Sized>(
    mem: &M,
    pa: PhysAddr,
    len: usize,
) -> Result<DmaRegion, MemoryError> {
    let region = mem.map(pa, len)?;
    if region.len() != len || region.pa() != pa {
        // SAFETY: the region was just returned by `map` and is released once.
        unsafe { mem.unmap(region) };
        return Err(MemoryError::BadRegion);
    }
    Ok(region)
}

/// Releases `region` according to its origin.
///
/// # Safety
///
/// `region` came from `mem` with the given origin and is released exactly once; the SMMU
/// no longer reads it.
pub(crate) unsafe fn release<M: TableMemory + ?Sized>(mem: &M, region: DmaRegion, origin: Origin) {
    match origin {
        // SAFETY: forwarded from the caller.
        Origin::Allocated => unsafe { mem.free(region) },
        // SAFETY: forwarded from the caller.
        Origin::Mapped => unsafe { mem.unmap(region) },
    }
}
