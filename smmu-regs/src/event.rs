//! Event queue records (Arm IHI0070 §7.3; project spec §5).
//!
//! A record is 32 bytes: four little-endian 64-bit words `dw0..dw3`. [`Event`] has one
//! variant per architected event with typed fields, [`Event::Impdef`] for the
//! IMPLEMENTATION DEFINED IDs 0xE0–0xEF and [`Event::Unknown`] for every other ID, so that
//! every 256-bit pattern parses.
//!
//! * [`Event::decode`] is total and never panics; bits that the record's layout leaves
//!   RES0 are ignored and reported by [`Event::reserved_bits`]. For every `words`,
//!   `decode(words).encode() == Ok(words & id.field_mask())`.
//! * [`Event::encode`] (for the model) reports a value that does not fit as a typed
//!   [`Error`] (a SubstreamID above 20 bits, an IPA not 4 KB aligned, a FetchAddr not
//!   8-byte aligned, …).
//! * The translation-related faults 0x10–0x13 share one struct, [`TranslationFault`].
//!
//! Layout choices (project spec §5.2 and §9):
//! * Every fetch address, F_CD_FETCH, F_WALK_EABT and F_VMS_FETCH included, is
//!   `FetchAddr[55:3]` in `dw3` (the reference emulator puts F_CD_FETCH's in `dw2`).
//! * The IMPLEMENTATION DEFINED Reason and the GPCF bit of the fetch events are at
//!   `dw1[15:0]` and `dw1[16]` (Arm figures for F_STE_FETCH and F_VMS_FETCH; assumed
//!   for F_CD_FETCH). F_WALK_EABT's `dw1[15:0]` is typed as `reason` too: the project
//!   spec lists STAG there, the Arm text an IMPDEF Reason; either way it is the same
//!   bits, and F_WALK_EABT never stalls.
//! * F_BAD_ATS_TREQ (R/W/X/PRIV, Span) and E_PAGE_REQUEST (pR/pW/pX/uR/uW/uX, Span)
//!   keep `dw1` raw: the positions of those flags are not in our reference's text.
//! * Fields added by later revisions at positions our reference does not give (NSIPA,
//!   F_PERMISSION's Overlay/AssuredOnly/DirtyBit, F_TLB_CONFLICT's Reason) are not typed;
//!   they show up in [`Event::reserved_bits`].
//!
//! ```
//! use smmu_regs::event::{Event, EventId, FaultClass, TranslationFault, TranslationFaultKind};
//! use smmu_regs::{Iova, StreamId, SubstreamId};
//! use smmu_regs::ids::Ipa;
//!
//! let fault = Event::TranslationFault(TranslationFault {
//!     kind: TranslationFaultKind::Translation,
//!     sid: StreamId(0x42),
//!     ssv: false,
//!     ssid: SubstreamId(0),
//!     stall: true,
//!     stag: 7,
//!     pnu: false,
//!     ind: false,
//!     rnw: true,
//!     s2: false,
//!     class: FaultClass::InputAddr,
//!     ttrnw: false,
//!     input_addr: Iova(0x1234_5000),
//!     ipa: Ipa(0),
//! });
//! let words = fault.encode()?;
//! assert_eq!(words[0], 0x0000_0042_0000_0010);
//! assert_eq!(Event::decode(words), fault);
//! assert_eq!(fault.id(), EventId::F_TRANSLATION);
//! assert_eq!(fault.id().name(), Some("F_TRANSLATION"));
//! assert_eq!(fault.stall_tag(), Some(7));
//! # Ok::<(), smmu_regs::Error>(())
//! ```

use core::fmt;

use crate::cmd::pack;
use crate::error::Error;
use crate::ids::{Iova, Ipa, PhysAddr, StreamId, SubstreamId};

/// Size of an event record in bytes.
pub const EVENT_BYTES: usize = 32;

/// Number of 64-bit words in an event record.
pub const EVENT_WORDS: usize = 4;

/// Bit positions of every event field this module types (project spec §5.2; Arm
/// IHI0070 §7.3 figures for Reason and GPCF). Address fields keep the address bits at
/// their own positions.
pub mod field {
    use crate::fields::FieldPos;

