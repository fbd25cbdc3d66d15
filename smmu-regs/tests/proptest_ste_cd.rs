//! Property tests: any bit pattern parses, every getter and validity check returns without
//! panicking, encodings round-trip, and the typed word views agree with the entry getters.

use std::hint::black_box;

use proptest::prelude::*;
use smmu_regs::cd::{self, Cd, CdCheckCaps, CdIndex, CdStreamContext, L1Cd, Stage1CdConfig};
use smmu_regs::fields::{AddressSize, Cacheability, Granule, Shareability};
use smmu_regs::l1std::L1Std;
use smmu_regs::ste::{
    self, Eats, S1Dss, S1Fmt, Shcfg, Stage1Config, Stage2Config, Ste, SteCheckCaps, StreamWorld,
    Strw,
};
use smmu_regs::{Asid, PhysAddr, SubstreamId, Vmid};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 512 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn bit(flags: u32, n: u32) -> bool {
    flags >> n & 1 != 0
}

/// Any capability set, including nonsense values (OAS of 0 or 255 bits, …).
fn ste_caps() -> impl Strategy<Value = SteCheckCaps> {
    (
        any::<u32>(),
        any::<[u8; 6]>(),
        prop_oneof![
            Just(32u8),
            Just(40),
            Just(44),
            Just(48),
            Just(52),
            any::<u8>()
        ],
    )
        .prop_map(|(f, b, oas)| SteCheckCaps {
            s1p: bit(f, 0),
            s2p: bit(f, 1),
            ats: bit(f, 2),
            ns1ats: bit(f, 3),
            hyp: bit(f, 4),
            stall_model: b[0] % 4,
            ssid_bits: b[1],
            cd2l: bit(f, 5),
            oas_bits: oas,
            ttf_aarch32: bit(f, 6),
            ttf_aarch64: bit(f, 7),
            ttendian: b[2],
            httu: b[3],
            vmid16: bit(f, 8),
            fwb: bit(f, 9),
            dpt: bit(f, 10),
            stt: bit(f, 11),
            gran4k: bit(f, 12),
            gran16k: bit(f, 13),
            gran64k: bit(f, 14),
            ds: bit(f, 15),
            version: b[4] % 8,
        })
}

fn cd_caps() -> impl Strategy<Value = CdCheckCaps> {
    (any::<u32>(), any::<[u8; 6]>()).prop_map(|(f, b)| CdCheckCaps {
        stall_model: b[0],
        term_model: bit(f, 0),
        ttendian: b[1],
        ttf_aarch32: bit(f, 1),
        ttf_aarch64: bit(f, 2),
        httu: b[2],
        asid16: bit(f, 3),
        stt: bit(f, 4),
        gran4k: bit(f, 5),
        gran16k: bit(f, 6),
        gran64k: bit(f, 7),
        ds: bit(f, 8),
        vax: b[3] % 4,
        oas_bits: b[4],
        version: b[5],
    })
}

fn stream_world() -> impl Strategy<Value = StreamWorld> {
    prop_oneof![
        Just(StreamWorld::NsEl1),
        Just(StreamWorld::NsEl2),
        Just(StreamWorld::NsEl2E2h)
    ]
}

/// Words biased towards interesting STEs: random, or random with V = 1 and a translating
/// Config, small T0SZ/SL0 values and addresses that fit.
fn ste_words() -> impl Strategy<Value = [u64; 8]> {
    prop_oneof![
        any::<[u64; 8]>(),
        (any::<[u64; 8]>(), 4u64..8).prop_map(|(mut w, cfg)| {
            w[0] = (w[0] & 0xf800_0000_ffff_fff0) | (cfg << 1) | 1;
            w[2] &= !0x0000_0030_0000_0000; // T0SZ < 16
            w[3] &= 0x0000_00ff_ffff_fff0;
            w
        }),
    ]
}

macro_rules! touch {
    ($x:expr; $($get:ident),* $(,)?) => {
        $( black_box(format!("{:?}", $x.$get())); )*
    };
}

