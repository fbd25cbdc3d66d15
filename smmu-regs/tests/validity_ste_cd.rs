//! Validity rules: one test per rule of spec §2.3 (STE, C_BAD_STE) and §2.5 (CD,
//! C_BAD_CD). Each starts from an entry that is valid on the baseline SMMU and introduces
//! exactly one defect (in the entry or in the SMMU's capabilities).

use smmu_regs::cd::{Cd, CdCheckCaps, CdIllegal, CdStreamContext, Stage1CdConfig, Tg0, Tg1};
use smmu_regs::fields::{AddressSize, Granule};
use smmu_regs::ste::{
    Config, Eats, S1Dss, S1Fmt, S2Tg, Stage1Config, Stage2Config, Ste, SteCheckCaps, SteIllegal,
    StreamWorld, Strw,
};
use smmu_regs::{Asid, PhysAddr, Vmid};

// ---------------------------------------------------------------------------------------
// STE
// ---------------------------------------------------------------------------------------

/// A full-featured SMMUv3.2: both stages, ATS with split-stage, HYP, stall and
/// terminate, 20-bit SubstreamIDs, 2-level CD tables, 48-bit OAS, both table formats,
/// mixed endianness, full HTTU, 16-bit VMIDs, FWB, DPT, every granule.
fn caps() -> SteCheckCaps {
    SteCheckCaps {
        s1p: true,
        s2p: true,
        ats: true,
        ns1ats: false,
        hyp: true,
        stall_model: 0,
        ssid_bits: 20,
        cd2l: true,
        oas_bits: 48,
        ttf_aarch32: true,
        ttf_aarch64: true,
        ttendian: 0,
        httu: 3,
        vmid16: true,
        fwb: true,
        dpt: true,
        stt: false,
        gran4k: true,
        gran16k: true,
        gran64k: true,
        ds: false,
        version: 2,
    }
}

fn s1_cfg() -> Stage1Config {
    let mut s1 = Stage1Config::new(PhysAddr(0x2000_0000));
    s1.fmt = S1Fmt::TwoLevel4K;
    s1.cd_max = 8;
    s1.dss = S1Dss::Substream0;
    s1
}

/// 40-bit IPA (T0SZ 24), 4 KB granule, start level 1 (2 concatenated tables), 40-bit PS.
fn s2_cfg() -> Stage2Config {
    Stage2Config::new(
        Vmid(1),
        PhysAddr(0x1_0000_0000),
        24,
        1,
        Granule::Size4K,
        AddressSize::Bits40,
    )
}

fn s1() -> Ste {
    Ste::stage1(&s1_cfg()).unwrap()
}

fn s2() -> Ste {
    Ste::stage2(&s2_cfg()).unwrap()
}

/// VMSAv8-32 LPAE stage 2: T0SZ\[3:0\] = 0b1000 (−8) → 40-bit IPA, SL0 = 1 (level 1).
fn s2_aa32() -> Ste {
    s2().with_s2aa64(false).with_s2t0sz(8).unwrap()
}

fn nested() -> Ste {
    Ste::nested(&s1_cfg(), &s2_cfg()).unwrap()
}

#[track_caller]
fn ok(ste: Ste, caps: &SteCheckCaps) {
    assert_eq!(ste.check(caps), Ok(()), "{ste:?}");
}

#[track_caller]
fn bad(ste: Ste, caps: &SteCheckCaps, why: SteIllegal) {
    assert_eq!(ste.check(caps), Err(why), "{ste:?}");
}

#[test]
fn ste_baselines_are_valid() {
    let c = caps();
    for ste in [s1(), s2(), s2_aa32(), nested(), Ste::BYPASS, Ste::ABORT] {
        ok(ste, &c);
    }
}

#[test]
fn ste_rule1_v_zero() {
    let c = caps();
    bad(Ste::INVALID, &c, SteIllegal::NotValid);
    for ste in [s1(), s2(), nested(), Ste::BYPASS, Ste::ABORT] {
        bad(ste.with_v(false), &c, SteIllegal::NotValid);
    }
    bad(
        Ste::from_words([u64::MAX - 1; 8]),
        &SteCheckCaps::default(),
        SteIllegal::NotValid,
    );
    assert_eq!(SteIllegal::NotValid.rule(), 1);
}

#[test]
fn ste_rule1_config_0xx_is_not_illegal() {
    // V = 1, Config 0b000..0b011, and garbage everywhere else: never ILLEGAL, on any SMMU.
    for cfg in 0..4u8 {
        let ste = Ste::from_words([u64::MAX; 8]).with_config(Config::from_raw(cfg));
        assert!(ste.config().is_abort_like());
        ok(ste, &caps());
        ok(ste, &SteCheckCaps::default());
        let ste = Ste::from_words([0x5a5a_5a5a_5a5a_5a5a; 8])
            .with_v(true)
            .with_config(Config::from_raw(cfg));
        ok(ste, &caps());
        ok(ste, &SteCheckCaps::default());
    }
}