    /// `dw0[7:0]` EventID.
    pub const ID: FieldPos = FieldPos::new(0, 0, 8);
    /// `dw0[11]` SSV.
    pub const SSV: FieldPos = FieldPos::new(0, 11, 1);
    /// `dw0[31:12]` SubstreamID.
    pub const SSID: FieldPos = FieldPos::new(0, 12, 20);
    /// `dw0[63:32]` StreamID.
    pub const SID: FieldPos = FieldPos::new(0, 32, 32);
    /// `dw1[15:0]` STAG (translation faults).
    pub const STAG: FieldPos = FieldPos::new(1, 0, 16);
    /// `dw1[15:0]` IMPLEMENTATION DEFINED Reason of F_STE_FETCH, F_CD_FETCH,
    /// F_VMS_FETCH and F_WALK_EABT.
    pub const FETCH_REASON: FieldPos = FieldPos::new(1, 0, 16);
    /// `dw1[16]` GPCF: the fetch abort came from a granule protection check.
    pub const GPCF: FieldPos = FieldPos::new(1, 16, 1);
    /// `dw1[31:16]` IMPLEMENTATION DEFINED Reason of F_UUT.
    pub const UUT_REASON: FieldPos = FieldPos::new(1, 16, 16);
    /// `dw1[31:0]` IMPLEMENTATION DEFINED Reason of F_CFG_CONFLICT.
    pub const CFG_CONFLICT_REASON: FieldPos = FieldPos::new(1, 0, 32);
    /// `dw1[31]` Stall (translation faults).
    pub const STALL: FieldPos = FieldPos::new(1, 31, 1);
    /// `dw1[33]` PnU: 1 = privileged.
    pub const PNU: FieldPos = FieldPos::new(1, 33, 1);
    /// `dw1[34]` InD: 1 = instruction.
    pub const IND: FieldPos = FieldPos::new(1, 34, 1);
    /// `dw1[35]` RnW: 1 = read.
    pub const RNW: FieldPos = FieldPos::new(1, 35, 1);
    /// `dw1[39]` S2: the fault is at stage 2.
    pub const S2: FieldPos = FieldPos::new(1, 39, 1);
    /// `dw1[41:40]` CLASS.
    pub const CLASS: FieldPos = FieldPos::new(1, 40, 2);
    /// `dw1[44]` TTRnW (Linux `EVTQ_1_TT_READ`): 1 = a descriptor read faulted.
    pub const TTRNW: FieldPos = FieldPos::new(1, 44, 1);
    /// `dw1[63:0]`, kept raw for F_BAD_ATS_TREQ and E_PAGE_REQUEST.
    pub const DW1: FieldPos = FieldPos::new(1, 0, 64);
    /// `dw2[63:0]` InputAddr.
    pub const INPUT_ADDR: FieldPos = FieldPos::new(2, 0, 64);
    /// `dw2[63:12]`: `InputAddr[63:12]` (E_PAGE_REQUEST).
    pub const PAGE_REQUEST_ADDR: FieldPos = FieldPos::new(2, 12, 52);
    /// `dw3[55:12]` IPA (stage 2 faults, F_TLB_CONFLICT).
    pub const IPA: FieldPos = FieldPos::new(3, 12, 44);
    /// `dw3[55:3]` FetchAddr (F_STE_FETCH, F_CD_FETCH, F_WALK_EABT, F_VMS_FETCH).
    pub const FETCH_ADDR: FieldPos = FieldPos::new(3, 3, 53);
}

use field as f;

// ---------------------------------------------------------------------------------------
// EventId
// ---------------------------------------------------------------------------------------

/// An event record type (`dw0[7:0]`), with every architected value as a constant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct EventId(pub u8);

impl EventId {
    /// F_UUT: unsupported upstream transaction.
    pub const F_UUT: Self = Self(0x01);
    /// C_BAD_STREAMID: StreamID out of range.
    pub const C_BAD_STREAMID: Self = Self(0x02);
    /// F_STE_FETCH: abort fetching an STE or L1STD.
    pub const F_STE_FETCH: Self = Self(0x03);
    /// C_BAD_STE: the STE is invalid.
    pub const C_BAD_STE: Self = Self(0x04);
    /// F_BAD_ATS_TREQ: ATS translation request not allowed.
    pub const F_BAD_ATS_TREQ: Self = Self(0x05);
    /// F_STREAM_DISABLED: traffic without (or with a forbidden) SubstreamID.
    pub const F_STREAM_DISABLED: Self = Self(0x06);
    /// F_TRANSL_FORBIDDEN: ATS Translated traffic not allowed.
    pub const F_TRANSL_FORBIDDEN: Self = Self(0x07);
    /// C_BAD_SUBSTREAMID: bad SubstreamID.
    pub const C_BAD_SUBSTREAMID: Self = Self(0x08);
    /// F_CD_FETCH: abort fetching a CD or L1CD.
    pub const F_CD_FETCH: Self = Self(0x09);
    /// C_BAD_CD: the CD is invalid.
    pub const C_BAD_CD: Self = Self(0x0A);
    /// F_WALK_EABT: abort reading or updating a translation table descriptor.
    pub const F_WALK_EABT: Self = Self(0x0B);
    /// F_TRANSLATION: translation fault.
    pub const F_TRANSLATION: Self = Self(0x10);
    /// F_ADDR_SIZE: address size fault.
    pub const F_ADDR_SIZE: Self = Self(0x11);
    /// F_ACCESS: access flag fault.
    pub const F_ACCESS: Self = Self(0x12);
    /// F_PERMISSION: permission fault.
    pub const F_PERMISSION: Self = Self(0x13);
    /// F_TLB_CONFLICT: TLB conflict.
    pub const F_TLB_CONFLICT: Self = Self(0x20);
    /// F_CFG_CONFLICT: configuration cache conflict.
    pub const F_CFG_CONFLICT: Self = Self(0x21);
    /// E_PAGE_REQUEST: speculative page request hint.
    pub const E_PAGE_REQUEST: Self = Self(0x24);
    /// F_VMS_FETCH: abort fetching the VMS.
    pub const F_VMS_FETCH: Self = Self(0x25);
    /// First IMPLEMENTATION DEFINED event ID.
    pub const IMPDEF_FIRST: Self = Self(0xE0);
    /// Last IMPLEMENTATION DEFINED event ID.
    pub const IMPDEF_LAST: Self = Self(0xEF);

