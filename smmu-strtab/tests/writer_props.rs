//! Property tests of the entry writer over random valid entry pairs: it always ends at the
//! target, never exposes a mixed entry at a sync (checked with used bits written
//! independently from the spec), takes at most 3 syncs, and goes through an invalid entry
//! only for breaking updates (or when the old or new entry is itself invalid).

mod common;

use common::{
    Recorder, TestMem, check_hitless, no_safe, spec_cd_used, spec_ste_safe, spec_ste_used,
};
use proptest::prelude::*;
use smmu_regs::StreamId;
use smmu_strtab::{
    CdSlot, Coherency, FormatPolicy, StreamTable, StreamTableCaps, TableMemory, TablePolicy,
    WriteStep,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn mask(e: [u64; 8], used: fn(&[u64; 8]) -> [u64; 8]) -> [u64; 8] {
    let u = used(&e);
    std::array::from_fn(|i| e[i] & u[i])
}

/// A random valid STE: V mostly 1, any Config, S1DSS any, the other bits random, then
/// restricted to its own used bits.
fn ste_header() -> impl Strategy<Value = (bool, u64, u64)> {
    (
        prop::bool::weighted(0.9),
        prop_oneof![Just(0u64), Just(4), Just(5), Just(6), Just(7), 0u64..8],
        0u64..4,
    )
}

fn build_ste(raw: [u64; 8], (v, cfg, s1dss): (bool, u64, u64)) -> [u64; 8] {
    let mut e = raw;
    e[0] = (e[0] & !0xf) | (cfg << 1) | u64::from(v);
    e[1] = (e[1] & !3) | s1dss;
    mask(e, spec_ste_used)
}

/// Pairs that share words often (so hitless paths are common): each target word is copied
/// from the initial entry when its bit in `share` is set.
fn ste_pair() -> impl Strategy<Value = ([u64; 8], [u64; 8])> {
    (
        any::<[u64; 8]>(),
        ste_header(),
        any::<[u64; 8]>(),
        ste_header(),
        any::<u8>(),
    )
        .prop_map(|(a_raw, ah, b_raw, bh, share)| {
            let a = build_ste(a_raw, ah);
            let b_mixed: [u64; 8] = std::array::from_fn(|i| {
                if share & (1 << i) != 0 {
                    a_raw[i]
                } else {
                    b_raw[i]
                }
            });
            (a, build_ste(b_mixed, bh))
        })
}

fn cd_pair() -> impl Strategy<Value = ([u64; 8], [u64; 8])> {
    let cd = |raw: [u64; 8], v: bool, epd0: bool| {
        let mut e = raw;
        e[0] = (e[0] & !((1 << 31) | (1 << 14))) | (u64::from(v) << 31) | (u64::from(epd0) << 14);
        mask(e, spec_cd_used)
    };
    (
        any::<[u64; 8]>(),
        any::<(bool, bool)>(),
        any::<[u64; 8]>(),
        any::<(bool, bool)>(),
        any::<u8>(),
    )
        .prop_map(move |(a_raw, (av, ae), b_raw, (bv, be), share)| {
            let b_mixed: [u64; 8] = std::array::from_fn(|i| {
                if share & (1 << i) != 0 {
                    a_raw[i]
                } else {
                    b_raw[i]
                }
            });
            (cd(a_raw, av, ae), cd(b_mixed, bv, be))
        })
}

fn noop(_: WriteStep) -> Result<(), ()> {
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ste_updates_are_never_mixed((init, target) in ste_pair(), coherent in any::<bool>()) {
        let mem = TestMem::new(coherent);
        let coherency = if coherent { Coherency::Coherent } else { Coherency::NonCoherent };
        let caps = StreamTableCaps { sid_bits: 1, two_level: false, attr_types_ovr: true };
        let policy = TablePolicy { format: FormatPolicy::Linear, coherency, ..TablePolicy::default() };
        let table = StreamTable::new(&mem, caps, &policy).unwrap();
        let slot = table.ste(StreamId(1)).unwrap();
        slot.write(&init, &mut noop).unwrap();
        let mut rec = Recorder::new(&mem, slot.pa().0);
        let report = slot.write(&target, &mut rec.hook()).unwrap();
        prop_assert_eq!(mem.peek_entry(slot.pa().0), target);
        let checked = check_hitless(&rec.seen, &init, &target, spec_ste_used, spec_ste_safe, 1);
        prop_assert_eq!(checked.syncs, report.syncs as usize);
        prop_assert!(report.syncs <= 3);
        if report.breaking {
            prop_assert_eq!(report.syncs, 3);
        }
        let endpoint_invalid = init[0] & 1 == 0 || target[0] & 1 == 0;
        prop_assert!(!checked.invalid_written || report.breaking || endpoint_invalid);
        prop_assert_eq!(report.syncs == 0, init == target);
    }

    #[test]
    fn cd_updates_are_never_mixed((init, target) in cd_pair(), coherent in any::<bool>()) {
        let mem = TestMem::new(coherent);
        let coherency = if coherent { Coherency::Coherent } else { Coherency::NonCoherent };
        let region = mem.alloc_zeroed(64, 64).unwrap();
        {
            let slot = CdSlot::new(&mem, &region, 0, coherency).unwrap();
            slot.write(&init, &mut noop).unwrap();
            let mut rec = Recorder::new(&mem, slot.pa().0);
            let report = slot.write(&target, &mut rec.hook()).unwrap();
            prop_assert_eq!(mem.peek_entry(slot.pa().0), target);
            let checked = check_hitless(&rec.seen, &init, &target, spec_cd_used, no_safe, 1 << 31);
            prop_assert!(report.syncs <= 3);
            let endpoint_invalid = init[0] & (1 << 31) == 0 || target[0] & (1 << 31) == 0;
            prop_assert!(!checked.invalid_written || report.breaking || endpoint_invalid);
        }
        // SAFETY: allocated above from `mem`, released once, the slot is gone.
        unsafe { mem.free(region) };
    }

    /// The crate's used-bit functions agree with the independent spec masks.
    #[test]
    fn used_bits_match_the_spec_tables(raw in any::<[u64; 8]>(), h in ste_header()) {
        let ste = build_ste(raw, h);
        prop_assert_eq!(smmu_strtab::ste_used(&ste), spec_ste_used(&ste));
        prop_assert_eq!(smmu_strtab::ste_used(&raw), spec_ste_used(&raw));
        prop_assert_eq!(smmu_strtab::cd_used(&raw), spec_cd_used(&raw));
        prop_assert_eq!(smmu_strtab::ste_update_safe(&raw, &ste), spec_ste_safe(&raw, &ste));
    }
}
