//! Devices attached to domains run DMA through the model: translations land where the
//! mapping says, unmapped addresses fault with the right event, invalidations are never
//! missed. Expected values come from the spec (smmuv3.md §5: event IDs and fields), not
//! from the driver.

mod common;

use std::sync::Arc;

use common::{Core, core, device, events, small};
use iommu_core::{
    DeviceDesc, DeviceId, DomainId, DomainKind, IommuDriver, Iova, PhysAddr, Prot, StreamId,
};
use smmu_regs::event::{Event, FaultClass, TranslationFaultKind};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{
    Access, DmaProgram, EventId, ExpectedMapping, Ledger, ModelConfig, Outcome,
};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{Config, Error, IdKind};

const RW: Prot = Prot::READ.union(Prot::WRITE);
const IOVA: u64 = 0x4_0000_0000;
const PAGE: u64 = 4096;

/// F_TRANSLATION (0x10), per spec §5.1, for a write of `sid` at `iova`.
fn assert_translation_fault(e: &Event, sid: u32, iova: u64, stage2: bool) {
    let Event::TranslationFault(f) = e else {
        panic!("expected F_TRANSLATION, got {e:?}");
    };
    assert_eq!(e.id().get(), 0x10);
    assert_eq!(f.kind, TranslationFaultKind::Translation);
    assert_eq!(f.sid.0, sid);
    assert_eq!(f.input_addr.0, iova);
    assert!(!f.rnw, "a write");
    assert_eq!(f.s2, stage2);
    assert_eq!(f.class, FaultClass::InputAddr);
    if stage2 {
        // Stage 2 only: the IPA is the input address (dw3[55:12]).
        assert_eq!(f.ipa.0, iova & !0xfff);
    }
}

/// Maps 8 pages, runs DMA over them, checks every landing, then unmaps one page and
/// checks the fault and its event.
fn map_dma_unmap(tb: &Testbed, config: &Config, sid: u32, stage2: bool) {
    let mut core = core(tb, config);
    let dev = DeviceId(1);
    core.probe_device(DeviceDesc::new(dev, &[StreamId(sid)]))
        .unwrap();
    let buf = tb.alloc_buffer(8 * PAGE);
    core.map(dev, Iova(IOVA), PhysAddr(buf), 8 * PAGE, RW)
        .unwrap();
    assert_eq!(
        core.iova_to_phys(dev, Iova(IOVA + 0x1234)).unwrap(),
        Some(PhysAddr(buf + 0x1234))
    );
    let ledger = Arc::new(Ledger::new());
    let mapping = Arc::new(ExpectedMapping::new());
    mapping.map(IOVA, buf, 8 * PAGE);
    let d = device(tb, "dev", sid, &ledger, &mapping);
    let ring: Vec<u64> = (0..8).map(|i| IOVA + i * PAGE + 0x40).collect();
    d.load(DmaProgram::ring_writer(&ring, 64, 0x5a5a_0000 + u64::from(sid)).repeat(4));
    assert_eq!(d.run(), 32);
    let c = d.counts();
    assert_eq!(
        (c.completed, c.misdirected, c.faulted, c.aborted),
        (32, 0, 0, 0)
    );
    for i in 0..8 {
        assert_eq!(
            tb.mem.read_u64(buf + i * PAGE + 0x40).unwrap(),
            0x5a5a_0000 + u64::from(sid)
        );
    }
    // Reads too.
    assert_eq!(
        d.issue(Access::Read, IOVA + 0x7ff8, 8, 0),
        Outcome::Completed { pa: buf + 0x7ff8 }
    );
    // Unmap page 3: the next access there faults and is recorded; page 4 still works.
    assert_eq!(core.unmap(dev, Iova(IOVA + 3 * PAGE), PAGE).unwrap(), PAGE);
    mapping.unmap(IOVA + 3 * PAGE, PAGE);
    assert_eq!(
        d.issue(Access::Write, IOVA + 3 * PAGE + 0x40, 8, 1),
        Outcome::Faulted {
            event: EventId::F_TRANSLATION,
            recorded: true
        }
    );
    assert_eq!(
        d.issue(Access::Write, IOVA + 4 * PAGE, 8, 2),
        Outcome::Completed { pa: buf + 4 * PAGE }
    );
    let evs = events(core.driver());
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_translation_fault(&evs[0], sid, IOVA + 3 * PAGE + 0x40, stage2);
    assert!(ledger.misdirected().is_empty());
}