    /// The raw ID byte.
    #[inline]
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The architectural name (`"F_TRANSLATION"`, …), or `None` for IMPLEMENTATION
    /// DEFINED and reserved IDs.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "F_UUT",
            0x02 => "C_BAD_STREAMID",
            0x03 => "F_STE_FETCH",
            0x04 => "C_BAD_STE",
            0x05 => "F_BAD_ATS_TREQ",
            0x06 => "F_STREAM_DISABLED",
            0x07 => "F_TRANSL_FORBIDDEN",
            0x08 => "C_BAD_SUBSTREAMID",
            0x09 => "F_CD_FETCH",
            0x0A => "C_BAD_CD",
            0x0B => "F_WALK_EABT",
            0x10 => "F_TRANSLATION",
            0x11 => "F_ADDR_SIZE",
            0x12 => "F_ACCESS",
            0x13 => "F_PERMISSION",
            0x20 => "F_TLB_CONFLICT",
            0x21 => "F_CFG_CONFLICT",
            0x24 => "E_PAGE_REQUEST",
            0x25 => "F_VMS_FETCH",
            _ => return None,
        })
    }

    /// Whether the ID is in the IMPLEMENTATION DEFINED range 0xE0–0xEF.
    #[inline]
    #[must_use]
    pub const fn is_impdef(self) -> bool {
        matches!(self.0, 0xE0..=0xEF)
    }

    /// Whether the ID is architected (has a [`name`](Self::name)); the typed variants of
    /// [`Event`] are exactly these IDs.
    #[inline]
    #[must_use]
    pub const fn is_architected(self) -> bool {
        self.name().is_some()
    }

    /// Whether this is one of the translation-related faults 0x10–0x13 (the events with
    /// a Stall field).
    #[inline]
    #[must_use]
    pub const fn is_translation_fault(self) -> bool {
        matches!(self.0, 0x10..=0x13)
    }

    /// The bits of `[dw0, dw1, dw2, dw3]` that carry a field of this record (ID
    /// included). For IMPLEMENTATION DEFINED and reserved IDs, every bit (the record is
    /// kept verbatim).
    #[must_use]
    pub const fn field_mask(self) -> [u64; 4] {
        use pack::union as u;
        match self.0 {
            0x01 => u(&[
                f::ID,
                f::SSV,
                f::SSID,
                f::SID,
                f::UUT_REASON,
                f::PNU,
                f::IND,
                f::RNW,
                f::INPUT_ADDR,
            ]),
            0x02 | 0x04 | 0x0A => u(&[f::ID, f::SSV, f::SSID, f::SID]),
            0x03 | 0x09 | 0x25 => u(&[
                f::ID,
                f::SSV,
                f::SSID,
                f::SID,
                f::FETCH_REASON,
                f::GPCF,
                f::FETCH_ADDR,
            ]),
            0x05 => u(&[f::ID, f::SSV, f::SSID, f::SID, f::DW1, f::INPUT_ADDR]),
            0x06 => u(&[f::ID, f::SID]),
            0x07 => u(&[f::ID, f::SID, f::RNW, f::INPUT_ADDR]),
            0x08 => u(&[f::ID, f::SSID, f::SID]),
            0x0B => u(&[
                f::ID,
                f::SSV,
                f::SSID,
                f::SID,
                f::FETCH_REASON,
                f::PNU,
                f::IND,
                f::RNW,
                f::S2,
                f::CLASS,
                f::INPUT_ADDR,
                f::FETCH_ADDR,
            ]),
            0x10..=0x13 => u(&[
                f::ID,
                f::SSV,
                f::SSID,
                f::SID,
                f::STAG,
                f::STALL,
                f::PNU,
                f::IND,
                f::RNW,
                f::S2,
                f::CLASS,
                f::TTRNW,
                f::INPUT_ADDR,
                f::IPA,
            ]),
            0x20 => u(&[
                f::ID,
                f::SSV,
                f::SSID,
                f::SID,
                f::PNU,
                f::IND,
                f::RNW,
                f::S2,
                f::INPUT_ADDR,
                f::IPA,
            ]),
            0x21 => u(&[f::ID, f::SSV, f::SSID, f::SID, f::CFG_CONFLICT_REASON]),
            0x24 => u(&[f::ID, f::SSV, f::SSID, f::SID, f::DW1, f::PAGE_REQUEST_ADDR]),
            _ => [u64::MAX; 4],
        }
    }
}

impl From<u8> for EventId {
    #[inline]
    fn from(v: u8) -> Self {
        Self(v)
    }
}

impl From<EventId> for u8 {
    #[inline]
    fn from(v: EventId) -> Self {
        v.0
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None if self.is_impdef() => write!(f, "IMPDEF_EVENT({:#04x})", self.0),
            None => write!(f, "EVENT_RESERVED({:#04x})", self.0),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Field types
// ---------------------------------------------------------------------------------------

/// `CLASS`, `dw1[41:40]`: what the faulting access was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FaultClass {
    /// `0b00` CD: fetching a CD (through stage 2).
    Cd = 0,
    /// `0b01` TTD: fetching a stage 1 translation table descriptor.
    TranslationTable = 1,
    /// `0b10` IN: translating the input address.
    InputAddr = 2,
    /// `0b11` Reserved.
    Reserved3 = 3,
}

impl FaultClass {
    /// Decodes the low 2 bits of `raw`.
    #[inline]
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw & 3 {
            0 => Self::Cd,
            1 => Self::TranslationTable,
            2 => Self::InputAddr,
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

/// Which translation-related fault a [`TranslationFault`] record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TranslationFaultKind {
    /// F_TRANSLATION (0x10).
    Translation,
    /// F_ADDR_SIZE (0x11).
    AddrSize,
    /// F_ACCESS (0x12).
    Access,
    /// F_PERMISSION (0x13).
    Permission,
}

impl TranslationFaultKind {
    /// The event ID of this kind.
    #[inline]
    #[must_use]
    pub const fn id(self) -> EventId {
        match self {
            Self::Translation => EventId::F_TRANSLATION,
            Self::AddrSize => EventId::F_ADDR_SIZE,
            Self::Access => EventId::F_ACCESS,
            Self::Permission => EventId::F_PERMISSION,
        }
    }

