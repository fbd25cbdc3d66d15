//! Unit tests of the queue and bring-up paths on the fake SMMU (these touch DMA memory
//! through raw pointers and run under Miri).

extern crate std;

use std::sync::atomic::{AtomicBool, Ordering};
use std::vec::Vec;

use iommu_core::{DeviceDesc, DeviceId, DomainId, DomainKind, IommuDriver};
use smmu_regs::cmd::{Command, CompletionSignal, Opcode};
use smmu_regs::event::{Event, FaultClass, TranslationFault, TranslationFaultKind};
use smmu_regs::regs::{CommandError, Cr0, Gerror, IrqCtrl, TtEndian, offset};
use smmu_regs::{Iova, PhysAddr, StreamId, SubstreamId, Vmid};

use crate::testutil::{FakeSmmu, IDR0, IDR1, MEM_BASE};
use crate::{Config, Diagnostic, Error, SmmuV3, Unsupported, Wait, probe};

type Driver<'a> = SmmuV3<&'a FakeSmmu>;

fn bring_up<'a>(fake: &'a FakeSmmu, config: &Config) -> Result<Driver<'a>, Error> {
    let (features, options) = probe(fake, config)?;
    let mut smmu = SmmuV3::new(fake, features, options)?;
    smmu.reset()?;
    Ok(smmu)
}

fn cfgi(sid: u32) -> Command {
    Command::CfgiSte {
        ssec: false,
        sid: StreamId(sid),
        leaf: true,
    }
}

fn small_config() -> Config {
    Config {
        cmdq_log2size: 3,
        evtq_log2size: 2,
        ..Config::default()
    }
}

/// The commands executed since the last call, without the syncs.
fn take_executed(fake: &FakeSmmu) -> Vec<Command> {
    core::mem::take(&mut fake.state().executed)
}

fn is_sync(c: &Command) -> bool {
    matches!(c, Command::Sync { .. })
}

