//! Injected faults: a CMD_SYNC that never completes, illegal commands, command fetch
//! aborts, event queue overflow, and memory aborts during table walks. Expected event IDs
//! and fields come from spec §4.4 and §5.

mod common;

use std::sync::Arc;

use common::reg32::{CMDQ_BASE, EVENTQ_CONS, EVENTQ_PROD, GERROR, GERRORN};
use common::{core, device, events, small};
use iommu_core::{DeviceDesc, DeviceId, Iova, PhysAddr, Prot, StreamId};
use smmu_regs::cmd::{Command, Opcode};
use smmu_regs::event::{Event, FaultClass};
use smmu_regs::regs::CommandError;
use smmu_regs::{Asid, Vmid};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{Access, EventId, ExpectedMapping, Ledger, ModelConfig, Outcome};
use smmu_v3_driver::pgtable::Stage;
use smmu_v3_driver::{Config, Diagnostic, Error, Wait};

const IOVA: u64 = 0x2_0000_0000;
const RW: Prot = Prot::READ.union(Prot::WRITE);

fn cfgi(sid: u32) -> Command {
    Command::CfgiSte {
        ssec: false,
        sid: smmu_regs::StreamId(sid),
        leaf: true,
    }
}

#[test]
fn cmd_sync_that_never_completes_times_out() {
    let tb = Testbed::new(ModelConfig::default());
    let smmu = tb.driver(&small()).unwrap();
    tb.hal.set_poll_budget(2_000);
    tb.smmu.inject_cmd_sync_stall(true);
    let relax_before = tb.hal.relax_calls();
    assert_eq!(
        smmu.submit(&[cfgi(1)]),
        Err(Error::Timeout {
            what: Wait::CmdSync
        })
    );
    // The wait was bounded by the budget.
    assert_eq!(tb.hal.relax_calls() - relax_before, 2_000);
    // Without MSI polling the wait watches CMDQ_CONS; same outcome.
    let tb2 = Testbed::new(ModelConfig::default().msi(false));
    let smmu2 = tb2.driver(&small()).unwrap();
    tb2.hal.set_poll_budget(500);
    tb2.smmu.inject_cmd_sync_stall(true);
    assert_eq!(
        smmu2.submit(&[cfgi(1)]),
        Err(Error::Timeout {
            what: Wait::CmdSync
        })
    );
    // Once the SMMU completes syncs again, the queue works.
    tb.smmu.inject_cmd_sync_stall(false);
    smmu.submit(&[cfgi(2)]).unwrap();
    tb2.smmu.inject_cmd_sync_stall(false);
    smmu2.submit(&[cfgi(2)]).unwrap();
}

#[test]
fn unmap_reports_a_timeout_through_the_core() {
    let tb = Testbed::new(ModelConfig::default());
    let mut core = core(&tb, &small());
    let dev = DeviceId(1);
    core.probe_device(DeviceDesc::new(dev, &[StreamId(1)]))
        .unwrap();
    let buf = tb.alloc_buffer(4096);
    core.map(dev, Iova(IOVA), PhysAddr(buf), 4096, RW).unwrap();
    tb.hal.set_poll_budget(100);
    tb.smmu.inject_cmd_sync_stall(true);
    assert_eq!(
        core.unmap(dev, Iova(IOVA), 4096),
        Err(iommu_core::Error::Driver(Error::Timeout {
            what: Wait::CmdSync
        }))
    );
    tb.smmu.inject_cmd_sync_stall(false);
    // The next invalidation covers the whole ASID (the failed one may have been lost).
    core.map(dev, Iova(IOVA + 0x1000), PhysAddr(buf), 4096, RW)
        .unwrap();
    assert_eq!(core.unmap(dev, Iova(IOVA + 0x1000), 4096).unwrap(), 4096);
}

