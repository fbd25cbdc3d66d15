//! Stream table base registers: STRTAB_BASE and STRTAB_BASE_CFG.

use modular_bitfield::prelude::*;

use crate::error::Error;
use crate::ids::PhysAddr;

/// `SMMU_STRTAB_BASE` (offset 0x080, 64-bit): stream table base address.
///
/// Writable only while CR0.SMMUEN and CR0ACK.SMMUEN are both 0 and IDR1.TABLES_PRESET
/// is 0 (see [`WriteGuard`](super::WriteGuard)).
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StrtabBase {
    #[skip]
    __: B6,
    /// \[55:6\] ADDR: bits \[55:6\] of the table address (the field value is the address
    /// shifted right by 6; see [`StrtabBase::address`]). Linux uses only \[51:6\].
    pub addr: B50,
    #[skip]
    __: B6,
    /// \[62\] RA: read-allocate hint for table accesses.
    pub ra: bool,
    #[skip]
    __: B1,
}

impl StrtabBase {
    /// Builds the register for a table at `addr` with read-allocate hint `ra`.
    ///
    /// Only the field granule (64 bytes) is checked here; the SMMU further aligns the
    /// address down to the table size (spec §3), which the caller must respect.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`] if `addr` is not 64-byte aligned, [`Error::FieldOverflow`]
    /// if it does not fit in 56 bits.
    pub fn try_new(addr: PhysAddr, ra: bool) -> Result<Self, Error> {
        let a = addr.get();
        if a & 0x3F != 0 {
            return Err(Error::Misaligned {
                field: "STRTAB_BASE.ADDR",
                value: a,
                align: 64,
            });
        }
        if a >> 56 != 0 {
            return Err(Error::FieldOverflow {
                field: "STRTAB_BASE.ADDR",
                value: a,
                bits: 56,
            });
        }
        Ok(Self::new().with_addr(a >> 6).with_ra(ra))
    }

    /// The table address (ADDR\[55:6\], low bits zero).
    #[must_use]
    pub fn address(self) -> PhysAddr {
        PhysAddr(self.addr() << 6)
    }
}

/// STRTAB_BASE_CFG.FMT: stream table format.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum StrtabFmt {
    /// 0: linear table of 64-byte STEs.
    Linear = 0,
    /// 1: 2-level table (level 1 of 8-byte L1STDs).
    TwoLevel = 1,
    /// 2: reserved, behaves as linear.
    Reserved2 = 2,
    /// 3: reserved, behaves as linear.
    Reserved3 = 3,
}

impl StrtabFmt {
    /// The format the SMMU uses: reserved encodings behave as [`StrtabFmt::Linear`].
    #[must_use]
    pub const fn effective(self) -> Self {
        match self {
            Self::TwoLevel => Self::TwoLevel,
            _ => Self::Linear,
        }
    }
}

/// `SMMU_STRTAB_BASE_CFG` (offset 0x088): stream table format and size.
///
/// FMT and SPLIT are RES0 when IDR0.ST_LEVEL = 0. A read returns the values as written;
/// use the `effective_*` helpers for the values the SMMU acts on.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StrtabBaseCfg {
    /// \[5:0\] LOG2SIZE: log2 of the number of StreamIDs.
    pub log2size: B6,
    /// \[10:6\] SPLIT: StreamID bits resolved by level 2 (6, 8 or 10; others behave as 6).
    pub split: B5,
    #[skip]
    __: B5,
    /// \[17:16\] FMT: table format.
    pub fmt: StrtabFmt,
    #[skip]
    __: B14,
}

impl StrtabBaseCfg {
    /// Largest LOG2SIZE accepted by [`StrtabBaseCfg::try_new`] (StreamIDs are at most 32
    /// bits).
    pub const MAX_LOG2SIZE: u8 = 32;

    /// Builds the register.
    ///
    /// # Errors
    ///
    /// * [`Error::InvalidValue`] if `fmt` is a reserved encoding, if `log2size` exceeds
    ///   [`Self::MAX_LOG2SIZE`], or if `fmt` is 2-level and `split` is not 6, 8 or 10;
    /// * [`Error::FieldOverflow`] if `split` does not fit in 5 bits.
    pub fn try_new(fmt: StrtabFmt, log2size: u8, split: u8) -> Result<Self, Error> {
        if !matches!(fmt, StrtabFmt::Linear | StrtabFmt::TwoLevel) {
            return Err(Error::InvalidValue {
                field: "STRTAB_BASE_CFG.FMT",
                value: fmt as u64,
            });
        }
        if log2size > Self::MAX_LOG2SIZE {
            return Err(Error::InvalidValue {
                field: "STRTAB_BASE_CFG.LOG2SIZE",
                value: log2size as u64,
            });
        }
        if split > 0x1F {
            return Err(Error::FieldOverflow {
                field: "STRTAB_BASE_CFG.SPLIT",
                value: split as u64,
                bits: 5,
            });
        }
        if matches!(fmt, StrtabFmt::TwoLevel) && !matches!(split, 6 | 8 | 10) {
            return Err(Error::InvalidValue {
                field: "STRTAB_BASE_CFG.SPLIT",
                value: split as u64,
            });
        }
        Ok(Self::new()
            .with_fmt(fmt)
            .with_log2size(log2size)
            .with_split(split))
    }

    /// The format the SMMU uses: FMT with reserved encodings treated as linear.
    #[must_use]
    pub fn effective_fmt(self) -> StrtabFmt {
        self.fmt().effective()
    }

    /// The SPLIT the SMMU uses: 6, 8 or 10 as written, any other value behaves as 6.
    #[must_use]
    pub fn effective_split(self) -> u8 {
        match self.split() {
            s @ (6 | 8 | 10) => s,
            _ => 6,
        }
    }

    /// The LOG2SIZE the SMMU uses: MIN(LOG2SIZE, IDR1.SIDSIZE).
    #[must_use]
    pub fn effective_log2size(self, sidsize: u8) -> u8 {
        self.log2size().min(sidsize)
    }
}
