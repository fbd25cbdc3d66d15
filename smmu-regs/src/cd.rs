//! Context descriptors (CD, spec §2.5, Arm IHI0070 §5.4) and level-1 CD descriptors
//! (L1CD, spec §2.6, IHI0070 §5.3).
//!
//! * [`Cd`] holds a CD as `[u64; 8]`, with a typed getter and `with_*` builder for every
//!   field, raw word access that cannot panic, and typed views [`CdDw0`] … [`CdDw5`] of
//!   words 0–5 (words 6–7, the permission-indirection fields PIIU/PIIP, are raw).
//! * [`field`] gives the exact position of every CD field as a [`FieldPos`].
//! * [`Cd::stage1`] builds the usual stage 1 CD; [`Cd::check`] applies the validity rules
//!   of spec §2.5 (what makes the SMMU record `C_BAD_CD`).
//! * [`L1Cd`] and [`cd_index`] cover 2-level CD tables and SubstreamID indexing.
//!
//! Note that TG0 and TG1 use **different** encodings of the granule ([`Tg0`], [`Tg1`]).
//!
//! # Example
//!
//! ```
//! use smmu_regs::cd::{Cd, Stage1CdConfig};
//! use smmu_regs::fields::{AddressSize, Granule};
//! use smmu_regs::{Asid, PhysAddr};
//!
//! // 48-bit VA space (T0SZ = 16), 4 KB pages, 44-bit output.
//! let cfg = Stage1CdConfig::new(
//!     Asid(7),
//!     PhysAddr(0x4_0000_0000),
//!     16,
//!     Granule::Size4K,
//!     AddressSize::Bits44,
//!     0x0000_0000_0044_ff04,
//! );
//! let cd = Cd::stage1(&cfg)?;
//! assert!(cd.v() && cd.aa64() && cd.epd1());
//! let w = cd.to_words();
//! assert_eq!(w[0] >> 48, 7); // ASID
//! assert_eq!(w[1], 0x4_0000_0000); // TTB0, in place at dw1[55:4]
//! assert_eq!(w[3], 0x0000_0000_0044_ff04); // MAIR
//! # Ok::<(), smmu_regs::Error>(())
//! ```

use core::fmt;

use modular_bitfield::prelude::*;

use crate::error::Error;
use crate::fields::{AddressSize, Cacheability, FieldPos, Granule, Shareability};
use crate::ids::{Asid, PhysAddr};
use crate::ste::{
    accessors, cacheability_from_raw, check_in_place_addr, shareability_from_raw, spec_enum,
    word_array_api,
};

mod check;
mod l1cd;

pub use check::{CdCheckCaps, CdIllegal, CdStreamContext};
pub use l1cd::{
    CdIndex, L1CD_RES0, L1Cd, cd_index, context_table_align, context_table_size, l1_field,
    l1_table_entries, leaf_table_entries,
};

spec_enum! {
    /// CD.TG0, `dw0[7:6]`: granule of the TTB0 tables.
    pub enum Tg0: 2 {
        /// 0b00: 4 KB.
        Size4K = 0,
        /// 0b01: 64 KB.
        Size64K = 1,
        /// 0b10: 16 KB.
        Size16K = 2,
        /// 0b11: reserved (ILLEGAL when TTB0 is used).
        Reserved = 3,
    }
}

impl Tg0 {
    /// The granule, or `None` for the reserved encoding.
    #[must_use]
    pub const fn granule(self) -> Option<Granule> {
        match self {
            Self::Size4K => Some(Granule::Size4K),
            Self::Size16K => Some(Granule::Size16K),
            Self::Size64K => Some(Granule::Size64K),
            Self::Reserved => None,
        }
    }

    /// The TG0 encoding of a granule.
    #[must_use]
    pub const fn from_granule(granule: Granule) -> Self {
        match granule {
            Granule::Size4K => Self::Size4K,
            Granule::Size16K => Self::Size16K,
            Granule::Size64K => Self::Size64K,
        }
    }
}

spec_enum! {
    /// CD.TG1, `dw0[23:22]`: granule of the TTB1 tables. The encoding differs from
    /// [`Tg0`] (as TCR_ELx.TG1 differs from TG0).
    pub enum Tg1: 2 {
        /// 0b00: reserved (ILLEGAL when TTB1 is used).
        Reserved = 0,
        /// 0b01: 16 KB.
        Size16K = 1,
        /// 0b10: 4 KB.
        Size4K = 2,
        /// 0b11: 64 KB.
        Size64K = 3,
    }
}

