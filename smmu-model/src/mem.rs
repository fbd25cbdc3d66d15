//! Physical memory: a sparse physical address space made of RAM regions.
//!
//! Each region is backed by **one** contiguous, zero-initialised host allocation of
//! [`AtomicU64`] words, obtained with [`std::alloc::alloc_zeroed`] so that the host OS
//! commits pages lazily (a 1 GiB region costs nothing until it is touched). The
//! allocation lives as long as the [`PhysMemory`], and regions are never removed, so a
//! pointer obtained with [`PhysMemory::host_ptr`] stays valid for the lifetime of the
//! memory object. A driver running on the model writes table words through such a
//! pointer while the model's walker reads the same words concurrently.
//!
//! # Ordering
//!
//! Every access is word-atomic. Loads use [`Ordering::Acquire`] and stores
//! [`Ordering::Release`] (partial-word stores are compare-and-swap loops with
//! `AcqRel`). This is what makes the driver's publication protocol work on the model:
//! when the driver writes STE dwords 1..7 and then dword 0 (each a release store), a
//! walker that observes the new dword 0 with an acquire load also observes the new
//! dwords 1..7. The model never needs `SeqCst`: all cross-thread hand-offs between
//! registers and memory also go through the model's locks.
//!
//! Addresses outside every region are not RAM: an access there fails with
//! [`MemError::NotRam`], which the SMMU turns into `F_STE_FETCH`, `F_CD_FETCH`,
//! `F_WALK_EABT` or `CERROR_ABT` as the specification says.

use std::alloc::{Layout, alloc_zeroed};
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// Size of a physical page, the granule of regions and of the page allocator.
pub const PAGE_SIZE: u64 = 4096;

/// Maximum number of RAM regions a [`PhysMemory`] can hold.
pub const MAX_REGIONS: usize = 16;

/// What a RAM region is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// Ordinary RAM: the normal kernel allocates its DMA memory here.
    Ram,
    /// The memory reserved for a kdump ("crashkernel=") kernel, which allocates only
    /// from here so that it never overwrites the crashed kernel's memory.
    CrashKernel,
}

/// A description of one RAM region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegionInfo {
    /// First physical address of the region.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// What the region is for.
    pub kind: RegionKind,
}

/// Errors of physical memory accesses and allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemError {
    /// The address is not backed by any RAM region (an external abort on hardware).
    #[error("physical address {pa:#x} is not backed by RAM")]
    NotRam {
        /// The first address of the access that is outside RAM.
        pa: u64,
    },
    /// The address is not aligned to the access size.
    #[error("access of {size} bytes at {pa:#x} is misaligned")]
    Misaligned {
        /// The address.
        pa: u64,
        /// The access size (and required alignment) in bytes.
        size: u64,
    },
    /// A read hit an address where a fault was injected with
    /// [`PhysMemory::inject_read_fault`].
    #[error("injected read fault at {pa:#x}")]
    InjectedFault {
        /// The address of the failing read.
        pa: u64,
    },
    /// A region could not be added.
    #[error("region at {base:#x} (+{len:#x}) is invalid: {reason}")]
    BadRegion {
        /// Requested base.
        base: u64,
        /// Requested length.
        len: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No region of the requested kind has a free block of the requested size and
    /// alignment.
    #[error("out of {kind:?} memory allocating {len:#x} bytes aligned to {align:#x}")]
    OutOfMemory {
        /// The region kind that was searched.
        kind: RegionKind,
        /// Requested length.
        len: u64,
        /// Requested alignment.
        align: u64,
    },
    /// An allocation request had a zero length or an alignment that is not a power of
    /// two.
    #[error("invalid allocation request: len {len:#x}, align {align:#x}")]
    BadRequest {
        /// Requested length.
        len: u64,
        /// Requested alignment.
        align: u64,
    },
    /// [`PhysMemory::free`] was called with a range that is not exactly one live
    /// allocation.
    #[error("free of {pa:#x} (+{len:#x}) does not match a live allocation")]
    BadFree {
        /// Address passed to `free`.
        pa: u64,
        /// Length passed to `free`.
        len: u64,
    },
}

