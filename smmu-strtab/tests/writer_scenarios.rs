//! Entry-writer transition scenarios (spec smmuv3.md §8.2, the Linux kunit list), with the
//! entries written by hand from the spec field tables (§2.1, §2.5) and the expected sync
//! counts derived by hand from the §8.1 rules.
//!
//! Every transition runs on a coherent and on a non-coherent (simulated cache) memory. A
//! recorder reads the entry as the *device* sees it at each sync and checks that the bits
//! the entry uses at that moment (minus the update-safe bits) equal the old or the new
//! entry; the used bits in that check come from `common::spec_*_used`, written
//! independently of the crate.

mod common;

use common::{
    Event, Recorder, TestMem, check_hitless, no_safe, spec_cd_used, spec_ste_safe, spec_ste_used,
};
use smmu_regs::StreamId;
use smmu_strtab::{
    CdSlot, Coherency, FormatPolicy, StreamTable, StreamTableCaps, TableMemory, TablePolicy,
    WriteReport, WriteStep,
};

// ---- STE building blocks (spec §2.1) ----------------------------------------------------
const V: u64 = 1;
const CFG_ABORT: u64 = 0 << 1;
const CFG_BYPASS: u64 = 4 << 1;
const CFG_S1: u64 = 5 << 1;
const CFG_S2: u64 = 6 << 1;
const CFG_NESTED: u64 = 7 << 1;
/// S1ContextPtr (dw0[55:6]) of two CD tables.
const CDTAB: u64 = 0x0001_2345_6000;
const CDTAB2: u64 = 0x0001_8000_0000;
/// S1CDMax = 8 (dw0[63:59]), S1Fmt = linear (0).
const S1CDMAX: u64 = 8 << 59;
/// dw1: S1DSS values [1:0].
const S1DSS_BYPASS: u64 = 1;
const S1DSS_SSID0: u64 = 2;
/// dw1: S1CIR = S1COR = WB-RA (1), S1CSH = ISH (3).
const S1_CACHE: u64 = (1 << 2) | (1 << 4) | (3 << 6);
/// dw1[19] MEV, dw1[27] S1STALLD, dw1[29:28] EATS = full ATS, dw1[45:44] SHCFG = incoming.
const MEV: u64 = 1 << 19;
const S1STALLD: u64 = 1 << 27;
const EATS_TRANS: u64 = 1 << 28;
const SHCFG_INCOMING: u64 = 1 << 44;
/// dw2 VTCR group: S2T0SZ=25, S2SL0=1, S2IR0=S2OR0=WB, S2SH0=ISH, S2TG=4K, S2PS=48 bits.
const VTCR: u64 = (25 << 32) | (1 << 38) | (1 << 40) | (1 << 42) | (3 << 44) | (5 << 48);
/// dw2: S2AA64[51], S2PTW[54], S2S[57], S2R[58].
const S2AA64: u64 = 1 << 51;
const S2PTW: u64 = 1 << 54;
const S2S: u64 = 1 << 57;
const S2R: u64 = 1 << 58;
/// dw3: S2TTB [55:4].
const S2TTB: u64 = 0x0002_0000_1000;

const ABORT: [u64; 8] = [V | CFG_ABORT, 0, 0, 0, 0, 0, 0, 0];
const BYPASS: [u64; 8] = [V | CFG_BYPASS, SHCFG_INCOMING, 0, 0, 0, 0, 0, 0];

/// Stage-1 STE pointing at a linear CD table. `stall`: stalls allowed (no S1STALLD).
fn cdtable(s1dss: u64, ats: bool, stall: bool, cdtab: u64) -> [u64; 8] {
    let mut dw1 = s1dss | S1_CACHE;
    if !stall {
        dw1 |= S1STALLD;
    }
    if ats {
        dw1 |= EATS_TRANS;
    }
    if s1dss == S1DSS_BYPASS {
        dw1 |= SHCFG_INCOMING;
    }
    [V | CFG_S1 | cdtab | S1CDMAX, dw1, 0, 0, 0, 0, 0, 0]
}

