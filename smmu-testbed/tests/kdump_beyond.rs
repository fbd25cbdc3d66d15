//! Beyond the reference series: adoption on a non-coherent SMMU (behind
//! `Config::adopt_non_coherent`, with cache maintenance in the right order), and a planned
//! handover (kexec / live update) through the same validated adoption.

mod common;

use std::sync::Arc;

use common::reg::{CR0, CR1, CR2, GBPA, STRTAB_BASE, STRTAB_BASE_CFG};
use common::reg32;
use common::{Core, core, device, small};
use iommu_core::{DeviceDesc, DeviceId, Iova, PhysAddr, Prot, StreamId};
use smmu_testbed::smmu_model::{Access, ExpectedMapping, Ledger, ModelConfig, Outcome};
use smmu_testbed::{MemOp, Testbed};
use smmu_v3_driver::{AdoptSource, AdoptionOutcome, HandoverReason};

const RW: Prot = Prot::READ.union(Prot::WRITE);
const SID: u32 = 0x10;
const IOVA: u64 = 0x1000;

/// Kernel 1 maps IOVA → a buffer for the device at SID and crashes; returns the buffer.
fn crashed(tb: &Testbed) -> u64 {
    let mut k1 = core(tb, &small());
    k1.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(SID)]))
        .unwrap();
    let buf = tb.alloc_buffer(4096);
    k1.dma_map(DeviceId(1), Iova(IOVA), PhysAddr(buf), 4096, RW)
        .unwrap();
    std::mem::forget(k1);
    buf
}

fn dma_lands(tb: &Testbed, buf: u64) {
    let ledger = Arc::new(Ledger::new());
    let mapping = Arc::new(ExpectedMapping::new());
    mapping.map(IOVA, buf, 4096);
    let d = device(tb, "dev", SID, &ledger, &mapping);
    assert_eq!(
        d.issue(Access::Write, IOVA + 0x40, 8, 0x77),
        Outcome::Completed { pa: buf + 0x40 }
    );
}

#[test]
fn non_coherent_adoption_invalidates_before_reading_and_cleans_after_writing() {
    let tb = Testbed::builder(ModelConfig::default().coherent(false))
        .firmware_coherent(Some(false))
        .cpu_cache(true)
        .build();
    let old = crashed(&tb);
    dma_lands(&tb, old);
    let kd = tb.reboot(true);
    kd.hal.record_memory_ops();
    let mut c = small();
    c.adopt_non_coherent = true;
    let mut k2: Core = core(&kd, &c);
    assert_eq!(
        k2.driver().adoption(),
        AdoptionOutcome::Adopted {
            source: AdoptSource::Kdump
        }
    );
    k2.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(SID)]))
        .unwrap();
    // The simulated CPU cache shows stale lines for mapped memory until it is
    // invalidated: the deferral decision and the scan saw the real entries only
    // because every mapping was invalidated before it was read.
    assert!(k2.is_attach_deferred(DeviceId(1)).unwrap());
    assert!(k2.driver().id_in_use(false, 1), "kernel 1's ASID reserved");
    let ops = kd.hal.memory_ops();
    let mut maps = 0;
    for (i, op) in ops.iter().enumerate() {
        if let MemOp::Map { pa, len } = *op {
            maps += 1;
            let next = ops.get(i + 1);
            assert!(
                matches!(next, Some(MemOp::Invalidate { pa: p, len: l }) if *p == pa && *l == len),
                "map of {pa:#x} not invalidated before use: {next:?}"
            );
        }
    }
    // The L1 table, the L2 scanned, the CD table scanned, the L2 adopted at probe.
    assert!(maps >= 4, "{ops:?}");
    dma_lands(&tb, old);
    // First DMA map: the adopted STE is rewritten in place and cleaned before the
    // SMMU is told (the DMA lands in the new buffer only if the clean happened).
    kd.hal.record_memory_ops();
    let new = kd.alloc_buffer(4096);
    k2.dma_map(DeviceId(1), Iova(IOVA), PhysAddr(new), 4096, RW)
        .unwrap();
    let l1 = tb.smmu.read64(reg32::STRTAB_BASE) & 0x000f_ffff_ffff_ffc0;
    let l2 = tb.mem.read_u64(l1).unwrap() & 0x000f_ffff_ffff_ffc0;
    let ste = l2 + u64::from(SID) * 64;
    let ops = kd.hal.memory_ops();
    assert!(
        ops.iter()
            .any(|o| matches!(*o, MemOp::Clean { pa, len } if pa <= ste && ste < pa + len as u64)),
        "{ops:?}"
    );
    dma_lands(&tb, new);
}

#[test]
fn planned_handover_adopts_with_the_callers_reason() {
    let tb = Testbed::new(ModelConfig::default());
    let old = crashed(&tb);
    let next = tb.reboot(false);
    next.hal.record_register_writes();
    let mut c = small();
    c.handover = Some(HandoverReason::Kexec);
    let mut k2: Core = core(&next, &c);
    let source = AdoptSource::PlannedHandover(HandoverReason::Kexec);
    assert_eq!(k2.driver().adoption(), AdoptionOutcome::Adopted { source });
    assert!(
        !k2.driver().options().kdump,
        "not a crash kernel: event queue on"
    );
    for w in next.hal.register_writes() {
        assert!(![GBPA, CR1, CR2, STRTAB_BASE, STRTAB_BASE_CFG].contains(&w.offset));
        if w.offset == CR0 {
            assert_eq!(w.value & 1, 1);
        }
    }
    assert_eq!(tb.smmu.read32(0x24) & 0b101, 0b101, "SMMUEN + EVENTQEN");
    dma_lands(&tb, old);
    k2.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(SID)]))
        .unwrap();
    assert!(k2.is_attach_deferred(DeviceId(1)).unwrap());
    let new = next.alloc_buffer(4096);
    k2.dma_map(DeviceId(1), Iova(IOVA), PhysAddr(new), 4096, RW)
        .unwrap();
    dma_lands(&tb, new);
}
