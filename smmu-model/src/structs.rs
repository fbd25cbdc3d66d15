//! Decoding and validity of the in-memory configuration structures (STE, CD) as the
//! hardware reads them: spec §2.1–§2.5, written from the spec tables.
//!
//! Field positions are the model's own (an independent reading of the spec), so that a
//! field-position bug elsewhere in the project shows up as a disagreement instead of
//! being shared.

use crate::config::ModelConfig;
use crate::walk::{Regime, Stage, WalkParams, s1_start_level};

#[inline]
pub(crate) const fn field(w: u64, lsb: u32, width: u32) -> u64 {
    (w >> lsb) & (u64::MAX >> (64 - width))
}

#[inline]
pub(crate) const fn flag(w: u64, bit: u32) -> bool {
    (w >> bit) & 1 != 0
}

/// Address field [55:lsb] of a word.
#[inline]
pub(crate) const fn addr_field(w: u64, lsb: u32) -> u64 {
    w & 0x00FF_FFFF_FFFF_FFFF & !((1u64 << lsb) - 1)
}

fn ps_bits(enc: u64) -> u32 {
    match enc {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        6 => 52,
        _ => 56,
    }
}

/// What an STE tells the SMMU to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SteKind {
    Abort,
    Bypass,
    S1,
    S2,
    Nested,
}

/// Stage-1 part of an STE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct S1Ste {
    pub(crate) fmt: u32,
    pub(crate) ctx_ptr: u64,
    /// Effective S1CDMax (0 when SSIDSIZE = 0).
    pub(crate) cdmax: u32,
    pub(crate) dss: u32,
    pub(crate) stalld: bool,
    pub(crate) el2: bool,
}

/// Stage-2 part of an STE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct S2Cfg {
    pub(crate) vmid: u16,
    pub(crate) walk: WalkParams,
    pub(crate) affd: bool,
    pub(crate) record: bool,
}

/// A decoded, valid STE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SteInfo {
    pub(crate) kind: SteKind,
    pub(crate) s1: Option<S1Ste>,
    pub(crate) s2: Option<S2Cfg>,
    /// VMID tagging stage-1 TLB entries (S2VMID when stage 2 is implemented).
    pub(crate) vmid: u16,
    pub(crate) privcfg: u32,
    pub(crate) instcfg: u32,
}

/// Decodes an STE. `None` means ILLEGAL or `V` = 0 (C_BAD_STE).
///
/// Validity is decided by `smmu_regs::ste::Ste::check` (spec §2.3); the model's own
/// decoder then extracts what the walker needs and applies its own reading of the same
/// rules, so a configuration either side rejects gives C_BAD_STE. The unit tests check
/// that the two readings agree.
pub(crate) fn decode_ste(w: &[u64; 8], c: &ModelConfig) -> Option<SteInfo> {
    if smmu_regs::ste::Ste::from_words(*w)
        .check(&c.ste_caps())
        .is_err()
    {
        return None;
    }
    own_decode_ste(w, c)
}

