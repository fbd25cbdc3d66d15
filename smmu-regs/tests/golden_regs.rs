//! Golden tests for the MMIO registers: every field of every register is set to a
//! distinctive value and the raw register value is compared with a literal written by
//! hand from the bit positions of spec/smmuv3.md §1 (never computed with the code under
//! test); and hand-written raw values decode to the expected fields.
#![allow(missing_docs)]

use smmu_regs::caps::Capabilities;
use smmu_regs::regs::{
    Access, Aidr, AllocCfg, ArchVersion, Bbml, CmdqCons, CmdqProd, CommandError, Cr0, Cr1, Cr2,
    EventqCons, EventqProd, Gbpa, Gerror, Httu, Idr0, Idr1, Idr2, Idr3, Idr5, Iidr, InstCfg,
    IrqCfg0, IrqCfg1, IrqCfg2, IrqCtrl, Page, PrivCfg, QueueBase, QueueKind, QueueSize, Register,
    ShCfg, StLevel, StallModel, Statusr, StrtabBase, StrtabBaseCfg, StrtabFmt, TermModel, TtEndian,
    Ttf, Vax, Width, WriteGuard, gbpa_write_accepted, map, offset,
};
use smmu_regs::{AddressSize, Cacheability, Error, PhysAddr, Shareability};

/// Checks a table of (label, value built by the code, expected literal).
fn check32(rows: &[(&str, u32, u32)]) {
    for &(name, got, want) in rows {
        assert_eq!(got, want, "{name}: got {got:#010x}, want {want:#010x}");
    }
}

fn check64(rows: &[(&str, u64, u64)]) {
    for &(name, got, want) in rows {
        assert_eq!(got, want, "{name}: got {got:#018x}, want {want:#018x}");
    }
}

// ---------------------------------------------------------------------------------------
// Register map (spec §1.1).

#[test]
fn register_offsets() {
    let rows: &[(usize, usize)] = &[
        (offset::IDR0, 0x000),
        (offset::IDR1, 0x004),
        (offset::IDR2, 0x008),
        (offset::IDR3, 0x00C),
        (offset::IDR4, 0x010),
        (offset::IDR5, 0x014),
        (offset::IIDR, 0x018),
        (offset::AIDR, 0x01C),
        (offset::CR0, 0x020),
        (offset::CR0ACK, 0x024),
        (offset::CR1, 0x028),
        (offset::CR2, 0x02C),
        (offset::S2PII, 0x030),
        (offset::STATUSR, 0x040),
        (offset::GBPA, 0x044),
        (offset::AGBPA, 0x048),
        (offset::IRQ_CTRL, 0x050),
        (offset::IRQ_CTRLACK, 0x054),
        (offset::GERROR, 0x060),
        (offset::GERRORN, 0x064),
        (offset::GERROR_IRQ_CFG0, 0x068),
        (offset::GERROR_IRQ_CFG1, 0x070),
        (offset::GERROR_IRQ_CFG2, 0x074),
        (offset::STRTAB_BASE, 0x080),
        (offset::STRTAB_BASE_CFG, 0x088),
        (offset::CMDQ_BASE, 0x090),
        (offset::CMDQ_PROD, 0x098),
        (offset::CMDQ_CONS, 0x09C),
        (offset::EVENTQ_BASE, 0x0A0),
        (offset::EVENTQ_PROD_PAGE0, 0x0A8),
        (offset::EVENTQ_CONS_PAGE0, 0x0AC),
        (offset::EVENTQ_IRQ_CFG0, 0x0B0),
        (offset::EVENTQ_IRQ_CFG1, 0x0B8),
        (offset::EVENTQ_IRQ_CFG2, 0x0BC),
        (offset::PRIQ_BASE, 0x0C0),
        (offset::PRIQ_PROD_PAGE0, 0x0C8),
        (offset::PRIQ_CONS_PAGE0, 0x0CC),
        (offset::PRIQ_IRQ_CFG0, 0x0D0),
        (offset::PRIQ_IRQ_CFG1, 0x0D8),
        (offset::PRIQ_IRQ_CFG2, 0x0DC),
        (offset::GATOS_CTRL, 0x100),
        (offset::GATOS_SID, 0x108),
        (offset::GATOS_ADDR, 0x110),
        (offset::GATOS_PAR, 0x118),
        (offset::IMPDEF_START, 0xE00),
        (offset::ID_REGS_START, 0xFD0),
        (offset::EVENTQ_PROD, 0x100A8),
        (offset::EVENTQ_CONS, 0x100AC),
        (offset::PRIQ_PROD, 0x100C8),
        (offset::PRIQ_CONS, 0x100CC),
        (offset::PAGE1, 0x10000),
        (offset::SECURE_BANK, 0x8000),
    ];
    for &(got, want) in rows {
        assert_eq!(got, want);
    }
}

#[test]
fn register_descriptors() {
    use Access::{ReadOnly as RO, ReadWrite as RW};
    use Page::{Page0 as P0, Page1 as P1};
    use Width::{W32, W64};
    let rows: &[(Register, &str, Page, usize, Width, Access)] = &[
        (map::IDR0, "IDR0", P0, 0x000, W32, RO),
        (map::IDR1, "IDR1", P0, 0x004, W32, RO),
        (map::IDR2, "IDR2", P0, 0x008, W32, RO),
        (map::IDR3, "IDR3", P0, 0x00C, W32, RO),
        (map::IDR4, "IDR4", P0, 0x010, W32, RO),
        (map::IDR5, "IDR5", P0, 0x014, W32, RO),
        (map::IIDR, "IIDR", P0, 0x018, W32, RO),
        (map::AIDR, "AIDR", P0, 0x01C, W32, RO),
        (map::CR0, "CR0", P0, 0x020, W32, RW),
        (map::CR0ACK, "CR0ACK", P0, 0x024, W32, RO),
        (map::CR1, "CR1", P0, 0x028, W32, RW),
        (map::CR2, "CR2", P0, 0x02C, W32, RW),
        (map::S2PII, "S2PII", P0, 0x030, W64, RW),
        (map::STATUSR, "STATUSR", P0, 0x040, W32, RO),
        (map::GBPA, "GBPA", P0, 0x044, W32, RW),
        (map::AGBPA, "AGBPA", P0, 0x048, W32, RW),
        (map::IRQ_CTRL, "IRQ_CTRL", P0, 0x050, W32, RW),
        (map::IRQ_CTRLACK, "IRQ_CTRLACK", P0, 0x054, W32, RO),
        (map::GERROR, "GERROR", P0, 0x060, W32, RO),
        (map::GERRORN, "GERRORN", P0, 0x064, W32, RW),
        (map::GERROR_IRQ_CFG0, "GERROR_IRQ_CFG0", P0, 0x068, W64, RW),
        (map::GERROR_IRQ_CFG1, "GERROR_IRQ_CFG1", P0, 0x070, W32, RW),
        (map::GERROR_IRQ_CFG2, "GERROR_IRQ_CFG2", P0, 0x074, W32, RW),
        (map::STRTAB_BASE, "STRTAB_BASE", P0, 0x080, W64, RW),
        (map::STRTAB_BASE_CFG, "STRTAB_BASE_CFG", P0, 0x088, W32, RW),
        (map::CMDQ_BASE, "CMDQ_BASE", P0, 0x090, W64, RW),
        (map::CMDQ_PROD, "CMDQ_PROD", P0, 0x098, W32, RW),
        (map::CMDQ_CONS, "CMDQ_CONS", P0, 0x09C, W32, RW),
        (map::EVENTQ_BASE, "EVENTQ_BASE", P0, 0x0A0, W64, RW),
        (
            map::EVENTQ_PROD_PAGE0,
            "EVENTQ_PROD_PAGE0",
            P0,
            0x0A8,
            W32,
            RW,
        ),
        (
            map::EVENTQ_CONS_PAGE0,
            "EVENTQ_CONS_PAGE0",
            P0,
            0x0AC,
            W32,
            RW,
        ),
        (map::EVENTQ_IRQ_CFG0, "EVENTQ_IRQ_CFG0", P0, 0x0B0, W64, RW),
        (map::EVENTQ_IRQ_CFG1, "EVENTQ_IRQ_CFG1", P0, 0x0B8, W32, RW),
        (map::EVENTQ_IRQ_CFG2, "EVENTQ_IRQ_CFG2", P0, 0x0BC, W32, RW),
        (map::PRIQ_BASE, "PRIQ_BASE", P0, 0x0C0, W64, RW),
        (map::PRIQ_PROD_PAGE0, "PRIQ_PROD_PAGE0", P0, 0x0C8, W32, RW),
        (map::PRIQ_CONS_PAGE0, "PRIQ_CONS_PAGE0", P0, 0x0CC, W32, RW),
        (map::PRIQ_IRQ_CFG0, "PRIQ_IRQ_CFG0", P0, 0x0D0, W64, RW),
        (map::PRIQ_IRQ_CFG1, "PRIQ_IRQ_CFG1", P0, 0x0D8, W32, RW),
        (map::PRIQ_IRQ_CFG2, "PRIQ_IRQ_CFG2", P0, 0x0DC, W32, RW),
        (map::GATOS_CTRL, "GATOS_CTRL", P0, 0x100, W32, RW),
        (map::GATOS_SID, "GATOS_SID", P0, 0x108, W64, RW),
        (map::GATOS_ADDR, "GATOS_ADDR", P0, 0x110, W64, RW),
        (map::GATOS_PAR, "GATOS_PAR", P0, 0x118, W64, RO),
        (map::EVENTQ_PROD, "EVENTQ_PROD", P1, 0x0A8, W32, RW),
        (map::EVENTQ_CONS, "EVENTQ_CONS", P1, 0x0AC, W32, RW),
        (map::PRIQ_PROD, "PRIQ_PROD", P1, 0x0C8, W32, RW),
        (map::PRIQ_CONS, "PRIQ_CONS", P1, 0x0CC, W32, RW),
    ];
    for &(reg, name, page, off, width, access) in rows {
        assert_eq!(reg.name, name);
        assert_eq!(
            (reg.page, reg.offset, reg.width, reg.access),
            (page, off, width, access),
            "{name}"
        );
    }
    assert_eq!(rows.len(), map::ALL_REGISTERS.len());
    assert_eq!(map::EVENTQ_PROD.absolute_offset(), 0x100A8);
    assert_eq!(map::PRIQ_CONS.absolute_offset(), 0x100CC);
    assert_eq!(map::CMDQ_CONS.absolute_offset(), 0x9C);
}

