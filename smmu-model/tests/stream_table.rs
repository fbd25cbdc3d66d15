//! Stream-table walks and STE handling (spec §2.2–§2.4, §3, §7.3/§7.4 "spec" column).

mod common;
use common::*;
use smmu_model::{
    AbortCause, Disposition, EventId, Fault, ModelConfig, Transaction, TranslationKind,
};

fn rd(sid: u32) -> Transaction {
    Transaction::read(sid, 0x1234_5000, 8)
}

#[test]
fn smmu_disabled_uses_gbpa() {
    let rig = Rig::new();
    let t = rig.smmu.translate(&rd(77)).unwrap();
    assert_eq!(t.kind, TranslationKind::GlobalBypass);
    assert_eq!(t.pa, 0x1234_5000);
    rig.smmu.write32(GBPA, 1 << 31 | 1 << 20); // Update | ABORT
    assert_eq!(
        rig.smmu.translate(&rd(77)),
        Err(Fault::Aborted(AbortCause::GlobalAbort))
    );
    assert!(rig.events().is_empty(), "GBPA abort records nothing");
}

#[test]
fn linear_table_bypass_abort_and_bad_ste() {
    let mut rig = Rig::new();
    rig.linear_strtab(5);
    rig.write_ste(1, STE_BYPASS);
    rig.write_ste(2, STE_ABORT);
    // STE 3: V = 1, Config = 0b010 (reserved, behaves as abort).
    rig.write_ste(3, [1 | 0b010 << 1, 0, 0, 0, 0, 0, 0, 0]);
    // STE 4: V = 0.
    // STE 5: stage 2 with S2AA64 = 0 (ILLEGAL, §2.3 rule 6).
    rig.write_ste(
        5,
        [
            1 | 0b110 << 1,
            0,
            16 << 32 | 2 << 38 | 5 << 48,
            0,
            0,
            0,
            0,
            0,
        ],
    );
    // STE 6: STRW = 0b01 (ILLEGAL, §2.3 rule 4) on a stage-1 STE.
    let mut s6 = ste_s1(0x4000_0000);
    s6[1] = 1 << 30;
    rig.write_ste(6, s6);
    // STE 7: S1CDMax = 9 > SSIDSIZE = 8 (ILLEGAL, §2.3 rule 5).
    rig.write_ste(7, ste_s1_table(0x4000_0000, 0, 9, 0));
    // STE 8: EATS = 0b10 (split-stage ATS) on a stage-1 STE (ILLEGAL, rule 3).
    let mut s8 = ste_s1(0x4000_0000);
    s8[1] = 2 << 28;
    rig.write_ste(8, s8);
    // STE 9: stage 2 with S2TG = 3 (reserved).
    rig.write_ste(
        9,
        [
            1 | 0b110 << 1,
            0,
            s2_dw2(1, true) | 3 << 46,
            0x4000_0000,
            0,
            0,
            0,
            0,
        ],
    );
    rig.enable();

    let t = rig.smmu.translate(&rd(1)).unwrap();
    assert_eq!((t.pa, t.kind), (0x1234_5000, TranslationKind::SteBypass));
    for sid in [2, 3] {
        assert_eq!(
            rig.smmu.translate(&rd(sid)),
            Err(Fault::Aborted(AbortCause::SteAbort)),
            "sid {sid}"
        );
    }
    assert!(rig.events().is_empty(), "Config = abort records nothing");
    for sid in [4, 5, 6, 7, 8, 9] {
        let f = rig.smmu.translate(&rd(sid)).unwrap_err();
        assert_eq!(f.event_id(), Some(EventId::C_BAD_STE), "sid {sid}");
    }
    let ev = rig.events();
    assert_eq!(ev.len(), 6);
    for (e, sid) in ev.iter().zip([4u64, 5, 6, 7, 8, 9]) {
        assert_eq!(e[0], C_BAD_STE | sid << 32);
    }
}

#[test]
fn bad_streamid_gated_by_recinvsid() {
    let mut rig = Rig::new();
    rig.linear_strtab(4); // 16 STEs
    rig.enable();
    let f = rig.smmu.translate(&rd(16)).unwrap_err();
    assert_eq!(f.event_id(), Some(EventId::C_BAD_STREAMID));
    assert_eq!(rig.event_ids(), vec![C_BAD_STREAMID]);
    // SubstreamID is carried in the record with SSV.
    let _ = rig.smmu.translate(&rd(20).with_ssid(3));
    assert_eq!(
        rig.events()[0][0],
        C_BAD_STREAMID | 1 << 11 | 3 << 12 | 20 << 32
    );

    // RECINVSID = 0: aborted, not recorded (CR2 can only change while disabled).
    rig.smmu.write32(CR0, CMDQEN | EVENTQEN);
    rig.smmu.write32(CR2, 0);
    rig.enable();
    match rig.smmu.translate(&rd(16)).unwrap_err() {
        Fault::Event {
            record,
            disposition,
            ..
        } => {
            assert_eq!(record.id, EventId::C_BAD_STREAMID);
            assert_eq!(disposition, Disposition::NotRecorded);
        }
        other => panic!("{other:?}"),
    }
    assert!(rig.events().is_empty());
    assert_eq!(rig.smmu.fault_count(EventId::C_BAD_STREAMID), 3);
}

