//! Several threads issue commands at once; a slow command consumer forces back-pressure
//! and wrap-around; events are drained while devices fault and commands run.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{device, small};
use iommu_core::{DeviceDesc, DeviceId, IommuDriver, StreamId};
use smmu_regs::cmd::Command;
use smmu_regs::{Asid, Vmid};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{Access, CmdqMode, ExpectedMapping, Ledger, ModelConfig, Outcome};

const THREADS: u32 = 4;

fn batch(t: u32, i: u32) -> [Command; 2] {
    [
        Command::CfgiSte {
            ssec: false,
            sid: smmu_regs::StreamId(t * 1000 + i),
            leaf: true,
        },
        Command::TlbiNhAsid {
            vmid: Vmid(0),
            asid: Asid(t as u16 + 1),
        },
    ]
}

fn hammer(tb: &Testbed, per_thread: u32, msi: bool, slow_consumer: bool) {
    let mut config = small();
    config.msi_poll = msi;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        if slow_consumer {
            // The only consumer of the queue (reset included).
            s.spawn(|| {
                while !stop.load(Ordering::Acquire) {
                    tb.smmu.process_commands();
                    std::thread::yield_now();
                }
            });
        }
        let smmu = tb.driver(&config).unwrap();
        assert_eq!(smmu.options().msi_poll, msi);
        let start = tb.smmu.stats();
        std::thread::scope(|workers| {
            for t in 0..THREADS {
                let smmu = &smmu;
                workers.spawn(move || {
                    for i in 0..per_thread {
                        smmu.submit(&batch(t, i)).unwrap();
                    }
                });
            }
        });
        let end = tb.smmu.stats();
        stop.store(true, Ordering::Release);
        let batches = u64::from(THREADS * per_thread);
        assert_eq!(end.commands - start.commands, 3 * batches);
        assert_eq!(end.syncs - start.syncs, batches);
        let msi_writes = if msi { batches } else { 0 };
        assert_eq!(end.msi_writes - start.msi_writes, msi_writes);
        drop(smmu);
    });
    assert!(tb.hal.take_diagnostics().is_empty());
}

#[test]
fn threads_issue_commands_concurrently() {
    for msi in [true, false] {
        let tb = Testbed::new(ModelConfig::default());
        hammer(&tb, 300, msi, false);
    }
}

#[test]
fn slow_consumer_back_pressure_and_wrap() {
    // An 8-entry queue consumed by another thread only: every batch waits for space or
    // for its sync, and the pointers wrap hundreds of times.
    for msi in [true, false] {
        let tb = Testbed::builder(
            ModelConfig::default()
                .cmdq_mode(CmdqMode::Manual)
                .cmdq_log2(3),
        )
        .poll_budget(10_000_000)
        .build();
        let (_, options) = smmu_v3_driver::probe(&tb.hal, &small()).unwrap();
        assert_eq!(options.cmdq_log2size, 3);
        hammer(&tb, 150, msi, true);
    }
}

#[test]
fn events_drained_while_devices_fault() {
    let tb = Testbed::new(ModelConfig::default());
    let mut c = small();
    c.evtq_log2size = 4;
    let mut smmu = tb.driver(&c).unwrap();
    let sids = [StreamId(0x40)];
    smmu.probe_device(DeviceDesc::new(DeviceId(1), &sids))
        .unwrap();
    let ledger = Arc::new(Ledger::new());
    let d = device(
        &tb,
        "faulty",
        0x40,
        &ledger,
        &Arc::new(ExpectedMapping::new()),
    );
    // The STE is the default abort until attached: attach an empty DMA domain so that
    // every access faults with a recorded F_TRANSLATION.
    let mut dma = smmu
        .domain_alloc(
            iommu_core::DomainId(1),
            iommu_core::DomainKind::Dma,
            DeviceDesc::new(DeviceId(1), &sids),
        )
        .unwrap();
    smmu.attach_device(DeviceDesc::new(DeviceId(1), &sids), &mut dma, None)
        .unwrap();
    let done = AtomicBool::new(false);
    let faults = 2_000u64;
    let (drained, overflows) = std::thread::scope(|s| {
        let smmu = &smmu;
        let drainer = s.spawn(|| {
            let mut n = 0u64;
            loop {
                let finished = done.load(Ordering::Acquire);
                let got = smmu.drain_events(|_| {}).unwrap().records;
                n += u64::from(got);
                // One drain takes at most a queue's worth: finish only when empty.
                if finished && got == 0 {
                    return (n, smmu.event_overflows());
                }
                std::thread::yield_now();
            }
        });
        let submitter = s.spawn(|| {
            for i in 0..200 {
                smmu.submit(&batch(9, i)).unwrap();
            }
        });
        for i in 0..faults {
            assert!(matches!(
                d.issue(Access::Write, 0x1000 * (i % 64), 8, 0),
                Outcome::Faulted { .. }
            ));
        }
        submitter.join().unwrap();
        done.store(true, Ordering::Release);
        drainer.join().unwrap()
    });
    // Every fault is either drained or lost to a counted overflow.
    let recorded = tb
        .smmu
        .fault_disposition_count(smmu_testbed::smmu_model::Disposition::Written);
    assert_eq!(drained, recorded);
    assert_eq!(overflows == 0, recorded == faults, "{overflows} overflows");
}
