//! The stream table: a linear or 2-level table in memory obtained through a
//! [`TableMemory`], with O(1) lookup, per-StreamID L2 population and release.

use smmu_regs::{PhysAddr, StreamId};

use crate::access;
use crate::error::{AccessError, EnsureError, LookupError, ScanError, TableError};
use crate::geometry::{Format, Geometry, Split, StreamTableCaps, TablePolicy};
use crate::memory::{self, Coherency, DmaRegion, MemoryError, Origin, TableMemory};
use crate::regs;
use crate::slots::{L2Info, L2Ref, PrepareError, Slots};
use crate::writer::SteSlot;

/// How strictly an adopted table is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Strictness {
    /// Every layout the architecture allows: SPLIT 6, 8 or 10; any Span 1..=SPLIT+1 with
    /// the L2 table aligned to its own size; linear LOG2SIZE ≤ min(SIDSIZE, 31).
    #[default]
    Spec,
    /// Linux's rules (kdump.md §4, §17): SPLIT 8 and Span 9 only (16 KB L2 tables,
    /// 16 KB aligned); linear LOG2SIZE ≤ 25 on 2-level capable SMMUs.
    Linux,
}

/// What [`StreamTable::ensure_sid`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Ensured {
    /// The StreamID already had its STE (linear table, or L2 already present).
    Present,
    /// A fresh L2 table was allocated, filled with the default STE and published in the
    /// L1 descriptor (one 64-bit store). The SMMU may have cached the old descriptor only
    /// as "out of range", which is not cached; callers that want to be strict can still
    /// issue `CFGI_STE` with Leaf = 0.
    NewL2,
    /// Adopted table: the previous owner's L2 table was validated and mapped; its STEs and
    /// the L1 descriptor were left untouched.
    AdoptedL2,
}

/// Storage of a table, by format.
enum Storage {
    /// The STE array.
    Linear { table: DmaRegion },
    /// The L1 descriptor array and the CPU-only slot records, one per L1 index.
    TwoLevel {
        l1: DmaRegion,
        slots: Slots,
        split: Split,
    },
}

/// An SMMUv3 stream table (linear or 2-level) and the memory it lives in.
///
/// The table owns every region it uses and releases them through its [`TableMemory`] when
/// dropped (allocated regions are freed, adopted mappings are unmapped). Pass a cheap
/// handle as `M` (`&Hal`, an `Arc`, or a zero-sized HAL type). Dropping a table the SMMU
/// still walks is the caller's error: disable the SMMU (or switch STRTAB_BASE) first.
///
/// # L2 slot storage
///
/// A 2-level table must remember, for each L1 index, which L2 region backs it (Linux's
/// `l2ptrs` array). With up to 2^17 L1 descriptors that array is too large for a fixed
/// inline array, and a global allocator is not available in every kernel. The table
/// therefore keeps it in memory obtained from the same [`TableMemory`]: one 16-byte
/// record (CPU pointer + physical address/Span/origin) per L1 index, all-zero = empty.
/// Up to 512 L1 indices (8 KB; 4 KB for a typical 16-bit StreamID space with SPLIT 8)
/// the records form one array allocated together with the L1 table, and lookup is a bounds-checked read of one
/// record. Larger tables allocate a directory (4 KB at the 2^17 maximum) with the L1
/// table and each 8 KB chunk of 512 records when the first L2 table of its range is
/// created or adopted, so that creating or adopting a large table does not allocate and
/// zero 2 MB up front; their lookups read one directory entry more. This keeps the crate
/// free of `alloc`. The SMMU never sees this memory; it is read and written only by the
/// CPU.
pub struct StreamTable<M: TableMemory> {
    mem: M,
    geometry: Geometry,
    /// `geometry.num_sids()`, kept as a value so that the lookup's range check is one
    /// comparison.
    num_sids: u64,
    coherency: Coherency,
    default_ste: [u64; 8],
    strictness: Strictness,
    /// Origin of the main region (linear table or L1): `Mapped` for adopted tables.
    origin: Origin,
    storage: Storage,
}

impl<M: TableMemory> core::fmt::Debug for StreamTable<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamTable")
            .field("geometry", &self.geometry)
            .field("base", &self.base_pa())
            .field("coherency", &self.coherency)
            .field("adopted", &self.is_adopted())
            .finish_non_exhaustive()
    }
}