#[test]
fn ste_rule2_stage_not_implemented() {
    let mut c = caps();
    c.s1p = false;
    bad(s1(), &c, SteIllegal::Stage1NotImplemented);
    bad(nested(), &c, SteIllegal::Stage1NotImplemented);
    ok(s2(), &c);
    let mut c = caps();
    c.s2p = false;
    bad(s2(), &c, SteIllegal::Stage2NotImplemented);
    bad(nested(), &c, SteIllegal::Stage2NotImplemented);
    ok(s1(), &c);
    ok(Ste::BYPASS, &SteCheckCaps::default());
    assert_eq!(SteIllegal::Stage1NotImplemented.rule(), 2);
    assert_eq!(SteIllegal::Stage2NotImplemented.rule(), 2);
}

#[test]
fn ste_rule3_split_stage_ats() {
    let c = caps();
    bad(
        s1().with_eats(Eats::SplitStage),
        &c,
        SteIllegal::AtsSplitStage,
    );
    bad(
        s2().with_eats(Eats::SplitStage),
        &c,
        SteIllegal::AtsSplitStage,
    );
    ok(nested().with_eats(Eats::SplitStage), &c);
    bad(
        nested().with_eats(Eats::SplitStage).with_s2s(true),
        &c,
        SteIllegal::AtsSplitStage,
    );
    let mut no_split = caps();
    no_split.ns1ats = true;
    bad(
        nested().with_eats(Eats::SplitStage),
        &no_split,
        SteIllegal::AtsSplitStage,
    );
    // EATS is ignored without ATS, and for bypass (Config 0bx00).
    let mut no_ats = caps();
    no_ats.ats = false;
    ok(s1().with_eats(Eats::SplitStage), &no_ats);
    ok(Ste::BYPASS.with_eats(Eats::SplitStage), &c);
    assert_eq!(SteIllegal::AtsSplitStage.rule(), 3);
}

#[test]
fn ste_rule3_full_ats_with_stage2_stall() {
    let c = caps();
    ok(s2().with_s2s(true), &c);
    ok(s2().with_eats(Eats::Full), &c);
    bad(
        s2().with_eats(Eats::Full).with_s2s(true),
        &c,
        SteIllegal::AtsFullWithStage2Stall,
    );
    bad(
        nested().with_eats(Eats::Full).with_s2s(true),
        &c,
        SteIllegal::AtsFullWithStage2Stall,
    );
    // Stage 2 bypassed: S2S is not checked against EATS.
    ok(s1().with_eats(Eats::Full).with_s2s(true), &c);
    assert_eq!(SteIllegal::AtsFullWithStage2Stall.rule(), 3);
}

#[test]
fn ste_rule3_dpt_outside_el1() {
    let c = caps();
    ok(s1().with_eats(Eats::FullDpt), &c);
    ok(s1().with_strw(Strw::El2), &c);
    bad(
        s1().with_eats(Eats::FullDpt).with_strw(Strw::El2),
        &c,
        SteIllegal::AtsDptStreamWorld,
    );
    // Without DPT the encoding behaves as 0b00; without HYP STRW is unused; with stage 2
    // STRW is ignored.
    let mut no_dpt = caps();
    no_dpt.dpt = false;
    ok(s1().with_eats(Eats::FullDpt).with_strw(Strw::El2), &no_dpt);
    let mut no_hyp = caps();
    no_hyp.hyp = false;
    ok(s1().with_eats(Eats::FullDpt).with_strw(Strw::El2), &no_hyp);
    ok(nested().with_eats(Eats::FullDpt).with_strw(Strw::El2), &c);
    assert_eq!(SteIllegal::AtsDptStreamWorld.rule(), 3);
}

#[test]
fn ste_rule4_reserved_strw() {
    let c = caps();
    bad(
        s1().with_strw(Strw::El3),
        &c,
        SteIllegal::StreamWorldReserved,
    );
    bad(
        s1().with_strw(Strw::Reserved),
        &c,
        SteIllegal::StreamWorldReserved,
    );
    ok(s1().with_strw(Strw::El2), &c);
    // STRW unused: HYP = 0, or stage 2 enabled.
    let mut no_hyp = caps();
    no_hyp.hyp = false;
    ok(s1().with_strw(Strw::El3), &no_hyp);
    ok(s2().with_strw(Strw::Reserved), &c);
    ok(nested().with_strw(Strw::El3), &c);
    assert_eq!(SteIllegal::StreamWorldReserved.rule(), 4);
}

#[test]
fn ste_rule5_s1stalld() {
    let mut c = caps();
    ok(s1().with_s1stalld(true), &c);
    c.stall_model = 1;
    bad(
        s1().with_s1stalld(true),
        &c,
        SteIllegal::S1StallDisableNotAllowed,
    );
    c.stall_model = 2;
    bad(
        s1().with_s1stalld(true),
        &c,
        SteIllegal::S1StallDisableNotAllowed,
    );
    // Ignored when stage 1 is disabled.
    let mut c = caps();
    c.stall_model = 1;
    ok(s2().with_s1stalld(true), &c);
    assert_eq!(SteIllegal::S1StallDisableNotAllowed.rule(), 5);
}

#[test]
fn ste_rule5_s1cdmax() {
    let mut c = caps();
    c.ssid_bits = 8;
    ok(s1(), &c);
    c.ssid_bits = 7;
    bad(s1(), &c, SteIllegal::S1CdMaxTooLarge);
    // SSIDSIZE = 0: S1CDMax (and S1Fmt) ignored.
    c.ssid_bits = 0;
    c.cd2l = false;
    ok(s1().with_s1cdmax(31).unwrap(), &c);
    assert_eq!(SteIllegal::S1CdMaxTooLarge.rule(), 5);
}

