//! `quickstart`: the smallest end-to-end use of smmu-rs, on the host model.
//! Probe the SMMU, put a device behind it, map a buffer, let the device DMA into it,
//! unmap it, and watch the next DMA fault.
//!
//! ```sh
//! cargo run -p smmu-examples --bin quickstart
//! ```

use std::sync::Arc;

use iommu_core::{
    DefaultDomainKind, DeviceDesc, DeviceId, IommuCore, Iova, PhysAddr, Prot, StreamId,
};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{Access, DmaDevice, ExpectedMapping, Ledger, ModelConfig, Outcome};
use smmu_v3_driver::{Config, SmmuV3};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The "hardware": a model SMMUv3.2 with 256 MiB of RAM. On a real system the HAL
    // (`tb.hal`) is your MMIO accessors, DMA allocator and platform facts.
    let tb = Testbed::new(ModelConfig::default());

    // The driver: read the ID registers, build the queues and stream table, reset.
    let (features, options) = smmu_v3_driver::probe(&tb.hal, &Config::default())?;
    let mut smmu = SmmuV3::new(tb.hal.clone(), features, options)?;
    smmu.reset()?;

    // The iommu core on top: every device gets a translating DMA domain by default.
    let mut iommu: IommuCore<SmmuV3<_>> = IommuCore::new(smmu, DefaultDomainKind::Dma);
    let nic = DeviceId(1);
    let sid = 0x42; // the device's StreamID, as firmware (DT / IORT) describes it
    iommu.probe_device(DeviceDesc::new(nic, &[StreamId(sid)]))?;

    // The DMA API: map one page of RAM at an IOVA that is not its physical address.
    let (buf, iova) = (tb.alloc_buffer(4096), 0x4_0000_0000);
    let rw = Prot::READ | Prot::WRITE;
    iommu.dma_map(nic, Iova(iova), PhysAddr(buf), 4096, rw)?;
    println!("mapped IOVA {iova:#x} -> PA {buf:#x} for StreamID {sid:#x}");

    // A model DMA device with that StreamID writes 64 bytes at IOVA + 0x100.
    let expected = Arc::new(ExpectedMapping::new()); // where we mean DMA to land
    expected.map(iova, buf, 4096);
    let ledger = Arc::new(Ledger::new()); // records every transaction
    let dev = DmaDevice::new("nic", sid, Arc::clone(&tb.smmu), ledger, expected.clone());
    let (addr, data) = (iova + 0x100, 0x1122_3344_5566_7788);
    let outcome = dev.issue(Access::Write, addr, 64, data);
    assert_eq!(
        outcome,
        Outcome::Completed { pa: buf + 0x100 },
        "translated"
    );
    assert_eq!(
        tb.mem.read_u64(buf + 0x100)?,
        data,
        "the data is in the buffer"
    );
    println!(
        "DMA write to IOVA {addr:#x} landed at PA {:#x}",
        buf + 0x100
    );

    // Unmap (the driver invalidates the TLB); the next DMA to that IOVA faults...
    iommu.dma_unmap(nic, Iova(iova), 4096)?;
    expected.unmap(iova, 4096);
    let outcome = dev.issue(Access::Write, addr, 64, data);
    println!("DMA write after dma_unmap: {outcome:?}");

    // ...and the SMMU reported it in its event queue, which the driver decodes.
    let driver = iommu.driver();
    driver.drain_events(|event| println!("event {}: {event:?}", event.id()))?;
    Ok(())
}
