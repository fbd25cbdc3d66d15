//! Control and status registers: CR0/CR0ACK, CR1, CR2, STATUSR, GBPA,
//! IRQ_CTRL/IRQ_CTRLACK and GERROR/GERRORN.
//!
//! Flag registers are `bitflags` newtypes that keep unknown bits (`const _ = !0`), so a
//! read-modify-write never clears bits this crate does not name: build them from a
//! hardware value with `from_bits_retain`. Multi-bit field registers (CR1, GBPA) are
//! `modular-bitfield` structs.

use bitflags::bitflags;
use modular_bitfield::prelude::*;

use crate::error::Error;
use crate::fields::{Cacheability, Shareability};

/// Implements `defmt::Format` for a bitflags register as its name and raw bits.
macro_rules! defmt_flags {
    ($t:ident) => {
        #[cfg(feature = "defmt")]
        impl defmt::Format for $t {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{=str}({=u32:#x})", stringify!($t), self.bits());
            }
        }
    };
}

bitflags! {
    /// `SMMU_CR0` (offset 0x020) and `SMMU_CR0ACK` (0x024): global enables.
    ///
    /// A written CR0 field counts as updated once the same field of CR0ACK reads back
    /// the written value ([`Cr0::is_acknowledged_by`]). VMW (bits \[8:6\]) is a 3-bit
    /// field: use [`Cr0::vmw`] / [`Cr0::with_vmw`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[repr(transparent)]
    pub struct Cr0: u32 {
        /// \[0\] SMMUEN: 0 = Non-secure streams bypass according to GBPA; 1 = streams
        /// are checked against their STEs.
        const SMMUEN = 1 << 0;
        /// \[1\] PRIQEN: PRI queue enable.
        const PRIQEN = 1 << 1;
        /// \[2\] EVENTQEN: event queue enable.
        const EVENTQEN = 1 << 2;
        /// \[3\] CMDQEN: command queue enable.
        const CMDQEN = 1 << 3;
        /// \[4\] ATSCHK: 0 = fast mode (Translated traffic bypasses); 1 = safe mode
        /// (checked against STE.EATS).
        const ATSCHK = 1 << 4;
        /// \[10\] DPT_WALK_EN: device permission table walks enabled.
        const DPT_WALK_EN = 1 << 10;
        const _ = !0;
    }
}
defmt_flags!(Cr0);

/// `SMMU_CR0ACK` has the layout of [`Cr0`].
pub type Cr0Ack = Cr0;

impl Cr0 {
    /// Bit position of the VMW field.
    pub const VMW_SHIFT: u32 = 6;
    /// Mask of the VMW field (bits \[8:6\]).
    pub const VMW_MASK: u32 = 0b111 << Self::VMW_SHIFT;
    /// Mask of every architected CR0 field (SMMUEN..ATSCHK, VMW, DPT_WALK_EN).
    pub const FIELDS_MASK: u32 = 0x1F | Self::VMW_MASK | Self::DPT_WALK_EN.bits();

    /// VMW, bits \[8:6\]: VMID wildcard (0..=7).
    #[must_use]
    pub const fn vmw(self) -> u8 {
        // The mask leaves at most 3 bits, so the cast is lossless.
        ((self.bits() & Self::VMW_MASK) >> Self::VMW_SHIFT) as u8
    }

    /// Returns a copy with VMW set to `vmw`, other bits unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::FieldOverflow`] if `vmw` does not fit in 3 bits.
    pub const fn with_vmw(self, vmw: u8) -> Result<Self, Error> {
        if vmw > 0b111 {
            return Err(Error::FieldOverflow {
                field: "CR0.VMW",
                value: vmw as u64,
                bits: 3,
            });
        }
        Ok(Self::from_bits_retain(
            (self.bits() & !Self::VMW_MASK) | ((vmw as u32) << Self::VMW_SHIFT),
        ))
    }

    /// Sets VMW in place.
    ///
    /// # Errors
    ///
    /// [`Error::FieldOverflow`] if `vmw` does not fit in 3 bits (`self` is unchanged).
    pub fn set_vmw(&mut self, vmw: u8) -> Result<(), Error> {
        *self = self.with_vmw(vmw)?;
        Ok(())
    }

    /// Whether every architected field written in `self` (a CR0 value) reads back the
    /// same in `ack` (a CR0ACK value), i.e. the update has taken effect.
    #[must_use]
    pub const fn is_acknowledged_by(self, ack: Cr0Ack) -> bool {
        (self.bits() ^ ack.bits()) & Self::FIELDS_MASK == 0
    }
}

bitflags! {
    /// `SMMU_CR2` (offset 0x02C): further controls.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[repr(transparent)]
    pub struct Cr2: u32 {
        /// \[0\] E2H: selects the EL2-E2H regime for STE.STRW = 0b10.
        const E2H = 1 << 0;
        /// \[1\] RECINVSID: record C_BAD_STREAMID events.
        const RECINVSID = 1 << 1;
        /// \[2\] PTM: private TLB maintenance (ignore broadcast TLBI).
        const PTM = 1 << 2;
        /// \[3\] REC_CFG_ATS: record configuration errors of ATS requests.
        const REC_CFG_ATS = 1 << 3;
        const _ = !0;
    }
}
defmt_flags!(Cr2);

bitflags! {
    /// `SMMU_STATUSR` (offset 0x040).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[repr(transparent)]
    pub struct Statusr: u32 {
        /// \[0\] DORMANT: the SMMU is dormant (implemented when IDR0.DORMHINT = 1).
        const DORMANT = 1 << 0;
        const _ = !0;
    }
}
defmt_flags!(Statusr);

bitflags! {
    /// `SMMU_IRQ_CTRL` (offset 0x050) and `SMMU_IRQ_CTRLACK` (0x054): interrupt enables,
    /// with the same update-then-acknowledge scheme as CR0.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[repr(transparent)]
    pub struct IrqCtrl: u32 {
        /// \[0\] GERROR_IRQEN.
        const GERROR_IRQEN = 1 << 0;
        /// \[1\] PRIQ_IRQEN.
        const PRIQ_IRQEN = 1 << 1;
        /// \[2\] EVENTQ_IRQEN.
        const EVENTQ_IRQEN = 1 << 2;
        const _ = !0;
    }
}
defmt_flags!(IrqCtrl);

/// `SMMU_IRQ_CTRLACK` has the layout of [`IrqCtrl`].
pub type IrqCtrlAck = IrqCtrl;

impl IrqCtrl {
    /// Mask of the architected enable bits.
    pub const FIELDS_MASK: u32 = 0b111;

    /// Whether every enable written in `self` (an IRQ_CTRL value) reads back the same in
    /// `ack` (an IRQ_CTRLACK value).
    #[must_use]
    pub const fn is_acknowledged_by(self, ack: IrqCtrlAck) -> bool {
        (self.bits() ^ ack.bits()) & Self::FIELDS_MASK == 0
    }
}

bitflags! {
    /// `SMMU_GERROR` (offset 0x060) and `SMMU_GERRORN` (0x064): global errors.
    ///
    /// Error *x* is active while `GERROR[x] != GERRORN[x]` ([`Gerror::active`]). The SMMU
    /// toggles `GERROR[x]` only when *x* is not already active; software acknowledges by
    /// writing GERRORN so that bit *x* equals GERROR's ([`Gerror::acknowledge`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[repr(transparent)]
    pub struct Gerror: u32 {
        /// \[0\] CMDQ_ERR: command queue error (no commands are consumed while active).
        const CMDQ_ERR = 1 << 0;
        /// \[2\] EVENTQ_ABT_ERR: abort writing the event queue.
        const EVENTQ_ABT_ERR = 1 << 2;
        /// \[3\] PRIQ_ABT_ERR: abort writing the PRI queue.
        const PRIQ_ABT_ERR = 1 << 3;
        /// \[4\] MSI_CMDQ_ABT_ERR: abort writing the CMD_SYNC MSI.
        const MSI_CMDQ_ABT_ERR = 1 << 4;
        /// \[5\] MSI_EVENTQ_ABT_ERR: abort writing the event queue MSI.
        const MSI_EVENTQ_ABT_ERR = 1 << 5;
        /// \[6\] MSI_PRIQ_ABT_ERR: abort writing the PRI queue MSI.
        const MSI_PRIQ_ABT_ERR = 1 << 6;
        /// \[7\] MSI_GERROR_ABT_ERR: abort writing the GERROR MSI.
        const MSI_GERROR_ABT_ERR = 1 << 7;
        /// \[8\] SFM_ERR: the SMMU has entered Service Failure Mode.
        const SFM_ERR = 1 << 8;
        /// \[9\] CMDQP_ERR.
        const CMDQP_ERR = 1 << 9;
        /// \[10\] DPT_ERR.
        const DPT_ERR = 1 << 10;
        const _ = !0;
    }
}
defmt_flags!(Gerror);

/// `SMMU_GERRORN` has the layout of [`Gerror`].
pub type Gerrorn = Gerror;

impl Gerror {
    /// Mask of the architected error bits (bit 1 is reserved).
    pub const FIELDS_MASK: u32 = 0x7FD;

    /// The active errors: the architected bits where `self` (GERROR) and `gerrorn`
    /// differ.
    #[must_use]
    pub const fn active(self, gerrorn: Gerrorn) -> Self {
        Self::from_bits_retain((self.bits() ^ gerrorn.bits()) & Self::FIELDS_MASK)
    }

    /// The GERRORN value that acknowledges the active errors among `which`, given the
    /// current GERROR (`self`) and GERRORN values; other GERRORN bits are unchanged.
    /// Acknowledging everything is writing GERROR's value to GERRORN.
    #[must_use]
    pub const fn acknowledge(self, gerrorn: Gerrorn, which: Self) -> Gerrorn {
        let toggle = (self.bits() ^ gerrorn.bits()) & which.bits() & Self::FIELDS_MASK;
        Self::from_bits_retain(gerrorn.bits() ^ toggle)
    }
}

/// `SMMU_CR1` (offset 0x028): cacheability and shareability of queue and table accesses.
///
/// In CR1 the cacheability encoding 3 is reserved and behaves as non-cacheable, and the
/// shareability encoding 1 is reserved and behaves as non-shareable. The SH fields are
/// ignored (treated as outer shareable) when IC = OC = non-cacheable.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cr1 {
    /// \[1:0\] QUEUE_IC: queue inner cacheability.
    pub queue_ic: Cacheability,
    /// \[3:2\] QUEUE_OC: queue outer cacheability.
    pub queue_oc: Cacheability,
    /// \[5:4\] QUEUE_SH: queue shareability.
    pub queue_sh: Shareability,
    /// \[7:6\] TABLE_IC: table inner cacheability.
    pub table_ic: Cacheability,
    /// \[9:8\] TABLE_OC: table outer cacheability.
    pub table_oc: Cacheability,
    /// \[11:10\] TABLE_SH: table shareability.
    pub table_sh: Shareability,
    #[skip]
    __: B20,
}

