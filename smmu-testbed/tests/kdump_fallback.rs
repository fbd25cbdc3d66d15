//! Every reason the kdump kernel does not adopt (kdump.md §3, §4.2–§4.5, §6) reaches the
//! normal full reset with that reason; a bad L2 found at device probe rejects only that
//! device (§5). Corruptions are written into the crashed kernel's memory with the
//! layouts of smmuv3.md §1.6, §2 (not with the driver's code).

mod common;

use common::reg::{STRTAB_BASE, STRTAB_BASE_CFG};
use common::reg32;
use common::{Core, core, small};
use iommu_core::{DeviceDesc, DeviceId, Iova, PhysAddr, Prot, StreamId};
use smmu_strtab::{AdoptError, EnsureError, Strictness};
use smmu_testbed::smmu_model::ModelConfig;
use smmu_testbed::{CRASH_BASE, MemOp, Testbed};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{
    AdoptSource, AdoptionOutcome, Config, Diagnostic, Error, FallbackReason, ScanFailure,
    StrtabSource,
};

const RW: Prot = Prot::READ.union(Prot::WRITE);
const A: u32 = 0x10; // L1 index 0
const B: u32 = 0x310; // L1 index 3

/// Writes a corruption into the crashed kernel's memory (or the kdump HAL's registers).
type Corrupt = Box<dyn Fn(&Testbed)>;
/// Name, configuration, corruption, expected adoption error.
type TableCase = (&'static str, Config, Corrupt, fn(&AdoptError) -> bool);
/// Name, kernel 1's paging stage, corruption, expected scan failure.
type ScanCase = (&'static str, Stage, Corrupt, fn(&ScanFailure) -> bool);

/// Kernel 1 (2-level, SIDSIZE 16, `stage` paging) with devices at A and B, mapped;
/// then it crashes.
fn crashed(tb: &Testbed, stage: Stage) {
    let mut c = small();
    c.paging_stage = Some(stage);
    let mut k1 = core(tb, &c);
    for (id, sid) in [(1, A), (2, B)] {
        k1.probe_device(DeviceDesc::new(DeviceId(id), &[StreamId(sid)]))
            .unwrap();
        let buf = tb.alloc_buffer(4096);
        k1.dma_map(DeviceId(id), Iova(0x1000), PhysAddr(buf), 4096, RW)
            .unwrap();
    }
    std::mem::forget(k1);
}

fn base(tb: &Testbed) -> u64 {
    tb.smmu.read64(reg32::STRTAB_BASE) & 0x000f_ffff_ffff_ffc0
}

/// PA of the L1 descriptor of `sid` (SPLIT 8).
fn l1_desc(tb: &Testbed, sid: u32) -> u64 {
    base(tb) + u64::from(sid >> 8) * 8
}

/// PA of the STE of `sid`.
fn ste(tb: &Testbed, sid: u32) -> u64 {
    let desc = tb.mem.read_u64(l1_desc(tb, sid)).unwrap();
    (desc & 0x000f_ffff_ffff_ffc0) + u64::from(sid & 0xff) * 64
}

/// Boots the kdump kernel and checks it fell back with `reason` and did a full reset.
fn expect_fallback(tb: &Testbed, config: &Config, reason: FallbackReason) {
    let kd = tb.reboot(true);
    kd.hal.record_memory_ops();
    let smmu = kd.driver(config).unwrap();
    assert_eq!(smmu.adoption(), AdoptionOutcome::FellBack(reason));
    assert_eq!(smmu.strtab_source(), StrtabSource::Fresh);
    let diags = kd.hal.take_diagnostics();
    assert!(
        diags.contains(&Diagnostic::AdoptionFallback { reason }),
        "{diags:?}"
    );
    assert!(diags.contains(&Diagnostic::EnabledAtReset), "full reset");
    // The fresh table (crashkernel memory) is installed; every adopted mapping was
    // released (§4.5) and no kernel-1 ID stays reserved.
    assert!(base(tb) >= CRASH_BASE);
    let ops = kd.hal.memory_ops();
    let maps = ops
        .iter()
        .filter(|o| matches!(o, MemOp::Map { .. }))
        .count();
    let unmaps = ops
        .iter()
        .filter(|o| matches!(o, MemOp::Unmap { .. }))
        .count();
    assert_eq!(maps, unmaps, "{ops:?}");
    for id in 1..4 {
        assert!(!smmu.id_in_use(false, id) && !smmu.id_in_use(true, id));
    }
    std::mem::forget(smmu);
}

#[test]
fn smmu_disabled() {
    let tb = Testbed::new(ModelConfig::default());
    let kd = tb.reboot(true);
    let smmu = kd.driver(&small()).unwrap();
    assert_eq!(
        smmu.adoption(),
        AdoptionOutcome::FellBack(FallbackReason::SmmuDisabled)
    );
    assert!(
        kd.hal
            .take_diagnostics()
            .contains(&Diagnostic::AdoptionFallback {
                reason: FallbackReason::SmmuDisabled
            })
    );
}

#[test]
fn not_kdump() {
    let tb = Testbed::new(ModelConfig::default());
    crashed(&tb, Stage::Stage1);
    let next = tb.reboot(false);
    let smmu = next.driver(&small()).unwrap();
    assert_eq!(
        smmu.adoption(),
        AdoptionOutcome::FellBack(FallbackReason::NotKdump)
    );
    assert_eq!(smmu.strtab_source(), StrtabSource::Fresh);
    // An ordinary boot: only the "enabled at reset" warning.
    assert_eq!(next.hal.take_diagnostics(), [Diagnostic::EnabledAtReset]);
    // A cold boot has nothing to adopt.
    let cold = Testbed::new(ModelConfig::default());
    assert_eq!(
        cold.driver(&small()).unwrap().adoption(),
        AdoptionOutcome::NotAttempted
    );
}

#[test]
fn non_coherent_without_the_option() {
    let tb = Testbed::builder(ModelConfig::default().coherent(false))
        .firmware_coherent(Some(false))
        .cpu_cache(true)
        .build();
    crashed(&tb, Stage::Stage1);
    expect_fallback(&tb, &small(), FallbackReason::NonCoherent);
}

#[test]
fn service_failure_mode() {
    let tb = Testbed::new(ModelConfig::default());
    crashed(&tb, Stage::Stage1);
    tb.smmu.inject_sfm();
    let kd = tb.reboot(true);
    let (_, options) = smmu_v3_driver::probe(&kd.hal, &small()).unwrap();
    assert_eq!(
        options.adoption,
        AdoptionOutcome::FellBack(FallbackReason::ServiceFailureMode)
    );
    assert_eq!(options.adopt, None);
}

/// One case per structural rule of kdump.md §4.2–§4.4 (smmu-strtab's `AdoptError`).
#[test]
fn each_structural_corruption() {
    let cfg_2lvl = |split: u32, log2: u32| (1 << 16) | (split << 6) | log2;
    let linux = {
        let mut c = small();
        c.adopt_strictness = Strictness::Linux;
        c
    };
    let cases: Vec<TableCase> = vec![
        (
            "reserved FMT",
            small(),
            Box::new(|tb| tb.hal.override_register(STRTAB_BASE_CFG, (2 << 16) | 16)),
            |e| matches!(e, AdoptError::ReservedFormat { fmt: 2 }),
        ),
        (
            "SPLIT 6 under Linux strictness",
            linux,
            Box::new(move |tb| tb.hal.override_register(STRTAB_BASE_CFG, cfg_2lvl(6, 16))),
            |e| matches!(e, AdoptError::SplitUnsupported { split: 6 }),
        ),
        (
            "LOG2SIZE above SIDSIZE",
            small(),
            Box::new(move |tb| tb.hal.override_register(STRTAB_BASE_CFG, cfg_2lvl(8, 17))),
            |e| matches!(e, AdoptError::Log2SizeAboveSidBits { log2size: 17, .. }),
        ),
        (
            "LOG2SIZE below SPLIT",
            small(),
            Box::new(move |tb| tb.hal.override_register(STRTAB_BASE_CFG, cfg_2lvl(8, 7))),
            |e| matches!(e, AdoptError::Log2SizeBelowSplit { .. }),
        ),
        (
            "too many L1 descriptors",
            {
                let mut c = small();
                c.max_l1 = 16;
                c
            },
            Box::new(|_| {}),
            |e| matches!(e, AdoptError::TooManyL1 { num_l1: 256, .. }),
        ),
        (
            "base misaligned",
            small(),
            Box::new(|tb| {
                let b = tb.smmu.read64(reg32::STRTAB_BASE) + 0x40;
                tb.hal.override_register(STRTAB_BASE, b as u32);
            }),
            |e| matches!(e, AdoptError::BaseMisaligned { .. }),
        ),
        (
            "L1 span 12",
            small(),
            Box::new(|tb| {
                let d = tb.mem.read_u64(l1_desc(tb, B)).unwrap();
                tb.mem.write_u64(l1_desc(tb, B), (d & !0x1f) | 12).unwrap();
            }),
            |e| matches!(e, AdoptError::L1SpanInvalid { index: 3, span: 12 }),
        ),
        (
            "L1 null L2 pointer",
            small(),
            Box::new(|tb| tb.mem.write_u64(l1_desc(tb, B), 9).unwrap()),
            |e| matches!(e, AdoptError::L1NullL2Ptr { index: 3 }),
        ),
        (
            "L2 misaligned",
            small(),
            Box::new(|tb| {
                let d = tb.mem.read_u64(l1_desc(tb, B)).unwrap();
                tb.mem.write_u64(l1_desc(tb, B), d + 0x1000).unwrap();
            }),
            |e| matches!(e, AdoptError::L2Misaligned { index: 3, .. }),
        ),
    ];
    for (name, config, corrupt, check) in cases {
        let tb = Testbed::new(ModelConfig::default());
        crashed(&tb, Stage::Stage1);
        // Register overrides live in the HAL: corrupt through the kdump kernel's.
        let kd = tb.reboot(true);
        corrupt(&kd);
        let smmu = kd.driver(&config).unwrap();
        let AdoptionOutcome::FellBack(FallbackReason::Table(e)) = smmu.adoption() else {
            panic!("{name}: {:?}", smmu.adoption());
        };
        assert!(check(&e), "{name}: {e:?}");
        assert_eq!(smmu.strtab_source(), StrtabSource::Fresh, "{name}");
        std::mem::forget(smmu);
    }
}

/// One case per rule of the ASID / VMID scan (kdump.md §6); a failure rolls back the
/// reservations already made (device A's ASID / VMID, scanned first) and mappings.
#[test]
fn each_scan_corruption() {
    // STE dw0 per smmuv3.md §2.1.
    let v_config = |config: u64| 1 | (config << 1);
    let at = |tb: &Testbed, sid: u32, word: u64, value: u64| {
        tb.mem.write_u64(ste(tb, sid) + word * 8, value).unwrap();
    };
    let s1_ptr = |tb: &Testbed| tb.mem.read_u64(ste(tb, B)).unwrap() & 0x00ff_ffff_ffff_ffc0;
    let cases: Vec<ScanCase> = vec![
        (
            "reserved Config 1",
            Stage::Stage1,
            Box::new(move |tb| at(tb, B, 0, v_config(1))),
            |f| matches!(f, ScanFailure::ReservedConfig { config: 1, .. }),
        ),
        (
            "S1 without context pointer",
            Stage::Stage1,
            Box::new(move |tb| at(tb, B, 0, v_config(5))),
            |f| matches!(f, ScanFailure::NullContextPtr { .. }),
        ),
        (
            "S1CDMax above SSIDSIZE",
            Stage::Stage1,
            Box::new(move |tb| {
                let p = s1_ptr(tb);
                at(tb, B, 0, v_config(5) | p | (9 << 59));
            }),
            |f| matches!(f, ScanFailure::CdMaxTooLarge { cdmax: 9, .. }),
        ),
        (
            "reserved S1Fmt",
            Stage::Stage1,
            Box::new(move |tb| {
                let p = s1_ptr(tb);
                at(tb, B, 0, v_config(5) | p | (3 << 4) | (2 << 59));
            }),
            |f| matches!(f, ScanFailure::CdFormat { fmt: 3, .. }),
        ),
        (
            "CD with ASID 0",
            Stage::Stage1,
            Box::new(move |tb| {
                let cd0 = s1_ptr(tb);
                let w = tb.mem.read_u64(cd0).unwrap();
                tb.mem.write_u64(cd0, w & 0x0000_ffff_ffff_ffff).unwrap();
            }),
            |f| matches!(f, ScanFailure::BadAsid { asid: 0, .. }),
        ),
        (
            "S2VMID 0",
            Stage::Stage2,
            Box::new(move |tb| {
                let w = tb.mem.read_u64(ste(tb, B) + 16).unwrap();
                at(tb, B, 2, w & !0xffff);
            }),
            |f| matches!(f, ScanFailure::BadVmid { vmid: 0, .. }),
        ),
    ];
    for (name, stage, corrupt, check) in cases {
        let tb = Testbed::new(ModelConfig::default());
        crashed(&tb, stage);
        corrupt(&tb);
        let kd = tb.reboot(true);
        kd.hal.record_memory_ops();
        let smmu = kd.driver(&small()).unwrap();
        let AdoptionOutcome::FellBack(FallbackReason::Scan(f)) = smmu.adoption() else {
            panic!("{name}: {:?}", smmu.adoption());
        };
        assert!(check(&f), "{name}: {f:?}");
        let ops = kd.hal.memory_ops();
        let maps = ops
            .iter()
            .filter(|o| matches!(o, MemOp::Map { .. }))
            .count();
        let unmaps = ops
            .iter()
            .filter(|o| matches!(o, MemOp::Unmap { .. }))
            .count();
        assert_eq!(maps, unmaps, "{name}");
        for id in 1..4 {
            assert!(
                !smmu.id_in_use(false, id) && !smmu.id_in_use(true, id),
                "{name}: ID {id} still reserved"
            );
        }
        std::mem::forget(smmu);
    }
    // The generic checks of expect_fallback on one of them.
    let tb = Testbed::new(ModelConfig::default());
    crashed(&tb, Stage::Stage1);
    let p = tb.mem.read_u64(ste(&tb, B)).unwrap();
    tb.mem
        .write_u64(ste(&tb, B), p & !0x00ff_ffff_ffff_ffc0)
        .unwrap();
    let kd_reason = FallbackReason::Scan(ScanFailure::NullContextPtr {
        sid: smmu_regs::StreamId(B),
    });
    expect_fallback(&tb, &small(), kd_reason);
}

/// kdump.md §5: an L1 descriptor that goes bad after adoption (for example scribbled
/// by in-flight DMA) rejects only the devices of its range; the others hand over.
/// (A descriptor that is bad at adoption time fails the whole adoption: §4.2 checks
/// every descriptor and the §6 scan reads every L2.)
#[test]
fn corrupted_l2_rejects_only_that_device() {
    let tb = Testbed::new(ModelConfig::default());
    crashed(&tb, Stage::Stage1);
    let kd = tb.reboot(true);
    let mut k2: Core = core(&kd, &small());
    assert_eq!(
        k2.driver().adoption(),
        AdoptionOutcome::Adopted {
            source: AdoptSource::Kdump
        }
    );
    tb.mem.write_u64(l1_desc(&tb, B), 9).unwrap();
    let err = k2
        .probe_device(DeviceDesc::new(DeviceId(2), &[StreamId(B)]))
        .unwrap_err();
    assert_eq!(
        err,
        iommu_core::Error::Driver(Error::AdoptedL2Rejected {
            sid: smmu_regs::StreamId(B),
            error: EnsureError::L1NullL2Ptr { index: 3 }
        })
    );
    k2.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(A)]))
        .unwrap();
    assert!(k2.is_attach_deferred(DeviceId(1)).unwrap());
    let buf = kd.alloc_buffer(4096);
    k2.dma_map(DeviceId(1), Iova(0x1000), PhysAddr(buf), 4096, RW)
        .unwrap();
    assert!(!k2.is_attach_deferred(DeviceId(1)).unwrap());
}
