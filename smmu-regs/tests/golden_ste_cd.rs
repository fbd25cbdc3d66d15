//! Golden tests for the STE, L1STD, CD and L1CD encodings.
//!
//! Every expected word below was written by hand from the bit tables of the spec
//! (spec/smmuv3.md §2.1, §2.4, §2.5, §2.6), as "value << bit position" worked out on paper:
//! none is computed with the code under test or with its `FieldPos` constants.

use smmu_regs::cd::{self, Cd, CdDw0, CdDw1, CdDw2, CdDw3, CdDw4, CdDw5, CdIndex, L1Cd, Tg0, Tg1};
use smmu_regs::fields::{AddressSize, Cacheability, FieldPos, Granule, Shareability};
use smmu_regs::l1std::{self, L1Std};
use smmu_regs::ste::{
    self, Config, DptVmatch, Eats, Instcfg, Nscfg, Privcfg, S1Dss, S1Fmt, S2Tg, Shcfg, Ste, SteDw0,
    SteDw1, SteDw2, SteDw3, SteDw4, SteDw5, SteDw6, SteDw7, Strw,
};
use smmu_regs::{Asid, Error, PhysAddr, SubstreamId, Vmid};

/// Eight words, all zero except word `i`.
fn only(i: usize, v: u64) -> [u64; 8] {
    let mut w = [0; 8];
    w[i] = v;
    w
}

/// Asserts that `built` encodes as `expected`, and that `expected` decodes back to an
/// entry equal to `built`.
#[track_caller]
fn enc_ste(built: Ste, expected: [u64; 8]) {
    assert_eq!(built.to_words(), expected, "encode {built:?}");
    assert_eq!(Ste::from_words(expected), built);
}

#[track_caller]
fn enc_cd(built: Cd, expected: [u64; 8]) {
    assert_eq!(built.to_words(), expected, "encode {built:?}");
    assert_eq!(Cd::from_words(expected), built);
}

const Z: Ste = Ste::INVALID;
const ZC: Cd = Cd::INVALID;

// ---------------------------------------------------------------------------------------
// STE: encode every field
// ---------------------------------------------------------------------------------------

#[test]
fn ste_dw0_fields_encode() {
    enc_ste(Z.with_v(true), only(0, 0x1));
    enc_ste(Z.with_config(Config::Nested), only(0, 0xe));
    enc_ste(Z.with_config(Config::S2Trans), only(0, 0xc));
    enc_ste(Z.with_config(Config::Bypass), only(0, 0x8));
    enc_ste(Z.with_config(Config::Reserved3), only(0, 0x6));
    enc_ste(Z.with_s1fmt(S1Fmt::TwoLevel64K), only(0, 0x20));
    enc_ste(Z.with_s1fmt(S1Fmt::Reserved), only(0, 0x30));
    enc_ste(
        Z.with_s1_context_ptr(PhysAddr(0x00ab_cdef_1234_5640))
            .unwrap(),
        only(0, 0x00ab_cdef_1234_5640),
    );
    enc_ste(
        Z.with_s1_context_ptr(PhysAddr(0x00ff_ffff_ffff_ffc0))
            .unwrap(),
        only(0, 0x00ff_ffff_ffff_ffc0),
    );
    enc_ste(
        Z.with_s1cdmax(0x15).unwrap(),
        only(0, 0xa800_0000_0000_0000),
    );
    enc_ste(
        Z.with_s1cdmax(0x1f).unwrap(),
        only(0, 0xf800_0000_0000_0000),
    );
}

#[test]
fn ste_dw1_fields_encode() {
    enc_ste(Z.with_s1dss(S1Dss::Substream0), only(1, 0x2));
    enc_ste(Z.with_s1cir(Cacheability::WriteThrough), only(1, 0x8));
    enc_ste(
        Z.with_s1cor(Cacheability::WriteBackNoAllocate),
        only(1, 0x30),
    );
    enc_ste(Z.with_s1csh(Shareability::Outer), only(1, 0x80));
    enc_ste(Z.with_s2hwu(0xa).unwrap(), only(1, 0xa00));
    enc_ste(Z.with_dre(true), only(1, 0x1000));
    enc_ste(Z.with_cont(0xb).unwrap(), only(1, 0x1_6000));
    enc_ste(Z.with_dcp(true), only(1, 0x2_0000));
    enc_ste(Z.with_ppar(true), only(1, 0x4_0000));
    enc_ste(Z.with_mev(true), only(1, 0x8_0000));
    enc_ste(Z.with_sw_reserved(0x9).unwrap(), only(1, 0x90_0000));
    enc_ste(Z.with_s1pie(true), only(1, 0x100_0000));
    enc_ste(Z.with_s2fwb(true), only(1, 0x200_0000));
    enc_ste(Z.with_s1mpam(true), only(1, 0x400_0000));
    enc_ste(Z.with_s1stalld(true), only(1, 0x800_0000));
    enc_ste(Z.with_eats(Eats::SplitStage), only(1, 0x2000_0000));
    enc_ste(Z.with_eats(Eats::Full), only(1, 0x1000_0000));
    enc_ste(Z.with_strw(Strw::El2), only(1, 0x8000_0000));
    enc_ste(Z.with_mem_attr(0xd).unwrap(), only(1, 0xd_0000_0000));
    enc_ste(Z.with_mtcfg(true), only(1, 0x10_0000_0000));
    enc_ste(Z.with_alloccfg(0xb).unwrap(), only(1, 0x160_0000_0000));
    enc_ste(Z.with_shcfg(Shcfg::Incoming), only(1, 0x1000_0000_0000));
    enc_ste(Z.with_nscfg(Nscfg::Secure), only(1, 0x8000_0000_0000));
    enc_ste(
        Z.with_privcfg(Privcfg::Privileged),
        only(1, 0x3_0000_0000_0000),
    );
    enc_ste(Z.with_instcfg(Instcfg::Data), only(1, 0x8_0000_0000_0000));
    enc_ste(
        Z.with_impdef_dw1(0xabc).unwrap(),
        only(1, 0xabc0_0000_0000_0000),
    );
}

#[test]
fn ste_dw2_fields_encode() {
    enc_ste(
        Z.with_s2vmid(Vmid(0xbeef)),
        [0, 0, 0x0000_0000_0000_beef, 0, 0, 0, 0, 0],
    );
    enc_ste(Z.with_impdef_dw2(0x1234), only(2, 0x1234_0000));
    enc_ste(Z.with_s2t0sz(0x2a).unwrap(), only(2, 0x2a_0000_0000));
    enc_ste(Z.with_s2sl0(2).unwrap(), only(2, 0x80_0000_0000));
    enc_ste(
        Z.with_s2ir0(Cacheability::WriteThrough),
        only(2, 0x200_0000_0000),
    );
    enc_ste(
        Z.with_s2or0(Cacheability::WriteBackNoAllocate),
        only(2, 0xc00_0000_0000),
    );
    enc_ste(Z.with_s2sh0(Shareability::Inner), only(2, 0x3000_0000_0000));
    enc_ste(Z.with_s2tg(S2Tg::Size16K), only(2, 0x8000_0000_0000));
    enc_ste(Z.with_s2tg(S2Tg::Size64K), only(2, 0x4000_0000_0000));
    enc_ste(
        Z.with_s2ps(AddressSize::Bits44),
        only(2, 0x4_0000_0000_0000),
    );
    enc_ste(Z.with_s2aa64(true), only(2, 0x8_0000_0000_0000));
    enc_ste(Z.with_s2endi(true), only(2, 0x10_0000_0000_0000));
    enc_ste(Z.with_s2affd(true), only(2, 0x20_0000_0000_0000));
    enc_ste(Z.with_s2ptw(true), only(2, 0x40_0000_0000_0000));
    enc_ste(Z.with_s2hd(true), only(2, 0x80_0000_0000_0000));
    enc_ste(Z.with_s2ha(true), only(2, 0x100_0000_0000_0000));
    enc_ste(Z.with_s2s(true), only(2, 0x200_0000_0000_0000));
    enc_ste(Z.with_s2r(true), only(2, 0x400_0000_0000_0000));
    enc_ste(Z.with_s2haft(true), only(2, 0x800_0000_0000_0000));
    enc_ste(Z.with_s2pie(true), only(2, 0x1000_0000_0000_0000));
    enc_ste(Z.with_s2poe(true), only(2, 0x2000_0000_0000_0000));
    enc_ste(
        Z.with_dpt_vmatch(DptVmatch::NoVmidMatch),
        only(2, 0x8000_0000_0000_0000),
    );
}