#[test]
fn stage1_dma_domain() {
    let tb = Testbed::new(ModelConfig::default());
    map_dma_unmap(&tb, &small(), 0x42, false);
}

#[test]
fn stage2_dma_domain() {
    let tb = Testbed::new(ModelConfig::default());
    let mut c = small();
    c.paging_stage = Some(Stage::Stage2);
    map_dma_unmap(&tb, &c, 0x1234, true);
    // Stage 2 only SMMU, 40-bit OAS (concatenated start tables), linear stream table.
    let tb = Testbed::new(
        ModelConfig::default()
            .stage1(false)
            .oas_bits(40)
            .two_level_strtab(false)
            .sid_bits(8),
    );
    map_dma_unmap(&tb, &small(), 0x81, true);
}

#[test]
fn el2_e2h_regime() {
    let tb = Testbed::new(ModelConfig::default());
    let mut c = small();
    c.e2h = true;
    map_dma_unmap(&tb, &c, 0x7, false);
    // CR2.E2H is set (spec §1.5).
    assert_eq!(tb.smmu.read32(0x2c) & 1, 1);
}

#[test]
fn stage1_with_substreams_and_two_level_cd_tables() {
    // SSIDSIZE 12 with CD2L: a device with 12 PASID bits gets a 2-level CD table.
    let tb = Testbed::new(ModelConfig::default().ssid_bits(12));
    let mut core = core(&tb, &small());
    let dev = DeviceId(3);
    core.probe_device(DeviceDesc::new(dev, &[StreamId(0x300)]).with_pasid_bits(12))
        .unwrap();
    assert_eq!(core.device(dev).unwrap().max_pasid_bits, 12);
    let ste = core.driver().ste(smmu_regs::StreamId(0x300)).unwrap();
    // STE: stage 1 (Config 0b101), S1Fmt = 2 (64 KB leaves), S1CDMax = 12 (spec §2.1).
    assert_eq!(ste[0] & 0xf, 0b1011);
    assert_eq!((ste[0] >> 4) & 0b11, 2);
    assert_eq!(ste[0] >> 59, 12);
    // S1DSS = 0b10: traffic without a SubstreamID uses CD 0.
    assert_eq!(ste[1] & 0b11, 0b10);
    let buf = tb.alloc_buffer(PAGE);
    core.map(dev, Iova(IOVA), PhysAddr(buf), PAGE, RW).unwrap();
    let ledger = Arc::new(Ledger::new());
    let mapping = Arc::new(ExpectedMapping::new());
    let d = device(&tb, "pasid-dev", 0x300, &ledger, &mapping);
    assert_eq!(
        d.issue(Access::Write, IOVA + 8, 8, 9),
        Outcome::Completed { pa: buf + 8 }
    );
}

#[test]
fn multi_stream_device_and_shared_domain() {
    let tb = Testbed::new(ModelConfig::default());
    let mut core: Core = core(&tb, &small());
    let (a, b) = (DeviceId(1), DeviceId(2));
    core.probe_device(DeviceDesc::new(a, &[StreamId(0x10), StreamId(0x4010)]))
        .unwrap();
    core.probe_device(DeviceDesc::new(b, &[StreamId(0x20)]))
        .unwrap();
    let shared = core.alloc_domain(a, DomainKind::Unmanaged).unwrap();
    core.attach_device(a, shared).unwrap();
    core.attach_device(b, shared).unwrap();
    let buf = tb.alloc_buffer(2 * PAGE);
    core.map(a, Iova(IOVA), PhysAddr(buf), 2 * PAGE, RW)
        .unwrap();
    let ledger = Arc::new(Ledger::new());
    let mapping = Arc::new(ExpectedMapping::new());
    mapping.map(IOVA, buf, 2 * PAGE);
    for sid in [0x10, 0x4010, 0x20] {
        let d = device(&tb, "d", sid, &ledger, &mapping);
        assert_eq!(
            d.issue(Access::Write, IOVA + PAGE + 16, 8, u64::from(sid)),
            Outcome::Completed {
                pa: buf + PAGE + 16
            }
        );
    }
    // One unmap through either device invalidates for all of them.
    core.unmap(b, Iova(IOVA + PAGE), PAGE).unwrap();
    for sid in [0x10, 0x4010, 0x20] {
        let d = device(&tb, "d", sid, &ledger, &mapping);
        assert_eq!(
            d.issue(Access::Write, IOVA + PAGE + 16, 8, 0),
            Outcome::Faulted {
                event: EventId::F_TRANSLATION,
                recorded: true
            }
        );
    }
    let sids: Vec<u32> = events(core.driver())
        .iter()
        .map(|e| e.stream_id().unwrap().0)
        .collect();
    assert_eq!(sids, [0x10, 0x4010, 0x20]);
    core.detach_device(a, shared).unwrap();
    core.detach_device(b, shared).unwrap();
    core.free_domain(shared).unwrap();
}