#[test]
fn register_find_and_no_overlap() {
    // Both halves of a 64-bit register find it; holes find nothing.
    assert_eq!(Register::find(0x080), Some(map::STRTAB_BASE));
    assert_eq!(Register::find(0x084), Some(map::STRTAB_BASE));
    assert_eq!(Register::find(0x06C), Some(map::GERROR_IRQ_CFG0));
    assert_eq!(Register::find(0x100AC), Some(map::EVENTQ_CONS));
    assert_eq!(Register::find(0x0AC), Some(map::EVENTQ_CONS_PAGE0));
    assert_eq!(Register::find(0x038), None);
    assert_eq!(Register::find(0x04C), None);
    assert_eq!(Register::find(0x05C), None);
    assert_eq!(Register::find(0x10098), None);
    // No two descriptors overlap, and the list is in offset order.
    for pair in map::ALL_REGISTERS.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            a.absolute_offset() + a.width.bytes() <= b.absolute_offset(),
            "{} / {}",
            a.name,
            b.name
        );
    }
}

#[test]
fn queue_kind_registers() {
    assert_eq!(QueueKind::Cmdq.base_register(), map::CMDQ_BASE);
    assert_eq!(QueueKind::Cmdq.prod_register().absolute_offset(), 0x98);
    assert_eq!(QueueKind::Cmdq.cons_register().absolute_offset(), 0x9C);
    assert_eq!(QueueKind::Eventq.base_register().absolute_offset(), 0xA0);
    assert_eq!(QueueKind::Eventq.prod_register().absolute_offset(), 0x100A8);
    assert_eq!(QueueKind::Eventq.cons_register().absolute_offset(), 0x100AC);
    assert_eq!(QueueKind::Priq.base_register().absolute_offset(), 0xC0);
    assert_eq!(QueueKind::Priq.prod_register().absolute_offset(), 0x100C8);
    assert_eq!(QueueKind::Priq.cons_register().absolute_offset(), 0x100CC);
    assert_eq!(QueueKind::Cmdq.entry_bytes(), 16);
    assert_eq!(QueueKind::Eventq.entry_bytes(), 32);
    assert_eq!(QueueKind::Priq.entry_bytes(), 16);
}

// ---------------------------------------------------------------------------------------
// IDR0 (spec §1.2).

#[test]
fn idr0_fields_encode() {
    let z = Idr0::new;
    check32(&[
        ("S2P", z().with_s2p(true).into(), 0x0000_0001),
        ("S1P", z().with_s1p(true).into(), 0x0000_0002),
        (
            "TTF=AArch32",
            z().with_ttf(Ttf::AArch32).into(),
            0x0000_0004,
        ),
        (
            "TTF=AArch64",
            z().with_ttf(Ttf::AArch64).into(),
            0x0000_0008,
        ),
        ("TTF=Both", z().with_ttf(Ttf::Both).into(), 0x0000_000C),
        ("COHACC", z().with_cohacc(true).into(), 0x0000_0010),
        ("BTM", z().with_btm(true).into(), 0x0000_0020),
        (
            "HTTU=AF",
            z().with_httu(Httu::AccessFlag).into(),
            0x0000_0040,
        ),
        (
            "HTTU=AD",
            z().with_httu(Httu::AccessDirty).into(),
            0x0000_0080,
        ),
        (
            "HTTU=HAFT",
            z().with_httu(Httu::AccessDirtyHaft).into(),
            0x0000_00C0,
        ),
        ("DORMHINT", z().with_dormhint(true).into(), 0x0000_0100),
        ("HYP", z().with_hyp(true).into(), 0x0000_0200),
        ("ATS", z().with_ats(true).into(), 0x0000_0400),
        ("NS1ATS", z().with_ns1ats(true).into(), 0x0000_0800),
        ("ASID16", z().with_asid16(true).into(), 0x0000_1000),
        ("MSI", z().with_msi(true).into(), 0x0000_2000),
        ("SEV", z().with_sev(true).into(), 0x0000_4000),
        ("ATOS", z().with_atos(true).into(), 0x0000_8000),
        ("PRI", z().with_pri(true).into(), 0x0001_0000),
        ("VMW", z().with_vmw(true).into(), 0x0002_0000),
        ("VMID16", z().with_vmid16(true).into(), 0x0004_0000),
        ("CD2L", z().with_cd2l(true).into(), 0x0008_0000),
        ("VATOS", z().with_vatos(true).into(), 0x0010_0000),
        (
            "TTENDIAN=1",
            z().with_ttendian(TtEndian::Reserved1).into(),
            0x0020_0000,
        ),
        (
            "TTENDIAN=LE",
            z().with_ttendian(TtEndian::Little).into(),
            0x0040_0000,
        ),
        (
            "TTENDIAN=BE",
            z().with_ttendian(TtEndian::Big).into(),
            0x0060_0000,
        ),
        ("ATSRECERR", z().with_atsrecerr(true).into(), 0x0080_0000),
        (
            "STALL_MODEL=1",
            z().with_stall_model(StallModel::TerminateOnly).into(),
            0x0100_0000,
        ),
        (
            "STALL_MODEL=2",
            z().with_stall_model(StallModel::StallForced).into(),
            0x0200_0000,
        ),
        (
            "STALL_MODEL=3",
            z().with_stall_model(StallModel::Reserved3).into(),
            0x0300_0000,
        ),
        (
            "TERM_MODEL",
            z().with_term_model(TermModel::AbortOnly).into(),
            0x0400_0000,
        ),
        (
            "ST_LEVEL=1",
            z().with_st_level(StLevel::TwoLevel).into(),
            0x0800_0000,
        ),
        (
            "ST_LEVEL=2",
            z().with_st_level(StLevel::Reserved2).into(),
            0x1000_0000,
        ),
        (
            "ST_LEVEL=3",
            z().with_st_level(StLevel::Reserved3).into(),
            0x1800_0000,
        ),
        ("RME_IMPL", z().with_rme_impl(true).into(), 0x4000_0000),
    ]);
}

#[test]
fn idr0_all_fields_cover_architected_bits() {
    let all = Idr0::new()
        .with_s2p(true)
        .with_s1p(true)
        .with_ttf(Ttf::Both)
        .with_cohacc(true)
        .with_btm(true)
        .with_httu(Httu::AccessDirtyHaft)
        .with_dormhint(true)
        .with_hyp(true)
        .with_ats(true)
        .with_ns1ats(true)
        .with_asid16(true)
        .with_msi(true)
        .with_sev(true)
        .with_atos(true)
        .with_pri(true)
        .with_vmw(true)
        .with_vmid16(true)
        .with_cd2l(true)
        .with_vatos(true)
        .with_ttendian(TtEndian::Big)
        .with_atsrecerr(true)
        .with_stall_model(StallModel::Reserved3)
        .with_term_model(TermModel::AbortOnly)
        .with_st_level(StLevel::Reserved3)
        .with_rme_impl(true);
    // Bits 29 and 31 are reserved.
    assert_eq!(u32::from(all), 0x5FFF_FFFF);
}

#[test]
fn idr0_decode() {
    // QEMU-like defaults (spec §7.2): S1P, TTF=2, COHACC, ASID16, VMID16, TTENDIAN=2,
    // STALL_MODEL=1, TERM_MODEL=1, ST_LEVEL=1.
    let idr0 = Idr0::from(0x0D44_101A);
    assert!(idr0.s1p() && !idr0.s2p());
    assert_eq!(idr0.ttf(), Ttf::AArch64);
    assert!(idr0.cohacc() && idr0.asid16() && idr0.vmid16());
    assert!(!idr0.msi() && !idr0.ats() && !idr0.pri() && !idr0.hyp());
    assert_eq!(idr0.ttendian(), TtEndian::Little);
    assert_eq!(idr0.stall_model(), StallModel::TerminateOnly);
    assert_eq!(idr0.term_model(), TermModel::AbortOnly);
    assert_eq!(idr0.st_level(), StLevel::TwoLevel);
    assert_eq!(idr0.httu(), Httu::None);
    // Reserved encodings decode to their own variants.
    let r = Idr0::from(0x1820_0000);
    assert_eq!(r.ttf(), Ttf::Reserved0);
    assert_eq!(r.ttendian(), TtEndian::Reserved1);
    assert_eq!(r.st_level(), StLevel::Reserved3);
    // Reserved bits 29 and 31 are kept but decode to no field.
    let res = Idr0::from(0xA000_0000);
    assert_eq!(u32::from(res), 0xA000_0000);
    assert!(!res.rme_impl() && !res.s2p());
    assert_eq!(res.st_level(), StLevel::Linear);
}

// ---------------------------------------------------------------------------------------
// IDR1 (spec §1.3).

#[test]
fn idr1_fields_encode() {
    let z = Idr1::new;
    check32(&[
        ("SIDSIZE=0x2a", z().with_sidsize(0x2a).into(), 0x0000_002A),
        ("SIDSIZE=max", z().with_sidsize(0x3f).into(), 0x0000_003F),
        ("SSIDSIZE=0x16", z().with_ssidsize(0x16).into(), 0x0000_0580),
        ("SSIDSIZE=max", z().with_ssidsize(0x1f).into(), 0x0000_07C0),
        ("PRIQS=19", z().with_priqs(19).into(), 0x0000_9800),
        ("PRIQS=max", z().with_priqs(0x1f).into(), 0x0000_F800),
        ("EVENTQS=13", z().with_eventqs(13).into(), 0x000D_0000),
        ("EVENTQS=max", z().with_eventqs(0x1f).into(), 0x001F_0000),
        ("CMDQS=22", z().with_cmdqs(22).into(), 0x02C0_0000),
        ("CMDQS=max", z().with_cmdqs(0x1f).into(), 0x03E0_0000),
        (
            "ATTR_PERMS_OVR",
            z().with_attr_perms_ovr(true).into(),
            0x0400_0000,
        ),
        (
            "ATTR_TYPES_OVR",
            z().with_attr_types_ovr(true).into(),
            0x0800_0000,
        ),
        ("REL", z().with_rel(true).into(), 0x1000_0000),
        (
            "QUEUES_PRESET",
            z().with_queues_preset(true).into(),
            0x2000_0000,
        ),
        (
            "TABLES_PRESET",
            z().with_tables_preset(true).into(),
            0x4000_0000,
        ),
        ("ECMDQ", z().with_ecmdq(true).into(), 0x8000_0000),
    ]);
}