/// The model's own STE decoder and validity rules (spec §2.1–§2.3).
pub(crate) fn own_decode_ste(w: &[u64; 8], c: &ModelConfig) -> Option<SteInfo> {
    // Rule 1: V.
    if !flag(w[0], 0) {
        return None;
    }
    let config = field(w[0], 1, 3);
    let privcfg = field(w[1], 48, 2) as u32;
    let instcfg = field(w[1], 50, 2) as u32;
    if config & 0b100 == 0 {
        return Some(SteInfo {
            kind: SteKind::Abort,
            s1: None,
            s2: None,
            vmid: 0,
            privcfg,
            instcfg,
        });
    }
    let s1_on = config & 1 != 0;
    let s2_on = config & 2 != 0;
    // Rule 2: stages must be implemented.
    if (s1_on && !c.stage1) || (s2_on && !c.stage2) {
        return None;
    }
    let s2s = flag(w[2], 57);
    // Rule 3: ATS.
    if c.ats && config & 0b11 != 0 {
        let eats = field(w[1], 28, 2);
        match eats {
            // Split-stage ATS needs nesting and NS1ATS = 0; the model sets NS1ATS.
            2 => return None,
            1 if s2s && s2_on && c.version >= crate::SmmuVersion::V3_1 => return None,
            // EATS = 0b11 is ILLEGAL only with IDR3.DPT = 1 (not implemented here).
            _ => {}
        }
    }
    // Rule 4: STRW.
    let strw = field(w[1], 30, 2);
    let strw_used = c.stage1 && c.hyp && config == 0b101;
    if strw_used && strw & 1 != 0 {
        return None;
    }
    let el2 = strw_used && strw == 0b10;
    // Rule 8 (checked early, it is independent): S2VMID width.
    let vmid_raw = field(w[2], 0, 16);
    // S2VMID is ignored for bypass and for an EL2 StreamWorld (§2.2, §2.3 rule 8).
    let vmid_used = c.stage2 && !el2 && (s2_on || s1_on);
    if vmid_used && !c.vmid16 && vmid_raw >> 8 != 0 {
        return None;
    }
    let vmid = if c.stage2 { vmid_raw as u16 } else { 0 };
    let oas = c.oas_bits;
    // Rule 5: stage 1.
    let s1 = if s1_on {
        let stalld = flag(w[1], 27);
        if stalld && c.stall_model != 0 {
            return None;
        }
        let ssid_bits = c.ssid_bits_eff();
        let raw_cdmax = field(w[0], 59, 5) as u32;
        let cdmax = if ssid_bits == 0 { 0 } else { raw_cdmax };
        if ssid_bits != 0 && cdmax > ssid_bits {
            return None;
        }
        let mut fmt = field(w[0], 4, 2) as u32;
        if fmt == 3 {
            fmt = 0;
        }
        if cdmax != 0 && (fmt == 1 || fmt == 2) && !c.cd2l {
            return None;
        }
        let ctx_ptr = addr_field(w[0], 6);
        if ctx_ptr >> oas != 0 {
            return None;
        }
        let mut dss = field(w[1], 0, 2) as u32;
        if dss == 3 {
            dss = 0;
        }
        Some(S1Ste {
            fmt: if cdmax == 0 { 0 } else { fmt },
            ctx_ptr,
            cdmax,
            dss,
            stalld,
            el2,
        })
    } else {
        None
    };
    // Rules 6 and 7: stage 2.
    let s2 = if s2_on {
        if (s2s && c.stall_model == 1) || (!s2s && c.stall_model == 2) {
            return None;
        }
        if !flag(w[2], 51) {
            return None; // S2AA64 = 0: AArch32 tables not implemented (TTF)
        }
        if flag(w[2], 55) || flag(w[2], 56) {
            return None; // S2HD / S2HA without HTTU
        }
        let granule = match field(w[2], 46, 2) {
            0 => 12,
            1 => 16,
            2 => 14,
            _ => return None,
        };
        if !c.granule_ok(granule) {
            return None;
        }
        let ps = ps_bits(field(w[2], 48, 3)).min(oas);
        let ttb = addr_field(w[3], 4);
        if ttb >> ps != 0 || ttb >> 48 != 0 {
            return None;
        }
        let t0sz = field(w[2], 32, 6) as u32;
        let ias = oas;
        let min = if c.version == crate::SmmuVersion::V3_0 {
            64 - ias
        } else {
            16u32.max(64 - ias)
        };
        if t0sz < min || t0sz > 39 {
            return None;
        }
        let sl0 = field(w[2], 38, 2) as u32;
        let start_level = match (granule, sl0) {
            (12, 0) => 2,
            (12, 1) => 1,
            (12, 2) => 0,
            (_, 0) => 3,
            (_, 1) => 2,
            // SL0 = 2 is level 1 for 16K and 64K granules (64K: the only start for a
            // 48-bit IPA, level 2 would need 64 concatenated tables); SL0 = 3 is not
            // implemented (64K: reserved).
            (14 | 16, 2) => 1,
            _ => return None,
        };
        let input_bits = 64 - t0sz;
        let stride = granule - 3;
        let resolved_below = granule + (3 - start_level) * stride;
        if input_bits <= resolved_below || input_bits - resolved_below > stride + 4 {
            return None; // SL0, T0SZ and TG inconsistent
        }
        if flag(w[2], 52) {
            return None; // S2ENDI: tables are little-endian only
        }
        Some(S2Cfg {
            vmid,
            walk: WalkParams {
                stage: Stage::S2,
                granule,
                input_bits,
                start_level,
                ttb,
                oa_bits: ps,
                had: false,
            },
            affd: flag(w[2], 53),
            record: flag(w[2], 58),
        })
    } else {
        None
    };
    let kind = match config {
        0b100 => SteKind::Bypass,
        0b101 => SteKind::S1,
        0b110 => SteKind::S2,
        _ => SteKind::Nested,
    };
    Some(SteInfo {
        kind,
        s1,
        s2,
        vmid,
        privcfg,
        instcfg,
    })
}