/// Stage-2-only STE. `stall`: S2S = 1.
fn s2(ats: bool, stall: bool, vmid: u64) -> [u64; 8] {
    let dw1 = SHCFG_INCOMING | if ats { EATS_TRANS } else { 0 };
    let dw2 = vmid | VTCR | S2AA64 | S2PTW | S2R | if stall { S2S } else { 0 };
    [V | CFG_S2, dw1, dw2, S2TTB, 0, 0, 0, 0]
}

/// Nested STE: a CD table (guest's) plus the stage-2 fields.
fn nested(s1dss: u64, ats: bool) -> [u64; 8] {
    let mut ste = s2(ats, false, 0);
    let s1 = cdtable(s1dss, false, false, CDTAB);
    ste[0] = V | CFG_NESTED | CDTAB | S1CDMAX;
    ste[1] |= s1[1];
    ste
}

// ---- CD building blocks (spec §2.5) -----------------------------------------------------
const CD_V: u64 = 1 << 31;
const CD_EPD0: u64 = 1 << 14;
const CD_S: u64 = 1 << 44;
const CD_R: u64 = 1 << 45;
/// dw0: T0SZ=16, TG0=4K, IR0=OR0=WB (1), SH0=ISH (3): bits [13:0].
const CD_TTB0_CFG: u64 = 16 | (1 << 8) | (1 << 10) | (3 << 12);
/// dw0: EPD1[30], IPS=48 bits [34:32], AA64[41], A[46].
const CD_COMMON: u64 = (1 << 30) | (5 << 32) | (1 << 41) | (1 << 46);
const CD_ASET: u64 = 1 << 47;
const fn asid(a: u64) -> u64 {
    a << 48
}
const MAIR: u64 = 0x0000_0000_0044_ff04;

/// A stage-1 kernel-domain CD.
fn s1_cd(asid_val: u64) -> [u64; 8] {
    [
        CD_V | CD_TTB0_CFG | CD_COMMON | CD_R | CD_ASET | asid(asid_val),
        0x0003_0000_0000,
        0,
        MAIR,
        0,
        0,
        0,
        0,
    ]
}

/// An SVA CD (ASID shared with the CPU, stalls and fault recording on).
fn sva_cd() -> [u64; 8] {
    [
        CD_V | CD_TTB0_CFG | CD_COMMON | CD_S | CD_R | asid(7),
        0x0004_5678_0000,
        0,
        MAIR,
        0,
        0,
        0,
        0,
    ]
}

/// The SVA CD after release: EPD0 = 1, S and R cleared, the TTB0 fields (now unused) zero.
fn sva_released() -> [u64; 8] {
    let mut cd = sva_cd();
    cd[0] = (cd[0] & !(CD_TTB0_CFG | CD_S | CD_R)) | CD_EPD0;
    cd[1] = 0;
    cd
}

// ---- harness ----------------------------------------------------------------------------

struct Outcome {
    report: WriteReport,
    syncs: usize,
    invalid_written: bool,
    steps: Vec<WriteStep>,
}

fn noop(_: WriteStep) -> Result<(), ()> {
    Ok(())
}

/// Checks that on a non-coherent memory every sync is preceded by a clean of the entry,
/// and that a coherent memory sees no cache maintenance.
fn check_clean_order(events: &[Event], coherent: bool, entry_pa: u64) {
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Sync(_) if !coherent => {
                assert_eq!(
                    i.checked_sub(1).map(|j| events[j]),
                    Some(Event::Clean {
                        pa: entry_pa,
                        len: 64
                    }),
                    "sync not preceded by a clean: {events:?}"
                );
            }
            Event::Clean { .. } | Event::Invalidate { .. } if coherent => {
                panic!("cache maintenance on a coherent SMMU: {events:?}")
            }
            _ => {}
        }
    }
}