#[test]
fn identity_and_blocked_domains() {
    let tb = Testbed::new(ModelConfig::default());
    let mut core = core(&tb, &small());
    let dev = DeviceId(5);
    core.probe_device(DeviceDesc::new(dev, &[StreamId(0x55)]))
        .unwrap();
    let identity = core.alloc_domain(dev, DomainKind::Identity).unwrap();
    let blocked = core.alloc_domain(dev, DomainKind::Blocked).unwrap();
    let ledger = Arc::new(Ledger::new());
    let d = device(
        &tb,
        "d",
        0x55,
        &ledger,
        &Arc::new(ExpectedMapping::identity()),
    );
    let buf = tb.alloc_buffer(PAGE);
    core.attach_device(dev, identity).unwrap();
    // Bypass STE: the address passes through unchanged.
    assert_eq!(
        d.issue(Access::Write, buf + 0x80, 8, 0x77),
        Outcome::Completed { pa: buf + 0x80 }
    );
    assert_eq!(tb.mem.read_u64(buf + 0x80).unwrap(), 0x77);
    core.detach_device(dev, identity).unwrap();
    core.attach_device(dev, blocked).unwrap();
    // Abort STE (Config 0b000): terminated without an event (spec §2.1, §7.6).
    assert_eq!(
        d.issue(Access::Write, buf + 0x80, 8, 0x88),
        Outcome::Aborted
    );
    assert_eq!(tb.mem.read_u64(buf + 0x80).unwrap(), 0x77);
    assert!(events(core.driver()).is_empty());
    assert_eq!(tb.smmu.fault_total(), 0);
}

/// map A → DMA (fills the TLB) → unmap → map B → DMA must land in B.
fn remap(tb: &Testbed, config: &Config) {
    let mut core = core(tb, config);
    let dev = DeviceId(1);
    core.probe_device(DeviceDesc::new(dev, &[StreamId(0x9)]))
        .unwrap();
    let (a, b) = (tb.alloc_buffer(128 * PAGE), tb.alloc_buffer(128 * PAGE));
    let ledger = Arc::new(Ledger::new());
    let mapping = Arc::new(ExpectedMapping::new());
    let d = device(tb, "d", 0x9, &ledger, &mapping);
    // Small ranges (per page / range commands) and a large one (by ASID / VMID without
    // range invalidation).
    for pages in [1, 3, 128] {
        let len = pages * PAGE;
        core.map(dev, Iova(IOVA), PhysAddr(a), len, RW).unwrap();
        for p in 0..pages {
            assert_eq!(
                d.issue(Access::Write, IOVA + p * PAGE, 8, 1),
                Outcome::Completed { pa: a + p * PAGE }
            );
        }
        core.unmap(dev, Iova(IOVA), len).unwrap();
        core.map(dev, Iova(IOVA), PhysAddr(b), len, RW).unwrap();
        for p in 0..pages {
            assert_eq!(
                d.issue(Access::Write, IOVA + p * PAGE, 8, 2),
                Outcome::Completed { pa: b + p * PAGE },
                "{config:?} pages {pages} page {p}"
            );
        }
        core.unmap(dev, Iova(IOVA), len).unwrap();
    }
}

#[test]
fn invalidation_is_never_missed() {
    for ril in [true, false] {
        for stage in [Stage::Stage1, Stage::Stage2] {
            let tb = Testbed::new(ModelConfig::default().ril(ril));
            let mut c = small();
            c.paging_stage = Some(stage);
            remap(&tb, &c);
        }
    }
}

