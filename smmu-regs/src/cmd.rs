//! Command queue entries (Arm IHI0070 chapter 4; project spec §4).
//!
//! A command is 16 bytes: two little-endian 64-bit words, `dw0` (bytes 0–7, opcode in
//! bits `[7:0]`) and `dw1`. [`Command`] has one variant per architected Non-secure
//! command, with typed fields, plus [`Command::Unknown`] for every other opcode
//! (reserved, IMPLEMENTATION DEFINED, and the Secure / DPT commands that this crate
//! knows by [`Opcode`] only), so that every 128-bit pattern parses.
//!
//! * Building: [`Command::encode`] checks every caller value and reports one that does
//!   not fit its field (a SubstreamID above 20 bits, a TLBI address with bits below 4 KB
//!   set, an MSIAddr that is not 4-byte aligned, a Range above 31, …) as a typed
//!   [`Error`]; it never truncates and never panics.
//! * Parsing: [`Command::decode`] is total. Bits that the command's layout leaves RES0
//!   are ignored by `decode` and reported by [`Command::reserved_bits`]; for every
//!   `words`, `decode(words).encode() == Ok(words & opcode.field_mask())`.
//!   [`Command::decode_non_secure`] adds the checks that make a command `CERROR_ILL` on
//!   the Non-secure queue whatever the ID registers say (reserved opcode, `SSec == 1`,
//!   `CS == 0b11`, …).
//! * [`TlbiRange::split`] turns an address span into the shortest list of range
//!   invalidations (`SMMU_IDR3.RIL == 1`).
//!
//! What this module does **not** interpret:
//! * `CMD_PREFETCH_ADDR` Stride and NS: their positions are not given in text by our
//!   reference (project spec §9); `dw1[11:5]` is carried raw as
//!   [`Command::PrefetchAddr::stride_ns_raw`](Command::PrefetchAddr).
//! * The CMD_SYNC `MSI_NS` bit (Realm queue only) and every Secure-queue-only field other
//!   than SSec.
//! * The position of `CMD_CFGI_VMS_PIDM.VMID` is not in our reference's text; this crate
//!   places it at `dw0[47:32]`, where every other command carries VMID.
//!
//! ```
//! use smmu_regs::cmd::{Command, CompletionSignal};
//! use smmu_regs::{PhysAddr, Shareability, StreamId};
//!
//! // Invalidate one STE, then a CMD_SYNC that writes 0 to its own queue slot
//! // (Linux's "MSIPOLL" completion).
//! let cfgi = Command::CfgiSte { ssec: false, sid: StreamId(0x1234_5678), leaf: true };
//! assert_eq!(cfgi.encode(), Ok([0x1234_5678_0000_0003, 0x1]));
//!
//! let sync = Command::Sync {
//!     cs: CompletionSignal::SigIrq,
//!     msh: Shareability::Inner,
//!     msi_attr: 0xf,
//!     msi_data: 0,
//!     msi_addr: PhysAddr(0x8000_1000),
//! };
//! let words = sync.encode()?;
//! assert_eq!(Command::decode(words), sync);
//!
//! // Every 128-bit pattern decodes; unknown opcodes are kept verbatim.
//! let odd = Command::decode([0xdead_beef_0000_0099, 7]);
//! assert!(matches!(odd, Command::Unknown { .. }));
//! assert_eq!(odd.encode(), Ok([0xdead_beef_0000_0099, 7]));
//! # Ok::<(), smmu_regs::Error>(())
//! ```

pub(crate) mod pack;

use core::fmt;
use core::iter::FusedIterator;

use crate::error::Error;
use crate::fields::Shareability;
use crate::ids::{Asid, Iova, Ipa, PhysAddr, StreamId, SubstreamId, Vmid};

/// Size of a command queue entry in bytes.
pub const COMMAND_BYTES: usize = 16;

/// Number of 64-bit words in a command queue entry.
pub const COMMAND_WORDS: usize = 2;

/// `CMD_CFGI_STE_RANGE.Range` value that means "every StreamID" (`CMD_CFGI_ALL`).
pub const CFGI_ALL_RANGE: u8 = 31;

/// `CMD_ATC_INV.Size` value that spans the whole 64-bit address space (Linux
/// `ATC_INV_SIZE_ALL`). Values above 52 are permitted to raise `CERROR_ILL`.
pub const ATC_INV_SIZE_ALL: u8 = 52;

/// Bit positions of every command field this module types (project spec §4.2, Arm
/// IHI0070 §4.4.1 for the TLBI range fields). Address fields are listed with the bit
/// range they occupy; the address bits keep their positions (`Addr[63:12]` is
/// `dw1[63:12]`).
pub mod field {
    use crate::fields::FieldPos;

    /// `dw0[7:0]` opcode, every command.
    pub const OPCODE: FieldPos = FieldPos::new(0, 0, 8);
    /// `dw0[9]` Global (`CMD_ATC_INV`).
    pub const GLOBAL: FieldPos = FieldPos::new(0, 9, 1);
    /// `dw0[10]` SSec: StreamID is Secure (must be 0 on the Non-secure queue).
    pub const SSEC: FieldPos = FieldPos::new(0, 10, 1);
    /// `dw0[11]` SSV: SubstreamID valid.
    pub const SSV: FieldPos = FieldPos::new(0, 11, 1);
    /// `dw0[31:12]` SubstreamID.
    pub const SSID: FieldPos = FieldPos::new(0, 12, 20);
    /// `dw0[63:32]` StreamID.
    pub const SID: FieldPos = FieldPos::new(0, 32, 32);
    /// `dw0[47:32]` VMID (TLBI and `CMD_CFGI_VMS_PIDM`).
    pub const VMID: FieldPos = FieldPos::new(0, 32, 16);
    /// `dw0[63:48]` ASID (TLBI).
    pub const ASID: FieldPos = FieldPos::new(0, 48, 16);
    /// `dw0[16:12]` NUM: range invalidation granule multiplier minus one.
    pub const NUM: FieldPos = FieldPos::new(0, 12, 5);
    /// `dw0[25:20]` SCALE: range invalidation scale (bit 25 only when `IDR5.DS == 1`).
    pub const SCALE: FieldPos = FieldPos::new(0, 20, 6);
    /// `dw0[12]` Ac: RESUME action (1 retry, 0 terminate).
    pub const RESUME_AC: FieldPos = FieldPos::new(0, 12, 1);
    /// `dw0[13]` Ab: RESUME terminate with abort (1) or RAZ/WI (0).
    pub const RESUME_AB: FieldPos = FieldPos::new(0, 13, 1);
    /// `dw0[13:12]` CS: CMD_SYNC completion signal.
    pub const SYNC_CS: FieldPos = FieldPos::new(0, 12, 2);
    /// `dw0[23:22]` MSH: CMD_SYNC MSI shareability.
    pub const SYNC_MSH: FieldPos = FieldPos::new(0, 22, 2);
    /// `dw0[27:24]` MSIAttr: CMD_SYNC MSI memory attributes (STE.MemAttr encoding).
    pub const SYNC_MSIATTR: FieldPos = FieldPos::new(0, 24, 4);
    /// `dw0[63:32]` MSIData: CMD_SYNC MSI payload.
    pub const SYNC_MSIDATA: FieldPos = FieldPos::new(0, 32, 32);

    /// `dw1[0]` Leaf (CFGI_STE, CFGI_CD, TLBI by address).
    pub const LEAF: FieldPos = FieldPos::new(1, 0, 1);
    /// `dw1[4:0]` Range (`CMD_CFGI_STE_RANGE`).
    pub const RANGE: FieldPos = FieldPos::new(1, 0, 5);
    /// `dw1[7]` TTL128: the TTL hint is for 128-bit descriptors.
    pub const TTL128: FieldPos = FieldPos::new(1, 7, 1);
    /// `dw1[9:8]` TTL: translation table level hint.
    pub const TTL: FieldPos = FieldPos::new(1, 8, 2);
    /// `dw1[11:10]` TG: translation granule of the entries (0 = not a range operation).
    pub const TG: FieldPos = FieldPos::new(1, 10, 2);
    /// `dw1[63:12]` Addr: virtual address (TLBI VA/VAA, ATC_INV, PREFETCH_ADDR).
    pub const ADDR: FieldPos = FieldPos::new(1, 12, 52);
    /// `dw1[55:12]` IPA (`CMD_TLBI_S2_IPA`).
    pub const IPA: FieldPos = FieldPos::new(1, 12, 44);
    /// `dw1[4:0]` Size (`CMD_PREFETCH_ADDR`): 2^Size strides.
    pub const PREFETCH_SIZE: FieldPos = FieldPos::new(1, 0, 5);
    /// `dw1[11:5]` of `CMD_PREFETCH_ADDR`, holding Stride and NS at positions this crate
    /// does not interpret (project spec §9).
    pub const PREFETCH_RAW: FieldPos = FieldPos::new(1, 5, 7);
    /// `dw1[5:0]` Size (`CMD_ATC_INV`): span of 4 KB × 2^Size.
    pub const ATC_SIZE: FieldPos = FieldPos::new(1, 0, 6);
    /// `dw1[8:0]` PRGIndex (`CMD_PRI_RESP`).
    pub const PRI_PRGINDEX: FieldPos = FieldPos::new(1, 0, 9);
    /// `dw1[13:12]` Resp (`CMD_PRI_RESP`).
    pub const PRI_RESP: FieldPos = FieldPos::new(1, 12, 2);
    /// `dw1[15:0]` STAG (`CMD_RESUME`).
    pub const RESUME_STAG: FieldPos = FieldPos::new(1, 0, 16);
    /// `dw1[55:2]` MSIAddr (CMD_SYNC).
    pub const SYNC_MSIADDR: FieldPos = FieldPos::new(1, 2, 54);
}

