//! Register offsets and bits the model decodes (spec §1), the model's own reading of
//! the spec tables.

#![allow(dead_code)]

pub(crate) const IDR0: u32 = 0x000;
pub(crate) const IDR1: u32 = 0x004;
pub(crate) const IDR2: u32 = 0x008;
pub(crate) const IDR3: u32 = 0x00C;
pub(crate) const IDR4: u32 = 0x010;
pub(crate) const IDR5: u32 = 0x014;
pub(crate) const IIDR: u32 = 0x018;
pub(crate) const AIDR: u32 = 0x01C;
pub(crate) const CR0: u32 = 0x020;
pub(crate) const CR0ACK: u32 = 0x024;
pub(crate) const CR1: u32 = 0x028;
pub(crate) const CR2: u32 = 0x02C;
pub(crate) const STATUSR: u32 = 0x040;
pub(crate) const GBPA: u32 = 0x044;
pub(crate) const AGBPA: u32 = 0x048;
pub(crate) const IRQ_CTRL: u32 = 0x050;
pub(crate) const IRQ_CTRLACK: u32 = 0x054;
pub(crate) const GERROR: u32 = 0x060;
pub(crate) const GERRORN: u32 = 0x064;
pub(crate) const GERROR_IRQ_CFG0: u32 = 0x068;
pub(crate) const GERROR_IRQ_CFG1: u32 = 0x070;
pub(crate) const GERROR_IRQ_CFG2: u32 = 0x074;
pub(crate) const STRTAB_BASE: u32 = 0x080;
pub(crate) const STRTAB_BASE_CFG: u32 = 0x088;
pub(crate) const CMDQ_BASE: u32 = 0x090;
pub(crate) const CMDQ_PROD: u32 = 0x098;
pub(crate) const CMDQ_CONS: u32 = 0x09C;
pub(crate) const EVENTQ_BASE: u32 = 0x0A0;
pub(crate) const EVENTQ_IRQ_CFG0: u32 = 0x0B0;
pub(crate) const EVENTQ_IRQ_CFG1: u32 = 0x0B8;
pub(crate) const EVENTQ_IRQ_CFG2: u32 = 0x0BC;
pub(crate) const PRIQ_BASE: u32 = 0x0C0;
pub(crate) const PRIQ_IRQ_CFG0: u32 = 0x0D0;
pub(crate) const PRIQ_IRQ_CFG1: u32 = 0x0D8;
pub(crate) const PRIQ_IRQ_CFG2: u32 = 0x0DC;
pub(crate) const EVENTQ_PROD: u32 = 0x100A8;
pub(crate) const EVENTQ_CONS: u32 = 0x100AC;
pub(crate) const PRIQ_PROD: u32 = 0x100C8;
pub(crate) const PRIQ_CONS: u32 = 0x100CC;

pub(crate) const CR0_SMMUEN: u32 = 1 << 0;
pub(crate) const CR0_PRIQEN: u32 = 1 << 1;
pub(crate) const CR0_EVENTQEN: u32 = 1 << 2;
pub(crate) const CR0_CMDQEN: u32 = 1 << 3;
pub(crate) const CR0_ATSCHK: u32 = 1 << 4;

pub(crate) const CR2_E2H: u32 = 1 << 0;
pub(crate) const CR2_RECINVSID: u32 = 1 << 1;
pub(crate) const CR2_PTM: u32 = 1 << 2;
pub(crate) const CR2_REC_CFG_ATS: u32 = 1 << 3;

pub(crate) const GBPA_ABORT: u32 = 1 << 20;
pub(crate) const GBPA_UPDATE: u32 = 1 << 31;
/// MemAttr, MTCFG, ALLOCCFG, SHCFG, PRIVCFG, INSTCFG, ABORT.
pub(crate) const GBPA_MASK: u32 = 0x001F_3F1F;

pub(crate) const IRQ_GERROR: u32 = 1 << 0;
pub(crate) const IRQ_PRIQ: u32 = 1 << 1;
pub(crate) const IRQ_EVENTQ: u32 = 1 << 2;

