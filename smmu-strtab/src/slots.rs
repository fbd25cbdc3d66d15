//! The CPU-only bookkeeping of a 2-level table: for each L1 index, which L2 region backs
//! it (Linux's `l2ptrs` array). The SMMU never sees this memory.
//!
//! One 16-byte [`SlotRecord`] per L1 index, in memory obtained from the table's
//! [`TableMemory`] (all-zero = empty), in one of two layouts:
//!
//! * **flat** (at most [`CHUNK_RECORDS`] L1 indices, e.g. 256 for 16-bit StreamIDs with
//!   SPLIT 8): one array, allocated with the table;
//! * **chunked** (larger tables, up to Linux's 2^17 L1 descriptors and beyond): a
//!   directory with one record per chunk of [`CHUNK_RECORDS`] slot records, allocated with
//!   the table; each chunk is allocated the first time one of its L1 indices gets an L2
//!   table ([`Slots::prepare`]). Creating or adopting a table with 2^17 L1 descriptors
//!   therefore allocates (and zeroes) 4 KiB instead of 2 MiB, and a lookup costs one more
//!   load from a small, hot directory.
//!
//! A record's pointer is *tagged* (bit 0 set, with provenance-preserving
//! [`map_addr`](NonNull::map_addr); region pointers are 8-byte aligned, so the bit is
//! free) when its L2 table is smaller than a full one (an adopted Span below SPLIT + 1).
//! A lookup in a full L2 table, the common case, therefore reads only the pointer: its
//! size is the table's, not decoded from `meta`.

use core::ptr::NonNull;

use smmu_regs::PhysAddr;

use crate::access::{self, SLOT_RECORD_ALIGN, SLOT_RECORD_SIZE, SlotRecord};
use crate::error::AccessError;
use crate::geometry::Split;
use crate::memory::{self, DmaRegion, MemoryError, Origin, TableMemory};

/// log2 of [`CHUNK_RECORDS`].
const CHUNK_SHIFT: u32 = 9;
/// Slot records per chunk of a chunked table, and the largest number of L1 indices kept
/// in a flat array.
pub(crate) const CHUNK_RECORDS: usize = 1 << CHUNK_SHIFT;
/// Bytes of one chunk (8 KiB).
const CHUNK_BYTES: usize = CHUNK_RECORDS * SLOT_RECORD_SIZE;
/// Alignment requested for slot memory.
const SLOTS_ALIGN: usize = if SLOT_RECORD_ALIGN > 8 {
    SLOT_RECORD_ALIGN
} else {
    8
};

/// Bit 5 of a slot record's `meta`: the L2 was mapped (adopted), not allocated.
const META_MAPPED: u64 = 1 << 5;
/// Bits \[4:0\] of `meta`: the Span.
const META_SPAN: u64 = 0x1f;
/// Bits \[63:6\] of `meta`: the L2's physical address (64-byte aligned).
const META_PA: u64 = !0x3f;
/// The pointer tag of a record whose L2 is smaller than a full L2 table.
const PARTIAL: usize = 1;

/// A decoded slot record: the L2 region backing one L1 index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L2Info {
    /// The L2's CPU pointer (untagged).
    pub(crate) ptr: NonNull<u64>,
    pub(crate) pa: PhysAddr,
    /// 1..=11 for every record this crate writes.
    pub(crate) span: u8,
    pub(crate) origin: Origin,
}

impl L2Info {
    /// Number of STEs in the L2 table: 2^(Span − 1).
    #[inline]
    pub(crate) fn entries(&self) -> usize {
        1usize << (self.span.saturating_sub(1) & 0x1f)
    }

    /// Bytes of the L2 table.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.entries() * 64
    }

    /// The record that stores this L2 in a table whose full L2 tables have Span
    /// `full_span`. `pa` is 64-byte aligned and `span` below 32 for every L2 this crate
    /// records, so the fields do not overlap.
    fn record(&self, full_span: u8) -> SlotRecord {
        let mapped = match self.origin {
            Origin::Allocated => 0,
            Origin::Mapped => META_MAPPED,
        };
        let ptr = if self.span == full_span {
            self.ptr
        } else {
            self.ptr.map_addr(|a| a | PARTIAL)
        };
        SlotRecord {
            ptr: Some(ptr),
            meta: (self.pa.0 & META_PA) | mapped | (u64::from(self.span) & META_SPAN),
        }
    }

    /// Decodes a record of a table whose full L2 tables have Span `full_span`; `None`
    /// for an empty one.
    #[inline]
    fn decode(rec: SlotRecord, full_span: u8) -> Option<Self> {
        let tagged = rec.ptr?;
        let (ptr, span) = if tagged.addr().get() & PARTIAL == 0 {
            // A full L2 table: nothing to decode for a lookup.
            (tagged, full_span)
        } else {
            // The pointer was 8-byte aligned before tagging, so it is not null untagged.
            let ptr = NonNull::new(tagged.as_ptr().map_addr(|a| a & !PARTIAL))?;
            (ptr, (rec.meta & META_SPAN) as u8)
        };
        Some(Self {
            ptr,
            pa: PhysAddr(rec.meta & META_PA),
            span,
            origin: if rec.meta & META_MAPPED != 0 {
                Origin::Mapped
            } else {
                Origin::Allocated
            },
        })
    }
}