#[test]
fn idr1_decode() {
    // SIDSIZE 16, EVENTQS 19, CMDQS 19, SSIDSIZE 0 (spec §7.2 emulator defaults).
    let idr1 = Idr1::from(0x0273_0010);
    assert_eq!(idr1.sidsize(), 16);
    assert_eq!(idr1.ssidsize(), 0);
    assert_eq!(idr1.priqs(), 0);
    assert_eq!(idr1.eventqs(), 19);
    assert_eq!(idr1.cmdqs(), 19);
    assert!(!idr1.tables_preset() && !idr1.queues_preset() && !idr1.rel());
    let idr1 = Idr1::from(0x6000_0514);
    assert_eq!((idr1.sidsize(), idr1.ssidsize()), (20, 20));
    assert!(idr1.tables_preset() && idr1.queues_preset() && !idr1.ecmdq());
}

// ---------------------------------------------------------------------------------------
// IDR2, IDR3, IDR5, IIDR, AIDR (spec §1.1, §1.4).

#[test]
fn idr2_fields() {
    check32(&[
        (
            "BA_VATOS=max",
            Idr2::new().with_ba_vatos(0x3ff).into(),
            0x0000_03FF,
        ),
        (
            "BA_VATOS=0x2a5",
            Idr2::new().with_ba_vatos(0x2a5).into(),
            0x0000_02A5,
        ),
    ]);
    let r = Idr2::from(0xFFFF_FC01);
    assert_eq!(r.ba_vatos(), 0x001);
    assert_eq!(u32::from(r), 0xFFFF_FC01);
}

#[test]
fn idr3_fields_encode() {
    let z = Idr3::new;
    check32(&[
        ("HAD", z().with_had(true).into(), 0x0000_0004),
        ("PBHA", z().with_pbha(true).into(), 0x0000_0008),
        ("XNX", z().with_xnx(true).into(), 0x0000_0010),
        ("PPS", z().with_pps(true).into(), 0x0000_0020),
        ("MPAM", z().with_mpam(true).into(), 0x0000_0080),
        ("FWB", z().with_fwb(true).into(), 0x0000_0100),
        ("STT", z().with_stt(true).into(), 0x0000_0200),
        ("RIL", z().with_ril(true).into(), 0x0000_0400),
        ("BBML=1", z().with_bbml(Bbml::Level1).into(), 0x0000_0800),
        ("BBML=2", z().with_bbml(Bbml::Level2).into(), 0x0000_1000),
        ("BBML=3", z().with_bbml(Bbml::Reserved3).into(), 0x0000_1800),
        ("E0PD", z().with_e0pd(true).into(), 0x0000_2000),
        ("PTWNNC", z().with_ptwnnc(true).into(), 0x0000_4000),
        ("DPT", z().with_dpt(true).into(), 0x0000_8000),
        ("PASIDTT", z().with_pasidtt(true).into(), 0x0001_0000),
        ("EPAN", z().with_epan(true).into(), 0x0002_0000),
        ("S1PI", z().with_s1pi(true).into(), 0x0004_0000),
        ("S2PI", z().with_s2pi(true).into(), 0x0008_0000),
        ("S2PO", z().with_s2po(true).into(), 0x0010_0000),
        ("THE", z().with_the(true).into(), 0x0020_0000),
        ("MTEPERM", z().with_mteperm(true).into(), 0x0040_0000),
        ("AIE", z().with_aie(true).into(), 0x0080_0000),
    ]);
}

#[test]
fn idr3_decode() {
    // RIL, HAD, BBML=2 (spec §7.2).
    let idr3 = Idr3::from(0x0000_1404);
    assert!(idr3.ril() && idr3.had() && !idr3.stt());
    assert_eq!(idr3.bbml(), Bbml::Level2);
    // Reserved bits [1:0], [6], [31:24] are kept and decode to no field.
    let res = Idr3::from(0xFF00_0043);
    assert_eq!(u32::from(res), 0xFF00_0043);
    assert!(!res.had() && !res.mpam() && !res.aie() && !res.pps());
}

#[test]
fn idr5_fields_encode() {
    let z = Idr5::new;
    check32(&[
        (
            "OAS=36",
            z().with_oas(AddressSize::Bits36).into(),
            0x0000_0001,
        ),
        (
            "OAS=44",
            z().with_oas(AddressSize::Bits44).into(),
            0x0000_0004,
        ),
        (
            "OAS=52",
            z().with_oas(AddressSize::Bits52).into(),
            0x0000_0006,
        ),
        (
            "OAS=56",
            z().with_oas(AddressSize::Bits56).into(),
            0x0000_0007,
        ),
        ("GRAN4K", z().with_gran4k(true).into(), 0x0000_0010),
        ("GRAN16K", z().with_gran16k(true).into(), 0x0000_0020),
        ("GRAN64K", z().with_gran64k(true).into(), 0x0000_0040),
        ("DS", z().with_ds(true).into(), 0x0000_0080),
        ("D128", z().with_d128(true).into(), 0x0000_0100),
        ("VAX=52", z().with_vax(Vax::Va52).into(), 0x0000_0400),
        ("VAX=56", z().with_vax(Vax::Va56).into(), 0x0000_0800),
        ("VAX=3", z().with_vax(Vax::Reserved3).into(), 0x0000_0C00),
        (
            "STALL_MAX=max",
            z().with_stall_max(0xffff).into(),
            0xFFFF_0000,
        ),
        (
            "STALL_MAX=0x1234",
            z().with_stall_max(0x1234).into(),
            0x1234_0000,
        ),
    ]);
}

#[test]
fn idr5_decode() {
    // GRAN4K, GRAN16K, GRAN64K, OAS = 4 (44 bits) (spec §7.2).
    let idr5 = Idr5::from(0x0000_0074);
    assert_eq!(idr5.oas(), AddressSize::Bits44);
    assert_eq!(idr5.oas().bits(), 44);
    assert!(idr5.gran4k() && idr5.gran16k() && idr5.gran64k() && !idr5.ds());
    assert_eq!(idr5.vax(), Vax::Va48);
    assert_eq!(idr5.stall_max(), 0);
    let idr5 = Idr5::from(0x0080_0487);
    assert_eq!(idr5.oas(), AddressSize::Bits56);
    assert_eq!(idr5.vax(), Vax::Va52);
    assert!(idr5.ds() && !idr5.d128());
    assert_eq!(idr5.stall_max(), 0x80);
    // Reserved bits 3, 9, [15:12].
    let res = Idr5::from(0x0000_F208);
    assert_eq!(u32::from(res), 0x0000_F208);
    assert_eq!(res.oas(), AddressSize::Bits32);
    assert!(!res.d128() && !res.gran4k());
    assert_eq!(res.vax(), Vax::Va48);
}

#[test]
fn iidr_fields() {
    let z = Iidr::new;
    check32(&[
        (
            "Implementer",
            z().with_implementer(0x43B).into(),
            0x0000_043B,
        ),
        (
            "Implementer=max",
            z().with_implementer(0xFFF).into(),
            0x0000_0FFF,
        ),
        ("Revision", z().with_revision(0x5).into(), 0x0000_5000),
        ("Revision=max", z().with_revision(0xF).into(), 0x0000_F000),
        ("Variant", z().with_variant(0xA).into(), 0x000A_0000),
        ("Variant=max", z().with_variant(0xF).into(), 0x000F_0000),
        ("ProductID", z().with_product_id(0x482).into(), 0x4820_0000),
        (
            "ProductID=max",
            z().with_product_id(0xFFF).into(),
            0xFFF0_0000,
        ),
    ]);
    let iidr = Iidr::from(0x0483_243B);
    assert_eq!(iidr.product_id(), 0x048);
    assert_eq!(iidr.variant(), 0x3);
    assert_eq!(iidr.revision(), 0x2);
    assert_eq!(iidr.implementer(), 0x43B);
}

#[test]
fn aidr_fields_and_version() {
    check32(&[
        (
            "ArchMinorRev",
            Aidr::new().with_arch_minor_rev(0x2).into(),
            0x0000_0002,
        ),
        (
            "ArchMinorRev=max",
            Aidr::new().with_arch_minor_rev(0xF).into(),
            0x0000_000F,
        ),
        (
            "ArchMajorRev",
            Aidr::new().with_arch_major_rev(0x1).into(),
            0x0000_0010,
        ),
        (
            "ArchMajorRev=max",
            Aidr::new().with_arch_major_rev(0xF).into(),
            0x0000_00F0,
        ),
    ]);
    assert_eq!(Aidr::from(0x00).version(), ArchVersion::V3_0);
    assert_eq!(Aidr::from(0x01).version(), ArchVersion::V3_1);
    assert_eq!(Aidr::from(0x02).version(), ArchVersion::V3_2);
    assert_eq!(Aidr::from(0x03).version(), ArchVersion::V3_3);
    assert_eq!(Aidr::from(0x04).version(), ArchVersion::V3_4);
    // Reserved bits [31:8] are ignored by the version.
    assert_eq!(Aidr::from(0xFFFF_FF02).version(), ArchVersion::V3_2);
    let v = Aidr::from(0x21).version();
    assert_eq!((v.major_rev, v.minor_rev), (2, 1));
    assert!(!v.is_v3());
    assert!(ArchVersion::V3_2.at_least(ArchVersion::V3_1));
    assert!(ArchVersion::V3_2.at_least(ArchVersion::V3_2));
    assert!(!ArchVersion::V3_1.at_least(ArchVersion::V3_2));
    assert!(v.at_least(ArchVersion::V3_4));
    assert!(ArchVersion::V3_1 < ArchVersion::V3_2);
}

// ---------------------------------------------------------------------------------------
// Control registers (spec §1.5).