impl Tg1 {
    /// The granule, or `None` for the reserved encoding.
    #[must_use]
    pub const fn granule(self) -> Option<Granule> {
        match self {
            Self::Size4K => Some(Granule::Size4K),
            Self::Size16K => Some(Granule::Size16K),
            Self::Size64K => Some(Granule::Size64K),
            Self::Reserved => None,
        }
    }

    /// The TG1 encoding of a granule.
    #[must_use]
    pub const fn from_granule(granule: Granule) -> Self {
        match granule {
            Granule::Size4K => Self::Size4K,
            Granule::Size16K => Self::Size16K,
            Granule::Size64K => Self::Size64K,
        }
    }
}

/// The position of every CD field (spec §2.5), as `FieldPos { word, lsb, width }`.
///
/// TTB0 and TTB1 hold address bits \[55:4\] in place.
pub mod field {
    use crate::fields::FieldPos;

    /// T0SZ, `dw0[5:0]`.
    pub const T0SZ: FieldPos = FieldPos::new(0, 0, 6);
    /// TG0, `dw0[7:6]`.
    pub const TG0: FieldPos = FieldPos::new(0, 6, 2);
    /// IR0, `dw0[9:8]`.
    pub const IR0: FieldPos = FieldPos::new(0, 8, 2);
    /// OR0, `dw0[11:10]`.
    pub const OR0: FieldPos = FieldPos::new(0, 10, 2);
    /// SH0, `dw0[13:12]`.
    pub const SH0: FieldPos = FieldPos::new(0, 12, 2);
    /// EPD0, `dw0[14]`.
    pub const EPD0: FieldPos = FieldPos::new(0, 14, 1);
    /// ENDI, `dw0[15]`.
    pub const ENDI: FieldPos = FieldPos::new(0, 15, 1);
    /// T1SZ, `dw0[21:16]`.
    pub const T1SZ: FieldPos = FieldPos::new(0, 16, 6);
    /// TG1, `dw0[23:22]`.
    pub const TG1: FieldPos = FieldPos::new(0, 22, 2);
    /// IR1, `dw0[25:24]`.
    pub const IR1: FieldPos = FieldPos::new(0, 24, 2);
    /// OR1, `dw0[27:26]`.
    pub const OR1: FieldPos = FieldPos::new(0, 26, 2);
    /// SH1, `dw0[29:28]`.
    pub const SH1: FieldPos = FieldPos::new(0, 28, 2);
    /// EPD1, `dw0[30]`.
    pub const EPD1: FieldPos = FieldPos::new(0, 30, 1);
    /// V, `dw0[31]`.
    pub const V: FieldPos = FieldPos::new(0, 31, 1);
    /// IPS, `dw0[34:32]`.
    pub const IPS: FieldPos = FieldPos::new(0, 32, 3);
    /// AFFD, `dw0[35]`.
    pub const AFFD: FieldPos = FieldPos::new(0, 35, 1);
    /// WXN, `dw0[36]`.
    pub const WXN: FieldPos = FieldPos::new(0, 36, 1);
    /// UWXN, `dw0[37]`.
    pub const UWXN: FieldPos = FieldPos::new(0, 37, 1);
    /// TBI0, `dw0[38]`.
    pub const TBI0: FieldPos = FieldPos::new(0, 38, 1);
    /// TBI1, `dw0[39]`.
    pub const TBI1: FieldPos = FieldPos::new(0, 39, 1);
    /// PAN, `dw0[40]`.
    pub const PAN: FieldPos = FieldPos::new(0, 40, 1);
    /// AA64, `dw0[41]`.
    pub const AA64: FieldPos = FieldPos::new(0, 41, 1);
    /// HD, `dw0[42]`.
    pub const HD: FieldPos = FieldPos::new(0, 42, 1);
    /// HA, `dw0[43]`.
    pub const HA: FieldPos = FieldPos::new(0, 43, 1);
    /// S, `dw0[44]`.
    pub const S: FieldPos = FieldPos::new(0, 44, 1);
    /// R, `dw0[45]`.
    pub const R: FieldPos = FieldPos::new(0, 45, 1);
    /// A, `dw0[46]`.
    pub const A: FieldPos = FieldPos::new(0, 46, 1);
    /// ASET, `dw0[47]`.
    pub const ASET: FieldPos = FieldPos::new(0, 47, 1);
    /// ASID, `dw0[63:48]`.
    pub const ASID: FieldPos = FieldPos::new(0, 48, 16);

