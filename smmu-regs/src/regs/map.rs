//! The register map: where each register lives (page, offset), how wide it is and
//! whether software may write it.
//!
//! The SMMU decodes two 64 KB pages, Page 0 at offset `0x0_0000` and Page 1 at
//! `0x1_0000` from the SMMU base. The raw offsets in [`offset`] are counted from the
//! SMMU base (so the Page 1 registers are at `0x1_00A8` and up); the [`Register`]
//! descriptors split them into a [`Page`] and an offset inside that page, which is what a
//! HAL mapping the two pages separately needs.
//!
//! A 64-bit register may also be accessed as two 32-bit halves, the upper half
//! `[63:32]` at offset + 4.

/// Raw register offsets from the SMMU base address, named as in the Arm specification
/// (without the `SMMU_` prefix).
///
/// Page 1 registers include the page base (`0x1_0000`). The Secure bank (`SMMU_S_*`) has
/// the same layout at [`SECURE_BANK`](offset::SECURE_BANK) + the Non-secure offset.
pub mod offset {
    /// Size of one register page (64 KB).
    pub const PAGE_SIZE: usize = 0x1_0000;
    /// Offset of Page 1 from the SMMU base.
    pub const PAGE1: usize = PAGE_SIZE;
    /// Offset of the Secure register bank (`SMMU_S_*`) inside Page 0.
    pub const SECURE_BANK: usize = 0x8000;

