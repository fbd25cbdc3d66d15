//! Event queue producer: overflow (spec §6), disabled queue, interrupts.

mod common;
use common::*;
use smmu_model::{Disposition, EventId, Fault, Transaction};

fn bad_ste(rig: &Rig, sid: u32) -> Disposition {
    match rig.smmu.translate(&Transaction::read(sid, 0, 4)) {
        Err(Fault::Event {
            record,
            disposition,
            ..
        }) => {
            assert_eq!(record.id, EventId::C_BAD_STE);
            disposition
        }
        r => panic!("{r:?}"),
    }
}

fn setup() -> Rig {
    let mut rig = Rig::new();
    rig.linear_strtab(6); // every STE invalid: each transaction raises C_BAD_STE
    rig.enable();
    rig
}

#[test]
fn overflow_toggles_ovflg_once_until_acknowledged() {
    let rig = setup();
    let n = 1u32 << EVTQ_LOG2; // 16 entries
    for sid in 0..n {
        assert_eq!(bad_ste(&rig, sid), Disposition::Written);
    }
    let prod = rig.smmu.read32(EVENTQ_PROD);
    assert_eq!(prod, 1 << EVTQ_LOG2, "full: index 0, wrap 1");
    // Queue full: the record is discarded and OVFLG toggles.
    assert_eq!(bad_ste(&rig, 40), Disposition::Overflow);
    assert_eq!(rig.smmu.read32(EVENTQ_PROD), prod | 1 << 31);
    // A second overflow while outstanding does not toggle it back.
    assert_eq!(bad_ste(&rig, 41), Disposition::Overflow);
    assert_eq!(rig.smmu.read32(EVENTQ_PROD), prod | 1 << 31);
    // Software drains and acknowledges (CONS.OVACKFLG = PROD.OVFLG).
    let ev = rig.events();
    assert_eq!(ev.len(), n as usize);
    assert_eq!(ev[5][0], C_BAD_STE | 5 << 32);
    let cons = rig.smmu.read32(EVENTQ_CONS);
    rig.smmu.write32(EVENTQ_CONS, cons | 1 << 31);
    assert_eq!(bad_ste(&rig, 42), Disposition::Written);
    // Fill again: a new overflow toggles OVFLG back to 0.
    for sid in 0..n - 1 {
        bad_ste(&rig, sid);
    }
    assert_eq!(bad_ste(&rig, 43), Disposition::Overflow);
    assert_eq!(rig.smmu.read32(EVENTQ_PROD) >> 31, 0);
    assert_eq!(rig.smmu.fault_disposition_count(Disposition::Overflow), 3);
}

#[test]
fn records_discarded_while_eventqen_is_clear_do_not_overflow() {
    let rig = setup();
    rig.smmu.write32(CR0, SMMUEN | CMDQEN);
    for sid in 0..40 {
        assert_eq!(bad_ste(&rig, sid), Disposition::QueueDisabled);
    }
    assert_eq!(rig.smmu.read32(EVENTQ_PROD), 0);
    rig.smmu.write32(CR0, SMMUEN | CMDQEN | EVENTQEN);
    assert_eq!(bad_ste(&rig, 1), Disposition::Written);
    assert_eq!(rig.event_ids(), vec![C_BAD_STE]);
    // The internal log saw all of them.
    assert_eq!(rig.smmu.fault_count(EventId::C_BAD_STE), 41);
}

#[test]
fn forced_full_queue() {
    let rig = setup();
    rig.smmu.inject_event_queue_full(true);
    assert_eq!(bad_ste(&rig, 1), Disposition::Overflow);
    assert_eq!(rig.smmu.read32(EVENTQ_PROD) >> 31, 1);
    rig.smmu.inject_event_queue_full(false);
    assert_eq!(bad_ste(&rig, 1), Disposition::Written);
}

#[test]
fn eventq_msi_and_abort() {
    let rig = setup();
    let msi = rig.alloc(4096, 4096);
    rig.smmu.write64(EVENTQ_IRQ_CFG0, msi);
    rig.smmu.write32(0xB8, 0x77); // EVENTQ_IRQ_CFG1: data
    rig.smmu.write32(IRQ_CTRL, 1 << 2); // EVENTQ_IRQEN
    bad_ste(&rig, 3);
    assert_eq!(rig.mem.read_u32(msi).unwrap(), 0x77);
    assert_eq!(rig.smmu.stats().eventq_irqs, 1);

    // An event queue outside RAM: GERROR.EVENTQ_ABT_ERR.
    let rig = Rig::new();
    rig.smmu.write32(CR0, CMDQEN);
    rig.smmu
        .write64(EVENTQ_BASE, 0x3000_0000 | u64::from(EVTQ_LOG2));
    rig.smmu.write32(CR0, CMDQEN | EVENTQEN | SMMUEN);
    // SMMUEN with an all-zero STRTAB_BASE_CFG: LOG2SIZE 0, so SID 1 is out of range.
    let r = rig.smmu.translate(&Transaction::read(1, 0, 4));
    match r {
        Err(Fault::Event { disposition, .. }) => {
            assert_eq!(disposition, Disposition::WriteAborted);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(
        (rig.smmu.read32(GERROR) ^ rig.smmu.read32(GERRORN)) & 1 << 2,
        1 << 2
    );
}