#[test]
fn ste_dw3_to_dw7_fields_encode() {
    enc_ste(Z.with_s2nsw(true), only(3, 0x1));
    enc_ste(Z.with_s2nsa(true), only(3, 0x2));
    enc_ste(Z.with_s2sl0_2(true), only(3, 0x4));
    enc_ste(Z.with_s2ds(true), only(3, 0x8));
    enc_ste(
        Z.with_s2ttb(PhysAddr(0x00fe_dcba_9876_5430)).unwrap(),
        only(3, 0x00fe_dcba_9876_5430),
    );
    enc_ste(Z.with_s2skl(3).unwrap(), only(3, 0x6000_0000_0000_0000));

    enc_ste(Z.with_impdef_dw4(0xcafe), only(4, 0xcafe));
    enc_ste(Z.with_partid(0x1234), only(4, 0x1234_0000));
    enc_ste(Z.with_s_s2t0sz(0x19).unwrap(), only(4, 0x19_0000_0000));
    enc_ste(Z.with_s_s2sl0(1).unwrap(), only(4, 0x40_0000_0000));
    enc_ste(Z.with_s_s2tg(S2Tg::Size64K), only(4, 0x4000_0000_0000));
    enc_ste(Z.with_mecid(0xf00d), only(4, 0xf00d_0000_0000_0000));

    enc_ste(Z.with_pmg(0x5a), only(5, 0x5a));
    enc_ste(Z.with_mpam_ns(true), only(5, 0x100));
    enc_ste(Z.with_assured_only(true), only(5, 0x200));
    enc_ste(Z.with_tl0(true), only(5, 0x400));
    enc_ste(Z.with_tl1(true), only(5, 0x800));
    enc_ste(
        Z.with_vms_ptr(PhysAddr(0x0012_3456_789a_b000)).unwrap(),
        only(5, 0x0012_3456_789a_b000),
    );

    enc_ste(Z.with_s2sw(true), only(6, 0x1));
    enc_ste(Z.with_s2sa(true), only(6, 0x2));
    enc_ste(Z.with_s_s2sl0_2(true), only(6, 0x4));
    enc_ste(
        Z.with_s_s2ttb(PhysAddr(0x0001_2345_6789_abc0)).unwrap(),
        only(6, 0x0001_2345_6789_abc0),
    );
    enc_ste(Z.with_s_s2skl(2).unwrap(), only(6, 0x4000_0000_0000_0000));

    enc_ste(Z.with_s2poi(0, 0x7).unwrap(), only(7, 0x7));
    enc_ste(Z.with_s2poi(3, 0xc).unwrap(), only(7, 0xc000));
    enc_ste(
        Z.with_s2poi(15, 0x9).unwrap(),
        only(7, 0x9000_0000_0000_0000),
    );
}

#[test]
fn ste_builders_reject_what_does_not_fit() {
    assert!(matches!(
        Z.with_s1cdmax(0x20),
        Err(Error::FieldOverflow {
            bits: 5,
            value: 0x20,
            ..
        })
    ));
    assert!(matches!(
        Z.with_s2t0sz(64),
        Err(Error::FieldOverflow { bits: 6, .. })
    ));
    assert!(matches!(
        Z.with_s2sl0(4),
        Err(Error::FieldOverflow { bits: 2, .. })
    ));
    assert!(matches!(
        Z.with_s1_context_ptr(PhysAddr(0x1020)),
        Err(Error::Misaligned { align: 64, .. })
    ));
    assert!(matches!(
        Z.with_s1_context_ptr(PhysAddr(0x0100_0000_0000_0000)),
        Err(Error::FieldOverflow { bits: 56, .. })
    ));
    assert!(matches!(
        Z.with_s2ttb(PhysAddr(0x1008)),
        Err(Error::Misaligned { align: 16, .. })
    ));
    assert!(matches!(
        Z.with_vms_ptr(PhysAddr(0x1800)),
        Err(Error::Misaligned { align: 4096, .. })
    ));
    assert!(matches!(
        Z.with_s2poi(16, 0),
        Err(Error::InvalidValue { value: 16, .. })
    ));
    assert!(Z.with_s2poi(1, 0x10).is_err());
    assert_eq!(Z.s2poi(16), None);
}

// ---------------------------------------------------------------------------------------
// STE: decode a hand-written entry
// ---------------------------------------------------------------------------------------

/// An STE with (almost) every field non-zero, written from the spec table:
///
/// dw0: S1CDMax 0x14 (bits 63:59 = 10100 → 0xa0..), S1ContextPtr 0x0012_3456_789a_bcc0,
///      S1Fmt 1, Config 0b111, V 1 → 0xa012_3456_789a_bcdf
/// dw1: IMPDEF 0x5a5, INSTCFG 3, PRIVCFG 2, NSCFG 1, SHCFG 3 (→ 0x5a5e_7), RES0 43:41 = 0,
///      ALLOCCFG 0b1010 (bits 40:37), MTCFG 1, MemAttr 0xf → bits 40:32 = 1_0101_1111 →
///      0x15f, STRW 2, EATS 1, S1STALLD 1, S1MPAM 0, S2FWB 1, S1PIE 0 → bits 31:24 = 0x9a,
///      SW_RESERVED 0x6, MEV 1, PPAR 0, DCP 1, CONT 0x5, DRE 1 → bits 23:12 = 0110_1010_1011
///      = 0x6ab, S2HWU 0x3, S1CSH 2, S1COR 1, S1CIR 3, S1DSS 1 → bits 11:0 = 0x39d
/// dw2: DPT_VMATCH 1, S2POE 0, S2PIE 1, S2HAFT 0, S2R 1, S2S 0, S2HA 1, S2HD 0 →
///      bits 63:55 = 0_1010_1010 → top byte 0x55 (bit 55 = 0); S2PTW 1, S2AFFD 0,
///      S2ENDI 1, S2AA64 1, S2PS 5 → bits 54:48 = 101_1101 = 0x5d; S2TG 2, S2SH0 3,
///      S2OR0 1, S2IR0 2 → bits 47:40 = 1011_0110 = 0xb6; S2SL0 1, S2T0SZ 0x19 → bits
///      39:32 = 0101_1001 = 0x59; IMPDEF 0x4321, S2VMID 0x8765
/// dw3: S2SKL 1 (bits 62:61 → 0x2000..), S2TTB 0x000f_edcb_a987_6540, S2DS 1, S2SL0_2 0,
///      S2NSA 1, S2NSW 0 → low nibble 0b1010
/// dw4: MECID 0x1357, S_S2TG 3 (bits 47:46 → 0xc000_0000_0000), S_S2SL0 2, S_S2T0SZ 0x21
///      → bits 39:32 = 1010_0001 = 0xa1; PARTID 0x2468, IMPDEF 0x9bdf
/// dw5: VMSPtr 0x00ab_cdef_0123_4000, TL1 1, TL0 0, AssuredOnly 1, MPAM_NS 0 → 0xa, PMG 0xc3
/// dw6: S_S2SKL 3, S_S2TTB 0x0000_0fed_cba9_8760, S_S2SL0_2 1, S2SA 0, S2SW 1 → 0b101
/// dw7: S2POI<p> = p for p = 0..15 → 0xfedc_ba98_7654_3210
const FULL_STE: [u64; 8] = [
    0xa012_3456_789a_bcdf,
    0x5a5e_715f_9a6a_b39d,
    0x555d_b659_4321_8765,
    0x200f_edcb_a987_654a,
    0x1357_c0a1_2468_9bdf,
    0x00ab_cdef_0123_4ac3,
    0x6000_0fed_cba9_8765,
    0xfedc_ba98_7654_3210,
];

#[test]
fn ste_decode_every_field() {
    let s = Ste::from_words(FULL_STE);
    assert!(s.v() && s.is_valid());
    assert_eq!(s.config(), Config::Nested);
    assert_eq!(s.s1fmt(), S1Fmt::TwoLevel4K);
    assert_eq!(s.s1_context_ptr(), PhysAddr(0x0012_3456_789a_bcc0));
    assert_eq!(s.s1cdmax(), 0x14);

    assert_eq!(s.s1dss(), S1Dss::Bypass);
    assert_eq!(s.s1cir(), Cacheability::WriteBackNoAllocate);
    assert_eq!(s.s1cor(), Cacheability::WriteBack);
    assert_eq!(s.s1csh(), Shareability::Outer);
    assert_eq!(s.s2hwu(), 0x3);
    assert!(s.dre());
    assert_eq!(s.cont(), 0x5);
    assert!(s.dcp());
    assert!(!s.ppar());
    assert!(s.mev());
    assert_eq!(s.sw_reserved(), 0x6);
    assert!(!s.s1pie());
    assert!(s.s2fwb());
    assert!(!s.s1mpam());
    assert!(s.s1stalld());
    assert_eq!(s.eats(), Eats::Full);
    assert_eq!(s.strw(), Strw::El2);
    assert_eq!(s.mem_attr(), 0xf);
    assert!(s.mtcfg());
    assert_eq!(s.alloccfg(), 0xa);
    assert_eq!(s.shcfg(), Shcfg::Inner);
    assert_eq!(s.nscfg(), Nscfg::Reserved);
    assert_eq!(s.privcfg(), Privcfg::Unprivileged);
    assert_eq!(s.instcfg(), Instcfg::Instruction);
    assert_eq!(s.impdef_dw1(), 0x5a5);

    assert_eq!(s.s2vmid(), Vmid(0x8765));
    assert_eq!(s.impdef_dw2(), 0x4321);
    assert_eq!(s.s2t0sz(), 0x19);
    assert_eq!(s.s2sl0(), 1);
    assert_eq!(s.s2ir0(), Cacheability::WriteThrough);
    assert_eq!(s.s2or0(), Cacheability::WriteBack);
    assert_eq!(s.s2sh0(), Shareability::Inner);
    assert_eq!(s.s2tg(), S2Tg::Size16K);
    assert_eq!(s.s2ps(), AddressSize::Bits48);
    assert!(s.s2aa64());
    assert!(s.s2endi());
    assert!(!s.s2affd());
    assert!(s.s2ptw());
    assert!(!s.s2hd());
    assert!(s.s2ha());
    assert!(!s.s2s());
    assert!(s.s2r());
    assert!(!s.s2haft());
    assert!(s.s2pie());
    assert!(!s.s2poe());
    assert_eq!(s.dpt_vmatch(), DptVmatch::VmidOrAc01Or10);

    assert!(!s.s2nsw());
    assert!(s.s2nsa());
    assert!(!s.s2sl0_2());
    assert!(s.s2ds());
    assert_eq!(s.s2ttb(), PhysAddr(0x000f_edcb_a987_6540));
    assert_eq!(s.s2skl(), 1);

    assert_eq!(s.impdef_dw4(), 0x9bdf);
    assert_eq!(s.partid(), 0x2468);
    assert_eq!(s.s_s2t0sz(), 0x21);
    assert_eq!(s.s_s2sl0(), 2);
    assert_eq!(s.s_s2tg(), S2Tg::Reserved);
    assert_eq!(s.mecid(), 0x1357);

    assert_eq!(s.pmg(), 0xc3);
    assert!(!s.mpam_ns());
    assert!(s.assured_only());
    assert!(!s.tl0());
    assert!(s.tl1());
    assert_eq!(s.vms_ptr(), PhysAddr(0x00ab_cdef_0123_4000));

    assert!(s.s2sw());
    assert!(!s.s2sa());
    assert!(s.s_s2sl0_2());
    assert_eq!(s.s_s2ttb(), PhysAddr(0x0000_0fed_cba9_8760));
    assert_eq!(s.s_s2skl(), 3);

    for p in 0..16 {
        assert_eq!(s.s2poi(p), Some(p as u8));
    }
    assert_eq!(s.to_words(), FULL_STE);
}

