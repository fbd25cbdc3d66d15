//! IO page tables: the [`IoPageTable`] seam and the default VMSAv8-64 implementation,
//! [`Aarch64PageTable`].
//!
//! A paging domain owns one IO page table. The driver fills the domain's stage 1 CD
//! (TTB0, T0SZ, TG0, IPS, IR0/OR0/SH0, MAIR) or stage 2 STE fields (S2TTB, S2T0SZ, S2SL0,
//! S2TG, S2PS, S2IR0/S2OR0/S2SH0) from [`IoPageTable::config`], and forwards the domain's
//! map / unmap calls. An OS with its own page-table code implements [`IoPageTable`]
//! instead (design.md §4).
//!
//! # The default implementation
//!
//! [`Aarch64PageTable`]: VMSAv8-64 translation tables with the 4 KiB granule, in the stage 1
//! or the stage 2 descriptor format, input size 25..=48 bits, output limited to the SMMU's
//! OAS (at most 48 bits: no FEAT_LPA/LPA2).
//!
//! * **Memory.** Every table page comes from [`TableMemory::alloc_zeroed`]: 4 KiB (aligned
//!   4 KiB) for a level 3 table; 8 KiB for a table at level 0–2, whose upper half is a
//!   CPU-only array of child pointers (the SMMU never reads it); the start table is the
//!   same with its concatenated pages. `map` of a 4 KiB page and `iova_to_phys` never use
//!   the heap.
//! * **Stores.** Every descriptor is written with one aligned 64-bit atomic store
//!   (`Release`). A new table is built completely (zeroed, filled with the entries of the
//!   mapping being made, cleaned when the SMMU is not coherent) before the table
//!   descriptor that points to it is stored. With [`Coherency::NonCoherent`], every
//!   changed descriptor is cleaned with [`TableMemory::clean`] before the call returns.
//! * **All or nothing.** `map` first checks the whole range (alignment, ranges, overlap)
//!   and allocates every table it will need; if anything fails, nothing was written and
//!   the allocations are returned. `unmap` first checks that it would not split a block;
//!   if it would, nothing is changed.
//! * **Blocks.** Where the IOVA, the PA and the remaining size allow it, `map` writes
//!   2 MiB (level 2) or 1 GiB (level 1) block descriptors. Unmapping part of a block is
//!   refused with [`PageTableError::PartialBlock`] (current Linux refuses it too): unmap
//!   whole blocks, or map with 4 KiB granularity what will be unmapped piecewise.
//! * **Freeing.** A table that `unmap` leaves empty is unlinked from its parent but not
//!   freed: the SMMU may still hold it in a walk cache until the caller's TLBI + CMD_SYNC.
//!   The caller frees the unlinked tables with [`IoPageTable::reclaim`] after that sync.
//!
//! ## Descriptor attributes
//!
//! | `Prot` | stage 1 | stage 2 |
//! |---|---|---|
//! | always | AF = 1, nG = 1 (entries are ASID-tagged), page/block type | AF = 1, page/block type |
//! | `READ` / `WRITE` | AP\[2\] = 1 (read-only) without `WRITE`; a write-only request maps read-write (stage 1 has no write-only encoding) | S2AP\[0\] (bit 6) = read, S2AP\[1\] (bit 7) = write |
//! | `PRIV` | AP\[1\] = 0 (no unprivileged access); otherwise AP\[1\] = 1 | ignored |
//! | `CACHE` | AttrIndx 0 (Normal WB), SH = inner | MemAttr 0b1111 (Normal WB), SH = inner |
//! | neither `CACHE` nor `MMIO` | AttrIndx 2 (Normal NC), SH = outer | MemAttr 0b0101 (Normal NC), SH = outer |
//! | `MMIO` (wins over `CACHE`) | AttrIndx 1 (Device-nGnRE), SH = outer | MemAttr 0b0001 (Device-nGnRE), SH = outer |
//! | `NOEXEC` | UXN and PXN (bits 54, 53) | XN\[1\] (bit 54): not executable at any EL |
//!
//! A `Prot` with neither `READ` nor `WRITE` is rejected ([`PageTableError::NoAccess`]).
//! The stage 1 MAIR is [`MAIR`]; the CD must carry it.
//!
//! # Example
//!
//! ```
//! # use core::ptr::NonNull;
//! # use core::sync::atomic::AtomicU64;
//! # use std::sync::Mutex;
//! use iommu_core::Prot;
//! use smmu_regs::{AddressSize, Iova, PhysAddr};
//! use smmu_strtab::{Coherency, DmaRegion, MemoryError, TableMemory};
//! use smmu_v3_driver::pgtable::{Aarch64PageTable, IoPageTable, PageTableParams, Stage};
//!
//! /// A toy bump allocator over a host buffer; physical address = 0x8000_0000 + offset.
//! # struct Arena { ram: Vec<AtomicU64>, next: Mutex<usize> }
//! // SAFETY: regions point into `ram`, which outlives them, never overlap, are zeroed, and
//! // their PAs are aligned as requested.
//! unsafe impl TableMemory for Arena {
//!     fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
//!         let mut next = self.next.lock().unwrap();
//!         let start = next.next_multiple_of(align);
//!         if start + len > self.ram.len() * 8 { return Err(MemoryError::NoMemory); }
//!         *next = start + len;
//!         let ptr = NonNull::new(self.ram[start / 8..].as_ptr() as *mut u64).unwrap();
//!         // SAFETY: in bounds of `ram`, 8-aligned, atomics only, never handed out twice.
//!         Ok(unsafe { DmaRegion::new(PhysAddr(0x8000_0000 + start as u64), ptr, len) })
//!     }
//!     unsafe fn free(&self, _region: DmaRegion) {}
//! #   fn map(&self, _pa: PhysAddr, _len: usize) -> Result<DmaRegion, MemoryError> {
//! #       Err(MemoryError::MapFailed)
//! #   }
//! #   unsafe fn unmap(&self, _region: DmaRegion) {}
//! #   fn clean(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}
//! #   fn invalidate(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}
//! }
//!
//! let mem = Arena { ram: (0..16384).map(|_| AtomicU64::new(0)).collect(), next: Mutex::new(0) };
//! // A 48-bit stage 1 address space with a 40-bit output (IDR5.OAS).
//! let params = PageTableParams::new(Stage::Stage1, 48, AddressSize::Bits40, Coherency::Coherent);
//! let mut pt = Aarch64PageTable::new(&mem, params)?;
//! let cfg = pt.config(); // what the CD needs: TTB0, T0SZ = 16, IPS, MAIR, ...
//! assert_eq!((cfg.tsz(), cfg.start_level), (16, 0));
//!
//! pt.map(&mem, Iova(0x1_0000), PhysAddr(0x4000_0000), 0x2000, Prot::READ | Prot::WRITE | Prot::CACHE)?;
//! assert_eq!(pt.iova_to_phys(&mem, Iova(0x1_1234)), Some(PhysAddr(0x4000_1234)));
//! assert_eq!(pt.unmap(&mem, Iova(0x1_0000), 0x2000)?, 0x2000);
//! // ... the driver issues TLBI_NH_VA (or TLBI_NH_ASID) + CMD_SYNC here, then:
//! // SAFETY: the TLB invalidation that followed the unmap has completed.
//! unsafe { pt.reclaim(&mem) };
//! // SAFETY: no CD points at the table any more and its ASID was invalidated.
//! unsafe { pt.release(&mem) };
//! # Ok::<(), smmu_v3_driver::pgtable::PageTableError>(())
//! ```