fn touch_ste(s: &Ste, caps: &SteCheckCaps) {
    touch!(s;
        is_valid, v, config, s1fmt, s1_context_ptr, s1cdmax, s1dss, s1cir, s1cor, s1csh,
        s2hwu, dre, cont, dcp, ppar, mev, sw_reserved, s1pie, s2fwb, s1mpam, s1stalld,
        eats, strw, mem_attr, mtcfg, alloccfg, shcfg, nscfg, privcfg, instcfg, impdef_dw1,
        s2vmid, impdef_dw2, s2t0sz, s2sl0, s2ir0, s2or0, s2sh0, s2tg, s2ps, s2aa64,
        s2endi, s2affd, s2ptw, s2hd, s2ha, s2s, s2r, s2haft, s2pie, s2poe, dpt_vmatch,
        s2nsw, s2nsa, s2sl0_2, s2ds, s2ttb, s2skl, impdef_dw4, partid, s_s2t0sz, s_s2sl0,
        s_s2tg, mecid, pmg, mpam_ns, assured_only, tl0, tl1, vms_ptr, s2sw, s2sa,
        s_s2sl0_2, s_s2ttb, s_s2skl, s2_granule, s2_input_bits,
        dw0, dw1, dw2, dw3, dw4, dw5, dw6, dw7,
    );
    for p in 0..20 {
        black_box(s.s2poi(p));
    }
    let _ = black_box(s.check(caps));
    black_box(s.s2_start_level(caps));
    black_box(s.s2_walk_consistent(caps));
    black_box(s.stream_world(caps.s1p, caps.hyp, caps.ds));
    black_box(format!("{s:?}"));
    if let Err(e) = s.check(caps) {
        assert!((1..=8).contains(&e.rule()));
        black_box(e.to_string());
    }
}