#[test]
fn ste_rule5_s1fmt_without_cd2l() {
    let mut c = caps();
    c.cd2l = false;
    bad(s1(), &c, SteIllegal::S1FmtTwoLevelUnsupported);
    bad(
        s1().with_s1fmt(S1Fmt::TwoLevel64K),
        &c,
        SteIllegal::S1FmtTwoLevelUnsupported,
    );
    ok(s1().with_s1fmt(S1Fmt::Linear), &c);
    ok(s1().with_s1fmt(S1Fmt::Reserved), &c);
    // S1CDMax = 0: S1Fmt ignored.
    ok(s1().with_s1cdmax(0).unwrap(), &c);
    assert_eq!(SteIllegal::S1FmtTwoLevelUnsupported.rule(), 5);
}

#[test]
fn ste_rule5_s1contextptr_range() {
    let c = caps();
    ok(
        s1().with_s1_context_ptr(PhysAddr(0xffff_ffff_ffc0))
            .unwrap(),
        &c,
    );
    bad(
        s1().with_s1_context_ptr(PhysAddr(1 << 48)).unwrap(),
        &c,
        SteIllegal::S1ContextPtrOutOfRange,
    );
    // OAS 36 with AArch32 tables: IAS = 40. A PA must fit the OAS, an IPA the IAS.
    let mut small = caps();
    small.oas_bits = 36;
    bad(
        s1().with_s1_context_ptr(PhysAddr(1 << 38)).unwrap(),
        &small,
        SteIllegal::S1ContextPtrOutOfRange,
    );
    ok(
        nested().with_s1_context_ptr(PhysAddr(1 << 38)).unwrap(),
        &small,
    );
    bad(
        nested().with_s1_context_ptr(PhysAddr(1 << 40)).unwrap(),
        &small,
        SteIllegal::S1ContextPtrOutOfRange,
    );
    assert_eq!(SteIllegal::S1ContextPtrOutOfRange.rule(), 5);
}

#[test]
fn ste_rule6_fwb_with_aarch32() {
    let c = caps();
    ok(s2().with_s2fwb(true), &c);
    bad(s2_aa32().with_s2fwb(true), &c, SteIllegal::S2FwbWithAarch32);
    let mut no_fwb = caps();
    no_fwb.fwb = false;
    ok(s2_aa32().with_s2fwb(true), &no_fwb);
    assert_eq!(SteIllegal::S2FwbWithAarch32.rule(), 6);
}

#[test]
fn ste_rule6_s2s_and_stall_model() {
    let mut c = caps();
    c.stall_model = 1;
    ok(s2(), &c);
    bad(s2().with_s2s(true), &c, SteIllegal::S2StallModel);
    c.stall_model = 2;
    bad(s2(), &c, SteIllegal::S2StallModel);
    ok(s2().with_s2s(true), &c);
    // Stage 2 bypassed: S2S ignored.
    c.stall_model = 1;
    ok(s1().with_s2s(true), &c);
    assert_eq!(SteIllegal::S2StallModel.rule(), 6);
}

#[test]
fn ste_rule6_table_format() {
    let mut c = caps();
    c.ttf_aarch64 = false;
    bad(s2(), &c, SteIllegal::S2TableFormatUnsupported);
    ok(s2_aa32(), &c);
    let mut c = caps();
    c.ttf_aarch32 = false;
    bad(s2_aa32(), &c, SteIllegal::S2TableFormatUnsupported);
    ok(s2(), &c);
    assert_eq!(SteIllegal::S2TableFormatUnsupported.rule(), 6);
}

#[test]
fn ste_rule6_httu() {
    let mut c = caps();
    ok(s2().with_s2ha(true).with_s2hd(true).with_s2haft(true), &c);
    bad(s2().with_s2haft(true), &c, SteIllegal::S2HttuUnsupported);
    bad(s2_aa32().with_s2ha(true), &c, SteIllegal::S2HttuUnsupported);
    c.httu = 2;
    ok(s2().with_s2haft(true), &c); // S2HAFT is RES0 unless HTTU = 0b11
    c.httu = 1;
    ok(s2().with_s2ha(true), &c);
    bad(
        s2().with_s2ha(true).with_s2hd(true),
        &c,
        SteIllegal::S2HttuUnsupported,
    );
    c.httu = 0;
    bad(s2().with_s2ha(true), &c, SteIllegal::S2HttuUnsupported);
    bad(s2().with_s2hd(true), &c, SteIllegal::S2HttuUnsupported);
    assert_eq!(SteIllegal::S2HttuUnsupported.rule(), 6);
}

#[test]
fn ste_rule6_granule() {
    let c = caps();
    bad(
        s2().with_s2tg(S2Tg::Reserved),
        &c,
        SteIllegal::S2GranuleUnsupported,
    );
    let mut no4k = caps();
    no4k.gran4k = false;
    bad(s2(), &no4k, SteIllegal::S2GranuleUnsupported);
    // VMSAv8-32 LPAE always uses 4 KB; S2TG is RES0 and not checked.
    ok(s2_aa32(), &no4k);
    ok(s2_aa32().with_s2tg(S2Tg::Reserved), &c);
    assert_eq!(SteIllegal::S2GranuleUnsupported.rule(), 6);
}