impl<M: TableMemory> StreamTable<M> {
    /// Allocates a new table for an SMMU with `caps`, shaped by `policy` (see
    /// [`Geometry::choose`]). A linear table is filled with the default STE; a 2-level
    /// table starts with every L1 descriptor invalid (Span 0) and gets L2 tables on demand
    /// ([`ensure_sid`](Self::ensure_sid)).
    ///
    /// # Errors
    ///
    /// [`TableError::Geometry`] or [`TableError::Alloc`].
    pub fn new(mem: M, caps: StreamTableCaps, policy: &TablePolicy) -> Result<Self, TableError> {
        let geometry = Geometry::choose(caps, policy)?;
        let default_ste = policy.default_ste.words(caps.attr_types_ovr);
        let table = memory::alloc_checked(&mem, geometry.table_bytes(), geometry.table_align())
            .map_err(TableError::Alloc)?;
        let storage = match geometry.format() {
            Format::Linear => {
                let n = geometry.table_bytes() / 64;
                let filled = (0..n).try_for_each(|i| fill_ste(&table, i, &default_ste));
                if let Err(e) = filled {
                    // SAFETY: allocated above, released once, never published.
                    unsafe { mem.free(table) };
                    return Err(e.into());
                }
                if policy.coherency == Coherency::NonCoherent {
                    mem.clean(&table, 0, table.len());
                }
                Storage::Linear { table }
            }
            Format::TwoLevel { split } => {
                let slots = match Slots::alloc(&mem, geometry.num_l1(), split) {
                    Ok(s) => s,
                    Err(e) => {
                        // SAFETY: allocated above, released once, never published.
                        unsafe { mem.free(table) };
                        return Err(TableError::Alloc(e));
                    }
                };
                Storage::TwoLevel {
                    l1: table,
                    slots,
                    split,
                }
            }
        };
        Ok(Self {
            mem,
            geometry,
            num_sids: geometry.num_sids(),
            coherency: policy.coherency,
            default_ste,
            strictness: Strictness::Spec,
            origin: Origin::Allocated,
            storage,
        })
    }

    /// Assembles a table from validated parts (used by adoption).
    pub(crate) fn from_parts(
        mem: M,
        geometry: Geometry,
        coherency: Coherency,
        default_ste: [u64; 8],
        strictness: Strictness,
        storage_main: DmaRegion,
        slots: Option<Slots>,
    ) -> Self {
        let storage = match (geometry.format(), slots) {
            (Format::TwoLevel { split }, Some(slots)) => Storage::TwoLevel {
                l1: storage_main,
                slots,
                split,
            },
            _ => Storage::Linear {
                table: storage_main,
            },
        };
        Self {
            mem,
            geometry,
            num_sids: geometry.num_sids(),
            coherency,
            default_ste,
            strictness,
            origin: Origin::Mapped,
            storage,
        }
    }

    /// The table's geometry.
    #[must_use]
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The memory the table lives in.
    #[must_use]
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Whether the table was adopted from a previous owner.
    #[must_use]
    pub fn is_adopted(&self) -> bool {
        self.origin == Origin::Mapped
    }

    /// The cache-maintenance policy.
    #[must_use]
    pub fn coherency(&self) -> Coherency {
        self.coherency
    }

    /// The STE written into fresh tables.
    #[must_use]
    pub fn default_ste(&self) -> [u64; 8] {
        self.default_ste
    }

    /// Physical address of the linear table or of the L1 table.
    #[must_use]
    pub fn base_pa(&self) -> PhysAddr {
        self.main_region().pa()
    }

    /// The STRTAB_BASE value to program (ADDR and RA).
    #[must_use]
    pub fn strtab_base(&self) -> u64 {
        self.geometry.strtab_base(self.base_pa())
    }

    /// The STRTAB_BASE_CFG value to program (FMT, SPLIT, LOG2SIZE).
    #[must_use]
    pub fn strtab_base_cfg(&self) -> u32 {
        self.geometry.strtab_base_cfg()
    }

    fn main_region(&self) -> &DmaRegion {
        match &self.storage {
            Storage::Linear { table } => table,
            Storage::TwoLevel { l1, .. } => l1,
        }
    }

