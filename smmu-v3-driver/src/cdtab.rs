//! Context-descriptor tables of a master (spec smmuv3.md §2.5, §2.6) and the stage 1 CD
//! of a paging domain.
//!
//! A [`CdTable`] is what STE.S1ContextPtr points to:
//!
//! | SubstreamID bits | layout | S1Fmt | S1CDMax |
//! |---|---|---|---|
//! | 0 | one CD (64 bytes) | linear (ignored) | 0 |
//! | 1..=10 | linear table of 2^bits CDs, aligned to its size | linear | bits |
//! | 11..=20, CD2L supported | L1CD table of 2^(bits − 10) descriptors; 64 KiB leaves of 1024 CDs | 2 (64 KiB leaves) | bits |
//! | 11..=20, no CD2L | capped: linear table of 1024 CDs | linear | 10 |
//!
//! Leaves are allocated when a SubstreamID of theirs is first written with a valid CD:
//! the leaf comes zeroed (all CDs invalid) from [`TableMemory::alloc_zeroed`], and only
//! then is its L1CD (V = 1, L2Ptr) stored with one 64-bit store (and cleaned when the SMMU
//! is not coherent). CDs are written through smmu-strtab's hitless entry writer
//! ([`CdSlot`]), with the driver's [`SyncHook`] issuing `CFGI_CD` + `CMD_SYNC` after each
//! step, so a clear or an ASID change follows the CD rules of spec §8.
//!
//! [`stage1_cd`] builds the CD of a stage 1 paging domain from its
//! [`PageTableConfig`].

use alloc::boxed::Box;

use smmu_regs::cd::{
    Cd, CdIndex, L1Cd, Stage1CdConfig, cd_index, context_table_align, context_table_size,
    l1_table_entries,
};
use smmu_regs::ste::{S1Dss, S1Fmt, Stage1Config};
use smmu_regs::{Asid, PhysAddr, SubstreamId};
use smmu_strtab::{
    AccessError, CdSlot, Coherency, DmaRegion, MemoryError, SyncHook, TableMemory, WriteError,
    WriteReport, cd_used,
};

use crate::pgtable::raw;
use crate::pgtable::{PageTableConfig, Stage};

/// Largest SubstreamID size (IDR1.SSIDSIZE is at most 20).
pub const MAX_SSID_BITS: u8 = 20;
/// Largest number of SubstreamID bits kept in a linear table (1024 CDs, 64 KiB), as Linux.
pub const LINEAR_MAX_SSID_BITS: u8 = 10;
/// Bytes of one leaf table with S1Fmt = 2: 1024 CDs.
const LEAF_BYTES: usize = 64 * 1024;
/// Bytes of one CD.
const CD_BYTES: usize = 64;

