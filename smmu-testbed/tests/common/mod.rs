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

/// The model's ID register offsets.
pub const IDR0: usize = 0x0;