    /// `SMMU_IDR0`: features (32-bit, RO).
    pub const IDR0: usize = 0x000;
    /// `SMMU_IDR1`: table and queue sizes, presets (32-bit, RO).
    pub const IDR1: usize = 0x004;
    /// `SMMU_IDR2`: BA_VATOS (32-bit, RO).
    pub const IDR2: usize = 0x008;
    /// `SMMU_IDR3`: further features (32-bit, RO).
    pub const IDR3: usize = 0x00C;
    /// `SMMU_IDR4`: IMPLEMENTATION DEFINED (32-bit, RO).
    pub const IDR4: usize = 0x010;
    /// `SMMU_IDR5`: output address size, granules, STALL_MAX (32-bit, RO).
    pub const IDR5: usize = 0x014;
    /// `SMMU_IIDR`: implementation identification (32-bit, RO).
    pub const IIDR: usize = 0x018;
    /// `SMMU_AIDR`: architecture revision (32-bit, RO).
    pub const AIDR: usize = 0x01C;
    /// `SMMU_CR0`: global enables (32-bit, RW).
    pub const CR0: usize = 0x020;
    /// `SMMU_CR0ACK`: acknowledgement of CR0 updates (32-bit, RO).
    pub const CR0ACK: usize = 0x024;
    /// `SMMU_CR1`: table and queue access attributes (32-bit, RW).
    pub const CR1: usize = 0x028;
    /// `SMMU_CR2`: further controls (32-bit, RW).
    pub const CR2: usize = 0x02C;
    /// `SMMU_S2PII`: stage 2 permission indirection (64-bit, RW; SMMUv3.4 and later).
    pub const S2PII: usize = 0x030;
    /// `SMMU_STATUSR`: DORMANT (32-bit, RO).
    pub const STATUSR: usize = 0x040;
    /// `SMMU_GBPA`: global bypass attributes (32-bit, RW).
    pub const GBPA: usize = 0x044;
    /// `SMMU_AGBPA`: IMPLEMENTATION DEFINED bypass attributes (32-bit, RW).
    pub const AGBPA: usize = 0x048;
    /// `SMMU_IRQ_CTRL`: interrupt enables (32-bit, RW).
    pub const IRQ_CTRL: usize = 0x050;
    /// `SMMU_IRQ_CTRLACK`: acknowledgement of IRQ_CTRL updates (32-bit, RO).
    pub const IRQ_CTRLACK: usize = 0x054;
    /// `SMMU_GERROR`: global errors (32-bit, RO).
    pub const GERROR: usize = 0x060;
    /// `SMMU_GERRORN`: global error acknowledgement (32-bit, RW).
    pub const GERRORN: usize = 0x064;
    /// `SMMU_GERROR_IRQ_CFG0`: GERROR MSI address (64-bit, RW).
    pub const GERROR_IRQ_CFG0: usize = 0x068;
    /// `SMMU_GERROR_IRQ_CFG1`: GERROR MSI data (32-bit, RW).
    pub const GERROR_IRQ_CFG1: usize = 0x070;
    /// `SMMU_GERROR_IRQ_CFG2`: GERROR MSI attributes (32-bit, RW).
    pub const GERROR_IRQ_CFG2: usize = 0x074;
    /// `SMMU_STRTAB_BASE`: stream table base (64-bit, RW).
    pub const STRTAB_BASE: usize = 0x080;
    /// `SMMU_STRTAB_BASE_CFG`: stream table format and size (32-bit, RW).
    pub const STRTAB_BASE_CFG: usize = 0x088;
    /// `SMMU_CMDQ_BASE`: command queue base and size (64-bit, RW).
    pub const CMDQ_BASE: usize = 0x090;
    /// `SMMU_CMDQ_PROD`: command queue producer index (32-bit, RW).
    pub const CMDQ_PROD: usize = 0x098;
    /// `SMMU_CMDQ_CONS`: command queue consumer index and error (32-bit, RW).
    pub const CMDQ_CONS: usize = 0x09C;
    /// `SMMU_EVENTQ_BASE`: event queue base and size (64-bit, RW).
    pub const EVENTQ_BASE: usize = 0x0A0;
    /// Optional Page 0 alias of `SMMU_EVENTQ_PROD` (RAZ/WI when not aliased).
    pub const EVENTQ_PROD_PAGE0: usize = 0x0A8;
    /// Optional Page 0 alias of `SMMU_EVENTQ_CONS` (RAZ/WI when not aliased).
    pub const EVENTQ_CONS_PAGE0: usize = 0x0AC;
    /// `SMMU_EVENTQ_IRQ_CFG0`: event queue MSI address (64-bit, RW).
    pub const EVENTQ_IRQ_CFG0: usize = 0x0B0;
    /// `SMMU_EVENTQ_IRQ_CFG1`: event queue MSI data (32-bit, RW).
    pub const EVENTQ_IRQ_CFG1: usize = 0x0B8;
    /// `SMMU_EVENTQ_IRQ_CFG2`: event queue MSI attributes (32-bit, RW).
    pub const EVENTQ_IRQ_CFG2: usize = 0x0BC;
    /// `SMMU_PRIQ_BASE`: PRI queue base and size (64-bit, RW).
    pub const PRIQ_BASE: usize = 0x0C0;
    /// Optional Page 0 alias of `SMMU_PRIQ_PROD` (RAZ/WI when not aliased).
    pub const PRIQ_PROD_PAGE0: usize = 0x0C8;
    /// Optional Page 0 alias of `SMMU_PRIQ_CONS` (RAZ/WI when not aliased).
    pub const PRIQ_CONS_PAGE0: usize = 0x0CC;
    /// `SMMU_PRIQ_IRQ_CFG0`: PRI queue MSI address (64-bit, RW).
    pub const PRIQ_IRQ_CFG0: usize = 0x0D0;
    /// `SMMU_PRIQ_IRQ_CFG1`: PRI queue MSI data (32-bit, RW).
    pub const PRIQ_IRQ_CFG1: usize = 0x0D8;
    /// `SMMU_PRIQ_IRQ_CFG2`: PRI queue MSI attributes (32-bit, RW).
    pub const PRIQ_IRQ_CFG2: usize = 0x0DC;
    /// `SMMU_GATOS_CTRL`: global ATOS control (32-bit, RW).
    pub const GATOS_CTRL: usize = 0x100;
    /// `SMMU_GATOS_SID`: global ATOS StreamID / SubstreamID (64-bit, RW).
    pub const GATOS_SID: usize = 0x108;
    /// `SMMU_GATOS_ADDR`: global ATOS address (64-bit, RW).
    pub const GATOS_ADDR: usize = 0x110;
    /// `SMMU_GATOS_PAR`: global ATOS result (64-bit, RO).
    pub const GATOS_PAR: usize = 0x118;
    /// Start of the IMPLEMENTATION DEFINED block `0xE00..=0xEFF` (Linux sizes the
    /// architected block as `0xE00`).
    pub const IMPDEF_START: usize = 0xE00;
    /// Start of the Peripheral / Component ID registers `0xFD0..=0xFFC`.
    pub const ID_REGS_START: usize = 0xFD0;
    /// `SMMU_EVENTQ_PROD` in Page 1: event queue producer index and overflow flag.
    pub const EVENTQ_PROD: usize = PAGE1 + 0x0A8;
    /// `SMMU_EVENTQ_CONS` in Page 1: event queue consumer index and overflow acknowledge.
    pub const EVENTQ_CONS: usize = PAGE1 + 0x0AC;
    /// `SMMU_PRIQ_PROD` in Page 1: PRI queue producer index and overflow flag.
    pub const PRIQ_PROD: usize = PAGE1 + 0x0C8;
    /// `SMMU_PRIQ_CONS` in Page 1: PRI queue consumer index and overflow acknowledge.
    pub const PRIQ_CONS: usize = PAGE1 + 0x0CC;
}