    /// NSCFG0, `dw1[0]`.
    pub const NSCFG0: FieldPos = FieldPos::new(1, 0, 1);
    /// HAD0, `dw1[1]`.
    pub const HAD0: FieldPos = FieldPos::new(1, 1, 1);
    /// E0PD0, `dw1[2]`.
    pub const E0PD0: FieldPos = FieldPos::new(1, 2, 1);
    /// HAFT, `dw1[3]`.
    pub const HAFT: FieldPos = FieldPos::new(1, 3, 1);
    /// TTB0, `dw1[55:4]` (address bits \[55:4\]).
    pub const TTB0: FieldPos = FieldPos::new(1, 4, 52);
    /// PnCH, `dw1[58]`.
    pub const PNCH: FieldPos = FieldPos::new(1, 58, 1);
    /// EPAN, `dw1[59]`.
    pub const EPAN: FieldPos = FieldPos::new(1, 59, 1);
    /// HWU059..HWU062, `dw1[63:60]` (bit 60 is HWU059).
    pub const HWU0: FieldPos = FieldPos::new(1, 60, 4);

    /// NSCFG1, `dw2[0]`.
    pub const NSCFG1: FieldPos = FieldPos::new(2, 0, 1);
    /// HAD1, `dw2[1]`.
    pub const HAD1: FieldPos = FieldPos::new(2, 1, 1);
    /// E0PD1, `dw2[2]`.
    pub const E0PD1: FieldPos = FieldPos::new(2, 2, 1);
    /// AIE, `dw2[3]`.
    pub const AIE: FieldPos = FieldPos::new(2, 3, 1);
    /// TTB1, `dw2[55:4]` (address bits \[55:4\]).
    pub const TTB1: FieldPos = FieldPos::new(2, 4, 52);
    /// DS, `dw2[58]`.
    pub const DS: FieldPos = FieldPos::new(2, 58, 1);
    /// PIE, `dw2[59]`.
    pub const PIE: FieldPos = FieldPos::new(2, 59, 1);
    /// HWU159..HWU162, `dw2[63:60]` (bit 60 is HWU159).
    pub const HWU1: FieldPos = FieldPos::new(2, 60, 4);

    /// MAIR0, `dw3[31:0]`.
    pub const MAIR0: FieldPos = FieldPos::new(3, 0, 32);
    /// MAIR1, `dw3[63:32]`.
    pub const MAIR1: FieldPos = FieldPos::new(3, 32, 32);
    /// AMAIR0, `dw4[31:0]`.
    pub const AMAIR0: FieldPos = FieldPos::new(4, 0, 32);
    /// AMAIR1, `dw4[63:32]`.
    pub const AMAIR1: FieldPos = FieldPos::new(4, 32, 32);
    /// IMPLEMENTATION DEFINED, `dw5[31:0]`.
    pub const IMPDEF: FieldPos = FieldPos::new(5, 0, 32);
    /// PARTID, `dw5[47:32]`.
    pub const PARTID: FieldPos = FieldPos::new(5, 32, 16);
    /// PMG, `dw5[55:48]`.
    pub const PMG: FieldPos = FieldPos::new(5, 48, 8);
    /// PIIU0..PIIU15 (3 bits each), `dw6[47:0]`.
    pub const PIIU: FieldPos = FieldPos::new(6, 0, 48);
    /// PIIP0..PIIP15 (3 bits each), `dw7[47:0]`.
    pub const PIIP: FieldPos = FieldPos::new(7, 0, 48);

    /// The whole 64-bit MAIR, `dw3[63:0]` = {MAIR1, MAIR0}. A group, not in [`ALL`].
    pub const MAIR: FieldPos = FieldPos::new(3, 0, 64);
    /// The whole 64-bit AMAIR, `dw4[63:0]` = {AMAIR1, AMAIR0}. A group, not in [`ALL`].
    pub const AMAIR: FieldPos = FieldPos::new(4, 0, 64);