#[test]
fn reset_programs_the_smmu_in_spec_order() {
    let fake = FakeSmmu::new();
    fake.state().cr0ack_delay = 3; // CR0ACK lags: the driver must poll
    let smmu = bring_up(&fake, &small_config()).unwrap();
    assert!(smmu.is_enabled());
    let st = fake.state();
    let pos = |off: usize, val: Option<u64>| {
        st.writes
            .iter()
            .position(|&(o, v)| o == off && val.is_none_or(|x| x == v))
            .unwrap_or_else(|| panic!("no write to {off:#x} ({val:?})"))
    };
    let cr0 = |bits: Cr0| Some(u64::from(bits.bits()));
    let gbpa = pos(offset::GBPA, None);
    let disable = pos(offset::CR0, cr0(Cr0::empty()));
    let cr1 = pos(offset::CR1, None);
    let cr2 = pos(offset::CR2, None);
    let strtab = pos(offset::STRTAB_BASE, None);
    let strtab_cfg = pos(offset::STRTAB_BASE_CFG, None);
    let cmdq_base = pos(offset::CMDQ_BASE, None);
    let cmdq_on = pos(offset::CR0, cr0(Cr0::CMDQEN));
    let evtq_base = pos(offset::EVENTQ_BASE, None);
    let evtq_on = pos(offset::CR0, cr0(Cr0::CMDQEN | Cr0::EVENTQEN));
    let irqs = pos(
        offset::IRQ_CTRL,
        Some(u64::from(
            (IrqCtrl::GERROR_IRQEN | IrqCtrl::EVENTQ_IRQEN).bits(),
        )),
    );
    let enable = pos(offset::CR0, cr0(Cr0::CMDQEN | Cr0::EVENTQEN | Cr0::SMMUEN));
    let order = [
        gbpa, disable, cr1, cr2, strtab, strtab_cfg, cmdq_base, cmdq_on, evtq_base, evtq_on, irqs,
        enable,
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(enable, st.writes.len() - 1, "SMMUEN is the last write");
    // GBPA: ABORT with Update, other fields kept.
    assert_eq!(st.writes[gbpa].1, (1 << 31) | (1 << 20));
    // CR1: write-back, inner shareable (coherent SMMU); CR2: RECINVSID | PTM.
    assert_eq!(st.writes[cr1].1, 0b11_01_01_11_01_01);
    assert_eq!(st.writes[cr2].1, 0b110);
    // The invalidation ran between the queue enables and SMMUEN.
    let cmds: Vec<_> = st
        .executed
        .iter()
        .filter(|c| !is_sync(c))
        .copied()
        .collect();
    assert_eq!(cmds, [Command::cfgi_all(), Command::TlbiNsnhAll]);
    assert_eq!(st.executed.len(), 3);
}

#[test]
fn kdump_boot_has_no_event_queue() {
    let mut fake = FakeSmmu::new();
    fake.kdump = true;
    let smmu = bring_up(&fake, &small_config()).unwrap();
    assert!(smmu.options().kdump);
    let st = fake.state();
    assert!(st.writes.iter().all(|&(o, _)| o != offset::EVENTQ_BASE
        && o != offset::EVENTQ_PROD
        && o != offset::EVENTQ_CONS));
    assert_eq!(st.irq_ctrl, IrqCtrl::GERROR_IRQEN.bits());
    assert_eq!(st.cr0, (Cr0::CMDQEN | Cr0::SMMUEN).bits());
    drop(st);
    assert_eq!(smmu.drain_events(|_| {}).unwrap().records, 0);
}

#[test]
fn unacknowledged_cr0_times_out() {
    let fake = FakeSmmu::new();
    fake.state().cr0ack_delay = u32::MAX;
    let (features, options) = probe(&fake, &small_config()).unwrap();
    let mut smmu = SmmuV3::new(&fake, features, options).unwrap();
    assert_eq!(smmu.reset(), Err(Error::Timeout { what: Wait::Cr0Ack }));
    assert_eq!(smmu.submit(&[cfgi(1)]), Err(Error::NotReady));
}

#[test]
fn stale_global_errors_are_acknowledged_at_reset() {
    let fake = FakeSmmu::new();
    fake.state().gerror = Gerror::CMDQ_ERR.bits() | Gerror::EVENTQ_ABT_ERR.bits();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    let st = fake.state();
    assert_eq!(st.gerrorn, st.gerror);
    drop(st);
    assert!(
        fake.take_diagnostics()
            .contains(&Diagnostic::StaleGlobalErrors {
                active: Gerror::CMDQ_ERR | Gerror::EVENTQ_ABT_ERR
            })
    );
    smmu.submit(&[cfgi(3)]).unwrap();
}

#[test]
fn batches_run_in_order_and_sync_by_msi() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    assert!(smmu.options().msi_poll);
    take_executed(&fake);
    let batch: Vec<_> = (0..5).map(cfgi).collect();
    smmu.submit(&batch).unwrap();
    let done = take_executed(&fake);
    assert_eq!(done[..5], batch[..]);
    // The reset used slots 0..3; the batch took 3..8, so the sync wrapped to slot 0.
    let Command::Sync {
        cs,
        msi_data,
        msi_addr,
        ..
    } = done[5]
    else {
        panic!("{:?}", done[5]);
    };
    let cmdq = fake.state().cmdq_base & 0x00ff_ffff_ffff_ffe0;
    assert_eq!((cs, msi_data), (CompletionSignal::SigIrq, 0));
    assert_eq!(msi_addr, PhysAddr(cmdq));
    assert!(msi_addr.0 >= MEM_BASE);
}

#[test]
fn cons_polling_without_msi() {
    let fake = FakeSmmu::new();
    let mut config = small_config();
    config.msi_poll = false;
    let smmu = bring_up(&fake, &config).unwrap();
    take_executed(&fake);
    smmu.submit(&[cfgi(9)]).unwrap();
    let done = take_executed(&fake);
    assert_eq!(done[0], cfgi(9));
    assert!(matches!(
        done[1],
        Command::Sync {
            cs: CompletionSignal::SigNone,
            ..
        }
    ));
}