    /// The kind for an event ID 0x10–0x13, `None` otherwise.
    #[inline]
    #[must_use]
    pub const fn from_id(id: EventId) -> Option<Self> {
        Some(match id.0 {
            0x10 => Self::Translation,
            0x11 => Self::AddrSize,
            0x12 => Self::Access,
            0x13 => Self::Permission,
            _ => return None,
        })
    }
}

/// The record of a translation-related fault: F_TRANSLATION, F_ADDR_SIZE, F_ACCESS or
/// F_PERMISSION (0x10–0x13), which share one layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TranslationFault {
    /// Which fault (the EventID).
    pub kind: TranslationFaultKind,
    /// StreamID, `dw0[63:32]`.
    pub sid: StreamId,
    /// SSV, `dw0[11]`.
    pub ssv: bool,
    /// SubstreamID, `dw0[31:12]` (20 bits; meaningful when `ssv`).
    pub ssid: SubstreamId,
    /// Stall, `dw1[31]`: the transaction is stalled awaiting `CMD_RESUME`.
    pub stall: bool,
    /// STAG, `dw1[15:0]`: token for `CMD_RESUME` (meaningful when `stall`).
    pub stag: u16,
    /// PnU, `dw1[33]`: privileged.
    pub pnu: bool,
    /// InD, `dw1[34]`: instruction.
    pub ind: bool,
    /// RnW, `dw1[35]`: read.
    pub rnw: bool,
    /// S2, `dw1[39]`: the fault is at stage 2.
    pub s2: bool,
    /// CLASS, `dw1[41:40]`.
    pub class: FaultClass,
    /// TTRnW, `dw1[44]`: a descriptor read (not write) faulted. Defined for
    /// F_PERMISSION with CLASS = TT; decoded for every kind (RES0/UNKNOWN otherwise).
    pub ttrnw: bool,
    /// InputAddr, `dw2[63:0]`.
    pub input_addr: Iova,
    /// IPA, `dw3[55:12]` (stage 2 faults; bits `[11:0]` and `[63:56]` must be zero).
    pub ipa: Ipa,
}

/// One event record, typed (Arm IHI0070 §7.3; project spec §5.1–5.2).
///
/// `ssv`/`ssid` are SSV and SubstreamID, kept apart so that the SubstreamID bits of a
/// record with `SSV == 0` round-trip ([`Event::substream`] combines them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// F_UUT (0x01): unsupported upstream transaction.
    Uut {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// IMPLEMENTATION DEFINED Reason, `dw1[31:16]`.
        reason: u16,
        /// PnU, `dw1[33]` (incoming attribute, before STE overrides).
        pnu: bool,
        /// InD, `dw1[34]` (incoming attribute, before STE overrides).
        ind: bool,
        /// RnW, `dw1[35]`.
        rnw: bool,
        /// InputAddr, `dw2[63:0]`.
        input_addr: Iova,
    },
    /// C_BAD_STREAMID (0x02): StreamID out of range or invalid L1STD.
    BadStreamId {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
    },
    /// F_STE_FETCH (0x03): abort while fetching an STE or L1STD.
    SteFetch {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// IMPLEMENTATION DEFINED Reason, `dw1[15:0]`.
        reason: u16,
        /// GPCF, `dw1[16]`: granule protection check fault.
        gpcf: bool,
        /// FetchAddr, `dw3[55:3]` (8-byte aligned, below 2^56).
        fetch_addr: PhysAddr,
    },
    /// C_BAD_STE (0x04): the STE is invalid.
    BadSte {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
    },
    /// F_BAD_ATS_TREQ (0x05): ATS translation request not allowed.
    BadAtsTreq {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// `dw1`, raw: holds the requested R/W/X/PRIV permissions and Span at positions
        /// this crate does not interpret.
        raw_dw1: u64,
        /// InputAddr, `dw2[63:0]`.
        input_addr: Iova,
    },
    /// F_STREAM_DISABLED (0x06): traffic without a SubstreamID (or with SubstreamID 0)
    /// that the STE forbids.
    StreamDisabled {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
    },
    /// F_TRANSL_FORBIDDEN (0x07): ATS Translated traffic not allowed.
    TranslForbidden {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// RnW, `dw1[35]`.
        rnw: bool,
        /// InputAddr, `dw2[63:0]`.
        input_addr: Iova,
    },
    /// C_BAD_SUBSTREAMID (0x08): bad SubstreamID. The SubstreamID is always valid (no
    /// SSV in this record).
    BadSubstreamId {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
    },
    /// F_CD_FETCH (0x09): abort while fetching a CD or L1CD.
    CdFetch {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// IMPLEMENTATION DEFINED Reason, `dw1[15:0]` (position assumed as F_STE_FETCH).
        reason: u16,
        /// GPCF, `dw1[16]` (position assumed as F_STE_FETCH).
        gpcf: bool,
        /// FetchAddr, `dw3[55:3]` (8-byte aligned, below 2^56).
        fetch_addr: PhysAddr,
    },
    /// C_BAD_CD (0x0A): the CD is invalid.
    BadCd {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
    },
    /// F_WALK_EABT (0x0B): abort reading or updating a translation table descriptor.
    WalkEabt {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// `dw1[15:0]`: IMPLEMENTATION DEFINED Reason (listed as STAG by the project
        /// spec §5.2; same bits).
        reason: u16,
        /// PnU, `dw1[33]`.
        pnu: bool,
        /// InD, `dw1[34]`.
        ind: bool,
        /// RnW, `dw1[35]` (of the input transaction).
        rnw: bool,
        /// S2, `dw1[39]`: a stage 2 descriptor fetch aborted.
        s2: bool,
        /// CLASS, `dw1[41:40]`.
        class: FaultClass,
        /// InputAddr, `dw2[63:0]`.
        input_addr: Iova,
        /// FetchAddr, `dw3[55:3]`: the descriptor address (8-byte aligned, below 2^56).
        fetch_addr: PhysAddr,
    },
    /// F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION (0x10–0x13).
    TranslationFault(TranslationFault),
    /// F_TLB_CONFLICT (0x20). Its IMPLEMENTATION DEFINED Reason is not typed.
    TlbConflict {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// PnU, `dw1[33]`.
        pnu: bool,
        /// InD, `dw1[34]`.
        ind: bool,
        /// RnW, `dw1[35]`.
        rnw: bool,
        /// S2, `dw1[39]`: IPA is valid.
        s2: bool,
        /// InputAddr, `dw2[63:0]`.
        input_addr: Iova,
        /// IPA, `dw3[55:12]`.
        ipa: Ipa,
    },
    /// F_CFG_CONFLICT (0x21): configuration cache conflict.
    CfgConflict {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// IMPLEMENTATION DEFINED Reason, `dw1[31:0]`.
        reason: u32,
    },
    /// E_PAGE_REQUEST (0x24): speculative page request hint.
    PageRequest {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// `dw1`, raw: holds Span and the pR/pW/pX/uR/uW/uX flags at positions this
        /// crate does not interpret.
        raw_dw1: u64,
        /// `InputAddr[63:12]`, `dw2[63:12]` (bits `[11:0]` must be zero).
        input_addr: Iova,
    },
    /// F_VMS_FETCH (0x25): abort while fetching the VMS.
    VmsFetch {
        /// StreamID, `dw0[63:32]`.
        sid: StreamId,
        /// SSV, `dw0[11]`.
        ssv: bool,
        /// SubstreamID, `dw0[31:12]`.
        ssid: SubstreamId,
        /// IMPLEMENTATION DEFINED Reason, `dw1[15:0]`.
        reason: u16,
        /// GPCF, `dw1[16]`.
        gpcf: bool,
        /// FetchAddr, `dw3[55:3]` (8-byte aligned, below 2^56).
        fetch_addr: PhysAddr,
    },
    /// IMPLEMENTATION DEFINED event 0xE0–0xEF, kept verbatim.
    Impdef {
        /// The event ID; [`Event::encode`] writes it over `words[0][7:0]`.
        id: EventId,
        /// The whole record.
        words: [u64; 4],
    },
    /// A reserved event ID, kept verbatim. Arm recommends treating it as non-fatal.
    Unknown {
        /// The event ID; [`Event::encode`] writes it over `words[0][7:0]`.
        id: EventId,
        /// The whole record.
        words: [u64; 4],
    },
}