#[test]
fn cr0_fields() {
    check32(&[
        ("SMMUEN", Cr0::SMMUEN.bits(), 0x0000_0001),
        ("PRIQEN", Cr0::PRIQEN.bits(), 0x0000_0002),
        ("EVENTQEN", Cr0::EVENTQEN.bits(), 0x0000_0004),
        ("CMDQEN", Cr0::CMDQEN.bits(), 0x0000_0008),
        ("ATSCHK", Cr0::ATSCHK.bits(), 0x0000_0010),
        ("DPT_WALK_EN", Cr0::DPT_WALK_EN.bits(), 0x0000_0400),
        (
            "VMW=0b001",
            Cr0::empty().with_vmw(0b001).unwrap().bits(),
            0x0000_0040,
        ),
        (
            "VMW=0b101",
            Cr0::empty().with_vmw(0b101).unwrap().bits(),
            0x0000_0140,
        ),
        (
            "VMW=0b111",
            Cr0::empty().with_vmw(0b111).unwrap().bits(),
            0x0000_01C0,
        ),
    ]);
    assert_eq!(Cr0::VMW_MASK, 0x0000_01C0);
    assert_eq!(Cr0::FIELDS_MASK, 0x0000_05DF);
    // VMW decodes from a raw value and keeps every other bit.
    let cr0 = Cr0::from_bits_retain(0x8000_014D);
    assert_eq!(cr0.vmw(), 0b101);
    assert!(cr0.contains(Cr0::SMMUEN | Cr0::EVENTQEN | Cr0::CMDQEN));
    assert!(!cr0.contains(Cr0::PRIQEN));
    assert_eq!(cr0.with_vmw(0b010).unwrap().bits(), 0x8000_008D);
    let mut c = cr0;
    c.set_vmw(0).unwrap();
    assert_eq!(c.bits(), 0x8000_000D);
    assert_eq!(
        cr0.with_vmw(8),
        Err(Error::FieldOverflow {
            field: "CR0.VMW",
            value: 8,
            bits: 3
        })
    );
    assert_eq!(
        c.set_vmw(0xFF).map(|()| c),
        Err(Error::FieldOverflow {
            field: "CR0.VMW",
            value: 0xFF,
            bits: 3
        })
    );
    assert_eq!(c.bits(), 0x8000_000D);
    // Unknown bits survive a read-modify-write.
    let rmw = Cr0::from_bits_retain(0xFFFF_F800) | Cr0::SMMUEN;
    assert_eq!(rmw.bits(), 0xFFFF_F801);
}

#[test]
fn cr0_ack() {
    let cr0 = Cr0::from_bits_retain(0x0000_000D);
    assert!(cr0.is_acknowledged_by(Cr0::from_bits_retain(0x0000_000D)));
    assert!(!cr0.is_acknowledged_by(Cr0::from_bits_retain(0x0000_0009)));
    // Reserved bits do not take part.
    assert!(cr0.is_acknowledged_by(Cr0::from_bits_retain(0xFFFF_F82D)));
    assert!(!Cr0::from_bits_retain(0x40).is_acknowledged_by(Cr0::empty()));
}

#[test]
fn cr1_fields() {
    let z = Cr1::new;
    check32(&[
        (
            "QUEUE_IC=WB",
            z().with_queue_ic(Cacheability::WriteBack).into(),
            0x0000_0001,
        ),
        (
            "QUEUE_IC=3",
            z().with_queue_ic(Cacheability::WriteBackNoAllocate).into(),
            0x0000_0003,
        ),
        (
            "QUEUE_OC=WT",
            z().with_queue_oc(Cacheability::WriteThrough).into(),
            0x0000_0008,
        ),
        (
            "QUEUE_OC=3",
            z().with_queue_oc(Cacheability::WriteBackNoAllocate).into(),
            0x0000_000C,
        ),
        (
            "QUEUE_SH=OSH",
            z().with_queue_sh(Shareability::Outer).into(),
            0x0000_0020,
        ),
        (
            "QUEUE_SH=ISH",
            z().with_queue_sh(Shareability::Inner).into(),
            0x0000_0030,
        ),
        (
            "TABLE_IC=WB",
            z().with_table_ic(Cacheability::WriteBack).into(),
            0x0000_0040,
        ),
        (
            "TABLE_IC=3",
            z().with_table_ic(Cacheability::WriteBackNoAllocate).into(),
            0x0000_00C0,
        ),
        (
            "TABLE_OC=WT",
            z().with_table_oc(Cacheability::WriteThrough).into(),
            0x0000_0200,
        ),
        (
            "TABLE_OC=3",
            z().with_table_oc(Cacheability::WriteBackNoAllocate).into(),
            0x0000_0300,
        ),
        (
            "TABLE_SH=1",
            z().with_table_sh(Shareability::Reserved).into(),
            0x0000_0400,
        ),
        (
            "TABLE_SH=ISH",
            z().with_table_sh(Shareability::Inner).into(),
            0x0000_0C00,
        ),
    ]);
    // Write-back, inner shareable everywhere (what Linux programs).
    let cr1 = Cr1::from(0x0000_0D75);
    assert_eq!(cr1.queue_ic(), Cacheability::WriteBack);
    assert_eq!(cr1.queue_oc(), Cacheability::WriteBack);
    assert_eq!(cr1.queue_sh(), Shareability::Inner);
    assert_eq!(cr1.table_ic(), Cacheability::WriteBack);
    assert_eq!(cr1.table_oc(), Cacheability::WriteBack);
    assert_eq!(cr1.table_sh(), Shareability::Inner);
    let res = Cr1::from(0xFFFF_F000);
    assert_eq!(u32::from(res), 0xFFFF_F000);
    assert_eq!(res.table_sh(), Shareability::NonShareable);
}

#[test]
fn cr2_statusr_irq_ctrl_fields() {
    check32(&[
        ("CR2.E2H", Cr2::E2H.bits(), 0x1),
        ("CR2.RECINVSID", Cr2::RECINVSID.bits(), 0x2),
        ("CR2.PTM", Cr2::PTM.bits(), 0x4),
        ("CR2.REC_CFG_ATS", Cr2::REC_CFG_ATS.bits(), 0x8),
        ("STATUSR.DORMANT", Statusr::DORMANT.bits(), 0x1),
        ("IRQ_CTRL.GERROR_IRQEN", IrqCtrl::GERROR_IRQEN.bits(), 0x1),
        ("IRQ_CTRL.PRIQ_IRQEN", IrqCtrl::PRIQ_IRQEN.bits(), 0x2),
        ("IRQ_CTRL.EVENTQ_IRQEN", IrqCtrl::EVENTQ_IRQEN.bits(), 0x4),
    ]);
    let cr2 = Cr2::from_bits_retain(0xF000_0006);
    assert!(cr2.contains(Cr2::RECINVSID | Cr2::PTM) && !cr2.contains(Cr2::E2H));
    assert_eq!((cr2 - Cr2::PTM).bits(), 0xF000_0002);
    let irq = IrqCtrl::GERROR_IRQEN | IrqCtrl::EVENTQ_IRQEN;
    assert!(irq.is_acknowledged_by(IrqCtrl::from_bits_retain(0x8000_0005)));
    assert!(!irq.is_acknowledged_by(IrqCtrl::from_bits_retain(0x1)));
}

#[test]
fn gerror_fields() {
    check32(&[
        ("CMDQ_ERR", Gerror::CMDQ_ERR.bits(), 0x0000_0001),
        ("EVENTQ_ABT_ERR", Gerror::EVENTQ_ABT_ERR.bits(), 0x0000_0004),
        ("PRIQ_ABT_ERR", Gerror::PRIQ_ABT_ERR.bits(), 0x0000_0008),
        (
            "MSI_CMDQ_ABT_ERR",
            Gerror::MSI_CMDQ_ABT_ERR.bits(),
            0x0000_0010,
        ),
        (
            "MSI_EVENTQ_ABT_ERR",
            Gerror::MSI_EVENTQ_ABT_ERR.bits(),
            0x0000_0020,
        ),
        (
            "MSI_PRIQ_ABT_ERR",
            Gerror::MSI_PRIQ_ABT_ERR.bits(),
            0x0000_0040,
        ),
        (
            "MSI_GERROR_ABT_ERR",
            Gerror::MSI_GERROR_ABT_ERR.bits(),
            0x0000_0080,
        ),
        ("SFM_ERR", Gerror::SFM_ERR.bits(), 0x0000_0100),
        ("CMDQP_ERR", Gerror::CMDQP_ERR.bits(), 0x0000_0200),
        ("DPT_ERR", Gerror::DPT_ERR.bits(), 0x0000_0400),
    ]);
    // Linux GERROR_ERR_MASK (0x1fd) is CMDQ_ERR .. SFM_ERR.
    let linux = Gerror::CMDQ_ERR
        | Gerror::EVENTQ_ABT_ERR
        | Gerror::PRIQ_ABT_ERR
        | Gerror::MSI_CMDQ_ABT_ERR
        | Gerror::MSI_EVENTQ_ABT_ERR
        | Gerror::MSI_PRIQ_ABT_ERR
        | Gerror::MSI_GERROR_ABT_ERR
        | Gerror::SFM_ERR;
    assert_eq!(linux.bits(), 0x1FD);
    assert_eq!(Gerror::FIELDS_MASK, 0x7FD);
}

#[test]
fn gerror_active_and_acknowledge() {
    // GERROR toggled CMDQ_ERR and SFM_ERR; GERRORN still has the old values.
    let gerror = Gerror::from_bits_retain(0x0000_0105);
    let gerrorn = Gerror::from_bits_retain(0x0000_0004);
    assert_eq!(gerror.active(gerrorn).bits(), 0x0000_0101);
    // Acknowledge only CMDQ_ERR: GERRORN bit 0 becomes GERROR's bit 0.
    let ack = gerror.acknowledge(gerrorn, Gerror::CMDQ_ERR);
    assert_eq!(ack.bits(), 0x0000_0005);
    assert_eq!(gerror.active(ack).bits(), 0x0000_0100);
    // Acknowledge everything: GERRORN = GERROR.
    let all = gerror.acknowledge(gerrorn, Gerror::from_bits_retain(0xFFFF_FFFF));
    assert_eq!(all.bits(), 0x0000_0105);
    assert!(gerror.active(all).is_empty());
    // Reserved bit 1 and bits above 10 are never active.
    assert!(
        Gerror::from_bits_retain(0xFFFF_F802)
            .active(Gerror::empty())
            .is_empty()
    );
}