#[test]
fn long_batches_wrap_with_back_pressure() {
    let fake = FakeSmmu::new();
    let mut config = small_config();
    config.cmdq_log2size = 2; // 4 slots
    let smmu = bring_up(&fake, &config).unwrap();
    take_executed(&fake);
    for round in 0..3u32 {
        let batch: Vec<_> = (0..10).map(|i| cfgi(round * 100 + i)).collect();
        smmu.submit(&batch).unwrap();
        let done: Vec<_> = take_executed(&fake)
            .into_iter()
            .filter(|c| !is_sync(c))
            .collect();
        assert_eq!(done, batch);
    }
}

#[test]
fn back_pressure_with_a_slow_consumer() {
    let mut fake = FakeSmmu::new();
    fake.budget = 10_000_000;
    let mut config = small_config();
    config.cmdq_log2size = 2;
    let smmu = bring_up(&fake, &config).unwrap();
    take_executed(&fake);
    fake.state().manual = true;
    let stop = AtomicBool::new(false);
    let n = if cfg!(miri) { 9 } else { 40 };
    let batch: Vec<_> = (0..n).map(cfgi).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                fake.process();
                std::thread::yield_now();
            }
        });
        let r = smmu.submit(&batch);
        stop.store(true, Ordering::Release);
        r.unwrap();
    });
    let done: Vec<_> = take_executed(&fake)
        .into_iter()
        .filter(|c| !is_sync(c))
        .collect();
    assert_eq!(done, batch);
}

#[test]
fn illegal_command_is_skipped_reported_and_the_queue_continues() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    take_executed(&fake);
    fake.state().illegal.push(Opcode::TLBI_NH_ALL.0);
    let bad = Command::TlbiNhAll { vmid: Vmid(0) };
    let r = smmu.submit(&[cfgi(1), bad, cfgi(2)]);
    assert_eq!(
        r,
        Err(Error::CommandError {
            code: CommandError::Ill,
            index: 1
        })
    );
    let done = take_executed(&fake);
    // The illegal command was replaced by a plain CMD_SYNC; the rest ran.
    assert_eq!(done[0], cfgi(1));
    assert!(matches!(
        done[1],
        Command::Sync {
            cs: CompletionSignal::SigNone,
            ..
        }
    ));
    assert_eq!(done[2], cfgi(2));
    let diags = fake.take_diagnostics();
    assert!(
        diags.iter().any(|d| matches!(d, Diagnostic::CommandError {
            code: CommandError::Ill,
            opcode,
            ..
        } if *opcode == Opcode::TLBI_NH_ALL)),
        "{diags:?}"
    );
    let st = fake.state();
    assert_eq!(st.gerror, st.gerrorn, "CMDQ_ERR acknowledged");
    drop(st);
    smmu.submit(&[cfgi(3)]).unwrap();
    assert_eq!(take_executed(&fake)[0], cfgi(3));
}

#[test]
fn command_abort_is_retried() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    take_executed(&fake);
    fake.state().abort_once.push(Opcode::CFGI_STE.0);
    smmu.submit(&[cfgi(7)]).unwrap();
    assert_eq!(take_executed(&fake)[0], cfgi(7));
    assert!(fake.take_diagnostics().iter().any(|d| matches!(
        d,
        Diagnostic::CommandError {
            code: CommandError::Abt,
            ..
        }
    )));
}

#[test]
fn sync_that_never_completes_times_out_and_the_queue_recovers() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    take_executed(&fake);
    fake.state().stall_sync = true;
    assert_eq!(
        smmu.submit(&[cfgi(1)]),
        Err(Error::Timeout {
            what: Wait::CmdSync
        })
    );
    fake.state().stall_sync = false;
    smmu.submit(&[cfgi(2)]).unwrap();
    // The stalled sync completed too, before the second batch.
    let done = take_executed(&fake);
    assert_eq!(done.len(), 4);
    assert_eq!((done[0], done[2]), (cfgi(1), cfgi(2)));
    assert!(is_sync(&done[1]) && is_sync(&done[3]));
}

