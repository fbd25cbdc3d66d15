//! The identification registers: IDR0, IDR1, IDR2, IDR3, IDR5, IIDR and AIDR.
//!
//! All are read-only. Every bit pattern decodes: reserved encodings of enumerated
//! fields are explicit variants, and reserved bits are kept so that
//! `u32::from(Reg::from(x)) == x`.

use core::fmt;

use modular_bitfield::prelude::*;

use crate::fields::AddressSize;

/// IDR0.TTF: the translation table formats supported.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum Ttf {
    /// 0b00: reserved.
    Reserved0 = 0,
    /// 0b01: AArch32 (LPAE) tables only.
    AArch32 = 1,
    /// 0b10: AArch64 tables only.
    AArch64 = 2,
    /// 0b11: both AArch32 and AArch64 tables.
    Both = 3,
}

impl Ttf {
    /// Whether AArch32 (LPAE) tables are supported.
    #[must_use]
    pub const fn aarch32(self) -> bool {
        matches!(self, Self::AArch32 | Self::Both)
    }

    /// Whether AArch64 (VMSAv8-64) tables are supported.
    #[must_use]
    pub const fn aarch64(self) -> bool {
        matches!(self, Self::AArch64 | Self::Both)
    }
}

/// IDR0.HTTU: hardware translation table update support.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum Httu {
    /// 0: no hardware update.
    None = 0,
    /// 1: hardware update of the Access flag.
    AccessFlag = 1,
    /// 2: hardware update of the Access flag and dirty state.
    AccessDirty = 2,
    /// 3: Access flag, dirty state and table Access flag (HAFT).
    AccessDirtyHaft = 3,
}

/// IDR0.TTENDIAN: translation table endianness support.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum TtEndian {
    /// 0: mixed endian (both little- and big-endian tables).
    Mixed = 0,
    /// 1: reserved.
    Reserved1 = 1,
    /// 2: little-endian tables only.
    Little = 2,
    /// 3: big-endian tables only.
    Big = 3,
}

/// IDR0.STALL_MODEL: stalling fault model support.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum StallModel {
    /// 0: both stall and terminate models supported.
    StallAndTerminate = 0,
    /// 1: terminate only; no stalls (CMD_RESUME / CMD_STALL_TERM unavailable).
    TerminateOnly = 1,
    /// 2: stall forced.
    StallForced = 2,
    /// 3: reserved.
    Reserved3 = 3,
}

/// IDR0.TERM_MODEL: terminate model behaviour.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 1]
pub enum TermModel {
    /// 0: CD.A chooses between abort and RAZ/WI for terminated transactions.
    AbortOrRazWi = 0,
    /// 1: RAZ/WI is not supported; CD.A must be 1 (abort).
    AbortOnly = 1,
}

/// IDR0.ST_LEVEL: stream table formats supported.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum StLevel {
    /// 0: linear stream table only.
    Linear = 0,
    /// 1: linear and 2-level stream tables.
    TwoLevel = 1,
    /// 2: reserved.
    Reserved2 = 2,
    /// 3: reserved.
    Reserved3 = 3,
}

/// `SMMU_IDR0` (offset 0x000): implemented features.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Idr0 {
    /// \[0\] S2P: stage 2 translation implemented.
    pub s2p: bool,
    /// \[1\] S1P: stage 1 translation implemented.
    pub s1p: bool,
    /// \[3:2\] TTF: translation table formats.
    pub ttf: Ttf,
    /// \[4\] COHACC: coherent access to tables and queues.
    pub cohacc: bool,
    /// \[5\] BTM: broadcast TLB maintenance.
    pub btm: bool,
    /// \[7:6\] HTTU: hardware translation table update.
    pub httu: Httu,
    /// \[8\] DORMHINT: STATUSR.DORMANT is implemented.
    pub dormhint: bool,
    /// \[9\] HYP: EL2 StreamWorld supported.
    pub hyp: bool,
    /// \[10\] ATS: PCIe ATS supported.
    pub ats: bool,
    /// \[11\] NS1ATS: 1 = split-stage ATS is **not** supported.
    pub ns1ats: bool,
    /// \[12\] ASID16: 16-bit ASIDs.
    pub asid16: bool,
    /// \[13\] MSI: MSIs supported.
    pub msi: bool,
    /// \[14\] SEV: WFE wake-up events.
    pub sev: bool,
    /// \[15\] ATOS: address translation operations.
    pub atos: bool,
    /// \[16\] PRI: PCIe PRI supported.
    pub pri: bool,
    /// \[17\] VMW: VMID wildcard matching.
    pub vmw: bool,
    /// \[18\] VMID16: 16-bit VMIDs.
    pub vmid16: bool,
    /// \[19\] CD2L: 2-level context descriptor tables.
    pub cd2l: bool,
    /// \[20\] VATOS: virtual ATOS page.
    pub vatos: bool,
    /// \[22:21\] TTENDIAN: translation table endianness.
    pub ttendian: TtEndian,
    /// \[23\] ATSRECERR: ATS errors are recorded.
    pub atsrecerr: bool,
    /// \[25:24\] STALL_MODEL.
    pub stall_model: StallModel,
    /// \[26\] TERM_MODEL.
    pub term_model: TermModel,
    /// \[28:27\] ST_LEVEL: stream table formats.
    pub st_level: StLevel,
    #[skip]
    __: B1,
    /// \[30\] RME_IMPL: Realm Management Extension implemented.
    pub rme_impl: bool,
    #[skip]
    __: B1,
}