use field as f;

// ---------------------------------------------------------------------------------------
// Opcode
// ---------------------------------------------------------------------------------------

/// A command opcode (`dw0[7:0]`), with every architected value as a constant.
///
/// Any `u8` is a valid `Opcode`; [`Opcode::is_reserved`], [`Opcode::is_impdef`] and
/// [`Opcode::is_secure_only`] classify it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct Opcode(pub u8);

impl Opcode {
    /// `CMD_PREFETCH_CONFIG`.
    pub const PREFETCH_CONFIG: Self = Self(0x01);
    /// `CMD_PREFETCH_ADDR`.
    pub const PREFETCH_ADDR: Self = Self(0x02);
    /// `CMD_CFGI_STE`.
    pub const CFGI_STE: Self = Self(0x03);
    /// `CMD_CFGI_STE_RANGE`; `CMD_CFGI_ALL` is this opcode with Range = 31.
    pub const CFGI_STE_RANGE: Self = Self(0x04);
    /// `CMD_CFGI_ALL` (same opcode as [`Opcode::CFGI_STE_RANGE`]).
    pub const CFGI_ALL: Self = Self(0x04);
    /// `CMD_CFGI_CD`.
    pub const CFGI_CD: Self = Self(0x05);
    /// `CMD_CFGI_CD_ALL`.
    pub const CFGI_CD_ALL: Self = Self(0x06);
    /// `CMD_CFGI_VMS_PIDM`.
    pub const CFGI_VMS_PIDM: Self = Self(0x07);
    /// `CMD_TLBI_NH_ALL`.
    pub const TLBI_NH_ALL: Self = Self(0x10);
    /// `CMD_TLBI_NH_ASID`.
    pub const TLBI_NH_ASID: Self = Self(0x11);
    /// `CMD_TLBI_NH_VA`.
    pub const TLBI_NH_VA: Self = Self(0x12);
    /// `CMD_TLBI_NH_VAA`.
    pub const TLBI_NH_VAA: Self = Self(0x13);
    /// `CMD_TLBI_EL3_ALL` (Secure queue only).
    pub const TLBI_EL3_ALL: Self = Self(0x18);
    /// `CMD_TLBI_EL3_VA` (Secure queue only).
    pub const TLBI_EL3_VA: Self = Self(0x1A);
    /// `CMD_TLBI_EL2_ALL`.
    pub const TLBI_EL2_ALL: Self = Self(0x20);
    /// `CMD_TLBI_EL2_ASID`.
    pub const TLBI_EL2_ASID: Self = Self(0x21);
    /// `CMD_TLBI_EL2_VA`.
    pub const TLBI_EL2_VA: Self = Self(0x22);
    /// `CMD_TLBI_EL2_VAA`.
    pub const TLBI_EL2_VAA: Self = Self(0x23);
    /// `CMD_TLBI_S12_VMALL`.
    pub const TLBI_S12_VMALL: Self = Self(0x28);
    /// `CMD_TLBI_S2_IPA`.
    pub const TLBI_S2_IPA: Self = Self(0x2A);
    /// `CMD_TLBI_NSNH_ALL`.
    pub const TLBI_NSNH_ALL: Self = Self(0x30);
    /// `CMD_ATC_INV`.
    pub const ATC_INV: Self = Self(0x40);
    /// `CMD_PRI_RESP`.
    pub const PRI_RESP: Self = Self(0x41);
    /// `CMD_RESUME`.
    pub const RESUME: Self = Self(0x44);
    /// `CMD_STALL_TERM`.
    pub const STALL_TERM: Self = Self(0x45);
    /// `CMD_SYNC`.
    pub const SYNC: Self = Self(0x46);
    /// `CMD_TLBI_S_EL2_ALL` (Secure queue only).
    pub const TLBI_S_EL2_ALL: Self = Self(0x50);
    /// `CMD_TLBI_S_EL2_ASID` (Secure queue only).
    pub const TLBI_S_EL2_ASID: Self = Self(0x51);
    /// `CMD_TLBI_S_EL2_VA` (Secure queue only).
    pub const TLBI_S_EL2_VA: Self = Self(0x52);
    /// `CMD_TLBI_S_EL2_VAA` (Secure queue only).
    pub const TLBI_S_EL2_VAA: Self = Self(0x53);
    /// `CMD_TLBI_S_S12_VMALL` (Secure queue only).
    pub const TLBI_S_S12_VMALL: Self = Self(0x58);
    /// `CMD_TLBI_S_S2_IPA` (Secure queue only).
    pub const TLBI_S_S2_IPA: Self = Self(0x5A);
    /// `CMD_TLBI_SNH_ALL` (Secure queue only).
    pub const TLBI_SNH_ALL: Self = Self(0x60);
    /// `CMD_DPTI_ALL` (only when `IDR3.DPT == 1`).
    pub const DPTI_ALL: Self = Self(0x70);
    /// `CMD_DPTI_PA` (only when `IDR3.DPT == 1`).
    pub const DPTI_PA: Self = Self(0x73);
    /// First IMPLEMENTATION DEFINED opcode.
    pub const IMPDEF_FIRST: Self = Self(0x80);
    /// Last IMPLEMENTATION DEFINED opcode.
    pub const IMPDEF_LAST: Self = Self(0x8F);

