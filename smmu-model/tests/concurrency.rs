//! One thread translates continuously while another rewrites an STE word by word:
//! every observed translation matches either the old or the new configuration.

mod common;
use common::*;
use smmu_model::{EventId, Transaction};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SID: u32 = 1;
const VA: u64 = 0x0000_0000_4567_8000;

/// Waits (bounded) until the reader has completed another successful translation, so
/// that every installed configuration is actually observed.
fn let_reader_observe(ok: &AtomicU64) {
    let start = ok.load(Ordering::Acquire);
    let deadline = Instant::now() + Duration::from_secs(2);
    while ok.load(Ordering::Acquire) < start + 2 && Instant::now() < deadline {
        std::thread::yield_now();
    }
}

/// Translates until `stop`; returns the set of PAs seen and the event IDs of faults.
fn reader(rig: &Rig, stop: &AtomicBool, ok: &AtomicU64) -> (HashSet<u64>, HashSet<EventId>, u64) {
    let mut pas = HashSet::new();
    let mut faults = HashSet::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        match rig.smmu.translate(&Transaction::read(SID, VA + 0x10, 8)) {
            Ok(t) => {
                pas.insert(t.pa - 0x10);
                ok.fetch_add(1, Ordering::AcqRel);
            }
            Err(f) => {
                faults.insert(f.event_id().expect("never a silent abort"));
            }
        }
        n += 1;
    }
    (pas, faults, n)
}

#[test]
fn breaking_ste_update_word_by_word() {
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    // Old: stage 1 (CD, ASID 5) mapping VA to page A.
    let page_a = rig.page();
    let root_a = rig.page();
    rig.map4k(root_a, VA, page_a, S1_RW | S1_NG);
    let cd_page = rig.page();
    write_words(&rig.mem, cd_page, &cd(5, root_a, true));
    let old = ste_s1(cd_page);
    // New: stage 2 (VMID 3) mapping the same address (as an IPA) to page B.
    let page_b = rig.page();
    let root_b = rig.page();
    rig.map4k(root_b, VA, page_b, S2_RW);
    let new = ste_s2(3, root_b, true);
    rig.write_ste(SID, old);
    rig.enable();
    assert_eq!(
        rig.smmu
            .translate(&Transaction::read(SID, VA, 8))
            .unwrap()
            .pa,
        page_a
    );

    let stop = AtomicBool::new(false);
    let ok = AtomicU64::new(0);
    let ste = rig.ste_addr(SID);
    let (pas, faults, n) = std::thread::scope(|s| {
        let r = s.spawn(|| reader(&rig, &stop, &ok));
        for round in 0..60 {
            let target = if round % 2 == 0 { new } else { old };
            // §8.1 "breaking" update: V = 0, sync; dwords 1..7, sync; dword 0, sync.
            rig.mem.write_u64(ste, 0).unwrap();
            rig.cfgi_ste(SID);
            for (i, w) in target.iter().enumerate().skip(1) {
                rig.mem.write_u64(ste + 8 * i as u64, *w).unwrap();
                std::thread::yield_now();
            }
            rig.cfgi_ste(SID);
            rig.mem.write_u64(ste, target[0]).unwrap();
            rig.cfgi_ste(SID);
            let_reader_observe(&ok);
        }
        stop.store(true, Ordering::Release);
        r.join().unwrap()
    });
    assert!(n > 0);
    assert_eq!(
        pas,
        HashSet::from([page_a, page_b]),
        "every translation matched the old or the new configuration, and both were seen"
    );
    assert!(
        faults.is_subset(&HashSet::from([EventId::C_BAD_STE])),
        "only the V = 0 window may fault: {faults:?}"
    );
    // The last round installed `old`.
    assert_eq!(
        rig.smmu
            .translate(&Transaction::read(SID, VA, 8))
            .unwrap()
            .pa,
        page_a
    );
}

#[test]
fn hitless_single_word_update() {
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    let (page_a, page_b) = (rig.page(), rig.page());
    let (root_a, root_b) = (rig.page(), rig.page());
    rig.map4k(root_a, VA, page_a, S2_RW);
    rig.map4k(root_b, VA, page_b, S2_RW);
    rig.write_ste(SID, ste_s2(3, root_a, true));
    rig.enable();
    let stop = AtomicBool::new(false);
    let ok = AtomicU64::new(0);
    let dw3 = rig.ste_addr(SID) + 24;
    let (pas, faults, _) = std::thread::scope(|s| {
        let r = s.spawn(|| reader(&rig, &stop, &ok));
        for round in 0..100 {
            // Only S2TTB (dword 3) changes: one critical qword, a single store.
            let root = if round % 2 == 0 { root_b } else { root_a };
            rig.mem.write_u64(dw3, root).unwrap();
            rig.submit(0x03 | u64::from(SID) << 32, 1); // CFGI_STE
            rig.tlbi_s12_vmall(3);
            let_reader_observe(&ok);
        }
        stop.store(true, Ordering::Release);
        r.join().unwrap()
    });
    assert!(faults.is_empty(), "{faults:?}");
    assert_eq!(pas, HashSet::from([page_a, page_b]));
    assert_eq!(
        rig.smmu
            .translate(&Transaction::read(SID, VA, 8))
            .unwrap()
            .pa,
        page_a
    );
}