fn ste_transition(init: [u64; 8], target: [u64; 8], coherent: bool) -> Outcome {
    let mem = TestMem::new(coherent);
    let coherency = if coherent {
        Coherency::Coherent
    } else {
        Coherency::NonCoherent
    };
    let caps = StreamTableCaps {
        sid_bits: 2,
        two_level: false,
        attr_types_ovr: true,
    };
    let policy = TablePolicy {
        format: FormatPolicy::Linear,
        coherency,
        ..TablePolicy::default()
    };
    let table = StreamTable::new(&mem, caps, &policy).unwrap();
    let slot = table.ste(StreamId(1)).unwrap();
    slot.write(&init, &mut noop).unwrap();
    assert_eq!(mem.peek_entry(slot.pa().0), init);
    mem.clear_events();
    let mut rec = Recorder::new(&mem, slot.pa().0);
    let report = slot.write(&target, &mut rec.hook()).unwrap();
    assert_eq!(
        mem.peek_entry(slot.pa().0),
        target,
        "device view differs from the target"
    );
    assert_eq!(slot.read().unwrap(), target);
    check_clean_order(&mem.events(), coherent, slot.pa().0);
    let checked = check_hitless(&rec.seen, &init, &target, spec_ste_used, spec_ste_safe, 1);
    assert_eq!(report.syncs as usize, checked.syncs);
    Outcome {
        report,
        syncs: checked.syncs,
        invalid_written: checked.invalid_written,
        steps: rec.seen.iter().map(|(s, _)| *s).collect(),
    }
}

fn cd_transition(init: [u64; 8], target: [u64; 8], coherent: bool) -> Outcome {
    let mem = TestMem::new(coherent);
    let coherency = if coherent {
        Coherency::Coherent
    } else {
        Coherency::NonCoherent
    };
    let region = mem.alloc_zeroed(4 * 64, 64).unwrap();
    let outcome = {
        let slot = CdSlot::new(&mem, &region, 2, coherency).unwrap();
        slot.write(&init, &mut noop).unwrap();
        mem.clear_events();
        let mut rec = Recorder::new(&mem, slot.pa().0);
        let report = slot.write(&target, &mut rec.hook()).unwrap();
        assert_eq!(mem.peek_entry(slot.pa().0), target);
        check_clean_order(&mem.events(), coherent, slot.pa().0);
        let checked = check_hitless(&rec.seen, &init, &target, spec_cd_used, no_safe, CD_V);
        Outcome {
            report,
            syncs: checked.syncs,
            invalid_written: checked.invalid_written,
            steps: rec.seen.iter().map(|(s, _)| *s).collect(),
        }
    };
    // SAFETY: allocated above from `mem`, released once, no slot refers to it any more.
    unsafe { mem.free(region) };
    outcome
}

/// Runs `init → target` on both memories and checks the expected sync count, whether the
/// update is breaking, and whether an invalid entry was ever visible.
#[track_caller]
fn expect_ste(init: [u64; 8], target: [u64; 8], syncs: usize, breaking: bool) {
    for coherent in [true, false] {
        let o = ste_transition(init, target, coherent);
        assert_eq!(
            o.syncs, syncs,
            "sync count (coherent={coherent}), steps {:?}",
            o.steps
        );
        assert_eq!(
            o.report.breaking, breaking,
            "breaking (coherent={coherent})"
        );
        // "Invalid entry written" only for breaking updates (all STEs here are valid).
        assert_eq!(
            o.invalid_written, breaking,
            "invalid entry written (coherent={coherent})"
        );
    }
}