pub(crate) const GERROR_CMDQ_ERR: u32 = 1 << 0;
pub(crate) const GERROR_EVENTQ_ABT_ERR: u32 = 1 << 2;
pub(crate) const GERROR_PRIQ_ABT_ERR: u32 = 1 << 3;
pub(crate) const GERROR_MSI_CMDQ_ABT_ERR: u32 = 1 << 4;
pub(crate) const GERROR_MSI_EVENTQ_ABT_ERR: u32 = 1 << 5;
pub(crate) const GERROR_MSI_PRIQ_ABT_ERR: u32 = 1 << 6;
pub(crate) const GERROR_MSI_GERROR_ABT_ERR: u32 = 1 << 7;
pub(crate) const GERROR_SFM_ERR: u32 = 1 << 8;
/// Every architected GERROR bit (0, 2..=10).
pub(crate) const GERROR_MASK: u32 = 0x7FD;

/// RA/WA hint (bit 62) + ADDR[55:5] + LOG2SIZE[4:0] of a queue base register.
pub(crate) const Q_BASE_MASK: u64 = 1 << 62 | 0x00FF_FFFF_FFFF_FFE0 | 0x1F;
/// RA (bit 62) + ADDR[55:6] of STRTAB_BASE.
pub(crate) const STRTAB_BASE_MASK: u64 = 1 << 62 | 0x00FF_FFFF_FFFF_FFC0;
/// ADDR[55:2] of an IRQ_CFG0 (MSI address) register.
pub(crate) const IRQ_CFG0_MASK: u64 = 0x00FF_FFFF_FFFF_FFFC;

/// Whether `off` is the base of a 64-bit register.
pub(crate) const fn is_reg64(off: u32) -> bool {
    matches!(
        off,
        GERROR_IRQ_CFG0
            | STRTAB_BASE
            | CMDQ_BASE
            | EVENTQ_BASE
            | EVENTQ_IRQ_CFG0
            | PRIQ_BASE
            | PRIQ_IRQ_CFG0
    )
}

/// Queue geometry from a `*_BASE` value and the implemented maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueGeom {
    /// log2 of the number of entries.
    pub(crate) log2: u32,
    /// Effective base (aligned).
    pub(crate) base: u64,
}

impl QueueGeom {
    pub(crate) fn new(base_reg: u64, max_log2: u32, entry_size: u64) -> Self {
        let log2 = ((base_reg & 0x1F) as u32).min(max_log2);
        let bytes = (entry_size << log2).max(32);
        Self {
            log2,
            base: base_reg & 0x00FF_FFFF_FFFF_FFE0 & !(bytes - 1),
        }
    }

    /// Mask of the index-plus-wrap bits.
    pub(crate) const fn ptr_mask(&self) -> u32 {
        (2u32 << self.log2) - 1
    }

    pub(crate) const fn index(&self, p: u32) -> u32 {
        p & ((1u32 << self.log2) - 1)
    }

    pub(crate) const fn is_empty(&self, prod: u32, cons: u32) -> bool {
        (prod ^ cons) & self.ptr_mask() == 0
    }

    pub(crate) const fn is_full(&self, prod: u32, cons: u32) -> bool {
        (prod ^ cons) & self.ptr_mask() == 1 << self.log2
    }

    pub(crate) const fn inc(&self, p: u32) -> u32 {
        (p & self.ptr_mask()).wrapping_add(1) & self.ptr_mask()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_pointers() {
        let q = QueueGeom::new(0x8000_1003, 19, 16);
        assert_eq!(q.log2, 3);
        assert_eq!(q.base, 0x8000_1000 & !127);
        assert!(q.is_empty(0, 0));
        assert!(q.is_full(8, 0));
        assert!(!q.is_full(7, 0));
        assert_eq!(q.inc(7), 8);
        assert_eq!(q.inc(15), 0);
        assert!(q.is_empty(8, 8));
        // Capped at the implemented maximum.
        assert_eq!(QueueGeom::new(0x1F, 5, 32).log2, 5);
    }
}