    /// The raw opcode byte.
    #[inline]
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The architectural name (`"CMD_SYNC"`, …), or `None` for reserved and
    /// IMPLEMENTATION DEFINED opcodes. Opcode 0x04 is named `"CMD_CFGI_STE_RANGE"`.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "CMD_PREFETCH_CONFIG",
            0x02 => "CMD_PREFETCH_ADDR",
            0x03 => "CMD_CFGI_STE",
            0x04 => "CMD_CFGI_STE_RANGE",
            0x05 => "CMD_CFGI_CD",
            0x06 => "CMD_CFGI_CD_ALL",
            0x07 => "CMD_CFGI_VMS_PIDM",
            0x10 => "CMD_TLBI_NH_ALL",
            0x11 => "CMD_TLBI_NH_ASID",
            0x12 => "CMD_TLBI_NH_VA",
            0x13 => "CMD_TLBI_NH_VAA",
            0x18 => "CMD_TLBI_EL3_ALL",
            0x1A => "CMD_TLBI_EL3_VA",
            0x20 => "CMD_TLBI_EL2_ALL",
            0x21 => "CMD_TLBI_EL2_ASID",
            0x22 => "CMD_TLBI_EL2_VA",
            0x23 => "CMD_TLBI_EL2_VAA",
            0x28 => "CMD_TLBI_S12_VMALL",
            0x2A => "CMD_TLBI_S2_IPA",
            0x30 => "CMD_TLBI_NSNH_ALL",
            0x40 => "CMD_ATC_INV",
            0x41 => "CMD_PRI_RESP",
            0x44 => "CMD_RESUME",
            0x45 => "CMD_STALL_TERM",
            0x46 => "CMD_SYNC",
            0x50 => "CMD_TLBI_S_EL2_ALL",
            0x51 => "CMD_TLBI_S_EL2_ASID",
            0x52 => "CMD_TLBI_S_EL2_VA",
            0x53 => "CMD_TLBI_S_EL2_VAA",
            0x58 => "CMD_TLBI_S_S12_VMALL",
            0x5A => "CMD_TLBI_S_S2_IPA",
            0x60 => "CMD_TLBI_SNH_ALL",
            0x70 => "CMD_DPTI_ALL",
            0x73 => "CMD_DPTI_PA",
            _ => return None,
        })
    }

    /// Whether the opcode is architected (has a [`name`](Self::name)).
    #[inline]
    #[must_use]
    pub const fn is_architected(self) -> bool {
        self.name().is_some()
    }

    /// Whether the opcode is in the IMPLEMENTATION DEFINED range 0x80–0x8F.
    #[inline]
    #[must_use]
    pub const fn is_impdef(self) -> bool {
        matches!(self.0, 0x80..=0x8F)
    }

    /// Whether the opcode is Reserved (neither architected nor IMPLEMENTATION DEFINED);
    /// such a command always raises `CERROR_ILL`. Opcode 0x00 is reserved.
    #[inline]
    #[must_use]
    pub const fn is_reserved(self) -> bool {
        !self.is_architected() && !self.is_impdef()
    }

    /// Whether the command is only valid on the Secure command queue (the EL3 and
    /// `CMD_TLBI_S_*` / `CMD_TLBI_SNH_ALL` invalidations): `CERROR_ILL` on the Non-secure
    /// queue.
    #[inline]
    #[must_use]
    pub const fn is_secure_only(self) -> bool {
        matches!(self.0, 0x18 | 0x1A | 0x50..=0x53 | 0x58 | 0x5A | 0x60)
    }

    /// Whether [`Command::decode`] gives a typed variant for this opcode (otherwise it
    /// gives [`Command::Unknown`]).
    #[inline]
    #[must_use]
    pub const fn is_typed(self) -> bool {
        matches!(
            self.0,
            0x01..=0x07
                | 0x10..=0x13
                | 0x18
                | 0x1A
                | 0x20..=0x23
                | 0x28
                | 0x2A
                | 0x30
                | 0x40
                | 0x41
                | 0x44..=0x46
        )
    }

    /// The bits of `[dw0, dw1]` that carry a field of this command (opcode included).
    /// For an opcode without a typed layout, every bit (the whole entry is kept verbatim
    /// in [`Command::Unknown`]).
    #[must_use]
    pub const fn field_mask(self) -> [u64; 2] {
        use pack::union as u;
        match self.0 {
            0x01 => u(&[f::OPCODE, f::SSEC, f::SSV, f::SSID, f::SID]),
            0x02 => u(&[
                f::OPCODE,
                f::SSEC,
                f::SSV,
                f::SSID,
                f::SID,
                f::PREFETCH_SIZE,
                f::PREFETCH_RAW,
                f::ADDR,
            ]),
            0x03 => u(&[f::OPCODE, f::SSEC, f::SID, f::LEAF]),
            0x04 => u(&[f::OPCODE, f::SSEC, f::SID, f::RANGE]),
            0x05 => u(&[f::OPCODE, f::SSEC, f::SSID, f::SID, f::LEAF]),
            0x06 => u(&[f::OPCODE, f::SSEC, f::SID]),
            0x07 => u(&[f::OPCODE, f::SSEC, f::VMID]),
            0x10 | 0x28 => u(&[f::OPCODE, f::VMID]),
            0x11 => u(&[f::OPCODE, f::VMID, f::ASID]),
            0x12 => u(&[
                f::OPCODE,
                f::NUM,
                f::SCALE,
                f::VMID,
                f::ASID,
                f::LEAF,
                f::TTL128,
                f::TTL,
                f::TG,
                f::ADDR,
            ]),
            0x13 => u(&[
                f::OPCODE,
                f::NUM,
                f::SCALE,
                f::VMID,
                f::LEAF,
                f::TTL128,
                f::TTL,
                f::TG,
                f::ADDR,
            ]),
            0x18 | 0x20 | 0x30 => u(&[f::OPCODE]),
            0x1A | 0x23 => u(&[
                f::OPCODE,
                f::NUM,
                f::SCALE,
                f::LEAF,
                f::TTL128,
                f::TTL,
                f::TG,
                f::ADDR,
            ]),
            0x21 => u(&[f::OPCODE, f::ASID]),
            0x22 => u(&[
                f::OPCODE,
                f::NUM,
                f::SCALE,
                f::ASID,
                f::LEAF,
                f::TTL128,
                f::TTL,
                f::TG,
                f::ADDR,
            ]),
            0x2A => u(&[
                f::OPCODE,
                f::NUM,
                f::SCALE,
                f::VMID,
                f::LEAF,
                f::TTL128,
                f::TTL,
                f::TG,
                f::IPA,
            ]),
            0x40 => u(&[
                f::OPCODE,
                f::GLOBAL,
                f::SSV,
                f::SSID,
                f::SID,
                f::ATC_SIZE,
                f::ADDR,
            ]),
            0x41 => u(&[
                f::OPCODE,
                f::SSV,
                f::SSID,
                f::SID,
                f::PRI_PRGINDEX,
                f::PRI_RESP,
            ]),
            0x44 => u(&[
                f::OPCODE,
                f::SSEC,
                f::RESUME_AC,
                f::RESUME_AB,
                f::SID,
                f::RESUME_STAG,
            ]),
            0x45 => u(&[f::OPCODE, f::SSEC, f::SID]),
            0x46 => u(&[
                f::OPCODE,
                f::SYNC_CS,
                f::SYNC_MSH,
                f::SYNC_MSIATTR,
                f::SYNC_MSIDATA,
                f::SYNC_MSIADDR,
            ]),
            _ => [u64::MAX; 2],
        }
    }
}

impl From<u8> for Opcode {
    #[inline]
    fn from(v: u8) -> Self {
        Self(v)
    }
}

impl From<Opcode> for u8 {
    #[inline]
    fn from(v: Opcode) -> Self {
        v.0
    }
}

impl fmt::Debug for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None if self.is_impdef() => write!(f, "CMD_IMPDEF({:#04x})", self.0),
            None => write!(f, "CMD_RESERVED({:#04x})", self.0),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Small field enums
// ---------------------------------------------------------------------------------------

/// `CMD_SYNC.CS` (ComplSignal), `dw0[13:12]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CompletionSignal {
    /// `0b00` SIG_NONE: no signal; MSIAddr, MSIData and MSIAttr are ignored.
    SigNone = 0,
    /// `0b01` SIG_IRQ: raise the interrupt; with MSIs and a non-zero MSIAddr, a 32-bit
    /// write of MSIData to MSIAddr.
    SigIrq = 1,
    /// `0b10` SIG_SEV: send a WFE wake-up event (when `IDR0.SEV == 1`).
    SigSev = 2,
    /// `0b11` Reserved: the command raises `CERROR_ILL`.
    Reserved3 = 3,
}

impl CompletionSignal {
    /// Decodes the low 2 bits of `raw`.
    #[inline]
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw & 3 {
            0 => Self::SigNone,
            1 => Self::SigIrq,
            2 => Self::SigSev,
            _ => Self::Reserved3,
        }
    }

    /// The 2-bit field value.
    #[inline]
    #[must_use]
    pub const fn raw(self) -> u8 {
        self as u8
    }
}

/// `CMD_PRI_RESP.Resp`, `dw1[13:12]`: the PCIe PRG response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PriResponse {
    /// `0b00` ResponseFailure: permanent non-paging error.
    Failure = 0,
    /// `0b01` InvalidRequest: page-in unsuccessful for one or more pages of the group.
    InvalidRequest = 1,
    /// `0b10` Success: the page request group was paged in.
    Success = 2,
    /// `0b11` Reserved: ILLEGAL, the command raises `CERROR_ILL`.
    Reserved3 = 3,
}

impl PriResponse {
    /// Decodes the low 2 bits of `raw`.
    #[inline]
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw & 3 {
            0 => Self::Failure,
            1 => Self::InvalidRequest,
            2 => Self::Success,
            _ => Self::Reserved3,
        }
    }

    /// The 2-bit field value.
    #[inline]
    #[must_use]
    pub const fn raw(self) -> u8 {
        self as u8
    }
}

/// TLBI `TG`, `dw1[11:10]`: granule of the entries to invalidate. [`TlbiGranule::Any`]
/// makes the command a non-range invalidation with no TTL hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TlbiGranule {
    /// `0b00`: any granule; not a range operation, TTL unused.
    #[default]
    Any = 0,
    /// `0b01`: 4 KB granule.
    Size4K = 1,
    /// `0b10`: 16 KB granule.
    Size16K = 2,
    /// `0b11`: 64 KB granule.
    Size64K = 3,
}

impl TlbiGranule {
    /// Decodes the low 2 bits of `raw`.
    #[inline]
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw & 3 {
            0 => Self::Any,
            1 => Self::Size4K,
            2 => Self::Size16K,
            _ => Self::Size64K,
        }
    }

    /// The 2-bit field value.
    #[inline]
    #[must_use]
    pub const fn raw(self) -> u8 {
        self as u8
    }

    /// log2 of the granule size in bytes (12, 14 or 16), or `None` for
    /// [`TlbiGranule::Any`].
    #[inline]
    #[must_use]
    pub const fn shift(self) -> Option<u32> {
        match self {
            Self::Any => None,
            Self::Size4K => Some(12),
            Self::Size16K => Some(14),
            Self::Size64K => Some(16),
        }
    }
}