#[test]
fn service_failure_mode_ends_a_wait() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    {
        let mut st = fake.state();
        st.stall_sync = true;
        st.gerror ^= Gerror::SFM_ERR.bits();
    }
    assert_eq!(smmu.submit(&[cfgi(1)]), Err(Error::ServiceFailureMode));
    assert_eq!(smmu.handle_gerror(), Err(Error::ServiceFailureMode));
}

#[test]
fn concurrent_submitters() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    take_executed(&fake);
    let (threads, per) = if cfg!(miri) { (3, 4) } else { (4, 200) };
    std::thread::scope(|s| {
        for t in 0..threads {
            let smmu = &smmu;
            s.spawn(move || {
                for i in 0..per {
                    smmu.submit(&[cfgi(t * 1000 + i), cfgi(t * 1000 + i + 500)])
                        .unwrap();
                }
            });
        }
    });
    let done = take_executed(&fake);
    assert_eq!(done.len() as u32, threads * per * 3);
    // Each batch is contiguous: a command, its partner, and a sync.
    for chunk in done.chunks(3) {
        let (Command::CfgiSte { sid: a, .. }, Command::CfgiSte { sid: b, .. }) =
            (chunk[0], chunk[1])
        else {
            panic!("{chunk:?}");
        };
        assert_eq!(b.0, a.0 + 500);
        assert!(is_sync(&chunk[2]));
    }
}

fn fault(sid: u32, addr: u64) -> [u64; 4] {
    Event::TranslationFault(TranslationFault {
        kind: TranslationFaultKind::Translation,
        sid: StreamId(sid),
        ssv: false,
        ssid: SubstreamId(0),
        stall: false,
        stag: 0,
        pnu: false,
        ind: false,
        rnw: true,
        s2: false,
        class: FaultClass::InputAddr,
        ttrnw: false,
        input_addr: Iova(addr),
        ipa: smmu_regs::ids::Ipa(0),
    })
    .encode()
    .unwrap()
}

#[test]
fn events_are_decoded_in_order() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    for i in 0..3 {
        fake.push_event(fault(0x10 + i, 0x1000 * u64::from(i)));
    }
    let mut seen = Vec::new();
    let d = smmu.drain_events(|e| seen.push(*e)).unwrap();
    assert_eq!((d.records, d.overflow), (3, false));
    let sids: Vec<_> = seen.iter().map(|e| e.stream_id().unwrap().0).collect();
    assert_eq!(sids, [0x10, 0x11, 0x12]);
    assert!(matches!(seen[2], Event::TranslationFault(f) if f.input_addr == Iova(0x2000)));
    assert_eq!(fake.state().evtq_cons & 0xF_FFFF, 3);
}

#[test]
fn event_overflow_is_counted_and_acknowledged() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap(); // 4-entry event queue
    for round in 1..=2u64 {
        for i in 0..6 {
            fake.push_event(fault(i, 0));
        }
        let prod = fake.state().evtq_prod;
        assert_ne!(prod & (1 << 31), fake.state().evtq_cons & (1 << 31));
        let d = smmu.drain_events(|_| {}).unwrap();
        assert_eq!((d.records, d.overflow), (4, true));
        assert_eq!(smmu.event_overflows(), round);
        let st = fake.state();
        assert_eq!(
            st.evtq_cons & (1 << 31),
            st.evtq_prod & (1 << 31),
            "OVACKFLG"
        );
    }
    assert_eq!(
        fake.take_diagnostics()
            .iter()
            .filter(|d| matches!(d, Diagnostic::EventQueueOverflow { .. }))
            .count(),
        2
    );
}