#[test]
fn gbpa_fields() {
    let z = Gbpa::new;
    let alloc = |r, w, t, o| {
        AllocCfg::new()
            .with_read_alloc(r)
            .with_write_alloc(w)
            .with_transient(t)
            .with_override_hints(o)
    };
    check32(&[
        ("MemAttr=max", z().with_memattr(0xF).into(), 0x0000_000F),
        ("MemAttr=0b0101", z().with_memattr(0x5).into(), 0x0000_0005),
        ("MTCFG", z().with_mtcfg(true).into(), 0x0000_0010),
        (
            "ALLOCCFG=0b1111",
            z().with_alloccfg(alloc(true, true, true, true)).into(),
            0x0000_0F00,
        ),
        (
            "ALLOCCFG=0b1100",
            z().with_alloccfg(alloc(true, false, false, true)).into(),
            0x0000_0C00,
        ),
        (
            "ALLOCCFG.T",
            z().with_alloccfg(alloc(false, false, true, false)).into(),
            0x0000_0100,
        ),
        (
            "ALLOCCFG.W",
            z().with_alloccfg(alloc(false, true, false, false)).into(),
            0x0000_0200,
        ),
        (
            "ALLOCCFG.R",
            z().with_alloccfg(alloc(true, false, false, false)).into(),
            0x0000_0400,
        ),
        (
            "ALLOCCFG.override",
            z().with_alloccfg(alloc(false, false, false, true)).into(),
            0x0000_0800,
        ),
        (
            "SHCFG=incoming",
            z().with_shcfg(ShCfg::Incoming).into(),
            0x0000_1000,
        ),
        (
            "SHCFG=OSH",
            z().with_shcfg(ShCfg::Outer).into(),
            0x0000_2000,
        ),
        (
            "SHCFG=ISH",
            z().with_shcfg(ShCfg::Inner).into(),
            0x0000_3000,
        ),
        (
            "PRIVCFG=1",
            z().with_privcfg(PrivCfg::Reserved1).into(),
            0x0001_0000,
        ),
        (
            "PRIVCFG=unpriv",
            z().with_privcfg(PrivCfg::Unprivileged).into(),
            0x0002_0000,
        ),
        (
            "PRIVCFG=priv",
            z().with_privcfg(PrivCfg::Privileged).into(),
            0x0003_0000,
        ),
        (
            "INSTCFG=1",
            z().with_instcfg(InstCfg::Reserved1).into(),
            0x0004_0000,
        ),
        (
            "INSTCFG=data",
            z().with_instcfg(InstCfg::Data).into(),
            0x0008_0000,
        ),
        (
            "INSTCFG=instr",
            z().with_instcfg(InstCfg::Instruction).into(),
            0x000C_0000,
        ),
        ("ABORT", z().with_abort(true).into(), 0x0010_0000),
        ("Update", z().with_update(true).into(), 0x8000_0000),
    ]);
}

#[test]
fn gbpa_decode() {
    // Emulator reset value: SHCFG = use incoming.
    let g = Gbpa::from(0x0000_1000);
    assert_eq!(g.shcfg(), ShCfg::Incoming);
    assert_eq!(g.privcfg(), PrivCfg::Incoming);
    assert_eq!(g.instcfg(), InstCfg::Incoming);
    assert!(!g.abort() && !g.update() && !g.mtcfg());
    assert!(!g.alloccfg().override_hints());
    // Abort everything, update requested, ALLOCCFG = 0b1010 (override, R=0, W=1, T=0).
    let g = Gbpa::from(0x801D_0A1F);
    assert!(g.abort() && g.update() && g.mtcfg());
    assert_eq!(g.memattr(), 0xF);
    let a = g.alloccfg();
    assert!(a.override_hints() && !a.read_alloc() && a.write_alloc() && !a.transient());
    assert_eq!(g.shcfg(), ShCfg::NonShareable);
    assert_eq!(g.privcfg(), PrivCfg::Reserved1);
    assert_eq!(g.instcfg(), InstCfg::Instruction);
}

// ---------------------------------------------------------------------------------------
// MSI configuration registers (spec §1.1).

#[test]
fn irq_cfg0_fields() {
    check64(&[
        (
            "ADDR=1",
            IrqCfg0::new().with_addr(1).into(),
            0x0000_0000_0000_0004,
        ),
        (
            "ADDR=max",
            IrqCfg0::new().with_addr(0x3F_FFFF_FFFF_FFFF).into(),
            0x00FF_FFFF_FFFF_FFFC,
        ),
        (
            "ADDR=top|1",
            IrqCfg0::new().with_addr(0x20_0000_0000_0001).into(),
            0x0080_0000_0000_0004,
        ),
        (
            "try_new",
            IrqCfg0::try_new(PhysAddr(0x0900_0040)).unwrap().into(),
            0x0000_0000_0900_0040,
        ),
    ]);
    let r = IrqCfg0::from(0x0000_0000_0900_0040);
    assert_eq!(r.addr(), 0x0240_0010);
    assert_eq!(r.address(), PhysAddr(0x0900_0040));
    // Reserved bits [1:0] and [63:56] are kept and are not part of the address.
    let res = IrqCfg0::from(0xFF00_0000_0000_0003);
    assert_eq!(u64::from(res), 0xFF00_0000_0000_0003);
    assert_eq!(res.address(), PhysAddr(0));
    assert_eq!(
        IrqCfg0::try_new(PhysAddr(0x1002)),
        Err(Error::Misaligned {
            field: "IRQ_CFG0.ADDR",
            value: 0x1002,
            align: 4
        })
    );
    assert_eq!(
        IrqCfg0::try_new(PhysAddr(0x0100_0000_0000_0000)),
        Err(Error::FieldOverflow {
            field: "IRQ_CFG0.ADDR",
            value: 0x0100_0000_0000_0000,
            bits: 56
        })
    );
    assert!(IrqCfg0::try_new(PhysAddr(0x00FF_FFFF_FFFF_FFFC)).is_ok());
}

#[test]
fn irq_cfg1_cfg2_fields() {
    check32(&[
        (
            "CFG1.DATA",
            IrqCfg1::new().with_data(0xDEAD_BEEF).into(),
            0xDEAD_BEEF,
        ),
        (
            "CFG2.MemAttr=max",
            IrqCfg2::new().with_memattr(0xF).into(),
            0x0000_000F,
        ),
        (
            "CFG2.MemAttr=1",
            IrqCfg2::new().with_memattr(0x1).into(),
            0x0000_0001,
        ),
        (
            "CFG2.SH=1",
            IrqCfg2::new().with_sh(Shareability::Reserved).into(),
            0x0000_0010,
        ),
        (
            "CFG2.SH=OSH",
            IrqCfg2::new().with_sh(Shareability::Outer).into(),
            0x0000_0020,
        ),
        (
            "CFG2.SH=ISH",
            IrqCfg2::new().with_sh(Shareability::Inner).into(),
            0x0000_0030,
        ),
    ]);
    assert_eq!(IrqCfg1::from(0x1234_5678).data(), 0x1234_5678);
    let c = IrqCfg2::from(0x0000_003E);
    assert_eq!((c.memattr(), c.sh()), (0xE, Shareability::Inner));
    let res = IrqCfg2::from(0xFFFF_FFC0);
    assert_eq!(u32::from(res), 0xFFFF_FFC0);
    assert_eq!((res.memattr(), res.sh()), (0, Shareability::NonShareable));
}

// ---------------------------------------------------------------------------------------
// Stream table base registers (spec §1.6, §3).

#[test]
fn strtab_base_fields() {
    check64(&[
        (
            "ADDR=1",
            StrtabBase::new().with_addr(1).into(),
            0x0000_0000_0000_0040,
        ),
        (
            "ADDR=max",
            StrtabBase::new().with_addr(0x3_FFFF_FFFF_FFFF).into(),
            0x00FF_FFFF_FFFF_FFC0,
        ),
        (
            "ADDR=top|1",
            StrtabBase::new().with_addr(0x2_0000_0000_0001).into(),
            0x0080_0000_0000_0040,
        ),
        (
            "RA",
            StrtabBase::new().with_ra(true).into(),
            0x4000_0000_0000_0000,
        ),
        (
            "try_new",
            StrtabBase::try_new(PhysAddr(0x0000_0008_1234_5000), true)
                .unwrap()
                .into(),
            0x4000_0008_1234_5000,
        ),
    ]);
    let b = StrtabBase::from(0xC0FF_0000_DEAD_BEC0);
    assert_eq!(b.address(), PhysAddr(0x00FF_0000_DEAD_BEC0));
    assert!(b.ra());
    let res = StrtabBase::from(0xBF00_0000_0000_003F);
    assert_eq!(u64::from(res), 0xBF00_0000_0000_003F);
    assert_eq!(res.address(), PhysAddr(0));
    assert!(!res.ra());
    assert_eq!(
        StrtabBase::try_new(PhysAddr(0x1020), false),
        Err(Error::Misaligned {
            field: "STRTAB_BASE.ADDR",
            value: 0x1020,
            align: 64
        })
    );
    assert_eq!(
        StrtabBase::try_new(PhysAddr(0x0100_0000_0000_0000), false),
        Err(Error::FieldOverflow {
            field: "STRTAB_BASE.ADDR",
            value: 0x0100_0000_0000_0000,
            bits: 56
        })
    );
}

#[test]
fn strtab_base_cfg_fields() {
    let z = StrtabBaseCfg::new;
    check32(&[
        ("LOG2SIZE=max", z().with_log2size(0x3F).into(), 0x0000_003F),
        ("LOG2SIZE=0x25", z().with_log2size(0x25).into(), 0x0000_0025),
        ("SPLIT=max", z().with_split(0x1F).into(), 0x0000_07C0),
        ("SPLIT=8", z().with_split(8).into(), 0x0000_0200),
        ("SPLIT=0b10101", z().with_split(0x15).into(), 0x0000_0540),
        (
            "FMT=2-level",
            z().with_fmt(StrtabFmt::TwoLevel).into(),
            0x0001_0000,
        ),
        (
            "FMT=2",
            z().with_fmt(StrtabFmt::Reserved2).into(),
            0x0002_0000,
        ),
        (
            "FMT=3",
            z().with_fmt(StrtabFmt::Reserved3).into(),
            0x0003_0000,
        ),
        (
            "try_new linear",
            StrtabBaseCfg::try_new(StrtabFmt::Linear, 10, 0)
                .unwrap()
                .into(),
            0x0000_000A,
        ),
        (
            "try_new 2lvl/8",
            StrtabBaseCfg::try_new(StrtabFmt::TwoLevel, 16, 8)
                .unwrap()
                .into(),
            0x0001_0210,
        ),
        (
            "try_new 2lvl/10",
            StrtabBaseCfg::try_new(StrtabFmt::TwoLevel, 20, 10)
                .unwrap()
                .into(),
            0x0001_0294,
        ),
        (
            "try_new 2lvl/6",
            StrtabBaseCfg::try_new(StrtabFmt::TwoLevel, 32, 6)
                .unwrap()
                .into(),
            0x0001_01A0,
        ),
    ]);
}