#[test]
fn ste_rule6_s2ttb_range() {
    let c = caps();
    ok(s2().with_s2ttb(PhysAddr(0xff_ffff_f000)).unwrap(), &c);
    // Outside the effective S2PS (40 bits).
    bad(
        s2().with_s2ttb(PhysAddr(1 << 40)).unwrap(),
        &c,
        SteIllegal::S2TtbOutOfRange,
    );
    ok(
        s2().with_s2ps(AddressSize::Bits48)
            .with_s2ttb(PhysAddr(1 << 40))
            .unwrap(),
        &c,
    );
    // S2PS beyond the OAS is capped at the OAS.
    bad(
        s2().with_s2ps(AddressSize::Bits52)
            .with_s2ttb(PhysAddr(1 << 48))
            .unwrap(),
        &c,
        SteIllegal::S2TtbOutOfRange,
    );
    // 52-bit OAS: above 48 bits needs the 64 KB granule or DS.
    let mut c52 = caps();
    c52.oas_bits = 52;
    let big = s2()
        .with_s2ps(AddressSize::Bits52)
        .with_s2ttb(PhysAddr(1 << 48))
        .unwrap();
    bad(big, &c52, SteIllegal::S2TtbOutOfRange);
    bad(big.with_s2ds(true), &c52, SteIllegal::S2TtbOutOfRange); // IDR5.DS = 0
    let mut c52ds = c52;
    c52ds.ds = true;
    ok(big.with_s2ds(true), &c52ds);
    // 64 KB, start level 2 for the 40-bit IPA.
    ok(big.with_s2tg(S2Tg::Size64K), &c52);
    // SMMUv3.0: S2PS 52 is reserved and behaves as 48.
    let mut v30 = c52;
    v30.version = 0;
    bad(
        big.with_s2tg(S2Tg::Size64K),
        &v30,
        SteIllegal::S2TtbOutOfRange,
    );
    // VMSAv8-32 LPAE: 40-bit output whatever S2PS says.
    bad(
        s2_aa32()
            .with_s2ps(AddressSize::Bits48)
            .with_s2ttb(PhysAddr(1 << 40))
            .unwrap(),
        &c,
        SteIllegal::S2TtbOutOfRange,
    );
    assert_eq!(SteIllegal::S2TtbOutOfRange.rule(), 6);
}

#[test]
fn ste_rule6_s2t0sz_range() {
    let c = caps();
    // Start level 2 accepts T0SZ 30..=42 (22..34-bit IPA); the range rule caps it at 39.
    let l2 = s2().with_s2sl0(0).unwrap();
    ok(l2.with_s2t0sz(39).unwrap(), &c);
    bad(
        l2.with_s2t0sz(40).unwrap(),
        &c,
        SteIllegal::S2T0szOutOfRange,
    );
    let mut stt = caps();
    stt.stt = true;
    ok(l2.with_s2t0sz(40).unwrap(), &stt);
    // Minimum: 16 for 4 KB without DS (start level 0 accepts T0SZ 12..=24).
    let l0 = s2().with_s2sl0(2).unwrap();
    ok(l0.with_s2t0sz(16).unwrap(), &c);
    bad(
        l0.with_s2t0sz(15).unwrap(),
        &c,
        SteIllegal::S2T0szOutOfRange,
    );
    // Minimum: 64 − IAS. OAS 42 with AArch32 → IAS 42 → minimum 22.
    let mut c42 = caps();
    c42.oas_bits = 42;
    let l1 = s2().with_s2t0sz(22).unwrap();
    ok(l1, &c42);
    bad(
        l1.with_s2t0sz(21).unwrap(),
        &c42,
        SteIllegal::S2T0szOutOfRange,
    );
    // Not checked for VMSAv8-32 LPAE (every 4-bit value is valid).
    ok(s2_aa32().with_s2t0sz(0x38).unwrap(), &c);
    assert_eq!(SteIllegal::S2T0szOutOfRange.rule(), 6);
}

#[test]
fn ste_rule6_start_level_inconsistent() {
    let c = caps();
    // 40-bit IPA cannot start at level 2 (at most 16 concatenated tables: 34 bits).
    bad(
        s2().with_s2sl0(0).unwrap(),
        &c,
        SteIllegal::S2StartLevelInconsistent,
    );
    // ... but can start at level 0 on a 48-bit OAS.
    ok(s2().with_s2sl0(2).unwrap(), &c);
    // SL0 = 3 (level 3) needs IDR3.STT.
    bad(
        s2().with_s2sl0(3).unwrap(),
        &c,
        SteIllegal::S2StartLevelInconsistent,
    );
    // Level 0 with the 4 KB granule needs PAMax ≥ 44.
    let mut c42 = caps();
    c42.oas_bits = 42;
    bad(
        s2().with_s2sl0(2).unwrap(),
        &c42,
        SteIllegal::S2StartLevelInconsistent,
    );
    // VMSAv8-32 LPAE: SL0 0b1x reserved; level 2 holds at most a 34-bit IPA.
    bad(
        s2_aa32().with_s2sl0(2).unwrap(),
        &c,
        SteIllegal::S2StartLevelInconsistent,
    );
    bad(
        s2_aa32().with_s2sl0(0).unwrap(),
        &c,
        SteIllegal::S2StartLevelInconsistent,
    );
    assert_eq!(SteIllegal::S2StartLevelInconsistent.rule(), 6);
}