#[inline]
fn sid(w: &[u64; 4]) -> StreamId {
    StreamId(pack::get(w, f::SID) as u32)
}

#[inline]
fn ssid(w: &[u64; 4]) -> SubstreamId {
    SubstreamId(pack::get(w, f::SSID) as u32)
}

#[inline]
fn input_addr(w: &[u64; 4]) -> Iova {
    Iova(pack::get(w, f::INPUT_ADDR))
}

#[inline]
fn fetch_addr(w: &[u64; 4]) -> PhysAddr {
    PhysAddr(pack::addr(w, f::FETCH_ADDR))
}

#[inline]
fn ipa(w: &[u64; 4]) -> Ipa {
    Ipa(pack::addr(w, f::IPA))
}

#[inline]
fn class(w: &[u64; 4]) -> FaultClass {
    FaultClass::from_raw(pack::get(w, f::CLASS) as u8)
}

fn put_header(w: &mut [u64; 4], sid: StreamId, ssv: bool, ssid: SubstreamId) -> Result<(), Error> {
    pack::put_flag(w, f::SSV, ssv);
    pack::put(w, f::SSID, u64::from(ssid.0), "SubstreamID")?;
    pack::put(w, f::SID, u64::from(sid.0), "StreamID")
}

fn put_fetch(w: &mut [u64; 4], reason: u16, gpcf: bool, fetch_addr: PhysAddr) -> Result<(), Error> {
    pack::put(w, f::FETCH_REASON, u64::from(reason), "Reason")?;
    pack::put_flag(w, f::GPCF, gpcf);
    pack::put_addr(w, f::FETCH_ADDR, fetch_addr.0, "FetchAddr")
}

