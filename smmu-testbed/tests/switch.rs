//! Switching a device between identity, DMA and blocked domains while it runs DMA from
//! its own thread: the hitless STE writer must never let a transaction land outside the
//! old or the new translation, and never expose an invalid STE (C_BAD_STE).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{core, device, small};
use iommu_core::{DeviceDesc, DeviceId, DomainKind, Iova, PhysAddr, Prot, StreamId};
use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{
    DmaProgram, EventId, ExpectedMapping, Ledger, ModelConfig, Outcome,
};
use smmu_v3_driver::Config;
use smmu_v3_driver::pgtable::Stage;

const PAGES: u64 = 16;
const PAGE: u64 = 4096;
/// Switch cycles (DMA → identity → DMA → blocked → DMA) per run.
const ROUNDS: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dma,
    Identity,
    Blocked,
}

fn run(model: ModelConfig, config: &Config) {
    let tb = Testbed::new(model);
    let mut core = core(&tb, config);
    let dev = DeviceId(1);
    let sid = 0x321;
    core.probe_device(DeviceDesc::new(dev, &[StreamId(sid)]))
        .unwrap();
    // The IOVAs are the PAs of buffer `x` (so that identity lands in RAM); the DMA domain
    // maps them to buffer `y`.
    let x = tb.alloc_buffer(PAGES * PAGE);
    let y = tb.alloc_buffer(PAGES * PAGE);
    core.map(
        dev,
        Iova(x),
        PhysAddr(y),
        PAGES * PAGE,
        Prot::READ | Prot::WRITE,
    )
    .unwrap();
    let identity = core.alloc_domain(dev, DomainKind::Identity).unwrap();
    let blocked = core.alloc_domain(dev, DomainKind::Blocked).unwrap();

    let ledger = Arc::new(Ledger::new());
    // The ledger's own oracle is not used (checked by hand below, per phase).
    let d = device(&tb, "nic", sid, &ledger, &Arc::new(ExpectedMapping::new()));
    let ring: Vec<u64> = (0..PAGES).map(|i| x + i * PAGE + 8 * i).collect();
    d.load(
        DmaProgram::ring_writer(&ring, 8, 0xfeed)
            .with_descriptor_reads(x, 8)
            .forever(),
    );

    let mut phases = vec![("dma".to_owned(), Mode::Dma, Mode::Dma)];
    ledger.set_phase("dma");
    let worker = d.spawn();
    let wait_for_traffic = |label: &str| {
        let start = Instant::now();
        while ledger.counts_in_phase(d.index(), label).total() < 4 {
            assert!(start.elapsed() < Duration::from_secs(20), "device stalled");
            std::thread::yield_now();
        }
    };
    wait_for_traffic("dma");
    // DMA → identity → DMA → blocked → DMA, many times.
    let cycle = [Mode::Identity, Mode::Dma, Mode::Blocked, Mode::Dma];
    let sequence = cycle.iter().cycle().take(4 * ROUNDS);
    let mut current = Mode::Dma;
    for (i, &next) in sequence.enumerate() {
        let switching = format!("{i}: {current:?} -> {next:?}");
        ledger.set_phase(&switching);
        match (current, next) {
            (Mode::Dma, Mode::Identity) => core.attach_device(dev, identity).unwrap(),
            (Mode::Dma, Mode::Blocked) => core.attach_device(dev, blocked).unwrap(),
            (Mode::Identity, Mode::Dma) => core.detach_device(dev, identity).unwrap(),
            (Mode::Blocked, Mode::Dma) => core.detach_device(dev, blocked).unwrap(),
            other => unreachable!("{other:?}"),
        }
        phases.push((switching, current, next));
        let stable = format!("{i}: {next:?}");
        ledger.set_phase(&stable);
        phases.push((stable.clone(), next, next));
        wait_for_traffic(&stable);
        current = next;
    }
    d.stop();
    worker.join().unwrap();

    // Where a transaction to `iova` may land in each mode.
    let lands = |mode: Mode, iova: u64| -> Option<u64> {
        match mode {
            Mode::Dma => Some(iova - x + y),
            Mode::Identity => Some(iova),
            Mode::Blocked => None,
        }
    };
    let entries = ledger.entries();
    assert!(
        entries.len() > 4 * 4 * ROUNDS,
        "{} transactions",
        entries.len()
    );
    // Per ledger phase index: (name, old mode, new mode, mode of the phase before).
    let by_index: Vec<(String, Mode, Mode, Mode)> = (0..)
        .map_while(|i| ledger.phase_name(i))
        .map(|name| {
            let at = phases.iter().position(|(n, _, _)| *n == name);
            let (old, new) = at.map_or((Mode::Dma, Mode::Dma), |i| (phases[i].1, phases[i].2));
            let prev = at
                .and_then(|i| i.checked_sub(1))
                .map_or(old, |i| phases[i].1);
            (name, old, new, prev)
        })
        .collect();
    let mut seen = vec![false; by_index.len()];
    for e in &entries {
        let (name, old, new, prev) = &by_index[e.phase];
        // A transaction in flight across the end of a switch is recorded in the next
        // (stable) phase: allow the previous mode for the first entry of each phase.
        let first = !std::mem::replace(&mut seen[e.phase], true);
        let allowed = |m: Mode| m == *old || m == *new || (first && m == *prev);
        match e.outcome {
            Outcome::Completed { pa } => {
                let ok = [Mode::Dma, Mode::Identity]
                    .into_iter()
                    .any(|m| allowed(m) && lands(m, e.iova) == Some(pa));
                assert!(ok, "phase {name}: {e:?} landed at {pa:#x}");
            }
            Outcome::Aborted => assert!(allowed(Mode::Blocked), "phase {name}: {e:?}"),
            Outcome::Faulted { .. } | Outcome::BusError { .. } => {
                panic!("phase {name}: {e:?}")
            }
        }
    }
    for (name, old, new) in &phases {
        let c = ledger.counts_in_phase(d.index(), name);
        if old == new && *old != Mode::Blocked {
            assert!(c.completed > 0, "{name}: {c:?}");
        }
    }
    assert_eq!(tb.smmu.fault_count(EventId::C_BAD_STE), 0);
    assert_eq!(tb.smmu.fault_total(), 0);
    // Data landed in both buffers.
    assert_eq!(tb.mem.read_u64(x).unwrap(), 0xfeed);
    assert_eq!(tb.mem.read_u64(y).unwrap(), 0xfeed);
}

#[test]
fn identity_dma_blocked_switches_under_traffic_stage1() {
    run(ModelConfig::default(), &small());
}

#[test]
fn identity_dma_blocked_switches_under_traffic_stage2() {
    let mut c = small();
    c.paging_stage = Some(Stage::Stage2);
    run(ModelConfig::default(), &c);
}
