//! DMA devices, the ledger (misdirected transactions), threads, and a kdump-style
//! hand-over where a second "driver" attaches to the same model and memory.

mod common;
use common::*;
use smmu_model::{
    DmaDevice, DmaProgram, EventId, ExpectedMapping, Ledger, Outcome, RegionKind, Transaction,
};
use std::sync::Arc;

const SID: u32 = 4;
const IOVA: u64 = 0x0000_0000_1000_0000;
const ASID: u16 = 9;

struct Setup {
    rig: Rig,
    root: u64,
    bufs: Vec<u64>,
    ledger: Arc<Ledger>,
    map: Arc<ExpectedMapping>,
    dev: Arc<DmaDevice>,
}

/// A stage-1 stream with 4 receive buffers mapped at IOVA, IOVA + 4K, …
fn setup() -> Setup {
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    let root = rig.page();
    let cd_page = rig.page();
    write_words(&rig.mem, cd_page, &cd(ASID, root, true));
    rig.write_ste(SID, ste_s1(cd_page));
    let map = Arc::new(ExpectedMapping::new());
    let bufs: Vec<u64> = (0..4).map(|_| rig.page()).collect();
    for (i, &b) in bufs.iter().enumerate() {
        let iova = IOVA + i as u64 * 0x1000;
        rig.map4k(root, iova, b, S1_RW | S1_NG);
        map.map(iova, b, 0x1000);
    }
    rig.enable();
    let ledger = Arc::new(Ledger::new());
    let dev = Arc::new(DmaDevice::new(
        "nic0",
        SID,
        Arc::clone(&rig.smmu),
        Arc::clone(&ledger),
        Arc::clone(&map),
    ));
    Setup {
        rig,
        root,
        bufs,
        ledger,
        map,
        dev,
    }
}

fn ring() -> Vec<u64> {
    (0..4).map(|i| IOVA + i * 0x1000 + 0x100).collect()
}

#[test]
fn ring_writer_lands_where_mapped() {
    let s = setup();
    s.dev.load(
        DmaProgram::ring_writer(&ring(), 64, 0x1122_3344_5566_7788)
            .with_descriptor_reads(IOVA, 16)
            .repeat(3),
    );
    let mut n = 0;
    while let Some(o) = s.dev.step() {
        assert!(matches!(o, Outcome::Completed { .. }), "{o:?}");
        n += 1;
    }
    assert_eq!(n, 3 * 8);
    for &b in &s.bufs {
        assert_eq!(
            s.rig.mem.read_u64(b + 0x100).unwrap(),
            0x1122_3344_5566_7788
        );
    }
    let c = s.dev.counts();
    assert_eq!(
        (c.completed, c.faulted, c.aborted, c.misdirected),
        (24, 0, 0, 0)
    );
    assert_eq!(s.ledger.entries().len(), 24);
}

/// A paced thread runs the whole program (4 writes x 5 rounds, pausing after every 3),
/// and a new spawn after `stop` starts again.
#[test]
fn paced_thread_runs_the_whole_program() {
    let s = setup();
    s.dev
        .load(DmaProgram::ring_writer(&ring(), 64, 0xAB).repeat(5));
    let pause = std::time::Duration::from_micros(100);
    assert_eq!(s.dev.spawn_paced(3, pause).join().unwrap(), 20);
    s.dev.stop();
    s.dev
        .load(DmaProgram::ring_writer(&ring(), 64, 0xCD).repeat(1));
    assert_eq!(s.dev.spawn_paced(0, pause).join().unwrap(), 4);
    let c = s.dev.counts();
    assert_eq!((c.completed, c.faulted, c.aborted), (24, 0, 0));
}

#[test]
fn forgotten_tlbi_shows_up_as_misdirected() {
    let s = setup();
    s.dev
        .load(DmaProgram::ring_writer(&ring(), 8, 0xAA).forever());
    s.ledger.set_phase("before");
    for _ in 0..8 {
        s.dev.step();
    }
    // The driver moves buffer 0 to a new page and updates its mapping, but forgets the
    // TLB invalidation.
    let new = s.rig.page();
    s.rig.map4k(s.root, IOVA, new, S1_RW | S1_NG);
    s.map.map(IOVA, new, 0x1000);
    s.ledger.set_phase("stale");
    for _ in 0..8 {
        s.dev.step();
    }
    s.rig.tlbi_nh_va(0, ASID, IOVA);
    s.ledger.set_phase("after");
    for _ in 0..8 {
        s.dev.step();
    }
    let i = s.dev.index();
    assert_eq!(s.ledger.counts_in_phase(i, "before").misdirected, 0);
    assert_eq!(s.ledger.counts_in_phase(i, "stale").misdirected, 2);
    assert_eq!(s.ledger.counts_in_phase(i, "after").misdirected, 0);
    let m = s.ledger.misdirected();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].intended, Some(new + 0x100));
    assert_eq!(
        m[0].outcome,
        Outcome::Completed {
            pa: s.bufs[0] + 0x100
        }
    );
    assert_eq!(s.ledger.phase_name(m[0].phase).as_deref(), Some("stale"));
    assert_eq!(s.ledger.summary().len(), 3);
}