#[test]
fn strtab_base_cfg_effective_and_errors() {
    // FMT = 2 (reserved), SPLIT = 7, LOG2SIZE = 16.
    let c = StrtabBaseCfg::from(0x0002_01D0);
    assert_eq!(c.fmt(), StrtabFmt::Reserved2);
    assert_eq!(c.effective_fmt(), StrtabFmt::Linear);
    assert_eq!(c.split(), 7);
    assert_eq!(c.effective_split(), 6);
    assert_eq!(c.log2size(), 16);
    assert_eq!(c.effective_log2size(12), 12);
    assert_eq!(c.effective_log2size(20), 16);
    let c = StrtabBaseCfg::from(0x0001_0280);
    assert_eq!(
        (c.effective_fmt(), c.effective_split()),
        (StrtabFmt::TwoLevel, 10)
    );
    assert_eq!(
        StrtabBaseCfg::from(0x0003_0200).effective_fmt(),
        StrtabFmt::Linear
    );
    for (raw, split) in [
        (0x000, 6),
        (0x180, 6),
        (0x200, 8),
        (0x280, 10),
        (0x240, 6),
        (0x7C0, 6),
    ] {
        assert_eq!(
            StrtabBaseCfg::from(raw).effective_split(),
            split,
            "{raw:#x}"
        );
    }
    let res = StrtabBaseCfg::from(0xFFFC_F800);
    assert_eq!(u32::from(res), 0xFFFC_F800);
    assert_eq!(
        (res.log2size(), res.split(), res.fmt()),
        (0, 0, StrtabFmt::Linear)
    );

    assert_eq!(
        StrtabBaseCfg::try_new(StrtabFmt::Reserved2, 10, 0),
        Err(Error::InvalidValue {
            field: "STRTAB_BASE_CFG.FMT",
            value: 2
        })
    );
    assert_eq!(
        StrtabBaseCfg::try_new(StrtabFmt::Linear, 33, 0),
        Err(Error::InvalidValue {
            field: "STRTAB_BASE_CFG.LOG2SIZE",
            value: 33
        })
    );
    assert_eq!(
        StrtabBaseCfg::try_new(StrtabFmt::Linear, 10, 32),
        Err(Error::FieldOverflow {
            field: "STRTAB_BASE_CFG.SPLIT",
            value: 32,
            bits: 5
        })
    );
    assert_eq!(
        StrtabBaseCfg::try_new(StrtabFmt::TwoLevel, 16, 7),
        Err(Error::InvalidValue {
            field: "STRTAB_BASE_CFG.SPLIT",
            value: 7
        })
    );
}

// ---------------------------------------------------------------------------------------
// Queue registers (spec §1.6).

#[test]
fn queue_base_fields() {
    let z = QueueBase::new;
    check64(&[
        (
            "LOG2SIZE=max",
            z().with_log2size(0x1F).into(),
            0x0000_0000_0000_001F,
        ),
        (
            "LOG2SIZE=19",
            z().with_log2size(19).into(),
            0x0000_0000_0000_0013,
        ),
        ("ADDR=1", z().with_addr(1).into(), 0x0000_0000_0000_0020),
        (
            "ADDR=max",
            z().with_addr(0x7_FFFF_FFFF_FFFF).into(),
            0x00FF_FFFF_FFFF_FFE0,
        ),
        (
            "ADDR=top|1",
            z().with_addr(0x4_0000_0000_0001).into(),
            0x0080_0000_0000_0020,
        ),
        (
            "RA/WA",
            z().with_alloc_hint(true).into(),
            0x4000_0000_0000_0000,
        ),
        (
            "try_new cmdq",
            QueueBase::try_new(QueueKind::Cmdq, PhysAddr(0x8000_0000), 8)
                .unwrap()
                .into(),
            0x0000_0000_8000_0008,
        ),
        (
            "try_new eventq",
            QueueBase::try_new(QueueKind::Eventq, PhysAddr(0x1_0000_2000), 7)
                .unwrap()
                .into(),
            0x0000_0001_0000_2007,
        ),
        (
            "try_new 1 entry",
            QueueBase::try_new(QueueKind::Cmdq, PhysAddr(0x20), 0)
                .unwrap()
                .into(),
            0x0000_0000_0000_0020,
        ),
    ]);
}

#[test]
fn queue_base_decode_and_errors() {
    let b = QueueBase::from(0x4000_0012_3456_7893);
    assert_eq!(b.log2size(), 19);
    assert!(b.alloc_hint());
    assert_eq!(b.address(), PhysAddr(0x0000_0012_3456_7880));
    assert_eq!(b.size(19).log2size(), 19);
    assert_eq!(b.size(8).log2size(), 8);
    let b = QueueBase::from(0x0000_0000_0000_001F);
    assert_eq!(b.size(31).log2size(), 19);
    let res = QueueBase::from(0xBF00_0000_0000_0000);
    assert_eq!(u64::from(res), 0xBF00_0000_0000_0000);
    assert_eq!(
        (res.address(), res.log2size(), res.alloc_hint()),
        (PhysAddr(0), 0, false)
    );

    assert_eq!(
        QueueBase::try_new(QueueKind::Cmdq, PhysAddr(0x8000_0000), 20),
        Err(Error::InvalidValue {
            field: "CMDQ_BASE.LOG2SIZE",
            value: 20
        })
    );
    assert_eq!(
        QueueBase::try_new(QueueKind::Eventq, PhysAddr(0x1_0000_2800), 7),
        Err(Error::Misaligned {
            field: "EVENTQ_BASE.ADDR",
            value: 0x1_0000_2800,
            align: 4096
        })
    );
    assert_eq!(
        QueueBase::try_new(QueueKind::Cmdq, PhysAddr(0x10), 0),
        Err(Error::Misaligned {
            field: "CMDQ_BASE.ADDR",
            value: 0x10,
            align: 32
        })
    );
    assert_eq!(
        QueueBase::try_new(QueueKind::Priq, PhysAddr(0x0100_0000_0000_0000), 0),
        Err(Error::FieldOverflow {
            field: "PRIQ_BASE.ADDR",
            value: 0x0100_0000_0000_0000,
            bits: 56
        })
    );
    // 2^19 PRI entries of 16 bytes = 8 MB alignment.
    assert!(QueueBase::try_new(QueueKind::Priq, PhysAddr(0x80_0000), 19).is_ok());
    assert!(QueueBase::try_new(QueueKind::Priq, PhysAddr(0x40_0000), 19).is_err());
}

#[test]
fn queue_prod_cons_fields() {
    check32(&[
        (
            "CMDQ_PROD.WR=max",
            CmdqProd::new().with_wr(0xF_FFFF).into(),
            0x000F_FFFF,
        ),
        (
            "CMDQ_PROD.WR",
            CmdqProd::new().with_wr(0x1_2345).into(),
            0x0001_2345,
        ),
        (
            "CMDQ_CONS.RD=max",
            CmdqCons::new().with_rd(0xF_FFFF).into(),
            0x000F_FFFF,
        ),
        (
            "CMDQ_CONS.RD",
            CmdqCons::new().with_rd(0x8_0001).into(),
            0x0008_0001,
        ),
        (
            "CMDQ_CONS.ERR=max",
            CmdqCons::new().with_err(0x7F).into(),
            0x7F00_0000,
        ),
        (
            "CMDQ_CONS.ERR=ILL",
            CmdqCons::new().with_error(CommandError::Ill).into(),
            0x0100_0000,
        ),
        (
            "CMDQ_CONS.ERR=ABT",
            CmdqCons::new().with_error(CommandError::Abt).into(),
            0x0200_0000,
        ),
        (
            "CMDQ_CONS.ERR=ATC",
            CmdqCons::new().with_error(CommandError::AtcInvSync).into(),
            0x0300_0000,
        ),
        (
            "CMDQ_CONS.ERR=0x55",
            CmdqCons::new().with_error(CommandError::Other(0x55)).into(),
            0x5500_0000,
        ),
        (
            "EVENTQ_PROD.WR=max",
            EventqProd::new().with_wr(0xF_FFFF).into(),
            0x000F_FFFF,
        ),
        (
            "EVENTQ_PROD.WR",
            EventqProd::new().with_wr(0x4_0302).into(),
            0x0004_0302,
        ),
        (
            "EVENTQ_PROD.OVFLG",
            EventqProd::new().with_ovflg(true).into(),
            0x8000_0000,
        ),
        (
            "EVENTQ_CONS.RD=max",
            EventqCons::new().with_rd(0xF_FFFF).into(),
            0x000F_FFFF,
        ),
        (
            "EVENTQ_CONS.RD",
            EventqCons::new().with_rd(0xA_0005).into(),
            0x000A_0005,
        ),
        (
            "EVENTQ_CONS.OVACKFLG",
            EventqCons::new().with_ovackflg(true).into(),
            0x8000_0000,
        ),
    ]);
}

#[test]
fn queue_prod_cons_decode() {
    let c = CmdqCons::from(0x8100_0005);
    assert_eq!(c.rd(), 5);
    assert_eq!(c.err(), 1);
    assert_eq!(c.error(), CommandError::Ill);
    assert_eq!(u32::from(c), 0x8100_0005);
    assert_eq!(CmdqCons::from(0x0000_0000).error(), CommandError::None);
    assert_eq!(CmdqCons::from(0x0200_0000).error(), CommandError::Abt);
    assert_eq!(
        CmdqCons::from(0x0300_0000).error(),
        CommandError::AtcInvSync
    );
    assert_eq!(
        CmdqCons::from(0x7F00_0000).error(),
        CommandError::Other(0x7F)
    );
    // Reserved bits [23:20] and 31 are not part of RD or ERR.
    let c = CmdqCons::from(0x80F0_0000);
    assert_eq!((c.rd(), c.err()), (0, 0));
    let p = CmdqProd::from(0xFFF0_0000);
    assert_eq!(p.wr(), 0);
    assert_eq!(u32::from(p), 0xFFF0_0000);
    let p = EventqProd::from(0x8000_0013);
    assert!(p.ovflg());
    assert_eq!(p.wr(), 0x13);
    let c = EventqCons::from(0x7FF0_0000);
    assert_eq!((c.rd(), c.ovackflg()), (0, false));
}