    /// The STE slot of `sid`: O(1), no allocation, no panic.
    ///
    /// # Errors
    ///
    /// [`LookupError::OutOfRange`] when `sid` ≥ 2^LOG2SIZE;
    /// [`LookupError::NotPopulated`] when no L2 table backs it yet;
    /// [`LookupError::BeyondSpan`] when its adopted L2 table is too small.
    #[inline]
    pub fn ste(&self, sid: StreamId) -> Result<SteSlot<'_, M>, LookupError> {
        if u64::from(sid.0) >= self.num_sids {
            return Err(LookupError::OutOfRange {
                sid,
                log2size: self.geometry.log2size(),
            });
        }
        match &self.storage {
            Storage::Linear { table } => {
                // SAFETY: the alias lives inside the returned slot, which borrows `self`
                // (the owner) and never releases it.
                let alias = unsafe { table.alias() };
                Ok(SteSlot::from_alias(
                    &self.mem,
                    alias,
                    sid.0 as usize,
                    self.coherency,
                ))
            }
            Storage::TwoLevel { slots, split, .. } => {
                let l1 = (sid.0 >> split.bits()) as usize;
                let l2 = (sid.0 as usize) & (split.l2_entries() - 1);
                let region = match slots.lookup(l1) {
                    Ok(Some(L2Ref::Full { ptr, pa, bytes })) => {
                        // `l2 < 2^SPLIT`: inside the full L2 table.
                        // SAFETY: the record describes an L2 region of `bytes` this table
                        // owns (written when it was obtained, cleared only on release);
                        // the slot borrows `self`.
                        unsafe { access::region_from_parts(pa, ptr, bytes) }
                    }
                    Ok(Some(L2Ref::Partial(info))) => {
                        if l2 >= info.entries() {
                            return Err(LookupError::BeyondSpan {
                                sid,
                                span: info.span,
                            });
                        }
                        // SAFETY: as above, for a region of `info.bytes()`.
                        unsafe { access::region_from_parts(info.pa, info.ptr, info.bytes()) }
                    }
                    Ok(None) | Err(_) => return Err(LookupError::NotPopulated { sid }),
                };
                Ok(SteSlot::from_alias(&self.mem, region, l2, self.coherency))
            }
        }
    }

    /// Makes `sid` live: afterwards [`ste`](Self::ste) finds its STE.
    ///
    /// * Linear tables: only the range check.
    /// * 2-level tables, L2 already present: nothing to do.
    /// * Adopted 2-level tables, L2 missing: re-reads the L1 descriptor (after `invalidate`
    ///   when non-coherent). Span ≠ 0: validates it (same rules as adoption) and maps the
    ///   previous owner's L2 without touching its STEs or the L1 descriptor.
    ///   Span = 0: as for own tables.
    /// * Otherwise: allocates a fresh L2, fills it with the default STE, cleans it
    ///   (non-coherent) and publishes the L1 descriptor with one 64-bit store (cleaned
    ///   too).
    ///
    /// # Errors
    ///
    /// See [`EnsureError`]; a failure affects only the StreamIDs of that L1 range.
    pub fn ensure_sid(&mut self, sid: StreamId) -> Result<Ensured, EnsureError> {
        if !self.geometry.contains(sid.0) {
            return Err(EnsureError::OutOfRange {
                sid,
                log2size: self.geometry.log2size(),
            });
        }
        let adopted = self.is_adopted();
        let Storage::TwoLevel { l1, slots, split } = &self.storage else {
            return Ok(Ensured::Present);
        };
        let split = *split;
        let index = (sid.0 >> split.bits()) as usize;
        let l2 = (sid.0 as usize) & (split.l2_entries() - 1);
        if let Some(info) = slots.read(index)? {
            return if l2 < info.entries() {
                Ok(Ensured::Present)
            } else {
                Err(EnsureError::BeyondSpan {
                    sid,
                    span: info.span,
                })
            };
        }
        if adopted {
            if self.coherency == Coherency::NonCoherent {
                self.mem.invalidate(l1, index * 8, 8);
            }
            let desc = access::load(l1, index)?;
            if regs::l1_span(desc) != 0 {
                let (pa, span) = check_l1_desc(desc, split, self.strictness)
                    .map_err(|v| v.into_ensure(index as u32))?;
                slots
                    .prepare(&self.mem, index)
                    .map_err(PrepareError::into_ensure)?;
                let len = (1usize << (span - 1)) * 64;
                let region = memory::map_checked(&self.mem, pa, len).map_err(EnsureError::Map)?;
                if self.coherency == Coherency::NonCoherent {
                    self.mem.invalidate(&region, 0, len);
                }
                let info = L2Info {
                    ptr: region.ptr(),
                    pa,
                    span,
                    origin: Origin::Mapped,
                };
                if let Err(e) = slots.write(index, &info) {
                    // SAFETY: mapped above, not recorded, released once.
                    unsafe { self.mem.unmap(region) };
                    return Err(e.into());
                }
                return if l2 < info.entries() {
                    Ok(Ensured::AdoptedL2)
                } else {
                    Err(EnsureError::BeyondSpan { sid, span })
                };
            }
        }
        // Fresh L2: allocate, initialise, clean, then publish with one store.
        slots
            .prepare(&self.mem, index)
            .map_err(PrepareError::into_ensure)?;
        let bytes = split.l2_bytes();
        let region = memory::alloc_checked(&self.mem, bytes, bytes).map_err(EnsureError::Alloc)?;
        let init =
            (0..split.l2_entries()).try_for_each(|i| fill_ste(&region, i, &self.default_ste));
        if let Err(e) = init {
            // SAFETY: allocated above, never published, released once.
            unsafe { self.mem.free(region) };
            return Err(e.into());
        }
        if self.coherency == Coherency::NonCoherent {
            self.mem.clean(&region, 0, bytes);
        }
        let span = split.full_span();
        // `alloc_checked` verified the alignment; smmu-regs also rejects addresses above
        // bit 55, which a memory implementation could still return.
        let Some(desc) = regs::l1_encode(region.pa(), span) else {
            // SAFETY: allocated above, never published, released once.
            unsafe { self.mem.free(region) };
            return Err(EnsureError::Alloc(MemoryError::BadRegion));
        };
        let info = L2Info {
            ptr: region.ptr(),
            pa: region.pa(),
            span,
            origin: Origin::Allocated,
        };
        if let Err(e) = slots.write(index, &info) {
            // SAFETY: allocated above, never published, released once.
            unsafe { self.mem.free(region) };
            return Err(e.into());
        }
        // Order the L2 initialisation before the descriptor that publishes it (the Release
        // store orders it for CPU observers; the fence is the strongest portable barrier).
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        access::store(l1, index, desc)?;
        if self.coherency == Coherency::NonCoherent {
            self.mem.clean(l1, index * 8, 8);
        }
        Ok(Ensured::NewL2)
    }

    /// Calls `f(sid, ste)` for every valid STE (V = 1) in StreamID order, for the
    /// driver's ASID/VMID reservation scan (kdump.md §6).
    ///
    /// Linear tables are read in place. For 2-level tables, ranges with an L2 are read in
    /// place; an adopted range whose L2 was not mapped yet is validated and mapped
    /// temporarily (and unmapped again); ranges with Span 0 are skipped. Nothing fails
    /// silently: a bad descriptor or mapping failure stops the scan with its L1 index.
    ///
    /// # Errors
    ///
    /// [`ScanError::Callback`] with the callback's error, [`ScanError::Range`] for an L1
    /// range that cannot be read.
    pub fn for_each_valid_ste<E, F>(&self, mut f: F) -> Result<(), ScanError<E>>
    where
        F: FnMut(StreamId, &[u64; 8]) -> Result<(), E>,
    {
        match &self.storage {
            Storage::Linear { table } => scan_region(table, 0, table.len() / 64, &mut f),
            Storage::TwoLevel { l1, slots, split } => {
                for index in 0..self.geometry.num_l1() {
                    let first = (index as u64) << split.bits();
                    if let Some(info) = slots.read(index)? {
                        // SAFETY: an owned L2 region (see `ste`), used only during this call.
                        let region =
                            unsafe { access::region_from_parts(info.pa, info.ptr, info.bytes()) };
                        scan_region(&region, first, info.entries(), &mut f)?;
                        continue;
                    }
                    if self.coherency == Coherency::NonCoherent && self.is_adopted() {
                        self.mem.invalidate(l1, index * 8, 8);
                    }
                    let desc = access::load(l1, index)?;
                    if regs::l1_span(desc) == 0 {
                        continue;
                    }
                    let range_err = |error| ScanError::Range {
                        index: index as u32,
                        error,
                    };
                    let (pa, span) = check_l1_desc(desc, *split, self.strictness)
                        .map_err(|v| range_err(v.into_ensure(index as u32)))?;
                    let len = (1usize << (span - 1)) * 64;
                    let region = memory::map_checked(&self.mem, pa, len)
                        .map_err(|e| range_err(EnsureError::Map(e)))?;
                    if self.coherency == Coherency::NonCoherent {
                        self.mem.invalidate(&region, 0, len);
                    }
                    let result = scan_region(&region, first, len / 64, &mut f);
                    // SAFETY: mapped above for this scan only, released once.
                    unsafe { self.mem.unmap(region) };
                    result?;
                }
                Ok(())
            }
        }
    }
}