#[test]
fn gerror_handler_acknowledges_and_repairs_an_idle_queue() {
    let fake = FakeSmmu::new();
    let smmu = bring_up(&fake, &small_config()).unwrap();
    {
        // An illegal command left at CONS by an earlier, abandoned batch.
        let mut st = fake.state();
        st.illegal.push(Opcode::TLBI_NH_ALL.0);
        st.manual = true;
    }
    fake.state().stall_sync = true;
    let _ = smmu.submit(&[Command::TlbiNhAll { vmid: Vmid(0) }]);
    {
        let mut st = fake.state();
        st.stall_sync = false;
        st.gerror ^= Gerror::EVENTQ_ABT_ERR.bits();
    }
    fake.process(); // the SMMU hits the illegal command
    let active = smmu.handle_gerror().unwrap();
    assert_eq!(active, Gerror::CMDQ_ERR | Gerror::EVENTQ_ABT_ERR);
    fake.state().manual = false;
    fake.process();
    let st = fake.state();
    assert_eq!(st.gerror, st.gerrorn);
    drop(st);
    smmu.submit(&[cfgi(5)]).unwrap();
}

#[test]
fn probe_refuses_what_it_cannot_drive() {
    type Tweak = fn(&mut [u32; 6], &mut u32);
    let cases: [(Tweak, Unsupported); 8] = [
        (
            |i, _| i[0] &= !(0b11 << 2) | (0b01 << 2),
            Unsupported::NoAarch64Tables,
        ),
        (
            |i, _| i[0] |= 0b11 << 21,
            Unsupported::TtEndian(TtEndian::Big),
        ),
        (
            |i, _| i[0] = (i[0] & !(0b11 << 21)) | (0b01 << 21),
            Unsupported::TtEndian(TtEndian::Reserved1),
        ),
        (|i, _| i[0] &= !0b11, Unsupported::NoTranslationStage),
        (
            |i, _| i[0] = (i[0] & !(0b11 << 24)) | (0b10 << 24),
            Unsupported::StallForced,
        ),
        (|i, _| i[1] |= 1 << 30, Unsupported::PresetBases),
        (|i, _| i[5] &= !(1 << 4), Unsupported::NoGranule4K),
        (|_, a| *a = 0x10, Unsupported::NotSmmuV3 { major: 1 }),
    ];
    for (tweak, reason) in cases {
        let fake = FakeSmmu::new();
        {
            let mut st = fake.state();
            let mut aidr = st.aidr;
            tweak(&mut st.idr, &mut aidr);
            st.aidr = aidr;
        }
        assert_eq!(
            probe(&fake, &Config::default()).map(|_| ()),
            Err(Error::Unsupported(reason))
        );
    }
    // SIDSIZE above 32, and a linear-only table beyond the policy.
    let fake = FakeSmmu::new();
    fake.state().idr[1] = (IDR1 & !0x3f) | 33;
    assert_eq!(
        probe(&fake, &Config::default()).map(|_| ()),
        Err(Error::Unsupported(Unsupported::SidSize {
            sid_bits: 33,
            max: 32
        }))
    );
    let fake = FakeSmmu::new();
    fake.state().idr[0] = IDR0 & !(0b11 << 27);
    fake.state().idr[1] = (IDR1 & !0x3f) | 24;
    assert_eq!(
        probe(&fake, &Config::default()).map(|_| ()),
        Err(Error::Unsupported(Unsupported::SidSize {
            sid_bits: 24,
            max: 20
        }))
    );
    // A stage the SMMU lacks.
    let fake = FakeSmmu::new();
    fake.state().idr[0] = IDR0 & !0b1;
    let c = Config {
        paging_stage: Some(crate::pgtable::Stage::Stage2),
        ..Config::default()
    };
    assert_eq!(
        probe(&fake, &c).map(|_| ()),
        Err(Error::Unsupported(Unsupported::StageUnavailable))
    );
}

