//! Register side effects (spec §1.5, §1.6, §7.1 "spec" column).

mod common;
use common::*;
use smmu_model::{ModelConfig, PhysMemory, RegionKind, Smmu, SmmuVersion};
use std::sync::Arc;

fn bare(cfg: ModelConfig) -> Smmu {
    let mem = Arc::new(PhysMemory::new());
    mem.add_region(RAM, 1 << 20, RegionKind::Ram).unwrap();
    Smmu::new(cfg, mem)
}

#[test]
fn id_registers_follow_the_config() {
    let s = bare(ModelConfig::default());
    let idr0 = s.read32(IDR0);
    assert_eq!(idr0 & 3, 3, "S1P and S2P");
    assert_eq!((idr0 >> 2) & 3, 2, "TTF = AArch64");
    assert_eq!((idr0 >> 4) & 1, 1, "COHACC");
    assert_eq!((idr0 >> 27) & 3, 1, "ST_LEVEL = 2-level");
    assert_eq!((idr0 >> 12) & 1, 1, "ASID16");
    assert_eq!((idr0 >> 18) & 1, 1, "VMID16");
    let idr1 = s.read32(IDR1);
    assert_eq!(idr1 & 0x3F, 16, "SIDSIZE");
    assert_eq!((idr1 >> 6) & 0x1F, 8, "SSIDSIZE");
    assert_eq!((idr1 >> 21) & 0x1F, 19, "CMDQS");
    assert_eq!(s.read32(IDR5) & 7, 5, "OAS = 48 bits");
    assert_eq!((s.read32(IDR5) >> 4) & 7, 0b101, "GRAN4K + GRAN64K");
    assert_eq!(s.read32(AIDR), 2, "v3.2");
    assert_eq!((s.read32(IDR3) >> 10) & 1, 1, "RIL");

    let s = bare(
        ModelConfig::default()
            .version(SmmuVersion::V3_1)
            .sid_bits(6)
            .ssid_bits(0)
            .two_level_strtab(false)
            .stage2(false)
            .oas_bits(40)
            .coherent(false)
            .cmdq_log2(8)
            .asid16(false),
    );
    let idr0 = s.read32(IDR0);
    assert_eq!(idr0 & 3, 2, "S1P only");
    assert_eq!((idr0 >> 4) & 1, 0);
    assert_eq!((idr0 >> 27) & 3, 0);
    assert_eq!((idr0 >> 12) & 1, 0);
    assert_eq!(s.read32(IDR1) & 0x3F, 6);
    assert_eq!((s.read32(IDR1) >> 21) & 0x1F, 8);
    assert_eq!(s.read32(IDR5) & 7, 2);
    assert_eq!(s.read32(AIDR), 1);
}

#[test]
fn cr0_is_acknowledged_and_irq_ctrl_too() {
    let s = bare(ModelConfig::default());
    s.write32(CR0, SMMUEN | CMDQEN | 1 << 9); // bit 9 is RES0
    assert_eq!(s.read32(CR0), SMMUEN | CMDQEN);
    assert_eq!(s.read32(CR0ACK), SMMUEN | CMDQEN);
    s.write32(IRQ_CTRL, 0b101);
    assert_eq!(s.read32(IRQ_CTRLACK), 0b101);
}

#[test]
fn gbpa_needs_update_and_completes_at_once() {
    let s = bare(ModelConfig::default());
    assert_eq!(s.read32(GBPA), 0x1000, "reset: SHCFG = use incoming");
    // Without Update = 1 the write is ignored (v3.2).
    s.write32(GBPA, 1 << 20);
    assert_eq!(s.read32(GBPA), 0x1000);
    s.write32(GBPA, 1 << 31 | 1 << 20);
    assert_eq!(s.read32(GBPA), 1 << 20, "ABORT set, Update reads 0");
}