/// A first-fit page allocator over one region, with an exact record of live
/// allocations so that a wrong `free` is reported instead of corrupting the state.
#[derive(Debug)]
struct PageAllocator {
    /// Free blocks, sorted by address, coalesced: (start, len).
    free: Vec<(u64, u64)>,
    /// Live allocations: start → len.
    live: BTreeMap<u64, u64>,
}

impl PageAllocator {
    fn new(base: u64, len: u64) -> Self {
        Self {
            free: vec![(base, len)],
            live: BTreeMap::new(),
        }
    }

    fn alloc(&mut self, len: u64, align: u64) -> Option<u64> {
        for i in 0..self.free.len() {
            let (start, blen) = self.free[i];
            let Some(aligned) = align_up(start, align) else {
                continue;
            };
            let Some(end) = aligned.checked_add(len) else {
                continue;
            };
            if end > start + blen {
                continue;
            }
            // Carve [aligned, end) out of [start, start + blen).
            let tail = (end, start + blen - end);
            let head = (start, aligned - start);
            self.free.remove(i);
            let mut at = i;
            if head.1 != 0 {
                self.free.insert(at, head);
                at += 1;
            }
            if tail.1 != 0 {
                self.free.insert(at, tail);
            }
            self.live.insert(aligned, len);
            return Some(aligned);
        }
        None
    }

    fn free(&mut self, pa: u64, len: u64) -> bool {
        if self.live.get(&pa) != Some(&len) {
            return false;
        }
        self.live.remove(&pa);
        let pos = self.free.partition_point(|&(s, _)| s < pa);
        self.free.insert(pos, (pa, len));
        // Coalesce with the next block, then with the previous one.
        if pos + 1 < self.free.len() && self.free[pos].0 + self.free[pos].1 == self.free[pos + 1].0
        {
            self.free[pos].1 += self.free[pos + 1].1;
            self.free.remove(pos + 1);
        }
        if pos > 0 && self.free[pos - 1].0 + self.free[pos - 1].1 == self.free[pos].0 {
            self.free[pos - 1].1 += self.free[pos].1;
            self.free.remove(pos);
        }
        true
    }

    fn free_bytes(&self) -> u64 {
        self.free.iter().map(|&(_, l)| l).sum()
    }
}

/// One RAM region and its backing store.
struct Region {
    info: RegionInfo,
    words: Box<[AtomicU64]>,
    allocator: Mutex<PageAllocator>,
}

impl Region {
    fn new(info: RegionInfo) -> Result<Self, MemError> {
        let bad = |reason| MemError::BadRegion {
            base: info.base,
            len: info.len,
            reason,
        };
        let nwords = usize::try_from(info.len / 8).map_err(|_| bad("too large for the host"))?;
        let layout =
            Layout::array::<AtomicU64>(nwords).map_err(|_| bad("too large for the host"))?;
        // SAFETY: `layout` has a non-zero size (callers reject empty regions).
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<AtomicU64>()) else {
            return Err(bad("host allocation failed"));
        };
        let slice = std::ptr::slice_from_raw_parts_mut(ptr.as_ptr(), nwords);
        // SAFETY: `ptr` comes from the global allocator with exactly the layout of
        // `[AtomicU64; nwords]` (`Layout::array`), so `Box` may own and later free it.
        // All-zero bytes are a valid `AtomicU64`, so every element is initialised.
        let words = unsafe { Box::from_raw(slice) };
        Ok(Self {
            info,
            words,
            allocator: Mutex::new(PageAllocator::new(info.base, info.len)),
        })
    }

    fn contains(&self, pa: u64) -> bool {
        pa >= self.info.base && pa - self.info.base < self.info.len
    }

    fn word(&self, pa: u64) -> Option<&AtomicU64> {
        let idx = usize::try_from((pa - self.info.base) / 8).ok()?;
        self.words.get(idx)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// The physical address space: up to [`MAX_REGIONS`] RAM regions, page allocators and
/// read-fault injection. `Send + Sync`; share it with `Arc`.
pub struct PhysMemory {
    regions: [OnceLock<Region>; MAX_REGIONS],
    count: AtomicUsize,
    add_lock: Mutex<()>,
    faults_armed: AtomicBool,
    read_faults: Mutex<Vec<(u64, u64)>>,
}

impl std::fmt::Debug for PhysMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhysMemory")
            .field("regions", &self.regions())
            .finish_non_exhaustive()
    }
}