#[test]
fn firmware_coherency_wins_with_a_warning() {
    let mut fake = FakeSmmu::new();
    fake.firmware_coherent = Some(false);
    let (features, options) = probe(&fake, &Config::default()).unwrap();
    assert!(features.coherent && !options.coherent && !options.msi_poll);
    assert_eq!(
        fake.take_diagnostics(),
        [Diagnostic::CoherencyMismatch {
            firmware: false,
            hardware: true
        }]
    );
    // A non-coherent SMMU gets non-cacheable CR1 attributes.
    let smmu = bring_up(&fake, &small_config()).unwrap();
    assert!(smmu.is_enabled());
    let cr1 = fake.state().other[&offset::CR1];
    assert_eq!(cr1, 0b10_00_00_10_00_00);
}

#[test]
fn devices_get_stes_through_the_entry_writer() {
    let fake = FakeSmmu::new();
    let mut smmu = bring_up(&fake, &small_config()).unwrap();
    let sids = [iommu_core::StreamId(0x101), iommu_core::StreamId(0x2345)];
    let dev = DeviceDesc::new(DeviceId(7), &sids);
    smmu.probe_device(dev).unwrap();
    // Duplicates and out-of-range StreamIDs are refused.
    let dup = [iommu_core::StreamId(0x2345)];
    assert_eq!(
        smmu.probe_device(DeviceDesc::new(DeviceId(8), &dup)),
        Err(Error::DuplicateStreamId {
            sid: StreamId(0x2345),
            owner: DeviceId(7)
        })
    );
    let far = [iommu_core::StreamId(1 << 16)];
    assert_eq!(
        smmu.probe_device(DeviceDesc::new(DeviceId(9), &far)),
        Err(Error::StreamIdOutOfRange {
            sid: StreamId(1 << 16),
            sid_bits: 16
        })
    );
    assert_eq!(smmu.ste(StreamId(0x101)).unwrap(), [1, 0, 0, 0, 0, 0, 0, 0]);
    let mut identity = smmu
        .domain_alloc(DomainId(1), DomainKind::Identity, dev)
        .unwrap();
    take_executed(&fake);
    smmu.attach_device(dev, &mut identity, None).unwrap();
    assert_eq!(smmu.ste(StreamId(0x101)).unwrap()[0], 0b1001);
    assert_eq!(smmu.ste(StreamId(0x2345)).unwrap()[0], 0b1001);
    // Abort → bypass changes only word 0 (no SHCFG without IDR1.ATTR_TYPES_OVR): one
    // step, so one CFGI_STE + CMD_SYNC per StreamID.
    let done = take_executed(&fake);
    assert_eq!(done.len(), 4);
    assert_eq!((done[0], done[2]), (cfgi(0x101), cfgi(0x2345)));
    assert!(is_sync(&done[1]) && is_sync(&done[3]));
    smmu.release_device(dev, Some(&mut identity));
    assert_eq!(
        smmu.ste(StreamId(0x2345)).unwrap(),
        [1, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(smmu.probed_devices(), 0);
}

#[test]
fn page_requests_are_decoded() {
    use smmu_regs::pri::PriEntry;
    let fake = FakeSmmu::new();
    fake.state().idr[0] |= 1 << 16; // IDR0.PRI
    fake.state().idr[1] |= 4 << 11; // IDR1.PRIQS
    let config = Config {
        pri: true,
        priq_log2size: 1,
        ..small_config()
    };
    let smmu = bring_up(&fake, &config).unwrap();
    let req = |i: u32| PriEntry {
        sid: StreamId(0x40 + i),
        ssid: SubstreamId(i),
        ssid_valid: true,
        perm_priv: false,
        perm_exec: false,
        perm_read: true,
        perm_write: i.is_multiple_of(2),
        last: true,
        prg_index: i as u16,
        addr: Iova(0x1000 * u64::from(i)),
    };
    let base = fake.state().other[&offset::PRIQ_BASE] & 0x00ff_ffff_ffff_ffe0;
    // The SMMU writes two entries (a full 2-entry queue) and moves PROD.
    for i in 0..2u32 {
        let words = req(i).encode().unwrap();
        for (w, v) in words.iter().enumerate() {
            fake.mem
                .word(base + 16 * u64::from(i) + 8 * w as u64)
                .unwrap()
                .store(*v, Ordering::Release);
        }
    }
    fake.state().other.insert(offset::PRIQ_PROD, 0b10);
    let mut seen = Vec::new();
    let d = smmu.drain_page_requests(|e| seen.push(*e)).unwrap();
    assert_eq!((d.records, d.overflow), (2, false));
    assert_eq!(seen, [req(0), req(1)]);
    assert_eq!(fake.state().other[&offset::PRIQ_CONS], 0b10);
}

#[test]
fn paging_stage_is_chosen_per_device() {
    let fake = FakeSmmu::new();
    let mut smmu = bring_up(&fake, &small_config()).unwrap();
    let (a, b) = ([iommu_core::StreamId(0x10)], [iommu_core::StreamId(0x11)]);
    let (dev_a, dev_b) = (
        DeviceDesc::new(DeviceId(1), &a),
        DeviceDesc::new(DeviceId(2), &b),
    );
    // Chosen before the device is probed; the other keeps the default (stage 1).
    smmu.set_paging_stage(DeviceId(2), Some(crate::pgtable::Stage::Stage2))
        .unwrap();
    smmu.probe_device(dev_a).unwrap();
    smmu.probe_device(dev_b).unwrap();
    let mut s1 = smmu
        .domain_alloc(DomainId(1), DomainKind::Dma, dev_a)
        .unwrap();
    let mut s2 = smmu
        .domain_alloc(DomainId(2), DomainKind::Dma, dev_b)
        .unwrap();
    assert!(s1.asid().is_some() && s1.vmid().is_none());
    assert!(s2.vmid().is_some() && s2.asid().is_none());
    assert_eq!(smmu.max_pasid_bits(dev_b), 0);
    smmu.attach_device(dev_a, &mut s1, None).unwrap();
    smmu.attach_device(dev_b, &mut s2, None).unwrap();
    // STE.Config (dw0 bits [3:1]): 0b101 stage 1 translate, 0b110 stage 2 translate.
    assert_eq!((smmu.ste(StreamId(0x10)).unwrap()[0] >> 1) & 0b111, 0b101);
    assert_eq!((smmu.ste(StreamId(0x11)).unwrap()[0] >> 1) & 0b111, 0b110);
    // Back to the default.
    smmu.set_paging_stage(DeviceId(2), None).unwrap();
    assert_eq!(
        smmu.paging_stage(DeviceId(2)),
        crate::pgtable::Stage::Stage1
    );
    smmu.release_device(dev_a, Some(&mut s1));
    smmu.release_device(dev_b, Some(&mut s2));
    smmu.domain_free(s1);
    smmu.domain_free(s2);
    // An SMMU without stage 2 refuses the choice.
    let fake = FakeSmmu::new();
    fake.state().idr[0] = IDR0 & !0b1;
    let mut smmu = bring_up(&fake, &small_config()).unwrap();
    assert_eq!(
        smmu.set_paging_stage(DeviceId(3), Some(crate::pgtable::Stage::Stage2)),
        Err(Error::Unsupported(Unsupported::StageUnavailable))
    );
    assert_eq!(
        smmu.paging_stage(DeviceId(3)),
        crate::pgtable::Stage::Stage1
    );
}

#[test]
fn fallback_reasons_have_log_messages() {
    use crate::{FallbackReason, ScanFailure};
    extern crate alloc;
    use alloc::string::ToString;
    assert_eq!(
        FallbackReason::SmmuDisabled.to_string(),
        "the SMMU is disabled (CR0.SMMUEN = 0): nothing to adopt"
    );
    assert_eq!(
        FallbackReason::Scan(ScanFailure::ReservedConfig {
            sid: StreamId(0x10),
            config: 0b001
        })
        .to_string(),
        "the ASID / VMID scan of the live tables failed: sid:0x10: STE.Config 0b001 is reserved"
    );
    assert_eq!(
        ScanFailure::BadVmid {
            sid: StreamId(0x305),
            vmid: 0
        }
        .to_string(),
        "sid:0x305: STE with S2VMID 0 (0 or out of range)"
    );
}