/// TLBI `TTL`, `dw1[9:8]`: the level of the leaf entries being invalidated (a hint;
/// used only when TG is not [`TlbiGranule::Any`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TtlHint {
    /// `0b00`: leaf entries at any level.
    #[default]
    Any = 0,
    /// `0b01`: level 1 (Reserved for the 16 KB granule unless `IDR5.DS == 1`).
    Level1 = 1,
    /// `0b10`: level 2.
    Level2 = 2,
    /// `0b11`: level 3.
    Level3 = 3,
}

impl TtlHint {
    /// Decodes the low 2 bits of `raw`.
    #[inline]
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw & 3 {
            0 => Self::Any,
            1 => Self::Level1,
            2 => Self::Level2,
            _ => Self::Level3,
        }
    }

    /// The 2-bit field value.
    #[inline]
    #[must_use]
    pub const fn raw(self) -> u8 {
        self as u8
    }
}

/// The range-invalidation and level-hint fields shared by every TLBI-by-address command
/// (Arm IHI0070 §4.4.1.1; they are RES0 when `IDR3.RIL == 0`).
///
/// With `tg != Any` the command invalidates `(num + 1) × 2^scale` granules starting at
/// its address. [`TlbiRange::NONE`] (all zero) is the classic single-address form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TlbiRange {
    /// NUM, `dw0[16:12]` (5 bits, 0..=31): granule multiplier minus one.
    pub num: u8,
    /// SCALE, `dw0[25:20]` (6 bits, 0..=63; only 0..=31 when `IDR5.DS == 0`, where bit
    /// 25 is RES0).
    pub scale: u8,
    /// TTL, `dw1[9:8]`: level hint.
    pub ttl: TtlHint,
    /// TTL128, `dw1[7]`: the TTL hint refers to 128-bit descriptors.
    pub ttl128: bool,
    /// TG, `dw1[11:10]`: granule; [`TlbiGranule::Any`] means "not a range operation".
    pub tg: TlbiGranule,
}

impl TlbiRange {
    /// No range and no hint: every field zero.
    pub const NONE: Self = Self {
        num: 0,
        scale: 0,
        ttl: TtlHint::Any,
        ttl128: false,
        tg: TlbiGranule::Any,
    };

    /// Whether this is the Reserved combination `TG != 0, NUM == 0, SCALE == 0,
    /// TTL == 0`, which raises `CERROR_ILL`.
    #[inline]
    #[must_use]
    pub const fn is_reserved(&self) -> bool {
        !matches!(self.tg, TlbiGranule::Any)
            && self.num == 0
            && self.scale == 0
            && matches!(self.ttl, TtlHint::Any)
    }

    /// Number of granules covered, `(num + 1) × 2^scale`, or `None` when `tg` is
    /// [`TlbiGranule::Any`] (not a range operation) or the count overflows `u64`.
    #[must_use]
    pub const fn granules(&self) -> Option<u64> {
        if matches!(self.tg, TlbiGranule::Any) {
            return None;
        }
        let n = (self.num as u64) + 1;
        match 1u64.checked_shl(self.scale as u32) {
            Some(p) => n.checked_mul(p),
            None => None,
        }
    }

    /// Splits the address span `[start, start + size)` into range invalidations of
    /// `granule`-sized pages, for a driver to issue as `CMD_TLBI_*_VA`/`VAA`/`S2_IPA`
    /// commands. Each item is `(address, range)`.
    ///
    /// * The span is widened to whole granules (start rounded down, end rounded up) and
    ///   clipped at 2^64; `size == 0` yields nothing.
    /// * Chunks are taken in address order; each is `m × 2^s` granules with `m ≤ 32`,
    ///   `s` being the lowest set bit of the remaining granule count. When no chunk needs
    ///   `scale > max_scale`, this is the shortest possible list of commands (at most
    ///   ⌈bits / 5⌉ commands for a count of `bits` bits).
    /// * `max_scale` is the largest SCALE the SMMU takes: 31 when `IDR5.DS == 0`, 63 when
    ///   `IDR5.DS == 1`; larger values are treated as 63. A count that needs a larger
    ///   scale is covered by repeated chunks of `32 × 2^max_scale` granules, so the list
    ///   can then be long: check the span size first and prefer a by-ASID/VMID
    ///   invalidation for huge spans.
    /// * `ttl` is put in every chunk; except that a chunk of a single granule with
    ///   `ttl == Any` would be the Reserved encoding, so it is emitted as a non-range
    ///   invalidation ([`TlbiRange::NONE`]) of that address instead.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] (field `"TG"`) when `granule` is [`TlbiGranule::Any`].
    pub fn split(
        start: u64,
        size: u64,
        granule: TlbiGranule,
        ttl: TtlHint,
        max_scale: u8,
    ) -> Result<TlbiRangeIter, Error> {
        let Some(shift) = granule.shift() else {
            return Err(Error::InvalidValue {
                field: "TG",
                value: 0,
            });
        };
        let gmask = (1u64 << shift) - 1;
        let first = start & !gmask;
        let pages = if size == 0 {
            0
        } else {
            let end = u128::from(start) + u128::from(size);
            let end = (end + u128::from(gmask)) & !u128::from(gmask);
            let end = if end > 1u128 << 64 { 1u128 << 64 } else { end };
            // At most 2^64 / 2^12 = 2^52 pages: fits in u64.
            ((end - u128::from(first)) >> shift) as u64
        };
        Ok(TlbiRangeIter {
            addr: first,
            pages,
            shift,
            granule,
            ttl,
            max_scale: if max_scale > 63 { 63 } else { max_scale as u32 },
        })
    }
}

/// Iterator returned by [`TlbiRange::split`]: `(address, range)` per command.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct TlbiRangeIter {
    addr: u64,
    pages: u64,
    shift: u32,
    granule: TlbiGranule,
    ttl: TtlHint,
    max_scale: u32,
}

impl Iterator for TlbiRangeIter {
    type Item = (u64, TlbiRange);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pages == 0 {
            return None;
        }
        let low = self.pages.trailing_zeros();
        let (m, scale) = if low <= self.max_scale {
            // The 5-bit window starting at the lowest set bit: 1..=31 granules × 2^low.
            ((self.pages >> low) & 0x1f, low)
        } else {
            // Exact: the count is a multiple of 2^max_scale here.
            let m = self.pages >> self.max_scale;
            (if m > 32 { 32 } else { m }, self.max_scale)
        };
        let chunk = m << scale;
        let range = if m == 1 && scale == 0 && matches!(self.ttl, TtlHint::Any) {
            TlbiRange::NONE
        } else {
            TlbiRange {
                // m is 1..=32 and scale at most 63: both fit their fields.
                num: (m - 1) as u8,
                scale: scale as u8,
                ttl: self.ttl,
                ttl128: false,
                tg: self.granule,
            }
        };
        let addr = self.addr;
        self.addr = addr.wrapping_add(chunk.wrapping_shl(self.shift));
        self.pages -= chunk;
        Some((addr, range))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.pages != 0), None)
    }
}

impl FusedIterator for TlbiRangeIter {}

// ---------------------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------------------