#[test]
fn illegal_command_is_reported_and_the_queue_keeps_working() {
    // Stage 1 only: TLBI_S12_VMALL is CERROR_ILL (spec §7.7 "spec" column).
    let tb = Testbed::new(ModelConfig::default().stage2(false));
    let smmu = tb.driver(&small()).unwrap();
    let before = tb.smmu.stats().commands;
    let r = smmu.submit(&[
        cfgi(3),
        Command::TlbiS12Vmall { vmid: Vmid(1) },
        Command::TlbiNsnhAll,
    ]);
    assert_eq!(
        r,
        Err(Error::CommandError {
            code: CommandError::Ill,
            index: 1
        })
    );
    // CFGI_STE, the CMD_SYNC that replaced the illegal command, TLBI_NSNH_ALL, CMD_SYNC.
    assert_eq!(tb.smmu.stats().commands - before, 4);
    assert!(tb.hal.take_diagnostics().iter().any(|d| matches!(
        d,
        Diagnostic::CommandError { code: CommandError::Ill, opcode, .. } if *opcode == Opcode(0x28)
    )));
    assert_eq!(
        tb.smmu.read32(GERROR),
        tb.smmu.read32(GERRORN),
        "acknowledged"
    );
    // An illegal command alone, then normal batches.
    assert_eq!(
        smmu.submit(&[Command::TlbiS12Vmall { vmid: Vmid(2) }]),
        Err(Error::CommandError {
            code: CommandError::Ill,
            index: 0
        })
    );
    for sid in 0..10 {
        smmu.submit(&[
            cfgi(sid),
            Command::TlbiNhAsid {
                vmid: Vmid(0),
                asid: Asid(1),
            },
        ])
        .unwrap();
    }
}

#[test]
fn command_fetch_abort_is_retried() {
    let tb = Testbed::new(ModelConfig::default());
    let smmu = tb.driver(&small()).unwrap();
    let base = tb.smmu.read64(CMDQ_BASE) & 0x00ff_ffff_ffff_ffe0;
    // The whole queue (64 × 16 bytes) reads as an external abort: CERROR_ABT, retried
    // until the budget runs out.
    tb.hal.set_poll_budget(300);
    tb.mem.inject_read_fault(base, 64 * 16);
    assert_eq!(
        smmu.submit(&[cfgi(4)]),
        Err(Error::Timeout {
            what: Wait::CmdSync
        })
    );
    let aborts = tb
        .hal
        .take_diagnostics()
        .into_iter()
        .filter(|d| {
            matches!(
                d,
                Diagnostic::CommandError {
                    code: CommandError::Abt,
                    ..
                }
            )
        })
        .count();
    assert_eq!(aborts, 1, "reported once, retried silently");
    tb.mem.clear_read_faults();
    let before = tb.smmu.stats().commands;
    smmu.submit(&[cfgi(5)]).unwrap();
    // The retried batch ran first: CFGI_STE 4, sync, CFGI_STE 5, sync.
    assert_eq!(tb.smmu.stats().commands - before, 4);
}

/// A device that faults `n` times at unmapped addresses.
fn fault_n(tb: &Testbed, sid: u32, n: u64) {
    let ledger = Arc::new(Ledger::new());
    let d = device(
        tb,
        "faulty",
        sid,
        &ledger,
        &Arc::new(ExpectedMapping::new()),
    );
    for i in 0..n {
        let o = d.issue(Access::Write, IOVA + i * 0x1000, 8, 0);
        assert!(matches!(
            o,
            Outcome::Faulted {
                event: EventId::F_TRANSLATION,
                ..
            }
        ));
    }
}

fn overflow_flags(tb: &Testbed) -> (bool, bool) {
    (
        tb.smmu.read32(EVENTQ_PROD) >> 31 != 0,
        tb.smmu.read32(EVENTQ_CONS) >> 31 != 0,
    )
}