    /// Every field with its spec name, in structure order. The fields are disjoint, and
    /// together with [`super::RES0`] they cover all 512 bits.
    pub const ALL: &[(&str, FieldPos)] = &[
        ("T0SZ", T0SZ),
        ("TG0", TG0),
        ("IR0", IR0),
        ("OR0", OR0),
        ("SH0", SH0),
        ("EPD0", EPD0),
        ("ENDI", ENDI),
        ("T1SZ", T1SZ),
        ("TG1", TG1),
        ("IR1", IR1),
        ("OR1", OR1),
        ("SH1", SH1),
        ("EPD1", EPD1),
        ("V", V),
        ("IPS", IPS),
        ("AFFD", AFFD),
        ("WXN", WXN),
        ("UWXN", UWXN),
        ("TBI0", TBI0),
        ("TBI1", TBI1),
        ("PAN", PAN),
        ("AA64", AA64),
        ("HD", HD),
        ("HA", HA),
        ("S", S),
        ("R", R),
        ("A", A),
        ("ASET", ASET),
        ("ASID", ASID),
        ("NSCFG0", NSCFG0),
        ("HAD0", HAD0),
        ("E0PD0", E0PD0),
        ("HAFT", HAFT),
        ("TTB0", TTB0),
        ("PnCH", PNCH),
        ("EPAN", EPAN),
        ("HWU0", HWU0),
        ("NSCFG1", NSCFG1),
        ("HAD1", HAD1),
        ("E0PD1", E0PD1),
        ("AIE", AIE),
        ("TTB1", TTB1),
        ("DS", DS),
        ("PIE", PIE),
        ("HWU1", HWU1),
        ("MAIR0", MAIR0),
        ("MAIR1", MAIR1),
        ("AMAIR0", AMAIR0),
        ("AMAIR1", AMAIR1),
        ("IMPDEF", IMPDEF),
        ("PARTID", PARTID),
        ("PMG", PMG),
        ("PIIU", PIIU),
        ("PIIP", PIIP),
    ];
}

/// The reserved (RES0) bits of each CD word: every bit that belongs to no field of
/// [`field::ALL`].
pub const RES0: [u64; 8] = [
    0,
    0x0300_0000_0000_0000, // dw1[57:56]
    0x0300_0000_0000_0000, // dw2[57:56]
    0,
    0,
    0xff00_0000_0000_0000, // dw5[63:56]
    0xffff_0000_0000_0000, // dw6[63:48]
    0xffff_0000_0000_0000, // dw7[63:48]
];

/// CD word 0 (bits \[63:0\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdDw0 {
    /// \[5:0\] T0SZ.
    pub t0sz: B6,
    /// \[7:6\] TG0.
    pub tg0: Tg0,
    /// \[9:8\] IR0.
    pub ir0: Cacheability,
    /// \[11:10\] OR0.
    pub or0: Cacheability,
    /// \[13:12\] SH0.
    pub sh0: Shareability,
    /// \[14\] EPD0.
    pub epd0: bool,
    /// \[15\] ENDI.
    pub endi: bool,
    /// \[21:16\] T1SZ.
    pub t1sz: B6,
    /// \[23:22\] TG1.
    pub tg1: Tg1,
    /// \[25:24\] IR1.
    pub ir1: Cacheability,
    /// \[27:26\] OR1.
    pub or1: Cacheability,
    /// \[29:28\] SH1.
    pub sh1: Shareability,
    /// \[30\] EPD1.
    pub epd1: bool,
    /// \[31\] V.
    pub v: bool,
    /// \[34:32\] IPS.
    pub ips: AddressSize,
    /// \[35\] AFFD.
    pub affd: bool,
    /// \[36\] WXN.
    pub wxn: bool,
    /// \[37\] UWXN.
    pub uwxn: bool,
    /// \[38\] TBI0.
    pub tbi0: bool,
    /// \[39\] TBI1.
    pub tbi1: bool,
    /// \[40\] PAN.
    pub pan: bool,
    /// \[41\] AA64.
    pub aa64: bool,
    /// \[42\] HD.
    pub hd: bool,
    /// \[43\] HA.
    pub ha: bool,
    /// \[44\] S.
    pub s: bool,
    /// \[45\] R.
    pub r: bool,
    /// \[46\] A.
    pub a: bool,
    /// \[47\] ASET.
    pub aset: bool,
    /// \[63:48\] ASID.
    pub asid: u16,
}

/// CD word 1 (bits \[127:64\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdDw1 {
    /// \[0\] NSCFG0.
    pub nscfg0: bool,
    /// \[1\] HAD0.
    pub had0: bool,
    /// \[2\] E0PD0.
    pub e0pd0: bool,
    /// \[3\] HAFT.
    pub haft: bool,
    /// \[55:4\] TTB0: address bits \[55:4\] (the value is the address >> 4).
    pub ttb0: B52,
    #[skip]
    __: B2,
    /// \[58\] PnCH.
    pub pnch: bool,
    /// \[59\] EPAN.
    pub epan: bool,
    /// \[63:60\] HWU059..HWU062.
    pub hwu0: B4,
}

/// CD word 2 (bits \[191:128\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdDw2 {
    /// \[0\] NSCFG1.
    pub nscfg1: bool,
    /// \[1\] HAD1.
    pub had1: bool,
    /// \[2\] E0PD1.
    pub e0pd1: bool,
    /// \[3\] AIE.
    pub aie: bool,
    /// \[55:4\] TTB1: address bits \[55:4\] (the value is the address >> 4).
    pub ttb1: B52,
    #[skip]
    __: B2,
    /// \[58\] DS.
    pub ds: bool,
    /// \[59\] PIE.
    pub pie: bool,
    /// \[63:60\] HWU159..HWU162.
    pub hwu1: B4,
}