/// GBPA.SHCFG: shareability override for bypassing transactions.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum ShCfg {
    /// 0: non-shareable.
    NonShareable = 0,
    /// 1: use the incoming shareability.
    Incoming = 1,
    /// 2: outer shareable.
    Outer = 2,
    /// 3: inner shareable.
    Inner = 3,
}

/// GBPA.PRIVCFG: privilege override for bypassing transactions.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum PrivCfg {
    /// 0: use the incoming privilege.
    Incoming = 0,
    /// 1: reserved.
    Reserved1 = 1,
    /// 2: unprivileged.
    Unprivileged = 2,
    /// 3: privileged.
    Privileged = 3,
}

/// GBPA.INSTCFG: instruction/data override for bypassing transactions.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum InstCfg {
    /// 0: use the incoming value.
    Incoming = 0,
    /// 1: reserved.
    Reserved1 = 1,
    /// 2: data.
    Data = 2,
    /// 3: instruction.
    Instruction = 3,
}

/// GBPA.ALLOCCFG: allocation hints override, `0b0xxx` = use incoming, `0b1RWT` =
/// override with read-allocate R, write-allocate W and transient T.
#[bitfield(bits = 4)]
#[derive(Specifier, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AllocCfg {
    /// \[0\] T: transient hint (used when `override_hints` is set).
    pub transient: bool,
    /// \[1\] W: write-allocate hint (used when `override_hints` is set).
    pub write_alloc: bool,
    /// \[2\] R: read-allocate hint (used when `override_hints` is set).
    pub read_alloc: bool,
    /// \[3\] 1 = override the incoming hints with R, W and T; 0 = use the incoming ones.
    pub override_hints: bool,
}