#[test]
fn ste_rule7_endianness() {
    let mut c = caps();
    ok(s2().with_s2endi(true), &c);
    c.ttendian = 2;
    ok(s2(), &c);
    bad(
        s2().with_s2endi(true),
        &c,
        SteIllegal::S2EndiannessUnsupported,
    );
    ok(s1().with_s2endi(true), &c); // stage 2 bypassed
    c.ttendian = 3;
    bad(s2(), &c, SteIllegal::S2EndiannessUnsupported);
    ok(s2().with_s2endi(true), &c);
    c.ttendian = 1;
    ok(s2().with_s2endi(true), &c);
    assert_eq!(SteIllegal::S2EndiannessUnsupported.rule(), 7);
}

#[test]
fn ste_rule8_vmid16() {
    let mut c = caps();
    c.vmid16 = false;
    ok(s2().with_s2vmid(Vmid(0xff)), &c);
    bad(s2().with_s2vmid(Vmid(0x100)), &c, SteIllegal::S2VmidTooWide);
    bad(s1().with_s2vmid(Vmid(0x100)), &c, SteIllegal::S2VmidTooWide);
    // S2VMID ignored: bypass, StreamWorld other than EL1, no stage 2.
    ok(Ste::BYPASS.with_s2vmid(Vmid(0xffff)), &c);
    ok(s1().with_strw(Strw::El2).with_s2vmid(Vmid(0x100)), &c);
    c.s2p = false;
    ok(s1().with_s2vmid(Vmid(0x100)), &c);
    assert_eq!(SteIllegal::S2VmidTooWide.rule(), 8);
}

#[test]
fn ste_rules_apply_in_order() {
    // V = 0 hides everything; stage 1 rules come before stage 2 rules.
    let mut c = caps();
    c.cd2l = false;
    c.ttendian = 2;
    let ste = nested().with_s2endi(true);
    bad(ste, &c, SteIllegal::S1FmtTwoLevelUnsupported);
    bad(ste.with_v(false), &c, SteIllegal::NotValid);
}

/// The consistent S2T0SZ range for each granule and start level, worked out from
/// "at least one bit resolved at the start level, at most 16 concatenated tables":
/// IPA bits n with `L·s + g + 1 ≤ n ≤ L·s + g + s + 4`.
#[test]
fn ste_start_level_tables() {
    let mut c = caps();
    c.stt = true;
    c.ds = true;
    c.oas_bits = 52;
    /// (granule, S2SL0_2, S2SL0, consistent T0SZ range).
    type Case = (S2Tg, bool, u8, Option<(u8, u8)>);
    let cases: &[Case] = &[
        (S2Tg::Size4K, false, 0, Some((30, 42))), // level 2: 22..=34 bits
        (S2Tg::Size4K, false, 1, Some((21, 33))), // level 1: 31..=43 bits
        (S2Tg::Size4K, false, 2, Some((12, 24))), // level 0: 40..=52 bits
        (S2Tg::Size4K, false, 3, Some((39, 51))), // level 3 (STT): 13..=25 bits
        (S2Tg::Size4K, true, 0, Some((3, 15))),   // level −1 (DS): 49..=61 bits
        (S2Tg::Size4K, true, 1, None),
        (S2Tg::Size16K, false, 0, Some((35, 49))), // level 3: 15..=29 bits
        (S2Tg::Size16K, false, 1, Some((24, 38))), // level 2: 26..=40 bits
        (S2Tg::Size16K, false, 2, Some((13, 27))), // level 1: 37..=51 bits
        (S2Tg::Size16K, false, 3, Some((2, 16))),  // level 0 (DS): 48..=62 bits
        (S2Tg::Size64K, false, 0, Some((31, 47))), // level 3: 17..=33 bits
        (S2Tg::Size64K, false, 1, Some((18, 34))), // level 2: 30..=46 bits
        (S2Tg::Size64K, false, 2, Some((5, 21))),  // level 1: 43..=59 bits
        (S2Tg::Size64K, false, 3, None),
    ];
    for &(tg, sl2, sl0, range) in cases {
        let base = s2()
            .with_s2tg(tg)
            .with_s2ds(true)
            .with_s2sl0_2(sl2)
            .with_s2sl0(sl0)
            .unwrap();
        for t0sz in 0..64u8 {
            let ste = base.with_s2t0sz(t0sz).unwrap();
            let expect = range.is_some_and(|(lo, hi)| (lo..=hi).contains(&t0sz));
            assert_eq!(
                ste.s2_walk_consistent(&c),
                expect,
                "{tg:?} SL2={sl2} SL0={sl0} T0SZ={t0sz}"
            );
        }
    }
    // The start level itself.
    let at = |tg: S2Tg, sl0: u8| s2().with_s2tg(tg).with_s2sl0(sl0).unwrap();
    assert_eq!(at(S2Tg::Size4K, 0).s2_start_level(&c), Some(2));
    assert_eq!(at(S2Tg::Size4K, 3).s2_start_level(&c), Some(3));
    assert_eq!(at(S2Tg::Size16K, 3).s2_start_level(&c), None); // S2DS = 0
    assert_eq!(
        at(S2Tg::Size16K, 3).with_s2ds(true).s2_start_level(&c),
        Some(0)
    );
    assert_eq!(
        at(S2Tg::Size4K, 0)
            .with_s2ds(true)
            .with_s2sl0_2(true)
            .s2_start_level(&c),
        Some(-1)
    );
    // S2SL0_2 is ignored without DS.
    assert_eq!(
        at(S2Tg::Size4K, 0).with_s2sl0_2(true).s2_start_level(&c),
        Some(2)
    );
    assert_eq!(at(S2Tg::Reserved, 0).s2_start_level(&c), None);
    let mut small = caps();
    small.oas_bits = 40;
    assert_eq!(at(S2Tg::Size4K, 2).s2_start_level(&small), None);
    assert_eq!(at(S2Tg::Size16K, 2).s2_start_level(&small), None);
    assert_eq!(at(S2Tg::Size64K, 2).s2_start_level(&small), None);
    assert_eq!(at(S2Tg::Size4K, 3).s2_start_level(&small), None); // no STT
    assert_eq!(s2_aa32().s2_start_level(&c), Some(1));
    assert_eq!(s2_aa32().s2_input_bits(), 40);
    assert_eq!(s2().s2_input_bits(), 40);
}