#[test]
fn domain_free_invalidates_and_releases_ids() {
    // 8-bit ASIDs: 255 usable (ASID 0 is never handed out).
    let tb = Testbed::new(ModelConfig::default().asid16(false));
    let mut smmu = tb.driver(&small()).unwrap();
    let sids = [StreamId(0x11)];
    let desc = DeviceDesc::new(DeviceId(1), &sids);
    smmu.probe_device(desc).unwrap();
    let mut domains: Vec<_> = (0..255)
        .map(|i| {
            smmu.domain_alloc(DomainId(i + 1), DomainKind::Unmanaged, desc)
                .unwrap()
        })
        .collect();
    assert_eq!(
        smmu.domain_alloc(DomainId(999), DomainKind::Unmanaged, desc)
            .map(|_| ()),
        Err(Error::IdsExhausted(IdKind::Asid))
    );
    let mut asids: Vec<u16> = domains.iter().map(|d| d.asid().unwrap().0).collect();
    asids.sort_unstable();
    assert_eq!(asids, (1..=255).collect::<Vec<u16>>());
    // Use one domain so that the TLB holds its translations, then free it.
    let buf = tb.alloc_buffer(PAGE);
    let mut dom = domains.pop().unwrap();
    smmu.attach_device(desc, &mut dom, None).unwrap();
    smmu.map(&mut dom, Iova(IOVA), PhysAddr(buf), PAGE, RW)
        .unwrap();
    let ledger = Arc::new(Ledger::new());
    let d = device(&tb, "d", 0x11, &ledger, &Arc::new(ExpectedMapping::new()));
    assert_eq!(
        d.issue(Access::Write, IOVA, 8, 3),
        Outcome::Completed { pa: buf }
    );
    assert!(tb.smmu.tlb_len() > 0);
    let mut blocked = smmu
        .domain_alloc(DomainId(1000), DomainKind::Blocked, desc)
        .unwrap();
    smmu.attach_device(desc, &mut blocked, Some(&mut dom))
        .unwrap();
    let freed = dom.asid().unwrap();
    smmu.domain_free(dom);
    assert_eq!(tb.smmu.tlb_len(), 0, "TLBI_NH_ASID + CMD_SYNC on free");
    // Its ASID can be allocated again.
    let again = smmu
        .domain_alloc(DomainId(1001), DomainKind::Unmanaged, desc)
        .unwrap();
    assert_eq!(again.asid(), Some(freed));
    for dom in domains {
        smmu.domain_free(dom);
    }
    smmu.domain_free(again);
    smmu.release_device(desc, Some(&mut blocked));
    smmu.domain_free(blocked);
}

#[test]
fn vmids_are_released_too() {
    let tb = Testbed::new(ModelConfig::default().stage1(false).vmid16(false));
    let mut smmu = tb.driver(&small()).unwrap();
    let sids = [StreamId(0x12)];
    let desc = DeviceDesc::new(DeviceId(1), &sids);
    smmu.probe_device(desc).unwrap();
    let mut domains: Vec<_> = (0..255)
        .map(|i| {
            smmu.domain_alloc(DomainId(i + 1), DomainKind::Dma, desc)
                .unwrap()
        })
        .collect();
    assert_eq!(
        smmu.domain_alloc(DomainId(999), DomainKind::Dma, desc)
            .map(|_| ()),
        Err(Error::IdsExhausted(IdKind::Vmid))
    );
    let d = domains.pop().unwrap();
    let vmid = d.vmid().unwrap();
    smmu.domain_free(d);
    let again = smmu
        .domain_alloc(DomainId(1000), DomainKind::Dma, desc)
        .unwrap();
    assert_eq!(again.vmid(), Some(vmid));
}

#[test]
fn non_coherent_smmu_with_a_cpu_cache() {
    // The CPU sees DMA memory through a cache the SMMU does not snoop: tables, CDs, page
    // tables and queue entries reach the SMMU only through clean; events only through
    // invalidate.
    for stage in [Stage::Stage1, Stage::Stage2] {
        let tb = Testbed::builder(ModelConfig::default().coherent(false))
            .cpu_cache(true)
            .build();
        let mut c = small();
        c.paging_stage = Some(stage);
        map_dma_unmap(&tb, &c, 0x66, stage == Stage::Stage2);
    }
}