/// `SMMU_IDR1` (offset 0x004): table and queue sizes, presets.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Idr1 {
    /// \[5:0\] SIDSIZE: number of StreamID bits (0..=32 architected).
    pub sidsize: B6,
    /// \[10:6\] SSIDSIZE: number of SubstreamID bits (0..=20; 0 = no substreams).
    pub ssidsize: B5,
    /// \[15:11\] PRIQS: log2 of the maximum PRI queue entries (≤ 19).
    pub priqs: B5,
    /// \[20:16\] EVENTQS: log2 of the maximum event queue entries (≤ 19).
    pub eventqs: B5,
    /// \[25:21\] CMDQS: log2 of the maximum command queue entries (≤ 19).
    pub cmdqs: B5,
    /// \[26\] ATTR_PERMS_OVR.
    pub attr_perms_ovr: bool,
    /// \[27\] ATTR_TYPES_OVR: when 0, STE.SHCFG and the other type overrides are RES0.
    pub attr_types_ovr: bool,
    /// \[28\] REL: preset base pointers are relative.
    pub rel: bool,
    /// \[29\] QUEUES_PRESET: queue base registers are fixed and read-only.
    pub queues_preset: bool,
    /// \[30\] TABLES_PRESET: STRTAB_BASE / STRTAB_BASE_CFG are fixed and read-only.
    pub tables_preset: bool,
    /// \[31\] ECMDQ: enhanced command queues.
    pub ecmdq: bool,
}

/// `SMMU_IDR2` (offset 0x008): VATOS page base.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Idr2 {
    /// \[9:0\] BA_VATOS: base address of the VATOS page.
    pub ba_vatos: B10,
    #[skip]
    __: B22,
}

/// IDR3.BBML: break-before-make level support.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum Bbml {
    /// 0: level 0.
    Level0 = 0,
    /// 1: level 1.
    Level1 = 1,
    /// 2: level 2.
    Level2 = 2,
    /// 3: reserved.
    Reserved3 = 3,
}

/// `SMMU_IDR3` (offset 0x00C): further features.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Idr3 {
    #[skip]
    __: B2,
    /// \[2\] HAD: hierarchical attribute disable.
    pub had: bool,
    /// \[3\] PBHA: page-based hardware attributes.
    pub pbha: bool,
    /// \[4\] XNX: EL0/EL1 execute-never distinction at stage 2.
    pub xnx: bool,
    /// \[5\] PPS: PRI response PASID behaviour.
    pub pps: bool,
    #[skip]
    __: B1,
    /// \[7\] MPAM.
    pub mpam: bool,
    /// \[8\] FWB: stage 2 forced write-back.
    pub fwb: bool,
    /// \[9\] STT: small translation tables.
    pub stt: bool,
    /// \[10\] RIL: range invalidation and TTL hints (mandatory from SMMUv3.2).
    pub ril: bool,
    /// \[12:11\] BBML: break-before-make level.
    pub bbml: Bbml,
    /// \[13\] E0PD.
    pub e0pd: bool,
    /// \[14\] PTWNNC.
    pub ptwnnc: bool,
    /// \[15\] DPT: device permission table.
    pub dpt: bool,
    /// \[16\] PASIDTT.
    pub pasidtt: bool,
    /// \[17\] EPAN.
    pub epan: bool,
    /// \[18\] S1PI: stage 1 permission indirection.
    pub s1pi: bool,
    /// \[19\] S2PI: stage 2 permission indirection.
    pub s2pi: bool,
    /// \[20\] S2PO: stage 2 permission overlay.
    pub s2po: bool,
    /// \[21\] THE: translation hardening.
    pub the: bool,
    /// \[22\] MTEPERM.
    pub mteperm: bool,
    /// \[23\] AIE: attribute index enhancement.
    pub aie: bool,
    #[skip]
    __: B8,
}