/// One of the two 64 KB register pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Page {
    /// Page 0, at the SMMU base.
    Page0,
    /// Page 1, at the SMMU base + 64 KB.
    Page1,
}

impl Page {
    /// Offset of the page from the SMMU base.
    #[must_use]
    pub const fn base(self) -> usize {
        match self {
            Self::Page0 => 0,
            Self::Page1 => offset::PAGE1,
        }
    }
}

/// Access width of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Width {
    /// A 32-bit register.
    W32,
    /// A 64-bit register (also accessible as two 32-bit halves, upper half at + 4).
    W64,
}

impl Width {
    /// Width in bytes (4 or 8).
    #[must_use]
    pub const fn bytes(self) -> usize {
        match self {
            Self::W32 => 4,
            Self::W64 => 8,
        }
    }
}

/// Whether software may write a register (write guards aside, see
/// [`WriteGuard`](super::WriteGuard)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Access {
    /// Read-only: writes are ignored.
    ReadOnly,
    /// Readable and writable.
    ReadWrite,
}

/// A register descriptor: name, page, offset inside the page, width and access.
///
/// With it a HAL can be written once for all registers, e.g.
/// `fn read32(&self, reg: Register) -> u32` that reads `page_base(reg.page) + reg.offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Register {
    /// The register name as in the Arm specification, without the `SMMU_` prefix.
    pub name: &'static str,
    /// The page holding the register.
    pub page: Page,
    /// Byte offset inside the page.
    pub offset: usize,
    /// Access width.
    pub width: Width,
    /// Software access.
    pub access: Access,
}

impl Register {
    const fn new(name: &'static str, abs: usize, width: Width, access: Access) -> Self {
        let (page, offset) = if abs >= offset::PAGE1 {
            (Page::Page1, abs - offset::PAGE1)
        } else {
            (Page::Page0, abs)
        };
        Self {
            name,
            page,
            offset,
            width,
            access,
        }
    }

    /// Byte offset from the SMMU base (page base + offset).
    #[must_use]
    pub const fn absolute_offset(self) -> usize {
        self.page.base() + self.offset
    }

    /// Whether the byte at absolute offset `abs` (from the SMMU base) falls inside this
    /// register (for a 64-bit register, either 32-bit half).
    #[must_use]
    pub const fn contains(self, abs: usize) -> bool {
        let start = self.absolute_offset();
        abs >= start && abs - start < self.width.bytes()
    }

    /// Finds the architected register covering absolute offset `abs` (from the SMMU
    /// base), among [`ALL_REGISTERS`]. For a 64-bit register both `offset` and
    /// `offset + 4` find it.
    #[must_use]
    pub fn find(abs: usize) -> Option<Self> {
        ALL_REGISTERS.iter().copied().find(|r| r.contains(abs))
    }
}

use Access::{ReadOnly as RO, ReadWrite as RW};
use Width::{W32, W64};

