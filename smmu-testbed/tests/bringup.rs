//! Probe and reset on models of several shapes, and the refusals.

mod common;

use common::reg32::{
    CMDQ_BASE, CR0ACK, CR1, CR2, EVENTQ_BASE, GBPA, IRQ_CTRLACK, STRTAB_BASE, STRTAB_BASE_CFG,
};
use common::small;
use smmu_regs::regs::{Cr0, Gbpa};
use smmu_testbed::smmu_model::{ModelConfig, RegionKind, SmmuVersion};
use smmu_testbed::{CRASH_BASE, RAM_BASE, Testbed};
use smmu_v3_driver::{Config, Diagnostic, Error, Unsupported};

/// STRTAB_BASE_CFG per spec §1.6: FMT[17:16], SPLIT[10:6], LOG2SIZE[5:0].
fn strtab_cfg(two_level: bool, split: u32, log2size: u32) -> u32 {
    (u32::from(two_level) << 16) | (split << 6) | log2size
}

struct Case {
    name: &'static str,
    model: ModelConfig,
    /// Expected STRTAB_BASE_CFG.
    cfg: u32,
}

#[test]
fn probe_and_reset_across_shapes() {
    let cases = [
        Case {
            name: "default: 2-level, SIDSIZE 16, both stages",
            model: ModelConfig::default(),
            cfg: strtab_cfg(true, 8, 16),
        },
        Case {
            name: "linear only, SIDSIZE 6, stage 1 only, v3.0",
            model: ModelConfig::default()
                .two_level_strtab(false)
                .sid_bits(6)
                .stage2(false)
                .version(SmmuVersion::V3_0)
                .ril(false),
            cfg: strtab_cfg(false, 0, 6),
        },
        Case {
            name: "linear only, SIDSIZE 12, stage 2 only, no SSIDs",
            model: ModelConfig::default()
                .two_level_strtab(false)
                .sid_bits(12)
                .stage1(false)
                .ssid_bits(0),
            cfg: strtab_cfg(false, 0, 12),
        },
        Case {
            name: "2-level capable, SIDSIZE 8 (fits one L2): linear",
            model: ModelConfig::default().sid_bits(8),
            cfg: strtab_cfg(false, 0, 8),
        },
        Case {
            name: "2-level, SIDSIZE 20, SSIDSIZE 20, 8-bit ASIDs / VMIDs, v3.1",
            model: ModelConfig::default()
                .sid_bits(20)
                .ssid_bits(20)
                .asid16(false)
                .vmid16(false)
                .version(SmmuVersion::V3_1),
            cfg: strtab_cfg(true, 8, 20),
        },
        Case {
            name: "2-level, SIDSIZE 32: the table covers 25 bits",
            model: ModelConfig::default().sid_bits(32),
            cfg: strtab_cfg(true, 8, 25),
        },
    ];
    for case in cases {
        let tb = Testbed::new(case.model.clone());
        let smmu = tb
            .driver(&small())
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        let m = &tb.smmu;
        // Enabled, with both queues, per spec §1.5 (CR0ACK mirrors the final CR0).
        assert_eq!(
            m.read32(CR0ACK),
            (Cr0::SMMUEN | Cr0::CMDQEN | Cr0::EVENTQEN).bits(),
            "{}",
            case.name
        );
        assert_eq!(m.read32(STRTAB_BASE_CFG), case.cfg, "{}", case.name);
        // Every table and queue is in ordinary RAM.
        for reg in [STRTAB_BASE, CMDQ_BASE, EVENTQ_BASE] {
            let addr = m.read64(reg) & 0x00ff_ffff_ffff_ffc0;
            assert!(
                (RAM_BASE..RAM_BASE + (256 << 20)).contains(&addr),
                "{}",
                case.name
            );
        }
        // GBPA aborts while the SMMU is off; CR1 write-back inner shareable (coherent);
        // CR2 records invalid StreamIDs; GERROR interrupts on.
        assert!(Gbpa::from(m.read32(GBPA)).abort(), "{}", case.name);
        assert_eq!(m.read32(CR1), 0b11_01_01_11_01_01, "{}", case.name);
        assert_eq!(m.read32(CR2) & 0b10, 0b10, "{}", case.name);
        assert_eq!(m.read32(IRQ_CTRLACK), 0b101, "{}", case.name);
        // Reset invalidated everything once: CFGI_ALL, (TLBI_EL2_ALL,) TLBI_NSNH_ALL, SYNC.
        let expected_cmds = if case.model.idr0() & (1 << 9) != 0 {
            4
        } else {
            3
        };
        assert_eq!(m.stats().commands, expected_cmds, "{}", case.name);
        let truncated = tb.hal.take_diagnostics().iter().any(|d| {
            matches!(
                d,
                Diagnostic::StreamTableTruncated {
                    sid_bits: 32,
                    covered_bits: 25
                }
            )
        });
        assert_eq!(truncated, case.cfg & 0x3f == 25, "{}", case.name);
        drop(smmu);
        // Dropping the driver disables the SMMU (and frees its memory).
        assert_eq!(m.read32(CR0ACK) & 1, 0, "{}", case.name);
        assert!(tb.hal.alloc_stats().live.is_empty(), "{}", case.name);
    }
}