/// `SMMU_GBPA` (offset 0x044): attributes of transactions that bypass while
/// CR0.SMMUEN = 0.
///
/// Software writes GBPA with one 32-bit write that sets `update`, then polls until
/// `update` reads 0. From SMMUv3.2 a write with Update = 0, or any write while Update
/// still reads 1, is ignored.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gbpa {
    /// \[3:0\] MemAttr: memory type override (used when `mtcfg` is set).
    pub memattr: B4,
    /// \[4\] MTCFG: override the memory type with `memattr`.
    pub mtcfg: bool,
    #[skip]
    __: B3,
    /// \[11:8\] ALLOCCFG: allocation hints override.
    pub alloccfg: AllocCfg,
    /// \[13:12\] SHCFG: shareability override.
    pub shcfg: ShCfg,
    #[skip]
    __: B2,
    /// \[17:16\] PRIVCFG: privilege override.
    pub privcfg: PrivCfg,
    /// \[19:18\] INSTCFG: instruction/data override.
    pub instcfg: InstCfg,
    /// \[20\] ABORT: abort every transaction while SMMUEN = 0.
    pub abort: bool,
    #[skip]
    __: B10,
    /// \[31\] Update: written 1 by software; cleared by the SMMU once the update took
    /// effect.
    pub update: bool,
}