/// One translation table base of a CD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TtbCfg {
    pub(crate) walk: WalkParams,
}

/// A decoded, valid CD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CdInfo {
    pub(crate) asid: u16,
    pub(crate) ttb: [Option<TtbCfg>; 2],
    pub(crate) tbi: [bool; 2],
    pub(crate) regime: Regime,
    pub(crate) affd: bool,
    pub(crate) wxn: bool,
    pub(crate) pan: bool,
    pub(crate) record: bool,
    pub(crate) abort: bool,
}

/// Decodes a CD for a stream whose STE has `stalld`. `None` means ILLEGAL or `V` = 0
/// (C_BAD_CD). Validity is decided by `smmu_regs::cd::Cd::check` (spec §2.5), then by
/// the model's own reading (see [`decode_ste`]).
pub(crate) fn decode_cd(
    w: &[u64; 8],
    c: &ModelConfig,
    stalld: bool,
    el2: bool,
    e2h: bool,
) -> Option<CdInfo> {
    use smmu_regs::ste::StreamWorld;
    let ctx = smmu_regs::cd::CdStreamContext {
        stream_world: match (el2, e2h) {
            (false, _) => StreamWorld::NsEl1,
            (true, false) => StreamWorld::NsEl2,
            (true, true) => StreamWorld::NsEl2E2h,
        },
        s1stalld: stalld,
        stage2_aarch32: false,
    };
    if smmu_regs::cd::Cd::from_words(*w)
        .check(&c.cd_caps(), &ctx)
        .is_err()
    {
        return None;
    }
    own_decode_cd(w, c, stalld, el2, e2h)
}