#[track_caller]
fn expect_cd(init: [u64; 8], target: [u64; 8], syncs: usize, invalid_written: bool) {
    for coherent in [true, false] {
        let o = cd_transition(init, target, coherent);
        assert_eq!(
            o.syncs, syncs,
            "sync count (coherent={coherent}), steps {:?}",
            o.steps
        );
        assert!(!o.report.breaking);
        assert_eq!(
            o.invalid_written, invalid_written,
            "invalid entry (coherent={coherent})"
        );
    }
}

// ---- STE scenarios ------------------------------------------------------------------------

#[test]
fn write_ste_test_bypass_to_abort() {
    // Critical: dw0 (Config 4 → 0). dw1 SHCFG is used only by the old entry.
    // Step 1 changes nothing (SHCFG is still used); step 2 writes dw0 (sync 1); step 3
    // clears SHCFG (sync 2).
    expect_ste(BYPASS, ABORT, 2, false);
}

#[test]
fn write_ste_test_abort_to_bypass() {
    // Critical: dw0. Step 1 sets SHCFG, unused by abort (sync 1); step 2 dw0 (sync 2);
    // step 3 nothing left.
    expect_ste(ABORT, BYPASS, 2, false);
}

#[test]
fn write_ste_test_cdtable_to_abort() {
    // Critical: dw0 only (abort uses nothing outside dw0[3:0]). Step 1: nothing (all of
    // the old dw1 is used); dw0 (sync 1); clear dw1 (sync 2).
    expect_ste(cdtable(S1DSS_SSID0, true, false, CDTAB), ABORT, 2, false);
}

#[test]
fn write_ste_test_abort_to_cdtable() {
    // Critical: dw0. dw1 unused by abort: written first (sync 1); dw0 (sync 2).
    expect_ste(ABORT, cdtable(S1DSS_SSID0, true, false, CDTAB), 2, false);
}

#[test]
fn write_ste_test_cdtable_to_bypass() {
    // Critical: dw0. dw1: SHCFG is unused by the S1DSS=SSID0 entry, so step 1 sets it
    // (sync 1); dw0 (sync 2); step 3 clears the stage-1 fields of dw1 (sync 3).
    expect_ste(cdtable(S1DSS_SSID0, true, false, CDTAB), BYPASS, 3, false);
}

#[test]
fn write_ste_test_bypass_to_cdtable() {
    // Critical: dw0. Step 1 adds the stage-1 fields to dw1 (sync 1), dw0 (sync 2), step 3
    // clears SHCFG (sync 3).
    expect_ste(BYPASS, cdtable(S1DSS_SSID0, true, false, CDTAB), 3, false);
}

#[test]
fn write_ste_test_cdtable_s1dss_change() {
    // Only dw1 changes and S1DSS is used by both: dw1 is the single critical word, written
    // in full in step 2 (S1DSS and SHCFG together): 1 sync each way.
    let ssid0 = cdtable(S1DSS_SSID0, false, false, CDTAB);
    let bypass = cdtable(S1DSS_BYPASS, false, false, CDTAB);
    expect_ste(ssid0, bypass, 1, false);
    expect_ste(bypass, ssid0, 1, false);
}

#[test]
fn write_ste_test_s1dssbypass_to_stebypass() {
    // Critical: dw0. dw1 SHCFG is used by both with the same value; step 1 has nothing to
    // do; dw0 (sync 1); clear the stage-1 fields (sync 2).
    expect_ste(cdtable(S1DSS_BYPASS, true, false, CDTAB), BYPASS, 2, false);
}

#[test]
fn write_ste_test_stebypass_to_s1dssbypass() {
    // Critical: dw0. Step 1 writes the stage-1 fields of dw1 (sync 1); dw0 (sync 2).
    expect_ste(BYPASS, cdtable(S1DSS_BYPASS, true, false, CDTAB), 2, false);
}

#[test]
fn write_ste_test_s2_to_abort() {
    // Critical: dw0. dw1..dw3 are all used by S2: nothing in step 1; dw0 (sync 1); clear
    // dw1..dw3 (sync 2).
    expect_ste(s2(true, false, 0), ABORT, 2, false);
}

