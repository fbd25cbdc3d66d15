//! Write guards (spec §1.6): when a write to a register takes effect.
//!
//! From SMMUv3.2 a write made while its guard condition does not hold is ignored; in
//! v3.0 and v3.1 it is CONSTRAINED UNPREDICTABLE (the register may take any value, or
//! the write may be ignored). These helpers give the v3.2 answer, which is what a model
//! implements and what a driver must assume.

use super::control::{Cr0, Cr0Ack, Gbpa, IrqCtrl};
use super::idr::{Idr0, Idr1};
use super::map::{Access, Register, offset};

/// The register state that decides whether a guarded write takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WriteGuard {
    /// Current CR0.
    pub cr0: Cr0,
    /// Current CR0ACK.
    pub cr0ack: Cr0Ack,
    /// Current IRQ_CTRL.
    pub irq_ctrl: IrqCtrl,
    /// IDR0 (for MSI).
    pub idr0: Idr0,
    /// IDR1 (for TABLES_PRESET and QUEUES_PRESET).
    pub idr1: Idr1,
}

impl WriteGuard {
    /// Whether `bit` is clear in both CR0 and CR0ACK.
    fn cr0_clear(&self, bit: Cr0) -> bool {
        !self.cr0.intersects(bit) && !self.cr0ack.intersects(bit)
    }

    /// Whether an MSI configuration register guarded by `irqen` may be written: not
    /// while IDR0.MSI = 1 and the matching IRQ_CTRL enable is set.
    fn irq_cfg_writable(&self, irqen: IrqCtrl) -> bool {
        !(self.idr0.msi() && self.irq_ctrl.intersects(irqen))
    }

    /// Whether a software write to `reg` takes effect (SMMUv3.2 semantics).
    ///
    /// * Read-only registers: never.
    /// * STRTAB_BASE, STRTAB_BASE_CFG: CR0.SMMUEN = CR0ACK.SMMUEN = 0 and
    ///   IDR1.TABLES_PRESET = 0. CR1, CR2: CR0.SMMUEN = CR0ACK.SMMUEN = 0.
    /// * CMDQ_BASE, EVENTQ_BASE, PRIQ_BASE: the queue's CR0 enable and CR0ACK bit are 0
    ///   and IDR1.QUEUES_PRESET = 0. CMDQ_CONS, EVENTQ_PROD, PRIQ_PROD (both the Page 1
    ///   register and the Page 0 alias): the queue's CR0 enable and CR0ACK bit are 0.
    /// * `*_IRQ_CFG0/1/2`: the matching IRQ_CTRL enable is 0 (when IDR0.MSI = 1).
    /// * Everything else: always.
    ///
    /// The PRIQ rows follow the EVENTQ ones by symmetry.
    #[must_use]
    pub fn permits(&self, reg: Register) -> bool {
        if matches!(reg.access, Access::ReadOnly) {
            return false;
        }
        let tables_preset = self.idr1.tables_preset();
        let queues_preset = self.idr1.queues_preset();
        match reg.absolute_offset() {
            offset::STRTAB_BASE | offset::STRTAB_BASE_CFG => {
                self.cr0_clear(Cr0::SMMUEN) && !tables_preset
            }
            offset::CR1 | offset::CR2 => self.cr0_clear(Cr0::SMMUEN),
            offset::CMDQ_BASE => self.cr0_clear(Cr0::CMDQEN) && !queues_preset,
            offset::CMDQ_CONS => self.cr0_clear(Cr0::CMDQEN),
            offset::EVENTQ_BASE => self.cr0_clear(Cr0::EVENTQEN) && !queues_preset,
            offset::EVENTQ_PROD | offset::EVENTQ_PROD_PAGE0 => self.cr0_clear(Cr0::EVENTQEN),
            offset::PRIQ_BASE => self.cr0_clear(Cr0::PRIQEN) && !queues_preset,
            offset::PRIQ_PROD | offset::PRIQ_PROD_PAGE0 => self.cr0_clear(Cr0::PRIQEN),
            offset::GERROR_IRQ_CFG0 | offset::GERROR_IRQ_CFG1 | offset::GERROR_IRQ_CFG2 => {
                self.irq_cfg_writable(IrqCtrl::GERROR_IRQEN)
            }
            offset::EVENTQ_IRQ_CFG0 | offset::EVENTQ_IRQ_CFG1 | offset::EVENTQ_IRQ_CFG2 => {
                self.irq_cfg_writable(IrqCtrl::EVENTQ_IRQEN)
            }
            offset::PRIQ_IRQ_CFG0 | offset::PRIQ_IRQ_CFG1 | offset::PRIQ_IRQ_CFG2 => {
                self.irq_cfg_writable(IrqCtrl::PRIQ_IRQEN)
            }
            _ => true,
        }
    }

    /// Whether a software write at absolute offset `abs` (from the SMMU base, either
    /// half of a 64-bit register) takes effect. Offsets outside every architected
    /// register ([`Register::find`]) are not guarded and give `true`.
    #[must_use]
    pub fn permits_offset(&self, abs: usize) -> bool {
        Register::find(abs).is_none_or(|reg| self.permits(reg))
    }
}

/// Whether a write of `written` to GBPA takes effect while GBPA reads `current`
/// (SMMUv3.2): only a write with Update = 1, and only while Update reads 0.
#[must_use]
pub fn gbpa_write_accepted(current: Gbpa, written: Gbpa) -> bool {
    written.update() && !current.update()
}
