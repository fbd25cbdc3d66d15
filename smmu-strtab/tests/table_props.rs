//! Linear and 2-level tables answer every lookup the same way, and what they publish
//! decodes, through an independent walker written from the spec rules
//! (`common::walk`), to the STE the table reports.

mod common;

use std::collections::BTreeMap;

use common::{TestMem, Walk, spec_ste_used, walk};
use proptest::prelude::*;
use smmu_regs::StreamId;
use smmu_strtab::{
    Coherency, DefaultSte, Ensured, FormatPolicy, LookupError, Split, StreamTable, StreamTableCaps,
    TablePolicy, WriteStep,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn noop(_: WriteStep) -> Result<(), ()> {
    Ok(())
}

/// (split, sid_bits): SIDSIZE from SPLIT to SPLIT + 3 (SPLIT 6 only under Miri, to keep
/// the linear table small).
fn geometry() -> impl Strategy<Value = (Split, u8)> {
    let splits = if cfg!(miri) {
        vec![Split::S6]
    } else {
        vec![Split::S6, Split::S8, Split::S10]
    };
    (
        prop::sample::select(splits),
        0u8..=if cfg!(miri) { 1 } else { 3 },
    )
        .prop_map(|(s, extra)| (s, s.bits() + extra))
}

/// A random valid STE (V = 1, any Config), restricted to its used bits.
fn ste() -> impl Strategy<Value = [u64; 8]> {
    (any::<[u64; 8]>(), 0u64..8).prop_map(|(mut w, cfg)| {
        w[0] = (w[0] & !0xf) | (cfg << 1) | 1;
        let u = spec_ste_used(&w);
        std::array::from_fn(|i| w[i] & u[i])
    })
}

fn lookup(t: &StreamTable<&TestMem>, sid: u32) -> Result<[u64; 8], LookupError> {
    t.ste(StreamId(sid)).map(|s| s.read().unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn linear_and_two_level_agree(
        (split, sid_bits) in geometry(),
        picks in prop::collection::vec((any::<u32>(), ste()), 0..12),
        bypass in any::<bool>(),
        coherent in any::<bool>(),
    ) {
        let mem = TestMem::new(coherent);
        let caps = StreamTableCaps { sid_bits, two_level: true, attr_types_ovr: true };
        let base = TablePolicy {
            split,
            coherency: if coherent { Coherency::Coherent } else { Coherency::NonCoherent },
            default_ste: if bypass { DefaultSte::Bypass } else { DefaultSte::Abort },
            ..TablePolicy::default()
        };
        let default = base.default_ste.words(true);
        let mut lin = StreamTable::new(&mem, caps, &TablePolicy { format: FormatPolicy::Linear, ..base }).unwrap();
        let mut two = StreamTable::new(&mem, caps, &TablePolicy { format: FormatPolicy::TwoLevel, ..base }).unwrap();
        prop_assert_eq!(lin.geometry().log2size(), sid_bits);
        prop_assert_eq!(two.geometry().log2size(), sid_bits);
        prop_assert_eq!(two.geometry().split(), Some(split));

        let num = 1u32 << sid_bits;
        let mut live: BTreeMap<u32, [u64; 8]> = BTreeMap::new();
        for (raw, ste) in &picks {
            let sid = raw % num;
            prop_assert_eq!(lin.ensure_sid(StreamId(sid)).unwrap(), Ensured::Present);
            let e = two.ensure_sid(StreamId(sid)).unwrap();
            prop_assert!(matches!(e, Ensured::Present | Ensured::NewL2));
            lin.ste(StreamId(sid)).unwrap().write(ste, &mut noop).unwrap();
            two.ste(StreamId(sid)).unwrap().write(ste, &mut noop).unwrap();
            live.insert(sid, *ste);
        }
        let l1_live = |sid: u32| live.keys().any(|s| s >> split.bits() == sid >> split.bits());

        let (lb, lc) = (lin.strtab_base(), lin.strtab_base_cfg());
        let (tb, tc) = (two.strtab_base(), two.strtab_base_cfg());
        // Every StreamID, plus a few beyond the table.
        for sid in (0..num).chain([num, num + 1, u32::MAX]) {
            let l = lookup(&lin, sid);
            let t = lookup(&two, sid);
            let wl = walk(&mem, lb, lc, u32::from(sid_bits), sid);
            let wt = walk(&mem, tb, tc, u32::from(sid_bits), sid);
            if sid >= num {
                assert!(matches!(l, Err(LookupError::OutOfRange { .. })));
                assert!(matches!(t, Err(LookupError::OutOfRange { .. })));
                prop_assert_eq!((wl, wt), (Walk::OutOfRange, Walk::OutOfRange));
                continue;
            }
            let expected = live.get(&sid).copied().unwrap_or(default);
            // Linear: every StreamID has an STE.
            prop_assert_eq!(l, Ok(expected));
            prop_assert_eq!(wl, Walk::Ste(expected));
            if l1_live(sid) {
                prop_assert_eq!(t, Ok(expected));
                prop_assert_eq!(wt, Walk::Ste(expected));
            } else {
                prop_assert_eq!(t, Err(LookupError::NotPopulated { sid: StreamId(sid) }));
                prop_assert_eq!(wt, Walk::OutOfRange);
            }
        }

        // The scan sees exactly the valid STEs the lookups see.
        let mut scanned = Vec::new();
        two.for_each_valid_ste(|sid, ste| { scanned.push((sid.0, *ste)); Ok::<(), ()>(()) }).unwrap();
        let expected: Vec<(u32, [u64; 8])> = (0..num)
            .filter(|&s| l1_live(s))
            .map(|s| (s, live.get(&s).copied().unwrap_or(default)))
            .collect();
        prop_assert_eq!(scanned, expected);

        drop(lin);
        drop(two);
        prop_assert_eq!(mem.live(), (0, 0), "every region released");
    }
}
