//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use iommu_core::{DefaultDomainKind, IommuCore};
use smmu_regs::event::Event;
use smmu_testbed::smmu_model::{DmaDevice, ExpectedMapping, Ledger};
use smmu_testbed::{ModelHal, Testbed};
use smmu_v3_driver::{Config, SmmuV3};

/// The iommu core used by the tests: 16 devices, 16 groups, 32 domains, 4 StreamIDs.
pub type Core = IommuCore<SmmuV3<ModelHal>, 16, 16, 32, 4>;

/// A driver brought up on `tb` and wrapped in the core, with DMA default domains.
pub fn core(tb: &Testbed, config: &Config) -> Core {
    IommuCore::new(tb.driver(config).unwrap(), DefaultDomainKind::Dma)
}

/// A DMA device with StreamID `sid`.
pub fn device(
    tb: &Testbed,
    name: &str,
    sid: u32,
    ledger: &Arc<Ledger>,
    mapping: &Arc<ExpectedMapping>,
) -> Arc<DmaDevice> {
    Arc::new(DmaDevice::new(
        name,
        sid,
        Arc::clone(&tb.smmu),
        Arc::clone(ledger),
        Arc::clone(mapping),
    ))
}

/// Every event the driver can drain now.
pub fn events(smmu: &SmmuV3<ModelHal>) -> Vec<Event> {
    let mut out = Vec::new();
    smmu.drain_events(|e| out.push(*e)).unwrap();
    out
}

/// A config with small queues (fast to allocate and to wrap).
pub fn small() -> Config {
    let mut c = Config::default();
    c.cmdq_log2size = 6;
    c.evtq_log2size = 6;
    c
}

/// Register offsets of SMMU page 0 / page 1, written from smmuv3.md §1.1 (not taken from
/// the driver), twice: [`reg`] as `usize` (the HAL's and the register-write log's type),
/// [`reg32`] as `u32` (the model's register API).
macro_rules! register_offsets {
    ($($name:ident = $offset:literal,)*) => {
        /// Register offsets as `usize`.
        pub mod reg {
            $(#[doc = stringify!($name)] pub const $name: usize = $offset;)*
        }
        /// Register offsets as `u32`.
        pub mod reg32 {
            $(#[doc = stringify!($name)] pub const $name: u32 = $offset;)*
        }
    };
}

register_offsets! {
    CR0 = 0x20,
    CR0ACK = 0x24,
    CR1 = 0x28,
    CR2 = 0x2c,
    GBPA = 0x44,
    IRQ_CTRL = 0x50,
    IRQ_CTRLACK = 0x54,
    GERROR = 0x60,
    GERRORN = 0x64,
    STRTAB_BASE = 0x80,
    STRTAB_BASE_CFG = 0x88,
    CMDQ_BASE = 0x90,
    CMDQ_PROD = 0x98,
    CMDQ_CONS = 0x9c,
    EVENTQ_BASE = 0xa0,
    PRIQ_BASE = 0xc0,
    EVENTQ_PROD = 0x100a8,
    EVENTQ_CONS = 0x100ac,
}