#[test]
fn ste_decode_through_typed_word_views() {
    let s = Ste::from_words(FULL_STE);
    let d0: SteDw0 = s.dw0();
    assert!(d0.v());
    assert_eq!(d0.config(), Config::Nested);
    assert_eq!(d0.s1fmt(), S1Fmt::TwoLevel4K);
    assert_eq!(d0.s1_context_ptr(), 0x0012_3456_789a_bcc0 >> 6);
    assert_eq!(d0.s1cdmax(), 0x14);

    let d1: SteDw1 = s.dw1();
    assert_eq!(d1.s1dss(), S1Dss::Bypass);
    assert_eq!(d1.s1cir(), Cacheability::WriteBackNoAllocate);
    assert_eq!(d1.s1cor(), Cacheability::WriteBack);
    assert_eq!(d1.s1csh(), Shareability::Outer);
    assert_eq!(d1.s2hwu(), 3);
    assert!(d1.dre());
    assert_eq!(d1.cont(), 5);
    assert!(d1.dcp() && !d1.ppar() && d1.mev());
    assert_eq!(d1.sw_reserved(), 6);
    assert!(!d1.s1pie() && d1.s2fwb() && !d1.s1mpam() && d1.s1stalld());
    assert_eq!(d1.eats(), Eats::Full);
    assert_eq!(d1.strw(), Strw::El2);
    assert_eq!(d1.mem_attr(), 0xf);
    assert!(d1.mtcfg());
    assert_eq!(d1.alloccfg(), 0xa);
    assert_eq!(d1.shcfg(), Shcfg::Inner);
    assert_eq!(d1.nscfg(), Nscfg::Reserved);
    assert_eq!(d1.privcfg(), Privcfg::Unprivileged);
    assert_eq!(d1.instcfg(), Instcfg::Instruction);
    assert_eq!(d1.impdef(), 0x5a5);

    let d2: SteDw2 = s.dw2();
    assert_eq!(d2.s2vmid(), 0x8765);
    assert_eq!(d2.impdef(), 0x4321);
    assert_eq!(d2.s2t0sz(), 0x19);
    assert_eq!(d2.s2sl0(), 1);
    assert_eq!(d2.s2ir0(), Cacheability::WriteThrough);
    assert_eq!(d2.s2or0(), Cacheability::WriteBack);
    assert_eq!(d2.s2sh0(), Shareability::Inner);
    assert_eq!(d2.s2tg(), S2Tg::Size16K);
    assert_eq!(d2.s2ps(), AddressSize::Bits48);
    assert!(d2.s2aa64() && d2.s2endi() && !d2.s2affd() && d2.s2ptw());
    assert!(!d2.s2hd() && d2.s2ha() && !d2.s2s() && d2.s2r());
    assert!(!d2.s2haft() && d2.s2pie() && !d2.s2poe());
    assert_eq!(d2.dpt_vmatch(), DptVmatch::VmidOrAc01Or10);

    let d3: SteDw3 = s.dw3();
    assert!(!d3.s2nsw() && d3.s2nsa() && !d3.s2sl0_2() && d3.s2ds());
    assert_eq!(d3.s2ttb(), 0x000f_edcb_a987_6540 >> 4);
    assert_eq!(d3.s2skl(), 1);

    let d4: SteDw4 = s.dw4();
    assert_eq!(d4.impdef(), 0x9bdf);
    assert_eq!(d4.partid(), 0x2468);
    assert_eq!(d4.s_s2t0sz(), 0x21);
    assert_eq!(d4.s_s2sl0(), 2);
    assert_eq!(d4.s_s2tg(), S2Tg::Reserved);
    assert_eq!(d4.mecid(), 0x1357);

    let d5: SteDw5 = s.dw5();
    assert_eq!(d5.pmg(), 0xc3);
    assert!(!d5.mpam_ns() && d5.assured_only() && !d5.tl0() && d5.tl1());
    assert_eq!(d5.vms_ptr(), 0x00ab_cdef_0123_4000 >> 12);

    let d6: SteDw6 = s.dw6();
    assert!(d6.s2sw() && !d6.s2sa() && d6.s_s2sl0_2());
    assert_eq!(d6.s_s2ttb(), 0x0000_0fed_cba9_8760 >> 4);
    assert_eq!(d6.s_s2skl(), 3);

    let d7: SteDw7 = s.dw7();
    let poi = [
        d7.s2poi0(),
        d7.s2poi1(),
        d7.s2poi2(),
        d7.s2poi3(),
        d7.s2poi4(),
        d7.s2poi5(),
        d7.s2poi6(),
        d7.s2poi7(),
        d7.s2poi8(),
        d7.s2poi9(),
        d7.s2poi10(),
        d7.s2poi11(),
        d7.s2poi12(),
        d7.s2poi13(),
        d7.s2poi14(),
        d7.s2poi15(),
    ];
    assert_eq!(poi, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

    // The views write back every bit, reserved ones included.
    let all_ones = Ste::from_words([u64::MAX; 8]);
    let rebuilt = Ste::INVALID
        .with_dw0(all_ones.dw0())
        .with_dw1(all_ones.dw1())
        .with_dw2(all_ones.dw2())
        .with_dw3(all_ones.dw3())
        .with_dw4(all_ones.dw4())
        .with_dw5(all_ones.dw5())
        .with_dw6(all_ones.dw6())
        .with_dw7(all_ones.dw7());
    assert_eq!(rebuilt, all_ones);
}

#[test]
fn ste_typed_views_encode() {
    assert_eq!(
        u64::from(SteDw0::new().with_s1cdmax(0x15)),
        0xa800_0000_0000_0000
    );
    assert_eq!(u64::from(SteDw0::new().with_config(Config::S1Trans)), 0xa);
    assert_eq!(u64::from(SteDw1::new().with_strw(Strw::El2)), 0x8000_0000);
    assert_eq!(
        u64::from(SteDw1::new().with_shcfg(Shcfg::Incoming)),
        0x1000_0000_0000
    );
    assert_eq!(u64::from(SteDw2::new().with_s2vmid(0xbeef)), 0xbeef);
    assert_eq!(
        u64::from(SteDw2::new().with_s2ps(AddressSize::Bits44)),
        0x4_0000_0000_0000
    );
    assert_eq!(u64::from(SteDw3::new().with_s2ttb(0x1234)), 0x1_2340);
    assert_eq!(
        u64::from(SteDw4::new().with_mecid(0xf00d)),
        0xf00d_0000_0000_0000
    );
    assert_eq!(u64::from(SteDw5::new().with_tl1(true)), 0x800);
    assert_eq!(
        u64::from(SteDw6::new().with_s_s2skl(2)),
        0x4000_0000_0000_0000
    );
    assert_eq!(
        u64::from(SteDw7::new().with_s2poi15(9)),
        0x9000_0000_0000_0000
    );
}

#[test]
fn ste_common_entries() {
    assert_eq!(Ste::INVALID.to_words(), [0; 8]);
    assert_eq!(Ste::ABORT.to_words(), only(0, 0x1));
    // V = 1, Config = 0b100 → dw0 = 0b1001; SHCFG = 0b01 at dw1[45:44].
    assert_eq!(
        Ste::BYPASS.to_words(),
        [0x9, 0x1000_0000_0000, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(Ste::default(), Ste::INVALID);
}

#[test]
fn ste_stage1_constructor() {
    // A 2-level CD table with 4 KB leaves, 256 CDs (S1CDMax 8 → 4 L1CDs, 32 bytes),
    // S1DSS = SSID0, ATS, EL1, write-back inner-shareable CD fetches.
    let mut s1 = ste::Stage1Config::new(PhysAddr(0x8_1234_5680));
    s1.fmt = S1Fmt::TwoLevel4K;
    s1.cd_max = 8;
    s1.dss = S1Dss::Substream0;
    s1.eats = Eats::Full;
    let s = Ste::stage1(&s1).unwrap();
    // dw0: S1CDMax 8 → 0b01000 << 59 = 0x4000.., ptr, S1Fmt 1 → 0x10, Config 0b101 → 0xa, V
    // dw1: EATS 1 → 0x1000_0000, S1CSH 3 → 0xc0, S1COR 1 → 0x10, S1CIR 1 → 0x4, S1DSS 2
    assert_eq!(
        s.to_words(),
        [0x4000_0008_1234_569b, 0x1000_00d6, 0, 0, 0, 0, 0, 0]
    );

    // SHCFG is written only with S1DSS = bypass.
    s1.dss = S1Dss::Bypass;
    let s = Ste::stage1(&s1).unwrap();
    assert_eq!(s.to_words()[1], 0x1000_1000_00d5);

    let mut bad = s1;
    bad.context_ptr = PhysAddr(0x8_1234_5690);
    assert!(matches!(
        Ste::stage1(&bad),
        Err(Error::Misaligned { align: 64, .. })
    ));
    let mut bad = s1;
    bad.cd_max = 21;
    assert!(matches!(
        Ste::stage1(&bad),
        Err(Error::InvalidValue { value: 21, .. })
    ));
    let mut bad = s1;
    bad.fmt = S1Fmt::Reserved;
    assert!(matches!(Ste::stage1(&bad), Err(Error::InvalidValue { .. })));
    let mut bad = s1;
    bad.strw = Strw::El3;
    assert!(matches!(Ste::stage1(&bad), Err(Error::InvalidValue { .. })));
    let mut bad = s1;
    bad.dss = S1Dss::Reserved;
    assert!(matches!(Ste::stage1(&bad), Err(Error::InvalidValue { .. })));
    let mut bad = s1;
    bad.context_ptr = PhysAddr(1 << 56);
    assert!(matches!(
        Ste::stage1(&bad),
        Err(Error::FieldOverflow { bits: 56, .. })
    ));
    // A linear table of 2^10 CDs is 64 KB and must be 64 KB aligned.
    let mut lin = ste::Stage1Config::new(PhysAddr(0x1_0000));
    lin.cd_max = 10;
    assert!(Ste::stage1(&lin).is_ok());
    lin.context_ptr = PhysAddr(0x1_8000);
    assert!(matches!(
        Ste::stage1(&lin),
        Err(Error::Misaligned {
            align: 0x1_0000,
            ..
        })
    ));
}

#[test]
fn ste_stage2_and_nested_constructors() {
    let s2 = ste::Stage2Config::new(
        Vmid(0x42),
        PhysAddr(0x40_0000_1000),
        24,
        1,
        Granule::Size4K,
        AddressSize::Bits40,
    );
    let s = Ste::stage2(&s2).unwrap();
    // dw0: V, Config 0b110 → 0xd. dw1: SHCFG incoming → 0x1000_0000_0000.
    // dw2: S2R bit 58, S2PTW bit 54, S2AA64 bit 51 → 0x0448.., S2PS 2 → bits 50:48 = 010,
    //      so bits 51:48 = 1010 → 0x044a..; S2TG 0, S2SH0 3 → bits 47:44 = 0011,
    //      S2OR0 1, S2IR0 1 → bits 43:40 = 0101; S2SL0 1, S2T0SZ 24 → bits 39:32 =
    //      0101_1000 = 0x58; S2VMID 0x42.
    // dw3: S2TTB in place.
    assert_eq!(
        s.to_words(),
        [
            0xd,
            0x1000_0000_0000,
            0x044a_3558_0000_0042,
            0x40_0000_1000,
            0,
            0,
            0,
            0
        ]
    );

    let mut bad = s2;
    bad.ttb = PhysAddr(0x40_0000_1004);
    assert!(matches!(
        Ste::stage2(&bad),
        Err(Error::Misaligned { align: 16, .. })
    ));
    let mut bad = s2;
    bad.t0sz = 64;
    assert!(matches!(
        Ste::stage2(&bad),
        Err(Error::FieldOverflow { .. })
    ));
    let mut bad = s2;
    bad.sl0 = 4;
    assert!(matches!(
        Ste::stage2(&bad),
        Err(Error::FieldOverflow { .. })
    ));

    let mut s1 = ste::Stage1Config::new(PhysAddr(0x1000));
    s1.dss = S1Dss::Bypass;
    let n = Ste::nested(&s1, &s2).unwrap();
    // dw0: Config 0b111 | V → 0xf, ptr 0x1000. dw1: CD fetch attributes 0xd5, SHCFG from s2.
    assert_eq!(
        n.to_words(),
        [
            0x100f,
            0x1000_0000_00d5,
            0x044a_3558_0000_0042,
            0x40_0000_1000,
            0,
            0,
            0,
            0
        ]
    );
    let mut s1_ats = s1;
    s1_ats.eats = Eats::Full;
    assert!(matches!(
        Ste::nested(&s1_ats, &s2),
        Err(Error::InvalidValue {
            field: "STE.EATS",
            ..
        })
    ));
    let mut s1_mev = s1;
    s1_mev.mev = true;
    assert!(matches!(
        Ste::nested(&s1_mev, &s2),
        Err(Error::InvalidValue {
            field: "STE.MEV",
            ..
        })
    ));
}

#[test]
fn ste_raw_word_access_is_total() {
    let s = Ste::from_words(FULL_STE);
    assert_eq!(s.word(0), Some(0xa012_3456_789a_bcdf));
    assert_eq!(s.word(7), Some(0xfedc_ba98_7654_3210));
    assert_eq!(s.word(8), None);
    assert_eq!(s.word(usize::MAX), None);
    assert_eq!(s.with_word(8, 1), None);
    assert_eq!(
        s.with_word(3, 0).unwrap().to_words()[3],
        0,
        "with_word replaces the word"
    );
    assert_eq!(s.words(), &FULL_STE);
    // Little-endian bytes: dw0's least significant byte first.
    let bytes = s.to_le_bytes();
    assert_eq!(bytes[0], 0xdf);
    assert_eq!(bytes[7], 0xa0);
    assert_eq!(bytes[8], 0x9d);
    assert_eq!(bytes[63], 0xfe);
    assert_eq!(Ste::from_le_bytes(bytes), s);
    // A field position outside the entry reads 0 and writes nothing.
    let outside = FieldPos::new(8, 0, 64);
    assert_eq!(s.field(outside), 0);
    assert_eq!(s.with_field(outside, u64::MAX), s);
}

// ---------------------------------------------------------------------------------------
// STE: the FieldPos table against hand-written masks
// ---------------------------------------------------------------------------------------

#[test]
fn ste_field_positions() {
    use ste::field as f;
    let table: &[(FieldPos, usize, u64)] = &[
        (f::V, 0, 0x0000_0000_0000_0001),
        (f::CONFIG, 0, 0x0000_0000_0000_000e),
        (f::S1FMT, 0, 0x0000_0000_0000_0030),
        (f::S1_CONTEXT_PTR, 0, 0x00ff_ffff_ffff_ffc0),
        (f::S1CDMAX, 0, 0xf800_0000_0000_0000),
        (f::S1DSS, 1, 0x0000_0000_0000_0003),
        (f::S1CIR, 1, 0x0000_0000_0000_000c),
        (f::S1COR, 1, 0x0000_0000_0000_0030),
        (f::S1CSH, 1, 0x0000_0000_0000_00c0),
        (f::S2HWU, 1, 0x0000_0000_0000_0f00),
        (f::DRE, 1, 0x0000_0000_0000_1000),
        (f::CONT, 1, 0x0000_0000_0001_e000),
        (f::DCP, 1, 0x0000_0000_0002_0000),
        (f::PPAR, 1, 0x0000_0000_0004_0000),
        (f::MEV, 1, 0x0000_0000_0008_0000),
        (f::SW_RESERVED, 1, 0x0000_0000_00f0_0000),
        (f::S1PIE, 1, 0x0000_0000_0100_0000),
        (f::S2FWB, 1, 0x0000_0000_0200_0000),
        (f::S1MPAM, 1, 0x0000_0000_0400_0000),
        (f::S1STALLD, 1, 0x0000_0000_0800_0000),
        (f::EATS, 1, 0x0000_0000_3000_0000),
        (f::STRW, 1, 0x0000_0000_c000_0000),
        (f::MEM_ATTR, 1, 0x0000_000f_0000_0000),
        (f::MTCFG, 1, 0x0000_0010_0000_0000),
        (f::ALLOCCFG, 1, 0x0000_01e0_0000_0000),
        (f::SHCFG, 1, 0x0000_3000_0000_0000),
        (f::NSCFG, 1, 0x0000_c000_0000_0000),
        (f::PRIVCFG, 1, 0x0003_0000_0000_0000),
        (f::INSTCFG, 1, 0x000c_0000_0000_0000),
        (f::IMPDEF_DW1, 1, 0xfff0_0000_0000_0000),
        (f::S2VMID, 2, 0x0000_0000_0000_ffff),
        (f::IMPDEF_DW2, 2, 0x0000_0000_ffff_0000),
        (f::S2T0SZ, 2, 0x0000_003f_0000_0000),
        (f::S2SL0, 2, 0x0000_00c0_0000_0000),
        (f::S2IR0, 2, 0x0000_0300_0000_0000),
        (f::S2OR0, 2, 0x0000_0c00_0000_0000),
        (f::S2SH0, 2, 0x0000_3000_0000_0000),
        (f::S2TG, 2, 0x0000_c000_0000_0000),
        (f::S2PS, 2, 0x0007_0000_0000_0000),
        (f::S2AA64, 2, 0x0008_0000_0000_0000),
        (f::S2ENDI, 2, 0x0010_0000_0000_0000),
        (f::S2AFFD, 2, 0x0020_0000_0000_0000),
        (f::S2PTW, 2, 0x0040_0000_0000_0000),
        (f::S2HD, 2, 0x0080_0000_0000_0000),
        (f::S2HA, 2, 0x0100_0000_0000_0000),
        (f::S2S, 2, 0x0200_0000_0000_0000),
        (f::S2R, 2, 0x0400_0000_0000_0000),
        (f::S2HAFT, 2, 0x0800_0000_0000_0000),
        (f::S2PIE, 2, 0x1000_0000_0000_0000),
        (f::S2POE, 2, 0x2000_0000_0000_0000),
        (f::DPT_VMATCH, 2, 0xc000_0000_0000_0000),
        (f::VTCR, 2, 0x0007_ffff_0000_0000),
        (f::S2NSW, 3, 0x0000_0000_0000_0001),
        (f::S2NSA, 3, 0x0000_0000_0000_0002),
        (f::S2SL0_2, 3, 0x0000_0000_0000_0004),
        (f::S2DS, 3, 0x0000_0000_0000_0008),
        (f::S2TTB, 3, 0x00ff_ffff_ffff_fff0),
        (f::S2SKL, 3, 0x6000_0000_0000_0000),
        (f::IMPDEF_DW4, 4, 0x0000_0000_0000_ffff),
        (f::PARTID, 4, 0x0000_0000_ffff_0000),
        (f::S_S2T0SZ, 4, 0x0000_003f_0000_0000),
        (f::S_S2SL0, 4, 0x0000_00c0_0000_0000),
        (f::S_S2TG, 4, 0x0000_c000_0000_0000),
        (f::MECID, 4, 0xffff_0000_0000_0000),
        (f::PMG, 5, 0x0000_0000_0000_00ff),
        (f::MPAM_NS, 5, 0x0000_0000_0000_0100),
        (f::ASSURED_ONLY, 5, 0x0000_0000_0000_0200),
        (f::TL0, 5, 0x0000_0000_0000_0400),
        (f::TL1, 5, 0x0000_0000_0000_0800),
        (f::VMS_PTR, 5, 0x00ff_ffff_ffff_f000),
        (f::S2SW, 6, 0x0000_0000_0000_0001),
        (f::S2SA, 6, 0x0000_0000_0000_0002),
        (f::S_S2SL0_2, 6, 0x0000_0000_0000_0004),
        (f::S_S2TTB, 6, 0x00ff_ffff_ffff_fff0),
        (f::S_S2SKL, 6, 0x6000_0000_0000_0000),
        (f::S2POI[0], 7, 0x0000_0000_0000_000f),
        (f::S2POI[1], 7, 0x0000_0000_0000_00f0),
        (f::S2POI[2], 7, 0x0000_0000_0000_0f00),
        (f::S2POI[3], 7, 0x0000_0000_0000_f000),
        (f::S2POI[4], 7, 0x0000_0000_000f_0000),
        (f::S2POI[5], 7, 0x0000_0000_00f0_0000),
        (f::S2POI[6], 7, 0x0000_0000_0f00_0000),
        (f::S2POI[7], 7, 0x0000_0000_f000_0000),
        (f::S2POI[8], 7, 0x0000_000f_0000_0000),
        (f::S2POI[9], 7, 0x0000_00f0_0000_0000),
        (f::S2POI[10], 7, 0x0000_0f00_0000_0000),
        (f::S2POI[11], 7, 0x0000_f000_0000_0000),
        (f::S2POI[12], 7, 0x000f_0000_0000_0000),
        (f::S2POI[13], 7, 0x00f0_0000_0000_0000),
        (f::S2POI[14], 7, 0x0f00_0000_0000_0000),
        (f::S2POI[15], 7, 0xf000_0000_0000_0000),
    ];
    for (i, (pos, word, mask)) in table.iter().enumerate() {
        assert_eq!(pos.word, *word, "entry {i}: word of {pos:?}");
        assert_eq!(pos.mask(), *mask, "entry {i}: mask of {pos:?}");
    }
    // The table above lists every field (74 named fields and the 16 S2POI<p>) plus the
    // VTCR group; `field::ALL` has exactly the fields.
    assert_eq!(table.len(), 74 + 16 + 1);
    assert_eq!(f::ALL.len(), 74 + 16);
    // Reserved bits, from the RES0 rows of spec §2.1.
    assert_eq!(
        ste::RES0,
        [
            0x0700_0000_0000_0000,
            0x0000_0e00_0000_0000,
            0,
            0x9f00_0000_0000_0000,
            0x0000_3f00_0000_0000,
            0xff00_0000_0000_0000,
            0x9f00_0000_0000_0008,
            0,
        ]
    );
}

// ---------------------------------------------------------------------------------------
// L1STD
// ---------------------------------------------------------------------------------------

#[test]
fn l1std_encode_decode() {
    // Span 9 (256 STEs, 16 KB) at 0x8_0000_4000: L2Ptr in place, Span in [4:0].
    let d = L1Std::new(PhysAddr(0x8_0000_4000), 9).unwrap();
    assert_eq!(d.raw(), 0x0000_0008_0000_4009);
    assert_eq!(d.span(), 9);
    assert_eq!(d.effective_span(), Some(9));
    assert_eq!(d.l2ptr(), PhysAddr(0x8_0000_4000));
    assert_eq!(d.entries(), 256);

    let d = L1Std::INVALID.with_span(0x1f).unwrap();
    assert_eq!(d.raw(), 0x1f);
    let d = L1Std::INVALID
        .with_l2ptr(PhysAddr(0x00ff_ffff_ffff_ffc0))
        .unwrap();
    assert_eq!(d.raw(), 0x00ff_ffff_ffff_ffc0);
    assert_eq!(L1Std::new(PhysAddr(0x40), 1).unwrap().raw(), 0x41);
    assert_eq!(L1Std::new(PhysAddr(0x1_0000), 11).unwrap().raw(), 0x1_000b);

    // Decode with reserved bits set: bit 5 and [63:56] are ignored by the getters.
    let d = L1Std::from_raw(0xff12_3456_789a_bce9);
    assert_eq!(d.span(), 9);
    assert_eq!(d.l2ptr(), PhysAddr(0x0012_3456_789a_bcc0));

    assert_eq!(l1std::field::SPAN.mask(), 0x1f);
    assert_eq!(l1std::field::L2PTR.mask(), 0x00ff_ffff_ffff_ffc0);
    assert_eq!(l1std::RES0, 0xff00_0000_0000_0020);
}

#[test]
fn l1std_span_and_l2_alignment() {
    // Span n → 2^(n−1) STEs.
    let expected = [0u32, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
    for span in 0..=11u8 {
        let d = L1Std::from_raw(0x1000_0000 | span as u64);
        assert_eq!(d.entries(), expected[span as usize], "span {span}");
    }
    for span in [0u8, 12, 13, 20, 31] {
        let d = L1Std::from_raw(0x1234_5fc0 | span as u64);
        assert_eq!(d.effective_span(), None, "span {span}");
        assert!(!d.is_valid());
        assert_eq!(d.entries(), 0);
        assert_eq!(d.l2_table_addr(), None);
        assert_eq!(d.ste_addr(0), None);
    }
    // L2Ptr[5+(Span−1):0] treated as zero:
    // Span 1 → 64-byte array, nothing masked.
    assert_eq!(
        L1Std::from_raw(0x1234_5fc1).l2_table_addr(),
        Some(PhysAddr(0x1234_5fc0))
    );
    // Span 9 → 16 KB array, address bits [13:0] masked.
    assert_eq!(
        L1Std::from_raw(0x1234_5fc9).l2_table_addr(),
        Some(PhysAddr(0x1234_4000))
    );
    // Span 11 → 64 KB array, address bits [15:0] masked.
    assert_eq!(
        L1Std::from_raw(0x1234_5fcb).l2_table_addr(),
        Some(PhysAddr(0x1234_0000))
    );
    let d = L1Std::from_raw(0x1234_5fc9);
    assert_eq!(d.ste_addr(0), Some(PhysAddr(0x1234_4000)));
    assert_eq!(d.ste_addr(255), Some(PhysAddr(0x1234_7fc0)));
    assert_eq!(d.ste_addr(256), None);
    assert_eq!(d.ste_addr(u32::MAX), None);

    assert!(matches!(
        L1Std::new(PhysAddr(0x2000), 9),
        Err(Error::Misaligned { align: 0x4000, .. })
    ));
    assert!(matches!(
        L1Std::new(PhysAddr(0x4000), 0),
        Err(Error::InvalidValue { value: 0, .. })
    ));
    assert!(matches!(
        L1Std::new(PhysAddr(0x4000), 12),
        Err(Error::InvalidValue { value: 12, .. })
    ));
    assert!(matches!(
        L1Std::new(PhysAddr(0x0100_0000_0000_0000), 9),
        Err(Error::FieldOverflow { bits: 56, .. })
    ));
    assert!(L1Std::INVALID.with_span(32).is_err());
    assert!(L1Std::INVALID.with_l2ptr(PhysAddr(0x20)).is_err());
}

// ---------------------------------------------------------------------------------------
// CD: encode every field
// ---------------------------------------------------------------------------------------

#[test]
fn cd_dw0_fields_encode() {
    enc_cd(ZC.with_t0sz(0x19).unwrap(), only(0, 0x19));
    enc_cd(ZC.with_tg0(Tg0::Size16K), only(0, 0x80));
    enc_cd(ZC.with_tg0(Tg0::Size64K), only(0, 0x40));
    enc_cd(ZC.with_ir0(Cacheability::WriteThrough), only(0, 0x200));
    enc_cd(
        ZC.with_or0(Cacheability::WriteBackNoAllocate),
        only(0, 0xc00),
    );
    enc_cd(ZC.with_sh0(Shareability::Outer), only(0, 0x2000));
    enc_cd(ZC.with_epd0(true), only(0, 0x4000));
    enc_cd(ZC.with_endi(true), only(0, 0x8000));
    enc_cd(ZC.with_t1sz(0x2b).unwrap(), only(0, 0x2b_0000));
    enc_cd(ZC.with_tg1(Tg1::Size4K), only(0, 0x80_0000));
    enc_cd(ZC.with_tg1(Tg1::Size16K), only(0, 0x40_0000));
    enc_cd(ZC.with_ir1(Cacheability::WriteBack), only(0, 0x100_0000));
    enc_cd(ZC.with_or1(Cacheability::WriteThrough), only(0, 0x800_0000));
    enc_cd(ZC.with_sh1(Shareability::Inner), only(0, 0x3000_0000));
    enc_cd(ZC.with_epd1(true), only(0, 0x4000_0000));
    enc_cd(ZC.with_v(true), only(0, 0x8000_0000));
    enc_cd(ZC.with_ips(AddressSize::Bits52), only(0, 0x6_0000_0000));
    enc_cd(ZC.with_affd(true), only(0, 0x8_0000_0000));
    enc_cd(ZC.with_wxn(true), only(0, 0x10_0000_0000));
    enc_cd(ZC.with_uwxn(true), only(0, 0x20_0000_0000));
    enc_cd(ZC.with_tbi0(true), only(0, 0x40_0000_0000));
    enc_cd(ZC.with_tbi1(true), only(0, 0x80_0000_0000));
    enc_cd(ZC.with_pan(true), only(0, 0x100_0000_0000));
    enc_cd(ZC.with_aa64(true), only(0, 0x200_0000_0000));
    enc_cd(ZC.with_hd(true), only(0, 0x400_0000_0000));
    enc_cd(ZC.with_ha(true), only(0, 0x800_0000_0000));
    enc_cd(ZC.with_s(true), only(0, 0x1000_0000_0000));
    enc_cd(ZC.with_r(true), only(0, 0x2000_0000_0000));
    enc_cd(ZC.with_a(true), only(0, 0x4000_0000_0000));
    enc_cd(ZC.with_aset(true), only(0, 0x8000_0000_0000));
    enc_cd(ZC.with_asid(Asid(0xa5c3)), only(0, 0xa5c3_0000_0000_0000));
}

#[test]
fn cd_dw1_to_dw7_fields_encode() {
    enc_cd(ZC.with_nscfg0(true), only(1, 0x1));
    enc_cd(ZC.with_had0(true), only(1, 0x2));
    enc_cd(ZC.with_e0pd0(true), only(1, 0x4));
    enc_cd(ZC.with_haft(true), only(1, 0x8));
    enc_cd(
        ZC.with_ttb0(PhysAddr(0x0000_1234_5678_9ab0)).unwrap(),
        only(1, 0x0000_1234_5678_9ab0),
    );
    enc_cd(ZC.with_pnch(true), only(1, 0x0400_0000_0000_0000));
    enc_cd(ZC.with_epan(true), only(1, 0x0800_0000_0000_0000));
    enc_cd(ZC.with_hwu0(0x5).unwrap(), only(1, 0x5000_0000_0000_0000));

    enc_cd(ZC.with_nscfg1(true), only(2, 0x1));
    enc_cd(ZC.with_had1(true), only(2, 0x2));
    enc_cd(ZC.with_e0pd1(true), only(2, 0x4));
    enc_cd(ZC.with_aie(true), only(2, 0x8));
    enc_cd(
        ZC.with_ttb1(PhysAddr(0x00ff_ffff_ffff_fff0)).unwrap(),
        only(2, 0x00ff_ffff_ffff_fff0),
    );
    enc_cd(ZC.with_ds(true), only(2, 0x0400_0000_0000_0000));
    enc_cd(ZC.with_pie(true), only(2, 0x0800_0000_0000_0000));
    enc_cd(ZC.with_hwu1(0xa).unwrap(), only(2, 0xa000_0000_0000_0000));

    enc_cd(ZC.with_mair0(0x0044_ff04), only(3, 0x0044_ff04));
    enc_cd(ZC.with_mair1(0xdead_beef), only(3, 0xdead_beef_0000_0000));
    enc_cd(
        ZC.with_mair(0x1122_3344_5566_7788),
        only(3, 0x1122_3344_5566_7788),
    );
    enc_cd(ZC.with_amair0(0x1357_9bdf), only(4, 0x1357_9bdf));
    enc_cd(ZC.with_amair1(0x2468_ace0), only(4, 0x2468_ace0_0000_0000));
    enc_cd(ZC.with_impdef(0x8765_4321), only(5, 0x8765_4321));
    enc_cd(ZC.with_partid(0x0abc), only(5, 0x0abc_0000_0000));
    enc_cd(ZC.with_pmg(0x7e), only(5, 0x7e_0000_0000_0000));
    enc_cd(
        ZC.with_piiu(0x0000_7777_0000_1234).unwrap(),
        only(6, 0x0000_7777_0000_1234),
    );
    enc_cd(
        ZC.with_piip(0x0000_fedc_ba98_7654).unwrap(),
        only(7, 0x0000_fedc_ba98_7654),
    );

    assert!(matches!(
        ZC.with_t0sz(64),
        Err(Error::FieldOverflow { bits: 6, .. })
    ));
    assert!(matches!(
        ZC.with_ttb0(PhysAddr(0x1238)),
        Err(Error::Misaligned { align: 16, .. })
    ));
    assert!(matches!(
        ZC.with_ttb1(PhysAddr(0x0100_0000_0000_0000)),
        Err(Error::FieldOverflow { bits: 56, .. })
    ));
    assert!(matches!(
        ZC.with_piiu(0x0001_0000_0000_0000),
        Err(Error::FieldOverflow { bits: 48, .. })
    ));
}

/// A CD with every field non-zero, written from the spec table:
///
/// dw0: ASID 0x9c41; ASET 1, A 0, R 1, S 0 → bits 47:44 = 1010; HA 1, HD 0, AA64 1,
///      PAN 0 → bits 43:40 = 1010; TBI1 1, TBI0 0, UWXN 1, WXN 0 → bits 39:36 = 1010;
///      AFFD 1, IPS 5 → bits 35:32 = 1101; V 1, EPD1 0, SH1 2 (bits 29:28), OR1 3,
///      IR1 1, TG1 1 (16 KB), T1SZ 0x1c → bits 31:16 = 1010_1101_0101_1100 = 0xad5c;
///      ENDI 1, EPD0 0, SH0 3, OR0 2, IR0 1, TG0 2 (16 KB), T0SZ 0x11 → bits 15:0 =
///      1011_1001_1001_0001 = 0xb991
/// dw1: HWU0 0xc, EPAN 0, PnCH 1, RES0 57:56, TTB0 0x000a_bcde_f012_3450, HAFT 1, E0PD0 0,
///      HAD0 1, NSCFG0 0 → low nibble 0xa
/// dw2: HWU1 0x3, PIE 1, DS 0, TTB1 0x0012_3456_789a_bcd0, AIE 0, E0PD1 1, HAD1 0,
///      NSCFG1 1 → low nibble 0x5
/// dw3: MAIR 0x0000_00ff_0044_0400; dw4: AMAIR 0x0102_0304_0506_0708
/// dw5: PMG 0x81, PARTID 0x7fff, IMPDEF 0xfeed_face
/// dw6: PIIU 0x0000_1111_2222_3333; dw7: PIIP 0x0000_4444_5555_6666
const FULL_CD: [u64; 8] = [
    0x9c41_aaad_ad5c_b991,
    0xc40a_bcde_f012_345a,
    0x3812_3456_789a_bcd5,
    0x0000_00ff_0044_0400,
    0x0102_0304_0506_0708,
    0x0081_7fff_feed_face,
    0x0000_1111_2222_3333,
    0x0000_4444_5555_6666,
];

#[test]
fn cd_decode_every_field() {
    let c = Cd::from_words(FULL_CD);
    assert_eq!(c.t0sz(), 0x11);
    assert_eq!(c.tg0(), Tg0::Size16K);
    assert_eq!(c.tg0().granule(), Some(Granule::Size16K));
    assert_eq!(c.ir0(), Cacheability::WriteBack);
    assert_eq!(c.or0(), Cacheability::WriteThrough);
    assert_eq!(c.sh0(), Shareability::Inner);
    assert!(!c.epd0());
    assert!(c.endi());
    assert_eq!(c.t1sz(), 0x1c);
    assert_eq!(c.tg1(), Tg1::Size16K);
    assert_eq!(c.tg1().granule(), Some(Granule::Size16K));
    assert_eq!(c.ir1(), Cacheability::WriteBack);
    assert_eq!(c.or1(), Cacheability::WriteBackNoAllocate);
    assert_eq!(c.sh1(), Shareability::Outer);
    assert!(!c.epd1());
    assert!(c.v() && c.is_valid());
    assert_eq!(c.ips(), AddressSize::Bits48);
    assert!(c.affd());
    assert!(!c.wxn());
    assert!(c.uwxn());
    assert!(!c.tbi0());
    assert!(c.tbi1());
    assert!(!c.pan());
    assert!(c.aa64());
    assert!(!c.hd());
    assert!(c.ha());
    assert!(!c.s());
    assert!(c.r());
    assert!(!c.a());
    assert!(c.aset());
    assert_eq!(c.asid(), Asid(0x9c41));

    assert!(!c.nscfg0());
    assert!(c.had0());
    assert!(!c.e0pd0());
    assert!(c.haft());
    assert_eq!(c.ttb0(), PhysAddr(0x000a_bcde_f012_3450));
    assert!(c.pnch());
    assert!(!c.epan());
    assert_eq!(c.hwu0(), 0xc);

    assert!(c.nscfg1());
    assert!(!c.had1());
    assert!(c.e0pd1());
    assert!(!c.aie());
    assert_eq!(c.ttb1(), PhysAddr(0x0012_3456_789a_bcd0));
    assert!(!c.ds());
    assert!(c.pie());
    assert_eq!(c.hwu1(), 0x3);

    assert_eq!(c.mair(), 0x0000_00ff_0044_0400);
    assert_eq!(c.mair0(), 0x0044_0400);
    assert_eq!(c.mair1(), 0x0000_00ff);
    assert_eq!(c.amair0(), 0x0506_0708);
    assert_eq!(c.amair1(), 0x0102_0304);
    assert_eq!(c.impdef(), 0xfeed_face);
    assert_eq!(c.partid(), 0x7fff);
    assert_eq!(c.pmg(), 0x81);
    assert_eq!(c.piiu(), 0x0000_1111_2222_3333);
    assert_eq!(c.piip(), 0x0000_4444_5555_6666);
    // PIIU<p> = bits [3p+2:3p]: 0x3333 = 0b011_001_100_110_011 → PIIU0 = 3, PIIU1 = 6.
    assert_eq!(c.piiu_entry(0), Some(3));
    assert_eq!(c.piiu_entry(1), Some(6));

    let d0: CdDw0 = c.dw0();
    assert_eq!(d0.t0sz(), 0x11);
    assert_eq!(d0.tg0(), Tg0::Size16K);
    assert_eq!(d0.ir0(), Cacheability::WriteBack);
    assert_eq!(d0.or0(), Cacheability::WriteThrough);
    assert_eq!(d0.sh0(), Shareability::Inner);
    assert!(!d0.epd0() && d0.endi());
    assert_eq!(d0.t1sz(), 0x1c);
    assert_eq!(d0.tg1(), Tg1::Size16K);
    assert_eq!(d0.ir1(), Cacheability::WriteBack);
    assert_eq!(d0.or1(), Cacheability::WriteBackNoAllocate);
    assert_eq!(d0.sh1(), Shareability::Outer);
    assert!(!d0.epd1() && d0.v());
    assert_eq!(d0.ips(), AddressSize::Bits48);
    assert!(d0.affd() && !d0.wxn() && d0.uwxn() && !d0.tbi0() && d0.tbi1() && !d0.pan());
    assert!(d0.aa64() && !d0.hd() && d0.ha() && !d0.s() && d0.r() && !d0.a() && d0.aset());
    assert_eq!(d0.asid(), 0x9c41);
    let d1: CdDw1 = c.dw1();
    assert!(!d1.nscfg0() && d1.had0() && !d1.e0pd0() && d1.haft());
    assert_eq!(d1.ttb0(), 0x000a_bcde_f012_3450 >> 4);
    assert!(d1.pnch() && !d1.epan());
    assert_eq!(d1.hwu0(), 0xc);
    let d2: CdDw2 = c.dw2();
    assert!(d2.nscfg1() && !d2.had1() && d2.e0pd1() && !d2.aie());
    assert_eq!(d2.ttb1(), 0x0012_3456_789a_bcd0 >> 4);
    assert!(!d2.ds() && d2.pie());
    assert_eq!(d2.hwu1(), 3);
    let d3: CdDw3 = c.dw3();
    assert_eq!((d3.mair0(), d3.mair1()), (0x0044_0400, 0xff));
    let d4: CdDw4 = c.dw4();
    assert_eq!((d4.amair0(), d4.amair1()), (0x0506_0708, 0x0102_0304));
    let d5: CdDw5 = c.dw5();
    assert_eq!(
        (d5.impdef(), d5.partid(), d5.pmg()),
        (0xfeed_face, 0x7fff, 0x81)
    );

    let all_ones = Cd::from_words([u64::MAX; 8]);
    let rebuilt = Cd::INVALID
        .with_dw0(all_ones.dw0())
        .with_dw1(all_ones.dw1())
        .with_dw2(all_ones.dw2())
        .with_dw3(all_ones.dw3())
        .with_dw4(all_ones.dw4())
        .with_dw5(all_ones.dw5());
    assert_eq!(rebuilt.to_words()[..6], [u64::MAX; 6]);
}

#[test]
fn cd_tg_encodings_differ() {
    // TG0: 0 4K, 1 64K, 2 16K, 3 reserved. TG1: 0 reserved, 1 16K, 2 4K, 3 64K.
    let tg0 = [
        Some(Granule::Size4K),
        Some(Granule::Size64K),
        Some(Granule::Size16K),
        None,
    ];
    let tg1 = [
        None,
        Some(Granule::Size16K),
        Some(Granule::Size4K),
        Some(Granule::Size64K),
    ];
    for raw in 0..4u8 {
        assert_eq!(Tg0::from_raw(raw).granule(), tg0[raw as usize]);
        assert_eq!(Tg1::from_raw(raw).granule(), tg1[raw as usize]);
    }
    enc_cd(
        ZC.with_tg0(Tg0::from_granule(Granule::Size64K)),
        only(0, 0x40),
    );
    enc_cd(
        ZC.with_tg1(Tg1::from_granule(Granule::Size64K)),
        only(0, 0xc0_0000),
    );
}

#[test]
fn cd_stage1_constructor() {
    let cfg = cd::Stage1CdConfig::new(
        Asid(0x1234),
        PhysAddr(0x9_8765_4000),
        25,
        Granule::Size4K,
        AddressSize::Bits40,
        0x0000_0000_0044_ff04,
    );
    let c = Cd::stage1(&cfg).unwrap();
    // dw0: ASID 0x1234; ASET 1, A 1, R 1, S 0 → 0xe; HA 0, HD 0, AA64 1, PAN 0 → 0x2;
    //      bits 39:32: IPS 2 → 0x02; V 1, EPD1 1 → bits 31:28 = 1100 → 0xc000_0000;
    //      bits 15:0: EPD0 0, SH0 3 → 0x3000, OR0 1 → 0x400, IR0 1 → 0x100, TG0 0,
    //      T0SZ 25 = 0x19 → 0x3519
    assert_eq!(
        c.to_words(),
        [
            0x1234_e202_c000_3519,
            0x0000_0009_8765_4000,
            0,
            0x0000_0000_0044_ff04,
            0,
            0,
            0,
            0
        ]
    );
    let mut bad = cfg;
    bad.ttb0 = PhysAddr(0x9_8765_4008);
    assert!(matches!(
        Cd::stage1(&bad),
        Err(Error::Misaligned { align: 16, .. })
    ));
    let mut bad = cfg;
    bad.t0sz = 99;
    assert!(matches!(
        Cd::stage1(&bad),
        Err(Error::FieldOverflow { value: 99, .. })
    ));
}

#[test]
fn cd_field_positions() {
    use cd::field as f;
    let table: &[(FieldPos, usize, u64)] = &[
        (f::T0SZ, 0, 0x0000_0000_0000_003f),
        (f::TG0, 0, 0x0000_0000_0000_00c0),
        (f::IR0, 0, 0x0000_0000_0000_0300),
        (f::OR0, 0, 0x0000_0000_0000_0c00),
        (f::SH0, 0, 0x0000_0000_0000_3000),
        (f::EPD0, 0, 0x0000_0000_0000_4000),
        (f::ENDI, 0, 0x0000_0000_0000_8000),
        (f::T1SZ, 0, 0x0000_0000_003f_0000),
        (f::TG1, 0, 0x0000_0000_00c0_0000),
        (f::IR1, 0, 0x0000_0000_0300_0000),
        (f::OR1, 0, 0x0000_0000_0c00_0000),
        (f::SH1, 0, 0x0000_0000_3000_0000),
        (f::EPD1, 0, 0x0000_0000_4000_0000),
        (f::V, 0, 0x0000_0000_8000_0000),
        (f::IPS, 0, 0x0000_0007_0000_0000),
        (f::AFFD, 0, 0x0000_0008_0000_0000),
        (f::WXN, 0, 0x0000_0010_0000_0000),
        (f::UWXN, 0, 0x0000_0020_0000_0000),
        (f::TBI0, 0, 0x0000_0040_0000_0000),
        (f::TBI1, 0, 0x0000_0080_0000_0000),
        (f::PAN, 0, 0x0000_0100_0000_0000),
        (f::AA64, 0, 0x0000_0200_0000_0000),
        (f::HD, 0, 0x0000_0400_0000_0000),
        (f::HA, 0, 0x0000_0800_0000_0000),
        (f::S, 0, 0x0000_1000_0000_0000),
        (f::R, 0, 0x0000_2000_0000_0000),
        (f::A, 0, 0x0000_4000_0000_0000),
        (f::ASET, 0, 0x0000_8000_0000_0000),
        (f::ASID, 0, 0xffff_0000_0000_0000),
        (f::NSCFG0, 1, 0x0000_0000_0000_0001),
        (f::HAD0, 1, 0x0000_0000_0000_0002),
        (f::E0PD0, 1, 0x0000_0000_0000_0004),
        (f::HAFT, 1, 0x0000_0000_0000_0008),
        (f::TTB0, 1, 0x00ff_ffff_ffff_fff0),
        (f::PNCH, 1, 0x0400_0000_0000_0000),
        (f::EPAN, 1, 0x0800_0000_0000_0000),
        (f::HWU0, 1, 0xf000_0000_0000_0000),
        (f::NSCFG1, 2, 0x0000_0000_0000_0001),
        (f::HAD1, 2, 0x0000_0000_0000_0002),
        (f::E0PD1, 2, 0x0000_0000_0000_0004),
        (f::AIE, 2, 0x0000_0000_0000_0008),
        (f::TTB1, 2, 0x00ff_ffff_ffff_fff0),
        (f::DS, 2, 0x0400_0000_0000_0000),
        (f::PIE, 2, 0x0800_0000_0000_0000),
        (f::HWU1, 2, 0xf000_0000_0000_0000),
        (f::MAIR0, 3, 0x0000_0000_ffff_ffff),
        (f::MAIR1, 3, 0xffff_ffff_0000_0000),
        (f::MAIR, 3, 0xffff_ffff_ffff_ffff),
        (f::AMAIR0, 4, 0x0000_0000_ffff_ffff),
        (f::AMAIR1, 4, 0xffff_ffff_0000_0000),
        (f::AMAIR, 4, 0xffff_ffff_ffff_ffff),
        (f::IMPDEF, 5, 0x0000_0000_ffff_ffff),
        (f::PARTID, 5, 0x0000_ffff_0000_0000),
        (f::PMG, 5, 0x00ff_0000_0000_0000),
        (f::PIIU, 6, 0x0000_ffff_ffff_ffff),
        (f::PIIP, 7, 0x0000_ffff_ffff_ffff),
    ];
    for (i, (pos, word, mask)) in table.iter().enumerate() {
        assert_eq!(pos.word, *word, "entry {i}: word of {pos:?}");
        assert_eq!(pos.mask(), *mask, "entry {i}: mask of {pos:?}");
    }
    // 54 fields plus the MAIR and AMAIR groups.
    assert_eq!(table.len(), 54 + 2);
    assert_eq!(f::ALL.len(), 54);
    assert_eq!(
        cd::RES0,
        [
            0,
            0x0300_0000_0000_0000,
            0x0300_0000_0000_0000,
            0,
            0,
            0xff00_0000_0000_0000,
            0xffff_0000_0000_0000,
            0xffff_0000_0000_0000,
        ]
    );
}

// ---------------------------------------------------------------------------------------
// L1CD and SubstreamID indexing
// ---------------------------------------------------------------------------------------

#[test]
fn l1cd_encode_decode() {
    let d = L1Cd::new(PhysAddr(0x0000_00ab_cdef_3000), S1Fmt::TwoLevel4K).unwrap();
    assert_eq!(d.raw(), 0x0000_00ab_cdef_3001);
    assert!(d.v() && d.is_valid());
    assert_eq!(d.l2ptr(), PhysAddr(0x0000_00ab_cdef_3000));
    let d = L1Cd::new(PhysAddr(0x0000_00ab_cde1_0000), S1Fmt::TwoLevel64K).unwrap();
    assert_eq!(d.raw(), 0x0000_00ab_cde1_0001);
    assert!(matches!(
        L1Cd::new(PhysAddr(0x0000_00ab_cdef_3000), S1Fmt::TwoLevel64K),
        Err(Error::Misaligned {
            align: 0x1_0000,
            ..
        })
    ));
    assert!(matches!(
        L1Cd::new(PhysAddr(0x0000_00ab_cdef_3800), S1Fmt::TwoLevel4K),
        Err(Error::Misaligned { align: 0x1000, .. })
    ));
    assert!(matches!(
        L1Cd::new(PhysAddr(0x1000), S1Fmt::Linear),
        Err(Error::InvalidValue { .. })
    ));
    assert!(matches!(
        L1Cd::new(PhysAddr(0x1000), S1Fmt::Reserved),
        Err(Error::InvalidValue { .. })
    ));
    assert!(matches!(
        L1Cd::new(PhysAddr(0x0100_0000_0000_0000), S1Fmt::TwoLevel4K),
        Err(Error::FieldOverflow { bits: 56, .. })
    ));

    // Decode with every reserved bit set: V = 1, L2Ptr = bits [55:12].
    let d = L1Cd::from_raw(0xff00_1234_5678_9fff);
    assert!(d.v());
    assert_eq!(d.l2ptr(), PhysAddr(0x0000_1234_5678_9000));
    assert_eq!(d.cd_addr(3), Some(PhysAddr(0x0000_1234_5678_90c0)));
    assert_eq!(L1Cd::from_raw(0x1234_5000).cd_addr(0), None);
    assert_eq!(L1Cd::from_raw(0x1234_5000).with_v(true).raw(), 0x1234_5001);

    assert_eq!(cd::l1_field::V.mask(), 0x1);
    assert_eq!(cd::l1_field::L2PTR.mask(), 0x00ff_ffff_ffff_f000);
    assert_eq!(cd::L1CD_RES0, 0xff00_0000_0000_0ffe);
}

#[test]
fn cd_index_table() {
    use CdIndex::{Linear, TwoLevel};
    let ssid = SubstreamId;
    // S1Fmt 0: SSID[S1CDMax−1:0].
    assert_eq!(
        cd::cd_index(S1Fmt::Linear, 10, ssid(0x3ff)),
        Some(Linear(0x3ff))
    );
    assert_eq!(cd::cd_index(S1Fmt::Linear, 10, ssid(0x400)), None);
    // Reserved behaves as linear.
    assert_eq!(
        cd::cd_index(S1Fmt::Reserved, 4, ssid(0xf)),
        Some(Linear(0xf))
    );
    // S1Fmt 1: L1 = SSID[S1CDMax−1:6], L2 = SSID[5:0]. 0xabc = 10_1010_11_1100.
    assert_eq!(
        cd::cd_index(S1Fmt::TwoLevel4K, 12, ssid(0xabc)),
        Some(TwoLevel { l1: 0x2a, l2: 0x3c })
    );
    // S1CDMax ≤ 6 with 4 KB leaves: only L1 index 0.
    assert_eq!(
        cd::cd_index(S1Fmt::TwoLevel4K, 5, ssid(0x1f)),
        Some(TwoLevel { l1: 0, l2: 0x1f })
    );
    // S1Fmt 2: L1 = SSID[S1CDMax−1:10], L2 = SSID[9:0].
    assert_eq!(
        cd::cd_index(S1Fmt::TwoLevel64K, 20, ssid(0xf_ffff)),
        Some(TwoLevel {
            l1: 0x3ff,
            l2: 0x3ff
        })
    );
    assert_eq!(
        cd::cd_index(S1Fmt::TwoLevel64K, 20, ssid(0x1234)),
        Some(TwoLevel { l1: 0x4, l2: 0x234 })
    );
    assert_eq!(cd::cd_index(S1Fmt::TwoLevel64K, 20, ssid(0x10_0000)), None);
    // S1CDMax = 0: one CD; the format is ignored.
    assert_eq!(
        cd::cd_index(S1Fmt::TwoLevel64K, 0, ssid(0)),
        Some(Linear(0))
    );
    assert_eq!(cd::cd_index(S1Fmt::Linear, 0, ssid(1)), None);
    // Total for every S1CDMax.
    assert_eq!(
        cd::cd_index(S1Fmt::Linear, 31, ssid(0x7fff_ffff)),
        Some(Linear(0x7fff_ffff))
    );
    assert_eq!(cd::cd_index(S1Fmt::Linear, 31, ssid(0x8000_0000)), None);
    assert_eq!(cd::cd_index(S1Fmt::Linear, 32, ssid(0)), None);
    assert_eq!(cd::cd_index(S1Fmt::TwoLevel4K, 255, ssid(u32::MAX)), None);

    // Table sizes: L1 of 2^(S1CDMax−6) or 2^(S1CDMax−10) 8-byte L1CDs.
    assert_eq!(cd::l1_table_entries(S1Fmt::TwoLevel4K, 20), Some(16384));
    assert_eq!(cd::l1_table_entries(S1Fmt::TwoLevel64K, 20), Some(1024));
    assert_eq!(cd::l1_table_entries(S1Fmt::TwoLevel4K, 6), Some(1));
    assert_eq!(
        cd::l1_table_entries(S1Fmt::TwoLevel64K, 31),
        Some(2_097_152)
    );
    assert_eq!(cd::l1_table_entries(S1Fmt::Linear, 8), None);
    assert_eq!(cd::l1_table_entries(S1Fmt::TwoLevel4K, 0), None);
    assert_eq!(cd::l1_table_entries(S1Fmt::TwoLevel4K, 32), None);
    assert_eq!(cd::leaf_table_entries(S1Fmt::TwoLevel4K), Some(64));
    assert_eq!(cd::leaf_table_entries(S1Fmt::TwoLevel64K), Some(1024));
    assert_eq!(cd::leaf_table_entries(S1Fmt::Linear), None);
    assert_eq!(cd::context_table_size(S1Fmt::Linear, 0), Some(64));
    assert_eq!(cd::context_table_size(S1Fmt::Linear, 10), Some(0x1_0000));
    assert_eq!(
        cd::context_table_size(S1Fmt::TwoLevel4K, 20),
        Some(128 * 1024)
    );
    assert_eq!(
        cd::context_table_size(S1Fmt::TwoLevel64K, 20),
        Some(8 * 1024)
    );
    assert_eq!(cd::context_table_size(S1Fmt::TwoLevel4K, 8), Some(32));
    assert_eq!(cd::context_table_align(S1Fmt::TwoLevel4K, 8), Some(64));
    assert_eq!(cd::context_table_size(S1Fmt::Linear, 31), Some(1 << 37));
    assert_eq!(cd::context_table_size(S1Fmt::Linear, 32), None);
}