use core::ptr::NonNull;

use iommu_core::Prot;
use smmu_regs::ste::Stage2Config;
use smmu_regs::{AddressSize, Cacheability, Granule, Iova, PhysAddr, Shareability, Vmid};
use smmu_strtab::{AccessError, Coherency, MemoryError, TableMemory};

pub(crate) mod raw;

use raw::{PTR_BYTES, RawRegion};

/// The translation granule of [`Aarch64PageTable`]: 4 KiB.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
const PAGE_SHIFT: u32 = 12;
/// Descriptors per 4 KiB table.
const ENTRIES: usize = 512;
/// Bytes of one 4 KiB table.
const TABLE_BYTES: usize = 4096;
/// Smallest and largest supported input sizes (T0SZ / S2T0SZ 39..=16).
const MIN_INPUT_BITS: u8 = 25;
const MAX_INPUT_BITS: u8 = 48;
/// At most this many start-level tables are concatenated (stage 2).
const MAX_CONCAT: usize = 16;

/// The stage 1 MAIR of [`Aarch64PageTable`] (CD `dw3`): Attr0 = 0xff (Normal, inner and
/// outer write-back non-transient, read/write-allocate), Attr1 = 0x04 (Device-nGnRE),
/// Attr2 = 0x44 (Normal, inner and outer non-cacheable), Attr3..7 = 0.
pub const MAIR: u64 = 0x0000_0000_0044_04ff;

/// The AttrIndx values of the stage 1 descriptors, indexes into [`MAIR`].
pub mod attr_index {
    /// Normal memory, write-back cacheable ([`Prot::CACHE`](iommu_core::Prot::CACHE)).
    pub const NORMAL_WB: u8 = 0;
    /// Device-nGnRE ([`Prot::MMIO`](iommu_core::Prot::MMIO)).
    pub const DEVICE_NGNRE: u8 = 1;
    /// Normal memory, non-cacheable (neither `CACHE` nor `MMIO`).
    pub const NORMAL_NC: u8 = 2;
}

// VMSAv8-64 descriptor bits (Arm ARM D8.3, 4 KiB granule, 48-bit OA).
const DESC_TYPE_MASK: u64 = 0b11;
/// Table descriptor at levels 0–2, page descriptor at level 3.
const DESC_TABLE_OR_PAGE: u64 = 0b11;
/// Block descriptor at levels 1–2.
const DESC_BLOCK: u64 = 0b01;
/// Output / next-level table address bits \[47:12\].
const OA_MASK: u64 = 0x0000_ffff_ffff_f000;
const ATTR_INDX_SHIFT: u32 = 2;
const AP_UNPRIV: u64 = 1 << 6; // AP[1]
const AP_RDONLY: u64 = 1 << 7; // AP[2]
const S2AP_READ: u64 = 1 << 6;
const S2AP_WRITE: u64 = 1 << 7;
const S2_MEMATTR_SHIFT: u32 = 2;
const S2_MEMATTR_WB: u64 = 0b1111; // Normal, outer WB, inner WB
const S2_MEMATTR_NC: u64 = 0b0101; // Normal, outer NC, inner NC
const S2_MEMATTR_DEV: u64 = 0b0001; // Device-nGnRE
const SH_SHIFT: u32 = 8;
const SH_OUTER: u64 = 0b10;
const SH_INNER: u64 = 0b11;
const AF: u64 = 1 << 10;
const NG: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const XN: u64 = 1 << 54; // UXN at stage 1, XN[1] at stage 2

/// The translation stage a table is built for (selects the descriptor format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stage {
    /// Stage 1 (CD TTB0): input is a VA (IOVA), output an IPA or PA.
    Stage1,
    /// Stage 2 (STE S2TTB): input is an IPA, output a PA.
    Stage2,
}

/// How to build an [`Aarch64PageTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PageTableParams {
    /// Descriptor format.
    pub stage: Stage,
    /// Input address size in bits, 25..=48 (T0SZ / S2T0SZ = 64 − `input_bits`). For
    /// stage 2 it must not exceed the SMMU's IAS (the driver checks; spec §2.3).
    pub input_bits: u8,
    /// The SMMU's output address size (IDR5.OAS); sizes above 48 bits are capped at 48.
    pub oas: AddressSize,
    /// Whether the SMMU's table walks snoop the CPU caches. Selects cache maintenance
    /// and the walk attributes reported by [`PageTableConfig`].
    pub coherency: Coherency,
}