impl Default for PhysMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl PhysMemory {
    /// An empty physical address space (no RAM at all).
    #[must_use]
    pub fn new() -> Self {
        Self {
            regions: std::array::from_fn(|_| OnceLock::new()),
            count: AtomicUsize::new(0),
            add_lock: Mutex::new(()),
            faults_armed: AtomicBool::new(false),
            read_faults: Mutex::new(Vec::new()),
        }
    }

    /// Adds a RAM region of `len` bytes at `base`. Both must be multiples of
    /// [`PAGE_SIZE`], `len` non-zero, and the region must not overlap another one.
    /// The backing store is zeroed and committed lazily by the host OS.
    ///
    /// # Errors
    ///
    /// [`MemError::BadRegion`] if the region is misaligned, empty, overlapping, too
    /// large for the host, or if [`MAX_REGIONS`] regions already exist.
    pub fn add_region(&self, base: u64, len: u64, kind: RegionKind) -> Result<(), MemError> {
        let bad = |reason| MemError::BadRegion { base, len, reason };
        if len == 0 || !base.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(bad("base and length must be non-zero multiples of 4 KiB"));
        }
        let end = base
            .checked_add(len)
            .ok_or(bad("wraps the address space"))?;
        let _guard = lock(&self.add_lock);
        let n = self.count.load(Ordering::Acquire);
        if n >= MAX_REGIONS {
            return Err(bad("too many regions"));
        }
        if self
            .iter_regions()
            .any(|r| base < r.info.base + r.info.len && r.info.base < end)
        {
            return Err(bad("overlaps an existing region"));
        }
        let region = Region::new(RegionInfo { base, len, kind })?;
        if self.regions[n].set(region).is_err() {
            return Err(bad("region slot already taken"));
        }
        self.count.store(n + 1, Ordering::Release);
        Ok(())
    }

    fn iter_regions(&self) -> impl Iterator<Item = &Region> {
        let n = self.count.load(Ordering::Acquire);
        self.regions.iter().take(n).filter_map(OnceLock::get)
    }

    /// The regions, in the order they were added.
    #[must_use]
    pub fn regions(&self) -> Vec<RegionInfo> {
        self.iter_regions().map(|r| r.info).collect()
    }

    fn region_of(&self, pa: u64) -> Option<&Region> {
        self.iter_regions().find(|r| r.contains(pa))
    }

    /// Whether `[pa, pa + len)` lies entirely inside one RAM region.
    #[must_use]
    pub fn is_ram(&self, pa: u64, len: u64) -> bool {
        self.range_region(pa, len).is_ok()
    }

    fn range_region(&self, pa: u64, len: u64) -> Result<&Region, MemError> {
        let r = self.region_of(pa).ok_or(MemError::NotRam { pa })?;
        let end_in = r.info.base + r.info.len;
        match pa.checked_add(len) {
            Some(end) if end <= end_in => Ok(r),
            _ => Err(MemError::NotRam { pa: end_in }),
        }
    }

    fn check_injected(&self, pa: u64, len: u64) -> Result<(), MemError> {
        if !self.faults_armed.load(Ordering::Acquire) {
            return Ok(());
        }
        let faults = lock(&self.read_faults);
        let end = pa.saturating_add(len);
        for &(fs, fl) in faults.iter() {
            let fe = fs.saturating_add(fl);
            if pa < fe && fs < end {
                return Err(MemError::InjectedFault { pa: pa.max(fs) });
            }
        }
        Ok(())
    }

    fn word(&self, pa: u64, size: u64) -> Result<&AtomicU64, MemError> {
        if !pa.is_multiple_of(size) {
            return Err(MemError::Misaligned { pa, size });
        }
        self.region_of(pa)
            .and_then(|r| r.word(pa & !7))
            .ok_or(MemError::NotRam { pa })
    }

    /// Reads the 64-bit word at `pa` (single-copy atomic, acquire).
    ///
    /// # Errors
    ///
    /// [`MemError::Misaligned`], [`MemError::NotRam`] or an injected fault.
    pub fn read_u64(&self, pa: u64) -> Result<u64, MemError> {
        let w = self.word(pa, 8)?;
        self.check_injected(pa, 8)?;
        Ok(w.load(Ordering::Acquire))
    }

    /// Writes the 64-bit word at `pa` (single-copy atomic, release).
    ///
    /// # Errors
    ///
    /// [`MemError::Misaligned`] or [`MemError::NotRam`].
    pub fn write_u64(&self, pa: u64, value: u64) -> Result<(), MemError> {
        self.word(pa, 8)?.store(value, Ordering::Release);
        Ok(())
    }

    /// Reads the 32-bit word at `pa` (little-endian half of a 64-bit word).
    ///
    /// # Errors
    ///
    /// [`MemError::Misaligned`], [`MemError::NotRam`] or an injected fault.
    pub fn read_u32(&self, pa: u64) -> Result<u32, MemError> {
        let w = self.word(pa, 4)?;
        self.check_injected(pa, 4)?;
        let shift = (pa & 4) * 8;
        Ok((w.load(Ordering::Acquire) >> shift) as u32)
    }

    /// Writes the 32-bit word at `pa` atomically (the other half of the 64-bit word is
    /// preserved).
    ///
    /// # Errors
    ///
    /// [`MemError::Misaligned`] or [`MemError::NotRam`].
    pub fn write_u32(&self, pa: u64, value: u32) -> Result<(), MemError> {
        let w = self.word(pa, 4)?;
        let shift = (pa & 4) * 8;
        update_bytes(w, 0xFFFF_FFFF << shift, u64::from(value) << shift);
        Ok(())
    }

    /// Reads `buf.len()` bytes starting at `pa`. The range must lie inside one region.
    ///
    /// # Errors
    ///
    /// [`MemError::NotRam`] (nothing is read) or an injected fault.
    pub fn read_bytes(&self, pa: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let len = buf.len() as u64;
        let region = self.range_region(pa, len)?;
        self.check_injected(pa, len)?;
        let mut done = 0usize;
        while done < buf.len() {
            let addr = pa + done as u64;
            let off = (addr & 7) as usize;
            let n = (8 - off).min(buf.len() - done);
            let w = region.word(addr).ok_or(MemError::NotRam { pa: addr })?;
            let bytes = w.load(Ordering::Acquire).to_le_bytes();
            buf[done..done + n].copy_from_slice(&bytes[off..off + n]);
            done += n;
        }
        Ok(())
    }

    /// Writes `data` starting at `pa`. The range must lie inside one region. Whole
    /// aligned words are single stores; partial words are atomic read-modify-writes.
    ///
    /// # Errors
    ///
    /// [`MemError::NotRam`] (nothing is written).
    pub fn write_bytes(&self, pa: u64, data: &[u8]) -> Result<(), MemError> {
        let region = self.range_region(pa, data.len() as u64)?;
        let mut done = 0usize;
        while done < data.len() {
            let addr = pa + done as u64;
            let off = (addr & 7) as usize;
            let n = (8 - off).min(data.len() - done);
            let w = region.word(addr).ok_or(MemError::NotRam { pa: addr })?;
            let mut bytes = [0u8; 8];
            bytes[off..off + n].copy_from_slice(&data[done..done + n]);
            let value = u64::from_le_bytes(bytes);
            if n == 8 {
                w.store(value, Ordering::Release);
            } else {
                let mask = (u64::MAX >> (64 - 8 * n as u32)) << (8 * off as u32);
                update_bytes(w, mask, value);
            }
            done += n;
        }
        Ok(())
    }

    /// Fills `len` bytes at `pa` with zero.
    ///
    /// # Errors
    ///
    /// [`MemError::NotRam`] (nothing is written) or [`MemError::Misaligned`] if `pa` or
    /// `len` is not a multiple of 8.
    pub fn zero(&self, pa: u64, len: u64) -> Result<(), MemError> {
        if !pa.is_multiple_of(8) || !len.is_multiple_of(8) {
            return Err(MemError::Misaligned { pa, size: 8 });
        }
        let region = self.range_region(pa, len)?;
        for addr in (pa..pa + len).step_by(8) {
            if let Some(w) = region.word(addr) {
                w.store(0, Ordering::Release);
            }
        }
        Ok(())
    }

    /// The words backing `[pa, pa + len)`: a view valid for as long as `self`. `pa` must
    /// be 8-byte aligned and the range must lie inside one region (`len` is rounded up
    /// to a whole number of words).
    ///
    /// # Errors
    ///
    /// [`MemError::Misaligned`] or [`MemError::NotRam`].
    pub fn host_slice(&self, pa: u64, len: u64) -> Result<&[AtomicU64], MemError> {
        if !pa.is_multiple_of(8) {
            return Err(MemError::Misaligned { pa, size: 8 });
        }
        let len = len.div_ceil(8) * 8;
        let region = self.range_region(pa, len)?;
        let start =
            usize::try_from((pa - region.info.base) / 8).map_err(|_| MemError::NotRam { pa })?;
        let n = usize::try_from(len / 8).map_err(|_| MemError::NotRam { pa })?;
        region
            .words
            .get(start..start + n)
            .ok_or(MemError::NotRam { pa })
    }

    /// A host pointer to the word at `pa`, valid for `len` bytes (rounded up to whole
    /// words) for as long as this `PhysMemory` lives. This is what a HAL's DMA
    /// allocation returns to the driver.
    ///
    /// Accesses through the pointer must be atomic (`AtomicU64` operations); the model
    /// reads the same words concurrently.
    ///
    /// # Errors
    ///
    /// [`MemError::Misaligned`] or [`MemError::NotRam`]; a zero `len` is treated as 8.
    pub fn host_ptr(&self, pa: u64, len: u64) -> Result<NonNull<AtomicU64>, MemError> {
        let words = self.host_slice(pa, len.max(8))?;
        Ok(NonNull::from(words).cast::<AtomicU64>())
    }

    /// Allocates `len` bytes (rounded up to whole pages) aligned to `align` (at least
    /// [`PAGE_SIZE`]) from the first region of `kind` that has room, and zeroes them.
    ///
    /// # Errors
    ///
    /// [`MemError::BadRequest`] for a zero length or a non-power-of-two alignment,
    /// [`MemError::OutOfMemory`] if no region of that kind has room.
    pub fn alloc(&self, kind: RegionKind, len: u64, align: u64) -> Result<u64, MemError> {
        if len == 0 || !align.is_power_of_two() {
            return Err(MemError::BadRequest { len, align });
        }
        let len = align_up(len, PAGE_SIZE).ok_or(MemError::BadRequest { len, align })?;
        let align = align.max(PAGE_SIZE);
        for r in self.iter_regions().filter(|r| r.info.kind == kind) {
            let got = lock(&r.allocator).alloc(len, align);
            if let Some(pa) = got {
                self.zero(pa, len)?;
                return Ok(pa);
            }
        }
        Err(MemError::OutOfMemory { kind, len, align })
    }

    /// Frees an allocation made by [`alloc`](Self::alloc). `len` must be the length
    /// that was requested (it is rounded up to whole pages the same way).
    ///
    /// # Errors
    ///
    /// [`MemError::BadFree`] if `(pa, len)` is not a live allocation.
    pub fn free(&self, pa: u64, len: u64) -> Result<(), MemError> {
        let rounded = align_up(len, PAGE_SIZE).ok_or(MemError::BadFree { pa, len })?;
        let r = self.region_of(pa).ok_or(MemError::BadFree { pa, len })?;
        if lock(&r.allocator).free(pa, rounded) {
            Ok(())
        } else {
            Err(MemError::BadFree { pa, len })
        }
    }

    /// Bytes still free for allocation in the regions of `kind`.
    #[must_use]
    pub fn free_bytes(&self, kind: RegionKind) -> u64 {
        self.iter_regions()
            .filter(|r| r.info.kind == kind)
            .map(|r| lock(&r.allocator).free_bytes())
            .sum()
    }

    /// Makes every read through this object (SMMU-side reads: table walks, command
    /// fetches) that overlaps `[pa, pa + len)` fail with [`MemError::InjectedFault`]
    /// until [`clear_read_faults`](Self::clear_read_faults). Host-pointer accesses by
    /// the driver are not affected.
    pub fn inject_read_fault(&self, pa: u64, len: u64) {
        lock(&self.read_faults).push((pa, len.max(1)));
        self.faults_armed.store(true, Ordering::Release);
    }

    /// Removes every injected read fault.
    pub fn clear_read_faults(&self) {
        let mut f = lock(&self.read_faults);
        f.clear();
        self.faults_armed.store(false, Ordering::Release);
    }
}