fn touch_cd(c: &Cd) {
    touch!(c;
        is_valid, t0sz, tg0, ir0, or0, sh0, epd0, endi, t1sz, tg1, ir1, or1, sh1, epd1, v,
        ips, affd, wxn, uwxn, tbi0, tbi1, pan, aa64, hd, ha, s, r, a, aset, asid, nscfg0,
        had0, e0pd0, haft, ttb0, pnch, epan, hwu0, nscfg1, had1, e0pd1, aie, ttb1, ds, pie,
        hwu1, mair0, mair1, mair, amair0, amair1, impdef, partid, pmg, piiu, piip,
        dw0, dw1, dw2, dw3, dw4, dw5,
    );
    for p in 0..20 {
        black_box((c.piiu_entry(p), c.piip_entry(p)));
    }
    black_box(format!("{c:?}"));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ste_any_words_parse_and_round_trip(w in ste_words(), caps in ste_caps()) {
        let s = Ste::from_words(w);
        prop_assert_eq!(s.to_words(), w);
        prop_assert_eq!(*s.words(), w);
        prop_assert_eq!(Ste::from_le_bytes(s.to_le_bytes()), s);
        for i in 0..10 {
            prop_assert_eq!(s.word(i), w.get(i).copied());
        }
        touch_ste(&s, &caps);

        // Typed views round-trip every bit, reserved ones included.
        prop_assert_eq!(u64::from(s.dw0()), w[0]);
        prop_assert_eq!(u64::from(s.dw1()), w[1]);
        prop_assert_eq!(u64::from(s.dw2()), w[2]);
        prop_assert_eq!(u64::from(s.dw3()), w[3]);
        prop_assert_eq!(u64::from(s.dw4()), w[4]);
        prop_assert_eq!(u64::from(s.dw5()), w[5]);
        prop_assert_eq!(u64::from(s.dw6()), w[6]);
        prop_assert_eq!(u64::from(s.dw7()), w[7]);
        let rebuilt = Ste::INVALID
            .with_dw0(s.dw0()).with_dw1(s.dw1()).with_dw2(s.dw2()).with_dw3(s.dw3())
            .with_dw4(s.dw4()).with_dw5(s.dw5()).with_dw6(s.dw6()).with_dw7(s.dw7());
        prop_assert_eq!(rebuilt, s);

        // The typed views (modular-bitfield) and the FieldPos getters agree.
        let (d0, d1, d2, d3) = (s.dw0(), s.dw1(), s.dw2(), s.dw3());
        let (d4, d5, d6, d7) = (s.dw4(), s.dw5(), s.dw6(), s.dw7());
        prop_assert_eq!(d0.v(), s.v());
        prop_assert_eq!(d0.config(), s.config());
        prop_assert_eq!(d0.s1fmt(), s.s1fmt());
        prop_assert_eq!(d0.s1_context_ptr() << 6, s.s1_context_ptr().0);
        prop_assert_eq!(d0.s1cdmax(), s.s1cdmax());
        prop_assert_eq!(d1.s1dss(), s.s1dss());
        prop_assert_eq!(d1.s1cir(), s.s1cir());
        prop_assert_eq!(d1.s1cor(), s.s1cor());
        prop_assert_eq!(d1.s1csh(), s.s1csh());
        prop_assert_eq!(d1.cont(), s.cont());
        prop_assert_eq!(d1.eats(), s.eats());
        prop_assert_eq!(d1.strw(), s.strw());
        prop_assert_eq!(d1.alloccfg(), s.alloccfg());
        prop_assert_eq!(d1.shcfg(), s.shcfg());
        prop_assert_eq!(d1.nscfg(), s.nscfg());
        prop_assert_eq!(d1.privcfg(), s.privcfg());
        prop_assert_eq!(d1.instcfg(), s.instcfg());
        prop_assert_eq!(d1.impdef(), s.impdef_dw1());
        prop_assert_eq!(d2.s2vmid(), s.s2vmid().0);
        prop_assert_eq!(d2.s2t0sz(), s.s2t0sz());
        prop_assert_eq!(d2.s2sl0(), s.s2sl0());
        prop_assert_eq!(d2.s2ir0(), s.s2ir0());
        prop_assert_eq!(d2.s2or0(), s.s2or0());
        prop_assert_eq!(d2.s2sh0(), s.s2sh0());
        prop_assert_eq!(d2.s2tg(), s.s2tg());
        prop_assert_eq!(d2.s2ps(), s.s2ps());
        prop_assert_eq!(d2.s2aa64(), s.s2aa64());
        prop_assert_eq!(d2.s2r(), s.s2r());
        prop_assert_eq!(d2.dpt_vmatch(), s.dpt_vmatch());
        prop_assert_eq!(d3.s2ds(), s.s2ds());
        prop_assert_eq!(d3.s2ttb() << 4, s.s2ttb().0);
        prop_assert_eq!(d3.s2skl(), s.s2skl());
        prop_assert_eq!(d4.partid(), s.partid());
        prop_assert_eq!(d4.s_s2t0sz(), s.s_s2t0sz());
        prop_assert_eq!(d4.s_s2sl0(), s.s_s2sl0());
        prop_assert_eq!(d4.s_s2tg(), s.s_s2tg());
        prop_assert_eq!(d4.mecid(), s.mecid());
        prop_assert_eq!(d5.pmg(), s.pmg());
        prop_assert_eq!(d5.tl1(), s.tl1());
        prop_assert_eq!(d5.vms_ptr() << 12, s.vms_ptr().0);
        prop_assert_eq!(d6.s_s2ttb() << 4, s.s_s2ttb().0);
        prop_assert_eq!(d6.s_s2skl(), s.s_s2skl());
        prop_assert_eq!(d7.s2poi0(), s.s2poi(0).unwrap());
        prop_assert_eq!(d7.s2poi9(), s.s2poi(9).unwrap());
        prop_assert_eq!(d7.s2poi15(), s.s2poi(15).unwrap());
    }

    #[test]
    fn ste_field_rewrites_touch_only_their_bits(w in any::<[u64; 8]>(), v in any::<u64>()) {
        let s = Ste::from_words(w);
        for (name, pos) in ste::field::ALL {
            prop_assert_eq!(s.with_field(*pos, s.field(*pos)), s, "{}", name);
            let t = s.with_field(*pos, v);
            prop_assert_eq!(t.field(*pos), v & (pos.mask() >> pos.lsb), "{}", name);
            for (i, (&got, &orig)) in t.to_words().iter().zip(w.iter()).enumerate() {
                let keep = if i == pos.word { !pos.mask() } else { u64::MAX };
                prop_assert_eq!(got & keep, orig & keep, "{}", name);
            }
        }
    }

    #[test]
    fn cd_any_words_parse_and_round_trip(
        w in any::<[u64; 8]>(),
        caps in cd_caps(),
        world in stream_world(),
        s1stalld in any::<bool>(),
        s2_32 in any::<bool>(),
    ) {
        let c = Cd::from_words(w);
        prop_assert_eq!(c.to_words(), w);
        prop_assert_eq!(Cd::from_le_bytes(c.to_le_bytes()), c);
        touch_cd(&c);
        let ctx = CdStreamContext { stream_world: world, s1stalld, stage2_aarch32: s2_32 };
        let _ = black_box(c.check(&caps, &ctx));
        // The same CD with V = 1 reaches the deeper rules.
        let _ = black_box(c.with_v(true).check(&caps, &ctx));

        prop_assert_eq!(u64::from(c.dw0()), w[0]);
        prop_assert_eq!(u64::from(c.dw1()), w[1]);
        prop_assert_eq!(u64::from(c.dw2()), w[2]);
        prop_assert_eq!(u64::from(c.dw3()), w[3]);
        prop_assert_eq!(u64::from(c.dw4()), w[4]);
        prop_assert_eq!(u64::from(c.dw5()), w[5]);
        let (d0, d1, d2, d5) = (c.dw0(), c.dw1(), c.dw2(), c.dw5());
        prop_assert_eq!(d0.t0sz(), c.t0sz());
        prop_assert_eq!(d0.tg0(), c.tg0());
        prop_assert_eq!(d0.ir0(), c.ir0());
        prop_assert_eq!(d0.sh0(), c.sh0());
        prop_assert_eq!(d0.t1sz(), c.t1sz());
        prop_assert_eq!(d0.tg1(), c.tg1());
        prop_assert_eq!(d0.or1(), c.or1());
        prop_assert_eq!(d0.v(), c.v());
        prop_assert_eq!(d0.ips(), c.ips());
        prop_assert_eq!(d0.aa64(), c.aa64());
        prop_assert_eq!(d0.asid(), c.asid().0);
        prop_assert_eq!(d1.ttb0() << 4, c.ttb0().0);
        prop_assert_eq!(d1.hwu0(), c.hwu0());
        prop_assert_eq!(d2.ttb1() << 4, c.ttb1().0);
        prop_assert_eq!(d2.ds(), c.ds());
        prop_assert_eq!(d5.partid(), c.partid());
        prop_assert_eq!(d5.pmg(), c.pmg());
        prop_assert_eq!(u64::from(c.mair1()) << 32 | u64::from(c.mair0()), c.mair());
    }

    #[test]
    fn cd_field_rewrites_touch_only_their_bits(w in any::<[u64; 8]>(), v in any::<u64>()) {
        let c = Cd::from_words(w);
        for (name, pos) in cd::field::ALL {
            prop_assert_eq!(c.with_field(*pos, c.field(*pos)), c, "{}", name);
            let t = c.with_field(*pos, v);
            prop_assert_eq!(t.field(*pos), v & (pos.mask() >> pos.lsb), "{}", name);
            for (i, (&got, &orig)) in t.to_words().iter().zip(w.iter()).enumerate() {
                let keep = if i == pos.word { !pos.mask() } else { u64::MAX };
                prop_assert_eq!(got & keep, orig & keep, "{}", name);
            }
        }
    }

    #[test]
    fn l1std_any_value(raw in any::<u64>(), index in any::<u32>(), span in any::<u8>(), addr in any::<u64>()) {
        let d = L1Std::from_raw(raw);
        prop_assert_eq!(d.raw(), raw);
        black_box((d.span(), d.effective_span(), d.is_valid(), d.l2ptr(), d.entries()));
        black_box(format!("{d:?}"));
        match d.l2_table_addr() {
            Some(base) => {
                let span = d.effective_span().unwrap();
                prop_assert!((1..=11).contains(&span));
                prop_assert_eq!(d.entries(), 1u32 << (span - 1));
                prop_assert_eq!(base.0 % (64u64 << (span - 1)), 0);
                prop_assert_eq!(base.0 & !d.l2ptr().0, 0);
                match d.ste_addr(index) {
                    Some(a) => {
                        prop_assert!(index < d.entries());
                        prop_assert_eq!(a.0, base.0 + u64::from(index) * 64);
                    }
                    None => prop_assert!(index >= d.entries()),
                }
            }
            None => {
                prop_assert_eq!(d.entries(), 0);
                prop_assert_eq!(d.ste_addr(index), None);
            }
        }
        if let Ok(n) = L1Std::new(PhysAddr(addr), span) {
            prop_assert_eq!(n.l2ptr(), PhysAddr(addr));
            prop_assert_eq!(n.effective_span(), Some(span));
            prop_assert_eq!(n.l2_table_addr(), Some(PhysAddr(addr)));
        }
        let _ = black_box(d.with_span(span));
        let _ = black_box(d.with_l2ptr(PhysAddr(addr)));
    }

    #[test]
    fn l1cd_and_cd_index_any_value(
        raw in any::<u64>(),
        fmt in any::<u8>(),
        cdmax in prop_oneof![0u8..=32, any::<u8>()],
        ssid in prop_oneof![any::<u32>(), 0u32..0x10_0000],
        addr in any::<u64>(),
    ) {
        let d = L1Cd::from_raw(raw);
        prop_assert_eq!(d.raw(), raw);
        black_box((d.v(), d.is_valid(), d.l2ptr(), d.cd_addr(ssid)));
        black_box(format!("{d:?}"));
        let fmt = S1Fmt::from_raw(fmt);
        black_box((
            cd::l1_table_entries(fmt, cdmax),
            cd::leaf_table_entries(fmt),
            cd::context_table_size(fmt, cdmax),
            cd::context_table_align(fmt, cdmax),
        ));
        match cd::cd_index(fmt, cdmax, SubstreamId(ssid)) {
            Some(CdIndex::Linear(i)) => {
                prop_assert_eq!(i, ssid);
                prop_assert!(cdmax <= 31 && u64::from(ssid) < 1u64 << cdmax);
            }
            Some(CdIndex::TwoLevel { l1, l2 }) => {
                let leaf = cd::leaf_table_entries(fmt).unwrap();
                prop_assert!(l2 < leaf);
                prop_assert_eq!(l1 * leaf + l2, ssid);
                prop_assert!(l1 < cd::l1_table_entries(fmt, cdmax).unwrap());
            }
            None => prop_assert!(cdmax > 31 || u64::from(ssid) >= 1u64 << cdmax),
        }
        if let Ok(n) = L1Cd::new(PhysAddr(addr), fmt) {
            prop_assert!(n.is_valid());
            prop_assert_eq!(n.l2ptr(), PhysAddr(addr));
        }
    }

    #[test]
    fn constructors_are_total(
        ptr in any::<u64>(),
        ttb in any::<u64>(),
        small in any::<[u8; 8]>(),
        flags in any::<u32>(),
        vmid in any::<u16>(),
        mair in any::<u64>(),
    ) {
        let granule = [Granule::Size4K, Granule::Size16K, Granule::Size64K][usize::from(small[0] % 3)];
        let mut s1 = Stage1Config::new(PhysAddr(ptr));
        s1.fmt = S1Fmt::from_raw(small[1]);
        s1.cd_max = small[2];
        s1.dss = S1Dss::from_raw(small[3]);
        s1.strw = Strw::from_raw(small[4]);
        s1.eats = Eats::from_raw(small[5]);
        s1.stall_disable = bit(flags, 0);
        s1.mev = bit(flags, 1);
        s1.shcfg = Shcfg::from_raw(small[6]);
        s1.cir = Cacheability::WriteThrough;
        s1.csh = Shareability::Outer;
        if let Ok(s) = Ste::stage1(&s1) {
            prop_assert!(s.v());
            prop_assert!(s.config().stage1_enabled() && !s.config().stage2_enabled());
            prop_assert_eq!(s.s1_context_ptr(), PhysAddr(ptr));
            prop_assert_eq!(s.s1cdmax(), s1.cd_max);
            prop_assert_eq!(s.s1fmt(), s1.fmt);
            prop_assert_eq!(s.s1dss(), s1.dss);
            prop_assert_eq!(s.eats(), s1.eats);
            prop_assert_eq!(s.strw(), s1.strw);
            prop_assert_eq!(s.s1cir(), Cacheability::WriteThrough);
            prop_assert_eq!(s.s1csh(), Shareability::Outer);
            prop_assert_eq!(&s.to_words()[2..], &[0u64; 6][..]);
        }
        let mut s2 = Stage2Config::new(
            Vmid(vmid), PhysAddr(ttb), small[5], small[6], granule, AddressSize::from_raw(small[7]),
        );
        s2.aa64 = bit(flags, 2);
        s2.stall = bit(flags, 3);
        s2.eats = s1.eats;
        s2.mev = s1.mev;
        if let Ok(s) = Ste::stage2(&s2) {
            prop_assert!(s.config().stage2_enabled() && !s.config().stage1_enabled());
            prop_assert_eq!(s.s2ttb(), PhysAddr(ttb));
            prop_assert_eq!(s.s2t0sz(), s2.t0sz);
            prop_assert_eq!(s.s2sl0(), s2.sl0);
            prop_assert_eq!(s.s2tg().granule(), Some(granule));
            prop_assert_eq!(s.s2vmid(), Vmid(vmid));
            prop_assert_eq!(s.s2aa64(), s2.aa64);
            prop_assert_eq!(s.s2s(), s2.stall);
            prop_assert_eq!(s.word(0), Some(0xd));
        }
        if let Ok(s) = Ste::nested(&s1, &s2) {
            prop_assert_eq!(s.config(), ste::Config::Nested);
        }
        let cfg = Stage1CdConfig::new(
            Asid(vmid), PhysAddr(ttb), small[5], granule, AddressSize::from_raw(small[7]), mair,
        );
        if let Ok(c) = Cd::stage1(&cfg) {
            prop_assert!(c.v() && c.aa64() && c.epd1() && !c.epd0());
            prop_assert_eq!(c.ttb0(), PhysAddr(ttb));
            prop_assert_eq!(c.t0sz(), cfg.t0sz);
            prop_assert_eq!(c.tg0().granule(), Some(granule));
            prop_assert_eq!(c.asid(), Asid(vmid));
            prop_assert_eq!(c.mair(), mair);
        }
    }
}