#[test]
fn ste_stream_world() {
    let el2 = s1().with_strw(Strw::El2);
    assert_eq!(el2.stream_world(true, true, false), StreamWorld::NsEl2);
    assert_eq!(el2.stream_world(true, true, true), StreamWorld::NsEl2E2h);
    assert_eq!(el2.stream_world(true, false, true), StreamWorld::NsEl1);
    assert_eq!(
        nested().with_strw(Strw::El2).stream_world(true, true, true),
        StreamWorld::NsEl1
    );
    assert_eq!(s1().stream_world(true, true, true), StreamWorld::NsEl1);
}

// ---------------------------------------------------------------------------------------
// CD
// ---------------------------------------------------------------------------------------

fn cd_caps() -> CdCheckCaps {
    CdCheckCaps {
        stall_model: 0,
        term_model: false,
        ttendian: 0,
        ttf_aarch32: true,
        ttf_aarch64: true,
        httu: 3,
        asid16: true,
        stt: false,
        gran4k: true,
        gran16k: true,
        gran64k: true,
        ds: false,
        vax: 0,
        oas_bits: 48,
        version: 2,
    }
}

const EL1: CdStreamContext = CdStreamContext {
    stream_world: StreamWorld::NsEl1,
    s1stalld: false,
    stage2_aarch32: false,
};

/// TTB0 only: 48-bit VA, 4 KB granule, 48-bit IPS.
fn cd() -> Cd {
    Cd::stage1(&Stage1CdConfig::new(
        Asid(5),
        PhysAddr(0x1_0000_0000),
        16,
        Granule::Size4K,
        AddressSize::Bits48,
        0x0044_ff04,
    ))
    .unwrap()
}

/// Both TTBs in use (TTB1 with a 4 KB granule, TG1 encoding 0b10).
fn cd2() -> Cd {
    cd().with_epd1(false)
        .with_t1sz(16)
        .unwrap()
        .with_tg1(Tg1::Size4K)
        .with_ttb1(PhysAddr(0x2_0000_0000))
        .unwrap()
}

#[track_caller]
fn cd_ok(cd: Cd, caps: &CdCheckCaps, ctx: &CdStreamContext) {
    assert_eq!(cd.check(caps, ctx), Ok(()), "{cd:?}");
}

#[track_caller]
fn cd_bad(cd: Cd, caps: &CdCheckCaps, ctx: &CdStreamContext, why: CdIllegal) {
    assert_eq!(cd.check(caps, ctx), Err(why), "{cd:?}");
}

#[test]
fn cd_baselines_are_valid() {
    let c = cd_caps();
    cd_ok(cd(), &c, &EL1);
    cd_ok(cd2(), &c, &EL1);
    cd_ok(cd().with_aa64(false), &c, &EL1);
    // The context comes from the STE.
    let ctx = CdStreamContext::from_ste(&s1(), true, false);
    assert_eq!(ctx, EL1);
    let ctx = CdStreamContext::from_ste(&s2_aa32(), true, false);
    assert!(ctx.stage2_aarch32);
}

#[test]
fn cd_rule_v_zero() {
    cd_bad(cd().with_v(false), &cd_caps(), &EL1, CdIllegal::NotValid);
    cd_bad(
        Cd::INVALID,
        &CdCheckCaps::default(),
        &EL1,
        CdIllegal::NotValid,
    );
}

#[test]
fn cd_rule_s1stalld_with_s() {
    let ctx = CdStreamContext {
        s1stalld: true,
        ..EL1
    };
    cd_ok(cd(), &cd_caps(), &ctx);
    cd_ok(cd().with_s(true), &cd_caps(), &EL1);
    cd_bad(
        cd().with_s(true),
        &cd_caps(),
        &ctx,
        CdIllegal::StallDisabledByStream,
    );
}

#[test]
fn cd_rule_term_model() {
    let mut c = cd_caps();
    cd_ok(cd().with_a(false), &c, &EL1);
    c.term_model = true;
    cd_ok(cd(), &c, &EL1);
    cd_bad(cd().with_a(false), &c, &EL1, CdIllegal::TermModel);
}