#[test]
fn write_ste_test_abort_to_s2() {
    // Critical: dw0. dw1..dw3 first (sync 1), dw0 (sync 2).
    expect_ste(ABORT, s2(true, false, 0), 2, false);
}

#[test]
fn write_ste_test_s2_to_bypass() {
    // Critical: dw0. SHCFG is the same in both; dw0 (sync 1); clear EATS and dw2/dw3
    // (sync 2).
    expect_ste(s2(true, false, 0), BYPASS, 2, false);
}

#[test]
fn write_ste_test_bypass_to_s2() {
    // Critical: dw0. EATS, dw2, dw3 first (sync 1), dw0 (sync 2).
    expect_ste(BYPASS, s2(true, false, 0), 2, false);
}

#[test]
fn write_ste_test_s1_to_s2() {
    // Critical: dw0 only: EATS (full ATS in both) and MEV are update-safe; S2VMID is 0 in
    // both. Step 1: SHCFG, VTCR & co, S2TTB (sync 1); dw0 (sync 2); clear the stage-1
    // fields of dw1 (sync 3).
    expect_ste(
        cdtable(S1DSS_SSID0, true, false, CDTAB),
        s2(true, false, 0),
        3,
        false,
    );
}

#[test]
fn write_ste_test_s2_to_s1() {
    // Mirror image: stage-1 fields first (sync 1), dw0 (sync 2), clear SHCFG/dw2/dw3
    // (sync 3).
    expect_ste(
        s2(true, false, 0),
        cdtable(S1DSS_SSID0, true, false, CDTAB),
        3,
        false,
    );
}

#[test]
fn write_ste_test_non_hitless() {
    // dw0 (S1ContextPtr) and dw1 (S1DSS) are both critical: breaking update. V=0 (sync 1),
    // dw1..7 (sync 2), dw0 (sync 3).
    let o = ste_transition(
        cdtable(S1DSS_SSID0, false, false, CDTAB),
        cdtable(S1DSS_BYPASS, false, false, CDTAB2),
        true,
    );
    assert_eq!(
        o.steps,
        [WriteStep::Invalidate, WriteStep::Body, WriteStep::Validate]
    );
    assert_eq!(o.report.critical, 0b11);
    expect_ste(
        cdtable(S1DSS_SSID0, false, false, CDTAB),
        cdtable(S1DSS_BYPASS, false, false, CDTAB2),
        3,
        true,
    );
}

#[test]
fn write_ste_test_s1_to_s2_stall() {
    // S2S = 1 in the target makes EATS not update-safe, but EATS is 0 in both. Critical:
    // dw0 only; 3 syncs as for s1_to_s2.
    expect_ste(
        cdtable(S1DSS_SSID0, false, true, CDTAB),
        s2(false, true, 0),
        3,
        false,
    );
}

#[test]
fn write_ste_test_s2_to_s1_stall() {
    expect_ste(
        s2(false, true, 0),
        cdtable(S1DSS_SSID0, false, true, CDTAB),
        3,
        false,
    );
}

#[test]
fn write_ste_test_nested_s1dssbypass_to_s1bypass() {
    // Nested(S1DSS=bypass, ATS) → S2 without ATS. Critical: dw0 (Config 7 → 6). EATS[0] is
    // update-safe (no S1CHK, no S2S), so step 1 clears it (sync 1); dw0 (sync 2); step 3
    // clears the stage-1 fields of dw1 (sync 3).
    expect_ste(nested(S1DSS_BYPASS, true), s2(false, false, 0), 3, false);
}

#[test]
fn write_ste_test_nested_s1bypass_to_s1dssbypass() {
    // S2 without ATS → nested(S1DSS=bypass, ATS). Critical: dw0. Step 1 writes the stage-1
    // fields and the (safe) EATS bit (sync 1); dw0 (sync 2); nothing left for step 3.
    expect_ste(s2(false, false, 0), nested(S1DSS_BYPASS, true), 2, false);
}