fn put_attrs(w: &mut [u64; 4], pnu: bool, ind: bool, rnw: bool) {
    pack::put_flag(w, f::PNU, pnu);
    pack::put_flag(w, f::IND, ind);
    pack::put_flag(w, f::RNW, rnw);
}

impl Event {
    /// The event ID of this record.
    #[must_use]
    pub const fn id(&self) -> EventId {
        match self {
            Self::Uut { .. } => EventId::F_UUT,
            Self::BadStreamId { .. } => EventId::C_BAD_STREAMID,
            Self::SteFetch { .. } => EventId::F_STE_FETCH,
            Self::BadSte { .. } => EventId::C_BAD_STE,
            Self::BadAtsTreq { .. } => EventId::F_BAD_ATS_TREQ,
            Self::StreamDisabled { .. } => EventId::F_STREAM_DISABLED,
            Self::TranslForbidden { .. } => EventId::F_TRANSL_FORBIDDEN,
            Self::BadSubstreamId { .. } => EventId::C_BAD_SUBSTREAMID,
            Self::CdFetch { .. } => EventId::F_CD_FETCH,
            Self::BadCd { .. } => EventId::C_BAD_CD,
            Self::WalkEabt { .. } => EventId::F_WALK_EABT,
            Self::TranslationFault(t) => t.kind.id(),
            Self::TlbConflict { .. } => EventId::F_TLB_CONFLICT,
            Self::CfgConflict { .. } => EventId::F_CFG_CONFLICT,
            Self::PageRequest { .. } => EventId::E_PAGE_REQUEST,
            Self::VmsFetch { .. } => EventId::F_VMS_FETCH,
            Self::Impdef { id, .. } | Self::Unknown { id, .. } => *id,
        }
    }

    /// The StreamID of the record (every architected record has one); `None` for
    /// IMPLEMENTATION DEFINED and unknown records, whose layout is not known.
    #[must_use]
    pub const fn stream_id(&self) -> Option<StreamId> {
        match self {
            Self::Uut { sid, .. }
            | Self::BadStreamId { sid, .. }
            | Self::SteFetch { sid, .. }
            | Self::BadSte { sid, .. }
            | Self::BadAtsTreq { sid, .. }
            | Self::StreamDisabled { sid }
            | Self::TranslForbidden { sid, .. }
            | Self::BadSubstreamId { sid, .. }
            | Self::CdFetch { sid, .. }
            | Self::BadCd { sid, .. }
            | Self::WalkEabt { sid, .. }
            | Self::TlbConflict { sid, .. }
            | Self::CfgConflict { sid, .. }
            | Self::PageRequest { sid, .. }
            | Self::VmsFetch { sid, .. } => Some(*sid),
            Self::TranslationFault(t) => Some(t.sid),
            Self::Impdef { .. } | Self::Unknown { .. } => None,
        }
    }

    /// The SubstreamID when the record carries a valid one: with SSV = 1, and always for
    /// C_BAD_SUBSTREAMID.
    #[must_use]
    pub const fn substream(&self) -> Option<SubstreamId> {
        match self {
            Self::Uut { ssv, ssid, .. }
            | Self::BadStreamId { ssv, ssid, .. }
            | Self::SteFetch { ssv, ssid, .. }
            | Self::BadSte { ssv, ssid, .. }
            | Self::BadAtsTreq { ssv, ssid, .. }
            | Self::CdFetch { ssv, ssid, .. }
            | Self::BadCd { ssv, ssid, .. }
            | Self::WalkEabt { ssv, ssid, .. }
            | Self::TlbConflict { ssv, ssid, .. }
            | Self::CfgConflict { ssv, ssid, .. }
            | Self::PageRequest { ssv, ssid, .. }
            | Self::VmsFetch { ssv, ssid, .. } => {
                if *ssv {
                    Some(*ssid)
                } else {
                    None
                }
            }
            Self::TranslationFault(t) => {
                if t.ssv {
                    Some(t.ssid)
                } else {
                    None
                }
            }
            Self::BadSubstreamId { ssid, .. } => Some(*ssid),
            _ => None,
        }
    }

    /// The STAG of a stall record (a translation fault with Stall = 1), which software
    /// must answer with `CMD_RESUME` (StreamID, STAG) or `CMD_STALL_TERM`.
    #[must_use]
    pub const fn stall_tag(&self) -> Option<u16> {
        match self {
            Self::TranslationFault(TranslationFault {
                stall: true, stag, ..
            }) => Some(*stag),
            _ => None,
        }
    }