impl<M: TableMemory> Drop for StreamTable<M> {
    fn drop(&mut self) {
        if let Storage::TwoLevel { slots, .. } = &self.storage {
            // SAFETY: called once, from `drop`; the slots are not used afterwards. The
            // caller of the table guarantees the SMMU no longer walks it.
            unsafe { slots.release(&self.mem) };
        }
        let main = self.main_region();
        // SAFETY: the main region is owned by this table, obtained with `self.origin`, and
        // released once; the field is not used after `drop`.
        unsafe { memory::release(&self.mem, main.alias(), self.origin) };
    }
}

/// Writes `ste` into entry `index` of `region`, skipping zero words (the region is
/// zeroed).
fn fill_ste(region: &DmaRegion, index: usize, ste: &[u64; 8]) -> Result<(), AccessError> {
    for (w, &v) in ste.iter().enumerate() {
        if v != 0 {
            access::store(region, index * 8 + w, v)?;
        }
    }
    Ok(())
}

/// Calls `f` for every valid STE among the `count` entries of `region`, the first having
/// StreamID `first`.
fn scan_region<E, F>(
    region: &DmaRegion,
    first: u64,
    count: usize,
    f: &mut F,
) -> Result<(), ScanError<E>>
where
    F: FnMut(StreamId, &[u64; 8]) -> Result<(), E>,
{
    for i in 0..count {
        let ste = access::load_entry(region, i)?;
        if ste[0] & regs::STE_V != 0 {
            // first + i < 2^LOG2SIZE ≤ 2^32.
            let sid = StreamId((first + i as u64) as u32);
            f(sid, &ste).map_err(ScanError::Callback)?;
        }
    }
    Ok(())
}

