//! MSI configuration registers: `*_IRQ_CFG0` (address), `*_IRQ_CFG1` (data) and
//! `*_IRQ_CFG2` (attributes) of GERROR, EVENTQ and PRIQ, which share one layout each.

use modular_bitfield::prelude::*;

use crate::error::Error;
use crate::fields::Shareability;
use crate::ids::PhysAddr;

/// `SMMU_{GERROR,EVENTQ,PRIQ}_IRQ_CFG0` (64-bit): MSI target address, ADDR\[55:2\].
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IrqCfg0 {
    #[skip]
    __: B2,
    /// \[55:2\] ADDR: bits \[55:2\] of the MSI address (the field value is the address
    /// shifted right by 2; see [`IrqCfg0::address`]).
    pub addr: B54,
    #[skip]
    __: B8,
}

impl IrqCfg0 {
    /// Builds the register for an MSI address.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`] if `addr` is not 4-byte aligned, [`Error::FieldOverflow`] if
    /// it does not fit in 56 bits.
    pub fn try_new(addr: PhysAddr) -> Result<Self, Error> {
        let a = addr.get();
        if a & 0x3 != 0 {
            return Err(Error::Misaligned {
                field: "IRQ_CFG0.ADDR",
                value: a,
                align: 4,
            });
        }
        if a >> 56 != 0 {
            return Err(Error::FieldOverflow {
                field: "IRQ_CFG0.ADDR",
                value: a,
                bits: 56,
            });
        }
        Ok(Self::new().with_addr(a >> 2))
    }

    /// The MSI address (ADDR\[55:2\], low bits zero).
    #[must_use]
    pub fn address(self) -> PhysAddr {
        PhysAddr(self.addr() << 2)
    }
}

/// `SMMU_{GERROR,EVENTQ,PRIQ}_IRQ_CFG1` (32-bit): MSI data.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IrqCfg1 {
    /// \[31:0\] DATA: the MSI payload.
    pub data: B32,
}

/// `SMMU_{GERROR,EVENTQ,PRIQ}_IRQ_CFG2` (32-bit): MSI memory attributes.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IrqCfg2 {
    /// \[3:0\] MemAttr: memory type of the MSI write.
    pub memattr: B4,
    /// \[5:4\] SH: shareability of the MSI write.
    pub sh: Shareability,
    #[skip]
    __: B26,
}