macro_rules! registers {
    ($($(#[$doc:meta])* $name:ident = ($w:ident, $a:ident);)*) => {
        $(
            $(#[$doc])*
            pub const $name: Register = Register::new(stringify!($name), offset::$name, $w, $a);
        )*
        /// Every register descriptor of this module, in offset order.
        pub const ALL_REGISTERS: &[Register] = &[$($name),*];
    };
}

registers! {
    /// `SMMU_IDR0` descriptor.
    IDR0 = (W32, RO);
    /// `SMMU_IDR1` descriptor.
    IDR1 = (W32, RO);
    /// `SMMU_IDR2` descriptor.
    IDR2 = (W32, RO);
    /// `SMMU_IDR3` descriptor.
    IDR3 = (W32, RO);
    /// `SMMU_IDR4` descriptor.
    IDR4 = (W32, RO);
    /// `SMMU_IDR5` descriptor.
    IDR5 = (W32, RO);
    /// `SMMU_IIDR` descriptor.
    IIDR = (W32, RO);
    /// `SMMU_AIDR` descriptor.
    AIDR = (W32, RO);
    /// `SMMU_CR0` descriptor.
    CR0 = (W32, RW);
    /// `SMMU_CR0ACK` descriptor.
    CR0ACK = (W32, RO);
    /// `SMMU_CR1` descriptor.
    CR1 = (W32, RW);
    /// `SMMU_CR2` descriptor.
    CR2 = (W32, RW);
    /// `SMMU_S2PII` descriptor (SMMUv3.4 and later).
    S2PII = (W64, RW);
    /// `SMMU_STATUSR` descriptor.
    STATUSR = (W32, RO);
    /// `SMMU_GBPA` descriptor.
    GBPA = (W32, RW);
    /// `SMMU_AGBPA` descriptor.
    AGBPA = (W32, RW);
    /// `SMMU_IRQ_CTRL` descriptor.
    IRQ_CTRL = (W32, RW);
    /// `SMMU_IRQ_CTRLACK` descriptor.
    IRQ_CTRLACK = (W32, RO);
    /// `SMMU_GERROR` descriptor.
    GERROR = (W32, RO);
    /// `SMMU_GERRORN` descriptor.
    GERRORN = (W32, RW);
    /// `SMMU_GERROR_IRQ_CFG0` descriptor.
    GERROR_IRQ_CFG0 = (W64, RW);
    /// `SMMU_GERROR_IRQ_CFG1` descriptor.
    GERROR_IRQ_CFG1 = (W32, RW);
    /// `SMMU_GERROR_IRQ_CFG2` descriptor.
    GERROR_IRQ_CFG2 = (W32, RW);
    /// `SMMU_STRTAB_BASE` descriptor.
    STRTAB_BASE = (W64, RW);
    /// `SMMU_STRTAB_BASE_CFG` descriptor.
    STRTAB_BASE_CFG = (W32, RW);
    /// `SMMU_CMDQ_BASE` descriptor.
    CMDQ_BASE = (W64, RW);
    /// `SMMU_CMDQ_PROD` descriptor.
    CMDQ_PROD = (W32, RW);
    /// `SMMU_CMDQ_CONS` descriptor.
    CMDQ_CONS = (W32, RW);
    /// `SMMU_EVENTQ_BASE` descriptor.
    EVENTQ_BASE = (W64, RW);
    /// Optional Page 0 alias of `SMMU_EVENTQ_PROD`.
    EVENTQ_PROD_PAGE0 = (W32, RW);
    /// Optional Page 0 alias of `SMMU_EVENTQ_CONS`.
    EVENTQ_CONS_PAGE0 = (W32, RW);
    /// `SMMU_EVENTQ_IRQ_CFG0` descriptor.
    EVENTQ_IRQ_CFG0 = (W64, RW);
    /// `SMMU_EVENTQ_IRQ_CFG1` descriptor.
    EVENTQ_IRQ_CFG1 = (W32, RW);
    /// `SMMU_EVENTQ_IRQ_CFG2` descriptor.
    EVENTQ_IRQ_CFG2 = (W32, RW);
    /// `SMMU_PRIQ_BASE` descriptor.
    PRIQ_BASE = (W64, RW);
    /// Optional Page 0 alias of `SMMU_PRIQ_PROD`.
    PRIQ_PROD_PAGE0 = (W32, RW);
    /// Optional Page 0 alias of `SMMU_PRIQ_CONS`.
    PRIQ_CONS_PAGE0 = (W32, RW);
    /// `SMMU_PRIQ_IRQ_CFG0` descriptor.
    PRIQ_IRQ_CFG0 = (W64, RW);
    /// `SMMU_PRIQ_IRQ_CFG1` descriptor.
    PRIQ_IRQ_CFG1 = (W32, RW);
    /// `SMMU_PRIQ_IRQ_CFG2` descriptor.
    PRIQ_IRQ_CFG2 = (W32, RW);
    /// `SMMU_GATOS_CTRL` descriptor.
    GATOS_CTRL = (W32, RW);
    /// `SMMU_GATOS_SID` descriptor.
    GATOS_SID = (W64, RW);
    /// `SMMU_GATOS_ADDR` descriptor.
    GATOS_ADDR = (W64, RW);
    /// `SMMU_GATOS_PAR` descriptor.
    GATOS_PAR = (W64, RO);
    /// `SMMU_EVENTQ_PROD` descriptor (Page 1).
    EVENTQ_PROD = (W32, RW);
    /// `SMMU_EVENTQ_CONS` descriptor (Page 1).
    EVENTQ_CONS = (W32, RW);
    /// `SMMU_PRIQ_PROD` descriptor (Page 1).
    PRIQ_PROD = (W32, RW);
    /// `SMMU_PRIQ_CONS` descriptor (Page 1).
    PRIQ_CONS = (W32, RW);
}