impl PageTableParams {
    /// Parameters from their parts.
    #[must_use]
    pub const fn new(stage: Stage, input_bits: u8, oas: AddressSize, coherency: Coherency) -> Self {
        Self {
            stage,
            input_bits,
            oas,
            coherency,
        }
    }
}

/// Everything the driver needs to point a CD (stage 1) or an STE (stage 2) at a page
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PageTableConfig {
    /// Descriptor format of the table.
    pub stage: Stage,
    /// Translation granule (CD.TG0 / STE.S2TG).
    pub granule: Granule,
    /// Base of the start-level table (CD.TTB0 / STE.S2TTB).
    pub ttb: PhysAddr,
    /// Input address size in bits (T0SZ = 64 − `input_bits`).
    pub input_bits: u8,
    /// Output address size (CD.IPS / STE.S2PS).
    pub output_size: AddressSize,
    /// Level of the start table (0..=3).
    pub start_level: u8,
    /// Number of concatenated start-level tables (1 = none; stage 2 only).
    pub concatenated: u8,
    /// Inner cacheability of table walks (CD.IR0 / STE.S2IR0).
    pub walk_inner: Cacheability,
    /// Outer cacheability of table walks (CD.OR0 / STE.S2OR0).
    pub walk_outer: Cacheability,
    /// Shareability of table walks (CD.SH0 / STE.S2SH0).
    pub walk_shareability: Shareability,
    /// Stage 1 MAIR (CD `dw3`); 0 for stage 2.
    pub mair: u64,
}

impl PageTableConfig {
    /// T0SZ (stage 1) or S2T0SZ (stage 2): 64 − `input_bits`.
    #[must_use]
    pub const fn tsz(&self) -> u8 {
        64u8.saturating_sub(self.input_bits)
    }

    /// STE.S2SL0 for this table (4 KiB granule: start level 2 → 0, 1 → 1, 0 → 2), or
    /// `None` for a stage 1 table or a start level that has no SL0 encoding.
    #[must_use]
    pub const fn s2sl0(&self) -> Option<u8> {
        match (self.stage, self.granule, self.start_level) {
            (Stage::Stage2, Granule::Size4K, l @ 0..=2) => Some(2 - l),
            _ => None,
        }
    }

    /// The stage 2 part of an STE for this table and `vmid` (with
    /// [`Stage2Config::new`]'s defaults for every other field, and this table's walk
    /// attributes).
    ///
    /// # Errors
    ///
    /// [`PageTableError::WrongStage`] for a stage 1 table.
    pub fn stage2_config(&self, vmid: Vmid) -> Result<Stage2Config, PageTableError> {
        let Some(sl0) = self.s2sl0() else {
            return Err(PageTableError::WrongStage);
        };
        let mut s2 = Stage2Config::new(
            vmid,
            self.ttb,
            self.tsz(),
            sl0,
            self.granule,
            self.output_size,
        );
        s2.ir0 = self.walk_inner;
        s2.or0 = self.walk_outer;
        s2.sh0 = self.walk_shareability;
        Ok(s2)
    }
}