#[test]
fn refusals() {
    let refuse = |model: ModelConfig, config: &Config| {
        let tb = Testbed::new(model);
        match tb.driver(config) {
            Err(Error::Unsupported(u)) => u,
            other => panic!("{other:?}"),
        }
    };
    let c = Config::default();
    assert_eq!(
        refuse(ModelConfig::default().stage1(false).stage2(false), &c),
        Unsupported::NoTranslationStage
    );
    assert_eq!(
        refuse(
            ModelConfig::default().two_level_strtab(false).sid_bits(24),
            &c
        ),
        Unsupported::SidSize {
            sid_bits: 24,
            max: 20
        }
    );
    assert_eq!(
        refuse(ModelConfig::default().gran4k(false), &c),
        Unsupported::NoGranule4K
    );
    assert_eq!(
        refuse(ModelConfig::default().stall_model(2), &c),
        Unsupported::StallForced
    );
    let mut s2 = Config::default();
    s2.paging_stage = Some(smmu_v3_driver::pgtable::Stage::Stage2);
    assert_eq!(
        refuse(ModelConfig::default().stage2(false), &s2),
        Unsupported::StageUnavailable
    );
    // ID values the model cannot be built with: forced through the HAL.
    let idr0 = ModelConfig::default().idr0();
    for (value, reason) in [
        // TTF = AArch32 only.
        (
            (idr0 & !(0b11 << 2)) | (0b01 << 2),
            Unsupported::NoAarch64Tables,
        ),
        // TTENDIAN = big-endian only.
        (
            idr0 | (0b11 << 21),
            Unsupported::TtEndian(smmu_regs::regs::TtEndian::Big),
        ),
    ] {
        let tb = Testbed::new(ModelConfig::default());
        tb.hal.override_register(0x0, value);
        assert_eq!(tb.driver(&c).map(|_| ()), Err(Error::Unsupported(reason)));
        // Nothing was written: the SMMU is still in its reset state.
        assert_eq!(tb.smmu.read32(CR0ACK), 0);
    }
    // Fixed table bases (IDR1.TABLES_PRESET).
    let tb = Testbed::new(ModelConfig::default());
    tb.hal
        .override_register(0x4, ModelConfig::default().idr1() | (1 << 30));
    assert_eq!(
        tb.driver(&c).map(|_| ()),
        Err(Error::Unsupported(Unsupported::PresetBases))
    );
}

#[test]
fn kdump_boot_uses_the_crashkernel_region_and_no_event_queue() {
    let tb = Testbed::builder(ModelConfig::default()).kdump(true).build();
    let smmu = tb.driver(&small()).unwrap();
    assert!(smmu.options().kdump);
    let m = &tb.smmu;
    assert_eq!(m.read32(CR0ACK), (Cr0::SMMUEN | Cr0::CMDQEN).bits());
    assert_eq!(m.read32(IRQ_CTRLACK), 0b001, "GERROR interrupt only");
    assert_eq!(m.read64(EVENTQ_BASE), 0, "event queue never programmed");
    for reg in [STRTAB_BASE, CMDQ_BASE] {
        let addr = m.read64(reg) & 0x00ff_ffff_ffff_ffc0;
        assert!((CRASH_BASE..CRASH_BASE + (64 << 20)).contains(&addr));
    }
    assert_eq!(
        tb.mem.free_bytes(RegionKind::Ram),
        256 << 20,
        "ordinary RAM untouched"
    );
}

#[test]
fn reset_of_an_smmu_left_enabled() {
    let tb = Testbed::new(ModelConfig::default());
    let first = tb.driver(&small()).unwrap();
    // The first kernel dies without any teardown.
    std::mem::forget(first);
    assert_eq!(tb.smmu.read32(CR0ACK) & 1, 1);
    let second = tb.driver(&small()).unwrap();
    assert!(second.is_enabled());
    assert!(
        tb.hal
            .take_diagnostics()
            .contains(&Diagnostic::EnabledAtReset)
    );
}