/// Atomically replaces the bits of `w` selected by `mask` with those of `value`.
fn update_bytes(w: &AtomicU64, mask: u64, value: u64) {
    let mut cur = w.load(Ordering::Acquire);
    loop {
        let new = (cur & !mask) | (value & mask);
        match w.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn mem() -> PhysMemory {
        let m = PhysMemory::new();
        m.add_region(0x8000_0000, 0x10000, RegionKind::Ram).unwrap();
        m.add_region(0x9000_0000, 0x4000, RegionKind::CrashKernel)
            .unwrap();
        m
    }

    #[test]
    fn word_accesses_and_errors() {
        let m = mem();
        assert_eq!(m.read_u64(0x8000_0000).unwrap(), 0);
        m.write_u64(0x8000_0008, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read_u32(0x8000_0008).unwrap(), 0x5566_7788);
        assert_eq!(m.read_u32(0x8000_000C).unwrap(), 0x1122_3344);
        m.write_u32(0x8000_000C, 0xAABB_CCDD).unwrap();
        assert_eq!(m.read_u64(0x8000_0008).unwrap(), 0xAABB_CCDD_5566_7788);
        assert_eq!(
            m.read_u64(0x7FFF_FFF8),
            Err(MemError::NotRam { pa: 0x7FFF_FFF8 })
        );
        assert_eq!(
            m.read_u64(0x8001_0000),
            Err(MemError::NotRam { pa: 0x8001_0000 })
        );
        assert_eq!(
            m.read_u64(0x8000_0004),
            Err(MemError::Misaligned {
                pa: 0x8000_0004,
                size: 8
            })
        );
        assert!(m.write_u32(0x8000_0002, 1).is_err());
    }

    #[test]
    fn byte_accesses() {
        let m = mem();
        m.write_bytes(0x8000_0003, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
            .unwrap();
        let mut buf = [0u8; 16];
        m.read_bytes(0x8000_0000, &mut buf).unwrap();
        assert_eq!(buf, [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0]);
        // Crossing the end of a region fails without writing.
        assert_eq!(
            m.write_bytes(0x8000_FFFC, &[1; 8]),
            Err(MemError::NotRam { pa: 0x8001_0000 })
        );
        assert_eq!(m.read_u32(0x8000_FFFC).unwrap(), 0);
    }

    #[test]
    fn regions_validated() {
        let m = mem();
        assert!(m.add_region(0x8000_8000, 0x1000, RegionKind::Ram).is_err());
        assert!(m.add_region(0x1000, 0, RegionKind::Ram).is_err());
        assert!(m.add_region(0x1001, 0x1000, RegionKind::Ram).is_err());
        assert_eq!(m.regions().len(), 2);
        assert!(m.is_ram(0x9000_0000, 0x4000));
        assert!(!m.is_ram(0x9000_0000, 0x4001));
    }

    #[test]
    fn host_pointer_aliases_model_memory() {
        let m = mem();
        let p = m.host_ptr(0x8000_0040, 64).unwrap();
        // SAFETY: `p` points at 8 words inside a live region of `m`, which outlives
        // these accesses; the words are atomics, so shared mutation is allowed.
        let words = unsafe { std::slice::from_raw_parts(p.as_ptr(), 8) };
        words[7].store(0xDEAD_BEEF, Ordering::Release);
        assert_eq!(m.read_u64(0x8000_0078).unwrap(), 0xDEAD_BEEF);
        m.write_u64(0x8000_0040, 5).unwrap();
        assert_eq!(words[0].load(Ordering::Acquire), 5);
        assert!(m.host_ptr(0x8000_FFF8, 16).is_err());
        assert!(m.host_ptr(0x8000_0004, 8).is_err());
        let s = m.host_slice(0x9000_0000, 0x4000).unwrap();
        assert_eq!(s.len(), 0x800);
    }

    #[test]
    fn allocator() {
        let m = mem();
        let a = m.alloc(RegionKind::Ram, 100, 4096).unwrap();
        assert_eq!(a, 0x8000_0000);
        let b = m.alloc(RegionKind::Ram, 0x4000, 0x4000).unwrap();
        assert_eq!(b, 0x8000_4000);
        let c = m.alloc(RegionKind::Ram, 0x1000, 4096).unwrap();
        assert_eq!(c, 0x8000_1000);
        assert_eq!(
            m.alloc(RegionKind::CrashKernel, 0x1000, 4096).unwrap(),
            0x9000_0000
        );
        m.write_u64(c, 7).unwrap();
        assert!(m.free(c, 0x2000).is_err());
        m.free(c, 0x1000).unwrap();
        assert!(m.free(c, 0x1000).is_err());
        let c2 = m.alloc(RegionKind::Ram, 0x1000, 4096).unwrap();
        assert_eq!(c2, c);
        assert_eq!(m.read_u64(c2).unwrap(), 0, "allocations are zeroed");
        m.free(a, 100).unwrap();
        m.free(b, 0x4000).unwrap();
        m.free(c2, 0x1000).unwrap();
        assert_eq!(m.free_bytes(RegionKind::Ram), 0x10000);
        assert!(matches!(
            m.alloc(RegionKind::Ram, 0x20000, 4096),
            Err(MemError::OutOfMemory { .. })
        ));
        assert!(m.alloc(RegionKind::Ram, 0, 4096).is_err());
        assert!(m.alloc(RegionKind::Ram, 8, 3).is_err());
    }

    #[test]
    fn injected_read_faults() {
        let m = mem();
        m.inject_read_fault(0x8000_0100, 8);
        assert_eq!(
            m.read_u64(0x8000_0100),
            Err(MemError::InjectedFault { pa: 0x8000_0100 })
        );
        assert!(m.read_u64(0x8000_0108).is_ok());
        let mut buf = [0u8; 0x20];
        assert!(m.read_bytes(0x8000_00F0, &mut buf).is_err());
        assert!(m.write_u64(0x8000_0100, 1).is_ok());
        m.clear_read_faults();
        assert_eq!(m.read_u64(0x8000_0100).unwrap(), 1);
    }

    #[test]
    fn concurrent_word_updates() {
        let m = Arc::new(mem());
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..200u32 {
                        m.write_u32(0x8000_0000 + 4 * t, i).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.read_u64(0x8000_0000).unwrap(), (199 << 32) | 199);
    }
}