#[test]
fn sid_bound_is_min_of_log2size_and_sidsize() {
    let mut rig = Rig::with_config(ModelConfig::default().sid_bits(4));
    // LOG2SIZE 6 but SIDSIZE 4: SIDs 16..63 are out of range.
    rig.linear_strtab(6);
    rig.write_ste(15, STE_BYPASS);
    rig.write_ste(16, STE_BYPASS);
    rig.enable();
    assert!(rig.smmu.translate(&rd(15)).is_ok());
    assert_eq!(
        rig.smmu.translate(&rd(16)).unwrap_err().event_id(),
        Some(EventId::C_BAD_STREAMID)
    );
}

#[test]
fn linear_base_aligned_with_literal_log2size() {
    let mut rig = Rig::new();
    // A 16-entry table (1 KiB) at 0x...0400 inside a 4 KiB page, but LOG2SIZE = 6
    // (64 entries, 4 KiB): the SMMU ignores ADDR[11:0] and walks from the page start.
    let page = rig.alloc(4096, 4096);
    rig.smmu.write64(STRTAB_BASE, page + 0x400);
    rig.smmu.write32(STRTAB_BASE_CFG, 6);
    rig.strtab = page;
    rig.write_ste(2, STE_BYPASS); // at page + 2*64, not page + 0x400 + 2*64
    rig.enable();
    assert!(rig.smmu.translate(&rd(2)).is_ok());
}

#[test]
fn ste_fetch_abort_is_f_ste_fetch_and_not_cached() {
    let rig = Rig::new();
    // Table base outside RAM.
    rig.smmu.write64(STRTAB_BASE, 0x1000_0000);
    rig.smmu.write32(STRTAB_BASE_CFG, 4);
    rig.enable();
    let _ = rig.smmu.translate(&rd(3));
    let ev = rig.events();
    assert_eq!(ev[0][0], F_STE_FETCH | 3 << 32);
    assert_eq!(ev[0][3], 0x1000_0000 + 3 * 64, "FetchAddr in dw3");

    // Injected read fault on a good table: F_STE_FETCH, then success once cleared
    // (the failed fetch was not cached).
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    rig.write_ste(3, STE_BYPASS);
    rig.enable();
    rig.mem.inject_read_fault(rig.ste_addr(3) + 8, 8);
    assert_eq!(
        rig.smmu.translate(&rd(3)).unwrap_err().event_id(),
        Some(EventId::F_STE_FETCH)
    );
    rig.mem.clear_read_faults();
    assert!(rig.smmu.translate(&rd(3)).is_ok());
    assert_eq!(rig.event_ids(), vec![F_STE_FETCH]);
}

/// A 2-level table with LOG2SIZE = 16, SPLIT = 8: L1 of 256 descriptors.
fn two_level(rig: &mut Rig) -> u64 {
    let l1 = rig.alloc(256 * 8, 4096);
    rig.smmu.write64(STRTAB_BASE, l1);
    // §1.6 STRTAB_BASE_CFG: FMT[17:16] = 1, SPLIT[10:6] = 8, LOG2SIZE[5:0] = 16.
    rig.smmu.write32(STRTAB_BASE_CFG, 1 << 16 | 8 << 6 | 16);
    l1
}

#[test]
fn two_level_walk_and_span_rules() {
    let mut rig = Rig::new();
    let l1 = two_level(&mut rig);
    // L1[1] (SIDs 256..511): Span 9 → 256 STEs (§2.4), L2 16 KiB aligned.
    let l2a = rig.alloc(256 * 64, 16384);
    rig.mem.write_u64(l1 + 8, l2a | 9).unwrap();
    // L1[2] (SIDs 512..767): Span 3 → only 4 STEs.
    let l2b = rig.alloc(4096, 4096);
    rig.mem.write_u64(l1 + 16, l2b | 3).unwrap();
    // L1[3]: Span 10 > SPLIT + 1 (invalid). L1[4]: Span 12 (reserved). L1[5]: Span 0.
    rig.mem.write_u64(l1 + 24, l2a | 10).unwrap();
    rig.mem.write_u64(l1 + 32, l2a | 12).unwrap();
    // L1[6]: points outside RAM.
    rig.mem.write_u64(l1 + 48, 0x2000_0000 | 9).unwrap();
    rig.write_ste_at(l2a + 0x42 * 64, STE_BYPASS);
    rig.write_ste_at(l2b + 3 * 64, STE_BYPASS);
    rig.enable();

    assert!(rig.smmu.translate(&rd(0x142)).is_ok());
    assert_eq!(
        rig.smmu.translate(&rd(0x141)).unwrap_err().event_id(),
        Some(EventId::C_BAD_STE)
    );
    assert!(rig.smmu.translate(&rd(0x203)).is_ok());
    for sid in [0x204u32, 0x242, 0x300, 0x400, 0x500, 0xFF00] {
        assert_eq!(
            rig.smmu.translate(&rd(sid)).unwrap_err().event_id(),
            Some(EventId::C_BAD_STREAMID),
            "sid {sid:#x}"
        );
    }
    assert_eq!(
        rig.smmu.translate(&rd(0x10000)).unwrap_err().event_id(),
        Some(EventId::C_BAD_STREAMID),
        "SID beyond LOG2SIZE"
    );
    assert_eq!(
        rig.smmu.translate(&rd(0x601)).unwrap_err().event_id(),
        Some(EventId::F_STE_FETCH)
    );
    let ev = rig.events();
    let last = ev.last().unwrap();
    assert_eq!(last[3], 0x2000_0000 + 64, "FetchAddr of the L2 STE");
}

