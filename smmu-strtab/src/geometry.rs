//! Stream-table geometry: linear or 2-level, SPLIT, LOG2SIZE, the number of L1
//! descriptors, the STRTAB_BASE / STRTAB_BASE_CFG values, and the size and alignment of
//! every table (spec smmuv3.md §1.6, §2.4, §3; kdump.md §13).

use smmu_regs::PhysAddr;

use crate::error::GeometryError;
use crate::memory::Coherency;
use crate::regs;

/// Size of one STE in bytes.
pub const STE_SIZE: usize = 64;
/// Size of one L1 stream table descriptor in bytes.
pub const L1_DESC_SIZE: usize = 8;
/// The cap on L1 descriptors that Linux uses (`STRTAB_MAX_L1_ENTRIES`): 2^17.
pub const DEFAULT_MAX_L1: u32 = 1 << 17;

/// The 2-level split: StreamID bits resolved by the L2 table (STRTAB_BASE_CFG.SPLIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Split {
    /// SPLIT = 6: 4 KB L2 tables of 64 STEs.
    S6 = 6,
    /// SPLIT = 8: 16 KB L2 tables of 256 STEs (what Linux uses).
    #[default]
    S8 = 8,
    /// SPLIT = 10: 64 KB L2 tables of 1024 STEs.
    S10 = 10,
}

impl Split {
    /// The SPLIT value for a field value, or `None` for values the architecture does not
    /// define (which hardware treats as 6).
    #[must_use]
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            6 => Some(Self::S6),
            8 => Some(Self::S8),
            10 => Some(Self::S10),
            _ => None,
        }
    }

    /// The number of StreamID bits resolved by the L2 table.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self as u8
    }

    /// The Span of an L1 descriptor whose L2 table covers the whole split: SPLIT + 1.
    #[must_use]
    pub const fn full_span(self) -> u8 {
        self.bits() + 1
    }

    /// STEs in a full L2 table: 2^SPLIT.
    #[must_use]
    pub const fn l2_entries(self) -> usize {
        1 << self.bits()
    }

    /// Bytes of a full L2 table (also its required alignment).
    #[must_use]
    pub const fn l2_bytes(self) -> usize {
        self.l2_entries() * STE_SIZE
    }
}

/// Table format choice for a new table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FormatPolicy {
    /// 2-level when the SMMU supports it and StreamIDs do not fit in one L2 table
    /// (SIDSIZE > SPLIT), linear otherwise (Linux's rule).
    #[default]
    Auto,
    /// Always linear (2^SIDSIZE STEs).
    Linear,
    /// Always 2-level (fails without 2-level support or with SIDSIZE < SPLIT).
    TwoLevel,
}

/// The STE that fills fresh tables (a new linear table, every fresh L2 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DefaultSte {
    /// V = 1, Config = abort: transactions are terminated without an event.
    #[default]
    Abort,
    /// V = 1, Config = bypass (with SHCFG = "use incoming" when the SMMU has
    /// IDR1.ATTR_TYPES_OVR; the field is RES0 otherwise).
    Bypass,
}

impl DefaultSte {
    /// The 8 words of this STE for an SMMU with (or without) IDR1.ATTR_TYPES_OVR.
    #[must_use]
    pub const fn words(self, attr_types_ovr: bool) -> [u64; 8] {
        match self {
            Self::Abort => regs::STE_ABORT,
            Self::Bypass => {
                let mut ste = regs::STE_BYPASS;
                if !attr_types_ovr {
                    // SHCFG is RES0 without IDR1.ATTR_TYPES_OVR.
                    ste[1] = regs::ste::SHCFG.set(ste[1], 0);
                }
                ste
            }
        }
    }
}

/// The capability facts a stream table depends on (from IDR0/IDR1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StreamTableCaps {
    /// IDR1.SIDSIZE: StreamID bits, 0..=32.
    pub sid_bits: u8,
    /// IDR0.ST_LEVEL = 1: 2-level stream tables are supported.
    pub two_level: bool,
    /// IDR1.ATTR_TYPES_OVR: STE.SHCFG and the other type overrides are implemented.
    pub attr_types_ovr: bool,
}

impl From<&smmu_regs::caps::Capabilities> for StreamTableCaps {
    /// SIDSIZE (capped at the architected 32), ST_LEVEL and ATTR_TYPES_OVR.
    fn from(caps: &smmu_regs::caps::Capabilities) -> Self {
        Self {
            sid_bits: caps.sid_bits_clamped(),
            two_level: caps.two_level_strtab,
            attr_types_ovr: caps.attr_types_ovr,
        }
    }
}