/// Errors of CD-table operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CdTableError {
    /// More than [`MAX_SSID_BITS`] SubstreamID bits.
    #[error("SubstreamID size {bits} is above 20 bits")]
    SsidBits {
        /// The size given.
        bits: u8,
    },
    /// The SubstreamID is not below 2^S1CDMax.
    #[error("{0} is beyond the CD table")]
    SsidOutOfRange(SubstreamId),
    /// Allocating table memory failed.
    #[error("allocating a CD table failed: {0}")]
    NoMemory(#[from] MemoryError),
    /// The memory returned does not have the requested length or alignment; it was freed
    /// again.
    #[error("CD table memory at {0} is not usable")]
    BadTableMemory(PhysAddr),
    /// [`stage1_cd`] was given a stage 2 page table.
    #[error("a stage 1 CD needs a stage 1 page table")]
    WrongStage,
    /// A field does not fit its encoding.
    #[error(transparent)]
    Format(#[from] smmu_regs::Error),
    /// Internal bounds check failed.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// Errors of [`CdTable::write_cd`]: a table error, or the entry writer's (which carries the
/// sync hook's error `E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CdWriteError<E> {
    /// The SubstreamID, the memory or the table failed; nothing was written.
    #[error(transparent)]
    Table(CdTableError),
    /// The entry writer failed (bad target, or the hook failed part-way; the CD is then
    /// in the state of the last completed step, never a mixed one).
    #[error("writing the CD failed")]
    Write(WriteError<E>),
}

impl<E> From<CdTableError> for CdWriteError<E> {
    fn from(e: CdTableError) -> Self {
        Self::Table(e)
    }
}

impl<E> From<WriteError<E>> for CdWriteError<E> {
    fn from(e: WriteError<E>) -> Self {
        Self::Write(e)
    }
}

/// The CD table of one master: linear, or 2-level with 64 KiB leaves (see the
/// [module documentation](self)).
///
/// Dropping it without [`CdTable::release`] leaks its memory; it is never unsafe.
#[derive(Debug)]
pub struct CdTable {
    /// The linear CD table, or the L1CD table.
    main: DmaRegion,
    /// 2-level only: the leaf of each L1CD, once allocated.
    leaves: Box<[Option<DmaRegion>]>,
    fmt: S1Fmt,
    s1cdmax: u8,
    coherency: Coherency,
}

fn alloc_checked<M: TableMemory + ?Sized>(
    mem: &M,
    len: usize,
    align: usize,
) -> Result<DmaRegion, CdTableError> {
    let region = mem.alloc_zeroed(len, align)?;
    if region.len() != len || !region.pa().is_aligned(align as u64) {
        let pa = region.pa();
        // SAFETY: just returned by `alloc_zeroed`, never published, freed once.
        unsafe { mem.free(region) };
        return Err(CdTableError::BadTableMemory(pa));
    }
    Ok(region)
}

impl CdTable {
    /// Allocates the CD table for a master with `ssid_bits` SubstreamID bits (the minimum
    /// of the master's PASID width and IDR1.SSIDSIZE), on an SMMU with or without 2-level
    /// CD tables (IDR0.CD2L). See the [module documentation](self) for the layout.
    ///
    /// # Errors
    ///
    /// [`CdTableError::SsidBits`], [`CdTableError::NoMemory`],
    /// [`CdTableError::BadTableMemory`].
    pub fn new<M: TableMemory + ?Sized>(
        mem: &M,
        ssid_bits: u8,
        cd2l_supported: bool,
        coherency: Coherency,
    ) -> Result<Self, CdTableError> {
        if ssid_bits > MAX_SSID_BITS {
            return Err(CdTableError::SsidBits { bits: ssid_bits });
        }
        let (fmt, s1cdmax) = if ssid_bits <= LINEAR_MAX_SSID_BITS {
            (S1Fmt::Linear, ssid_bits)
        } else if cd2l_supported {
            (S1Fmt::TwoLevel64K, ssid_bits)
        } else {
            (S1Fmt::Linear, LINEAR_MAX_SSID_BITS)
        };
        let bad = CdTableError::SsidBits { bits: ssid_bits };
        let size = context_table_size(fmt, s1cdmax).ok_or(bad)?;
        let align = context_table_align(fmt, s1cdmax).ok_or(bad)?;
        let size = usize::try_from(size).map_err(|_| bad)?;
        let align = usize::try_from(align).map_err(|_| bad)?;
        let leaves = match (fmt, l1_table_entries(fmt, s1cdmax)) {
            (S1Fmt::TwoLevel64K, Some(n)) => (0..n).map(|_| None).collect(),
            _ => Box::default(),
        };
        let main = alloc_checked(mem, size, align)?;
        Ok(Self {
            main,
            leaves,
            fmt,
            s1cdmax,
            coherency,
        })
    }

    /// STE.S1ContextPtr: the CD, linear CD table or L1CD table.
    #[must_use]
    pub fn base(&self) -> PhysAddr {
        self.main.pa()
    }

    /// STE.S1Fmt: [`S1Fmt::Linear`] or [`S1Fmt::TwoLevel64K`].
    #[must_use]
    pub fn s1fmt(&self) -> S1Fmt {
        self.fmt
    }

    /// STE.S1CDMax: log2 of the number of CDs (0: a single CD, substreams disabled).
    #[must_use]
    pub fn s1cdmax(&self) -> u8 {
        self.s1cdmax
    }

    /// Whether the table is 2-level.
    #[must_use]
    pub fn is_two_level(&self) -> bool {
        self.fmt == S1Fmt::TwoLevel64K
    }

    /// Number of leaf tables allocated so far (0 for a linear table).
    #[must_use]
    pub fn leaf_count(&self) -> usize {
        self.leaves.iter().filter(|l| l.is_some()).count()
    }

    /// The stage 1 part of the master's STE for this table ([`Stage1Config::new`]'s
    /// defaults otherwise). With substreams (S1CDMax > 0), S1DSS = "use CD 0", so
    /// traffic without a SubstreamID uses the CD of SubstreamID 0 (the default domain), as
    /// Linux does.
    #[must_use]
    pub fn stage1_config(&self) -> Stage1Config {
        let mut s1 = Stage1Config::new(self.base());
        s1.fmt = self.fmt;
        s1.cd_max = self.s1cdmax;
        if self.s1cdmax > 0 {
            s1.dss = S1Dss::Substream0;
        }
        s1
    }

    /// Where the CD of `ssid` is: its region and entry index, or `None` for a leaf that
    /// is not allocated.
    fn locate(&self, ssid: SubstreamId) -> Result<Option<(&DmaRegion, usize)>, CdTableError> {
        match cd_index(self.fmt, self.s1cdmax, ssid) {
            None => Err(CdTableError::SsidOutOfRange(ssid)),
            Some(CdIndex::Linear(i)) => Ok(Some((&self.main, i as usize))),
            Some(CdIndex::TwoLevel { l1, l2 }) => {
                let leaf = self
                    .leaves
                    .get(l1 as usize)
                    .ok_or(CdTableError::SsidOutOfRange(ssid))?;
                Ok(leaf.as_ref().map(|r| (r, l2 as usize)))
            }
        }
    }

    /// Allocates the leaf for L1 index `l1` and publishes its L1CD.
    fn install_leaf<M: TableMemory + ?Sized>(
        &mut self,
        mem: &M,
        l1: usize,
    ) -> Result<(), CdTableError> {
        if self.leaves.get(l1).is_none() {
            return Err(AccessError {
                index: l1,
                len: self.main.len(),
            }
            .into());
        }
        // Zeroed for the CPU and the SMMU: every CD of the leaf is invalid.
        let leaf = alloc_checked(mem, LEAF_BYTES, LEAF_BYTES)?;
        let desc = match L1Cd::new(leaf.pa(), S1Fmt::TwoLevel64K) {
            Ok(d) => d.raw(),
            Err(e) => {
                // SAFETY: never published, freed once.
                unsafe { mem.free(leaf) };
                return Err(e.into());
            }
        };
        if let Err(e) = raw::store(&self.main, l1, desc) {
            // SAFETY: the store failed, so the leaf was never published.
            unsafe { mem.free(leaf) };
            return Err(e.into());
        }
        if self.coherency == Coherency::NonCoherent {
            mem.clean(&self.main, l1 * 8, 8);
        }
        if let Some(slot) = self.leaves.get_mut(l1) {
            *slot = Some(leaf);
        }
        Ok(())
    }

    /// Rewrites the CD of `ssid` to `target` with the hitless entry writer (spec §8.1),
    /// calling `hook` (`CFGI_CD` for this StreamID and SubstreamID + `CMD_SYNC`) after each
    /// step, and returns the writer's report.
    ///
    /// In a 2-level table the leaf is allocated and published first if `target` is valid;
    /// writing an all-zero CD to a SubstreamID whose leaf is not allocated does nothing.
    ///
    /// # Errors
    ///
    /// [`CdWriteError::Table`] for a SubstreamID beyond the table or an allocation failure
    /// (nothing written); [`CdWriteError::Write`] from the entry writer.
    pub fn write_cd<M: TableMemory + ?Sized, H: SyncHook>(
        &mut self,
        mem: &M,
        ssid: SubstreamId,
        target: &Cd,
        hook: &mut H,
    ) -> Result<WriteReport, CdWriteError<H::Error>> {
        let words = target.words();
        if self.locate(ssid)?.is_none() {
            if !target.is_valid() {
                // What the writer would check, without allocating a leaf for it.
                let used = cd_used(words);
                if let Some((i, (&w, &u))) = words
                    .iter()
                    .zip(used.iter())
                    .enumerate()
                    .find(|(_, (w, u))| **w & !**u != 0)
                {
                    return Err(CdWriteError::Write(WriteError::UnusedBitsSet {
                        word: i as u8,
                        bits: w & !u,
                    }));
                }
                return Ok(WriteReport {
                    syncs: 0,
                    critical: 0,
                    breaking: false,
                });
            }
            if let Some(CdIndex::TwoLevel { l1, .. }) = cd_index(self.fmt, self.s1cdmax, ssid) {
                self.install_leaf(mem, l1 as usize)?;
            }
        }
        let (region, index) = self
            .locate(ssid)?
            .ok_or(CdTableError::SsidOutOfRange(ssid))?;
        let slot = CdSlot::new(mem, region, index, self.coherency).map_err(CdTableError::from)?;
        Ok(slot.write(words, hook)?)
    }

    /// Clears (invalidates) the CD of `ssid`: [`write_cd`](Self::write_cd) of an all-zero
    /// CD.
    ///
    /// # Errors
    ///
    /// As [`write_cd`](Self::write_cd).
    pub fn clear_cd<M: TableMemory + ?Sized, H: SyncHook>(
        &mut self,
        mem: &M,
        ssid: SubstreamId,
        hook: &mut H,
    ) -> Result<WriteReport, CdWriteError<H::Error>> {
        self.write_cd(mem, ssid, &Cd::INVALID, hook)
    }

    /// The CD of `ssid` as in memory (an unallocated leaf reads as all-zero CDs), or
    /// `None` if `ssid` is beyond the table.
    #[must_use]
    pub fn read_cd(&self, ssid: SubstreamId) -> Option<[u64; 8]> {
        match self.locate(ssid).ok()? {
            None => Some([0; 8]),
            Some((region, index)) => {
                let mut words = [0u64; 8];
                for (i, w) in words.iter_mut().enumerate() {
                    *w = raw::load(region, index.checked_mul(8)?.checked_add(i)?).ok()?;
                }
                Some(words)
            }
        }
    }

    /// The physical address of the CD of `ssid`, or `None` if `ssid` is beyond the table or
    /// its leaf is not allocated.
    #[must_use]
    pub fn cd_pa(&self, ssid: SubstreamId) -> Option<PhysAddr> {
        let (region, index) = self.locate(ssid).ok()??;
        Some(region.pa().wrapping_add((index * CD_BYTES) as u64))
    }

    /// Frees the leaves and the table.
    ///
    /// # Safety
    ///
    /// No STE the SMMU may use points at this table any more, and its cached CDs were
    /// invalidated (`CFGI_STE`/`CFGI_CD_ALL` + `CMD_SYNC`): the SMMU no longer reads it.
    pub unsafe fn release<M: TableMemory + ?Sized>(self, mem: &M) {
        let Self { main, leaves, .. } = self;
        for leaf in leaves.into_vec().into_iter().flatten() {
            // SAFETY: owned by this table, freed once; the SMMU no longer reads it (caller).
            unsafe { mem.free(leaf) };
        }
        // SAFETY: as above.
        unsafe { mem.free(main) };
    }
}

/// Options of the stage 1 CD built by [`stage1_cd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stage1CdOptions {
    /// ASET: the ASID is not shared with the PE (no broadcast TLB maintenance). `true` for
    /// DMA domains; `false` for shared virtual addressing.
    pub aset: bool,
    /// R: record faults.
    pub record: bool,
    /// A: abort terminated transactions (must be `true` when IDR0.TERM_MODEL = 1).
    pub abort: bool,
    /// AFFD: Access flag faults disabled ([`Aarch64PageTable`](crate::pgtable::Aarch64PageTable)
    /// sets AF = 1 in every descriptor, so this does not matter for it).
    pub affd: bool,
    /// S: stall faulting transactions (only with IDR0.STALL_MODEL permitting it).
    pub stall: bool,
}