#[test]
fn strtab_cr1_cr2_ignored_while_enabled() {
    let s = bare(ModelConfig::default());
    s.write64(STRTAB_BASE, 0x4000_0000);
    s.write32(STRTAB_BASE_CFG, 1 << 16 | 8 << 6 | 16);
    s.write32(CR1, 0x3F);
    s.write32(CR2, RECINVSID);
    s.write32(CR0, SMMUEN);
    s.write64(STRTAB_BASE, 0x4010_0000);
    s.write32(STRTAB_BASE, 0x4020_0000); // low half alone
    s.write32(STRTAB_BASE_CFG, 4);
    s.write32(CR1, 0);
    s.write32(CR2, 0);
    assert_eq!(s.read64(STRTAB_BASE), 0x4000_0000);
    assert_eq!(s.read32(STRTAB_BASE_CFG), 1 << 16 | 8 << 6 | 16);
    assert_eq!(s.read32(CR1), 0x3F);
    assert_eq!(s.read32(CR2), RECINVSID);
    // Disabling makes them writable again.
    s.write32(CR0, 0);
    s.write64(STRTAB_BASE, 0x4010_0000);
    assert_eq!(s.read64(STRTAB_BASE), 0x4010_0000);
    // 64-bit registers as two halves.
    s.write32(STRTAB_BASE + 4, 0x1);
    assert_eq!(s.read64(STRTAB_BASE), 0x1_4010_0000);
    assert_eq!(s.read32(STRTAB_BASE + 4), 1);
}

#[test]
fn queue_registers_guarded_by_their_enable() {
    let s = bare(ModelConfig::default());
    s.write64(CMDQ_BASE, 0x4000_0008);
    s.write32(CMDQ_CONS, 3);
    s.write32(CMDQ_PROD, 3); // empty queue
    s.write64(EVENTQ_BASE, 0x4000_1004);
    s.write32(EVENTQ_PROD, 2);
    s.write32(CR0, CMDQEN | EVENTQEN);
    s.write64(CMDQ_BASE, 0x4001_0008);
    s.write32(CMDQ_CONS, 0);
    s.write64(EVENTQ_BASE, 0x4001_1004);
    s.write32(EVENTQ_PROD, 0);
    assert_eq!(s.read64(CMDQ_BASE), 0x4000_0008);
    assert_eq!(s.read32(CMDQ_CONS), 3);
    assert_eq!(s.read64(EVENTQ_BASE), 0x4000_1004);
    assert_eq!(s.read32(EVENTQ_PROD), 2);
    // EVENTQ_CONS is the software side: always writable.
    s.write32(EVENTQ_CONS, 1);
    assert_eq!(s.read32(EVENTQ_CONS), 1);
    // IRQ_CFG0 guarded by the matching IRQEN.
    s.write64(GERROR_IRQ_CFG0, 0x4000_2000);
    s.write32(IRQ_CTRL, 1);
    s.write64(GERROR_IRQ_CFG0, 0x4000_3000);
    assert_eq!(s.read64(GERROR_IRQ_CFG0), 0x4000_2000);
    s.write64(EVENTQ_IRQ_CFG0, 0x4000_4000);
    assert_eq!(s.read64(EVENTQ_IRQ_CFG0), 0x4000_4000);
}

#[test]
fn unknown_offsets_are_raz_wi() {
    let s = bare(ModelConfig::default());
    for off in [0x0E00, 0x0FD0, 0x8000, 0x1_0000, 0x1_FFFC, 0x0022] {
        s.write32(off, 0xFFFF_FFFF);
        assert_eq!(s.read32(off), 0, "offset {off:#x}");
    }
    // IDRs are read-only.
    let idr0 = s.read32(IDR0);
    s.write32(IDR0, 0);
    assert_eq!(s.read32(IDR0), idr0);
}

#[test]
fn gerror_toggles_and_gerrorn_acknowledges() {
    let s = bare(ModelConfig::default());
    assert_eq!(s.read32(GERROR) ^ s.read32(GERRORN), 0);
    s.inject_sfm();
    let g = s.read32(GERROR);
    assert_eq!(g & (1 << 8), 1 << 8, "SFM_ERR active");
    // A second occurrence while active does not toggle it back.
    s.inject_sfm();
    assert_eq!(s.read32(GERROR), g);
    s.write32(GERRORN, g);
    assert_eq!(s.read32(GERROR) ^ s.read32(GERRORN), 0);
    s.inject_sfm();
    assert_eq!(s.read32(GERROR) ^ s.read32(GERRORN), 1 << 8);
    assert_eq!(s.read32(GERROR), 0, "toggled back to 0 = active again");
}

#[test]
fn gerror_msi_is_written_when_enabled() {
    let mut rig = Rig::new();
    let msi = rig.alloc(4096, 4096);
    rig.smmu.write64(GERROR_IRQ_CFG0, msi);
    rig.smmu.write32(0x70, 0xABCD); // GERROR_IRQ_CFG1: MSI data
    rig.smmu.write32(IRQ_CTRL, 1);
    rig.smmu.inject_sfm();
    assert_eq!(rig.mem.read_u32(msi).unwrap(), 0xABCD);
    assert_eq!(rig.smmu.stats().gerror_irqs, 1);
    let _ = rig.linear_strtab(2);
}