#[test]
fn cd_rule_stall_model() {
    let mut c = cd_caps();
    c.stall_model = 1;
    cd_ok(cd(), &c, &EL1);
    cd_bad(cd().with_s(true), &c, &EL1, CdIllegal::StallModel);
    c.stall_model = 2;
    cd_bad(cd(), &c, &EL1, CdIllegal::StallModel);
    cd_ok(cd().with_s(true), &c, &EL1);
}

#[test]
fn cd_rule_endianness() {
    let mut c = cd_caps();
    c.ttendian = 2;
    cd_bad(
        cd().with_endi(true),
        &c,
        &EL1,
        CdIllegal::EndiannessUnsupported,
    );
    // Ignored when no TTB is used ...
    cd_ok(cd().with_endi(true).with_epd0(true), &c, &EL1);
    // ... except in NS-EL2, where EPD0 is taken as 0.
    let el2 = CdStreamContext {
        stream_world: StreamWorld::NsEl2,
        ..EL1
    };
    cd_bad(
        cd().with_endi(true).with_epd0(true),
        &c,
        &el2,
        CdIllegal::EndiannessUnsupported,
    );
    c.ttendian = 3;
    cd_bad(cd(), &c, &EL1, CdIllegal::EndiannessUnsupported);
    cd_ok(cd().with_endi(true), &c, &EL1);
}

#[test]
fn cd_rule_aarch32() {
    let mut c = cd_caps();
    c.ttf_aarch32 = false;
    cd_bad(
        cd().with_aa64(false),
        &c,
        &EL1,
        CdIllegal::Aarch32Unsupported,
    );
    let e2h = CdStreamContext {
        stream_world: StreamWorld::NsEl2E2h,
        ..EL1
    };
    cd_bad(
        cd().with_aa64(false),
        &cd_caps(),
        &e2h,
        CdIllegal::Aarch32Unsupported,
    );
    cd_ok(cd(), &cd_caps(), &e2h);
}

#[test]
fn cd_rule_aarch64() {
    let mut c = cd_caps();
    c.ttf_aarch64 = false;
    cd_bad(cd(), &c, &EL1, CdIllegal::Aarch64Unsupported);
    let s2_32 = CdStreamContext {
        stage2_aarch32: true,
        ..EL1
    };
    cd_bad(cd(), &cd_caps(), &s2_32, CdIllegal::Aarch64Unsupported);
    cd_ok(cd().with_aa64(false), &cd_caps(), &s2_32);
}

#[test]
fn cd_rule_httu() {
    let mut c = cd_caps();
    cd_ok(cd().with_ha(true).with_hd(true).with_haft(true), &c, &EL1);
    cd_bad(cd().with_haft(true), &c, &EL1, CdIllegal::HttuUnsupported);
    c.httu = 1;
    cd_ok(cd().with_ha(true), &c, &EL1);
    cd_bad(
        cd().with_ha(true).with_hd(true),
        &c,
        &EL1,
        CdIllegal::HttuUnsupported,
    );
    c.httu = 0;
    cd_bad(cd().with_ha(true), &c, &EL1, CdIllegal::HttuUnsupported);
    cd_bad(cd().with_hd(true), &c, &EL1, CdIllegal::HttuUnsupported);
    // Ignored for VMSAv8-32 LPAE.
    cd_ok(cd().with_aa64(false).with_ha(true).with_hd(true), &c, &EL1);
}

#[test]
fn cd_rule_asid16() {
    let mut c = cd_caps();
    c.asid16 = false;
    cd_ok(cd().with_asid(Asid(0xff)), &c, &EL1);
    cd_bad(
        cd().with_asid(Asid(0x100)),
        &c,
        &EL1,
        CdIllegal::AsidTooWide,
    );
    // ASID is ignored in NS-EL2.
    let el2 = CdStreamContext {
        stream_world: StreamWorld::NsEl2,
        ..EL1
    };
    cd_ok(cd().with_asid(Asid(0x100)), &c, &el2);
}

#[test]
fn cd_rule_t0sz_range() {
    let mut c = cd_caps();
    cd_ok(cd().with_t0sz(39).unwrap(), &c, &EL1);
    cd_bad(
        cd().with_t0sz(40).unwrap(),
        &c,
        &EL1,
        CdIllegal::T0szOutOfRange,
    );
    cd_bad(
        cd().with_t0sz(15).unwrap(),
        &c,
        &EL1,
        CdIllegal::T0szOutOfRange,
    );
    // Ignored with EPD0 = 1, and for VMSAv8-32 LPAE.
    cd_ok(cd().with_t0sz(63).unwrap().with_epd0(true), &c, &EL1);
    cd_ok(cd().with_t0sz(63).unwrap().with_aa64(false), &c, &EL1);
    // STT: up to 48 (4 KB / 16 KB) or 47 (64 KB).
    c.stt = true;
    cd_ok(cd().with_t0sz(48).unwrap(), &c, &EL1);
    cd_bad(
        cd().with_t0sz(48).unwrap().with_tg0(Tg0::Size64K),
        &c,
        &EL1,
        CdIllegal::T0szOutOfRange,
    );
    // 52-bit VAs: 12 with the 64 KB granule or with DS.
    let mut vax = cd_caps();
    vax.vax = 1;
    cd_ok(
        cd().with_t0sz(12).unwrap().with_tg0(Tg0::Size64K),
        &vax,
        &EL1,
    );
    cd_bad(
        cd().with_t0sz(12).unwrap(),
        &vax,
        &EL1,
        CdIllegal::T0szOutOfRange,
    );
    cd_bad(
        cd().with_t0sz(12).unwrap().with_ds(true),
        &vax,
        &EL1,
        CdIllegal::T0szOutOfRange,
    ); // IDR5.DS = 0
    vax.ds = true;
    cd_ok(cd().with_t0sz(12).unwrap().with_ds(true), &vax, &EL1);
}

