//! Property tests: random hand-built page tables (stage 1 and stage 2) translate exactly
//! as the mapping says, and unmapped addresses fault with F_TRANSLATION.

mod common;
use common::*;
use proptest::prelude::*;
use smmu_model::{EventId, Transaction};
use std::collections::BTreeMap;

fn page_index() -> impl Strategy<Value = u64> {
    // Pages spread over the 48-bit space so that every level gets several tables.
    (0u64..4, 0u64..4, 0u64..8, 0u64..16).prop_map(|(a, b, c, d)| a << 27 | b << 18 | c << 9 | d)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn stage1_and_stage2_walks_match_the_mapping(
        mapped in prop::collection::btree_set(page_index(), 1..24),
        probes in prop::collection::vec((page_index(), 0u64..4096), 1..24),
    ) {
        let mut rig = Rig::new();
        rig.linear_strtab(3);
        let s1root = rig.page();
        let s2root = rig.page();
        let cd_page = rig.page();
        write_words(&rig.mem, cd_page, &cd(1, s1root, true));
        rig.write_ste(1, ste_s1(cd_page));
        rig.write_ste(2, ste_s2(7, s2root, true));
        let mut expect = BTreeMap::new();
        for &p in &mapped {
            let pa = rig.page();
            rig.map4k(s1root, p << 12, pa, S1_RW | S1_NG);
            rig.map4k(s2root, p << 12, pa, S2_RW);
            expect.insert(p, pa);
        }
        rig.enable();
        for (p, off) in probes.iter().copied().chain(mapped.iter().map(|&p| (p, 8))) {
            let addr = p << 12 | off;
            for sid in [1u32, 2] {
                let r = rig.smmu.translate(&Transaction::read(sid, addr, 1));
                match expect.get(&p) {
                    Some(&pa) => prop_assert_eq!(r.map(|t| t.pa), Ok(pa + off)),
                    None => prop_assert_eq!(
                        r.unwrap_err().event_id(),
                        Some(EventId::F_TRANSLATION)
                    ),
                }
            }
        }
    }
}