/// Policy for a new table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TablePolicy {
    /// Linear or 2-level.
    pub format: FormatPolicy,
    /// SPLIT for 2-level tables.
    pub split: Split,
    /// Cap on the number of L1 descriptors. A 2-level table covers at most
    /// (largest power of two ≤ `max_l1`) × 2^SPLIT StreamIDs.
    pub max_l1: u32,
    /// Whether the SMMU's table walks are coherent.
    pub coherency: Coherency,
    /// The STE written into fresh tables.
    pub default_ste: DefaultSte,
}

impl Default for TablePolicy {
    fn default() -> Self {
        Self {
            format: FormatPolicy::Auto,
            split: Split::S8,
            max_l1: DEFAULT_MAX_L1,
            coherency: Coherency::Coherent,
            default_ste: DefaultSte::Abort,
        }
    }
}

/// The format-specific part of a [`Geometry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Format {
    /// One array of 2^LOG2SIZE STEs.
    Linear,
    /// An array of 2^(LOG2SIZE − SPLIT) L1 descriptors, each pointing to an L2 array of up
    /// to 2^SPLIT STEs.
    TwoLevel {
        /// The split.
        split: Split,
    },
}

/// The shape of a stream table. Invariants: LOG2SIZE ≤ 32; for 2-level tables
/// SPLIT ≤ LOG2SIZE; every table size fits in `usize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    log2size: u8,
    format: Format,
}

/// Bytes of `2^log2size` items of `2^item_log2` bytes, if it fits in `usize`.
const fn table_bytes(log2size: u8, item_log2: u8) -> Option<usize> {
    let shift = log2size as u32 + item_log2 as u32;
    if shift >= usize::BITS - 1 {
        return None;
    }
    Some(1usize << shift)
}

impl Geometry {
    /// A linear table of 2^`log2size` STEs.
    ///
    /// # Errors
    ///
    /// [`GeometryError::TooLarge`] when `log2size` > 32 or the table does not fit in the
    /// address space.
    pub const fn linear(log2size: u8) -> Result<Self, GeometryError> {
        if log2size > 32 || table_bytes(log2size, 6).is_none() {
            return Err(GeometryError::TooLarge { log2size });
        }
        Ok(Self {
            log2size,
            format: Format::Linear,
        })
    }

    /// A 2-level table covering 2^`log2size` StreamIDs with the given split.
    ///
    /// # Errors
    ///
    /// [`GeometryError::TooLarge`] when `log2size` > 32 or the L1 table does not fit in the
    /// address space; [`GeometryError::SidBitsBelowSplit`] when `log2size` < SPLIT.
    pub const fn two_level(log2size: u8, split: Split) -> Result<Self, GeometryError> {
        if log2size > 32 {
            return Err(GeometryError::TooLarge { log2size });
        }
        if log2size < split.bits() {
            return Err(GeometryError::SidBitsBelowSplit {
                sid_bits: log2size,
                split: split.bits(),
            });
        }
        if table_bytes(log2size - split.bits(), 3).is_none() {
            return Err(GeometryError::TooLarge { log2size });
        }
        Ok(Self {
            log2size,
            format: Format::TwoLevel { split },
        })
    }

    /// Chooses the geometry of a new table, as Linux does: 2-level with
    /// num_l1 = min(2^(SIDSIZE − SPLIT), max_l1 rounded down to a power of two) and
    /// LOG2SIZE = log2(num_l1) + SPLIT, or linear with LOG2SIZE = SIDSIZE.
    ///
    /// # Errors
    ///
    /// See [`GeometryError`].
    pub fn choose(caps: StreamTableCaps, policy: &TablePolicy) -> Result<Self, GeometryError> {
        let sid_bits = caps.sid_bits;
        if sid_bits > 32 {
            return Err(GeometryError::InvalidSidBits { sid_bits });
        }
        if policy.max_l1 == 0 {
            return Err(GeometryError::InvalidMaxL1);
        }
        let split = policy.split;
        let two_level = match policy.format {
            FormatPolicy::Auto => caps.two_level && sid_bits > split.bits(),
            FormatPolicy::Linear => false,
            FormatPolicy::TwoLevel => {
                if !caps.two_level {
                    return Err(GeometryError::TwoLevelUnsupported);
                }
                true
            }
        };
        if !two_level {
            return Self::linear(sid_bits);
        }
        if sid_bits < split.bits() {
            return Err(GeometryError::SidBitsBelowSplit {
                sid_bits,
                split: split.bits(),
            });
        }
        // Largest power of two ≤ max_l1 (max_l1 ≥ 1 here, so ilog2 is defined).
        let max_l1_log2 = policy.max_l1.ilog2();
        let l1_bits = u32::from(sid_bits - split.bits()).min(max_l1_log2);
        // l1_bits ≤ 31 and split ≤ 10, so this fits in u8; the sum is ≤ sid_bits ≤ 32.
        let log2size = split.bits() + l1_bits as u8;
        Self::two_level(log2size, split)
    }