#[test]
fn faulted_and_aborted_transactions() {
    let s = setup();
    // Unmapped IOVA.
    let o = s
        .dev
        .issue(smmu_model::Access::Write, IOVA + 0x10_0000, 8, 1);
    assert_eq!(
        o,
        Outcome::Faulted {
            event: EventId::F_TRANSLATION,
            recorded: true
        }
    );
    // GBPA abort while the SMMU is disabled.
    s.rig.smmu.write32(GBPA, 1 << 31 | 1 << 20);
    s.rig.smmu.write32(CR0, CMDQEN | EVENTQEN);
    assert_eq!(
        s.dev.issue(smmu_model::Access::Read, IOVA, 8, 0),
        Outcome::Aborted
    );
    let c = s.dev.counts();
    assert_eq!((c.completed, c.faulted, c.aborted), (0, 1, 1));
}

#[test]
fn devices_run_on_their_own_threads() {
    let s = setup();
    s.dev
        .load(DmaProgram::ring_writer(&ring(), 32, 7).forever());
    let other = Arc::new(DmaDevice::new(
        "nic1",
        SID,
        Arc::clone(&s.rig.smmu),
        Arc::clone(&s.ledger),
        Arc::clone(&s.map),
    ));
    other.load(
        DmaProgram::new(vec![smmu_model::DmaOp::Read {
            iova: IOVA,
            len: 64,
        }])
        .forever(),
    );
    let h1 = s.dev.spawn();
    let h2 = other.spawn();
    // Meanwhile the "driver" keeps invalidating, until both devices made progress.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while (s.dev.counts().total() < 200 || other.counts().total() < 200)
        && std::time::Instant::now() < deadline
    {
        s.rig.tlbi_nh_asid(0, ASID);
        s.rig.cfgi_ste(SID);
    }
    s.dev.stop();
    other.stop();
    let n1 = h1.join().unwrap();
    let n2 = h2.join().unwrap();
    assert!(n1 > 0 && n2 > 0);
    let c = s.dev.counts();
    assert_eq!(c.completed, n1);
    assert_eq!(c.misdirected, 0);
    assert_eq!(other.counts().completed, n2);
}