/// CD word 3 (bits \[255:192\]) as a typed bitfield: MAIR.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdDw3 {
    /// \[31:0\] MAIR0.
    pub mair0: u32,
    /// \[63:32\] MAIR1.
    pub mair1: u32,
}

/// CD word 4 (bits \[319:256\]) as a typed bitfield: AMAIR.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdDw4 {
    /// \[31:0\] AMAIR0.
    pub amair0: u32,
    /// \[63:32\] AMAIR1.
    pub amair1: u32,
}

/// CD word 5 (bits \[383:320\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdDw5 {
    /// \[31:0\] IMPLEMENTATION DEFINED.
    pub impdef: u32,
    /// \[47:32\] PARTID.
    pub partid: u16,
    /// \[55:48\] PMG.
    pub pmg: u8,
    #[skip]
    __: B8,
}

/// A Context Descriptor: 64 bytes, eight little-endian 64-bit words (`dw0` first).
///
/// Any bit pattern is a valid `Cd` value; whether the SMMU accepts it is [`Cd::check`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct Cd([u64; 8]);

word_array_api!(Cd, "Cd");

macro_rules! cd_dw_views {
    ($( $get:ident / $with:ident : $view:ident = $i:literal; )*) => {
        $(
            #[doc = concat!("Word ", stringify!($i), " as the typed view [`", stringify!($view), "`].")]
            #[must_use]
            #[inline]
            pub fn $get(&self) -> $view {
                $view::from(self.0[$i])
            }

            #[doc = concat!("Returns a copy with word ", stringify!($i), " replaced by `dw`.")]
            #[must_use]
            #[inline]
            pub fn $with(self, dw: $view) -> Self {
                let mut w = self.0;
                w[$i] = u64::from(dw);
                Self(w)
            }
        )*
    };
}

impl Cd {
    /// An invalid CD (all zero, V = 0).
    pub const INVALID: Self = Self([0; 8]);

    cd_dw_views! {
        dw0 / with_dw0: CdDw0 = 0;
        dw1 / with_dw1: CdDw1 = 1;
        dw2 / with_dw2: CdDw2 = 2;
        dw3 / with_dw3: CdDw3 = 3;
        dw4 / with_dw4: CdDw4 = 4;
        dw5 / with_dw5: CdDw5 = 5;
    }

    /// Whether V = 1. A valid CD may still be ILLEGAL; see [`Cd::check`].
    #[must_use]
    #[inline]
    pub const fn is_valid(&self) -> bool {
        self.v()
    }