    /// LOG2SIZE: StreamIDs covered are `0 .. 2^LOG2SIZE`.
    #[must_use]
    pub const fn log2size(&self) -> u8 {
        self.log2size
    }

    /// The format.
    #[must_use]
    pub const fn format(&self) -> Format {
        self.format
    }

    /// The split, for 2-level tables.
    #[must_use]
    pub const fn split(&self) -> Option<Split> {
        match self.format {
            Format::Linear => None,
            Format::TwoLevel { split } => Some(split),
        }
    }

    /// Number of StreamIDs covered: 2^LOG2SIZE.
    #[must_use]
    #[inline]
    pub const fn num_sids(&self) -> u64 {
        1u64 << self.log2size
    }

    /// Whether `sid` is below 2^LOG2SIZE.
    #[must_use]
    #[inline]
    pub const fn contains(&self, sid: u32) -> bool {
        (sid as u64) < self.num_sids()
    }

    /// Number of L1 descriptors (2-level), 2^(LOG2SIZE − SPLIT); 0 for linear tables.
    #[must_use]
    pub const fn num_l1(&self) -> usize {
        match self.format {
            Format::Linear => 0,
            // In range: checked by the constructors.
            Format::TwoLevel { split } => 1 << (self.log2size - split.bits()),
        }
    }

    /// Bytes of the table STRTAB_BASE points to: the linear STE array, or the L1 array.
    #[must_use]
    pub const fn table_bytes(&self) -> usize {
        match self.format {
            // Fits: checked by the constructors.
            Format::Linear => 1 << (self.log2size as u32 + 6),
            Format::TwoLevel { .. } => self.num_l1() * L1_DESC_SIZE,
        }
    }

    /// Alignment the SMMU requires of STRTAB_BASE: the table size (linear), or
    /// max(L1 size, 64) (2-level).
    #[must_use]
    pub const fn table_align(&self) -> usize {
        let bytes = self.table_bytes();
        if bytes < 64 { 64 } else { bytes }
    }

    /// Bytes (and alignment) of a full L2 table, for 2-level tables.
    #[must_use]
    pub const fn l2_bytes(&self) -> Option<usize> {
        match self.format {
            Format::Linear => None,
            Format::TwoLevel { split } => Some(split.l2_bytes()),
        }
    }

    /// The STRTAB_BASE_CFG value for this geometry (FMT, SPLIT, LOG2SIZE).
    #[must_use]
    pub fn strtab_base_cfg(&self) -> u32 {
        match self.format {
            Format::Linear => regs::cfg_encode(false, 0, self.log2size),
            Format::TwoLevel { split } => regs::cfg_encode(true, split.bits(), self.log2size),
        }
    }