#[test]
fn event_queue_overflow_is_counted_and_acknowledged() {
    // A 2-entry event queue that fills up naturally.
    let tb = Testbed::new(ModelConfig::default());
    let mut c = small();
    c.evtq_log2size = 1;
    let mut core = core(&tb, &c);
    core.probe_device(DeviceDesc::new(DeviceId(1), &[StreamId(0x77)]))
        .unwrap();
    fault_n(&tb, 0x77, 5);
    let (ovflg, ovack) = overflow_flags(&tb);
    assert_ne!(ovflg, ovack, "overflow outstanding (spec §6)");
    let mut seen = Vec::new();
    let d = core.driver().drain_events(|e| seen.push(*e)).unwrap();
    assert_eq!((d.records, d.overflow), (2, true));
    assert_eq!(core.driver().event_overflows(), 1);
    let (ovflg, ovack) = overflow_flags(&tb);
    assert_eq!(ovflg, ovack, "OVACKFLG = OVFLG");
    // The two records that fitted are the first two faults.
    let addrs: Vec<u64> = seen
        .iter()
        .map(|e| match e {
            Event::TranslationFault(f) => f.input_addr.0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(addrs, [IOVA, IOVA + 0x1000]);
    // After the acknowledgement a new overflow is signalled and counted again.
    fault_n(&tb, 0x77, 3);
    let d = core.driver().drain_events(|_| {}).unwrap();
    assert_eq!((d.records, d.overflow), (2, true));
    assert_eq!(core.driver().event_overflows(), 2);
    assert!(matches!(
        tb.hal.take_diagnostics().last(),
        Some(Diagnostic::EventQueueOverflow { total: 2 })
    ));
    // Injected "queue full": nothing recorded, one overflow.
    tb.smmu.inject_event_queue_full(true);
    fault_n(&tb, 0x77, 2);
    tb.smmu.inject_event_queue_full(false);
    let d = core.driver().drain_events(|_| {}).unwrap();
    assert_eq!((d.records, d.overflow), (0, true));
    assert_eq!(core.driver().event_overflows(), 3);
    fault_n(&tb, 0x77, 1);
    let d = core.driver().drain_events(|_| {}).unwrap();
    assert_eq!((d.records, d.overflow), (1, false));
}

/// Descriptor index of `iova` in a start table at `level` (4 KiB granule, Arm ARM
/// D8.2: bits [12 + 9 × (4 − level) − 1 : 12 + 9 × (3 − level)], concatenated tables
/// included).
fn start_index(iova: u64, level: u8, input_bits: u8) -> u64 {
    let shift = 12 + 9 * (3 - u32::from(level));
    (iova & ((1u64 << input_bits) - 1)) >> shift
}

fn walk_abort(stage: Stage) {
    let tb = Testbed::new(ModelConfig::default());
    let mut c = small();
    c.paging_stage = Some(stage);
    let mut core = core(&tb, &c);
    let dev = DeviceId(1);
    let sid = 0x5a;
    core.probe_device(DeviceDesc::new(dev, &[StreamId(sid)]))
        .unwrap();
    let buf = tb.alloc_buffer(4096);
    core.map(dev, Iova(IOVA), PhysAddr(buf), 4096, RW).unwrap();
    let domain = core.device(dev).unwrap().domain;
    let cfg = core
        .domain_data(domain)
        .unwrap()
        .page_table_config()
        .unwrap();
    // The walk's first read is the start-level descriptor: make the start table abort.
    let fetch = cfg.ttb.0 + 8 * start_index(IOVA, cfg.start_level, cfg.input_bits);
    tb.mem
        .inject_read_fault(cfg.ttb.0, 4096 * u64::from(cfg.concatenated));
    let ledger = Arc::new(Ledger::new());
    let d = device(&tb, "d", sid, &ledger, &Arc::new(ExpectedMapping::new()));
    assert_eq!(
        d.issue(Access::Read, IOVA + 0x10, 8, 0),
        Outcome::Faulted {
            event: EventId::F_WALK_EABT,
            recorded: true
        }
    );
    tb.mem.clear_read_faults();
    let evs = events(core.driver());
    let [
        Event::WalkEabt {
            sid: got_sid,
            input_addr,
            fetch_addr,
            s2,
            class,
            rnw,
            ..
        },
    ] = evs[..]
    else {
        panic!("{evs:?}");
    };
    assert_eq!(evs[0].id().get(), 0x0b, "F_WALK_EABT");
    assert_eq!(got_sid.0, sid);
    assert_eq!(input_addr.0, IOVA + 0x10);
    assert_eq!(fetch_addr.0, fetch);
    assert_eq!(s2, stage == Stage::Stage2);
    // CLASS names what was being translated when the fetch aborted: a stage-1 table
    // descriptor fetch is TT; a stage-2 walk of a stage-2-only stream translates the input
    // address itself, so CLASS = IN with S2 = 1 (spec §5.2).
    let expected = match stage {
        Stage::Stage1 => FaultClass::TranslationTable,
        Stage::Stage2 => FaultClass::InputAddr,
    };
    assert_eq!(class, expected);
    assert!(rnw);
    // A failed walk is not cached: the same access now completes.
    assert_eq!(
        d.issue(Access::Read, IOVA + 0x10, 8, 0),
        Outcome::Completed { pa: buf + 0x10 }
    );
}

#[test]
fn memory_abort_during_a_stage1_walk_is_decoded() {
    walk_abort(Stage::Stage1);
}

#[test]
fn memory_abort_during_a_stage2_walk_is_decoded() {
    walk_abort(Stage::Stage2);
}

#[test]
fn memory_abort_fetching_an_ste_is_decoded() {
    let tb = Testbed::new(ModelConfig::default());
    let mut core = core(&tb, &small());
    let dev = DeviceId(1);
    let sid = 0x1234;
    core.probe_device(DeviceDesc::new(dev, &[StreamId(sid)]))
        .unwrap();
    // STE address per spec §3 (2-level, SPLIT 8): L2 table + (SID mod 256) × 64. Read the
    // L1 descriptor from memory, as the SMMU does.
    let l1 = tb.smmu.read64(0x80) & 0x00ff_ffff_ffff_ffc0;
    let desc = tb.mem.read_u64(l1 + 8 * u64::from(sid >> 8)).unwrap();
    assert_eq!(desc & 0x1f, 9, "Span = SPLIT + 1");
    let ste = (desc & 0x00ff_ffff_ffff_ffc0) + 64 * u64::from(sid & 0xff);
    tb.mem.inject_read_fault(ste, 64);
    // Make the SMMU fetch it again.
    core.driver().submit(&[cfgi(sid)]).unwrap();
    let ledger = Arc::new(Ledger::new());
    let d = device(&tb, "d", sid, &ledger, &Arc::new(ExpectedMapping::new()));
    assert_eq!(
        d.issue(Access::Write, IOVA, 8, 0),
        Outcome::Faulted {
            event: EventId::F_STE_FETCH,
            recorded: true
        }
    );
    tb.mem.clear_read_faults();
    let evs = events(core.driver());
    assert!(
        matches!(evs[..], [Event::SteFetch { sid: s, fetch_addr, .. }]
            if s.0 == sid && fetch_addr.0 == ste),
        "{evs:?}"
    );
}

#[test]
fn service_failure_mode_is_reported() {
    let tb = Testbed::new(ModelConfig::default());
    let smmu = tb.driver(&Config::default()).unwrap();
    assert!(smmu.handle_gerror().unwrap().is_empty());
    tb.smmu.inject_sfm();
    assert_eq!(smmu.handle_gerror(), Err(Error::ServiceFailureMode));
    let diags = tb.hal.take_diagnostics();
    assert!(diags.contains(&Diagnostic::ServiceFailureMode), "{diags:?}");
}