/// What a lookup needs of a slot record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L2Ref {
    /// A full L2 table (Span SPLIT + 1, 2^SPLIT STEs): only the pointer is decoded.
    Full {
        /// CPU pointer of the L2 table.
        ptr: NonNull<u64>,
        /// Its physical address.
        pa: PhysAddr,
        /// Its size in bytes, 2^SPLIT × 64.
        bytes: usize,
    },
    /// A smaller (adopted) L2 table.
    Partial(L2Info),
}

/// The slot records of a 2-level table (see the module docs).
pub(crate) struct Slots {
    layout: Layout,
    /// SPLIT + 1: the Span of a full L2 table.
    full_span: u8,
    /// The size of a full L2 table (kept as a value: the lookup compares with it).
    full_bytes: usize,
}

/// Where the records are.
enum Layout {
    /// One record per L1 index.
    Flat(DmaRegion),
    /// One directory record per chunk: the chunk's CPU pointer (`None` until allocated)
    /// and its physical address in `meta`.
    Chunked {
        /// The directory.
        dir: DmaRegion,
    },
}

impl Slots {
    /// Allocates the zeroed (empty) slot memory for the `num_l1` L1 indices of a table
    /// with `split`: the flat array, or the directory of a chunked table.
    pub(crate) fn alloc<M: TableMemory + ?Sized>(
        mem: &M,
        num_l1: usize,
        split: Split,
    ) -> Result<Self, MemoryError> {
        let layout = if num_l1 <= CHUNK_RECORDS {
            let bytes = num_l1 * SLOT_RECORD_SIZE;
            Layout::Flat(memory::alloc_checked(mem, bytes, SLOTS_ALIGN)?)
        } else {
            let bytes = num_l1
                .div_ceil(CHUNK_RECORDS)
                .checked_mul(SLOT_RECORD_SIZE)
                .ok_or(MemoryError::Unsupported)?;
            Layout::Chunked {
                dir: memory::alloc_checked(mem, bytes, SLOTS_ALIGN)?,
            }
        };
        Ok(Self {
            layout,
            full_span: split.full_span(),
            full_bytes: split.l2_bytes(),
        })
    }

    /// The slot record of L1 index `index`, decoded; `None` when no L2 backs it.
    ///
    /// # Errors
    ///
    /// [`AccessError`] when `index` is outside the table (never for an L1 index of it).
    #[inline]
    pub(crate) fn read(&self, index: usize) -> Result<Option<L2Info>, AccessError> {
        let rec = match &self.layout {
            Layout::Flat(records) => access::slot_read(records, index)?,
            Layout::Chunked { dir } => {
                let Some(chunk) = chunk(dir, index >> CHUNK_SHIFT)? else {
                    return Ok(None);
                };
                access::slot_read(&chunk, index & (CHUNK_RECORDS - 1))?
            }
        };
        Ok(L2Info::decode(rec, self.full_span))
    }

    /// The L2 of L1 index `index` for a lookup: like [`read`](Self::read), but a full L2
    /// table is recognised from the pointer alone.
    ///
    /// # Errors
    ///
    /// [`AccessError`] when `index` is outside the table (never for an L1 index of it).
    #[inline]
    pub(crate) fn lookup(&self, index: usize) -> Result<Option<L2Ref>, AccessError> {
        let rec = match &self.layout {
            Layout::Flat(records) => access::slot_read(records, index)?,
            Layout::Chunked { dir } => {
                let Some(chunk) = chunk(dir, index >> CHUNK_SHIFT)? else {
                    return Ok(None);
                };
                access::slot_read(&chunk, index & (CHUNK_RECORDS - 1))?
            }
        };
        Ok(match rec.ptr {
            None => None,
            Some(ptr) if ptr.addr().get() & PARTIAL == 0 => Some(L2Ref::Full {
                ptr,
                pa: PhysAddr(rec.meta & META_PA),
                bytes: self.full_bytes,
            }),
            Some(_) => partial(rec, self.full_span),
        })
    }

    /// Makes sure the record of L1 index `index` has memory (allocates its chunk in a
    /// chunked table), so that a later [`write`](Self::write) cannot fail for lack of it.
    ///
    /// The caller holds `&mut` to the owning table.
    pub(crate) fn prepare<M: TableMemory + ?Sized>(
        &self,
        mem: &M,
        index: usize,
    ) -> Result<(), PrepareError> {
        let Layout::Chunked { dir } = &self.layout else {
            return Ok(());
        };
        let c = index >> CHUNK_SHIFT;
        if chunk(dir, c)?.is_some() {
            return Ok(());
        }
        let region = memory::alloc_checked(mem, CHUNK_BYTES, SLOTS_ALIGN)?;
        let entry = SlotRecord {
            ptr: Some(region.ptr()),
            meta: region.pa().0,
        };
        if let Err(e) = access::slot_write(dir, c, entry) {
            // SAFETY: allocated above, not recorded, released once.
            unsafe { mem.free(region) };
            return Err(e.into());
        }
        Ok(())
    }