#[test]
fn l2ptr_low_bits_are_ignored() {
    let mut rig = Rig::new();
    let l1 = two_level(&mut rig);
    let l2 = rig.alloc(256 * 64, 16384);
    // L2Ptr with bits [13:6] set: with Span 9 they are treated as zero (§2.4).
    rig.mem.write_u64(l1, (l2 + 0x1040) | 9).unwrap();
    rig.write_ste_at(l2 + 5 * 64, STE_BYPASS);
    rig.enable();
    assert!(rig.smmu.translate(&rd(5)).is_ok());
}

#[test]
fn l1_descriptor_cached_until_non_leaf_cfgi() {
    let mut rig = Rig::new();
    let l1 = two_level(&mut rig);
    let l2a = rig.alloc(256 * 64, 16384);
    let l2b = rig.alloc(256 * 64, 16384);
    rig.mem.write_u64(l1, l2a | 9).unwrap();
    rig.write_ste_at(l2a + 7 * 64, STE_BYPASS);
    rig.write_ste_at(l2b + 7 * 64, STE_ABORT);
    rig.enable();
    assert!(rig.smmu.translate(&rd(7)).is_ok());
    // Point L1[0] at another L2 table; a leaf CFGI_STE drops the STE but not the L1STD.
    rig.mem.write_u64(l1, l2b | 9).unwrap();
    rig.cfgi_ste(7);
    assert!(rig.smmu.translate(&rd(7)).is_ok(), "stale L1STD still used");
    // CFGI_STE with Leaf = 0 also drops the L1STD.
    rig.submit(0x03 | 7 << 32, 0);
    rig.sync();
    assert_eq!(
        rig.smmu.translate(&rd(7)),
        Err(Fault::Aborted(AbortCause::SteAbort))
    );
}

#[test]
fn stale_ste_until_cfgi_ste() {
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    rig.write_ste(1, STE_BYPASS);
    rig.enable();
    assert!(rig.smmu.translate(&rd(1)).is_ok());
    rig.write_ste(1, STE_ABORT);
    assert!(
        rig.smmu.translate(&rd(1)).is_ok(),
        "cached STE still bypass"
    );
    rig.cfgi_ste(2); // the wrong SID changes nothing
    assert!(rig.smmu.translate(&rd(1)).is_ok());
    rig.cfgi_ste(1);
    assert!(rig.smmu.translate(&rd(1)).is_err());
    // An invalid STE is cached too: making it valid needs a CFGI_STE.
    rig.write_ste(4, [0; 8]);
    assert!(rig.smmu.translate(&rd(4)).is_err());
    rig.write_ste(4, STE_BYPASS);
    assert!(rig.smmu.translate(&rd(4)).is_err(), "cached invalid STE");
    rig.cfgi_all();
    assert!(rig.smmu.translate(&rd(4)).is_ok());
}

#[test]
fn smmuen_toggle_does_not_invalidate() {
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    rig.write_ste(1, STE_BYPASS);
    rig.enable();
    assert!(rig.smmu.translate(&rd(1)).is_ok());
    rig.write_ste(1, STE_ABORT);
    rig.smmu.write32(CR0, CMDQEN | EVENTQEN);
    rig.enable();
    assert!(
        rig.smmu.translate(&rd(1)).is_ok(),
        "still the cached bypass"
    );
}

#[test]
fn strtab_base_write_ignored_while_enabled() {
    let mut rig = Rig::new();
    let old = rig.linear_strtab(4);
    rig.write_ste(1, STE_BYPASS);
    rig.enable();
    let new = rig.alloc(4096, 4096);
    write_words(&rig.mem, new + 64, &STE_ABORT);
    rig.smmu.write64(STRTAB_BASE, new);
    rig.smmu.write32(STRTAB_BASE_CFG, 2);
    assert_eq!(rig.smmu.read64(STRTAB_BASE), old);
    rig.cfgi_all();
    assert!(
        rig.smmu.translate(&rd(1)).is_ok(),
        "the live (old) table is still walked"
    );
}