impl Default for Stage1CdOptions {
    /// What Linux writes for a DMA domain: ASET = 1, R = 1, A = 1, AFFD = 0, S = 0.
    fn default() -> Self {
        Self {
            aset: true,
            record: true,
            abort: true,
            affd: false,
            stall: false,
        }
    }
}

/// The stage 1 CD of a paging domain: TTB0 = the page table, EPD1 = 1, VMSAv8-64
/// (AA64 = 1), T0SZ / TG0 / IPS / IR0 / OR0 / SH0 / MAIR from `cfg`, ASID `asid`, options
/// from `opts`; little-endian, no TBI, HA = HD = 0.
///
/// # Errors
///
/// [`CdTableError::WrongStage`] for a stage 2 table; [`CdTableError::Format`] if the TTB or
/// T0SZ does not fit the CD.
pub fn stage1_cd(
    cfg: &PageTableConfig,
    asid: Asid,
    opts: &Stage1CdOptions,
) -> Result<Cd, CdTableError> {
    if cfg.stage != Stage::Stage1 {
        return Err(CdTableError::WrongStage);
    }
    let mut c = Stage1CdConfig::new(
        asid,
        cfg.ttb,
        cfg.tsz(),
        cfg.granule,
        cfg.output_size,
        cfg.mair,
    );
    c.ir0 = cfg.walk_inner;
    c.or0 = cfg.walk_outer;
    c.sh0 = cfg.walk_shareability;
    c.aset = opts.aset;
    c.record = opts.record;
    c.abort = opts.abort;
    c.affd = opts.affd;
    c.stall = opts.stall;
    c.ha = false;
    c.hd = false;
    Ok(Cd::stage1(&c)?)
}