    accessors! {
        /// T0SZ, `dw0[5:0]`: the TTB0 region is 2^(64 − T0SZ) bytes (VMSAv8-64).
        uint t0sz / with_t0sz = field::T0SZ, "CD.T0SZ", u8;
        /// TG0, `dw0[7:6]`: TTB0 granule.
        enum tg0 / with_tg0 = field::TG0, "CD.TG0", Tg0, Tg0::from_raw;
        /// IR0, `dw0[9:8]`: inner cacheability of TTB0 walks.
        enum ir0 / with_ir0 = field::IR0, "CD.IR0", Cacheability, cacheability_from_raw;
        /// OR0, `dw0[11:10]`: outer cacheability of TTB0 walks.
        enum or0 / with_or0 = field::OR0, "CD.OR0", Cacheability, cacheability_from_raw;
        /// SH0, `dw0[13:12]`: shareability of TTB0 walks.
        enum sh0 / with_sh0 = field::SH0, "CD.SH0", Shareability, shareability_from_raw;
        /// EPD0, `dw0[14]`: no walks through TTB0.
        flag epd0 / with_epd0 = field::EPD0, "CD.EPD0";
        /// ENDI, `dw0[15]`: big-endian translation tables.
        flag endi / with_endi = field::ENDI, "CD.ENDI";
        /// T1SZ, `dw0[21:16]`: size of the TTB1 region.
        uint t1sz / with_t1sz = field::T1SZ, "CD.T1SZ", u8;
        /// TG1, `dw0[23:22]`: TTB1 granule (encoded differently from TG0).
        enum tg1 / with_tg1 = field::TG1, "CD.TG1", Tg1, Tg1::from_raw;
        /// IR1, `dw0[25:24]`: inner cacheability of TTB1 walks.
        enum ir1 / with_ir1 = field::IR1, "CD.IR1", Cacheability, cacheability_from_raw;
        /// OR1, `dw0[27:26]`: outer cacheability of TTB1 walks.
        enum or1 / with_or1 = field::OR1, "CD.OR1", Cacheability, cacheability_from_raw;
        /// SH1, `dw0[29:28]`: shareability of TTB1 walks.
        enum sh1 / with_sh1 = field::SH1, "CD.SH1", Shareability, shareability_from_raw;
        /// EPD1, `dw0[30]`: no walks through TTB1.
        flag epd1 / with_epd1 = field::EPD1, "CD.EPD1";
        /// V, `dw0[31]`: CD valid.
        flag v / with_v = field::V, "CD.V";
        /// IPS, `dw0[34:32]`: stage 1 output size (effective = MIN(IPS, IDR5.OAS)).
        enum ips / with_ips = field::IPS, "CD.IPS", AddressSize, AddressSize::from_raw;
        /// AFFD, `dw0[35]`: Access flag faults disabled.
        flag affd / with_affd = field::AFFD, "CD.AFFD";
        /// WXN, `dw0[36]`: write implies execute-never.
        flag wxn / with_wxn = field::WXN, "CD.WXN";
        /// UWXN, `dw0[37]`: unprivileged write implies privileged execute-never.
        flag uwxn / with_uwxn = field::UWXN, "CD.UWXN";
        /// TBI0, `dw0[38]`: top byte ignore for TTB0.
        flag tbi0 / with_tbi0 = field::TBI0, "CD.TBI0";
        /// TBI1, `dw0[39]`: top byte ignore for TTB1.
        flag tbi1 / with_tbi1 = field::TBI1, "CD.TBI1";
        /// PAN, `dw0[40]`: privileged access never.
        flag pan / with_pan = field::PAN, "CD.PAN";
        /// AA64, `dw0[41]`: 1 = VMSAv8-64 tables, 0 = VMSAv8-32 LPAE.
        flag aa64 / with_aa64 = field::AA64, "CD.AA64";
        /// HD, `dw0[42]`: hardware dirty state update.
        flag hd / with_hd = field::HD, "CD.HD";
        /// HA, `dw0[43]`: hardware Access flag update.
        flag ha / with_ha = field::HA, "CD.HA";
        /// S, `dw0[44]`: stall on faults.
        flag s / with_s = field::S, "CD.S";
        /// R, `dw0[45]`: record faults.
        flag r / with_r = field::R, "CD.R";
        /// A, `dw0[46]`: abort (rather than RAZ/WI) terminated transactions.
        flag a / with_a = field::A, "CD.A";
        /// ASET, `dw0[47]`: ASID not shared with the PE.
        flag aset / with_aset = field::ASET, "CD.ASET";
        /// ASID, `dw0[63:48]`.
        id asid / with_asid = field::ASID, "CD.ASID", Asid;
        /// NSCFG0, `dw1[0]`: NS of the TTB0 start-level fetch (Secure streams).
        flag nscfg0 / with_nscfg0 = field::NSCFG0, "CD.NSCFG0";
        /// HAD0, `dw1[1]`: hierarchical attributes disabled for TTB0.
        flag had0 / with_had0 = field::HAD0, "CD.HAD0";
        /// E0PD0, `dw1[2]`: unprivileged access to the TTB0 region faults.
        flag e0pd0 / with_e0pd0 = field::E0PD0, "CD.E0PD0";
        /// HAFT, `dw1[3]`: hardware Access flag update in table descriptors.
        flag haft / with_haft = field::HAFT, "CD.HAFT";
        /// TTB0, `dw1[55:4]`: TTB0 table base, 16-byte aligned.
        addr ttb0 / with_ttb0 = field::TTB0, "CD.TTB0";
        /// PnCH, `dw1[58]`: protected attribute enable.
        flag pnch / with_pnch = field::PNCH, "CD.PnCH";
        /// EPAN, `dw1[59]`: enhanced PAN.
        flag epan / with_epan = field::EPAN, "CD.EPAN";
        /// HWU059..HWU062, `dw1[63:60]` (bit 0 of the value is HWU059).
        uint hwu0 / with_hwu0 = field::HWU0, "CD.HWU0", u8;
        /// NSCFG1, `dw2[0]`: NS of the TTB1 start-level fetch (Secure streams).
        flag nscfg1 / with_nscfg1 = field::NSCFG1, "CD.NSCFG1";
        /// HAD1, `dw2[1]`: hierarchical attributes disabled for TTB1.
        flag had1 / with_had1 = field::HAD1, "CD.HAD1";
        /// E0PD1, `dw2[2]`: unprivileged access to the TTB1 region faults.
        flag e0pd1 / with_e0pd1 = field::E0PD1, "CD.E0PD1";
        /// AIE, `dw2[3]`: attribute index extension.
        flag aie / with_aie = field::AIE, "CD.AIE";
        /// TTB1, `dw2[55:4]`: TTB1 table base, 16-byte aligned.
        addr ttb1 / with_ttb1 = field::TTB1, "CD.TTB1";
        /// DS, `dw2[58]`: 52-bit addresses with 4 KB / 16 KB granules.
        flag ds / with_ds = field::DS, "CD.DS";
        /// PIE, `dw2[59]`: stage 1 permission indirection.
        flag pie / with_pie = field::PIE, "CD.PIE";
        /// HWU159..HWU162, `dw2[63:60]` (bit 0 of the value is HWU159).
        uint hwu1 / with_hwu1 = field::HWU1, "CD.HWU1", u8;
        /// MAIR0, `dw3[31:0]`: MAIR bits \[31:0\].
        word mair0 / with_mair0 = field::MAIR0, "CD.MAIR0", u32;
        /// MAIR1, `dw3[63:32]`: MAIR bits \[63:32\].
        word mair1 / with_mair1 = field::MAIR1, "CD.MAIR1", u32;
        /// The whole MAIR, `dw3` = {MAIR1, MAIR0}.
        word mair / with_mair = field::MAIR, "CD.MAIR", u64;
        /// AMAIR0, `dw4[31:0]`.
        word amair0 / with_amair0 = field::AMAIR0, "CD.AMAIR0", u32;
        /// AMAIR1, `dw4[63:32]`.
        word amair1 / with_amair1 = field::AMAIR1, "CD.AMAIR1", u32;
        /// IMPLEMENTATION DEFINED, `dw5[31:0]`.
        word impdef / with_impdef = field::IMPDEF, "CD.IMPDEF", u32;
        /// PARTID, `dw5[47:32]`: MPAM partition id.
        word partid / with_partid = field::PARTID, "CD.PARTID", u16;
        /// PMG, `dw5[55:48]`: MPAM performance monitor group.
        word pmg / with_pmg = field::PMG, "CD.PMG", u8;
        /// PIIU0..PIIU15, `dw6[47:0]` (PIIU\<p\> is bits \[3p+2:3p\] of the value).
        uint piiu / with_piiu = field::PIIU, "CD.PIIU", u64;
        /// PIIP0..PIIP15, `dw7[47:0]` (PIIP\<p\> is bits \[3p+2:3p\] of the value).
        uint piip / with_piip = field::PIIP, "CD.PIIP", u64;
    }
}