/// One command queue entry, typed (Arm IHI0070 §4; project spec §4.1–4.3).
///
/// Field names follow the spec. `ssec` is the SSec bit (StreamID is Secure), which must
/// be `false` on the Non-secure queue; `ssv`/`ssid` are SSV and SubstreamID, kept apart
/// so that an SSID sent with `SSV == 0` round-trips (see [`Command::substream`]).
/// Addresses are full byte addresses whose low bits must be zero (`addr` of a TLBI is
/// `Addr[63:12]`, so bits `[11:0]` must be clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Command {
    /// `CMD_PREFETCH_CONFIG` (0x01): prefetch the configuration of a stream.
    PrefetchConfig {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]` (20 bits).
        ssid: SubstreamId,
    },
    /// `CMD_PREFETCH_ADDR` (0x02): prefetch configuration and TLB entries for a span.
    PrefetchAddr {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]` (20 bits).
        ssid: SubstreamId,
        /// Addr, `dw1[63:12]` (bits `[11:0]` must be zero).
        addr: Iova,
        /// Size, `dw1[4:0]`: 2^Size strides.
        size: u8,
        /// `dw1[11:5]`, uninterpreted (7 bits): Stride and NS live here or elsewhere at
        /// positions our reference does not give (project spec §9). Keep 0 on the
        /// Non-secure queue and on SMMUv3.0.
        stride_ns_raw: u8,
    },
    /// `CMD_CFGI_STE` (0x03): invalidate the STE of one StreamID.
    CfgiSte {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// Leaf, `dw1[0]`: `true` = the STE only; `false` = also the L1STD covering it.
        leaf: bool,
    },
    /// `CMD_CFGI_STE_RANGE` (0x04): invalidate `2^(range+1)` STEs, aligned; `range == 31`
    /// is `CMD_CFGI_ALL` (see [`Command::cfgi_all`]).
    CfgiSteRange {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`; its low `range + 1` bits are ignored.
        sid: StreamId,
        /// Range, `dw1[4:0]` (0..=31).
        range: u8,
    },
    /// `CMD_CFGI_CD` (0x05): invalidate one CD.
    CfgiCd {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SubstreamID (CD index), `dw0[31:12]` (20 bits). This command has no SSV.
        ssid: SubstreamId,
        /// Leaf, `dw1[0]`: `true` = the CD only; `false` = also the L1CD locating it.
        leaf: bool,
    },
    /// `CMD_CFGI_CD_ALL` (0x06): invalidate every CD of a StreamID.
    CfgiCdAll {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
    },
    /// `CMD_CFGI_VMS_PIDM` (0x07): invalidate cached VMS.PARTID_MAP information.
    CfgiVmsPidm {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// VMID, `dw0[47:32]` (position assumed, see the module docs).
        vmid: Vmid,
    },
    /// `CMD_TLBI_NH_ALL` (0x10): all stage 1 EL1 entries of a VMID.
    TlbiNhAll {
        /// VMID, `dw0[47:32]`.
        vmid: Vmid,
    },
    /// `CMD_TLBI_NH_ASID` (0x11): stage 1 EL1 non-global entries by ASID and VMID.
    TlbiNhAsid {
        /// VMID, `dw0[47:32]`.
        vmid: Vmid,
        /// ASID, `dw0[63:48]`.
        asid: Asid,
    },
    /// `CMD_TLBI_NH_VA` (0x12): stage 1 EL1 entries by VA, ASID and VMID.
    TlbiNhVa {
        /// VMID, `dw0[47:32]`.
        vmid: Vmid,
        /// ASID, `dw0[63:48]`.
        asid: Asid,
        /// Addr, `dw1[63:12]` (bits `[11:0]` must be zero).
        addr: Iova,
        /// Leaf, `dw1[0]`: last level only.
        leaf: bool,
        /// NUM, SCALE, TTL, TTL128, TG.
        range: TlbiRange,
    },
    /// `CMD_TLBI_NH_VAA` (0x13): stage 1 EL1 entries by VA for every ASID of a VMID.
    TlbiNhVaa {
        /// VMID, `dw0[47:32]`.
        vmid: Vmid,
        /// Addr, `dw1[63:12]` (bits `[11:0]` must be zero).
        addr: Iova,
        /// Leaf, `dw1[0]`: last level only.
        leaf: bool,
        /// NUM, SCALE, TTL, TTL128, TG.
        range: TlbiRange,
    },
    /// `CMD_TLBI_EL3_ALL` (0x18): all EL3 entries (Secure queue only).
    TlbiEl3All,
    /// `CMD_TLBI_EL3_VA` (0x1A): EL3 entries by VA (Secure queue only).
    TlbiEl3Va {
        /// Addr, `dw1[63:12]` (bits `[11:0]` must be zero).
        addr: Iova,
        /// Leaf, `dw1[0]`: last level only.
        leaf: bool,
        /// NUM, SCALE, TTL, TTL128, TG.
        range: TlbiRange,
    },
    /// `CMD_TLBI_EL2_ALL` (0x20): all EL2 entries.
    TlbiEl2All,
    /// `CMD_TLBI_EL2_ASID` (0x21): EL2-E2H non-global entries by ASID.
    TlbiEl2Asid {
        /// ASID, `dw0[63:48]`.
        asid: Asid,
    },
    /// `CMD_TLBI_EL2_VA` (0x22): EL2 entries by VA (and ASID under E2H).
    TlbiEl2Va {
        /// ASID, `dw0[63:48]`.
        asid: Asid,
        /// Addr, `dw1[63:12]` (bits `[11:0]` must be zero).
        addr: Iova,
        /// Leaf, `dw1[0]`: last level only.
        leaf: bool,
        /// NUM, SCALE, TTL, TTL128, TG.
        range: TlbiRange,
    },
    /// `CMD_TLBI_EL2_VAA` (0x23): EL2 entries by VA for every ASID.
    TlbiEl2Vaa {
        /// Addr, `dw1[63:12]` (bits `[11:0]` must be zero).
        addr: Iova,
        /// Leaf, `dw1[0]`: last level only.
        leaf: bool,
        /// NUM, SCALE, TTL, TTL128, TG.
        range: TlbiRange,
    },
    /// `CMD_TLBI_S12_VMALL` (0x28): all stage 1 and stage 2 entries of a VMID.
    TlbiS12Vmall {
        /// VMID, `dw0[47:32]`.
        vmid: Vmid,
    },
    /// `CMD_TLBI_S2_IPA` (0x2A): stage 2 entries by IPA and VMID.
    TlbiS2Ipa {
        /// VMID, `dw0[47:32]`.
        vmid: Vmid,
        /// IPA, `dw1[55:12]` (bits `[11:0]` and `[63:56]` must be zero; Linux uses only
        /// `[51:12]`).
        ipa: Ipa,
        /// Leaf, `dw1[0]`: last level only.
        leaf: bool,
        /// NUM, SCALE, TTL, TTL128, TG.
        range: TlbiRange,
    },
    /// `CMD_TLBI_NSNH_ALL` (0x30): every Non-secure non-EL2 entry, all stages.
    TlbiNsnhAll,
    /// `CMD_ATC_INV` (0x40): ATS invalidation request to an endpoint.
    AtcInv {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID (PASID), `dw0[31:12]` (20 bits).
        ssid: SubstreamId,
        /// Global, `dw0[9]` (with SSV: the Global Invalidate flag).
        global: bool,
        /// Addr, `dw1[63:12]` (bits `[11:0]` must be zero).
        addr: Iova,
        /// Size, `dw1[5:0]`: span of 4 KB × 2^Size ([`ATC_INV_SIZE_ALL`] = everything).
        size: u8,
    },
    /// `CMD_PRI_RESP` (0x41): respond to a PRI page request group.
    PriResp {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID (PASID), `dw0[31:12]` (20 bits).
        ssid: SubstreamId,
        /// PRGIndex, `dw1[8:0]` (9 bits).
        prg_index: u16,
        /// Resp, `dw1[13:12]`.
        resp: PriResponse,
    },
    /// `CMD_RESUME` (0x44): retry or terminate a stalled transaction.
    Resume {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// Ac, `dw0[12]`: `true` = retry, `false` = terminate.
        ac: bool,
        /// Ab, `dw0[13]`: on terminate, `true` = abort, `false` = RAZ/WI.
        ab: bool,
        /// STAG, `dw1[15:0]`, exactly as given by the stall event record.
        stag: u16,
    },
    /// `CMD_STALL_TERM` (0x45): terminate every stalled transaction of a StreamID.
    StallTerm {
        /// SSec, `dw0[10]`.
        ssec: bool,
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
    },
    /// `CMD_SYNC` (0x46): completion barrier, optionally signalled.
    Sync {
        /// CS, `dw0[13:12]`.
        cs: CompletionSignal,
        /// MSH, `dw0[23:22]`: shareability of the MSI write.
        msh: Shareability,
        /// MSIAttr, `dw0[27:24]` (4 bits, STE.MemAttr encoding).
        msi_attr: u8,
        /// MSIData, `dw0[63:32]`.
        msi_data: u32,
        /// MSIAddr, `dw1[55:2]`: must be 4-byte aligned and below 2^56. Zero means "no
        /// MSI write".
        msi_addr: PhysAddr,
    },
    /// Any opcode without a typed variant (reserved, IMPLEMENTATION DEFINED, Secure
    /// `CMD_TLBI_S_*`, `CMD_DPTI_*`), kept verbatim.
    Unknown {
        /// The opcode, `dw0[7:0]`; [`Command::encode`] writes it over `words[0][7:0]`.
        opcode: Opcode,
        /// The whole entry as read.
        words: [u64; 2],
    },
}

/// Why a command raises `CERROR_ILL` on the Non-secure command queue regardless of the
/// SMMU's ID registers ([`Command::decode_non_secure`]).
///
/// Checks that depend on the implementation (stage 1 TLBI without `IDR0.S1P`, RESUME with
/// `STALL_MODEL == 0b01`, …) are the consumer's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IllegalCommand {
    /// Reserved opcode (0x00 and every value neither architected nor IMPDEF).
    ReservedOpcode(Opcode),
    /// An EL3 or Secure-only TLBI on the Non-secure queue.
    SecureOnly(Opcode),
    /// SSec == 1 on the Non-secure queue.
    SsecSet,
    /// Non-zero RES0 bits (reported only when asked: checking them is optional).
    ReservedBits([u64; 2]),
    /// `CMD_SYNC` with `CS == 0b11`.
    ReservedCompletionSignal,
    /// `CMD_PRI_RESP` with `Resp == 0b11`.
    ReservedPriResponse,
    /// A TLBI with the Reserved range combination `TG != 0, NUM == 0, SCALE == 0,
    /// TTL == 0`.
    ReservedTlbiRange,
}