// Beyond the kunit list.

#[test]
fn s1_to_s2_with_a_new_vmid_is_breaking() {
    // S2VMID is used by both: changing it with Config makes dw0 and dw2 critical.
    expect_ste(
        cdtable(S1DSS_SSID0, true, false, CDTAB),
        s2(true, false, 5),
        3,
        true,
    );
}

#[test]
fn safe_bits_change_directly() {
    // MEV alone, and EATS full-ATS on/off: update-safe, no critical word, one direct write.
    let with_mev = {
        let mut s = s2(true, false, 3);
        s[1] |= MEV;
        s
    };
    expect_ste(s2(true, false, 3), with_mev, 1, false);
    let o = ste_transition(
        cdtable(S1DSS_SSID0, true, false, CDTAB),
        cdtable(S1DSS_SSID0, false, false, CDTAB),
        true,
    );
    assert_eq!(
        (o.steps.as_slice(), o.report.critical),
        ([WriteStep::Direct].as_slice(), 0)
    );
}

#[test]
fn eats_is_not_safe_next_to_s2s() {
    // S2 with S2S=1: an EATS change is not update-safe and dw1 is the single critical word.
    // (EATS=1 with S2S=1 is ILLEGAL for the SMMU, spec §2.3; the writer rule is what is
    // tested here.)
    let mut a = s2(false, true, 1);
    a[1] |= EATS_TRANS;
    let o = ste_transition(s2(false, true, 1), a, true);
    assert_eq!(
        (o.report.critical, o.steps.as_slice()),
        (0b10, [WriteStep::Critical { word: 1 }].as_slice())
    );
}

#[test]
fn rewriting_the_same_entry_does_not_sync() {
    expect_ste(BYPASS, BYPASS, 0, false);
}

// ---- CD scenarios -------------------------------------------------------------------------

#[test]
fn write_cd_test_s1_clear() {
    // 0 → S1: only V is used by the invalid CD: dw1..7 first (sync 1), then dw0 (sync 2).
    // The entry is invalid until the last step (it starts invalid).
    expect_cd([0; 8], s1_cd(1), 2, true);
    // S1 → 0: every bit is used; dw0 := 0 (sync 1), then the rest (sync 2).
    expect_cd(s1_cd(1), [0; 8], 2, true);
}

#[test]
fn write_cd_test_s1_change_asid() {
    // Only dw0 differs: single critical word written in full: 1 sync each way.
    expect_cd(s1_cd(1), s1_cd(2), 1, false);
    expect_cd(s1_cd(2), s1_cd(1), 1, false);
}

#[test]
fn write_cd_test_sva_clear() {
    expect_cd([0; 8], sva_cd(), 2, true);
    expect_cd(sva_cd(), [0; 8], 2, true);
}

#[test]
fn write_cd_test_sva_release() {
    // SVA → released: dw0 critical (EPD0, S, R); step 1 has nothing to do (the old CD uses
    // every bit); dw0 (sync 1); clear TTB0, now unused (sync 2).
    expect_cd(sva_cd(), sva_released(), 2, false);
    // Released → SVA: TTB0 is unused by the released CD: written first (sync 1), then dw0
    // (sync 2).
    expect_cd(sva_released(), sva_cd(), 2, false);
}

#[test]
fn cd_and_ste_rules_are_not_mixed_up() {
    // The same words are an invalid STE? No: a CD with V (bit 31) set has bit 0 clear, so as
    // an STE it is invalid and only V is used; the typed slot picks the CD rules.
    let cd = s1_cd(1);
    assert_eq!(smmu_strtab::cd_used(&cd), [u64::MAX; 8]);
    assert_eq!(smmu_strtab::ste_used(&cd), [1, 0, 0, 0, 0, 0, 0, 0]);
}