    /// Records `info` as the L2 of L1 index `index`, whose memory was
    /// [`prepare`](Self::prepare)d.
    ///
    /// The caller holds `&mut` to the owning table.
    ///
    /// # Errors
    ///
    /// [`AccessError`] when the record has no memory (not prepared) or is outside the
    /// table.
    pub(crate) fn write(&self, index: usize, info: &L2Info) -> Result<(), AccessError> {
        let record = info.record(self.full_span);
        match &self.layout {
            Layout::Flat(records) => access::slot_write(records, index, record),
            Layout::Chunked { dir } => {
                let chunk = chunk(dir, index >> CHUNK_SHIFT)?.ok_or(AccessError {
                    index,
                    len: CHUNK_BYTES,
                })?;
                access::slot_write(&chunk, index & (CHUNK_RECORDS - 1), record)
            }
        }
    }

    /// Releases every recorded L2 region (by its origin), then the slot memory itself.
    ///
    /// # Safety
    ///
    /// Called once, from the owning table's `drop`, when the SMMU no longer walks the
    /// table; the slots are not used afterwards.
    pub(crate) unsafe fn release<M: TableMemory + ?Sized>(&self, mem: &M) {
        match &self.layout {
            Layout::Flat(records) => {
                // SAFETY: forwarded from the caller: the records are the table's, released
                // once.
                unsafe { release_records(mem, records, self.full_span) };
                // SAFETY: the array was allocated by `alloc` and is released once (the
                // caller's contract).
                unsafe { mem.free(records.alias()) };
            }
            Layout::Chunked { dir } => {
                for c in 0..dir.len() / SLOT_RECORD_SIZE {
                    if let Ok(Some(chunk)) = chunk(dir, c) {
                        // SAFETY: forwarded from the caller, as above.
                        unsafe { release_records(mem, &chunk, self.full_span) };
                        // SAFETY: the chunk was allocated by `prepare`, is owned by the
                        // table and released once.
                        unsafe { mem.free(chunk) };
                    }
                }
                // SAFETY: the directory was allocated by `alloc` and is released once.
                unsafe { mem.free(dir.alias()) };
            }
        }
    }
}

/// Why [`Slots::prepare`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrepareError {
    /// The chunk could not be allocated.
    Alloc(MemoryError),
    /// Internal bounds check.
    Access(AccessError),
}

impl From<MemoryError> for PrepareError {
    fn from(e: MemoryError) -> Self {
        Self::Alloc(e)
    }
}

impl From<AccessError> for PrepareError {
    fn from(e: AccessError) -> Self {
        Self::Access(e)
    }
}

/// The lookup of a record whose pointer is tagged (kept out of the lookup's loop).
#[cold]
#[inline(never)]
fn partial(rec: SlotRecord, full_span: u8) -> Option<L2Ref> {
    L2Info::decode(rec, full_span).map(L2Ref::Partial)
}

/// Chunk `c` of a chunked table's directory, `None` if not allocated yet.
#[inline]
fn chunk(dir: &DmaRegion, c: usize) -> Result<Option<DmaRegion>, AccessError> {
    let entry = access::slot_read(dir, c)?;
    Ok(entry.ptr.map(|ptr| {
        // SAFETY: a directory entry is written only by `prepare`, with the pointer and
        // physical address of a chunk of `CHUNK_BYTES` it allocated; the table owns the
        // chunk until its `drop`, and the descriptor is used within the table's borrow
        // (released only through `release`).
        unsafe { access::region_from_parts(PhysAddr(entry.meta), ptr, CHUNK_BYTES) }
    }))
}

/// Releases the L2 region of every non-empty record of `records`.
///
/// # Safety
///
/// `records` holds records of the calling table, which owns the regions they describe;
/// this runs once, when the SMMU no longer walks the table.
unsafe fn release_records<M: TableMemory + ?Sized>(mem: &M, records: &DmaRegion, full_span: u8) {
    for index in 0..records.len() / SLOT_RECORD_SIZE {
        if let Ok(Some(info)) =
            access::slot_read(records, index).map(|r| L2Info::decode(r, full_span))
        {
            // SAFETY: the record describes an L2 region this table owns; it is released
            // exactly once (records are released with the table).
            let region = unsafe { access::region_from_parts(info.pa, info.ptr, info.bytes()) };
            // SAFETY: as above; the origin recorded when it was obtained.
            unsafe { memory::release(mem, region, info.origin) };
        }
    }
}