impl fmt::Display for IllegalCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedOpcode(op) => write!(f, "reserved opcode {op}"),
            Self::SecureOnly(op) => write!(f, "{op} is only valid on the Secure queue"),
            Self::SsecSet => f.write_str("SSec set on the Non-secure queue"),
            Self::ReservedBits([a, b]) => {
                write!(f, "RES0 bits set: dw0 {a:#018x}, dw1 {b:#018x}")
            }
            Self::ReservedCompletionSignal => f.write_str("CMD_SYNC with CS = 0b11"),
            Self::ReservedPriResponse => f.write_str("CMD_PRI_RESP with Resp = 0b11"),
            Self::ReservedTlbiRange => f.write_str("TLBI with TG != 0 and NUM = SCALE = TTL = 0"),
        }
    }
}

#[inline]
fn shareability_from_raw(raw: u64) -> Shareability {
    match raw & 3 {
        0 => Shareability::NonShareable,
        1 => Shareability::Reserved,
        2 => Shareability::Outer,
        _ => Shareability::Inner,
    }
}

#[inline]
fn shareability_raw(sh: Shareability) -> u64 {
    match sh {
        Shareability::NonShareable => 0,
        Shareability::Reserved => 1,
        Shareability::Outer => 2,
        Shareability::Inner => 3,
    }
}

#[inline]
fn decode_range(w: &[u64; 2]) -> TlbiRange {
    TlbiRange {
        num: pack::get(w, f::NUM) as u8,
        scale: pack::get(w, f::SCALE) as u8,
        ttl: TtlHint::from_raw(pack::get(w, f::TTL) as u8),
        ttl128: pack::flag(w, f::TTL128),
        tg: TlbiGranule::from_raw(pack::get(w, f::TG) as u8),
    }
}

#[inline]
fn encode_range(w: &mut [u64; 2], r: &TlbiRange, leaf: bool) -> Result<(), Error> {
    pack::put(w, f::NUM, u64::from(r.num), "NUM")?;
    pack::put(w, f::SCALE, u64::from(r.scale), "SCALE")?;
    pack::put(w, f::TTL, u64::from(r.ttl.raw()), "TTL")?;
    pack::put(w, f::TG, u64::from(r.tg.raw()), "TG")?;
    pack::put_flag(w, f::TTL128, r.ttl128);
    pack::put_flag(w, f::LEAF, leaf);
    Ok(())
}

#[inline]
fn sid(w: &[u64; 2]) -> StreamId {
    StreamId(pack::get(w, f::SID) as u32)
}

#[inline]
fn ssid(w: &[u64; 2]) -> SubstreamId {
    SubstreamId(pack::get(w, f::SSID) as u32)
}

#[inline]
fn vmid(w: &[u64; 2]) -> Vmid {
    Vmid(pack::get(w, f::VMID) as u16)
}

#[inline]
fn asid(w: &[u64; 2]) -> Asid {
    Asid(pack::get(w, f::ASID) as u16)
}

#[inline]
fn va(w: &[u64; 2]) -> Iova {
    Iova(pack::addr(w, f::ADDR))
}

impl Command {
    /// `CMD_CFGI_ALL` for the Non-secure stream table: `CMD_CFGI_STE_RANGE` with
    /// Range = 31 (StreamID ignored, encoded as 0).
    #[inline]
    #[must_use]
    pub const fn cfgi_all() -> Self {
        Self::CfgiSteRange {
            ssec: false,
            sid: StreamId(0),
            range: CFGI_ALL_RANGE,
        }
    }

    /// Whether this is `CMD_CFGI_ALL` (`CMD_CFGI_STE_RANGE` with Range = 31).
    #[inline]
    #[must_use]
    pub const fn is_cfgi_all(&self) -> bool {
        matches!(
            self,
            Self::CfgiSteRange {
                range: CFGI_ALL_RANGE,
                ..
            }
        )
    }

    /// The opcode of this command.
    #[must_use]
    pub const fn opcode(&self) -> Opcode {
        match self {
            Self::PrefetchConfig { .. } => Opcode::PREFETCH_CONFIG,
            Self::PrefetchAddr { .. } => Opcode::PREFETCH_ADDR,
            Self::CfgiSte { .. } => Opcode::CFGI_STE,
            Self::CfgiSteRange { .. } => Opcode::CFGI_STE_RANGE,
            Self::CfgiCd { .. } => Opcode::CFGI_CD,
            Self::CfgiCdAll { .. } => Opcode::CFGI_CD_ALL,
            Self::CfgiVmsPidm { .. } => Opcode::CFGI_VMS_PIDM,
            Self::TlbiNhAll { .. } => Opcode::TLBI_NH_ALL,
            Self::TlbiNhAsid { .. } => Opcode::TLBI_NH_ASID,
            Self::TlbiNhVa { .. } => Opcode::TLBI_NH_VA,
            Self::TlbiNhVaa { .. } => Opcode::TLBI_NH_VAA,
            Self::TlbiEl3All => Opcode::TLBI_EL3_ALL,
            Self::TlbiEl3Va { .. } => Opcode::TLBI_EL3_VA,
            Self::TlbiEl2All => Opcode::TLBI_EL2_ALL,
            Self::TlbiEl2Asid { .. } => Opcode::TLBI_EL2_ASID,
            Self::TlbiEl2Va { .. } => Opcode::TLBI_EL2_VA,
            Self::TlbiEl2Vaa { .. } => Opcode::TLBI_EL2_VAA,
            Self::TlbiS12Vmall { .. } => Opcode::TLBI_S12_VMALL,
            Self::TlbiS2Ipa { .. } => Opcode::TLBI_S2_IPA,
            Self::TlbiNsnhAll => Opcode::TLBI_NSNH_ALL,
            Self::AtcInv { .. } => Opcode::ATC_INV,
            Self::PriResp { .. } => Opcode::PRI_RESP,
            Self::Resume { .. } => Opcode::RESUME,
            Self::StallTerm { .. } => Opcode::STALL_TERM,
            Self::Sync { .. } => Opcode::SYNC,
            Self::Unknown { opcode, .. } => *opcode,
        }
    }

    /// The SSec bit, for the commands that have one (`false` otherwise, and for
    /// [`Command::Unknown`]).
    #[must_use]
    pub const fn ssec(&self) -> bool {
        match self {
            Self::PrefetchConfig { ssec, .. }
            | Self::PrefetchAddr { ssec, .. }
            | Self::CfgiSte { ssec, .. }
            | Self::CfgiSteRange { ssec, .. }
            | Self::CfgiCd { ssec, .. }
            | Self::CfgiCdAll { ssec, .. }
            | Self::CfgiVmsPidm { ssec, .. }
            | Self::Resume { ssec, .. }
            | Self::StallTerm { ssec, .. } => *ssec,
            _ => false,
        }
    }

    /// The StreamID parameter, for the commands that have one.
    #[must_use]
    pub const fn stream_id(&self) -> Option<StreamId> {
        match self {
            Self::PrefetchConfig { sid, .. }
            | Self::PrefetchAddr { sid, .. }
            | Self::CfgiSte { sid, .. }
            | Self::CfgiSteRange { sid, .. }
            | Self::CfgiCd { sid, .. }
            | Self::CfgiCdAll { sid, .. }
            | Self::AtcInv { sid, .. }
            | Self::PriResp { sid, .. }
            | Self::Resume { sid, .. }
            | Self::StallTerm { sid, .. } => Some(*sid),
            _ => None,
        }
    }

    /// The SubstreamID when the command supplies one: with SSV = 1 for the commands that
    /// have SSV, always for `CMD_CFGI_CD` (which has no SSV).
    #[must_use]
    pub const fn substream(&self) -> Option<SubstreamId> {
        match self {
            Self::PrefetchConfig { ssv, ssid, .. }
            | Self::PrefetchAddr { ssv, ssid, .. }
            | Self::AtcInv { ssv, ssid, .. }
            | Self::PriResp { ssv, ssid, .. } => {
                if *ssv {
                    Some(*ssid)
                } else {
                    None
                }
            }
            Self::CfgiCd { ssid, .. } => Some(*ssid),
            _ => None,
        }
    }