#[test]
fn command_error_codes() {
    assert_eq!(CommandError::from_raw(0), CommandError::None);
    assert_eq!(CommandError::from_raw(1), CommandError::Ill);
    assert_eq!(CommandError::from_raw(2), CommandError::Abt);
    assert_eq!(CommandError::from_raw(3), CommandError::AtcInvSync);
    assert_eq!(CommandError::from_raw(4), CommandError::Other(4));
    assert_eq!(CommandError::from_raw(0xFF), CommandError::Other(0x7F));
    assert_eq!(CommandError::None.raw(), 0);
    assert_eq!(CommandError::Ill.raw(), 1);
    assert_eq!(CommandError::Abt.raw(), 2);
    assert_eq!(CommandError::AtcInvSync.raw(), 3);
    assert_eq!(CommandError::Other(0x80).raw(), 0);
}

// ---------------------------------------------------------------------------------------
// Queue index arithmetic (spec §6).

#[test]
fn queue_size_geometry() {
    let q = QueueSize::new(2);
    assert_eq!(
        (
            q.log2size(),
            q.entries(),
            q.index_mask(),
            q.wrap_bit(),
            q.pointer_mask()
        ),
        (2, 4, 3, 4, 7)
    );
    let q = QueueSize::new(0);
    assert_eq!(
        (q.entries(), q.index_mask(), q.wrap_bit(), q.pointer_mask()),
        (1, 0, 1, 1)
    );
    let q = QueueSize::new(19);
    assert_eq!(
        (q.entries(), q.index_mask(), q.wrap_bit(), q.pointer_mask()),
        (0x8_0000, 0x7_FFFF, 0x8_0000, 0xF_FFFF)
    );
    // Above 19 is capped at 19.
    assert_eq!(QueueSize::new(20), QueueSize::MAX);
    assert_eq!(QueueSize::new(31).log2size(), 19);
    assert_eq!(QueueSize::new(255).log2size(), 19);
    assert_eq!(QueueSize::effective(8, 5).log2size(), 5);
    assert_eq!(QueueSize::effective(5, 8).log2size(), 5);
    assert_eq!(QueueSize::effective(25, 31).log2size(), 19);
}

#[test]
fn queue_empty_full_n2() {
    let q = QueueSize::new(2);
    // (prod, cons, empty, full, used)
    let rows: &[(u32, u32, bool, bool, u32)] = &[
        (0b000, 0b000, true, false, 0),
        (0b100, 0b000, false, true, 4),
        (0b000, 0b100, false, true, 4),
        (0b111, 0b011, false, true, 4),
        (0b001, 0b101, false, true, 4),
        (0b110, 0b110, true, false, 0),
        (0b011, 0b000, false, false, 3),
        (0b001, 0b000, false, false, 1),
        (0b101, 0b011, false, false, 2),
        (0b001, 0b110, false, false, 3),
        // Bits above n+1 (RES0, OVFLG, ERR) are ignored.
        (0b1001, 0b001, true, false, 0),
        (0x8000_0002, 0x0000_0002, true, false, 0),
        (0x0100_0006, 0x0000_0002, false, true, 4),
    ];
    for &(prod, cons, empty, full, used) in rows {
        assert_eq!(q.is_empty(prod, cons), empty, "empty {prod:#b} {cons:#b}");
        assert_eq!(q.is_full(prod, cons), full, "full {prod:#b} {cons:#b}");
        assert_eq!(q.has_space(prod, cons), !full, "space {prod:#b} {cons:#b}");
        assert_eq!(q.used(prod, cons), used, "used {prod:#b} {cons:#b}");
        assert_eq!(q.free(prod, cons), 4 - used, "free {prod:#b} {cons:#b}");
    }
    // Index and wrap flag.
    assert_eq!((q.index(0b110), q.wrap(0b110)), (0b10, true));
    assert_eq!((q.index(0b011), q.wrap(0b011)), (0b11, false));
    // CONSTRAINED UNPREDICTABLE states (PROD behind CONS) report no free space.
    assert_eq!(q.free(0b000, 0b010), 0);
    assert_eq!(q.free(0b110, 0b001), 0);
}

#[test]
fn queue_increment_wraps_at_2_pow_n_plus_1() {
    let q = QueueSize::new(2);
    let seq: Vec<u32> = core::iter::successors(Some(0u32), |&p| Some(q.inc(p)))
        .take(10)
        .collect();
    assert_eq!(
        seq,
        [
            0b000, 0b001, 0b010, 0b011, 0b100, 0b101, 0b110, 0b111, 0b000, 0b001
        ]
    );
    assert_eq!(q.inc(0xFFFF_FFF3), 0b100);
    assert_eq!(q.advance(0b110, 3), 0b001);
    assert_eq!(q.advance(0b110, 8), 0b110);
    let q = QueueSize::new(0);
    assert_eq!((q.inc(0), q.inc(1)), (1, 0));
    assert!(q.is_empty(0, 0) && q.is_full(1, 0) && q.is_full(0, 1) && q.is_empty(1, 1));
    let q = QueueSize::new(19);
    assert_eq!(q.inc(0x7_FFFF), 0x8_0000);
    assert_eq!(q.inc(0xF_FFFF), 0x0_0000);
    assert!(q.is_full(0x8_0000, 0));
    assert!(q.is_full(0x8_1234, 0x1234));
    assert!(q.is_empty(0x8_1234, 0x8_1234));
}

#[test]
fn queue_register_pointer_helpers() {
    let q = QueueSize::new(2);
    assert_eq!(
        u32::from(CmdqProd::from(0x0000_0007).incremented(q)),
        0x0000_0000
    );
    assert_eq!(
        u32::from(CmdqProd::from(0x0000_0F01).incremented(q)),
        0x0000_0002
    );
    assert_eq!(
        u32::from(CmdqCons::from(0x0100_0003).incremented(q)),
        0x0100_0004
    );
    assert_eq!(
        u32::from(EventqCons::from(0x8000_0003).incremented(q)),
        0x8000_0004
    );
    assert_eq!(
        u32::from(EventqProd::from(0x8000_0006).advanced(q, 3)),
        0x8000_0001
    );
    let p = EventqProd::from(0x8000_0006);
    assert_eq!((p.index(q), p.wrap(q)), (2, true));
    let c = CmdqCons::from(0x0200_0005);
    assert_eq!((c.index(q), c.wrap(q)), (1, true));
    let q19 = QueueSize::new(19);
    assert_eq!(
        u32::from(CmdqProd::from(0x000F_FFFF).incremented(q19)),
        0x0000_0000
    );
    assert_eq!(
        u32::from(CmdqProd::from(0x0007_FFFF).incremented(q19)),
        0x0008_0000
    );
}

#[test]
fn event_queue_overflow() {
    let prod = EventqProd::from(0x8000_0002);
    let cons = EventqCons::from(0x0000_0002);
    assert!(prod.overflow_pending(cons));
    let acked = cons.with_overflow_acknowledged(prod);
    assert_eq!(u32::from(acked), 0x8000_0002);
    assert!(!prod.overflow_pending(acked));
    // OVFLG toggles back to 0 on the next overflow.
    let prod2 = EventqProd::from(0x0000_0002);
    assert!(prod2.overflow_pending(acked));
    assert_eq!(
        u32::from(acked.with_overflow_acknowledged(prod2)),
        0x0000_0002
    );
}

// ---------------------------------------------------------------------------------------
// Write guards (spec §1.6, Model rule).

fn guard(cr0: u32, cr0ack: u32, irq_ctrl: u32, idr0: u32, idr1: u32) -> WriteGuard {
    WriteGuard {
        cr0: Cr0::from_bits_retain(cr0),
        cr0ack: Cr0::from_bits_retain(cr0ack),
        irq_ctrl: IrqCtrl::from_bits_retain(irq_ctrl),
        idr0: Idr0::from(idr0),
        idr1: Idr1::from(idr1),
    }
}

const MSI: u32 = 0x0000_2000;
const TABLES_PRESET: u32 = 0x4000_0000;
const QUEUES_PRESET: u32 = 0x2000_0000;

#[test]
fn write_guard_all_clear() {
    let g = guard(0, 0, 0, MSI, 0);
    for reg in map::ALL_REGISTERS {
        assert_eq!(
            g.permits(*reg),
            reg.access == Access::ReadWrite,
            "{}",
            reg.name
        );
    }
    assert!(!g.permits_offset(0x000));
    assert!(!g.permits_offset(0x024));
    assert!(!g.permits_offset(0x060));
    assert!(g.permits_offset(0x038));
    assert!(g.permits_offset(0x2_0000));
}

#[test]
fn write_guard_smmuen() {
    for (cr0, ack) in [(0x1, 0x0), (0x0, 0x1), (0x1, 0x1)] {
        let g = guard(cr0, ack, 0, MSI, 0);
        for off in [0x080, 0x084, 0x088, 0x028, 0x02C] {
            assert!(!g.permits_offset(off), "{off:#x} with cr0={cr0} ack={ack}");
        }
        for off in [0x020, 0x044, 0x090, 0x098, 0x09C, 0x064, 0x050, 0x100AC] {
            assert!(g.permits_offset(off), "{off:#x} with cr0={cr0} ack={ack}");
        }
    }
    let g = guard(0, 0, 0, MSI, TABLES_PRESET);
    assert!(!g.permits(map::STRTAB_BASE) && !g.permits(map::STRTAB_BASE_CFG));
    assert!(g.permits(map::CR1) && g.permits(map::CR2) && g.permits(map::CMDQ_BASE));
}