/// A crash, then a kdump kernel on the same model and memory (spec/kdump.md §1–§8):
/// DMA keeps flowing through the crashed kernel's tables, the new kernel cannot replace
/// the stream table while the SMMU is enabled, adopts it, and re-attaches the device to
/// tables it allocates from the crashkernel region.
#[test]
fn kdump_handover_keeps_dma_on_target() {
    let s = setup();
    s.dev
        .load(DmaProgram::ring_writer(&ring(), 64, 0x5A5A).forever());
    s.ledger.set_phase("before crash");
    let handle = s.dev.spawn();
    std::thread::sleep(std::time::Duration::from_millis(20));

    // --- crash: the first driver's state is simply gone. -------------------------
    s.ledger.set_phase("during handover");
    let smmu = Arc::clone(&s.rig.smmu);
    let mem = Arc::clone(&s.rig.mem);
    // The kdump kernel finds SMMUEN = 1 and not in SFM (§3).
    assert_eq!(smmu.read32(CR0ACK) & SMMUEN, SMMUEN);
    assert_eq!((smmu.read32(GERROR) ^ smmu.read32(GERRORN)) & 1 << 8, 0);
    // It cannot install a new stream table (v3.2 ignores the writes).
    let old_base = smmu.read64(STRTAB_BASE);
    let fresh = mem.alloc(RegionKind::CrashKernel, 4096, 4096).unwrap();
    smmu.write64(STRTAB_BASE, fresh);
    assert_eq!(smmu.read64(STRTAB_BASE), old_base);
    // §7 adopt-mode reset: keep SMMUEN, turn the queues off, ack stale errors, new
    // command queue from the crashkernel region, CFGI_ALL + TLBI_NSNH_ALL + SYNC.
    let enable = smmu.read32(CR0) & (SMMUEN | 1 << 4);
    smmu.write32(CR0, enable);
    assert_eq!(smmu.read32(CR0ACK), enable);
    smmu.write32(GERRORN, smmu.read32(GERROR));
    let cmdq = mem.alloc(RegionKind::CrashKernel, 4096, 4096).unwrap();
    smmu.write64(CMDQ_BASE, cmdq | 8);
    smmu.write32(CMDQ_PROD, 0);
    smmu.write32(CMDQ_CONS, 0);
    smmu.write32(CR0, enable | CMDQEN);
    let cmd = |i: u64, dw0: u64, dw1: u64| {
        mem.write_u64(cmdq + i * 16, dw0).unwrap();
        mem.write_u64(cmdq + i * 16 + 8, dw1).unwrap();
    };
    cmd(0, 0x04, 31); // CFGI_ALL
    cmd(1, 0x30, 0); // TLBI_NSNH_ALL
    cmd(2, CMD_SYNC, 0);
    smmu.write32(CMDQ_PROD, 3);
    assert_eq!(smmu.read32(CMDQ_CONS), 3);
    std::thread::sleep(std::time::Duration::from_millis(20));

    // --- re-attach: new tables from the crashkernel region, written into the adopted
    // (old) stream table with a breaking STE update.
    let alloc = || mem.alloc(RegionKind::CrashKernel, 4096, 4096).unwrap();
    let root = alloc();
    let cd_page = alloc();
    let new_bufs: Vec<u64> = (0..4).map(|_| alloc()).collect();
    // Write the page tables by hand (4 levels, IOVA < 2^39 so L0 index 0).
    let (l1, l2, l3) = (alloc(), alloc(), alloc());
    mem.write_u64(root, l1 | 3).unwrap();
    mem.write_u64(l1 + ((IOVA >> 30) & 0x1FF) * 8, l2 | 3)
        .unwrap();
    mem.write_u64(l2 + ((IOVA >> 21) & 0x1FF) * 8, l3 | 3)
        .unwrap();
    for (i, &b) in new_bufs.iter().enumerate() {
        let iova = IOVA + i as u64 * 0x1000;
        mem.write_u64(l3 + ((iova >> 12) & 0x1FF) * 8, b | S1_RW | S1_NG | 3)
            .unwrap();
    }
    write_words(&mem, cd_page, &cd(ASID + 1, root, true));
    let ste = old_base + u64::from(SID) * 64;
    mem.write_u64(ste, 0).unwrap();
    cmd(3, 0x03 | u64::from(SID) << 32, 1);
    cmd(4, CMD_SYNC, 0);
    smmu.write32(CMDQ_PROD, 5);
    // The device now faults (C_BAD_STE) until the new STE is published; the issuer's
    // mapping changes together with it.
    let new_ste = ste_s1(cd_page);
    write_words(&mem, ste + 8, &new_ste[1..]);
    for (i, &b) in new_bufs.iter().enumerate() {
        s.map.map(IOVA + i as u64 * 0x1000, b, 0x1000);
    }
    mem.write_u64(ste, new_ste[0]).unwrap();
    cmd(5, 0x03 | u64::from(SID) << 32, 1);
    cmd(6, CMD_SYNC, 0);
    smmu.write32(CMDQ_PROD, 7);
    assert_eq!(smmu.read32(CMDQ_CONS), 7);
    s.ledger.set_phase("after re-attach");
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.dev.stop();
    handle.join().unwrap();

    let i = s.dev.index();
    let before = s.ledger.counts_in_phase(i, "before crash");
    let during = s.ledger.counts_in_phase(i, "during handover");
    let after = s.ledger.counts_in_phase(i, "after re-attach");
    assert!(
        before.completed > 0 && after.completed > 0,
        "{before:?} {after:?}"
    );
    assert_eq!(before.faulted + before.aborted + before.misdirected, 0);
    // Nothing ever landed anywhere it was not meant to.
    assert_eq!(
        during.misdirected + after.misdirected,
        0,
        "{during:?} {after:?}"
    );
    // During the hand-over the only faults are the V = 0 window of the STE update.
    assert_eq!(during.aborted, 0);
    assert_eq!(after.faulted + after.aborted, 0);
    for &b in &new_bufs {
        assert_eq!(mem.read_u64(b + 0x100).unwrap(), 0x5A5A);
    }
    // The translation for the device now goes through the new tables.
    let t = smmu.translate(&Transaction::write(SID, IOVA, 8)).unwrap();
    assert_eq!(t.pa, new_bufs[0]);
}