    /// The TLBI range fields, for the TLBI-by-address commands.
    #[must_use]
    pub const fn tlbi_range(&self) -> Option<TlbiRange> {
        match self {
            Self::TlbiNhVa { range, .. }
            | Self::TlbiNhVaa { range, .. }
            | Self::TlbiEl3Va { range, .. }
            | Self::TlbiEl2Va { range, .. }
            | Self::TlbiEl2Vaa { range, .. }
            | Self::TlbiS2Ipa { range, .. } => Some(*range),
            _ => None,
        }
    }

    /// Parses a command queue entry. Total: every bit pattern gives a value, and never
    /// panics. RES0 bits of a typed command are ignored (see
    /// [`reserved_bits`](Self::reserved_bits)); opcodes without a typed layout give
    /// [`Command::Unknown`] holding `words` unchanged.
    #[must_use]
    pub fn decode(words: [u64; 2]) -> Self {
        let w = &words;
        let opcode = Opcode(pack::get(w, f::OPCODE) as u8);
        let ssec = pack::flag(w, f::SSEC);
        let ssv = pack::flag(w, f::SSV);
        let leaf = pack::flag(w, f::LEAF);
        match opcode {
            Opcode::PREFETCH_CONFIG => Self::PrefetchConfig {
                ssec,
                sid: sid(w),
                ssv,
                ssid: ssid(w),
            },
            Opcode::PREFETCH_ADDR => Self::PrefetchAddr {
                ssec,
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                addr: va(w),
                size: pack::get(w, f::PREFETCH_SIZE) as u8,
                stride_ns_raw: pack::get(w, f::PREFETCH_RAW) as u8,
            },
            Opcode::CFGI_STE => Self::CfgiSte {
                ssec,
                sid: sid(w),
                leaf,
            },
            Opcode::CFGI_STE_RANGE => Self::CfgiSteRange {
                ssec,
                sid: sid(w),
                range: pack::get(w, f::RANGE) as u8,
            },
            Opcode::CFGI_CD => Self::CfgiCd {
                ssec,
                sid: sid(w),
                ssid: ssid(w),
                leaf,
            },
            Opcode::CFGI_CD_ALL => Self::CfgiCdAll { ssec, sid: sid(w) },
            Opcode::CFGI_VMS_PIDM => Self::CfgiVmsPidm {
                ssec,
                vmid: vmid(w),
            },
            Opcode::TLBI_NH_ALL => Self::TlbiNhAll { vmid: vmid(w) },
            Opcode::TLBI_NH_ASID => Self::TlbiNhAsid {
                vmid: vmid(w),
                asid: asid(w),
            },
            Opcode::TLBI_NH_VA => Self::TlbiNhVa {
                vmid: vmid(w),
                asid: asid(w),
                addr: va(w),
                leaf,
                range: decode_range(w),
            },
            Opcode::TLBI_NH_VAA => Self::TlbiNhVaa {
                vmid: vmid(w),
                addr: va(w),
                leaf,
                range: decode_range(w),
            },
            Opcode::TLBI_EL3_ALL => Self::TlbiEl3All,
            Opcode::TLBI_EL3_VA => Self::TlbiEl3Va {
                addr: va(w),
                leaf,
                range: decode_range(w),
            },
            Opcode::TLBI_EL2_ALL => Self::TlbiEl2All,
            Opcode::TLBI_EL2_ASID => Self::TlbiEl2Asid { asid: asid(w) },
            Opcode::TLBI_EL2_VA => Self::TlbiEl2Va {
                asid: asid(w),
                addr: va(w),
                leaf,
                range: decode_range(w),
            },
            Opcode::TLBI_EL2_VAA => Self::TlbiEl2Vaa {
                addr: va(w),
                leaf,
                range: decode_range(w),
            },
            Opcode::TLBI_S12_VMALL => Self::TlbiS12Vmall { vmid: vmid(w) },
            Opcode::TLBI_S2_IPA => Self::TlbiS2Ipa {
                vmid: vmid(w),
                ipa: Ipa(pack::addr(w, f::IPA)),
                leaf,
                range: decode_range(w),
            },
            Opcode::TLBI_NSNH_ALL => Self::TlbiNsnhAll,
            Opcode::ATC_INV => Self::AtcInv {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                global: pack::flag(w, f::GLOBAL),
                addr: va(w),
                size: pack::get(w, f::ATC_SIZE) as u8,
            },
            Opcode::PRI_RESP => Self::PriResp {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                prg_index: pack::get(w, f::PRI_PRGINDEX) as u16,
                resp: PriResponse::from_raw(pack::get(w, f::PRI_RESP) as u8),
            },
            Opcode::RESUME => Self::Resume {
                ssec,
                sid: sid(w),
                ac: pack::flag(w, f::RESUME_AC),
                ab: pack::flag(w, f::RESUME_AB),
                stag: pack::get(w, f::RESUME_STAG) as u16,
            },
            Opcode::STALL_TERM => Self::StallTerm { ssec, sid: sid(w) },
            Opcode::SYNC => Self::Sync {
                cs: CompletionSignal::from_raw(pack::get(w, f::SYNC_CS) as u8),
                msh: shareability_from_raw(pack::get(w, f::SYNC_MSH)),
                msi_attr: pack::get(w, f::SYNC_MSIATTR) as u8,
                msi_data: pack::get(w, f::SYNC_MSIDATA) as u32,
                msi_addr: PhysAddr(pack::addr(w, f::SYNC_MSIADDR)),
            },
            _ => Self::Unknown { opcode, words },
        }
    }

    /// The RES0 bits of `words` that are set, for the opcode in `words` (all zero for an
    /// opcode without a typed layout). An implementation may treat a non-zero result as
    /// a malformed command (`CERROR_ILL`) or ignore it (Arm IHI0070 §4.1.5).
    #[must_use]
    pub const fn reserved_bits(words: [u64; 2]) -> [u64; 2] {
        let mask = Opcode(words[0] as u8).field_mask();
        [words[0] & !mask[0], words[1] & !mask[1]]
    }

    /// Parses a command read from the **Non-secure** command queue and applies the
    /// checks that make it `CERROR_ILL` whatever the implementation: reserved opcode,
    /// Secure-only opcode, `SSec == 1`, RES0 bits set (only if `check_reserved`),
    /// `CMD_SYNC.CS == 0b11`, `CMD_PRI_RESP.Resp == 0b11`, and the Reserved TLBI range
    /// combination. Checks run in that order; the first failing one is reported.
    ///
    /// IMPLEMENTATION DEFINED and `CMD_DPTI_*` opcodes pass as [`Command::Unknown`]: the
    /// consumer decides whether it implements them.
    ///
    /// # Errors
    /// The first [`IllegalCommand`] reason found.
    pub fn decode_non_secure(
        words: [u64; 2],
        check_reserved: bool,
    ) -> Result<Self, IllegalCommand> {
        let opcode = Opcode(words[0] as u8);
        if opcode.is_reserved() {
            return Err(IllegalCommand::ReservedOpcode(opcode));
        }
        if opcode.is_secure_only() {
            return Err(IllegalCommand::SecureOnly(opcode));
        }
        let cmd = Self::decode(words);
        if cmd.ssec() {
            return Err(IllegalCommand::SsecSet);
        }
        if check_reserved {
            let r = Self::reserved_bits(words);
            if r[0] != 0 || r[1] != 0 {
                return Err(IllegalCommand::ReservedBits(r));
            }
        }
        match cmd {
            Self::Sync {
                cs: CompletionSignal::Reserved3,
                ..
            } => Err(IllegalCommand::ReservedCompletionSignal),
            Self::PriResp {
                resp: PriResponse::Reserved3,
                ..
            } => Err(IllegalCommand::ReservedPriResponse),
            _ => match cmd.tlbi_range() {
                Some(r) if r.is_reserved() => Err(IllegalCommand::ReservedTlbiRange),
                _ => Ok(cmd),
            },
        }
    }