/// Errors of IO page-table operations. A failed operation changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PageTableError {
    /// The input size is outside 25..=48 bits, or (stage 2) needs a start level that the
    /// OAS does not permit (level 0 needs OAS ≥ 44 bits).
    #[error("unsupported input size of {bits} bits")]
    UnsupportedInputSize {
        /// The requested input size.
        bits: u8,
    },
    /// The size is zero.
    #[error("zero size")]
    ZeroSize,
    /// The IOVA is not aligned to the granule.
    #[error("{0} is not aligned to the granule")]
    MisalignedIova(Iova),
    /// The physical address is not aligned to the granule.
    #[error("{0} is not aligned to the granule")]
    MisalignedPa(PhysAddr),
    /// The size is not a multiple of the granule.
    #[error("size {0:#x} is not a multiple of the granule")]
    MisalignedSize(u64),
    /// The range ends beyond the input address space.
    #[error("{iova} + {size:#x} is beyond the input address space")]
    IovaOutOfRange {
        /// Start of the range.
        iova: Iova,
        /// Size of the range.
        size: u64,
    },
    /// The range ends beyond the output address size.
    #[error("{pa} + {size:#x} is beyond the output address size")]
    PaOutOfRange {
        /// Start of the range.
        pa: PhysAddr,
        /// Size of the range.
        size: u64,
    },
    /// The permissions grant neither read nor write.
    #[error("the mapping grants neither read nor write access")]
    NoAccess,
    /// Part of the range is already mapped (the first mapped IOVA is given).
    #[error("{iova} is already mapped")]
    AlreadyMapped {
        /// The first IOVA of the range that is mapped.
        iova: Iova,
    },
    /// The unmap range covers only part of a block mapping (its base is given).
    #[error("the range covers part of the block at {iova}")]
    PartialBlock {
        /// Base IOVA of the block.
        iova: Iova,
    },
    /// Allocating a table failed.
    #[error("allocating a table failed: {0}")]
    NoMemory(#[from] MemoryError),
    /// The memory returned for a table is not usable (wrong length or alignment, or a
    /// physical address beyond the output address size); it was freed again.
    #[error("table memory at {0} is not usable")]
    BadTableMemory(PhysAddr),
    /// The operation needs a table of the other stage.
    #[error("the table is for the other translation stage")]
    WrongStage,
    /// The table is inconsistent (a table descriptor without its CPU-side pointer), or an
    /// internal bounds check failed. Not expected; nothing was written.
    #[error("inconsistent page table at {iova}")]
    Inconsistent {
        /// The IOVA being processed.
        iova: Iova,
    },
    /// Internal bounds check failed.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// An IO page table: the seam between the driver and the OS's (or this crate's)
/// page-table code (design.md §4).
///
/// For a stage 2 table the input address (`iova`) is an IPA. Implementations write every
/// descriptor the SMMU may be reading with single 64-bit stores and leave TLB
/// maintenance to the caller: after `unmap` the caller issues a TLBI for the range
/// (`CMD_TLBI_NH_VA` / `CMD_TLBI_S2_IPA`, or per ASID / VMID) and `CMD_SYNC`.
pub trait IoPageTable<M: TableMemory + ?Sized> {
    /// What the CD or STE needs to use this table.
    fn config(&self) -> PageTableConfig;

    /// Maps `size` bytes at `iova` to `pa` with `prot`. All or nothing: on error the table
    /// is unchanged.
    ///
    /// # Errors
    ///
    /// Misaligned or zero arguments, ranges beyond the input or output size, a range that
    /// overlaps an existing mapping, no memory for tables.
    fn map(
        &mut self,
        mem: &M,
        iova: Iova,
        pa: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Result<(), PageTableError>;

    /// Unmaps every mapping inside `iova .. iova + size` and returns how many bytes were
    /// mapped there (0 if none). The caller then invalidates the TLBs for the range.
    ///
    /// # Errors
    ///
    /// Misaligned or zero arguments, a range beyond the input size, or a range that covers
    /// only part of a block mapping; the table is then unchanged.
    fn unmap(&mut self, mem: &M, iova: Iova, size: u64) -> Result<u64, PageTableError>;

    /// The physical address `iova` translates to, or `None` if it is not mapped.
    fn iova_to_phys(&self, mem: &M, iova: Iova) -> Option<PhysAddr>;

    /// Frees the table memory that earlier `unmap` calls unlinked. The default does
    /// nothing.
    ///
    /// # Safety
    ///
    /// The TLB invalidation and `CMD_SYNC` that followed those `unmap` calls have
    /// completed, so the SMMU holds no cached walk through the unlinked tables.
    unsafe fn reclaim(&mut self, mem: &M) {
        let _ = mem;
    }

    /// Frees every table.
    ///
    /// # Safety
    ///
    /// No CD or STE the SMMU may use points at the table any more, and its TLB entries
    /// (ASID / VMID) were invalidated and synced: the SMMU no longer reads the memory.
    unsafe fn release(self, mem: &M)
    where
        Self: Sized;
}

/// A table reached during a walk: its region and its level.
#[derive(Debug, Clone, Copy)]
struct Node {
    region: RawRegion,
    level: u8,
}

/// A descriptor, classified for its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Not valid (or a type this implementation never writes at this level).
    Invalid,
    /// Table descriptor: the next-level table's PA.
    Table(u64),
    /// Block or page descriptor.
    Leaf(u64),
}

/// A singly linked list of table regions that the SMMU does not walk: fresh allocations
/// that are not yet published, or tables unlinked by `unmap` that wait for `reclaim`.
///
/// The link lives in the first three words of each region: the next region's CPU pointer,
/// physical address and length. All three are even numbers, so a stale walk that reads
/// them sees invalid descriptors.
#[derive(Debug, Default)]
struct RegionList {
    head: Option<RawRegion>,
}

impl RegionList {
    fn push(&mut self, region: RawRegion) -> Result<(), AccessError> {
        let (ptr, pa, len) = match self.head {
            Some(next) => (Some(next.ptr()), next.pa(), next.len() as u64),
            None => (None, 0, 0),
        };
        region.store_ptr(0, ptr)?;
        region.store(1, pa)?;
        region.store(2, len)?;
        self.head = Some(region);
        Ok(())
    }

    /// Pops a region and zeroes its link words again.
    fn pop(&mut self) -> Result<Option<RawRegion>, AccessError> {
        let Some(region) = self.head else {
            return Ok(None);
        };
        let next_ptr = region.load_ptr(0)?;
        let next_pa = region.load(1)?;
        let next_len = usize::try_from(region.load(2)?).unwrap_or(0);
        // SAFETY: the link was written by `push` from a region on this list, which the
        // table owns (RawRegion invariant).
        self.head = next_ptr.map(|p| unsafe { RawRegion::from_parts(p, next_pa, next_len) });
        region.store(0, 0)?;
        region.store(1, 0)?;
        region.store(2, 0)?;
        Ok(Some(region))
    }

    /// Frees every region on the list.
    ///
    /// # Safety
    ///
    /// The SMMU does not read any region on the list.
    unsafe fn free_all<M: TableMemory + ?Sized>(&mut self, mem: &M) {
        while let Ok(Some(region)) = self.pop() {
            // SAFETY: the region is owned by the list (taken off it, so freed once) and
            // the SMMU does not read it (caller).
            unsafe { mem.free(region.into_region()) };
        }
        // A corrupt link (not expected) leaks the rest instead of freeing garbage.
        self.head = None;
    }
}

/// Tables allocated before a `map` writes anything.
#[derive(Debug, Default)]
struct Prealloc {
    /// 8 KiB regions for tables at levels 1 and 2.
    inner: RegionList,
    /// 4 KiB regions for level 3 tables.
    leaf: RegionList,
}

/// How many tables a `map` needs.
#[derive(Debug, Default, Clone, Copy)]
struct Needs {
    inner: usize,
    leaf: usize,
}

/// Clean tracker: the range of descriptors stored in one live table.
#[derive(Debug, Default, Clone, Copy)]
struct Dirty(Option<(usize, usize)>);

impl Dirty {
    fn mark(&mut self, idx: usize) {
        self.0 = Some(match self.0 {
            Some((lo, hi)) => (lo.min(idx), hi.max(idx)),
            None => (idx, idx),
        });
    }
}

/// The default [`IoPageTable`]: VMSAv8-64 tables, 4 KiB granule, stage 1 or stage 2
/// descriptors. See the [module documentation](self) for the formats and the rules.
///
/// Dropping a table without [`IoPageTable::release`] leaks its memory (it cannot be freed
/// without the [`TableMemory`]); it is never unsafe.
#[derive(Debug)]
pub struct Aarch64PageTable {
    stage: Stage,
    input_bits: u8,
    /// Effective output size: min(OAS, 48).
    oas: AddressSize,
    start_level: u8,
    /// Number of descriptors of the start table (concatenated pages included).
    root_entries: usize,
    /// Bytes of the SMMU-visible part of the start table.
    root_bytes: usize,
    root: RawRegion,
    coherency: Coherency,
    /// Tables unlinked by `unmap`, waiting for `reclaim`.
    detached: RegionList,
}

// SAFETY: the table owns its regions (RawRegion invariant); the memory is valid from any
// thread (TableMemory contract) and is only accessed with atomic operations; mutation needs
// `&mut self`.
unsafe impl Send for Aarch64PageTable {}
// SAFETY: `&self` methods only perform atomic loads of memory the table owns.
unsafe impl Sync for Aarch64PageTable {}

/// log2 of the size mapped by one descriptor at `level` (4 KiB granule).
const fn level_shift(level: u8) -> u32 {
    PAGE_SHIFT + 9 * (3 - level as u32)
}

/// Bytes of the region of a table at `level` that is not the start table.
const fn table_region_len(level: u8) -> usize {
    if level == 3 {
        TABLE_BYTES
    } else {
        2 * TABLE_BYTES
    }
}

fn alloc_table<M: TableMemory + ?Sized>(
    mem: &M,
    len: usize,
    align: usize,
    oas_bits: u32,
) -> Result<RawRegion, PageTableError> {
    let region = mem.alloc_zeroed(len, align)?;
    let pa = region.pa();
    let end = pa.0.checked_add(len as u64);
    let usable = region.len() == len
        && pa.is_aligned(align as u64)
        && end.is_some_and(|e| e <= 1u64 << oas_bits);
    if !usable {
        // SAFETY: just returned by `alloc_zeroed`, never published, freed once.
        unsafe { mem.free(region) };
        return Err(PageTableError::BadTableMemory(pa));
    }
    Ok(RawRegion::from_region(region))
}

impl Aarch64PageTable {
    /// Allocates the start table of an empty page table.
    ///
    /// The start level follows from the input size: 4 − ⌈(`input_bits` − 12) / 9⌉.
    /// For stage 2, when that is level 0 with at most 16 entries (input ≤ 43 bits), the walk
    /// starts at level 1 with 2..=16 concatenated tables instead (fewer levels, and no
    /// S2SL0 = 2, which needs OAS ≥ 44).
    ///
    /// # Errors
    ///
    /// [`PageTableError::UnsupportedInputSize`], [`PageTableError::NoMemory`],
    /// [`PageTableError::BadTableMemory`].
    pub fn new<M: TableMemory + ?Sized>(
        mem: &M,
        params: PageTableParams,
    ) -> Result<Self, PageTableError> {
        let bits = params.input_bits;
        if !(MIN_INPUT_BITS..=MAX_INPUT_BITS).contains(&bits) {
            return Err(PageTableError::UnsupportedInputSize { bits });
        }
        let oas = if params.oas.bits() > 48 {
            AddressSize::Bits48
        } else {
            params.oas
        };
        let levels = (u32::from(bits) - PAGE_SHIFT).div_ceil(9);
        let mut start_level = (4 - levels) as u8;
        if params.stage == Stage::Stage2 && start_level == 0 {
            if u32::from(bits) - level_shift(0) <= 4 {
                start_level = 1;
            } else if oas.bits() < 44 {
                return Err(PageTableError::UnsupportedInputSize { bits });
            }
        }
        let root_entries = 1usize << (u32::from(bits) - level_shift(start_level));
        if root_entries > ENTRIES * MAX_CONCAT {
            return Err(PageTableError::UnsupportedInputSize { bits });
        }
        let root_bytes = (root_entries * 8).max(TABLE_BYTES);
        let root = alloc_table(mem, 2 * root_bytes, root_bytes, oas.bits())?;
        Ok(Self {
            stage: params.stage,
            input_bits: bits,
            oas,
            start_level,
            root_entries,
            root_bytes,
            root,
            coherency: params.coherency,
            detached: RegionList::default(),
        })
    }

    /// What the CD or STE needs to use this table.
    #[must_use]
    pub fn config(&self) -> PageTableConfig {
        let (walk_inner, walk_outer, walk_shareability) = match self.coherency {
            Coherency::Coherent => (
                Cacheability::WriteBack,
                Cacheability::WriteBack,
                Shareability::Inner,
            ),
            Coherency::NonCoherent => (
                Cacheability::NonCacheable,
                Cacheability::NonCacheable,
                Shareability::Outer,
            ),
        };
        PageTableConfig {
            stage: self.stage,
            granule: Granule::Size4K,
            ttb: PhysAddr(self.root.pa()),
            input_bits: self.input_bits,
            output_size: self.oas,
            start_level: self.start_level,
            concatenated: (self.root_entries / ENTRIES).max(1) as u8,
            walk_inner,
            walk_outer,
            walk_shareability,
            mair: match self.stage {
                Stage::Stage1 => MAIR,
                Stage::Stage2 => 0,
            },
        }
    }

    /// The descriptor bits of a leaf with `prot` (everything but the type and the OA).
    fn leaf_attrs(&self, prot: Prot) -> Result<u64, PageTableError> {
        if !prot.intersects(Prot::READ | Prot::WRITE) {
            return Err(PageTableError::NoAccess);
        }
        let mut attrs = AF;
        let (normal_wb, device) = (
            prot.contains(Prot::CACHE) && !prot.contains(Prot::MMIO),
            prot.contains(Prot::MMIO),
        );
        let sh = if normal_wb { SH_INNER } else { SH_OUTER };
        attrs |= sh << SH_SHIFT;
        match self.stage {
            Stage::Stage1 => {
                attrs |= NG;
                if !prot.contains(Prot::PRIV) {
                    attrs |= AP_UNPRIV;
                }
                if !prot.contains(Prot::WRITE) {
                    attrs |= AP_RDONLY;
                }
                let idx = if device {
                    attr_index::DEVICE_NGNRE
                } else if normal_wb {
                    attr_index::NORMAL_WB
                } else {
                    attr_index::NORMAL_NC
                };
                attrs |= u64::from(idx) << ATTR_INDX_SHIFT;
                if prot.contains(Prot::NOEXEC) {
                    attrs |= XN | PXN;
                }
            }
            Stage::Stage2 => {
                if prot.contains(Prot::READ) {
                    attrs |= S2AP_READ;
                }
                if prot.contains(Prot::WRITE) {
                    attrs |= S2AP_WRITE;
                }
                let memattr = if device {
                    S2_MEMATTR_DEV
                } else if normal_wb {
                    S2_MEMATTR_WB
                } else {
                    S2_MEMATTR_NC
                };
                attrs |= memattr << S2_MEMATTR_SHIFT;
                if prot.contains(Prot::NOEXEC) {
                    attrs |= XN;
                }
            }
        }
        Ok(attrs)
    }

    fn root_node(&self) -> Node {
        Node {
            region: self.root,
            level: self.start_level,
        }
    }

    /// Index of the descriptor for `iova` in `node`.
    fn index(&self, node: Node, iova: u64) -> usize {
        let entries = if node.level == self.start_level {
            self.root_entries
        } else {
            ENTRIES
        };
        ((iova >> level_shift(node.level)) as usize) & (entries - 1)
    }

    /// Byte offset of the child pointer for descriptor `idx` of `node`.
    fn shadow_offset(&self, node: Node, idx: usize) -> usize {
        let hw = if node.level == self.start_level {
            self.root_bytes
        } else {
            TABLE_BYTES
        };
        hw + idx * PTR_BYTES
    }

    fn classify(level: u8, desc: u64) -> Entry {
        match (desc & DESC_TYPE_MASK, level) {
            (DESC_TABLE_OR_PAGE, 3) => Entry::Leaf(desc & OA_MASK),
            (DESC_TABLE_OR_PAGE, _) => Entry::Table(desc & OA_MASK),
            (DESC_BLOCK, 1 | 2) => Entry::Leaf(desc & OA_MASK),
            _ => Entry::Invalid,
        }
    }

    /// The child table of descriptor `idx` of `node`, whose descriptor holds `pa`.
    fn child(&self, node: Node, idx: usize, pa: u64, iova: u64) -> Result<Node, PageTableError> {
        let ptr = self
            .region_ptr(node, idx)?
            .ok_or(PageTableError::Inconsistent { iova: Iova(iova) })?;
        let level = node.level + 1;
        // SAFETY: the child pointer was stored by this table next to the table descriptor
        // that holds `pa`, for a region of the length of its level that the table owns.
        let region = unsafe { RawRegion::from_parts(ptr, pa, table_region_len(level)) };
        Ok(Node { region, level })
    }

    fn region_ptr(&self, node: Node, idx: usize) -> Result<Option<NonNull<u64>>, AccessError> {
        node.region.load_ptr(self.shadow_offset(node, idx))
    }

    fn check_range(&self, iova: Iova, size: u64) -> Result<u64, PageTableError> {
        if size == 0 {
            return Err(PageTableError::ZeroSize);
        }
        if !iova.0.is_multiple_of(PAGE_SIZE) {
            return Err(PageTableError::MisalignedIova(iova));
        }
        if !size.is_multiple_of(PAGE_SIZE) {
            return Err(PageTableError::MisalignedSize(size));
        }
        match iova.0.checked_add(size) {
            Some(end) if end <= 1u64 << self.input_bits => Ok(end),
            _ => Err(PageTableError::IovaOutOfRange { iova, size }),
        }
    }

    /// Whether `[lo, hi)` with output `pa` is mapped by one leaf at `level`, the entry
    /// spanning `[start, start + 2^shift)`.
    fn fits_leaf(level: u8, lo: u64, hi: u64, pa: u64) -> bool {
        let shift = level_shift(level);
        let size = 1u64 << shift;
        match level {
            3 => true,
            1 | 2 => lo.is_multiple_of(size) && hi - lo == size && pa.is_multiple_of(size),
            _ => false,
        }
    }

    /// Walks `[lo, hi)` (inside `node`'s span) and counts the tables a `map` will create;
    /// fails on the first IOVA that is mapped. `node` is `None` below a table that does not
    /// exist yet.
    fn plan(
        &self,
        node: Option<Node>,
        level: u8,
        lo: u64,
        hi: u64,
        pa_lo: u64,
        needs: &mut Needs,
    ) -> Result<(), PageTableError> {
        if node.is_none() && level == 3 {
            return Ok(());
        }
        let size = 1u64 << level_shift(level);
        let mut va = lo;
        while va < hi {
            let end = ((va | (size - 1)) + 1).min(hi);
            let pa = pa_lo + (va - lo);
            let entry = match node {
                Some(n) => {
                    let idx = self.index(n, va);
                    match Self::classify(level, n.region.load(idx)?) {
                        Entry::Table(child_pa) => Some(self.child(n, idx, child_pa, va)?),
                        Entry::Leaf(_) => {
                            return Err(PageTableError::AlreadyMapped { iova: Iova(va) });
                        }
                        Entry::Invalid => None,
                    }
                }
                None => None,
            };
            match entry {
                Some(child) => self.plan(Some(child), level + 1, va, end, pa, needs)?,
                None if Self::fits_leaf(level, va, end, pa) => {}
                None => {
                    if level + 1 == 3 {
                        needs.leaf += 1;
                    } else {
                        needs.inner += 1;
                    }
                    self.plan(None, level + 1, va, end, pa, needs)?;
                }
            }
            va = end;
        }
        Ok(())
    }

    /// Writes the mappings of `[lo, hi)` into `node` (live: published to the SMMU, so
    /// changed words are cleaned here; otherwise the caller cleans the whole new table
    /// before publishing it).
    #[allow(clippy::too_many_arguments, reason = "one recursive step of `map`")]
    fn fill<M: TableMemory + ?Sized>(
        &self,
        mem: &M,
        node: Node,
        live: bool,
        lo: u64,
        hi: u64,
        pa_lo: u64,
        attrs: u64,
        pre: &mut Prealloc,
    ) -> Result<(), PageTableError> {
        let level = node.level;
        let size = 1u64 << level_shift(level);
        let mut dirty = Dirty::default();
        let mut va = lo;
        let result = (|| {
            while va < hi {
                let end = ((va | (size - 1)) + 1).min(hi);
                let pa = pa_lo + (va - lo);
                let idx = self.index(node, va);
                match Self::classify(level, node.region.load(idx)?) {
                    Entry::Leaf(_) => return Err(PageTableError::AlreadyMapped { iova: Iova(va) }),
                    Entry::Table(child_pa) => {
                        let child = self.child(node, idx, child_pa, va)?;
                        self.fill(mem, child, true, va, end, pa, attrs, pre)?;
                    }
                    Entry::Invalid if Self::fits_leaf(level, va, end, pa) => {
                        let kind = if level == 3 {
                            DESC_TABLE_OR_PAGE
                        } else {
                            DESC_BLOCK
                        };
                        node.region.store(idx, (pa & OA_MASK) | attrs | kind)?;
                        dirty.mark(idx);
                    }
                    Entry::Invalid => {
                        let child_level = level + 1;
                        let list = if child_level == 3 {
                            &mut pre.leaf
                        } else {
                            &mut pre.inner
                        };
                        let region = list
                            .pop()?
                            .ok_or(PageTableError::Inconsistent { iova: Iova(va) })?;
                        let child = Node {
                            region,
                            level: child_level,
                        };
                        if let Err(e) = self.fill(mem, child, false, va, end, pa, attrs, pre) {
                            // SAFETY: the new subtree was never published.
                            unsafe { self.free_tree(mem, child) };
                            return Err(e);
                        }
                        if self.coherency == Coherency::NonCoherent {
                            region.clean(mem, 0, TABLE_BYTES);
                        }
                        node.region
                            .store_ptr(self.shadow_offset(node, idx), Some(region.ptr()))?;
                        node.region
                            .store(idx, (region.pa() & OA_MASK) | DESC_TABLE_OR_PAGE)?;
                        dirty.mark(idx);
                    }
                }
                va = end;
            }
            Ok(())
        })();
        if live
            && self.coherency == Coherency::NonCoherent
            && let Dirty(Some((first, last))) = dirty
        {
            node.region.clean(mem, first * 8, (last - first + 1) * 8);
        }
        result
    }

    /// Checks that unmapping `[lo, hi)` splits no block.
    fn check_unmap(&self, node: Node, lo: u64, hi: u64) -> Result<(), PageTableError> {
        let size = 1u64 << level_shift(node.level);
        let mut va = lo;
        while va < hi {
            let base = va & !(size - 1);
            let end = (base + size).min(hi);
            let idx = self.index(node, va);
            match Self::classify(node.level, node.region.load(idx)?) {
                Entry::Leaf(_) if va != base || end != base + size => {
                    return Err(PageTableError::PartialBlock { iova: Iova(base) });
                }
                Entry::Table(child_pa) => {
                    let child = self.child(node, idx, child_pa, va)?;
                    self.check_unmap(child, va, end)?;
                }
                Entry::Leaf(_) | Entry::Invalid => {}
            }
            va = end;
        }
        Ok(())
    }

    /// Whether every descriptor of a (non-start) table is zero.
    fn is_empty(node: Node) -> Result<bool, AccessError> {
        for idx in 0..ENTRIES {
            if node.region.load(idx)? != 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Clears the leaves of `[lo, hi)` under `node`, unlinking tables that become empty.
    /// Returns the bytes that were mapped.
    fn clear<M: TableMemory + ?Sized>(
        &mut self,
        mem: &M,
        node: Node,
        lo: u64,
        hi: u64,
    ) -> Result<u64, PageTableError> {
        let size = 1u64 << level_shift(node.level);
        let mut dirty = Dirty::default();
        let mut bytes = 0u64;
        let mut va = lo;
        let result = (|| {
            while va < hi {
                let base = va & !(size - 1);
                let end = (base + size).min(hi);
                let idx = self.index(node, va);
                match Self::classify(node.level, node.region.load(idx)?) {
                    Entry::Leaf(_) => {
                        node.region.store(idx, 0)?;
                        dirty.mark(idx);
                        bytes += size;
                    }
                    Entry::Table(child_pa) => {
                        let child = self.child(node, idx, child_pa, va)?;
                        bytes += self.clear(mem, child, va, end)?;
                        if Self::is_empty(child)? {
                            node.region.store(idx, 0)?;
                            dirty.mark(idx);
                            node.region.store_ptr(self.shadow_offset(node, idx), None)?;
                            self.detached.push(child.region)?;
                        }
                    }
                    Entry::Invalid => {}
                }
                va = end;
            }
            Ok(())
        })();
        if self.coherency == Coherency::NonCoherent
            && let Dirty(Some((first, last))) = dirty
        {
            node.region.clean(mem, first * 8, (last - first + 1) * 8);
        }
        result.map(|()| bytes)
    }

    /// Maps `size` bytes at `iova` to `pa`; see [`IoPageTable::map`].
    ///
    /// # Errors
    ///
    /// See [`PageTableError`]; on error nothing was written.
    pub fn map<M: TableMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: Iova,
        pa: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Result<(), PageTableError> {
        let end = self.check_range(iova, size)?;
        if !pa.0.is_multiple_of(PAGE_SIZE) {
            return Err(PageTableError::MisalignedPa(pa));
        }
        match pa.0.checked_add(size) {
            Some(pa_end) if pa_end <= 1u64 << self.oas.bits() => {}
            _ => return Err(PageTableError::PaOutOfRange { pa, size }),
        }
        let attrs = self.leaf_attrs(prot)?;
        let root = self.root_node();

        // 1. Check the range and count the tables to create; nothing is written.
        let mut needs = Needs::default();
        self.plan(Some(root), root.level, iova.0, end, pa.0, &mut needs)?;

        // 2. Allocate them all (unpublished; freed again if any allocation fails).
        let mut pre = Prealloc::default();
        let oas_bits = self.oas.bits();
        let allocated = (|| {
            for _ in 0..needs.inner {
                let r = alloc_table(mem, 2 * TABLE_BYTES, TABLE_BYTES, oas_bits)?;
                pre.inner.push(r)?;
            }
            for _ in 0..needs.leaf {
                let r = alloc_table(mem, TABLE_BYTES, TABLE_BYTES, oas_bits)?;
                pre.leaf.push(r)?;
            }
            Ok::<(), PageTableError>(())
        })();

        // 3. Write: new tables are filled and cleaned before their table descriptor is
        //    stored. This cannot fail on a consistent table; if it does, undo.
        let result =
            allocated.and_then(|()| self.fill(mem, root, true, iova.0, end, pa.0, attrs, &mut pre));
        if result.is_err() && allocated.is_ok() {
            // Everything in the range was written by this call (the plan found it empty).
            let _ = self.clear(mem, root, iova.0, end);
        }
        // SAFETY: whatever is left on the preallocation lists was never published.
        unsafe {
            pre.inner.free_all(mem);
            pre.leaf.free_all(mem);
        }
        result
    }

    /// Unmaps `iova .. iova + size`; see [`IoPageTable::unmap`].
    ///
    /// # Errors
    ///
    /// See [`PageTableError`]; on error nothing was changed.
    pub fn unmap<M: TableMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: Iova,
        size: u64,
    ) -> Result<u64, PageTableError> {
        let end = self.check_range(iova, size)?;
        let root = self.root_node();
        self.check_unmap(root, iova.0, end)?;
        self.clear(mem, root, iova.0, end)
    }

    /// The physical address `iova` translates to; see [`IoPageTable::iova_to_phys`].
    /// Never allocates; `mem` is not used (the table keeps CPU pointers to its tables).
    #[must_use]
    pub fn iova_to_phys<M: TableMemory + ?Sized>(&self, mem: &M, iova: Iova) -> Option<PhysAddr> {
        let _ = mem;
        if iova.0 >> self.input_bits != 0 {
            return None;
        }
        let mut node = self.root_node();
        loop {
            let idx = self.index(node, iova.0);
            match Self::classify(node.level, node.region.load(idx).ok()?) {
                Entry::Invalid => return None,
                Entry::Leaf(oa) => {
                    let mask = (1u64 << level_shift(node.level)) - 1;
                    return Some(PhysAddr((oa & !mask) | (iova.0 & mask)));
                }
                Entry::Table(pa) => node = self.child(node, idx, pa, iova.0).ok()?,
            }
        }
    }

    /// Frees the tables unlinked by earlier unmaps; see [`IoPageTable::reclaim`].
    ///
    /// # Safety
    ///
    /// See [`IoPageTable::reclaim`].
    pub unsafe fn reclaim<M: TableMemory + ?Sized>(&mut self, mem: &M) {
        // SAFETY: forwarded from the caller.
        unsafe { self.detached.free_all(mem) };
    }

    /// Frees a table and every table below it.
    ///
    /// # Safety
    ///
    /// The SMMU no longer reads any of them, and `node` is not used afterwards.
    unsafe fn free_tree<M: TableMemory + ?Sized>(&self, mem: &M, node: Node) {
        if node.level < 3 {
            let entries = if node.level == self.start_level {
                self.root_entries
            } else {
                ENTRIES
            };
            for idx in 0..entries {
                if let Ok(Entry::Table(pa)) =
                    node.region.load(idx).map(|d| Self::classify(node.level, d))
                    && let Ok(child) = self.child(node, idx, pa, 0)
                {
                    // SAFETY: forwarded from the caller; each child is reached once.
                    unsafe { self.free_tree(mem, child) };
                }
            }
        }
        // SAFETY: forwarded from the caller; the region is owned by this table.
        unsafe { mem.free(node.region.into_region()) };
    }

    /// Frees every table; see [`IoPageTable::release`].
    ///
    /// # Safety
    ///
    /// See [`IoPageTable::release`].
    pub unsafe fn release<M: TableMemory + ?Sized>(mut self, mem: &M) {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.detached.free_all(mem);
            self.free_tree(mem, self.root_node());
        }
    }
}

impl<M: TableMemory + ?Sized> IoPageTable<M> for Aarch64PageTable {
    fn config(&self) -> PageTableConfig {
        Aarch64PageTable::config(self)
    }

    fn map(
        &mut self,
        mem: &M,
        iova: Iova,
        pa: PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Result<(), PageTableError> {
        Aarch64PageTable::map(self, mem, iova, pa, size, prot)
    }

    fn unmap(&mut self, mem: &M, iova: Iova, size: u64) -> Result<u64, PageTableError> {
        Aarch64PageTable::unmap(self, mem, iova, size)
    }

    fn iova_to_phys(&self, mem: &M, iova: Iova) -> Option<PhysAddr> {
        Aarch64PageTable::iova_to_phys(self, mem, iova)
    }

    unsafe fn reclaim(&mut self, mem: &M) {
        // SAFETY: forwarded from the caller.
        unsafe { Aarch64PageTable::reclaim(self, mem) }
    }

    unsafe fn release(self, mem: &M) {
        // SAFETY: forwarded from the caller.
        unsafe { Aarch64PageTable::release(self, mem) }
    }
}