#[test]
fn cd_rule_t1sz_range() {
    let c = cd_caps();
    cd_bad(
        cd2().with_t1sz(40).unwrap(),
        &c,
        &EL1,
        CdIllegal::T1szOutOfRange,
    );
    cd_ok(cd2().with_t1sz(40).unwrap().with_epd1(true), &c, &EL1);
    // TTB1 does not exist in NS-EL2.
    let el2 = CdStreamContext {
        stream_world: StreamWorld::NsEl2,
        ..EL1
    };
    cd_ok(cd2().with_t1sz(0).unwrap(), &c, &el2);
}

#[test]
fn cd_rule_tg0() {
    let c = cd_caps();
    cd_bad(
        cd().with_tg0(Tg0::Reserved),
        &c,
        &EL1,
        CdIllegal::Tg0Unsupported,
    );
    let mut no4k = cd_caps();
    no4k.gran4k = false;
    cd_bad(cd(), &no4k, &EL1, CdIllegal::Tg0Unsupported);
    cd_ok(cd().with_tg0(Tg0::Size16K), &c, &EL1);
    cd_ok(cd().with_tg0(Tg0::Reserved).with_epd0(true), &c, &EL1);
    cd_ok(cd().with_tg0(Tg0::Reserved).with_aa64(false), &c, &EL1);
}

#[test]
fn cd_rule_ttb0_range() {
    let c = cd_caps();
    cd_ok(
        cd().with_ttb0(PhysAddr(0xffff_ffff_fff0)).unwrap(),
        &c,
        &EL1,
    );
    cd_bad(
        cd().with_ttb0(PhysAddr(1 << 48)).unwrap(),
        &c,
        &EL1,
        CdIllegal::Ttb0OutOfRange,
    );
    cd_bad(
        cd().with_ips(AddressSize::Bits40)
            .with_ttb0(PhysAddr(1 << 40))
            .unwrap(),
        &c,
        &EL1,
        CdIllegal::Ttb0OutOfRange,
    );
    // 52-bit: above 48 bits needs 64 KB or DS.
    let mut c52 = cd_caps();
    c52.oas_bits = 52;
    let big = cd()
        .with_ips(AddressSize::Bits52)
        .with_ttb0(PhysAddr(1 << 48))
        .unwrap();
    cd_bad(big, &c52, &EL1, CdIllegal::Ttb0OutOfRange);
    cd_ok(big.with_tg0(Tg0::Size64K), &c52, &EL1);
    let mut c52ds = c52;
    c52ds.ds = true;
    cd_ok(big.with_ds(true), &c52ds, &EL1);
    // VMSAv8-32 LPAE: 40 bits.
    cd_bad(
        cd().with_aa64(false).with_ttb0(PhysAddr(1 << 40)).unwrap(),
        &c,
        &EL1,
        CdIllegal::Ttb0OutOfRange,
    );
    cd_ok(
        cd().with_epd0(true).with_ttb0(PhysAddr(1 << 50)).unwrap(),
        &c,
        &EL1,
    );
}

#[test]
fn cd_rule_tg1() {
    let c = cd_caps();
    cd_bad(
        cd2().with_tg1(Tg1::Reserved),
        &c,
        &EL1,
        CdIllegal::Tg1Unsupported,
    );
    let mut no16k = cd_caps();
    no16k.gran16k = false;
    cd_bad(
        cd2().with_tg1(Tg1::Size16K),
        &no16k,
        &EL1,
        CdIllegal::Tg1Unsupported,
    );
    // EPD1 = 1 (as Cd::stage1 builds it): TG1 = 0b00 (reserved) is fine.
    assert_eq!(cd().tg1(), Tg1::Reserved);
    cd_ok(cd(), &c, &EL1);
}

#[test]
fn cd_rule_ttb1_range() {
    let c = cd_caps();
    cd_bad(
        cd2().with_ttb1(PhysAddr(1 << 48)).unwrap(),
        &c,
        &EL1,
        CdIllegal::Ttb1OutOfRange,
    );
    cd_ok(
        cd2().with_ttb1(PhysAddr(0xffff_ffff_fff0)).unwrap(),
        &c,
        &EL1,
    );
}

#[test]
fn cd_rules_apply_in_order() {
    let mut c = cd_caps();
    c.term_model = true;
    c.asid16 = false;
    let ugly = cd()
        .with_a(false)
        .with_asid(Asid(0xffff))
        .with_tg0(Tg0::Reserved);
    cd_bad(ugly, &c, &EL1, CdIllegal::TermModel);
    cd_bad(ugly.with_a(true), &c, &EL1, CdIllegal::AsidTooWide);
    cd_bad(
        ugly.with_a(true).with_asid(Asid(1)),
        &c,
        &EL1,
        CdIllegal::Tg0Unsupported,
    );
    cd_bad(ugly.with_v(false), &c, &EL1, CdIllegal::NotValid);
}