/// The usual stage 1 CD (what Linux writes for a DMA or SVA domain): TTB0 only, EPD1 = 1,
/// VMSAv8-64. Used by [`Cd::stage1`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stage1CdConfig {
    /// ASID.
    pub asid: Asid,
    /// TTB0: translation table base (16-byte aligned, below 2^56).
    pub ttb0: PhysAddr,
    /// T0SZ: the input region is 2^(64 − `t0sz`) bytes (0..=63).
    pub t0sz: u8,
    /// TG0: granule.
    pub tg0: Granule,
    /// IPS: output address size.
    pub ips: AddressSize,
    /// MAIR (dw3), {MAIR1, MAIR0}.
    pub mair: u64,
    /// IR0: inner cacheability of walks.
    pub ir0: Cacheability,
    /// OR0: outer cacheability of walks.
    pub or0: Cacheability,
    /// SH0: shareability of walks.
    pub sh0: Shareability,
    /// ENDI: big-endian tables.
    pub endi: bool,
    /// TBI0: top byte ignore.
    pub tbi0: bool,
    /// AFFD: Access flag faults disabled.
    pub affd: bool,
    /// HA: hardware Access flag update.
    pub ha: bool,
    /// HD: hardware dirty state update.
    pub hd: bool,
    /// S: stall on faults.
    pub stall: bool,
    /// R: record faults.
    pub record: bool,
    /// A: abort terminated transactions (must be 1 with IDR0.TERM_MODEL = 1).
    pub abort: bool,
    /// ASET: ASID not shared with the PE.
    pub aset: bool,
}