#[test]
fn write_guard_queues() {
    // CMDQEN: CMDQ_BASE and CMDQ_CONS locked, CMDQ_PROD free.
    for (cr0, ack) in [(0x8, 0x0), (0x0, 0x8)] {
        let g = guard(cr0, ack, 0, MSI, 0);
        assert!(!g.permits_offset(0x090) && !g.permits_offset(0x094) && !g.permits_offset(0x09C));
        assert!(g.permits_offset(0x098) && g.permits_offset(0x0A0) && g.permits_offset(0x080));
    }
    // EVENTQEN: EVENTQ_BASE and EVENTQ_PROD (Page 1 and its Page 0 alias) locked.
    for (cr0, ack) in [(0x4, 0x0), (0x0, 0x4)] {
        let g = guard(cr0, ack, 0, MSI, 0);
        assert!(!g.permits_offset(0x0A0) && !g.permits_offset(0x100A8) && !g.permits_offset(0x0A8));
        assert!(g.permits_offset(0x100AC) && g.permits_offset(0x0AC) && g.permits_offset(0x090));
    }
    // PRIQEN (by symmetry with EVENTQ).
    for (cr0, ack) in [(0x2, 0x0), (0x0, 0x2)] {
        let g = guard(cr0, ack, 0, MSI, 0);
        assert!(!g.permits_offset(0x0C0) && !g.permits_offset(0x100C8) && !g.permits_offset(0x0C8));
        assert!(g.permits_offset(0x100CC) && g.permits_offset(0x0A0));
    }
    // QUEUES_PRESET: every queue base locked, pointers free.
    let g = guard(0, 0, 0, MSI, QUEUES_PRESET);
    assert!(
        !g.permits(map::CMDQ_BASE) && !g.permits(map::EVENTQ_BASE) && !g.permits(map::PRIQ_BASE)
    );
    assert!(
        g.permits(map::CMDQ_CONS) && g.permits(map::EVENTQ_PROD) && g.permits(map::STRTAB_BASE)
    );
}

#[test]
fn write_guard_irq_cfg() {
    let g = guard(0, 0, 0x1, MSI, 0);
    for off in [0x068, 0x06C, 0x070, 0x074] {
        assert!(!g.permits_offset(off), "{off:#x}");
    }
    assert!(g.permits_offset(0x0B0) && g.permits_offset(0x0D0) && g.permits_offset(0x050));
    let g = guard(0, 0, 0x4, MSI, 0);
    for off in [0x0B0, 0x0B4, 0x0B8, 0x0BC] {
        assert!(!g.permits_offset(off), "{off:#x}");
    }
    assert!(g.permits_offset(0x068) && g.permits_offset(0x0D8));
    let g = guard(0, 0, 0x2, MSI, 0);
    for off in [0x0D0, 0x0D4, 0x0D8, 0x0DC] {
        assert!(!g.permits_offset(off), "{off:#x}");
    }
    assert!(g.permits_offset(0x0B8));
    // Without MSI support the IRQ_CFG registers are not guarded.
    let g = guard(0, 0, 0x7, 0, 0);
    assert!(
        g.permits(map::GERROR_IRQ_CFG0)
            && g.permits(map::EVENTQ_IRQ_CFG2)
            && g.permits(map::PRIQ_IRQ_CFG1)
    );
}

#[test]
fn gbpa_update_rule() {
    let idle = Gbpa::from(0x0000_1000);
    let busy = Gbpa::from(0x8000_1000);
    assert!(gbpa_write_accepted(idle, Gbpa::from(0x8010_0000)));
    assert!(!gbpa_write_accepted(idle, Gbpa::from(0x0010_0000)));
    assert!(!gbpa_write_accepted(busy, Gbpa::from(0x8010_0000)));
}

// ---------------------------------------------------------------------------------------
// Capabilities (caps.rs).

#[test]
fn capabilities_emulator_defaults() {
    // Spec §7.2 defaults (stage 1 only), v3.1.
    let caps = Capabilities::from_raw(0x0D44_101A, 0x0273_0010, 0x0000_1404, 0x0000_0074, 0x1);
    assert_eq!(caps.version, ArchVersion::V3_1);
    assert!(caps.stage1 && !caps.stage2);
    assert_eq!(caps.ttf, Ttf::AArch64);
    assert!(caps.aarch64_tables() && !caps.aarch32_tables());
    assert!(caps.coherent && !caps.btm && !caps.msi && !caps.ats && !caps.pri && !caps.hyp);
    assert_eq!((caps.asid_bits, caps.vmid_bits), (16, 16));
    assert_eq!(caps.ttendian, TtEndian::Little);
    assert_eq!(caps.stall_model, StallModel::TerminateOnly);
    assert!(!caps.stalls_supported());
    assert_eq!(caps.term_model, TermModel::AbortOnly);
    assert!(caps.two_level_strtab && !caps.two_level_cd);
    assert_eq!((caps.sid_bits, caps.ssid_bits), (16, 0));
    assert_eq!(
        (
            caps.cmdq_max_log2size,
            caps.eventq_max_log2size,
            caps.priq_max_log2size
        ),
        (19, 19, 0)
    );
    assert_eq!(caps.queue_max_size(QueueKind::Cmdq).log2size(), 19);
    assert_eq!(caps.queue_max_log2size(QueueKind::Priq), 0);
    assert!(caps.ril && caps.had);
    assert_eq!(caps.bbml, Bbml::Level2);
    assert_eq!(caps.oas, AddressSize::Bits44);
    assert_eq!(caps.oas_bits(), 44);
    assert!(caps.gran4k && caps.gran16k && caps.gran64k && !caps.ds);
    assert_eq!(caps.vax, Vax::Va48);
    assert_eq!(
        caps,
        Capabilities::from_idrs(
            Idr0::from(0x0D44_101A),
            Idr1::from(0x0273_0010),
            Idr3::from(0x0000_1404),
            Idr5::from(0x0000_0074),
            Aidr::from(0x1),
        )
    );
}

#[test]
fn capabilities_all_ones_and_zero() {
    let caps = Capabilities::from_raw(!0, !0, !0, !0, !0);
    assert_eq!((caps.version.major_rev, caps.version.minor_rev), (0xF, 0xF));
    assert!(caps.stage1 && caps.stage2 && caps.hyp && caps.rme && caps.ecmdq && caps.aie);
    assert_eq!(caps.ttf, Ttf::Both);
    assert_eq!(caps.httu, Httu::AccessDirtyHaft);
    assert_eq!(caps.st_level, StLevel::Reserved3);
    assert!(!caps.two_level_strtab);
    assert_eq!(caps.stall_model, StallModel::Reserved3);
    assert!(!caps.stalls_supported());
    assert_eq!((caps.sid_bits, caps.sid_bits_clamped()), (63, 32));
    assert_eq!((caps.ssid_bits, caps.ssid_bits_clamped()), (31, 20));
    assert_eq!(caps.cmdq_max_log2size, 31);
    assert_eq!(caps.queue_max_size(QueueKind::Eventq).log2size(), 19);
    assert_eq!(caps.oas, AddressSize::Bits56);
    assert_eq!(caps.oas_bits(), 56);
    assert_eq!(caps.vax, Vax::Reserved3);
    assert_eq!(caps.vax.va_bits(), 48);
    assert_eq!(caps.stall_max, 0xFFFF);

    let caps = Capabilities::from_raw(0, 0, 0, 0, 0);
    assert_eq!(caps.version, ArchVersion::V3_0);
    assert!(!caps.stage1 && !caps.stage2 && !caps.coherent && !caps.two_level_strtab);
    assert_eq!(caps.ttf, Ttf::Reserved0);
    assert!(!caps.aarch32_tables() && !caps.aarch64_tables());
    assert_eq!((caps.asid_bits, caps.vmid_bits), (8, 8));
    assert_eq!(caps.oas_bits(), 32);
    assert!(caps.stalls_supported());
    assert_eq!(caps.queue_max_size(QueueKind::Cmdq).entries(), 1);
}

#[test]
fn capabilities_individual_bits() {
    // One IDR0 bit at a time reaches the right capability.
    let c = |idr0: u32| Capabilities::from_raw(idr0, 0, 0, 0, 0);
    assert!(c(0x0000_0020).btm);
    assert!(c(0x0000_0100).dormhint);
    assert!(c(0x0000_0800).ns1ats);
    assert!(c(0x0000_4000).sev);
    assert!(c(0x0000_8000).atos);
    assert!(c(0x0002_0000).vmw);
    assert!(c(0x0008_0000).two_level_cd);
    assert!(c(0x0010_0000).vatos);
    assert!(c(0x0080_0000).atsrecerr);
    assert!(c(0x4000_0000).rme);
    assert_eq!(c(0x0200_0000).stall_model, StallModel::StallForced);
    assert!(c(0x0200_0000).stalls_supported());
    // IDR1 bits.
    let c1 = |idr1: u32| Capabilities::from_raw(0, idr1, 0, 0, 0);
    assert!(c1(0x0400_0000).attr_perms_ovr);
    assert!(c1(0x0800_0000).attr_types_ovr);
    assert!(c1(0x1000_0000).rel);
    assert!(c1(0x2000_0000).queues_preset);
    assert!(c1(0x4000_0000).tables_preset);
    assert_eq!(c1(0x0000_9800).priq_max_log2size, 19);
    // IDR3 and IDR5 bits.
    let c3 = |idr3: u32| Capabilities::from_raw(0, 0, idr3, 0, 0);
    assert!(c3(0x0000_0008).pbha && c3(0x0000_0010).xnx && c3(0x0000_0020).pps);
    assert!(c3(0x0000_0080).mpam && c3(0x0000_0100).fwb && c3(0x0000_0200).stt);
    assert!(c3(0x0000_2000).e0pd && c3(0x0000_4000).ptwnnc && c3(0x0000_8000).dpt);
    assert!(c3(0x0001_0000).pasidtt && c3(0x0002_0000).epan && c3(0x0004_0000).s1pi);
    assert!(c3(0x0008_0000).s2pi && c3(0x0010_0000).s2po && c3(0x0020_0000).the);
    assert!(c3(0x0040_0000).mteperm);
    let c5 = |idr5: u32| Capabilities::from_raw(0, 0, 0, idr5, 0);
    assert!(c5(0x0000_0100).d128 && c5(0x0000_0080).ds);
    assert_eq!(c5(0x0000_0800).vax, Vax::Va56);
    assert_eq!(c5(0x0000_0006).oas_bits(), 52);
}