/// A violated L1 descriptor rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L1Violation {
    SpanInvalid(u8),
    NullL2Ptr,
    L2Misaligned(PhysAddr),
}

impl PrepareError {
    fn into_ensure(self) -> EnsureError {
        match self {
            Self::Alloc(e) => EnsureError::Alloc(e),
            Self::Access(e) => e.into(),
        }
    }
}

impl L1Violation {
    fn into_ensure(self, index: u32) -> EnsureError {
        match self {
            Self::SpanInvalid(span) => EnsureError::L1SpanInvalid { index, span },
            Self::NullL2Ptr => EnsureError::L1NullL2Ptr { index },
            Self::L2Misaligned(l2ptr) => EnsureError::L2Misaligned { index, l2ptr },
        }
    }
}

/// Validates an L1 descriptor with Span ≠ 0 (kdump.md §4.2 item 8, §17 item 2):
/// Span 1..=SPLIT+1 (Spec) or exactly SPLIT+1 (Linux), a non-null L2 pointer aligned to
/// the L2 size 2^(Span−1) × 64. Returns the L2 address and Span.
pub(crate) fn check_l1_desc(
    desc: u64,
    split: Split,
    strictness: Strictness,
) -> Result<(PhysAddr, u8), L1Violation> {
    let span = regs::l1_span(desc);
    let ok = match strictness {
        Strictness::Spec => (1..=split.full_span()).contains(&span),
        Strictness::Linux => span == split.full_span(),
    };
    if !ok {
        return Err(L1Violation::SpanInvalid(span));
    }
    let l2 = regs::l1_l2ptr(desc);
    if l2.0 == 0 {
        return Err(L1Violation::NullL2Ptr);
    }
    let align = 64u64 << (span - 1);
    if !l2.is_aligned(align) {
        return Err(L1Violation::L2Misaligned(l2));
    }
    Ok((l2, span))
}