/// IDR5.VAX: virtual address extension.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum Vax {
    /// 0: 48-bit virtual addresses.
    Va48 = 0,
    /// 1: 52-bit virtual addresses.
    Va52 = 1,
    /// 2: 56-bit virtual addresses.
    Va56 = 2,
    /// 3: reserved.
    Reserved3 = 3,
}

impl Vax {
    /// The virtual address width in bits; the reserved encoding reports 48.
    #[must_use]
    pub const fn va_bits(self) -> u32 {
        match self {
            Self::Va48 | Self::Reserved3 => 48,
            Self::Va52 => 52,
            Self::Va56 => 56,
        }
    }
}

/// `SMMU_IDR5` (offset 0x014): output address size, granules, STALL_MAX.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Idr5 {
    /// \[2:0\] OAS: output address size (6 = 52 bits is reserved in SMMUv3.0).
    pub oas: AddressSize,
    #[skip]
    __: B1,
    /// \[4\] GRAN4K: 4 KB translation granule supported.
    pub gran4k: bool,
    /// \[5\] GRAN16K: 16 KB translation granule supported.
    pub gran16k: bool,
    /// \[6\] GRAN64K: 64 KB translation granule supported.
    pub gran64k: bool,
    /// \[7\] DS: 52-bit addressing with 4 KB / 16 KB granules.
    pub ds: bool,
    /// \[8\] D128: 128-bit translation table descriptors.
    pub d128: bool,
    #[skip]
    __: B1,
    /// \[11:10\] VAX: virtual address extension.
    pub vax: Vax,
    #[skip]
    __: B4,
    /// \[31:16\] STALL_MAX: maximum number of outstanding stalled transactions.
    pub stall_max: B16,
}

/// `SMMU_IIDR` (offset 0x018): implementation identification.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Iidr {
    /// \[11:0\] Implementer (JEP106 code of the implementer).
    pub implementer: B12,
    /// \[15:12\] Revision.
    pub revision: B4,
    /// \[19:16\] Variant.
    pub variant: B4,
    /// \[31:20\] ProductID.
    pub product_id: B12,
}

/// `SMMU_AIDR` (offset 0x01C): architecture revision.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Aidr {
    /// \[3:0\] ArchMinorRev: v3.0 = 0, v3.1 = 1, v3.2 = 2, …
    pub arch_minor_rev: B4,
    /// \[7:4\] ArchMajorRev: 0 for SMMUv3.
    pub arch_major_rev: B4,
    #[skip]
    __: B24,
}

impl Aidr {
    /// The architecture version this register reports.
    #[must_use]
    pub fn version(self) -> ArchVersion {
        ArchVersion {
            major_rev: self.arch_major_rev(),
            minor_rev: self.arch_minor_rev(),
        }
    }
}

/// An SMMU architecture version, as AIDR reports it: `(ArchMajorRev, ArchMinorRev)`.
///
/// ArchMajorRev 0 is SMMUv3, so SMMUv3.2 is `major_rev = 0, minor_rev = 2`. Versions
/// order by (major, minor), so `v >= ArchVersion::V3_2` asks "v3.2 or later".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ArchVersion {
    /// AIDR.ArchMajorRev (0 = SMMUv3).
    pub major_rev: u8,
    /// AIDR.ArchMinorRev.
    pub minor_rev: u8,
}

impl ArchVersion {
    /// SMMUv3.0.
    pub const V3_0: Self = Self::v3(0);
    /// SMMUv3.1.
    pub const V3_1: Self = Self::v3(1);
    /// SMMUv3.2.
    pub const V3_2: Self = Self::v3(2);
    /// SMMUv3.3.
    pub const V3_3: Self = Self::v3(3);
    /// SMMUv3.4.
    pub const V3_4: Self = Self::v3(4);

    /// SMMUv3.`minor`.
    #[must_use]
    pub const fn v3(minor: u8) -> Self {
        Self {
            major_rev: 0,
            minor_rev: minor,
        }
    }

    /// Whether this is an SMMUv3.x (ArchMajorRev 0).
    #[must_use]
    pub const fn is_v3(self) -> bool {
        self.major_rev == 0
    }

    /// Whether this version is `other` or later.
    #[must_use]
    pub const fn at_least(self, other: Self) -> bool {
        self.major_rev > other.major_rev
            || (self.major_rev == other.major_rev && self.minor_rev >= other.minor_rev)
    }
}

impl fmt::Display for ArchVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_v3() {
            write!(f, "SMMUv3.{}", self.minor_rev)
        } else {
            write!(
                f,
                "SMMU (AIDR major {} minor {})",
                self.major_rev, self.minor_rev
            )
        }
    }
}