#[test]
fn firmware_coherency_overrides_cohacc() {
    // Firmware says "not coherent" on a COHACC SMMU: a warning, then non-cacheable CR1
    // attributes and no MSI polling.
    let tb = Testbed::builder(ModelConfig::default())
        .firmware_coherent(Some(false))
        .cpu_cache(true)
        .build();
    let smmu = tb.driver(&small()).unwrap();
    assert!(!smmu.options().coherent && !smmu.options().msi_poll);
    assert!(
        tb.hal
            .take_diagnostics()
            .contains(&Diagnostic::CoherencyMismatch {
                firmware: false,
                hardware: true
            })
    );
    assert_eq!(tb.smmu.read32(CR1), 0b10_00_00_10_00_00);
    assert_eq!(tb.smmu.stats().msi_writes, 0);
    // Firmware agrees with a non-coherent SMMU: no warning.
    let tb = Testbed::builder(ModelConfig::default().coherent(false))
        .firmware_coherent(Some(false))
        .cpu_cache(true)
        .build();
    tb.driver(&small()).unwrap();
    assert!(tb.hal.take_diagnostics().is_empty());
}

#[test]
fn pri_queue_when_asked() {
    let tb = Testbed::new(ModelConfig::default().pri(true));
    let mut c = small();
    c.pri = true;
    let smmu = tb.driver(&c).unwrap();
    assert_eq!(smmu.options().priq_log2size, Some(6));
    let m = &tb.smmu;
    assert_eq!(
        m.read32(CR0ACK),
        (Cr0::SMMUEN | Cr0::CMDQEN | Cr0::EVENTQEN | Cr0::PRIQEN).bits()
    );
    assert_eq!(m.read32(IRQ_CTRLACK), 0b111);
    let priq = m.read64(0xc0);
    assert_eq!(priq & 0x1f, 6, "PRIQ_BASE.LOG2SIZE");
    assert!((RAM_BASE..RAM_BASE + (256 << 20)).contains(&(priq & 0x00ff_ffff_ffff_ffe0)));
    // The model never raises page requests: nothing to drain.
    assert_eq!(smmu.drain_page_requests(|_| {}).unwrap().records, 0);
    // Not asked for, or in a kdump boot: no PRI queue.
    let tb = Testbed::builder(ModelConfig::default().pri(true))
        .kdump(true)
        .build();
    let smmu = tb.driver(&c).unwrap();
    assert_eq!(smmu.options().priq_log2size, None);
    assert_eq!(tb.smmu.read32(CR0ACK), (Cr0::SMMUEN | Cr0::CMDQEN).bits());
}

#[test]
fn disable_then_reset_again() {
    use iommu_core::{DeviceDesc, DeviceId, DomainId, DomainKind, IommuDriver, StreamId};
    use smmu_testbed::smmu_model::{Access, ExpectedMapping, Ledger, Outcome};
    use std::sync::Arc;

    let tb = Testbed::new(ModelConfig::default());
    let mut smmu = tb.driver(&small()).unwrap();
    let sids = [StreamId(0x31)];
    let desc = DeviceDesc::new(DeviceId(1), &sids);
    smmu.probe_device(desc).unwrap();
    let mut identity = smmu
        .domain_alloc(DomainId(1), DomainKind::Identity, desc)
        .unwrap();
    smmu.attach_device(desc, &mut identity, None).unwrap();
    let buf = tb.alloc_buffer(4096);
    let ledger = Arc::new(Ledger::new());
    let d = common::device(
        &tb,
        "d",
        0x31,
        &ledger,
        &Arc::new(ExpectedMapping::identity()),
    );
    assert_eq!(
        d.issue(Access::Write, buf, 8, 1),
        Outcome::Completed { pa: buf }
    );
    smmu.disable().unwrap();
    assert!(!smmu.is_enabled());
    // SMMUEN = 0 with GBPA.ABORT: every transaction is aborted (spec §1.5).
    assert_eq!(tb.smmu.read32(CR0ACK), 0);
    assert_eq!(d.issue(Access::Write, buf, 8, 2), Outcome::Aborted);
    assert_eq!(smmu.submit(&[]), Err(Error::NotReady));
    smmu.reset().unwrap();
    // The tables survived: the device's bypass STE is used again.
    assert_eq!(
        d.issue(Access::Write, buf, 8, 3),
        Outcome::Completed { pa: buf }
    );
    smmu.submit(&[]).unwrap();
}