    /// The STRTAB_BASE value for a table at `pa`: ADDR = `pa[55:6]`, RA (read-allocate
    /// hint) set as Linux does.
    #[must_use]
    pub fn strtab_base(&self, pa: PhysAddr) -> u64 {
        regs::base_encode(pa, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(sid_bits: u8, two_level: bool) -> StreamTableCaps {
        StreamTableCaps {
            sid_bits,
            two_level,
            attr_types_ovr: true,
        }
    }

    #[test]
    fn linux_sizing() {
        let p = TablePolicy::default();
        // SIDSIZE 16, 2-level: 256 L1 descriptors, LOG2SIZE 16.
        let g = Geometry::choose(caps(16, true), &p).unwrap();
        assert_eq!(g.format(), Format::TwoLevel { split: Split::S8 });
        assert_eq!(
            (g.log2size(), g.num_l1(), g.table_bytes(), g.table_align()),
            (16, 256, 2048, 2048)
        );
        assert_eq!(g.strtab_base_cfg(), (1 << 16) | (8 << 6) | 16);
        // SIDSIZE 32: capped at 2^17 L1 descriptors, LOG2SIZE 25.
        let g = Geometry::choose(caps(32, true), &p).unwrap();
        assert_eq!(
            (g.log2size(), g.num_l1(), g.table_bytes()),
            (25, 1 << 17, 1 << 20)
        );
        // SIDSIZE 8: linear fallback.
        let g = Geometry::choose(caps(8, true), &p).unwrap();
        assert_eq!(g.format(), Format::Linear);
        assert_eq!(
            (g.log2size(), g.table_bytes(), g.table_align()),
            (8, 16384, 16384)
        );
        assert_eq!(g.strtab_base_cfg(), 8);
        // Tiny tables still align to at least 64 bytes.
        let g = Geometry::two_level(8, Split::S8).unwrap();
        assert_eq!((g.num_l1(), g.table_bytes(), g.table_align()), (1, 8, 64));
    }

    #[test]
    fn policy_variants() {
        let mut p = TablePolicy {
            split: Split::S10,
            max_l1: 1000,
            ..TablePolicy::default()
        };
        let g = Geometry::choose(caps(24, true), &p).unwrap();
        // 1000 rounds down to 512 = 2^9 → LOG2SIZE 19.
        assert_eq!(
            (g.log2size(), g.num_l1(), g.l2_bytes()),
            (19, 512, Some(65536))
        );
        p.max_l1 = 0;
        assert_eq!(
            Geometry::choose(caps(24, true), &p),
            Err(GeometryError::InvalidMaxL1)
        );
        p.max_l1 = DEFAULT_MAX_L1;
        p.format = FormatPolicy::TwoLevel;
        assert_eq!(
            Geometry::choose(caps(24, false), &p),
            Err(GeometryError::TwoLevelUnsupported)
        );
        assert_eq!(
            Geometry::choose(caps(9, true), &p),
            Err(GeometryError::SidBitsBelowSplit {
                sid_bits: 9,
                split: 10
            })
        );
        assert_eq!(
            Geometry::choose(caps(33, true), &p),
            Err(GeometryError::InvalidSidBits { sid_bits: 33 })
        );
        p.format = FormatPolicy::Linear;
        let g = Geometry::choose(caps(12, true), &p).unwrap();
        assert_eq!((g.format(), g.log2size()), (Format::Linear, 12));
        assert_eq!(
            Geometry::linear(33),
            Err(GeometryError::TooLarge { log2size: 33 })
        );
        #[cfg(target_pointer_width = "64")]
        assert_eq!(
            Geometry::choose(caps(32, false), &p).unwrap().table_bytes(),
            1 << 38
        );
    }

    #[test]
    fn strtab_base_masks_and_sets_ra() {
        let g = Geometry::linear(4).unwrap();
        assert_eq!(
            g.strtab_base(PhysAddr(0x1234_5678_9ac0)),
            0x1234_5678_9ac0 | (1 << 62)
        );
        assert_eq!(
            g.strtab_base(PhysAddr(0xff00_0000_0000_007f)),
            (0x00ff_ffff_ffff_ffc0 & 0xff00_0000_0000_007f) | (1 << 62)
        );
    }

    #[test]
    fn caps_from_id_registers() {
        // IDR0.ST_LEVEL = 1 (bits [28:27]); IDR1.SIDSIZE = 20, ATTR_TYPES_OVR (bit 27).
        let c = smmu_regs::caps::Capabilities::from_raw(1 << 27, 20 | (1 << 27), 0, 0, 0);
        let caps = StreamTableCaps::from(&c);
        assert_eq!(
            caps,
            StreamTableCaps {
                sid_bits: 20,
                two_level: true,
                attr_types_ovr: true
            }
        );
        // ST_LEVEL = 0, SIDSIZE = 63 (not architected): clamped to 32.
        let c = smmu_regs::caps::Capabilities::from_raw(0, 63, 0, 0, 0);
        let caps = StreamTableCaps::from(&c);
        assert_eq!(
            caps,
            StreamTableCaps {
                sid_bits: 32,
                two_level: false,
                attr_types_ovr: false
            }
        );
    }

    #[test]
    fn default_stes() {
        assert_eq!(DefaultSte::Abort.words(true), [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            DefaultSte::Bypass.words(true),
            [9, 1 << 44, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(DefaultSte::Bypass.words(false), [9, 0, 0, 0, 0, 0, 0, 0]);
    }
}