    /// Parses an event record. Total: every bit pattern gives a value, and never
    /// panics. RES0 bits are ignored (see [`reserved_bits`](Self::reserved_bits)).
    #[must_use]
    pub fn decode(words: [u64; 4]) -> Self {
        let w = &words;
        let id = EventId(pack::get(w, f::ID) as u8);
        let ssv = pack::flag(w, f::SSV);
        let pnu = pack::flag(w, f::PNU);
        let ind = pack::flag(w, f::IND);
        let rnw = pack::flag(w, f::RNW);
        let s2 = pack::flag(w, f::S2);
        let reason16 = pack::get(w, f::FETCH_REASON) as u16;
        let gpcf = pack::flag(w, f::GPCF);
        match id {
            EventId::F_UUT => Self::Uut {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                reason: pack::get(w, f::UUT_REASON) as u16,
                pnu,
                ind,
                rnw,
                input_addr: input_addr(w),
            },
            EventId::C_BAD_STREAMID => Self::BadStreamId {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
            },
            EventId::F_STE_FETCH => Self::SteFetch {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                reason: reason16,
                gpcf,
                fetch_addr: fetch_addr(w),
            },
            EventId::C_BAD_STE => Self::BadSte {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
            },
            EventId::F_BAD_ATS_TREQ => Self::BadAtsTreq {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                raw_dw1: pack::get(w, f::DW1),
                input_addr: input_addr(w),
            },
            EventId::F_STREAM_DISABLED => Self::StreamDisabled { sid: sid(w) },
            EventId::F_TRANSL_FORBIDDEN => Self::TranslForbidden {
                sid: sid(w),
                rnw,
                input_addr: input_addr(w),
            },
            EventId::C_BAD_SUBSTREAMID => Self::BadSubstreamId {
                sid: sid(w),
                ssid: ssid(w),
            },
            EventId::F_CD_FETCH => Self::CdFetch {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                reason: reason16,
                gpcf,
                fetch_addr: fetch_addr(w),
            },
            EventId::C_BAD_CD => Self::BadCd {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
            },
            EventId::F_WALK_EABT => Self::WalkEabt {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                reason: reason16,
                pnu,
                ind,
                rnw,
                s2,
                class: class(w),
                input_addr: input_addr(w),
                fetch_addr: fetch_addr(w),
            },
            EventId::F_TLB_CONFLICT => Self::TlbConflict {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                pnu,
                ind,
                rnw,
                s2,
                input_addr: input_addr(w),
                ipa: ipa(w),
            },
            EventId::F_CFG_CONFLICT => Self::CfgConflict {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                reason: pack::get(w, f::CFG_CONFLICT_REASON) as u32,
            },
            EventId::E_PAGE_REQUEST => Self::PageRequest {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                raw_dw1: pack::get(w, f::DW1),
                input_addr: Iova(pack::addr(w, f::PAGE_REQUEST_ADDR)),
            },
            EventId::F_VMS_FETCH => Self::VmsFetch {
                sid: sid(w),
                ssv,
                ssid: ssid(w),
                reason: reason16,
                gpcf,
                fetch_addr: fetch_addr(w),
            },
            _ => match TranslationFaultKind::from_id(id) {
                Some(kind) => Self::TranslationFault(TranslationFault {
                    kind,
                    sid: sid(w),
                    ssv,
                    ssid: ssid(w),
                    stall: pack::flag(w, f::STALL),
                    stag: pack::get(w, f::STAG) as u16,
                    pnu,
                    ind,
                    rnw,
                    s2,
                    class: class(w),
                    ttrnw: pack::flag(w, f::TTRNW),
                    input_addr: input_addr(w),
                    ipa: ipa(w),
                }),
                None if id.is_impdef() => Self::Impdef { id, words },
                None => Self::Unknown { id, words },
            },
        }
    }

    /// The RES0 bits of `words` that are set, for the event ID in `words` (all zero for
    /// IMPLEMENTATION DEFINED and reserved IDs).
    #[must_use]
    pub const fn reserved_bits(words: [u64; 4]) -> [u64; 4] {
        let m = EventId(words[0] as u8).field_mask();
        [
            words[0] & !m[0],
            words[1] & !m[1],
            words[2] & !m[2],
            words[3] & !m[3],
        ]
    }