impl Stage1CdConfig {
    /// A stage 1 configuration with the attributes Linux uses: walks write-back, inner
    /// shareable; little-endian; R = 1, A = 1, ASET = 1; no stall, no HTTU, no TBI, AFFD
    /// = 0.
    #[must_use]
    pub const fn new(
        asid: Asid,
        ttb0: PhysAddr,
        t0sz: u8,
        tg0: Granule,
        ips: AddressSize,
        mair: u64,
    ) -> Self {
        Self {
            asid,
            ttb0,
            t0sz,
            tg0,
            ips,
            mair,
            ir0: Cacheability::WriteBack,
            or0: Cacheability::WriteBack,
            sh0: Shareability::Inner,
            endi: false,
            tbi0: false,
            affd: false,
            ha: false,
            hd: false,
            stall: false,
            record: true,
            abort: true,
            aset: true,
        }
    }
}

impl Cd {
    /// A valid VMSAv8-64 stage 1 CD using TTB0 only (V = 1, AA64 = 1, EPD1 = 1) from
    /// `cfg`. Every field not in `cfg` is zero.
    ///
    /// # Errors
    ///
    /// * [`Error::Misaligned`] if `ttb0` is not 16-byte aligned;
    /// * [`Error::FieldOverflow`] if `ttb0` has bits above bit 55 or `t0sz` > 63.
    pub const fn stage1(cfg: &Stage1CdConfig) -> Result<Self, Error> {
        let cd = match Self::INVALID.with_ttb0(cfg.ttb0) {
            Ok(cd) => cd,
            Err(e) => return Err(e),
        };
        let cd = match cd.with_t0sz(cfg.t0sz) {
            Ok(cd) => cd,
            Err(e) => return Err(e),
        };
        Ok(cd
            .with_v(true)
            .with_aa64(true)
            .with_epd1(true)
            .with_tg0(Tg0::from_granule(cfg.tg0))
            .with_ir0(cfg.ir0)
            .with_or0(cfg.or0)
            .with_sh0(cfg.sh0)
            .with_endi(cfg.endi)
            .with_ips(cfg.ips)
            .with_tbi0(cfg.tbi0)
            .with_affd(cfg.affd)
            .with_ha(cfg.ha)
            .with_hd(cfg.hd)
            .with_s(cfg.stall)
            .with_r(cfg.record)
            .with_a(cfg.abort)
            .with_aset(cfg.aset)
            .with_asid(cfg.asid)
            .with_mair(cfg.mair))
    }

    /// PIIU\<p\> (3 bits), or `None` if `p >= 16`.
    #[must_use]
    pub const fn piiu_entry(&self, p: usize) -> Option<u8> {
        if p < 16 {
            Some(((self.piiu() >> (3 * p)) & 7) as u8)
        } else {
            None
        }
    }

    /// PIIP\<p\> (3 bits), or `None` if `p >= 16`.
    #[must_use]
    pub const fn piip_entry(&self, p: usize) -> Option<u8> {
        if p < 16 {
            Some(((self.piip() >> (3 * p)) & 7) as u8)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_res0_tile_the_cd() {
        let mut union = [0u64; 8];
        for (name, pos) in field::ALL {
            assert!(pos.word < 8, "{name}");
            assert_eq!(union[pos.word] & pos.mask(), 0, "{name} overlaps");
            union[pos.word] |= pos.mask();
        }
        for w in 0..8 {
            assert_eq!(union[w] & RES0[w], 0, "dw{w}");
            assert_eq!(union[w] | RES0[w], u64::MAX, "dw{w}");
        }
    }

    #[test]
    fn tg_encodings_differ() {
        for g in [Granule::Size4K, Granule::Size16K, Granule::Size64K] {
            assert_eq!(Tg0::from_granule(g).granule(), Some(g));
            assert_eq!(Tg1::from_granule(g).granule(), Some(g));
        }
        assert_eq!(Tg0::from_raw(0).granule(), Some(Granule::Size4K));
        assert_eq!(Tg1::from_raw(0).granule(), None);
        for (i, v) in Tg1::ALL.iter().enumerate() {
            assert_eq!(v.raw() as usize, i);
        }
    }

    #[test]
    fn piix_entries() {
        let cd = Cd::INVALID.with_piiu(0o7654_3210_7654_3210).unwrap();
        assert_eq!(cd.piiu_entry(0), Some(0));
        assert_eq!(cd.piiu_entry(7), Some(7));
        assert_eq!(cd.piiu_entry(15), Some(7));
        assert_eq!(cd.piiu_entry(16), None);
        assert_eq!(cd.piip_entry(3), Some(0));
        assert!(Cd::INVALID.with_piip(1 << 48).is_err());
    }

    #[test]
    fn debug_is_hex() {
        extern crate std;
        let s = std::format!("{:?}", Cd::INVALID.with_v(true));
        assert!(s.starts_with("Cd([0x0000000080000000, "), "{s}");
    }
}