    /// Builds the command queue entry.
    ///
    /// # Errors
    /// * [`Error::FieldOverflow`] when a value has bits above its field: `"SubstreamID"`
    ///   (20 bits), `"Range"` (5), `"Size"` (5 for PREFETCH_ADDR, 6 for ATC_INV),
    ///   `"Stride/NS"` (7), `"NUM"` (5), `"SCALE"` (6), `"PRGIndex"` (9), `"MSIAttr"`
    ///   (4); and for an address with bits at or above 2^56: `"IPA"`, `"MSIAddr"` (`bits`
    ///   is then 56, the address width).
    /// * [`Error::Misaligned`] when an address has bits set below its field: `"Addr"`
    ///   and `"IPA"` (4096), `"MSIAddr"` (4).
    /// * [`Error::InvalidValue`] (`"OPCODE"`) for [`Command::Unknown`] with an opcode that
    ///   has a typed variant (it would not decode back to `Unknown`).
    ///
    /// Fields are checked in `dw0` then `dw1` order; the first failure is reported.
    pub fn encode(&self) -> Result<[u64; 2], Error> {
        let mut w = [0u64; 2];
        let op = self.opcode();
        // OPCODE is 8 bits: cannot fail.
        pack::put(&mut w, f::OPCODE, u64::from(op.0), "OPCODE")?;
        match *self {
            Self::PrefetchConfig {
                ssec,
                sid,
                ssv,
                ssid,
            } => {
                Self::put_stream(&mut w, ssec, sid, ssv, ssid)?;
            }
            Self::PrefetchAddr {
                ssec,
                sid,
                ssv,
                ssid,
                addr,
                size,
                stride_ns_raw,
            } => {
                Self::put_stream(&mut w, ssec, sid, ssv, ssid)?;
                pack::put(&mut w, f::PREFETCH_SIZE, u64::from(size), "Size")?;
                pack::put(
                    &mut w,
                    f::PREFETCH_RAW,
                    u64::from(stride_ns_raw),
                    "Stride/NS",
                )?;
                pack::put_addr(&mut w, f::ADDR, addr.0, "Addr")?;
            }
            Self::CfgiSte { ssec, sid, leaf } => {
                Self::put_stream(&mut w, ssec, sid, false, SubstreamId(0))?;
                pack::put_flag(&mut w, f::LEAF, leaf);
            }
            Self::CfgiSteRange { ssec, sid, range } => {
                Self::put_stream(&mut w, ssec, sid, false, SubstreamId(0))?;
                pack::put(&mut w, f::RANGE, u64::from(range), "Range")?;
            }
            Self::CfgiCd {
                ssec,
                sid,
                ssid,
                leaf,
            } => {
                Self::put_stream(&mut w, ssec, sid, false, ssid)?;
                pack::put_flag(&mut w, f::LEAF, leaf);
            }
            Self::CfgiCdAll { ssec, sid } | Self::StallTerm { ssec, sid } => {
                Self::put_stream(&mut w, ssec, sid, false, SubstreamId(0))?;
            }
            Self::CfgiVmsPidm { ssec, vmid } => {
                pack::put_flag(&mut w, f::SSEC, ssec);
                pack::put(&mut w, f::VMID, u64::from(vmid.0), "VMID")?;
            }
            Self::TlbiNhAll { vmid } | Self::TlbiS12Vmall { vmid } => {
                pack::put(&mut w, f::VMID, u64::from(vmid.0), "VMID")?;
            }
            Self::TlbiNhAsid { vmid, asid } => {
                pack::put(&mut w, f::VMID, u64::from(vmid.0), "VMID")?;
                pack::put(&mut w, f::ASID, u64::from(asid.0), "ASID")?;
            }
            Self::TlbiNhVa {
                vmid,
                asid,
                addr,
                leaf,
                ref range,
            } => {
                pack::put(&mut w, f::VMID, u64::from(vmid.0), "VMID")?;
                pack::put(&mut w, f::ASID, u64::from(asid.0), "ASID")?;
                encode_range(&mut w, range, leaf)?;
                pack::put_addr(&mut w, f::ADDR, addr.0, "Addr")?;
            }
            Self::TlbiNhVaa {
                vmid,
                addr,
                leaf,
                ref range,
            } => {
                pack::put(&mut w, f::VMID, u64::from(vmid.0), "VMID")?;
                encode_range(&mut w, range, leaf)?;
                pack::put_addr(&mut w, f::ADDR, addr.0, "Addr")?;
            }
            Self::TlbiEl3All | Self::TlbiEl2All | Self::TlbiNsnhAll => {}
            Self::TlbiEl3Va {
                addr,
                leaf,
                ref range,
            }
            | Self::TlbiEl2Vaa {
                addr,
                leaf,
                ref range,
            } => {
                encode_range(&mut w, range, leaf)?;
                pack::put_addr(&mut w, f::ADDR, addr.0, "Addr")?;
            }
            Self::TlbiEl2Asid { asid } => {
                pack::put(&mut w, f::ASID, u64::from(asid.0), "ASID")?;
            }
            Self::TlbiEl2Va {
                asid,
                addr,
                leaf,
                ref range,
            } => {
                pack::put(&mut w, f::ASID, u64::from(asid.0), "ASID")?;
                encode_range(&mut w, range, leaf)?;
                pack::put_addr(&mut w, f::ADDR, addr.0, "Addr")?;
            }
            Self::TlbiS2Ipa {
                vmid,
                ipa,
                leaf,
                ref range,
            } => {
                pack::put(&mut w, f::VMID, u64::from(vmid.0), "VMID")?;
                encode_range(&mut w, range, leaf)?;
                pack::put_addr(&mut w, f::IPA, ipa.0, "IPA")?;
            }
            Self::AtcInv {
                sid,
                ssv,
                ssid,
                global,
                addr,
                size,
            } => {
                pack::put_flag(&mut w, f::GLOBAL, global);
                Self::put_stream(&mut w, false, sid, ssv, ssid)?;
                pack::put(&mut w, f::ATC_SIZE, u64::from(size), "Size")?;
                pack::put_addr(&mut w, f::ADDR, addr.0, "Addr")?;
            }
            Self::PriResp {
                sid,
                ssv,
                ssid,
                prg_index,
                resp,
            } => {
                Self::put_stream(&mut w, false, sid, ssv, ssid)?;
                pack::put(&mut w, f::PRI_PRGINDEX, u64::from(prg_index), "PRGIndex")?;
                pack::put(&mut w, f::PRI_RESP, u64::from(resp.raw()), "Resp")?;
            }
            Self::Resume {
                ssec,
                sid,
                ac,
                ab,
                stag,
            } => {
                Self::put_stream(&mut w, ssec, sid, false, SubstreamId(0))?;
                pack::put_flag(&mut w, f::RESUME_AC, ac);
                pack::put_flag(&mut w, f::RESUME_AB, ab);
                pack::put(&mut w, f::RESUME_STAG, u64::from(stag), "STAG")?;
            }
            Self::Sync {
                cs,
                msh,
                msi_attr,
                msi_data,
                msi_addr,
            } => {
                pack::put(&mut w, f::SYNC_CS, u64::from(cs.raw()), "CS")?;
                pack::put(&mut w, f::SYNC_MSH, shareability_raw(msh), "MSH")?;
                pack::put(&mut w, f::SYNC_MSIATTR, u64::from(msi_attr), "MSIAttr")?;
                pack::put(&mut w, f::SYNC_MSIDATA, u64::from(msi_data), "MSIData")?;
                pack::put_addr(&mut w, f::SYNC_MSIADDR, msi_addr.0, "MSIAddr")?;
            }
            Self::Unknown { opcode, words } => {
                if opcode.is_typed() {
                    return Err(Error::InvalidValue {
                        field: "OPCODE",
                        value: u64::from(opcode.0),
                    });
                }
                w = [f::OPCODE.set(words[0], u64::from(opcode.0)), words[1]];
            }
        }
        Ok(w)
    }

    /// Writes SSec, SSV, SubstreamID and StreamID (SSV/SSID are left zero when the caller
    /// passes `false`/0 for a command without them).
    fn put_stream(
        w: &mut [u64; 2],
        ssec: bool,
        sid: StreamId,
        ssv: bool,
        ssid: SubstreamId,
    ) -> Result<(), Error> {
        pack::put_flag(w, f::SSEC, ssec);
        pack::put_flag(w, f::SSV, ssv);
        pack::put(w, f::SSID, u64::from(ssid.0), "SubstreamID")?;
        pack::put(w, f::SID, u64::from(sid.0), "StreamID")
    }
}

impl From<[u64; 2]> for Command {
    #[inline]
    fn from(words: [u64; 2]) -> Self {
        Self::decode(words)
    }
}

impl TryFrom<Command> for [u64; 2] {
    type Error = Error;

    #[inline]
    fn try_from(cmd: Command) -> Result<Self, Error> {
        cmd.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_cover_typed_fields_only() {
        // Spot checks; the golden tests check every field independently.
        assert_eq!(Opcode::CFGI_STE.field_mask(), [0xffff_ffff_0000_04ff, 0x1]);
        assert_eq!(
            Opcode::SYNC.field_mask(),
            [0xffff_ffff_0fc0_30ff, 0x00ff_ffff_ffff_fffc]
        );
        assert_eq!(Opcode(0x99).field_mask(), [u64::MAX; 2]);
    }

    #[test]
    fn typed_opcodes_are_architected_and_not_secure_only_except_el3() {
        for op in 0..=255u8 {
            let op = Opcode(op);
            if op.is_typed() {
                assert!(op.is_architected(), "{op}");
            }
            if op.is_secure_only() {
                assert!(op.is_architected(), "{op}");
            }
            assert!(!(op.is_impdef() && op.is_architected()));
        }
    }
}
