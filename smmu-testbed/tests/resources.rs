//! Running out of memory: typed errors, and nothing half-done left behind.

mod common;

use common::small;
use iommu_core::{DeviceDesc, DeviceId, DomainId, DomainKind, IommuDriver, StreamId};
use smmu_strtab::{EnsureError, MemoryError};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::ModelConfig;
use smmu_v3_driver::Error;
use smmu_v3_driver::cdtab::CdTableError;
use smmu_v3_driver::pgtable::PageTableError;

#[test]
fn allocation_failures_are_typed_and_leave_nothing_behind() {
    let tb = Testbed::new(ModelConfig::default());
    tb.hal.fail_allocations(true);
    assert_eq!(
        tb.driver(&small()).map(|_| ()),
        Err(Error::Memory(MemoryError::NoMemory))
    );
    assert!(tb.hal.alloc_stats().live.is_empty());
    tb.hal.fail_allocations(false);
    let mut smmu = tb.driver(&small()).unwrap();

    let sids = [StreamId(0x4321)];
    let desc = DeviceDesc::new(DeviceId(1), &sids);
    tb.hal.fail_allocations(true);
    // No L2 table for the device's range.
    assert_eq!(
        smmu.probe_device(desc),
        Err(Error::Ensure(EnsureError::Alloc(MemoryError::NoMemory)))
    );
    assert_eq!(smmu.probed_devices(), 0);
    // No page table for a paging domain.
    assert_eq!(
        smmu.domain_alloc(DomainId(1), DomainKind::Dma, desc)
            .map(|_| ()),
        Err(Error::PageTable(PageTableError::NoMemory(
            MemoryError::NoMemory
        )))
    );
    tb.hal.fail_allocations(false);
    smmu.probe_device(desc).unwrap();
    let mut dma = smmu
        .domain_alloc(DomainId(2), DomainKind::Dma, desc)
        .unwrap();
    // No CD table at the first stage-1 attach: the STE stays as it was (abort).
    tb.hal.fail_allocations(true);
    assert_eq!(
        smmu.attach_device(desc, &mut dma, None),
        Err(Error::CdTable(CdTableError::NoMemory(
            MemoryError::NoMemory
        )))
    );
    assert_eq!(
        smmu.ste(smmu_regs::StreamId(0x4321)).unwrap(),
        [1, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(dma.users(), 0);
    tb.hal.fail_allocations(false);
    smmu.attach_device(desc, &mut dma, None).unwrap();
    assert_eq!(dma.users(), 1);
    let mut blocked = smmu
        .domain_alloc(DomainId(3), DomainKind::Blocked, desc)
        .unwrap();
    smmu.attach_device(desc, &mut blocked, Some(&mut dma))
        .unwrap();
    smmu.domain_free(dma);
    smmu.release_device(desc, Some(&mut blocked));
    smmu.domain_free(blocked);
    drop(smmu);
    assert!(tb.hal.alloc_stats().live.is_empty(), "everything freed");
}