/// The model's own CD decoder and validity rules (spec §2.5).
pub(crate) fn own_decode_cd(
    w: &[u64; 8],
    c: &ModelConfig,
    stalld: bool,
    el2: bool,
    e2h: bool,
) -> Option<CdInfo> {
    let d = w[0];
    if !flag(d, 31) {
        return None;
    }
    let s = flag(d, 44);
    let a = flag(d, 46);
    if stalld && s {
        return None;
    }
    if c.term_model && !a {
        return None;
    }
    if (c.stall_model == 1 && s) || (c.stall_model == 2 && !s) {
        return None;
    }
    if !flag(d, 41) {
        return None; // AA64 = 0: VMSAv8-32 not implemented
    }
    if flag(d, 42) || flag(d, 43) {
        return None; // HD / HA without HTTU
    }
    let asid_raw = field(d, 48, 16);
    if !c.asid16 && asid_raw >> 8 != 0 {
        return None;
    }
    let regime = if el2 && !e2h {
        Regime::El2
    } else {
        Regime::El10
    };
    let ips = ps_bits(field(d, 32, 3)).min(c.oas_bits);
    // NS-EL2 without E2H has a single table (TTB0) and no EPD0.
    let epd = if regime == Regime::El2 {
        [false, true]
    } else {
        [flag(d, 14), flag(d, 30)]
    };
    let mut ttb = [None, None];
    for (i, slot) in ttb.iter_mut().enumerate() {
        if epd[i] {
            continue;
        }
        // ENDI contradicts TTENDIAN (little-endian only) when a TTB is in use.
        if flag(d, 15) {
            return None;
        }
        let (tsz, tg) = if i == 0 {
            (field(d, 0, 6) as u32, field(d, 6, 2))
        } else {
            (field(d, 16, 6) as u32, field(d, 22, 2))
        };
        let granule = match (i, tg) {
            (0, 0) | (1, 2) => 12,
            (0, 1) | (1, 3) => 16,
            (0, 2) | (1, 1) => 14,
            _ => return None,
        };
        if !c.granule_ok(granule) || !(16..=39).contains(&tsz) {
            return None;
        }
        let base = addr_field(w[1 + i], 4);
        if base >> ips != 0 || base >> 48 != 0 {
            return None;
        }
        let input_bits = 64 - tsz;
        let had = c.had && flag(w[1 + i], 1);
        *slot = Some(TtbCfg {
            walk: WalkParams {
                stage: Stage::S1,
                granule,
                input_bits,
                start_level: s1_start_level(granule, input_bits),
                ttb: base,
                oa_bits: ips,
                had,
            },
        });
    }
    Some(CdInfo {
        asid: if regime == Regime::El2 {
            0
        } else {
            asid_raw as u16
        },
        ttb,
        tbi: [flag(d, 38), flag(d, 39)],
        regime,
        affd: flag(d, 35),
        wxn: flag(d, 36),
        pan: flag(d, 40),
        record: flag(d, 45),
        abort: a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ste_basic_configs() {
        let c = ModelConfig::default();
        let mut w = [0u64; 8];
        assert_eq!(decode_ste(&w, &c), None);
        w[0] = 1; // V, Config 0 = abort
        assert_eq!(decode_ste(&w, &c).unwrap().kind, SteKind::Abort);
        w[0] = 1 | 4 << 1;
        assert_eq!(decode_ste(&w, &c).unwrap().kind, SteKind::Bypass);
        // Stage 2, 4K, T0SZ 25, SL0 1 (start level 1), PS 48, AA64, TTB.
        w[0] = 1 | 6 << 1;
        w[2] = 25 << 32 | 1 << 38 | 5 << 48 | 1 << 51 | 7;
        w[3] = 0x8000_0000;
        let s = decode_ste(&w, &c).unwrap();
        assert_eq!(s.kind, SteKind::S2);
        let s2 = s.s2.unwrap();
        assert_eq!(s2.walk.start_level, 1);
        assert_eq!(s2.vmid, 7);
        // SL0 0 (start level 2) would need 2^18 entries: inconsistent.
        w[2] = 25 << 32 | 5 << 48 | 1 << 51;
        assert_eq!(decode_ste(&w, &c), None);
        // Granule 16K not implemented by default.
        w[2] = 25 << 32 | 1 << 38 | 2 << 46 | 5 << 48 | 1 << 51;
        assert_eq!(decode_ste(&w, &c), None);
        // 64K granule (S2TG 0b01), T0SZ 16 (48-bit IPA), SL0 2: start at level 1, which
        // resolves IPA[47:42] (Arm ARM VTCR_EL2.SL0 for 64KB: 0b10 = level 1).
        w[2] = 16 << 32 | 2 << 38 | 1 << 46 | 5 << 48 | 1 << 51 | 9;
        let s2 = decode_ste(&w, &c).unwrap().s2.unwrap();
        assert_eq!((s2.walk.granule, s2.walk.start_level), (16, 1));
        // SL0 3 with a 64K granule is reserved.
        w[2] = 16 << 32 | 3 << 38 | 1 << 46 | 5 << 48 | 1 << 51 | 9;
        assert_eq!(decode_ste(&w, &c), None);
    }

    #[test]
    fn cd_basic() {
        let c = ModelConfig::default();
        let mut w = [0u64; 8];
        // T0SZ 16, TG0 4K, EPD1, V, IPS 48, AA64, R, A, ASID 5.
        w[0] = 16 | 1 << 30 | 1 << 31 | 5 << 32 | 1 << 41 | 1 << 45 | 1 << 46 | 5 << 48;
        w[1] = 0x8000_1000;
        let cd = decode_cd(&w, &c, false, false, false).unwrap();
        assert_eq!(cd.asid, 5);
        assert_eq!(cd.ttb[0].unwrap().walk.start_level, 0);
        assert!(cd.ttb[1].is_none());
        // TTB above IPS (32 bits).
        let mut w2 = w;
        w2[0] &= !(7 << 32);
        w2[1] = 1 << 33;
        assert_eq!(decode_cd(&w2, &c, false, false, false), None);
        // HA set.
        let mut w3 = w;
        w3[0] |= 1 << 43;
        assert_eq!(decode_cd(&w3, &c, false, false, false), None);
    }

    mod cross_check {
        //! The model's own reading of spec §2.3 / §2.5 must agree with smmu-regs'
        //! checks: a disagreement is a bug on one side.
        use super::super::*;
        use proptest::prelude::*;

        fn configs() -> [ModelConfig; 3] {
            [
                ModelConfig::default(),
                ModelConfig::default()
                    .vmid16(false)
                    .asid16(false)
                    .ssid_bits(0)
                    .cd2l(false)
                    .ats(false)
                    .oas_bits(40)
                    .version(crate::SmmuVersion::V3_0),
                ModelConfig::default()
                    .stall_model(0)
                    .term_model(true)
                    .stage1(false)
                    .hyp(false)
                    .gran16k(true)
                    .gran64k(false),
            ]
        }

        prop_compose! {
            fn ste_words()(
                v in 0u64..2, config in 0u64..8, fmt in 0u64..4,
                ctx in prop::sample::select(vec![0x4000_0000u64, 1 << 40, 1 << 48, 1 << 52]),
                cdmax in prop::sample::select(vec![0u64, 1, 8, 9, 20]),
                dss in 0u64..4, stalld in 0u64..2, eats in 0u64..4, strw in 0u64..4,
                vmid in prop::sample::select(vec![0u64, 5, 0x1FF]),
                t0sz in prop::sample::select(vec![10u64, 16, 24, 25, 34, 39, 40]),
                sl0 in 0u64..4, tg in 0u64..4, ps in 0u64..8, aa64 in 0u64..2,
                endi in 0u64..2, hahd in 0u64..4, s2s in 0u64..2, s2r in 0u64..2,
                ttb in prop::sample::select(vec![0x4000_0000u64, 1 << 40, 1 << 44, 1 << 48]),
            ) -> [u64; 8] {
                [
                    v | config << 1 | fmt << 4 | ctx | cdmax << 59,
                    dss | stalld << 27 | eats << 28 | strw << 30,
                    vmid | t0sz << 32 | sl0 << 38 | tg << 46 | ps << 48 | aa64 << 51
                        | endi << 52 | hahd << 55 | s2s << 57 | s2r << 58,
                    ttb,
                    0, 0, 0, 0,
                ]
            }
        }

        prop_compose! {
            fn cd_words()(
                t0sz in prop::sample::select(vec![10u64, 16, 25, 39, 40]),
                tg0 in 0u64..4, epd0 in 0u64..2, endi in 0u64..2,
                t1sz in prop::sample::select(vec![16u64, 39, 48]),
                tg1 in 0u64..4, epd1 in 0u64..2, v in 0u64..2, ips in 0u64..8,
                aa64 in 0u64..2, hdha in 0u64..4, s in 0u64..2, a in 0u64..2,
                asid in prop::sample::select(vec![0u64, 7, 0x100]),
                ttb0 in prop::sample::select(vec![0x4000_0000u64, 1 << 36, 1 << 44, 1 << 48]),
                ttb1 in prop::sample::select(vec![0x4000_0000u64, 1 << 44]),
            ) -> [u64; 8] {
                [
                    t0sz | tg0 << 6 | epd0 << 14 | endi << 15 | t1sz << 16 | tg1 << 22
                        | epd1 << 30 | v << 31 | ips << 32 | aa64 << 41 | hdha << 42
                        | s << 44 | a << 46 | asid << 48,
                    ttb0,
                    ttb1,
                    0, 0, 0, 0, 0,
                ]
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

            #[test]
            #[cfg_attr(miri, ignore)]
            fn ste_rules_agree(w in ste_words(), which in 0usize..3) {
                let c = &configs()[which];
                let theirs = smmu_regs::ste::Ste::from_words(w).check(&c.ste_caps());
                let ours = own_decode_ste(&w, c).is_some();
                prop_assert_eq!(theirs.is_ok(), ours, "smmu-regs says {:?}", theirs);
            }

            #[test]
            #[cfg_attr(miri, ignore)]
            fn cd_rules_agree(
                w in cd_words(), which in 0usize..3, stalld in any::<bool>(),
                el2 in any::<bool>(), e2h in any::<bool>(),
            ) {
                let c = &configs()[which];
                let ours = own_decode_cd(&w, c, stalld, el2, e2h).is_some();
                let theirs = decode_cd(&w, c, stalld, el2, e2h).is_some();
                prop_assert_eq!(theirs, ours);
            }
        }
    }
}