    /// Builds the event record.
    ///
    /// # Errors
    /// * [`Error::FieldOverflow`] `"SubstreamID"` (20 bits); `"IPA"` / `"FetchAddr"` with
    ///   bits at or above 2^56 (`bits` = 56).
    /// * [`Error::Misaligned`] `"IPA"` and E_PAGE_REQUEST `"InputAddr"` (4096),
    ///   `"FetchAddr"` (8).
    /// * [`Error::InvalidValue`] `"EventID"` for [`Event::Impdef`] with an ID outside
    ///   0xE0–0xEF, or [`Event::Unknown`] with an architected or IMPDEF ID (they would
    ///   not decode back to the same variant).
    ///
    /// Fields are checked in `dw0` to `dw3` order; the first failure is reported.
    pub fn encode(&self) -> Result<[u64; 4], Error> {
        let mut w = [0u64; 4];
        pack::put(&mut w, f::ID, u64::from(self.id().0), "EventID")?;
        match *self {
            Self::Uut {
                sid,
                ssv,
                ssid,
                reason,
                pnu,
                ind,
                rnw,
                input_addr,
            } => {
                put_header(&mut w, sid, ssv, ssid)?;
                pack::put(&mut w, f::UUT_REASON, u64::from(reason), "Reason")?;
                put_attrs(&mut w, pnu, ind, rnw);
                pack::put(&mut w, f::INPUT_ADDR, input_addr.0, "InputAddr")?;
            }
            Self::BadStreamId { sid, ssv, ssid }
            | Self::BadSte { sid, ssv, ssid }
            | Self::BadCd { sid, ssv, ssid } => {
                put_header(&mut w, sid, ssv, ssid)?;
            }
            Self::SteFetch {
                sid,
                ssv,
                ssid,
                reason,
                gpcf,
                fetch_addr,
            }
            | Self::CdFetch {
                sid,
                ssv,
                ssid,
                reason,
                gpcf,
                fetch_addr,
            }
            | Self::VmsFetch {
                sid,
                ssv,
                ssid,
                reason,
                gpcf,
                fetch_addr,
            } => {
                put_header(&mut w, sid, ssv, ssid)?;
                put_fetch(&mut w, reason, gpcf, fetch_addr)?;
            }
            Self::BadAtsTreq {
                sid,
                ssv,
                ssid,
                raw_dw1,
                input_addr,
            } => {
                put_header(&mut w, sid, ssv, ssid)?;
                pack::put(&mut w, f::DW1, raw_dw1, "dw1")?;
                pack::put(&mut w, f::INPUT_ADDR, input_addr.0, "InputAddr")?;
            }
            Self::StreamDisabled { sid } => {
                pack::put(&mut w, f::SID, u64::from(sid.0), "StreamID")?;
            }
            Self::TranslForbidden {
                sid,
                rnw,
                input_addr,
            } => {
                pack::put(&mut w, f::SID, u64::from(sid.0), "StreamID")?;
                pack::put_flag(&mut w, f::RNW, rnw);
                pack::put(&mut w, f::INPUT_ADDR, input_addr.0, "InputAddr")?;
            }
            Self::BadSubstreamId { sid, ssid } => {
                put_header(&mut w, sid, false, ssid)?;
            }
            Self::WalkEabt {
                sid,
                ssv,
                ssid,
                reason,
                pnu,
                ind,
                rnw,
                s2,
                class,
                input_addr,
                fetch_addr,
            } => {
                put_header(&mut w, sid, ssv, ssid)?;
                pack::put(&mut w, f::FETCH_REASON, u64::from(reason), "Reason")?;
                put_attrs(&mut w, pnu, ind, rnw);
                pack::put_flag(&mut w, f::S2, s2);
                pack::put(&mut w, f::CLASS, u64::from(class.raw()), "CLASS")?;
                pack::put(&mut w, f::INPUT_ADDR, input_addr.0, "InputAddr")?;
                pack::put_addr(&mut w, f::FETCH_ADDR, fetch_addr.0, "FetchAddr")?;
            }
            Self::TranslationFault(ref t) => {
                put_header(&mut w, t.sid, t.ssv, t.ssid)?;
                pack::put(&mut w, f::STAG, u64::from(t.stag), "STAG")?;
                pack::put_flag(&mut w, f::STALL, t.stall);
                put_attrs(&mut w, t.pnu, t.ind, t.rnw);
                pack::put_flag(&mut w, f::S2, t.s2);
                pack::put(&mut w, f::CLASS, u64::from(t.class.raw()), "CLASS")?;
                pack::put_flag(&mut w, f::TTRNW, t.ttrnw);
                pack::put(&mut w, f::INPUT_ADDR, t.input_addr.0, "InputAddr")?;
                pack::put_addr(&mut w, f::IPA, t.ipa.0, "IPA")?;
            }
            Self::TlbConflict {
                sid,
                ssv,
                ssid,
                pnu,
                ind,
                rnw,
                s2,
                input_addr,
                ipa,
            } => {
                put_header(&mut w, sid, ssv, ssid)?;
                put_attrs(&mut w, pnu, ind, rnw);
                pack::put_flag(&mut w, f::S2, s2);
                pack::put(&mut w, f::INPUT_ADDR, input_addr.0, "InputAddr")?;
                pack::put_addr(&mut w, f::IPA, ipa.0, "IPA")?;
            }
            Self::CfgConflict {
                sid,
                ssv,
                ssid,
                reason,
            } => {
                put_header(&mut w, sid, ssv, ssid)?;
                pack::put(&mut w, f::CFG_CONFLICT_REASON, u64::from(reason), "Reason")?;
            }
            Self::PageRequest {
                sid,
                ssv,
                ssid,
                raw_dw1,
                input_addr,
            } => {
                put_header(&mut w, sid, ssv, ssid)?;
                pack::put(&mut w, f::DW1, raw_dw1, "dw1")?;
                pack::put_addr(&mut w, f::PAGE_REQUEST_ADDR, input_addr.0, "InputAddr")?;
            }
            Self::Impdef { id, words } => {
                if !id.is_impdef() {
                    return Err(Error::InvalidValue {
                        field: "EventID",
                        value: u64::from(id.0),
                    });
                }
                w = words;
                w[0] = f::ID.set(w[0], u64::from(id.0));
            }
            Self::Unknown { id, words } => {
                if id.is_impdef() || id.is_architected() {
                    return Err(Error::InvalidValue {
                        field: "EventID",
                        value: u64::from(id.0),
                    });
                }
                w = words;
                w[0] = f::ID.set(w[0], u64::from(id.0));
            }
        }
        Ok(w)
    }
}

impl From<[u64; 4]> for Event {
    #[inline]
    fn from(words: [u64; 4]) -> Self {
        Self::decode(words)
    }
}

impl TryFrom<Event> for [u64; 4] {
    type Error = Error;

    #[inline]
    fn try_from(event: Event) -> Result<Self, Error> {
        event.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_ids_are_exactly_the_architected_ones() {
        for id in 0..=255u8 {
            let id = EventId(id);
            let decoded = Event::decode([u64::from(id.0), 0, 0, 0]);
            assert_eq!(decoded.id(), id);
            let typed = !matches!(decoded, Event::Impdef { .. } | Event::Unknown { .. });
            assert_eq!(typed, id.is_architected(), "{id}");
            assert_eq!(matches!(decoded, Event::Impdef { .. }), id.is_impdef());
        }
    }
}
